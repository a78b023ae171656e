"""Is a disk image built elsewhere (Yocto's .wic, Buildroot's disk.img, a hand-made one) one the
device's contract boots? Checked in a second, before QEMU starts, so a wrong image is one line
naming what is wrong instead of a boot that hangs in U-Boot:

- the partition table: a GPT with the contract's partition names in order (boot, uboot-env,
  rootfs_a, rootfs_b, data), each at least the device file's size and inside the file;
- the env partition: a U-Boot env blob with a valid CRC32 holding BOOT_ORDER ("A B" or "B A"),
  BOOT_A_LEFT and BOOT_B_LEFT (numbers);
- the file systems: vfat on boot with /boot.scr; ext4 on rootfs_a holding /sbin/pycm, the board's
  kernel and the initramfs; ext4 on data (read with mtools and debugfs, never mounted).
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

from .errors import UserError
from .model import Device

SLOT_FILES = ("/sbin/pycm", "/boot/initramfs.cpio.gz", "/etc/pycontainers/manifest")
EXT4_MAGIC = 0xEF53


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def read_gpt(f, path: Path) -> list[tuple[int, str, int, int]]:
    """(number, name, offset, size) of each used entry of the primary GPT."""
    f.seek(512)
    hdr = f.read(92)
    if len(hdr) < 92 or hdr[:8] != b"EFI PART":
        raise UserError(f"{path}: no GPT partition table (the contract's disk is GPT, docs/contract.md)")
    hsize = struct.unpack_from("<I", hdr, 12)[0]
    if hsize != 92 or zlib.crc32(hdr[:16] + b"\0\0\0\0" + hdr[20:92]) != struct.unpack_from("<I", hdr, 16)[0]:
        raise UserError(f"{path}: the GPT header's CRC32 is wrong (a corrupt or hand-edited table)")
    entries_lba, count, esize = struct.unpack_from("<QII", hdr, 72)
    if not (128 <= esize <= 4096 and count <= 1024):
        raise UserError(f"{path}: GPT with {count} entries of {esize} bytes: not a table this tool reads")
    f.seek(entries_lba * 512)
    table = f.read(count * esize)
    parts = []
    for i in range(count):
        e = table[i * esize:(i + 1) * esize]
        if len(e) < 128 or e[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0]
        parts.append((i + 1, name, first * 512, (last - first + 1) * 512))
    return parts


def check_image(device: Device, image: Path) -> dict[str, tuple[int, int]]:
    """Raise UserError (one line: the image, what is wrong, what the contract wants) unless
    `image` follows the contract of `device`; returns partition name -> (offset, size)."""
    try:
        size = image.stat().st_size
        f = open(image, "rb")
    except OSError as e:
        raise UserError(f"{image}: {e.strerror}") from None
    with f:
        if f.read(4) == b"QFI\xfb":
            raise UserError(f"{image}: a qcow2 image; give the raw disk (qemu-img convert -O raw {image} disk.img)")
        parts = read_gpt(f, image)
        want = device.storage.partitions
        if [(n, name) for n, name, _, _ in parts] != [(p.number, p.name) for p in want]:
            raise UserError(f"{image}: partitions {', '.join(f'{n}:{name!r}' for n, name, _, _ in parts) or 'none'}; "
                            f"the contract wants {', '.join(f'{p.number}:{p.name!r}' for p in want)} "
                            f"(docs/contract.md: the boot script reads them by number)")
        found = {name: (off, sz) for _, name, off, sz in parts}
        for p in want:
            off, sz = found[p.name]
            if sz < p.size:
                raise UserError(f"{image}: partition {p.name} is {_mib(sz)}; device {device.name} wants at least "
                                f"{_mib(p.size)} (storage.{_storage_key(p.name)})")
            if off + sz > size:
                raise UserError(f"{image}: partition {p.name} ends at {_mib(off + sz)}, past the end of the "
                                f"{_mib(size)} file (a truncated image)")
        _check_env(f, image, found["uboot-env"][0], device.storage.env_blob_size)
        for name in ("rootfs_a", "data"):
            f.seek(found[name][0] + 1024 + 56)
            magic = struct.unpack("<H", f.read(2))[0]
            if magic != EXT4_MAGIC:
                raise UserError(f"{image}: partition {name} holds no ext4 file system (the contract's slots and "
                                f"data are ext4)")
    _check_boot(image, found["boot"][0])
    _check_slot(device, image, found["rootfs_a"][0])
    return found


def _storage_key(name: str) -> str:
    return {"uboot-env": "env", "rootfs_a": "rootfs", "rootfs_b": "rootfs"}.get(name, name)


def _check_env(f, image: Path, offset: int, blob_size: int) -> None:
    f.seek(offset)
    blob = f.read(blob_size)
    if blob.strip(b"\0") == b"" or blob.strip(b"\xff") == b"":
        raise UserError(f"{image}: partition uboot-env is empty; the contract wants a U-Boot env blob "
                        f"({blob_size:#x} bytes, mkenvimage -s {blob_size:#x}) with BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT")
    if int.from_bytes(blob[:4], "little") != zlib.crc32(blob[4:]):
        raise UserError(f"{image}: partition uboot-env: the env blob's CRC32 is wrong (the contract wants "
                        f"{blob_size:#x} bytes made by mkenvimage -s {blob_size:#x})")
    pairs = blob[4:].split(b"\0\0", 1)[0].decode(errors="replace").split("\0")
    env = dict(kv.split("=", 1) for kv in pairs if "=" in kv)
    if env.get("BOOT_ORDER") not in ("A B", "B A"):
        raise UserError(f"{image}: partition uboot-env: BOOT_ORDER is {env.get('BOOT_ORDER', 'missing')!s}; "
                        f"the contract wants 'A B' or 'B A'")
    for var in ("BOOT_A_LEFT", "BOOT_B_LEFT"):
        if not re.fullmatch(r"\d+", env.get(var, "")):
            raise UserError(f"{image}: partition uboot-env: {var} is {env.get(var, 'missing')}; the contract "
                            f"wants a number of tries")


def _check_boot(image: Path, offset: int) -> None:
    r = subprocess.run(["mdir", "-b", "-i", f"{image}@@{offset}", "::/"], capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"{image}: partition boot holds no vfat file system mtools reads "
                        f"({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'mdir failed'})")
    if not re.search(r"^::/boot\.scr$", r.stdout, re.M | re.I):
        raise UserError(f"{image}: partition boot has no /boot.scr (the contract's U-Boot script)")


def _check_slot(device: Device, image: Path, offset: int) -> None:
    wanted = (*SLOT_FILES, f"/boot/{device.board.kernel_image}")
    r = subprocess.run(["debugfs", "-R", "ls -l /", f"{image}?offset={offset}"], capture_output=True, text=True)
    if r.returncode or "Bad magic" in r.stderr or "ext2fs_open" in r.stderr:
        raise UserError(f"{image}: partition rootfs_a: debugfs cannot read its ext4 file system")
    for path in wanted:
        r = subprocess.run(["debugfs", "-R", f"stat {path}", f"{image}?offset={offset}"], capture_output=True,
                           text=True)
        if "Type: regular" not in r.stdout:
            raise UserError(f"{image}: partition rootfs_a has no {path} (docs/contract.md, slot contents)")
