"""Black-box tests of the pycm binary on the host (--no-pid1) with a fake crun.

The fake crun runs each container's `run.sh` from its bundle directory as the container process
and logs every call, so start order, restarts, health and the orderly stop can be observed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_CRUN = r"""#!/bin/sh
# fake crun: --root R run --detach --bundle B --pid-file P NAME | kill [--all] NAME SIG | delete -f NAME
#            | exec NAME sh -c CMD
# run --detach: the container process is left running (an orphan, reparented to pycm, never this
# shell's child to reap) and crun exits, as the real one does
root=$2; shift 2
echo "$*" >> "$root/calls.log"
case "$1" in
run) [ "$2" = --detach ] || { echo "fake crun: run without --detach" >&2; exit 1; }
     bundle=$4; pidf=$6; name=$7
     # setsid -f: not an asynchronous list of this shell, which would start with SIGINT and
     # SIGQUIT ignored; the pid file is there before crun exits
     rm -f "$pidf"
     setsid -f /bin/sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; echo $$ > "$2"; exec /bin/sh "$3"' \
         sh "$pidf" "$root/$name.pid" "$bundle/run.sh"
     while [ ! -s "$pidf" ]; do sleep 0.01; done
     exit 0 ;;
kill) [ "$2" = --all ] && shift
      [ -f "$root/$2.pid" ] || { echo "container $2 does not exist" >&2; exit 1; }
      kill -s "$3" "$(cat "$root/$2.pid")"; exit 0 ;;
delete) rm -f "$root/$3.pid"; exit 0 ;;
exec) shift 2; exec "$@" ;;
esac
exit 1
"""


@pytest.fixture(scope="session")
def pycm(tmp_path_factory) -> Path:
    if not shutil.which("cc") or not shutil.which("make"):
        pytest.skip("no C compiler on this host")
    out = tmp_path_factory.mktemp("pycm-build")
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "runtime"), f"O={out}", f"{out}/host-san/pycm",
                        f"{out}/host-san/pycmctl"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out / "host-san" / "pycm"


class Device:
    """A manifest, bundles with run.sh scripts, a fake crun and fw_setenv, in a temp dir."""

    def __init__(self, base: Path):
        self.base = base
        self.crun_root = base / "crun"
        self.crun_root.mkdir()
        (base / "crun.sh").write_text(FAKE_CRUN)
        (base / "crun.sh").chmod(0o755)
        # a fake boot-state store: one file per variable under env/
        (base / "env").mkdir()
        (base / "fw_setenv").write_text(f"#!/bin/sh\necho \"$@\" >> {base}/fw_setenv.log\necho \"$2\" > {base}/env/$1\n")
        (base / "fw_printenv").write_text(f"#!/bin/sh\n[ \"$1\" = -n ] && cat {base}/env/$2\n")
        for tool in ("fw_setenv", "fw_printenv"):
            (base / tool).chmod(0o755)
        (base / "cmdline").write_text("console=ttyAMA0 root=PARTLABEL=rootfs_a rauc.slot=A panic=5\n")
        self.containers: list[str] = []

    def container(self, name: str, script: str, **keys: str) -> None:
        bundle = self.base / "bundles" / name
        bundle.mkdir(parents=True)
        (bundle / "run.sh").write_text(textwrap.dedent(script))
        spec = {"role": "app", "bundle": str(bundle), "required": "true", "restart": "always",
                "health": "none", "health-interval": "1", "health-timeout": "2", "health-retries": "2",
                "backoff": "0 0", "crash-loop": "5 60"}
        spec.update({k.replace("_", "-"): v for k, v in keys.items()})
        self.containers.append(f"[container {name}]\n" + "".join(f"{k} = {v}\n" for k, v in spec.items()))

    def service(self, name: str, exec_: str, **keys: str) -> None:
        spec = {"exec": exec_, "required": "true", "restart": "always", "health": "none", "health-interval": "1",
                "health-timeout": "2", "health-retries": "2", "backoff": "0 0", "crash-loop": "5 60"}
        spec.update({k.replace("_", "-"): v for k, v in keys.items()})
        self.containers.append(f"[service {name}]\n" + "".join(f"{k} = {v}\n" for k, v in spec.items()))

    def write(self, deadline: int = 20) -> Path:
        m = self.base / "manifest"
        m.write_text(textwrap.dedent(f"""\
            [pycm]
            version = 1
            device = test
            hostname = test
            data-device = /dev/null
            data-fstype = ext4
            mark-good = uboot-env
            boot-attempts = 3
            boot-deadline = {deadline}
            crun = {self.base}/crun.sh
            crun-root = {self.crun_root}
            stop-timeout = 2
            """) + "\n".join(self.containers))
        return m

    def start(self, pycm: Path, deadline: int = 20, *extra: str, wrap: list[str] = ()) -> subprocess.Popen:
        env = dict(os.environ, PYCM_FW_SETENV=str(self.base / "fw_setenv"),
                   PYCM_FW_PRINTENV=str(self.base / "fw_printenv"), ASAN_OPTIONS="detect_leaks=0")
        return subprocess.Popen([*wrap, str(pycm), "--no-pid1", "--manifest", str(self.write(deadline)),
                                 "--cmdline", str(self.base / "cmdline"), "--run-dir", str(self.base / "run"),
                                 *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    def calls(self) -> list[str]:
        f = self.crun_root / "calls.log"
        return f.read_text().splitlines() if f.exists() else []


def wait_for(proc: subprocess.Popen, text: str, timeout: float = 15) -> list[str]:
    """Read pycm's output lines until one contains `text`; return all lines read."""
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen; output so far:\n" + "\n".join(lines))


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    return proc.returncode, out


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


def ctl(pycm: Path, dev: Device, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(pycm.with_name("pycmctl")), "--socket", str(dev.base / "run" / "control.sock"), *args],
                          capture_output=True, text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))


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
