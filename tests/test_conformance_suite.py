"""The live conformance suite (issue 14): its catalogue covers SPEC.md, the reference peer and the
reference honest agent pass it as real processes, and its exit codes tell a broken target (1) from a
usage or connection error (2)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from a2a_coop.cli import main
from a2a_coop.cli.demo import (
    Identity,
    ServerProcess,
    child_env,
    cli_command,
    provision,
    start_server,
    stop_process,
    wait_listening,
)
from a2a_coop.protocol.errors import CoopError
from a2a_coop.runtime.keyfile import generate_keypair
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import DEFAULT_MAX_OPEN_PER_COUNTERPARTY
from a2a_coop.transport import TransportError, serve
from conformance.registry import read_registry
from conformance.suite import report
from conformance.suite.model import CATALOGUE, Level
from conformance.suite.runner import load_cases

ALLOWED_ON_REFERENCE = {Level.PASS.value, Level.SKIP.value, Level.NOT_TESTED.value, Level.INFO.value}
RUN_TIMEOUT_S = 120


def conformance(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """``a2a-coop conformance ARGV`` as a process, plain output (CI=true)."""
    return subprocess.run(
        cli_command("conformance", *map(str, argv)),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**child_env(), "CI": "true"},
        check=False,
    )


@pytest.fixture(scope="module")
def reference_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Identity]]:
    """``a2a-coop serve --conformance-control`` as its own process (one for the module: each run uses
    fresh identities), so the initiator cases run too."""
    yield from _serving(tmp_path_factory.mktemp("reference"), "bob", ["serve", "--conformance-control"])


def _serving(tmp_path: Path, name: str, command: Sequence[str]) -> Iterator[tuple[ServerProcess, Identity]]:
    who = provision(tmp_path, name)
    server = start_server(name, [*command, *who.files()], tmp_path / f"{name}.log")
    try:
        yield wait_listening(server), who
    finally:
        stop_process(server.popen)


# --- the catalogue ----------------------------------------------------------------------------


def test_every_must_requirement_has_a_case() -> None:
    cases = load_cases()
    named = {r for c in cases.values() for r in c.requirements}
    missing = [r.id for r in read_registry() if r.level == "MUST" and r.id not in named]
    assert not missing, f"MUST requirements without a conformance case: {missing}"


def test_cases_name_only_requirements_spec_states() -> None:
    known = {r.id for r in read_registry()}
    for case in load_cases().values():
        unknown = set(case.requirements) - known
        assert not unknown, f"{case.id} names {unknown}, which SPEC.md does not state"
        assert case.title and case.doc, f"{case.id} needs a title and a docstring (--explain prints it)"


def test_a_case_id_cannot_be_registered_twice() -> None:
    from conformance.suite.model import case

    some = next(iter(load_cases()))
    with pytest.raises(ValueError, match="twice"):
        case(some, "again", "ENV-001")(lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="lower-case"):
        case("NoArea", "bad id", "ENV-001")
    assert CATALOGUE[some].id == some


def test_list_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "env.signature-flipped" in listed and f"{len(load_cases())} cases" in listed
    assert main(["conformance", "--explain", "chn.equivocation"]) == 0
    explained = capsys.readouterr().out
    assert "CHN-004 (MUST" in explained and "EQUIVOCATION" in explained


def test_python_dash_m_conformance_is_the_suite_command() -> None:
    """``python -m conformance`` (the package alone, what a user tries first) runs the same command
    as ``a2a-coop conformance``; it said 'No module named conformance.__main__'."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "--list"], capture_output=True, text=True, cwd=root, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"{len(load_cases())} cases\n")


# --- usage and connection errors: exit 2, one line, no traceback ------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["conformance"],
        ["conformance", "--target", "nohostport"],
        ["conformance", "--target", "127.0.0.1:1", "--case", "no.such-case"],
        ["conformance", "--explain", "no.such-case"],
        ["conformance", "--target", "127.0.0.1:1"],  # nothing listens there
        ["conformance", "--target", "127.0.0.1:1", "--expected-failures", "/nonexistent/file"],
    ],
)
def test_usage_and_connection_errors_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("a2a-coop: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # "nan" and "inf" passed the check and every call timed out: "cannot reach the target"
        (["--target", "127.0.0.1:1", "--timeout", "nan"], "--timeout must be a positive number of seconds"),
        (["--target", "127.0.0.1:1", "--timeout", "inf"], "--timeout must be a positive number of seconds"),
        (["--vectors", "nope.json"], "cannot read nope.json"),  # was "conformance.offline: ..."
        (
            ["--matrix", ".", "--report-dir", "."],
            "--matrix: no report.json or offline-report.json in . (give",
        ),
        # a file where the reports should go: "cannot write reports to out: File exists"
        (
            ["--target", "127.0.0.1:1", "--report-dir", "out.txt"],
            "--report-dir out.txt is a file, not a directory",
        ),
    ],
)
def test_a_newcomers_mistakes_are_said_plainly(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli_run import one_line_error

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.txt").write_text("not a directory\n")
    assert main(["conformance", *argv]) == 2
    one_line_error(capsys.readouterr().err, message)


# --- against real targets ---------------------------------------------------------------------


def _report(directory: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((directory / "report.json").read_text())
    return doc


def test_reference_peer_passes_every_case(
    reference_peer: tuple[ServerProcess, Identity], tmp_path: Path
) -> None:
    server, _ = reference_peer
    out = tmp_path / "reports"
    run = conformance("--target", server.target, "--report-dir", out)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = _report(out)
    assert doc["schema"] == "a2a-coop-conformance/1" and doc["exit_code"] == 0
    cases = doc["cases"]
    assert isinstance(cases, list) and len(cases) == len(load_cases())
    bad = {c["id"]: (c["level"], c["reason"]) for c in cases if c["level"] not in ALLOWED_ON_REFERENCE}
    assert not bad, bad
    assert sum(c["level"] == "PASS" for c in cases) >= 100
    assert all(c["level"] == "PASS" for c in cases if c["role"] == "initiator")
    for c in cases:  # every case that talked to the target left its transcript and a replay command
        assert c["replay"].startswith("a2a-coop conformance --target") and f"--case {c['id']}" in c["replay"]
        if c["level"] == "PASS":
            assert c["transcript"], c["id"]
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests", "0")) == len(cases)
    page = (out / "report.html").read_text()
    assert "<script" not in page and "env.signature-flipped" in page and "Audit findings" in page
    assert doc["signed"], "the recorder kept nothing the target signed"
    # The reference peer is honest: the audit of everything it signed in a whole run finds nothing,
    # not even a soft screen (a refusal of an offer under an untrusted escrow is no cartel sign).
    assert doc["audit"] == [], doc["audit"]


def test_reference_honest_agent_passes_every_case(tmp_path: Path) -> None:
    for server, _ in _serving(tmp_path, "honest", ["agent", "run", "--strategy", "honest"]):
        run = conformance("--target", server.target, "--report-dir", tmp_path / "r")
        assert run.returncode == 0, run.stdout + run.stderr
        cases = _report(tmp_path / "r")["cases"]
        assert {c["level"] for c in cases} <= ALLOWED_ON_REFERENCE  # type: ignore[attr-defined]
        # without --conformance-control the initiator cases say so, honestly
        assert {c["level"] for c in cases if c["role"] == "initiator"} == {"SKIP"}  # type: ignore[attr-defined]


def test_one_case_replays_with_its_seed(reference_peer: tuple[ServerProcess, Identity]) -> None:
    server, _ = reference_peer
    run = conformance("--target", server.target, "--case", "neg.trade-to-fulfilment", "--seed", "abc123")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 cases, seed abc123" in run.stdout and "1 PASS" in run.stdout


def test_a_reader_that_leaves_mid_run_is_no_target_that_stopped_answering(
    reference_peer: tuple[ServerProcess, Identity], tmp_path: Path
) -> None:
    """`a2a-coop conformance ... | head -2`: the write after head left raised BrokenPipeError, a
    ConnectionError, which the run reported as `the target ... stopped answering: [Errno 32] Broken
    pipe` (exit 2, blaming the target). It exits 141 quietly, as every command whose reader left."""
    server, _ = reference_peer
    argv = ["conformance", "--target", server.target, "--report-dir", str(tmp_path)]
    with subprocess.Popen(
        cli_command(*argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**child_env(), "CI": "true"},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("target ")
        assert proc.stdout.readline().startswith("[1/")  # the first case's result: then head leaves
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=RUN_TIMEOUT_S)
    assert code == 141, err
    assert "stopped answering" not in err and "Traceback" not in err


# --- a target that breaks one MUST: exit 1 ----------------------------------------------------


class _WrongStatusForBadSignatures:
    """A real peer with one deviation: it reports SIGNATURE_INVALID as a bare INVALID_ARGUMENT, with no
    ErrorInfo (breaks RPC-005 and ERR-001 for that one code)."""

    def __init__(self, node: PeerNode) -> None:
        self.node = node

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        try:
            return self.node.exchange(envelope, context)
        except CoopError as exc:
            if exc.code == "SIGNATURE_INVALID":
                raise TransportError(grpc.StatusCode.INVALID_ARGUMENT, "bad signature") from None
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self.node, name)


@pytest.fixture
def broken_target(tmp_path: Path) -> Iterator[str]:
    who = provision(tmp_path, "broken")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "broken.db")
    try:
        with serve(_WrongStatusForBadSignatures(node), None) as server:
            yield server.target
    finally:
        node.close()


def test_a_target_that_breaks_a_must_fails_the_run(broken_target: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    code = main(["conformance", "--target", broken_target, "--report-dir", str(out)])
    assert code == 1
    doc = _report(out)
    failed = {c["id"] for c in doc["cases"] if c["level"] == "FAIL"}  # type: ignore[attr-defined]
    assert "env.signature-flipped" in failed
    junit = ET.parse(out / "junit.xml").getroot()
    assert int(junit.get("failures", "0")) == len(failed)


def test_expected_failures_turn_the_run_green_and_report_unexpected_passes(
    broken_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope_cases = [c for c in load_cases() if c.startswith("env.")]
    probe = tmp_path / "probe"
    main(
        [
            "conformance",
            "--target",
            broken_target,
            "--report-dir",
            str(probe),
            *(f"--case={c}" for c in envelope_cases),
        ]
    )
    failed = [c["id"] for c in _report(probe)["cases"] if c["level"] == "FAIL"]  # type: ignore[attr-defined]
    assert failed == ["env.signature-flipped", "env.signature-short"]
    listing = tmp_path / "expected.txt"
    listing.write_text(
        "# known: our bad-signature status\n"
        + "\n".join(f"{c}  issue #1" for c in failed)
        + "\nenv.garbage  # passes\n"
    )
    capsys.readouterr()
    rerun = [*(f"--case={c}" for c in failed), "--case=env.garbage", "--report-dir", str(tmp_path / "r")]
    assert main(["conformance", "--target", broken_target, "--expected-failures", str(listing), *rerun]) == 0
    out = capsys.readouterr().out
    # In junit.xml an expected failure is skipped (as pytest reports an xfail), not a pass that only a
    # system-out told apart: a CI dashboard shows the gaps.
    junit = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    xfailed = [
        tc.get("name")
        for tc in junit.iter("testcase")
        if tc.find("skipped[@type='EXPECTED-FAILURE']") is not None
    ]
    assert xfailed == failed and junit.get("failures") == "0" and junit.get("skipped") == "2"
    # report.html says the same (it showed a red FAIL badge, newuser16): EXPECTED-FAILURE, no FAIL.
    page = (tmp_path / "r" / "report.html").read_text()
    assert ">EXPECTED-FAILURE</span> 2" in page and ">FAIL<" not in page
    assert f'<tr id=\'{failed[0]}\'><td><span class="lvl" style="background:#bc4c00">EXPECTED-FAILURE' in page
    matrix = report.write_matrix([tmp_path / "r"], tmp_path / "m").read_text()
    assert ">EXPECTED-FAILURE<" in matrix and ">FAIL<" not in matrix
    assert "FAIL (expected) env.signature-flipped" in out
    assert "expected to fail but PASS: env.garbage" in out
    assert (
        "OK: no MUST case failed but 2 expected failures (--expected-failures), no hard audit proof; "
        "1 expected failure passed" in out
    )


def test_strict_fails_the_run_when_an_expected_failure_passes(
    broken_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A known gap that got fixed must not stay listed: under --strict (pytest's xfail_strict) a listed
    case that passes fails the run (exit 1) and the reports say which; without --strict the run passes
    but the summary, report.json, junit.xml and report.html all name it."""
    listing = tmp_path / "expected.txt"
    listing.write_text("env.signature-flipped  known\nenv.garbage  fixed since\nenv.signature-short\n")
    argv = ["conformance", "--target", broken_target, "--expected-failures", str(listing)]
    argv += ["--case=env.signature-flipped", "--case=env.garbage"]
    for strict, code in ((False, 0), (True, 1)):
        where = tmp_path / ("strict" if strict else "default")
        capsys.readouterr()
        assert main([*argv, "--report-dir", str(where), *(["--strict"] if strict else [])]) == code
        out = capsys.readouterr().out
        assert "expected to fail but PASS: env.garbage" in out
        assert "PASS       env.garbage (listed as an expected failure, but passed)" in out  # progress
        assert "FAIL       env.signature-flipped (expected)" in out
        doc = _report(where)
        assert doc["unexpected_passes"] == ["env.garbage"] and doc["strict"] is strict
        assert doc["exit_code"] == code
        flags = {c["id"]: c["unexpected_pass"] for c in doc["cases"]}  # type: ignore[attr-defined]
        assert flags == {"env.signature-flipped": False, "env.garbage": True}
        junit = ET.parse(where / "junit.xml").getroot()
        failures = junit.findall(".//failure[@type='UNEXPECTED-PASS']")
        assert len(failures) == int(junit.get("failures", "0")) == code
        assert "1 expected failure passed" in (where / "report.html").read_text()
    assert out.splitlines()[-2] == "FAILED: 1 expected failure passed (--strict)"
    assert "fails the run: --strict" in out


def test_an_unreachable_or_wrong_endpoint_is_named_before_the_run(
    broken_target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --control where nothing listens was reported, at its first initiator case, as "the target
    stopped answering"; expect each endpoint checked before any case, and the one at fault named with
    its address and option: exit 2, one line."""
    from cli_run import one_line_error

    initiator = ["--case", "ini.reject"]
    assert main(["conformance", "--target", broken_target, "--control", "127.0.0.1:1", *initiator]) == 2
    one_line_error(
        capsys.readouterr().err, "cannot reach the control endpoint at 127.0.0.1:1 (--control): UNAVAILABLE"
    )
    assert main(["conformance", "--target", "127.0.0.1:1", *initiator]) == 2
    one_line_error(capsys.readouterr().err, "cannot reach the target at 127.0.0.1:1 (--target): UNAVAILABLE")
    bare = grpc.server(ThreadPoolExecutor(1))  # a gRPC server with no service at all
    other = f"127.0.0.1:{bare.add_insecure_port('127.0.0.1:0')}"
    bare.start()
    try:
        assert main(["conformance", "--target", broken_target, "--control", other, *initiator]) == 2
    finally:
        bare.stop(0)
    one_line_error(
        capsys.readouterr().err,
        f"the control endpoint at {other} (--control) does not serve a2acoop.v1.ConformanceControlService",
    )


def test_matrix_over_two_runs(broken_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    main(["conformance", "--target", broken_target, "--case", "env.garbage", "--report-dir", str(a)])
    main(
        ["conformance", "--target", broken_target, "--case", "env.signature-flipped", "--report-dir", str(b)]
    )
    assert main(["conformance", "--matrix", str(a), str(b), "--report-dir", str(tmp_path)]) == 0
    page = (tmp_path / "matrix.html").read_text()
    assert "env.garbage" in page and "env.signature-flipped" in page and "FAIL" in page


def test_conformance_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.__main__ import main as bench

    assert bench(["conformance", "--quick"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert summary["benchmark"] == "conformance"
    assert summary["cases"] == sum(1 for c in load_cases() if c.startswith("env."))
    assert 0 < summary["slowest_case_s"] <= summary["full_run_s"]
    assert summary["levels"]["FAIL"] == 0 and summary["rpc_calls"] > 0
    assert "mutant_kill_rate" in summary


@pytest.mark.req("CTL-001")
def test_the_control_service_is_refused_off_loopback_without_mutual_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2, one line, before anything listens. Run in this process (``serve --conformance-control``
    runs as a process in the tests here): a refusal that came too late would reach the serving loop,
    which fails the test instead of serving on 0.0.0.0."""
    import a2a_coop.cli.peer

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve_until_stopped reached: the refusal came too late")

    monkeypatch.setattr(a2a_coop.cli.peer, "serve_until_stopped", reached)
    who = provision(tmp_path, "exposed")
    assert main(["serve", *map(str, who.files()), "--host", "0.0.0.0", "--conformance-control"]) == 2
    err = capsys.readouterr().err
    assert "--conformance-control" in err and "loopback" in err and "Traceback" not in err


@pytest.mark.req("CTL-001")
def test_runs_over_mutual_tls(tmp_path: Path) -> None:
    """A target that requires client certificates: the suite dials it with the CLI's TLS options, its
    certificate listed as the operator's in the callers file (CTL-001, A2A-026), and the control service
    behind mutual TLS is allowed off loopback too."""
    from pki import Pki

    from a2a_coop.a2a.callers import der_of, fingerprint

    pki = tmp_path / "pki"
    pki.mkdir()
    Pki(pki)
    callers = tmp_path / "callers"
    callers.write_text(f"{fingerprint(der_of((pki / 'client.pem').read_bytes())).hex()} operator\n")
    tls_serve = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    tls_serve += ["--tls-client-ca", str(pki / "ca.pem"), "--a2a-callers", str(callers)]
    dial = ["--tls-ca", pki / "ca.pem", "--tls-cert", pki / "client.pem", "--tls-key", pki / "client.key"]
    for server, _ in _serving(tmp_path, "tls", ["serve", *tls_serve, "--conformance-control"]):
        cases = ["--case=env.signature-flipped", "--case=ini.reject", "--case=ctl.not-exposed"]
        run = conformance("--target", server.target, *dial, *cases)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "3 PASS" in run.stdout
        plain = conformance("--target", server.target, "--case=env.garbage")  # no client certificate
        assert plain.returncode == 2 and "cannot reach the target" in plain.stderr


@pytest.mark.req("CTL-001")
def test_the_control_services_callers_file_needs_client_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--a2a-callers`` and ``--own-did-operator`` judge the control service's callers too: taken with
    ``--conformance-control`` (without ``--a2a``), refused with a one-line message where no client
    certificate can be judged; and behind mutual TLS one of them must name the operator's certificate,
    else the service would answer nobody."""
    who = provision(tmp_path, "callers")
    callers = tmp_path / "callers"
    callers.write_text(f"{'0' * 64} operator\n")
    for extra, message in (
        (["--conformance-control"], "--a2a-callers names client certificates: it needs --tls-client-ca"),
        ([], "--a2a-callers needs --a2a or --conformance-control"),
    ):
        assert main(["serve", *who.files(), "--port", "0", "--a2a-callers", str(callers), *extra]) == 2
        assert message in capsys.readouterr().err
    for extra, message in (
        (["--conformance-control"], "--own-did-operator judges client certificates"),
        ([], "--own-did-operator needs --a2a or --conformance-control"),
    ):
        assert main(["serve", *who.files(), "--port", "0", "--own-did-operator", *extra]) == 2
        assert message in capsys.readouterr().err
    # behind mutual TLS, with no certificate named the operator's, the service would answer nobody
    from pki import Pki

    pki = tmp_path / "pki"
    pki.mkdir()
    Pki(pki)
    party = tmp_path / "party-callers"
    party.write_text(f"{'0' * 64} {generate_keypair().did}\n")
    tls = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    tls += ["--tls-client-ca", str(pki / "ca.pem"), "--conformance-control"]
    for extra in ([], ["--a2a-callers", str(party)]):
        assert main(["serve", *who.files(), "--port", "0", *tls, *extra]) == 2
        err = capsys.readouterr().err
        assert "answers only the operator's client certificates, and none is named" in err, err
        assert "Traceback" not in err


def _initiate_status(
    target: str, cert: Path, key: Path, ca: Path, request: bytes = b""
) -> tuple[grpc.StatusCode, str]:
    """An Initiate of ``request``'s bytes (by default an empty InitiateRequest) over mutual TLS with
    ``cert``: its status code and ErrorInfo reason ("" none)."""
    from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # no py.typed
    from grpc_status import rpc_status

    from a2a_coop.transport.client import open_channel
    from a2a_coop.transport.tls import TlsConfig

    tls = TlsConfig.from_files(certificate_chain=cert, private_key=key, trusted_ca=ca)
    with open_channel(target, tls) as channel:
        try:
            channel.unary_unary("/a2acoop.v1.ConformanceControlService/Initiate")(request, timeout=30)
        except grpc.RpcError as err:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]  # a Call too
            reason = ""
            for detail in status.details if status else ():
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason = info.reason
            return err.code(), reason  # type: ignore[attr-defined]  # a Call too
    raise AssertionError("these Initiates are never answered OK")


@pytest.mark.req("CTL-001", "A2A-026")
def test_a_counterpartys_certificate_cannot_drive_the_control_service(tmp_path: Path) -> None:
    """The attack: the peer's client CA certifies its counterparties so that they can trade with it;
    Mallory, one of them, holds a certificate naming her did:key. Before, every caller behind mutual TLS
    was the operator's, so Mallory ran the conformance suite's initiator cases with her certificate and
    the peer signed offers on her request. Now the control service judges a certificate as A2A-026 does:
    hers names a party, not the operator, and is refused NOT_OPERATOR; so is a certificate naming nobody,
    and one naming the peer's own did:key -- a CA that names counterparties by the did:key they ask for
    issues that one too -- unless the operator opted in (``--own-did-operator``): then it is served."""
    from pki import Pki

    from a2a_coop.a2a.callers import der_of, fingerprint

    pki = tmp_path / "pki"
    pki.mkdir()
    authority = Pki(pki)
    ca = pki / "ca.pem"
    tls_serve = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    tls_serve += ["--tls-client-ca", str(ca)]
    callers = tmp_path / "callers"
    callers.write_text(f"{fingerprint(der_of((pki / 'client.pem').read_bytes())).hex()} operator\n")
    mallory_did = generate_keypair().did
    nobody_pem, nobody_key, _ = authority.issue("nobody")
    refused = (grpc.StatusCode.PERMISSION_DENIED, "NOT_OPERATOR")
    served = (grpc.StatusCode.INVALID_ARGUMENT, "")  # an empty request, judged
    command = ["serve", *tls_serve, "--a2a-callers", str(callers), "--conformance-control"]
    for server, who in _serving(tmp_path, "ctl", command):
        mallory_pem, mallory_key, _ = authority.issue("mallory", mallory_did)
        own_pem, own_key, _ = authority.issue("own", who.key.did)
        dial = ["--tls-ca", ca, "--tls-cert", mallory_pem, "--tls-key", mallory_key]
        cases = ["--case=env.signature-flipped", "--case=ini.reject"]
        run = conformance("--target", server.target, *dial, *cases)
        # her certificate is taken: she reaches the peer and trades with it (the CA certified her) ...
        assert "PASS       env.signature-flipped" in run.stdout, run.stdout + run.stderr
        # ... but the initiator case she ran to drive the control service (before: PASS) is refused
        assert "FAIL       ini.reject" in run.stdout and "NOT_OPERATOR" in run.stdout, run.stdout
        assert run.returncode == 1, run.stdout + run.stderr
        assert _initiate_status(server.target, mallory_pem, mallory_key, ca) == refused
        assert _initiate_status(server.target, nobody_pem, nobody_key, ca) == refused
        # the peer's own did:key, named by the CA (before: served), without the operator's opt-in
        assert _initiate_status(server.target, own_pem, own_key, ca) == refused
        # the certificate the operator listed is served
        assert _initiate_status(server.target, pki / "client.pem", pki / "client.key", ca) == served
        # judged before the request is parsed: bytes that are no protobuf are refused her, and only
        # the operator is told they are not valid (before, both were answered INTERNAL)
        garbage = b"\xff\xff\xff"
        assert _initiate_status(server.target, mallory_pem, mallory_key, ca, garbage) == refused
        bad = _initiate_status(server.target, pki / "client.pem", pki / "client.key", ca, garbage)
        assert bad == (grpc.StatusCode.INVALID_ARGUMENT, "")
    command = ["serve", *tls_serve, "--conformance-control", "--own-did-operator"]
    for server, who in _serving(tmp_path, "opted", command):
        own_pem, own_key, _ = authority.issue("opted", who.key.did)
        assert _initiate_status(server.target, own_pem, own_key, ca) == served
        assert _initiate_status(server.target, pki / "client.pem", pki / "client.key", ca) == refused


@pytest.mark.req("CHN-005")
def test_a_peer_answering_a_counterparty_ahead_of_its_clock_keeps_its_chain_in_time_order() -> None:
    """Found by tim.within-skew: Alice's clock runs 10 s ahead (within the skew); Bob's answer to her is
    dated at her time (NEG-014). Bob's next statement, to Carol at his own clock, must not be dated
    before it (CHN-005): his own guard would refuse it, and Carol's offer with it."""
    from peers import make_peer

    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.testing import FixedClock, Party

    clock = FixedClock()
    bob = Party("bob", clock)
    peer = make_peer(bob, clock)
    alice, carol = Party("alice", clock), Party("carol", clock)
    ahead = alice.offer(bob, issued_at_ms=clock.now_ms + 10_000)
    first = [verify_statement(e) for e in peer.exchange(ahead.envelope, alice.setup)]
    assert [vs.body for vs in first] == ["mandate", "accept", "delivery"]
    second = [verify_statement(e) for e in peer.exchange(carol.offer(bob).envelope, carol.setup)]
    assert [vs.body for vs in second] == ["mandate", "accept", "delivery"]
    assert second[1].header.issued_at_ms >= first[-1].header.issued_at_ms


# The open-cap probe forms as many contracts as the target's cap on one key's open negotiations: 256 at a
# served reference peer, some 20-30 s of the suite for each test that runs it. By default each runs against
# a reference node in this process whose cap is SMALL_OPEN_CAP (what it does with each contract is the
# same at any cap); the served process, at its default cap, under -m slow.
SMALL_OPEN_CAP = 16


@contextlib.contextmanager
def _capped_in_process(tmp_path: Path, name: str) -> Iterator[tuple[str, Identity]]:
    """A reference PeerNode served in this process, its cap on one key's open negotiations (RPC-012)
    lowered to SMALL_OPEN_CAP: its target and identity."""
    who = provision(tmp_path, name)
    node = PeerNode.open(who.key, who.mandate, who.journal_path)
    node.peer.max_open_per_counterparty = SMALL_OPEN_CAP
    try:
        with serve(node, None) as server:
            yield server.target, who
    finally:
        node.close()


def _open_cap_targets(tmp_path: Path, served: bool) -> Iterator[tuple[str, Identity, int]]:
    """The probe's target, its identity and its cap: a served process at its default, or in process."""
    if served:
        for server, who in _serving(tmp_path, "bob", ["serve"]):
            yield server.target, who, DEFAULT_MAX_OPEN_PER_COUNTERPARTY
    else:
        with _capped_in_process(tmp_path, "bob") as (target, who):
            yield target, who, SMALL_OPEN_CAP


_SERVED_OR_SMALL = pytest.mark.parametrize(
    "served", [pytest.param(False, id="small-cap"), pytest.param(True, id="served", marks=pytest.mark.slow)]
)


@pytest.mark.req("RPC-012")
@_SERVED_OR_SMALL
def test_the_open_cap_probe_leaves_no_contract_open_in_the_target(tmp_path: Path, served: bool) -> None:
    """`rpc.context-offer-over-open-cap` forms as many contracts as the target's cap on one key's open
    negotiations (256 at the reference) to reach it; it then performs its side of each, so that the run
    leaves none open in the target: they would stay open a day (deadline plus claim window), and a CI
    job probing one long-running target some thirty times a day would fill its total caps with them."""
    from tests.test_processes import status

    for target, who, cap in _open_cap_targets(tmp_path, served):
        run = conformance("--target", target, "--case", "rpc.context-offer-over-open-cap")
        assert run.returncode == 0 and "1 PASS" in run.stdout, run.stdout + run.stderr
        negotiations = status(who)["negotiations"]
        assert negotiations.get("FULFILLED", 0) >= cap, negotiations
        assert set(negotiations) == {"FULFILLED"}, negotiations


def test_a_run_leaves_the_contracts_its_cases_formed_closed_in_the_target(tmp_path: Path) -> None:
    """Most cases form a contract without escrow with the target (a valid Offer it accepts, before or
    after the defect they test) and left it PERFORMING, open until its deadline plus the claim window
    (a day), holding part of the target's exposure cap: a reference peer served with `a2a-coop
    mandate`'s defaults (5,000 outstanding) failed the `ini.*`, `mnd.budget` and `mnd.outstanding-cap`
    cases `MANDATE_VIOLATION` from the third or fourth run of a day (some 1,800 outstanding a run).
    The suite now performs its side of each once the case is over."""
    from tests.test_processes import status

    cases = ("bdy.item-kind", "neg.second-accept", "rpl.nonce-reused", "stm.no-body")
    for server, who in _serving(tmp_path, "bob", ["serve"]):
        run = conformance("--target", server.target, *(a for c in cases for a in ("--case", c)))
        assert run.returncode == 0 and f"{len(cases)} PASS" in run.stdout, run.stdout + run.stderr
        negotiations = status(who)["negotiations"]
        assert negotiations.get("FULFILLED", 0) >= len(cases), negotiations
        assert "PERFORMING" not in negotiations, negotiations
        assert status(who)["outstanding_value"] == 0


# The cases that left a contract PERFORMING in the target after a run (a newcomer's run of the whole
# suite: 14, each holding the target's 20 of code-review for a day): the ones that send a valid Offer
# with ``exchange`` rather than ``send`` (its contract was never noted to close), the initiator case
# whose Counter the target accepts, and the ones that then break the party's own chain or revoke or
# rotate its key (its closing Delivery refused EQUIVOCATION, CHAIN_BROKEN or KEY_REVOKED).
LEFT_OPEN_CASES = (
    "chn.equivocation",
    "chn.sparse-gap",
    "ini.counter",
    "key.own-mandate-revoked-as-the-key",
    "key.own-revocation-reaches-back-over-nothing",
    "key.rotated-out",
    "key.thiefs-principal-reaches-no-earlier-mandate",
    "mis.one-chain",
    "mis.within-means",
    "read.gossip-fork-proof",
    "stm.unknown-field-kept",
)


def test_the_cases_that_break_their_own_chain_leave_no_contract_open_in_the_target(tmp_path: Path) -> None:
    """A run of these cases left one contract PERFORMING in the target each (two or three for the
    ``mis.*`` ones), open for a day with part of its exposure cap, though the suite says it closes what
    it opens: a CI job running the suite against its agent had that agent's exposure eaten by each run."""
    from tests.test_processes import status

    for server, who in _serving(tmp_path, "bob", ["serve", "--conformance-control"]):
        run = conformance("--target", server.target, *(f"--case={c}" for c in LEFT_OPEN_CASES))
        assert run.returncode == 0 and f"{len(LEFT_OPEN_CASES)} PASS" in run.stdout, run.stdout + run.stderr
        report = status(who)
        performing = [o["counterparty"] for o in report["open"] if o["state"] == "PERFORMING"]
        assert performing == [], (report["negotiations"], performing)
        assert report["outstanding_value"] == 0, report["negotiations"]


# The initiator cases that answer the target's Offer only with a defect it refuses: the Offer stayed
# outstanding, PROPOSED in the target until it expired (three a run of the whole suite).
UNANSWERED_OFFER_CASES = ("ini.accept-after-expiry", "ini.answer-bad-signature", "ini.withdraw-not-ours")


@pytest.mark.req("NEG-001")
def test_the_cases_that_leave_the_targets_offer_unanswered_reject_it_after(tmp_path: Path) -> None:
    """A run of the whole suite against the reference peer closed every contract it opened but left the
    target's own Offers of these cases PROPOSED until they expired: each case answers it with a Withdraw
    that is not ours to sign, an Accept after its expiry or one with a bad signature, which the target
    refuses, as the case checks. Once the case is over the suite now rejects it, as its offeree may."""
    from tests.test_processes import status

    for server, who in _serving(tmp_path, "bob", ["serve", "--conformance-control"]):
        run = conformance("--target", server.target, *(f"--case={c}" for c in UNANSWERED_OFFER_CASES))
        passed = f"{len(UNANSWERED_OFFER_CASES)} PASS"
        assert run.returncode == 0 and passed in run.stdout, run.stdout + run.stderr
        report = status(who)
        assert [o["state"] for o in report["open"]] == [], report["open"]
        assert report["negotiations"] == {"REJECTED": len(UNANSWERED_OFFER_CASES)}, report["negotiations"]


def test_ctrl_c_mid_run_exits_130_in_one_line(tmp_path: Path) -> None:
    """Ctrl-C during a run ended it in a KeyboardInterrupt traceback (the process killed by SIGINT):
    the README promises exit 130 and one line from every command. The target stalls at its 4th
    Exchange until the test is done, so the signal lands mid-run however slow the machine (sent on the
    third case's progress line, a loaded machine's run had finished before it landed)."""
    who = provision(tmp_path, "stalling")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "stalling.db")
    stalling = _DiesAtExchange(node, 4, stall=True)
    cases = sorted(c for c in load_cases() if c.startswith("env."))[:12]
    try:
        with serve(stalling, None) as server:
            run = subprocess.Popen(
                cli_command(
                    "conformance",
                    "--target",
                    server.target,
                    "--timeout",
                    "120",
                    *(f"--case={c}" for c in cases),
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**child_env(), "CI": "true"},
            )
            try:
                assert stalling.stalled.wait(120), "the run never reached the target's 4th Exchange"
                run.send_signal(signal.SIGINT)
                _, err = run.communicate(timeout=180)  # generous: a loaded machine (load ~25) took over 60 s
            finally:
                stalling.release.set()
                stop_process(run)
    finally:
        node.close()
    assert run.returncode == 130, err
    assert err == "a2a-coop: interrupted\n"


@pytest.mark.req("RPC-012", "NEG-014")
@_SERVED_OR_SMALL
def test_the_open_cap_probe_closes_its_contracts_with_a_target_dating_ahead(
    tmp_path: Path, served: bool
) -> None:
    """A target that took a statement dated ahead within the skew dates what it signs after it no
    earlier (TIM-009): a run right after another (`tim.within-skew` sends such an Offer) finds it ahead
    of the suite's clock. The probe's closing Receipts and Deliveries, dated by the suite's clock, were
    all refused `ILLEGAL_TRANSITION` (issued before the contract was formed, NEG-014) and its 256
    contracts stayed open a day: back-to-back runs against one served peer left 256 each, and from the
    third the target's own outstanding cap refused the initiator cases (MANDATE_VIOLATION)."""
    from tests.test_processes import status

    for target, who, cap in _open_cap_targets(tmp_path, served):
        ahead = conformance("--target", target, "--case", "tim.within-skew")
        assert ahead.returncode == 0 and "1 PASS" in ahead.stdout, ahead.stdout + ahead.stderr
        before = status(who)["negotiations"]  # the skew case's own contracts
        run = conformance("--target", target, "--case", "rpc.context-offer-over-open-cap")
        assert run.returncode == 0 and "1 PASS" in run.stdout, run.stdout + run.stderr
        negotiations = status(who)["negotiations"]
        assert negotiations.get("FULFILLED", 0) - before.get("FULFILLED", 0) >= cap, negotiations
        assert negotiations.get("PERFORMING", 0) == before.get("PERFORMING", 0), negotiations


class _DiesAtExchange:
    """A real peer whose process dies at its ``n``-th Exchange: the server stops, no answer given.
    ``stall``: it first stops answering there until ``release`` is set (``stalled`` says it got there)."""

    def __init__(self, node: PeerNode, n: int, *, stall: bool = False) -> None:
        self.node, self.n, self.calls, self.stall = node, n, 0, stall
        self.server: Any = None
        self.stalled, self.release = threading.Event(), threading.Event()

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        self.calls += 1
        if self.calls >= self.n:
            if self.stall:
                self.stalled.set()
                self.release.wait(180)
            if self.server is not None:
                self.server.stop(grace=0)
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "gone")
        return self.node.exchange(envelope, context)

    def __getattr__(self, name: str) -> object:
        return getattr(self.node, name)


def test_a_target_that_dies_mid_run_is_named_with_its_case_and_the_reports_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A framework author's agent crashes on one case: the run said `the target ... stopped answering`
    (exit 2) and wrote no report -- CI had no junit.xml, and nobody was told which case brought the
    target down. Expect exit 2 all the same, the one line naming the case in flight and its replay
    command, and the reports of the cases before it, the one in flight a JUnit error."""
    who = provision(tmp_path, "fragile")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "fragile.db")
    fragile = _DiesAtExchange(node, 4)
    cases = sorted(c for c in load_cases() if c.startswith("env."))[:12]
    out = tmp_path / "r"
    try:
        with serve(fragile, None) as server:
            fragile.server = server
            argv = ["conformance", "--target", server.target, "--report-dir", str(out), "--seed", "s1"]
            code = main([*argv, *(f"--case={c}" for c in cases)])
    finally:
        node.close()
    printed, err = capsys.readouterr()
    assert code == 2
    doc = _report(out)
    lost = doc["interrupted"]
    assert isinstance(lost, dict) and lost["case"] in cases
    assert doc["exit_code"] == 2 and [c["id"] for c in doc["cases"]] == cases[: cases.index(lost["case"])]  # type: ignore[index]
    line = err.strip()
    assert "\n" not in line and "stopped answering" in line and f"during case {lost['case']}" in line
    assert f"--seed s1 --case {lost['case']}" in line
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.get("errors") == "1"
    errored = [tc.get("name") for tc in junit.iter("testcase") if tc.find("error") is not None]
    assert errored == [lost["case"]]
    assert "Interrupted" in (out / "report.html").read_text(encoding="utf-8")
    assert f"reports written to {out}/" in printed


def test_a_target_that_takes_the_connection_and_never_answers_is_told_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A hung agent (it takes the connection, never answers) was `cannot reach the target ...:
    DEADLINE_EXCEEDED`, as if nothing listened there. Expect exit 2 and one line saying no answer came
    within --timeout."""
    from cli_run import one_line_error

    release = threading.Event()

    class _Hangs(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            # Answers bytes once released: a bool made grpcio log a TypeError traceback on stderr, which
            # raced with the check below (the test's fake server, not the suite under test).
            return grpc.unary_unary_rpc_method_handler(lambda request, context: b"" * release.wait(30))

    hung = grpc.server(ThreadPoolExecutor(4))
    hung.add_generic_rpc_handlers((_Hangs(),))
    target = f"127.0.0.1:{hung.add_insecure_port('127.0.0.1:0')}"
    hung.start()
    try:
        assert main(["conformance", "--target", target, "--timeout", "0.5", "--case", "env.garbage"]) == 2
    finally:
        release.set()
        hung.stop(0)
    one_line_error(
        capsys.readouterr().err, f"no answer from the target at {target} (--target) within 0.5 s (--timeout)"
    )


def test_ctrl_c_mid_run_writes_the_reports_of_the_cases_that_ran(
    broken_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during a run printed "a2a-coop: interrupted" and wrote no report at all, where a target
    that stops answering gets the reports of the cases before it (newuser16). Expect exit 130 all the
    same, the case in flight named with its replay command, and the reports of the cases before it
    (report.json `cancelled`, exit_code 130; the case in flight a JUnit error saying who stopped it)."""
    from conformance.suite import runner

    real, calls = runner.run_case, []

    def interrupted_third(session: Any, case: Any) -> Any:
        calls.append(case.id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(session, case)

    monkeypatch.setattr(runner, "run_case", interrupted_third)
    cases = sorted(c for c in load_cases() if c.startswith("env."))[:5]
    out = tmp_path / "r"
    code = main(
        ["conformance", "--target", broken_target, "--report-dir", str(out), *(f"--case={c}" for c in cases)]
    )
    printed, err = capsys.readouterr()
    assert code == 130 and err.strip() == "a2a-coop: interrupted"
    assert f"interrupted during case {cases[2]} after 2 cases" in printed and f"--case {cases[2]}" in printed
    doc = _report(out)
    assert doc["cancelled"] is True and doc["exit_code"] == 130
    assert [c["id"] for c in doc["cases"]] == cases[:2]  # type: ignore[index]
    junit = ET.parse(out / "junit.xml").getroot()
    error = junit.find(f".//testcase[@name='{cases[2]}']/error")
    assert error is not None and error.get("message", "").startswith("the user interrupted the run")
    assert "the user interrupted the run during" in (out / "report.html").read_text(encoding="utf-8")
