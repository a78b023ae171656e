"""Print the `containers:` of a device file for the services of a Docker Compose file.

Supported per service: image (through x-pycontainers-image: {oci-archive|oci-layout|
docker-archive: PATH} or {packages: [...]}, paths relative to the compose file; a registry
reference cannot be fetched offline), command and entrypoint (Docker's rules, with the image's
Entrypoint, Cmd, Env and WorkingDir as defaults), environment, working_dir, named volumes,
depends_on and restart. Every other key is reported with its service, and nothing is printed
(exit 2), unless --ignore KEY drops that key knowingly. docs/images.md has the mapping.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..compose import dump, import_compose

NAME = "import-compose"


def setup(p):
    p.add_argument("compose", type=Path, metavar="COMPOSE", help="Compose file (YAML)")
    p.add_argument("--service", action="append", metavar="NAME",
                   help="import this service (repeatable; default: every service)")
    p.add_argument("--ignore", action="append", default=[], metavar="KEY",
                   help="drop this compose key wherever it is given, with a note on stderr (repeatable)")
    p.add_argument("--device-dir", type=Path, metavar="DIR",
                   help="directory of the device file to write: image paths are made relative to it "
                        "(default: the compose file's directory)")


def run(args):
    device_dir = args.device_dir or args.compose.parent
    result = import_compose(args.compose, args.service, tuple(args.ignore), device_dir)
    for note in result.notes:
        print(note, file=sys.stderr)
    print(dump(result, str(args.compose), str(device_dir)), end="")
