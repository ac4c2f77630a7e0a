"""Cut the power mid-trade and restart from what was on disk: ``python -m reliability powerloss``.

What a power cut leaves is the journal's files as they stood at the last completed fsync: every write
not yet fsync'd is gone (the way crash-consistency tools such as ALICE and CrashMonkey model it). So
the campaign copies bob's database and WAL right after each commit of his journal returns (with the
default ``synchronous=FULL`` a commit returns only once fsync'd: the copy is exactly what a cut at
any later moment would leave), and cuts the power at a random commit: that commit and every later
one fail, nothing of them reaches the files; the answers of the exchanges waiting on them never
leave. Then bob restarts on a fresh copy of the files as of the last completed fsync, the initiators
retry what got no answer, and the trades go on to the end.

Several initiators trade with bob at once (threads), so cuts fall inside group commits too. Bob is a
:class:`~a2a_coop.runtime.node.PeerNode` called directly (the network adds nothing here: an answer
is either returned or not).

Counted per cut, over every trade:

* ``lost_after_ack`` -- an answer an initiator received (so bob had sent it) that is not in the
  restarted journal: write-ahead broken;
* ``double_signed`` -- two different statements of bob's at one seq among everything the initiators
  received before and after the cut (the equivocation a stale head causes, CHN-004).

Both must be 0. ``--fault ack-before-fsync`` makes the copies lag one commit behind (as if answers
left before their fsync): the campaign must then report losses, which shows it can fail.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.trade import proposal

NAME: Final = "powerloss"
DEFAULT_CUTS: Final = 200
DEFAULT_INITIATORS: Final = 4
TRADES_PER_INITIATOR: Final = 2
MAX_STEPS: Final = 64


class PowerCut(BaseException):
    """Raised into every commit from the cut on: nothing of it reaches the disk."""


@dataclass
class Disk:
    """Bob's journal files as of the last completed fsync, and the switch."""

    journal: Path
    copy_dir: Path
    fault: str = ""
    commits: int = 0
    cut_at: int = 0
    cut: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: Path | None = None

    def files(self) -> list[Path]:
        return [self.journal, self.journal.with_name(self.journal.name + "-wal")]

    def snapshot(self) -> None:
        """Copy the files as they stand (called right after a commit returned: they are durable)."""
        target = self.copy_dir / f"at-{self.commits}"
        target.mkdir()
        for f in self.files():
            if f.exists():
                shutil.copy2(f, target / f.name)
        if self.fault == "ack-before-fsync":  # the copy lags: what was just acked is not on "disk"
            self._pending, target = target, self._pending or target
        self.latest = target

    latest: Path | None = None


def _install(journal: Journal, disk: Disk) -> None:
    transaction = journal._transaction

    def cut_or_commit(fn: Callable[..., None]) -> None:
        with disk.lock:
            if disk.cut or disk.commits + 1 == disk.cut_at:
                disk.cut = True
                raise PowerCut
            transaction(fn)
            disk.commits += 1
            disk.snapshot()

    journal._transaction = cut_or_commit  # type: ignore[method-assign]


@dataclass
class Initiator:
    peer: Peer
    bob: str
    offers: int = TRADES_PER_INITIATOR
    queue: list[VerifiedStatement] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)  # every answer of bob's, as received
    negotiations: list[bytes] = field(default_factory=list)

    def next_offer(self) -> VerifiedStatement | None:
        if self.offers == 0:
            return None
        self.offers -= 1
        terms = proposal(
            self.peer,
            [("code-review", 500)],
            [("copy-editing", 450)],
            deadline_ms=wall_clock_ms() + 3_600_000,
        )
        vs = self.peer.propose(self.bob, terms)
        self.negotiations.append(vs.header.negotiation_id)
        return vs

    def step(self, exchange: Callable[[bytes, Sequence[bytes]], list[bytes]]) -> bool:
        """Send the next statement; True while there is more to do. Raises what the exchange raised
        (then the statement stays at the head of the queue, to be sent again)."""
        if not self.queue:
            nxt = self.next_offer()
            if nxt is None:
                return False
            self.queue.append(nxt)
        vs = self.queue[0]
        answers = exchange(vs.envelope, self.peer.send_context())
        self.queue.pop(0)
        self.received += answers
        self.queue += self.peer.on_replies(answers)
        return True


def _run_until_cut(node: PeerNode, initiators: list[Initiator]) -> None:
    def work(init: Initiator) -> None:
        for _ in range(MAX_STEPS):
            try:
                if not init.step(node.exchange):
                    return
            except PowerCut:
                return
            except CoopError:
                return  # refused after the cut's reload: left for the restarted bob

    threads = [threading.Thread(target=work, args=(i,)) for i in initiators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def one_cut(directory: Path, ids: dict[str, Identity], rng: random.Random, fault: str) -> dict[str, int]:
    bob_id = ids["bob"]
    journal_path = directory / "bob.db"
    copies = directory / "copies"
    copies.mkdir()
    disk = Disk(journal_path, copies, fault)
    # Every trade: about 4 commits (offer + answers, delivery + receipt, receipt + ack ...) per trade.
    disk.cut_at = rng.randint(1, 4 * TRADES_PER_INITIATOR * DEFAULT_INITIATORS)
    node = PeerNode.open(bob_id.key, bob_id.mandate, journal_path)
    _install(node.journal, disk)
    initiators = [
        Initiator(Peer(ids[f"alice{i}"].key, ids[f"alice{i}"].mandate), bob_id.did)
        for i in range(DEFAULT_INITIATORS)
    ]
    _run_until_cut(node, initiators)
    node.journal._transaction = lambda fn: None  # type: ignore[method-assign]  # powered off
    node.journal.close()
    # Power back: the files as of the last completed fsync.
    restored = directory / "restored"
    restored.mkdir()
    if disk.latest is not None:
        for f in disk.latest.iterdir():
            shutil.copy2(f, restored / f.name)
    node = PeerNode.open(bob_id.key, bob_id.mandate, restored / "bob.db")
    try:
        lost = 0
        before = [
            vs for i in initiators for vs in map(verify_statement, i.received) if vs.issuer == bob_id.did
        ]
        for vs in before:
            if node.journal.by_digest(vs.digest) is None:
                lost += 1
        for init in initiators:  # retry what got no answer, and finish
            for _ in range(MAX_STEPS):
                try:
                    if not init.step(node.exchange):
                        break
                except CoopError:
                    break
        seen: dict[int, set[bytes]] = {}
        for init in initiators:
            for vs in map(verify_statement, init.received):
                if vs.issuer == bob_id.did:
                    seen.setdefault(vs.header.seq, set()).add(vs.digest)
        with_journal = [verify_statement(e) for e in node.journal.log_range(bob_id.did, 0, 100_000)]
        for vs in with_journal:
            seen.setdefault(vs.header.seq, set()).add(vs.digest)
        double = sum(1 for digests in seen.values() if len(digests) > 1)
        unfinished = sum(
            1
            for init in initiators
            for nid in init.negotiations
            if init.peer.negotiation(nid).state is not State.FULFILLED
        )
    finally:
        node.close()
    return {
        "commits_before_cut": disk.commits,
        "lost_after_ack": lost,
        "double_signed": double,
        "unfinished": unfinished,
    }


def run(cuts: int, seed: int, fault: str, directory: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = {
        name: provision(directory, name)
        for name in ["bob", *(f"alice{i}" for i in range(DEFAULT_INITIATORS))]
    }
    totals = {"lost_after_ack": 0, "double_signed": 0, "unfinished": 0}
    commits: list[int] = []
    started = time.perf_counter()
    for n in range(cuts):
        where = directory / f"cut-{n}"
        where.mkdir()
        result = one_cut(where, ids, rng, fault)
        commits.append(result["commits_before_cut"])
        for key in totals:
            totals[key] += result[key]
        shutil.rmtree(where)
    return {
        "campaign": NAME,
        "cuts": cuts,
        "double_signed": totals["double_signed"],
        "lost_after_ack": totals["lost_after_ack"],
        "unfinished_trades": totals["unfinished"],
        "initiators": DEFAULT_INITIATORS,
        "trades": cuts * DEFAULT_INITIATORS * TRADES_PER_INITIATOR,
        "commits_before_cut": {"min": min(commits, default=0), "max": max(commits, default=0)},
        "fault": fault or None,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
    }


def render(summary: dict[str, Any]) -> str:
    ok = not (summary["double_signed"] or summary["lost_after_ack"])
    return "\n".join(
        [
            f"powerloss campaign: {summary['cuts']} cuts (seed {summary['seed']}), "
            f"{summary['trades']} trades, {summary['initiators']} initiators at once, {summary['seconds']} s"
            + (f"; injected fault: {summary['fault']}" if summary["fault"] else ""),
            "",
            f"  {'cuts':<32} {summary['cuts']:>8}",
            f"  {'commits before a cut (min..max)':<32} "
            f"{summary['commits_before_cut']['min']:>4}..{summary['commits_before_cut']['max']}",
            f"  {'answers lost after they left':<32} {summary['lost_after_ack']:>8}",
            f"  {'seqs signed twice':<32} {summary['double_signed']:>8}",
            f"  {'trades unfinished at the end':<32} {summary['unfinished_trades']:>8}",
            "",
            "OK: nothing acked was lost, nothing signed twice" if ok else "FINDINGS: see the counts above",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reliability powerloss", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cuts", type=int, default=DEFAULT_CUTS, help=f"default {DEFAULT_CUTS}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fault",
        choices=("ack-before-fsync",),
        default="",
        help="inject a durability bug, to see the campaign catch it",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    with tempfile.TemporaryDirectory(prefix="a2acoop-powerloss-") as tmp:
        summary = run(args.cuts, args.seed, args.fault, Path(tmp))
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if not (summary["double_signed"] or summary["lost_after_ack"]) else 1


if __name__ == "__main__":
    sys.exit(main())
