"""Progress while the suite runs: a rich progress bar on a terminal, one plain line per case otherwise
(``CI=true``, or output that is not a TTY)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from a2a_coop.protocol.errors import printable
from conformance.suite.model import Case, Result


def _listed(result: Result) -> str:
    """What --expected-failures makes of the result, if it lists the case."""
    if result.unexpected_pass:
        return " (listed as an expected failure, but passed)"
    return " (expected)" if result.expected_failure and result.level.value == "FAIL" else ""


class _Plain:
    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out, self.n = total, out, 0

    def start(self, case: Case) -> None:
        pass

    def done(self, result: Result) -> None:
        self.n += 1
        # A reason may quote the target's words (its refusals' messages): escaped (RPC-005 (b)).
        shown = result.level.value != "PASS" and result.reason
        reason = f"  {printable(result.reason)}" if shown else ""
        self.out.write(
            f"[{self.n}/{self.total}] {result.level.value:<10} {result.case.id}{_listed(result)} "
            f"({result.duration_s * 1000:.0f} ms){reason}\n"
        )
        self.out.flush()


class _Bar:
    def __init__(self, progress: Any, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("conformance", total=total)
        self.failed = 0

    def start(self, case: Case) -> None:
        self.progress.update(self.task, description=case.id)

    def done(self, result: Result) -> None:
        if result.level.value == "FAIL":
            self.failed += 1
            from rich.markup import escape  # the target's words are no markup either

            reason = escape(printable(result.reason))
            self.progress.console.print(f"[red]FAIL[/red] {result.case.id}{_listed(result)}: {reason}")
        self.progress.advance(self.task)


def _interactive(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


@contextmanager
def reporter(total: int, out: TextIO) -> Iterator[Any]:
    """A progress reporter with ``start(case)`` and ``done(result)``; a bar on stderr when interactive."""
    if _interactive(sys.stderr) and _interactive(out):
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            pass
        else:
            columns = (
                TextColumn("{task.description:<32}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, transient=True) as progress:
                yield _Bar(progress, total)
            return
    yield _Plain(total, out)
