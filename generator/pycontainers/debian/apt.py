"""Target-architecture Debian packages through a private apt configuration.

Like mmdebstrap: apt gets its own sources list, state, cache and an empty dpkg status, with
APT::Architecture set to the target's, so nothing on the build host changes (no
`dpkg --add-architecture`). The mirrors are the host's own (from its apt sources), moved to the
target suite; PYCONTAINERS_DEBIAN_MIRROR and PYCONTAINERS_DEBIAN_SECURITY_MIRROR override them.
apt verifies every index signature and every .deb checksum. Builds running at once (parallel
tests, two terminals) share the cache: every apt run and every unpacking into the cache holds the
repository's lock (`AptRepo.locked`).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import UserError
from .. import progress

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
HOST_SOURCES = Path("/etc/apt")
DOWNLOAD_BATCH = 6  # packages per apt-get download run


@dataclass(frozen=True, order=True)
class Package:
    name: str
    version: str
    arch: str
    filename: str  # file name in the cache's archives directory
    size: int
    index_hash: str  # the hash apt verifies the download with, as it prints it ("" if none)


def host_mirrors(apt_dir: Path = HOST_SOURCES) -> tuple[str, str | None]:
    """(main mirror URI, security mirror URI or None) from the host's apt sources."""
    main = os.environ.get("PYCONTAINERS_DEBIAN_MIRROR")
    security = os.environ.get("PYCONTAINERS_DEBIAN_SECURITY_MIRROR")
    entries: list[tuple[str, list[str]]] = []  # (uri, suites)
    files = [apt_dir / "sources.list"] + sorted((apt_dir / "sources.list.d").glob("*.list"))
    for f in files:
        if f.is_file():
            for line in f.read_text().splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
                if m and "main" in m.group(3).split():
                    entries.append((m.group(1), [m.group(2)]))
    for f in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if ("deb" in fields.get("Types", "").split() and "main" in fields.get("Components", "").split()
                    and fields.get("Enabled", "yes") != "no"):
                for uri in fields.get("URIs", "").split():
                    entries.append((uri, fields.get("Suites", "").split()))
    for uri, suites in entries:
        if any(s.endswith("-security") or s.endswith("/updates") for s in suites):
            security = security or uri.rstrip("/")
        elif "debian" in uri:
            main = main or uri.rstrip("/")
    if not main:
        raise UserError("no Debian mirror found in the host's apt sources (/etc/apt/sources.list*); "
                        "set PYCONTAINERS_DEBIAN_MIRROR")
    return main, security


class AptRepo:
    """One suite and architecture, with its own apt state under CACHE/debian/SUITE-ARCH."""

    def __init__(self, suite: str, arch: str, cache: Path, mirror: str | None = None):
        self.suite, self.arch = suite, arch
        self.root = cache / "debian" / f"{suite}-{arch}"
        self.archives = self.root / "archives"
        self._mirror = mirror
        self._index: dict[str, dict[str, str]] | None = None

    # -------------------------------------------------------------- configuration

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this suite/arch's cache lock (apt runs with Debug::NoLocking: the lock is ours).
        Reentrant within one process."""
        if getattr(self, "_held", 0):
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._held = 1
            try:
                yield
            finally:
                self._held = 0

    def _setup(self) -> None:
        for d in (self.root / "lists" / "partial", self.archives / "partial", self.root / "etc"):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        main, security = (self._mirror, None) if self._mirror else host_mirrors()
        opts = f"[arch={self.arch} signed-by={KEYRING}]"
        lines = [f"deb {opts} {main} {self.suite} main", f"deb {opts} {main} {self.suite}-updates main"]
        if security:
            lines.append(f"deb {opts} {security} {self.suite}-security main")
        sources = self.root / "etc" / "sources.list"
        text = "\n".join(lines) + "\n"
        if not sources.is_file() or sources.read_text() != text:
            sources.write_text(text)

    def _options(self) -> list[str]:
        r = self.root
        conf = {
            "APT::Architecture": self.arch, "APT::Architectures": self.arch,
            "APT::Install-Recommends": "false", "APT::Install-Suggests": "false",
            "Dir::State": r, "Dir::State::status": r / "status", "Dir::Cache": r,
            "Dir::Cache::archives": self.archives, "Dir::Etc::SourceList": r / "etc" / "sources.list",
            "Dir::Etc::SourceParts": r / "etc", "Dir::Etc::Preferences": r / "etc" / "preferences",
            "Dir::Etc::PreferencesParts": r / "etc", "Dir::Etc::Trusted": KEYRING,
            "Debug::NoLocking": "true", "APT::Sandbox::User": "root",
            "Acquire::Languages": "none", "pkgCacheFile::Generate": "true",
        }
        return [a for k, v in conf.items() for a in ("-o", f"{k}={v}")]

    def _apt(self, tool: str, *args: str, what: str, extra: tuple[str, ...] = ()) -> str:
        with self.locked():
            r = subprocess.run([tool, *self._options(), *extra, *args], capture_output=True, text=True,
                               env=dict(os.environ, LC_ALL="C.UTF-8", DEBIAN_FRONTEND="noninteractive"))
        if r.returncode:
            errs = [l for l in r.stderr.splitlines() if l.startswith("E:")] or r.stderr.strip().splitlines()
            raise UserError(f"{what} ({self.suite}/{self.arch}): {errs[-1] if errs else f'exit {r.returncode}'}")
        return r.stdout

    # -------------------------------------------------------------- operations

    def update(self, max_age: float = 24 * 3600) -> bool:
        """Refresh the package lists unless they are younger than max_age seconds. True if run."""
        with self.locked():
            return self._update(max_age)

    def _update(self, max_age: float) -> bool:
        self._setup()
        stamp = self.root / "lists" / ".updated"
        if stamp.is_file() and time.time() - stamp.stat().st_mtime < max_age:
            return False
        with progress.step(f"package index {self.suite}/{self.arch} (apt-get update)"):
            r = subprocess.run(["apt-get", *self._options(), "update", "-q"], capture_output=True, text=True,
                               env=dict(os.environ, LC_ALL="C.UTF-8"))
        failed = re.findall(r"^E: Failed to fetch (\S+)\s+(.*)$", r.stderr, re.M)
        extra = (f"{self.suite}-security", f"{self.suite}-updates")
        if r.returncode and failed and all(any(e in url for e in extra) for url, _ in failed):
            # A mirror caught mid-sync on the -security/-updates indices: the suite's own index is
            # fine. Go on, but say what is missing.
            names = sorted({e for url, _ in failed for e in extra if e in url})
            print(f"WARNING: apt-get update ({self.suite}/{self.arch}): the index of {' and '.join(names)} "
                  f"could not be fetched ({failed[0][1].strip()}); packages resolve without those updates "
                  "until it can", file=sys.stderr)
        elif r.returncode:
            errs = [l for l in r.stderr.splitlines() if l.startswith("E:")] or [f"exit {r.returncode}"]
            raise UserError(f"apt-get update failed ({self.suite}/{self.arch}); is the Debian mirror reachable? "
                            f"{errs[0]}")
        stamp.touch()
        self._index = None
        return True

    def resolve(self, names: list[str], pins: dict[str, str] | None = None) -> list[Package]:
        """The packages apt would install onto an empty system for `names` (with their
        dependencies, without recommends), sorted by name. pins: name -> exact version."""
        self._setup()
        pins = pins or {}
        wanted = [f"{n}={pins[n]}" if n in pins else n for n in names]
        # --print-uris leaves out what the cache holds already: resolve against an empty cache
        empty = self.root / "resolve-cache"
        (empty / "partial").mkdir(parents=True, exist_ok=True)
        out = self._apt("apt-get", "install", "--print-uris", "-qq", "-y", *wanted,
                        what=f"cannot resolve {' '.join(names)}",
                        extra=("-o", f"Dir::Cache::archives={empty}"))
        return self._parse_uris(out)

    def resolve_alone(self, name: str) -> Package:
        """One package without its dependencies; a metapackage (e.g. linux-image-arm64) is
        followed to the package it depends on that carries the same prefix, so the kernel's ABI
        is resolved for this architecture."""
        self._setup()
        deps = self._apt("apt-cache", "depends", "--no-recommends", "--no-suggests", name,
                         what=f"unknown package {name}")
        prefix = name.rsplit("-", 1)[0] + "-"
        for line in deps.splitlines():
            m = re.match(r"^\s+Depends:\s+(\S+)$", line)
            if m and m.group(1).startswith(prefix) and not m.group(1).startswith("<"):
                name = m.group(1)
                break
        out = self._apt("apt-get", "download", "--print-uris", "-qq", name, what=f"cannot resolve {name}")
        pkgs = self._parse_uris(out)
        if len(pkgs) != 1:
            raise UserError(f"cannot resolve {name} ({self.suite}/{self.arch})")
        return pkgs[0]

    @staticmethod
    def _parse_uris(out: str) -> list[Package]:
        pkgs = []
        for line in out.splitlines():
            m = re.match(r"^'([^']+)' (\S+) (\d+)(?: (\S+))?\s*$", line)
            if not m:
                continue
            filename = m.group(2)
            name, version, arch = _split_filename(filename)
            pkgs.append(Package(name, version, arch, filename, int(m.group(3)), m.group(4) or ""))
        return sorted(pkgs)

    def download(self, pkgs: list[Package]) -> list[Path]:
        """Fetch into the cache (apt checks sizes and SHA256); cached files are reused."""
        with self.locked():
            return self._download(pkgs)

    def _download(self, pkgs: list[Package]) -> list[Path]:
        missing = [p for p in pkgs if not (self.archives / p.filename).is_file()]
        if missing:
            self._setup()
            total = sum(p.size for p in missing)
            label = (f"downloading {len(missing)} package{'s' if len(missing) != 1 else ''} "
                     f"({total / 2**20:.1f} MiB, {self.suite}/{self.arch})")
            with progress.step(label, total=total, unit="B") as counter:
                for i in range(0, len(missing), DOWNLOAD_BATCH):  # batches: a byte count that moves
                    batch = missing[i:i + DOWNLOAD_BATCH]
                    r = subprocess.run(["apt-get", *self._options(), "download", "-qq",
                                        *(f"{p.name}:{p.arch}={p.version}" for p in batch)],
                                       cwd=self.archives, capture_output=True, text=True,
                                       env=dict(os.environ, LC_ALL="C.UTF-8"))
                    if r.returncode:
                        errs = [l for l in r.stderr.splitlines() if l.startswith("E:")] or [f"exit {r.returncode}"]
                        raise UserError(f"download failed ({self.suite}/{self.arch}): {errs[-1]}")
                    counter.advance(sum(p.size for p in batch))
        paths = [self.archives / p.filename for p in pkgs]
        for p in paths:
            if not p.is_file():
                raise UserError(f"download failed ({self.suite}/{self.arch}): {p.name} missing after apt-get")
        return paths

    def extract(self, debs: list[Path], dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            r = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True)
            if r.returncode:
                raise UserError(f"cannot unpack {deb.name}: {r.stderr.strip()}")


def _split_filename(filename: str) -> tuple[str, str, str]:
    """'libc6_2.36-9%2bdeb12u4_arm64.deb' -> ('libc6', '2.36-9+deb12u4', 'arm64')."""
    from urllib.parse import unquote
    stem = unquote(filename)[: -len(".deb")]
    name, version, arch = stem.split("_")
    return name, version, arch


def write_lock(pkgs: list[Package], archives: Path, path: Path) -> None:
    """A lock file: `name version arch sha256` per line (SHA256 of the .deb apt downloaded and
    verified), the exact package set of a build."""
    import hashlib

    from ..render import write_file_atomic
    lines = {f"{p.name} {p.version} {p.arch} {hashlib.sha256((archives / p.filename).read_bytes()).hexdigest()}\n"
             for p in pkgs}
    write_file_atomic(path, "".join(sorted(lines)))


def read_lock(path: Path) -> dict[str, str]:
    """name -> version pins from a lock file."""
    pins = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 4:
            raise UserError(f"{path}:{n}: expected 'name version arch sha256'")
        pins[parts[0]] = parts[1]
    return pins
