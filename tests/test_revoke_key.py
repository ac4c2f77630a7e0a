"""``a2a-coop revoke-key``: a principal withdraws its agent's key and sends the revocation where it must
count (SPEC 3.4, KEY-004, KEY-008), against real peer and escrow processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop.cli._runtime import load_envelope
from a2a_coop.cli.demo import Identity, provision, start_server, stop_process, wait_listening
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file
from a2a_coop.runtime.node import write_envelope_file


def _principal(who: Identity) -> list[str]:
    return [
        "--principal",
        str(who.key_path.with_name(f"{who.name}-principal.key")),
        "--journal",
        str(who.key_path.with_name(f"{who.name}-principal.db")),
    ]


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[Identity, Identity, str, str, str]]:
    """Alice's and Carol's peers and an escrow, each its own process: (alice, carol, their targets)."""
    alice, carol, escrow = (provision(tmp_path, n) for n in ("alice", "carol", "escrow"))
    servers = [
        start_server("alice", ["serve", *alice.files()], tmp_path / "alice.log"),
        start_server("carol", ["serve", *carol.files()], tmp_path / "carol.log"),
        start_server("escrow", ["escrow", "serve", *escrow.files()], tmp_path / "escrow.log"),
    ]
    try:
        targets = [wait_listening(s).target for s in servers]
        yield alice, carol, *targets  # type: ignore[misc]
    finally:
        for s in servers:
            stop_process(s.popen)


def test_a_revocation_refused_without_its_binding_is_sent_again_with_it(
    market: tuple[Identity, Identity, str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Carol's peer has heard nothing of Alice's key: the revocation with the Mandate alone is refused
    (exit 3, a line saying what to add); run again with the key's Checkpoint fetched from Alice's peer,
    the same revocation -- not a second one -- is taken by Carol's peer and by the escrow, durably."""
    alice, carol, alice_at, carol_at, escrow_at = market
    out = tmp_path / "revocation.json"
    base = ["revoke-key", *_principal(alice), "--agent", alice.did, "--out", out, "--send", carol_at]
    code, stdout, err = run_cli(capsys, *base, "--effective", "now")
    assert code == 3, (stdout, err)
    assert "refused REVOCATION_UNAUTHORIZED" in stdout and "--binding-from" in stdout
    signed = _revocation(out)
    code, stdout, err = run_cli(capsys, *base, "--binding-from", alice_at, "--escrow", escrow_at)
    assert code == 0, (stdout, err)
    assert "(not signed again)" in stdout
    assert f"peer {carol_at}: taken" in stdout and f"escrow {escrow_at}: taken" in stdout
    revocation = _revocation(out)
    assert revocation.digest == signed.digest
    with Journal.open(tmp_path / "alice-principal.db", lock=False) as journal:
        assert journal.chain_head(revocation.issuer)[0] == 2  # its Mandate, then one revocation
    for name in ("carol", "escrow"):
        # durable where it was taken (the servers still run: read without taking their lock)
        with Journal.open(tmp_path / f"{name}.db", lock=False) as journal:
            assert journal.by_digest(revocation.digest) is not None, name
    assert revocation.statement.key_revocation.key == alice.did != carol.did


def _revocation(path: Path) -> VerifiedStatement:
    return verify_statement(load_envelope(path, "revocation"))


def test_revoke_key_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alice = provision(tmp_path, "alice")
    stranger = tmp_path / "stranger.key"
    write_key_file(stranger, generate_keypair())
    out = tmp_path / "r.json"

    # a key the principal never signed a Mandate for
    code, _, err = run_cli(capsys, "revoke-key", *_principal(alice), "--agent", stranger, "--out", out)
    assert code == 2
    one_line_error(err, "holds no Mandate", "KEY-004")
    assert not out.exists()

    # a binding by another key
    other = provision(tmp_path, "other")
    not_a_binding = tmp_path / "other-mandate.json"
    write_envelope_file(not_a_binding, other.mandate)
    code, _, err = run_cli(
        capsys,
        "revoke-key",
        *_principal(alice),
        "--agent",
        alice.did,
        "--out",
        out,
        "--binding",
        not_a_binding,
    )
    assert code == 2
    one_line_error(err, "a binding is a statement of")
    assert not out.exists()

    # signed and kept; asked again from another time, or over another file
    code, stdout, _ = run_cli(capsys, "revoke-key", *_principal(alice), "--agent", alice.did, "--out", out)
    assert code == 0 and "sent nowhere" in stdout
    code, _, err = run_cli(
        capsys, "revoke-key", *_principal(alice), "--agent", alice.did, "--out", out, "--effective", "0"
    )
    assert code == 2
    one_line_error(err, "--force signs a new revocation")
    code, _, err = run_cli(
        capsys, "revoke-key", *_principal(alice), "--agent", alice.did, "--out", alice.mandate_path
    )
    assert code == 2
    one_line_error(err, "is not a revocation of")
