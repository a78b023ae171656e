"""Docker Compose services -> the `containers:` list of a device file (docs/images.md).

The supported subset maps one to one onto the device format; every other key is a problem
naming the service and the key (nothing is printed then), unless the user drops that key
knowingly with `ignore`. A service names a local image with `x-pycontainers-image`, the device
file's own `image` mapping; a service with only `image: REF` becomes `registry: docker://REF`,
copied at build time (its config is not read here: the command must be in the compose file).

Docker's rules for the command are applied here, once, so the device file says what runs:
argv = entrypoint + command, each defaulting to the image's Entrypoint and Cmd (an entrypoint
given in the compose file drops the image's Cmd); the image's Env comes first in the
environment and its WorkingDir is the default workdir.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from . import oci
from .errors import Problem, ValidationError
from .loader import line_of, load_yaml, path_str
from .model import IMAGE_FILES, schema

IMAGE_KEY = "x-pycontainers-image"
SUPPORTED = ("image", IMAGE_KEY, "command", "entrypoint", "environment", "working_dir", "volumes",
             "depends_on", "restart", "user", "ports", "networks", "network_mode")
TOP_IGNORED = ("version", "name")  # obsolete, and the project name: nothing of a device
RESTART = {"no": "never", "always": "always", "on-failure": "on-failure",
           # pycm starts every container at boot and `pycmctl stop` lasts until the next one:
           # Docker's unless-stopped and always differ only across daemon restarts
           "unless-stopped": "always"}
DEPENDS_CONDITIONS = ("service_started", "service_healthy")  # pycm waits for healthy: stricter
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_RULE = "lower-case letters, digits and '-', at most 32 characters"
# why a key has no counterpart, for the most common ones
HINTS = {
    "expose": "ports are reachable on the container's bridge address without it; publish them with ports",
    "build": "images are not built here: build and save the image, then name the file with " + IMAGE_KEY,
    "healthcheck": "give health: (ready_file or exec) in the device file",
    "deploy": "give limits: (memory, cpu, pids) in the device file",
    "mem_limit": "give limits.memory in the device file",
    "cpus": "give limits.cpu in the device file",
    "pids_limit": "give limits.pids in the device file",
    "privileged": "one container may have role: host in the device file",
    "container_name": "the container is named after the service",
}


@dataclass
class Result:
    containers: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # keys dropped with ignore


def import_compose(path: Path, services: list[str] | None = None, ignore: tuple[str, ...] = (),
                   device_dir: Path | None = None) -> Result:
    """The containers of the selected services (all by default), in file order. Raises
    ValidationError with every problem found."""
    display = str(path)
    data = load_yaml(path, display)
    base = path.resolve().parent
    device_dir = (device_dir or base).resolve()
    problems: list[Problem] = []
    result = Result()

    def problem(keys: list, message: str) -> None:
        problems.append(Problem(display, line_of(data, keys), path_str(keys), message))

    def unsupported(keys: list, why: str = "") -> None:
        key = keys[-1]
        if key in ignore:
            result.notes.append(f"{display}:{line_of(data, keys)}: {path_str(keys)}: ignored (--ignore {key})")
        else:
            problem(keys, f"not supported{': ' + why if why else ''} (remove it, or drop it knowingly with "
                          f"--ignore {key})")

    for key in data:
        if key not in ("services", "volumes", "networks", *TOP_IGNORED) and not key.startswith("x-"):
            unsupported([key], HINTS.get(key, ""))
    top_networks = data.get("networks") or {}
    for nname, spec in (top_networks.items() if isinstance(top_networks, dict) else ()):
        for key in (spec or {}):
            if not (key == "driver" and spec[key] == "bridge"):
                unsupported(["networks", nname, key], "a network is a bridge of its own on the device")
    all_services = data.get("services")
    if not isinstance(all_services, dict) or not all_services:
        problem(["services"], "a mapping of at least one service is needed")
        raise ValidationError(problems)
    chosen = list(services or all_services)
    for name in chosen:
        if name not in all_services:
            problem(["services"], f"no service {name!r}; services: {', '.join(all_services)}")
    top_volumes = data.get("volumes") or {}
    for vname, spec in (top_volumes.items() if isinstance(top_volumes, dict) else ()):
        for key in (spec or {}):
            unsupported(["volumes", vname, key], "a volume is a directory /data/volumes/NAME on the device")

    for name in (n for n in chosen if n in all_services):
        svc = all_services[name]
        where = ["services", name]
        if not isinstance(svc, dict):
            problem(where, "expected a mapping")
            continue
        c = _service(name, svc, where, chosen, base, device_dir, problem, unsupported, ignore)
        if c is not None:
            result.containers.append(c)
    if not problems:  # the output must be a valid device file's containers: checked, not trusted
        validator = Draft202012Validator({"$defs": schema("device")["$defs"], "$ref": "#/$defs/container"})
        for c in result.containers:
            for err in validator.iter_errors(c):
                problem(["services", c["name"]], f"{path_str(list(err.absolute_path))}: {err.message}")
    if problems:
        raise ValidationError(problems)
    return result


def _argv(value, keys: list, problem) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            problem(keys, f"cannot be split into arguments: {e}")
            return None
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    problem(keys, "expected a string or a list of strings")
    return None


def _scalar(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _service(name, svc, where, chosen, base, device_dir, problem, unsupported, ignore) -> dict | None:
    for key in svc:
        if key not in SUPPORTED and not key.startswith("x-"):
            unsupported(where + [key], HINTS.get(key, ""))
    if not NAME.match(name):
        problem(where, f"{name!r} is not a valid container name ({NAME_RULE}); rename the service")

    # image: a local layout or archive (or packages), or a registry reference copied at build time
    image, config, registry = None, {}, False
    image_source: tuple[Path, str] | None = None  # a local image file, to resolve user names in
    spec = svc.get(IMAGE_KEY)
    if spec is None:
        ref = svc.get("image")
        if ref:
            image, registry = {"registry": f"docker://{ref}"}, True
        else:
            problem(where, f"no image: add image: REF, or {IMAGE_KEY}: {{oci-archive: FILE}} "
                           "(or docker-archive, oci-layout, packages)")
    elif not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in (*IMAGE_FILES, "packages"):
        problem(where + [IMAGE_KEY], f"give a mapping with exactly one of: {', '.join((*IMAGE_FILES, 'packages'))}")
    elif "packages" in spec:
        image = {"packages": [str(p) for p in spec["packages"] or []]}
    else:
        (kind, given), = spec.items()
        source = base / str(given)
        if not source.exists():
            problem(where + [IMAGE_KEY, kind], f"{given!r} does not exist (relative to the compose file)")
        else:
            try:
                config = oci.inspect(source, kind).runtime
            except oci.OciError as e:
                problem(where + [IMAGE_KEY, kind], f"{given!r}: {e}")
            image = {kind: os.path.relpath(source.resolve(), device_dir)}
            image_source = (source, kind)

    # command: Docker's entrypoint + command, each defaulting to the image's
    entrypoint = _argv(svc.get("entrypoint"), where + ["entrypoint"], problem)
    command = _argv(svc.get("command"), where + ["command"], problem)
    if entrypoint is not None:
        argv = entrypoint + (command or [])
    else:
        argv = list(config.get("Entrypoint") or []) + (command if command is not None else list(config.get("Cmd") or []))
    if not argv and registry:
        problem(where, "no command: give command (a registry image is read only at build time, so its "
                       f"Entrypoint and Cmd are not known here; or save it and name the file with {IMAGE_KEY})")
    elif not argv and image is not None:
        problem(where, "no command: give command (the image has no Entrypoint or Cmd)")

    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        k, _, v = str(item).partition("=")
        env[k] = v
    senv = svc.get("environment")
    items = list(senv.items()) if isinstance(senv, dict) else \
        [tuple(str(i).split("=", 1)) if "=" in str(i) else (str(i), None) for i in senv] if isinstance(senv, list) else []
    if senv is not None and not isinstance(senv, (dict, list)):
        problem(where + ["environment"], "expected a list of NAME=VALUE or a mapping")
    for i, (k, v) in enumerate(items):
        keys = where + ["environment", k if isinstance(senv, dict) else i]
        if v is None:
            problem(keys, f"{k} has no value (Compose would take it from the shell); give {k}=VALUE")
        elif not ENV_NAME.match(str(k)):
            problem(keys, f"{k!r} is not a valid variable name")
        else:
            env[str(k)] = _scalar(v)

    workdir = svc.get("working_dir") or config.get("WorkingDir") or "/"
    volumes = _volumes(svc.get("volumes"), where + ["volumes"], problem, unsupported)

    depends: list[str] = []
    deps = svc.get("depends_on")
    if deps is not None and not isinstance(deps, (list, dict)):
        problem(where + ["depends_on"], "expected a list of services or a mapping")
        deps = None
    for i, dep in enumerate(deps if isinstance(deps, list) else list(deps or {})):
        keys = where + ["depends_on", dep if isinstance(deps, dict) else i]
        if isinstance(deps, dict):
            opts = deps[dep] or {}
            cond = opts.get("condition", "service_started")
            if cond not in DEPENDS_CONDITIONS:
                problem(keys + ["condition"], f"{cond!r} is not supported: a dependency must be healthy before "
                                              f"the container starts ({', '.join(DEPENDS_CONDITIONS)})")
            for key in opts:
                if key == "restart" and opts[key] or key == "required" and not opts[key] or \
                        key not in ("condition", "restart", "required"):
                    unsupported(keys + [key])
        if dep not in chosen:
            problem(keys, f"{dep!r} is not imported (add --service {dep})")
        depends.append(str(dep))

    restart = svc.get("restart", "no")
    restart = "no" if restart is False else str(restart)  # YAML 1.1 reads an unquoted no as false
    if restart.startswith("on-failure:"):
        problem(where + ["restart"], f"{restart!r}: a retry count is not supported; use on-failure (crash_loop in "
                                     "the device file stops restarting a container that keeps failing)")
    elif restart not in RESTART:
        problem(where + ["restart"], f"{restart!r} is not one of {', '.join(RESTART)}")

    # user: the service's, else the image's (Docker's rules: a name through the image's
    # /etc/passwd, whose entry also gives the group; a numeric uid without one runs in group 0)
    user = svc.get("user", config.get("User") or "")
    uid_gid = _user(str(user), image_source, where + (["user"] if "user" in svc else [IMAGE_KEY]), problem)

    network = _network(svc, where, problem)

    out: dict = {"name": name, "role": "app", "image": image, "command": argv}
    if uid_gid and uid_gid != "0:0":
        out["user"] = uid_gid
    if env:
        out["environment"] = env
    if workdir != "/":
        out["workdir"] = workdir
    if volumes:
        out["volumes"] = volumes
    out["restart"] = RESTART.get(restart, "never")
    if depends:
        out["depends_on"] = depends
    out.update(network)
    return out


PORT = re.compile(r"^([0-9]{1,5}):([0-9]{1,5})(/(tcp|udp))?$")
NETWORK_MODES = ("none", "host", "bridge")


def _network(svc: dict, where: list, problem) -> dict:
    """network, ports and networks of a device file's container for a service's network_mode,
    ports and networks. A service with none of them gets no network (not Compose's default
    network: an app that needs one says so)."""
    mode = svc.get("network_mode")
    ports, networks = svc.get("ports"), svc.get("networks")
    if mode is not None and mode not in NETWORK_MODES:
        problem(where + ["network_mode"], f"{mode!r} is not supported: one of {', '.join(NETWORK_MODES)} "
                                          "(a container cannot join another's network namespace)")
        return {}
    if mode in ("none", "host") and (ports or networks):
        problem(where + ["ports" if ports else "networks"], f"network_mode: {mode} has no published ports "
                                                          "or networks")
        return {}
    out: dict = {}
    if mode in ("none", "host"):
        return {"network": mode} if mode == "host" else {}
    published = []
    for i, p in enumerate(ports if isinstance(ports, list) else [] if ports is None else [ports]):
        keys = where + ["ports", i]
        if isinstance(p, dict):
            target, pub, proto = p.get("target"), p.get("published"), p.get("protocol", "tcp")
            extra = [k for k in p if k not in ("target", "published", "protocol", "mode")]
            spec = f"{pub}:{target}/{proto}"
            if extra or p.get("mode", "ingress") not in ("ingress", "host"):
                problem(keys, f"only target, published and protocol are supported (found {', '.join(extra or ['mode'])})")
                continue
        else:
            spec = str(p)
        m = PORT.match(spec)
        if not m:
            problem(keys, f"{p!r} is not supported: give HOST:CONTAINER[/tcp|/udp] (published on every address "
                          "of the device; no host address, range or random host port)")
            continue
        published.append(f"{m.group(1)}:{m.group(2)}/{m.group(4) or 'tcp'}")
    names = list(networks) if isinstance(networks, (list, dict)) else []
    if networks is not None and not isinstance(networks, (list, dict)):
        problem(where + ["networks"], "expected a list or a mapping of networks")
    elif len(names) > 1:
        problem(where + ["networks"], f"a container joins one network on the device ({', '.join(map(str, names))} "
                                      "given)")
    if mode == "bridge" or published or names:
        out["network"] = "bridge"
        if published:
            out["ports"] = published
        if len(names) == 1 and names[0] != "default":
            out["networks"] = [str(names[0])]
    return out


def _user(user: str, image: tuple[Path, str] | None, keys: list, problem) -> str | None:
    """USER[:GROUP] (names or numbers) as the device file's UID:GID, names resolved through the
    image's /etc/passwd and /etc/group."""
    if not user:
        return None
    name, _, group = user.partition(":")

    def table(path: str) -> dict[str, list[str]]:
        if image is None:
            return {}
        data = oci.read_file(image[0], path, image[1])
        rows = [l.split(":") for l in (data or b"").decode(errors="replace").splitlines() if l.count(":") >= 2]
        return {r[0]: r for r in rows}

    passwd = table("etc/passwd") if not name.isdigit() or not group else {}
    by_uid = {r[2]: r for r in passwd.values() if len(r) > 3}
    if name.isdigit():
        uid, gid = name, by_uid[name][3] if name in by_uid else "0"
    elif name in passwd and len(passwd[name]) > 3:
        uid, gid = passwd[name][2], passwd[name][3]
    else:
        where = "the image's /etc/passwd" if image else "a registry image (read only at build time)"
        problem(keys, f"user {name!r} is not in {where}: give UID[:GID]")
        return None
    if group.isdigit():
        gid = group
    elif group:
        groups = table("etc/group")
        if group not in groups:
            problem(keys, f"group {group!r} is not in the image's /etc/group: give UID:GID")
            return None
        gid = groups[group][2]
    if not (uid.isdigit() and gid.isdigit()):
        problem(keys, f"user {user!r} resolves to {uid}:{gid}, which is not numeric")
        return None
    return f"{int(uid)}:{int(gid)}"


def _volumes(spec, where: list, problem, unsupported) -> list[dict]:
    out: list[dict] = []
    if spec is None:
        return out
    if not isinstance(spec, list):
        problem(where, "expected a list")
        return out
    bind = "bind mounts are not supported: the device has no host directories to share; use a named " \
           "volume (a directory /data/volumes/NAME on the device)"
    for i, v in enumerate(spec):
        keys = where + [i]
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) == 1:
                problem(keys, f"{v!r} is an anonymous volume: give it a name (NAME:{v})")
                continue
            source, target, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"
            if len(parts) > 3 or mode not in ("rw", "ro"):
                problem(keys, f"{v!r}: only the modes rw and ro are supported")
                continue
            readonly, kind = mode == "ro", "bind" if "/" in source or source.startswith(("~", ".", "$")) else "volume"
        elif isinstance(v, dict):
            for key in v:
                if key not in ("type", "source", "target", "read_only"):
                    unsupported(keys + [key])
            kind, source, target, readonly = v.get("type"), v.get("source"), v.get("target"), bool(v.get("read_only"))
            if kind != "volume":
                problem(keys + ["type"], bind if kind == "bind" else f"{kind!r} is not supported; use type: volume")
                continue
            if not source:
                problem(keys, "an anonymous volume: give it a source name")
                continue
        else:
            problem(keys, "expected a string or a mapping")
            continue
        if kind == "bind":
            problem(keys, f"{source!r}: {bind}")
        elif not NAME.match(str(source)):
            problem(keys, f"volume name {source!r} is not valid here ({NAME_RULE}); rename it")
        else:
            out.append({"name": str(source), "target": str(target), **({"readonly": True} if readonly else {})})
    return out


def dump(result: Result, source: str, device_dir: str) -> str:
    """The containers as YAML to paste into a device file."""
    head = (f"# containers of {source} (pycontainers import-compose); image paths are relative to "
            f"{device_dir}\n")
    return head + yaml.safe_dump({"containers": result.containers}, sort_keys=False, default_flow_style=None,
                                 width=100)
