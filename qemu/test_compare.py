"""Smoke run of bench/compare.py (pycm + crun vs Docker vs Podman in the same QEMU guest): one
measured boot per stack and a short idle window, so that the benchmark cannot rot. The figures
themselves are the benchmark's business (docs/performance.md), not a test's: this checks that
every stack boots its two containers, that every figure was measured, and that the report is
complete.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import compare  # noqa: E402

pytestmark = pytest.mark.slow


def test_compare_smoke(tmp_path, capsys):
    out = tmp_path / "compare"
    rc = compare.main([str(ROOT / "conf/devices/demo.yml"), "--boots", "1", "--idle", "5", "-o", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    report = json.loads((out / "report" / "compare.json").read_text())
    names = {"hostos", "counter"}
    for stack in compare.STACKS:
        (run,) = report["runs"][stack]
        assert set(run["running"]) == names, f"{stack}: {run}"
        assert run["init"] < run["first"] <= run["all"] and run["qemu_to_all"] > 0, f"{stack}: {run}"
        assert run["restart"] > 0 and run["mem"] > 0 and run["rss"] > 0 and run["idle_cpu"] >= 0, f"{stack}: {run}"
        figs = report["summary"]["stacks"][stack]
        assert set(figs) == {key for key, *_ in compare.FIGURES}
        assert report["sizes"][stack]["stack"] > 0 and report["sizes"][stack]["squashfs"] > 0
    # each stack's own processes were found: the manager and crun; the daemons; conmon
    each = {stack: {p.split(":")[0] for p in report["runs"][stack][0]["rss_each"]} for stack in compare.STACKS}
    assert "pycm" in each["pycm"]
    assert {"dockerd", "containerd"} <= each["docker"]
    assert "conmon" in each["podman"]
    table = (out / "report" / "compare.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "figure" not in line]
    assert len(rows) == len(compare.FIGURES) and all(row.count("|") == 7 for row in rows), table
    assert (out / "report" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table in printed.out
