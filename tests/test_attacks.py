"""The attacks of the v0.1 security review, performed as an attacker would, and shown to fail.

Each test plays the attack end to end through the real components it went through -- the peers'
verifiers and policy guards (:class:`a2a_coop.runtime.peer.Peer`), the reference escrow
(:class:`a2a_coop.protocol.escrow.Escrow`, in process through :class:`a2a_coop.testing.LocalEscrow`)
and the offline audit -- and asserts the SPEC code that stops it and that no value moved. The
threat-model table in SPEC.md section 16.14 names each of these tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2
from a2a_coop.protocol.errors import (
    CoopError,
    HeaderInvalid,
    IssuedInPast,
    RevocationUnauthorized,
    Unwitnessed,
    WrongAudience,
)
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.reputation import attestation_weight
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier, verify_transcript
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, bonded_trade, derive

FUNDS, BOND = 1_000, 100


class Market:
    """Alice (an honest peer), Bob (an honest peer, or withholding), an escrow holding both bonds."""

    def __init__(self, *, bob_withholds: bool = False) -> None:
        self.clock = FixedClock()
        self.alice_party, self.bob_party = Party("alice", self.clock), Party("bob", self.clock)
        self.escrow = LocalEscrow(
            Party("escrow", self.clock), funds={self.alice_party.did: FUNDS, self.bob_party.did: FUNDS}
        )
        self.alice = make_peer(self.alice_party, self.clock, context=[self.escrow.mandate])
        strategy = WithholdingStrategy(every=1) if bob_withholds else None
        self.bob = make_peer(self.bob_party, self.clock, context=[self.escrow.mandate], strategy=strategy)

    def trade(self, **terms: Any) -> Any:
        proposal = self.alice_party.proposal(
            issuer_bond=BOND, audience_bond=BOND, escrow=self.escrow.did, **terms
        )
        return run_trade(self.alice, self.bob, self.bob.did, proposal, escrow=self.escrow)

    def balances(self) -> tuple[int, int]:
        return tuple(self.escrow.get_balance(p.did)[0] for p in (self.alice, self.bob))  # type: ignore[return-value]

    def audit_ok(self) -> bool:
        return audit_ledger(self.escrow.escrow.transcript()).ok


# --- 1, 2: key authority -------------------------------------------------------------------------


@pytest.mark.req("KEY-004", "KEY-007", "MND-012")
@pytest.mark.parametrize("target", ["agent", "principal"])
def test_a_stranger_cannot_revoke_a_key_by_minting_a_mandate_for_it(target: str) -> None:
    """Mallory signs a Mandate naming Alice's agent key (or her principal's key) as its agent, then a
    KeyRevocation of it. Alice never accepted that mandate, so it binds nothing: Bob's verifier refuses
    the revocation with REVOCATION_UNAUTHORIZED and keeps accepting Alice's honest offers."""
    clock = FixedClock()
    alice, bob, mallory = Party("alice", clock), Party("bob", clock), Party("mallory", clock)
    bob_peer = make_peer(bob, clock)
    victim = alice.did if target == "agent" else alice.principal.did
    fake_mandate = mallory.agent.sign(
        "mandate", identity_pb2.Mandate(**{**_caps(clock), "agent": victim}), ttl_ms=DAY_MS
    )
    revocation = mallory.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=victim, effective_ms=clock.now_ms - DAY_MS)
    )
    bob_peer.hold([fake_mandate.envelope])
    with pytest.raises(RevocationUnauthorized) as err:
        bob_peer.hold([revocation.envelope])
    assert err.value.code == "REVOCATION_UNAUTHORIZED" and err.value.requirement == "KEY-004"
    answers = bob_peer.exchange(alice.offer(bob).envelope, alice.setup)
    assert [verify_statement(a).body for a in answers][:2] == ["mandate", "accept"]


@pytest.mark.req("KEY-004", "KEY-007", "WIT-002", "WIT-003", "CMT-002", "AUD-004")
def test_bond_theft_through_a_minted_revocation_fails_at_the_escrow() -> None:
    """The v0.1 bond theft: both bonds locked, Alice delivers on time, Bob never does. Bob's throwaway
    key mints a mandate for Alice's key and 'revokes' it at the escrow, then Bob claims Alice
    breached. Expect: the escrow refuses the revocation (REVOCATION_UNAUTHORIZED), dismisses Bob's
    claim (Alice's delivery was witnessed on time), upholds Alice's; balances Alice 1,100 / Bob 900;
    and the audit re-derives every decision."""
    m = Market(bob_withholds=True)
    neg = m.trade()
    c = neg.contract
    assert neg.state is State.PERFORMING and set(c.locked) == {m.alice.did, m.bob.did}
    throwaway = Party("bob-throwaway", m.clock)
    fake_mandate = throwaway.agent.sign(
        "mandate", identity_pb2.Mandate(**{**_caps(m.clock), "agent": m.alice.did}), ttl_ms=DAY_MS
    )
    revocation = throwaway.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=m.alice.did, effective_ms=m.clock.now_ms - DAY_MS)
    )
    with pytest.raises(RevocationUnauthorized):
        m.escrow.submit([fake_mandate.envelope, revocation.envelope])
    m.clock.advance(DAY_MS + 1)  # past every deadline
    bob_claim = claim_breach(m.bob, m.bob.negotiation(neg.id), 0, "alice's review never arrived (a lie)")
    alice_claim = claim_breach(m.alice, neg, 0, "copy editing never arrived")
    settle_with_escrow(m.bob, m.alice, m.escrow, m.bob.negotiation(neg.id))
    settle_with_escrow(m.alice, m.bob, m.escrow, neg)
    m.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    m.escrow.tick()
    rulings = {
        r.claim: r.decision
        for e in m.escrow.get_ledger(0, 0)[0]
        if (vs := verify_statement(e)).body == "ruling"
        for r in [vs.statement.ruling]
    }
    assert rulings == {
        bob_claim.digest: commitment_pb2.RULING_DECISION_DISMISS,
        alice_claim.digest: commitment_pb2.RULING_DECISION_UPHOLD,
    }
    assert m.balances() == (FUNDS + BOND, FUNDS - BOND)
    assert m.audit_ok()


# --- 3: a late delivery dated back to its deadline ----------------------------------------------


@pytest.mark.req("TIM-006", "WIT-001", "WIT-003", "WIT-005", "CMT-002", "AUD-005")
def test_late_delivery_dated_back_to_the_deadline_does_not_defeat_a_claim() -> None:
    """Bob never delivers. Alice claims after the deadline; a week later Bob signs a Delivery dated at
    the deadline (his chain stays consistent). Expect: Alice's live peer refuses it (ISSUED_IN_PAST);
    the escrow stamps it a week late, so it is no timely delivery (WIT-003): the claim is upheld, Bob's
    bond goes to Alice, every bond is settled and the dispute has ended (BREACHED)."""
    clock = FixedClock()
    alice_party, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    offer = alice.propose(
        bob.did, alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    )
    accept = bob.accept(offer)
    alice.on_replies([*bob.setup, accept.envelope])
    locks = escrow.submit([*alice_party.setup, *bob.setup, offer.envelope, accept.envelope])
    alice.on_replies(locks)
    neg = alice.negotiation(offer.header.negotiation_id)
    assert neg.state is State.PERFORMING  # bonded, and Alice delivered at once
    deadline = neg.contract.gives(bob.did)[0].deadline_ms
    clock.now_ms = deadline + 1
    claim = claim_breach(alice, neg, 0, "never arrived")
    alice.on_replies(escrow.submit([claim.envelope]))
    assert neg.state is State.DISPUTED
    clock.advance(7 * DAY_MS)
    backdated = bob.deliver(accept, alice_party, issued_at_ms=deadline, ttl_ms=30 * DAY_MS)
    with pytest.raises(IssuedInPast) as err:
        alice.exchange(backdated.envelope)
    assert err.value.requirement == "TIM-006"
    answers = escrow.submit([backdated.envelope])  # accepted as evidence, stamped a week late
    answers += escrow.tick()
    alice.on_replies(answers)
    assert neg.state is State.BREACHED
    assert escrow.get_balance(alice_party.did)[:2] == (FUNDS + BOND, 0)
    assert escrow.get_balance(bob.did)[:2] == (FUNDS - BOND, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


# --- 4: an Accept dated back to an offer's expiry -----------------------------------------------


@pytest.mark.req("TIM-006", "WIT-004", "NEG-014", "MND-010")
def test_accept_dated_back_to_an_expired_offer_revives_nothing() -> None:
    """Alice's offer to Bob expires; she uses the headroom for a deal with Carol; Bob then sends an
    Accept dated at the old expiry, as a request and then as the context of an innocent one. Expect:
    Alice's live peer refuses it both times (ISSUED_IN_PAST), the escrow refuses to witness it
    (UNWITNESSED), and Alice's outstanding value never exceeds her cap."""
    clock = FixedClock()
    alice_party = Party("alice", clock, mandate_caps={"max_outstanding": 1_000})
    bob, carol_party = Party("bob", clock), Party("carol", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    carol = make_peer(carol_party, clock)
    to_bob = alice.propose(bob.did, alice_party.proposal(escrow=escrow.did), ttl_ms=60_000)
    clock.advance(120_000)  # Bob stays silent: the offer lapses
    drive(alice, carol.exchange, alice.propose(carol.did, alice_party.proposal()))
    late = bob.accept(to_bob, issued_at_ms=to_bob.header.expires_at_ms)
    with pytest.raises(IssuedInPast):
        alice.exchange(late.envelope, bob.setup)
    fresh = bob.offer(alice_party)  # smuggled as context of an innocent request instead: refused too
    with pytest.raises(IssuedInPast):
        alice.exchange(fresh.envelope, [*bob.setup, late.envelope])
    with pytest.raises(Unwitnessed) as err:
        escrow.submit([*alice_party.setup, *bob.setup, to_bob.envelope, late.envelope])
    assert err.value.requirement == "WIT-004"
    assert alice.status()["outstanding_value"] <= 1_000


# --- 8: negotiation-id squatting ------------------------------------------------------------------


@pytest.mark.req("NEG-013")
def test_a_copied_negotiation_id_cannot_squat_alices_contract() -> None:
    """A throwaway key copies the negotiation id of Alice's offer and opens it at the escrow first.
    Expect HEADER_INVALID (NEG-013: an offer's id derives from its issuer and nonce); Alice's real
    contract then forms and is bonded."""
    m = Market()
    squatter = Party("squatter", m.clock)
    target = m.alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=m.escrow.did)
    real_offer = m.alice.propose(m.bob.did, target)
    with pytest.raises(HeaderInvalid) as err:
        squatter.offer(m.bob_party, negotiation_id=real_offer.header.negotiation_id)
    assert err.value.requirement == "NEG-013"
    forged = _resign_with_id(squatter, m.bob_party, real_offer.header.negotiation_id)
    with pytest.raises(HeaderInvalid):
        m.escrow.submit([*squatter.setup, forged])
    drive(m.alice, m.bob.exchange, real_offer)
    neg = m.alice.negotiation(real_offer.header.negotiation_id)
    m.alice.on_replies(m.escrow.submit([*m.alice_party.setup, *m.bob_party.setup, *_contract(m.alice, neg)]))
    assert set(neg.contract.locked) == {m.alice.did, m.bob.did}


# --- 9: integers past 64 bits ---------------------------------------------------------------------


@pytest.mark.req("STM-013", "BDY-015")
def test_integers_that_overflow_64_bit_verifiers_are_refused_by_every_verifier() -> None:
    """An expiry of 2^64 - 1 (which a 64-bit verifier adding the skew wraps to 'long expired') and an
    item worth 2^63 (two of which sum to 0 mod 2^64) are refused before any arithmetic: every
    verifier, 64-bit or big-integer, reaches the same verdict."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    with pytest.raises(HeaderInvalid) as err:
        alice.offer(bob, ttl_ms=2**64 - 1 - clock.now_ms)
    assert err.value.requirement == "STM-013"
    proposal = alice.proposal()
    proposal.gives[0].value = 2**63
    with pytest.raises(CoopError) as err:
        alice.offer(bob, proposal)
    assert err.value.requirement == "BDY-015"


# --- 10: the smaller findings ---------------------------------------------------------------------


@pytest.mark.req("STM-005")
def test_own_statement_addressed_to_someone_else_is_refused_on_receipt() -> None:
    """Somebody hands Alice her own offer to Bob, as if it were addressed to her (after she lost it, or
    forged by a thief of her key). Expect WRONG_AUDIENCE: step 21 makes no exception for our own key."""
    clock = FixedClock()
    alice_party, bob = Party("alice", clock), Party("bob", clock)
    alice = make_peer(alice_party, clock)
    stolen_key_offer = alice_party.offer(bob)  # Alice's key, but not Alice's peer: a thief's copy
    with pytest.raises(WrongAudience):
        alice.exchange(stolen_key_offer.envelope)


@pytest.mark.req("NEG-012", "AUD-004")
def test_a_refund_before_both_bonds_are_locked_does_not_make_a_contract_bonded() -> None:
    """A misbehaving escrow locks Alice's bond, refunds it at once, then locks Bob's. Expect the
    contract to stay ACCEPTED (no delivery is legal) and the audit to report REFUND_NOT_DUE."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id

    def money(body: str, who: Party) -> VerifiedStatement:
        msgs = {"bond_lock": commitment_pb2.BondLock, "refund": commitment_pb2.Refund}
        return escrow.sign(
            body, msgs[body](contract=accept.digest, party=who.did, amount=BOND), negotiation_id=nid
        )

    deposits = [
        escrow.sign(
            "deposit", commitment_pb2.Deposit(party=p.did, amount=FUNDS, currency="credit"), audience=p.did
        )
        for p in (alice, bob)
    ]
    stamp = escrow.sign(
        "stamp",
        commitment_pb2.Stamp(
            statements=[vs.digest for vs in (alice.mandate_vs, bob.mandate_vs, offer, accept)]
        ),
    )
    ledger = [*deposits, stamp]
    evidence = [*alice.setup, *bob.setup, offer.envelope, accept.envelope]
    actions = [money("bond_lock", alice), money("refund", alice), money("bond_lock", bob)]
    transcript = [*escrow.setup, *(vs.envelope for vs in ledger), *evidence, *(vs.envelope for vs in actions)]
    report = verify_transcript(transcript)
    assert report.valid
    assert report.verifier.negotiations.get(nid).state is State.ACCEPTED
    audit = audit_ledger(transcript)
    assert "REFUND_NOT_DUE" in {f.code for f in audit.findings} and not audit.ok


@pytest.mark.req("ATT-004")
def test_two_hundred_self_dealt_zero_stake_contracts_weigh_nothing() -> None:
    """One principal's two agent keys sign 200 zero-value, zero-bond contracts between them and attest
    each: 400 admissible attestations. Expect every one to weigh 0 (ATT-004); so does an attestation
    of an unbonded trade between two principals, however much value they declare (declared values
    are the parties' own choice), while one of a bonded trade its escrow settled weighs the bond."""
    clock = FixedClock()
    boss = Party("boss", clock)
    ann, ben = (Party(n, clock) for n in ("ann", "ben"))
    for agent in (ann, ben):  # both agents delegated by one principal
        agent.mandate_vs = boss.principal.sign(
            "mandate", identity_pb2.Mandate(**{**_caps(clock), "agent": agent.did}), ttl_ms=365 * DAY_MS
        )
        agent.setup = [agent.mandate_vs.envelope]
    v = Verifier()
    for e in (*ann.setup, *ben.setup):
        v.accept(e)
    weights = []
    for _ in range(200):
        proposal = ann.proposal()
        for item in (*proposal.gives, *proposal.wants):
            item.value = 0
        offer = ann.offer(ben, proposal)
        accept = ben.accept(offer)
        for vs in (offer, accept, ann.attest(offer, accept, ben.did), ben.attest(offer, accept, ann.did)):
            v.accept(vs.envelope)
            if vs.body == "attestation":
                weights.append(attestation_weight(v, vs, trusted_escrows=()))
    assert len(weights) == 400 and set(weights) == {0}
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    for e in (*alice.setup, *bob.setup, *escrow.setup):
        v.accept(e)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    rating = alice.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_FULFILLED)
    for vs in (offer, accept, rating):
        v.accept(vs.envelope)
    assert sum(i.value for i in offer.statement.offer.wants) > 0
    assert attestation_weight(v, rating, trusted_escrows={escrow.did}) == 0
    bonded = bonded_trade(alice, bob, escrow, clock)
    for vs in bonded:
        v.accept(vs.envelope)
    assert attestation_weight(v, bonded[-1], trusted_escrows={escrow.did}) == 100  # Bob's bond
    assert attestation_weight(v, bonded[-1], trusted_escrows=()) == 0  # an escrow we do not trust


# --- 11: one contract, one final state -------------------------------------------------------------


@pytest.mark.req("NEG-015", "WIT-005", "CMT-002")
def test_claim_late_delivery_receipts_and_forfeit_race_to_one_final_state() -> None:
    """The kill -9 race: Bob goes silent after accepting; after the deadline Alice claims; Bob answers
    with a late Delivery; Alice's on-time Delivery is re-sent and receipted, and she receipts Bob's
    late one; the escrow upholds her claim and forfeits Bob's bond. Every party, and an auditor
    replaying the statements in any of several orders, derive BREACHED; nobody refuses the Forfeit."""
    m = Market(bob_withholds=True)
    neg = m.trade()
    c = neg.contract
    alice_delivery = next(m.alice.verifier.statements[d] for d in c.deliveries)
    m.clock.advance(DAY_MS + 1)
    claim = claim_breach(m.alice, neg, 0, "never arrived")
    stamped = m.escrow.submit([claim.envelope])
    late = m.bob.sign(
        "delivery",
        commitment_pb2.Delivery(contract=c.id, item_index=0),
        audience=m.alice.did,
        negotiation_id=neg.id,
    )
    m.alice.on_replies([*stamped[1:], late.envelope])  # Alice holds the stamp, then Bob's late delivery
    m.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    decided = m.escrow.submit([late.envelope]) + m.escrow.tick()
    m.alice.on_replies(decided[1:])
    bob_neg = m.bob.negotiation(neg.id)
    m.bob.hold([*stamped[1:], claim.envelope, *decided[1:]])
    assert neg.state is State.BREACHED and bob_neg.state is State.BREACHED
    everything = [e for e in m.escrow.escrow.transcript()]
    orders = [everything, _stamps_last(everything), _interleave(everything)]
    finals = set()
    for order in orders:
        report = verify_transcript(order)
        assert report.valid, report.error
        finals.add(report.verifier.negotiations.get(neg.id).state)
    assert finals == {State.BREACHED}
    assert alice_delivery.digest in c.deliveries


# --- helpers ------------------------------------------------------------------------------------


def _caps(clock: FixedClock) -> dict[str, Any]:
    return {
        "valid_from_ms": clock.now_ms - DAY_MS,
        "valid_until_ms": clock.now_ms + 365 * DAY_MS,
        "currency": "credit",
        "max_per_deal": 10_000,
        "budget_per_period": 100_000,
        "period_ms": 30 * DAY_MS,
        "max_outstanding": 50_000,
    }


def _contract(p: Peer, neg: Any) -> list[bytes]:
    c = neg.contract
    return [c.offer.envelope, c.accept.envelope]


def _resign_with_id(squatter: Party, to: Party, nid: bytes) -> bytes:
    """The squatter's offer with Alice's negotiation id, signed the hard way (the library refuses)."""
    from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, sign_payload_with_digest
    from a2a_coop.protocol.statements import encode_statement, new_statement

    stmt = new_statement(
        "offer",
        squatter.proposal(),
        issued_at_ms=squatter.clock.now_ms,
        ttl_ms=60_000,
        audience=to.did,
        negotiation_id=nid,
        mandate=squatter.mandate_vs.digest,
    )
    h = stmt.header
    h.version, h.issuer, h.nonce = 1, squatter.did, derive("squat", 16)
    envelope, _ = sign_payload_with_digest(encode_statement(stmt), squatter.agent.key, STATEMENT_PAYLOAD_TYPE)
    return envelope


def _stamps_last(envelopes: list[bytes]) -> list[bytes]:
    """Every Stamp moved after the statements it names (claims then take effect when it arrives)."""
    stamps = [e for e in envelopes if verify_statement(e).body == "stamp"]
    others = [e for e in envelopes if e not in stamps]
    rulings = [e for e in others if verify_statement(e).body in ("ruling", "forfeit", "release", "refund")]
    rest = [e for e in others if e not in rulings]
    return [*rest, *stamps, *rulings]


def _interleave(envelopes: list[bytes]) -> list[bytes]:
    """Party statements reversed where they do not depend on each other (receipts after deliveries)."""
    first, *rest = envelopes
    deliveries = [e for e in rest if verify_statement(e).body == "delivery"]
    receipts = [e for e in rest if verify_statement(e).body == "receipt"]
    others = [e for e in rest if e not in deliveries and e not in receipts]
    cut = next(i for i, e in enumerate(others) if verify_statement(e).body == "ruling")
    return [first, *others[:cut], *reversed(deliveries), *reversed(receipts), *others[cut:]]


@pytest.mark.req("TIM-006", "WIT-002")
def test_a_delivery_stamped_on_time_and_re_sent_after_a_crash_is_still_taken() -> None:
    """Bob is down when Alice delivers; Alice has the escrow stamp her delivery on time and re-sends it two
    hours later. Expect Bob's live peer to take it (its escrow witnessed it within the skew of its date)
    and to receipt it, while the same delivery without the stamp is ISSUED_IN_PAST."""
    m = Market(bob_withholds=True)
    offer = m.alice.propose(
        m.bob.did, m.alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=m.escrow.did)
    )
    m.alice.on_replies(m.bob.exchange(offer.envelope, m.alice.send_context()))
    neg = m.alice.negotiation(offer.header.negotiation_id)
    c = neg.contract
    locks = m.escrow.submit([*m.alice_party.setup, *m.bob_party.setup, c.offer.envelope, c.accept.envelope])
    delivery = m.alice.on_replies(locks)[0]  # bonded: Alice delivers at once; Bob never hears of it
    assert delivery.body == "delivery"
    stamp = m.escrow.submit([delivery.envelope])[1]  # witnessed on time, at the escrow
    m.clock.advance(2 * 3_600_000)  # Bob comes back; the delivery (a day to live) is re-sent
    context = [*m.alice.send_context(), *locks[1:]]  # the escrow's locks, relayed with it
    with pytest.raises(IssuedInPast):
        m.bob.exchange(delivery.envelope, context)
    answers = m.bob.exchange(delivery.envelope, [*context, stamp])
    assert [verify_statement(a).body for a in answers] == ["receipt"]
