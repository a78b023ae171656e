"""Print the JSON Schema of the device file (or, with --board, of the board file).

The schema is the one definition of the format: `validate` checks against it and
docs/device-format.md and docs/board-format.md are rendered from it.
"""

from __future__ import annotations

import json

from ..model import schema

NAME = "schema"


def setup(p):
    p.add_argument("--board", action="store_true", help="print the board file schema instead")
    p.add_argument("--markdown", action="store_true", help="print it as a Markdown reference table")


def run(args):
    kind = "board" if args.board else "device"
    if args.markdown:
        from ..schemadoc import markdown
        print(markdown(kind), end="")
    else:
        print(json.dumps(schema(kind), indent=2))
