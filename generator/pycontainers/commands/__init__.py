"""Subcommands: each module has NAME, setup(parser) and run(args); its docstring is its help."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model import Device, load_device


def device_args(p: argparse.ArgumentParser, output: bool = True) -> None:
    """The DEVICE argument and -o/--output that every build-output command takes."""
    p.add_argument("device", type=Path, metavar="DEVICE", help="device description (YAML)")
    p.add_argument("--board", metavar="BOARD", help="use this board instead of the device file's "
                   "(default output: build/<device>-<board>)")
    if output:
        p.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="output directory (default: build/<device name>)")


def load(args: argparse.Namespace) -> tuple[Device, Path]:
    board = getattr(args, "board", None)
    device = load_device(args.device, board)
    default = Path("build") / (f"{device.name}-{device.board.name}" if board else device.name)
    return device, (getattr(args, "output", None) or default)
