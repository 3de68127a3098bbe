"""Progress display for long loops (rich), quiet in tests and non-interactive runs.

Library functions accept an optional ``progress`` callback ``progress(done, total)``; the CLI
passes one built by :func:`progress_bar`, so the numerical code never depends on rich.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

ProgressCallback = Callable[[int, int], None]


def progress_enabled() -> bool:
    """True when a progress bar is wanted (a terminal, and ``EOFORGE_PROGRESS`` not ``0``)."""
    flag = os.environ.get("EOFORGE_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def _quiet(done: int, total: int | None = None) -> None:
    """The callback of a disabled progress bar: does nothing."""


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressCallback]:
    """Context manager yielding a ``progress(done, total)`` callback drawn as a rich bar.

    When progress is disabled the callback does nothing, so callers need no special case.
    """
    if not progress_enabled():
        yield _quiet
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total_: int | None = None) -> None:
            bar.update(task, completed=done, total=total_ if total_ is not None else total)

        yield update
