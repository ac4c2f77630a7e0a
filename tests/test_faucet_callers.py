"""The reference escrow's test-only faucet behind mutual TLS pays only its operator (SPEC.md CTL-002,
callers judged as A2A-026 judges them), against a real ``a2a-coop escrow serve --conformance-faucet``
process and certificates of its client CA made here.

The escrow's client CA certifies counterparties so that they can reach it (the parties of its contracts,
the peers under test); each certificate's subjectAltName names its holder's did:key. Before CTL-002 the
faucet credited the agent of every Mandate any caller showed: Mallory, certified to reach the escrow,
minted funds for as many agents as she liked -- and bonded them. Then (faucet21) the whole EscrowService
answered the operator alone, so a peer under test had to be listed as the escrow's operator to trade
through it. Now EscrowService serves every caller, as any escrow does, and only the faucet's payout is
the operator's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("a2a")
pytest.importorskip("cryptography")

from pki import Pki

from a2a_coop.a2a.callers import der_of, fingerprint
from a2a_coop.cli import main
from a2a_coop.cli.demo import Identity, provision, start_server, stop_process, wait_listening
from a2a_coop.transport import EscrowClient, TlsConfig

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


def _fingerprint_line(pem: Path, who: str = "operator") -> str:
    return f"{fingerprint(der_of(pem.read_bytes())).hex()} {who}\n"


@pytest.mark.req("CTL-002", "A2A-026")
def test_a_counterpartys_certificate_mints_nothing_at_the_faucet(tmp_path: Path) -> None:
    """The attack: Mallory, certified by the escrow's CA (her certificate names her did:key), submits her
    agent's Mandate to a faucet escrow behind mutual TLS. Before CTL-002, the faucet credited her agent
    1,000 on sight. Expect her Submit served as any escrow serves it (an answer: the escrow's Mandate, not
    PERMISSION_DENIED as faucet21 answered) and nothing deposited: her agent's balance, which she may
    read too, stays 0; the same for a certificate naming nobody and for one naming the escrow's own
    did:key (the operator did not opt in). The escrow took her Mandate; the operator's Submit of that very
    Mandate afterwards still pays her agent (the faucet pays an agent its ledger never credited, not only
    a Mandate seen for the first time)."""
    pki = _pki(tmp_path)
    pki.issue("ops")
    callers = tmp_path / "callers.txt"
    callers.write_text(_fingerprint_line(pki.dir / "ops.pem"))
    mallory, carol = provision(tmp_path, "mallory"), provision(tmp_path, "carol")
    with _serving(tmp_path, "escrow", pki, ["--callers", str(callers)]) as escrow:
        pki.issue("mallory", mallory.did)
        pki.issue("nobody")
        pki.issue("own", escrow.who.did)
        for holder in ("mallory", "nobody", "own"):
            with escrow.client(holder) as client:
                # the TLS layer took her certificate (the CA signed it); the escrow served her Submit ...
                answer = client.submit([mallory.mandate])
                assert answer and answer[0] == client.submit([])[0], holder  # its Mandate first (ESC-002)
                # ... and paid nothing for it
                assert client.get_balance(mallory.did)[:2] == (0, 0), holder
        with escrow.client("ops") as ops:
            assert ops.get_balance(mallory.did)[:2] == (0, 0)  # nothing minted for her
            ops.submit([carol.mandate])
            assert ops.get_balance(carol.did)[:2] == (FAUCET, 0)  # the operator's faucet pours
            ops.submit([mallory.mandate])  # the Mandate she showed first: the operator's Submit pays
            assert ops.get_balance(mallory.did)[:2] == (FAUCET, 0)
            ops.submit([mallory.mandate])  # once
            assert ops.get_balance(mallory.did)[:2] == (FAUCET, 0)


def test_the_faucet_pays_an_agent_it_never_credited_once(tmp_path: Path) -> None:
    """The escrow node's faucet, in process: within ``faucet_shut`` (a Submit of no operator's, CTL-002)
    a Mandate is taken and nothing deposited; the next Submit of it outside pays its agent once; a Mandate
    seen for the first time whose agent holds nothing is paid, as before, and one seen before whose
    agent was paid and holds nothing again is not."""
    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.runtime.node import EscrowNode, faucet_shut

    who, mallory = provision(tmp_path, "escrow"), provision(tmp_path, "mallory")
    node = EscrowNode(who.key, who.mandate, tmp_path / "escrow.db", faucet=FAUCET)
    try:
        with faucet_shut():
            node.submit([mallory.mandate])
        assert node.escrow.took(verify_statement(mallory.mandate).digest)  # taken ...
        assert node.escrow.balance(mallory.did) == (0, 0)  # ... and paid nothing
        assert not node.escrow.ever_credited(mallory.did)
        node.submit([mallory.mandate])
        assert node.escrow.balance(mallory.did) == (FAUCET, 0)
        node.submit([mallory.mandate])
        assert node.escrow.balance(mallory.did) == (FAUCET, 0)
    finally:
        node.close()


@pytest.mark.req("CTL-002", "A2A-026")
def test_the_escrows_own_did_is_its_operator_only_when_the_operator_says_so(tmp_path: Path) -> None:
    """``--own-did-operator``: a certificate whose subjectAltName names the escrow's own did:key is its
    operator's, and its Submit pays the faucet; a counterparty's Submit is served and pays nothing.
    Without a callers file the operator has no other certificate."""
    pki = _pki(tmp_path)
    carol, dave = provision(tmp_path, "carol"), provision(tmp_path, "dave")
    with _serving(tmp_path, "escrow", pki, ["--own-did-operator"]) as escrow:
        pki.issue("own", escrow.who.did)
        pki.issue("carol", carol.did)
        with escrow.client("carol") as client:
            assert client.submit([carol.mandate, dave.mandate])
            assert client.get_balance(carol.did)[:2] == client.get_balance(dave.did)[:2] == (0, 0)
        with escrow.client("own") as own:
            own.submit([carol.mandate])
            assert own.get_balance(carol.did)[:2] == (FAUCET, 0)


@pytest.mark.req("CTL-002")
def test_the_suite_presenting_the_operators_certificate_runs_the_bonded_cases(tmp_path: Path) -> None:
    """README's setup over mutual TLS: the suite's certificate listed ``operator`` in ``--callers``; a
    bonded case passes (the faucet funds its parties). With a counterparty's certificate the suite uses
    the escrow as any caller does, and the faucet funds none of its parties: the bonded case cannot
    bond, and nothing is minted for them."""
    pki = _pki(tmp_path)
    callers = tmp_path / "callers.txt"
    callers.write_text(_fingerprint_line(pki.dir / "client.pem"))
    with _serving(tmp_path, "escrow", pki, ["--callers", str(callers), "--tick-ms", "50"]) as escrow:
        pki.issue("mallory", provision(tmp_path, "mallory").did)
        codes = {}
        for holder in ("client", "mallory"):
            dial = ["--tls-ca", str(pki.dir / "ca.pem"), "--tls-cert", str(pki.dir / f"{holder}.pem")]
            dial += ["--tls-key", str(pki.dir / f"{holder}.key")]
            argv = ["conformance", "--target", escrow.target, "--role", "escrow", *dial]
            report = tmp_path / f"r-{holder}"
            codes[holder] = main([*argv, "--case", "esc.bonds-lock-and-release", "--report-dir", str(report)])
        assert codes["client"] == 0
        assert '"level": "PASS"' in (tmp_path / "r-client" / "report.json").read_text()
        assert '"level": "PASS"' not in (tmp_path / "r-mallory" / "report.json").read_text()


@pytest.mark.req("CTL-002")
def test_a_peer_under_test_not_listed_as_operator_trades_bonded_through_the_faucet(tmp_path: Path) -> None:
    """README's setup for ``mis.deliveries-by-stake`` over mutual TLS: the escrow's callers file lists the
    suite's certificate alone as ``operator``; the peer under test (an honest reference agent started with
    ``--escrow``) reaches the escrow with a certificate of its client CA naming its own did:key, listed
    nowhere. Before (faucet21) the escrow refused the peer's every call NOT_OPERATOR unless its
    certificate was listed as the escrow's operator; now it serves the peer as any party, the faucet
    funds both sides on the suite's Submits, and every bonded contract is delivered."""
    import json

    pki = _pki(tmp_path)
    callers = tmp_path / "callers.txt"
    callers.write_text(_fingerprint_line(pki.dir / "client.pem"))
    ca = str(pki.dir / "ca.pem")
    with _serving(tmp_path, "escrow", pki, ["--callers", str(callers), "--tick-ms", "100"]) as escrow:
        honest = provision(tmp_path, "honest")
        pki.issue("honest", honest.did)
        argv = ["agent", "run", "--strategy", "honest", *honest.files()]
        argv += ["--tls-cert", str(pki.dir / "server.pem"), "--tls-key", str(pki.dir / "server.key")]
        argv += ["--escrow", escrow.target, "--escrow-tls-ca", ca]
        argv += ["--escrow-tls-cert", str(pki.dir / "honest.pem")]
        argv += ["--escrow-tls-key", str(pki.dir / "honest.key")]
        peer = wait_listening(start_server("honest", argv, tmp_path / "honest.log"))
        try:
            dial = ["--tls-ca", ca, "--tls-cert", str(pki.dir / "client.pem")]
            dial += ["--tls-key", str(pki.dir / "client.key")]
            report = tmp_path / "report"
            code = main(
                [
                    "conformance",
                    "--target",
                    peer.target,
                    *dial,
                    "--escrow",
                    escrow.target,
                    "--case",
                    "mis.deliveries-by-stake",
                    "--report-dir",
                    str(report),
                ]
            )
        finally:
            stop_process(peer.popen)
        doc = json.loads((report / "report.json").read_text())
        (case,) = doc["cases"]
        assert code == 0, case
        want = "10:delivered, 10:delivered, 10:delivered, 990:delivered, 990:delivered"
        assert want in case["reason"], case
        with escrow.client("client") as suite:  # the faucet paid the peer, on the suite's Submits
            available, locked = suite.get_balance(honest.did)[:2]
        assert available + locked >= FAUCET
    log = (tmp_path / "honest.log").read_text()
    assert "NOT_OPERATOR" not in log, log


def test_the_faucets_callers_options_need_the_faucet_and_client_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--callers`` and ``--own-did-operator`` judge the faucet's callers: each refused with a one-line
    message without ``--conformance-faucet``, or without ``--tls-client-ca`` to judge certificates by; and
    behind mutual TLS one of them must name the operator's certificate, else the faucet would pay
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
            "pays only the operator's client certificates, and none is named: list one as 'operator' in "
            "--callers FILE",
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
