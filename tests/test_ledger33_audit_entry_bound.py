"""ledger33: the audit reads ESC-006 (a)'s bound on a ledger entry's unit (AUD-001 (a), ``ENTRY_TOO_LARGE``).

stamp32 and ledger32 made the reference escrow keep every ledger entry's unit -- the entry, what a Stamp
names, the bindings kept unstamped after them -- within one transcript page (4 MiB), so that every client
reads each entry. The audit did not check it: an escrow whose Stamp named 4.4 MB of evidence in one entry
(the reference with WIT-001 (a) lifted) was judged sound, though no ``GetTranscript`` page carries that
entry and a client sent there by a bare fork refusal (RPC-006 (c)) reads nothing. Now it is a finding.
"""

from __future__ import annotations

import pytest

from a2a_coop.protocol import escrow as escrow_rules
from a2a_coop.protocol.bodies import MAX_STAMP_DIGESTS
from a2a_coop.protocol.escrow import MAX_ENTRY_BYTES
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

# Offers shown in one Submit, each near ENV-008's 64 KiB: past one page together.
OFFERS, DESCRIPTION_CHARS = 70, 62_000


def _large_submit(clock: FixedClock, escrow: LocalEscrow) -> list[bytes]:
    """Alice shows ``escrow`` OFFERS Offers of 62 KB to Bob at it, worth 1 each way, in one Submit."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    due = clock.now_ms + DAY_MS
    hint = alice.proposal(
        escrow=escrow.did,
        gives=[service("hint", value=1, deadline_ms=due, description="x" * DESCRIPTION_CHARS)],
        wants=[service("hint", value=1, deadline_ms=due)],
    )
    offers = [alice.offer(bob, hint).envelope for _ in range(OFFERS)]
    assert sum(map(len, offers)) > MAX_ENTRY_BYTES
    return [*alice.setup, *offers]


def _stamps(transcript: list[bytes]) -> list[bytes]:
    return [vs.digest for vs in map(verify_statement, transcript) if vs.body == "stamp"]


@pytest.mark.req("AUD-001", "ESC-006", "WIT-001")
def test_the_audit_finds_an_escrows_stamp_whose_entry_is_past_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The honest escrow names the Submit in two Stamps, each entry one page: sound. A dishonest one -- the
    reference with WIT-001 (a) lifted, a Stamp per 256 statements as before stamp32 -- names it in one, an
    entry of 4.4 MB: the audit reports ``ENTRY_TOO_LARGE`` naming that Stamp, and nothing else."""
    clock = FixedClock()
    honest = LocalEscrow(Party("escrow", clock))
    honest.submit(_large_submit(clock, honest))
    assert len(_stamps(honest.escrow.transcript())) == 2
    assert audit_ledger(honest.escrow.transcript()).ok

    monkeypatch.setattr(  # the escrow chooses where its Stamps start: here, past the bound
        escrow_rules, "stamp_starts", lambda sizes, tail=0: list(range(0, len(sizes), MAX_STAMP_DIGESTS))
    )
    dishonest = LocalEscrow(Party("escrow-d", clock))
    dishonest.submit(_large_submit(clock, dishonest))
    transcript = dishonest.escrow.transcript()
    (stamp,) = _stamps(transcript)
    report = audit_ledger(transcript)
    assert [(f.code, f.digests) for f in report.findings] == [("ENTRY_TOO_LARGE", (stamp,))], report.findings
    assert "seq 0" in report.findings[0].message and not report.ok


@pytest.mark.req("AUD-001", "ESC-006")
def test_the_unit_the_audit_bounds_is_all_that_comes_before_the_escrows_next_statement() -> None:
    """A page never parts an entry from what comes after it up to the escrow's next statement (ESC-006):
    an Offer repeated after its Stamp (the audit reads the same statement twice as one) still takes that
    entry's page past the bound, while the opening before seq 0 -- Mandates, a predecessor's history --
    is bounded by nothing (ESC-006 (b))."""
    clock = FixedClock()
    e = LocalEscrow(Party("escrow", clock))
    alice, bob = Party("alice", clock), Party("bob", clock)
    due = clock.now_ms + DAY_MS
    hint = service("hint", value=1, deadline_ms=due, description="x" * DESCRIPTION_CHARS)
    offer = alice.offer(
        bob, alice.proposal(escrow=e.did, gives=[hint], wants=[service("hint", value=1, deadline_ms=due)])
    )
    e.submit([*alice.setup, offer.envelope])
    transcript = e.escrow.transcript()
    assert audit_ledger(transcript).ok
    (stamp,) = _stamps(transcript)
    repeated = [*transcript, *[offer.envelope] * OFFERS]
    codes = [(f.code, f.digests) for f in audit_ledger(repeated).findings]
    assert codes == [("ENTRY_TOO_LARGE", (stamp,))]
    mandate = e.mandate  # its own, at the head of the opening: repeated, the opening is past a page
    opening = [*[mandate] * (MAX_ENTRY_BYTES // len(mandate) + 1), *transcript]
    assert sum(map(len, opening)) > MAX_ENTRY_BYTES + sum(map(len, transcript))
    assert audit_ledger(opening).ok
