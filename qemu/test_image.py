"""Booting an image built elsewhere (issue 22, 4): `pycontainers boot --image FILE` and the pytest
plugin's --image.

The image is not the Debian build's own file: it is re-assembled by a second route, sfdisk and
dd from the partitions of the build (another alignment, bigger slots, slot B left empty as a
first-flash image may leave it). It boots, takes a system update from a bundle and rolls back.
Broken images made from it are each refused in seconds, before QEMU starts, with one line
naming what is wrong.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from pycontainers.pipeline import build_slot_bundle
from pycontainers.qemu import gpt_partitions

MIB = 2**20


def reassemble(built_disk: Path, device, dest: Path) -> Path:
    """The built image's partitions in a new GPT made by sfdisk: 4 MiB aligned, slots 16 MiB
    bigger than the device file's, slot B empty."""
    parts = gpt_partitions(built_disk)
    layout, offset = [], 4 * MIB
    for p in device.storage.partitions:
        size = p.size + (16 * MIB if p.slot else 0)
        layout.append((p.name, offset, size))
        offset += size + 4 * MIB
    disk = dest / "reassembled.img"
    with open(disk, "wb") as f:
        f.truncate(offset + MIB)
    script = "label: gpt\n" + "".join(f"start={o // 512}, size={s // 512}, name={n}\n" for n, o, s in layout)
    r = subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)], input=script,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name, off, _ in layout:
        if name == "rootfs_b":
            continue
        src_off, src_size = parts[name]
        subprocess.run(["dd", f"if={built_disk}", f"of={disk}", "bs=1M", f"skip={src_off // MIB}",
                        f"seek={off // MIB}", f"count={src_size // MIB}", "conv=notrunc,sparse", "status=none"],
                       check=True)
    return disk


@pytest.fixture(scope="module")
def shell_build(build_for):
    return build_for(shell=True)


@pytest.fixture(scope="module")
def reassembled(shell_build, shared) -> Path:
    device, out = shell_build
    return shared(f"reassembled {out}", lambda d: reassemble(out / "image" / "disk.img", device, d)) \
        / "reassembled.img"


@pytest.fixture(scope="module")
def bundle(shell_build, shared) -> Path:
    device, out = shell_build  # the same key as test_update's good bundle: built once per session
    return shared(f"bundle good of {out}", lambda where: build_slot_bundle(device, out, "2.0.0",
                                                                           where / "good.raucb")) / "good.raucb"


def cli(*args, cwd=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pycontainers", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def test_reassembled_image_boots_updates_and_rolls_back(shell_build, reassembled, bundle, tmp_path):
    device, out = shell_build
    image = reassembled
    assert gpt_partitions(image)["rootfs_a"][1] > device.storage.slot_size  # not the build's layout
    shell_yml = tmp_path / "shell.yml"
    shell_yml.write_text(Path(device.source).read_text() + "\ndebug: {console_shell: true}\n")
    r = cli("boot", shell_yml, "-o", tmp_path / "out", "--image", reassembled, "--bundle", bundle, "--check", "--json")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    result = json.loads(r.stdout)
    assert result["ok"] and result["image"] == str(image)
    assert result["boot"]["slot"] == "A" and result["update"]["to"] == "B" and result["rollback"]["to"] == "A"
    assert {e["event"] for e in result["boot"]["timeline"]} >= {f"container {c.name} healthy" for c in device.containers}
    print(f"\nreassembled image: ready in {result['boot']['ready_s']}s, install {result['update']['install_s']}s")


def _gpt_edit(disk: Path, name: str, *, new_name: str | None = None, shrink: int = 0) -> None:
    """Rename or shrink a partition in the primary GPT, with both CRCs made right again (so only
    what the test means is wrong)."""
    with open(disk, "r+b") as f:
        f.seek(512)
        hdr = bytearray(f.read(92))
        lba, count, esize = struct.unpack_from("<QII", hdr, 72)
        f.seek(lba * 512)
        table = bytearray(f.read(count * esize))
        for i in range(count):
            e = i * esize
            if table[e + 56:e + 128].decode("utf-16-le").rstrip("\0") == name:
                if new_name:
                    table[e + 56:e + 128] = new_name.encode("utf-16-le").ljust(72, b"\0")
                if shrink:
                    first, last = struct.unpack_from("<QQ", table, e + 32)
                    struct.pack_into("<Q", table, e + 40, last - shrink // 512)
        struct.pack_into("<I", hdr, 88, zlib.crc32(table))
        struct.pack_into("<I", hdr, 16, 0)
        struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr)))
        f.seek(512)
        f.write(hdr)
        f.seek(lba * 512)
        f.write(table)


def _wipe(disk: Path, at: int, length: int) -> None:
    with open(disk, "r+b") as f:
        f.seek(at)
        f.write(bytes(length))


def _zero(disk: Path, name: str, length: int, at: int = 0, byte: bytes = b"\0") -> None:
    off, _ = gpt_partitions(disk)[name]
    with open(disk, "r+b") as f:
        f.seek(off + at)
        f.write(byte * length)


BROKEN = {
    "wrong partition name": (lambda d: _gpt_edit(d, "rootfs_b", new_name="rootfs-b"),
                             "partitions 1:'boot', 2:'uboot-env', 3:'rootfs_a', 4:'rootfs-b', 5:'data'; "
                             "the contract wants"),
    "slot too small": (lambda d: _gpt_edit(d, "rootfs_b", shrink=80 * MIB), "partition rootfs_b is 32 MiB; device "),
    "missing env": (lambda d: _zero(d, "uboot-env", 0x4000), "partition uboot-env is empty"),
    "corrupt env": (lambda d: _zero(d, "uboot-env", 1, at=100, byte=b"\x01"), "the env blob's CRC32 is wrong"),
    "no ext4 on slot A": (lambda d: _zero(d, "rootfs_a", 4096), "partition rootfs_a holds no ext4 file system"),
    "no manager in slot A": (lambda d: subprocess.run(
        ["debugfs", "-w", "-R", "rm /sbin/pycm", f"{d}?offset={gpt_partitions(d)['rootfs_a'][0]}"],
        capture_output=True, check=True), "partition rootfs_a has no /sbin/pycm"),
    "no GPT": (lambda d: _wipe(d, 512, 512), "no GPT partition table"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_image_is_refused_in_seconds_with_one_line(kind, shell_build, reassembled, tmp_path):
    device, _ = shell_build
    broken = tmp_path / "broken.img"
    subprocess.run(["cp", "--sparse=always", str(reassembled), str(broken)], check=True)
    damage, expected = BROKEN[kind]
    damage(broken)
    t = time.monotonic()
    r = cli("boot", device.source, "-o", tmp_path / "out", "--image", broken, "--check")
    took = time.monotonic() - t
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broken}: ") and expected in lines[0], r.stderr
    assert took < 10, f"{took:.1f}s"
    assert not (tmp_path / "out" / "run" / "console.log").exists()  # QEMU never started
    print(f"\n{kind}: {lines[0]} ({took:.1f}s)")


README_TEST = '''\
def test_device_boots(device, booted, boot_timeline):
    assert boot_timeline.first("manager") < 30
    for c in device.containers:
        assert f"pycm: container {c.name}: healthy" in booted.output()
    rc, out = booted.run("cat /etc/pycontainers/release")
    assert rc == 0 and f"VERSION={device.version}" in out
    booted.reboot()
    assert "slot A (committed)" in booted.output()
'''


UPDATE_TEST = '''\
def test_update(system_update):
    result = system_update()
    assert (result.from_slot, result.to_slot) == ("A", "B")
    assert "slot B chosen" in result.timelines[0].format() and result.install_s > 0
'''


def test_the_plugin_boots_a_given_image_from_a_product_repo(shell_build, reassembled, bundle, tmp_path):
    """A product repository's tests run by the plugin with --device, --image and --bundle: the
    README's test, and the system_update fixture."""
    device, _ = shell_build
    repo = tmp_path / "product"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_device.py").write_text(README_TEST)
    (repo / "tests" / "test_update.py").write_text(UPDATE_TEST)
    (repo / "device.yml").write_text(Path(device.source).read_text() + "\ndebug: {console_shell: true}\n")
    plugin = [] if _entry_point_installed() else ["-p", "pycontainers.pytest_plugin"]
    r = subprocess.run([sys.executable, "-m", "pytest", *plugin, "-q", "-p", "no:cacheprovider",
                        "--device", "device.yml", "--image", str(reassembled), "--bundle", str(bundle), "tests"],
                       capture_output=True, text=True, cwd=repo, timeout=900)
    assert r.returncode == 0 and "2 passed" in r.stdout, (r.stdout + r.stderr)[-3000:]


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points
    return any(ep.value == "pycontainers.pytest_plugin" for ep in entry_points(group="pytest11"))
