"""The simulators' payoff counts no volume a party declares (issue 13, item 6; twentieth session).

Until then a counter (``counter_at``) scaled up the declared value of what the other side gives, and
a payoff counted declared values as they stood: two haggling Boulware agents signed trades of 3.4 and
3.8 times the opening's value and earned 1.81 of VALUE a trade against each other, where two honest
agents earn 0.5 -- haggling paid by volume, not by the split. Now a counter re-splits the pie (the
declared value of both sides' items) and the payoff counts every contract at the world's pie
(``reference_agents/sim.py``, "Payoffs"); forfeited bonds count at face value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Counter,
    Deliver,
    HonestStrategy,
    OfferView,
    Reply,
)
from reference_agents import sim
from reference_agents.cooperative import Honest, counter_at
from reference_agents.population import Population
from reference_agents.sim import VALUE, WORLDS, PairGame

PIE = 2 * VALUE


def _offer(gives: Sequence[int], wants: Sequence[int]) -> OfferView:
    proposal = trade_pb2.Offer(
        gives=[trade_pb2.Item(category=f"g{k}", quantity=1, value=v) for k, v in enumerate(gives)],
        wants=[trade_pb2.Item(category=f"w{k}", quantity=1, value=v) for k, v in enumerate(wants)],
    )
    proposal.terms.issuer_bond, proposal.terms.audience_bond = 7, 11
    return OfferView(b"n", "did:key:them", proposal, 1, 0)


@pytest.mark.parametrize(
    ("gives", "wants", "target"),
    [
        ((VALUE,), (VALUE,), 1.3),
        ((VALUE,), (VALUE,), 1.029),
        ((VALUE,), (VALUE,), 0.9),
        ((VALUE,), (VALUE,), 3.0),
        ((120, 7, 333), (250, 1), 1.115),
        ((1, 1), (5,), 1.5),
    ],
)
def test_a_counter_keeps_the_pie_and_splits_it_at_the_ratio_asked(
    gives: Sequence[int], wants: Sequence[int], target: float
) -> None:
    """counter_at kept what we give and scaled what they give to ``target`` times it: the pie grew
    with every counter (1,000 -> 1,150 at 1.3). Expect the pie kept exactly, the split at the ratio
    asked (within one unit of rounding), every value at least 1, each side's items in their
    proportions (within rounding), the items and the swapped bonds as before."""
    offer = _offer(gives, wants)
    mine = counter_at(offer, target).proposal
    receive, give = sum(i.value for i in mine.wants), sum(i.value for i in mine.gives)
    assert receive + give == sum(gives) + sum(wants), "the counter grew or shrank the pie"
    pie = receive + give
    assert abs(receive - pie * target / (1 + target)) <= 1
    assert all(i.value >= 1 for i in [*mine.gives, *mine.wants])
    assert [i.category for i in mine.wants] == [f"g{k}" for k in range(len(gives))]
    assert [i.category for i in mine.gives] == [f"w{k}" for k in range(len(wants))]
    for side, before in ((mine.wants, gives), (mine.gives, wants)):
        total = sum(i.value for i in side)
        for item, old in zip(side, before, strict=True):
            assert abs(item.value - max(1, old * total / sum(before))) <= len(before)
    assert (mine.terms.issuer_bond, mine.terms.audience_bond) == (11, 7)


def test_a_counter_to_a_side_with_no_items_changes_no_value() -> None:
    """Nothing to split: the values stay as they came (the old code asked 1 for a gift)."""
    mine = counter_at(_offer((VALUE,), ()), 1.3).proposal
    assert [i.value for i in mine.wants] == [VALUE] and not mine.gives


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("kind", ["boulware", "conceder", "nash"])
def test_haggling_agents_earn_no_more_against_themselves_than_an_honest_pair(world: str, kind: str) -> None:
    """Two Boulware agents earned 1.81 of VALUE a trade against each other (an honest pair 0.5): their
    seven counters inflated the trade. Expect every haggling type, paired with itself, to sign every
    trade (8 of 8), at the world's pie, and to earn no more than the honest pair's 0.5 a trade: with a
    fixed pie the welfare of an agreement is fixed, only the split moves."""
    per = 8
    honest = PairGame(world, "honest", "honest", seed=3).play()
    game = PairGame(world, kind, kind, seed=3)
    pays = game.play()
    assert game.trades == per
    assert [p / per for p in honest] == [0.5, 0.5]
    assert all(p / per <= 0.5 + 1e-9 for p in pays), pays
    assert sum(pays) / per == pytest.approx(1.0), "an agreement's welfare is (GAIN - 1) x the pie"


@pytest.mark.parametrize("world", WORLDS)
def test_a_population_pays_two_boulware_agents_the_even_split(world: str) -> None:
    """The population simulator scores as the pair game does: two Boulware agents bargain to round 8
    and sign a trade whose pie is 2 x VALUE, split as the last counter asked (0.63 and 0.37 of
    VALUE; 1.34 and 2.29 before): each, offering once and answering once, earns 0.5 a trade."""
    pop = Population(world, seed=5)
    pop.add("boulware"), pop.add("boulware")
    for rec in pop.play_round([(0, 1), (1, 0)]):
        assert rec.contract and rec.state == "FULFILLED"
        assert sum(rec.payoffs) == pytest.approx(1.0), "an agreement's welfare is (GAIN - 1) x the pie"
    assert [ind.payoff / 2 for ind in pop.members] == pytest.approx([0.5, 0.5])


@dataclass
class _Splits(HonestStrategy):
    """Test-only: makes no offer; counters an opening at ``ask`` (re-splitting the pie, counter_at),
    accepts the rest, and withholds what it owes if ``withhold``."""

    ask: float = 1.5
    withhold: bool = False

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        return None

    def respond(self, offer: OfferView) -> Reply:
        return self.counter(offer) if offer.round == 1 else Accept()

    def counter(self, offer: OfferView) -> Counter:
        return counter_at(offer, self.ask)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return [] if self.withhold else super().perform(contract)


@dataclass
class _Inflates(_Splits):
    """Test-only: asks the same ratio as :class:`_Splits` but grows the trade instead -- what it gives
    times ``grow``, what it wants scaled to ``ask`` times that (grow 1 is the old ``counter_at``)."""

    grow: float = 1.0

    def counter(self, offer: OfferView) -> Counter:
        mine = counter_at(offer, self.ask).proposal
        for item, theirs in zip(mine.gives, offer.proposal.wants, strict=True):
            item.value = round(theirs.value * self.grow)
        for item, theirs in zip(mine.wants, offer.proposal.gives, strict=True):
            item.value = round(theirs.value * self.grow * self.ask)
        return Counter(mine)


def _play(world: str, strategy: HonestStrategy) -> tuple[list[float], list[int]]:
    """``strategy`` against an honest agent that takes any ratio from 0.6 (seed 3, 4 rounds; only the
    honest agent offers): the payoffs and the pie of every contract the honest agent signed."""
    game = PairGame(world, "honest", "honest", seed=3)
    game.agents[0].peer.strategy = strategy
    game.agents[1].peer.strategy = Honest(min_ratio=0.6)
    pays = game.play()
    honest = game.agents[1].peer
    pies = [
        sum(i.value for i in [*n.contract.proposal.gives, *n.contract.proposal.wants])
        for n in honest.verifier.negotiations.by_id.values()
        if n.contract is not None
    ]
    return pays, pies


@pytest.mark.parametrize("world", WORLDS)
def test_inflating_the_declared_values_earns_no_more_than_re_splitting_them(world: str) -> None:
    """A strategy whose counter asks 1.5 by inflating the other side's values (750 for 500, the old
    counter_at) against one asking 1.5 by re-splitting the pie (600 for 400). Before, the first earned
    1.25 of VALUE on each trade its counter formed, the second 1.0. Expect the inflated trades to have
    happened (a pie of 1,250), and to earn exactly what the re-split ones do, as does their victim."""
    inflated, pies = _play(world, _Inflates(ask=1.5))
    assert pies == [PIE + VALUE // 2] * 4, "the inflating counter was not signed"
    split, pies = _play(world, _Splits(ask=1.5))
    assert pies == [PIE] * 4
    assert inflated[0] <= split[0] + 1e-9 and inflated == pytest.approx(split)
    assert split[0] > split[1], "the counter's split pays its asker"


def test_a_breacher_that_inflates_the_trade_forfeits_as_much() -> None:
    """Forfeited bonds count at face value: a bond is what the escrow moves (VALUE here), set by the
    world whatever the items' declared values. Scaled by the contract's pie factor as the items are,
    a reneger that signs a trade declared at five times its volume (at the even ratio) would forfeit
    a fifth of its bond in pie units and earn 1.3 of VALUE a breach instead of 0.5. Expect it to earn
    exactly what the same reneger earns at the world's volume."""
    inflated, pies = _play("verifiable", _Inflates(ask=1.0, grow=5.0, withhold=True))
    assert pies == [5 * PIE], "the inflated trade was not signed (and breached)"
    plain, pies = _play("verifiable", _Splits(ask=1.0, withhold=True))
    assert pies == [PIE]
    assert inflated == pytest.approx(plain)
    assert plain[0] > 0 >= plain[1] - 1e-9, "the breach paid its victim, or not its breacher"


def test_the_pie_scale_is_the_worlds_pie_over_what_the_contract_declares() -> None:
    """pie_scale: 2 x VALUE over both sides' declared values; 1 for a contract declaring nothing."""

    @dataclass
    class _C:
        proposal: trade_pb2.Offer

    offer = _offer((VALUE * 3,), (VALUE,)).proposal
    assert sim.pie_scale(_C(offer)) == 0.5  # type: ignore[arg-type]
    assert sim.pie_scale(_C(trade_pb2.Offer())) == 1.0  # type: ignore[arg-type]
