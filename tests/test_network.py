"""Networking of app containers (docs/networking.md): the device file's network, ports and
networks, what the generator makes of them (model, OCI config, manifest) and their errors."""

from __future__ import annotations

import json
import textwrap

import pytest

from pycontainers.contract import DNS_DIR, NETNS_DIR, container_mount_files, container_mount_points, oci_config
from pycontainers.model import load_device

HEAD = "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\ncontainers:\n"


def device(tmp_path, containers: str):
    path = tmp_path / "d.yml"
    path.write_text(HEAD + textwrap.dedent(containers))
    return load_device(path)


def ns(cfg: dict) -> list[dict]:
    return cfg["linux"]["namespaces"]


def test_network_defaults_to_none_for_apps(tmp_path):
    (c,) = device(tmp_path, "  - {name: a, role: app, image: {packages: [x1]}, command: [x]}\n").containers
    assert c.network == "none" and c.ports == () and c.attach is None
    assert {"type": "network"} in ns(oci_config(c, "aarch64"))


def test_host_network_keeps_every_other_confinement(tmp_path):
    (c,) = device(tmp_path, "  - {name: a, role: app, image: {packages: [x1]}, command: [x], network: host}\n").containers
    cfg = oci_config(c, "aarch64")
    assert [n["type"] for n in ns(cfg)] == ["pid", "ipc", "uts", "mount", "cgroup"]
    none = oci_config(device(tmp_path, "  - {name: a, role: app, image: {packages: [x1]}, command: [x]}\n")
                      .containers[0], "aarch64")
    del none["linux"]["namespaces"], cfg["linux"]["namespaces"]
    assert cfg == none


def test_bridge_apps_get_a_named_netns_addresses_and_ports(tmp_path):
    d = device(tmp_path, """\
      - {name: web, role: app, image: {packages: [x1]}, command: [x], network: bridge, ports: ["8080:80/tcp", "53:53/udp", "9000:9000"]}
      - {name: db, role: app, image: {packages: [x1]}, command: [x], network: bridge, networks: [back]}
      - {name: api, role: app, image: {packages: [x1]}, command: [x], network: bridge, networks: [back]}
      - {name: cli, role: app, image: {packages: [x1]}, command: [x], network: bridge}
    """)
    web, db, api, cli = d.containers
    assert [n for n in ns(oci_config(web, "aarch64")) if n["type"] == "network"] == \
        [{"type": "network", "path": f"{NETNS_DIR}/web"}]
    assert [p.spec for p in web.ports] == ["8080:80/tcp", "53:53/udp", "9000:9000/tcp"]
    assert (web.attach.bridge, web.attach.address, web.attach.gateway, web.attach.prefix) == \
        ("pcbr0", "10.88.0.2", "10.88.0.1", 24)
    assert (cli.attach.bridge, cli.attach.address) == ("pcbr0", "10.88.0.3")
    assert (db.attach.network, db.attach.bridge, db.attach.address, db.attach.gateway) == \
        ("back", "pcbr1", "10.88.1.2", "10.88.1.1")
    assert api.attach.address == "10.88.1.3"
    assert d.bridged


def test_dns_a_bridge_app_gets_its_copy_of_the_hosts_resolv_conf(tmp_path):
    """A bridge container's /etc/resolv.conf is pycm-net's copy of the host's (read-only, a file
    mount point of its rootfs, before the volumes); the host container writes the host's in DNS_DIR."""
    host, web, lone = device(tmp_path, """\
      - {name: h, role: host, image: {packages: [x1]}, command: [x]}
      - {name: web, role: app, image: {packages: [x1]}, command: [x], network: bridge, volumes: [{name: v, target: /v}]}
      - {name: lone, role: app, image: {packages: [x1]}, command: [x], network: host}
    """).containers
    mounts = oci_config(web, "aarch64")["mounts"]
    assert mounts[-2:] == [
        {"destination": "/etc/resolv.conf", "type": "bind", "source": f"{NETNS_DIR}/web.resolv.conf",
         "options": ["bind", "ro", "nosuid", "nodev", "noexec"]},
        {"destination": "/v", "type": "bind", "source": "/data/volumes/v", "options": ["rbind", "rw"]}]
    assert container_mount_files(web) == ["/etc/resolv.conf"] and "/etc/resolv.conf" not in container_mount_points(web)
    for c in (host, lone):
        assert container_mount_files(c) == []
        assert all(m["destination"] != "/etc/resolv.conf" for m in oci_config(c, "aarch64")["mounts"])
    assert {"destination": DNS_DIR, "type": "bind", "source": DNS_DIR, "options": ["bind", "rw", "nosuid", "nodev", "noexec"]} \
        in oci_config(host, "aarch64")["mounts"]
    assert all(m["destination"] != DNS_DIR for m in oci_config(web, "aarch64")["mounts"])


def test_no_bridge_no_networking_in_the_image(tmp_path):
    d = device(tmp_path, "  - {name: a, role: app, image: {packages: [x1]}, command: [x], network: host}\n")
    assert not d.bridged


def test_the_manifest_carries_network_and_ports(run_cli, tmp_path):
    (tmp_path / "d.yml").write_text(HEAD + "  - {name: web, role: app, image: {packages: [x1]}, command: [x], "
                                    "network: bridge, ports: ['8080:80']}\n"
                                    "  - {name: h, role: app, image: {packages: [x1]}, command: [x], network: host}\n")
    code, _, err = run_cli("generate", tmp_path / "d.yml", "-o", tmp_path / "out", "--backend", "debian")
    assert code == 0, err
    text = (tmp_path / "out" / "generated" / "contract" / "pycm" / "manifest").read_text()
    web = text.split("[container web]")[1].split("[container")[0]
    assert "network = bridge pcbr0 10.88.0.2/24 10.88.0.1\n" in web and "ports = 8080:80/tcp\n" in web
    h = text.split("[container h]")[1]
    assert "network = host\n" in h and "ports" not in h
    cfg = json.loads((tmp_path / "out" / "generated" / "contract" / "containers" / "web" / "config.json").read_text())
    assert {"type": "network", "path": f"{NETNS_DIR}/web"} in ns(cfg)


@pytest.mark.parametrize("extra, message", [
    ("ports: ['8080:80']", "containers[0].ports: published ports need network: bridge"),
    ("network: host, ports: ['8080:80']", "containers[0].ports: published ports need network: bridge"),
    ("networks: [x]", "containers[0].networks: named networks need network: bridge"),
    ("network: bridge, ports: ['0:80']", "containers[0].ports[0]: '0:80': ports are 1 to 65535"),
    ("network: bridge, ports: ['8080:70000/tcp']", "containers[0].ports[0]: '8080:70000/tcp': ports are 1 to 65535"),
])
def test_network_errors(tmp_path, run_cli, extra, message):
    (tmp_path / "bad.yml").write_text(HEAD + f"  - {{name: a, role: app, image: {{packages: [x1]}}, command: [x], {extra}}}\n")
    code, _, err = run_cli("validate", tmp_path / "bad.yml")
    assert code == 2 and f"bad.yml:6: {message}" in err, err


def test_network_schema_errors(tmp_path, run_cli):
    (tmp_path / "bad.yml").write_text(HEAD + textwrap.dedent("""\
      - {name: a, role: app, image: {packages: [x1]}, command: [x], network: nat, ports: ['80'], networks: [A, b]}
    """))
    code, _, err = run_cli("validate", tmp_path / "bad.yml")
    assert code == 2
    assert "containers[0].network: 'nat' is not one of none, host, bridge" in err
    assert "containers[0].ports[0]: '80' is not valid: HOST:CONTAINER[/tcp|/udp], e.g. 8080:80/tcp" in err
    assert "containers[0].networks: expected at most 1 item" in err
    assert "containers[0].networks[0]: 'A' is not valid" in err


def test_a_host_port_is_published_once(tmp_path, run_cli):
    (tmp_path / "bad.yml").write_text(HEAD + textwrap.dedent("""\
      - {name: b, role: app, image: {packages: [x1]}, command: [x], network: bridge, ports: ['8080:80']}
      - {name: c, role: app, image: {packages: [x1]}, command: [x], network: bridge, ports: ['8080:81/tcp', '8080:81/udp']}
      - {name: h, role: host, image: {packages: [x1]}, command: [x], network: host}
    """))
    code, _, err = run_cli("validate", tmp_path / "bad.yml")
    assert code == 2
    assert "bad.yml:7: containers[1].ports[0]: host port 8080/tcp is already published by containers[0]" in err
    assert "ports[1]" not in err
    assert "bad.yml:8: containers[2].network: a host container uses the host's network already" in err


def test_every_rendering_has_bridge_networking_only_when_used(run_cli, tmp_path):
    """Debian: pycm-net and the modules (checked by the build); Yocto: the image installs pycm-net
    and the machine adds the kernel fragment; Buildroot: BR2_PACKAGE_PYCM_NET and the kernel
    symbols; none of it for a device without a bridge container."""
    from helpers import ROOT, with_test_keys
    from pycontainers.contract import NET_KERNEL_CONFIG

    frag = (ROOT / "meta-pycontainers/recipes-kernel/linux/files/pycontainers-net.cfg").read_text()
    assert [ln for ln in frag.splitlines() if ln and not ln.startswith("#")] == [f"{s}=y" for s in NET_KERNEL_CONFIG]
    for network, used in (("bridge", True), ("host", False)):
        (tmp_path / "d.yml").write_text(HEAD + f"  - {{name: a, role: app, image: {{packages: [busybox-static]}}, command: [x], "
                                        f"network: {network}}}\n")
        out = with_test_keys(tmp_path / network)
        code, _, err = run_cli("generate", tmp_path / "d.yml", "-o", out, "--backend", "all")
        assert code == 0, err
        gen = out / "generated"
        image = next(gen.rglob("recipes-core/images/*.bb")).read_text()
        machine = next(gen.rglob("conf/machine/*.conf")).read_text()
        defconfig = next(gen.rglob("configs/*_defconfig")).read_text()
        fragment = next(gen.rglob("linux.fragment")).read_text()
        assert ('IMAGE_INSTALL:append = " pycm-net"' in image) == used
        assert ('PYCONTAINERS_NET = "1"' in machine) == used
        assert ("BR2_PACKAGE_PYCM_NET=y" in defconfig) == used
        assert all((f"{s}=y" in fragment) == used for s in ("CONFIG_VETH", "CONFIG_NFT_MASQ"))


def test_import_compose_maps_ports_network_mode_and_networks(run_cli, tmp_path):
    import yaml

    (tmp_path / "c.yml").write_text(textwrap.dedent("""\
        services:
          web:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [httpd]
            ports: ["8080:80", "5353:53/udp", {target: 443, published: 8443, protocol: tcp}]
          db:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [db]
            networks: [back]
          mon:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [mon]
            network_mode: host
          calc:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [calc]
        networks:
          back: {driver: bridge}
        """))
    code, out, err = run_cli("import-compose", tmp_path / "c.yml")
    assert code == 0, err
    conts = {c["name"]: c for c in yaml.safe_load("\n".join(out.splitlines()[1:]))["containers"]}
    assert conts["web"]["network"] == "bridge" and conts["web"]["ports"] == ["8080:80/tcp", "5353:53/udp", "8443:443/tcp"]
    assert conts["db"]["network"] == "bridge" and conts["db"]["networks"] == ["back"] and "ports" not in conts["db"]
    assert conts["mon"]["network"] == "host"
    assert "network" not in conts["calc"]
    (tmp_path / "c.yml").write_text(textwrap.dedent("""\
        services:
          web:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [httpd]
            network_mode: "service:db"
          db:
            x-pycontainers-image: {packages: [busybox-static]}
            command: [db]
            network_mode: host
            ports: ["80:80"]
        """))
    code, out, err = run_cli("import-compose", tmp_path / "c.yml")
    assert code == 2 and err.splitlines()[:2] == [
        f"{tmp_path}/c.yml:5: services.web.network_mode: 'service:db' is not supported: one of none, host, bridge "
        "(a container cannot join another's network namespace)",
        f"{tmp_path}/c.yml:10: services.db.ports: network_mode: host has no published ports or networks"]


def test_a_device_chooses_its_subnet(tmp_path, run_cli):
    """networking.subnet: the /16 the bridges' /24s come from (default 10.88.0.0/16), in the
    manifest pycm-net gets its addresses from."""
    (tmp_path / "d.yml").write_text(
        "format: 1\nname: d\nboard: qemuarm64\nversion: '1'\nnetworking: {subnet: 172.20.0.0/16}\ncontainers:\n"
        "  - {name: web, role: app, image: {packages: [x1]}, command: [x], network: bridge}\n"
        "  - {name: db, role: app, image: {packages: [x1]}, command: [x], network: bridge, networks: [back]}\n")
    web, db = load_device(tmp_path / "d.yml").containers
    assert (web.attach.address, web.attach.gateway, db.attach.address, db.attach.gateway) == \
        ("172.20.0.2", "172.20.0.1", "172.20.1.2", "172.20.1.1")
    code, _, err = run_cli("generate", tmp_path / "d.yml", "-o", tmp_path / "out", "--backend", "debian")
    assert code == 0, err
    text = (tmp_path / "out" / "generated" / "contract" / "pycm" / "manifest").read_text()
    assert "network = bridge pcbr1 172.20.1.2/24 172.20.1.1\n" in text and "10.88." not in text


@pytest.mark.parametrize("subnet, message", [
    ("8.8.0.0/16", "networking.subnet: '8.8.0.0/16' is not in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"),
    ("10.300.0.0/16", "networking.subnet: '10.300.0.0/16' is not an IPv4 /16"),
    ("10.88.1.0/24", "networking.subnet: '10.88.1.0/24' is not valid: A.B.0.0/16 in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. 10.88.0.0/16"),
    ("172.32.0.0/16", "networking.subnet: '172.32.0.0/16' is not in a private range"),
])
def test_subnet_errors(tmp_path, run_cli, subnet, message):
    (tmp_path / "bad.yml").write_text(
        f"format: 1\nname: d\nboard: qemuarm64\nversion: '1'\nnetworking: {{subnet: {subnet}}}\ncontainers:\n"
        "  - {name: web, role: app, image: {packages: [x1]}, command: [x], network: bridge}\n")
    code, _, err = run_cli("validate", tmp_path / "bad.yml")
    assert code == 2 and f"bad.yml:5: {message}" in err, err


def test_a_network_holds_at_most_253_containers(tmp_path, run_cli):
    apps = "".join(f"  - {{name: a{i}, role: app, image: {{packages: [x1]}}, command: [x], network: bridge}}\n"
                   for i in range(254))
    (tmp_path / "bad.yml").write_text(HEAD + apps)
    code, _, err = run_cli("validate", tmp_path / "bad.yml")
    assert code == 2 and "containers: network 'default' has 254 containers; a /24 has room for 253" in err, err
