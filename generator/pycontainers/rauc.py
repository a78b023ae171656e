"""RAUC bundles: packing a slot image (system updates, docs/updates.md) or an app revision (app
updates, docs/app-updates.md) into a signed verity bundle with the host's `rauc bundle`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import progress
from .errors import UserError
from .model import Device
from .revision import ENTRY_OVERHEAD, Revision

MIN_CONTENT = 8192  # RAUC's verity format needs a squashfs larger than 4 KiB: an app bundle's padding


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
    with progress.step(f"bundle {out.name} (rauc bundle: squashfs, verity, signature)"):
        r = subprocess.run(["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
                           capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"rauc bundle failed: {(r.stderr or r.stdout).strip().splitlines()[-1]}")


def pack_app_bundle(device: Device, rev: Revision, have: set[tuple[str, int]], cert: Path, key: Path,
                    bundle: Path) -> dict:
    """Write the app bundle (and BUNDLE.revision beside it, the --from of the next one); returns
    its figures."""
    ship = {d: p for (d, m), p in rev.blobs.items() if (d, m) not in have}
    shipped = sum(p.stat().st_size for p in ship.values())
    total = sum(p.stat().st_size for p in rev.blobs.values())
    entries = rev.listing.count("\n")
    need = shipped + total + entries * ENTRY_OVERHEAD
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".app-bundle.", dir=bundle.parent) as tmp:
        content = Path(tmp) / "content"
        (content / "blobs").mkdir(parents=True)
        (content / "revision").write_text(rev.listing)
        (content / "manifest").write_text(rev.manifest)
        for digest, src in sorted(ship.items()):
            shutil.copyfile(src, content / "blobs" / digest)
        # always padded, with bytes that do not compress (reproducibly): what is shipped may be
        # 15 KiB of config.json that squashfs packs into less than RAUC's minimum, or nothing
        pad = b"".join(hashlib.sha256(f"{rev.id}{i}".encode()).digest() for i in range(MIN_CONTENT // 32))
        (content / "padding").write_bytes(pad)
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={device.compatible}-apps\nversion={device.version}\n"
            f"description=pycontainers app revision {rev.id}, needs {need} bytes\n\n[bundle]\nformat=verity\n")
        rauc_bundle(content, Path(tmp) / "out.raucb", cert, key)
        side = Path(tmp) / "out.revision"
        side.write_text(rev.listing)
        for f in (Path(tmp) / "out.raucb", side):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        (Path(tmp) / "out.revision").rename(bundle.with_name(bundle.name + ".revision"))
        (Path(tmp) / "out.raucb").rename(bundle)
    return {"revision": rev.id, "bundle_bytes": bundle.stat().st_size, "blobs_shipped": len(ship),
            "blob_bytes_shipped": shipped, "files": len(rev.blobs), "file_bytes": total, "needs_bytes": need}
