"""The equivocator in the population simulator (issue 13): it sells one commitment twice through
the unsafe signer (reference_agents.unsafe.ForkingPeer, the in-process form of the ForkingNode
served over gRPC). In the verifiable world the escrow's verifier refuses the second sale, the buyer
keeps the fork proof, the Checkpoint gossip carries it on and every trust policy that holds it
refuses the equivocator; under cheap talk the double sale pays."""

from __future__ import annotations

import dataclasses
import json

import pytest

from a2a_coop.protocol.forks import verify_fork_proof
from reference_agents import AGENTS, BadParameter, build
from reference_agents.population import Individual, Population
from reference_agents.sim import SimError, payoff_table
from reference_agents.unsafe import ForkingPeer, ForkPlan


def _market(world: str, plan: ForkPlan | None = None) -> tuple[Population, list[Individual], Individual]:
    """Three honest buyers and an equivocator (member 3), optionally with its own plan."""
    pop = Population(world, seed=5)
    honest = [pop.add("honest") for _ in range(3)]
    eq = pop.add("equivocator")
    if plan is not None:
        eq.wire = ForkingPeer(eq.peer, plan)
    return pop, honest, eq


def _buy(pop: Population, buyer: int) -> tuple[str, tuple[float, float]]:
    """Member ``buyer`` offers the equivocator (member 3) a trade; the outcome and both payoffs."""
    (trade,) = pop.play_round([(buyer, 3)])
    return trade.state, trade.payoffs


def test_in_the_verifiable_world_the_escrow_refuses_the_second_sale_and_the_proof_excludes_the_seller() -> (
    None
):
    """A buys from the equivocator (its first sale, honest); B buys next and gets an Accept re-signed
    at the seq of A's. Expect: the escrow, holding A's Accept, refuses to bond B's contract
    (EQUIVOCATION); B keeps the proof its refusal carries, so B scores the equivocator faulty (0) and
    refuses it; C, who never met it, learns the proof from B's gossip when they trade and refuses it
    too. Nobody performed under the double sale: it earned the equivocator nothing."""
    pop, (a, b, c), eq = _market("verifiable")
    assert _buy(pop, 0) == ("FULFILLED", (0.5, 0.5))
    assert _buy(pop, 1) == ("FORK_REFUSED_BY_ESCROW", (0.0, 0.0))
    assert [act.kind for act in eq.wire.truth] == ["equivocate"]
    proof = b.peer.verifier.forks[eq.did]
    assert verify_fork_proof(proof) == eq.did  # offline, by anyone
    assert b.peer.reputation.score(eq.did).faulty and b.peer.reputation.score(eq.did).score == 0
    assert eq.did not in a.peer.verifier.forks and eq.did not in c.peer.verifier.forks
    assert a.peer.reputation.score(eq.did).score >= 0.5  # A saw only its own honest trade
    assert _buy(pop, 1) == ("NO_OFFER", (0.0, 0.0))  # B's trust policy refuses to offer
    assert pop.play_round([(2, 1)])[0].state == "FULFILLED"  # C and B trade: Checkpoint gossip
    assert c.peer.reputation.score(eq.did).faulty
    assert _buy(pop, 2) == ("NO_OFFER", (0.0, 0.0))
    assert pop.play_round([(3, 2)])[0].state == "REJECTED"  # its own offer to C is refused too
    assert eq.payoff == pytest.approx(0.5)  # the honest first sale only


def test_under_cheap_talk_nothing_catches_the_double_sale_and_it_pays() -> None:
    """Same trades, cheap talk (no escrow, no gossip, no trust policy): B takes the re-signed Accept,
    delivers, and gets nothing (-1) while the equivocator keeps B's item (+1.5, three times an honest
    trade's 0.5); nobody holds a proof, and B goes on trading with it."""
    pop, (a, b, c), eq = _market("cheap-talk")
    assert _buy(pop, 0) == ("FULFILLED", (0.5, 0.5))
    assert _buy(pop, 1) == ("DOUBLE_SOLD", (-1.0, 1.5))
    assert [act.kind for act in eq.wire.truth] == ["equivocate"]
    assert not any(eq.did in m.peer.verifier.forks for m in (a, b, c))
    assert _buy(pop, 1) == ("FULFILLED", (0.5, 0.5))  # B was sold to already: an honest trade
    assert _buy(pop, 2)[0] == "DOUBLE_SOLD"
    assert eq.payoff == pytest.approx(0.5 + 1.5 + 0.5 + 1.5) and b.payoff == pytest.approx(-0.5)


def test_the_fork_plan_sets_when_and_how_often_it_double_sells() -> None:
    """``after``: the counterparties it serves honestly first; ``act_rate``: the chance a later new
    one is double-sold (seeded); each counterparty is offered the fork once, on its first trade."""
    pop, _, eq = _market("cheap-talk", ForkPlan(after=2))
    assert [_buy(pop, i)[0] for i in (0, 1, 2, 2)] == ["FULFILLED", "FULFILLED", "DOUBLE_SOLD", "FULFILLED"]
    pop, _, eq = _market("cheap-talk", ForkPlan(act_rate=0.0))
    assert [_buy(pop, i)[0] for i in (0, 1, 2)] == ["FULFILLED"] * 3 and not eq.wire.truth
    for bad in ({"act_rate": 1.5}, {"act_rate": -0.1}, {"after": 0}):
        with pytest.raises(ValueError):
            ForkPlan(**bad)  # type: ignore[arg-type]


def test_the_equivocator_is_a_deceptive_population_type_with_its_plan_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from a2a_coop.cli import main
    from reference_agents.sim import SIM_TYPES, TABLE_TYPES

    assert "equivocator" in SIM_TYPES and AGENTS["equivocator"].deceptive
    assert dict(AGENTS["equivocator"].unsafe_defaults) == dataclasses.asdict(ForkPlan())
    assert main(["agent", "list", "--json"]) == 0
    docs = {d["name"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert docs["equivocator"]["unsafe_parameters"] == {"act_rate": 1.0, "after": 1, "seed": 0}
    with pytest.raises(BadParameter, match="unsafe signer"):  # agent run serves the guarded strategy
        build("equivocator", act_rate="0.5")
    # Pair games between two fresh agents give it no second buyer: the table model refuses it.
    assert "equivocator" not in TABLE_TYPES
    with pytest.raises(SimError, match="types must be among"):
        payoff_table("cheap-talk", ["honest", "equivocator"], seed=0)


def test_an_equivocators_claim_the_escrow_refuses_for_its_fork_ends_the_trade_not_the_run() -> None:
    """Seed 3 of the README's sweep (verifiable world, Moran, 100 steps): the equivocator double-sells,
    the buyer's verifier refuses the Accept, and the equivocator then claims under the contract the escrow
    bonded. The escrow, shown the fork, takes no claim of its (ESC-015) -- an outcome of the double sale,
    which ended the whole run with a traceback before (and the sweep with it)."""
    from reference_agents import evolve

    result = evolve.run("verifiable", 3, steps=100)
    assert result.generations > 0 and abs(sum(result.shares.values()) - 1) < 1e-9


@pytest.mark.slow  # ten runs of the README's sweep, about 15 s
@pytest.mark.parametrize("world", ["verifiable", "cheap-talk"])
def test_every_seed_of_the_readmes_moran_sweep_runs(world: str) -> None:
    from reference_agents import evolve

    for seed in range(10):
        assert evolve.run(world, seed, steps=100).generations > 0
