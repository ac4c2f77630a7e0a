"""neg29: an Accept of an offer naming an escrow that was answered already is held until its Stamp (NEG-025).

Bob offers Alice a trade naming no escrow (O, +0 s, 500 his side). Alice counters it naming escrow E with
both bonds (C, +1 s, 600 hers); Bob counters her Counter (B, +2 s, 500) and Alice accepts his (X, +3 s: a
contract naming no escrow, 450 hers); Bob then accepts her Counter too (A, +4 s) and E, which never saw B,
witnesses A (S) and locks both bonds (T). E's order of Bob's two answers to C decides which binds (ESC-014,
NEG-017), not the order a view hears them in.

Found (reading28's residue): a view that held Bob's Counter and then his Accept before E's Stamp refused the
Accept (an Accept of an answered offer no escrow had witnessed yet) and ended with the contract of Alice's
Accept of his Counter -- a contract E never saw -- where every other order ended with E's: 3 of the 18 orders
of the six statements, 8 of the 42 with E's BondLocks (refused too, naming an Accept the view did not hold).
Now the Accept is held with no event (NEG-025), and E's Stamp, when it comes, takes it (NEG-017): the
negotiation is derived again as in a view that held the Stamp first (`Negotiation._awaits_witness`, the
Stamp read by `Verifier._witness_cut_off`).

The story is reading28's without its kept Reject (`_Beside(kept=False)`, built there).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from test_reading28_witnessed_beside_accepted import _Beside

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import LocalEscrow, Party
from conformance.generate_vectors.negotiation import stamp

BOND = 100
FUNDS = 1_000
_PROBES = (500, 1_500, 2_500, 3_500, 4_500, 6_000)  # ms after Bob's offer


def _orders(letters: str = "OCBXAST") -> Iterator[str]:
    """Every order of ``letters`` in which what a statement cites comes first (a Stamp may come first)."""
    for order in itertools.permutations(letters):
        at = order.index
        if (
            at("O") < at("C") < at("B") < at("X")
            and at("C") < at("A")
            and ("T" not in order or at("A") < at("T"))
        ):
            yield "".join(order)


def _end(s: _Beside, order: str, *, again: bool = False) -> tuple[object, ...]:
    """What a view holds once every statement of ``order`` came -- nothing passed on again, or (``again``)
    each one it refused passed on again after them all: state, contract, the story's statements
    superseded, what it refused, and Alice's and Bob's outstanding value at each probe."""
    v = s.view()
    refused: list[tuple[str, bytes]] = []
    for k in order:
        for env in s.items[k]:
            try:
                v.accept(env)
            except CoopError:
                refused.append((k, env))
    if again:
        for _, env in refused:
            v.accept(env)
    neg = v.negotiations.get(s.offer.negotiation_id)
    names = {vs.digest: k for k, vs in s.statements().items()}
    t0 = s.offer.issued_at_ms
    counts = tuple(
        tuple(v.exposure.exposure(who.mandate_vs.digest).outstanding(t0 + dt) for dt in _PROBES)
        for who in (s.alice, s.bob)
    )
    return (
        neg.state,
        names.get(neg.contract.accept.digest) if neg.contract is not None else None,
        "".join(sorted(names[d] for d in neg.superseded if d in names)),
        "" if again else "".join(k for k, _ in refused),
        counts,
    )


@pytest.mark.req("NEG-025", "NEG-017", "NEG-018")
def test_an_accept_of_an_answered_offer_ends_with_the_contract_its_escrow_witnessed_in_every_order() -> None:
    """Every one of the 42 orders (18 without the BondLocks) ends with the contract E witnessed, BONDED,
    nothing passed on again. Before, the 8 (3) orders with Bob's Accept after his own Counter and before E's
    Stamp ended ACCEPTED with the contract of Alice's Accept of his Counter, E's Stamp and BondLocks naming
    an Accept the view had refused. All 42 count alike: Alice's Counter until Bob's Counter (+2 s), his
    Counter until her Accept (+3 s), that contract until his witnessed Accept (+4 s), then E's. In the 8 with
    Bob's Accept before his own Counter the table refused the Counter and Alice's Accept of it (an answer to
    an accepted offer), which then counted nowhere until passed on again after E's Stamp; since neg30 the
    Counter is held superseded until E orders the two answers (NEG-026) and they count as in the 34."""
    s = _Beside(kept=False)
    assert sum(1 for _ in _orders("OCBXAS")) == 18
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in _orders():
        ends.setdefault(_end(s, order), []).append(order)
    assert sum(map(len, ends.values())) == 42
    assert [k[:4] for k in ends] == [(State.BONDED, "A", "BX", "")], {k[:4]: v[:3] for k, v in ends.items()}
    alike = {_end(s, order, again=True) for order in _orders()} | set(ends)
    assert len(alike) == 1
    (_, _, _, _, (alice, bob)) = alike.pop()
    # at +0.5 s (Bob's offer), +1.5 s (Alice's Counter), +2.5 s (Bob's Counter), +3.5 s (the contract of
    # Alice's Accept of it), +4.5 s and +6 s (the contract E witnessed)
    assert alice == (0, 600, 0, 450, 600, 600)
    assert bob == (500, 0, 500, 500, 550, 550)


@pytest.mark.req("NEG-025", "NEG-017")
def test_an_accept_held_for_its_stamp_moves_nothing_until_its_escrow_witnesses_it() -> None:
    """Held with no event, Bob's Accept forms no contract and counts nowhere: the view keeps the contract of
    Alice's Accept of his Counter (a Delivery under it is read as one) -- and keeps it with a Stamp of the
    Accept by Carol (not the escrow Alice's Counter names) or by E after the bonding cutoff, which witness
    nothing (WIT-004). E's Stamp in time takes the line back to Alice's Counter (NEG-017)."""
    s = _Beside(kept=False)
    carol = Party("carol", s.clock)
    late = stamp(s.party, s.accept, at=s.counter.expires_at_ms + 30_001).envelope
    for extra in ([], [*carol.setup, stamp(carol, s.accept).envelope], [late]):
        v = s.view()
        for k in "OCBXA":
            v.accept(s.items[k][0])
        for env in extra:
            v.accept(env)
        neg = v.negotiations.get(s.offer.negotiation_id)
        assert neg.state is State.ACCEPTED and neg.contract is not None
        assert neg.contract.accept.digest == s.took.digest and s.accept.digest in neg.superseded
        t0 = s.offer.issued_at_ms
        assert v.exposure.exposure(s.alice.mandate_vs.digest).outstanding(t0 + 4_500) == 450
    v.accept(s.out[1])
    neg = v.negotiations.get(s.offer.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == s.accept.digest


@pytest.mark.req("NEG-025", "ESC-014")
def test_the_escrow_that_took_the_other_answer_still_refuses_the_accept() -> None:
    """E itself, shown Bob's Counter of Alice's Counter first (its own order of his two answers), refuses
    his Accept of her Counter as the table does (``STALE_REFERENCE``; ESC-014) -- its own Stamp witnesses
    nothing as it checks (section 8.9) -- and signs nothing: the Accept NEG-025 holds in a view is never
    stamped by the escrow that took the other answer."""
    s = _Beside(kept=False)
    e = LocalEscrow(Party("escrow", s.clock), funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    terms = s.alice.proposal(escrow=e.escrow.did, issuer_bond=BOND, audience_bond=BOND)
    counter = s.alice.counter(s.offer, terms)
    bobs = s.bob.counter(counter, s.bob.proposal())
    accept = s.bob.accept(counter)
    e.submit([*s.setup, s.offer.envelope, counter.envelope, bobs.envelope])
    ledger = e.get_ledger(0, 1_000)[0]
    with pytest.raises(CoopError) as refused:
        e.submit([accept.envelope])
    assert refused.value.code == "STALE_REFERENCE"  # NEG-005: not the outstanding offer
    assert e.get_ledger(0, 1_000)[0] == ledger  # nothing signed
    neg = e.escrow.verifier.negotiations.get(s.offer.negotiation_id)
    assert neg.state is State.COUNTERED and accept.digest not in e.escrow.verifier.statements


@pytest.mark.req("NEG-023", "NEG-021", "NEG-017", "MND-010")
def test_a_contract_the_witnessed_accept_cut_off_binds_its_offerer_to_nothing_in_every_order() -> None:
    """NEG-023 on the line a witnessed Accept cut off (reading28's story, Alice's second answer to Bob's
    Counter added): Alice's kept Reject of Bob's offer (+1 s), her Counter naming E (+2 s), Bob's Counter of
    it (+3 s), her Accept of his (X, +4 s: 450 hers, 500 his) and then her Reject of the same Counter (Y,
    +4.2 s, higher in her chain), and Bob's Accept of her Counter, witnessed by E (+5 s). X's contract binds
    Bob to nothing (her key answered his Counter twice) and counts for Alice alone, from X until E's Accept --
    in every one of the 384 orders. Before, the recount of the cut-off line (`_count_cut_off_line`) booked
    Bob's side, which NEG-023 never booked, or undid its displacement: 500 his at +4.1 s and +4.5 s where the
    Reject came before E's Stamp (and where X and Y came after the witnessed Accept, X first); and where Y
    came before X and both after the line was counted, X counted for nobody: three counts, 130 orders as
    now."""
    again: list[VerifiedStatement] = []

    def answer_again(s: _Beside) -> None:  # Y, 200 ms after X
        s.clock.advance(200)
        again.append(s.alice.reject(s.bobs, "a second answer"))

    s = _Beside(between=answer_again)
    items = {**s.statements(), "Y": again[0]}
    t0 = s.offer.issued_at_ms
    ends: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for order in itertools.permutations("ORCBXYAS"):
        at = order.index
        if not (at("O") < at("R") and at("O") < at("C") < at("B") < at("X") and at("B") < at("Y")):
            continue
        if not at("C") < at("A"):
            continue
        v = s.view()
        refused = []
        for env in (s.out[1] if k == "S" else items[k].envelope for k in order):
            try:
                v.accept(env)
            except CoopError:
                refused.append(env)
        for env in refused:  # passed on again (an Accept of an off-line Counter before its Stamp, say)
            v.accept(env)
        counts = []
        for who in (s.alice, s.bob):
            ex = v.exposure.exposure(who.mandate_vs.digest)
            probes = [t0 + dt for dt in (3_500, 4_100, 4_500, 5_500)]
            counts.append(tuple(ex.outstanding(t) for t in probes))
            counts.append(tuple(ex.committed(ex.period_of(t0), t) for t in probes))
        ends.setdefault(tuple(counts), []).append("".join(order))
    assert sum(map(len, ends.values())) == 384
    assert len(ends) == 1, {k: (len(v), v[:3]) for k, v in ends.items()}
    alice_out, alice_period, bob_out, bob_period = next(iter(ends))
    # at +3.5 s (Bob's Counter), +4.1 s and +4.5 s (X's contract: Alice's alone), +5.5 s (E's contract)
    assert alice_out == alice_period == (0, 450, 450, 600)
    assert bob_out == bob_period == (500, 0, 0, 550)
