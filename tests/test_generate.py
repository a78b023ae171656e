"""Golden output trees, reproducibility and atomic output of `pycontainers generate`."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest

from helpers import DEVICES, ROOT, checkout_head, golden_bytes, with_test_keys


# The Buildroot tree carries a copy of runtime/ (the pycm package's local site): compared with
# runtime/ itself, not kept a third time in the golden trees.
RUNTIME_COPY = "buildroot/src/pycm/"


def tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("device", DEVICES, ids=lambda p: p.stem)
def test_golden_tree(device, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the manifest names the device file as given, relative to the repo
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device.relative_to(ROOT), "-o", out, "--layer-source", "git")
    assert code == 0, err
    golden = ROOT / "tests" / "golden" / device.stem
    head = checkout_head()
    got, want = tree_files(out / "generated"), tree_files(golden)
    got = {name: golden_bytes(data, head) for name, data in got.items()}
    copies = {name: got.pop(name) for name in list(got) if name.startswith(RUNTIME_COPY)}
    assert copies, "the Buildroot tree has no copy of the manager's sources"
    for name, data in copies.items():
        assert data == (ROOT / "runtime" / name[len(RUNTIME_COPY):]).read_bytes(), f"{name} is not runtime/'s"
    assert sorted(got) == sorted(want), "file list differs; run python tests/update_golden.py and review"
    for name in want:
        assert got[name] == want[name], f"{name} differs from the golden file; run python tests/update_golden.py"


def test_rerun_is_byte_identical_and_replaces_atomically(run_cli, tmp_path):
    device = ROOT / "conf" / "devices" / "demo.yml"
    out = tmp_path / "out"
    assert run_cli("generate", device, "-o", out)[0] == 0
    first = tree_files(out / "generated")
    (out / "generated" / "contract" / "stale-file").write_text("from an older run")
    assert run_cli("generate", device, "-o", out)[0] == 0
    assert tree_files(out / "generated") == first  # identical, and the stale file is gone
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp dirs left
    assert not [p for p in (out / "generated").iterdir() if p.name.startswith(".")]


def test_backend_renders_only_what_is_asked_and_keeps_the_rest(run_cli, tmp_path):
    """A limit of one backend never blocks another: a package Buildroot cannot map stops only
    its rendering; --backend leaves the other backends' trees of the last run as they were."""
    device = tmp_path / "curl.yml"
    device.write_text((ROOT / "conf" / "devices" / "demo.yml").read_text().replace(
        "packages: [busybox-static]", "packages: [busybox-static, curl]", 1))
    out = tmp_path / "out"
    code, _, err = run_cli("generate", device, "-o", out)
    assert code == 2 and "buildroot" in err.lower() and "curl" in err and not (out / "generated").exists()
    code, _, err = run_cli("generate", device, "-o", out, "--backend", "debian", "--backend", "yocto")
    assert code == 0, err
    assert sorted(p.name for p in (out / "generated").iterdir()) == ["contract", "labgrid", "yocto"]
    yocto = tree_files(out / "generated" / "yocto")
    code, _, err = run_cli("generate", device, "-o", out, "--backend", "debian")
    assert code == 0, err
    assert tree_files(out / "generated" / "yocto") == yocto  # kept from the run before


def test_development_key_is_generated_once_with_a_warning(run_cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("generate", ROOT / "conf" / "devices" / "demo.yml", "-o", out)
    assert code == 0 and "DEVELOPMENT key" in err
    key = (out / "keys" / "development.key.pem").read_bytes()
    assert oct(os.stat(out / "keys" / "development.key.pem").st_mode & 0o777) == "0o600"
    run_cli("generate", ROOT / "conf" / "devices" / "demo.yml", "-o", out)
    assert (out / "keys" / "development.key.pem").read_bytes() == key
    assert filecmp.cmp(out / "keys" / "development.cert.pem", out / "generated" / "contract" / "rauc" / "keyring.pem")


@pytest.mark.parametrize("command", [["build"], ["bundle", "--version", "2"], ["app-bundle", "-o", "x.raucb"]])
def test_release_refuses_the_development_key(command, run_cli, tmp_path):
    code, out, err = run_cli(*command[:1], ROOT / "conf" / "devices" / "demo.yml", *command[1:], "--release")
    assert code == 2 and err.splitlines() == [
        f"error: {ROOT / 'conf' / 'devices' / 'demo.yml'}: update.signing: not set, and --release refuses the "
        "development key (devices would trust a key anyone with this build directory has); give update.signing "
        "(key, cert) in the device file"]
    assert not list(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == ["home"]  # nothing written


def test_release_file_says_which_key_the_device_trusts(run_cli, tmp_path):
    run_cli("generate", ROOT / "conf" / "devices" / "demo.yml", "-o", tmp_path / "dev")
    assert "SIGNING=development\n" in (tmp_path / "dev/generated/contract/release").read_text()
    keys = tmp_path / "dev" / "keys"
    signing = f"update:\n  signing: {{key: {keys / 'development.key.pem'}, cert: {keys / 'development.cert.pem'}}}\n"
    (tmp_path / "signed.yml").write_text((ROOT / "conf" / "devices" / "demo.yml").read_text()
                                         .replace("update:\n", signing, 1))
    code, _, err = run_cli("generate", tmp_path / "signed.yml", "-o", tmp_path / "rel")
    assert code == 0 and "DEVELOPMENT" not in err
    assert "SIGNING=release\n" in (tmp_path / "rel/generated/contract/release").read_text()


def test_invalid_device_writes_nothing(run_cli, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text((ROOT / "conf" / "devices" / "demo.yml").read_text().replace("restart: always", "restart: sometimes"))
    code, out, err = run_cli("generate", bad, "-o", tmp_path / "out")
    assert code == 2 and "restart: 'sometimes' is not one of always, on-failure, never" in err
    assert not (tmp_path / "out").exists()


def test_default_output_dir_is_build_device_name(run_cli, tmp_path):
    assert run_cli("generate", ROOT / "conf" / "devices" / "demo.yml")[0] == 0
    assert (tmp_path / "build" / "demo" / "generated" / "contract" / "genimage.cfg").is_file()
