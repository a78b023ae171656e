#!/usr/bin/env python3
"""Figures for the container manager (issue 3 bars): stripped size on arm64, the manager's
memory with 3 containers running, and init start (switch_root) -> first container started.

    .venv/bin/python bench/pycm.py [--boots N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pycontainers.debian.build import DebianBuild
from pycontainers.pipeline import generate
from pycontainers.model import PROJECT_ROOT, load_device
from pycontainers.qemu import Machine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boots", type=int, default=3)
    args = ap.parse_args()
    device = load_device(PROJECT_ROOT / "bench" / "devices" / "three.yml")
    with tempfile.TemporaryDirectory(prefix="bench-pycm.") as tmp:
        out = Path(tmp)
        generate(device, out)
        DebianBuild(device, out).run()
        sizes = {b: (out / "work" / "rootfs" / p.lstrip("/")).stat().st_size
                 for b, p in (("pycm", "/sbin/pycm"), ("pycmctl", "/usr/bin/pycmctl"))}
        rss, hwm, first, anon, files, pss = [], [], [], [], [], []
        for i in range(args.boots):
            with Machine(device.board, out / "image" / "disk.img", out / f"run{i}") as m:
                m.start()
                tl = m.wait_boot([c.name for c in device.containers])
                mm = m.expect(r"bench: pycm VmHWM: (\d+) kB VmRSS: (\d+) kB RssAnon: (\d+) kB RssFile: (\d+) kB\s+Pss: (\d+) kB", 30)
                hwm.append(int(mm.group(1)))
                rss.append(int(mm.group(2)))
                anon.append(int(mm.group(3)))
                files.append(int(mm.group(4)))
                pss.append(int(mm.group(5)))
                t = dict((label, t) for t, label in reversed(tl.events))
                first.append(t["container hostos started"] - t["initramfs done"])
                m.power_cut()
    print(f"pycm stripped (arm64):           {sizes['pycm'] / 1024:7.1f} KB   (bar <= 100 KB)")
    print(f"pycmctl stripped (arm64):        {sizes['pycmctl'] / 1024:7.1f} KB")
    print(f"pycm RSS, 3 containers running:  {statistics.median(rss):7.0f} KB   (peak {max(hwm)} KB; bar <= 1024 KB)")
    print(f"  of which anonymous / file:    {statistics.median(anon):7.0f} KB / {statistics.median(files):.0f} KB "
          "(pycm is static against musl: the file pages are its own binary)")
    print(f"pycm PSS (shared pages split):   {statistics.median(pss):7.0f} KB")
    print(f"switch_root -> first container:  {statistics.median(first):7.2f} s    "
          f"(min {min(first):.2f}, max {max(first):.2f}, {len(first)} boots; bar <= 0.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
