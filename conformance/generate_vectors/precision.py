"""Vectors for the places where two careful implementers of SPEC 0.1 read the rules differently
(issue: a second implementer's SPEC). Each case pins the answer SPEC 0.2 now states."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.statements import negotiation_id_for
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from conformance.generate_vectors._common import Group, agent_draft, edited, seal, world
from conformance.generate_vectors.negotiation import Deal, answer, ctx


def precision() -> Group:
    g = Group("Precision", "sparse")

    # MND-002: header.mandate names a statement the verifier holds, but not a Mandate.
    clock, alice, bob = world()
    first = alice.offer(bob)
    clock.advance(1_000)
    nonce = alice.agent.next_nonce()
    second = agent_draft(
        alice, "offer", alice.proposal(), audience=bob.did, nonce=nonce,
        negotiation_id=negotiation_id_for(alice.did, nonce),
    )  # fmt: skip
    base = [*ctx(alice, bob), first.envelope]
    g.add(
        "Alice's second offer names her first offer, a held statement that is not a Mandate, as its mandate",
        ["MND-002"],
        [*base, seal(alice.agent.key, edited(second, lambda s: setattr(s.header, "mandate", first.digest)))],
        "MANDATE_UNKNOWN",
        "UnknownMandate",
        twin=[*base, seal(alice.agent.key, second)],
    )

    # Section 8.8 step 3: the state in force at the statement's time decides which checks run. Bob
    # withdraws Alice's offer after it expired: the negotiation is EXPIRED at that time, so the party
    # checks are skipped and the table refuses the Withdraw (NEG-007), not NEG-004.
    clock, alice, bob = world()
    offer = alice.offer(bob)
    clock.now_ms = offer.header.expires_at_ms + 1
    late = seal(bob.agent.key, answer(bob, "withdraw", trade_pb2.Withdraw(offer=offer.digest), offer))
    g.add(
        "Bob (not its issuer) withdraws Alice's offer after it expired: ILLEGAL_TRANSITION, because the "
        "state in force at its time is EXPIRED (the party rule applies only in PROPOSED or COUNTERED)",
        ["NEG-007", "NEG-004"],
        [*ctx(alice, bob), offer.envelope, late],
        "ILLEGAL_TRANSITION",
        "VerificationOrder",
    )

    # CMT-002, section 8.8 step 5: a claim must be issued strictly after the item's deadline.
    d = Deal()
    at_deadline = d.claim(d.alice, issued_at_ms=d.deadline)
    d2 = Deal()
    after = d2.claim(d2.alice, issued_at_ms=d2.deadline + 1)
    g.add(
        "Alice's breach claim issued exactly at Bob's deadline (a claim follows the deadline)",
        ["CMT-002"],
        [*d.base, *d.locks, at_deadline.envelope],
        "ILLEGAL_TRANSITION",
        "ContractRule",
        twin=[*d2.base, *d2.locks, after.envelope],
    )
    g.add(
        "Alice's breach claim issued 1 ms after Bob's deadline: held until the escrow stamps it",
        ["CMT-002", "WIT-005"],
        [*d2.base, *d2.locks, after.envelope],
    )

    # ATT-001: the accepted statement may be a Counter; an attestation names it, not the first offer.
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    clock.advance(1_000)
    deadline = clock.now_ms + DAY_MS
    counter = bob.counter(
        offer,
        bob.proposal(
            gives=[service("copy-editing", value=400, deadline_ms=deadline)],
            wants=[service("code-review", value=500, deadline_ms=deadline)],
        ),
    )
    accept = alice.accept(counter)
    contract = [*ctx(alice, bob), offer.envelope, counter.envelope, accept.envelope]
    attested = bob.attest(counter, accept, alice.did).envelope
    g.add(
        "Bob attests about Alice on a contract formed by accepting his Counter: Attestation.offer names "
        "the Counter",
        ["ATT-001"],
        [*contract, attested],
    )
    g.add(
        "the same attestation naming the first Offer, which the Accept does not answer",
        ["ATT-001"],
        [*contract, bob.attest(offer, accept, alice.did).envelope],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, attested],
    )
    return g
