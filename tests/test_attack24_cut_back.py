"""redteam24: what a series of lower answers revealed one at a time costs a view (NEG-021).

Of two answers of one key to one offer naming no escrow the lower in its chain binds (NEG-021): each one
revealed below the answer held cuts the line back to the offer, and a contract formed there is displaced --
kept, as the negotiation would stand with it (``Negotiation._keep_displaced``), for the statements that
name it. Nothing bounds how many such answers a key keeps in reserve but its own signatures: each needs a
seq below the one revealed before and a time within the offer's life, and k of them signed in a row cost
k signatures. Alice signs ``k`` Accepts of Bob's offer with her key (each the next link of her chain) and
reveals them highest first to a view of evidence: each is taken, the lower one's contract each time.
Work is counted in statements, never seconds.

What each displaced contract keeps (cutback25): its contract, its state and its contract's own moves --
not the line, nor what was superseded before it (before, a copy of the negotiation holding every contract
displaced before it: (k - 1)^2 entries for k Accepts, 1,521 for 40). Counted in entries kept, through a
long line, statements under each contract, and a view that forgot the negotiation and read it back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_coop.protocol import mandate
from a2a_coop.protocol.negotiation import Event, Negotiation, State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party

_K = 40


def _revealed(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Negotiation, list[VerifiedStatement], list[int]]:
    """A view of evidence fed Bob's offer, then Alice's ``k`` Accepts of it highest first; what each cut-back
    superseded (statements counted at ``Negotiation._supersede``)."""
    cut: list[int] = []
    real = Negotiation._supersede

    def counted(self: Negotiation, digests: object) -> None:
        digests = list(digests)  # type: ignore[call-overload]
        cut.append(len(digests))
        real(self, digests)

    monkeypatch.setattr(Negotiation, "_supersede", counted)
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(offer))  # all within the offer's life, each a link of her chain
    view = Verifier()
    for env in [*alice.setup, *bob.setup, offer.envelope]:
        view.accept(env)
    for accept in reversed(accepts):
        view.accept_statement(accept)  # taken: lower than the answer held
    neg = view.negotiations.get(offer.negotiation_id)
    return neg, accepts, cut


@pytest.mark.req("NEG-021", "NEG-018")
def test_each_lower_answer_revealed_cuts_back_once_and_supersedes_each_statement_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attack happened: every Accept taken, the lowest one the contract, every other superseded, one
    displaced contract kept per cut-back. Each cut-back supersedes the contract it displaces (its Accept)
    and nothing else (its Accept, named twice: as what closed the offer and as the contract's): k - 1
    statements in all, each once -- linear in what the key signed."""
    neg, accepts, cut = _revealed(_K, monkeypatch)
    assert neg.state is State.ACCEPTED and neg.contract is not None
    assert neg.contract.accept.digest == accepts[0].digest
    assert {a.digest for a in accepts[1:]} <= set(neg.superseded)
    assert len(neg.displaced or {}) == _K - 1
    assert cut == [2] * (_K - 1)


def _kept(neg: Negotiation) -> tuple[int, list[Negotiation]]:
    """The entries the displaced contracts' negotiations keep (what was superseded, the moves, the line),
    and those negotiations."""
    shadows = list((neg.displaced or {}).values())
    return sum(len(s.superseded) + len(s.history) + len(s.offers) for s in shadows), shadows


@pytest.mark.req("NEG-021", "NEG-018")
def test_the_displaced_contracts_kept_grow_linearly_with_the_lower_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each displaced contract keeps two entries -- its own Accept's move and its offer -- and nothing
    displaced before it: k Accepts keep 2 (k - 1) entries, twice as many for twice as many Accepts (before,
    (k - 1)^2 superseded digests alone: 1,521 for 40)."""
    totals = []
    for k in (_K // 2, _K):
        neg, accepts, _ = _revealed(k, monkeypatch)
        kept, shadows = _kept(neg)
        assert len(shadows) == k - 1  # the attack happened: one displaced contract per cut-back
        for shadow, accept in zip(shadows, reversed(accepts[1:]), strict=True):
            assert shadow.contract is not None and shadow.contract.accept.digest == accept.digest
            assert shadow.state is State.ACCEPTED and not shadow.superseded
            assert [(e, d) for _, e, _, d in shadow.history] == [(Event.ACCEPT, accept.digest)]
        totals.append(kept)
    assert totals == [2 * (_K // 2 - 1), 2 * (_K - 1)]


@pytest.mark.req("NEG-021", "NEG-018")
def test_a_long_line_is_kept_once_not_by_each_displaced_contract() -> None:
    """Bob and Alice counter ``n`` times, then Alice's ``k`` Accepts of Bob's last Counter are revealed
    highest first: each cut-back displaces a contract whose line is n + 1 offers long and whose negotiation
    moved n times before it. Each displaced contract keeps its own Accept's move and its offer alone, so
    what they keep does not grow with the line (before: a copy of the line and of the history for each,
    k n entries)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    n, k = 12, 10
    line = [bob.offer(alice, bob.proposal(), ttl_ms=600_000)]
    for i in range(n):
        clock.advance(1)
        by, to = (alice, bob) if i % 2 == 0 else (bob, alice)
        line.append(by.counter(line[-1], to.proposal(), ttl_ms=600_000))
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(line[-1]))
    view = Verifier()
    for env in [*alice.setup, *bob.setup]:
        view.accept(env)
    for vs in [*line, *reversed(accepts)]:
        view.accept_statement(vs)
    neg = view.negotiations.get(line[0].negotiation_id)
    assert len(neg.offers) == n + 1 and len(neg.history) == n + k  # the line, and its moves, held once
    assert neg.contract is not None and neg.contract.accept.digest == accepts[0].digest
    kept, shadows = _kept(neg)
    assert len(shadows) == k - 1  # the attack happened
    assert all(s.offers == [line[-1]] and len(s.history) == 1 for s in shadows)
    assert kept == 2 * (k - 1)


@pytest.mark.req("NEG-021", "NEG-018")
def test_each_displaced_contract_keeps_its_own_statements_and_they_still_move_it() -> None:
    """Bob delivers under each contract before the next lower Accept displaces it, and Alice receipts every
    Delivery afterwards: each displaced contract keeps its own three moves (its Accept, Bob's Delivery,
    Alice's Receipt, which reached it superseded and moved it as it would have, held first: SPEC 4.5),
    none of another contract's."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    k = 8
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(offer))
    view = Verifier()
    for env in [*alice.setup, *bob.setup, offer.envelope]:
        view.accept(env)
    deliveries = {}
    for accept in reversed(accepts):
        view.accept_statement(accept)
        clock.advance(1)
        deliveries[accept.digest] = bob.deliver(accept, alice)
        view.accept_statement(deliveries[accept.digest])
    receipts = {}
    for accept in accepts[1:]:
        clock.advance(1)
        receipts[accept.digest] = alice.receipt(deliveries[accept.digest])
        view.accept_statement(receipts[accept.digest])
    neg = view.negotiations.get(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == accepts[0].digest
    kept, shadows = _kept(neg)
    assert len(shadows) == k - 1  # the attack happened
    for shadow in shadows:
        c = shadow.contract
        assert c is not None and c.deliveries.keys() == {deliveries[c.accept.digest].digest}
        assert [d for *_, d in shadow.history] == [
            c.accept.digest,
            deliveries[c.accept.digest].digest,
            receipts[c.accept.digest].digest,
        ]
        assert c.receipted == {(bob.did, 0)}  # Alice's Receipt moved it
    assert kept == 4 * (k - 1)


@pytest.mark.req("NEG-021", "NEG-018")
def test_a_view_that_forgot_the_negotiation_keeps_as_little_when_it_reads_it_back(tmp_path: Path) -> None:
    """A long-lived view with a journal forgets the negotiation after half the lower Accepts; the next one
    brings it back from the journal (replayed, its displaced contracts kept again) and the rest follow. It
    ends as a view that never forgot, keeping as little."""
    from a2a_coop.runtime.journal import Journal

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    k = 12
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(offer))
    ends = []
    for forget in (False, True):
        journal = Journal.open(tmp_path / f"{forget}.db", durability="normal")
        view = Verifier(complete_chains=False)
        view.use_archive(journal)
        for env in [*alice.setup, *bob.setup]:
            view.accept(env)
        for i, vs in enumerate([offer, *reversed(accepts)]):
            if forget and i == k // 2:
                assert view.forget_negotiation(offer.negotiation_id)
                assert offer.negotiation_id not in view.negotiations.by_id
            view.accept_statement(vs)
            journal.record_batch([(vs, [], False)], at_ms=0)
        neg = view.negotiations.get(offer.negotiation_id)
        assert neg.contract is not None
        kept, shadows = _kept(neg)
        assert len(shadows) == k - 1  # the attack happened, read back or not
        ends.append((neg.state, neg.contract.accept.digest, kept, sorted(neg.displaced or {})))
        journal.close()
    assert ends[0] == ends[1]
    assert ends[0][:3] == (State.ACCEPTED, accepts[0].digest, 2 * (k - 1))


@pytest.mark.req("NEG-021", "NEG-018")
def test_a_view_read_back_from_a_nodes_snapshot_cuts_back_as_one_never_pickled() -> None:
    """A node's snapshot pickles its verifier whole (``a2a_coop.runtime.snapshot``): a negotiation that had
    superseded nothing held the shared empty set, which comes back as a copy of its own. The lower Accept
    revealed after the read-back cuts the line back there as in a view never pickled -- before, the first
    statement such a negotiation superseded raised AssertionError (``Negotiation._supersede``)."""
    import io

    from a2a_coop.runtime import snapshot

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    clock.advance(1)
    low = alice.accept(offer)
    clock.advance(1)
    high = alice.accept(offer)
    ends = []
    for pickled in (False, True):
        view = Verifier()
        for env in [*alice.setup, *bob.setup, offer.envelope]:
            view.accept(env)
        view.accept_statement(high)
        if pickled:
            buffer = io.BytesIO()
            snapshot._Pickler(buffer, {}, ()).dump(view)  # as a node's snapshot pickles it
            view = snapshot._Unpickler(io.BytesIO(buffer.getvalue()), {}).load()
            held = view.negotiations.get(offer.negotiation_id)
            assert not held.superseded and held.contract is not None  # the higher Accept's contract
        view.accept_statement(low)
        neg = view.negotiations.get(offer.negotiation_id)
        assert neg.contract is not None
        kept, _ = _kept(neg)
        ends.append(
            (neg.state, neg.contract.accept.digest, set(neg.superseded), sorted(neg.displaced or {}), kept)
        )
    assert ends[0] == ends[1]
    assert ends[0][:3] == (State.ACCEPTED, low.digest, {high.digest})


@pytest.mark.req("NEG-021", "MND-023", "MND-009", "MND-010")
def test_a_view_that_forgets_each_cut_back_negotiation_keeps_none_of_its_records_and_counts_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """escrowmem26: Bob offers Alice terms naming no escrow; she keeps a Reject of it back, counters, Bob
    accepts, and her kept Reject cuts the line back (REJECTED). A view with a journal forgets each such
    negotiation, but its exposures kept the displaced contract and the cut-off Counter (kept outside the
    negotiation's line, they were never handed to the forgotten records): 7 records a round in the two
    mandates' exposures, for good. Now after 4 rounds and after 8 it keeps the same, and counts outstanding
    and committed value at every place of every statement as a view that forgets nothing."""
    from a2a_coop.runtime.journal import Journal

    monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 1)
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal = Journal.open(tmp_path / "view.db", durability="normal")
    forgetting, holding = Verifier(complete_chains=False), Verifier(complete_chains=False)
    forgetting.use_archive(journal)
    for view in (forgetting, holding):
        for env in [*alice.setup, *bob.setup]:
            view.accept(env)
    sent: list[VerifiedStatement] = []

    def records(view: Verifier) -> int:
        exposures = view.exposure.by_mandate.values()
        assert all(len(exp._frozen) <= 2 for exp in exposures)  # the older ones are in the journal
        return sum(
            len(sweep.items) + len(exp.answered_offers) + len(exp.finished_contracts)
            for exp in exposures
            for sweep in (exp._answered, exp._contracts, exp._displaced)
        )

    kept = []
    for n in (4, 8):
        while len(sent) < 4 * n:
            offer = bob.offer(alice, bob.proposal())
            clock.advance(1_000)
            reject = alice.reject(offer, "kept back")
            clock.advance(1_000)
            counter = alice.counter(offer, alice.proposal())
            clock.advance(1_000)
            accept = bob.accept(counter)
            clock.advance(1_000)
            for vs in (offer, counter, accept, reject):
                for view in (forgetting, holding):
                    view.accept_statement(vs)
                journal.record_batch([(vs, [], False)], at_ms=0)
            neg = holding.negotiations.get(offer.negotiation_id)
            assert neg.state is State.REJECTED and len(neg.displaced or {}) == 1  # the attack happened
            assert forgetting.forget_negotiation(offer.negotiation_id)
            sent += [offer, counter, accept, reject]
        kept.append(records(forgetting))
    assert kept[0] == kept[1], kept
    places = {(vs.issued_at_ms + dt, seq) for vs in sent for dt in (-1, 0, 1) for seq in (vs.seq, None)}
    for digest, held in holding.exposure.by_mandate.items():
        exp = forgetting.exposure.by_mandate[digest]
        for t, seq in sorted(places, key=lambda place: (place[0], place[1] is None, place[1] or 0)):
            assert exp.outstanding(t, seq=seq) == held.outstanding(t, seq=seq), (t, seq)
            period = exp.period_of(t)
            assert exp.committed(period, t, seq=seq) == held.committed(period, t, seq=seq), (t, seq)
    journal.close()


class _Scans(dict):  # type: ignore[type-arg]
    """A negotiation's :attr:`~Negotiation.displaced`, counting the passes over it."""

    scans = 0

    def values(self):  # type: ignore[no-untyped-def]
        self.scans += 1
        return super().values()

    def items(self):  # type: ignore[no-untyped-def]
        self.scans += 1
        return super().items()

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.scans += 1
        return super().__iter__()


def _recount(neg: Negotiation) -> dict[bytes, bytes]:
    """The displaced contracts' index (:attr:`Negotiation._displaced_by`) recounted from the contracts."""
    return {
        digest: key
        for key, shadow in dict.items(neg.displaced or {})
        if shadow.contract is not None
        for digest in (*shadow.contract.deliveries, *shadow.contract.pending, *shadow.contract.stamped_ms)
    }


@pytest.mark.req("NEG-021", "NEG-018", "MND-023")
@pytest.mark.parametrize("restart", ["never", "snapshot", "journal"])
def test_a_receipt_finds_its_displaced_contract_without_a_pass_over_the_others(
    tmp_path: Path, restart: str
) -> None:
    """escrowmem26: Alice's k = 200 Accepts of Bob's offer revealed highest first, Bob delivering under each
    contract before the next displaces it; then Alice receipts each Delivery. A Receipt names a Delivery,
    not a contract: finding the displaced contract it moves (``Negotiation.displaced_of``), and asking
    whether a statement is a displaced contract's claim (``displaced_holding``), each passed over every
    contract displaced -- three passes of k - 1 a Receipt (300 for the first 100). Now each is one lookup
    in an index of what the displaced contracts hold (one pass builds it), kept in step as they move, equal
    to a recount -- in a view pickled as a node's snapshot and read back half-way (``restart``
    "snapshot"), and in one that forgot the negotiation half-way and read it back from its journal
    ("journal")."""
    import io

    from a2a_coop.runtime import snapshot
    from a2a_coop.runtime.journal import Journal

    k = 200
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(offer))
    journal = Journal.open(tmp_path / "view.db", durability="normal") if restart == "journal" else None
    view = Verifier(complete_chains=False)
    if journal is not None:
        view.use_archive(journal)

    def take(vs: VerifiedStatement) -> None:
        view.accept_statement(vs)
        if journal is not None:
            journal.record_batch([(vs, [], False)], at_ms=0)

    for env in [*alice.setup, *bob.setup]:
        view.accept(env)
    take(offer)
    deliveries = {}
    for accept in reversed(accepts):
        take(accept)
        clock.advance(1)
        deliveries[accept.digest] = bob.deliver(accept, alice)
        take(deliveries[accept.digest])
    nid = offer.negotiation_id
    receipts = []
    for i, accept in enumerate(accepts[1:]):
        if i == k // 2 and restart == "snapshot":
            buffer = io.BytesIO()
            snapshot._Pickler(buffer, {}, ()).dump(view)  # as a node's snapshot pickles it
            view = snapshot._Unpickler(io.BytesIO(buffer.getvalue()), {}).load()
        elif i == k // 2 and restart == "journal":
            assert view.forget_negotiation(nid)  # the next Receipt reads it back from the journal
        if i in (0, k // 2 + 1):
            neg = view.negotiations.get(nid)
            assert len(neg.displaced or {}) == k - 1  # the attack happened
            neg.displaced = _Scans(neg.displaced or {})
        clock.advance(1)
        receipts.append(alice.receipt(deliveries[accept.digest]))
        take(receipts[-1])
        if i in (k // 2 - 1, k - 2):
            scans = neg.displaced.scans  # type: ignore[union-attr]
            assert scans <= 1, scans  # the index built once, if it was not yet; before, 2 passes a Receipt
    neg = view.negotiations.get(nid)
    for accept, receipt in zip(accepts[1:], receipts, strict=True):
        shadow = (neg.displaced or {})[accept.digest]
        assert shadow.contract is not None and shadow.contract.receipted == {(bob.did, 0)}  # moved it
        assert neg.displaced_of(receipt) is shadow
    assert neg._displaced_by == _recount(neg)
    if journal is not None:
        journal.close()
