"""Board-support helpers: `board new NAME --like BOARD [--dir DIR]` scaffolds DIR/NAME.yml (in a
checkout of pycontainers: conf/boards/NAME.yml; installed: the current directory, and a device
file names it by path, `board: boards/NAME.yml`).

The new file is a copy of BOARD's with the name changed and a header saying which fields each
backend reads; it is validated before it is written. Then boot a device on it with
`pycontainers build conf/devices/demo.yml --board NAME && pycontainers boot ... --board NAME --check`.
See docs/boards.md.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from ..errors import UserError
from ..model import BOARDS_DIR, available_boards, load_board
from ..render import write_file_atomic

NAME = "board"

HEADER = """\
# Board {name}, scaffolded from {like} by `pycontainers board new`. Which fields matter where
# (docs/boards.md; every key: docs/board-format.md):
#   Debian backend (build): debian.*, kernel.*, console, uboot.env, watchdog.module
#   QEMU (boot, tests):     qemu.*, uboot.binary      -- set `qemu: null` for real hardware
#   Yocto:                  yocto.machine, yocto.layers
#   Buildroot:              buildroot.defconfig
"""


def setup(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="scaffold conf/boards/NAME.yml from an existing board")
    new.add_argument("name", metavar="NAME")
    new.add_argument("--like", required=True, metavar="BOARD", help=f"board to start from ({', '.join(available_boards())})")
    new.add_argument("--dir", type=Path, metavar="DIR",
                     help="where to write NAME.yml (default: conf/boards of a checkout, else the current directory)")


def run(args):
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", args.name):
        raise UserError(f"board name {args.name!r}: use lower-case letters, digits and '-', at most 32 characters")
    # a checkout's conf/ is a link into it (model.PROJECT_ROOT); an installed package's is not ours to write
    where = args.dir or (BOARDS_DIR if BOARDS_DIR.parent.is_symlink() else Path("."))
    src, dest = BOARDS_DIR / f"{args.like}.yml", where / f"{args.name}.yml"
    if not src.is_file():
        raise UserError(f"--like {args.like}: no such board; known: {', '.join(available_boards())}")
    if dest.exists():
        raise UserError(f"{dest} already exists")
    body = re.sub(r"(?m)^name: .*$", f"name: {args.name}", src.read_text())
    body = re.sub(r"(?m)^description: .*$", f"description: {args.name} (from {args.like}; describe it)", body)
    text = HEADER.format(name=args.name, like=args.like) + body
    with tempfile.TemporaryDirectory() as tmp:  # validate before writing: the name must match the file
        check = Path(tmp) / dest.name
        check.write_text(text)
        load_board(check, str(dest))
    write_file_atomic(dest, text)
    print(f"wrote {dest}: edit its fields, then `pycontainers boot conf/devices/demo.yml --board {args.name} --check`")
