"""Build a signed RAUC update bundle (verity format) of the device's slot at a given version.

The slot is rebuilt with VERSION in /etc/pycontainers/release and the bundle manifest, and
signed with the device's key (update.signing, else the development key of OUTPUT/keys that the
device's images trust). A slot that does not fit storage.rootfs is refused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..pipeline import build_slot_bundle
from . import device_args, load

NAME = "bundle"


def setup(p):
    device_args(p)
    p.add_argument("--version", required=True, help="version of the update (shown by rauc info and on the device)")
    p.add_argument("-b", "--bundle", type=Path, metavar="FILE",
                   help="bundle file to write (default: OUTPUT/bundles/NAME-VERSION.raucb)")
    p.add_argument("--release", action="store_true",
                   help="a product build: refuse the development key (update.signing must be set)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def run(args):
    device, output = load(args)
    bundle = args.bundle or output / "bundles" / f"{device.name}-{args.version}.raucb"
    t = time.monotonic()
    build_slot_bundle(device, output, args.version, bundle, args.release)
    if args.json:
        print(json.dumps({"device": device.name, "board": device.board.name, "version": args.version,
                          "bundle": str(bundle.resolve()), "bytes": bundle.stat().st_size,
                          "seconds": round(time.monotonic() - t, 2)}, indent=2))
        return
    print(f"bundle {bundle} ({bundle.stat().st_size / 2**20:.1f} MiB, version {args.version})")
