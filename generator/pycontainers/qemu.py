"""Run a built image in QEMU: one argv builder, a logged serial console, QMP power control and a
timeline of the contract's console markers (docs/contract.md).

Used by `pycontainers boot` and by the boot tests in qemu/ (their pytest plugin wraps Machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .cache import default_cache
from .errors import UserError
from .model import Board

# Console markers of docs/contract.md, in boot order: (label, regex).
MARKERS = [
    ("u-boot", r"U-Boot 20\d\d"),
    ("boot script", r"pycontainers-boot: slot (?P<slot>[AB]) \((?P<state>committed|trial, \d+ tries left)\)"),
    ("kernel", r"Starting kernel \.\.\."),
    ("initramfs done", r"pycontainers-initramfs: switch_root (?P<root>\S+)"),
    ("manager", r"pycm: starting"),
]
CONTAINER_STARTED = r"pycm: container (?P<name>[a-z0-9-]+): started"
CONTAINER_HEALTHY = r"pycm: container (?P<name>[a-z0-9-]+): healthy"
BOOT_GOOD = r"pycm: boot good \(slot (?P<slot>[AB])\)"
BOOT_BAD = r"pycm: boot NOT good: (?P<reason>.*)"


def timeout_scale() -> float:
    """One multiplier for every timeout, for slow hosts: PYCONTAINERS_TIMEOUT_SCALE."""
    return float(os.environ.get("PYCONTAINERS_TIMEOUT_SCALE", "1"))


@dataclass(frozen=True)
class KernelBoot:
    """QEMU loads a kernel and initramfs itself, with this command line: the bootloader (and
    its A/B choice) is left out. bench/compare.py boots its variants so."""

    kernel: Path
    initrd: Path
    append: str


def qemu_argv(board: Board, disk: Path, *, qmp: Path | None = None, extra_disks: tuple[Path, ...] = (),
              net: bool = False, kernel_boot: KernelBoot | None = None,
              hostfwd: tuple[tuple[int, int], ...] = ()) -> list[str]:
    """The full QEMU command line for a board; logged by Machine so a run can be replayed by hand."""
    q = board.qemu
    if not q:
        raise UserError(f"board {board.name} has no qemu section: it is real hardware")
    argv = [q["binary"], "-machine", q["machine"], "-m", q["memory"], "-nographic", "-no-user-config",
            "-nodefaults", "-serial", "stdio", "-monitor", "none"]
    if q.get("cpu"):
        argv += ["-cpu", q["cpu"]]
    if q["firmware"] == "opensbi":
        argv += ["-bios", q["opensbi"]]
    kernel = kernel_boot.kernel if kernel_boot else board.uboot_binary
    if kernel_boot or q["firmware"] == "opensbi":
        argv += ["-kernel", str(kernel)]
    else:
        argv += ["-bios", board.uboot_binary]
    if kernel_boot:
        argv += ["-initrd", str(kernel_boot.initrd), "-append", kernel_boot.append]
    # U-Boot boots virtio 0: the system disk must get that number. Arm virt numbers its
    # virtio-mmio devices in reverse order of creation (extra disks go before), PCI and riscv
    # virt in order (after): the board's qemu.extra_disks says which.
    disks = [*extra_disks, disk] if q.get("extra_disks") == "before" else [disk, *extra_disks]
    for i, d in enumerate(disks):
        ro = ",readonly=on" if d != disk else ""
        argv += ["-drive", f"if=none,id=disk{i},format={_format(d)},file={d}{ro}",
                 "-device", f"{q['disk_interface']},drive=disk{i}"]
    if q.get("uboot_env_flash") and not kernel_boot:
        flash = uboot_env_flash(board)
        argv += ["-drive", f"if=pflash,index={q['uboot_env_flash']['index']},format=raw,readonly=on,file={flash}"]
    if q.get("watchdog"):
        argv += ["-device", q["watchdog"], "-action", "watchdog=reset"]
    if net:
        nic = "virtio-net-device" if q["disk_interface"] == "virtio-blk-device" else "virtio-net-pci"
        fwd = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in hostfwd)
        argv += ["-netdev", f"user,id=net0{fwd}", "-device", f"{nic},netdev=net0"]
    if qmp:
        argv += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    return argv


def uboot_env_flash(board: Board) -> Path:
    """A read-only pflash image holding the U-Boot binary's own default environment with
    bootdelay=0 (cached per binary). Loading an environment from flash replaces the default one
    entirely, so it is the default one, read from the binary, with that single change."""
    spec = board.qemu["uboot_env_flash"]
    data = Path(board.uboot_binary).read_bytes()
    cache = default_cache() / "uboot"
    flash = cache / f"{hashlib.sha256(data).hexdigest()[:16]}-{spec['env_size']:x}.pflash"
    if flash.is_file():
        return flash
    start = data.find(b"bootcmd=")  # the default environment starts with bootcmd (env_default.h)
    end = data.find(b"\0\0", start)
    if start < 0 or end < 0:
        raise UserError(f"{board.uboot_binary}: no default environment found; remove qemu.uboot_env_flash "
                        f"from board {board.name}")
    env = [e.decode() for e in data[start:end].split(b"\0")]
    env = ["bootdelay=0" if e.startswith("bootdelay=") else e for e in env]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        txt, img = Path(tmp) / "env.txt", Path(tmp) / "flash"
        txt.write_text("\n".join(env) + "\n")
        r = subprocess.run(["mkenvimage", "-s", str(spec["env_size"]), "-o", str(img), str(txt)],
                           capture_output=True, text=True)
        if r.returncode:
            raise UserError(f"mkenvimage failed: {r.stderr.strip()}")
        with open(img, "r+b") as f:
            f.truncate(spec["size"])
        img.rename(flash)
    return flash


def gpt_partitions(disk: Path) -> dict[str, tuple[int, int]]:
    """GPT partition name -> (offset, size) in bytes, read from the primary table."""
    with open(disk, "rb") as f:
        f.seek(512)
        hdr = f.read(92)
        if hdr[:8] != b"EFI PART":
            raise ValueError(f"{disk}: no GPT")
        entries_lba, count, size = struct.unpack_from("<QII", hdr, 72)
        f.seek(entries_lba * 512)
        table = f.read(count * size)
    parts = {}
    for i in range(count):
        e = table[i * size:(i + 1) * size]
        if e[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le").rstrip("\0")
        parts[name] = (first * 512, (last - first + 1) * 512)
    return parts


def read_boot_env(disk: Path, partition: str = "uboot-env", size: int = 0x4000) -> dict[str, str]:
    """The U-Boot env blob (CRC32 + NUL-separated name=value) at the start of a GPT partition."""
    offset, _ = gpt_partitions(disk)[partition]
    with open(disk, "rb") as f:
        f.seek(offset)
        blob = f.read(size)
    crc = int.from_bytes(blob[:4], "little")
    if crc != zlib.crc32(blob[4:]):
        raise ValueError(f"{disk}: {partition}: env CRC mismatch")
    pairs = blob[4:].split(b"\0\0", 1)[0].decode().split("\0")  # the env ends with two NULs
    return dict(kv.split("=", 1) for kv in pairs if "=" in kv)


def _format(path: Path) -> str:
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


@dataclass
class Timeline:
    """Seconds since QEMU start of each marker seen, in order."""

    events: list[tuple[float, str]] = field(default_factory=list)

    def add(self, t: float, label: str) -> None:
        self.events.append((t, label))

    def first(self, label: str) -> float | None:
        return next((t for t, l in self.events if l == label), None)

    def format(self) -> str:
        lines, prev = [], 0.0
        for t, label in self.events:
            lines.append(f"  {t:6.2f}s  (+{t - prev:5.2f}s)  {label}")
            prev = t
        return "\n".join(lines)


class Machine:
    """A QEMU run of a built image. The image itself is never written: the machine boots a qcow2
    overlay that keeps its state across power cycles of this Machine."""

    def __init__(self, board: Board, disk: Path, workdir: Path, *, echo: bool = False,
                 extra_disks: tuple[Path, ...] = (), net: bool = False, kernel_boot: KernelBoot | None = None,
                 hostfwd: tuple[tuple[int, int], ...] = ()):
        """extra_disks: more raw/qcow2 disks (e.g. one holding an update bundle), attached
        read-only to the guest as later virtio disks; net: QEMU user networking (the host is
        10.0.2.2 to the guest); hostfwd: (build host port on 127.0.0.1, guest TCP port) pairs
        forwarded to the guest's user-mode address; kernel_boot: QEMU loads the kernel, no bootloader."""
        self.board, self.disk, self.workdir, self.echo = board, disk, workdir, echo
        self.extra_disks, self.net, self.kernel_boot = tuple(extra_disks), net or bool(hostfwd), kernel_boot
        self.hostfwd = tuple(hostfwd)
        self._runs = 0  # commands run(), for unique end markers
        workdir.mkdir(parents=True, exist_ok=True)
        self.overlay = workdir / "disk.qcow2"
        self.console_log = workdir / "console.log"
        self.qmp_path = Path(tempfile.mkdtemp(prefix="pycqmp.")) / "qmp.sock"  # short path for AF_UNIX
        self.proc = None
        self.timeline = Timeline()
        self.t0 = 0.0

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def make_overlay(self) -> None:
        r = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.disk.resolve()),
                            str(self.overlay)], capture_output=True, text=True)
        if r.returncode:
            raise UserError(f"qemu-img create failed: {r.stderr.strip()}")

    def start(self) -> None:
        import pexpect

        if not self.overlay.exists():
            self.make_overlay()
        self.argv = qemu_argv(self.board, self.overlay, qmp=self.qmp_path, extra_disks=self.extra_disks,
                              net=self.net, kernel_boot=self.kernel_boot, hostfwd=self.hostfwd)
        (self.workdir / "qemu-argv.txt").write_text(shlex.join(self.argv) + "\n")
        self.log = open(self.console_log, "ab")
        self.log_start = self.log.tell()
        self.log.write(f"\n=== {time.strftime('%H:%M:%S')} {shlex.join(self.argv)}\n".encode())
        self.t0 = time.monotonic()
        self.proc = pexpect.spawn(self.argv[0], self.argv[1:], timeout=None, maxread=65536)
        self.proc.logfile_read = _Tee(self.log, echo=self.echo)
        self.timeline = Timeline()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def expect(self, pattern: str, timeout: float, label: str | None = None) -> re.Match:
        """Wait for a regex on the console; record it in the timeline under `label`."""
        import pexpect

        try:
            self.proc.expect(pattern, timeout=timeout * timeout_scale())
        except pexpect.TIMEOUT:
            raise TimeoutError(f"no {pattern!r} on the console within {timeout * timeout_scale():.0f}s "
                               f"(log: {self.console_log})") from None
        except pexpect.EOF:
            raise RuntimeError(f"QEMU exited while waiting for {pattern!r} (log: {self.console_log})") from None
        m = self.proc.match
        if label:
            self.timeline.add(self.elapsed(), label)
        return m

    def wait_boot(self, containers: list[str], timeout: float = 120) -> Timeline:
        """Wait for every boot marker, every container healthy and the boot marked good."""
        deadline = time.monotonic() + timeout * timeout_scale()

        def left() -> float:
            return max(deadline - time.monotonic(), 0.1) / timeout_scale()

        for label, rx in MARKERS:
            m = self.expect(rx, left())
            self.timeline.add(self.elapsed(), label if label != "boot script" else f"slot {m.group('slot').decode()} chosen")
        pending = set(containers)
        while pending:
            i = self.proc.expect([CONTAINER_STARTED, CONTAINER_HEALTHY, BOOT_BAD], timeout=left() * timeout_scale())
            name = self.proc.match.group(1).decode() if i < 2 else ""
            if i == 2:
                raise RuntimeError(f"boot NOT good: {self.proc.match.group(1).decode().strip()} (log: {self.console_log})")
            self.timeline.add(self.elapsed(), f"container {name} {'started' if i == 0 else 'healthy'}")
            if i == 1:
                pending.discard(name)
        m = self.expect(f"{BOOT_GOOD}|{BOOT_BAD}", left())
        if b"NOT good" in m.group(0):
            raise RuntimeError(f"{m.group(0).decode().strip()} (log: {self.console_log})")
        self.timeline.add(self.elapsed(), f"boot marked good (slot {m.group('slot').decode()})")
        return self.timeline

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run a shell command on the console (a device with debug.console_shell) and return its
        exit status and the console text it produced (the manager's lines may be mixed in)."""
        self._runs += 1
        tag = f"PCRUN{self._runs}"
        self.proc.sendline(f"{command}; echo {tag}=$?")
        m = self.expect(rf"{tag}=(\d+)", timeout)
        text = self.proc.before.decode(errors="replace")
        return int(m.group(1)), text.split(f"{tag}=$?", 1)[-1]

    def output(self) -> str:
        """The console text of the current run so far."""
        self.log.flush()
        with open(self.console_log, "rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    def boot_env(self) -> dict[str, str]:
        """The A/B boot state in the disk's uboot-env partition, read on the host (power off first)."""
        with tempfile.TemporaryDirectory(prefix="pycenv.") as tmp:
            raw = Path(tmp) / "disk.raw"
            r = subprocess.run(["qemu-img", "convert", "-O", "raw", str(self.overlay), str(raw)],
                               capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"qemu-img convert: {r.stderr.strip()}")
            return read_boot_env(raw)

    # ------------------------------------------------------------ power (QMP)

    def qmp(self, command: str, **arguments) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.qmp_path))
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            for cmd in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": arguments}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                while True:
                    line = f.readline()
                    if not line:
                        return {}
                    reply = json.loads(line)
                    if "return" in reply or "error" in reply:
                        break
            return reply

    def power_cut(self) -> None:
        """Pull the plug: QEMU quits at once, whatever the guest is doing."""
        if self.proc and self.proc.isalive():
            try:
                self.qmp("quit")
            except OSError:
                pass
            self.proc.expect(__import__("pexpect").EOF, timeout=10)
        self.proc = None

    def reset(self) -> None:
        """Press the reset button (the disk keeps whatever was written)."""
        self.qmp("system_reset")

    def kill(self) -> None:
        if self.proc is not None and self.proc.isalive():
            self.power_cut()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.qmp_path.parent, ignore_errors=True)  # the socket's private temp dir


class _Tee:
    """pexpect logfile: every console byte to the log file, optionally to our stdout."""

    def __init__(self, log, echo: bool):
        self.log, self.echo = log, echo

    def write(self, data: bytes) -> None:
        self.log.write(data)
        if self.echo:
            os.write(1, data)

    def flush(self) -> None:
        self.log.flush()
