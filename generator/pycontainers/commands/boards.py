"""List the boards (conf/boards/*.yml) and what each supports.

Columns: architecture, Debian architecture/suite of the fast backend, whether it boots in QEMU
(and so in CI), the Yocto MACHINE and the Buildroot base defconfig.
"""

from __future__ import annotations

from ..errors import ValidationError
from ..model import BOARDS_DIR, available_boards, load_board

NAME = "boards"


def setup(p):
    pass


def run(args):
    rows = [("BOARD", "ARCH", "DEBIAN", "QEMU", "YOCTO MACHINE", "BUILDROOT DEFCONFIG", "DESCRIPTION")]
    problems = []
    for name in available_boards():
        try:
            b = load_board(BOARDS_DIR / f"{name}.yml", f"conf/boards/{name}.yml")
        except ValidationError as e:
            problems += e.problems
            continue
        rows.append((b.name, b.arch, f"{b.debian_arch}/{b.debian_suite}", "yes" if b.qemu else "no (hardware)",
                     b.yocto_machine, b.buildroot_defconfig, b.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    if problems:  # the valid boards are listed; every problem of the others is reported
        raise ValidationError(problems)
