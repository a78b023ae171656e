"""The QEMU tests of this repository run on the same pytest plugin a product repository uses
(pycontainers/pytest_plugin.py: --device, --board, --image, the device, machine, booted and update
fixtures, once()/shared for what a session builds once across xdist workers). The root
conftest.py loads it, and pyproject.toml's pycontainers_device makes conf/devices/demo.yml the
default device. What is only this repository's: every test here is marked qemu, and
busybox_static for test images made layer by layer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontainers.debian.build import DebianBuild
from pycontainers.errors import UserError
from pycontainers.model import load_device
from pycontainers.pytest_plugin import missing, once, session_dir  # noqa: F401  (the tests' helpers)

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    for item in items:
        if "qemu" in str(item.fspath.dirpath()):
            item.add_marker(pytest.mark.qemu)


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
