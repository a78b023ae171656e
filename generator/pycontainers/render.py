"""Jinja2 rendering of the templates in recipes/, and atomic output trees.

Templates are named after the file they produce plus `.j2`. They only format: every value they
print is computed by the model or the contract.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import jinja2

from .model import PROJECT_ROOT

RECIPES = PROJECT_ROOT / "recipes"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(RECIPES)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(template: str, **context) -> str:
    """Render recipes/<template> (a path ending in .j2)."""
    return _env.get_template(template).render(**context)


class Tree:
    """Files being written into a not-yet-published output directory."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        path.chmod(mode)
        return path

    def copy(self, src: Path, rel: str) -> None:
        """Copy a file, or a directory's files (sorted, recursively), to rel in the tree."""
        if src.is_dir():
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                self.write(f"{rel}/{f.relative_to(src)}", f.read_bytes())
        else:
            self.write(rel, src.read_bytes())

    def render(self, rel: str, template: str, mode: int = 0o644, **context) -> Path:
        return self.write(rel, render(template, **context), mode)


@contextmanager
def publish(dest: Path) -> Iterator[Tree]:
    """Yield a Tree in a temp dir next to `dest`; on success it replaces `dest` with renames.

    On any error the temp dir is removed and `dest` is left as it was: nothing half-written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield Tree(tmp)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def publish_parts(dest: Path) -> Iterator[Tree]:
    """Like publish(), but each top-level directory written into the Tree replaces its namesake
    in `dest` on its own: what this run did not write (another backend's tree) stays as it was.
    Each part is replaced atomically; on any error nothing is replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.parts.", dir=dest.parent))
    try:
        yield Tree(tmp)
        dest.mkdir(exist_ok=True)
        for part in sorted(tmp.iterdir()):
            target = dest / part.name
            old = dest / f".{part.name}.old.{os.getpid()}"
            if target.exists():
                os.rename(target, old)
            os.rename(part, target)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_file_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Write one file via a temp file and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
