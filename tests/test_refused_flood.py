"""proof31: what a key flooding refused answers costs the peer it floods -- counted in commits, not time.

proof30 writes each refused answer that becomes one of its key's three (ATT-013 (c)) to the journal's
evidence book, and the answer proof it makes to the journal's meta, each a commit with its fsync -- taken
under the peer's lock: every honest trade waited behind a flood of them. Now both are staged for the
journal's group commit while the request is handled and waited for once the lock is released, before the
refusal is told: one commit per refusal (not two), none under the lock, and refusals and trades arriving
while a commit is on its way to the disk share the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_answer_proof import _withdrawn

from a2a_coop.protocol.archive import EVIDENCE_BOOK
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import META_FORKS, Peer
from a2a_coop.testing import FixedClock, Party

_BOOK = EVIDENCE_BOOK + b"refused-answers"
Flood = tuple[Party, Peer, Journal, VerifiedStatement, list[VerifiedStatement]]


class _Commits:
    """Counts the journal's transactions, and those begun by a thread holding the peer's lock."""

    def __init__(self, journal: Journal, peer: Peer) -> None:
        self.total = self.under_lock = 0
        self.hold: Callable[[], None] = lambda: None  # run inside each transaction (to hold one back)
        transaction = journal._transaction

        def counted(fn: Callable[..., None]) -> None:
            self.total += 1
            self.under_lock += peer.lock._is_owned()  # type: ignore[attr-defined]
            self.hold()
            transaction(fn)

        journal._transaction = counted  # type: ignore[method-assign]


def _flood(tmp_path: Path, n: int) -> Flood:
    """Bob's journaled peer, his offer to Alice withdrawn, and ``n`` answers of hers to it, each dated a ms
    before the last: each one of her three (the earliest, in the best pair), so each changes the book's row
    and the answer proof against her."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, _, peer, offer = _withdrawn(clock, journal)
    base, answers = clock.now_ms + 1_000, []
    for i in range(n):
        clock.now_ms = base - i
        answers.append(alice.reject(offer, f"no {i}"))
    clock.now_ms = base
    return alice, peer, journal, offer, answers


@pytest.fixture
def flood(tmp_path: Path) -> Iterator[Flood]:
    made = _flood(tmp_path, 40)
    yield made
    made[2].close()


@pytest.mark.req("ATT-022", "ATT-013")
def test_a_flood_of_refused_answers_commits_what_convicts_and_never_under_the_peer_lock(
    flood: Flood,
) -> None:
    """Forty refused answers of one key, each dated a ms before the last: none of the commits begun under
    the peer's lock (proof30's code: 79, all under it). The refusals that change what the journal convicts
    with are told only once durable -- her first answer's row, then the pair's row and the proof --; the
    other 38 only re-rank the proof against a key convicted durably (ATT-013 (e)), and on a clock that does
    not move they wait for no commit: two commits for forty (proof31: forty). The journal holds the pair
    throughout; the last ranking lands with the next commit (here: the close's flush)."""
    alice, peer, journal, offer, answers = flood
    commits = _Commits(journal, peer)
    nid = offer.negotiation_id
    for i, answer in enumerate(answers):
        with pytest.raises(CoopError) as refused:
            peer.exchange(answer.envelope, [])
        assert refused.value.code == "ILLEGAL_TRANSITION"
        (_, row), *_ = journal.forgotten_since(_BOOK, nid, until=nid)
        assert answers[0].envelope in row  # her first answer: durable before its refusal was told
        if i:
            assert answers[1].envelope in row  # the pair that convicts her, durable from the second on
            durable = journal.get_meta(f"{META_FORKS}/{alice.did}")[:2]
            assert set(durable) == {answers[0].envelope, answers[1].envelope}
    assert commits.under_lock == 0
    assert commits.total == 2
    assert len(journal._staged) == 2  # her row and her proof, each rewritten in place: not one per refusal
    assert peer.reputation.score(alice.did).faulty
    peer.flush_evidence()
    assert commits.total == 3
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {answers[-1].envelope, answers[-2].envelope}  # the best pair
    assert journal.get_meta(f"{META_FORKS}/{alice.did}")[:2] == [proof.first, proof.second]
    (_, row), *_ = journal.forgotten_since(_BOOK, nid, until=nid)
    assert answers[-1].envelope in row and answers[-2].envelope in row
    assert not peer.verifier._refused_aside  # durable now: no copy left in memory


@pytest.mark.req("ATT-022", "ATT-013")
def test_refusals_and_a_trade_arriving_during_a_refusals_commit_share_the_next_one(
    flood: Flood,
) -> None:
    """While the first refusal's evidence is on its way to the disk (its commit held back here), the flood's
    other nine refusals and Carol's opening Offer -- an honest trade -- pass the peer's lock and stage their
    writes: two commits for all eleven requests. Under proof30's code the first held the lock through its
    fsync, and the others queued behind it, each for commits of its own."""
    _, peer, journal, _, answers = flood
    carol = Party("carol", FixedClock(now_ms=answers[0].issued_at_ms))
    commits = _Commits(journal, peer)
    entered, release = threading.Event(), threading.Event()

    def hold_first() -> None:
        commits.hold = lambda: None
        entered.set()
        release.wait(60)

    commits.hold = hold_first
    waiting: set[int] = set()
    wait = journal.wait

    def waited(ticket: Any) -> None:
        waiting.add(threading.get_ident())
        wait(ticket)

    journal.wait = waited  # type: ignore[method-assign]
    told: list[str] = []

    def send(envelope: bytes, context: list[bytes]) -> None:
        try:
            told.append(peer.exchange(envelope, context) and "answered")
        except CoopError as err:
            told.append(err.code)

    trade = carol.sign("offer", carol.proposal(), audience=peer.did, negotiation_id=b"")
    requests = [(a.envelope, []) for a in answers[:10]] + [(trade.envelope, carol.setup)]
    threads = [threading.Thread(target=send, args=request) for request in requests]
    threads[0].start()
    try:
        assert entered.wait(60)
        for thread in threads[1:]:
            thread.start()
        deadline = time.monotonic() + 60  # not a timed assertion: the bound of a wait that must end
        while any(t.is_alive() and t.ident not in waiting for t in threads[1:]):
            assert time.monotonic() < deadline, "requests queued behind a commit under the peer's lock"
            time.sleep(0.01)
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert sorted(told) == ["ILLEGAL_TRANSITION"] * 10 + ["answered"]
    assert commits.under_lock == 0
    assert commits.total == 2
