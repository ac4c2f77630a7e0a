"""redteam23: a thief's statements of a negotiation after the theft, now held by every view (KEY-009 (c)).

Alice's key K is stolen; her principal revokes it from the theft (effective_ms before every statement the
thief signs). Since the twenty-second session a view of evidence holds every statement of a negotiation a
revocation would reject, disowned, whether or not an escrow can witness it, and its negotiation moves in
every view. KEY-009 (c)'s Why says a thief gains no statement held "that it could not have had held before by
naming an escrow in it". That reads the thief as a proposer: as an *acceptor* the thief answers an offer
someone else signed -- Bob's, naming no escrow -- and the escrow field is Bob's, not the thief's. Each test
below signs the thief's statements with the stolen key after the revocation's effective_ms, feeds every
order of them (itertools.permutations, each statement after what it names) through the real verifier, and
asserts first that the attack happened (the thief's statements held and disowned), then what the protocol
did. A test marked ``xfail(strict=True)`` is a hole this version still has; its reason says what happens
and the fix proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from test_unwitnessed_order import Outcome, _before_nowit22, _every_order, _orders, _outcome

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, service

_CARE = 1_000  # Bob's max_outstanding: one of his 600 offers at a time
_SLOT = b"bobs-one-slot"  # the exclusive_key of Bob's two offers (NEG-009): one live contract at a time
# What each view refuses of Bob's trade with Carol, by the cap the thief's contract fills (and before KEY-009
# (c), where the revocation came first, the thief's Accept instead)
# The statement of Bob's trade with Carol each cap refuses: a view that heard the revocation before it refuses
# nothing, one that heard it after refuses it on what it held then
_CHECKED = {"max_outstanding": "to_carol", "exclusive_key": "carol"}
_REFUSED = {
    "max_outstanding": ("offer MANDATE_VIOLATION MND-010", "accept UNKNOWN_NEGOTIATION NEG-002"),
    "exclusive_key": ("accept EXCLUSIVE_CONFLICT NEG-009",),
}


def _stolen(clock: FixedClock) -> tuple[Party, VerifiedStatement, VerifiedStatement]:
    """Alice's key, bound to her principal by a Checkpoint, and her principal's revocation of it (stolen),
    effective a second later: everything the thief signs with the key from then on is disowned (KEY-004)."""
    alice = Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + 1_000, reason="stolen"),
    )
    return alice, binding, revocation


def _sixty(party: Party, clock: FixedClock, cap: str) -> trade_pb2.Offer:
    key = _SLOT if cap == "exclusive_key" else b""
    gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
    return party.proposal(gives=gives, exclusive_key=key)


def _exposure_story(
    cap: str,
) -> tuple[
    list[bytes],
    list[VerifiedStatement],
    list[tuple[VerifiedStatement, VerifiedStatement]],
    dict[str, VerifiedStatement],
    Party,
]:
    """Bob offers Alice 600 naming no escrow, for a minute -- with max_outstanding 1,000 (``cap``
    "max_outstanding"), or under an exclusive_key ("exclusive_key"). Her principal revokes her key (stolen);
    the thief accepts Bob's offer with it, dated after the revocation's effective_ms. Bob's offer expires
    unanswered in Bob's view (his peer refuses the thief's Accept, KEY_REVOKED); Bob offers Carol 600 (under
    the same exclusive_key), which Carol accepts."""
    clock = FixedClock()
    caps = {"max_outstanding": _CARE} if cap == "max_outstanding" else {}
    bob, carol = Party("bob", clock, caps), Party("carol", clock)
    alice, binding, revocation = _stolen(clock)
    to_alice = bob.offer(alice, _sixty(bob, clock, cap), ttl_ms=60_000)
    clock.advance(2_000)
    assert clock.now_ms > revocation.statement.key_revocation.effective_ms
    thief_accept = alice.accept(to_alice)  # the thief, with the stolen key
    # Bob's offer to Alice has expired; under an exclusive_key, a month on (an unperformed contract naming no
    # escrow, which nobody lapses, holds the key for good)
    clock.advance(120_000 if cap == "max_outstanding" else 30 * DAY_MS)
    to_carol = bob.offer(carol, _sixty(bob, clock, cap))
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    items = [to_alice, revocation, thief_accept, to_carol, carol_accept]
    # the thief's Accept reaches every view before Bob's offer to Carol (it is gossiped at once)
    after = [(thief_accept, to_alice), (carol_accept, to_carol), (to_carol, thief_accept)]
    setup = [*alice.setup, *bob.setup, *carol.setup, binding.envelope]
    named = {"to_alice": to_alice, "thief": thief_accept, "to_carol": to_carol, "carol": carol_accept}
    return setup, items, after, named, bob


def _bobs_guard_signs_to_carol(
    setup: Sequence[bytes], named: dict[str, VerifiedStatement], bob: Party, revocation: VerifiedStatement
) -> None:
    """Bob is honest: his own peer (a live receiver, his policy guard) heard the revocation, refused the
    thief's Accept (KEY-004) and, his offer to Alice expired, counted nothing when he signed the offer to
    Carol; it takes Carol's Accept."""
    guard = Verifier(me=bob.did)
    for env in setup:
        guard.accept(env)
    guard.accept(named["to_alice"].envelope, ours=True)
    guard.accept(revocation.envelope)
    with pytest.raises(CoopError) as refused:
        guard.accept(named["thief"].envelope)
    assert refused.value.code == "KEY_REVOKED"
    guard.accept(named["to_carol"].envelope, ours=True)
    guard.accept(named["carol"].envelope)
    assert guard.negotiations.get(named["to_carol"].negotiation_id).contract is not None


_CAPS = pytest.mark.parametrize("cap", ["max_outstanding", "exclusive_key"])


def _retried(
    setup: Sequence[bytes], order: Sequence[VerifiedStatement]
) -> tuple[tuple[str, ...], tuple[str, ...], Outcome]:
    """A view of evidence fed ``order``, then each statement it refused fed once more (a relay passing it on
    again): what it refused the first time, what the second, and where it ends."""
    first = _outcome(setup, order)[0]
    v = Verifier(complete_chains=False)
    for env in setup:
        v.accept(env)
    refused: list[VerifiedStatement] = []
    for vs in order:
        try:
            v.accept_statement(vs)
        except CoopError:
            refused.append(vs)
    again = []
    for vs in refused:
        try:
            v.accept_statement(vs)
        except CoopError as e:
            again.append(f"{vs.body} {e.code} {e.requirement}")
    held = [vs for vs in v.statements.values() if vs.body != "mandate"]
    end: Outcome = (
        (),
        frozenset(vs.digest for vs in held),
        tuple(sorted((nid, n.state.name, n.contract is not None) for nid, n in v.negotiations.by_id.items())),
        frozenset(vs.digest for vs in held if v.disowned(vs)),
        frozenset(v.own_revocation_forks),
    )
    return first, tuple(again), end


@pytest.mark.req("KEY-009", "MND-010", "NEG-009", "KEY-004")
@_CAPS
def test_a_thiefs_accept_of_an_offer_naming_no_escrow_does_not_erase_the_offerers_next_trade(
    cap: str,
) -> None:
    """Fixed (KEY-009 (c), its contract binding the offerer to nothing): the thief's disowned Accept of Bob's
    offer naming no escrow forms a contract that counts nowhere toward Bob's caps and holds none of his
    exclusive_keys. Every view that heard the revocation before Bob's offer to Carol (under an exclusive_key,
    before Carol's Accept, which NEG-009 checks) takes Bob's trade with Carol, as his own guard does, in every
    order (the Accept before or after the revocation); one that heard it only after refused that statement on
    what it held then (order-bound, as any refusal before a revocation comes), and, the revocation heard,
    takes it when it comes again: every order ends holding the same statements."""
    setup, items, after, named, bob = _exposure_story(cap)
    revocation = items[1]
    _bobs_guard_signs_to_carol(setup, named, bob, revocation)
    revoked_first: dict[Outcome, int] = {}
    ends: set[Outcome] = set()
    late = 0
    for order in _orders(items, after):
        first, again, end = _retried(setup, order)
        ends.add(end)
        assert again == (), again
        if order.index(revocation) < order.index(named[_CHECKED[cap]]):
            # booked so when the Accept came disowned (1), un-booked when the revocation came after it (2)
            place = 1 if order.index(revocation) < order.index(named["thief"]) else 2
            revoked_first[_outcome(setup, order)] = revoked_first.get(_outcome(setup, order), 0) | place
            assert first == (), first
        else:
            late += 1
            assert first == _REFUSED[cap], first  # order-bound: what it held then filled Bob's caps
    assert list(revoked_first.values()) == [3] and late, (revoked_first, late)  # the revocation at each place
    ((refused, held, negotiations, disowned, _),) = revoked_first
    # The attack happened: the thief's Accept is held, disowned, and forms Bob's contract with Alice's key in
    # every view.
    assert named["thief"].digest in held and disowned == {named["thief"].digest}
    states = {nid: contract for nid, _, contract in negotiations}
    assert states[named["to_alice"].negotiation_id]
    # What follows: Bob's honest trade with Carol is held in every view, as his own guard holds it.
    assert refused == (), refused
    assert states.get(named["to_carol"].negotiation_id), "Bob's contract with Carol erased"
    assert ends == {next(iter(revoked_first))}, "every order ends holding the same statements"


@pytest.mark.req("KEY-009", "MND-010", "NEG-009", "KEY-004")
@_CAPS
def test_before_key_009_c_a_view_that_heard_the_revocation_first_held_bobs_next_trade(
    monkeypatch: pytest.MonkeyPatch, cap: str
) -> None:
    """The same orders read as the twenty-third session found them (a contract of a disowned Accept no
    escrow can witness counted toward Bob's caps: every view refused Bob's trade with Carol), and as before
    KEY-009 (c) (a statement no escrow can witness refused: the views that heard the revocation before the
    thief's Accept refused the Accept and held Bob's trade, only those that took the Accept first refused it).
    Now only a view that heard the revocation after the statement of Bob's trade with Carol that the cap
    checks refuses it (on what it held then)."""
    setup, items, after, named, _ = _exposure_story(cap)
    revocation, checked = items[1], named[_CHECKED[cap]]
    now = {_outcome(setup, o)[0]: o.index(revocation) < o.index(checked) for o in _orders(items, after)}
    assert now == {(): True, _REFUSED[cap]: False}
    monkeypatch.setattr(Verifier, "_binds_offerer_to_nothing", lambda self, c, neg: False)
    monkeypatch.setattr(Verifier, "_unbook_disowned_accepts", lambda self, key: None)
    found = _every_order(setup, items, after)
    assert {outcome[0] for outcome in found} == {_REFUSED[cap]}
    _before_nowit22(monkeypatch)
    before = _every_order(setup, items, after)
    assert {outcome[0] for outcome in before} == {("accept KEY_REVOKED KEY-004",), _REFUSED[cap]}


Story = tuple[
    list[bytes],
    list[VerifiedStatement],
    list[tuple[VerifiedStatement, VerifiedStatement]],
    dict[str, VerifiedStatement],
]


def _second_answer_story() -> Story:
    """Bob offers Alice a trade naming no escrow; Alice, honest, counters it before the theft. The thief,
    after the revocation's effective_ms, signs with her key an Accept of Bob's offer (the next link of her
    chain): a second answer to it."""
    clock = FixedClock()
    bob = Party("bob", clock)
    alice, binding, revocation = _stolen(clock)
    opening = bob.offer(alice)
    counter = alice.counter(opening, alice.proposal())  # honest, before the revocation's effective_ms
    assert counter.issued_at_ms < revocation.statement.key_revocation.effective_ms
    clock.advance(2_000)
    thief_accept = alice.accept(opening)
    items = [opening, counter, revocation, thief_accept]
    after = [(counter, opening), (thief_accept, opening)]
    setup = [*alice.setup, *bob.setup, binding.envelope]
    return setup, items, after, {"opening": opening, "counter": counter, "thief": thief_accept}


@pytest.mark.req("NEG-021", "KEY-009", "NEG-005", "NEG-001", "NEG-018")
def test_a_thiefs_second_answer_takes_bobs_negotiation_from_alices_counter_by_the_order() -> None:
    """Fixed (NEG-021): of two answers of Alice's key to Bob's offer naming no escrow -- her honest Counter,
    dated before the revocation's effective_ms, and the thief's disowned Accept, the next link of her chain
    -- the one lower in her chain, the Counter, prevails in every order, and the Accept is held superseded
    (NEG-018): nothing refused, the negotiation COUNTERED, no contract. Before, the answer heard first won
    (the other refused ILLEGAL_TRANSITION or STALE_REFERENCE)."""
    setup, items, after, named = _second_answer_story()
    seen = _every_order(setup, items, after)
    # The attack happened: the thief's Accept is signed by Alice's key after the revocation took effect, and
    # is held, disowned, in every view.
    thief = named["thief"].digest
    assert all(thief in outcome[1] and thief in outcome[3] for outcome in seen)
    # What follows: one state in every order, the honest Counter's.
    assert len(seen) == 1, {o[0]: o[2] for o in seen}
    ((refused, _, negotiations, _, _),) = seen
    assert refused == () and negotiations == ((named["opening"].negotiation_id, "COUNTERED", False),)
    assert named["counter"].seq < named["thief"].seq  # lower in the key's chain: the Counter's place


def _bobs_answers_story() -> tuple[Story, dict[str, VerifiedStatement]]:
    clock = FixedClock()
    bob = Party("bob", clock)
    alice, binding, revocation = _stolen(clock)
    opening = bob.offer(alice)
    counter = alice.counter(opening, alice.proposal())
    clock.advance(2_000)
    thief_accept = alice.accept(opening)
    clock.advance(1_000)
    delivery = bob.deliver(thief_accept, alice)  # Bob performs under the thief's contract
    clock.advance(1_000)
    bob_accept = bob.accept(counter)  # and, shown Alice's Counter, accepts it
    items = [opening, counter, revocation, thief_accept, delivery, bob_accept]
    after = [(counter, opening), (thief_accept, opening), (delivery, thief_accept), (bob_accept, counter)]
    setup = [*alice.setup, *bob.setup, binding.envelope]
    named = {
        "opening": opening,
        "counter": counter,
        "thief": thief_accept,
        "delivery": delivery,
        "bob_accept": bob_accept,
        "revocation": revocation,
    }
    return (setup, items, after, named), named


def _one_end_after_bobs_answers(story: Story, orders: Sequence[Sequence[VerifiedStatement]]) -> None:
    setup, _, _, named = story
    seen: dict[Outcome, int] = {}
    for order in orders:
        outcome = _outcome(setup, order)
        seen[outcome] = seen.get(outcome, 0) + 1
    assert len(seen) == 1, {o[0]: o[2] for o in seen}
    ((refused, held, negotiations, disowned, _),) = seen
    assert refused == ()
    # Bob's Delivery under the contract that gave way is held (superseded, NEG-018): not lost, and no
    # breach (the terms name no escrow: no claim can come, CMT-005); his Accept of the Counter is the contract
    assert named["delivery"].digest in held and named["thief"].digest in disowned
    assert negotiations == ((named["opening"].negotiation_id, "ACCEPTED", True),)


@pytest.mark.req("NEG-021", "NEG-018", "KEY-009")
def test_bobs_delivery_under_the_thiefs_contract_gives_way_with_it_in_every_order() -> None:
    """Bob, whose own peer had not heard the revocation, took the thief's Accept and delivered under its
    contract; then he accepted Alice's Counter. In every order (36, each statement after what it names) the
    Counter's line prevails: Bob's Delivery is held, superseded -- not lost, and no breach -- and the
    contract is Bob's Accept of the Counter."""
    story, named = _bobs_answers_story()
    orders = list(_orders(story[1], story[2]))
    thief, counter, delivery = named["thief"], named["counter"], named["delivery"]
    assert len(orders) == 36
    assert any(o.index(delivery) < o.index(counter) for o in orders)  # Bob performed before the Counter came
    _one_end_after_bobs_answers(story, orders)
    assert thief.issued_at_ms > named["revocation"].statement.key_revocation.effective_ms  # the attack


@pytest.mark.req("NEG-021", "KEY-004")
def test_bobs_own_peer_agrees_whichever_answer_it_heard_first() -> None:
    """A live receiver: Bob's peer (his policy guard). One that had not heard the revocation took the thief's
    Accept and Bob's Delivery under it; Alice's Counter, lower in her chain, then takes the negotiation back
    (the contract gives way, the Delivery superseded), and Bob accepts the Counter. One that heard the Counter
    first holds the thief's Accept superseded. One that heard the revocation first refuses the thief's
    Accept (KEY-004, order-bound as any revocation) and its Delivery was never signed. All three end with
    Bob's Accept of the Counter, and refuse nothing of Alice's."""
    (setup, _, _, named), _ = _bobs_answers_story()
    ends = []
    for first in ("thief", "counter", "revocation"):
        guard = Verifier(me=named["opening"].issuer)
        for env in setup:
            guard.accept(env)
        guard.accept(named["opening"].envelope, ours=True)
        if first == "revocation":
            guard.accept(named["revocation"].envelope)
            with pytest.raises(CoopError) as refused:
                guard.accept(named["thief"].envelope)
            assert refused.value.code == "KEY_REVOKED"
            guard.accept(named["counter"].envelope)
        elif first == "thief":
            guard.accept(named["thief"].envelope)
            guard.accept(named["delivery"].envelope, ours=True)
            neg = guard.negotiations.get(named["opening"].negotiation_id)
            assert neg.contract is not None and neg.contract.accept.digest == named["thief"].digest
            guard.accept(named["counter"].envelope)
            assert named["thief"].digest in neg.superseded and named["delivery"].digest in neg.superseded
        else:
            guard.accept(named["counter"].envelope)
            guard.accept(named["thief"].envelope)
        guard.accept(named["bob_accept"].envelope, ours=True)
        neg = guard.negotiations.get(named["opening"].negotiation_id)
        assert neg.contract is not None
        ends.append((neg.state.name, neg.contract.accept.digest))
    assert ends == [("ACCEPTED", named["bob_accept"].digest)] * 3


def _two_answers(
    lower: str,
) -> tuple[FixedClock, Party, Party, VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """Bob's offer naming no escrow, answered twice by Alice herself: a Counter and an Accept, ``lower``
    (``"counter"`` or ``"accept"``) the one she signed first, lower in her chain."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    opening = bob.offer(alice)
    clock.advance(1_000)
    answers = [lambda: alice.counter(opening, alice.proposal()), lambda: alice.accept(opening)]
    if lower != "counter":
        answers.reverse()
    first = answers[0]()
    clock.advance(1_000)
    second = answers[1]()
    return clock, alice, bob, opening, first, second


@pytest.mark.req("NEG-021", "NEG-005", "NEG-006")
@pytest.mark.parametrize("lower", ["counter", "accept"])
def test_two_honest_answers_of_one_key_are_ordered_by_its_chain(lower: str) -> None:
    """No thief: Alice herself answers Bob's offer naming no escrow twice, a Counter and an Accept. Whichever
    she signed lower in her chain prevails in both orders, the other held superseded."""
    _, alice, bob, opening, first, second = _two_answers(lower)
    assert first.seq < second.seq
    setup = [*alice.setup, *bob.setup]
    ends = {_outcome(setup, order) for order in ([opening, first, second], [opening, second, first])}
    assert len(ends) == 1, ends
    ((refused, _, negotiations, _, _),) = ends
    state = "COUNTERED" if lower == "counter" else "ACCEPTED"
    assert refused == () and negotiations == ((opening.negotiation_id, state, lower == "accept"),)


@pytest.mark.req("NEG-021", "NEG-005", "NEG-001")
def test_before_neg_021_the_thiefs_second_answer_split_the_views_by_which_answer_came_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the twenty-third session observed, pinned with NEG-021 taken out: the two outcomes were the
    Counter's (the Accept refused STALE_REFERENCE) and the Accept's (the Counter refused ILLEGAL_TRANSITION),
    and which one a view reached depended only on which answer it heard first -- the revocation's place
    changed nothing (KEY-009 (c)). Now: one outcome, the Counter's, nothing refused."""
    from a2a_coop.protocol.negotiation import Negotiation

    setup, items, _, named = _second_answer_story()
    opening, counter, revocation, thief = items
    orders = (
        [opening, counter, revocation, thief],
        [opening, revocation, counter, thief],
        [opening, thief, revocation, counter],
        [opening, revocation, thief, counter],
    )

    def outcomes() -> dict[tuple[bool, int], tuple[tuple[str, ...], str, bool]]:
        out = {}
        for order in orders:
            refused, _, negotiations, _, _ = _outcome(setup, order)
            ((_, state, contract),) = negotiations
            out[(order.index(counter) < order.index(thief), order.index(revocation))] = (
                refused,
                state,
                contract,
            )
        return out

    assert set(outcomes().values()) == {((), "COUNTERED", False)}
    monkeypatch.setattr(Negotiation, "_lower_than_answer", lambda self, vs, ref: None)
    before = outcomes()
    assert {k: v for k, v in before.items() if k[0]} == {
        (True, 2): (("accept STALE_REFERENCE NEG-005",), "COUNTERED", False),
        (True, 1): (("accept STALE_REFERENCE NEG-005",), "COUNTERED", False),
    }
    assert {k: v for k, v in before.items() if not k[0]} == {
        (False, 2): (("counter ILLEGAL_TRANSITION NEG-001",), "ACCEPTED", True),
        (False, 1): (("counter ILLEGAL_TRANSITION NEG-001",), "ACCEPTED", True),
    }
    assert named["thief"].issued_at_ms > revocation.statement.key_revocation.effective_ms


@pytest.mark.req("KEY-009", "KEY-005", "MND-010")
def test_an_accept_above_the_keys_rotation_binds_the_offerer_to_nothing_in_every_order() -> None:
    """The same by KEY-005: Alice's key rotates (its chain ends there) and, above the rotation, accepts Bob's
    offer naming no escrow (Bob's max_outstanding 1,000, the offer 600): the Accept is disowned, and the
    contract binds Bob to nothing -- booked so when the rotation came first, un-booked when it came after the
    Accept -- so Bob's next offer of 600, to Carol, is taken in every order with the rotation before it."""
    clock = FixedClock()
    bob, carol, alice = (
        Party("bob", clock, {"max_outstanding": _CARE}),
        Party("carol", clock),
        Party("alice", clock),
    )
    to_alice = bob.offer(alice, _sixty(bob, clock, "max_outstanding"), ttl_ms=60_000)
    clock.advance(1_000)
    rotation = alice.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("alice-2", clock).did), mandate=b""
    )
    above = alice.accept(to_alice)  # at the seq after the rotation
    clock.advance(120_000)
    to_carol = bob.offer(carol, _sixty(bob, clock, "max_outstanding"))
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    items = [to_alice, rotation, above, to_carol, carol_accept]
    after = [(above, to_alice), (carol_accept, to_carol), (to_carol, above)]
    setup = [*alice.setup, *bob.setup, *carol.setup]
    seen: dict[Outcome, set[bool]] = {}
    for order in _orders(items, after):
        if order.index(rotation) < order.index(to_carol):
            seen.setdefault(_outcome(setup, order), set()).add(order.index(rotation) < order.index(above))
    assert len(seen) == 1, seen
    ((refused, held, negotiations, disowned, _), places), *_ = seen.items()
    assert places == {True, False}  # the rotation before the Accept, and after it
    assert disowned == {above.digest} and above.digest in held  # the attack happened
    states = {nid: contract for nid, _, contract in negotiations}
    assert refused == () and states[to_alice.negotiation_id] and states[to_carol.negotiation_id]


@pytest.mark.req("KEY-009", "MND-010")
def test_a_view_keeps_no_index_of_a_forgotten_contract_naming_no_escrow() -> None:
    """The view's index of contracts whose Accept no escrow can witness, kept for a revocation that may come
    later (``Verifier._bare_accepts``), drops one whose negotiation it forgets: a long-lived view holds
    nothing per forgotten trade for it. A revocation taken after the forgetting finds nothing to un-book."""
    setup, items, _, named, _ = _exposure_story("max_outstanding")
    v = Verifier(complete_chains=False)
    for env in setup:
        v.accept(env)
    for vs in (named["to_alice"], named["thief"]):
        v.accept_statement(vs)
    assert v._bare_accepts  # indexed by the Accept's issuer and its Mandate's principal
    assert all(named["thief"].digest in held for held in v._bare_accepts.values())
    v.forget_negotiation(named["to_alice"].negotiation_id)
    assert v._bare_accepts == {}
    v.accept_statement(items[1])  # the revocation
    assert v._bare_accepts == {}


def _books(
    setup: Sequence[bytes],
    order: Sequence[VerifiedStatement],
    mandates: Sequence[bytes],
    places: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """What a view fed ``order`` counts (MND-010, MND-009) under each Mandate of ``mandates`` for a
    statement at each of ``places`` (each ms, before and after all of it)."""
    v = Verifier(complete_chains=False)
    for env in setup:
        v.accept(env)
    for vs in order:
        v.accept_statement(vs)
    out = []
    for m in mandates:
        exp = v.exposure.exposure(m)
        for t in places:
            for seq in (0, None):
                out.append((exp.outstanding(t, seq=seq), exp.committed(exp.period_of(t), t, seq=seq)))
    return tuple(out)


@pytest.mark.req("NEG-021", "MND-010", "MND-009")
@pytest.mark.parametrize("lower", ["counter", "accept"])
def test_the_answer_that_gives_way_counts_as_if_the_lower_one_had_come_first(lower: str) -> None:
    """NEG-021 with section 4.5: Alice answers Bob's offer naming no escrow twice (a Counter and an Accept),
    Bob then accepting her Counter. Whichever answer a view took first, it counts the same for a statement
    at every place, under both Mandates: the answer that gives way, the offers and contract after it, count
    as in the view that took the lower answer first (where they were taken superseded)."""
    clock, alice, bob, opening, first, second = _two_answers(lower)
    counter = first if lower == "counter" else second
    clock.advance(1_000)
    bobs = bob.accept(counter)
    setup = [*alice.setup, *bob.setup]
    mandates = [alice.mandate_vs.digest, bob.mandate_vs.digest]
    places = sorted({vs.issued_at_ms + d for vs in (opening, first, second, bobs) for d in (-1, 0, 1)})
    orders = list(_orders([first, second, bobs], [(bobs, counter)]))
    books = {_books(setup, [opening, *o], mandates, places) for o in orders}
    assert len(orders) == 3 and len(books) == 1, books
    assert any(out != (0, 0) for out in next(iter(books)))  # and it counts something: what prevails


@pytest.mark.req("NEG-021", "MND-024")
def test_a_view_that_forgot_the_thiefs_contract_reads_it_back_and_gives_it_way(tmp_path: Path) -> None:
    """A long-lived view with a journal took the thief's Accept and Bob's Delivery under it, and forgot the
    negotiation (its journal keeps it). Alice's Counter, lower in her chain, then brings it back from the
    journal and takes its place, as in a view that never forgot: COUNTERED, the Accept and the Delivery
    superseded, and Bob's Accept of the Counter the contract."""
    from a2a_coop.runtime.journal import Journal

    (setup, _, _, named), _ = _bobs_answers_story()
    ends = []
    for forget in (False, True):
        journal = Journal.open(tmp_path / f"{forget}.db", durability="normal")
        v = Verifier(complete_chains=False)
        v.use_archive(journal)
        for env in setup:
            v.accept(env)
        held = [named["opening"], named["thief"], named["delivery"]]
        for vs in held:
            v.accept_statement(vs)
        journal.record_batch([(vs, [], False) for vs in held], at_ms=0)
        nid = named["opening"].negotiation_id
        if forget:
            assert v.forget_negotiation(nid) and nid not in v.negotiations.by_id
        for vs in (named["counter"], named["bob_accept"]):
            v.accept_statement(vs)
            journal.record_batch([(vs, [], False)], at_ms=0)
        neg = v.negotiations.get(nid)
        assert neg.contract is not None
        ends.append(
            (
                neg.state.name,
                neg.contract.id,
                {named["thief"].digest, named["delivery"].digest} <= neg.superseded,
            )
        )
        journal.close()
    assert ends == [("ACCEPTED", named["bob_accept"].digest, True)] * 2
