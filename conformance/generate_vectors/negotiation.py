"""Negotiation, settlement, attestation and commit-reveal vectors (SPEC 8, 9, 10, 7.5).

Negotiation: the state machine from offer to contract (SPEC 8; NEG-001..007, NEG-011).
Settlement: bonds, deliveries, receipts, breach claims with their stamps and rulings, forfeits,
revocation and exclusive keys (SPEC 8.6, 9; NEG-008..012, CMT-001, CMT-002, WIT-005). Attestation:
who may attest, and how often (SPEC 10.1; ATT-001, ATT-002). Commitment: reveals that do or do not
open an offer's commitment (SPEC 7.5; BDY-007). WitnessedAccept: an Accept the offer's escrow stamped
by the bonding cutoff takes precedence over the other answer to that offer, and what it displaces is
superseded (SPEC 8.9; NEG-017).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.negotiation import (
    BOND_GRACE_MS,
    CLAIM_WINDOW_MS,
    CLOCK_TOLERANCE_MS,
    DEFAULT_RESPONSE_WINDOW_MS,
)
from a2a_coop.protocol.statements import Statement, VerifiedStatement
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive, service
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    chain_sign,
    draft_offer,
    edited,
    retimed,
    seal,
    world,
)

UPHOLD, DISMISS, LAPSE = (
    commitment_pb2.RULING_DECISION_UPHOLD,
    commitment_pb2.RULING_DECISION_DISMISS,
    commitment_pb2.RULING_DECISION_LAPSE,
)


def ctx(*parties: Party) -> list[bytes]:
    """The setup envelopes (mandates) of ``parties``, in order."""
    return [e for p in parties for e in p.setup]


def answer(party: Party, body: str, msg: Any, to: VerifiedStatement, **kw: Any) -> Statement:
    """An unsigned trade answer (Counter, Accept, Reject, Withdraw) by ``party`` in ``to``'s negotiation,
    addressed to the other party."""
    audience = to.header.audience if to.issuer == party.did else to.issuer
    kw.setdefault("refs", [to.digest])
    return agent_draft(party, body, msg, audience=audience, negotiation_id=to.header.negotiation_id, **kw)


def escrow_draft(escrow: Party, body: str, msg: Any, accept: VerifiedStatement, **kw: Any) -> Statement:
    """An unsigned escrow statement (BondLock, Release, Forfeit, Refund, Ruling) on ``accept``'s contract."""
    return agent_draft(escrow, body, msg, negotiation_id=accept.header.negotiation_id, **kw)


def ruling(accept: VerifiedStatement, claim: bytes, decision: int, evidence: bytes = b"") -> Any:
    return commitment_pb2.Ruling(contract=accept.digest, claim=claim, decision=decision, evidence=evidence)


def stamp(escrow: Party, *statements: VerifiedStatement, at: int | None = None) -> VerifiedStatement:
    """The escrow's Stamp naming ``statements`` (WIT-001): what makes a claim or a revoke take effect."""
    msg = commitment_pb2.Stamp(statements=[vs.digest for vs in statements])
    return escrow.sign("stamp", msg, issued_at_ms=at)


def party_draft(
    party: Party, body: str, msg: Any, accept: VerifiedStatement, to: Party, **kw: Any
) -> Statement:
    """An unsigned party statement (Delivery, Receipt, BreachClaim, Revoke) in ``accept``'s negotiation."""
    return agent_draft(party, body, msg, audience=to.did, negotiation_id=accept.header.negotiation_id, **kw)


def bad_delivery(party: Party, accept: VerifiedStatement, to: Party) -> bytes:
    """A Delivery under ``accept``'s contract with an item_index out of range: BODY_INVALID where it is read
    as the contract's, taken unread (superseded) where the contract gave way -- which contract stands."""
    msg = commitment_pb2.Delivery(contract=accept.digest, item_index=99, artifact_digest=derive("x"))
    return seal(party.agent.key, party_draft(party, "delivery", msg, accept, to))


def bond_locks(escrow: Party, accept: VerifiedStatement, *parties: Party) -> list[bytes]:
    """The escrow's BondLock of 100 for each party of the contract ``accept`` formed."""
    return [
        chain_sign(
            escrow.agent,
            escrow_draft(
                escrow,
                "bond_lock",
                commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=100),
                accept,
                audience=p.did,
            ),
        ).envelope
        for p in parties
    ]


def pair(key_of: Party, good: Statement, edit: Callable[[Statement], Any]) -> tuple[bytes, bytes]:
    """(defective, twin): ``good`` with one edit, and ``good`` itself, both signed by ``key_of``'s agent
    at the same chain position (nothing advances)."""
    return seal(key_of.agent.key, edited(good, edit)), seal(key_of.agent.key, good)


def negotiation() -> Group:
    g = Group("Negotiation", "sparse")
    clock, alice, bob = world()
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    base = [*ctx(alice, bob), offer.envelope]
    g.add("offer then accept: a contract", ["NEG-002", "NEG-011"], [*base, accept.envelope])
    again = seal(bob.agent.key, answer(bob, "accept", trade_pb2.Accept(offer=offer.digest), offer))
    g.add(
        "Bob accepts the same offer (naming no escrow) a second time: the second, higher in his chain, is "
        "taken superseded (NEG-021; ILLEGAL_TRANSITION before)",
        ["NEG-006", "NEG-021"],
        [*base, accept.envelope, again],
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    counter = bob.counter(
        offer,
        bob.proposal(
            gives=[service("copy-editing", value=400, deadline_ms=clock.now_ms + DAY_MS)],
            wants=[service("code-review", value=500, deadline_ms=clock.now_ms + DAY_MS)],
        ),
    )
    g.add(
        "offer, counter, accept of the counter",
        ["NEG-001", "NEG-004", "NEG-005"],
        [*base, counter.envelope, alice.accept(counter).envelope],
    )

    def to_original(s: Statement) -> None:
        s.accept.offer = offer.digest
        s.header.refs[:] = [offer.digest]

    stale, twin = pair(
        alice, answer(alice, "accept", trade_pb2.Accept(offer=counter.digest), counter), to_original
    )
    g.add(
        "after Bob's counter, Alice accepts her own original offer",
        ["NEG-005"],
        [*base, counter.envelope, stale],
        "STALE_REFERENCE",
        "StaleReference",
        twin=[*base, counter.envelope, twin],
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    proposal = trade_pb2.Counter(offer=offer.digest, proposal=alice.proposal())
    own = agent_draft(
        alice, "counter", proposal, audience=bob.did, negotiation_id=offer.header.negotiation_id
    )
    bobs = agent_draft(
        bob, "counter", trade_pb2.Counter(offer=offer.digest, proposal=bob.proposal()),
        audience=alice.did, negotiation_id=offer.header.negotiation_id,
    )  # fmt: skip
    g.add(
        "Alice counters her own offer (addressed to Bob)",
        ["NEG-004"],
        [*base, seal(alice.agent.key, own)],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*base, seal(bob.agent.key, bobs)],
    )
    withdraw = trade_pb2.Withdraw(offer=offer.digest)
    wrong_w = agent_draft(
        bob, "withdraw", withdraw, audience=alice.did, negotiation_id=offer.header.negotiation_id
    )
    alices_w = alice.withdraw(offer)
    g.add(
        "Bob withdraws Alice's offer",
        ["NEG-004"],
        [*base, seal(bob.agent.key, wrong_w)],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*base, alices_w.envelope],
    )
    g.add("Alice withdraws her offer", ["NEG-004"], [*base, alices_w.envelope])
    rej = bob.reject(offer, "too expensive")
    after_rej = bob.accept(offer)
    g.add(
        "Bob rejects, then accepts (the offer naming no escrow): his Accept, higher in his chain, is taken "
        "superseded (NEG-021; ILLEGAL_TRANSITION before)",
        ["NEG-001", "NEG-021"],
        [*base, rej.envelope, after_rej.envelope],
    )
    carol = Party("carol", clock)
    g.add(
        "Carol (not a party) accepts Alice's offer to Bob",
        ["NEG-003"],
        [*base, *carol.setup, carol.accept(offer).envelope],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*base, *carol.setup, bob.accept(offer).envelope],
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    g.add(
        "an Accept for a negotiation whose opening Offer the verifier does not hold",
        ["NEG-002"],
        [*ctx(alice, bob), accept.envelope],
        "UNKNOWN_NEGOTIATION",
        "StaleReference",
        twin=[*ctx(alice, bob), offer.envelope, accept.envelope],
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    at_expiry = answer(
        bob, "accept", trade_pb2.Accept(offer=offer.digest), offer, issued_at_ms=offer.header.expires_at_ms
    )
    g.add(
        "Bob accepts at the offer's expires_at_ms exactly",
        ["NEG-007"],
        [*base, seal(bob.agent.key, at_expiry)],
        None,
        "Boundary",
    )
    late, twin = pair(bob, at_expiry, retimed(offer.header.expires_at_ms + 1))
    g.add(
        "Bob accepts 1 ms after the offer expired",
        ["NEG-007"],
        [*base, late],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=[*base, twin],
    )
    return g


def uneven_bonds() -> list[tuple[str, list[bytes], str, str, list[bytes]]]:
    """(title, defective, code, exception, twin) of contracts whose two bonds differ, so that a verifier
    that mixed up issuer_bond (the proposer's) and audience_bond (the acceptor's) fails one of them
    (NEG-012). Equal bonds cannot tell the two terms apart."""
    out = []
    for issuer_bond, audience_bond in ((100, 40), (100, 0), (0, 100)):
        clock = FixedClock()
        alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        terms = alice.proposal(issuer_bond=issuer_bond, audience_bond=audience_bond, escrow=escrow.did)
        offer = alice.offer(bob, terms)
        clock.advance(1_000)
        accept = bob.accept(offer)
        base = [*ctx(alice, bob, escrow), offer.envelope, accept.envelope]
        bonds = f"bonds {issuer_bond} (proposer Alice) and {audience_bond} (acceptor Bob)"

        def lock(
            p: Party, amount: int, accept: VerifiedStatement = accept, escrow: Party = escrow
        ) -> Statement:
            msg = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=amount)
            return escrow_draft(escrow, "bond_lock", msg, accept, audience=p.did)

        if issuer_bond and audience_bond:
            for p, own, other in ((alice, issuer_bond, audience_bond), (bob, audience_bond, issuer_bond)):
                bad, good = pair(escrow, lock(p, own), lambda s, a=other: setattr(s.bond_lock, "amount", a))
                title = f"{bonds}: the escrow locks the other party's amount for {p.name}"
                out.append((title, [*base, bad], "BODY_INVALID", "ContractRule", [*base, good]))
            continue
        bonded, unbonded = (alice, bob) if issuer_bond else (bob, alice)
        locked = chain_sign(escrow.agent, lock(bonded, issuer_bond or audience_bond))
        clock.advance(1_000)
        early = unbonded.deliver(accept, bonded)
        title = f"{bonds}: {unbonded.name} delivers before {bonded.name}'s bond is locked"
        out.append(
            (
                title,
                [*base, early.envelope],
                "ILLEGAL_TRANSITION",
                "IllegalTransition",
                [*base, locked.envelope, early.envelope],
            )
        )
    return out


def accepted_at(after_deadline: int) -> list[bytes]:
    """A bonded contract whose Accept Bob dates ``after_deadline`` ms after the items' deadline (ahead of
    the clock, as the skew allows), both bonds locked at once by the escrow's clock, then Alice's claim
    on Bob's item after both the deadline and the Accept (CMT-011)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    deadline = clock.now_ms + 20_000
    proposal = alice.proposal(
        gives=[service("code-review", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline, quantity=10, unit="page")],
        issuer_bond=100,
        audience_bond=100,
        escrow=escrow.did,
    )
    offer = alice.offer(bob, proposal)
    clock.advance(1_000)
    accept = bob.accept(offer, issued_at_ms=deadline + after_deadline)
    locks = [
        chain_sign(
            escrow.agent,
            escrow_draft(
                escrow,
                "bond_lock",
                commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=100),
                accept,
                audience=p.did,
            ),
        ).envelope
        for p in (alice, bob)
    ]
    clock.now_ms = accept.header.issued_at_ms + 1_000
    msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived")
    claim = alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=offer.header.negotiation_id)
    return [*ctx(alice, bob, escrow), offer.envelope, accept.envelope, *locks, claim.envelope]


def settlement() -> Group:
    g = Group("Settlement", "sparse")
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    bonded = alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did)
    offer = alice.offer(bob, bonded)
    clock.advance(1_000)
    accept = bob.accept(offer)
    base = [*ctx(alice, bob, escrow), offer.envelope, accept.envelope]

    def lock(p: Party, amount: int = 100) -> Statement:
        msg = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=amount)
        return escrow_draft(escrow, "bond_lock", msg, accept, audience=p.did)

    def delivery(item_index: int = 0) -> Statement:
        msg = commitment_pb2.Delivery(contract=accept.digest, item_index=item_index)
        return party_draft(alice, "delivery", msg, accept, bob)

    early = seal(alice.agent.key, delivery())
    own_lock = commitment_pb2.BondLock(contract=accept.digest, party=bob.did, amount=100)
    bobs_lock = seal(bob.agent.key, escrow_draft(bob, "bond_lock", own_lock, accept, audience=bob.did))
    half, full = pair(escrow, lock(alice), lambda s: setattr(s.bond_lock, "amount", 50))
    la = chain_sign(escrow.agent, lock(alice))
    lb = chain_sign(escrow.agent, lock(bob))
    locks = [la.envelope, lb.envelope]
    g.add(
        "Alice delivers before the bonds are locked",
        ["NEG-012"],
        [*base, early],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=[*base, *locks, early],
    )
    g.add(
        "Bob (not the escrow) locks his own bond",
        ["NEG-008"],
        [*base, bobs_lock],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*base, lb.envelope],
    )
    g.add(
        "the escrow locks 50 of a 100 bond",
        ["NEG-012"],
        [*base, half],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, full],
    )
    for title, bad, code, exception, good in uneven_bonds():
        g.add(title, ["NEG-012"], bad, code, exception, twin=good)
    clock.advance(1_000)
    out_of_range, item0 = pair(alice, delivery(), lambda s: setattr(s.delivery, "item_index", 1))
    naming_offer, naming_contract = pair(
        alice, delivery(), lambda s: setattr(s.delivery, "contract", offer.digest)
    )
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    clock.advance(1_000)
    own_receipt = party_draft(
        alice, "receipt", commitment_pb2.Receipt(delivery=da.digest, rating=100), accept, bob
    )
    ra, rb = bob.receipt(da), alice.receipt(db)
    releases = [
        escrow.sign(
            "release",
            commitment_pb2.Release(contract=accept.digest, party=p.did, amount=100),
            audience=p.did,
            negotiation_id=accept.header.negotiation_id,
        )
        for p in (alice, bob)
    ]
    trade = [*base, *locks, da.envelope, db.envelope, ra.envelope, rb.envelope]
    g.add(
        "a bonded trade: locks, deliveries, receipts, releases",
        ["NEG-008", "NEG-012", "CMT-001"],
        [*trade, *(r.envelope for r in releases)],
    )
    g.add(
        "Alice issues the receipt for her own delivery",
        ["NEG-008"],
        [*base, *locks, da.envelope, seal(alice.agent.key, own_receipt)],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*base, *locks, da.envelope, ra.envelope],
    )
    g.add(
        "Alice delivers item 1 of her 1 item",
        ["NEG-008"],
        [*base, *locks, out_of_range],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, *locks, item0],
    )
    g.add(
        "a delivery naming the offer, not the contract (the Accept)",
        ["NEG-005", "NEG-011"],
        [*base, *locks, naming_offer],
        "STALE_REFERENCE",
        "StaleReference",
        twin=[*base, *locks, naming_contract],
    )
    deadline = bonded.wants[0].deadline_ms
    claim_msg = commitment_pb2.BreachClaim(
        contract=accept.digest, item_index=0, reason="copy editing never arrived"
    )
    early_claim, claim_after = pair(
        alice,
        party_draft(alice, "breach_claim", claim_msg, accept, bob, issued_at_ms=deadline + 1),
        retimed(clock.now_ms),
    )
    g.add(
        "a breach claim before the item's deadline",
        ["CMT-002"],
        [*base, *locks, da.envelope, early_claim],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=[*base, *locks, da.envelope, claim_after],
    )
    g.add(
        "a breach claim on an item due before every bond was locked (Alice's never was)",
        ["CMT-009"],
        [*base, lb.envelope, claim_after],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=[*base, *locks, claim_after],
    )
    g.add(
        "a breach claim on an item due 1 ms before the contract's Accept (the Accept dated ahead, "
        "within the skew, with both bonds locked at once)",
        ["CMT-011"],
        accepted_at(1),
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        "Boundary",
        twin=accepted_at(0),
    )
    # Bonding ends at the accepted offer's expiry + 30 s (CMT-010): a lock after it would let the party
    # that funds last choose when the other may start to perform.
    cutoff = offer.header.expires_at_ms + BOND_GRACE_MS
    late_lb, lb_at_cutoff = pair(escrow, edited(lock(bob), retimed(cutoff)), retimed(cutoff + 1))
    g.add(
        "the escrow locks Bob's bond 1 ms after the bonding cutoff (the accepted offer's expires_at_ms "
        "+ 30 s), Alice's having been locked at once",
        ["CMT-010", "NEG-012"],
        [*base, la.envelope, late_lb],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        "Boundary",
        twin=[*base, la.envelope, lb_at_cutoff],
    )
    g.add(
        "the escrow locks Bob's bond at the bonding cutoff itself: BONDED",
        ["CMT-010", "NEG-012"],
        [*base, la.envelope, lb_at_cutoff],
        None,
        "Boundary",
    )
    clock.now_ms = deadline + 1_000
    claim = alice.sign(
        "breach_claim", claim_msg, audience=bob.did, negotiation_id=accept.header.negotiation_id
    )
    witnessed = stamp(escrow, claim)
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    upheld = escrow.sign(
        "ruling", ruling(accept, claim.digest, UPHOLD), negotiation_id=accept.header.negotiation_id
    )
    forfeit_msg = commitment_pb2.Forfeit(
        contract=accept.digest, party=bob.did, amount=100, beneficiary=alice.did, cause=claim.digest
    )
    to_escrow, to_alice = pair(
        escrow,
        escrow_draft(escrow, "forfeit", forfeit_msg, accept, audience=bob.did),
        lambda s: setattr(s.forfeit, "beneficiary", escrow.did),
    )
    dispute = [*base, *locks, da.envelope, claim.envelope, witnessed.envelope, upheld.envelope]
    g.add(
        "Bob never delivers: Alice claims after the deadline, the escrow stamps the claim, upholds it once "
        "the response window has passed and forfeits Bob's bond to Alice",
        ["CMT-002", "NEG-008", "WIT-005"],
        [*dispute, to_alice],
    )
    g.add(
        "the escrow forfeits Bob's bond to itself",
        ["CMT-002"],
        [*dispute, to_escrow],
        "BODY_INVALID",
        "ContractRule",
        twin=[*dispute, to_alice],
    )

    def revocation_case(allowed: bool) -> list[bytes]:
        clock = FixedClock()
        alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        terms = (
            alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))
            if allowed
            else None
        )
        offer = alice.offer(bob, terms)
        accept = bob.accept(offer)
        revoke = alice.revoke(accept, bob, "changed plans")
        out = [*ctx(alice, bob, escrow), offer.envelope, accept.envelope, revoke.envelope]
        return [*out, stamp(escrow, revoke).envelope] if allowed else out

    g.add(
        "Alice revokes a contract whose terms do not allow revocation",
        ["NEG-010"],
        revocation_case(False),
        "REVOCATION_NOT_ALLOWED",
        "ContractRule",
        twin=revocation_case(True),
    )
    g.add(
        "Alice revokes a contract whose terms allow revocation (with an escrow, BDY-003); the escrow's "
        "stamp makes the Revoke take effect",
        ["NEG-010", "WIT-005", "BDY-003"],
        revocation_case(True),
    )

    clock, alice, bob = world()
    carol = Party("carol", clock)
    ex = alice.proposal(exclusive_key=b"gpu-slot-7")
    o1 = alice.offer(bob, ex)
    a1 = bob.accept(o1)
    o2 = alice.offer(carol, ex)
    a2 = carol.accept(o2)
    ctx3 = ctx(alice, bob, carol)
    d1, d2 = alice.deliver(a1, bob), bob.deliver(a1, alice)
    r1, r2 = bob.receipt(d1), alice.receipt(d2)
    done = [d1.envelope, d2.envelope, r1.envelope, r2.envelope]
    freed = [*ctx3, o1.envelope, a1.envelope, *done, o2.envelope, a2.envelope]
    g.add(
        "Alice's exclusive key is accepted in a second live contract",
        ["NEG-009"],
        [*ctx3, o1.envelope, a1.envelope, o2.envelope, a2.envelope],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
        twin=freed,
    )
    g.add(
        "the first contract is fulfilled before the second accept: the key is free again",
        ["NEG-009"],
        freed,
    )
    return g


def attestation() -> Group:
    g = Group("Attestation", "sparse")
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    parties = ctx(alice, bob, carol)
    contract = [*parties, offer.envelope, accept.envelope]
    att = alice.attest(offer, accept, bob.did)
    g.add("Alice attests about Bob on their contract", ["ATT-001"], [*contract, att.envelope])
    g.add(
        "Alice attests a second time on the same contract",
        ["ATT-002"],
        [*contract, att.envelope, alice.attest(offer, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        no_twin="the defect is a second attestation: without the first it is the valid case before",
    )
    g.add(
        "Carol (no party) attests about Bob",
        ["ATT-001"],
        [*contract, carol.attest(offer, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, att.envelope],
    )
    g.add(
        "Alice attests about herself",
        ["ATT-001"],
        [*contract, alice.attest(offer, accept, alice.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, att.envelope],
    )
    lone = alice.offer(bob)
    lone_accept = bob.accept(lone)
    g.add(
        "an attestation on an offer that was never accepted",
        ["ATT-001"],
        [*parties, lone.envelope, alice.attest(lone, lone, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[
            *parties,
            lone.envelope,
            lone_accept.envelope,
            alice.attest(lone, lone_accept, bob.did).envelope,
        ],
    )
    g.add(
        "an attestation citing a contract the verifier does not hold",
        ["ATT-001"],
        [*parties, att.envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, att.envelope],
    )
    g.add(
        "an attestation pairing an accept with another offer",
        ["ATT-001"],
        [*contract, lone.envelope, alice.attest(lone, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, lone.envelope, att.envelope],
    )
    later = alice.attest(offer, accept, bob.did, reputation_pb2.OUTCOME_PARTIAL)
    g.add(
        "Alice's two attestations of one contract heard later one first: the one she signed first "
        "is admitted after it, and counts instead",
        ["ATT-002"],
        [*contract, later.envelope, att.envelope],
    )
    return g


def commitment() -> Group:
    g = Group("Commitment", "sparse")
    _, alice, bob = world()
    salt = derive("salt/reservation")
    claim = trade_pb2.Claim(
        kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE, subject="code-review", commitment=commit(420, salt)
    )
    offer = alice.offer(bob, alice.proposal(claims=[claim]))
    base = [*alice.setup, offer.envelope]

    def reveal(amount: int = 420, s: bytes = salt, by: Party = alice, claim_index: int = 0) -> Statement:
        msg = commitment_pb2.Reveal(statement=offer.digest, claim_index=claim_index, salt=s, amount=amount)
        return agent_draft(by, "reveal", msg)

    opened = seal(alice.agent.key, reveal())
    g.add("Alice reveals the committed reservation value", ["BDY-007"], [*base, opened], None, "Commitment")
    for comment, bad in [
        ("a reveal with another amount", reveal(421)),
        ("a reveal with another salt", reveal(s=derive("other salt"))),
    ]:
        g.add(
            comment, ["BDY-007"], [*base, seal(alice.agent.key, bad)], "COMMITMENT_MISMATCH", "Commitment",
            twin=[*base, opened],
        )  # fmt: skip
    g.add(
        "a reveal of a claim index that does not exist",
        ["BDY-007"],
        [*base, seal(alice.agent.key, reveal(claim_index=1))],
        "BODY_INVALID",
        "Commitment",
        twin=[*base, opened],
    )
    g.add(
        "Bob reveals a claim in Alice's offer",
        ["BDY-007"],
        [*base, *bob.setup, seal(bob.agent.key, reveal(by=bob))],
        "BODY_INVALID",
        "Commitment",
        twin=[*base, *bob.setup, opened],
    )
    return g


class ClaimedBreach(NamedTuple):
    """A bonded contract breached at escrow key ``esc`` and claimed, as :func:`claimed_breach` builds it."""

    clock: FixedClock
    alice: Party
    bob: Party
    esc: Party
    offer: VerifiedStatement
    accept: VerifiedStatement
    claim: VerifiedStatement
    envelopes: list[bytes]


def claimed_breach(bond: int, exclusive_key: bytes = b"") -> ClaimedBreach:
    """Alice offers Bob a trade bonded ``bond`` each at escrow ``esc``; Bob accepts; the escrow stamps both
    and locks both bonds; a second after the deadline Alice claims Bob's item 0 never arrived. The
    envelopes: the three parties' setup, the Stamp, the Offer, the Accept, the two BondLocks, the claim --
    the start of the hand-over stories of keytime.json and ratings.json (their bytes depend on this order).
    ``exclusive_key``: Alice's offer's (none by default)."""
    clock = FixedClock()
    alice, bob, esc = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    proposal = alice.proposal(
        issuer_bond=bond, audience_bond=bond, escrow=esc.did, exclusive_key=exclusive_key
    )
    offer = alice.offer(bob, proposal)
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    out = [*esc.setup, *alice.setup, *bob.setup]
    out.append(esc.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest])).envelope)
    out += [offer.envelope, accept.envelope]
    for p in (alice, bob):
        lock = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=bond)
        out.append(esc.sign("bond_lock", lock, negotiation_id=nid).envelope)
    clock.now_ms = offer.statement.offer.gives[0].deadline_ms + 1_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived"),
        audience=bob.did,
        negotiation_id=nid,
    )
    out.append(claim.envelope)
    return ClaimedBreach(clock, alice, bob, esc, offer, accept, claim, out)


# --- SPEC 0.2: arbitration, causal time, one final state ------------------------------------------


class Deal:
    """Alice (proposer) and Bob (acceptor) in a contract that names an escrow, on their own clock.

    ``base`` is the context every case starts from (the three mandates, the offer, the Accept);
    ``locks`` the escrow's two BondLocks when the terms have bonds. Builders sign through each
    party's chain unless they return an unsigned :class:`Statement`.
    """

    def __init__(
        self, bond: int = 100, *, locked: bool = True, response_window_ms: int = 0, **terms: Any
    ) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.escrow, self.carol = Party("escrow", clock), Party("carol", clock)
        proposal = self.alice.proposal(issuer_bond=bond, audience_bond=bond, escrow=self.escrow.did, **terms)
        proposal.terms.response_window_ms = response_window_ms
        self.offer = self.alice.offer(self.bob, proposal)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        self.base = [*ctx(self.alice, self.bob, self.escrow), self.offer.envelope, self.accept.envelope]
        self.bond = bond
        both = (self.alice, self.bob) if bond and locked else ()
        self.locks = [self.escrow_says("bond_lock", p).envelope for p in both]
        clock.advance(1_000)

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id

    @property
    def deadline(self) -> int:
        """Every item's deadline (the default proposal gives both items one deadline)."""
        return self.offer.statement.offer.wants[0].deadline_ms

    def money(self, body: str, party: Party, **fields: Any) -> Statement:
        """An unsigned BondLock, Release, Forfeit or Refund of ``party``'s bond."""
        cls = {
            "bond_lock": commitment_pb2.BondLock,
            "release": commitment_pb2.Release,
            "forfeit": commitment_pb2.Forfeit,
            "refund": commitment_pb2.Refund,
        }[body]
        msg = cls(contract=self.accept.digest, party=party.did, amount=self.bond, **fields)
        return escrow_draft(self.escrow, body, msg, self.accept, audience=party.did)

    def escrow_says(self, body: str, party: Party, **fields: Any) -> VerifiedStatement:
        return chain_sign(self.escrow.agent, self.money(body, party, **fields))

    def forfeit(self, party: Party, cause: VerifiedStatement) -> Statement:
        beneficiary = self.bob if party is self.alice else self.alice
        return self.money("forfeit", party, beneficiary=beneficiary.did, cause=cause.digest)

    def deliver(self, party: Party, **kw: Any) -> VerifiedStatement:
        return party.deliver(self.accept, self.bob if party is self.alice else self.alice, **kw)

    def claim(self, claimant: Party, **kw: Any) -> VerifiedStatement:
        """``claimant``'s BreachClaim on the other party's item 0 (issued now, unless ``issued_at_ms``)."""
        accused = self.bob if claimant is self.alice else self.alice
        msg = commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=0, reason="never arrived")
        return claimant.sign("breach_claim", msg, audience=accused.did, negotiation_id=self.nid, **kw)

    def ruling(
        self, claim: VerifiedStatement | None, decision: int, evidence: bytes = b"", **kw: Any
    ) -> Statement:
        """An unsigned Ruling by the escrow (issued now, unless ``issued_at_ms``)."""
        msg = ruling(self.accept, claim.digest if claim else b"", decision, evidence)
        return escrow_draft(self.escrow, "ruling", msg, self.accept, **kw)

    def sign(self, stmt: Statement) -> bytes:
        """Sign an escrow statement built here, through the escrow's chain."""
        return chain_sign(self.escrow.agent, stmt).envelope


def arbitration() -> Group:
    """SPEC 0.2 disputes: claims and revokes take effect by the escrow's stamp (WIT-005), rulings end
    them (CMT-002), claims need an escrow (CMT-005), lapses are declared (CMT-006), and a bond refunded
    before the other is locked leaves the contract unbonded (NEG-012)."""
    g = Group("Arbitration", "sparse")
    w = DEFAULT_RESPONSE_WINDOW_MS

    # Bob never delivers. Alice claims after the deadline; the escrow stamps the claim, and rules on it
    # once the response window has passed.
    d = Deal()
    esc = d.escrow.agent.key
    pre = [*d.base, *d.locks, d.deliver(d.alice).envelope]
    d.clock.now_ms = d.deadline + 1
    claim = d.claim(d.alice)
    witnessed = stamp(d.escrow, claim)
    claimed = [*pre, claim.envelope, witnessed.envelope]
    d.clock.advance(w)
    upheld = d.ruling(claim, UPHOLD)
    ruled = seal(esc, upheld)
    g.add(
        "Alice's claim is held without the escrow's stamp: a ruling citing it names no effective claim",
        ["WIT-005", "CMT-002"],
        [*pre, claim.envelope, ruled],
        "STALE_REFERENCE",
        "Unwitnessed",
        twin=[*claimed, ruled],
    )
    g.add(
        "the escrow's stamp arrives after the claim: the claim takes effect, the ruling is valid",
        ["WIT-005", "CMT-002"],
        [*claimed, ruled],
    )
    g.add(
        "the escrow's stamp arrives before the claim: the claim takes effect on arrival, the ruling is valid",
        ["WIT-005", "CMT-002"],
        [*pre, witnessed.envelope, claim.envelope, ruled],
    )
    by_carol = stamp(d.carol, claim, at=witnessed.header.issued_at_ms)
    g.add(
        "the claim is stamped by Carol, not the contract's escrow: it takes no effect (a ruling citing it "
        "names no effective claim)",
        ["WIT-005", "CMT-002"],
        [*pre, *d.carol.setup, claim.envelope, by_carol.envelope, ruled],
        "STALE_REFERENCE",
        "Unwitnessed",
        twin=[*pre, *d.carol.setup, *claimed[len(pre) :], ruled],
    )
    early, _ = pair(d.escrow, upheld, retimed(witnessed.header.issued_at_ms + w - 1))
    g.add(
        "a ruling 1 ms before the claim's stamp plus the response window",
        ["CMT-002"],
        [*claimed, early],
        "ILLEGAL_TRANSITION",
        "Ruling",
        twin=[*claimed, ruled],
    )
    g.add(
        "a ruling exactly at the claim's stamp plus the response window",
        ["CMT-002"],
        [*claimed, ruled],
        None,
        "Boundary",
    )
    assert chain_sign(d.escrow.agent, upheld).envelope == ruled
    forfeit = seal(esc, d.forfeit(d.bob, claim))
    g.add(
        "a forfeit of Bob's bond citing Alice's claim, which no ruling upheld",
        ["CMT-002"],
        [*claimed, forfeit],
        "BODY_INVALID",
        "Ruling",
        twin=[*claimed, ruled, forfeit],
    )
    g.add(
        "a second ruling on the same claim",
        ["CMT-002"],
        [*claimed, ruled, seal(esc, d.ruling(claim, UPHOLD))],
        "BODY_INVALID",
        "Ruling",
        no_twin="the defect is a second ruling: without the first it is a valid one",
    )
    bobs = seal(d.bob.agent.key, escrow_draft(d.bob, "ruling", upheld.ruling, d.accept))
    g.add(
        "a ruling by Bob, not the contract's escrow",
        ["NEG-008"],
        [*claimed, bobs],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*claimed, ruled],
    )

    # Bob delivered on time (the escrow stamped his delivery); Alice claims anyway, and the escrow
    # dismisses the claim citing Bob's Delivery. A verifier follows a dismissal whether or not it holds
    # the Delivery cited (whether the evidence was right is for the audit, AUD-004): every verifier
    # reaches the escrow's state.
    d = Deal()
    alices, bobs_delivery = d.deliver(d.alice), d.deliver(d.bob)
    witnessed = stamp(d.escrow, bobs_delivery).envelope
    pre = [*d.base, *d.locks, alices.envelope, bobs_delivery.envelope, witnessed]
    d.clock.now_ms = d.deadline + 1
    claim = d.claim(d.alice)
    claimed = [*pre, claim.envelope, stamp(d.escrow, claim).envelope]
    d.clock.advance(w)
    dismissal = d.sign(d.ruling(claim, DISMISS, evidence=bobs_delivery.digest))
    g.add(
        "a dismissal citing Bob's delivery of the claimed item: the dispute ends, the contract is performing",
        ["CMT-002", "BDY-016"],
        [*claimed, dismissal],
    )
    unseen = [e for e in claimed if e != bobs_delivery.envelope]
    g.add(
        "the same dismissal at a verifier that never saw Bob's delivery: it follows the ruling all the same",
        ["CMT-002", "NEG-015"],
        [*unseen, dismissal],
    )

    def claim_under(escrow: bool) -> list[bytes]:
        """Alice's claim, after Bob's deadline, in a contract without bonds whose terms name an escrow or
        not."""
        clock, alice, bob = world()
        arbiter = Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=arbiter.did if escrow else ""))
        accept = bob.accept(offer)
        clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
        msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived")
        claim = alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=offer.header.negotiation_id)
        return [*ctx(alice, bob, arbiter), offer.envelope, accept.envelope, claim.envelope]

    g.add(
        "a breach claim under terms that name no escrow (nobody could rule on it)",
        ["CMT-005"],
        claim_under(escrow=False),
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=claim_under(escrow=True),
    )

    def stamped_at(after_deadline: int) -> list[bytes]:
        """Alice's claim stamped ``after_deadline`` ms after Bob's deadline, then an UPHOLD once the
        response window has passed."""
        d = Deal()
        d.clock.now_ms = d.deadline + 1
        claim = d.claim(d.alice)
        witness = stamp(d.escrow, claim, at=d.deadline + after_deadline)
        decided = d.ruling(claim, UPHOLD, issued_at_ms=witness.header.issued_at_ms + w)
        return [*d.base, *d.locks, claim.envelope, witness.envelope, d.sign(decided)]

    g.add(
        "the escrow stamps Alice's claim 1 ms after the claim window closed: the claim never takes effect "
        "(a ruling citing it names no effective claim)",
        ["CMT-005", "WIT-005", "CMT-002"],
        stamped_at(CLAIM_WINDOW_MS + 1),
        "STALE_REFERENCE",
        "Unwitnessed",
        "Boundary",
        twin=stamped_at(CLAIM_WINDOW_MS),
    )
    g.add(
        "the escrow stamps Alice's claim as the claim window closes: the claim takes effect",
        ["CMT-005", "WIT-005"],
        stamped_at(CLAIM_WINDOW_MS),
        None,
        "Boundary",
    )

    def ruled_at(after_deadline: int) -> list[bytes]:
        """Under a 1 ms response window, Alice's claim stamped 1 ms after Bob's deadline, then an UPHOLD
        dated ``after_deadline`` ms after the deadline."""
        d = Deal(response_window_ms=1)
        d.clock.now_ms = d.deadline + 1
        claim = d.claim(d.alice)
        witness = stamp(d.escrow, claim, at=d.deadline + 1)
        decided = d.ruling(claim, UPHOLD, issued_at_ms=d.deadline + after_deadline)
        return [*d.base, *d.locks, claim.envelope, witness.envelope, d.sign(decided)]

    g.add(
        "under a 1 ms response window, an UPHOLD dated at Bob's deadline + 30000 (the clock tolerance): a "
        "Delivery of his stamped then would still be timely (WIT-003), so the ruling is early",
        ["CMT-002", "WIT-003"],
        ruled_at(CLOCK_TOLERANCE_MS),
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        "Boundary",
        twin=ruled_at(CLOCK_TOLERANCE_MS + 1),
    )
    g.add(
        "under a 1 ms response window, an UPHOLD dated 1 ms after Bob's deadline + 30000: taken",
        ["CMT-002"],
        ruled_at(CLOCK_TOLERANCE_MS + 1),
        None,
        "Boundary",
    )

    # Nobody performs or claims; the escrow declares the lapse once the last deadline plus the claim
    # window has passed on its clock, and refunds both bonds. Under terms without a bond that is the
    # earliest a LAPSE may come; under bonded terms, just after the bonding cutoff (a contract not
    # bonded by then never will be, ESC-010; whether it was is the audit's, AUD-004).
    unbonded = Deal(bond=0)
    lapse_at = unbonded.deadline + CLAIM_WINDOW_MS
    too_early, in_time = pair(
        unbonded.escrow, unbonded.ruling(None, LAPSE, issued_at_ms=lapse_at + 1), retimed(lapse_at)
    )
    g.add(
        "escrowed terms without a bond: a LAPSE ruling at exactly the last deadline plus the claim window",
        ["CMT-006"],
        [*unbonded.base, too_early],
        "ILLEGAL_TRANSITION",
        "Ruling",
        "Boundary",
        twin=[*unbonded.base, in_time],
    )
    d = Deal()
    lapse_at = d.deadline + CLAIM_WINDOW_MS
    lapse = d.ruling(None, LAPSE, issued_at_ms=lapse_at + 1)
    cutoff = d.offer.header.expires_at_ms + BOND_GRACE_MS
    at_cutoff, after_cutoff = pair(d.escrow, d.ruling(None, LAPSE, issued_at_ms=cutoff + 1), retimed(cutoff))
    g.add(
        "bonded terms, Bob's bond never locked: a LAPSE ruling at exactly the bonding cutoff",
        ["CMT-006", "CMT-010"],
        [*d.base, d.locks[0], at_cutoff],
        "ILLEGAL_TRANSITION",
        "Ruling",
        "Boundary",
        twin=[*d.base, d.locks[0], after_cutoff],
    )
    lapsed = [*d.base, *d.locks, d.sign(lapse)]
    d.clock.now_ms = lapse_at + 1
    refunds = [d.escrow_says("refund", p).envelope for p in (d.alice, d.bob)]
    g.add(
        "a LAPSE ruling 1 ms later (EXPIRED), then both bonds refunded",
        ["CMT-006", "CMT-004", "BDY-016"],
        [*lapsed, *refunds],
        None,
        "Boundary",
    )
    g.add(
        "a second LAPSE ruling",
        ["CMT-006"],
        [*lapsed, seal(d.escrow.agent.key, d.ruling(None, LAPSE))],
        "BODY_INVALID",
        "Ruling",
        no_twin="the defect is a second lapse: without the first it is a valid one",
    )

    # A bond refunded before the other one is locked: the contract never becomes BONDED.
    d = Deal(locked=False)
    lock_a, lock_b = d.escrow_says("bond_lock", d.alice), d.escrow_says("bond_lock", d.bob)
    refund = d.escrow_says("refund", d.alice)
    lock_b_again = chain_sign(d.escrow.agent, d.money("bond_lock", d.bob))
    delivery = d.deliver(d.alice)
    g.add(
        "the escrow locks Alice's bond, refunds it, then locks Bob's: the contract is not BONDED (a locked "
        "bond was settled), so Alice's Delivery is refused",
        ["NEG-012"],
        [*d.base, lock_a.envelope, refund.envelope, lock_b_again.envelope, delivery.envelope],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        twin=[*d.base, lock_a.envelope, lock_b.envelope, delivery.envelope],
    )

    # A Revoke takes effect by its stamp, like a claim: before it, nothing can be forfeited for it.
    d = Deal(revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    revoke = d.bob.revoke(d.accept, d.alice, "changed plans")
    witness = stamp(d.escrow, revoke)
    forfeit = seal(d.escrow.agent.key, d.forfeit(d.bob, revoke))
    g.add(
        "Bob's Revoke, held without the escrow's stamp: a Forfeit of his bond citing it has no cause",
        ["WIT-005", "CMT-003", "CMT-002"],
        [*d.base, *d.locks, revoke.envelope, forfeit],
        "BODY_INVALID",
        "Unwitnessed",
        twin=[*d.base, *d.locks, revoke.envelope, witness.envelope, forfeit],
    )

    # An escrow at fault rules twice on one claim, DISMISS then UPHOLD: a Ruling UPHOLD held makes the
    # contract BREACHED (section 8.9, row 2), so a verifier shown the DISMISS first still takes the
    # UPHOLD, and one shown the UPHOLD first refuses the DISMISS: both end BREACHED (the audit names
    # the wrong one, AUD-004).
    d = Deal()
    pre = [*d.base, *d.locks, d.deliver(d.alice).envelope]
    d.clock.now_ms = d.deadline + 1
    claim = d.claim(d.alice)
    claimed = [*pre, claim.envelope, stamp(d.escrow, claim).envelope]
    d.clock.advance(w)
    dismissed = chain_sign(d.escrow.agent, d.ruling(claim, DISMISS, evidence=d.accept.digest))
    upheld_too = chain_sign(d.escrow.agent, d.ruling(claim, UPHOLD))
    g.add(
        "the escrow upholds a claim it dismissed: the UPHOLD is taken (a Ruling UPHOLD held makes the "
        "contract BREACHED, section 8.9), so verifiers shown both rulings in either order agree",
        ["CMT-002", "NEG-015"],
        [*claimed, dismissed.envelope, upheld_too.envelope],
    )
    g.add(
        "the escrow's dismissal of a claim it upheld, shown after the UPHOLD: a second ruling",
        ["CMT-002", "NEG-015"],
        [*claimed, upheld_too.envelope, dismissed.envelope],
        "BODY_INVALID",
        "Ruling",
        no_twin="the defect is a second ruling: without the first it is a valid one",
    )
    return g


def causality() -> Group:
    """SPEC 0.2 negotiation ids and causal time: only an Offer's own id opens a negotiation (NEG-013),
    and no answer is dated before what it answers (NEG-014); the same millisecond is in time."""
    g = Group("Causality", "sparse")
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    nonce = alice.agent.next_nonce()
    second = draft_offer(alice, bob, nonce=nonce)
    g.add(
        "Alice sends a second Offer under the open negotiation's id (later proposals are Counters)",
        ["NEG-013", "NEG-001"],
        [
            *base,
            seal(
                alice.agent.key,
                edited(second, lambda s: setattr(s.header, "negotiation_id", offer.header.negotiation_id)),
            ),
        ],
        "HEADER_INVALID",
        "DerivedNegotiationId",
        twin=[*base, seal(alice.agent.key, second)],
    )
    t = offer.header.issued_at_ms
    for body, msg in [
        ("accept", trade_pb2.Accept(offer=offer.digest)),
        ("counter", trade_pb2.Counter(offer=offer.digest, proposal=bob.proposal())),
    ]:
        same_ms = answer(bob, body, msg, offer, issued_at_ms=t)
        before, at = pair(bob, same_ms, retimed(t - 1))
        g.add(
            f"Bob's {body.title()} dated 1 ms before Alice's offer",
            ["NEG-014"],
            [*base, before],
            "ILLEGAL_TRANSITION",
            "CausalTime",
            twin=[*base, at],
        )
        g.add(
            f"Bob's {body.title()} dated in the offer's own millisecond",
            ["NEG-014"],
            [*base, at],
            None,
            "Boundary",
        )
    clock.advance(1_000)
    accept = bob.accept(offer)
    contract = [*base, accept.envelope]
    t = accept.header.issued_at_ms
    msg = commitment_pb2.Delivery(contract=accept.digest, item_index=0)
    same_ms = agent_draft(
        alice, "delivery", msg, audience=bob.did, negotiation_id=offer.header.negotiation_id, issued_at_ms=t
    )
    before, at = pair(alice, same_ms, retimed(t - 1))
    g.add(
        "Alice's Delivery dated 1 ms before Bob's Accept (still after her own offer)",
        ["NEG-014"],
        [*contract, before],
        "ILLEGAL_TRANSITION",
        "CausalTime",
        twin=[*contract, at],
    )
    g.add(
        "Alice's Delivery dated in the Accept's own millisecond",
        ["NEG-014"],
        [*contract, at],
        None,
        "Boundary",
    )
    return g


def confluence() -> Group:
    """NEG-015: one contract's statements in two orders of arrival, each keeping every statement after
    what it depends on; both are accepted in full, and both end BREACHED (SPEC 8.9)."""
    g = Group("Confluence", "sparse")
    d = Deal()
    lock_a, lock_b = d.locks
    delivered = d.deliver(d.alice)  # on time
    receipt_b = d.bob.receipt(delivered)
    d.clock.now_ms = d.deadline + 1
    claim = d.claim(d.alice)
    witness = stamp(d.escrow, claim)
    d.clock.advance(60_000)
    late = d.deliver(d.bob)  # after the deadline, and after the claim
    receipt_a = d.alice.receipt(late)
    d.clock.now_ms = witness.header.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS
    ruled = d.sign(d.ruling(claim, UPHOLD))
    forfeit = d.sign(d.forfeit(d.bob, claim))
    release = d.escrow_says("release", d.alice).envelope
    e = {
        "delivery A": delivered.envelope,
        "receipt B": receipt_b.envelope,
        "claim": claim.envelope,
        "stamp": witness.envelope,
        "delivery B": late.envelope,
        "receipt A": receipt_a.envelope,
    }
    escrow_order = [lock_a, lock_b, *e.values(), ruled, forfeit, release]
    party_order = [
        lock_b, lock_a, e["stamp"], e["delivery A"], e["delivery B"], e["receipt A"], e["receipt B"],
        e["claim"], ruled, release, forfeit,
    ]  # fmt: skip
    g.add(
        "a claim, a late delivery, receipts and a forfeit in the escrow's order: BREACHED (the ruling "
        "outranks the completed receipts)",
        ["NEG-015", "WIT-005", "CMT-002"],
        [*d.base, *escrow_order],
        None,
        "Confluence",
    )
    g.add(
        "the same statements in another order (the stamp first, both receipts before the claim: FULFILLED "
        "until the stamped claim arrives, then DISPUTED; release before forfeit): accepted, BREACHED",
        ["NEG-015", "WIT-005", "CMT-002"],
        [*d.base, *party_order],
        None,
        "Confluence",
    )

    def stamped_twice(
        first: int, second: int, *, claim_last: bool, ruled: int, later_first: bool = True
    ) -> list[bytes]:
        """Alice's claim, 1 ms after Bob's deadline, stamped by the escrow (at fault, WIT-006) at the
        deadline + ``first`` and again at the deadline + ``second``, the later Stamp first unless not
        ``later_first`` (and the claim after both, if ``claim_last``), then an UPHOLD dated ``ruled`` ms
        after the earlier Stamp in the claim window plus the response window."""
        d = Deal()
        d.clock.now_ms = d.deadline + 1
        claim = d.claim(d.alice)
        early, late = (stamp(d.escrow, claim, at=d.deadline + at) for at in (first, second))
        due = d.deadline + (first if first > 0 else second) + DEFAULT_RESPONSE_WINDOW_MS
        decided = d.sign(d.ruling(claim, UPHOLD, issued_at_ms=due + ruled))
        stamps = [late.envelope, early.envelope] if later_first else [early.envelope, late.envelope]
        held = [*stamps, claim.envelope] if claim_last else [claim.envelope, *stamps]
        return [*d.base, *d.locks, *held, decided]

    g.add(
        "the escrow stamps Alice's claim twice, 10 min apart, and the later Stamp arrives first: the claim's "
        "stamp time is its earliest Stamp held, so an UPHOLD due by the earlier Stamp is valid",
        ["WIT-005", "NEG-015", "CMT-002"],
        stamped_twice(1, 600_001, claim_last=False, ruled=0),
        None,
        "Confluence",
    )
    g.add(
        "the same, the UPHOLD 1 ms before the earlier Stamp plus the response window",
        ["WIT-005", "CMT-002"],
        stamped_twice(1, 600_001, claim_last=False, ruled=-1),
        "ILLEGAL_TRANSITION",
        "Ruling",
        "Boundary",
        twin=stamped_twice(1, 600_001, claim_last=False, ruled=0),
    )
    g.add(
        "the escrow stamps Alice's claim at Bob's deadline (outside the claim window) and again 10 min "
        "later, both before the claim arrives: it takes effect at the Stamp in the window, and an UPHOLD "
        "due by that Stamp is valid",
        ["WIT-005", "CMT-005", "NEG-015", "CMT-002"],
        stamped_twice(0, 600_000, claim_last=True, ruled=0),
        None,
        "Confluence",
    )
    g.add(
        "the same, the Stamp at the deadline arriving first: it takes effect at the Stamp in the window",
        ["WIT-005", "CMT-005", "NEG-015"],
        stamped_twice(0, 600_000, claim_last=True, ruled=0, later_first=False),
        None,
        "Confluence",
    )
    g.add(
        "the same, the claim first, then the Stamp in the window (it takes effect), then the one at the "
        "deadline, which is earlier but outside the window: the claim's stamp time stays, and an UPHOLD due "
        "by the Stamp at the deadline only is early",
        ["WIT-005", "CMT-005", "CMT-002"],
        stamped_twice(0, 600_000, claim_last=False, ruled=-600_000),
        "ILLEGAL_TRANSITION",
        "Ruling",
        twin=stamped_twice(0, 600_000, claim_last=False, ruled=0),
    )
    g.add(
        "the escrow stamps Alice's claim 1 ms before Bob's deadline and again at it: no Stamp of it is in "
        "the claim window (after the deadline), so it never takes effect (a ruling citing it names no "
        "effective claim)",
        ["WIT-005", "CMT-005", "CMT-002"],
        stamped_twice(-1, 0, claim_last=True, ruled=0),
        "STALE_REFERENCE",
        "Unwitnessed",
        "Boundary",
        twin=stamped_twice(-1, 1, claim_last=True, ruled=0),
    )
    g.add(
        "the same, the UPHOLD due by the Stamp outside the claim window only (at it plus the response "
        "window): early",
        ["WIT-005", "CMT-005", "CMT-002"],
        stamped_twice(0, 600_000, claim_last=True, ruled=-600_000),
        "ILLEGAL_TRANSITION",
        "Ruling",
        twin=stamped_twice(0, 600_000, claim_last=True, ruled=0),
    )
    return g


# --- SPEC 8.9, NEG-017: the witnessed Accept -------------------------------------------------------


class Bargain:
    """Bob's bonded offer to Mallory, naming the escrow E, and the Accept of it Mallory signs first and
    shows E alone (SPEC 8.9, 16.14), on their own clock; each case builds its own, so every chain in it
    runs in the order it was signed.

    ``base`` is the context every case starts from (the four mandates and the offer). Her other answers
    are signed after the Accept, as she would sign them; the verifier may receive them first.
    """

    def __init__(self, exclusive_key: bytes = b"", mallory_caps: dict[str, Any] | None = None) -> None:
        self.clock = clock = FixedClock()
        self.bob, self.mallory = Party("bob", clock), Party("mallory", clock, mallory_caps or {})
        self.escrow, self.carol = Party("escrow", clock), Party("carol", clock)
        terms = self.bob.proposal(
            issuer_bond=100, audience_bond=100, escrow=self.escrow.did, exclusive_key=exclusive_key
        )
        self.offer = self.bob.offer(self.mallory, terms)
        clock.advance(1_000)
        self.accept = self.mallory.accept(self.offer)
        clock.advance(1_000)
        self.base = [*ctx(self.bob, self.mallory, self.escrow, self.carol), self.offer.envelope]

    @property
    def cutoff(self) -> int:
        """The offer's bonding cutoff: its expires_at_ms + 30 s (WIT-004, CMT-010), E's last moment to
        witness an Accept of it."""
        return self.offer.header.expires_at_ms + BOND_GRACE_MS

    def stamp(self, *statements: VerifiedStatement, at: int | None = None, by: Party | None = None) -> bytes:
        """A Stamp by E (or ``by``) naming ``statements``, through its chain."""
        return stamp(by or self.escrow, *statements, at=at).envelope

    def locks(self, accept: VerifiedStatement | None = None) -> list[bytes]:
        """E's BondLocks of both bonds of ``accept``'s contract (the witnessed one by default)."""
        accept = accept or self.accept
        out = []
        for p in (self.bob, self.mallory):
            msg = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=100)
            lock = escrow_draft(self.escrow, "bond_lock", msg, accept, audience=p.did)
            out.append(chain_sign(self.escrow.agent, lock).envelope)
        return out

    def counter(self, bonded: bool = True, exclusive_key: bytes = b"") -> VerifiedStatement:
        """Mallory's Counter of the offer: a proposal of her own, under the same bonds and escrow (or,
        not ``bonded``, under neither)."""
        terms: dict[str, Any] = {"issuer_bond": 100, "audience_bond": 100, "escrow": self.escrow.did}
        proposal = self.mallory.proposal(**(terms if bonded else {}), exclusive_key=exclusive_key)
        return self.mallory.counter(self.offer, proposal)

    def other(self, kind: str) -> VerifiedStatement:
        """The answer Mallory (or, for a Withdraw, Bob) sends Bob beside the Accept she showed E."""
        if kind == "Reject":
            return self.mallory.reject(self.offer, "not interested")
        if kind == "Counter":
            return self.counter()
        if kind == "Withdraw":
            return self.bob.withdraw(self.offer, "changed my mind")
        return self.mallory.accept(self.offer)  # a second Accept: a contract of another id

    def deliver(self, accept: VerifiedStatement | None = None) -> VerifiedStatement:
        """Bob's Delivery of his item under ``accept``'s contract (the witnessed one by default)."""
        return self.bob.deliver(accept or self.accept, self.mallory)


def witnessed_accept() -> Group:
    """NEG-017 (SPEC 8.9): an Accept of an offer naming an escrow E, stamped by E by the offer's bonding
    cutoff, takes precedence over the answer to that offer E never took -- a Reject, a Counter, a
    Withdraw, a second Accept -- in every order of arrival, and what it displaces is superseded: taken,
    with no effect. A vector's result says only valid or invalid, so most cases end with a statement
    whose fate depends on the state reached: the escrow's BondLocks of the witnessed contract (refused
    under any other contract, STALE_REFERENCE) and Bob's Delivery under it (refused before both its bonds
    are locked, NEG-012). A verifier without NEG-017 refuses the witnessed Accept (ILLEGAL_TRANSITION or
    STALE_REFERENCE) and fails every valid case here."""
    g = Group("WitnessedAccept", "sparse")

    # 1. The theft: Mallory's other answer reaches the verifier first, then E's Stamp of her Accept and
    # the Accept (as E answers the offerer, ESC-012), its locks, and Bob performing.
    for kind in ("Reject", "Counter", "Withdraw", "Accept"):
        b = Bargain()
        other = b.other(kind)
        witness = b.stamp(b.accept)
        locks = b.locks()
        b.clock.advance(1_000)
        who = {"Withdraw": "Bob's Withdraw", "Accept": "Mallory's second Accept (unstamped)"}.get(
            kind, f"Mallory's {kind} (unstamped)"
        )
        attack = () if kind == "Withdraw" else ("Attack",)  # Bob withdrawing his own offer attacks nothing
        g.add(
            f"Bob's bonded offer naming escrow E; {who} first, then E's Stamp of Mallory's Accept, the "
            "Accept, both BondLocks and Bob's Delivery: the witnessed Accept takes precedence, the contract "
            "is BONDED (before NEG-017 the Accept was refused)",
            ["NEG-017", "NEG-012"],
            [*b.base, other.envelope, witness, b.accept.envelope, *locks, b.deliver().envelope],
            None,
            "WitnessedAccept",
            *attack,
        )

    # Bob accepted Mallory's (unstamped) Counter: a contract of its own, displaced by her witnessed Accept
    # of his offer, two steps back in the line of offers.
    b = Bargain()
    counter = b.counter()
    b.clock.advance(1_000)
    accepted = b.bob.accept(counter)
    witness = b.stamp(b.accept)
    locks = b.locks()
    g.add(
        "Mallory counters Bob's bonded offer and Bob accepts the Counter; then E's Stamp of her Accept of "
        "the offer, the Accept, both BondLocks and Bob's Delivery: the witnessed contract displaces the "
        "Counter's",
        ["NEG-017", "NEG-012"],
        [
            *b.base, counter.envelope, accepted.envelope, witness, b.accept.envelope, *locks,
            b.deliver().envelope,
        ],
        None,
        "WitnessedAccept",
    )  # fmt: skip

    # The displaced contract had begun: Bob accepted Mallory's Counter without bonds and she delivered
    # under it at once. After her witnessed Accept of his offer, Bob's Receipt of that Delivery is
    # superseded: the Delivery fell with the contract it performed.
    b = Bargain()
    counter = b.counter(bonded=False)
    b.clock.advance(1_000)
    accepted = b.bob.accept(counter)
    b.clock.advance(1_000)
    under_it = b.mallory.deliver(accepted, b.bob)
    witness = b.stamp(b.accept)
    b.clock.advance(1_000)
    receipt = b.bob.receipt(under_it)
    locks = b.locks()
    g.add(
        "Mallory counters without bonds, Bob accepts the Counter and she delivers under it; then E's Stamp "
        "of her Accept of Bob's offer and the Accept (the Counter's contract is displaced), Bob's Receipt of "
        "her Delivery (superseded: accepted, no effect), both BondLocks and Bob's Delivery",
        ["NEG-017", "NEG-012"],
        [
            *b.base, counter.envelope, accepted.envelope, under_it.envelope, witness, b.accept.envelope,
            receipt.envelope, *locks, b.deliver().envelope,
        ],
        None,
        "WitnessedAccept",
    )  # fmt: skip

    # 2. The other order: the witnessed Accept first, then the other answer, superseded (taken with no
    # effect), and what follows from it; Bob's Delivery under the witnessed contract is still in order.
    for kind in ("Reject", "Withdraw"):
        b = Bargain()
        witness = b.stamp(b.accept)
        locks = b.locks()
        other = b.other(kind)
        b.clock.advance(1_000)
        g.add(
            f"E's Stamp of Mallory's Accept, the Accept and both BondLocks, then {kind.lower()} of the same "
            "offer (superseded: accepted, no effect), then Bob's Delivery: the contract is still BONDED",
            ["NEG-017", "NEG-012"],
            [*b.base, witness, b.accept.envelope, *locks, other.envelope, b.deliver().envelope],
            None,
            "WitnessedAccept",
        )
    b = Bargain()
    witness = b.stamp(b.accept)
    locks = b.locks()
    counter = b.counter()
    b.clock.advance(1_000)
    on_counter = b.bob.accept(counter)  # Bob accepts the superseded Counter: a superseded contract
    b.clock.advance(1_000)
    under_it = b.mallory.deliver(on_counter, b.bob)
    receipt = b.bob.receipt(under_it)
    b.clock.advance(1_000)
    g.add(
        "the witnessed Accept and its locks first; then Mallory's Counter of the same offer, Bob's Accept of "
        "that Counter, Mallory's Delivery under the Counter's contract and Bob's Receipt of it (all "
        "superseded: accepted, no effect); then Bob's Delivery under the witnessed contract, still BONDED",
        ["NEG-017", "NEG-012"],
        [
            *b.base, witness, b.accept.envelope, *locks, counter.envelope, on_counter.envelope,
            under_it.envelope, receipt.envelope, b.deliver().envelope,
        ],
        None,
        "WitnessedAccept",
    )  # fmt: skip
    b = Bargain()
    witness = b.stamp(b.accept)
    locks = b.locks()
    second = b.other("Accept")
    b.clock.advance(1_000)
    under_it = b.mallory.deliver(second, b.bob)
    receipt = b.bob.receipt(under_it)
    b.clock.advance(1_000)
    g.add(
        "the witnessed Accept and its locks first; then Mallory's second, unstamped Accept of the same "
        "offer, her Delivery under that second contract and Bob's Receipt of it (all superseded: accepted, "
        "no effect); then Bob's Delivery under the witnessed contract, still BONDED",
        ["NEG-017", "NEG-006", "NEG-012"],
        [
            *b.base, witness, b.accept.envelope, *locks, second.envelope, under_it.envelope,
            receipt.envelope, b.deliver().envelope,
        ],
        None,
        "WitnessedAccept",
    )  # fmt: skip

    # 3. The state is the witnessed contract's: after it displaced Mallory's second (unstamped) Accept,
    # BondLocks naming that displaced contract are accepted with no effect, so Bob's Delivery under the
    # witnessed contract comes before its bonds are locked. (E locking a contract it never witnessed is a
    # fault of E's, for the audit; a verifier only takes the locks as superseded.)
    def displaced(locked: str) -> list[bytes]:
        """Mallory's second Accept, E's Stamp of her first and that Accept, E's BondLocks of the
        ``locked`` contract ("second", or "witnessed": the twin), then Bob's Delivery."""
        b = Bargain()
        second = b.other("Accept")
        witness = b.stamp(b.accept)
        locks = b.locks(second if locked == "second" else b.accept)
        b.clock.advance(1_000)
        return [*b.base, second.envelope, witness, b.accept.envelope, *locks, b.deliver().envelope]

    g.add(
        "Mallory's second (unstamped) Accept first, then E's Stamp of her Accept and the Accept (it "
        "displaces the second contract), then E's BondLocks naming the displaced contract (superseded: "
        "accepted, no effect) and Bob's Delivery under the witnessed contract, whose bonds are not locked",
        ["NEG-017", "NEG-012"],
        displaced("second"),
        "ILLEGAL_TRANSITION",
        "WitnessedAccept",
        "IllegalTransition",
        twin=displaced("witnessed"),
    )

    # Exposure follows the precedence (MND-010): Mallory's max_outstanding is 1100, and each Accept of Bob's
    # offer commits her 550 (the 450 she gives and her bond of 100). Once the witnessed Accept displaced
    # her second one she has 550 outstanding, so an offer of hers giving 550 fits and one giving 551 does
    # not; a verifier that still counted the displaced contract would refuse both, one that counted
    # neither contract would accept both. (The cap leaves room for both Accepts at once; the cases at the
    # group's end take a cap that does not.)
    def exposed(gives: int) -> list[bytes]:
        b = Bargain(mallory_caps={"max_outstanding": 1_100})
        second = b.other("Accept")
        witness = b.stamp(b.accept)
        b.clock.advance(1_000)
        deadline = b.clock.now_ms + DAY_MS
        proposal = b.mallory.proposal(gives=[service("code-review", value=gives, deadline_ms=deadline)])
        more = b.mallory.offer(b.carol, proposal)
        return [*b.base, second.envelope, witness, b.accept.envelope, more.envelope]

    g.add(
        "Mallory (max_outstanding 1100) commits 550 under her second, unstamped Accept and 550 under the "
        "witnessed one that displaces it; then she offers Carol 550 more: 550 + 550 is outstanding, within "
        "the cap",
        ["NEG-017", "MND-010"],
        exposed(550),
        None,
        "WitnessedAccept",
        "Boundary",
    )
    g.add(
        "the same, her offer to Carol giving 551: 550 + 551 exceeds max_outstanding (the witnessed contract "
        "counts, the displaced one does not)",
        ["NEG-017", "MND-010"],
        exposed(551),
        "MANDATE_VIOLATION",
        "WitnessedAccept",
        "Exposure",
        "Boundary",
        twin=exposed(550),
    )

    # NEG-009 does not apply to the witnessed Accept: Bob committed his exclusive key when he signed the
    # offer Mallory accepted, even though he holds it since in a contract with Carol.
    b = Bargain(exclusive_key=b"gpu-slot-7")
    reject = b.other("Reject")
    b.clock.advance(1_000)
    to_carol = b.bob.offer(b.carol, b.bob.proposal(exclusive_key=b"gpu-slot-7"))
    carols = b.carol.accept(to_carol)
    witness = b.stamp(b.accept)
    g.add(
        "Bob's offer to Mallory under exclusive key K: her Reject, then Bob's offer under K to Carol and "
        "Carol's Accept (a live contract holding K), then E's Stamp of Mallory's Accept and the Accept: it "
        "takes precedence, NEG-009 does not apply to it",
        ["NEG-017", "NEG-009"],
        [*b.base, reject.envelope, to_carol.envelope, carols.envelope, witness, b.accept.envelope],
        None,
        "WitnessedAccept",
    )

    # Two live contracts then hold K (NEG-019 made the second): the key stays held until both ended. Carol's
    # contract is fulfilled; Mallory's witnessed one is still live, so Bob's next offer under K, to Carol,
    # cannot be accepted (an index that kept only the first holder would have freed K with Carol's).
    def held_by_both(key: bytes) -> list[bytes]:
        b = Bargain(exclusive_key=b"gpu-slot-7")
        reject = b.other("Reject")
        b.clock.advance(1_000)
        to_carol = b.bob.offer(b.carol, b.bob.proposal(exclusive_key=b"gpu-slot-7"))
        carols = b.carol.accept(to_carol)
        witness = b.stamp(b.accept)
        b.clock.advance(1_000)
        db, dc = b.bob.deliver(carols, b.carol), b.carol.deliver(carols, b.bob)
        done = [db.envelope, dc.envelope, b.carol.receipt(db).envelope, b.bob.receipt(dc).envelope]
        again = b.bob.offer(b.carol, b.bob.proposal(exclusive_key=key))
        return [
            *b.base, reject.envelope, to_carol.envelope, carols.envelope, witness, b.accept.envelope, *done,
            again.envelope, b.carol.accept(again).envelope,
        ]  # fmt: skip

    g.add(
        "the same, then Bob's contract with Carol is fulfilled (every obligation receipted) while the "
        "witnessed contract with Mallory is live; then Bob's new offer under K to Carol and her Accept: "
        "refused, K is still held by the witnessed contract",
        ["NEG-009", "NEG-019"],
        held_by_both(b"gpu-slot-7"),
        "EXCLUSIVE_CONFLICT",
        "WitnessedAccept",
        "ContractRule",
        twin=held_by_both(b""),
    )

    # NEG-009 does not apply to a witnessed Accept of the outstanding offer either (NEG-019: "whether its
    # offer is still outstanding or the negotiation moved on"); without E's Stamp it is refused.
    def outstanding_keyed(stamped: bool) -> list[bytes]:
        b = Bargain(exclusive_key=b"gpu-slot-7")
        to_carol = b.bob.offer(b.carol, b.bob.proposal(exclusive_key=b"gpu-slot-7"))
        carols = b.carol.accept(to_carol)
        witness = [b.stamp(b.accept)] if stamped else []
        return [*b.base, to_carol.envelope, carols.envelope, *witness, b.accept.envelope]

    g.add(
        "Bob's offer to Mallory under exclusive key K is still outstanding; Bob's offer under K to Carol "
        "and Carol's Accept (a live contract holding K); then E's Stamp of Mallory's Accept and the Accept: "
        "NEG-009 does not apply to it",
        ["NEG-009", "NEG-019"],
        outstanding_keyed(stamped=True),
        None,
        "WitnessedAccept",
    )
    g.add(
        "the same without E's Stamp: Mallory's Accept is refused, K is held by Carol's contract",
        ["NEG-009", "NEG-019"],
        outstanding_keyed(stamped=False),
        "EXCLUSIVE_CONFLICT",
        "WitnessedAccept",
        "ContractRule",
        twin=outstanding_keyed(stamped=True),
    )

    # SPEC 8.9: a contract is witnessed by a Stamp held now, whenever it came. Mallory's Accept arrives
    # unstamped and forms the contract as any Accept; E's Stamp of it follows. Her Reject of the same
    # offer is then an answer to the offer of a witnessed contract: superseded (NEG-018), taken with no
    # event. Without the Stamp it is held, with no event, until E orders the two answers (NEG-026; it was a
    # Reject in ACCEPTED, ILLEGAL_TRANSITION, before neg30: refused where it came after the Accept, taken
    # where it came first).
    def stamped_after(stamped: bool) -> list[bytes]:
        b = Bargain()
        reject = b.other("Reject")
        witness = [b.stamp(b.accept)] if stamped else []
        return [*b.base, b.accept.envelope, *witness, reject.envelope]

    g.add(
        "Mallory's Accept (unstamped, it forms the contract), then E's Stamp of it, then her Reject of the "
        "same offer: the contract is witnessed by the Stamp held now, the Reject superseded (accepted, no "
        "event)",
        ["NEG-017", "NEG-018"],
        stamped_after(stamped=True),
        None,
        "WitnessedAccept",
    )
    g.add(
        "the same without E's Stamp: the Reject is held with no event until E orders the two answers "
        "(NEG-026)",
        ["NEG-026", "NEG-018"],
        stamped_after(stamped=False),
        None,
        "WitnessedAccept",
    )

    # NEG-017's issuer and time are conditions, not checks (SPEC 8.9): an Accept of an earlier offer of the
    # line that fails one is not taken under NEG-017 and is checked as any other -- here, with Mallory's
    # Counter outstanding, STALE_REFERENCE (NEG-005), not WRONG_PARTY or ILLEGAL_TRANSITION.
    def not_o_audience(by_bob: bool) -> list[bytes]:
        b = Bargain()
        counter = b.counter()
        own = answer(b.bob, "accept", trade_pb2.Accept(offer=b.offer.digest), b.offer)  # to Mallory
        accept = chain_sign(b.bob.agent, own) if by_bob else b.accept
        return [*b.base, counter.envelope, b.stamp(accept), accept.envelope]

    g.add(
        "Mallory's Counter outstanding; E's Stamp of an Accept of Bob's offer signed by Bob himself (not the "
        "offer's audience), then that Accept: not taken under NEG-017 (a condition), checked as any "
        "other Accept: it cites an offer that is not the outstanding one",
        ["NEG-017", "NEG-005"],
        not_o_audience(by_bob=True),
        "STALE_REFERENCE",
        "WitnessedAccept",
        twin=not_o_audience(by_bob=False),
    )

    def accepted_after_expiry(after: int) -> list[bytes]:
        b = Bargain()
        counter = b.counter()
        late = b.mallory.accept(b.offer, issued_at_ms=b.offer.header.expires_at_ms + after)
        return [*b.base, counter.envelope, b.stamp(late, at=b.cutoff), late.envelope]

    g.add(
        "Mallory's Counter outstanding (not expired); E's Stamp (by the cutoff) of an Accept of Bob's offer "
        "she dated 1 ms after that offer expired, then the Accept: not taken under NEG-017 (a condition), "
        "checked as any other Accept: it cites an offer that is not the outstanding one",
        ["NEG-017", "NEG-005", "NEG-007"],
        accepted_after_expiry(1),
        "STALE_REFERENCE",
        "WitnessedAccept",
        "Boundary",
        twin=accepted_after_expiry(0),
    )

    # NEG-017's tie: two Accepts of Bob's offer by Mallory, both named by one Stamp of E's (E at fault,
    # ESC-014): equal issued_at_ms, so the smaller digest prevails -- not the place in the Stamp, nor the
    # order they arrived in. E's BondLocks of the other contract are then superseded, and Bob's Delivery
    # under the prevailing one comes before its bonds are locked (ILLEGAL_TRANSITION, NEG-012).
    def tie(larger_first: bool, lock_smaller: bool) -> list[bytes]:
        b = Bargain()
        second = b.other("Accept")
        small, large = sorted((b.accept, second), key=lambda vs: vs.digest)
        witness = b.stamp(large, small)  # the larger digest first in the Stamp
        order = [large, small] if larger_first else [small, large]
        locks = b.locks(small if lock_smaller else large)
        b.clock.advance(1_000)
        return [*b.base, witness, *(a.envelope for a in order), *locks, b.deliver(small).envelope]

    for larger_first in (True, False):
        g.add(
            "one Stamp of E's names two Accepts of Bob's offer by Mallory, the larger digest first; the "
            + ("larger" if larger_first else "smaller")
            + " arrives first; E's BondLocks of the larger one's contract, then Bob's Delivery under the "
            "smaller one's: at equal Stamp times the smaller digest prevails (NEG-017), so the locks are "
            "superseded and the Delivery comes before its contract is bonded",
            ["NEG-017", "NEG-018", "NEG-012"],
            tie(larger_first, lock_smaller=False),
            "ILLEGAL_TRANSITION",
            "WitnessedAccept",
            "IllegalTransition",
            twin=tie(larger_first, lock_smaller=True),
        )

    # A displaced contract frees the exclusive key it held: Mallory's Counter (no bonds) under her key K,
    # which Bob accepts, is displaced by her witnessed Accept of Bob's offer (no key); her later offer
    # under K to Carol can then be accepted.
    b = Bargain()
    counter = b.counter(bonded=False, exclusive_key=b"gpu-slot-7")
    b.clock.advance(1_000)
    accepted = b.bob.accept(counter)
    witness = b.stamp(b.accept)
    b.clock.advance(1_000)
    to_carol = b.mallory.offer(b.carol, b.mallory.proposal(exclusive_key=b"gpu-slot-7"))
    carols = b.carol.accept(to_carol)
    g.add(
        "Mallory counters under exclusive key K and Bob accepts (Mallory holds K); then E's Stamp of her "
        "Accept of Bob's offer and the Accept displace that contract, freeing K: her offer under K to "
        "Carol and Carol's Accept are valid",
        ["NEG-017", "NEG-009"],
        [
            *b.base, counter.envelope, accepted.envelope, witness, b.accept.envelope, to_carol.envelope,
            carols.envelope,
        ],
        None,
        "WitnessedAccept",
    )  # fmt: skip

    # 4. When the Accept is not witnessed it is refused as before; that E took the other answer first
    # (E's fault) changes nothing (NEG-015: a verifier that met the Accept first could not undo it).
    def stamps_first() -> list[bytes]:
        """E stamps Mallory's Reject, then the Reject, E's Stamp of her Accept and the Accept."""
        b = Bargain()
        reject = b.other("Reject")
        first = b.stamp(reject)
        return [*b.base, first, reject.envelope, b.stamp(b.accept), b.accept.envelope]

    g.add(
        "E stamped Mallory's Reject first, then her Accept (E's fault, which the audit shows): the witnessed "
        "Accept takes precedence all the same, as at a verifier that met it before the Reject's Stamp",
        ["NEG-017", "NEG-015"],
        stamps_first(),
        None,
        "WitnessedAccept",
    )

    def stamped_at(after_cutoff: int, by: str = "escrow", delivered: bool = False) -> list[bytes]:
        """Mallory's Reject, then a Stamp of her Accept ``after_cutoff`` ms after the bonding cutoff (by E,
        or by Carol), then the Accept (and, ``delivered``, her Delivery under its contract with an item_index
        out of range: :func:`bad_delivery`)."""
        b = Bargain()
        reject = b.other("Reject")
        stamper = b.carol if by == "carol" else b.escrow
        witness = b.stamp(b.accept, at=b.cutoff + after_cutoff, by=stamper)
        tail = [bad_delivery(b.mallory, b.accept, b.bob)] if delivered else []
        return [*b.base, reject.envelope, witness, b.accept.envelope, *tail]

    g.add(
        "Mallory's Reject, then E's Stamp of her Accept 1 ms after the bonding cutoff (the offer's "
        "expires_at_ms + 30000), then the Accept: not witnessed, held with no event in the REJECTED "
        "negotiation (NEG-025: a Stamp that late witnesses nothing), and her Delivery under its contract "
        "superseded, taken unread (item_index out of range)",
        ["NEG-017", "NEG-025", "NEG-018"],
        stamped_at(1, delivered=True),
        None,
        "WitnessedAccept",
        "Boundary",
    )
    g.add(
        "Mallory's Reject, then E's Stamp of her Accept exactly at the bonding cutoff (the offer's "
        "expires_at_ms + 30000), then the Accept: witnessed, it takes precedence",
        ["NEG-017"],
        stamped_at(0),
        None,
        "WitnessedAccept",
        "Boundary",
    )
    g.add(
        "Mallory's Reject, then Carol's Stamp of her Accept (Carol is not the offer's escrow), then the "
        "Accept: not witnessed, held with no event in the REJECTED negotiation until E's Stamp orders it "
        "(NEG-025), and her Delivery under its contract superseded, taken unread (item_index out of range)",
        ["NEG-017", "NEG-025", "NEG-018"],
        stamped_at(-1, by="carol", delivered=True),
        None,
        "WitnessedAccept",
    )

    def accepted_at(after_expiry: int) -> list[bytes]:
        """Mallory's Reject, then E's Stamp (in time) of an Accept she dates ``after_expiry`` ms after the
        offer's expires_at_ms, then that Accept."""
        b = Bargain()
        reject = b.other("Reject")
        late = b.mallory.accept(b.offer, issued_at_ms=b.offer.header.expires_at_ms + after_expiry)
        return [*b.base, reject.envelope, b.stamp(late, at=b.cutoff), late.envelope]

    g.add(
        "Mallory's Reject, then E's Stamp (by the cutoff) of an Accept she dated 1 ms after the offer "
        "expired, then that Accept: no witnessed Accept answers an expired offer",
        ["NEG-017", "NEG-001", "NEG-007"],
        accepted_at(1),
        "ILLEGAL_TRANSITION",
        "WitnessedAccept",
        "IllegalTransition",
        "Boundary",
        twin=accepted_at(0),
    )

    def stamps_both() -> list[bytes]:
        """E stamps Mallory's Accept, which forms the contract; then, a second later, E stamps her second
        Accept, then the second Accept."""
        b = Bargain()
        first = b.stamp(b.accept)
        second = b.other("Accept")
        again = b.stamp(second, at=b.clock.now_ms + 1_000)
        return [*b.base, first, b.accept.envelope, again, second.envelope]

    g.add(
        "E stamps Mallory's Accept (the contract), then, later, a second Accept of hers of the same offer "
        "(E's fault): the Accept E stamped first stays the contract and the second is superseded, taken "
        "with no effect (NEG-018)",
        ["NEG-017", "NEG-018", "NEG-006"],
        stamps_both(),
        None,
        "WitnessedAccept",
    )

    def stamps_both_after_counter() -> list[bytes]:
        """As :func:`stamps_both`, Mallory's Counter first: her witnessed Accept cuts the line back to
        Bob's offer, so the answer E took to it is the first Accept, not the Counter."""
        b = Bargain()
        counter = b.counter()
        first = b.stamp(b.accept)
        second = b.other("Accept")
        again = b.stamp(second, at=b.clock.now_ms + 1_000)
        return [*b.base, counter.envelope, first, b.accept.envelope, again, second.envelope]

    g.add(
        "Mallory's Counter, then E's Stamp of her Accept of Bob's offer and the Accept (it takes precedence "
        "over the Counter), then, later, E stamps a second Accept of hers of the offer (E's fault) and it "
        "arrives: superseded, as without the Counter (the Counter no longer answers the offer)",
        ["NEG-017", "NEG-018", "NEG-006"],
        stamps_both_after_counter(),
        None,
        "WitnessedAccept",
    )

    # 5. The witnessed Accept is not checked against its issuer's caps (MND-009, MND-010): E checked them
    # in its view, which is what bonds it. Mallory could otherwise size her own mandate so that it fits
    # there but not beside the Counter or second Accept she sends Bob, or beside offers she hands the
    # verifier alone, and Bob's verifier would refuse the Accept E bonds. The displaced contract counts
    # nowhere, the witnessed one counts afterwards. Each Accept of Bob's offer commits her 550 (the 450
    # she gives and her bond of 100).
    def capped(cap: str, answer: str, gives: int = 0) -> list[bytes]:
        """Mallory's ``cap`` is 1000; her other ``answer`` (a Counter giving 600, or a second Accept)
        first, then E's Stamp of her Accept and the Accept, then (``gives``) her offer to Carol."""
        b = Bargain(mallory_caps={"max_per_deal": 1_000, cap: 1_000})
        deadline = b.clock.now_ms + DAY_MS
        if answer == "Counter":
            items = [service("code-review", value=600, deadline_ms=deadline)]
            other = b.mallory.counter(b.offer, b.mallory.proposal(gives=items))
        else:
            other = b.other("Accept")
        out = [*b.base, other.envelope, b.stamp(b.accept), b.accept.envelope]
        if gives:
            b.clock.advance(1_000)
            items = [service("code-review", value=gives, deadline_ms=deadline)]
            out.append(b.mallory.offer(b.carol, b.mallory.proposal(gives=items)).envelope)
        return out

    g.add(
        "Mallory (max_outstanding 1000) counters Bob's offer giving 600, then E's Stamp of her Accept of "
        "the offer (550) and the Accept: not held to her caps (E witnessed it), it is taken",
        ["NEG-017", "MND-010"],
        capped("max_outstanding", "Counter"),
        None,
        "WitnessedAccept",
        "Attack",
    )
    g.add(
        "Mallory (budget_per_period 1000) sends her second Accept (550) first, then E's Stamp of her Accept "
        "and the Accept (550): not held to her caps (E witnessed it); then her offer to Carol "
        "giving 450: the displaced contract charges no period, so 550 + 450 fits the budget",
        ["NEG-017", "MND-009"],
        capped("budget_per_period", "Accept", 450),
        None,
        "WitnessedAccept",
        "Attack",
        "Boundary",
    )
    g.add(
        "the same, her offer to Carol giving 451: 550 + 451 exceeds budget_per_period (the witnessed "
        "contract charges the period)",
        ["NEG-017", "MND-009"],
        capped("budget_per_period", "Accept", 451),
        "MANDATE_VIOLATION",
        "WitnessedAccept",
        "Exposure",
        "Boundary",
        twin=capped("budget_per_period", "Accept", 450),
    )
    g.add(
        "Mallory (max_outstanding 1000) sends her second Accept (550) first, then E's Stamp of her Accept "
        "and the Accept (550): not held to her caps (E witnessed it), it is taken",
        ["NEG-017", "MND-010"],
        capped("max_outstanding", "Accept"),
        None,
        "WitnessedAccept",
        "Attack",
    )
    g.add(
        "Mallory (budget_per_period 1000) counters Bob's offer giving 600, then E's Stamp of her Accept of "
        "the offer (550) and the Accept: not held to her budget (E witnessed it), it is taken",
        ["NEG-017", "MND-009"],
        capped("budget_per_period", "Counter"),
        None,
        "WitnessedAccept",
        "Attack",
    )

    def handed(stamped: bool) -> list[bytes]:
        """Mallory's two offers to Carol (300 each, live) that E never saw, then (``stamped``) E's Stamp
        of her Accept of Bob's offer, signed after them (an offer counts only for a statement it started
        before, SPEC 4.5), and the Accept (550): 1150 against her max_outstanding of 1000."""
        b = Bargain(mallory_caps={"max_per_deal": 1_000, "max_outstanding": 1_000})
        deadline = b.clock.now_ms + DAY_MS
        items = [service("proofreading", value=300, deadline_ms=deadline)]
        out = [
            *b.base,
            *(b.mallory.offer(b.carol, b.mallory.proposal(gives=items)).envelope for _ in range(2)),
        ]
        accept = b.mallory.accept(b.offer)
        return [*out, *([b.stamp(accept)] if stamped else []), accept.envelope]

    g.add(
        "Mallory (max_outstanding 1000) has two offers of 300 to Carol live, which E never saw, then E's "
        "Stamp of her Accept of Bob's offer (550) and the Accept: 1150 in this view, but E witnessed it "
        "(its view bonds it): taken",
        ["NEG-017", "MND-010"],
        handed(stamped=True),
        None,
        "WitnessedAccept",
        "Attack",
    )
    g.add(
        "the same Accept with no Stamp of E's: held to her caps, 1150 > 1000",
        ["MND-010", "NEG-017"],
        handed(stamped=False),
        "MANDATE_VIOLATION",
        "WitnessedAccept",
        "Exposure",
        twin=handed(stamped=True),
    )

    # 6. ESC-016: Mallory counters Bob's offer with bonds at another escrow E2, Bob accepts there and E2
    # locks both bonds; E's Stamp of her Accept of Bob's offer, and the Accept, displace that contract.
    # E2, shown them, stamps them and refunds both bonds at once: a verifier holding the Accept takes the
    # Refunds as superseded (NEG-018: no effect; one without NEG-018 for escrow statements refuses them,
    # STALE_REFERENCE). Whether a Refund was due is the audit's (AUD-004): a verifier takes one in any
    # state of the contract, so one signed before the Accept reached E2 is valid here too.
    def refunded() -> list[bytes]:
        """The line at E2, its BondLocks, E's Stamp of Mallory's Accept, the Accept and E2's Stamp of
        both; then E2's Refund of Bob's bond."""
        b = Bargain()
        e2 = Party("escrow-2", b.clock)
        counter = b.mallory.counter(
            b.offer, b.mallory.proposal(issuer_bond=100, audience_bond=100, escrow=e2.did)
        )
        b.clock.advance(1_000)
        accepted = b.bob.accept(counter)
        out = [*b.base, *ctx(e2), counter.envelope, accepted.envelope]
        for p in (b.bob, b.mallory):
            msg = commitment_pb2.BondLock(contract=accepted.digest, party=p.did, amount=100)
            out.append(
                chain_sign(e2.agent, escrow_draft(e2, "bond_lock", msg, accepted, audience=p.did)).envelope
            )
        b.clock.advance(1_000)
        witness = stamp(b.escrow, b.accept)
        out += [witness.envelope, b.accept.envelope, stamp(e2, witness, b.accept).envelope]
        msg = commitment_pb2.Refund(contract=accepted.digest, party=b.bob.did, amount=100)
        return [*out, chain_sign(e2.agent, escrow_draft(e2, "refund", msg, accepted)).envelope]

    g.add(
        "Mallory counters Bob's offer at another escrow E2, Bob accepts, E2 locks both bonds; E's Stamp of "
        "her Accept of Bob's offer and the Accept displace that contract; E2 stamps them and refunds Bob's "
        "bond: taken, superseded (no effect)",
        ["ESC-016", "NEG-018", "NEG-017"],
        refunded(),
        None,
        "WitnessedAccept",
    )
    return g


def lower_answer() -> Group:
    """NEG-021: of two answers of one key to one offer naming no escrow, the one lower in the key's chain
    prevails and the other is superseded, whichever a verifier took first -- a thief's disowned Accept of
    Bob's offer and Alice's honest Counter before the theft (tests/test_attack23_thief_negotiation.py), and
    one key's two honest answers. Appended to chains.json."""
    from a2a_coop._proto.a2acoop.v1 import identity_pb2
    from a2a_coop.protocol.merkle import root as merkle_root

    g = Group("LowerAnswer", "sparse")
    clock, alice, bob = world()
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + 1_000, reason="stolen"),
    )
    opening = bob.offer(alice)
    counter = alice.counter(opening, alice.proposal())
    clock.advance(2_000)
    thief = alice.accept(opening)  # with the stolen key, after the revocation's effective_ms
    clock.advance(1_000)
    bad_index = bob.deliver(thief, alice, item_index=99)  # out of range: refused under a live contract
    clock.advance(1_000)
    bobs = bob.accept(counter)
    base = [*ctx(alice, bob), binding.envelope, opening.envelope]
    g.add(
        "the thief's Accept heard before Alice's Counter, lower in her chain: the Counter takes its place, "
        "and Bob accepts it",
        ["NEG-021", "KEY-009"],
        [*base, revocation.envelope, thief.envelope, counter.envelope, bobs.envelope],
    )
    g.add(
        "Alice's Counter heard before the thief's Accept (taken superseded), then Bob's Accept of the "
        "Counter",
        ["NEG-021", "NEG-018", "KEY-009"],
        [*base, counter.envelope, revocation.envelope, thief.envelope, bobs.envelope],
    )
    g.add(
        "Bob's Delivery under the thief's contract, after Alice's Counter took its place: superseded, taken "
        "(its item_index out of range is not read)",
        ["NEG-021", "NEG-018"],
        [*base, thief.envelope, counter.envelope, bad_index.envelope, bobs.envelope],
    )
    clock, alice, bob = world()
    opening = bob.offer(alice)
    clock.advance(1_000)
    accept = alice.accept(opening)  # lower in her chain
    clock.advance(1_000)
    higher = alice.counter(opening, alice.proposal())
    clock.advance(1_000)
    good = alice.deliver(accept, bob)
    bad = bad_delivery(alice, accept, bob)
    base = [*ctx(alice, bob), opening.envelope]
    g.add(
        "Alice's Counter, then her Accept of the same offer lower in her chain: the Accept's contract is the "
        "negotiation's, and a Delivery under it is read as one (item_index out of range)",
        ["NEG-021", "NEG-008"],
        [*base, higher.envelope, accept.envelope, good.envelope, bad],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, higher.envelope, accept.envelope, good.envelope],
    )
    clock, alice, bob = world()
    escrow = Party("escrow-agent", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    first = alice.accept(offer)
    second = alice.accept(offer)
    g.add(
        "Alice accepts an offer naming an escrow twice, neither stamped: the second is held with no event "
        "until its escrow's Stamp orders the two (NEG-025; NEG-021 leaves its escrow's order to decide), and "
        "a Delivery under the first's contract is read as one (item_index out of range)",
        ["NEG-025", "NEG-021", "NEG-008"],
        [
            *ctx(alice, bob),
            *escrow.setup,
            offer.envelope,
            first.envelope,
            second.envelope,
            bad_delivery(alice, first, bob),
        ],
        "BODY_INVALID",
        "ContractRule",
        twin=[*ctx(alice, bob), *escrow.setup, offer.envelope, first.envelope, second.envelope],
    )
    return g


def answered_twice() -> Group:
    """NEG-023: a contract formed by an Accept whose key signed another answer to the same offer naming no
    escrow, both held, binds its offerer to nothing -- no exclusive_key held, no cap counted -- whichever
    came first (tests/test_attack24_exclusive_reveal.py): Alice keeps an Accept of Bob's offer and sends a
    Reject, the next link of her chain; Bob offers Carol the same and Carol accepts; Alice reveals her
    Accept. Before, a view that held Alice's Accept first refused Carol's (EXCLUSIVE_CONFLICT) or Bob's
    offer to Carol (MANDATE_VIOLATION), and one that held Carol's first refused Alice's. Appended to
    chains.json."""
    g = Group("AnswerBindsNothing", "sparse")

    def story(cap: str) -> tuple[list[bytes], dict[str, VerifiedStatement]]:
        caps = {"max_outstanding": 1_000} if cap == "max_outstanding" else {}
        clock, alice, bob = world(bob=caps)
        carol = Party("carol", clock)
        key = b"bobs-one-slot" if cap == "exclusive_key" else b""

        def six_hundred() -> trade_pb2.Offer:
            gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
            return bob.proposal(gives=gives, exclusive_key=key)

        to_alice = bob.offer(alice, six_hundred())
        clock.advance(1_000)
        kept = alice.accept(to_alice)
        clock.advance(1_000)
        reject = alice.reject(to_alice, "no")
        clock.advance(1_000)
        to_carol = bob.offer(carol, six_hundred())
        clock.advance(1_000)
        carol_accept = carol.accept(to_carol)
        named = {"kept": kept, "reject": reject, "to_carol": to_carol, "carol": carol_accept}
        return [*ctx(alice, bob, carol), to_alice.envelope], named

    base, s = story("exclusive_key")
    g.add(
        "Alice's Accept of Bob's offer (an exclusive_key, no escrow), then her Reject of it above in her "
        "chain, then Bob's offer of the same key to Carol and Carol's Accept: Alice's contract holds no key "
        "of Bob's (it was EXCLUSIVE_CONFLICT on Carol's Accept)",
        ["NEG-023", "NEG-021", "NEG-009"],
        [*base, *(s[k].envelope for k in ("kept", "reject", "to_carol", "carol"))],
    )
    g.add(
        "the same, Alice's Accept revealed last, lower than her Reject: taken as the offer's answer, NEG-009 "
        "no ground to refuse it (it was EXCLUSIVE_CONFLICT on Alice's Accept)",
        ["NEG-023", "NEG-021", "NEG-009"],
        [*base, *(s[k].envelope for k in ("reject", "to_carol", "carol", "kept"))],
    )
    g.add(
        "Alice's Accept alone (one answer): her contract holds Bob's key, and Carol's Accept of his offer "
        "with the same key is refused",
        ["NEG-009", "NEG-023"],
        [*base, *(s[k].envelope for k in ("kept", "to_carol", "carol"))],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
        twin=[*base, *(s[k].envelope for k in ("kept", "to_carol"))],
    )
    base, s = story("max_outstanding")
    g.add(
        "Bob's max_outstanding 1,000: Alice's Accept of his offer of 600 (no escrow), her Reject of it "
        "above, then Bob's offer of 600 to Carol: Alice's contract counts nowhere toward Bob's cap (it was "
        "MANDATE_VIOLATION on the offer to Carol)",
        ["NEG-023", "NEG-021", "MND-010"],
        [*base, *(s[k].envelope for k in ("kept", "reject", "to_carol", "carol"))],
    )
    g.add(
        "Alice's Accept alone: her contract counts toward Bob's max_outstanding, and his offer of 600 to "
        "Carol is over it",
        ["MND-010", "NEG-023"],
        [*base, *(s[k].envelope for k in ("kept", "to_carol"))],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, *(s[k].envelope for k in ("kept",))],
    )
    return g


def kept_back(
    **caps: dict[str, Any],
) -> tuple[FixedClock, Party, Party, Party, VerifiedStatement, VerifiedStatement]:
    """The opening of NEG-021 (d)'s stories: Bob's offer to Alice naming no escrow and her Reject of it, kept
    back (the next link of her chain answers it again); escrow E to name. ``caps``: :func:`world`'s."""
    clock, alice, bob = world(**caps)
    escrow = Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    return clock, alice, bob, escrow, offer, kept


def witnessed_counter() -> Group:
    """NEG-021 (d): a lower answer does not cut back past a contract its escrow witnessed. Alice keeps a
    Reject of Bob's offer naming no escrow, then counters it naming escrow E with both bonds (the next link
    of her chain); Bob accepts, E stamps the Accept and locks both bonds; the kept Reject comes before the
    Stamp, after it, or before the Counter -- the witnessed contract stands in every order, which a Delivery
    under it with an item_index out of range shows (BODY_INVALID: read as the contract's; taken superseded,
    unread, were the contract cut back). tests/test_attack25_escrow_cut_back.py. Appended to chains.json."""
    g = Group("WitnessedCounter", "sparse")
    clock, alice, bob, escrow, offer, kept = kept_back()
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    locks = bond_locks(escrow, accept, alice, bob)
    clock.advance(1_000)
    bad = bad_delivery(bob, accept, alice)
    base = [*ctx(alice, bob, escrow), offer.envelope]
    line = [counter.envelope, accept.envelope]
    for comment, order in (
        ("after E's Stamp of Bob's Accept and both BondLocks", [*line, witness, *locks, kept.envelope]),
        (
            "before E's Stamp (the line cut back, then derived again when it came)",
            [*line, kept.envelope, witness, *locks],
        ),
        (
            "before Alice's Counter (the Counter superseded, then the line's again)",
            [kept.envelope, *line, witness, *locks],
        ),
    ):
        g.add(
            "Alice's kept Reject of Bob's offer naming no escrow, lower in her chain than her Counter naming "
            f"E, "
            f"{comment}: the contract E witnessed stands, and Bob's Delivery under it is read as one "
            "(item_index out of range)",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base, *order, bad],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    g.add(
        "the same with no Stamp of Bob's Accept: the kept Reject cuts the line back (NEG-021 (a)) and Bob's "
        "Delivery, naming a contract superseded, is taken unread",
        ["NEG-021", "NEG-018"],
        [*base, *line, kept.envelope, bad],
    )
    return g


def witnessed_branch() -> Group:
    """NEG-021 (d) past the higher answer: the witnessed contract one Counter further down the branch the
    lower answer cuts off. Alice keeps a Reject of Bob's offer naming no escrow, counters it naming none (the
    next link of her chain); Bob counters her Counter naming escrow E with both bonds, Alice accepts, E stamps
    the Accept and locks both bonds. The kept Reject before Alice's Counter once held every Counter after it
    and the witnessed Accept superseded (REJECTED; the other orders held the contract), as did the kept Reject
    between Bob's Counter and Alice's Accept: now the cut-off branch down to Bob's Counter is the line's
    again, and a Delivery under the contract with an item_index out of range is read as one (BODY_INVALID).
    tests/test_attack25_escrow_cut_back.py. Appended to chains.json."""
    g = Group("WitnessedBranch", "sparse")
    clock, alice, bob, escrow, offer, kept = kept_back()
    counter = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    bonded = bob.counter(counter, bob.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = alice.accept(bonded)
    witness = stamp(escrow, accept).envelope
    locks = bond_locks(escrow, accept, alice, bob)
    clock.advance(1_000)
    bad = bad_delivery(bob, accept, alice)
    base = [*ctx(alice, bob, escrow), offer.envelope]
    line = [counter.envelope, bonded.envelope, accept.envelope]
    for comment, order in (
        (
            "before Alice's Counter (the branch after it superseded, then the line's again)",
            [kept.envelope, *line, witness, *locks],
        ),
        (
            "before E's Stamp (the line cut back, then derived again when it came)",
            [*line, kept.envelope, witness, *locks],
        ),
        (
            "before Alice's Accept (the branch cut off, then the line's again when the Stamp came)",
            [*line[:2], kept.envelope, line[2], witness, *locks],
        ),
    ):
        g.add(
            "Alice's kept Reject of Bob's offer naming no escrow, lower in her chain than her Counter naming "
            f"none, which Bob countered naming E and Alice accepted, {comment}: the contract E witnessed "
            "stands, and Bob's Delivery under it is read as one (item_index out of range)",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base, *order, bad],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    return g


def witnessed_counted() -> Group:
    """NEG-021 (d) and section 4.5: the contract a lower answer leaves standing counts for its parties in
    every order. Alice keeps a Reject of Bob's offer naming no escrow, counters it naming escrow E with
    both bonds; Bob accepts, E stamps the Accept; Alice then offers Bob again, over her cap only if the
    witnessed contract counts. The reference derived the negotiation again when E's Stamp came after the
    Reject and booked nothing for the contract (the Reject before the Counter) or left it out of its period
    (the Reject between the Accept and the Stamp): Alice's offer was taken there. The JS verifier, which
    derives its view again from what it took, read them so already. tests/test_attack25_escrow_cut_back.py.
    Appended to chains.json."""
    g = Group("WitnessedCounted", "sparse")
    for cap, name in (("max_outstanding", "MND-010"), ("budget_per_period", "MND-009")):
        clock, alice, bob, escrow, offer, kept = kept_back(alice={cap: 1_000})
        counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
        clock.advance(1_000)
        accept = bob.accept(counter)
        witness = stamp(escrow, accept).envelope
        clock.advance(1_000)
        again = alice.offer(bob)
        base = [*ctx(alice, bob, escrow), offer.envelope]
        line = [counter.envelope, accept.envelope]
        for comment, order in (
            ("before Alice's Counter", [kept.envelope, *line, witness]),
            ("between Bob's Accept and E's Stamp of it", [*line, kept.envelope, witness]),
            ("after E's Stamp", [*line, witness, kept.envelope]),
        ):
            g.add(
                f"Alice's {cap} 1,000: her kept Reject of Bob's offer naming no escrow, lower in her chain "
                f"than her Counter naming E (600), {comment}; E witnessed Bob's Accept of the Counter: the "
                f"contract counts for Alice ({name}), and her next offer of 600 is over the cap",
                [name, "NEG-021", "NEG-019"],
                [*base, *order, again.envelope],
                "MANDATE_VIOLATION",
                "Exposure",
                twin=[*base, *order],
            )
    return g


def nested_cut_back() -> Group:
    """NEG-021 (d), red team 26: Alice answers Bob's line twice at two places -- a kept Reject of his Offer
    below her Counter of it, then a kept Reject of his Counter below her Counter of it naming escrow E with
    both bonds -- and Bob accepts that Counter, E stamping the Accept. The kept Reject of the Offer cuts the
    line back past the offer her Counter naming E answers; E's Stamp takes the line back through it (the
    contract E witnessed stands) in every order, which a Delivery under it with an item_index out of range
    shows (BODY_INVALID). Before: StopIteration in the reference (the offer looked for on the line), and the
    line reduced to the Counter alone in the JS verifier (F52). tests/test_attack26_nested_cut_back.py.
    Appended to chains.json."""
    g = Group("NestedCutBack", "sparse")
    clock, alice, bob, escrow, offer, kept0 = kept_back()
    k1 = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    b1 = bob.counter(k1, bob.proposal())
    clock.advance(1_000)
    kept1 = alice.reject(b1, "kept back too")
    clock.advance(1_000)
    counter = alice.counter(b1, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    clock.advance(1_000)
    bad = bad_delivery(bob, accept, alice)
    base = [*ctx(alice, bob, escrow), offer.envelope]
    o, r0, c1, cb, r1, c2, a = (vs.envelope for vs in (offer, kept0, k1, b1, kept1, counter, accept))
    for comment, order in (
        ("the kept Rejects after E's Stamp", [c1, cb, c2, a, witness, r1, r0]),
        (
            "the Reject of Bob's Counter before hers, the Reject of his Offer before the Accept",
            [c1, cb, r1, c2, r0, a, witness],
        ),
        ("the Reject of Bob's Offer first, before her Counter of it", [r0, c1, cb, r1, c2, a, witness]),
        (
            "the Reject of Bob's Offer after her Counter naming E, before Bob's Accept",
            [c1, cb, c2, r0, a, witness, r1],
        ),
    ):
        g.add(
            f"Alice's two kept Rejects, {comment}: the contract E witnessed stands, and Bob's Delivery "
            "under it is read as one (item_index out of range)",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base[:-1], o, *order, bad],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base[:-1], o, *order],
        )
    return g


def nested_branch() -> Group:
    """NEG-021 (d), both of its readings at once (mergered26): the witnessed contract one Counter further down
    the branch a lower answer cut off (WitnessedBranch), and the offer that branch's higher answer answers
    cut off in turn by a second lower answer, to an earlier offer (NestedCutBack). Alice keeps a Reject of
    Bob's Offer below her Counter K1 of it, and a Reject of his Counter B1 (of K1) below her Counter C of B1
    naming no escrow; Bob counters C naming escrow E with both bonds (D), Alice accepts D, E stamps the
    Accept. In every order the line is taken back to the Offer through K1 and B1, then down C to D: the
    contract E witnessed stands, which a Delivery under it with an item_index out of range shows
    (BODY_INVALID). tests/test_attack26_nested_cut_back.py. Appended to chains.json."""
    g = Group("NestedBranch", "sparse")
    clock, alice, bob, escrow, offer, kept0 = kept_back()
    k1 = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    b1 = bob.counter(k1, bob.proposal())
    clock.advance(1_000)
    kept1 = alice.reject(b1, "kept back too")
    clock.advance(1_000)
    c2 = alice.counter(b1, alice.proposal())
    clock.advance(1_000)
    bonded = bob.counter(c2, bob.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = alice.accept(bonded)
    witness = stamp(escrow, accept).envelope
    clock.advance(1_000)
    bad = bad_delivery(bob, accept, alice)
    base = [*ctx(alice, bob, escrow), offer.envelope]
    r0, c1, cb, r1, c, d, a = (vs.envelope for vs in (kept0, k1, b1, kept1, c2, bonded, accept))
    for comment, order in (
        ("both first, each before the Counter above it", [r0, c1, cb, r1, c, d, a, witness]),
        (
            "the Reject of Bob's Counter before Alice's Counter of it, the Reject of his Offer before his "
            "Counter naming E",
            [c1, cb, r1, c, r0, d, a, witness],
        ),
        (
            "the Reject of Bob's Counter after Alice's Counter of it, the Reject of his Offer between her "
            "Accept and E's Stamp",
            [c1, cb, c, r1, d, a, r0, witness],
        ),
        ("both after E's Stamp", [c1, cb, c, d, a, witness, r1, r0]),
    ):
        g.add(
            f"Alice's two kept Rejects, {comment}: the line is taken back through the offers the first cut "
            "off and down the branch the second cut off, the contract E witnessed stands, and Bob's Delivery "
            "under it is read as one (item_index out of range)",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base, *order, bad],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    return g


def witnessed_late() -> Group:
    """NEG-021 (d): a late Stamp derives again the negotiation it witnesses, and un-takes nothing the view
    took while it held the cut-back. Bob's max_outstanding is 600: Alice keeps a Reject of Bob's offer
    naming no escrow, counters it naming escrow E (Bob's side 550 with his bond), Bob accepts; the kept
    Reject cuts the contract back in a view with no Stamp yet, and Bob offers Carol 500, which fits his cap
    without that contract. E's Stamp of the Accept comes next: the contract stands and counts for Bob from
    its Accept, but the offer to Carol stays taken -- Carol's Accept of it after the Stamp is taken -- and a
    later offer of Bob's over his cap counting the witnessed contract is refused. A view that held the
    Stamp when the offer to Carol came refuses it (order-bound). The JS verifier, which derived its whole
    view again per late Stamp, dropped the offer to Carol (finding F61).
    tests/test_attack25_escrow_cut_back.py. Appended to chains.json."""
    g = Group("WitnessedLate", "sparse")
    clock, alice, bob = world(bob={"max_outstanding": 600})
    carol = Party("carol", clock)
    escrow = Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    clock.advance(1_000)
    to_carol = bob.offer(carol)
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    clock.advance(1_000)
    deadline = clock.now_ms + DAY_MS
    small = bob.offer(carol, bob.proposal(gives=[service("code-review", value=50, deadline_ms=deadline)]))
    base = [*ctx(alice, bob, carol, escrow), offer.envelope, counter.envelope, accept.envelope]
    late = [kept.envelope, to_carol.envelope, witness, carol_accept.envelope]
    g.add(
        "Bob's max_outstanding 600: Alice's kept Reject of his offer naming no escrow cuts back his Accept "
        "of her Counter naming E (550 his side) before E's Stamp of it came; his offer of 500 to Carol, "
        "taken then, stays taken when the Stamp comes -- Carol's Accept of it after the Stamp is taken",
        ["NEG-021", "NEG-019", "MND-010"],
        [*base, *late],
    )
    g.add(
        "the same, then Bob's offer of 50 to Carol: over his cap with the witnessed contract counting (550 + "
        "500 + 50 > 600), it is refused (it fits without that contract)",
        ["MND-010", "NEG-021", "NEG-019"],
        [*base, *late, small.envelope],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, *late],
    )
    g.add(
        "the same statements, E's Stamp held before Bob's offer to Carol: the witnessed contract counts "
        "for Bob and the offer to Carol is over his cap (order-bound, as NEG-023 (a)'s refusals)",
        ["MND-010", "NEG-021", "NEG-019"],
        [*base, kept.envelope, witness, to_carol.envelope],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, kept.envelope, witness],
    )
    return g


def two_witnessed() -> Group:
    """NEG-021 (d), (e): witnessed contracts in two branches of the line, parted at two answers of one key to
    an offer naming no escrow. Alice counters Bob's offer naming no escrow twice -- naming escrow E1 (lower in
    her chain), then escrow E2 --, Bob accepts both and each escrow stamps the Accept of the Counter naming
    it: the lower answer's contract binds whichever came first (the other superseded, unread), which a
    Delivery under it with an item_index out of range shows (BODY_INVALID). And one witnessed contract two
    Counters below the higher answer -- Alice's kept Reject lower, her Counter naming no escrow, Bob's
    Counter of it naming E, Alice's Accept E stamped -- stands whether the Reject came first or last (it was
    REJECTED where the Reject came first). tests/test_witness26_two_witnessed.py. Appended to chains.json."""
    g = Group("TwoWitnessed", "sparse")
    clock, alice, bob = world()
    e1, e2 = Party("escrow-one", clock), Party("escrow-two", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    low = alice.counter(offer, alice.proposal(escrow=e1.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    high = alice.counter(offer, alice.proposal(escrow=e2.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    a_low = bob.accept(low)
    clock.advance(1_000)
    a_high = bob.accept(high)
    s_low, s_high = stamp(e1, a_low).envelope, stamp(e2, a_high).envelope
    clock.advance(1_000)

    base = [*ctx(alice, bob, e1, e2), offer.envelope]
    lower = [low.envelope, a_low.envelope, s_low]
    higher = [high.envelope, a_high.envelope, s_high]
    for comment, order in (
        ("the lower contract first", [*lower, *higher]),
        ("the higher contract first", [*higher, *lower]),
        (
            "the lower Counter first, then the higher contract, then the lower Accept and its Stamp",
            [low.envelope, *higher, a_low.envelope, s_low],
        ),
        (
            "both Accepts before both Stamps, the lower's Stamp first (derived again at each Stamp)",
            [low.envelope, high.envelope, a_low.envelope, a_high.envelope, s_low, s_high],
        ),
    ):
        g.add(
            "Alice's two Counters of Bob's offer naming no escrow, naming E1 (lower in her chain) and E2, "
            f"each accepted by Bob and stamped by its escrow, {comment}: the lower answer's contract binds "
            "(NEG-021 (e)), and Bob's Delivery under it is read as one (item_index out of range)",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base, *order, bad_delivery(bob, a_low, alice)],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    g.add(
        "the same, the higher contract first: Bob's Delivery under the higher contract, superseded, is "
        "taken unread",
        ["NEG-021", "NEG-018"],
        [*base, *higher, *lower, bad_delivery(bob, a_high, alice)],
    )
    clock, alice, bob, escrow, offer, kept = kept_back()
    counter = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = alice.accept(bobs)
    witness = stamp(escrow, accept).envelope
    clock.advance(1_000)
    base = [*ctx(alice, bob, escrow), offer.envelope]
    line = [counter.envelope, bobs.envelope, accept.envelope, witness]
    for comment, order in (("first", [kept.envelope, *line]), ("last", [*line, kept.envelope])):
        g.add(
            "Alice's kept Reject of Bob's offer naming no escrow, lower in her chain than her Counter naming "
            f"none, which Bob countered naming E, Alice accepting and E stamping, the Reject {comment}: the "
            "contract E witnessed stands (NEG-021 (d)), and Bob's Delivery under it is read as one",
            ["NEG-021", "NEG-017", "NEG-008"],
            [*base, *order, bad_delivery(bob, accept, alice)],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    return g


def line_counted() -> Group:
    """NEG-021 (d), reading27: what the line before a witnessed contract counts is one in every order -- the
    lower answer the witnessed contract passes moves nothing. Bob's offer naming no escrow (500), Alice's
    kept Reject of it (+1 s), her Counter naming E with both bonds (600, +2 s), Bob's Accept (+3 s), E's
    Stamp. Bob's offer counts until Alice's Counter, her Counter from its place until Bob's Accept: Bob's
    offer of 500 to Carol at +1.5 s is over his max_outstanding 900, Alice's offer of 500 to Carol at +2.5 s
    over her 1,000 (one of 400 fits), whether the Reject came before Alice's Counter, between the Accept and
    the Stamp, or after the Stamp. Before, a view that took the Reject before the Stamp counted Bob's offer
    until the Reject and Alice's Counter nowhere before the Accept, and took both offers. And where Alice's
    kept answer is a Counter naming no escrow that Bob counters in turn, both count nowhere in every order
    (before: both counted where they came first, Bob's as the witnessed Accept's cut-off line where it came
    after the Stamp), and so does a kept Accept's contract.
    tests/test_attack25_escrow_cut_back.py. Appended to chains.json."""
    g = Group("LineCounted", "sparse")
    clock, alice, bob = world(alice={"max_outstanding": 1_000}, bob={"max_outstanding": 900})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(500)
    bobs = bob.offer(carol)  # +1.5 s: Bob's offer to Alice still counts (her Counter is to come)
    clock.advance(500)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(500)
    alices = alice.offer(carol)  # +2.5 s: her Counter counts, live
    deadline = clock.now_ms + DAY_MS
    fits = alice.offer(carol, alice.proposal(gives=[service("code-review", value=400, deadline_ms=deadline)]))
    clock.advance(500)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line = [counter.envelope, accept.envelope]
    orders = (
        ("before Alice's Counter", [kept.envelope, *line, witness]),
        ("between Bob's Accept and E's Stamp of it", [*line, kept.envelope, witness]),
        ("after E's Stamp", [*line, witness, kept.envelope]),
    )
    for comment, order in orders:
        g.add(
            f"Bob's max_outstanding 900: Alice's kept Reject of his offer naming no escrow (500) {comment}, "
            "lower in her chain than her Counter naming E, whose Accept E witnessed: his offer counts until "
            "her Counter, and his offer of 500 to Carol between the Reject and the Counter is over his cap",
            ["MND-010", "NEG-021"],
            [*base, *order, bobs.envelope],
            "MANDATE_VIOLATION",
            "Exposure",
            twin=[*base, *order],
        )
    for comment, order in orders:
        g.add(
            f"Alice's max_outstanding 1,000: her kept Reject of Bob's offer naming no escrow {comment}; her "
            "Counter naming E (600), whose Accept E witnessed, counts from its place until that Accept, and "
            "her offer of 500 to Carol between them is over her cap",
            ["MND-010", "NEG-021"],
            [*base, *order, alices.envelope],
            "MANDATE_VIOLATION",
            "Exposure",
            twin=[*base, *order],
        )
    g.add(
        "the same, the Reject before Alice's Counter, her offer to Carol of 400 instead: it fits (600 + 400)",
        ["MND-010", "NEG-021"],
        [*base, *orders[0][1], fits.envelope],
    )
    # Alice's kept answer a Counter naming no escrow (500), Bob's Counter of it (500): both count nowhere
    clock, alice, bob = world(alice={"max_outstanding": 1_000}, bob={"max_outstanding": 1_000})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.counter(offer, alice.proposal())
    clock.advance(200)
    deadline = clock.now_ms + DAY_MS
    alices = alice.offer(
        carol, alice.proposal(gives=[service("code-review", value=600, deadline_ms=deadline)])
    )
    clock.advance(300)
    again = bob.counter(kept, bob.proposal())
    clock.advance(200)
    bobs = bob.offer(carol)
    clock.advance(300)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line = [counter.envelope, accept.envelope]
    kept_line = [kept.envelope, again.envelope]
    for comment, order in (
        ("first", [*kept_line, *line, witness]),
        ("between Bob's Accept and E's Stamp of it", [*line, *kept_line, witness]),
        ("after E's Stamp", [*line, witness, *kept_line]),
        ("Alice's first, Bob's after E's Stamp", [kept.envelope, *line, witness, again.envelope]),
    ):
        g.add(
            "max_outstanding 1,000 each: Alice's kept Counter of Bob's offer naming no escrow (500) and "
            "Bob's "
            f"Counter of it (500), {comment}, lower in her chain than her Counter naming E, whose Accept E "
            "witnessed: both count nowhere, and Alice's offer of 600 to Carol after her kept Counter, and "
            "Bob's of 500 after his (his first offer counting until her higher Counter), both fit",
            ["MND-010", "NEG-021", "NEG-018"],
            [*base, *order, alices.envelope, bobs.envelope],
        )
    # Alice's kept answer an Accept (her side 450 of its contract): that contract counts nowhere
    clock, alice, bob = world(alice={"max_outstanding": 1_000})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.accept(offer)
    clock.advance(500)
    deadline = clock.now_ms + DAY_MS
    alices = alice.offer(
        carol, alice.proposal(gives=[service("code-review", value=600, deadline_ms=deadline)])
    )
    clock.advance(500)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line = [counter.envelope, accept.envelope]
    for comment, order in (
        ("first", [kept.envelope, *line, witness]),
        ("between Bob's Accept and E's Stamp of it", [*line, kept.envelope, witness]),
        ("after E's Stamp", [*line, witness, kept.envelope]),
    ):
        g.add(
            f"Alice's max_outstanding 1,000: her kept Accept of Bob's offer naming no escrow, {comment}, "
            "lower "
            "in her chain than her Counter naming E, whose Accept E witnessed: its contract (450 her side) "
            "counts nowhere, and her offer of 600 to Carol after the kept Accept fits",
            ["MND-010", "NEG-021", "NEG-023"],
            [*base, *order, alices.envelope],
        )
    return g


def witnessed_late_key() -> Group:
    """NEG-021 (d), NEG-009 (reading27): a late Stamp un-takes no Accept of another negotiation under an
    exclusive_key the witnessed contract holds. Alice's kept Reject of Bob's offer naming no escrow cuts back
    Bob's Accept of her Counter naming E with exclusive_key K in a view with no Stamp yet; Alice offers Dave K
    and Dave accepts, the key free then; E's Stamp comes. The reference read NEG-009 again over the
    negotiation derived and held Dave's Accept off -- his contract gone, Alice's Delivery under it refused --
    where NEG-021 (d) keeps what the view took meanwhile, as the JS verifier does (finding F63). A view that
    held the Stamp first refuses Dave's Accept (order-bound), and after the Stamp a new Accept under K is
    refused in both orders. tests/test_attack25_escrow_cut_back.py. Appended to chains.json."""
    g = Group("WitnessedLateKey", "sparse")
    clock, alice, bob = world()
    dave, escrow = Party("dave", clock), Party("escrow", clock)
    key = b"slot-1"
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    terms = alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100, exclusive_key=key)
    counter = alice.counter(offer, terms)
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    clock.advance(1_000)
    to_dave = alice.offer(dave, alice.proposal(exclusive_key=key))
    clock.advance(1_000)
    dave_accept = dave.accept(to_dave)
    clock.advance(1_000)
    delivery = alice.deliver(dave_accept, dave)
    again = alice.offer(dave, alice.proposal(exclusive_key=key))
    clock.advance(1_000)
    again_accept = dave.accept(again)
    base = [*ctx(alice, bob, dave, escrow), offer.envelope, counter.envelope, accept.envelope]
    late = [kept.envelope, to_dave.envelope, dave_accept.envelope, witness]
    g.add(
        "Alice's kept Reject cuts back Bob's Accept of her Counter naming E with exclusive_key K before E's "
        "Stamp of it; Dave's Accept of her offer of K, taken then, stays taken when the Stamp comes: her "
        "Delivery to Dave under it is taken",
        ["NEG-021", "NEG-009"],
        [*base, *late, delivery.envelope],
    )
    g.add(
        "the same, then Alice's next offer of K to Dave and his Accept of it: the witnessed contract holds K",
        ["NEG-009", "NEG-021"],
        [*base, *late, again.envelope, again_accept.envelope],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
        twin=[*base, *late, again.envelope],
    )
    g.add(
        "the same statements, E's Stamp held before Dave's Accept: the witnessed contract holds K and Dave's "
        "Accept is refused (order-bound, as NEG-021 (d) says)",
        ["NEG-009", "NEG-021"],
        [*base, kept.envelope, witness, to_dave.envelope, dave_accept.envelope],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
        twin=[*base, kept.envelope, witness, to_dave.envelope],
    )
    return g


def witnessed_beside() -> Group:
    """NEG-021 (d) with NEG-017 (reading28): a witnessed Accept of a Counter beside an accepted Counter of it.
    Bob's offer naming no escrow (500), Alice's kept Reject of it (+1 s), her Counter naming E with both bonds
    (600, +2 s), Bob's Counter of it (500, +3 s), Alice's Accept of his (+4 s: a contract naming no escrow,
    450 hers, 500 his), Bob's Accept of her Counter (+5 s), which E witnesses. The line E's Accept cut off
    counts as section 4.5 dates it, whether the Reject came first, last, or first with Bob's Counter after
    E's Stamp: Alice's Counter until Bob's Counter, his Counter until her Accept, that contract until the
    witnessed Accept. Probes at +3.5 s and +4.5 s: Bob's offer of 500 to Carol over his max_outstanding 900
    at both (his Counter, then the contract of it, counting 500), Alice's of 500 within her 1,000 at +3.5 s
    (her Counter answered). Before, a view that held the Reject before the witnessed Accept took the line
    back counted her Counter until Bob's Accept and his Counter and the contract nowhere, and one that held
    his Counter after E's Stamp counted neither Counter between them. And that contract, delivered and
    receipted by both before Bob's Accept, ends at its last Receipt whether the Reject came first or last
    (MND-023): his offer of 500 to Carol after it fits.
    tests/test_reading28_witnessed_beside_accepted.py. Appended to chains.json."""
    g = Group("WitnessedBeside", "sparse")
    clock, alice, bob = world(alice={"max_outstanding": 1_000}, bob={"max_outstanding": 900})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(500)
    bob_early, alice_early = bob.offer(carol), alice.offer(carol)  # +3.5 s: Bob's Counter live
    clock.advance(500)
    took = alice.accept(bobs)
    clock.advance(500)
    bob_late = bob.offer(carol)  # +4.5 s: the contract of Bob's Counter counts
    clock.advance(500)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line = [counter.envelope, bobs.envelope, took.envelope]
    orders = (
        ("first", [kept.envelope, *line, accept.envelope, witness]),
        (
            "first, Bob's Counter and Alice's Accept of it after E's Stamp",
            [kept.envelope, counter.envelope, accept.envelope, witness, bobs.envelope, took.envelope],
        ),
        ("last", [*line, witness, accept.envelope, kept.envelope]),
    )
    for comment, order in orders:
        g.add(
            f"Bob's max_outstanding 900: Alice's kept Reject of his offer naming no escrow {comment}; his "
            "Counter of her Counter naming E (500) counts from its place until her Accept of it, though E "
            "witnessed his Accept of her Counter, and his offer of 500 to Carol between them is over his cap",
            ["MND-010", "NEG-021", "NEG-017"],
            [*base, *order, bob_early.envelope],
            "MANDATE_VIOLATION",
            "Exposure",
            twin=[*base, *order],
        )
        g.add(
            f"the same, the Reject {comment}: the contract of Alice's Accept of Bob's Counter (500 his side) "
            "counts from that Accept until E's witnessed Accept, and his offer of 500 to Carol between them "
            "is over his cap",
            ["MND-010", "NEG-021", "NEG-019"],
            [*base, *order, bob_late.envelope],
            "MANDATE_VIOLATION",
            "Exposure",
            twin=[*base, *order],
        )
        g.add(
            f"Alice's max_outstanding 1,000: the Reject {comment}; her Counter naming E (600) counts until "
            "Bob's Counter answered it, not until his witnessed Accept, and her offer of 500 to Carol after "
            "his Counter fits",
            ["MND-010", "NEG-021", "NEG-017"],
            [*base, *order, alice_early.envelope],
        )
    # the contract of Alice's Accept of Bob's Counter performed and receipted by both (+4.1 s to +4.4 s)
    clock, alice, bob = world(bob={"max_outstanding": 900})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(1_000)
    took = alice.accept(bobs)
    performed = []
    for step in range(4):
        clock.advance(100)
        if step < 2:
            performed.append((bob, alice)[step].deliver(took, (alice, bob)[step]))
        else:
            performed.append((alice, bob)[step - 2].receipt(performed[step - 2]))
    clock.advance(100)
    bob_late = bob.offer(carol)  # +4.5 s: the contract of Bob's Counter ended at +4.4 s
    clock.advance(500)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line = [counter.envelope, bobs.envelope, took.envelope, *(vs.envelope for vs in performed)]
    for comment, order in (
        ("first", [kept.envelope, *line, accept.envelope, witness]),
        ("last", [*line, witness, accept.envelope, kept.envelope]),
    ):
        g.add(
            f"Bob's max_outstanding 900: the same line, Alice's kept Reject {comment}, and the contract of "
            "her Accept of Bob's Counter delivered and receipted by both before his Accept of her Counter, "
            "which E witnessed: that contract ended at the last Receipt (MND-023), and his offer of 500 to "
            "Carol after it fits",
            ["MND-010", "NEG-021", "MND-023"],
            [*base, *order, bob_late.envelope],
        )
    return g


def answered_accept() -> Group:
    """NEG-025 (neg29): an Accept of an offer naming an escrow that was answered already, not yet witnessed,
    is held with no event until its escrow's Stamp orders the two answers. Bob offers Alice a trade naming no
    escrow; Alice counters it naming E with both bonds (+1 s); Bob counters her Counter (+2 s) and Alice
    accepts his (+3 s: a contract naming no escrow); Bob then accepts her Counter too (+4 s), E -- which never
    saw his Counter -- witnessing that Accept and locking both bonds. Before, a view that held Bob's Counter
    and then his Accept before E's Stamp refused the Accept (the offer answered) and ended with the contract
    of Alice's Accept of his Counter, where every other order ended with the contract E bonds (3 of the 18
    orders of the six statements); now every order ends with E's. A Delivery with an item_index out of range
    (:func:`bad_delivery`) shows which contract stands: read as one (BODY_INVALID) under the negotiation's,
    taken unread under a superseded one. Also two Accepts of one offer naming E, E stamping the second, and an
    Accept of an offer its issuer withdrew, which E took first. tests/test_neg29_answered_accept.py. Appended
    to chains.json."""
    g = Group("AnsweredAccept", "sparse")
    clock, alice, bob = world()
    escrow = Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(1_000)
    took = alice.accept(bobs)
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    locks = bond_locks(escrow, accept, alice, bob)
    clock.advance(1_000)
    under_took = bad_delivery(alice, took, bob)
    under_accept = bad_delivery(alice, accept, bob)
    base = [*ctx(alice, bob, escrow), offer.envelope, counter.envelope, bobs.envelope]
    for comment, order in (
        ("after Alice's Accept of his Counter", [took.envelope, accept.envelope, witness]),
        ("before Alice's Accept of his Counter", [accept.envelope, took.envelope, witness]),
        (
            "before E's Stamp, and Alice's Accept of his Counter after it",
            [accept.envelope, witness, took.envelope],
        ),
    ):
        g.add(
            f"Bob's Accept of Alice's Counter naming E, after his Counter of it, {comment}: held with no "
            f"event "
            "until E's Stamp, which witnesses it (NEG-025, NEG-017); the contract of Alice's Accept of his "
            "Counter "
            "is superseded, and her Delivery under it taken unread (item_index out of range)",
            ["NEG-025", "NEG-017", "NEG-018"],
            [*base, *order, *locks, under_took],
        )
    g.add(
        "Bob's Accept of Alice's Counter naming E after his Counter of it and her Accept of his, then E's "
        "Stamp "
        "and locks: the contract E witnessed is the negotiation's, and her Delivery under it is read as one "
        "(item_index out of range)",
        ["NEG-025", "NEG-017", "NEG-008"],
        [*base, took.envelope, accept.envelope, witness, *locks, under_accept],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, took.envelope, accept.envelope, witness, *locks],
    )
    g.add(
        "Bob's Accept of Alice's Counter naming E after his Counter of it and her Accept of his, and no "
        "Stamp of "
        "it: held with no event, the contract of her Accept of his Counter stays the negotiation's, and her "
        "Delivery under it is read as one (item_index out of range)",
        ["NEG-025", "NEG-008"],
        [*base, took.envelope, accept.envelope, under_took],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, took.envelope, accept.envelope],
    )
    # two Accepts of one offer naming E, E stamping the second
    clock, alice, bob = world()
    escrow = Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    first = alice.accept(offer)
    clock.advance(1_000)
    second = alice.accept(offer)
    base = [*ctx(alice, bob, escrow), offer.envelope, first.envelope, second.envelope]
    g.add(
        "Alice accepts Bob's offer naming E twice, and E stamps the second only: held with no event until "
        "that "
        "Stamp, it then takes precedence (NEG-017), and her Delivery under the first's contract is taken "
        "unread",
        ["NEG-025", "NEG-017", "NEG-018"],
        [*base, stamp(escrow, second).envelope, bad_delivery(alice, first, bob)],
    )
    # an Accept of an offer its issuer withdrew, which E took first
    clock, alice, bob = world()
    escrow = Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    clock.advance(1_000)
    withdraw = bob.withdraw(offer, "changed my mind")
    base = [*ctx(alice, bob, escrow), offer.envelope, withdraw.envelope, accept.envelope]
    g.add(
        "Bob withdraws his offer naming E, then Alice's Accept of it (signed before the Withdraw) comes, "
        "then E's "
        "Stamp of it: held with no event, then witnessed, the Accept's contract is the negotiation's, and "
        "her "
        "Delivery under it is read as one (item_index out of range)",
        ["NEG-025", "NEG-017", "NEG-008"],
        [*base, stamp(escrow, accept).envelope, bad_delivery(alice, accept, bob)],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, stamp(escrow, accept).envelope],
    )
    return g


def stamped_answer() -> Group:
    """NEG-026 (neg30, F98): NEG-025's mirror. Bob offers Alice a trade naming no escrow; Alice counters it
    naming E with both bonds (+1 s); Bob counters her Counter (+2 s) and Alice accepts his (+3 s: a contract
    naming no escrow); Bob also accepts her Counter (+4 s). E was shown his Counter, not his Accept: it
    stamped the Counter and refuses the Accept (ESC-014). Before, a view that held Bob's Accept before his
    Counter kept the Accept's contract, which E never witnesses, and refused his Counter and Alice's Accept of
    it (6 of the 18 orders); now the Counter E stamped takes the Accept's place -- held superseded until the
    Stamp comes, then the negotiation derived again. Also a Reject E stamped in place of the Counter. A
    Delivery with an item_index out of range (:func:`bad_delivery`) shows which contract stands.
    tests/test_neg30_answered_accept.py. Appended to chains.json."""
    g = Group("StampedAnswer", "sparse")
    clock, alice, bob = world(alice={"max_outstanding": 1_000})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(1_000)
    took = alice.accept(bobs)
    clock.advance(1_000)
    accept = bob.accept(counter)
    witness = stamp(escrow, offer, counter, bobs).envelope
    clock.advance(1_000)
    under_took = bad_delivery(alice, took, bob)
    under_accept = bad_delivery(alice, accept, bob)
    gives = [service("code-review", value=500, deadline_ms=clock.now_ms + DAY_MS)]
    alice_late = alice.offer(carol, alice.proposal(gives=gives)).envelope  # +5 s
    base = [*ctx(alice, bob, carol, escrow), offer.envelope, counter.envelope, accept.envelope]
    for comment, order in (
        ("before E's Stamp of it", [bobs.envelope, took.envelope, witness]),
        ("after E's Stamp of it", [witness, bobs.envelope, took.envelope]),
    ):
        g.add(
            f"Bob's Accept of Alice's Counter naming E, then his Counter of it {comment}, and Alice's "
            "Accept of his Counter: E took the Counter (NEG-026), the contract of her Accept is the "
            "negotiation's, and her Delivery under it is read as one (item_index out of range)",
            ["NEG-026", "ESC-014", "NEG-008"],
            [*base, *order, under_took],
            "BODY_INVALID",
            "ContractRule",
            twin=[*base, *order],
        )
    g.add(
        "Bob's Accept of Alice's Counter naming E, his Counter of it, Alice's Accept of his Counter and E's "
        "Stamp of his Counter: his Accept is superseded (NEG-026), and her Delivery under its contract taken "
        "unread",
        ["NEG-026", "NEG-018"],
        [*base, bobs.envelope, took.envelope, witness, under_accept],
    )
    g.add(
        "Bob's Accept of Alice's Counter naming E, his Counter of it and Alice's Accept of his Counter, and "
        "no Stamp: his Counter is held until E orders the two answers, the Accept's contract stays the "
        "negotiation's, and her Delivery under it is read as one (item_index out of range)",
        ["NEG-026", "NEG-008"],
        [*base, bobs.envelope, took.envelope, under_accept],
        "BODY_INVALID",
        "ContractRule",
        twin=[*base, bobs.envelope, took.envelope],
    )
    for comment, order in (
        ("before E's Stamp of it", [bobs.envelope, took.envelope, witness]),
        ("after E's Stamp of it", [witness, bobs.envelope, took.envelope]),
    ):
        g.add(
            f"Alice's max_outstanding 1,000; Bob's Accept of Alice's Counter naming E, his Counter of it "
            f"{comment}, and her Accept of his Counter: her contract counts 450 and Bob's Accept's nowhere, "
            "and her offer of 500 to Carol at +5 s fits",
            ["NEG-026", "MND-010"],
            [*base, *order, alice_late],
        )
    g.add(
        "the same with no Stamp: the contract of Bob's Accept counts 600 hers, and her offer of 500 to Carol "
        "at +5 s is over her cap",
        ["NEG-026", "MND-010"],
        [*base, bobs.envelope, took.envelope, alice_late],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, bobs.envelope, took.envelope],
    )
    # Bob's Reject of Alice's Counter, which E stamped, after his Accept of it
    clock, alice, bob = world()
    escrow = Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    reject = bob.reject(counter, "no")
    clock.advance(1_000)
    accept = bob.accept(counter)
    base = [*ctx(alice, bob, escrow), offer.envelope, counter.envelope, accept.envelope, reject.envelope]
    g.add(
        "Bob's Accept of Alice's Counter naming E, then his Reject of it, which E stamped: the line is "
        "REJECTED, his Accept superseded (NEG-026), and her Delivery under its contract taken unread",
        ["NEG-026", "NEG-018"],
        [*base, stamp(escrow, offer, counter, reject).envelope, bad_delivery(alice, accept, bob)],
    )
    return g


def cut_off_answered_twice() -> Group:
    """NEG-023 (b) on the line a witnessed Accept cut off (neg29, F89): reading28's story with a second answer
    of Alice's to Bob's Counter. Bob's offer naming no escrow, Alice's kept Reject of it (+1 s), her Counter
    naming E with both bonds (+2 s), Bob's Counter of it (500 his, +3 s), her Accept of his Counter (X, +4 s:
    450 hers, 500 his) and her Reject of it (Y, +4.2 s, higher in her chain), then Bob's Accept of her
    Counter (+5 s), which E witnesses. X's contract binds Bob to nothing -- her key answered his Counter
    twice -- and counts for Alice alone, from X until E's Accept, in every order: here the orders a verifier
    that booked Bob's side of it on the cut-off line, or undid its displacement, counted 500 his at +4.1 s
    and +4.5 s -- the Reject first; her two answers after E's witnessed Accept, her Accept first (the Reject
    un-books it); and her Reject first (her lower Accept is then the Counter's answer there, not the Reject).
    Bob's max_outstanding 1,050 (his Counter, 500, and E's contract, 550, held together in a view that met
    his Accept before her Accept of his Counter); his offer of 600 to Carol.
    tests/test_neg29_answered_accept.py. Appended to chains.json."""
    g = Group("CutOffAnsweredTwice", "sparse")
    clock, alice, bob = world(alice={"max_outstanding": 1_000}, bob={"max_outstanding": 1_050})
    carol, escrow = Party("carol", clock), Party("escrow", clock)

    def to_carol(party: Party) -> VerifiedStatement:
        gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
        return party.offer(carol, party.proposal(gives=gives))

    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(500)
    bob_early = to_carol(bob)  # +3.5 s: Bob's Counter live
    clock.advance(500)
    took = alice.accept(bobs)
    clock.advance(100)
    bob_between = to_carol(bob)  # +4.1 s: X's contract formed, binding Bob to nothing
    clock.advance(100)
    again = alice.reject(bobs, "a second answer")
    clock.advance(300)
    bob_late, alice_late = to_carol(bob), to_carol(alice)  # +4.5 s
    clock.advance(500)
    accept = bob.accept(counter)
    witness = stamp(escrow, accept).envelope
    base = [*ctx(alice, bob, carol, escrow), offer.envelope]
    line, witnessed = [counter.envelope, bobs.envelope], [accept.envelope, witness]
    orders = (
        (
            "her kept Reject first, the rest as signed",
            [kept.envelope, *line, took.envelope, again.envelope, *witnessed],
        ),
        (
            "her two answers after E's witnessed Accept, her Accept first, the kept Reject last",
            [*line, *witnessed, took.envelope, again.envelope, kept.envelope],
        ),
        (
            "her two answers after E's witnessed Accept, her Reject first, the kept Reject last",
            [*line, *witnessed, again.envelope, took.envelope, kept.envelope],
        ),
    )
    for comment, order in orders:
        for at, probe in (("+4.1 s", bob_between), ("+4.5 s", bob_late)):
            g.add(
                f"Bob's max_outstanding 1,050; {comment}: the contract of Alice's Accept of Bob's Counter "
                "binds him to nothing (her key answered his Counter twice), and his offer of 600 to Carol at "
                f"{at} fits",
                ["NEG-023", "NEG-021", "NEG-017", "MND-010"],
                [*base, *order, probe.envelope],
            )
    first = orders[0][1]
    g.add(
        "the same, her kept Reject first: Bob's Counter (500) counts from its place until her Accept of it, "
        "and his offer of 600 to Carol at +3.5 s is over his cap",
        ["MND-010", "NEG-021", "NEG-017"],
        [*base, *first, bob_early.envelope],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, *first],
    )
    last = orders[2][1]
    g.add(
        "Alice's max_outstanding 1,000; her two answers after E's witnessed Accept, her Reject first: "
        "the contract of her Accept of Bob's Counter counts for her (450) from it until E's Accept, and "
        "her offer of 600 to Carol at +4.5 s is over her cap",
        ["MND-010", "NEG-023", "NEG-021"],
        [*base, *last, alice_late.envelope],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*base, *last],
    )
    return g


def checked_story(
    *, accept_first: bool
) -> tuple[list[bytes], dict[str, bytes], dict[str, VerifiedStatement]]:
    """:func:`checked_against_itself`'s story (``accept_first``: Bob's Accept of Alice's Counter dated before
    his Counter of it): ``(context, statements by letter, probes by name)``, each probe an offer to Carol
    (tests/test_js_verifier.py reads it in every order)."""
    caps = {"alice": {"max_outstanding": 899}, "bob": {"max_outstanding": 999}}
    clock, alice, bob = world(**caps)
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    probes: dict[str, VerifiedStatement] = {}

    def to_carol(name: str, party: Party, value: int) -> None:
        gives = [service("code-review", value=value, deadline_ms=clock.now_ms + DAY_MS)]
        probes[name] = party.offer(carol, party.proposal(gives=gives))

    offer = bob.offer(alice)
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
    clock.advance(1_000)
    if accept_first:
        accept = bob.accept(counter)
        clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal())
    clock.advance(500)
    for value in (400, 450):
        to_carol(f"bob {value} +{clock.now_ms - offer.issued_at_ms}", bob, value)
    clock.advance(500)
    took = alice.accept(bobs)
    clock.advance(500)
    to_carol(f"alice 450 +{clock.now_ms - offer.issued_at_ms}", alice, 450)
    if not accept_first:
        clock.advance(500)
        accept = bob.accept(counter)
    clock.advance(1_500)
    for who, values in ((alice, (250, 300)), (bob, (400, 450))):
        for value in values:
            to_carol(f"{who.name} {value} +{clock.now_ms - offer.issued_at_ms}", who, value)
    items = {
        "O": offer.envelope,
        "C": counter.envelope,
        "B": bobs.envelope,
        "X": took.envelope,
        "A": accept.envelope,
        "S": stamp(escrow, accept).envelope,
    }
    return ctx(alice, bob, carol, escrow), items, probes


def checked_against_itself() -> Group:
    """SPEC 4.5, NEG-021 (d), NEG-025 (order30, f89's finding): a statement a view took before a witnessed
    Accept's Stamp is checked again, when the Stamp comes, as a verifier meeting it first checked it -- not
    against a book that already holds it. Bob's offer naming no escrow, Alice's Counter naming E with both
    bonds (+1 s, 600 hers), Bob's Counter of it (+2 s, 500 his), her Accept of his Counter (+3 s: 450 hers,
    500 his), Bob's Accept of her Counter (+4 s, E's contract: 600 hers, 550 his), E's Stamp of it. Alice's
    max_outstanding 899, Bob's 999: checked against itself, Bob's Counter (500 + 500) or Alice's Accept (450
    + 450) would have been refused held first, and the view kept her Accept's contract booked for good (1,050
    each from +4 s) or, her Accept after the Stamp, for nobody. Then Bob's Accept dated before his Counter
    (+2 s, +3 s, her Accept +4 s): held first his Counter is refused (550 + 500 > 999) and counts nowhere, in
    every order -- before, a view that took it live kept it booked for good.
    tests/test_order30_booked_checked_against_itself.py. Appended to chains.json."""
    g = Group("CheckedAgainstItself", "sparse")

    def add(
        comment: str, story: tuple[list[bytes], dict[str, bytes]], order: str, probe: VerifiedStatement
    ) -> None:
        """``probe`` after the story in ``order``: refused if ``comment`` says it is over a cap."""
        context, items = story
        body = [*context, *(items[k] for k in order)]
        if comment.endswith("over his cap") or comment.endswith("over her cap"):
            flags = ("MANDATE_VIOLATION", "Exposure")
            g.add(
                comment,
                ["MND-010", "MND-022", "NEG-021", "NEG-025"],
                [*body, probe.envelope],
                *flags,
                twin=body,
            )
        else:
            g.add(comment, ["MND-010", "MND-022", "NEG-021", "NEG-025"], [*body, probe.envelope])

    context, items, probes = checked_story(accept_first=False)
    told = (context, items)
    line = "Alice's max_outstanding 899, Bob's 999; Bob's Counter, Alice's Accept of it, Bob's Accept"
    for order, said in (("OCBXAS", f"{line}, E's Stamp"), ("OCBXSA", f"{line} after E's Stamp of it")):
        add(
            f"{said}: her Accept's contract counts from it until Bob's witnessed Accept, and Alice's offer "
            "of 250 to Carol at +5.5 s fits (E's contract, 600)",
            told,
            order,
            probes["alice 250 +5500"],
        )
        add(
            f"{said}: Bob's offer of 400 to Carol at +5.5 s fits (E's contract, 550)",
            told,
            order,
            probes["bob 400 +5500"],
        )
    add(
        f"{line}, E's Stamp: Alice's offer of 300 to Carol at +5.5 s (E's contract, 600) is over her cap",
        told,
        "OCBXAS",
        probes["alice 300 +5500"],
    )
    add(
        f"{line}, E's Stamp: Bob's offer of 450 to Carol at +5.5 s (E's contract, 550) is over his cap",
        told,
        "OCBXAS",
        probes["bob 450 +5500"],
    )
    add(
        "Alice's max_outstanding 899; Bob's Counter, his Accept, E's Stamp, then Alice's Accept of his "
        "Counter: its contract counts for her (450) from it until Bob's Accept, and her offer of 450 to "
        "Carol at +3.5 s is over her cap",
        told,
        "OCBASX",
        probes["alice 450 +3500"],
    )
    add(
        "Bob's max_outstanding 999; Bob's Counter, his Accept of Alice's Counter, E's Stamp (f89's order): "
        "his Counter counts until his witnessed Accept, and his offer of 400 to Carol at +5.5 s fits",
        told,
        "OCBAS",
        probes["bob 400 +5500"],
    )
    context, items, probes = checked_story(accept_first=True)
    told = (context, items)
    line = "Bob's max_outstanding 999; his Accept of Alice's Counter dated before his Counter of it"
    add(
        f"{line}, which came first, then her Accept of it, his Accept, E's Stamp: held first his Counter "
        "is refused (MND-010) and counts nowhere, and his offer of 400 to Carol at +3.5 s fits (E's "
        "contract, 550)",
        told,
        "OCBXAS",
        probes["bob 400 +3500"],
    )
    add(
        f"{line}, which came first, then her Accept of it, his Accept, E's Stamp: his offer of 450 to Carol "
        "at +3.5 s (E's contract, 550) is over his cap",
        told,
        "OCBXAS",
        probes["bob 450 +3500"],
    )
    return g
