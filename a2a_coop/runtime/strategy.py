"""The deciding layer: what a framework author implements to plug in their own agent logic.

A strategy only *proposes*. It sees read-only views of offers, contracts and
deliveries and answers with small decision objects; the peer turns each
decision into a statement, runs the policy guard on it (mandate, chain,
negotiation rules: SPEC.md MND-011) and signs only what passes. A strategy
cannot sign, cannot touch the chain and cannot exceed its principal's
mandate, however it is written: rule-based, learned, or an LLM.

Implement :class:`Strategy` (three methods) or subclass :class:`HonestStrategy`.
Points of view: in an :class:`OfferView` the proposal is shown as the
counterparty wrote it (``gives`` is what *they* give); a :class:`Counter` is
written from *your* side (``gives`` is what *you* give).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from a2a_coop._proto.a2acoop.v1 import trade_pb2


@dataclass(frozen=True)
class OfferView:
    """An offer (or counter) addressed to us that we may accept, counter or reject."""

    negotiation_id: bytes
    counterparty: str
    proposal: trade_pb2.Offer  # as the counterparty wrote it: gives = what they give
    round: int  # 1 for the opening offer, +1 for each counter
    expires_at_ms: int

    @property
    def value_offered(self) -> int:
        """Declared value of what the counterparty would give."""
        return sum(i.value for i in self.proposal.gives)

    @property
    def value_asked(self) -> int:
        """Declared value of what we would give."""
        return sum(i.value for i in self.proposal.wants)


@dataclass(frozen=True)
class ContractView:
    """A contract we are party to."""

    negotiation_id: bytes
    contract_id: bytes
    counterparty: str
    my_items: Sequence[trade_pb2.Item]
    their_items: Sequence[trade_pb2.Item]
    delivered_by_me: frozenset[int]
    state: str


@dataclass(frozen=True)
class DeliveryView:
    """A delivery the counterparty made to us."""

    contract: ContractView
    item_index: int
    item: trade_pb2.Item
    artifact_digest: bytes
    uri: str
    issued_at_ms: int


@dataclass(frozen=True)
class Accept:
    """Take the offer as it stands."""


@dataclass(frozen=True)
class Counter:
    """Replace the offer with ours; ``proposal.gives`` is what we give."""

    proposal: trade_pb2.Offer


@dataclass(frozen=True)
class Reject:
    """Decline and end the negotiation."""

    reason: str = ""


Reply = Accept | Counter | Reject


@dataclass(frozen=True)
class Deliver:
    """Perform item ``item_index`` of our side now."""

    item_index: int
    artifact_digest: bytes = b""
    uri: str = ""


class Strategy(Protocol):
    """The three decisions a peer asks its deciding layer for."""

    def respond(self, offer: OfferView) -> Reply:
        """Accept, counter or reject an offer addressed to us."""
        ...

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        """Which of our items to deliver now (called whenever the contract may progress)."""
        ...

    def rate(self, delivery: DeliveryView) -> int | None:
        """Receipt a delivery with a rating 0..100, or None to withhold the receipt."""
        ...


@dataclass
class HonestStrategy:
    """Accept fair offers, deliver everything owed at once, receipt what arrives.

    Args:
        min_ratio: accept when value offered >= min_ratio * value asked.
        rating: the rating given to every delivery.
    """

    min_ratio: float = 0.8
    rating: int = 90
    artifacts: dict[tuple[bytes, int], bytes] = field(default_factory=dict)

    def respond(self, offer: OfferView) -> Reply:
        if offer.value_offered >= self.min_ratio * offer.value_asked:
            return Accept()
        return Reject("value offered is too low")

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return [
            Deliver(i, self.artifacts.get((contract.contract_id, i), b""))
            for i in range(len(contract.my_items))
            if i not in contract.delivered_by_me
        ]

    def rate(self, delivery: DeliveryView) -> int | None:
        return self.rating


@dataclass
class WithholdingStrategy(HonestStrategy):
    """Honest in everything, except that it never delivers on every ``every``-th contract.

    Contracts are counted in the order this strategy is first asked to perform
    them (1 = never delivers at all), in memory only: a restarted peer counts
    afresh. Demos and tests use it to produce a breach to claim.
    """

    every: int = 2
    _order: dict[bytes, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("every must be at least 1")

    def withholds(self, contract_id: bytes) -> bool:
        """Whether this strategy withholds (or would withhold) its items under ``contract_id``."""
        n = self._order.setdefault(contract_id, len(self._order) + 1)
        return n % self.every == 0

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        if self.withholds(contract.contract_id):
            return []
        return super().perform(contract)


class Proposer(Protocol):
    """Optional: the initiating side's decision, for strategies that choose whom to offer to and what.

    Whoever drives a trade (a simulation, a script, ``run_trade``'s caller) asks the strategy before
    proposing: given the counterparty and a default ``proposal`` (``gives`` is what *we* give), it
    answers the proposal to send, possibly changed (its claims, its values), or None to make no offer.
    Like every decision, it only proposes: the offer is still built, checked by the policy guard and
    signed by the peer (``Peer.propose``).
    """

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        """The proposal to offer ``counterparty``, or None to offer nothing."""
        ...


def opening(strategy: object, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
    """What ``strategy`` would offer ``counterparty``: its :class:`Proposer` answer if it has one,
    else ``proposal`` unchanged (every strategy that does not choose offers as asked)."""
    propose = getattr(strategy, "propose", None)
    if propose is None:
        return proposal
    answer: trade_pb2.Offer | None = propose(counterparty, proposal)
    return answer
