"""``a2a-coop revoke-key``: a principal withdraws its agent's key and sends the revocation where it must
count (SPEC 3.4, KEY-004, KEY-008), against real peer and escrow processes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.cli._runtime import load_envelope, write_transcript
from a2a_coop.cli.demo import Identity, provision, start_server, stop_process, wait_listening
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.errors import KeyRevoked
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file
from a2a_coop.runtime.node import write_envelope_file
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, service
from a2a_coop.transport import CooperationClient


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


@pytest.mark.req("KEY-008")
def test_binding_takes_a_transcript_and_picks_the_keys_statement_from_it(
    market: tuple[Identity, Identity, str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent that never served has no log for --binding-from, and `a2a-coop export` of one of its
    trades writes a transcript, which `--binding` refused ("is a transcript, not a binding statement").
    It now picks the key's statement from the transcript: Carol's peer, which had heard nothing of
    Alice's key, takes the revocation with it. A transcript holding no statement of the key is refused
    in one line saying what to give instead."""
    alice, carol, _alice_at, carol_at, _escrow_at = market
    clock = FixedClock(wall_clock_ms())
    pa = Peer(alice.key, alice.mandate, clock=lambda: clock.now_ms)
    due = clock.now_ms + DAY_MS
    offer = pa.propose(
        carol.did,
        trade_pb2.Offer(
            gives=[service("code-review", value=10, deadline_ms=due)],
            wants=[service("copy-editing", value=9, deadline_ms=due)],
            terms=trade_pb2.Terms(currency="credit"),
        ),
    )
    exported = tmp_path / "trade.json"  # as `a2a-coop export --negotiation` writes it
    write_transcript(exported, [carol.mandate, alice.mandate, offer.envelope], negotiation="x")
    out = tmp_path / "revocation.json"
    base = ["revoke-key", *_principal(alice), "--agent", alice.did, "--out", out]
    code, stdout, err = run_cli(capsys, *base, "--binding", exported, "--send", carol_at)
    assert code == 0, (stdout, err)
    assert f"peer {carol_at}: taken" in stdout
    # The Offer is addressed to Carol: only she (and the trade's escrow) takes it, which is said.
    assert "holds no public statement" in stdout and "--binding-from" in stdout

    carols = tmp_path / "carols.json"
    write_transcript(carols, [carol.mandate, alice.mandate], negotiation="x")
    code, _, err = run_cli(capsys, *base, "--binding", carols)
    assert code == 2
    one_line_error(err, "is a transcript of 2 statements, and none is a statement of")


@pytest.mark.req("KEY-008", "CHN-005")
def test_binding_from_sends_the_keys_first_checkpoint_which_a_thiefs_later_statement_does_not_keep_out(
    market: tuple[Identity, Identity, str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alice's peer signs its first Checkpoint (seq 0), then a thief who copied her key shows Carol's
    peer a Checkpoint of it at a seq ahead of her chain (100), under the thief's own principal's
    Mandate: the key is bound to the thief's principal only there. Alice's peer goes on signing (an
    answer to Dave's offer), so its head Checkpoint (GetCheckpoint) is issued after the thief's
    statement at a lower seq, and Carol's peer refuses it CHAIN_BROKEN (CHN-005) -- and the revocation
    with it, the key still the thief's there. --binding-from sends the key's first Checkpoint, read
    from Alice's peer's log (KEY-008), signed before the thief's: taken, the revocation with it, and
    the thief's next statement under Alice's Mandate is KEY_REVOKED. A peer that has no Checkpoint of
    the key to give is said so in one line, and its head Checkpoint is what is checked (here another
    key's: a usage error)."""
    alice, carol, alice_at, carol_at, _ = market
    with CooperationClient(alice_at) as client:
        first = verify_statement(client.get_checkpoint())
    assert (first.header.seq, first.issuer) == (0, alice.did)
    time.sleep(0.01)
    thief, boss = _thief(alice, seq=100), Signer("thief-principal", FixedClock(wall_clock_ms()))
    caps = identity_pb2.Mandate(
        agent=alice.did,
        valid_from_ms=boss.clock.now_ms - 1_000,
        valid_until_ms=boss.clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    own = boss.sign("mandate", caps, ttl_ms=DAY_MS)
    squat = thief.sign("checkpoint", identity_pb2.Checkpoint(log_root=os.urandom(32)), mandate=own.digest)
    with CooperationClient(carol_at) as client:
        client.exchange(squat.envelope, [own.envelope])
    time.sleep(0.01)
    dave = Party("dave", FixedClock(wall_clock_ms()))
    with CooperationClient(alice_at) as client:  # Alice answers: her head moves past her first Checkpoint
        assert client.exchange(dave.offer(SimpleNamespace(did=alice.did)).envelope, dave.setup)  # type: ignore[arg-type]
        latest = verify_statement(client.get_checkpoint())
    assert latest.header.seq > 1 and latest.header.issued_at_ms > squat.header.issued_at_ms

    out = tmp_path / "revocation.json"
    base = ["revoke-key", *_principal(alice), "--agent", alice.did, "--out", out]
    code, stdout, err = run_cli(capsys, *base, "--binding-from", alice_at, "--send", carol_at)
    assert code == 0, (stdout, err)
    assert f"peer {carol_at}: taken" in stdout and "binding:" not in stdout
    revocation = _revocation(out)
    with Journal.open(tmp_path / "carol.db", lock=False) as journal:
        assert journal.by_digest(first.digest) is not None
        assert journal.by_digest(revocation.digest) is not None
    time.sleep(0.01)
    offer = thief.sign(
        "offer", dave.proposal(), audience=carol.did, mandate=verify_statement(alice.mandate).digest
    )
    with CooperationClient(carol_at) as client, pytest.raises(KeyRevoked):
        client.exchange(offer.envelope, [alice.mandate])

    # a peer with no Checkpoint of the key in its log (Carol's): said in one line, then its head's
    # Checkpoint refused as another key's
    code, stdout, err = run_cli(capsys, *base, "--binding-from", carol_at)
    assert code == 2
    [said] = [line for line in stdout.splitlines() if line.startswith("binding:")]
    assert carol_at in said and "first Checkpoint" in said and "KEY-008" in said
    one_line_error(err, "a binding is a statement of")


@pytest.mark.req("KEY-008")
def test_binding_from_a_served_journal_that_only_made_offers_sends_its_first_checkpoint_unwarned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's way for an agent that never served: serve its journal a moment and give --binding-from
    its address. Alice only ever ran `offer` (her journal holds an Offer, a Delivery and a Receipt to
    Carol, no Checkpoint): her peer signs its first Checkpoint when asked, which the command said was
    "not the key's first Checkpoint ... a target holding a later statement of the key may refuse" -- it
    is the first, sent unwarned, and Carol takes the revocation."""
    alice, carol = provision(tmp_path, "alice"), provision(tmp_path, "carol")
    carols = start_server("carol", ["serve", *carol.files()], tmp_path / "carol.log")
    try:
        carol_at = wait_listening(carols).target
        trade = [
            "offer",
            *alice.files(),
            "--to",
            carol_at,
            "--give",
            "code-review:10",
            "--want",
            "copy-editing:9",
        ]
        code, stdout, err = run_cli(capsys, *trade)
        assert code == 0 and "FULFILLED" in stdout, (stdout, err)
        alices = start_server("alice", ["serve", *alice.files()], tmp_path / "alice.log")
        try:
            alice_at = wait_listening(alices).target
            out = tmp_path / "revocation.json"
            base = ["revoke-key", *_principal(alice), "--agent", alice.did, "--out", out]
            code, stdout, err = run_cli(capsys, *base, "--binding-from", alice_at, "--send", carol_at)
        finally:
            stop_process(alices.popen)
    finally:
        stop_process(carols.popen)
    assert code == 0, (stdout, err)
    assert f"peer {carol_at}: taken" in stdout and "binding:" not in stdout, stdout
    with Journal.open(tmp_path / "alice.db", lock=False) as journal:
        [checkpoint] = [
            vs
            for vs in map(verify_statement, journal.log_range(alice.did, 0, 100))
            if vs.body == "checkpoint"
        ]
    assert checkpoint.header.seq == 3  # after her Offer, Delivery and Receipt: her first all the same
    with Journal.open(tmp_path / "carol.db", lock=False) as journal:
        assert journal.by_digest(_revocation(out).digest) is not None


def _thief(who: Identity, *, seq: int) -> ChainSigner:
    """Whoever copied ``who``'s agent key, signing from ``seq`` on (a seq ahead of the owner's chain)."""
    return ChainSigner(who.key, clock=wall_clock_ms, nonce=lambda: os.urandom(16), head=(seq, os.urandom(32)))


def _revocation(path: Path) -> VerifiedStatement:
    return verify_statement(load_envelope(path, "revocation"))


def test_revoke_key_refuses_what_does_not_verify_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --binding or --mandate file that is no envelope, and a --reason too long for an envelope, ended
    `revoke-key` in a traceback (`Invalid`, `EnvelopeTooLarge`): it was the one networked command not
    run as the others are. Each is refused in one line, exit 1 (invalid), nothing signed or written."""
    alice = provision(tmp_path, "alice")
    out = tmp_path / "r.json"
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"garbage\n")
    principal_db = alice.key_path.with_name("alice-principal.db")
    with Journal.open(principal_db) as journal:
        head = journal.chain_head(verify_statement(alice.mandate).issuer)
    base = ["revoke-key", *_principal(alice), "--agent", alice.did, "--out", out]
    for extra, needle in (
        (["--binding", garbage], "binding statement"),
        (["--mandate", garbage], "mandate"),
        (["--reason", "x" * 100_000], "ENVELOPE_TOO_LARGE"),
    ):
        code, stdout, err = run_cli(capsys, *base, *map(str, extra))
        assert code == 1 and stdout == "", extra[0]
        one_line_error(err, needle)
        assert not out.exists()
    with Journal.open(principal_db) as journal:
        assert journal.chain_head(verify_statement(alice.mandate).issuer) == head


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


@pytest.mark.req("KEY-011")
def test_revoke_key_says_a_keys_own_revocation_reaches_back_over_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent revoking its own key, dated back to 1970, is told that the revocation takes effect only
    from when it signs it (KEY-011), and that its principal's revocation is the one that reaches back; a
    revocation from now is signed without the note."""
    alice = provision(tmp_path, "alice")
    own = ["revoke-key", "--principal", str(alice.key_path), "--agent", alice.did]
    journal = ["--journal", str(tmp_path / "alice-own.db")]
    code, stdout, err = run_cli(capsys, *own, *journal, "--effective", "1", "--out", tmp_path / "back.json")
    assert code == 0, (stdout, err)
    assert "reaches back over nothing (KEY-011)" in stdout and "from its principal's key" in stdout
    revocation = _revocation(tmp_path / "back.json")
    assert revocation.issuer == alice.did and revocation.statement.key_revocation.effective_ms == 1
    code, stdout, err = run_cli(capsys, *own, *journal, "--out", tmp_path / "now.json")
    assert code == 0, (stdout, err)
    assert "KEY-011" not in stdout
