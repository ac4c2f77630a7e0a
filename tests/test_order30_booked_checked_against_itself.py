"""order30: a statement taken before a witnessed Accept is not counted against itself when that Accept's
Stamp comes (SPEC 4.5, NEG-021 (d), NEG-025, MND-010).

Bob offers Alice a trade naming no escrow (O, +0 s, 500 his side). Alice counters it naming escrow E with
both bonds (C, +1 s, 600 hers); Bob counters her Counter (B, +2 s, 500 his) and Alice accepts his (X, +3 s:
a contract naming no escrow, 450 hers, 500 his); Bob then accepts her Counter too (A, +4 s) and E, never
shown B, witnesses A (S). Alice's max_outstanding is 899, Bob's 999. E's witnessed Accept cuts the line back
to C (NEG-017): B counts from its place until X, X's contract from X until A, then E's contract.

Found by f89: when E's Stamp came after a view held B, X and A (A held for its Stamp, NEG-025), the recount
of the line A cut off (`Verifier._count_line_as_witnessed_first`) asked whether a verifier meeting B first
would have refused it on Bob's caps (`_refused_held_first`) -- against a book that already held B: 500 + 500
> 999, so B "would have been refused", the cut-off line was never counted, and X's contract stayed booked
for both parties for good (Alice 1,050 at +4.5 s, Bob 1,050). Likewise X against a book holding X's own
contract (450 + 450 > 899). Now the statement checked again is taken out of the sums for that check
(`Exposure.uncounted`). And where such a statement truly would have been refused held first -- Bob's Accept
dated before his Counter, so E's contract (550) and his Counter (500) pass 999 -- the one the view had
booked as taken stayed booked for good (Bob 1,050 from +3 s); now it counts nowhere, as what answers it
(`Verifier._count_nowhere`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.mandate import Exposure
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000
_PROBES = (500, 1_500, 2_500, 3_500, 4_500, 6_000)  # ms after Bob's offer


class _Story:
    """The story of the module docstring; ``accept_first``: Bob's Accept of Alice's Counter at +2 s, before
    his Counter of it (+3 s) and Alice's Accept of that (+4 s)."""

    def __init__(self, *, accept_first: bool = False) -> None:
        clock = FixedClock()
        self.alice = Party("alice", clock, {"max_outstanding": 899})
        self.bob = Party("bob", clock, {"max_outstanding": 999})
        party = Party("escrow", clock)
        offer = self.bob.offer(self.alice, self.bob.proposal())
        clock.advance(1_000)
        counter = self.alice.counter(
            offer, self.alice.proposal(escrow=party.did, issuer_bond=BOND, audience_bond=BOND)
        )
        clock.advance(1_000)
        if accept_first:
            accept = self.bob.accept(counter)
            clock.advance(1_000)
        bobs = self.bob.counter(counter, self.bob.proposal())
        clock.advance(1_000)
        took = self.alice.accept(bobs)
        if not accept_first:
            clock.advance(1_000)
            accept = self.bob.accept(counter)
        self.t0 = offer.issued_at_ms
        self.setup = [*self.alice.setup, *self.bob.setup]
        escrow = LocalEscrow(party, funds={self.alice.did: FUNDS, self.bob.did: FUNDS})
        out = escrow.submit([*self.setup, offer.envelope, counter.envelope, accept.envelope])
        assert verify_statement(out[1]).body == "stamp"  # the story happened: E witnessed Bob's Accept
        self.escrow_mandate = out[0]
        self.items = {
            "O": offer.envelope,
            "C": counter.envelope,
            "B": bobs.envelope,
            "X": took.envelope,
            "A": accept.envelope,
            "S": out[1],
        }

    def counts(self, order: str) -> tuple[tuple[int, ...], ...]:
        """Alice's and Bob's outstanding value at each probe in a view fed ``order``, each statement it
        refused (an answer to an offer Bob's unwitnessed Accept had accepted) passed on again after all."""
        v = Verifier()
        for env in [*self.setup, self.escrow_mandate]:
            v.accept(env)
        refused = []
        for k in order:
            try:
                v.accept(self.items[k])
            except CoopError:
                refused.append(self.items[k])
        for env in refused:
            v.accept(env)
        return tuple(
            tuple(v.exposure.exposure(who.mandate_vs.digest).outstanding(self.t0 + dt) for dt in _PROBES)
            for who in (self.alice, self.bob)
        )


def _orders(letters: str) -> Iterator[str]:
    """Every order of ``letters`` in which what a statement cites comes first (a Stamp may come first)."""
    for order in itertools.permutations(letters):
        at = order.index
        if at("O") < at("C") < at("B") and at("C") < at("A") and ("X" not in order or at("B") < at("X")):
            yield "".join(order)


@pytest.mark.req("MND-022", "NEG-021", "NEG-025", "MND-010")
@pytest.mark.parametrize(
    ("letters", "alice", "bob"),
    [
        # Alice: her Counter from +1 s until Bob's (+2 s), X's contract from +3 s until A (+4 s), then E's
        ("OCBXAS", (0, 600, 0, 450, 600, 600), (500, 0, 500, 500, 550, 550)),
        # f89's four: Bob's Counter live from +2 s until his witnessed Accept (+4 s)
        ("OCBAS", (0, 600, 0, 0, 600, 600), (500, 0, 500, 500, 550, 550)),
    ],
)
def test_a_statement_taken_before_the_stamp_is_not_counted_against_itself_in_every_order(
    letters: str, alice: tuple[int, ...], bob: tuple[int, ...]
) -> None:
    """Every order counts alike: the 18 orders of the six statements, the 10 of f89's five. Before, the
    orders with B before Bob's Accept and his Accept before E's Stamp checked B (and X) against a book
    already holding it: three counts in 18 orders (15 alike) -- OCBXAS and OCBAXS kept X's contract booked
    for good (Alice and Bob 1,050 at +4.5 s and +6 s), OCBASX (X after the recount) counted X's contract
    for Alice nowhere (0 at +3.5 s, under her cap by 450) and Bob 1,050 -- and, without X, OCBAS kept B live
    for good (Bob 1,050 from +4 s; 9 of 10 alike)."""
    s = _Story()
    ends: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for order in _orders(letters):
        ends.setdefault(s.counts(order), []).append(order)
    assert sum(map(len, ends.values())) == {"OCBXAS": 18, "OCBAS": 10}[letters]
    assert list(ends) == [(alice, bob)], {k: v[:3] for k, v in ends.items()}


@pytest.mark.req("MND-022", "NEG-021", "NEG-025", "MND-010")
def test_a_statement_refused_held_first_that_the_view_had_booked_counts_nowhere_in_every_order() -> None:
    """Bob's Accept of Alice's Counter dated before his Counter of it (A +2 s, B +3 s, X +4 s): a verifier
    holding E's witnessed contract (550 his, from +2 s) refuses B (550 + 500 > 999, MND-010), and X, which
    answers it, counts nowhere either. In each of the 18 orders Bob counts 550 from +2 s and Alice E's 600.
    Before, a view that took B live and then Bob's Accept before the Stamp left B booked for good (Bob
    1,050 from +3 s) and X's contract too (Alice 1,050 from +4.5 s in OCBXAS, OCBAXS; OCBASX): 15 of the
    18 orders alike, 9 of the 10 without X."""
    s = _Story(accept_first=True)
    ends: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for order in _orders("OCBXAS"):
        ends.setdefault(s.counts(order), []).append(order)
    assert sum(map(len, ends.values())) == 18
    assert list(ends) == [((0, 600, 600, 600, 600, 600), (500, 0, 550, 550, 550, 550))], {
        k: v[:3] for k, v in ends.items()
    }


@pytest.mark.req("MND-010", "MND-009")
def test_an_entry_left_out_for_a_check_comes_back_exactly_as_it_was() -> None:
    """``Exposure.uncounted``: an offer (live or answered) or a contract (open or displaced) is out of every
    sum -- toward outstanding and in its period, before and after its start -- for the time of the check,
    and each sum is what it was afterwards, however far the check moved the sweeps."""
    exp = Exposure()
    exp.offer_live(b"live", 300, 1_000, 9_000, seq=1)
    exp.offer_live(b"answered", 200, 2_000, 9_000, seq=2)
    exp.offer_answered(b"answered", (4_000, 3))
    exp.contract_formed(b"open", 450, 3_000, start=(3_000, -1))
    exp.contract_formed(b"displaced", 500, 2_500, start=(2_500, 4))
    exp.contract_displaced(b"displaced", (5_000, -1))
    places = [(t, s) for t in (500, 1_000, 2_000, 2_500, 3_000, 4_000, 5_000, 9_500) for s in (None, 0, 5)]

    def sums() -> list[tuple[int, int]]:
        return [(exp.outstanding(t, 0, s), exp.committed(0, t, 0, s)) for t, s in places]

    before = sums()
    for key, value in (("live", 300), ("answered", 200), ("open", 450), ("displaced", 500)):
        with exp.uncounted(key.encode()):
            out = sums()
        assert sums() == before, key
        assert any(o != b for o, b in zip(out, before, strict=True)), key  # it counted somewhere
        for (o_out, o_period), (b_out, b_period) in zip(out, before, strict=True):
            assert b_out - o_out in (0, value) and b_period - o_period in (0, value), key
