"""What a built slot holds, read from the ext4 image with debugfs (no mount, no root): every file
belongs to root whoever built it (an ordinary user's build packs the slot under fakeroot), and
there is no device node and no setuid or setgid file."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path


def walk(image: Path) -> list[tuple[str, int, int, int]]:
    """(path, mode, uid, gid) of every entry of an ext4 image, one debugfs run per tree level."""
    entries, level = [], ["/"]
    while level:
        with tempfile.NamedTemporaryFile("w", suffix=".cmds") as cmds:
            cmds.write("".join(f"ls -p {d}\n" for d in level))
            cmds.flush()
            out = subprocess.run(["debugfs", "-f", cmds.name, str(image)], capture_output=True, text=True,
                                 check=True).stdout
        nxt, current = [], "/"
        for line in out.splitlines():
            if line.startswith("debugfs: ls -p "):
                current = line[len("debugfs: ls -p "):]
                continue
            f = line.split("/")
            if len(f) < 7 or f[5] in (".", ".."):
                continue
            mode, uid, gid = int(f[2], 8), int(f[3]), int(f[4])
            path = (current.rstrip("/") + "/" + f[5])
            entries.append((path, mode, uid, gid))
            if stat.S_ISDIR(mode):
                nxt.append(path)
        level = nxt
    return entries


def test_the_slot_is_root_owned_without_device_nodes_or_setuid_files(build_for):
    device, out = build_for()
    entries = walk(out / "image" / device.storage.slots[0].image)
    assert len(entries) > 100 and any(p == "/sbin/pycm" for p, *_ in entries)
    not_root = [(p, u, g) for p, m, u, g in entries if (u, g) != (0, 0)]
    assert not not_root, f"{len(not_root)} entries not owned by root (built as uid {os.geteuid()}): {not_root[:5]}"
    devices = [p for p, m, *_ in entries if stat.S_ISCHR(m) or stat.S_ISBLK(m)]
    assert not devices, devices  # /dev is devtmpfs on the device, and a container's /dev a tmpfs
    setids = [p for p, m, *_ in entries if not stat.S_ISDIR(m) and m & (stat.S_ISUID | stat.S_ISGID)]
    assert not setids, setids
