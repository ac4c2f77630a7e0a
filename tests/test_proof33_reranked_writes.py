"""proof33: when the refused answers' re-ranking evidence (ATT-013 (e)) reaches the disk -- counted and
ordered by hooks and the test clock, never by sleeps.

proof32 let evidence that only re-ranks the proof against a key convicted durably join a later commit: the
next one another request waits for, the one a refusal waits for once the oldest such write is
RERANKED_EVIDENCE_MS old on the peer's clock, or the close's flush.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from peers import make_peer
from test_answer_proof import _withdrawn
from test_proof32_refusal_writes import _answers, _refuse
from test_refused_flood import _BOOK, _Commits

from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import META_FORKS, RERANKED_EVIDENCE_MS
from a2a_coop.runtime.testclock import TestClock
from a2a_coop.testing import FixedClock


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_reranking_staged_while_a_commit_takes_the_one_before_is_flushed_at_close(tmp_path: Path) -> None:
    """Alice's third refused answer only re-ranks (its write not waited for); a commit another write makes
    takes it, and while that commit is on its way to the disk (held there by a hook) her fourth comes, its
    write staged for the commit after. The close's flush must make the fourth durable too: 4fd9d73's parent
    waited for the oldest re-ranking write only -- the third, durable already -- and the fourth, dated
    earliest of her four and so in the best pair, was lost with the process."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, _, peer, offer = _withdrawn(clock, journal)
    answers = _answers(clock, alice, offer, 4)
    for answer in answers[:3]:
        _refuse(peer, answer)
    commits = _Commits(journal, peer)

    def fourth_during_the_commit() -> None:
        commits.hold = lambda: None  # once
        _refuse(peer, answers[3])

    commits.hold = fourth_during_the_commit
    journal.put_meta("another/write", 1)  # another request's commit: it takes the third's write
    assert commits.total == 1 and journal._staged  # the fourth's, staged during it, left for the next
    peer.flush_evidence()  # as PeerNode.close does
    journal.close()  # the process ends: what no commit took is lost
    journal = Journal.open(tmp_path / "bob.db")
    (_, row), *_ = journal.forgotten_since(_BOOK, offer.negotiation_id, until=offer.negotiation_id)
    assert answers[3].envelope in row  # her earliest-dated answer
    assert answers[3].envelope in journal.get_meta(f"{META_FORKS}/{alice.did}")[:2]  # in the best pair
    journal.close()


class _Idle:
    """Bob's served peer (a PeerNode) on a test clock, his offer to Alice withdrawn, and her ``n`` Rejects of
    it, each dated before the last: the first two convict her (waited for), the others only re-rank."""

    def __init__(self, tmp_path: Path, n: int = 3) -> None:
        self.path = tmp_path / "bob.db"
        self.fixed = FixedClock()
        self.journal = Journal.open(self.path)
        self.alice, self.bob, peer, self.offer = _withdrawn(self.fixed, self.journal)
        self.clock = peer.clock = TestClock(wall=lambda: self.fixed.now_ms)
        self.answers = _answers(self.fixed, self.alice, self.offer, n)
        self.flushed = threading.Event()
        flush = peer.flush_evidence

        def flushed() -> None:
            flush()
            self.flushed.set()

        peer.flush_evidence = flushed  # type: ignore[method-assign]
        self.peer, self.node = peer, PeerNode(peer, self.journal)

    def row(self, journal: Journal) -> bytes:
        nid = self.offer.negotiation_id
        (_, row), *_ = journal.forgotten_since(_BOOK, nid, until=nid)
        return bytes(row)

    def restarted(self) -> Journal:
        """Bob's process killed (nothing flushed, its journal closed) and his journal opened again."""
        self.journal.close()
        return Journal.open(self.path)


@pytest.mark.req("ATT-013", "ATT-022")
def test_an_idle_peers_reranking_reaches_the_disk_one_window_after_it_came(tmp_path: Path) -> None:
    """Alice's third refused answer only re-ranks, and no request comes after it: proof32's peer kept it in
    memory until the next commit, window or close -- hours on an idle peer, and a crash any time then lost
    it. Now the served peer's timer makes it durable once it is RERANKED_EVIDENCE_MS old on the peer's clock
    (here a test clock, advanced: no sleep), with nothing else asking for a commit; not before."""
    idle = _Idle(tmp_path)
    for answer in idle.answers:
        _refuse(idle.peer, answer)
    due = idle.peer.flush_due_evidence()
    assert due == idle.clock() + RERANKED_EVIDENCE_MS  # not due yet: nothing flushed
    assert idle.journal._staged and not idle.flushed.is_set()
    idle.clock.advance(RERANKED_EVIDENCE_MS)  # AdvanceClock (CTL-003) wakes the timer
    assert idle.flushed.wait(60)
    assert not idle.journal._staged
    journal = idle.restarted()  # a crash after the window: the third answer's re-ranking survives it
    assert idle.answers[2].envelope in idle.row(journal)
    assert idle.answers[2].envelope in journal.get_meta(f"{META_FORKS}/{idle.alice.did}")[:2]
    idle.node._evidence_timer.close()
    journal.close()


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_crash_within_the_window_loses_a_reranking_never_the_conviction(tmp_path: Path) -> None:
    """The bound's other side, as SPEC ATT-013 (e) says: a crash before the window ends loses the third
    answer's re-ranking alone -- the restarted peer still holds her first answer and the pair, and convicts
    her, and her third, shown again, re-ranks as before."""
    idle = _Idle(tmp_path)
    for answer in idle.answers:
        _refuse(idle.peer, answer)
    idle.node._evidence_timer.close()  # the process dies before the window ends: its timer with it
    journal = idle.restarted()
    row = idle.row(journal)
    assert idle.answers[0].envelope in row and idle.answers[1].envelope in row
    assert idle.answers[2].envelope not in row  # lost: only re-ranked
    peer = make_peer(idle.bob, idle.fixed, journal=journal, run=1)
    assert peer.reputation.score(idle.alice.did).faulty
    _refuse(peer, idle.answers[2])
    proof = peer.verifier.forks[idle.alice.did]
    assert idle.answers[2].envelope in (proof.first, proof.second)
    journal.close()


@pytest.mark.req("ATT-013")
def test_closing_the_served_peer_stops_its_timer_and_flushes_what_is_pending(tmp_path: Path) -> None:
    """A clean stop before the window ends: the timer's thread ends with the node, and the close's flush
    makes the re-ranking durable."""
    idle = _Idle(tmp_path)
    for answer in idle.answers:
        _refuse(idle.peer, answer)
    thread = idle.node._evidence_timer._thread
    assert thread is not None and thread.is_alive()  # armed by the third answer
    idle.node.close()
    assert not thread.is_alive()
    journal = Journal.open(idle.path)
    assert idle.answers[2].envelope in idle.row(journal)
    journal.close()


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_reranking_rewritten_within_the_window_keeps_the_time_it_first_came(tmp_path: Path) -> None:
    """ATT-013 (e)'s window runs from when the re-ranking evidence of a row or proof first came, not from its
    last rewrite (uninformed33: SPEC said "the oldest such evidence", and a rewrite is written once). Alice's
    third refused answer only re-ranks; 600 ms later her fourth, dated earlier still, rewrites the same row
    and proof: the window still ends RERANKED_EVIDENCE_MS after the third. Read from the last rewrite, her
    answers sent less than a window apart -- her choice -- would keep the re-ranking in memory for as long
    as she sends them."""
    idle = _Idle(tmp_path, n=4)
    for answer in idle.answers[:3]:
        _refuse(idle.peer, answer)
    came = idle.clock()
    idle.clock.advance(RERANKED_EVIDENCE_MS * 3 // 5)
    _refuse(idle.peer, idle.answers[3])  # a rewrite of the row and proof the third staged
    assert idle.peer.flush_due_evidence() == came + RERANKED_EVIDENCE_MS
    assert not idle.flushed.is_set()
    idle.clock.advance(RERANKED_EVIDENCE_MS * 2 // 5)  # one window after the third came
    assert idle.flushed.wait(60)
    journal = idle.restarted()
    assert idle.answers[3].envelope in idle.row(journal)
    idle.node._evidence_timer.close()
    journal.close()
