"""The requirements table (generator/pycontainers/requirements.py, docs/contract.md "Requirements"):
every requirement is provided by every backend, the rendered fragments are the table's, and the
table's kernel options and applets are what Debian's kernel and busybox really have."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from helpers import DEVICES, ROOT
from pycontainers import contract, requirements as R
from pycontainers.model import load_device


def _devices():
    return [None, *(load_device(d) for d in DEVICES)]


@pytest.mark.parametrize("device", _devices(), ids=lambda d: d.name if d else "no-device")
def test_every_requirement_is_mapped_in_every_backend(device):
    init = contract.init_script(device) if device else None
    reqs = R.table(device, init)
    assert R.unmapped(reqs) == []
    kinds = {r.kind for r in reqs}
    assert kinds == {"file", "program", "feature", "applet", "kernel"}
    assert len({r.id for r in reqs}) == len(reqs), "a requirement is listed twice"


def test_bridge_networking_enters_the_table_only_where_used():
    """A device with a `network: bridge` container needs pycm-net and the bridge kernel options,
    mapped in every backend (the Yocto pycontainers-net.cfg, the Buildroot fragment's block and
    Debian's modules are that list); one without needs neither."""
    bridged = load_device(ROOT / "qemu/devices/network.yml")
    assert bridged.bridged
    reqs = R.table(bridged, contract.init_script(bridged))
    assert R.unmapped(reqs) == []
    ids = {r.id for r in reqs}
    assert {"program:pycm-net", f"file:{contract.PYCM_NET_PATH}"} <= ids
    assert {f"kernel:{sym}" for sym in contract.NET_KERNEL_CONFIG} <= ids
    plain = {r.id for r in R.table(load_device(DEVICES[0]))}
    assert not any("pycm-net" in i or i == "kernel:CONFIG_VETH" for i in plain)
    layer = ROOT / "meta-pycontainers/recipes-kernel/linux/files/pycontainers-net.cfg"
    assert set(re.findall(r"^(CONFIG_\w+)=y", layer.read_text(), re.M)) == set(contract.NET_KERNEL_CONFIG)


def test_an_unmapped_requirement_names_itself_and_the_backend():
    reqs = R.table()
    extra = R.Requirement("program", "newtool", "a program no backend knows yet")
    problems = R.unmapped([*reqs, extra])
    assert problems == [f"requirement program:newtool: backend {b} does not say how it provides it"
                        for b in R.BACKENDS]
    # a limit is no provision for a requirement every slot must meet
    streaming = next(r for r in reqs if r.id == "feature:rauc.streaming")
    problems = R.unmapped([replace(streaming, need="must")])
    assert len(problems) == 1 and problems[0].startswith(
        "requirement feature:rauc.streaming: backend debian states a limit (")
    bad_origin = R.Requirement("file", "/x", "?", mode=0o644, origin="downloaded")
    assert any("origin 'downloaded' is not one of generated, runtime, package" in p for p in R.unmapped([bad_origin]))


def test_the_table_has_what_the_issue_asks_for():
    ids = {r.id for r in R.table(load_device(ROOT / "conf/devices/demo.yml"))}
    for needed in ("program:pycm", "program:pycmctl", "program:rauc", "program:dbus-daemon", "program:crun",
                   "program:fw_setenv", "program:fw_printenv", "program:unsquashfs", "program:mksquashfs",
                   "feature:rauc.service", "feature:rauc.dbus", "feature:rauc.verity", "feature:rauc.streaming",
                   "feature:rauc.uboot", "file:/usr/bin/pycmctl", "file:/etc/rauc/system.conf",
                   "kernel:CONFIG_BPF_SYSCALL", "kernel:CONFIG_CGROUP_BPF",
                   # demo.yml's host container: syslogd and httpd (oe-core's busybox has no httpd)
                   "applet:httpd", "applet:syslogd", "applet:switch_root"):
        assert needed in ids


def test_applets_are_derived_from_the_rendered_init_and_the_containers():
    device = load_device(ROOT / "conf/devices/demo.yml")
    init = contract.init_script(device)
    derived = R.script_commands(init)
    # contract.INITRAMFS_APPLETS (the links every initramfs gets) covers what /init runs, but for
    # the shell's own builtins
    assert derived - R.ASH_APPLET_BUILTINS <= set(contract.INITRAMFS_APPLETS)
    assert {"switch_root", "insmod", "usleep", "mount", "grep", "sed"} <= derived
    hostos, counter = device.containers
    assert R.container_commands(hostos) == {"sh", "mkdir", "echo", "syslogd", "httpd", "touch"}
    assert R.container_commands(counter) == {"sh", "cat", "echo", "mv", "sync", "touch", "sleep", "true"}
    users = R.applet_users(device, init)
    assert users["httpd"] == ("container hostos",)
    assert "initramfs /init" in users["switch_root"]


def test_script_commands_skips_keywords_functions_patterns_and_arithmetic():
    script = """#!/bin/sh
    # a comment's quote
    f() { logger "x"; }
    for x in a b; do f; done
    case "$1" in
    start|run) nc -l 80 ;;
    *) n=$((n + 1)); v=$(uname -r | cut -d. -f1) ;;
    esac
    [ -n "$v" ] && exec chroot /new /sbin/init >/dev/null 2>&1 </dev/console
    """
    assert R.script_commands(script) == {"logger", "nc", "uname", "cut", "[", "chroot"}


def test_static_layer_files_are_the_table_rendered():
    """meta-pycontainers' kernel and busybox fragments are rendered from the table
    (tests/update_golden.py); an edit by hand, or a table change not rendered, fails here."""
    from pycontainers.yocto import STATIC_LAYER, static_layer_files

    for rel, text in static_layer_files().items():
        assert (STATIC_LAYER / rel).read_text() == text, f"meta-pycontainers/{rel}: run tests/update_golden.py"


def test_one_kernel_list_in_yocto_and_buildroot():
    """The Yocto .cfg files and the Buildroot fragment hold the same options: the table's."""
    def options(text):
        return set(re.findall(r"^(CONFIG_\w+)=y", text, re.M))

    table = {o.symbol for o in R.KERNEL_ALL}
    layer = ROOT / "meta-pycontainers/recipes-kernel/linux/files"
    yocto = options((layer / "pycontainers.cfg").read_text()) | options((layer / "pycontainers-virtio.cfg").read_text())
    assert yocto == table
    buildroot = options((ROOT / "tests/golden/demo/buildroot/board/demo/linux.fragment").read_text())
    assert buildroot - table == {"CONFIG_I6300ESB_WDT"} - table and table <= buildroot
    rpi = options((ROOT / "tests/golden/demo-rpi4/buildroot/board/demo-rpi4/linux.fragment").read_text())
    assert rpi == {o.symbol for o in R.KERNEL_ALL if not o.qemu_only}


def test_yocto_busybox_fragments_give_every_applet():
    from pycontainers.yocto import busybox_device_fragment

    device = load_device(ROOT / "conf/devices/demo.yml")
    fragment = busybox_device_fragment(device)
    for applet in R.applet_users(device, contract.init_script(device)):
        for symbol in R.applet_symbols(applet):
            assert f"{symbol}=y\n" in fragment
    golden = ROOT / "tests/golden/demo/yocto/meta-demo/recipes-core/busybox"
    assert (golden / "files/pycontainers-demo.cfg").read_text() == fragment
    assert "file://pycontainers-demo.cfg" in (golden / "busybox_%.bbappend").read_text()
    assert "CONFIG_HTTPD=y" in fragment


def test_backends_install_the_tables_packages():
    from pycontainers.debian.build import HOST_PACKAGES

    assert set(R.packages("debian")) == set(HOST_PACKAGES)
    image_class = (ROOT / "meta-pycontainers/classes-recipe/pycontainers-image.bbclass").read_text()
    host = set(re.search(r'^PYCONTAINERS_HOST_PACKAGES \?\?= "([^"]*)"', image_class, re.M).group(1).split())
    assert set(R.packages("yocto")) <= host


def test_requirements_command_prints_json(run_cli):
    code, out, err = run_cli("requirements", ROOT / "conf/devices/demo.yml", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"] == "demo"
    rows = {row["id"]: row for row in data["requirements"]}
    assert rows["feature:rauc.service"]["backends"]["yocto"]["config"] == ["service"]
    assert rows["feature:rauc.service"]["backends"]["buildroot"]["names"] == ["BR2_PACKAGE_RAUC_DBUS"]
    assert rows["applet:httpd"]["backends"]["yocto"]["config"] == ["CONFIG_HTTPD"]
    assert rows["file:/usr/bin/pycmctl"]["mode"] == "0755"
    code, out, _ = run_cli("requirements")
    assert code == 0 and "UNMAPPED" not in out and "kernel:CONFIG_CGROUP_BPF  [must]" in out


@pytest.fixture(scope="module")
def debian_arm64():
    """Debian's arm64 kernel and busybox-static of the reference board, from the package cache
    (downloaded once, as the image build does)."""
    import shutil

    from pycontainers.debian.build import DebianBuild

    if not shutil.which("apt-get"):
        pytest.skip("apt-get not available")
    device = load_device(ROOT / "conf/devices/demo.yml")
    build = DebianBuild(device, ROOT / "build" / "requirements-test")
    build.repo.update()
    (kernel,) = build.unpacked([device.board.kernel_package], alone=True)
    (busybox,) = build.unpacked(["busybox-static"], alone=True)
    return device, kernel, busybox


@pytest.mark.network
def test_debian_kernel_has_every_option(debian_arm64):
    """Every kernel option of the table is built into Debian's kernel, or is a module the Debian
    initramfs loads (the board's modules and contract.UPDATE_MODULES), as the mapping says."""
    device, kernel, _ = debian_arm64
    (config,) = (kernel / "boot").glob("config-*")
    values = dict(re.findall(r"^(CONFIG_\w+)=(\S+)", config.read_text(), re.M))
    loaded = set(device.board.initramfs_modules) | set(contract.UPDATE_MODULES)
    problems = []
    for option in R.KERNEL_ALL:
        p = R.provision("debian", next(r for r in R.table() if r.id == f"kernel:{option.symbol}"))
        if p.limit:
            continue
        value = values.get(option.symbol)
        if value == "y":
            continue
        if value == "m" and option.debian_module and (option.debian_module in loaded or option.debian_module == "dm_mod"):
            continue
        problems.append(f"{option.symbol}={value} (mapped module: {option.debian_module or 'none'})")
    assert problems == []


@pytest.mark.network
def test_debian_busybox_has_every_applet(debian_arm64):
    """busybox-static's applet list (NUL-separated names in the binary) has every applet of the
    table for demo.yml."""
    device, _, busybox = debian_arm64
    binary = (busybox / "bin/busybox").read_bytes()
    missing = [a for a in R.applet_users(device, contract.init_script(device))
               if a not in ("[",) and b"\0" + a.encode() + b"\0" not in binary]
    assert missing == []


def test_parity_scripts_are_well_formed():
    """scripts/realcheck/yocto-parity runs only against the real trees (docs/yocto.md); here its
    shell passes shellcheck and its Python compiles."""
    import py_compile
    import shutil
    import subprocess

    py_compile.compile(str(ROOT / "scripts/realcheck/yocto_parity.py"), doraise=True)
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    r = subprocess.run(["shellcheck", str(ROOT / "scripts/realcheck/yocto-parity")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
