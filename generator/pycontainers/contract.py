"""The on-disk contract: the facts every backend produces identically (docs/contract.md).

`write_contract(device, tree)` writes them under `contract/` of an output tree. Backends copy
these files into their images; they never recompute them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .model import Container, Device
from .render import Tree

# Paths inside the slot (docs/contract.md, "Slot contents").
MANIFEST_PATH = "/etc/pycontainers/manifest"
RELEASE_PATH = "/etc/pycontainers/release"
FW_ENV_CONFIG_PATH = "/etc/fw_env.config"
RAUC_CONF_PATH = "/etc/rauc/system.conf"
RAUC_KEYRING_PATH = "/etc/rauc/keyring.pem"
INITRAMFS_NAME = "initramfs.cpio.gz"
PYCM_PATH = "/sbin/pycm"
PYCMCTL_PATH = "/usr/bin/pycmctl"
# RAUC's pre-install handler: a link to pycm, which refuses an older system bundle (runtime/Makefile
# install makes it too)
RAUC_PRE_INSTALL_PATH = "/usr/libexec/pycontainers/rauc-pre-install"
CRUN_PATH = "/usr/bin/crun"
DBUS_CONF_PATH = "/etc/pycontainers/dbus.conf"
# Kernel features an update needs (RAUC mounts a verity bundle: a squashfs on a loop device under
# dm-verity) and a network interface for installs over HTTP (QEMU boards: virtio-net).
UPDATE_MODULES = ("loop", "squashfs", "dm_verity")
DBUS_SOCKET_DIR = "/run/dbus"
# Applets the initramfs /init (initramfs/init) calls, linked to busybox in every backend's initramfs.
INITRAMFS_APPLETS = ("sh", "mount", "umount", "insmod", "switch_root", "sleep", "usleep", "reboot",
                     "grep", "sed", "cat", "mkdir", "echo")
CONTAINERS_DIR = "/usr/share/pycontainers/containers"  # one OCI bundle per container below it
MOUNT_POINTS = ("proc", "sys", "dev", "run", "data", "tmp")
SLOT_PATHS = {"manifest": MANIFEST_PATH, "release": RELEASE_PATH, "fw_env_config": FW_ENV_CONFIG_PATH,
              "rauc_conf": RAUC_CONF_PATH, "rauc_keyring": RAUC_KEYRING_PATH, "initramfs": INITRAMFS_NAME,
              "pycm": PYCM_PATH, "crun": CRUN_PATH, "rauc_pre_install": RAUC_PRE_INSTALL_PATH}

# Every file of the contract: output path -> template.
FILES = {
    "genimage.cfg": "contract/genimage.cfg.j2",
    "boot.cmd": "contract/boot.cmd.j2",
    "uboot-env.txt": "contract/uboot-env.txt.j2",
    "fw_env.config": "contract/fw_env.config.j2",
    "rauc/system.conf": "contract/system.conf.j2",
    "rauc/manifest.raucm": "contract/manifest.raucm.j2",
    "pycm/manifest": "contract/manifest.j2",
    "release": "contract/release.j2",
    "initramfs/init": "contract/init.j2",
    "dbus.conf": "contract/dbus.conf.j2",
}


@dataclass(frozen=True)
class Service:
    """A host process the manager runs beside the containers (docs/manifest.md, [service NAME])."""

    name: str
    exec: str
    health: str
    required: bool = True
    console: bool = False
    runtime_dir: str = ""
    depends_on: tuple[str, ...] = ()
    # liveness once healthy: checked every interval s, each may take timeout s, restarted after
    # `retries` failures in a row (rauc answers slowly while it writes a slot)
    interval: int = 10
    timeout: int = 30
    retries: int = 3


def services(device: Device) -> list[Service]:
    """The host services of every image: the D-Bus system bus and the RAUC service on it (the
    update engine: a slot whose `rauc status` does not answer is not committed), and with
    debug.console_shell a root shell on the console."""
    found = [
        Service("dbus", f"/usr/bin/dbus-daemon --nofork --nopidfile --config-file={DBUS_CONF_PATH}",
                f"ready-file {DBUS_SOCKET_DIR}/system_bus_socket", runtime_dir=DBUS_SOCKET_DIR),
        Service("rauc", "/usr/bin/rauc service", "exec rauc status", depends_on=("dbus",)),
    ]
    if device.console_shell:
        found.append(Service("shell", "/bin/sh", "none", required=False, console=True))
    return found

# Capabilities of app containers: Docker's and Podman's default set, never CAP_SYS_ADMIN.
APP_CAPABILITIES = sorted(
    "CAP_" + c for c in ("AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE "
                         "NET_RAW SETFCAP SETGID SETPCAP SETUID SYS_CHROOT").split())
# Host containers run the host OS services: every capability (kernel 6.1 knows 41).
HOST_CAPABILITIES = sorted(
    "CAP_" + c for c in (
        "AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN "
        "DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE "
        "MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON "
        "SETFCAP SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE "
        "SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG WAKE_ALARM").split())
# Syscalls an app container is refused (EPERM), as in the default profiles of Docker/Podman:
# kernel modules, kexec, reboot, mounts, namespaces, clocks, keyrings, BPF/perf, swap.
APP_SECCOMP_DENY = sorted("""
    acct add_key bpf clock_adjtime clock_settime delete_module finit_module fsconfig fsmount
    fsopen fspick init_module kexec_file_load kexec_load keyctl mount mount_setattr move_mount
    open_by_handle_at open_tree perf_event_open pivot_root quotactl reboot request_key setns
    settimeofday swapoff swapon syslog umount2 unshare userfaultfd
""".split())
CPU_PERIOD_US = 100_000
APP_MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
                    "/sys/firmware"]
APP_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mount(dest: str, type_: str, source: str, options: list[str]) -> dict:
    return {"destination": dest, "type": type_, "source": source, "options": options}


def oci_config(c: Container) -> dict:
    """The OCI runtime-spec config.json of one container (docs/contract.md)."""
    host = c.role == "host"
    caps = HOST_CAPABILITIES if host else APP_CAPABILITIES
    mounts = [_mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"])]
    if host:
        mounts += [
            _mount("/dev", "bind", "/dev", ["rbind", "rw"]),
            _mount("/sys", "bind", "/sys", ["rbind", "rw"]),
            _mount("/data", "bind", "/data", ["rbind", "rw"]),
            _mount("/etc/pycontainers", "bind", "/etc/pycontainers", ["bind", "ro"]),
        ]
    else:
        mounts += [
            _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            _mount("/dev/pts", "devpts", "devpts",
                   ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
            _mount("/sys/fs/cgroup", "cgroup2", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ]
    mounts += [_mount("/run", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=755", "size=16m"]),
               _mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777", "size=16m"])]
    mounts += [_mount(v.target, "bind", v.source, ["rbind", "ro" if v.readonly else "rw"])
               for v in c.volumes]

    namespaces = ["mount"] if host else ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    linux: dict = {"namespaces": [{"type": n} for n in namespaces]}
    if not host:
        res: dict = {}
        if c.limits.memory is not None:
            res["memory"] = {"limit": c.limits.memory}
        if c.limits.cpu is not None:
            res["cpu"] = {"quota": round(c.limits.cpu * CPU_PERIOD_US), "period": CPU_PERIOD_US}
        if c.limits.pids is not None:
            res["pids"] = {"limit": c.limits.pids}
        if res:
            linux["resources"] = res
        linux["maskedPaths"] = APP_MASKED_PATHS
        linux["readonlyPaths"] = APP_READONLY_PATHS
        linux["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": APP_SECCOMP_DENY, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
        }
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(c.command),
            "env": [f"{k}={v}" for k, v in c.environment],
            "cwd": c.workdir,
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": not host,
        },
        "root": {"path": "rootfs", "readonly": True},
        "mounts": mounts,
        "linux": linux,
    }
    if not host:
        config["hostname"] = c.name
    return config


def container_mount_points(c: Container) -> list[str]:
    """Directories that must exist in the (read-only) container rootfs for its mounts."""
    return sorted({m["destination"] for m in oci_config(c)["mounts"]})


def write_contract(device: Device, tree: Tree, keyring_pem: bytes) -> None:
    ctx = {"device": device, "board": device.board, "storage": device.storage, "paths": SLOT_PATHS,
           "services": services(device)}
    for rel, template in FILES.items():
        tree.render(f"contract/{rel}", template, mode=0o755 if rel == "initramfs/init" else 0o644, **ctx)
    tree.write("contract/rauc/keyring.pem", keyring_pem)
    for cont in device.containers:
        tree.write(f"contract/containers/{cont.name}/config.json",
                   json.dumps(oci_config(cont), indent=2) + "\n")
