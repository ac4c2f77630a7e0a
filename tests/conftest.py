"""Shared fixtures: one fixed clock and three deterministic parties on it.

Every party derives its keys, principal and mandate from its name, so the
same test builds byte-identical envelopes on every run.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator

import pytest

from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party
from benchmarks._heap import fresh_heap

# The suite starts hundreds of Python processes (servers, CLI runs, benchmark children) and four
# workers. With PYTHONDONTWRITEBYTECODE set (as on the shared machines and some CI images), each of
# them compiled every module it imported from source again: about a third of a server's start-up
# CPU, and most of a worker's collection (its test modules' assertion rewriting). Those processes,
# all started after this runs (xdist starts its workers after the conftest is loaded), keep their
# bytecode under a temporary directory instead -- nothing is written in the checkout, and Python
# checks each cached file against its source's mtime and size as it does __pycache__'s. An explicit
# PYTHONPYCACHEPREFIX is left alone.
if os.environ.get("PYTHONDONTWRITEBYTECODE") and "PYTHONPYCACHEPREFIX" not in os.environ:
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(
        tempfile.gettempdir(), f"a2a-coop-tests-pycache-{os.getuid()}"
    )


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """For a benchmark run in this process: what the worker already holds (every earlier test's
    objects) moved out of the collector's reach while the test runs, so each ``gc.collect()`` the
    benchmark makes walks only its own objects, as in a process of its own."""
    with fresh_heap():
        yield


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def alice(clock: FixedClock) -> Party:
    return Party("alice", clock)


@pytest.fixture
def bob(clock: FixedClock) -> Party:
    return Party("bob", clock)


@pytest.fixture
def escrow(clock: FixedClock) -> Party:
    """The escrow agent: holds bonds, signs BondLock/Release/Forfeit/Refund."""
    return Party("escrow-agent", clock)


@pytest.fixture
def auditor(alice: Party, bob: Party, escrow: Party) -> Verifier:
    """A third-party verifier (no audience of its own) that holds all three mandates."""
    v = Verifier()
    for env in (*alice.setup, *bob.setup, *escrow.setup):
        v.accept(env)
    return v


def verifier_state(v: Verifier) -> dict[str, object]:
    """Everything a Verifier remembers, as plain comparable values (for ERR-003 before/after checks)."""

    def contract(c: object) -> object:
        if c is None:
            return None
        return {k: copy.copy(x) for k, x in vars(c).items() if k not in ("offer", "accept", "proposal")}

    return {
        "statements": sorted(v.statements),
        "mandates": sorted(v.mandates),
        "revoked": dict(v.revoked),
        "rotated": dict(v.rotated),
        "replay": (sorted(v.replay._digests), sorted(v.replay._nonces.items())),
        "chains": {i: sorted((s, link.digest) for s, link in c.links.items()) for i, c in v.chains.items()},
        "negotiations": {
            nid: (n.state, list(n.history), n.outstanding.digest, contract(n.contract))
            for nid, n in v.negotiations.by_id.items()
        },
        "exclusive": dict(v.negotiations._exclusive),
        "exposure": {
            m: (dict(e.live_offers), dict(e.open_contracts), dict(e._formed))
            for m, e in v.exposure.by_mandate.items()
        },
        "attested": sorted(v._attested),
    }
