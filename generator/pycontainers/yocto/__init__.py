"""Yocto backend: a device layer, a kas file and a bitbake-setup configuration (docs/yocto.md).

`write_yocto(device, tree, series, placement)` writes OUTPUT/generated/yocto/:

    meta-<device>/          the device layer: machine, A/B image, container recipes, RAUC bundle,
                            the wks layout and bbappends that hand the contract's files
                            (boot.cmd, uboot-env.txt, system.conf, keyring, manifest, init, OCI
                            configs) to meta-pycontainers' recipes
    kas.yml                 kas project: the pinned upstream layers, meta-pycontainers, the layer
    <device>.conf.json      bitbake-setup configuration (wrynose; scarthgap has no fragments)

The contract's files are copied byte for byte from the tree's contract/ (written first); the
Yocto names below are derived once in `yocto_device()` and the templates only format them.
Where meta-pycontainers comes from (a commit of this checkout, or its path) and where kas finds
the device layer depend on the checkout and on the output directory: `placement()` decides
both once, before rendering (yocto/checkout.py).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import oci
from ..contract import container_mount_files, container_mount_points, init_script, release_fields
from ..requirements import KERNEL_BRIDGE, busybox_fragment_lines, kernel_fragment
from ..errors import UserError
from ..model import PROJECT_ROOT, Board, Container, Device, Partition
from ..render import Tree
from .checkout import LAYER_SOURCES, kas_repo_root, project_source
from .pins import Pins, Source, load_pins

STATIC_LAYER = PROJECT_ROOT / "meta-pycontainers"
# the directory holding meta-pycontainers and runtime/: the checkout, or an installed package's data
PROJECT_DIR = STATIC_LAYER.resolve().parent
DISTRO = "pycontainers"
STATIC_COLLECTION = "pycontainers"


@dataclass(frozen=True)
class SeriesFacts:
    """What differs between the Yocto LTS series for the generated files."""

    release: str
    # wic renamed its source plugins with '-' to '_' after scarthgap
    bootimg_plugin: str
    # bitbake-setup and OE fragments (machine/X, distro/Y) exist from 6.0 on
    bitbake_setup: bool


SERIES = {
    "scarthgap": SeriesFacts("5.0", "bootimg-partition", bitbake_setup=False),
    "wrynose": SeriesFacts("6.0", "bootimg_partition", bitbake_setup=True),
}

# Licenses of what a container built from packages ships, per series (oe-core's LICENSE of the
# recipe; the parity check scripts/realcheck/yocto-parity compares them with bitbake -e). glibc
# comes with every dynamically linked package.
SERIES_LICENSES = {
    "scarthgap": {"busybox": "GPL-2.0-only & bzip2-1.0.4", "glibc": "GPL-2.0-only & LGPL-2.1-or-later"},
    "wrynose": {"busybox": "GPL-2.0-only & bzip2-1.0.6", "glibc": "GPL-2.0-only & LGPL-2.1-or-later"},
}
# md5 of oe-core's common license texts (the same in both series)
COMMON_LICENSE_MD5 = {
    "GPL-2.0-only": "801f80980d171dd6425610833a22dbe6", "LGPL-2.1-or-later": "2a4f4fd2128ea2f65047ee63fbca9f68",
    "bzip2-1.0.4": "452e1b423688222dcfc3cb9462c92902", "bzip2-1.0.6": "841c5495611ae95b13e80fa4a0627333",
}

# Debian package names (a container's image.packages) that Yocto spells differently; the others
# are the same in both (curl, lighttpd, ...). busybox is dynamically linked in Yocto: its libc is
# installed into the container's root filesystem with it.
YOCTO_PACKAGE_NAMES = {"busybox-static": "busybox"}

# wic options of each partition by content (docs/contract.md: the same layout as genimage.cfg)
PART_OPTIONS = {
    "boot": "--source {bootimg} --fstype=vfat --label BOOT --active",
    "uboot-env": '--source rawcopy --sourceparams="file=uboot-env.img"',
    "slot": '--source rootfs --fstype=ext4 --mkfs-extraopts="-F -i 4096 -O ^has_journal"',
    "data": "--fstype=ext4 --label data",
}
PART_CONTENT = {"boot": "vfat: boot.scr", "uboot-env": "raw: A/B boot state",
                "slot": "ext4: the image, no journal", "data": "ext4: /data"}


@dataclass(frozen=True)
class Placement:
    """Where a build takes the layers from: meta-pycontainers (a commit of this checkout, or a
    path) and the device layer (its path inside kas's repository `device`)."""

    project: Source
    device_layer: str


def placement(layer_source: str | None, directory: Path, pins: Pins | None = None) -> Placement:
    """The placement of a Yocto tree to be written to `directory` (OUTPUT/generated/yocto)."""
    pins = pins or load_pins()
    rel = directory.resolve().relative_to(kas_repo_root(directory))  # "." when kas takes the directory itself
    return Placement(project_source(pins, layer_source, PROJECT_DIR), str(rel))


@dataclass(frozen=True)
class YoctoContainer:
    name: str
    recipe: str  # bundle package recipe (pycontainers-container)
    rootfs_recipe: str | None  # image recipe of its packages, when built from packages
    packages: tuple[str, ...]  # Yocto package names
    oci: str | None  # file or directory name of an OCI layout/archive in the recipe's files/
    oci_uri: str | None  # its SRC_URI entry (an archive stays packed: the class unpacks it)
    oci_source: Path | None  # where it is copied from
    oci_convert: bool  # a docker-archive, written as an OCI layout (umoci reads only those)
    mountpoints: tuple[str, ...]
    mountfiles: tuple[str, ...]  # file mount points (a bridge container's /etc/resolv.conf)
    # LICENSE of the bundle recipe: its contents' licenses; CLOSED with `unknown` naming what
    # pycontainers cannot know (an OCI image's, a package outside SERIES_LICENSES)
    license: str = "CLOSED"
    license_files: tuple[tuple[str, str], ...] = ()
    license_unknown: str = ""

    @property
    def license_uris(self) -> list[str]:
        return [f"file://${{COMMON_LICENSE_DIR}}/{name};md5={md5}" for name, md5 in self.license_files]


@dataclass(frozen=True)
class WksPartition:
    name: str
    options: str
    size_mib: int
    offset_mib: int
    content: str


@dataclass(frozen=True)
class YoctoDevice:
    """Everything the Yocto templates print about one device, derived once."""

    device: Device
    series: str
    facts: SeriesFacts
    layer: str  # directory and name of the device layer
    collection: str
    machine: str  # the device's machine, derived from the board's
    base_machine: str
    board_include: str | None  # conf/machine/include/... of meta-pycontainers for this board
    image: str
    bundle: str
    wks: str
    kernel_image: str
    slot_size_kib: int
    env_size: int
    containers: tuple[YoctoContainer, ...]
    partitions: tuple[WksPartition, ...]
    runqemu: tuple[tuple[str, str], ...]
    sources: tuple[Source, ...]  # pinned upstream sources, base then BSP
    project: Source  # this repository (meta-pycontainers): a commit of it, or its path
    device_layer_path: str  # the device layer in kas's repository `device` (its root: see checkout.py)
    signing: str  # the release file's SIGNING (development or release): PYCONTAINERS_SIGNING
    layer_depends: tuple[str, ...]
    pins_date: str

    @property
    def bb_layers(self) -> list[str]:
        """Layers relative to the directory holding the sources (bitbake-setup bb-layers)."""
        return [p for s in (*self.sources, self.project) for p in s.layer_paths()]


def _licenses(pkgs: tuple[str, ...], series: str) -> dict:
    known = SERIES_LICENSES[series]
    unknown = [p for p in pkgs if p not in known]
    if unknown:
        return {"license_unknown": f"packages {', '.join(unknown)}"}
    names: list[str] = []
    for p in (*pkgs, "glibc"):
        names += [n for n in known[p].split(" & ") if n not in names]
    return {"license": " & ".join(names), "license_files": tuple((n, COMMON_LICENSE_MD5[n]) for n in names)}


def _container(device: Device, c: Container, series: str) -> YoctoContainer:
    recipe = f"{device.name}-container-{c.name}"
    if c.image.kind == "packages":
        pkgs = tuple(YOCTO_PACKAGE_NAMES.get(p, p) for p in c.image.packages)
        return YoctoContainer(c.name, recipe, f"{recipe}-rootfs", pkgs, None, None, None, False,
                              tuple(container_mount_points(c)), tuple(container_mount_files(c)),
                              **_licenses(pkgs, series))
    source = c.image.path
    assert source is not None
    convert = c.image.kind == "docker-archive"
    name = source.name.removesuffix(".tar") + ".oci" if convert else source.name
    uri = f"file://{name};unpack=0" if c.image.kind == "oci-archive" else f"file://{name}"
    return YoctoContainer(c.name, recipe, None, (), name, uri, source, convert, tuple(container_mount_points(c)),
                          tuple(container_mount_files(c)), license_unknown=f"the {c.image.kind} image {source.name}")


def _partition(p: Partition, facts: SeriesFacts) -> WksPartition:
    kind = "slot" if p.slot else p.name
    options = PART_OPTIONS[kind].format(bootimg=facts.bootimg_plugin)
    if p.gpt_type:
        options += f" --part-type {p.gpt_type}"
    return WksPartition(p.name, options, p.size_mib, p.offset_mib, PART_CONTENT[kind])


def runqemu_settings(board: Board) -> tuple[tuple[str, str], ...]:
    """runqemu on a QEMU machine: U-Boot as the firmware (as the board's qemu.firmware hands it to
    QEMU), the wic disk, no kernel of runqemu's own (U-Boot loads it from the slot). None for real
    boards."""
    if not board.qemu:
        return ()
    settings = [("QB_DEFAULT_FSTYPE", "wic")]
    if board.qemu.get("firmware") == "opensbi":
        # OpenSBI (oe-core's QB_DEFAULT_BIOS fw_jump.elf) starts the S-mode U-Boot as its payload
        settings.append(("QB_DEFAULT_KERNEL", "${UBOOT_BINARY}"))
    else:
        settings += [("QB_DEFAULT_BIOS", "${UBOOT_BINARY}"), ("QB_DEFAULT_KERNEL", "none")]
    if board.arch == "x86_64":
        settings.insert(0, ("UBOOT_SUFFIX", "rom"))  # qemu-x86_64's U-Boot is a ROM image
    return tuple(settings)


def yocto_device(device: Device, series: str, pins: Pins, where: Placement, signing: str) -> YoctoDevice:
    board = device.board
    pins.check_bsp(board.yocto_layers, str(board.source))
    facts = SERIES[series]
    sources = tuple(pins.sources_for(series, board.yocto_layers))
    include = f"conf/machine/include/pycontainers-{board.yocto_machine}.inc"
    return YoctoDevice(
        device=device, series=series, facts=facts,
        layer=f"meta-{device.name}", collection=f"pycontainers-{device.name}",
        machine=f"{device.name}-{board.yocto_machine}", base_machine=board.yocto_machine,
        board_include=include if (STATIC_LAYER / include).is_file() else None,
        image=f"{device.name}-image", bundle=f"{device.name}-bundle", wks=f"{device.name}.wks",
        kernel_image=board.kernel_image, slot_size_kib=device.storage.slot_size // 1024,
        env_size=device.storage.env_blob_size,
        containers=tuple(_container(device, c, series) for c in device.containers),
        runqemu=runqemu_settings(board),
        partitions=tuple(_partition(p, facts) for p in device.storage.partitions),
        sources=sources, project=where.project,
        device_layer_path=f"{where.device_layer}/meta-{device.name}".removeprefix("./"), signing=signing,
        layer_depends=(STATIC_COLLECTION, *(s.collection for s in sources if s.collection)),
        pins_date=pins.date)


def bitbake_setup_config(y: YoctoDevice) -> dict:
    """The bitbake-setup configuration (bitbake's setup-schema/bitbake-setup.schema.json)."""
    def source(s: Source) -> dict:
        if s.path:
            return {"local": {"path": s.path}}
        return {"git-remote": {"uri": s.url, **({"branch": s.branch} if s.branch else {}), "rev": s.commit}}

    sources = {s.name: source(s) for s in (*y.sources, y.project)}
    d = y.device
    return {
        "description": f"pycontainers device {d.name} ({d.board.name}), Yocto {y.facts.release} {y.series}; "
                       f"generated by pycontainers from {d.display}, pins of {y.pins_date}",
        "sources": sources,
        "bitbake-setup": {"configurations": [{
            "name": d.name,
            "description": f"{d.name} {d.version}: A/B image {y.image} for MACHINE {y.machine}",
            "setup-dir-name": f"pycontainers-{d.name}-{y.series}",
            "bb-layers": y.bb_layers,
            "bb-layers-file-relative": [y.layer],
            "oe-fragments": [f"machine/{y.machine}", f"distro/{DISTRO}"],
        }]},
        "version": "1.0",
    }


# contract file -> (recipes directory in the device layer, bbappend of meta-pycontainers' recipe)
CONTRACT_FILES = {
    "pycm/manifest": ("recipes-core/pycontainers-config", "pycontainers-config"),
    "release": ("recipes-core/pycontainers-config", "pycontainers-config"),
    "app-policy.json": ("recipes-core/pycontainers-config", "pycontainers-config"),
    "fw_env.config": ("recipes-core/pycontainers-config", "pycontainers-config"),
    "dbus.conf": ("recipes-core/pycontainers-config", "pycontainers-config"),
    "rauc/system.conf": ("recipes-core/pycontainers-config", "pycontainers-rauc-conf"),
    "rauc/keyring.pem": ("recipes-core/pycontainers-config", "pycontainers-rauc-conf"),
    "boot.cmd": ("recipes-bsp/pycontainers-boot-script", "pycontainers-boot-script"),
    "uboot-env.txt": ("recipes-bsp/pycontainers-uboot-env", "pycontainers-uboot-env"),
    "initramfs/init": ("recipes-core/initramfs", "pycontainers-initramfs-init"),
}
BBAPPEND_PURPOSE = {
    "pycontainers-config": "the manager's manifest, the release file, the app policy, the D-Bus config and "
                           "fw_env.config",
    "pycontainers-rauc-conf": "RAUC's system.conf and the keyring bundles are checked against",
    "pycontainers-boot-script": "the A/B boot script",
    "pycontainers-uboot-env": "the initial A/B boot state",
    "pycontainers-initramfs-init": "the initramfs /init",
}


def _write_converted(device: Device, c: YoctoContainer, tree: Tree, rel: str) -> None:
    """A docker-archive as the OCI image layout umoci unpacks: the same config and layer bytes."""
    assert c.oci_source is not None
    with tempfile.TemporaryDirectory(prefix="pycontainers-oci.") as tmp:
        try:
            oci.docker_to_layout(c.oci_source, Path(tmp))
        except (oci.OciError, OSError) as e:
            raise UserError(f"{device.display}: container {c.name}: image.docker-archive: "
                            f"{c.oci_source.name}: {e}") from None
        tree.copy(Path(tmp), rel)


KERNEL_CFG_HEADER = """\
# What a pycontainers host needs from its kernel, built in: the initramfs then needs no modules
# (its module list is empty for Yocto builds). Rendered from the requirements table
# (generator/pycontainers/requirements.py, KERNEL) by tests/update_golden.py; do not edit."""
VIRTIO_CFG_HEADER = """\
# QEMU machines (linux-yocto_%.bbappend adds it for qemuall). Rendered from the requirements table
# (generator/pycontainers/requirements.py, KERNEL) by tests/update_golden.py; do not edit."""
NET_CFG_HEADER = """\
# Bridge networking of app containers (pycm-net, docs/networking.md): added by a device whose
# machine sets PYCONTAINERS_NET = "1" (a container has network: bridge). Rendered from the
# requirements table (generator/pycontainers/requirements.py, KERNEL_BRIDGE) by
# tests/update_golden.py; do not edit."""
BUSYBOX_CFG_HEADER = """\
# busybox applets of every pycontainers host: the initramfs /init's and the host's callers
# (pycm's health checks, RAUC's mount/umount). Rendered from the requirements table
# (generator/pycontainers/requirements.py, APPLETS) by tests/update_golden.py; do not edit.
# The device layer adds the applets of its busybox containers."""


def static_layer_files() -> dict[str, str]:
    """Files of meta-pycontainers rendered from the requirements table: tests/update_golden.py
    writes them, tests/test_requirements.py checks they are what the table renders."""
    return {
        "recipes-kernel/linux/files/pycontainers.cfg": kernel_fragment(KERNEL_CFG_HEADER),
        "recipes-kernel/linux/files/pycontainers-virtio.cfg": kernel_fragment(VIRTIO_CFG_HEADER, only_qemu=True),
        "recipes-kernel/linux/files/pycontainers-net.cfg":
            NET_CFG_HEADER + "\n" + "".join(f"{o.symbol}=y\n" for o in KERNEL_BRIDGE),
        "recipes-core/busybox/files/pycontainers.cfg":
            BUSYBOX_CFG_HEADER + "\n" + "".join(f"{line}\n" for line in busybox_fragment_lines(None)),
    }


def busybox_device_fragment(device: Device) -> str:
    """The device layer's busybox fragment: every applet of the table for this device (its /init,
    the host's, its busybox containers')."""
    return (f"# busybox applets of {device.name}: the contract's and those its busybox containers call\n"
            "# (generator/pycontainers/requirements.py, derived from their commands); generated by\n"
            "# pycontainers, do not edit.\n"
            + "".join(f"{line}\n" for line in busybox_fragment_lines(device, init_script(device))))


def write_yocto(device: Device, tree: Tree, series: str, where: Placement) -> None:
    contract = tree.root / "contract"
    y = yocto_device(device, series, load_pins(), where, release_fields(contract)["SIGNING"])
    ctx = {"y": y, "device": device, "board": device.board, "storage": device.storage}
    top, layer = "yocto", f"yocto/{y.layer}"

    tree.render(f"{layer}/conf/layer.conf", "yocto/layer.conf.j2", **ctx)
    tree.render(f"{layer}/conf/machine/{y.machine}.conf", "yocto/machine.conf.j2", **ctx)
    tree.render(f"{layer}/recipes-core/images/{y.image}.bb", "yocto/image.bb.j2", **ctx)
    tree.render(f"{layer}/recipes-core/images/{y.wks}", "yocto/device.wks.j2", **ctx)
    tree.render(f"{layer}/recipes-core/bundles/{y.bundle}.bb", "yocto/bundle.bb.j2", **ctx)
    tree.write(f"{layer}/recipes-core/bundles/files/keyring.pem", (contract / "rauc/keyring.pem").read_bytes())

    appends: dict[str, str] = {}
    for rel, (recipes_dir, recipe) in CONTRACT_FILES.items():
        src = contract / rel
        tree.write(f"{layer}/{recipes_dir}/files/{src.name}", src.read_bytes(), mode=src.stat().st_mode & 0o777)
        appends[recipe] = recipes_dir
    for recipe, recipes_dir in appends.items():
        tree.render(f"{layer}/{recipes_dir}/{recipe}.bbappend", "yocto/files.bbappend.j2",
                    recipe=recipe, purpose=BBAPPEND_PURPOSE[recipe], **ctx)

    for c in y.containers:
        cdir = f"{layer}/recipes-containers/{c.recipe}"
        tree.render(f"{cdir}/{c.recipe}.bb", "yocto/container.bb.j2", c=c, **ctx)
        tree.write(f"{cdir}/files/config.json", (contract / "containers" / c.name / "config.json").read_bytes())
        if c.rootfs_recipe:
            tree.render(f"{cdir}/{c.rootfs_recipe}.bb", "yocto/container-rootfs.bb.j2", c=c, **ctx)
        else:
            assert c.oci_source is not None and c.oci is not None
            if c.oci_convert:
                _write_converted(device, c, tree, f"{cdir}/files/{c.oci}")
            else:
                tree.copy(c.oci_source, f"{cdir}/files/{c.oci}")

    busybox = f"{layer}/recipes-core/busybox"
    tree.write(f"{busybox}/files/pycontainers-{device.name}.cfg", busybox_device_fragment(device))
    tree.render(f"{busybox}/busybox_%.bbappend", "yocto/busybox.bbappend.j2", **ctx)

    tree.render(f"{top}/kas.yml", "yocto/kas.yml.j2", **ctx)
    if y.facts.bitbake_setup:
        tree.write(f"{top}/{device.name}.conf.json", json.dumps(bitbake_setup_config(y), indent=4) + "\n")
