"""Cooperative reference agents: they deliver what they sign for and sign only what they mean.

Every agent is a :class:`~a2a_coop.runtime.strategy.Strategy` (respond, perform, rate); none signs
anything: the peer's policy guard decides what is signed.

Utility. An offer's worth to us is the *ratio* of the declared value we would receive to the declared
value we would give (:func:`ratio`): 1.0 is an even trade. The time-based negotiators aim at a ratio
that falls from ``start`` to ``reserve`` as the negotiation's rounds run out.

Bargaining domain. A trade's *pie* is the declared value of both sides' items together: in the
population simulators (:mod:`reference_agents.sim`, :mod:`reference_agents.population`) every trade
opens as one ``work`` item for one, each declared at ``VALUE``, a pie of ``2 * VALUE``. What is
bargained over is how the pie is split, not how big it is: a counter (:func:`counter_at`) keeps the
pie and re-splits it at the ratio asked. With a fixed pie ``P`` and a received item worth ``GAIN``
(> 1) times its declared value, receiving ``r`` and giving ``P - r`` is worth ``GAIN * r - (P - r)``
to one side and ``GAIN * (P - r) - r`` to the other: an agreement's welfare is ``(GAIN - 1) * P``
whatever the split, and the Nash point (disagreement at zero) is the even split, ratio 1. Until the
twentieth session a counter scaled up the declared value of what the other side gives (a price
asked) and the pie grew with every counter: two haggling time-based agents signed trades of 3.4 and
3.8 times the opening's value, and a payoff over declared values paid both for the volume (issue 13).
The simulators now also count every contract at the world's pie (sim.py, "Payoffs"), so a strategy
that inflates declared values without this function gains nothing either.

Concession exponent. Ours follows GENIUS (Faratin, Sierra & Jennings; Fatima et al.): the target at
time t in [0, 1] is ``reserve + (start - reserve) * (1 - t ** (1 / e))``; ``e < 1`` is *Boulware*
(holds firm, concedes at the end), ``e > 1`` *Conceder* (concedes early), ``e = 1`` linear. NegMAS's
``TimeBasedConcedingNegotiator`` writes the exponent inversely (its ``t ** e``): its Boulware is
``e > 1``. Pass our ``e`` as ``1 / e`` to compare.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.audit import RATIO_SUBJECT
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


def _spread(items: Sequence[trade_pb2.Item], goal: int) -> None:
    """Set the declared values of ``items`` to sum to ``max(goal, len(items))``: 1 each, and the rest
    in proportion to their values now (evenly if those are all 0), by largest remainder."""
    weights = [max(0, i.value) for i in items] if any(i.value > 0 for i in items) else [1] * len(items)
    rest = max(goal, len(items)) - len(items)
    shares = [w * rest / sum(weights) for w in weights]
    values = [math.floor(s) for s in shares]
    for k in sorted(range(len(items)), key=lambda k: (values[k] - shares[k], k))[: rest - sum(values)]:
        values[k] += 1
    for item, value in zip(items, values, strict=True):
        item.value = 1 + value


def counter_at(offer: OfferView, target: float) -> Counter:
    """Our counter to ``offer`` asking ``target`` times what we give, written from our side (``gives``
    = what we give): the same items, and the same *pie* -- the declared value of both sides' items
    together -- re-split so that what we receive over what we give is ``target`` (module docstring,
    "Bargaining domain"). Each side's items keep their proportions; values are integers of at least
    1, and the pie is kept exactly whenever it holds at least one unit per item. A side with no
    items leaves nothing to split: the values are kept as they are."""
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
    if mine.gives and mine.wants:
        pie = offer.value_offered + offer.value_asked
        receive = round(pie * target / (1 + target))
        receive = min(max(receive, len(mine.wants)), pie - len(mine.gives))
        _spread(mine.wants, receive)
        _spread(mine.gives, pie - receive)
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

    Its target at round r (1 for the opening offer, one more per counter) is the concession curve at
    ``t = (r - 1) / (max_rounds - 1)``: ``start`` at round 1, ``reserve`` at ``max_rounds``. At round
    r it accepts an offer worth at least ``target(r)``; otherwise, before ``max_rounds``, it counters
    asking ``target(r + 1)`` -- the round in which the counterparty answers the counter, and the least
    it accepts itself then -- so its last counter asks ``reserve``; at ``max_rounds`` it rejects.
    (Until the nineteenth session it countered at ``target(r)``: the Boulware's last counter asked
    1.115 and reached another Boulware as 0.897, below its reserve 0.9, and two never agreed.)

    Args:
        exponent: e; below 1 Boulware, above 1 Conceder.
        start: the least ratio accepted at round 1 (the curve's start).
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
        # The counter is answered in the next round, where we accept no less than that round's target.
        return counter_at(offer, self.target(offer.round + 1))


@dataclass
class NashBargainer(HonestStrategy):
    """Aims at the Nash bargaining solution of the reference domain.

    With linear utilities in the declared values, a fixed pie (module docstring, "Bargaining
    domain") and disagreement at zero, the product of the two sides' gains
    ``(GAIN * r - (P - r)) * (GAIN * (P - r) - r)`` is symmetric in the split and largest at the even
    one, ``r = P / 2``: ratio 1. It accepts any offer within ``tolerance`` of it (or better), and
    otherwise counters at exactly ratio 1; it never asks more than even, so two Nash bargainers agree
    at once.
    """

    tolerance: float = 0.02

    def respond(self, offer: OfferView) -> Reply:
        if ratio(offer) >= 1.0 - self.tolerance:
            return Accept()
        return counter_at(offer, 1.0)


def reservation_claim(proposal: trade_pb2.Offer) -> int | None:
    """The highest open RESERVATION_VALUE claim (subject ``ratio-permille``) in ``proposal``, or None
    (a committed claim, SPEC 7.5, is not readable before its Reveal)."""
    amounts = [
        c.amount
        for c in proposal.claims
        if c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE
        and c.subject == RATIO_SUBJECT
        and c.WhichOneof("value") == "amount"
    ]
    return max(amounts) if amounts else None


def held_claims(proposal: trade_pb2.Offer) -> dict[str, int]:
    """The open HOLDING claims of ``proposal``: category -> amount claimed held."""
    out: dict[str, int] = {}
    for c in proposal.claims:
        if c.kind == trade_pb2.CLAIM_KIND_HOLDING and c.WhichOneof("value") == "amount":
            out[c.subject] = max(out.get(c.subject, 0), c.amount)
    return out


@dataclass(frozen=True)
class Disbelief:
    """A counterparty whose claims a :class:`ClaimAware` agent stopped believing: ``counterparty``'s
    reservation claim ``claimed`` (permille) in ``negotiation`` (hex) and the ratio it then agreed to."""

    counterparty: str
    negotiation: str
    claimed: int
    agreed: int


CLAIMS_KEPT: Final = 10_000  # negotiations whose reservation claims a ClaimAware agent remembers


@dataclass
class ClaimAware(HonestStrategy):
    """A Nash bargainer that reads the claims its counterparties sign, as a real agent would.

    *Reservation claims.* Its own reservation is ``reserve`` (the lowest ratio it accepts). A
    counterparty that claims a reservation ``r`` (RESERVATION_VALUE, subject ``ratio-permille``: the
    lowest ratio *it* accepts) leaves it the ratios in ``[reserve, 1 / r]``; over that range the Nash
    product ``(x - reserve) * (1 / x - r)`` is largest at ``x = sqrt(reserve / r)``, so it aims at
    ``max(reserve, min(1, sqrt(reserve / r)))``: an even split (1) for a claim at or below its own
    reserve, less the higher the claim. With no claim it aims at an even split (the ``nash`` agent).
    *Holding claims.* It counts each item offered at ``prior`` of its value (the chance the
    counterparty holds it) unless it is *backed*: claimed held (HOLDING, amount >= quantity) in cheap
    talk; in the verifiable world (``verify``), bonded instead -- up to the bond its issuer locks at
    the escrow the offer names, the value offered counts in full -- since a bare holding claim with no
    escrow deposit is backed by nothing a verifier can check, and a bond pays for what is not
    delivered. NEED claims change no ratio and are ignored.
    *Symmetric risk.* What it gives is counted by the same rule (:meth:`exposure`: backed by a bond
    of its own, as ``audience_bond``, when ``verify``; in cheap talk never, as it signs no HOLDING
    claim). It accepts an offer whose counted ratio is within ``tolerance`` of its aim -- or, failing
    that, one at least even net of that risk (:meth:`net_credence`: the credence of their side over
    ours, capped at 1, since it pays no premium for its own unbacked side) -- and never one whose
    counted ratio is below ``reserve``. Both sides unbacked alike, the risk-adjusted bargaining problem
    is symmetric and its Nash point is the even trade in declared values: a premium for a risk it
    imposes in equal measure made the even trade unacceptable to two readers at once (they deadlocked
    in cheap talk, where nothing is backed, until the eighteenth session). The relief stops at that
    even split: what it accepts beyond the old rule is never better than even for the counterparty,
    so a liar's ask (a reservation claim leaves the aim below 1) is paid no more than before. Its
    *first* counter in a negotiation (rounds 1 and 2) asks the aim scaled up by the whole discount;
    later ones at most the risk-adjusted even split, which a reader of the same rule accepts; none
    below ``reserve``. It rejects at round ``max_rounds``. It delivers everything and rates every
    delivery.
    *Checking* (``verify``): it stops believing every claim of a counterparty that agreed, in a
    negotiation where it claimed reservation ``r``, to a contract giving it a ratio below ``r`` -- the
    contradiction the audit proves from that counterparty's own signed claim and Accept
    (``broken-reservation``, SPEC 19.2); a driver holding more evidence (an audit, gossip) may add one
    by :meth:`discredit`. Without ``verify`` (cheap talk: unsigned claims prove nothing) it believes
    every claim. Ground truth: it deceives in nothing; ``disbelieved`` records each counterparty it
    stopped believing and why.
    """

    reserve: float = 0.7
    tolerance: float = 0.02
    prior: float = 0.9
    verify: bool = True
    max_rounds: int = 8
    disbelieved: list[Disbelief] = field(default_factory=list, repr=False)
    _claimed: dict[bytes, tuple[str, int]] = field(default_factory=dict, repr=False)
    _discredited: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.reserve <= 1 or not 0 < self.prior <= 1 or self.max_rounds < 1:
            raise ValueError("need 0 < reserve <= 1, 0 < prior <= 1 and max_rounds >= 1")

    def discredit(self, counterparty: str) -> None:
        """Believe no claim of ``counterparty`` from now on (only with ``verify``)."""
        self._discredited.add(counterparty)

    def believes(self, counterparty: str) -> bool:
        """Whether it reads ``counterparty``'s claims at all."""
        return not (self.verify and counterparty in self._discredited)

    def aim(self, offer: OfferView) -> float:
        """The ratio it aims at in reply to ``offer`` (see the class docstring)."""
        claimed = reservation_claim(offer.proposal) if self.believes(offer.counterparty) else None
        if claimed is None or claimed <= 0:
            return 1.0
        return max(self.reserve, min(1.0, math.sqrt(self.reserve * 1000 / claimed)))

    def credence(self, offer: OfferView) -> float:
        """The share of the offered value it counts (1 when every item is backed, see the docstring)."""
        offered = offer.value_offered
        if offered == 0:
            return 1.0
        terms = offer.proposal.terms
        if self.verify:  # the bond pays for what is not delivered, up to its amount
            covered = min(offered, terms.issuer_bond) if terms.escrow else 0
            return (covered + self.prior * (offered - covered)) / offered
        held = held_claims(offer.proposal)
        counted = sum(
            i.value * (1.0 if held.get(i.category, -1) >= i.quantity else self.prior)
            for i in offer.proposal.gives
        )
        return counted / offered

    def exposure(self, offer: OfferView) -> float:
        """The share of the value *we* would give that the same rule counts for the counterparty: our
        own bond (``audience_bond``) backs it when ``verify``; in cheap talk nothing does (we sign no
        HOLDING claim), so it is ``prior``."""
        asked = offer.value_asked
        if asked == 0:
            return 1.0
        terms = offer.proposal.terms
        covered = min(asked, terms.audience_bond) if self.verify and terms.escrow else 0
        return (covered + self.prior * (asked - covered)) / asked

    def net_credence(self, offer: OfferView) -> float:
        """The credence net of the risk our own side carries for the counterparty (capped at 1)."""
        return min(1.0, self.credence(offer) / self.exposure(offer))

    def respond(self, offer: OfferView) -> Reply:
        claimed = reservation_claim(offer.proposal)
        if claimed is not None:
            prior = self._claimed.pop(offer.negotiation_id, (offer.counterparty, 0))[1]
            self._claimed[offer.negotiation_id] = (offer.counterparty, max(prior, claimed))
            # A negotiation that ends without a contract never reaches perform: keep only the most
            # recent CLAIMS_KEPT (re-inserted above, the oldest first), so a long-lived peer stays bounded.
            while len(self._claimed) > CLAIMS_KEPT:
                del self._claimed[next(iter(self._claimed))]
        goal, counted, net = self.aim(offer), self.credence(offer), self.net_credence(offer)
        got = ratio(offer)
        # Its aim over what it counts, or else the even trade net of the risk both sides carry: the
        # relief never accepts less than that even split, and never a ratio it counts below reserve.
        aimed = got * counted >= goal - self.tolerance or got * net >= 1.0 - self.tolerance
        if aimed and got * counted >= self.reserve - self.tolerance:
            return Accept()
        if offer.round >= self.max_rounds:
            return Reject(f"below our aim after {offer.round} rounds")
        # The first counter asks the whole discount, later ones at most the risk-adjusted even split.
        asked = goal / counted if offer.round <= 2 else min(goal / counted, 1.0 / net)
        return counter_at(offer, max(self.reserve / counted, asked))

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        seen = self._claimed.pop(contract.negotiation_id, None)
        if seen is not None and self.verify:
            party, claimed = seen
            got = sum(i.value for i in contract.my_items)  # what the counterparty receives
            gave = sum(i.value for i in contract.their_items)
            agreed = 10**9 if gave == 0 else round(1000 * got / gave)
            if agreed < claimed and party not in self._discredited:
                self.discredit(party)
                self.disbelieved.append(Disbelief(party, contract.negotiation_id.hex(), claimed, agreed))
        return super().perform(contract)
