"""Cooperative reference agents: they deliver what they sign for and sign only what they mean.

Every agent is a :class:`~a2a_coop.runtime.strategy.Strategy` (respond, perform, rate); none signs
anything: the peer's policy guard decides what is signed.

Utility. An offer's worth to us is the *ratio* of the declared value we would receive to the declared
value we would give (:func:`ratio`): 1.0 is an even trade. The time-based negotiators aim at a ratio
that falls from ``start`` to ``reserve`` as the negotiation's rounds run out.

Concession exponent. Ours follows GENIUS (Faratin, Sierra & Jennings; Fatima et al.): the target at
time t in [0, 1] is ``reserve + (start - reserve) * (1 - t ** (1 / e))``; ``e < 1`` is *Boulware*
(holds firm, concedes at the end), ``e > 1`` *Conceder* (concedes early), ``e = 1`` linear. NegMAS's
``TimeBasedConcedingNegotiator`` writes the exponent inversely (its ``t ** e``): its Boulware is
``e > 1``. Pass our ``e`` as ``1 / e`` to compare.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Counter,
    Deliver,
    DeliveryView,
    HonestStrategy,
    OfferView,
    Reject,
    Reply,
)


def concession(t: float, exponent: float, start: float, reserve: float) -> float:
    """The time-based target at relative time ``t`` in [0, 1] (GENIUS convention, module docstring):
    ``start`` at t = 0, ``reserve`` at t = 1; ``exponent`` < 1 Boulware, > 1 Conceder."""
    return float(reserve + (start - reserve) * (1 - t ** (1 / exponent)))


def ratio(offer: OfferView) -> float:
    """Declared value we would receive over declared value we would give (inf when we give nothing)."""
    asked = offer.value_asked
    return float("inf") if asked == 0 else offer.value_offered / asked


def counter_at(offer: OfferView, target: float) -> Counter:
    """Our counter to ``offer`` asking ``target`` times what we give: same items, the values of what
    they give scaled (a price asked), written from our side (``gives`` = what we give)."""
    mine = trade_pb2.Offer()
    mine.terms.CopyFrom(offer.proposal.terms)
    # In a counter the bonds swap sides with the roles: we become its issuer.
    mine.terms.issuer_bond, mine.terms.audience_bond = (
        offer.proposal.terms.audience_bond,
        offer.proposal.terms.issuer_bond,
    )
    mine.gives.extend(offer.proposal.wants)
    mine.wants.extend(offer.proposal.gives)
    mine.exclusive_key = b""
    want_total = sum(i.value for i in mine.wants)
    goal = max(1, round(target * offer.value_asked))
    if want_total:
        for item in mine.wants:
            item.value = max(1, round(item.value * goal / want_total))
    return Counter(mine)


@dataclass
class Honest(HonestStrategy):
    """Accepts offers worth at least ``min_ratio``, delivers everything owed at once, receipts every
    delivery with ``rating``. Never counters, never withholds."""

    min_ratio: float = 0.8
    rating: int = 90


@dataclass
class Reciprocal(HonestStrategy):
    """Tit-for-tat over trade outcomes, with forgiveness.

    Cooperating is delivering; defecting is withholding. On a new contract with a counterparty it
    mirrors that counterparty's last contract with us: if they delivered every item they owed (as
    far as our receipts saw: :meth:`rate` is asked once per delivery), it delivers; if not, it
    withholds, except with probability ``forgiveness`` (seeded by ``seed``). A first contract is
    met with cooperation. Memory is in process only.
    """

    forgiveness: float = 0.1
    seed: int = 0
    _order: dict[str, list[bytes]] = field(default_factory=dict, repr=False)
    _owed: dict[bytes, int] = field(default_factory=dict, repr=False)
    _got: dict[bytes, set[int]] = field(default_factory=dict, repr=False)
    _plays: dict[bytes, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.forgiveness <= 1.0:
            raise ValueError("forgiveness must be in 0..1")
        self._rng = random.Random(self.seed)

    def cooperates(self, contract: ContractView) -> bool:
        """Whether we deliver under ``contract`` (decided once, when first asked)."""
        cid = contract.contract_id
        if cid not in self._plays:
            history = self._order.setdefault(contract.counterparty, [])
            last = history[-1] if history else None
            defected = last is not None and len(self._got.get(last, ())) < self._owed[last]
            self._plays[cid] = not defected or self._rng.random() < self.forgiveness
            history.append(cid)
            self._owed[cid] = len(contract.their_items)
        return self._plays[cid]

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return super().perform(contract) if self.cooperates(contract) else []

    def rate(self, delivery: DeliveryView) -> int | None:
        cid = delivery.contract.contract_id
        self._owed.setdefault(cid, len(delivery.contract.their_items))
        self._got.setdefault(cid, set()).add(delivery.item_index)
        return self.rating


@dataclass
class TimeBased(HonestStrategy):
    """A time-based concession negotiator (GENIUS convention, see the module docstring).

    Args:
        exponent: e; below 1 Boulware, above 1 Conceder.
        start: the ratio asked at round 1.
        reserve: the lowest ratio ever accepted (its reservation value).
        max_rounds: the round at which it has conceded to ``reserve``; past it, it rejects.
    """

    exponent: float = 1.0
    start: float = 1.3
    reserve: float = 0.9
    max_rounds: int = 8

    def __post_init__(self) -> None:
        if self.exponent <= 0 or self.max_rounds < 1 or not 0 < self.reserve <= self.start:
            raise ValueError("need exponent > 0, max_rounds >= 1 and 0 < reserve <= start")

    def target(self, round_: int) -> float:
        t = min(1.0, (round_ - 1) / max(1, self.max_rounds - 1))
        return concession(t, self.exponent, self.start, self.reserve)

    def respond(self, offer: OfferView) -> Reply:
        goal = self.target(offer.round)
        if ratio(offer) >= goal - 1e-9:
            return Accept()
        if offer.round >= self.max_rounds:
            return Reject(f"below our reservation after {offer.round} rounds")
        return counter_at(offer, goal)


@dataclass
class NashBargainer(HonestStrategy):
    """Aims at the Nash bargaining solution of the reference domain.

    With linear utilities in the declared values and disagreement at zero, the product of the two
    sides' gains over an item exchange is largest at an even split: ratio 1. It accepts any offer
    within ``tolerance`` of it (or better), and otherwise counters at exactly ratio 1; it never
    asks more than even, so two Nash bargainers agree at once.
    """

    tolerance: float = 0.02

    def respond(self, offer: OfferView) -> Reply:
        if ratio(offer) >= 1.0 - self.tolerance:
            return Accept()
        return counter_at(offer, 1.0)
