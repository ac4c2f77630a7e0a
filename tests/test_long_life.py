"""A peer and an escrow over a long life: what their journals keep that only the current period needs.

The per-key counts of RPC-016 and RPC-017 at a peer (``META_DEALINGS/<key>``, ``META_VOUCHED/<principal>``)
and of ESC-017 at an escrow (``META_DEALINGS/<key>``) are journaled one meta row a key, and count only in
the period they were journaled in; read whole at every start, they were never deleted, so a node kept a
row for every key it ever counted. Now the rows of earlier periods are deleted, a bounded number in each
commit the node makes anyway, and never a row of the current period (it holds the count a restart must
not grant again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import escrow_node, make_peer, peer_node

from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.strangers import (
    META_DEALINGS,
    META_VOUCHED,
    PRUNE_ROWS,
    STRANGER_PERIOD_MS,
    KeyedCount,
    StrangerQuota,
)
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import FixedClock, Party

PERIOD = STRANGER_PERIOD_MS


def _count(stored: list[tuple[str, object]], now: int) -> KeyedCount:
    return KeyedCount(4, 1, PERIOD, stored, now, prefix=META_DEALINGS, requirement="RPC-016", what="x")


def test_a_keyed_count_deletes_the_rows_of_earlier_periods_a_bounded_number_at_a_time() -> None:
    """Rows of an earlier period found at start, and those of the period that ends, come back from
    ``meta`` as None (delete), PRUNE_ROWS a call at most; the row of a key counted this period never."""
    now = 10 * PERIOD
    old = [(f"{META_DEALINGS}/k{i:04}", [9, 3, 0]) for i in range(PRUNE_ROWS * 2 + 5)]
    current = (f"{META_DEALINGS}/now", [10, 2, 1])
    count = _count([*old, current], now)
    assert count.counted["now"] == 2 and len(count.stale) == len(old)
    count.charge("k0000", now)  # counted again this period: its row is current, never deleted
    first = count.meta(prune=False)  # a row to write: some stale ones go with it
    assert first[f"{META_DEALINGS}/k0000"] == [10, 1, 0]
    deleted = {row for row, value in first.items() if value is None}
    assert len(first) == PRUNE_ROWS and len(deleted) == PRUNE_ROWS - 1
    assert count.meta(prune=False) == {}  # nothing to write: nothing deleted
    second = count.meta()
    assert len(second) == PRUNE_ROWS and all(v is None for v in second.values())
    third = count.meta()
    deleted |= set(second) | set(third)
    assert deleted == {row for row, _ in old} - {f"{META_DEALINGS}/k0000"}
    assert count.meta() == {} and not count.stale
    # The period ends: the rows of the keys it counted are deleted in the next one.
    count.charge("now", now)
    count.meta()
    count.charge("x", 11 * PERIOD)
    rolled = count.meta()
    assert rolled == {
        f"{META_DEALINGS}/x": [11, 1, 0],
        f"{META_DEALINGS}/now": None,
        f"{META_DEALINGS}/k0000": None,
    }


def test_a_batch_meta_value_none_deletes_the_row_in_the_same_commit(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", durability="normal") as journal:
        journal.put_meta("a/1", [1])
        journal.put_meta("a/2", [2])
        journal.record_batch([], at_ms=0, meta={"a/1": None, "a/3": [3]})
        assert journal.meta_under("a/") == [("a/2", [2]), ("a/3", [3])]
        journal.wait(journal.stage_batch([], at_ms=0, meta={"a/2": None}))
        assert journal.meta_under("a/") == [("a/3", [3])]


def _old_rows(path: Path, prefix: str, n: int, window: int) -> None:
    """``n`` count rows of the period ``window`` in the journal at ``path`` (as a node of the previous
    version left them: one a key it ever counted)."""
    with Journal.open(path, durability="normal") as journal:
        for i in range(n):
            journal.put_meta(f"{prefix}/did:key:old{i}", [window, 1, 0])


@pytest.mark.req("ESC-017")
def test_an_escrow_prunes_the_dealings_rows_of_earlier_periods(tmp_path: Path) -> None:
    """An escrow whose journal holds 150 ``META_DEALINGS`` rows of earlier periods deletes them with the
    commits its Submits make anyway, PRUNE_ROWS a commit; a row of the current period stays."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % PERIOD
    window = clock.now_ms // PERIOD
    e, alice, bob = Party("escrow", clock), Party("alice", clock), Party("bob", clock)
    path = tmp_path / "e.db"
    _old_rows(path, META_DEALINGS, 150, window - 1)
    with Journal.open(path, durability="normal") as journal:
        journal.put_meta(f"{META_DEALINGS}/did:key:current", [window, 7, 0])
    node = escrow_node(e, clock, path)
    try:
        assert node.dealings is not None and node.dealings.counted["did:key:current"] == 7
        assert len(node.journal.meta_under(META_DEALINGS + "/")) == 151
        node.submit([*alice.setup, *bob.setup])
        for _ in range(3):
            offer = alice.offer(bob, alice.proposal(escrow=e.did))
            node.submit([offer.envelope, bob.accept(offer).envelope])
            clock.advance(1_000)
        assert node.journal.meta_under(META_DEALINGS + "/") == [
            (f"{META_DEALINGS}/did:key:current", [window, 7, 0])
        ]
    finally:
        node.close()
    node = escrow_node(e, clock, path)  # restarted: the current count is still there
    try:
        assert node.dealings is not None and node.dealings.counted["did:key:current"] == 7
    finally:
        node.close()


@pytest.mark.req("RPC-016")
@pytest.mark.req("RPC-017")
def test_a_peer_prunes_the_count_rows_of_earlier_periods(tmp_path: Path) -> None:
    """A served peer whose journal holds ``META_DEALINGS`` and ``META_VOUCHED`` rows of earlier periods
    deletes them with the commits its trades make anyway."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % PERIOD
    window = clock.now_ms // PERIOD
    alice, bob = Party("alice", clock), Party("bob", clock)
    path = tmp_path / "bob.db"
    _old_rows(path, META_DEALINGS, 100, window - 2)
    _old_rows(path, META_VOUCHED, 100, window - 1)
    node = peer_node(bob, clock, path)
    try:
        assert node.peer.stranger_quota == StrangerQuota()  # served
        a = make_peer(alice, clock)
        for _ in range(4):
            neg = run_trade(a, node, bob.did, alice.proposal())
            assert a.negotiation(neg.id).state is State.FULFILLED
            clock.advance(1_000)
        assert node.journal.meta_under(META_DEALINGS + "/") == []
        assert node.journal.meta_under(META_VOUCHED + "/") == []
    finally:
        node.journal.close()
