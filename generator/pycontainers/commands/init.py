"""Scaffold a product repository in DIR for a device on BOARD.

Writes a commented device file, pytest.ini and tests/test_device.py (boot tests on pycontainers'
pytest plugin), kas.yml (includes the kas file `generate` writes and pins meta-pycontainers to
this release), site.conf and site.yml (a build farm's shared download premirror, SSTATE_MIRRORS
and BB_HASHSERVE: --downloads-mirror, --sstate-mirror, --hashserve), .gitignore, and CI for
GitHub Actions (.github/workflows/boot-tests.yml) and GitLab (.gitlab-ci.yml) that build the image
and run the boot tests on every push. DIR must not exist or be empty; nothing is written unless
everything is.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..model import BOARDS_DIR, available_boards, load_board
from ..render import publish, render
from ..yocto.pins import load_pins

NAME = "init"

URL = re.compile(r"(https?|ftp|file)://[^\s\"'\\]+")
HASHSERVE = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}|unix://[^\s\"'\\]+|wss?://[^\s\"'\\]+")


def setup(p):
    p.add_argument("dir", type=Path, metavar="DIR", help="the new repository (must not exist, or be empty)")
    p.add_argument("--board", required=True, metavar="BOARD", help=f"the device's board ({', '.join(available_boards())})")
    p.add_argument("--name", help="device name (default: DIR's name, lower-cased)")
    p.add_argument("--downloads-mirror", metavar="URL", help="site.conf: SOURCE_MIRROR_URL, a shared download premirror")
    p.add_argument("--sstate-mirror", metavar="URL", help="site.conf: SSTATE_MIRRORS, a shared sstate cache")
    p.add_argument("--hashserve", metavar="HOST:PORT", help="site.conf: BB_HASHSERVE, a hash equivalence server")
    p.add_argument("--pip", metavar="SPEC", default=f"pycontainers=={__version__}",
                   help="what CI installs pycontainers from (default: %(default)s; a wheel URL works)")


def apt_packages(board) -> list[str]:
    """The Debian packages a CI job installs to build and boot a device on `board`."""
    q = board.qemu or {}
    binary = q.get("binary", "")
    qemu = {"qemu-system-aarch64": "qemu-system-arm", "qemu-system-arm": "qemu-system-arm",
            "qemu-system-x86_64": "qemu-system-x86", "qemu-system-riscv64": "qemu-system-misc"}.get(binary)
    cross = ["gcc", "libc6-dev"] if board.debian_arch == "amd64" else \
        [f"gcc-{board.cross_compiler}", f"libc6-dev-{board.debian_arch}-cross", f"binutils-{board.cross_compiler}"]
    return ["python3", "python3-venv", "ca-certificates", "openssl", "make", *([qemu] if qemu else []),
            "qemu-utils", "u-boot-qemu", "u-boot-tools", *(["opensbi"] if q.get("firmware") == "opensbi" else []),
            "genimage", "mtools", "dosfstools", "e2fsprogs", "cpio", "kmod", "fdisk", "rauc", "squashfs-tools",
            "fakeroot", *cross]


def _check(value: str | None, rx: re.Pattern, option: str, allowed: str) -> None:
    if value is not None and not rx.fullmatch(value):
        raise UserError(f"{option} {value!r}: {allowed}")


def run(args):
    dest: Path = args.dir
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} exists and is not an empty directory: init writes a new repository")
    name = args.name or re.sub(r"[^a-z0-9-]+", "-", dest.resolve().name.lower()).strip("-")[:32]
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", name):
        raise UserError(f"device name {name!r}: use lower-case letters, digits and '-', at most 32 characters (--name)")
    if args.board not in available_boards():
        raise UserError(f"--board {args.board}: no such board; known: {', '.join(available_boards())}")
    _check(args.downloads_mirror, URL, "--downloads-mirror", "an http(s)://, ftp:// or file:// URL without quotes")
    _check(args.sstate_mirror, URL, "--sstate-mirror", "an http(s)://, ftp:// or file:// URL without quotes")
    _check(args.hashserve, HASHSERVE, "--hashserve", "HOST:PORT, unix://PATH or ws(s)://HOST:PORT")
    if re.search(r"[\s\"'\\]", args.pip):
        raise UserError(f"--pip {args.pip!r}: one pip requirement or URL, without spaces or quotes")
    board = load_board(BOARDS_DIR / f"{args.board}.yml")
    ctx = dict(name=name, board=args.board, version=__version__, project=load_pins().project_source(),
               downloads=args.downloads_mirror, sstate=(args.sstate_mirror or "").rstrip("/") or None,
               hashserve=args.hashserve, apt=apt_packages(board), pip=args.pip)
    site = render("init/site.conf.j2", **ctx)
    files = [("device.yml", "init/device.yml.j2"), ("pytest.ini", "init/pytest.ini.j2"),
             ("tests/test_device.py", "init/test_device.py.j2"), ("kas.yml", "init/kas.yml.j2"),
             ("site.yml", "init/site.yml.j2"), (".gitignore", "init/gitignore.j2"),
             (".github/workflows/boot-tests.yml", "init/github-workflow.yml.j2"),
             (".gitlab-ci.yml", "init/gitlab-ci.yml.j2")]
    with publish(dest) as tree:
        for rel, template in files:
            tree.render(rel, template, site=site.rstrip("\n"), **ctx)
        tree.write("site.conf", site)
    print(f"wrote {dest}: {', '.join(sorted([*(f for f, _ in files), 'site.conf']))}")
    print(f"next: cd {dest} && git init && pycontainers validate device.yml && pytest")
