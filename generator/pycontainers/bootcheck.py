"""The boot checks of a disk image in QEMU, shared by `pycontainers boot --check` and the pytest
plugin (pytest_plugin.py): every container healthy and the boot marked good; a system update
from a bundle (A -> B, then the rollback to A); an app update from an app bundle.

Updates are typed on the console (`rauc install`, `pycmctl app-update`), as a technician would:
the device needs a root shell there (`debug: {console_shell: true}`). The bundles reach the
guest on a small read-only ext4 disk labelled `update` (a USB stick).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .debian.build import as_root
from .errors import UserError
from .model import Device
from .qemu import Machine, Timeline

MOUNT_UPDATE = "mkdir -p /run/update && mount -o ro $(findfs LABEL=update) /run/update"


def names(device: Device) -> list[str]:
    return [c.name for c in device.containers]


def update_disk(work: Path, **bundles: Path) -> Path:
    """A small ext4 disk labelled 'update' holding the bundles as NAME.raucb. Its files belong to
    root (fakeroot for an ordinary user): RAUC refuses a bundle another user owns ("unsafe bundle
    uid 1000")."""
    content = work / "update-content"
    shutil.rmtree(content, ignore_errors=True)
    content.mkdir(parents=True)
    for name, bundle in bundles.items():
        try:
            os.link(bundle, content / f"{name}.raucb")
        except OSError:  # another file system
            shutil.copy(bundle, content / f"{name}.raucb")
    disk = work / "update.img"
    size = sum(b.stat().st_size for b in bundles.values()) // 2**20 + 16
    r = subprocess.run(as_root(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "update", "-d", str(content), str(disk),
                                f"{size}M"]), capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"mke2fs of the update disk failed: {r.stderr.strip()}")
    return disk


def need_shell(device: Device, what: str) -> None:
    if not device.console_shell:
        raise UserError(f"{what} is typed on the console: device {device.name} needs "
                        f"`debug: {{console_shell: true}}` (a root shell on the console)")


def boot_env_now(m: Machine) -> dict[str, str]:
    """The A/B boot state as the running system reads it (fw_printenv)."""
    rc, out = m.run("fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT")
    if rc:
        raise RuntimeError(f"fw_printenv failed: {out.strip()}")
    return dict(re.findall(r"^(BOOT_\w+)=([^\r\n]*)", out, re.M))


def booted_slot(timeline: Timeline) -> str:
    """The slot of the last good boot of the timeline (a machine's timeline goes on across
    reboots until it is started again)."""
    slots = re.findall(r"boot marked good \(slot ([AB])\)", timeline.format())
    return slots[-1] if slots else "?"


@dataclass
class UpdateResult:
    """What a system update did: the slots booted, how long the install and the reboot took."""

    from_slot: str
    to_slot: str
    install_s: float
    reboot_s: float
    timelines: list[Timeline] = field(default_factory=list)
    rolled_back_to: str | None = None


def system_update(m: Machine, device: Device, bundle: str = "update", timeout: float = 180) -> UpdateResult:
    """On a booted machine with the update disk attached: `rauc install` of /run/update/BUNDLE.raucb,
    reboot, and wait for the other slot's good boot. Raises RuntimeError with RAUC's words."""
    need_shell(device, "a system update")
    before = booted_slot(m.timeline)
    rc, out = m.run(MOUNT_UPDATE)
    if rc:
        raise RuntimeError(f"the update disk did not mount: {out.strip()}")
    t = time.monotonic()
    rc, out = m.run(f"rauc install /run/update/{bundle}.raucb", timeout)
    if rc:
        raise RuntimeError(f"rauc install failed: {out.strip()[-800:]}")
    install_s = time.monotonic() - t
    t = time.monotonic()
    first = len(m.timeline.events)
    m.proc.sendline("umount /run/update; reboot")
    m.wait_boot(names(device))
    timeline = Timeline(m.timeline.events[first:])  # this boot's events
    after = booted_slot(timeline)
    if after == before:
        raise RuntimeError(f"after the update the device booted slot {after} again, not the new slot")
    return UpdateResult(before, after, round(install_s, 1), round(time.monotonic() - t, 1), [timeline])


def rollback(m: Machine, device: Device) -> str:
    """Mark the booted slot bad (`rauc status mark-bad booted`) and reboot: the other slot must
    boot good. Returns it."""
    need_shell(device, "a rollback")
    before = booted_slot(m.timeline)
    rc, out = m.run("rauc status mark-bad booted")
    if rc:
        raise RuntimeError(f"rauc status mark-bad failed: {out.strip()}")
    m.proc.sendline("reboot")
    after = booted_slot(m.wait_boot(names(device)))
    if after == before:
        raise RuntimeError(f"slot {before} was marked bad but booted again")
    return after


def app_update(m: Machine, device: Device, bundle: str = "app", timeout: float = 180) -> str:
    """On a booted machine with the update disk attached: `pycmctl app-update` of
    /run/update/BUNDLE.raucb; returns the app revision `pycmctl status` names afterwards, every
    container healthy."""
    need_shell(device, "an app update")
    rc, out = m.run(MOUNT_UPDATE)
    if rc:
        raise RuntimeError(f"the update disk did not mount: {out.strip()}")
    rc, out = m.run(f"pycmctl app-update /run/update/{bundle}.raucb", timeout)
    if rc:
        raise RuntimeError(f"pycmctl app-update failed: {out.strip()[-800:]}")
    rc, out = m.run("pycmctl status")
    rev = re.search(r"app revision ([^,\s]+)", out)
    unhealthy = [n for n in names(device) if not re.search(rf"^{re.escape(n)}\s+healthy\s", out, re.M)]
    if rc or not rev or unhealthy:
        raise RuntimeError(f"after the app update: {', '.join(unhealthy) or 'status'} not healthy: {out.strip()}")
    return rev.group(1)


class DeviceMachine(Machine):
    """A Machine that knows its device: boot() waits for every container healthy and the boot
    marked good, reboot() reboots and waits again (`reboot` typed on the console shell, else the
    reset button), system_update()/rollback()/app_update() as above."""

    def __init__(self, device: Device, disk: Path, workdir: Path, **kwargs):
        super().__init__(device.board, disk, workdir, **kwargs)
        self.device = device

    def boot(self, timeout: float = 120) -> Timeline:
        self.start()
        return self.wait_boot(names(self.device), timeout)

    def reboot(self, timeout: float = 120) -> Timeline:
        if self.device.console_shell:
            self.proc.sendline("reboot")
        else:
            self.reset()
        return self.wait_boot(names(self.device), timeout)

    def system_update(self, bundle: str = "update", timeout: float = 180) -> UpdateResult:
        return system_update(self, self.device, bundle, timeout)

    def rollback(self) -> str:
        return rollback(self, self.device)

    def app_update(self, bundle: str = "app", timeout: float = 180) -> str:
        return app_update(self, self.device, bundle, timeout)
