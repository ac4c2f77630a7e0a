"""The live suite's escrow role (issue 14): the reference escrow passes every escrow case as its own
process, its bonded cases SKIP (not FAIL) when it funds nobody, and an escrow with one deviation from
SPEC 9 fails the case that checks it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from a2a_coop.cli import main
from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
from a2a_coop.protocol import escrow as escrow_rules
from a2a_coop.protocol.negotiation import Contract, Negotiation
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.testclock import TestClock, test_clock_service
from a2a_coop.transport import serve
from conformance.suite.model import Role
from conformance.suite.runner import load_cases

ESCROW_CASES = sorted(c.id for c in load_cases().values() if c.role is Role.ESCROW)
BONDED = {
    "esc.bonds-lock-and-release",
    "esc.bond-not-covered",
    "esc.lapse-unbonded-at-cutoff",
    "esc.resubmitted-contract-brings-locks",
    "esc.hidden-accept-revealed",
    "esc.superseded-answer-not-taken",
    "esc.answer-taken-closes-offer",
    "esc.forked-accept-claims-nothing",
    "esc.displaced-bonds-refunded",
    "esc.forfeit-after-uphold",
    "esc.refund-after-lapse",
    "esc.revoke-forfeit",
}


def _levels(report_dir: Path) -> dict[str, str]:
    doc = json.loads((report_dir / "report.json").read_text())
    return {c["id"]: c["level"] for c in doc["cases"]}


def _run_cases(escrow_node: EscrowNode, report_dir: Path, *cases: str) -> tuple[int, dict[str, str]]:
    """Serve ``escrow_node`` and run the suite's ``cases`` against it: the exit code and each case's level.
    The node runs on a test clock (:func:`escrow_node`), served to the suite, which moves it past the
    clock tolerance where a case would wait it out (``--test-clock``, CTL-003)."""
    assert isinstance(escrow_node.clock, TestClock)
    with serve(None, escrow_node, extra_servicers=[test_clock_service(escrow_node.clock)]) as server:
        args = [a for case in cases for a in ("--case", case)]
        code = main(
            ["conformance", "--target", server.target, *args, "--report-dir", str(report_dir), "--test-clock"]
        )
    return code, _levels(report_dir)


@pytest.fixture
def escrow_node(tmp_path: Path) -> Iterator[EscrowNode]:
    who = provision(tmp_path, "escrow")
    node = EscrowNode(who.key, who.mandate, tmp_path / "escrow.db", faucet=1_000, clock=TestClock())
    node.start_ticking(0.05)
    try:
        yield node
    finally:
        node.close()


# The cases that wait out the clock tolerance for a ruling (CMT-002), each ~30 s on the wall clock: run
# with the escrow on a test clock (CTL-003), which the suite moves past the tolerance instead.
WAITING = ("esc.ruling-dismiss", "esc.forfeit-after-uphold")


def test_the_waiting_cases_are_escrow_cases() -> None:
    assert set(WAITING) <= set(ESCROW_CASES)


def _passes(tmp_path: Path, cases: Sequence[str], *, test_clock: bool) -> None:
    """The reference escrow as a process (on a test clock, moved by the suite, if ``test_clock``)
    passes every one of ``cases``."""
    who = provision(tmp_path, "escrow")
    clock = ["--test-clock"] if test_clock else []
    server = start_server(
        "escrow",
        ["escrow", "serve", *who.files(), "--conformance-faucet", "1000", "--tick-ms", "50", *clock],
        tmp_path / "e.log",
    )
    try:
        target = wait_listening(server).target
        selected = [a for case in cases for a in ("--case", case)]
        report = ["--report-dir", str(tmp_path / "r")]
        assert main(["conformance", "--target", target, "--role", "escrow", *selected, *report, *clock]) == 0
    finally:
        stop_process(server.popen)
    levels = _levels(tmp_path / "r")
    assert sorted(levels) == sorted(cases)
    assert set(levels.values()) == {"PASS"}, levels


@pytest.mark.req("CTL-003")
def test_the_reference_escrow_process_passes_every_escrow_case(tmp_path: Path) -> None:
    """Every escrow case, in one run against one escrow process on a test clock: the two that wait out
    the clock tolerance move its clock (and the suite's, and so every later case's) past it."""
    _passes(tmp_path, ESCROW_CASES, test_clock=True)


@pytest.mark.slow
def test_the_waiting_cases_pass_on_the_wall_clock(tmp_path: Path) -> None:
    """The two waiting cases as any target runs them, without a test clock: each waits ~30 s of wall
    clock for the ruling (slow: the default run moves a test clock instead)."""
    _passes(tmp_path, WAITING, test_clock=False)


def test_bonded_cases_skip_when_the_escrow_funds_nobody(tmp_path: Path) -> None:
    who = provision(tmp_path, "escrow")
    node = EscrowNode(who.key, who.mandate, tmp_path / "escrow.db")
    node.start_ticking(0.05)
    try:
        with serve(None, node) as server:
            cases = [a for c in sorted(BONDED) for a in ("--case", c)]
            assert (
                main(["conformance", "--target", server.target, *cases, "--report-dir", str(tmp_path / "r")])
                == 0
            )
    finally:
        node.close()
    assert set(_levels(tmp_path / "r").values()) == {"SKIP"}


def test_a_peer_target_skips_the_escrow_cases(escrow_node: EscrowNode, tmp_path: Path) -> None:
    """And an escrow target skips every case of the other roles (it serves no CooperationService)."""
    with serve(None, escrow_node) as server:
        assert (
            main(
                [
                    "conformance",
                    "--target",
                    server.target,
                    "--case",
                    "env.garbage",
                    "--case",
                    "esc.empty-submit",
                    "--report-dir",
                    str(tmp_path / "r"),
                ]
            )
            == 0
        )
    assert _levels(tmp_path / "r") == {"env.garbage": "SKIP", "esc.empty-submit": "PASS"}


def test_an_escrow_that_upholds_every_claim_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from a2a_coop._proto.a2acoop.v1 import commitment_pb2

    def always_uphold(c, claim, accused, item, verifier):  # type: ignore[no-untyped-def]
        return commitment_pb2.Ruling(
            contract=c.id, claim=claim, decision=commitment_pb2.RULING_DECISION_UPHOLD
        )

    monkeypatch.setattr(escrow_rules, "ruling_for", always_uphold)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.ruling-dismiss", "esc.ruling-uphold")
    assert code == 1
    assert levels == {"esc.ruling-dismiss": "FAIL", "esc.ruling-uphold": "PASS"}


def test_an_escrow_that_rules_while_a_timely_delivery_can_still_come_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before this rule: it ruled once the claim's stamp plus the response window had
    passed, though a Delivery stamped up to the clock tolerance after the deadline is timely (WIT-003):
    under a 1 ms window it upholds the claim before Bob's timely Delivery reaches it."""
    from a2a_coop.protocol.negotiation import Contract

    def at_stamp_plus_window(self: Contract, claim: bytes) -> int:
        return self.stamped_ms[claim] + self.response_window_ms

    monkeypatch.setattr(Contract, "ruling_due_ms", at_stamp_plus_window)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.ruling-dismiss")
    assert code == 1
    assert levels == {"esc.ruling-dismiss": "FAIL"}


def test_an_escrow_that_does_not_stamp_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(escrow_rules.Escrow, "_stamp", lambda self, *a, **kw: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.stamp-evidence")
    assert code == 1
    assert levels == {"esc.stamp-evidence": "FAIL"}


class _Forgetful(dict[bytes, object]):
    """An escrow's record (of what it signed about each contract, of each offer's Accept) that it never
    reads back (nor, for a contract it forgot, reads from its journal: patched beside it)."""

    def get(self, key: bytes, default: object = None) -> object:  # type: ignore[override]
        return default


def test_an_escrow_that_answers_a_held_accept_without_its_locks_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-008: a responder that submits its contract again gets the Stamp, not
    the locks, and stays where its initiator's silence keeps it."""
    monkeypatch.setattr(escrow_node.escrow, "_signed_about", _Forgetful())
    monkeypatch.setattr(escrow_node.escrow, "_signed_about_contract", lambda negotiation_id: [])
    code, levels = _run_cases(
        escrow_node, tmp_path / "r", "esc.resubmitted-contract-brings-locks", "esc.idempotent-submit"
    )
    assert code == 1
    assert levels == {
        "esc.resubmitted-contract-brings-locks": "FAIL",
        "esc.idempotent-submit": "PASS",
    }


def test_an_escrow_that_answers_an_accepted_offer_without_its_accept_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-012: an offerer that submits its Offer gets its Stamp, never the Accept
    its acceptor showed the escrow alone, and never learns of the contract that binds its bond."""
    monkeypatch.setattr(escrow_node.escrow, "_accept_of", _Forgetful())
    monkeypatch.setattr(escrow_node.escrow, "_accept_of_offer", lambda offer: b"")
    code, levels = _run_cases(
        escrow_node, tmp_path / "r", "esc.hidden-accept-revealed", "esc.resubmitted-contract-brings-locks"
    )
    assert code == 1
    assert levels == {
        "esc.hidden-accept-revealed": "FAIL",
        "esc.resubmitted-contract-brings-locks": "PASS",
    }


def _takes_answers_beside_a_witnessed_accept(
    escrow_node: EscrowNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-014: it takes every answer it is shown, so an offerer that shows it the
    Reject its acceptor sent beside an Accept the escrow witnessed is refused, and never told of the
    contract that binds its bond."""
    monkeypatch.setattr(escrow_node.escrow, "_superseded_by", lambda vs, cut_off: None)


def _takes_an_accept_after_the_answer_it_took(
    escrow_node: EscrowNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escrow that counts the Stamp it is giving an Accept as witnessing it, and so forgets that an
    answer it stamped closed the offer: an acceptor that rejected, and was shown to have, can still
    bind the offerer's bond until the cutoff."""
    from test_attack10 import _any_witnessed_accept

    monkeypatch.setattr(Negotiation, "_takes_precedence", _any_witnessed_accept)


@pytest.mark.parametrize(
    ("fault", "fails"),
    [
        (_takes_answers_beside_a_witnessed_accept, "esc.superseded-answer-not-taken"),
        (_takes_an_accept_after_the_answer_it_took, "esc.answer-taken-closes-offer"),
    ],
)
def test_an_escrow_without_esc_014_fails_its_case(
    fault: Callable[[EscrowNode, pytest.MonkeyPatch], None],
    fails: str,
    escrow_node: EscrowNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault(escrow_node, monkeypatch)
    cases = ("esc.superseded-answer-not-taken", "esc.answer-taken-closes-offer")
    code, levels = _run_cases(escrow_node, tmp_path / "r", *cases)
    assert code == 1
    assert levels == {case: "FAIL" if case == fails else "PASS" for case in cases}


def test_an_escrow_that_takes_claims_of_a_forked_acceptor_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-015: shown a Reject its acceptor signed at the seq of the Accept it
    witnessed, it takes the acceptor's claim all the same, and the offerer, who could not take the
    Accept, loses its bond."""
    monkeypatch.setattr(escrow_node.escrow, "_note_fork", lambda vs, fork=None: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.forked-accept-claims-nothing")
    assert code == 1
    assert levels == {"esc.forked-accept-claims-nothing": "FAIL"}


def test_an_escrow_that_keeps_a_displaced_contracts_bonds_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-016: shown an Accept another escrow witnessed that displaces a contract it
    bonds, it lets the contract go and keeps both bonds locked for good."""
    monkeypatch.setattr(escrow_node.escrow, "_refund_displaced", lambda now_ms: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.displaced-bonds-refunded")
    assert code == 1
    assert levels == {"esc.displaced-bonds-refunded": "FAIL"}


def test_an_escrow_that_locks_whenever_funds_arrive_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-010: bonding never ends, so a contract not bonded by its cutoff waits
    for funds until a day after its deadline, and the party that funds last chooses when it is bonded."""
    monkeypatch.setattr(Contract, "bond_cutoff_ms", property(lambda self: 2**53 - 1))
    code, levels = _run_cases(
        escrow_node, tmp_path / "r", "esc.lapse-unbonded-at-cutoff", "esc.bond-not-covered"
    )
    assert code == 1
    assert levels == {"esc.lapse-unbonded-at-cutoff": "FAIL", "esc.bond-not-covered": "PASS"}


def test_the_faucet_is_refused_off_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    who = provision(tmp_path, "escrow")
    code = main(["escrow", "serve", *who.files(), "--host", "0.0.0.0", "--conformance-faucet", "10"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--conformance-faucet lets any caller mint funds" in err and "Traceback" not in err


@pytest.mark.req("ESC-018")
def test_an_escrow_that_does_not_show_a_forked_binding_misses_a_should(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-018: a binding a thief of the key forked is refused, the Submit stopping
    there, and the principal's revocation after it is never read: NON-STRICT (a SHOULD missed); the
    reference escrow passes, and its transcript, holding the shown binding, audits clean."""
    code, levels = _run_cases(
        escrow_node, tmp_path / "ok", "esc.revocation-with-forked-binding", "esc.ledger-audits-clean"
    )
    assert (code, levels) == (
        0,
        {"esc.revocation-with-forked-binding": "PASS", "esc.ledger-audits-clean": "PASS"},
    )
    monkeypatch.setattr(escrow_node.escrow, "_show_binding", lambda *a: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.revocation-with-forked-binding")
    assert levels == {"esc.revocation-with-forked-binding": "NON-STRICT"}


@pytest.mark.req("KEY-007")
def test_an_escrow_that_binds_nothing_by_a_refusal_key_revoked_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before KEY-007 (a) reached it: a key's Checkpoint under its principal's Mandate refused
    KEY_REVOKED (the key revoked itself first) bound nothing, the Submit stopped there, and the principal's
    revocation it authorised was refused: FAIL (a MUST); the reference passes, its ledger audits clean."""
    code, levels = _run_cases(
        escrow_node, tmp_path / "ok", "esc.binding-refused-key-revoked", "esc.ledger-audits-clean"
    )
    assert (code, levels) == (
        0,
        {"esc.binding-refused-key-revoked": "PASS", "esc.ledger-audits-clean": "PASS"},
    )
    monkeypatch.setattr(escrow_node.escrow.verifier, "binds_past_revocation", lambda *a, **kw: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.binding-refused-key-revoked")
    assert (code, levels) == (1, {"esc.binding-refused-key-revoked": "FAIL"})


@pytest.mark.req("KEY-007")
def test_an_escrow_that_binds_nothing_by_a_refused_accept_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before KEY-007 (a) reached statements of a negotiation: a key's Accept under its
    principal's Mandate refused KEY_REVOKED (the key revoked itself first) bound nothing, and the principal's
    revocation it authorised was refused: FAIL (a MUST); the reference passes, its ledger audits clean."""
    case = "esc.negotiation-binding-refused-key-revoked"
    code, levels = _run_cases(escrow_node, tmp_path / "ok", case, "esc.ledger-audits-clean")
    assert (code, levels) == (0, {case: "PASS", "esc.ledger-audits-clean": "PASS"})
    monkeypatch.setattr(escrow_node.escrow.verifier, "binds_past_revocation", lambda *a, **kw: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", case)
    assert (code, levels) == (1, {case: "FAIL"})


@pytest.mark.req("ESC-019")
def test_an_escrow_that_bonds_contracts_past_a_mandate_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-019: it takes an Accept under which the acceptor could sign no claim
    through the claim window (its Mandate ends first), and arbitrates a contract its party cannot claim
    under."""
    monkeypatch.setattr(escrow_node.escrow, "_check_claimable", lambda accept, now_ms: None)
    code, levels = _run_cases(
        escrow_node, tmp_path / "r", "esc.contract-past-mandate", "esc.unwitnessed-accept"
    )
    assert code == 1
    assert levels == {"esc.contract-past-mandate": "FAIL", "esc.unwitnessed-accept": "PASS"}


@pytest.mark.req("ESC-020")
def test_an_escrow_that_bonds_contracts_past_its_own_mandate_fails(
    escrow_node: EscrowNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow of before ESC-020: it takes an Accept of a contract whose last ruling time is its own
    Mandate's valid_until_ms, a Ruling it could never sign (the reference escrow passes the case:
    test_the_reference_escrow_process_passes_every_escrow_case)."""
    monkeypatch.setattr(escrow_node.escrow.verifier, "escrow_outlived", lambda offer, mandate: None)
    code, levels = _run_cases(escrow_node, tmp_path / "r", "esc.contract-past-escrow-mandate")
    assert (code, levels) == (1, {"esc.contract-past-escrow-mandate": "FAIL"})
