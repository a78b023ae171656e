"""pytest plugin for boot tests in QEMU (there is no pytest-qemu on PyPI: this is ours).

Registered through the `pytest11` entry point, so a product repository that has pycontainers
installed runs

    pytest --device device.yml [--board B] [--image FILE] [--bundle FILE] [--app-bundle FILE]

(or sets `pycontainers_device = device.yml` under [pytest] in its ini file). Fixtures:

    device          the device model (pycontainers.model.Device) of --device, on --board
    image           the disk image booted: --image (checked against the contract first,
                    imagecheck.py) or a fresh Debian build of the device, made once per session
    machine         a DeviceMachine on a copy-on-write overlay of the image, not started: start(),
                    expect(), boot(), run(), power_cut(), reset(), reboot(), boot_env()
    booted          the same machine booted: every container healthy, the boot marked good
    boot_timeline   the booted machine's timeline (seconds since QEMU start of each marker)
    system_update   system_update(bundle=--bundle) -> UpdateResult: a machine with the bundle on an
                    update disk, booted, `rauc install`, rebooted into the other slot
    app_update      app_update(bundle=--app-bundle) -> app revision: `pycmctl app-update`, no reboot

The update fixtures type on the console: the device needs `debug: {console_shell: true}`.
With pytest-xdist each image is built once per session: the first worker to need it builds it
under a file lock into a directory every worker of the session shares (`once`). Missing host
tools skip the tests with the reason. Console logs of failed tests are kept under
build/test-logs/ and their path printed.
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


def pytest_addoption(parser):
    g = parser.getgroup("pycontainers", "boot tests of a pycontainers device in QEMU")
    g.addoption("--device", default=None, metavar="FILE",
                help="device file booted by the boot tests (default: the ini option pycontainers_device)")
    g.addoption("--board", default=None, metavar="BOARD",
                help="board to boot the device on (default: the device file's own)")
    g.addoption("--image", default=None, metavar="FILE",
                help="boot this disk image (a Yocto .wic, a Buildroot disk.img) instead of building one "
                     "from Debian packages; checked against the device's contract before QEMU starts")
    g.addoption("--bundle", default=None, metavar="FILE", help="system update bundle for the system_update fixture")
    g.addoption("--app-bundle", default=None, metavar="FILE", help="app bundle for the app_update fixture")
    parser.addini("pycontainers_device", "device file when --device is not given (relative to the rootdir)")


def pytest_configure(config):
    config.addinivalue_line("markers", "qemu: boots an image in QEMU")


# ------------------------------------------------------------------ sessions shared by xdist workers

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


def missing(what: str) -> None:
    """A host tool or file the tests need is missing: skip with the reason."""
    pytest.skip(what)


def need_tools(device) -> None:
    q = device.board.qemu or {}
    if not q:
        missing(f"board {device.board.name} is real hardware (no qemu section): boot it with labgrid")
    for tool in (q.get("binary"), "qemu-img", "mke2fs", "debugfs", "mdir"):
        if tool and not shutil.which(tool):
            missing(f"{tool} is not installed (scripts/setup, or apt-get install qemu-system qemu-utils "
                    "e2fsprogs mtools)")
    if not Path(device.board.uboot_binary).is_file():
        missing(f"{device.board.uboot_binary} missing (apt-get install u-boot-qemu)")


def need_build_tools(device) -> None:
    for tool in ("genimage", "mkimage", "mkenvimage", "rauc", f"{device.board.cross_compiler}-gcc"):
        if not shutil.which(tool):
            missing(f"{tool} is not installed (scripts/setup installs it)")


def _build(device, out: Path) -> None:
    from .errors import UserError
    from .pipeline import build_image

    try:
        build_image(device, out)
    except UserError as e:
        if "mirror" in str(e):
            missing(f"the Debian mirror is not reachable: {e}")
        raise


# ------------------------------------------------------------------ fixtures

def _device_path(config, device: str | None = None) -> Path:
    if device:
        return (config.rootpath / device).resolve()
    opt = config.getoption("--device")
    if opt:
        return (config.invocation_params.dir / opt).resolve()
    ini = config.getini("pycontainers_device")
    if ini:
        return (config.rootpath / ini).resolve()
    raise pytest.UsageError("the pycontainers boot tests need a device file: --device FILE (or "
                            f"pycontainers_device in the ini file; none was found from {config.rootpath}: "
                            "pytest looks for it from the paths on its command line, so give an image "
                            "elsewhere as --image=FILE, with '=')")


@pytest.fixture(scope="session")
def device_file(request) -> Path:
    """The device file of --device (or the ini option pycontainers_device)."""
    return _device_path(request.config)


@pytest.fixture(scope="session")
def device(request, device_file):
    """The device model of --device on --board."""
    from .errors import UserError
    from .model import load_device

    try:
        return load_device(device_file, request.config.getoption("--board"))
    except UserError as e:
        raise pytest.UsageError(str(e)) from None


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """shared(key, make) -> the directory make(dir) filled once per session for `key`, whichever
    xdist worker asked first (for what module fixtures build: bundles, disk states)."""
    return lambda key, make: once(tmp_path_factory, key, make)


@pytest.fixture(scope="session")
def build_for(request, tmp_path_factory):
    """build_for(board=None, device=None, shell=False) -> (Device, OUTPUT dir) of a fresh build
    of a device file (default: --device) on a board (default: --board, else its own), with a
    root shell on the console when `shell`; each built once per session."""
    from .model import load_device

    cache: dict = {}

    def build(board: str | None = None, device: str | None = None, shell: bool = False):
        board = board or request.config.getoption("--board")
        path = _device_path(request.config, device)
        key = (board, path, shell)
        if key not in cache:
            dev = load_device(path, board)
            if shell:
                dev = dataclasses.replace(dev, console_shell=True)
            need_tools(dev)
            need_build_tools(dev)
            out = once(tmp_path_factory, f"build {path} board={board} shell={shell}",
                       lambda dest: _build(dev, dest))
            cache[key] = (dev, out)
        return cache[key]
    return build


@pytest.fixture(scope="session")
def built(build_for) -> Path:
    """OUTPUT dir of a fresh build of the device on its board."""
    return build_for(None)[1]


@pytest.fixture(scope="session")
def image(request, device) -> Path:
    """The disk image the machine fixtures boot: --image, checked against the device's contract
    (a wrong one fails every test at once with what is wrong), else the device's fresh build."""
    given = request.config.getoption("--image")
    if not given:
        return request.getfixturevalue("built") / "image" / "disk.img"
    from .errors import UserError
    from .imagecheck import check_image

    path = (request.config.invocation_params.dir / given).resolve()
    need_tools(device)
    try:
        check_image(device, path)
    except UserError as e:
        pytest.fail(f"--image: {e}", pytrace=False)
    return path


def _update_disks(request, tmp_path) -> tuple[Path, ...]:
    from .bootcheck import update_disk

    bundles = {name: Path(request.config.invocation_params.dir / p).resolve()
               for name, p in (("update", request.config.getoption("--bundle")),
                               ("app", request.config.getoption("--app-bundle"))) if p}
    return (update_disk(tmp_path, **bundles),) if bundles else ()


@pytest.fixture
def machine(request, device, image, tmp_path):
    """A DeviceMachine of the image (not started); --bundle/--app-bundle on an update disk."""
    from .bootcheck import DeviceMachine

    need_tools(device)
    m = DeviceMachine(device, image, tmp_path / "run", extra_disks=_update_disks(request, tmp_path))
    yield m
    m.kill()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        kept = request.config.rootpath / "build" / "test-logs" / request.node.name
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(m.console_log, kept / "console.log")
        print(f"\nconsole log kept: {kept / 'console.log'}")


@pytest.fixture
def booted(machine):
    """The machine, booted: every container healthy and the boot marked good."""
    machine.boot()
    return machine


@pytest.fixture
def boot_timeline(booted):
    """The booted machine's timeline (qemu.Timeline: events, first(label), format())."""
    return booted.timeline


@pytest.fixture
def system_update(request, booted):
    """system_update(bundle=None) -> bootcheck.UpdateResult: `rauc install` of --bundle (or the
    given file, on a new update disk) on the booted machine, reboot, the other slot booted good."""
    def update(bundle: Path | None = None, timeout: float = 180):
        if bundle is not None:
            return _fresh(request, booted, update=Path(bundle)).system_update("update", timeout)
        if not request.config.getoption("--bundle"):
            pytest.fail("system_update needs a bundle: --bundle FILE or system_update(FILE)", pytrace=False)
        return booted.system_update("update", timeout)
    return update


@pytest.fixture
def app_update(request, booted):
    """app_update(bundle=None) -> the app revision running after `pycmctl app-update` of
    --app-bundle (or the given file) on the booted machine."""
    def update(bundle: Path | None = None, timeout: float = 180):
        if bundle is not None:
            return _fresh(request, booted, app=Path(bundle)).app_update("app", timeout)
        if not request.config.getoption("--app-bundle"):
            pytest.fail("app_update needs an app bundle: --app-bundle FILE or app_update(FILE)", pytrace=False)
        return booted.app_update("app", timeout)
    return update


def _fresh(request, m, **bundles: Path):
    """The booted machine powered off, restarted with an update disk of these bundles and booted."""
    from .bootcheck import update_disk

    m.power_cut()
    m.extra_disks = (update_disk(m.workdir, **bundles),)
    m.boot()
    return m


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
