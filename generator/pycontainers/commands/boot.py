"""Boot the built image of a device in QEMU, with the console on stdio.

The image (OUTPUT/image/disk.img) is never written: QEMU runs a copy-on-write overlay in
OUTPUT/run/, which keeps the device's state between boots until the image is rebuilt.
With --check, the console is watched instead: every container must become healthy and the boot
be marked good; then the machine is powered off and a timeline is printed (exit 0, else 1).
"""

from __future__ import annotations

import os
import shlex
import sys

from ..errors import UserError
from ..qemu import Machine, qemu_argv
from . import device_args, load

NAME = "boot"


def setup(p):
    device_args(p)
    p.add_argument("--check", action="store_true", help="wait for all containers, power off, print a timeline")
    p.add_argument("--timeout", type=float, default=120, help="seconds --check waits (default 120)")


def run(args):
    device, output = load(args, resolve=False)
    disk = output / "image" / "disk.img"
    if not disk.is_file():
        raise UserError(f"{disk} does not exist: run `pycontainers build {args.device} -o {output}` first")
    run_dir = output / "run"
    overlay = run_dir / "disk.qcow2"
    if overlay.exists() and overlay.stat().st_mtime < disk.stat().st_mtime:
        overlay.unlink()  # the image was rebuilt: start from it again
    if not args.check:
        m = Machine(device.board, disk, run_dir)
        if not overlay.exists():
            m.make_overlay()
        argv = qemu_argv(device.board, overlay)
        print(f"# {shlex.join(argv)}\n# quit: Ctrl-A X", file=sys.stderr)
        os.execvp(argv[0], argv)
    overlay.unlink(missing_ok=True)  # a check always starts from the built image
    (run_dir / "console.log").unlink(missing_ok=True)
    names = [c.name for c in device.containers]
    with Machine(device.board, disk, run_dir) as m:
        m.start()
        try:
            timeline = m.wait_boot(names, timeout=args.timeout)
        except (TimeoutError, RuntimeError) as e:
            print(f"boot check FAILED: {e}", file=sys.stderr)
            print(m.timeline.format(), file=sys.stderr)
            return 1
        m.power_cut()
    print(f"boot check of {device.name} on {device.board.name}: all {len(names)} containers healthy, boot marked good")
    print(timeline.format())
    print(f"console log: {m.console_log}")
    return 0
