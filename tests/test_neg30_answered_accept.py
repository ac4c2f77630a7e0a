"""neg30: what NEG-025 left -- an escrow read back from a snapshot pickled before it, and (below) the
mirror case and the cost of one key's flood of answers.

An escrow refuses an Accept of an offer whose other answer it took first (ESC-014): NEG-025's holding is
a view's. The setting lives in the verifier's negotiations (``hold_unwitnessed``), and an escrow pickled
before NEG-025 kept none: its negotiations read the class default, which held. A node never loads a
snapshot of another build (its fingerprint), but a library user may: an escrow so read back that had
forgotten a negotiation (bounded memory) took, read back from its archive, Bob's Accept of an offer it had
seen him Reject, superseded, where every other escrow refuses it. Now the class default is the escrow's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from test_escrow_memory import BOND, Twins, parties, twins  # noqa: F401  (parties, twins: the fixtures)

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import Negotiation, Negotiations, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party
from benchmarks.answer_flood import story


def _as_before_neg25(negotiations: Negotiations) -> None:
    """``negotiations`` as pickled by a version before NEG-025: no ``hold_unwitnessed`` of its own, nor in
    the negotiations it holds (they read the class defaults)."""
    holders: list[Negotiations | Negotiation] = [negotiations, *negotiations.by_id.values()]
    for holder in holders:
        holder.__dict__.pop("hold_unwitnessed", None)


@pytest.mark.req("ESC-014", "NEG-025")
def test_an_escrow_read_back_from_a_snapshot_before_neg25_still_refuses_the_accept(
    twins: Twins,  # noqa: F811
    parties: tuple[Party, Party, Party],  # noqa: F811
    clock: FixedClock,
) -> None:
    """Alice shows the escrow her bonded offer and Bob's Reject of it; the escrow forgets the negotiation past
    the offer's cutoff. The resumed twin is snapshotted as a version before NEG-025 pickled it and read back
    from that snapshot: Bob's Accept of the offer (signed in time) is refused there ``NEG-001`` as at the
    twins that never lost the setting, before and after the restart -- before, the twin read back from the
    old-shaped snapshot took it superseded (the class default held it, NEG-025) and answered the Submit."""
    alice, bob, escrow = parties
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    late_accept = bob.accept(offer)
    reject = bob.reject(offer, "not now")
    _as_before_neg25(twins.nodes["resumed"].escrow.verifier.negotiations)
    twins.submit(offer, reject)
    clock.now_ms = offer.header.expires_at_ms + 60_001  # past the cutoff and the tolerance: forgotten
    twins.tick()
    twins.tick()
    assert offer.header.negotiation_id not in twins.forgetting.escrow.verifier.negotiations.by_id
    twins.restart()  # the resumed twin from the snapshot of the old shape
    resumed = twins.nodes["resumed"].escrow.verifier.negotiations
    assert "hold_unwitnessed" not in resumed.__dict__  # read back as pickled: the class default
    refused = twins.submit(late_accept)  # the same answer at every twin (Twins.each)
    assert refused[:3] == ("refused", "IllegalTransition", "NEG-001")


class _Mirror:
    """neg29's story mirrored: Bob offers Alice a trade naming no escrow (O, +0 s, 500 his); Alice counters
    it naming escrow E with both bonds (C, +1 s, 600 hers); Bob answers her Counter (B, +2 s: a Counter of
    500, or a Reject) and -- Counter -- Alice accepts his (X, +3 s: 450 hers, 500 his); Bob then accepts her
    Counter too (A, +4 s). E was shown O, C and B: it stamped B (S), and refuses A (ESC-014)."""

    def __init__(self, answer: str) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        alice, bob = self.alice, self.bob
        self.offer = bob.offer(alice, bob.proposal())
        clock.advance(1_000)
        counter = alice.counter(
            self.offer, alice.proposal(escrow=party.did, issuer_bond=BOND, audience_bond=BOND)
        )
        clock.advance(1_000)
        bobs = bob.counter(counter, bob.proposal()) if answer == "counter" else bob.reject(counter, "no")
        clock.advance(1_000)
        took = alice.accept(bobs) if answer == "counter" else None
        clock.advance(1_000)
        accept = bob.accept(counter)
        self.setup = [*alice.setup, *bob.setup]
        escrow = LocalEscrow(party, funds={alice.did: 1_000, bob.did: 1_000})
        out = escrow.submit([*self.setup, self.offer.envelope, counter.envelope, bobs.envelope])
        assert [verify_statement(env).body for env in out] == ["mandate", "stamp"]
        with pytest.raises(CoopError):
            escrow.submit([accept.envelope])  # ESC-014: E took Bob's other answer first
        self.mandate = out[0]
        held = {"O": self.offer, "C": counter, "B": bobs, "A": accept, **({"X": took} if took else {})}
        self.items = {k: vs.envelope for k, vs in held.items()} | {"S": out[1]}
        self.names = {vs.digest: k for k, vs in held.items()}

    def orders(self) -> Iterator[str]:
        """Every order in which what a statement cites comes first (a Stamp may come first)."""
        for order in itertools.permutations(self.items):
            at = order.index
            line = at("O") < at("C") < at("B") and ("X" not in order or at("B") < at("X"))
            if line and at("C") < at("A"):
                yield "".join(order)

    def end(self, order: str) -> tuple[object, ...]:
        """State, contract, the story's statements superseded, those refused, and Alice's and Bob's
        outstanding value at +0.5 s, +1.5 s, ... +4.5 s and +6 s."""
        v = Verifier()
        for env in [*self.setup, self.mandate]:
            v.accept(env)
        refused = ""
        for k in order:
            try:
                v.accept(self.items[k])
            except CoopError:
                refused += k
        neg = v.negotiations.get(self.offer.negotiation_id)
        t0 = self.offer.issued_at_ms
        counts = tuple(
            tuple(v.exposure.exposure(who.mandate_vs.digest).outstanding(t0 + dt) for dt in _PROBES)
            for who in (self.alice, self.bob)
        )
        contract = self.names.get(neg.contract.accept.digest) if neg.contract is not None else None
        superseded = "".join(sorted(self.names[d] for d in neg.superseded if d in self.names))
        return neg.state, contract, superseded, refused, counts


_PROBES = (500, 1_500, 2_500, 3_500, 4_500, 6_000)  # ms after Bob's offer


@pytest.mark.req("NEG-026", "NEG-025", "ESC-014")
@pytest.mark.parametrize(
    ("answer", "orders", "expected"),
    [
        (
            "counter",
            18,
            (State.ACCEPTED, "X", "A", "", ((0, 600, 0, 450, 450, 450), (500, 0, 500, 500, 500, 500))),
        ),
        ("reject", 10, (State.REJECTED, None, "A", "", ((0, 600, 0, 0, 0, 0), (500, 0, 0, 0, 0, 0)))),
    ],
)
def test_the_answer_its_escrow_stamped_takes_the_accepts_place_in_every_order(
    answer: str, orders: int, expected: tuple[object, ...]
) -> None:
    """The mirror of neg29's case: E stamped Bob's Counter (or Reject) of Alice's Counter, not his Accept of
    it. Every order of the statements and E's Stamp ends with the line E took -- the contract of Alice's
    Accept of Bob's Counter (or none, REJECTED) --, Bob's Accept held superseded and counted nowhere, nothing
    refused. Before, the 6 of the 18 orders (5 of 10) that held Bob's Accept before his other answer kept the
    Accept's contract, which E never witnesses (600 Alice's, 550 Bob's from +4 s), and refused the answer E
    took and what followed it: the order a view heard the two answers in decided, not E's."""
    story = _Mirror(answer)
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in story.orders():
        ends.setdefault(story.end(order), []).append(order)
    assert sum(map(len, ends.values())) == orders
    assert list(ends) == [expected], {k: (len(v), v[:3]) for k, v in ends.items()}


class _CountingSet(set[bytes]):
    """A negotiation's superseded digests, counting each one a pass over them visits."""

    visited = 0

    def __iter__(self) -> Iterator[bytes]:
        _CountingSet.visited += len(self)
        return super().__iter__()


@pytest.mark.req("NEG-021", "NEG-023")
def test_a_flood_of_one_keys_answers_to_a_cut_off_counter_costs_a_lookup_each() -> None:
    """Bob's Counter of Alice's Counter naming E is cut off by his Accept of her Counter, which E witnessed;
    Alice then answers his Counter 300 times (Rejects, in her chain's order). Each is taken superseded and
    asked whether it is lower than another answer of hers to it held superseded (NEG-021 on the cut-off line):
    that cost a pass over the negotiation's superseded statements per Reject -- 300 Rejects visited 45,450
    digests, 5,000 visited 12.5 million (175 s at a load of 19, against 4.4 s now) -- and is now one
    lookup in the index of answers by key and statement answered: no pass at all."""
    before, flood = story(300)  # the answer_flood benchmark's: the same statements, in chain order
    offer, bobs = verify_statement(before[-5]), verify_statement(before[-3])
    v = Verifier()
    for env in before:
        v.accept(env)
    neg = v.negotiations.get(offer.negotiation_id)
    assert bobs.digest in neg.superseded  # cut off by the witnessed Accept
    neg.superseded = _CountingSet(neg.superseded)
    _CountingSet.visited = 0
    for env in flood:
        v.accept(env)
    assert v.negotiations.get(offer.negotiation_id) is neg and len(neg.superseded) >= 301
    assert _CountingSet.visited <= 2 * len(flood), _CountingSet.visited
