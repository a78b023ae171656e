#!/usr/bin/env python3
"""Bridge networking's cost (docs/networking.md): the same web app built twice, with
`network: none` and with `network: bridge` and a published port; prints the slot sizes that
differ (initramfs with the network modules, pycm-net, slot content) and QEMU start -> the app
healthy and the boot marked good (median, min and max of N boots). The two images boot in turn
(none, bridge, none, ...), so a load that comes and goes on the build host falls on both.

    .venv/bin/python bench/network.py [--board qemuarm64] [--boots N] [-o DIR]

DIR defaults to build/bench-network/BOARD.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from pycontainers.debian.build import DebianBuild
from pycontainers.model import load_device
from pycontainers.pipeline import generate
from pycontainers.qemu import Machine

DEVICE = """\
format: 1
name: net-{variant}
board: {board}
version: "1.0.0"
storage: {{boot: 8MiB, env: 1MiB, rootfs: 96MiB, data: 64MiB}}
containers:
  - name: web
    role: app
    image: {{packages: [busybox-static]}}
    command: [/bin/busybox, httpd, -f, -p, "80"]
{extra}"""
VARIANTS = {"none": "", "bridge": "    network: bridge\n    ports: [\"8080:80\"]\n"}
SIZES = ("initramfs", "pycm-net (stripped)", "slot content")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="qemuarm64")
    ap.add_argument("--boots", type=int, default=3)
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args()
    output = args.output or Path("build") / "bench-network" / args.board
    figures: dict[str, dict] = {}
    devices = {}
    for variant, extra in VARIANTS.items():
        out = output / variant
        out.mkdir(parents=True, exist_ok=True)
        path = out / "device.yml"
        path.write_text(DEVICE.format(variant=variant, board=args.board, extra=extra))
        device = load_device(path)
        generate(device, out)
        build = DebianBuild(device, out)
        build.run()
        devices[variant] = (device, out)
        figures[variant] = {"sizes": build.report.sizes, "healthy": [], "good": []}
    for _ in range(args.boots):
        for variant, (device, out) in devices.items():
            with tempfile.TemporaryDirectory(prefix="bench-net.") as tmp, \
                    Machine(device.board, out / "image" / "disk.img", Path(tmp)) as m:
                m.start()
                tl = m.wait_boot(["web"])
                m.power_cut()
                events = {label: t for t, label in tl.events}
                figures[variant]["healthy"].append(events["container web healthy"])
                figures[variant]["good"].append(max(events.values()))
    print(f"bridge networking on {args.board} (boots: median of {args.boots} [min-max])")
    print(f"  {'':<28} {'none':>20} {'bridge':>20} {'added':>12}")
    for key in SIZES:
        a, b = (figures[v]["sizes"].get(key, 0) for v in VARIANTS)
        print(f"  {key:<28} {a:>20,} {b:>20,} {b - a:>+12,} B")
    for key, label in (("healthy", "QEMU start -> web healthy"), ("good", "QEMU start -> boot good")):
        a, b = (statistics.median(figures[v][key]) for v in VARIANTS)
        spread = [f"{statistics.median(figures[v][key]):.2f}s [{min(figures[v][key]):.1f}-{max(figures[v][key]):.1f}]"
                  for v in VARIANTS]
        print(f"  {label:<28} {spread[0]:>20} {spread[1]:>20} {b - a:>+11.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
