#!/usr/bin/env python3
"""The Yocto half of the real-tool parity check (scripts/realcheck/yocto-parity runs it as the
build user in the build directory it prepared). It asks bitbake what it resolved -- the recipe
datastores bitbake -e prints, through bitbake's own tinfoil API (one server for every recipe,
instead of one `bitbake -e` of a minute each), and `bitbake -g` of the image for what goes into
it -- and checks every requirement of the table (`pycontainers requirements DEVICE --json`).
Prints one line per requirement, then PASS or FAIL.

usage: yocto_parity.py REQUIREMENTS_JSON IMAGE [TASK_DEPENDS_DOT]
(PYTHONPATH must hold bitbake's lib/ and the cwd the build directory.)
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from pathlib import Path

import bb.fetch2
import bb.tinfoil

# package -> recipe where they differ (the table names packages that go into the image)
PACKAGE_RECIPES = {"libubootenv-bin": "libubootenv"}
RAUC_VERITY_SINCE = (1, 5)


class Check:
    def __init__(self, tinfoil, image: str, buildlist: set[str]):
        self.t = tinfoil
        self.image = image
        self.buildlist = buildlist
        self.cache: dict[str, object] = {}
        self.failed = 0
        self.lines = 0

    def d(self, pn: str):
        if pn not in self.cache:
            self.cache[pn] = self.t.parse_recipe(pn)
        return self.cache[pn]

    def var(self, pn: str, name: str) -> str:
        return self.d(pn).getVar(name) or ""

    def report(self, rid: str, ok: bool, detail: str) -> None:
        self.lines += 1
        self.failed += not ok
        print(f"yocto  {rid:<44} {'PASS' if ok else 'FAIL'}  {detail}")

    # ------------------------------------------------------------------ what goes into the image
    def in_image(self, package: str) -> tuple[bool, str]:
        """The package's recipe is built for the image (bitbake -g) and the package is in
        IMAGE_INSTALL or the RDEPENDS/RRECOMMENDS of one that is."""
        recipe = PACKAGE_RECIPES.get(package, package)
        if recipe not in self.buildlist:
            return False, f"recipe {recipe} is not in bitbake -g {self.image}'s build list"
        install = self.var(self.image, "IMAGE_INSTALL").split()
        if package in install:
            return True, f"{package} in IMAGE_INSTALL of {self.image} (recipe {recipe} built)"
        for pkg in install:
            rdeps = self.runtime_deps(PACKAGE_RECIPES.get(pkg, pkg), pkg)
            if package in rdeps or any(self.rprovides(package, r) for r in rdeps):
                return True, f"{package} pulled in by {pkg} (RDEPENDS/RRECOMMENDS)"
        return False, f"{package} neither in IMAGE_INSTALL of {self.image} nor a runtime dependency of one"

    def runtime_deps(self, recipe: str, pkg: str) -> set[str]:
        try:
            d = self.d(recipe)
        except Exception:
            return set()
        deps = set()
        for v in (f"RDEPENDS:{pkg}", f"RRECOMMENDS:{pkg}"):
            deps |= set(bb.utils.explode_deps(d.getVar(v) or ""))
        return deps

    def rprovides(self, package: str, name: str) -> bool:
        recipe = PACKAGE_RECIPES.get(package, package)
        try:
            return name in (self.var(recipe, f"RPROVIDES:{package}") or "").split()
        except Exception:
            return False

    def packaged(self, package: str, path: str) -> tuple[bool, str]:
        """FILES:<package> of its recipe covers the path."""
        recipe = PACKAGE_RECIPES.get(package, package)
        files = self.var(recipe, f"FILES:{package}").split()
        hit = next((f for f in files if fnmatch.fnmatch(path, f) or path == f or path.startswith(f.rstrip("/") + "/")), None)
        return (hit is not None, f"FILES:{package} has {hit}" if hit else f"FILES:{package} does not cover {path}")

    # ------------------------------------------------------------------ requirements
    def program(self, r: dict) -> None:
        names = r["backends"]["yocto"].get("names", [])
        package = names[0]
        ok, detail = self.in_image(package)
        if ok and r["name"] != "pycmctl":
            for path in r.get("paths", []):
                pok, pdetail = self.packaged(package, path)
                ok, detail = ok and pok, f"{detail}; {pdetail}"
        if r["name"] == "pycmctl":
            pok, pdetail = self.pycmctl()
            ok, detail = ok and pok, f"{detail}; {pdetail}"
        self.report(r["id"], ok, detail)

    def pycmctl(self) -> tuple[bool, str]:
        """pycm's do_compile builds pycmctl and its do_install (runtime/Makefile install, asked
        with make -n) installs it at the contract's path, which FILES:pycm covers."""
        import subprocess
        compile_ = self.d("pycm").getVar("do_compile") or ""
        install = self.d("pycm").getVar("do_install") or ""
        src = Path(self.var("pycm", "PYCM_SRCDIR")) / "runtime"
        # the make goals of do_compile's oe_runmake (e.g. `all`), asked of runtime/Makefile with
        # make -n: one of them must link pycmctl
        m = re.search(r"oe_runmake\s+-C\s+\S+((?:\s+[\w.-]+)*)\s*$", compile_, re.M)
        if not m:
            return False, "pycm's do_compile runs no oe_runmake -C DIR"
        goals = m.group(1).split()
        built = subprocess.run(["make", "-n", "-C", str(src), "O=/B", *goals], capture_output=True, text=True)
        if built.returncode or not re.search(r"-o /B/pycmctl(\s|$)", built.stdout, re.M):
            return False, f"pycm's do_compile (make {' '.join(goals) or '(default goal)'}) does not build pycmctl"
        if "install" not in install:
            return False, "pycm's do_install does not run the Makefile's install"
        dry = subprocess.run(["make", "-n", "-C", str(src), "install", "DESTDIR=/DESTDIR", "O=/B"],
                             capture_output=True, text=True)
        target = "/DESTDIR" + "/usr/bin/pycmctl"
        if dry.returncode or not re.search(r"/B/pycmctl\s+" + re.escape(target), dry.stdout):
            return False, f"make -n install in {src} installs no pycmctl at /usr/bin/pycmctl: {dry.stdout.strip()[:200]}"
        return True, f"pycm's do_compile (make {' '.join(goals)}) builds pycmctl, make -n install puts it at /usr/bin/pycmctl"

    def feature(self, r: dict) -> None:
        program, feature = r["name"].split(".", 1)
        p = r["backends"]["yocto"]
        recipe = p["names"][0]
        want = p.get("config", [])
        if want:
            have = self.var(recipe, "PACKAGECONFIG").split()
            missing = [c for c in want if c not in have]
            self.report(r["id"], not missing, f"PACKAGECONFIG of {recipe}: {' '.join(have)}"
                        + (f" (missing {' '.join(missing)})" if missing else ""))
            return
        if r["name"] == "rauc.verity":
            pv = self.var("rauc", "PV")
            nums = tuple(int(x) for x in re.findall(r"\d+", pv)[:2])
            self.report(r["id"], nums >= RAUC_VERITY_SINCE, f"rauc PV {pv} (verity bundles since 1.5)")
        elif r["name"] == "rauc.uboot":
            bootloader = self.var(self.image, "PREFERRED_PROVIDER_virtual/bootloader")
            rdeps = self.runtime_deps("rauc", "rauc")
            ok = "u-boot" in bootloader and "u-boot-fw-utils" in rdeps and self.rprovides("libubootenv-bin", "u-boot-fw-utils")
            self.report(r["id"], ok, f"virtual/bootloader {bootloader or '-'}; RDEPENDS:rauc has "
                        f"{'u-boot-fw-utils' if 'u-boot-fw-utils' in rdeps else 'no u-boot-fw-utils'}, "
                        "which libubootenv-bin RPROVIDES")
        elif r["name"] == "crun.seccomp":
            pc = self.var("crun", "PACKAGECONFIG").split()
            deps = self.var("crun", "DEPENDS").split()
            ok = "seccomp" in pc or "libseccomp" in deps
            self.report(r["id"], ok, f"crun PACKAGECONFIG {' '.join(pc) or '-'}; DEPENDS "
                        f"{'has' if 'libseccomp' in deps else 'lacks'} libseccomp")
        else:
            self.report(r["id"], False, "no check for this feature")

    def file(self, r: dict) -> None:
        p = r["backends"]["yocto"]
        path = r["name"]
        if r.get("program"):
            # a program's file: checked with its program; here whether the package ships it
            if r["program"] == "busybox":  # /bin/busybox, /bin/sh: links its do_install makes
                ok = "busybox" in self.buildlist and re.search(re.escape(path) + r"\b", self.var("busybox", "do_install"))
                self.report(r["id"], bool(ok), f"busybox's do_install {'links' if ok else 'does not make'} {path}")
                return
            names = p.get("names", [])
            ok, detail = self.in_image(names[0]) if names else (False, "no package named")
            if ok and r["program"] not in ("pycm", "pycmctl"):
                pok, pdetail = self.packaged(names[0], path)
                ok, detail = pok, pdetail
            elif ok:
                install = self.var("pycm", "do_install")
                ok, detail = "install" in install, "pycm's do_install runs runtime/Makefile install (the contract's paths)"
            self.report(r["id"], ok, detail)
            return
        if path.startswith("/boot/") and r["origin"] == "package":
            kernel = path.rsplit("/", 1)[1]
            types = self.var("virtual/kernel", "KERNEL_IMAGETYPES").split() + [self.var("virtual/kernel", "KERNEL_IMAGETYPE")]
            self.report(r["id"], kernel in types, f"the kernel builds {' '.join(sorted(set(types)))}")
            return
        names = p.get("names", [])
        if path.endswith("/config.json"):
            name = path.split("/")[-2]
            recipes = [c for c in self.var(self.image, "PYCONTAINERS_CONTAINERS").split() if c.endswith(f"-{name}")]
            ok = bool(recipes) and recipes[0] in self.buildlist
            self.report(r["id"], ok, f"container recipe {recipes[0] if recipes else '-'} in the image")
            return
        if not names:
            self.report(r["id"], False, "no recipe named")
            return
        recipe = names[0]
        if recipe not in self.buildlist:
            self.report(r["id"], False, f"recipe {recipe} is not in the image's build list")
            return
        if recipe == "pycontainers-initramfs":
            ok = self.var(self.image, "PYCONTAINERS_INITRAMFS_IMAGE") == recipe
            self.report(r["id"], ok, f"{recipe} built; pycontainers-image copies it to {path}")
            return
        if recipe == "base-passwd":
            self.report(r["id"], True, f"base-passwd in the image's build list ({path} from its postinst)")
            return
        if recipe == "base-files":
            where = {v: self.var("base-files", v).split() for v in ("dirs555", "dirs755", "dirs1777", "dirs2775")}
            where["FILES:pycontainers-config"] = self.var("pycontainers-config", "FILES:pycontainers-config").split()
            hit = [v for v, dirs in where.items() if path in dirs]
            self.report(r["id"], bool(hit), f"{path} in {' '.join(hit) if hit else 'none of base-files dirs* and FILES:pycontainers-config'}")
            return
        install = self.var(recipe, "do_install")
        ok = path in install
        self.report(r["id"], ok, f"{recipe}'s do_install {'installs' if ok else 'does not install'} {path}")

    def applets(self, reqs: list[dict]) -> None:
        """busybox's .config as do_configure makes it: oe-core's defconfig (CONFIG_STATIC off,
        the distro features' settings) with every .cfg of SRC_URI merged over it in order, later
        values winning (merge_config.sh -m)."""
        d = self.d("busybox")
        fetch = bb.fetch2.Fetch([u for u in d.getVar("SRC_URI").split() if u.startswith("file://")], d)
        defconfig, fragments = None, []
        for url in fetch.urls:
            local = fetch.localpath(url)
            if url.split(";")[0].endswith("/defconfig") or url.split(";")[0] == "file://defconfig":
                defconfig = local
            elif url.split(";")[0].endswith(".cfg"):
                fragments.append(local)
        config: dict[str, str] = {}

        def merge(text: str) -> None:
            for line in text.splitlines():
                m = re.match(r"^(CONFIG_\w+)=(.*)$", line) or re.match(r"^# (CONFIG_\w+) is not set$", line)
                if m:
                    config[m.group(1)] = m.group(2) if m.lastindex == 2 else "n"

        merge(Path(defconfig).read_text())
        config["CONFIG_STATIC"] = "n"
        for f in fragments:
            merge(Path(f).read_text())
        names = " ".join(Path(f).name for f in fragments)
        for r in reqs:
            symbols = r["backends"]["yocto"].get("config", [])
            missing = [s for s in symbols if config.get(s) != "y"]
            got = " ".join(f"{s}={config.get(s, 'unset')}" for s in missing)
            self.report(r["id"], not missing, (" ".join(symbols) + "=y" if not missing else got)
                        + f" in oe-core's defconfig + {names}")

    def kernel(self, reqs: list[dict]) -> None:
        d = self.d("virtual/kernel")
        pn = d.getVar("PN")
        qemu = "qemuall" in (d.getVar("MACHINEOVERRIDES") or "").split(":")
        fetch = bb.fetch2.Fetch([u for u in d.getVar("SRC_URI").split() if u.split(";")[0].endswith(".cfg")], d)
        config: dict[str, str] = {}
        ours = []
        for url in fetch.urls:
            local = Path(fetch.localpath(url))
            if local.name.startswith("pycontainers"):
                ours.append(local.name)
                for m in re.finditer(r"^(CONFIG_\w+)=(\S+)", local.read_text(), re.M):
                    config[m.group(1)] = m.group(2)
        for r in reqs:
            if r.get("qemu_only") and not qemu:
                self.report(r["id"], True, f"QEMU machines only; {pn} on this machine needs none")
                continue
            ok = config.get(r["name"]) == "y"
            self.report(r["id"], ok, f"{r['name']}={config.get(r['name'], 'unset')} in {pn}'s "
                        f"{' '.join(ours) or 'SRC_URI (no pycontainers fragment!)'}")

    def licenses(self) -> None:
        """A busybox container's recipes carry busybox's and glibc's licenses (bitbake's LICENSE)."""
        want = set()
        for pn in ("busybox", "glibc"):
            want |= set(re.split(r"\s*[&|]\s*", self.var(pn, "LICENSE")))
        for c in self.var(self.image, "PYCONTAINERS_CONTAINERS").split():
            rootfs = self.var(c, "PYCONTAINERS_CONTAINER_IMAGE")
            if not rootfs or self.var(rootfs, "PYCONTAINERS_CONTAINER_PACKAGES").split() != ["busybox"]:
                continue
            have = set(re.split(r"\s*[&|]\s*", self.var(c, "LICENSE")))
            self.report(f"license:{c}", want <= have, f"LICENSE {self.var(c, 'LICENSE')} (busybox and glibc: "
                        f"{' & '.join(sorted(want))})")


def main() -> int:
    reqs = json.loads(Path(sys.argv[1]).read_text())["requirements"]
    image = sys.argv[2]
    buildlist = set(Path("pn-buildlist").read_text().split()) if Path("pn-buildlist").exists() else set()
    with bb.tinfoil.Tinfoil() as t:
        t.prepare(config_only=False, quiet=2)
        c = Check(t, image, buildlist)
        for r in reqs:
            if r["backends"]["yocto"] is None:
                c.report(r["id"], False, "UNMAPPED in the table")
            elif r["backends"]["yocto"].get("limit"):
                c.report(r["id"], r["need"] != "must", f"limit: {r['backends']['yocto']['limit']}")
            elif r["kind"] == "program":
                c.program(r)
            elif r["kind"] == "feature":
                c.feature(r)
            elif r["kind"] == "file":
                c.file(r)
        c.applets([r for r in reqs if r["kind"] == "applet"])
        c.kernel([r for r in reqs if r["kind"] == "kernel"])
        c.licenses()
    print(f"yocto-parity: {'PASS' if not c.failed else 'FAIL'} ({c.lines} checks, {c.failed} failed; image {image})")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
