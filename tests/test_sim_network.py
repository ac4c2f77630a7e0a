"""Network mode (issue 13): reference agents as real gRPC peers, each in its own process
(`a2a-coop agent run`), with the escrow in its own process, trading round robin over gRPC."""

from __future__ import annotations

from pathlib import Path

import pytest

import reference_agents
from a2a_coop.protocol.negotiation import State
from reference_agents.network import round_robin

WITHHOLDERS = ("reneger", "bluffer", "sybil-ring")


def test_three_agents_as_processes_trade_with_each_other(tmp_path: Path) -> None:
    """honest, reciprocal and reneger, each its own process: every ordered pair trades over gRPC.
    Expect the cooperative pairs fulfilled; the served reneger's withheld item claimed by its
    initiating counterparty and upheld by the escrow process (BREACHED); the reneger, initiating,
    withholds from the served peers (its trade stays PERFORMING: a served peer does not claim). Every
    process on a test clock, moved past the clock tolerance once the claims are in (CTL-003)."""
    rr = round_robin(tmp_path, ("honest", "reciprocal", "reneger"), test_clock=True)
    assert len(set(rr.pids.values())) == 3 and len(rr.outcomes) == 6
    assert rr.outcomes[("honest", "reciprocal")] is State.FULFILLED
    assert rr.outcomes[("reciprocal", "honest")] is State.FULFILLED
    assert rr.outcomes[("honest", "reneger")] is State.BREACHED
    assert rr.outcomes[("reciprocal", "reneger")] is State.BREACHED
    assert rr.outcomes[("reneger", "honest")] is State.PERFORMING


@pytest.mark.slow
def test_every_agent_type_as_its_own_process_trades_with_every_other(tmp_path: Path) -> None:
    """All 15 types served, each its own process; every ordered pair offered over gRPC."""
    types = tuple(reference_agents.AGENTS)
    rr = round_robin(tmp_path, types)
    assert len(set(rr.pids.values())) == len(types)
    assert len(rr.outcomes) == len(types) * (len(types) - 1)
    for cheat in WITHHOLDERS:
        assert rr.outcomes[("honest", cheat)] is State.BREACHED, cheat
    for good in ("reciprocal", "nash", "opportunist", "equivocator", "over-committer", "feinter"):
        assert rr.outcomes[("honest", good)] is State.FULFILLED, good
    assert rr.outcomes[("honest", "cartel")] is State.REJECTED
    assert all(rr.outcomes[("cartel", t)] is None for t in types if t != "cartel")  # offers only inside
    formed = [s for s in rr.outcomes.values() if s is not None and s is not State.REJECTED]
    assert len(formed) > 100
