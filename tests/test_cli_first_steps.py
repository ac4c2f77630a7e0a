"""A newcomer's plausible mistakes with the README's commands, and what each must answer: one line
on stderr that names the mistake (exit 2), never a raw gRPC status or a traceback.

Each test is a slip found by following README.md from the top: a port past 65535 or none at all, an
escrow's address given as the peer's and the other way round, a port already taken, a did:key file
given as a key file, a journal whose escrow mandate is unrecorded, a report directory that cannot
be written. Servers run in process on loopback ports the OS picks.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import cli_process, one_line_error, run_cli

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.cli import build_parser
from a2a_coop.cli._common import UsageError, address
from a2a_coop.cli._runtime import check_output, load_key, write_transcript
from a2a_coop.cli.conformance import _replay_base
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import serve
from reference_agents import BadParameter, build


@pytest.fixture
def alice(tmp_path: Path) -> Identity:
    return provision(tmp_path, "alice")


@pytest.fixture
def peer_and_escrow(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A peer (bob) and an escrow, each serving in process: (peer address, escrow address)."""
    bob, esc = provision(tmp_path, "bob"), provision(tmp_path, "escrow")
    peer = PeerNode.open(bob.key, bob.mandate, tmp_path / "bob.db")
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db")
    try:
        with serve(peer, None) as peer_server, serve(None, escrow) as escrow_server:
            yield peer_server.target, escrow_server.target
    finally:
        peer.close()
        escrow.close()


@pytest.mark.parametrize("given", ["127.0.0.1:99999", "127.0.0.1", "127.0.0.1:0", "::1:7001", "host:7x"])
def test_an_address_outside_host_and_port_1_to_65535_is_refused_as_given(
    alice: Identity, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """gRPC dials a missing port as 443 and wraps 99999 to 34463, so `--to 127.0.0.1:99999` once
    failed with "connection refused" at another address than the one typed. Expect exit 2 naming the
    address as given and the rule."""
    code, _, err = run_cli(capsys, "offer", *alice.files(), "--to", given, "--give", "a:1", "--want", "b:1")
    assert code == 2
    assert f"argument --to: {given!r} is not HOST:PORT with a port 1..65535" in err
    code, _, err = run_cli(capsys, "conformance", "--target", given)
    assert code == 2
    one_line_error(err, f"--target {given!r} must be HOST:PORT with a port 1..65535")


def test_an_address_may_be_a_name_or_a_bracketed_ipv6_host() -> None:
    for good in ("127.0.0.1:7001", "localhost:65535", "[::1]:7001", "peer.example.com:1"):
        assert address(good) == good


def test_a_peer_and_an_escrow_given_in_each_others_place(
    alice: Identity, peer_and_escrow: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The escrow's address as --to, the peer's as --escrow: once "network: UNIMPLEMENTED: Method not
    found!". Expect each option named with what the server there is not."""
    peer, escrow = peer_and_escrow
    items = ["--give", "a:1", "--want", "b:1"]
    code, _, err = run_cli(capsys, "offer", *alice.files(), "--to", escrow, *items)
    assert code == 2
    one_line_error(err, f"--to {escrow} is not an a2a-coop peer", "CooperationService")
    code, _, err = run_cli(capsys, "offer", *alice.files(), "--to", peer, "--escrow", peer, *items)
    assert code == 2
    one_line_error(err, f"--escrow {peer} is not an a2a-coop escrow", "EscrowService")
    code, _, err = run_cli(
        capsys, "escrow", "ledger", "--escrow", peer, "--out", alice.journal_path.parent / "l"
    )
    assert code == 2
    one_line_error(err, f"--escrow {peer} is not an a2a-coop escrow")


def test_nothing_listening_names_the_option(alice: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "offer", *alice.files(), "--to", "127.0.0.1:1", "--give", "a:1", "--want", "b:1"
    )
    assert code == 2
    one_line_error(err, "cannot reach the peer at 127.0.0.1:1 (--to)")


def test_a_port_in_use_is_named_as_such(alice: Identity, peer_and_escrow: tuple[str, str]) -> None:
    """gRPC's bind error names no cause ("Failed to bind ...; set GRPC_VERBOSITY=debug"); expect the
    OS's reason, as for any server that cannot listen."""
    taken = peer_and_escrow[0].rpartition(":")[2]
    result = cli_process("serve", *alice.files(), "--port", taken)
    assert result.returncode == 2 and result.stdout == ""
    one_line_error(result.stderr, f"cannot listen on 127.0.0.1:{taken}: {os.strerror(errno.EADDRINUSE)}")


@pytest.mark.parametrize(
    ("option", "what_it_is_not"),
    [("--key", "not an a2a-coop key file"), ("--mandate", "not a mandate (a signed statement)")],
)
def test_a_did_file_given_as_the_key_or_mandate_says_it_is_the_public_identity(
    tmp_path: Path, alice: Identity, capsys: pytest.CaptureFixture[str], option: str, what_it_is_not: str
) -> None:
    """`keygen --out alice.key > alice.did` leaves two files; --key alice.did was called "a binary
    file", and --mandate alice.did was read as a binary envelope and refused `MALFORMED_ENVELOPE
    [ENV-004]: ... field 12 is a group`, exit 1 (invalid), as if the mandate were forged (newcomer29).
    Expect the slip named for what it is, exit 2 (usage), for either option."""
    did_file = tmp_path / "alice.did"
    did_file.write_text(alice.did + "\n")
    code, _, err = run_cli(
        capsys,
        "offer",
        *alice.files(),
        option,
        did_file,
        "--to",
        "127.0.0.1:1",
        "--give",
        "a:1",
        "--want",
        "b:1",
    )
    assert code == 2
    one_line_error(err, f"{did_file} is a did:key", what_it_is_not)


def test_a_did_file_given_where_a_did_is_asked_is_read_as_that_did(
    tmp_path: Path, alice: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--subject alice.did` (and `--escrow-did`, `reputation SUBJECT`, `revoke-key --agent`, which take "a
    did:key or its key file") answered `alice.did is a did:key ..., not an a2a-coop key file`: it named
    the file a did:key and refused it where a did:key is asked. The file is read as the did:key it
    holds, as `$(cat alice.did)` passes it; garbage in such a file is refused as the did it claims."""
    did_file = tmp_path / "alice.did"
    did_file.write_text(alice.did + "\n")
    clock = FixedClock()
    offerer, bob = Party("offerer", clock), Party("bob", clock)
    evidence = tmp_path / "evidence.json"
    envelopes = [*offerer.setup, *bob.setup, offerer.offer(bob).envelope]
    write_transcript(evidence, envelopes)
    subject = tmp_path / "offerer.did"
    subject.write_text(offerer.did + "\n")
    for who in (subject, offerer.did):
        code, out, err = run_cli(capsys, "audit", evidence, "--subject", who, "--json")
        assert code == 0 and json.loads(out)["result"] == "clean", out + err
    code, out, err = run_cli(capsys, "audit", evidence, "--subject", did_file)  # no statement of hers
    assert code == 0 and not err, err
    did_file.write_text("did:key:z6Mktypo\n")
    code, _, err = run_cli(capsys, "audit", evidence, "--subject", did_file)
    assert code == 2
    one_line_error(err, "did:key:z6Mktypo")


@pytest.mark.parametrize("command", [["verify"], ["inspect"], ["escrow", "audit"]], ids=" ".join)
def test_a_did_file_given_as_evidence_says_it_is_the_public_identity(
    tmp_path: Path, alice: Identity, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """`a2a-coop verify alice.did` answered `alice.did: invalid JSON: Expecting value: line 1 column 1`,
    as if a JSON file were damaged: it is named for what it is."""
    did_file = tmp_path / "alice.did"
    did_file.write_text(alice.did + "\n")
    code, _, err = run_cli(capsys, *command, did_file)
    assert code == 2
    one_line_error(err, f"{did_file} is a did:key", "not evidence")


def test_a_journal_whose_escrow_mandate_is_unrecorded_says_how_to_give_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal written by the library (PeerNode.open(context=...)) does not record the escrow
    mandates its bonded trades cite, so the CLI could not replay it and said only MANDATE_UNKNOWN.
    The offline demo's journal with that record removed stands for one."""
    out = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--offline", "--out", out)[0] == 0
    with Journal.open(out / "alice.db") as journal:
        journal.put_meta("a2a-coop/context", [])
    code, _, err = run_cli(capsys, "status", "--journal", out / "alice.db", "--key", out / "alice.key")
    assert code == 2
    one_line_error(err, "MANDATE_UNKNOWN", "--escrow HOST:PORT or --context")


def test_the_demos_keys_sign_only_in_the_demos_journals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo signed with alice's key (and, offline, bob's and the escrow's), and with the three
    principals', in process, leaving no KEY.chain: `a2a-coop offer --key a2a-coop-demo/alice.key
    --journal alice.db` -- a newcomer's next step -- signed her seq 0 again in a new journal, a fork
    of the demo's chain. Expect every key the demo signs with to sign in its journal only (the
    process demo provisions its keys the same way: a2a_coop.cli.demo.provision)."""
    demo = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--offline", "--out", demo)[0] == 0
    for name in ("alice", "bob", "escrow", "alice-principal", "bob-principal", "escrow-principal"):
        home = json.loads((demo / f"{name}.key.chain").read_text())
        assert Path(home["journal"]) == (demo / f"{name}.db").resolve()
    other = tmp_path / "alice.db"
    files = ["--key", demo / "alice.key", "--mandate", demo / "alice.mandate.json", "--journal", other]
    code, _, err = run_cli(capsys, "offer", *files, "--to", "127.0.0.1:1", "--give", "a:1", "--want", "b:1")
    assert code == 2
    one_line_error(err, "signs in", "would start its chain again at seq 0")
    assert not other.exists()


def test_inspect_prints_digests_in_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A body's digests were printed as protobuf text format's octal escapes, which nobody can
    compare with the digest lines. Expect an Accept's `offer` to read as the offer's digest does."""
    out = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--offline", "--out", out)[0] == 0
    code, text, _ = run_cli(capsys, "inspect", out / "evidence" / "trade-1.json")
    assert code == 0
    digests = re.findall(r"^  digest: +([0-9a-f]{64})$", text, re.M)
    accepted = re.findall(r"^    offer: ([0-9a-f]{64})$", text, re.M)
    assert len(accepted) == 1 and accepted[0] in digests
    assert "\\" not in text


def test_a_report_dir_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was refused after the whole run; now before connecting (the target here is down)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, "conformance", "--target", "127.0.0.1:1", "--report-dir", blocker / "r")
    assert code == 2
    one_line_error(err, "cannot write reports to")


def test_a_run_where_no_case_applied_says_so(
    peer_and_escrow: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A responder case against an escrow only SKIPs: exit 0 (no MUST failed), but the summary must
    not read as if everything passed."""
    code, out, _ = run_cli(
        capsys,
        "conformance",
        "--target",
        peer_and_escrow[1],
        "--case",
        "env.garbage",
        "--report-dir",
        tmp_path / "r",
    )
    assert code == 0
    assert "WARNING: no case ran" in out and "OK: no MUST case failed (none ran)" in out
    assert json.loads((tmp_path / "r" / "report.json").read_text())


def test_an_agent_parameter_of_the_wrong_type_says_which_type() -> None:
    with pytest.raises(BadParameter, match="'x' is not an integer"):
        build("reneger", after="x")
    with pytest.raises(BadParameter, match="'x' is not a number"):
        build("reneger", act_rate="x")


def test_an_agent_parameter_out_of_range_is_refused() -> None:
    """`agent run --strategy reneger --param after=-1` served a reneger (newuser16): a count, rate,
    ratio or threshold below 0, a NaN or a rating above 100 (BDY-009) is a usage error; a seed may be
    any integer."""
    with pytest.raises(BadParameter, match="after: -1 is negative"):
        build("reneger", after="-1")
    with pytest.raises(BadParameter, match="min_ratio: nan is not a finite number"):
        build("honest", min_ratio="nan")
    with pytest.raises(BadParameter, match="rating: 500 is above 100"):
        build("honest", rating="500")
    assert build("reneger", seed="-3", after="0") is not None


def test_no_out_writes_over_a_key_file_or_a_journal(
    tmp_path: Path, alice: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mandate --out alice.key` (for alice.mandate.json) replaced the key, the only copy of a
    secret, and `export --out alice.db` a journal. Expect both refused, nothing written and, for the
    mandate, no seq of the principal's chain spent on it."""
    key_before = alice.key_path.read_bytes()
    principal = tmp_path / "alice-principal.key"
    argv = ["mandate", "--principal", principal, "--agent", alice.did]
    code, _, err = run_cli(capsys, *argv, "--out", alice.key_path)
    assert code == 2
    one_line_error(err, f"{alice.key_path} is a key file; refusing to write over it")
    assert alice.key_path.read_bytes() == key_before
    code, out, _ = run_cli(capsys, *argv, "--out", tmp_path / "next.mandate.json")
    assert code == 0 and "(principal seq 1," in out  # provision signed seq 0; the refusal signed nothing
    demo = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--offline", "--out", demo)[0] == 0
    journal_before = (demo / "bob.db").read_bytes()
    reader = ["--journal", demo / "alice.db", "--key", demo / "alice.key"]
    code, _, err = run_cli(capsys, "export", *reader, "--negotiation", "", "--out", demo / "bob.db")
    assert code == 2
    one_line_error(err, "is a journal (SQLite); refusing to write over it")
    assert (demo / "bob.db").read_bytes() == journal_before


def test_a_key_file_longer_than_the_first_read_is_still_refused_as_an_out(
    tmp_path: Path, alice: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    """The --out guard read the first 64 KiB and parsed that as JSON: a key file with a long note (or
    pretty-printed with wide padding), which every command still loads as a key, failed to parse and
    was written over. Expect it refused like any key file, and kept byte for byte."""
    doc = json.loads(alice.key_path.read_text())
    padded = tmp_path / "padded.key"
    padded.write_text(json.dumps({**doc, "note": "x" * 70_000}, indent=1))
    assert padded.stat().st_size > 1 << 16
    assert load_key(padded).did == alice.did  # a key file for every command that reads one
    before = padded.read_bytes()
    principal = tmp_path / "alice-principal.key"
    code, _, err = run_cli(capsys, "mandate", "--principal", principal, "--agent", alice.did, "--out", padded)
    assert code == 2
    one_line_error(err, f"{padded} is a key file; refusing to write over it")
    assert padded.read_bytes() == before
    other = tmp_path / "big.json"
    other.write_text(json.dumps({"type": "not a key", "note": "x" * 70_000}))
    check_output(other)  # long JSON that is no key file: written over as asked


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_a_journal_given_as_evidence_is_named_as_such(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`verify alice.db` read the journal as one envelope and judged it invalid: ENVELOPE_TOO_LARGE
    (exit 1), as if the evidence were bad. Expect a usage error that names a journal and says how to get
    evidence out of it."""
    path = tmp_path / "alice.db"
    with Journal.open(path) as journal:
        key = Party("alice", FixedClock()).agent
        journal.record_outgoing(key.sign("checkpoint", identity_pb2.Checkpoint(log_root=b"")), at_ms=0)
    code, out, err = run_cli(capsys, command, path)
    assert code == 2 and out == ""
    one_line_error(err, f"{path} is a journal (SQLite), not evidence", "a2a-coop export")


def test_an_a2a_url_nothing_answers_at_is_a_connection_error_not_17_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--a2a-url` with a wrong port made every a2a.* case FAIL ("cannot fetch the AgentCard") and the
    run exit 1, a verdict about a target nobody reached. Expect exit 2 before the run, as for
    --target and --escrow; and a URL that is none is a usage error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    code, _, err = run_cli(
        capsys, "conformance", "--target", "127.0.0.1:1", "--a2a-url", f"http://127.0.0.1:{free}"
    )
    assert code == 2
    one_line_error(err, f"cannot reach the A2A endpoint at http://127.0.0.1:{free} (--a2a-url)")
    code, _, err = run_cli(capsys, "conformance", "--target", "127.0.0.1:1", "--a2a-url", "127.0.0.1:8080")
    assert code == 2
    one_line_error(err, "--a2a-url '127.0.0.1:8080' must be an http:// or https:// URL")


def test_an_a2a_url_at_the_grpc_port_is_a_connection_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], peer_and_escrow: tuple[str, str]
) -> None:
    """`serve --a2a` serves A2A's gRPC binding on the peer's port and its HTTP bindings on
    `--card-port`; `--a2a-url http://` + the gRPC port got an HTTP/2 answer to an HTTP/1.1 request and
    ended in http.client's BadStatusLine traceback. Expect exit 2 in one line naming the option and what
    answered there."""
    peer, _ = peer_and_escrow
    code, _, err = run_cli(capsys, "conformance", "--target", peer, "--a2a-url", f"http://{peer}")
    assert code == 2
    one_line_error(
        err, f"cannot reach the A2A endpoint at http://{peer} (--a2a-url)", "not an HTTP/1.1 server"
    )


def test_conformance_control_with_a2a_is_refused_before_anything_starts(
    alice: Identity, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """`serve --a2a --conformance-control` (README's a2a.* cases and its initiator cases, together)
    logged `WARNING ConformanceControlService is on`, opened the journal, then refused the pair. Expect
    the refusal first: exit 2 in one line, nothing logged, no journal made."""
    code, _, err = run_cli(capsys, "serve", *alice.files(), "--port", "1", "--a2a", "--conformance-control")
    assert code == 2
    one_line_error(err, "--conformance-control is not available with --a2a")
    assert not [r for r in caplog.records if "ConformanceControlService" in r.getMessage()]
    assert not alice.journal_path.exists()


def test_mandate_out_is_not_the_journal_it_creates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mandate --principal p.key --out p.db` with no p.db yet passed the check (nothing there), created
    the journal, signed seq 0 into it and then wrote the mandate over it: the next mandate signed seq 0
    again, a fork of the principal's key. Expect it refused before any journal is made."""
    principal = tmp_path / "p.key"
    assert run_cli(capsys, "keygen", "--out", principal)[0] == 0
    agent = Party("agent", FixedClock()).did
    code, _, err = run_cli(
        capsys, "mandate", "--principal", principal, "--agent", agent, "--out", tmp_path / "p.db"
    )
    assert code == 2
    one_line_error(err, "is the principal's journal; write the mandate elsewhere")
    assert not (tmp_path / "p.db").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_no_out_writes_over_a_journals_side_files(tmp_path: Path, suffix: str) -> None:
    """`export --out alice.db-wal` passed the check (the log starts with no SQLite header) and would
    replace the commits not yet checkpointed into the journal: the last statements its peer signed,
    which it would then sign again at used seqs (a fork). Expect it refused while the journal is open,
    with the journal named, and the journal's statements all there after."""
    path = tmp_path / "alice.db"
    with Journal.open(path) as journal:
        key = Party("alice", FixedClock()).agent
        for root in (b"", bytes(32), bytes(32)):  # BDY-012: a log root after seq 0
            journal.record_outgoing(key.sign("checkpoint", identity_pb2.Checkpoint(log_root=root)), at_ms=0)
        side = path.with_name(path.name + suffix)
        assert side.exists()
        with pytest.raises(UsageError, match=f"belongs to the journal {path}; refusing"):
            check_output(side)
        check_output(tmp_path / "other.db-wal")  # no journal beside it: written as asked
    with Journal.open(path) as journal:
        assert len(list(journal.statements())) == 3


def test_a_replay_command_keeps_the_options_that_change_how_a_case_runs() -> None:
    """A `--test-clock` run printed replay commands without `--test-clock`: replayed, the case waited
    out the 30 s clock tolerance on the wall clock instead of moving the clocks (and `--timeout` was
    dropped as well). Expect both carried over, and neither added to a run that did not give them."""
    target = "127.0.0.1:7004"
    given = [
        "conformance",
        "--target",
        target,
        "--escrow",
        "127.0.0.1:7003",
        "--test-clock",
        "--timeout",
        "20",
    ]
    assert _replay_base(build_parser().parse_args(given), target) == ["a2a-coop", *given]
    plain = build_parser().parse_args(["conformance", "--target", target])
    assert _replay_base(plain, target) == ["a2a-coop", "conformance", "--target", target]
