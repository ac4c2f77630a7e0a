"""Mandates: what a principal lets its agent sign (SPEC section 4, MND-002..MND-012)."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.errors import KeyRevoked, MandateUnknown, MandateViolation
from a2a_coop.protocol.mandate import ExposureBook, check_against_mandate, committed_value, side_value
from a2a_coop.protocol.statements import Statement, VerifiedStatement, sign_candidate
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


# --- MND-012: revoked principal ---------------------------------------------------------------------


@pytest.mark.req("MND-012", "KEY-004")
def test_mandate_of_a_revoked_principal_authorizes_nothing_after_the_revocation(
    clock: FixedClock, alice: Party, bob: Party, auditor: Verifier
) -> None:
    """Alice's principal revokes its own key effective at T + 1 s; an offer by Alice's agent issued at
    T passes, one issued at T + 1 s is KEY_REVOKED (MND-012)."""
    t = clock.now_ms
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=t + 1000)
    )
    auditor.accept(revocation.envelope)
    auditor.accept(alice.offer(bob, issued_at_ms=t).envelope)
    late = alice.offer(bob, issued_at_ms=t + 1000)
    with pytest.raises(KeyRevoked) as err:
        auditor.accept(late.envelope)
    assert err.value.requirement == "MND-012"
