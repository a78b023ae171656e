"""Networking of app containers on a real kernel with the real crun (docs/networking.md).

One boot of qemu/devices/network.yml per board, with QEMU's user-mode network (the build host is
10.0.2.2 to the guest) and a forward of a build-host port to the guest's published port 8080:
- `web` (bridge, 8080:80) serves HTTP, reached from the build host through the forward;
- `peer` (the same bridge) reaches web and a server the test runs on the build host's loopback;
- `other` (network `back`, another bridge) does not reach web;
- `lonely` (none) reaches nothing and has only lo; `hostnet` (host) sees the host's eth0;
- `peer` gets the host's name servers (not its loopback ones) in a read-only /etc/resolv.conf;
- 50 restarts of web leave no interface, address, nf_tables rule or resolv.conf copy behind;
- an app update (`pycmctl app-update`, no reboot) that publishes web on 8081 instead of 8080
  restarts web alone, with the new port answering, the old one not, and nothing leaked; an
  app-rollback then brings back 8080 the same way.
The host's eth0 is configured from the console shell, as the host OS container of a product would.
The app bundle of the update is on a second disk, attached from the start.
"""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from pycontainers.bootcheck import MOUNT_UPDATE, update_disk
from pycontainers.model import load_device
from pycontainers.pipeline import build_app_bundle
from pycontainers.qemu import Machine

DEVICE = "qemu/devices/network.yml"
# the app update of the last test: web published on 8081 instead of 8080, nothing else changed
PORTS_BEFORE, PORTS_AFTER = '"8080:80/tcp"', '"8081:80/tcp"'
BOARDS = ["qemuarm64", "qemux86-64"]
CRUN = "crun --root /run/crun"
FIGURES: dict = {}


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports of the build host's loopback (bound together, so distinct)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ports_bundle(board: str, out, shared):
    """An app bundle (on an update disk, as update.raucb) of the network device at version 1.1.0
    whose web publishes 8081:80 instead of 8080:80, made --from the image's revision; once per
    session and board."""
    def make(work):
        source = (Path(__file__).resolve().parents[1] / DEVICE).read_text()
        assert source.count(PORTS_BEFORE) == 1 and source.count('version: "1.0.0"') == 1
        path = work / "network-ports.yml"
        path.write_text(source.replace(PORTS_BEFORE, PORTS_AFTER).replace('version: "1.0.0"', 'version: "1.1.0"'))
        build_app_bundle(load_device(path, board), out, out / "image" / "apps.revision", work / "ports.raucb")
        update_disk(work, update=work / "ports.raucb")

    return shared(f"network ports bundle board={board} build={out}", make) / "update.img"


@pytest.fixture(scope="module", params=BOARDS)
def booted(request, build_for, shared, tmp_path_factory):
    """A booted machine of the network device on a board, its eth0 up, build-host ports forwarded
    to its ports 8080 and 8081, and the disk of the ports update attached: (machine, build-host
    port of 8080, OUTPUT dir, build-host port of 8081)."""
    device, out = build_for(request.param, DEVICE)
    disk = ports_bundle(request.param, out, shared)
    port, port2 = free_ports(2)
    m = Machine(device.board, out / "image" / "disk.img", tmp_path_factory.mktemp("net") / "run",
                hostfwd=((port, 8080), (port2, 8081)), extra_disks=(disk,))
    m.start()
    try:
        m.wait_boot([c.name for c in device.containers], timeout=240)
        rc, text = m.run("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
                         "ip route add default via 10.0.2.2")
        assert rc == 0, text
        yield m, port, out, port2
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
    m, port, *_ = booted
    assert get(f"http://127.0.0.1:{port}/index.html") == "hello-from-web\n"
    rc, text = m.run("pycmctl status")
    assert re.search(r"^web\s+healthy\s+\d+\s+\d+\s+address 10\.88\.0\.2/24 ports 8080:80/tcp", text, re.M), text
    assert re.search(r"^hostnet\s+healthy.*network host", text, re.M), text


def test_an_app_reaches_the_build_host_and_its_bridge_only(booted):
    m, *_ = booted
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
    m, *_ = booted
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
    m, *_ = booted
    rc, text = in_ctr(m, "peer", "cat /etc/resolv.conf")
    assert rc == 0 and text.strip().startswith("# no name server: /run/pycontainers/dns/resolv.conf was missing"), text
    rc, text = m.run("printf 'nameserver 127.0.0.53\\nnameserver 10.0.2.3\\nsearch example.test\\n' "
                     "> /run/pycontainers/dns/resolv.conf && pycmctl restart peer")
    assert rc == 0, text
    rc, text = m.run(f"n=0; until {CRUN} exec peer /bin/busybox grep -q 10.0.2.3 /etc/resolv.conf "
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
    m, port, *_ = booted
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


def answers(url: str) -> str:
    """What url answers at once ('' when the connection is refused, reset or times out)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode() or "(an empty page)"
    except OSError:
        return ""


WEB_MAC = "02:50:0a:58:00:02"  # pycm-net: 02:50 and the container's address, 10.88.0.2


def web_mac(m) -> str:
    rc, text = in_ctr(m, "web", "cat /sys/class/net/eth0/address")
    assert rc == 0, text
    return re.search(r"^([0-9a-f:]{17})\s*$", text, re.M).group(1)


def test_an_app_update_changing_the_ports_applies_them_without_a_reboot(booted):
    """The update publishes web on 8081 instead of 8080 (web alone restarted), and app-rollback
    goes back to 8080; each time the other port stops answering and nothing is left behind."""
    m, old, _, new = booted
    assert get(f"http://127.0.0.1:{old}/index.html") == "hello-from-web\n"
    assert answers(f"http://127.0.0.1:{new}/index.html") == ""  # nothing on 8081 yet: the check below can fail
    before = snapshot(m)
    assert web_mac(m) == WEB_MAC
    seen = len(m.output())
    rc, text = m.run(f"{MOUNT_UPDATE} && pycmctl app-update /run/update/update.raucb", 180)
    assert rc == 0 and re.search(r"^committed revisions/", text, re.M), text
    log = m.output()[seen:]
    # only web changed: its files are the same, its published ports are not
    assert re.search(r"app update: switching to \S+ \(changed: web\)", log), log
    assert "rebooting" not in log and "Kernel panic" not in log, log
    # web restarted with the same MAC, so the host's neighbour entry of 10.88.0.2 (made by the
    # requests before) is still right (a new random one: no answer for up to a minute, at times)
    assert web_mac(m) == WEB_MAC
    assert get(f"http://127.0.0.1:{new}/index.html", timeout=10) == "hello-from-web\n"
    assert answers(f"http://127.0.0.1:{old}/index.html") == ""
    rc, text = m.run("pycmctl status")
    assert re.search(r"app revision revisions/", text), text
    assert re.search(r"^web\s+healthy\s+\d+\s+\d+\s+address 10\.88\.0\.2/24 ports 8081:80/tcp\s*$", text, re.M), text
    for name in ("peer", "other", "lonely", "hostnet"):
        assert re.search(rf"^{name}\s+healthy\s", text, re.M), text
    # the same links, addresses and tables as before, web's table with one rule (8081's)
    after = snapshot(m)
    assert after == before and "table pycontainers-c-web rules 1" in after, (before, after)

    # and back: the rollback to the image's revision publishes 8080 again, and only 8080
    rc, text = m.run("pycmctl app-rollback", 180)
    assert rc == 0 and re.search(r"^committed factory", text, re.M), text
    assert web_mac(m) == WEB_MAC
    assert get(f"http://127.0.0.1:{old}/index.html", timeout=10) == "hello-from-web\n"
    assert answers(f"http://127.0.0.1:{new}/index.html") == ""
    rc, text = m.run("pycmctl status")
    assert re.search(r"^web\s+healthy\s+\d+\s+\d+\s+address 10\.88\.0\.2/24 ports 8080:80/tcp\s*$", text, re.M), text
    assert snapshot(m) == before
