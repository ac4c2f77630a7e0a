"""ledger33: a binding refused past ESC-006 (a)'s bound binds nothing until another entry came (KEY-007 (a)).

ledger32 had an escrow keep a statement of a negotiation refused ``KEY_REVOKED`` that binds its key only while
the last ledger entry's unit stays within one page; past it the statement is refused and binds nothing. The
one it harms is a principal whose revocation that binding alone authorises (KEY-004): Alice's key K revoked
itself (a thief), K's Offer under her principal P's Mandate came when E's last entry had no room, and P's
revocation of K was refused ``REVOCATION_UNAUTHORIZED``. Decided (SPEC ESC-006 Why (a)): the escrow need not
sign an entry of its own to keep it -- any new evidence stamped, anyone's, opens one, and the binding sent
again is kept there and P's revocation taken. This test pins both halves.
"""

from __future__ import annotations

import pytest
from test_escrow_binding_order import _Authorised

from a2a_coop.protocol.errors import CoopError, KeyRevoked
from a2a_coop.protocol.escrow import MAX_ENTRY_BYTES, MAX_STAMP_EVIDENCE_BYTES
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, LocalEscrow, service
from a2a_coop.transport.limits import MAX_PAGE_BYTES


def _large_offer_of_k(s: _Authorised) -> VerifiedStatement:
    """K's Offer to Bob naming the escrow, near ENV-008's 64 KiB: a binding of a negotiation."""
    due = s.clock.now_ms + DAY_MS
    hint = service("hint", value=1, deadline_ms=due, description="x" * 64_200)
    return s.alice.offer(s.bob, s.alice.proposal(escrow=s.party.did, gives=[hint]))


def _code(e: LocalEscrow, vs: VerifiedStatement) -> str:
    try:
        e.submit([vs.envelope])
    except CoopError as refused:
        return refused.code
    return ""


def _head_unit(e: LocalEscrow) -> int:
    page, _, _ = e.get_transcript(e.escrow.ledger_size - 1, 1, MAX_PAGE_BYTES)
    return sum(map(len, page))


@pytest.mark.req("KEY-007", "KEY-004", "ESC-006", "ESC-001")
def test_a_binding_refused_past_the_bound_binds_once_another_entry_came() -> None:
    s = _Authorised(_large_offer_of_k)
    e = LocalEscrow(s.party)
    e.submit(s.setup)
    assert _code(e, s.own) == ""  # K revoked itself (a thief), back to 1 ms
    # Bob's Submit of Offers to within 2 KB of WIT-001 (a)'s bound: E's last entry has under 64 KB of room.
    due = s.clock.now_ms + DAY_MS
    big = s.bob.proposal(
        escrow=s.party.did, gives=[service("hint", value=1, deadline_ms=due, description="x" * 64_000)]
    )
    padded = [s.bob.offer(s.alice, big).envelope for _ in range(MAX_STAMP_EVIDENCE_BYTES // 65_536)]
    room = MAX_STAMP_EVIDENCE_BYTES - sum(map(len, padded))
    filler = s.bob.proposal(
        escrow=s.party.did,
        gives=[service("hint", value=1, deadline_ms=due, description="x" * (room - 1_600))],
    )
    padded.append(s.bob.offer(s.alice, filler).envelope)
    e.submit(padded)
    assert _head_unit(e) + len(s.binding.envelope) > MAX_ENTRY_BYTES, "no room for K's Offer after it"

    # Past the bound: refused KEY_REVOKED, as when kept -- and binds nothing, so P's revocation is refused.
    with pytest.raises(KeyRevoked):
        e.submit([s.binding.envelope])
    assert e.escrow.shown_binding(s.binding.digest) is None
    assert _code(e, s.back) == "REVOCATION_UNAUTHORIZED"

    # Anyone's new evidence opens an entry (Bob's small Offer here; P could sign one of its own): K's Offer
    # sent again is kept after it, and P's revocation, which only it authorises, is taken.
    e.submit([s.bob.offer(s.alice, s.bob.proposal(escrow=s.party.did)).envelope])
    with pytest.raises(KeyRevoked):
        e.submit([s.binding.envelope])
    assert e.escrow.shown_binding(s.binding.digest) is not None
    assert _head_unit(e) <= MAX_ENTRY_BYTES
    assert _code(e, s.back) == ""
    assert s.back.digest in e.escrow.verifier.statements
