"""Check a device file (and its board file) and report every problem at once.

Each problem is printed as FILE:LINE: KEY.PATH: MESSAGE; the exit code is 2 when there is any.
Nothing is written.
"""

from __future__ import annotations

from . import device_args, load

NAME = "validate"


def setup(p):
    device_args(p, output=False)


def run(args):
    device, _ = load(args, resolve=False)
    print(f"{args.device}: OK ({device.name} on {device.board.name}, {len(device.containers)} containers)")
