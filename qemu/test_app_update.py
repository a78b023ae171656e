"""App updates without a reboot, in QEMU (docs/app-updates.md).

The device (`appdemo`, written here) runs a host container and an app container whose root
filesystem comes from an oci-archive made here as a real app image is: a base layer (Debian's
busybox-static for the board) and an app layer (/app/run.sh and /app/version). Each new release
changes the app layer only. An app bundle applied with pycmctl app-update switches only the
changed container and commits once it is healthy; a failing one rolls back to the revision
before; app-rollback goes back to the previous revision; factory-reset brings back the image's
revision offline; power cuts at seeded moments of an update leave exactly the old or the new
revision running, on a sound store. Figures go to build/reports/app-update.json.

PYCONTAINERS_APP_POWERCUT_SEED and PYCONTAINERS_APP_POWERCUT_TRIALS (default 20) set the
power-cut trials; PYCONTAINERS_STORE_KILL_SEED the moments pycm-store (the child doing the store's
part of an update) is killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from pycontainers.pipeline import build_app_bundle
from pycontainers.model import load_device
from pycontainers.qemu import Machine

from test_update import MOUNT_UPDATE, merge_report, update_disk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import image_config, layer, make_layout, tar_dir  # noqa: E402  (the fast tests' image builders)

REPORT = ROOT / "build" / "reports" / "app-update.json"
SEED = int(os.environ.get("PYCONTAINERS_APP_POWERCUT_SEED", "8"))
KILL_SEED = int(os.environ.get("PYCONTAINERS_STORE_KILL_SEED", "20"))
TRIALS = int(os.environ.get("PYCONTAINERS_APP_POWERCUT_TRIALS", "20"))

pytestmark = pytest.mark.update
FIGURES: dict = {}
NAMES = ["hostos", "app"]

DEVICE = """\
format: 1
name: appdemo
board: qemuarm64
version: "{version}"
storage: {{boot: 8MiB, env: 1MiB, rootfs: 96MiB, data: 64MiB}}
containers:
  - name: hostos
    role: host
    image: {{packages: [busybox-static]}}
    command: [/bin/busybox, sh, -c, "trap 'exit 0' TERM; touch /run/ready; while true; do sleep 3600 & wait; done"]
    health: {{ready_file: /run/ready}}
  - name: app
    role: app
    image: {{oci-archive: app-{release}.oci.tar}}
    command: [/bin/sh, /app/run.sh]
    depends_on: [hostos]
    health: {{ready_file: /run/ready}}
update: {{boot_attempts: 3, boot_deadline: 60s}}
"""

RUN = """\
# app release {release}
echo "app: version $(cat /app/version)"
touch /run/ready
trap 'exit 0' TERM
while true; do sleep 3600 & wait; done
"""
BROKEN = "# app release {release}\necho \"app: version $(cat /app/version), broken\"\nexit 1\n"

# what a container sees: /app/version read through the root of the process running /app/run.sh
SEES = ("for p in /proc/[0-9]*; do grep -qs app/run.sh $p/cmdline && "
        "{ echo \"sees version $(cat $p/root/app/version)\"; break; }; done")


@pytest.fixture(scope="module", autouse=True)
def report():
    yield FIGURES
    merge_report(REPORT, FIGURES)


@pytest.fixture(scope="module")
def appdemo(request, build_for, busybox_static, shared):
    """(Device, OUTPUT, update disk, {release: revision id}): appdemo built with release 1 of
    the app; app bundles of releases 2, 3, 4 (each --from the one before, release 2 --from the
    image) and of release "bad" (crash-looping, --from 2) on an update disk. Made once per
    session (whichever xdist worker asks first); each worker reads the outcome from appdemo.json."""
    board = request.config.getoption("--board")

    def make(work: Path) -> None:
        busybox = busybox_static(board)
        base = layer([("bin/busybox", "file", busybox, 0o755),
                      *[(f"bin/{a}", "sym", "busybox", 0o777) for a in ("sh", "sleep", "cat", "touch")]])

        def release(name: str, version: str):
            script = (BROKEN if name == "bad" else RUN).format(release=name)
            app = layer([("app/run.sh", "file", script.encode(), 0o755),
                         ("app/version", "file", f"{name}\n".encode(), 0o644)])
            tar_dir(make_layout(work / f"app-{name}.oci", [base, app], image_config(Cmd=["/bin/sh"])),
                    work / f"app-{name}.oci.tar")
            path = work / f"appdemo-{name}.yml"
            path.write_text(DEVICE.format(version=version, release=name))
            return path

        device, out = build_for(device=str(release("1", "1.0.0")), shell=True)
        bundles, revisions, figures = {}, {"1": "factory"}, {}
        prev = out / "image" / "apps.revision"
        for name, version in (("2", "1.2.0"), ("3", "1.3.0"), ("4", "1.4.0"), ("bad", "1.5.0")):
            dev = load_device(release(name, version), board)
            if name == "bad":
                dev = dataclasses.replace(dev, containers=tuple(
                    dataclasses.replace(c, crash_loop=(3, 60), backoff=(0, 0)) if c.name == "app" else c
                    for c in dev.containers))
                prev = bundles["2"].with_name("2.raucb.revision")
            bundles[name] = work / f"{name}.raucb"
            figures[name] = build_app_bundle(dev, out, prev, bundles[name])
            revisions[name] = f"revisions/{figures[name]['revision']}"
            prev = bundles[name].with_name(f"{name}.raucb.revision")
            if name == "3":  # the figure: release 3 (one layer changed) against the whole container set
                full = build_app_bundle(dev, out, None, work / "full-3.raucb")
        one = figures["3"]
        update_disk(work, **{f"v{k}": v for k, v in bundles.items()})
        (work / "appdemo.json").write_text(json.dumps({"revisions": revisions, "figures": {
            "update_bytes": one["bundle_bytes"], "full_bytes": full["bundle_bytes"],
            "ratio": round(full["bundle_bytes"] / one["bundle_bytes"], 1),
            "change": ("app release 2 -> 3: the app container's app layer (/app/run.sh, /app/version) changes; "
                       "its base layer (busybox), its config and the host container do not"),
            "update_files_shipped": one["blobs_shipped"]}}))

    work = shared(f"appdemo board={board}", make)
    made = json.loads((work / "appdemo.json").read_text())
    FIGURES.update(made["figures"])
    device, out = build_for(device=str(work / "appdemo-1.yml"), shell=True)
    return device, out, work / "update.img", made["revisions"]


def _sees(m: Machine) -> tuple[str, str]:
    """(app revision pycmctl status names, the version the app container reads), with every
    container healthy."""
    rc, text = m.run(f"pycmctl status; {SEES}")
    assert rc == 0, text
    rev = re.search(r"app revision ([^,\s]+)", text).group(1)
    for name in NAMES:
        assert re.search(rf"^{name}\s+healthy\s", text, re.M), text
    seen = re.search(r"^sees version (\w+)\s*$", text, re.M)
    return rev, seen.group(1) if seen else "-"


def _update(m: Machine, release: str, timeout: float = 120, option: str = "") -> tuple[int, str]:
    return m.run(f"pycmctl app-update{option} /run/update/v{release}.raucb", timeout)


CYCLE = ["2", "3", "4"]  # the power-cut trials update round these releases


def _downgrade(old: str, new: str) -> str:
    """4 -> 2 goes back to an older version (1.4.0 -> 1.2.0): anti-rollback wants it said."""
    return " --allow-downgrade" if old in CYCLE and CYCLE.index(new) < CYCLE.index(old) else ""


def _machine(appdemo, tmp_path) -> Machine:
    """A Machine of the appdemo image with the update disk attached (not started)."""
    device, out, disk, _ = appdemo
    return Machine(device.board, out / "image" / "disk.img", tmp_path / "run", extra_disks=(disk,))


def test_update_without_reboot_rollback_and_factory_reset(appdemo, tmp_path):
    revisions = appdemo[3]
    with _machine(appdemo, tmp_path) as m:
        m.start()
        m.wait_boot(NAMES)
        rc, text = m.run(f"{MOUNT_UPDATE} && pycm --verify-store")
        assert rc == 0 and "current factory" in text or "no app store" in text, text
        assert _sees(m) == ("factory", "1")
        rc, text = _update(m, "2")
        assert rc == 0 and f"committed {revisions['2']}" in text, text
        FIGURES["switch_ms"] = int(re.search(r"switch (\d+) ms", text).group(1))
        FIGURES["update_total_ms"] = int(re.search(r"total (\d+) ms", text).group(1))
        seen = m.output()
        assert "[app] app: version 2" in seen and "pycm: rebooting" not in seen
        assert seen.count("container hostos: started") == 1  # unchanged: never restarted
        assert _sees(m) == (revisions["2"], "2")
        rc, text = m.run("pycm --verify-store")
        assert rc == 0 and f"store OK: current {revisions['2']}" in text, text

        # a release that crash-loops: rolled back; timed from the failure to the old app healthy
        t = time.monotonic()
        rc, text = _update(m, "bad")
        took = time.monotonic() - t
        assert rc == 1 and f"rolled back to {revisions['2']} (rollback" in text, text
        FIGURES["rollback_ms"] = int(re.search(r"rollback (\d+) ms", text).group(1))
        FIGURES["rollback_total_ms"] = int(re.search(r"total (\d+) ms", text).group(1))
        FIGURES["rollback_command_s"] = round(took, 2)
        assert "app: version bad, broken" in m.output()
        assert _sees(m) == (revisions["2"], "2")  # healthy on the old content when the command returns
        rc, text = m.run("pycm --verify-store; ls /data/pycontainers/apps/revisions")
        assert rc == 0 and "store OK" in text, text
        assert re.findall(r"^([0-9a-f]{16})\s*$", text, re.M) == [revisions["2"][10:]], text  # bad one GC'd

        # /data full: the update is refused before anything is written, the device keeps running
        rc, text = m.run("dd if=/dev/zero of=/data/fill bs=1M 2>/dev/null; sync")
        rc, text = _update(m, "3")
        assert rc == 1 and re.search(r"needs [\d.]+ MiB on /data and [\d.]+ MiB are free .*: refused", text), text
        rc, text = m.run("pycm --verify-store; ls /data/pycontainers/apps; rm /data/fill; sync")
        assert rc == 0 and "store OK" in text and "staging" not in text, text
        assert _sees(m) == (revisions["2"], "2")

        rc, text = m.run("mkdir -p /data/volumes/app && touch /data/volumes/app/kept && sync")
        m.proc.sendline("pycmctl factory-reset --wipe-data")
        m.wait_boot(NAMES)
        rc, text = m.run("ls /data/pycontainers/apps/blobs | wc -l; test -e /data/volumes/app/kept; echo kept=$?")
        assert rc == 0 and re.search(r"^0\s*$", text, re.M) and "kept=1" in text, text  # store empty, volumes wiped
        assert _sees(m) == ("factory", "1")
        m.power_cut()
    FIGURES.setdefault("what", {}).update({
        "update_bytes": "bytes of the app bundle of release 3 made --from release 2 (one layer changed)",
        "full_bytes": "bytes of the app bundle of release 3 without --from: every file of the container set",
        "switch_ms": "pycm: from the trial pointer set (stopping the changed container) to it healthy and committed",
        "update_total_ms": "pycm: from the app-update request to the commit (verify, extract, store, switch, health)",
        "rollback_ms": "pycm: from the failure being detected (crash loop of the new app) to the old app "
                       "container healthy again",
        "rollback_total_ms": "pycm: from the app-update request of the failing release to the old app healthy again",
        "rollback_command_s": "host clock: `pycmctl app-update` of the failing release typed until it returned",
    })


def test_app_rollback_returns_to_the_previous_revision(appdemo, tmp_path):
    revisions = appdemo[3]
    with _machine(appdemo, tmp_path) as m:
        m.start()
        m.wait_boot(NAMES)
        rc, text = m.run(f"{MOUNT_UPDATE} && pycmctl app-rollback")
        assert rc == 1 and "no previous revision to roll back to (running factory)" in text, text
        for release in ("2", "3"):
            rc, text = _update(m, release)
            assert rc == 0 and f"committed {revisions[release]}" in text, text
        rc, text = m.run("pycmctl app-rollback", 120)
        assert rc == 0 and f"committed {revisions['2']} (from {revisions['3']}" in text, text
        assert _sees(m) == (revisions["2"], "2")
        rc, text = m.run("pycm --verify-store")
        assert rc == 0 and f"store OK: current {revisions['2']}" in text, text
        # the rolled-back-to revision stays after a power cut: it is committed
        m.power_cut()
        m.start()
        m.wait_boot(NAMES)
        assert _sees(m) == (revisions["2"], "2")
        assert "[app] app: version 2" in m.output()
        m.power_cut()


# kill -9 every pycm-store (by its command name: busybox has no pidof in every image)
KILL_STORE = ("for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = pycm-store ] && kill -9 ${p#/proc/} "
              "&& echo killed ${p#/proc/}; done; true")


def test_pycm_store_killed_during_app_updates(appdemo, tmp_path):
    """pycm-store (the staging, the revision being built, the GC) killed with SIGKILL at seeded
    moments after an update starts: PID 1 carries on; an update whose staging died fails with one
    line naming the kill and the device keeps its revision (pycmctl status says both), every
    container healthy and seeing that revision's content; the store verifies; and the next update
    commits."""
    revisions = appdemo[3]
    version = {rev: rel for rel, rev in revisions.items()}
    rng = random.Random(KILL_SEED)
    trials = []
    with _machine(appdemo, tmp_path) as m:
        m.start()
        m.wait_boot(NAMES)
        rc, _ = m.run(MOUNT_UPDATE)
        assert rc == 0
        running = "1"
        for i in range(6):
            new = CYCLE[(CYCLE.index(running) + 1) % len(CYCLE)] if running in CYCLE else "2"
            rc, _ = m.run("rm -f /tmp/upd.rc /tmp/upd.out")
            m.proc.sendline(f"(pycmctl app-update{_downgrade(running, new)} /run/update/v{new}.raucb > /tmp/upd.out "
                            "2>&1; echo $? > /tmp/upd.rc) &")
            m.expect(r"pycm: app update: staging", 60)
            delay = rng.uniform(0, 1.5)  # staging on TCG: rauc info and extract take seconds
            _read_for(m, delay)
            rc, killed = m.run(KILL_STORE)
            rc, text = m.run("while [ ! -e /tmp/upd.rc ]; do sleep 1; done; cat /tmp/upd.rc /tmp/upd.out", 180)
            code = int(re.search(r"^(\d+)\s*$", text, re.M).group(1))  # a container's console line may come first
            if code == 0:
                assert f"committed {revisions[new]}" in text, text
                running = new
            else:
                assert "pycm-store --app-stage was killed by signal 9" in text, text
                assert f"the device keeps {revisions[running]}" in text, text
                rc, status = m.run("pycmctl status")
                assert "app store: pycm-store --app-stage was killed by signal 9" in status, status
            assert _sees(m) == (revisions[running], running), f"trial {i}: {text}"
            rc, text = m.run("pycm --verify-store")
            assert rc == 0 and f"store OK: current {revisions[running]}" in text, text
            trials.append({"delay_s": round(delay, 2), "killed": "killed" in killed, "update": "failed" if code else
                           "committed", "runs": version.get(revisions[running], running)})
        assert any(t["update"] == "failed" for t in trials), trials
        new = CYCLE[(CYCLE.index(running) + 1) % len(CYCLE)] if running in CYCLE else "2"
        rc, text = _update(m, new, option=_downgrade(running, new))
        assert rc == 0 and f"committed {revisions[new]}" in text, text
        assert "pycm: rebooting" not in m.output() and "Kernel panic" not in m.output()
        m.power_cut()
    FIGURES["store_kills"] = {"seed": KILL_SEED, "trials": trials}


# console lines of an update, in order: the phase a cut fell in is the last one seen
PHASES = [
    ("verify (rauc info)", "pycm: app update: staging"),
    ("extract, blobs, revision rename", "pycm-store: app update: extracting"),
    ("trial switch, stopping the app", "pycm: app update: switching to"),
    ("container restart, health wait", "pycm: container app: started"),
    ("commit", "pycm: container app: healthy"),
    ("GC, reply", "pycm: app update: committed"),
    ("done", "\ncommitted revisions/"),
]
# cuts timed on a console line (every fourth trial), a few milliseconds after it
CUT_AT = ["pycm-store: app update: extracting", "pycm: app update: switching to", "pycm: container app: started",
          "pycm: container app: healthy", "pycm: app update: committed"]


def _read_for(m: Machine, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:  # keep reading: the console log is the record
        try:
            m.proc.read_nonblocking(65536, timeout=min(left, 0.05))
        except pexpect.TIMEOUT:
            pass


@pytest.mark.faults
def test_power_cuts_during_app_updates(appdemo, tmp_path):
    """Power cut (QMP quit) at TRIALS seeded moments of an app update (random delays over a
    measured full update, and cuts right after its console lines): after the next boot the
    device runs exactly the old or the new revision, every container healthy and seeing that
    revision's content, the store verifies (pycm --verify-store), and a following update applies.
    One Machine throughout: each trial starts where the one before ended."""
    revisions = appdemo[3]
    version = {rev: rel for rel, rev in revisions.items()}
    cycle = CYCLE
    rng = random.Random(SEED)
    trials, failed = [], []
    with _machine(appdemo, tmp_path) as m:
        m.start()
        m.wait_boot(NAMES)
        rc, _ = m.run(MOUNT_UPDATE)
        assert rc == 0
        t = time.monotonic()
        m.proc.sendline("pycmctl app-update /run/update/v2.raucb")
        m.expect(r"pycm: app update: committed", 120)
        span = time.monotonic() - t  # a whole update, typed to committed: the cuts are spread over it
        rc, text = m.run("true")
        assert rc == 0, text
        running = "2"
        for i in range(TRIALS):
            t0 = time.monotonic()
            old = running
            new = cycle[(cycle.index(old) + 1) % len(cycle)] if old in cycle else "2"
            before = len(m.output())
            m.proc.sendline(f"pycmctl app-update{_downgrade(old, new)} /run/update/v{new}.raucb")
            if i % 4 == 3:
                marker = CUT_AT[(i // 4) % len(CUT_AT)]
                m.expect(re.escape(marker), 60)
                delay = rng.uniform(0, 0.02)
                when = f"{delay * 1000:3.0f} ms after '{marker.split(': ', 1)[1]}'"
            else:
                delay = (i - i // 4 + rng.random()) * span / (TRIALS - TRIALS // 4)  # stratified
                when = f"{delay:5.2f} s after the command"
            _read_for(m, delay)
            seen = m.output()[before:]
            phase = "before staging"
            for name, line in PHASES:
                if line in seen:
                    phase = name
            m.power_cut()
            m.start()
            ok, why, rev, sees = False, "", "-", "-"
            try:
                m.wait_boot(NAMES, timeout=120)
                rev, sees = _sees(m)
                rc, text = m.run(f"pycm --verify-store; {MOUNT_UPDATE}")
                store_ok = rc == 0 and "store OK" in text
                booted = version.get(rev, "?")
                if booted not in (old, new) or sees != booted or not store_ok:
                    why = f"runs {rev} (release {booted}), sees {sees}, store: {text.strip()[-300:]}"
                else:
                    following = cycle[(cycle.index(booted) + 1) % len(cycle)]
                    rc, text = _update(m, following, option=_downgrade(booted, following))
                    ok = rc == 0 and f"committed {revisions[following]}" in text and _sees(m)[1] == following
                    why = "" if ok else f"the following update to {following} failed: {text.strip()[-300:]}"
                    running = following
            except (TimeoutError, RuntimeError, AssertionError, AttributeError) as e:
                why = str(e)[-500:]
            took = time.monotonic() - t0
            trials.append({"trial": i, "cut": when, "phase": phase, "from": old, "to": new,
                           "booted": version.get(rev, rev), "sees": sees, "ok": ok, "s": round(took, 1)})
            print(f"app power cut {i:2d} {when:45s} ({phase}): {old} -> {new}, booted {version.get(rev, rev)}, "
                  f"sees {sees}, {'OK' if ok else 'FAILED ' + why} [{took:.1f} s]")
            if not ok:
                failed.append((i, why))
                if rev == "-":
                    break  # the device did not come up: the next trials would not start from a known state
        m.power_cut()
    FIGURES.setdefault("what", {})["power_cuts"] = (
        "QMP quit during an app update (a seeded delay over update_span_s, or ms after a console line), boot, "
        "then: pycmctl status names the old or the new revision, every container healthy, the app reads that "
        "revision's /app/version, pycm --verify-store sound, and a following update commits; s: seconds per trial")
    FIGURES["power_cuts"] = {"seed": SEED, "passed": len(trials) - len(failed), "total": TRIALS,
                             "update_span_s": round(span, 2), "trials": trials}
    assert not failed, failed
    phases = {t["phase"] for t in trials}
    assert len(phases) >= 4, f"the cuts fell in too few phases of the update: {phases}"
