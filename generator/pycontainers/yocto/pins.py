"""The upstream layers a Yocto build pins: conf/yocto-pins.yml, per LTS series.

`load_pins()` reads and checks the file; `Pins.sources_for(series, bsp)` gives the pinned sources
of one build; `update_from_clones()` takes new commits from local git clones (GitPython) and
`save_pins()` writes the file back through its template, so comments and layout stay as they are.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ..errors import UserError
from ..model import PROJECT_ROOT
from ..render import render, write_file_atomic

PINS_FILE = PROJECT_ROOT / "conf" / "yocto-pins.yml"
TEMPLATE = "yocto/yocto-pins.yml.j2"
SERIES = ("scarthgap", "wrynose")


@dataclass(frozen=True)
class Source:
    """One upstream repository as a build uses it."""

    name: str  # source name (kas repo id, bitbake-setup source name, clone directory name)
    url: str | None  # None: a local directory (path)
    layers: tuple[str, ...]  # layer directories inside it; "." is the repository itself
    branch: str | None
    commit: str | None  # None: not pinned (the project's own repository until yocto.checkout pins it)
    collection: str | None = None  # BBFILE_COLLECTIONS name, for BSP layers
    path: str | None = None  # a local directory instead of url/branch/commit (--layer-source path)

    def layer_paths(self) -> list[str]:
        """Layer paths relative to the directory holding the sources ("meta-oe/meta-python")."""
        return [self.name if layer == "." else f"{self.name}/{layer}" for layer in self.layers]


@dataclass(frozen=True)
class Pins:
    date: str
    sources: dict  # name -> {url, layers, collection?}
    base: tuple[str, ...]
    project: dict  # {source, url, layers}
    series: dict  # series -> name -> {branch, commit}
    path: Path

    def source(self, series: str, name: str) -> Source:
        spec, pin = self.sources[name], self.series[series][name]
        return Source(name, spec["url"], tuple(spec["layers"]), str(pin["branch"]), pin["commit"],
                      spec.get("collection"))

    def project_source(self) -> Source:
        p = self.project
        return Source(p["source"], p["url"], tuple(p["layers"]), None, None)

    def sources_for(self, series: str, bsp: tuple[str, ...]) -> list[Source]:
        """The pinned sources of a build: the base ones, then the board's BSP ones."""
        return [self.source(series, name) for name in (*self.base, *bsp)]

    def check_bsp(self, names: tuple[str, ...], where: str) -> None:
        unknown = [n for n in names if n not in self.sources or n in self.base]
        if unknown:
            bsp = sorted(set(self.sources) - set(self.base))
            raise UserError(f"{where}: yocto.layers: {', '.join(map(repr, unknown))} is not a BSP source of "
                            f"{self.path.relative_to(PROJECT_ROOT)}; known: {', '.join(bsp)}")


def load_pins(path: Path = PINS_FILE) -> Pins:
    data = yaml.safe_load(path.read_text())
    problems = []
    for series in SERIES:
        pinned = data.get("series", {}).get(series, {})
        for name in data["sources"]:
            pin = pinned.get(name)
            if not pin or not isinstance(pin.get("commit"), str) or len(pin["commit"]) != 40:
                problems.append(f"series.{series}.{name}: needs branch and a full 40-hex commit")
    for name in data["base"]:
        if name not in data["sources"]:
            problems.append(f"base: {name!r} is not in sources")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return Pins(date=str(data["date"]), sources=data["sources"], base=tuple(data["base"]),
                project=data["project"], series=data["series"], path=path)


def pins_text(pins: Pins) -> str:
    return render(TEMPLATE, pins=pins, series_names=SERIES)


def save_pins(pins: Pins) -> None:
    write_file_atomic(pins.path, pins_text(pins))


def _clone_commit(clone: Path, branch: str) -> str:
    """The commit of `branch` in a local clone: its remote-tracking branch, else the local one."""
    import git  # GitPython; imported here so that generating needs no git

    try:
        repo = git.Repo(clone)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
        raise UserError(f"{clone}: not a git clone ({e.__class__.__name__})") from None
    for ref in (f"origin/{branch}", branch):
        try:
            return repo.commit(ref).hexsha
        except (git.BadName, ValueError):
            continue
    raise UserError(f"{clone}: has no branch {branch!r} (nor origin/{branch}); fetch it first")


def update_from_clones(pins: Pins, clones: Path, series: tuple[str, ...] = SERIES,
                       today: datetime.date | None = None) -> tuple[Pins, list[str]]:
    """New pins with the commits of the series branches in CLONES/<source>. Sources without a
    clone keep their pin. Returns the pins and one line per source checked."""
    report, new_series = [], {s: dict(v) for s, v in pins.series.items()}
    for s in series:
        for name, pin in pins.series[s].items():
            clone = clones / name
            if not clone.exists():
                report.append(f"{s} {name}: no clone in {clones}, kept {pin['commit'][:12]}")
                continue
            commit = _clone_commit(clone, str(pin["branch"]))
            new_series[s][name] = {"branch": pin["branch"], "commit": commit}
            change = "unchanged" if commit == pin["commit"] else f"{pin['commit'][:12]} -> {commit[:12]}"
            report.append(f"{s} {name} ({pin['branch']}): {change}")
    date = (today or datetime.date.today()).isoformat()
    return replace(pins, series=new_series, date=date), report
