"""Subcommands: each module has NAME, setup(parser) and run(args); its docstring is its help."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model import Device, load_device
from ..registry import resolve_images


def device_args(p: argparse.ArgumentParser, output: bool = True) -> None:
    """The DEVICE argument and -o/--output that every build-output command takes."""
    p.add_argument("device", type=Path, metavar="DEVICE", help="device description (YAML)")
    p.add_argument("--board", metavar="BOARD", help="use this board instead of the device file's "
                   "(default output: build/<device>-<board>)")
    if output:
        p.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="output directory (default: build/<device name>)")


def load(args: argparse.Namespace, resolve: bool = True) -> tuple[Device, Path]:
    """The device of args.device (with --board), and its output directory. resolve: copy its
    registry images (registry.resolve_images, skopeo) so every image is a file; validate and
    boot don't, and need no network."""
    board = getattr(args, "board", None)
    device = load_device(args.device, board)
    if resolve:
        device = resolve_images(device)
    default = Path("build") / (f"{device.name}-{device.board.name}" if board else device.name)
    return device, (getattr(args, "output", None) or default)
