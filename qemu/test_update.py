"""A/B system updates end to end in QEMU (issue 4): signed RAUC bundles installed from a disk and
over HTTP, boot counting, rollback of bad updates, bad bundles refused, power cuts.

The device is the reference device with a root shell on the console (debug.console_shell), which
the tests type commands into, as a technician would. Figures (bundle size, install time, reboot to
ready, rollbacks, power-cut trials) are written to build/reports/update.json for
bench/update.py.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import gzip
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pexpect
import pytest

from pycontainers.pipeline import build_slot_bundle as build_bundle
from pycontainers.rauc import pack_bundle
from pycontainers.keys import signing_keys
from pycontainers.model import load_board
from pycontainers.bootcheck import MOUNT_UPDATE, update_disk  # noqa: F401  (test_app_update uses them too)
from pycontainers.qemu import Machine

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "reports" / "update.json"
SEED = int(os.environ.get("PYCONTAINERS_POWERCUT_SEED", "683"))
TRIALS = int(os.environ.get("PYCONTAINERS_POWERCUT_TRIALS", "20"))

pytestmark = pytest.mark.update

FIGURES: dict = {}


def merge_report(report: Path, figures: dict) -> None:
    """Write a test module's figures into its JSON report over what an earlier run left there
    (a run of some boards keeps the others' "boards" entries)."""
    if not figures:
        return
    report.parent.mkdir(parents=True, exist_ok=True)
    with open(report.with_suffix(".lock"), "w") as lock:  # xdist workers each merge theirs
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = json.loads(report.read_text()) if report.exists() else {}
        boards = {**old.get("boards", {}), **figures.get("boards", {})}
        report.write_text(json.dumps({**old, **figures, **({"boards": boards} if boards else {})}, indent=2) + "\n")


@pytest.fixture(scope="module", autouse=True)
def report():
    yield FIGURES
    merge_report(REPORT, FIGURES)


@pytest.fixture(scope="module")
def dev(build_for):
    """(Device, OUTPUT) of the reference device with a console shell, built once."""
    return build_for(shell=True)


@pytest.fixture(scope="module")
def make_bundle(dev, shared):
    """make_bundle(kind) -> bundle file, built once per kind and session (see VARIANTS)."""
    device, out = dev

    @functools.cache
    def make(kind: str) -> Path:
        return shared(f"bundle {kind} of {out}", lambda where: _make_bundle(kind, device, out, where, make)) \
            / f"{kind}.raucb"
    return make


def _make_bundle(kind: str, device, out: Path, where: Path, make) -> Path:
    """One bundle of `kind` in `where` (make: make_bundle's own, for the good one it alters)."""
    path = where / f"{kind}.raucb"
    if kind in ("good", "flipped-signature", "flipped-payload", "other-key", "panic", "no-init"):
        good = build_bundle(device, out, "2.0.0", where / "good.raucb") if kind == "good" else make("good")
        if kind == "good":
            return good
        image = out / "versions" / "2.0.0" / "image" / device.storage.slots[0].image
        manifest = out / "versions" / "2.0.0" / "generated" / "contract" / "rauc" / "manifest.raucm"
        keys = signing_keys(device, out)
        if kind.startswith("flipped"):
            # a verity bundle: squashfs payload, CMS signature, 8-byte signature size
            data = bytearray(good.read_bytes())
            sig_size = int.from_bytes(data[-8:], "big")
            sig_start = len(data) - 8 - sig_size
            data[sig_start + sig_size // 2 if kind == "flipped-signature" else sig_start // 2] ^= 0x01
            path.write_bytes(bytes(data))
            return path
        if kind == "other-key":
            other = signing_keys(device, where / "other")  # a second, unrelated key pair
            return pack_bundle(manifest, image, image.name, other.cert, other.key, path)
        broken = where / f"{kind}.ext4"
        shutil.copy(image, broken)
        if kind == "panic":
            # the kernel crashes as soon as it runs init: a second cpio archive appended to the
            # initramfs replaces /init (later archives win) with a sysrq crash
            initramfs = where / "panic.cpio.gz"
            initramfs.write_bytes(subprocess.run(["debugfs", "-R", "cat /boot/initramfs.cpio.gz", str(image)],
                                                 capture_output=True, check=True).stdout)
            extra = where / "panic-init"
            extra.mkdir()
            (extra / "init").write_text("#!/bin/sh\nmount -t proc proc /proc\necho c > /proc/sysrq-trigger\n")
            (extra / "init").chmod(0o755)
            cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], input=b"init\n",
                                  cwd=extra, capture_output=True, check=True).stdout
            with open(initramfs, "ab") as f:
                f.write(gzip.compress(cpio))
            _debugfs(broken, "rm /boot/initramfs.cpio.gz", f"write {initramfs} /boot/initramfs.cpio.gz")
        else:  # no manager: the initramfs /init finds nothing to switch_root to and reboots
            _debugfs(broken, "rm /sbin/pycm")
        return pack_bundle(manifest, broken, image.name, keys.cert, keys.key, path)
    if kind == "older":  # the device file's system, an older version than the image's 1.0.0
        return build_bundle(device, out, "0.9.0", path)
    variant = VARIANTS[kind](device)
    return build_bundle(variant, out, f"2.0.0-{kind}", path)


def _debugfs(image: Path, *requests: str) -> None:
    for req in requests:
        r = subprocess.run(["debugfs", "-w", "-R", req, str(image)], capture_output=True, text=True)
        assert r.returncode == 0 and "rror" not in r.stderr.replace("debugfs 1.", ""), r.stderr


def _with_command(device, name: str, script: str, **changes):
    conts = tuple(dataclasses.replace(c, command=("/bin/busybox", "sh", "-c", script), **changes)
                  if c.name == name else c for c in device.containers)
    return dataclasses.replace(device, containers=conts)


VARIANTS = {
    # a required container that crash-loops in the new slot
    "crashloop": lambda d: _with_command(d, "counter", "echo counter: crashing; exit 1",
                                         crash_loop=(3, 60), backoff=(0, 0)),
    # the manager hangs (frozen with the cgroup freezer) before the boot is good: the watchdog resets
    "hang": lambda d: _with_command(d, "hostos", "mkdir -p /sys/fs/cgroup/hang; "
                                    "echo 1 > /sys/fs/cgroup/hang/cgroup.procs; echo 1 > /sys/fs/cgroup/hang/cgroup.freeze; "
                                    "echo 'hostos: manager frozen' > /dev/console; sleep 600"),
}


def names(device) -> list[str]:
    return [c.name for c in device.containers]


def boot_committed_a(m: Machine, device) -> None:
    """First boot of the factory image: slot A on trial, good, committed; then data to keep."""
    m.start()
    m.wait_boot(names(device))
    rc, _ = m.run("dd if=/dev/urandom of=/data/keep.bin bs=1024 count=256 2>/dev/null && "
                  "sha256sum /data/keep.bin > /data/keep.sha256 && sync")
    assert rc == 0


def install_from_disk(m: Machine, timeout: float = 120) -> tuple[int, str, float]:
    rc, _ = m.run(MOUNT_UPDATE)
    assert rc == 0
    t = time.monotonic()
    rc, out = m.run("rauc install /run/update/update.raucb", timeout)
    return rc, out, time.monotonic() - t


def env_now(m: Machine) -> dict[str, str]:
    rc, out = m.run("fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT")
    assert rc == 0
    return dict(re.findall(r"^(BOOT_\w+)=([^\r\n]*)", out, re.M))


def test_good_update_from_disk_a_to_b(dev, make_bundle, tmp_path):
    device, out = dev
    bundle = make_bundle("good")
    FIGURES["bundle_size_mib"] = round(bundle.stat().st_size / 2**20, 1)
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run",
                 extra_disks=(update_disk(tmp_path, update=bundle),)) as m:
        boot_committed_a(m, device)
        rc, text, took = install_from_disk(m)
        assert rc == 0, text
        FIGURES["install_s"] = round(took, 1)
        assert env_now(m) == {"BOOT_ORDER": "B A", "BOOT_A_LEFT": str(device.boot_confirmed),
                              "BOOT_B_LEFT": str(device.boot_attempts)}  # rauc: boot-attempts-primary
        t = time.monotonic()
        m.proc.sendline("reboot")
        timeline = m.wait_boot(names(device))
        FIGURES["reboot_to_ready_s"] = round(time.monotonic() - t, 1)
        assert "slot B chosen" in timeline.format()
        assert f"pycontainers-boot: slot B (trial, {device.boot_attempts - 1} tries left)" in m.output()
        rc, text = m.run("cat /etc/pycontainers/release; sha256sum -c /data/keep.sha256")
        assert rc == 0 and "2.0.0" in text and "keep.bin: OK" in text
        assert env_now(m)["BOOT_B_LEFT"] == str(device.boot_confirmed)  # committed after the health gate
        rc, text = m.run("rauc status --detailed")
        assert rc == 0 and re.search(r"Booted from: rootfs\.1 \(B\)", text), text
        m.power_cut()


def test_update_over_http(dev, make_bundle, tmp_path):
    """RAUC fetches the bundle from an HTTP server on the host's loopback (QEMU user networking:
    the host is 10.0.2.2). Debian's rauc 1.8 is built without streaming: it downloads, then
    installs."""
    device, out = dev
    bundle = make_bundle("good")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Machine(device.board, out / "image" / "disk.img", tmp_path / "run", net=True) as m:
            boot_committed_a(m, device)
            rc, text = m.run("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
                             "ip route add default via 10.0.2.2")
            assert rc == 0, text
            t = time.monotonic()
            rc, text = m.run(f"rauc install http://10.0.2.2:{server.server_port}/{bundle.name}", 180)
            assert rc == 0, text
            FIGURES["install_http_s"] = round(time.monotonic() - t, 1)
            m.proc.sendline("reboot")
            assert "slot B chosen" in m.wait_boot(names(device)).format()
            rc, text = m.run("cat /etc/pycontainers/release")
            assert "2.0.0" in text
            m.power_cut()
    finally:
        server.shutdown()


@pytest.mark.parametrize("kind", ["flipped-signature", "other-key"])
def test_bad_bundle_is_refused_and_nothing_changes(kind, dev, make_bundle, tmp_path):
    device, out = dev
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run",
                 extra_disks=(update_disk(tmp_path, update=make_bundle(kind)),)) as m:
        boot_committed_a(m, device)
        before = env_now(m)
        rc, slot_b = m.run("sha256sum /dev/disk/by-partlabel/rootfs_b")
        rc, text, _ = install_from_disk(m)
        assert rc != 0
        assert re.search(r"signature|[Vv]erif|hash", text), text
        assert env_now(m) == before
        rc, after = m.run("sha256sum /dev/disk/by-partlabel/rootfs_b")
        assert re.findall(r"[0-9a-f]{64}", after) == re.findall(r"[0-9a-f]{64}", slot_b)  # slot B untouched
        m.power_cut()


def test_an_older_system_bundle_is_refused_unless_allowed(dev, make_bundle, tmp_path):
    """Anti-rollback of system bundles with the real `rauc install`: RAUC's pre-install handler
    (pycm, system.conf [handlers]) refuses a bundle older than the running system before anything
    is written; `pycmctl system-update --allow-downgrade` installs it, and the device boots it."""
    device, out = dev
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run",
                 extra_disks=(update_disk(tmp_path, update=make_bundle("older")),)) as m:
        boot_committed_a(m, device)
        before = env_now(m)
        rc, slot_b = m.run("sha256sum /dev/disk/by-partlabel/rootfs_b")
        rc, text, _ = install_from_disk(m)
        assert rc != 0 and "system bundle version 0.9.0 is older than the running 1.0.0: refused" in text, text
        assert env_now(m) == before
        rc, after = m.run("sha256sum /dev/disk/by-partlabel/rootfs_b")
        assert re.findall(r"[0-9a-f]{64}", after) == re.findall(r"[0-9a-f]{64}", slot_b)  # slot B untouched
        rc, text = m.run("pycmctl system-update /run/update/update.raucb", 120)  # pycmctl without the option
        assert rc != 0 and "older than the running 1.0.0" in text, text
        rc, text = m.run("pycmctl system-update --allow-downgrade /run/update/update.raucb; echo rc=$?; "
                         "ls /run/pycm", 180)
        assert "rc=0" in text and "allow-downgrade" not in text.split("rc=0")[1], text  # the marker is gone
        assert env_now(m)["BOOT_ORDER"] == "B A"
        m.proc.sendline("reboot")
        assert "slot B chosen" in m.wait_boot(names(device)).format()
        rc, text = m.run("grep VERSION= /etc/pycontainers/release; sha256sum -c /data/keep.sha256")
        assert rc == 0 and "VERSION=0.9.0" in text and "keep.bin: OK" in text, text
        m.power_cut()


def test_corrupt_payload_is_caught_while_writing_and_b_never_boots(dev, make_bundle, tmp_path):
    """A byte flipped in the payload of a verity bundle: the signature (over the manifest and the
    verity root hash) is fine, so RAUC starts; dm-verity fails the read of the corrupt block. RAUC
    marked slot B bad before writing it, so the half-written B is never booted; A stays committed
    and /data is intact. (Plain bundles are refused before writing, but cost a full hash pass and
    are disabled: bundle-formats=-plain.)"""
    device, out = dev
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run",
                 extra_disks=(update_disk(tmp_path, update=make_bundle("flipped-payload")),)) as m:
        boot_committed_a(m, device)
        rc, text, _ = install_from_disk(m)
        assert rc != 0 and "Input/output error" in text, text
        env = env_now(m)
        assert env["BOOT_A_LEFT"] == str(device.boot_confirmed) and env["BOOT_B_LEFT"] == "0", env
        assert env["BOOT_ORDER"].split()[0] == "A"
        m.proc.sendline("reboot")
        m.wait_boot(names(device))
        assert "pycontainers-boot: slot A (committed)" in m.output()
        rc, text = m.run("sha256sum -c /data/keep.sha256")
        assert rc == 0 and "keep.bin: OK" in text
        m.power_cut()


FAILURES = {
    "panic": r"Kernel panic - not syncing: sysrq triggered crash",
    "no-init": r"pycontainers-initramfs: rootfs_b has no /sbin/pycm; rebooting",
    "crashloop": r"pycm: boot NOT good: container counter is in a crash loop",
    "hang": r"hostos: manager frozen",
}


@pytest.mark.faults
@pytest.mark.parametrize("kind", list(FAILURES))
def test_bad_update_rolls_back_to_a(kind, dev, make_bundle, tmp_path):
    """The new slot fails every try (kernel panic, no init, a crash-looping required container, a
    hung manager reset by the watchdog): after boot_attempts tries the committed slot A boots."""
    device, out = dev
    FIGURES.setdefault("rollbacks", {})
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run",
                 extra_disks=(update_disk(tmp_path, update=make_bundle(kind)),)) as m:
        boot_committed_a(m, device)
        rc, text, _ = install_from_disk(m)
        assert rc == 0, text
        m.proc.sendline("reboot")
        for left in range(device.boot_attempts - 1, -1, -1):
            m.expect(rf"pycontainers-boot: slot B \(trial, {left} tries left\)", 90)
            m.expect(FAILURES[kind], 90)
        timeline = m.wait_boot(names(device), timeout=120)
        assert "slot A chosen" in timeline.format()
        assert "pycontainers-boot: slot A (committed)" in m.output()
        rc, text = m.run("cat /etc/pycontainers/release; sha256sum -c /data/keep.sha256")
        assert rc == 0 and "1.0.0" in text and "keep.bin: OK" in text
        assert env_now(m) == {"BOOT_ORDER": "B A", "BOOT_A_LEFT": str(device.boot_confirmed), "BOOT_B_LEFT": "0"}
        m.power_cut()
    FIGURES["rollbacks"][kind] = "rolled back"


@pytest.fixture(scope="module")
def committed_base(dev, make_bundle, shared) -> tuple[Path, Path]:
    """A disk state with slot A committed and /data/keep.bin written (a qcow2 overlay of the
    image), and the update disk holding the good bundle; made once per session."""
    device, out = dev
    good = make_bundle("good")

    def make(where: Path) -> None:
        update_disk(where, update=good)
        with Machine(device.board, out / "image" / "disk.img", where / "run") as m:
            boot_committed_a(m, device)
            m.power_cut()
            shutil.copy(m.overlay, where / "base.qcow2")
    where = shared(f"committed base of {out}", make)
    return where / "base.qcow2", where / "update.img"


def machine_from(base: Path, dev, workdir: Path, **kw) -> Machine:
    device, out = dev
    m = Machine(device.board, out / "image" / "disk.img", workdir, **kw)
    shutil.copy(base, m.overlay)
    return m


def test_power_cuts_in_u_boot_never_cost_a_committed_slot(dev, committed_base, tmp_path):
    """rauc/rauc#683: power lost before the kernel starts, again and again, on a committed slot."""
    device, _ = dev
    base, _ = committed_base
    rng = random.Random(SEED)
    with machine_from(base, dev, tmp_path / "run") as m:
        for _ in range(6):
            m.start()
            m.expect(r"pycontainers-boot: boot state", 30)
            time.sleep(rng.uniform(0, 0.4))  # somewhere between the state read and the kernel start
            m.power_cut()
            env = m.boot_env()
            assert env["BOOT_A_LEFT"] == str(device.boot_confirmed), env
        m.start()
        m.wait_boot(names(device))
        assert "pycontainers-boot: slot A (committed)" in m.output()


@pytest.mark.faults
def test_power_cuts_during_install_and_first_boot(dev, committed_base, tmp_path):
    """Power cut (QMP quit) at TRIALS seeded moments spread over `rauc install` and the reboot
    into the new slot: every trial ends in a good boot, of A or B, with /data intact."""
    device, _ = dev
    base, disk = committed_base
    rng = random.Random(SEED)
    # the span the cuts are spread over: `rauc install` typed -> B committed, measured on this
    # host now (a slower host, or one running other tests, stretches every phase alike)
    with machine_from(base, dev, tmp_path / "measure", extra_disks=(disk,)) as m:
        m.start()
        m.wait_boot(names(device))
        rc, _ = m.run(MOUNT_UPDATE)
        assert rc == 0
        t = time.monotonic()
        m.proc.sendline("rauc install /run/update/update.raucb && reboot")
        m.expect(r"pycm: boot good \(slot B\)", 300)
        span = time.monotonic() - t
    trials, failed = [], []
    for i in range(TRIALS):
        delay = (i + rng.random()) * span / TRIALS  # stratified: every part of the span is hit
        with machine_from(base, dev, tmp_path / f"trial{i}", extra_disks=(disk,)) as m:
            m.start()
            m.wait_boot(names(device))
            rc, _ = m.run(MOUNT_UPDATE)
            assert rc == 0
            m.proc.sendline("rauc install /run/update/update.raucb && reboot")
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:  # keep reading: the console log is the record
                try:
                    m.proc.read_nonblocking(65536, timeout=min(left, 0.1))
                except pexpect.TIMEOUT:
                    pass
            seen = m.output()
            phase = ("after the commit" if "pycm: boot good (slot B)" in seen
                     else "first boot of B" if "slot B (trial" in seen
                     else "reboot" if "pycm: rebooting" in seen else "install")
            m.power_cut()
            m.start()
            try:
                timeline = m.wait_boot(names(device), timeout=150)
                slot = "B" if "slot B chosen" in timeline.format() else "A"
                rc, text = m.run("sha256sum -c /data/keep.sha256")
                ok = rc == 0 and "keep.bin: OK" in text
            except (TimeoutError, RuntimeError) as e:
                slot, ok = "-", False
                text = str(e)
            m.power_cut()
        trials.append({"trial": i, "delay_s": round(delay, 2), "phase": phase, "booted": slot, "ok": ok})
        print(f"power cut {i:2d} at {delay:5.2f} s ({phase}): booted {slot}, data {'OK' if ok else 'LOST'}")
        if not ok:
            failed.append((i, text[-500:]))
    FIGURES["power_cuts"] = {"seed": SEED, "passed": TRIALS - len(failed), "total": TRIALS,
                             "span_s": round(span, 1), "trials": trials}
    assert not failed, failed
    phases = {t["phase"] for t in trials}
    assert {"install", "first boot of B"} <= phases, f"the cuts did not cover both phases: {phases}"


# every QEMU board but the reference one, whose update tests are the ones above;
# PYCONTAINERS_AB_BOARDS=all includes it (bench/boards.py --ab, for the per-board figures)
BOARDS = sorted(p.stem for p in (ROOT / "conf" / "boards").glob("*.yml") if load_board(p).qemu is not None
                and (p.stem != "qemuarm64" or os.environ.get("PYCONTAINERS_AB_BOARDS") == "all"))


@pytest.mark.parametrize("board", BOARDS)
def test_every_qemu_board_updates_and_rolls_back(board, build_for, tmp_path):
    """On each QEMU board (the boot matrix of issue 7): a good update A -> B, then a
    crash-looping update into A that rolls back to the committed B; /data intact throughout."""
    device, out = build_for(board, shell=True)
    good = build_bundle(device, out, "2.0.0", tmp_path / "good.raucb")
    bad = build_bundle(VARIANTS["crashloop"](device), out, "3.0.0-crashloop", tmp_path / "bad.raucb")
    disk = update_disk(tmp_path, good=good, bad=bad)
    t0 = time.monotonic()
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run", extra_disks=(disk,)) as m:
        boot_committed_a(m, device)
        rc, _ = m.run(MOUNT_UPDATE)
        assert rc == 0
        rc, text = m.run("rauc install /run/update/good.raucb", 180)
        assert rc == 0, text
        m.proc.sendline("reboot")
        assert "slot B chosen" in m.wait_boot(names(device), timeout=180).format()
        rc, text = m.run(f"grep VERSION /etc/pycontainers/release && {MOUNT_UPDATE} && "
                         "rauc install /run/update/bad.raucb", 180)
        assert rc == 0 and "2.0.0" in text, text
        m.proc.sendline("reboot")
        for left in range(device.boot_attempts - 1, -1, -1):
            m.expect(rf"pycontainers-boot: slot A \(trial, {left} tries left\)", 120)
            m.expect(FAILURES["crashloop"], 120)
        timeline = m.wait_boot(names(device), timeout=180)
        assert "slot B chosen" in timeline.format() and "pycontainers-boot: slot B (committed)" in m.output()
        rc, text = m.run("grep VERSION /etc/pycontainers/release; sha256sum -c /data/keep.sha256")
        assert rc == 0 and "2.0.0" in text and "keep.bin: OK" in text
        m.power_cut()
    FIGURES.setdefault("boards", {})[board] = {"ab_test_s": round(time.monotonic() - t0, 1)}
