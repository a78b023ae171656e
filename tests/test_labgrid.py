"""The generated labgrid environment files load in labgrid itself (its Environment and driver
classes validate every attribute), for every board."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, with_test_keys
from pycontainers.pipeline import generate
from pycontainers.model import load_board, load_device

labgrid = pytest.importorskip("labgrid", reason="labgrid is a test dependency (pip install -e .[test])")
from labgrid import Environment  # noqa: E402

BOARDS = sorted(p.stem for p in (ROOT / "conf" / "boards").glob("*.yml"))


@pytest.mark.parametrize("board", BOARDS)
def test_labgrid_loads_the_environment(board, tmp_path):
    device = load_device(ROOT / "conf" / "devices" / "demo.yml", board)
    out = with_test_keys(tmp_path / "out")
    env_file = generate(device, out) / "labgrid" / "env.yaml"
    env = Environment(str(env_file))
    target = env.get_target("main")
    q = load_board(ROOT / "conf" / "boards" / f"{board}.yml").qemu
    if q is None:  # real hardware: a serial console and a power driver to fill in
        assert "RawSerialPort" in env.config.get_targets()["main"]["resources"]
        assert target.get_driver("SerialDriver", activate=False)
        return
    from labgrid.driver import QEMUDriver
    drv = target.get_driver(QEMUDriver, activate=False)
    assert (drv.machine, drv.memory) == (q["machine"], q["memory"])
    assert env.config.get_tool("qemu") == f"/usr/bin/{q['binary']}"
    assert Path(env.config.get_image_path("disk")).resolve() == (out / "image" / "disk.img").resolve()
    firmware = env.config.get_image_path("opensbi" if q["firmware"] == "opensbi" else "bootloader")
    assert Path(firmware).is_absolute()
    if q.get("watchdog"):
        assert f"-device {q['watchdog']}" in drv.extra_args


def test_generate_image_points_the_labgrid_environment_at_that_image(tmp_path):
    """`generate --image FILE`: the environment boots an image built elsewhere (a Yocto .wic)."""
    device = load_device(ROOT / "conf" / "devices" / "demo.yml")
    out = with_test_keys(tmp_path / "out")
    wic = tmp_path / "my image: yocto.wic"  # a name YAML must quote
    from pycontainers.pipeline import Options
    env_file = generate(device, out, Options(image=wic)) / "labgrid" / "env.yaml"
    assert Path(Environment(str(env_file)).config.get_image_path("disk")) == wic
