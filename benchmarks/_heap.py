"""A timed section's heap: what the process already holds moved out of the garbage collector's reach."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fresh_heap() -> Iterator[None]:
    """Collect, then freeze what the process holds (an imported library, earlier sections' or tests'
    objects) for one timed section: the collector's full passes then walk only what the section makes,
    as in a process of its own."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic pass of the cyclic garbage collector inside (the caller collects after): for work
    that makes no reference cycle (a trade, tests/test_engine.py), whose objects reference counting
    frees, so that each pass would only walk what the work keeps, again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
