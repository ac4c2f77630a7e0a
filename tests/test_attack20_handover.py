"""attack20: two honoured successors of one escrow key (ESC-022 (d)) and a claim shown to only one of them.

The principal P of escrow key K1 (revoked mid-contract) named two successors, K2 and K3 -- both speak for
K1 (ESC-022 (d)), each continuing K1's ledger on its own (ESC-023). Alice claims Bob's breach at K2, the
successor she knows of; K2 stamps the claim, upholds it, forfeits Bob's bond to her and releases hers.
K3, never shown the claim, finds no claim pending when the claim window ends and lapses the contract
(CMT-006), refunding both bonds. Neither escrow did wrong by what it held: each one's audit (AUD-006) is
clean. But the two keys are one escrow to every view, and a Ruling LAPSE was the highest fact of
section 8.9: every view, in every order, ended EXPIRED -- Bob's breach, upheld, gone from the contract's
final state (ratings read it), while Bob's bond stayed forfeited (NEG-012: the Forfeit over the Refund).
Bob, the party at fault, did nothing but not deliver; the outcome rested on which successor the claimant
happened to show her claim to.

Now a Ruling UPHOLD is section 8.9's highest fact, above a LAPSE, as one escrow at fault that signed them
all would give (ESC-022 (d)): the breach stands in every view and the state agrees with the Forfeit. And a
successor Bob shows its sibling's lapse and Refunds to, before it rules on the claim it stamped, still
rules and forfeits the bond its own ledger holds (CMT-002).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_escrow_handover import Desk

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import Party, _LedgerSigner

CLAIM_WINDOW_MS = 86_400_000


def _view(desk: Desk, *transcripts: list[bytes]) -> tuple[str, frozenset[str], frozenset[str]]:
    """A fresh view of the transcripts in that order: the contract's state, who forfeited, who settled."""
    v = Verifier()
    for transcript in transcripts:
        for env in transcript:
            try:
                v.accept(env)
            except CoopError as exc:
                # a statement held already, or a second settlement of a settled bond (NEG-012)
                assert exc.code in ("REPLAYED", "BODY_INVALID"), exc
    neg = v.negotiations.get(desk.offer.header.negotiation_id)
    assert neg.contract is not None
    names = {desk.alice.did: "alice", desk.bob.did: "bob"}
    return (
        neg.state.name,
        frozenset(names[d] for d in neg.contract.forfeited),
        frozenset(names[d] for d in neg.contract.settled),
    )


@pytest.mark.req("ESC-022", "NEG-015", "CMT-006")
def test_a_sibling_successors_lapse_erases_the_breach_the_other_upheld() -> None:
    d = Desk()
    claim = d.claim()
    k2, e2, k3, e3 = _siblings(d)
    # Alice shows her claim to K2 alone; K2 upholds it.
    assert [vs.body for vs in e2.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in e2.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    assert _view(d, e2.transcript()) == (
        "BREACHED",
        frozenset({"bob"}),
        frozenset({"alice", "bob"}),
    )  # K2 alone: the breach
    # K3, never shown the claim, lapses the contract when the claim window ends, refunding both bonds.
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    assert [vs.body for vs in lapse] == ["ruling", "refund", "refund"]
    # The attack happened: each escrow's audit is clean, the two ledgers settle Bob's bond both ways,
    # and K3 alone holds the contract EXPIRED.
    assert audit_ledger(e2.transcript(), escrow=k2.did).ok
    assert audit_ledger(e3.transcript(), escrow=k3.did).ok
    assert e2.balance(d.bob.did) == (900, 0) and e2.balance(d.alice.did) == (1_100, 0)
    assert e3.balance(d.bob.did) == (1_000, 0) and e3.balance(d.alice.did) == (1_000, 0)
    assert _view(d, e3.transcript()) == ("EXPIRED", frozenset(), frozenset({"alice", "bob"}))
    # What one escrow that signed them all gives (section 8.9: an UPHOLD over a LAPSE, as the Forfeit over
    # the Refund, NEG-012): the breach stands in every view, in both orders. Before, both ended EXPIRED.
    both = {_view(d, e2.transcript(), e3.transcript()), _view(d, e3.transcript(), e2.transcript())}
    assert both == {("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


def _siblings(d: Desk) -> tuple[Party, Escrow, Party, Escrow]:
    """K1 revoked, its principal's two successors K2 and K3, each taking K1's ledger over (ESC-023)."""
    rev, k2, e2 = d.take_over()
    k3 = d.successor("escrow3")
    e3 = Escrow(
        _LedgerSigner(k3.agent),
        k3.mandate_vs.digest,
        setup=k3.setup,
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    return k2, e2, k3, e3


@pytest.mark.req("ESC-022", "CMT-002", "NEG-012")
def test_a_successor_shown_its_siblings_lapse_still_forfeits_the_bond_its_ledger_holds() -> None:
    # Bob, the accused, shows K3's lapse and both its Refunds to K2 after K2 stamped Alice's claim (at
    # the window's last minute) and before K2 rules on it. K2 holds the contract EXPIRED, both bonds
    # settled in its view -- and still rules (CMT-002), and forfeits to Alice the bond its own ledger holds
    # locked (the Forfeit prevails over K3's Refund, NEG-012). Before, K2 forfeited nothing: Bob's bond
    # stayed locked in K2's ledger for good, refunded to him in K3's, and Alice won nothing.
    d = Desk()
    claim = d.claim()
    k2, e2, k3, e3 = _siblings(d)
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS - 60_000
    assert [vs.body for vs in e2.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    assert [vs.body for vs in lapse] == ["ruling", "refund", "refund"]
    e2.submit([k3.mandate_vs.envelope, *(vs.envelope for vs in lapse)], d.clock.now_ms)
    nid = d.offer.header.negotiation_id
    assert e2.verifier.negotiations.get(nid).state is State.EXPIRED  # the attack: K2 took the lapse
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    signed = e2.tick(d.clock.now_ms)
    assert [vs.body for vs in signed] == ["ruling", "forfeit"]
    assert signed[1].statement.forfeit.party == d.bob.did
    assert e2.balance(d.bob.did) == (900, 0)  # Bob's bond, won by Alice in K2's ledger
    # Hers K3 refunded: settled in K2's ledger too, credited to no one there (ESC-023 (f); a second
    # settlement is refused, BODY_INVALID) -- before, locked there for good.
    assert e2.balance(d.alice.did) == (1_000, 0)
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    # Its audit (AUD-004) reports the Forfeit missing from a ledger that ends at the Ruling.
    assert e2.transcript()[-1] == signed[1].envelope
    missing = audit_ledger(e2.transcript()[:-1], escrow=k2.did)
    assert [(f.code, f.message.split(" ")[0]) for f in missing.findings] == [("ACTION_MISSING", "forfeit")]
    both = {_view(d, e2.transcript(), e3.transcript()), _view(d, e3.transcript(), e2.transcript())}
    assert both == {("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


@pytest.mark.req("ESC-022", "CMT-006", "CMT-002")
def test_a_successor_shown_its_siblings_stamp_of_a_claim_rules_on_it_and_lapses_nothing() -> None:
    # Alice shows her claim to K2, and K2's Stamp of it (with K2's hand-over) to K3: the claim is pending
    # in K3's view too, so K3 lapses nothing at the window's end (CMT-006) and rules on it itself.
    d = Desk()
    claim = d.claim()
    k2, e2, k3, e3 = _siblings(d)
    stamp = e2.submit([claim.envelope], d.clock.now_ms)
    e3.submit([k2.mandate_vs.envelope, claim.envelope, stamp[0].envelope], d.clock.now_ms)
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    assert [vs.body for vs in e3.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    assert [vs.body for vs in e2.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    for k, e in ((k2, e2), (k3, e3)):
        rulings = [vs for vs in map(verify_statement, e.transcript()) if vs.body == "ruling"]
        assert [r.statement.ruling.decision for r in rulings if r.issuer == k.did] == [
            commitment_pb2.RULING_DECISION_UPHOLD
        ]
        assert audit_ledger(e.transcript(), escrow=k.did).ok
    both = {_view(d, e2.transcript(), e3.transcript()), _view(d, e3.transcript(), e2.transcript())}
    assert both == {("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


# --- a Revoke one successor stamped beside the other's lapse (section 8.9: a Revoke over a LAPSE) ------

_EXIT_FORFEITS = trade_pb2.Revocation(allowed=True, forfeit_bond=True)


def _bobs_revoke(d: Desk) -> VerifiedStatement:
    """Bob leaves the contract under its revocation terms (his bond forfeited to Alice, CMT-003)."""
    return d.bob.revoke(d.accept, d.alice, "leaving")


@pytest.mark.req("ESC-022", "NEG-015", "CMT-003", "CMT-006")
def test_a_sibling_successors_lapse_erases_the_revoke_the_other_stamped() -> None:
    # Bob revokes before anything falls due and shows his Revoke to K2 alone: K2 stamps it, forfeits his
    # bond to Alice (CMT-003) and releases hers (nothing of hers was owed before the stamp). K3, never shown
    # the Revoke, lapses the contract when the claim window ends, refunding both bonds. Each audit is clean.
    # With a LAPSE above a Revoke (section 8.9 before), every view ended EXPIRED while Bob's bond stayed
    # forfeited for his Revoke (the Forfeit over the Refund, NEG-012): the contract's state said nobody
    # left it, its money that Bob did. Now a stamped Revoke is row 2, above the LAPSE: REVOKED in both orders.
    d = Desk(_EXIT_FORFEITS)
    k2, e2, k3, e3 = _siblings(d)
    revoke = _bobs_revoke(d)
    signed = e2.submit([revoke.envelope], d.clock.now_ms)
    assert [vs.body for vs in signed] == ["stamp", "forfeit", "release"]
    assert (
        signed[1].statement.forfeit.party == d.bob.did and signed[1].statement.forfeit.cause == revoke.digest
    )
    assert _view(d, e2.transcript()) == (
        "REVOKED",
        frozenset({"bob"}),
        frozenset({"alice", "bob"}),
    )  # K2 alone
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    assert [vs.body for vs in e3.tick(d.clock.now_ms)] == ["ruling", "refund", "refund"]
    # The attack happened: each audit clean, K3 alone holds the contract EXPIRED, both bonds refunded.
    assert audit_ledger(e2.transcript(), escrow=k2.did).ok
    assert audit_ledger(e3.transcript(), escrow=k3.did).ok
    assert _view(d, e3.transcript()) == ("EXPIRED", frozenset(), frozenset({"alice", "bob"}))
    both = {
        _view(d, e2.transcript(), e3.transcript()),
        _view(d, e3.transcript(), e2.transcript()),
    }
    assert both == {("REVOKED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


@pytest.mark.req("ESC-022", "CMT-003", "NEG-012")
def test_a_successor_shown_its_siblings_refund_with_the_revoke_still_forfeits_the_revokers_bond() -> None:
    # K3 lapsed the contract and refunded both bonds; Bob shows K2, which had not lapsed it yet, his Revoke
    # and then K3's lapse and Refunds in one Submit. K2 stamps the Revoke (the contract BONDED in its view),
    # the lapse yields to it (REVOKED), and K3's Refunds hold both bonds settled there: before, K2 signed
    # nothing more -- Bob's bond stayed locked in K2's ledger for good and Alice won nothing under the
    # terms she signed. Now K2 forfeits the bond its own ledger holds (CMT-003; the Forfeit prevails over
    # the Refund, NEG-012), and its audit reports the Forfeit missing otherwise.
    d = Desk(_EXIT_FORFEITS)
    k2, e2, k3, e3 = _siblings(d)
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    assert [vs.body for vs in lapse] == ["ruling", "refund", "refund"]
    revoke = _bobs_revoke(d)
    signed = e2.submit(
        [revoke.envelope, k3.mandate_vs.envelope, *(vs.envelope for vs in lapse)], d.clock.now_ms
    )
    nid = d.offer.header.negotiation_id
    assert e2.verifier.negotiations.get(nid).state is State.REVOKED  # the Revoke stamped, the lapse taken
    forfeits = [vs for vs in signed if vs.body == "forfeit"]
    assert [(vs.statement.forfeit.party, vs.statement.forfeit.cause) for vs in forfeits] == [
        (d.bob.did, revoke.digest)
    ]
    assert e2.balance(d.bob.did) == (900, 0)  # Bob's bond, won by Alice in K2's ledger
    # Hers K3 refunded: settled in K2's ledger too, credited to no one there (ESC-023 (f); a second
    # settlement is refused, BODY_INVALID) -- before, locked there for good.
    assert e2.balance(d.alice.did) == (1_000, 0)
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    cut = e2.transcript().index(forfeits[0].envelope)
    missing = audit_ledger(e2.transcript()[:cut] + e2.transcript()[cut + 1 :], escrow=k2.did)
    assert ("ACTION_MISSING", "forfeit") in [(f.code, f.message.split(" ")[0]) for f in missing.findings]
    both = {
        _view(d, e2.transcript(), e3.transcript()),
        _view(d, e3.transcript(), e2.transcript()),
    }
    assert both == {("REVOKED", frozenset({"bob"}), frozenset({"alice", "bob"}))}


# --- a bond one successor settled, in the other's ledger (ESC-023 (f)) ----------------------------------


@pytest.mark.req("ESC-023", "ESC-022", "AUD-006")
def test_a_bond_its_sibling_refunded_leaves_a_successors_ledger_paid_once() -> None:
    # K3 lapses the contract and refunds both bonds; a party shows K2 K3's lapse and Refunds. K2 holds the
    # contract EXPIRED, both bonds settled, and can sign no Refund of its own (a second settlement,
    # BODY_INVALID): before, both bonds stayed locked in K2's ledger for good, its audit's balances with
    # them. Now K2's ledger takes K3's Refunds as settling them there too, credited to no one -- Alice and
    # Bob were paid once, in K3's ledger -- and K2's audit replays the same.
    d = Desk()
    k2, e2, k3, e3 = _siblings(d)
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    assert [vs.body for vs in lapse] == ["ruling", "refund", "refund"]
    signed = e2.submit([k3.mandate_vs.envelope, *(vs.envelope for vs in lapse)], d.clock.now_ms)
    assert [vs.body for vs in signed if vs.body != "stamp"] == []  # no second Refund
    assert [vs.body for vs in e2.tick(d.clock.now_ms + 1)] == []
    for p in (d.alice, d.bob):
        assert e3.balance(p.did) == (1_000, 0)  # paid back in K3's ledger
        assert e2.balance(p.did) == (900, 0)  # settled in K2's, credited to no one: paid once
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    assert report.balances == {p.did: (900, 0) for p in (d.alice, d.bob)}


@pytest.mark.req("ESC-023", "ESC-022", "CMT-002")
def test_a_siblings_early_release_shown_settles_nothing_before_the_contract_ends() -> None:
    # A lying submitter: K3, at fault, releases Bob's bond while the contract is BONDED, and Bob shows the
    # Release to K2 before Alice's claim. K2 takes it (money statements keep the state) but its ledger keeps
    # Bob's bond locked -- its own rules settle nothing before the contract ends -- so when it upholds
    # Alice's claim it forfeits that bond to her (CMT-002; the Forfeit prevails, NEG-012): Bob gained
    # nothing by showing it early. Booked at once, the bond would have left K2's ledger and Alice won nothing.
    d = Desk()
    k2, e2, k3, _ = _siblings(d)
    nid = d.offer.header.negotiation_id
    release = commitment_pb2.Release(contract=d.accept.digest, party=d.bob.did, amount=100)
    early = k3.sign("release", release, negotiation_id=nid)
    e2.submit([k3.mandate_vs.envelope, early.envelope], d.clock.now_ms)
    assert e2.verifier.negotiations.get(nid).contract.settled == {d.bob.did}  # the attack: taken
    assert e2.balance(d.bob.did) == (900, 100)  # still locked in K2's ledger
    claim = d.claim()
    assert [vs.body for vs in e2.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in e2.tick(d.clock.now_ms)] == ["ruling", "release", "forfeit"]
    assert e2.balance(d.bob.did) == (900, 0) and e2.balance(d.alice.did) == (1_100, 0)
    report = audit_ledger(e2.transcript(), escrow=k2.did)
    assert report.ok, report.findings
    assert report.balances[d.bob.did] == (900, 0) and report.balances[d.alice.did] == (1_100, 0)


@pytest.mark.req("ESC-023", "AUD-006")
@pytest.mark.parametrize("forget", [False, True], ids=["holding", "forgetting"])
def test_a_successor_restarted_books_its_siblings_refunds_as_before(tmp_path: Path, forget: bool) -> None:
    # The booking is no statement of K2's: a restart replaying K2's journal books the same again, and the
    # contract, settled, leaves memory (or not) with nothing locked.
    d = Desk()
    rev, k2, _ = d.take_over()
    k3 = d.successor("escrow3")
    taken_over = [*d.old.transcript(), rev.envelope]
    e3 = Escrow(_LedgerSigner(k3.agent), k3.mandate_vs.digest, setup=k3.setup, predecessor=taken_over)

    def node(predecessor: list[bytes]) -> EscrowNode:
        return EscrowNode(
            k2.agent.key,
            k2.mandate_vs.envelope,
            tmp_path / "k2.db",
            clock=lambda: d.clock.now_ms,
            durability="normal",
            forget=forget,
            snapshot_every=0,
            predecessor=predecessor,
        )

    n2 = node(taken_over)
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    n2.submit([k3.mandate_vs.envelope, *(vs.envelope for vs in lapse)])
    parties = (d.alice.did, d.bob.did)
    assert [n2.escrow.balance(p) for p in parties] == [(900, 0), (900, 0)]
    n2.close()
    n2 = node([])  # as `escrow serve` without --succeeds
    try:
        assert [n2.escrow.balance(p) for p in parties] == [(900, 0), (900, 0)]
        report = audit_ledger(n2.escrow.transcript(), escrow=k2.did)
        assert report.ok, report.findings
        assert report.balances == dict.fromkeys(parties, (900, 0))
    finally:
        n2.close()
