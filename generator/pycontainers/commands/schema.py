"""Print the JSON Schema of the device file (or, with --board, of the board file).

The schema is the one definition of the format: `validate` checks against it and
docs/device-format.md is rendered from it.
"""

from __future__ import annotations

import json

from ..model import schema

NAME = "schema"


def setup(p):
    p.add_argument("--board", action="store_true", help="print the board file schema instead")


def run(args):
    print(json.dumps(schema("board" if args.board else "device"), indent=2))
