"""reading28: a witnessed Accept of a Counter beside an Accepted Counter of it (NEG-021 (d) with NEG-017).

Bob offers Alice a trade naming no escrow (O, +0 s, 500 his side). Alice keeps a Reject of it (R, +1 s, seq 0)
and sends a Counter naming escrow E with both bonds (C, +2 s, seq 1, 600 her side). Bob counters her Counter
(B, +3 s, 500 his side) and Alice accepts his Counter (X, +4 s: a contract naming no escrow, 450 her side);
Bob then accepts her Counter too (A, +5 s) and E, which never saw B, witnesses A and locks both bonds.

E's witnessed Accept takes precedence (NEG-017): the line is cut back to C, and B and X's contract are
displaced, dated at A's place (section 4.5) -- C counts until its first answer (B), B from its place until X,
X's contract from X until A. The kept Reject, lower in Alice's chain than C, moves nothing (NEG-021 (d)).

Found here (reading27's residue): a view that held the Reject before the witnessed Accept took the line back
counted as if B and X had never come -- C until A, B and X's contract nowhere, "dated by the Reject" --, and
one that held the Reject first and B after the Stamp counted neither C nor B between B and A: three counts
across the orders, Alice's Reject choosing which. Now the line E's Accept cut off counts, in every order, as
a view that held the witnessed contract before the Reject counts it (`Verifier._count_cut_off_line`).

The orders in which Bob's Accept comes before E's Stamp and after his own Counter were refused by the table
(an Accept of an answered offer its escrow had not yet witnessed) and had to be passed on again; since
neg29 the Accept is held until E's Stamp (NEG-025) and those orders end alike with nothing passed on again
(tests/test_neg29_answered_accept.py). What is still refused and passed on again here are Bob's Counter and
Alice's Accept of it where his Accept came first (answers to an accepted offer).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000


class _Beside:
    """The story of the module docstring: ``offer``, ``kept``, ``counter``, ``bobs`` (Bob's Counter of
    Alice's), ``took`` (Alice's Accept of it) and ``accept`` (Bob's Accept of Alice's Counter), one second
    apart; ``out``: E's answer to a Submit of the line it saw (its Mandate, the Stamp, both BondLocks).
    Without ``kept``: neg29's story, the same with no Reject (each later statement a second earlier).
    ``between``: what else comes in the second from ``took`` to ``accept`` (signed on the story's clock)."""

    def __init__(
        self, *, witnessed: bool = True, kept: bool = True, between: Callable[[_Beside], None] | None = None
    ) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal())
        clock.advance(1_000)
        self.kept_back = kept
        if kept:
            self.kept = self.alice.reject(self.offer, "kept back")
            clock.advance(1_000)
        terms = self.alice.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        self.counter = self.alice.counter(self.offer, terms)
        clock.advance(1_000)
        self.bobs = self.bob.counter(self.counter, self.bob.proposal())
        clock.advance(1_000)
        self.took = self.alice.accept(self.bobs)
        if between is not None:
            between(self)
        clock.advance(self.took.issued_at_ms + 1_000 - clock.now_ms)
        self.accept = self.bob.accept(self.counter)
        clock.advance(1_000)
        assert not kept or (self.kept.seq, self.counter.seq) == (0, 1)
        assert not proposal_of(self.offer).terms.escrow
        self.setup = [*self.alice.setup, *self.bob.setup]
        self.escrow = LocalEscrow(self.party, funds={self.alice.did: FUNDS, self.bob.did: FUNDS})
        if not witnessed:
            return
        self.out = self.escrow.submit(
            [*self.setup, self.offer.envelope, self.counter.envelope, self.accept.envelope]
        )
        bodies = [verify_statement(env).body for env in self.out[1:]]
        assert bodies == ["stamp", "bond_lock", "bond_lock"]  # the story happened: E witnessed, bonded
        self.items: dict[str, list[bytes]] = {k: [vs.envelope] for k, vs in self.statements().items()}
        self.items |= {"S": [self.out[1]], "T": self.out[2:]}

    def statements(self) -> dict[str, VerifiedStatement]:
        """The parties' statements by letter (``R`` only with ``kept``)."""
        kept = {"R": self.kept} if self.kept_back else {}
        return {"O": self.offer, **kept, "C": self.counter, "B": self.bobs, "X": self.took, "A": self.accept}

    def view(self) -> Verifier:
        """A view of evidence holding the parties' Mandates and E's."""
        v = Verifier()
        for env in [*self.setup, self.out[0]]:
            v.accept(env)
        return v


def _orders() -> Iterator[str]:
    """Every order of the story's statements (``_Beside.items``) in which what a statement cites comes first
    (a Stamp may come first; the BondLocks name Bob's Accept)."""
    for order in itertools.permutations("ORCBXAST"):
        at = order.index
        if at("O") < at("R") and at("O") < at("C") < at("B") < at("X") and at("C") < at("A") < at("T"):
            yield "".join(order)


_PROBES = (500, 1_500, 2_500, 3_500, 4_500, 5_500, 7_000)  # ms after Bob's offer


def _end(s: _Beside, order: str) -> tuple[object, ...]:
    """What a view of evidence holds once every statement of ``order`` came, each one it refused passed on
    again after them all: state, contract, the story's statements superseded, what it refused the second
    time, and Alice's and Bob's outstanding and committed value at each probe."""
    v = s.view()
    refused = []
    for env in (env for k in order for env in s.items[k]):
        try:
            v.accept(env)
        except CoopError:
            refused.append(env)
    again = []
    for env in refused:  # order-bound refusals: passed on again, checked against what the view holds now
        try:
            v.accept(env)
        except CoopError as e:
            again.append(e.code)
    neg = v.negotiations.get(s.offer.negotiation_id)
    names = {vs.digest: k for k, vs in s.statements().items()}
    counts = []
    t0 = s.offer.issued_at_ms
    for who in (s.alice, s.bob):
        ex = v.exposure.exposure(who.mandate_vs.digest)
        counts.append(tuple(ex.outstanding(t0 + dt) for dt in _PROBES))
        counts.append(tuple(ex.committed(ex.period_of(t0), t0 + dt) for dt in _PROBES))
    return (
        neg.state,
        names.get(neg.contract.accept.digest) if neg.contract is not None else None,
        "".join(sorted(names[d] for d in neg.superseded if d in names)),
        tuple(again),
        tuple(counts),
    )


@pytest.mark.req("NEG-021", "NEG-017", "NEG-019", "MND-009", "MND-010")
def test_a_witnessed_accept_beside_an_accepted_counter_ends_alike_in_every_order() -> None:
    """Every one of the 288 orders ends with the contract E witnessed, BONDED, the kept Reject, Bob's Counter
    and Alice's Accept of it superseded -- and one count: Alice's Counter until Bob's Counter answered it
    (+3 s), Bob's Counter from its place until Alice's Accept (+4 s), that contract (450 hers, 500 his)
    until E's witnessed Accept (+5 s), then the witnessed contract (600 hers, 550 his), as a view that held
    the witnessed contract before the Reject counts it (NEG-021 (d), section 4.5). Before, three counts: the
    Reject held before the witnessed Accept took the line back left Bob's Counter and Alice's contract of it
    nowhere and her Counter counting until Bob's Accept (136 orders), and where Bob's Counter came after E's
    Stamp, neither of the two Counters counted between them (32); 120 counted as now."""
    s = _Beside()
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in _orders():
        ends.setdefault(_end(s, order), []).append(order)
    assert sum(map(len, ends.values())) == 288
    assert len(ends) == 1, {k[4]: (len(v), v[:3]) for k, v in ends.items()}
    state, contract, superseded, again, counts = next(iter(ends))
    assert (state, contract, superseded, again) == (State.BONDED, "A", "BRX", ())
    alice_out, alice_period, bob_out, bob_period = counts
    # at +0.5 s, +1.5 s (the Reject frees nothing), +2.5 s (her Counter), +3.5 s (his Counter), +4.5 s
    # (the contract of his Counter), +5.5 s and +7 s (the witnessed contract)
    assert alice_out == alice_period == (0, 0, 600, 0, 450, 600, 600)
    assert bob_out == bob_period == (500, 500, 0, 500, 500, 550, 550)


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
def test_an_escrow_that_took_bobs_accept_before_his_counter_keeps_its_contract_in_every_order() -> None:
    """E itself, shown the story with Bob's Accept before his Counter -- its own order of Bob's two answers
    to Alice's Counter (ESC-014, NEG-021 (c)) -- the kept Reject anywhere: everything up to Alice's Counter
    in one Submit (E takes nothing of a negotiation before a statement naming it, ESC-011), each statement
    after it alone. E stamps Bob's Accept and locks both bonds; Bob's Counter it answers with that Stamp and
    the contract (its answer taken, ESC-013), and Alice's Accept of that Counter it refuses (it holds no such
    Counter); the kept Reject it takes superseded, or first, as Bob's offer's answer, the Accept taking the
    line back (NEG-021 (d)) -- BONDED, the same contract, in every order."""
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in itertools.permutations("ORCBXA"):
        at = order.index
        if not (at("O") < at("R") and at("O") < at("C") < at("A") < at("B") < at("X")):
            continue
        s = _Beside(witnessed=False)
        statements = s.statements()
        names = {vs.digest: k for k, vs in statements.items()}
        first = order.index("C") + 1
        bodies, refused = [], []
        for i, part in enumerate([order[:first], *order[first:]]):
            envs = [*(s.setup if i == 0 else ()), *(statements[k].envelope for k in part)]
            try:
                bodies += [verify_statement(env).body for env in s.escrow.submit(envs)]
            except CoopError as e:
                refused.append((part, e.code))
        neg = s.escrow.escrow.verifier.negotiations.get(s.offer.negotiation_id)
        end = (
            neg.state,
            names.get(neg.contract.accept.digest) if neg.contract is not None else None,
            s.kept.digest in neg.superseded,
            bodies.count("bond_lock"),
            tuple(refused),
            s.escrow.escrow.balance(s.alice.did),
        )
        ends.setdefault(end, []).append("".join(order))
    assert sum(map(len, ends.values())) == 5
    # both locks given at the Accept, and again in the answer to Bob's Counter (the contract revealed)
    assert list(ends) == [
        (State.BONDED, "A", True, 4, (("X", "ILLEGAL_TRANSITION"),), (FUNDS - BOND, BOND))
    ], ends


@pytest.mark.req("NEG-021", "MND-023", "MND-010")
def test_the_contract_the_witnessed_accept_displaced_ends_where_its_receipts_end_it_in_every_order() -> None:
    """The contract of Alice's Accept of Bob's Counter, delivered and receipted by both (+4.1 s to +4.4 s)
    before Bob's Accept of her Counter (+5 s), ends at the last Receipt in every order of the 192 (MND-023):
    where the kept Reject came first, that contract, cut off with the line before anything formed it, is kept
    displaced only when the witnessed Accept takes the line back, and the statements held of it are applied
    to it then (`Negotiation.cut_off_line`). Before that, 37 orders counted it until the witnessed Accept."""
    performed: list[VerifiedStatement] = []

    def perform(s: _Beside) -> None:  # P: both deliver, then both receipt, 100 ms apart
        clock, alice, bob = s.clock, s.alice, s.bob
        clock.advance(100)
        performed.append(bob.deliver(s.took, alice))
        clock.advance(100)
        performed.append(alice.deliver(s.took, bob))
        clock.advance(100)
        performed.append(alice.receipt(performed[0]))
        clock.advance(100)
        performed.append(bob.receipt(performed[1]))

    s = _Beside(between=perform)
    items = {k: [vs] for k, vs in s.statements().items()} | {"P": performed}
    t0 = s.offer.issued_at_ms
    ends: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for order in itertools.permutations("ORCBXPAS"):
        at = order.index
        if not (at("O") < at("R") and at("O") < at("C") < at("B") < at("X") < at("P") and at("C") < at("A")):
            continue
        v = s.view()
        refused = []
        for env in (
            env for k in order for env in ([s.out[1]] if k == "S" else [vs.envelope for vs in items[k]])
        ):
            try:
                v.accept(env)
            except CoopError:
                refused.append(env)
        for env in refused:  # passed on again (an Accept of an answered offer before its Stamp)
            v.accept(env)
        counts = []
        for who in (s.alice, s.bob):
            ex = v.exposure.exposure(who.mandate_vs.digest)
            probes = [t0 + dt for dt in (4_050, 4_350, 4_500, 4_900, 5_500)]
            counts.append(tuple(ex.outstanding(t) for t in probes))
            counts.append(tuple(ex.committed(ex.period_of(t0), t) for t in probes))
        ends.setdefault(tuple(counts), []).append("".join(order))
    assert sum(map(len, ends.values())) == 192
    assert len(ends) == 1, {k: (len(v), v[:3]) for k, v in ends.items()}
    alice_out, alice_period, bob_out, bob_period = next(iter(ends))
    # the contract (450 hers, 500 his) from +4 s until the last Receipt (+4.4 s), in its period throughout
    assert (alice_out, bob_out) == ((450, 450, 0, 0, 600), (500, 500, 0, 0, 550))
    assert (alice_period, bob_period) == ((450, 450, 450, 450, 600), (500, 500, 500, 500, 550))


def _roles(v: Verifier, s: _Beside) -> dict[bytes, str]:
    """The contracts ``v``'s view of the story's negotiation holds, by Accept: the negotiation's contract, or
    one it keeps displaced."""
    neg = v.negotiations.by_id.get(s.offer.negotiation_id)
    if neg is None:
        return {}
    roles = dict.fromkeys(neg.displaced or (), "displaced")
    if neg.contract is not None:
        roles[neg.contract.accept.digest] = "contract"
    return roles


@pytest.mark.req("ATT-022", "NEG-021", "NEG-017")
def test_every_contract_the_cut_off_line_moves_is_told_to_the_ratings_in_every_order() -> None:
    """A kept rating is read again when ``Verifier.contracts_moved`` moves (ATT-022 (c)). In every one of the
    288 orders, each statement taken that moves a contract the view held -- the negotiation's becoming
    displaced or gone, one displaced becoming the negotiation's -- moves it, among them X's contract, cut off
    by E's Accept and kept displaced on its line (``Negotiation.cut_off_line``): a rating kept on a contract
    displaced there is not kept past it. A contract formed (the negotiation's, or displaced from the start)
    had no rating kept on it."""
    s = _Beside()
    moves = 0
    for order in _orders():
        v = s.view()
        for env in (env for k in order for env in s.items[k]):
            held, moved = _roles(v, s), v.contracts_moved
            try:
                v.accept(env)
            except CoopError:
                continue
            now = _roles(v, s)
            if any(now.get(d) != role for d, role in held.items()):
                assert v.contracts_moved > moved, order
                if env == s.accept.envelope and held.get(s.took.digest) == "contract":
                    moves += 1  # X's contract, cut off by E's Accept: displaced on its line
    assert moves == 10
