"""The requirements table: everything a slot must provide, and how each backend provides it.

One table (docs/contract.md, "Requirements") that every rendering must satisfy:

- FILES: every file of a slot, with its path, mode and origin (generated: the contract's files;
  runtime: built from runtime/; package: installed by a package of the host);
- PROGRAMS: every host program, with the build FEATURES it needs (RAUC with its service on D-Bus,
  network, streaming, verity and the U-Boot backend; crun with seccomp; ...);
- APPLETS: every busybox applet the contract's /init and host processes call, derived from the
  rendered scripts, plus those the containers built from `packages` (busybox) call, derived from
  their commands in the device file;
- KERNEL: one list of kernel options, rendered into the Yocto .cfg and the Buildroot fragment and
  checked against the Debian kernel's /boot/config-*.

Each backend states how it provides each requirement (DEBIAN, YOCTO, BUILDROOT below);
`unmapped()` names every requirement a backend does not provide (tests/test_requirements.py),
`table_json()` is what `pycontainers requirements --json` prints for the real-tool parity checks
(scripts/realcheck/). A core module: it imports the contract and the model, never a backend.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass

from . import contract
from .model import Device

BACKENDS = ("debian", "yocto", "buildroot")
ORIGINS = ("generated", "runtime", "package")


@dataclass(frozen=True)
class Requirement:
    """One thing a slot must provide. id: KIND:NAME (file:/sbin/pycm, program:rauc,
    feature:rauc.service, applet:httpd, kernel:CONFIG_SQUASHFS)."""

    kind: str  # file | program | feature | applet | kernel
    name: str
    why: str
    # must: a backend without it is broken; should: a backend may state a limit instead
    need: str = "must"
    # file: its mode and origin
    mode: int | None = None
    origin: str = ""
    # program and file: the program (programs: its files)
    program: str = ""
    paths: tuple[str, ...] = ()
    # applet: who calls it
    users: tuple[str, ...] = ()
    # kernel: the fragment's group and whether only QEMU machines need it
    group: str = ""
    qemu_only: bool = False

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Provision:
    """How one backend provides one requirement: a human line, and the names a parity check asks
    the real tool about (Debian packages, Yocto recipes/packages, Buildroot symbols)."""

    how: str
    names: tuple[str, ...] = ()
    # Yocto: PACKAGECONFIG entries of the recipe named first; Buildroot: the symbols; kernel and
    # busybox: the config symbol in the fragment
    config: tuple[str, ...] = ()
    # not provided, and why (only for need == "should")
    limit: str = ""


# ---------------------------------------------------------------------------------------- programs

# name -> (paths in the slot, why)
PROGRAMS: dict[str, tuple[tuple[str, ...], str]] = {
    "pycm": ((contract.PYCM_PATH,), "the container manager, PID 1"),
    "pycm-store": ((contract.PYCM_STORE_PATH,), "the app store's work (staging, GC, verification, factory reset, "
                   "RAUC's pre-install handler), a child of pycm"),
    "pycmctl": ((contract.PYCMCTL_PATH,), "its control client: status, app-update, factory-reset, system-update"),
    "rauc": (("/usr/bin/rauc",), "the update engine; `rauc service` is a required host service of the manifest"),
    "dbus-daemon": (("/usr/bin/dbus-daemon",), "the system bus rauc service serves on"),
    "crun": ((contract.CRUN_PATH,), "the OCI runtime pycm starts every container with"),
    "fw_printenv": (("/usr/bin/fw_printenv",), "reads the A/B boot state (RAUC's U-Boot backend, pycm)"),
    "fw_setenv": (("/usr/bin/fw_setenv",), "writes the A/B boot state (RAUC's U-Boot backend, pycm's commit)"),
    "unsquashfs": (("/usr/bin/unsquashfs",), "rauc extract of app bundles (docs/app-updates.md)"),
    "mksquashfs": (("/usr/bin/mksquashfs",), "squashfs-tools, which RAUC recommends on the target"),
    "busybox": (("/bin/busybox",), "the shell and the applets of the host, the initramfs and busybox containers"),
}

# program -> feature -> (why, need)
FEATURES: dict[str, dict[str, tuple[str, str]]] = {
    "rauc": {
        "service": ("`rauc service`: the manifest's required host service; without it no boot is committed", "must"),
        "dbus": ("`rauc install`/`rauc status` talk to the service over the D-Bus system bus", "must"),
        "network": ("`rauc install http://...` (docs/updates.md, test_update_over_http)", "must"),
        "streaming": ("installs over HTTP without downloading the bundle first (nbd)", "should"),
        "verity": ("bundles are verity bundles (bundle-formats=-plain): dm-verity, loop, squashfs", "must"),
        "uboot": ("bootloader=uboot: the boot state through fw_setenv/fw_printenv", "must"),
    },
    "crun": {
        "seccomp": ("app containers' seccomp filter (Docker's allow list)", "must"),
    },
}


# Only in the slot of a device with a `network: bridge` container (docs/networking.md)
BRIDGE_PROGRAMS: dict[str, tuple[tuple[str, ...], str]] = {
    "pycm-net": ((contract.PYCM_NET_PATH,), "bridge networking of app containers: veth, bridge, addresses "
                 "(rtnetlink), NAT and published ports (nf_tables), run by pycm around a container's start"),
}


def _programs(device: Device | None = None) -> list[Requirement]:
    found = []
    programs = {**PROGRAMS, **(BRIDGE_PROGRAMS if device is not None and device.bridged else {})}
    for name, (paths, why) in programs.items():
        found.append(Requirement("program", name, why, paths=paths, program=name))
        for feature, (fwhy, need) in FEATURES.get(name, {}).items():
            found.append(Requirement("feature", f"{name}.{feature}", fwhy, need=need, program=name))
    return found


# ------------------------------------------------------------------------------------------- files

def _files(device: Device | None) -> list[Requirement]:
    kernel = device.board.kernel_image if device else "KERNEL"
    generated = [
        (contract.MANIFEST_PATH, "the manager's manifest"),
        (contract.RELEASE_PATH, "NAME, VERSION, COMPATIBLE, BOARD, SIGNING"),
        (contract.APP_POLICY_PATH, "what an app bundle's container configs may be"),
        (contract.FW_ENV_CONFIG_PATH, "where fw_setenv finds the boot state"),
        (contract.RAUC_CONF_PATH, "RAUC's slots, bootloader and handlers"),
        (contract.RAUC_KEYRING_PATH, "RAUC's trust anchor"),
        (contract.DBUS_CONF_PATH, "the system bus configuration"),
        (f"/boot/{contract.INITRAMFS_NAME}", "the initramfs: its /init switch_roots to pycm"),
        ("/etc/passwd", "root (D-Bus resolves its policy's user)"),
        ("/etc/group", "root's group"),
    ]
    found = [Requirement("file", p, why, mode=0o644, origin="generated") for p, why in generated]
    if device:
        found += [Requirement("file", f"{c.bundle}/config.json", f"OCI runtime config of {c.name}",
                              mode=0o644, origin="generated") for c in device.containers]
    found += [Requirement("file", f"/{m}", "mount point", mode=0o755, origin="generated")
              for m in contract.MOUNT_POINTS]
    found += [
        Requirement("file", contract.PYCM_PATH, "the manager", mode=0o755, origin="runtime", program="pycm"),
        Requirement("file", contract.PYCMCTL_PATH, "the control client", mode=0o755, origin="runtime",
                    program="pycmctl"),
        Requirement("file", contract.PYCM_STORE_PATH, "the app store's program", mode=0o755, origin="runtime",
                    program="pycm-store"),
        Requirement("file", contract.RAUC_PRE_INSTALL_PATH, "RAUC's pre-install handler: a link to pycm-store",
                    mode=0o777, origin="runtime", program="pycm-store"),
        Requirement("file", f"/boot/{kernel}", "the kernel U-Boot loads from the slot", mode=0o644,
                    origin="package"),
    ]
    if device is not None and device.bridged:
        found.append(Requirement("file", contract.PYCM_NET_PATH, "bridge networking (docs/networking.md)",
                                 mode=0o755, origin="runtime", program="pycm-net"))
    for name, (paths, _) in PROGRAMS.items():
        if name in ("pycm", "pycm-store", "pycmctl"):
            continue
        found += [Requirement("file", p, f"program {name}", mode=0o755, origin="package", program=name)
                  for p in paths]
    found.append(Requirement("file", "/bin/sh", "the shell of health checks and the console (busybox)",
                             mode=0o777, origin="package", program="busybox"))
    return found


# ----------------------------------------------------------------------------------------- applets

# Shell keywords and the builtins of busybox's ash: no applet needed.
SHELL_WORDS = frozenset("""
    ! { } [[ ]] case do done elif else esac fi for function if in then until while
    : . alias bg break cd chdir command continue eval exec exit export fg getopts hash jobs let
    local read readonly return set shift source times trap type ulimit umask unalias unset wait
""".split())
# Builtins of ash that busybox builds from an applet's code: they need the applet's symbol
# (echo: ASH_ECHO uses ECHO, test: TEST, printf: PRINTF, kill: KILL, true/false: TRUE/FALSE)
ASH_APPLET_BUILTINS = frozenset("echo test [ printf kill true false".split())
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


_SEPARATORS = frozenset(";  &  |  &&  ||  (  )  ;;  |&".split())
_REDIRECTIONS = frozenset("< > >> << >& <& <> >|".split())
_OPERATOR = re.compile(r";;|&&|\|\||\(\(|\)\)|\(\)|>>|<<|>&|<&|<>|>\||[;&|()<>]")
_PREFIX_WORDS = frozenset("then do else elif if while until ! { } exec command time".split())


def script_commands(script: str) -> set[str]:
    """The commands a POSIX shell script runs (the first word of each simple command, also inside
    $(...)), minus keywords, functions it defines and ash's own builtins. A tokenizer (shlex)
    with the shell's separators, case patterns and for-lists skipped: enough for the scripts this
    project writes (the contract's /init, the containers' commands), not a shell parser."""
    found: set[str] = set()
    for sub in re.findall(r"\$\((?!\()([^()]*(?:\([^()]*\)[^()]*)*)\)", script):
        found |= script_commands(sub)
    text = re.sub(r"(?m)^\s*#.*$", "", script)
    text = re.sub(r"(?m)\s#[^'\"\n]*$", "", text).replace("\n", " ; ")
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split, lex.commenters = True, ""
    try:
        raw = list(lex)
    except ValueError:  # unbalanced quotes: words as they are
        raw = text.split()
    tokens = []
    for t in raw:  # shlex joins neighbouring operators ("));"): split them again
        tokens += _OPERATOR.findall(t) if set(t) <= set(";&|()<>") else [t]
    functions: set[str] = set()
    command, case_pending, pattern, skip, arith = True, False, False, False, False
    for i, t in enumerate(tokens):
        if skip:
            skip = False
            continue
        if t == "((":  # arithmetic: $((...)), ((...))
            arith = True
            continue
        if arith:
            arith = t != "))"
            continue
        if t in _SEPARATORS:
            if pattern:
                if t == ")":
                    pattern, command = False, True
                continue
            if t == ";;":
                pattern = True
            command = True
            continue
        if t in _REDIRECTIONS:
            skip = True
            continue
        if pattern:
            if t == "esac":
                pattern, command = False, False
            continue
        if not command:
            if t == "in" and case_pending:
                case_pending, pattern = False, True
            continue
        if _ASSIGNMENT.match(t) or t in _PREFIX_WORDS:
            continue
        if t == "case":
            command, case_pending = False, True
            continue
        if tokens[i + 1:i + 2] == ["()"] or tokens[i + 1:i + 3] == ["(", ")"]:
            functions.add(t)
            skip = True  # the "()"; its body's first word is a command
            continue
        command = False
        word = t.rsplit("/", 1)[-1]
        if word and not t.startswith("$") and not word.isdigit() and re.fullmatch(r"[a-z0-9_\[.-]+", word):
            found.add(word)
    return found - functions - SHELL_WORDS - {"for", "fi", "done", "esac"}


def container_commands(c) -> set[str] | None:
    """The busybox applets a container built from packages with busybox calls: its command (a
    shell's -c script, or the applet named) and its exec health check. None: not a busybox
    container."""
    if c.image.kind != "packages" or not any(p.startswith("busybox") for p in c.image.packages):
        return None
    words = list(c.command)
    found: set[str] = set()
    if words and words[0].rsplit("/", 1)[-1] == "busybox":
        words = words[1:]
    if words:
        first = words[0].rsplit("/", 1)[-1]
        if first in ("sh", "ash") and "-c" in words[1:]:
            found |= {"sh"} | script_commands(words[words.index("-c") + 1])
        else:
            found.add(first)
    if c.health.kind == "exec":
        found |= {"sh"} | script_commands(c.health.value)
    return found


# The host's own callers: pycm runs health checks with /bin/sh -c, RAUC mounts bundles and slots
# with mount/umount (busybox's, in every backend).
HOST_APPLETS = {"sh": ("pycm: health checks (/bin/sh -c) and the console shell",),
                "mount": ("rauc: mounts the bundle and slots",), "umount": ("rauc",)}


def applet_users(device: Device | None, init_script: str | None = None) -> dict[str, tuple[str, ...]]:
    """applet -> who calls it: the initramfs /init (derived from the rendered script when given,
    else contract.INITRAMFS_APPLETS), the host, and the busybox containers of the device."""
    users: dict[str, list[str]] = {}

    def add(applets, who):
        for a in sorted(applets):
            users.setdefault(a, []).append(who)

    init = script_commands(init_script) | {"sh"} if init_script is not None else set(contract.INITRAMFS_APPLETS)
    add(init, "initramfs /init")
    for applet, who in HOST_APPLETS.items():
        add({applet}, who[0])
    for c in device.containers if device else ():
        found = container_commands(c)
        if found:
            add(found, f"container {c.name}")
    return {a: tuple(w) for a, w in sorted(users.items())}


# Applet -> busybox config symbol where it is not CONFIG_<APPLET>
APPLET_SYMBOLS = {"sh": "CONFIG_ASH", "[": "CONFIG_TEST", "[[": "CONFIG_TEST", "switch_root": "CONFIG_SWITCH_ROOT"}
# and what each needs beside it (the shell is ash, also as `sh`)
APPLET_EXTRA_SYMBOLS = {"sh": ("CONFIG_SH_IS_ASH",)}


def applet_symbols(applet: str) -> tuple[str, ...]:
    main = APPLET_SYMBOLS.get(applet, "CONFIG_" + applet.upper().replace("-", "_"))
    return (main, *APPLET_EXTRA_SYMBOLS.get(applet, ()))


def _applets(device: Device | None, init_script: str | None) -> list[Requirement]:
    return [Requirement("applet", a, f"busybox applet {a}", users=who, program="busybox")
            for a, who in applet_users(device, init_script).items()]


def busybox_fragment_lines(device: Device | None, init_script: str | None = None) -> list[str]:
    """The busybox config lines that give every applet of the table."""
    return sorted({f"{s}=y" for a in applet_users(device, init_script) for s in applet_symbols(a)})


# ------------------------------------------------------------------------------------------ kernel

@dataclass(frozen=True)
class KernelOption:
    symbol: str
    group: str
    qemu_only: bool = False
    # the Debian module that provides it where Debian's kernel builds it as a module (=m)
    debian_module: str = ""
    need: str = "must"


_KERNEL_GROUPS = (
    ("Block devices, partitions by GPT name, the slot and data filesystems", False, [
        ("CONFIG_BLK_DEV_INITRD", ""), ("CONFIG_RD_GZIP", ""), ("CONFIG_EFI_PARTITION", ""),
        ("CONFIG_EXT4_FS", "ext4"), ("CONFIG_DEVTMPFS", ""), ("CONFIG_TMPFS", "")]),
    ("Containers: cgroup v2 controllers (crun's device filter is a cgroup BPF program), namespaces, seccomp",
     False, [
        ("CONFIG_CGROUPS", ""), ("CONFIG_MEMCG", ""), ("CONFIG_CGROUP_PIDS", ""), ("CONFIG_CGROUP_SCHED", ""),
        ("CONFIG_CFS_BANDWIDTH", ""), ("CONFIG_CGROUP_FREEZER", ""), ("CONFIG_CGROUP_DEVICE", ""),
        ("CONFIG_BPF_SYSCALL", ""), ("CONFIG_CGROUP_BPF", ""), ("CONFIG_NAMESPACES", ""), ("CONFIG_UTS_NS", ""),
        ("CONFIG_IPC_NS", ""), ("CONFIG_PID_NS", ""), ("CONFIG_NET_NS", ""), ("CONFIG_USER_NS", ""),
        ("CONFIG_SECCOMP", ""), ("CONFIG_SECCOMP_FILTER", ""), ("CONFIG_POSIX_MQUEUE", "")]),
    ("RAUC verity bundles: loop devices, squashfs, dm-verity", False, [
        ("CONFIG_BLK_DEV_LOOP", "loop"), ("CONFIG_SQUASHFS", "squashfs"), ("CONFIG_SQUASHFS_XZ", ""),
        ("CONFIG_MD", ""), ("CONFIG_BLK_DEV_DM", "dm_mod"), ("CONFIG_DM_VERITY", "dm_verity")]),
    ("The manager feeds a hardware watchdog where the board has one", False, [("CONFIG_WATCHDOG", "")]),
    ("QEMU machines: the disk and network are virtio (MMIO on Arm virt, PCI on x86), the watchdog i6300esb",
     True, [
        ("CONFIG_VIRTIO", ""), ("CONFIG_VIRTIO_MMIO", "virtio_mmio"), ("CONFIG_VIRTIO_PCI", "virtio_pci"),
        ("CONFIG_VIRTIO_BLK", "virtio_blk"), ("CONFIG_VIRTIO_NET", "virtio_net"),
        ("CONFIG_I6300ESB_WDT", "i6300esb")]),
)
KERNEL = tuple(KernelOption(sym, group, qemu_only, module)
               for group, qemu_only, options in _KERNEL_GROUPS for sym, module in options)
# RAUC streaming reads the bundle through nbd: only where rauc.streaming is provided
KERNEL_STREAMING = KernelOption("CONFIG_BLK_DEV_NBD", "RAUC streaming: the bundle over HTTP through nbd",
                                debian_module="nbd", need="should")
KERNEL_ALL = (*KERNEL, KERNEL_STREAMING)
# Bridge networking, only for a device with a `network: bridge` container: the Yocto layer's
# pycontainers-net.cfg (PYCONTAINERS_NET), the Buildroot fragment's last block, Debian's modules
KERNEL_BRIDGE_GROUP = "Bridge networking of app containers (pycm-net): veth, bridge, nf_tables NAT and masquerade"
KERNEL_BRIDGE = tuple(KernelOption(sym, KERNEL_BRIDGE_GROUP) for sym in contract.NET_KERNEL_CONFIG)


def kernel_fragment(header: str, qemu: bool = False, only_qemu: bool = False) -> str:
    """The kernel config fragment: every option built in (=y); qemu: with the QEMU machines'
    options; only_qemu: just those (the Yocto layer's pycontainers-virtio.cfg)."""
    out = [header.rstrip("\n"), ""]
    groups: dict[str, list[KernelOption]] = {}
    for o in KERNEL_ALL:
        if (o.qemu_only and not (qemu or only_qemu)) or (only_qemu and not o.qemu_only):
            continue
        groups.setdefault(o.group, []).append(o)
    for group, options in groups.items():
        out.append(f"# {group}")
        out += [f"{o.symbol}=y" for o in options]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _kernel(device: Device | None = None) -> list[Requirement]:
    options = (*KERNEL_ALL, *(KERNEL_BRIDGE if device is not None and device.bridged else ()))
    return [Requirement("kernel", o.symbol, o.group, need=o.need, group=o.group, qemu_only=o.qemu_only)
            for o in options]


# ------------------------------------------------------------------------------------------- table

def table(device: Device | None = None, init_script: str | None = None) -> list[Requirement]:
    """Every requirement of a slot (of `device`, when given: its kernel file, containers' configs
    and busybox containers' applets)."""
    return [*_files(device), *_programs(device), *_applets(device, init_script), *_kernel(device)]


# -------------------------------------------------------------------------------- the three backends

P = Provision

# Debian: packages from the board's suite (debian/build.py HOST_PACKAGES) and files the build writes
DEBIAN_PROGRAMS = {
    "pycm": P("cross-compiled from runtime/ (static, musl) by the image build", ()),
    "pycmctl": P("cross-compiled from runtime/ with pycm", ()),
    "pycm-store": P("cross-compiled from runtime/ with pycm (make all)", ()),
    "pycm-net": P("cross-compiled from runtime/ with pycm, installed only for a device with a bridge container", ()),
    "rauc": P("package rauc", ("rauc",)),
    "dbus-daemon": P("package dbus-daemon", ("dbus-daemon",)),
    "crun": P("package crun", ("crun",)),
    "fw_printenv": P("package libubootenv-tool", ("libubootenv-tool",)),
    "fw_setenv": P("package libubootenv-tool", ("libubootenv-tool",)),
    "unsquashfs": P("package squashfs-tools", ("squashfs-tools",)),
    "mksquashfs": P("package squashfs-tools", ("squashfs-tools",)),
    "busybox": P("package busybox-static (linked as /bin/sh, mount, umount)", ("busybox-static",)),
}
DEBIAN_FEATURES = {
    "rauc.service": P("Debian's rauc is built with the service (meson -Dservice=true)", ("rauc",)),
    "rauc.dbus": P("Debian's rauc links libgio's D-Bus; dbus-daemon with the contract's dbus.conf", ("rauc",)),
    "rauc.network": P("Debian's rauc is built with network (libcurl)", ("rauc",)),
    "rauc.streaming": P("", limit="Debian 12's rauc 1.8 is built without streaming: HTTP installs download "
                                  "the bundle to /tmp first (docs/updates.md)"),
    "rauc.verity": P("always built in RAUC >= 1.5; loop, squashfs, dm_verity loaded by the initramfs",
                     ("rauc",)),
    "rauc.uboot": P("always built in RAUC; fw_setenv/fw_printenv from libubootenv-tool", ("rauc",)),
    "crun.seccomp": P("Debian's crun links libseccomp", ("crun",)),
}
# Yocto: recipes in PYCONTAINERS_HOST_PACKAGES (pycontainers-image.bbclass), PACKAGECONFIG in the
# distro (meta-pycontainers/conf/distro/pycontainers.conf), fragments of meta-pycontainers
YOCTO_PROGRAMS = {
    "pycm": P("meta-pycontainers pycm.bb (runtime/Makefile: pycm pycmctl, install)", ("pycm",)),
    "pycmctl": P("meta-pycontainers pycm.bb (do_compile builds it, runtime/Makefile install installs it)", ("pycm",)),
    "pycm-store": P("meta-pycontainers pycm.bb (make all, install)", ("pycm",)),
    "pycm-net": P("package pycm-net of meta-pycontainers pycm.bb (install-net), in the image of a device with a "
                  "bridge container", ("pycm",)),
    "rauc": P("meta-rauc rauc", ("rauc",)),
    "dbus-daemon": P("oe-core dbus", ("dbus",)),
    "crun": P("meta-virtualization crun", ("crun",)),
    "fw_printenv": P("oe-core libubootenv-bin", ("libubootenv-bin",)),
    "fw_setenv": P("oe-core libubootenv-bin", ("libubootenv-bin",)),
    "unsquashfs": P("oe-core squashfs-tools", ("squashfs-tools",)),
    "mksquashfs": P("oe-core squashfs-tools", ("squashfs-tools",)),
    "busybox": P("oe-core busybox + meta-pycontainers' busybox fragment", ("busybox",)),
}
YOCTO_FEATURES = {
    "rauc.service": P("PACKAGECONFIG:pn-rauc service (distro)", ("rauc",), ("service",)),
    "rauc.dbus": P("PACKAGECONFIG service: -Dservice=true, DEPENDS dbus", ("rauc",), ("service",)),
    "rauc.network": P("PACKAGECONFIG:pn-rauc network (curl)", ("rauc",), ("network",)),
    "rauc.streaming": P("PACKAGECONFIG:pn-rauc streaming (libnl); CONFIG_BLK_DEV_NBD in the kernel fragment",
                        ("rauc",), ("streaming",)),
    "rauc.verity": P("always built in RAUC >= 1.5; DISTRO_FEATURES rauc; dm-verity, loop, squashfs in the "
                     "kernel fragment", ("rauc",)),
    "rauc.uboot": P("always built in RAUC; PREFERRED_PROVIDER_virtual/bootloader u-boot makes rauc RDEPEND on "
                    "u-boot-fw-utils (libubootenv-bin)", ("rauc",)),
    "crun.seccomp": P("DISTRO_FEATURES seccomp (wrynose: crun's PACKAGECONFIG follows it; scarthgap: "
                      "crun's REQUIRED_DISTRO_FEATURES, our bbappend)", ("crun",)),
}
# Buildroot: Kconfig symbols of the generated defconfig
BUILDROOT_PROGRAMS = {
    "pycm": P("package pycm of the external tree", ("BR2_PACKAGE_PYCM",)),
    "pycmctl": P("package pycm of the external tree (pycm.mk installs both)", ("BR2_PACKAGE_PYCM",)),
    "pycm-store": P("package pycm of the external tree (make install)", ("BR2_PACKAGE_PYCM",)),
    "pycm-net": P("BR2_PACKAGE_PYCM_NET of the external tree, set for a device with a bridge container",
                  ("BR2_PACKAGE_PYCM_NET",)),
    "rauc": P("BR2_PACKAGE_RAUC", ("BR2_PACKAGE_RAUC",)),
    "dbus-daemon": P("BR2_PACKAGE_DBUS", ("BR2_PACKAGE_DBUS",)),
    "crun": P("BR2_PACKAGE_CRUN", ("BR2_PACKAGE_CRUN",)),
    "fw_printenv": P("BR2_PACKAGE_LIBUBOOTENV", ("BR2_PACKAGE_LIBUBOOTENV",)),
    "fw_setenv": P("BR2_PACKAGE_LIBUBOOTENV", ("BR2_PACKAGE_LIBUBOOTENV",)),
    "unsquashfs": P("BR2_PACKAGE_SQUASHFS", ("BR2_PACKAGE_SQUASHFS",)),
    "mksquashfs": P("BR2_PACKAGE_SQUASHFS", ("BR2_PACKAGE_SQUASHFS",)),
    "busybox": P("BR2_PACKAGE_BUSYBOX + busybox.fragment", ("BR2_PACKAGE_BUSYBOX",)),
}
BUILDROOT_FEATURES = {
    "rauc.service": P("BR2_PACKAGE_RAUC_DBUS (-Dservice=true)", ("BR2_PACKAGE_RAUC_DBUS",)),
    "rauc.dbus": P("BR2_PACKAGE_RAUC_DBUS", ("BR2_PACKAGE_RAUC_DBUS",)),
    "rauc.network": P("BR2_PACKAGE_RAUC_NETWORK", ("BR2_PACKAGE_RAUC_NETWORK",)),
    "rauc.streaming": P("BR2_PACKAGE_RAUC_STREAMING; CONFIG_BLK_DEV_NBD in linux.fragment",
                        ("BR2_PACKAGE_RAUC_STREAMING",)),
    "rauc.verity": P("always built in RAUC >= 1.5; dm-verity, loop, squashfs in linux.fragment", ("BR2_PACKAGE_RAUC",)),
    "rauc.uboot": P("always built in RAUC; fw_setenv from BR2_PACKAGE_LIBUBOOTENV", ("BR2_PACKAGE_LIBUBOOTENV",)),
    "crun.seccomp": P("BR2_PACKAGE_LIBSECCOMP (crun.mk: --enable-seccomp)", ("BR2_PACKAGE_LIBSECCOMP",)),
}

# Generated files: which contract file, and how each backend installs it
_GENERATED_HOW = {
    "debian": "copied from contract/ into the slot by debian/build.py",
    "yocto": "the device layer's bbappend of a meta-pycontainers recipe installs the contract's file",
    "buildroot": "the rootfs overlay of the external tree (board/<device>/rootfs-overlay)",
}
_YOCTO_FILE_RECIPES = {
    contract.MANIFEST_PATH: "pycontainers-config", contract.RELEASE_PATH: "pycontainers-config",
    contract.APP_POLICY_PATH: "pycontainers-config", contract.FW_ENV_CONFIG_PATH: "pycontainers-config",
    contract.DBUS_CONF_PATH: "pycontainers-config", contract.RAUC_CONF_PATH: "pycontainers-rauc-conf",
    contract.RAUC_KEYRING_PATH: "pycontainers-rauc-conf",
    f"/boot/{contract.INITRAMFS_NAME}": "pycontainers-initramfs",
}


# /etc/passwd and /etc/group: root only on Debian; the distros' own user databases elsewhere
USER_DATABASE = {path: {
    "debian": P("debian/build.py writes root only", ()),
    "yocto": P("oe-core base-passwd (root and the system users; useradd of dbus needs it)", ("base-passwd",)),
    "buildroot": P("the default skeleton (BR2_ROOTFS_SKELETON_DEFAULT)", ("BR2_ROOTFS_SKELETON_DEFAULT",)),
} for path in ("/etc/passwd", "/etc/group")}


def _file(backend: str, r: Requirement) -> Provision | None:
    if r.program:
        prog = {"debian": DEBIAN_PROGRAMS, "yocto": YOCTO_PROGRAMS, "buildroot": BUILDROOT_PROGRAMS}[backend]
        p = prog.get(r.program)
        return P(f"program {r.program}: {p.how}", p.names) if p else None
    if r.name.startswith("/boot/") and r.origin == "package":
        return {"debian": P("the board's kernel package (debian.kernel_package)", ()),
                "yocto": P("virtual/kernel deploy, copied by pycontainers-image.bbclass (PYCONTAINERS_KERNEL_IMAGE)",
                           ("virtual/kernel",)),
                "buildroot": P("BR2_LINUX_KERNEL_INSTALL_TARGET", ("BR2_LINUX_KERNEL_INSTALL_TARGET",))}[backend]
    if r.origin != "generated":
        return None
    if r.name in USER_DATABASE:
        return USER_DATABASE[r.name][backend]
    if backend == "yocto":
        if r.name.startswith(contract.CONTAINERS_DIR):
            return P("the device layer's container recipe (pycontainers-container.bbclass)", ())
        if r.name.lstrip("/") in contract.MOUNT_POINTS:
            return P("base-files (oe-core), /data by pycontainers-config", ("base-files",))
        recipe = _YOCTO_FILE_RECIPES.get(r.name)
        return P(f"{recipe}: {_GENERATED_HOW['yocto']}", (recipe,)) if recipe else None
    if backend == "buildroot" and r.name == f"/boot/{contract.INITRAMFS_NAME}":
        return P("post-build.sh packs the initramfs from the contract's init", ())
    if backend == "buildroot" and r.name.lstrip("/") in contract.MOUNT_POINTS:
        return P("post-build.sh makes the mount points in the target directory", ())
    if backend == "debian" and r.name == f"/boot/{contract.INITRAMFS_NAME}":
        return P("debian/build.py packs busybox, the board's modules and the contract's init", ())
    return P(_GENERATED_HOW[backend], ())


def _applet(backend: str, r: Requirement) -> Provision:
    symbols = applet_symbols(r.name)
    return {
        "debian": P("busybox-static: Debian's configuration has every applet of the table (checked in "
                    "the binary's applet list)", ("busybox-static",), symbols),
        "yocto": P("busybox fragment: meta-pycontainers' pycontainers.cfg (the contract's applets) and the "
                   "device layer's (its containers')", ("busybox",), symbols),
        "buildroot": P("busybox.fragment (BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES)", ("BR2_PACKAGE_BUSYBOX",),
                       symbols),
    }[backend]


def _kernel_provision(backend: str, r: Requirement) -> Provision:
    if r.group == KERNEL_BRIDGE_GROUP:
        return {"debian": P(f"Debian's kernel builds them as modules; the initramfs of a device with a bridge "
                            f"container loads {', '.join(contract.NET_MODULES)}", ("linux-image",), (r.name,)),
                "yocto": P("meta-pycontainers' kernel fragment pycontainers-net.cfg (the machine sets "
                           "PYCONTAINERS_NET)", ("virtual/kernel",), (r.name,)),
                "buildroot": P("linux.fragment's bridge networking block", ("BR2_LINUX_KERNEL",), (r.name,))}[backend]
    option = next(o for o in KERNEL_ALL if o.symbol == r.name)
    if backend == "debian":
        if option is KERNEL_STREAMING:
            return P("", limit="not needed: Debian 12's rauc has no streaming (feature:rauc.streaming)")
        if option.debian_module:
            return P(f"Debian's kernel builds it as module {option.debian_module}, loaded by the initramfs "
                     "(the board's debian.modules, contract.UPDATE_MODULES)", ("linux-image",), (r.name,))
        return P("built into Debian's kernel (=y)", ("linux-image",), (r.name,))
    if backend == "yocto":
        cfg = "pycontainers-virtio.cfg (QEMU machines)" if option.qemu_only else "pycontainers.cfg"
        return P(f"meta-pycontainers' kernel fragment {cfg} (linux-yocto, linux-raspberrypi)", ("virtual/kernel",),
                 (r.name,))
    return P("linux.fragment (BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES)", ("BR2_LINUX_KERNEL",), (r.name,))


def provision(backend: str, r: Requirement) -> Provision | None:
    """How `backend` provides `r`, or None: unmapped."""
    if r.kind == "program":
        return {"debian": DEBIAN_PROGRAMS, "yocto": YOCTO_PROGRAMS, "buildroot": BUILDROOT_PROGRAMS}[backend].get(r.name)
    if r.kind == "feature":
        return {"debian": DEBIAN_FEATURES, "yocto": YOCTO_FEATURES, "buildroot": BUILDROOT_FEATURES}[backend].get(r.name)
    if r.kind == "file":
        return _file(backend, r)
    if r.kind == "applet":
        return _applet(backend, r)
    if r.kind == "kernel":
        return _kernel_provision(backend, r)
    return None


def unmapped(reqs: list[Requirement]) -> list[str]:
    """One line per requirement a backend does not provide: no provision, a limit for a `must`, or
    a file of another origin than generated/runtime/package."""
    problems = []
    for r in reqs:
        if r.kind == "file" and r.origin not in ORIGINS:
            problems.append(f"requirement {r.id}: origin {r.origin!r} is not one of {', '.join(ORIGINS)}")
        for backend in BACKENDS:
            p = provision(backend, r)
            if p is None:
                problems.append(f"requirement {r.id}: backend {backend} does not say how it provides it")
            elif p.limit and r.need == "must":
                problems.append(f"requirement {r.id}: backend {backend} states a limit ({p.limit}) "
                                "for a requirement every slot must meet")
            elif not p.limit and not p.how:
                problems.append(f"requirement {r.id}: backend {backend}: empty provision")
    return problems


def packages(backend: str) -> tuple[str, ...]:
    """The host packages (Debian) or recipes (Yocto) the table's programs come from, in table
    order; pycm itself is built, not a package, on Debian."""
    prog = {"debian": DEBIAN_PROGRAMS, "yocto": YOCTO_PROGRAMS, "buildroot": BUILDROOT_PROGRAMS}[backend]
    names: list[str] = []
    for name in PROGRAMS:
        for n in prog[name].names:
            if n not in names:
                names.append(n)
    return tuple(names)


def table_json(device: Device | None = None, init_script: str | None = None) -> dict:
    """The table with every backend's provision, for the parity checks (scripts/realcheck/)."""
    rows = []
    for r in table(device, init_script):
        row = {k: v for k, v in asdict(r).items() if v not in ("", (), None, False) or k in ("kind", "name")}
        if r.mode is not None:
            row["mode"] = f"{r.mode:04o}"
        row["id"] = r.id
        row["need"] = r.need
        row["backends"] = {}
        for b in BACKENDS:
            p = provision(b, r)
            row["backends"][b] = None if p is None else {k: v for k, v in asdict(p).items() if v not in ("", ())}
        rows.append(row)
    return {"pycontainers-requirements": 1, "device": device.name if device else None,
            "board": device.board.name if device else None,
            "qemu": device.board.qemu is not None if device else None, "requirements": rows}


