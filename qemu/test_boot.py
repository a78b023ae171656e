"""The reference device boots in QEMU: containers up, boot committed, data kept across a reset."""

from __future__ import annotations

import re


def test_demo_boots_containers_run_and_data_persists(device, machine):
    names = [c.name for c in device.containers]
    machine.start()
    timeline = machine.wait_boot(names)
    print("\n" + timeline.format())
    out = machine.output()
    assert "[hostos] hostos: syslogd and httpd up" in out
    assert "[counter] counter: start 1" in out
    assert "pycm: boot good (slot A)" in out

    machine.reset()  # the counter synced its file: a reset must not lose it
    machine.wait_boot(names)
    assert re.search(r"\[counter\] counter: start 2\b", machine.output())
    machine.power_cut()

    env = machine.boot_env()
    assert env["BOOT_ORDER"] == "A B"
    assert env["BOOT_A_LEFT"] == str(device.boot_attempts), "the manager gives the tries back once the boot is good"
    assert env["BOOT_B_LEFT"] == str(device.boot_attempts)


def test_boot_counter_is_taken_before_the_kernel_starts(device, machine):
    """The boot script takes a try from slot A; without a good boot it would not come back."""
    machine.start()
    m = machine.expect(r"pycontainers-boot: slot A \((\d) tries left\)", 30)
    assert int(m.group(1)) == device.boot_attempts - 1
    machine.expect(r"Starting kernel", 30)
    machine.power_cut()  # before the manager can mark the boot good
    assert machine.boot_env()["BOOT_A_LEFT"] == str(device.boot_attempts - 1)
