"""Progress of the long steps (downloads, kernel and initramfs, container unpacking, image
assembly, bundles), always on stderr so that stdout stays the command's result (--json).

On a terminal: rich's live spinner and byte counter. Anywhere else (CI logs, pipes): one plain
line when a step starts and one when it ends, with its time, e.g.

    [build] downloading 16 packages (65.2 MiB)
    [build] downloading 16 packages: done in 3.1s

PYCONTAINERS_PROGRESS=plain forces the plain lines, =off silences both.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

PREFIX = "[pycontainers]"


def mode() -> str:
    """'rich', 'plain' or 'off'."""
    forced = os.environ.get("PYCONTAINERS_PROGRESS", "")
    if forced in ("plain", "off"):
        return forced
    try:
        return "rich" if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" else "plain"
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return "plain"


def _plain(text: str) -> None:
    print(f"{PREFIX} {text}", file=sys.stderr, flush=True)


class _Counter:
    """What a step's body reports as it goes: advance(n) of a known total (bytes or items)."""

    def __init__(self, bar=None, task=None):
        self.bar, self.task, self.done = bar, task, 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)


@contextmanager
def step(label: str, total: int | None = None, unit: str = "") -> Iterator[_Counter]:
    """A long step: a spinner (or a bar when `total` is known, e.g. bytes with unit 'B') on a
    terminal, a start and an end line elsewhere. Failures are reported by the caller."""
    how = mode()
    if how == "off":
        yield _Counter()
        return
    t = time.monotonic()
    if how == "plain":
        _plain(label)
        yield _Counter()
        _plain(f"{label}: done in {time.monotonic() - t:.1f}s")
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total:
        columns += [BarColumn(), DownloadColumn() if unit == "B" else TextColumn("{task.completed}/{task.total}")]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield _Counter(bar, task)
    Console(stderr=True).print(f"[green]✓[/green] {label} [dim]({time.monotonic() - t:.1f}s)[/dim]", highlight=False)
