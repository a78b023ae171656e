"""The host harness of pycm's black-box tests: the ASan/UBSan build, a fake crun (each container's
`run.sh` from its bundle directory is the container process; every call is logged, so start
order, restarts, health and the orderly stop can be observed) and a Device in a temp dir."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

from helpers import ROOT


def build_pycm(out: Path) -> Path | None:
    """Build the host ASan/UBSan pycm, pycm-store and pycmctl into out; None without a C compiler."""
    if not shutil.which("cc") or not shutil.which("make"):
        return None
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "runtime"), f"O={out}", f"{out}/host-san/pycm",
                        f"{out}/host-san/pycm-store", f"{out}/host-san/pycmctl"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out / "host-san" / "pycm"


def store_env(pycm: Path) -> dict:
    """The environment that makes pycm run the pycm-store built beside it (not /sbin/pycm-store)."""
    return {"PYCM_STORE": str(pycm.with_name("pycm-store")), "ASAN_OPTIONS": "detect_leaks=0"}


FAKE_CRUN = r"""#!/bin/sh
# fake crun: --root R run --detach --bundle B [--config C] --pid-file P NAME | kill [--all] NAME SIG
#            | delete -f NAME | exec NAME sh -c CMD
# run --detach: the container process is left running (an orphan, reparented to pycm, never this
# shell's child to reap) and crun exits, as the real one does; a --config file is kept as
# R/NAME.config.json for the tests to read
root=$2; shift 2
echo "$*" >> "$root/calls.log"
case "$1" in
run) [ "$2" = --detach ] || { echo "fake crun: run without --detach" >&2; exit 1; }
     shift 2; config=
     while [ $# -gt 1 ]; do
       case "$1" in --bundle) bundle=$2 ;; --config) config=$2 ;; --pid-file) pidf=$2 ;; esac; shift 2
     done
     name=$1
     [ -z "$config" ] || cp "$config" "$root/$name.config.json"
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
        self.run_dir = base / "run"
        self.globals: list[str] = []  # more [pycm] lines
        self.containers: list[str] = []
        self.procs: list[subprocess.Popen] = []  # pycm runs, killed by close() if still running

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
            """) + "".join(f"{g}\n" for g in self.globals) + "\n".join(self.containers))
        return m

    def start(self, pycm: Path, deadline: int = 20, *extra: str, wrap: list[str] = (),
              env: dict | None = None) -> subprocess.Popen:
        env = {**os.environ, "PYCM_FW_SETENV": str(self.base / "fw_setenv"),
               "PYCM_FW_PRINTENV": str(self.base / "fw_printenv"), **store_env(pycm), **(env or {})}
        proc = subprocess.Popen([*wrap, str(pycm), "--no-pid1", "--manifest", str(self.write(deadline)),
                                 "--cmdline", str(self.base / "cmdline"), "--run-dir", str(self.run_dir),
                                 *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """Kill what a failed test left running (a passing test stops its pycm itself)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def calls(self) -> list[str]:
        f = self.crun_root / "calls.log"
        return f.read_text().splitlines() if f.exists() else []


def wait_for(proc: subprocess.Popen, text: str, timeout: float = 15) -> list[str]:
    """Read pycm's output lines until one contains `text`; return all lines read. The lines are
    read by a thread that stops at that line, so that a pycm that prints nothing more fails the
    test at the deadline instead of blocking it (readline has no timeout)."""
    got: queue.Queue = queue.Queue()

    def reader() -> None:
        while True:
            line = proc.stdout.readline()
            got.put(line)
            if not line or text in line:
                return

    threading.Thread(target=reader, daemon=True).start()
    lines, end = [], time.monotonic() + timeout
    while True:
        try:
            line = got.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen within {timeout} s; output so far:\n" + "\n".join(lines))


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    return proc.returncode, out


def ctl(pycm: Path, dev: Device, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(pycm.with_name("pycmctl")), "--socket", str(dev.run_dir / "control.sock"), *args],
                          capture_output=True, text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **(env or {})))
