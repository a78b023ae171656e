"""Signed RAUC bundles of a device's slot (docs/contract.md: the slot holds kernel, initramfs and
userspace, so one image updates all of it)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import UserError
from .generate import generate
from .keys import signing_keys
from .model import Device


def build_bundle(device: Device, output: Path, version: str, bundle: Path, release: bool = False) -> Path:
    """Build the slot of `device` at `version` (in OUTPUT/versions/VERSION) and pack it into a
    verity bundle signed with the device's key (the one its images trust; release: never a
    development key)."""
    from .debian.build import DebianBuild

    if not shutil.which("rauc"):
        raise UserError("rauc is needed to make bundles: apt-get install rauc squashfs-tools")
    keys = signing_keys(device, output, release)
    versioned = dataclasses.replace(device, version=version)
    vout = output / "versions" / version
    generate(versioned, vout, keys=keys)
    DebianBuild(versioned, vout).run()  # refuses a slot that does not fit, with the device file's line
    slot_image = device.storage.slots[0].image
    return pack_bundle(vout / "generated" / "contract" / "rauc" / "manifest.raucm",
                       vout / "image" / slot_image, slot_image, keys.cert, keys.key, bundle)


def pack_bundle(manifest: Path, image: Path, image_name: str, cert: Path, key: Path, bundle: Path) -> Path:
    """`rauc bundle` of one slot image with its manifest.raucm, signed with key/cert; written
    atomically (temp dir beside the bundle, then rename)."""
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle.", dir=bundle.parent) as tmp:
        content = Path(tmp) / "content"
        content.mkdir()
        shutil.copy2(manifest, content / "manifest.raucm")
        (content / image_name).hardlink_to(image)
        out = Path(tmp) / bundle.name
        rauc_bundle(content, out, cert, key)
        out.rename(bundle)
    return bundle


def rauc_bundle(content: Path, out: Path, cert: Path, key: Path) -> None:
    """`rauc bundle` of a content directory (manifest.raucm and its files), signed with key/cert."""
    r = subprocess.run(["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
                       capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"rauc bundle failed: {(r.stderr or r.stdout).strip().splitlines()[-1]}")
