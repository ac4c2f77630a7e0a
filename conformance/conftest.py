"""pytest's hooks for conformance/mutation.py, the test mutmut runs once per mutant (it is the only
test module under conformance/)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the cheapest units first (mutmut hands them over in no useful order).

    A killed mutant's run stops at its first failing unit (mutmut runs pytest -x), so it costs the
    units before that one; which mutants are killed does not depend on the order, since every unit
    starts from a fresh verifier and cleared caches.
    """
    from conformance.mutation import COSTS

    items.sort(key=lambda item: (COSTS.get(item.name, 0), item.nodeid))
