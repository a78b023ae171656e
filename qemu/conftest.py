"""pytest plugin for boot tests in QEMU (there is no pytest-qemu on PyPI: this is ours).

Fixtures build a device once per session with the Debian backend (packages cached in
~/.cache/pycontainers) and hand out Machines on copy-on-write overlays of its image. With
pytest-xdist (`make test` runs one worker per core) each image is still built once per session:
the first worker to need it builds it under a file lock into a directory every worker of the
session shares, the others wait and reuse it (`once`). Missing host tools skip the tests with the
reason (a failure under CI=true: scripts/setup installs every one); they never pass silently.
Console logs of failed tests are kept and their path printed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from pycontainers.debian.build import DebianBuild
from pycontainers.errors import UserError
from pycontainers.pipeline import generate
from pycontainers.model import load_device
from pycontainers.qemu import Machine

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--device", default="conf/devices/demo.yml", help="device file booted by the QEMU tests")
    parser.addoption("--board", default=None,
                     help="board the single-board tests (boot, faults, updates) run on; default: the device's own. "
                          "`make test-boards` runs them on every QEMU board")


def pytest_collection_modifyitems(items):
    for item in items:
        if "qemu" in str(item.fspath.dirpath()):
            item.add_marker(pytest.mark.qemu)


@pytest.fixture(scope="session")
def device(request):
    return load_device(ROOT / request.config.getoption("--device"), request.config.getoption("--board"))


def missing(what: str) -> None:
    """A host tool or file the tests need is missing: skip (under CI=true the repository's
    conftest.py reports that skip as a failure: scripts/setup installs everything)."""
    pytest.skip(what)


def session_dir(tmp_path_factory) -> Path:
    """A directory shared by every xdist worker of this session (the session's own base temp
    dir without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(tmp_path_factory, key: str, make: Callable[[Path], None]) -> Path:
    """The directory of `key`, filled by make(dir) once per session whichever worker asks first;
    the others wait on its lock. A failed make leaves no directory: the next caller tries again
    (and fails the same way, with its own message)."""
    shared = session_dir(tmp_path_factory) / "shared"
    shared.mkdir(exist_ok=True)
    name = hashlib.sha256(key.encode()).hexdigest()[:12]
    dest, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            (shared / f"{name}.key").write_text(key + "\n")
            try:
                make(dest)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            done.touch()
    return dest


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """shared(key, make) -> the directory make(dir) filled once per session for `key`, whichever
    xdist worker asked first (for what module fixtures build: bundles, disk states)."""
    return lambda key, make: once(tmp_path_factory, key, make)


@pytest.fixture(scope="session")
def build_for(request, tmp_path_factory):
    """build_for(board=None, device=None, shell=False) -> (Device, OUTPUT dir) of a fresh build
    of a device file (default: --device) on a board (default: its own), with a root shell on the
    console when `shell` (debug.console_shell: the update tests drive the device with it); each
    built once per session."""
    cache: dict = {}

    def build(board: str | None = None, device: str | None = None, shell: bool = False):
        board = board or request.config.getoption("--board")
        path = (ROOT / (device or request.config.getoption("--device"))).resolve()
        key = (board, path, shell)
        if key not in cache:
            dev = load_device(path, board)
            if shell:
                dev = dataclasses.replace(dev, console_shell=True)
            _need_tools(dev)
            out = once(tmp_path_factory, f"build {path} board={board} shell={shell}",
                       lambda dest: _build(dev, dest))
            cache[key] = (dev, out)
        return cache[key]
    return build


@pytest.fixture(scope="session")
def built(build_for) -> Path:
    """OUTPUT dir of a fresh build of the device on its own board."""
    return build_for(None)[1]


def _need_tools(device) -> None:
    q = device.board.qemu or {}
    for tool in (q.get("binary"), "qemu-img", "genimage", "mkimage", "mkenvimage", "rauc",
                 f"{device.board.cross_compiler}-gcc"):
        if tool and not shutil.which(tool):
            missing(f"{tool} is not installed (make setup installs it)")
    if not Path(device.board.uboot_binary).is_file():
        missing(f"{device.board.uboot_binary} missing (apt-get install u-boot-qemu)")


def _build(device, out: Path) -> None:
    try:
        generate(device, out)
        DebianBuild(device, out).run()
    except UserError as e:
        if "mirror" in str(e):
            missing(f"the Debian mirror is not reachable: {e}")
        raise


@pytest.fixture(scope="session")
def busybox_static(request, tmp_path_factory):
    """busybox_static(board=None) -> bytes of Debian's static busybox for a board (default: the
    --board or demo.yml's), for test images made layer by layer."""
    cache: dict = {}

    def get(board: str | None = None) -> bytes:
        board = board or request.config.getoption("--board")
        if board not in cache:
            demo = load_device(ROOT / "conf" / "devices" / "demo.yml", board)
            deb = DebianBuild(demo, tmp_path_factory.mktemp("busybox"))
            try:
                deb.repo.update()
                (pkg,) = deb.unpacked(["busybox-static"], alone=True)
            except UserError as e:
                if "mirror" in str(e):
                    missing(f"the Debian mirror is not reachable: {e}")
                raise
            cache[board] = next(p for p in (pkg / "bin" / "busybox", pkg / "usr" / "bin" / "busybox")
                                if p.is_file()).read_bytes()
        return cache[board]
    return get


@pytest.fixture
def machine(device, built, tmp_path, request):
    m = Machine(device.board, built / "image" / "disk.img", tmp_path / "run")
    yield m
    m.kill()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        kept = ROOT / "build" / "test-logs" / request.node.name
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(m.console_log, kept / "console.log")
        print(f"\nconsole log kept: {kept / 'console.log'}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
