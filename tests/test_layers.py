"""The generator is one way through (pyproject.toml [tool.importlinter]): commands -> pipeline ->
backends -> contract -> model -> primitives, backends never import one another, subcommands
never import each other. import-linter reads the import graph, imports inside functions
included, so a cycle cannot be hidden."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def test_import_layers_are_kept():
    tool = Path(sys.executable).with_name("lint-imports")
    assert tool.exists() or shutil.which("lint-imports"), "import-linter is a test dependency (pip install -e .[test])"
    r = subprocess.run([str(tool if tool.exists() else "lint-imports"), "--config", str(ROOT / "pyproject.toml")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
