"""One progress-bar shape for long loops (training epochs, reranker folds, the fusion grid).

Bars go to stderr and only where it is a terminal: Prefect workers and CI logs get the log
lines of each stage instead of bar redraws.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A transient bar of ``total`` steps; yields the function that advances it by one."""
    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), transient=True,
                  disable=not (enabled and sys.stderr.isatty())) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
