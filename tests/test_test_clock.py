"""The test clock (SPEC.md CTL-003): ``--test-clock`` on ``a2a-coop serve`` and ``a2a-coop escrow serve``
runs the process on the wall clock plus an offset that TestClockService's AdvanceClock moves forward.

It is refused unless turned on (a process without it does not serve TestClockService), refused to a
caller that is not the operator's (behind mutual TLS), and only moves forward: a backward or empty move
is refused and moves nothing. The processes of tests/test_processes.py and others use it so that a
ruling past a deadline plus the 30 s clock tolerance comes in seconds, not half a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from cli_run import one_line_error, run_cli

from a2a_coop.cli.demo import Identity, provision, start_server, stop_process, wait_listening
from a2a_coop.runtime.testclock import MAX_ADVANCE_MS, TestClock, advance_clock
from a2a_coop.transport import TlsConfig, TransportError

MINUTE_MS = 60_000


def test_the_clock_moves_forward_only() -> None:
    """The offset adds to the wall clock; a move of 0 or less, or above the cap, is refused
    ``ValueError`` and moves nothing; a wall clock stepped back does not take the clock back."""
    wall = [1_000_000]
    clock = TestClock(lambda: wall[0])
    assert clock() == 1_000_000
    assert clock.advance(MINUTE_MS) == 1_060_000
    for by in (0, -1, -MINUTE_MS, MAX_ADVANCE_MS + 1):
        with pytest.raises(ValueError, match=r"by_ms must|at most"):
            clock.advance(by)
    assert clock() == 1_060_000 and clock.offset_ms == MINUTE_MS  # nothing moved
    wall[0] -= 5_000  # the machine's clock stepped back
    assert clock() == 1_060_000  # a time handed out stays the floor
    wall[0] += 10_000
    assert clock() == 1_065_000


@contextmanager
def _escrow(
    tmp_path: Path, extra: Sequence[str] = (), name: str = "escrow"
) -> Iterator[tuple[str, Identity]]:
    who = provision(tmp_path, name)
    server = start_server(name, ["escrow", "serve", *who.files(), *extra], tmp_path / f"{name}.log")
    try:
        yield wait_listening(server).target, who
    finally:
        stop_process(server.popen)


@pytest.mark.req("CTL-003")
def test_an_escrow_moves_its_clock_only_when_turned_on_and_only_forward(tmp_path: Path) -> None:
    """An escrow started without ``--test-clock`` does not serve TestClockService (UNIMPLEMENTED): nobody
    moves its clock. With it, AdvanceClock moves it, and every statement it signs afterwards is dated by
    the moved clock (its Mandate's Submit answer is old, so: a deposit's ledger entry); a backward move
    is refused INVALID_ARGUMENT and moves nothing."""
    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.runtime.peer import wall_clock_ms
    from a2a_coop.transport import EscrowClient

    with _escrow(tmp_path, name="plain") as (target, _):
        with pytest.raises(TransportError) as refused:
            advance_clock(target, MINUTE_MS)
        assert refused.value.code == grpc.StatusCode.UNIMPLEMENTED
    with _escrow(tmp_path, ["--test-clock"]) as (target, _):
        for by in (-MINUTE_MS, 0):
            with pytest.raises(TransportError) as backward:
                advance_clock(target, by)
            assert backward.value.code == grpc.StatusCode.INVALID_ARGUMENT
        before = wall_clock_ms()
        now, offset = advance_clock(target, 10 * MINUTE_MS)
        assert offset == 10 * MINUTE_MS  # the refused moves moved nothing
        assert now >= before + 10 * MINUTE_MS
        carol = provision(tmp_path, "carol")
        with EscrowClient(target) as client:
            answer = client.submit([carol.mandate])
        dated = [verify_statement(env).statement.header.issued_at_ms for env in answer[1:]]
        # signed on the moved clock
        assert dated and all(at >= before + 10 * MINUTE_MS for at in dated), dated


@pytest.mark.req("CTL-003", "A2A-026")
def test_a_counterpartys_certificate_cannot_move_the_clock(tmp_path: Path) -> None:
    """The attack: Mallory, certified by the escrow's client CA to reach it, asks its test clock to move
    an hour forward (past her counterparty's deadlines, so that the escrow rules against him). Refused
    PERMISSION_DENIED, reason NOT_OPERATOR, before anything moved; the operator's certificate moves it,
    and the offset it reports shows Mallory's call moved nothing."""
    pytest.importorskip("cryptography")
    pytest.importorskip("a2a")
    from pki import Pki

    from a2a_coop.a2a.callers import der_of, fingerprint

    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    pki = Pki(pki_dir)
    pki.issue("ops")
    callers = tmp_path / "callers.txt"
    callers.write_text(f"{fingerprint(der_of((pki.dir / 'ops.pem').read_bytes())).hex()} operator\n")
    tls_files = ["--tls-cert", str(pki.dir / "server.pem"), "--tls-key", str(pki.dir / "server.key")]
    tls_files += ["--tls-client-ca", str(pki.dir / "ca.pem")]
    mallory = provision(tmp_path, "mallory")

    def dial(holder: str) -> TlsConfig:
        return TlsConfig.from_files(
            certificate_chain=pki.dir / f"{holder}.pem",
            private_key=pki.dir / f"{holder}.key",
            trusted_ca=pki.dir / "ca.pem",
        )

    with _escrow(tmp_path, ["--test-clock", "--callers", str(callers), *tls_files]) as (target, _):
        pki.issue("mallory", mallory.did)
        with pytest.raises(TransportError) as refused:
            advance_clock(target, 60 * MINUTE_MS, tls=dial("mallory"))
        assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED  # the attack was tried ...
        assert refused.value.reason == "NOT_OPERATOR"  # ... and refused as no operator's
        _, offset = advance_clock(target, MINUTE_MS, tls=dial("ops"))
        assert offset == MINUTE_MS  # hers moved nothing


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["escrow", "serve", "--test-clock", "--host", "0.0.0.0"], "--test-clock lets its caller move"),
        (["serve", "--test-clock", "--host", "0.0.0.0"], "--test-clock lets its caller move"),
        (["serve", "--test-clock", "--a2a"], "--test-clock is not available with --a2a"),
    ],
)
def test_the_test_clock_off_loopback_or_with_a2a_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """Served where any host could reach it, unauthenticated, anyone could move the process's clock:
    refused (exit 2) in one line, no traceback, before anything listens."""
    who = provision(tmp_path, "who")
    code, _, err = run_cli(capsys, *argv, *who.files())
    assert code == 2, err
    one_line_error(err, says)


@pytest.mark.req("CTL-003")
def test_the_suite_checks_an_escrows_test_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctl.escrow-test-clock-closed``: it passes an escrow that serves no test clock and one whose test
    clock refuses a move backwards (on loopback), and fails one whose clock takes it: the case can fail."""
    from a2a_coop.cli import main
    from a2a_coop.runtime.node import EscrowNode
    from a2a_coop.runtime.testclock import test_clock_service
    from a2a_coop.transport import serve

    case = "ctl.escrow-test-clock-closed"
    who = provision(tmp_path, "escrow")
    clock = TestClock()
    node = EscrowNode(who.key, who.mandate, tmp_path / "escrow.db", clock=clock)
    levels = {}
    try:
        for label, extra in (("none", []), ("forward", [test_clock_service(clock)])):
            with serve(None, node, extra_servicers=extra) as server:
                report = tmp_path / label
                code = main(
                    ["conformance", "--target", server.target, "--case", case, "--report-dir", str(report)]
                )
            levels[label] = (code, json.loads((report / "report.json").read_text())["cases"][0]["level"])

        def backwards(self: TestClock, by_ms: int) -> int:  # a test clock that moves back
            self._offset += by_ms
            return self()

        clock.advance(MINUTE_MS)  # room to move back without a negative offset
        monkeypatch.setattr(TestClock, "advance", backwards)
        with serve(None, node, extra_servicers=[test_clock_service(clock)]) as server:
            report = tmp_path / "backwards"
            code = main(
                ["conformance", "--target", server.target, "--case", case, "--report-dir", str(report)]
            )
        levels["backwards"] = (code, json.loads((report / "report.json").read_text())["cases"][0]["level"])
    finally:
        node.close()
    assert levels == {"none": (0, "PASS"), "forward": (0, "PASS"), "backwards": (1, "FAIL")}
