"""Container image inputs (docs/images.md): oci-layout, oci-archive and docker-archive give the
same root filesystem in every backend, bad inputs one pinned line each, and import-compose.

- the Debian backend unpacks each kind into the bundle rootfs and adds the contract's mount points;
- the Buildroot tree's oci-unpack.py unpacks a docker-archive (classic and OCI-style docker save);
- the Yocto backend converts a docker-archive to an OCI layout whose unpacked tree is the same;
- validate pins the message of each bad input; a layer escaping through a symlink fails the
  build in one line;
- import-compose maps every supported key and reports every other one.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from helpers import (ROOT, image_config, layer, make_docker_archive, make_layout, tar_dir,
                     with_test_keys)
from pycontainers import oci
from pycontainers.contract import container_mount_points
from pycontainers.debian.build import DebianBuild
from pycontainers.errors import UserError
from pycontainers.model import load_device

DEMO = (ROOT / "conf" / "devices" / "demo.yml").read_text()

LOWER = layer([("bin", "dir", None, 0o755), ("bin/tool", "file", b"v1", 0o755),
               ("etc", "dir", None, 0o755), ("etc/old", "file", b"x", 0o644), ("etc/keep", "file", b"k", 0o644),
               ("var/cache/a", "file", b"a", 0o644)])
UPPER = layer([("bin/tool", "file", b"v2", 0o750), ("etc/.wh.old", "file", b"", 0o644),
               ("var/cache/.wh..wh..opq", "file", b"", 0o644), ("var/cache/c", "file", b"c", 0o644),
               ("bin/sh", "sym", "tool", 0o777)], compress=False)
CONFIG = image_config(Entrypoint=["/bin/tool"], Cmd=["--serve"], Env=["PATH=/bin", "MODE=prod"],
                      WorkingDir="/srv")


def tree(root: Path) -> dict[str, str]:
    """path -> what it is (file content and mode, link target, dir)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = f"-> {os.readlink(p)}"
        elif p.is_dir():
            out[rel] = f"dir {p.stat().st_mode & 0o7777:o}"
        else:
            out[rel] = f"{p.read_bytes()!r} {p.stat().st_mode & 0o7777:o}"
    return out


EXPECTED = {"bin": "dir 755", "bin/sh": "-> tool", "bin/tool": "b'v2' 750", "etc": "dir 755",
            "etc/keep": "b'k' 644", "var": "dir 755", "var/cache": "dir 755", "var/cache/c": "b'c' 644"}


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    """The same two-layer image as each kind, and as the OCI-style `docker save` of Docker >= 25."""
    layout = make_layout(tmp_path / "app.oci", [LOWER, UPPER], CONFIG)
    new_docker = tmp_path / "new-docker"  # index.json and blobs/ plus manifest.json naming blobs
    make_layout(new_docker, [LOWER, UPPER], CONFIG)
    index = json.loads((new_docker / "index.json").read_text())
    manifest = json.loads((new_docker / "blobs" / index["manifests"][0]["digest"].replace(":", "/")).read_bytes())
    (new_docker / "manifest.json").write_text(json.dumps([{
        "Config": "blobs/" + manifest["config"]["digest"].replace(":", "/"), "RepoTags": ["app:2"],
        "Layers": ["blobs/" + l["digest"].replace(":", "/") for l in manifest["layers"]]}]))
    return {"oci-layout": layout, "oci-archive": tar_dir(layout, tmp_path / "app.oci.tar"),
            "docker-archive": make_docker_archive(tmp_path / "app.docker.tar", [LOWER, UPPER], CONFIG),
            "docker-archive-oci-style": tar_dir(new_docker, tmp_path / "app.docker25.tar")}


def device_with(tmp_path: Path, kind: str, path: str, name: str = "img") -> Path:
    device = tmp_path / f"{name}.yml"
    device.write_text(DEMO.replace("name: demo\n", f"name: {name}\n")
                      .replace("packages: [busybox-static]", f"{kind}: {path}", 1))
    return device


# ------------------------------------------------------------------------------------------
# One rootfs, whatever the kind and the backend


def test_every_kind_unpacks_to_the_same_tree(images, tmp_path):
    for kind, source in images.items():
        dest = tmp_path / f"rootfs-{kind}"
        oci.unpack(source, dest, kind.removesuffix("-oci-style"))
        assert tree(dest) == EXPECTED, kind
        auto = tmp_path / f"auto-{kind}"  # the Buildroot script without --kind finds the same
        oci.unpack(source, auto)
        assert tree(auto) == EXPECTED, kind


def test_debian_backend_unpacks_each_kind_with_mount_points(images, tmp_path):
    for kind in ("oci-layout", "oci-archive", "docker-archive"):
        device = load_device(device_with(tmp_path, kind, images[kind].name))
        build = DebianBuild(device, tmp_path / "out", cache=tmp_path / "cache")
        (c,) = [c for c in device.containers if c.image.kind == kind]
        dest = tmp_path / f"bundle-{kind}" / "rootfs"
        build.container_rootfs(c, dest)
        mps = container_mount_points(c)
        got = tree(dest)
        assert {k: got.get(k) for k in EXPECTED} == EXPECTED, kind
        assert all(any(m == f"/{k}" or m.startswith(f"/{k}/") for m in mps) for k in set(got) - set(EXPECTED))
        assert all((dest / m.lstrip("/")).is_dir() for m in mps)


def test_buildroot_unpacker_reads_docker_archives(images, run_cli, tmp_path):
    device = device_with(tmp_path, "docker-archive", "app.docker.tar", name="dock")
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device, "-o", out)
    assert code == 0, err
    board = out / "generated" / "buildroot" / "board" / "dock"
    assert (board / "containers/hostos/app.docker.tar").read_bytes() == images["docker-archive"].read_bytes()
    assert '"${BOARD_DIR}/oci-unpack.py" --kind docker-archive "${BOARD_DIR}/containers/hostos/app.docker.tar"' in \
        (board / "post-build.sh").read_text()
    for source in (images["docker-archive"], images["docker-archive-oci-style"]):
        dest = tmp_path / f"br-{source.name}"
        r = subprocess.run(["python3", str(board / "oci-unpack.py"), "--kind", "docker-archive", str(source),
                            str(dest)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert tree(dest) == EXPECTED


def test_yocto_gets_a_docker_archive_as_an_oci_layout_for_umoci(images, run_cli, tmp_path):
    device = device_with(tmp_path, "docker-archive", "app.docker.tar", name="dock")
    out = with_test_keys(tmp_path / "out")
    code, _, err = run_cli("generate", device, "-o", out)
    assert code == 0, err
    rdir = out / "generated/yocto/meta-dock/recipes-containers/dock-container-hostos"
    layout = rdir / "files" / "app.docker.oci"
    recipe = (rdir / "dock-container-hostos.bb").read_text()
    assert "file://app.docker.oci " in recipe and 'PYCONTAINERS_CONTAINER_OCI = "app.docker.oci"' in recipe
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "1.0"}  # umoci ls
    with oci.open_image(layout, "oci-layout") as image:
        assert image.runtime["Entrypoint"] == ["/bin/tool"]  # the same config bytes
        assert [l.media_type for l in image.layers] == ["application/vnd.oci.image.layer.v1.tar+gzip",
                                                         "application/vnd.oci.image.layer.v1.tar"]
    oci.unpack(layout, tmp_path / "yocto-rootfs", "oci-layout")
    assert tree(tmp_path / "yocto-rootfs") == EXPECTED
    # byte-identical on a rerun
    first = {p.relative_to(layout): p.read_bytes() for p in layout.rglob("*") if p.is_file()}
    assert run_cli("generate", device, "-o", out)[0] == 0
    assert first == {p.relative_to(layout): p.read_bytes() for p in layout.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------
# Bad inputs: one line each, naming the file, the field and what is allowed


def bad_inputs(tmp_path: Path) -> None:
    (tmp_path / "notar.tar").write_text("hello\n")
    tar_dir(make_layout(tmp_path / "empty", []), tmp_path / "zero.tar")
    (tmp_path / "zero.tar").unlink()
    empty = tmp_path / "none"
    empty.mkdir()
    (empty / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    tar_dir(empty, tmp_path / "zero.tar")
    tar_dir(make_layout(tmp_path / "two", [LOWER], images=2), tmp_path / "two.tar")
    make_docker_archive(tmp_path / "two-docker.tar", [LOWER], images=2)
    make_docker_archive(tmp_path / "escape.tar", [layer([("../../etc/passwd", "file", b"x", 0o644)])])
    make_docker_archive(tmp_path / "docker.tar", [LOWER])
    make_layout(tmp_path / "layout", [LOWER])


BAD = [
    ("oci-archive", "missing.tar", "'missing.tar' does not exist (relative to bad.yml)"),
    ("oci-archive", "notar.tar", "'notar.tar': not a tar archive; oci-archive takes a tar of an OCI image "
                                 "layout (skopeo copy IMAGE oci-archive:FILE)"),
    ("oci-archive", "zero.tar", "'zero.tar': holds no image; oci-archive takes a tar of an OCI image layout "
                                "(skopeo copy IMAGE oci-archive:FILE) of exactly one image"),
    ("oci-archive", "two.tar", "'two.tar': holds 2 images; oci-archive takes a tar of an OCI image layout "
                               "(skopeo copy IMAGE oci-archive:FILE) of exactly one image"),
    ("docker-archive", "two-docker.tar", "'two-docker.tar': holds 2 images; docker-archive takes the tar that "
                                         "`docker save IMAGE` writes (manifest.json and layer tars) of exactly "
                                         "one image"),
    ("docker-archive", "escape.tar", "'escape.tar': layer 1 of 1: '../../etc/passwd' leaves the root filesystem"),
    ("oci-archive", "docker.tar", "'docker.tar': has no index.json: not an OCI image layout; it looks like a "
                                  "`docker save` archive: use docker-archive"),
    ("docker-archive", "layout", "'layout': is a directory; docker-archive takes the tar that `docker save "
                                 "IMAGE` writes (manifest.json and layer tars) (for a directory use oci-layout)"),
    ("oci-layout", "docker.tar", "'docker.tar': not a directory; oci-layout takes a directory holding an OCI "
                                 "image layout (index.json, blobs/) (for a tar use oci-archive or docker-archive)"),
]


@pytest.mark.parametrize("kind,path,message", BAD, ids=[b[1] for b in BAD])
def test_bad_image_inputs_are_one_pinned_line(kind, path, message, run_cli, tmp_path):
    bad_inputs(tmp_path)
    device_with(tmp_path, kind, path, name="bad")
    code, _, err = run_cli("validate", "bad.yml")
    line = next(i + 1 for i, ln in enumerate((tmp_path / "bad.yml").read_text().splitlines()) if f"{kind}:" in ln)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines() == [f"bad.yml:{line}: containers[0].image.{kind}: {message}",
                                "1 problem found; nothing was written"]


def test_a_layer_escaping_through_a_symlink_fails_the_build_in_one_line(tmp_path):
    make_docker_archive(tmp_path / "sneaky.tar", [layer([("etc", "sym", "/tmp", 0o777)]),
                                                  layer([("etc/x", "file", b"x", 0o644)])])
    device = load_device(device_with(tmp_path, "docker-archive", "sneaky.tar"))
    (c,) = [c for c in device.containers if c.image.kind == "docker-archive"]
    with pytest.raises(UserError) as e:
        DebianBuild(device, tmp_path / "out", cache=tmp_path / "cache").container_rootfs(c, tmp_path / "rootfs")
    assert str(e.value) == (f"{device.display}: container hostos: image.docker-archive: sneaky.tar: layer 2 of 2: "
                            "'etc/x' leaves the root filesystem through the symlink 'etc' -> '/tmp'")


# ------------------------------------------------------------------------------------------
# import-compose


COMPOSE = """\
services:
  web:
    image: example/web:1.0
    x-pycontainers-image: {docker-archive: images/web.tar}
    command: --port 8080 "--name=my web"
    environment:
      - MODE=test
      - GREETING=hi there
    volumes:
      - content:/srv/www:ro
      - type: volume
        source: cache
        target: /var/cache
    depends_on: [db]
    restart: unless-stopped
  db:
    x-pycontainers-image: {oci-archive: images/db.oci.tar}
    entrypoint: /bin/db
    command: [--data, /data]
    environment: {DB_SIZE: 10, DEBUG: false}
    working_dir: /data
    volumes: ["dbdata:/data"]
    restart: "no"
  job:
    x-pycontainers-image: {packages: [busybox-static]}
    command: ["/bin/sh", "-c", "echo hi"]
    depends_on:
      db: {condition: service_healthy}
    restart: on-failure
volumes:
  content:
  cache: {}
  dbdata:
"""


@pytest.fixture
def compose(tmp_path) -> Path:
    (tmp_path / "images").mkdir()
    make_docker_archive(tmp_path / "images/web.tar", [LOWER], CONFIG)
    tar_dir(make_layout(tmp_path / "db", [LOWER], image_config(Entrypoint=["/bin/ignored"], Cmd=["x"])),
            tmp_path / "images/db.oci.tar")
    (tmp_path / "compose.yml").write_text(COMPOSE)
    return tmp_path / "compose.yml"


def test_import_compose_maps_the_supported_keys(compose, run_cli, tmp_path):
    code, out, err = run_cli("import-compose", compose)
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith("# containers of ")
    body = "\n".join(out.splitlines()[1:])
    conts = {c["name"]: c for c in yaml.safe_load(body)["containers"]}
    assert conts["web"] == {
        "name": "web", "role": "app", "image": {"docker-archive": "images/web.tar"},
        # the image's Entrypoint, then the compose command (shlex-split) in place of its Cmd
        "command": ["/bin/tool", "--port", "8080", "--name=my web"],
        "environment": {"PATH": "/bin", "MODE": "test", "GREETING": "hi there"}, "workdir": "/srv",
        "volumes": [{"name": "content", "target": "/srv/www", "readonly": True},
                    {"name": "cache", "target": "/var/cache"}],
        "restart": "always", "depends_on": ["db"]}
    assert conts["db"] == {
        "name": "db", "role": "app", "image": {"oci-archive": "images/db.oci.tar"},
        "command": ["/bin/db", "--data", "/data"],  # an entrypoint drops the image's Cmd
        "environment": {"DB_SIZE": "10", "DEBUG": "false"}, "workdir": "/data",
        "volumes": [{"name": "dbdata", "target": "/data"}], "restart": "never"}
    assert conts["job"] == {"name": "job", "role": "app", "image": {"packages": ["busybox-static"]},
                            "command": ["/bin/sh", "-c", "echo hi"], "restart": "on-failure",
                            "depends_on": ["db"]}
    # the output is a device file's containers: it validates and builds a device
    (tmp_path / "dev.yml").write_text("format: 1\nname: fromcompose\nboard: qemuarm64\nversion: '1'\n" + body)
    code, _, err = run_cli("validate", "dev.yml")
    assert code == 0, err
    # --service and --device-dir
    (tmp_path / "devices").mkdir()
    code, out, _ = run_cli("import-compose", compose, "--service", "db", "--device-dir", "devices")
    assert code == 0 and "../images/db.oci.tar" in out and "name: web" not in out


def test_import_compose_reports_every_unsupported_key(compose, run_cli, tmp_path):
    compose.write_text(COMPOSE.replace("  web:\n", "  web:\n    ports: ['127.0.0.1:80:80']\n    build: .\n    user: nobody\n")
                       .replace("  db:\n", "  db:\n    networks: [back, front]\n    image: postgres:16\n")
                       .replace("volumes: [\"dbdata:/data\"]", "volumes: [\"./data:/data\", \"anon\"]")
                       .replace("restart: on-failure", "restart: on-failure:3")
                       .replace("{condition: service_healthy}", "{condition: service_completed_successfully}")
                       .replace("\nvolumes:\n", "\nnetworks:\n  back: {driver: overlay}\nvolumes:\n  dbdata2: {driver: local}\n"))
    code, out, err = run_cli("import-compose", "compose.yml")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [
        "compose.yml:3: services.web.ports[0]: '127.0.0.1:80:80' is not supported: give HOST:CONTAINER[/tcp|/udp] "
        "(published on every address of the device; no host address, range or random host port)",
        "compose.yml:4: services.web.build: not supported: images are not built here: build and save the image, "
        "then name the file with x-pycontainers-image (remove it, or drop it knowingly with --ignore build)",
        "compose.yml:5: services.web.user: user 'nobody' is not in the image's /etc/passwd: give UID[:GID]",
        "compose.yml:20: services.db.networks: a container joins one network on the device (back, front given)",
        "compose.yml:27: services.db.volumes[0]: './data': bind mounts are not supported: the device has no host "
        "directories to share; use a named volume (a directory /data/volumes/NAME on the device)",
        "compose.yml:27: services.db.volumes[1]: 'anon' is an anonymous volume: give it a name (NAME:anon)",
        "compose.yml:33: services.job.depends_on.db.condition: 'service_completed_successfully' is not supported: "
        "a dependency must be healthy before the container starts (service_started, service_healthy)",
        "compose.yml:34: services.job.restart: 'on-failure:3': a retry count is not supported; use on-failure "
        "(crash_loop in the device file stops restarting a container that keeps failing)",
        "compose.yml:36: networks.back.driver: not supported: a network is a bridge of its own on the device "
        "(remove it, or drop it knowingly with --ignore driver)",
        "compose.yml:38: volumes.dbdata2.driver: not supported: a volume is a directory /data/volumes/NAME on the "
        "device (remove it, or drop it knowingly with --ignore driver)",
        "10 problems found; nothing was written"]


def test_import_compose_registry_images_and_ignore(run_cli, tmp_path):
    (tmp_path / "c.yml").write_text(textwrap.dedent("""\
        services:
          web:
            image: nginx:1.25
            expose: ["80"]
        """))
    code, out, err = run_cli("import-compose", "c.yml")
    assert code == 2 and err.splitlines()[:2] == [
        "c.yml:2: services.web: no command: give command (a registry image is read only at build time, so its "
        "Entrypoint and Cmd are not known here; or save it and name the file with x-pycontainers-image)",
        "c.yml:4: services.web.expose: not supported: ports are reachable on the container's bridge address "
        "without it; publish them with ports (remove it, or drop it knowingly with --ignore expose)"]
    # with a command, image: REF becomes a registry reference copied at build time
    (tmp_path / "r.yml").write_text("services:\n  web:\n    image: nginx:1.25\n    command: [nginx]\n")
    code, out, err = run_cli("import-compose", "r.yml")
    assert code == 0, err
    assert "image: {registry: 'docker://nginx:1.25'}" in out and "command: [nginx]" in out
    make_docker_archive(tmp_path / "nginx.tar", [LOWER], image_config(Cmd=["nginx"], User="nginx"))
    (tmp_path / "c.yml").write_text((tmp_path / "c.yml").read_text() + "    x-pycontainers-image: {docker-archive: nginx.tar}\n")
    code, out, err = run_cli("import-compose", "c.yml", "--ignore", "expose")
    assert code == 2 and err.splitlines()[0] == (
        "c.yml:5: services.web.x-pycontainers-image: user 'nginx' is not in the image's /etc/passwd: give UID[:GID]")
    passwd = layer([("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\nnginx:x:101:102::/:/bin/false\n", 0o644)])
    make_docker_archive(tmp_path / "nginx.tar", [LOWER, passwd], image_config(Cmd=["nginx"], User="nginx"))
    code, out, err = run_cli("import-compose", "c.yml", "--ignore", "expose")
    assert code == 0
    assert err.splitlines() == ["c.yml:4: services.web.expose: ignored (--ignore expose)"]
    assert "command: [nginx]" in out and "restart: never" in out and "user: '101:102'" in out or "user: 101:102" in out


@pytest.mark.parametrize("user, image_user, want", [
    ("1000", "", "1000:0"),          # Docker: a numeric uid with no passwd entry runs in group 0
    ("1000:1000", "", "1000:1000"),
    ("app", "", "1001:50"),          # a name: uid and primary group from the image's passwd
    ("app:staff", "", "1001:60"),    # a group name from its group file
    (None, "app", "1001:50"),        # the image's own User
    (None, "0", None), ("root", "", None),  # root: no user key
    ("1001", "", "1001:50"),         # a numeric uid that has an entry takes its group
])
def test_import_compose_maps_users(user, image_user, want, run_cli, tmp_path):
    files = layer([("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\napp:x:1001:50::/:/bin/sh\n", 0o644),
                   ("etc/group", "file", b"root:x:0:\nusers:x:50:\nstaff:x:60:app\n", 0o644)])
    make_docker_archive(tmp_path / "img.tar", [LOWER, files], image_config(Cmd=["x"], User=image_user))
    (tmp_path / "c.yml").write_text("services:\n  app:\n    x-pycontainers-image: {docker-archive: img.tar}\n"
                                    + (f"    user: '{user}'\n" if user is not None else ""))
    code, out, err = run_cli("import-compose", "c.yml")
    assert code == 0, err
    (c,) = yaml.safe_load("\n".join(out.splitlines()[1:]))["containers"]
    assert c.get("user") == want
