"""Attacker's pass 23: the rules added in the seventeenth session (ESC-020, MND-020, KEY-010 (c),
MND-021, the red-team 17 screens) read values someone chose; each test here is a way a chosen value
hurt an honest party, failing before its fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from cli_run import one_line_error, run_cli
from test_attack20 import FUNDS

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import last_ruling_ms
from a2a_coop.runtime.keyfile import write_key_file
from a2a_coop.runtime.node import EscrowNode, write_envelope_file
from a2a_coop.testing import DAY_MS, FixedClock, Party


def _attest(by: Party, offer: VerifiedStatement, accept: VerifiedStatement, good: bool) -> VerifiedStatement:
    subject = accept.issuer if by.did == offer.issuer else offer.issuer
    outcome = reputation_pb2.OUTCOME_FULFILLED if good else reputation_pb2.OUTCOME_BREACHED
    body = reputation_pb2.Attestation(
        subject=subject, offer=offer.digest, accept=accept.digest, outcome=outcome
    )
    return by.sign("attestation", body)


def _triangle_and_accusers(
    accusers: int, *, ruled_by: str = ""
) -> tuple[list[Party], list[VerifiedStatement]]:
    """Three traders, each pair trading once under escrow E, each attesting the other FULFILLED; then
    each of ``accusers`` outside identities trades once with the first and attests it BREACHED (an
    attestation's outcome is its signer's word: no proof rides with it). With ``ruled_by``, each
    accuser also claims the item it was owed and a Ruling upholds the claim: signed by E (``"escrow"``:
    the first did breach) or by the accuser itself (``"accuser"``: anyone's word but the escrow's)."""
    clock = FixedClock()
    tri = [Party(f"attack23-honest-{k}", clock) for k in range(3)]
    escrow = Party("attack23-escrow", clock)
    held: list[VerifiedStatement] = []

    def trade(a: Party, b: Party, a_says_b_good: bool, ruled_by: str = "") -> None:
        offer = a.offer(b, a.proposal(escrow=escrow.did))
        accept = b.accept(offer)
        held.extend(
            [offer, accept, _attest(a, offer, accept, a_says_b_good), _attest(b, offer, accept, True)]
        )
        if ruled_by:
            nid = offer.header.negotiation_id
            claim = a.sign(
                "breach_claim", commitment_pb2.BreachClaim(contract=accept.digest), negotiation_id=nid
            )
            judge = escrow if ruled_by == "escrow" else a
            ruling = commitment_pb2.Ruling(
                contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
            )
            held.extend([claim, judge.sign("ruling", ruling, negotiation_id=nid)])
        clock.advance(1_000)

    for i, a in enumerate(tri):
        for b in tri[i + 1 :]:
            trade(a, b, True)
    for k in range(accusers):
        trade(Party(f"attack23-mallory-{k}", clock), tri[0], False, ruled_by)
    return tri, held


def test_one_false_attestation_flags_no_honest_triangle_as_a_sybil_ring() -> None:
    """The triangle fallback (red team 17) made three honest traders that each traded once a ring; one
    outsider's contract with one of them, attested BREACHED though it delivered, gave the ring an
    outside record of 0.50 and all three a Sybil score of 0.43 (threshold 0.25): one signature, one
    contract, three honest identities accused. A poor outside record now takes two accusers."""
    tri, held = _triangle_and_accusers(1, ruled_by="escrow")
    scores = {s.subject: s for s in audit.sybil_scores(audit.Evidence(held))}
    threshold = audit.Thresholds().sybil_ring
    assert all(scores[p.did].score < threshold for p in tri), [scores[p.did] for p in tri]
    assert "1 outside accusers" in scores[tri[1].did].detail


def test_two_accusers_the_escrow_upheld_still_make_a_poor_record() -> None:
    """The other side: a ring whose member two outsiders accuse, each with a claim the contract's escrow
    upheld, scores as before. Two accusers without the escrow's word are no record (red team 18:
    two colluding identities' BREACHED attestations flagged an honest triangle), nor with a "ruling"
    an accuser signed itself (tests/test_detect18.py)."""
    tri, held = _triangle_and_accusers(2, ruled_by="escrow")
    scores = {s.subject: s for s in audit.sybil_scores(audit.Evidence(held))}
    assert all(scores[p.did].score >= audit.Thresholds().sybil_ring for p in tri), scores
    assert "2 outside accusers" in scores[tri[1].did].detail
    assert {vs.body for vs in scores[tri[0].did].evidence} == {"attestation", "ruling"}
    for ruled_by in ("", "accuser"):
        tri, held = _triangle_and_accusers(2, ruled_by=ruled_by)
        scores = {s.subject: s for s in audit.sybil_scores(audit.Evidence(held))}
        assert all(scores[p.did].score == 0 for p in tri), (ruled_by, scores)
        assert "0 outside accusers" in scores[tri[1].did].detail


def _escrow_mandate(escrow: Party, t0: int, until_ms: int) -> VerifiedStatement:
    """Another Mandate of the escrow's principal for its key, valid from ``t0`` to ``until_ms``."""
    fields = {f.name: v for f, v in escrow.mandate_vs.statement.mandate.ListFields()}
    fields.update(valid_from_ms=t0, valid_until_ms=until_ms)
    return escrow.principal.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=30 * DAY_MS)


@pytest.mark.req("ESC-021", "ESC-020", "MND-003")
def test_an_escrow_restarted_under_a_shorter_mandate_keeps_no_bond_it_could_not_rule_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESC-020 reads the escrow's Mandate when it takes an Accept; its operator may restart it under
    another. Attack (the operator's neglect, or its principal's choice): the escrow bonds Mallory's trade
    with Alice due in three days under a Mandate valid a year, then is restarted under a fresh Mandate
    of its principal valid two days -- it started, and from the end of those two days it could stamp no
    claim and sign no Ruling, Forfeit or lapse of the contract: both bonds locked for good. Defence
    (ESC-021): it refuses to start under a Mandate that ends sooner than one it ran under, while it holds
    an open contract whose last ruling time is at or after that end; under the old one, or a renewal
    reaching past the last ruling, it starts."""
    b = _bonded_a_long_trade(tmp_path)
    e, t0, start, accept, path = b.escrow, b.t0, b.start, b.accept, b.path
    assert [verify_statement(x).body for x in b.answer][-2:] == ["bond_lock", "bond_lock"]
    needed = last_ruling_ms(proposal_of(b.offer))
    short = _escrow_mandate(e, t0, t0 + 2 * DAY_MS)
    with pytest.raises(MandateViolation) as refused:
        start(short.envelope).close()
    assert refused.value.requirement == "ESC-021"
    assert accept.digest.hex()[:16] in str(refused.value)
    for mandate in (e.mandate_vs.envelope, _escrow_mandate(e, t0, needed + 1).envelope):
        start(mandate).close()  # the Mandate it ran under, or one reaching past the last ruling
    key, short_file = tmp_path / "e.key", tmp_path / "short.json"
    write_key_file(key, e.agent.key)
    write_envelope_file(short_file, short.envelope)
    argv = ["escrow", "serve", "--key", key, "--mandate", short_file, "--journal", path, "--port", "0"]
    # Restarted at t0, while the short Mandate is valid: by the wall clock it ended long ago, and
    # `escrow serve` refuses a Mandate that has ended before anything else (MND-003).
    monkeypatch.setattr("a2a_coop.cli.escrow.wall_clock_ms", lambda: t0)
    code, _, err = run_cli(capsys, *argv)  # `escrow serve` says so in one line
    assert code == 1
    one_line_error(err, "MANDATE_VIOLATION [ESC-021]", accept.digest.hex()[:16])


def _bonded_then_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, until: int | None
) -> tuple[list[bytes], VerifiedStatement]:
    """The escrow bonds Mallory's trade with Alice due in three days under its Mandate valid a year, then
    -- ESC-021's start check skipped, as an escrow of another implementation (or of before it) would --
    runs under a fresh Mandate of its principal valid until ``until`` (ms after its start; None: a day past
    the contract's last ruling time) and signs a Deposit under it. Returns its transcript and the Accept."""
    b = _bonded_a_long_trade(tmp_path)
    end = b.t0 + until if until is not None else last_ruling_ms(proposal_of(b.offer)) + DAY_MS
    monkeypatch.setattr(Escrow, "outlived_by", lambda self, mandate, earlier: None)
    node = b.start(_escrow_mandate(b.escrow, b.t0, end).envelope)
    try:
        b.clock.advance(1_000)
        node.deposit(b.alice.did, 1)  # signed under the Mandate it was restarted with
        return node.escrow.transcript(), b.accept
    finally:
        node.close()


class _LongTrade(NamedTuple):
    clock: FixedClock
    t0: int
    alice: Party
    escrow: Party
    path: Path
    start: Callable[[bytes], EscrowNode]  # the escrow node on its journal under a Mandate (an envelope)
    offer: VerifiedStatement
    accept: VerifiedStatement
    answer: list[bytes]  # the escrow's answer to the contract's Submit


def _bonded_a_long_trade(tmp_path: Path) -> _LongTrade:
    """An escrow under its Mandate valid a year (journal ``tmp_path/e.db``) bonds Mallory's trade with
    Alice due in three days, then stops."""
    from test_attack21 import _long_contract

    clock = FixedClock()
    alice, mallory, e = Party("alice", clock), Party("mallory", clock), Party("escrow", clock)
    path = tmp_path / "e.db"

    def start(mandate: bytes) -> EscrowNode:
        return EscrowNode(e.agent.key, mandate, path, clock=lambda: clock.now_ms, durability="normal")

    t0 = clock.now_ms
    node = start(e.mandate_vs.envelope)
    try:
        for p in (alice, mallory):
            node.deposit(p.did, FUNDS)
        offer, accept = _long_contract(mallory, alice, e.did)
        answer = node.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    finally:
        node.close()
    return _LongTrade(clock, t0, alice, e, path, start, offer, accept, list(answer))


@pytest.mark.req("ESC-021", "AUD-003")
def test_the_audit_names_an_escrow_restarted_under_a_shorter_mandate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escrow that skips ESC-021 is named by its audit: its first statement citing the Mandate valid
    two days, while the contract it bonded under the one valid a year may need a Ruling for three days
    more, is MANDATE_VIOLATION (naming that statement and the contract's Accept)."""
    transcript, accept = _bonded_then_restarted(tmp_path, monkeypatch, 2 * DAY_MS)
    report = audit_ledger(transcript)
    assert [f.code for f in report.findings] == ["MANDATE_VIOLATION"]
    assert "ESC-021" in report.findings[0].message
    assert report.findings[0].digests[-1] == accept.digest
    assert report.statements[-1].body == "deposit"
    assert report.findings[0].digests[0] == report.statements[-1].digest


@pytest.mark.req("ESC-021", "AUD-003")
@pytest.mark.parametrize("until", [2 * 365 * DAY_MS, None], ids=["longer", "past-the-last-ruling"])
def test_the_audit_takes_an_escrow_renewed_under_a_mandate_that_covers_its_contracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, until: int | None
) -> None:
    """The honest renewals: a Mandate reaching further than the one the escrow ran under, or a shorter
    one still reaching past the open contract's last ruling time, is no finding."""
    transcript, _ = _bonded_then_restarted(tmp_path, monkeypatch, until)
    report = audit_ledger(transcript)
    assert report.ok, report.findings
    assert report.statements[-1].body == "deposit"


def test_a_counter_asking_no_more_than_it_took_from_the_favoured_is_no_cartel_sign() -> None:
    """The cartel screen's Counter rule (red team 17) compared a Counter's ask with what the subject had
    asked the favoured Y in proposals of its own: one that took Y's offer as it came had asked Y nothing,
    so any Counter an X rejected -- a Counter asking less than an even trade, after taking Y's even trade
    -- discriminated (score 0.5, threshold 0.16). X chooses to make the offer, to reject the Counter and
    to form no contract: Mallory, offering an honest agent a fair deal and rejecting its fair Counter,
    had it named a cartel member. What the subject took from Y now counts as asked of Y; a Counter
    asking X more than that still discriminates."""
    from test_redteam17 import _counter_market

    for fair in (1.0, 0.9):
        s, held = _counter_market(ask_insider=0, ask_outsider=fair)
        assert not [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"], fair
    s, held = _counter_market(ask_insider=0, ask_outsider=1.3)
    assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]
