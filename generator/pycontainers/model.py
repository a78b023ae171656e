"""The validated device model: YAML in, one frozen object out.

Everything derived from the device and board files (sizes in bytes, partition offsets and
numbers, slot names, start order, boot-counter transitions) is computed here, once. The contract
and the backends only read it; templates only format it.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from . import oci, units
from .errors import Problem, ValidationError
from .loader import LineDict, line_of, load_yaml, path_str

FORMAT = 1
SLOTS = ("A", "B")
# The project's data, read from the package: share/ holds recipes/ (templates), conf/ (boards,
# pins, Buildroot versions), runtime/ (the manager's sources) and meta-pycontainers/ (the static
# Yocto layer). In a checkout they are links to the top-level directories; a wheel carries copies.
PROJECT_ROOT = Path(__file__).resolve().parent / "share"
BOARDS_DIR = PROJECT_ROOT / "conf" / "boards"
ALIGN = units.MIB
# The longest crash-loop window, in seconds: pycm refuses a longer one (PC_CRASH_WINDOW_MAX, sched.h).
CRASH_WINDOW_MAX = 86400


def schema(kind: str) -> dict:
    """The JSON schema of a file kind: 'device' or 'board'."""
    text = resources.files(__package__).joinpath("schema", f"{kind}.schema.json").read_text()
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# Model objects


# GPT type of the vfat boot partition: Microsoft basic data, the type the Raspberry Pi firmware
# looks for on a GPT disk (U-Boot reads any)
BOOT_PARTITION_TYPE = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"


@dataclass(frozen=True)
class Partition:
    number: int  # GPT index, 1-based
    name: str  # GPT partition name (PARTLABEL)
    fstype: str  # vfat | raw | ext4
    image: str  # input image file name in the image build
    offset: int  # bytes
    size: int  # bytes
    slot: str | None = None  # A/B for root slots

    @property
    def gpt_type(self) -> str | None:
        """The GPT type GUID set explicitly: the vfat boot partition is Microsoft basic data
        (BOOT_PARTITION_TYPE), the type the Raspberry Pi firmware looks for; the others keep
        the tools' default, Linux filesystem."""
        return BOOT_PARTITION_TYPE if self.fstype == "vfat" else None

    @property
    def offset_mib(self) -> int:
        return self.offset // units.MIB

    @property
    def size_mib(self) -> int:
        return self.size // units.MIB


@dataclass(frozen=True)
class Storage:
    boot: Partition
    env: Partition
    slots: tuple[Partition, ...]
    data: Partition
    disk_size: int
    env_blob_size: int = 0x4000

    @property
    def partitions(self) -> tuple[Partition, ...]:
        return (self.boot, self.env, *self.slots, self.data)

    @property
    def disk_size_mib(self) -> int:
        return self.disk_size // units.MIB

    @property
    def env_blob_blocks(self) -> int:
        """The env blob in 512-byte blocks, as U-Boot's `<dev> read/write` count them."""
        return self.env_blob_size // 512

    @property
    def slot_size(self) -> int:
        return self.slots[0].size

    def slot(self, name: str) -> Partition:
        return next(p for p in self.slots if p.slot == name)


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    arch: str
    console: str
    kernel_image: str
    boot_command: str
    debian_arch: str
    debian_suite: str
    kernel_package: str
    kernel_file: str
    modules: tuple[str, ...]
    cross_compiler: str
    uboot_binary: str
    uboot_env: tuple[tuple[str, str], ...]
    qemu: dict | None
    yocto_machine: str
    yocto_layers: tuple[str, ...]
    buildroot_defconfig: str
    source: Path
    watchdog_module: str | None = None
    watchdog_timeout: int = 0
    boot_files: tuple[str, ...] = ()

    @property
    def initramfs_modules(self) -> tuple[str, ...]:
        """Modules the initramfs loads: the board's list plus the watchdog driver."""
        return self.modules + ((self.watchdog_module,) if self.watchdog_module else ())


@dataclass(frozen=True)
class Volume:
    name: str
    target: str
    readonly: bool

    @property
    def source(self) -> str:
        return f"/data/volumes/{self.name}"


@dataclass(frozen=True)
class Health:
    kind: str  # none | ready-file | exec
    value: str
    interval: int  # seconds
    timeout: int
    retries: int

    @property
    def spec(self) -> str:
        """The manifest's `health` value: 'none', 'ready-file PATH' or 'exec COMMAND'."""
        return f"{self.kind} {self.value}" if self.value else self.kind


@dataclass(frozen=True)
class Limits:
    memory: int | None
    cpu: float | None
    pids: int | None


# What an app container gets without limits.memory / limits.pids (the schema's defaults).
APP_DEFAULT_MEMORY = "256MiB"
APP_DEFAULT_PIDS = 512


@dataclass(frozen=True)
class Port:
    """A published port: connections to the host's `host` port reach the container's `container` port."""

    host: int
    container: int
    proto: str  # tcp | udp

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.container}/{self.proto}"


def parse_port(text: str) -> Port:
    ports, _, proto = text.partition("/")
    host, _, cont = ports.partition(":")
    return Port(int(host), int(cont), proto or "tcp")


# Bridge networking (docs/networking.md): network N (in order of first use in the device file, the
# default network first when it comes first) is bridge pcbrN with A.B.N.1/24 of the device's
# networking.subnet A.B.0.0/16 (default 10.88.0.0/16); its containers get .2, .3, ... in
# device-file order.
NET_SUBNET = "10.88.0.0/16"
NET_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
NET_MAX_PER_BRIDGE = 253  # .2 to .254
NET_DEFAULT = "default"
NET_MAX_PORTS = 32  # per container (pycm-net's limit)


@dataclass(frozen=True)
class NetAttach:
    """Where a network: bridge container is attached."""

    network: str  # the device file's network name (default: NET_DEFAULT)
    bridge: str  # host interface name of the network's bridge
    address: str  # the container's IPv4 address
    gateway: str  # the bridge's address: the container's default route
    prefix: int = 24


IMAGE_FILES = oci.KINDS  # image kinds read from a layout or archive (oci.py, docs/images.md)


@dataclass(frozen=True)
class ImageSource:
    kind: str  # packages, registry, or one of IMAGE_FILES
    packages: tuple[str, ...] = ()
    path: Path | None = None  # absolute
    ref: str = ""  # registry: a skopeo reference (docker://..., docker-archive:..., ...)
    digest: str = ""  # registry: the pinned manifest digest, if any
    line: int = field(default=0, compare=False)  # the device file's line of `image`


@dataclass(frozen=True)
class Container:
    name: str
    role: str
    image: ImageSource
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    workdir: str
    volumes: tuple[Volume, ...]
    restart: str
    backoff: tuple[int, int]  # seconds: initial, max
    crash_loop: tuple[int, int]  # restarts, window in seconds
    depends_on: tuple[str, ...]
    required: bool
    health: Health
    limits: Limits
    user: tuple[int, int] = (0, 0)  # uid, gid of the command
    devices: tuple[str, ...] = ()  # host device paths resolved and allowed at start (app containers)
    network: str = "none"  # none | host | bridge (app containers; a host container has the host's)
    ports: tuple[Port, ...] = ()  # published (bridge)
    attach: NetAttach | None = None  # bridge: its bridge and address

    @property
    def bundle(self) -> str:
        return f"/usr/share/pycontainers/containers/{self.name}"


@dataclass(frozen=True)
class Signing:
    key: Path
    cert: Path


@dataclass(frozen=True)
class Device:
    name: str
    version: str
    compatible: str
    hostname: str
    board: Board
    storage: Storage
    containers: tuple[Container, ...]  # in start order: dependencies first
    boot_attempts: int
    boot_deadline: int  # seconds
    apps_may_change_host: bool  # an app bundle may add, change or remove a role host container
    console_shell: bool
    signing: Signing | None
    yocto_series: str
    buildroot_version: str
    source: Path
    display: str = field(default="", compare=False)  # the source path as the user gave it
    lines: dict = field(default_factory=dict, compare=False)  # key path -> line, for later checks

    def where(self, key_path: str) -> str:
        """'conf/devices/demo.yml:11: storage.rootfs' for messages about a checked value."""
        line = self.lines.get(key_path, self.lines.get(key_path.split(".")[0], 0))
        return f"{self.display}:{line}: {key_path}" if line else f"{self.display}: {key_path}"

    @property
    def bridged(self) -> bool:
        """Some container has network: bridge: the image carries pycm-net and its kernel modules."""
        return any(c.network == "bridge" for c in self.containers)

    @property
    def boot_state_vars(self) -> str:
        """The U-Boot variables holding the A/B state, as listed to env import/export."""
        return " ".join(["BOOT_ORDER"] + [f"BOOT_{p.slot}_LEFT" for p in self.storage.slots])

    def kernel_args(self, slot: str) -> str:
        """Kernel command line of a slot; rauc.slot= tells RAUC and the manager which one booted."""
        part = self.storage.slot(slot)
        return (f"console={self.board.console} root=PARTLABEL={part.name} rootfstype={part.fstype} ro "
                f"rootwait rauc.slot={slot} panic=5 quiet")

    @property
    def boot_confirmed(self) -> int:
        """BOOT_x_LEFT of a committed slot: one more than a trial slot ever gets, never counted down."""
        return self.boot_attempts + 1

    @property
    def boot_counter_steps(self) -> list[tuple[int, int]]:
        """(left, left - 1) pairs for the boot script's decrement chain, highest first."""
        return [(n, n - 1) for n in range(self.boot_attempts, 0, -1)]


# --------------------------------------------------------------------------------------------
# Schema validation with file:line messages


_YAML_TYPES = {"array": "a list", "object": "a mapping", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


def _describe(instance: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(instance), type(instance).__name__)


def _schema_problems(data: LineDict, kind: str, display: str) -> list[Problem]:
    problems = []
    validator = Draft202012Validator(schema(kind))
    for err in validator.iter_errors(data):
        path = list(err.absolute_path)
        sub, v = err.schema, err.validator
        if v == "additionalProperties":
            allowed = sorted(sub.get("properties", {}))
            for key in (k for k in err.instance if k not in sub.get("properties", {})):
                problems.append(Problem(display, line_of(data, path + [key]), path_str(path + [key]),
                                        f"unknown key; allowed: {', '.join(allowed)}"))
            continue
        if v == "required":
            missing = err.message.split("'")[1]
            msg, path = "required key is missing", path + [missing]
        elif v == "enum":
            msg = f"{err.instance!r} is not one of {', '.join(str(c) for c in sub['enum'])}"
        elif v == "const":
            msg = f"{err.instance!r} is not supported; use {sub['const']!r}"
        elif v == "type":
            types = [sub["type"]] if isinstance(sub["type"], str) else sub["type"]
            want = " or ".join(_YAML_TYPES.get(t, t) for t in types)
            msg = f"expected {want}, got {_describe(err.instance)}"
        elif v in ("pattern", "anyOf"):
            msg = f"{err.instance!r} is not valid: {sub.get('description', err.message)}"
        elif v == "oneOf" and "properties" in sub:  # an image: exactly one source key
            msg = f"give exactly one of: {', '.join(k for k in sub['properties'] if k != 'digest')}"
        elif v == "dependentRequired":
            needed, _, given = err.message.partition(" is a dependency of ")
            msg = f"{given} is given only with {needed}"
        elif v in ("minProperties", "maxProperties") and "properties" in sub:
            msg = f"give exactly one of: {', '.join(sub['properties'])}" if sub.get("maxProperties") == 1 \
                else f"give at least one of: {', '.join(sub['properties'])}"
        elif v == "maxItems":
            msg = f"expected at most {sub['maxItems']} item{'s' if sub['maxItems'] != 1 else ''}"
        elif v == "minItems":
            msg = "must not be empty"
        elif v == "uniqueItems":
            msg = "lists an item more than once"
        else:
            msg = err.message
        problems.append(Problem(display, line_of(data, path), path_str(path), msg))
    return problems


# --------------------------------------------------------------------------------------------
# Board


def board_path(ref: str, relative_to: Path) -> Path:
    """A board name means conf/boards/NAME.yml; a value ending in .yml is a path."""
    if ref.endswith((".yml", ".yaml")):
        return (relative_to / ref).resolve()
    return BOARDS_DIR / f"{ref}.yml"


def available_boards() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.yml"))


def load_board(path: Path, display: str | None = None) -> Board:
    display = display or str(path)
    data = load_yaml(path, display)
    problems = _schema_problems(data, "board", display)
    if not problems and data["name"] != path.stem:
        problems.append(Problem(display, data.lines["name"], "name",
                                f"{data['name']!r} must match the file name {path.stem!r}"))
    if problems:
        raise ValidationError(problems)
    deb, qemu = data["debian"], data.get("qemu")
    return Board(
        name=data["name"], description=data.get("description", ""), arch=data["arch"],
        console=data["console"], kernel_image=data["kernel"]["image"],
        boot_command=data["kernel"]["boot_command"], debian_arch=deb["arch"],
        debian_suite=deb["suite"], kernel_package=deb["kernel_package"],
        kernel_file=deb["kernel_file"], modules=tuple(deb["modules"]),
        cross_compiler=deb["cross_compiler"], uboot_binary=data["uboot"]["binary"],
        uboot_env=tuple(sorted((data["uboot"].get("env") or {}).items())),
        qemu=dict(qemu) if qemu else None, yocto_machine=data["yocto"]["machine"],
        yocto_layers=tuple(data["yocto"].get("layers", [])),
        buildroot_defconfig=data["buildroot"]["defconfig"], source=path,
        watchdog_module=(data.get("watchdog") or {}).get("module"),
        watchdog_timeout=(data.get("watchdog") or {}).get("timeout", 0),
        boot_files=tuple(data.get("boot_files") or ()))


# --------------------------------------------------------------------------------------------
# Device


def _storage(spec: dict) -> Storage:
    sizes = {k: units.parse_size(spec.get(k, d)) for k, d in
             (("boot", "16MiB"), ("env", "1MiB"), ("rootfs", "128MiB"), ("data", "64MiB"))}
    layout = [("boot", "vfat", "boot.vfat", sizes["boot"], None),
              ("uboot-env", "raw", "uboot-env.img", sizes["env"], None),
              *((f"rootfs_{s.lower()}", "ext4", "rootfs.ext4", sizes["rootfs"], s) for s in SLOTS),
              ("data", "ext4", "data.ext4", sizes["data"], None)]
    offset, parts = ALIGN, []  # the first MiB holds the protective MBR and the GPT
    for number, (name, fstype, image, size, slot) in enumerate(layout, start=1):
        parts.append(Partition(number, name, fstype, image, offset, size, slot))
        offset += size
    return Storage(boot=parts[0], env=parts[1], slots=tuple(parts[2:4]), data=parts[4],
                   disk_size=offset + ALIGN)  # the last MiB holds the backup GPT


def _storage_problems(data: LineDict, display: str) -> list[Problem]:
    problems = []
    spec = data.get("storage") or {}
    for key, value in spec.items():
        if units.parse_size(value) % units.MIB or units.parse_size(value) == 0:
            problems.append(Problem(display, spec.lines[key], f"storage.{key}",
                                    f"{value!r} must be a non-zero multiple of 1 MiB (partitions are 1 MiB aligned)"))
    return problems


def _container(c: dict, base: Path) -> Container:
    h = c.get("health") or {}
    if "ready_file" in h:
        kind, value = "ready-file", h["ready_file"]
    elif "exec" in h:
        kind, value = "exec", h["exec"]
    else:
        kind, value = "none", ""
    img = c["image"]
    if "packages" in img:
        image = ImageSource("packages", packages=tuple(img["packages"]))
    elif "registry" in img:  # resolved at build time (registry.resolve_images), never at load
        image = ImageSource("registry", ref=img["registry"], digest=img.get("digest", ""),
                            line=c.lines.get("image", 0) if isinstance(c, LineDict) else 0)
    else:
        kind_ = next(iter(img))
        image = ImageSource(kind_, path=(base / img[kind_]).resolve())
    lim = c.get("limits") or {}
    if c["role"] == "app":
        lim = {"memory": APP_DEFAULT_MEMORY, "pids": APP_DEFAULT_PIDS, **lim}
    uid, _, gid = str(c.get("user", 0)).partition(":")
    backoff, loop = c.get("backoff") or {}, c.get("crash_loop") or {}
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(c.get("environment") or {})}
    return Container(
        name=c["name"], role=c["role"], image=image, command=tuple(c["command"]),
        environment=tuple(sorted(env.items())), workdir=c.get("workdir", "/"),
        volumes=tuple(Volume(v["name"], v["target"], v.get("readonly", False)) for v in c.get("volumes", [])),
        restart=c.get("restart", "always"),
        backoff=(units.seconds(backoff.get("initial", "1s")), units.seconds(backoff.get("max", "30s"))),
        crash_loop=(loop.get("restarts", 5), units.seconds(loop.get("window", "60s"))),
        depends_on=tuple(c.get("depends_on", [])), required=c.get("required", True),
        health=Health(kind, value, units.seconds(h.get("interval", "1s")),
                      units.seconds(h.get("timeout", "5s")), h.get("retries", 3)),
        limits=Limits(units.parse_size(lim["memory"]) if "memory" in lim else None,
                      lim.get("cpu"), lim.get("pids")),
        user=(int(uid), int(gid or uid)), devices=tuple(c.get("devices", [])),
        network=c.get("network", "none"), ports=tuple(parse_port(p) for p in c.get("ports", [])))


def _networks(conts: list) -> dict[str, list[str]]:
    """The bridge containers' names by network, networks in order of first use."""
    networks: dict[str, list[str]] = {}
    for c in conts:
        if c.get("network") == "bridge":
            networks.setdefault((c.get("networks") or [NET_DEFAULT])[0], []).append(c["name"])
    return networks


def _attach(conts: list[dict], subnet: str) -> dict[str, NetAttach]:
    """Bridge and address of every network: bridge container (in device-file order)."""
    a, b = subnet.split(".")[:2]
    found = {}
    for n, (net, names) in enumerate(_networks(conts).items()):
        base = f"{a}.{b}.{n}"
        for i, name in enumerate(names):
            found[name] = NetAttach(net, f"pcbr{n}", f"{base}.{i + 2}", f"{base}.1")
    return found


def _network_problems(data: LineDict, display: str) -> list[Problem]:
    problems: list[Problem] = []
    subnet = (data.get("networking") or {}).get("subnet")
    if subnet is not None:
        path = ["networking", "subnet"]
        try:
            net = ipaddress.IPv4Network(subnet)
        except ValueError as e:
            net = None
            problems.append(Problem(display, line_of(data, path), path_str(path), f"{subnet!r} is not an IPv4 /16 ({e})"))
        if net is not None and not any(net.subnet_of(ipaddress.IPv4Network(p)) for p in NET_PRIVATE):
            problems.append(Problem(display, line_of(data, path), path_str(path),
                                    f"{subnet!r} is not in a private range ({', '.join(NET_PRIVATE)})"))
    networks = _networks(data["containers"])
    if len(networks) > 256:
        problems.append(Problem(display, line_of(data, ["containers"]), "containers",
                                f"{len(networks)} networks; a subnet /16 has room for 256"))
    for net, names in networks.items():
        if len(names) > NET_MAX_PER_BRIDGE:
            problems.append(Problem(display, line_of(data, ["containers"]), "containers",
                                    f"network {net!r} has {len(names)} containers; a /24 has room for {NET_MAX_PER_BRIDGE}"))
    return problems


def _container_problems(data: LineDict, base: Path, display: str) -> list[Problem]:
    problems: list[Problem] = []
    conts = data["containers"]

    def add(index: int, key: str | None, message: str, sub: list | None = None) -> None:
        path = ["containers", index] + ([key] if key else []) + (sub or [])
        problems.append(Problem(display, line_of(data, path), path_str(path), message))

    seen: dict[str, int] = {}
    for i, c in enumerate(conts):
        if c["name"] in seen:
            add(i, "name", f"{c['name']!r} is already the name of containers[{seen[c['name']]}]")
        seen.setdefault(c["name"], i)
    published: dict[tuple[int, str], int] = {}
    hosts = [i for i, c in enumerate(conts) if c["role"] == "host"]
    for i in hosts[1:]:
        add(i, "role", f"only one container may have role host (containers[{hosts[0]}] has it)")
    for i, c in enumerate(conts):
        for j, dep in enumerate(c.get("depends_on", [])):
            if dep == c["name"]:
                add(i, "depends_on", "a container cannot depend on itself", [j])
            elif dep not in seen:
                add(i, "depends_on", f"{dep!r} is not a container of this device; known: {', '.join(seen)}", [j])
        h = c.get("health") or {}
        if "ready_file" in h and "exec" in h:
            add(i, "health", "give ready_file or exec, not both")
        elif h and "ready_file" not in h and "exec" not in h:
            add(i, "health", "give ready_file or exec")
        targets: dict[str, int] = {}
        for j, v in enumerate(c.get("volumes", [])):
            if v["target"] in targets:
                add(i, "volumes", f"target {v['target']!r} is already used by volumes[{targets[v['target']]}]", [j, "target"])
            targets.setdefault(v["target"], j)
        img = c["image"]
        for key in (k for k in IMAGE_FILES if k in img):
            if not (base / img[key]).exists():
                add(i, "image", f"{img[key]!r} does not exist (relative to {display})", [key])
                continue
            try:
                oci.inspect(base / img[key], key)
            except oci.OciError as e:
                add(i, "image", f"{img[key]!r}: {e}", [key])
        if c["role"] == "host":
            for key, why in (("limits", "limits apply to app containers only"),
                             ("user", "a host container runs as root (it runs the host OS)"),
                             ("devices", "a host container sees every device of the host already")):
                if key in c:
                    add(i, key, why)
        uid, _, gid = str(c.get("user", 0)).partition(":")
        if int(uid) > 2**32 - 2 or int(gid or 0) > 2**32 - 2:
            add(i, "user", f"{c['user']!r}: UID and GID are at most {2**32 - 2}")
        network = c.get("network", "none")
        if c["role"] == "host" and "network" in c:
            add(i, "network", "a host container uses the host's network already")
        for key, what in (("ports", "published ports"), ("networks", "named networks")):
            if c.get(key) and network != "bridge":
                add(i, key, f"{what} need network: bridge")
        if len(c.get("ports", [])) > NET_MAX_PORTS:
            add(i, "ports", f"at most {NET_MAX_PORTS} published ports per container")
        for j, spec in enumerate(c.get("ports", [])):
            port = parse_port(spec)
            if not (0 < port.host < 65536 and 0 < port.container < 65536):
                add(i, "ports", f"{spec!r}: ports are 1 to 65535", [j])
            elif network == "bridge":
                key = (port.host, port.proto)
                if key in published:
                    add(i, "ports", f"host port {port.host}/{port.proto} is already published by "
                        f"containers[{published[key]}]", [j])
                published.setdefault(key, i)
        window = (c.get("crash_loop") or {}).get("window")
        if window is not None and units.seconds(window) > CRASH_WINDOW_MAX:
            add(i, "crash_loop", f"{window!r} is {units.seconds(window)} s; the longest window is "
                f"{CRASH_WINDOW_MAX} s (1 day)", ["window"])
    if not problems:
        problems += _cycle_problems(data, display)
    return problems


def _start_order(conts: list[dict]) -> list[int]:
    """Indices in start order: dependencies first, otherwise file order (stable)."""
    order: list[int] = []
    index = {c["name"]: i for i, c in enumerate(conts)}
    state: dict[int, str] = {}

    def visit(i: int) -> None:
        if state.get(i) == "done":
            return
        state[i] = "visiting"
        for dep in conts[i].get("depends_on", []):
            if state.get(index[dep]) != "visiting":
                visit(index[dep])
        state[i] = "done"
        order.append(i)

    for i in range(len(conts)):
        visit(i)
    return order


def _cycle_problems(data: LineDict, display: str) -> list[Problem]:
    conts = data["containers"]
    index = {c["name"]: i for i, c in enumerate(conts)}

    def reaches(start: str, goal: str, seen: set) -> list[str] | None:
        for dep in conts[index[start]].get("depends_on", []):
            if dep == goal:
                return [dep]
            if dep not in seen:
                seen.add(dep)
                rest = reaches(dep, goal, seen)
                if rest:
                    return [dep] + rest
        return None

    for i, c in enumerate(conts):
        cycle = reaches(c["name"], c["name"], set())
        if cycle:
            chain = " -> ".join([c["name"]] + cycle)
            path = ["containers", i, "depends_on"]
            return [Problem(display, line_of(data, path), path_str(path), f"dependency cycle: {chain}")]
    return []


def load_device(path: Path, board_override: str | None = None) -> Device:
    """Load, validate and derive. Raises ValidationError with every problem found.
    `board` (a board name or .yml path) replaces the device file's board, e.g. to boot the same
    device on every board; the compatible string then follows the board."""
    display = str(path)
    path = path.resolve()
    data = load_yaml(path, display)
    if board_override:
        data["board"] = board_override
        data.pop("compatible", None)
    problems = _schema_problems(data, "device", display)
    board = None
    if isinstance(data.get("board"), str) and data["board"]:
        bpath = board_path(data["board"], path.parent)
        if not bpath.is_file():
            known = ", ".join(available_boards())
            problems.append(Problem(display, data.lines["board"], "board",
                                    f"{data['board']!r} is not a board (conf/boards/*.yml: {known}) nor a .yml file"))
        else:
            try:
                board = load_board(bpath, _display_path(bpath))
            except ValidationError as e:
                problems += e.problems
    if problems:  # semantic checks need a structurally valid file
        raise ValidationError(problems)
    problems += _storage_problems(data, display)
    problems += _container_problems(data, path.parent, display)
    problems += _network_problems(data, display)
    signing = None
    if "signing" in (data.get("update") or {}):
        spec = data["update"]["signing"]
        key, cert = (path.parent / spec["key"]).resolve(), (path.parent / spec["cert"]).resolve()
        for name, p in (("key", key), ("cert", cert)):
            if not p.is_file():
                problems.append(Problem(display, spec.lines[name], f"update.signing.{name}",
                                        f"{spec[name]!r} does not exist (relative to {display})"))
        signing = Signing(key, cert)
    if problems:
        raise ValidationError(problems)
    assert board is not None
    conts = data["containers"]
    attach = _attach(conts, (data.get("networking") or {}).get("subnet", NET_SUBNET))
    update = data.get("update") or {}
    return Device(
        name=data["name"], version=data["version"],
        compatible=data.get("compatible", f"pycontainers-{data['name']}-{board.name}"),
        hostname=data.get("hostname", data["name"]), board=board,
        storage=_storage(data.get("storage") or {}),
        containers=tuple(replace(_container(conts[i], path.parent), attach=attach.get(conts[i]["name"]))
                         for i in _start_order(conts)),
        boot_attempts=update.get("boot_attempts", 3),
        boot_deadline=units.seconds(update.get("boot_deadline", "60s")),
        apps_may_change_host=update.get("apps_may_change_host", False),
        console_shell=(data.get("debug") or {}).get("console_shell", False),
        signing=signing, yocto_series=(data.get("yocto") or {}).get("series", "wrynose"),
        buildroot_version=(data.get("buildroot") or {}).get("version", "2026.02"),
        source=path, display=display,
        lines={path_str(p): line_of(data, p) for p in (["storage"], ["storage", "rootfs"], ["storage", "data"])})


def _display_path(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)
