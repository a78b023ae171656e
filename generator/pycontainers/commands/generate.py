"""Render the on-disk contract and the backends' files for a device into OUTPUT/generated.

Each part (contract, labgrid, yocto, buildroot) is written to a temporary directory and renamed
into place, so a failed run leaves the previous output untouched; rerunning with the same input
gives byte-identical files. --backend renders only the backends asked for (the contract and the
labgrid environment always): a limit of one backend (a package Buildroot cannot map) then never
blocks another.
"""

from __future__ import annotations

from pathlib import Path

from ..pipeline import BACKENDS, LAYER_SOURCES, Options, generate
from . import device_args, load

NAME = "generate"


def setup(p):
    device_args(p)
    p.add_argument("--yocto-series", choices=["scarthgap", "wrynose"],
                   help="Yocto LTS series (default: the device file's yocto.series, else wrynose)")
    # no argparse choices: the branches are those of conf/buildroot-versions.yml, and an unknown
    # one is reported in one line naming them
    p.add_argument("--buildroot-version", metavar="2025.02|2026.02",
                   help="Buildroot LTS branch (default: the device file's buildroot.version, else 2026.02)")
    p.add_argument("--backend", choices=[*BACKENDS, "all"], action="append",
                   help="render only this backend (repeatable; default: all)")
    p.add_argument("--layer-source", choices=LAYER_SOURCES,
                   help="meta-pycontainers in the kas file and bitbake-setup configuration: git = the url "
                        "of conf/yocto-pins.yml at this checkout's HEAD commit, path = this directory "
                        "(default: git in a git checkout, else path)")
    p.add_argument("--image", type=Path, metavar="FILE",
                   help="the disk image the labgrid environment boots (default: OUTPUT/image/disk.img), e.g. "
                        "a Yocto .wic or Buildroot disk.img")


def run(args):
    device, output = load(args)
    backends = BACKENDS if not args.backend or "all" in args.backend else tuple(args.backend)
    dest = generate(device, output, Options(args.yocto_series, args.buildroot_version, backends, args.layer_source,
                                            args.image))
    print(f"generated {dest}")
