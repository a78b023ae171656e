"""A hostile container image at build time (docs/security-images.md): a corpus of crafted images,
each either refused with one pinned line or made safe with pinned warnings, run through every route
an image takes on the build host; in every case nothing outside the unpack directory changes.

Each case is a docker-archive of its layers. The routes:
- debian: the Debian backend's container_rootfs (oci.unpack in-process, then the mount points);
- buildroot: the container's block of the generated post-build.sh, run by sh with the tree's own
  oci-unpack.py (a byte copy of oci.py) under the venv's python;
- yocto: the generate-time conversion (oci.docker_to_layout), then the do_compile and do_install
  shell of meta-pycontainers' pycontainers-container.bbclass (umoci unpack --rootless, cp -R,
  install -d), with the variables of the generated recipe.

Around the unpack directory sit decoys: a fake signing key, a directory tree, files of known
modes. Images point at them by absolute path ({out}, {key}, {work}) and by a relative path that
climbs out of any unpack directory ({up}). After each route the snapshot of everything around the
unpack directories (paths, types, modes, link counts, owners, mtimes, contents, link targets) must
be unchanged, and the produced trees must hold no device node, no setuid/setgid file and no decoy
(by inode or content).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import ROOT, image_config, layer, make_docker_archive, make_layout, with_test_keys
from pycontainers import cli, oci
from pycontainers.debian.build import DebianBuild
from pycontainers.errors import UserError
from pycontainers.model import load_device

DEMO = (ROOT / "conf" / "devices" / "demo.yml").read_text()
CLASS = ROOT / "meta-pycontainers" / "classes-recipe" / "pycontainers-container.bbclass"
NAME = "counter"  # the demo's app container, with a volume at /var/lib/counter
PN = f"hostile-container-{NAME}"  # its Yocto recipe
KEY = b"-----BEGIN PRIVATE KEY----- the build's signing key\n"
DECOYS = {"decoy/passwd": (b"root:x:0:0:decoy\n", 0o644), "decoy/sub/file": (b"decoy file\n", 0o640),
          "decoy/tool": (b"#!/bin/sh\necho decoy\n", 0o755)}
SUID = "setuid/setgid bits dropped (an image's files never run with raised privileges): "


# ------------------------------------------------------------------------------------------
# The corpus


def F(name, data=b"x", mode=0o644):
    return (name, "file", data, mode)


def D(name, mode=0o755):
    return (name, "dir", None, mode)


def S(name, target):
    return (name, "sym", target, 0o777)


def L(name, target):
    return (name, "link", target, 0o644)


def WH(name):
    return (name, "file", b"", 0o644)


@dataclass
class Case:
    id: str
    layers: list  # each a list of entries (F, D, S, L, WH, ...) with {out} {key} {work} {up}
    refused: str = ""  # the pinned message after the route's prefix
    warnings: tuple = ()  # the pinned warnings (after the prefix)
    tree: dict = field(default_factory=dict)  # rootfs path -> what it is (see `what`); None: absent
    static: bool = False  # refused by `validate` already (oci.inspect): no layer below is needed
    yocto: str = ""  # a line the Yocto class's tasks print (umoci contains what oci.py refuses)
    bridge: bool = False  # counter has network: bridge (its /etc/resolv.conf is a file mount point)


DEEP = "d/" * 1800  # 3600 bytes deep: more levels than Python's recursion limit

CASES = [
    # whiteouts and opaque whiteouts
    Case("whiteout-through-an-absolute-symlink", [[S("etc", "{out}")], [WH("etc/.wh.passwd")]],
         refused="layer 2 of 2: 'etc/.wh.passwd' leaves the root filesystem through the symlink 'etc' -> '{out}'"),
    Case("whiteout-through-a-relative-symlink", [[S("etc", "{up}")], [WH("etc/.wh.passwd")]],
         refused="layer 2 of 2: 'etc/.wh.passwd' leaves the root filesystem through the symlink 'etc' -> '{up}'"),
    Case("opaque-whiteout-through-a-symlink", [[S("a", "{work}")], [WH("a/decoy/.wh..wh..opq")]],
         refused="layer 2 of 2: 'a/decoy/.wh..wh..opq' leaves the root filesystem through the symlink "
                 "'a' -> '{work}'"),
    Case("opaque-whiteout-and-directory-over-a-symlink", [[S("etc", "{out}")], [WH("etc/.wh..wh..opq"), D("etc", 0o700)]],
         tree={"etc": "dir 700"}),
    Case("whiteout-of-the-root", [[F("bin/sh")], [WH(".wh..")]], static=True,
         refused="layer 2 of 2: '.wh..' whites out nothing"),
    Case("whiteout-of-dotdot", [[WH("x/.wh...")]], static=True,
         refused="layer 1 of 1: 'x/.wh...' leaves the root filesystem"),
    Case("whiteout-removes-a-symlink-not-its-target", [[S("lnk", "{key}"), S("d", "{out}")], [WH(".wh.lnk"), WH(".wh.d")]],
         tree={"lnk": None, "d": None}),
    Case("opaque-whiteout-empties-only-its-own-directory",
         [[D("etc"), S("etc/out", "{out}"), S("etc/key", "{key}"), F("etc/f")], [WH("etc/.wh..wh..opq"), F("etc/new", b"n")]],
         tree={"etc/new": "b'n' 644", "etc/out": None, "etc/key": None, "etc/f": None}),
    Case("whiteout-in-the-layer-that-makes-the-symlink", [[S("etc", "{out}"), WH("etc/.wh.passwd")]],
         tree={"etc": "-> {out}"}),
    Case("opaque-whiteout-of-the-root", [[F("bin/x")], [WH(".wh..wh..opq"), F("etc/y", b"y")]],
         tree={"bin": None, "etc/y": "b'y' 644"}),
    Case("deep-directory-whited-out", [[F(DEEP + "f")], [WH(".wh.d")]], tree={"d": None}),
    # directories
    Case("directory-over-a-symlink", [[S("etc", "{out}")], [D("etc", 0o777)]], tree={"etc": "dir 777"}),
    Case("directory-then-symlink-in-one-layer", [[D("d", 0o700), S("d", "{out}")]], tree={"d": "-> {out}"}),
    Case("directory-through-a-symlink", [[S("a", "{out}")], [D("a/new")]],
         refused="layer 2 of 2: 'a/new' leaves the root filesystem through the symlink 'a' -> '{out}'"),
    Case("root-replaced-by-a-symlink", [[S("./", "{out}"), F("x")]], static=True,
         refused="layer 1 of 1: './' would replace the root directory (only a directory may name it)"),
    # files and symlinks
    Case("file-through-an-absolute-symlink", [[S("etc", "{out}")], [F("etc/passwd", b"pwned")]],
         refused="layer 2 of 2: 'etc/passwd' leaves the root filesystem through the symlink 'etc' -> '{out}'"),
    Case("file-through-a-relative-symlink", [[S("etc", "{up}")], [F("etc/passwd", b"pwned")]],
         refused="layer 2 of 2: 'etc/passwd' leaves the root filesystem through the symlink 'etc' -> '{up}'"),
    Case("file-through-a-symlink-of-the-same-layer", [[S("etc", "{out}"), F("etc/passwd", b"pwned")]],
         refused="layer 1 of 1: 'etc/passwd' leaves the root filesystem through the symlink 'etc' -> '{out}'"),
    Case("file-over-a-symlink-replaces-the-link", [[S("etc/passwd", "{out}/passwd")], [F("etc/passwd", b"mine")]],
         tree={"etc/passwd": "b'mine' 644"}),
    Case("symlink-chain-out", [[S("a", "b"), S("b", "c"), S("c", "{out}")], [F("a/x")]],
         refused="layer 2 of 2: 'a/x' leaves the root filesystem through the symlink 'c' -> '{out}'"),
    Case("symlink-chain-inside-is-followed", [[D("usr/lib"), S("lib", "usr/lib"), S("lib64", "./lib/")], [F("lib64/libx.so", b"l")]],
         tree={"usr/lib/libx.so": "b'l' 644", "lib64": "-> ./lib/"}),
    Case("symlink-with-dotdot-inside-is-followed", [[D("usr/lib"), S("usr/lib64", "../usr/lib")], [F("usr/lib64/x", b"x")]],
         tree={"usr/lib/x": "b'x' 644", "usr/lib64": "-> ../usr/lib"}),
    Case("symlink-loop", [[S("a", "b"), S("b", "a")], [F("a/x")]],
         refused="layer 2 of 2: 'a/x' runs through more than 40 symlinks"),
    Case("symlink-dotdot-out-of-the-root", [[S("x/y", "../..")], [F("x/y/decoy/passwd", b"pwned")]],
         refused="layer 2 of 2: 'x/y/decoy/passwd' leaves the root filesystem through the symlink 'x/y' -> '../..'"),
    Case("symlink-replaced-later", [[D("inside"), S("a", "inside")], [S("a", "{out}")], [F("a/x")]],
         refused="layer 3 of 3: 'a/x' leaves the root filesystem through the symlink 'a' -> '{out}'"),
    Case("symlink-replaced-by-a-directory", [[S("a", "{out}")], [D("a"), F("a/x", b"x")]],
         tree={"a": "dir 755", "a/x": "b'x' 644"}),
    Case("parent-is-a-file", [[F("f")], [F("f/x")]],
         refused="layer 2 of 2: 'f/x' runs through 'f', which is not a directory"),
    Case("symlink-to-a-file-on-the-way", [[F("etc/passwd"), S("p", "etc/passwd")], [F("p/x")]],
         refused="layer 2 of 2: 'p/x' runs through 'etc/passwd', which is not a directory"),
    Case("absolute-names-stay-inside", [[F("/etc/hostile", b"h"), S("/etc/shadow", "/etc/shadow")]],
         tree={"etc/hostile": "b'h' 644", "etc/shadow": "-> /etc/shadow"}),
    Case("dotdot-name", [[F("../decoy/passwd", b"pwned")]], static=True,
         refused="layer 1 of 1: '../decoy/passwd' leaves the root filesystem"),
    Case("dotdot-inside-a-name", [[D("a"), F("a/../../decoy/passwd", b"pwned")]], static=True,
         refused="layer 1 of 1: 'a/../../decoy/passwd' leaves the root filesystem"),
    Case("nul-in-a-name", [[F("etc/a\0b")]], static=True, refused="layer 1 of 1: 'etc/a\\x00b' holds a NUL byte"),
    Case("nul-in-a-symlink-target", [[S("s", "t\0u")]], static=True,
         refused="layer 1 of 1: 's' -> 't\\x00u' holds a NUL byte"),
    Case("name-component-too-long", [[F("a" * 300)]], static=True,
         refused=f"layer 1 of 1: {'a' * 100!r}... (300 bytes) has a component longer than 255 bytes"),
    Case("path-too-long", [[F("abcdefghij/" * 410 + "f")]], static=True,
         refused=f"layer 1 of 1: {('abcdefghij/' * 10)[:100]!r}... (4511 bytes) is longer than 4095 bytes"),
    Case("symlink-target-too-long", [[S("s", "a/" * 2500)]], static=True,
         refused=f"layer 1 of 1: 's' -> {('a/' * 50)!r}... (5000 bytes) is longer than 4095 bytes"),
    # hard links
    Case("hard-link-to-a-symlink-to-the-signing-key", [[S("k", "{key}")], [L("stolen", "k")]],
         tree={"stolen": "-> {key}"}),
    Case("hard-link-through-a-symlink", [[S("d", "{work}")], [L("stolen", "d/signing.key")]],
         refused="layer 2 of 2: hard link 'stolen' -> 'd/signing.key' leaves the root filesystem through the "
                 "symlink 'd' -> '{work}'"),
    Case("hard-link-dotdot", [[L("stolen", "../signing.key")]], static=True,
         refused="layer 1 of 1: hard link 'stolen' -> '../signing.key' leaves the root filesystem"),
    Case("hard-link-to-a-host-path", [[L("stolen", "{key}")]],
         refused="layer 1 of 1: hard link 'stolen' -> '{key}' names no file of the image"),
    Case("hard-link-to-a-directory", [[D("etc")], [L("x", "etc")]],
         refused="layer 2 of 2: hard link 'x' -> 'etc' names a directory"),
    Case("hard-link-before-its-target", [[L("x", "y"), F("y")]],
         refused="layer 1 of 1: hard link 'x' -> 'y' names no file of the image"),
    Case("hard-link-inside-is-kept", [[F("bin/tool", b"t", 0o755)], [L("bin/tool2", "/bin/tool")]],
         tree={"bin/tool2": "b't' 755"}),
    # device nodes, FIFOs, setuid
    Case("device-nodes-dropped",
         [[D("dev"), ("dev/sda", "blk", (8, 0), 0o660), ("dev/mem", "chr", (1, 1), 0o640), F("etc/passwd")]],
         warnings=("layer 1 of 1: block device 'dev/sda' (8:0) dropped: a container's /dev is a mount",
                   "layer 1 of 1: character device 'dev/mem' (1:1) dropped: a container's /dev is a mount"),
         tree={"dev": "dir 755", "dev/sda": None, "dev/mem": None}),
    Case("device-node-through-a-symlink", [[S("d", "{out}")], [("d/null", "chr", (1, 3), 0o666)]],
         warnings=("layer 2 of 2: character device 'd/null' (1:3) dropped: a container's /dev is a mount",)),
    Case("device-node-over-a-file", [[F("etc/passwd", b"p")], [("etc/passwd", "chr", (1, 3), 0o666)]],
         warnings=("layer 2 of 2: character device 'etc/passwd' (1:3) dropped: a container's /dev is a mount",),
         tree={"etc/passwd": "b'p' 644"}),
    Case("fifo-kept-with-its-mode", [[("run/fifo", "fifo", None, 0o620)]], tree={"run/fifo": "fifo 620"}),
    Case("fifo-through-a-symlink", [[S("d", "{out}")], [("d/fifo", "fifo", None, 0o644)]],
         refused="layer 2 of 2: 'd/fifo' leaves the root filesystem through the symlink 'd' -> '{out}'"),
    Case("setuid-and-setgid-bits-dropped",
         [[F("bin/su", b"su", 0o4755), F("bin/wall", b"w", 0o2755), D("tmp", 0o1777), D("srv", 0o2775),
           L("bin/su2", "bin/su")], [F("usr/bin/passwd", b"p", 0o6755), ("run/p", "fifo", None, 0o4600)]],
         warnings=(SUID + "'bin/su', 'bin/wall', 'usr/bin/passwd', 'run/p'",),
         yocto=f"WARNING: {PN}: {SUID}./bin/su ./bin/su2 ./bin/wall ./run/p ./usr/bin/passwd ",
         tree={"bin/su": "b'su' 755", "bin/su2": "b'su' 755", "bin/wall": "b'w' 755", "tmp": "dir 1777",
               "srv": "dir 2775", "usr/bin/passwd": "b'p' 755", "run/p": "fifo 600"}),
    # the container's mount points, made after the image (its volume /var/lib/counter, /tmp, /run)
    Case("mount-point-through-a-symlink", [[S("var", "{out}")]],
         refused="mount point '/var/lib/counter' leaves the root filesystem through the symlink 'var' -> '{out}'",
         yocto=f"{PN}: mount point /var/lib/counter leaves the root filesystem through a symlink of the image"),
    Case("mount-point-is-a-symlink-out", [[S("tmp", "{up}")]],
         refused="mount point '/tmp' leaves the root filesystem through the symlink 'tmp' -> '{up}'",
         yocto=f"{PN}: mount point /tmp leaves the root filesystem through a symlink of the image"),
    Case("mount-point-in-a-symlink-loop", [[S("tmp", "tmp")]],
         refused="mount point '/tmp' runs through more than 40 symlinks",
         yocto=f"{PN}: mount point /tmp runs through a symlink loop of the image"),
    Case("mount-point-through-a-symlink-inside", [[S("run", "var/run")]],
         tree={"run": "-> var/run", "var/run": "dir 755"}),
    # the file mount point of a bridge container's DNS (/etc/resolv.conf, bound from the host)
    Case("file-mount-point-made", [[F("bin/app")]], bridge=True, tree={"etc": "dir 755", "etc/resolv.conf": "b'' 644"}),
    Case("file-mount-point-kept", [[F("etc/resolv.conf", b"nameserver 1.1.1.1\n", 0o600)]], bridge=True,
         tree={"etc/resolv.conf": "b'nameserver 1.1.1.1\\n' 600"}),
    Case("file-mount-point-symlink-out-replaced", [[S("etc/resolv.conf", "{key}")]], bridge=True,
         tree={"etc/resolv.conf": "b'' 644"}),
    Case("file-mount-point-relative-symlink-replaced", bridge=True,
         layers=[[S("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf")]],
         tree={"etc/resolv.conf": "b'' 644"}),
    Case("file-mount-point-through-a-symlink", [[S("etc", "{out}")]], bridge=True,
         refused="mount point '/etc/resolv.conf' leaves the root filesystem through the symlink 'etc' -> '{out}'",
         yocto=f"{PN}: mount point /etc leaves the root filesystem through a symlink of the image"),
    Case("file-mount-point-is-a-directory", [[D("etc/resolv.conf")]], bridge=True,
         refused="mount point '/etc/resolv.conf' is a directory in the image; a file is mounted there",
         yocto=f"{PN}: mount point /etc/resolv.conf is a directory in the image; a file is mounted there"),
]


# ------------------------------------------------------------------------------------------
# The surroundings: decoys, snapshots, invariants


@dataclass
class Work:
    root: Path  # the temp dir around everything
    vars: dict  # {out} {key} {work} {up}
    archive: Path  # the case's docker-archive

    def sub(self, text: str) -> str:
        for k, v in self.vars.items():
            text = text.replace(k, v)
        return text

    def msg(self, text: str) -> str:
        """A pinned message: a path longer than 120 bytes is shown cut, with its length."""
        up = self.vars["{up}"]
        return self.sub(text.replace("'{up}'", f"{up[:100]!r}... ({len(up)} bytes)"))


def make_work(tmp_path: Path, case: Case) -> Work:
    work = tmp_path / "work"
    (work / "decoy" / "sub").mkdir(parents=True)
    (work / "signing.key").write_bytes(KEY)
    (work / "signing.key").chmod(0o600)
    for rel, (data, mode) in DECOYS.items():
        (work / rel).write_bytes(data)
        (work / rel).chmod(mode)
    (work / "decoy" / "sub").chmod(0o750)
    up = "../" * 40 + str(work / "decoy").lstrip("/")  # out of any unpack directory, to the decoys
    w = Work(work, {"{out}": str(work / "decoy"), "{key}": str(work / "signing.key"), "{work}": str(work),
                    "{up}": up}, work / "in" / "image.tar")
    layers = []
    for entries in case.layers:
        layers.append(layer([(w.sub(n), k, w.sub(a) if isinstance(a, str) else a, m) for n, k, a, m in entries]))
    w.archive.parent.mkdir()
    make_docker_archive(w.archive, layers, image_config(layers))
    return w


OUTPUTS = ("rootfs", "target", "yocto")  # where the routes write: not part of the snapshot


def snapshot(work: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(work):
        rel_dir = os.path.relpath(dirpath, work)
        dirnames[:] = [d for d in dirnames if not (rel_dir == "." and d in OUTPUTS)]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            content = (os.readlink(p) if stat.S_ISLNK(st.st_mode) else
                       hashlib.sha256(Path(p).read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None)
            out[os.path.normpath(os.path.join(rel_dir, name))] = (
                kind, stat.S_IMODE(st.st_mode), st.st_nlink, st.st_uid, st.st_gid, st.st_mtime_ns, content)
    return out


def check_produced(work: Path, tree_root: Path) -> None:
    """A produced tree holds no device node, no setuid/setgid file and no decoy."""
    if not tree_root.is_dir():
        return
    decoy_ids = {(os.lstat(p).st_dev, os.lstat(p).st_ino) for p in [work / "signing.key"] + [work / r for r in DECOYS]}
    decoy_data = {KEY} | {d for d, _ in DECOYS.values()}
    for dirpath, dirnames, filenames in os.walk(tree_root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, tree_root)
            assert not stat.S_ISBLK(st.st_mode) and not stat.S_ISCHR(st.st_mode), f"device node {rel}"
            if not stat.S_ISDIR(st.st_mode):
                assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), f"setuid/setgid {rel}"
            assert (st.st_dev, st.st_ino) not in decoy_ids, f"{rel} is a decoy (hard link)"
            if stat.S_ISREG(st.st_mode):
                assert Path(p).read_bytes() not in decoy_data, f"{rel} holds a decoy's content"


def what(p: Path) -> str | None:
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    mode = f"{stat.S_IMODE(st.st_mode):o}"
    if stat.S_ISLNK(st.st_mode):
        return f"-> {os.readlink(p)}"
    if stat.S_ISDIR(st.st_mode):
        return f"dir {mode}"
    if stat.S_ISFIFO(st.st_mode):
        return f"fifo {mode}"
    if stat.S_ISREG(st.st_mode):
        return f"{p.read_bytes()!r} {mode}"
    return "other"


def check_tree(w: Work, case: Case, rootfs: Path) -> None:
    got = {rel: what(rootfs / rel) for rel in case.tree}
    assert got == {rel: w.sub(v) if v else v for rel, v in case.tree.items()}


# ------------------------------------------------------------------------------------------
# The device and its generated trees (once per module)


@pytest.fixture(scope="module")
def generated_both(tmp_path_factory) -> dict:
    """A device whose app container `counter` is a docker-archive (a benign one), generated; and
    the same with counter on a bridge (a file mount point for its DNS: /etc/resolv.conf)."""
    top = tmp_path_factory.mktemp("hostile")
    make_docker_archive(top / "image.tar", [layer([F("bin/app", b"#!/bin/sh\n", 0o755)])])
    text = DEMO.replace("name: demo\n", "name: hostile\n")
    first = text.index("packages: [busybox-static]") + 1
    text = text[:first] + text[first:].replace("packages: [busybox-static]", "docker-archive: image.tar", 1)
    both = {}
    for bridge, sub in ((False, "none"), (True, "bridge")):
        (top / sub).mkdir()
        shutil.copy(top / "image.tar", top / sub / "image.tar")
        device = top / sub / "hostile.yml"
        device.write_text(text.replace("    depends_on: [hostos]\n", "    depends_on: [hostos]\n    network: bridge\n", 1)
                          if bridge else text)
        out = with_test_keys(top / sub / "out")
        assert cli.main(["generate", str(device), "-o", str(out)]) == 0
        both[bridge] = {"device": device, "gen": out / "generated"}
    return both


@pytest.fixture(scope="module")
def generated(generated_both) -> dict:
    return generated_both[False]


# ------------------------------------------------------------------------------------------
# The routes


def debian(w: Work, case: Case, generated: dict, capsys) -> None:
    device = load_device(generated["device"])
    c = next(c for c in device.containers if c.name == NAME)
    c = dataclasses.replace(c, image=dataclasses.replace(c.image, path=w.archive))
    build = DebianBuild(device, w.root / "rootfs" / "out", cache=w.root / "rootfs" / "cache")
    rootfs = w.root / "rootfs" / "bundle" / "rootfs"
    prefix = f"{device.display}: container {NAME}: image.docker-archive: image.tar: "
    capsys.readouterr()
    if case.refused:
        with pytest.raises(UserError) as e:
            build.container_rootfs(c, rootfs)
        assert str(e.value) == prefix + w.msg(case.refused)
        return
    build.container_rootfs(c, rootfs)
    assert capsys.readouterr().err.splitlines() == [f"WARNING: {prefix}{w.msg(x)}" for x in case.warnings]
    check_tree(w, case, rootfs)


def container_block(script: str, name: str) -> str:
    """The block of post-build.sh that makes one container's root filesystem."""
    m = re.search(rf"^# Container {name}:.*?(?=^# Container |\Z)", script, re.S | re.M)
    assert m, f"no block for container {name} in post-build.sh"
    return m.group(0)


def buildroot(w: Work, case: Case, generated: dict) -> None:
    board = generated["gen"] / "buildroot" / "board" / "hostile"
    bdir = w.root / "target" / "board"
    (bdir / "containers" / NAME).mkdir(parents=True)
    shutil.copy(board / "oci-unpack.py", bdir / "oci-unpack.py")
    shutil.copy(w.archive, bdir / "containers" / NAME / "image.tar")
    (w.root / "target" / "host" / "bin").mkdir(parents=True)
    (w.root / "target" / "host" / "bin" / "python3").symlink_to(sys.executable)
    script = container_block((board / "post-build.sh").read_text(), NAME)
    env = dict(os.environ, TARGET=str(w.root / "target" / "slot"), BOARD_DIR=str(bdir),
               HOST_DIR=str(w.root / "target" / "host"))
    r = subprocess.run(["sh", "-euc", script], env=env, capture_output=True, text=True)
    rootfs = w.root / "target" / "slot" / "usr/share/pycontainers/containers" / NAME / "rootfs"
    source = bdir / "containers" / NAME / "image.tar"
    if case.refused:
        assert (r.returncode, r.stderr) == (1, f"oci-unpack: {source}: {w.msg(case.refused)}\n")
        return
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"WARNING: oci-unpack: {source}: {w.msg(x)}" for x in case.warnings]
    check_tree(w, case, rootfs)


def bb_vars(recipe: str) -> dict:
    """The recipe's PYCONTAINERS_* settings over the class's ??= defaults."""
    defaults = dict(re.findall(r'^(PYCONTAINERS_\w+) \?\?= "(.*)"$', CLASS.read_text(), re.M))
    return defaults | dict(re.findall(r'^(PYCONTAINERS_\w+) = "(.*)"$', recipe, re.M))


def bb_task(text: str, task: str, variables: dict) -> str:
    """A shell task of the bbclass with its ${VARIABLES} expanded, as bitbake runs it."""
    m = re.search(rf"^{task}\(\) {{\n(.*?)^}}", text, re.S | re.M)
    assert m, task
    return re.sub(r"\$\{(\w+)\}", lambda v: variables[v.group(1)], m.group(1))


def yocto(w: Work, case: Case, generated: dict) -> None:
    if shutil.which("umoci") is None:  # a failure under CI=true (the root conftest.py)
        pytest.skip("umoci is not installed (scripts/setup installs it)")
    rdir = generated["gen"] / "yocto" / "meta-hostile" / "recipes-containers" / PN
    variables = bb_vars((rdir / f"{PN}.bb").read_text())
    assert variables["PYCONTAINERS_CONTAINER_OCI"] == "image.oci"
    y = w.root / "yocto"
    src = y / "files"
    src.mkdir(parents=True)
    (y / "bundle").mkdir()  # bitbake makes ${B}
    oci.docker_to_layout(w.archive, src / "image.oci")  # what generate does (yocto._write_converted)
    shutil.copy(rdir / "files" / "config.json", src / "config.json")
    variables.update(PN=PN, S=str(src), B=str(y / "bundle"), D=str(y / "image"), PYCONTAINERS_CONTAINER_IMAGE="",
                     PYCONTAINERS_CONTAINER_OCI_REF="", TARGET_GOARCH="arm64", DEPLOY_DIR_IMAGE="",
                     IMAGE_MACHINE_SUFFIX="", IMAGE_NAME_SUFFIX="",
                     PYCONTAINERS_BUNDLE_DIR=f"/usr/share/pycontainers/containers/{NAME}")
    text = CLASS.read_text()
    script = "bbfatal() { echo \"$*\" >&2; exit 1; }\nbbwarn() { echo \"WARNING: $*\" >&2; }\nset -e\n" + \
        bb_task(text, "do_compile", variables) + bb_task(text, "do_install", variables)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    if case.yocto:
        assert case.yocto in r.stderr.splitlines(), r.stderr
    elif not case.refused:  # what oci.py makes safe, umoci takes too
        assert r.returncode == 0, r.stderr
    # whatever umoci took or refused, the boundary holds (the caller compares the snapshots)
    rootfs = y / "image" / f"usr/share/pycontainers/containers/{NAME}" / "rootfs"
    check_produced(w.root, y / "bundle")
    check_produced(w.root, rootfs)


ROUTES = {"debian": debian, "buildroot": buildroot, "yocto": yocto}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_image(case, route, generated_both, tmp_path, capsys):
    generated = generated_both[case.bridge]
    w = make_work(tmp_path, case)
    before = snapshot(w.root)
    try:
        if route == "debian":
            debian(w, case, generated, capsys)
        else:
            ROUTES[route](w, case, generated)
    finally:
        assert snapshot(w.root) == before, "something outside the unpack directory changed"
    for out in OUTPUTS:
        check_produced(w.root, w.root / out)


# ------------------------------------------------------------------------------------------
# What validate sees without unpacking; the post-build command; the Yocto class


@pytest.mark.parametrize("case", [c for c in CASES if c.static], ids=[c.id for c in CASES if c.static])
def test_validate_refuses_what_a_layer_shows_alone(case, generated, run_cli, tmp_path):
    w = make_work(tmp_path, case)
    text = generated["device"].read_text().replace("docker-archive: image.tar", f"docker-archive: {w.archive}")
    (tmp_path / "dev.yml").write_text(text)
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if "docker-archive:" in ln)
    code, _, err = run_cli("validate", "dev.yml")
    assert code == 2 and err.splitlines() == [
        f"dev.yml:{line}: containers[1].image.docker-archive: {str(w.archive)!r}: {w.msg(case.refused)}",
        "1 problem found; nothing was written"]


def test_post_build_makes_the_mount_points_through_oci_unpack(generated):
    """An image's mount points are made by oci-unpack.py beneath the root, never by mkdir -p
    (which follows the image's symlinks out of it)."""
    device = load_device(generated["device"])
    c = next(c for c in device.containers if c.name == NAME)
    from pycontainers.contract import container_mount_points
    block = container_block((generated["gen"] / "buildroot/board/hostile/post-build.sh").read_text(), NAME)
    (cmd,) = [shlex.split(ln) for ln in block.replace("\\\n", " ").splitlines() if "oci-unpack.py" in ln and not ln.startswith("#")]
    assert cmd[:4] == ["${HOST_DIR}/bin/python3", "${BOARD_DIR}/oci-unpack.py", "--kind", "docker-archive"]
    mkdirs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--mkdir"]
    assert mkdirs == container_mount_points(c) and "/var/lib/counter" in mkdirs
    assert "mkdir" not in block.replace("--mkdir", "")
    assert "--mkfile" not in cmd


def test_post_build_makes_a_bridge_containers_dns_mount_point_through_oci_unpack(generated_both):
    block = container_block((generated_both[True]["gen"] / "buildroot/board/hostile/post-build.sh").read_text(), NAME)
    (cmd,) = [shlex.split(ln) for ln in block.replace("\\\n", " ").splitlines() if "oci-unpack.py" in ln and not ln.startswith("#")]
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--mkfile"] == ["/etc/resolv.conf"]
    assert "/etc/resolv.conf" not in [cmd[i + 1] for i, a in enumerate(cmd) if a == "--mkdir"]


def test_an_image_layout_is_read_without_leaving_it(generated, run_cli, tmp_path):
    """An oci-layout directory is read without following a symlink out of it: a layer blob linked
    to a tar elsewhere on the build host would put that file into the container's image."""
    (tmp_path / "backup.tar").write_bytes(layer([F("etc/secret", KEY)], compress=False))  # on the build host
    linked = make_layout(tmp_path / "linked", [layer([F("bin/app", b"app", 0o755)])])
    index = json.loads((linked / "index.json").read_text())
    manifest = json.loads((linked / "blobs" / index["manifests"][0]["digest"].replace(":", "/")).read_bytes())
    blob = manifest["layers"][0]["digest"].replace(":", "/")
    (linked / "blobs" / blob).unlink()
    (linked / "blobs" / blob).symlink_to(tmp_path / "backup.tar")
    shared = tmp_path / "shared"  # its blobs/ a symlink to another layout's
    shared.mkdir()
    shutil.copy(linked / "index.json", shared / "index.json")
    (shared / "blobs").symlink_to("../linked/blobs")
    script = generated["gen"] / "buildroot/board/hostile/oci-unpack.py"
    first = "blobs/" + index["manifests"][0]["digest"].replace(":", "/")  # the first blob read
    for layout, message in [
            (linked, f"'blobs/{blob}' is a symlink; an image layout holds files"),
            (shared, f"'{first}' leaves the image layout through the symlink 'blobs' -> '../linked/blobs'")]:
        with pytest.raises(oci.OciError) as e:
            oci.unpack(layout, tmp_path / "rootfs", "oci-layout")
        assert str(e.value) == message
        r = subprocess.run([sys.executable, str(script), "--kind", "oci-layout", str(layout), str(tmp_path / "br")],
                           capture_output=True, text=True)
        assert (r.returncode, r.stderr) == (1, f"oci-unpack: {layout}: {message}\n")
        (tmp_path / "dev.yml").write_text(generated["device"].read_text().replace(
            "docker-archive: image.tar", f"oci-layout: {layout}"))
        code, _, err = run_cli("validate", "dev.yml")
        assert code == 2 and f"containers[1].image.oci-layout: {str(layout)!r}: {message}" in err
    assert not (tmp_path / "rootfs").exists() and not (tmp_path / "br").exists()  # refused before writing
