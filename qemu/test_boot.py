"""The reference device boots in QEMU: containers up, boot committed, data kept across a reset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pycontainers.model import load_board
from pycontainers.qemu import Machine

ROOT = Path(__file__).resolve().parents[1]


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
    assert env["BOOT_A_LEFT"] == str(device.boot_confirmed), "the manager commits slot A once the boot is good"
    assert env["BOOT_B_LEFT"] == str(device.boot_attempts)
    assert "pycontainers-boot: slot A (committed)" in machine.output()  # the second boot took no try


def test_trial_boot_takes_a_try_before_the_kernel_starts(device, machine):
    """A slot on trial (the factory image's first boot, or a new install) loses a try per boot
    until the manager commits it; without a good boot it would not come back."""
    machine.start()
    machine.expect(rf"pycontainers-boot: slot A \(trial, {device.boot_attempts - 1} tries left\)", 30)
    machine.expect(r"Starting kernel", 30)
    machine.power_cut()  # before the manager can mark the boot good
    assert machine.boot_env()["BOOT_A_LEFT"] == str(device.boot_attempts - 1)


BOARDS = sorted(p.stem for p in (ROOT / "conf" / "boards").glob("*.yml")
                if load_board(p).qemu is not None and p.stem != "qemuarm64")  # qemuarm64: tests above


@pytest.mark.parametrize("board", BOARDS)
def test_every_qemu_board_boots_the_demo(board, build_for, tmp_path):
    device, out = build_for(board)
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        print("\n" + m.wait_boot([c.name for c in device.containers]).format())
        assert "[counter] counter: start 1" in m.output()
        m.power_cut()
        assert m.boot_env()["BOOT_A_LEFT"] == str(device.boot_confirmed)


def test_machine_leaves_no_temp_dirs(device, built, tmp_path):
    import glob
    import tempfile as tf
    before = set(glob.glob(f"{tf.gettempdir()}/pycqmp.*"))
    with Machine(device.board, built / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        m.expect(r"U-Boot 20\d\d", 30)
    assert set(glob.glob(f"{tf.gettempdir()}/pycqmp.*")) == before
