"""stamp32: every ledger entry of an escrow fits one transcript read, whatever its evidence's sender sent.

fork31 (RPC-006 (c)) had Bob read, at the ledger seq a bare ``EQUIVOCATION`` refusal names, E1's Stamp of
Mallory's held half with what it names (``GetTranscript``, ``limit`` 1: ESC-006 never parts a Stamp from
its evidence). But that Stamp names every statement of the Submit that brought the half -- up to 256 of
them, each up to 64 KiB (ENV-008), Mallory's choice at an escrow taking Submits that large (RPC-008 sets
only the least receive limit): one entry of 4.3 MB was past every page (RPC-008 (a): 4 MiB) and the
client's receive limit, the read failed ``RESOURCE_EXHAUSTED``, and Bob's Counter (his car, its
exclusive_key) stayed held until its claims ended. Now an escrow names at most 4 MiB less 64 KiB of
envelopes in one Stamp (WIT-001 (a)): a large Submit is named by consecutive Stamps, each entry one read.
"""

from __future__ import annotations

import pytest
from test_asked31_successor_word import bobs_car_and_her_forked_counter
from test_attack10 import _car_market
from test_fork31_large_fork_evidence import bare_refusal_then_freed, mallorys_hints

from a2a_coop.protocol.bodies import MAX_STAMP_DIGESTS
from a2a_coop.protocol.escrow import MAX_STAMP_EVIDENCE_BYTES, stamp_starts
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.transport.limits import MAX_PAGE_BYTES, MAX_RESPONSE_BYTES

# Offers of Mallory's shown to E1 beside the held half, in one Submit, each near ENV-008's 64 KiB.
PADDING, DESCRIPTION_CHARS = 70, 62_000


@pytest.mark.req("WIT-001", "RPC-006", "ESC-006", "NEG-020")
def test_a_fork_refusal_whose_stamp_came_with_megabytes_still_frees_bobs_car() -> None:
    """Mallory shows E1 her held half beside 70 Offers of 62 KB each (4.3 MB in one Submit, in process:
    an escrow whose receive limit takes it). Over gRPC E1 refuses Bob's line bare, naming its Stamp of
    the held half; Bob reads that entry and frees his Counter's car. Before, the one Stamp named all 71
    statements, its entry went past the server's send limit, and the car stayed held."""
    m, e2, carol, _ = _car_market()
    offer, counter, other, padded = bobs_car_and_her_forked_counter(
        m, e2, carol, lambda: mallorys_hints(m, carol, PADDING, "x" * DESCRIPTION_CHARS)
    )
    submitted = [*m.mallory.setup, other.envelope, *padded]
    assert sum(map(len, padded)) > MAX_RESPONSE_BYTES, "the Submit must be past one read"
    answer = [verify_statement(env) for env in m.escrow.submit(submitted)]
    stamps = [vs for vs in answer if vs.body == "stamp"]
    assert len(stamps) >= 2, "a Submit past the bound is named by more than one Stamp"
    for stamp in stamps:  # each entry one read: the Stamp and what it names
        page, _, _ = m.escrow.get_transcript(stamp.header.seq, 1, MAX_PAGE_BYTES)
        assert sum(map(len, page)) <= MAX_PAGE_BYTES
    assert bare_refusal_then_freed(m, e2, carol, offer, counter) is not None


def test_stamps_start_at_256_statements_or_past_the_byte_bound() -> None:
    """WIT-001 (a): a Stamp's evidence stays within the bound and 256 statements; a single envelope,
    however large (ENV-008), always has a Stamp of its own room."""
    big = 64 * 1024
    assert stamp_starts([]) == []
    assert stamp_starts([100] * 600) == [0, MAX_STAMP_DIGESTS, 2 * MAX_STAMP_DIGESTS]
    starts = stamp_starts([big] * 200)
    per = MAX_STAMP_EVIDENCE_BYTES // big
    assert starts == list(range(0, 200, per)) and per * big <= MAX_STAMP_EVIDENCE_BYTES < (per + 1) * big
    assert MAX_STAMP_EVIDENCE_BYTES + big <= MAX_PAGE_BYTES  # the Stamp itself fits beside its evidence
