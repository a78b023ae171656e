"""Command line entry point: one small module per subcommand in pycontainers.commands."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import UserError, ValidationError

EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPT = 2, 1, 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pycontainers",
                                description="Containers on small devices: one device file, three renderings.")
    p.add_argument("--version", action="version", version=f"pycontainers {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        doc = (mod.__doc__ or "").strip()
        sp = sub.add_parser(mod.NAME, help=doc.splitlines()[0], description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.setup(sp)
        sp.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ValidationError as e:
        print(e, file=sys.stderr)
        n = len(e.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found; nothing was written", file=sys.stderr)
        return EXIT_USER
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        return EXIT_INTERRUPT


if __name__ == "__main__":
    sys.exit(main())
