"""Build the device's disk image from Debian's binary packages (the fast local/CI backend).

Generates the contract, downloads the board architecture's packages (cached in
~/.cache/pycontainers, or $PYCONTAINERS_CACHE), cross-compiles the manager, assembles the
initramfs, the slot filesystem with the container bundles and the data partition, runs genimage,
and prints a size report. The image lands in OUTPUT/image/disk.img.
"""

from __future__ import annotations

import json

from ..keys import signing_keys
from ..pipeline import build_image
from . import device_args, load

NAME = "build"


def setup(p):
    device_args(p)
    p.add_argument("--release", action="store_true",
                   help="a product build: refuse the development key (update.signing must be set)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (paths, sizes in bytes, timings in seconds)")


def run(args):
    device, output = load(args)
    build = build_image(device, output, signing_keys(device, output, args.release))
    image = (output / "image").resolve()
    if args.json:
        print(json.dumps({
            "device": device.name, "board": device.board.name, "version": device.version,
            "image": str(image / "disk.img"), "slot_image": str(image / device.storage.slots[0].image),
            "packages_lock": str(image / "packages.lock"), "packages": len(set(build.packages)),
            "sizes": build.report.sizes, "timings": {k: round(v, 2) for k, v in build.report.timings.items()},
        }, indent=2))
        return
    build.report.print()
    print(f"built {image / 'disk.img'} ({len(set(build.packages))} Debian packages, locked in "
          f"{image / 'packages.lock'})")
