#!/usr/bin/env python3
"""Figures for the foundation: generate time, build time with a warm package cache, and
QEMU start -> all containers running, with the breakdown of the boot.

    .venv/bin/python bench/boot.py [DEVICE] [--boots N] [-o DIR]

Prints medians over N boots (default 3) and the spread. Run on a quiet host: the other core's
load slows TCG down about 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pycontainers.debian.build import DebianBuild
from pycontainers.pipeline import generate
from pycontainers.model import load_device
from pycontainers.qemu import Machine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("device", nargs="?", default="conf/devices/demo.yml", type=Path)
    ap.add_argument("--boots", type=int, default=3)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    device = load_device(args.device)
    output = args.output or Path("build") / device.name

    t = time.monotonic()
    generate(device, output)
    t_gen = time.monotonic() - t

    DebianBuild(device, output).run()  # warms the package cache
    build = DebianBuild(device, output)
    t = time.monotonic()
    build.run()
    t_build = time.monotonic() - t

    names = [c.name for c in device.containers]
    runs: list[dict[str, float]] = []
    for i in range(args.boots):
        with tempfile.TemporaryDirectory(prefix="bench-boot.") as tmp, \
                Machine(device.board, output / "image" / "disk.img", Path(tmp)) as m:
            m.start()
            tl = m.wait_boot(names)
            m.power_cut()
            runs.append({label: t for t, label in tl.events})
    print(f"device {device.name} on {device.board.name}")
    print(f"generate:                     {t_gen:6.2f} s")
    print(f"build (warm package cache):   {t_build:6.2f} s   "
          + ", ".join(f"{k} {v:.1f}s" for k, v in build.report.timings.items() if k != "total"))
    print(f"boot, QEMU start -> marker (median of {len(runs)}, min-max):")
    for label in runs[0]:
        vals = [r[label] for r in runs if label in r]
        print(f"  {label:<36} {statistics.median(vals):6.2f} s  ({min(vals):.2f}-{max(vals):.2f})")
    last = [max(r.values()) for r in runs]
    running = [max(t for l, t in r.items() if l.startswith("container") and l.endswith("healthy")) for r in runs]
    print(f"all containers running:       {statistics.median(running):6.2f} s (median)")
    print(f"boot marked good:             {statistics.median(last):6.2f} s (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
