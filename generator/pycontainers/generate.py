"""Render every backend's files for one device into OUTPUT/generated (atomically)."""

from __future__ import annotations

from pathlib import Path

from .contract import write_contract
from .keys import signing_keys
from .model import Device
from .render import publish


def generate(device: Device, output: Path) -> Path:
    keys = signing_keys(device, output)
    dest = output / "generated"
    with publish(dest) as tree:
        write_contract(device, tree, keys.cert.read_bytes())
    return dest
