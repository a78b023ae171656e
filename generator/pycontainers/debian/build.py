"""The Debian backend: a bootable disk image assembled from Debian's binary packages.

Nothing is compiled but the manager. The target architecture's packages are downloaded with a
private apt configuration (cached in ~/.cache/pycontainers), unpacked once into the cache, and
assembled into the on-disk contract of docs/contract.md:

    initramfs  busybox + the board's kernel modules + the contract's /init
    slot       kernel, initramfs, pycm, crun, fw_printenv, contract files, container bundles
    disk       genimage with the contract's genimage.cfg
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import contract, oci, progress, revision
from ..cache import default_cache
from ..errors import UserError
from ..model import PROJECT_ROOT, Container, Device
from ..render import publish
from ..units import MIB, mib
from .apt import AptRepo, write_lock
from .kmod import copy_modules, depmod, kernel_version, modules_dir

# Host userspace of every slot (docs/contract.md); the kernel comes from the board. squashfs-tools:
# unsquashfs, which `rauc extract` runs for app bundles (docs/app-updates.md).
HOST_PACKAGES = ("busybox-static", "crun", "libubootenv-tool", "rauc", "dbus-daemon", "squashfs-tools")
# Packages apt pulls into that closure for maintainer scripts, init systems and tools the slot
# never runs (perl, adduser, systemd, util-linux mount: RAUC runs busybox's). Leaving them out is
# checked, not trusted: every ELF file of the slot must find the libraries it needs
# (check_libraries).
HOST_EXCLUDE = frozenset("""
    adduser dbus dbus-bin dbus-session-bus-common dbus-system-bus-common debconf dpkg
    init-system-helpers usrmerge perl perl-base perl-modules-5.36 libperl5.36 libfile-find-rule-perl
    libnumber-compare-perl libtext-glob-perl libgdbm6 libgdbm-compat4 libdb5.3 passwd libpam0g
    libpam-modules libpam-modules-bin libsemanage2 libsemanage-common libsepol2 systemd
    libsystemd-shared libkmod2 libip4tc2 libcryptsetup12 libargon2-1 libjson-c5 dmsetup
    libdevmapper1.02.1 tar mount libsmartcols1 libacl1 libmd0 libcrypt1 libsasl2-modules-db
    libdb5.3t64 libbsd0 login.defs
""".split())  # the last line: trixie's names (passwd's and libpam's dependencies there)
# Files no device needs (globs): documentation, charset converters (20 MB of glibc's gconv),
# static libraries and headers, hooks for tools the device does not run.
PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
         "usr/share/bug", "usr/share/bash-completion", "usr/share/zsh", "usr/share/common-licenses",
         "usr/share/initramfs-tools", "usr/lib/*/gconv", "usr/lib/*/*.a", "usr/include")
# Applets of the slot's busybox linked by name: the shell, and mount/umount that RAUC runs.
HOST_APPLETS = ("sh", "mount", "umount")
SLOT_HEADROOM = 0.10  # free space a slot keeps over its assembled content
SOURCE_DATE_EPOCH = "1700000000"  # fixed timestamps in boot.scr and archives: reproducible images


@dataclass
class Report:
    """Sizes (bytes) and timings (seconds) of one build, printed at the end."""

    sizes: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def phase(self, name: str, start: float) -> None:
        self.timings[name] = time.monotonic() - start

    def print(self, out=sys.stdout) -> None:
        print("size report:", file=out)
        for name, size in self.sizes.items():
            print(f"  {name:<28} {size / MIB:8.1f} MiB", file=out)
        print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()), file=out)


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise UserError(f"{what}: {cmd[0]} is not installed (see README: make setup)") from None
    if r.returncode:
        detail = (r.stderr or r.stdout).strip().splitlines()
        # the first compiler-style "error:" line names the cause ("cc1: all warnings being
        # treated as errors" comes last and says nothing)
        first = [l for l in detail if "error:" in l and not l.startswith("cc1:")]
        errors = first[:1] or [l for l in detail if "error" in l.lower() and not l.startswith("make")] or detail
        raise UserError(f"{what} failed: {errors[-1] if errors else f'exit {r.returncode}'}")
    return r


def as_root(cmd: list[str]) -> list[str]:
    """cmd run so that the files it packs belong to root in the image: as root, as it is; as an
    ordinary user, under fakeroot, which shows the user's own files as root's (what Buildroot
    does for its filesystems; Yocto has pseudo). Nothing needs root to build an image."""
    if os.geteuid() == 0:
        return cmd
    if not shutil.which("fakeroot"):
        raise UserError("fakeroot is needed to build images as an ordinary user (the files of the slot belong to "
                        "root): apt-get install fakeroot")
    return ["fakeroot", *cmd]


def tree_size(root: Path) -> int:
    """Bytes a tree takes in ext4: files rounded up to 4 KiB blocks, plus one inode-ish block
    per entry."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath, name)
            st = p.lstat()
            total += -(-st.st_size // 4096) * 4096 if p.is_file() and not p.is_symlink() else 0
            total += 256
    return total


def _prune(root: Path) -> None:
    for pattern in PRUNE:
        for p in root.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def _copy_tree(src: Path, dest: Path) -> None:
    """Merge an unpacked package tree into dest (symlinks kept, hard links for speed)."""
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        if os.path.lexists(dst):
            os.unlink(dst)
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class DebianBuild:
    def __init__(self, device: Device, output: Path, cache: Path | None = None):
        self.device, self.board = device, device.board
        self.output = output
        self.cache = cache or default_cache()
        self.work = output / "work"
        self.contract = output / "generated" / "contract"
        self.report = Report()
        self.packages: list = []  # every package of the image, for the lock file
        self.repo = AptRepo(self.board.debian_suite, self.board.debian_arch, self.cache)

    # ---------------------------------------------------------------- packages

    def unpacked(self, names: list[str], alone: bool = False, exclude: frozenset = frozenset()) -> list[Path]:
        """Resolve, download and unpack (once, into the cache) a package set with its closure
        (alone: just the named packages; exclude: packages of the closure left out)."""
        pkgs = [self.repo.resolve_alone(n) for n in names] if alone else self.repo.resolve(names)
        pkgs = [p for p in pkgs if p.name not in exclude]
        self.packages += pkgs
        debs = self.repo.download(pkgs)
        trees = []
        for deb in debs:
            tree = self.cache / "unpacked" / self.board.debian_arch / deb.stem
            if not tree.is_dir():
                with self.repo.locked():  # another build may be unpacking the same package
                    if not tree.is_dir():
                        tmp = tree.with_name(tree.name + ".part")
                        shutil.rmtree(tmp, ignore_errors=True)
                        self.repo.extract([deb], tmp)
                        tmp.rename(tree)
            trees.append(tree)
        return trees

    # ---------------------------------------------------------------- pieces

    def kernel(self) -> tuple[Path, str]:
        """The unpacked kernel package (depmod run once) and its version."""
        (tree,) = self.unpacked([self.board.kernel_package], alone=True)
        if not modules_dir(tree).is_dir():
            raise UserError(f"{self.board.source}: debian.kernel_package: {self.board.kernel_package} "
                            f"has no kernel modules ({self.board.debian_suite}/{self.board.debian_arch})")
        kver = kernel_version(tree)
        with self.repo.locked():  # depmod writes into the shared cache tree
            if not (modules_dir(tree) / kver / "modules.dep").exists():
                depmod(tree, kver)
        return tree, kver

    def kernel_image(self, ktree: Path, dest: Path) -> None:
        matches = sorted(ktree.glob(self.board.kernel_file))
        if not matches:
            raise UserError(f"{self.board.source}: debian.kernel_file: {self.board.kernel_file!r} "
                            f"matches nothing in {self.board.kernel_package}")
        data = matches[0].read_bytes()
        if self.board.kernel_image.endswith(".gz") and data[:2] != b"\x1f\x8b":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        dest.write_bytes(data)

    def pycm(self, root: Path) -> None:
        """Cross-compile the manager, pycm-store and pycmctl with Debian's cross compiler for the board."""
        cc = f"{self.board.cross_compiler}-gcc"
        if not shutil.which(cc):
            raise UserError(f"{cc} is not installed: apt-get install gcc-{self.board.cross_compiler} "
                            f"(board {self.board.name})")
        out = (self.work / "pycm").resolve()  # make runs in runtime/: O must be absolute
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        # Static against the target's musl (Debian's musl-dev, fetched like any target package):
        # no shared glibc pages mapped, so the manager's RSS stays small.
        (musl,) = self.unpacked(["musl-dev"], alone=True)
        triplet = self.board.cross_compiler
        musl_triplet = next((musl / "usr" / "lib").glob("*-linux-musl*")).name
        kernel_inc = [d for d in (f"/usr/{triplet}/include", f"/usr/include/{triplet}", "/usr/include")
                      if Path(d, "linux").is_dir() or Path(d, "asm").is_dir()]
        musl_lib = musl / "usr" / "lib" / musl_triplet
        if self.board.debian_suite != "bookworm":
            # musl's objects without their debug sections: trixie's (riscv64) carry DWARF
            # relocations (R_RISCV_SET/SUB_ULEB128, binutils >= 2.41) that bookworm's cross ld 2.40
            # crashes on; the manager is stripped anyway (bookworm's musl links as it is, so those
            # boards' manager stays byte for byte the same)
            stripped = out / "musl-lib"
            stripped.mkdir()
            for name in ("crt1.o", "crti.o", "crtn.o", "libc.a"):
                _run([f"{triplet}-objcopy", "--strip-debug", str(musl_lib / name), str(stripped / name)],
                     f"preparing musl's {name} (objcopy)")
            musl_lib = stripped
        binaries = dict(contract.MANAGER_PROGRAMS)
        if self.device.bridged:  # bridge networking (docs/networking.md): only where a container uses it
            binaries["pycm-net"] = contract.PYCM_NET_PATH
        _run(["make", "-s", "-C", str(PROJECT_ROOT / "runtime"), f"CC={cc}", f"O={out}",
              f"MUSL_INC={musl / 'usr' / 'include' / musl_triplet}", f"MUSL_LIB={musl_lib}",
              f"KERNEL_INC={' '.join(kernel_inc)}", "WERROR=-Werror", *binaries], "building pycm")
        for binary, path in binaries.items():
            dest = root / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / binary, dest)
            _run([f"{self.board.cross_compiler}-strip", str(dest)], f"stripping {binary}")
        handler = root / contract.RAUC_PRE_INSTALL_PATH.lstrip("/")
        handler.parent.mkdir(parents=True, exist_ok=True)
        handler.unlink(missing_ok=True)
        handler.symlink_to(os.path.relpath(contract.PYCM_STORE_PATH, os.path.dirname(contract.RAUC_PRE_INSTALL_PATH)))

    def initramfs(self, busybox: Path, ktree: Path, kver: str, dest: Path, extra_modules: tuple[str, ...] = ()) -> None:
        root = self.work / "initramfs"
        shutil.rmtree(root, ignore_errors=True)
        for d in ("bin", "dev", "proc", "sys", "newroot", "etc/initramfs", "lib/modules"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in contract.INITRAMFS_APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        shutil.copy2(self.contract / "initramfs" / "init", root / "init")
        net = contract.NET_MODULES if self.device.bridged else ()
        order = copy_modules(ktree, kver, [*self.board.initramfs_modules, *contract.UPDATE_MODULES, *net, *extra_modules],
                             root)
        (root / "etc" / "initramfs" / "modules").write_text("".join(f"{m}\n" for m in order))
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        cpio = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
                              cwd=root, input=("\n".join(["."] + files) + "\n").encode(), capture_output=True)
        if cpio.returncode:
            raise UserError(f"packing the initramfs (cpio) failed: {cpio.stderr.decode().strip()}")
        dest.write_bytes(gzip.compress(cpio.stdout, compresslevel=9, mtime=0))

    def container_rootfs(self, c: Container, dest: Path) -> None:
        if c.image.kind != "packages":
            image_rootfs(self.device, c, dest, contract.container_mount_points(c), contract.container_mount_files(c))
            return
        self.packages_rootfs(c, dest)
        oci.make_mount_points(dest, contract.container_mount_points(c), contract.container_mount_files(c))

    def packages_rootfs(self, c: Container, dest: Path) -> None:
        for tree in self.unpacked(list(c.image.packages)):
            _copy_tree(tree, dest)
        _prune(dest)
        # merged /usr (trixie's packages install to usr/bin only; base-files, which carries the
        # /bin -> usr/bin links, is not in a container's package set)
        for d in ("bin", "sbin", "lib"):
            if (dest / "usr" / d).is_dir() and not os.path.lexists(dest / d):
                (dest / d).symlink_to(f"usr/{d}")
        if (dest / "bin" / "busybox").exists() and not (dest / "bin" / "sh").exists():
            (dest / "bin" / "sh").symlink_to("busybox")

    def slot(self, root: Path, packages: tuple[str, ...] = HOST_PACKAGES, exclude: frozenset = HOST_EXCLUDE,
             manager: bool = True) -> None:
        """Assemble the slot rootfs tree (docs/contract.md, "Slot contents"). bench/compare.py
        assembles its peers' slots with other packages and without the manager and bundles."""
        t = time.monotonic()
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        trees = self.unpacked(list(packages), exclude=exclude)
        with progress.step(f"host system: unpacking {len(trees)} packages"):
            for tree in trees:
                _copy_tree(tree, root)
            _prune(root)
        self.report.phase("packages", t)
        for mp in contract.MOUNT_POINTS:
            (root / mp).mkdir(exist_ok=True)
        for applet in HOST_APPLETS:
            if not (root / "bin" / applet).exists():
                (root / "bin" / applet).symlink_to("busybox")
        # the user database D-Bus needs (its policy names root); no other users exist on the host
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/data/root:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\n")
        (root / "var").mkdir(exist_ok=True)
        if not (root / "var" / "run").exists():
            (root / "var" / "run").symlink_to("../run")
        (root / "boot").mkdir(exist_ok=True)

        t = time.monotonic()
        ktree, kver = self.kernel()
        with progress.step(f"kernel {kver} and initramfs"):
            self.kernel_image(ktree, root / "boot" / self.board.kernel_image)
            self.initramfs(root / "bin" / "busybox", ktree, kver, root / "boot" / contract.INITRAMFS_NAME)
        self.report.phase("kernel+initramfs", t)

        placed = {
            contract.MANIFEST_PATH: "pycm/manifest", contract.RELEASE_PATH: "release",
            contract.APP_POLICY_PATH: "app-policy.json",
            contract.FW_ENV_CONFIG_PATH: "fw_env.config", contract.RAUC_CONF_PATH: "rauc/system.conf",
            contract.RAUC_KEYRING_PATH: "rauc/keyring.pem", contract.DBUS_CONF_PATH: "dbus.conf",
        }
        for target, src in placed.items():
            dest = root / target.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.contract / src, dest)
        if not manager:
            return

        t = time.monotonic()
        with progress.step(f"the manager pycm ({self.board.cross_compiler}-gcc)"):
            self.pycm(root)
        self.report.phase("pycm", t)

        t = time.monotonic()
        for c in self.device.containers:
            bundle = root / c.bundle.lstrip("/")
            bundle.mkdir(parents=True)
            shutil.copy2(self.contract / "containers" / c.name / "config.json", bundle / "config.json")
            with progress.step(f"container {c.name}: unpacking its image ({c.image.kind})"):
                self.container_rootfs(c, bundle / "rootfs")
            self.report.sizes[f"container {c.name}"] = tree_size(bundle)
        self.report.phase("containers", t)

        sizes = self.report.sizes
        sizes["kernel"] = (root / "boot" / self.board.kernel_image).stat().st_size
        sizes["initramfs"] = (root / "boot" / contract.INITRAMFS_NAME).stat().st_size
        sizes["pycm (stripped)"] = (root / contract.PYCM_PATH.lstrip("/")).stat().st_size
        sizes["pycm-store (stripped)"] = (root / contract.PYCM_STORE_PATH.lstrip("/")).stat().st_size
        if self.device.bridged:
            sizes["pycm-net (stripped)"] = (root / contract.PYCM_NET_PATH.lstrip("/")).stat().st_size

    def check_libraries(self, root: Path) -> None:
        """Every ELF file of the host (container bundles aside) finds each shared library it
        needs in the slot's library directories; readelf -d lists them."""
        bundles = root / contract.CONTAINERS_DIR.lstrip("/")
        elves = []
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink() and bundles not in p.parents:
                with open(p, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        elves.append(p)
        out = _run(["readelf", "-d", "-W", *map(str, elves)], "reading the slot's ELF files (readelf)").stdout
        libdirs = [d for d in (root / "lib", root / "usr" / "lib") if d.is_dir()]
        libdirs += [d for base in list(libdirs) for d in base.iterdir() if d.is_dir() and "-linux-" in d.name]
        missing, current = [], None
        for line in out.splitlines():
            if line.startswith("File: "):
                current = line[6:].strip()
            elif "(NEEDED)" in line:
                lib = line.rsplit("[", 1)[1].rstrip("]")
                if not any((d / lib).exists() for d in libdirs):
                    missing.append(f"{lib} (needed by /{Path(current).relative_to(root)})")
        if missing:
            raise UserError(f"the slot lacks shared libraries: {', '.join(sorted(set(missing)))}; "
                            f"a package in HOST_EXCLUDE (debian/build.py) is needed after all")

    def check_slot_size(self, root: Path) -> int:
        used = tree_size(root)
        need = int(used * (1 + SLOT_HEADROOM))
        slot = self.device.storage.slot_size
        if need > slot:
            suggest = -(-need // MIB)
            raise UserError(f"{self.device.where('storage.rootfs')}: {mib(slot)} is too small for the "
                            f"assembled slot ({mib(used)} + {SLOT_HEADROOM:.0%} headroom = {mib(need)}); "
                            f"set at least {suggest}MiB")
        return used

    # ---------------------------------------------------------------- images

    def images(self, root: Path, inputs: Path) -> None:
        storage = self.device.storage
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME=SOURCE_DATE_EPOCH)
        inputs.mkdir(parents=True)
        _run(["mkimage", "-A", _uboot_arch(self.board.arch), "-T", "script", "-C", "none",
              "-n", f"pycontainers {self.device.name}", "-d", str(self.contract / "boot.cmd"),
              str(inputs / "boot.scr")], "compiling the boot script (mkimage)", env=env)
        _run(["mkenvimage", "-s", hex(storage.env_blob_size), "-o", str(inputs / "uboot-env.img"),
              str(self.contract / "uboot-env.txt")], "making the boot-state env (mkenvimage)")
        slot = storage.slots[0]
        with progress.step(f"slot file system ({slot.size // 2**20} MiB ext4, mke2fs)"):
            _run(as_root(["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L", "rootfs",
                          "-U", _uuid(self.device.name + self.device.version),
                          "-E", f"root_owner=0:0,hash_seed={_uuid(self.device.name)}",
                          "-d", str(root), str(inputs / slot.image), f"{slot.size // 1024}k"]),
                 "making the slot filesystem (mke2fs)", env=env)

    def disk(self, inputs: Path, dest: Path) -> None:
        tmp, rootpath = self.work / "genimage-tmp", self.work / "genimage-root"
        for d in (tmp, rootpath):
            shutil.rmtree(d, ignore_errors=True)
        rootpath.mkdir(parents=True)
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME=SOURCE_DATE_EPOCH)
        with progress.step(f"disk image ({self.device.storage.disk_size_mib} MiB, genimage)"):
            _run(as_root(["genimage", "--config", str(self.contract / "genimage.cfg"), "--inputpath", str(inputs),
                          "--outputpath", str(dest), "--rootpath", str(rootpath), "--tmppath", str(tmp)]),
                 "assembling the disk (genimage)", env=env)
        for name in ("boot.vfat", "data.ext4"):  # intermediate images; disk.img holds them
            (dest / name).unlink(missing_ok=True)

    def run(self) -> Path:
        start = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        self.repo.update()
        self.report.phase("apt update", t)
        root = self.work / "rootfs"
        self.slot(root)
        self.check_libraries(root)
        used = self.check_slot_size(root)
        self.report.sizes["slot content"] = used
        with publish(self.output / "image") as out:
            inputs = self.work / "inputs"
            shutil.rmtree(inputs, ignore_errors=True)
            t = time.monotonic()
            self.images(root, inputs)
            self.disk(inputs, out.root)
            shutil.copy2(inputs / "rootfs.ext4", out.root / "rootfs.ext4")
            # the factory app revision: `pycontainers app-bundle --from` this file ships only
            # what the image's containers lack (docs/app-updates.md)
            out.write("apps.revision", revision.slot_revision(
                self.device, root, (self.contract / "pycm" / "manifest").read_text()).listing)
            write_lock(self.packages, self.repo.archives, out.root / "packages.lock")
            out.write("build.json", json.dumps({
                "device": self.device.name, "version": self.device.version, "board": self.board.name,
                "compatible": self.device.compatible,
                "partitions": {p.name: {"number": p.number, "offset": p.offset, "size": p.size}
                               for p in self.device.storage.partitions},
            }, indent=2) + "\n")
            self.report.phase("images", t)
            self.report.sizes["slot image (ext4)"] = (out.root / "rootfs.ext4").stat().st_size
            self.report.sizes["disk image"] = (out.root / "disk.img").stat().st_size
        self.report.timings["total"] = time.monotonic() - start
        return self.output / "image"


def image_rootfs(device: Device, c: Container, dest: Path, mount_points: list[str], mount_files=()) -> None:
    """Unpack a container's oci-layout, oci-archive or docker-archive into dest and make its
    mount points there (oci.py, the unpacker the Buildroot tree runs too); print a warning line
    for each thing made safe (a device node dropped, setuid/setgid bits cleared)."""
    assert c.image.path is not None
    where = f"{device.display}: container {c.name}: image.{c.image.kind}: {c.image.path.name}"
    try:
        warnings = oci.unpack(c.image.path, dest, c.image.kind, mount_points, mount_files)
    except (oci.OciError, OSError) as e:
        raise UserError(f"{where}: {e}") from None
    for w in warnings:
        print(f"WARNING: {where}: {w}", file=sys.stderr)


def _uboot_arch(arch: str) -> str:
    return {"aarch64": "arm64", "arm": "arm", "x86_64": "x86", "riscv64": "riscv"}[arch]


def _uuid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
