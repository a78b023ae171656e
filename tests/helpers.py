"""Helpers shared by the fast tests (kept out of conftest.py: qemu/ has a conftest too)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEVICES = sorted((ROOT / "conf" / "devices").glob("*.yml"))


def with_test_keys(output: Path) -> Path:
    """Put the fixed test key pair where generate looks for the development key."""
    (output / "keys").mkdir(parents=True, exist_ok=True)
    for f in (DATA / "keys").iterdir():
        shutil.copy(f, output / "keys" / f.name)
    return output
