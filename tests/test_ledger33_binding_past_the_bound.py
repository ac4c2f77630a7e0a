"""ledger33: a binding past ESC-006 (a)'s bound is kept after an entry the escrow opens for it (KEY-007 (a)).

ledger32 had an escrow keep a statement of a negotiation refused ``KEY_REVOKED`` that binds its key only while
the last ledger entry's unit stays within one page; past it the statement was refused and bound nothing. It
harmed a principal whose revocation that binding alone authorises (KEY-004): Alice's key K revoked itself (a
thief), K's Offer under her principal P's Mandate came when E's last entry had no room, and P's revocation of
K was refused ``REVOCATION_UNAUTHORIZED`` -- while the refusal of the Offer read ``KEY_REVOKED`` as when it is
kept, so nobody could tell. Now the escrow signs a Checkpoint naming nothing, a new ledger entry, and keeps
the binding after it: P's revocation is taken, every entry stays one read, a restart binds K there again, and
the audit finds nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_escrow_binding_order import _audited, _Authorised, _js_reads, _node

from a2a_coop.protocol.errors import CoopError, KeyRevoked
from a2a_coop.protocol.escrow import MAX_ENTRY_BYTES, MAX_STAMP_EVIDENCE_BYTES, Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import DAY_MS, LocalEscrow, service
from a2a_coop.transport.limits import MAX_PAGE_BYTES


def _large_offer_of_k(s: _Authorised) -> VerifiedStatement:
    """K's Offer to Bob naming the escrow, near ENV-008's 64 KiB: a binding of a negotiation."""
    due = s.clock.now_ms + DAY_MS
    hint = service("hint", value=1, deadline_ms=due, description="x" * 64_200)
    return s.alice.offer(s.bob, s.alice.proposal(escrow=s.party.did, gives=[hint]))


def _padding(s: _Authorised) -> list[bytes]:
    """Bob's Offers to within 2 KB of WIT-001 (a)'s bound, for one Submit: its Stamp's entry then has less
    than 64 KB of room."""
    due = s.clock.now_ms + DAY_MS

    def hint(chars: int) -> VerifiedStatement:
        gives = [service("hint", value=1, deadline_ms=due, description="x" * chars)]
        return s.bob.offer(s.alice, s.bob.proposal(escrow=s.party.did, gives=gives))

    padded = [hint(64_000).envelope for _ in range(MAX_STAMP_EVIDENCE_BYTES // 65_536)]
    padded.append(hint(MAX_STAMP_EVIDENCE_BYTES - sum(map(len, padded)) - 1_600).envelope)
    return padded


def _code(submit: object, vs: VerifiedStatement) -> str:
    try:
        submit([vs.envelope])  # type: ignore[operator]
    except CoopError as refused:
        return refused.code
    return ""


def _entry_units(escrow: Escrow) -> list[int]:
    """Each ledger entry's unit, as one GetTranscript read (``limit`` 1) carries it."""
    out = []
    for seq in range(escrow.ledger_size):
        page, _, _ = escrow.transcript_page(seq, 1, MAX_PAGE_BYTES)
        out.append(sum(map(len, page)))
    return out


@pytest.mark.req("KEY-007", "KEY-004", "ESC-006", "ESC-001")
def test_a_binding_past_the_last_entrys_page_is_kept_after_a_checkpoint_and_authorises_the_revocation() -> (
    None
):
    s = _Authorised(_large_offer_of_k)
    e = LocalEscrow(s.party)
    e.submit(s.setup)
    assert _code(e.submit, s.own) == ""  # K revoked itself (a thief), back to 1 ms
    e.submit(_padding(s))
    head = e.escrow.ledger_size
    assert _entry_units(e.escrow)[-1] + len(s.binding.envelope) > MAX_ENTRY_BYTES, "no room after it"

    with pytest.raises(KeyRevoked):  # refused: a live party's statement, no Stamp names it
        e.submit([s.binding.envelope])
    assert e.escrow.shown_binding(s.binding.digest) is not None, "K bound to P all the same"
    (opened,) = map(verify_statement, e.escrow.ledger(head))
    assert opened.body == "checkpoint" and not opened.header.refs
    assert max(_entry_units(e.escrow)) <= MAX_ENTRY_BYTES
    transcript = e.escrow.transcript()
    assert transcript.index(s.binding.envelope) == transcript.index(opened.envelope) + 1
    assert _code(e.submit, s.back) == "", "P's revocation, which only K's Offer authorises, taken"
    assert audit_ledger(e.escrow.transcript(), escrow=s.party.did).ok
    with pytest.raises(KeyRevoked):  # the same again: passed over, nothing more signed
        e.submit([s.binding.envelope])
    assert e.escrow.ledger_size == head + 2  # the Checkpoint, and the Stamp of P's revocation


@pytest.mark.req("KEY-007", "ESC-006")
def test_a_journaled_escrow_binds_again_after_its_checkpoint_on_a_restart(tmp_path: Path) -> None:
    s = _Authorised(_large_offer_of_k)
    path = tmp_path / "e.db"
    e: EscrowNode = _node(s.party, s.clock, path)
    try:
        e.submit(s.setup)
        assert _code(e.submit, s.own) == ""
        e.submit(_padding(s))
        assert _code(e.submit, s.binding) == "KEY_REVOKED"
        assert e.escrow.shown_binding(s.binding.digest) is not None
        assert verify_statement(e.escrow.ledger(e.escrow.ledger_size - 1)[0]).body == "checkpoint"
        transcript = _audited(e, s.party.did)  # whole, paged and exported from the journal
    finally:
        e.close()
    restarted = _node(s.party, s.clock, path)
    try:
        assert restarted.escrow.transcript() == transcript
        assert restarted.escrow.shown_binding(s.binding.digest) is not None
        assert _code(restarted.submit, s.back) == ""
        assert max(_entry_units(restarted.escrow)) <= MAX_ENTRY_BYTES
    finally:
        restarted.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.req("KEY-007", "AUD-003")
def test_the_js_verifier_reads_the_binding_after_the_checkpoint_as_the_escrow_did() -> None:
    """The second implementation, reading the transcript as the escrow's audit and as a view of
    evidence, binds K by the Offer kept after the escrow's Checkpoint, and takes P's revocation, as the
    escrow did."""
    s = _Authorised(_large_offer_of_k)
    e = LocalEscrow(s.party)
    e.submit(s.setup)
    for vs in (s.own, s.binding, s.back):
        if vs is s.binding:
            e.submit(_padding(s))
        assert _code(e.submit, vs) == ("KEY_REVOKED" if vs is s.binding else "")
    transcript = e.escrow.transcript()
    assert audit_ledger(transcript, escrow=s.party.did).ok
    binding = [s.binding.issued_at_ms, s.binding.seq]
    expected = ["KEY_REVOKED" if env == s.binding.envelope else "" for env in transcript]
    assert _js_reads(transcript, s) == [[expected, binding], [[""] * len(transcript), binding]]
