"""Progress while a simulation runs: a ``rich`` bar on a terminal, plain lines otherwise.

Plain lines (``label: 12/40 (30 %) detail``) go to the stream when it is not a terminal, when
``CI`` is set to anything but ``false``/``0``/empty, or when ``rich`` is not installed; they are
printed at most every ``step`` percent so that a log stays short. Nothing goes to stdout: the last
line there is the command's JSON.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any, TextIO


def plain(stream: TextIO) -> bool:
    """Whether progress on ``stream`` should be plain lines rather than a live bar."""
    ci = os.environ.get("CI", "").strip().lower()
    return not stream.isatty() or ci not in ("", "0", "false")


class Progress:
    """``with Progress("runs", total) as p: p.update(done, detail)``."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, step: int = 10) -> None:
        self.label, self.total, self.step = label, max(1, total), step
        self.stream = stream if stream is not None else sys.stderr
        self._rich: Any = None
        self._task: Any = None
        self._last = -1

    def __enter__(self) -> Progress:
        if not plain(self.stream):
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
                from rich.progress import Progress as RichProgress
            except ImportError:
                return self
            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total, detail="")
        return self

    def update(self, done: int, detail: str = "") -> None:
        if self._rich is not None:
            self._rich.update(self._task, completed=done, detail=detail)
            return
        percent = 100 * done // self.total
        if percent // self.step > self._last // self.step or (done == self.total and self._last < 100):
            self._last = percent
            extra = f" {detail}" if detail else ""
            self.stream.write(f"{self.label}: {done}/{self.total} ({percent} %){extra}\n")
            self.stream.flush()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
