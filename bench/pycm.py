#!/usr/bin/env python3
"""Figures for the container manager (issue 3 and 20 bars), for every QEMU board's architecture:
pycm's stripped size (bar: <= 100 KB on arm64) and pycm-store's beside it, the manager's memory
(/proc/1/status and smaps_rollup, read by a host container) with 3 containers running, and init
start (switch_root) -> first container started.

    .venv/bin/python bench/pycm.py [--boots N] [--boards qemuarm64,qemuarm,...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

from pycontainers import contract
from pycontainers.debian.build import DebianBuild
from pycontainers.model import PROJECT_ROOT, load_board, load_device
from pycontainers.pipeline import generate
from pycontainers.qemu import Machine

DEVICE = Path(__file__).resolve().parent / "devices" / "three.yml"
MEMORY = (r"bench: pycm VmHWM: (\d+) kB VmRSS: (\d+) kB RssAnon: (\d+) kB RssFile: (\d+) kB\s+Pss: (\d+) kB")


def qemu_boards() -> list[str]:
    return [p.stem for p in sorted((PROJECT_ROOT / "conf" / "boards").glob("*.yml")) if load_board(p).qemu]


def measure(board: str, boots: int, tmp: Path) -> dict:
    device = load_device(DEVICE, board)
    out = tmp / board
    generate(device, out)
    DebianBuild(device, out).run()
    root = out / "work" / "rootfs"
    fig = {"arch": device.board.debian_arch}
    fig.update({name: (root / path.lstrip("/")).stat().st_size for name, path in contract.MANAGER_PROGRAMS.items()})
    runs: dict[str, list[float]] = {k: [] for k in ("hwm", "rss", "anon", "file", "pss", "first")}
    for i in range(boots):
        with Machine(device.board, out / "image" / "disk.img", out / f"run{i}") as m:
            m.start()
            tl = m.wait_boot([c.name for c in device.containers])
            # the host container prints it 3 s after it is ready: perhaps before the others are
            mm = re.search(MEMORY, m.output()) or m.expect(MEMORY, 60)
            for key, group in zip(("hwm", "rss", "anon", "file", "pss"), mm.groups()):
                runs[key].append(int(group))
            t = dict((label, t) for t, label in reversed(tl.events))
            runs["first"].append(t["container hostos started"] - t["initramfs done"])
            m.power_cut()
    fig.update({k: statistics.median(v) for k, v in runs.items()})
    fig["hwm"] = max(runs["hwm"])
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boots", type=int, default=1, help="boots per board (median; default 1)")
    ap.add_argument("--boards", default=",".join(qemu_boards()), help="comma-separated QEMU boards (default all)")
    args = ap.parse_args()
    figs = {}
    with tempfile.TemporaryDirectory(prefix="bench-pycm.") as tmp:
        for board in args.boards.split(","):
            figs[board] = measure(board, args.boots, Path(tmp))
            f = figs[board]
            print(f"  {board}: pycm {f['pycm']} bytes, RSS {f['rss']:.0f} kB", flush=True)
    print(f"\n3 containers running, {args.boots} boot(s) per board (median; peak: the highest VmHWM); sizes stripped, "
          "static against musl (the file pages of the RSS are pycm's own binary)\n")
    print("| board | arch | pycm | pycm-store | pycmctl | pycm VmRSS | VmHWM | anon / file | PSS | switch_root -> first container |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for board, f in figs.items():
        print(f"| {board} | {f['arch']} | {f['pycm'] / 1024:.1f} KB | {f['pycm-store'] / 1024:.1f} KB | "
              f"{f['pycmctl'] / 1024:.1f} KB | {f['rss']:.0f} kB | {f['hwm']:.0f} kB | {f['anon']:.0f} / {f['file']:.0f} kB | "
              f"{f['pss']:.0f} kB | {f['first']:.2f} s |")
    arm64 = [f for f in figs.values() if f["arch"] == "arm64"]
    if arm64:
        print(f"\npycm on arm64: {arm64[0]['pycm'] / 1024:.1f} KB stripped (bar <= 100 KB), "
              f"RSS {arm64[0]['rss']:.0f} kB (bar <= 1024 kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
