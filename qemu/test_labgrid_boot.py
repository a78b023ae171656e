"""The same boot check through labgrid: its QEMUDriver, configured by the generated environment
file, boots the reference image to a good boot (what a lab would run on a real board with the
template's serial and power drivers)."""

from __future__ import annotations

import shutil

import pytest

labgrid = pytest.importorskip("labgrid", reason="labgrid is a test dependency (pip install -e .[test])")


def test_labgrid_qemu_driver_boots_the_image(device, built, tmp_path):
    from labgrid import Environment
    from labgrid.driver import QEMUDriver

    # a copy: labgrid's QEMUDriver writes to the disk it is given
    (tmp_path / "generated" / "labgrid").mkdir(parents=True)
    shutil.copy(built / "generated" / "labgrid" / "env.yaml", tmp_path / "generated" / "labgrid")
    (tmp_path / "image").mkdir()
    shutil.copy(built / "image" / "disk.img", tmp_path / "image")
    target = Environment(str(tmp_path / "generated" / "labgrid" / "env.yaml")).get_target("main")
    qemu = target.get_driver(QEMUDriver)
    qemu.on()
    try:
        qemu.expect(r"pycontainers-boot: slot A", timeout=60)
        for c in device.containers:
            qemu.expect(rf"pycm: container {c.name}: healthy", timeout=90)
        qemu.expect(r"pycm: boot good \(slot A\)", timeout=60)
    finally:
        qemu.off()
        target.cleanup()
