#!/usr/bin/env python3
"""Read container images (OCI layout, oci-archive, docker-archive) and unpack them into a root
filesystem; convert a docker-archive into an OCI image layout.

    oci-unpack.py [--kind oci-layout|oci-archive|docker-archive] SOURCE DEST [--mkdir PATH ...]
                  [--mkfile PATH ...]

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
symlinks, hard links, FIFOs and file modes are kept; ownership is not (every file belongs to root
in the slot, as in every backend). Layers are tar, tar+gzip, tar+bzip2 or tar+xz.

The image is untrusted (docs/security-images.md): nothing is written, linked, changed or removed
outside DEST. An entry whose path, hard-link target or whiteout leaves DEST (a `..`, a symlink
pointing out of it, a loop) is refused with one line naming the layer and the path; device nodes
are dropped and setuid/setgid bits cleared, each reported as a WARNING line on stderr. --mkdir
makes a directory (a container's mount point) below DEST the same way, --mkfile an empty file (a
file's mount point, e.g. /etc/resolv.conf: a regular file there stays, a symlink is replaced).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import zlib
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
# layer compression -> the Python module tarfile decompresses it with (a Python built without one,
# as Buildroot's host python3 is unless told, reads no layer of that kind)
LAYER_MODULES = {"gzip": "zlib", "bzip2": "bz2", "xz": "lzma"}


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
    """An image layout directory. A symlink in it is followed only inside it (a blob linked to a
    file elsewhere on the build host is refused, as a layer's path is: _Root)."""

    def __init__(self, root: Path):
        self.root = root

    def _fd(self, name: str) -> int | None:
        """A read-only fd of the regular file name, or None when there is none."""
        parts = _norm(name).split("/")
        what = repr(_norm(name))
        root = _Root(self.root, "the image layout")
        try:
            found = root.dir(parts[:-1], what, create=False)
        finally:
            root.close()
        if found is None:
            return None
        fd, _ = found
        try:
            st = _lstat(fd, parts[-1])
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise OciError(f"{what} is a symlink; an image layout holds files")
            if st is None or not stat.S_ISREG(st.st_mode):
                return None
            return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)

    def has(self, name: str) -> bool:
        fd = self._fd(name)
        if fd is not None:
            os.close(fd)
        return fd is not None

    def open(self, name: str) -> IO[bytes]:
        fd = self._fd(name)
        if fd is None:
            raise OciError(f"{name} is missing")
        return os.fdopen(fd, "rb")


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


def _where(i: int, n: int) -> str:
    return f"layer {i} of {n}"


def inspect(source: Path, kind: str) -> Image:
    """Check an image without unpacking it: one image, every blob present, every layer a tar
    whose entries pass the checks that need no lower layer (_entry: names, link targets,
    whiteouts). Returns it closed (config and names)."""
    with open_image(source, kind) as image:
        for i, layer in enumerate(image.layers, 1):
            where = _where(i, len(image.layers))
            with _open_layer(image, layer) as tar:
                try:
                    for m in tar:
                        _entry(m, where)
                except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
                    raise OciError(f"layer {layer.name} is not a valid tar archive ({e})") from None
    return image


# --------------------------------------------------------------------------------------------
# Unpacking: a hostile image must not reach outside DEST (docs/security-images.md)
#
# Every path of a layer (entries, hard-link targets, whiteouts, mount points) is resolved below
# DEST one component at a time, with *at() calls on directory fds opened O_NOFOLLOW: a symlink on
# the way is followed only when its target is relative and stays below DEST (as openat2's
# RESOLVE_BENEATH does); an absolute target, a `..` above DEST, more than 40 symlinks or a
# non-directory on the way refuse the entry. The last component is never followed: it is
# replaced, removed, linked (link(2) without AT_SYMLINK_FOLLOW) or written (O_NOFOLLOW|O_EXCL),
# and modes are set with fchmod on an fd so opened. Device nodes are dropped and setuid/setgid
# bits cleared, each reported as a warning; ownership is not kept.

NAME_MAX, PATH_MAX, SYMLINKS_MAX = 255, 4095, 40
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SUID = stat.S_ISUID | stat.S_ISGID
SUID_NOTE = "setuid/setgid bits dropped (an image's files never run with raised privileges): "
DEVICE_NOTE = "a container's /dev is a mount"


def _show(name: str) -> str:
    """A path for a one-line message: quoted with control characters escaped, a long one cut."""
    size = len(os.fsencode(name))
    return repr(name) if size <= 120 else f"{name[:100]!r}... ({size} bytes)"


def _check_length(name: str, what: str) -> None:
    if "\0" in name:
        raise OciError(f"{what} holds a NUL byte")
    if len(os.fsencode(name)) > PATH_MAX:
        raise OciError(f"{what} is longer than {PATH_MAX} bytes")


def _parts(name: str, what: str) -> list[str]:
    """The components of a path in the image (an absolute one is taken inside the root)."""
    _check_length(name, what)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OciError(f"{what} leaves the root filesystem")
    if any(len(os.fsencode(p)) > NAME_MAX for p in parts):
        raise OciError(f"{what} has a component longer than {NAME_MAX} bytes")
    return parts


@dataclass
class _Entry:
    kind: str  # file dir sym link fifo device whiteout opaque root other
    parts: list[str]  # its path; a whiteout's: what it deletes; an opaque one's: its directory
    show: str  # its name, for messages
    link: list[str] = field(default_factory=list)  # a hard link's target
    link_show: str = ""


def _entry(m: tarfile.TarInfo, where: str) -> _Entry:
    """What a layer member does, after every check that needs no lower layer."""
    show = _show(m.name)
    try:
        parts = _parts(m.name, show)
        base = parts[-1] if parts else ""
        if base == OPAQUE:
            return _Entry("opaque", parts[:-1], show)
        if base.startswith(WHITEOUT):
            target = base[len(WHITEOUT):]
            if target in ("", "."):
                raise OciError(f"{show} whites out nothing")
            if target == "..":
                raise OciError(f"{show} leaves the root filesystem")
            return _Entry("whiteout", parts[:-1] + [target], show)
        if not parts:
            if m.isdir():
                return _Entry("root", parts, show)  # DEST's own mode is the backend's
            raise OciError(f"{show} would replace the root directory (only a directory may name it)")
        if m.issym():
            what = f"{show} -> {_show(m.linkname)}"
            _check_length(m.linkname, what)
            if not m.linkname:
                raise OciError(f"{what} points nowhere")
            return _Entry("sym", parts, show)
        if m.islnk():
            what = f"hard link {show} -> {_show(m.linkname)}"
            link = _parts(m.linkname, what)
            if not link:
                raise OciError(f"{what} names a directory")
            return _Entry("link", parts, show, link, what)
        kind = ("dir" if m.isdir() else "file" if m.isfile() else "fifo" if m.isfifo() else
                "device" if m.ischr() or m.isblk() else "other")
        return _Entry(kind, parts, show)
    except OciError as e:
        raise OciError(f"{where}: {e}") from None


def _lstat(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _clear(fd: int) -> list[str]:
    """Unlink every non-directory of the directory fd; its subdirectories' names."""
    with os.scandir(fd) as it:
        entries = list(it)
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            os.unlink(e.name, dir_fd=fd)
    return [e.name for e in entries if e.is_dir(follow_symlinks=False)]


def _remove(fd: int, name: str) -> None:
    """Remove name of the directory fd, a whole tree for a directory: nothing is followed, no
    recursion (a tree may be deeper than Python's stack) and one directory open at a time."""
    if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
        os.unlink(name, dir_fd=fd)
        return
    cur = os.open(name, DIR_FLAGS, dir_fd=fd)
    try:
        names, pending = [], [_clear(cur)]
        while pending:
            if pending[-1]:
                sub = pending[-1].pop()
                new = os.open(sub, DIR_FLAGS, dir_fd=cur)
                os.close(cur)
                cur = new
                names.append(sub)
                pending.append(_clear(cur))
                continue
            pending.pop()
            if pending:
                up = os.open("..", DIR_FLAGS, dir_fd=cur)
                os.close(cur)
                cur = up
                os.rmdir(names.pop(), dir_fd=cur)
    finally:
        os.close(cur)
    os.rmdir(name, dir_fd=fd)


class _Root:
    """DEST, open; the directories below it found one component at a time (see above)."""

    def __init__(self, dest: Path, noun: str = "the root filesystem"):
        self.fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.noun = noun  # what DEST is, for messages

    def close(self) -> None:
        os.close(self.fd)

    def open(self, real: list[str]) -> int | None:
        """The directory at real, each component a directory (no symlink followed), or None."""
        fd = os.dup(self.fd)
        for name in real:
            try:
                new = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError:  # gone, or no longer a directory
                os.close(fd)
                return None
            os.close(fd)
            fd = new
        return fd

    def dir(self, parts: list[str], what: str, create: bool) -> tuple[int, list[str]] | None:
        """(fd, real path) of the directory at parts; a missing one is made when create, else
        None. A symlink on the way is followed only below DEST; anything else is refused."""
        real: list[str] = []
        todo: list[tuple[str, tuple[str, str] | None]] = [(p, None) for p in parts]
        links = 0
        fd = os.dup(self.fd)
        try:
            while todo:
                name, via = todo.pop(0)
                if name == "..":  # only from a symlink's target
                    if not real:
                        raise OciError(f"{what} leaves {self.noun} through the symlink "
                                       f"{_show(via[0])} -> {_show(via[1])}")
                    real.pop()
                    parent = self.open(real)
                    assert parent is not None  # its directories were walked just now
                    os.close(fd)
                    fd = parent
                    continue
                st = _lstat(fd, name)
                if st is None:
                    if not create:
                        return None
                    os.mkdir(name, 0o755, dir_fd=fd)
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > SYMLINKS_MAX:
                        raise OciError(f"{what} runs through more than {SYMLINKS_MAX} symlinks")
                    link = ("/".join(real + [name]), os.readlink(name, dir_fd=fd))
                    if link[1].startswith("/") or not link[1]:
                        raise OciError(f"{what} leaves {self.noun} through the symlink "
                                       f"{_show(link[0])} -> {_show(link[1])}")
                    todo[:0] = [(p, link) for p in link[1].split("/") if p not in ("", ".")]
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise OciError(f"{what} runs through {_show('/'.join(real + [name]))}, which is not a directory")
                new = os.open(name, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = new
                real.append(name)
        except BaseException:
            os.close(fd)
            raise
        return fd, real


class _Unpacker:
    def __init__(self, dest: Path):
        self.root = _Root(dest)
        self.warnings: list[str] = []
        self.suid: list[str] = []

    def close(self) -> list[str]:
        self.root.close()
        if self.suid:
            self.warnings.append(SUID_NOTE + ", ".join(self.suid))
        return self.warnings

    def whiteout(self, e: _Entry) -> None:
        """Delete a path of the lower layers (opaque: the content of a directory); never the
        target of a symlink, which is removed itself."""
        found = self.root.dir(e.parts[:-1], e.show, create=False)
        if found is None:
            return
        fd, _ = found
        try:
            if e.kind == "whiteout":
                if _lstat(fd, e.parts[-1]) is not None:
                    _remove(fd, e.parts[-1])
                return
            st = _lstat(fd, e.parts[-1]) if e.parts else os.stat(fd)
            if st is None or not stat.S_ISDIR(st.st_mode):
                return  # nothing to empty: this layer's own entry makes the directory
            d = os.open(e.parts[-1], DIR_FLAGS, dir_fd=fd) if e.parts else os.dup(fd)
            try:
                for name in os.listdir(d):
                    _remove(d, name)
            finally:
                os.close(d)
        finally:
            os.close(fd)

    def link_target(self, e: _Entry) -> tuple[int, str]:
        found = self.root.dir(e.link[:-1], e.link_show, create=False)
        st = _lstat(found[0], e.link[-1]) if found else None
        if st is None or stat.S_ISDIR(st.st_mode):
            if found:
                os.close(found[0])
            raise OciError(f"{e.link_show} names {'a directory' if st else 'no file of the image'}")
        return found[0], e.link[-1]

    def mode(self, e: _Entry, mode: int) -> int:
        if mode & SUID:
            self.suid.append(_show("/".join(e.parts)))
        return mode & 0o7777 & ~SUID

    def write(self, tar: tarfile.TarFile, m: tarfile.TarInfo, e: _Entry, dirs: list) -> None:
        """Make one entry (not a whiteout) below the root, replacing what its path holds."""
        fd, real = self.root.dir(e.parts[:-1], e.show, create=True)
        name = e.parts[-1]
        try:
            st = _lstat(fd, name)
            if e.kind == "dir":
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    _remove(fd, name)
                if st is None or not stat.S_ISDIR(st.st_mode):
                    os.mkdir(name, 0o700, dir_fd=fd)
                dirs.append((real + [name], m.mode & 0o7777))
                return
            src = self.link_target(e) if e.kind == "link" else None
            try:
                if st is not None:
                    _remove(fd, name)
                if e.kind == "sym":
                    os.symlink(m.linkname, name, dir_fd=fd)
                elif src is not None:
                    try:
                        os.link(src[1], name, src_dir_fd=src[0], dst_dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:  # it was below the path this entry replaced
                        raise OciError(f"{e.link_show} names no file of the image") from None
                elif e.kind == "file":
                    data = tar.extractfile(m)
                    assert data is not None
                    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600, dir_fd=fd)
                    with open(out, "wb") as f:
                        shutil.copyfileobj(data, f)
                        os.fchmod(f.fileno(), self.mode(e, m.mode))
                elif e.kind == "fifo":
                    os.mkfifo(name, 0o600, dir_fd=fd)
                    out = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                    try:
                        os.fchmod(out, self.mode(e, m.mode))
                    finally:
                        os.close(out)
            finally:
                if src is not None:
                    os.close(src[0])
        finally:
            os.close(fd)

    def chmod_dirs(self, dirs: list) -> None:
        """The directories' modes, set last (a read-only one may get entries first), on an fd
        opened without following anything: one a later entry replaced is left alone."""
        for real, mode in reversed(dirs):
            fd = self.root.open(real)
            if fd is not None:
                try:
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)

    def layer(self, tar: tarfile.TarFile, where: str) -> None:
        """Apply one layer: its whiteouts (which act on the lower layers only), then its entries."""
        entries = [(m, _entry(m, where)) for m in tar.getmembers()]
        try:
            for m, e in entries:
                if e.kind in ("whiteout", "opaque"):
                    self.whiteout(e)
            dirs: list = []
            for m, e in entries:
                if e.kind == "device":
                    kind = "block" if m.isblk() else "character"
                    self.warnings.append(f"{where}: {kind} device {e.show} ({m.devmajor}:{m.devminor}) dropped: "
                                         f"{DEVICE_NOTE}")
                elif e.kind not in ("whiteout", "opaque", "root", "other"):
                    self.write(tar, m, e, dirs)
            self.chmod_dirs(dirs)
        except OciError as err:
            raise OciError(f"{where}: {err}") from None

    def mkdirs(self, paths) -> None:
        for path in paths:
            what = f"mount point {_show(path)}"
            fd, _ = self.root.dir(_parts(path, what), what, create=True)
            os.close(fd)

    def mkfiles(self, paths) -> None:
        """File mount points: a regular file stays, a symlink (or fifo) is replaced by an empty
        file (what the path shows is the mount's source), a directory is refused."""
        for path in paths:
            what = f"mount point {_show(path)}"
            parts = _parts(path, what)
            fd, _ = self.root.dir(parts[:-1], what, create=True)
            try:
                st = _lstat(fd, parts[-1])
                if st is not None and stat.S_ISREG(st.st_mode):
                    continue
                if st is not None and stat.S_ISDIR(st.st_mode):
                    raise OciError(f"{what} is a directory in the image; a file is mounted there")
                if st is not None:
                    _remove(fd, parts[-1])
                os.close(os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o644, dir_fd=fd))
            finally:
                os.close(fd)


def make_mount_points(dest: Path, dirs=(), files=()) -> None:
    """Make directories and files (absolute paths in the container: its mount points) below
    dest, resolving each as the layers' paths are: never out of dest."""
    u = _Unpacker(dest)
    try:
        u.mkdirs(dirs)
        u.mkfiles(files)
    finally:
        u.close()


def unpack(source: Path, dest: Path, kind: str | None = None, mkdirs=(), mkfiles=()) -> list[str]:
    """Unpack the one image of source (an oci-layout, oci-archive or docker-archive) into dest,
    then make the directories mkdirs and the files mkfiles (the container's mount points) in it.
    Returns the warnings (device nodes dropped, setuid/setgid bits cleared), one line each; a
    refused entry raises OciError naming its layer and path."""
    with open_image(source, kind) as image:
        dest.mkdir(parents=True, exist_ok=True)
        u = _Unpacker(dest)
        try:
            for i, layer in enumerate(image.layers, 1):
                where = _where(i, len(image.layers))
                with _open_layer(image, layer) as tar:
                    try:
                        u.layer(tar, where)
                    except (tarfile.TarError, EOFError, zlib.error) as e:
                        raise OciError(f"layer {layer.name} is not a valid tar archive ({e})") from None
            u.mkdirs(mkdirs)
            u.mkfiles(mkfiles)
        finally:
            warnings = u.close()
    return warnings


def read_file(source: Path, name: str, kind: str | None = None, limit: int = 1 << 20) -> bytes | None:
    """The content of one regular file of the image's merged root filesystem (e.g.
    etc/passwd), or None when it is not a regular file there; layers are read in order, whiteouts
    applied, nothing is unpacked and no link is followed. A file larger than limit bytes is
    refused."""
    want = _parts(name, _show(name))
    found: bytes | None = None
    with open_image(source, kind) as image:
        for i, layer in enumerate(image.layers, 1):
            with _open_layer(image, layer) as tar:
                entries = [(m, _entry(m, f"layer {i} of {len(image.layers)}")) for m in tar.getmembers()]
                # whiteouts act on the lower layers only: first them, then this layer's files
                if any(e.kind in ("opaque", "whiteout") and want[:len(e.parts)] == e.parts for _, e in entries):
                    found = None
                for m, e in entries:
                    if e.parts == want and e.kind not in ("opaque", "whiteout"):
                        f = tar.extractfile(m) if e.kind == "file" else None
                        if f is not None and m.size > limit:
                            raise OciError(f"{_show(name)} is larger than {limit} bytes")
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
    p.add_argument("--mkdir", action="append", default=[], metavar="PATH",
                   help="a directory to make in the root filesystem afterwards (a mount point), never "
                        "through a symlink out of it; repeatable")
    p.add_argument("--mkfile", action="append", default=[], metavar="PATH",
                   help="a file to make in the root filesystem afterwards (a file mount point), never "
                        "through a symlink out of it; a symlink there is replaced; repeatable")
    p.add_argument("source", type=Path)
    p.add_argument("dest", type=Path)
    args = p.parse_args(argv[1:])
    try:
        warnings = unpack(args.source, args.dest, args.kind, args.mkdir, args.mkfile)
    except (OciError, OSError, tarfile.TarError, ValueError, KeyError) as e:
        print(f"oci-unpack: {args.source}: {e}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"WARNING: oci-unpack: {args.source}: {w}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
