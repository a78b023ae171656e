"""Subcommands: each module has NAME, setup(parser) and run(args); its docstring is its help."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model import Device, load_device


def device_args(p: argparse.ArgumentParser, output: bool = True) -> None:
    """The DEVICE argument and -o/--output that every build-output command takes."""
    p.add_argument("device", type=Path, metavar="DEVICE", help="device description (YAML)")
    if output:
        p.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="output directory (default: build/<device name>)")


def load(args: argparse.Namespace) -> tuple[Device, Path]:
    device = load_device(args.device)
    return device, (getattr(args, "output", None) or Path("build") / device.name)
