"""Kernel modules for the initramfs: which files, in which order."""

from __future__ import annotations

import difflib
import lzma
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError


def modules_dir(tree: Path) -> Path:
    """lib/modules of an unpacked kernel package: at its root (bookworm), or under usr/ (trixie's
    kernels install to /usr/lib/modules, merged /usr)."""
    merged = tree / "usr" / "lib" / "modules"
    return merged if merged.is_dir() and not (tree / "lib" / "modules").is_dir() else tree / "lib" / "modules"


def kernel_version(tree: Path) -> str:
    versions = sorted(p.name for p in modules_dir(tree).iterdir() if p.is_dir())
    if len(versions) != 1:
        raise UserError(f"{tree}: expected one kernel in lib/modules, found {versions or 'none'}")
    return versions[0]


def depmod(tree: Path, kver: str) -> None:
    base = modules_dir(tree).parent.parent  # depmod -b BASE reads BASE/lib/modules
    r = subprocess.run(["depmod", "-b", str(base), kver], capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"depmod failed for {kver}: {r.stderr.strip()} (apt-get install kmod)")


def _stem(rel: str) -> str:
    """'kernel/fs/ext4/ext4.ko.xz' -> 'ext4' (module names use _ where files may use -)."""
    return Path(rel).name.split(".ko")[0].replace("-", "_")


def module_order(tree: Path, kver: str, names: list[str]) -> list[str]:
    """Module files (relative to lib/modules/KVER) for `names` and their dependencies,
    each after everything it needs, in a deterministic order."""
    mdir = modules_dir(tree) / kver
    deps: dict[str, list[str]] = {}
    for line in (mdir / "modules.dep").read_text().splitlines():
        target, _, needs = line.partition(":")
        deps[target] = needs.split()
    by_name = {_stem(t): t for t in deps}
    builtin_file = mdir / "modules.builtin"
    builtin = {_stem(l) for l in builtin_file.read_text().split()} if builtin_file.exists() else set()
    order: list[str] = []

    def add(rel: str) -> None:
        if rel in order:
            return
        for dep in reversed(deps[rel]):  # modules.dep lists the closest dependency first
            add(dep)
        order.append(rel)

    for name in names:
        key = name.replace("-", "_")
        if key in builtin and key not in by_name:
            continue  # built into this kernel: nothing to load
        if key not in by_name:
            close = difflib.get_close_matches(key, by_name, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"kernel {kver} has no module {name!r} (misspelt{hint})")
        add(by_name[key])
    return order


def copy_modules(tree: Path, kver: str, names: list[str], dest_root: Path) -> list[str]:
    """Copy the modules (uncompressed: busybox insmod reads plain .ko) into
    dest_root/lib/modules and return their paths relative to it, in load order."""
    src = modules_dir(tree) / kver
    out = []
    for rel in module_order(tree, kver, names):
        plain = rel[: rel.index(".ko") + 3]
        dest = dest_root / "lib" / "modules" / plain
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".xz"):
            dest.write_bytes(lzma.decompress((src / rel).read_bytes()))
        elif rel.endswith(".zst"):
            with open(dest, "wb") as f:
                subprocess.run(["zstd", "-dc", str(src / rel)], stdout=f, check=True)
        else:
            shutil.copy2(src / rel, dest)
        out.append(plain)
    return out
