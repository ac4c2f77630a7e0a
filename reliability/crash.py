"""kill -9 the peer, the escrow and the client mid-trade: ``python -m reliability crash [--kills N]``.

Real processes on loopback: an escrow (``a2a-coop escrow serve``), bob (``a2a-coop serve --escrow``,
so his Deliveries go to the escrow too) and alice's client (``a2a-coop offer --count``, bonded
trades). At each of ``--kills`` seeded points a victim is chosen (peer, escrow or client) and sent
SIGKILL a seeded random time into a run of trades; a killed server is restarted on its journal and
port, a killed client is followed by ``a2a-coop resume`` on its journal. After the last kill, alice
resumes until every trade has finished (the deadlines are an hour away: every honest trade can), at
growing intervals, for at most :data:`SETTLE_DEADLINE_S`: a slow machine takes longer, it strands
nothing, so ``stuck_trades`` counts what the software failed to finish, not a busy machine.

Then the journals and the escrow's transcript are read and counted:

* ``lost`` -- a statement one party holds from another that the issuer's own journal lacks (it left
  the process before it was durable);
* ``double_signed`` -- a statement held by one party whose issuer's journal holds a different one
  at that seq (CHN-004);
* ``duplicated`` -- a bond locked, released, forfeited or refunded twice for one party of one
  contract, in the escrow's ledger;
* ``ledger_mismatches`` -- findings of the offline audit of the escrow's transcript
  (:func:`~a2a_coop.protocol.escrow_audit.audit_ledger`, which recomputes every balance and
  decision), plus funds not conserved (the parties' totals against the deposits);
* ``stuck_trades`` -- alice's trades not finished (final state, no bond locked) after the resumes;
  ``stuck`` says where each stopped, with what the last resume said.

All must be 0.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

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
from a2a_coop.cli.escrow import escrow_transcript
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import OUT, Journal

NAME: Final = "crash"
DEFAULT_KILLS: Final = 200
FUNDS: Final = 10_000_000
BOND: Final = 10
TRADES_PER_RUN: Final = 3
MAX_KILL_DELAY_S: Final = 0.5  # after bob took the run's first offer; a trade takes ~0.1-0.3 s
CLI_TIMEOUT_S: Final = 120.0
# After the last kill, alice resumes at growing intervals until every trade finished, or this long
# passed: generous, since a resume on a loaded machine takes seconds; a quiet one needs one resume.
SETTLE_DEADLINE_S: Final = 180.0
RESUME_INTERVALS_S: Final = (0.5, 1.0, 2.0, 4.0, 8.0)  # then the last, again
VICTIMS: Final = ("peer", "escrow", "client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    directory: Path
    alice: Identity
    bob: Identity
    escrow: Identity
    escrow_port: int = field(default_factory=_free_port)
    bob_port: int = field(default_factory=_free_port)
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    starts: int = 0

    def start(self, name: str) -> None:
        self.starts += 1
        log = self.directory / f"{name}-{self.starts}.log"
        if name == "escrow":
            fund = [f"--fund={who.did}={FUNDS}" for who in (self.alice, self.bob)]
            argv = ["escrow", "serve", *self.escrow.files(), "--port", str(self.escrow_port), *fund]
            argv += ["--tick-ms", "200"]
        else:
            argv = ["serve", *self.bob.files(), "--port", str(self.bob_port), "--escrow", self.escrow_target]
        # A snapshot of its memory every 40 statements (a few trades; served: 6,000): most of its
        # restarts resume from one and replay what came after it (a2a_coop.runtime.snapshot).
        argv += ["--snapshot-every", "40"]
        for attempt in range(20):  # the port may linger a moment after a kill
            server = start_server(name, argv, log)
            try:
                self.servers[name] = wait_listening(server, 30)
                return
            except Exception:
                stop_process(server.popen)
                if attempt == 19:
                    raise
                time.sleep(0.25)

    @property
    def escrow_target(self) -> str:
        return f"127.0.0.1:{self.escrow_port}"

    @property
    def bob_target(self) -> str:
        return f"127.0.0.1:{self.bob_port}"

    def client_argv(self, command: str) -> list[str]:
        argv = [command, *self.alice.files(), "--to", self.bob_target, "--escrow", self.escrow_target]
        if command == "offer":
            argv += ["--give", "code-review:500", "--want", "copy-editing:450", "--bond", str(BOND)]
            argv += ["--count", str(TRADES_PER_RUN)]
        return argv

    def resumed_from_snapshots(self) -> dict[str, int]:
        """How many starts of each server resumed from a snapshot, as their logs say."""
        said = {"escrow": "escrow: resumed from its snapshot", "bob": "peer: resumed from its snapshot"}
        return {
            name: sum(
                log.read_text(errors="replace").count(line) for log in self.directory.glob(f"{name}-*.log")
            )
            for name, line in said.items()
        }

    def kill(self, name: str) -> None:
        server = self.servers.pop(name)
        server.popen.kill()
        server.popen.wait(10)
        if server.popen.stdout is not None:
            server.popen.stdout.close()

    def stop(self) -> None:
        for server in self.servers.values():
            stop_process(server.popen)
        self.servers.clear()


def _run_client(cluster: Cluster, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*cluster.client_argv(command)),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=child_env(),
        check=False,
    )


def settle(cluster: Cluster) -> tuple[int, float, str]:
    """Resume alice until every trade of hers has finished (``resume`` exits 0 only then), at the
    :data:`RESUME_INTERVALS_S`, for at most :data:`SETTLE_DEADLINE_S`. A trade may need several: one
    waits for the restarted escrow, or for bob's answer to what the last resume carried on.

    Returns:
        The resumes run, the seconds it took, and what the last one said on stderr.
    """
    started = time.monotonic()
    resumes = 0
    while True:
        done = _run_client(cluster, "resume")
        resumes += 1
        waited = time.monotonic() - started
        if done.returncode == 0:
            return resumes, waited, ""
        interval = RESUME_INTERVALS_S[min(resumes, len(RESUME_INTERVALS_S)) - 1]
        if waited + interval > SETTLE_DEADLINE_S:
            return resumes, waited, done.stderr.strip()
        time.sleep(interval)


def one_kill(cluster: Cluster, rng: random.Random) -> str:
    """Start a run of trades, SIGKILL the chosen victim a seeded moment into it, bring it back."""
    victim = rng.choice(VICTIMS)
    delay = rng.uniform(0.0, MAX_KILL_DELAY_S)
    client = subprocess.Popen(
        cli_command(*cluster.client_argv("offer")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    # The kill point: a seeded moment after bob has taken this run's first offer (a process takes a
    # while to start on a busy machine; a kill before it trades would test nothing).
    bob = cluster.servers["bob"]
    seen = bob.log_tail(10_000).count("offer from")
    give_up = time.monotonic() + CLI_TIMEOUT_S
    while bob.log_tail(10_000).count("offer from") == seen and client.poll() is None:
        if time.monotonic() > give_up:
            break
        time.sleep(0.02)
    time.sleep(delay)
    if victim == "client":
        client.kill()
        client.wait(10)
    else:
        server = "bob" if victim == "peer" else "escrow"
        cluster.kill(server)
        client.wait(CLI_TIMEOUT_S)  # it fails or finishes without its server
        cluster.start(server)
    return victim


def _journal_statements(path: Path) -> list[tuple[str, VerifiedStatement]]:
    with Journal.open(path, lock=False) as journal:
        return [(direction, verify_statement(env)) for _, direction, env in journal.statements()]


def check(cluster: Cluster) -> dict[str, Any]:
    """Read the three journals (the servers stopped) and count what must never happen."""
    parties = {"alice": cluster.alice, "bob": cluster.bob, "escrow": cluster.escrow}
    held = {name: _journal_statements(who.journal_path) for name, who in parties.items()}
    own: dict[str, dict[int, bytes]] = {}
    for name, who in parties.items():
        own[who.did] = {vs.header.seq: vs.digest for d, vs in held[name] if d == OUT and vs.issuer == who.did}
    lost = double = 0
    for name in parties:
        for direction, vs in held[name]:
            if direction == OUT or vs.issuer not in own:
                continue
            mine = own[vs.issuer].get(vs.header.seq)
            if mine is None:
                lost += 1
            elif mine != vs.digest:
                double += 1
    with Journal.open(cluster.escrow.journal_path, lock=False) as journal:
        transcript = escrow_transcript(journal)
    report = audit_ledger(transcript)
    ledger = [vs for vs in report.statements]
    acts: Counter[tuple[str, bytes, str]] = Counter()
    for vs in ledger:
        if vs.body in ("bond_lock", "release", "forfeit", "refund"):
            msg = getattr(vs.statement, vs.body)
            acts[(vs.body, vs.header.negotiation_id, msg.party)] += 1
    duplicated = sum(n - 1 for n in acts.values() if n > 1)
    total = sum(a + locked for a, locked in report.balances.values())
    conserved = total == 2 * FUNDS
    trades, stuck = _trades(cluster)
    return {
        "trades": trades,
        "lost": lost,
        "double_signed": double,
        "duplicated": duplicated,
        "ledger_mismatches": len(report.findings) + (0 if conserved else 1),
        "stuck_trades": len(stuck),
        "stuck": stuck,
    }


def _trades(cluster: Cluster) -> tuple[int, list[str]]:
    """How many trades alice offered, and each that did not finish: its id and where it stopped."""
    from a2a_coop.runtime.peer import Peer
    from a2a_coop.runtime.trade import unfinished

    with Journal.open(cluster.alice.journal_path, lock=False) as journal:
        context = [cluster.escrow.mandate]
        # Every trade in memory, the finished ones too (a peer forgets those, bounded memory).
        peer = Peer(cluster.alice.key, cluster.alice.mandate, journal=journal, context=context, forget=False)
        negs = [n for n in peer.verifier.negotiations.by_id.values() if n.initiator == peer.did]
        return len(negs), [f"{n.id.hex()[:12]} {why}" for n in negs if (why := unfinished(n))]


def run(kills: int, seed: int, directory: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.perf_counter()
    ids = {name: provision(directory, name) for name in ("alice", "bob", "escrow")}
    cluster = Cluster(directory, ids["alice"], ids["bob"], ids["escrow"])
    victims: Counter[str] = Counter()
    resumes = 0
    try:
        cluster.start("escrow")
        cluster.start("bob")
        for _ in range(kills):
            victims[one_kill(cluster, rng)] += 1
            if rng.random() < 0.5:  # now and then, resume at once; else trades pile up for later
                resumes += 1
                _run_client(cluster, "resume")
        settle_resumes, settle_s, last_said = settle(cluster)
        resumes += settle_resumes
        time.sleep(0.5)  # let bob's witness hand the escrow what it queued
    finally:
        cluster.stop()
    counts = check(cluster)
    return {
        "campaign": NAME,
        "kills": kills,
        **counts,
        "victims": dict(victims),
        "resumes": resumes,
        "resumed_from_snapshots": cluster.resumed_from_snapshots(),
        "settle_seconds": round(settle_s, 1),
        "settle_resumes": settle_resumes,
        "last_resume_said": last_said,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
    }


def render(summary: dict[str, Any]) -> str:
    keys = ("lost", "double_signed", "duplicated", "ledger_mismatches", "stuck_trades")
    ok = not any(summary[k] for k in keys)
    victims = ", ".join(f"{v} {n}" for v, n in sorted(summary["victims"].items()))
    lines = [
        f"crash campaign: {summary['kills']} SIGKILLs (seed {summary['seed']}; {victims}), "
        f"{summary['resumes']} resumes, {summary['seconds']} s; escrow, bob and alice's client as "
        "processes on 127.0.0.1",
        "server starts resumed from a snapshot: "
        + ", ".join(f"{name} {n}" for name, n in summary["resumed_from_snapshots"].items()),
        "",
    ]
    lines += [f"  {k:<20} {summary[k]:>6}" for k in ("kills", "trades", *keys)]
    lines += [
        "",
        f"after the last kill: {summary['settle_resumes']} resume(s) in {summary['settle_seconds']} s, "
        f"waiting at most {SETTLE_DEADLINE_S:.0f} s for every trade to finish",
    ]
    lines += [f"  stuck: {trade}" for trade in summary["stuck"]]
    if summary["stuck"] and summary["last_resume_said"]:
        said = summary["last_resume_said"].splitlines()
        lines += ["  the last resume said:", *(f"    {line}" for line in said)]
    lines += ["", "OK: nothing lost, duplicated or signed twice; every trade finished" if ok else "FINDINGS"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=DEFAULT_KILLS, help=f"default {DEFAULT_KILLS}")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    # SIGTERM ends the campaign through its finally blocks: its servers are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="a2acoop-crash-") as tmp:
        summary = run(args.kills, args.seed, Path(tmp))
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    keys = ("lost", "double_signed", "duplicated", "ledger_mismatches", "stuck_trades")
    return 0 if not any(summary[k] for k in keys) else 1


if __name__ == "__main__":
    sys.exit(main())
