"""A labgrid environment file per device and board (OUTPUT/generated/labgrid/env.yaml).

QEMU boards get labgrid's QEMUDriver configured like the harness (qemu.py) boots them, so the
boot tests' console checks can run through labgrid; a real board gets a commented template with
a serial port and a power driver to fill in.
"""

from __future__ import annotations

import json
from pathlib import Path

from .model import Device
from .render import Tree


def write_labgrid(device: Device, tree: Tree, image: Path | None = None) -> None:
    """image: the disk image to boot (`generate --image`: one built elsewhere, e.g. Yocto's .wic),
    absolute; default the Debian build's, relative to the file."""
    disk = json.dumps(str(image.resolve())) if image else "../../image/disk.img"  # JSON: a YAML string
    tree.render("labgrid/env.yaml", "labgrid/env.yaml.j2", device=device, board=device.board, disk=disk)
