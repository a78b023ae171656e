"""Buildroot backend: a BR2_EXTERNAL tree for one device (docs/buildroot.md).

`write_buildroot(device, tree, version)` writes OUTPUT/generated/buildroot/:

    external.desc, external.mk, Config.in     the external tree (name PYCONTAINERS)
    configs/<device>_defconfig                the board's upstream defconfig of that Buildroot
                                              LTS (conf/buildroot-versions.yml) plus ours
    package/pycm/                             the manager, built from src/pycm (local site)
    src/pycm/                                 the manager's sources, copied from runtime/
    board/<device>/                           post-build.sh, post-image.sh, kernel and busybox
                                              fragments, and the contract's files: genimage.cfg,
                                              boot.cmd, uboot-env.txt, manifest.raucm, the
                                              initramfs /init, rootfs-overlay/ (manifest,
                                              release, fw_env.config, RAUC system.conf and
                                              keyring, OCI configs), OCI images to unpack

The contract's files are copied byte for byte from the tree's contract/ (written first); the
Buildroot names and symbols are derived once in `buildroot_device()`; templates only format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..contract import (NET_KERNEL_CONFIG, DBUS_CONF_PATH, FILES, INITRAMFS_APPLETS, MOUNT_POINTS, SLOT_PATHS,
                        WRITTEN_FILES, container_mount_files, container_mount_points)
from .. import oci
from ..errors import UserError
from ..model import PROJECT_ROOT, Container, Device
from ..render import Tree
from .. import requirements
from ..contract import SIGNING_DEVELOPMENT, init_script
from ..requirements import busybox_fragment_lines, kernel_fragment

VERSIONS_FILE = PROJECT_ROOT / "conf" / "buildroot-versions.yml"
RUNTIME_DIR = PROJECT_ROOT / "runtime"
EXTERNAL_NAME = "PYCONTAINERS"
EXTERNAL_PATH = f"$(BR2_EXTERNAL_{EXTERNAL_NAME}_PATH)"

# Debian package names (image.packages) and what the Buildroot backend puts in their place.
# busybox-static: the target's busybox, built static (busybox.fragment), copied into the
# container's root filesystem by post-build.sh. Nothing else maps to a Buildroot package.
PACKAGE_MAP = {"busybox-static": "busybox"}

# Python modules oci-unpack.py needs (oci.LAYER_MODULES) -> the host python3 option that builds
# it (package/python3/Config.in.host, both LTS); None: always built (host-zlib is a dependency)
HOST_PYTHON3_MODULES = {"zlib": None, "bz2": "BR2_PACKAGE_HOST_PYTHON3_BZIP2", "lzma": "BR2_PACKAGE_HOST_PYTHON3_XZ"}

# The slot's kernel file name (board kernel.image) -> Buildroot's kernel binary format choice.
KERNEL_FORMATS = {"Image": "BR2_LINUX_KERNEL_IMAGE", "Image.gz": "BR2_LINUX_KERNEL_IMAGEGZ",
                  "zImage": "BR2_LINUX_KERNEL_ZIMAGE", "bzImage": "BR2_LINUX_KERNEL_BZIMAGE"}


# Contract file (under contract/) -> path in board/<device>/.
BOARD_FILES = {
    "genimage.cfg": "genimage.cfg",
    "boot.cmd": "boot.cmd",
    "uboot-env.txt": "uboot-env.txt",
    "rauc/manifest.raucm": "manifest.raucm",
    "initramfs/init": "initramfs/init",
}
# Contract file -> its path in the slot (the rootfs overlay).
OVERLAY_FILES = {
    "pycm/manifest": SLOT_PATHS["manifest"],
    "release": SLOT_PATHS["release"],
    "app-policy.json": SLOT_PATHS["app_policy"],
    "fw_env.config": SLOT_PATHS["fw_env_config"],
    "rauc/system.conf": SLOT_PATHS["rauc_conf"],
    "rauc/keyring.pem": SLOT_PATHS["rauc_keyring"],
    "dbus.conf": DBUS_CONF_PATH,
}
assert set(BOARD_FILES) | set(OVERLAY_FILES) >= set(FILES) | set(WRITTEN_FILES), "a contract file has no place in the Buildroot tree"
RUNTIME_FILES = ("Makefile", "*.c", "*.h")


@dataclass(frozen=True)
class Version:
    """One Buildroot LTS branch: its tag and the upstream base defconfigs."""

    name: str
    tag: str
    defconfigs: dict[str, str]
    headers: dict[str, str]  # base defconfig -> kernel headers series symbol (bases with an external toolchain)


@dataclass(frozen=True)
class Versions:
    versions: dict[str, Version]
    replaced: tuple[str, ...]
    uboot: dict[str, dict]
    watchdog_drivers: dict[str, str]

    def get(self, name: str) -> Version:
        if name not in self.versions:
            raise UserError(f"Buildroot version {name!r} is not known; known: {', '.join(sorted(self.versions))} "
                            f"({VERSIONS_FILE.relative_to(PROJECT_ROOT)})")
        return self.versions[name]

    def is_replaced(self, symbol: str) -> bool:
        return any(symbol.startswith(r[:-1]) if r.endswith("*") else symbol == r for r in self.replaced)


def load_versions(path: Path = VERSIONS_FILE) -> Versions:
    data = yaml.safe_load(path.read_text())
    return Versions(
        versions={name: Version(name, v["tag"], dict(v["defconfigs"]), dict(v.get("headers", {})))
                  for name, v in data["versions"].items()},
        replaced=tuple(data["replaced"]), uboot=dict(data["uboot"]),
        watchdog_drivers=dict(data["watchdog_drivers"]))


@dataclass(frozen=True)
class Line:
    """One defconfig line: a symbol and its value ('y', '"string"', or None for 'is not set')."""

    symbol: str
    value: str | None

    def __str__(self) -> str:
        return f"# {self.symbol} is not set" if self.value is None else f"{self.symbol}={self.value}"


@dataclass(frozen=True)
class Block:
    comment: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class BrContainer:
    name: str
    rootfs: str  # path of its root filesystem in the slot
    busybox: bool  # the target's busybox goes in
    oci: str | None  # board/<device>/containers/<name>/<this>: layout dir or archive to unpack
    oci_kind: str | None  # its image kind (oci-unpack.py --kind)
    oci_source: Path | None
    mountpoints: tuple[str, ...]
    mountfiles: tuple[str, ...]  # file mount points (a bridge container's /etc/resolv.conf)


@dataclass(frozen=True)
class BrDevice:
    """Everything the Buildroot templates print about one device, derived once."""

    device: Device
    version: Version
    board_dir: str  # relative to the external tree
    board_path: str  # the same through $(BR2_EXTERNAL_..._PATH), for the defconfig
    defconfig: str
    base_defconfig: str
    base: tuple[Line, ...]  # the upstream lines kept
    blocks: tuple[Block, ...]  # ours
    containers: tuple[BrContainer, ...]
    mount_points: tuple[str, ...]
    initramfs_applets: tuple[str, ...]
    kernel_image: str
    initramfs: str
    needs_python: bool
    watchdog_config: str | None  # kernel symbol of the board's watchdog driver
    bundle: str  # RAUC bundle file name in the images directory
    keyring: str  # the keyring's path in the slot (the default signing certificate)
    release_path: str  # the release file in the slot (its SIGNING line: BR2_PYCONTAINERS_RELEASE)
    signing_development: str = SIGNING_DEVELOPMENT
    external_name: str = EXTERNAL_NAME
    pycm_version: str = ""
    net_config: tuple[str, ...] = ()  # kernel symbols of bridge networking, where a container uses it


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_defconfig(text: str) -> list[Line]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("# ") and raw.endswith(" is not set"):
            lines.append(Line(raw[2:-len(" is not set")], None))
        elif raw and not raw.startswith("#"):
            sym, _, value = raw.partition("=")
            lines.append(Line(sym, value))
    return lines


def table_symbols(device: Device) -> tuple[str, ...]:
    """The Buildroot symbols the requirements table names for the slot's programs and their
    features (requirements.BUILDROOT_PROGRAMS/_FEATURES), sorted: the userspace of the defconfig."""
    names: set[str] = set()
    for r in requirements.table(device):
        p = requirements.provision("buildroot", r)
        if r.kind in ("program", "feature") and p is not None and not p.limit:
            names |= set(p.names)
    return tuple(sorted(names))


def _container(device: Device, c: Container) -> BrContainer:
    mps, mfs = tuple(container_mount_points(c)), tuple(container_mount_files(c))
    if c.image.kind == "packages":
        unknown = [p for p in c.image.packages if p not in PACKAGE_MAP]
        if unknown:
            raise UserError(
                f"{device.display}: container {c.name}: image.packages: {', '.join(map(repr, unknown))} "
                f"cannot be built by the Buildroot backend (it maps only {', '.join(sorted(PACKAGE_MAP))}, "
                "to the target's busybox); use an oci-layout, oci-archive or docker-archive image")
        return BrContainer(c.name, f"{c.bundle}/rootfs", True, None, None, None, mps, mfs)
    assert c.image.path is not None
    return BrContainer(c.name, f"{c.bundle}/rootfs", False, c.image.path.name, c.image.kind, c.image.path, mps, mfs)


def buildroot_device(device: Device, version_name: str, versions: Versions) -> BrDevice:
    from .. import __version__

    version = versions.get(version_name)
    board = device.board
    base_name = board.buildroot_defconfig
    if base_name not in version.defconfigs:
        raise UserError(f"{board.source}: buildroot.defconfig: {base_name!r} has no base for Buildroot "
                        f"{version.name} in {VERSIONS_FILE.relative_to(PROJECT_ROOT)}; known: "
                        f"{', '.join(sorted(version.defconfigs))}")
    if board.kernel_image not in KERNEL_FORMATS:
        raise UserError(f"{board.source}: kernel.image: {board.kernel_image!r} is not a kernel Buildroot builds "
                        f"({', '.join(KERNEL_FORMATS)})")
    if board.watchdog_module and board.watchdog_module not in versions.watchdog_drivers:
        raise UserError(f"{board.source}: watchdog.module: {board.watchdog_module!r} has no kernel symbol in "
                        f"{VERSIONS_FILE.relative_to(PROJECT_ROOT)} (watchdog_drivers)")
    containers = tuple(_container(device, c) for c in device.containers)
    board_dir = f"board/{device.name}"
    bpath = f"{EXTERNAL_PATH}/{board_dir}"
    needs_python = any(c.oci for c in containers)
    uboot = versions.uboot[base_name]
    y = "y"

    def lines(*pairs) -> tuple[Line, ...]:
        return tuple(p if isinstance(p, Line) else Line(*p) for p in pairs)

    blocks = [
        Block("Toolchain: musl has the wchar and threads RAUC (glib2) needs"
              + ("; the headers of the board's kernel, of this series" if base_name in version.headers else ""),
              lines(("BR2_TOOLCHAIN_BUILDROOT_MUSL", y),
                    *(((version.headers[base_name], y),) if base_name in version.headers else ()))),
        Block("System: no init system; the initramfs hands over to pycm as PID 1",
              lines(("BR2_TARGET_GENERIC_HOSTNAME", _q(device.hostname)),
                    ("BR2_TARGET_GENERIC_ISSUE", _q(f"{device.name} {device.version}")),
                    ("BR2_INIT_NONE", y),
                    ("BR2_ROOTFS_DEVICE_CREATION_DYNAMIC_DEVTMPFS", y),
                    ("BR2_ROOTFS_OVERLAY", _q(f"{bpath}/rootfs-overlay")),
                    ("BR2_ROOTFS_POST_BUILD_SCRIPT", _q(f"{bpath}/post-build.sh")),
                    ("BR2_ROOTFS_POST_IMAGE_SCRIPT", _q(f"{bpath}/post-image.sh")))),
        Block(f"Kernel: /boot/{board.kernel_image} in the slot, containers and RAUC built in",
              lines((KERNEL_FORMATS[board.kernel_image], y),
                    ("BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES", _q(f"{bpath}/linux.fragment")),
                    ("BR2_LINUX_KERNEL_INSTALL_TARGET", y))),
        Block("Host userspace, from the requirements table (requirements.py): busybox, crun with seccomp, "
              "fw_printenv/fw_setenv, the D-Bus system bus and RAUC's service on it with network and "
              "streaming, squashfs-tools (rauc extract of app bundles), pycm",
              lines(("BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES", _q(f"{bpath}/busybox.fragment")),
                    *((sym, y) for sym in table_symbols(device)),
                    # bridge networking (docs/networking.md): only where a container uses it
                    *((("BR2_PACKAGE_PYCM_NET", y),) if device.bridged else ()))),
        Block(f"Slot image: ext4 without journal, {device.storage.slots[0].size_mib} MiB (storage.rootfs)",
              lines(("BR2_TARGET_ROOTFS_EXT2", y),
                    ("BR2_TARGET_ROOTFS_EXT2_4", y),
                    ("BR2_TARGET_ROOTFS_EXT2_SIZE", _q(f"{device.storage.slots[0].size_mib}M")),
                    ("BR2_TARGET_ROOTFS_EXT2_MKFS_OPTIONS", _q("-O ^64bit,^has_journal")),
                    ("BR2_TARGET_ROOTFS_TAR", None))),
        Block(f"Bootloader: U-Boot ({uboot['board']}) runs boot.scr from the boot partition",
              lines(("BR2_TARGET_UBOOT", y),
                    ("BR2_TARGET_UBOOT_BUILD_SYSTEM_KCONFIG", y),
                    ("BR2_TARGET_UBOOT_BOARD_DEFCONFIG", _q(uboot["board"])),
                    *parse_defconfig(uboot.get("config", "")),
                    *((("BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE", _q(f"{bpath}/config.txt")),)
                      if "firmware_config" in uboot else ()))),
        Block("Host tools: genimage (the disk), mkimage (boot.scr), mkenvimage (boot state), rauc (bundles)"
              + (", python3 with every layer decompressor (oci-unpack.py)" if needs_python else ""),
              lines(("BR2_PACKAGE_HOST_DOSFSTOOLS", y),
                    ("BR2_PACKAGE_HOST_GENIMAGE", y),
                    ("BR2_PACKAGE_HOST_MTOOLS", y),
                    *((("BR2_PACKAGE_HOST_PYTHON3", y),
                       *((sym, y) for sym in sorted({HOST_PYTHON3_MODULES[m] for m in oci.LAYER_MODULES.values()} - {None})))
                      if needs_python else ()),
                    ("BR2_PACKAGE_HOST_RAUC", y),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS", y),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE", y),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_SOURCE", _q(f"{bpath}/uboot-env.txt")),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_SIZE", _q(f"{device.storage.env_blob_size:#x}")),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS_BOOT_SCRIPT", y),
                    ("BR2_PACKAGE_HOST_UBOOT_TOOLS_BOOT_SCRIPT_SOURCE", _q(f"{bpath}/boot.cmd")))),
    ]
    ours = {ln.symbol for b in blocks for ln in b.lines}
    base = tuple(ln for ln in parse_defconfig(version.defconfigs[base_name])
                 if not versions.is_replaced(ln.symbol) and ln.symbol not in ours)
    return BrDevice(
        device=device, version=version, board_dir=board_dir, board_path=bpath,
        defconfig=f"{device.name.replace('-', '_')}_defconfig", base_defconfig=base_name, base=base,
        blocks=tuple(blocks), containers=containers, mount_points=tuple(f"/{m}" for m in MOUNT_POINTS),
        initramfs_applets=INITRAMFS_APPLETS, kernel_image=board.kernel_image,
        initramfs=SLOT_PATHS["initramfs"], needs_python=needs_python,
        bundle=f"{device.name}-{device.version}.raucb", keyring=SLOT_PATHS["rauc_keyring"],
        release_path=SLOT_PATHS["release"],
        watchdog_config=versions.watchdog_drivers.get(board.watchdog_module or ""), pycm_version=__version__,
        net_config=NET_KERNEL_CONFIG if device.bridged else ())


def write_buildroot(device: Device, tree: Tree, version: str) -> None:
    b = buildroot_device(device, version, load_versions())
    board = device.board
    ctx = {"b": b, "device": device, "board": board, "storage": device.storage}
    top, bdir = "buildroot", f"buildroot/{b.board_dir}"
    contract = tree.root / "contract"

    firmware_config = load_versions().uboot[board.buildroot_defconfig].get("firmware_config")
    if firmware_config:
        tree.write(f"{bdir}/config.txt", firmware_config.encode())
    tree.render(f"{top}/external.desc", "buildroot/external.desc.j2", **ctx)
    tree.render(f"{top}/external.mk", "buildroot/external.mk.j2", **ctx)
    tree.render(f"{top}/Config.in", "buildroot/Config.in.j2", **ctx)
    tree.render(f"{bdir}/Config.in", "buildroot/board/Config.in.j2", **ctx)
    tree.render(f"{top}/configs/{b.defconfig}", "buildroot/defconfig.j2", **ctx)
    tree.render(f"{top}/package/pycm/Config.in", "buildroot/pycm/Config.in.j2", **ctx)
    tree.render(f"{top}/package/pycm/pycm.mk", "buildroot/pycm/pycm.mk.j2", **ctx)
    for pattern in RUNTIME_FILES:
        for f in sorted(RUNTIME_DIR.glob(pattern)):
            tree.write(f"{top}/src/pycm/{f.name}", f.read_bytes())

    for rel, dest in BOARD_FILES.items():
        src = contract / rel
        tree.write(f"{bdir}/{dest}", src.read_bytes(), mode=src.stat().st_mode & 0o777)
    for rel, slot_path in OVERLAY_FILES.items():
        tree.write(f"{bdir}/rootfs-overlay{slot_path}", (contract / rel).read_bytes())
    for c in device.containers:
        tree.write(f"{bdir}/rootfs-overlay{c.bundle}/config.json",
                   (contract / "containers" / c.name / "config.json").read_bytes())
    for bc in b.containers:
        if bc.oci_source is not None:
            tree.copy(bc.oci_source, f"{bdir}/containers/{bc.name}/{bc.oci}")
    if b.needs_python:
        tree.write(f"{bdir}/oci-unpack.py", Path(oci.__file__).read_bytes(), mode=0o755)

    kernel = kernel_fragment(f"# Kernel of {device.name} ({board.name}), generated by pycontainers; do not edit.\n"
                             "# What a pycontainers host needs, built in (the initramfs then loads no modules):\n"
                             "# the requirements table's kernel options (generator/pycontainers/requirements.py).",
                             qemu=board.qemu is not None)
    tree.render(f"{bdir}/linux.fragment", "buildroot/linux.fragment.j2", kernel=kernel.rstrip("\n"), **ctx)
    tree.render(f"{bdir}/busybox.fragment", "buildroot/busybox.fragment.j2",
                applets=busybox_fragment_lines(device, init_script(device)), **ctx)
    tree.render(f"{bdir}/post-build.sh", "buildroot/post-build.sh.j2", mode=0o755, **ctx)
    tree.render(f"{bdir}/post-image.sh", "buildroot/post-image.sh.j2", mode=0o755, **ctx)
