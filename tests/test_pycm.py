"""Black-box tests of the pycm binary on the host (--no-pid1) with a fake crun.

The fake crun runs each container's `run.sh` from its bundle directory as the container process
and logs every call, so start order, restarts, health and the orderly stop can be observed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT
from pycm_host import Device, ctl, stop, wait_for


@pytest.fixture
def dev(tmp_path) -> Device:
    return Device(tmp_path)


def test_dependency_waits_for_health_then_boot_is_marked_good(pycm, dev):
    ready = dev.base / "a-ready"
    dev.container("a", f"sleep 0.5; touch {ready}; echo a up; exec sleep 60", health=f"ready-file {ready}")
    dev.container("b", "echo b up; exec sleep 60", depends_on="a")
    p = dev.start(pycm)
    lines = wait_for(p, "boot good (slot A)")
    order = [l for l in lines if l.startswith("pycm: container")]
    assert order == ["pycm: container a: started (pid %s)" % order[0].split("pid ")[1].rstrip(")"),
                     "pycm: container a: healthy", order[2], "pycm: container b: healthy"]
    assert order[2].startswith("pycm: container b: started")
    assert "[a] a up" in lines
    # committed: boot-confirmed (boot-attempts + 1), which the boot script never counts down
    assert (dev.base / "fw_setenv.log").read_text() == "BOOT_A_LEFT 4\n"
    code, out = stop(p)
    assert code == 3  # SIGTERM means reboot, as with busybox init
    stopped = [c for c in dev.calls() if c.startswith("kill")]
    assert stopped[:2] == ["kill b TERM", "kill a TERM"]  # reverse dependency order


def test_restart_policies(pycm, dev):
    dev.container("always", "echo run; exit 0", restart="always", crash_loop="50 60", backoff="0 0")
    dev.container("onfail-ok", "exit 0", restart="on-failure", required="false")
    dev.container("never", "exit 1", restart="never", required="false")
    p = dev.start(pycm)
    wait_for(p, "container always: restarting")
    wait_for(p, "container always: restarting")
    code, out = stop(p, signal.SIGUSR2)
    assert code == 0  # SIGUSR2: power off
    assert "container onfail-ok: restarting" not in out and "container never: restarting" not in out
    runs = [c for c in dev.calls() if c.startswith("run") and c.endswith(" always")]
    assert len(runs) >= 3


def test_crash_loop_means_boot_not_good(pycm, dev):
    dev.container("crashy", "exit 7", restart="on-failure", crash_loop="3 60", backoff="0 1")
    p = dev.start(pycm)
    out, _ = p.communicate(timeout=30)
    assert "pycm: container crashy: exited (status 7)" in out
    assert "pycm: container crashy: failed (crash loop: 3 restarts within 60 s)" in out
    assert "pycm: boot NOT good: container crashy is in a crash loop" in out
    assert p.returncode == 3 and not (dev.base / "fw_setenv.log").exists()


def test_crash_loop_of_the_longest_window_is_detected(pycm, dev):
    # one day, the maximum the manifest allows (window * 1000 once overflowed an int for larger ones)
    dev.container("crashy", "exit 7", restart="on-failure", crash_loop="3 86400", backoff="0 0")
    p = dev.start(pycm)
    out, _ = p.communicate(timeout=30)
    assert "pycm: container crashy: failed (crash loop: 3 restarts within 86400 s)" in out
    assert p.returncode == 3


def test_a_crash_loop_window_over_a_day_is_refused(pycm, dev):
    # 2147484 s: window * 1000 wrapped negative in an int, and the loop restarted forever
    dev.container("crashy", "exit 7", restart="on-failure", crash_loop="3 2147484", backoff="0 0")
    p = dev.start(pycm)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        raise AssertionError("pycm took a window of 2147484 s and kept restarting:\n" + out[-2000:]) from None
    assert ("pycm: manifest:23: crash-loop: '3 2147484' is not 'N T' (1 <= N <= 64 restarts within "
            "1 <= T <= 86400 seconds)") in out
    assert "pycm: boot NOT good: the manifest is invalid" in out and p.returncode == 3


def test_committed_slot_is_not_written_again(pycm, dev):
    (dev.base / "env" / "BOOT_A_LEFT").write_text("4\n")
    dev.container("a", "exec sleep 60")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    stop(p)
    assert not (dev.base / "fw_setenv.log").exists()  # no env write on a committed slot's boots


def test_failed_boot_of_committed_slot_makes_it_a_trial_slot(pycm, dev):
    (dev.base / "env" / "BOOT_A_LEFT").write_text("4\n")
    dev.container("crashy", "exit 7", restart="on-failure", crash_loop="2 60", backoff="0 0")
    p = dev.start(pycm)
    out, _ = p.communicate(timeout=30)
    assert "pycm: slot A was committed; it is a trial slot again (3 tries)" in out
    assert (dev.base / "fw_setenv.log").read_text() == "BOOT_A_LEFT 3\n"


def test_failed_boot_of_trial_slot_writes_nothing(pycm, dev):
    (dev.base / "env" / "BOOT_A_LEFT").write_text("2\n")  # the boot script took a try already
    dev.container("crashy", "exit 7", restart="on-failure", crash_loop="2 60", backoff="0 0")
    p = dev.start(pycm)
    out, _ = p.communicate(timeout=30)
    assert "boot NOT good" in out and not (dev.base / "fw_setenv.log").exists()


def test_services_run_on_the_host_before_their_dependants_and_stop_after_them(pycm, dev):
    sock = dev.base / "bus.sock"
    # a service that forks a child (as daemons do): the whole process group is stopped
    (dev.base / "bus.sh").write_text(f"sleep 0.3; touch {sock}; echo bus up; sleep 60 & wait\n")
    dev.service("bus", f"/bin/sh {dev.base}/bus.sh", health=f"ready-file {sock}", runtime_dir=f"{dev.base}/rt/bus")
    dev.service("upd", "/bin/sleep 60", depends_on="bus", health=f"exec test -e {sock}")
    dev.container("app", "exec sleep 60", depends_on="upd")
    p = dev.start(pycm)
    lines = wait_for(p, "boot good (slot A)")
    events = [l.split(": ", 1)[1] for l in lines if l.startswith("pycm: service") or l.startswith("pycm: container")]
    assert [e.split(" (")[0] for e in events] == [
        "service bus: started", "service bus: healthy", "service upd: started", "service upd: healthy",
        "container app: started", "container app: healthy"]
    code, out = stop(p)
    assert code == 3
    order = [l for l in out.splitlines() if ": stopping" in l]
    assert order == ["pycm: container app: stopping", "pycm: service upd: stopping", "pycm: service bus: stopping"]
    assert "did not stop" not in out
    assert not any(c.startswith("run") and "bus" in c for c in dev.calls())  # services do not go through crun
    assert (dev.base / "rt" / "bus").is_dir()


def test_host_container_stop_signals_all_its_processes(pycm, dev):
    """A host container shares the host's PID namespace: daemons it started in the background
    outlive its init, so the stop signals every process of the container (crun kill --all)."""
    dev.container("host", "exec sleep 60", role="host")
    dev.container("app", "exec sleep 60")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    stop(p)
    assert [c for c in dev.calls() if c.startswith("kill")][:2] == ["kill app TERM", "kill --all host TERM"]


def test_backoff_doubles(pycm, dev):
    dev.container("slow", "exit 1", restart="always", backoff="1 2", crash_loop="9 60")
    p = dev.start(pycm)
    lines = []
    for _ in range(3):
        lines += wait_for(p, "container slow: restarting")
    stop(p)
    delays = [l.split("in ")[1] for l in lines if "restarting" in l]
    assert delays == ["1.000 s", "2.000 s", "2.000 s"]


def test_health_deadline_means_boot_not_good(pycm, dev):
    dev.container("never-ready", "exec sleep 60", health=f"ready-file {dev.base}/nope")
    p = dev.start(pycm, deadline=2)
    out, _ = p.communicate(timeout=30)
    assert "pycm: boot NOT good: not healthy 2 s after start: never-ready" in out
    assert "pycm: container never-ready: stopping" in out and p.returncode == 3


def test_exec_health_check_and_unhealthy_restart(pycm, dev):
    flag = dev.base / "ok"
    flag.touch()
    dev.container("svc", "exec sleep 60", health=f"exec test -f {flag}", health_retries="2", backoff="0 0")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    flag.unlink()
    wait_for(p, "container svc: unhealthy (2 failed checks)", timeout=20)
    wait_for(p, "container svc: restarting")
    stop(p)


def test_bad_manifest_is_reported_and_boot_not_good(pycm, dev):
    dev.container("a", "exit 0", restart="sometimes")
    p = dev.start(pycm)
    out, _ = p.communicate(timeout=10)
    assert "pycm: manifest:17: restart: 'sometimes' is not one of always, on-failure, never" in out
    assert "pycm: boot NOT good: the manifest is invalid" in out
    assert p.returncode == 3


def test_check_mode_validates_generated_manifest(pycm):
    golden = ROOT / "tests" / "golden" / "demo" / "contract" / "pycm" / "manifest"
    r = subprocess.run([str(pycm), "--check", "--manifest", str(golden)], capture_output=True, text=True,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.returncode == 0 and "OK (2 containers, 2 services)" in r.stdout


def test_pycmctl_status_stop_restart_logs(pycm, dev):
    import json

    dev.container("web", "echo hello from web; exec sleep 60", backoff="0 0")
    dev.container("db", "echo db line; exec sleep 60", required="false")
    p = dev.start(pycm, 20, "--data-logs", str(dev.base / "data-logs"))
    wait_for(p, "boot good (slot A)")
    st = json.loads(ctl(pycm, dev, "status", "--json").stdout)
    assert st["boot"] == "good" and st["slot"] == "A"
    assert [(c["name"], c["state"]) for c in st["containers"]] == [("web", "healthy"), ("db", "healthy")]
    text = ctl(pycm, dev, "status").stdout
    assert text.splitlines()[0] == "device test, slot A, boot good, app revision factory" and "web" in text

    r = ctl(pycm, dev, "stop", "web")
    assert r.returncode == 0 and r.stdout == "stopping web\n"
    wait_for(p, "container web: exited")
    time.sleep(0.5)
    assert json.loads(ctl(pycm, dev, "status", "--json").stdout)["containers"][0]["state"] == "exited"

    assert ctl(pycm, dev, "restart", "web").stdout == "restarting web\n"
    wait_for(p, "container web: started")
    wait_for(p, "container web: healthy")
    assert json.loads(ctl(pycm, dev, "status", "--json").stdout)["containers"][0]["restarts"] == 1

    logs = ctl(pycm, dev, "logs", "web").stdout.splitlines()
    assert logs == ["hello from web", "hello from web"]  # one line per start, from the /run log ring
    assert (dev.base / "data-logs" / "web.log").read_text() == "hello from web\nhello from web\n"

    bad = ctl(pycm, dev, "restart", "nope")
    assert bad.returncode == 1 and bad.stderr == "restart: no container named 'nope'\n"
    bad = ctl(pycm, dev, "dance")
    assert bad.returncode == 1 and "unknown command 'dance'" in bad.stderr
    stop(p)


def test_log_ring_is_capped(pycm, dev):
    # 3000 lines of 100 bytes: 300 KB through a 2 x 64 KiB ring
    dev.container("chatty", "i=0; while [ $i -lt 3000 ]; do printf '%099d\\n' $i; i=$((i+1)); done; exec sleep 60")
    p = dev.start(pycm)
    deadline = time.monotonic() + 30
    logs = dev.base / "run" / "logs"
    while time.monotonic() < deadline and "2999".rjust(99, "0") not in (logs / "chatty.log").read_text(errors="ignore") \
            if (logs / "chatty.log").exists() else True:
        time.sleep(0.2)
    stop(p)
    sizes = [f.stat().st_size for f in sorted(logs.glob("chatty.log*"))]
    assert len(sizes) == 2 and all(s <= 64 * 1024 for s in sizes)
    assert (logs / "chatty.log").read_text().splitlines()[-1] == "2999".rjust(99, "0")


def test_containers_inherit_no_ignored_signals(pycm, dev):
    # pycm ignores SIGPIPE itself, and its parent may have ignored others: an ignored disposition
    # survives exec into the container unless pycm resets it (glibc's reserved 32/33 aside)
    dev.container("sig", "echo \"sigign $(grep SigIgn /proc/self/status | cut -f2)\"; exec sleep 60")
    env_ignoring = ["sh", "-c", "trap '' PIPE HUP USR1; exec \"$@\"", "sh"]
    p = dev.start(pycm, wrap=env_ignoring)
    lines = wait_for(p, "[sig] sigign")
    stop(p)
    standard = int(lines[-1].split()[-1], 16) & 0x7FFFFFFF  # signals 1..31
    assert standard == 0, f"container starts with ignored signals: {standard:#x}"


def _socket(dev) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(dev.run_dir / "control.sock"))
    return s


def test_a_slow_client_does_not_stall_the_others(pycm, dev):
    """PID 1 read each request inline: a client sending a byte a second held every other client
    (and the watchdog) until its line was complete."""
    dev.container("web", "exec sleep 60")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    slow = _socket(dev)
    stop_slow = threading.Event()

    def dribble():
        for ch in "status" + " " * 40:
            if stop_slow.wait(0.3):
                return
            try:
                slow.send(ch.encode())
            except OSError:
                return
    t = threading.Thread(target=dribble)
    t.start()
    try:
        time.sleep(0.5)
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            r = ctl(pycm, dev, "status")
            took.append(time.monotonic() - t0)
            assert r.returncode == 0 and "web" in r.stdout, r.stderr
        assert max(took) < 0.5, took
    finally:
        stop_slow.set()
        t.join()
    # the slow one gets its answer (or a timeout) within its deadline, not the others'
    slow.settimeout(5)
    assert slow.recv(100).startswith(b"ERR timeout")
    slow.close()
    stop(p)


def test_a_request_line_too_long_is_refused(pycm, dev):
    dev.container("web", "exec sleep 60")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    s = _socket(dev)
    s.sendall(b"x" * 300)
    s.settimeout(5)
    assert s.recv(100) == b"ERR request longer than 255 bytes\n"
    s.close()
    assert ctl(pycm, dev, "status").returncode == 0
    stop(p)


def test_a_peer_that_is_not_root_is_refused(pycm, dev):
    """The socket is root's (mode 0600); made reachable here, pycm still refuses another uid
    (SO_PEERCRED): a local process that gets at the socket cannot drive PID 1."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux) to run a client as another user")
    shared = Path(tempfile.mkdtemp(prefix="pycm-peer-"))  # reachable by nobody: the run dir and pycmctl
    try:
        shared.chmod(0o755)
        dev.run_dir = shared / "run"
        client = shared / "pycmctl"
        shutil.copy(pycm.with_name("pycmctl"), client)
        client.chmod(0o755)
        dev.container("web", "exec sleep 60")
        p = dev.start(pycm)
        wait_for(p, "boot good (slot A)")
        dev.run_dir.chmod(0o755)
        (dev.run_dir / "control.sock").chmod(0o666)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        r = subprocess.run([*as_nobody, str(client), "--socket", str(dev.run_dir / "control.sock"), "stop", "web"],
                           capture_output=True, text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        assert r.returncode == 1 and r.stderr == "permission denied\n", (r.returncode, r.stdout, r.stderr)
        assert ctl(pycm, dev, "status").stdout.splitlines()[2].split()[:2] == ["web", "healthy"]
        code, out = stop(p)
        assert "control socket: refused a client of uid 65534" in out
    finally:
        shutil.rmtree(shared)
