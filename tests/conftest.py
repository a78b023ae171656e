"""Fast tests call the CLI in-process, in a temp dir, with a scrubbed environment (as kas does)."""

from __future__ import annotations

import os

import pytest

from pycm_host import build_pycm
from pycontainers import cli


@pytest.fixture(autouse=True)
def scrubbed_env(monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith("PYCONTAINERS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli(capsys):
    """run_cli(*args) -> (exit code, stdout, stderr)."""
    def run(*args):
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(scope="session")
def pycm(tmp_path_factory):
    """The host ASan/UBSan build of pycm (pycmctl beside it), built once."""
    binary = build_pycm(tmp_path_factory.mktemp("pycm-build"))
    if binary is None:
        pytest.skip("no C compiler on this host")
    return binary
