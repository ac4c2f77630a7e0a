"""An escrow node's transcript as a client reads it, and its audit: whole and paged (ESC-006, AUD-*)."""

from __future__ import annotations

from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.runtime.node import EscrowNode


def pages(e: EscrowNode) -> list[bytes]:
    """The escrow's whole transcript as GetTranscript serves it, two ledger entries a page (ESC-006)."""
    out: list[bytes] = []
    seq = opening = 0
    while seq < e.escrow.ledger_size or opening:
        page, _, seq, opening = e.get_transcript(
            seq, 2, 1 << 20, opening
        )  # the opening in parts: ESC-006 (b)
        out += page
    return out


def audited(e: EscrowNode, escrow: str) -> list[bytes]:
    """The escrow's transcript, found sound by its audit whole and two entries a page."""
    transcript = e.escrow.transcript()
    for envelopes in (transcript, pages(e)):
        report = audit_ledger(envelopes, escrow=escrow)
        assert report.ok, report.findings
    return transcript
