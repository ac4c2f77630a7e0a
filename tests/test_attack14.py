"""Attacker's pass 14: the rules changed in the eleventh session (CMT-002's ruling bound, NEG-017/NEG-018's
witnessed Accepts, NEG-012's Forfeit after a settlement, CMT-008's count of unbonded contracts, and the
holes merged: A2A-022, ESC-009 for a served node, MND-018, RPC-015, ``verify --vectors``).

Each test performs an attack through the public API and asserts the safe behaviour; SPEC 16.14 has a
row for each hole found.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import pytest
from peers import fresh_key, line_moved_to, make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.errors import (
    CoopError,
    IllegalTransition,
    IssuedInPast,
    RateLimited,
    UnknownNegotiation,
)
from a2a_coop.protocol.escrow import Escrow, revoke_until
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.reputation import Reputation
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, bonded_trade, derive

BOND = 100


# --- 1: a peer's reputation view cached a Release that a later Forfeit overrides (NEG-012) -----------


@pytest.mark.req("NEG-012", "ATT-005")
def test_a_peers_view_takes_a_forfeit_that_arrives_after_the_release_it_rated() -> None:
    """The escrow (at fault) upholds Alice's claim against Bob, forfeits his bond to her and also signs a
    Release of the same bond. NEG-012 now takes the Forfeit after the Release and lets it prevail, so a
    verifier holding both rates Alice's attestation of Bob 0 whichever came first. A peer's reputation
    view that rated the attestation while it held only the Release kept that rating as settled
    (runtime/reputation.py: "nothing later changes it") and went on scoring it 1/2 after the Forfeit
    arrived: two views holding the same statements disagreed by arrival order."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(alice, bob, escrow, clock, breach=True)
    offer, forfeit, attestation = log[0], log[8], log[-1]
    assert forfeit.body == "forfeit" and attestation.body == "attestation"
    released = escrow.sign(
        "release",
        commitment_pb2.Release(contract=log[1].digest, party=bob.did, amount=BOND),
        negotiation_id=offer.header.negotiation_id,
    )
    setup = [*alice.setup, *bob.setup, *escrow.setup]
    v = EvidenceVerifier()
    for e in [
        *setup,
        *(vs.envelope for vs in log[:8]),
        released.envelope,
        log[9].envelope,
        attestation.envelope,
    ]:
        v.accept(e)
    view = Reputation(lambda: v, seeds=[], escrows={escrow.did}, clock=lambda: clock.now_ms)
    assert [r.score for r in view.ratings()] == [0.5]  # rated on the Release
    v.accept(forfeit.envelope)  # taken: it prevails (NEG-012)
    assert rate(v, attestation, {escrow.did}).score == 0.0
    assert [r.score for r in view.ratings()] == [0.0]


# --- 2: the stamp CMT-002's ruling bound reads, when a faulty escrow stamped a claim twice -----------


def _observe(envelopes: list[bytes]) -> EvidenceVerifier:
    """A third party's verifier fed ``envelopes`` in order, skipping what it refuses."""
    v = EvidenceVerifier()
    for e in envelopes:
        with contextlib.suppress(CoopError):
            v.accept(e)
    return v


class _Twice(NamedTuple):
    """A bonded contract Bob never performs, Alice's claim on his item, and two Stamps of it by the
    escrow (at fault: WIT-006 says it answers a resubmission with its first Stamp)."""

    clock: FixedClock
    escrow: Party
    nid: bytes
    accept: VerifiedStatement
    base: list[bytes]  # setup, the Offer, the Accept and both BondLocks
    claim: VerifiedStatement
    stamps: tuple[VerifiedStatement, VerifiedStatement]  # in the escrow's order (seq)

    def ruling(self, at_ms: int) -> VerifiedStatement:
        """The escrow's UPHOLD of the claim, signed at ``at_ms``."""
        self.clock.now_ms = at_ms
        msg = commitment_pb2.Ruling(
            contract=self.accept.digest,
            claim=self.claim.digest,
            decision=commitment_pb2.RULING_DECISION_UPHOLD,
        )
        return self.escrow.sign("ruling", msg, negotiation_id=self.nid)


def _stamped_twice(first_ms: int, second_ms: int) -> _Twice:
    """:class:`_Twice`, the claim issued 2 s after the item's deadline and stamped at the deadline plus
    ``first_ms``, then plus ``second_ms``."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    deadline = proposal_of(offer).gives[0].deadline_ms
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND),
            audience=p.did,
            negotiation_id=nid,
        )
        for p in (alice, bob)
    ]
    clock.now_ms = deadline + 2_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived"),
        audience=bob.did,
        negotiation_id=nid,
    )
    stamps = []
    for at in (first_ms, second_ms):
        clock.now_ms = deadline + at
        stamps.append(escrow.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest])))
    base = [*alice.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in (offer, accept, *locks))]
    return _Twice(clock, escrow, nid, accept, base, claim, (stamps[0], stamps[1]))


@pytest.mark.req("CMT-002", "WIT-005", "WIT-006", "NEG-015")
def test_a_claim_stamped_twice_leaves_verifiers_agreeing_on_its_ruling() -> None:
    """Bob never delivers; Alice claims and the escrow stamps the claim at t1 and -- at fault, WIT-006
    says it answers a resubmission with its first Stamp -- again at t1 + 10 min, and shows Bob's friends
    the second Stamp first. It upholds at t1 + the response window, when the ruling is due by the first
    Stamp and not by the second: views holding the same statements ended BREACHED and DISPUTED (the claim
    took effect at the Stamp a view heard first). Closed: a claim's stamp time is its earliest Stamp by
    the escrow held (WIT-005), lowered when an earlier one arrives."""
    t = _stamped_twice(2_000, 602_000)
    first, second = t.stamps
    ruling = t.ruling(first.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS)
    # Each view gets the escrow's chain whole (its statements in seq order), the claim before them.
    in_order = _observe([*t.base, t.claim.envelope, first.envelope, second.envelope, ruling.envelope])
    second_first = _observe([*t.base, t.claim.envelope, second.envelope, first.envelope, ruling.envelope])
    states = [v.negotiations.get(t.nid).state for v in (in_order, second_first)]
    assert states[0] is State.BREACHED
    assert states[0] is states[1]


@pytest.mark.req("WIT-005", "NEG-015", "CMT-002")
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_claim_stamped_twice_takes_its_earliest_stamp_in_every_order(order: tuple[int, ...]) -> None:
    """The claim and its two Stamps in every order (the claim after both, between them, before them;
    the later Stamp first or not), then the Ruling due by the earlier Stamp: every view takes it, and
    holds the earlier Stamp's time as the claim's."""
    t = _stamped_twice(2_000, 602_000)
    first = t.stamps[0]
    ruling = t.ruling(first.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS)
    pieces = [t.claim.envelope, *(vs.envelope for vs in t.stamps)]
    v = _observe([*t.base, *(pieces[i] for i in order), ruling.envelope])
    neg = v.negotiations.get(t.nid)
    assert neg.contract is not None and neg.contract.stamped_ms == {t.claim.digest: first.issued_at_ms}
    assert neg.state is State.BREACHED


@pytest.mark.req("AUD-003", "WIT-006")
@pytest.mark.parametrize("honest", [True, False])
def test_the_audit_names_an_escrow_that_stamped_a_statement_twice(honest: bool) -> None:
    """The audit did not name an escrow that stamped one statement twice (a claim stamped again ten
    minutes later, shown first to some views, moved the time it took effect there until WIT-005 took the
    earliest). Now STAMPED_TWICE names both Stamps, the later first. An honest escrow answers the
    resubmission with its first Stamp (WIT-006): no finding."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    offer = alice.offer(bob, alice.proposal(escrow=e.did))
    e.submit([*alice.setup, *bob.setup, offer.envelope])
    escrow = e.escrow
    first = escrow.verifier.witness.stamp_of(escrow.did, offer.digest)
    clock.advance(600_000)
    if honest:
        e.submit([offer.envelope])
    else:  # at fault: stamps it again
        held = escrow.verifier.statements[offer.digest]
        escrow._stamp([held], clock.now_ms, len(escrow._transcript), len(escrow._unsaved))
    twice = [f.digests for f in audit_ledger(escrow.transcript()).findings if f.code == "STAMPED_TWICE"]
    if honest:
        assert twice == []
    else:
        second = escrow.ledger()[-1]
        assert twice == [(verify_statement(second).digest, first)]


@pytest.mark.req("WIT-005", "CMT-002")
def test_a_ruling_refused_as_early_is_taken_once_the_earlier_stamp_arrives() -> None:
    """A view holding only the later Stamp refuses the Ruling due by the earlier one (early, CMT-002);
    once the earlier Stamp arrives the claim's stamp time is lowered, and the same Ruling is taken."""
    t = _stamped_twice(2_000, 602_000)
    first, second = t.stamps
    ruling = t.ruling(first.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS)
    v = _observe([*t.base, t.claim.envelope, second.envelope])
    with pytest.raises(IllegalTransition):
        v.accept(ruling.envelope)
    v.accept(first.envelope)
    v.accept(ruling.envelope)
    assert v.negotiations.get(t.nid).state is State.BREACHED


@pytest.mark.req("WIT-005", "CMT-005", "NEG-015")
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_claim_stamped_before_its_deadline_and_again_in_its_window_takes_the_stamp_in_it(
    order: tuple[int, ...],
) -> None:
    """The escrow stamps the claim at its item's deadline -- outside the claim window (CMT-005: after
    the deadline), earlier than the claim's own date -- and again 10 min after it, in the window. In
    every order the claim takes effect at the Stamp in the window: a view that held the early Stamp
    before the claim (the earliest Stamp held) left it pending for good, one that held the other first
    made it effective. A Ruling due only by the early Stamp is refused; one due by the other is taken."""
    t = _stamped_twice(0, 600_000)
    late = t.stamps[1]
    early_ruling = t.ruling(t.stamps[0].issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS)
    ruling = t.ruling(late.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS)
    pieces = [t.claim.envelope, *(vs.envelope for vs in t.stamps)]
    v = _observe([*t.base, *(pieces[i] for i in order)])
    neg = v.negotiations.get(t.nid)
    assert neg.state is State.DISPUTED
    assert neg.contract is not None and neg.contract.stamped_ms == {t.claim.digest: late.issued_at_ms}
    with pytest.raises(IllegalTransition):
        v.check(early_ruling)
    v.accept(ruling.envelope)
    assert neg.state is State.BREACHED


@pytest.mark.req("WIT-005", "CMT-003", "NEG-015")
def test_a_revoke_stamped_twice_takes_its_earliest_stamp_in_either_order() -> None:
    """A Revoke stamped twice by the escrow (at fault) takes effect at its earlier Stamp whichever a view
    heard first, so its notice ends at one time in every view (CMT-003)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    terms = alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True, notice_ms=60_000))
    offer = alice.offer(bob, terms)
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    clock.advance(1_000)
    revoke = bob.revoke(accept, alice)
    first = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest]))
    clock.advance(600_000)
    second = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest]))
    base = [*alice.setup, *bob.setup, *escrow.setup, offer.envelope, accept.envelope]
    for stamps in ((first, second), (second, first)):
        for before in (True, False):  # the Revoke before its Stamps, or after them
            tail = [*(vs.envelope for vs in stamps)]
            tail = [revoke.envelope, *tail] if before else [*tail, revoke.envelope]
            neg = _observe([*base, *tail]).negotiations.get(nid)
            assert neg.state is State.REVOKED
            assert neg.contract is not None
            assert neg.contract.stamped_ms == {revoke.digest: first.issued_at_ms}
            assert revoke_until(neg.contract) == first.issued_at_ms + 60_000


# --- 3: a witnessed Accept at another escrow displacing the contract an honest escrow holds ----------


class _Escrow(Protocol):
    """What the displacement scenario needs of an escrow: a LocalEscrow, or an EscrowNode (journaled)."""

    escrow: Escrow

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]: ...


class _Displaced(NamedTuple):
    clock: FixedClock
    e: Any  # the honest escrow E: a LocalEscrow unless the caller gave one
    p1: Party
    p2: Party
    nid: bytes
    stamp: VerifiedStatement  # K's Stamp of the displacing Accept
    a0: VerifiedStatement  # the displacing Accept, of the first offer, which K witnessed
    answer: list[bytes]  # E's answer to the Submit of K's Stamp and that Accept


def _displaced_at(
    bonded: bool, escrow_at: Callable[[FixedClock, Party, dict[str, int]], _Escrow] | None = None
) -> _Displaced:
    """Two of Mallory's keys, P1 and P2: P1 offers P2 terms naming a third key of hers, K, as escrow;
    P2 answers with a Counter naming the honest escrow E, which P1 accepts; E takes the line, witnesses
    the Accept (and locks both bonds if ``bonded``). Then K stamps an Accept of the first offer by P2,
    which K witnessed by its cutoff: it takes precedence (NEG-017) and E, shown it with K's Stamp, takes
    it too (ESC-014 leaves an offer naming another escrow to that escrow). ``escrow_at(clock, E's
    party, funds)`` builds E (default a LocalEscrow)."""
    clock = FixedClock()
    p1, p2, k = Party("p1", clock), Party("p2", clock), Party("k", clock)
    bond = BOND if bonded else 0
    funds = {p1.did: 1_000, p2.did: 1_000}
    party = Party("escrow", clock)
    e = LocalEscrow(party, funds=funds) if escrow_at is None else escrow_at(clock, party, funds)
    o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, e.escrow.did, bond=bond)
    e.submit([*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope])
    nid = o1.header.negotiation_id
    assert e.escrow.verifier.negotiations.get(nid).contract.id == a2.digest
    clock.advance(1_000)
    a0 = p2.accept(o1)
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
    answer = e.submit([*k.setup, stamp.envelope, a0.envelope])  # raised WRONG_PARTY from E's own check
    neg = e.escrow.verifier.negotiations.get(nid)
    assert neg.contract is not None and neg.contract.id == a0.digest and neg.contract.escrow == k.did
    return _Displaced(clock, e, p1, p2, nid, stamp, a0, answer)


@pytest.mark.req("NEG-017", "ESC-014")
def test_a_contract_displaced_by_another_escrows_witnessed_accept_does_not_stop_the_escrow() -> None:
    """The escrow went on evaluating the negotiation it held, now a contract naming K: each statement it
    then made due (a lock, a lapse) failed its own check (NEG-008: only the contract's escrow issues it),
    raising out of that Submit and, at the displaced contract's timer, out of ``tick`` -- which ends an
    escrow node's ticker thread (EscrowNode.start_ticking), so no contract there was ruled on, lapsed or
    refunded again. Three fresh keys and no funds did it. Now the displaced contract leaves the open set
    and the escrow signs nothing about it; an honest unbonded contract there still lapses."""
    clock, e, *_ = _displaced_at(bonded=False)
    assert e.escrow.open_contracts == 0  # the displaced one is not ours to evaluate
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob, alice.proposal(escrow=e.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    e.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    clock.advance(3 * DAY_MS)
    e.tick()  # raised
    assert e.escrow.verifier.negotiations.get(offer.header.negotiation_id).state is State.EXPIRED
    # The audit took the LAPSE of K's contract -- unbonded at its cutoff in E's view, which never holds
    # K's locks -- as due from E (ACTION_MISSING) once E's ledger moved past that time: nothing is.
    report = audit_ledger(e.escrow.transcript(), escrow=e.did)
    assert report.ok, report.findings


@pytest.mark.req("ESC-016", "NEG-017", "NEG-018", "AUD-004")
def test_bonds_locked_for_a_displaced_contract_come_back() -> None:
    """The bonds E locked for the displaced contract stayed locked for good: nobody can perform that
    contract, and every verifier holding K's witnessed Accept takes E's statements about it as superseded.
    Closed (ESC-016): E refunds both in the Submit that brought the Accept, after its own Stamp of it;
    a third party's verifier fed E's transcript takes the Refunds, and the audit finds them due."""
    d = _displaced_at(bonded=True)
    e, contract = d.e, d.e.escrow.verifier.negotiations.get(d.nid).replaced.id
    for p in (d.p1, d.p2):
        assert e.get_balance(p.did)[:2] == (1_000, 0)
    answer = [verify_statement(env) for env in d.answer[1:]]
    assert [vs.body for vs in answer] == ["stamp", "refund", "refund"]
    assert d.a0.digest in answer[0].statement.stamp.statements  # ordered after the Stamp of the Accept
    refunds = {(r.contract, r.party, r.amount) for r in (vs.statement.refund for vs in answer[1:])}
    assert refunds == {(contract, d.p1.did, BOND), (contract, d.p2.did, BOND)}
    transcript = e.escrow.transcript()
    report = audit_ledger(transcript, escrow=e.did)
    assert report.ok, report.findings
    third = EvidenceVerifier()  # a third party's: every statement of E's transcript taken, none refused
    for envelope in transcript:
        third.accept(envelope)
    assert all(vs.digest in third.statements for vs in answer)
    assert third.negotiations.get(d.nid).contract.id == d.a0.digest


@pytest.mark.req("ESC-016", "ESC-008", "NEG-017")
def test_a_party_resubmitting_its_displaced_contract_learns_what_displaced_it() -> None:
    """P1 holds the contract E bonded (the line, E's Stamp and locks), not the Accept that displaced it.
    It resubmits its Accept to E (ESC-008) and got the Refunds alone: its view kept the displaced
    contract as binding, bonds refunded, and it would go on performing under it while bound, without
    knowing, under K's. Now the answer carries, after E's Stamp of the displacing Accept, K's Mandate and
    Stamp and the Accept with its Mandate: P1's view moves to the contract that binds (NEG-017)."""
    d = _displaced_at(bonded=True)
    e = d.e.escrow
    neg = e.verifier.negotiations.get(d.nid)
    assert neg.replaced is not None
    displaced = neg.replaced.accept
    line = [*d.p1.setup, *d.p2.setup, neg.replaced.offer.envelope, displaced.envelope]
    first = e.verifier.negotiations.get(d.nid).offers[0]
    p1_view = EvidenceVerifier()
    for envelope in [*d.p1.setup, *d.p2.setup, first.envelope]:
        p1_view.accept(envelope)
    for envelope in line[2:]:
        p1_view.accept(envelope)
    assert p1_view.negotiations.get(d.nid).contract.id == displaced.digest
    answer = d.e.submit([displaced.envelope])
    for envelope in answer:
        with contextlib.suppress(CoopError):  # what the view holds already
            p1_view.accept(envelope)
    assert d.a0.digest in p1_view.statements
    assert p1_view.negotiations.get(d.nid).contract.id == d.a0.digest
    bodies = [verify_statement(env).body for env in answer]
    assert bodies[-2:] == ["refund", "refund"]


@pytest.mark.req("ESC-016", "AUD-004")
def test_the_audit_reports_bonds_a_displaced_contract_left_locked_or_forfeited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit's side of ESC-016: an escrow that keeps the bonds of a contract another escrow's
    witnessed Accept displaced is reported (ACTION_MISSING: the Refund was due at once), and one that
    pays a bond of it to the other party instead -- which every verifier holding the Accept takes as
    superseded, checking no cause -- too (FORFEIT_WITHOUT_CAUSE)."""
    monkeypatch.setattr(Escrow, "_refund_displaced", lambda self, now_ms: None)
    d = _displaced_at(bonded=True)
    escrow = d.e.escrow
    contract = escrow.verifier.negotiations.get(d.nid).replaced.id
    report = audit_ledger(escrow.transcript(), escrow=escrow.did)
    assert [(f.code, f.digests) for f in report.findings] == [("ACTION_MISSING", (contract,))]
    forfeit = commitment_pb2.Forfeit(
        contract=contract, party=d.p1.did, amount=BOND, beneficiary=d.p2.did, cause=d.a0.digest
    )
    signed = escrow._sign("forfeit", forfeit, d.nid, d.clock.now_ms)  # a faulty escrow's
    codes = [f.code for f in audit_ledger(escrow.transcript(), escrow=escrow.did).findings]
    assert codes == ["FORFEIT_WITHOUT_CAUSE", "ACTION_MISSING"]  # p2's bond is still locked
    assert signed.body == "forfeit"


def _displaced_with_one_bond_locked() -> tuple[_Displaced, bytes]:
    """The displacement of :func:`_displaced_at`, bonded, with P2 holding no funds at E until after it:
    E locked P1's bond only, refunded it when K's Accept displaced the contract (ESC-016), and then P2
    deposits -- the funds E's lock of P2's bond had waited for. (The scenario, the displaced contract's
    id.)"""
    d = _displaced_at(
        bonded=True,
        escrow_at=lambda clock, party, funds: LocalEscrow(
            party, funds={did: amount for did, amount in funds.items() if did != Party("p2", clock).did}
        ),
    )
    escrow = d.e.escrow
    contract = escrow.verifier.negotiations.get(d.nid).replaced.id
    assert [verify_statement(env).body for env in d.answer[-1:]] == ["refund"]  # P1's, its only lock
    d.clock.advance(1_000)
    escrow.deposit(d.p2.did, 1_000, escrow.currency, "after the displacement", d.clock.now_ms)
    return d, contract


@pytest.mark.req("ESC-016", "AUD-004")
def test_an_honest_escrow_locks_nothing_for_a_displaced_contract_when_funds_arrive() -> None:
    """P2's deposit after the displacement would have completed the contract's bonding: the honest escrow
    locks nothing for it (ESC-016: nothing but the Refunds), P2's funds stay available, and the audit of
    its transcript finds nothing."""
    d, _ = _displaced_with_one_bond_locked()
    escrow = d.e.escrow
    d.clock.advance(1_000)
    d.e.tick()
    assert [escrow.balance(p.did) for p in (d.p1, d.p2)] == [(1_000, 0)] * 2
    report = audit_ledger(escrow.transcript(), escrow=escrow.did)
    assert report.ok, report.findings


@pytest.mark.req("ESC-016", "AUD-004")
def test_the_audit_reports_a_bond_locked_for_a_contract_already_displaced() -> None:
    """A faulty escrow locks P2's bond for the contract K's witnessed Accept displaced, once P2's funds
    arrive, and refunds it later: no money moved in the end, and the audit found nothing -- but the escrow
    acted on a contract it knew was dead (ESC-016: after it took the displacing Accept, it signs nothing
    about that contract but the Refunds of the bonds it locked before). Expect LOCK_NOT_DUE, naming the
    lock, and nothing about the Refund that followed it."""
    d, contract = _displaced_with_one_bond_locked()
    escrow = d.e.escrow
    d.clock.advance(1_000)
    bond = commitment_pb2.BondLock(contract=contract, party=d.p2.did, amount=BOND)
    lock = escrow._sign("bond_lock", bond, d.nid, d.clock.now_ms)  # a faulty escrow's
    d.clock.advance(1_000)
    refund = commitment_pb2.Refund(contract=contract, party=d.p2.did, amount=BOND)
    escrow._sign("refund", refund, d.nid, d.clock.now_ms)
    assert [escrow.balance(p.did) for p in (d.p1, d.p2)] == [(1_000, 0)] * 2
    report = audit_ledger(escrow.transcript(), escrow=escrow.did)
    assert [(f.code, f.digests) for f in report.findings] == [("LOCK_NOT_DUE", (lock.digest,))]


@pytest.mark.req("ESC-016")
def test_a_displaced_contracts_bonds_are_refunded_once_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E, a journaled escrow node, takes K's Stamp and the displacing Accept and dies before it refunds
    (the Accept journaled, no Refund). Restarted, it refunds both bonds at its first tick; restarted again,
    it signs nothing more: the Refunds are in its journal, and its ledger says the bonds are settled."""
    path = tmp_path / "escrow.db"
    parties: list[Party] = []

    def node(clock: FixedClock, party: Party, funds: dict[str, int] | None = None) -> EscrowNode:
        parties.append(party)
        n = EscrowNode(
            party.agent.key, party.mandate_vs.envelope, path, clock=lambda: clock.now_ms, durability="normal"
        )
        for did, amount in (funds or {}).items():
            n.deposit(did, amount)
        return n

    with monkeypatch.context() as crash:
        crash.setattr(Escrow, "_refund_displaced", lambda self, now_ms: None)
        d = _displaced_at(bonded=True, escrow_at=node)
    party = parties[0]
    d.e.close()
    assert [verify_statement(env).body for env in d.answer[1:]] == ["stamp"]
    again = node(d.clock, party)
    assert [again.escrow.balance(p.did) for p in (d.p1, d.p2)] == [(900, 100)] * 2
    d.clock.advance(1_000)
    assert [vs.body for vs in again.tick()] == ["refund", "refund"]
    assert [again.escrow.balance(p.did) for p in (d.p1, d.p2)] == [(1_000, 0)] * 2
    size = again.escrow.ledger_size
    again.close()
    third = node(d.clock, party)
    try:
        d.clock.advance(1_000)
        assert third.tick() == []
        third.submit([d.stamp.envelope, d.a0.envelope])  # shown the Accept again: nothing new
        assert third.escrow.ledger_size == size
        assert [third.escrow.balance(p.did) for p in (d.p1, d.p2)] == [(1_000, 0)] * 2
        report = audit_ledger(third.escrow.transcript(), escrow=third.escrow.did)
        assert report.ok, report.findings
    finally:
        third.close()


@pytest.mark.req("ESC-016", "ESC-014", "WIT-004")
def test_a_displaced_contract_leaves_the_escrows_memory_once_refunded_and_past_its_cutoff(
    tmp_path: Path,
) -> None:
    """A contract another escrow's Accept displaced was kept in E's memory for good (its contract names
    K: never settled in E's view). Once its bonds are refunded and no Accept of the first offer can be
    recognised any more, E, a journaled node, forgets the negotiation; shown the Accept again afterwards,
    it answers as before (nothing new signed) and its audit holds."""
    path = tmp_path / "escrow.db"

    def node(clock: FixedClock, party: Party, funds: dict[str, int]) -> EscrowNode:
        n = EscrowNode(
            party.agent.key, party.mandate_vs.envelope, path, clock=lambda: clock.now_ms, durability="normal"
        )
        for did, amount in funds.items():
            n.deposit(did, amount)
        return n

    d = _displaced_at(bonded=True, escrow_at=node)
    try:
        escrow = d.e.escrow
        neg = escrow.verifier.negotiations.get(d.nid)
        d.clock.now_ms = max(o.header.expires_at_ms for o in neg.offers) + 60_001
        d.e.tick()
        d.e.tick()
        assert d.nid not in escrow.verifier.negotiations.by_id
        size = escrow.ledger_size
        d.e.submit([d.stamp.envelope, d.a0.envelope])
        assert escrow.ledger_size == size
        assert [escrow.balance(p.did) for p in (d.p1, d.p2)] == [(1_000, 0)] * 2
        assert audit_ledger(escrow.transcript(), escrow=escrow.did).ok
    finally:
        d.e.close()


@pytest.mark.req("NEG-017", "ESC-016", "NEG-025")
@pytest.mark.parametrize("whose_offer", ["mallory's own", "alice's, naming E"])
def test_a_party_cannot_mint_an_escrow_to_displace_its_bonded_contract(whose_offer: str) -> None:
    """Could Mallory, bonded with honest Alice at E, mint an escrow key K, have it witness an Accept of an
    earlier offer of the line, displace the contract (NEG-017) and have E refund her bond (ESC-016) before
    her deadline? A displacing Accept counts only if it is signed by that offer's audience and stamped by
    the escrow *that offer's terms name* -- chosen by the offer's issuer. So Mallory needs an offer of
    Alice's, to her, naming K: Alice's choice. She tries the two lines she can make: (1) her own Offer
    naming K, which Alice countered at E, and an "Accept" of it signed by herself, its issuer; (2) Alice's
    Offer naming E, which Mallory countered naming K before Alice countered again at E, and Mallory's
    Accept of Alice's Offer, which K (not E) stamps. E refuses both (ILLEGAL_TRANSITION), and both bonds
    stay locked for the contract that binds. Alice's verifier refuses the first (no answer: its issuer's) and
    holds the second with no event (NEG-025: only E's Stamp could order it, and E took Mallory's Counter)."""
    clock = FixedClock()
    alice, mallory, k = Party("alice", clock), Party("mallory", clock), Party("k", clock)
    e = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, mallory.did: 1_000})
    bonded = {"issuer_bond": BOND, "audience_bond": BOND}
    if whose_offer == "mallory's own":
        first = mallory.offer(alice, mallory.proposal(**bonded, escrow=k.did))
        line = [first, alice.counter(first, _flipped(first, e.did))]
    else:
        first = alice.offer(mallory, alice.proposal(**bonded, escrow=e.did))
        c1 = mallory.counter(first, _flipped(first, k.did))
        line = [first, c1, alice.counter(c1, _flipped(c1, e.did))]
    clock.advance(1_000)
    accept = mallory.accept(line[-1])
    e.submit([*alice.setup, *mallory.setup, *(vs.envelope for vs in line), accept.envelope])
    assert [e.get_balance(p.did)[:2] for p in (alice, mallory)] == [(900, 100)] * 2
    clock.advance(1_000)
    nid = first.header.negotiation_id
    forged = mallory.sign(
        "accept", trade_pb2.Accept(offer=first.digest), audience=alice.did, negotiation_id=nid
    )
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[forged.digest]))
    head = e.escrow.ledger_size
    with pytest.raises(IllegalTransition):
        e.submit([*k.setup, stamp.envelope, forged.envelope])
    assert [e.get_balance(p.did)[:2] for p in (alice, mallory)] == [(900, 100)] * 2
    assert [verify_statement(env).body for env in e.escrow.ledger(head)] == ["stamp"]  # K's Stamp, no Refund
    assert e.escrow.verifier.negotiations.get(nid).contract.accept.digest == accept.digest
    view = EvidenceVerifier()  # Alice's, say
    for env in [*alice.setup, *mallory.setup, *(vs.envelope for vs in line), accept.envelope]:
        view.accept(env)
    for env in [e.mandate, *e.escrow.ledger(), *k.setup, stamp.envelope]:
        view.accept(env)
    if whose_offer == "mallory's own":
        with pytest.raises(IllegalTransition):
            view.accept(forged.envelope)
    else:
        view.accept(forged.envelope)
        neg = view.negotiations.get(nid)
        assert neg.contract is not None and neg.contract.accept.digest == accept.digest
        assert forged.digest in neg.superseded


def _flipped(offer: VerifiedStatement, escrow: str) -> trade_pb2.Offer:
    """The terms of ``offer`` from the other side, naming ``escrow``: a Counter's proposal."""
    mine = proposal_of(offer)
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    theirs.terms.escrow = escrow
    return theirs


# --- 4: RPC-015's provisional Mandate, taken once any context statement after it passes ---------------


def _twenty_refused_requests_keep_nothing(
    tmp_path: Path,
    beside: Callable[[Signer, VerifiedStatement, VerifiedStatement, int], VerifiedStatement],
) -> None:
    """Twenty fresh keys each send Bob a Delivery naming no negotiation of his (refused,
    UNKNOWN_NEGOTIATION), with context [their Mandate, ``beside(key, mandate, request, i)``]: expect
    none of the Mandates kept, and Bob's journal no longer for it."""
    clock = FixedClock()
    bob = Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal)
        start = sum(1 for _ in journal.statements())
        mandates = []
        for i in range(20):
            key, mandate = fresh_key(i, clock)
            mandates.append(mandate)
            request = key.sign(
                "delivery",
                commitment_pb2.Delivery(contract=derive(f"no-such-contract/{i}"), item_index=0),
                audience=bob.did,
                negotiation_id=derive(f"no-such-negotiation/{i}", 16),
                mandate=mandate.digest,
            )
            with pytest.raises(UnknownNegotiation):
                b.exchange(request.envelope, [mandate.envelope, beside(key, mandate, request, i).envelope])
        assert not [vs for vs in mandates if vs.digest in b.verifier.statements]
        assert sum(1 for _ in journal.statements()) == start


@pytest.mark.req("RPC-015")
def test_a_refused_requests_mandate_is_not_kept_behind_an_ack_addressed_to_us(tmp_path: Path) -> None:
    """The merged fix holds a request's context Mandate provisionally until the statement after it passes
    its checks. Twenty fresh keys each send Bob a Delivery naming no negotiation of his (refused), with
    context [their Mandate, an Ack addressed to Bob under it]: the Ack passed, so the Mandate and the Ack
    were taken and journaled -- two statements of Bob's disk a refused request, as before the fix.
    Closed: a context statement addressed to us from another negotiation (and what only it needs) is
    taken only once the request passed its checks (RPC-015); here nothing is kept or journaled."""

    def ack(key: Signer, mandate: VerifiedStatement, request: VerifiedStatement, i: int) -> VerifiedStatement:
        msg = commitment_pb2.Ack(statement=derive(f"anything/{i}"))
        return key.sign("ack", msg, audience=request.audience, mandate=mandate.digest)

    _twenty_refused_requests_keep_nothing(tmp_path, ack)


@pytest.mark.req("RPC-015")
@pytest.mark.req("RPC-015")
def test_a_refused_requests_mandate_is_not_kept_behind_a_stamp_of_the_request(tmp_path: Path) -> None:
    """The variant of the attack above the RPC-015 fix leaves open: twenty fresh keys each send Bob a
    Delivery naming no negotiation of his (refused), with context [their Mandate, a Stamp by the same key,
    addressed to Bob, naming the Delivery]. The Stamp passed its checks and names the request, so it and
    the Mandate were taken and journaled: two statements of Bob's disk a refused request. Closed: a
    context Stamp naming the request (or a statement held provisionally) is held provisionally, as the
    Mandates are, and taken only once the request passed its checks beside it (RPC-015)."""

    def stamp(
        key: Signer, mandate: VerifiedStatement, request: VerifiedStatement, i: int
    ) -> VerifiedStatement:
        msg = commitment_pb2.Stamp(statements=[request.digest])
        return key.sign("stamp", msg, audience=request.audience, mandate=mandate.digest)

    _twenty_refused_requests_keep_nothing(tmp_path, stamp)


@pytest.mark.req("RPC-015")
def test_a_refused_requests_mandate_is_not_kept_behind_a_checkpoint_of_its_key(tmp_path: Path) -> None:
    """Found while closing the Stamp variant: twenty fresh keys each send Bob a Delivery naming no
    negotiation of his (refused), with context [their Mandate, a Checkpoint their key signed after the
    Delivery]. The Checkpoint is a key statement of the request's issuer (first-part context, RPC-015) and
    passes its checks (its log_root is not checked: Bob holds none of the key's statements before it), so
    the Mandate is taken before it and both are journaled: two statements of Bob's disk a refused
    request. Expect none. Fixed (RPC-015): the key statements taken before a request are those that end
    a key (KeyRotation, KeyRevocation), not its Checkpoints, which no check reads
    (tests/test_attack15.py::test_a_refused_request_keeps_no_pile_of_its_issuers_key_statements)."""

    def checkpoint(
        key: Signer, mandate: VerifiedStatement, request: VerifiedStatement, i: int
    ) -> VerifiedStatement:
        return key.sign("checkpoint", identity_pb2.Checkpoint(log_root=derive(f"root/{i}")))

    _twenty_refused_requests_keep_nothing(tmp_path, checkpoint)


@pytest.mark.req("RPC-016", "RPC-015", "RPC-012")
def test_strangers_public_statements_do_not_grow_a_peers_journal_without_bound(tmp_path: Path) -> None:
    """Two hundred fresh keys each send Bob their Mandate and a Checkpoint under it, and nothing else:
    all four hundred statements were journaled, two rows a key, without bound (RPC-015's care for what a
    refused request keeps could not help while this stood). Closed: a newcomer quota on the public
    statements a peer keeps of keys outside its dealings (RPC-016) -- here 100 an hour, of which what
    nobody in Bob's dealings asked for fills three quarters. Past it each key is refused
    ``RATE_LIMITED``, retry at the next window, and nothing of it is journaled; the next window takes
    the next keys again."""
    clock = FixedClock()
    bob = Party("bob", clock)
    quota = StrangerQuota(per_period=100, period_ms=3_600_000)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal, stranger_quota=quota)
        start = sum(1 for _ in journal.statements())
        refused = []
        for i in range(200):
            key, mandate = fresh_key(i, clock)
            checkpoint = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=mandate.digest)
            try:
                assert b.exchange(checkpoint.envelope, [mandate.envelope]) == []  # public: no Ack
            except RateLimited as err:
                refused.append(err)
        kept = sum(1 for _ in journal.statements()) - start
        assert kept == 74  # 37 keys, two rows each: the 38th's would pass 75 (three quarters of 100)
        assert len(refused) == 200 - 37
        window_end = (clock.now_ms // 3_600_000 + 1) * 3_600_000
        hints = {(e.requirement, e.retry_after_ms) for e in refused}
        assert hints == {("RPC-016", window_end - clock.now_ms)}
        clock.now_ms = window_end  # the next window
        key, mandate = fresh_key(200, clock)
        checkpoint = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=mandate.digest)
        b.exchange(checkpoint.envelope, [mandate.envelope])
        assert sum(1 for _ in journal.statements()) - start == kept + 2


@pytest.mark.req("RPC-015")
def test_a_context_ack_of_another_negotiation_is_taken_when_the_request_passes(tmp_path: Path) -> None:
    """The other side of the fix above: Alice opens a negotiation with Bob, her Offer's context her setup
    and an Ack addressed to Bob naming a statement of another negotiation. The Offer passes, so the Ack
    (addressed to Bob, no statement of the Offer's negotiation) is taken too, after the request's own
    context, and journaled in the same commit; the same Ack beside a Delivery Bob refuses is not."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal)
        refused_ack = alice.sign("ack", commitment_pb2.Ack(statement=derive("elsewhere/0")), audience=bob.did)
        delivery = alice.sign(
            "delivery",
            commitment_pb2.Delivery(contract=derive("no-such-contract"), item_index=0),
            audience=bob.did,
            negotiation_id=derive("no-such-negotiation", 16),
        )
        start = sum(1 for _ in journal.statements())
        with pytest.raises(UnknownNegotiation):
            b.exchange(delivery.envelope, [*alice.setup, refused_ack.envelope])
        assert refused_ack.digest not in b.verifier.statements
        assert sum(1 for _ in journal.statements()) == start
        ack = alice.sign("ack", commitment_pb2.Ack(statement=derive("elsewhere/1")), audience=bob.did)
        offer = alice.offer(bob, alice.proposal())
        answers = b.exchange(offer.envelope, [*alice.setup, ack.envelope])
        assert answers, "the Offer is answered"
        assert b.negotiation(offer.negotiation_id) is not None
        assert ack.digest in b.verifier.statements
        journaled = [envelope for _, _, envelope in journal.statements()]
        assert ack.envelope in journaled and offer.envelope in journaled
        assert journaled.index(ack.envelope) < journaled.index(offer.envelope)  # taken before the request


@pytest.mark.req("RPC-015", "TIM-006", "WIT-002")
def test_a_context_stamp_dating_the_request_back_is_taken_with_it_when_it_passes(tmp_path: Path) -> None:
    """The honest side of the Stamp fix: Bob offers Alice terms naming his escrow; her Accept reaches him
    two minutes late, dated back (TIM-006) and so refused alone, then with the escrow's Stamp of it (and
    the escrow's Mandate, which Bob holds already) as context. The Stamp, held provisionally, is in view
    when the Accept is checked, so the Accept is taken -- the contract forms, and Bob performs -- and the
    Stamp is taken before it and journaled in the same commit."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e = LocalEscrow(Party("escrow", clock))
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, context=[e.mandate], journal=journal)
        offer = b.propose(alice.did, bob.proposal(escrow=e.did))
        clock.advance(1_000)
        accept = alice.accept(offer)
        stamp = e.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])[1]
        assert verify_statement(stamp).body == "stamp"
        clock.advance(120_000)
        with pytest.raises(IssuedInPast):
            b.exchange(accept.envelope, alice.setup)
        assert not dict.__contains__(b.verifier.statements, verify_statement(stamp).digest)
        b.exchange(accept.envelope, [*alice.setup, e.mandate, stamp])
        contract = b.negotiation(offer.negotiation_id).contract  # formed (Bob then performs at once)
        assert contract is not None and contract.accept.digest == accept.digest
        journaled = [envelope for _, _, envelope in journal.statements()]
        assert stamp in journaled and accept.envelope in journaled
        assert journaled.index(stamp) < journaled.index(accept.envelope)  # taken before the request


@pytest.mark.req("RPC-015")
def test_context_that_repeats_a_mandate_or_a_stamp_held_provisionally_is_taken_once() -> None:
    """A request whose context carries the same Mandate (or the same Stamp of the request) twice: the
    copy of one held provisionally is held already, not a second statement to take (taking it twice was
    REPLAYED, failing the request), as a copy of one taken always was."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e = LocalEscrow(Party("escrow", clock))
    b = make_peer(bob, clock, context=[e.mandate])
    offer = alice.offer(bob, alice.proposal())
    assert b.exchange(offer.envelope, [*alice.setup, *alice.setup])
    assert alice.mandate_vs.digest in b.verifier.statements
    offer = b.propose(alice.did, bob.proposal(escrow=e.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    stamp = e.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])[1]
    clock.advance(120_000)  # dated back: taken with its Stamp only (TIM-006)
    b.exchange(accept.envelope, [stamp, stamp])
    contract = b.negotiation(offer.negotiation_id).contract
    assert contract is not None and contract.accept.digest == accept.digest


# --- held: CMT-008 no longer counts bonded contracts; unfunded ones still leave at the cutoff ---------


@pytest.mark.req("CMT-008", "ESC-010")
def test_unfunded_bonded_junk_beyond_the_cap_lapses_at_its_cutoff_and_leaves_the_escrow() -> None:
    """Two of Mallory's keys open more bonded contracts at an escrow than its per-party cap (here 2), and
    fund none: CMT-008 no longer counts them, so each is taken -- and each lapses at its bonding cutoff
    (ESC-010), leaving the escrow's open set: the junk costs the escrow until a time both keys signed,
    as an unbonded contract does until its last deadline plus the claim window."""
    clock = FixedClock()
    p1, p2 = Party("p1", clock), Party("p2", clock)
    e = LocalEscrow(Party("escrow", clock))
    e.escrow.max_open_contracts = 2
    nids = []
    for _ in range(5):
        offer = p1.offer(p2, p1.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=e.did))
        accept = p2.accept(offer)
        e.submit([*p1.setup, *p2.setup, offer.envelope, accept.envelope])
        nids.append(offer.header.negotiation_id)
    assert e.escrow.open_contracts == 5
    clock.advance(DAY_MS)
    e.tick()
    assert e.escrow.open_contracts == 0
    assert {e.escrow.verifier.negotiations.get(n).state for n in nids} == {State.EXPIRED}
