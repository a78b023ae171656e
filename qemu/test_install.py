"""pycontainers installed as a user installs it: a wheel, into a fresh venv outside the repository,
without the test extras.

Every runtime dependency must be declared as one (a `boot` that needed the test-only pexpect
ended in a traceback), and everything the commands read (templates, schemas, boards, the
manager's sources, meta-pycontainers) must be package data: each command's --help runs, then
validate, generate, build and `boot --check` of a device file in a temp directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pycontainers.cli import parser

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    sub = next(a for a in parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def _wheel(shared) -> Path:
    def make(dest: Path) -> None:
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                            "-w", str(dest), str(ROOT)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = shared("pycontainers wheel", make).glob("pycontainers-*.whl")
    return wheel


def test_the_wheel_installed_without_extras_builds_and_boots_a_device(shared, tmp_path):
    wheel = _wheel(shared)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # without PYTHONPATH: a checkout's generator/ on it (its egg-info) makes pip think it is installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    tool = venv / "bin" / "pycontainers"
    work = tmp_path / "product"  # no checkout anywhere near: the package's own data only
    work.mkdir()
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import pycontainers, sys; print(pycontainers.__file__)"],
                       capture_output=True, text=True, cwd=work, env=env)
    assert str(venv) in r.stdout, r.stdout  # the installed copy, not this checkout's
    for command in ["", *_commands()]:
        r = subprocess.run([str(tool), *([command] if command else []), "--help"], capture_output=True, text=True,
                           cwd=work, env=env)
        assert r.returncode == 0 and "usage: pycontainers" in r.stdout and not r.stderr, (command, r.stderr)
    r = subprocess.run([str(tool), "--version"], capture_output=True, text=True, cwd=work, env=env)
    assert r.returncode == 0 and r.stdout.startswith("pycontainers "), r
    shutil.copy(ROOT / "conf" / "devices" / "demo.yml", work / "device.yml")
    results = {}
    for args in (["validate", "device.yml"], ["generate", "device.yml", "-o", "out"],
                 ["build", "device.yml", "-o", "out", "--json"], ["boot", "device.yml", "-o", "out", "--check"]):
        r = subprocess.run([str(tool), *args], capture_output=True, text=True, cwd=work, env=env, timeout=900)
        assert r.returncode == 0, (args, (r.stdout + r.stderr)[-3000:])
        results[args[0]] = r
    assert "all 2 containers healthy, boot marked good" in r.stdout
    # build --json: the result on stdout; the progress of its long steps as plain lines on
    # stderr (not a terminal: a CI log)
    built = json.loads(results["build"].stdout)
    assert built["image"] == str(work / "out" / "image" / "disk.img") and built["sizes"]["disk image"] > 0
    assert built["timings"]["total"] > 0
    progress = results["build"].stderr
    for step in ("[pycontainers] kernel ", "[pycontainers] container hostos: unpacking", "[pycontainers] disk image ("):
        assert step in progress, progress
    assert (work / "out" / "generated" / "yocto").is_dir() and (work / "out" / "generated" / "buildroot").is_dir()
