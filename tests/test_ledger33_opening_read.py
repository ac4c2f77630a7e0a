"""ledger33: each part of a successor's opening (ESC-006 (b)) reads from its journal only what it serves.

ledger32 served the opening -- the predecessor's transcript a successor took over (ESC-023), before its own
seq 0 -- in parts within a page each, but each part built the whole opening first: from the successor's
journal, every taken-over row, for every part: a predecessor of N envelopes read in N/k parts read N rows a
part, N²/k in all. Now a part reads the journal's rows from where it starts, and stops one row past what it
serves; the journal's first queries are small, so what SQLite hands over stays within twice what was taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_escrow_handover import Desk

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import DAY_MS, service

OFFERS, DESCRIPTION_CHARS, PART_BYTES = 40, 6_000, 32 * 1024


@pytest.mark.req("ESC-006", "ESC-023")
def test_each_part_of_the_opening_reads_only_the_rows_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = Desk()
    due = d.clock.now_ms + DAY_MS
    hint = service("hint", value=1, deadline_ms=due, description="x" * DESCRIPTION_CHARS)
    for _ in range(OFFERS):
        d.old.submit(
            [d.alice.offer(d.bob, d.alice.proposal(escrow=d.esc.did, gives=[hint])).envelope], d.clock.now_ms
        )
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=d.clock.advance(1))
    )
    succ = d.successor()
    taken = [*d.old.transcript(), rev.envelope]
    node = EscrowNode(
        succ.agent.key,
        succ.mandate_vs.envelope,
        tmp_path / "k2.db",
        clock=lambda: d.clock.now_ms,
        durability="normal",
        predecessor=taken,
    )
    try:
        journal = node.journal
        read = {"rows": 0, "bytes": 0}
        statements = journal.statements

        def counted(*, since_rowid: int = 0) -> Iterator[tuple[int, str, bytes]]:
            for row in statements(since_rowid=since_rowid):
                read["rows"] += 1
                read["bytes"] += len(row[2])
                yield row

        monkeypatch.setattr(journal, "statements", counted)
        queries: list[str] = []
        journal._conn.set_trace_callback(queries.append)  # what SQLite hands over: the queries' LIMITs
        joined, opening, parts = [], 0, 0
        while True:
            read["rows"] = read["bytes"] = 0
            queries.clear()
            page, _, next_seq, opening = node.get_transcript(0, 1, PART_BYTES, opening)
            joined += page
            parts += 1
            if not opening:
                break
            assert page and sum(map(len, page)) <= PART_BYTES
            assert read["rows"] <= len(page) + 1, (parts, read, len(page))  # one row past: it did not fit
            assert read["bytes"] <= sum(map(len, page)) + MAX_ENVELOPE_BYTES
            fetched = sum(
                int(n)
                for q in queries
                for n in re.findall(r"FROM statements WHERE id > \d+ ORDER BY id LIMIT (\d+)", q)
            )
            assert fetched <= 2 * (len(page) + 1) + 8, (parts, fetched, len(page))
        assert parts > 5, "the opening comes in several parts"
        assert joined == node.escrow.transcript() and next_seq == 0  # no entry of its own yet
    finally:
        journal._conn.set_trace_callback(None)
        node.close()
