"""``a2a-coop demo``: an escrow and two peers as separate processes on loopback.

The demo provisions keys and mandates in a fresh directory, starts ``a2a-coop
escrow serve`` (funding both peers) and ``a2a-coop serve`` for bob (a
strategy that withholds on exactly one contract of the batch) as
subprocesses, and acts as alice itself, an initiating peer with its own
journal: a batch of bonded trades with deadlines seconds away. Once the
withheld trade's deadline passes, alice files a BreachClaim, the escrow
forfeits bob's bond to her once the item's deadline plus the 30 s clock
tolerance has passed (a delivery stamped within it would still be on time),
and alice relays the escrow's decision to bob. Then it exports the evidence of every
trade, verifies it offline, audits the escrow's ledger, prints a summary, and
stops the processes whatever happened.

``demo --offline`` tells the same story with the same code (:func:`_play`):
the escrow and bob are the same nodes, in this process instead of behind gRPC,
on a fixed clock that waiting advances; it writes the same files.

:func:`start_server`, :func:`wait_listening`, :func:`stop_process` and
:func:`provision` are reused by the multi-process tests.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO, cast

import a2a_coop
from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError
from a2a_coop.cli._runtime import claim_chain, write_transcript
from a2a_coop.cli.escrow import escrow_transcript
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS, Negotiation, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file
from a2a_coop.runtime.node import EscrowNode, PeerNode, remember_run, sign_mandate
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import (
    claim_breach,
    fetch_ledger,
    negotiation_evidence,
    proposal,
    relay_escrow_answers,
    run_trade,
    settle_with_escrow,
)
from a2a_coop.testing import FixedClock
from a2a_coop.transport import CooperationClient, EscrowClient, TransportError
from a2a_coop.transport.limits import MAX_PAGE_ENTRIES

MARKER: Final = ".a2a-coop-demo"
FUNDS: Final = 1_000
BOND: Final = 100
DEADLINE_MS: Final = 2_000  # short, so the breached trade's deadline passes within the demo
RESPONSE_WINDOW_MS: Final = 500  # short: the escrow rules at the deadline + the clock tolerance (CMT-002)
TICK_MS: Final = 100
START_TIMEOUT_S: Final = 30.0
DECISION_TIMEOUT_S: Final = 15.0
PROGRESS_EVERY_S: Final = 10.0  # a line while the demo waits for the ruling, so it does not look hung
DEFAULT_CAPS: Final[dict[str, Any]] = {
    "max_per_deal": 1_000,
    "budget_per_period": 100_000,
    "period_ms": 86_400_000,
    "max_outstanding": 20_000,
}
_LISTENING = re.compile(r"listening on (\S+) as (did:key:\S+)")


class DemoFailed(Exception):
    """A process did not start, or the trades did not come out as the demo expects."""


# --- processes -----------------------------------------------------------------------------


def cli_command(*argv: str) -> list[str]:
    """``a2a-coop ARGV...`` as a subprocess command line, with this interpreter."""
    return [sys.executable, "-m", "a2a_coop.cli", *argv]


def child_env() -> dict[str, str]:
    """The environment for a child: this a2a_coop importable even from a source checkout."""
    root = str(Path(a2a_coop.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


@dataclass
class ServerProcess:
    """A serving ``a2a-coop`` subprocess and what its ``listening on`` line said."""

    name: str
    popen: subprocess.Popen[str]
    log_path: Path
    target: str = ""
    did: str = ""

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start_server(name: str, argv: Sequence[str], log_path: Path) -> ServerProcess:
    """Start ``a2a-coop ARGV`` with stdout piped (for its first line) and stderr to ``log_path``."""
    with log_path.open("w") as log:
        popen = subprocess.Popen(
            cli_command(*argv),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(),
        )
    return ServerProcess(name, popen, log_path)


def _read_line(stream: Any, timeout_s: float) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        return None


def wait_listening(server: ServerProcess, timeout_s: float = START_TIMEOUT_S) -> ServerProcess:
    """Read the server's ``listening on HOST:PORT as DID`` line; raise DemoFailed if it never comes."""
    line = _read_line(server.popen.stdout, timeout_s)
    m = _LISTENING.match(line or "")
    if m is None:
        if line is None:
            why = f"no 'listening on' line within {timeout_s:.0f} s"
        else:
            why = f"exit code {server.popen.wait(5)}" if not line else f"printed {line.strip()!r}"
        tail = server.log_tail()
        raise DemoFailed(f"{server.name} did not start ({why})" + (f":\n{tail}" if tail else ""))
    server.target, server.did = m[1], m[2]
    return server


def stop_process(popen: subprocess.Popen[str], timeout_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited after ``timeout_s``; returns the exit code."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout_s)
    if popen.stdout is not None:
        popen.stdout.close()
    return popen.returncode


# --- identities ----------------------------------------------------------------------------


@dataclass
class Identity:
    """An agent's key and mandate on disk (its principal's key and journal beside them)."""

    name: str
    key: Keypair
    key_path: Path
    mandate: bytes
    mandate_path: Path
    journal_path: Path

    @property
    def did(self) -> str:
        return self.key.did

    def files(self) -> list[str]:
        """``--key K --mandate M --journal J`` for a2a-coop serve, offer and friends."""
        return [
            "--key",
            str(self.key_path),
            "--mandate",
            str(self.mandate_path),
            "--journal",
            str(self.journal_path),
        ]


def provision(
    directory: Path, name: str, *, now_ms: int | None = None, chain_homes: bool = False, **caps: Any
) -> Identity:
    """Create ``name``'s key, its principal's key and journal, and the mandate between them. With
    ``chain_homes``, each key's ``KEY.chain`` names its journal (``NAME.db``, ``NAME-principal.db``),
    as the commands that sign write it: the demo signs with them in process, and a later command
    on the same key file must not start its chain again in another journal."""
    from a2a_coop.runtime.node import write_envelope_file

    key, principal = generate_keypair(), generate_keypair()
    key_path = directory / f"{name}.key"
    write_key_file(key_path, key)
    principal_path = directory / f"{name}-principal.key"
    write_key_file(principal_path, principal)
    if chain_homes:
        claim_chain(key_path, key, directory / f"{name}.db")
        claim_chain(principal_path, principal, directory / f"{name}-principal.db")
    with Journal.open(directory / f"{name}-principal.db") as journal:
        now = wall_clock_ms() if now_ms is None else now_ms
        vs = sign_mandate(principal, journal, key.did, now_ms=now, **{**DEFAULT_CAPS, **caps})
    mandate_path = directory / f"{name}.mandate.json"
    write_envelope_file(mandate_path, vs.envelope)
    return Identity(name, key, key_path, vs.envelope, mandate_path, directory / f"{name}.db")


# --- the demo ------------------------------------------------------------------------------


@dataclass
class Trade:
    number: int
    neg: Negotiation
    deadline_ms: int
    seconds: float
    evidence: Path | None = None
    envelopes: list[bytes] = field(default_factory=list)
    valid: bool = False


@dataclass
class _Run:
    """One demo run: where it writes, who takes part, what happened."""

    out: TextIO
    directory: Path
    alice: Identity
    bob: Identity
    escrow: Identity
    clock: Callable[[], int] = wall_clock_ms
    sleep: Callable[[float], None] = time.sleep  # offline: advances the fixed clock instead
    waits: str = ""  # offline: says that a wait is on the fixed clock, over at once
    trades: list[Trade] = field(default_factory=list)
    balances: dict[str, tuple[int, int, str, int]] = field(default_factory=dict)
    ledger: list[bytes] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


@dataclass
class _Alice:
    """Alice's side while the servers run: her peer and her connections."""

    peer: Peer
    client: CooperationClient
    escrow: EscrowClient
    escrow_mandate: bytes


def prepare_directory(directory: Path) -> None:
    """Recreate ``directory`` for a run; refuse to delete anything that is not an earlier demo's."""
    try:
        if directory.exists():
            if not directory.is_dir():
                raise UsageError(f"{directory} exists and is not a directory")
            if (directory / MARKER).exists():
                shutil.rmtree(directory)
            elif any(directory.iterdir()):
                raise UsageError(
                    f"{directory} is not empty and not an a2a-coop demo directory; choose another --out"
                )
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text("created by a2a-coop demo; deleted and recreated on each run\n")
    except OSError as exc:
        raise UsageError(f"cannot prepare {directory}: {exc.strerror or exc}") from None


def _withheld(trades: int) -> int:
    """The trade bob withholds on: the only multiple of it among 1..trades is itself."""
    return trades // 2 + 1


def _intro(run: _Run, trades: int, where: str) -> None:
    noun = "bonded trade" if trades == 1 else "bonded trades"
    run.say(f"a2a-coop demo: {trades} {noun} between alice and bob through an escrow, {where}")


def _play(run: _Run, client: CooperationClient, escrow: EscrowClient, trades: int) -> bool:
    """Alice's side of the story, the same online and offline: trade, claim, fetch the ledger."""
    with Journal.open(run.alice.journal_path) as journal:
        escrow_mandate = escrow.submit([])[0]  # an escrow answers every Submit with its mandate
        peer = Peer(
            run.alice.key,
            run.alice.mandate,
            journal=journal,
            context=[escrow_mandate],
            clock=run.clock,
        )
        remember_run(journal, run.alice.mandate, [escrow_mandate])
        ok = _trade(run, _Alice(peer, client, escrow, escrow_mandate), trades)
        run.balances = {p.name: escrow.get_balance(p.did) for p in (run.alice, run.bob)}
        run.ledger = fetch_ledger(escrow)
    return ok


def run_process_demo(directory: Path, *, trades: int, out: TextIO) -> int:
    """The ``a2a-coop demo`` command; returns its exit code."""
    started = time.perf_counter()
    prepare_directory(directory)
    alice, bob, escrow = (provision(directory, n, chain_homes=True) for n in ("alice", "bob", "escrow"))
    run = _Run(out, directory, alice, bob, escrow)
    every = _withheld(trades)
    _intro(run, trades, "each party its own process on loopback")
    escrow_argv = ["escrow", "serve", *escrow.files(), "--fund", f"{alice.did}={FUNDS}"]
    escrow_argv += ["--fund", f"{bob.did}={FUNDS}"]
    escrow_argv += ["--tick-ms", str(TICK_MS)]
    # Bob trades only under escrows he was given (their mandates); the escrow's is on disk already.
    bob_argv = ["serve", *bob.files(), "--strategy", f"withhold-every-Nth:{every}"]
    bob_argv += ["--context", str(escrow.mandate_path)]
    servers: list[ServerProcess] = []
    try:
        servers.append(start_server("escrow", escrow_argv, directory / "escrow.log"))
        servers.append(start_server("bob", bob_argv, directory / "bob.log"))
        escrow_server, bob_server = (wait_listening(s) for s in servers)
        run.say(f"  escrow  {escrow_server.target:<21} pid {escrow_server.popen.pid:<7} {escrow.did}")
        run.say(f"  bob     {bob_server.target:<21} pid {bob_server.popen.pid:<7} {bob.did}")
        run.say(f"  alice   {'(this process)':<33} {alice.did}")
        run.say(f"  each side bonds {BOND} credits per trade; bob will not deliver in trade {every}")
        with (
            CooperationClient(bob_server.target) as client,
            EscrowClient(escrow_server.target) as escrow_client,
        ):
            ok = _play(run, client, escrow_client, trades)
    except (DemoFailed, CoopError, TransportError) as exc:
        print(f"a2a-coop: demo failed: {exc}", file=sys.stderr)
        for s in servers:
            if s.popen.poll() is not None:
                print(f"  {s.name} exited ({s.popen.returncode}); log {s.log_path}:", file=sys.stderr)
                print(s.log_tail(), file=sys.stderr)
        return EXIT_INVALID
    finally:
        for s in servers:
            stop_process(s.popen)
    ok = _summary(run) and ok
    run.say(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK if ok else EXIT_INVALID


class _InProcessEscrow:
    """An EscrowNode with the surface of EscrowClient (a GetLedger limit of 0: the server's page)."""

    def __init__(self, node: EscrowNode) -> None:
        self.node = node

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        return self.node.submit(envelopes)

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.node.get_ledger(from_seq, limit or MAX_PAGE_ENTRIES)

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return self.node.get_balance(party)


def run_offline_demo(directory: Path, *, trades: int, out: TextIO) -> int:
    """``a2a-coop demo --offline``: the same nodes and story in this process, on a fixed clock."""
    started = time.perf_counter()
    prepare_directory(directory)
    fixed = FixedClock()
    alice, bob, escrow = (
        provision(directory, n, now_ms=fixed.now_ms, chain_homes=True) for n in ("alice", "bob", "escrow")
    )

    def clock() -> int:
        return fixed.now_ms

    every = _withheld(trades)
    with ExitStack() as stack:  # the nodes close (as the servers stop) before the summary reads them
        escrow_node = EscrowNode(escrow.key, escrow.mandate, escrow.journal_path, clock=clock)
        stack.callback(escrow_node.close)
        remember_run(escrow_node.journal, escrow.mandate, [])  # as `escrow serve` does: export reads it
        strategy = WithholdingStrategy(every=every)
        context = [escrow.mandate]
        bob_node = PeerNode.open(
            bob.key, bob.mandate, bob.journal_path, strategy=strategy, context=context, clock=clock
        )
        stack.callback(bob_node.close)

        def sleep(seconds: float) -> None:  # time passes only when someone waits; the escrow's rules follow
            fixed.advance(max(1, round(seconds * 1000)))
            escrow_node.tick()

        run = _Run(
            out,
            directory,
            alice,
            bob,
            escrow,
            clock=clock,
            sleep=sleep,
            waits=" (on the demo's clock: no real wait)",
        )
        _intro(run, trades, "all in this process on a fixed clock (no network)")
        run.say(f"  escrow  {escrow.did}\n  bob     {bob.did}\n  alice   {alice.did}")
        run.say(f"  each side bonds {BOND} credits per trade; bob will not deliver in trade {every}")
        try:
            for who in (alice, bob):
                escrow_node.deposit(who.did, FUNDS)
            # In process, bob's node answers as a CooperationClient would (Exchange is the same call).
            bob_client, escrow_client = cast(CooperationClient, bob_node), _InProcessEscrow(escrow_node)
            ok = _play(run, bob_client, cast(EscrowClient, escrow_client), trades)
        except (DemoFailed, CoopError) as exc:
            print(f"a2a-coop: demo failed: {exc}", file=sys.stderr)
            return EXIT_INVALID
    ok = _summary(run) and ok
    run.say(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK if ok else EXIT_INVALID


def _trade(run: _Run, alice: _Alice, count: int) -> bool:
    escrow_did = verify_statement(alice.escrow_mandate).statement.mandate.agent
    for i in range(1, count + 1):
        deadline = run.clock() + DEADLINE_MS
        offer = proposal(
            alice.peer,
            [("code-review", 500)],
            [("copy-editing", 450)],
            deadline_ms=deadline,
            bond=BOND,
            escrow=escrow_did,
            response_window_ms=RESPONSE_WINDOW_MS,  # short, so the demo sees the ruling
        )
        t0 = time.perf_counter()
        neg = run_trade(alice.peer, alice.client, run.bob.did, offer, escrow=alice.escrow)
        trade = Trade(i, neg, deadline, time.perf_counter() - t0)
        run.trades.append(trade)
        if neg.state is State.FULFILLED:
            note = "bonds locked, both delivered, bonds released"
        else:
            note = "bonds locked, alice delivered, bob did not"
        run.say(
            f"trade {i}/{count}  {neg.id.hex()[:12]}  {neg.state.value:<10} {note} ({trade.seconds:.2f} s)"
        )
    for trade in run.trades:
        if trade.neg.state is State.PERFORMING:
            _claim(run, alice, trade)
    for trade in run.trades:
        trade.envelopes = envelopes = negotiation_evidence(alice.peer, trade.neg.id)
        trade.evidence = run.directory / "evidence" / f"trade-{trade.number}.json"
        trade.evidence.parent.mkdir(exist_ok=True)
        write_transcript(
            trade.evidence, envelopes, negotiation=trade.neg.id.hex(), state=trade.neg.state.value
        )
        trade.valid = verify_transcript(envelopes).valid
    states = [t.neg.state for t in run.trades]
    return states.count(State.BREACHED) == 1 and states.count(State.FULFILLED) == count - 1


def _claim(run: _Run, alice: _Alice, trade: Trade) -> None:
    neg = trade.neg
    wait_s = (trade.deadline_ms - run.clock()) / 1000 + 0.05
    if wait_s > 0:
        run.say(f"waiting {wait_s:.1f} s for trade {trade.number}'s deadline to pass{run.waits} ...")
        run.sleep(wait_s)
    claim = claim_breach(alice.peer, neg, 0, "copy-editing never arrived")
    # Bob holds the claim without effect until the escrow's stamp, relayed next, arrives (WIT-005).
    alice.peer.on_replies(alice.client.exchange(claim.envelope, alice.peer.send_context()))
    settle_with_escrow(alice.peer, alice.client, alice.escrow, neg)
    rules_at = trade.deadline_ms + CLOCK_TOLERANCE_MS + TICK_MS
    run.say(
        f"trade {trade.number}: alice claims a breach (bob's copy-editing is past its deadline); the escrow "
        f"stamps the claim and upholds it unless a timely delivery reaches it: one issued by the deadline "
        f"and stamped within the {CLOCK_TOLERANCE_MS // 1000} s clock tolerance after it still counts, so "
        f"it rules no earlier than that (SPEC CMT-002) ..."
    )
    if (wait_s := (rules_at - run.clock()) / 1000) > 0:
        run.say(f"waiting {wait_s:.0f} s for the escrow's ruling{run.waits} ...")
        while (left_s := (rules_at - run.clock()) / 1000) > 0:
            run.sleep(min(PROGRESS_EVERY_S, left_s))
            if (left_s := (rules_at - run.clock()) / 1000) > 0:
                run.say(f"  ... {left_s:.0f} s")
    await_escrow(
        alice.peer,
        alice.client,
        alice.escrow,
        alice.escrow_mandate,
        neg,
        until=State.BREACHED,
        sleep=run.sleep,
    )
    run.say(f"trade {trade.number}  {neg.id.hex()[:12]}  {neg.state.value:<10} bob's bond forfeited to alice")


def await_escrow(
    peer: Peer,
    client: CooperationClient,
    escrow: EscrowClient,
    escrow_mandate: bytes,
    neg: Negotiation,
    *,
    until: State,
    timeout_s: float = DECISION_TIMEOUT_S,
    poll_s: float = TICK_MS / 1000,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll the escrow's ledger until ``neg`` is in state ``until`` with every locked bond settled.

    Statements the escrow signed on its own clock (a Forfeit once a claim's response window
    ends) reach nobody by themselves: each new one about ``neg`` is taken by ``peer`` and
    relayed to the counterparty. Raises DemoFailed after ``timeout_s``.
    """
    give_up = time.monotonic() + timeout_s
    while not (neg.state is until and _bonds_settled(neg)):
        if time.monotonic() > give_up:
            raise DemoFailed(
                f"negotiation {neg.id.hex()[:12]} is {neg.state.value}, not {until.value} with its bonds "
                f"settled, after {timeout_s:.0f} s"
            )
        sleep(poll_s)
        held = peer.verifier.statements
        new = [
            e
            for e in fetch_ledger(escrow)[1:]
            if (vs := verify_statement(e)).header.negotiation_id == neg.id and vs.digest not in held
        ]
        if new:
            relay_escrow_answers(peer, client, [escrow_mandate, *new])


def _bonds_settled(neg: Negotiation) -> bool:
    c = neg.contract
    return c is not None and set(c.locked) <= c.settled


def _summary(run: _Run) -> bool:
    d = run.directory
    ledger_path = d / "escrow-ledger.json"
    write_transcript(ledger_path, run.ledger)
    escrow_path = d / "escrow-transcript.json"
    with Journal.open(run.escrow.journal_path) as journal:  # the escrow process has stopped
        escrow_envelopes = escrow_transcript(journal)
    write_transcript(escrow_path, escrow_envelopes)
    audit = audit_ledger(escrow_envelopes)  # every decision re-checked against its evidence
    audit_ok = audit.ok
    everything = list(dict.fromkeys(e for t in run.trades for e in t.envelopes))
    transcript = d / "transcript.json"
    write_transcript(transcript, everything)
    all_valid = verify_transcript(everything).valid and all(t.valid for t in run.trades)
    run.say("")
    run.say("summary")
    for t in run.trades:
        bonds = {
            State.FULFILLED: "both bonds released",
            State.BREACHED: "BREACH: bob never delivered; his bond forfeited to alice, hers released",
        }.get(t.neg.state, "bonds still open")
        run.say(f"  trade {t.number}  {t.neg.id.hex()[:12]}  {t.neg.state.value:<10} {bonds}")
    for name, (available, locked, currency, _) in run.balances.items():
        run.say(
            f"  {name:<6} at the escrow: {available} {currency} available, {locked} locked (funded {FUNDS})"
        )
    run.say(f"  evidence, verified offline: {'all valid' if all_valid else 'INVALID'}")
    for t in run.trades:
        run.say(f"    {t.evidence}  ({t.neg.state.value})")
    run.say(f"    {transcript}  (every trade, one transcript)")
    run.say(f"    {ledger_path}  (the escrow's ledger, as GetLedger serves it)")
    verdict = "no findings, every decision re-checked" if audit_ok else "FINDINGS"
    run.say(f"    {escrow_path}  (the escrow's ledger with the evidence it acted on; audit: {verdict})")
    run.say(f"  journals: {run.alice.journal_path}, {run.bob.journal_path}, {run.escrow.journal_path}")
    logs = [str(p) for p in (d / "bob.log", d / "escrow.log") if p.exists()]
    if logs:
        run.say(f"  logs: {', '.join(logs)}")
    breached = next((t for t in run.trades if t.neg.state is State.BREACHED), None)
    example = breached.evidence if breached is not None else transcript
    run.say(f"  re-verify: a2a-coop verify {example}")
    run.say(f"             a2a-coop escrow audit {escrow_path}")
    run.say(f"             a2a-coop status --journal {run.bob.journal_path} --key {run.bob.key_path}")
    return all_valid and audit_ok


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    demo = run_offline_demo if args.offline else run_process_demo
    try:
        return demo(args.out, trades=args.trades, out=out)
    except KeyboardInterrupt:  # the servers were stopped on the way out
        print("a2a-coop: demo interrupted", file=sys.stderr)
        return 130
