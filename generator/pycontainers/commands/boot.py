"""Boot the built image of a device in QEMU, with the console on stdio.

The image (OUTPUT/image/disk.img, or --image FILE: a Yocto .wic, a Buildroot disk.img, any image
built elsewhere) is never written: QEMU runs a copy-on-write overlay in OUTPUT/run/, which keeps
the device's state between boots until the image is rebuilt. An --image is first checked against
the device's contract (partition table, env partition, slot file systems): a wrong one is refused
in a second, before QEMU starts, with what is wrong.
With --check, the console is watched instead: every container must become healthy and the boot
be marked good; then the machine is powered off and a timeline is printed (exit 0, else 1).
With --bundle FILE (needs debug.console_shell) the check goes on: `rauc install` of the bundle,
reboot into the other slot, boot good there, then `rauc status mark-bad booted` and reboot: the
rollback to the first slot must boot good too. --json prints the results as one JSON object.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from ..bootcheck import DeviceMachine, booted_slot, need_shell, update_disk
from ..errors import UserError
from ..imagecheck import check_image
from ..qemu import qemu_argv
from . import device_args, load

NAME = "boot"


def setup(p):
    device_args(p)
    p.add_argument("--image", type=Path, metavar="FILE",
                   help="boot this disk image instead of OUTPUT/image/disk.img (checked against the contract first)")
    p.add_argument("--check", action="store_true", help="wait for all containers, power off, print a timeline")
    p.add_argument("--bundle", type=Path, metavar="FILE",
                   help="with --check: install this system bundle, boot the other slot, then roll back")
    p.add_argument("--timeout", type=float, default=120, help="seconds --check waits for each boot (default 120)")
    p.add_argument("--json", action="store_true", help="with --check: print the results as JSON on stdout")


def _events(timeline) -> list[dict]:
    return [{"t": round(t, 2), "event": label} for t, label in timeline.events]


def run(args):
    device, output = load(args, resolve=False)
    if args.image:
        disk = args.image.resolve()
        check_image(device, disk)
    else:
        disk = (output / "image" / "disk.img").resolve()
        if not disk.is_file():
            raise UserError(f"{disk} does not exist: run `pycontainers build {args.device} -o {output}` first, "
                            f"or give an image with --image")
    if (args.bundle or args.json) and not args.check:
        raise UserError("--bundle and --json go with --check")
    if args.bundle:
        need_shell(device, f"--bundle: the update of {args.bundle}")
        if not args.bundle.is_file():
            raise UserError(f"{args.bundle}: no such bundle")
    run_dir = (output / "run").resolve()
    overlay = run_dir / "disk.qcow2"
    base = run_dir / "base"  # the image the overlay was made of
    if overlay.exists() and (overlay.stat().st_mtime < disk.stat().st_mtime or
                             not base.exists() or base.read_text() != str(disk)):
        overlay.unlink()  # the image was rebuilt, or is another one: start from it again
    if not args.check:
        m = DeviceMachine(device, disk, run_dir)
        if not overlay.exists():
            m.make_overlay()
            base.write_text(str(disk))
        argv = qemu_argv(device.board, overlay)
        print(f"# {shlex.join(argv)}\n# quit: Ctrl-A X", file=sys.stderr)
        os.execvp(argv[0], argv)
    overlay.unlink(missing_ok=True)  # a check always starts from the image
    (run_dir / "console.log").unlink(missing_ok=True)
    names = [c.name for c in device.containers]
    result: dict = {"device": device.name, "board": device.board.name, "image": str(disk), "ok": False,
                    "console_log": str(run_dir / "console.log")}
    extra = (update_disk(run_dir, update=args.bundle.resolve()),) if args.bundle else ()
    t0 = time.monotonic()
    with DeviceMachine(device, disk, run_dir, extra_disks=extra) as m:
        step = "boot"
        try:
            timeline = m.boot(args.timeout)
            result["boot"] = {"slot": booted_slot(timeline),
                              "ready_s": round(timeline.events[-1][0], 2), "timeline": _events(timeline)}
            if args.bundle:
                step = "update"
                up = m.system_update()
                result["update"] = {"bundle": str(args.bundle), "bundle_bytes": args.bundle.stat().st_size,
                                    "from": up.from_slot, "to": up.to_slot, "install_s": up.install_s,
                                    "reboot_s": up.reboot_s, "timeline": _events(up.timelines[0])}
                step = "rollback"
                result["rollback"] = {"to": m.rollback(), "timeline": _events(m.timeline)}
        except (TimeoutError, RuntimeError) as e:
            result["error"] = f"{step}: {e}"
            if args.json:
                print(json.dumps(result, indent=2))
            print(f"boot check FAILED ({step}): {e}", file=sys.stderr)
            print(m.timeline.format(), file=sys.stderr)
            return 1
        m.power_cut()
    result["ok"], result["total_s"] = True, round(time.monotonic() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"boot check of {device.name} on {device.board.name}: all {len(names)} containers healthy, boot marked good")
    print(timeline.format())
    if args.bundle:
        u = result["update"]
        print(f"update: {args.bundle.name} installed in {u['install_s']}s, slot {u['from']} -> {u['to']} booted good "
              f"({u['reboot_s']}s); rollback: slot {result['rollback']['to']} booted good")
    print(f"console log: {m.console_log}")
    return 0
