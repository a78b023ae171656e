"""pycontainers installed as a user installs it: into a fresh venv, without the test extras.

Every runtime dependency must be declared as one (a `boot` that needed the test-only pexpect
ended in a traceback): each command's --help runs, and `boot --check` boots a built image.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pycontainers.cli import parser

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    sub = next(a for a in parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_installed_without_extras_every_command_runs(build_for, tmp_path):
    device, built = build_for()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-e", str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    tool = venv / "bin" / "pycontainers"
    for command in ["", *_commands()]:
        r = subprocess.run([str(tool), *([command] if command else []), "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: pycontainers" in r.stdout and not r.stderr, (command, r.stderr)
    # `boot --check` of a built image (the session's build; its run/ directory stays ours)
    out = tmp_path / "out"
    out.mkdir()
    (out / "image").symlink_to(built / "image")
    r = subprocess.run([str(tool), "boot", str(device.source), "-o", str(out), "--check"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert f"boot check of {device.name} on {device.board.name}: all {len(device.containers)} containers healthy" \
        in r.stdout
