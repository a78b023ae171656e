"""Build a signed app update: the device's containers as a new revision, without a new slot.

The containers of DEVICE are assembled (Debian backend) and listed file by file, each file named
by the SHA-256 of its content; the bundle carries only the files a device running the revision
--from lacks (give the apps.revision of the image's build directory for a factory device, or the
FILE.revision written beside the previous app bundle; without --from: every file). It is a RAUC
bundle with the compatible "<compatible>-apps" (rauc install refuses it), signed with the key the
device's images trust. On the device: pycmctl app-update FILE (docs/app-updates.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..pipeline import build_app_bundle
from . import load

NAME = "app-bundle"


def setup(p):
    p.add_argument("device", type=Path, metavar="DEVICE", help="device description (YAML) of the new revision")
    p.add_argument("--board", metavar="BOARD", help="use this board instead of the device file's")
    p.add_argument("--from", dest="old", type=Path, metavar="OLD",
                   help="revision file of what the device runs (BUILD/image/apps.revision, or a previous FILE.revision)")
    p.add_argument("-o", "--bundle", type=Path, metavar="FILE", required=True, help="app bundle to write")
    p.add_argument("--build-dir", type=Path, metavar="DIR",
                   help="the device's build directory: its development keys and work files (default: build/<device>)")
    p.add_argument("--release", action="store_true",
                   help="a product build: refuse the development key (update.signing must be set)")


def run(args):
    args.output = args.build_dir
    device, output = load(args)
    figures = build_app_bundle(device, output, args.old, args.bundle, args.release)
    print(f"app bundle {args.bundle} ({figures['bundle_bytes']} bytes, revision {figures['revision']}): "
          f"{figures['blobs_shipped']} of {figures['files']} files shipped "
          f"({figures['blob_bytes_shipped']} of {figures['file_bytes']} bytes)")
    print(json.dumps(figures))
