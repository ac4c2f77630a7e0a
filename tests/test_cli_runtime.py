"""The networked commands of ``a2a-coop``: their usage errors, and ``a2a-coop demo`` end to end.

House rule: a user mistake exits 2 with one line on stderr and never a
traceback; something invalid exits 1. Most checks call ``main()`` in process
(the command fails before any server starts); those that need a real process
or port run the CLI as a subprocess with a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import grpc
import pytest
from cli_run import cli_process, one_line_error, run_cli
from peers import make_peer

from a2a_coop.cli._common import UsageError, iso, parse_duration
from a2a_coop.cli._runtime import first_contact, open_journal, open_peer, runtime_command
from a2a_coop.cli.demo import (
    MARKER,
    Identity,
    child_env,
    cli_command,
    prepare_directory,
    provision,
    start_server,
    stop_process,
    wait_listening,
)
from a2a_coop.protocol import errors
from a2a_coop.protocol.envelope import envelope_from_json, envelope_to_json
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import write_key_file
from a2a_coop.runtime.node import EscrowNode, PeerNode, remember_run
from a2a_coop.runtime.peer import drive
from a2a_coop.runtime.trade import contract_evidence, relay_escrow_answers
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party
from a2a_coop.transport import TransportError

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def bob(tmp_path: Path) -> Identity:
    return provision(tmp_path, "bob")


# --- usage errors ------------------------------------------------------------------------------


def _commands_with_key(tmp_path: Path, bob: Identity, key: Path) -> dict[str, list[str | Path]]:
    files: list[str | Path] = ["--key", key, "--mandate", bob.mandate_path, "--journal", tmp_path / "j.db"]
    return {
        "serve": ["serve", *files],
        "escrow serve": ["escrow", "serve", *files],
        "offer": ["offer", *files, "--to", "127.0.0.1:1", "--give", "a:1", "--want", "b:1"],
        "status": ["status", "--journal", bob.journal_path, "--key", key],
        "export": [
            "export",
            "--journal",
            bob.journal_path,
            "--key",
            key,
            "--negotiation",
            "ab",
            "--out",
            "x",
        ],
        "mandate": ["mandate", "--principal", key, "--agent", bob.did, "--out", tmp_path / "m.json"],
    }


@pytest.mark.parametrize("command", ["serve", "escrow serve", "offer", "status", "export", "mandate"])
def test_missing_key_file_is_a_usage_error(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Each networked command given a key file that does not exist: exit 2, one line, no traceback."""
    bob.journal_path.touch()  # so status and export get as far as the key
    argv = _commands_with_key(tmp_path, bob, tmp_path / "missing.key")[command]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_line_error(err, "missing.key")


def test_missing_key_file_as_a_process(tmp_path: Path, bob: Identity) -> None:
    """The same through `python -m a2a_coop.cli`, the way the demo starts servers."""
    argv: list[str | Path] = [
        "serve",
        "--key",
        tmp_path / "missing.key",
        "--mandate",
        bob.mandate_path,
        "--journal",
        tmp_path / "j",
    ]
    result = cli_process(*argv)
    assert result.returncode == 2 and result.stdout == ""
    one_line_error(result.stderr, "cannot read key file")


def test_mandate_for_another_key_is_refused(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = provision(tmp_path, "alice")
    argv: list[str | Path] = [
        "serve",
        "--key",
        alice.key_path,
        "--mandate",
        bob.mandate_path,
        "--journal",
        alice.journal_path,
    ]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_line_error(err, "delegates to", f"not to {alice.did} (the --key)", "give the agent's own --key")
    assert not alice.journal_path.exists()
    # The principal's key given as --key (it sits beside the agent's, as NAME-principal.key): said so.
    principal = bob.key_path.with_name("bob-principal.key")
    argv = ["serve", "--key", principal, "--mandate", bob.mandate_path, "--journal", alice.journal_path]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_line_error(err, "--key is the principal's key that signed it; give the agent's key file")


def test_mandate_file_problems(tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing mandate file is a usage error (2); one that is not a valid envelope is invalid (1)."""
    files: list[str | Path] = ["--key", bob.key_path, "--journal", bob.journal_path]
    code, _, err = run_cli(capsys, "serve", *files, "--mandate", tmp_path / "nope.json")
    assert code == 2
    one_line_error(err, "nope.json")
    broken = tmp_path / "broken.json"
    doc = json.loads(bob.mandate_path.read_text())
    doc["payload"] = doc["payload"][:-8] + "AAAAAAA="
    broken.write_text(json.dumps(doc))
    code, _, err = run_cli(capsys, "serve", *files, "--mandate", broken)
    assert code == 1
    one_line_error(err, "broken.json")


def test_a_key_file_where_a_mandate_belongs_and_a_file_that_is_no_key(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key file as --mandate once printed the raw KeyError 'payload'; a file that is no key file
    printed its path twice. Expect one line each, saying what the file is, with its path once."""
    code, _, err = run_cli(
        capsys, "serve", "--key", bob.key_path, "--mandate", bob.key_path, "--journal", tmp_path / "j"
    )
    assert code == 2
    one_line_error(err, f"{bob.key_path} is a key file, not a mandate")
    assert "payload" not in err
    text, binary = tmp_path / "text.key", tmp_path / "binary.key"
    text.write_text('{"hello": "world"}')
    binary.write_bytes(bytes(range(256)))
    for path, what in ((text, "some other JSON"), (binary, "a binary file"), (bob.mandate_path, "a signed")):
        code, _, err = run_cli(capsys, "status", "--journal", bob.journal_path, "--key", path)
        assert code == 2
        one_line_error(err, f"{path} is {what}", "not an a2a-coop key file")
        assert err.count(str(path)) == 1


def test_refusals_say_whose_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    """A refusal the transport's client raised (from the peer's RpcError) is the other side's; any
    other CoopError is our own check, and must not read as if the counterparty refused."""

    class PeerSaidNo(grpc.RpcError):
        pass

    @runtime_command
    def remote(args: argparse.Namespace, out: TextIO) -> int:
        try:
            raise PeerSaidNo()
        except PeerSaidNo as exc:
            raise errors.MandateUnknown("from the wire") from exc

    @runtime_command
    def local(args: argparse.Namespace, out: TextIO) -> int:
        raise errors.IllegalTransition("before the deadline")

    assert remote(argparse.Namespace(), sys.stdout) == 1
    assert capsys.readouterr().err == "a2a-coop: refused by the other side: MANDATE_UNKNOWN: from the wire\n"
    assert local(argparse.Namespace(), sys.stdout) == 1
    err = capsys.readouterr().err
    assert err == "a2a-coop: refused here, by our own checks: ILLEGAL_TRANSITION: before the deadline\n"


def test_a_journal_replays_what_earlier_runs_held_but_trusts_only_this_runs_escrows(tmp_path: Path) -> None:
    """A run with an escrow's mandate in its context, then one without: the second still holds that
    mandate (replay verifies the escrow's statements against it) but no longer trusts the escrow
    (MND-015); its remembered context keeps the mandate for the runs after it."""
    alice, escrow = provision(tmp_path, "alice"), provision(tmp_path, "escrow")
    with Journal.open(alice.journal_path) as journal:
        first = open_peer(alice.key, alice.mandate, journal, [escrow.mandate])
        remember_run(journal, alice.mandate, [escrow.mandate])
        assert first.trusted_escrows == {escrow.did}
    with Journal.open(alice.journal_path) as journal:
        second = open_peer(alice.key, alice.mandate, journal)
        remember_run(journal, alice.mandate, [])
        assert verify_statement(escrow.mandate).digest in second.verifier.statements
        assert second.trusted_escrows == frozenset() and not second.trusts_escrow(escrow.did)
        assert journal.get_meta("a2a-coop/context") == [escrow.mandate]


def test_status_says_when_an_unanswered_offer_expires_or_expired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An offer nobody answered stays PROPOSED in the journal for good (a peer applies no EXPIRE of its
    own), and `status` listed it as PROPOSED days later as if it could still be accepted. Expect its
    expiry beside it: "offer expired at ..." for one signed a day ago, "offer expires at ..." for one
    signed now (status reads the wall clock)."""
    clock = FixedClock(now_ms=int(time.time() * 1000) - DAY_MS)
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal_path = tmp_path / "alice.db"
    node = PeerNode.open(alice.agent.key, alice.mandate_vs.envelope, journal_path, clock=lambda: clock.now_ms)
    try:
        old = node.peer.propose(bob.did, alice.proposal())  # signed and journaled; never sent
        clock.advance(DAY_MS)
        new = node.peer.propose(bob.did, alice.proposal())
    finally:
        node.close()
    write_key_file(tmp_path / "alice.key", alice.agent.key)
    code, out, _ = run_cli(capsys, "status", "--journal", journal_path, "--key", tmp_path / "alice.key")
    assert code == 0
    assert f"offer expired at {iso(old.expires_at_ms)}" in out, out
    assert f"offer expires at {iso(new.expires_at_ms)}" in out, out
    # The lapsed one, naming no escrow, is shown EXPIRED as `resume` says it (resume31); the other PROPOSED.
    states = {
        ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.startswith("  ") and " with " in ln
    }
    assert states == {old.negotiation_id.hex()[:12]: "EXPIRED", new.negotiation_id.hex()[:12]: "PROPOSED"}


def test_a_journal_the_library_wrote_under_an_escrow_is_read_by_status_without_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bob's PeerNode.open(context=[the escrow's mandate]) trades a bonded contract, so his journal
    holds the escrow's BondLocks. Expect `a2a-coop status` with only --journal and --key to read it:
    the library recorded the mandate and the context as `serve` does (it once said "records no
    mandate", then, with --mandate, that the journal does not replay). Reopened without the context,
    expect the node to replay the contract and not trust the escrow."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    pa = make_peer(alice, clock, context=[escrow.mandate])
    journal_path = tmp_path / "bob.db"
    node = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        journal_path,
        context=[escrow.mandate],
        clock=lambda: clock.now_ms,
    )
    try:
        offer = pa.propose(bob.did, alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did))
        drive(pa, node.exchange, offer)
        neg = pa.negotiation(offer.header.negotiation_id)
        relay_escrow_answers(pa, node, escrow.submit(contract_evidence(pa, neg)))  # type: ignore[arg-type]
        assert any(vs.issuer == escrow.did for vs in node.peer.verifier.statements.values())
    finally:
        node.close()
    write_key_file(tmp_path / "bob.key", bob.agent.key)
    code, out, err = run_cli(capsys, "status", "--journal", journal_path, "--key", tmp_path / "bob.key")
    assert (code, err) == (0, "")
    assert offer.header.negotiation_id.hex()[:8] in out
    # Opened again without the context, the node still replays the escrow's statements, but trusts
    # only the escrows of this run (MND-015), as `serve` without --escrow does.
    again = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, journal_path, clock=lambda: clock.now_ms)
    try:
        assert not again.peer.trusts_escrow(escrow.did)
        assert again.peer.negotiation(offer.header.negotiation_id).state is neg.state
    finally:
        again.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--strategy", "sometimes-honest"),
        ("--strategy", "withhold-every-Nth:0"),
        ("--port", "-1"),
        ("--give", "no-value"),
        ("--deadline", "soon"),
    ],
)
def test_bad_option_values_are_usage_errors(
    bob: Identity, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    command = "serve" if option in ("--strategy", "--port") else "offer"
    extra = [] if command == "serve" else ["--to", "127.0.0.1:1", "--want", "b:1"]
    if option != "--give" and command == "offer":
        extra += ["--give", "a:1"]
    code, _, err = run_cli(capsys, command, *bob.files(), *extra, option, value)
    assert code == 2
    assert value in err and "Traceback" not in err


BIG = "99999999999999999999"  # past 2^64: protobuf raised ValueError on it, a traceback


@pytest.mark.parametrize(
    "argv",
    [
        ["offer", "--give", f"a:{BIG}"],
        ["offer", "--give", "a:9007199254740992"],  # 2^53: one past what a statement holds
        ["offer", "--bond", BIG],
        ["offer", "--deadline", f"{BIG}d"],
        ["mandate", "--budget", BIG],
        ["mandate", "--max-per-deal", BIG],
        ["escrow fund", f"did:key:z6Mk={BIG}"],
    ],
    ids=" ".join,
)
def test_integers_past_what_a_statement_holds_are_usage_errors(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """An amount, value or duration past 2^53 - 1 is refused as the option's value (exit 2, argparse's
    one line naming it) before anything is opened or signed; past 2^64 it was a ValueError traceback."""
    command, *rest = argv
    if command == "offer":
        extra = ["--to", "127.0.0.1:1", "--escrow", "127.0.0.1:2", "--want", "b:1"]
        if rest[0] != "--give":
            extra += ["--give", "a:1"]
        argv = ["offer", *bob.files(), *extra, *rest]
    elif command == "mandate":
        argv = ["mandate", "--principal", str(bob.key_path), "--agent", bob.did, "--out", "m.json", *rest]
    else:
        argv = ["escrow", "fund", *rest, *bob.files()]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err and "the largest integer a statement holds" in err
    assert len(err.strip().splitlines()) == 1
    assert not bob.journal_path.exists() and not (tmp_path / "bob.db").exists()


def test_escrow_fund_must_be_did_equals_amount(bob: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "escrow", "serve", *bob.files(), "--fund", f"{bob.did}=0")
    assert code == 2 and "DID=AMOUNT" in err


def test_offer_with_a_bond_needs_an_escrow(bob: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["offer", *bob.files(), "--to", "127.0.0.1:1", "--give", "a:1", "--want", "b:1", "--bond", "5"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_line_error(err, "--escrow")


def test_serve_escrow_options_are_checked_before_serving(
    bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve` with a bad --escrow-tls-ca, with --escrow-tls-* but no --escrow, with an --escrow
    where nothing listens (its mandate is fetched before serving), with --lock-wait-ms but no
    --escrow (each exit 2, one line), and with a --lock-wait-ms of 0 (exit 2, argparse's usage)."""
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--escrow-tls-ca", bob.mandate_path)
    assert code == 2
    one_line_error(err, "--escrow-tls-ca")  # not PEM: the file is checked first
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--escrow-tls-server-name", "x")
    assert code == 2
    one_line_error(err, "need --escrow HOST:PORT")
    nobody = f"127.0.0.1:{_free_port()}"
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--escrow", nobody, "--escrow-wait", "300ms")
    assert code == 2
    one_line_error(err, "cannot reach the escrow", "(--escrow) (waited 0.3 s)")  # it waits for one starting
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--escrow-wait", "2m")
    assert code == 2
    one_line_error(err, "--escrow-wait needs --escrow HOST:PORT")
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--lock-wait-ms", "500")
    assert code == 2
    one_line_error(err, "--lock-wait-ms needs --escrow HOST:PORT")
    code, _, err = run_cli(capsys, "serve", *bob.files(), "--lock-wait-ms", "0", "--escrow", "127.0.0.1:1")
    assert code == 2 and "--lock-wait-ms: '0' is not a positive integer" in err  # argparse's usage error


@pytest.mark.parametrize(
    ("option", "needs"),
    [
        (["--burst", "5"], "--burst needs --max-rate"),
        (["--card-port", "8000"], "--card-port needs --a2a"),
        (["--public-url", "https://agent.example.com"], "--public-url needs --a2a"),
        (["--a2a-private-tasks"], "--a2a-private-tasks needs --a2a"),
        (["--a2a-callers", "callers.txt"], "--a2a-callers needs --a2a"),
    ],
)
def test_serve_options_that_configure_another_are_refused_without_it(
    bob: Identity,
    option: list[str],
    needs: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --burst 5` without --max-rate served with no limit at all, and `--card-port` or
    `--public-url` without --a2a served no A2A binding, each option silently ignored (their help says
    "with --max-rate", "with --a2a"): refused in one line, exit 2, before serving. Run in this process
    (serve's refusals run as processes in test_missing_key_file_as_a_process and
    tests/test_cli_newcomer_inputs.py): a refusal that came too late would reach the serving loop,
    which fails the test instead of serving."""
    import a2a_coop.cli.peer

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve_until_stopped reached: the refusal came too late")

    monkeypatch.setattr(a2a_coop.cli.peer, "serve_until_stopped", reached)
    code, out, err = run_cli(capsys, "serve", *bob.files(), "--port", "0", *option)
    assert code == 2 and out == "", out + err
    one_line_error(err, needs)
    assert not bob.journal_path.exists()


@pytest.mark.req("A2A-025")
@pytest.mark.parametrize("private", [True, False])
def test_serve_a2a_private_tasks_reaches_the_a2a_handler(
    bob: Identity, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, private: bool
) -> None:
    """`serve --a2a --a2a-private-tasks` serves A2A with private Tasks (A2A-025), `serve --a2a` without:
    the option reaches serve_a2a (tests/test_task_privacy.py checks what it does there)."""
    pytest.importorskip("a2a")
    import a2a_coop.a2a

    seen: dict[str, object] = {}

    def fake_serve_a2a(node: object, **kwargs: object) -> object:
        seen.update(kwargs)
        raise OSError("not serving in this test")

    monkeypatch.setattr(a2a_coop.a2a, "serve_a2a", fake_serve_a2a)
    option = ["--a2a-private-tasks"] if private else []
    code, _, _ = run_cli(capsys, "serve", *bob.files(), "--port", "0", "--a2a", *option)
    assert code == 2 and seen["private_tasks"] is private


@pytest.mark.req("A2A-026")
def test_serve_a2a_callers_file_reaches_the_a2a_handler(
    bob: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --a2a --a2a-callers FILE` hands serve_a2a who holds each client certificate (A2A-026,
    tests/test_party_tasks.py checks what it does there); without --tls-client-ca, with a file that is
    not one, or with a line that is not a fingerprint and a role, it is refused in one line, exit 2."""
    pytest.importorskip("a2a")
    pytest.importorskip("cryptography")
    from pki import Pki

    import a2a_coop.a2a

    seen: dict[str, object] = {}

    def fake_serve_a2a(node: object, **kwargs: object) -> object:
        seen.update(kwargs)
        raise OSError("not serving in this test")

    monkeypatch.setattr(a2a_coop.a2a, "serve_a2a", fake_serve_a2a)
    Pki(tmp_path)
    tls = [
        *("--tls-cert", tmp_path / "server.pem", "--tls-key", tmp_path / "server.key"),
        *("--tls-client-ca", tmp_path / "ca.pem"),
    ]
    callers = tmp_path / "callers.txt"
    callers.write_text(f"# the operator's laptop\nsha256 Fingerprint={':'.join(['AB'] * 32)} operator\n")
    serve = ["serve", *bob.files(), "--port", "0", "--a2a", "--a2a-callers", callers]
    code, _, err = run_cli(capsys, *serve)
    assert code == 2 and not seen
    one_line_error(err, "--a2a-callers names client certificates: it needs --tls-client-ca")
    code, _, err = run_cli(capsys, *serve, *tls)
    assert code == 2 and seen["callers"] == {b"\xab" * 32: "operator"}, err
    seen.clear()
    callers.write_text("ab:cd operator\n")
    code, _, err = run_cli(capsys, *serve, *tls)
    assert code == 2 and not seen
    one_line_error(err, "line 1: expected a certificate's SHA-256 fingerprint")
    code, _, err = run_cli(capsys, *serve[:-1], tmp_path / "missing.txt", *tls)
    assert code == 2 and not seen
    one_line_error(err, "--a2a-callers")


def test_offer_to_nobody_is_a_network_error(bob: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens on the port: exit 2 with the transport's reason, quickly."""
    target = f"127.0.0.1:{_free_port()}"
    code, _, err = run_cli(capsys, "offer", *bob.files(), "--to", target, "--give", "a:1", "--want", "b:1")
    assert code == 2
    one_line_error(err, f"cannot reach the peer at {target} (--to)")


def test_status_and_export_need_a_journal_with_a_mandate(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """No journal: 2. A journal that records no mandate: 2, unless --mandate is given. An unknown
    negotiation: 2. An existing journal is never created by status."""
    missing = tmp_path / "none.db"
    code, _, err = run_cli(capsys, "status", "--journal", missing, "--key", bob.key_path)
    assert code == 2 and not missing.exists()
    one_line_error(err, "no journal")
    Journal.open(bob.journal_path).close()
    code, _, err = run_cli(capsys, "status", "--journal", bob.journal_path, "--key", bob.key_path)
    assert code == 2
    one_line_error(err, "--mandate")
    code, out, _ = run_cli(
        capsys, "status", "--journal", bob.journal_path, "--key", bob.key_path, "--mandate", bob.mandate_path
    )
    assert code == 0 and "negotiations: none" in out
    with Journal.open(bob.journal_path) as journal:
        remember_run(journal, bob.mandate, [])
    argv: list[str | Path] = [
        "export",
        "--journal",
        bob.journal_path,
        "--key",
        bob.key_path,
        "--negotiation",
        "ab",
        "--out",
        "x",
    ]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_line_error(err, "no negotiation")


@pytest.mark.parametrize(
    ("record", "damage"),
    [
        ("a2a-coop/mandate", b"\xff\x00"),  # bytes that do not decode
        ("a2a-coop/mandate", b"\x05"),  # decodes, to an int where an envelope was written
        ("a2a-coop/context", b"\xa3abc"),  # a string where a list of envelopes was written
    ],
)
def test_a_damaged_journal_record_is_one_line_not_a_traceback(
    bob: Identity, capsys: pytest.CaptureFixture[str], record: str, damage: bytes
) -> None:
    """A journal copy whose run record was damaged: status, export and serve each exit 2 with one line
    naming the journal and the record (a traceback out of msgpack or the envelope decoder before), and
    the file is left as it was."""
    with Journal.open(bob.journal_path) as journal:
        remember_run(journal, bob.mandate, [])
    with sqlite3.connect(bob.journal_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (damage, record))
    conn.close()
    before = bob.journal_path.read_bytes()
    common = ["--journal", bob.journal_path, "--key", bob.key_path]
    for argv in (
        ["status", *common],
        ["export", *common, "--negotiation", "ab", "--out", bob.journal_path.with_suffix(".json")],
        ["serve", *bob.files(), "--port", str(_free_port())],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        one_line_error(err, str(bob.journal_path), record, "damaged")
    assert bob.journal_path.read_bytes() == before


def test_mandate_command_keeps_the_principal_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two mandates from one principal take seq 0 and 1 (its journal remembers); both verify; the
    agent may be named by did or by key file; a bad did is a usage error."""
    principal, agent = tmp_path / "p.key", tmp_path / "a.key"
    assert run_cli(capsys, "keygen", "--out", principal)[0] == 0
    did = run_cli(capsys, "keygen", "--out", agent)[1].strip()
    first, second = tmp_path / "m1.json", tmp_path / "m2.json"
    code, out, _ = run_cli(capsys, "mandate", "--principal", principal, "--agent", did, "--out", first)
    assert code == 0 and "principal seq 0" in out
    argv: list[str | Path] = [
        "mandate",
        "--principal",
        principal,
        "--agent",
        agent,
        "--out",
        second,
        "--category",
        "a",
        "b",
    ]
    code, out, _ = run_cli(capsys, *argv, "--max-per-deal", "50")
    assert code == 0 and "principal seq 1" in out
    assert (tmp_path / "p.db").exists()
    vs = verify_statement(envelope_from_json(json.loads(second.read_text())))
    assert vs.statement.mandate.agent == did
    assert list(vs.statement.mandate.allowed_categories) == ["a", "b"]
    assert vs.statement.mandate.max_per_deal == 50
    assert run_cli(capsys, "verify", first, second)[0] == 0
    code, _, err = run_cli(
        capsys, "mandate", "--principal", principal, "--agent", "did:key:zNope", "--out", first
    )
    assert code == 2
    one_line_error(err, "did:key:zNope")


def _journal_files(journal: Path) -> list[str]:
    """The journal at ``journal`` and its side files (-wal, -shm, -journal, -lock), as they are."""
    return sorted(p.name for p in journal.parent.iterdir() if p.name.startswith(journal.name))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    "case",
    [
        "offer: no peer",
        "serve: no escrow",
        "serve: port in use",
        "agent run: port in use",
        "escrow serve: port in use",
        "mandate: refused by our own checks",
    ],
)
def test_a_command_that_fails_leaves_no_new_journal_behind(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str], busy_port: int, case: str
) -> None:
    """A command given a journal path that does not exist yet, failing after it created the journal
    there (an unreachable peer or escrow, a port in use, a refused mandate), removes it again with its
    -wal, -shm and lock files: it held no statement. It left an empty SQLite journal behind."""
    journal = tmp_path / "new.db"
    nobody = f"127.0.0.1:{_free_port()}"
    files: list[str | Path] = ["--key", bob.key_path, "--mandate", bob.mandate_path, "--journal", journal]
    argv: list[str | Path] = {
        "offer: no peer": ["offer", *files, "--to", nobody, "--give", "a:1", "--want", "b:1"],
        "serve: no escrow": ["serve", *files, "--escrow", nobody, "--escrow-wait", "1ms"],
        "serve: port in use": ["serve", *files, "--port", str(busy_port)],
        "agent run: port in use": ["agent", "run", "--strategy", "honest", *files, "--port", str(busy_port)],
        "escrow serve: port in use": ["escrow", "serve", *files, "--port", str(busy_port)],
        "mandate: refused by our own checks": [
            "mandate",
            "--principal",
            bob.key_path,
            "--agent",
            bob.did,
            "--journal",
            journal,
            "--out",
            tmp_path / "m.json",
            "--days",
            "999999999",  # expires past 2^53 - 1 ms (STM-013)
        ],
    }[case]
    code, _, err = run_cli(capsys, *argv)
    assert code in (1, 2)
    one_line_error(err)
    assert _journal_files(journal) == []


@pytest.mark.parametrize(
    ("meta", "kept"),
    [
        ("a2a-coop/mandate", False),
        ("a2a-coop/fork-proofs/did:key:z6Mk", True),
        ("a2a-coop/own-key-forked", True),
    ],
)
def test_a_failed_commands_new_journal_with_fork_evidence_is_kept(
    tmp_path: Path, meta: str, kept: bool
) -> None:
    """A new journal that holds no statement but a fork proof a counterparty gossiped, or our own key's
    fork alarm, stays after a failure: the user must see it (`status` shows the ALARM). Other meta goes
    with the journal."""
    journal_path = tmp_path / "new.db"

    @runtime_command
    def failing(args: argparse.Namespace, out: TextIO) -> int:
        with open_journal(journal_path) as journal:
            journal.put_meta(meta, ["evidence"])
        raise UsageError("failed after the first contact")

    with pytest.raises(UsageError):
        failing(argparse.Namespace(), sys.stdout)
    assert journal_path.exists() is kept


def test_a_failed_command_keeps_a_journal_that_existed_or_holds_a_statement(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only what the failing command created and left empty goes: a journal that was there before it
    (even one with no statement) stays, and so does a new one it signed into before failing (a
    principal's mandate signed, then its --out not writable: the principal's seq 0 is used)."""
    before = tmp_path / "before.db"
    Journal.open(before).close()
    argv = ["offer", "--key", bob.key_path, "--mandate", bob.mandate_path, "--journal", before]
    code, _, err = run_cli(
        capsys, *argv, "--to", f"127.0.0.1:{_free_port()}", "--give", "a:1", "--want", "b:1"
    )
    assert code == 2 and "cannot reach the peer" in err
    assert _journal_files(before) == ["before.db"]
    principal = tmp_path / "p.key"
    assert run_cli(capsys, "keygen", "--out", principal)[0] == 0
    out = tmp_path / "no-such-dir" / "m.json"
    code, _, err = run_cli(capsys, "mandate", "--principal", principal, "--agent", bob.did, "--out", out)
    assert code == 2
    one_line_error(err, "cannot write")
    with Journal.open(tmp_path / "p.db") as journal:
        assert len(list(journal.statements())) == 1  # the mandate it signed


def _to_a_closed_pipe(*argv: str | Path, stream: str = "stdout") -> subprocess.CompletedProcess[str]:
    """``a2a-coop ARGV...`` in its own process, its ``stream`` (stdout or stderr) the write end of a
    pipe whose read end is already closed (`| head -1` once head has left), the other captured."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        captured = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, stream: write_end}
        return subprocess.run(
            cli_command(*map(str, argv)),
            **captured,
            text=True,
            timeout=60,
            env=child_env(),
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ["agent", "list"],
        ["version"],
        ["--help"],
        ["verify", "--vectors", "conformance/vectors/canaries.json"],
        ["status"],
        ["sim", "evolve", "--world", "cheap-talk", "--population", "11", "--steps", "1"],
    ],
    ids=" ".join,
)
def test_output_to_a_closed_pipe_exits_141_quietly(bob: Identity, argv: list[str]) -> None:
    """`a2a-coop agent list | head -1`: every command whose reader has left stops with exit 141 (128 +
    SIGPIPE, as a shell reports a program that signal killed) and says nothing: no BrokenPipeError
    traceback, no "Exception ignored" at exit. It exited 1 (the code for "invalid"), or 0 for --help."""
    if argv == ["status"]:  # a journal that records its mandate, as every served one does
        with Journal.open(bob.journal_path) as journal:
            remember_run(journal, bob.mandate, [])
        argv = ["status", "--journal", str(bob.journal_path), "--key", str(bob.key_path)]
    argv = [str(ROOT / a) if a.startswith("conformance/") else a for a in argv]
    result = _to_a_closed_pipe(*argv)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert "BrokenPipe" not in result.stderr


def test_an_error_to_a_closed_stderr_exits_141_quietly(tmp_path: Path) -> None:
    """`a2a-coop status --key missing.key 2>&1 | head -0`: its one-line error has nowhere to go either."""
    result = _to_a_closed_pipe(
        "status", "--journal", tmp_path / "j.db", "--key", tmp_path / "missing.key", stream="stderr"
    )
    assert result.returncode == 141 and result.stdout == ""


def test_escrow_fund_credits_parties_in_a_stopped_escrows_journal(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`escrow serve --fund` credits only a new journal; `escrow fund DID=AMOUNT...` signs Deposits into
    an existing escrow's journal (a party named by did:key or key file, with the rail's reference) and
    prints each balance; the escrow started again holds them. Refused, each in one line with nothing
    signed: a running escrow's journal (in use), a journal no escrow of this key served on, a missing
    one (not created), a party that is neither a did:key nor a key file."""
    escrow = provision(tmp_path, "escrow")
    carol = provision(tmp_path, "carol")
    EscrowNode(escrow.key, escrow.mandate, escrow.journal_path).close()  # as `escrow serve` leaves it
    files = ["--key", escrow.key_path, "--mandate", escrow.mandate_path, "--journal", escrow.journal_path]
    code, out, err = run_cli(
        capsys, "escrow", "fund", f"{carol.did}=500", f"{bob.key_path}=300", *files, "--reference", "wire 7"
    )
    assert code == 0, err
    assert out.splitlines() == [
        f"deposit 500 for {carol.did} (ledger seq 0): 500 credit available, 0 locked",
        f"deposit 300 for {bob.did} (ledger seq 1): 300 credit available, 0 locked",
    ]
    node = EscrowNode(escrow.key, escrow.mandate, escrow.journal_path)
    try:
        assert node.get_balance(carol.did)[:2] == (500, 0) and node.get_balance(bob.did)[:2] == (300, 0)
        deposit = verify_statement(node.journal.at_seq(escrow.did, 0) or b"").statement.deposit
        assert deposit.reference == "wire 7"
        code, _, err = run_cli(capsys, "escrow", "fund", f"{carol.did}=1", *files)  # the escrow runs
        assert code == 2
        one_line_error(err, "is in use by process", "stop the escrow first")
    finally:
        node.close()
    with Journal.open(bob.journal_path) as journal:  # a peer's journal
        remember_run(journal, bob.mandate, [])
    elsewhere = {"peer's": bob.journal_path, "missing": tmp_path / "none.db"}
    for what, journal_path in elsewhere.items():
        argv = ["escrow", "fund", f"{carol.did}=1", *files[:4], "--journal", journal_path]
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, what
        one_line_error(err, "is not the journal of the escrow" if what == "peer's" else "no journal at")
    assert not (tmp_path / "none.db").exists()
    code, _, err = run_cli(capsys, "escrow", "fund", f"{carol.did}=1", "nobody=1", *files)
    assert code == 2
    one_line_error(err, "'nobody' is neither a did:key nor a key file")
    with Journal.open(escrow.journal_path) as journal:
        assert journal.chain_head(escrow.did)[0] == 2  # next seq: the two deposits, nothing more


def test_escrow_export_refuses_a_peers_journal(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`escrow export --journal bob.db` took the peer's own mandate for an escrow's and wrote a
    "ledger" of everything bob held, which `escrow audit` then reported hundreds of findings in. A
    journal no escrow served on, or a --mandate of another key than its escrow's, is refused (exit 2,
    one line, nothing written); the escrow's own journal exports as before. `escrow audit --escrow-did`
    takes a did:key or a key file, and refuses anything else in one line (exit 2)."""
    escrow = provision(tmp_path, "escrow")
    node = EscrowNode(escrow.key, escrow.mandate, escrow.journal_path)
    node.deposit(bob.did, 10)
    remember_run(node.journal, escrow.mandate, [])  # as `escrow serve` does
    node.close()
    with Journal.open(bob.journal_path) as journal:
        remember_run(journal, bob.mandate, [])
    out = tmp_path / "t.json"
    code, _, err = run_cli(capsys, "escrow", "export", "--journal", bob.journal_path, "--out", out)
    assert code == 2
    one_line_error(err, "bob.db is not an escrow's journal", "a2a-coop export")
    argv = ["escrow", "export", "--journal", escrow.journal_path, "--out", out]
    code, _, err = run_cli(capsys, *argv, "--mandate", bob.mandate_path)
    assert code == 2
    one_line_error(err, "not that of the escrow")
    assert not out.exists()
    code, printed, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert f"2 statements (ledger and evidence) of {escrow.did}" in printed
    assert run_cli(capsys, "escrow", "audit", out)[0] == 0
    assert run_cli(capsys, "escrow", "audit", out, "--escrow-did", escrow.key_path)[0] == 0
    # A mistyped --escrow-did audited a "ledger" of nobody's and printed a finding per statement (exit 1).
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--escrow-did", "did:key:z6Mktypo")
    assert code == 2 and printed == ""
    one_line_error(err, "did:key:z6Mktypo")


@pytest.mark.parametrize("command", ["offer", "serve"])
def test_ctrl_c_in_a_trade_says_how_to_carry_it_on(
    tmp_path: Path,
    bob: Identity,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during `offer` said `a2a-coop: interrupted` (exit 130) and nothing more: a newcomer does
    not know the trades can be carried on. Expect the hint to `resume` after the trade commands, and
    the plain line elsewhere."""

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("a2a_coop.cli.peer.CooperationClient", interrupt)
    monkeypatch.setattr("a2a_coop.cli.peer.PeerNode", interrupt)
    argv = [command, *bob.files()]
    if command != "serve":
        argv += ["--to", "127.0.0.1:1"]
    if command == "offer":
        argv += ["--give", "x:1", "--want", "y:1"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 130
    if command == "serve":
        one_line_error(err, "a2a-coop: interrupted")
        assert "resume" not in err
    else:
        one_line_error(err, "a2a-coop: interrupted; what was signed is in the journal: `a2a-coop resume`")


def test_a_journal_of_the_other_kind_is_refused_and_left_as_it_was(
    tmp_path: Path, bob: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`escrow serve --journal bob.db` on a peer's journal (with the peer's own key: the one journal
    of that key) marked it an escrow's journal, then failed with `MANDATE_UNKNOWN` (exit 1): from then
    on `escrow export --journal bob.db` wrote a bogus "ledger" of the peer's statements, which its
    check for a peer's journal had refused. The peer commands on an escrow's journal said it "does not
    replay" (WRONG_AUDIENCE), as if it were damaged. Each is refused in one line naming the journal's
    kind, exit 2, and the journal is left as it was."""
    escrow = provision(tmp_path, "escrow")
    node = EscrowNode(escrow.key, escrow.mandate, escrow.journal_path)
    node.deposit(bob.did, 10)
    remember_run(node.journal, escrow.mandate, [])  # as `escrow serve` does
    node.close()
    with Journal.open(bob.journal_path) as journal:  # as `serve` leaves it
        open_peer(bob.key, bob.mandate, journal)
        remember_run(journal, bob.mandate, [])
        before = {k: journal.get_meta(k) for k in ("escrow/own-mandates", "a2a-coop/own-mandates")}
    assert before["escrow/own-mandates"] is None and before["a2a-coop/own-mandates"] is not None
    served = cli_process(
        *["escrow", "serve", "--key", bob.key_path, "--mandate", bob.mandate_path],
        *["--journal", bob.journal_path, "--port", "0"],
        timeout_s=30,
    )
    assert served.returncode == 2 and served.stdout == "", served.stdout + served.stderr
    one_line_error(served.stderr, "bob.db is a peer's journal", "not an escrow's")
    with Journal.open(bob.journal_path) as journal:
        assert {k: journal.get_meta(k) for k in before} == before
    out = tmp_path / "t.json"
    code, _, err = run_cli(capsys, "escrow", "export", "--journal", bob.journal_path, "--out", out)
    assert code == 2 and not out.exists()
    one_line_error(err, "bob.db is not an escrow's journal")
    for command in (["status"], ["export", "--negotiation", "00", "--out", out]):
        argv = [*command, "--journal", escrow.journal_path, "--key", escrow.key_path]
        code, printed, err = run_cli(capsys, *argv)
        assert code == 2 and printed == "", command
        one_line_error(err, "escrow.db is an escrow's journal", "a2a-coop escrow export")
    assert run_cli(capsys, "status", "--journal", bob.journal_path, "--key", bob.key_path)[0] == 0


NOT_UTF8 = "\udcff"  # how Python hands over a command-line byte that is not UTF-8 (0xff)


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("offer", "--give", f"{NOT_UTF8}:5"),
        ("mandate", "--category", NOT_UTF8),
        ("claim", "--reason", NOT_UTF8),
        ("escrow fund", "--reference", NOT_UTF8),
        ("serve", "--host", NOT_UTF8),
        ("offer", "--tls-server-name", NOT_UTF8),
    ],
)
def test_text_that_is_not_utf8_is_a_usage_error(
    bob: Identity, capsys: pytest.CaptureFixture[str], command: str, option: str, value: str
) -> None:
    """A byte of the command line that is not UTF-8 (`--category $'\\xff'`) reached protobuf or gRPC as
    a lone surrogate and ended in a UnicodeEncodeError traceback. Text options refuse it (exit 2, one
    line naming the option); file names keep such bytes."""
    files = bob.files()
    argv = {
        "offer": ["offer", *files, "--to", "127.0.0.1:1", "--give", "a:1", "--want", "b:1"],
        "mandate": ["mandate", "--principal", bob.key_path, "--agent", bob.did, "--out", "m.json"],
        "claim": ["claim", *files, "--to", "127.0.0.1:1", "--negotiation", "ab"],
        "escrow fund": ["escrow", "fund", f"{bob.did}=5", *files],
        "serve": ["serve", *files],
    }[command]
    code, _, err = run_cli(capsys, *argv, option, value)
    assert code == 2
    assert "Traceback" not in err and f"argument {option}" in err and "is not UTF-8 text" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_started_before_its_escrow_waits_for_it(tmp_path: Path, bob: Identity) -> None:
    """`escrow serve ... & serve --escrow ... &` (README's walk-through, a service manager starting
    both): the escrow needs about a second to listen, and `serve` asked it for its mandate at once,
    found nothing and exited (`cannot reach the escrow`). It now waits for it (--escrow-wait: 10 s by
    default; two minutes here, as a service manager on a loaded machine might need)."""
    escrow = provision(tmp_path, "escrow")
    escrow_server = None
    with socket.socket() as nothing:  # a port that takes bob's connection and drops it: no escrow yet
        nothing.bind(("127.0.0.1", 0))
        nothing.listen()
        nothing.settimeout(30)
        port = nothing.getsockname()[1]
        argv = ["serve", *bob.files(), "--escrow", f"127.0.0.1:{port}", "--escrow-wait", "2m"]
        peer = start_server("bob", argv, tmp_path / "bob.log")
        nothing.accept()[0].close()  # bob has asked, and nothing answered
    try:
        time.sleep(1.0)
        assert peer.popen.poll() is None, peer.log_tail()  # it exited: cannot reach the escrow
        escrow_argv = ["escrow", "serve", *escrow.files(), "--port", str(port)]
        escrow_server = wait_listening(start_server("escrow", escrow_argv, tmp_path / "escrow.log"))
        wait_listening(peer, timeout_s=20)
    finally:
        for server in (peer, escrow_server):
            if server is not None:
                stop_process(server.popen)


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("500ms", "30s", "5m", "1h", "2d", "7")] == [
        500,
        30_000,
        300_000,
        3_600_000,
        172_800_000,
        7_000,
    ]
    # `--deadline 0s` said "'0s' is not a duration like 30s, ...": it is one, of nothing.
    with pytest.raises(argparse.ArgumentTypeError, match="a duration must be more than 0"):
        parse_duration("0s")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a duration like 30s"):
        parse_duration("soon")


# --- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "escrow serve"])
def test_serve_says_listening_then_stopped_and_stops_cleanly_on_sigint(
    tmp_path: Path, bob: Identity, command: str
) -> None:
    """A server's stdout is two lines: 'listening on ...' once serving, 'stopped' once it stopped."""
    server = start_server("bob", [*command.split(), *bob.files()], tmp_path / "bob.log")
    try:
        wait_listening(server, 20)
        assert server.did == bob.did and server.target.startswith("127.0.0.1:")
        server.popen.send_signal(signal.SIGINT)
        assert server.popen.wait(10) == 0
        assert server.popen.stdout is not None and server.popen.stdout.read() == "stopped\n"
    finally:
        stop_process(server.popen)
    assert "Traceback" not in server.log_tail(100)
    with Journal.open(bob.journal_path) as journal:  # closed cleanly and remembers its mandate
        assert journal.get_meta("a2a-coop/mandate") == bob.mandate


# --- demo --------------------------------------------------------------------------------------


def test_demo_directory_is_recreated_but_never_a_foreign_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "demo", "--out", foreign)
    assert code == 2 and (foreign / "notes.txt").exists()
    one_line_error(err, "not an a2a-coop demo directory")
    earlier = tmp_path / "demo"
    prepare_directory(earlier)
    (earlier / "stale.db").write_text("old run")
    prepare_directory(earlier)
    assert sorted(p.name for p in earlier.iterdir()) == [MARKER]


def _issuer(envelope: dict[str, object]) -> str:
    signatures = envelope["signatures"]
    assert isinstance(signatures, list)
    return str(signatures[0]["keyid"])


@pytest.mark.req("CMT-002", "TIM-005", "AUD-001")
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`a2a-coop demo` as a user runs it: exit 0 well within 30 s, a summary naming the breach, no
    process left behind, and evidence that verifies offline; the ledger audits clean, and an audit of
    the ledger with an entry cut out reports the gap (exit 1)."""
    out = tmp_path / "demo"
    result = cli_process("demo", "--out", str(out), "--trades", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "BREACH" in text and "trade 2  " in text
    assert text.count("FULFILLED") >= 2
    assert "alice  at the escrow: 1100" in text and "bob    at the escrow: 900" in text
    assert "a2a-coop verify" in text
    for i in (1, 2, 3):
        assert run_cli(capsys, "verify", out / "evidence" / f"trade-{i}.json")[0] == 0
    assert run_cli(capsys, "verify", out / "transcript.json")[0] == 0
    transcript = out / "escrow-transcript.json"
    assert run_cli(capsys, "escrow", "audit", transcript)[0] == 0
    code, report, _ = run_cli(capsys, "escrow", "audit", "--json", out / "escrow-ledger.json")
    assert code == 1  # a ledger without its evidence proves nothing (AUD-001)
    assert "EVIDENCE_MISSING" in {f["code"] for f in json.loads(report)["findings"]}
    doc = json.loads(transcript.read_text())
    own = [i for i, e in enumerate(doc["envelopes"]) if i and _issuer(e) == _issuer(doc["envelopes"][-1])]
    del doc["envelopes"][own[3]]
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(doc))
    code, report, _ = run_cli(capsys, "escrow", "audit", "--json", cut)
    assert code == 1
    assert "CHAIN_GAP" in {f["code"] for f in json.loads(report)["findings"]}
    assert all((out / f"{name}.log").exists() for name in ("bob", "escrow"))
    # The offline demo tells the same story: the same trades, breach, claim, forfeit and balances.
    offline = tmp_path / "offline"
    code, offline_text, _ = run_cli(capsys, "demo", "--offline", "--out", offline, "--trades", "3")
    assert code == 0, offline_text
    assert _story(offline_text) == _story(text) and len(_story(text)) >= 10
    # The server processes' logs are the online run's own; both runs leave every key's chain home.
    written = {p.relative_to(out) for p in out.rglob("*") if p.suffix != ".log"}
    assert {p.relative_to(offline) for p in offline.rglob("*")} == written
    assert len([p for p in written if p.suffix == ".chain"]) == 6


def _story(text: str) -> list[str]:
    """A demo's lines about trades and balances, with negotiation ids and timings masked."""
    lines = [ln for ln in text.splitlines() if re.match(r"\s*(trade \d|alice  at|bob    at|each side)", ln)]
    return [re.sub(r"\b[0-9a-f]{12}\b", "ID", re.sub(r" \(\d+\.\d+ s\)", "", ln)) for ln in lines]


@pytest.mark.req("A2A-001", "A2A-002")
def test_serve_with_a2a_publishes_the_agent_card(tmp_path: Path, bob: Identity) -> None:
    """`a2a-coop serve --a2a` prints its card URL after the listening line; expect the card over HTTP to
    declare the a2a-coop extension (not required) with this agent's did and gRPC endpoint."""
    pytest.importorskip("a2a")
    import json
    import urllib.request

    from a2a_coop.cli.demo import _read_line

    server = start_server("bob", ["serve", *bob.files(), "--a2a"], tmp_path / "bob.log")
    try:
        wait_listening(server, 20)
        line = _read_line(server.popen.stdout, 10)
        assert line is not None and line.startswith("agent card at http://127.0.0.1:")
        url = line.removeprefix("agent card at ").strip()
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
            card = json.load(response)
        extensions = card["capabilities"]["extensions"]
        coop = next(e for e in extensions if e["uri"] == "https://a2a-coop.dev/ext/coop/v1")
        assert coop.get("required", False) is False
        assert coop["params"]["did"] == bob.did
        assert coop["params"]["cooperationService"]["url"].endswith(server.target.split(":")[1])
        server.popen.send_signal(signal.SIGINT)
        assert server.popen.wait(10) == 0
    finally:
        stop_process(server.popen)
    assert "Traceback" not in server.log_tail(100)


def test_a_flood_of_refusals_is_logged_a_line_a_second(caplog: pytest.LogCaptureFixture) -> None:
    """A served peer logs refused requests at most once a second for each kind of statement from each
    claimed issuer, counting the rest into the next line, so that a flood cannot grow its log; another
    issuer's refusal is logged at once. The line names the statement without a second signature check."""
    from a2a_coop.cli._runtime import RefusalLog
    from a2a_coop.testing import FixedClock, Party

    now = [100.0]
    refusals = RefusalLog(clock=lambda: now[0])
    mallory, alice = Party("mallory", FixedClock()), Party("alice", FixedClock())
    flood, other = mallory.offer(alice), alice.offer(mallory)
    err = errors.RateLimited("slow down", retry_after_ms=10)
    with caplog.at_level("INFO", logger="a2a_coop.serve"):
        for _ in range(5):
            refusals.refused(flood.envelope, err)
        refusals.refused(other.envelope, err)
        now[0] += 1.0
        refusals.refused(flood.envelope, err)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("refused offer from ") and "RATE_LIMITED" in lines[0]
    assert "more refused" not in lines[1]
    assert lines[2].endswith("(and 4 more refused since the last line)")


def test_status_with_another_keys_journal_names_whose_journal_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status --journal bob.db --key alice.key` said only "bob.db: the mandate does not delegate to this
    key" (newuser16). Expect one line naming the journal's key and the key given."""
    clock = FixedClock(now_ms=int(time.time() * 1000))
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal_path = tmp_path / "bob.db"
    PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, journal_path, clock=lambda: clock.now_ms).close()
    write_key_file(tmp_path / "alice.key", alice.agent.key)
    code, _, err = run_cli(capsys, "status", "--journal", journal_path, "--key", tmp_path / "alice.key")
    assert code == 2
    one_line_error(err, f"{journal_path} is the journal of {bob.did}, not of {alice.did}", "own --journal")


@pytest.mark.parametrize(
    ("code", "details", "said"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", "took the connection but did not answer"),
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:8000: Failed "
            "parsing "
            "HTTP/2 (Expected SETTINGS frame as the first frame, got frame type 79)",
            "--to 127.0.0.1:8000 does not speak gRPC (HTTP/2): is it a web server",
        ),
        (grpc.StatusCode.UNAVAILABLE, "Connection refused", "cannot reach the peer at 127.0.0.1:8000 (--to)"),
    ],
)
def test_a_first_contact_that_hangs_or_is_no_grpc_server_says_so(
    code: grpc.StatusCode, details: str, said: str
) -> None:
    """`offer --to` a port that takes connections and never answers said "cannot reach the peer ...:
    Deadline Exceeded", and one given a web server's port quoted gRPC's HTTP/2 frame parse error
    (newuser16). Expect, as `conformance` says of a target, that it took the connection and did not
    answer; and that the other end does not speak gRPC."""

    def call() -> None:
        raise TransportError(code, details)

    with pytest.raises(UsageError) as refused:
        first_contact("--to", "127.0.0.1:8000", "peer", call)
    assert said in str(refused.value)


def test_escrow_audit_of_part_of_a_ledger_says_what_to_audit_instead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`escrow audit evidence.json` (a trade's export: a few of the escrow's statements) printed eleven
    findings, LOCK_EXCEEDS_AVAILABLE and NEGATIVE_BALANCE among them, with nothing saying the input was
    the wrong file (newuser16). The findings stand (exit 1); a note says what to audit instead."""
    escrow, bob = provision(tmp_path, "escrow"), provision(tmp_path, "bob")
    node = EscrowNode(escrow.key, escrow.mandate, escrow.journal_path)
    node.deposit(bob.did, 10)
    node.deposit(bob.did, 5)
    ledger = node.escrow.transcript()
    node.close()
    part = [
        e for e in ledger if verify_statement(e).header.seq != 0 or verify_statement(e).issuer != escrow.did
    ]
    path = tmp_path / "part.json"
    path.write_text(json.dumps({"envelopes": [envelope_to_json(e) for e in part]}))
    code, printed, _ = run_cli(capsys, "escrow", "audit", path)
    assert code == 1
    assert (
        "the ledger starts at seq 1" in printed
        and "`a2a-coop escrow export` writes the transcript" in printed
    )
