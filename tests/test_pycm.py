"""Black-box tests of the pycm binary on the host (--no-pid1) with a fake crun.

The fake crun runs each container's `run.sh` from its bundle directory as the container process
and logs every call, so start order, restarts, health and the orderly stop can be observed.
"""

from __future__ import annotations

import os
import re
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
def dev(tmp_path):
    d = Device(tmp_path)
    yield d
    d.close()


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
    lines = wait_for(p, "boot good (slot A)")
    if not any("container db: healthy" in line for line in lines):  # not required: may come later
        wait_for(p, "container db: healthy")
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


def test_a_flood_of_output_is_rate_limited_on_the_console_and_data(pycm, dev):
    """A container writing as fast as it can: the console and /data get at most a burst of 100
    lines and then 20 a second, with a count of what was left out; the /run ring gets every line."""
    dev.container("flood", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo done; exec sleep 60")
    p = dev.start(pycm, 20, "--data-logs", str(dev.base / "data-logs"))
    t = time.monotonic()
    lines = wait_for(p, "lines not shown: more than 20 a second; pycmctl logs flood)", 15)
    elapsed = time.monotonic() - t
    shown = [l for l in lines if l.startswith("[flood] line ")]
    assert 100 <= len(shown) <= 100 + 20 * elapsed + 5, (len(shown), elapsed)
    notice = re.search(r"\[flood\] \((\d+) lines not shown", lines[-1])
    assert len(shown) + int(notice.group(1)) <= 2001, lines[-1]
    ring_file, end = dev.base / "run" / "logs" / "flood.log", time.monotonic() + 30
    while not ring_file.read_text().endswith("done\n") and time.monotonic() < end:  # a loaded host is slow
        time.sleep(0.2)
    ring = ring_file.read_text().splitlines()
    assert ring[-1] == "done" and "line 1999" in ring  # every line in the /run ring
    data = (dev.base / "data-logs" / "flood.log").read_text().splitlines()
    assert len(data) <= 100 + 20 * elapsed + 5  # /data is spared the flood too
    stop(p)


def test_an_endless_flood_does_not_keep_pid1_from_its_other_work(pycm, dev):
    """`yes` writes without pause: pycm reads a bounded amount per turn of its loop, so it still
    starts and checks the other containers, commits the boot and answers pycmctl at once."""
    dev.container("flood", "exec yes flood", required="false")
    ready = dev.base / "b-ready"
    dev.container("b", f"sleep 1; touch {ready}; exec sleep 60", health=f"ready-file {ready}")
    p = dev.start(pycm, 20)
    wait_for(p, "boot good (slot A)", 20)
    for _ in range(3):
        t = time.monotonic()
        r = ctl(pycm, dev, "status")
        assert r.returncode == 0 and time.monotonic() - t < 2, (r, time.monotonic() - t)
    stop(p)


def test_a_device_that_trusts_a_development_key_says_so(pycm, dev):
    import json

    release = dev.base / "release"
    release.write_text("NAME=test\nVERSION=1.0.0\nSIGNING=development\n")
    dev.container("web", "exec sleep 60")
    p = dev.start(pycm, 20, env={"PYCM_RELEASE": str(release)})
    lines = wait_for(p, "boot good (slot A)")
    assert "pycm: WARNING: this device trusts a DEVELOPMENT signing key (no update.signing): do not ship it" in lines
    assert ctl(pycm, dev, "status").stdout.splitlines()[0] == \
        "device test, slot A, boot good, app revision factory, trusts a DEVELOPMENT signing key"
    assert json.loads(ctl(pycm, dev, "status", "--json").stdout)["signing"] == "development"
    stop(p)


def _app_config(bundle: Path) -> None:
    """A config.json as the generator writes an app container's: linux last, its resources last,
    their device rules last."""
    import json

    from pycontainers.contract import APP_DEVICE_RULES
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "process": {"args": ["sh"]},
                                                    "linux": {"namespaces": [{"type": "pid"}],
                                                              "resources": {"pids": {"limit": 512},
                                                                            "devices": APP_DEVICE_RULES}}},
                                                   indent=2) + "\n")


def test_declared_devices_are_resolved_at_start_and_added_to_its_config(pycm, dev, tmp_path):
    import json

    from pycontainers.contract import APP_DEVICE_RULES
    dev.container("serial", "exec sleep 60", devices="/dev/null /dev/zero", user="1000:1001",
                  volumes=str(tmp_path / "vol"))
    _app_config(dev.base / "bundles" / "serial")
    p = dev.start(pycm, 20)
    lines = wait_for(p, "boot good (slot A)")
    cfg = json.loads((dev.crun_root / "serial.config.json").read_text())
    assert cfg["linux"]["devices"] == [
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 1000, "gid": 1001},
        {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666, "uid": 1000, "gid": 1001}]
    rules = cfg["linux"]["resources"]["devices"]
    assert rules[:len(APP_DEVICE_RULES)] == APP_DEVICE_RULES  # deny all first: what follows is allowed
    assert rules[len(APP_DEVICE_RULES):] == [{"allow": True, "type": "c", "major": 1, "minor": m, "access": "rwm"}
                                             for m in (3, 5)]
    st = os.stat(tmp_path / "vol")
    code, out = stop(p)
    if os.geteuid() == 0:  # on a device pycm is root
        assert (st.st_uid, st.st_gid) == (1000, 1001)  # its volume is given to its user
    else:  # an ordinary user may not give a file away: pycm says so and goes on
        assert f"container serial: chown {tmp_path / 'vol'}: Operation not permitted" in "\n".join(lines) + out


def test_a_missing_declared_device_is_an_error_of_that_start(pycm, dev):
    import json

    dev.container("serial", "exec sleep 60", devices="/dev/ttyNOPE0", crash_loop="2 60", required="false")
    _app_config(dev.base / "bundles" / "serial")
    p = dev.start(pycm, 20)
    lines = wait_for(p, "container serial: failed (crash loop")
    assert "pycm: container serial: device /dev/ttyNOPE0: No such file or directory; not started" in lines
    st = json.loads(ctl(pycm, dev, "status", "--json").stdout)
    assert st["containers"][0]["error"] == "device /dev/ttyNOPE0: No such file or directory"
    assert "device /dev/ttyNOPE0: No such file or directory" in ctl(pycm, dev, "status").stdout
    assert not any(c.startswith("run ") for c in dev.calls())  # crun was never asked to run it
    stop(p)


@pytest.mark.parametrize("line, message", [
    ("devices = /etc/passwd", "devices: '/etc/passwd' is not a path under /dev/"),
    ("devices = /dev/../etc/shadow", "devices: '/dev/../etc/shadow' is not a path under /dev/"),
    ('devices = /dev/tty"x', "devices: '/dev/tty\"x' is not a path under /dev/"),
    ("user = root", "user: 'root' is not UID or UID:GID"),
    ("user = 1000:", "user: '1000:' is not UID or UID:GID"),
    ("user = 4294967295", "user: '4294967295' is not UID or UID:GID"),
])
def test_bad_devices_and_user_are_refused(pycm, dev, line, message):
    dev.container("app", "exec sleep 60")
    dev.containers[-1] += line + "\n"
    r = subprocess.run([str(pycm), "--check", "--manifest", str(dev.write())], capture_output=True, text=True,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.returncode == 2 and message in r.stderr, r.stderr


def _switches(pid: int) -> int:
    """Context switches of a process so far: each wakeup of its poll loop is one."""
    status = Path(f"/proc/{pid}/status").read_text()
    return sum(int(v) for v in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)$", status, re.M))


def test_an_idle_manager_does_not_wake(pycm, dev):
    """Every container healthy, no exec check and no watchdog: nothing is due, so pycm sleeps in
    poll until something happens (docs/performance.md, idle CPU). Its ready files are watched
    (inotify), not polled: one removed is noticed at once and counted as a failed check every
    health-interval until health-retries have failed."""
    ready = dev.base / "ready"
    dev.container("a", f"touch {ready}; exec sleep 60", health=f"ready-file {ready}", health_retries="2")
    dev.container("b", "exec sleep 60", health="none")
    p = dev.start(pycm)
    wait_for(p, "boot good (slot A)")
    time.sleep(0.5)
    before = _switches(p.pid)
    time.sleep(3)
    woke = _switches(p.pid) - before
    assert woke <= 1, f"pycm woke {woke} times in 3 s with nothing to do"
    t = time.monotonic()
    ready.unlink()
    wait_for(p, "container a: unhealthy (2 failed checks)", timeout=10)
    # the first failed check at the removal, the second one health-interval (1 s) later
    assert time.monotonic() - t < 2.5
    wait_for(p, "container a: started")
    stop(p)


def test_a_container_that_ignores_sigterm_is_killed_after_the_stop_timeout(pycm, dev):
    """pycmctl stop/restart sent SIGTERM only: an app whose init ignores it (busybox httpd as PID 1,
    a shell before its trap) never stopped, so it never restarted (found by the network tests)."""
    dev.container("stubborn", "trap '' TERM; echo up; while :; do sleep 1; done", backoff="0 0")
    p = dev.start(pycm, 20)
    wait_for(p, "boot good (slot A)")
    t = time.monotonic()
    assert ctl(pycm, dev, "restart", "stubborn").stdout == "restarting stubborn\n"
    lines = wait_for(p, "container stubborn: started", timeout=15)
    assert any("container stubborn: did not stop in 2 s; killing it" in line for line in lines), lines
    assert time.monotonic() - t < 10
    wait_for(p, "container stubborn: healthy")
    assert ctl(pycm, dev, "stop", "stubborn").stdout == "stopping stubborn\n"
    lines = wait_for(p, "container stubborn: exited", timeout=15)
    assert any("did not stop in 2 s; killing it" in line for line in lines), lines
    stop(p)
