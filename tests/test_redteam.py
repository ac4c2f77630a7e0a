"""Red-team findings against the v0.2 trust model, each played end to end.

Each finding was first committed as a strict-xfail test asserting the correct behaviour; each now
passes, and SPEC 16.14 names the rule that closed it (a test that passes was shown to fail on the code
before its fix). Where the fix chose another design than the test first assumed, the test says so in its
docstring, with a second test for the other side of the rule. Honest parties
follow the reference flows (:class:`~a2a_coop.runtime.peer.Peer`, ``run_trade``,
``settle_with_escrow``, ``claim_breach``, ``revoke``, the reference escrow); attackers use only their
own keys, the times and ids they write, and which statements they send, withhold or submit, and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strategy import HonestStrategy, WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, revoke, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party

FUNDS, BOND = 1_000, 100


class NoReceipts(HonestStrategy):
    """Delivers everything at once, but never receipts what it gets."""

    def rate(self, delivery: Any) -> int | None:
        return None


class Silent:
    """An attacker's transport in front of its peer: answers as the peer does, minus its Acks."""

    def __init__(self, peer: Peer, *, drop_acks: bool) -> None:
        self.peer, self.drop_acks = peer, drop_acks

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        answers = self.peer.exchange(envelope, context)
        return [a for a in answers if not (self.drop_acks and verify_statement(a).body == "ack")]

    def gossip(self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]) -> Any:
        return self.peer.gossip(envelopes, proofs)


def _market(**bob: Any) -> tuple[FixedClock, Party, Party, LocalEscrow, Peer, Peer]:
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob_peer = make_peer(bob_party, clock, context=[escrow.mandate], **bob)
    return clock, alice_party, bob_party, escrow, alice, bob_peer


def _bodies(envelopes: Sequence[bytes]) -> list[str]:
    return [verify_statement(e).body for e in envelopes]


# --- 1. value theft: an on-time Delivery the reference flow never gets witnessed ------------------


@pytest.mark.req("WIT-002", "WIT-003", "WIT-007", "CMT-002", "CMT-006")
@pytest.mark.parametrize("drop_acks", [False, True], ids=["bob-acks", "bob-silent"])
def test_withheld_receipt_then_claim_forfeits_an_on_time_delivery(drop_acks: bool) -> None:
    """Alice (honest, run_trade) and Bob trade with bonds. Bob delivers and has the escrow witness
    it; Alice delivers at once, a day before her deadline, but Bob never receipts it (and, silent,
    never acks it). A minute after the deadline Bob claims Alice never delivered. Were Alice's
    Delivery to reach the escrow only now (settle_with_escrow, the reference answer to a claim), it
    would be stamped after deadline + 30 s, 'late' (WIT-003): the claim upheld, Alice's bond Bob's,
    and the audit ok. Correct: a party that delivered on time keeps its bond -- the escrow dismisses
    the claim, and since Bob never receipted, the contract stays PERFORMING until it lapses (last
    deadline + claim window, CMT-006), when both bonds are refunded."""
    clock, alice_party, _, escrow, alice, bob = _market(strategy=NoReceipts())
    bob_wire = Silent(bob, drop_acks=drop_acks)
    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    neg = run_trade(alice, bob_wire, bob.did, proposal, escrow=escrow)  # type: ignore[arg-type]
    assert neg.state is State.PERFORMING and (bob.did, 0) in neg.contract.receipted
    bob_neg = bob.negotiation(neg.id)
    held = bob.verifier.statements.values()
    bobs = next(vs for vs in held if vs.body == "delivery" and vs.issuer == bob.did)
    alices_receipt = next(vs for vs in held if vs.body == "receipt" and vs.issuer == alice.did)
    escrow.submit([bobs.envelope, alices_receipt.envelope])  # Bob's own delivery: witnessed on time
    clock.advance(DAY_MS + 60_000)  # a minute past every deadline
    claim = claim_breach(bob, bob_neg, 0, "alice never delivered (a lie)")
    stamped = escrow.submit([claim.envelope])
    alice.hold(stamped[:1])
    alice.exchange(claim.envelope, stamped[1:])
    settle_with_escrow(alice, bob_wire, escrow, neg)  # type: ignore[arg-type]
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    ruling = [verify_statement(e) for e in escrow.tick()]
    assert [vs.body for vs in ruling] == ["ruling"]
    assert ruling[0].statement.ruling.decision == commitment_pb2.RULING_DECISION_DISMISS
    assert escrow.escrow.verifier.negotiations.get(neg.id).state is State.PERFORMING
    assert escrow.get_balance(alice.did)[:2] == (FUNDS - BOND, BOND)  # nothing forfeited, still locked
    clock.now_ms = neg.contract.last_deadline_ms + CLAIM_WINDOW_MS + 1
    assert _bodies(escrow.tick()) == ["ruling", "refund", "refund"]  # the lapse
    assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0)


# --- 2. divergent state: the escrow never re-sends a Stamp --------------------------------------


@pytest.mark.req("WIT-005", "WIT-006", "NEG-015")
def test_claimant_that_withholds_the_stamp_leaves_the_accused_in_another_state() -> None:
    """Bob has the escrow stamp his claim and sends Alice the claim without the Stamp. Alice does
    what the reference flow offers for arbitrated statements (settle_with_escrow submits pending
    claims to be stamped); the escrow already holds the claim, answers with nothing about it, and
    Alice stays PERFORMING while the escrow is DISPUTED -- and then she refuses its Ruling
    (STALE_REFERENCE) and its Forfeit. Correct: Alice reaches the escrow's state."""
    clock, alice_party, _, escrow, alice, bob = _market(strategy=WithholdingStrategy(every=1))
    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    neg = run_trade(alice, bob, bob.did, proposal, escrow=escrow)
    clock.advance(DAY_MS + 1)
    claim = claim_breach(bob, bob.negotiation(neg.id), 0, "whatever")
    escrow.submit([claim.envelope])  # the Stamp goes to Bob only
    alice.exchange(claim.envelope)  # held, pending: no stamp yet
    settle_with_escrow(alice, bob, escrow, neg)
    at_escrow = escrow.escrow.verifier.negotiations.get(neg.id).state
    assert at_escrow is State.DISPUTED
    assert neg.state is at_escrow


# --- 3. divergent state: a timely Delivery the claimant can never accept ------------------------


@pytest.mark.req("TIM-006", "WIT-003", "NEG-015")
def test_dismissal_rests_on_a_delivery_the_claimant_must_refuse() -> None:
    """Bob signs his Delivery early, has the escrow stamp it a minute later (long before the
    deadline: timely by WIT-003) and never sends it to Alice. After the deadline Alice claims; the
    escrow DISMISSes citing that Delivery. Alice's peer refuses the Ruling (it does not hold the
    Delivery) and refuses the Delivery itself, even with its Stamp, as ISSUED_IN_PAST (the stamp
    is 60 s after its date, more than the skew). Alice stays DISPUTED, the escrow PERFORMING.
    Correct: Alice can take the Delivery with its Stamp, then the Ruling, and agree."""
    clock = FixedClock()
    alice_party, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    offer = alice.propose(
        bob.did, alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    )
    accept = bob.accept(offer)
    alice.on_replies([*bob.setup, accept.envelope])
    alice.on_replies(escrow.submit([*alice_party.setup, *bob.setup, offer.envelope, accept.envelope]))
    neg = alice.negotiation(offer.header.negotiation_id)
    delivery = bob.deliver(accept, alice_party, ttl_ms=3 * DAY_MS)
    clock.advance(60_000)
    stamp = escrow.submit([delivery.envelope])[1:]
    clock.now_ms = neg.contract.gives(bob.did)[0].deadline_ms + 60_000
    alice.on_replies(escrow.submit([claim_breach(alice, neg, 0, "never arrived").envelope]))
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    ruling = escrow.tick()
    assert _bodies(ruling) == ["ruling"]
    assert escrow.escrow.verifier.negotiations.get(neg.id).state is State.PERFORMING
    alice.hold([*stamp, delivery.envelope])
    alice.on_replies(ruling)
    assert neg.state is State.PERFORMING


# --- 4. value: a Revoke after a missed deadline launders the breach -------------------------------


@pytest.mark.req("CMT-003", "CMT-005")
def test_revoke_after_missing_a_deadline_escapes_forfeiture() -> None:
    """Revocable terms with a notice period (no forfeit_bond). Bob never delivers. A millisecond
    after his deadline he revokes and has the escrow stamp it before Alice's claim arrives. The
    escrow refused Alice's claim (REVOKED), and after the claim window released Bob's bond to him.
    Without the revocation clause the same facts forfeit Bob's bond to Alice. Correct: a Revoke
    does not discharge an obligation already due (SPEC 9.3): the escrow takes Alice's claim on it,
    upholds it, and Bob's bond goes to Alice."""
    clock, alice_party, _, escrow, alice, bob = _market(strategy=WithholdingStrategy(every=1))
    terms = trade_pb2.Revocation(allowed=True, notice_ms=DAY_MS)
    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    neg = run_trade(alice, bob, bob.did, proposal, escrow=escrow)
    clock.advance(DAY_MS + 1)  # Bob's deadline has passed; he delivered nothing
    bob_neg = bob.negotiation(neg.id)
    revoke(bob, bob_neg, "changed my mind")
    settle_with_escrow(bob, alice, escrow, bob_neg)
    assert escrow.escrow.verifier.negotiations.get(neg.id).state is State.REVOKED
    clock.advance(60_000)
    claim = claim_breach(alice, neg, 0, "copy editing never arrived")
    assert _bodies(escrow.submit([claim.envelope]))[1:] == ["stamp"]
    with pytest.raises(CoopError):  # one claim per claimant and item
        escrow.submit([claim_breach(alice, neg, 0, "again").envelope])
    clock.advance(CLAIM_WINDOW_MS + DEFAULT_RESPONSE_WINDOW_MS)
    escrow.tick()
    assert escrow.escrow.verifier.negotiations.get(neg.id).state is State.BREACHED
    assert escrow.get_balance(alice.did)[:2] == (FUNDS + BOND, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("CMT-002", "CMT-003")
def test_a_claim_after_a_revoke_is_ruled_even_when_no_bond_is_left_to_settle() -> None:
    """The same breach without bonds: the revoked contract has nothing left to settle, so the escrow
    stops watching it -- and must take it up again when a claim on an owed item arrives, or that claim
    would wait for a ruling forever (AUD-005)."""
    clock, alice_party, _, escrow, alice, bob = _market(strategy=WithholdingStrategy(every=1))
    terms = trade_pb2.Revocation(allowed=True, notice_ms=DAY_MS)
    neg = run_trade(
        alice, bob, bob.did, alice_party.proposal(escrow=escrow.did, revocation=terms), escrow=escrow
    )
    clock.advance(DAY_MS + 1)
    bob_neg = bob.negotiation(neg.id)
    revoke(bob, bob_neg, "changed my mind")
    settle_with_escrow(bob, alice, escrow, bob_neg)
    assert escrow.escrow.open_contracts == 0
    claim = claim_breach(alice, neg, 0, "copy editing never arrived")
    escrow.submit([claim.envelope])
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    assert _bodies(escrow.tick()) == ["ruling"]
    assert escrow.escrow.verifier.negotiations.get(neg.id).state is State.BREACHED
    assert escrow.escrow.open_contracts == 0
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("CMT-003", "CMT-005")
def test_a_revoke_discharges_what_falls_due_after_its_notice() -> None:
    """The other side of the rule: an item due after the Revoke's stamp plus notice is discharged,
    and the escrow refuses a claim on it (nothing is owed, so nothing can be breached)."""
    clock, alice_party, bob_party, escrow, alice, bob = _market(strategy=WithholdingStrategy(every=1))
    terms = trade_pb2.Revocation(allowed=True, notice_ms=60_000)
    proposal = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    neg = run_trade(alice, bob, bob.did, proposal, escrow=escrow)
    bob_neg = bob.negotiation(neg.id)
    revoke(bob, bob_neg, "early exit, with notice")
    settle_with_escrow(bob, alice, escrow, bob_neg)
    clock.advance(DAY_MS + 1)  # past the deadline that the revoke discharged
    claim = claim_breach(alice, neg, 0, "copy editing never arrived")
    with pytest.raises(CoopError) as refused:
        escrow.submit([claim.envelope])
    assert refused.value.requirement == "CMT-005"
    clock.advance(CLAIM_WINDOW_MS)
    escrow.tick()
    assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)
    assert escrow.get_balance(bob_party.did)[:2] == (FUNDS, 0)


# --- 5, 6. the audit says ok over ledgers that broke a rule ---------------------------------------


def _rogue_market(
    revocation: trade_pb2.Revocation | None = None,
) -> tuple[FixedClock, Party, Party, Party, LocalEscrow, VerifiedStatement, VerifiedStatement]:
    """A contract bonded by the reference escrow, whose key (``operator``) the operator may also use
    by hand: what it signs continues the same ledger chain."""
    clock = FixedClock()
    alice, bob, operator = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = LocalEscrow(operator, funds={alice.did: FUNDS, bob.did: FUNDS})
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=revocation)
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    return clock, alice, bob, operator, escrow, offer, accept


def _money(operator: Party, body: str, accept: VerifiedStatement, party: Party) -> VerifiedStatement:
    msg = {"release": commitment_pb2.Release, "refund": commitment_pb2.Refund}[body]
    return operator.sign(
        body,
        msg(contract=accept.digest, party=party.did, amount=BOND),
        negotiation_id=accept.header.negotiation_id,
    )


@pytest.mark.req("AUD-004", "CMT-003")
def test_audit_passes_a_release_of_the_revokers_bond_under_forfeit_terms() -> None:
    """Terms say a revoker forfeits its bond. Bob revokes; the escrow operator stamps the Revoke and
    then *releases* Bob's bond to Bob (and Alice's to Alice) instead of forfeiting Bob's to Alice.
    The reference escrow would sign stamp, forfeit, release. Correct: the audit reports it."""
    clock, alice, bob, operator, escrow, _, accept = _rogue_market(
        trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    )
    clock.advance(1_000)
    rv = bob.revoke(accept, alice, "out")
    stamp = operator.sign("stamp", commitment_pb2.Stamp(statements=[rv.digest]))
    releases = [_money(operator, "release", accept, p) for p in (alice, bob)]
    transcript = [*escrow.escrow.transcript(), stamp.envelope, rv.envelope, *(r.envelope for r in releases)]
    report = audit_ledger(transcript)
    assert report.balances[bob.did] == (FUNDS, 0)  # Bob kept the bond he had to forfeit
    assert not report.ok


@pytest.mark.req("AUD-004", "CMT-006", "CMT-002")
def test_audit_passes_a_lapse_over_a_pending_claim() -> None:
    """Bob never delivers. Alice claims just inside the claim window; the escrow stamps it. Before
    the response window ends -- but after last deadline + claim window -- the operator signs LAPSE
    and refunds both bonds, then (to leave nothing 'missing') upholds the claim. Bob's bond, owed to
    Alice, went back to Bob. Correct: the audit reports it (and verifiers refuse the LAPSE)."""
    clock, alice, bob, operator, escrow, offer, accept = _rogue_market()
    nid = offer.header.negotiation_id
    deadline = offer.statement.offer.wants[0].deadline_ms
    clock.now_ms = deadline + CLAIM_WINDOW_MS - 1_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=nid,
    )
    assert _bodies(escrow.submit([claim.envelope])) == ["mandate", "stamp"]
    clock.now_ms = deadline + CLAIM_WINDOW_MS + 1
    lapse = operator.sign(
        "ruling",
        commitment_pb2.Ruling(contract=accept.digest, decision=commitment_pb2.RULING_DECISION_LAPSE),
        negotiation_id=nid,
    )
    refunds = [_money(operator, "refund", accept, p) for p in (alice, bob)]
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    uphold = operator.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        ),
        negotiation_id=nid,
    )
    transcript = [
        *escrow.escrow.transcript(),
        lapse.envelope,
        *(r.envelope for r in refunds),
        uphold.envelope,
    ]
    report = audit_ledger(transcript)
    assert report.balances[bob.did] == (FUNDS, 0)  # the breacher got his bond back
    assert not report.ok


@pytest.mark.req("AUD-004", "CMT-003")
def test_audit_reports_an_upheld_claim_on_an_obligation_a_revoke_discharged() -> None:
    """Bob revokes (no notice) long before his deadline; the operator stamps it, then after the
    deadline stamps Alice's claim on Bob's item anyway (the reference escrow refuses it, CMT-005:
    ``test_a_revoke_discharges_what_falls_due_after_its_notice``), upholds it and forfeits Bob's
    bond. Verifiers follow the escrow; the audit reports the ruling."""
    clock, alice, bob, operator, escrow, offer, accept = _rogue_market(trade_pb2.Revocation(allowed=True))
    nid = offer.header.negotiation_id
    clock.advance(1_000)
    rv = bob.revoke(accept, alice)
    stamped = operator.sign("stamp", commitment_pb2.Stamp(statements=[rv.digest]))
    clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=nid,
    )
    stamp = operator.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    uphold = operator.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        ),
        negotiation_id=nid,
    )
    forfeit = operator.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=BOND, beneficiary=alice.did, cause=claim.digest
        ),
        negotiation_id=nid,
    )
    release = _money(operator, "release", accept, alice)
    rest = [stamped, rv, stamp, claim, uphold, forfeit, release]
    report = audit_ledger([*escrow.escrow.transcript(), *(vs.envelope for vs in rest)])
    assert [(f.code, f.digests) for f in report.findings] == [("RULING_WRONG", (uphold.digest,))]


# --- 7. trust: a peer performs against bonds held by the counterparty's own "escrow" ---------------


@pytest.mark.req("MND-011", "MND-015")
def test_peer_delivers_against_bonds_locked_by_the_counterpartys_own_escrow() -> None:
    """Mallory offers Bob a fair bonded trade naming an 'escrow' key she controls (with a Mandate she
    minted for it). Were Bob's honest peer, configured with the real escrow only, to accept, Mallory's
    key would sign two BondLocks, Bob would see BONDED and deliver: no money was ever locked, and the
    same key witnesses time and rules on Bob's claims. Correct: Bob does not take part in a contract
    naming an escrow he was not configured to trust -- he rejects, saying why, so Mallory's 'locks'
    have no contract to lock and Bob delivers nothing."""
    clock = FixedClock()
    mallory, bob_party, fake = Party("mallory", clock), Party("bob", clock), Party("mallory-escrow", clock)
    real = LocalEscrow(Party("escrow", clock), funds={bob_party.did: FUNDS})
    bob = make_peer(bob_party, clock, context=[real.mandate])
    offer = mallory.offer(bob_party, mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=fake.did))
    signed = bob.exchange(offer.envelope, mallory.setup)
    assert _bodies(signed) == ["mandate", "reject"]
    assert f"escrow {fake.did} is not trusted" in verify_statement(signed[-1]).statement.reject.reason
    for who in (mallory.did, bob.did):
        lock = fake.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=offer.digest, party=who, amount=BOND),
            negotiation_id=offer.header.negotiation_id,
        )
        with pytest.raises(CoopError):  # no contract: nothing to lock, nothing to perform
            signed += bob.exchange(lock.envelope, fake.setup)
    assert "delivery" not in _bodies(signed)


# --- 8. DoS: escrow work quadratic in the claims on one contract ---------------------------------


class _Counting(dict):  # type: ignore[type-arg]
    """A dict that counts the entries every walk over it visits."""

    visits = [0]

    def __iter__(self) -> Any:
        for key in super().__iter__():
            self.visits[0] += 1
            yield key

    def items(self) -> Any:
        return ((k, self[k]) for k in self)

    def values(self) -> Any:
        return (self[k] for k in self)


@pytest.mark.req("CMT-005")
def test_the_escrow_takes_one_claim_per_claimant_and_item() -> None:
    """Bob files n BreachClaims (fresh nonces) on one item after its deadline. The escrow stamps
    the first and refuses the rest (ILLEGAL_TRANSITION): its work, its ledger and every party's
    state stay bounded by the contract's items, not by what a claimant sends."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    accept = bob.accept(offer)
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    clock.advance(DAY_MS + 1)
    claims = [
        bob.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason=str(i)),
            audience=alice.did,
            negotiation_id=offer.header.negotiation_id,
        ).envelope
        for i in range(20)
    ]
    size = escrow.escrow.ledger_size
    assert _bodies(escrow.submit(claims[:1]))[1:] == ["stamp"]
    for claim in claims[1:]:
        with pytest.raises(CoopError) as refused:
            escrow.submit([claim])
        assert (refused.value.code, refused.value.requirement) == ("ILLEGAL_TRANSITION", "CMT-005")
    assert escrow.escrow.ledger_size == size + 1
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    assert _bodies(escrow.tick())[:1] == ["ruling"]


@pytest.mark.req("CMT-002", "CMT-008")
def test_rulings_on_many_claims_cost_a_verifier_linear_work() -> None:
    """An escrow that stamps n claims on one contract anyway (a rogue operator; the reference one
    refuses all but one per item) and dismisses each: every party's verifier follows, and the entries
    its bookkeeping walks stay linear in n (each ruling once rescanned every claim: n^2 / 2)."""
    clock, alice, bob, operator, escrow, offer, accept = _rogue_market()
    clock.advance(DAY_MS + 1)
    nid = offer.header.negotiation_id
    n = 200
    claims = [
        bob.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason=str(i)),
            audience=alice.did,
            negotiation_id=nid,
        )
        for i in range(n)
    ]
    stamp = operator.sign("stamp", commitment_pb2.Stamp(statements=[c.digest for c in claims]))
    auditor = Verifier()
    for env in escrow.escrow.transcript():
        auditor.accept(env)
    c = auditor.negotiations.get(nid).contract
    assert c is not None
    c.claims, c.pending_claims = _Counting(c.claims), _Counting(c.pending_claims)
    auditor.accept(stamp.envelope)
    for claim in claims:
        auditor.accept(claim.envelope)
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    _Counting.visits[0] = 0
    for claim in claims:
        ruling = commitment_pb2.Ruling(
            contract=accept.digest,
            claim=claim.digest,
            decision=commitment_pb2.RULING_DECISION_DISMISS,
            evidence=bytes(32),
        )
        auditor.accept(operator.sign("ruling", ruling, negotiation_id=nid).envelope)
    assert auditor.negotiations.get(nid).state is State.PERFORMING and not c.pending_claims
    assert _Counting.visits[0] <= 20 * n
