"""App revisions and app bundles (docs/app-updates.md): what a bundle carries, and bad input."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import DATA, ROOT
from pycontainers import rauc, revision
from pycontainers.errors import UserError
from pycontainers.model import load_device

MANIFEST = """[pycm]
version = 1

[service dbus]
exec = /usr/bin/dbus-daemon

[container web]
role = app
bundle = /usr/share/pycontainers/containers/web
required = true

[container db]
role = app
bundle = /usr/share/pycontainers/containers/db
required = false
"""


def _bundle(root: Path, name: str, files: dict[str, bytes]) -> Path:
    b = root / name
    (b / "rootfs" / "bin").mkdir(parents=True)
    (b / "config.json").write_text(f'{{"name": "{name}"}}\n')
    for rel, data in files.items():
        (b / "rootfs" / rel).write_bytes(data)
    (b / "rootfs" / "bin" / "sh").symlink_to("busybox")
    return b


def _revision(tmp: Path, app_version: bytes) -> revision.Revision:
    base = random.Random(1).randbytes(1 << 20)  # a 1 MiB "base layer" squashfs cannot compress
    return revision.make_revision(MANIFEST, {
        "web": _bundle(tmp, "web", {"bin/busybox": base, "app.py": app_version}),
        "db": _bundle(tmp, "db", {"bin/busybox": base}),
    })


def test_revision_lists_every_entry_and_names_files_by_content(tmp_path):
    rev = _revision(tmp_path / "v1", b"print(1)\n")
    lines = rev.listing.splitlines()
    assert lines[0] == revision.HEADER and lines[1] == f"id {rev.id}"
    assert "container web" in lines and "l\tbusybox\trootfs/bin/sh" in lines
    assert len(rev.blobs) == 4  # busybox once for both containers, app.py, two config.json
    # the manifest keeps the sections of the containers only, each bundle in the revision
    assert "[service" not in rev.manifest and f"bundle = {revision.APPS_DIR}/revisions/{rev.id}/db" in rev.manifest
    assert "required = false" in rev.manifest
    # same content, same id; a changed file, another id
    assert _revision(tmp_path / "again", b"print(1)\n").id == rev.id
    assert _revision(tmp_path / "v2", b"print(2)\n").id != rev.id


@pytest.mark.skipif(not shutil.which("rauc") or not shutil.which("unsquashfs"), reason="rauc/squashfs-tools missing")
def test_a_one_file_change_ships_that_file_only(tmp_path):
    device = load_device(ROOT / "conf" / "devices" / "demo.yml")
    old = _revision(tmp_path / "v1", b"print(1)\n")
    new = _revision(tmp_path / "v2", b"print(2)\n")
    (tmp_path / "old.revision").write_text(old.listing)
    have = revision.read_pairs(tmp_path / "old.revision")
    key, cert = DATA / "keys" / "development.key.pem", DATA / "keys" / "development.cert.pem"
    delta = rauc.pack_app_bundle(device, new, have, cert, key, tmp_path / "delta.raucb")
    full = rauc.pack_app_bundle(device, new, set(), cert, key, tmp_path / "full.raucb")
    assert delta["blobs_shipped"] == 1 and delta["blob_bytes_shipped"] == len(b"print(2)\n")
    assert full["blobs_shipped"] == 4
    assert full["bundle_bytes"] >= 10 * delta["bundle_bytes"], (full, delta)
    assert (tmp_path / "delta.raucb.revision").read_text() == new.listing
    listing = subprocess.run(["unsquashfs", "-l", "-d", "", str(tmp_path / "delta.raucb")],
                             capture_output=True, text=True, check=True).stdout.split()
    blob = [p for p in listing if p.startswith("/blobs/")]
    assert len(blob) == 1 and "/revision" in listing and "/manifest" in listing
    info = subprocess.run(["rauc", "info", "--no-verify", "--output-format=shell", str(tmp_path / "delta.raucb")],
                          capture_output=True, text=True, check=True).stdout
    assert f"RAUC_MF_COMPATIBLE='{device.compatible}-apps'" in info
    assert f"RAUC_MF_DESCRIPTION='pycontainers app revision {new.id}, needs {delta['needs_bytes']} bytes'" in info


@pytest.mark.skipif(not shutil.which("rauc") or not shutil.which("unsquashfs"), reason="rauc/squashfs-tools missing")
def test_a_bundle_of_text_that_compresses_small_is_made(tmp_path):
    """Only a container's config.json changes (a network, a command, an environment): the one
    blob shipped is 15 KiB of text, well over 8 KiB but under RAUC's 4 KiB of squashfs once
    compressed ('squashfs size (4096) must be larger than 4096 bytes' before the fix)."""
    device = load_device(ROOT / "conf" / "devices" / "demo.yml")
    old = _revision(tmp_path / "v1", b"print(1)\n")
    new_web = _bundle(tmp_path / "v2", "web", {"bin/busybox": random.Random(1).randbytes(1 << 20),
                                              "app.py": b"print(1)\n"})
    text = "".join(f'{{"type": "bind", "source": "/data/volumes/web/{i}", "options": ["rbind"]}},\n'
                   for i in range(220))
    assert len(text) > 2 * rauc.MIN_CONTENT
    (new_web / "config.json").write_text(text)
    new = revision.make_revision(MANIFEST, {"web": new_web, "db": _bundle(tmp_path / "v2", "db", {
        "bin/busybox": random.Random(1).randbytes(1 << 20)})})
    (tmp_path / "old.revision").write_text(old.listing)
    key, cert = DATA / "keys" / "development.key.pem", DATA / "keys" / "development.cert.pem"
    made = rauc.pack_app_bundle(device, new, revision.read_pairs(tmp_path / "old.revision"), cert, key,
                                tmp_path / "delta.raucb")
    assert made["blobs_shipped"] == 1 and made["blob_bytes_shipped"] == len(text)
    info = subprocess.run(["rauc", "info", "--no-verify", "--output-format=shell", str(tmp_path / "delta.raucb")],
                          capture_output=True, text=True, check=True).stdout
    assert f"pycontainers app revision {new.id}" in info


def test_bad_from_is_one_line(run_cli, tmp_path):
    (tmp_path / "old.txt").write_text("hello\n")
    code, out, err = run_cli("app-bundle", ROOT / "conf" / "devices" / "demo.yml", "--from", "old.txt",
                             "-o", "x.raucb")
    assert code == 2 and out == ""
    assert err.startswith("error: --from old.txt: not a revision file") and err.count("\n") == 1
    code, _, err = run_cli("app-bundle", ROOT / "conf" / "devices" / "demo.yml", "--from", "missing", "-o", "x")
    assert code == 2 and err == "error: --from missing: No such file or directory\n"
    assert not (tmp_path / "x.raucb").exists()


def test_file_names_with_a_tab_are_refused(tmp_path):
    b = _bundle(tmp_path, "web", {"bad\tname": b"x"})
    with pytest.raises(UserError, match=r"container web: file name 'rootfs/bad\\tname' has a tab"):
        revision.make_revision(MANIFEST, {"web": b})


def test_set_user_id_and_set_group_id_bits_are_dropped(tmp_path):
    b = _bundle(tmp_path, "web", {"bin/su": b"x", "bin/wall": b"y"})
    (b / "rootfs" / "bin" / "su").chmod(0o4755)
    (b / "rootfs" / "bin" / "wall").chmod(0o2755)
    (b / "rootfs" / "tmp").mkdir(mode=0o1777)
    (b / "rootfs" / "tmp").chmod(0o1777)
    lines = revision.make_revision(MANIFEST, {"web": b}).listing.splitlines()
    assert [l.split("\t")[1] for l in lines if l.endswith(("bin/su", "bin/wall", "rootfs/tmp"))] == ["0755", "0755", "1777"]
