"""A labgrid environment file per device and board (OUTPUT/generated/labgrid/env.yaml).

QEMU boards get labgrid's QEMUDriver configured like the harness (qemu.py) boots them, so the
boot tests' console checks can run through labgrid; a real board gets a commented template with
a serial port and a power driver to fill in.
"""

from __future__ import annotations

from .model import Device
from .render import Tree


def write_labgrid(device: Device, tree: Tree) -> None:
    tree.render("labgrid/env.yaml", "labgrid/env.yaml.j2", device=device, board=device.board)
