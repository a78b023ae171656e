"""Registry references (`image: {registry: REF, digest: PIN}`) resolved at build time with skopeo.

`resolve_images(device)` copies each registry image once into the cache
(CACHE/registry/<sha256 of the pin, or of the reference>.tar, an oci-archive tagged TAG) and
returns the device with those containers' images turned into that oci-archive, so every backend
sees an oci-archive (docs/images.md). Loading a device never does this: validation stays offline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .cache import default_cache
from .errors import UserError
from .model import Container, Device, ImageSource

TAG = "image"  # org.opencontainers.image.ref.name of the cached archive (umoci ls finds it: Yocto)


def cache_dir() -> Path:
    return default_cache() / "registry"


def archive_digest(path: Path) -> str:
    """The manifest digest of an oci-archive's one image (index.json's descriptor)."""
    with tarfile.open(path) as t:
        member = next((m for m in t.getmembers() if m.name.lstrip("./") == "index.json"), None)
        if member is None:
            raise ValueError("no index.json")
        f = t.extractfile(member)
        assert f is not None
        index = json.load(f)
    digests = {d["digest"] for d in index.get("manifests") or []}
    if len(digests) != 1:
        raise ValueError(f"{len(digests)} manifests in index.json")
    return digests.pop()


def _where(device: Device, c: Container) -> str:
    line = c.image.line
    return f"{device.display}:{line}: container {c.name}: image.registry" if line else \
        f"{device.display}: container {c.name}: image.registry"


def resolve(device: Device, c: Container, cache: Path | None = None) -> Path:
    """The cached oci-archive of a registry container, copied with skopeo when not cached."""
    img = c.image
    cache = cache or cache_dir()
    key = img.digest or img.ref
    dest = cache / f"{hashlib.sha256(key.encode()).hexdigest()}.tar"
    where = _where(device, c)

    def check(path: Path) -> None:
        if not img.digest:
            return
        try:
            got = archive_digest(path)
        except (OSError, ValueError, KeyError, TypeError, tarfile.TarError) as e:
            raise UserError(f"{where}: {img.ref}: the copied image cannot be read ({e})") from None
        if got != img.digest:
            raise UserError(f"{where}: {img.ref}: digest {got} does not match the pinned digest {img.digest}")

    if dest.is_file():
        check(dest)
        return dest
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise UserError(f"{where}: {img.ref}: skopeo is needed to copy registry images "
                        "(apt-get install skopeo)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{dest.stem}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        r = subprocess.run([skopeo, "copy", "--quiet", img.ref, f"oci-archive:{tmp}:{TAG}"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            lines = [l.strip() for l in (r.stderr or r.stdout).splitlines() if l.strip()]
            last = lines[-1] if lines else f"exit status {r.returncode}"
            m = re.search(r'level=\w+ msg="(.*)"$', last)  # logrus: time="..." level=fatal msg="..."
            last = m.group(1).replace('\\"', '"') if m else last
            raise UserError(f"{where}: skopeo copy {img.ref} failed: {last} (registry references need "
                            "the network at build time, or an already cached pinned digest)")
        check(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve_images(device: Device, cache: Path | None = None) -> Device:
    """The device with every registry image replaced by its cached oci-archive."""
    if not any(c.image.kind == "registry" for c in device.containers):
        return device
    conts = tuple(
        dataclasses.replace(c, image=ImageSource("oci-archive", path=resolve(device, c, cache)))
        if c.image.kind == "registry" else c
        for c in device.containers)
    return dataclasses.replace(device, containers=conts)
