"""A contract's ending is dated (SPEC 4.5, 8.1, MND-010, NEG-009).

A contract counts toward its parties' exposure, and holds its exclusive_key, for a statement unless the
statements that finish it are all before that statement: an ending dated after it -- a Receipt, a
Ruling, the Stamp that puts a Revoke in effect, or the agent's own statement above it in its chain --
does not free the contract for it, whatever order the two came in. Before this, a verifier that
received a later Receipt before an earlier Offer judged the Offer against the contract freed, and one
that received them in their order refused it: the relay (or an auditor replaying out of order) chose
the verdict. The offline vectors are chains.json's ExposureOrder group.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import a2a_coop
from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol import mandate
from a2a_coop.protocol.errors import ExclusiveConflict, MandateViolation
from a2a_coop.protocol.mandate import Exposure
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime import snapshot
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import _ReplayExposureArchive
from a2a_coop.testing import FixedClock, Party, service

GAP_MS = 1_000


def _verifier(*parties: Party) -> Verifier:
    v = Verifier()
    for p in parties:
        for env in p.setup:
            v.accept(env)
    return v


def _verdict(v: Verifier, vs: VerifiedStatement) -> str:
    try:
        v.accept(vs.envelope)
    except (MandateViolation, ExclusiveConflict) as err:
        return err.code
    return "valid"


def _performed(clock: FixedClock, proposal: Any = None) -> tuple[Party, Party, list[VerifiedStatement]]:
    """Alice (max_outstanding 500) and Bob in a contract where Alice gives 500: the offer, the Accept,
    both Deliveries and Alice's Receipt of Bob's (Bob's Receipt of hers, the last, is left to the test)."""
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    offer = alice.offer(bob, proposal(alice) if proposal else None)
    accept = bob.accept(offer)
    return alice, bob, [offer, accept]


@pytest.mark.req("MND-010")
@pytest.mark.parametrize("receipt_after_ms", [1, 0, -1])
def test_a_receipt_dated_after_an_offer_does_not_free_the_contract_for_it_in_either_order(
    clock: FixedClock, receipt_after_ms: int
) -> None:
    """Bob's Receipt, the last of Alice's contract of 500, is dated ``receipt_after_ms`` after her next
    offer of 500 (max_outstanding 500). Dated after it, the offer is refused in both arrival orders;
    dated in its ms or before, the offer is valid once the Receipt is held (a Receipt of another key in
    the very ms is not after it)."""
    alice, bob, (offer, accept) = _performed(clock)
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    ra = alice.receipt(db)
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    rb = bob.receipt(da, issued_at_ms=t + receipt_after_ms)
    verdicts = set()
    for order in ((rb, new), (new, rb)):
        v = _verifier(alice, bob)
        for vs in (offer, accept, da, db, ra):
            v.accept(vs.envelope)
        got = [_verdict(v, vs) for vs in order]
        verdicts.add(got[order.index(new)])
    if receipt_after_ms > 0:
        assert verdicts == {"MANDATE_VIOLATION"}  # one verdict for both orders
    else:
        assert "valid" in verdicts  # the Receipt held first frees the contract (held after, it cannot)


@pytest.mark.req("MND-010")
def test_the_agents_own_receipt_above_the_offer_in_its_chain_does_not_free_it(clock: FixedClock) -> None:
    """Alice's own Receipt is the last of the contract, signed in the ms of her next offer: above the
    offer in her chain it does not free the contract for the offer, even shown first (sparse); below it,
    it does."""
    for receipt_first in (False, True):
        c = FixedClock()
        alice, bob, (offer, accept) = _performed(c)
        da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
        rb = bob.receipt(da)
        c.advance(GAP_MS)
        if receipt_first:
            ra, new = alice.receipt(db), alice.offer(bob)
        else:
            new, ra = alice.offer(bob), alice.receipt(db)
        assert ra.header.issued_at_ms == new.header.issued_at_ms
        v = _verifier(alice, bob)
        for vs in (offer, accept, da, db, rb, ra):
            v.accept(vs.envelope)
        assert _verdict(v, new) == ("valid" if receipt_first else "MANDATE_VIOLATION")


@pytest.mark.req("MND-010")
def test_a_receipt_counts_from_the_delivery_it_names(clock: FixedClock) -> None:
    """Bob's Receipt is dated before Alice's next offer, but her Delivery it names after it: the obligation
    is receipted at the later of the two, so the contract still counts for the offer."""
    alice, bob, (offer, accept) = _performed(clock)
    db = bob.deliver(accept, alice)
    ra = alice.receipt(db)
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    da = alice.deliver(accept, bob, issued_at_ms=t + 1)
    rb = bob.receipt(da, issued_at_ms=t - 1)
    v = _verifier(alice, bob)
    for vs in (offer, accept, db, ra, da, rb):
        v.accept(vs.envelope)
    assert _verdict(v, new) == "MANDATE_VIOLATION"


@pytest.mark.req("MND-010")
@pytest.mark.req("WIT-005")
def test_a_revoke_frees_the_contract_from_its_stamp_not_its_own_date(
    clock: FixedClock, escrow: Party
) -> None:
    """Bob's Revoke is dated before Alice's next offer; the escrow's Stamp that puts it in effect is
    dated after it: the contract still counts for the offer, in every order of the three."""

    def revocable(alice: Party) -> trade_pb2.Offer:
        return alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))

    alice, bob, (offer, accept) = _performed(clock, revocable)
    revoke = bob.revoke(accept, alice, "changed plans")
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest]), issued_at_ms=t + 1)
    for order in itertools.permutations((revoke, stamp, new)):
        v = _verifier(alice, bob, escrow)
        for vs in (offer, accept):
            v.accept(vs.envelope)
        got = {vs.digest: _verdict(v, vs) for vs in order}
        assert got[new.digest] == "MANDATE_VIOLATION", order


@pytest.mark.req("NEG-009")
@pytest.mark.parametrize("receipt_after_ms", [1, -1])
def test_an_exclusive_key_is_held_for_an_accept_before_the_contracts_ending(
    clock: FixedClock, receipt_after_ms: int
) -> None:
    """Alice's contract under key K with Bob is finished by Bob's Receipt; Carol accepts Alice's next
    offer under K. A Receipt dated after Carol's Accept leaves K held for it in both orders
    (EXCLUSIVE_CONFLICT); dated before it and held first, K is free."""
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    keyed = alice.proposal(exclusive_key=b"K")
    o1 = alice.offer(bob, keyed)
    a1 = bob.accept(o1)
    da, db = alice.deliver(a1, bob), bob.deliver(a1, alice)
    ra = alice.receipt(db)
    o2 = alice.offer(carol, keyed)
    t = clock.advance(GAP_MS)
    a2 = carol.accept(o2)
    rb = bob.receipt(da, issued_at_ms=t + receipt_after_ms)
    verdicts = []
    for order in ((rb, a2), (a2, rb)):
        v = _verifier(alice, bob, carol)
        for vs in (o1, a1, da, db, ra, o2):
            v.accept(vs.envelope)
        got = {vs.digest: _verdict(v, vs) for vs in order}
        verdicts.append(got[a2.digest])
        held = v.negotiations.exclusive_holder(alice.did, b"K", a2.header.negotiation_id)
        assert held is None  # for a statement after every one held, K is free once rb is held
    assert verdicts == (
        ["EXCLUSIVE_CONFLICT", "EXCLUSIVE_CONFLICT"]
        if receipt_after_ms > 0
        else ["valid", "EXCLUSIVE_CONFLICT"]
    )


@pytest.mark.req("MND-011")
@pytest.mark.req("MND-010")
def test_the_guard_frees_a_contract_once_its_clock_passes_a_receipt_dated_ahead(clock: FixedClock) -> None:
    """Bob's clock runs ahead: his last Receipt reaches Alice dated 20 s past her clock. Her guard, which
    counts as verifiers do, refuses her next offer of 500 until her clock passes that Receipt, and signs it
    then (a verifier would refuse what it signed earlier: the contract is not finished before it)."""
    alice, bob, (offer, accept) = _performed(clock)
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    ra = alice.receipt(db)
    ahead = clock.now_ms + 20_000
    rb = bob.receipt(da, issued_at_ms=ahead)
    guard = _verifier(alice, bob)
    for vs in (offer, accept, da, db, ra, rb):
        guard.accept(vs.envelope)
    early = alice.agent.candidate(
        "offer", alice.proposal(), audience=bob.did, mandate=alice.mandate_vs.digest
    )
    with pytest.raises(MandateViolation):
        guard.check(early, ours=True)
    clock.now_ms = ahead + 1
    later = alice.agent.candidate(
        "offer", alice.proposal(), audience=bob.did, mandate=alice.mandate_vs.digest
    )
    guard.check(later, ours=True)


def test_an_ending_comes_earlier_as_statements_are_added() -> None:
    """Exposure.contract_ended with a later ending keeps the earlier one; with an earlier one, lowers it;
    an entry added behind the sweep is counted once the sweep comes back to it."""
    exp = Exposure()
    exp.contract_formed(b"c", 500, 1_000, counts_until=10_000)
    assert exp.outstanding(5_000) == 500
    exp.contract_ended(b"c", (4_000, -1))
    assert exp.outstanding(5_000) == 0 and exp.outstanding(4_000, seq=0) == 0  # another key's, at 4000
    assert exp.outstanding(3_999) == 500
    exp.contract_ended(b"c", (4_500, -1))  # later: no change
    assert exp.outstanding(4_200) == 0 and exp.outstanding(3_999) == 500
    exp.contract_ended(b"c", (3_000, 7))  # the agent's own statement at seq 7 in ms 3000
    assert exp.outstanding(3_000, seq=7) == 500 and exp.outstanding(3_000, seq=8) == 0
    assert exp.outstanding(3_100) == 0 and exp.outstanding(2_999) == 500
    exp.contract_forgotten(b"c")  # its negotiation forgotten: the same counts, kept compact
    assert not exp.finished_contracts and exp._frozen
    assert exp.outstanding(3_100) == 0 and exp.outstanding(3_000, seq=7) == 500
    assert exp.outstanding(3_000, seq=8) == 0 and exp.outstanding(2_999) == 500


# -- An offer's answer is dated too (SPEC 4.5: a live offer counts for a statement its answer is not before)


def _answered_after(
    clock: FixedClock, body: str, answer_after_ms: int, caps: dict[str, int]
) -> tuple[Party, Party, VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """Alice's offer of 500 to Bob (``caps`` her Mandate's), her next offer of 500 at T, and Bob's answer
    to the first (a Reject or a Counter) dated ``answer_after_ms`` after T."""
    alice, bob = Party("alice", clock, caps), Party("bob", clock)
    first = alice.offer(bob)
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    at = t + answer_after_ms
    if body == "reject":
        answer = bob.reject(first, "no", issued_at_ms=at)
    else:
        answer = bob.counter(first, bob.proposal(), issued_at_ms=at)
    return alice, bob, first, new, answer


@pytest.mark.req("MND-010")
@pytest.mark.req("MND-009")
@pytest.mark.parametrize("body", ["reject", "counter"])
@pytest.mark.parametrize("cap", ["max_outstanding", "budget_per_period"])
@pytest.mark.parametrize("answer_after_ms", [1, 0, -1])
def test_an_answer_dated_after_an_offer_does_not_free_the_answered_offer_for_it_in_either_order(
    clock: FixedClock, body: str, cap: str, answer_after_ms: int
) -> None:
    """Bob's Reject (or Counter) of Alice's offer of 500 is dated ``answer_after_ms`` after her next offer
    of 500 (one cap 500). Dated after it, the next offer is refused in both arrival orders -- before, a
    verifier shown the answer first took it and one shown it after refused it; dated in its ms or
    before, the next offer is valid once the answer is held."""
    alice, bob, first, new, answer = _answered_after(clock, body, answer_after_ms, {cap: 500})
    verdicts = set()
    for order in ((answer, new), (new, answer)):
        v = _verifier(alice, bob)
        v.accept(first.envelope)
        got = {vs.digest: _verdict(v, vs) for vs in order}
        verdicts.add(got[new.digest])
    if answer_after_ms > 0:
        assert verdicts == {"MANDATE_VIOLATION"}  # one verdict for both orders
    else:
        assert "valid" in verdicts


@pytest.mark.req("MND-010")
def test_the_agents_own_withdraw_above_the_offer_in_its_chain_does_not_free_it(clock: FixedClock) -> None:
    """Alice withdraws her offer of 500 in the ms of her next offer of 500 (max_outstanding 500): below the
    next offer in her chain the Withdraw frees the first; above it, shown first (sparse), it does not."""
    for withdraw_first in (False, True):
        c = FixedClock()
        alice, bob = Party("alice", c, {"max_outstanding": 500}), Party("bob", c)
        first = alice.offer(bob)
        c.advance(GAP_MS)
        if withdraw_first:
            withdraw, new = alice.withdraw(first), alice.offer(bob)
        else:
            new, withdraw = alice.offer(bob), alice.withdraw(first)
        assert withdraw.header.issued_at_ms == new.header.issued_at_ms
        v = _verifier(alice, bob)
        for vs in (first, withdraw):
            v.accept(vs.envelope)
        assert _verdict(v, new) == ("valid" if withdraw_first else "MANDATE_VIOLATION")


@pytest.mark.req("MND-011")
@pytest.mark.req("MND-010")
def test_the_guard_frees_an_answered_offer_once_its_clock_passes_the_answer_not_its_grace(
    clock: FixedClock,
) -> None:
    """The guard counts its own offers for its skew past their expiry (grace), but an answer's date is
    the answer's: Bob's Reject dated 20 s ahead of Alice's clock frees her offer of 500 for her guard only
    once her clock passes it; a Reject dated before her clock frees it at once, however long the grace."""
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    first = alice.offer(bob)
    ahead = clock.now_ms + 20_000
    reject = bob.reject(first, "no", issued_at_ms=ahead)
    guard = Verifier(me=alice.did)
    for p in (alice, bob):
        for env in p.setup:
            guard.accept(env)
    guard.accept(first.envelope, clock.now_ms, ours=True)
    guard.accept(reject.envelope, clock.now_ms)

    def candidate() -> VerifiedStatement:
        mandate = alice.mandate_vs.digest
        return alice.agent.candidate("offer", alice.proposal(), audience=bob.did, mandate=mandate)

    with pytest.raises(MandateViolation):
        guard.check(candidate(), clock.now_ms, ours=True)
    clock.now_ms = ahead + 1  # the offer's expiry plus the guard's grace is still to come
    assert clock.now_ms < first.header.expires_at_ms
    guard.check(candidate(), clock.now_ms, ours=True)


@pytest.mark.req("MND-009")
@pytest.mark.parametrize("accept_first", [False, True])
def test_an_accept_dated_after_an_offer_keeps_the_accepted_offers_other_period_for_it(
    clock: FixedClock, accept_first: bool
) -> None:
    """Alice (budget_per_period 500, periods of an hour) offers 500 across a period boundary: it reserves
    both periods. Her next offer of 500, 2 ms before the boundary and expiring before it, charges period 0;
    Bob's Accept of the first is dated in period 1, after it. The first offer still reserves period 0 for
    the next offer in both arrival orders -- before, the Accept shown first moved the value to period 1
    alone (its contract's), and the next offer fit."""
    hour = 3_600_000
    alice = Party("alice", clock, {"budget_per_period": 500, "period_ms": hour})
    bob = Party("bob", clock)
    boundary = alice.mandate_vs.statement.mandate.valid_from_ms + 25 * hour
    clock.now_ms = boundary - 60_000
    first = alice.offer(bob, ttl_ms=120_000)
    clock.now_ms = boundary - 2
    new = alice.offer(bob, ttl_ms=1)
    accept = bob.accept(first, issued_at_ms=boundary)
    v = _verifier(alice, bob)
    v.accept(first.envelope)
    order = (accept, new) if accept_first else (new, accept)
    got = {vs.digest: _verdict(v, vs) for vs in order}
    assert got[new.digest] == "MANDATE_VIOLATION"
    assert got[accept.digest] == "valid"


@pytest.mark.req("MND-010")
def test_an_offer_the_agent_issued_after_a_statement_does_not_count_for_it_in_either_order(
    clock: FixedClock,
) -> None:
    """Alice (max_outstanding 500) offers 500, withdraws it, and offers 500 again. A verifier holding the
    last offer before the first two (a sparse view of her chain) must not count it for the first offer,
    issued before it (SPEC 4.5: an offer counts from its own place in her chain); one that met them in
    their order takes all three."""
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    first = alice.offer(bob)
    clock.advance(GAP_MS)
    withdraw = alice.withdraw(first)
    later = alice.offer(bob)
    in_order = _verifier(alice, bob)
    assert [_verdict(in_order, vs) for vs in (first, withdraw, later)] == ["valid"] * 3
    sparse = _verifier(alice, bob)
    sparse.accept(later.envelope)
    assert _verdict(sparse, first) == "valid"  # refused MANDATE_VIOLATION: ``later`` counted for it


@pytest.mark.req("MND-010")
@pytest.mark.parametrize("accept_first", [True, False])
def test_an_offer_accepted_after_a_statement_counts_for_it_as_an_offer_in_either_order(
    clock: FixedClock, accept_first: bool
) -> None:
    """Alice (max_outstanding 500) offers 500, then 500 again; Bob's Accept of the first is dated 1 ms after
    the second. The contract starts at the Accept, so for the second it does not count -- but the first
    still does, as an offer, whichever came first: the value counts throughout, never in neither."""
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    first = alice.offer(bob)
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    accept = bob.accept(first, issued_at_ms=t + 1)
    v = _verifier(alice, bob)
    v.accept(first.envelope)
    order = (accept, new) if accept_first else (new, accept)
    got = {vs.digest: _verdict(v, vs) for vs in order}
    assert got[new.digest] == "MANDATE_VIOLATION"
    exp = v.exposure.exposure(first.mandate_digest)
    assert exp.outstanding(t, seq=new.seq) == 500  # the offer, not yet its contract
    assert exp.outstanding(t + 1) == 500  # the contract, from its Accept on (the offer no more)


# -- A forgotten negotiation counts as a held one (SPEC 4.5): peers forget finished negotiations


def _forgetting_and_holding(
    clock: FixedClock, cap: str
) -> tuple[list[VerifiedStatement], VerifiedStatement, VerifiedStatement]:
    """Alice (``cap`` 500) offers Carol 500 (``before``), then Bob 500, which Bob accepts ``GAP_MS`` later;
    she offers Carol 500 again (``during``) before the contract is performed and finished. Returns her
    contract's statements and the two offers, which a sparse view receives only after the contract."""
    alice, bob, carol = Party("alice", clock, {cap: 500}), Party("bob", clock), Party("carol", clock)
    before = alice.offer(carol)
    clock.advance(GAP_MS)
    offer = alice.offer(bob)
    clock.advance(GAP_MS)
    accept = bob.accept(offer)
    clock.advance(GAP_MS)
    during = alice.offer(carol)
    clock.advance(GAP_MS)
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    setup = [verify_statement(e) for p in (alice, bob, carol) for e in p.setup]
    return [*setup, offer, accept, da, db, bob.receipt(da), alice.receipt(db)], before, during


@pytest.mark.req("MND-009")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("cap", ["budget_per_period", "max_outstanding"])
def test_a_forgotten_contract_counts_as_a_held_one(clock: FixedClock, cap: str) -> None:
    """A peer forgets a finished negotiation (its statements stay in its journal); a statement of Alice's
    dated before that contract's Accept, or before its ending, then reaches it. Expect the verdicts of a
    peer that held the negotiation: her offer before the Accept valid (before, the forgotten contract
    still counted in its period for it: refused MND-009); her offer after the Accept, before the ending,
    refused (under max_outstanding: before, the forgotten contract counted toward outstanding for
    nothing, valid)."""
    contract, before, during = _forgetting_and_holding(clock, cap)
    verdicts = []
    for forget in (False, True):
        got = []
        for late in (before, during):  # each to a view of its own
            v = Verifier()
            for vs in contract:
                v.accept(vs.envelope)
            if forget:
                assert v.forget_negotiation(contract[-1].negotiation_id)
            got.append(_verdict(v, late))
        verdicts.append(got)
    assert verdicts == [["valid", "MANDATE_VIOLATION"]] * 2


@pytest.mark.req("MND-010")
def test_a_forgotten_answered_offer_counts_as_a_held_one(clock: FixedClock) -> None:
    """Bob rejects Alice's offer of 500 (max_outstanding 500) a second after it; a peer that forgot the
    negotiation still counts the offer for her next offer dated between the two, as one that held it."""
    alice, bob, carol = (
        Party("alice", clock, {"max_outstanding": 500}),
        Party("bob", clock),
        Party("c", clock),
    )
    first = alice.offer(bob)
    clock.advance(1)
    between = alice.offer(carol)
    clock.advance(GAP_MS)
    reject = bob.reject(first, "no")
    verdicts = []
    for forget in (False, True):
        v = _verifier(alice, bob, carol)
        for vs in (first, reject):
            v.accept(vs.envelope)
        if forget:
            v.forget_negotiation(first.negotiation_id)
            assert not v.exposure.exposure(first.mandate_digest).answered_offers
        verdicts.append(_verdict(v, between))
    assert verdicts == ["MANDATE_VIOLATION", "MANDATE_VIOLATION"]


@pytest.mark.req("MND-009")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("cap", ["budget_per_period", "max_outstanding"])
def test_a_forgotten_contract_read_back_from_the_journal_counts_as_a_held_one(
    clock: FixedClock, cap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As test_a_forgotten_contract_counts_as_a_held_one, for a peer whose exposure keeps no forgotten
    record in memory (FORGOTTEN_KEPT 0): they go to its journal at once (memory stays bounded) and a
    statement dated before one of them ends reads it back there. Same verdicts; and after a restart --
    from a snapshot of memory (pickled as a2a_coop.runtime.snapshot does, the journal reopened), or from
    nothing (the forgotten rows dropped, the statements replayed and forgotten again)."""
    monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 0)
    contract, before, during = _forgetting_and_holding(clock, cap)
    nid = contract[-1].negotiation_id
    for restart in ("none", "snapshot", "replay"):
        got = []
        for late in (before, during):
            path = tmp_path / f"{restart}-{late.digest.hex()}.db"
            journal = Journal.open(path, durability="normal")
            v = Verifier()
            v.use_archive(journal)
            for vs in contract:
                v.accept(vs.envelope)
            journal.record_batch([(vs, [], False) for vs in contract], at_ms=0)
            assert v.forget_negotiation(nid)
            exposures = v.exposure.by_mandate.values()
            assert not any(exp._frozen for exp in exposures)  # none left in memory
            assert any(exp._archived > mandate._NO_START for exp in exposures)
            if restart == "snapshot":
                buf = io.BytesIO()
                snapshot._Pickler(buf, {"archive": journal}, ()).dump(v)
                journal.close()
                journal = Journal.open(path, durability="normal")
                v = snapshot._Unpickler(io.BytesIO(buf.getvalue()), {"archive": journal}).load()
            elif restart == "replay":
                journal.close()
                journal = Journal.open(path, durability="normal")
                journal.drop_forgotten(0)  # as Peer._replay does from the start
                v = Verifier()
                replaying = _ReplayExposureArchive(journal)  # as Peer._replay reads it
                v.use_archive(replaying, replay=False)
                for rowid, _, envelope in journal.statements():
                    v.accept(envelope)
                    replaying.upto = rowid
                assert v.forget_negotiation(nid)
                assert not any(exp._frozen for exp in v.exposure.by_mandate.values())
                v.use_archive(journal)
            got.append(_verdict(v, late))
            journal.close()
        assert got == ["valid", "MANDATE_VIOLATION"], restart


# -- A witnessed Accept is dated too (SPEC 4.5, NEG-019): what it displaces counts for a statement it is
# -- not before


def _witnessed_later(
    clock: FixedClock, escrow: Party, caps: dict[str, int]
) -> tuple[
    Party, Party, Party, VerifiedStatement, VerifiedStatement, VerifiedStatement, list[VerifiedStatement]
]:
    """Alice's offer naming ``escrow``; Bob's Accept of it sent to her (a contract where Bob gives 450);
    Bob's next offer (500) to Carol a second later (Bob's Mandate ``caps``); then Bob's other Accept of
    Alice's offer, which the escrow stamps: witnessed, dated after Bob's next offer, it displaces the
    first contract (NEG-017). Returns the parties, the offer, Bob's first Accept, his next offer and the
    witnessed Accept with its Stamp."""
    alice, bob, carol = Party("alice", clock), Party("bob", clock, caps), Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    first = bob.accept(offer)
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    return alice, bob, carol, offer, first, nxt, [stamp, witnessed]


@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
@pytest.mark.req("MND-009")
@pytest.mark.parametrize("cap", ["max_outstanding", "budget_per_period"])
@pytest.mark.parametrize("witnessed_first", [False, True])
def test_a_contract_displaced_by_a_witnessed_accept_dated_after_a_statement_counts_for_it_in_either_order(
    clock: FixedClock, escrow: Party, cap: str, witnessed_first: bool
) -> None:
    """Bob's next offer (500; his cap 500) comes after his first Accept of Alice's offer (he gives 450)
    and before his witnessed Accept of it. For that offer the first contract still counts, whichever came
    first: refused MND-010 / MND-009 in both arrival orders -- before, a verifier shown the witnessed
    Accept first dropped the displaced contract for it (and the witnessed one had not started): valid."""
    alice, bob, carol, offer, first, nxt, witnessed = _witnessed_later(clock, escrow, {cap: 500})
    v = _verifier(alice, bob, carol, escrow)
    for vs in (offer, first):
        v.accept(vs.envelope)
    order = [*witnessed, nxt] if witnessed_first else [nxt, *witnessed]
    got = {vs.digest: _verdict(v, vs) for vs in order}
    assert got[nxt.digest] == "MANDATE_VIOLATION"
    assert got[witnessed[1].digest] == "valid"
    neg = v.negotiations.get(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == witnessed[1].digest
    exp = v.exposure.exposure(bob.mandate_vs.digest)
    t = nxt.issued_at_ms
    assert exp.outstanding(t, seq=nxt.seq) == 450  # the displaced contract, for a statement before it
    assert exp.outstanding(witnessed[1].issued_at_ms + 1) == 450  # the witnessed one, not both
    assert exp.committed(exp.period_of(t), t + 2 * GAP_MS) == 450


@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
def test_a_contract_displaced_by_a_witnessed_accept_dated_before_a_statement_counts_nowhere_for_it(
    clock: FixedClock, escrow: Party
) -> None:
    """The twin: Bob's witnessed Accept is dated before his next offer. For that offer the witnessed
    contract counts and the displaced one nowhere (cap 950 = 450 + 500: valid, not both counted); a
    verifier shown the witnessed Accept after the offer judged it with the first contract, of the same
    value (a partial view: the witnessed contract was not held yet)."""
    alice, bob, carol = (
        Party("alice", clock),
        Party("bob", clock, {"max_outstanding": 950}),
        Party("c", clock),
    )
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    first = bob.accept(offer)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    for witnessed_first in (False, True):
        v = _verifier(alice, bob, carol, escrow)
        for vs in (offer, first):
            v.accept(vs.envelope)
        order = [stamp, witnessed, nxt] if witnessed_first else [nxt, stamp, witnessed]
        got = {vs.digest: _verdict(v, vs) for vs in order}
        assert got[nxt.digest] == "valid"
        exp = v.exposure.exposure(bob.mandate_vs.digest)
        assert exp.outstanding(nxt.issued_at_ms, seq=nxt.seq) == 950  # the witnessed contract and the offer
        assert exp.outstanding(witnessed.issued_at_ms + 1) == 450  # one of the two contracts, never both
        assert exp.outstanding(witnessed.issued_at_ms - 1) == 450


@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize(
    "order", ["reject, offer, witnessed", "reject, witnessed, offer", "witnessed, reject, offer"]
)
def test_a_witnessed_accept_dated_after_a_statement_does_not_count_an_answered_offer_again_for_it(
    clock: FixedClock, escrow: Party, order: str
) -> None:
    """Bob rejects Alice's offer of 500 (max_outstanding 500, escrow named), she offers Carol 500, and
    Bob's witnessed Accept of the first offer is dated after that. For her offer, the first was answered
    before it and the witnessed contract starts after it: valid in every arrival order -- before, a
    verifier holding the witnessed Accept first counted the answered offer again until it: refused."""
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    carol = Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    reject = bob.reject(offer, "no")
    clock.advance(GAP_MS)
    nxt = alice.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    by_name = {"reject": [reject], "offer": [nxt], "witnessed": [stamp, witnessed]}
    v = _verifier(alice, bob, carol, escrow)
    v.accept(offer.envelope)
    got = {vs.digest: _verdict(v, vs) for name in order.split(", ") for vs in by_name[name]}
    assert got[nxt.digest] == "valid"
    assert got[witnessed.digest] == "valid"
    exp = v.exposure.exposure(alice.mandate_vs.digest)
    assert exp.outstanding(nxt.issued_at_ms, seq=nxt.seq) == 500  # her next offer itself, held
    assert exp.outstanding(witnessed.issued_at_ms + 1) == 1_000  # the witnessed contract and that offer


@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
def test_a_displaced_accept_held_only_after_the_witnessed_one_counts_for_a_statement_before_it(
    clock: FixedClock, escrow: Party
) -> None:
    """The arrival order left open (SPEC 4.5): the witnessed Accept first, then Bob's first Accept (taken
    superseded, NEG-018: no exposure), then his next offer dated between the two. A verifier that met the
    first Accept before the witnessed one counts the first contract for that offer (refused); this one
    formed no contract of the superseded Accept and finds it valid."""
    alice, bob, carol, offer, first, nxt, witnessed = _witnessed_later(
        clock, escrow, {"max_outstanding": 500}
    )
    v = _verifier(alice, bob, carol, escrow)
    v.accept(offer.envelope)
    got = {vs.digest: _verdict(v, vs) for vs in (*witnessed, first, nxt)}
    assert got[nxt.digest] == "MANDATE_VIOLATION"


@pytest.mark.req("NEG-019")
@pytest.mark.req("NEG-018")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("accepted", [False, True])
def test_a_cut_off_line_held_only_after_the_witnessed_accept_counts_as_held_first(
    clock: FixedClock, escrow: Party, accepted: bool
) -> None:
    """Bob counters Alice's offer (he gives 500; max_outstanding 500), Alice accepts his Counter (or not),
    Bob offers Carol 500, then his witnessed Accept of Alice's first offer cuts the line back. In every
    arrival order of the others (the Counter before Alice's Accept of it; his offer to Carol last) that
    offer is refused -- the Counter, or
    the contract of it, counts for it until the witnessed Accept's place -- and Bob's exposure reads the
    same at every place: a Counter or Accept taken superseded (NEG-018) counts as it would have, held
    before the witnessed Accept (SPEC 4.5)."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_outstanding": 500})
    carol = Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(GAP_MS)
    counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
    branch = [counter]
    if accepted:
        clock.advance(GAP_MS)
        branch.append(alice.accept(counter))
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    units = [*([vs] for vs in branch), [stamp, witnessed]]
    places = [(vs.issued_at_ms, vs.seq) for vs in (counter, *branch, nxt, witnessed)]
    places += [(vs.issued_at_ms + 1, None) for vs in (counter, *branch, nxt, witnessed)]
    seen = {}
    for order in itertools.permutations(units):
        if accepted and order.index([branch[1]]) < order.index([counter]):
            continue  # an Accept of a Counter not held yet is refused (NEG-005), in any view
        v = _verifier(alice, bob, carol, escrow)
        v.accept(offer.envelope)
        got = {vs.digest: _verdict(v, vs) for unit in (*order, [nxt]) for vs in unit}
        assert got[nxt.digest] == "MANDATE_VIOLATION"
        assert got[witnessed.digest] == "valid"
        exp = v.exposure.exposure(bob.mandate_vs.digest)
        seen[tuple(len(u) for u in order)] = [exp.outstanding(t, seq=s) for t, s in places]
    assert len(set(map(tuple, seen.values()))) == 1, seen


@pytest.mark.req("MND-010")
def test_a_chain_fed_backwards_costs_what_it_costs_forwards(clock: FixedClock) -> None:
    """A view fed Alice's 600 offers last first (a sparse view, an auditor replaying backwards) checks each
    against the offers that started after it -- none of which count for it (SPEC 4.5). Expect the same
    verdicts as forwards and about the same work: before, every check walked every later start held
    (quadratic: 25x the lines of a2a_coop executed forwards at 600 offers, about 10x the CPU); now a sweep
    of what has not started yet moves once. Counted in lines executed, not seconds, so that a busy machine
    cannot fail it (a timed bound did)."""
    caps = {"max_outstanding": 10**9, "budget_per_period": 10**9}
    alice, bob = Party("alice", clock, caps), Party("bob", clock)
    offers = []
    for _ in range(600):
        clock.advance(1)
        offers.append(alice.offer(bob))
    spent = {}
    for name, order in (("forwards", offers), ("backwards", offers[::-1])):
        v = _verifier(alice, bob)
        with _lines_executed() as lines:
            for vs in order:
                v.accept_statement(vs)
        spent[name] = lines[0]
        exp = v.exposure.exposure(alice.mandate_vs.digest)
        assert exp.outstanding(offers[299].issued_at_ms, seq=offers[299].seq) == 300 * 500
    assert spent["backwards"] < 1.5 * spent["forwards"], spent


@contextlib.contextmanager
def _lines_executed() -> Iterator[list[int]]:
    """Count the lines of the a2a_coop package executed inside the block (``[count]``, read after it)."""
    root = os.path.dirname(a2a_coop.__file__)
    count = [0]

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename.startswith(root) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)


def _over_cap_counter(
    clock: FixedClock, escrow: Party, *, accept: bool = False
) -> tuple[Party, Party, Party, Party, list[VerifiedStatement], VerifiedStatement, list[VerifiedStatement]]:
    """Bob (max_outstanding 1,000) offers Carol 600; Alice offers Bob naming ``escrow``; Bob counters it
    giving 500 -- over his cap (600 + 500), so a verifier meeting the Counter before the witnessed Accept
    refuses it (MND-010) -- or, with ``accept``, Bob counters giving 400 (it fits), Alice counters that
    and Bob accepts her Counter (he gives 450: 600 + 450 > 1,000, refused so); Bob offers Dave 400
    (600 + 400 fits); then Bob's Accept of Alice's
    first offer, witnessed, cuts the line back. Returns the parties, the statements before the cut-off
    line's statement, that statement, Bob's offer to Dave and the witnessed Accept with its Stamp."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_outstanding": 1_000})
    carol, dave = Party("carol", clock), Party("dave", clock)
    held = [bob.offer(carol, bob.proposal(gives=[_service(clock, 600)]))]
    clock.advance(GAP_MS)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    held.append(offer)
    clock.advance(GAP_MS)
    if accept:
        counter = bob.counter(offer, bob.proposal(gives=[_service(clock, 400)], escrow=escrow.did))
        clock.advance(GAP_MS)
        held += [counter, alice.counter(counter, alice.proposal(escrow=escrow.did))]
        clock.advance(GAP_MS)
        cut = bob.accept(held[-1])
    else:
        cut = bob.counter(offer, bob.proposal(escrow=escrow.did))
    clock.advance(GAP_MS)
    nxt = bob.offer(dave, bob.proposal(gives=[_service(clock, 400)]))
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    return alice, bob, carol, dave, held, cut, [nxt, stamp, witnessed]


def _service(clock: FixedClock, value: int) -> trade_pb2.Item:
    return service("code-review", value=value, deadline_ms=clock.now_ms + 86_400_000)


@pytest.mark.req("MND-022")
@pytest.mark.req("NEG-018")
@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("accept", [False, True])
def test_a_cut_off_statement_refused_on_its_issuers_caps_held_first_counts_nowhere_in_either_order(
    clock: FixedClock, escrow: Party, accept: bool
) -> None:
    """Bob's Counter of Alice's offer (or his Accept of her Counter) is over his max_outstanding when he
    signs it; his offer to Dave after it fits without it; his witnessed Accept of Alice's first offer, later
    still, cuts the line. A verifier that meets the Counter (Accept) before the witnessed Accept refuses it,
    holds nothing of it, and takes the offer to Dave. One that meets it after, taken superseded (NEG-018),
    counts it as held first -- or did: it counted it although held first it would have been refused, and
    refused the offer to Dave (an over-count). Expect, in every arrival order, the offer to Dave valid and
    Bob's exposure the same at every place."""
    alice, bob, carol, dave, held, cut, rest = _over_cap_counter(clock, escrow, accept=accept)
    nxt, stamp, witnessed = rest
    places = [(vs.issued_at_ms, vs.seq) for vs in (*held, cut, nxt, witnessed)]
    places += [(vs.issued_at_ms + 1, None) for vs in (*held, cut, nxt, witnessed)]
    seen = {}
    for cut_first in (True, False):
        v = _verifier(alice, bob, carol, dave, escrow)
        for vs in held:
            v.accept(vs.envelope)
        order = [cut, stamp, witnessed] if cut_first else [stamp, witnessed, cut]
        got = {vs.digest: _verdict(v, vs) for vs in (*order, nxt)}
        assert got[cut.digest] == ("MANDATE_VIOLATION" if cut_first else "valid")
        assert got[witnessed.digest] == "valid"
        assert got[nxt.digest] == "valid", cut_first
        exp = v.exposure.exposure(bob.mandate_vs.digest)
        seen[cut_first] = [exp.outstanding(t, seq=s) for t, s in places]
    assert seen[True] == seen[False], seen


@pytest.mark.req("MND-022")
@pytest.mark.req("NEG-009")
@pytest.mark.req("NEG-018")
@pytest.mark.parametrize("cut_first", [True, False])
def test_a_cut_off_accept_refused_on_neg_009_held_first_counts_nowhere(
    clock: FixedClock, escrow: Party, cut_first: bool
) -> None:
    """Alice holds a contract with Carol under exclusive_key K; in another negotiation she offers Bob (naming
    an escrow), Bob counters, Alice counters with K, and Bob accepts her Counter -- refused on NEG-009 by a
    verifier meeting it before Bob's witnessed Accept of Alice's first offer, which is dated after Bob's
    offer of 500 to Dave (max_outstanding 500). Expect that offer valid in both arrival orders: shown after
    the witnessed Accept, the refused Accept's contract (Bob gives 450) counts nowhere for it."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_outstanding": 500})
    carol, dave = Party("carol", clock), Party("dave", clock)
    key = b"the-one-car"
    to_carol = alice.offer(carol, alice.proposal(exclusive_key=key))
    held = [to_carol, carol.accept(to_carol)]
    clock.advance(GAP_MS)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    counter = bob.counter(offer, bob.proposal(gives=[_service(clock, 0)], escrow=escrow.did))
    clock.advance(GAP_MS)
    keyed = alice.counter(counter, alice.proposal(escrow=escrow.did, exclusive_key=key))
    held += [offer, counter, keyed]
    clock.advance(GAP_MS)
    cut = bob.accept(keyed)
    clock.advance(GAP_MS)
    nxt = bob.offer(dave, bob.proposal(gives=[_service(clock, 500)]))
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    v = _verifier(alice, bob, carol, dave, escrow)
    for vs in held:
        v.accept(vs.envelope)
    order = [cut, stamp, witnessed] if cut_first else [stamp, witnessed, cut]
    got = {vs.digest: _verdict(v, vs) for vs in (*order, nxt)}
    assert got[cut.digest] == ("EXCLUSIVE_CONFLICT" if cut_first else "valid")
    assert got[nxt.digest] == "valid"
    exp = v.exposure.exposure(bob.mandate_vs.digest)
    assert exp.outstanding(nxt.issued_at_ms, seq=nxt.seq) == 500  # the offer itself, not the contract


@pytest.mark.req("MND-023")
@pytest.mark.req("NEG-018")
@pytest.mark.req("NEG-019")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("at", range(5))
def test_a_displaced_contracts_ending_held_only_after_the_witnessed_accept_ends_it_as_held_first(
    clock: FixedClock, escrow: Party, at: int
) -> None:
    """Bob (max_outstanding 500) accepts Alice's offer naming an escrow (he gives 450); both deliver and
    receipt, so the contract is finished; Bob offers Carol 500; then his Accept of Alice's offer, witnessed,
    displaces that contract. A verifier meeting the witnessed Accept before some of the contract's
    Deliveries and Receipts takes them superseded (NEG-018): before, they did not end the displaced
    contract, which counted for the offer to Carol until the witnessed Accept's place (refused, where a
    verifier meeting them in order takes it). Expect the offer valid wherever the witnessed Accept comes
    among them, and Bob's exposure the same at every place."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_outstanding": 500})
    carol = Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    first = bob.accept(offer)
    clock.advance(GAP_MS)
    da, db = alice.deliver(first, bob), bob.deliver(first, alice)
    clock.advance(GAP_MS)
    performed = [da, db, bob.receipt(da), alice.receipt(db)]
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    places = [(vs.issued_at_ms, vs.seq) for vs in (first, *performed, nxt, witnessed)]
    places += [(vs.issued_at_ms + 1, None) for vs in (first, *performed, nxt, witnessed)]
    seen = []
    for order in ([*performed, stamp, witnessed], [*performed[:at], stamp, witnessed, *performed[at:]]):
        v = _verifier(alice, bob, carol, escrow)
        for vs in (offer, first):
            v.accept(vs.envelope)
        got = {vs.digest: _verdict(v, vs) for vs in (*order, nxt)}
        assert set(got.values()) == {"valid"}, got
        exp = v.exposure.exposure(bob.mandate_vs.digest)
        seen.append([exp.outstanding(t, seq=s) for t, s in places])
    assert seen[0] == seen[1]
    assert seen[0][places.index((nxt.issued_at_ms, nxt.seq))] == 500  # the offer alone: the contract ended


@pytest.mark.req("MND-023")
@pytest.mark.req("NEG-018")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_displaced_contracts_revoke_held_only_after_the_witnessed_accept_ends_it_as_held_first(
    clock: FixedClock, escrow: Party, order: tuple[int, ...]
) -> None:
    """As the Receipts case, the displaced contract ended by Alice's Revoke (its terms allow one), in effect
    from the escrow's Stamp of it: in every arrival order of the witnessed Accept, the Revoke and its Stamp
    -- the Stamp before the Revoke too, or after it, when the witnessed Accept has already displaced the
    contract -- Bob's offer to Carol, after that Stamp and before the witnessed Accept, fits his cap."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_outstanding": 500})
    carol = Party("carol", clock)
    terms = alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))
    offer = alice.offer(bob, terms)
    first = bob.accept(offer)
    clock.advance(GAP_MS)
    revoke = alice.revoke(first, bob)
    took = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest]))
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    units = [[stamp, witnessed], [revoke], [took]]
    v = _verifier(alice, bob, carol, escrow)
    for vs in (offer, first):
        v.accept(vs.envelope)
    got = {vs.digest: _verdict(v, vs) for i in order for vs in units[i]}
    assert set(got.values()) == {"valid"}, got
    assert _verdict(v, nxt) == "valid"


@pytest.mark.req("MND-024", "MND-009", "MND-010")
@pytest.mark.parametrize("archived", [False, True])
def test_a_forgotten_displaced_contract_counts_and_moves_as_a_held_one(
    monkeypatch: pytest.MonkeyPatch, archived: bool
) -> None:
    """escrowmem26, exposure level: a contract displaced (NEG-017, NEG-021) stayed in the sweeps when its
    negotiation was forgotten -- its period's share dated by the displacement had no forgotten record. Now it
    leaves them with a record of that share beside the contract's; it counts, toward outstanding and in its
    period, as in an exposure that forgot nothing, before and after an earlier displacement and ending read
    back late, and forgotten again. ``archived``: the records were in the archive (FORGOTTEN_KEPT 0)."""
    if archived:
        monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 0)
    held, forgot = Exposure(period_ms=5_000), Exposure(period_ms=5_000)
    if archived:
        forgot.archive, forgot.name = _RowsArchive(), b"m"  # type: ignore[assignment]
    for exp in (held, forgot):
        exp.contract_formed(b"d", 500, 1_000, counts_until=10_000, start=(1_000, -1))
        exp.contract_formed(b"e", 200, 1_500, counts_until=10_000, start=(1_500, -1))
        exp.contract_displaced(b"d", (4_000, -1))
    places = [(t, seq) for t in range(0, 11_000, 250) for seq in (-1, 0, None)]

    def same() -> None:
        for t, seq in places:
            assert forgot.outstanding(t, seq=seq) == held.outstanding(t, seq=seq), (t, seq)
            for period in (0, 1):
                assert forgot.committed(period, t, seq=seq) == held.committed(period, t, seq=seq), (t, seq)

    forgot.contract_forgotten(b"d")
    assert b"d" not in forgot._contracts.items and b"d" not in forgot._displaced.items  # left the sweeps
    assert held.committed(0, 3_000) == 700 and held.committed(0, 5_000) == 200  # d's share until 4,000
    same()
    for exp in (held, forgot):
        exp.contract_displaced(b"d", (2_500, -1))  # an earlier displacement, read back late
        exp.contract_ended(b"d", (2_000, -1))  # and an earlier ending
    assert b"d" in forgot._displaced.items  # read back with its share, moved as a held one
    same()
    forgot.contract_forgotten(b"d")
    same()


@pytest.mark.req("MND-024")
@pytest.mark.req("MND-022")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("keep", ["memory", "journal"])
def test_a_forgotten_negotiations_cut_off_line_counts_a_late_accept_as_a_held_one(
    clock: FixedClock, escrow: Party, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    """Bob counters Alice's offer (naming an escrow); his Accept of her offer, witnessed, cuts the line; its
    contract is performed and the negotiation finished, and a peer forgets it (its journal keeps it). Then
    Alice's Accept of Bob's Counter -- dated before the witnessed Accept, taken superseded (NEG-018) --
    arrives: it continues the cut-off line's open end (the Counter) and counts, for a statement between the
    two, as held first (Alice gives 450 from it; her max_outstanding 500). Before, the negotiation read back
    from the journal did not rebuild its open end: the Accept counted nowhere, and Alice's offer of 100 to
    Carol between the two was valid where a peer that never forgot refuses it. Expect the same verdict and
    the same exposure at every place in both (``keep``: the forgotten records in memory, or all in the
    journal)."""
    if keep == "journal":
        monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 0)
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    carol = Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did, gives=[_service(clock, 0)]))
    clock.advance(GAP_MS)
    counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
    clock.advance(GAP_MS)
    late = alice.accept(counter)
    clock.advance(GAP_MS)
    nxt = alice.offer(carol, alice.proposal(gives=[_service(clock, 100)]))
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    clock.advance(GAP_MS)
    da, db = alice.deliver(witnessed, bob), bob.deliver(witnessed, alice)
    performed = [da, db, bob.receipt(da), alice.receipt(db)]
    held = [offer, counter, stamp, witnessed, *performed]
    places = [(vs.issued_at_ms, vs.seq) for vs in (offer, counter, late, nxt, witnessed)]
    places += [(vs.issued_at_ms + 1, None) for vs in (offer, counter, late, nxt, witnessed)]
    seen = _kept_and_forgotten(
        tmp_path, (alice, bob, carol, escrow), held, late=late, nxt=nxt, measured=(alice, bob), places=places
    )
    assert seen[False][1] == "MANDATE_VIOLATION"
    assert seen[True] == seen[False], seen


@pytest.mark.req("MND-024")
@pytest.mark.req("NEG-018")
@pytest.mark.req("MND-010")
@pytest.mark.parametrize("keep", ["memory", "journal"])
def test_a_forgotten_negotiations_accepted_offer_is_answered_by_a_late_counter_as_a_held_one(
    clock: FixedClock, escrow: Party, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    """Alice (max_outstanding 500) offers Bob 500 naming an escrow; Bob's Accept of it, witnessed, forms the
    contract, which is performed, and a peer forgets the negotiation. Then Bob's Counter of that offer,
    dated before the Accept, arrives (taken superseded, NEG-018: it answers the cut-off line's open end, the
    accepted offer): for Alice's offer of 500 to Carol, dated between the two, her first offer was answered
    before it (valid). Before, the forgotten offer's record was not moved by the late Counter: it counted
    until the Accept and refused that offer, where a peer that never forgot takes it. Expect the same
    verdict and the same exposure at every place (``keep`` as in the test before)."""
    if keep == "journal":
        monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 0)
    alice, bob = Party("alice", clock, {"max_outstanding": 500}), Party("bob", clock)
    carol = Party("carol", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(GAP_MS)
    late = bob.counter(offer, bob.proposal(escrow=escrow.did))
    clock.advance(GAP_MS)
    nxt = alice.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[witnessed.digest]))
    clock.advance(GAP_MS)
    da, db = alice.deliver(witnessed, bob), bob.deliver(witnessed, alice)
    held = [offer, stamp, witnessed, da, db, bob.receipt(da), alice.receipt(db)]
    places = [(vs.issued_at_ms, vs.seq) for vs in (offer, late, nxt, witnessed, da)]
    places += [(vs.issued_at_ms + 1, None) for vs in (offer, late, nxt, witnessed, da)]
    seen = _kept_and_forgotten(
        tmp_path, (alice, bob, carol, escrow), held, late=late, nxt=nxt, measured=(alice,), places=places
    )
    assert seen[False][1] == "valid"
    assert seen[True] == seen[False], seen


def _kept_and_forgotten(
    tmp_path: Path,
    parties: tuple[Party, ...],
    held: list[VerifiedStatement],
    *,
    late: VerifiedStatement,
    nxt: VerifiedStatement,
    measured: tuple[Party, ...],
    places: list[tuple[int, int | None]],
) -> dict[bool, tuple[list[int], str]]:
    """Two verifiers with a journal take ``held`` (a finished contract's negotiation); the second forgets
    the negotiation (its journal keeps it). Each then takes the ``late`` statement (valid), and reports
    the exposure of the ``measured`` parties' Mandates at every place, and its verdict on ``nxt``, keyed
    by whether it forgot."""
    seen = {}
    nid = held[0].negotiation_id
    for forget in (False, True):
        journal = Journal.open(tmp_path / f"{forget}.db", durability="normal")
        v = _verifier(*parties)
        v.use_archive(journal)
        for vs in held:
            v.accept(vs.envelope)
        journal.record_batch([(vs, [], False) for vs in held], at_ms=0)
        assert v.negotiations.get(nid).contract_finished
        if forget:
            assert v.forget_negotiation(nid)
        assert _verdict(v, late) == "valid"
        journal.record_batch([(late, [], False)], at_ms=0)
        counts = [
            v.exposure.exposure(p.mandate_vs.digest).outstanding(t, seq=s)
            for p in measured
            for t, s in places
        ]
        seen[forget] = (counts, _verdict(v, nxt))
        journal.close()
    return seen


class _RowsArchive:
    """An ExposureArchive in memory (the journal's rows, without the journal)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}

    def keep_forgotten(self, records: Any) -> None:
        for book, key, latest, record in records:
            self.rows[(book, key)] = (latest, record)

    def forgotten_since(self, book: bytes, latest: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, r) for (b, k), (at, r) in self.rows.items() if b == book and at >= latest]

    def drop_forgotten(self, after: int) -> None:
        self.rows.clear()


@pytest.mark.req("MND-024")
@pytest.mark.parametrize("archived", [False, True])
def test_a_forgotten_record_moves_as_a_held_one_when_its_negotiation_is_read_back(
    monkeypatch: pytest.MonkeyPatch, archived: bool
) -> None:
    """Exposure level: a forgotten contract ended sooner, a forgotten contract displaced, a forgotten answered
    offer answered sooner -- each by a statement of its negotiation read back and taken late -- count as held
    ones would (before, a forgotten record never moved: each counted until its old end). ``archived``: the
    records were in the archive, none in memory (FORGOTTEN_KEPT 0)."""
    if archived:
        monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 0)
    exp = Exposure()
    if archived:
        exp.archive, exp.name = _RowsArchive(), b"m"  # type: ignore[assignment]
    for key in (b"c", b"d"):
        exp.contract_formed(key, 500, 1_000, counts_until=10_000, start=(1_000, -1))
        exp.contract_ended(key, (4_000, -1))
        exp.contract_forgotten(key)
    exp.offer_live(b"o", 300, 500, 9_000, seq=1)
    exp.offer_answered(b"o", (6_000, -1))
    exp.answer_forgotten(b"o")
    assert bool(exp._frozen) is not archived
    assert exp.outstanding(3_000) == 1_300 and exp.outstanding(5_000) == 300
    exp.contract_ended(b"c", (2_000, -1))  # an earlier ending, read back late
    exp.contract_displaced(b"d", (2_500, -1))  # a witnessed Accept, read back late
    exp.offer_answered(b"o", (3_500, -1))  # an earlier answer, read back late
    assert [exp.outstanding(t) for t in (1_500, 2_200, 3_000, 3_700, 5_000)] == [1_300, 800, 300, 0, 0]
    assert exp.committed(0, 3_000) == 800  # c's and o's shares; d's left with its displacement
    assert exp.committed(0, 2_000) == 1_300
    exp.contract_forgotten(b"c")
    exp.contract_forgotten(b"d")
    exp.answer_forgotten(b"o")  # forgotten again: the same counts
    assert [exp.outstanding(t) for t in (1_500, 2_200, 3_000, 3_700, 5_000)] == [1_300, 800, 300, 0, 0]


@pytest.mark.req("MND-024")
@pytest.mark.req("MND-022")
@pytest.mark.req("MND-010")
def test_a_forgotten_negotiation_read_back_keeps_a_refused_counter_off_its_cut_off_line(
    clock: FixedClock, escrow: Party, tmp_path: Path
) -> None:
    """Bob's over-cap Counter, taken superseded after his witnessed Accept, counts nowhere and leaves the
    cut-off line's open end where it was (MND-022); the witnessed contract is performed and a peer forgets
    the negotiation. Read back from the journal, the negotiation replays the Counter as continuing the
    line -- before, the open end moved to it, and Alice's Accept of it, dated before the witnessed Accept and
    taken late, counted a contract (Bob 500, Alice 450) that a peer that never forgot counts nowhere.
    Expect both peers' exposures of Alice and Bob the same at every place."""
    alice, bob, carol, dave, held, cut, (nxt, stamp, witnessed) = _over_cap_counter(clock, escrow)
    offer = held[1]
    late = alice.accept(cut, issued_at_ms=cut.issued_at_ms + 1)
    clock.advance(GAP_MS)
    da, db = alice.deliver(witnessed, bob), bob.deliver(witnessed, alice)
    shown = [*held, stamp, witnessed, cut, nxt, da, db, bob.receipt(da), alice.receipt(db)]
    places = [(vs.issued_at_ms, vs.seq) for vs in (offer, cut, late, nxt, witnessed)]
    places += [(vs.issued_at_ms + 1, None) for vs in (offer, cut, late, nxt, witnessed)]
    seen = {}
    for forget in (False, True):
        journal = Journal.open(tmp_path / f"{forget}.db", durability="normal")
        v = _verifier(alice, bob, carol, dave, escrow)
        v.use_archive(journal)
        for vs in shown:
            v.accept(vs.envelope)
        journal.record_batch([(vs, [], False) for vs in shown], at_ms=0)
        if forget:
            assert v.forget_negotiation(offer.negotiation_id)
        assert _verdict(v, late) == "valid"  # taken superseded (NEG-018)
        seen[forget] = [
            v.exposure.exposure(p.mandate_vs.digest).outstanding(t, seq=s)
            for p in (alice, bob)
            for t, s in places
        ]
        journal.close()
    assert seen[True] == seen[False], seen
