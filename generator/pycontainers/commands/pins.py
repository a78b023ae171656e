"""Show or refresh the upstream Yocto layer commits in conf/yocto-pins.yml.

    pycontainers pins                      the pinned commits per series
    pycontainers pins update --from DIR    take the commits of the series branches from local
                                           git clones DIR/<source> (e.g. DIR/openembedded-core),
                                           remote-tracking branch first (origin/scarthgap), and
                                           write them with today's date; sources without a
                                           clone keep their pin

Review the change of conf/yocto-pins.yml like code; regenerate the golden trees afterwards
(make golden), since every generated kas file and bitbake-setup configuration carries the pins.
"""

from __future__ import annotations

from pathlib import Path

from ..yocto.pins import SERIES, load_pins, save_pins, update_from_clones

NAME = "pins"


def setup(p):
    sub = p.add_subparsers(dest="pins_command", metavar="ACTION")
    up = sub.add_parser("update", help="refresh the commits from local clones")
    up.add_argument("--from", dest="clones", type=Path, required=True, metavar="DIR",
                    help="directory holding one git clone per source, named as in conf/yocto-pins.yml")
    up.add_argument("--series", choices=SERIES, action="append",
                    help="only this series (repeatable; default: all)")


def run(args):
    pins = load_pins()
    if args.pins_command == "update":
        new, report = update_from_clones(pins, args.clones, tuple(args.series or SERIES))
        save_pins(new)
        print("\n".join(report))
        print(f"updated {pins.path} (date {new.date})")
        return 0
    print(f"# {pins.path} (taken {pins.date})")
    for s in SERIES:
        for name, pin in pins.series[s].items():
            print(f"{s:10} {name:20} {pin['branch']:10} {pin['commit']}")
    return 0
