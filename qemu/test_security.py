"""A hostile app container on a real kernel with the real crun (docs/security.md).

The device (`hostile`, written here) runs, beside its host container:
- `hostile`: an app from an image holding busybox and a probe (qemu/probes/hostile.c, built
  statically for the board) that tries to reach the disks (mknod + open of the first disk and of
  the RTC another container was given), to make user, network and mount namespaces, to mount,
  keyctl, io_uring, clone3, to read /proc/kcore, to write /sys and /proc, to reach the manager's
  control socket and the host's /data;
- `clock`: an app given the RTC (`devices: [/dev/rtc0]`), which reads it;
- `bomb`: a fork bomb, `hog`: a memory hog (both with the default limits, not required);
- `flood`: `yes`, as fast as it can write (PID 1 relays app output: it must not stall on it);
- `keeper`: an app with a volume.
The boot must be committed and every required container healthy while the bomb and the hog run;
each probe must be refused; the RTC works in `clock` only; the bomb stays at its pids limit and
the hog is killed at its memory limit. Every check is what the device guarantees, read from the
console and from the kernel's own counters through the console shell.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pycontainers.model import APP_DEFAULT_MEMORY, APP_DEFAULT_PIDS, load_board
from pycontainers.qemu import Machine
from pycontainers.units import parse_size

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import image_config, layer, make_layout, tar_dir  # noqa: E402  (the fast tests' image builders)

DEVICE = """\
format: 1
name: hostile
board: {board}
version: "1.0.0"
storage: {{boot: 8MiB, env: 1MiB, rootfs: 96MiB, data: 64MiB}}
debug: {{console_shell: true}}
containers:
  - name: hostos
    role: host
    image: {{packages: [busybox-static]}}
    command: [/bin/busybox, sh, -c, "touch /run/ready; exec sleep 100000"]
    health: {{ready_file: /run/ready}}
  - name: keeper
    role: app
    image: {{packages: [busybox-static]}}
    command: [/bin/busybox, sh, -c, "echo secret > /keep/secret; touch /run/ready; exec sleep 100000"]
    volumes: [{{name: keeper, target: /keep}}]
    health: {{ready_file: /run/ready}}
  - name: clock
    role: app
    image: {{packages: [busybox-static]}}
    devices: [/dev/rtc0]
    command: [/bin/busybox, sh, -c, "echo \\"clock: rtc $(hwclock -r -f /dev/rtc0 2>&1)\\"; touch /run/ready; exec sleep 100000"]
    health: {{ready_file: /run/ready}}
  - name: hostile
    role: app
    image: {{oci-archive: hostile.oci.tar}}
    command: [/bin/sh, -c, "/hostile probe; touch /run/ready; exec sleep 100000"]
    depends_on: [clock]
    health: {{ready_file: /run/ready}}
  - name: bomb
    role: app
    required: false
    image: {{oci-archive: hostile.oci.tar}}
    command: [/hostile, bomb]
  - name: hog
    role: app
    required: false
    image: {{oci-archive: hostile.oci.tar}}
    command: [/hostile, hog]
    restart: never
  - name: flood
    role: app
    required: false
    image: {{packages: [busybox-static]}}
    command: [/bin/busybox, "yes", "flood: a line"]
"""

# what each probe must find; anything "ALLOWED" fails the test
PROBES = ["open-disk", "mknod-rtc|open-rtc", "rtc0-present", "unshare-user", "unshare-net", "unshare-mount",
          "mount-tmpfs", "keyctl", "add_key", "io_uring", "clone3", "read-kcore", "write-sys", "write-proc-sys",
          "write-sysrq", "control-socket", "other-volume", "host-data"]


def _probe_binary(board, work: Path) -> Path:
    cc = f"{board.cross_compiler}-gcc"
    if not shutil.which(cc):
        pytest.skip(f"{cc} is not installed (make setup installs it)")
    out = work / "hostile"
    r = subprocess.run([cc, "-static", "-O2", "-Wall", "-o", str(out), str(ROOT / "qemu/probes/hostile.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def hostile(request, build_for, busybox_static, shared):
    board = request.config.getoption("--board") or "qemuarm64"

    def make(work: Path) -> None:
        probe = _probe_binary(load_board(ROOT / "conf" / "boards" / f"{board}.yml"), work)
        applets = [(f"bin/{a}", "sym", "busybox", 0o777) for a in ("sh", "sleep", "touch", "cat")]
        tar_dir(make_layout(work / "hostile.oci", [
            layer([("bin/busybox", "file", busybox_static(board), 0o755), *applets,
                   ("hostile", "file", probe.read_bytes(), 0o755)])], image_config(Cmd=["/bin/sh"])),
            work / "hostile.oci.tar")
        (work / "hostile.yml").write_text(DEVICE.format(board=board))
    work = shared(f"hostile board={board}", make)
    return build_for(device=str(work / "hostile.yml"))


def _results(text: str) -> dict[str, str]:
    return dict(re.findall(r"\[hostile\] probe ([\w-]+)=(\S+)", text))


@pytest.mark.faults
def test_a_hostile_app_container_reaches_nothing(hostile, tmp_path):
    device, out = hostile
    required = [c.name for c in device.containers if c.required]
    with Machine(device.board, out / "image" / "disk.img", tmp_path / "run") as m:
        m.start()
        m.wait_boot(required, timeout=240)  # committed while the bomb and the hog run
        if "[hostile] probe done" not in m.output():
            m.expect(r"\[hostile\] probe done", 60)
        seen = m.output()
        results = _results(seen)
        allowed = {k: v for k, v in results.items() if v != "refused"}
        assert not allowed, "\n".join(l for l in seen.splitlines() if "probe " in l)
        for name in PROBES:
            assert any(n in results for n in name.split("|")), f"probe {name} did not run:\n{seen[-3000:]}"

        # the declared device works in its container (hwclock read the RTC), nowhere else
        clock = re.search(r"\[clock\] clock: rtc (.*)", seen).group(1)
        assert re.search(r"\d\d:\d\d:\d\d", clock) and "can't" not in clock, clock

        # the fork bomb is held at its pids limit, the hog was killed at its memory limit, and
        # the host container and the manager are fine
        if not re.search(r"pycm: container hog: exited \(status \d+\)", m.output()):
            m.expect(r"pycm: container hog: exited \(status \d+\)", 180)  # the whole line, status and all
        seen = m.output()
        rc, text = m.run("for d in /sys/fs/cgroup/*/; do [ -f $d/pids.max ] && echo \"cg $(basename $d) "
                         "pids $(cat $d/pids.current)/$(cat $d/pids.max) mem $(cat $d/memory.max) "
                         "oom $(grep -w oom_kill $d/memory.events | cut -d' ' -f2)\"; done; pycmctl status")
        assert rc == 0, text
        groups = {g: (int(cur), mx, mem, int(oom or 0)) for g, cur, mx, mem, oom in
                  re.findall(r"^cg (\S+) pids (\d+)/(\S+) mem (\S+) oom (\d*)", text, re.M)}
        bomb = next(v for g, v in groups.items() if "bomb" in g)
        assert bomb[1] == str(APP_DEFAULT_PIDS) and bomb[0] >= APP_DEFAULT_PIDS - 8, groups  # it is at the wall
        hog_lines = [l for l in seen.splitlines() if l.startswith("[hog] hog:")]
        biggest = max(int(re.search(r"(\d+) MiB", l).group(1)) for l in hog_lines)
        assert biggest * 2**20 <= parse_size(APP_DEFAULT_MEMORY), hog_lines
        assert re.search(r"pycm: container hog: exited \(status 137\)", seen), "the hog was not OOM-killed"
        assert re.search(r"^hostos\s+healthy\s", text, re.M) and "boot good" in text, text
        # the flood reached the console at the rate limit (a burst, then 20 lines a second)
        flood = [l for l in m.output().splitlines() if l.startswith("[flood] flood: a line")]
        assert 100 <= len(flood) <= 100 + 20 * m.elapsed(), len(flood)
        assert re.search(r"\[flood\] \(\d+ lines not shown: more than 20 a second", m.output())
        m.power_cut()
