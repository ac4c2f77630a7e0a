"""pytest's hooks for conformance/mutation.py, the test mutmut runs once per mutant (it is the only
test module under conformance/)."""

from __future__ import annotations

import gc
import importlib

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the cheapest units first (mutmut hands them over in no useful order).

    A killed mutant's run stops at its first failing unit (mutmut runs pytest -x), so it costs the
    units before that one; which mutants are killed does not depend on the order, since every unit
    starts from a fresh verifier and cleared caches.
    """
    from conformance.mutation import COSTS

    items.sort(key=lambda item: (COSTS.get(item.name, 0), item.nodeid))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what is on the heap once the units are collected (imported modules, parsed vectors).

    pytest ends every session with five full garbage collections (to report unraisable exceptions);
    walking that heap five times was most of what a mutant killed by its first unit cost (about
    0.6 s of 0.9 s). Frozen objects are never collected, and they live as long as the process
    anyway; what a unit allocates, the mutated code's objects among it, is collected as before.

    hypothesis's pytest plugin imports hypothesis at the session's end, and hypothesis then checks
    through gc that a random generator it is handed is referenced -- which it cannot see from frozen
    objects, so it warns (an error here): it is imported before the freeze.
    """
    if session.config.pluginmanager.has_plugin("hypothesispytest"):
        importlib.import_module("hypothesis")
    gc.freeze()
