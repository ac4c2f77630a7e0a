"""Network mode: reference agents as real gRPC peers, each in its own process, trading round robin.

Every agent type answers as its own process -- ``a2a-coop agent run --strategy NAME`` on loopback,
with its own key, mandate and SQLite journal -- and one escrow runs as its own process too
(``a2a-coop escrow serve``, funding every party). A served peer only answers offers: opening one
needs its journal, which its server holds. So each type also has an *initiating* identity in the
driving process: a :class:`~a2a_coop.runtime.peer.Peer` with that type's strategy (the same agent,
offering), which offers every served peer of another type an even, bonded trade over gRPC and carries
it through the escrow over gRPC. After the deadlines pass, every item a served peer withheld is
claimed by its initiating counterparty; the escrow rules on its own clock and the rulings are relayed.

The cartel and the Sybil ring are groups: their served peer and their initiating identity are the
group's two members. What the unsafe agents (equivocator, over-committer) do beyond their guarded
strategy needs :mod:`reference_agents.unsafe` and is not served (see ``a2a-coop agent list``).
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import a2a_coop
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS, Negotiation, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file
from a2a_coop.runtime.node import sign_mandate, write_envelope_file
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.strategy import opening
from a2a_coop.runtime.testclock import TestClock, advance_clock
from a2a_coop.runtime.trade import (
    claim_breach,
    fetch_ledger,
    proposal,
    relay_escrow_answers,
    run_trade,
    settle_with_escrow,
)
from a2a_coop.transport import CooperationClient, EscrowClient
from reference_agents import AGENTS, build

GROUPS = {"cartel": "members", "sybil-ring": "ring"}
FUNDS = 10**9
VALUE = 500
BOND = 100
DEADLINE_MS = 3_000
RESPONSE_WINDOW_MS = 500
TICK_MS = 100
START_TIMEOUT_S = 120.0
DECISION_TIMEOUT_S = 60.0
CAPS = {
    "max_per_deal": 10_000,
    "min_per_deal": 0,
    "budget_per_period": 10**9,
    "period_ms": 86_400_000,
    "max_outstanding": 10**9,
}
_LISTENING = re.compile(r"listening on (\S+) as (did:key:\S+)")


class NetworkError(Exception):
    """A process did not start, or the escrow did not rule in time."""


@dataclass
class Identity:
    """An agent's key and mandate on disk, and where its journal goes."""

    key: Keypair
    mandate: bytes
    files: list[str]  # --key K --mandate M --journal J
    mandate_path: Path

    @property
    def did(self) -> str:
        return self.key.did


def provision(directory: Path, name: str) -> Identity:
    """A key, its principal's key and journal, and the principal's Mandate for the key, on disk."""
    key, principal = generate_keypair(), generate_keypair()
    write_key_file(directory / f"{name}.key", key)
    write_key_file(directory / f"{name}-principal.key", principal)
    with Journal.open(directory / f"{name}-principal.db") as journal:
        vs = sign_mandate(principal, journal, key.did, now_ms=wall_clock_ms(), **CAPS)
    mandate_path = directory / f"{name}.mandate.json"
    write_envelope_file(mandate_path, vs.envelope)
    files = ["--key", str(directory / f"{name}.key"), "--mandate", str(mandate_path)]
    return Identity(key, vs.envelope, [*files, "--journal", str(directory / f"{name}.db")], mandate_path)


@dataclass
class Served:
    """A serving ``a2a-coop`` process and what its ``listening on`` line said."""

    name: str
    popen: subprocess.Popen[str]
    log_path: Path
    target: str = ""
    did: str = ""


def start(name: str, argv: Sequence[str], log_path: Path) -> Served:
    """``a2a-coop ARGV`` as a process (this interpreter, this a2a_coop), stderr to ``log_path``."""
    root = str(Path(a2a_coop.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}
    with log_path.open("w") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "a2a_coop.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    return Served(name, popen, log_path)


def wait_listening(served: Served, timeout_s: float) -> None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(served.popen.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        line = ""
    m = _LISTENING.match(line)
    if m is None:
        tail = "\n".join(served.log_path.read_text(errors="replace").splitlines()[-10:])
        raise NetworkError(f"{served.name} did not start within {timeout_s:.0f} s:\n{tail}")
    served.target, served.did = m[1], m[2]


def stop(popen: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
    if popen.stdout is not None:
        popen.stdout.close()


@dataclass
class RoundRobin:
    """What happened: each ordered pair's final state (None: the initiator offered nothing)."""

    outcomes: dict[tuple[str, str], State | None] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)  # type -> the served process's did:key
    pids: dict[str, int] = field(default_factory=dict)  # type -> its process id


def _params(kind: str, ids: dict[str, tuple[Identity, Identity]]) -> dict[str, Any]:
    if kind not in GROUPS:
        return {}
    served, initiating = ids[kind]
    return {GROUPS[kind]: frozenset({served.did, initiating.did})}


def round_robin(
    directory: Path,
    types: Sequence[str] = tuple(AGENTS),
    *,
    pairs: Iterable[tuple[str, str]] | None = None,
    test_clock: bool = False,
) -> RoundRobin:
    """Serve every type in ``types`` as its own process and trade every ordered pair (or ``pairs``).
    ``test_clock``: every process serves on a test clock (``--test-clock``, CTL-003), and once the
    withheld items are claimed every clock of the run -- the escrow's, each served agent's and the
    initiators' -- moves past the clock tolerance together, rather than the rulings being waited for
    on the wall clock (about 30 s).

    Raises:
        NetworkError: a process did not start, or the escrow did not rule in time.
        CoopError, TransportError: a trade failed on the wire.
    """
    unknown = [t for t in types if t not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agent types: {', '.join(unknown)}")
    directory.mkdir(parents=True, exist_ok=True)
    escrow_id = provision(directory, "escrow")
    ids = {t: (provision(directory, t), provision(directory, f"{t}-initiating")) for t in types}
    result = RoundRobin()
    servers: list[Served] = []
    clients: dict[str, CooperationClient] = {}
    try:
        funding = [f"--fund={i.did}={FUNDS}" for pair in ids.values() for i in pair]
        on_clock = ["--test-clock"] if test_clock else []
        escrow_argv = ["escrow", "serve", *escrow_id.files, *funding, "--tick-ms", str(TICK_MS), *on_clock]
        servers.append(start("escrow", escrow_argv, directory / "escrow.log"))
        for t in types:
            params = [f"--param={k}={','.join(sorted(v))}" for k, v in _params(t, ids).items()]
            argv = ["agent", "run", "--strategy", t, *params, *ids[t][0].files]
            argv += ["--context", str(escrow_id.mandate_path), *on_clock]
            servers.append(start(t, argv, directory / f"{t}.log"))
        for s in servers:  # many processes start at once: give each its time on a loaded machine
            wait_listening(s, START_TIMEOUT_S)
        escrow_server, served = servers[0], servers[1:]
        for t, s in zip(types, served, strict=True):
            clients[t] = CooperationClient(s.target)
            result.served[t], result.pids[t] = s.did, s.popen.pid
        clock = TestClock()  # the initiators' (the wall clock unless moved: test_clock)

        def advance(by_ms: int) -> None:
            for s in servers:
                advance_clock(s.target, by_ms)
            clock.advance(by_ms)

        with EscrowClient(escrow_server.target) as escrow:
            initiators = {
                t: Peer(
                    ids[t][1].key,
                    ids[t][1].mandate,
                    strategy=build(t, **_params(t, ids)),
                    context=[escrow_id.mandate],
                    clock=clock,
                )
                for t in types
            }
            todo = list(pairs) if pairs is not None else list(itertools.permutations(types, 2))
            open_trades: list[tuple[str, str, Negotiation]] = []
            for a, b in todo:
                neg = _offer(initiators[a], clients[b], result.served[b], escrow, escrow_id.did)
                result.outcomes[(a, b)] = None if neg is None else neg.state
                if neg is not None and neg.contract is not None and not neg.is_terminal:
                    open_trades.append((a, b, neg))
            _claim_withheld(
                open_trades,
                initiators=initiators,
                clients=clients,
                escrow=escrow,
                escrow_mandate=escrow_id.mandate,
                result=result,
                advance=advance if test_clock else None,
            )
    finally:
        for c in clients.values():
            c.close()
        for s in servers:
            stop(s.popen)
    return result


def _offer(
    peer: Peer, client: CooperationClient, counterparty: str, escrow: EscrowClient, escrow_did: str
) -> Negotiation | None:
    deadline = int(time.time() * 1000) + DEADLINE_MS
    default = proposal(
        peer,
        [("work", VALUE)],
        [("work", VALUE)],
        deadline_ms=deadline,
        bond=BOND,
        escrow=escrow_did,
        response_window_ms=RESPONSE_WINDOW_MS,
    )
    offer = opening(peer.strategy, counterparty, default)
    if offer is None:
        return None
    return run_trade(peer, client, counterparty, offer, escrow=escrow)


def _claim_withheld(
    open_trades: Sequence[tuple[str, str, Negotiation]],
    *,
    initiators: dict[str, Peer],
    clients: dict[str, CooperationClient],
    escrow: EscrowClient,
    escrow_mandate: bytes,
    result: RoundRobin,
    advance: Callable[[int], None] | None = None,
) -> None:
    """Claim every item a served peer withheld, once its deadline has passed; await the rulings
    (``advance``: move every clock of the run past the clock tolerance first, CTL-003)."""
    if not open_trades:
        return
    latest = max(n.contract.proposal.gives[0].deadline_ms for _, _, n in open_trades if n.contract)
    time.sleep(max(0.0, (latest - time.time() * 1000) / 1000 + 0.05))
    claimed = []
    for a, b, neg in open_trades:
        peer, c = initiators[a], neg.contract
        assert c is not None
        served_did = c.other(peer.did)
        missing = [k for k in range(len(c.gives(served_did))) if (served_did, k) not in c.delivered]
        if missing:
            claim = claim_breach(peer, neg, missing[0], "never delivered")
            peer.on_replies(clients[b].exchange(claim.envelope, peer.send_context()))
            settle_with_escrow(peer, clients[b], escrow, neg)
            claimed.append((a, b, neg))
    if claimed and advance is not None:
        advance(CLOCK_TOLERANCE_MS)  # the rulings fall due at the deadline + the tolerance (CMT-002)
    give_up = time.monotonic() + DECISION_TIMEOUT_S
    while any(neg.state is not State.BREACHED for _, _, neg in claimed):
        if time.monotonic() > give_up:
            raise NetworkError(
                f"the escrow did not rule on {len(claimed)} claims in {DECISION_TIMEOUT_S:.0f} s"
            )
        time.sleep(TICK_MS / 1000)
        ledger = fetch_ledger(escrow)[1:]
        for a, b, neg in claimed:
            peer = initiators[a]
            new = [
                env
                for env in ledger
                if (vs := verify_statement(env)).header.negotiation_id == neg.id
                and vs.digest not in peer.verifier.statements
            ]
            if new:
                relay_escrow_answers(peer, clients[b], [escrow_mandate, *new])
    for a, b, neg in open_trades:
        result.outcomes[(a, b)] = initiators[a].negotiation(neg.id).state
