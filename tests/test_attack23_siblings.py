"""redteam23: two successors of one escrow key (ESC-022 (d)) -- a revoker and a colluding successor.

K1's principal named two successors, K2 and K3, each continuing K1's ledger (ESC-023). Section 8.9 now ranks
an effective Revoke (row 2) above a LAPSE (row 3), and ESC-023 (f) books a bond one successor settled as
settled in the other's ledger, credited to no one, once the contract ended there with no claim pending.

- A revoker: Bob, who never delivered, has Alice's claim stamped at K3 pending; he revokes and has K2 (never
  shown the claim) stamp his Revoke, then shows K2's Stamp to K3 before it rules, to dodge the breach with a
  Revoke that outranks a claim not yet ruled on (row 2 over row 4).
- A colluding successor: K3 lapses the contract just after Bob's missed deadline -- a LAPSE every verifier
  takes (CMT-006: a bonded contract after its bonding cutoff; whether it was due is the audit's) -- and
  refunds both bonds; Bob shows the lapse to K2 before Alice claims.
- A bond paid zero times: Alice funds K2 alone after the hand-over and K2 locks her bond; K3, never shown her
  Deposit, lapses the contract at the bonding cutoff and refunds Bob's; shown that, K2 must not keep her bond
  locked for good.
- A forged or a backdated sibling: a Refund of Bob's bond by a key naming K1 in `succeeds` under another
  principal's Mandate, or by K3 dated before the hand-over, shown to K2 to have the bond leave its ledger.

Each test asserts that the attack happened (the statements signed and taken), then what the protocol did.
"""

from __future__ import annotations

import pytest
from test_attack20_handover import CLAIM_WINDOW_MS, _bobs_revoke, _siblings, _view
from test_escrow_handover import BOND, Desk

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.testing import FixedClock, Party, Signer, _LedgerSigner


@pytest.mark.req("ESC-022", "CMT-005", "NEG-015")
@pytest.mark.parametrize("forfeit_bond", [False, True], ids=["release", "forfeit-bond"])
def test_a_revoke_one_successor_stamped_dodges_no_claim_pending_at_the_other(forfeit_bond: bool) -> None:
    d = Desk(trade_pb2.Revocation(allowed=True, forfeit_bond=forfeit_bond))
    claim = d.claim()  # past Bob's deadline: he delivered nothing
    k2, e2, k3, e3 = _siblings(d)
    nid = d.offer.header.negotiation_id
    assert [vs.body for vs in e3.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    revoke = _bobs_revoke(d)
    stamped = e2.submit([revoke.envelope], d.clock.now_ms)
    # The attack happened: K2, never shown the claim, stamped Bob's Revoke (and under forfeit_bond terms
    # forfeited his bond for it, CMT-003): REVOKED in K2's view, a fact above a claim not yet ruled on.
    assert [vs.body for vs in stamped] == (["stamp", "forfeit"] if forfeit_bond else ["stamp"])
    assert e2.verifier.negotiations.get(nid).state is State.REVOKED
    # Bob shows K3 the Revoke with K2's Stamp of it before K3 rules: K3, the claim pending (DISPUTED), takes
    # no Revoke (CMT-005 (a)) -- the Submit is refused, nothing of it taken.
    with pytest.raises(CoopError) as refused:
        e3.submit([k2.mandate_vs.envelope, *(vs.envelope for vs in stamped), revoke.envelope], d.clock.now_ms)
    assert refused.value.code in ("ILLEGAL_TRANSITION", "BODY_INVALID")
    assert e3.verifier.negotiations.get(nid).state is State.DISPUTED
    # K3 rules on the claim and forfeits Bob's bond to Alice; the breach (row 1) outranks the Revoke in
    # every view, in both orders of the two transcripts.
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in e3.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    e2.tick(d.clock.now_ms)  # K2 settles what its own rules owe (the cost of two successors, ESC-022 (d))
    assert e3.balance(d.bob.did) == (900, 0) and e3.balance(d.alice.did) == (1_100, 0)
    for k, e in ((k2, e2), (k3, e3)):
        report = audit_ledger(e.transcript(), escrow=k.did)
        assert report.ok, report.findings
    both = {_view(d, e2.transcript(), e3.transcript()), _view(d, e3.transcript(), e2.transcript())}
    assert both == {("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


@pytest.mark.req("ESC-023", "CMT-006", "AUD-004")
def test_a_colluding_successors_early_lapse_is_booked_by_its_sibling_and_its_own_audit_shows_it() -> None:
    d = Desk()
    k2, e2, k3, e3 = _siblings(d)
    nid = d.offer.header.negotiation_id
    d.clock.now_ms = d.deadline + 1_000  # Bob missed his deadline; Alice's claim window is open
    # K3, colluding with Bob, lapses the contract at once and refunds both bonds -- a LAPSE every verifier
    # takes (CMT-006: bonded terms, after the bonding cutoff; whether it was due is the audit's).
    contract = d.accept.digest
    lapse = k3.sign(
        "ruling",
        commitment_pb2.Ruling(contract=contract, decision=commitment_pb2.RULING_DECISION_LAPSE),
        negotiation_id=nid,
    )
    refunds = [
        k3.sign(
            "refund", commitment_pb2.Refund(contract=contract, party=p.did, amount=100), negotiation_id=nid
        )
        for p in (d.bob, d.alice)
    ]
    shown = e2.submit(
        [k3.mandate_vs.envelope, lapse.envelope, *(vs.envelope for vs in refunds)], d.clock.now_ms
    )
    # The attack happened: K2 took the lapse (EXPIRED in its view) and booked both bonds settled by K3's
    # Refunds, credited to no one (ESC-023 (f)); Alice's claim, within its window, is refused there.
    assert [vs.body for vs in shown] == ["stamp"]
    assert e2.verifier.negotiations.get(nid).state is State.EXPIRED
    assert e2.balance(d.bob.did) == (900, 0) and e2.balance(d.alice.did) == (900, 0)
    claim = d.claim()
    assert d.clock.now_ms < d.deadline + CLAIM_WINDOW_MS
    with pytest.raises(CoopError) as refused:
        e2.submit([claim.envelope], d.clock.now_ms)
    assert (refused.value.code, refused.value.requirement) == ("ILLEGAL_TRANSITION", "CMT-005")
    # What the protocol did: Bob's bond was paid once (back to him, in K3's ledger) and K2's audit is clean --
    # K2 did as its rules say. The fault is K3's, and K3's own transcript proves it (AUD-004: a lapse before
    # the last deadline plus the claim window), which the principal answers for (section 16.13), as for one
    # escrow that lapses early.
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    assert report.balances == {d.alice.did: (900, 0), d.bob.did: (900, 0)}
    k3_transcript = [*e3.transcript(), lapse.envelope, *(vs.envelope for vs in refunds)]
    faulty = audit_ledger(k3_transcript, escrow=k3.did)
    assert [(f.code, f.message) for f in faulty.findings] == [
        ("RULING_WRONG", "a lapse before the last deadline plus the claim window")
    ]


class _UnfundedAtK1(Desk):
    """As :class:`Desk`, but Alice has no funds at K1: K1 stamps Bob's Accept and locks Bob's bond alone."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.esc = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.old = Escrow(_LedgerSigner(self.esc.agent), self.esc.mandate_vs.digest, setup=self.esc.setup)
        self.old.deposit(self.bob.did, 1_000, "credit", "funding", clock.now_ms)
        proposal = self.alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=self.esc.did)
        self.offer = self.alice.offer(self.bob, proposal, ttl_ms=3_600_000)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        parties = [self.alice.mandate_vs.envelope, self.bob.mandate_vs.envelope]
        signed = self.old.submit([*parties, self.offer.envelope, self.accept.envelope], clock.now_ms)
        assert [vs.body for vs in signed] == ["stamp", "bond_lock"]
        self.deadline = self.offer.statement.offer.gives[0].deadline_ms


@pytest.mark.req("ESC-023", "ESC-010", "CMT-006", "AUD-006")
def test_a_bond_one_successor_locked_alone_is_refunded_by_it_when_the_other_lapses_at_the_cutoff() -> None:
    # Zero times? Alice funds K2 (the successor she knows of) after the hand-over, and K2 locks her bond; K3,
    # never shown her Deposit, lapses the contract at the bonding cutoff (her bond unlocked in its ledger,
    # ESC-010) and refunds Bob's. Bob shows K2 the lapse: K2 holds the contract EXPIRED with Alice's bond
    # settled by nobody -- it must not stay locked in K2's ledger for good (K3 never held it).
    d = _UnfundedAtK1()
    rev, k2, e2 = d.take_over()
    k3 = d.successor("escrow3")
    e3 = Escrow(
        _LedgerSigner(k3.agent),
        k3.mandate_vs.digest,
        setup=k3.setup,
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    e2.deposit(d.alice.did, 1_000, "credit", "funding", d.clock.now_ms)
    assert e2.balance(d.alice.did) == (900, 100)  # locked by K2 alone
    d.clock.now_ms = d.offer.header.expires_at_ms + 30_000 + 60_001  # past the bonding cutoff
    lapse = e3.tick(d.clock.now_ms)
    # The attack happened: K3 lapsed the contract and refunded the one bond it held; K2 took the lapse.
    assert [vs.body for vs in lapse] == ["ruling", "refund"]
    assert lapse[1].statement.refund.party == d.bob.did
    signed = e2.submit([k3.mandate_vs.envelope, *(vs.envelope for vs in lapse)], d.clock.now_ms)
    assert e2.verifier.negotiations.get(d.offer.header.negotiation_id).state is State.EXPIRED
    # What the protocol did: K2 refunds Alice's bond itself (nobody else settled it) and books Bob's as K3's
    # Refund settled it (ESC-023 (f)): each bond paid once, nothing locked for good, K2's audit agreeing.
    assert [(vs.body, vs.statement.refund.party) for vs in signed if vs.body == "refund"] == [
        ("refund", d.alice.did)
    ]
    assert e2.balance(d.alice.did) == (1_000, 0) and e2.balance(d.bob.did) == (900, 0)
    assert e3.balance(d.bob.did) == (1_000, 0)
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    assert report.balances == {d.alice.did: (1_000, 0), d.bob.did: (900, 0)}


@pytest.mark.req("ESC-023", "ESC-022", "NEG-008")
def test_a_forged_or_backdated_siblings_settlement_books_nothing() -> None:
    # A lying submitter shows K2 a Refund of Bob's bond to have it leave K2's ledger: one signed by a key
    # whose Mandate names K1 in `succeeds` but comes from Mallory's principal (not K1's), and one by K3 dated
    # before the hand-over's effective_ms. Each is refused WRONG_PARTY (ESC-022), nothing of it taken or
    # booked: Bob's bond stays locked in K2's ledger, and K2 settles it itself (here: its lapse's Refund).
    d = Desk()
    k2, e2, k3, _ = _siblings(d)
    nid, contract = d.offer.header.negotiation_id, d.accept.digest
    effective = next(
        vs.statement.key_revocation.effective_ms
        for vs in map(verify_statement, e2.transcript())
        if vs.body == "key_revocation"
    )
    then = d.clock.now_ms
    d.clock.now_ms = effective - 1
    backdated = k3.sign(
        "refund", commitment_pb2.Refund(contract=contract, party=d.bob.did, amount=100), negotiation_id=nid
    )
    d.clock.now_ms = then
    fake = d.successor("fake", appointer=Signer("mallory-principal", d.clock))
    forged = fake.sign(
        "refund", commitment_pb2.Refund(contract=contract, party=d.bob.did, amount=100), negotiation_id=nid
    )
    for successor, refund in ((fake, forged), (k3, backdated)):
        # The attack happened: a Refund of Bob's bond, by a key naming K1 in its Mandate's `succeeds`, shown.
        assert successor.mandate_vs.statement.mandate.succeeds == d.esc.did
        with pytest.raises(CoopError) as refused:
            e2.submit([successor.mandate_vs.envelope, refund.envelope], d.clock.now_ms)
        assert (refused.value.code, refused.value.requirement) == ("WRONG_PARTY", "NEG-008")
        assert refund.digest not in e2.verifier.statements
        assert e2.balance(d.bob.did) == (900, 100)  # still locked: nothing booked
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    assert [vs.body for vs in e2.tick(d.clock.now_ms)] == ["ruling", "refund", "refund"]
    assert e2.balance(d.bob.did) == (1_000, 0)
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
