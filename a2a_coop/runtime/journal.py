"""The peer's write-ahead journal: SQLite in WAL mode, fsync on every commit.

Theory of operation. A peer's promise to the world is its hash chain: one
statement per ``seq``, each naming the previous one's digest. Signing a second,
different statement at a seq already used is equivocation (CHN-004), and the
easiest way to do it by accident is to crash after sending statement ``n`` but
before remembering that ``n`` is used: on restart the chain writer starts from
a stale head and signs a different ``n``. So the journal is written *ahead* of
the network:

1. sign the statement (in memory; nothing has left the process);
2. :meth:`Journal.record_outgoing` stores ``(issuer, seq, digest, envelope)``
   in ONE transaction and returns only after SQLite's commit is fsync'd;
3. only then may the bytes be sent.

A crash before step 2 commits loses a statement nobody has seen, and its seq is
free again. A crash after it leaves the statement in the journal, and on restart
the writer is seeded from :meth:`Journal.chain_head`, so the next statement
takes the next seq. The head never goes backwards relative to anything that
could have been sent.

The database enforces the rule as well as the code: a unique index on
``(issuer, seq)`` over outgoing statements makes a second, different statement
at a used seq impossible to store, and a statement that does not extend the
head (a skipped seq, or a ``prev`` that is not our last digest) is refused
before it is written.

The head is not stored beside the statements; it is read from them (the
highest seq of the issuer's outgoing statements, and its digest), so it cannot
disagree with them and advancing it costs no extra write. (In WAL mode each
B-tree page a commit touches goes to disk whole; a separate heads table made
every fsync'd append about 10% slower.) A journal caches the heads it has
committed, saving a query per append. A cached head can only be out of date if
another connection wrote meanwhile; then the unique index refuses the insert
and the head is read from the file again.

Retried requests are idempotent. :meth:`Journal.record_incoming` stores a
received statement, our replies (as outgoing statements, advancing our head)
and the map ``request digest -> reply digests`` in one transaction; when the
same request arrives again, :meth:`Journal.replies_for` returns the very same
reply envelopes, so nothing is signed, locked or counted twice.

Storage rules: envelopes are stored exactly as signed or received and never
re-encoded (their bytes are the evidence); the other columns are indexes into
them. Structured values (meta entries, the reply list of a request) are
msgpack. ``PRAGMA user_version`` holds the schema version and
``PRAGMA application_id`` marks the file as an a2a-coop journal; a file with an
unknown version or a foreign id is refused, never guessed at.

Durability: ``synchronous=FULL`` in WAL mode syncs the WAL on every commit, so
a recorded statement survives ``kill -9``, an OS crash and a power cut (on a
disk that honours flushes). The only other mode, ``durability="normal"``
(``synchronous=NORMAL``), survives ``kill -9`` but may lose the last commits on
an OS crash or power cut, after which the peer could re-sign a used seq; it is
for tests and throwaway peers and is never the default.

One writer per file: :meth:`Journal.open` takes an exclusive OS lock (``flock``) on a sidecar
file ``<journal>-lock`` and holds it until :meth:`Journal.close`, which removes the file (the OS
drops the lock when the process dies, even by ``kill -9``; the file left behind then locks
nothing). A second peer on the same journal would sign from the same head as the first; the
unique index would refuse its statements, but only after it had answered, so it is refused at
open instead (:class:`JournalLocked`). The lock is taken before the database is opened, so a
writer that holds it knows no other writer has the file open: :meth:`Journal.discard_if_empty`
deletes a journal that never held a statement (a command that failed after creating it). Readers
of a journal another process writes (``status``, ``export``, audits) open it with ``lock=False``.

Group commit and threading. Every write is *staged* (:meth:`Journal.stage`) in
the order callers stage them, and commits when a thread waits for it
(:meth:`Journal.wait`): the first waiter leads, committing everything staged so
far in ONE transaction (one fsync), while writes staged meanwhile wait for the next one.
So many concurrent trades share each fsync, and each caller is told its own
write is durable only after the commit that holds it (write-ahead: nothing is
sent before). If one write of a group is refused (a JournalConflict), the
group is retried one write per transaction, in order, so only that write
fails. The ``record_*`` methods stage and wait in one call. A Journal may be
used from several threads: one transaction or read at a time holds the
connection (reads never see a transaction half done).

Reads of what is not there. A peer that forgets finished negotiations asks its journal, for every
new statement, whether it holds one with that (issuer, nonce) (replay protection), and for every new
negotiation whether it holds its statements -- and for a new one the answer is always no. A writing
journal keeps a Bloom filter (:class:`_Holds`) over the (issuer, nonce) pairs and negotiation ids of its
rows, fed as rows are inserted and built from the file at open: "not held" is then certain without a
query (a filter has no false negatives for rows this journal wrote or found at open, and one writer per
file means there are no others), and only a "maybe" reads SQLite. Its hash is BLAKE2b under a random
key of the journal's own (kept in its meta), so no peer can aim statements at chosen bits. A node
journals the filter with each snapshot of its memory (:meth:`Journal.filter_meta`: its bits, and the
position and digest of the last row they hold), and the next open scans only the rows after that
position -- if the journal holds that row there; else every row, as before -- so an open does not grow
with the journal's life. It doubles as rows accumulate, keeping false
positives -- which cost a query, never a wrong answer -- near 1%, for three or four bytes of memory per
row, up to 2 MiB (about a million keys). It grows without a stall: the full filter keeps answering
while one twice its size is filled beside it from the file, a page of rows per commit (no commit
scans the whole journal), and takes over once it holds them all. At 2 MiB it stops growing, so a
long life's memory stays bounded, and its false positives rise instead (15% at four million keys). A
journal opened with ``lock=False`` (another process may write) has no filter and always asks SQLite.

Why the errors are not :class:`~a2a_coop.protocol.errors.CoopError`: a CoopError is
protocol vocabulary, a SPEC code that travels to the peer. A journal failure is
a local fault of this process (a bug that tried to equivocate, a damaged or
foreign file, a full disk) that no peer caused and no peer should be told
about; the right reaction is to stop signing, not to answer with an error code.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import msgpack

from a2a_coop.protocol.archive import EVIDENCE_BOOK
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.protocol.statements import VerifiedStatement, decode_statement

# 2: the nonce column and the indexes reads from the journal use; 3: the forgotten table; 4: its rows by
# position (what a start drops).
SCHEMA_VERSION: Final = 4
APPLICATION_ID: Final = 0x41324143  # "A2AC": marks the SQLite file as an a2a-coop journal
OUT: Final = "out"
IN: Final = "in"
BUSY_TIMEOUT_MS: Final = 5_000
_PAGE: Final = 256  # rows per query when iterating the journal
_FIRST_PAGE: Final = 8  # the first query's; each next one doubles, up to _PAGE
_MAX_SQLITE_INT: Final = 2**63 - 1

Durability = Literal["full", "normal"]
_SYNCHRONOUS: Final[dict[str, str]] = {"full": "FULL", "normal": "NORMAL"}

# sqlite3 binds an int, float or str parameter as it is, but sends bytes through its adaptation
# protocol: it looks up PrepareProtocol.__adapt__, absent, and formats an AttributeError to drop it --
# for every digest, envelope and nonce bound (3,300 instructions each, 206 a bonded trade over the
# three journals: 1.4 % of the trade's instructions; 1,100 each now). With an adapter registered for exact
# bytes, its table answers instead: ``bytes.__bytes__(b)`` is ``b`` itself (and a C method call, where
# ``bytes(b)`` parses its arguments), so what is bound is unchanged. Process-wide, and left alone if
# the application registered its own (which sqlite3 would consult for our bytes either way).
_BYTES_ADAPTED: Final = (bytes, sqlite3.PrepareProtocol)
if _BYTES_ADAPTED not in sqlite3.adapters:
    sqlite3.register_adapter(bytes, bytes.__bytes__)

# What a peer that forgot a finished negotiation reads from the journal instead (bounded memory):
# replay memory by (issuer, nonce) (RPL-001), any issuer's chain by seq (CHN-003..005), a
# negotiation's statements. Version 2 added them; a version 1 file gets them when opened.
_INDEXES_V2: Final = """
CREATE INDEX statements_nonce ON statements (issuer, nonce);
CREATE INDEX statements_seq ON statements (issuer, seq);
CREATE INDEX statements_negotiation ON statements (negotiation_id) WHERE negotiation_id != x'';
"""

# What a forgotten negotiation still counts for in an exposure (a2a_coop.protocol.archive.ExposureArchive),
# for the records its peer's memory no longer keeps: derived from the statements (a replay writes them
# again), so a file of an earlier version gets the table empty. ``position``: the last statement's rowid
# when written, so a start from a snapshot drops what was written after it (:meth:`Journal.drop_forgotten`).
_FORGOTTEN_V3: Final = """
CREATE TABLE forgotten (
    book BLOB NOT NULL,
    key BLOB NOT NULL,
    latest BLOB NOT NULL,
    position INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (book, key)
) WITHOUT ROWID;
CREATE INDEX forgotten_latest ON forgotten (book, latest);
"""

# The forgotten rows by the position they were written at: a start drops those written after what its
# memory holds (:meth:`Journal.drop_forgotten`), a range of this index -- without it, a scan of the table,
# which grows with the peer's life (the evidence books are never dropped). Version 4 added it; a file of an
# earlier version gets it when opened.
_FORGOTTEN_POSITION_V4: Final = "CREATE INDEX forgotten_position ON forgotten (position)"

_SCHEMA: Final = f"""
-- did:key strings (about 56 bytes) interned as small integers: rows and the index stay small.
CREATE TABLE issuers (
    id INTEGER PRIMARY KEY,
    did TEXT NOT NULL UNIQUE
);
CREATE TABLE statements (
    id INTEGER PRIMARY KEY,            -- rowid order is journal order
    digest BLOB NOT NULL UNIQUE,
    direction TEXT NOT NULL CHECK (direction IN ('{OUT}', '{IN}')),
    issuer INTEGER NOT NULL REFERENCES issuers (id),
    seq INTEGER NOT NULL,
    negotiation_id BLOB NOT NULL,
    body TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    envelope BLOB NOT NULL,            -- exactly as signed or received
    nonce BLOB NOT NULL DEFAULT x''    -- the header's nonce (RPL-001 reads it from here)
);
-- Never two of our statements at one seq (CHN-004), whatever the Python does. This index is
-- also our chain heads: an issuer's head is its highest outgoing seq (see chain_head).
CREATE UNIQUE INDEX statements_out_seq ON statements (issuer, seq) WHERE direction = '{OUT}';
{_INDEXES_V2}
CREATE TABLE answers (
    request BLOB PRIMARY KEY REFERENCES statements (digest),
    replies BLOB NOT NULL              -- msgpack array of reply digests, in reply order
) WITHOUT ROWID;
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL                -- msgpack
) WITHOUT ROWID;
{_FORGOTTEN_V3};
{_FORGOTTEN_POSITION_V4};
"""

_INSERT: Final = (
    "INSERT INTO statements (digest, direction, issuer, seq, negotiation_id, body, at_ms, envelope, nonce) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_META: Final = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE_META: Final = "DELETE FROM meta WHERE key = ?"
_ISSUER_ID: Final = "SELECT id FROM issuers WHERE did = ?"
_NEW_ISSUER: Final = "INSERT INTO issuers (did) VALUES (?)"
_DIRECTION: Final = "SELECT direction FROM statements WHERE digest = ?"
_ANSWER: Final = "INSERT INTO answers (request, replies) VALUES (?, ?) ON CONFLICT DO NOTHING"
# The literal direction lets SQLite use the partial index statements_out_seq (a bound parameter would not).
_OUT_AT_SEQ: Final = f"SELECT digest FROM statements WHERE issuer = ? AND seq = ? AND direction = '{OUT}'"
# A bare column beside max() comes from the row holding the maximum (SQLite's documented rule), and
# SQLite answers max() on an index prefix with one seek: O(log n), not a scan of the issuer's rows.
_HEAD: Final = f"SELECT max(seq), digest FROM statements WHERE issuer = ? AND direction = '{OUT}'"
_LOG_RANGE: Final = (
    f"SELECT envelope FROM statements WHERE issuer = ? AND seq >= ? AND direction = '{OUT}' "
    "ORDER BY seq LIMIT ?"
)


class JournalError(Exception):
    """Root of the journal's local faults (see the module docstring for why not CoopError).

    A plain JournalError wraps an SQLite failure (I/O error, full disk, lock
    timeout). After one during a write the journal refuses further writes: a
    failed commit may or may not have reached the disk, so the only safe head
    is the one read back by reopening the file.
    """


class JournalConflict(JournalError):
    """A write would make the journal contradict itself: a second, different
    statement at a used seq, a statement that does not extend its issuer's head,
    or different replies to a request already answered. Nothing was written.
    """


class JournalLocked(JournalError):
    """Another open Journal (usually another process) holds the file's lock: one writer per journal."""


class JournalCorrupt(JournalError):
    """The file is not a consistent a2a-coop journal (damaged, foreign, or missing a row it names)."""


class JournalSchemaUnknown(JournalError):
    """The journal's schema version is one this build does not know (written by a newer a2a-coop?)."""


class JournalKindMismatch(JournalError):
    """The journal is the other kind's: a peer's opened for an escrow, or an escrow's for a peer. Refused
    before anything is written, so the journal is left as it was (each kind marks a journal as its own
    with the Mandates it runs under, and a journal holding both marks is neither's).

    Attributes:
        path: the journal's file.
        found: ``"peer"`` or ``"escrow"``: what ran on it.
        wanted: what was opening it.
    """

    def __init__(self, path: Path | str, found: str, wanted: str) -> None:
        self.path, self.found, self.wanted = Path(path), found, wanted
        ran = "a peer (serve, offer, PeerNode)" if found == "peer" else "an escrow (escrow serve, EscrowNode)"
        super().__init__(
            f"{path} is {'a peer' if found == 'peer' else 'an escrow'}'s journal ({ran} ran on it), not "
            f"{'a peer' if wanted == 'peer' else 'an escrow'}'s: each runs on a journal of its own"
        )


# The marks of a journal's kind: the meta rows where a peer (a2a_coop.runtime.peer.META_OWN_MANDATES) and
# an escrow (a2a_coop.runtime.node.META_ESCROW_MANDATES) keep the Mandates their runs started with.
PEER_MARK: Final = "a2a-coop/own-mandates"
ESCROW_MARK: Final = "escrow/own-mandates"


def journal_kind(journal: Any) -> str | None:
    """``"peer"`` or ``"escrow"``: what ran on ``journal`` (anything with ``get_meta``); None for a new
    journal, or one that holds both marks (an older release's mistake)."""
    peer = journal.get_meta(PEER_MARK) is not None
    escrow = journal.get_meta(ESCROW_MARK) is not None
    return None if peer == escrow else "peer" if peer else "escrow"


def check_journal_kind(journal: Any, wanted: str) -> None:
    """Raise :class:`JournalKindMismatch` if ``journal`` is the other kind's than ``wanted``."""
    found = journal_kind(journal)
    if found is not None and found != wanted:
        raise JournalKindMismatch(getattr(journal, "path", "the journal"), found, wanted)


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _pack_meta(meta: Mapping[str, Any] | None) -> list[tuple[str, bytes | None]]:
    """A batch's meta values packed; None (a row to delete) stays None."""
    return [(key, None if value is None else _pack(value)) for key, value in (meta or {}).items()]


def _unpack(data: bytes, what: str = "a value") -> Any:
    """A stored value; JournalCorrupt, not msgpack's ValueError, when its bytes were damaged."""
    try:
        return msgpack.unpackb(data, raw=False)
    except ValueError as exc:  # msgpack's ExtraData, FormatError, StackError and a truncation are ValueErrors
        raise JournalCorrupt(f"{what} is damaged ({exc})") from None


def meta_of_kind(value: Any, what: str, kind: type, items: type | None = None) -> Any:
    """``value`` (a journal record read back), checked to be a ``kind`` -- a list of ``items`` when
    given; JournalCorrupt names ``what`` otherwise (a damaged file, not a bug to trace back)."""
    if value is None or (
        isinstance(value, kind)
        and (items is None or (isinstance(value, list) and all(isinstance(v, items) for v in value)))
    ):
        return value
    raise JournalCorrupt(f"{what} is damaged (not the {kind.__name__} written there)")


class Ticket:
    """A write staged for the next group commit (:meth:`Journal.stage`); ``done`` once it committed or
    failed, with ``error`` set in the second case."""

    __slots__ = ("done", "error", "fn")

    def __init__(self, fn: Callable[[sqlite3.Cursor], None]) -> None:
        self.fn = fn
        self.done = False
        self.error: BaseException | None = None


_HOLDS_MIN_BITS_LOG2: Final = 16
# 2 MiB at most: a long life's memory stays bounded, and past a million keys the filter fills (false
# positives 15% at four million keys, each one query) instead of growing.
_HOLDS_MAX_BITS_LOG2: Final = 24
_HOLDS_BITS_PER_KEY: Final = 16  # two probes: 1.4% false positives when full, half that on average
# Keys whose hash a filter keeps (:meth:`_Holds._hash`): the statements of some 16 requests in flight (a
# key is asked about, then added, within one request). Bounded small: kept keys are memory no trade frees
# until it is pushed out (256 showed as 1.5 kB a settled trade over tests/test_bounded_memory.py's 40).
_HOLDS_HASHED_MAX: Final = 32
_HOLDS_SCAN: Final = (
    "SELECT i.did, s.nonce, s.negotiation_id FROM statements s JOIN issuers i ON i.id = s.issuer"
)
# A growing filter is filled from the file this many rows at a time, one step per transaction: no
# commit scans more, however large the journal (a scan of a million rows in one commit stalled it ~1 s).
_HOLDS_GROW_ROWS: Final = 512
_HOLDS_GROW_SCAN: Final = (
    "SELECT s.id, i.did, s.nonce, s.negotiation_id FROM statements s JOIN issuers i ON i.id = s.issuer "
    "WHERE s.id > ? AND s.id <= ? ORDER BY s.id LIMIT ?"
)
# Journal meta: the filter's hash key (16 random bytes), and the filter as a node last journaled it:
# [format, position of the last row it holds, that row's digest, log2 of its bits, keys, its bits].
META_FILTER_KEY: Final = "journal/filter-key"
META_FILTER: Final = "journal/filter"
_FILTER_FORMAT: Final = 1
_HOLDS_SCAN_AFTER: Final = _HOLDS_SCAN + " WHERE s.id > ?"
# Digests :meth:`Journal.by_digest` remembers as absent between two transactions, at most.
_ABSENT_MAX: Final = 256


class _Holds:
    """A Bloom filter over the journal's (issuer, nonce) pairs and negotiation ids (see the module
    docstring): :meth:`may_hold` False means certainly not held.

    Two probes, the halves of a 64-bit BLAKE2b of the key under the journal's secret ``hash_key``
    (:data:`META_FILTER_KEY`), so nobody outside can aim statements at chosen bits, and the same in every
    process, so the filter can be journaled and loaded again (:meth:`state`, :meth:`from_state`); in C:
    the filter costs far less than one query per statement. Thread-safe for its use: bits are set by one
    thread at a time (the journal's, in its transaction), and a reader racing an insert sees the row's
    bits either set (a query follows) or not yet set, when the row is not committed either; the kept
    hashes change under a lock."""

    __slots__ = (
        "_bits",
        "_capacity",
        "_evicting",
        "_hash_key",
        "_hashed",
        "_last_negotiation",
        "_log2",
        "_mask",
        "keys",
    )

    def __init__(self, expected_keys: int, hash_key: bytes, *, log2: int | None = None) -> None:
        if log2 is None:
            log2 = max(_HOLDS_MIN_BITS_LOG2, (expected_keys * 2 * _HOLDS_BITS_PER_KEY).bit_length())
            log2 = min(log2, _HOLDS_MAX_BITS_LOG2)
        self._log2 = log2
        self._hash_key = hash_key
        # The last keys hashed, with their hash (a pure function of the key under ``hash_key``, which
        # never changes): a statement's (issuer, nonce) is asked (:meth:`may_hold`, one to three times
        # as its replay checks run) and then added, so without it each key was hashed two to four times
        # (tests/test_journal.py counts).
        self._hashed: dict[object, int] = {}
        self._evicting = threading.Lock()  # taken by a miss alone: a hit is one atomic dict read
        self._mask = (1 << log2) - 1
        self._bits = bytearray(1 << (log2 - 3))
        # Keys it takes before it doubles; at its largest size it never does, and fills instead.
        self._capacity = (1 << log2) // _HOLDS_BITS_PER_KEY if log2 < _HOLDS_MAX_BITS_LOG2 else -1
        self.keys = 0  # distinct keys added (as far as the filter can tell)
        # The statements of one negotiation come in runs: its id, once added, sets no new bit.
        self._last_negotiation = b""

    @property
    def full(self) -> bool:
        return 0 <= self._capacity < self.keys

    def state(self) -> list[Any]:
        """What :meth:`from_state` makes the same filter of: log2 of its size, its keys, its bits (not
        copied: a copy of up to 2 MiB at each snapshot left the heap about 4.5 MB larger; bits set
        meanwhile are rows after the position journaled with it, false positives at worst)."""
        return [self._log2, self.keys, self._bits]

    @classmethod
    def from_state(cls, state: Any, hash_key: bytes) -> _Holds | None:
        """The filter :meth:`state` described, or None if ``state`` describes none."""
        if not isinstance(state, list) or len(state) != 3:
            return None
        log2, keys, bits = state
        if not (isinstance(log2, int) and isinstance(keys, int) and isinstance(bits, bytes)):
            return None
        if not 3 <= log2 <= _HOLDS_MAX_BITS_LOG2 or len(bits) != 1 << (log2 - 3) or keys < 0:
            return None
        holds = cls(0, hash_key, log2=log2)
        holds._bits[:] = bits
        holds.keys = keys
        return holds

    def _hash(self, key: object) -> int:
        hashed = self._hashed
        h = hashed.get(key)
        if h is None:
            h = self._hash_of(key)
            # The journal's committing thread adds rows while handler threads ask: two threads evicting
            # "the oldest" at once deleted one key twice (a KeyError: an Exchange answered INTERNAL).
            with self._evicting:
                if len(hashed) >= _HOLDS_HASHED_MAX:
                    del hashed[next(iter(hashed))]  # the oldest: at most a few trades' keys are kept
                hashed[key] = h
        return h

    def _hash_of(self, key: object) -> int:
        if isinstance(key, tuple):  # (issuer, nonce)
            data = key[0].encode() + b"\0" + key[1]
        else:  # a negotiation id
            data = b"\1" + key  # type: ignore[operator]
        return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=self._hash_key).digest(), "little")

    def add(self, key: object) -> None:
        self._set(self._hash(key))

    def _set(self, h: int) -> None:
        bits, mask = self._bits, self._mask
        a, b = h & mask, (h >> 32) & mask
        bit_a, bit_b = 1 << (a & 7), 1 << (b & 7)
        if not (bits[a >> 3] & bit_a and bits[b >> 3] & bit_b):
            bits[a >> 3] |= bit_a
            bits[b >> 3] |= bit_b
            self.keys += 1

    def may_hold(self, key: object) -> bool:
        h = self._hash(key)
        bits, mask = self._bits, self._mask
        a, b = h & mask, (h >> 32) & mask
        return bool(bits[a >> 3] & (1 << (a & 7)) and bits[b >> 3] & (1 << (b & 7)))

    def add_row(self, issuer: str, nonce: bytes, negotiation_id: bytes, *, scanned: bool = False) -> None:
        """Add a row's keys; ``scanned``: a row read back from the file (at open, or as a filter grows),
        whose keys nobody asked about: hashed without keeping them (:meth:`_hash`)."""
        hash_of = self._hash_of if scanned else self._hash
        self._set(hash_of((issuer, nonce)))
        if negotiation_id and negotiation_id != self._last_negotiation:
            self._set(hash_of(negotiation_id))
            self._last_negotiation = negotiation_id

    @classmethod
    def scan(cls, cur: sqlite3.Cursor, keys: int, hash_key: bytes) -> _Holds:
        """A filter over every row of the file, with room for twice ``keys`` keys (at open), or, when the
        journal's meta holds one (:data:`META_FILTER`) over its rows up to a position that holds the row
        it names there, that one and the rows after it."""
        stored = _unpack_meta(cur, META_FILTER)
        after, holds = 0, None
        if isinstance(stored, list) and len(stored) == 6 and stored[0] == _FILTER_FORMAT:
            _, position, digest, *state = stored
            row = cur.execute("SELECT digest FROM statements WHERE id = ?", (position,)).fetchone()
            if isinstance(position, int) and row is not None and row[0] == digest:
                holds = cls.from_state(state, hash_key)
                after = position
        if holds is None:
            after, holds = 0, cls(keys, hash_key)
        for issuer, nonce, negotiation_id in cur.execute(_HOLDS_SCAN_AFTER, (after,)):
            holds.add_row(issuer, nonce, negotiation_id, scanned=True)
        return holds


class _Growth:
    """A filter twice the size of a full one, being filled from the file a page of rows per transaction
    (:meth:`Journal._grow`), while the full one still answers: the rows up to ``upto`` (every row there
    was when it began) by scan, every row written since directly. Once the scan reaches ``upto`` it
    holds every row, and takes over."""

    __slots__ = ("after", "holds", "upto")

    def __init__(self, keys: int, upto: int, hash_key: bytes) -> None:
        self.holds = _Holds(keys, hash_key)
        self.after = 0  # rows up to this id are in
        self.upto = upto

    def step(self, cur: sqlite3.Cursor) -> bool:
        """Scan the next page of rows into the new filter; True once every row up to ``upto`` is in."""
        rows = cur.execute(_HOLDS_GROW_SCAN, (self.after, self.upto, _HOLDS_GROW_ROWS)).fetchall()
        add_row = self.holds.add_row
        for _, issuer, nonce, negotiation_id in rows:
            add_row(issuer, nonce, negotiation_id, scanned=True)
        if rows:
            self.after = rows[-1][0]
        return len(rows) < _HOLDS_GROW_ROWS or self.after >= self.upto


class Journal:
    """A peer's durable record of what it signed, received and answered.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    Every ``record_*`` and :meth:`put_meta` call is one ``BEGIN IMMEDIATE ...
    COMMIT`` transaction: all of it is on disk when the call returns, or none of
    it is.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, durability: Durability, lock_fd: int | None = None
    ) -> None:
        """Use :meth:`open`."""
        self._conn = conn
        self._lock_fd = lock_fd
        self._cur = conn.cursor()
        # What the file holds, for reads of what is not there (the writer only: see the module docstring).
        self._holds: _Holds | None = None
        self._growth: _Growth | None = None  # the larger filter being filled, once this one is full
        stored_key = _unpack_meta(self._cur, META_FILTER_KEY)
        # The filter's hash key: the journal's, or a new one, journaled with the filter (filter_meta).
        self._hash_key = stored_key if isinstance(stored_key, bytes) else os.urandom(16)
        if lock_fd is not None:
            rows = self._cur.execute("SELECT count(*) FROM statements").fetchone()[0]
            self._holds = _Holds.scan(self._cur, rows, self._hash_key)
        self.path = path
        self.durability = durability
        self._failed: BaseException | None = None
        # Caches of committed facts, so never wrong: did -> issuer id (ids never change), and
        # issuer id -> (seq, digest) of its last outgoing statement. A head may be out of date
        # only if another connection writes too; then the unique index refuses the insert and
        # the head is read again. They save two queries per append.
        self._ids: dict[str, int] = {}
        self._heads: dict[int, tuple[int, bytes]] = {}
        # What the open transaction added; promoted to the caches only once it commits.
        self._new_ids: dict[str, int] = {}
        self._new_heads: dict[int, tuple[int, bytes]] = {}
        # Group commit (see stage/wait): writes staged in order, one leader committing at a time.
        self._group = threading.Condition(threading.Lock())
        self._staged: list[Ticket] = []
        # The staged writes no commit took yet that a later write of the same slot replaces in place
        # (:meth:`stage`'s ``slot``): slot -> its ticket.
        self._slots: dict[Hashable, Ticket] = {}
        self._leading = False
        self._waiting = 0  # threads waiting for the leader's commit: none to wake, no notify (sequential)
        # One thread at a time on the connection (a transaction, or a read that must not see one open).
        self._io = threading.RLock()
        # Lookups by digest, nonce, seq or negotiation (idempotent answers, a forgotten statement) use a
        # second connection: in WAL mode it reads the last commit while the writer's next one is being
        # fsync'd, so a reader never waits for the disk (opened on first use).
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        # Transactions run so far, and the digests :meth:`by_digest` found no statement of since the
        # count was last what it is (the writer only): statements are only ever inserted, by this
        # connection, so "none" stays true until the next transaction. An escrow asks it of each new
        # statement of a Submit up to four times (its precheck, took, the Submit's own checks): one query.
        self._transactions = 0
        self._absent: tuple[int, set[bytes]] = (0, set())

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, durability: Durability = "full", lock: bool = True) -> Journal:
        """Open (or create) a journal file.

        Args:
            path: the SQLite file; its directory must exist. WAL mode needs a
                real file (``":memory:"`` is refused).
            durability: ``"full"`` (the default: every commit fsync'd) or
                ``"normal"`` (survives a process crash, not a power cut; see
                the module docstring). Never use ``"normal"`` for a live peer.
            lock: hold the journal's lock until :meth:`close` (the default). False only to read
                a journal another process may be writing; two writers would then rely on the
                database's own guards alone.

        Returns:
            The open journal, its schema created if the file was new.

        Raises:
            JournalCorrupt: the file is not an a2a-coop journal, or is damaged.
            JournalSchemaUnknown: the file's schema version is not one this build knows.
            JournalLocked: another open Journal holds the lock (``lock=True`` only).
            JournalError: SQLite could not open the file or enable WAL.
            ValueError: an unknown ``durability``.
        """
        if durability not in _SYNCHRONOUS:
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        if str(path) in ("", ":memory:"):  # SQLite's names for a database in memory (or a temp file)
            raise JournalError(f"a journal needs a file: SQLite keeps {str(path)!r} in memory, without WAL")
        path = Path(path)
        # The lock first, then the connection: a writer's connection is only ever opened under the lock,
        # so one that holds it knows no other writer has the file open (discard_if_empty relies on it).
        lock_fd = _lock(path) if lock else None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            if lock_fd is not None:
                _unlock(path, lock_fd)
            raise JournalError(f"cannot open {path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _refuse_foreign(conn, path)  # before WAL: switching a foreign file's journal mode changes it
            _configure(conn, durability)
            _ensure_schema(conn, path)
        except BaseException as exc:
            conn.close()
            if lock_fd is not None:
                _unlock(path, lock_fd)
            if isinstance(exc, sqlite3.OperationalError):  # locked past busy_timeout, unreadable, ...
                raise JournalError(f"{path}: {exc}") from exc
            if isinstance(exc, sqlite3.DatabaseError):  # "file is not a database", "... is malformed"
                raise JournalCorrupt(f"{path}: {exc}") from exc
            raise
        return cls(conn, path, durability, lock_fd)

    def close(self) -> None:
        """Close the connection and release the lock. Everything recorded is already on disk.

        Waits for a transaction under way in another thread (a witness's late job, say): closing a
        connection SQLite is still using from another thread crashes the process. A write after this
        fails with JournalError (the connection is closed)."""
        self._close_connections()
        if self._lock_fd is not None:  # after the connection: no second writer while this one is open
            fd, self._lock_fd = self._lock_fd, None
            _unlock(self.path, fd)

    def _close_connections(self) -> None:
        """Close the reading connection and the writing one (waiting for a transaction under way)."""
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._io:
            self._conn.close()

    def discard_if_empty(self) -> bool:
        """Close this journal and, if it holds no statement, delete it: the database, its ``-wal``,
        ``-shm`` and ``-journal`` files, then its lock file. Returns whether it was deleted.

        For a journal this process just created and then had no use for (a command that failed before
        it signed or took anything): meta alone (a remembered mandate) is not worth a file. A journal
        that holds a statement is only closed: its chain must outlive the process that wrote it. Only a
        writer (``lock=True``) may discard: the files go while it still holds the lock, and no other
        writer has them open (:meth:`open` connects only under the lock).
        """
        with self._io:
            held = "SELECT 1 FROM statements UNION ALL SELECT 1 FROM answers LIMIT 1"
            empty = self._cur.execute(held).fetchone() is None
        if not empty or self._lock_fd is None:
            self.close()
            return False
        self._close_connections()
        fd, self._lock_fd = self._lock_fd, None
        try:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path.with_name(self.path.name + suffix))
        finally:
            _unlock(self.path, fd)
        return True

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes -------------------------------------------------------------------

    def _write(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(cursor, *args)`` in a transaction that is durable when this returns (group commit:
        the transaction may hold other threads' writes too, see :meth:`stage`)."""
        self.wait(self.stage(_bind(fn, args)))

    def stage(self, fn: Callable[[sqlite3.Cursor], None], *, slot: Hashable | None = None) -> Ticket:
        """Queue the write ``fn(cursor)``; it commits, after every write staged before it, when some
        thread waits (:meth:`wait`) for it or for a later one. Does not block on the disk.

        Group commit: writes staged while a commit is on its way to the disk go to the next
        transaction together, one fsync for all of them. Nothing staged may leave the process before
        :meth:`wait` returns for it (write-ahead).

        ``slot``: what the write overwrites (a meta key, a book's row). A write of a slot staged and not
        yet taken by a commit is replaced in place by this one -- its ticket returned, waited for as
        before -- so a row rewritten many times between two commits is written once (proof32): what is
        staged after it commits with it or later, as before.
        """
        with self._group:
            held = self._slots.get(slot) if slot is not None else None
            if held is not None:
                held.fn = fn
                return held
            ticket = Ticket(fn)
            self._staged.append(ticket)
            if slot is not None:
                self._slots[slot] = ticket
        return ticket

    def stage_batch(
        self,
        items: Sequence[tuple[VerifiedStatement | None, Sequence[VerifiedStatement], bool]],
        *,
        at_ms: int,
        meta: Mapping[str, Any] | None = None,
    ) -> Ticket:
        """:meth:`record_batch`, staged (see :meth:`stage`); :meth:`wait` for it before sending.

        Raises:
            TypeError: msgpack cannot encode a ``meta`` value (nothing is staged).
        """
        return self.stage(partial(self._put_batch, items=items, at_ms=at_ms, packed_meta=_pack_meta(meta)))

    def wait(self, ticket: Ticket) -> None:
        """Return once ``ticket``'s write is durable; raise what it raised if it failed.

        The first waiter becomes the leader: it commits everything staged so far in one transaction
        while the others wait, then hands over to the next one whose write is still staged.

        Raises:
            JournalConflict, ValueError, TypeError: this write was refused; nothing of it was written
                (the other writes of its group are committed without it).
            JournalError: SQLite failed; see :meth:`_transaction`.
        """
        with self._group:
            while not ticket.done:
                if self._leading:
                    self._waiting += 1
                    try:
                        self._group.wait()
                    finally:
                        self._waiting -= 1
                    continue
                self._leading = True
                batch, self._staged, self._slots = self._staged, [], {}
                self._group.release()
                try:
                    self._commit(batch)
                finally:
                    self._group.acquire()
                    self._leading = False
                    if self._waiting:
                        self._group.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _commit(self, batch: list[Ticket]) -> None:
        """Commit the staged writes in one transaction; if one is refused, each alone, in order."""
        try:
            try:
                self._transaction(partial(_run_all, [t.fn for t in batch]))
            except (JournalConflict, ValueError, TypeError) as exc:
                if len(batch) == 1:
                    batch[0].error = exc
                    return
                for t in batch:  # one write refused: find it, and commit the others without it
                    try:
                        self._transaction(t.fn)
                    except Exception as single:
                        t.error = single
        except BaseException as exc:
            for t in batch:
                if t.error is None:
                    t.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for t in batch:
                t.done = True

    def _transaction(self, fn: Callable[[sqlite3.Cursor], None]) -> None:
        """Run ``fn(cursor)`` inside BEGIN IMMEDIATE ... COMMIT.

        Our own refusals (JournalConflict, ValueError) roll back and leave the
        journal usable. An SQLite failure fails the journal: it may have struck
        mid-commit, and what reached the disk is unknown until the file is reopened.
        """
        with self._io:
            if self._failed is not None:
                raise JournalError(
                    f"an earlier write failed ({self._failed}); reopen the journal to read the true head"
                )
            cur = self._cur
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # nothing started (e.g. locked past busy_timeout): still sound
                raise JournalError(f"cannot start a transaction: {exc}") from exc
            try:
                fn(cur)
                if self._growth is not None:
                    self._grow(cur)
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed = exc
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise JournalError(f"write failed: {exc}") from exc
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                self._ids.update(self._new_ids)
                self._heads.update(self._new_heads)
            finally:
                self._new_ids.clear()
                self._new_heads.clear()
                self._transactions += 1  # after the COMMIT: what a read found absent before may be there

    def _issuer_id(self, cur: sqlite3.Cursor, did: str) -> int | None:
        """The interned id of ``did``, or None if the journal has never seen it."""
        iid = self._ids.get(did) or self._new_ids.get(did)
        if iid is None:
            row = cur.execute(_ISSUER_ID, (did,)).fetchone()
            if row is not None:
                iid = self._ids[did] = row[0]  # committed before any open transaction: safe to cache
        return iid

    def _intern(self, cur: sqlite3.Cursor, did: str) -> int:
        """The interned id of ``did``, made in the open transaction if it is new."""
        iid = self._issuer_id(cur, did)
        if iid is None:
            cur.execute(_NEW_ISSUER, (did,))
            iid = self._new_ids[did] = cur.execute(_ISSUER_ID, (did,)).fetchone()[0]
        return iid

    def _put_outgoing(self, cur: sqlite3.Cursor, vs: VerifiedStatement, at_ms: int) -> None:
        """Store one of our statements if it extends its issuer's head; a no-op if already stored."""
        if not vs.envelope:
            raise ValueError("refusing an unsigned candidate: journal the signed statement")
        # The header's fields as the statement keeps them read (VerifiedStatement: read once when it was
        # checked, the issuer interned), not read from the message again: each upb read makes a new object,
        # and a new DID string is hashed again at each lookup. Only prev is not kept.
        issuer, seq, nonce, nid = vs.issuer, vs.seq, vs.nonce, vs.negotiation_id
        iid = self._ids.get(issuer) or self._intern(cur, issuer)
        head = self._new_heads.get(iid) or self._heads.get(iid)
        if head is None or seq != head[0] + 1 or vs.prev != head[1]:
            head = _read_head(cur, iid)  # a cold cache, a resend, or a refusal: ask the file
            if head is not None and (seq != head[0] + 1 or vs.prev != head[1]):
                _not_next(cur, vs, iid, head)
                return
        # The first statement of ours this journal sees may start above 0 (a key with history
        # elsewhere): the journal can only guard the seqs it has been told about.
        self._hold(cur, issuer, nonce, nid)
        try:
            cur.execute(_INSERT, (vs.digest, OUT, iid, seq, nid, vs.body, at_ms, vs.envelope, nonce))
        except sqlite3.IntegrityError:  # the digest is stored already, or the seq is (another writer)
            if cur.execute(_DIRECTION, (vs.digest,)).fetchone() == (IN,):
                raise JournalConflict(
                    f"statement {vs.digest.hex()} is already journaled as received, not sent"
                ) from None
            head = _read_head(cur, iid)
            assert head is not None  # the unique index fired, so the issuer has statements
            _not_next(cur, vs, iid, head)
            return
        self._new_heads[iid] = (seq, vs.digest)

    def _hold(self, cur: sqlite3.Cursor, issuer: str, nonce: bytes, nid: bytes) -> None:
        """Add a row about to be inserted to the filter, before the insert: a rolled-back row stays in
        it (a false positive, a query), a committed one is never missing.

        A full filter keeps answering while one twice its size is filled beside it (:class:`_Growth`):
        each row written goes into both, and each transaction scans at most :data:`_HOLDS_GROW_ROWS`
        older rows of the file into the new one (:meth:`_grow`), so no commit stalls on a scan of the
        whole journal."""
        holds = self._holds
        if holds is None:
            return
        holds.add_row(issuer, nonce, nid)
        growth = self._growth
        if growth is None:
            if not holds.full:
                return
            # Every row there is now is scanned; every row from this one on is added directly.
            upto = cur.execute("SELECT max(id) FROM statements").fetchone()[0] or 0
            growth = self._growth = _Growth(holds.keys, upto, self._hash_key)
        growth.holds.add_row(issuer, nonce, nid)

    def _grow(self, cur: sqlite3.Cursor) -> None:
        """One page of the growing filter's scan, at the end of a transaction; it takes over once done.

        In the writer's transaction, so the scan sees every row there was when the growth began (the
        one writer's own); a row rolled back after it was scanned is a false positive, like any
        rolled-back row, and one that takes its id later is added directly."""
        growth = self._growth
        if growth is not None and growth.step(cur):
            self._holds, self._growth = growth.holds, None

    def filter_meta(self) -> dict[str, Any]:
        """The filter as meta rows to journal (with a node's snapshot, in its commit): what the next open
        loads instead of scanning the rows it holds (see the module docstring); none when there is no
        filter, or one growing."""
        with self._io:
            holds = self._holds
            if holds is None or self._growth is not None:
                return {}
            row = self._cur.execute("SELECT id, digest FROM statements ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return {}
            # Every committed row up to here is in the filter (rows reach it before their insert).
            filtered = [_FILTER_FORMAT, row[0], row[1], *holds.state()]
        return {META_FILTER_KEY: self._hash_key, META_FILTER: filtered}

    def _maybe_held(self, key: object) -> bool:
        """False if the journal certainly holds no row with ``key``; True if it may."""
        holds = self._holds
        return holds is None or holds.may_hold(key)

    def _put_outgoing_many(
        self, cur: sqlite3.Cursor, statements: Sequence[VerifiedStatement], at_ms: int
    ) -> None:
        for vs in statements:
            self._put_outgoing(cur, vs, at_ms)

    def _put_incoming(
        self,
        cur: sqlite3.Cursor,
        vs: VerifiedStatement,
        replies: Sequence[VerifiedStatement],
        at_ms: int,
        answered: bool = True,
    ) -> None:
        """Store a request (a no-op if stored before), our replies, and (if ``answered``) the
        request -> replies map."""
        if not vs.envelope:
            raise ValueError("refusing a statement without its envelope")
        issuer, nonce, nid = vs.issuer, vs.nonce, vs.negotiation_id  # as kept (see _put_outgoing)
        self._hold(cur, issuer, nonce, nid)
        try:
            cur.execute(
                _INSERT,
                (vs.digest, IN, self._intern(cur, issuer), vs.seq, nid, vs.body, at_ms, vs.envelope, nonce),
            )
        except sqlite3.IntegrityError:  # stored before: a retried request, or one of our own statements
            if cur.execute(_DIRECTION, (vs.digest,)).fetchone() != (IN,):
                raise JournalConflict(
                    f"statement {vs.digest.hex()} is our own, not a request to us"
                ) from None
        for reply in replies:
            self._put_outgoing(cur, reply, at_ms)
        if not answered:
            return
        digests = [r.digest for r in replies]
        cur.execute(_ANSWER, (vs.digest, _pack(digests)))
        if cur.rowcount == 0:
            held = cur.execute("SELECT replies FROM answers WHERE request = ?", (vs.digest,)).fetchone()
            if _unpack(held[0]) != digests:
                raise JournalConflict(
                    f"request {vs.digest.hex()} was already answered with other replies; "
                    "resend those (replies_for) instead"
                )

    def record_outgoing(self, vs: VerifiedStatement, *, at_ms: int) -> None:
        """Write-ahead: persist a statement we signed, and so advance our head, BEFORE sending it.

        Recording the same statement again is a no-op, so a resend after a
        crash is safe.

        Args:
            vs: the signed statement (not an unsigned candidate).
            at_ms: when we recorded it (the caller's clock).

        Raises:
            JournalConflict: a different statement of ours holds this seq, or
                this one does not extend our head (skips a seq, or its prev is
                not our previous statement). Do NOT send it: that would be
                equivocation (CHN-004).
            JournalError: SQLite failed; the statement may or may not be
                durable, so do not send it, and reopen the journal.
            ValueError: ``vs`` has no envelope (unsigned).
        """
        self._write(self._put_outgoing, vs, at_ms)

    def record_outgoing_many(self, statements: Sequence[VerifiedStatement], *, at_ms: int) -> None:
        """:meth:`record_outgoing` for several statements, in order, in one transaction (one fsync).

        All or nothing: on any error below, nothing is recorded.

        Raises:
            JournalConflict, JournalError, ValueError: as :meth:`record_outgoing`.
        """
        self._write(self._put_outgoing_many, statements, at_ms)

    def record_incoming(
        self,
        vs: VerifiedStatement,
        replies: Sequence[VerifiedStatement],
        *,
        at_ms: int,
        answered: bool = True,
    ) -> None:
        """Persist a received statement, our replies to it, and the idempotency map, in one transaction.

        Call before sending the replies (they are write-ahead outgoing
        statements, advancing our head). Recording the same request with the
        same replies again is a no-op.

        Args:
            vs: the statement we received and accepted.
            replies: the statements we signed in reply, in order (may be empty).
            at_ms: when we recorded them (the caller's clock).
            answered: False for a statement we only hold (context such as a
                counterparty's mandate, or answers to our own requests): it gets
                no idempotency entry, so if it ever arrives as a request it is
                handled then.

        Raises:
            JournalConflict: the request was already answered with different
                replies (answer with :meth:`replies_for` instead), or a reply
                conflicts as in :meth:`record_outgoing`.
            JournalError: SQLite failed (see :meth:`record_outgoing`).
            ValueError: a statement has no envelope.
        """
        self._write(self._put_incoming, vs, replies, at_ms, answered)

    def record_batch(
        self,
        items: Sequence[tuple[VerifiedStatement | None, Sequence[VerifiedStatement], bool]],
        *,
        at_ms: int,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Several records in one transaction (one fsync), all or nothing.

        Each item is ``(incoming, ours, answered)``: ``incoming`` as in
        :meth:`record_incoming` (None for statements of ours alone), ``ours`` the
        statements we signed after it, in order. ``meta``: values to :meth:`put_meta` in the same
        transaction (an escrow's record of the answer it is about to give, say); a value None
        deletes the row (:meth:`delete_meta`), in that same transaction.

        Raises:
            TypeError: msgpack cannot encode a ``meta`` value (nothing is written).
        """
        self._write(self._put_batch, items, at_ms, _pack_meta(meta))

    def _put_batch(
        self,
        cur: sqlite3.Cursor,
        items: Sequence[tuple[VerifiedStatement | None, Sequence[VerifiedStatement], bool]],
        at_ms: int,
        packed_meta: Sequence[tuple[str, bytes | None]],
    ) -> None:
        for incoming, ours, answered in items:
            if incoming is None:
                for vs in ours:
                    self._put_outgoing(cur, vs, at_ms)
            else:
                self._put_incoming(cur, incoming, ours, at_ms, answered)
        for key, value in packed_meta:
            if value is None:
                cur.execute(_DELETE_META, (key,))
            else:
                cur.execute(_UPSERT_META, (key, value))

    def put_meta(self, key: str, value: Any) -> None:
        """Store a msgpack-encodable value under ``key`` (replacing any old one), durably.

        Raises:
            TypeError: msgpack cannot encode ``value``.
            JournalError: SQLite failed.
        """
        self.wait(self.stage_meta(key, value))

    def stage_meta(self, key: str, value: Any) -> Ticket:
        """:meth:`put_meta`, staged (see :meth:`stage`): durable once :meth:`wait` returns for it.

        Raises:
            TypeError: msgpack cannot encode ``value`` (nothing is staged).
        """
        return self.stage(_bind(_upsert_meta, (key, _pack(value))), slot=("meta", key))

    def delete_meta(self, key: str) -> None:
        """Remove what :meth:`put_meta` stored under ``key`` (nothing if none), durably.

        Raises:
            JournalError: SQLite failed.
        """
        self._write(lambda cur: cur.execute(_DELETE_META, (key,)))

    @property
    def writer(self) -> bool:
        """Whether this Journal holds the file's lock (opened with ``lock=True``, not closed)."""
        return self._lock_fd is not None

    def keep_forgotten(self, records: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> None:
        """ExposureArchive: store ``(book, key, latest, record)`` rows durably, each replacing any of the
        same book and key, at the position of the last statement recorded.

        Raises:
            JournalError: SQLite failed, or this is a reader (``lock=False``: another process may be
                writing; what it would have written stays in memory).
        """
        self.wait(self.stage_forgotten(records))

    def stage_forgotten(self, records: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> Ticket:
        """:meth:`keep_forgotten`, staged (see :meth:`stage`): durable once :meth:`wait` returns for it,
        at the position of the last statement recorded when it commits.

        Raises:
            JournalError: this is a reader (nothing is staged).
        """
        if not self.writer:
            raise JournalError(f"{self.path}: opened to read (lock=False): forgotten records are not written")
        rows = list(records)

        def put(cur: sqlite3.Cursor) -> None:
            position = cur.execute("SELECT coalesce(max(id), 0) FROM statements").fetchone()[0]
            cur.executemany(
                "INSERT OR REPLACE INTO forgotten (book, key, latest, position, record) "
                "VALUES (?, ?, ?, ?, ?)",
                [(book, key, latest, position, record) for book, key, latest, record in rows],
            )

        return self.stage(put, slot=("forgotten", *((book, key) for book, key, _, _ in rows)))

    def drop_forgotten(self, after: int) -> None:
        """Delete the forgotten rows written at a position after ``after`` (0: all), durably: a peer
        starting from a snapshot of its memory at ``after`` (or from nothing) writes them again as it
        replays the statements after it, and until then none may count. A book named with
        :data:`~a2a_coop.protocol.archive.EVIDENCE_BOOK` keeps its rows: they hold statements refused, which
        no replay reads again.

        A reader (``lock=False``) deletes nothing: the rows are another process's, which may be serving.

        Raises:
            JournalError: SQLite failed.
        """
        if self.writer:
            sql = "DELETE FROM forgotten WHERE position > ? AND substr(book, 1, ?) != ?"
            args = (after, len(EVIDENCE_BOOK), EVIDENCE_BOOK)
            self._write(lambda cur: cur.execute(sql, args))

    # -- reads --------------------------------------------------------------------

    def forgotten_since(
        self, book: bytes, latest: bytes, *, until: bytes | None = None, upto: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        """ExposureArchive: ``(key, record)`` of the rows of ``book`` whose latest is at least ``latest``
        and at most ``until`` (None: any), a range of the ``forgotten_latest`` index (``upto``: only those
        written at a position up to it)."""
        sql = "SELECT key, record FROM forgotten WHERE book = ? AND latest >= ?"
        args: tuple[Any, ...] = (book, latest)
        if until is not None:
            sql, args = sql + " AND latest <= ?", (*args, until)
        if upto is not None:
            sql, args = sql + " AND position <= ?", (*args, upto)
        rows: list[tuple[bytes, bytes]] = self._read(sql, args, many=True)
        return rows

    def _read(self, sql: str, args: tuple[Any, ...], *, many: bool = False) -> Any:
        """One query on the reading connection: rows committed so far, never waiting on a commit."""
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur = self._reader.execute(sql, args)
            return cur.fetchall() if many else cur.fetchone()

    def _committed_issuer_id(self, did: str) -> int | None:
        iid = self._ids.get(did)
        if iid is None:
            row = self._read(_ISSUER_ID, (did,))
            if row is not None:
                iid = self._ids[did] = row[0]
        return iid

    def chain_head(self, issuer: str) -> tuple[int, bytes]:
        """Where our chain continues: ``(next_seq, prev)``, or ``(0, b"")`` if we never signed.

        Seed :class:`a2a_coop.protocol.chain.ChainWriter` with it on every start. It is
        read from the statements themselves, so it covers every statement that
        could have been sent.
        """
        with self._io:
            iid = self._issuer_id(self._cur, issuer)
            head = None if iid is None else _read_head(self._cur, iid)
        return (0, b"") if head is None else (head[0] + 1, head[1])

    def replies_for(self, request_digest: bytes) -> list[bytes] | None:
        """The reply envelopes we journaled for a request, in order; None if it was never answered.

        An empty list means "answered, with no reply statements".

        Raises:
            JournalCorrupt: a reply the map names is missing.
        """
        row = self._read("SELECT replies FROM answers WHERE request = ?", (request_digest,))
        if row is None:
            return None
        out = []
        for digest in _unpack(row[0]):
            found = self._read("SELECT envelope FROM statements WHERE digest = ?", (digest,))
            if found is None:
                raise JournalCorrupt(f"reply {digest.hex()} to {request_digest.hex()} is missing")
            out.append(found[0])
        return out

    def statements(self, *, since_rowid: int = 0) -> Iterator[tuple[int, str, bytes]]:
        """Every statement after ``since_rowid``, in journal order: ``(rowid, direction, envelope)``.

        For replay on restart. Reads in pages, so writing between steps is
        safe (rows written meanwhile appear too); the first pages are small and
        grow, so a reader that stops early (a transcript's opening read in parts,
        ESC-006 (b)) reads few rows past what it took.
        """
        last, page = since_rowid, _FIRST_PAGE
        while True:
            with self._io:
                rows = self._conn.execute(
                    "SELECT id, direction, envelope FROM statements WHERE id > ? ORDER BY id LIMIT ?",
                    (last, page),
                ).fetchall()
            yield from rows
            if len(rows) < page:
                return
            last, page = rows[-1][0], min(2 * page, _PAGE)

    def last_position(self) -> tuple[int, bytes] | None:
        """``(rowid, digest)`` of the statement recorded last (committed), or None if there is none."""
        with self._io:
            row = self._cur.execute("SELECT id, digest FROM statements ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1])

    def digest_at(self, rowid: int) -> bytes | None:
        """The digest of the statement recorded at ``rowid``, or None."""
        if not 0 <= rowid <= _MAX_SQLITE_INT:
            return None
        with self._io:
            row = self._cur.execute("SELECT digest FROM statements WHERE id = ?", (rowid,)).fetchone()
        return None if row is None else row[0]

    def position_of(self, digest: bytes) -> int | None:
        """The rowid (the journal position) of the statement ``digest``, or None."""
        row = self._read("SELECT id FROM statements WHERE digest = ?", (digest,))
        return None if row is None else int(row[0])

    def by_digest(self, digest: bytes) -> bytes | None:
        """The envelope of a journaled statement (either direction), or None. A digest found absent is
        not asked of SQLite again until the next transaction (the writer only: see ``_absent``)."""
        transactions = self._transactions  # read before the query: a commit during it makes "none" stale
        absent = self._absent
        if absent[0] == transactions and digest in absent[1]:
            return None
        row = self._read("SELECT envelope FROM statements WHERE digest = ?", (digest,))
        if row is not None:
            envelope: bytes = row[0]
            return envelope
        if self._holds is not None:  # one writer (ours): nothing else inserts
            if absent[0] != transactions:
                absent = self._absent = (transactions, set())
            if len(absent[1]) < _ABSENT_MAX:
                absent[1].add(digest)
        return None

    def by_nonce(self, issuer: str, nonce: bytes, *, skip: Collection[bytes] = ()) -> bytes | None:
        """The digest of a journaled statement by ``issuer`` with header nonce ``nonce``, or None; ``skip``:
        digests passed over (a key's own KeyRevocations, which hold no nonce, KEY-013)."""
        if not self._maybe_held((issuer, nonce)):
            return None
        iid = self._committed_issuer_id(issuer)
        if iid is None:
            return None
        if not skip:
            row = self._read(
                "SELECT digest FROM statements WHERE issuer = ? AND nonce = ? LIMIT 1", (iid, nonce)
            )
            return None if row is None else row[0]
        rows = self._read(
            "SELECT digest FROM statements WHERE issuer = ? AND nonce = ? ORDER BY id LIMIT ?",
            (iid, nonce, len(skip) + 1),
            many=True,
        )
        return next((digest for (digest,) in rows if digest not in skip), None)

    def at_seq(
        self,
        issuer: str,
        seq: int,
        *,
        nearest: Literal["at", "below", "above"] = "at",
        skip: Collection[bytes] = (),
    ) -> bytes | None:
        """The envelope of ``issuer``'s journaled statement (either direction) at ``seq``, or with
        ``nearest`` the nearest one below or above it; None if there is none. ``skip``: digests of
        statements passed over (a key's own KeyRevocations, which join no chain of a sparse view, KEY-013):
        of the first ``len(skip) + 1`` rows in order, the first not among them."""
        if not 0 <= seq <= _MAX_SQLITE_INT:
            return None
        where, order = {"at": ("seq = ?", ""), "below": ("seq < ?", "DESC"), "above": ("seq > ?", "")}[
            nearest
        ]
        iid = self._committed_issuer_id(issuer)
        if iid is None:
            return None
        if not skip:
            row = self._read(
                f"SELECT envelope FROM statements WHERE issuer = ? AND {where} ORDER BY seq {order} LIMIT 1",
                (iid, seq),
            )
            return None if row is None else row[0]
        rows = self._read(
            f"SELECT digest, envelope FROM statements WHERE issuer = ? AND {where} "
            f"ORDER BY seq {order}, id LIMIT ?",
            (iid, seq, len(skip) + 1),
            many=True,
        )
        return next((envelope for digest, envelope in rows if digest not in skip), None)

    def recorded_before(self, issuer: str, digest: bytes, *, within: int = 257) -> bytes | None:
        """The envelope of ``issuer``'s statement recorded last before the statement ``digest``, at most
        ``within`` rows before it, or None. An escrow records each of its Stamps right before the
        evidence it names (at most 256 statements): for a piece of evidence, its Stamp."""
        row = self._read("SELECT id FROM statements WHERE digest = ?", (digest,))
        iid = self._committed_issuer_id(issuer)
        if row is None or iid is None:
            return None
        found = self._read(  # +issuer: walk back from the row by rowid, not through an index on issuer
            "SELECT envelope FROM statements WHERE id < ? AND id >= ? AND +issuer = ? "
            "ORDER BY id DESC LIMIT 1",
            (row[0], row[0] - within, iid),
        )
        return None if found is None else found[0]

    def negotiation(self, negotiation_id: bytes, *, upto: int | None = None) -> list[bytes]:
        """The envelopes of one negotiation's statements, in journal order (empty if none); ``upto``:
        only rows up to that rowid."""
        if not negotiation_id or not self._maybe_held(negotiation_id):
            return []
        rows = self._read(
            "SELECT envelope FROM statements WHERE negotiation_id = ? AND negotiation_id != x'' "
            "AND id <= ? ORDER BY id",
            (negotiation_id, _MAX_SQLITE_INT if upto is None else upto),
            many=True,
        )
        return [r[0] for r in rows]

    def opening(self, negotiation_id: bytes) -> bytes | None:
        """The envelope of the first statement of a negotiation journaled (its opening Offer), or None. One
        query whether the journal holds the negotiation or not -- no filter short-cut: what tells a caller
        refused a Task from a party costs the same for a Task held and for one unknown (A2A-026)."""
        row = self._read(
            "SELECT envelope FROM statements WHERE negotiation_id = ? AND negotiation_id != x'' "
            "ORDER BY id LIMIT 1",
            (negotiation_id,),
        )
        return None if row is None else bytes(row[0])

    def issued(
        self, issuer: str, bodies: Sequence[str], *, other: bool = False, limit: int = -1, from_seq: int = 0
    ) -> list[bytes]:
        """The envelopes ``issuer`` signed here (outgoing) whose body is one of ``bodies`` -- or, with
        ``other``, one of none of them -- by seq from ``from_seq``, at most ``limit`` (-1: all). For
        MND-021: whether a key signed as a principal (a Mandate) or as an agent (a statement under a
        Mandate)."""
        marks = ", ".join("?" * len(bodies))
        with self._io:
            iid = self._issuer_id(self._cur, issuer)
            if iid is None or from_seq > _MAX_SQLITE_INT:
                return []
            rows = self._cur.execute(
                f"SELECT envelope FROM statements WHERE issuer = ? AND direction = '{OUT}' AND seq >= ? "
                f"AND body {'NOT IN' if other else 'IN'} ({marks}) ORDER BY seq LIMIT ?",
                (iid, from_seq, *bodies, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def log_range(self, issuer: str, from_seq: int, limit: int) -> list[bytes]:
        """Our own chain: envelopes of ``issuer``'s outgoing statements from ``from_seq``, by seq.

        For serving GetLog. Returns at most ``limit`` envelopes (none if ``limit`` <= 0, or if
        ``from_seq`` is past any seq SQLite can store).
        """
        with self._io:
            iid = self._issuer_id(self._cur, issuer)
            if iid is None or from_seq > _MAX_SQLITE_INT:  # no seq is stored above what SQLite can hold
                return []
            rows = self._cur.execute(_LOG_RANGE, (iid, from_seq, max(limit, 0))).fetchall()
        return [r[0] for r in rows]

    def get_meta(
        self, key: str, default: Any = None, *, kind: type | None = None, items: type | None = None
    ) -> Any:
        """The value :meth:`put_meta` stored under ``key``, or ``default``.

        Raises:
            JournalCorrupt: the stored bytes do not decode, or (``kind``, and for a list ``items``) the
                value is not of the type written there -- a damaged file, not a bug to trace back.
        """
        with self._io:
            row = self._cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        value = _unpack(row[0], f"{self.path}: its record {key!r}")
        return value if kind is None else meta_of_kind(value, f"{self.path}: its record {key!r}", kind, items)

    def meta_under(self, prefix: str) -> list[tuple[str, Any]]:
        """Every ``(key, value)`` :meth:`put_meta` stored under a key that starts with ``prefix``, by key.

        For collections kept one entry a key, so that adding one writes one row, not the whole.
        """
        if not prefix:
            raise ValueError("meta_under needs a non-empty prefix")
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first string above every key with the prefix
        with self._io:
            rows = self._cur.execute(
                "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key", (prefix, upper)
            ).fetchall()
        return [(key, _unpack(value)) for key, value in rows]

    def pragmas(self) -> dict[str, Any]:
        """The settings this connection runs with, as SQLite reports them (for diagnostics and tests).

        ``synchronous`` is SQLite's number: 2 is FULL, 1 is NORMAL.
        """
        names = ("journal_mode", "synchronous", "foreign_keys", "user_version", "application_id")
        with self._io:
            return {name: self._cur.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


def _upsert_meta(cur: sqlite3.Cursor, key: str, packed: bytes) -> None:
    cur.execute(_UPSERT_META, (key, packed))


def _bind(fn: Callable[..., None], args: tuple[Any, ...]) -> Callable[[sqlite3.Cursor], None]:
    """``fn(cursor, *args)`` as a function of the cursor alone."""
    return lambda cur: fn(cur, *args)


def _run_all(fns: Sequence[Callable[[sqlite3.Cursor], None]], cur: sqlite3.Cursor) -> None:
    for fn in fns:
        fn(cur)


def _read_head(cur: sqlite3.Cursor, iid: int) -> tuple[int, bytes] | None:
    """(seq, digest) of the issuer's last outgoing statement, from the file; None if it has none."""
    last, digest = cur.execute(_HEAD, (iid,)).fetchone()
    return None if last is None else (last, digest)


def _not_next(cur: sqlite3.Cursor, vs: VerifiedStatement, iid: int, head: tuple[int, bytes]) -> None:
    """``vs`` does not extend ``head``: fine if it is stored already (a resend), else refuse it."""
    h = vs.statement.header
    seq, (last, _) = h.seq, head
    held = cur.execute(_OUT_AT_SEQ, (iid, seq)).fetchone()
    if held is not None and held[0] == vs.digest:
        return  # this very statement, recorded before (a resend after a crash)
    if held is not None:
        reason = f"seq {seq} is already used by statement {held[0].hex()}"
    elif seq > last + 1:
        reason = f"seq {seq} would skip seq {last + 1}"
    elif seq <= last:
        reason = f"seq {seq} is behind the head (next seq {last + 1})"
    else:
        reason = f"prev at seq {seq} is not the digest of our statement at seq {last}"
    raise JournalConflict(f"{reason} ({h.issuer:.64}); signing it would equivocate (CHN-004)")


def _lock(path: Path) -> int:
    """Take the exclusive lock of the journal at ``path``; the returned descriptor holds it.

    The lock is on a sidecar file, not the database: closing any descriptor of the database would
    drop the POSIX locks SQLite holds on it in this process. The holder writes its pid there, so
    that a refused second writer can say who holds the journal, and removes the file on close
    (:func:`_unlock`), so a lock is only good while its file is still the one at the path.
    """
    lock_path = _lock_path(path)
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # no such directory, no permission: SQLite could not open the file either
            raise JournalError(f"cannot open {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if not isinstance(exc, BlockingIOError):
                raise JournalError(f"cannot lock {path}: {exc.strerror or exc}") from None
            by = f" by process {holder}" if holder.isdecimal() else ""
            raise JournalLocked(f"{path} is in use{by}: one process at a time may write a journal") from None
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # its holder removed it while we waited for it: lock the file now at the path
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + "-lock")


def _unlock(path: Path, fd: int) -> None:
    """Remove the lock file, then release the lock (in that order: see :func:`_lock`)."""
    try:
        os.unlink(_lock_path(path))
    finally:
        os.close(fd)


def _unpack_meta(cur: sqlite3.Cursor, key: str) -> Any:
    row = cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else _unpack(row[0])


def _configure(conn: sqlite3.Connection, durability: Durability) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise JournalError(f"SQLite refused WAL mode (journal_mode is {mode!r})")
    conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
    conn.execute("PRAGMA foreign_keys = ON")


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's SQLite database before anything is written to it: :func:`_configure`
    switches a file to WAL, which persists in the file (its header) and left another program's
    database changed by a mistyped ``--journal``. :func:`_ensure_schema` checks the same again, in its
    transaction (a file created meanwhile by another process)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == 0 and version == 0 and conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
        raise JournalCorrupt(f"{path} is an SQLite database but not an a2a-coop journal")
    if app_id not in (0, APPLICATION_ID):
        raise JournalCorrupt(f"{path} is not an a2a-coop journal (application_id {app_id:#x})")


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema in a new file; refuse a foreign file or an unknown version."""
    conn.execute("BEGIN IMMEDIATE")  # two processes creating one file: one creates, the other sees it
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if version == 0 and app_id == 0:
            if conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                raise JournalCorrupt(f"{path} is an SQLite database but not an a2a-coop journal")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif app_id != APPLICATION_ID:
            raise JournalCorrupt(f"{path} is not an a2a-coop journal (application_id {app_id:#x})")
        elif version in (1, 2, 3):
            if version == 1:
                _migrate_v1(conn)
            if version <= 2:
                _migrate_v2(conn)
            _migrate_v3(conn)
        elif version != SCHEMA_VERSION:
            raise JournalSchemaUnknown(
                f"{path} has journal schema version {version}; this a2a-coop knows only "
                f"version {SCHEMA_VERSION} (written by a newer release?)"
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2 inside the open transaction: the nonce column, filled from the envelopes, and
    the read indexes."""
    conn.execute("ALTER TABLE statements ADD COLUMN nonce BLOB NOT NULL DEFAULT x''")
    rows = conn.execute("SELECT id, envelope FROM statements").fetchall()
    for rowid, envelope in rows:
        nonce = decode_statement(decode_envelope(envelope).payload).header.nonce
        conn.execute("UPDATE statements SET nonce = ? WHERE id = ?", (nonce, rowid))
    for stmt in _INDEXES_V2.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 2")


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Version 2 -> 3 inside the open transaction: the forgotten table, empty (its rows are derived)."""
    for stmt in _FORGOTTEN_V3.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 3")


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """Version 3 -> 4 inside the open transaction: the forgotten rows indexed by position (one pass over
    the table, once)."""
    conn.execute(_FORGOTTEN_POSITION_V4)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
