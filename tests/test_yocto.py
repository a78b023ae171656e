"""The Yocto rendering, checked offline with the upstream tools' own code (docs/yocto.md):

- oelint-adv on every static and generated recipe, class and configuration file;
- bitbake's own parser (the `bb` module of the PyPI package bitbake-setup) on every .bb,
  .bbappend, .bbclass, .conf and .inc;
- kas's loader (kas.includehandler.ConfigFile.load) on every kas file;
- bitbake-setup's own code choosing the configuration and its fragments non-interactively;
- the wks layout against the genimage layout of the same device;
- the pins file, and `pycontainers pins update` on local clones made here.

The checks against the real upstream layers (bitbake -p / -g) are not here: they need the
upstream trees and minutes per series (shared/tools/realcheck, docs/yocto.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, layer, make_layout, with_test_keys
from pycontainers import cli
from pycontainers.yocto.pins import SERIES, load_pins, pins_text

STATIC = ROOT / "meta-pycontainers"
DEVICES = {"demo": ROOT / "conf" / "devices" / "demo.yml", "demo-rpi4": ROOT / "conf" / "devices" / "demo-rpi4.yml"}

# oelint-adv rules this project does not follow, each with its reason. Every other rule is
# enforced on every file; single lines that deviate say why in a `# nooelint:` comment.
OELINT_SUPPRESSED = {
    "oelint.file.underscores":
        "recipes of this repository and of a device have no upstream version for a _VERSION file name "
        "(as meta-rauc's rauc-conf.bb)",
    "oelint.bbclass.underscores":
        "class names use '-' as oe-core's own do (image-artifact-names, kernel-arch) and start with the layer name",
    "oelint.var.mandatoryvar.HOMEPAGE":
        "the project has no public home page yet, and a made-up URL would be worse than none",
    "oelint.var.suggestedvar.BUGTRACKER": "no public bug tracker yet (same reason)",
    "oelint.var.suggestedvar.CVE_PRODUCT":
        "the recipes ship this project's files and device data, no third-party code with CVEs",
    "oelint.var.licenseremotefile":
        "the files are this project's (MIT); oe-core's common MIT text is their license file",
    "oelint.var.mandatoryvar.SRC_URI":
        "images and bundles (classes pycontainers-image, -container-image, -bundle) have no sources; "
        "oelint-adv only knows `inherit image` recipes as images",
    "oelint.var.bbclassextend":
        "target-only recipes: boot files, device configuration and images have no native/nativesdk use",
}
OELINT_KNOWN = ROOT / "tests" / "data" / "oelint-known.json"  # variables oelint-adv's database lacks


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """{(device, series): OUTPUT/generated} for both devices in both series."""
    out = {}
    for name, path in DEVICES.items():
        for series in SERIES:
            o = with_test_keys(tmp_path_factory.mktemp(f"{name}-{series}"))
            assert cli.main(["generate", str(path), "-o", str(o), "--yocto-series", series]) == 0
            out[name, series] = o / "generated"
    return out


def layer_files(root: Path, suffixes=(".bb", ".bbappend", ".bbclass", ".conf", ".inc")) -> list[Path]:
    """Metadata files of a layer (not the files/ that recipes install)."""
    return sorted(p for p in root.rglob("*")
                  if p.suffix in suffixes and p.is_file() and "files" not in p.relative_to(root).parts)


# ------------------------------------------------------------------------------------------
# oelint-adv


@pytest.mark.parametrize("series", SERIES)
def test_oelint_clean(series, generated, tmp_path):
    files = layer_files(STATIC) + [f for name in DEVICES for f in layer_files(generated[name, series] / "yocto")]
    cmd = [sys.executable, "-m", "oelint_adv", *map(str, files), "--quiet", "--mode", "all",
           "--release", series, f"--constantmods=+{OELINT_KNOWN}", f"--cachedir={tmp_path / 'cache'}",
           *[f"--suppress={rule}" for rule in OELINT_SUPPRESSED],
           "--extra-layer", "rauc", "virtualization-layer"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    findings = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert not findings, "oelint-adv findings:\n" + "\n".join(findings)
    assert r.returncode == 0


# ------------------------------------------------------------------------------------------
# bitbake's parser


def _bb(stub_dir: Path):
    """Import bitbake's `bb` from the bitbake-setup wheel. It ships no `hashserv`, which bb.siggen
    imports; stub modules stand in (no hash server is used when parsing)."""
    for name in ("hashserv", "hashserv.client"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import bb.data
    import bb.parse
    import bb.siggen
    import bb.utils  # noqa: F401

    return bb


BITBAKE_CONF = """\
# the least bitbake needs to parse recipes: no oe-core here
BBPATH = "{bbpath}"
TOPDIR = "{topdir}"
COREBASE = "{topdir}"
MACHINE = "qemuarm64"
DISTRO = "pycontainers"
LAYERSERIES_CORENAMES = "{series}"
KERNEL_IMAGETYPE = "Image"
OVERRIDES = "class-target:pycontainers:qemuall:qemuarm64"
PN = "${{@bb.parse.vars_from_file(d.getVar('FILE', False), d)[0] or 'defaultpkgname'}}"
PV = "1.0"
WORKDIR = "${{TOPDIR}}/work/${{PN}}"
THISDIR = "${{@os.path.dirname(d.getVar('FILE'))}}"
FILE_DIRNAME = "${{@os.path.dirname(d.getVar('FILE', False))}}"
# oe-core's FILESPATH without its per-override subdirectories: FILESEXTRAPATHS, then files/
FILESEXTRAPATHS ?= ""
FILESPATH = "${{@':'.join(p for p in d.getVar('FILESEXTRAPATHS').split(':') + [d.getVar('FILE_DIRNAME') + '/files'] if p)}}"
BBINCLUDELOGS = ""
"""


def parser(tmp: Path, series: str, layers: list[Path], conf: str = ""):
    """A parse(file) function: bitbake's own ConfHandler/BBHandler with classes and
    configuration files that are not this project's replaced by empty stubs; `conf`: lines of
    local.conf (appended to the configuration)."""
    stubs = tmp / "stubs"
    (stubs / "conf").mkdir(parents=True, exist_ok=True)
    bbpath = ":".join(str(p) for p in [*layers, stubs])
    (stubs / "conf" / "bitbake.conf").write_text(BITBAKE_CONF.format(bbpath=bbpath, topdir=tmp, series=series) + conf)
    bb = _bb(stubs)

    def stub_missing(path: Path) -> None:
        """Empty stubs for inherited classes and required files found in none of the layers."""
        text = path.read_text()
        wanted = [f"classes-recipe/{c}.bbclass" for line in re.findall(r"^\s*inherit\s+(.+)$", text, re.M)
                  for c in line.split()]
        wanted += re.findall(r"^\s*require\s+(\S+\.(?:conf|inc))\s*$", text, re.M)
        for rel in wanted:
            rel = rel.replace("${LAYERSERIES_CORENAMES}", series)
            if not any((layer / rel).exists() or (layer / rel.replace("classes-recipe/", "classes/")).exists()
                       for layer in layers):
                (stubs / rel).parent.mkdir(parents=True, exist_ok=True)
                (stubs / rel).touch()

    for layer in layers:
        for f in layer_files(layer):
            stub_missing(f)
    base = bb.data.init()
    bb.parse.handle(str(stubs / "conf" / "bitbake.conf"), base)
    bb.parse.siggen = bb.siggen.init(base)

    def parse(path: Path, appends: list[Path] = ()) -> object:
        d = bb.data.createCopy(base)
        # as the cooker does: inherit looks in classes-<type>/ then classes/
        d.setVar("__bbclasstype", "global" if path.parent.name == "classes-global" else "recipe")
        for f in [path, *appends]:
            stub_missing(f)
        if path.suffix in (".conf", ".inc") and path.name != "layer.conf":
            return bb.parse.handle(str(path), d, include=True)
        if path.name == "layer.conf":
            d.setVar("LAYERDIR", str(path.parent.parent))
            return bb.parse.handle(str(path), d, include=True)
        if path.suffix == ".bbclass":
            return bb.parse.handle(str(path), d, include=True)
        if appends:
            d.setVar("__BBAPPEND", " ".join(str(a) for a in appends))
        return bb.parse.handle(str(path), d)

    return parse


def _append_target(append: Path, recipes: dict[str, Path], tmp: Path) -> Path:
    """The recipe a .bbappend applies to: this project's, else a stub recipe of that name."""
    name = append.name[:-len(".bbappend")]
    if name in recipes:
        return recipes[name]
    stub = tmp / "stub-recipes" / f"{name.replace('%', '1.0')}.bb"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text('SUMMARY = "stub"\nLICENSE = "MIT"\n')
    return stub


@pytest.mark.parametrize("series", SERIES)
def test_bitbake_parses_every_file(series, generated, tmp_path):
    device_layers = [generated[name, series] / "yocto" / f"meta-{name}" for name in DEVICES]
    parse = parser(tmp_path, series, [STATIC, *device_layers])
    static_recipes = {p.stem: p for p in STATIC.rglob("*.bb")}
    parsed = 0
    for layer in [STATIC, *device_layers]:
        for f in layer_files(layer):
            try:
                if f.suffix == ".bbappend":
                    parse(_append_target(f, static_recipes, tmp_path), [f])
                else:
                    parse(f)
            except Exception as e:  # ParseError names file:line; anything else is a bug too
                pytest.fail(f"{f}: bitbake cannot parse it: {e}")
            parsed += 1
    assert parsed > 30


def test_bitbake_parser_catches_errors(generated, tmp_path):
    """The parser above does report broken files (so the test above means something)."""
    bad = tmp_path / "layer" / "recipes-x" / "bad" / "bad.bb"
    bad.parent.mkdir(parents=True)
    bad.write_text('SUMMARY = "unterminated\nLICENSE = "MIT"\n')
    parse = parser(tmp_path, "wrynose", [STATIC, tmp_path / "layer"])
    with pytest.raises(Exception, match="bad.bb"):
        parse(bad)


# ------------------------------------------------------------------------------------------
# kas


def kas_files(generated) -> list[Path]:
    return [ROOT / "kas.yml"] + [generated[key] / "yocto" / "kas.yml" for key in sorted(generated)]


def test_kas_files_load_with_kas(generated):
    from kas.includehandler import ConfigFile

    for f in kas_files(generated):
        config = ConfigFile.load(str(f)).config  # kas's schema and header.version checks
        assert config["distro"] == "pycontainers", f
        assert config["target"], f


def test_kas_pins_match_the_pins_file(generated):
    pins = load_pins()
    for (name, series), gen in generated.items():
        repos = yaml.safe_load((gen / "yocto" / "kas.yml").read_text())["repos"]
        for source in pins.sources_for(series, ("meta-raspberrypi",) if name == "demo-rpi4" else ()):
            assert repos[source.name]["commit"] == source.commit
            assert repos[source.name]["url"] == source.url
            assert str(repos[source.name]["branch"]) == source.branch


def test_top_level_kas_builds_the_reference_device_on_wrynose(generated):
    top = yaml.safe_load((ROOT / "kas.yml").read_text())
    gen = yaml.safe_load((generated["demo", "wrynose"] / "yocto" / "kas.yml").read_text())
    assert top["machine"] == gen["machine"] == "demo-qemuarm64"
    assert top["target"] == gen["target"]
    for rid, repo in gen["repos"].items():
        if "url" in repo and rid != "meta-pycontainers":
            assert top["repos"][rid] == repo, f"kas.yml: repo {rid} differs from the generated one"


# ------------------------------------------------------------------------------------------
# bitbake-setup


def _obtain_config(path: Path, *parameters: str) -> dict:
    from bitbake_setup import __main__ as bbsetup

    args = argparse.Namespace(config=[str(path), *parameters], non_interactive=True, skip_selection=[],
                              source_overrides=None, use_local_source=[["meta-pycontainers", str(ROOT)]])
    overrides = bbsetup.obtain_overrides(args)
    return bbsetup.obtain_config(None, None, args, overrides, None)


def test_bitbake_setup_config_chosen_non_interactively(generated):
    for name in DEVICES:
        path = generated[name, "wrynose"] / "yocto" / f"{name}.conf.json"
        config = _obtain_config(path)  # the only configuration, chosen without asking
        chosen = config["bitbake-config"]
        assert chosen["name"] == name
        machine = next(f for f in chosen["oe-fragments"] if f.startswith("machine/"))
        assert (path.parent / chosen["bb-layers-file-relative"][0] / "conf" / "machine"
                / f"{machine.split('/')[1]}.conf").is_file()
        assert "distro/pycontainers" in chosen["oe-fragments"]
        assert config["source-overrides"]["sources"]["meta-pycontainers"]["local"]["path"] == str(ROOT)
        sources = config["data"]["sources"]
        assert {layer.split("/")[0] for layer in chosen["bb-layers"]} <= set(sources)
        assert all(len(s["git-remote"]["rev"]) == 40 for n, s in sources.items() if n != "meta-pycontainers")
        # and by name, as `bitbake-setup init --non-interactive CONFIG NAME` does
        assert _obtain_config(path, name)["bitbake-config"]["name"] == name


def test_no_bitbake_setup_config_for_scarthgap(generated):
    """scarthgap's oe-core has no OE_FRAGMENTS: bitbake-setup cannot set MACHINE/DISTRO there."""
    for name in DEVICES:
        assert not list((generated[name, "scarthgap"] / "yocto").glob("*.json"))


# ------------------------------------------------------------------------------------------
# wks layout == genimage layout


def wic_part_parser() -> argparse.ArgumentParser:
    """wic's `part` and `bootloader` syntax as scripts/lib/wic/ksparser.py defines it (the options
    a pycontainers layout uses); unknown options are errors, as in wic."""
    def size(value: str) -> int:  # wic's sizetype("M"): a number with an optional K/M/G suffix
        m = re.fullmatch(r"(\d+)([KMG]?)", value)
        if not m:
            raise argparse.ArgumentTypeError(f"bad size {value!r}")
        return int(m[1]) * {"K": 1, "": 1024, "M": 1024, "G": 1024 * 1024}[m[2]]  # KiB

    p = argparse.ArgumentParser(prog="wks", exit_on_error=False)
    sub = p.add_subparsers(dest="command", required=True)
    part = sub.add_parser("part", exit_on_error=False)
    part.add_argument("mountpoint", nargs="?")
    part.add_argument("--active", action="store_true")
    part.add_argument("--align", type=int)
    part.add_argument("--fstype", default="vfat", choices=("ext2", "ext3", "ext4", "btrfs", "squashfs",
                                                           "vfat", "msdos", "erofs", "swap", "none"))
    part.add_argument("--mkfs-extraopts", default="")
    part.add_argument("--label")
    part.add_argument("--part-name")
    part.add_argument("--part-type")  # a GPT type GUID (ksparser.py: --part-type)
    sizes = part.add_mutually_exclusive_group()
    sizes.add_argument("--size", type=size, default=0)
    sizes.add_argument("--fixed-size", type=size, default=0)
    part.add_argument("--source")
    part.add_argument("--sourceparams")
    boot = sub.add_parser("bootloader", exit_on_error=False)
    boot.add_argument("--ptable", choices=("msdos", "gpt", "gpt-hybrid"), default="msdos")
    return p


def parse_wks(path: Path) -> tuple[list[argparse.Namespace], argparse.Namespace]:
    parts, loader = [], None
    p = wic_part_parser()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            args = p.parse_args(shlex.split(line))
        except (argparse.ArgumentError, SystemExit) as e:
            raise AssertionError(f"{path}:{n}: {e}") from None
        if args.command == "part":
            parts.append(args)
        else:
            loader = args
    return parts, loader


def parse_genimage(path: Path) -> list[dict]:
    """The partitions of the disk image in a genimage.cfg: name, offset and size in MiB."""
    disk = path.read_text().split("image disk.img", 1)[1]
    return [{"name": m[0], "offset": int(m[1]), "size": int(m[2])} for m in
            re.findall(r"partition (\S+) \{[^}]*?offset = (\d+)M[^}]*?size = (\d+)M", disk)]


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("name", DEVICES)
def test_wks_matches_genimage(name, series, generated):
    gen = generated[name, series]
    wks = next((gen / "yocto" / f"meta-{name}").rglob("*.wks"))
    parts, loader = parse_wks(wks)
    genimage = parse_genimage(gen / "contract" / "genimage.cfg")
    assert loader.ptable == "gpt"
    assert [p.part_name for p in parts] == [g["name"] for g in genimage]
    assert [p.fixed_size // 1024 for p in parts] == [g["size"] for g in genimage]
    # every partition 1 MiB aligned and packed from 1 MiB on, as genimage places them
    assert all(p.align == 1024 for p in parts)
    offsets = [1 + sum(p.fixed_size // 1024 for p in parts[:i]) for i in range(len(parts))]
    assert offsets == [g["offset"] for g in genimage]
    by_name = {p.part_name: p for p in parts}
    assert by_name["boot"].fstype == "vfat" and by_name["boot"].active
    assert by_name["boot"].source == {"scarthgap": "bootimg-partition", "wrynose": "bootimg_partition"}[series]
    assert by_name["uboot-env"].source == "rawcopy" and "uboot-env.img" in by_name["uboot-env"].sourceparams
    assert by_name["rootfs_a"].source == by_name["rootfs_b"].source == "rootfs"
    assert "^has_journal" in by_name["rootfs_a"].mkfs_extraopts
    assert by_name["data"].fstype == "ext4" and by_name["data"].source is None


def test_wks_parser_rejects_unknown_options(tmp_path):
    bad = tmp_path / "bad.wks"
    bad.write_text("part --source rootfs --part-name a --fixed-size 8M --no-such-option\n")
    with pytest.raises(AssertionError, match="bad.wks:1"):
        parse_wks(bad)


# ------------------------------------------------------------------------------------------
# the generated layer carries the contract's files unchanged


def test_device_layer_copies_the_contract(generated):
    gen = generated["demo", "wrynose"]
    layer = gen / "yocto" / "meta-demo"
    pairs = {"boot.cmd": "recipes-bsp/pycontainers-boot-script/files/boot.cmd",
             "uboot-env.txt": "recipes-bsp/pycontainers-uboot-env/files/uboot-env.txt",
             "rauc/system.conf": "recipes-core/pycontainers-config/files/system.conf",
             "rauc/keyring.pem": "recipes-core/pycontainers-config/files/keyring.pem",
             "pycm/manifest": "recipes-core/pycontainers-config/files/manifest",
             "app-policy.json": "recipes-core/pycontainers-config/files/app-policy.json",
             "initramfs/init": "recipes-core/initramfs/files/init",
             "containers/counter/config.json": "recipes-containers/demo-container-counter/files/config.json"}
    for contract, copy in pairs.items():
        assert (layer / copy).read_bytes() == (gen / "contract" / contract).read_bytes(), copy
    assert (layer / "recipes-core/initramfs/files/init").stat().st_mode & 0o111


def test_pycontainers_config_installs_every_file_given_to_it_at_its_slot_path():
    """Each contract file the device layer hands meta-pycontainers' pycontainers-config
    (CONTRACT_FILES) is in its SRC_URI and installed at the contract's path in the slot."""
    from pycontainers import contract
    from pycontainers.yocto import CONTRACT_FILES
    slot = {"pycm/manifest": contract.MANIFEST_PATH, "release": contract.RELEASE_PATH,
            "app-policy.json": contract.APP_POLICY_PATH, "fw_env.config": contract.FW_ENV_CONFIG_PATH,
            "dbus.conf": contract.DBUS_CONF_PATH}
    given = {rel for rel, (_, recipe) in CONTRACT_FILES.items() if recipe == "pycontainers-config"}
    assert given == set(slot)
    bb = (ROOT / "meta-pycontainers/recipes-core/pycontainers-config/pycontainers-config.bb").read_text()
    for rel in given:
        name, dest = Path(rel).name, slot[rel].replace("/etc/", "${sysconfdir}/", 1)
        assert f"file://{name}" in bb and f"install -m 0644 ${{S}}/{name} ${{D}}{dest}\n" in bb, rel


def test_scarthgap_crun_append_is_scarthgap_only():
    layer_conf = (STATIC / "conf" / "layer.conf").read_text()
    assert '${LAYERDIR}/series/${LAYERSERIES_CORENAMES}/' in layer_conf
    assert [p.parent.name for p in (STATIC / "series").iterdir()] == ["scarthgap"] or \
        sorted(p.name for p in (STATIC / "series").iterdir()) == ["scarthgap"]
    append = (STATIC / "series" / "scarthgap" / "recipes-containers" / "crun" / "crun_git.bbappend").read_text()
    for line in ('REQUIRED_DISTRO_FEATURES:pycontainers = "seccomp"', 'DEPENDS:remove:pycontainers = "systemd"',
                 'EXTRA_OECONF:append:pycontainers = " --disable-systemd"'):
        assert line in append


# meta-virtualization's crun on scarthgap, as far as its distro features go (the real recipe is
# checked against the real trees by layer-check; CI has no meta-virtualization)
SCARTHGAP_CRUN = '''SUMMARY = "crun as meta-virtualization scarthgap has it"
LICENSE = "GPL-2.0-only"
inherit features_check
REQUIRED_DISTRO_FEATURES ?= "systemd seccomp"
DEPENDS += "systemd"
'''


@pytest.mark.parametrize("distro", ["pycontainers", "nodistro"])
def test_pycm_needs_on_scarthgap_what_crun_needs_there(distro, tmp_path):
    """pycm RDEPENDS on crun. On scarthgap, crun is skipped without the systemd distro feature
    unless the pycontainers distro builds it (crun_git.bbappend), and `bitbake world` of another
    distro then failed: "Nothing RPROVIDES 'crun' (but pycm.bb RDEPENDS on it)"
    (yocto-check-layer's test_world). pycm is skipped by the same distro features as crun, with
    features_check's reason."""
    overrides = "class-target:pycontainers:qemuall:qemuarm64" if distro == "pycontainers" else "class-target:qemuall:qemuarm64"
    parse = parser(tmp_path, "scarthgap", [STATIC], f'OVERRIDES = "{overrides}"\nDISTRO = "{distro}"\n')
    crun = tmp_path / "stub-recipes" / "crun_git.bb"
    crun.parent.mkdir(parents=True)
    crun.write_text(SCARTHGAP_CRUN)
    series = STATIC / "series" / "scarthgap"
    crun_d = parse(crun, [series / "recipes-containers/crun/crun_git.bbappend"])[""]
    pycm_append = series / "recipes-core" / "pycm" / "pycm.bbappend"
    assert pycm_append.exists(), "no scarthgap bbappend of pycm"
    pycm_d = parse(STATIC / "recipes-core/pycm/pycm.bb", [pycm_append])[""]
    wanted = crun_d.getVar("REQUIRED_DISTRO_FEATURES").split()
    assert wanted == (["seccomp"] if distro == "pycontainers" else ["systemd", "seccomp"])
    assert pycm_d.getVar("REQUIRED_DISTRO_FEATURES").split() == wanted
    assert "features_check" in pycm_append.read_text()


def test_unknown_bsp_layer_is_a_user_error(run_cli, tmp_path):
    board = (ROOT / "conf" / "boards" / "raspberrypi4-64.yml").read_text().replace(
        "layers: [meta-raspberrypi]", "layers: [meta-nonesuch]")
    (tmp_path / "myboard.yml").write_text(board.replace("name: raspberrypi4-64", "name: myboard"))
    device = DEVICES["demo-rpi4"].read_text().replace("board: raspberrypi4-64", "board: myboard.yml")
    (tmp_path / "d.yml").write_text(device)
    code, _, err = run_cli("generate", tmp_path / "d.yml", "-o", tmp_path / "out")
    assert code == 2 and "yocto.layers: 'meta-nonesuch' is not a BSP source of conf/yocto-pins.yml" in err


# ------------------------------------------------------------------------------------------
# pins


def test_pins_file_is_its_template_output():
    """conf/yocto-pins.yml is written by `pins update` through its template: they must agree."""
    pins = load_pins()
    assert pins_text(pins) == pins.path.read_text()
    for series in SERIES:
        for name, pin in pins.series[series].items():
            assert re.fullmatch(r"[0-9a-f]{40}", pin["commit"]), (series, name)


def _clone(path: Path, branches: dict[str, int]) -> dict[str, str]:
    """A git repository at PATH with the given branches, N commits each; returns branch -> sha."""
    import git

    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as c:
        c.set_value("user", "name", "t")
        c.set_value("user", "email", "t@example.invalid")
    heads = {}
    for branch, n in branches.items():
        repo.git.checkout("-B", branch)
        for i in range(n):
            (path / "f").write_text(f"{branch} {i}\n")
            repo.index.add(["f"])
            repo.index.commit(f"{branch} {i}")
        heads[branch] = repo.head.commit.hexsha
    return heads


def test_pins_update_from_local_clones(run_cli, tmp_path, monkeypatch):
    from pycontainers.yocto import pins as pins_mod

    pins_file = tmp_path / "yocto-pins.yml"
    pins_file.write_text(pins_mod.PINS_FILE.read_text())
    monkeypatch.setattr(pins_mod, "PINS_FILE", pins_file)
    monkeypatch.setattr(pins_mod.load_pins, "__defaults__", (pins_file,))
    clones = tmp_path / "clones"
    core = _clone(clones / "openembedded-core", {"scarthgap": 2, "wrynose": 1})
    bitbake = _clone(clones / "bitbake", {"2.18": 1})
    code, out, err = run_cli("pins", "update", "--from", clones, "--series", "wrynose")
    assert code == 0, err
    new = pins_mod.load_pins(pins_file)
    assert new.series["wrynose"]["openembedded-core"]["commit"] == core["wrynose"]
    assert new.series["wrynose"]["bitbake"]["commit"] == bitbake["2.18"]
    old = load_pins(ROOT / "conf" / "yocto-pins.yml")
    assert new.series["scarthgap"] == old.series["scarthgap"]  # --series wrynose only
    assert new.series["wrynose"]["meta-rauc"] == old.series["wrynose"]["meta-rauc"]  # no clone: kept
    assert "meta-rauc: no clone" in out
    assert new.date != "" and pins_file.read_text().startswith("# Upstream layers")


def test_pins_update_reports_a_missing_branch(run_cli, tmp_path, monkeypatch):
    from pycontainers.yocto import pins as pins_mod

    pins_file = tmp_path / "yocto-pins.yml"
    pins_file.write_text(pins_mod.PINS_FILE.read_text())
    monkeypatch.setattr(pins_mod.load_pins, "__defaults__", (pins_file,))
    _clone(tmp_path / "clones" / "meta-rauc", {"main": 1})
    code, _, err = run_cli("pins", "update", "--from", tmp_path / "clones")
    assert code == 2 and "has no branch 'scarthgap'" in err
    assert pins_file.read_text() == pins_mod.PINS_FILE.read_text()  # nothing written


def test_oci_archive_container(run_cli, tmp_path):
    """An oci-archive image is copied into the recipe's files/ and stays packed in SRC_URI (the
    class unpacks it with umoci); the recipe parses."""
    layout = make_layout(tmp_path / "layout", [layer([("bin/app", "file", b"#!/bin/sh\n", 0o755)])])
    subprocess.run(["tar", "-cf", str(tmp_path / "app.oci.tar"), "-C", str(layout), "."], check=True)
    device = DEVICES["demo"].read_text().replace("name: demo\n", "name: oci\n").replace(
        "packages: [busybox-static]", "oci-archive: app.oci.tar", 1)
    (tmp_path / "oci.yml").write_text(device)
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", tmp_path / "oci.yml", "-o", out)
    assert code == 0, err
    rdir = out / "generated" / "yocto" / "meta-oci" / "recipes-containers" / "oci-container-hostos"
    assert (rdir / "files" / "app.oci.tar").read_bytes() == (tmp_path / "app.oci.tar").read_bytes()
    recipe = (rdir / "oci-container-hostos.bb").read_text()
    assert "file://app.oci.tar;unpack=0" in recipe and 'PYCONTAINERS_CONTAINER_OCI = "app.oci.tar"' in recipe
    assert not (rdir / "oci-container-hostos-rootfs.bb").exists()
    parse = parser(tmp_path / "parse", "wrynose", [STATIC, rdir.parents[1]])
    d = parse(rdir / "oci-container-hostos.bb")
    assert "umoci-native" in d[""].getVar("DEPENDS")


# ------------------------------------------------------------------------------------------
# meta-pycontainers pinned by commit (or by path), the device layer where kas looks for it


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _kas_repo_layers(kas_file: Path, rid: str, monkeypatch) -> list[Path]:
    """The layer directories kas resolves for repository `rid` of a kas file (kas's own code: a
    repo without url and path is the git work tree around the file, else its directory)."""
    import kas.context
    from kas.repos import Repo

    # kas runs git with the environment of its context (made by its command line)
    monkeypatch.setattr(kas.context, "__context__", types.SimpleNamespace(environ=dict(os.environ)))

    config = yaml.safe_load(kas_file.read_text())["repos"][rid]
    root = Path(Repo.get_root_path(str(kas_file.parent))) if "path" not in config else Path(config["path"])
    return [root / layer for layer, state in config["layers"].items() if state != "disabled"]


def test_meta_pycontainers_is_pinned_to_the_checkouts_head(generated):
    head, url = _git(ROOT, "rev-parse", "HEAD"), load_pins().project["url"]
    for (name, series), gen in generated.items():
        repo = yaml.safe_load((gen / "yocto" / "kas.yml").read_text())["repos"]["meta-pycontainers"]
        assert repo["commit"] == head and repo["url"] == url, (name, series, repo)
        assert "path" not in repo
        if series == "wrynose":
            config = json.loads((gen / "yocto" / f"{name}.conf.json").read_text())
            remote = config["sources"]["meta-pycontainers"]["git-remote"]
            assert remote["rev"] == head and remote["uri"] == url, remote


def test_layer_source_path_names_the_checkout(run_cli, tmp_path, monkeypatch):
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", DEVICES["demo"], "-o", out, "--layer-source", "path", "--backend", "yocto")
    assert code == 0, err
    kas_file = out / "generated" / "yocto" / "kas.yml"
    repo = yaml.safe_load(kas_file.read_text())["repos"]["meta-pycontainers"]
    assert repo == {"path": str(ROOT), "layers": {"meta-pycontainers": None}}
    assert [p for p in _kas_repo_layers(kas_file, "meta-pycontainers", monkeypatch)] == [STATIC]
    config = json.loads((out / "generated" / "yocto" / "demo.conf.json").read_text())
    assert config["sources"]["meta-pycontainers"] == {"local": {"path": str(ROOT)}}
    from kas.includehandler import ConfigFile
    ConfigFile.load(str(kas_file))


def test_layer_source_git_outside_a_checkout_is_one_line(tmp_path):
    from pycontainers.errors import UserError
    from pycontainers.yocto.checkout import project_source

    copy = tmp_path / "installed"
    (copy / "meta-pycontainers" / "conf").mkdir(parents=True)
    (copy / "meta-pycontainers" / "conf" / "layer.conf").write_text("")
    with pytest.raises(UserError, match=r"^--layer-source git: .*installed is not in a git checkout.*--layer-source path"):
        project_source(load_pins(), "git", copy)
    auto = project_source(load_pins(), None, copy)  # an installed pycontainers: its own copy, by path
    assert auto.path == str(copy) and auto.url is None and auto.commit is None
    # installed into a virtualenv inside some git checkout: still not that checkout's layer
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("installed/\n")
    with pytest.raises(UserError, match="not tracked"):
        project_source(load_pins(), "git", copy)
    assert project_source(load_pins(), None, copy).path == str(copy)


def test_layer_source_git_warns_of_uncommitted_layer_changes(tmp_path, capsys):
    from pycontainers.yocto.checkout import project_source

    repo = tmp_path / "clone"
    (repo / "meta-pycontainers" / "conf").mkdir(parents=True)
    (repo / "meta-pycontainers" / "conf" / "layer.conf").write_text("# v1\n")
    _git(repo.parent, "init", "-q", str(repo))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    src = project_source(load_pins(), None, repo)
    assert src.commit == _git(repo, "rev-parse", "HEAD") and src.path is None
    assert "WARNING" not in capsys.readouterr().err
    (repo / "meta-pycontainers" / "conf" / "layer.conf").write_text("# v2\n")
    assert project_source(load_pins(), "git", repo).commit == src.commit
    err = capsys.readouterr().err
    assert "WARNING" in err and "uncommitted" in err and src.commit[:12] in err


@pytest.mark.parametrize("where", ["outside", "inside", "inside-ignored"])
def test_device_layer_is_found_inside_and_outside_a_git_checkout(where, run_cli, tmp_path, monkeypatch):
    """kas takes the git work tree around a kas file as its repository: the device layer's path
    is relative to that (build/ of a checkout, as the default output is), else to the file."""
    if where == "outside":
        out = tmp_path / "out"
    else:
        checkout = tmp_path / "product"
        _git(tmp_path, "init", "-q", str(checkout))
        if where == "inside-ignored":
            (checkout / ".gitignore").write_text("/build/\n")
        out = checkout / "build" / "demo"
    code, _, err = run_cli("generate", DEVICES["demo"], "-o", with_test_keys(out), "--backend", "yocto")
    assert code == 0, err
    kas_file = out / "generated" / "yocto" / "kas.yml"
    (layer,) = _kas_repo_layers(kas_file, "device", monkeypatch)
    assert layer == out / "generated" / "yocto" / "meta-demo" and (layer / "conf" / "layer.conf").is_file()


# ------------------------------------------------------------------------------------------
# PYCONTAINERS_RELEASE: the Yocto equivalent of --release


def signed_device(tmp_path: Path) -> Path:
    """demo.yml with update.signing (the test key pair): a device that trusts a release key."""
    keys = ROOT / "tests" / "data" / "keys"
    signing = f"update:\n  signing: {{key: {keys / 'development.key.pem'}, cert: {keys / 'development.cert.pem'}}}\n"
    device = tmp_path / "signed.yml"
    device.write_text(DEVICES["demo"].read_text().replace("name: demo\n", "name: signed\n")
                      .replace("update:\n", signing, 1))
    return device


@pytest.mark.parametrize("signing", ["development", "release"])
def test_release_refuses_images_and_bundles_that_trust_a_development_key(signing, run_cli, tmp_path, caplog):
    device = DEVICES["demo"] if signing == "development" else signed_device(tmp_path)
    name = "demo" if signing == "development" else "signed"
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device, "-o", out, "--backend", "yocto", "--yocto-series", "wrynose")
    assert code == 0, err
    layer = out / "generated" / "yocto" / f"meta-{name}"
    assert f"SIGNING={signing}\n" in (layer / "recipes-core/pycontainers-config/files/release").read_text()
    recipes = [layer / f"recipes-core/images/{name}-image.bb", layer / f"recipes-core/bundles/{name}-bundle.bb"]
    for release in ("0", "1"):
        parse = parser(tmp_path / f"parse-{release}", "wrynose", [STATIC, layer], f'PYCONTAINERS_RELEASE = "{release}"\n')
        for recipe in recipes:
            caplog.clear()
            if release == "1" and signing == "development":
                with pytest.raises(Exception):
                    parse(recipe)
                assert "PYCONTAINERS_RELEASE" in caplog.text and "development" in caplog.text, caplog.text
                assert "update.signing" in caplog.text
            else:
                d = parse(recipe)
                assert d[""].getVar("PYCONTAINERS_SIGNING") == signing


# ------------------------------------------------------------------------------------------
# What the requirements table asks of the Yocto rendering (issue 19)

def _distro_var(name: str) -> str:
    text = (STATIC / "conf/distro/pycontainers.conf").read_text()
    m = re.search(rf'^{re.escape(name)} \??\??= "([^"]*)"', text, re.M)
    assert m, f"{name} not set in the distro"
    return m.group(1)


def test_distro_builds_rauc_with_every_feature_of_the_table():
    """Without `service` RAUC has no `rauc service`: the manifest's required host service
    crash-loops and no boot is ever committed."""
    from pycontainers.requirements import YOCTO_FEATURES

    wanted = {c for name, p in YOCTO_FEATURES.items() if name.startswith("rauc.") for c in p.config}
    assert {"service", "network", "streaming"} <= wanted
    assert wanted <= set(_distro_var("PACKAGECONFIG:pn-rauc").split())


def test_distro_prefers_its_own_rauc_conf():
    """meta-rauc's rauc-conf and pycontainers-rauc-conf both RPROVIDE virtual-rauc-conf."""
    assert _distro_var("PREFERRED_RPROVIDER_virtual-rauc-conf") == "pycontainers-rauc-conf"
    recipe = (STATIC / "recipes-core/pycontainers-config/pycontainers-rauc-conf.bb").read_text()
    assert 'RPROVIDES:${PN} = "virtual-rauc-conf"' in recipe


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("name", DEVICES)
def test_boot_partition_is_a_fat_partition_type(name, series, generated):
    """The Raspberry Pi firmware reads its files only from a GPT partition of type Microsoft basic
    data; genimage's default (and wic's for an unknown type) is Linux filesystem."""
    from pycontainers.model import BOOT_PARTITION_TYPE

    gen = generated[name, series]
    parts, _ = parse_wks(next((gen / "yocto" / f"meta-{name}").rglob("*.wks")))
    boot = next(p for p in parts if p.part_name == "boot")
    assert boot.part_type == BOOT_PARTITION_TYPE == "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
    genimage = (gen / "contract" / "genimage.cfg").read_text()
    block = re.search(r"partition boot \{([^}]*)\}", genimage).group(1)
    assert f'partition-type-uuid = "{BOOT_PARTITION_TYPE}"' in block
    assert genimage.count("partition-type-uuid") == 1


@pytest.mark.parametrize("name", DEVICES)
def test_qemu_machines_run_with_runqemu(name, generated):
    """runqemu starts U-Boot (QB_DEFAULT_BIOS) on the wic disk with no -kernel of its own; real
    boards get none of it."""
    machine = next((generated[name, "wrynose"] / "yocto" / f"meta-{name}" / "conf/machine").glob("*.conf")).read_text()
    if name == "demo":  # qemuarm64
        assert 'QB_DEFAULT_FSTYPE = "wic"' in machine
        assert 'QB_DEFAULT_BIOS = "${UBOOT_BINARY}"' in machine
        assert 'QB_DEFAULT_KERNEL = "none"' in machine
    else:
        assert "QB_" not in machine


def test_runqemu_settings_follow_the_boards_firmware(tmp_path):
    from pycontainers.model import load_device
    from pycontainers.yocto import runqemu_settings

    for board, expected in (("qemux86-64", {"UBOOT_SUFFIX": "rom", "QB_DEFAULT_BIOS": "${UBOOT_BINARY}"}),
                            ("qemuriscv64", {"QB_DEFAULT_KERNEL": "${UBOOT_BINARY}"})):
        settings = dict(runqemu_settings(load_device(DEVICES["demo"], board).board))
        assert expected.items() <= settings.items() and settings["QB_DEFAULT_FSTYPE"] == "wic"
    assert "QB_DEFAULT_BIOS" not in dict(runqemu_settings(load_device(DEVICES["demo"], "qemuriscv64").board))


@pytest.mark.parametrize("series", SERIES)
def test_container_recipes_carry_their_contents_licenses(series, generated):
    """A busybox container ships busybox and glibc: GPL and LGPL, not MIT."""
    from pycontainers.yocto import SERIES_LICENSES

    recipe = (generated["demo", series] / "yocto/meta-demo/recipes-containers/demo-container-hostos"
              / "demo-container-hostos.bb").read_text()
    license_ = re.search(r'^LICENSE = "([^"]*)"', recipe, re.M).group(1)
    assert "MIT" not in license_
    assert set(license_.split(" & ")) == set((SERIES_LICENSES[series]["busybox"] + " & "
                                              + SERIES_LICENSES[series]["glibc"]).split(" & "))
    for lic in license_.split(" & "):
        assert f"${{COMMON_LICENSE_DIR}}/{lic};md5=" in recipe
    rootfs = (generated["demo", series] / "yocto/meta-demo/recipes-containers/demo-container-hostos"
              / "demo-container-hostos-rootfs.bb").read_text()
    assert re.search(r'^LICENSE = "([^"]*)"', rootfs, re.M).group(1) == license_


# ------------------------------------------------------------------------------------------
# Layer compliance (yocto-check-layer's offline checks; the full tool runs against the real
# trees, docs/yocto.md "How this is checked")

def test_layer_readme_license_and_security_as_yocto_check_layer_wants():
    """test_readme: a README with maintainer, patch and an email, not pointing at another README
    (which would skip those checks); test_security: SECURITY.*; COPYING.MIT and the repository's
    LICENSE, the same MIT text."""
    readme = (STATIC / "README.md").read_text()
    assert "readme" not in readme.lower()
    assert "maintainer" in readme.lower() and "patch" in readme.lower()
    assert re.search(r"[^@\s]+@[^@\s]+", readme)
    for source in ("kas", "bitbake-setup", "meta-virtualization", "meta-rauc", "openembedded-core"):
        assert source in readme
    assert (STATIC / "SECURITY.md").read_text().strip()
    assert (STATIC / "COPYING.MIT").read_text() == (ROOT / "LICENSE").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def device_files(recipe: Path) -> list[str]:
    """The file:// sources of a static recipe that only a device layer provides."""
    text = recipe.read_text()
    uris = re.findall(r"file://([^\s;\"\\]+)", re.search(r'SRC_URI = "([^"]*)"', text).group(1)) \
        if 'SRC_URI = "' in text else []
    if "PYCM_SRCDIR" in text:  # runtime/ of this repository
        return []
    return [u for u in uris if not (recipe.parent / "files" / u).exists() and not (recipe.parent / u).exists()]


def test_recipes_that_need_the_device_layer_are_not_in_world():
    """`bitbake world` (yocto-check-layer's test_world) cannot build a recipe whose files only the
    device layer's bbappend provides: such recipes say EXCLUDE_FROM_WORLD."""
    for recipe in STATIC.rglob("*.bb"):
        text = recipe.read_text()
        if device_files(recipe) or "pycontainers-initramfs-init" in text:
            assert 'EXCLUDE_FROM_WORLD = "1"' in text, recipe.name


@pytest.mark.parametrize("series", SERIES)
def test_recipes_that_need_the_device_layer_are_skipped_without_it(series, generated, tmp_path):
    """yocto-check-layer parses meta-pycontainers without any device layer: bitbake could not
    checksum the files only a device layer provides, and parsing would stop ("Unable to get
    checksum ... file could not be found"). Those recipes are skipped then, the reason naming the
    missing files and the fix; with the device layer's bbappend they are not skipped."""
    device = generated["demo", series] / "yocto" / "meta-demo"
    parse = parser(tmp_path, series, [STATIC, device])
    appends = {a.name[:-len(".bbappend")]: a for a in device.rglob("*.bbappend")}
    needing = {r.stem: r for r in STATIC.rglob("*.bb") if device_files(r)}
    assert set(needing) == {"pycontainers-boot-script", "pycontainers-uboot-env", "pycontainers-initramfs-init",
                            "pycontainers-config", "pycontainers-rauc-conf"}
    for name, recipe in needing.items():
        reason = parse(recipe)[""].getVar("__SKIPPED")
        assert reason, f"{name}: not skipped without the device layer"
        assert all(f in reason for f in device_files(recipe)) and "pycontainers generate" in reason, reason
        assert parse(recipe, [appends[name]])[""].getVar("__SKIPPED") is None, name
    # recipes whose files are all in this layer are never skipped
    assert parse(STATIC / "recipes-core/pycm/pycm.bb")[""].getVar("__SKIPPED") is None
