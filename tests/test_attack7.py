"""A fourth attacker's review, of the time rules around TIM-009 (a peer dates nothing after the deadline
of an item it still owes while its clock is before it). Each test performs an attack through the real
components (reference peers with their policy guard, the reference escrow in process) by choosing a
value the protocol lets the attacker choose -- above all a time -- and checks what the rules say must
happen. A test marked ``xfail(strict=True)`` is a hole this version still has: the attack succeeds, and
the reason says what would close it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError, IssuedInFuture
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowWitness, PeerNode
from a2a_coop.runtime.peer import OWED_HEAP_SLACK, Peer
from a2a_coop.runtime.trade import carry_trade, resume_trade, run_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive, service

FUNDS, BOND = 1_000, 100
SKEW_MS = 30_000
OFFER_TTL_MS = 5 * 60_000


class Market(NamedTuple):
    clock: FixedClock
    mallory: Party  # the attacker
    bob: Party  # honest
    escrow: LocalEscrow
    b: Peer  # Bob's reference peer


def _market() -> Market:
    """Mallory and Bob, both funded at an escrow Bob trusts; Bob runs the reference peer."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    return Market(clock, mallory, bob, escrow, make_peer(bob, clock, context=[escrow.mandate]))


def _claim(
    m: Market, neg_id: bytes, contract: bytes, reason: str = "late (by a clock I chose)"
) -> VerifiedStatement:
    return m.mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=contract, item_index=0, reason=reason),
        audience=m.bob.did,
        negotiation_id=neg_id,
    )


def _bob_loses_nothing(m: Market, neg_id: bytes, contract: bytes) -> None:
    """Mallory claims Bob's item once its deadline has passed; the escrow rules when the response window
    and the claim window are over. Bob's bond must be his again."""
    m.clock.advance(DAY_MS)
    with contextlib.suppress(CoopError):  # refused outright: as good as dismissed
        m.escrow.submit([_claim(m, neg_id, contract).envelope])
    m.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
    m.escrow.tick()
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0), "Bob's bond was forfeited to Mallory"


# --- 1: an item that stopped counting, and came back -----------------------------------------------


@pytest.mark.req("TIM-009", "TIM-006", "WIT-002", "CMT-011")
def test_an_accept_shown_late_with_its_stamp_brings_its_items_back_under_the_rule() -> None:
    """Bob offers Mallory a bonded trade (5 min to answer); his item is due in a day. Mallory accepts one
    second before the offer expires, has the escrow stamp her Accept and lock both bonds at once, and
    tells Bob nothing. Once Bob's clock is past the offer's expiry plus the skew, his TIM-009 heap drops
    what the offer would owe (it can no longer be accepted, NEG-007) -- for good, as the lazy heap
    assumed. Ten seconds before Bob's deadline Mallory shows him her Accept with the escrow's Stamp
    (TIM-006 lets a stamped Accept in, however late, WIT-002), so the contract forms in his view, but
    its item was entered once already and is not entered again. Mallory's fresh key then has Bob accept
    an offer dated 29 s ahead, which TIM-009 no longer stops: Bob's chain runs 29 s ahead, and when the
    locks are relayed, his Delivery is dated 19 s after his deadline. Before the fix Mallory's claim
    was upheld and Bob's bond forfeited to her. Closed: a contract's items are entered under the
    contract itself (its Accept), not under the proposal that was entered while outstanding."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=DAY_MS)
    deadline = proposal.gives[0].deadline_ms
    offer = b.propose(mallory.did, proposal, ttl_ms=OFFER_TTL_MS)
    clock.advance(OFFER_TTL_MS - 1_000)
    accept = mallory.accept(offer, ttl_ms=2 * DAY_MS)  # in time, by a second
    stamp, *locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])[1:]
    assert [verify_statement(e).body for e in (stamp, *locks)] == ["stamp", "bond_lock", "bond_lock"]

    clock.advance(SKEW_MS + 2_000)  # past the offer's expiry plus the skew, by Bob's clock
    carol = Party("carol", clock)  # anyone's request dated a little ahead runs the TIM-009 query
    b.exchange(carol.offer(bob, issued_at_ms=clock.now_ms + 1).envelope, carol.setup)

    clock.now_ms = deadline - 10_000
    b.exchange(accept.envelope, [*mallory.setup, escrow.mandate, stamp])
    neg = b.negotiation(offer.negotiation_id)
    assert neg.state is State.ACCEPTED  # the contract, in Bob's view too; no lock relayed yet
    pacer = Party("mallory-pacer", clock)
    with pytest.raises(IssuedInFuture):  # Bob owes an item due in 10 s: nothing dated 29 s ahead
        b.exchange(pacer.offer(bob, issued_at_ms=clock.now_ms + 29_000).envelope, pacer.setup)

    answers = [verify_statement(e) for e in b.exchange(locks[-1], [escrow.mandate, stamp, *locks[:-1]])]
    deliveries = [vs for vs in answers if vs.body == "delivery"]
    assert [d.issued_at_ms <= deadline for d in deliveries] == [True]
    escrow.submit([d.envelope for d in deliveries])  # witnessed at once
    _bob_loses_nothing(m, neg.id, accept.digest)


# --- 2: a heap kept small, and its keys piling up ---------------------------------------------------


@pytest.mark.req("TIM-009")
def test_the_owed_heaps_keys_stay_bounded_when_the_queries_keep_the_heap_small() -> None:
    """Alice's clock runs 1 ms ahead of Bob's (honest, and common). Each of her requests is dated ahead
    of Bob's clock, so Bob's TIM-009 query runs on every one and pops the entries his last trade left
    dead: the heap never doubles, and before the fix the sweep never ran, while the keys of the
    contracts entered in it (one per trade) stayed for ever -- unbounded memory over a long life, even
    with a journal forgetting every finished negotiation. Expect the keys swept like the entries."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    nonces = iter(range(10**6))
    a = Peer(
        alice.agent.key,
        alice.mandate_vs.envelope,
        clock=lambda: clock.now_ms + 1,
        nonce=lambda: next(nonces).to_bytes(16, "big"),
    )
    b = make_peer(bob, clock)
    peak_heap = peak_keys = 0
    for _ in range(300):
        due = clock.now_ms + DAY_MS
        items = {
            "gives": [service("a", value=1, deadline_ms=due)],
            "wants": [service("b", value=1, deadline_ms=due)],
        }
        neg = run_trade(a, b, bob.did, alice.proposal(**items))
        assert neg.state is State.FULFILLED
        peak_heap = max(peak_heap, len(b._owed_due))
        peak_keys = max(peak_keys, len(b._owed_entered))
        clock.advance(10)
    assert peak_heap <= 2
    assert peak_keys <= 2 * OWED_HEAP_SLACK + 1


# --- 3: a Delivery held back, and never sent --------------------------------------------------------


class Silent:
    """Mallory's server, as Bob's runtime reaches it: it takes everything and answers nothing."""

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        return []


def _bobs_terms(
    clock: FixedClock, bob: Party, escrow: LocalEscrow, *, due_in_ms: int, bond: int = BOND
) -> Any:
    """Bob's offer terms: his code review for copy editing, both due ``due_in_ms`` from now, a bond of
    ``bond`` each side (none: the escrow only arbitrates)."""
    deadline = clock.now_ms + due_in_ms
    return bob.proposal(
        issuer_bond=bond,
        audience_bond=bond,
        escrow=escrow.did,
        gives=[service("code-review", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline)],
    )


def _served_bob(tmp_path: Path, **witness: Any) -> tuple[FixedClock, Party, Party, LocalEscrow, PeerNode]:
    """Mallory, and Bob serving with a journal and an escrow witness (``witness``: its options), both
    funded at the escrow: the clock, Mallory, Bob, the escrow and Bob's node (the caller closes it)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    return clock, mallory, bob, escrow, _open_bob(tmp_path, clock, bob, escrow, **witness)


def _open_bob(tmp_path: Path, clock: FixedClock, bob: Party, escrow: LocalEscrow, **witness: Any) -> PeerNode:
    """Bob's node on his journal in ``tmp_path``, with an escrow witness (``witness``: its options);
    opened again after a restart."""
    return PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        context=[escrow.mandate],
        clock=lambda: clock.now_ms,
        witness=EscrowWitness(escrow, escrow.did, **witness),
    )


def _restarted(bob: Party, clock: FixedClock, escrow: LocalEscrow, path: Path) -> Peer:
    """Bob's Peer again on his journal at ``path``: the same key, nonces of its own (a real peer draws
    them at random)."""
    restarted = iter(range(10**6))
    return Peer(
        bob.agent.key,
        bob.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"restarted/{next(restarted)}", 16),
        context=[escrow.mandate],
        journal=Journal.open(path),
    )


def _owe_soon(m: Market, due_in_ms: int) -> None:
    """A fresh key of Mallory's has Bob accept a bonded trade in which Bob's item is due in
    ``due_in_ms``; it never funds its bond, so Bob cannot deliver that item and it stays owed."""
    sock = Party("mallory-sock", m.clock)
    proposal = sock.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=m.escrow.did)
    proposal.wants[0].deadline_ms = m.clock.now_ms + due_in_ms
    answers = m.b.exchange(sock.offer(m.bob, proposal).envelope, [m.escrow.mandate, *sock.setup])
    assert "accept" in [verify_statement(e).body for e in answers]


@pytest.mark.req("TIM-009", "NEG-014", "WIT-003")
def test_a_delivery_held_back_by_the_rule_is_sent_once_the_hint_has_passed() -> None:
    """A fresh key of Mallory's has Bob owe an item due in 20 s that he cannot deliver (its bond is
    never funded). Bob offers Mallory a bonded trade, his item due in an hour. Mallory's Accept is
    dated 29 s ahead (within the skew); when the locks come, Bob's Delivery would be dated at the
    Accept (NEG-014), after the sock's deadline, so TIM-009 holds it back -- rightly, for 20 s. Mallory
    delivers hers on time and then sends Bob nothing more in that negotiation. Before the fix nothing
    ever performed Bob's item again: not the relay that brought the locks, not `resume` after the hint
    had passed; an hour later Mallory claimed, and Bob's bond was forfeited to her (Bob 900, Mallory
    1,100). Closed: the peer remembers what TIM-009 held back (Peer.deferred_until), and `resume`
    performs what is due (Peer.perform), to the escrow first; see the next test for `offer`."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    _owe_soon(m, 20_000)
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000)
    offer = b.propose(mallory.did, proposal)
    accept = mallory.accept(offer, issued_at_ms=clock.now_ms + 29_000, ttl_ms=DAY_MS)
    b.on_replies([*mallory.setup, accept.envelope])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    b.guard_refusals.clear()
    assert "delivery" not in [vs.body for vs in b.on_replies(locks)]  # held back for 20 s
    refusal = b.guard_refusals[-1]
    assert isinstance(refusal, IssuedInFuture) and refusal.requirement == "TIM-009"
    hers = mallory.deliver(accept, bob, issued_at_ms=accept.header.issued_at_ms)
    b.on_replies([hers.envelope])
    escrow.submit([hers.envelope])

    clock.advance(refusal.retry_after_ms or 0)  # the hint has passed: the sock's item is due
    neg = b.negotiation(offer.negotiation_id)
    resume_trade(b, Silent(), neg, escrow=escrow)  # what `a2a-coop resume` does
    assert (bob.did, 0) in neg.contract.delivered, "Bob's Delivery was never signed"
    _bob_loses_nothing(m, neg.id, accept.digest)


# --- 4: deadlines stacked to keep honest requests waiting -------------------------------------------


def _stack_deadlines(m: Market, contracts: int, start_ms: int, spacing_ms: int) -> None:
    """Fresh keys of Mallory's have Bob accept ``contracts`` bonded trades, each with 32 items of his
    (BDY-001's most) due ``spacing_ms`` apart from ``start_ms`` on, and never fund their bonds: Bob owes
    a deadline every ``spacing_ms`` for a while, at the cost of one unfunded offer per 32 of them."""
    due = m.clock.now_ms + start_ms
    for n in range(contracts):
        sock = Party(f"mallory-sock-{n}", m.clock)
        proposal = sock.proposal(
            issuer_bond=BOND,
            audience_bond=BOND,
            escrow=m.escrow.did,
            wants=[service(f"job-{i}", value=1, deadline_ms=due + i * spacing_ms) for i in range(32)],
        )
        due += 32 * spacing_ms
        answers = m.b.exchange(sock.offer(m.bob, proposal).envelope, [m.escrow.mandate, *sock.setup])
        assert "accept" in [verify_statement(e).body for e in answers]


@pytest.mark.req("TIM-009", "RPC-012")
def test_stacked_deadlines_hold_a_request_back_no_longer_than_its_lead() -> None:
    """Mallory stacks 640 deadlines of Bob's, 10 ms apart (20 unfunded offers), hoping to have Bob refuse
    every request dated even a little ahead of his clock for 6.4 s. Carol's clock runs 50 ms ahead:
    her offer is refused with a hint of the next deadline, and again after it -- but its date is fixed,
    so once Bob's clock reaches it, it is answered. The defence holds: a sender resending the same
    statement as the hints say waits no longer than its own lead, however many deadlines are stacked."""
    m = _market()
    clock, bob, b = m.clock, m.bob, m.b
    _stack_deadlines(m, 20, 1_000, 10)
    clock.advance(1_000)
    carol = Party("carol", clock)
    offer = carol.offer(bob, issued_at_ms=clock.now_ms + 50)
    started, refusals = clock.now_ms, 0
    while True:
        try:
            answers = b.exchange(offer.envelope, carol.setup)
            break
        except IssuedInFuture as refused:
            assert refused.requirement == "TIM-009" and refused.retry_after_ms
            refusals += 1
            clock.advance(refused.retry_after_ms)
    assert "accept" in [verify_statement(e).body for e in answers]
    assert 0 < refusals <= 6 and clock.now_ms - started <= 50 + 1


@pytest.mark.req("TIM-009")
def test_a_reference_caller_a_little_ahead_waits_out_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Carol runs the reference peer with a clock 50 ms ahead of Bob's; Mallory has stacked deadlines of
    Bob's 10 ms apart, so each of Carol's requests is refused ISSUED_IN_FUTURE with a hint. Before the
    fix drive() raised the refusal, as TIM-009 asks no sender to: an honest caller a few ms ahead
    failed its trade (in mid-trade too, leaving it to `resume`) whenever an attacker arranged for its
    counterparty to owe an item due within that lead. Closed: drive() sends the same envelope again
    after the hint, at most the skew in all; the trade completes after a wait of about her lead per
    request."""
    m = _market()
    clock, bob, b = m.clock, m.bob, m.b
    _stack_deadlines(m, 2, 1_000, 10)
    clock.advance(1_000)
    monkeypatch.setattr(time, "sleep", lambda seconds: clock.advance(round(seconds * 1000)))
    carol = Party("carol", clock)
    nonces = iter(range(10**6))
    c = Peer(
        carol.agent.key,
        carol.mandate_vs.envelope,
        clock=lambda: clock.now_ms + 50,
        nonce=lambda: next(nonces).to_bytes(16, "big"),
    )
    started = clock.now_ms
    neg = run_trade(c, b, bob.did, carol.proposal())
    assert neg.state is State.FULFILLED
    assert clock.now_ms - started <= 200


# --- 5: the escrow's statements refused for a date no answer follows --------------------------------


@pytest.mark.req("TIM-009", "ESC-009", "NEG-014")
def test_the_escrows_locks_are_taken_whatever_deadline_their_date_passes() -> None:
    """Mallory's bonded offer gives Bob an hour to deliver; she withholds the locks, so Bob's node fetches
    them from the escrow itself (ESC-009) and hands them to his peer as a relay. The escrow's clock runs
    40 ms ahead of Bob's (well within the skew), and a fresh key of Mallory's has Bob owe an item due in
    20 ms -- or stacks such deadlines 10 ms apart for as long as she likes (see above). Before the fix
    Bob refused the escrow's BondLock ISSUED_IN_FUTURE under TIM-009, as every request in a negotiation
    dated past an owed deadline, although nothing he answers to it is dated after it (his Delivery
    follows the Accept, NEG-014): kept refusing until his own deadline passed, he would never learn his
    bonds were locked, never deliver, and lose his bond to Mallory's claim. Closed: only a request his
    answers follow (an Offer, Counter, Accept or Delivery) is refused under TIM-009."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow_clock = FixedClock(clock.now_ms + 40)
    escrow = LocalEscrow(Party("escrow", escrow_clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    m = Market(clock, mallory, bob, escrow, make_peer(bob, clock, context=[escrow.mandate]))
    b = m.b
    _owe_soon(m, 20)
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + 3_600_000
    offer = mallory.offer(bob, proposal)
    accept = verify_statement(b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])[1])
    assert accept.body == "accept"
    mandate, *answer = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock", "bond_lock"]
    replies = [verify_statement(e) for e in b.exchange(answer[-1], [mandate, *answer[:-1]])]
    assert [vs.body for vs in replies] == ["delivery"]
    assert replies[0].issued_at_ms == clock.now_ms  # dated at Bob's clock: late for nothing he owes


@pytest.mark.req("TIM-009")
def test_a_caller_on_a_clock_that_does_not_move_is_refused_not_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulation's clock does not follow time.sleep: waiting out the hint would never end the refusal,
    so drive() raises it after one wait instead of sleeping out the whole skew."""
    m = _market()
    _owe_soon(m, 20)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    carol = Party("carol", m.clock)
    c = make_peer(carol, m.clock)
    ahead = Peer(  # Carol's key on a clock 50 ms ahead that never moves
        carol.agent.key, carol.mandate_vs.envelope, clock=lambda: m.clock.now_ms + 50, nonce=c.nonce
    )
    with pytest.raises(IssuedInFuture):
        run_trade(ahead, m.b, m.bob.did, carol.proposal())
    assert len(slept) == 1


class AcceptsAhead:
    """Mallory's server: it accepts Bob's offer with an Accept dated 29 s ahead, and answers nothing
    else."""

    def __init__(self, mallory: Party) -> None:
        self.mallory = mallory
        self.accept: VerifiedStatement | None = None

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        if vs.body != "offer":
            return []
        ahead = self.mallory.clock.now_ms + 29_000
        self.accept = self.mallory.accept(vs, issued_at_ms=ahead, ttl_ms=DAY_MS)
        return [*self.mallory.setup, self.accept.envelope]


@pytest.mark.req("TIM-009", "NEG-014", "WIT-003", "WIT-007")
def test_a_trade_whose_delivery_the_rule_holds_back_waits_out_the_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As above, through `a2a-coop offer` (carry_trade): the locks come, TIM-009 holds Bob's Delivery
    back for 20 s, and before the fix carry_trade returned without it. Now it waits the hint out (at
    most the skew: the contract is dated at most that far ahead), signs the Delivery, has the escrow
    witness it, then sends it to Mallory: her claim an hour later is dismissed."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    _owe_soon(m, 20_000)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(round(seconds * 1000))

    monkeypatch.setattr(time, "sleep", sleep)
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000)
    mallorys = AcceptsAhead(mallory)
    neg = carry_trade(b, mallorys, b.propose(mallory.did, proposal), escrow=escrow)
    assert mallorys.accept is not None and neg.contract is not None
    assert (bob.did, 0) in neg.contract.delivered
    assert 0 < sum(slept) <= 20.001 and b.deferred_until() is None
    _bob_loses_nothing(m, neg.id, mallorys.accept.digest)


def _held_back_on_a_served_bob(tmp_path: Path) -> tuple[FixedClock, Party, Party, LocalEscrow, PeerNode, Any]:
    """Bob serves with an escrow witness (_served_bob). Mallory's Accept of his bonded offer is dated
    25 s ahead, a fresh key of hers has him owe an item due in 300 ms, and she relays the locks: his
    Delivery, dated at the Accept, is held back under TIM-009 for 301 ms. Returns the clock, Mallory,
    Bob, the escrow, Bob's node (the caller closes it) and Mallory's Accept."""
    clock, mallory, bob, escrow, node = _served_bob(tmp_path)
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000)
    offer = node.peer.propose(mallory.did, proposal)
    accept = mallory.accept(offer, issued_at_ms=clock.now_ms + 25_000, ttl_ms=DAY_MS)
    node.exchange(accept.envelope, mallory.setup)
    _owe_soon(Market(clock, mallory, bob, escrow, node.peer), 300)
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    node.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])
    neg = node.peer.negotiation(offer.negotiation_id)
    assert neg.contract is not None and not neg.contract.delivered  # held back
    assert node.peer.deferred_until() == clock.now_ms + 301
    return clock, mallory, bob, escrow, node, accept


def _wait_delivered(node: PeerNode, negotiation_id: bytes, did: str) -> list[VerifiedStatement]:
    """Wait (a few seconds at most) for ``did``'s Delivery in ``negotiation_id`` on ``node``, and for
    its witness to have submitted it; return ``did``'s Deliveries there."""
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        with node.peer.lock:
            c = node.peer.negotiation(negotiation_id).contract
            if c is not None and (did, 0) in c.delivered:
                break
        time.sleep(0.05)
    node.witness.flush()  # type: ignore[union-attr]
    held = node.peer.verifier.statements
    return [
        vs
        for vs in held.values()
        if vs.body == "delivery" and vs.issuer == did and vs.negotiation_id == negotiation_id
    ]


@pytest.mark.req("TIM-009", "WIT-007")
def test_a_serving_node_performs_a_held_back_delivery_once_the_hint_passes(tmp_path: Path) -> None:
    """Bob serves with an escrow witness. Mallory sends his server her Accept of his bonded offer dated
    25 s ahead (nothing of his was due before then, so it is taken); a fresh key of hers then has him
    owe an item due in 300 ms that he cannot deliver; she relays the locks. Bob's Delivery, dated at
    the Accept, is held back by TIM-009 -- and Mallory sends nothing more. Before the fix the node
    never performed it; now a watch on the witness's thread does once the hint has passed, and the
    escrow witnesses it."""
    clock, _, bob, escrow, node, accept = _held_back_on_a_served_bob(tmp_path)
    try:
        clock.advance(301)
        mine = _wait_delivered(node, accept.negotiation_id, bob.did)
        assert len(mine) == 1
        assert escrow.escrow.verifier.witness.stamp_time(escrow.did, mine[0].digest) == clock.now_ms
        assert mine[0].issued_at_ms == accept.header.issued_at_ms  # before his deadline, an hour away
    finally:
        node.close()


# --- 6: a contract formed by a statement taken without a reaction -----------------------------------


@pytest.mark.req("TIM-009", "TIM-008", "RPC-015")
def test_a_contract_formed_by_context_still_counts_its_items() -> None:
    """Bob offers Mallory a bonded trade, his item due in a minute. Mallory accepts at once but hands
    Bob her Accept not as a request, which he would react to, but as the context of a request in
    another negotiation (context addressed to Bob is taken, RPC-015; before the fix, in a gossip swap
    too, see below). The contract forms in Bob's view, but nothing entered its items in the TIM-009
    heap (and his offer's entries no longer stood for them), so 50 s later a fresh key's offer dated
    29 s ahead -- past his deadline -- was accepted, and his Delivery, made the moment the locks were
    relayed, was late by its own date. Closed: whatever route moves a negotiation of ours, its items
    are entered."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=60_000)
    deadline = proposal.gives[0].deadline_ms
    offer = b.propose(mallory.did, proposal)
    accept = mallory.accept(offer, ttl_ms=DAY_MS)
    sock = Party("mallory-sock", clock)
    b.exchange(sock.offer(bob).envelope, [*sock.setup, *mallory.setup, accept.envelope])
    neg = b.negotiation(offer.negotiation_id)
    assert neg.state is State.ACCEPTED  # the contract, in Bob's view

    clock.advance(50_000)
    pacer = Party("mallory-pacer", clock)
    with pytest.raises(IssuedInFuture):
        b.exchange(pacer.offer(bob, issued_at_ms=clock.now_ms + 29_000).envelope, pacer.setup)
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    answers = [verify_statement(e) for e in b.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])]
    deliveries = [vs for vs in answers if vs.body == "delivery"]
    assert [d.issued_at_ms <= deadline for d in deliveries] == [True]


@pytest.mark.req("ATT-019", "ESC-009", "NEG-012")
def test_gossip_moves_no_trade() -> None:
    """Mallory's bonded offer gives Bob an hour to deliver; he accepts. She has the escrow lock both
    bonds and hands Bob the locks (and later, her Accept of his own offer) in a gossip swap, which
    before the fix held whatever envelopes came: his contract went BONDED with no reaction -- no
    Delivery -- and his node's lock watch, which fetches the locks only while the contract is still
    ACCEPTED (ESC-009), then did nothing: Bob never delivered, and her claim after the hour took his
    bond. Closed: a swap takes Checkpoints and their Mandates only, as it sends (ATT-019)."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + 3_600_000
    offer = mallory.offer(bob, proposal)
    accept = verify_statement(b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])[1])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    b.gossip(locks, [])
    neg = b.negotiation(offer.negotiation_id)
    assert neg.state is State.ACCEPTED  # the node's lock watch still fetches them (ESC-009)
    answers = [verify_statement(e) for e in b.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])]
    assert [vs.body for vs in answers] == ["delivery"]

    theirs = mallory.proposal()
    mine = b.propose(mallory.did, trade_pb2.Offer(gives=theirs.wants, wants=theirs.gives, terms=theirs.terms))
    b.gossip([*mallory.setup, mallory.accept(mine).envelope], [])
    assert b.negotiation(mine.negotiation_id).contract is None


@pytest.mark.req("ESC-009", "ESC-008", "NEG-012", "RPC-015")
@pytest.mark.parametrize("route", ["request", "context"])
def test_an_initiator_whose_offer_is_accepted_by_a_request_fetches_its_locks(
    tmp_path: Path, route: str
) -> None:
    """Bob serves with an escrow witness and offers Mallory a bonded trade from the same key (`offer`
    with his journal). Mallory's server answers with an Ack only; later she sends her Accept to Bob's
    server as a request, has the escrow lock both bonds, and withholds the locks. `offer` had returned
    long before (no contract yet), and the node's lock watch, which fetches a contract's locks when its
    initiator does not relay them (ESC-009), was armed for responders only -- "the initiator submits its
    contracts" -- so nobody submitted Bob's: he never learned his bond was locked, never delivered, and
    her claim after his deadline took it. The same with her Accept handed over as the context of a
    request in another negotiation (context addressed to Bob is taken, RPC-015), where the watch looked
    only at Bob's answers. Closed: the watch is armed for any contract whose Accept reached the server,
    as a request or as context."""
    clock, mallory, bob, escrow, node = _served_bob(tmp_path, lock_wait_s=0.05)
    try:
        proposal = _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000)
        offer = node.peer.propose(mallory.did, proposal)
        clock.advance(1_000)
        accept = mallory.accept(offer, ttl_ms=DAY_MS)
        if route == "request":
            node.exchange(accept.envelope, mallory.setup)
        else:
            sock = Party("mallory-sock", clock)
            node.exchange(sock.offer(bob).envelope, [*sock.setup, *mallory.setup, accept.envelope])
        escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])  # locks withheld
        neg = node.peer.negotiation(offer.negotiation_id)
        give_up = time.monotonic() + 5
        while neg.contract is not None and not neg.contract.delivered and time.monotonic() < give_up:
            time.sleep(0.05)
        node.witness.flush()  # type: ignore[union-attr]
        assert neg.contract is not None and (bob.did, 0) in neg.contract.delivered
        mine = next(d for d, (by, _) in neg.contract.deliveries.items() if by == bob.did)
        assert escrow.escrow.verifier.witness.stamp_time(escrow.did, mine) is not None
    finally:
        node.close()


@pytest.mark.req("RPC-015", "RPC-002", "TIM-008", "NEG-012")
def test_an_unbonded_contract_formed_by_context_is_performed() -> None:
    """Bob offers Mallory an unbonded trade that names the escrow as arbiter, his item due in an hour.
    Mallory answers with an Ack, and sends Bob, as its context, her Accept: the contract forms in Bob's
    view, unbonded, so he may deliver at once -- but nothing reacts to context in another negotiation
    than the request's (an Ack has none), so he never does. An hour later she claims, and the escrow
    upholds it: Bob's contract ends BREACHED. Closed: context that moves another negotiation of ours
    gets the reaction it would get as a request, and what is signed for it is part of the answer."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    proposal = _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000, bond=0)
    offer = b.propose(mallory.did, proposal)
    accept = mallory.accept(offer, ttl_ms=DAY_MS)
    ack = mallory.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=bob.did)
    answered = [verify_statement(e) for e in b.exchange(ack.envelope, [*mallory.setup, accept.envelope])]
    neg = b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and not neg.contract.bonds_required
    assert (bob.did, 0) in neg.contract.delivered, "Bob never delivered"
    assert [vs.body for vs in answered] == ["delivery"]  # in the answer (RPC-002), no Ack of an Ack


# --- 7: a restart that forgot what a Revoke left owed -----------------------------------------------


@pytest.mark.req("TIM-009", "CMT-003", "CHN-005")
def test_after_a_restart_what_a_revoke_left_owed_still_counts(tmp_path: Path) -> None:
    """Mallory offers revocable terms (no forfeit, two days' notice); Bob accepts, his item due in a
    minute. She has the escrow lock both bonds, revokes at once and relays Bob only the Revoke and its
    Stamp: he is REVOKED, still owes the item (CMT-003), and cannot deliver it until he sees the locks.
    Bob's peer restarts (a deploy, a crash). Rebuilding its TIM-009 heap from the journal, it entered
    only negotiations not ended -- and REVOKED is an end state -- so 35 s later a fresh key's offer dated
    29 s ahead, past his deadline, was accepted; Mallory then relayed the locks, and Bob's Delivery was
    late by its own date. Closed: a REVOKED contract's items are entered like any other's (the heap
    counts only those the Revoke left owed)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    path = tmp_path / "bob.db"
    b = make_peer(bob, clock, context=[escrow.mandate], journal=Journal.open(path))
    proposal = mallory.proposal(
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=False, notice_ms=2 * DAY_MS),
    )
    deadline = clock.now_ms + 60_000
    proposal.wants[0].deadline_ms = deadline
    offer = mallory.offer(bob, proposal)
    accept = verify_statement(b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])[1])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])[1:]
    revoke = mallory.revoke(accept, bob, "changed my mind")
    stamp = escrow.submit([revoke.envelope])[1]
    b.exchange(revoke.envelope, [escrow.mandate, stamp])
    assert b.negotiation(offer.negotiation_id).state is State.REVOKED
    b.journal.close()  # type: ignore[union-attr]

    b = _restarted(bob, clock, escrow, path)
    clock.advance(35_000)
    pacer = Party("mallory-pacer", clock)
    with pytest.raises(IssuedInFuture):
        b.exchange(pacer.offer(bob, issued_at_ms=clock.now_ms + 29_000).envelope, pacer.setup)
    answers = [verify_statement(e) for e in b.exchange(locks[-1], [escrow.mandate, *locks[:-1]])]
    assert [vs.issued_at_ms <= deadline for vs in answers if vs.body == "delivery"] == [True]
    b.journal.close()  # type: ignore[union-attr]


# --- 8: what was held back, across a restart; and a Receipt held back -------------------------------


@pytest.mark.req("TIM-009", "WIT-007")
@pytest.mark.parametrize("down", ["until after the hint", "for a moment"])
def test_a_serving_node_restarted_performs_what_the_rule_held_back(tmp_path: Path, down: str) -> None:
    """Bob's server holds his Delivery back under TIM-009 (Mallory's Accept dated 25 s ahead, a fresh
    key's item of his due in 300 ms), and then restarts -- a deploy, a crash -- either staying down until
    the hint has passed or coming back at once. What was held back lived in memory only: before the
    fix the restarted node never performed it (nothing re-derived it from the journal, and Mallory
    sends nothing more), and her claim an hour later took Bob's bond. Now a peer rebuilt from its
    journal counts every contract where its strategy would still deliver an item it has not, and the
    node performs it at start -- held back again while the hint has not passed, then on its watch --
    with the escrow witnessing it."""
    clock, mallory, bob, escrow, node, accept = _held_back_on_a_served_bob(tmp_path)
    node.close()
    if down == "until after the hint":
        clock.advance(301)
    node = _open_bob(tmp_path, clock, bob, escrow)
    try:
        if down == "for a moment":
            give_up = time.monotonic() + 10  # the start's attempt, held back again with a fresh hint
            while node.peer.deferred_until() != clock.now_ms + 301 and time.monotonic() < give_up:
                time.sleep(0.02)
            assert node.peer.deferred_until() == clock.now_ms + 301
            clock.advance(301)
        mine = _wait_delivered(node, accept.negotiation_id, bob.did)
        assert len(mine) == 1, "the restarted node never performed the Delivery held back"
        assert escrow.escrow.verifier.witness.stamp_time(escrow.did, mine[0].digest) == clock.now_ms
        assert mine[0].issued_at_ms == accept.header.issued_at_ms
    finally:
        node.close()
    _bob_loses_nothing(Market(clock, mallory, bob, escrow, node.peer), accept.negotiation_id, accept.digest)


@pytest.mark.req("TIM-009", "NEG-014")
def test_a_peer_rebuilt_from_its_journal_performs_what_the_rule_held_back(tmp_path: Path) -> None:
    """The same without a server: Bob's peer, with a journal, holds his Delivery back for 20 s, and is
    rebuilt from the journal (the process restarted). Before the fix deferred_until() was None and
    perform_deferred() performed nothing: only `resume`, which performs every trade it resumes, would
    have made the Delivery. Now the rebuilt peer knows it is due."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    path = tmp_path / "bob.db"
    m = Market(
        clock,
        mallory,
        bob,
        escrow,
        make_peer(bob, clock, context=[escrow.mandate], journal=Journal.open(path)),
    )
    _owe_soon(m, 20_000)
    offer = m.b.propose(mallory.did, _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000))
    accept = mallory.accept(offer, issued_at_ms=clock.now_ms + 29_000, ttl_ms=DAY_MS)
    m.b.on_replies([*mallory.setup, accept.envelope])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    assert "delivery" not in [vs.body for vs in m.b.on_replies(locks)]
    m.b.journal.close()  # type: ignore[union-attr]

    b = _restarted(bob, clock, escrow, path)
    try:
        assert b.deferred_until() is not None, "the rebuilt peer forgot what it owes"
        assert b.perform_deferred() == []  # still held back: the fresh key's item is due in 20 s
        at = b.deferred_until()
        assert at == clock.now_ms + 20_001
        clock.now_ms = at
        mine = [vs for vs in b.perform_deferred() if vs.body == "delivery"]
        assert [d.issued_at_ms for d in mine] == [accept.header.issued_at_ms]
        escrow.submit([d.envelope for d in mine])
        _bob_loses_nothing(m._replace(b=b), offer.negotiation_id, accept.digest)
    finally:
        b.journal.close()  # type: ignore[union-attr]


@pytest.mark.req("TIM-009", "RPC-002")
def test_a_node_without_an_escrow_performs_a_held_back_delivery_in_its_next_answer(tmp_path: Path) -> None:
    """Without ``--escrow`` a node has no watch for what TIM-009 held back, on purpose: a Delivery it
    signed on its own would reach nobody (it knows neither the escrow's address nor the counterparty's,
    and an answer lists only what was signed for its request, RPC-002), and it would no longer be signed
    in the answer to the counterparty's next statement in that negotiation, the one route by which it
    still reaches the counterparty. That is where it is performed, as here after a restart; against a
    counterparty that sends nothing more, only ``--escrow`` protects the bond (as against one that
    withholds its Receipt, or the locks)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})

    def open_node() -> PeerNode:
        return PeerNode.open(
            bob.agent.key,
            bob.mandate_vs.envelope,
            tmp_path / "bob.db",
            context=[escrow.mandate],
            clock=lambda: clock.now_ms,
        )

    node = open_node()
    try:
        offer = node.peer.propose(mallory.did, _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000))
        accept = mallory.accept(offer, issued_at_ms=clock.now_ms + 25_000, ttl_ms=DAY_MS)
        node.exchange(accept.envelope, mallory.setup)
        _owe_soon(Market(clock, mallory, bob, escrow, node.peer), 300)
        locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
        assert node.exchange(locks[-1], [escrow.mandate, *locks[1:-1]]) == []  # held back
    finally:
        node.close()
    clock.advance(301)
    node = open_node()
    try:
        hers = mallory.deliver(accept, bob, issued_at_ms=accept.header.issued_at_ms)
        answer = [verify_statement(e) for e in node.exchange(hers.envelope, mallory.setup)]
        assert [vs.body for vs in answer] == ["receipt", "delivery"]
        assert answer[1].issued_at_ms == accept.header.issued_at_ms  # dated at the Accept: on time
    finally:
        node.close()


@pytest.mark.req("TIM-009", "NEG-014", "CMT-001")
def test_a_receipt_held_back_by_the_rule_is_signed_once_the_hint_has_passed() -> None:
    """A Receipt is held back like a Delivery: it is dated no earlier than the Delivery it names
    (NEG-014). Mallory accepts Bob's bonded offer with an Accept dated 29 s ahead; the locks come and
    Bob delivers at once (dated at the Accept). A fresh key of hers then has Bob owe an item due 29.5 s
    from now, and her Delivery, an answer to his request (so no request of hers is refused under
    TIM-009), is dated 29.9 s ahead: Bob's Receipt of it would be dated after that deadline, and the
    guard refuses it -- rightly, until the deadline. Before the fix nothing signed it again (the peer
    remembered held-back Deliveries only): her item was never receipted, so the contract never
    reached FULFILLED and the escrow kept both bonds locked until it lapsed, a day after its last
    deadline. Now the Receipt is deferred like a Delivery, and the escrow releases both bonds."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    offer = b.propose(mallory.did, _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000))
    accept = mallory.accept(offer, issued_at_ms=clock.now_ms + 29_000, ttl_ms=DAY_MS)
    b.on_replies([*mallory.setup, accept.envelope])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    mine = [vs for vs in b.on_replies(locks) if vs.body == "delivery"]
    assert len(mine) == 1  # nothing else owed yet: delivered at once
    _owe_soon(m, 29_500)
    hers = mallory.deliver(accept, bob, issued_at_ms=clock.now_ms + 29_900)
    b.guard_refusals.clear()
    assert b.on_replies([hers.envelope]) == []  # the Receipt is held back
    refusal = b.guard_refusals[-1]
    assert isinstance(refusal, IssuedInFuture) and refusal.requirement == "TIM-009"
    assert b.deferred_until() == clock.now_ms + 29_501

    clock.advance(refusal.retry_after_ms or 0)
    performed = b.perform_deferred()
    assert [vs.body for vs in performed] == ["receipt"], "Bob's Receipt was never signed"
    theirs = mallory.receipt(mine[0], issued_at_ms=hers.issued_at_ms)
    escrow.submit([mine[0].envelope, hers.envelope, performed[0].envelope, theirs.envelope])
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0)  # released (CMT-001)
    assert escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)


@pytest.mark.req("TIM-009", "CMT-001", "WIT-007")
def test_a_trade_whose_receipt_the_rule_holds_back_still_releases_the_bonds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `a2a-coop offer` (carry_trade), with an honest Mallory whose clock runs 25 s ahead of
    Bob's (within the skew) and a fresh key's item of Bob's due in 20 s: her Accept and her Delivery are
    dated 25 s ahead, so TIM-009 holds back both Bob's Delivery and his Receipt of hers. carry_trade
    waits the hint out and performs what was held back. Before the fix only the Delivery was made again,
    so her item was never receipted; and her Receipt of his late-signed Delivery came after he had
    settled with the escrow, which never saw it. Either way the contract never reached FULFILLED at
    the escrow, and both bonds stayed locked until it lapsed, a day after the last deadline. Now both
    Receipts reach the escrow and it releases the bonds at once."""
    m = _market()
    clock, mallory, bob, escrow, b = m
    _owe_soon(m, 20_000)
    monkeypatch.setattr(time, "sleep", lambda seconds: clock.advance(round(seconds * 1000)))
    theirs = make_peer(mallory, clock, context=[escrow.mandate])
    theirs.clock = lambda: clock.now_ms + 25_000
    neg = carry_trade(
        b, theirs, b.propose(mallory.did, _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000)), escrow=escrow
    )
    assert neg.contract is not None and len(neg.contract.receipted) == 2, "an item was never receipted"
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0)  # released (CMT-001)
    assert escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)


@pytest.mark.req("CMT-001", "WIT-007", "RPC-015")
def test_a_serving_node_restarted_receipts_a_delivery_it_holds_unreceipted(tmp_path: Path) -> None:
    """Bob serves with an escrow witness; his bonded trade with Mallory is performed on his side. Her
    Delivery reaches him only as the context of a request (her Receipt of his): it is taken (RPC-015),
    but only a Delivery that comes as the request is receipted, so her item stays unreceipted, the
    contract never reaches FULFILLED and the escrow keeps both bonds locked. Before the fix a restart
    changed nothing (only a Delivery was ever performed again, and only one TIM-009 had held back in
    this run). Now the restarted node receipts every Delivery it holds unreceipted, and its witness
    gives the escrow the Receipt with the Delivery it names: both bonds are released."""
    clock, mallory, bob, escrow, node = _served_bob(tmp_path)
    try:
        offer = node.peer.propose(mallory.did, _bobs_terms(clock, bob, escrow, due_in_ms=3_600_000))
        accept = mallory.accept(offer, ttl_ms=DAY_MS)
        node.exchange(accept.envelope, mallory.setup)
        locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
        mine = [verify_statement(e) for e in node.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])]
        assert [vs.body for vs in mine] == ["delivery"]
        hers = mallory.deliver(accept, bob)
        theirs = mallory.receipt(mine[0])
        answer = [verify_statement(e).body for e in node.exchange(theirs.envelope, [hers.envelope])]
        assert "receipt" not in answer
        node.witness.flush()  # type: ignore[union-attr]
        escrow.submit([hers.envelope, theirs.envelope])
        assert escrow.get_balance(bob.did)[:2] == (FUNDS - BOND, BOND)  # still locked
    finally:
        node.close()
    node = _open_bob(tmp_path, clock, bob, escrow)
    try:
        give_up = time.monotonic() + 10
        while escrow.get_balance(bob.did)[:2] != (FUNDS, 0) and time.monotonic() < give_up:
            time.sleep(0.05)
        node.witness.flush()  # type: ignore[union-attr]
        assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0), "Bob's bond stayed locked"  # CMT-001
        assert escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)
    finally:
        node.close()
