"""A peer and an escrow over a long life: what their journals keep that only the current period needs.

The per-key counts of RPC-016 and RPC-017 at a peer (``META_DEALINGS/<key>``, ``META_VOUCHED/<principal>``)
and of ESC-017 at an escrow (``META_DEALINGS/<key>``) are journaled one meta row a key, and count only in
the period they were journaled in; read whole at every start, they were never deleted, so a node kept a
row for every key it ever counted. Now the rows of earlier periods are deleted, a bounded number in each
commit the node makes anyway, and never a row of the current period (it holds the count a restart must
not grant again)."""

from __future__ import annotations

import inspect
import itertools
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import message
from peers import escrow_node, make_peer, peer_node

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.mandate import _Expiring
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, sign_candidate
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.snapshot import META_ESCROW_SNAPSHOT, META_PEER_SNAPSHOT
from a2a_coop.runtime.strangers import (
    META_DEALINGS,
    META_VOUCHED,
    PRUNE_ROWS,
    STRANGER_PERIOD_MS,
    KeyedCount,
    StrangerQuota,
)
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party, derive

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


# --- an escrow's restart grows with what is still open, not with its life ------------------------------

BOND = 100


def _settle(node: EscrowNode, clock: FixedClock, alice: Party, bob: Party, escrow: Party) -> list[Any]:
    """One bonded trade settled through ``node`` (as benchmarks/memory.py runs them), and a tick; its
    offer, Accept, Deliveries and Receipts."""
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    assert len(node.submit([offer.envelope, accept.envelope])) == 4
    clock.advance(1_000)
    d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
    performed = [d_alice, d_bob, bob.receipt(d_alice), alice.receipt(d_bob)]
    assert len(node.submit([vs.envelope for vs in performed])) == 4
    clock.advance(1_000)
    node.tick()
    return [offer, accept, *performed]


@pytest.fixture
def rows_replayed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many journal rows restarts read through Journal.statements (the replay), counted."""
    counted = {"rows": 0}
    statements = Journal.statements

    def counting(self: Journal, **kw: Any) -> Iterator[tuple[int, str, bytes]]:
        for row in statements(self, **kw):
            counted["rows"] += 1
            yield row

    monkeypatch.setattr(Journal, "statements", counting)
    return counted


def _crash(node: EscrowNode) -> None:
    """As kill -9 leaves it: the journal as it is, no snapshot at close."""
    node._stop.set()
    node.journal.close()


def _funded(path: Path, clock: FixedClock, parties: tuple[Party, Party, Party], **kw: Any) -> EscrowNode:
    alice, bob, escrow = parties
    node = escrow_node(escrow, clock, path, **kw)
    for party in (alice, bob):
        node.deposit(party.did, 10**9)
    node.submit([*alice.setup, *bob.setup])
    return node


def _parties(clock: FixedClock) -> tuple[Party, Party, Party]:
    caps = {"budget_per_period": 10**12, "max_outstanding": 10**12}
    return Party("alice", clock, caps), Party("bob", clock, caps), Party("escrow", clock)


@pytest.mark.req("ESC-007")
def test_an_escrow_restart_replays_what_came_after_its_last_snapshot(
    tmp_path: Path, rows_replayed: dict[str, int]
) -> None:
    """60 settled trades (12 journal rows each): an escrow that journals a snapshot every 200 rows,
    killed, replays at most the 200 and a trade's rows after its last snapshot at restart, where one
    without snapshots replays all 720 -- and both hold the same ledger. Closed cleanly, it replays none."""
    clock = FixedClock()
    parties = _parties(clock)
    path = tmp_path / "e.db"
    node = _funded(path, clock, parties, snapshot_every=200)
    for _ in range(60):
        _settle(node, clock, *parties)
    rows = node.journal.last_position()
    assert rows is not None and rows[0] > 720
    ledger, balance = node.escrow.ledger_size, node.escrow.balance(parties[0].did)
    _crash(node)
    whole = tmp_path / "whole.db"
    _copy(path, whole)

    rows_replayed["rows"] = 0
    node = escrow_node(parties[2], clock, path, snapshot_every=200)
    assert node.resumed_from is not None and 0 < rows_replayed["rows"] <= 200 + 12
    assert (node.escrow.ledger_size, node.escrow.balance(parties[0].did)) == (ledger, balance)
    assert node.escrow.open_contracts == 0
    node.close()  # a snapshot at close: the next start replays nothing
    rows_replayed["rows"] = 0
    node = escrow_node(parties[2], clock, path)
    assert rows_replayed["rows"] == 0 and node.escrow.ledger_size == ledger
    node.close()

    rows_replayed["rows"] = 0
    node = escrow_node(parties[2], clock, whole, snapshot_every=0)  # as before snapshots: all of it
    assert node.resumed_from is None and rows_replayed["rows"] == rows[0]
    assert (node.escrow.ledger_size, node.escrow.balance(parties[0].did)) == (ledger, balance)
    node.close()


def _copy(source: Path, target: Path) -> None:
    """A journal's files, copied as they are (database and WAL)."""
    for suffix in ("", "-wal"):
        src = source.with_name(source.name + suffix)
        if src.exists():
            shutil.copyfile(src, target.with_name(target.name + suffix))


def _at_seq(party: Party, vs: VerifiedStatement) -> VerifiedStatement:
    """``party`` signs another statement at ``vs``'s seq, a Reject of its offer (CHN-004)."""
    writer = ChainWriter(party.agent.key, next_seq=vs.header.seq, prev=vs.header.prev)
    stmt = new_statement(
        "reject",
        trade_pb2.Reject(offer=vs.statement.accept.offer),
        issued_at_ms=party.clock.now_ms,
        ttl_ms=5 * 60_000,
        mandate=party.mandate_vs.digest,
        audience=vs.header.audience,
        negotiation_id=vs.header.negotiation_id,
    )
    return sign_candidate(writer.stamp(stmt, nonce=derive(f"fork/{vs.digest.hex()}", 16)), party.agent.key)


def _outcome(node: EscrowNode, envelopes: list[bytes]) -> Any:
    try:
        return ("answered", node.submit(envelopes), node.escrow.ledger_size)
    except CoopError as err:
        return ("refused", type(err).__name__, err.requirement, node.escrow.ledger_size)


@pytest.mark.req("ESC-007", "ESC-015", "RPL-001", "RPL-002", "CHN-004")
def test_an_escrow_resumed_from_its_snapshot_refuses_what_a_full_replay_refuses(tmp_path: Path) -> None:
    """Killed after 30 settled trades and a snapshot 100 rows back, the escrow restarts from it; a copy
    of the same journal restarts from its first statement. Shown, about a trade settled and forgotten
    before the snapshot and one settled after it: their statements again (ESC-007: the first answers,
    no second Release), an Offer reusing a settled Offer's nonce (RPL-001), another Accept at the settled
    Accept's seq (CHN-004, a fork: ESC-015) -- both answer alike, every one, and keep the same ledger."""
    clock = FixedClock()
    parties = _parties(clock)
    alice, bob, escrow = parties
    path = tmp_path / "e.db"
    node = _funded(path, clock, parties, snapshot_every=100)
    trades, nonces = [], []
    for _ in range(30):
        nonces.append(alice.agent._nonce_counter)
        trades.append(_settle(node, clock, *parties))
    _crash(node)
    whole = tmp_path / "whole.db"
    _copy(path, whole)
    resumed = escrow_node(escrow, clock, path, snapshot_every=100)
    replayed = escrow_node(escrow, clock, whole, snapshot_every=0)
    try:
        assert resumed.resumed_from is not None and replayed.resumed_from is None
        first, last = trades[0], trades[-1]
        clock.advance(60_000)
        probes: list[list[bytes]] = []
        for trade in (first, last):
            offer, accept, *performed = trade
            probes += [
                [offer.envelope, accept.envelope],
                [vs.envelope for vs in performed],
                [performed[2].envelope, performed[3].envelope],
                [offer.envelope],
            ]
        outcomes = []
        for probe in probes:
            a, b = _outcome(resumed, probe), _outcome(replayed, probe)
            assert a == b
            outcomes.append(a)
        assert all(o[0] == "answered" for o in outcomes)
        ledger = resumed.escrow.ledger_size
        # A fresh Offer under the first trade's nonce.
        counter = alice.agent._nonce_counter
        alice.agent._nonce_counter = nonces[0]
        reused = alice.offer(bob, alice.proposal(escrow=escrow.did))
        alice.agent._nonce_counter = counter
        assert reused.header.nonce == first[0].header.nonce
        a, b = _outcome(resumed, [reused.envelope]), _outcome(replayed, [reused.envelope])
        assert a == b and a[0] == "refused"
        # Bob signs another statement at his settled Accept's seq.
        for trade in (first, last):
            fork = _at_seq(bob, trade[1])
            a, b = _outcome(resumed, [fork.envelope]), _outcome(replayed, [fork.envelope])
            assert a == b
            assert trade[1].digest in resumed.escrow.forked_accepts
            assert resumed.escrow.forked_accepts == replayed.escrow.forked_accepts
        assert resumed.escrow.ledger_size == replayed.escrow.ledger_size == ledger
        assert resumed.escrow.balance(alice.did) == replayed.escrow.balance(alice.did)
        assert resumed.escrow.ledger(0) == replayed.escrow.ledger(0)
    finally:
        resumed.close()
        replayed.close()


def _spoiled(good: list[Any]) -> list[list[Any]]:
    """A snapshot's meta value altered (a bit of its pickle), misplaced (naming the row before its
    own), and of another build (its fingerprint)."""
    return [
        [*good[:6], good[6][:-1] + bytes([good[6][-1] ^ 1])],
        [good[0], good[1] - 1, *good[2:]],
        [good[0], good[1], good[2], "0" * 64, *good[4:]],
    ]


def _put_meta(path: Path, key: str, value: Any) -> None:
    with Journal.open(path, durability="normal") as journal:
        journal.put_meta(key, value)


def test_a_snapshot_not_this_escrows_is_never_unpickled(tmp_path: Path) -> None:
    """A snapshot whose MAC does not check (altered, or written under another key), one whose journal
    no longer holds the statement it ends with, or one of another build: ignored, the whole journal
    replayed, the same ledger."""
    clock = FixedClock()
    parties = _parties(clock)
    path = tmp_path / "e.db"
    node = _funded(path, clock, parties)
    for _ in range(5):
        _settle(node, clock, *parties)
    ledger = node.escrow.ledger_size
    node.close()
    with Journal.open(path, durability="normal") as journal:
        good = journal.get_meta(META_ESCROW_SNAPSHOT)
    assert good is not None
    for bad in _spoiled(good):
        _put_meta(path, META_ESCROW_SNAPSHOT, bad)
        node = escrow_node(parties[2], clock, path)  # snapshot_every=0 would not read it at all
        assert node.resumed_from is None and node.escrow.ledger_size == ledger
        node.journal.close()
    _put_meta(path, META_ESCROW_SNAPSHOT, good)
    node = escrow_node(parties[2], clock, path)
    assert node.resumed_from == good[1] and node.escrow.ledger_size == ledger
    node.close()


def test_a_journal_of_the_previous_version_opens_and_gets_a_snapshot(tmp_path: Path) -> None:
    """A journal without a snapshot (every journal before this version) is replayed whole, as before;
    the escrow then journals one (at close, or at once when the journal is long), and the next start
    resumes from it."""
    clock = FixedClock()
    parties = _parties(clock)
    path = tmp_path / "e.db"
    node = _funded(path, clock, parties, snapshot_every=0)  # writes none: as an earlier version
    for _ in range(3):
        _settle(node, clock, *parties)
    ledger = node.escrow.ledger_size
    node.close()
    with Journal.open(path, durability="normal") as journal:
        assert journal.get_meta(META_ESCROW_SNAPSHOT) is None
    node = escrow_node(parties[2], clock, path, snapshot_every=10)  # long enough: one at once
    assert node.resumed_from is None and node.escrow.ledger_size == ledger
    assert node.journal.get_meta(META_ESCROW_SNAPSHOT) is not None
    _crash(node)
    node = escrow_node(parties[2], clock, path)
    assert node.resumed_from is not None and node.escrow.ledger_size == ledger
    node.close()


# --- a peer's restart, likewise ------------------------------------------------------------------------


def _norm(obj: Any, seen: set[int]) -> Any:
    """``obj`` as plain data, to compare two memories: statements by digest, protobuf messages by their
    bytes, functions by name, objects by type and attributes (dicts and lists in their order, sets
    sorted); the journal and the clock left out (a restart attaches them again). ``seen``: the objects
    being normalised further up (a cycle back to one is named, not followed)."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, Enum)):
        return obj
    if isinstance(obj, VerifiedStatement):
        return ("statement", obj.digest)
    if isinstance(obj, message.Message):
        return (type(obj).__name__, obj.SerializeToString(deterministic=True))
    if isinstance(obj, (Journal, FixedClock)) or (callable(obj) and not hasattr(obj, "__dict__")):
        return ("live", getattr(obj, "__qualname__", type(obj).__name__))
    if inspect.ismethod(obj) or inspect.isfunction(obj):
        return ("function", obj.__qualname__)
    if id(obj) in seen:
        return ("cycle", type(obj).__name__)
    seen.add(id(obj))
    try:
        return _norm_within(obj, seen)
    finally:
        seen.discard(id(obj))


def _norm_within(obj: Any, seen: set[int]) -> Any:
    if isinstance(obj, _Expiring):  # what it holds; where its sums stand (the last time asked) is a cache
        return ("expiring", [(k, e.value, e.until, e.buckets) for k, e in sorted(obj.items.items())])
    if isinstance(obj, (set, frozenset)):
        return ("set", sorted((_norm(x, seen) for x in obj), key=repr))
    if isinstance(obj, (list, tuple, deque)):
        return ("sequence", [_norm(x, seen) for x in obj])
    state: dict[str, Any] = {}
    if isinstance(obj, dict):
        state["items"] = [(_norm(k, seen), _norm(v, seen)) for k, v in obj.items()]
    attrs = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name):
                attrs[name] = getattr(obj, name)
    for name, value in attrs.items():
        if name not in _LIVE:
            state[name] = _norm(value, seen)
    return (type(obj).__name__, state)


# What a start attaches again, and what counts work rather than holds knowledge.
_LIVE = {
    "journal", "archive", "clock", "nonce", "lock", "strategy", "reputation", "on_fork", "deals_with",
    "_checked", "resumed_from", "_cadence", "_last_ticket", "forgotten", "_context_digests", "restore",
    "_secret",  # a hash key, random at every start
    "_aside_read",  # the negotiations whose set-aside refused answers were looked for: a cache of reads
}  # fmt: skip


def _memory(peer: Peer) -> Any:
    return _norm(peer, set())


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two normalised memories differ (the first few)."""
    if type(a) is not type(b) or not isinstance(a, (tuple, list, dict)):
        return [] if a == b else [f"{path}: {a!r:.120} != {b!r:.120}"]
    if isinstance(a, dict):
        out = [f"{path}.{k}: only one has it" for k in set(a) ^ set(b)]
        for k in a.keys() & b.keys():
            out += _differences(a[k], b[k], f"{path}.{k}")
        return out[:20]
    if len(a) != len(b):
        return [f"{path}: {len(a)} != {len(b)} entries"]
    out = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        out += _differences(x, y, f"{path}[{i}]")
    return out[:20]


def _same(peer: Peer, other: Peer | Any) -> None:
    """``peer`` holds what ``other`` (a peer, or what :func:`_memory` made of one) does; else where not."""
    found = _differences(_memory(peer), other if isinstance(other, tuple) else _memory(other))
    assert not found, "\n".join(found)


def _peer_crash(node: PeerNode) -> None:
    """As kill -9 leaves a peer: the journal as it is, no snapshot at close."""
    node.journal.close()


def _alice(path: Path, clock: FixedClock, alice: Party, **kw: Any) -> Peer:
    """Alice on her journal at ``path`` (random nonces: two of her can go on from one journal)."""
    journal = Journal.open(path, durability="normal")
    return Peer(alice.agent.key, alice.mandate_vs.envelope, journal=journal, clock=lambda: clock.now_ms, **kw)


def _nonces(name: str) -> Callable[[], bytes]:
    """Nonces of their own, the same for two peers given the same ``name`` (two runs sign alike)."""
    counter = itertools.count()
    return lambda: derive(f"nonce/{name}/{next(counter)}", 16)


def _trading(path: Path, clock: FixedClock, alice: Party, bob: Party, **kw: Any) -> tuple[Peer, PeerNode]:
    a = _alice(path.with_name("alice.db"), clock, alice, context=kw.get("context", []))
    return a, peer_node(bob, clock, path, **kw)


def _settled(a: Peer, node: PeerNode, alice: Party, bob: Party, *, n: int) -> None:
    for _ in range(n):
        neg = run_trade(a, node, bob.did, alice.proposal())
        assert a.negotiation(neg.id).state is State.FULFILLED
        alice.clock.advance(1_000)


def _bonded(a: Peer, node: PeerNode, alice: Party, bob: Party, escrow: LocalEscrow, *, n: int) -> None:
    """``n`` trades bonded at ``escrow`` (its Stamps, BondLocks and Releases relayed), settled."""
    for _ in range(n):
        terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
        neg = run_trade(a, node, bob.did, terms, escrow=escrow)  # type: ignore[arg-type]
        assert a.negotiation(neg.id).state is State.FULFILLED
        alice.clock.advance(1_000)
        escrow.tick()


def _left_open(a: Peer, node: PeerNode, alice: Party, bob: Party) -> None:
    """An Offer Bob accepts, whose trade Alice carries no further: open at Bob's."""
    first = a.propose(bob.did, alice.proposal())
    a.on_replies(node.exchange(first.envelope, a.send_context()))
    alice.clock.advance(1_000)


@pytest.mark.req("CHN-002", "RPL-001")
def test_a_peer_resumed_from_its_snapshot_holds_what_a_full_replay_holds(
    tmp_path: Path, rows_replayed: dict[str, int]
) -> None:
    """Bob, served with an escrow witness, journals a snapshot every 40 rows over 16 settled trades (2
    with Carol, first; 3 bonded at the escrow, its statements relayed) and two left open, then is
    killed; restarted, he
    resumes from his last snapshot and replays at most the rows after it, where a copy of the same
    journal replayed whole reads them all -- and both hold the same memory, attribute for attribute.
    Both trade on with Alice: Bob's chain goes on at the seq the journal ends at (Alice, who holds it,
    takes his next statements: nothing signed twice), and they still hold the same. Closed cleanly, the
    next start replays nothing."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 10**6, bob.did: 10**6})
    path = tmp_path / "bob.db"
    context = [escrow.mandate]
    witness = EscrowWitness(escrow, escrow.did)  # type: ignore[arg-type]
    a, node = _trading(path, clock, alice, bob, snapshot_every=40, context=context, witness=witness)
    carol = Party("carol", clock)  # settles with Bob before any snapshot, then trades no more
    _settled(make_peer(carol, clock), node, carol, bob, n=2)
    _settled(a, node, alice, bob, n=8)
    _bonded(a, node, alice, bob, escrow, n=3)
    _left_open(a, node, alice, bob)
    _settled(a, node, alice, bob, n=3)
    _left_open(a, node, alice, bob)
    assert node.journal.get_meta(META_PEER_SNAPSHOT) is not None
    while (rows := node.journal.last_position()) is not None and rows[0] == node.peer._cadence.at:
        _settled(a, node, alice, bob, n=1)  # statements after the last snapshot: a crash loses it
    assert rows is not None
    head = node.journal.chain_head(bob.did)
    witness.close()
    _peer_crash(node)
    whole = tmp_path / "whole.db"
    _copy(path, whole)
    assert a.journal is not None
    a.journal.close()  # type: ignore[attr-defined]
    _copy(tmp_path / "alice.db", tmp_path / "twin.db")

    rows_replayed["rows"] = 0
    resumed = peer_node(bob, clock, path, snapshot_every=40, context=context)
    assert resumed.peer.resumed_from is not None and 0 < rows_replayed["rows"] <= 40 + 7
    rows_replayed["rows"] = 0
    replayed = peer_node(bob, clock, whole, snapshot_every=0, context=context)
    assert replayed.peer.resumed_from is None and rows_replayed["rows"] == rows[0]
    try:
        _same(resumed.peer, replayed.peer)
        assert (resumed.peer.writer.next_seq, resumed.peer.writer.prev) == head
        # Trading on, each with its own Alice holding Bob's chain so far: his next statements follow it.
        a, twin = (_alice(tmp_path / name, clock, alice, context=context) for name in ("alice.db", "twin.db"))
        a.nonce, twin.nonce = _nonces("alice-after"), _nonces("alice-after")
        resumed.peer.nonce, replayed.peer.nonce = _nonces("bob-after"), _nonces("bob-after")
        now = clock.now_ms
        _settled(a, resumed, alice, bob, n=2)
        clock.now_ms = now
        _settled(twin, replayed, alice, bob, n=2)
        assert resumed.peer.writer.next_seq == replayed.peer.writer.next_seq > head[0]
        _same(resumed.peer, replayed.peer)
    finally:
        resumed.close()  # a snapshot at close
        replayed.journal.close()
    rows_replayed["rows"] = 0
    again = peer_node(bob, clock, path, context=context)
    assert again.peer.resumed_from is not None and rows_replayed["rows"] == 0
    again.journal.close()


def test_a_snapshot_not_this_peers_is_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer's snapshot whose MAC does not check (altered, or written under another key), one whose
    journal no longer holds the statement it ends with, one of another build, or one taken under
    another setup (another context): ignored, the whole journal replayed, the same memory. One whose
    chain, resumed, does not end where the journal's does: the whole journal replayed, the same memory."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    path = tmp_path / "bob.db"
    a, node = _trading(path, clock, alice, bob)
    _settled(a, node, alice, bob, n=4)
    node.close()
    with Journal.open(path, durability="normal") as journal:
        good = journal.get_meta(META_PEER_SNAPSHOT)
    assert good is not None
    whole = peer_node(bob, clock, path, snapshot_every=0)
    expected = _memory(whole.peer)
    whole.journal.close()
    for bad in _spoiled(good):
        _put_meta(path, META_PEER_SNAPSHOT, bad)
        node = peer_node(bob, clock, path)  # snapshot_every=0 would not read it at all
        assert node.peer.resumed_from is None
        _same(node.peer, expected)
        node.journal.close()
    _put_meta(path, META_PEER_SNAPSHOT, good)
    node = peer_node(bob, clock, path)
    assert node.peer.resumed_from == good[1]
    _same(node.peer, expected)
    node.journal.close()
    with monkeypatch.context() as patched:
        patched.setattr(Peer, "_resumed_as_journaled", lambda self, journal: False)
        node = peer_node(bob, clock, path)
    assert node.peer.resumed_from is None
    _same(node.peer, expected)
    node.journal.close()
    node = peer_node(bob, clock, path, context=[escrow.mandate_vs.envelope])  # another setup
    assert node.peer.resumed_from is None
    node.journal.close()


def test_a_snapshot_set_aside_says_why_and_a_new_setup_is_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """README's walk-through restarts a peer with `--escrow` it was first served without (and a renewed
    Mandate does the same): its snapshot, taken under the old setup, is set aside -- once logged as a
    WARNING that it was "not this peer's, or of another build", neither true. Expect the reason, at
    INFO for a new setup, at WARNING for a snapshot another key wrote or someone altered."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    path = tmp_path / "bob.db"
    a, node = _trading(path, clock, alice, bob)
    _settled(a, node, alice, bob, n=2)
    node.close()
    with Journal.open(path, durability="normal") as journal:
        good = journal.get_meta(META_PEER_SNAPSHOT)
    caplog.set_level("INFO", logger="a2a_coop.runtime.snapshot")
    node = peer_node(bob, clock, path, context=[escrow.mandate_vs.envelope])
    assert node.peer.resumed_from is None
    node.journal.close()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "a2a_coop.runtime.snapshot"]
    assert said == [
        (
            "INFO",
            "peer: the journal's snapshot is taken under another setup (the peer's Mandates or escrows "
            "have changed since): ignored, the whole journal replayed",
        )
    ]
    caplog.clear()
    _put_meta(path, META_PEER_SNAPSHOT, _spoiled(good)[0])  # a bit of its pickle flipped
    node = peer_node(bob, clock, path)
    assert node.peer.resumed_from is None
    node.journal.close()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "a2a_coop.runtime.snapshot"]
    assert said == [
        (
            "WARNING",
            "peer: the journal's snapshot is not this peer's (written under another key, or altered): "
            "ignored, the whole journal replayed",
        )
    ]
