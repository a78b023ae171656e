"""The contract files are accepted by the real tools that read them on the device."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT
from pycontainers.contract import APP_CAPABILITIES, APP_DEVICE_RULES, SECCOMP, oci_config
from pycontainers.model import load_device

DEMO = ROOT / "conf" / "devices" / "demo.yml"


@pytest.fixture
def generated(run_cli, tmp_path) -> Path:
    assert run_cli("generate", DEMO, "-o", tmp_path / "out")[0] == 0
    return tmp_path / "out" / "generated" / "contract"


@pytest.mark.skipif(not shutil.which("rauc"), reason="host rauc not installed (apt-get install rauc)")
def test_rauc_accepts_system_conf(generated, tmp_path):
    # rauc 1.8 parses the file before it tries D-Bus; a bad key fails with "Failed to load system config"
    def load(conf: Path) -> str:
        r = subprocess.run(["rauc", "-c", str(conf), "status"], capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr
    assert "Failed to load system config" not in load(generated / "rauc" / "system.conf")
    broken = tmp_path / "broken.conf"
    broken.write_text((generated / "rauc" / "system.conf").read_text().replace("boot-attempts=", "boot-attemptz="))
    assert "Invalid key 'boot-attemptz'" in load(broken)  # the check itself can fail


@pytest.mark.skipif(not shutil.which("mkimage"), reason="u-boot-tools not installed")
def test_boot_script_compiles(generated, tmp_path):
    r = subprocess.run(["mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-d", str(generated / "boot.cmd"),
                        str(tmp_path / "boot.scr")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not shutil.which("genimage"), reason="genimage not installed")
def test_genimage_accepts_layout_on_dummy_inputs(generated, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "boot.scr").write_bytes(b"x" * 100)
    (inputs / "uboot-env.img").write_bytes(b"\0" * 0x4000)
    (inputs / "rootfs.ext4").write_bytes(b"\0" * (1 << 20))
    (tmp_path / "root").mkdir()
    r = subprocess.run(["genimage", "--config", str(generated / "genimage.cfg"), "--inputpath", str(inputs),
                        "--outputpath", str(tmp_path / "out"), "--rootpath", str(tmp_path / "root"),
                        "--tmppath", str(tmp_path / "tmp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    device = load_device(DEMO)
    disk = tmp_path / "out" / "disk.img"
    assert disk.stat().st_size == device.storage.disk_size
    dump = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True)
    if dump.returncode == 0:  # sfdisk (fdisk package) reads back names, offsets and sizes
        parts = json.loads(dump.stdout)["partitiontable"]["partitions"]
        assert [(p["name"], p["start"] * 512, p["size"] * 512) for p in parts] == \
            [(p.name, p.offset, p.size) for p in device.storage.partitions]


def test_app_container_is_confined():
    device = load_device(DEMO)
    app = next(c for c in device.containers if c.role == "app")
    cfg = oci_config(app, "aarch64")
    assert cfg["root"]["readonly"] is True and cfg["process"]["noNewPrivileges"] is True
    assert "CAP_SYS_ADMIN" not in cfg["process"]["capabilities"]["bounding"]
    assert cfg["process"]["capabilities"]["bounding"] == APP_CAPABILITIES
    assert {n["type"] for n in cfg["linux"]["namespaces"]} >= {"pid", "network", "mount", "ipc", "uts"}
    assert cfg["linux"]["resources"] == {"memory": {"limit": 32 << 20}, "cpu": {"quota": 50000, "period": 100000},
                                         "pids": {"limit": 64}, "devices": APP_DEVICE_RULES}
    vol = [m for m in cfg["mounts"] if m["destination"] == "/var/lib/counter"]
    assert vol == [{"destination": "/var/lib/counter", "type": "bind", "source": "/data/volumes/counter",
                    "options": ["rbind", "rw"]}]


def test_app_device_cgroup_refuses_all_but_the_standard_devices():
    """crun loads its device filter only when rules exist: deny all first, then what runc and
    Docker allow (mknod of anything, rw of null zero full random urandom tty console ptmx pts)."""
    assert APP_DEVICE_RULES[0] == {"allow": False, "access": "rwm"}
    rw = {(r["type"], r["major"], r.get("minor")) for r in APP_DEVICE_RULES[1:] if r["access"] == "rwm"}
    assert rw == {("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0), ("c", 5, 1),
                  ("c", 5, 2), ("c", 136, None)}
    assert all(r["allow"] for r in APP_DEVICE_RULES[1:])


def test_app_config_ends_with_its_device_rules():
    """pycm appends a container's declared devices to the last array of its config.json (and
    checks that only the closing braces of linux.resources follow it)."""
    device = load_device(DEMO)
    app = next(c for c in device.containers if c.role == "app")
    text = json.dumps(oci_config(app, "aarch64"), indent=2) + "\n"
    assert text.rstrip().endswith("]\n    }\n  }\n}")
    assert list(json.loads(text))[-1] == "linux" and list(json.loads(text)["linux"])[-1] == "resources"
    assert list(json.loads(text)["linux"]["resources"])[-1] == "devices"


@pytest.mark.parametrize("arch", ["aarch64", "arm", "x86_64", "riscv64"])
def test_app_seccomp_is_dockers_allow_list_for_the_arch(arch):
    sec = oci_config(next(c for c in load_device(DEMO).containers if c.role == "app"), arch)["linux"]["seccomp"]
    assert sec["defaultAction"] == "SCMP_ACT_ERRNO" and sec["defaultErrnoRet"] == 1
    allowed = {n for r in sec["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    # what an app needs, and what it must not have
    assert {"read", "write", "openat", "execve", "clone", "futex", "socket", "mknodat"} <= allowed
    assert not allowed & {"unshare", "setns", "mount", "umount2", "pivot_root", "keyctl", "add_key", "request_key",
                          "io_uring_setup", "io_uring_enter", "bpf", "init_module", "kexec_load", "reboot",
                          "open_by_handle_at", "perf_event_open", "userfaultfd", "clone3"}
    (clone,) = [r for r in sec["syscalls"] if "clone" in r["names"]]
    assert clone["args"] == [{"index": 1 if arch == "s390x" else 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = [r for r in sec["syscalls"] if "clone3" in r["names"]]
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS: libc falls back to clone
    assert ("arch_prctl" in allowed) == (arch == "x86_64") and ("riscv_flush_icache" in allowed) == (arch == "riscv64")
    assert SECCOMP["source"].startswith("moby/profiles ")


def test_host_container_shares_host_namespaces():
    device = load_device(DEMO)
    host = next(c for c in device.containers if c.role == "host")
    cfg = oci_config(host, "aarch64")
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == ["mount"]
    assert "CAP_SYS_ADMIN" in cfg["process"]["capabilities"]["bounding"]
    assert any(m["destination"] == "/dev" and m["source"] == "/dev" for m in cfg["mounts"])
    assert "seccomp" not in cfg["linux"] and "resources" not in cfg["linux"]


def test_app_defaults_user_and_devices(tmp_path):
    dev = tmp_path / "d.yml"
    dev.write_text("format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"
                   "  - {name: a, role: app, image: {packages: [x1]}, command: [x], user: '1000',\n"
                   "     devices: [/dev/ttyUSB0], volumes: [{name: a, target: /v}]}\n"
                   "  - {name: b, role: app, image: {packages: [x1]}, command: [x], limits: {cpu: 0.5},\n"
                   "     user: '7:8'}\n")
    a, b = load_device(dev).containers
    cfg = oci_config(a, "aarch64")
    assert cfg["linux"]["resources"]["memory"] == {"limit": 256 << 20} and cfg["linux"]["resources"]["pids"] == {"limit": 512}
    assert cfg["process"]["user"] == {"uid": 1000, "gid": 1000}
    assert "uid=1000" in next(m for m in cfg["mounts"] if m["destination"] == "/run")["options"]
    assert "devices" not in cfg["linux"]  # resolved on the device, when it starts (pycm)
    assert oci_config(b, "aarch64")["process"]["user"] == {"uid": 7, "gid": 8}
    assert oci_config(b, "aarch64")["linux"]["resources"]["memory"] == {"limit": 256 << 20}


def test_partition_layout_is_aligned_and_contiguous():
    s = load_device(DEMO).storage
    assert [p.name for p in s.partitions] == ["boot", "uboot-env", "rootfs_a", "rootfs_b", "data"]
    assert all(p.offset % (1 << 20) == 0 and p.size % (1 << 20) == 0 for p in s.partitions)
    for a, b in zip(s.partitions, s.partitions[1:]):
        assert a.offset + a.size == b.offset
    assert s.disk_size == s.data.offset + s.data.size + (1 << 20)


def test_start_order_puts_dependencies_first(tmp_path):
    dev = tmp_path / "d.yml"
    dev.write_text("format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"
                   "  - {name: web, role: app, image: {packages: [x1]}, command: [x], depends_on: [db, cache]}\n"
                   "  - {name: cache, role: app, image: {packages: [x1]}, command: [x], depends_on: [db]}\n"
                   "  - {name: db, role: app, image: {packages: [x1]}, command: [x]}\n")
    assert [c.name for c in load_device(dev).containers] == ["db", "cache", "web"]


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_the_runtime_installs_at_the_contract_paths(tmp_path):
    """runtime/Makefile install (Buildroot's and Yocto's pycm recipes run it; the Debian backend
    places the same files) puts the manager, pycm-store next to it, the client and RAUC's
    pre-install handler, a link to pycm-store, where the contract (and system.conf's [handlers])
    names them, and nothing else."""
    from pycontainers.contract import MANAGER_PROGRAMS, PYCM_NET_PATH, PYCM_STORE_PATH, RAUC_PRE_INSTALL_PATH

    r = subprocess.run(["make", "-s", "-C", str(ROOT / "runtime"), f"O={tmp_path / 'out'}",
                        f"DESTDIR={tmp_path / 'root'}", "install"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    root = tmp_path / "root"
    installed = sorted("/" + str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())
    assert installed == sorted([*MANAGER_PROGRAMS.values(), RAUC_PRE_INSTALL_PATH])
    for path in MANAGER_PROGRAMS.values():
        assert (root / path.lstrip("/")).is_file() and os.access(root / path.lstrip("/"), os.X_OK), path
    handler = root / RAUC_PRE_INSTALL_PATH.lstrip("/")
    assert handler.is_symlink() and handler.resolve() == (root / PYCM_STORE_PATH.lstrip("/")).resolve()
    assert not (root / PYCM_NET_PATH.lstrip("/")).exists()  # bridge networking only where it is used
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "runtime"), f"O={tmp_path / 'out'}",
                        f"DESTDIR={tmp_path / 'root'}", "install-net"], capture_output=True, text=True)
    assert r.returncode == 0 and (root / PYCM_NET_PATH.lstrip("/")).is_file(), r.stderr


def test_apps_may_change_host_reaches_the_manifest(run_cli, tmp_path, pycm):
    device = tmp_path / "demo.yml"
    device.write_text(DEMO.read_text().replace("update:\n", "update:\n  apps_may_change_host: true\n", 1))
    shutil.copytree(DEMO.parent, tmp_path, dirs_exist_ok=True, ignore=lambda d, names: [n for n in names if n.endswith(".yml")])
    assert run_cli("generate", device, "-o", tmp_path / "out")[0] == 0
    manifest = tmp_path / "out" / "generated" / "contract" / "pycm" / "manifest"
    assert "\napps-may-change-host = true\n" in manifest.read_text()
    golden = ROOT / "tests" / "golden" / "demo" / "contract" / "pycm" / "manifest"
    assert "\napps-may-change-host = false\n" in golden.read_text()  # the default
    for m in (manifest, golden):
        r = subprocess.run([str(pycm), "--check", "--manifest", str(m)], capture_output=True, text=True,
                           env={"ASAN_OPTIONS": "detect_leaks=0"})
        assert r.returncode == 0, r.stderr
