"""redteam24: a lower Accept revealed after the offerer used what the higher answer freed (NEG-021; NEG-009,
MND-010).

Bob offers Alice 600 naming no escrow -- a slot (a non-empty exclusive_key, NEG-009), or with max_outstanding
1,000 (MND-010). Alice signs an Accept of it and keeps it, then signs a Reject of it (the next link of her
chain) and sends that. Bob, his offer rejected, offers Carol the same; Carol accepts. Alice then reveals her
Accept: lower in her chain than her Reject, NEG-021 makes it the offer's answer "whatever the negotiation's
state", checked "as any answer, against MND-009, MND-010 and NEG-009". Every statement is signed by its
party's own key; each order of them (each after what it names) is fed to a real view of evidence.
"""

from __future__ import annotations

import pytest
from test_unwitnessed_order import Outcome, _every_order

from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, FixedClock, Party, service

_SLOT = b"bobs-one-slot"
_CAPS = pytest.mark.parametrize("cap", ["exclusive_key", "max_outstanding"])
Story = tuple[list[bytes], list[VerifiedStatement], list[tuple[VerifiedStatement, VerifiedStatement]]]


def _story(cap: str) -> Story:
    clock = FixedClock()
    caps = {"max_outstanding": 1_000} if cap == "max_outstanding" else {}
    alice, bob, carol = Party("alice", clock), Party("bob", clock, caps), Party("carol", clock)
    key = _SLOT if cap == "exclusive_key" else b""

    def six_hundred() -> object:
        gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
        return bob.proposal(gives=gives, exclusive_key=key)

    to_alice = bob.offer(alice, six_hundred())  # type: ignore[arg-type]
    clock.advance(1_000)
    kept = alice.accept(to_alice)
    clock.advance(1_000)
    reject = alice.reject(to_alice, "no")
    assert reject.header.prev == kept.digest and reject.seq == kept.seq + 1
    clock.advance(1_000)
    to_carol = bob.offer(carol, six_hundred())  # type: ignore[arg-type]
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    setup = [*alice.setup, *bob.setup, *carol.setup, to_alice.envelope]
    return setup, [kept, reject, to_carol, carol_accept], [(carol_accept, to_carol)]


def _states(outcome: Outcome) -> tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]:
    refused, _, negotiations, *_ = outcome
    return refused, tuple(sorted((state, formed) for _, state, formed in negotiations))


# What each order of the story ends in, by the cap Bob's offer to Carol meets: Alice's Accept heard before
# Carol's, then Carol's heard before Alice's
_SPLIT = {
    "exclusive_key": {
        (("accept EXCLUSIVE_CONFLICT NEG-009",), (("ACCEPTED", True), ("PROPOSED", False))),
        (("accept EXCLUSIVE_CONFLICT NEG-009",), (("ACCEPTED", True), ("REJECTED", False))),
    },
    "max_outstanding": {
        (("offer MANDATE_VIOLATION MND-010", "accept UNKNOWN_NEGOTIATION NEG-002"), (("ACCEPTED", True),)),
        ((), (("ACCEPTED", True), ("ACCEPTED", True))),
    },
}


@pytest.mark.req("NEG-021", "NEG-009", "MND-010")
@_CAPS
def test_what_holds_bobs_slot_or_headroom_is_the_order_a_view_heard_them_in(cap: str) -> None:
    """Pinned, as it stands: two outcomes. A view that heard Alice's Accept before Carol's holds Alice's
    contract and refuses Carol's Accept (`EXCLUSIVE_CONFLICT`) -- or Bob's honest offer to Carol, as over
    his max_outstanding (`MANDATE_VIOLATION`); one that heard Carol's first -- Bob's own view: he offered
    Carol only after Alice's Reject -- refuses Alice's Accept (the slot), or takes both contracts (the cap,
    which an Accept checks against its acceptor's mandate). Alice chose which view sees what: she gossips her
    Accept to the views she wants before Bob's trade with Carol reaches them."""
    setup, items, after = _story(cap)
    outcomes = {_states(o) for o in _every_order(setup, items, after)}
    assert outcomes == _SPLIT[cap], outcomes  # the attack happened: the views split


@pytest.mark.xfail(
    strict=True,
    reason=(
        "redteam24: NEG-021 (a) checks a lower answer revealed late against NEG-009, MND-009 and MND-010 "
        "as any answer, and counts its contract toward its offerer's caps, so what holds Bob's "
        "exclusive_key or headroom is the order a view heard Alice's two answers and Carol's trade in "
        "(Carol's Accept refused EXCLUSIVE_CONFLICT, or Bob's honest offer to Carol MANDATE_VIOLATION, "
        "where Alice's Accept came first) -- the split NEG-021 was made to end, chosen by the key that "
        "signed two answers. Proposed fix: a contract formed by an answer whose key signed another answer "
        "to the same offer, both held, binds its offerer to nothing (caps, exclusive_key), as KEY-009 (c) "
        "for a disowned Accept -- the offerer could not know which answer binds; a refusal made before the "
        "view held the second answer stays order-bound, as there; NEG-022 the offerer's own guard"
    ),
)
@_CAPS
def test_every_view_holds_the_same_contracts_whichever_it_heard_first(cap: str) -> None:
    """Every order in which a view holds Alice's Reject before Bob's offer to Carol (as Bob did: he offered
    Carol on it) ends in one state, Alice's Accept heard wherever it comes."""
    setup, items, after = _story(cap)
    _, reject, to_carol, _ = items
    outcomes = {_states(o) for o in _every_order(setup, items, [*after, (to_carol, reject)])}
    assert len(outcomes) == 1, outcomes
