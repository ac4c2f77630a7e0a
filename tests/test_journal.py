"""The write-ahead journal: round trips, no equivocation after a crash, idempotent retries.

The crash tests run a real child process (``tests/journal_crash_child.py``)
that signs, journals and then "sends", and SIGKILL it mid-stream.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime import journal as journal_module
from a2a_coop.runtime.journal import (
    APPLICATION_ID,
    IN,
    OUT,
    SCHEMA_VERSION,
    Journal,
    JournalConflict,
    JournalCorrupt,
    JournalError,
    JournalLocked,
    JournalSchemaUnknown,
)
from a2a_coop.testing import Party

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).with_name("journal_crash_child.py")
# (lines read, then a pause) before each SIGKILL: three different points in the child's loop.
KILL_POINTS = (
    (23, 0.0),  # at once: mostly mid-sign or mid-commit of the next statement
    (71, 0.002),  # a moment later: anywhere in the loop, often just after a commit, before its "send"
    (157, 0.5),  # much later: the pipe is full and the child is blocked sending a journaled statement
)
CHILD_TIMEOUT_S = 20


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "peer.db") as j:
        yield j


def offers(party: Party, to: Party, n: int) -> list[VerifiedStatement]:
    return [party.offer(to) for _ in range(n)]


def stored_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        count: int = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
        return count
    finally:
        conn.close()


# --- round trips ---------------------------------------------------------------------------


def test_recorded_statement_comes_back_byte_for_byte(journal: Journal, alice: Party, bob: Party) -> None:
    """Alice journals an offer before sending it; every read returns the exact envelope bytes."""
    offer = alice.offer(bob)
    journal.record_outgoing(offer, at_ms=alice.clock.now_ms)
    assert journal.by_digest(offer.digest) == offer.envelope
    assert list(journal.statements()) == [(1, OUT, offer.envelope)]
    assert journal.log_range(alice.did, 0, 10) == [offer.envelope]
    assert journal.chain_head(alice.did) == (1, offer.digest)
    assert journal.by_digest(b"\0" * 32) is None


def test_a_digest_found_absent_is_not_asked_again_until_the_next_transaction(
    tmp_path: Path, alice: Party, bob: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer remembers the digests :meth:`Journal.by_digest` found no statement of until its next
    transaction (one query, not one per ask); a statement committed after is found, also one asked about
    in between. A reader (``lock=False``: another process writes) asks SQLite every time."""
    queries: list[tuple[Path, str]] = []
    real = Journal._read

    def counting(self: Journal, sql: str, args: tuple[object, ...], **kw: bool) -> object:
        queries.append((self.path, sql))
        return real(self, sql, args, **kw)

    monkeypatch.setattr(Journal, "_read", counting)
    offer, later = alice.offer(bob), alice.offer(bob)
    with Journal.open(tmp_path / "peer.db") as writer:
        for _ in range(3):
            assert writer.by_digest(offer.digest) is None
        assert len(queries) == 1  # asked once, remembered twice
        writer.record_outgoing(offer, at_ms=1)  # a transaction: what was absent may be there now
        assert writer.by_digest(offer.digest) == offer.envelope
        assert writer.by_digest(later.digest) is None
        assert len(queries) == 3
        with Journal.open(tmp_path / "peer.db", lock=False) as reader:
            for _ in range(2):
                assert reader.by_digest(later.digest) is None
            writer.record_outgoing(later, at_ms=2)  # another connection's write: the reader sees it
            assert reader.by_digest(later.digest) == later.envelope
            assert writer.by_digest(later.digest) == later.envelope
        assert len(queries) == 7


def test_a_query_a_commit_overtakes_leaves_no_absence_behind(
    tmp_path: Path, alice: Party, bob: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that found nothing while the writer committed the statement (another thread) must not be
    remembered as absent past that commit: the count of transactions is read before the query."""
    offer = alice.offer(bob)
    with Journal.open(tmp_path / "peer.db") as writer:
        real = Journal._read

        def overtaken(self: Journal, sql: str, args: tuple[object, ...], **kw: bool) -> object:
            row = real(self, sql, args, **kw)  # absent, as read ...
            if not self._transactions:
                self.record_outgoing(offer, at_ms=1)  # ... and committed before the reader goes on
            return row

        monkeypatch.setattr(Journal, "_read", overtaken)
        assert writer.by_digest(offer.digest) is None  # what the query saw
        monkeypatch.setattr(Journal, "_read", real)
        assert writer.by_digest(offer.digest) == offer.envelope


def test_unknown_issuer_has_an_empty_head(journal: Journal, alice: Party) -> None:
    assert journal.chain_head(alice.did) == (0, b"")


def test_statements_come_back_in_journal_order_across_pages(
    journal: Journal, alice: Party, bob: Party
) -> None:
    """Replay on restart reads outgoing and incoming statements in the order they were journaled."""
    mine = offers(alice, bob, 300)  # more than one page of the iterator
    journal.record_outgoing_many(mine[:150], at_ms=1)
    theirs = bob.offer(alice)
    journal.record_incoming(theirs, [], at_ms=2)
    journal.record_outgoing_many(mine[150:], at_ms=3)
    rows = list(journal.statements())
    assert [env for _, _, env in rows] == [vs.envelope for vs in (*mine[:150], theirs, *mine[150:])]
    assert [d for _, d, _ in rows].count(IN) == 1
    assert [r for r, _, _ in rows] == sorted(r for r, _, _ in rows)
    since = rows[149][0]
    assert [env for _, _, env in journal.statements(since_rowid=since)][:2] == [
        theirs.envelope,
        mine[150].envelope,
    ]


def test_log_range_serves_our_own_chain_by_seq(journal: Journal, alice: Party, bob: Party) -> None:
    mine = offers(alice, bob, 5)
    journal.record_outgoing_many(mine, at_ms=1)
    journal.record_incoming(bob.offer(alice), [], at_ms=2)
    assert journal.log_range(alice.did, 2, 2) == [mine[2].envelope, mine[3].envelope]
    assert journal.log_range(alice.did, 3, 100) == [mine[3].envelope, mine[4].envelope]
    assert journal.log_range(alice.did, 0, 0) == []
    assert journal.log_range(bob.did, 0, 10) == []  # incoming statements are not our chain


def test_chain_head_survives_a_restart(tmp_path: Path, alice: Party, bob: Party) -> None:
    """After a restart the writer resumes from the journal's head and signs the next seq."""
    path = tmp_path / "peer.db"
    mine = offers(alice, bob, 3)
    with Journal.open(path) as j:
        for vs in mine:
            j.record_outgoing(vs, at_ms=1)
    with Journal.open(path) as j:
        next_seq, prev = j.chain_head(alice.did)
        assert (next_seq, prev) == (3, mine[-1].digest)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=next_seq, prev=prev)
        nxt = alice.offer(bob)
        j.record_outgoing(nxt, at_ms=2)
        assert nxt.header.seq == 3
        assert j.chain_head(alice.did) == (4, nxt.digest)


def test_a_chain_may_start_above_zero(journal: Journal, alice: Party, bob: Party) -> None:
    """A key with history outside this journal: the journal guards the seqs it has been told about."""
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=40, prev=b"\1" * 32)
    offer = alice.offer(bob)
    journal.record_outgoing(offer, at_ms=1)
    assert journal.chain_head(alice.did) == (41, offer.digest)


# --- no equivocation -----------------------------------------------------------------------


def test_same_statement_twice_is_a_noop(journal: Journal, alice: Party, bob: Party) -> None:
    """A resend after a crash journals the very same statement again: nothing changes."""
    first, second = offers(alice, bob, 2)
    journal.record_outgoing(first, at_ms=1)
    journal.record_outgoing(second, at_ms=2)
    journal.record_outgoing(first, at_ms=3)
    journal.record_outgoing(second, at_ms=4)
    assert [env for _, _, env in journal.statements()] == [first.envelope, second.envelope]
    assert journal.chain_head(alice.did) == (2, second.digest)


@pytest.mark.req("CHN-004")
def test_second_different_statement_at_a_used_seq_is_refused(
    journal: Journal, alice: Party, bob: Party
) -> None:
    """A stale writer (a restart that forgot the journal) signs a different seq 0; the journal refuses it."""
    sent = alice.offer(bob)
    journal.record_outgoing(sent, at_ms=1)
    alice.agent.writer = ChainWriter(alice.agent.key)  # back at seq 0
    equivocation = alice.offer(bob)
    assert equivocation.header.seq == sent.header.seq and equivocation.digest != sent.digest
    with pytest.raises(JournalConflict, match="seq 0 is already used"):
        journal.record_outgoing(equivocation, at_ms=2)
    assert journal.by_digest(equivocation.digest) is None
    assert journal.chain_head(alice.did) == (1, sent.digest)


@pytest.mark.req("CHN-004")
def test_the_database_itself_refuses_two_of_our_statements_at_one_seq(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    """Even code that bypasses Journal cannot store a second outgoing statement at a used seq."""
    path = tmp_path / "peer.db"
    sent = alice.offer(bob)
    with Journal.open(path) as j:
        j.record_outgoing(sent, at_ms=1)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "INSERT INTO statements (digest, direction, issuer, seq, negotiation_id, body, at_ms, "
                "envelope) SELECT ?, 'out', id, 0, x'', 'offer', 0, x'00' FROM issuers WHERE did = ?",
                (b"\2" * 32, alice.did),
            )
    finally:
        conn.close()


@pytest.mark.req("CHN-004")
def test_statement_that_skips_a_seq_is_refused(journal: Journal, alice: Party, bob: Party) -> None:
    first, _unrecorded, third = offers(alice, bob, 3)
    journal.record_outgoing(first, at_ms=1)
    with pytest.raises(JournalConflict, match="seq 2 would skip seq 1"):
        journal.record_outgoing(third, at_ms=2)
    assert journal.chain_head(alice.did) == (1, first.digest)


@pytest.mark.req("CHN-004")
def test_statement_whose_prev_is_not_our_last_statement_is_refused(
    journal: Journal, alice: Party, bob: Party
) -> None:
    first = alice.offer(bob)
    journal.record_outgoing(first, at_ms=1)
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=1, prev=b"\3" * 32)
    forked = alice.offer(bob)
    with pytest.raises(JournalConflict, match="prev at seq 1"):
        journal.record_outgoing(forked, at_ms=2)
    assert journal.chain_head(alice.did) == (1, first.digest)


@pytest.mark.req("CHN-004")
def test_statement_behind_the_head_is_refused(journal: Journal, alice: Party, bob: Party) -> None:
    """A key whose journal starts at seq 40 cannot go back and sign seq 10."""
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=40, prev=b"\1" * 32)
    journal.record_outgoing(alice.offer(bob), at_ms=1)
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=10, prev=b"\1" * 32)
    with pytest.raises(JournalConflict, match="seq 10 is behind the head"):
        journal.record_outgoing(alice.offer(bob), at_ms=2)


@pytest.mark.req("CHN-004")
def test_two_connections_to_one_journal_cannot_fork_the_chain(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    """Two Journal objects on one file (the second past the lock, as a reader may be): whatever each
    remembers, the file decides, and a stale one cannot store a second statement at a used seq."""
    path = tmp_path / "peer.db"
    first = alice.offer(bob)
    with Journal.open(path) as one, Journal.open(path, lock=False) as two:
        one.record_outgoing(first, at_ms=1)
        by_two = alice.offer(bob)  # seq 1, journaled through the other connection
        two.record_outgoing(by_two, at_ms=2)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=1, prev=first.digest)
        rival = alice.offer(bob)  # a different seq 1, from a writer that did not see by_two
        with pytest.raises(JournalConflict, match="seq 1 is already used"):
            one.record_outgoing(rival, at_ms=3)
        one.record_outgoing(by_two, at_ms=4)  # the same statement: a no-op on either connection
        after = alice.offer(bob)  # alice's writer moved on to seq 2 after signing rival
        assert after.header.seq == 2 and after.header.prev == rival.digest
        with pytest.raises(JournalConflict, match="prev at seq 2"):
            one.record_outgoing(after, at_ms=5)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=2, prev=by_two.digest)
        good = alice.offer(bob)
        one.record_outgoing(good, at_ms=6)
        assert one.chain_head(alice.did) == two.chain_head(alice.did) == (3, good.digest)


def test_a_second_writer_is_refused_at_open_and_readers_are_not(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    """Two peers on one journal would sign from one head: the second is refused at open, naming the
    holder's pid, and may open it once the first has closed; a reader (lock=False) always may."""
    path = tmp_path / "peer.db"
    first = alice.offer(bob)
    with Journal.open(path) as writer:
        writer.record_outgoing(first, at_ms=1)
        with pytest.raises(JournalLocked, match=rf"in use by process {os.getpid()}"):
            Journal.open(path)
        with Journal.open(path, lock=False) as reader:
            assert reader.chain_head(alice.did) == (1, first.digest)
    with Journal.open(path) as again:
        assert again.chain_head(alice.did) == (1, first.digest)


def test_a_refused_second_writer_opens_no_connection(tmp_path: Path) -> None:
    """The lock comes before the connection: a writer refused because the lock is held creates no
    database file, so the holder may delete the files it created knowing no writer has them open
    (discard_if_empty). Opening the connection first created the file, then refused."""
    path = tmp_path / "peer.db"
    fd = journal_module._lock(path)  # held, as by a writer that has not created the file yet
    try:
        with pytest.raises(JournalLocked):
            Journal.open(path)
        assert not path.exists() and not path.with_name("peer.db-wal").exists()
    finally:
        journal_module._unlock(path, fd)


def test_discard_if_empty_deletes_a_journal_with_no_statement_and_keeps_any_other(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    """A journal holding meta alone is deleted with every side file (-wal, -shm, -lock); one holding
    a statement is only closed, and so is a reader's (it holds no lock)."""
    path = tmp_path / "peer.db"
    journal = Journal.open(path)
    journal.put_meta("mandate", b"remembered, no more")
    assert journal.discard_if_empty()
    assert list(tmp_path.iterdir()) == []
    offer = alice.offer(bob)
    journal = Journal.open(path)
    journal.record_outgoing(offer, at_ms=1)
    assert not journal.discard_if_empty()
    Journal.open(path).close()  # the lock was released
    reader = Journal.open(path, lock=False)
    assert not reader.discard_if_empty()
    with Journal.open(path) as again:
        assert list(again.statements()) == [(1, OUT, offer.envelope)]


def test_a_batch_is_all_or_nothing(journal: Journal, alice: Party, bob: Party) -> None:
    good = offers(alice, bob, 2)
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=1, prev=good[0].digest)
    rival = alice.offer(bob)  # a different seq 1
    with pytest.raises(JournalConflict):
        journal.record_outgoing_many([*good, rival], at_ms=1)
    assert list(journal.statements()) == []
    assert journal.chain_head(alice.did) == (0, b"")


def test_a_refused_write_leaves_no_trace(journal: Journal, alice: Party, bob: Party) -> None:
    """A refused record_incoming (a new counterparty, a good reply, then a rival reply at the same
    seq) rolls back everything, and what it touched works normally afterwards."""
    offer = bob.offer(alice)  # bob is new to this journal
    accept = alice.accept(offer)
    alice.agent.writer = ChainWriter(alice.agent.key)
    rival = alice.reject(offer)  # also seq 0
    with pytest.raises(JournalConflict):
        journal.record_incoming(offer, [accept, rival], at_ms=1)
    assert list(journal.statements()) == []
    assert journal.chain_head(alice.did) == (0, b"")
    assert journal.replies_for(offer.digest) is None
    journal.record_incoming(offer, [accept], at_ms=2)
    assert journal.replies_for(offer.digest) == [accept.envelope]
    assert journal.chain_head(alice.did) == (1, accept.digest)


def test_reads_of_what_is_not_held_skip_the_query_and_never_miss_a_row(
    tmp_path: Path, alice: Party, bob: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's filter (module docstring: reads of what is not there): every row it wrote, across
    the filter's doublings up to its largest size and past it, a refused write and a reopen, is found
    by (issuer, nonce) and by negotiation; what it does not hold is answered without a query (a false
    positive, about 1%, costs one); a reader opened without the lock has no filter and answers the same
    from SQLite."""
    monkeypatch.setattr(journal_module, "_HOLDS_MIN_BITS_LOG2", 8)  # 256 bits: doublings below
    monkeypatch.setattr(journal_module, "_HOLDS_MAX_BITS_LOG2", 12)  # 4096 bits, full at 256 keys
    path = tmp_path / "peer.db"
    mine = offers(alice, bob, 60)
    theirs = [bob.offer(alice) for _ in range(20)]
    absent = [alice.offer(bob) for _ in range(100)]  # signed, never journaled

    def check(j: Journal, absent_queries: int = 10) -> None:
        for vs in (*mine, *theirs):
            h = vs.statement.header
            assert j.by_nonce(h.issuer, h.nonce) == vs.digest
            assert j.negotiation(h.negotiation_id) == [vs.envelope]
        queries: list[str] = []
        j.by_digest(mine[0].digest)  # the reading connection exists from here on
        assert j._reader is not None
        j._reader.set_trace_callback(queries.append)
        for vs in absent:
            h = vs.statement.header
            assert j.by_nonce(h.issuer, h.nonce) is None
            assert j.negotiation(h.negotiation_id) == []
        j._reader.set_trace_callback(None)
        assert len(queries) < absent_queries, queries  # of 200 lookups

    with Journal.open(path) as j:
        for vs in mine:
            j.record_outgoing(vs, at_ms=1)
        alice.agent.writer = ChainWriter(alice.agent.key)
        rival = alice.offer(bob)  # seq 0 again
        with pytest.raises(JournalConflict):  # rolled back after its row reached the filter
            j.record_outgoing(rival, at_ms=2)
        assert j.by_digest(rival.digest) is None
        assert j.by_nonce(alice.did, rival.statement.header.nonce) is None
        for vs in theirs:
            j.record_incoming(vs, [], at_ms=3, answered=False)
        assert j._holds is not None and j._holds.keys > 256 // 16  # it grew past its first size
        check(j)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=len(mine), prev=mine[-1].digest)
        for vs in offers(alice, bob, 200):  # past its largest size: it fills, never grows, misses nothing
            j.record_outgoing(vs, at_ms=4)
            mine.append(vs)
        assert len(j._holds._bits) * 8 == 1 << 12 and j._holds.keys > 4096 // 16
        check(j, absent_queries=40)
    with Journal.open(path) as reopened:
        check(reopened, absent_queries=40)
    with Journal.open(path, lock=False) as reader:
        assert reader._holds is None
        for vs in (*mine, *theirs):
            assert reader.by_nonce(vs.issuer, vs.statement.header.nonce) == vs.digest
        assert reader.by_nonce(alice.did, absent[1].statement.header.nonce) is None


@pytest.fixture
def rows_filtered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows were added to a filter (by scan, growth or write), counted."""
    added: list[int] = [0]
    add_row = journal_module._Holds.add_row

    def counting_add_row(holds: object, issuer: str, nonce: bytes, nid: bytes, **kw: bool) -> None:
        added[0] += 1
        add_row(holds, issuer, nonce, nid, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(journal_module._Holds, "add_row", counting_add_row)
    return added


def test_the_filter_grows_a_page_of_rows_per_commit_and_misses_no_row_meanwhile(
    tmp_path: Path, alice: Party, bob: Party, monkeypatch: pytest.MonkeyPatch, rows_filtered: list[int]
) -> None:
    """A full filter grows without rescanning the journal inside one commit (a million rows stalled a
    commit for about a second): each commit scans at most a page of older rows into the larger filter,
    whatever it writes itself, and every row written before, during and after the growth is found all
    along, also by a reopen."""
    monkeypatch.setattr(journal_module, "_HOLDS_MIN_BITS_LOG2", 8)  # full at 16 keys: several doublings
    monkeypatch.setattr(journal_module, "_HOLDS_MAX_BITS_LOG2", 12)
    monkeypatch.setattr(journal_module, "_HOLDS_GROW_ROWS", 4, raising=False)
    added = rows_filtered
    mine = offers(alice, bob, 198)
    # One row, then ten, in turn: growths happen during both kinds of commit.
    writes = [part for i in range(0, 198, 11) for part in (mine[i : i + 1], mine[i + 1 : i + 11])]
    over: list[tuple[int, int]] = []  # (rows added to the filters, rows the commit wrote)
    sizes: set[int] = set()
    grew_while_writing = 0
    with Journal.open(tmp_path / "peer.db") as j:
        done = 0
        for batch in writes:
            added[0] = 0
            j.record_outgoing_many(batch, at_ms=1)
            done += len(batch)
            over.append((added[0], len(batch)))
            assert j._holds is not None
            sizes.add(len(j._holds._bits))
            growing = getattr(j, "_growth", None) is not None
            grew_while_writing += growing
            if done % 10 == 0 or growing:  # mid-growth too: the full filter still answers
                for earlier in mine[:done]:
                    h = earlier.statement.header
                    assert j.by_nonce(h.issuer, h.nonce) == earlier.digest
                    assert j.negotiation(h.negotiation_id) == [earlier.envelope]
        assert len(sizes) >= 3 and max(sizes) * 8 == 1 << 12  # it doubled up to its largest size
    # Its own rows into the full filter and the growing one, and one page of older rows: never the
    # whole journal (the rescan this replaced added every row so far inside the commit that filled it).
    assert all(n <= 2 * rows + 4 for n, rows in over), over
    assert grew_while_writing > 0
    with Journal.open(tmp_path / "peer.db") as reopened:
        for vs in mine:
            assert reopened.by_nonce(vs.issuer, vs.statement.header.nonce) == vs.digest


def test_a_journaled_filter_is_loaded_at_open_and_only_the_rows_after_it_scanned(
    tmp_path: Path, alice: Party, bob: Party, rows_filtered: list[int]
) -> None:
    """The filter a node journals with its snapshot (``filter_meta``) is loaded at the next open, which
    scans only the rows written after it -- not every row the journal ever held -- and still finds every
    row by (issuer, nonce) and by negotiation, and answers what it does not hold without a query (the
    same hash key: the journal's). A filter naming a row the journal does not hold there (an older copy,
    a truncated file) is ignored: every row scanned, as before."""
    scanned = rows_filtered
    path = tmp_path / "peer.db"
    before, after = offers(alice, bob, 150), offers(alice, bob, 7)
    absent = [alice.offer(bob) for _ in range(100)]  # signed, never journaled
    with Journal.open(path) as j:
        j.record_outgoing_many(before, at_ms=1)
        j.record_batch([], at_ms=2, meta=j.filter_meta())  # as a node's snapshot does
        j.record_outgoing_many(after, at_ms=3)
        stored = j.get_meta(journal_module.META_FILTER)
    scanned[0] = 0
    with Journal.open(path) as j:
        assert scanned[0] == len(after)  # not 157
        queries: list[str] = []
        j.by_digest(before[0].digest)
        assert j._reader is not None
        j._reader.set_trace_callback(queries.append)
        for vs in absent:
            assert j.by_nonce(vs.issuer, vs.statement.header.nonce) is None
            assert j.negotiation(vs.negotiation_id) == []
        j._reader.set_trace_callback(None)
        assert len(queries) < 10, queries  # of 200 lookups
        for vs in (*before, *after):
            assert j.by_nonce(vs.issuer, vs.statement.header.nonce) == vs.digest
            assert j.negotiation(vs.negotiation_id) == [vs.envelope]
        misplaced = [stored[0], stored[1], after[0].digest, *stored[3:]]
        j.put_meta(journal_module.META_FILTER, misplaced)
    scanned[0] = 0
    with Journal.open(path) as j:
        assert scanned[0] == len(before) + len(after)
        for vs in (*before, *after):
            assert j.by_nonce(vs.issuer, vs.statement.header.nonce) == vs.digest


def test_an_unsigned_candidate_is_refused(journal: Journal, alice: Party, bob: Party) -> None:
    unsigned = alice.offer(bob)._replace(envelope=b"")
    with pytest.raises(ValueError, match="unsigned"):
        journal.record_outgoing(unsigned, at_ms=1)
    assert journal.chain_head(alice.did) == (0, b"")


def test_our_statement_is_not_a_request_and_a_request_is_not_ours(
    journal: Journal, alice: Party, bob: Party
) -> None:
    mine, theirs = alice.offer(bob), bob.offer(alice)
    journal.record_outgoing(mine, at_ms=1)
    journal.record_incoming(theirs, [], at_ms=2)
    with pytest.raises(JournalConflict, match="our own"):
        journal.record_incoming(mine, [], at_ms=3)
    with pytest.raises(JournalConflict, match="received"):
        journal.record_outgoing(theirs, at_ms=4)


# --- idempotent retries --------------------------------------------------------------------


def bonded_accept(alice: Party, bob: Party, escrow: Party) -> tuple[VerifiedStatement, VerifiedStatement]:
    offer = alice.offer(bob, alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did))
    return offer, bob.accept(offer)


def bond_lock(escrow: Party, accept: VerifiedStatement, party: Party) -> VerifiedStatement:
    return escrow.sign(
        "bond_lock",
        commitment_pb2.BondLock(contract=accept.digest, party=party.did, amount=100),
        audience=party.did,
        negotiation_id=accept.header.negotiation_id,
    )


def test_retried_request_gets_the_same_reply_and_locks_nothing_twice(
    journal: Journal, alice: Party, bob: Party, escrow: Party
) -> None:
    """Bob's bond request times out and he retries it; the escrow resends the same BondLock."""
    _, accept = bonded_accept(alice, bob, escrow)
    assert journal.replies_for(accept.digest) is None
    lock = bond_lock(escrow, accept, bob)
    journal.record_incoming(accept, [lock], at_ms=1)
    head = journal.chain_head(escrow.did)
    assert head == (lock.header.seq + 1, lock.digest)

    # The retry: same request digest -> the journaled reply, byte for byte; nothing new is signed.
    assert journal.replies_for(accept.digest) == [lock.envelope]
    journal.record_incoming(accept, [lock], at_ms=2)  # recording the same answer again is a no-op
    assert journal.chain_head(escrow.did) == head
    assert len(list(journal.statements())) == 2


def test_request_answered_differently_the_second_time_is_refused(
    journal: Journal, alice: Party, bob: Party, escrow: Party
) -> None:
    """An escrow that forgot its answer signs a second BondLock; the journal refuses to record it."""
    _, accept = bonded_accept(alice, bob, escrow)
    journal.record_incoming(accept, [bond_lock(escrow, accept, bob)], at_ms=1)
    head = journal.chain_head(escrow.did)
    second_lock = bond_lock(escrow, accept, bob)  # the next seq: a second lock of the same bond
    with pytest.raises(JournalConflict, match="already answered"):
        journal.record_incoming(accept, [second_lock], at_ms=2)
    assert journal.chain_head(escrow.did) == head  # rolled back with the refusal
    assert journal.by_digest(second_lock.digest) is None


def test_request_answered_with_no_statements(journal: Journal, alice: Party, bob: Party) -> None:
    offer = alice.offer(bob)
    journal.record_incoming(offer, [], at_ms=1)
    assert journal.replies_for(offer.digest) == []
    assert journal.replies_for(b"\0" * 32) is None


def test_replies_keep_their_order_and_survive_a_restart(
    tmp_path: Path, alice: Party, bob: Party, escrow: Party
) -> None:
    path = tmp_path / "escrow.db"
    _, accept = bonded_accept(alice, bob, escrow)
    locks = [bond_lock(escrow, accept, alice), bond_lock(escrow, accept, bob)]
    with Journal.open(path) as j:
        j.record_incoming(accept, locks, at_ms=1)
    with Journal.open(path) as j:
        assert j.replies_for(accept.digest) == [vs.envelope for vs in locks]
        assert j.chain_head(escrow.did) == (locks[-1].header.seq + 1, locks[-1].digest)


# --- meta ----------------------------------------------------------------------------------


def test_meta_values_round_trip_through_msgpack(tmp_path: Path) -> None:
    path = tmp_path / "peer.db"
    value = {"negotiations": [b"\1" * 16, b"\2" * 16], "cursor": 42, "name": "alice", "ok": True}
    with Journal.open(path) as j:
        assert j.get_meta("state") is None
        assert j.get_meta("state", default={}) == {}
        j.put_meta("state", value)
        j.put_meta("version", 1)
        j.put_meta("version", 2)
    with Journal.open(path) as j:
        assert j.get_meta("state") == value
        assert j.get_meta("version") == 2


def test_meta_refuses_what_msgpack_cannot_encode(journal: Journal) -> None:
    with pytest.raises(TypeError):
        journal.put_meta("bad", object())
    assert journal.get_meta("bad") is None


# --- the file ------------------------------------------------------------------------------


def test_wal_and_full_fsync_are_actually_set(journal: Journal) -> None:
    """Queried from SQLite, not taken on trust: WAL, synchronous=FULL (2), foreign keys on."""
    assert journal.pragmas() == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "user_version": SCHEMA_VERSION,
        "application_id": APPLICATION_ID,
    }
    assert journal.durability == "full"
    other = sqlite3.connect(journal.path)  # WAL is a property of the file, seen by anyone
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_normal_durability_is_explicit_and_anything_else_is_refused(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "scratch.db", durability="normal") as j:
        assert j.pragmas()["synchronous"] == 1
    with pytest.raises(ValueError, match="durability"):
        Journal.open(tmp_path / "x.db", durability="off")  # type: ignore[arg-type]


def test_unknown_schema_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Journal.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JournalSchemaUnknown, match=r"schema version 99; .* knows only version 4"):
        Journal.open(path)


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(JournalCorrupt, match="not an a2a-coop journal"):
        Journal.open(path)


def test_an_in_memory_database_is_refused() -> None:
    """WAL needs a real file; a journal that lives in memory would forget every seq it used."""
    with pytest.raises(JournalError, match="WAL"):
        Journal.open(":memory:")


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database, just bytes " * 200)
    with pytest.raises(JournalCorrupt):
        Journal.open(path)


def test_a_failed_write_fails_the_journal_until_reopened(tmp_path: Path, alice: Party, bob: Party) -> None:
    """After SQLite fails mid-transaction, what reached the disk is unknown: refuse to go on."""
    path = tmp_path / "peer.db"
    first, second = offers(alice, bob, 2)
    j = Journal.open(path)
    j.record_outgoing(first, at_ms=1)
    j._conn.set_authorizer(lambda action, *_: sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_INSERT else 0)
    with pytest.raises(JournalError) as failed:
        j.record_outgoing(second, at_ms=2)
    assert not isinstance(failed.value, JournalConflict)
    j._conn.set_authorizer(None)
    with pytest.raises(JournalError, match="reopen"):
        j.record_outgoing(second, at_ms=3)
    j.close()
    with Journal.open(path) as j:
        assert j.chain_head(alice.did) == (1, first.digest)
        j.record_outgoing(second, at_ms=4)


def test_journal_errors_are_local_faults_not_protocol_errors() -> None:
    for cls in (JournalConflict, JournalCorrupt, JournalSchemaUnknown):
        assert issubclass(cls, JournalError)
    assert not issubclass(JournalError, CoopError)


# --- kill -9 ------------------------------------------------------------------------------


def load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("journal_crash_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_until_killed(path: Path, lines: int, pause_s: float, stderr_path: Path) -> list[tuple[int, bytes]]:
    """Start the child, read ``lines`` "sent" statements, pause, SIGKILL it wherever it is, and
    return every line it sent (those still in the pipe too)."""
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )
    assert proc.stdout is not None
    watchdog = threading.Timer(CHILD_TIMEOUT_S, proc.kill)
    watchdog.start()
    received: list[str] = []
    try:
        while len(received) < lines and (line := proc.stdout.readline()):
            received.append(line)
        time.sleep(pause_s)
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup, no flush, mid-whatever
        proc.wait()
        received += proc.stdout.readlines()  # sent before the kill, still in the pipe
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert len(received) >= lines, f"child stopped after {len(received)} lines:\n{stderr_path.read_text()}"
    assert proc.returncode == -signal.SIGKILL
    # A line is one small write(2) to a pipe, so it arrives whole or not at all.
    return [(int(seq), bytes.fromhex(digest)) for seq, digest in map(str.split, received)]


@pytest.mark.req("CHN-004")
def test_kill_9_at_three_points_loses_nothing_sent_and_never_reuses_a_seq(tmp_path: Path) -> None:
    """A peer is SIGKILLed three times while signing and sending. Each time it comes back, its journal
    holds everything it sent, exactly as sent, on one valid chain, and it continues at the next seq."""
    child = load_child()
    party, to = child.crash_party(), child.counterparty()
    path = tmp_path / "peer.db"
    sent: dict[int, bytes] = {}  # every statement that left the process: seq -> digest
    for lines, pause_s in KILL_POINTS:
        for seq, digest in run_until_killed(path, lines, pause_s, tmp_path / "child.err"):
            assert seq not in sent, f"seq {seq} was sent twice"  # no equivocation across restarts
            sent[seq] = digest
        last_sent = max(sent)

        with Journal.open(path) as journal:
            chain = [vs for vs in map(verify_statement, (env for _, _, env in journal.statements()))]
            held = {vs.header.seq: vs.digest for vs in chain}
            assert {seq: held.get(seq) for seq in sent} == sent  # all sent, exactly as sent
            next_seq, prev = journal.chain_head(party.did)
            assert next_seq >= last_sent + 1
            assert (next_seq, prev) == (len(chain), chain[-1].digest)
            report = verify_transcript(
                [party.mandate_vs.envelope, *(vs.envelope for vs in chain)], complete_chains=True
            )
            assert report.valid, f"statement {report.failed_index}: {report.error}"

            child.resume(party, journal)  # the peer restarts and signs the next statement
            resumed = child.sign_next(party, to)
            journal.record_outgoing(resumed, at_ms=0)
            assert resumed.header.seq == next_seq
            sent[next_seq] = resumed.digest


# --- benchmark smoke test ------------------------------------------------------------------


def test_journal_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
        sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import main

    assert main(["journal", "--quick"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "journal"
    for key in (
        "journal_vs_sqlite",
        "journal_appends_per_s",
        "sqlite_inserts_per_s",
        "schema_inserts_per_s",
        "schema_vs_sqlite",
        "journal_vs_schema",
    ):
        assert isinstance(summary[key], float) and summary[key] > 0, key  # figures only, no targets
    # The three ratios are one arithmetic per round: journal/raw is schema/raw times journal/schema.
    assert summary["target_within_schema_reach"] is (summary["schema_vs_sqlite"] >= 0.8)
    assert any(line.startswith("Schema floor:") for line in out[:-1])
    assert isinstance(summary["rounds"], int) and isinstance(summary["ops"], int)
    assert 500 <= summary["envelope_bytes"] <= 700
    assert summary["env"]["journal_mode"] == "wal" and summary["env"]["synchronous"] == 2
    assert any("HEADLINE" in line for line in out[:-1])


# --- held context and batches ---------------------------------------------------------------


def test_held_context_gets_no_idempotency_entry(journal: Journal, alice: Party, bob: Party) -> None:
    """Bob holds Alice's mandate as context (answered=False); expect it stored but with no recorded
    answer, so if it ever arrives as a request it is handled rather than answered with nothing."""
    mandate = alice.mandate_vs
    journal.record_incoming(mandate, [], at_ms=1, answered=False)
    assert journal.by_digest(mandate.digest) == mandate.envelope
    assert journal.replies_for(mandate.digest) is None


def test_record_batch_writes_requests_and_our_statements_in_one_transaction(
    journal: Journal, alice: Party, bob: Party
) -> None:
    """Alice's answer batch: two of Bob's statements and her reactions, recorded at once; expect all of
    them, the answer map for the answered one only, and Alice's head past her two statements."""
    offer_b1, offer_b2 = offers(bob, alice, 2)
    reply1, reply2 = offers(alice, bob, 2)
    journal.record_batch(
        [(offer_b1, [reply1], True), (offer_b2, [], False), (None, [reply2], False)], at_ms=5
    )
    assert journal.replies_for(offer_b1.digest) == [reply1.envelope]
    assert journal.replies_for(offer_b2.digest) is None
    assert journal.chain_head(alice.did) == (reply2.header.seq + 1, reply2.digest)


def test_record_batch_is_all_or_nothing(journal: Journal, alice: Party, bob: Party) -> None:
    """A batch whose last item conflicts (an outgoing statement skipping a seq); expect nothing stored."""
    first, _skipped, third = offers(alice, bob, 3)
    incoming = offers(bob, alice, 1)[0]
    with pytest.raises(JournalConflict):
        journal.record_batch([(incoming, [first], True), (None, [third], False)], at_ms=1)
    assert journal.by_digest(incoming.digest) is None
    assert journal.chain_head(alice.did) == (0, b"")


# --- group commit ----------------------------------------------------------------------------


def _transactions(journal: Journal) -> list[str]:
    """The transactions the journal's connection starts from now on (SQLite's trace of statements)."""
    begun: list[str] = []
    journal._conn.set_trace_callback(lambda sql: begun.append(sql) if sql == "BEGIN IMMEDIATE" else None)
    return begun


def test_writes_staged_together_commit_in_one_transaction_and_only_when_waited_for(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    """Three trades' statements staged while no commit runs: expect nothing on disk (another
    connection sees no row) until one waits; then all three in ONE transaction (one fsync), each
    ticket done, in the order staged."""
    path = tmp_path / "peer.db"
    with Journal.open(path) as journal:
        begun = _transactions(journal)
        mine = offers(alice, bob, 3)
        tickets = [journal.stage_batch([(None, [vs], False)], at_ms=1) for vs in mine]
        assert not any(t.done for t in tickets) and stored_rows(path) == 0 and begun == []
        journal.wait(tickets[-1])
        assert all(t.done and t.error is None for t in tickets) and len(begun) == 1
        assert stored_rows(path) == 3
        assert journal.chain_head(alice.did) == (3, mine[-1].digest)
        journal.wait(tickets[0])  # done already: returns at once, starts nothing
        assert len(begun) == 1


def test_a_refused_write_fails_alone_and_the_rest_of_its_group_commits(
    journal: Journal, alice: Party, bob: Party
) -> None:
    """A group holds a write that would skip a seq (a bug about to equivocate): expect that write alone
    refused with JournalConflict, the writes before and after it in the group durable."""
    first, _skipped, third = offers(alice, bob, 3)
    theirs = bob.offer(alice)
    good = journal.stage_batch([(None, [first], False)], at_ms=1)
    bad = journal.stage_batch([(None, [third], False)], at_ms=1)  # seq 2 after seq 0
    also_good = journal.stage_batch([(theirs, [], True)], at_ms=1)
    journal.wait(also_good)
    with pytest.raises(JournalConflict):
        journal.wait(bad)
    journal.wait(good)
    assert journal.chain_head(alice.did) == (1, first.digest)
    assert journal.by_digest(theirs.digest) == theirs.envelope and journal.replies_for(theirs.digest) == []
    assert journal.by_digest(third.digest) is None


def test_concurrent_writers_share_commits_and_lose_nothing(tmp_path: Path, alice: Party, bob: Party) -> None:
    """16 threads record 8 requests each, all at once: expect every request and its reply stored once,
    our chain a gapless run of seqs in the order staged, and at most one transaction per write (fewer
    whenever writes met in a group; that is a matter of timing, so not asserted here)."""
    path = tmp_path / "peer.db"
    requests = [bob.offer(alice) for _ in range(16 * 8)]
    with Journal.open(path) as journal:
        begun = _transactions(journal)
        lock = threading.Lock()

        def worker(mine: list[VerifiedStatement]) -> None:
            for request in mine:
                with lock:  # as a peer signs: in order, under its lock; the commit waits outside it
                    reply = alice.sign("ack", commitment_pb2.Ack(statement=request.digest), audience=bob.did)
                    ticket = journal.stage_batch([(request, [reply], True)], at_ms=1)
                journal.wait(ticket)

        threads = [threading.Thread(target=worker, args=(requests[i::16],)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CHILD_TIMEOUT_S)
        assert not any(t.is_alive() for t in threads)
        assert len(begun) <= len(requests)
        assert all(journal.replies_for(r.digest) is not None for r in requests)
        chain = [verify_statement(e) for e in journal.log_range(alice.did, 0, 10_000)]
    assert [vs.header.seq for vs in chain] == list(range(len(requests)))
    assert stored_rows(path) == 2 * len(requests)


def test_close_waits_for_a_transaction_another_thread_has_under_way(tmp_path: Path) -> None:
    """A served node's witness thread may still be writing (asking its escrow late, say) when the node
    closes its journal. Expect close to wait for that transaction -- closing a connection SQLite is
    still using from another thread crashes the process -- the write to land, and a write after close
    to fail with a JournalError."""
    journal = Journal.open(tmp_path / "j.db")
    inside, release = threading.Event(), threading.Event()

    def slow(cur: sqlite3.Cursor) -> None:
        inside.set()
        assert release.wait(10)
        cur.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("late", b"\xc3"))

    writer = threading.Thread(target=lambda: journal.wait(journal.stage(slow)))
    writer.start()
    assert inside.wait(10)
    closer = threading.Thread(target=journal.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "closed the connection under a transaction another thread had under way"
    release.set()
    writer.join(10)
    closer.join(10)
    assert not closer.is_alive() and not writer.is_alive()
    with pytest.raises(JournalError):
        journal.put_meta("after", 1)
    with Journal.open(tmp_path / "j.db") as reopened:
        assert reopened.get_meta("late") is True


_KEYS = st.one_of(
    st.tuples(
        st.sampled_from(["did:key:a", "did:key:b", "did:key:\u00e9"]), st.binary(min_size=16, max_size=16)
    ),
    st.binary(min_size=16, max_size=16),  # a negotiation id
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(_KEYS, st.booleans(), st.booleans()), max_size=60),
    kept=st.integers(min_value=1, max_value=8),
)
def test_the_filters_kept_hashes_are_the_hashes_it_would_compute(
    rows: list[tuple[object, bool, bool]], kept: int
) -> None:
    """A filter keeps the hashes of the last keys it hashed (:meth:`_Holds._hash`: a statement's key is
    asked about, then added): the kept hash of every key is the one computed afresh, past the bound of
    what it keeps (here 1 to 8 keys, 32 in use), and a filter built through its kept hashes sets the
    same bits, counts the same keys and answers every lookup as one that computes every hash afresh."""
    hash_key = os.urandom(16)
    cached, fresh = journal_module._Holds(0, hash_key), journal_module._Holds(0, hash_key)
    real = journal_module._HOLDS_HASHED_MAX
    setattr(journal_module, "_HOLDS_HASHED_MAX", kept)  # noqa: B010 (a Final, bound for this example)
    try:
        for key, ask, add in rows:
            if ask:
                assert cached.may_hold(key) == fresh.may_hold(key)
            if add:
                cached.add(key)
                fresh._set(fresh._hash_of(key))
            assert cached._hash(key) == fresh._hash_of(key)
            assert len(cached._hashed) <= kept
        assert cached._bits == fresh._bits and cached.keys == fresh.keys
        for key, _, _ in rows:
            assert cached.may_hold(key) == fresh.may_hold(key)
    finally:
        setattr(journal_module, "_HOLDS_HASHED_MAX", real)  # noqa: B010


def test_the_filters_kept_hashes_survive_threads_asking_while_the_journal_adds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The journal's committing thread adds rows to the filter while handler threads ask it about theirs
    (a replay check, outside the journal's lock): two threads evicting "the oldest" kept hash at once
    deleted one key twice, a KeyError that answered an Exchange INTERNAL (seen in the trade benchmark at 32
    in flight). Here every eviction yields the GIL midway (a dict that sleeps as it deletes), two hashes
    are kept so every miss evicts, and three threads ask about and add 300 keys each."""

    class Yielding(dict[object, int]):
        def __delitem__(self, key: object) -> None:
            time.sleep(0.0002)  # another thread runs between choosing the oldest and deleting it
            super().__delitem__(key)

    monkeypatch.setattr(journal_module, "_HOLDS_HASHED_MAX", 2)
    holds = journal_module._Holds(0, os.urandom(16))
    holds._hashed = Yielding()
    errors: list[BaseException] = []
    keys = [[(f"did:key:{t}", i.to_bytes(4, "little")) for i in range(300)] for t in range(3)]

    def ask_and_add(own: list[tuple[str, bytes]]) -> None:
        try:
            for key in own:
                holds.may_hold(key)
                holds.add(key)
        except BaseException as err:  # reported below, from the test's thread
            errors.append(err)

    threads = [threading.Thread(target=ask_and_add, args=(own,)) for own in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(holds._hashed) <= 2
    assert all(holds.may_hold(key) for own in keys for key in own)


def test_rows_read_back_from_the_file_set_the_bits_rows_written_set_and_keep_no_hash(tmp_path: Path) -> None:
    """A row's keys set the same bits whether the row is written (its hashes kept: it was just asked
    about) or scanned from the file at open or as the filter grows (``scanned``: none kept, so an open
    of a long journal fills no memo)."""
    hash_key = os.urandom(16)
    written, scanned = journal_module._Holds(0, hash_key), journal_module._Holds(0, hash_key)
    rows = [(f"did:key:{i % 3}", os.urandom(16), os.urandom(16) if i % 2 else b"") for i in range(40)]
    for row in rows:
        written.add_row(*row)
        scanned.add_row(*row, scanned=True)
    assert written._bits == scanned._bits and written.keys == scanned.keys
    assert scanned._hashed == {} and len(written._hashed) == min(40 + 20, journal_module._HOLDS_HASHED_MAX)
