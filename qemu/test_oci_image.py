"""An app container whose root filesystem comes from an oci-archive boots and runs (docs/images.md).

The archive is made here from Debian's busybox-static for the board: one layer with busybox, a
/bin/sh link and two files, a second layer that deletes one of them with a whiteout. The
container prints what it sees, so the console shows the layers were applied.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pycontainers.qemu import Machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import image_config, layer, make_layout, tar_dir  # noqa: E402  (the fast tests' image builders)

DEVICE = """\
format: 1
name: ociapp
board: qemuarm64
version: "1.0.0"
storage: {boot: 8MiB, env: 1MiB, rootfs: 96MiB, data: 64MiB}
containers:
  - name: app
    role: app
    image: {oci-archive: app.oci.tar}
    command:
      - /bin/sh
      - -c
      - |
        test -e /etc/removed && echo "app: whiteout not applied" || echo "app: from oci-archive: $(cat /etc/greeting)"
        touch /run/ready
        trap 'exit 0' TERM
        while true; do sleep 3600 & wait; done
    health: {ready_file: /run/ready}
"""


def test_app_container_from_an_oci_archive_runs(build_for, busybox_static, tmp_path_factory):
    work = tmp_path_factory.mktemp("ociapp")
    busybox = busybox_static()
    applets = [(f"bin/{a}", "sym", "busybox", 0o777) for a in ("sh", "sleep", "cat", "touch", "test")]
    layout = make_layout(work / "app.oci", [
        layer([("bin/busybox", "file", busybox, 0o755), *applets,
               ("etc/greeting", "file", b"layers applied\n", 0o644), ("etc/removed", "file", b"x\n", 0o644)]),
        layer([("etc/.wh.removed", "file", b"", 0o644)]),
    ], image_config(Cmd=["/bin/sh"]))
    tar_dir(layout, work / "app.oci.tar")
    (work / "ociapp.yml").write_text(textwrap.dedent(DEVICE))
    device, out = build_for(device=str(work / "ociapp.yml"))
    with Machine(device.board, out / "image" / "disk.img", work / "run") as m:
        m.start()
        print("\n" + m.wait_boot(["app"]).format())
        assert "app: from oci-archive: layers applied" in m.output()
        assert "pycm: boot good (slot A)" in m.output()
        m.power_cut()
