"""Write-ahead journal appends against raw SQLite inserts: ``python -m benchmarks journal``.

The question: what does the journal's bookkeeping cost on top of the fsync
every durable append has to pay anyway? Series, all on files in one temporary
directory (one disk), all with ``journal_mode=WAL`` and ``synchronous=FULL``:

* ``journal`` (the headline): :meth:`a2a_coop.runtime.journal.Journal.record_outgoing`,
  one transaction (so one WAL fsync) per append: check the statement extends
  the issuer's head, insert the row with its digest and ``(issuer, seq)``
  indexes;
* ``sqlite``: the floor, ``BEGIN IMMEDIATE; INSERT INTO t (envelope) VALUES (?);
  COMMIT`` of the same envelope bytes into a two-column WAL table, one
  transaction per insert, same row count;
* ``schema``: the journal's own schema without the journal: the same transaction shape inserting the
  same row (digest, direction, issuer, seq, negotiation id, body, time, envelope, nonce) into the
  table and its five indexes -- the unique digest and ``(issuer, seq)`` ones, and the three a peer's
  reads of forgotten statements go through (bounded memory: by nonce, by seq, by negotiation) -- with
  no Python beyond the insert. ``schema_vs_sqlite`` is what the schema costs; ``journal_vs_schema``
  what the journal's code adds on top (the head check, the Bloom filter, group commit);
* ``journal batch`` / ``sqlite batch`` (reported, not the headline):
  :meth:`~a2a_coop.runtime.journal.Journal.record_outgoing_many` and a raw
  ``executemany``, :data:`BATCH` rows per transaction.

``journal_vs_sqlite`` = journal appends/s / sqlite inserts/s, taken per round
and reported as the median; the issue's target is >= 0.8. Every envelope is a
real signed Offer of about 600 bytes, one chain per journal, signed before any
timing starts (signing is not what is measured).

Why the ratio is not 1: a WAL commit writes every B-tree page it touched as a
whole page. The raw insert touches one (the table's last leaf); the journal
touches six (that leaf and a leaf of each index, three of them at random places:
the digest, the nonce and the negotiation id are random), and that, more than
Python, is the gap; the ``schema`` series measures it in the same run. How much it
weighs depends on the disk: where an fsync is cheap, the pages dominate.
The profile-driven changes that got it here keep every fsync: the chain head is
read from the statements (no heads table to write), cached after commit, and
issuers are interned as small integers (smaller rows and index entries).

Method: the series take turns every :data:`SLICE` appends, in an order that
flips at each turn, and a round's rate for a series is its appends over the
sum of its turns. The disk's fsync latency drifts by tens of percent over
seconds (other processes, ext4's own journal commits); fine turns put every
series under the same drift, where whole-round turns made the ratio swing
between 0.6 and 1.5. Each series appends to its own file, which grows across
rounds as a real journal does (WAL checkpoints included). GC stays enabled
(collected once per round). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from benchmarks._stats import row, stats

NAME: Final = "journal"
TARGET: Final = 0.80
DEFAULT_ROUNDS: Final = 7
DEFAULT_OPS: Final = 1000
QUICK_ROUNDS: Final = 2
QUICK_OPS: Final = 64
# Untimed appends first: past the growth of each file's WAL to its steady size (about 1000
# pages; the journal reaches it sooner, so timing it would flatter one side), caches warm.
WARMUP_OPS: Final = 1024
QUICK_WARMUP_OPS: Final = 16
BATCH: Final = 16
SLICE: Final = BATCH  # ops per series per turn: the series take turns every SLICE ops
SERIES: Final = ("journal", "sqlite", "schema")
BATCH_SERIES: Final = ("journal_batch", "sqlite_batch")


def signed_chain(name: str, count: int) -> list[VerifiedStatement]:
    """``count`` Offers (about 600-byte envelopes) on one fresh chain, seq 0 upwards."""
    clock = FixedClock()
    issuer, audience = Party(name, clock), Party(f"{name}-audience", clock)
    deadline = clock.now_ms + DAY_MS
    proposal = issuer.proposal(
        gives=[
            service(
                "code-review",
                value=500,
                deadline_ms=deadline,
                description="Review a 400-line pull request to the ledger service",
            )
        ],
        wants=[
            service(
                "copy-editing",
                value=450,
                deadline_ms=deadline,
                quantity=10,
                unit="page",
                description="Copy-edit ten pages of the operator guide",
            )
        ],
    )
    return [issuer.offer(audience, proposal) for _ in range(count)]


class RawTable:
    """The floor: one WAL table, synchronous=FULL, the same transaction shape as the journal."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        if self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise RuntimeError("SQLite refused WAL mode")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, envelope BLOB NOT NULL)")
        self.cur = self.conn.cursor()

    def insert(self, envelope: bytes) -> None:
        cur = self.cur
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("INSERT INTO t (envelope) VALUES (?)", (envelope,))
        cur.execute("COMMIT")

    def insert_many(self, envelopes: Sequence[bytes]) -> None:
        cur = self.cur
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany("INSERT INTO t (envelope) VALUES (?)", [(e,) for e in envelopes])
        cur.execute("COMMIT")


class SchemaTable:
    """The journal's schema without the journal: its file made by :meth:`Journal.open` (so the very
    tables and indexes), then plain inserts of each statement's row, one transaction each."""

    def __init__(self, path: Path, issuer: str) -> None:
        Journal.open(path).close()
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("INSERT INTO issuers (did) VALUES (?)", (issuer,))
        self.issuer = self.conn.execute("SELECT id FROM issuers WHERE did = ?", (issuer,)).fetchone()[0]
        self.cur = self.conn.cursor()

    def insert(self, vs: VerifiedStatement) -> None:
        h = vs.header
        cur = self.cur
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(
            "INSERT INTO statements (digest, direction, issuer, seq, negotiation_id, body, at_ms, envelope, "
            "nonce) VALUES (?, 'out', ?, ?, ?, ?, 0, ?, ?)",
            (vs.digest, self.issuer, h.seq, h.negotiation_id, vs.body, vs.envelope, h.nonce),
        )
        cur.execute("COMMIT")


def _timed(fn: Callable[[Any], Any], items: Sequence[Any]) -> float:
    """Seconds to call fn on each item (map + a zero-length deque: no per-op Python loop)."""
    start = time.perf_counter()
    deque(map(fn, items), maxlen=0)
    return time.perf_counter() - start


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run(rounds: int, ops: int, directory: Path, warmup: int = WARMUP_OPS) -> dict[str, Any]:
    """Sign, append, time; return the JSON-ready summary (with per-round detail)."""
    ops = -(-ops // SLICE) * SLICE  # whole slices (so whole batches) per round
    warmup = -(-warmup // SLICE) * SLICE
    total = warmup + rounds * ops
    chain, chain_b = signed_chain("bench-journal", total), signed_chain("bench-batch", total)
    chain_s = signed_chain("bench-schema", total)
    envelopes, envelopes_b = [vs.envelope for vs in chain], [vs.envelope for vs in chain_b]

    journal = Journal.open(directory / "journal.db")
    journal_b = Journal.open(directory / "journal-batch.db")
    raw, raw_b = RawTable(directory / "sqlite.db"), RawTable(directory / "sqlite-batch.db")
    schema = SchemaTable(directory / "schema.db", chain_s[0].issuer)
    pragmas = journal.pragmas()
    if pragmas["journal_mode"] != "wal" or pragmas["synchronous"] != 2:
        raise RuntimeError(f"journal is not WAL + synchronous=FULL: {pragmas}")

    def append(vs: VerifiedStatement) -> None:
        journal.record_outgoing(vs, at_ms=0)

    def append_many(batch: Sequence[VerifiedStatement]) -> None:
        journal_b.record_outgoing_many(batch, at_ms=0)

    # series -> (function, its items for ops [lo, hi))
    jobs: dict[str, tuple[Callable[[Any], Any], Callable[[int, int], Sequence[Any]]]] = {
        "journal": (append, lambda lo, hi: chain[lo:hi]),
        "sqlite": (raw.insert, lambda lo, hi: envelopes[lo:hi]),
        "schema": (schema.insert, lambda lo, hi: chain_s[lo:hi]),
        "journal_batch": (append_many, lambda lo, hi: _batches(chain_b[lo:hi], BATCH)),
        "sqlite_batch": (raw_b.insert_many, lambda lo, hi: _batches(envelopes_b[lo:hi], BATCH)),
    }
    everything = (*SERIES, *BATCH_SERIES)
    elapsed: dict[str, list[float]] = {s: [0.0] * rounds for s in everything}
    try:
        for fn, items in jobs.values():  # warm up: caches, file growth, the first checkpoints
            _timed(fn, items(0, warmup))
        for r in range(rounds):
            gc.collect()
            for k in range(ops // SLICE):
                lo = warmup + r * ops + k * SLICE
                for s in everything if (r + k) % 2 == 0 else everything[::-1]:
                    fn, items = jobs[s]
                    elapsed[s][r] += _timed(fn, items(lo, lo + SLICE))
        next_seq, _ = journal.chain_head(chain[0].issuer)
        if next_seq != total or journal_b.chain_head(chain_b[0].issuer)[0] != total:
            raise RuntimeError(f"journal head at {next_seq}, expected {total}")
    finally:
        journal.close()
        journal_b.close()
        raw.conn.close()
        raw_b.conn.close()
        schema.conn.close()

    rates = {s: [ops / t for t in elapsed[s]] for s in everything}
    ratios = {
        "journal_vs_sqlite": [q / j for j, q in zip(elapsed["journal"], elapsed["sqlite"], strict=True)],
        "schema_vs_sqlite": [q / x for x, q in zip(elapsed["schema"], elapsed["sqlite"], strict=True)],
        "journal_vs_schema": [x / j for j, x in zip(elapsed["journal"], elapsed["schema"], strict=True)],
        "batch_vs_sqlite_batch": [
            q / j for j, q in zip(elapsed["journal_batch"], elapsed["sqlite_batch"], strict=True)
        ],
    }

    ratio = statistics.median(ratios["journal_vs_sqlite"])
    schema_ratio = statistics.median(ratios["schema_vs_sqlite"])
    return {
        "benchmark": NAME,
        "journal_vs_sqlite": round(ratio, 4),
        "schema_vs_sqlite": round(schema_ratio, 4),
        "journal_vs_schema": round(statistics.median(ratios["journal_vs_schema"]), 4),
        "schema_inserts_per_s": round(statistics.median(rates["schema"]), 1),
        "target_within_schema_reach": schema_ratio >= TARGET,
        "journal_appends_per_s": round(statistics.median(rates["journal"]), 1),
        "sqlite_inserts_per_s": round(statistics.median(rates["sqlite"]), 1),
        "journal_batch_appends_per_s": round(statistics.median(rates["journal_batch"]), 1),
        "sqlite_batch_inserts_per_s": round(statistics.median(rates["sqlite_batch"]), 1),
        "journal_batch_vs_sqlite_batch": round(statistics.median(ratios["batch_vs_sqlite_batch"]), 4),
        "batch_size": BATCH,
        "turn_ops": SLICE,
        "rounds": rounds,
        "ops": ops,
        "warmup_ops": warmup,
        "envelope_bytes": round(statistics.fmean(map(len, envelopes)), 1),
        "target": TARGET,
        "target_met": ratio >= TARGET,
        "detail": {
            **{s: stats(v, 1) for s, v in rates.items()},
            **{k: stats(v, 4) for k, v in ratios.items()},
        },
        "env": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "journal_mode": pragmas["journal_mode"],
            "synchronous": pragmas["synchronous"],
            "gc": "enabled",
        },
    }


ROWS: Final = (
    ("journal record_outgoing (appends/s)", "journal", ",.0f"),
    ("raw SQLite INSERT (inserts/s)", "sqlite", ",.0f"),
    ("journal / raw", "journal_vs_sqlite", ".3f"),
    ("the journal's schema, plain inserts (rows/s)", "schema", ",.0f"),
    ("schema / raw (what the indexes cost)", "schema_vs_sqlite", ".3f"),
    ("journal / schema (what its code adds)", "journal_vs_schema", ".3f"),
    ("journal batch (appends/s)", "journal_batch", ",.0f"),
    ("raw SQLite batch (inserts/s)", "sqlite_batch", ",.0f"),
    ("journal batch / raw batch", "batch_vs_sqlite_batch", ".3f"),
)


def table(result: dict[str, Any]) -> str:
    d = result["detail"]
    lines = [
        f"journal benchmark: {result['warmup_ops']} untimed appends, then {result['rounds']} rounds x "
        f"{result['ops']} appends per series, the series "
        f"taking turns every {result['turn_ops']} appends; "
        f"WAL, synchronous=FULL, one fsync'd transaction per append (batches: {result['batch_size']} "
        "per transaction); GC enabled",
        f"python {result['env']['python']}, sqlite {result['env']['sqlite']}; "
        f"signed Offer envelopes, mean {result['envelope_bytes']:.0f} B, signed before timing",
        "",
        f"{'':<40}{'median':>12}{'min':>12}{'max':>12}",
    ]
    for label, key, fmt in ROWS:
        lines.append(row(label, d[key], fmt, 38))
    verdict = "met" if result["target_met"] else "NOT met"
    lines += [
        "",
        f"HEADLINE journal_vs_sqlite {result['journal_vs_sqlite']:.3f} (target {TARGET:.2f}: {verdict}); "
        "batched figures are for information only.",
        f"Schema floor: plain inserts into the journal's own table and indexes run at "
        f"{result['schema_vs_sqlite']:.3f} of raw; the journal is {result['journal_vs_schema']:.3f} of that. "
        + (
            "The target is within the schema's reach."
            if result["target_within_schema_reach"]
            else f"With this schema the target is out of reach here (the indexes alone leave "
            f"{result['schema_vs_sqlite']:.3f} < {TARGET:.2f})."
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks journal",
        description="fsync'd journal appends (Journal.record_outgoing) vs raw SQLite WAL inserts of the "
        "same envelopes, synchronous=FULL, interleaved rounds.",
    )
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--ops",
        type=int,
        default=None,
        help=f"appends per series per round, rounded up to whole batches of {BATCH} (default {DEFAULT_OPS})",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary directory holding the database files (default: the system's "
        "temporary directory); put it on the disk you want to measure",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_ROUNDS} rounds x {QUICK_OPS} appends (figures meaningless)",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    rounds = args.rounds if args.rounds is not None else QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    ops = args.ops if args.ops is not None else QUICK_OPS if args.quick else DEFAULT_OPS
    if rounds < 1 or ops < 1:
        parser.error("--rounds and --ops must be positive")
    with tempfile.TemporaryDirectory(prefix="a2a-coop-journal-bench-", dir=args.dir) as tmp:
        result = run(rounds, ops, Path(tmp), QUICK_WARMUP_OPS if args.quick else WARMUP_OPS)
    print(table(result))
    print(json.dumps(result, sort_keys=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
