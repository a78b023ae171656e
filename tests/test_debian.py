"""The Debian backend's package and kernel-module handling."""

from __future__ import annotations

import lzma
import shutil
from pathlib import Path

import pytest

from pycontainers.debian.apt import AptRepo, Package, _split_filename, host_mirrors, read_lock, write_lock
from pycontainers.debian.kmod import copy_modules, module_order
from pycontainers.errors import UserError


def test_mirrors_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# comment\ndeb http://mirror.example/debian bookworm contrib\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n")
    assert host_mirrors(tmp_path) == ("http://mirror.example/debian", "http://security.example/debian-security")


def test_one_line_sources_and_env_override(tmp_path, monkeypatch):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://m.example/debian trixie main\n")
    assert host_mirrors(tmp_path) == ("http://m.example/debian", None)
    monkeypatch.setenv("PYCONTAINERS_DEBIAN_MIRROR", "http://override.example/debian")
    assert host_mirrors(tmp_path)[0] == "http://override.example/debian"


def test_no_mirror_is_a_user_error(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(UserError, match="PYCONTAINERS_DEBIAN_MIRROR"):
        host_mirrors(tmp_path)


def test_filename_split_unquotes_epochs():
    assert _split_filename("busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb") == \
        ("busybox-static", "1:1.35.0-4+deb12u1+b1", "arm64")


def test_lock_round_trip(tmp_path):
    pkgs = [Package("zlib1g", "1:1.2.13", "arm64", "z.deb", 1, "MD5Sum:ab"), Package("crun", "1.8.1", "arm64", "c.deb", 2, "")]
    (tmp_path / "z.deb").write_bytes(b"z")
    (tmp_path / "c.deb").write_bytes(b"c")
    write_lock(pkgs, tmp_path, tmp_path / "packages.lock")
    assert (tmp_path / "packages.lock").read_text().splitlines()[0] == \
        "crun 1.8.1 arm64 2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
    assert read_lock(tmp_path / "packages.lock") == {"crun": "1.8.1", "zlib1g": "1:1.2.13"}
    (tmp_path / "bad.lock").write_text("crun 1.8.1\n")
    with pytest.raises(UserError, match="bad.lock:1"):
        read_lock(tmp_path / "bad.lock")


@pytest.fixture
def kernel_tree(tmp_path) -> Path:
    mdir = tmp_path / "k" / "lib" / "modules" / "6.1.0-1-arm64"
    files = {"kernel/fs/ext4/ext4.ko": "kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko",
             "kernel/fs/jbd2/jbd2.ko": "", "kernel/fs/mbcache.ko": "", "kernel/lib/crc16.ko": "",
             "kernel/drivers/block/virtio_blk.ko": "", "kernel/fs/erofs/erofs.ko.xz": "kernel/lib/crc16.ko"}
    for rel in files:
        (mdir / rel).parent.mkdir(parents=True, exist_ok=True)
        data = f"module {rel}".encode()
        (mdir / rel).write_bytes(lzma.compress(data) if rel.endswith(".xz") else data)
    (mdir / "modules.dep").write_text("".join(f"{k}: {v}\n" if v else f"{k}:\n" for k, v in files.items()))
    return tmp_path / "k"


def test_module_order_puts_dependencies_first(kernel_tree):
    order = module_order(kernel_tree, "6.1.0-1-arm64", ["virtio_blk", "ext4"])
    assert order == ["kernel/drivers/block/virtio_blk.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko",
                     "kernel/lib/crc16.ko", "kernel/fs/ext4/ext4.ko"]


def test_unknown_module_suggests_close_names(kernel_tree):
    with pytest.raises(UserError, match="no module 'ext3'.*did you mean ext4"):
        module_order(kernel_tree, "6.1.0-1-arm64", ["ext3"])


def test_compressed_modules_are_copied_plain(kernel_tree, tmp_path):
    order = copy_modules(kernel_tree, "6.1.0-1-arm64", ["erofs"], tmp_path / "ir")
    assert order == ["kernel/lib/crc16.ko", "kernel/fs/erofs/erofs.ko"]
    assert (tmp_path / "ir/lib/modules/kernel/fs/erofs/erofs.ko").read_bytes() == b"module kernel/fs/erofs/erofs.ko.xz"


@pytest.mark.network
def test_resolve_arm64_host_set_and_kernel(tmp_path):
    if not shutil.which("apt-get"):
        pytest.skip("apt-get not available")
    repo = AptRepo("bookworm", "arm64", tmp_path / "cache")
    try:
        repo.update()
    except UserError as e:
        pytest.skip(f"the Debian mirror is not reachable: {e}")
    names = {p.name for p in repo.resolve(["busybox-static", "crun", "libubootenv-tool"])}
    # liblzma5 comes from the security archive, whose --print-uris line may carry no hash
    assert {"crun", "libc6", "libseccomp2", "libyajl2", "liblzma5", "busybox-static", "libubootenv0.1"} <= names
    assert all(p.arch in ("arm64", "all") for p in repo.resolve(["crun"]))
    kernel = repo.resolve_alone("linux-image-arm64")
    assert kernel.name.startswith("linux-image-6.1.0-") and kernel.name.endswith("-arm64")
    with pytest.raises(UserError, match="no-such-package"):
        repo.resolve(["no-such-package"])


def test_slot_too_small_is_refused_with_the_device_files_line(tmp_path):
    from helpers import ROOT
    from pycontainers.debian.build import DebianBuild
    from pycontainers.model import load_device

    dev = tmp_path / "small.yml"
    dev.write_text((ROOT / "conf/devices/demo.yml").read_text().replace("rootfs: 96MiB", "rootfs: 16MiB"))
    build = DebianBuild(load_device(dev), tmp_path / "out")
    tree = tmp_path / "rootfs"
    tree.mkdir()
    (tree / "big").write_bytes(b"\0" * (15 << 20))  # fits 16 MiB, not with 10% headroom
    with pytest.raises(UserError) as e:
        build.check_slot_size(tree)
    assert str(e.value) == (f"{dev}:11: storage.rootfs: 16 MiB is too small for the assembled slot "
                            "(15.0 MiB + 10% headroom = 16.5 MiB); set at least 17MiB")
    (tree / "big").write_bytes(b"\0" * (14 << 20))
    assert build.check_slot_size(tree) >= 14 << 20
