"""The reference escrow's test-only faucet behind mutual TLS serves only its operator (SPEC.md CTL-002,
judged as A2A-026 judges a caller), against a real ``a2a-coop escrow serve --conformance-faucet`` process
and certificates of its client CA made here.

The escrow's client CA certifies counterparties so that they can reach it (the parties of its contracts,
the peers under test); each certificate's subjectAltName names its holder's did:key. Before CTL-002 the
faucet credited the agent of every Mandate any caller showed: Mallory, certified to reach the escrow,
minted funds for as many agents as she liked -- and bonded them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

pytest.importorskip("a2a")
pytest.importorskip("cryptography")

from pki import Pki

from a2a_coop.a2a.callers import der_of, fingerprint
from a2a_coop.cli import main
from a2a_coop.cli.demo import Identity, provision, start_server, stop_process, wait_listening
from a2a_coop.transport import EscrowClient, TlsConfig, TransportError

FAUCET = 1_000


class Escrow:
    """A serving faucet escrow, its identity, and its CA's certificates by holder."""

    def __init__(self, target: str, who: Identity, pki: Pki) -> None:
        self.target, self.who, self.pki = target, who, pki

    def client(self, holder: str) -> EscrowClient:
        cert, key = self.pki.dir / f"{holder}.pem", self.pki.dir / f"{holder}.key"
        tls = TlsConfig.from_files(
            certificate_chain=cert, private_key=key, trusted_ca=self.pki.dir / "ca.pem"
        )
        return EscrowClient(self.target, tls=tls, timeout_s=30)


def _pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "pki"
    directory.mkdir(exist_ok=True)
    return Pki(directory)


def _tls(pki: Pki) -> list[str]:
    files = ("--tls-cert", "server.pem", "--tls-key", "server.key", "--tls-client-ca", "ca.pem")
    return [str(pki.dir / f) if f.endswith(".pem") or f.endswith(".key") else f for f in files]


@contextmanager
def _serving(tmp_path: Path, name: str, pki: Pki, extra: Sequence[str] = ()) -> Iterator[Escrow]:
    who = provision(tmp_path, name)
    argv = ["escrow", "serve", *who.files(), "--conformance-faucet", str(FAUCET), *_tls(pki), *extra]
    server = start_server(name, argv, tmp_path / f"{name}.log")
    try:
        yield Escrow(wait_listening(server).target, who, pki)
    finally:
        stop_process(server.popen)


def _refused(call: object) -> tuple[grpc.StatusCode, str]:
    """The status code and ErrorInfo reason of a call expected to fail."""
    assert callable(call)
    with pytest.raises(TransportError) as err:
        call()
    return err.value.code, err.value.reason


NOT_OPERATOR = (grpc.StatusCode.PERMISSION_DENIED, "NOT_OPERATOR")


@pytest.mark.req("CTL-002", "A2A-026")
def test_a_counterpartys_certificate_mints_nothing_at_the_faucet(tmp_path: Path) -> None:
    """The attack: Mallory, certified by the escrow's CA (her certificate names her did:key), submits her
    agent's Mandate to a faucet escrow behind mutual TLS. Before, the faucet credited her agent 1,000 on
    sight. Expect her Submit -- and her balance query -- refused PERMISSION_DENIED, NOT_OPERATOR, before the
    escrow read it (the escrow never saw her Mandate: the operator's Submit of that very Mandate later is
    still its first sight, and mints); the same for a certificate naming nobody and for one naming the
    escrow's own did:key (the operator did not opt in); nothing deposited for her agent."""
    pki = _pki(tmp_path)
    pki.issue("ops")
    callers = tmp_path / "callers.txt"
    callers.write_text(f"{fingerprint(der_of((pki.dir / 'ops.pem').read_bytes())).hex()} operator\n")
    mallory, carol = provision(tmp_path, "mallory"), provision(tmp_path, "carol")
    with _serving(tmp_path, "escrow", pki, ["--callers", str(callers)]) as escrow:
        pki.issue("mallory", mallory.did)
        pki.issue("nobody")
        pki.issue("own", escrow.who.did)
        for holder in ("mallory", "nobody", "own"):
            with escrow.client(holder) as client:
                # the TLS layer took her certificate (the CA signed it): the escrow itself answered
                assert _refused(lambda c=client: c.submit([mallory.mandate])) == NOT_OPERATOR, holder
                assert _refused(lambda c=client: c.get_balance(mallory.did)) == NOT_OPERATOR, holder
        with escrow.client("ops") as ops:
            assert ops.get_balance(mallory.did)[:2] == (0, 0)  # nothing minted for her
            ops.submit([carol.mandate])
            assert ops.get_balance(carol.did)[:2] == (FAUCET, 0)  # the operator's faucet pours
            ops.submit([mallory.mandate])  # her Mandate was never read: this is its first sight
            assert ops.get_balance(mallory.did)[:2] == (FAUCET, 0)


@pytest.mark.req("CTL-002", "A2A-026")
def test_the_escrows_own_did_is_its_operator_only_when_the_operator_says_so(tmp_path: Path) -> None:
    """``--own-did-operator``: a certificate whose subjectAltName names the escrow's own did:key is its
    operator's, and gets the faucet; a counterparty's still does not. Without a callers file the operator
    has no other certificate."""
    pki = _pki(tmp_path)
    carol = provision(tmp_path, "carol")
    with _serving(tmp_path, "escrow", pki, ["--own-did-operator"]) as escrow:
        pki.issue("own", escrow.who.did)
        pki.issue("carol", carol.did)
        with escrow.client("carol") as client:
            assert _refused(lambda: client.submit([carol.mandate])) == NOT_OPERATOR
        with escrow.client("own") as own:
            own.submit([carol.mandate])
            assert own.get_balance(carol.did)[:2] == (FAUCET, 0)


@pytest.mark.req("CTL-002")
def test_the_suite_presenting_the_operators_certificate_runs_the_bonded_cases(tmp_path: Path) -> None:
    """README's setup over mutual TLS: the suite's certificate listed ``operator`` in ``--callers``; a
    bonded case passes (the faucet funds its parties). With a counterparty's certificate the suite cannot
    use the escrow at all: it says so and exits 2, running no case."""
    pki = _pki(tmp_path)
    callers = tmp_path / "callers.txt"
    callers.write_text(f"{fingerprint(der_of((pki.dir / 'client.pem').read_bytes())).hex()} operator\n")
    with _serving(tmp_path, "escrow", pki, ["--callers", str(callers), "--tick-ms", "50"]) as escrow:
        pki.issue("mallory", provision(tmp_path, "mallory").did)
        for holder, code in (("client", 0), ("mallory", 2)):
            dial = ["--tls-ca", str(pki.dir / "ca.pem"), "--tls-cert", str(pki.dir / f"{holder}.pem")]
            dial += ["--tls-key", str(pki.dir / f"{holder}.key")]
            argv = ["conformance", "--target", escrow.target, "--role", "escrow", *dial]
            report = tmp_path / f"r-{holder}"
            assert main([*argv, "--case", "esc.bonds-lock-and-release", "--report-dir", str(report)]) == code
        assert '"level": "PASS"' in (tmp_path / "r-client" / "report.json").read_text()


def test_the_faucets_callers_options_need_the_faucet_and_client_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--callers`` and ``--own-did-operator`` judge the faucet's callers: each refused with a one-line
    message without ``--conformance-faucet``, or without ``--tls-client-ca`` to judge certificates by; and
    behind mutual TLS one of them must name the operator's certificate, else the escrow would serve
    nobody."""
    who = provision(tmp_path, "escrow")
    callers = tmp_path / "callers.txt"
    callers.write_text(f"{'0' * 64} operator\n")
    pki = _pki(tmp_path)
    for extra, message in (
        (["--callers", str(callers), *_tls(pki)], "--callers judges the faucet's callers (CTL-002)"),
        (["--own-did-operator"], "--own-did-operator judges the faucet's callers (CTL-002)"),
        (["--conformance-faucet", "10", "--callers", str(callers)], "--callers judges client certificates"),
        (
            ["--conformance-faucet", "10", "--own-did-operator"],
            "--own-did-operator judges client certificates",
        ),
        (
            ["--conformance-faucet", "10", *_tls(pki)],
            "none is named: list one as 'operator' in --callers FILE",
        ),
    ):
        assert main(["escrow", "serve", *who.files(), "--port", "0", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


@pytest.mark.req("CTL-002")
def test_the_suite_fails_a_faucet_it_reached_in_plaintext_off_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ctl.faucet-not-exposed``: an escrow that credits a key the suite made for the run, reached neither
    on loopback nor with a client certificate, FAILs; one that credits nothing passes wherever it is. (The
    escrow is on loopback here: the suite is told it reached it in plaintext from elsewhere.)"""
    import conformance.suite.cases.escrow as cases
    from a2a_coop.runtime.node import EscrowNode
    from a2a_coop.transport import serve

    monkeypatch.setattr(cases, "private_route", lambda ctx, address: None)
    who = provision(tmp_path, "escrow")
    for faucet, code in ((FAUCET, 1), (0, 0)):
        node = EscrowNode(who.key, who.mandate, tmp_path / f"escrow-{faucet}.db", faucet=faucet)
        try:
            with serve(None, node) as server:
                argv = ["conformance", "--target", server.target, "--case", "ctl.faucet-not-exposed"]
                assert main([*argv, "--report-dir", str(tmp_path / f"r{faucet}")]) == code, faucet
        finally:
            node.close()
    failed = (tmp_path / f"r{FAUCET}" / "report.json").read_text()
    assert "credits funds on sight is served on" in failed and "CTL-002" in failed


def test_how_the_suite_reached_a_target() -> None:
    """``private_route``: loopback by the address, mutual TLS by the client certificate the suite presents;
    anything else is no private route (CTL-001, CTL-002)."""
    from types import SimpleNamespace

    from conformance.suite.cases.initiator import private_route

    def route(address: str, tls: object = None) -> str | None:
        return private_route(SimpleNamespace(session=SimpleNamespace(tls=tls)), address)  # type: ignore[arg-type]

    assert route("127.0.0.1:7003") == route("[::1]:7003") == route("localhost:1") == "on loopback"
    assert route("203.0.113.5:7003") is None
    assert route("203.0.113.5:7003", SimpleNamespace(certificate_chain=None)) is None  # TLS, no certificate
    assert route("203.0.113.5:7003", SimpleNamespace(certificate_chain=b"pem")) == "behind mutual TLS"
