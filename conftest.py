"""Repository-wide pytest rules (tests/ and qemu/ have their own conftest.py).

Under CI=true every tool and package the tests use is installed by scripts/setup, so a test that
skips because something is missing is a broken setup: it is reported as a failure, with the
skip's reason. Tests that skip for a reason unrelated to the machine (a board without a watchdog)
are marked `pytest.mark.skip_ok`.
"""

from __future__ import annotations

import os

import pytest

# the boot-test plugin a product repository gets from the pytest11 entry point; listed here so a
# checkout runs its own copy (loaded once when the entry point names it too)
pytest_plugins = ["pycontainers.pytest_plugin"]


def pytest_configure(config):
    config.addinivalue_line("markers", "skip_ok: a skip of this test is not a missing tool (CI keeps it a skip)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("CI") == "true" and rep.skipped and item.get_closest_marker("skip_ok") is None:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, where scripts/setup installs everything: {reason}"
