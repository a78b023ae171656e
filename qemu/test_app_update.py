"""App updates without a reboot, in QEMU (docs/app-updates.md): an app bundle applied with
pycmctl app-update switches only the changed containers and commits once they are healthy; a
failing one rolls back to the revision before; factory-reset brings back the image's revision
offline. Figures (update bytes against the full container set, switch and rollback times) go to
build/reports/app-update.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from pycontainers.apps import build_app_bundle
from pycontainers.qemu import Machine

from test_update import MOUNT_UPDATE, names, update_disk

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "reports" / "app-update.json"

pytestmark = pytest.mark.update
FIGURES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield FIGURES
    if FIGURES:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(FIGURES, indent=2) + "\n")


def _counter(device, script: str, **changes):
    conts = tuple(dataclasses.replace(c, command=("/bin/busybox", "sh", "-c", script), **changes)
                  if c.name == "counter" else c for c in device.containers)
    return dataclasses.replace(device, containers=conts, version="1.1.0")


GOOD = ("echo counter: version 2; touch /run/ready; trap 'exit 0' TERM; "
        "while true; do sleep 3600 & wait; done")
BAD = "echo counter: broken; exit 1"


@pytest.fixture(scope="module")
def app_bundles(build_for, tmp_path_factory):
    device, out = build_for(shell=True)
    where = tmp_path_factory.mktemp("app-bundles")
    factory = out / "image" / "apps.revision"
    good = where / "good.raucb"
    figures = build_app_bundle(_counter(device, GOOD), out, factory, good)
    full = build_app_bundle(_counter(device, GOOD), out, None, where / "full.raucb")
    bad = where / "bad.raucb"
    build_app_bundle(_counter(device, BAD, crash_loop=(3, 60), backoff=(0, 0)), out, good.with_name("good.raucb.revision"), bad)
    FIGURES["update_bytes"] = figures["bundle_bytes"]
    FIGURES["full_bytes"] = full["bundle_bytes"]
    FIGURES["ratio"] = round(full["bundle_bytes"] / figures["bundle_bytes"], 1)
    FIGURES["change"] = "counter's command (its config.json): one file of the container set"
    return device, out, update_disk(where, good=good, bad=bad), figures["revision"]


def test_update_without_reboot_rollback_and_factory_reset(app_bundles, tmp_path):
    device, out, disk, revision = app_bundles
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run", extra_disks=(disk,)) as m:
        m.start()
        m.wait_boot(names(device))
        rc, text = m.run(f"{MOUNT_UPDATE} && pycmctl status")
        assert rc == 0 and "app revision factory" in text, text
        rc, text = m.run("pycmctl app-update /run/update/good.raucb", 180)
        assert rc == 0 and f"committed revisions/{revision}" in text, text
        FIGURES["switch_ms"] = int(re.search(r"switch (\d+) ms", text).group(1))
        FIGURES["update_total_ms"] = int(re.search(r"total (\d+) ms", text).group(1))
        seen = m.output()
        assert "counter: version 2" in seen and "pycm: rebooting" not in seen
        assert seen.count("container hostos: started") == 1  # unchanged: never restarted
        rc, text = m.run("pycmctl status")
        assert rc == 0 and f"app revision revisions/{revision}" in text, text

        rc, text = m.run("pycmctl app-update /run/update/bad.raucb", 180)
        assert rc == 1 and "rolled back to revisions/" + revision in text, text
        FIGURES["rollback_ms"] = int(re.search(r"rollback (\d+) ms", text).group(1))
        assert "counter: broken" in m.output()
        rc, text = m.run("pycmctl status; ls /data/pycontainers/apps/revisions")
        assert rc == 0 and f"app revision revisions/{revision}" in text and "counter" in text, text
        assert text.count("\n") >= 1 and len(re.findall(r"^[0-9a-f]{16}\s*$", text, re.M)) == 1, text  # bad one GC'd

        m.proc.sendline("pycmctl factory-reset --wipe-data")
        m.wait_boot(names(device))
        rc, text = m.run("pycmctl status; ls /data/pycontainers/apps/blobs | wc -l; cat /data/volumes/counter/count")
        assert rc == 0 and "app revision factory" in text, text
        assert re.search(r"^0\s*$", text, re.M) and re.search(r"^1\s*$", text, re.M), text  # store empty, volume wiped
        m.power_cut()
