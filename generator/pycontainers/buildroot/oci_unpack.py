#!/usr/bin/env python3
"""Unpack an OCI image (layout directory or oci-archive tar) into a container root filesystem.

    oci-unpack.py SOURCE DEST

The Buildroot backend's post-build.sh runs it with Buildroot's host python3 (Buildroot has no
umoci). Only the standard library is used: the generated tree carries a copy of this file.
The image is the only manifest of index.json (or an image index's only manifest). Layers are
applied in order with the OCI image-spec's rules: `.wh.NAME` deletes NAME of the lower layers,
`.wh..wh..opq` empties its directory of them; symlinks, hard links and file modes are kept;
ownership is not (post-build runs unprivileged; the slot image is made with root ownership).
Layers are tar, tar+gzip, tar+bzip2 or tar+xz; a path leaving DEST is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


class OciError(Exception):
    pass


def _blob(layout: Path, digest: str) -> Path:
    algo, _, value = digest.partition(":")
    path = layout / "blobs" / algo / value
    if not value or "/" in value or not path.is_file():
        raise OciError(f"blob {digest} is missing from {layout}")
    return path


def _manifest(layout: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    seen = 0
    while True:
        manifests = index.get("manifests", [])
        if len(manifests) != 1:
            raise OciError(f"{layout}/index.json: expected one image, found {len(manifests)}")
        desc = manifests[0]
        doc = json.loads(_blob(layout, desc["digest"]).read_text())
        if desc.get("mediaType") in INDEX_TYPES or doc.get("mediaType") in INDEX_TYPES:
            index, seen = doc, seen + 1
            if seen > 4:
                raise OciError(f"{layout}: image indexes nested too deeply")
            continue
        return doc


def _safe(dest: Path, name: str) -> Path:
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "/")]
    if ".." in parts:
        raise OciError(f"layer path {name!r} leaves the root filesystem")
    return dest.joinpath(*parts) if parts else dest


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _inside(dest: Path, path: Path) -> None:
    """Refuse a path whose parent resolves outside dest (a symlinked directory of a layer)."""
    parent = path.parent.resolve()
    if parent != dest.resolve() and dest.resolve() not in parent.parents:
        raise OciError(f"{path} leaves the root filesystem through a symlink")


def apply_layer(tar: tarfile.TarFile, dest: Path) -> None:
    """Apply one layer on top of dest."""
    members = tar.getmembers()
    # whiteouts first: they act on the lower layers only
    for m in members:
        p = PurePosixPath(m.name)
        if p.name == OPAQUE:
            d = _safe(dest, str(p.parent))
            if d.is_dir() and not d.is_symlink():
                for child in d.iterdir():
                    _remove(child)
        elif p.name.startswith(WHITEOUT):
            _remove(_safe(dest, str(p.parent / p.name[len(WHITEOUT):])))
    dirs = []
    for m in members:
        if PurePosixPath(m.name).name.startswith(WHITEOUT):
            continue
        path = _safe(dest, m.name)
        if path == dest:
            continue
        _inside(dest, path)
        if m.isdir():
            if path.exists() and not path.is_dir():
                _remove(path)
            path.mkdir(parents=True, exist_ok=True)
            dirs.append((path, m.mode))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            _remove(path)
        if m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            target = _safe(dest, m.linkname)
            _inside(dest, target)
            os.link(target, path)
        elif m.isfile():
            src = tar.extractfile(m)
            assert src is not None
            with open(path, "wb") as f:
                shutil.copyfileobj(src, f)
            os.chmod(path, m.mode & 0o7777)
        elif m.isfifo():
            os.mkfifo(path, m.mode & 0o7777)
        # device nodes are skipped: the container's /dev is a mount (config.json)
    for path, mode in reversed(dirs):
        os.chmod(path, mode & 0o7777)


def unpack_layout(layout: Path, dest: Path) -> None:
    manifest = _manifest(layout)
    if manifest.get("mediaType", MANIFEST_TYPES[0]) not in MANIFEST_TYPES:
        raise OciError(f"{layout}: not an image manifest: {manifest.get('mediaType')}")
    dest.mkdir(parents=True, exist_ok=True)
    for layer in manifest.get("layers", []):
        if "zstd" in layer.get("mediaType", ""):
            raise OciError(f"{layout}: zstd layers are not supported ({layer['digest']})")
        with tarfile.open(_blob(layout, layer["digest"]), "r:*") as tar:
            apply_layer(tar, dest)


def unpack(source: Path, dest: Path) -> None:
    """source: an OCI layout directory or an oci-archive (a tar of one)."""
    if source.is_dir():
        unpack_layout(source, dest)
        return
    with tempfile.TemporaryDirectory(prefix="oci-unpack.") as tmp:
        with tarfile.open(source, "r:*") as tar:
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()):
                    raise OciError(f"{source}: {m.name}: an OCI archive holds only files and directories")
                _safe(Path(tmp), m.name)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
            tar.extractall(tmp, **safe)  # members checked above
        unpack_layout(Path(tmp), dest)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        unpack(Path(argv[1]), Path(argv[2]))
    except (OciError, OSError, tarfile.TarError, ValueError, KeyError) as e:
        print(f"oci-unpack: {argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
