"""Negotiation, settlement, attestation and commit-reveal vectors (SPEC 8, 9, 10, 7.5).

Negotiation: the state machine from offer to contract (SPEC 8; NEG-001..007, NEG-011).
Settlement: bonds, deliveries, receipts, breach claims, forfeits, revocation and exclusive keys
(SPEC 8.6, 9; NEG-008..012, CMT-001, CMT-002). Attestation: who may attest, and how often (SPEC 10.1;
ATT-001, ATT-002). Commitment: reveals that do or do not open an offer's commitment (SPEC 7.5; BDY-007).
"""

from __future__ import annotations

from typing import Any

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.statements import Statement
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive, service
from conformance.generate_vectors._common import Group, agent_draft, bad_statement, chain_sign, seal, world


def negotiation() -> Group:
    g = Group("Negotiation", "sparse")

    def ctx(*parties: Party) -> list[bytes]:
        return [e for p in parties for e in p.setup]

    clock, alice, bob = world()
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    base = [*ctx(alice, bob), offer.envelope]
    g.add("offer then accept: a contract", ["NEG-002", "NEG-011"], [*base, accept.envelope])
    again = bad_statement(
        bob,
        "accept",
        trade_pb2.Accept(offer=offer.digest),
        audience=alice.did,
        negotiation_id=offer.header.negotiation_id,
        refs=[offer.digest],
    )
    g.add(
        "Bob accepts the same offer a second time",
        ["NEG-006"],
        [*base, accept.envelope, again],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
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
    stale = bad_statement(
        alice,
        "accept",
        trade_pb2.Accept(offer=offer.digest),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
        refs=[offer.digest],
    )
    g.add(
        "after Bob's counter, Alice accepts her own original offer",
        ["NEG-005"],
        [*base, counter.envelope, stale],
        "STALE_REFERENCE",
        "StaleReference",
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    own = bad_statement(
        alice,
        "counter",
        trade_pb2.Counter(offer=offer.digest, proposal=alice.proposal()),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    g.add(
        "Alice counters her own offer (addressed to Bob)",
        ["NEG-004"],
        [*base, own],
        "WRONG_PARTY",
        "WrongParty",
    )
    wrong_w = bad_statement(
        bob,
        "withdraw",
        trade_pb2.Withdraw(offer=offer.digest),
        audience=alice.did,
        negotiation_id=offer.header.negotiation_id,
    )
    g.add("Bob withdraws Alice's offer", ["NEG-004"], [*base, wrong_w], "WRONG_PARTY", "WrongParty")
    g.add("Alice withdraws her offer", ["NEG-004"], [*base, alice.withdraw(offer).envelope])
    rej = bob.reject(offer, "too expensive")
    after_rej = bad_statement(
        bob,
        "accept",
        trade_pb2.Accept(offer=offer.digest),
        audience=alice.did,
        negotiation_id=offer.header.negotiation_id,
        refs=[offer.digest],
    )
    g.add(
        "Bob rejects, then accepts",
        ["NEG-001"],
        [*base, rej.envelope, after_rej],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
    )
    carol = Party("carol", clock)
    g.add(
        "Carol (not a party) accepts Alice's offer to Bob",
        ["NEG-003"],
        [*base, *carol.setup, carol.accept(offer).envelope],
        "WRONG_PARTY",
        "WrongParty",
    )
    unknown = bad_statement(
        bob,
        "accept",
        trade_pb2.Accept(offer=derive("no such offer")),
        audience=alice.did,
        negotiation_id=derive("no such negotiation", 16),
    )
    g.add(
        "an Accept for a negotiation nobody opened",
        ["NEG-002"],
        [*ctx(alice, bob), unknown],
        "UNKNOWN_NEGOTIATION",
        "StaleReference",
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    base = [*ctx(alice, bob), offer.envelope]
    at_expiry = bob.accept(offer, issued_at_ms=offer.header.expires_at_ms)
    g.add(
        "Bob accepts at the offer's expires_at_ms exactly",
        ["NEG-007"],
        [*base, at_expiry.envelope],
        None,
        "Boundary",
    )
    clock, alice, bob = world()
    offer = alice.offer(bob)
    late = bob.accept(offer, issued_at_ms=offer.header.expires_at_ms + 1)
    g.add(
        "Bob accepts 1 ms after the offer expired",
        ["NEG-007"],
        [*ctx(alice, bob), offer.envelope, late.envelope],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
    )
    return g


def settlement() -> Group:
    g = Group("Settlement", "sparse")
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    ctx = [*alice.setup, *bob.setup, *escrow.setup]
    bonded = alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did)
    offer = alice.offer(bob, bonded)
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    base = [*ctx, offer.envelope, accept.envelope]

    def lock(p: Party, amount: int = 100, by: Party = escrow) -> Statement:
        msg = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=amount)
        return agent_draft(by, "bond_lock", msg, audience=p.did, negotiation_id=nid)

    def bad(party: Party, body: str, msg: Any) -> bytes:
        return bad_statement(
            party, body, msg, audience=bob.did if party is alice else alice.did, negotiation_id=nid
        )

    early_delivery = bad(alice, "delivery", commitment_pb2.Delivery(contract=accept.digest, item_index=0))
    g.add(
        "Alice delivers before the bonds are locked",
        ["NEG-012"],
        [*base, early_delivery],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
    )
    g.add(
        "Bob (not the escrow) locks his own bond",
        ["NEG-008"],
        [*base, seal(bob.agent.key, lock(bob, by=bob))],
        "WRONG_PARTY",
        "WrongParty",
    )
    g.add(
        "the escrow locks 50 of a 100 bond",
        ["NEG-012"],
        [*base, seal(escrow.agent.key, lock(alice, 50))],
        "BODY_INVALID",
        "ContractRule",
    )
    la = chain_sign(escrow.agent, lock(alice))
    lb = chain_sign(escrow.agent, lock(bob))
    clock.advance(1_000)
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    clock.advance(1_000)
    ra, rb = bob.receipt(da), alice.receipt(db)
    releases = [
        escrow.sign(
            "release",
            commitment_pb2.Release(contract=accept.digest, party=p.did, amount=100),
            audience=p.did,
            negotiation_id=nid,
        )
        for p in (alice, bob)
    ]
    trade = [*base, la.envelope, lb.envelope, da.envelope, db.envelope, ra.envelope, rb.envelope]
    g.add(
        "a bonded trade: locks, deliveries, receipts, releases",
        ["NEG-008", "NEG-012", "CMT-001"],
        [*trade, *(r.envelope for r in releases)],
    )
    self_receipt = bad(alice, "receipt", commitment_pb2.Receipt(delivery=da.digest, rating=100))
    g.add(
        "Alice issues the receipt for her own delivery",
        ["NEG-008"],
        [*base, la.envelope, lb.envelope, da.envelope, self_receipt],
        "WRONG_PARTY",
        "WrongParty",
    )
    out_of_range = bad(alice, "delivery", commitment_pb2.Delivery(contract=accept.digest, item_index=1))
    g.add(
        "Alice delivers item 1 of her 1 item",
        ["NEG-008"],
        [*base, la.envelope, lb.envelope, out_of_range],
        "BODY_INVALID",
        "ContractRule",
    )
    other = bad(alice, "delivery", commitment_pb2.Delivery(contract=offer.digest, item_index=0))
    g.add(
        "a delivery naming the offer, not the contract (the Accept)",
        ["NEG-005", "NEG-011"],
        [*base, la.envelope, lb.envelope, other],
        "STALE_REFERENCE",
        "StaleReference",
    )
    early = bad(alice, "breach_claim", commitment_pb2.BreachClaim(contract=accept.digest, item_index=0))
    g.add(
        "a breach claim before the item's deadline",
        ["CMT-002"],
        [*base, la.envelope, lb.envelope, da.envelope, early],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
    )
    clock.advance(DAY_MS + 1_000)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="copy editing never arrived"),
        audience=bob.did,
        negotiation_id=nid,
    )
    forfeit = escrow.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=100, beneficiary=alice.did, cause=claim.digest
        ),
        audience=bob.did,
        negotiation_id=nid,
    )
    g.add(
        "Bob never delivers: claim after the deadline, escrow forfeits Bob's bond to Alice",
        ["CMT-002", "NEG-008"],
        [*base, la.envelope, lb.envelope, da.envelope, claim.envelope, forfeit.envelope],
    )
    to_wrong = bad_statement(
        escrow,
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=100, beneficiary=escrow.did, cause=claim.digest
        ),
        audience=bob.did,
        negotiation_id=nid,
    )
    g.add(
        "the escrow forfeits Bob's bond to itself",
        ["CMT-002"],
        [*base, la.envelope, lb.envelope, da.envelope, claim.envelope, to_wrong],
        "BODY_INVALID",
        "ContractRule",
    )

    clock, alice, bob = world()
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    revoke = alice.sign(
        "revoke",
        commitment_pb2.Revoke(contract=accept.digest, reason="changed plans"),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    g.add(
        "Alice revokes a contract whose terms do not allow revocation",
        ["NEG-010"],
        [*alice.setup, *bob.setup, offer.envelope, accept.envelope, revoke.envelope],
        "REVOCATION_NOT_ALLOWED",
        "ContractRule",
    )
    clock, alice, bob = world()
    offer = alice.offer(bob, alice.proposal(revocation=trade_pb2.Revocation(allowed=True)))
    accept = bob.accept(offer)
    revoke = alice.sign(
        "revoke",
        commitment_pb2.Revoke(contract=accept.digest, reason="changed plans"),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    g.add(
        "Alice revokes a contract that allows revocation",
        ["NEG-010"],
        [*alice.setup, *bob.setup, offer.envelope, accept.envelope, revoke.envelope],
    )

    clock, alice, bob = world()
    carol = Party("carol", clock)
    ex = alice.proposal(exclusive_key=b"gpu-slot-7")
    o1 = alice.offer(bob, ex)
    a1 = bob.accept(o1)
    o2 = alice.offer(carol, ex)
    a2 = carol.accept(o2)
    ctx3 = [*alice.setup, *bob.setup, *carol.setup]
    g.add(
        "Alice's exclusive key is accepted in a second live contract",
        ["NEG-009"],
        [*ctx3, o1.envelope, a1.envelope, o2.envelope, a2.envelope],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
    )
    d1, d2 = alice.deliver(a1, bob), bob.deliver(a1, alice)
    r1, r2 = bob.receipt(d1), alice.receipt(d2)
    done = [d1.envelope, d2.envelope, r1.envelope, r2.envelope]
    g.add(
        "the first contract is fulfilled before the second accept: the key is free again",
        ["NEG-009"],
        [*ctx3, o1.envelope, a1.envelope, *done, o2.envelope, a2.envelope],
    )
    return g


def attestation() -> Group:
    g = Group("Attestation", "sparse")
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    ctx = [*alice.setup, *bob.setup, *carol.setup]
    contract = [*ctx, offer.envelope, accept.envelope]
    att = alice.attest(offer, accept, bob.did)
    g.add("Alice attests about Bob on their contract", ["ATT-001"], [*contract, att.envelope])
    g.add(
        "Alice attests a second time on the same contract",
        ["ATT-002"],
        [*contract, att.envelope, alice.attest(offer, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
    )
    g.add(
        "Carol (no party) attests about Bob",
        ["ATT-001"],
        [*contract, carol.attest(offer, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
    )
    g.add(
        "Alice attests about herself",
        ["ATT-001"],
        [*contract, alice.attest(offer, accept, alice.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
    )
    lone = alice.offer(bob)
    g.add(
        "an attestation on an offer that was never accepted",
        ["ATT-001"],
        [*ctx, lone.envelope, alice.attest(lone, lone, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
    )
    g.add(
        "an attestation citing a contract the verifier does not hold",
        ["ATT-001"],
        [*ctx, alice.attest(offer, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
    )
    g.add(
        "an attestation pairing an accept with another offer",
        ["ATT-001"],
        [*contract, lone.envelope, alice.attest(lone, accept, bob.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
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

    def reveal(amount: int, s: bytes = salt, by: Party = alice, claim_index: int = 0) -> bytes:
        msg = commitment_pb2.Reveal(statement=offer.digest, claim_index=claim_index, salt=s, amount=amount)
        return by.sign("reveal", msg).envelope

    g.add(
        "Alice reveals the committed reservation value", ["BDY-007"], [*base, reveal(420)], None, "Commitment"
    )
    g.add(
        "a reveal with another amount", ["BDY-007"], [*base, reveal(421)], "COMMITMENT_MISMATCH", "Commitment"
    )
    g.add(
        "a reveal with another salt",
        ["BDY-007"],
        [*base, reveal(420, derive("other salt"))],
        "COMMITMENT_MISMATCH",
        "Commitment",
    )
    g.add(
        "a reveal of a claim index that does not exist",
        ["BDY-007"],
        [*base, reveal(420, claim_index=1)],
        "BODY_INVALID",
        "Commitment",
    )
    g.add(
        "Bob reveals a claim in Alice's offer",
        ["BDY-007"],
        [*base, *bob.setup, reveal(420, by=bob)],
        "BODY_INVALID",
        "Commitment",
    )
    return g
