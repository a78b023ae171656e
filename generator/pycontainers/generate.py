"""Render every backend's files for one device into OUTPUT/generated (atomically).

    OUTPUT/generated/contract/   the on-disk contract every backend shares (docs/contract.md)
    OUTPUT/generated/yocto/      device layer, kas file, bitbake-setup configuration (issue 11)
    OUTPUT/generated/buildroot/  BR2_EXTERNAL tree: defconfig, pycm package, board files (issue 12)
    OUTPUT/generated/labgrid/    labgrid environment (QEMUDriver, or a template for real hardware)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .buildroot import write_buildroot
from .contract import write_contract
from .labgrid import write_labgrid
from .keys import KeyPair, signing_keys
from .model import Device
from .registry import resolve_images
from .render import Tree, publish
from .yocto import write_yocto


@dataclass(frozen=True)
class Options:
    """Per-run rendering choices; None means the device file's choice."""

    yocto_series: str | None = None
    buildroot_version: str | None = None

    def series(self, device: Device) -> str:
        return self.yocto_series or device.yocto_series

    def buildroot(self, device: Device) -> str:
        return self.buildroot_version or device.buildroot_version


def render_all(device: Device, tree: Tree, keys: KeyPair, options: Options) -> None:
    write_contract(device, tree, keys.cert.read_bytes(), keys.development)
    write_yocto(device, tree, options.series(device))
    write_buildroot(device, tree, options.buildroot(device))
    write_labgrid(device, tree)


def generate(device: Device, output: Path, options: Options | None = None, keys: KeyPair | None = None) -> Path:
    device = resolve_images(device)  # a no-op when the caller has resolved them (commands.load)
    keys = keys or signing_keys(device, output)
    dest = output / "generated"
    with publish(dest) as tree:
        render_all(device, tree, keys, options or Options())
    return dest
