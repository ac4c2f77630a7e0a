"""Adversarial reference agents, each with the ground truth of what it does, for scoring detectors.

Every agent here is a strategy behind the peer's policy guard: what it does, the guard allows (the
protocol cannot stop an agent from lying in a claim or from not delivering; it makes the lie and
the breach *provable*). The two misbehaviours the guard forbids -- equivocating and committing
beyond the mandate -- need a misbehaving implementation: :mod:`reference_agents.unsafe`.

Ground truth. Each agent appends to its ``truth`` list one :class:`Act` per deceptive act, naming
the negotiation (hex) and what it did, so a detector's findings can be scored against it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Deliver,
    DeliveryView,
    HonestStrategy,
    OfferView,
    Reject,
    Reply,
)
from reference_agents.cooperative import counter_at, ratio

RATIO_SUBJECT = "ratio-permille"  # a reservation claim's subject: the lowest ratio, in thousandths


@dataclass(frozen=True)
class Act:
    """One deceptive act: ``kind`` in negotiation ``negotiation`` (hex), with a free-form detail."""

    kind: str
    negotiation: str
    detail: str = ""


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError("act_rate must be in 0..1")


@dataclass
class _Adversary(HonestStrategy):
    act_rate: float = 1.0
    seed: int = 0
    truth: list[Act] = field(default_factory=list, repr=False)
    _decided: dict[bytes, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_rate(self.act_rate)
        self._rng = random.Random(self.seed)

    def _roll(self) -> bool:
        return self._rng.random() < self.act_rate

    def _withholds(self, contract: ContractView, decide: bool, kind: str, detail: str = "") -> bool:
        """Decide once per contract whether to withhold; record it as ground truth."""
        cid = contract.contract_id
        if cid not in self._decided:
            self._decided[cid] = decide
            if decide:
                self.truth.append(Act(kind, contract.negotiation_id.hex(), detail))
        return self._decided[cid]


@dataclass
class Exaggerator(_Adversary):
    """Overstates its reservation value and its needs.

    On the first round of a negotiation (with probability ``act_rate``) it counters asking
    ``1 + markup`` times an even trade, and signs, in its counter, a RESERVATION_VALUE claim that it
    will not go below ``reserve * (1 + markup)`` (subject ``ratio-permille``) and a NEED claim
    inflated by ``markup``. It then accepts anything at or above its true ``reserve``. Ground truth:
    ``exaggerate`` acts. Detection: when it accepts below its claimed reservation, its own signed
    Counter and Accept contradict each other (:func:`reference_agents.detect.broken_reservations`).
    """

    markup: float = 0.5
    reserve: float = 0.9

    def respond(self, offer: OfferView) -> Reply:
        if ratio(offer) >= self.reserve and (offer.round > 1 or not self._roll()):
            return Accept()
        if offer.round > 1:
            return Reject("below our reservation")
        counter = counter_at(offer, 1 + self.markup)
        claimed = round(1000 * self.reserve * (1 + self.markup))
        counter.proposal.claims.append(
            trade_pb2.Claim(
                kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE, subject=RATIO_SUBJECT, amount=claimed
            )
        )
        for item in counter.proposal.wants:
            counter.proposal.claims.append(
                trade_pb2.Claim(
                    kind=trade_pb2.CLAIM_KIND_NEED,
                    subject=item.category,
                    amount=round(item.quantity * (1 + self.markup)),
                )
            )
        self.truth.append(
            Act(
                "exaggerate", offer.negotiation_id.hex(), f"claimed {claimed}, true {self.reserve * 1000:.0f}"
            )
        )
        return counter


@dataclass
class Bluffer(_Adversary):
    """Claims holdings it does not have.

    It holds only the categories in ``holdings``. Asked for anything else, it accepts anyway (with
    probability ``act_rate``; otherwise it rejects honestly), and when it offers, it signs a HOLDING claim
    for every item it gives. It delivers only what it holds. Ground truth: ``bluff`` acts (one per
    contract it cannot perform). Detection: the counterparty's BreachClaim is upheld and the bond
    forfeited.
    """

    holdings: frozenset[str] = frozenset()

    def respond(self, offer: OfferView) -> Reply:
        lacking = [i.category for i in offer.proposal.wants if i.category not in self.holdings]
        if lacking and not self._roll():
            return Reject(f"we do not hold {', '.join(lacking)}")
        return super().respond(offer)

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        out = trade_pb2.Offer()
        out.CopyFrom(proposal)
        for item in out.gives:
            out.claims.append(
                trade_pb2.Claim(
                    kind=trade_pb2.CLAIM_KIND_HOLDING, subject=item.category, amount=item.quantity
                )
            )
        return out

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        lacking = [i for i, item in enumerate(contract.my_items) if item.category not in self.holdings]
        self._withholds(contract, bool(lacking), "bluff", f"items {lacking} not held")
        return [d for d in super().perform(contract) if d.item_index not in lacking]


@dataclass
class Reneger(_Adversary):
    """Accepts, then does not deliver: from its ``after``-th contract on (0: from the first), with
    probability ``act_rate`` per contract, it withholds every item. Ground truth: ``renege`` acts.
    Detection: the counterparty's BreachClaim is upheld; its attestation says BREACHED.

    With ``max_stake`` > 0 (the red-team variant, SPEC 19.5) it reneges only where what it owes is
    worth at most ``max_stake`` and performs the rest: a record weighted by stake stays high while it
    keeps every small item. Detection: each bonded breach is still a ``breach`` proof."""

    after: int = 0
    max_stake: int = 0
    _count: int = field(default=0, repr=False)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        if contract.contract_id not in self._decided:
            self._count += 1
            small = not self.max_stake or sum(i.value for i in contract.my_items) <= self.max_stake
            self._withholds(contract, small and self._count > self.after and self._roll(), "renege")
        return [] if self._decided[contract.contract_id] else super().perform(contract)


@dataclass
class Feinter(_Adversary):
    """Cooperates while stakes and trust are low, defects when they are high.

    It withholds (with probability ``act_rate``) under a contract where the declared value it would keep
    by not delivering is at least ``stake_threshold``, or once it has fulfilled ``warmup`` contracts
    with that counterparty (its trust is then high); otherwise it delivers. Ground truth: ``feint``
    acts. Detection: after a clean record, a BreachClaim upheld on the high-stakes contract.
    """

    stake_threshold: int = 1000
    warmup: int = 3
    _history: dict[str, int] = field(default_factory=dict, repr=False)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        if contract.contract_id not in self._decided:
            stake = sum(i.value for i in contract.my_items)
            done = self._history.get(contract.counterparty, 0)
            high = stake >= self.stake_threshold or done >= self.warmup
            decide = high and self._roll()
            if not decide:
                self._history[contract.counterparty] = done + 1
            self._withholds(contract, decide, "feint", f"stake {stake}, {done} earlier contracts")
        return [] if self._decided[contract.contract_id] else super().perform(contract)


@dataclass
class Cartel(_Adversary):
    """A group trading among itself on better terms and refusing equivalent outside offers.

    From a member (an agent did:key in ``members``) it accepts anything worth ``inside_ratio`` or
    more; from an outsider it rejects (with probability ``act_rate``) even an offer worth an even trade
    or better, and it offers only to members. Ground truth: ``exclude`` acts. Detection: outsiders
    hold its signed Rejects of fair offers; the pattern (fair outside offers refused, worse inside
    ones taken) is visible to whoever sees both.

    With ``counter_ask`` > 0 (the red-team variant, SPEC 19.5) it never signs a Reject of an
    outsider: it answers each outside offer it excludes with a Counter asking ``counter_ask`` times
    an even trade (no outsider takes it), so the outsider ends the negotiation. Detection: the
    cartel screen counts a Counter of the subject's in a negotiation that formed no contract as a
    refusal of the offer it answered.
    """

    members: frozenset[str] = frozenset()
    inside_ratio: float = 0.5
    counter_ask: float = 0.0

    def respond(self, offer: OfferView) -> Reply:
        if offer.counterparty in self.members:
            return Accept() if ratio(offer) >= self.inside_ratio else Reject("below our terms")
        if self._roll():
            self.truth.append(Act("exclude", offer.negotiation_id.hex(), f"ratio {ratio(offer):.2f}"))
            if self.counter_ask > 0:
                return counter_at(offer, self.counter_ask)
            return Reject("not trading")
        return super().respond(offer)

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        return proposal if counterparty in self.members else None


@dataclass
class SybilRing(_Adversary):
    """Fresh identities that trade with and rate each other, then cheat outsiders.

    Inside the ring (agent did:keys in ``ring``) it accepts everything, delivers everything and
    rates 100; with an outsider it accepts fair offers and then withholds (with probability
    ``rate``). Ground truth: ``sybil`` acts (each breach of an outsider). Detection: the ring's
    attestations of each other carry no trust from an honest viewer's seeds (EigenTrust: no path),
    so its members stay at the prior; outsiders' BreachClaims are upheld.
    """

    ring: frozenset[str] = frozenset()

    def respond(self, offer: OfferView) -> Reply:
        return Accept() if offer.counterparty in self.ring else super().respond(offer)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        outsider = contract.counterparty not in self.ring
        if self._withholds(contract, outsider and self._roll(), "sybil"):
            return []
        return super().perform(contract)

    def rate(self, delivery: DeliveryView) -> int | None:
        return 100 if delivery.contract.counterparty in self.ring else self.rating


@dataclass
class Opportunist(_Adversary):
    """Defects only where it expects not to be caught: under a contract with no bond (so no escrow
    holds anything to forfeit and no attestation carries stake, ATT-004) it withholds with
    probability ``act_rate``; under a bonded contract it delivers. A contract counts as unbonded when
    it is first asked to perform it in state ACCEPTED (a bonded one is performed from BONDED on).
    Ground truth: ``opportunism`` acts. Detection: none by the escrow (nothing was at stake); in
    the verifiable world, where every trade is bonded, it never defects."""

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        unbonded = contract.state == "ACCEPTED"
        if self._withholds(contract, unbonded and self._roll(), "opportunism"):
            return []
        return super().perform(contract)
