"""The on-disk contract: the facts every backend produces identically (docs/contract.md).

`write_contract(device, tree)` writes them under `contract/` of an output tree. Backends copy
these files into their images; they never recompute them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import units
from .model import APP_DEFAULT_MEMORY, APP_DEFAULT_PIDS, Container, Device, Health, ImageSource, Limits, Volume
from .render import Tree, render

# Paths inside the slot (docs/contract.md, "Slot contents").
MANIFEST_PATH = "/etc/pycontainers/manifest"
RELEASE_PATH = "/etc/pycontainers/release"
# What an app bundle's container configs may be (app_policy): beside the manifest, where the staging
# child of an app update reads it (runtime/policy.c)
APP_POLICY_PATH = "/etc/pycontainers/app-policy.json"
FW_ENV_CONFIG_PATH = "/etc/fw_env.config"
RAUC_CONF_PATH = "/etc/rauc/system.conf"
RAUC_KEYRING_PATH = "/etc/rauc/keyring.pem"
INITRAMFS_NAME = "initramfs.cpio.gz"
PYCM_PATH = "/sbin/pycm"
# The app store's work (staging, materialising, GC, verification, factory reset), a child pycm
# runs: nothing that parses update content is in PID 1 (docs/manager.md)
PYCM_STORE_PATH = "/sbin/pycm-store"
PYCMCTL_PATH = "/usr/bin/pycmctl"
# RAUC's pre-install handler: a link to pycm-store, which refuses an older system bundle
# (runtime/Makefile install makes it too)
RAUC_PRE_INSTALL_PATH = "/usr/libexec/pycontainers/rauc-pre-install"
# The manager's programs, as runtime/Makefile builds them (`make all`) and installs them: name -> path
MANAGER_PROGRAMS = {"pycm": PYCM_PATH, "pycm-store": PYCM_STORE_PATH, "pycmctl": PYCMCTL_PATH}
CRUN_PATH = "/usr/bin/crun"
# Bridge networking (docs/networking.md): the program pycm runs before a network: bridge container
# starts and after it stops (only in images with such a container), and the network namespace it
# makes for the container, which the container's config.json names.
PYCM_NET_PATH = "/usr/sbin/pycm-net"
NETNS_DIR = "/run/pycontainers/netns"
# DNS of bridge containers: the host OS (its host container, which gets DNS_DIR read-write) writes
# the host's resolver configuration to DNS_FILE; pycm-net copies it, without loopback name
# servers, to NETNS_DIR/NAME.resolv.conf when a bridge container starts, and config.json binds
# that copy read-only on /etc/resolv.conf (a file mount point every backend makes in the rootfs)
DNS_DIR = "/run/pycontainers/dns"
DNS_FILE = f"{DNS_DIR}/resolv.conf"
RESOLV_CONF = "/etc/resolv.conf"
# Kernel modules of bridge networking (Debian's kernels have them as modules; the Yocto and
# Buildroot kernel fragments build them in): veth pairs, a bridge, nf_tables with NAT and masquerade
NET_MODULES = ("veth", "bridge", "nf_tables", "nft_chain_nat", "nft_nat", "nft_masq")
NET_KERNEL_CONFIG = ("CONFIG_VETH", "CONFIG_BRIDGE", "CONFIG_NETFILTER", "CONFIG_NF_CONNTRACK", "CONFIG_NF_NAT",
                     "CONFIG_NF_TABLES", "CONFIG_NF_TABLES_IPV4", "CONFIG_NFT_NAT", "CONFIG_NFT_MASQ",
                     "CONFIG_IP_NF_IPTABLES", "CONFIG_NF_TABLES_INET")
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
SLOT_PATHS = {"manifest": MANIFEST_PATH, "release": RELEASE_PATH, "app_policy": APP_POLICY_PATH, "fw_env_config": FW_ENV_CONFIG_PATH,
              "rauc_conf": RAUC_CONF_PATH, "rauc_keyring": RAUC_KEYRING_PATH, "initramfs": INITRAMFS_NAME,
              "pycm": PYCM_PATH, "pycm_store": PYCM_STORE_PATH, "pycmctl": PYCMCTL_PATH, "crun": CRUN_PATH,
              "rauc_pre_install": RAUC_PRE_INSTALL_PATH, "pycm_net": PYCM_NET_PATH}

# The release file's SIGNING line: whether the device's keyring is a development key's (no
# update.signing). Release builds refuse the first: `--release` (Debian), PYCONTAINERS_RELEASE
# (Yocto), BR2_PYCONTAINERS_RELEASE (Buildroot).
SIGNING_DEVELOPMENT, SIGNING_RELEASE = "development", "release"


def release_fields(contract_dir: Path) -> dict[str, str]:
    """The NAME=VALUE lines of a rendered contract's release file (contract_dir/release)."""
    lines = (contract_dir / "release").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


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
# Contract files written as data, not from a template (and containers/NAME/config.json).
WRITTEN_FILES = ("rauc/keyring.pem", "app-policy.json")


@dataclass(frozen=True)
class ManagerPolicy:
    """The [pycm] settings of every image's manifest that are policy, not derived from the
    device file (docs/manifest.md)."""

    mark_good: str = "uboot-env"   # how a good boot is committed: the U-Boot env's boot state
    crun_root: str = "/run/crun"   # crun's state directory (tmpfs)
    stop_timeout: int = 10         # seconds a container gets from SIGTERM to SIGKILL
    watchdog: str = "/dev/watchdog"  # armed when the board has a watchdog


MANAGER = ManagerPolicy()


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
    restart: str = "always"
    backoff: tuple[int, int] = (1, 5)  # seconds: first restart delay, doubling up to the second
    crash_loop: tuple[int, int] = (5, 60)  # this many restarts within that many seconds: failed
    # liveness once healthy: checked every interval s, each may take timeout s, restarted after
    # `retries` failures in a row
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
        # RAUC answers slowly while it writes a slot (minutes on slow flash, or under a loaded
        # emulator): restarting it then would abort the install, so its liveness is lenient
        Service("rauc", "/usr/bin/rauc service", "exec rauc status", depends_on=("dbus",),
                interval=30, timeout=60, retries=5),
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
# The seccomp filter of app containers: Docker's default profile (an allow list; everything else
# fails with EPERM) resolved for APP_CAPABILITIES and each board architecture by
# scripts/seccomp-profile into data/seccomp.json, whose "source" names the profile's origin
# (docs/security.md). Namespace flags of clone are filtered, clone3 fails with ENOSYS (so libcs
# fall back to clone), unshare, setns, mount, keyctl, io_uring, bpf, ptrace of others... are not
# allowed.
SECCOMP = json.loads(resources.files(__package__).joinpath("data", "seccomp.json").read_text())
CPU_PERIOD_US = 100_000
APP_MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
                    "/sys/firmware"]
APP_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# The device cgroup of app containers (crun loads its eBPF device filter only when rules exist):
# everything refused, then what runc and Docker allow every container: mknod of any node (which
# cannot then be opened), null, zero, full, random, urandom, tty, console, ptmx and the pts.
# A container's declared `devices` are appended by the manager when it starts the container
# (docs/contract.md, "Declared devices"): it relies on this list being the last item of the file.
APP_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
      for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
]


def app_seccomp(arch: str) -> dict:
    """The OCI seccomp section of an app container on a board of this architecture."""
    profile = SECCOMP["arches"][arch]
    return {"defaultAction": SECCOMP["defaultAction"], "defaultErrnoRet": SECCOMP["defaultErrnoRet"],
            "architectures": profile["architectures"], "syscalls": profile["syscalls"]}


def _mount(dest: str, type_: str, source: str, options: list[str]) -> dict:
    return {"destination": dest, "type": type_, "source": source, "options": options}


# The mount that belongs to the container's user: uid=UID, gid=GID appended to its options unless
# the user is root (its ready file goes there).
USER_MOUNT = "/run"


def _mounts(c: Container) -> list[dict]:
    host = c.role == "host"
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
    owner = [f"uid={c.user[0]}", f"gid={c.user[1]}"] if c.user != (0, 0) else []
    mounts += [_mount(USER_MOUNT, "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=755", "size=16m", *owner]),
               _mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777", "size=16m"])]
    if host:  # below its /run: where the host OS writes the resolver configuration (DNS_FILE)
        mounts.append(_mount(DNS_DIR, "bind", DNS_DIR, ["bind", "rw", "nosuid", "nodev", "noexec"]))
    if c.network == "bridge":
        mounts.append(dns_mount(c.name))
    return mounts + [_volume_mount(v) for v in c.volumes]


def dns_mount(name: str) -> dict:
    """A bridge container's /etc/resolv.conf: pycm-net's copy of the host's (DNS_FILE)."""
    return _mount(RESOLV_CONF, "bind", f"{NETNS_DIR}/{name}.resolv.conf", ["bind", "ro", "nosuid", "nodev", "noexec"])


def _volume_mount(v: Volume) -> dict:
    return _mount(v.target, "bind", v.source, ["rbind", "ro" if v.readonly else "rw"])


def oci_config(c: Container, arch: str) -> dict:
    """The OCI runtime-spec config.json of one container on a board of architecture `arch`
    (docs/contract.md). "linux" is its last key, "resources" the last of that and "devices" the
    last of those: the manager appends a container's declared devices there."""
    host = c.role == "host"
    caps = HOST_CAPABILITIES if host else APP_CAPABILITIES
    namespaces = ["mount"] if host else ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    if c.network == "host":
        namespaces.remove("network")
    # bridge: the namespace pycm-net made and wired before the container starts
    linux: dict = {"namespaces": [{"type": n, "path": f"{NETNS_DIR}/{c.name}"} if n == "network" and c.network == "bridge"
                                  else {"type": n} for n in namespaces]}
    if not host:
        linux["maskedPaths"] = APP_MASKED_PATHS
        linux["readonlyPaths"] = APP_READONLY_PATHS
        linux["seccomp"] = app_seccomp(arch)
        res: dict = {}
        if c.limits.memory is not None:
            res["memory"] = {"limit": c.limits.memory}
        if c.limits.cpu is not None:
            res["cpu"] = {"quota": round(c.limits.cpu * CPU_PERIOD_US), "period": CPU_PERIOD_US}
        if c.limits.pids is not None:
            res["pids"] = {"limit": c.limits.pids}
        res["devices"] = APP_DEVICE_RULES
        linux["resources"] = res
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": c.user[0], "gid": c.user[1]},
            "args": list(c.command),
            "env": [f"{k}={v}" for k, v in c.environment],
            "cwd": c.workdir,
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": not host,
        },
        "root": {"path": "rootfs", "readonly": True},
        "mounts": _mounts(c),
    }
    if not host:
        config["hostname"] = c.name
    config["linux"] = linux
    return config


# The app container the app policy's reference config is made for: no volumes, root, the default
# limits; what an app container's config may vary from it is the policy's rules (docs/contract.md,
# "App config policy").
REFERENCE_APP = Container(
    name="app", role="app", image=ImageSource("packages"), command=("/bin/sh",),
    environment=(("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),), workdir="/", volumes=(), restart="always",
    backoff=(1, 30), crash_loop=(5, 60), depends_on=(), required=True, health=Health("none", "", 1, 5, 3),
    limits=Limits(units.parse_size(APP_DEFAULT_MEMORY), None, APP_DEFAULT_PIDS))
APP_POLICY_FORMAT = 1


def app_policy(arch: str) -> dict:
    """The app policy of a board of architecture `arch`: the reference config (oci_config of
    REFERENCE_APP), the mount of the container's user and the two forms of a volume's bind mount.
    The staging child of an app update checks every app container's config.json of a new revision
    against it (runtime/policy.c), so a signed app bundle gets no more than this generator gives."""
    return {
        "pycontainers-app-policy": APP_POLICY_FORMAT,
        "config": oci_config(REFERENCE_APP, arch),
        "userMount": USER_MOUNT,
        "volumeMounts": [_volume_mount(Volume("NAME", "/TARGET", ro)) for ro in (True, False)],
        "dnsMount": dns_mount("NAME"),
    }


def container_mount_points(c: Container) -> list[str]:
    """Directories that must exist in the (read-only) container rootfs for its mounts."""
    return sorted({m["destination"] for m in _mounts(c)} - set(container_mount_files(c)))


def container_mount_files(c: Container) -> list[str]:
    """Regular files that must exist in the (read-only) container rootfs for its file bind mounts
    (a symlink there is replaced by an empty file: the mount's source is what the path shows)."""
    return [RESOLV_CONF] if c.network == "bridge" else []


def template_context(device: Device, development_key: bool = True) -> dict:
    """What the contract's templates print."""
    return {"device": device, "board": device.board, "storage": device.storage, "paths": SLOT_PATHS,
            "manager": MANAGER, "services": services(device),
            "signing": SIGNING_DEVELOPMENT if development_key else SIGNING_RELEASE}


def init_script(device: Device) -> str:
    """The initramfs /init of a device, as write_contract writes it."""
    return render("contract/init.j2", **template_context(device))


def write_contract(device: Device, tree: Tree, keyring_pem: bytes, development_key: bool) -> None:
    """development_key: the keyring is a development key's (no update.signing): the release file
    says so, and the manager warns at every boot (docs/security.md)."""
    ctx = template_context(device, development_key)
    for rel, template in FILES.items():
        tree.render(f"contract/{rel}", template, mode=0o755 if rel == "initramfs/init" else 0o644, **ctx)
    tree.write("contract/rauc/keyring.pem", keyring_pem)
    tree.write("contract/app-policy.json", json.dumps(app_policy(device.board.arch), indent=2) + "\n")
    for cont in device.containers:
        tree.write(f"contract/containers/{cont.name}/config.json",
                   json.dumps(oci_config(cont, device.board.arch), indent=2) + "\n")
