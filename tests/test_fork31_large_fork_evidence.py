"""fork31: the escrow's word on a fork reaches the offerer whatever the size of the held half's Stamp.

asked31 (RPC-006 (c)) made Bob take his offers after a statement E refused as a fork (EQUIVOCATION) as
never taken there only on E's Stamp of the held half, carried in the refusal. But a refusal's envelopes
travel only while the encoded Status stays within 4,096 bytes (RPC-006), and that Stamp names every
statement of the Submit that brought the held half -- Mallory's choice: her fork shown to E beside a
hundred and fifty Offers of hers made the Stamp alone larger than that, the refusal reached Bob bare, and
his later Counter (the car, exclusive_key) stayed held until its claims ended, a denial of his car for one
large Submit. Now the refusal names that Stamp's ledger seq (``stamp_seq``, as RPC-006 (b)'s) and Bob
reads the Stamp and the held half from E's transcript. The seq is unsigned: naming a Stamp of no fork of
his line frees nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest
from test_asked31_successor_word import bobs_car_and_her_forked_counter
from test_attack10 import _car, _car_market
from test_hidden_accept import Market

from a2a_coop.protocol.errors import CoopError, Equivocation
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import LocalEscrow, Party, service
from a2a_coop.transport import EscrowClient, serve
from a2a_coop.transport.errors import EVIDENCE_BUDGET_BYTES

# Offers of Mallory's shown to E beside the held half, in one Submit: E's one Stamp names them all.
PADDING = 150


def mallorys_hints(m: Market, carol: Party, count: int, description: str = "") -> list[bytes]:
    """``count`` Offers of Mallory's to Carol at E1, a hint worth 1 each way (``description`` pads each):
    worth little, so many stay under her Mandate's cap -- what she shows E1 beside a held half to make its
    Stamp large."""
    due = m.clock.now_ms + 86_400_000
    hint = m.mallory.proposal(
        escrow=m.escrow.did,
        gives=[service("hint", value=1, deadline_ms=due, description=description)],
        wants=[service("hint", value=1, deadline_ms=due)],
    )
    return [m.mallory.offer(carol, hint).envelope for _ in range(count)]


def _forked_in_a_large_stamp(
    m: Market, e2: LocalEscrow, carol: Party
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """Bob offers his car bonded at E1; Mallory counters bonded at E1 and signs another statement at her
    Counter's seq, which she shows E1 with PADDING small Offers after it in one Submit; Bob counters with
    the car again at E1. Returns (Bob's Offer, Mallory's Counter, Bob's Counter)."""

    offer, counter, other, padded = bobs_car_and_her_forked_counter(
        m, e2, carol, lambda: mallorys_hints(m, carol, PADDING)
    )
    stamp = verify_statement(m.escrow.submit([*m.mallory.setup, other.envelope, *padded])[-1])
    assert stamp.body == "stamp" and other.digest in stamp.statement.stamp.statements
    assert len(stamp.envelope) > EVIDENCE_BUDGET_BYTES, "the Stamp alone must be past the trailer's budget"
    (ours,) = m.b.on_replies([*m.mallory.setup, counter.envelope])
    assert ours.body == "counter"
    m.clock.now_ms = ours.header.expires_at_ms + 60_001  # past both cutoffs and the tolerance: ask
    return offer, counter, ours


def _car_held(m: Market, e2_did: str, carol: Party) -> bool:
    try:
        m.b.propose(carol.did, _car(m, e2_did, bond=100))
    except CoopError as refused:
        assert refused.code == "EXCLUSIVE_CONFLICT", refused
        return True
    return False


def bare_refusal_then_freed(
    m: Market, e2: LocalEscrow, carol: Party, offer: VerifiedStatement, counter: VerifiedStatement
) -> int | None:
    """Bob counters Mallory's forked Counter, asks E1 past both cutoffs over gRPC and is refused EQUIVOCATION
    bare (no evidence: past RPC-006's budget), his car still held; his runtime asks again and reads E1's
    Stamp from the transcript, which frees it. Returns the refusal's ``stamp_seq`` (stamp32, ledger32)."""
    (ours,) = m.b.on_replies([*m.mallory.setup, counter.envelope])
    assert ours.body == "counter"
    m.clock.now_ms = ours.header.expires_at_ms + 60_001  # past both cutoffs and the tolerance: ask
    line = [*m.bob.setup, *m.mallory.setup, offer.envelope, counter.envelope]
    with serve(None, m.escrow) as via, EscrowClient(via.target) as client:  # type: ignore[arg-type]
        with pytest.raises(Equivocation) as refused:
            client.submit(line)
        assert refused.value.evidence == ()
        assert _car_held(m, e2.did, carol)
        with contextlib.suppress(CoopError):
            ask_escrow_alone(m.b, client, m.b.negotiation(offer.negotiation_id))
    assert not _car_held(m, e2.did, carol)
    return refused.value.stamp_seq


@pytest.mark.req("RPC-006", "NEG-020", "ESC-013")
def test_a_fork_refusal_too_large_for_its_evidence_names_the_stamp_bob_reads_from_the_transcript() -> None:
    """Over gRPC, E1's refusal of Bob's line reaches him without its evidence but with ``stamp_seq``; his
    runtime reads E1's Stamp of Mallory's held statement there and frees his Counter's car -- before, it
    stayed held until the Counter's claims ended."""
    m, e2, carol, _ = _car_market()
    offer, counter, _ = _forked_in_a_large_stamp(m, e2, carol)
    line = [*m.bob.setup, *m.mallory.setup, offer.envelope, counter.envelope]
    with serve(None, m.escrow) as via, EscrowClient(via.target) as client:  # type: ignore[arg-type]
        with pytest.raises(Equivocation) as refused:  # what reaches a client over gRPC: the Stamp's seq
            client.submit(line)
        assert refused.value.evidence == () and refused.value.stamp_seq is not None
        assert _car_held(m, e2.did, carol)
        with contextlib.suppress(CoopError):
            ask_escrow_alone(m.b, client, m.b.negotiation(offer.negotiation_id))
    assert not _car_held(m, e2.did, carol)


@pytest.mark.req("RPC-006", "NEG-020", "ESC-013")
@pytest.mark.parametrize("where", ["E1's Stamp of no fork", "past E1's head"])
def test_a_forged_fork_refusal_naming_a_stamp_of_no_fork_frees_nothing(where: str) -> None:
    """A man in the middle refuses Bob's line EQUIVOCATION bare, naming a ledger seq: of E1's real Stamp of
    something else (Carol's offer), or past E1's head. Bob's runtime reads it, finds no Stamp of a fork of
    his line, and his Counter's car stays held."""
    m, e2, carol, _ = _car_market()
    offer, _, _ = _forked_in_a_large_stamp(m, e2, carol)
    elsewhere = carol.offer(m.mallory, carol.proposal(escrow=m.escrow.did))
    stamp = verify_statement(m.escrow.submit([*carol.setup, elsewhere.envelope])[-1])
    assert stamp.body == "stamp"
    forger = _NamesAStamp(m, stamp.header.seq if where == "E1's Stamp of no fork" else 10**6)
    with contextlib.suppress(CoopError):
        ask_escrow_alone(m.b, forger, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert forger.forged == 1
    assert _car_held(m, e2.did, carol)


class _NamesAStamp:
    """Whoever answers Bob's Submits for E1: the first is refused EQUIVOCATION bare, naming the ledger seq of
    ``seq``; the others go to E1."""

    def __init__(self, m: Market, seq: int) -> None:
        self.escrow, self.seq, self.forged = m.escrow, seq, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if not self.forged:
            self.forged += 1
            raise Equivocation("another statement at this seq", stamp_seq=self.seq)
        return self.escrow.submit(envelopes)

    def get_transcript(self, from_seq: int, limit: int) -> tuple[list[bytes], int, int]:
        return self.escrow.get_transcript(from_seq, limit)  # type: ignore[no-any-return]
