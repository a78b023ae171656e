"""Faults the manager and the boot counting must survive (issue 3): a crash-looping required
container makes the bootloader fall back to the other slot; an orderly power-off leaves /data
clean."""

from __future__ import annotations

import re
import subprocess

import pytest

from pycontainers.qemu import Machine, gpt_partitions


# What the device guarantees for each fault, not how fast the rest of the host is: the boot is
# "NOT good" and names the faulty container. (Other containers may be named too: with a 4 s
# deadline on a slow host, RAUC's service can be late as well.)
@pytest.mark.faults
@pytest.mark.parametrize("fault, reason", [
    ("crashloop", r"container crasher is in a crash loop"),
    ("unhealthy", r"not healthy 4 s after start: (?:[\w-]+, )*stuck\b"),
])
def test_bad_boots_fall_back_to_the_other_slot(fault, reason, build_for, tmp_path):
    """A required container crash-looping, or never healthy: each boot of slot A ends "boot NOT
    good" and a reboot; once A's tries are used up the bootloader boots slot B."""
    device, out = build_for(device=f"qemu/devices/{fault}.yml")
    n = device.boot_attempts
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        for left in range(n - 1, -1, -1):
            m.expect(rf"pycontainers-boot: slot A \(trial, {left} tries left\)", 60)
            m.expect(rf"pycm: boot NOT good: {reason}", 60)
        m.expect(rf"pycontainers-boot: slot B \(trial, {n - 1} tries left\)", 60)
        m.power_cut()
        env = m.boot_env()
        assert "pycm: boot good" not in m.output()
    assert env["BOOT_A_LEFT"] == "0" and env["BOOT_B_LEFT"] == str(n - 1)


@pytest.mark.faults
def test_orderly_poweroff_leaves_data_clean(build_for, tmp_path):
    device, out = build_for(device="qemu/devices/poweroff.yml")
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        m.wait_boot(["hostos"])
        m.expect(r"pycm: powering off", 60)
        m.expect(__import__("pexpect").EOF, 30)  # QEMU exits on the guest's power-off
        raw = tmp_path / "disk.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(m.overlay), str(raw)], check=True)
    offset, _ = gpt_partitions(raw)["data"]
    sb = subprocess.run(["dumpe2fs", "-h", f"{raw}?offset={offset}"], capture_output=True, text=True)
    assert sb.returncode == 0, sb.stderr
    state = next(l for l in sb.stdout.splitlines() if l.startswith("Filesystem state:"))
    features = next(l for l in sb.stdout.splitlines() if l.startswith("Filesystem features:"))
    assert state.split(":", 1)[1].strip() == "clean"
    assert "needs_recovery" not in features, "the journal would be replayed on the next boot"
    listing = subprocess.run(["debugfs", "-R", "cat /written-before-poweroff", f"{raw}?offset={offset}"],
                             capture_output=True, text=True)
    assert listing.stdout.strip() == "marker"


@pytest.mark.faults
@pytest.mark.skip_ok
def test_hung_manager_is_reset_by_the_watchdog(build_for, tmp_path):
    device, out = build_for(device="qemu/devices/hang.yml")
    if not device.board.watchdog_module:
        pytest.skip(f"board {device.board.name} has no watchdog")
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        m.wait_boot(["hostos"])
        m.expect(r"hostos: manager frozen", 30)
        frozen = m.elapsed()
        m.expect(r"U-Boot 20\d\d", device.board.watchdog_timeout + 20)  # the board was reset
        # pycm pets every timeout/2 s, so the last pet came up to timeout/2 s before the freeze:
        # the reset is due between timeout/2 and timeout s after it (console lag on either side)
        assert m.elapsed() - frozen >= device.board.watchdog_timeout / 2 - 1, "reset before the timeout"
        m.expect(r"pycontainers-boot: slot A \(committed\)", 30)  # the hang came after the commit
        m.power_cut()


def test_container_confinement_in_the_guest(build_for, tmp_path):
    """What the generated OCI configs do under the real kernel and crun: the app container has no
    CAP_SYS_ADMIN, cannot mount, has a read-only root, its own PID namespace and host name, and its
    cgroup limits; the host container shares the host's PID namespace (PID 1 is the manager)."""
    device, out = build_for(device="qemu/devices/confined.yml")
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        m.wait_boot(["hostos", "app"])
        m.power_cut()
        lines = [l for l in m.output().splitlines() if " probe " in l]
    app = {k: v for l in lines if l.startswith("[app]") for k, v in re.findall(r"(\S+)=(\S+)", l)}
    host = {k: v for l in lines if l.startswith("[hostos]") for k, v in re.findall(r"(\S+)=(\S+)", l)}
    CAP_SYS_ADMIN = 1 << 21
    assert int(app["caps"], 16) & CAP_SYS_ADMIN == 0, lines
    assert int(host["caps"], 16) & CAP_SYS_ADMIN, lines
    assert app["mount"] == "refused" and app["rootfs"] == "read-only"
    assert app["memory.max"] == str(32 << 20) and app["pids.max"] == "64"
    assert app["pid1"] == "busybox" and app["hostname"] == "app"  # its own command is PID 1; own host name
    assert host["pid1"] == "pycm"  # the host container sees the host's PID 1
