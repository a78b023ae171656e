"""Registry references (`image: {registry: REF, digest: PIN}`), copied with skopeo at build time
(generator/pycontainers/registry.py, docs/images.md). Offline: the references use skopeo's
docker-archive: transport on archives the helpers build."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import ROOT, make_docker_archive, with_test_keys
from pycontainers import oci
from pycontainers.debian.build import DebianBuild
from pycontainers.errors import UserError
from pycontainers.model import load_device
from pycontainers.registry import TAG, archive_digest, resolve_images
from test_images import CONFIG, EXPECTED, LOWER, UPPER, tree

DEMO = (ROOT / "conf" / "devices" / "demo.yml").read_text()
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None,
                                  reason="skopeo is not installed (scripts/setup installs it)")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PYCONTAINERS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "registry"


@pytest.fixture
def archive(tmp_path) -> Path:
    """The two-layer image of test_images as `docker save` writes it, with the config's diff_ids
    (skopeo checks them against the layers)."""
    config = json.loads(CONFIG)
    config["rootfs"]["diff_ids"] = [
        "sha256:" + hashlib.sha256(gzip.decompress(l) if l[:2] == b"\x1f\x8b" else l).hexdigest()
        for l in (LOWER, UPPER)]
    return make_docker_archive(tmp_path / "app.docker.tar", [LOWER, UPPER], json.dumps(config).encode())


def device_with(tmp_path: Path, ref: str, digest: str = "", name: str = "reg") -> Path:
    device = tmp_path / f"{name}.yml"
    pin = f"\n      digest: {digest}" if digest else ""
    device.write_text(DEMO.replace("name: demo\n", f"name: {name}\n")
                      .replace("packages: [busybox-static]", f"registry: '{ref}'{pin}", 1))
    return device


def no_skopeo(monkeypatch, tmp_path) -> None:
    """PATH without skopeo (python and the tools the tests call are called by absolute path)."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


@needs_skopeo
def test_resolves_into_the_cache_and_debian_unpacks_the_same_rootfs(archive, cache, tmp_path, monkeypatch):
    device = load_device(device_with(tmp_path, f"docker-archive:{archive}"))
    (c,) = [c for c in device.containers if c.name == "hostos"]
    assert (c.image.kind, c.image.ref, c.image.path) == ("registry", f"docker-archive:{archive}", None)
    resolved = resolve_images(device)
    (r,) = [c for c in resolved.containers if c.name == "hostos"]
    assert r.image.kind == "oci-archive" and r.image.path.parent == cache
    assert [p.name for p in cache.iterdir()] == [r.image.path.name]  # no temporary file left
    with tarfile.open(r.image.path) as t:
        index = json.load(t.extractfile("index.json"))
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == TAG  # umoci ls
    dest = tmp_path / "rootfs"
    DebianBuild(resolved, tmp_path / "out", cache=tmp_path / "debcache").container_rootfs(r, dest)
    direct = tmp_path / "direct"
    oci.unpack(archive, direct, "docker-archive")
    assert tree(direct) == EXPECTED
    assert {k: v for k, v in tree(dest).items() if k in EXPECTED} == EXPECTED
    # a second resolve is a cache hit: no skopeo needed
    no_skopeo(monkeypatch, tmp_path)
    assert resolve_images(load_device(device_with(tmp_path, f"docker-archive:{archive}"))) == resolved


@needs_skopeo
def test_digest_pin_checked_and_a_cached_pin_needs_no_skopeo(archive, cache, tmp_path, monkeypatch):
    ref = f"docker-archive:{archive}"
    got = archive_digest(next(c for c in resolve_images(load_device(device_with(tmp_path, ref))).containers
                              if c.name == "hostos").image.path)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(UserError) as e:
        resolve_images(load_device(device_with(tmp_path, ref, wrong)))
    assert str(e.value) == (f"{tmp_path}/reg.yml:19: container hostos: image.registry: {ref}: digest {got} "
                            f"does not match the pinned digest {wrong}")
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # nothing half-written kept
    pinned = resolve_images(load_device(device_with(tmp_path, ref, got)))
    no_skopeo(monkeypatch, tmp_path)
    again = resolve_images(load_device(device_with(tmp_path, "docker://example.invalid/app:1", got)))
    assert [c.image for c in again.containers] == [c.image for c in pinned.containers]


def test_skopeo_missing_and_failing_are_one_line(archive, cache, tmp_path, monkeypatch):
    device = load_device(device_with(tmp_path, "docker://example.invalid/app:1"))
    if shutil.which("skopeo"):
        with pytest.raises(UserError) as e:
            resolve_images(load_device(device_with(tmp_path, f"docker-archive:{tmp_path}/missing.tar")))
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"{tmp_path}/reg.yml:19: container hostos: image.registry: skopeo copy ")
        assert msg.endswith("(registry references need the network at build time, or an already cached "
                            "pinned digest)")
    no_skopeo(monkeypatch, tmp_path)
    with pytest.raises(UserError) as e:
        resolve_images(device)
    assert str(e.value) == (f"{tmp_path}/reg.yml:19: container hostos: image.registry: "
                            "docker://example.invalid/app:1: skopeo is needed to copy registry images "
                            "(apt-get install skopeo)")


def test_validate_needs_no_network_and_checks_the_syntax(run_cli, cache, tmp_path, monkeypatch):
    no_skopeo(monkeypatch, tmp_path)
    code, out, err = run_cli("validate", device_with(tmp_path, "docker://example.invalid/app:1"))
    assert code == 0, err
    code, out, err = run_cli("validate", device_with(tmp_path, "example.invalid/app:1", digest="md5:1"))
    assert code == 2
    assert "containers[0].image.digest: 'md5:1' is not valid" in err
    assert "containers[0].image.registry: 'example.invalid/app:1' is not valid" in err
    bad = tmp_path / "bad.yml"
    bad.write_text(DEMO.replace("packages: [busybox-static]", "packages: [busybox-static]\n      digest: "
                                "sha256:" + "0" * 64, 1))
    code, out, err = run_cli("validate", bad)
    assert code == 2 and err.splitlines()[0] == \
        f"{tmp_path}/bad.yml:19: containers[0].image: 'digest' is given only with 'registry'"


@needs_skopeo
def test_generated_buildroot_and_yocto_trees_get_the_oci_archive(archive, cache, run_cli, tmp_path):
    device = device_with(tmp_path, f"docker-archive:{archive}")
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device, "-o", out)
    assert code == 0, err
    (cached,) = cache.iterdir()
    board = out / "generated" / "buildroot" / "board" / "reg"
    assert (board / "containers" / "hostos" / cached.name).read_bytes() == cached.read_bytes()
    assert f'--kind oci-archive "${{BOARD_DIR}}/containers/hostos/{cached.name}"' in \
        (board / "post-build.sh").read_text()
    r = subprocess.run(["python3", str(board / "oci-unpack.py"), "--kind", "oci-archive", str(cached),
                        str(tmp_path / "br")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert tree(tmp_path / "br") == EXPECTED
    rdir = out / "generated/yocto/meta-reg/recipes-containers/reg-container-hostos"
    assert (rdir / "files" / cached.name).read_bytes() == cached.read_bytes()
    assert f"file://{cached.name};unpack=0" in (rdir / "reg-container-hostos.bb").read_text()
