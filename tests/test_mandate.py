"""Mandates: what a principal lets its agent sign (SPEC section 4, MND-002..MND-014)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol import mandate
from a2a_coop.protocol.errors import CoopError, KeyRevoked, MandateUnknown, MandateViolation
from a2a_coop.protocol.mandate import (
    Exposure,
    ExposureBook,
    check_against_mandate,
    committed_value,
    side_value,
)
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, State
from a2a_coop.protocol.statements import Statement, VerifiedStatement, new_statement, sign_candidate
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, service


def _verifier(*parties: Party) -> Verifier:
    v = Verifier()
    for p in parties:
        for env in p.setup:
            v.accept(env)
    return v


def _deal(
    p: Party,
    give: int,
    want: int = 0,
    *,
    category: str = "code-review",
    deadline: int | None = None,
    **kw: Any,
) -> trade_pb2.Offer:
    """A proposal where ``p`` gives ``give`` and asks for ``want`` (declared values)."""
    deadline = deadline or p.clock.now_ms + DAY_MS
    return p.proposal(
        gives=[service(category, value=give, deadline_ms=deadline)],
        wants=[service("copy-editing", value=want, deadline_ms=deadline)],
        **kw,
    )


def _violation(v: Verifier, vs: VerifiedStatement) -> str:
    with pytest.raises(MandateViolation) as err:
        v.accept(vs.envelope)
    return err.value.requirement


def _with(clock: FixedClock, name: str, **caps: Any) -> Party:
    return Party(name, clock, mandate_caps=caps)


# --- MND-002: known and bound --------------------------------------------------------------------


@pytest.mark.req("MND-002")
def test_statement_under_a_mandate_the_verifier_does_not_hold_is_refused(alice: Party, bob: Party) -> None:
    """Bob's verifier never saw Alice's mandate; expect MANDATE_UNKNOWN for her offer."""
    v = Verifier(me=bob.did)
    with pytest.raises(MandateUnknown) as err:
        v.accept(alice.offer(bob).envelope)
    assert err.value.requirement == "MND-002"


@pytest.mark.req("MND-002")
def test_agent_cannot_trade_under_another_agents_mandate(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Bob's agent cites Alice's mandate (which delegates to Alice's key); expect MANDATE_VIOLATION."""
    stolen = bob.sign("offer", bob.proposal(), audience=alice.did, mandate=alice.mandate_vs.digest)
    assert _violation(auditor, stolen) == "MND-002"


# --- MND-003: validity window ----------------------------------------------------------------------


@pytest.mark.req("MND-003")
def test_mandate_window_is_inclusive_at_start_and_exclusive_at_end(clock: FixedClock, bob: Party) -> None:
    """A mandate valid [T, T + 1 day); offers issued at T - 1, T, T + 1 day - 1 and T + 1 day; expect the
    first and last to be MANDATE_VIOLATION."""
    start = clock.now_ms
    alice = _with(clock, "alice", valid_from_ms=start, valid_until_ms=start + DAY_MS)
    v = _verifier(alice, bob)
    for at, ok in ((start - 1, False), (start, True), (start + DAY_MS - 1, True), (start + DAY_MS, False)):
        offer = alice.offer(bob, _deal(alice, 10, deadline=start + DAY_MS - 1), issued_at_ms=at)
        if ok:
            v.accept(offer.envelope)
        else:
            assert _violation(v, offer) == "MND-003"


# --- MND-004: per-deal range ----------------------------------------------------------------------


@pytest.mark.req("MND-004")
def test_offer_over_max_per_deal_is_refused_and_the_bond_counts(
    clock: FixedClock, bob: Party, escrow: Party
) -> None:
    """max_per_deal = 1000: giving 1000 passes; 1001 fails; 900 plus a bond of 101 fails too."""
    alice = _with(clock, "alice", max_per_deal=1000)
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, 1000)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 1001))) == "MND-004"
    bonded = _deal(alice, 900, issuer_bond=101, escrow=escrow.did)
    assert _violation(v, alice.offer(bob, bonded)) == "MND-004"


@pytest.mark.req("MND-004")
def test_offer_under_min_per_deal_is_refused(clock: FixedClock, bob: Party) -> None:
    """min_per_deal = 100: giving 99 is MANDATE_VIOLATION, 100 passes."""
    alice = _with(clock, "alice", min_per_deal=100)
    v = _verifier(alice, bob)
    assert _violation(v, alice.offer(bob, _deal(alice, 99))) == "MND-004"
    v.accept(alice.offer(bob, _deal(alice, 100)).envelope)


@pytest.mark.req("MND-004")
def test_zero_cap_means_zero_not_unlimited(clock: FixedClock, bob: Party) -> None:
    """A mandate with max_per_deal = 0; expect an offer of value 1 refused and of value 0 accepted."""
    alice = _with(clock, "alice", max_per_deal=0)
    v = _verifier(alice, bob)
    assert _violation(v, alice.offer(bob, _deal(alice, 1))) == "MND-004"
    v.accept(alice.offer(bob, _deal(alice, 0, want=5)).envelope)


@pytest.mark.req("MND-004")
def test_counter_proposal_is_held_to_the_counterers_cap(clock: FixedClock, alice: Party) -> None:
    """Bob (max_per_deal 300) counters Alice's offer promising 301; expect MANDATE_VIOLATION."""
    bob = _with(clock, "bob", max_per_deal=300)
    v = _verifier(alice, bob)
    offer = alice.offer(bob, _deal(alice, 500, want=100))
    v.accept(offer.envelope)
    assert _violation(v, bob.counter(offer, _deal(bob, 301, want=500))) == "MND-004"
    v.accept(bob.counter(offer, _deal(bob, 300, want=500)).envelope)


@pytest.mark.req("MND-004")
def test_accept_is_held_to_the_side_the_acceptor_gives(
    clock: FixedClock, alice: Party, escrow: Party
) -> None:
    """Alice asks Bob (max_per_deal 500) for work worth 450 plus a bond of 100; expect Bob's Accept
    refused (550 > 500), although the value Alice gives is small."""
    bob = _with(clock, "bob", max_per_deal=500)
    v = _verifier(alice, bob)
    offer = alice.offer(bob, _deal(alice, 10, want=450, audience_bond=100, escrow=escrow.did))
    v.accept(offer.envelope)
    assert _violation(v, bob.accept(offer)) == "MND-004"
    fair = alice.offer(bob, _deal(alice, 10, want=450))
    v.accept(fair.envelope)
    v.accept(bob.accept(fair).envelope)


# --- MND-005..MND-008 ------------------------------------------------------------------------------


@pytest.mark.req("MND-005")
def test_audience_outside_allowed_counterparties_is_refused(clock: FixedClock, bob: Party) -> None:
    """Alice may trade only with Bob; an offer to Carol is MANDATE_VIOLATION, to Bob it passes."""
    carol = Party("carol", clock)
    alice = _with(clock, "alice", allowed_counterparties=[bob.did])
    v = _verifier(alice, bob, carol)
    assert _violation(v, alice.offer(carol)) == "MND-005"
    v.accept(alice.offer(bob).envelope)


@pytest.mark.req("MND-006")
@pytest.mark.parametrize("side", ["gives", "wants"])
def test_category_outside_allowed_categories_is_refused(clock: FixedClock, bob: Party, side: str) -> None:
    """Alice may only trade code-review and copy-editing; an item of 'gpu-hours' on either side is
    MANDATE_VIOLATION."""
    alice = _with(clock, "alice", allowed_categories=["code-review", "copy-editing"])
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob).envelope)
    proposal = alice.proposal()
    getattr(proposal, side)[0].category = "gpu-hours"
    assert _violation(v, alice.offer(bob, proposal)) == "MND-006"


@pytest.mark.req("MND-007")
def test_offer_in_another_currency_is_refused(alice: Party, bob: Party, auditor: Verifier) -> None:
    """Alice's mandate counts in 'credit'; an offer priced in 'usd' is MANDATE_VIOLATION."""
    proposal = alice.proposal()
    proposal.terms.currency = "usd"
    assert _violation(auditor, alice.offer(bob, proposal)) == "MND-007"


@pytest.mark.req("MND-008")
def test_deadline_after_the_execution_window_is_refused(clock: FixedClock, bob: Party) -> None:
    """execution_window_end_ms = T + 2 days: a deadline at T + 2 days passes, 1 ms later fails."""
    end = clock.now_ms + 2 * DAY_MS
    alice = _with(clock, "alice", execution_window_end_ms=end)
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, 10, deadline=end)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 10, deadline=end + 1))) == "MND-008"


@pytest.mark.req("MND-008")
def test_without_an_execution_window_the_mandate_end_bounds_deadlines(clock: FixedClock, bob: Party) -> None:
    """execution_window_end_ms = 0 and valid_until = T + 3 days; a deadline after that is refused."""
    until = clock.now_ms + 3 * DAY_MS
    alice = _with(clock, "alice", valid_until_ms=until)
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, 10, deadline=until)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 10, deadline=until + 1))) == "MND-008"


# --- MND-009, MND-010: budget and ratchet ----------------------------------------------------------


@pytest.mark.req("MND-010")
def test_outstanding_value_is_capped_across_offers(clock: FixedClock, bob: Party) -> None:
    """max_outstanding = 1000: offers of 400 and 600 pass; a third of 1 is refused (MND-010)."""
    alice = _with(clock, "alice", max_outstanding=1000)
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, 400)).envelope)
    v.accept(alice.offer(bob, _deal(alice, 600)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 1))) == "MND-010"


@pytest.mark.req("MND-010", "ERR-003")
@pytest.mark.parametrize("end", ["withdraw", "reject"])
def test_withdrawn_or_rejected_offer_frees_exposure(clock: FixedClock, bob: Party, end: str) -> None:
    """At the cap, Alice withdraws one offer (or Bob rejects it); expect room for a new one of that value."""
    alice = _with(clock, "alice", max_outstanding=1000)
    v = _verifier(alice, bob)
    first = alice.offer(bob, _deal(alice, 600))
    v.accept(first.envelope)
    v.accept(alice.offer(bob, _deal(alice, 400)).envelope)
    blocked = alice.offer(bob, _deal(alice, 600))
    assert _violation(v, blocked) == "MND-010"
    v.accept((alice.withdraw(first) if end == "withdraw" else bob.reject(first)).envelope)
    assert v.exposure.exposure(alice.mandate_vs.digest).outstanding(clock.now_ms) == 400
    v.accept(alice.offer(bob, _deal(alice, 600)).envelope)


@pytest.mark.req("MND-010")
def test_contract_counts_until_it_is_fulfilled(clock: FixedClock, alice: Party) -> None:
    """Bob (max_outstanding 1000) accepts work worth 800: his next offer of 300 is refused. After both
    sides deliver and receipt, the contract no longer counts and the offer passes."""
    bob = _with(clock, "bob", max_outstanding=1000)
    v = _verifier(alice, bob)
    offer = alice.offer(bob, _deal(alice, 100, want=800))
    accept = bob.accept(offer)
    v.accept(offer.envelope)
    v.accept(accept.envelope)
    assert _violation(v, bob.offer(alice, _deal(bob, 300))) == "MND-010"
    d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
    for vs in (d1, d2, bob.receipt(d1), alice.receipt(d2)):
        v.accept(vs.envelope)
    v.accept(bob.offer(alice, _deal(bob, 300)).envelope)


@pytest.mark.req("MND-010")
def test_counter_replaces_the_outstanding_offer_in_the_exposure(clock: FixedClock, bob: Party) -> None:
    """Alice (max_outstanding 1000) offers 700; Bob counters; Alice's offer is no longer live, so she
    can offer 700 elsewhere."""
    alice = _with(clock, "alice", max_outstanding=1000)
    v = _verifier(alice, bob)
    offer = alice.offer(bob, _deal(alice, 700))
    v.accept(offer.envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 700))) == "MND-010"
    v.accept(bob.counter(offer, _deal(bob, 10, want=700)).envelope)
    v.accept(alice.offer(bob, _deal(alice, 700)).envelope)


@pytest.mark.req("MND-009")
def test_budget_per_period_counts_offers_and_contracts_and_resets_next_period(
    clock: FixedClock, bob: Party
) -> None:
    """Budget 1000 per 10-day period: offers of 400 and 500 pass, 200 more fails (MND-009); in the next
    period the same offer passes. The first offer lives a whole period (MND-013's limit)."""
    alice = _with(
        clock,
        "alice",
        budget_per_period=1000,
        period_ms=10 * DAY_MS,
        max_outstanding=10**6,
        valid_from_ms=clock.now_ms,
    )
    v = _verifier(alice, bob)
    first = alice.offer(bob, _deal(alice, 400), ttl_ms=10 * DAY_MS)
    v.accept(first.envelope)
    v.accept(bob.accept(first).envelope)  # a formed contract counts at the Accept's time
    v.accept(alice.offer(bob, _deal(alice, 500)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 200))) == "MND-009"
    clock.advance(10 * DAY_MS)
    v.accept(alice.offer(bob, _deal(alice, 200, deadline=clock.now_ms + DAY_MS)).envelope)


@pytest.mark.req("MND-009")
def test_withdrawn_offer_no_longer_uses_the_budget(clock: FixedClock, bob: Party) -> None:
    """Budget 1000: an offer of 800 is withdrawn; expect another offer of 800 in the same period to pass."""
    alice = _with(clock, "alice", budget_per_period=1000, max_outstanding=10**6)
    v = _verifier(alice, bob)
    first = alice.offer(bob, _deal(alice, 800))
    v.accept(first.envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, 800))) == "MND-009"
    v.accept(alice.withdraw(first).envelope)
    v.accept(alice.offer(bob, _deal(alice, 800)).envelope)


@pytest.mark.req("MND-009", "MND-010")
def test_expired_offer_frees_outstanding_and_budget(clock: FixedClock, bob: Party) -> None:
    """Alice's offer of 800 lapses unanswered; expect it to count neither as outstanding nor against
    the period budget (only still-live offers do), so a new offer of 800 passes."""
    alice = _with(clock, "alice", budget_per_period=1000, max_outstanding=1000)
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, 800), ttl_ms=60_000).envelope)
    clock.advance(60_001)
    v.accept(alice.offer(bob, _deal(alice, 800)).envelope)


@pytest.mark.req("MND-009", "MND-010")
def test_fulfilled_contract_frees_outstanding_but_not_the_budget(clock: FixedClock, alice: Party) -> None:
    """Bob (budget 1000, max_outstanding 1000) performs a contract worth 800; expect room for 800
    outstanding again, but the period budget still holds the 800 (value committed in the window)."""
    bob = _with(clock, "bob", budget_per_period=1000, max_outstanding=1000)
    v = _verifier(alice, bob)
    offer = alice.offer(bob, _deal(alice, 100, want=800))
    accept = bob.accept(offer)
    d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
    for vs in (offer, accept, d1, d2, bob.receipt(d1), alice.receipt(d2)):
        v.accept(vs.envelope)
    assert v.exposure.exposure(bob.mandate_vs.digest).outstanding(clock.now_ms) == 0
    assert _violation(v, bob.offer(alice, _deal(bob, 800))) == "MND-009"
    v.accept(bob.offer(alice, _deal(bob, 200)).envelope)


# --- MND-009 revised: an offer reserves budget in every period it overlaps --------------------------
# (MND-013 and MND-014 are not in SPEC.md yet; their tests carry the markers of the rules they serve.)


def _budgeted(clock: FixedClock, name: str, budget: int = 100) -> Party:
    """An agent with ``budget`` per one-day period, period 0 starting now, and room under every other cap."""
    return _with(
        clock,
        name,
        budget_per_period=budget,
        period_ms=DAY_MS,
        valid_from_ms=clock.now_ms,
        max_outstanding=10**9,
        max_per_deal=10_000,
    )


def _unsigned(
    p: Party,
    body: str,
    message: Any,
    *,
    to: Party,
    reply_to: VerifiedStatement | None = None,
    ttl_ms: int = 60_000,
) -> VerifiedStatement:
    """What ``p``'s policy guard checks: the statement stamped for its chain, not yet signed."""
    stmt = new_statement(
        body,
        message,
        issued_at_ms=p.clock.now_ms,
        ttl_ms=ttl_ms,
        audience=to.did,
        negotiation_id=b"" if reply_to is None else reply_to.header.negotiation_id,
        mandate=p.mandate_vs.digest,
        refs=[] if reply_to is None else [reply_to.digest],
    )
    return p.agent.writer.stamp(stmt, nonce=p.agent.next_nonce())


def _guard_and_auditor(*parties: Party, me: Party) -> tuple[Verifier, Verifier]:
    guard, auditor = Verifier(me=me.did), Verifier()
    for v in (guard, auditor):
        for p in parties:
            for env in p.setup:
                v.accept(env)
    return guard, auditor


def _refused(v: Verifier, vs: VerifiedStatement) -> str:
    with pytest.raises(MandateViolation) as err:
        v.check(vs, ours=vs.issuer == v.me)  # a guard checks its own candidate (MND-011)
    return err.value.requirement


def _take(v: Verifier, vs: VerifiedStatement, now_ms: int | None = None) -> None:
    """``v`` accepts ``vs``: a guard's own statements come from its own journal (ours)."""
    v.accept(vs.envelope, now_ms, ours=vs.issuer == v.me)


@pytest.mark.req("MND-009", "MND-011")
def test_offer_late_in_one_period_blocks_a_full_deal_in_the_next(clock: FixedClock, bob: Party) -> None:
    """The attack: budget 100 a day. A minute before period 1, Alice offers 100 for two minutes. In
    period 1, a second deal of 100 (her own offer, or her Accept of Bob's offer) would leave 200 formed
    in period 1 once Bob accepts the first there. Expect her guard (Verifier.check on the unsigned
    candidate) and a third-party verifier to refuse the second deal with MND-009, and Bob's Accept of
    the first, in period 1, to leave exactly the budget formed there."""
    alice = _budgeted(clock, "alice")
    guard, auditor = _guard_and_auditor(alice, bob, me=alice)
    clock.advance(DAY_MS - 60_000)
    late = alice.offer(bob, _deal(alice, 100), ttl_ms=120_000)
    for v in (guard, auditor):
        _take(v, late)
    clock.advance(61_000)  # period 1; `late` lives another 59 s
    assert _refused(guard, _unsigned(alice, "offer", _deal(alice, 100), to=bob)) == "MND-009"
    assert _refused(auditor, alice.offer(bob, _deal(alice, 100))) == "MND-009"
    theirs = bob.offer(alice, _deal(bob, 10, want=100))
    for v in (guard, auditor):
        _take(v, theirs)
    accept = trade_pb2.Accept(offer=theirs.digest)
    assert _refused(guard, _unsigned(alice, "accept", accept, to=bob, reply_to=theirs)) == "MND-009"
    assert _refused(auditor, alice.accept(theirs)) == "MND-009"
    taken = bob.accept(late)
    for v in (guard, auditor):
        _take(v, taken)
        exp = v.exposure.exposure(alice.mandate_vs.digest)
        assert exp.period_of(taken.header.issued_at_ms) == 1
        assert (exp.formed_in(0), exp.formed_in(1)) == (0, 100)
        assert (exp.committed(0, clock.now_ms), exp.committed(1, clock.now_ms)) == (0, 100)


@pytest.mark.req("MND-009")
@pytest.mark.parametrize("end", ["withdraw", "expire"])
def test_offer_across_a_period_boundary_frees_both_periods_when_it_ends(
    clock: FixedClock, bob: Party, end: str
) -> None:
    """The same late offer of 100 is withdrawn, or lapses (past Alice's guard's skew too); expect the
    second deal of 100 in period 1 to pass her guard and a verifier: the refusal above was the
    reservation, not an over-strict count."""
    alice = _budgeted(clock, "alice")
    guard, auditor = _guard_and_auditor(alice, bob, me=alice)
    clock.advance(DAY_MS - 60_000)
    late = alice.offer(bob, _deal(alice, 100), ttl_ms=120_000)
    for v in (guard, auditor):
        _take(v, late)
    clock.advance(61_000)
    if end == "withdraw":
        gone = alice.withdraw(late)
        for v in (guard, auditor):
            _take(v, gone)
    else:
        clock.advance(59_000 + guard.skew_ms + 1)
    guard.check(_unsigned(alice, "offer", _deal(alice, 100), to=bob), ours=True)
    auditor.accept(alice.offer(bob, _deal(alice, 100)).envelope)


@pytest.mark.req("MND-009")
def test_accepted_offer_charges_only_the_period_of_the_accept(clock: FixedClock, bob: Party) -> None:
    """Alice's late offer of 100 spans periods 0 and 1; Bob accepts it still in period 0. Expect its
    reservation in period 1 to be gone (value moves to the Accept's period, never counted twice), so a
    deal of 100 in period 1 passes, while period 0 is full."""
    alice = _budgeted(clock, "alice")
    v = _verifier(alice, bob)
    clock.advance(DAY_MS - 60_000)
    late = alice.offer(bob, _deal(alice, 100), ttl_ms=120_000)
    v.accept(late.envelope)
    exp = v.exposure.exposure(alice.mandate_vs.digest)
    assert (exp.committed(0, clock.now_ms), exp.committed(1, clock.now_ms)) == (100, 100)
    clock.advance(30_000)
    v.accept(bob.accept(late).envelope)
    assert (exp.committed(0, clock.now_ms), exp.committed(1, clock.now_ms)) == (100, 0)
    assert _violation(v, alice.offer(bob, _deal(alice, 1))) == "MND-009"  # period 0 is full
    clock.advance(31_000)
    v.accept(alice.offer(bob, _deal(alice, 100)).envelope)


@pytest.mark.req("MND-009", "MND-013")
@pytest.mark.parametrize("body", ["offer", "counter"])
def test_offer_may_live_one_budget_period_and_not_a_millisecond_longer(
    clock: FixedClock, bob: Party, body: str
) -> None:
    """MND-013: with a budget, an Offer or Counter whose expires_at - issued_at is the period (one day)
    passes; one millisecond more is MANDATE_VIOLATION, refused by the stateless mandate check (step 24),
    which needs no exposure at all."""
    alice = _budgeted(clock, "alice", budget=1000)
    v = _verifier(alice, bob)

    def make(ttl_ms: int) -> VerifiedStatement:
        if body == "offer":
            return alice.offer(bob, _deal(alice, 10), ttl_ms=ttl_ms)
        theirs = bob.offer(alice, _deal(bob, 10, want=10))
        v.accept(theirs.envelope)
        return alice.counter(theirs, _deal(alice, 10), ttl_ms=ttl_ms)

    too_long = make(DAY_MS + 1)
    assert _violation(v, too_long) == "MND-013"
    with pytest.raises(MandateViolation) as err:
        check_against_mandate(too_long, alice.mandate_vs.statement.mandate)
    assert err.value.requirement == "MND-013"
    v.accept(make(DAY_MS).envelope)


@pytest.mark.req("MND-009", "MND-013")
def test_offer_lifetime_is_unbounded_without_a_budget(clock: FixedClock, bob: Party) -> None:
    """MND-013 applies only when there is a budget: with budget_per_period 0 (and a period), an offer
    of value 0 that lives ten periods passes and reserves nothing."""
    alice = _with(clock, "alice", budget_per_period=0, period_ms=DAY_MS)
    v = _verifier(alice, bob)
    v.accept(
        alice.offer(
            bob, _deal(alice, 0, want=5, deadline=clock.now_ms + 11 * DAY_MS), ttl_ms=10 * DAY_MS
        ).envelope
    )
    exp = v.exposure.exposure(alice.mandate_vs.digest)
    assert exp.committed(exp.period_of(clock.now_ms), clock.now_ms) == 0


# --- MND-010 revised: a contract counts until it ends or its claim window closes --------------------


@pytest.mark.req("MND-010")
@pytest.mark.parametrize("performed", [False, True])
def test_open_contract_stops_counting_a_claim_window_after_its_last_deadline(
    clock: FixedClock, alice: Party, performed: bool
) -> None:
    """Bob (max_outstanding 1000) owes work worth 800 by deadline D, unperformed or with only Alice's
    delivery made (PERFORMING never lapses by itself). At D + CLAIM_WINDOW_MS his offer of 300 is
    refused; 1 ms later it passes although nothing ended the negotiation."""
    bob = _with(clock, "bob", max_outstanding=1000)
    v = _verifier(alice, bob)
    deadline = clock.now_ms + DAY_MS
    offer = alice.offer(bob, _deal(alice, 100, want=800, deadline=deadline))
    accept = bob.accept(offer)
    for vs in (offer, accept):
        v.accept(vs.envelope)
    if performed:
        v.accept(alice.deliver(accept, bob).envelope)
    clock.advance(deadline + CLAIM_WINDOW_MS - clock.now_ms)
    assert _violation(v, bob.offer(alice, _deal(bob, 300))) == "MND-010"
    clock.advance(1)
    v.accept(bob.offer(alice, _deal(bob, 300)).envelope)
    neg = v.negotiations.get(offer.header.negotiation_id)
    assert neg.state is (State.PERFORMING if performed else State.ACCEPTED)
    exp = v.exposure.exposure(bob.mandate_vs.digest)
    assert exp.outstanding(clock.now_ms) == 300
    # asked about an earlier time, the contract counts, and the offer issued after it does not (SPEC 4.5)
    assert exp.outstanding(clock.now_ms - 1) == 800
    assert exp.outstanding(clock.now_ms - 1, dated_starts=False) == 1100  # a guard's count: all it holds


@pytest.mark.req("MND-010", "MND-011")
def test_guard_counts_its_own_offer_for_its_skew_after_expiry(clock: FixedClock, bob: Party) -> None:
    """Alice (max_outstanding 1000) offers 800 for a minute. 1 ms after expiry a verifier, by the rule,
    no longer counts it, but her guard (skew 30 s) still does and refuses another 800: Bob's Accept
    issued at the expiry instant may reach her up to her skew later, and it does form a contract."""
    alice = _with(clock, "alice", max_outstanding=1000)
    guard, auditor = _guard_and_auditor(alice, bob, me=alice)
    first = alice.offer(bob, _deal(alice, 800), ttl_ms=60_000)
    for v in (guard, auditor):
        _take(v, first)
    expiry = first.header.expires_at_ms
    clock.advance(expiry + 1 - clock.now_ms)
    second = _unsigned(alice, "offer", _deal(alice, 800), to=bob)
    assert _refused(guard, second) == "MND-010"
    auditor.check(second)
    exp = guard.exposure.exposure(alice.mandate_vs.digest)
    skew = guard.skew_ms
    assert [exp.outstanding(expiry + d, grace_ms=skew) for d in (skew, skew + 1)] == [800, 0]
    assert exp.outstanding(expiry + 1) == 0
    late = bob.accept(first, issued_at_ms=expiry)
    guard.accept(late.envelope, now_ms=clock.now_ms)
    assert exp.outstanding(clock.now_ms) == 800


# --- The budget holds in every acceptance order (property) ------------------------------------------

PERIOD = 3_600_000
BUDGET = 1_000
SKEW = 30_000
LAGS = [0, 1, SKEW // 2, SKEW]  # how long after its issue a counterparty's Accept reaches Alice

# One deal: who opens it, when (an offset from the start of period 1, often close to it: deals open in
# periods 0 and 1 and may be accepted up to period 2), for how long, for what value (Alice's side),
# how it ends, when in the offer's life, and how late a counterparty's Accept reaches Alice. A
# countered deal ends with the counter accepted.
deal = st.tuples(
    st.sampled_from(["hers", "hers", "theirs"]),
    st.one_of(st.sampled_from([-60_000, -1_000, -1, 0, 1, 1_000]), st.integers(-PERIOD, PERIOD)),
    st.one_of(st.sampled_from([60_000, PERIOD // 2, PERIOD, PERIOD + 1]), st.integers(1, PERIOD)),
    st.one_of(st.sampled_from([BUDGET // 2 + 1, BUDGET]), st.integers(0, BUDGET)),  # two can overfill
    st.sampled_from(["accept", "accept", "accept", "accept", "withdraw", "reject", "counter", "none"]),
    st.one_of(st.sampled_from([0, 1000]), st.integers(0, 1000)),  # when it ends, in permille of its life
    st.sampled_from(LAGS),
)
Deal = tuple[str, int, int, int, str, int, int]


@dataclass
class _BudgetRun:
    crossed: int = 0  # contracts formed in a later period than the offer they accept was issued in
    refused: list[str] = field(default_factory=list)  # requirement of each MANDATE_VIOLATION
    fullest: int = 0  # the most any period held in contracts formed in it


def _formed_per_period(v: Verifier, party: Party, origin: int) -> dict[int, int]:
    """Recount, from the negotiations alone, the value ``party`` gives in contracts formed per period."""
    formed: dict[int, int] = {}
    for neg in v.negotiations.by_id.values():
        c = neg.contract
        if c is not None and party.did in c.parties:
            period = (c.accept.header.issued_at_ms - origin) // PERIOD
            formed[period] = formed.get(period, 0) + c.value_given(party.did)
    return formed


def _run_budget(deals: list[Deal]) -> _BudgetRun:
    """Alice, budget 1000 an hour, deals with one counterparty per deal. Her guard (a Verifier acting
    for her, skew 30 s) takes every statement it allows, in order of arrival: hers as she issues them,
    theirs, and their Accepts, issued anywhere in the offer's life and reaching her up to her skew
    later (TIM-006). After each, no period may hold more than the budget in contracts formed in it."""
    clock = FixedClock()
    origin = clock.now_ms
    alice = _with(
        clock,
        "alice",
        budget_per_period=BUDGET,
        period_ms=PERIOD,
        valid_from_ms=origin,
        max_outstanding=10**9,
        max_per_deal=BUDGET,
    )
    guard = Verifier(me=alice.did, skew_ms=SKEW)
    for env in alice.setup:
        guard.accept(env)
    parties = [Party(f"them-{n}", clock) for n in range(len(deals))]
    events: list[tuple[int, int, str, int, VerifiedStatement | None]] = []  # (arrival, order, ...)
    for n, (_, offset, *_rest) in enumerate(deals):
        guard.accept(parties[n].setup[0])
        heapq.heappush(events, (origin + PERIOD + offset, n, "open", n, None))
    order, run = len(deals), _BudgetRun()
    while events:
        arrival, _, action, n, target = heapq.heappop(events)
        opener, _, life, value, fate, permille, lag = deals[n]
        them = parties[n]
        clock.advance(arrival - clock.now_ms)
        if target is None:
            if opener == "hers":
                vs = alice.offer(them, _deal(alice, value, want=1), ttl_ms=life)
            else:
                vs = them.offer(alice, _deal(them, 1, want=value), ttl_ms=life)
        else:
            issuer = alice if target.issuer == alice.did else them
            audience = them if issuer is alice else alice
            if action == "accept":
                vs = audience.accept(target, issued_at_ms=arrival - (lag if audience is them else 0))
            elif action == "withdraw":
                vs = issuer.withdraw(target)
            elif action == "reject":
                vs = audience.reject(target)
            elif audience is alice:
                vs = alice.counter(target, _deal(alice, value, want=1), ttl_ms=life)
            else:
                vs = them.counter(target, _deal(them, 1, want=value), ttl_ms=life)
        # Alice's own statements are signed before her guard sees them here; one it refuses is never
        # sent, which to everyone else is the same as never signed.
        try:
            guard.accept(vs.envelope, now_ms=arrival, ours=vs.issuer == alice.did)
        except MandateViolation as exc:
            run.refused.append(exc.requirement)
            continue
        except CoopError:
            continue  # refused for a protocol reason (the offer lapsed, ...): never taken either
        if vs.body in ("offer", "counter") and fate != "none":
            nxt = "accept" if vs.body == "counter" else fate
            when = arrival + life * permille // 1000
            late = lag if nxt == "accept" and vs.issuer == alice.did else 0  # their Accept, in transit
            heapq.heappush(events, (when + late, order, nxt, n, vs))
            order += 1
        if vs.body == "accept" and vs.issuer != alice.did:
            offer = guard.statements[vs.statement.accept.offer]
            if (vs.header.issued_at_ms - origin) // PERIOD > (offer.header.issued_at_ms - origin) // PERIOD:
                run.crossed += 1
        formed = _formed_per_period(guard, alice, origin)
        run.fullest = max(run.fullest, *formed.values(), 0)
        assert run.fullest <= BUDGET, formed
        exp = guard.exposure.exposure(alice.mandate_vs.digest)
        assert {k: exp.formed_in(k) for k in formed} == formed  # the book agrees with the recount
    return run


@pytest.mark.req("MND-009", "MND-011")
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(deal, min_size=2, max_size=10))
def test_no_acceptance_order_breaks_the_period_budget(deals: list[Deal]) -> None:
    """Random deals opened around hourly period boundaries, by Alice or to her, each accepted (by her,
    or by the counterparty anywhere in the offer's life, arriving up to her skew later), withdrawn,
    rejected, countered and the counter accepted, or left to lapse. Expect no period ever to hold more
    than the budget in contracts formed in it, whatever was accepted when, and the exposure book to
    agree with a recount."""
    _run_budget(deals)


def test_budget_property_reaches_an_acceptance_across_a_period_boundary() -> None:
    """Guard for the property above: the attack, scripted through its own runner (an offer a minute
    before a boundary, accepted in the next period; a second full offer just after the boundary), is
    refused with MND-009 and forms a contract across the boundary, so the random search can reach
    that shape."""
    run = _run_budget(
        [
            ("hers", -60_000, PERIOD // 2, BUDGET, "accept", 500, 0),  # accepted 14 min into period 1
            ("hers", 1_000, 60_000, BUDGET, "accept", 0, 0),  # refused: the first reserves period 1
        ]
    )
    assert run.refused == ["MND-009"]
    assert run.crossed == 1


# --- The book's running sums against a recount -----------------------------------------------------

SMALL_PERIOD = 1_000


def _assert_recount(
    exp: Exposure,
    until: dict[bytes, int],
    formed: list[tuple[int, int]],
    t: int,
    grace: int = 0,
    *,
    ended: dict[bytes, int] | None = None,
) -> None:
    """The book's outstanding value and committed value of the periods around ``t`` equal a recount
    from its held offers and contracts (``until``: each contract's counts-until time; ``formed``: the
    value and formation time of every contract formed, ended or not; ``ended``: each ended contract's
    ending, by another key: it counts for a statement before that ms)."""
    ended = ended or {}
    live = [(v, i, e) for v, i, e in exp.live_offers.values() if e + grace >= t]
    contracts = {**exp.open_contracts, **exp.finished_contracts}
    open_value = sum(v for c, (v, _) in contracts.items() if until[c] >= t and ended.get(c, t + 1) > t)
    assert exp.outstanding(t, grace) == sum(v for v, _, _ in live) + open_value
    for k in range(t // SMALL_PERIOD - 1, (t + 2 * SMALL_PERIOD) // SMALL_PERIOD + 1):
        overlapping = sum(v for v, i, e in live if i // SMALL_PERIOD <= k <= e // SMALL_PERIOD)
        in_k = sum(v for v, f in formed if f // SMALL_PERIOD == k)
        assert exp.committed(k, t, grace) == in_k + overlapping, (k, t)


exposure_ops = st.lists(
    st.tuples(
        st.sampled_from(["offer", "offer", "dead", "contract", "end", "ask"]),
        st.integers(0, 12),  # which key
        st.integers(0, 10 * SMALL_PERIOD),  # when it was issued
        st.integers(0, 2 * SMALL_PERIOD),  # for how long it counts
        st.integers(0, 100),  # its value
        st.integers(0, 10 * SMALL_PERIOD),  # the time asked about next: checks come in any time order
    ),
    max_size=120,
)


@pytest.mark.req("MND-009", "MND-010")
@settings(max_examples=200, deadline=None, database=None)
@given(exposure_ops, st.sampled_from([0, 30]))
def test_exposure_sums_match_a_recount_whatever_the_order_of_times(
    ops: list[tuple[str, int, int, int, int, int]], grace: int
) -> None:
    """Offers and contracts come and go while the times asked about jump back and forth (a sparse view
    receives old statements); expect outstanding and every period's committed value to equal a recount
    from the held offers and contracts at every step."""
    exp = Exposure(period_origin_ms=0, period_ms=SMALL_PERIOD)
    until: dict[bytes, int] = {}
    ended: dict[bytes, int] = {}
    formed: list[tuple[int, int]] = []
    for kind, n, at, span, value, t in ops:
        key = bytes([n])
        if kind == "offer":
            exp.offer_live(key, value, at, at + span)
        elif kind == "dead":
            exp.offer_dead(key)
        elif kind == "contract" and key not in until:
            exp.contract_formed(key, value, at, at + span)
            until[key] = at + span
            formed.append((value, at))
        elif kind == "end" and key in until:
            exp.contract_ended(key, (at, -1))  # dated: it counts for a statement before ``at``
            ended[key] = min(ended.get(key, at), at)
        _assert_recount(exp, until, formed, t, grace, ended=ended)


@pytest.mark.req("MND-009", "MND-010")
def test_exposure_stays_exact_and_small_under_churn() -> None:
    """Rounds of offers made and withdrawn, contracts formed and ended, with the time asked about
    swinging forward and back; expect exact sums throughout, and the book's lazily cleaned structures
    to stay within a constant factor of what it holds (ended entries do not pile up: an ended contract is
    held, dated, for the statements before its ending, SPEC 4.5)."""
    exp = Exposure(period_origin_ms=0, period_ms=SMALL_PERIOD)
    until: dict[bytes, int] = {}
    ended: dict[bytes, int] = {}
    formed: list[tuple[int, int]] = []
    for r in range(60):
        t = 5 * SMALL_PERIOD + (r % 7 - 3) * 400  # swings back and forth across period boundaries
        for n in range(30):
            key = bytes([r % 3, n])
            life = n * 20 if n % 3 else 100 * SMALL_PERIOD  # some outlive every time asked about
            exp.offer_live(key, n, t - n * 10, t + life)
            if n % 4 == 0 and key not in until:
                until[key] = t + (n * 15 if n % 8 else 100 * SMALL_PERIOD)
                exp.contract_formed(key, n, t, until[key])
                formed.append((n, t))
        for n in range(0, 30, 2):
            exp.offer_dead(bytes([r % 3, n]))
            key = bytes([(r + 1) % 3, n])
            if key in until:
                exp.contract_ended(key, (t, -1))
                ended[key] = min(ended.get(key, t), t)
        for q in (t - 700, t + 300, t - 50, t + 900):
            _assert_recount(exp, until, formed, q, ended=ended)
        held = len(exp.live_offers) + len(exp.open_contracts) + len(exp.finished_contracts)
        offers, contracts = exp._offers, exp._contracts
        kept = len(offers._ahead) + len(offers._behind) + len(contracts._ahead) + len(contracts._behind)
        assert kept <= 2 * held + 4 * 33
    for n in range(1000):
        exp.offer_live(b"late%d" % n, 1, 10**5, 10**5 + n)
    exp.outstanding(10**6)  # everything falls behind the sweep; then most of it ends
    for i, key in enumerate(list(exp.live_offers)):
        if i % 5:
            exp.offer_dead(key)
    for i, key in enumerate(list(exp.open_contracts)):
        if i % 5:
            exp.contract_ended(key, (10**6, -1))
            ended[key] = min(ended.get(key, 10**6), 10**6)
    held = len(exp.live_offers) + len(exp.open_contracts) + len(exp.finished_contracts)
    kept = len(offers._ahead) + len(offers._behind) + len(contracts._ahead) + len(contracts._behind)
    assert kept <= 2 * held + 4 * 33
    for q in (10**6, 0, 10**6):  # moving back brings the held ones back into the sums
        _assert_recount(exp, until, formed, q, ended=ended)


# --- MND-011: the guard runs before signing --------------------------------------------------------


@pytest.mark.req("MND-011", "ERR-003")
def test_policy_guard_refuses_a_proposal_outside_the_mandate_before_it_is_signed(
    clock: FixedClock, bob: Party
) -> None:
    """The deciding layer proposes an offer over Alice's cap. Her guard checks the unsigned candidate
    (header and body rules, then every contextual check with her history); expect MANDATE_VIOLATION
    before any signature exists and no trace in her state. A proposal within the mandate passes the
    same guard and is then signed and recorded."""
    alice = _with(clock, "alice", max_per_deal=1000)
    guard = _verifier(alice, bob)
    before = dict(guard.statements)

    def unsigned(value: int) -> VerifiedStatement:
        stmt = Statement()
        h = stmt.header
        h.audience, h.mandate = bob.did, alice.mandate_vs.digest  # stamp derives the negotiation_id
        h.issued_at_ms, h.expires_at_ms = clock.now_ms, clock.now_ms + 60_000
        stmt.offer.CopyFrom(_deal(alice, value))
        return alice.agent.writer.stamp(stmt, nonce=alice.agent.next_nonce())

    too_big = unsigned(5000)
    assert too_big.envelope == b""  # nothing signed yet
    with pytest.raises(MandateViolation) as err:
        guard.check(too_big)
    assert err.value.requirement == "MND-004"
    assert guard.statements == before and not guard.negotiations.by_id
    fine = unsigned(900)
    guard.check(fine)
    signed = sign_candidate(fine, alice.agent.key)
    alice.agent.writer.advance(signed)
    assert signed.digest == fine.digest  # the guard saw exactly what was signed
    guard.accept(signed.envelope)


@pytest.mark.req("MND-011", "MND-004", "MND-005", "MND-007")
def test_mandate_checks_are_pure_functions_of_statement_and_mandate(alice: Party, bob: Party) -> None:
    """check_against_mandate needs no verifier: the same call works in a signer's guard and in any
    auditor. Expect it to pass for a fitting mandate and to name the rule for each misfit."""
    offer = alice.offer(bob)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    check_against_mandate(offer, m)
    m.max_per_deal = 499
    with pytest.raises(MandateViolation, match="deal value 500"):
        check_against_mandate(offer, m)
    m.max_per_deal, m.allowed_counterparties[:] = 10_000, [alice.did]
    with pytest.raises(MandateViolation):
        check_against_mandate(offer, m)
    assert committed_value(offer) == side_value(offer.statement.offer, True) == 500
    assert side_value(offer.statement.offer, False) == 450


@pytest.mark.req("MND-010", "MND-009")
def test_exposure_book_check_is_side_effect_free(alice: Party, bob: Party) -> None:
    """ExposureBook.check on a statement that breaks the cap raises and records nothing."""
    offer = alice.offer(bob)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    m.max_outstanding = 100
    book = ExposureBook()
    with pytest.raises(MandateViolation):
        book.check(offer, m, 500)
    assert book.by_mandate == {}


@pytest.mark.req("MND-009")
def test_exposure_book_refuses_to_judge_a_book_kept_under_other_periods_once_its_contracts_ended(
    alice: Party, bob: Party
) -> None:
    """A book kept without the mandate's periods (no mandate_of: one period) holds the period sums of
    contracts that have ended; judged against a mandate with budget periods it would sum the wrong
    periods. Expect ValueError while it holds any sum, ended contracts' included, and none once empty."""
    offer = alice.offer(bob)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    m.period_ms = 86_400_000
    book = ExposureBook()
    book.check(offer, m, 1)  # nothing recorded: nothing to sum wrongly
    exp = book.exposure(offer.header.mandate)
    exp.contract_formed(b"c", 10, offer.issued_at_ms)
    exp.contract_ended(b"c", (offer.issued_at_ms, -1))
    assert not exp.live_offers and not exp.open_contracts and exp.formed_in(0) == 10
    with pytest.raises(ValueError, match="other budget periods"):
        book.check(offer, m, 1)


# --- MND-012: revoked principal ---------------------------------------------------------------------


@pytest.mark.req("MND-012", "KEY-004")
def test_mandate_of_a_revoked_principal_authorizes_nothing_after_the_revocation(
    clock: FixedClock, alice: Party, bob: Party, auditor: Verifier
) -> None:
    """Alice's principal revokes its own key effective at T + 1 s; an offer by Alice's agent issued at
    T passes, one issued at T + 1 s is KEY_REVOKED (MND-012) at an escrow taking evidence, and held,
    disowned, by a view of evidence (KEY-009 (c))."""
    t = clock.now_ms
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=t + 1000)
    )
    escrow = Verifier(evidence_view=False)
    for env in (*alice.setup, *bob.setup):
        escrow.accept(env)
    on_time, late = alice.offer(bob, issued_at_ms=t), alice.offer(bob, issued_at_ms=t + 1000)
    for v in (auditor, escrow):
        v.accept(revocation.envelope)
        v.accept(on_time.envelope)
    with pytest.raises(KeyRevoked) as err:
        escrow.accept(late.envelope)
    assert err.value.requirement == "MND-012"
    auditor.accept(late.envelope)
    assert auditor.disowned(late) and not auditor.disowned(on_time)


@pytest.mark.req("MND-014", "MND-010", "BDY-015")
def test_sums_at_the_integer_limit_are_exact(clock: FixedClock, bob: Party) -> None:
    """Caps at 2^53 - 1 ('no limit'): an offer giving 2^53 - 1 passes; a second one, which brings the
    outstanding sum to 2^54 - 2, is MANDATE_VIOLATION -- no verifier may wrap or round the sum."""
    limit = 2**53 - 1
    alice = _with(
        clock, "alice", max_per_deal=limit, budget_per_period=limit, period_ms=DAY_MS, max_outstanding=limit
    )
    v = _verifier(alice, bob)
    v.accept(alice.offer(bob, _deal(alice, limit)).envelope)
    assert _violation(v, alice.offer(bob, _deal(alice, limit))) in ("MND-009", "MND-010")
    assert _violation(v, alice.offer(bob, _deal(alice, 1))) in ("MND-009", "MND-010")


# --- Dated starts, endings, displacement and forgetting, against a recount (SPEC 4.5) -------------------

_SPAN = 1 << 65


def _threshold(t: int, seq: int | None) -> int:
    return t * _SPAN + (_SPAN - 1 if seq is None else seq + 1)


dated_ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["offer", "offer", "answer", "accept", "contract", "end", "displace", "forget", "forget_answer"]
        ),
        st.integers(0, 6),  # which key
        st.integers(0, 6 * SMALL_PERIOD),  # a time
        st.integers(-1, 3),  # a seq (-1: another key's)
        st.integers(0, SMALL_PERIOD),  # a span
        st.integers(0, 100),  # a value
        st.tuples(st.integers(0, 6 * SMALL_PERIOD), st.none() | st.integers(0, 3)),  # the place asked about
    ),
    max_size=80,
)


class _ForgottenRows:
    """An ExposureArchive in a dict (a2a_coop.runtime.journal.Journal is the real one)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}

    def keep_forgotten(self, records: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> None:
        for book, key, latest, record in records:
            self.rows[book, key] = (latest, record)

    def forgotten_since(self, book: bytes, latest: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, r) for (b, k), (at, r) in self.rows.items() if b == book and at >= latest]

    def drop_forgotten(self, after: int) -> None:
        self.rows.clear()


@pytest.mark.req("MND-009", "MND-010")
@pytest.mark.parametrize("kept", [None, 0, 2])
@settings(max_examples=300, deadline=None, database=None)
@given(ops=dated_ops)
# A key forgotten, used again and forgotten again (no archive): both records count on. The recount kept
# only the second (found once in about 20,000 examples; seen as a rare flake of the [None] case).
@example(
    ops=[
        ("contract", 4, 0, 0, 0, 1, (0, None)),
        ("forget", 4, 0, 0, 0, 0, (0, None)),
        ("contract", 4, 0, 0, 0, 0, (0, None)),
        ("forget", 4, 0, 0, 0, 0, (0, None)),
    ]
)
@example(
    ops=[
        ("offer", 2, 0, 0, 10, 5, (0, None)),
        ("answer", 2, 5, 0, 0, 0, (0, None)),
        ("forget_answer", 2, 0, 0, 0, 0, (0, None)),
        ("offer", 2, 0, 1, 10, 0, (0, None)),
        ("answer", 2, 5, 0, 0, 0, (0, None)),
        ("forget_answer", 2, 0, 0, 0, 0, (1, None)),
    ]
)
def test_dated_exposure_matches_a_recount_at_every_place(
    ops: list[tuple[str, int, int, int, int, int, tuple[int, int | None]]], kept: int | None
) -> None:
    """Offers and contracts start, are answered, accepted, ended, displaced by a witnessed Accept and
    forgotten, each dated, while the places asked about jump back and forth (a view fed a chain in any
    order): expect outstanding and every period's committed value at each place to equal a recount of
    what counts there -- an offer from its place until its answer (and its expiry), a contract from its
    Accept until its ending (and its claim window), in its period from its Accept, and until the
    witnessed Accept that displaced it. ``kept``: with an archive, the exposure keeps that many to twice as
    many forgotten records in memory and reads the others back from it (None: no archive, all kept); a
    forgotten key is then not used again (a digest names one offer or contract, and once forgotten it is
    not formed or offered again). Without an archive a forgotten key may be used again: each of its
    forgotten records counts on."""
    exp = Exposure(period_origin_ms=0, period_ms=SMALL_PERIOD)
    saved = mandate.FORGOTTEN_KEPT
    if kept is not None:
        exp.archive, exp.name, mandate.FORGOTTEN_KEPT = _ForgottenRows(), b"alice", kept
    try:
        _recount_dated(exp, ops, reuse=kept is None)
    finally:
        mandate.FORGOTTEN_KEPT = saved


def _recount_dated(
    exp: Exposure, ops: list[tuple[str, int, int, int, int, int, tuple[int, int | None]]], *, reuse: bool
) -> None:
    offers: dict[bytes, list[int]] = {}  # key -> [start, value, issued, expires, answered_until]
    contracts: dict[bytes, list[int]] = {}  # key -> [start, value, period, until, displaced_until]
    # A forgotten one counts on under a name of its own (b"forgotten", the op's index, its key): with
    # ``reuse`` a key forgotten may be used and forgotten again, and each of its records counts.
    gone: set[bytes] = set()  # the keys forgotten
    never = 1 << 140
    for i, (kind, n, at, seq, span, value, (qt, qseq)) in enumerate(ops):
        key = bytes([n])
        if not reuse and key in gone:
            continue
        here = at * _SPAN + seq + 1
        if kind == "offer" and key not in offers and seq >= 0:
            exp.offer_live(key, value, at, at + span, seq=seq)
            offers[key] = [here, value, at, at + span, never]
        elif kind in ("answer", "accept") and key in offers:
            if kind == "answer":
                exp.offer_answered(key, (at, seq))
            else:
                exp.offer_accepted(key, (at, seq), at)
            o = offers[key]
            o[4] = min(o[4], here, _threshold(o[3], None))
            if kind == "accept" and not o[1]:
                del offers[key]  # a zero-value offer accepted counts nowhere
        elif kind == "contract" and key not in contracts:
            exp.contract_formed(key, value, at, at + span, start=(at, seq))
            contracts[key] = [here, value, at // SMALL_PERIOD, _threshold(at + span, None), never]
        elif kind == "end" and key in contracts and exp._contracts.items.get(key):
            exp.contract_ended(key, (at, seq))
            contracts[key][3] = min(contracts[key][3], here)
        elif kind == "displace" and key in contracts and exp._contracts.items.get(key):
            exp.contract_displaced(key, (at, seq))
            c = contracts[key]
            c[3], c[4] = min(c[3], here), min(c[4], here)
        elif kind == "forget" and key in contracts:
            exp.contract_forgotten(key)  # displaced or not: its period's share is dated too
            contracts[b"forgotten%d:" % i + key] = contracts.pop(key)  # counts on, out of reach
            gone.add(key)
        elif kind == "forget_answer" and key in offers and key not in exp.live_offers:
            exp.answer_forgotten(key)
            offers[b"forgotten%d:" % i + key] = offers.pop(key)
            gone.add(key)
        asked = [(qt, qseq)]
        if not reuse:  # also where each forgotten offer or contract starts and stops counting
            for fk, row in [*offers.items(), *contracts.items()]:
                if fk.startswith(b"forgotten"):
                    for edge in (row[0], row[3], row[4]) if fk in contracts else (row[0], row[4]):
                        for th in (edge - 1, edge, edge + 1):
                            if 0 < th < _NEVER:
                                asked.append((th // _SPAN, th % _SPAN - 1))
        for t, s in asked:
            _assert_dated_recount(exp, offers, contracts, t, s)


_NEVER = 1 << 140


def _assert_dated_recount(
    exp: Exposure,
    offers: dict[bytes, list[int]],
    contracts: dict[bytes, list[int]],
    qt: int,
    qseq: int | None,
) -> None:
    never = _NEVER
    p = _threshold(qt, qseq)
    out, by_period = 0, {}
    for start, v, issued, expires, answered in offers.values():
        live = expires >= qt if answered == never else answered >= p
        if start <= p and live:
            out += v
            for k in range(issued // SMALL_PERIOD, expires // SMALL_PERIOD + 1) if v else ():
                by_period[k] = by_period.get(k, 0) + v
    for start, v, period, until, displaced in contracts.values():
        if start <= p <= until:
            out += v
        if start <= p <= displaced:
            by_period[period] = by_period.get(period, 0) + v
    assert exp.outstanding(qt, seq=qseq) == out, (qt, qseq)
    for k in range(qt // SMALL_PERIOD - 1, qt // SMALL_PERIOD + 3):
        assert exp.committed(k, qt, seq=qseq) == by_period.get(k, 0), (k, qt, qseq)
