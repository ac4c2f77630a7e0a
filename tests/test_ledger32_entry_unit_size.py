"""ledger32: a ledger entry's unit stays one transcript read, whatever bindings come after it (ESC-006 (a)).

stamp32 bounded what one Stamp names (WIT-001 (a)), but a statement of a negotiation refused ``KEY_REVOKED``
that binds its key (KEY-007 (a)) is kept unstamped right after whatever came last -- in that entry's unit,
which a transcript page never parts (ESC-006) -- and nothing bounded how many came there. Mallory mints keys
of her own (a Mandate each, each key's own revocation), shows E1 her fork's held half, then one 60 KB Offer
per key in a Submit of its own: each is refused, binds its key, and is kept after the last, all in the unit
of E1's Stamp of the held half. The entry grew to 4.4 MB: Bob's read at a bare fork refusal's ``stamp_seq``
(RPC-006 (c)) failed ``RESOURCE_EXHAUSTED`` and his car stayed held, and an audit paging the transcript
(AUD-001) could read nothing from that entry on. Now an escrow keeps such a binding only while its entry's
unit stays within one page; past it (ledger33) it keeps it after a Checkpoint of its own, a new entry.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from test_asked31_successor_word import bobs_car_and_her_forked_counter
from test_attack10 import _car_market
from test_escrow_handover import Desk
from test_fork31_large_fork_evidence import PADDING, bare_refusal_then_freed, mallorys_hints

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import KeyRevoked
from a2a_coop.protocol.escrow import MAX_ENTRY_BYTES, MAX_STAMP_EVIDENCE_BYTES, Escrow, stamp_starts
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.trade import fetch_transcript
from a2a_coop.testing import DAY_MS, LocalEscrow, Party, _LedgerSigner, service
from a2a_coop.transport import EscrowClient, serve
from a2a_coop.transport.limits import MAX_PAGE_BYTES
from a2a_coop.transport.paging import OpeningParts, PagingViolation

# Keys Mallory mints, each signing one Offer near ENV-008's 64 KiB after its own revocation.
KEYS, DESCRIPTION_CHARS = 72, 60_000


@pytest.mark.req("ESC-006", "KEY-007", "RPC-006", "NEG-020", "AUD-001")
def test_bindings_piled_after_her_forks_stamp_leave_its_entry_one_read_and_free_bobs_car() -> None:
    m, e2, carol, _ = _car_market()
    minted = [Party(f"mallory-{i}", m.clock) for i in range(KEYS)]
    own = [
        p.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=p.did, effective_ms=1, reason="mine"))
        for p in minted
    ]
    m.escrow.submit([env for p, r in zip(minted, own, strict=True) for env in (*p.setup, r.envelope)])
    due = m.clock.now_ms + DAY_MS

    offer, counter, other, padded = (
        bobs_car_and_her_forked_counter(  # fork31's: E1's Stamp past RPC-006's budget
            m, e2, carol, lambda: mallorys_hints(m, carol, PADDING)
        )
    )
    stamp = verify_statement(m.escrow.submit([*m.mallory.setup, other.envelope, *padded])[-1])
    assert stamp.body == "stamp" and other.digest in stamp.statement.stamp.statements
    kept = 0
    for p in minted:  # each in a Submit of its own: kept right after what came last, in the Stamp's unit
        hint = service("hint", value=1, deadline_ms=due, description="x" * DESCRIPTION_CHARS)
        large = p.proposal(escrow=m.escrow.did, gives=[hint])
        binding = p.offer(carol, large)
        with pytest.raises(KeyRevoked):
            m.escrow.submit([binding.envelope])
        kept += m.escrow.escrow.shown_binding(binding.digest) is not None
    # Every binding kept (ledger33): those past the Stamp's page after a Checkpoint of E1's naming nothing,
    # a ledger entry opened for them (ESC-006 (a)); nothing else came after the Stamp.
    assert kept == KEYS
    opened = [verify_statement(env) for env in m.escrow.escrow.ledger(stamp.header.seq + 1)]
    assert opened and all(vs.body == "checkpoint" and not vs.header.refs for vs in opened)
    page, _, _ = m.escrow.get_transcript(stamp.header.seq, 1, MAX_PAGE_BYTES)
    assert stamp.envelope in page and sum(map(len, page)) <= MAX_PAGE_BYTES
    # An audit reads the whole ledger page by page, and finds nothing.
    transcript, seq = [], 0
    while seq < m.escrow.escrow.ledger_size:
        page, _, seq = m.escrow.get_transcript(seq, 1, MAX_PAGE_BYTES)
        assert sum(map(len, page)) <= MAX_PAGE_BYTES
        transcript += page
    assert transcript == m.escrow.escrow.transcript()
    assert audit_ledger(transcript, escrow=m.escrow.did).ok
    assert bare_refusal_then_freed(m, e2, carol, offer, counter) == stamp.header.seq


def test_the_last_stamp_of_a_submit_keeps_room_for_the_binding_it_ended_on() -> None:
    """WIT-001 (a), ESC-006 (a): a binding of a negotiation that ends a Submit is kept after its last
    evidence, so the last Stamp's evidence leaves it room -- one Stamp more where it would not fit."""
    big = 64 * 1024
    per = MAX_STAMP_EVIDENCE_BYTES // big
    assert stamp_starts([big] * per) == [0]
    assert stamp_starts([big] * per, big) == [0, 1]  # the first alone: the other 62 and the binding fit
    assert stamp_starts([big] * (2 * per), big) == [0, per, per + 1]
    assert stamp_starts([big], big) == [0] and stamp_starts([], big) == []
    for sizes in ([big] * per, [big] * (2 * per), [100] * 700, [big, 100] * 90):
        starts = stamp_starts(sizes, big)
        chunks = [sizes[a:b] for a, b in zip(starts, [*starts[1:], len(sizes)], strict=True)]
        assert all(sum(c) <= MAX_STAMP_EVIDENCE_BYTES and 0 < len(c) <= 256 for c in chunks)
        assert sum(chunks[-1]) + big <= MAX_STAMP_EVIDENCE_BYTES  # the Stamp's own room stays apart
    assert MAX_STAMP_EVIDENCE_BYTES + big == MAX_ENTRY_BYTES


@pytest.mark.req("ESC-006", "WIT-001", "KEY-007")
def test_a_binding_ending_a_large_submit_is_kept_within_its_stamps_entry() -> None:
    """Mallory's Submit brings 4 MB of her Offers, then an Offer of a key she revoked that binds it: the
    escrow stamps the Offers in Stamps leaving the last one room, and keeps the binding in that entry."""
    m, _, carol, _ = _car_market()
    minted = Party("mallory-minted", m.clock)
    own = minted.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=minted.did, effective_ms=1))
    m.escrow.submit([*minted.setup, own.envelope])
    due = m.clock.now_ms + DAY_MS
    large = m.mallory.proposal(
        escrow=m.escrow.did, gives=[service("hint", value=1, deadline_ms=due, description="x" * 64_000)]
    )
    padded = [m.mallory.offer(carol, large).envelope for _ in range(MAX_STAMP_EVIDENCE_BYTES // 65_536)]
    room = MAX_STAMP_EVIDENCE_BYTES - sum(map(len, [*m.mallory.setup, *padded]))
    hint = service("hint", value=1, deadline_ms=due, description="x" * (room - 1_600))
    filler = m.mallory.proposal(escrow=m.escrow.did, gives=[hint])  # to within 2 KB of the bound
    padded.append(m.mallory.offer(carol, filler).envelope)
    evidence = sum(map(len, [*m.mallory.setup, *padded]))
    assert MAX_STAMP_EVIDENCE_BYTES - 2_000 < evidence <= MAX_STAMP_EVIDENCE_BYTES
    binding = minted.offer(carol, minted.proposal(escrow=m.escrow.did, gives=large.gives))
    head = m.escrow.escrow.ledger_size
    with pytest.raises(KeyRevoked):
        m.escrow.submit([*m.mallory.setup, *padded, binding.envelope])
    assert m.escrow.escrow.shown_binding(binding.digest) is not None
    for seq in range(head, m.escrow.escrow.ledger_size):
        page, _, _ = m.escrow.get_transcript(seq, 1, MAX_PAGE_BYTES)
        assert sum(map(len, page)) <= MAX_PAGE_BYTES, seq
    assert binding.envelope in page  # the last entry's unit: its Stamp, what it names, the binding


@pytest.mark.req("ESC-006", "ESC-023", "AUD-001")
def test_a_successor_of_a_busy_escrow_serves_its_transcript_from_seq_0_in_parts() -> None:
    """K1's parties brought it 4.4 MB of Offers in Submits of one each (each entry one read at K1); its
    successor K2 takes that transcript over (ESC-023) and opens its own with it, before its seq 0. Read
    whole from seq 0, that opening was past every page: no audit of K2 could begin (AUD-001). Now it comes
    in parts within a page each, which the client joins: the audit reads K2's transcript over gRPC."""
    d = Desk()
    due = d.clock.now_ms + DAY_MS
    hint = service("hint", value=1, deadline_ms=due, description="x" * DESCRIPTION_CHARS)
    for _ in range(KEYS):
        offer = d.alice.offer(d.bob, d.alice.proposal(escrow=d.esc.did, gives=[hint]))
        d.old.submit([offer.envelope], d.clock.now_ms)
    compromised = d.clock.advance(1)
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=compromised)
    )
    succ = d.successor()
    k2 = object.__new__(LocalEscrow)  # served as LocalEscrow serves K1's kind, over what K2 took over
    k2.party, k2.clock = succ, d.clock
    taken = [*d.old.transcript(), rev.envelope]
    k2.escrow = Escrow(_LedgerSigner(succ.agent), succ.mandate_vs.digest, setup=succ.setup, predecessor=taken)
    assert sum(map(len, k2.escrow.taken_over)) > MAX_PAGE_BYTES
    page, next_seq, opening = k2.escrow.transcript_page(0, 1, MAX_PAGE_BYTES)
    assert sum(map(len, page)) <= MAX_PAGE_BYTES and next_seq == 0 and opening == len(page)
    k2.escrow.submit([d.claim().envelope], d.clock.now_ms)  # an entry of K2's own after the opening
    with serve(None, k2) as via, EscrowClient(via.target) as client:  # type: ignore[arg-type]
        transcript = fetch_transcript(client)
    assert transcript == k2.escrow.transcript()
    assert audit_ledger(transcript, escrow=succ.did).ok


def test_a_client_joins_the_opening_and_fails_a_server_that_cuts_it_elsewhere() -> None:
    """ESC-006 (b): the client joins the opening's parts in order; a part that says the opening goes on
    without any of it, or resumes elsewhere than where the parts reached, fails the read (typed)."""
    part = SimpleNamespace
    joined = OpeningParts()
    assert not joined.take(0, part(envelopes=[b"a", b"b"], next_opening=2)) and joined.opening_from == 2
    assert joined.take(0, part(envelopes=[b"c", b"entry"], next_opening=0))
    assert joined.envelopes == [b"a", b"b", b"c", b"entry"]
    assert OpeningParts().take(5, part(envelopes=[b"x"], next_opening=7))  # past seq 0: no opening
    for bad in (part(envelopes=[], next_opening=3), part(envelopes=[b"a"], next_opening=3)):
        with pytest.raises(PagingViolation):
            OpeningParts().take(0, bad)
