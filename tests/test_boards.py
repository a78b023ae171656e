"""`pycontainers boards` and `pycontainers board new` (run against a copy of conf/boards)."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

import pycontainers.commands.board as board_cmd
import pycontainers.commands.boards as boards_cmd
import pycontainers.model as model
from helpers import ROOT, with_test_keys

BOARDS = sorted(p.stem for p in (ROOT / "conf" / "boards").glob("*.yml"))


@pytest.fixture
def boards_dir(tmp_path, monkeypatch):
    d = tmp_path / "boards"
    shutil.copytree(ROOT / "conf" / "boards", d)
    for mod in (model, board_cmd, boards_cmd):
        monkeypatch.setattr(mod, "BOARDS_DIR", d)
    return d


def test_boards_lists_every_board_with_what_it_supports(run_cli, boards_dir):
    code, out, _ = run_cli("boards")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["BOARD", "ARCH", "DEBIAN", "QEMU"]
    row = next(l for l in lines if l.startswith("qemuarm64 "))
    assert "arm64/bookworm" in row and "yes" in row and "qemu_aarch64_virt_defconfig" in row
    row = next(l for l in lines if l.startswith("qemuriscv64 "))
    assert "riscv64/trixie" in row and "yes" in row and "qemu_riscv64_virt_defconfig" in row
    assert {l.split()[0] for l in lines[1:]} == set(BOARDS)


def test_board_new_scaffolds_a_valid_board(run_cli, boards_dir, tmp_path):
    code, out, err = run_cli("board", "new", "myboard", "--like", "qemuarm", "--dir", boards_dir)
    assert code == 0, err
    text = (boards_dir / "myboard.yml").read_text()
    assert text.startswith("# Board myboard, scaffolded from qemuarm") and "\nname: myboard\n" in text
    assert model.load_board(boards_dir / "myboard.yml").debian_arch == "armhf"
    code, _, err = run_cli("board", "new", "myboard", "--like", "qemuarm", "--dir", boards_dir)
    assert code == 2 and "already exists" in err
    # outside a checkout (these boards are not one), the current directory: a device names it by path
    assert run_cli("board", "new", "mine", "--like", "qemuarm64")[0] == 0
    assert model.load_board(tmp_path / "mine.yml").name == "mine"


def test_board_new_refuses_bad_names_and_unknown_templates(run_cli, boards_dir):
    assert run_cli("board", "new", "My_Board", "--like", "qemuarm")[2].startswith("error: board name 'My_Board'")
    code, _, err = run_cli("board", "new", "x", "--like", "pdp11")
    assert code == 2 and "--like pdp11: no such board" in err
    assert not (boards_dir / "x.yml").exists()


def test_an_invalid_board_is_reported_by_boards(run_cli, boards_dir):
    (boards_dir / "broken.yml").write_text("format: 1\nname: broken\narch: vax\n")
    code, out, err = run_cli("boards")
    assert code == 2 and "broken.yml:3: arch: 'vax' is not one of aarch64, arm, x86_64, riscv64" in err
    assert "qemuarm64" in out


@pytest.mark.parametrize("board", BOARDS)
def test_every_board_renders_for_yocto_and_buildroot(board, tmp_path):
    """The reference device on each board renders for both Buildroot branches (every BR2_ symbol
    verified for its branch with br-check, conf/buildroot-versions.yml) and for Yocto (the
    board's MACHINE as the base of the device's machine)."""
    from pycontainers import cli
    verified = yaml.safe_load((ROOT / "conf" / "buildroot-versions.yml").read_text())["verified_symbols"]
    machine = yaml.safe_load((ROOT / "conf" / "boards" / f"{board}.yml").read_text())["yocto"]["machine"]
    for version in ("2025.02", "2026.02"):
        out = with_test_keys(tmp_path / version)
        assert cli.main(["generate", str(ROOT / "conf" / "devices" / "demo.yml"), "--board", board, "-o", str(out),
                         "--buildroot-version", version]) == 0
        (defconfig,) = (out / "generated" / "buildroot" / "configs").iterdir()
        symbols = re.findall(r"^(?:# )?(BR2_\w+)", defconfig.read_text(), re.M)
        assert symbols and [s for s in symbols if version not in verified.get(s, [])] == [], (board, version)
        (conf,) = (out / "generated" / "yocto").glob("meta-*/conf/machine/*.conf")
        assert f"require conf/machine/{machine}.conf\n" in conf.read_text()
