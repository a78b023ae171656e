"""`pycontainers boards` and `pycontainers board new` (run against a copy of conf/boards)."""

from __future__ import annotations

import shutil

import pytest

import pycontainers.commands.board as board_cmd
import pycontainers.commands.boards as boards_cmd
import pycontainers.model as model
from helpers import ROOT


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


def test_board_new_scaffolds_a_valid_board(run_cli, boards_dir):
    code, out, err = run_cli("board", "new", "myboard", "--like", "qemuarm")
    assert code == 0, err
    text = (boards_dir / "myboard.yml").read_text()
    assert text.startswith("# Board myboard, scaffolded from qemuarm") and "\nname: myboard\n" in text
    assert model.load_board(boards_dir / "myboard.yml").debian_arch == "armhf"
    code, _, err = run_cli("board", "new", "myboard", "--like", "qemuarm")
    assert code == 2 and "already exists" in err


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
