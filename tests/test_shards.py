"""The simulation engine over worker processes (reference_agents/shards.py, issue 13 item 7 (c)): the
one-process engine's results whatever the number of workers, and a failed worker is a clear error,
never a hang."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Any, NamedTuple

import pytest

from a2a_coop.protocol.errors import CoopError, IssuedInFuture, KeyRevoked, LimitExceeded, Origin, registry
from a2a_coop.runtime.strategy import HonestStrategy, OfferView, Reply
from a2a_coop.testing import EPOCH_MS
from reference_agents import build
from reference_agents.engine import TRADE_MS, Engine, EngineError
from reference_agents.shards import ShardedEngine, ShardError, blocks, refusal_fields, refusal_from

MIX = ("honest", "reciprocal", "reneger")


def _strategies(agents: int, seed: int) -> list[Any]:
    kinds = [MIX[i % 3] for i in range(agents)]
    return [build(k, **({"seed": str(seed + i)} if k == "reciprocal" else {})) for i, k in enumerate(kinds)]


def _heads(engine: Engine) -> dict[int, tuple[int, bytes]]:
    return {k: (a.peer.writer.next_seq, a.peer.writer.prev) for k, a in enumerate(engine.agents)}


class _Run(NamedTuple):
    outcomes: list[Any]
    heads: dict[int, tuple[int, bytes]]  # each agent's chain: next seq, prev digest
    held: dict[int, list[tuple[bytes, bytes]]]  # each agent's statements (digest, envelope), in its order
    trades: int
    now_ms: int


def _schedule(agents: int, rounds: int, seed: int) -> list[list[tuple[int, int]]]:
    """benchmarks/population.py's (c): each round the agents shuffled and paired off."""
    rng, order, out = random.Random(seed), list(range(agents)), []
    for _ in range(rounds):
        rng.shuffle(order)
        out.append([(order[k], order[k + 1]) for k in range(0, agents - 1, 2)])
    return out


def _run(workers: int, agents: int = 60, rounds: int = 5, seed: int = 4) -> _Run:
    """``rounds`` of (c) on the one-process engine (``workers`` 0) or on ``workers`` processes."""
    schedule = _schedule(agents, rounds, seed)
    if workers == 0:
        engine = Engine(_strategies(agents, seed), seed=seed)
        outcomes = [o for pairs in schedule for o in engine.round(pairs)]
        heads = _heads(engine)
        held = {
            k: [(d, vs.envelope) for d, vs in a.peer.verifier.statements.items()]
            for k, a in enumerate(engine.agents)
        }
        return _Run(outcomes, heads, held, engine.trades, engine.clock.now_ms)
    with ShardedEngine(_strategies(agents, seed), workers=workers, seed=seed) as sharded:
        outcomes = [o for pairs in schedule for o in sharded.round(pairs)]
        heads, held = sharded.query("heads"), sharded.query("statements")
        return _Run(outcomes, heads, held, sharded.trades, sharded.now_ms)


def test_the_sharded_engine_gives_the_one_process_results_on_two_and_three_workers() -> None:
    """Outcomes, every agent's statements (the very envelopes, in the order it took them), chain heads,
    trade count and clock: the same on 2 and 3 workers as on one process."""
    one = _run(0)
    assert one.trades == 150 and one.now_ms == EPOCH_MS + 150 * TRADE_MS
    sides = [d for o in one.outcomes for d in o.delivered]
    assert True in sides and False in sides  # not vacuous: some delivered, some reneged
    assert sum(map(len, one.held.values())) > 60 * 5 * 3  # every trade's statements, at both its peers
    for workers in (2, 3):
        bounds = blocks(60, workers)
        crossing = [
            (i, j)
            for pairs in _schedule(60, 5, 4)
            for i, j in pairs
            if sum(b <= i for b in bounds) != sum(b <= j for b in bounds)
        ]
        assert len(crossing) > 50  # most trades had their two sides in different processes
        assert _run(workers) == one, workers


def test_one_worker_and_a_lone_trade_match_the_engine_too() -> None:
    engine = Engine(_strategies(6, 1), seed=1)
    with ShardedEngine(_strategies(6, 1), workers=1, seed=1) as sharded:
        for i, j in ((0, 1), (2, 3), (1, 0), (4, 5)):
            assert sharded.trade(i, j) == engine.trade(i, j)
        assert sharded.round([]) == [] and sharded.now_ms == engine.clock.now_ms == EPOCH_MS + 4 * TRADE_MS
        assert sharded.query("heads") == _heads(engine)


def test_bad_parameters_and_rounds_are_engine_errors() -> None:
    with pytest.raises(EngineError, match="crypto mode only"):
        ShardedEngine(_strategies(4, 0), workers=2, mode="model")
    for workers in (0, 5):
        with pytest.raises(EngineError, match="workers must be between 1 and the number of agents"):
            ShardedEngine(_strategies(4, 0), workers=workers)
    engine = Engine(_strategies(4, 0))
    for pairs in ([(0, 1), (1, 2)], [(0, 4)]):
        with pytest.raises(EngineError, match=r"distinct agents|outside"):
            engine.round(pairs)
    assert engine.trades == 0  # nothing ran
    with ShardedEngine(_strategies(4, 0), workers=2) as sharded:
        with pytest.raises(EngineError, match="distinct agents"):
            sharded.round([(0, 3), (3, 1)])
        with pytest.raises(EngineError, match="outside"):
            sharded.round([(0, -1)])
        assert sharded.trades == 0 and sharded.now_ms == EPOCH_MS
        assert [o.contract for o in sharded.round([(0, 3), (2, 1)])] == [True, True]
    with pytest.raises(EngineError, match="closed"):
        sharded.round([(0, 1)])


def test_a_refusal_crosses_processes_as_its_own_class_and_fields() -> None:
    classes = registry().values()
    assert len(classes) > 30
    for cls in classes:
        err = cls("detail", requirement="X-001", origin=Origin.REMOTE, evidence=(b"a", b"b"))
        if hasattr(err, "retry_after_ms"):  # IssuedInFuture, RateLimited
            err.retry_after_ms = 250
        if hasattr(err, "reach_ms"):  # KeyRevoked
            err.reach_ms = 7
        back = refusal_from(refusal_fields(err))
        assert type(back) is cls and str(back) == str(err)
        assert (back.origin, back.evidence, back.requirement) == (Origin.REMOTE, (b"a", b"b"), "X-001")
        assert getattr(back, "retry_after_ms", 0) == getattr(err, "retry_after_ms", 0)
        assert getattr(back, "reach_ms", 0) == getattr(err, "reach_ms", 0)
    assert refusal_from(refusal_fields(IssuedInFuture(retry_after_ms=9))).retry_after_ms == 9  # type: ignore[attr-defined]
    assert refusal_from(refusal_fields(KeyRevoked(reach_ms=3))).reach_ms == 3  # type: ignore[attr-defined]
    plain = refusal_from(refusal_fields(CoopError("why")))
    assert type(plain) is CoopError and str(plain) == "INTERNAL: why"


class Exploding(HonestStrategy):
    """Raises when asked about an offer: a bug in a strategy, in a worker process."""

    def respond(self, offer: OfferView) -> Reply:
        raise RuntimeError("boom in a strategy")


class Refusing(HonestStrategy):
    """Refuses every offer with a protocol error: its peer's ``exchange`` raises it to the offerer."""

    def respond(self, offer: OfferView) -> Reply:
        raise LimitExceeded("not today", requirement="RPC-012", origin=Origin.LOCAL)


def test_a_refusal_in_another_process_reaches_the_offerer_as_on_one_process() -> None:
    """A responder's refusal (a CoopError from its ``exchange``) is raised into the offerer's drive in
    the other worker and out of the round as the one-process ``trade`` raises it: same class, text,
    requirement and origin; the round's other trade ran."""
    strategies = _strategies(4, 0)
    strategies[3] = Refusing()  # worker 1's; agent 0 (worker 0) offers to it
    with pytest.raises(LimitExceeded) as one:
        Engine(strategies).trade(0, 3)
    with ShardedEngine(strategies, workers=2) as sharded:
        with pytest.raises(LimitExceeded) as two:
            sharded.round([(1, 2), (0, 3)])
        assert (str(two.value), two.value.requirement, two.value.origin) == (
            str(one.value),
            "RPC-012",
            one.value.origin,
        )
        heads = sharded.query("heads")
        assert heads[1][0] > 0 and heads[2][0] > 0 and heads[0][0] == 1  # idle: 0; 0 signed its Offer
        assert sharded.trades == 2 and sharded.trade(1, 2).contract  # the engine goes on


def test_an_exception_in_a_worker_is_a_shard_error_with_its_traceback() -> None:
    strategies = _strategies(4, 0)
    strategies[3] = Exploding()  # worker 1's; agent 0 (worker 0) offers it a trade
    sharded = ShardedEngine(strategies, workers=2, timeout_s=60)
    with pytest.raises(ShardError, match=r"(?s)worker 1 failed:.*RuntimeError: boom in a strategy"):
        sharded.round([(0, 3), (1, 2)])
    assert sharded.closed and all(not p.is_alive() for p in sharded.procs)


def test_a_dead_or_silent_worker_is_a_shard_error_not_a_hang() -> None:
    sharded = ShardedEngine(_strategies(4, 0), workers=2, timeout_s=60)
    sharded.procs[1].kill()
    sharded.procs[1].join()
    start = time.monotonic()
    with pytest.raises(ShardError, match=r"worker 1 is gone.*exit code -9"):
        sharded.round([(0, 3), (1, 2)])
    assert time.monotonic() - start < 10 and sharded.closed
    silent = ShardedEngine(_strategies(4, 0), workers=2)
    silent.timeout_s = 1.0  # (the workers' start-up, spawning Python, takes longer)
    pid = silent.procs[0].pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # alive, answering nothing
    with pytest.raises(ShardError, match=r"worker 0 sent nothing within 1.0 s"):
        silent.round([(0, 3), (1, 2)])
    assert silent.closed and not silent.procs[0].is_alive()


_ORPHAN = """
import sys
from reference_agents import build
from reference_agents.shards import ShardedEngine
engine = ShardedEngine([build("honest") for _ in range(4)], workers=2)
print(*(p.pid for p in engine.procs), flush=True)
sys.stdin.read()
"""


def test_workers_stop_by_themselves_when_the_coordinator_goes_away() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _ORPHAN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as coordinator:
        assert coordinator.stdout is not None
        pids = [int(p) for p in coordinator.stdout.readline().split()]
        assert len(pids) == 2 and all(map(_running, pids))
        coordinator.kill()  # no close(), no atexit: the workers only see their pipe end
        coordinator.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in pids if _running(p)]
    assert not alive


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_the_population_benchmark_runs_c_on_processes_and_on_one_with_the_same_trades() -> None:
    """benchmarks/population.py's (c) on 2 worker processes: the trades of its one-process run, and CPU
    counted in every process (the workers' own beside the total)."""
    from benchmarks.population import _population

    one = _population(12, 3, 0)
    two = _population(12, 3, 0, 2)
    assert one.trades == two.trades == 18 and one.worker_cpu_s == [] and one.engine is not None
    assert two.outcomes == one.outcomes and two.heads == one.heads and len(two.heads) == 12
    assert len(two.worker_cpu_s) == 2 and all(c > 0 for c in two.worker_cpu_s)
    assert two.cpu_s > sum(two.worker_cpu_s) and two.cyclic_garbage == 0
    assert two.engine.closed and not any(p.is_alive() for p in two.engine.procs)
