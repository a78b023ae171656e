"""Signed app bundles a device must refuse (docs/app-updates.md), and the anti-rollback of app and
system bundles.

The bundles are made with the host's real rauc and signed with the test key (tests/data/keys);
their listings, manifests and container configs are written by hand, as an attacker holding a
signing key would (the configs as the generator writes them, then changed: CONFIG_CASES). Each
is applied to the host ASan/UBSan build of pycm-store (`pycm-store --app-stage`, the staging child
pycm runs for `pycmctl app-update`; and end to end through pycm and pycmctl): each is refused with a
one-line reason, nothing is made outside the app store (a snapshot of the tree around it), and
`pycm-store --verify` finds the store sound afterwards.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import DATA
from pycm_host import Device, ctl, stop, wait_for
from pycontainers import contract
from pycontainers.model import Volume

CERT, KEY = DATA / "keys" / "development.cert.pem", DATA / "keys" / "development.key.pem"
RUN = b"exec sleep 60\n"  # the run.sh of every container (the fake crun runs it)
SECTION = {"required": "true", "restart": "always", "health": "none", "health-interval": "1",
           "health-timeout": "2", "health-retries": "2", "backoff": "0 0", "crash-loop": "5 60"}

ARCH = "aarch64"  # the app policy's seccomp filter: the demo board's (any board's would do)

pytestmark = pytest.mark.skipif(not shutil.which("rauc") and os.environ.get("CI") != "true",
                                reason="rauc (host) missing: apt-get install rauc squashfs-tools")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(rel: str, data: bytes, mode: int = 0o644) -> str:
    return f"f\t{mode:04o}\t{len(data)}\t{sha(data)}\t{rel}"


class AppDevice(Device):
    """A Device with an app store: a host service (as every image has: the D-Bus bus, rauc), a
    host container and two app containers (app, db) in the slot, a release file, rauc with the
    test keyring, and bundles made against it."""

    def __init__(self, base: Path, volumes: bool = True):
        super().__init__(base)
        # the slot's app policy, beside its manifest (contract.APP_POLICY_PATH)
        (base / "app-policy.json").write_text(json.dumps(contract.app_policy(ARCH), indent=2) + "\n")
        self.store = base / "store"
        self.outside = base / "outside"  # where the attacks aim
        self.outside.mkdir()
        (self.outside / "keep").write_text("keep\n")
        self.service("bus", "/bin/sleep 60")
        self.container("host", RUN.decode(), role="host")
        self.container("app", RUN.decode(), **({"volumes": "/data/volumes/app"} if volumes else {}))
        self.container("db", RUN.decode(), required="false", **({"volumes": "/data/volumes/db"} if volumes else {}))
        for name in ("host", "app", "db"):
            (base / "bundles" / name / "run.sh").chmod(0o644)
        (base / "release").write_text("NAME=test\nVERSION=1.0.0\nCOMPATIBLE=test\n")
        (base / "rauc.sh").write_text(f"#!/bin/sh\nexec rauc --keyring={CERT} \"$@\"\n")
        (base / "rauc.sh").chmod(0o755)
        self.env = {"PYCM_RAUC": str(base / "rauc.sh"), "PYCM_RELEASE": str(base / "release")}

    def section(self, rid: str, name: str, role: str = "app", **keys: str) -> str:
        spec = {"role": role, "bundle": f"{self.store}/revisions/{rid}/{name}", **SECTION,
                **{k.replace("_", "-"): v for k, v in keys.items()}}
        return f"[container {name}]\n" + "".join(f"{k} = {v}\n" for k, v in spec.items())

    def good(self, rid: str, app: bytes = b"echo app 2; exec sleep 60\n",
             config: bytes | None = None) -> tuple[str, str, list[bytes]]:
        """(listing body, manifest, blobs) of a revision the device takes: the slot's host
        container as it is, a new app with the config the generator writes (or `config`)."""
        config = app_config() if config is None else config
        body = (f"container host\n{file_entry('run.sh', RUN)}\ncontainer app\n{file_entry('config.json', config)}\n"
                f"d\t0755\trootfs\n{file_entry('run.sh', app)}\n")
        manifest = self.section(rid, "host", "host") + self.section(rid, "app")
        return body, manifest, [app, config]

    def bundle(self, name: str, rid: str, body: str, manifest: str, blobs: list[bytes] = (), *,
               version: str = "1.1.0", compatible: str = "test-apps", description: str | None = None,
               listing_id: str | None = None) -> Path:
        content = self.base / f"{name}.content"
        (content / "blobs").mkdir(parents=True)
        (content / "revision").write_text(f"pycontainers-revision 1\nid {listing_id or rid}\n{body}")
        (content / "manifest").write_text(manifest)
        for data in blobs:
            (content / "blobs" / sha(data)).write_bytes(data)
        (content / "padding").write_bytes(random.Random(name).randbytes(9000))  # verity: > 4 KiB, incompressible
        desc = description or f"pycontainers app revision {rid}, needs 100000 bytes"
        (content / "manifest.raucm").write_text(f"[update]\ncompatible={compatible}\nversion={version}\n"
                                                f"description={desc}\n\n[bundle]\nformat=verity\n")
        out = self.base / f"{name}.raucb"
        r = subprocess.run(["rauc", "bundle", f"--cert={CERT}", f"--key={KEY}", str(content), str(out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        shutil.rmtree(content)
        return out

    def stage(self, pycm: Path, target: Path | str, *options: str) -> tuple[int, str]:
        """pycm-store --app-stage TARGET STORE SLOT_MANIFEST: (exit status, its answer on fd 3)."""
        read, write = os.pipe()
        def answer_on_fd3():
            os.dup2(write, 3)
            os.set_inheritable(3, True)
        r = subprocess.run([str(pycm.with_name("pycm-store")), "--app-stage", *options, str(target), str(self.store), str(self.write())],
                           close_fds=False, preexec_fn=answer_on_fd3, capture_output=True, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **self.env))
        os.close(write)
        with os.fdopen(read) as f:
            answer = f.read()
        assert "runtime error" not in r.stdout + r.stderr and "AddressSanitizer" not in r.stderr, r.stdout + r.stderr
        return r.returncode, answer

    def verify(self, pycm: Path) -> str:
        r = subprocess.run([str(pycm.with_name("pycm-store")), "--verify", str(self.store), str(self.write())],
                           capture_output=True, text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        assert r.returncode == 0, r.stdout
        return r.stdout


def app_config(name: str = "app", change=None, **fields) -> bytes:
    """config.json of app container `name` as the generator writes it (contract.oci_config of the
    policy's reference app with `fields` replaced), then change(config) applied to a copy (the
    config shares the contract's lists: capabilities, seccomp filter, paths)."""
    app = dataclasses.replace(contract.REFERENCE_APP, name=name, **fields)
    config = copy.deepcopy(contract.oci_config(app, ARCH))
    if change:
        change(config)
    return (json.dumps(config, indent=2) + "\n").encode()


def snapshot(base: Path, skip: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under base but skip's tree: mode, size, link target (no link followed)."""
    found = {}
    for dirpath, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for name in dirs + files:
            p = Path(dirpath, name)
            st = p.lstat()
            found[str(p)] = (st.st_mode, st.st_size if p.is_file() and not p.is_symlink() else 0,
                             os.readlink(p) if p.is_symlink() else "")
    return found


# name -> (what the listing, manifest and bundle are, the reason the device gives)
RID = "0123456789abcdef"


def _case(dev: AppDevice, name: str) -> tuple[Path, str]:
    out = dev.outside
    good_body, good_manifest, blobs = dev.good(RID)
    x = b"hostile\n"
    app_only = good_manifest  # the listings below change only the app container's entries

    def listing(extra: str) -> str:
        return f"container host\n{file_entry('run.sh', RUN)}\ncontainer app\n{file_entry('run.sh', x)}\n{extra}"

    cases = {
        # store writes through links the bundle made (item 6 of issue 18)
        "link-then-file": (listing(f"l\t{out}\tesc\n{file_entry('esc/x', x)}\n"), app_only, {},
                           "revision:8: esc/x: its parent 'esc' is not a directory listed before it"),
        "link-then-dir": (listing(f"l\t{out}\tesc\nd\t0755\tesc/sub\n"), app_only, {},
                          "revision:8: esc/sub: its parent 'esc' is not a directory listed before it"),
        "link-then-fifo": (listing(f"d\t0755\ta\nl\t{out}\ta/esc\np\t0666\ta/esc/fifo\n"), app_only, {},
                           "revision:9: a/esc/fifo: its parent 'a/esc' is not a directory listed before it"),
        "link-then-setuid-file": (listing(f"l\t{out}\tesc\n{file_entry('esc/su', x, 0o4755)}\n"), app_only, {},
                                  "revision:8: esc/su: mode 4755 has the set-user-ID or set-group-ID bit"),
        "absolute-name": (listing(file_entry(f"{out}/x", x) + "\n"), app_only, {},
                          f"revision:7: '{out}/x' is not a relative path"),
        "dotdot-name": (listing(file_entry("../../../../outside/x", x) + "\n"), app_only, {},
                        "revision:7: '../../../../outside/x' is not a relative path"),
        "setgid-dir": (listing("d\t2755\tshared\n"), app_only, {},
                       "revision:7: shared: mode 2755 has the set-user-ID or set-group-ID bit"),
        "device-node": (listing("c\t0666\t1\t3\tnull\n"), app_only, {},
                        "revision:7: unknown entry type 'c' (d, f, l, p; device nodes are not carried)"),
        "container-name-a-path": (listing("container ../../outside\n"), app_only, {},
                                  "revision:7: '../../outside' is not a container name"),
        # ids
        "description-id-not-hex": (good_body, good_manifest,
                                   {"description": "pycontainers app revision ../../../outside, needs 10 bytes"},
                                   "its description is not 'pycontainers app revision ID, needs N bytes'"),
        "listing-id-other": (good_body, good_manifest, {"listing_id": "fedcba9876543210"},
                             "revision:2: the listing is of revision fedcba9876543210, the bundle's description names 0123456789abcdef"),
        # what a bundle may change (item 7)
        "host-added": (good_body + "container evil\n" + file_entry("run.sh", x) + "\n",
                       good_manifest + dev.section(RID, "evil", "host"), {},
                       "container evil: role host: an app bundle cannot add a host container"),
        "app-made-host": (good_body, dev.section(RID, "host", "host") + dev.section(RID, "app", "host"), {},
                          "container app: role host: an app bundle cannot add a host container"),
        "host-section-changed": (good_body, dev.section(RID, "host", "host", restart="never") +
                                 dev.section(RID, "app"), {},
                                 "container host: an app bundle cannot change the host container's section"),
        "host-made-app": (good_body, dev.section(RID, "host", "app") + dev.section(RID, "app"), {},
                          "container host: an app bundle cannot change the host container's section"),
        "host-files-changed": (good_body.replace(file_entry("run.sh", RUN), file_entry("run.sh", x), 1),
                               good_manifest, {},
                               "container host: an app bundle cannot change the host container's files"),
        "host-removed": (f"container app\n{file_entry('run.sh', x)}\n", dev.section(RID, "app"), {},
                         "an app bundle cannot remove the host container host"),
        "bundle-outside-the-store": (good_body, dev.section(RID, "host", "host") +
                                     dev.section(RID, "app").replace(f"{dev.store}/revisions/{RID}/app", str(out)),
                                     {}, f"container app: bundle {out} is not {dev.store}/revisions/{RID}/app"),
        "other-containers-volume": (good_body, dev.section(RID, "host", "host") +
                                    dev.section(RID, "app", volumes="/data/volumes/db"), {},
                                    "container app: volume /data/volumes/db belongs to container db"),
        "volume-outside-data-volumes": (good_body, dev.section(RID, "host", "host") +
                                        dev.section(RID, "app", volumes="/data/pycontainers/apps"), {},
                                        "container app: volume /data/pycontainers/apps is not /data/volumes/NAME"),
        "a-service-section": (good_body, good_manifest + "[service sh]\nexec = /bin/sh\n", {},
                              "only [container NAME] sections are allowed in a revision"),
        # compatible and version
        "other-device": (good_body, good_manifest, {"compatible": "other-apps"},
                         "compatible 'other-apps' is not 'test-apps': not an app bundle for this device"),
        "system-bundle": (good_body, good_manifest, {"compatible": "test"},
                          "compatible 'test' is not 'test-apps': not an app bundle for this device"),
        "downgrade": (good_body, good_manifest, {"version": "0.9.0"},
                      "version 0.9.0 is older than 1.0.0 of the running revision (factory): refused; "
                      "`pycmctl app-update --allow-downgrade FILE` installs it"),
    }
    body, manifest, opts, reason = cases[name]
    return dev.bundle(name, RID, body, manifest, [x, RUN, *blobs], **opts), reason


CASES = ["link-then-file", "link-then-dir", "link-then-fifo", "link-then-setuid-file", "absolute-name",
         "dotdot-name", "setgid-dir", "device-node", "container-name-a-path", "description-id-not-hex",
         "listing-id-other", "host-added", "app-made-host", "host-section-changed", "host-made-app",
         "host-files-changed", "host-removed", "bundle-outside-the-store", "other-containers-volume",
         "volume-outside-data-volumes", "a-service-section", "other-device", "system-bundle", "downgrade"]


def assert_refused(pycm: Path, dev: AppDevice, bundle: Path, found: list[str]) -> None:
    """Staging bundle is refused with one line that says each of found; nothing is made outside
    the store, nothing is left in it (no revision, no blob), and it verifies."""
    dev.store.mkdir()
    dev.write()
    before = snapshot(dev.base, dev.store)
    code, answer = dev.stage(pycm, bundle)
    assert code == 1 and answer.startswith("error ") and answer.count("\n") == 1, answer
    assert all(f in answer for f in found), answer
    assert snapshot(dev.base, dev.store) == before
    for left in ("revisions", "blobs"):
        assert not (dev.store / left).exists() or not list((dev.store / left).iterdir()), left
    assert "store OK: current factory" in dev.verify(pycm)


@pytest.mark.parametrize("name", CASES)
def test_a_hostile_app_bundle_is_refused_and_nothing_is_made_outside_the_store(name, pycm, tmp_path):
    dev = AppDevice(tmp_path)
    bundle, reason = _case(dev, name)
    assert_refused(pycm, dev, bundle, [reason])


# ------------------------------------------------------------------ container configs (the app policy)

def _set(path: str, value):
    """A change of config: the key at dotted `path` set to value (None: removed)."""
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        d = config
        for k in parents:
            d = d[int(k)] if isinstance(d, list) else d[k]
        key = int(last) if isinstance(d, list) else last
        if value is None:
            del d[key]
        else:
            d[key] = value
    return change


HOST_NS = [{"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]
BIND = {"type": "bind", "options": ["rbind", "rw"]}
# name -> (the app's config.json: a change of the generator's, or bytes; the key the refusal names)
CONFIG_CASES = {
    "host-pid-namespace": (_set("linux.namespaces", HOST_NS),
                           "linux.namespaces: no pid namespace (an app container has its own pid, network, ipc, "
                           "uts, mount and cgroup namespaces)"),
    "namespace-path": ((lambda c: c["linux"]["namespaces"][1].update(path="/proc/1/ns/net")),
                       "linux.namespaces[1].path: not allowed in an app container"),
    "user-namespace-added": ((lambda c: c["linux"]["namespaces"].append({"type": "user"})),
                             "linux.namespaces[6]: user is not a namespace of the app policy"),
    "cap-sys-admin": ((lambda c: c["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")),
                      "process.capabilities.bounding: CAP_SYS_ADMIN is not an app capability"),
    "ambient-cap-sys-module": (_set("process.capabilities.ambient", ["CAP_SYS_MODULE"]),
                               "process.capabilities.ambient: CAP_SYS_MODULE is not an app capability"),
    "no-new-privileges-false": (_set("process.noNewPrivileges", False),
                                "process.noNewPrivileges: is not the app policy's (true)"),
    "no-new-privileges-missing": (_set("process.noNewPrivileges", None), "process.noNewPrivileges: missing"),
    "no-seccomp": (_set("linux.seccomp", None), "linux.seccomp: missing"),
    "seccomp-allow-by-default": (_set("linux.seccomp.defaultAction", "SCMP_ACT_ALLOW"),
                                 'linux.seccomp.defaultAction: is not the app policy\'s ("SCMP_ACT_ERRNO")'),
    "seccomp-mount-allowed": ((lambda c: c["linux"]["seccomp"]["syscalls"].insert(
        0, {"names": ["mount", "unshare", "setns"], "action": "SCMP_ACT_ALLOW"})),
        "linux.seccomp.syscalls: is not the app policy's"),
    "root-writable": (_set("root.readonly", False), "root.readonly: is not the app policy's (true)"),
    "root-the-host": (_set("root.path", "/"), 'root.path: is not the app policy\'s ("rootfs")'),
    "masked-kcore-dropped": ((lambda c: c["linux"]["maskedPaths"].remove("/proc/kcore")),
                             "linux.maskedPaths: /proc/kcore is missing"),
    "readonly-proc-sys-dropped": ((lambda c: c["linux"]["readonlyPaths"].remove("/proc/sys")),
                                  "linux.readonlyPaths: /proc/sys is missing"),
    "bind-of-root": ((lambda c: c["mounts"].append({"destination": "/host", "source": "/", **BIND})),
                     "mounts[9]: source / is not a volume of container app"),
    "bind-of-another-containers-volume": (
        (lambda c: c["mounts"].append({"destination": "/db", "source": "/data/volumes/db", **BIND})),
        "mounts[9]: source /data/volumes/db is not a volume of container app"),
    "bind-of-the-app-store": (
        (lambda c: c["mounts"].append({"destination": "/s", "source": "/data/pycontainers/apps", **BIND})),
        "mounts[9]: source /data/pycontainers/apps is not a volume of container app"),
    "volume-bind-with-suid": (
        (lambda c: c["mounts"].append({"destination": "/v", "source": "/data/volumes/app", "type": "bind",
                                          "options": ["rbind", "rw", "suid", "dev"]})),
        "mounts[9].options: is not one of the app policy's volume mounts"),
    "sysfs-writable": (_set("mounts.5.options", ["nosuid", "noexec", "nodev", "rw"]),
                       'mounts[5].options[3]: is not the app policy\'s ("ro")'),
    "host-dev-bound": (_set("mounts.1", {"destination": "/dev", "source": "/dev", **BIND}),
                       'mounts[1].source: is not the app policy\'s ("tmpfs")'),
    "proc-mount-dropped": ((lambda c: c["mounts"].pop(0)), "mounts[0].destination: is not the app policy's"),
    "device-rule-allowing-everything": (_set("linux.resources.devices", [{"allow": True, "access": "rwm"}]),
                                        "linux.resources.devices: is not the app policy's"),
    "device-rule-for-the-disk": (
        (lambda c: c["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": 254, "minor": 0, "access": "rwm"})),
        "linux.resources.devices: is not the app policy's"),
    "linux-devices": (_set("linux.devices", [{"path": "/dev/vda", "type": "b", "major": 254, "minor": 0}]),
                      "linux.devices: not allowed in an app container"),
    "hooks": (_set("hooks", {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "id > /tmp/x"]}]}),
              "hooks: not allowed in an app container"),
    "sysctl": (_set("linux.sysctl", {"net.ipv4.ip_forward": "1"}), "linux.sysctl: not allowed in an app container"),
    "uid-mappings": (_set("linux.uidMappings", [{"containerID": 0, "hostID": 0, "size": 65536}]),
                     "linux.uidMappings: not allowed in an app container"),
    "run-oci-annotation": (_set("annotations", {"run.oci.seccomp_fail_unknown_syscall": "1"}),
                           "annotations: not allowed in an app container"),
    "personality": (_set("linux.personality", {"domain": "LINUX32"}),
                    "linux.personality: not allowed in an app container"),
    "cgroups-path-of-the-root": (_set("linux.cgroupsPath", "/"), "linux.cgroupsPath: not allowed in an app container"),
    "unified-memory-max": (_set("linux.resources.unified", {"memory.max": "max"}),
                           "linux.resources.unified: not allowed in an app container"),
    "no-memory-limit": (_set("linux.resources.memory", None), "linux.resources.memory: missing"),
    "memory-limit-zero": (_set("linux.resources.memory.limit", 0),
                          "linux.resources.memory.limit: 0 is not a positive integer"),
    "memory-swap-unlimited": (_set("linux.resources.memory.swap", -1),
                              "linux.resources.memory.swap: not allowed in an app container"),
    "no-pids-limit": (_set("linux.resources.pids", None), "linux.resources.pids: missing"),
    "rlimit-rtprio": ((lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_RTPRIO", "hard": 99, "soft": 99})),
                      "process.rlimits: is not the app policy's"),
    "oom-score-adj": (_set("process.oomScoreAdj", -1000), "process.oomScoreAdj: not allowed in an app container"),
    "additional-gids": (_set("process.user.additionalGids", [0, 6]),
                        "process.user.additionalGids: not allowed in an app container"),
    "user-not-the-manifests": (_set("process.user", {"uid": 1000, "gid": 1000}),
                               "process.user: 1000:1000 is not the user of its manifest section (0:0)"),
    "terminal": (_set("process.terminal", True), "process.terminal: is not the app policy's (false)"),
}
# name -> (the app's config.json text made from the generator's, what the refusal says after
# "container app: config.json:LINE:COL: "): JSON that crun's parser might read otherwise than the check
TEXT_CASES = {
    "duplicate-key": (lambda t: t.replace(b'"noNewPrivileges": true',
                                          b'"noNewPrivileges": true, "noNewPrivileges": false'),
                      "duplicate key noNewPrivileges"),
    "escaped-key": (lambda t: t.replace(b'"ociVersion"', b'"hook\\u0073": {}, "ociVersion"'), None),
    "trailing-garbage": (lambda t: t + b"}", "'}' after the value"),
    "not-utf8": (lambda t: t.replace(b'"cwd": "/"', b'"cwd": "/\xc0\xaf"'), "not UTF-8"),
    "nul-escape": (lambda t: t.replace(b'"cwd": "/"', b'"cwd": "/\\u0000/etc"'), "\\u0000 in a string"),
    "lone-surrogate": (lambda t: t.replace(b'"cwd": "/"', b'"cwd": "/\\ud800"'), "a lone surrogate"),
    "comment": (lambda t: t.replace(b'"cwd": "/",', b'"cwd": "/", /* */'), "unexpected '/'"),
    "trailing-comma": (lambda t: t.replace(b'"cwd": "/",', b'"cwd": "/",,'), "unexpected ','"),
}
# listing entries of the app container instead of the good config.json and rootfs
LISTING_CASES = {
    "no-config": ("d\t0755\trootfs\n", "config.json: cannot open: No such file or directory"),
    "config-a-link-to-the-host-containers": (
        "l\t/usr/share/pycontainers/containers/hostos/config.json\tconfig.json\nd\t0755\trootfs\n",
        "config.json: not a regular file"),
    "rootfs-a-link-to-the-hosts-root": ("CONFIG\nl\t/\trootfs\n", "rootfs: not a directory"),
}


def _config_case(dev: AppDevice, name: str) -> tuple[Path, list[str]]:
    """The bundle of a case and what its refusal says."""
    manifest = dev.section(RID, "host", "host") + dev.section(RID, "app", volumes="/data/volumes/app")
    if name in LISTING_CASES:
        entries, reason = LISTING_CASES[name]
        config = app_config()
        entries = entries.replace("CONFIG", file_entry("config.json", config))
        body = f"container host\n{file_entry('run.sh', RUN)}\ncontainer app\n{entries}{file_entry('run.sh', RUN)}\n"
        return dev.bundle(name, RID, body, manifest, [RUN, config]), [f"container app: {reason}"]
    if name in TEXT_CASES:
        change, reason = TEXT_CASES[name]
        config = change(app_config())
        found = ["container app: config.json:", reason or "hooks: not allowed in an app container"]
    else:
        change, reason = CONFIG_CASES[name]
        config = app_config(change=change)
        found = [f"container app: config.json: {reason}"]
    body, _, blobs = dev.good(RID, config=config)
    return dev.bundle(name, RID, body, manifest, blobs + [RUN]), found


@pytest.mark.parametrize("name", [*CONFIG_CASES, *TEXT_CASES, *LISTING_CASES])
def test_an_app_bundle_cannot_give_its_container_more_than_the_app_policy(name, pycm, tmp_path):
    """Each config is refused with one line naming the container and the key, before the revision
    is accepted: nothing is left in the store (the revision and its blobs are removed again),
    nothing is made outside it, and the store verifies."""
    dev = AppDevice(tmp_path)
    assert_refused(pycm, dev, *_config_case(dev, name))


def test_an_app_config_that_differs_where_the_policy_lets_it_is_taken(pycm, tmp_path):
    """Other arguments, environment, working directory, user, limits (memory, pids, cpu), fewer
    capabilities, more masked paths and its own volumes, read-only and read-write: taken."""
    dev = AppDevice(tmp_path)
    caps = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]

    def change(c: dict) -> None:
        c["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps[1:]}
        c["linux"]["maskedPaths"].append("/proc/cpuinfo")
        c["linux"]["readonlyPaths"].append("/etc")
    config = app_config(command=("/usr/bin/web", "--port", "80"), environment=(("MODE", "fast"), ("PATH", "/bin")),
                        workdir="/srv", user=(1000, 1001),
                        limits=contract.Limits(64 << 20, 0.5, 64),
                        volumes=(Volume("app", "/var/lib/app", False), Volume("app-cache", "/cache", True)),
                        change=change)
    assert b'"uid=1000"' in config and b'"quota": 50000' in config and b'"rbind",\n        "ro"' in config
    body, _, blobs = dev.good(RID, config=config)
    manifest = dev.section(RID, "host", "host") + dev.section(RID, "app", user="1000:1001",
                                                              volumes="/data/volumes/app /data/volumes/app-cache")
    code, answer = dev.stage(pycm, dev.bundle("good", RID, body, manifest, blobs + [RUN]))
    assert code == 0 and answer.splitlines()[0] == f"target revisions/{RID}", answer
    assert (dev.store / "revisions" / RID / "app" / "config.json").read_bytes() == config
    assert "store OK" in dev.verify(pycm)


def test_without_the_app_policy_the_device_takes_no_app_bundle(pycm, tmp_path):
    """A slot without its app policy (a backend that did not install it) refuses every app
    bundle: the check fails closed."""
    dev = AppDevice(tmp_path)
    (tmp_path / "app-policy.json").unlink()
    body, manifest, blobs = dev.good(RID)
    code, answer = dev.stage(pycm, dev.bundle("good", RID, body, manifest, blobs + [RUN]))
    assert code == 1, answer
    assert f"app policy {tmp_path}/app-policy.json: cannot open: No such file or directory" in answer, answer
    assert not list((dev.store / "revisions").iterdir())


def test_the_good_bundle_of_the_hostile_ones_is_taken(pycm, tmp_path):
    """The corpus's baseline: the same device takes a well-formed bundle (so each refusal above is
    the one change its case makes)."""
    dev = AppDevice(tmp_path)
    body, manifest, blobs = dev.good(RID)
    code, answer = dev.stage(pycm, dev.bundle("good", RID, body, manifest, blobs + [RUN]))
    assert code == 0 and answer.splitlines()[0] == f"target revisions/{RID}", answer
    assert (dev.store / "revisions" / RID / "version").read_text() == "version=1.1.0\n"
    assert (dev.store / "revisions" / RID / "app" / "run.sh").read_bytes() == b"echo app 2; exec sleep 60\n"
    assert "store OK" in dev.verify(pycm)
    # apps-may-change-host: the device file lets app bundles change the host container (whose
    # config the app policy does not govern: a host container's has every capability)
    dev.globals.append("apps-may-change-host = true")
    other = "fedcba9876543210"
    host_config = (json.dumps(contract.oci_config(dataclasses.replace(contract.REFERENCE_APP, name="host", role="host"),
                                                  ARCH)) + "\n").encode()
    body = (f"container host\n{file_entry('config.json', host_config)}\n{file_entry('run.sh', b'new host')}\n"
            f"container app\n{file_entry('config.json', app_config())}\nd\t0755\trootfs\n{file_entry('run.sh', RUN)}\n")
    manifest = dev.section(other, "host", "host", restart="never") + dev.section(other, "app")
    code, answer = dev.stage(pycm, dev.bundle("host", other, body, manifest, [b"new host", RUN, host_config,
                                                                              app_config()]))
    assert code == 0 and answer.startswith(f"target revisions/{other}\n"), answer


def test_bridge_networking_comes_with_the_slot_not_with_an_app_bundle(pycm, tmp_path):
    """pycm-net and the kernel's network modules are in a slot only when its device file has a
    bridge container (docs/networking.md): an app bundle that gives a container `network =
    bridge` on a slot without one is refused at staging with one line (before: taken, and the
    container crash-looped on 'its network could not be set up' until the update rolled back).
    The same bundle is taken by a slot that has a bridge container."""
    bridge = {"network": "bridge pcbr0 10.88.0.2/24 10.88.0.1", "ports": "8080:80/tcp"}
    config = app_config(network="bridge")
    assert b"/run/pycontainers/netns/app" in config

    def bundle(dev: AppDevice) -> Path:
        body, _, blobs = dev.good(RID, config=config)
        manifest = dev.section(RID, "host", "host") + dev.section(RID, "app", **bridge)
        return dev.bundle("bridge", RID, body, manifest, blobs + [RUN])

    (tmp_path / "none").mkdir()
    (tmp_path / "bridge").mkdir()
    dev = AppDevice(tmp_path / "none")
    assert_refused(pycm, dev, bundle(dev), [
        "container app: network = bridge: this slot has no bridge networking (pycm-net and its kernel modules "
        "come with a slot whose device file has a network: bridge container): a system update must bring it "
        "first"])

    dev = AppDevice(tmp_path / "bridge")
    dev.containers = [c + "network = bridge pcbr0 10.88.0.3/24 10.88.0.1\n" if c.startswith("[container db]") else c
                      for c in dev.containers]
    dev.write()
    code, answer = dev.stage(pycm, bundle(dev))
    assert code == 0 and answer.splitlines()[0] == f"target revisions/{RID}", answer
    assert "store OK" in dev.verify(pycm)


def test_downgrades_of_app_bundles_need_allow_downgrade_end_to_end(pycm, tmp_path):
    """Through pycm and pycmctl: an app bundle older than the running revision is refused, with
    one line; `--allow-downgrade` installs it and the log says so; app-rollback to an older
    revision is not a downgrade install."""
    dev = AppDevice(tmp_path, volumes=False)
    revs = {}
    for version, app in (("1.1.0", b"echo app 11; exec sleep 60\n"), ("1.2.0", b"echo app 12; exec sleep 60\n"),
                         ("1.0.5", b"echo app 105; exec sleep 60\n")):
        rid = sha(version.encode())[:16]
        body, manifest, blobs = dev.good(rid, app)
        revs[version] = (rid, dev.bundle(f"v{version}", rid, body, manifest, blobs, version=version))
    p = dev.start(pycm, 20, "--apps", str(dev.store), env=dev.env)
    wait_for(p, "boot good (slot A)")
    for version in ("1.1.0", "1.2.0"):
        r = ctl(pycm, dev, "app-update", str(revs[version][1]))
        assert r.returncode == 0 and f"committed revisions/{revs[version][0]}" in r.stdout, r.stderr
    r = ctl(pycm, dev, "app-rollback")  # 1.2.0 -> 1.1.0: a rollback, not an install
    assert r.returncode == 0 and f"committed revisions/{revs['1.1.0'][0]}" in r.stdout, r.stderr
    r = ctl(pycm, dev, "app-update", str(revs["1.0.5"][1]))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert (f"version 1.0.5 is older than 1.1.0 of the running revision (revisions/{revs['1.1.0'][0]}): refused; "
            "`pycmctl app-update --allow-downgrade FILE` installs it") in r.stderr
    r = ctl(pycm, dev, "app-update", "--allow-downgrade", str(revs["1.0.5"][1]))
    assert r.returncode == 0 and f"committed revisions/{revs['1.0.5'][0]}" in r.stdout, r.stderr
    # a hostile bundle through pycmctl: one line, the device keeps its revision
    r = ctl(pycm, dev, "app-update", str(_case(dev, "link-then-file")[0]))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "its parent 'esc'" in r.stderr, r.stderr
    assert f"app revision revisions/{revs['1.0.5'][0]}" in ctl(pycm, dev, "status").stdout
    code, out = stop(p)
    assert f"app update: --allow-downgrade: installing version 1.0.5 over 1.1.0 (revisions/{revs['1.1.0'][0]})" in out
    assert sorted(p.name for p in dev.outside.iterdir()) == ["keep"]
    assert f"store OK: current revisions/{revs['1.0.5'][0]}" in dev.verify(pycm)


KILL_SEED = int(os.environ.get("PYCONTAINERS_STORE_KILL_SEED", "20"))


def test_pycm_store_killed_at_seeded_moments_of_updates(pycm, tmp_path):
    """pycm-store, the child doing the store's part of an app update, killed (SIGKILL) at seeded
    moments (six uniform over a measured staging: rauc info, rauc extract, the revision being
    built, its checks; two over the rest of the update: the switch, the commit, the GC after it;
    each update to a revision the device does not hold): pycm carries on; an update whose staging died fails with one
    line saying so and the device keeps its revision, which pycmctl status names beside the
    failure; one killed later commits; each time the store verifies once pycmctl has answered
    (pycm collected what the dead child left), and the next update commits."""
    import signal
    import time

    dev = AppDevice(tmp_path, volumes=False)
    revs = {}
    cycle = ["1.1.0", "1.2.0", "1.3.0"]  # the GC keeps current and previous: the next is never there
    for version, app in ((v, f"echo app {v}; exec sleep 60\n".encode()) for v in cycle):
        rid = sha(version.encode())[:16]
        body, manifest, blobs = dev.good(rid, app)
        revs[version] = (rid, dev.bundle(f"v{version}", rid, body, manifest, blobs, version=version))
    pids = tmp_path / "store.pids"
    wrapper = tmp_path / "pycm-store.sh"  # as pycm-store: notes its pid, then is pycm-store (exec)
    wrapper.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec {pycm.with_name('pycm-store')} \"$@\"\n")
    wrapper.chmod(0o755)
    p = dev.start(pycm, 20, "--apps", str(dev.store), env={**dev.env, "PYCM_STORE": str(wrapper)})
    wait_for(p, "boot good (slot A)")

    def update(version: str, kill_after: float | None) -> tuple[subprocess.CompletedProcess, bool]:
        """pycmctl app-update VERSION; the pycm-store running kill_after s after the first started
        is killed (True when there was one to kill)."""
        start = len(pids.read_text().split()) if pids.exists() else 0
        args = [str(pycm.with_name("pycmctl")), "--socket", str(dev.run_dir / "control.sock"), "app-update",
                "--allow-downgrade", str(revs[version][1])]
        ctl_proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        killed = False
        while not pids.exists() or len(pids.read_text().split()) == start:
            time.sleep(0.002)
        t0 = time.monotonic()
        if kill_after is None:  # measured: how long the staging child lives
            while Path(f"/proc/{pids.read_text().split()[start]}").exists() and ctl_proc.poll() is None:
                time.sleep(0.002)
            times.append(time.monotonic() - t0)
        else:
            time.sleep(kill_after)
            newest = int(pids.read_text().split()[-1])
            try:
                os.kill(newest, signal.SIGKILL)
                killed = ctl_proc.poll() is None
            except ProcessLookupError:
                pass
        out, err = ctl_proc.communicate(timeout=60)
        return subprocess.CompletedProcess(args, ctl_proc.returncode, out, err), killed

    times: list[float] = []
    t = time.monotonic()
    r, _ = update("1.1.0", None)
    span = time.monotonic() - t
    assert r.returncode == 0 and f"committed revisions/{revs['1.1.0'][0]}" in r.stdout, r.stderr
    stage = times[0]
    running, rng, outcomes = "1.1.0", random.Random(KILL_SEED), []
    for delay in [rng.uniform(0, stage) for _ in range(6)] + [rng.uniform(stage, span) for _ in range(2)]:
        new = cycle[(cycle.index(running) + 1) % len(cycle)]
        r, killed = update(new, delay)
        status = ctl(pycm, dev, "status").stdout
        if r.returncode == 0:
            assert f"committed revisions/{revs[new][0]}" in r.stdout, r.stdout
            running = new
        else:
            assert r.stderr.count("\n") == 1 and "pycm-store --app-stage was killed by signal 9" in r.stderr, r.stderr
            assert f"the device keeps revisions/{revs[running][0]}" in r.stderr, r.stderr
            assert "app store: pycm-store --app-stage was killed by signal 9" in status, status
        assert f"app revision revisions/{revs[running][0]}" in status, status
        assert re.search(r"^app\s+healthy\s", status, re.M), status
        assert f"store OK: current revisions/{revs[running][0]}" in dev.verify(pycm)
        outcomes.append((round(delay, 3), killed, r.returncode))
    print(f"pycm-store kills (seed {KILL_SEED}; staging {stage:.2f} s, update {span:.2f} s): "
          + ", ".join(f"{d:.3f} s {'failed' if rc else 'committed'}" for d, _, rc in outcomes))
    assert p.poll() is None, "pycm exited"
    assert any(rc == 1 for _, _, rc in outcomes), f"no kill fell in a staging: {outcomes} (span {span:.2f} s)"
    new = cycle[(cycle.index(running) + 1) % len(cycle)]
    r, _ = update(new, None)
    assert r.returncode == 0 and f"committed revisions/{revs[new][0]}" in r.stdout, r.stderr
    code, out = stop(p)
    assert "runtime error" not in out and "AddressSanitizer" not in out
    assert "app store: pycm-store --app-stage was killed by signal 9" in out


# ------------------------------------------------------------------ system bundles

def _system_bundle(base: Path, version: str) -> Path:
    """A signed system bundle of `version`, extracted as RAUC mounts it for its handlers."""
    content = base / f"sys-{version}"
    content.mkdir()
    (content / "manifest.raucm").write_text(f"[update]\ncompatible=test\nversion={version}\n\n[bundle]\nformat=verity\n")
    (content / "padding").write_bytes(random.Random(version).randbytes(9000))
    bundle = base / f"sys-{version}.raucb"
    subprocess.run(["rauc", "bundle", f"--cert={CERT}", f"--key={KEY}", str(content), str(bundle)], check=True,
                   capture_output=True)
    mounted = base / f"mounted-{version}"
    subprocess.run(["rauc", f"--keyring={CERT}", "extract", str(bundle), str(mounted)], check=True, capture_output=True)
    return mounted


def _handler(pycm: Path, base: Path, mounted: Path, running: str, *via: str) -> subprocess.CompletedProcess:
    (base / "release").write_text(f"VERSION={running}\nCOMPATIBLE=test\n")
    store = pycm.with_name("pycm-store")
    link = base / "rauc-pre-install"  # system.conf's pre-install handler: a link to pycm-store
    if not link.exists():
        link.symlink_to(store)
    argv = [str(store), "--rauc-pre-install"] if not via else [str(link), *via]
    return subprocess.run(argv, capture_output=True, text=True,
                          env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0", RAUC_BUNDLE_MOUNT_POINT=str(mounted),
                                   PYCM_RELEASE=str(base / "release"), PYCM_RUN_DIR=str(base / "run")))


def test_the_pre_install_handler_refuses_an_older_system_bundle(pycm, tmp_path):
    (tmp_path / "run").mkdir()
    old, crashloop = _system_bundle(tmp_path, "1.0.0"), _system_bundle(tmp_path, "2.0.0-crashloop")
    r = _handler(pycm, tmp_path, old, "2.0.0")
    assert r.returncode == 1
    assert ("<< error system bundle version 1.0.0 is older than the running 2.0.0: refused; "
            "`pycmctl system-update --allow-downgrade BUNDLE` installs it\n") in r.stdout
    r = _handler(pycm, tmp_path, old, "2.0.0", "")  # as RAUC calls it: the link, the bundle's handler args
    assert r.returncode == 1 and "<< error" in r.stdout
    r = _handler(pycm, tmp_path, old, "2.0.0", "--allow-downgrade")  # a bundle cannot pass the exception
    assert r.returncode == 1 and "<< error" in r.stdout
    assert _handler(pycm, tmp_path, crashloop, "1.0.0", "").returncode == 0  # 2.0.0-crashloop > 1.0.0
    assert _handler(pycm, tmp_path, old, "1.0.0", "").returncode == 0  # the same version: a reinstall
    # a marker left by a pycmctl that is gone does not allow it, and is removed
    (tmp_path / "run" / "allow-downgrade").write_text("999999999\n")
    (tmp_path / "run" / "allow-downgrade").chmod(0o600)
    assert _handler(pycm, tmp_path, old, "2.0.0", "").returncode == 1
    assert not (tmp_path / "run" / "allow-downgrade").exists()


def test_pycmctl_system_update_allow_downgrade_is_one_shot(pycm, tmp_path):
    """pycmctl system-update runs `rauc install`; here a stand-in runs RAUC's pre-install handler
    (the rauc-pre-install link) the way RAUC does, on the bundle as RAUC mounts it (a real
    `rauc install` needs slots and the D-Bus service: qemu/test_update.py)."""
    (tmp_path / "run").mkdir()
    old = _system_bundle(tmp_path, "1.0.0")
    assert _handler(pycm, tmp_path, old, "2.0.0", "").returncode == 1  # makes the link, writes the release
    rauc = tmp_path / "rauc-install.sh"
    rauc.write_text(f"#!/bin/sh\n[ \"$1\" = install ] || exit 2\nls {tmp_path}/run > {tmp_path}/seen\n"
                    f"RAUC_BUNDLE_MOUNT_POINT={old} exec {tmp_path}/rauc-pre-install ''\n")
    rauc.chmod(0o755)
    env = dict(os.environ, PYCM_RAUC=str(rauc), PYCM_RELEASE=str(tmp_path / "release"),
               PYCM_RUN_DIR=str(tmp_path / "run"), ASAN_OPTIONS="detect_leaks=0")

    def pycmctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(pycm.with_name("pycmctl")), "--socket", str(tmp_path / "run" / "control.sock"),
                               "system-update", *args], capture_output=True, text=True, env=env)
    r = pycmctl(str(tmp_path / "old.raucb"))
    assert r.returncode == 1 and "older than the running 2.0.0" in r.stdout + r.stderr
    r = pycmctl("--allow-downgrade", str(tmp_path / "old.raucb"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--allow-downgrade: installing version 1.0.0 over 2.0.0" in r.stdout
    assert (tmp_path / "seen").read_text() == "allow-downgrade\n"  # there during the install ...
    assert not (tmp_path / "run" / "allow-downgrade").exists()  # ... and only then
    assert pycmctl(str(tmp_path / "old.raucb")).returncode == 1
