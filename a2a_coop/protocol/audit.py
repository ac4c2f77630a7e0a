"""Misrepresentation audit: detectors over signed evidence (SPEC.md section 19, non-normative).

Theory of operation. Everything a party signs is evidence against it forever. Given the statements
an auditor holds (its own transcript with a counterparty, the evidence bundles it fetched, the
statements a conformance run collected from a target), the detectors here look for two kinds of
misrepresentation:

* **Hard proofs** (confidence 1): statements the subject signed that no honest run of the protocol
  produces. Each rests on the subject's own signatures, plus, where named, its Mandate, the
  counterparty's Accept that formed a contract the subject then delivered under, the escrow's
  ruling, or facts an attester gives (never on a counterparty's answer or its date alone: an
  audience may answer one offer twice).
  They are built to be *sound*: on any set of statements an honest implementation and its honest
  counterparties signed, they find nothing, however partial the auditor's view (a missing
  statement can hide a proof, never make one).

  - ``equivocation``: two statements at one seq, a broken prev link or time running backwards
    along the chain, or two answers to one statement (the fork and answer proofs of
    :mod:`a2a_coop.protocol.forks`, SPEC 6.8, 10.5, ATT-022), exported as the proof file gossip's
    two envelopes make (:attr:`Finding.proof`);
  - ``broken-reservation``: a signed floor (a RESERVATION_VALUE claim, in the open or revealed)
    and then, in the same negotiation, an Accept below it;
  - ``bluff``: a HOLDING claim above what an attester (the escrow, for the currency) says the
    subject holds;
  - ``over-commitment``: commitments above the subject's means -- one deal above its mandate's
    max_per_deal (MND-004), contracts formed in one budget period above budget_per_period
    (MND-009), value provably outstanding at one instant above max_outstanding (MND-010), or bonds
    provably outstanding above its escrow-attested funds;
  - ``breach``: a contract it signed whose escrow upheld a claim against it and forfeited its
    bond (the escrow's word, which both parties chose).

* **Soft screens** (confidence < 1): statistical patterns that honest agents rarely show. A score
  in [0, 1) per subject; a finding when it reaches the screen's threshold (:class:`Thresholds`,
  chosen on training settings by ``python -m conformance.audit_eval``, which reports precision
  and recall on held-out settings).

  - ``feint``: a change point in delivery outcomes ordered by stake or by prior record with the
    counterparty -- clean while it is cheap, breaches once it pays;
  - ``ratchet``: signed need and reservation claims above what the subject then asks or takes,
    and asks that rise against the counterparty from one round to the next;
  - ``cartel``: fair offers refused from some counterparties while equal or worse ones are taken
    from others;
  - ``sybil-ring``: dense, repeated mutual praise among identities whose contracts are mostly
    with each other, and a poor record with everyone else (breaches their escrow upheld).

Everything is pure and deterministic (sans-IO, like the rest of the core); the entry point is
:func:`audit`. Declared values and claims are compared as signed: the audit judges what a party
said against what it did, not whether its prices were fair.
"""

from __future__ import annotations

import base64
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, answered, answers_one_statement, pair_rank, verify_fork_proof
from a2a_coop.protocol.mandate import side_value
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement

RATIO_SUBJECT: Final = "ratio-permille"  # a reservation claim on the ratio received/given, in 1/1000
HARD_KINDS: Final = ("equivocation", "broken-reservation", "bluff", "over-commitment", "breach")
SOFT_KINDS: Final = ("feint", "ratchet", "cartel", "sybil-ring")
_PROPOSALS: Final = frozenset({"offer", "counter"})
_ANSWERS: Final = frozenset({"counter", "accept", "reject"})
_GOOD: Final = frozenset({reputation_pb2.OUTCOME_FULFILLED, reputation_pb2.OUTCOME_LATE})


@dataclass(frozen=True)
class Finding:
    """One piece of misrepresentation the evidence shows.

    Attributes:
        kind: one of :data:`HARD_KINDS` or :data:`SOFT_KINDS`.
        subject: did:key of the party it is about.
        confidence: 1.0 for a hard proof; the screen's score in [0, 1) for a soft one.
        explanation: one or two sentences for humans.
        evidence: the statements that prove (or suggest) it; every one signed by the subject
            unless the explanation says otherwise (a Mandate by its principal, an answer by the
            counterparty that dates an offer).
        requirement: the SPEC requirement broken, for a hard proof ("CHN-004", "MND-010", ...).
    """

    kind: str
    subject: str
    confidence: float
    explanation: str
    evidence: tuple[VerifiedStatement, ...] = ()
    requirement: str = ""

    @property
    def hard(self) -> bool:
        return self.kind in HARD_KINDS

    @property
    def digests(self) -> list[bytes]:
        return [vs.digest for vs in self.evidence]

    @property
    def proof(self) -> ForkProof | None:
        """An ``equivocation``'s two statements as a fork proof (ATT-012; an answer proof, ATT-022):
        what a peer keeps, journals and gossips (ATT-011), checked offline by anyone; else None."""
        if self.kind != "equivocation":
            return None
        first, second = self.evidence
        return ForkProof(first.envelope, second.envelope)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: digests in hex, envelopes in standard base64 (what to keep as proof); an
        ``equivocation``'s ``proof`` is the fork-proof file ``a2a-coop verify`` checks (None for others)."""
        proof = self.proof
        return {
            "kind": self.kind,
            "subject": self.subject,
            "hard": self.hard,
            "confidence": round(self.confidence, 4),
            "requirement": self.requirement,
            "explanation": self.explanation,
            "evidence": [
                {
                    "digest": vs.digest.hex(),
                    "issuer": vs.issuer,
                    "body": vs.body,
                    "seq": vs.header.seq,
                    "envelope": base64.b64encode(vs.envelope).decode(),
                }
                for vs in self.evidence
            ],
            "proof": proof.to_json(self.subject) if proof is not None else None,
        }


@dataclass(frozen=True)
class Facts:
    """What attesters outside the subject's own statements say, for the hard proofs that need it.

    Each amount must be an *upper bound* over the period the audited statements cover (what the
    subject held at most), or a true subject could be flagged.

    Attributes:
        balances: did:key -> funds an escrow holds or held for it (its deposits, e.g. from the
            escrow's signed Deposits or GetBalance), in the currency of the offers.
        holdings: (did:key, subject) -> amount an attester says it holds of that subject.
        currency: the currency ``balances`` is counted in (HOLDING claims on it read the balance).
    """

    balances: Mapping[str, int] = field(default_factory=dict)
    holdings: Mapping[tuple[str, str], int] = field(default_factory=dict)
    currency: str = "credit"


@dataclass(frozen=True)
class Thresholds:
    """The score at which each soft screen reports a finding: the F1-best on the training settings
    of ``python -m conformance.audit_eval`` (SPEC.md section 19.4 gives the held-out figures)."""

    feint: float = 0.62
    ratchet: float = 0.15
    cartel: float = 0.16
    sybil_ring: float = 0.25

    def of(self, kind: str) -> float:
        value: float = getattr(self, kind.replace("-", "_"))
        return value


# -- indexing the evidence -----------------------------------------------------------------------


class Evidence:
    """The statements held, indexed the ways the detectors read them. Duplicates collapse."""

    def __init__(self, statements: Iterable[VerifiedStatement]) -> None:
        self.by_digest: dict[bytes, VerifiedStatement] = {}
        for vs in statements:
            self.by_digest.setdefault(vs.digest, vs)
        ordered = sorted(self.by_digest.values(), key=lambda v: (v.issuer, v.header.seq, v.digest))
        self.by_issuer: dict[str, list[VerifiedStatement]] = defaultdict(list)
        self.by_negotiation: dict[bytes, list[VerifiedStatement]] = defaultdict(list)
        self.answers: dict[bytes, list[VerifiedStatement]] = defaultdict(list)  # offer -> answers
        self.mandates: dict[bytes, identity_pb2.Mandate] = {}
        self.reveals: dict[tuple[bytes, int], int] = {}  # (statement, claim index) -> amount
        self.attestations: list[VerifiedStatement] = []
        self.forfeits: list[VerifiedStatement] = []
        self.claims_against: dict[bytes, list[VerifiedStatement]] = defaultdict(list)  # contract -> claims
        self.upholds: dict[bytes, list[VerifiedStatement]] = defaultdict(list)  # claim -> its UPHOLD Rulings
        self._contracts: list[tuple[VerifiedStatement, VerifiedStatement]] | None = None
        for vs in ordered:
            self.by_issuer[vs.issuer].append(vs)
            if vs.header.negotiation_id:
                self.by_negotiation[vs.header.negotiation_id].append(vs)
            body = vs.body
            if body in _ANSWERS or body == "withdraw":
                self.answers[getattr(vs.statement, body).offer].append(vs)
            elif body == "mandate":
                self.mandates[vs.digest] = vs.statement.mandate
            elif body == "attestation":
                self.attestations.append(vs)
            elif body == "forfeit":
                self.forfeits.append(vs)
            elif body == "breach_claim":
                self.claims_against[vs.statement.breach_claim.contract].append(vs)
            elif body == "ruling" and vs.statement.ruling.decision == commitment_pb2.RULING_DECISION_UPHOLD:
                self.upholds[vs.statement.ruling.claim].append(vs)
        for vs in ordered:
            if vs.body == "reveal":
                self._reveal(vs)

    def _reveal(self, vs: VerifiedStatement) -> None:
        r = vs.statement.reveal
        target = self.by_digest.get(r.statement)
        if target is None or target.issuer != vs.issuer or target.body not in _PROPOSALS:
            return
        claims = proposal_of(target).claims
        if r.claim_index >= len(claims) or claims[r.claim_index].WhichOneof("value") != "commitment":
            return
        try:
            if commit(r.amount, r.salt) == claims[r.claim_index].commitment:
                self.reveals[(target.digest, r.claim_index)] = r.amount
        except CoopError:
            return

    def claim_amount(self, vs: VerifiedStatement, index: int) -> int | None:
        """The amount of claim ``index`` of a proposal: in the open, or opened by a held Reveal."""
        c = proposal_of(vs).claims[index]
        return c.amount if c.WhichOneof("value") == "amount" else self.reveals.get((vs.digest, index))

    def contracts(self) -> list[tuple[VerifiedStatement, VerifiedStatement]]:
        """Every (accepted Offer or Counter, Accept) pair held, in Accept order."""
        if self._contracts is None:
            out = []
            for vs in self.by_digest.values():
                if vs.body == "accept":
                    offer = self.by_digest.get(vs.statement.accept.offer)
                    if offer is not None and offer.body in _PROPOSALS and offer.header.audience == vs.issuer:
                        out.append((offer, vs))
            self._contracts = sorted(out, key=lambda p: (p[1].header.issued_at_ms, p[1].digest))
        return self._contracts


def ratio_permille(proposal: trade_pb2.Offer) -> int:
    """What the proposal's audience receives over what it gives, in thousandths (10^9 for a gift)."""
    asked = sum(i.value for i in proposal.wants)
    offered = sum(i.value for i in proposal.gives)
    return 10**9 if asked == 0 else round(1000 * offered / asked)


def _subjects(ev: Evidence, subject: str | None) -> list[str]:
    return [subject] if subject is not None else sorted(ev.by_issuer)


# -- hard proofs ---------------------------------------------------------------------------------


def equivocations(ev: Evidence, subject: str | None = None) -> list[Finding]:
    """Fork proofs among the held statements: one finding per forked issuer -- a fork of its chain, or two
    answers of its to one statement (an answer proof, ATT-022) --, the proof ATT-013 (c)'s rank puts first
    (its later statement dated earliest, then by digests: :func:`~a2a_coop.protocol.forks.pair_rank`), the
    one a view holding them keeps. The first in chain order, forks before answers, could be one a
    revocation spares the principal on, where a proof dated earlier convicts it
    (tests/test_attack27b_thief_frames_principal.py::test_the_audit_reports_the_proof_the_view_keeps)."""
    out = []
    for issuer in _subjects(ev, subject):
        chain = [vs for vs in ev.by_issuer.get(issuer, []) if vs.envelope]
        ranked = sorted(
            [(pair, True) for pair in _fork_candidates(chain)]
            + [(pair, False) for pair in _answer_pairs(ev, chain)],
            key=lambda c: pair_rank(
                c[0][0].issued_at_ms, c[0][0].digest, c[0][1].issued_at_ms, c[0][1].digest
            ),
        )
        proof = next(((pair, fork) for pair, fork in ranked if _proves(pair)), None)
        if proof is None:
            continue
        (a, b), fork = proof
        if not fork:
            why, req = (
                f"it answered statement {answered(a).hex()[:16]} twice: its {a.body.capitalize()} at seq "
                f"{a.header.seq} and its {b.body.capitalize()} at seq {b.header.seq} (an answer proof)",
                "ATT-022",
            )
        else:
            if a.header.seq == b.header.seq:
                why, req = f"two different statements at seq {a.header.seq}", "CHN-004"
            elif b.header.seq == a.header.seq + 1 and b.header.prev != a.digest:
                why, req = f"seq {b.header.seq} does not link to the held seq {a.header.seq}", "CHN-003"
            else:
                why, req = f"seq {a.header.seq} issued after seq {b.header.seq}", "CHN-005"
            why = f"its chain forked: {why} (a fork proof)"
        out.append(Finding("equivocation", issuer, 1.0, why, (a, b), req))
    return out


def _answer_pairs(
    ev: Evidence, chain: Sequence[VerifiedStatement]
) -> list[tuple[VerifiedStatement, VerifiedStatement]]:
    """Every two answers (Counter, Accept, Reject) in ``chain`` (one issuer, sorted by seq) to one statement,
    the lower seq first: each an answer proof (ATT-022), which :func:`verify_fork_proof` accepts. An honest
    key answers a statement once (ATT-022 (a)), so there are none among what honest keys signed."""
    pairs = []
    for vs in chain:
        for other in ev.answers.get(answered(vs), ()) if answered(vs) else ():
            lower = (vs.header.seq, vs.digest) < (other.header.seq, other.digest)
            if lower and other.issuer == vs.issuer and other.envelope and answers_one_statement(vs, other):
                pairs.append((vs, other))
    return pairs


def _fork_candidates(
    chain: Sequence[VerifiedStatement],
) -> list[tuple[VerifiedStatement, VerifiedStatement]]:
    """The pairs in ``chain`` (one issuer, sorted by seq) that may fork it: two at one seq, a link broken,
    time running back against the latest-dated statement at a lower seq -- each to check (:func:`_proves`)."""
    candidates: list[tuple[VerifiedStatement, VerifiedStatement]] = []
    latest: VerifiedStatement | None = None  # the statement of greatest issued_at among lower seqs
    for i, vs in enumerate(chain):
        for prev in reversed(chain[:i]):
            if prev.header.seq < vs.header.seq - 1:
                break
            if prev.header.seq == vs.header.seq or prev.digest != vs.header.prev:
                candidates.append((prev, vs))
        if (
            latest is not None
            and latest.header.seq < vs.header.seq
            and latest.header.issued_at_ms > vs.header.issued_at_ms
        ):
            candidates.append((latest, vs))
        if latest is None or vs.header.issued_at_ms > latest.header.issued_at_ms:
            latest = vs
    return candidates


def _proves(pair: tuple[VerifiedStatement, VerifiedStatement]) -> bool:
    """Whether ``pair`` is a fork or answer proof :func:`verify_fork_proof` accepts (ATT-012)."""
    try:
        verify_fork_proof(ForkProof(pair[0].envelope, pair[1].envelope))
    except (CoopError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class BrokenReservation:
    """``issuer`` claimed it would not go below ``claimed`` (thousandths of an even trade) and then
    accepted ``accepted``, in negotiation ``negotiation``: two statements it signed that contradict."""

    issuer: str
    negotiation: bytes
    claimed: int
    accepted: int
    claim: bytes  # digest of the Offer or Counter carrying the claim
    accept: bytes  # digest of the Accept


def broken_reservations(held: Iterable[VerifiedStatement] | Evidence) -> list[BrokenReservation]:
    """Every Accept whose issuer signed, in the same negotiation, a reservation claim (subject
    ``ratio-permille``, in the open or opened by a held Reveal) above the ratio it accepted."""
    ev = held if isinstance(held, Evidence) else Evidence(held)
    claims: dict[tuple[str, bytes], tuple[int, bytes]] = {}
    for vs in ev.by_digest.values():
        if vs.body not in _PROPOSALS:
            continue
        for k, c in enumerate(proposal_of(vs).claims):
            if c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE and c.subject == RATIO_SUBJECT:
                amount = ev.claim_amount(vs, k)
                key = (vs.issuer, vs.header.negotiation_id)
                if amount is not None and amount > claims.get(key, (-1, b""))[0]:
                    claims[key] = (amount, vs.digest)
    out = []
    for vs in sorted(ev.by_digest.values(), key=lambda v: (v.header.issued_at_ms, v.digest)):
        if vs.body != "accept":
            continue
        claim = claims.get((vs.issuer, vs.header.negotiation_id))
        offer = ev.by_digest.get(vs.statement.accept.offer)
        if claim is None or offer is None or offer.body not in _PROPOSALS:
            continue
        accepted = ratio_permille(proposal_of(offer))
        if accepted < claim[0]:
            out.append(
                BrokenReservation(
                    vs.issuer, vs.header.negotiation_id, claim[0], accepted, claim[1], vs.digest
                )
            )
    return out


def reservation_findings(ev: Evidence, subject: str | None = None) -> list[Finding]:
    out = []
    for br in broken_reservations(ev):
        if subject is not None and br.issuer != subject:
            continue
        out.append(
            Finding(
                "broken-reservation",
                br.issuer,
                1.0,
                f"claimed it would take no less than {br.claimed / 1000:.3f} of an even trade, "
                f"then accepted {br.accepted / 1000:.3f} in the same negotiation",
                (ev.by_digest[br.claim], ev.by_digest[br.accept]),
            )
        )
    return out


def bluffs(ev: Evidence, facts: Facts, subject: str | None = None) -> list[Finding]:
    """HOLDING claims above the attested holding (for the currency: the escrow-attested balance)."""
    out = []
    for issuer in _subjects(ev, subject):
        for vs in ev.by_issuer.get(issuer, []):
            if vs.body not in _PROPOSALS:
                continue
            proposal = proposal_of(vs)
            for k, c in enumerate(proposal.claims):
                if c.kind != trade_pb2.CLAIM_KIND_HOLDING:
                    continue
                amount = ev.claim_amount(vs, k)
                attested = facts.holdings.get((issuer, c.subject))
                if attested is None and c.subject == proposal.terms.currency == facts.currency:
                    attested = facts.balances.get(issuer)
                if amount is not None and attested is not None and amount > attested:
                    out.append(
                        Finding(
                            "bluff",
                            issuer,
                            1.0,
                            f"claimed to hold {amount} of {c.subject!r}; "
                            f"the attester says at most {attested}",
                            (vs,),
                        )
                    )
    return out


@dataclass(frozen=True)
class _Commitment:
    """What the subject committed in one negotiation by one statement: value and bond."""

    statement: VerifiedStatement
    value: int
    bond: int
    mandate: bytes


def _commitments(ev: Evidence, issuer: str) -> list[_Commitment]:
    """Each Offer, Counter and Accept (with its proposal held) of ``issuer``, in seq order."""
    out = []
    for vs in ev.by_issuer.get(issuer, []):
        if vs.body in _PROPOSALS:
            p = proposal_of(vs)
            out.append(_Commitment(vs, side_value(p, True), p.terms.issuer_bond, vs.header.mandate))
        elif vs.body == "accept":
            offer = ev.by_digest.get(vs.statement.accept.offer)
            if offer is not None and offer.body in _PROPOSALS:
                p = proposal_of(offer)
                out.append(_Commitment(vs, side_value(p, False), p.terms.audience_bond, vs.header.mandate))
    return out


def _outstanding_at(
    ev: Evidence, issuer: str, new: _Commitment, mine: list[_Commitment]
) -> list[tuple[_Commitment, list[VerifiedStatement]]]:
    """The subject's commitments in other negotiations that were provably outstanding when it
    signed ``new`` (at most one per negotiation: its latest commitment there before ``new``, in
    chain order), each with the statements that prove it outstanding. Provably, because what the
    evidence lacks could only have ended them sooner: an Accept of the subject's, or an Offer or
    Counter of the subject's that an Accept took, in a negotiation where the subject signed a
    Delivery after ``new`` and whose last deadline plus the claim window is not before ``new``: the
    offer was live or the contract open in the subject's own view then (a negotiation never
    reopens). For an offer of its own, it must also have been unexpired then, or the subject must
    have delivered under it before ``new`` (until the Accept reaches it, its guard counts the offer
    only while live).

    The audience's answers alone never make an offer provably outstanding: an audience chooses
    its answer and its date, and may answer twice (a Reject to the subject, then an Accept, dated
    after ``new``, for the auditor), so a proof resting on them could be made against an honest
    subject. The subject's own later Delivery is what shows that it held the contract.
    """
    t, seq = new.statement.header.issued_at_ms, new.statement.header.seq
    nid = new.statement.header.negotiation_id
    own = ev.by_issuer.get(issuer, [])
    later_delivery: dict[bytes, VerifiedStatement] = {}  # by the contract (its Accept's digest)
    earlier_delivery: set[bytes] = set()
    for vs in own:
        if vs.body == "delivery":
            if vs.header.seq > seq:
                later_delivery.setdefault(vs.statement.delivery.contract, vs)
            elif vs.header.seq < seq:
                earlier_delivery.add(vs.statement.delivery.contract)
    latest: dict[bytes, _Commitment] = {}
    for c in mine:  # in seq order: the last one before ``new`` per negotiation wins
        h = c.statement.header
        if h.seq < seq and h.negotiation_id != nid and c.mandate == new.mandate:
            latest[h.negotiation_id] = c
    out: list[tuple[_Commitment, list[VerifiedStatement]]] = []
    for c in latest.values():
        vs = c.statement
        if vs.body == "accept":
            proposal = proposal_of(ev.by_digest[vs.statement.accept.offer])
            accepts = [vs]
        else:
            proposal = proposal_of(vs)
            accepts = [a for a in ev.answers.get(vs.digest, []) if a.issuer != issuer and a.body == "accept"]
        last_deadline = max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0)
        if t > last_deadline + CLAIM_WINDOW_MS:
            continue
        # The contract the subject itself delivered under after ``new`` (an audience that answered
        # the offer twice cannot substitute an Accept of its choosing for it).
        for a in accepts:
            delivery = later_delivery.get(a.digest)
            # Proposer: until the Accept reaches it, its guard counts the offer only while unexpired.
            known = vs.body == "accept" or vs.header.expires_at_ms >= t or a.digest in earlier_delivery
            if delivery is not None and known:
                out.append((c, [delivery] if a is vs else [a, delivery]))
                break
    return out


def over_commitments(ev: Evidence, facts: Facts, subject: str | None = None) -> list[Finding]:
    """Commitments above the subject's mandate caps or its escrow-attested funds (see the module)."""
    out = []
    for issuer in _subjects(ev, subject):
        mine = _commitments(ev, issuer)
        for c in mine:
            m = ev.mandates.get(c.mandate)
            held = ev.by_digest.get(c.mandate)
            mandate: tuple[VerifiedStatement, ...] = ()
            if m is None or held is None or m.agent != issuer:
                m = None
            else:
                mandate = (held,)
            if m is not None and c.value > m.max_per_deal:
                out.append(
                    Finding(
                        "over-commitment",
                        issuer,
                        1.0,
                        f"one deal gives {c.value}, above its mandate's max_per_deal {m.max_per_deal}",
                        (c.statement, *mandate),
                        "MND-004",
                    )
                )
                continue
            live = _outstanding_at(ev, issuer, c, mine)
            proof = (*(x.statement for x, _ in live), c.statement, *(p for _, ps in live for p in ps))
            total = c.value + sum(x.value for x, _ in live)
            if m is not None and total > m.max_outstanding:
                out.append(
                    Finding(
                        "over-commitment",
                        issuer,
                        1.0,
                        f"{total} outstanding at once ({len(live) + 1} negotiations), above its "
                        f"mandate's max_outstanding {m.max_outstanding}",
                        (*proof, *mandate),
                        "MND-010",
                    )
                )
                continue
            funds = facts.balances.get(issuer)
            bonds = c.bond + sum(x.bond for x, _ in live)
            if funds is not None and c.bond and bonds > funds:
                out.append(
                    Finding(
                        "over-commitment",
                        issuer,
                        1.0,
                        f"{bonds} of bonds promised at once, above the {funds} its escrow holds for it",
                        proof,
                    )
                )
        out += _over_budget(ev, issuer, mine)
    return out


def _period(m: identity_pb2.Mandate, t: int) -> int:
    return (t - m.valid_from_ms) // m.period_ms if m.period_ms and m.budget_per_period else 0


def _over_budget(ev: Evidence, issuer: str, mine: list[_Commitment]) -> list[Finding]:
    """MND-009, per Offer, Counter or Accept S of the subject: S's value plus the contracts formed
    in a period S charges that the subject provably held when it signed S exceeds the budget. A
    formed contract counts in the period of its Accept whether it is open or ended; the subject
    held it if it signed the Accept before S, or, as proposer, signed a Delivery, Receipt,
    BreachClaim or Revoke in that negotiation before S (it had the Accept then)."""
    contracts: list[tuple[int, bytes, int, int, VerifiedStatement, VerifiedStatement]] = []
    own = ev.by_issuer.get(issuer, [])
    for offer, accept in ev.contracts():
        nid = offer.header.negotiation_id
        if issuer == accept.issuer:
            mandate, value, known = (
                accept.header.mandate,
                side_value(proposal_of(offer), False),
                accept.header.seq,
            )
        elif issuer == offer.issuer:
            mandate, value = offer.header.mandate, side_value(proposal_of(offer), True)
            after = [
                vs.header.seq
                for vs in own
                if vs.header.negotiation_id == nid
                and vs.body in ("delivery", "receipt", "breach_claim", "revoke")
            ]
            if not after:
                continue
            known = min(after)
        else:
            continue
        m = ev.mandates.get(mandate)
        if m is not None and m.agent == issuer:
            contracts.append((known, mandate, _period(m, accept.header.issued_at_ms), value, offer, accept))
    out = []
    for c in mine:
        m = ev.mandates.get(c.mandate)
        if m is None or m.agent != issuer or c.mandate not in ev.by_digest:
            continue
        h = c.statement.header
        first = _period(m, h.issued_at_ms)
        last = _period(m, h.expires_at_ms) if c.statement.body in _PROPOSALS else first
        for k in range(first, last + 1):
            held = [
                x
                for x in contracts
                if x[0] < h.seq
                and x[1] == c.mandate
                and x[2] == k
                and x[4].header.negotiation_id != h.negotiation_id
            ]
            total = c.value + sum(x[3] for x in held)
            if total > m.budget_per_period:
                out.append(
                    Finding(
                        "over-commitment",
                        issuer,
                        1.0,
                        f"{total} committed in budget period {k} ({len(held)} contracts it held, and this "
                        f"{c.statement.body}), above its mandate's budget_per_period {m.budget_per_period}",
                        (*(s for x in held for s in (x[4], x[5])), c.statement, ev.by_digest[c.mandate]),
                        "MND-009",
                    )
                )
                break
    return out


def breaches(ev: Evidence, subject: str | None = None) -> list[Finding]:
    """Contracts the subject signed and then breached: the contract's escrow forfeited the subject's
    bond for a claim it upheld (CMT-002). The proof rests on the escrow both parties named as
    arbiter; one finding per contract."""
    out = []
    for offer, accept in ev.contracts():
        escrow = proposal_of(offer).terms.escrow
        for f in ev.forfeits:
            body = f.statement.forfeit
            if (
                f.issuer != escrow
                or body.contract != accept.digest
                or body.party not in (offer.issuer, accept.issuer)
            ):
                continue
            claim = ev.by_digest.get(body.cause)
            if (
                claim is None
                or claim.body != "breach_claim"
                or (subject is not None and body.party != subject)
            ):
                continue
            out.append(
                Finding(
                    "breach",
                    body.party,
                    1.0,
                    "its escrow upheld a breach claim against it and forfeited its bond "
                    f"({body.amount}) under a contract it signed",
                    (offer, accept, claim, f),
                    "CMT-002",
                )
            )
    return out


# -- soft screens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A soft screen's score for one subject, with the statements it read."""

    subject: str
    score: float
    detail: str
    evidence: tuple[VerifiedStatement, ...] = ()


@dataclass(frozen=True)
class _Outcome:
    """How the subject performed under one contract it was party to."""

    offer: VerifiedStatement
    accept: VerifiedStatement
    counterparty: str
    stake: int  # the declared value the subject would keep by not delivering
    breached: bool
    proof: VerifiedStatement | None  # the upheld claim's Forfeit, or the claim


def _outcomes(ev: Evidence, subject: str) -> list[_Outcome]:
    """Per contract of ``subject`` whose outcome the evidence settles: breached (a Forfeit of its
    bond, or a claim against it upheld, each signed by the escrow the contract names -- a Ruling or
    Forfeit anyone else signs is that signer's word: a counterparty signing its own made an honest
    agent a feinter, tests/test_detect18.py), or performed (a Delivery of each item it owed). In Accept
    order."""
    forfeited = {
        (f.issuer, f.statement.forfeit.contract): f
        for f in ev.forfeits
        if f.statement.forfeit.party == subject
    }
    out = []
    for offer, accept in ev.contracts():
        if subject not in (offer.issuer, accept.issuer):
            continue
        p = proposal_of(offer)
        items = p.gives if subject == offer.issuer else p.wants
        other = accept.issuer if subject == offer.issuer else offer.issuer
        stake = sum(i.value for i in items)
        cid = accept.digest
        escrow = p.terms.escrow
        proof: VerifiedStatement | None = forfeited.get((escrow, cid)) if escrow else None
        if proof is None and escrow:
            proof = next(
                (
                    c
                    for c in ev.claims_against.get(cid, [])
                    if c.issuer == other and any(r.issuer == escrow for r in ev.upholds.get(c.digest, []))
                ),
                None,
            )
        delivered = {
            vs.statement.delivery.item_index
            for vs in ev.by_negotiation.get(offer.header.negotiation_id, [])
            if vs.body == "delivery" and vs.issuer == subject and vs.statement.delivery.contract == cid
        }
        if proof is not None:
            out.append(_Outcome(offer, accept, other, stake, True, proof))
        elif len(delivered) >= len(items):
            out.append(_Outcome(offer, accept, other, stake, False, None))
    return out


def _bernoulli_ll(k: int, n: int) -> float:
    if k in (0, n):
        return 0.0
    p = k / n
    return k * math.log(p) + (n - k) * math.log(1 - p)


def _change_point(keys: Sequence[int], defects: Sequence[bool], min_clean: int) -> tuple[float, int]:
    """Largest log-likelihood ratio of "defect rate steps up at k" over "one rate", less log(n), over
    splits between two different ``keys`` (outcomes sorted by key) with at least ``min_clean``
    cooperations before k; and the best k. 0 when there is none."""
    n, total = len(defects), sum(defects)
    base = _bernoulli_ll(total, n)
    best, at = 0.0, 0
    before = 0
    for k in range(1, n):
        before += defects[k - 1]
        clean = k - before
        after = total - before
        if keys[k - 1] == keys[k] or clean < min_clean or after / (n - k) <= before / k:
            continue
        # Penalised by log(n): the split and the second rate are chosen after seeing the data.
        gain = _bernoulli_ll(before, k) + _bernoulli_ll(after, n - k) - base - math.log(n)
        if gain > best:
            best, at = gain, k
    return best, at


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def feint_scores(ev: Evidence, subject: str | None = None, *, min_clean: int = 2) -> list[Score]:
    """Change point in the subject's outcomes, ordered by stake and by its prior clean record with
    the counterparty: score ``1 - exp(-LLR)`` for the stronger ordering (0 for an agent that never
    breaches, and for one that breaches from the start)."""
    out = []
    for s in _subjects(ev, subject):
        outcomes = _outcomes(ev, s)
        if not outcomes:
            continue
        by_stake = sorted((((o.stake, o.accept.header.issued_at_ms), o) for o in outcomes), key=_first)
        record: dict[str, int] = defaultdict(int)
        by_trust = []
        for o in outcomes:  # in time order: how many clean contracts it had with this counterparty
            by_trust.append(((record[o.counterparty], o.accept.header.issued_at_ms), o))
            if not o.breached:
                record[o.counterparty] += 1
        by_trust.sort(key=_first)
        best, order, k, chosen = 0.0, "stake", 0, list(outcomes)
        for name, keyed in (("stake", by_stake), ("record", by_trust)):
            keys = [key[0] for key, _ in keyed]
            llr, at = _change_point(keys, [o.breached for _, o in keyed], min_clean)
            if llr > best:
                best, order, k, chosen = llr, name, at, [o for _, o in keyed]
        if best <= 0:
            out.append(Score(s, 0.0, "no step up in breaches"))
            continue
        after = chosen[k:]
        proofs = tuple(o.proof for o in after if o.proof is not None)
        out.append(
            Score(
                s,
                1 - math.exp(-best),
                f"clean on its {k} lowest contracts by {order}, breached "
                f"{sum(o.breached for o in after)} of the {len(after)} above (LLR {best:.2f})",
                tuple(o.accept for o in chosen[: min(k, 4)]) + proofs,
            )
        )
    return out


def ratchet_scores(ev: Evidence, subject: str | None = None) -> list[Score]:
    """How far the subject's signed claims overstate what it asks or takes, and how its asks rise.

    ``claims``: the largest, over the negotiations it bargained in, of log(NEED claim / quantity of
    that subject it asks for in the same proposal) and log(reservation claim / the ratio of the
    deal it made there, or of the last proposal it was offered there). ``asks``: the mean, over
    those negotiations, of the largest log(ask / its previous ask) where its ask (value wanted over
    value given) rises from one of its proposals to the next. Score ``1 - exp(-(claims + asks))``.
    """
    involved: dict[str, list[bytes]] = defaultdict(list)
    for nid, stmts in ev.by_negotiation.items():
        for who in dict.fromkeys(vs.issuer for vs in stmts if vs.body in _PROPOSALS or vs.body == "accept"):
            involved[who].append(nid)
    out = []
    for s in _subjects(ev, subject):
        if s not in involved:
            continue
        claim_gap, rises = 0.0, []
        evidence: list[VerifiedStatement] = []
        for nid in involved[s]:
            stmts = ev.by_negotiation[nid]
            mine = [vs for vs in stmts if vs.issuer == s and vs.body in _PROPOSALS]
            theirs = sorted(
                (vs for vs in stmts if vs.issuer != s and vs.body in _PROPOSALS),
                key=lambda v: (v.header.issued_at_ms, v.header.seq),
            )
            asks: list[float] = []
            for vs in mine:
                p = proposal_of(vs)
                gives = sum(i.value for i in p.gives)
                asks.append(sum(i.value for i in p.wants) / gives if gives else 0.0)
                wanted: dict[str, int] = defaultdict(int)
                for i in p.wants:
                    wanted[i.category] += i.quantity
                for k, c in enumerate(p.claims):
                    amount = ev.claim_amount(vs, k)
                    gap = 0.0
                    if amount is None:
                        continue
                    if c.kind == trade_pb2.CLAIM_KIND_NEED and wanted.get(c.subject):
                        gap = math.log(max(amount, 1) / wanted[c.subject])
                    elif c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE and c.subject == RATIO_SUBJECT:
                        got = _settled_ratio(ev, s, stmts) or (
                            ratio_permille(proposal_of(theirs[-1])) if theirs else None
                        )
                        gap = math.log(max(amount, 1) / got) if got else 0.0
                    if gap > 0:
                        evidence.append(vs)
                    claim_gap = max(claim_gap, gap)
            rise = max((math.log(b / a) for a, b in itertools.pairwise(asks) if 0 < a < b), default=0.0)
            rises.append(rise)
        asks_gap = sum(rises) / len(rises)
        out.append(
            Score(
                s,
                1 - math.exp(-(claim_gap + asks_gap)),
                f"its signed claims overstate what it asks or takes by up to {claim_gap:.2f} (log ratio); "
                f"its asks rise by {asks_gap:.2f} on average over {len(rises)} negotiations",
                tuple({vs.digest: vs for vs in evidence}.values())[:8],
            )
        )
    return out


def _settled_ratio(ev: Evidence, s: str, stmts: list[VerifiedStatement]) -> int | None:
    for vs in stmts:
        if vs.body == "accept" and vs.issuer == s:
            offer = ev.by_digest.get(vs.statement.accept.offer)
            if offer is not None and offer.body in _PROPOSALS:
                return ratio_permille(proposal_of(offer))
    return None


def _kinds(p: trade_pb2.Offer) -> tuple[Any, ...]:
    """What makes two offers the same kind of deal: the categories both ways and the currency, which a
    counterparty cannot price in. (The escrow named and the revocation terms are conditions, not
    kinds, and exclusivity an order: see :func:`cartel_scores`.)"""
    return (
        tuple(sorted(i.category for i in p.gives)),
        tuple(sorted(i.category for i in p.wants)),
        p.terms.currency,
    )


def binds_at_least(terms: trade_pb2.Revocation, than: trade_pb2.Revocation) -> bool:
    """Whether a contract under revocation ``terms`` holds its proposer at least as firmly as one under
    ``than``, so that the acceptor loses no protection by taking it: no exit at all holds firmest; among
    terms that allow one, exit at the cost of the bond and with a longer notice (obligations due
    within it stay owed, CMT-003) holds firmer. A partial order: other pairs are incomparable. The
    terms bind both sides alike, but to an acceptor that means to perform only the proposer's exit
    is a loss; and ordered the other way, insiders would offer the loosest terms and leave every
    outsider's plain offer below them."""
    if not terms.allowed:
        return True
    return than.allowed and terms.forfeit_bond >= than.forfeit_bond and terms.notice_ms >= than.notice_ms


class _Answered(NamedTuple):
    """An offer the subject answered, with what of it the cartel screen compares."""

    proposer: str
    ratio: int  # ratio_permille: what the subject receives over what it gives
    kinds: tuple[Any, ...]
    answer: VerifiedStatement  # the subject's Accept, Reject or Counter
    gives: int  # the value the subject would give
    bond: int  # the bond asked of the subject
    secured: tuple[int, int]  # the proposer's bond as covers its side, over ``gives`` (:func:`_secured`)
    exclusive: bool
    escrow: str
    revocation: trade_pb2.Revocation
    round: int  # the offer's bargaining round (a lower bound where the held chain has a gap)


def _ask(p: trade_pb2.Offer) -> float:
    """What a proposal's issuer asks: the value it wants over the value it gives."""
    gives = sum(i.value for i in p.gives)
    return sum(i.value for i in p.wants) / gives if gives else math.inf


def _secured(p: trade_pb2.Offer) -> tuple[int, int]:
    """How well a proposal's issuer secures its audience, as a fraction: the part of what the issuer
    gives that its bond covers (``min(bond, value given)``, what the audience is paid if nothing
    comes), over what the audience gives; (1, 0), infinite, when the audience gives nothing. A reader
    pricing the risk of non-delivery (``claim-aware``) counts an offer's ratio as
    ``prior * ratio + (1 - prior) * this``."""
    gives = sum(i.value for i in p.gives)
    wants = sum(i.value for i in p.wants)
    return (min(p.terms.issuer_bond, gives), wants) if wants else (1, 0)


def bargaining_round(ev: Evidence, vs: VerifiedStatement) -> tuple[int, bool]:
    """The round of an Offer or Counter as the runtime counts it (``OfferView.round``: 1 for the
    opening Offer, one more per Counter), from the held chain of Counters back to the Offer; and
    whether that chain is whole (when a link is missing, the round is a lower bound)."""
    n = 1
    while vs.body == "counter":
        prev = ev.by_digest.get(vs.statement.counter.offer)
        if prev is None or prev.body not in _PROPOSALS:
            return n + 1, False
        vs, n = prev, n + 1
    return n, True


def _countered_away(ev: Evidence, counter: VerifiedStatement, offer: VerifiedStatement) -> bool:
    """Whether the subject's ``counter`` of ``offer`` refused it as a Reject would: the negotiation
    formed no contract (no Accept held in it) and the offer's proposer ended it with a Reject of a
    Counter of the subject's. A cartel that answers outsiders with Counters nobody takes signs no
    Reject; an honest haggler's Counter that led to a deal, or whose end the evidence lacks, is no
    refusal."""
    stmts = ev.by_negotiation.get(offer.header.negotiation_id, [])
    if any(vs.body == "accept" for vs in stmts):
        return False
    mine = {vs.digest for vs in stmts if vs.issuer == counter.issuer and vs.body == "counter"}
    return any(
        vs.body == "reject" and vs.issuer == offer.issuer and vs.statement.reject.offer in mine
        for vs in stmts
    )


def _comparable(x: _Answered, y: _Answered) -> bool:
    """Whether the subject, refusing ``x`` while it took ``y`` from another, treated X worse than Y on
    an offer at least as good (see :func:`cartel_scores`): every term the subject's answer may
    honestly depend on is at least as good in ``x``."""
    return (
        y.proposer != x.proposer
        and y.kinds == x.kinds
        and y.ratio <= x.ratio
        and y.gives >= x.gives
        and y.bond >= x.bond
        # X secured the subject at least as well as Y did, per unit of what the subject gives.
        and y.secured[0] * x.secured[1] <= x.secured[0] * y.secured[1]
        and y.exclusive >= x.exclusive
    )


def cartel_scores(ev: Evidence, subject: str | None = None) -> list[Score]:
    """Refusals of offers at least as good as offers of the same kind the subject took from others.

    Over the offers the subject answered (Accept or Reject; or a Counter, when the negotiation formed
    no contract and X ended it with a Reject of the subject's Counter, :func:`_countered_away`: a
    cartel that answers outsiders with Counters no one takes refuses them all the same), a refusal of
    an offer from X is *discriminating* when the subject accepted, from some Y != X, an offer of the
    same kind (the same categories and currency) at a ratio no better, in which it gave at least as
    much and bonded at least as much, and Y's bond covered no more of what Y gave, per unit of what the
    subject gave, than X's would have (:func:`_secured`; so neither the price, the risk, the terms nor
    its mandate's caps explain the refusal), and X's offer named an escrow the
    subject has accepted an offer under and revocation terms that hold X at least as firmly
    (:func:`binds_at_least`) as those of some offer the subject accepted, each from anyone. A peer
    takes only escrows it trusts (MND-015), so an offer under an escrow it never used is no equally
    good offer, however good its price, and nor is one that lets its proposer walk away more cheaply
    than any the subject took, or one its proposer secures less (a bond pays for what is not
    delivered: a reader pricing that risk, as ``claim-aware`` does, asks more); but the insiders
    choose their escrow and their revocation terms, and matching either by equality would let a
    cartel that always names its own escrow, or odd revocation terms, make every outside offer
    incomparable. A Counter discriminates only against an X that formed no contract with the
    subject, only against a Y whose offer of the same kind the subject answered (took or countered)
    at the bargaining round of X's offer or an earlier one (:func:`bargaining_round`: a time-based
    bargainer counters early offers and takes later ones), and only when it asked X more (value
    wanted over value given) than any proposal of the subject's asked of Y, or than it took from Y in
    an offer of Y's it accepted: a haggler that asks everyone alike, and takes what it is offered
    later, refuses no one. Score: discriminating refusals / (refusals + 1), times the share of its
    accepted trades that went to the counterparties it favoured."""
    partners: dict[str, set[str]] = defaultdict(set)
    for o, a in ev.contracts():
        partners[o.issuer].add(a.issuer)
        partners[a.issuer].add(o.issuer)
    out = []
    for s in _subjects(ev, subject):
        taken: list[_Answered] = []
        refused: list[_Answered] = []
        # The earliest round at which the subject answered (took or countered) an offer of each
        # counterparty, per kind: provably, so only along a whole held chain.
        first: dict[tuple[str, tuple[Any, ...]], int] = {}
        for vs in ev.by_issuer.get(s, []):
            if vs.body not in ("accept", "reject", "counter"):
                continue
            offer = ev.by_digest.get(getattr(vs.statement, vs.body).offer)
            if offer is None or offer.body not in _PROPOSALS:
                continue
            p = proposal_of(offer)
            stage, whole = bargaining_round(ev, offer)
            if whole and vs.body != "reject":
                key = (offer.issuer, _kinds(p))
                first[key] = min(first.get(key, stage), stage)
            if vs.body == "counter" and not _countered_away(ev, vs, offer):
                continue
            row = _Answered(
                offer.issuer,
                ratio_permille(p),
                _kinds(p),
                vs,
                side_value(p, False),
                p.terms.audience_bond,
                _secured(p),
                bool(p.exclusive_key),
                p.terms.escrow,
                p.terms.revocation,
                stage,
            )
            (taken if vs.body == "accept" else refused).append(row)
        if not refused:
            continue
        trusted = {t.escrow for t in taken}
        favoured: set[str] = set()
        bad: list[VerifiedStatement] = []
        asks: dict[str, float] = defaultdict(float)  # the most the subject asked of each counterparty
        for vs in ev.by_issuer.get(s, []):
            if vs.body in _PROPOSALS:
                asks[vs.header.audience] = max(asks[vs.header.audience], _ask(proposal_of(vs)))
        # ... or took from it: an offer it accepted asked that much of it (what it gets over what it
        # gives). Without this, a subject that took Y's offer as it came had asked Y nothing, and any
        # Counter -- one asking less than it took from Y too -- that an X forming no contract rejected
        # (its own choice) discriminated (tests/test_attack23.py).
        for t in taken:
            p = proposal_of(ev.by_digest[t.answer.statement.accept.offer])
            wants = sum(i.value for i in p.wants)
            asks[t.proposer] = max(
                asks[t.proposer], sum(i.value for i in p.gives) / wants if wants else math.inf
            )
        for x in refused:
            if x.escrow not in trusted or not any(binds_at_least(x.revocation, t.revocation) for t in taken):
                continue
            # A Counter refuses only by its price: it asked X more than the subject ever asked the
            # one it favoured (a haggler that asks everyone alike and takes what it is offered later
            # refuses no one; a cartel pricing outsiders out does).
            ask = _ask(proposal_of(x.answer)) if x.answer.body == "counter" else math.inf
            if x.answer.body == "counter" and x.proposer in partners[s]:
                continue
            # An exclusive offer asks more of its acceptor (it may collide with a live contract,
            # NEG-009): a plain offer refused while exclusive ones were taken is discriminating,
            # an exclusive one refused while plain ones were taken is not -- insiders cannot hide
            # behind exclusive keys, and an honest exclusive-key conflict is no cartel sign.
            # A Counter is bargaining, and an honest bargainer's ask may fall as the rounds run (a
            # time-based one asks most of an opening offer): it discriminates only against a Y the
            # subject answered, on an offer of the same kind, at X's round or an earlier one -- stage
            # for stage. A bargainer whose ask depends on nothing but the round, and never rises with
            # it, then asked that Y at least as much, and is never named (tests/test_detect18.py).
            worse = [
                t
                for t in taken
                if _comparable(x, t)
                and ask > asks[t.proposer]
                and (x.answer.body != "counter" or first.get((t.proposer, x.kinds), x.round + 1) <= x.round)
            ]
            if worse:
                bad += [x.answer, worse[0].answer]
                favoured |= {t.proposer for t in worse}
        n_bad = len(bad) // 2
        if not n_bad:
            out.append(Score(s, 0.0, "no refusal of an offer as good as one it took"))
            continue
        share = sum(1 for t in taken if t.proposer in favoured) / len(taken)
        score = n_bad / (len(refused) + 1) * share
        out.append(
            Score(
                s,
                score,
                f"refused {n_bad} offers at least as good as ones of the same kind it took from "
                f"{len(favoured)} favoured counterparties ({share:.0%} of its deals)",
                tuple(bad[:8]),
            )
        )
    return out


SYBIL_MIN_ACCUSERS: Final = 2
"""The identities outside a ring whose contracts with its members the escrow found breached (each an
accusation, :func:`accusation_proof`) before the Sybil screen reads the ring's outside record as poor:
one counterparty's breach is not a record."""


def accusation_proof(ev: Evidence, attestation: VerifiedStatement) -> VerifiedStatement | None:
    """What makes a bad attestation an accusation rather than its signer's word: the contract it names
    (its offer and Accept, held) has the attester and the subject as its two parties, and that
    contract's escrow -- which the subject chose when it signed -- upheld a BreachClaim of the
    attester's against the subject under it (its Ruling), or forfeited the subject's bond for one (its
    Forfeit). Returns that Ruling or Forfeit; None when the evidence holds neither. A false accuser
    can sign a BREACHED attestation and a BreachClaim, but not the escrow's Ruling: the escrow
    dismisses a claim on an item delivered on time (CMT-002)."""
    a = attestation.statement.attestation
    offer, accept = ev.by_digest.get(a.offer), ev.by_digest.get(a.accept)
    if (
        offer is None
        or accept is None
        or offer.body not in _PROPOSALS
        or accept.body != "accept"
        or accept.statement.accept.offer != offer.digest
        or offer.header.audience != accept.issuer
        or {attestation.issuer, a.subject} != {offer.issuer, accept.issuer}
        or attestation.issuer == a.subject
    ):
        return None
    escrow = proposal_of(offer).terms.escrow
    if not escrow:
        return None
    for claim in ev.claims_against.get(accept.digest, []):
        if claim.issuer != attestation.issuer:
            continue
        ruling = next((r for r in ev.upholds.get(claim.digest, []) if r.issuer == escrow), None)
        if ruling is not None:
            return ruling
        for f in ev.forfeits:
            body = f.statement.forfeit
            if f.issuer == escrow and body.cause == claim.digest and body.party == a.subject:
                return f
    return None


def sybil_scores(ev: Evidence, subject: str | None = None, *, repeat: int = 2) -> list[Score]:
    """Dense, repeated mutual praise among identities with little history outside the group.

    X *praises* Y when X attested at least ``repeat`` contracts with Y with a good outcome
    (FULFILLED or LATE). Ring(S) = S and every identity that S praised and that praised S back;
    when there is none, S and every identity that praised S once and was praised back once and
    did the same with another such identity (a triangle: a ring that trades once a pair praises
    no one twice, and an honest partner of one clean trade rarely closes one), density then counted
    over once-praise.
    ``density`` = the share of pairs in the ring that praised each other; ``insularity`` = the
    share of the ring members' contracts that are with other members; ``outside`` = the share of
    good outcomes in what identities outside the ring attested of its members, (good + 1) /
    (attested + 1), a bad attestation counting only as an accusation (:func:`accusation_proof`: the
    contract's escrow upheld the attester's claim against the member), or 1 when fewer than
    SYBIL_MIN_ACCUSERS outside identities accused a member. Score =
    density x insularity x (1 - outside): praise from within, a poor
    record with everyone else (0 for a ring of one). A ring that nobody outside has rated scores
    0: it has no victims yet, and the reputation aggregation already gives it no trust (SPEC
    10.6); a group that trades well among itself and refuses outsiders is the cartel screen's."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for vs in ev.attestations:
        a = vs.statement.attestation
        if a.outcome in _GOOD:
            counts[(vs.issuer, a.subject)] += 1
    praise = {pair for pair, n in counts.items() if n >= repeat}
    partners: dict[str, list[str]] = defaultdict(list)
    for offer, accept in ev.contracts():
        partners[offer.issuer].append(accept.issuer)
        partners[accept.issuer].append(offer.issuer)
    by_subject: dict[str, list[VerifiedStatement]] = defaultdict(list)
    for vs in ev.attestations:
        by_subject[vs.issuer].append(vs)
    once = {pair for pair, n in counts.items() if n >= 1}
    # Outside ratings: good ones as signed (they only help the rated), bad ones only with the escrow's
    # word behind them -- an attestation's outcome is its signer's word, and two colluding identities,
    # each with one contract an honest member delivered on, flagged a triangle of honest traders
    # (tests/test_detect18.py).
    ratings: list[tuple[VerifiedStatement, bool, VerifiedStatement]] = []
    for vs in ev.attestations:
        if vs.statement.attestation.outcome in _GOOD:
            ratings.append((vs, True, vs))
        elif (proof := accusation_proof(ev, vs)) is not None:
            ratings.append((vs, False, proof))
    out = []
    for s in _subjects(ev, subject):
        ring = {s} | {x for (a, x) in praise if a == s and (x, s) in praise}
        mutual = praise
        if len(ring) < 2:
            # A ring that spreads its praise (each pair trades once) praises no one twice: take the
            # identities that praised S once and were praised back, and that did the same with
            # another of them (a triangle; an honest partner of one trade rarely closes one).
            near = {x for (a, x) in once if a == s and (x, s) in once}
            ring = {s} | {x for x in near if any((x, y) in once and (y, x) in once for y in near - {x})}
            mutual = once
        if len(ring) < 2:
            if s in partners:
                out.append(Score(s, 0.0, "no mutual praise"))
            continue
        members = sorted(ring)
        pairs = [(x, y) for i, x in enumerate(members) for y in members[i + 1 :]]
        density = sum((x, y) in mutual and (y, x) in mutual for x, y in pairs) / len(pairs)
        inside = sum(1 for x in members for y in partners.get(x, []) if y in ring)
        total = sum(len(partners.get(x, [])) for x in members)
        insularity = inside / total if total else 0.0
        # A poor record needs two outside accusers: one counterparty of one contract with one of them had
        # a triangle of honest traders, each pair trading once, flagged (tests/test_attack23.py).
        rated = [
            (vs.issuer, good, proof)
            for vs, good, proof in ratings
            if vs.statement.attestation.subject in ring and vs.issuer not in ring
        ]
        accusers = {who for who, good, _ in rated if not good}
        outside = (sum(1 for _, good, _ in rated if good) + 1) / (len(rated) + 1)
        if len(accusers) < SYBIL_MIN_ACCUSERS:
            outside = 1.0
        praise_held = tuple(
            vs for x in members for vs in by_subject.get(x, []) if vs.statement.attestation.subject in ring
        )
        # The praise, then the escrow's word behind each accusation.
        evidence = praise_held[:6] + tuple(proof for _, good, proof in rated if not good)[:2]
        out.append(
            Score(
                s,
                density * insularity * (1 - outside),
                f"a ring of {len(ring)} that praised each other (density {density:.2f}); "
                f"{insularity:.0%} of their contracts are with each other; outsiders' record of "
                f"them {outside:.2f} good ({len(accusers)} outside accusers)",
                evidence[:8],
            )
        )
    return out


SCREENS: Final = {
    "feint": feint_scores,
    "ratchet": ratchet_scores,
    "cartel": cartel_scores,
    "sybil-ring": sybil_scores,
}


# -- entry point ---------------------------------------------------------------------------------


def _verified(items: Iterable[VerifiedStatement | bytes]) -> Iterable[VerifiedStatement]:
    for item in items:
        if isinstance(item, bytes):
            try:
                yield verify_statement(item)
            except CoopError:
                continue
        else:
            yield item


def audit(
    statements: Iterable[VerifiedStatement | bytes],
    *,
    subject: str | None = None,
    facts: Facts | None = None,
    thresholds: Thresholds | None = None,
    screens: bool = True,
) -> list[Finding]:
    """Audit the held statements; return the findings, hard proofs first.

    Args:
        statements: every statement held (through :func:`~a2a_coop.protocol.statements.verify_statement`
            at least; envelopes kept, as they are the proof), or raw envelopes, which are verified
            here; an envelope that fails the stateless checks proves nothing and is left out.
            Context helps: the subject's Mandates, both sides of its negotiations, the escrow's
            rulings and forfeits.
        subject: audit only this did:key (None: every issuer in the evidence).
        facts: escrow-attested balances and holdings, for the bluff and over-commitment proofs.
        thresholds: the soft screens' reporting thresholds (None: the defaults).
        screens: run the soft screens too.
    """
    ev = Evidence(_verified(statements))
    facts = facts or Facts()
    found = [
        *equivocations(ev, subject),
        *reservation_findings(ev, subject),
        *bluffs(ev, facts, subject),
        *over_commitments(ev, facts, subject),
        *breaches(ev, subject),
    ]
    if screens:
        th = thresholds or Thresholds()
        for kind, screen in SCREENS.items():
            for sc in screen(ev, subject):
                if sc.score >= th.of(kind) and sc.score > 0:
                    found.append(Finding(kind, sc.subject, min(sc.score, 0.999), sc.detail, sc.evidence))
    return found
