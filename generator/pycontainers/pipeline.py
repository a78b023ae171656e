"""The one way through: resolve a device's images, render the backends asked for, then build an
image, a slot bundle or an app bundle from what was rendered.

    model (loaded, validated) -> resolve images (registry.py) -> render (contract + backends)
        -> build image (Debian) | slot bundle (rauc.py) | app bundle (revision.py, rauc.py)

Commands call these steps and never each other; backends are pure renderers (model + contract
in, files out) that never import one another; only this module imports the Debian image
builder. Each part of OUTPUT/generated is replaced atomically by the run that renders it (a
Debian build renders the contract and the labgrid environment, and leaves the Yocto and
Buildroot trees of the last `generate` as they were):

    OUTPUT/generated/contract/   the on-disk contract every backend shares (docs/contract.md)
    OUTPUT/generated/labgrid/    labgrid environment (QEMUDriver, or a template for real hardware)
    OUTPUT/generated/yocto/      device layer, kas file, bitbake-setup configuration
    OUTPUT/generated/buildroot/  BR2_EXTERNAL tree: defconfig, pycm package, board files
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from .buildroot import write_buildroot
from .contract import write_contract
from .debian.build import DebianBuild
from .errors import UserError
from .keys import KeyPair, signing_keys
from .labgrid import write_labgrid
from .model import Device
from .rauc import pack_app_bundle, pack_bundle
from .registry import resolve_images
from .render import Tree, publish_parts
from .revision import read_pairs, slot_revision
from .yocto import LAYER_SOURCES, placement, write_yocto

# backend -> what it renders into OUTPUT/generated besides the contract and the labgrid
# environment (the Debian backend builds from the contract itself)
BACKENDS = ("debian", "yocto", "buildroot")


@dataclass(frozen=True)
class Options:
    """Per-run rendering choices; None means the device file's choice."""

    yocto_series: str | None = None
    buildroot_version: str | None = None
    backends: tuple[str, ...] = BACKENDS
    layer_source: str | None = None  # meta-pycontainers in the kas/bitbake-setup files: git, path, None: git in a checkout
    image: Path | None = None  # the disk image the labgrid environment boots (default: OUTPUT/image/disk.img)

    def series(self, device: Device) -> str:
        return self.yocto_series or device.yocto_series

    def buildroot(self, device: Device) -> str:
        return self.buildroot_version or device.buildroot_version


def resolve(device: Device) -> Device:
    """The device with every image a file (registry references copied into the cache)."""
    return resolve_images(device)


def render(device: Device, tree: Tree, keys: KeyPair, options: Options, dest: Path) -> None:
    """Render the parts into `tree`, which will become `dest` (OUTPUT/generated)."""
    write_contract(device, tree, keys.cert.read_bytes(), keys.development)
    write_labgrid(device, tree, options.image)
    if "yocto" in options.backends:
        write_yocto(device, tree, options.series(device), placement(options.layer_source, dest / "yocto"))
    if "buildroot" in options.backends:
        write_buildroot(device, tree, options.buildroot(device))


def generate(device: Device, output: Path, options: Options | None = None, keys: KeyPair | None = None) -> Path:
    """Render OUTPUT/generated: the contract, the labgrid environment and the backends of
    options (a failure leaves every part as it was)."""
    device = resolve(device)  # a no-op when the caller has resolved them (commands.load)
    keys = keys or signing_keys(device, output)
    dest = output / "generated"
    with publish_parts(dest) as tree:
        render(device, tree, keys, options or Options(), dest)
    return dest


def build_image(device: Device, output: Path, keys: KeyPair | None = None) -> DebianBuild:
    """The device's disk image from Debian's binary packages, in OUTPUT/image; returns the build
    (its report and package list)."""
    generate(device, output, Options(backends=("debian",)), keys)
    build = DebianBuild(device, output)
    build.run()
    return build


def _need_rauc(what: str) -> None:
    if not shutil.which("rauc"):
        raise UserError(f"rauc is needed to make {what}: apt-get install rauc squashfs-tools")


def build_slot_bundle(device: Device, output: Path, version: str, bundle: Path, release: bool = False) -> Path:
    """Build the slot of `device` at `version` (in OUTPUT/versions/VERSION) and pack it into a
    verity bundle signed with the device's key (the one its images trust; release: never a
    development key)."""
    _need_rauc("bundles")
    keys = signing_keys(device, output, release)
    versioned = dataclasses.replace(device, version=version)
    vout = output / "versions" / version
    build_image(versioned, vout, keys)  # refuses a slot that does not fit, with the device file's line
    slot_image = device.storage.slots[0].image
    return pack_bundle(vout / "generated" / "contract" / "rauc" / "manifest.raucm",
                       vout / "image" / slot_image, slot_image, keys.cert, keys.key, bundle)


def build_app_bundle(device: Device, output: Path, old: Path | None, bundle: Path, release: bool = False) -> dict:
    """Assemble the containers of `device` (Debian backend), make its revision, and pack the
    blobs a device running the revision `old` (a revision file; None: nothing) lacks."""
    _need_rauc("app bundles")
    have = read_pairs(old) if old else set()
    keys = signing_keys(device, output, release)
    work = output / "apps" / device.version
    generate(device, work, Options(backends=("debian",)), keys)
    build = DebianBuild(device, work)
    build.repo.update()
    root = build.work / "app-containers"
    shutil.rmtree(root, ignore_errors=True)
    for c in device.containers:
        dest = root / c.bundle.lstrip("/")
        dest.mkdir(parents=True)
        shutil.copy2(build.contract / "containers" / c.name / "config.json", dest / "config.json")
        build.container_rootfs(c, dest / "rootfs")
    manifest = (build.contract / "pycm" / "manifest").read_text()
    rev = slot_revision(device, root, manifest)
    return pack_app_bundle(device, rev, have, keys.cert, keys.key, bundle)
