#!/usr/bin/env python3
"""pycm + crun against Docker and Podman: the same device, the same kernel, the same two
containers, in the same QEMU guest, measured in one run.

    .venv/bin/python bench/compare.py [DEVICE] [--boots N] [--idle S] [--stacks pycm,docker,podman] [-o DIR]

Builds one slot per stack from Debian's packages of the board (qemuarm64 for demo.yml),
identical but for the container stack:

    pycm    the product's slot: pycm (PID 1) + crun, the containers as OCI bundles
    docker  Debian's docker.io (dockerd, containerd, runc), started by a minimal init
    podman  Debian's podman (daemonless; conmon, crun), started by the same init

Every slot also holds what the rest of the host needs (busybox, RAUC, D-Bus, the U-Boot env
tools; not started, so that the slots differ only in the stack). The peers get the device's
containers as docker-archive files made from the same root filesystems, loaded and created with
the flags that match each container's OCI config on the first boot (not measured); their stores
live on the data partition as they would on a device. QEMU boots each slot's kernel directly
(no bootloader, the same for all) with init=bench/compare-init.sh, which measures in the guest.

Per stack, over N boots (median, min-max): disk (files the stack alone adds to the slot, and the
whole slot as squashfs), memory (MemTotal - MemAvailable with all containers up minus the same
on a baseline boot running nothing; RSS of the stack's own processes), time (QEMU start -> all
containers running; init -> first container running; restart of one container) and idle CPU of
the stack's processes over S seconds. Writes compare.md, compare.json and compare.png to DIR
(default build/compare) and prints the table. Takes about 25 minutes with the defaults;
`--stacks pycm` builds and measures pycm's slot (and the baseline) alone, in a few minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

from pycontainers import contract
from pycontainers.debian.build import HOST_EXCLUDE, DebianBuild
from pycontainers.errors import UserError
from pycontainers.pipeline import generate
from pycontainers.model import load_device
from pycontainers.qemu import KernelBoot, Machine, timeout_scale
from pycontainers.render import publish

HERE = Path(__file__).resolve().parent
BASE_PACKAGES = ("busybox-static", "libubootenv-tool", "rauc", "dbus-daemon")
STACKS = {"pycm": ("crun",), "docker": ("docker.io",), "podman": ("podman",)}
PEERS = ("docker", "podman")
# The slot's trimming of maintainer-script and init-system packages applies to every stack;
# dockerd links libdevmapper and iptables libip4tc, podman's libsubid PAM and libsemanage, which
# the product's slot leaves out.
PEER_NEEDS = frozenset({"libdevmapper1.02.1", "dmsetup", "libip4tc2", "libcrypt1", "libpam0g", "libsemanage2",
                        "libsemanage-common", "libsepol2"})
INIT = "/usr/libexec/bench/init"
BENCH_DIR = "usr/share/bench"
USER_HZ = 100  # the unit of /proc/PID/stat's times on every Debian architecture
# The storage the peers need: their binaries do not fit the demo's 96 MiB slots.
STORAGE = {"rootfs": "384MiB", "data": "512MiB"}
CONFIG_CREATED = "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH of the image builds


# ------------------------------------------------------------------ images for the peers

def docker_archive(rootfs: Path, tag: str, config: dict, arch: str, dest: Path) -> None:
    """A `docker save` file (manifest.json, image config, one layer) of a root filesystem, with
    the OCI config's process as the image's Cmd/Env/WorkingDir; docker and podman load it."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = 1700000000
            return ti
        for p in sorted(rootfs.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(rootfs)), recursive=False, filter=owner)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    proc = config["process"]
    image_config = json.dumps({
        "architecture": arch, "os": "linux", "created": CONFIG_CREATED,
        "config": {"Cmd": proc["args"], "Env": proc.get("env", []), "WorkingDir": proc.get("cwd", "/")},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": CONFIG_CREATED, "created_by": "pycontainers bench/compare.py"}],
    }, sort_keys=True).encode()
    config_id = hashlib.sha256(image_config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_id}.json", "RepoTags": [tag],
                            "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    with tarfile.open(dest, "w") as tar:
        for name, data in ((f"{diff_id}/layer.tar", layer_bytes), (f"{config_id}.json", image_config),
                           ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1700000000
            tar.addfile(ti, io.BytesIO(data))


NAMESPACE_FLAGS = {"network": "--network=host", "pid": "--pid=host", "ipc": "--ipc=host", "uts": "--uts=host",
                   "cgroup": "--cgroupns=host"}
RUNTIME_MOUNTS = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}


def create_args(cli: str, name: str, restart: str, role: str, config: dict) -> list[str]:
    """`docker create` / `podman create` arguments giving a container what its OCI config gives
    it under pycm: namespaces, privileges, read-only root, tmpfs and bind mounts, limits."""
    args = [cli, "create", "--name", name, f"--restart={restart}"]
    namespaces = {ns["type"] for ns in config["linux"].get("namespaces", [])}
    args += [flag for ns, flag in NAMESPACE_FLAGS.items() if ns not in namespaces]
    if "network" in namespaces:
        args.append("--network=none")
    if "uts" in namespaces and config.get("hostname"):
        args.append(f"--hostname={config['hostname']}")
    if role == "host":
        args.append("--privileged")
    else:
        args.append("--cap-drop=ALL")
        args += [f"--cap-add={c}" for c in config["process"].get("capabilities", {}).get("bounding", [])]
    if config["root"].get("readonly"):
        args.append("--read-only")
    for m in config["mounts"]:
        dest = m["destination"]
        if dest in RUNTIME_MOUNTS:
            continue
        if m["type"] == "tmpfs":
            opts = [o for o in m.get("options", []) if o.startswith(("size=", "mode="))]
            args.append(f"--tmpfs={dest}:{','.join(opts)}" if opts else f"--tmpfs={dest}")
        elif m["type"] == "bind":
            ro = ":ro" if "ro" in m.get("options", []) else ""
            args.append(f"--volume={m['source']}:{dest}{ro}")
    res = config["linux"].get("resources", {})
    if "memory" in res and "limit" in res["memory"]:
        args.append(f"--memory={res['memory']['limit']}")
    if "cpu" in res and "quota" in res["cpu"]:
        args.append(f"--cpus={res['cpu']['quota'] / res['cpu']['period']:g}")
    if "pids" in res:
        args.append(f"--pids-limit={res['pids']['limit']}")
    user = config["process"].get("user", {})
    if user.get("uid") or user.get("gid"):
        args.append(f"--user={user.get('uid', 0)}:{user.get('gid', 0)}")
    return args + [f"bench/{name}:1"]


PODMAN_STORAGE = """\
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/data/containers/storage"
"""
PODMAN_CONTAINERS = """\
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
tmp_dir = "/run/libpod"
image_copy_tmp_dir = "/data/tmp"
"""


# ------------------------------------------------------------------ build

def bench_device(source: Path, out: Path) -> Path:
    """The device file with the storage the peers need (and a name of its own)."""
    data = yaml.safe_load(source.read_text())
    data["name"] = f"{data['name']}-compare"
    data["storage"].update(STORAGE)
    path = out / f"{data['name']}.yml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {source} with the storage of bench/compare.py\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def files(root: Path) -> dict[str, int]:
    """relative path -> size of every regular file of a tree."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = p.stat().st_size
    return out


def squashfs_size(root: Path, work: Path) -> int:
    img = work / "slot.squashfs"
    img.unlink(missing_ok=True)
    r = subprocess.run(["mksquashfs", str(root), str(img), "-comp", "xz", "-all-root", "-noappend", "-quiet",
                        "-no-progress"], capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"mksquashfs failed: {r.stderr.strip()}")
    size = img.stat().st_size
    img.unlink()
    return size


def strip_services(manifest: str) -> str:
    """The manifest without its [service] sections: RAUC and D-Bus run in no variant."""
    keep, out = True, []
    for line in manifest.splitlines(keepends=True):
        if line.startswith("["):
            keep = not line.startswith("[service ")
        if keep:
            out.append(line)
    return "".join(out)


class Variants:
    def __init__(self, device_file: Path, out: Path, stacks: tuple[str, ...] = tuple(STACKS)):
        self.out = out
        self.stacks = stacks
        self.device = load_device(device_file)
        self.board = self.device.board
        generate(self.device, out)
        self.build = DebianBuild(self.device, out)
        self.build.work.mkdir(parents=True, exist_ok=True)
        self.build.repo.update()
        self.configs = {c.name: json.loads((out / "generated" / "contract" / "containers" / c.name / "config.json")
                                           .read_text()) for c in self.device.containers}
        self.sizes: dict[str, dict[str, int]] = {}

    def slot(self, stack: str | None) -> Path:
        root = self.out / "slots" / (stack or "base")
        packages = BASE_PACKAGES + (STACKS[stack] if stack else ())
        exclude = HOST_EXCLUDE - PEER_NEEDS if stack in PEERS else HOST_EXCLUDE
        self.build.slot(root, packages=packages, exclude=exclude, manager=stack == "pycm")
        self.build.check_libraries(root)
        return root

    def assemble(self, stack: str) -> Path:
        root = self.slot(stack)
        bench = root / BENCH_DIR
        bench.mkdir(parents=True)
        names = [c.name for c in self.device.containers]
        (bench / "containers").write_text(" ".join(names) + "\n")
        init = root / INIT.lstrip("/")
        init.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE / "compare-init.sh", init)
        init.chmod(0o755)
        (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
        (root / "etc" / "resolv.conf").write_text("")
        if stack == "pycm":
            manifest = root / contract.MANIFEST_PATH.lstrip("/")
            manifest.write_text(strip_services(manifest.read_text()))
            for c in self.device.containers:
                (root / c.bundle.lstrip("/") / "rootfs" / "etc").mkdir(exist_ok=True)
                (root / c.bundle.lstrip("/") / "rootfs" / "etc" / "bench-name").write_text(c.name + "\n")
            return root
        (bench / "images").mkdir()
        lines = []
        for c in self.device.containers:
            rootfs = self.build.work / "bench-rootfs" / c.name
            shutil.rmtree(rootfs, ignore_errors=True)
            self.build.container_rootfs(c, rootfs)
            (rootfs / "etc").mkdir(exist_ok=True)
            (rootfs / "etc" / "bench-name").write_text(c.name + "\n")
            docker_archive(rootfs, f"bench/{c.name}:1", self.configs[c.name], self.board.debian_arch,
                           bench / "images" / f"{c.name}.tar")
            lines.append(" ".join(create_args(stack, c.name, c.restart, c.role, self.configs[c.name])) + " >/dev/null || return 1")
        (bench / "provision").write_text("# sourced by compare-init.sh on the first boot\n" + "\n".join(lines) + "\n")
        if stack == "docker":
            (root / "etc" / "docker").mkdir(exist_ok=True)
        else:
            (root / "etc" / "containers").mkdir(exist_ok=True)
            for d in ("var/cache", "var/lib/containers", "var/lib/cni"):
                (root / d).mkdir(parents=True, exist_ok=True)
            (root / "etc" / "containers" / "storage.conf").write_text(PODMAN_STORAGE)
            (root / "etc" / "containers" / "containers.conf").write_text(PODMAN_CONTAINERS)
        return root

    def build_all(self) -> dict[str, Path]:
        """Slot trees and disks of every stack; the sizes go to self.sizes."""
        base = files(self.slot(None))
        disks = {}
        for stack in self.stacks:
            t = time.monotonic()
            root = self.assemble(stack)
            mine = files(root)
            added = {p: s for p, s in mine.items() if p not in base and not p.startswith(
                (BENCH_DIR, contract.CONTAINERS_DIR.lstrip("/"), INIT.lstrip("/")))}
            self.sizes[stack] = {"stack": sum(added.values()), "stack_files": len(added),
                                 "squashfs": squashfs_size(root, self.build.work)}
            inputs = self.build.work / "inputs"
            shutil.rmtree(inputs, ignore_errors=True)
            self.build.images(root, inputs)
            dest = self.out / "disks" / stack
            shutil.rmtree(dest, ignore_errors=True)
            self.build.disk(inputs, dest)
            disks[stack] = dest / "disk.img"
            print(f"  {stack:<7} slot {self.sizes[stack]['squashfs'] / 2**20:6.1f} MiB squashfs, stack "
                  f"{self.sizes[stack]['stack'] / 2**20:6.1f} MiB in {len(added)} files ({time.monotonic() - t:.0f} s)",
                  flush=True)
        # one initramfs for all: the board's modules and overlay (docker's and podman's store)
        ktree, kver = self.build.kernel()
        self.initrd = self.out / "disks" / "initramfs.cpio.gz"
        self.build.initramfs(root / "bin" / "busybox", ktree, kver, self.initrd, extra_modules=("overlay",))
        self.kernel = self.out / "disks" / self.board.kernel_image
        shutil.copy2(root / "boot" / self.board.kernel_image, self.kernel)
        return disks


# ------------------------------------------------------------------ boots

def slot_a_bootargs(boot_cmd: str) -> str:
    m = re.search(r'setenv bootargs "([^"]*rauc\.slot=A[^"]*)"', boot_cmd)
    if not m:
        raise RuntimeError("no slot A bootargs in boot.cmd")
    return m.group(1)


def parse(console: str) -> dict:
    """The probe's `bench:` lines of one boot."""
    r: dict = {}
    for line in console.splitlines():
        f = line.strip().split()
        if len(f) < 2 or f[0] != "bench:":
            continue
        key, rest = f[1], f[2:]
        if key == "init":
            r["init"] = float(rest[1])
        elif key == "running":
            r.setdefault("running", {})[rest[0]] = float(rest[1])
        elif key == "all-running":
            r["all"], r["first"] = float(rest[0]), float(rest[2])
        elif key == "idle-ticks":
            r["idle_cpu"] = int(rest[0]) / USER_HZ * 60 / float(rest[2])  # CPU seconds per minute
        elif key == "mem-used":
            r["mem"] = int(rest[0]) * 1024
        elif key == "stack-rss":
            r["rss"] = int(rest[0]) * 1024
            r["rss_each"] = rest[1:]
        elif key == "restart":
            r["restart"] = float(rest[1]) - float(rest[0])
    return r


class Runner:
    def __init__(self, v: Variants, disks: dict[str, Path], idle: int, work: Path):
        self.v, self.disks, self.idle, self.work = v, disks, idle, work
        self.bootargs = slot_a_bootargs((v.out / "generated" / "contract" / "boot.cmd").read_text())

    def machine(self, stack: str, disk: Path) -> Machine:
        wd = self.work / stack
        shutil.rmtree(wd, ignore_errors=True)
        return Machine(self.v.board, disk, wd, kernel_boot=self.kernel_boot(stack))

    def kernel_boot(self, stack: str) -> KernelBoot:
        return KernelBoot(self.v.kernel, self.v.initrd,
                          f"{self.bootargs} init={INIT} bench.stack={stack} bench.idle={self.idle}")

    def boot(self, m: Machine, timeout: float) -> dict:
        """One boot to the probe's `done`; QEMU start -> all running is taken on the host's clock."""
        import pexpect

        m.start()
        steps = [("done", r"bench: done")]
        if m.kernel_boot.append.split("bench.stack=")[1].split()[0] != "none":
            steps.insert(0, ("all-running", r"bench: all-running"))
        for label, rx in steps:
            try:
                i = m.proc.expect([rx, r"bench: FAILED[^\r\n]*", r"pycm: boot NOT good[^\r\n]*"],
                                  timeout=timeout * timeout_scale())
            except (pexpect.TIMEOUT, pexpect.EOF):
                raise RuntimeError(f"no {rx!r} within {timeout:.0f} s (console: {m.console_log})") from None
            if i:
                raise RuntimeError(f"{m.proc.match.group(0).decode().strip()} (console: {m.console_log})")
            m.timeline.add(m.elapsed(), label)
        r = parse(m.output())
        r["qemu_to_all"] = m.timeline.first("all-running")
        m.power_cut()
        return r

    def run(self, boots: int) -> dict[str, list[dict]]:
        results: dict[str, list[dict]] = {}
        # baseline: the pycm slot booted with nothing but the mounts
        with self.machine("none", self.disks["pycm"]) as m:
            results["none"] = [self.boot(m, 300) for _ in range(boots)]
        for stack in self.v.stacks:
            with self.machine(stack, self.disks[stack]) as m:
                self.boot(m, 900)  # first boot: the peers load and create their containers
                results[stack] = [self.boot(m, 600) for _ in range(boots)]
                print(f"  {stack:<7} " + ", ".join(f"{k} {v:.2f}" for k, v in results[stack][-1].items()
                                                  if isinstance(v, float)), flush=True)
        return results


# ------------------------------------------------------------------ report

FIGURES = [  # key, label, unit, scale, lower is better
    ("stack", "container stack in the slot (binaries + libraries it alone adds)", "MiB", 2**20),
    ("squashfs", "whole slot as squashfs (xz)", "MiB", 2**20),
    ("mem", "memory used, all containers up, minus baseline", "MiB", 2**20),
    ("rss", "RSS of the stack's own processes", "MiB", 2**20),
    ("qemu_to_all", "QEMU start -> all containers running", "s", 1),
    ("init_to_first", "init start -> first container running", "s", 1),
    ("restart", "restart of one container", "s", 1),
    ("idle_cpu", "idle CPU of the stack's processes", "s/min", 1),
]


def summarize(v: Variants, results: dict[str, list[dict]]) -> dict:
    baseline = statistics.median(r["mem"] for r in results["none"])
    summary: dict = {"baseline_mem": baseline, "stacks": {}}
    for stack in v.stacks:
        runs = results[stack]
        for r in runs:
            r["mem"] -= baseline
            r["init_to_first"] = r["first"] - r["init"]
        figs = {}
        for key, _, _, scale in FIGURES:
            if key in v.sizes[stack]:
                vals = [v.sizes[stack][key] / scale]
            else:
                vals = [r[key] / scale for r in runs]
            figs[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
        summary["stacks"][stack] = figs
    return summary


def table(summary: dict, boots: int, idle: int) -> str:
    s = summary["stacks"]
    stacks = [st for st in STACKS if st in s]
    peers = [p for p in PEERS if p in s and "pycm" in s]
    names = {"pycm": "pycm + crun"}
    head = ("| figure | " + " | ".join(names.get(st, st) for st in stacks) + "".join(f" | pycm/{p}" for p in peers)
            + " |\n|---|" + "---:|" * (len(stacks) + len(peers)) + "\n")
    rows = []
    for key, label, unit, _ in FIGURES:
        cells = []
        for stack in stacks:
            f = s[stack][key]
            spread = f" ({f['min']:.2f}-{f['max']:.2f})" if f["n"] > 1 else ""
            cells.append(f"{f['median']:.2f}{spread}")
        ratios = []
        for peer in peers:
            ours, theirs = s["pycm"][key]["median"], s[peer][key]["median"]
            ratios.append(f"{ours / theirs:.3f}" if theirs else "-")
        rows.append(f"| {label} ({unit}) | " + " | ".join(cells + ratios) + " |")
    note = (f"\nMedians of {boots} boot(s) per stack (min-max); sizes are per build. Memory baseline "
            f"(kernel + busybox + mounts): {summary['baseline_mem'] / 2**20:.1f} MiB used. Idle CPU over "
            f"{idle} s, in CPU seconds per minute.\n")
    return head + "\n".join(rows) + "\n" + note


def chart(summary: dict, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    colors = {"pycm": "#2a9d8f", "docker": "#457b9d", "podman": "#e76f51"}
    for ax, (key, label, unit, _) in zip(axes.flat, FIGURES):
        stacks = [st for st in STACKS if st in summary["stacks"]]
        meds = [summary["stacks"][st][key]["median"] for st in stacks]
        errs = [[m - summary["stacks"][st][key]["min"] for st, m in zip(stacks, meds)],
                [summary["stacks"][st][key]["max"] - m for st, m in zip(stacks, meds)]]
        ax.bar(stacks, meds, yerr=errs, color=[colors[st] for st in stacks], capsize=4)
        ax.set_title(label, fontsize=9, wrap=True)
        ax.set_ylabel(unit)
        for i, m in enumerate(meds):
            ax.annotate(f"{m:.2f}", (i, m), ha="center", va="bottom", fontsize=8)
    fig.suptitle("pycm + crun vs Docker vs Podman, same QEMU guest (lower is better)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    dest.write_bytes(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("device", nargs="?", default=Path("conf/devices/demo.yml"), type=Path)
    ap.add_argument("--boots", type=int, default=3, help="measured boots per stack (default 3)")
    ap.add_argument("--idle", type=int, default=60, help="idle window in seconds (default 60)")
    ap.add_argument("--stacks", default=",".join(STACKS),
                    help="comma-separated stacks to build and measure (default all: pycm,docker,podman)")
    ap.add_argument("-o", "--output", type=Path, default=Path("build/compare"))
    args = ap.parse_args(argv)
    stacks = tuple(st for st in STACKS if st in args.stacks.split(","))
    unknown = set(args.stacks.split(",")) - set(STACKS)
    if unknown or "pycm" not in stacks:
        print(f"compare: --stacks: {', '.join(sorted(unknown)) + ' is not a stack' if unknown else 'pycm is missing'}"
              f" (the baseline boots pycm's slot); allowed: {', '.join(STACKS)}", file=sys.stderr)
        return 2
    try:
        t0 = time.monotonic()
        device_file = bench_device(args.device, args.output / "device")
        v = Variants(device_file, args.output / "build", stacks)
        print(f"building the slots of {', '.join(stacks)} for {v.board.name} ...", flush=True)
        disks = v.build_all()
        print(f"booting: baseline and {', '.join(stacks)}, {args.boots} boot(s) each after a first one ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="compare.", dir=args.output) as tmp:
            results = Runner(v, disks, args.idle, Path(tmp)).run(args.boots)
        summary = summarize(v, results)
        text = table(summary, args.boots, args.idle)
        with publish(args.output / "report") as out:
            out.write("compare.md", text)
            out.write("compare.json", json.dumps({"board": v.board.name, "boots": args.boots, "idle": args.idle,
                                                  "sizes": v.sizes, "runs": results, "summary": summary},
                                                 indent=2) + "\n")
            chart(summary, out.root / "compare.png")
        print(text)
        print(f"written: {args.output / 'report'}/compare.md, compare.json, compare.png "
              f"({time.monotonic() - t0:.0f} s in all)")
        return 0
    except (UserError, RuntimeError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
