"""Every invalid input gets its exact, pinned message: FILE:LINE: KEY.PATH: MESSAGE, exit 2."""

from __future__ import annotations

import textwrap

import pytest

from helpers import ROOT
from pycontainers.model import CRASH_WINDOW_MAX, available_boards

GOOD_CONTAINER = """\
  - name: app
    role: app
    image: {packages: [busybox-static]}
    command: [/bin/sh]
"""

USER_DOC = ("UID[:GID] the container's command runs as (app containers; GID defaults to UID). Numeric: the "
            "container's root filesystem belongs to root and is read-only; its volumes are given to this user; "
            "`pycontainers import-compose` resolves an image's or a service's user name through the image's "
            "/etc/passwd. Default: 0 (root, confined as under Docker's defaults).")

CASES = {
    "unknown-top-key": (
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\nfirmware: x\ncontainers:\n" + GOOD_CONTAINER,
        ["bad.yml:5: firmware: unknown key; allowed: board, buildroot, compatible, containers, debug, format, "
         "hostname, name, networking, storage, update, version, yocto"]),
    "several-mistakes": (
        """\
        format: 1
        name: Demo
        board: qemuarm64
        version: "1.0"
        storage:
          rootfs: lots
        containers:
          - name: web
            role: server
            image: {packages: [busybox-static], oci-layout: x}
            command: /bin/sh
            restart: sometimes
        update:
          boot_attempts: 0
        """,
        ["bad.yml:2: name: 'Demo' is not valid: Device name: lower-case letters, digits and '-', at most 32 "
         "characters. Names the output directory, images and the default host name.",
         "bad.yml:6: storage.rootfs: 'lots' is not valid: A size with a unit: B, KiB, MiB, GiB (binary) or "
         "kB, MB, GB (decimal), e.g. 64MiB.",
         "bad.yml:9: containers[0].role: 'server' is not one of host, app",
         "bad.yml:10: containers[0].image: give exactly one of: packages, oci-layout, oci-archive, docker-archive, registry",
         "bad.yml:11: containers[0].command: expected a list, got a string",
         "bad.yml:12: containers[0].restart: 'sometimes' is not one of always, on-failure, never",
         "bad.yml:14: update.boot_attempts: 0 is less than the minimum of 1"]),
    "missing-keys": (
        "format: 1\nname: d\nboard: qemuarm64\ncontainers:\n  - name: a\n    role: app\n",
        ["bad.yml:1: version: required key is missing",
         "bad.yml:5: containers[0].command: required key is missing",
         "bad.yml:5: containers[0].image: required key is missing"]),
    "wrong-format-version": (
        "format: 2\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n" + GOOD_CONTAINER,
        ["bad.yml:1: format: 2 is not supported; use 1"]),
    "unknown-board": (
        "format: 1\nname: d\nboard: pdp11\nversion: '1'\ncontainers:\n" + GOOD_CONTAINER,
        [f"bad.yml:3: board: 'pdp11' is not a board (conf/boards/*.yml: {', '.join(available_boards())}) "
         "nor a .yml file"]),
    "duplicate-yaml-key": (
        "format: 1\nname: d\nname: e\nboard: qemuarm64\nversion: '1'\ncontainers:\n" + GOOD_CONTAINER,
        ["bad.yml:3: name: duplicate key (first given on line 2)"]),
    "bad-yaml": (
        "format: 1\nname: [d\n",
        ["bad.yml:3: invalid YAML: expected ',' or ']', but got '<stream end>'"]),
    "semantic": (
        """\
        format: 1
        name: d
        board: qemuarm64
        version: "1"
        storage:
          data: 1500KiB
        containers:
          - name: web
            role: host
            image: {packages: [busybox-static]}
            command: [/bin/sh]
            depends_on: [db, web]
            health: {ready_file: /run/r, exec: "true"}
          - name: web
            role: host
            image: {oci-layout: missing-dir}
            command: [/bin/sh]
            volumes:
              - {name: v, target: /v}
              - {name: w, target: /v}
        """,
        ["bad.yml:6: storage.data: '1500KiB' must be a non-zero multiple of 1 MiB (partitions are 1 MiB aligned)",
         "bad.yml:12: containers[0].depends_on[0]: 'db' is not a container of this device; known: web",
         "bad.yml:12: containers[0].depends_on[1]: a container cannot depend on itself",
         "bad.yml:13: containers[0].health: give ready_file or exec, not both",
         "bad.yml:14: containers[1].name: 'web' is already the name of containers[0]",
         "bad.yml:15: containers[1].role: only one container may have role host (containers[0] has it)",
         "bad.yml:16: containers[1].image.oci-layout: 'missing-dir' does not exist (relative to bad.yml)",
         "bad.yml:20: containers[1].volumes[1].target: target '/v' is already used by volumes[0]"]),
    "crash-loop-limits": (
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n" + GOOD_CONTAINER +
        "    crash_loop: {restarts: 65}\n"
        "  - {name: b, role: app, image: {packages: [x1]}, command: [x], crash_loop: {window: 1441m}}\n"
        "  - name: c\n    role: app\n    image: {packages: [x1]}\n    command: [x]\n"
        "    crash_loop:\n      window: 86401\n",
        ["bad.yml:10: containers[0].crash_loop.restarts: 65 is greater than the maximum of 64"]),
    "crash-loop-window": (
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"
        "  - {name: b, role: app, image: {packages: [x1]}, command: [x], crash_loop: {window: 1441m}}\n"
        "  - name: c\n    role: app\n    image: {packages: [x1]}\n    command: [x]\n"
        "    crash_loop:\n      window: 86401\n"
        "  - {name: d, role: app, image: {packages: [x1]}, command: [x], crash_loop: {window: 1440m}}\n",
        ["bad.yml:6: containers[0].crash_loop.window: '1441m' is 86460 s; the longest window is 86400 s (1 day)",
         "bad.yml:12: containers[1].crash_loop.window: 86401 is 86401 s; the longest window is 86400 s (1 day)"]),
    "dependency-cycle": (
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"
        "  - {name: a, role: app, image: {packages: [x1]}, command: [x], depends_on: [b]}\n"
        "  - {name: b, role: app, image: {packages: [x1]}, command: [x], depends_on: [a]}\n",
        ["bad.yml:6: containers[0].depends_on: dependency cycle: a -> b -> a"]),
    "confinement-keys": (
        """\
        format: 1
        name: d
        board: qemuarm64
        version: "1"
        containers:
          - name: h
            role: host
            image: {packages: [busybox-static]}
            command: [/bin/sh]
            user: "1000"
            devices: [/dev/ttyUSB0]
          - name: a
            role: app
            image: {packages: [busybox-static]}
            command: [/bin/sh]
            user: "9999999999:0"
        """,
        ["bad.yml:10: containers[0].user: a host container runs as root (it runs the host OS)",
         "bad.yml:11: containers[0].devices: a host container sees every device of the host already",
         "bad.yml:16: containers[1].user: '9999999999:0': UID and GID are at most 4294967294"]),
    "confinement-syntax": (
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"
        "  - {name: a, role: app, image: {packages: [x1]}, command: [x], user: nobody,\n"
        "     devices: [/etc/passwd, '/dev/tty\"x', /dev/a, /dev/a]}\n",
        ["bad.yml:6: containers[0].user: 'nobody' is not valid: " + USER_DOC,
         "bad.yml:7: containers[0].devices: lists an item more than once",
         "bad.yml:7: containers[0].devices[0]: '/etc/passwd' is not valid: a path under /dev/ of letters, digits and ._+@:/-",
         "bad.yml:7: containers[0].devices[1]: '/dev/tty\"x' is not valid: a path under /dev/ of letters, digits and ._+@:/-"]),
}


@pytest.mark.parametrize("name", CASES)
def test_invalid_device_messages(name, run_cli, tmp_path):
    text, expected = CASES[name]
    (tmp_path / "bad.yml").write_text(textwrap.dedent(text))
    code, out, err = run_cli("validate", "bad.yml")
    assert code == 2
    lines = err.splitlines()
    assert lines[:-1] == expected
    assert lines[-1] == f"{len(expected)} problem{'s' if len(expected) != 1 else ''} found; nothing was written"
    assert "Traceback" not in err


def test_board_errors_name_the_board_file(run_cli, tmp_path):
    (tmp_path / "myboard.yml").write_text((ROOT / "conf/boards/qemuarm64.yml").read_text()
                                          .replace("name: qemuarm64", "name: myboard")
                                          .replace("boot_command: booti", "boot_command: bootm"))
    (tmp_path / "d.yml").write_text("format: 1\nname: d\nboard: myboard.yml\nversion: '1'\ncontainers:\n"
                                    "  - {name: a, role: app, image: {packages: [x1]}, command: [x]}\n")
    code, _, err = run_cli("validate", "d.yml")
    assert code == 2
    assert "myboard.yml:10: kernel.boot_command: 'bootm' is not one of booti, bootz, zboot" in err


def test_missing_file_is_one_line(run_cli):
    code, _, err = run_cli("validate", "nope.yml")
    assert (code, err) == (2, "error: nope.yml: no such file\n")


def test_valid_example_devices(run_cli):
    for device in sorted((ROOT / "conf" / "devices").glob("*.yml")):
        code, out, err = run_cli("validate", device)
        assert code == 0, err


def test_schema_command_prints_the_schema(run_cli):
    import json
    code, out, _ = run_cli("schema")
    s = json.loads(out)
    assert s["additionalProperties"] is False and "containers" in s["properties"]
    code, out, _ = run_cli("schema", "--board")
    assert json.loads(out)["title"].startswith("pycontainers board")


def test_format_docs_are_rendered_from_the_schema(run_cli):
    for flag, doc in (([], "device-format.md"), (["--board"], "board-format.md")):
        code, out, _ = run_cli("schema", *flag, "--markdown")
        assert out == (ROOT / "docs" / doc).read_text(), f"docs/{doc} is stale: make docs"


def test_the_longest_crash_loop_window_is_the_managers():
    sched = (ROOT / "runtime" / "sched.h").read_text()
    assert f"#define PC_CRASH_WINDOW_MAX {CRASH_WINDOW_MAX} " in sched
