"""Print the requirements table: what every slot must provide and how each backend provides it.

Every file (path, mode, origin), host program and the build features it needs, busybox applet
(from the contract's /init, the host's callers and, with DEVICE, its busybox containers) and
kernel option; each with the Debian, Yocto and Buildroot provision (docs/contract.md,
"Requirements"). --json is what the real-tool parity checks read (scripts/realcheck/).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..contract import init_script
from ..model import load_device
from ..requirements import BACKENDS, provision, table, table_json, unmapped

NAME = "requirements"


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("device", type=Path, nargs="?", metavar="DEVICE",
                   help="device description (YAML): adds its containers' applets and files")
    p.add_argument("--board", metavar="BOARD", help="use this board instead of the device file's")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
    device = load_device(args.device, args.board) if args.device else None
    init = init_script(device) if device else None
    if args.json:
        print(json.dumps(table_json(device, init), indent=2))
        return 0
    reqs = table(device, init)
    for r in reqs:
        print(f"{r.id}  [{r.need}]  {r.why}")
        for b in BACKENDS:
            p = provision(b, r)
            print(f"    {b:<9} " + ("UNMAPPED" if p is None else f"LIMIT: {p.limit}" if p.limit else p.how))
    problems = unmapped(reqs)
    for line in problems:
        print(f"error: {line}")
    return 2 if problems else 0
