"""redteam26: a witnessed Accept of a Counter whose offer a second lower answer cut off crashed verifiers.

NEG-021 (d) kept a Counter naming an escrow, taken superseded as the higher of two answers of one key
(``Negotiation.higher`` then), so that an Accept of it its escrow witnesses takes the line back to it. That
Counter answers an offer of the line; a lower answer of the same key to an EARLIER offer of the line cuts
that offer off too. Alice, answering the line twice at two places:

- Bob's Offer O (no escrow); Alice's Reject L0 of O, kept (her seq 0); her Counter K1 of O (seq 1);
- Bob's Counter B1 of K1 (no escrow); Alice's Reject L1 of B1, kept (seq 2); her Counter C of B1 naming
  escrow E with both bonds (seq 3); Bob's Accept A of C, which E witnesses.

A view that took L1 before C (C kept as the higher answer), then L0 (the line cut back to O, B1 cut off),
then A and E's Stamp looked for B1 in the line to put C back after it: ``StopIteration`` out of
``Negotiation._adopt`` -- in E itself (Bob's Submit of his Accept failed half-way with an internal error,
his contract never witnessed), and in any view of evidence or peer taking E's Stamp (``_witness_cut_off``
derives the negotiation again and met the same). Who chose: Alice, by the places of her answers in her
own chain and the order she shows them in; what she gained: Bob's contract unwitnessed, or a view of it
that stops.

Now the offers a cut-back passes are kept with the branch it cut off (spec26's whole branch, as mergered26
merged them), and a Counter kept as the higher answer is put back with the offers it answers in turn, in
every order: E witnesses Bob's Accept, and every view holding E's Stamp ends with the contract E witnessed,
as one that held the Stamp first. Since mergewit26 the one mechanism is witness26's: every Counter held off
the line -- taken superseded, or cut off -- is kept (``Negotiation.off_line``), and ``_off_line_path``
climbs from the Counter accepted up through them to the line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000


class _Nested:
    def __init__(self) -> None:
        clock, alice, bob = self._answered_twice()
        terms = alice.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        self.C = alice.counter(self.B1, terms)
        clock.advance(1_000)
        self.A = bob.accept(self.C)
        clock.advance(1_000)
        assert [vs.seq for vs in (self.L0, self.K1, self.L1, self.C)] == [0, 1, 2, 3]
        self.setup = [*alice.setup, *bob.setup]

    def _answered_twice(self) -> tuple[FixedClock, Party, Party]:
        """Bob's Offer O; Alice's kept Reject L0 of it and her Counter K1; Bob's Counter B1; her kept Reject
        L1 of B1 -- the line both stories share."""
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        alice, bob = self.alice, self.bob
        self.O = bob.offer(alice, bob.proposal())
        clock.advance(1_000)
        self.L0 = alice.reject(self.O, "kept back")
        clock.advance(1_000)
        self.K1 = alice.counter(self.O, alice.proposal())
        clock.advance(1_000)
        self.B1 = bob.counter(self.K1, bob.proposal())
        clock.advance(1_000)
        self.L1 = alice.reject(self.B1, "kept back too")
        clock.advance(1_000)
        return clock, alice, bob

    def escrow(self) -> LocalEscrow:
        """A fresh escrow (its own chain from seq 0, the same key)."""
        return LocalEscrow(Party("escrow", self.clock), funds={self.alice.did: FUNDS, self.bob.did: FUNDS})


def _bodies(answer: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in answer[1:]]


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
def test_an_escrow_shown_both_lower_answers_before_the_accept_witnesses_it() -> None:
    s = _Nested()
    e = s.escrow()
    assert _bodies(e.submit([*s.setup, *(vs.envelope for vs in (s.O, s.K1, s.B1, s.L1, s.C))])) == ["stamp"]
    assert _bodies(e.submit([s.L0.envelope])) == ["stamp"]
    assert _bodies(e.submit([s.A.envelope])) == ["stamp", "bond_lock", "bond_lock"]
    assert e.escrow.balance(s.bob.did) == (FUNDS - BOND, BOND)
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert report.ok, report.findings


_NEEDS = {"K1": "O", "L0": "O", "B1": "K1", "L1": "B1", "C": "B1", "A": "C", "S": "A"}


def _orders(items: dict[str, VerifiedStatement], needs: dict[str, str] = _NEEDS) -> Iterator[tuple[str, ...]]:
    """Every order of ``items`` in which what a statement answers comes before it (the Stamp, "S", after
    the Accept it names)."""
    for order in itertools.permutations(items):
        place = {k: i for i, k in enumerate(order)}
        if all(place[need] < place[k] for k, need in needs.items()):
            yield order


@pytest.mark.req("NEG-021", "NEG-017")
def test_every_view_holding_the_escrows_stamp_ends_with_the_contract_it_witnessed() -> None:
    s = _Nested()
    e = s.escrow()
    out = e.submit([*s.setup, *(vs.envelope for vs in (s.O, s.K1, s.B1, s.C, s.A))])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]  # the attack happened: E witnessed A
    items = {"O": s.O, "L0": s.L0, "K1": s.K1, "B1": s.B1, "L1": s.L1, "C": s.C, "A": s.A}
    ends = _ends(s.setup, out, items, _orders({**items, "S": s.A}))
    assert len(ends) == 1, {k: v[:2] for k, v in ends.items()}
    assert next(iter(ends)) == (State.ACCEPTED, s.A.digest, frozenset({"L0", "L1"}))


def _ends(
    setup: list[bytes],
    out: list[bytes],
    items: dict[str, VerifiedStatement],
    orders: Iterator[tuple[str, ...]],
) -> dict[tuple[object, ...], list[tuple[str, ...]]]:
    """For each order, a fresh view taking the statements (E's Stamp, ``out[1]``, for "S") and how its
    negotiation ends: state, contract, which of ``items`` it holds superseded; grouped by that end."""
    ends: dict[tuple[object, ...], list[tuple[str, ...]]] = {}
    for order in orders:
        v = Verifier()
        for env in [*setup, out[0]]:
            v.accept(env)
        for k in order:
            v.accept(out[1] if k == "S" else items[k].envelope)  # nothing refused, nothing raised
        neg = v.negotiations.get(items["O"].negotiation_id)
        end = (
            neg.state,
            neg.contract.accept.digest if neg.contract is not None else None,
            frozenset(k for k, vs in items.items() if vs.digest in neg.superseded),
        )
        ends.setdefault(end, []).append(order)
    return ends


class _NestedBranch(_Nested):
    """mergered26: both extensions of NEG-021 (d) at once -- the offer the branch's higher answer answers cut
    off by a second lower answer above it (redteam26), and the Accept witnessed one Counter further down
    that branch (spec26). As :class:`_Nested`, but Alice's Counter C of B1 names no escrow, and Bob counters
    it (D) naming E with both bonds; Alice accepts D (A) and E witnesses her Accept. Restored: the line
    O, K1, B1 (through the offers L0 cut off), then C and D (the branch L1 cut off)."""

    def __init__(self) -> None:
        clock, alice, bob = self._answered_twice()
        self.C = alice.counter(self.B1, alice.proposal())
        clock.advance(1_000)
        self.D = bob.counter(
            self.C, bob.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        )
        clock.advance(1_000)
        self.A = alice.accept(self.D)
        clock.advance(1_000)
        assert [vs.seq for vs in (self.L0, self.K1, self.L1, self.C, self.A)] == [0, 1, 2, 3, 4]
        self.setup = [*alice.setup, *bob.setup]


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
def test_an_escrow_shown_both_lower_answers_first_witnesses_an_accept_further_down_the_branch() -> None:
    s = _NestedBranch()
    e = s.escrow()
    line = [s.O, s.K1, s.B1, s.L1, s.L0, s.C, s.D]
    assert _bodies(e.submit([*s.setup, *(vs.envelope for vs in line)])) == ["stamp"]
    assert _bodies(e.submit([s.A.envelope])) == ["stamp", "bond_lock", "bond_lock"]
    neg = e.escrow.verifier.negotiations.get(s.O.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == s.A.digest
    assert [o.digest for o in neg.offers] == [vs.digest for vs in (s.O, s.K1, s.B1, s.C, s.D)]
    assert e.escrow.balance(s.alice.did) == (FUNDS - BOND, BOND)
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert report.ok, report.findings


@pytest.mark.req("NEG-021", "NEG-017")
def test_both_extensions_at_once_end_alike_in_every_order() -> None:
    """The 40 causal orders of the nine statements: every view ends with the contract E witnessed, the line
    restored through both cut-offs, the two kept Rejects alone superseded."""
    s = _NestedBranch()
    out = s.escrow().submit([*s.setup, *(vs.envelope for vs in (s.O, s.K1, s.B1, s.C, s.D, s.A))])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]
    items = {"O": s.O, "L0": s.L0, "K1": s.K1, "B1": s.B1, "L1": s.L1, "C": s.C, "D": s.D, "A": s.A}
    needs = {**_NEEDS, "D": "C", "A": "D"}
    ends = _ends(s.setup, out, items, _orders({**items, "S": s.A}, needs))
    assert sum(len(v) for v in ends.values()) == 40
    assert len(ends) == 1, {k: v[:2] for k, v in ends.items()}
    assert next(iter(ends)) == (State.ACCEPTED, s.A.digest, frozenset({"L0", "L1"}))
