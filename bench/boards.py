#!/usr/bin/env python3
"""Per-board figures (issue 7): build time with a warm package cache, image and slot size,
QEMU start -> all containers running, and the A/B update + rollback test time.

    .venv/bin/python bench/boards.py [--ab] [DEVICE]

--ab first runs the per-board A/B test (qemu/test_update.py::test_every_qemu_board_updates_and_rolls_back),
which records its time in build/reports/update.json; without it the last recorded time is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pycontainers.debian.build import DebianBuild, tree_size
from pycontainers.pipeline import generate
from pycontainers.model import PROJECT_ROOT, load_board, load_device
from pycontainers.qemu import Machine

REPORT = PROJECT_ROOT / "build" / "reports" / "update.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("device", nargs="?", default="conf/devices/demo.yml", type=Path)
    ap.add_argument("--ab", action="store_true", help="run the per-board A/B test first")
    args = ap.parse_args()
    if args.ab:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(PROJECT_ROOT / "qemu" / "test_update.py"), "-k", "every_qemu_board"], cwd=PROJECT_ROOT,
                       env=dict(os.environ, PYCONTAINERS_AB_BOARDS="all"))
    ab = json.loads(REPORT.read_text()).get("boards", {}) if REPORT.exists() else {}
    rows = []
    for path in sorted((PROJECT_ROOT / "conf" / "boards").glob("*.yml")):
        if load_board(path).qemu is None:
            continue
        device = load_device(args.device, path.stem)
        out = PROJECT_ROOT / "build" / f"{device.name}-{path.stem}"
        generate(device, out)
        DebianBuild(device, out).run()  # warms the cache for this board
        t = time.monotonic()
        DebianBuild(device, out).run()
        build_s = time.monotonic() - t
        disk = out / "image" / "disk.img"
        slot = tree_size(out / "work" / "rootfs")
        with Machine(device.board, disk, out / "bench-run") as m:
            m.overlay.unlink(missing_ok=True)
            m.start()
            timeline = m.wait_boot([c.name for c in device.containers])
            running = max(t for t, label in timeline.events if label.endswith("started"))
            m.power_cut()
        ab_s = ab.get(path.stem, {}).get("ab_test_s")
        rows.append((path.stem, build_s, disk.stat().st_size / 2**20, slot / 2**20, running, ab_s))
    print("\n| board | warm build | disk image | slot content | QEMU start -> containers running | A/B test |")
    print("|---|---|---|---|---|---|")
    for board, build_s, disk_mib, slot_mib, running, ab_s in rows:
        print(f"| {board} | {build_s:.1f} s | {disk_mib:.0f} MiB | {slot_mib:.1f} MiB | {running:.1f} s | "
              f"{f'{ab_s:.0f} s' if ab_s else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
