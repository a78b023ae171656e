"""The Buildroot rendering (docs/buildroot.md), checked offline:

- both LTS branches render, each from its own upstream base defconfig;
- every contract file in the external tree is the contract's, byte for byte;
- the manual's writing rules for external.desc, external.mk, Config.in, package .mk files,
  defconfig paths and post scripts; shellcheck on the scripts when it is installed;
- every BR2_ symbol emitted is in conf/buildroot-versions.yml's verified list for its branch;
- errors: an unknown branch, a packages: image Buildroot cannot build;
- the OCI unpacker post-build runs (layers, whiteouts, opaque directories, links, modes).

The checks against real Buildroot trees (kconfiglib on Config.in + the external tree,
utils/check-package, support/scripts/br2-external) need the trees and are not here
(shared/tools/realcheck/br-check, docs/buildroot.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, layer as _layer, make_layout, with_test_keys
from pycontainers.buildroot import BOARD_FILES, OVERLAY_FILES, load_versions
from pycontainers.oci import OciError, unpack

DEVICES = {"demo": ROOT / "conf" / "devices" / "demo.yml", "demo-rpi4": ROOT / "conf" / "devices" / "demo-rpi4.yml"}
VERSIONS_DATA = load_versions()
VERSIONS = sorted(VERSIONS_DATA.versions)
CONF = yaml.safe_load((ROOT / "conf" / "buildroot-versions.yml").read_text())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """{(device, version): OUTPUT/generated} for both devices on both branches."""
    from pycontainers import cli
    out = {}
    for name, path in DEVICES.items():
        for version in VERSIONS:
            o = with_test_keys(tmp_path_factory.mktemp(f"{name}-{version}"))
            assert cli.main(["generate", str(path), "-o", str(o), "--buildroot-version", version]) == 0
            out[name, version] = o / "generated"
    return out


def defconfig_lines(gen: Path) -> list[str]:
    (path,) = (gen / "buildroot" / "configs").iterdir()
    return [ln for ln in path.read_text().splitlines() if ln and not (ln.startswith("#") and "is not set" not in ln)]


def test_both_branches_render_from_their_own_base(generated):
    for (name, version), gen in generated.items():
        lines = defconfig_lines(gen)
        board = yaml.safe_load((ROOT / "conf" / "boards" / f"{'raspberrypi4-64' if 'rpi4' in name else 'qemuarm64'}.yml")
                               .read_text())
        base = CONF["versions"][version]["defconfigs"][board["buildroot"]["defconfig"]]
        for want in ("BR2_aarch64=y", "BR2_PACKAGE_RAUC=y", "BR2_PACKAGE_CRUN=y", "BR2_PACKAGE_PYCM=y",
                     "BR2_TOOLCHAIN_BUILDROOT_MUSL=y", "BR2_PACKAGE_HOST_GENIMAGE=y", "BR2_PACKAGE_HOST_RAUC=y"):
            assert want in lines, (name, version, want)
        # the branch's own base: 2026.02's LINUX_HEADERS_CUSTOM_6_18 is unknown to 2025.02
        ours = {ln.split("=")[0] for ln in lines[-45:]}
        kept = [ln for ln in base.splitlines()
                if not VERSIONS_DATA.is_replaced(ln.split("=")[0]) and ln.split("=")[0] not in ours]
        assert kept and all(ln in lines for ln in kept)
        assert not any(ln.startswith("BR2_TOOLCHAIN_EXTERNAL") for ln in lines)
        symbols = [ln.split("=")[0].removeprefix("# ").split(" ")[0] for ln in lines]
        assert len(symbols) == len(set(symbols)), "a symbol is set twice"
        assert f"Buildroot {version}" in (gen / "buildroot" / "external.desc").read_text()
    assert defconfig_lines(generated["demo", "2025.02"]) != defconfig_lines(generated["demo", "2026.02"])


def test_contract_files_are_copied_unchanged(generated):
    for (name, _), gen in generated.items():
        contract, board = gen / "contract", gen / "buildroot" / "board" / name
        for rel, dest in BOARD_FILES.items():
            assert (board / dest).read_bytes() == (contract / rel).read_bytes(), rel
        for rel, slot_path in OVERLAY_FILES.items():
            assert (board / "rootfs-overlay" / slot_path.lstrip("/")).read_bytes() == (contract / rel).read_bytes()
        for cfg in (contract / "containers").glob("*/config.json"):
            copied = board / "rootfs-overlay/usr/share/pycontainers/containers" / cfg.parent.name / "config.json"
            assert copied.read_bytes() == cfg.read_bytes()
        assert (board / "initramfs" / "init").stat().st_mode & 0o111
        runtime = sorted(p.name for p in (ROOT / "runtime").iterdir() if p.suffix in (".c", ".h") or p.name == "Makefile")
        assert sorted(p.name for p in (gen / "buildroot" / "src" / "pycm").iterdir()) == runtime


def test_writing_rules(generated):
    """docs/manual/writing-rules.adoc and customize-outside-br.adoc, as far as they apply."""
    for (name, _), gen in generated.items():
        br = gen / "buildroot"
        desc = (br / "external.desc").read_text().splitlines()
        assert len(desc) == 2 and desc[0] == "name: PYCONTAINERS" and desc[1].startswith("desc: ")
        assert (br / "external.mk").read_text() == \
            "include $(sort $(wildcard $(BR2_EXTERNAL_PYCONTAINERS_PATH)/package/*/*.mk))\n"
        assert (br / "Config.in").read_text().splitlines() == [
            'source "$BR2_EXTERNAL_PYCONTAINERS_PATH/package/pycm/Config.in"',
            f'source "$BR2_EXTERNAL_PYCONTAINERS_PATH/board/{name}/Config.in"']
        for mk in br.glob("package/*/*.mk"):
            text = mk.read_text().splitlines()
            assert text[:5] == ["#" * 80, "#", f"# {mk.stem}", "#", "#" * 80]
            assert text[-1] == "$(eval $(generic-package))"
            body = [ln for ln in text if ln and not ln.startswith(("#", "define", "endef", "$(eval")) and "=" not in ln]
            assert all(ln.startswith("\t") for ln in body), "command lines of a define are indented with a tab"
        for ln in defconfig_lines(gen):
            assert '="/' not in ln, f"no absolute paths: {ln}"
            for path in re.findall(r"\$\(BR2_EXTERNAL\w*\)\S*", ln):
                assert path.startswith("$(BR2_EXTERNAL_PYCONTAINERS_PATH)/"), ln
                assert Path(path.replace("$(BR2_EXTERNAL_PYCONTAINERS_PATH)", str(br)).rstrip('"')).exists(), ln
        for script in br.glob("board/*/post-*.sh"):
            text = script.read_text()
            assert text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text and script.stat().st_mode & 0o111
            assert not re.search(r"^\s*sed |@\w+@", text, re.M), "final files: no sed, no placeholders"
        assert list(br.glob("board/*/genimage.cfg"))


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_post_scripts_pass_shellcheck(generated):
    scripts = sorted(str(p) for gen in generated.values() for p in (gen / "buildroot").glob("board/*/post-*.sh"))
    r = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_every_symbol_is_verified_for_its_branch(generated):
    verified = CONF["verified_symbols"]
    for (_, version), gen in generated.items():
        for ln in defconfig_lines(gen):
            sym = re.match(r"^(?:# )?(BR2_\w+)", ln)[1]
            assert version in verified.get(sym, []), \
                f"{sym} is not verified for Buildroot {version} (conf/buildroot-versions.yml verified_symbols)"


def test_unknown_version_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("generate", DEVICES["demo"], "-o", tmp_path / "out", "--buildroot-version", "2024.02")
    lines = [ln for ln in err.splitlines() if not ln.startswith("WARNING")]
    assert code == 2 and lines == [
        "error: Buildroot version '2024.02' is not known; known: 2025.02, 2026.02 (conf/buildroot-versions.yml)"]
    assert not (tmp_path / "out" / "generated").exists()


def test_packages_buildroot_cannot_build(run_cli, tmp_path):
    device = tmp_path / "curl.yml"
    device.write_text(DEVICES["demo"].read_text().replace("packages: [busybox-static]", "packages: [busybox-static, curl]", 1))
    code, _, err = run_cli("generate", device, "-o", tmp_path / "out")
    lines = [ln for ln in err.splitlines() if not ln.startswith("WARNING")]
    assert code == 2 and len(lines) == 1
    assert f"{device}: container hostos: image.packages: 'curl' cannot be built by the Buildroot backend" in lines[0]
    assert not (tmp_path / "out" / "generated").exists()


# ------------------------------------------------------------------------------------------
# OCI images: copied into the tree, unpacked by post-build with oci-unpack.py


def test_oci_unpack_layers_whiteouts_links_modes(tmp_path):
    lower = _layer([("bin", "dir", None, 0o755), ("bin/tool", "file", b"v1", 0o755),
                    ("etc", "dir", None, 0o755), ("etc/old", "file", b"x", 0o644),
                    ("var/cache", "dir", None, 0o755), ("var/cache/a", "file", b"a", 0o644),
                    ("var/cache/b", "file", b"b", 0o644), ("secret", "file", b"s", 0o600)])
    upper = _layer([("bin/tool", "file", b"v2", 0o750), ("etc/.wh.old", "file", b"", 0o644),
                    ("var/cache/.wh..wh..opq", "file", b"", 0o644), ("var/cache/c", "file", b"c", 0o644),
                    ("bin/sh", "sym", "tool", 0o777), ("bin/tool2", "link", "bin/tool", 0o750),
                    ("sticky", "dir", None, 0o1777)])
    layout = make_layout(tmp_path / "layout", [lower, upper])
    dest = tmp_path / "rootfs"
    unpack(layout, dest)
    assert (dest / "bin/tool").read_bytes() == b"v2" and (dest / "bin/tool").stat().st_mode & 0o777 == 0o750
    assert not (dest / "etc/old").exists() and (dest / "etc").is_dir()
    assert sorted(p.name for p in (dest / "var/cache").iterdir()) == ["c"]
    assert (dest / "bin/sh").is_symlink() and (dest / "bin/sh").readlink() == Path("tool")
    assert (dest / "bin/tool2").stat().st_ino == (dest / "bin/tool").stat().st_ino
    assert (dest / "secret").stat().st_mode & 0o777 == 0o600
    assert (dest / "sticky").stat().st_mode & 0o7777 == 0o1777

    archive = tmp_path / "image.oci.tar"  # the same image as an oci-archive
    with tarfile.open(archive, "w") as t:
        t.add(layout, arcname=".")
    unpack(archive, tmp_path / "rootfs2")
    assert (tmp_path / "rootfs2/bin/tool").read_bytes() == b"v2"


@pytest.mark.parametrize("name,kind,arg", [("../escape", "file", b"x"), ("lnk", "link", "../../etc/passwd")])
def test_oci_unpack_refuses_paths_leaving_the_root(tmp_path, name, kind, arg):
    layout = make_layout(tmp_path / "layout", [_layer([(name, kind, arg, 0o644)])])
    with pytest.raises(OciError, match="leaves the root filesystem"):
        unpack(layout, tmp_path / "rootfs")


def test_oci_device_copies_its_image_and_unpacks_it_in_post_build(run_cli, tmp_path):
    make_layout(tmp_path / "app", [_layer([("bin/app", "file", b"#!/bin/sh\n", 0o755)])])
    device = tmp_path / "oci.yml"
    device.write_text(DEVICES["demo"].read_text().replace("name: demo\n", "name: oci\n")
                      .replace("packages: [busybox-static]", "oci-layout: app", 1))
    code, _, err = run_cli("generate", device, "-o", tmp_path / "out")
    assert code == 0, err
    br = tmp_path / "out" / "generated" / "buildroot"
    board = br / "board" / "oci"
    assert (board / "containers/hostos/app/index.json").read_bytes() == (tmp_path / "app/index.json").read_bytes()
    assert "BR2_PACKAGE_HOST_PYTHON3=y" in (br / "configs" / "oci_defconfig").read_text()
    assert '"${HOST_DIR}/bin/python3" "${BOARD_DIR}/oci-unpack.py" --kind oci-layout "${BOARD_DIR}/containers/hostos/app"' in \
        (board / "post-build.sh").read_text()
    # the copy in the tree is the tested module and runs on its own
    r = subprocess.run(["python3", str(board / "oci-unpack.py"), str(board / "containers/hostos/app"),
                        str(tmp_path / "rootfs")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rootfs/bin/app").read_bytes() == b"#!/bin/sh\n"


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_host_python_has_every_decompressor_the_unpacker_uses(compression, run_cli, tmp_path):
    """Buildroot's host python3 builds bz2 and lzma only with BR2_PACKAGE_HOST_PYTHON3_BZIP2/_XZ
    (package/python3/python3.mk: py_cv_module__bz2=n/a otherwise); oci-unpack.py reads layers of
    every compression oci.py names, so each of its modules is mapped and set."""
    from pycontainers import buildroot, oci

    assert set(oci.LAYER_MODULES.values()) <= set(buildroot.HOST_PYTHON3_MODULES), "a module has no Buildroot symbol"
    import io as _io
    raw = _layer([("bin/app", "file", b"#!/bin/sh\n", 0o755)], compress=False)
    buf = _io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as t:
        for member in tarfile.open(fileobj=_io.BytesIO(raw)):
            t.addfile(member, _io.BytesIO(b"#!/bin/sh\n"))
    make_layout(tmp_path / "app", [buf.getvalue()])
    device = tmp_path / "oci.yml"
    device.write_text(DEVICES["demo"].read_text().replace("name: demo\n", "name: oci\n")
                      .replace("packages: [busybox-static]", "oci-layout: app", 1))
    code, _, err = run_cli("generate", device, "-o", tmp_path / "out", "--backend", "buildroot")
    assert code == 0, err
    defconfig = (tmp_path / "out/generated/buildroot/configs/oci_defconfig").read_text().splitlines()
    for module in oci.LAYER_MODULES.values():
        symbol = buildroot.HOST_PYTHON3_MODULES[module]
        assert symbol is None or f"{symbol}=y" in defconfig, (module, symbol)
    assert "BR2_PACKAGE_HOST_PYTHON3_BZIP2=y" in defconfig and "BR2_PACKAGE_HOST_PYTHON3_XZ=y" in defconfig
    board = tmp_path / "out/generated/buildroot/board/oci"
    r = subprocess.run(["python3", str(board / "oci-unpack.py"), str(board / "containers/hostos/app"),
                        str(tmp_path / "rootfs")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rootfs/bin/app").read_bytes() == b"#!/bin/sh\n"


# ------------------------------------------------------------------------------------------
# the requirements table (generator/pycontainers/requirements.py), Buildroot's column


def _buildroot_names(device_path: Path) -> set[str]:
    from pycontainers import requirements as R
    from pycontainers.contract import init_script
    from pycontainers.model import load_device

    device = load_device(device_path)
    names = set()
    for r in R.table(device, init_script(device)):
        p = R.provision("buildroot", r)
        if r.kind in ("program", "feature") and p is not None and not p.limit:
            names |= set(p.names)
    return names


def test_defconfig_sets_every_symbol_the_table_names(generated):
    for (name, version), gen in generated.items():
        lines = set(defconfig_lines(gen))
        missing = sorted(s for s in _buildroot_names(DEVICES[name]) if f"{s}=y" not in lines)
        assert not missing, f"{name} {version}: the requirements table's Buildroot symbols are not set: {missing}"


def test_busybox_fragment_gives_every_applet_the_table_requires(generated):
    from pycontainers import requirements as R
    from pycontainers.contract import init_script
    from pycontainers.model import load_device

    for (name, _), gen in generated.items():
        device = load_device(DEVICES[name])
        fragment = (gen / "buildroot" / "board" / name / "busybox.fragment").read_text().splitlines()
        for applet in R.applet_users(device, init_script(device)):
            for symbol in R.applet_symbols(applet):
                assert f"{symbol}=y" in fragment, (name, applet, symbol)
        assert "CONFIG_STATIC=y" in fragment  # one binary for the slot, the initramfs and busybox containers


def test_internal_toolchain_is_told_the_kernel_headers_series(generated):
    """Buildroot's internal toolchain takes the headers of the kernel it builds
    (BR2_KERNEL_HEADERS_AS_KERNEL) and must be told their series, else the choice stays at
    REALLY_OLD (< 3.17: libseccomp, hence crun's seccomp, is dropped, and the toolchain build
    stops on the mismatch). A base with an external toolchain (2026.02's raspberrypi4_64) has
    no such line: versions.<branch>.headers gives it."""
    for (name, version), gen in generated.items():
        headers = [ln for ln in defconfig_lines(gen) if ln.startswith("BR2_PACKAGE_HOST_LINUX_HEADERS_CUSTOM_")]
        assert len(headers) == 1, (name, version, headers)


# ------------------------------------------------------------------------------------------
# BR2_PYCONTAINERS_RELEASE: the Buildroot equivalent of --release


def _external_config(br: Path, tmp: Path, release: bool) -> Path:
    """The .config Buildroot writes for the external tree's options (kconfiglib, the library
    Buildroot's Kconfig is checked with; Buildroot's own Config.in is not here: its symbols the
    tree refers to, such as BR2_USE_MMU, stay undefined)."""
    kconfiglib = pytest.importorskip("kconfiglib")
    import os
    old = dict(os.environ)
    os.environ.update(BR2_EXTERNAL_PYCONTAINERS_PATH=str(br), CONFIG_="")  # Buildroot's symbols have no CONFIG_ prefix
    try:
        kconf = kconfiglib.Kconfig(str(br / "Config.in"), warn=False)
    finally:
        os.environ.clear()
        os.environ.update(old)
    sym = kconf.syms["BR2_PYCONTAINERS_RELEASE"]
    assert sym.type == kconfiglib.BOOL and sym.nodes[0].prompt, "a visible bool option"
    assert sym.set_value("y" if release else "n")
    config = tmp / ".config"
    kconf.write_config(str(config))
    return config


@pytest.mark.parametrize("signing", ["development", "release"])
def test_release_option_refuses_a_development_key_in_post_scripts(signing, run_cli, tmp_path):
    keys = ROOT / "tests" / "data" / "keys"
    device = DEVICES["demo"]
    if signing == "release":
        device = tmp_path / "signed.yml"
        device.write_text(DEVICES["demo"].read_text().replace("name: demo\n", "name: signed\n").replace(
            "update:\n", f"update:\n  signing: {{key: {keys / 'development.key.pem'}, cert: {keys / 'development.cert.pem'}}}\n", 1))
    name = "demo" if signing == "development" else "signed"
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device, "-o", out, "--backend", "buildroot")
    assert code == 0, err
    br = out / "generated" / "buildroot"
    board = br / "board" / name
    target = tmp_path / "target"
    (target / "etc" / "pycontainers").mkdir(parents=True)
    release_file = board / "rootfs-overlay" / "etc" / "pycontainers" / "release"
    assert f"SIGNING={signing}\n" in release_file.read_text()
    (target / "etc" / "pycontainers" / "release").write_bytes(release_file.read_bytes())
    (tmp_path / "images").mkdir()
    for release in (True, False):
        config = _external_config(br, tmp_path, release)
        env = {"PATH": "/usr/bin:/bin", "BR2_CONFIG": str(config), "TARGET_DIR": str(target),
               "BUILD_DIR": str(tmp_path / "build"), "HOST_DIR": str(tmp_path / "host"),
               "BINARIES_DIR": str(tmp_path / "images")}
        for script, arg in (("post-build.sh", target), ("post-image.sh", tmp_path / "images")):
            r = subprocess.run(["sh", str(board / script), str(arg)], capture_output=True, text=True, env=env)
            refused = "BR2_PYCONTAINERS_RELEASE" in r.stderr
            if release and signing == "development":
                assert r.returncode != 0 and refused and "update.signing" in r.stderr, (script, r.stderr)
                assert len(r.stderr.strip().splitlines()) == 1, r.stderr
            else:
                assert not refused, (script, release, r.stderr)


def test_requirements_json_tells_br_parity_whether_the_board_is_qemu(run_cli):
    """scripts/realcheck/br-parity checks the QEMU-only kernel options on QEMU boards only."""
    import json
    for name, qemu in (("demo", True), ("demo-rpi4", False)):
        code, out, err = run_cli("requirements", DEVICES[name], "--json")
        assert code == 0, err
        assert json.loads(out)["qemu"] is qemu


@pytest.mark.parametrize("script", ["br-parity", "kas-layers"])
def test_realcheck_scripts_compile_and_print_their_usage(script):
    """scripts/realcheck/br-parity and kas-layers run only against the real trees
    (docs/buildroot.md, docs/yocto.md); here they compile with this Python and print their usage."""
    import sys
    path = ROOT / "scripts" / "realcheck" / script
    compile(path.read_text(), str(path), "exec")
    if script == "br-parity":
        r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.startswith(script), r.stderr
