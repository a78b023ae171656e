"""Render the on-disk contract and the backends' files for a device into OUTPUT/generated.

The tree is written to a temporary directory and renamed into place, so a failed run leaves the
previous output untouched; rerunning with the same input gives byte-identical files.
"""

from __future__ import annotations

from ..generate import Options, generate
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


def run(args):
    device, output = load(args)
    dest = generate(device, output, Options(args.yocto_series, args.buildroot_version))
    print(f"generated {dest}")
