"""Networking of app containers on a real kernel with the real crun (docs/networking.md).

One boot of qemu/devices/network.yml per board, with QEMU's user-mode network (the build host is
10.0.2.2 to the guest) and a forward of a build-host port to the guest's published port 8080:
- `web` (bridge, 8080:80) serves HTTP, reached from the build host through the forward;
- `peer` (the same bridge) reaches web and a server the test runs on the build host's loopback;
- `other` (network `back`, another bridge) does not reach web;
- `lonely` (none) reaches nothing and has only lo; `hostnet` (host) sees the host's eth0;
- `peer` gets the host's name servers (not its loopback ones) in a read-only /etc/resolv.conf;
- 50 restarts of web leave no interface, address, nf_tables rule or resolv.conf copy behind.
The host's eth0 is configured from the console shell, as the host OS container of a product would.
"""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
import time
import urllib.request

import pytest

from pycontainers.qemu import Machine

DEVICE = "qemu/devices/network.yml"
BOARDS = ["qemuarm64", "qemux86-64"]
CRUN = "crun --root /run/crun"
FIGURES: dict = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=BOARDS)
def booted(request, build_for, tmp_path_factory):
    """A booted machine of the network device on a board, its eth0 up, and the build-host port
    forwarded to its port 8080."""
    device, out = build_for(request.param, DEVICE)
    port = free_port()
    m = Machine(device.board, out / "image" / "disk.img", tmp_path_factory.mktemp("net") / "run",
                hostfwd=((port, 8080),))
    m.start()
    try:
        m.wait_boot([c.name for c in device.containers], timeout=240)
        rc, text = m.run("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
                         "ip route add default via 10.0.2.2")
        assert rc == 0, text
        yield m, port, out
    finally:
        m.kill()


def in_ctr(m, name: str, command: str, timeout: float = 60) -> tuple[int, str]:
    """A busybox command in a container, killed after 10 s (busybox wget's own -T crashes with
    Debian's static busybox under the app seccomp filter)."""
    return m.run(f"{CRUN} exec {name} /bin/busybox timeout 10 /bin/busybox {command}", timeout)


def get(url: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_published_port_is_reachable_from_the_build_host(booted):
    m, port, _ = booted
    assert get(f"http://127.0.0.1:{port}/index.html") == "hello-from-web\n"
    rc, text = m.run("pycmctl status")
    assert re.search(r"^web\s+healthy\s+\d+\s+\d+\s+address 10\.88\.0\.2/24 ports 8080:80/tcp", text, re.M), text
    assert re.search(r"^hostnet\s+healthy.*network host", text, re.M), text


def test_an_app_reaches_the_build_host_and_its_bridge_only(booted):
    m, _, _ = booted
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(booted[2] / "generated"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    (booted[2] / "generated" / "hello.txt").write_text("hello-from-the-build-host\n")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rc, text = in_ctr(m, "peer", f"wget -q -O - http://10.0.2.2:{server.server_port}/hello.txt")
        assert rc == 0 and "hello-from-the-build-host" in text, text
        rc, text = in_ctr(m, "peer", "wget -q -O - http://10.88.0.2/index.html")
        assert rc == 0 and "hello-from-web" in text, text
        rc, text = in_ctr(m, "other", "wget -q -O - http://10.88.0.2/index.html")
        assert rc != 0 and "hello-from-web" not in text, text
        rc, text = in_ctr(m, "other", f"wget -q -O - http://10.0.2.2:{server.server_port}/hello.txt")
        assert rc == 0 and "hello-from-the-build-host" in text, text  # NAT works from every network
    finally:
        server.shutdown()


def test_a_none_app_reaches_nothing_and_a_host_app_sees_the_host(booted):
    m, _, _ = booted
    rc, text = in_ctr(m, "lonely", "wget -q -O - http://10.0.2.2:1/")
    assert rc != 0
    rc, text = in_ctr(m, "lonely", "cat /proc/net/dev")
    assert rc == 0 and re.findall(r"^\s*(\w+):", text, re.M) == ["lo"], text
    rc, text = in_ctr(m, "hostnet", "cat /proc/net/dev")
    assert rc == 0 and "eth0:" in text and "pcbr0:" in text, text


def test_a_bridge_app_gets_the_hosts_name_servers(booted):
    """DNS: the host OS writes the host's resolv.conf to /run/pycontainers/dns (here the console
    shell, as a product's host container or its DHCP client would); a bridge container started
    after that gets a read-only copy without the host's loopback name servers."""
    m, _, _ = booted
    rc, text = in_ctr(m, "peer", "cat /etc/resolv.conf")
    assert rc == 0 and text.strip().startswith("# no name server: /run/pycontainers/dns/resolv.conf was missing"), text
    rc, text = m.run("printf 'nameserver 127.0.0.53\\nnameserver 10.0.2.3\\nsearch example.test\\n' "
                     "> /run/pycontainers/dns/resolv.conf && pycmctl restart peer")
    assert rc == 0, text
    rc, text = m.run("n=0; until crun --root /run/crun exec peer /bin/busybox grep -q 10.0.2.3 /etc/resolv.conf "
                     "2>/dev/null; do n=$((n + 1)); [ $n -le 150 ] || exit 1; sleep 0.2; done", 60)
    assert rc == 0, "peer's /etc/resolv.conf never got the host's name server"
    rc, text = in_ctr(m, "peer", "cat /etc/resolv.conf")
    lines = [line.strip() for line in text.splitlines()]
    assert rc == 0 and "nameserver 10.0.2.3" in lines and "search example.test" in lines, text
    assert "127.0.0.53" not in text
    rc, text = in_ctr(m, "peer", "sh -c 'echo nameserver 6.6.6.6 > /etc/resolv.conf'")
    assert rc != 0 and "Read-only file system" in text, text
    rc, text = in_ctr(m, "lonely", "cat /etc/resolv.conf")  # network none: the image's (none here)
    assert rc != 0, text


def snapshot(m) -> str:
    """What bridge networking has made on the host: links, IPv4 addresses, nf_tables tables and
    their rule counts, network namespaces of containers."""
    rc, text = m.run("/usr/sbin/pycm-net list; ip -o -4 addr | awk '{print \"addr\", $2, $4}'; ls /run/pycontainers/netns")
    assert rc == 0, text
    return "\n".join(sorted(line.strip() for line in text.splitlines()
                            if line.strip().startswith(("link ", "table ", "addr ")) or line.strip() in
                            [f"{n}{suffix}" for n in ("web", "peer", "other") for suffix in ("", ".resolv.conf")]))


def test_fifty_restarts_leak_nothing(booted):
    m, port, _ = booted
    before = snapshot(m)
    assert "table pycontainers-c-web rules 1" in before and "link pcbr1" in before, before
    rc, text = m.run("pycmctl status | awk '$1 == \"web\" {print \"restarts=\" $4}'")
    base = int(re.search(r"restarts=(\d+)", text).group(1))
    t = time.monotonic()
    script = (f"(i=1; while [ $i -le 50 ]; do pycmctl restart web >/dev/null || exit 1; "
              f"n=0; until pycmctl status | awk '$1 == \"web\" && $2 == \"healthy\" && $4 == '$(({base} + i))' "
              f"{{ok=1}} END {{exit !ok}}'; do n=$((n + 1)); [ $n -le 300 ] || exit 2; sleep 0.2; done; "
              f"i=$((i + 1)); done)")
    rc, text = m.run(script, 900)
    assert rc == 0, text
    FIGURES["restart_s"] = round((time.monotonic() - t) / 50, 2)
    assert snapshot(m) == before
    assert get(f"http://127.0.0.1:{port}/index.html") == "hello-from-web\n"
