"""Multi-issue negotiation through the protocol: a domain, its Offer encoding, time-based negotiators.

**Domain.** A *buyer* and a *seller* agree on a bundle the seller provides for a fixed price. Each
issue is one resource of the bundle; an outcome gives, for each issue in the domain's order, how
many units of it the seller provides: a quantity from 1 to ``levels``. :func:`opposed` builds the
domain of issue 13's parity check: linear preferences in opposite directions -- the buyer's utility
``sum_i w_i (q_i - 1) / (levels - 1)``, the seller's ``sum_i v_i (levels - q_i) / (levels - 1)``,
weights summing to one, so each side's utility runs from 0 to 1. With equal weights (the default)
the domain is zero-sum: whatever one side gains the other loses. Unequal weights leave room for
trade-offs across issues.

**Encoding.** An Offer or Counter carries an outcome in its items, from its issuer's side as ever
(SPEC 7.2: ``gives`` is what the issuer gives). The seller's side -- the issuer's ``gives`` when
the seller writes, its ``wants`` when the buyer does -- holds exactly one Item per issue: kind
``ITEM_KIND_RESOURCE``, ``category`` the issue's name, ``unit`` ``"unit"``, ``quantity`` the
outcome's quantity for that issue, ``value`` the quantity times ``unit_value``. The buyer's side
holds one Item: kind ``ITEM_KIND_CREDIT``, category ``"payment"``, quantity 1, value ``price``. An
Offer with an issue missing or repeated, an unknown one, a quantity outside 1..levels, or any other
payment carries no outcome (:class:`NotAnOutcome`): the negotiators reject it.

**Time.** A negotiation has ``steps`` steps, counted as NegMAS's SAO mechanism counts them: in a
step each side makes one offer. The buyer opens. The Offer or Counter numbered ``n``
(``OfferView.round``: 1 for the opening, one more per Counter) is answered at step ``n // 2``, at
relative time ``t = (n // 2 + 1) / (steps + 1)`` (the opening itself is made at step 0); at step
``steps`` time is up and the answer is a Reject.

**Concession.** At time t a negotiator wants ``target(t) = d + (hi - d) * (1 - t ** (1 / e))``
(:func:`~reference_agents.cooperative.concession`, the GENIUS convention): ``hi`` is its best
utility, ``d`` its reservation value (or its lowest utility, if that is higher), ``e`` the
concession exponent: ``e < 1`` Boulware, ``e > 1`` Conceder. It accepts an offer worth at least
``target - tolerance`` to it; otherwise it counters with the outcome worth the least to it among
those worth at least that. NegMAS's ``TimeBasedConcedingNegotiator`` (``PolyAspiration``,
non-stochastic: ``worst_in``) does the same with the exponent written inversely: its ``e'`` is our
``1 / e``. Of several outcomes worth exactly as much to us, ours counters with the one nearest (in
squared quantity differences) to the offer it answers -- the trade-off the counterparty showed it
prefers -- and opens with the first in the domain's order; NegMAS takes whichever its sort puts
first. In a zero-sum domain (equal weights) ties are worth the same to both sides too, and the two
agree exactly; with unequal weights the choice among ties moves the deal (README, parity).
NegMAS's ``BoulwareTBNegotiator`` (``e' = 4``) is our ``e = 0.25``, its ``ConcederTBNegotiator``
(``e' = 0.25``) our ``e = 4``.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import Accept, Counter, HonestStrategy, OfferView, Reject, Reply
from reference_agents.cooperative import concession

Outcome = tuple[int, ...]
ROLES = ("buyer", "seller")
PAYMENT = "payment"


class NotAnOutcome(ValueError):
    """An Offer whose items do not encode an outcome of the domain."""


@dataclass(frozen=True)
class Domain:
    """Issues (each a resource of the bundle), quantities 1..levels, a fixed price for the bundle."""

    issues: tuple[str, ...]
    levels: int
    price: int = 1000
    unit_value: int = 10

    def __post_init__(self) -> None:
        if not self.issues or len(set(self.issues)) != len(self.issues) or PAYMENT in self.issues:
            raise ValueError(f"need distinct issue names other than {PAYMENT!r}")
        if self.levels < 2 or len(self.issues) > 32:
            raise ValueError("need levels >= 2 and at most 32 issues (BDY-001)")

    def outcomes(self) -> Iterator[Outcome]:
        """Every outcome, in the domain's order (lexicographic in the issues' quantities)."""
        return itertools.product(range(1, self.levels + 1), repeat=len(self.issues))

    def encode(
        self, outcome: Outcome, *, issuer: str, terms: trade_pb2.Terms, deadline_ms: int
    ) -> trade_pb2.Offer:
        """The Offer proposing ``outcome``, written by ``issuer`` ("buyer" or "seller")."""
        if issuer not in ROLES:
            raise ValueError(f"issuer must be one of {ROLES}")
        if len(outcome) != len(self.issues) or not all(1 <= q <= self.levels for q in outcome):
            raise NotAnOutcome(f"{outcome!r} is not an outcome of this domain")
        bundle = [
            trade_pb2.Item(
                kind=trade_pb2.ITEM_KIND_RESOURCE,
                category=issue,
                description=issue,
                quantity=q,
                unit="unit",
                value=q * self.unit_value,
                deadline_ms=deadline_ms,
            )
            for issue, q in zip(self.issues, outcome, strict=True)
        ]
        payment = trade_pb2.Item(
            kind=trade_pb2.ITEM_KIND_CREDIT,
            category=PAYMENT,
            description="the bundle's price",
            quantity=1,
            unit="credit",
            value=self.price,
            deadline_ms=deadline_ms,
        )
        offer = trade_pb2.Offer(terms=terms)
        seller_side, buyer_side = (
            (offer.gives, offer.wants) if issuer == "seller" else (offer.wants, offer.gives)
        )
        seller_side.extend(bundle)
        buyer_side.append(payment)
        return offer

    def decode(self, offer: trade_pb2.Offer, *, issuer: str) -> Outcome:
        """The outcome an Offer written by ``issuer`` carries.

        Raises:
            NotAnOutcome: the seller's side is not one Item per issue with a quantity in range, or the
                buyer's side is not the payment of the price.
        """
        bundle, paid = (offer.gives, offer.wants) if issuer == "seller" else (offer.wants, offer.gives)
        if [(i.category, i.value) for i in paid] != [(PAYMENT, self.price)]:
            # The price is fixed: an offer that pays less (or asks for more) is not in the domain.
            raise NotAnOutcome(f"the buyer's side must be one {PAYMENT!r} item of value {self.price}")
        quantities: dict[str, int] = {}
        for item in bundle:
            if item.category not in self.issues or item.category in quantities:
                raise NotAnOutcome(f"unexpected or repeated issue {item.category!r}")
            if not 1 <= item.quantity <= self.levels:
                raise NotAnOutcome(f"{item.category}: quantity {item.quantity} outside 1..{self.levels}")
            quantities[item.category] = item.quantity
        missing = [i for i in self.issues if i not in quantities]
        if missing:
            raise NotAnOutcome(f"no quantity for {', '.join(missing)}")
        return tuple(quantities[i] for i in self.issues)


@dataclass(frozen=True)
class LinearUtility:
    """``sum_i weights[i] * x_i`` where x_i runs from 0 to 1 over issue i's quantities: upwards for
    the buyer (more is better), downwards for the seller."""

    domain: Domain
    weights: tuple[float, ...]
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        if len(self.weights) != len(self.domain.issues) or any(w < 0 for w in self.weights):
            raise ValueError("need one non-negative weight per issue")
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise ValueError("weights must sum to 1")

    def __call__(self, outcome: Outcome) -> float:
        span = self.domain.levels - 1
        if self.role == "buyer":
            return sum(w * (q - 1) / span for w, q in zip(self.weights, outcome, strict=True))
        return sum(w * (self.domain.levels - q) / span for w, q in zip(self.weights, outcome, strict=True))


def opposed(
    issues: int = 3,
    levels: int = 10,
    *,
    weights_buyer: Sequence[float] | None = None,
    weights_seller: Sequence[float] | None = None,
) -> tuple[Domain, LinearUtility, LinearUtility]:
    """A domain of ``issues`` issues with ``levels`` quantities each, and the buyer's and the seller's
    opposed linear utilities (equal weights unless given)."""
    domain = Domain(tuple(f"issue-{k + 1}" for k in range(issues)), levels)
    even = (1 / issues,) * issues
    return (
        domain,
        LinearUtility(domain, tuple(weights_buyer or even), "buyer"),
        LinearUtility(domain, tuple(weights_seller or even), "seller"),
    )


def step_of(round_: int) -> int:
    """The step at which the Offer or Counter numbered ``round_`` is answered (module docstring)."""
    return round_ // 2


@dataclass(kw_only=True)
class IssueNegotiator(HonestStrategy):
    """A time-based negotiator over a multi-issue :class:`Domain` (the module docstring says how).

    Args:
        utility: our utility function; its role says which side we are.
        exponent: e in the GENIUS convention: below 1 Boulware, above 1 Conceder.
        reserve: our reservation value.
        steps: the negotiation's length in steps.
        tolerance: how far below the target an offer may fall and still be accepted.
    """

    utility: LinearUtility
    exponent: float
    reserve: float = 0.25
    steps: int = 100
    tolerance: float = 1e-4
    _ranked: list[tuple[float, Outcome]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.exponent <= 0 or self.steps < 1:
            raise ValueError("need exponent > 0 and steps >= 1")
        # Utilities rounded so that float noise does not order equal ones: ties go by the domain order.
        self._ranked = sorted((round(self.utility(o), 12), o) for o in self.domain.outcomes())

    @property
    def domain(self) -> Domain:
        return self.utility.domain

    @property
    def role(self) -> str:
        return self.utility.role

    @property
    def other(self) -> str:
        return "seller" if self.role == "buyer" else "buyer"

    @cached_property
    def _utilities(self) -> list[float]:
        return [u for u, _ in self._ranked]

    def time(self, step: int) -> float:
        """Relative time of ``step`` (as NegMAS's ``relative_time``)."""
        return (step + 1) / (self.steps + 1)

    def target(self, step: int) -> float:
        lo, hi = self._utilities[0], self._utilities[-1]
        return concession(self.time(step), self.exponent, hi, max(self.reserve, lo))

    def choose(self, step: int, near: Outcome | None = None) -> Outcome:
        """What we offer at ``step``: the outcome worth least to us among those worth the target; of
        several worth exactly that, the nearest to ``near`` (the counterparty's offer), else the first."""
        k = min(
            bisect.bisect_left(self._utilities, self.target(step) - self.tolerance), len(self._ranked) - 1
        )
        if near is None:
            return self._ranked[k][1]
        ties = self._ranked[k : bisect.bisect_right(self._utilities, self._utilities[k])]
        return min(ties, key=lambda uo: sum((a - b) ** 2 for a, b in zip(uo[1], near, strict=True)))[1]

    def opening(self, terms: trade_pb2.Terms, deadline_ms: int) -> trade_pb2.Offer:
        """Our opening Offer (step 0) under ``terms``, its items due by ``deadline_ms``."""
        return self.domain.encode(self.choose(0), issuer=self.role, terms=terms, deadline_ms=deadline_ms)

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        """The opening, with the terms and the first deadline of the default ``proposal``."""
        deadline = next((i.deadline_ms for i in [*proposal.gives, *proposal.wants]), 0)
        return self.opening(proposal.terms, deadline)

    def respond(self, offer: OfferView) -> Reply:
        step = step_of(offer.round)
        if step >= self.steps:
            return Reject(f"no agreement within {self.steps} steps")
        try:
            outcome = self.domain.decode(offer.proposal, issuer=self.other)
        except NotAnOutcome as exc:
            return Reject(f"not an outcome of the domain: {exc}")
        if self.utility(outcome) >= self.target(step) - self.tolerance:
            return Accept()
        mine = self.domain.encode(
            self.choose(step, near=outcome),
            issuer=self.role,
            terms=_swapped(offer.proposal.terms),
            deadline_ms=next(i.deadline_ms for i in offer.proposal.gives),
        )
        return Counter(mine)


def _swapped(terms: trade_pb2.Terms) -> trade_pb2.Terms:
    """The terms of a counter: the bonds swap sides with the roles (we become its issuer)."""
    mine = trade_pb2.Terms()
    mine.CopyFrom(terms)
    mine.issuer_bond, mine.audience_bond = terms.audience_bond, terms.issuer_bond
    return mine


__all__ = ["Domain", "IssueNegotiator", "LinearUtility", "NotAnOutcome", "Outcome", "opposed", "step_of"]
