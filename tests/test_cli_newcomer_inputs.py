"""Bad inputs a new user makes, found by following README.md from a fresh clone (newcomer23), and
what each must answer: one line on stderr with the SPEC's code where one applies, a non-zero exit,
no traceback, nothing committed lost.

- A mandate that ended (or starts days from now): `serve`, `agent run` and `escrow serve` listened as
  if all was well, and then refused every statement of their own (MND-003).
- A peer that goes away right after a trade ended: `offer` said the trade "stopped in FULFILLED" and
  to carry it on with `resume` (exit 3), which then answered "nothing to resume".

Commands run as processes of their own (``cli_process``); servers, where needed, in process on
loopback ports the OS picks.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cli_run import cli_process, one_line_error

from a2a_coop.cli._runtime import refuse_mandate_out_of_time
from a2a_coop.cli.demo import Identity, child_env, cli_command, provision
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.transport import serve

DAY_MS = 86_400_000
SERVERS = [["serve"], ["agent", "run", "--strategy", "honest"], ["escrow", "serve"]]


@pytest.mark.parametrize("command", SERVERS, ids=lambda c: " ".join(c[:2]))
def test_a_server_under_a_mandate_that_ended_is_refused_at_start(tmp_path: Path, command: list[str]) -> None:
    """Signed 40 days ago for 30 days. Expect exit 1, MANDATE_VIOLATION [MND-003] with when it ended,
    and no journal created (it listened before, for ever: the timeout fails this test then)."""
    old = provision(tmp_path, "old", now_ms=wall_clock_ms() - 40 * DAY_MS)
    done = cli_process(*command, *old.files(), "--port", "0", timeout_s=30)
    assert done.returncode == 1, done.stderr
    one_line_error(done.stderr, "MANDATE_VIOLATION [MND-003]", f"the mandate in {old.mandate_path} ended at")
    assert not old.journal_path.exists()


def test_a_server_under_a_mandate_valid_only_days_from_now_is_refused_at_start(tmp_path: Path) -> None:
    later = provision(tmp_path, "later", now_ms=wall_clock_ms() + 2 * DAY_MS)
    done = cli_process("serve", *later.files(), "--port", "0", timeout_s=30)
    assert done.returncode == 1, done.stderr
    one_line_error(
        done.stderr, "MANDATE_VIOLATION [MND-003]", "is valid from", "is this machine's clock right?"
    )


def test_a_mandate_is_refused_only_when_nothing_could_be_signed_under_it(tmp_path: Path) -> None:
    """The edges: valid until its valid_until_ms (exclusive, MND-003); one signed on a clock up to the
    default skew (30 s) ahead is still taken."""
    now = wall_clock_ms()
    who = provision(tmp_path, "edge", now_ms=now)
    m = verify_statement(who.mandate).statement.mandate
    refuse_mandate_out_of_time(who.mandate_path, who.mandate, m.valid_until_ms - 1)
    refuse_mandate_out_of_time(who.mandate_path, who.mandate, m.valid_from_ms - 30_000)
    with pytest.raises(MandateViolation, match="ended at"):
        refuse_mandate_out_of_time(who.mandate_path, who.mandate, m.valid_until_ms)
    with pytest.raises(MandateViolation, match="is valid from"):
        refuse_mandate_out_of_time(who.mandate_path, who.mandate, m.valid_from_ms - 30_001)


class _GoneAfterTheEnd(PeerNode):
    """bob, who fails every Exchange relaying an escrow's Release: the trade is over for alice (both
    bonds released), and only that courtesy fails -- as when bob's process dies at that moment."""

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        if any(verify_statement(env).body == "release" for env in [*context, envelope]):
            raise RuntimeError("bob went away")
        return super().exchange(envelope, context)


@pytest.fixture
def bob_gone_after_the_end(tmp_path: Path) -> Iterator[tuple[Identity, str, str]]:
    """alice's files, and the addresses of bob (as above) and of an escrow that funded both."""
    alice, bob, esc = (provision(tmp_path, n) for n in ("alice", "bob", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db")
    for who in (alice, bob):
        escrow.deposit(who.did, 1000)
    peer = _GoneAfterTheEnd.open(bob.key, bob.mandate, tmp_path / "bob.db", context=[esc.mandate])
    try:
        with serve(peer, None) as peer_server, serve(None, escrow) as escrow_server:
            yield alice, peer_server.target, escrow_server.target
    finally:
        peer.close()
        escrow.close()


@pytest.mark.parametrize(("count", "code"), [(1, 0), (2, 2)])
def test_a_trade_that_ended_before_the_other_side_failed_is_not_sent_to_resume(
    bob_gone_after_the_end: tuple[Identity, str, str], count: int, code: int
) -> None:
    """Expect the trade's line FULFILLED, one line saying it ended and what failed after it, and exit 0
    when it was the last offer, 2 (a network error) when the run stops with offers not sent; never
    "stopped in FULFILLED" with a `resume` that has nothing to carry on."""
    alice, peer, escrow = bob_gone_after_the_end
    items = ["--give", "code-review:50", "--want", "copy-editing:45", "--bond", "10"]
    done = cli_process(
        "offer", *alice.files(), "--to", peer, "--escrow", escrow, *items, "--count", str(count)
    )
    assert done.returncode == code, done.stderr
    assert done.stdout.split()[2] == "FULFILLED", done.stdout
    not_sent = ["the run stops here, 1 more offer(s) not sent"] if count == 2 else []
    line = one_line_error(done.stderr, "ended FULFILLED, and then the other side failed", *not_sent)
    assert "resume" not in line
    if count == 1:
        assert "more offer" not in line
    again = cli_process("resume", *alice.files(), "--to", peer, "--escrow", escrow)
    assert again.returncode == 0, again.stderr
    assert "nothing to resume" in again.stdout


def _as_a_user(argv: list[str]) -> list[str]:
    """``argv`` run without root's power to read and write anything (the tests may run as root, which
    no file mode stops): as it is for another user, under capsh without the DAC capabilities for root."""
    if os.geteuid() != 0:
        return argv
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root without capsh: no file mode can stop this process")
    return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(argv)]


def _run_as_a_user(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``a2a-coop ARGV`` run as the unprivileged user, its output captured."""
    return subprocess.run(
        _as_a_user(cli_command(*argv)),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["offer", "--to", "127.0.0.1:9", "--give", "a:1", "--want", "b:1"],
        ["serve", "--port", "0"],
        ["escrow", "fund", "{did}=5"],
        ["status"],
        ["mandate-journal"],
        ["export-out"],
    ],
    ids=lambda c: c[0],
)
def test_a_path_under_a_directory_this_user_may_not_enter_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """A journal, a principal's journal or an --out file under a directory with mode 000: Path.exists()
    raises PermissionError there instead of answering False, and each of these printed a traceback.
    Expect exit 2 and one line naming the path."""
    alice = provision(tmp_path, "alice")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    target = locked / "x.db"
    files = ["--key", str(alice.key_path), "--mandate", str(alice.mandate_path), "--journal", str(target)]
    if command == ["mandate-journal"]:
        argv = ["mandate", "--principal", str(tmp_path / "alice-principal.key"), "--agent", alice.did]
        argv += ["--out", str(tmp_path / "m.json"), "--journal", str(target)]
    elif command == ["export-out"]:
        target = locked / "e.json"
        argv = ["export", "--key", str(alice.key_path), "--journal", str(tmp_path / "alice-principal.db")]
        argv += ["--negotiation", "00", "--out", str(target)]
    else:
        argv = (
            [*command[:2], *files, *command[2:]]
            if command[0] == "escrow"
            else [command[0], *files, *command[1:]]
        )
        argv = [a.replace("{did}", alice.did) for a in argv]
    try:
        done = _run_as_a_user(argv)
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2, done.stderr
    one_line_error(done.stderr, str(target))
    assert "Permission denied" in done.stderr


def test_an_offline_report_dir_under_a_directory_this_user_may_not_enter_is_named(tmp_path: Path) -> None:
    """`conformance --vectors --report-dir` there said only "a2a-coop: Permission denied"."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    argv = ["conformance", "--vectors", "--adapter", "true", "--report-dir", str(locked / "r")]
    try:
        done = _run_as_a_user(argv)
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2, done.stderr
    one_line_error(done.stderr, f"cannot write reports to {locked / 'r'}: Permission denied")


@pytest.mark.parametrize("kind", ["text", "garbled", "foreign"])
def test_a_journal_that_is_not_one_is_named_once_and_left_as_it_was(tmp_path: Path, kind: str) -> None:
    """`serve --journal` on a text file, a journal garbled on disk, another program's SQLite database,
    where the key's chain lives elsewhere (its KEY.chain): said `journal X: X: ...`, the path twice.
    Expect exit 2, one line naming the path once, the file byte for byte as it was."""
    alice = provision(tmp_path, "alice", chain_homes=True)
    bad = tmp_path / f"{kind}.db"
    if kind == "text":
        bad.write_text("not a journal\n")
    else:
        with sqlite3.connect(bad) as db:
            db.execute("CREATE TABLE statements (x)" if kind == "foreign" else "CREATE TABLE t (x)")
            db.executemany(
                "INSERT INTO statements VALUES (?)" if kind == "foreign" else "INSERT INTO t VALUES (?)",
                [(i,) for i in range(500)],
            )
        if kind == "garbled":
            data = bytearray(bad.read_bytes())
            for i in range(100, len(data), 97):
                data[i] ^= 0x5A
            bad.write_bytes(bytes(data))
    before = bad.read_bytes()
    done = cli_process(
        "serve", "--key", alice.key_path, "--mandate", alice.mandate_path, "--journal", bad, "--port", "0"
    )
    assert done.returncode == 2, done.stderr
    line = one_line_error(done.stderr, str(bad))
    assert line.count(str(bad)) == 1, line
    assert bad.read_bytes() == before
