#!/usr/bin/env python3
"""Figures for A/B system updates (issue 4): bundle size, install time (from a disk and over
HTTP), reboot to ready in the new slot, rollbacks observed/expected, power-cut trials passed/total.

It runs the update tests in QEMU (qemu/test_update.py: they record what they measure in
build/reports/update.json) and prints the figures.

    .venv/bin/python bench/update.py [--trials N] [--seed S] [--last]

--last prints the figures the last run of the tests recorded (e.g. by `make test`) without running them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "reports" / "update.json"
EXPECTED_ROLLBACKS = ("panic", "no-init", "crashloop", "hang")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20, help="power-cut trials (default 20)")
    ap.add_argument("--seed", type=int, default=683, help="seed of the power-cut moments")
    ap.add_argument("--last", action="store_true", help="print the last recorded figures, run nothing")
    args = ap.parse_args()
    returncode = 0
    if not args.last:
        REPORT.unlink(missing_ok=True)
        env = dict(os.environ, PYCONTAINERS_POWERCUT_TRIALS=str(args.trials),
                   PYCONTAINERS_POWERCUT_SEED=str(args.seed))
        returncode = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "qemu" / "test_update.py"), "-q",
                                     "-p", "no:cacheprovider"], cwd=ROOT, env=env).returncode
    if not REPORT.exists():
        print("no figures recorded (the update tests did not run)", file=sys.stderr)
        return 1
    fig = json.loads(REPORT.read_text())
    rollbacks = fig.get("rollbacks", {})
    cuts = fig.get("power_cuts", {})
    print("\nA/B update figures (qemuarm64, TCG):")
    print(f"  bundle size                 {fig.get('bundle_size_mib', '-')} MiB")
    print(f"  install from disk           {fig.get('install_s', '-')} s")
    print(f"  install over HTTP           {fig.get('install_http_s', '-')} s (download, then install)")
    print(f"  reboot -> ready in slot B   {fig.get('reboot_to_ready_s', '-')} s")
    print(f"  rollbacks observed/expected {len(rollbacks)}/{len(EXPECTED_ROLLBACKS)} ({', '.join(sorted(rollbacks)) or 'none'})")
    print(f"  power-cut trials passed     {cuts.get('passed', 0)}/{cuts.get('total', 0)} (seed {cuts.get('seed', '-')})")
    for t in cuts.get("trials", []):
        print(f"    cut {t['trial']:2d} at {t['delay_s']:5.2f} s ({t['phase']}): booted {t['booted']}, "
              f"data {'intact' if t['ok'] else 'LOST'}")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
