"""Shared fixtures: one fixed clock and three deterministic parties on it.

Every party derives its keys, principal and mandate from its name, so the
same test builds byte-identical envelopes on every run.
"""

from __future__ import annotations

import compileall
import copy
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


# The workers each import every test module, rewriting its asserts, and every library module: on a fresh
# checkout (no bytecode cached) each of the four did all of it again, about 14 CPU seconds apiece of the
# 20 a cold worker spends before its first test. The controller (no worker of its own) does it once,
# before it starts them, writing where they will look (pytest's rewritten-module files, Python's
# bytecode; the prefix above if set), and they find it done. What is current already is only checked.
# Nothing is done when the workers would not write bytecode themselves, or run without workers.
_PACKAGES = ("a2a_coop", "benchmarks", "conformance", "reliability", "reference_agents", "tools", "examples")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if os.environ.get("PYTHONDONTWRITEBYTECODE") or config.getoption("assertmode") != "rewrite":
        return
    root = Path(__file__).resolve().parent.parent
    saved = sys.pycache_prefix
    sys.pycache_prefix = os.environ.get("PYTHONPYCACHEPREFIX") or None  # as the workers will have it
    try:
        for name in _PACKAGES:
            compileall.compile_dir(root / name, quiet=2)
        compileall.compile_dir(
            root / "tests", maxlevels=0, quiet=2, rx=re.compile(r"[/\\](test_[^/\\]*|conftest)\.py$")
        )
        _rewrite_test_modules(config, root / "tests")
    finally:
        sys.pycache_prefix = saved


def _rewrite_test_modules(config: pytest.Config, tests: Path) -> None:
    """Each test module rewritten as a worker's import would, and written where it reads it (pytest's own
    AssertionRewritingHook.exec_module, without the exec). A pytest without these helpers: left to the
    workers."""
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
            try_makedirs,
        )
    except ImportError:
        return
    state = config.stash[assertstate_key]
    for fn in sorted(tests.glob("test_*.py")):
        cache_dir = get_cache_dir(fn)
        if not try_makedirs(cache_dir):
            return
        pyc = cache_dir / (fn.name[:-3] + PYC_TAIL)
        if _read_pyc(fn, pyc, state.trace) is None:
            source_stat, co = _rewrite_test(fn, config)
            _write_pyc(state, co, source_stat, pyc)


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


# The modules holding the suite's longest tests (wall-clock waits by design: the demo, the revocable hold,
# served conformance runs; `--durations` names them), collected first. With --dist worksteal each worker
# starts on a quarter of the tests in collection order: a 35 s test that came last in file order started
# late and held the run's end while the other workers idled. Collected first, the first worker starts on
# them and the others take the rest around it (longest first). Whole modules move, in their own order, so
# no module's fixtures or order within it change.
_LONGEST_FIRST = (
    "test_cli_runtime.py",
    "test_processes.py",
    "test_minimal_peer.py",
    "test_conformance_suite.py",
    "test_benchmarks_runtime.py",
    "test_reliability.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    first = {name: rank for rank, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order
