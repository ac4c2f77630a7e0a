"""Reputation evidence: what one admissible attestation is worth (SPEC.md section 10.2, ATT-004..ATT-007).

Theory of operation. Admissibility (ATT-001, ATT-002) says an attestation rests
on a contract both parties signed; it says nothing about what the attestation is
worth, and every value a naive aggregation would read is chosen by someone who
profits from choosing it. So each value is taken from whoever could *not* choose
it alone:

* **who**: keys are free, so rater and subject are *principals* -- the issuers
  of the Mandates the contract's offer and Accept were signed under (ATT-007).
  Counted per key, one principal could multiply its voice with more agents, and
  shed a bad record by minting a new one.
* **stake**: the two parties declare their items' values, and inflating them
  costs nothing. What a subject really put at risk is the bond the contract's
  escrow locked from deposited funds (ESC-005) and then settled. The stake is that
  bond -- under an escrow the view trusts -- and nothing else (ATT-004).
* **outcome**: the attester's claim, bounded by the escrow's settlement of the
  subject's bond: a Forfeit makes it a failure whatever the attester says (a
  partner cannot whitewash an upheld breach), a Release or a Refund makes it no
  worse than half (a rater that had a claim remedy and did not win it cannot
  report a breach) (ATT-005).
* **performance**: a contract whose bonds were never all locked allowed no Delivery (NEG-012):
  nothing happened to rate. Its attestations weigh nothing, or the party that never funded its
  bond could rate the other, whose bond was locked and refunded, at no risk of its own (ATT-004).
* **time**: an attestation's own ``issued_at_ms`` is the attester's, who could
  date it ahead to escape decay; its age runs from the escrow's settlement
  statement instead (ATT-006).
* **revocation**: a KeyRevocation's ``effective_ms`` is its revoker's, who could
  date it back past a breach of its own. A statement it covers still counts
  when the contract's escrow stamped it before it stamped any revocation
  covering it (KEY-009: an offline view takes it then); one it disowns weighs
  nothing in every view, whether the view took it before the revocation or not,
  so the order a view heard them in decides nothing (ATT-020).

:func:`rate` reduces one held attestation to a :class:`Rating`, the only input
aggregation (:mod:`.trust`) reads. :func:`attestation_evidence` lists what a third
party needs to recompute that Rating offline, and :func:`attestation_due` is the
outcome a party attests once its contract is settled (ATT-015).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from a2a_coop._proto.a2acoop.v1 import reputation_pb2
from a2a_coop.protocol.escrow import revoke_until
from a2a_coop.protocol.forks import ForkProof, proof_statements
from a2a_coop.protocol.negotiation import Contract, Event, Negotiation, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier

# ATT-005: how much of one "good" an outcome is; the rest counts as "bad".
OUTCOME_SCORES: Final[dict[int, float]] = {
    reputation_pb2.OUTCOME_FULFILLED: 1.0,
    reputation_pb2.OUTCOME_LATE: 0.5,
    reputation_pb2.OUTCOME_PARTIAL: 0.5,
    reputation_pb2.OUTCOME_BREACHED: 0.0,
    reputation_pb2.OUTCOME_REVOKED: 0.0,
}
UNKNOWN_OUTCOME_SCORE: Final = 0.5  # an outcome a later version adds reads as neither good nor bad
SETTLED_FLOOR: Final = 0.5  # ATT-005: released or refunded, the subject failed no claim
_DISOWNING: Final = frozenset({"key_revocation", "key_rotation"})
_BARGAINING: Final = frozenset({"offer", "counter", "accept"})  # the chain a contract rests on (ATT-020)
SETTLEMENT_EVENTS: Final = frozenset({Event.RELEASE, Event.FORFEIT, Event.REFUND})
BOND_EVENTS: Final = frozenset({Event.BOND_LOCK, Event.BOND_COMPLETE})


@dataclass(frozen=True, slots=True)
class Rating:
    """One admissible attestation as aggregation sees it (SPEC 10.2).

    Attributes:
        attestation: the attestation's digest.
        rater, subject: the principals the attester and the subject acted for (ATT-007).
        rater_key, subject_key: the agent keys that signed the contract's statements.
        outcome, rating: what the attester said (``rating`` is informative only).
        stake: the subject's escrow-locked, settled bond (ATT-004); 0 when it weighs nothing.
        score: the share of one good this attestation counts, in [0, 1] (ATT-005).
        settled_ms: the escrow's settlement time of the subject's bond, from which the attestation
            ages (ATT-006); 0 when not settled.
        note: why ``stake`` is 0 (empty otherwise), for people reading a view.
    """

    attestation: bytes
    rater: str
    subject: str
    rater_key: str
    subject_key: str
    outcome: int
    rating: int
    stake: int
    score: float
    settled_ms: int
    note: str = ""


def contract_of(verifier: Verifier, attestation: VerifiedStatement) -> tuple[Negotiation, Contract]:
    """The negotiation and contract an admissible attestation held by ``verifier`` rests on.

    Raises:
        KeyError: the verifier holds no such contract (the attestation is not admissible there).
    """
    a = attestation.statement.attestation
    offer = verifier.statements[a.offer]
    neg = verifier.negotiations.find(offer.header.negotiation_id)  # also one memory forgot
    if neg is None or neg.contract is None or neg.contract.id != a.accept:
        raise KeyError("the attestation's contract is not held")
    return neg, neg.contract


def principal_of(verifier: Verifier, vs: VerifiedStatement) -> str:
    """The principal ``vs`` was signed for: the issuer of the Mandate its header names (ATT-007).

    Raises:
        KeyError: the verifier does not hold that Mandate.
    """
    return verifier.mandates[vs.header.mandate].principal


def settlement_of(verifier: Verifier, neg: Negotiation, party: str) -> VerifiedStatement | None:
    """The escrow's Release, Forfeit or Refund of ``party``'s bond in ``neg``, if held: a Forfeit when one
    is held (NEG-012: it prevails over a Release or Refund an escrow at fault signed too)."""
    found = None
    for _, event, _, digest in neg.history:
        if event in SETTLEMENT_EVENTS:
            vs = verifier.statements[digest]
            if getattr(vs.statement, vs.body).party == party:
                if vs.body == "forfeit":
                    return vs
                found = found or vs
    return found


def rate(verifier: Verifier, attestation: VerifiedStatement, trusted_escrows: Collection[str]) -> Rating:
    """ATT-004..ATT-007: what an admissible attestation held by ``verifier`` is worth.

    Args:
        verifier: holds the attestation, its contract and whatever the escrow signed about it.
        attestation: an Attestation statement ``verifier`` accepted.
        trusted_escrows: did:keys of the escrows whose locks count (the view's own configuration,
            never something a bundle brought along: a key the parties control locks no money).

    Raises:
        KeyError: ``verifier`` does not hold the attestation's contract or its mandates, or holds
            another attestation of the contract by the same issuer at a lower seq, which counts
            instead (ATT-002).
    """
    a = attestation.statement.attestation
    if not verifier.attestation_counts(attestation):
        raise KeyError("another attestation of this contract by its issuer counts instead (ATT-002)")
    neg, c = contract_of(verifier, attestation)
    rater_vs, subject_vs = (c.offer, c.accept) if attestation.issuer == c.proposer else (c.accept, c.offer)
    rater, subject = principal_of(verifier, rater_vs), principal_of(verifier, subject_vs)
    base = OUTCOME_SCORES.get(a.outcome, UNKNOWN_OUTCOME_SCORE)
    settled = settlement_of(verifier, neg, a.subject)
    score, settled_ms = base, 0
    if settled is not None:
        settled_ms = settled.header.issued_at_ms
        score = 0.0 if settled.body == "forfeit" else max(base, SETTLED_FLOOR)
    stake, note = c.locked.get(a.subject, 0), ""
    if rater == subject:
        note = "same principal on both sides"
    elif not stake:
        note = "the subject locked no bond"
    elif not all(p in c.locked for p in c.bonds_required):
        # NEG-012: until every bond is locked nobody may deliver, so nothing was performed to rate --
        # and the party that never funded its own would rate the other at no risk of its own.
        note = "not every bond of the contract was locked: nothing could be performed"
    elif c.escrow not in trusted_escrows:
        note = "its escrow is not one this view trusts"
    elif settled is None:
        note = "the escrow has not settled the subject's bond"
    elif (
        (verifier.revoked or verifier.rotated)
        and _revokes_signer(verifier, attestation, c, (rater, subject))
        and _disowns_evidence(verifier, attestation, c)
    ):
        # KEY-009, ATT-020: a view that took the revocation first refused it; one that took it later
        # weighs it as that one does, whatever the order it heard them in.
        note = "a key revocation disowns a statement it rests on, not stamped by the escrow before it"
    return Rating(
        attestation=attestation.digest,
        rater=rater,
        subject=subject,
        rater_key=attestation.issuer,
        subject_key=a.subject,
        outcome=a.outcome,
        rating=a.rating,
        stake=0 if note else stake,
        score=score,
        settled_ms=settled_ms,
        note=note,
    )


def _disowns_evidence(verifier: Verifier, attestation: VerifiedStatement, c: Contract) -> bool:
    """ATT-020: whether a statement of the attestation's evidence is disowned (KEY-009) -- a Mandate read
    with the evidence statements naming it whose witnessing escrow is the contract's: that escrow's Stamp
    of the Mandate, or of such a statement, before it stamped a rotation or revocation of the Mandate's
    principal witnesses the Mandate (tests/test_attack25.py); an Offer or Counter naming another escrow,
    or none, read so with the later statements of the chain (ATT-020 (c))."""
    _, before, escrow = _rests_on(verifier, attestation)
    evidence = _with_mandates(verifier, [*before, *escrow, attestation])
    via = [vs for vs in evidence if vs.mandate_digest and verifier.witnessing_escrow(vs) == c.escrow]
    # ATT-020 (c): an Offer or Counter naming another escrow, or none, is read with the later statements of
    # the chain that the contract's escrow witnesses (they rest on it), never by its own escrow's Stamps
    chain = [vs for vs in before if vs.body in _BARGAINING]
    later = {
        vs.digest: [s for s in chain[i + 1 :] if verifier.witnessing_escrow(s) == c.escrow]
        for i, vs in enumerate(chain)
        if vs.body != "accept" and verifier.witnessing_escrow(vs) != c.escrow
    }
    return any(
        verifier.disowned(vs, read_with=later[vs.digest])
        if vs.digest in later
        else verifier.disowned(vs, via)
        for vs in evidence
    )


def _revokes_signer(
    verifier: Verifier, attestation: VerifiedStatement, c: Contract, principals: Iterable[str]
) -> bool:
    """Whether ``verifier`` holds a revocation of a key that signed what the attestation's rating rests
    on, or granted the Mandate it was signed under -- the parties, the attester, their principals, the
    escrow and its principals: only then can one of those statements be disowned (KEY-009, ATT-020)."""
    revoked = verifier.revoked
    # The escrow's principals sign its Mandates, which the escrow's statements cite (ATT-020's list).
    keys = (c.offer.issuer, c.accept.issuer, attestation.issuer, c.escrow, *principals)
    keys += tuple(verifier.bound.get(c.escrow, ()))
    if any(key in verifier.rotated for key in keys):  # a rotation ends a signer's chain (KEY-005)
        return True
    return bool(revoked) and any(key in revoked for key in keys)


def ratings(
    verifier: Verifier, attestations: Iterable[VerifiedStatement], trusted_escrows: Collection[str]
) -> list[Rating]:
    """:func:`rate` for each attestation (skipping any whose contract ``verifier`` does not hold)."""
    out = []
    for vs in attestations:
        try:
            out.append(rate(verifier, vs, trusted_escrows))
        except KeyError:
            continue
    return out


def attestation_weight(
    verifier: Verifier, attestation: VerifiedStatement, trusted_escrows: Collection[str]
) -> int:
    """ATT-004: the stake an admissible attestation held by ``verifier`` rests on (0: it weighs nothing).

    Raises:
        KeyError: ``verifier`` does not hold the attestation's contract.
    """
    return rate(verifier, attestation, trusted_escrows).stake


def principals_of(verifier: Verifier, key: str) -> set[str]:
    """The principals ``key`` answers to in ``verifier``'s view: those it signed under (KEY-007), or
    itself when it is a principal that signed a Mandate held there."""
    out = set(verifier.bound.get(key, ()))
    if any(record.principal == key for record in verifier.mandates.values()):
        out.add(key)
    return out


def convicted(
    verifier: Verifier, key: str, proof: ForkProof, trusted: Collection[str] | None = None
) -> set[str]:
    """ATT-013: what a fork or answer proof held against ``key`` convicts in ``verifier``'s view -- the key
    always, and each principal it answers to (:func:`principals_of`) unless a KeyRevocation of the key that
    principal issued, held, disowns one of the proof's two statements (ATT-013 (b): reaches it, KEY-011,
    and its escrow did not witness it first, KEY-009). A function of the statements held, whatever order
    they came in: a revocation heard after the proof spares the principal from then on. ``trusted``: the
    escrows whose Stamps may witness a statement first here (ATT-013 (d)); None, every escrow."""
    principals = principals_of(verifier, key)
    revokers = {r.issuer for r in verifier.revocations_of.get(key, ())} & (principals - {key})
    if revokers:  # only then read the proof's statements (two signature checks)
        statements = proof_statements(proof)
        principals -= {p for p in revokers if any(verifier.revoked_by(vs, p, trusted) for vs in statements)}
    return principals | {key}


def sparing(
    verifier: Verifier, key: str, proof: ForkProof, trusted: Collection[str] | None = None
) -> list[bytes]:
    """ATT-024: what a swap carries with ``proof`` against ``key`` so that its receiver spares whom
    ``verifier`` spares (:func:`convicted`, ATT-013 (b)) -- per principal spared, the first KeyRevocation it
    issued that disowns one of the proof's statements, then that statement's witnessing escrow's earliest
    Stamp of it (the revocation witnessed before the statement, KEY-009) and the earliest by another escrow
    of ``trusted`` (ATT-013 (f)); envelopes, each once."""
    principals = principals_of(verifier, key) - {key}
    revokers = {r.issuer for r in verifier.revocations_of.get(key, ())} & principals
    if not revokers:
        return []
    revocations: dict[bytes, None] = {}
    stamps: dict[bytes, None] = {}
    statements = proof_statements(proof)
    for p in sorted(revokers):
        for vs in statements:
            r = verifier.sparing_revocation(vs, p, trusted)
            if r is None:
                continue
            revocations[r.envelope] = None
            escrow = verifier.witnessing_escrow(vs)
            stamp = verifier.counting_stamp(escrow, r.digest) if escrow else None
            if stamp is not None:
                stamps[stamp.envelope] = None
            told = [  # ATT-013 (f): a receiver trusting them too reads the earliest other trusted Stamp of r
                s
                for e in sorted(trusted or ())
                if e != escrow and (s := verifier.counting_stamp(e, r.digest))
            ]
            if told:
                stamps[min(told, key=lambda s: (s.issued_at_ms, s.digest)).envelope] = None
            break
    return [*revocations, *stamps]


def witnesses(verifier: Verifier, proof: ForkProof) -> list[bytes]:
    """ATT-025: what a swap carries with ``proof`` so that its receiver reads "witnessed first" (ATT-013 (b),
    KEY-009) as ``verifier`` does -- for each of the proof's two statements, its witnessing escrow's earliest
    Stamp held of it, after the Mandate that Stamp cites, and for a statement so stamped, first,
    the statements it names up to the Offer or Counter naming that escrow (:meth:`Verifier.naming_chain`:
    for an Accept or a Reject, the statement it answers; for a Delivery, its contract's Accept and what that
    accepts); envelopes, each once (one Stamp may name both, two answers answer one statement)."""
    answered: dict[bytes, None] = {}
    out: dict[bytes, None] = {}
    for vs in proof_statements(proof):
        escrow = verifier.witnessing_escrow(vs)
        stamp = verifier.counting_stamp(escrow, vs.digest) if escrow else None
        if stamp is None:
            continue
        chain = verifier.naming_chain(vs)
        if chain and proposal_of(chain[-1]).terms.escrow == escrow:  # what the receiver reads it by
            answered.update(dict.fromkeys(named.envelope for named in chain))
        mandate = verifier.statements.get(stamp.mandate_digest) if stamp.mandate_digest else None
        out.update(dict.fromkeys(e.envelope for e in (mandate, stamp) if e is not None))
    return [*answered, *out]


def faulty_of(
    verifier: Verifier, forks: Mapping[str, ForkProof], trusted: Collection[str] | None = None
) -> frozenset[str]:
    """Every key and principal the fork proofs ``forks`` (issuer -> proof) convict (:func:`convicted`,
    reading the Stamps of ``trusted`` escrows only; None, every escrow's)."""
    out: set[str] = set()
    for key, proof in forks.items():
        out |= convicted(verifier, key, proof, trusted)
    return frozenset(out)


def conviction_stamps(
    verifier: Verifier, key: str, proof: ForkProof, trusted: Collection[str] | None = None
) -> dict[str, list[str]]:
    """ATT-013 (d) made visible: each key and principal ``proof`` against ``key`` convicts (:func:`convicted`)
    with the escrows whose Stamps its conviction rests on, sorted -- for a principal that revoked ``key``,
    the witnessing escrow of each of the proof's statements its revocation reaches (the Stamp that witnessed
    the statement first keeps the revocation from disowning it, KEY-009); none for the key itself or a
    principal that revoked nothing (the proof alone convicts them). Who chose that escrow: whoever signed
    the statement with ``key`` -- after the theft, the thief -- so a view reading every escrow's Stamps
    shows the operator which ones it relied on."""
    revokers = {r.issuer for r in verifier.revocations_of.get(key, ())} - {key}
    statements = proof_statements(proof) if revokers else ()  # two signature checks, only then
    out: dict[str, list[str]] = {}
    for subject in sorted(convicted(verifier, key, proof, trusted)):
        # Trusting no escrow, a revocation reaching a statement spares: what the conviction needs a Stamp of
        needed = [vs for vs in statements if subject in revokers and verifier.revoked_by(vs, subject, ())]
        out[subject] = sorted({verifier.witnessing_escrow(vs) for vs in needed})
    return out


# --- the evidence a rating rests on ----------------------------------------------------------------


def attestation_evidence(verifier: Verifier, attestation: VerifiedStatement) -> list[VerifiedStatement]:
    """What a third party needs to check an attestation held by ``verifier`` and recompute its
    Rating offline, dependencies first (ATT-014): the mandates, the escrow's Stamps of the negotiation
    up to the accepted offer and of the Accept (a view holding a revocation of a party's key takes
    them by those, KEY-009), the negotiation up to the accepted offer, the Accept, the escrow's
    BondLocks (every party's: ATT-004 asks whether all were locked) and its settlement of the
    subject's bond -- with the Stamp, claim or Revoke and Ruling a Forfeit rests on --, then the
    attestation; then what may disown any of them (:func:`_disowning`: the revocations and rotations held
    of the keys that signed them, ATT-020), save an escrow's hand-over, which comes before its
    successor's statements. What the verifier does not hold is left out (the receiver then
    counts no stake).

    Raises:
        KeyError: ``verifier`` does not hold the attestation's contract.
    """
    c, before, escrow = _rests_on(verifier, attestation)
    statements = [*before, *escrow, attestation]
    # What may disown them comes after them (a live view takes them, then weighs them: ATT-020) -- but for
    # a successor escrow's statements: its hand-over, the revocation of the contract's escrow key and the
    # Mandate naming the successor, comes before them, or they are not the escrow's (ESC-022).
    keys = _signers(verifier, statements)
    handed = (
        [] if all(vs.issuer == c.escrow for vs in escrow) else _disowning(verifier, statements, [c.escrow])
    )
    rest = _disowning(verifier, statements, [k for k in keys if not (handed and k == c.escrow)])
    return _with_mandates(verifier, [*before, *handed, *escrow, attestation, *rest])


def _with_mandates(verifier: Verifier, statements: list[VerifiedStatement]) -> list[VerifiedStatement]:
    """``statements`` after the Mandates they name that ``verifier`` holds, each once."""
    held = verifier.statements
    mandates = [held[vs.header.mandate] for vs in statements if vs.header.mandate in held]
    return list({vs.digest: vs for vs in (*mandates, *statements)}.values())


def _rests_on(
    verifier: Verifier, attestation: VerifiedStatement
) -> tuple[Contract, list[VerifiedStatement], list[VerifiedStatement]]:
    """ATT-020's list of what an attestation's rating rests on but its Mandates: the contract, the
    statements up to its Accept (the contract's escrow's Stamps of them first), and the escrow's BondLocks and
    settlement of the subject's bond (with what a Forfeit rests on).

    Raises:
        KeyError: ``verifier`` does not hold the attestation's contract.
    """
    held = verifier.statements
    subject = attestation.statement.attestation.subject
    neg, c = contract_of(verifier, attestation)
    counters = [held[d] for _, event, _, d in neg.history if event is Event.COUNTER]
    # The opening Offer: the accepted statement itself, or what the first Counter answered.
    bargaining = [c.offer if c.offer.body == "offer" else held[counters[0].statement.counter.offer]]
    for vs in counters:
        if bargaining[-1].digest == c.offer.digest:
            break
        bargaining.append(vs)
    escrow: list[VerifiedStatement] = []
    for _, event, _, digest in neg.history:
        if event not in BOND_EVENTS and event not in SETTLEMENT_EVENTS:
            continue
        vs = held[digest]
        # Every BondLock: a contract whose bonds were not all locked rates nobody (ATT-004).
        if event in SETTLEMENT_EVENTS and getattr(vs.statement, vs.body).party != subject:
            continue
        if vs.body == "forfeit":
            escrow += _forfeit_cause(verifier, neg, vs.statement.forfeit.cause)
        escrow.append(vs)
    # The escrow's Stamps of the contract's statements, before them: a verifier that holds a revocation
    # of a party's key takes one of its statements stamped before the revocation was (KEY-009).
    # KEY-009 (d): the earliest that witnesses -- in a view of evidence, one no held revocation or
    # rotation of the escrow's key disowns (Verifier.counting_stamp).
    # ATT-020 (c): the contract's escrow's alone -- an Offer or Counter naming another escrow, or none, is
    # read with the Accept (its issuer chose its own escrow, whose Stamps or their absence decide nothing).
    stamps = []
    for vs in (*bargaining, c.accept):
        stamp = verifier.counting_stamp(c.escrow, vs.digest) if c.escrow else None
        if stamp is not None:
            stamps.append(stamp)
    return c, [*stamps, *bargaining, c.accept], escrow


def _disowning(
    verifier: Verifier, evidence: list[VerifiedStatement], keys: Iterable[str]
) -> list[VerifiedStatement]:
    """ATT-014, ATT-020: what ``verifier`` holds that may disown a statement of ``evidence`` signed by one of
    ``keys`` (or under a Mandate one of them issued) -- the KeyRevocations and KeyRotations of those keys,
    each key's earliest statement binding it to each of its principals (KEY-007: who may revoke it, and how
    far back, KEY-011) and an escrow key's hand-overs (ESC-022) -- then the witnessing escrows' earliest
    Stamps of each revocation and rotation (KEY-009 orders a statement and a revocation by those). Left out,
    a revocation the holder weighs a rating 0 by is one a third party never heard of: it weighs the rating
    in full (tests/test_served_bundle.py)."""
    if not (verifier.revoked or verifier.rotated):
        return []
    held = verifier.statements
    binding: list[VerifiedStatement] = []
    out: list[VerifiedStatement] = []
    for key in keys:
        digests = [r.digest for r in verifier.revocations_of.get(key, ())]
        digests += [d for _, d in verifier.rotations_of.get(key, ())]
        if not digests:
            continue
        view = verifier.chains.get(key)
        for principal in sorted(verifier.bound.get(key, ())):
            at = verifier.bound_at.get((key, principal))
            link = view.links.get(at[1]) if view is not None and at is not None else None
            vs = held.get(link.digest) if link is not None else None
            if vs is not None:  # else left out, as whatever the peer no longer holds
                binding.append(vs)
        binding += [vs for d in verifier.handovers.get(key, {}) if (vs := held.get(d)) is not None]
        out += [vs for d in digests if (vs := held.get(d)) is not None]
    escrows = dict.fromkeys(e for vs in evidence if (e := verifier.witnessing_escrow(vs)))
    stamps = [s for e in escrows for vs in out if (s := verifier.counting_stamp(e, vs.digest)) is not None]
    return [*binding, *out, *stamps]


def _signers(verifier: Verifier, evidence: Iterable[VerifiedStatement]) -> dict[str, None]:
    """The keys that signed ``evidence`` and the principals of the Mandates it names, in order."""
    keys: dict[str, None] = {}
    for vs in evidence:
        keys[vs.issuer] = None
        record = verifier.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
        if record is not None:
            keys[record.principal] = None
    return keys


def _forfeit_cause(verifier: Verifier, neg: Negotiation, cause: bytes) -> list[VerifiedStatement]:
    """What makes a Forfeit legal for a verifier (CMT-002, CMT-003): the Stamp that made its claim or
    Revoke effective, the claim or Revoke, and for a claim the Ruling that upheld it."""
    held = verifier.statements
    assert neg.contract is not None
    # the earliest Stamp that witnesses it (KEY-009 (d)), else the one that moved the contract: a claim
    # made effective by a disowned Stamp alone rests on it (ATT-020 weighs it 0)
    counting = verifier.counting_stamp(neg.contract.escrow, cause)
    stamp = counting.digest if counting is not None else verifier.witness.stamp_of(neg.contract.escrow, cause)
    out = [held[d] for d in (stamp, cause) if d is not None and d in held]
    for _, event, _, digest in neg.history:
        if event is Event.UPHOLD and held[digest].statement.ruling.claim == cause:
            out.append(held[digest])
    return out


# --- what a party attests once its contract is settled --------------------------------------------


def attestation_due(verifier: Verifier, neg: Negotiation, me: str) -> reputation_pb2.Attestation | None:
    """The Attestation ``me`` owes about its counterparty once their contract is settled (ATT-015),
    or None: not a party, the contract has not ended, its escrow did not lock every bond the terms
    require (nothing was at stake, or nothing could be performed, NEG-012: an attestation would
    weigh nothing, ATT-004) or has not settled every bond it locked, or ``me`` attested it already.

    The outcome follows what the escrow and the witnesses established, not the attester's mood:
    REVOKED or BREACHED when the escrow forfeited the subject's bond for its Revoke or an upheld
    claim; REVOKED when the subject's own Revoke took effect and its bond was not forfeited (a
    revoke is no fulfilment: ATT-005 reads it as neither good nor bad once the bond is released);
    otherwise, over the items the subject still owed (all of them, or after the other party's
    effective Revoke those due before its stamp plus notice), BREACHED when none was delivered,
    PARTIAL when some were, LATE when one was not timely by witnessed time (WIT-003), FULFILLED
    otherwise.
    """
    c = neg.contract
    if c is None or me not in c.parties or not neg.is_terminal or verifier.attested(me, c.id):
        return None
    if not c.locked or any(p not in c.locked for p in c.bonds_required):
        return None
    if any(p not in c.settled for p in c.locked):
        return None
    subject = c.other(me)
    held = verifier.statements
    settled = settlement_of(verifier, neg, subject)
    evidence = [] if settled is None else [settled.digest]
    outcome: reputation_pb2.Outcome
    revoked = [d for d, revoker in c.revokes.items() if revoker == subject]
    if settled is not None and settled.body == "forfeit":
        cause = settled.statement.forfeit.cause
        outcome = reputation_pb2.OUTCOME_REVOKED if cause in c.revokes else reputation_pb2.OUTCOME_BREACHED
        evidence.append(cause)
    elif revoked:
        # The subject left under the terms' exit (no forfeit_bond): whatever it delivered of what stayed
        # owed, it did not perform the contract -- rated FULFILLED, a revoke made before anything of its
        # fell due would be a good outcome from an honest rater for performing nothing.
        outcome = reputation_pb2.OUTCOME_REVOKED
        evidence.append(revoked[0])
    else:
        outcome = _performance(verifier, c, subject)
    receipts = [
        held[d]
        for _, event, _, d in neg.history
        if event in (Event.RECEIPT, Event.RECEIPT_COMPLETE) and held[d].issuer == me
    ]
    ratings = [r.statement.receipt.rating for r in receipts if r.statement.receipt.rating]
    return reputation_pb2.Attestation(
        subject=subject,
        offer=c.offer.digest,
        accept=c.id,
        outcome=outcome,
        evidence=[r.digest for r in receipts] + evidence,
        rating=round(sum(ratings) / len(ratings)) if ratings else 0,
    )


def _performance(verifier: Verifier, c: Contract, subject: str) -> reputation_pb2.Outcome:
    """The outcome of what ``subject`` delivered, when the escrow forfeited none of its bond."""
    until = revoke_until(c)
    items = c.gives(subject)
    owed = {i for i, item in enumerate(items) if until is None or item.deadline_ms < until}
    if not owed:
        return reputation_pb2.OUTCOME_FULFILLED  # a Revoke with notice discharged everything
    first: dict[int, VerifiedStatement] = {}
    for digest, (by, index) in c.deliveries.items():
        vs = verifier.statements[digest]
        if (
            by == subject
            and index in owed
            and (index not in first or vs.header.issued_at_ms < first[index].header.issued_at_ms)
        ):
            first[index] = vs
    if not first:
        return reputation_pb2.OUTCOME_BREACHED
    if set(first) != owed:
        return reputation_pb2.OUTCOME_PARTIAL
    if not all(verifier.witness.delivery_timely(c, vs) for vs in first.values()):
        return reputation_pb2.OUTCOME_LATE
    return reputation_pb2.OUTCOME_FULFILLED
