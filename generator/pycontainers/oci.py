#!/usr/bin/env python3
"""Read container images (OCI layout, oci-archive, docker-archive) and unpack them into a root
filesystem; convert a docker-archive into an OCI image layout.

    oci-unpack.py [--kind oci-layout|oci-archive|docker-archive] SOURCE DEST

One module for every backend (docs/images.md): the model checks images with `inspect()`, the
Debian backend unpacks them with `unpack()`, the Yocto backend turns a docker-archive into an OCI
layout for umoci with `docker_to_layout()`, and the Buildroot backend's post-build.sh runs a copy
of this file (as oci-unpack.py) with Buildroot's host python3 (Buildroot has no umoci). So only
the standard library is used.

Image kinds:
  oci-layout      a directory: index.json, oci-layout, blobs/<algo>/<hex>
  oci-archive     a tar of such a directory (skopeo copy ... oci-archive:FILE)
  docker-archive  the tar `docker save IMAGE` writes: manifest.json naming the config and the
                  layer tars (Docker >= 25 also adds index.json and blobs/: manifest.json is used)
Without --kind, a directory is an oci-layout and an archive is read through its index.json, or
through manifest.json when it has none.

Each holds exactly one image (an image index's one manifest; the same manifest listed twice, as
for two tags, counts once). Layers are applied in order with the OCI image-spec's rules:
`.wh.NAME` deletes NAME of the lower layers, `.wh..wh..opq` empties its directory of them;
symlinks, hard links and file modes are kept; ownership is not (every file belongs to root in the
slot, as in every backend); device nodes are skipped (a container's /dev is a mount). Layers are
tar, tar+gzip, tar+bzip2 or tar+xz; a path leaving DEST is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
KINDS = ("oci-layout", "oci-archive", "docker-archive")
# what each kind takes, for the messages that refuse an input
WHAT = {
    "oci-layout": "a directory holding an OCI image layout (index.json, blobs/)",
    "oci-archive": "a tar of an OCI image layout (skopeo copy IMAGE oci-archive:FILE)",
    "docker-archive": "the tar that `docker save IMAGE` writes (manifest.json and layer tars)",
}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_TYPES = (OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class OciError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Reading: a directory or a tar, by member name


def _norm(name: str) -> str:
    """'./blobs/sha256/ab' -> 'blobs/sha256/ab'; a name with '..' is refused."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "/")]
    if ".." in parts:
        raise OciError(f"{name!r} leaves the image")
    return "/".join(parts)


class _Files:
    """The files of an image layout or archive, by normalised name."""

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def json(self, name: str):
        if not self.has(name):
            raise OciError(f"{name} is missing")
        with self.open(name) as f:
            try:
                return json.loads(f.read())
            except ValueError as e:
                raise OciError(f"{name} is not valid JSON ({e})") from None

    def close(self) -> None:
        pass


class _DirFiles(_Files):
    def __init__(self, root: Path):
        self.root = root

    def has(self, name: str) -> bool:
        return (self.root / _norm(name)).is_file()

    def open(self, name: str) -> IO[bytes]:
        return open(self.root / _norm(name), "rb")


class _TarFiles(_Files):
    def __init__(self, path: Path, kind: str):
        try:
            self.tar = tarfile.open(path, "r:*")
            members = self.tar.getmembers()
        except (tarfile.TarError, EOFError, OSError, ValueError):
            raise OciError(f"not a tar archive; {kind} takes {WHAT[kind]}") from None
        self.members = {}
        for m in members:
            if m.isfile() or m.issym() or m.islnk():  # docker save links identical layers
                self.members[_norm(m.name)] = m

    def has(self, name: str) -> bool:
        return _norm(name) in self.members

    def open(self, name: str) -> IO[bytes]:
        try:
            f = self.tar.extractfile(self.members[_norm(name)])  # links resolve inside the archive
        except KeyError:
            f = None
        if f is None:
            raise OciError(f"{name} is a link to nothing in the archive")
        return f

    def close(self) -> None:
        self.tar.close()


def _files(source: Path, kind: str) -> _Files:
    if kind == "oci-layout":
        if not source.is_dir():
            raise OciError(f"not a directory; oci-layout takes {WHAT['oci-layout']} "
                           "(for a tar use oci-archive or docker-archive)")
        return _DirFiles(source)
    if source.is_dir():
        raise OciError(f"is a directory; {kind} takes {WHAT[kind]} (for a directory use oci-layout)")
    return _TarFiles(source, kind)


# --------------------------------------------------------------------------------------------
# The image: its config and its layers


@dataclass
class Layer:
    name: str  # member name in the layout or archive
    media_type: str = ""


@dataclass
class Image:
    """One image of a layout or archive: its config (the image-spec's config JSON) and layers."""

    kind: str
    files: _Files
    config_name: str
    layers: list[Layer]
    config: dict = field(default_factory=dict)
    repo_tags: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> dict:
        """The config's `config` object: Entrypoint, Cmd, Env, WorkingDir, User, ..."""
        return self.config.get("config") or {}

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _blob_name(digest: str) -> str:
    algo, _, value = str(digest).partition(":")
    if not algo or not value or "/" in value or "/" in algo:
        raise OciError(f"bad digest {digest!r}")
    return f"blobs/{algo}/{value}"


def _count(n: int, kind: str) -> OciError:
    return OciError(f"holds {'no image' if n == 0 else f'{n} images'}; {kind} takes {WHAT[kind]} of exactly one image")


def _oci_image(files: _Files, kind: str) -> Image:
    if not files.has("index.json"):
        hint = "; it looks like a `docker save` archive: use docker-archive" if files.has("manifest.json") else ""
        raise OciError(f"has no index.json: not an OCI image layout{hint}")
    index = files.json("index.json")
    for _ in range(4):  # an index may point at a nested index (a multi-platform image of one platform)
        descs = {d.get("digest"): d for d in index.get("manifests") or [] if isinstance(d, dict)}
        if len(descs) != 1:
            raise _count(len(descs), kind)
        (desc,) = descs.values()
        name = _blob_name(desc["digest"])
        if not files.has(name):
            raise OciError(f"the manifest {desc['digest']} is missing")
        doc = files.json(name)
        if desc.get("mediaType") in INDEX_TYPES or doc.get("mediaType") in INDEX_TYPES:
            index = doc
            continue
        if doc.get("mediaType", OCI_MANIFEST) not in MANIFEST_TYPES:
            raise OciError(f"{desc['digest']} is not an image manifest but {doc.get('mediaType')}")
        layers = [Layer(_blob_name(l["digest"]), l.get("mediaType", "")) for l in doc.get("layers") or []]
        return Image(kind, files, _blob_name((doc.get("config") or {}).get("digest", "")), layers)
    raise OciError("image indexes are nested too deeply")


def _docker_image(files: _Files, kind: str) -> Image:
    if not files.has("manifest.json"):
        hint = "; it looks like an OCI image layout: use oci-archive" if files.has("index.json") else ""
        raise OciError(f"has no manifest.json: not a `docker save` archive{hint}")
    manifest = files.json("manifest.json")
    if not isinstance(manifest, list):
        raise OciError("manifest.json is not a list of images")
    if len(manifest) != 1:
        raise _count(len(manifest), kind)
    (entry,) = manifest
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
            not isinstance(entry.get("Layers"), list):
        raise OciError("manifest.json: an image needs Config and Layers")
    return Image(kind, files, _norm(entry["Config"]), [Layer(_norm(n)) for n in entry["Layers"]],
                 repo_tags=list(entry.get("RepoTags") or []))


def open_image(source: Path, kind: str | None = None) -> Image:
    """The one image of source; kind None: a directory is an oci-layout, an archive is read
    through index.json, else manifest.json. Close it (a context manager) when done."""
    if kind is None:
        kind = "oci-layout" if source.is_dir() else "oci-archive"
        files = _files(source, kind)
        if not files.has("index.json") and files.has("manifest.json"):
            kind = "docker-archive"
    else:
        files = _files(source, kind)
    try:
        image = (_docker_image if kind == "docker-archive" else _oci_image)(files, kind)
        for name in [image.config_name] + [l.name for l in image.layers]:
            if not files.has(name):
                raise OciError(f"{name} is missing")
        config = files.json(image.config_name)
        image.config = config if isinstance(config, dict) else {}
    except (KeyError, TypeError, AttributeError) as e:  # a field missing or of the wrong type
        files.close()
        raise OciError(f"malformed image metadata ({type(e).__name__}: {e})") from None
    except BaseException:
        files.close()
        raise
    return image


def _open_layer(image: Image, layer: Layer) -> tarfile.TarFile:
    if "zstd" in layer.media_type:
        raise OciError(f"layer {layer.name}: zstd layers are not supported")
    f = image.files.open(layer.name)
    head = f.read(4)
    f.seek(0)
    if head == ZSTD_MAGIC:
        raise OciError(f"layer {layer.name}: zstd layers are not supported")
    try:
        return tarfile.open(fileobj=f, mode="r:*")
    except (tarfile.TarError, EOFError, OSError):
        raise OciError(f"layer {layer.name} is not a tar archive") from None


def inspect(source: Path, kind: str) -> Image:
    """Check an image without unpacking it: one image, every blob present, every layer a tar
    whose paths and hard links stay inside the root. Returns it closed (config and names)."""
    with open_image(source, kind) as image:
        for layer in image.layers:
            with _open_layer(image, layer) as tar:
                try:
                    for m in tar:
                        _safe_name(m.name)
                        if m.islnk():
                            _safe_name(m.linkname)
                except (tarfile.TarError, EOFError, OSError) as e:
                    raise OciError(f"layer {layer.name} is not a valid tar archive ({e})") from None
    return image


# --------------------------------------------------------------------------------------------
# Unpacking


def _safe_name(name: str) -> list[str]:
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "/")]
    if ".." in parts:
        raise OciError(f"layer path {name!r} leaves the root filesystem")
    return parts


def _safe(dest: Path, name: str) -> Path:
    parts = _safe_name(name)
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
        raise OciError(f"layer path {str(path.relative_to(dest))!r} leaves the root filesystem through a symlink")


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


def unpack(source: Path, dest: Path, kind: str | None = None) -> None:
    """Unpack the one image of source (an oci-layout, oci-archive or docker-archive) into dest."""
    with open_image(source, kind) as image:
        dest.mkdir(parents=True, exist_ok=True)
        for layer in image.layers:
            with _open_layer(image, layer) as tar:
                apply_layer(tar, dest)


def read_file(source: Path, name: str, kind: str | None = None, limit: int = 1 << 20) -> bytes | None:
    """The content of one regular file of the image's merged root filesystem (e.g.
    etc/passwd), or None when it does not exist there; layers are read in order, whiteouts
    applied, nothing is unpacked. A file larger than limit bytes is refused."""
    want = PurePosixPath(*_safe_name(name))
    found: bytes | None = None
    with open_image(source, kind) as image:
        for layer in image.layers:
            with _open_layer(image, layer) as tar:
                for m in tar:
                    p = PurePosixPath(*_safe_name(m.name)) if _safe_name(m.name) else PurePosixPath(".")
                    if p.name == OPAQUE and want.is_relative_to(p.parent) or \
                            p.name.startswith(WHITEOUT) and p.parent / p.name[len(WHITEOUT):] in (want, *want.parents):
                        found = None
                    elif p == want:
                        f = tar.extractfile(m) if m.isfile() else None
                        if f is not None and m.size > limit:
                            raise OciError(f"{name} is larger than {limit} bytes")
                        found = f.read() if f is not None else None
    return found


# --------------------------------------------------------------------------------------------
# docker-archive -> OCI image layout (for umoci, which reads only OCI layouts)


def docker_to_layout(source: Path, dest: Path) -> None:
    """Write the one image of a docker-archive as an OCI image layout directory dest: the same
    config and layer bytes as blobs, a manifest, and an index tagging it (umoci needs a tag)."""
    with open_image(source, "docker-archive") as image:
        blobs = dest / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)

        def blob(src: IO[bytes]) -> dict:
            h, size, tmp = hashlib.sha256(), 0, blobs / ".part"
            with src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            tmp.rename(blobs / h.hexdigest())
            return {"digest": f"sha256:{h.hexdigest()}", "size": size}

        layers = []
        for layer in image.layers:
            with image.files.open(layer.name) as f:
                head = f.read(6)
            suffix = "+gzip" if head[:2] == b"\x1f\x8b" else "+zstd" if head[:4] == ZSTD_MAGIC else ""
            if suffix == "+zstd":
                raise OciError(f"layer {layer.name}: zstd layers are not supported")
            layers.append({"mediaType": OCI_LAYER + suffix, **blob(image.files.open(layer.name))})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, **blob(image.files.open(image.config_name))}, "layers": layers}
        tag = image.repo_tags[0].rpartition(":")[2] if image.repo_tags else "latest"
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, **blob(io.BytesIO(json.dumps(manifest, sort_keys=True).encode())),
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}
        (dest / "index.json").write_text(json.dumps(index, sort_keys=True) + "\n")
        (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}\n')


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="oci-unpack.py", description="Unpack a container image into a root filesystem.")
    p.add_argument("--kind", choices=KINDS, help="the image kind (default: from its content)")
    p.add_argument("source", type=Path)
    p.add_argument("dest", type=Path)
    args = p.parse_args(argv[1:])
    try:
        unpack(args.source, args.dest, args.kind)
    except (OciError, OSError, tarfile.TarError, ValueError, KeyError) as e:
        print(f"oci-unpack: {args.source}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
