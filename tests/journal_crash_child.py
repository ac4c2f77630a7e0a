"""Crash-test child for ``tests/test_journal.py``: sign, journal, "send", forever, until killed.

    python tests/journal_crash_child.py JOURNAL

Each turn signs the agent's next Offer with a chain writer seeded from the
journal's head, records it with ``Journal.record_outgoing`` and only then
"sends" it by writing ``<seq> <digest hex>`` to stdout. The test SIGKILLs the
process at arbitrary points and checks that the journal covers everything
sent. Nonces are random, so a second statement at a used seq would differ from
the first: an equivocation the test would see.
"""

from __future__ import annotations

import os
import sys

from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import EPOCH_MS, FixedClock, Party

STEP_MS = 1_000
UNLIMITED = 10**12


def crash_party() -> Party:
    """The agent under test: the same keys and mandate in the child and in the test."""
    return Party(
        "crash", FixedClock(), mandate_caps={"budget_per_period": UNLIMITED, "max_outstanding": UNLIMITED}
    )


def counterparty() -> Party:
    return Party("crash-counterparty", FixedClock())


def resume(party: Party, journal: Journal) -> None:
    """Seed the agent's chain writer from the journal, as a peer does on every start."""
    next_seq, prev = journal.chain_head(party.did)
    party.agent.writer = ChainWriter(party.agent.key, next_seq=next_seq, prev=prev)


def sign_next(party: Party, to: Party) -> VerifiedStatement:
    """The agent's next Offer: issued_at rises with seq (CHN-005), the nonce is fresh randomness."""
    seq = party.agent.writer.next_seq
    party.clock.now_ms = EPOCH_MS + seq * STEP_MS
    return party.offer(to, nonce=os.urandom(16))


def main(path: str) -> None:
    party, to = crash_party(), counterparty()
    with Journal.open(path) as journal:
        resume(party, journal)
        while True:
            vs = sign_next(party, to)
            journal.record_outgoing(vs, at_ms=party.clock.now_ms)  # write-ahead ...
            # ... then "send": one write(2) of under PIPE_BUF bytes, so the line arrives whole or not at all
            os.write(1, f"{vs.header.seq} {vs.digest.hex()}\n".encode())


if __name__ == "__main__":
    main(sys.argv[1])
