"""Where a Yocto build finds this project's layer and the generated device layer.

- `project_source(pins, layer_source, root)`: meta-pycontainers as kas and bitbake-setup fetch
  it. `git`: the URL of conf/yocto-pins.yml (`project.url`) at the commit the checkout holding
  the generator has checked out (HEAD, read with GitPython), so a build gets the layer the device
  layer was generated with; uncommitted changes of the layer are not in that commit (a warning
  says so). `path`: the directory itself (kas `path:`, bitbake-setup `local`). Default (None):
  `git` in a git checkout, else `path` (an installed pycontainers carries its own copy).
- `kas_repo_root(directory)`: the directory kas takes as the repository of a kas file in
  `directory` that names neither url nor path: the git work tree around it (kas runs `git
  rev-parse --show-toplevel --show-superproject-working-tree` and takes the first line sorted),
  else the directory itself. The device layer's path in the kas file is relative to it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..errors import UserError
from .pins import Pins, Source

LAYER_SOURCES = ("git", "path")
# what a build takes from the project's repository besides the layers: pycm.bb builds runtime/
# (PYCM_SRCDIR, the repository of the layer)
PROJECT_DIRS = ("runtime",)


def _git():
    """GitPython, or None when git itself is missing (then no directory is a checkout)."""
    try:
        import git
    except ImportError:
        return None
    return git


def _checkout(root: Path, layers: tuple[str, ...]):
    """The git repository whose work tree holds `root` and tracks its layers, or None (an
    installed copy, even one in a virtualenv inside some checkout, is not that checkout's)."""
    git = _git()
    if git is None:
        return None
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.bare or repo.working_tree_dir is None:
        return None
    top = Path(repo.working_tree_dir).resolve()
    tracked = all(repo.git.ls_files("--", str((root / layer).relative_to(top))) for layer in layers)
    return repo if tracked else None


def project_source(pins: Pins, layer_source: str | None, root: Path) -> Source:
    """meta-pycontainers (pins.project) as a build gets it; `root` holds its layer directories."""
    base = pins.project_source()
    root = root.resolve()
    repo = _checkout(root, base.layers) if layer_source != "path" else None
    if layer_source == "git" and repo is None:
        raise UserError(f"--layer-source git: {root} is not in a git checkout (or its layer is not tracked there), "
                        f"so meta-pycontainers cannot be "
                        f"pinned by commit; use --layer-source path (kas path:, bitbake-setup local)")
    if repo is None:
        return dataclasses.replace(base, url=None, branch=None, commit=None, path=str(root))
    top = Path(repo.working_tree_dir).resolve()
    layers = tuple(str((root / layer).relative_to(top)) for layer in base.layers)
    try:
        commit = repo.head.commit.hexsha
    except ValueError:
        raise UserError(f"--layer-source git: the checkout {top} has no commit yet; commit, or use "
                        f"--layer-source path") from None
    changed = {d.a_path for d in repo.index.diff(None)} | {d.a_path for d in repo.index.diff("HEAD")} \
        | set(repo.untracked_files)
    watched = (*layers, *(str((root / d).relative_to(top)) for d in PROJECT_DIRS))
    dirty = sorted(p for p in changed if any(p == w or p.startswith(f"{w}/") for w in watched))
    if dirty:
        print(f"WARNING: meta-pycontainers or runtime/ has uncommitted changes ({', '.join(dirty[:3])}"
              f"{', ...' if len(dirty) > 3 else ''}): the generated kas file and bitbake-setup configuration pin "
              f"{commit[:12]} (HEAD of {top}), which does not have them; commit them, or generate with "
              f"--layer-source path", file=sys.stderr)
    # no branch: the commit may be on any branch of the checkout (or none); the commit is the pin
    return dataclasses.replace(base, layers=layers, branch=None, commit=commit)


def kas_repo_root(directory: Path) -> Path:
    """The root kas gives a url-less, path-less repository of a kas file in `directory`."""
    directory = directory.resolve()
    existing = next(d for d in (directory, *directory.parents) if d.is_dir())
    git = _git()
    if git is not None:
        try:
            out = git.Git(str(existing)).rev_parse("--show-toplevel", "--show-superproject-working-tree")
        except git.GitCommandError:
            pass
        else:
            return Path(sorted(out.strip().split("\n"))[0]).resolve()
    return directory
