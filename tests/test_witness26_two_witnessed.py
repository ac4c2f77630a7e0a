"""witness26: witnessed contracts in two branches of one line (NEG-021 (d), (e)).

NEG-021 orders two answers of one key to an offer naming no escrow by that key's chain; (d) lets a contract
whose escrow witnessed it stand against a lower answer. Left untested: two such contracts, one in each
branch. Alice counters Bob's offer naming no escrow twice -- naming escrow E1, then escrow E2, the next link
of her chain --, Bob accepts both Counters (NEG-022 told him not to: he held two answers of hers to his
offer) and each escrow stamps the Accept of the Counter naming it. Which contract binds?

Found here: the one a view heard first. A view that held E1's contract first kept it (the higher Counter
stayed off: "a witnessed contract holds the line"); one that held E2's first took Alice's lower Counter
superseded, as (d) said, and kept E2's -- 132 of the 252 orders one way, 120 the other. And (d) itself held
only for a contract whose Accept accepts the higher Counter: one witnessed two Counters below it (Alice's
Counter naming no escrow, Bob's Counter of it naming E, Alice's Accept) gave way to Alice's kept Reject
whenever the Reject came before the Accept -- 18 of the 24 orders REJECTED, 6 ACCEPTED.

Now (NEG-021 (e)): the branches held off the line are kept (:attr:`Negotiation.off_line`), and a witnessed
Accept in one takes the line back where its branch prevails -- over a line holding no witnessed contract
(d), and over one holding one when its branch is the lower answer's (e). Every order ends alike: the lower
answer's contract binds, its escrow bonds it, the other escrow refunds its bonds (ESC-016) and signs
nothing else about its contract, across restarts, its transcript audited clean.

Each test asserts first that the attack happened (both Counters signed as two links of Alice's chain, both
Accepts stamped and bonded by their escrows) and then what the views, the escrows and their audits derive.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from escrow_pages import audited

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import Negotiation, State, cited
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import FixedClock, LocalEscrow, Party, derive
from conformance.generate_vectors._common import Group, seal, world
from conformance.generate_vectors.negotiation import ctx, party_draft, stamp
from conformance.generate_vectors.output import document

BOND = 100
FUNDS = 1_000
NODE = shutil.which("node")
VERIFIER = Path(__file__).resolve().parents[1] / "examples" / "js_verifier" / "verify.mjs"


def _bodies(answer: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in answer[1:]]  # after the escrow's Mandate


class _TwoCounters:
    """Bob's offer naming no escrow (``offer``); Alice's Counters of it naming E1 (``low``, seq 0) and E2
    (``high``, seq 1); Bob's Accepts of each (``a_low``, ``a_high``)."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.e1, self.e2 = Party("escrow-one", clock), Party("escrow-two", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal())
        clock.advance(1_000)
        self.low = self.alice.counter(self.offer, self._terms(self.e1))
        clock.advance(1_000)
        self.high = self.alice.counter(self.offer, self._terms(self.e2))
        clock.advance(1_000)
        self.a_low = self.bob.accept(self.low)
        clock.advance(1_000)
        self.a_high = self.bob.accept(self.high)
        clock.advance(1_000)
        assert (self.low.seq, self.high.seq) == (0, 1) and self.high.header.prev == self.low.digest
        self.setup = [*self.alice.setup, *self.bob.setup]

    def _terms(self, escrow: Party) -> object:
        return self.alice.proposal(escrow=escrow.did, issuer_bond=BOND, audience_bond=BOND)

    def node(self, escrow: Party, path: Path, snapshot_every: int) -> EscrowNode:
        return EscrowNode(
            escrow.agent.key,
            escrow.mandate_vs.envelope,
            path,
            clock=lambda: self.clock.now_ms,
            durability="normal",
            snapshot_every=snapshot_every,
        )


def _orders(items: str, cites: dict[str, str]) -> Iterator[str]:
    """Every order of ``items`` in which what a statement cites comes before it (a Stamp may come first)."""
    for order in itertools.permutations(items):
        at = order.index
        if all(at(k) > at(v) for k, v in cites.items()):
            yield "".join(order)


def _ends(story: _Story) -> dict[tuple[object, ...], list[str]]:
    """The end state of a view of evidence -- state, contract, what is superseded, and which keys it holds
    answer proofs against -- for each order of the story's statements, nothing refused in any."""
    ends: dict[tuple[object, ...], list[str]] = {}
    nid = story.binds.negotiation_id
    for order in _orders("".join(story.items), story.cites):
        v = EvidenceVerifier()
        for env in [*story.setup, *(env for k in order for env in story.items[k])]:
            v.accept(env)  # nothing refused, in any order
        neg = v.negotiations.get(nid)
        end = (
            neg.state,
            neg.contract.accept.digest if neg.contract is not None else None,
            frozenset(neg.superseded),
            frozenset(v.forks),
        )
        ends.setdefault(end, []).append(order)
    return ends


class _Story(NamedTuple):
    """A view's statements: ``setup`` first, then ``items`` (one letter each) in any order in which what
    a statement cites (``cites``) comes first; the Accept whose contract must bind in every order
    (``binds``), and Bob's Delivery under it with an item_index out of range (``bad``: read as the
    contract's, BODY_INVALID -- taken unread, were that contract superseded)."""

    setup: list[bytes]
    items: dict[str, list[bytes]]
    cites: dict[str, str]
    binds: VerifiedStatement
    bad: bytes


def _bad_delivery(party: Party, accept: VerifiedStatement, to: Party) -> bytes:
    msg = commitment_pb2.Delivery(contract=accept.digest, item_index=99, artifact_digest=derive("x"))
    return seal(party.agent.key, party_draft(party, "delivery", msg, accept, to))


def _siblings() -> _Story:
    """Alice's two Counters of Bob's offer naming E1 (lower) and E2, each accepted by Bob and stamped."""
    s = _TwoCounters()
    e1 = LocalEscrow(s.e1, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    e2 = LocalEscrow(s.e2, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    low = e1.submit([*s.setup, s.offer.envelope, s.low.envelope, s.a_low.envelope])
    high = e2.submit([*s.setup, s.offer.envelope, s.high.envelope, s.a_high.envelope])
    assert _bodies(low) == _bodies(high) == ["stamp", "bond_lock", "bond_lock"]  # the attack happened
    items = {
        "O": [s.offer.envelope],
        "L": [s.low.envelope],
        "H": [s.high.envelope],
        "a": [s.a_low.envelope],
        "b": [s.a_high.envelope],
        "s": [low[1]],
        "t": [high[1]],
    }
    cites = {"L": "O", "H": "O", "a": "L", "b": "H"}
    bad = _bad_delivery(s.bob, s.a_low, s.alice)
    return _Story([*s.setup, low[0], high[0]], items, cites, s.a_low, bad)


def _depths() -> _Story:
    """Alice's lower Counter names no escrow, Bob counters it naming E1 and Alice accepts, E1 stamping;
    her higher Counter names E2, Bob accepts it, E2 stamping."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e1, e2 = Party("escrow-one", clock), Party("escrow-two", clock)
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    low = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    high = alice.counter(offer, alice.proposal(escrow=e2.did, issuer_bond=BOND, audience_bond=BOND))
    clock.advance(1_000)
    bobs = bob.counter(low, bob.proposal(escrow=e1.did, issuer_bond=BOND, audience_bond=BOND))
    clock.advance(1_000)
    a_low, a_high = alice.accept(bobs), bob.accept(high)
    clock.advance(1_000)
    setup = [*alice.setup, *bob.setup]
    one = LocalEscrow(e1, funds={alice.did: FUNDS, bob.did: FUNDS})
    two = LocalEscrow(e2, funds={alice.did: FUNDS, bob.did: FUNDS})
    s1 = one.submit([*setup, offer.envelope, low.envelope, bobs.envelope, a_low.envelope])
    s2 = two.submit([*setup, offer.envelope, high.envelope, a_high.envelope])
    assert _bodies(s1) == _bodies(s2) == ["stamp", "bond_lock", "bond_lock"]  # the attack happened
    items = {
        "O": [offer.envelope],
        "L": [low.envelope],
        "P": [bobs.envelope],
        "H": [high.envelope],
        "a": [a_low.envelope],
        "b": [a_high.envelope],
        "s": [s1[1]],
        "t": [s2[1]],
    }
    cites = {"L": "O", "P": "L", "H": "O", "a": "P", "b": "H"}
    return _Story([*setup, s1[0], s2[0]], items, cites, a_low, _bad_delivery(bob, a_low, alice))


def _deep() -> _Story:
    """Alice's kept Reject of Bob's offer naming no escrow (seq 0), her Counter naming none (seq 1), Bob's
    Counter of it naming E, Alice's Accept of that, E's Stamp."""
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal())
    clock.advance(1_000)
    bobs = bob.counter(counter, bob.proposal(escrow=e.did, issuer_bond=BOND, audience_bond=BOND))
    clock.advance(1_000)
    accept = alice.accept(bobs)
    clock.advance(1_000)
    setup = [*alice.setup, *bob.setup]
    escrow = LocalEscrow(e, funds={alice.did: FUNDS, bob.did: FUNDS})
    out = escrow.submit([*setup, offer.envelope, counter.envelope, bobs.envelope, accept.envelope])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]  # the attack happened
    assert _bodies(escrow.submit([kept.envelope])) == ["stamp"]  # E keeps its contract, as before
    items = {
        "O": [offer.envelope],
        "R": [kept.envelope],
        "C": [counter.envelope],
        "P": [bobs.envelope],
        "a": [accept.envelope],
        "s": [out[1]],
    }
    cites = {"R": "O", "C": "O", "P": "C", "a": "P"}
    return _Story([*setup, out[0]], items, cites, accept, _bad_delivery(bob, accept, alice))


@pytest.mark.req("NEG-021", "NEG-017", "NEG-018", "ATT-022")
def test_of_two_witnessed_contracts_the_lower_answers_binds_in_every_order() -> None:
    """NEG-021 (e): Alice's two Counters, each accepted by Bob and stamped by the escrow it names: every
    order of the statements and Stamps ends with the lower Counter's contract, the higher Counter and its
    contract superseded -- and Alice's key convicted by her two answers (ATT-022), Bob's not: his Accepts
    answer two statements. Before, the first contract a view held bound (132 orders one way, 120 the
    other)."""
    story = _siblings()
    high, a_high = (verify_statement(story.items[k][0]) for k in "Hb")
    ends = _ends(story)
    assert len(ends) == 1, {k[:2]: v[:3] for k, v in ends.items()}
    state, contract, superseded, convicted = next(iter(ends))
    assert (state, contract) == (State.ACCEPTED, story.binds.digest)
    assert {high.digest, a_high.digest} <= superseded and cited(story.binds) not in superseded
    assert convicted == {high.issuer}  # Alice's key alone
    assert sum(len(v) for v in ends.values()) == 252


@pytest.mark.req("NEG-021", "NEG-017")
def test_the_lower_answers_branch_prevails_with_its_contract_two_counters_below_it() -> None:
    """NEG-021 (e) at depth (:func:`_depths`): every order ends with E1's contract, two Counters below
    Alice's lower answer. Before, the first contract a view held bound (245 orders one way, 315 the
    other)."""
    story = _depths()
    high, a_high = (verify_statement(story.items[k][0]) for k in "Hb")
    ends = _ends(story)
    assert len(ends) == 1, {k[:2]: v[:3] for k, v in ends.items()}
    state, contract, superseded, _ = next(iter(ends))
    assert (state, contract) == (State.ACCEPTED, story.binds.digest)
    assert {high.digest, a_high.digest} <= superseded
    assert sum(len(v) for v in ends.values()) == 560


@pytest.mark.req("NEG-021", "NEG-017", "NEG-018")
def test_a_contract_witnessed_two_counters_below_the_higher_answer_stands_in_every_order() -> None:
    """NEG-021 (d) below the answer (:func:`_deep`): the contract E witnessed stands in every order, the
    kept Reject superseded. Before, it gave way whenever the Reject came before the Accept (18 of the 24
    orders REJECTED): (d) took back only a contract accepting the higher answer itself."""
    story = _deep()
    ends = _ends(story)
    assert len(ends) == 1, {k[:2]: v[:3] for k, v in ends.items()}
    state, contract, superseded, _ = next(iter(ends))
    assert (state, contract) == (State.ACCEPTED, story.binds.digest)
    assert verify_statement(story.items["R"][0]).digest in superseded
    assert sum(len(v) for v in ends.values()) == 24


@pytest.mark.req("NEG-021", "NEG-017")
@pytest.mark.parametrize("build", [_siblings, _depths, _deep], ids=["siblings", "depths", "deep"])
def test_the_js_verifier_ends_alike_in_every_order(build: Callable[[], _Story], tmp_path: Path) -> None:
    """The second implementation (F55), every order of each story: Bob's Delivery under the contract that
    binds, item_index out of range, is refused `BODY_INVALID` -- read as that contract's -- in each, and
    taken (unread) without it. Run as a vector file of one case per order, each with its twin."""
    if NODE is None:
        pytest.skip("node is not on PATH")
    story = build()
    g = Group("EveryOrder", "sparse")
    orders = list(_orders("".join(story.items), story.cites))
    for order in orders:
        envelopes = [*story.setup, *(env for k in order for env in story.items[k])]
        g.add(order, ["NEG-021"], [*envelopes, story.bad], "BODY_INVALID", "ContractRule", twin=envelopes)
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(document([g])), encoding="utf-8")
    run = subprocess.run(
        [NODE, str(VERIFIER), "--json", str(path)], check=False, capture_output=True, text=True, timeout=300
    )
    report = json.loads(run.stdout)
    assert report["disagreements"] == [], report["disagreements"][:3]
    assert report["total"]["agree"] == len(orders) and run.returncode == 0


@pytest.mark.req("NEG-021", "ESC-016", "ESC-014", "AUD-004", "ESC-007")
@pytest.mark.parametrize("restart", ["replay", "snapshot"])
def test_the_higher_contracts_escrow_refunds_and_the_lower_ones_bonds_and_both_restart_alike(
    tmp_path: Path, restart: str
) -> None:
    """E2 witnessed and bonded Bob's Accept of the higher Counter, and Bob delivered; then E2 is shown E1's
    Stamp and Bob's Accept of the lower Counter: the lower contract binds (NEG-021 (e)), so E2 refunds both
    bonds (ESC-016) and signs nothing else about its contract. E1, shown the higher contract first and then
    the lower Counter and its Accept, witnesses and bonds that Accept. Each restarts (its journal replayed,
    or from a snapshot) to the same balances and answers the same Submit the same (ESC-007), its transcript
    audited clean whole and paged."""
    s = _TwoCounters()
    every = 1 if restart == "snapshot" else 0
    alice, bob = s.alice.did, s.bob.did
    e1 = s.node(s.e1, tmp_path / "e1.db", every)
    e2 = s.node(s.e2, tmp_path / "e2.db", every)
    try:
        for node in (e1, e2):
            node.deposit(alice, FUNDS)
            node.deposit(bob, FUNDS)
        high = e2.submit([*s.setup, s.offer.envelope, s.high.envelope, s.a_high.envelope])
        assert _bodies(high) == ["stamp", "bond_lock", "bond_lock"]
        delivery = s.bob.deliver(s.a_high, s.alice)
        s.clock.advance(1_000)
        assert _bodies(e2.submit([delivery.envelope])) == ["stamp"]  # Bob performed under it
        shown = [*s.setup, s.offer.envelope, s.high.envelope, s.a_high.envelope, high[0], high[1]]
        low = e1.submit([*shown, s.low.envelope, s.a_low.envelope])
        assert _bodies(low) == ["stamp", "bond_lock", "bond_lock"]  # E1 witnessed and bonded the lower
        stamp = verify_statement(low[1])
        assert s.a_low.digest in stamp.statement.stamp.statements
        refund = [low[0], low[1], s.low.envelope, s.a_low.envelope]
        first = e2.submit(refund)
        assert _bodies(first) == ["stamp", "refund", "refund"]  # was: ["stamp"], both bonds kept
        refunds = [verify_statement(env).statement.refund for env in first[2:]]
        assert sorted((r.party, r.amount) for r in refunds) == sorted([(alice, BOND), (bob, BOND)])
        nid = s.offer.negotiation_id
        for node, contract in ((e1, s.a_low), (e2, s.a_low)):
            neg = node.escrow.verifier.negotiations.get(nid)
            assert neg.contract is not None and neg.contract.accept.digest == contract.digest
        assert e1.escrow.balance(alice) == e1.escrow.balance(bob) == (FUNDS - BOND, BOND)
        assert e2.escrow.balance(alice) == e2.escrow.balance(bob) == (FUNDS, 0)
        transcripts = [audited(node, party.did) for node, party in ((e1, s.e1), (e2, s.e2))]
        assert e2.submit(refund) == first  # ESC-007, signing nothing
    finally:
        e1.close()
        e2.close()
    e1, e2 = s.node(s.e1, tmp_path / "e1.db", every), s.node(s.e2, tmp_path / "e2.db", every)
    try:
        assert [e1.escrow.transcript(), e2.escrow.transcript()] == transcripts
        assert e1.escrow.balance(alice) == (FUNDS - BOND, BOND)
        assert e2.escrow.balance(alice) == e2.escrow.balance(bob) == (FUNDS, 0)
        assert e2.submit(refund) == first  # nothing refunded twice (ESC-016 (b))
    finally:
        e1.close()
        e2.close()


@pytest.mark.req("ESC-014", "NEG-021")
@pytest.mark.parametrize("first", ["low", "high"])
def test_one_escrow_named_by_both_counters_witnesses_only_the_first_accept_it_takes(first: str) -> None:
    """Both Counters name the same escrow E: E takes Bob's Accept of the Counter it met first with its
    contract, and takes the other Accept as superseded (an answer in a branch its own contract holds off),
    never stamping it -- so E witnesses one contract, bonds its two bonds, and a view of its transcript
    agrees; which one is the order of E's Submits (its own order, ESC-014), as for any answer it takes."""
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    terms = alice.proposal(escrow=e.did, issuer_bond=BOND, audience_bond=BOND)
    low = alice.counter(offer, terms)
    clock.advance(1_000)
    high = alice.counter(offer, terms)
    clock.advance(1_000)
    a_low, a_high = bob.accept(low), bob.accept(high)
    clock.advance(1_000)
    escrow = LocalEscrow(e, funds={alice.did: FUNDS, bob.did: FUNDS})
    pairs = {"low": (low, a_low), "high": (high, a_high)}
    taken, other = pairs[first], pairs["high" if first == "low" else "low"]
    out = escrow.submit([*alice.setup, *bob.setup, offer.envelope, *(vs.envelope for vs in taken)])
    assert _bodies(out) == ["stamp", "bond_lock", "bond_lock"]
    again = escrow.submit([vs.envelope for vs in other])
    stamped = {d for env in again[1:] for d in _stamped(env)}
    assert other[1].digest not in stamped  # the second Accept is never witnessed
    neg = escrow.escrow.verifier.negotiations.get(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == taken[1].digest
    assert escrow.escrow.balance(alice.did) == (FUNDS - BOND, BOND)
    view = EvidenceVerifier()
    for env in escrow.escrow.transcript():
        view.accept(env)
    held = view.negotiations.get(offer.negotiation_id)
    assert held.contract is not None and held.contract.accept.digest == taken[1].digest


def _stamped(env: bytes) -> list[bytes]:
    vs = verify_statement(env)
    return list(vs.statement.stamp.statements) if vs.body == "stamp" else []


def test_a_negotiation_keeps_each_counter_held_off_the_line_once() -> None:
    """What NEG-021 (e) keeps (:attr:`Negotiation.off_line`) is one entry per Counter held off the line --
    linear in the Counters held, as the superseded set is -- and a displaced contract's copy keeps none."""
    s = _TwoCounters()
    v = EvidenceVerifier()
    for env in [*s.setup, s.offer.envelope, s.low.envelope]:
        v.accept(env)
    more: list[VerifiedStatement] = []
    for _ in range(5):
        more.append(s.alice.counter(s.offer, s.alice.proposal()))
        s.clock.advance(1)
    for vs in more:
        v.accept_statement(vs)
    neg: Negotiation = v.negotiations.get(s.offer.negotiation_id)
    assert neg.off_line is not None and set(neg.off_line) == {vs.digest for vs in more}
    assert all(shadow.off_line is None for shadow in (neg.displaced or {}).values())


def _late_branch() -> tuple[list[bytes], dict[str, bytes], VerifiedStatement, bytes]:
    """Alice's kept Reject of Bob's offer naming no escrow (seq 0), her Counter naming none (seq 1, a life of
    2 s), Bob's Counter of it naming E issued after that Counter expired -- one the table refuses (NEG-007)
    --, Alice's Accept of Bob's Counter and E's Stamp of it; and Bob's Delivery under that contract, its
    item_index out of range."""
    clock, alice, bob = world()
    e = Party("escrow", clock)
    offer = bob.offer(alice)
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(), ttl_ms=2_000)
    clock.advance(5_000)
    late = bob.counter(counter, bob.proposal(escrow=e.did, issuer_bond=BOND, audience_bond=BOND))
    assert late.issued_at_ms > counter.expires_at_ms
    clock.advance(1_000)
    accept = alice.accept(late)
    witness = stamp(e, accept)
    items = {"O": offer, "R": kept, "C": counter, "P": late, "a": accept, "s": witness}
    bad = _bad_delivery(bob, accept, alice)
    return [*ctx(alice, bob, e)], {k: vs.envelope for k, vs in items.items()}, accept, bad


@pytest.mark.req("NEG-021", "NEG-017", "NEG-007")
def test_a_branch_counter_the_table_would_have_refused_takes_no_line_back(tmp_path: Path) -> None:
    """NEG-021 (d) (F60, kept through the merge with F55): a Counter of the branch held off the line answers
    the one before it as the table would have taken it -- by its audience, within its life -- or an Accept
    of it, witnessed, takes no line back. Bob's Counter of Alice's higher answer, issued after that answer
    expired, was taken superseded where the kept Reject came first (checked against nothing) and refused
    (NEG-007: lapsed) where it came last: neither view may form the contract E witnessed from it. Without
    the check the first took the line back to it (ACCEPTED), the second had refused it."""
    setup, env, accept, bad = _late_branch()
    v = EvidenceVerifier()
    for e in [*setup, *(env[k] for k in "ORCPas")]:
        v.accept(e)
    neg = v.negotiations.get(accept.negotiation_id)
    assert (neg.state, neg.contract) == (State.REJECTED, None)
    assert accept.digest in neg.superseded
    w = EvidenceVerifier()
    for e in [*setup, *(env[k] for k in "OC")]:
        w.accept(e)
    with pytest.raises(CoopError) as refused:
        w.accept(env["P"])
    assert (refused.value.code, refused.value.requirement) == ("ILLEGAL_TRANSITION", "NEG-007")
    if NODE is None:
        return
    # The JS verifier alike (F60): Bob's Delivery under that contract is taken unread, superseded.
    g = Group("LateBranch", "sparse")
    g.add("the Reject first", ["NEG-021"], [*setup, *(env[k] for k in "ORCPas"), bad])
    path = tmp_path / "late.json"
    path.write_text(json.dumps(document([g])), encoding="utf-8")
    run = subprocess.run(
        [NODE, str(VERIFIER), "--json", str(path)], check=False, capture_output=True, text=True, timeout=300
    )
    assert json.loads(run.stdout)["disagreements"] == [] and run.returncode == 0
