"""A peer's reputation view and its trust policy (SPEC.md 10.3 and 10.7, ATT-016).

Theory of operation. :class:`Reputation` is one viewer's
:class:`~a2a_coop.protocol.trust.TrustView` over the evidence its verifier holds
-- the attestations it was sent or gossiped, the escrows' settlements, the fork
proofs it has seen -- with its own principal and the principals it was told to
pre-trust as seeds, and only its configured escrows' locks as stake. It is
recomputed when the evidence changes, and at most hourly otherwise (decay moves
slowly).

:class:`TrustPolicy` is what an operator configures: refuse counterparties that
score below ``refuse_below``; demand a bond of at least ``min_bond`` from those
below ``bond_below``. The peer's policy guard enforces it on every Offer, Counter
and Accept before signing (:meth:`TrustPolicy.check`), whatever the deciding
layer proposed, and answers an offer that asks too small a bond of its issuer with
a Counter that demands it (:func:`demand_bond`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.reputation import Rating, faulty_of, principals_of, rate
from a2a_coop.protocol.trust import RatingTable, Score, TrustParams, TrustView, aggregate
from a2a_coop.runtime.evidence import EvidenceVerifier

MAX_AMOUNT: Final = 2**53 - 1  # BDY-015
RECOMPUTE_MS: Final = 3_600_000


@dataclass(frozen=True)
class TrustPolicy:
    """Whom a peer trades with, by score in its view (ATT-016).

    Attributes:
        refuse_below: counterparties scoring below this are refused (no offer, counter or accept).
        bond_below: counterparties scoring below this must lock at least ``min_bond``; so must those
            scoring above it whose vouched stake (:attr:`Score.vouched_stake`) is below the value
            of what we give them under the terms at hand: a good record on small stakes buys
            small unbonded deals only.
        min_bond: the bond demanded of them, in the contract's currency.
        seeds: principals pre-trusted besides our own (ATT-009).
        params: the aggregation's parameters.

    Raises:
        ValueError: a threshold outside [0, 1], a bond outside 0..2^53 - 1, or bond_below without
            a min_bond.
    """

    refuse_below: float = 0.0
    bond_below: float = 0.0
    min_bond: int = 0
    seeds: frozenset[str] = frozenset()
    params: TrustParams = field(default_factory=TrustParams)

    def __post_init__(self) -> None:
        for name in ("refuse_below", "bond_below"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a score between 0 and 1")
        if not 0 <= self.min_bond <= MAX_AMOUNT:
            raise ValueError(f"min_bond must be within 0..{MAX_AMOUNT}")
        if self.bond_below > 0 and self.min_bond == 0:
            raise ValueError("bond_below needs a min_bond to demand")

    def required_bond(self, score: Score, at_risk: int = 0) -> int:
        """The smallest bond a counterparty of this score must lock (0: none) for a deal in which we
        give it ``at_risk`` of value."""
        if score.score < self.bond_below:
            return self.min_bond
        if self.bond_below > 0 and score.vouched_stake < at_risk:
            return self.min_bond
        return 0

    def refusal(self, counterparty: str, score: Score) -> str:
        """Why this policy refuses ``counterparty`` outright, or "" (a faulty one scores 0)."""
        if score.score < self.refuse_below:
            return f"trust policy: {counterparty} scores {score.score:.2f}, below {self.refuse_below:.2f}"
        return ""

    def check(self, counterparty: str, score: Score, their_bond: int, at_risk: int = 0) -> None:
        """The guard's rule for a statement that commits us to give ``counterparty`` ``at_risk``.

        Raises:
            TrustRefused: the counterparty scores below ``refuse_below``, or gives less bond than
                its score and vouched stake require.
        """
        refused = self.refusal(counterparty, score)
        if refused:
            raise TrustRefused(refused, counterparty=counterparty, score=score)
        required = self.required_bond(score, at_risk)
        if their_bond < required:
            why = (
                f"scores {score.score:.2f}, below {self.bond_below:.2f}"
                if score.score < self.bond_below
                else f"has a record vouching for {score.vouched_stake:.0f}, less than the {at_risk} at risk"
            )
            raise TrustRefused(
                f"trust policy: {counterparty} {why}: it must lock a bond of {required}, not {their_bond}",
                counterparty=counterparty,
                score=score,
                required_bond=required,
            )


class TrustRefused(Exception):
    """The trust policy forbids signing a commitment to this counterparty (not a protocol error: the
    counterparty's statements are valid; we decline to trade on these terms).

    Attributes:
        counterparty: its did:key.
        score: its score in our view.
        required_bond: the bond it must lock for us to sign, or 0 when it is refused outright.
    """

    def __init__(self, message: str, *, counterparty: str, score: Score, required_bond: int = 0) -> None:
        super().__init__(message)
        self.counterparty = counterparty
        self.score = score
        self.required_bond = required_bond


def value_at_risk(body: str, proposal: trade_pb2.Offer) -> int:
    """The value of what we give under ``proposal`` when we sign ``body`` about it: the items our
    Offer or Counter gives, those the offer we Accept wants."""
    return sum(item.value for item in (proposal.wants if body == "accept" else proposal.gives))


def counterparty_bond(body: str, proposal: trade_pb2.Offer) -> int:
    """The bond the counterparty locks under ``proposal`` when we sign ``body`` about it: the
    audience's of our Offer or Counter, the proposer's of the offer we Accept."""
    return proposal.terms.issuer_bond if body == "accept" else proposal.terms.audience_bond


def demand_bond(offer: trade_pb2.Offer, required: int, escrow: str) -> trade_pb2.Offer:
    """Our Counter to ``offer`` (written by its issuer) that asks its issuer for ``required``: the
    same trade from our side, its issuer's bond raised, held by ``escrow`` when the offer named none.
    Exclusive keys and claims are the issuer's own assertions and are not repeated."""
    terms = trade_pb2.Terms()
    terms.CopyFrom(offer.terms)
    terms.issuer_bond, terms.audience_bond = offer.terms.audience_bond, max(offer.terms.issuer_bond, required)
    terms.escrow = terms.escrow or escrow
    return trade_pb2.Offer(gives=offer.wants, wants=offer.gives, terms=terms)


class Reputation:
    """One viewer's trust view over the evidence a verifier holds, kept current.

    Args:
        evidence: returns the verifier that holds the evidence (called each time: a peer may
            rebuild its verifier from its journal).
        seeds: the viewer's pre-trusted principals, its own included (ATT-009).
        escrows: the escrows whose locks count as stake (ATT-004), or a callable returning them (read
            at every view: a peer's trusted escrows may be set after it is built).
        clock: Unix ms; the view's time.
        params: the aggregation's parameters.
    """

    def __init__(
        self,
        evidence: Callable[[], EvidenceVerifier],
        *,
        seeds: Iterable[str],
        escrows: Collection[str] | Callable[[], Collection[str]],
        clock: Callable[[], int],
        params: TrustParams | None = None,
    ) -> None:
        self.evidence = evidence
        self.seeds = frozenset(seeds)
        self._escrows = escrows
        self.clock = clock
        self.params = params or TrustParams()
        self._settled: dict[bytes, Rating] = {}  # ratings that can no longer change (stake counted)
        self._settled_under: frozenset[str] = frozenset()  # the escrows those ratings were made under
        # The verifier and its Forfeit count when the ratings kept on a Release or Refund were made: a
        # Forfeit of the same bond (an escrow at fault signed both) prevails over either (NEG-012).
        self._forfeits_seen: tuple[int, int] = (0, 0)
        # The verifier and its count of revocations and Stamps of them when the ratings were kept: a
        # revocation, or an escrow's Stamp of one, can disown a statement a kept rating rests on (KEY-009).
        self._disowning_seen: tuple[int, int] = (0, 0)
        # The verifier and its count of contracts that gave way when the ratings were kept: an attestation of
        # a contract displaced since rates nobody (ATT-022 (c)), whatever order the view heard them in.
        self._moved_seen: tuple[int, int] = (0, 0)
        self._settled_contract: dict[bytes, bytes] = {}  # kept rating -> its attestation's contract
        self._key: tuple[int, ...] | None = None
        self._view: TrustView | None = None

    @property
    def escrows(self) -> frozenset[str]:
        """The escrows whose locks count as stake in this view (ATT-004)."""
        return frozenset(self._escrows() if callable(self._escrows) else self._escrows)

    def ratings(self) -> list[Rating]:
        """A Rating for every attestation held, in the order they arrived."""
        v, escrows = self.evidence(), self.escrows
        if escrows != self._settled_under:
            self._settled, self._settled_under, self._settled_contract = {}, escrows, {}
        if self._disowning_seen != (id(v), v.disowning):
            if self._disowning_seen[0] != id(v) or v.revoked or v.rotated:
                self._settled, self._settled_contract = {}, {}
            self._disowning_seen = (id(v), v.disowning)
        if self._moved_seen != (id(v), v.contracts_moved):
            self._settled, self._settled_contract = {}, {}
            self._moved_seen = (id(v), v.contracts_moved)
        seen_v, seen = self._forfeits_seen
        if (seen_v, seen) != (id(v), v.forfeits):
            # A rating kept on a Release or Refund is stale once a Forfeit of its contract came: a Forfeit
            # after either is taken and prevails (NEG-012). One kept on a Forfeit stays (a second
            # settlement of a forfeited bond is refused).
            new = v.forfeits - seen if seen_v == id(v) else -1
            recent = v.forfeited_contracts
            if 0 <= new <= len(recent):
                hit = set(itertools.islice(reversed(recent), new))
                stale = [d for d, c in self._settled_contract.items() if c in hit]
            else:  # too far behind to tell which: drop every rating a Forfeit could still change
                stale = [d for d, r in self._settled.items() if r.score != 0.0]
            for d in stale:
                if self._settled[d].score != 0.0:
                    del self._settled[d], self._settled_contract[d]
            self._forfeits_seen = (id(v), v.forfeits)
        out = []
        for digest in v.attestations:
            r = self._settled.get(digest)
            if r is not None and not v.attestation_counts(v.statements[digest]):
                # ATT-002: one of the same issuer and contract at a lower seq came later and counts.
                del self._settled[digest], self._settled_contract[digest]
                continue
            if r is None:
                try:
                    r = rate(v, v.statements[digest], escrows)
                except KeyError:
                    continue
                if r.stake:  # settled under a trusted escrow: only a Forfeit (NEG-012), a revocation or
                    # rotation (ATT-020) or the contract giving way (ATT-022 (c)) changes it later
                    self._settled[digest] = r
                    self._settled_contract[digest] = v.statements[digest].statement.attestation.accept
            out.append(r)
        return out

    def faulty(self) -> frozenset[str]:
        """Principals (and keys) a held fork proof convicts (ATT-013): the forked key and every
        principal it is bound to but one whose revocation of the key disowns a statement of the proof
        (ATT-013 (b)) -- "witnessed before" read only from the escrows this view trusts (ATT-013 (d))."""
        v = self.evidence()
        return faulty_of(v, v.forks, self.escrows)

    def view(self) -> TrustView:
        """The current view; recomputed when evidence changed or an hour has passed."""
        v, now = self.evidence(), self.clock()
        key = (id(v), v.accepted, v.forks_changed, len(v.bound), hash(self.escrows), now // RECOMPUTE_MS)
        if self._view is None or key != self._key:
            table = RatingTable.from_ratings(self.ratings())
            self._view = aggregate(table, self.seeds, now, self.params, faulty=self.faulty())
            self._key = key
        return self._view

    def score(self, did: str) -> Score:
        """The view of ``did``: a principal, or an agent key scored as the principal(s) it answers to
        (ATT-007):

        * a key that signed under Mandates (bound, KEY-007), or issued one (a principal, itself among
          them), scores as the worst of their principals: it cannot shed a bad principal by also
          using a good one;
        * a key that has signed nothing yet scores as the best principal holding a Mandate for it
          that the view holds: a principal vouches for a newcomer by delegating to it, and a Mandate
          a stranger mints naming the key cannot lower it (it binds nothing, KEY-007) -- nor raise
          it, since only the principal's own key signs its Mandates;
        * otherwise as itself (unknown: the prior, 0.5, uncertainty 1).

        Worst and best are by :func:`standing` (ATT-007), never by the principals' names. A convicted
        key (ATT-013) scores as faulty whatever its principals. The returned Score names the principal
        it was taken from.
        """
        view = self.view()
        v = self.evidence()
        if did in view.faulty:
            return view.score(did)
        bound = principals_of(v, did)
        if bound:
            return min((view.score(p) for p in bound), key=standing)
        vouching = {r.principal for r in v.mandates.values() if r.mandate.agent == did}
        if vouching:
            return max((view.score(p) for p in vouching), key=standing)
        return view.score(did)


def standing(s: Score) -> tuple[bool, float, float, float, float]:
    """ATT-007's order of one key's principals, worst first: faulty, then by score, vouched stake and
    trust, the least first, then by uncertainty, the most first. Principals equal in all five report
    the same numbers, so which one a key is scored as changes nothing -- and a did:key's spelling, which
    its holder grinds for free, decides nothing: ordered by name, a key bound to two principals of one
    score reported whichever record sorted first (the greater vouched stake, ATT-016 (b))."""
    return (not s.faulty, s.score, s.vouched_stake, s.trust, -s.uncertainty)
