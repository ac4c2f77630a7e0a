"""redteam25: a lower answer revealed late cut back a contract an escrow witnessed (NEG-021 at an escrow).

NEG-021 orders two answers of one key to one offer naming no escrow by that key's chain, whatever comes
after in the line -- a Counter naming an escrow E among them, and the contract E witnessed when Bob
accepted it, bonds locked. Alice signs a Reject of Bob's offer naming no escrow (seq 0) and keeps it, then
a Counter naming E with bonds (seq 1, its prev the Reject); Bob accepts the Counter; E stamps the Accept and
locks both bonds; Bob delivers. Alice then submits her kept Reject to E: lower in her chain than her Counter,
it cuts the line back to Bob's offer -- the contract E witnessed gives way in E's verifier as in every view.

Found here: E did not expect a contract of its own to go that way. The Submit failed an assertion half-way
(``due_action``: the contract it was scheduling was gone), the Reject was journaled by then, and every start
of E's journal failed the same assertion (``_reschedule``) -- one signed statement of a party stopped the
escrow and every contract it held, its bonds locked for good; the audit of its transcript failed on the
same assertion (``escrow_audit._currency``). Now the contract counts as one a witnessed Accept displaced,
as NEG-021 (a) says: E refunds both bonds at once and signs nothing else about it (ESC-016), across a
restart too, and its audit finds that due.

Closed since (witness25, NEG-021 (d)): a lower answer no longer cuts back past an Accept its escrow
witnessed -- it is taken superseded, as a higher one; a view that cut back before the Stamp came derives the
line again when it comes, and a Counter naming an escrow taken superseded as the higher answer takes the line
back when an Accept of it is witnessed: every order of the statements ends with the contract E witnessed.
E keeps the contract and both bonds locked. ESC-016 (d)'s refund stays for a contract a lower answer does cut
back at an escrow (one whose Stamp did not witness it): shown here with the witness reading of before.

Each test asserts first that the attack happened (Alice's answers signed as two links of her chain, E's
Stamp of Bob's Accept and both BondLocks, Bob's Delivery stamped) and then what E, a restart of E, its
audit and a view of evidence derive.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from escrow_pages import audited

from a2a_coop.protocol.audit import audit
from a2a_coop.protocol.errors import ExclusiveConflict, MandateViolation
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import Negotiation, State, proposal_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

BOND = 100
FUNDS = 1_000


class _CutBack:
    """Bob's offer naming no escrow (``offer``), Alice's kept Reject of it (``kept``, seq 0), her Counter
    naming the escrow with both bonds (``counter``, seq 1) and Bob's Accept of it (``accept``)."""

    def __init__(self, bob_caps: dict[str, int] | None = None, kept: str = "reject") -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock, dict(bob_caps or {}))
        self.party = Party("escrow", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal())
        assert not proposal_of(self.offer).terms.escrow
        clock.advance(1_000)
        if kept == "counter":  # a kept Counter naming no escrow, or a kept Accept, in the Reject's place
            self.kept = self.alice.counter(self.offer, self.alice.proposal())
        elif kept == "accept":
            self.kept = self.alice.accept(self.offer)
        else:
            self.kept = self.alice.reject(self.offer, "kept back")
        clock.advance(1_000)
        terms = self.alice.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        self.counter = self.alice.counter(self.offer, terms)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.counter)
        clock.advance(1_000)
        assert (self.kept.seq, self.counter.seq) == (0, 1) and self.counter.header.prev == self.kept.digest
        self.setup = [*self.alice.setup, *self.bob.setup]

    def node(self, path: Path, snapshot_every: int) -> EscrowNode:
        return EscrowNode(
            self.party.agent.key,
            self.party.mandate_vs.envelope,
            path,
            clock=lambda: self.clock.now_ms,
            durability="normal",
            snapshot_every=snapshot_every,
        )


def _bodies(answer: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in answer[1:]]  # after the escrow's Mandate


def _before_witness25(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading before NEG-021 (d): a lower answer cut back past any contract, witnessed or not -- kept
    to show ESC-016 (d)'s refund, which an escrow still owes a contract a lower answer does cut back."""
    monkeypatch.setattr(Negotiation, "_passes_witnessed", lambda self: False)
    monkeypatch.setattr(Negotiation, "_keep_off_line", lambda self, held: None)


@pytest.mark.req("NEG-021", "ESC-014", "ESC-007", "AUD-004")
@pytest.mark.parametrize("restart", ["replay", "snapshot"])
def test_an_escrow_keeps_the_contract_it_witnessed_and_its_bonds_when_a_lower_answer_comes_and_restarts(
    tmp_path: Path, restart: str
) -> None:
    s = _CutBack()
    path = tmp_path / f"{restart}.db"
    e = s.node(path, 1 if restart == "snapshot" else 0)
    alice, bob = s.alice.did, s.bob.did
    try:
        e.deposit(alice, FUNDS)
        e.deposit(bob, FUNDS)
        line = [*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope]
        assert _bodies(e.submit(line)) == ["stamp", "bond_lock", "bond_lock"]  # E witnessed, both locked
        delivery = s.bob.deliver(s.accept, s.alice)
        s.clock.advance(1_000)
        assert _bodies(e.submit([delivery.envelope])) == ["stamp"]  # the attack happened: Bob performed
        nid = s.offer.negotiation_id
        assert e.escrow.verifier.negotiations.get(nid).state is State.PERFORMING
        e.close()  # restarted right before the reveal too
        e = s.node(path, 1 if restart == "snapshot" else 0)
        first = e.submit([s.kept.envelope])  # the attack happened: E took Alice's kept Reject ...
        assert _bodies(first) == ["stamp"]  # ... and signed nothing else: no Refund (was both, ESC-016 (d))
        neg = e.escrow.verifier.negotiations.get(nid)
        assert neg.state is State.PERFORMING and neg.contract is not None
        assert neg.contract.accept.digest == s.accept.digest and s.kept.digest in neg.superseded
        assert e.escrow.balance(alice) == e.escrow.balance(bob) == (FUNDS - BOND, BOND)
        transcript = audited(e, s.party.did)
        assert e.submit([s.kept.envelope]) == first  # ESC-007, signing nothing
    finally:
        e.close()
    restarted = s.node(path, 1 if restart == "snapshot" else 0)
    try:
        assert restarted.escrow.transcript() == transcript
        neg = restarted.escrow.verifier.negotiations.get(nid)
        assert neg.state is State.PERFORMING and neg.contract is not None
        assert restarted.escrow.balance(alice) == restarted.escrow.balance(bob) == (FUNDS - BOND, BOND)
        assert restarted.submit([s.kept.envelope]) == first
    finally:
        restarted.close()


@pytest.mark.req("NEG-021", "ESC-016", "ESC-007", "AUD-004", "AUD-005")
def test_an_escrow_refunds_the_bonds_of_a_contract_a_lower_answer_cut_back_and_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESC-016 (d), under the reading before NEG-021 (d) (a lower answer cutting back past a witnessed
    contract): the escrow refunds both bonds at once, signs nothing else, and restarts to the same."""
    _before_witness25(monkeypatch)
    s = _CutBack()
    path = tmp_path / "replay.db"
    e = s.node(path, 0)
    alice, bob = s.alice.did, s.bob.did
    try:
        e.deposit(alice, FUNDS)
        e.deposit(bob, FUNDS)
        line = [*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope]
        assert _bodies(e.submit(line)) == ["stamp", "bond_lock", "bond_lock"]
        delivery = s.bob.deliver(s.accept, s.alice)
        s.clock.advance(1_000)
        assert _bodies(e.submit([delivery.envelope])) == ["stamp"]
        nid = s.offer.negotiation_id
        first = e.submit([s.kept.envelope])
        assert _bodies(first) == ["stamp", "refund", "refund"]
        refunds = [verify_statement(env).statement.refund for env in first[2:]]
        assert sorted((r.party, r.amount) for r in refunds) == sorted([(alice, BOND), (bob, BOND)])
        neg = e.escrow.verifier.negotiations.get(nid)
        assert neg.state is State.REJECTED and neg.contract is None
        assert {s.accept.digest, delivery.digest} <= set(neg.superseded)
        assert e.escrow.balance(alice) == e.escrow.balance(bob) == (FUNDS, 0)
        transcript = audited(e, s.party.did)
        assert e.submit([s.kept.envelope]) == first  # ESC-007, signing nothing
    finally:
        e.close()
    restarted = s.node(path, 0)
    try:
        assert restarted.escrow.transcript() == transcript
        assert restarted.escrow.balance(alice) == restarted.escrow.balance(bob) == (FUNDS, 0)
        assert restarted.submit([s.kept.envelope]) == first  # nothing refunded twice (ESC-016 (b))
        s.clock.advance(3 * 86_400_000)
        assert restarted.tick() == []
    finally:
        restarted.close()


@pytest.mark.req("AUD-005", "ESC-016", "NEG-021")
def test_the_audit_reports_an_escrow_that_keeps_the_bonds_of_a_contract_cut_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit's side of ESC-016 (d), under the reading before NEG-021 (d): an escrow that drops the
    contract a lower answer cut back without refunding its bonds leaves both locked, and the audit of its
    transcript reports ``ACTION_MISSING``."""
    _before_witness25(monkeypatch)
    monkeypatch.setattr(Escrow, "_drop_cut_back", lambda self, nid: self._contracts.pop(nid, None) and None)
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    assert _bodies(e.submit([s.kept.envelope])) == ["stamp"]  # the attack happened: no refund signed
    assert e.escrow.balance(s.alice.did) == (FUNDS - BOND, BOND)
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert [f.code for f in report.findings] == ["ACTION_MISSING"], report.findings
    assert "refund was due" in report.findings[0].message


def _orders() -> Iterator[str]:
    """Every order of Bob's offer O, Alice's kept Reject R, her Counter C, Bob's Accept A, E's Stamp S of
    it and the rest T (both BondLocks, Bob's Delivery) in which what a statement cites comes before it (a
    Stamp may come first)."""
    for order in itertools.permutations("ORCAST"):
        at = order.index
        if at("O") < at("R") and at("O") < at("C") < at("A") < at("T"):
            yield "".join(order)


@pytest.mark.req("NEG-021", "NEG-017", "NEG-018", "ESC-014")
def test_a_lower_answer_leaves_a_contract_its_escrow_witnessed_standing_in_every_order() -> None:
    """NEG-021 (d): a view of evidence holding E's transcript and Alice's kept Reject ends in one state in
    every order -- the contract E witnessed, PERFORMING, the kept Reject superseded -- whether the Reject
    came after the Stamp (superseded at once), before it (cut back, then derived again when the Stamp came)
    or before Alice's Counter (the Counter superseded as the higher answer, then taking the line back when
    the Accept's Stamp came); and the audit of E's transcript finds nothing to report."""
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    out = e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]
    delivery = s.bob.deliver(s.accept, s.alice)
    s.clock.advance(1_000)
    e.submit([delivery.envelope])
    assert _bodies(e.submit([s.kept.envelope])) == ["stamp"]  # the attack happened: E took the kept Reject
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert report.ok, report.findings
    items = {
        "O": [s.offer.envelope],
        "R": [s.kept.envelope],
        "C": [s.counter.envelope],
        "A": [s.accept.envelope],
        "S": [out[1]],
        "T": [out[2], out[3], delivery.envelope],
    }
    nid = s.offer.negotiation_id
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in _orders():
        v = Verifier()
        for env in [*s.setup, out[0], *(env for k in order for env in items[k])]:
            v.accept(env)  # nothing refused, in any order
        neg = v.negotiations.get(nid)
        end = (
            neg.state,
            neg.contract.accept.digest if neg.contract is not None else None,
            s.kept.digest in neg.superseded,
            delivery.digest in neg.superseded,
        )
        ends.setdefault(end, []).append(order)
    assert len(ends) == 1, ends
    assert next(iter(ends)) == (State.PERFORMING, s.accept.digest, True, False)
    assert sum(len(v) for v in ends.values()) == 24  # every order ran, the Reject first and last among them


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
def test_an_escrow_that_took_the_lower_answer_first_witnesses_the_accept_of_the_higher_counter() -> None:
    """The other order at E: Alice's kept Reject reaches E before her Counter (first in one Submit: E takes
    nothing of a negotiation before a statement naming it, ESC-011). E takes the Reject as Bob's offer's
    answer and the Counter superseded (the higher answer); Bob's Accept of the Counter, which E stamps, is
    witnessed and takes the line back (NEG-021 (d), NEG-017): the contract forms and both bonds lock, as when
    the Reject came last -- and a view of E's transcript ends the same. Before NEG-021 (d), E stamped the
    Accept all the same and held it superseded, bonding nothing."""
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    line = [*s.setup, s.offer.envelope, s.kept.envelope, s.counter.envelope, s.accept.envelope]
    out = e.submit(line)
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]
    stamped = set(verify_statement(out[1]).statement.stamp.statements)
    assert {s.kept.digest, s.counter.digest, s.accept.digest} <= stamped  # the Reject taken first, then both
    nid = s.offer.negotiation_id
    neg = e.escrow.verifier.negotiations.get(nid)
    assert neg.state is State.BONDED and neg.contract is not None
    assert neg.contract.accept.digest == s.accept.digest and s.kept.digest in neg.superseded
    assert e.escrow.balance(s.alice.did) == (FUNDS - BOND, BOND)
    v = Verifier()
    for env in e.escrow.transcript():
        v.accept(env)
    view = v.negotiations.get(nid)
    assert view.state is State.BONDED and view.contract is not None
    assert view.contract.accept.digest == s.accept.digest and s.kept.digest in view.superseded


class _DeepCutBack:
    """spec26: the witnessed contract one Counter further down the branch the lower answer cuts off. Bob's
    offer naming no escrow (``offer``), Alice's kept Reject of it (``kept``, seq 0), her Counter naming no
    escrow (``counter``, seq 1), Bob's Counter of it naming the escrow with both bonds (``bonded``) -- Bob
    names the escrow himself, as NEG-022's Why tells an offerer that must be sure -- and Alice's Accept of
    it."""

    def __init__(self) -> None:
        clock = FixedClock()
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal())
        clock.advance(1_000)
        self.kept = self.alice.reject(self.offer, "kept back")
        clock.advance(1_000)
        self.counter = self.alice.counter(self.offer, self.alice.proposal())
        clock.advance(1_000)
        terms = self.bob.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        self.bonded = self.bob.counter(self.counter, terms)
        clock.advance(1_000)
        self.accept = self.alice.accept(self.bonded)
        clock.advance(1_000)
        assert not proposal_of(self.counter).terms.escrow
        assert (self.kept.seq, self.counter.seq) == (0, 1) and self.counter.header.prev == self.kept.digest
        self.setup = [*self.alice.setup, *self.bob.setup]


@pytest.mark.req("NEG-021", "NEG-017", "NEG-018", "ESC-014")
def test_a_lower_answer_leaves_a_witnessed_contract_further_down_the_line_standing_in_every_order() -> None:
    """NEG-021 (d) past the higher answer: the witnessed contract is Bob's Counter's, one Counter below
    Alice's higher answer. Before, a view that took the kept Reject before Alice's Counter held every Counter
    after it superseded and Alice's Accept of Bob's -- stamped by its escrow -- superseded too, and so did
    one that took it between Bob's Counter and that Accept: REJECTED, in 21 of the 35 orders, where the
    other 14 held the witnessed contract BONDED. Now each Counter the lower answer cut off that answers the
    one before it as the table would have is kept, and an Accept of any of them its escrow witnesses takes
    the line back to it: every order ends BONDED, the Reject superseded."""
    s = _DeepCutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    out = e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.bonded.envelope, s.accept.envelope])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]  # the escrow witnessed and bonded the contract
    items = {
        "O": [s.offer.envelope],
        "R": [s.kept.envelope],
        "C": [s.counter.envelope],
        "D": [s.bonded.envelope],
        "A": [s.accept.envelope],
        "S": [out[1]],
        "T": [out[2], out[3]],
    }
    nid = s.offer.negotiation_id
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in itertools.permutations("ORCDAST"):
        at = order.index
        if not (at("O") < at("R") and at("O") < at("C") < at("D") < at("A") < at("T")):
            continue
        v = Verifier()
        for env in [*s.setup, out[0], *(env for k in order for env in items[k])]:
            v.accept(env)  # nothing refused, in any order
        neg = v.negotiations.get(nid)
        contract = neg.contract.accept.digest if neg.contract is not None else None
        end = (neg.state, contract, s.kept.digest in neg.superseded, s.counter.digest in neg.superseded)
        ends.setdefault(end, []).append("".join(order))
    assert len(ends) == 1, {k: len(v) for k, v in ends.items()}
    assert next(iter(ends)) == (State.BONDED, s.accept.digest, True, False)
    assert sum(len(v) for v in ends.values()) == 35  # the Reject before Alice's Counter among them


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
def test_an_escrow_shown_the_lower_answer_first_bonds_a_contract_further_down_the_line() -> None:
    """The escrow's side: Alice shows it her kept Reject first, then the line down to her Accept of Bob's
    bonded Counter, in one Submit. Before, it took the Reject as Bob's offer's answer, stamped the Accept and
    held it superseded -- Bob's bonded contract witnessed and bonded nowhere; now it bonds the contract."""
    s = _DeepCutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    line = [s.offer, s.kept, s.counter, s.bonded, s.accept]
    out = e.submit([*s.setup, *(vs.envelope for vs in line)])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]
    assert {vs.digest for vs in line[1:]} <= set(verify_statement(out[1]).statement.stamp.statements)
    neg = e.escrow.verifier.negotiations.get(s.offer.negotiation_id)
    assert neg.state is State.BONDED and neg.contract is not None
    assert neg.contract.accept.digest == s.accept.digest and s.kept.digest in neg.superseded
    assert e.escrow.balance(s.alice.did) == e.escrow.balance(s.bob.did) == (FUNDS - BOND, BOND)
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert report.ok, report.findings


def _exposure_ends(
    s: _CutBack, out: list[bytes], items: dict[str, list[bytes]], orders: Iterator[str]
) -> dict[tuple[object, ...], list[str]]:
    """For each order, what Alice's and Bob's Mandates count once every statement is held: MND-010's
    outstanding value and MND-009's committed value of the period, read for a statement at each of the
    story's times (Bob's offer at +0 s, the kept Reject +1 s, Alice's Counter +2 s, Bob's Accept +3 s, its
    ledger +4 s) and after them; grouped by what they count."""
    t0 = s.offer.issued_at_ms
    ends: dict[tuple[object, ...], list[str]] = {}
    for order in orders:
        v = Verifier()
        for env in [*s.setup, out[0], *(env for k in order for env in items[k])]:
            v.accept(env)
        counts: list[tuple[int, ...]] = []
        for who in (s.alice, s.bob):
            ex = v.exposure.exposure(who.mandate_vs.digest)
            at = [t0 + dt for dt in (500, 1_500, 2_500, 3_500, 5_000)]
            counts.append(tuple(ex.outstanding(t) for t in at))
            counts.append(tuple(ex.committed(ex.period_of(t0), t) for t in at))
        ends.setdefault(tuple(counts), []).append(order)
    return ends


def _witnessed_counter_story(kept: str = "reject") -> tuple[_CutBack, list[bytes], dict[str, list[bytes]]]:
    s = _CutBack(kept=kept)
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    out = e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    items = {
        "O": [s.offer.envelope],
        "R": [s.kept.envelope],
        "C": [s.counter.envelope],
        "A": [s.accept.envelope],
        "S": [out[1]],
        "T": [out[2], out[3]],
    }
    return s, out, items


@pytest.mark.req("NEG-021", "MND-009", "MND-010", "NEG-019")
def test_the_witnessed_contract_a_lower_answer_leaves_standing_counts_for_its_parties_in_every_order() -> (
    None
):
    """spec26: the contract E witnessed stands in every order (NEG-021 (d)), and now counts for its parties
    in every order too. Before, where the kept Reject came before Alice's Counter and Bob's Accept before E's
    Stamp (ORCAST), the view derived the negotiation again when the Stamp came and the witnessed contract --
    bonded, 600 of Alice's and 550 of Bob's -- counted toward neither party's outstanding value nor in its
    budget period (MND-009, MND-010): Alice's next offer over her cap was taken there and refused
    `MANDATE_VIOLATION` in a view that heard the Reject last (`chains.json` WitnessedCounted). Where the
    Reject came between the Accept and the Stamp (OCARST), the outstanding value counted it but the period
    did not (the displacement the cut-back booked was never taken back). Who chose the order: whoever relays
    Alice's statements -- Alice, by when she reveals the Reject. Now the contract derived again is booked, or
    its displacement undone (`Verifier._count_witnessed`)."""
    s, out, items = _witnessed_counter_story()
    ends = _exposure_ends(s, out, items, iter(("OCASRT", "ORCAST", "OCARST")))
    after_accept = {
        order: (counts[0][4], counts[1][4], counts[2][4], counts[3][4])
        for counts, orders in ends.items()
        for order in orders
    }
    # the contract, once formed, in Alice's and Bob's outstanding value and in their period's committed value
    assert after_accept["OCASRT"] == (600, 600, 550, 550)
    assert after_accept["ORCAST"] == after_accept["OCARST"] == after_accept["OCASRT"], after_accept


@pytest.mark.req("NEG-021", "MND-009", "MND-010", "NEG-019")
@pytest.mark.parametrize("kept", ["reject", "counter", "accept"])
def test_what_the_line_a_lower_answer_leaves_standing_counts_is_one_in_every_order(kept: str) -> None:
    """spec26, settled (reading27, NEG-021 (d)): before the witnessed contract forms, what the line counts
    was the order's. A view that took the kept Reject last (superseded, moving nothing) counted Bob's offer
    until Alice's Counter answered it (+2 s) and her Counter, live, until Bob's Accept (+3 s); one that took
    the Reject first (15 of the 24 orders) counted Bob's offer until the Reject (+1 s) and Alice's Counter
    nowhere before the Accept, as NEG-019 dates an answer a witnessed Accept displaced. Now the lower answer
    the witnessed contract passes moves nothing in any order (`Verifier._count_line_as_witnessed_first`):
    the Reject-last count in all 24 -- what Bob's guard acted on when he accepted, and nothing Alice's
    reveal can move. The same where the kept answer is a Counter naming no escrow or an Accept: before,
    4 and 3 outcomes, her kept Counter (500) counted in some orders until it expired and her kept Accept's
    contract (450) in others; now it counts nowhere, as held last."""
    s, out, items = _witnessed_counter_story(kept)
    ends = _exposure_ends(s, out, items, _orders())
    assert len(ends) == 1, {k: v[:2] for k, v in ends.items()}
    (alice_out, alice_period, bob_out, bob_period), orders = next(iter(ends.items()))
    assert len(orders) == 24
    # at +0.5 s, +1.5 s (the Reject's moment: it frees nothing), +2.5 s (Alice's Counter live), +3.5 s, +5 s
    assert alice_out == alice_period == (0, 0, 600, 600, 600)
    assert bob_out == bob_period == (500, 500, 0, 550, 550)


@pytest.mark.req("NEG-021", "MND-009", "MND-010", "NEG-018")
def test_what_answers_a_lower_answer_the_witnessed_contract_passed_counts_nowhere_in_every_order() -> None:
    """reading27: Alice's kept answer is a Counter naming no escrow (K, +1 s) that Bob counters in turn (B,
    500, +1.5 s) before her higher Counter naming E (+2 s) and his Accept of it, which E witnesses. A view
    that held the witnessed contract first took K and B superseded, moving nothing; one that held K first
    counted B live -- until it expired, or as the witnessed Accept's cut-off line (SPEC 4.5) until it --
    and K until the Stamp, five outcomes in the 36 orders. Now the lower answer and what answers it count
    nowhere, Bob's offer until Alice's higher Counter, in every order (NEG-021 (d))."""
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    kept = alice.counter(offer, alice.proposal())
    clock.advance(500)
    again = bob.counter(kept, bob.proposal())
    clock.advance(500)
    counter = alice.counter(offer, alice.proposal(escrow=party.did, issuer_bond=BOND, audience_bond=BOND))
    clock.advance(1_000)
    accept = bob.accept(counter)
    assert kept.seq < counter.seq and not proposal_of(kept).terms.escrow
    setup = [*alice.setup, *bob.setup]
    e = LocalEscrow(party, funds={alice.did: FUNDS, bob.did: FUNDS})
    out = e.submit([*setup, offer.envelope, counter.envelope, accept.envelope])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]  # the attack happened: E witnessed, bonded
    items = {"O": offer, "K": kept, "B": again, "C": counter, "A": accept}
    t0 = offer.issued_at_ms
    ends: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for order in itertools.permutations("OKBCAS"):
        at = order.index
        if not (at("O") < at("K") < at("B") and at("O") < at("C") < at("A")):
            continue
        v = Verifier()
        for env in [*setup, out[0], *(out[1] if k == "S" else items[k].envelope for k in order)]:
            v.accept(env)
        counts = []
        for who in (alice, bob):
            ex = v.exposure.exposure(who.mandate_vs.digest)
            times = [t0 + dt for dt in (500, 1_200, 1_700, 2_500, 3_500)]
            counts.append(tuple(ex.outstanding(t) for t in times))
            counts.append(tuple(ex.committed(ex.period_of(t0), t) for t in times))
        ends.setdefault(tuple(counts), []).append("".join(order))
    assert len(ends) == 1, {k: v[:2] for k, v in ends.items()}
    assert sum(map(len, ends.values())) == 36
    alice_out, _, bob_out, _ = next(iter(ends))
    assert alice_out == (0, 0, 0, 600, 600)  # her kept Counter nowhere, her higher one from +2 s
    assert bob_out == (500, 500, 500, 0, 550)  # his offer until her higher Counter, his Counter of K nowhere


@pytest.mark.req("NEG-021", "MND-010", "NEG-019")
def test_a_late_stamp_un_takes_nothing_the_view_took_while_it_held_the_cut_back() -> None:
    """NEG-021 (d), the lead's reading (rederive26): Bob's max_outstanding is 600; Alice's kept Reject cuts
    back his Accept of her Counter naming E (550 his side) in a view with no Stamp yet, and his offer of 500
    to Carol, which fits his cap without that contract, is taken; then E's Stamp comes. The view derives
    Alice and Bob's negotiation again -- the witnessed contract stands and counts for Bob from then on -- and
    un-takes nothing: Carol's Accept of the offer after the Stamp is taken, Bob's next offer over his cap
    counting the witnessed contract is refused. A view that held the Stamp when the offer to Carol came
    refuses it (order-bound, as NEG-023 (a)'s refusals); the audit's over-commitment detector proves Bob
    over his cap once he delivers under the witnessed contract (`chains.json` WitnessedLate; the JS
    verifier, which derived its whole view again, dropped the offer to Carol: F61)."""
    s = _CutBack(bob_caps={"max_outstanding": 600})
    carol = Party("carol", s.clock)
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    out = e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    to_carol = s.bob.offer(carol)
    s.clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    delivery = s.bob.deliver(s.accept, s.alice)
    s.clock.advance(1_000)
    items = [service("code-review", value=50, deadline_ms=s.clock.now_ms + DAY_MS)]
    small = s.bob.offer(carol, s.bob.proposal(gives=items))
    base = [*s.setup, *carol.setup, out[0], s.offer.envelope, s.counter.envelope, s.accept.envelope]
    late = [s.kept.envelope, to_carol.envelope, *out[1:], carol_accept.envelope]
    v = Verifier()
    for env in [*base, *late]:
        v.accept(env)
    cut = v.negotiations.find(s.offer.header.negotiation_id)
    assert cut is not None and cut.contract is not None and cut.contract.accept.digest == s.accept.digest
    trade = v.negotiations.find(to_carol.header.negotiation_id)
    assert trade is not None and trade.state is State.ACCEPTED
    with pytest.raises(MandateViolation):
        v.accept(small.envelope)  # 550 + 500 + 50 > 600; it fits without the witnessed contract
    first = Verifier()
    for env in [*base, s.kept.envelope, *out[1:]]:
        first.accept(env)
    with pytest.raises(MandateViolation):
        first.accept(to_carol.envelope)
    found = audit([*base, *late, delivery.envelope], subject=s.bob.did, screens=False)
    assert [(f.kind, f.requirement) for f in found] == [("over-commitment", "MND-010")], found


@pytest.mark.req("NEG-021", "NEG-009")
def test_a_late_stamp_un_takes_no_accept_under_the_key_the_witnessed_contract_holds() -> None:
    """NEG-021 (d) with NEG-009 (reading27): Alice's kept Reject cuts back Bob's Accept of her Counter naming
    E with exclusive_key K in a view with no Stamp yet; Alice offers Dave K and Dave accepts, the key free
    then; then E's Stamp comes. The reference derived the negotiation again and read NEG-009 over it as for
    a contract live again (ESC-022 (e), KEY-009 (d)): Dave's Accept held off, his negotiation back to
    PROPOSED and Alice's Delivery under it refused -- an un-take NEG-021 (d) forbids, where the JS verifier
    kept it (`chains.json` WitnessedLateKey, F63). Now Dave's contract stays; a new Accept under K after the
    Stamp is refused (the witnessed contract holds K), and a view that held the Stamp first refuses Dave's
    Accept (order-bound)."""
    s = _CutBack()
    dave = Party("dave", s.clock)
    key = b"slot-1"
    terms = s.alice.proposal(escrow=s.party.did, issuer_bond=BOND, audience_bond=BOND, exclusive_key=key)
    s.counter = s.alice.counter(s.offer, terms)  # the next link after the kept Reject, naming K
    s.accept = s.bob.accept(s.counter)
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    out = e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]  # E witnessed and bonded Alice's contract
    s.clock.advance(1_000)
    to_dave = s.alice.offer(dave, s.alice.proposal(exclusive_key=key))
    s.clock.advance(1_000)
    dave_accept = dave.accept(to_dave)
    s.clock.advance(1_000)
    delivery = s.alice.deliver(dave_accept, dave)
    base = [*s.setup, *dave.setup, out[0], s.offer.envelope, s.counter.envelope, s.accept.envelope]
    v = Verifier()
    for env in [*base, s.kept.envelope, to_dave.envelope, dave_accept.envelope, out[1]]:
        v.accept(env)
    cut = v.negotiations.get(s.offer.negotiation_id)
    assert cut.contract is not None and cut.contract.accept.digest == s.accept.digest  # the attack happened
    trade = v.negotiations.get(to_dave.negotiation_id)
    assert trade.state is State.ACCEPTED and trade.contract is not None  # was PROPOSED: held off
    v.accept(delivery.envelope)  # was ILLEGAL_TRANSITION: no contract
    first = Verifier()
    for env in [*base, s.kept.envelope, out[1], to_dave.envelope]:
        first.accept(env)
    with pytest.raises(ExclusiveConflict):
        first.accept(dave_accept.envelope)
