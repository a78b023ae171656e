"""Helpers shared by the fast tests (kept out of conftest.py: qemu/ has a conftest too)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
GZIP_MAGIC = b"\x1f\x8b"
DEVICES = sorted((ROOT / "conf" / "devices").glob("*.yml"))


# The generated kas file and bitbake-setup configuration pin meta-pycontainers to this checkout's
# HEAD (yocto/checkout.py); the golden trees hold this word in its place.
HEAD_IN_GOLDEN = b"CHECKOUT-HEAD"


def checkout_head() -> bytes:
    import subprocess
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout.strip()


def golden_bytes(data: bytes, head: bytes) -> bytes:
    """A generated file as the golden tree keeps it (the checkout's HEAD commit as a word)."""
    return data.replace(head, HEAD_IN_GOLDEN)


def with_test_keys(output: Path) -> Path:
    """Put the fixed test key pair where generate looks for the development key."""
    (output / "keys").mkdir(parents=True, exist_ok=True)
    for f in (DATA / "keys").iterdir():
        shutil.copy(f, output / "keys" / f.name)
    return output


# ------------------------------------------------------------------------------------------
# Small container images built in Python: OCI layouts, oci-archives, docker-archives


def layer(entries, compress: bool = True) -> bytes:
    """A layer tar of (name, kind, arg, mode): kind file (arg: bytes), dir, sym or link (arg: the
    target), fifo, chr or blk (arg: (major, minor)). A name or target holding a NUL byte is written
    in a PAX header (a plain tar header would cut it there), as a hostile tool could."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, arg, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            if "\0" in name:
                ti.pax_headers["path"] = name
            if kind == "file":
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                       "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}[kind]
            if kind in ("chr", "blk"):
                ti.devmajor, ti.devminor = arg
            elif kind in ("sym", "link"):
                ti.linkname = arg
                if "\0" in arg:
                    ti.pax_headers["linkpath"] = arg
            t.addfile(ti)
    return buf.getvalue()


def image_config(layers: list[bytes] = (), **runtime) -> bytes:
    """An image config; with its layers, their diff_ids (umoci checks them)."""
    tars = [gzip.decompress(d) if d[:2] == GZIP_MAGIC else d for d in layers]
    diff_ids = [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in tars]
    return json.dumps({"architecture": "arm64", "os": "linux", "config": runtime,
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def make_layout(root: Path, layers: list[bytes], config: bytes = b"{}", images: int = 1) -> Path:
    """An OCI image layout directory with `images` manifests of the same layers."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    manifests = []
    for i in range(images):
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(d)} for d in layers],
                    "annotations": {"n": str(i)}}
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          **blob(json.dumps(manifest).encode())})
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return root


def tar_dir(src: Path, archive: Path) -> Path:
    """src's content as a tar (an oci-archive of a layout)."""
    with tarfile.open(archive, "w") as t:
        t.add(src, arcname=".")
    return archive


def make_docker_archive(archive: Path, layers: list[bytes], config: bytes = b"{}", images: int = 1,
                        tags: tuple[str, ...] = ("app:1.0",)) -> Path:
    """The tar `docker save` writes (the classic layout: <id>/layer.tar, <id>.json, manifest.json);
    a layer identical to an earlier one is a symlink to it, as docker save writes it."""
    with tarfile.open(archive, "w") as t:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))

        cfg = hashlib.sha256(config).hexdigest()
        add(f"{cfg}.json", config)
        names, seen = [], {}
        for data in layers:
            lid = hashlib.sha256(data).hexdigest()
            name = f"{lid}{len(names)}/layer.tar"
            if lid in seen:
                ti = tarfile.TarInfo(name)
                ti.type, ti.linkname = tarfile.SYMTYPE, f"../{seen[lid]}"
                t.addfile(ti)
            else:
                add(name, data)
                seen[lid] = name
            names.append(name)
        entry = {"Config": f"{cfg}.json", "RepoTags": list(tags), "Layers": names}
        add("manifest.json", json.dumps([entry] * images).encode())
    return archive
