"""One contract, one final state, in any order of arrival (SPEC.md 8.9, NEG-015).

Escrowed contracts are built here by honest and withholding peers trading through the real escrow
(:class:`a2a_coop.testing.LocalEscrow`): claims, late deliveries, receipts, rulings, forfeits,
revokes and lapses. The property: every order in which a verifier could receive those statements --
any order that keeps each statement after what it depends on (dependencies first, as evidence
bundles are sent) -- is accepted in full and ends in the same state.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import carry_trade, claim_breach, revoke, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party

FUNDS, BOND = 1_000, 100


def scenario(kind: str) -> tuple[list[bytes], bytes, State]:
    """The escrow's transcript of one contract played to its end, its negotiation id and its state."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    withholding = WithholdingStrategy(every=1) if kind != "fulfilled" else None
    bob = make_peer(bob_party, clock, context=[escrow.mandate], strategy=withholding)
    terms: dict[str, Any] = {}
    if kind == "revoked":
        terms["revocation"] = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, **terms)
    neg = run_trade(alice, bob, bob.did, proposal, escrow=escrow)
    if kind == "breach-late-delivery":
        clock.advance(DAY_MS + 1)
        claim = claim_breach(alice, neg, 0, "never arrived")
        alice.on_replies(bob.exchange(claim.envelope, alice.send_context()))
        settle_with_escrow(alice, bob, escrow, neg)
        late = bob.sign(
            "delivery",
            commitment_pb2.Delivery(contract=neg.contract.id, item_index=0),
            audience=alice.did,
            negotiation_id=neg.id,
        )
        bob.on_replies(alice.exchange(late.envelope, bob.send_context()))  # Alice receipts it
        settle_with_escrow(bob, alice, escrow, bob.negotiation(neg.id))
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        escrow.tick()
    elif kind == "dismissed":
        clock.advance(DAY_MS + 1)
        claim = claim_breach(bob, bob.negotiation(neg.id), 0, "a false claim: alice delivered in time")
        bob.on_replies(alice.exchange(claim.envelope, bob.send_context()))
        settle_with_escrow(bob, alice, escrow, bob.negotiation(neg.id))
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        escrow.tick()
        clock.advance(CLAIM_WINDOW_MS)
        escrow.tick()  # nobody claimed Bob's item in time: the contract lapses, bonds refunded
    elif kind == "revoked":
        notice = revoke(bob, bob.negotiation(neg.id), "changed plans")
        bob.on_replies(alice.exchange(notice.envelope, bob.send_context()))
        settle_with_escrow(bob, alice, escrow, bob.negotiation(neg.id))
    elif kind == "lapsed":
        clock.advance(2 * DAY_MS + CLAIM_WINDOW_MS)
        escrow.tick()
    transcript = escrow.escrow.transcript()
    report = verify_transcript(transcript)
    assert report.valid, report.error
    return transcript, neg.id, report.verifier.negotiations.get(neg.id).state


def witnessed_over_rival(reject_first: bool) -> tuple[list[bytes], bytes, State]:
    """Two answers to one bonded offer (NEG-017): Mallory shows the escrow an Accept of Alice's offer
    and sends Alice a Reject of it, signed before or after the Accept (her chain then orders the two).
    Alice shows the escrow the Reject, which answers with the witnessed Accept; she performs, Mallory
    does not, nobody claims, and the contract lapses. The escrow's transcript plus the Reject."""
    clock = FixedClock()
    alice_party, mallory = Party("alice", clock), Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, mallory.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    rival: list[VerifiedStatement] = []

    class Mallory:
        def exchange(self, envelope: bytes, context: Any) -> list[bytes]:
            offer = verify_statement(envelope)
            if offer.body != "offer":
                return []
            if reject_first:
                rival.append(mallory.reject(offer, "no"))
            accept = mallory.accept(offer)
            escrow.submit([*mallory.setup, *alice_party.setup, offer.envelope, accept.envelope])
            if not reject_first:
                rival.append(mallory.reject(offer, "no"))
            return [*mallory.setup, rival[0].envelope]

    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    neg = carry_trade(alice, Mallory(), alice.propose(mallory.did, proposal), escrow=escrow)
    assert neg.contract is not None and (alice.did, 0) in neg.contract.delivered
    clock.advance(2 * DAY_MS + CLAIM_WINDOW_MS)
    escrow.tick()
    transcript = [*escrow.escrow.transcript(), rival[0].envelope]
    report = verify_transcript(transcript)
    assert report.valid, report.error
    return transcript, neg.id, report.verifier.negotiations.get(neg.id).state


KINDS = ["fulfilled", "breach-late-delivery", "dismissed", "revoked", "lapsed"]
SCENARIOS = {kind: scenario(kind) for kind in KINDS}
SCENARIOS["rival-answer-first"] = witnessed_over_rival(reject_first=True)
SCENARIOS["rival-answer-after"] = witnessed_over_rival(reject_first=False)
KINDS += ["rival-answer-first", "rival-answer-after"]


def _dependencies(envelopes: list[bytes]) -> dict[bytes, set[bytes]]:
    """For each statement: the statements of the set it needs held first (ERR-002 order of evidence).

    A statement needs every statement it names by digest (mandate, refs, body references) and the
    previous statement of its own issuer's chain it names as prev (so one issuer's statements keep
    their order, as a receiver's sparse chain view needs nothing else); a Ruling and a Forfeit also
    need the Stamp that made their claim or revoke effective; a Delivery needs the contract's locks.
    """
    statements = {vs.digest: vs for vs in (verify_statement(e) for e in envelopes)}
    stamps = {
        d: vs.digest
        for vs in statements.values()
        if vs.body == "stamp"
        for d in vs.statement.stamp.statements
    }
    locks = {vs.digest for vs in statements.values() if vs.body == "bond_lock"}
    deps: dict[bytes, set[bytes]] = {}
    for digest, vs in statements.items():
        named = {vs.header.mandate, vs.header.prev, *vs.header.refs}
        msg = vs.body_message
        for field in ("offer", "contract", "delivery", "claim", "cause", "evidence", "statement"):
            value = getattr(msg, field, None) if hasattr(msg, field) else None
            if isinstance(value, bytes):
                named.add(value)
        if vs.body in ("ruling", "forfeit"):
            cause = msg.claim if vs.body == "ruling" else msg.cause
            named.add(stamps.get(cause, b""))
            if vs.body == "forfeit":
                named |= {
                    d
                    for d, r in statements.items()
                    if r.body == "ruling" and r.statement.ruling.claim == cause
                }
        if vs.body == "delivery":
            named |= locks
        if vs.body == "accept":
            named.add(stamps.get(digest, b""))  # beside a rival answer it counts once witnessed (NEG-017)
        deps[digest] = {d for d in named if d in statements and d != digest}
    return deps


def _random_order(envelopes: list[bytes], rng: random.Random) -> list[bytes]:
    by_digest = {verify_statement(e).digest: e for e in envelopes}
    deps = _dependencies(envelopes)
    done: set[bytes] = set()
    out: list[bytes] = []
    while len(out) < len(envelopes):
        ready = sorted(d for d in by_digest if d not in done and deps[d] <= done)
        pick = rng.choice(ready)
        done.add(pick)
        out.append(by_digest[pick])
    return out


@pytest.mark.req("NEG-015", "NEG-001", "NEG-017")
@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.randoms(use_true_random=False))
def test_every_order_of_arrival_gives_one_final_state(kind: str, rng: random.Random) -> None:
    """A contract's statements fed to a fresh auditor in a random dependency-respecting order: expect
    every statement accepted and the same final state the escrow's own order gives."""
    transcript, nid, final = SCENARIOS[kind]
    report = verify_transcript(_random_order(transcript, rng))
    assert report.valid, report.error
    assert report.verifier.negotiations.get(nid).state is final


def test_the_scenarios_reach_every_outcome() -> None:
    """Guard for the property: the scenarios end in every outcome an escrowed contract can have."""
    outcomes = {kind: state for kind, (_, _, state) in SCENARIOS.items()}
    assert outcomes == {
        "fulfilled": State.FULFILLED,
        "breach-late-delivery": State.BREACHED,
        "dismissed": State.EXPIRED,
        "revoked": State.REVOKED,
        "lapsed": State.EXPIRED,
        "rival-answer-first": State.EXPIRED,
        "rival-answer-after": State.EXPIRED,
    }


def _names(statements: list[VerifiedStatement]) -> list[str]:  # pragma: no cover - debugging aid
    return [vs.body for vs in statements]
