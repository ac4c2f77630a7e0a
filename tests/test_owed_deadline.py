"""TIM-009: a peer dates nothing after the deadline of an item it still owes while its clock is before it.

Every statement a peer signs in a negotiation is dated no earlier than what it answers (NEG-014), and
its chain's times never go back (CHN-005). So whoever gets an answer from it, dated up to the skew
ahead of its clock (TIM-003), sets the earliest date its next Delivery can carry. The rule keeps that
date from passing a deadline the peer can still meet: the request that would push it there is refused
``ISSUED_IN_FUTURE`` with a retry hint, and nothing of it is kept.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from peers import make_peer

from a2a_coop.protocol.errors import IssuedInFuture
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import OWED_HEAP_SLACK, Peer
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

FUNDS, BOND = 1_000, 100
DUE_IN_MS = 20_000  # Bob's item under the bonded contract is due this long after now


class Owing(NamedTuple):
    clock: FixedClock
    bob: Party
    locks: list[bytes]  # the escrow's BondLocks, not yet relayed to Bob
    b: Peer  # Bob's reference peer
    nid: bytes  # the contract's negotiation
    mallory: Party
    accept: VerifiedStatement  # Bob's


def _owing() -> Owing:
    """Bob (a reference peer) has accepted Mallory's bonded offer: he owes an item due in 20 s, and
    cannot deliver it before the escrow locks both bonds."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    b = make_peer(bob, clock, context=[escrow.mandate])
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + DUE_IN_MS
    offer = mallory.offer(bob, proposal)
    answers = [verify_statement(e) for e in b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])]
    assert [vs.body for vs in answers] == ["mandate", "accept"]
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, answers[1].envelope])
    return Owing(clock, bob, locks, b, offer.header.negotiation_id, mallory, answers[1])


@pytest.mark.req("TIM-009", "ERR-003")
def test_an_offer_dated_past_an_owed_deadline_is_refused_and_nothing_is_kept() -> None:
    clock, bob, _, b, *_ = _owing()
    carol = Party("carol", clock)
    ahead = carol.offer(bob, issued_at_ms=clock.now_ms + DUE_IN_MS + 1)
    seq = b.writer.next_seq
    with pytest.raises(IssuedInFuture) as refused:
        b.exchange(ahead.envelope, carol.setup)
    assert (refused.value.requirement, refused.value.retry_after_ms) == ("TIM-009", DUE_IN_MS + 1)
    assert ahead.negotiation_id not in b.verifier.negotiations.by_id  # ERR-003: nothing of it kept
    assert b.writer.next_seq == seq  # nothing signed


@pytest.mark.req("TIM-009", "TIM-003")
def test_an_offer_dated_ahead_but_before_the_owed_deadline_is_answered() -> None:
    clock, bob, _, b, *_ = _owing()
    carol = Party("carol", clock)
    ahead = carol.offer(bob, issued_at_ms=clock.now_ms + DUE_IN_MS)  # at the deadline, not after it
    assert "accept" in [verify_statement(e).body for e in b.exchange(ahead.envelope, carol.setup)]


@pytest.mark.req("TIM-009")
def test_the_rule_ends_when_the_item_is_delivered_or_its_deadline_passes() -> None:
    """Delivered: the same offer is answered. In a second market, undelivered but past due by Bob's
    clock: also answered (the item is late whatever he signs next)."""
    clock, bob, locks, b, nid, *_ = _owing()
    carol = Party("carol", clock)
    ahead = carol.offer(bob, issued_at_ms=clock.now_ms + 29_000)
    with pytest.raises(IssuedInFuture):
        b.exchange(ahead.envelope, carol.setup)
    b.hold(locks)
    delivered = b._perform(b.negotiation(nid))
    assert [vs.body for vs in delivered] == ["delivery"]
    assert "accept" in [verify_statement(e).body for e in b.exchange(ahead.envelope, carol.setup)]

    clock, bob, _, b, *_ = _owing()
    clock.advance(DUE_IN_MS + 1)  # his item is past due, undelivered (no locks came)
    carol = Party("carol", clock)
    ahead = carol.offer(bob, issued_at_ms=clock.now_ms + 29_000)
    assert "accept" in [verify_statement(e).body for e in b.exchange(ahead.envelope, carol.setup)]


@pytest.mark.req("TIM-009")
def test_a_delivery_is_never_held_back_by_its_own_item() -> None:
    """The owed-deadline heap: the item being delivered is skipped, the next one counts, and the
    skipped entry stays for later queries."""
    clock, _, _, b, nid, *_ = _owing()
    now = clock.now_ms
    assert b._owed_deadline(now) == now + DUE_IN_MS
    assert b._owed_deadline(now, skip=(nid, 0)) is None
    assert b._owed_deadline(now) == now + DUE_IN_MS  # skipping did not drop it
    b._refuse_dated_after_owed(now + DUE_IN_MS + 5, now, skip=(nid, 0))  # its own Delivery: allowed
    with pytest.raises(IssuedInFuture):
        b._refuse_dated_after_owed(now + DUE_IN_MS + 5, now)


@pytest.mark.req("TIM-009", "MND-011")
def test_the_guard_signs_no_answer_dated_past_an_owed_deadline() -> None:
    """The guard's own check (MND-011), for what is not refused on arrival: Mallory's Delivery, dated
    25 s ahead, comes back as an answer, which Bob takes (it is signed, and within the skew); the
    Receipt he owes it would be dated as late, after his own item's deadline, so his guard signs none
    until he has delivered his."""
    clock, _, locks, b, nid, mallory, accept = _owing()
    b.hold(locks)
    hers = mallory.deliver(accept, Party("bob", clock), issued_at_ms=clock.now_ms + 25_000)
    b.guard_refusals.clear()
    answers = b.on_replies([hers.envelope])
    assert "receipt" not in [vs.body for vs in answers]
    refusal = b.guard_refusals[-1]
    assert isinstance(refusal, IssuedInFuture) and refusal.requirement == "TIM-009"
    assert hers.digest in b.negotiation(nid).contract.deliveries  # taken all the same


@pytest.mark.req("TIM-009")
def test_what_an_outstanding_offer_of_ours_would_owe_counts_until_it_is_answered() -> None:
    """Bob offers Carol his item due in 20 s. Before she answers, Dave's offer dated 25 s ahead would
    push Bob's chain past that deadline, and Carol may still accept: refused. Once Carol rejects, Bob
    owes nothing and takes it."""
    clock = FixedClock()
    bob, carol, dave = Party("bob", clock), Party("carol", clock), Party("dave", clock)
    b = make_peer(bob, clock)
    proposal = bob.proposal()
    proposal.gives[0].deadline_ms = clock.now_ms + DUE_IN_MS
    offer = b.propose(carol.did, proposal)
    ahead = dave.offer(bob, issued_at_ms=clock.now_ms + 25_000)
    with pytest.raises(IssuedInFuture) as refused:
        b.exchange(ahead.envelope, dave.setup)
    assert refused.value.requirement == "TIM-009"
    b.on_replies([*carol.setup, carol.reject(offer).envelope])
    assert "accept" in [verify_statement(e).body for e in b.exchange(ahead.envelope, dave.setup)]


@pytest.mark.req("TIM-009", "CMT-011")
def test_an_item_due_before_its_contract_does_not_count() -> None:
    """Mallory's bonded offer, dated 20 s ahead, wants Bob's item due 10 s from now -- before the
    contract's Accept, so nobody may claim it (CMT-011) and no date of Bob's can make it later than it
    is: Carol's offer dated 25 s ahead is answered, while Bob still waits for the locks."""
    clock = FixedClock()
    mallory, bob, carol = Party("mallory", clock), Party("bob", clock), Party("carol", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    b = make_peer(bob, clock, context=[escrow.mandate])
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + 10_000
    offer = mallory.offer(bob, proposal, issued_at_ms=clock.now_ms + 20_000)
    b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])
    c = b.negotiation(offer.negotiation_id).contract
    assert c is not None and not c.delivered  # owed, undelivered, and due before the contract
    ahead = carol.offer(bob, issued_at_ms=clock.now_ms + 25_000)
    assert "accept" in [verify_statement(e).body for e in b.exchange(ahead.envelope, carol.setup)]


@pytest.mark.req("TIM-009")
def test_the_owed_heap_stays_bounded_by_what_is_still_owed() -> None:
    """300 trades, each delivered at once: their entries are dead weight, swept out as the heap
    doubles, so it never holds more than twice what is still owed plus the slack."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    a, b = make_peer(alice, clock), make_peer(bob, clock)
    peak = 0
    for _ in range(300):
        due = clock.now_ms + DAY_MS
        items = {
            "gives": [service("a", value=1, deadline_ms=due)],
            "wants": [service("b", value=1, deadline_ms=due)],
        }
        run_trade(a, b, bob.did, alice.proposal(**items))
        peak = max(peak, len(a._owed_due), len(b._owed_due))
        clock.advance(1)
    assert 0 < peak <= 2 * OWED_HEAP_SLACK + 1
