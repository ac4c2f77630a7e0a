"""Honest trades while a hostile peer floods: ``python -m reliability hostile [--seconds S]``.

Bob (a :class:`~a2a_coop.runtime.node.PeerNode` with its journal, served over gRPC on 127.0.0.1)
trades with honest alice, sequentially, for ``--seconds`` alone, then for as long again while mallory
floods him from ``--threads`` threads at full speed with, in turn:

* valid-looking offers she then abandons (bob may accept them: that is his strategy's right, within
  his mandate's caps);
* replays of old statements (hers and alice's);
* offers addressed to someone else;
* Accepts of alice's open offers, signed by mallory (accepting on someone else's behalf);
* bytes that are not an envelope.

Counted: ``honest_under_flood_ratio`` (alice's trades/s under the flood over her unloaded rate,
target >= 0.8); ``wrongly_answered`` (a replay answered with anything but the first answer, an offer
for someone else or an accept on alice's behalf answered at all, garbage answered at all: must be 0);
``honest_failures`` (alice's trades that did not end FULFILLED: must be 0); and, for the operator,
what the flood cost bob: the statements he signed and the journal rows per hostile request.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import CoopError, RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.keyfile import generate_keypair
from a2a_coop.runtime.node import PeerLimits, PeerNode
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.trade import proposal
from a2a_coop.transport import CooperationClient, TransportError, serve

NAME: Final = "hostile"
DEFAULT_SECONDS: Final = 20.0
DEFAULT_THREADS: Final = 4
TARGET: Final = 0.8
KINDS: Final = ("offer-abandon", "replay", "other-audience", "accept-on-behalf", "garbage")
BIG: Final = {"max_per_deal": 10**6, "budget_per_period": 10**12, "max_outstanding": 10**12}


def _terms(peer: Peer) -> trade_pb2.Offer:
    return proposal(
        peer, [("code-review", 500)], [("copy-editing", 450)], deadline_ms=wall_clock_ms() + 3_600_000
    )


def _honest(
    alice: Peer, client: CooperationClient, bob: str, seconds: float, opened: list[VerifiedStatement]
) -> tuple[int, int]:
    """Alice's sequential trades for ``seconds``: (FULFILLED, not FULFILLED)."""
    done = failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        offer = alice.propose(bob, _terms(alice))
        opened.append(offer)
        try:
            drive(alice, partial(_polite, client), offer)
        except (CoopError, TransportError):
            failed += 1
            continue
        if alice.negotiation(offer.header.negotiation_id).state is State.FULFILLED:
            done += 1
        else:
            failed += 1
    return done, failed


def _polite(client: CooperationClient, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
    """An honest client's exchange: refused for its rate (RPC-012), it waits as told and tries again."""
    while True:
        try:
            return client.exchange(envelope, context)
        except RateLimited as exc:
            time.sleep(max(exc.retry_after_ms, 1) / 1000)


class Mallory:
    def __init__(
        self, peer: Peer, client: CooperationClient, bob: str, alice_offers: list[VerifiedStatement]
    ) -> None:
        self.peer, self.client, self.bob = peer, client, bob
        self.alice_offers = alice_offers
        self.lock = threading.Lock()
        self.mine: list[tuple[bytes, list[bytes]]] = []  # (her envelope, bob's first answer)
        self.sent: Counter[str] = Counter()
        self.wrong: Counter[str] = Counter()
        self.stop = threading.Event()

    def flood(self, seed: int) -> None:
        i = seed
        while not self.stop.is_set():
            kind = KINDS[i % len(KINDS)]
            i += 1
            with contextlib.suppress(CoopError, TransportError):
                self._one(kind)

    def _one(self, kind: str) -> None:
        ctx = self.peer.send_context()
        with self.lock:
            self.sent[kind] += 1
        if kind == "offer-abandon":
            with self.lock:
                offer = self.peer.propose(self.bob, _terms(self.peer))
            answers = self.client.exchange(offer.envelope, ctx)
            with self.lock:
                self.mine.append((offer.envelope, answers))
        elif kind == "replay":
            with self.lock:
                if not self.mine:
                    return
                envelope, first = self.mine[len(self.mine) // 2]
            again = self.client.exchange(envelope, ctx)  # the same answers, or REPLAYED
            if again != first:
                with self.lock:
                    self.wrong[kind] += 1
        elif kind == "other-audience":
            with self.lock:
                offer = self.peer.propose(generate_keypair().did, _terms(self.peer))
            self.client.exchange(offer.envelope, ctx)
            with self.lock:
                self.wrong[kind] += 1  # reached only if bob answered
        elif kind == "accept-on-behalf":
            with self.lock:
                if not self.alice_offers:
                    return
                target = self.alice_offers[-1]
                stmt = trade_pb2.Accept(offer=target.digest)
                try:
                    vs = self.peer._sign_body(
                        "accept",
                        stmt,
                        audience=target.issuer,
                        negotiation_id=target.header.negotiation_id,
                        refs=[target.digest],
                    )
                except CoopError:  # her own guard refuses: sign it past the guard, as an attacker would
                    return
            self.client.exchange(vs.envelope, ctx)
            with self.lock:
                self.wrong[kind] += 1
        else:
            self.client.exchange(os.urandom(64), ())
            with self.lock:
                self.wrong[kind] += 1


def _rows(node: PeerNode) -> int:
    return sum(1 for _ in node.journal.statements())


def run(seconds: float, threads: int, directory: Path, max_rate: float = 0.0) -> dict[str, Any]:
    """With ``max_rate``, bob takes at most that many requests per second from any one peer (RPC-012;
    ``serve --max-rate``), in both phases alike."""
    ids = {n: provision(directory, n, **BIG) for n in ("alice", "bob", "mallory")}
    limits = PeerLimits(rate_per_s=max_rate, burst=int(max_rate)) if max_rate else None
    node = PeerNode.open(ids["bob"].key, ids["bob"].mandate, ids["bob"].journal_path, limits=limits)
    server = serve(node, None, max_workers=16)
    alice = Peer(ids["alice"].key, ids["alice"].mandate)
    opened: list[VerifiedStatement] = []
    try:
        with CooperationClient(server.target) as ac:
            _honest(alice, ac, node.peer.did, 1.0, [])  # warm up
            alone, failed_alone = _honest(alice, ac, node.peer.did, seconds, opened)
            rows_before, seq_before = _rows(node), node.peer.writer.next_seq
            (directory / "alice-offers.bin").write_bytes(
                json.dumps([vs.envelope.hex() for vs in opened[-50:]]).encode()
            )
            # Mallory floods from her own process, as a remote peer would: she takes no CPU time from
            # bob's interpreter other than what her requests cost him.
            flood = subprocess.Popen(
                [
                    *(sys.executable, "-m", "reliability", NAME, "--flood", server.target, str(directory)),
                    *("--seconds", str(seconds + 2), "--threads", str(threads)),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            try:
                time.sleep(1.0)  # her process starts and floods before alice's timed phase
                loaded, failed_loaded = _honest(alice, ac, node.peer.did, seconds, opened)
                out, _ = flood.communicate(timeout=seconds + 60)
            finally:
                if flood.poll() is None:
                    flood.kill()
                    flood.communicate()
            report = json.loads(out.strip().splitlines()[-1])
            rows_after, seq_after = _rows(node), node.peer.writer.next_seq
    finally:
        server.stop(None)
        node.close()
    sent, wrong = Counter(report["sent"]), Counter(report["wrong"])
    hostile = sum(sent.values())
    ratio = (loaded / alone) if alone else 0.0
    honest_rows = (rows_before / max(alone, 1)) * loaded  # what alice's trades under the flood cost
    return {
        "campaign": NAME,
        "honest_under_flood_ratio": round(ratio, 3),
        "target": TARGET,
        "target_met": ratio >= TARGET,
        "honest_trades_per_s_alone": round(alone / seconds, 2),
        "honest_trades_per_s_flooded": round(loaded / seconds, 2),
        "honest_failures": failed_alone + failed_loaded,
        "wrongly_answered": sum(wrong.values()),
        "hostile_requests": hostile,
        "hostile_requests_per_s": round(hostile / report["seconds"], 1),
        "hostile_by_kind": dict(sent),
        "bob_statements_signed_under_flood": seq_after - seq_before,
        "journal_rows_per_hostile_request": round(
            max(rows_after - rows_before - honest_rows, 0) / max(hostile, 1), 3
        ),
        "threads": threads,
        "seconds": seconds,
        "max_rate_per_peer": max_rate or None,
    }


def render(s: dict[str, Any]) -> str:
    ok = s["target_met"] and not s["wrongly_answered"] and not s["honest_failures"]
    return "\n".join(
        [
            f"hostile campaign: alice trades with bob for {s['seconds']} s alone, then as long while mallory "
            f"floods from {s['threads']} threads ({s['hostile_requests_per_s']} requests/s); 127.0.0.1; "
            f"per-peer limit: {s['max_rate_per_peer'] or 'none'}",
            "",
            f"  {'honest trades/s alone':<36} {s['honest_trades_per_s_alone']:>8}",
            f"  {'honest trades/s under the flood':<36} {s['honest_trades_per_s_flooded']:>8}",
            f"  {'honest_under_flood_ratio':<36} {s['honest_under_flood_ratio']:>8}  (target {s['target']})",
            f"  {'honest trades failed':<36} {s['honest_failures']:>8}",
            f"  {'hostile requests answered wrongly':<36} {s['wrongly_answered']:>8}",
            f"  {'bob statements signed in the flood':<36} {s['bob_statements_signed_under_flood']:>8}",
            f"  {'journal rows per hostile request':<36} {s['journal_rows_per_hostile_request']:>8}",
            "",
            "OK" if ok else "FINDINGS (see above)",
        ]
    )


def flood_main(target: str, directory: Path, seconds: float, threads: int) -> int:
    """Mallory's process: flood ``target`` for ``seconds``; print what she sent, what was answered wrongly."""
    from a2a_coop.runtime.keyfile import read_key_file
    from a2a_coop.runtime.node import read_envelope_file

    peer = Peer(
        read_key_file(directory / "mallory.key"), read_envelope_file(directory / "mallory.mandate.json")
    )
    offers = [bytes.fromhex(h) for h in json.loads((directory / "alice-offers.bin").read_text())]
    from a2a_coop.protocol.statements import verify_statement

    alice_offers = [verify_statement(e) for e in offers]
    with CooperationClient(target) as client:
        bob = verify_statement(client.get_checkpoint()).issuer
        mallory = Mallory(peer, client, bob, alice_offers)
        started = time.monotonic()
        flooders = [threading.Thread(target=mallory.flood, args=(k,)) for k in range(threads)]
        for t in flooders:
            t.start()
        time.sleep(seconds)
        mallory.stop.set()
        for t in flooders:
            t.join(30)
    took = time.monotonic() - started
    print(json.dumps({"sent": dict(mallory.sent), "wrong": dict(mallory.wrong), "seconds": took}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reliability hostile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help=f"each phase (default {DEFAULT_SECONDS})"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help=f"mallory's (default {DEFAULT_THREADS})"
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        default=0.0,
        help="bob's per-peer limit, requests/s (serve --max-rate; default 0: none)",
    )
    parser.add_argument("--flood", nargs=2, metavar=("TARGET", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.flood:
        return flood_main(args.flood[0], Path(args.flood[1]), args.seconds, args.threads)
    with tempfile.TemporaryDirectory(prefix="a2acoop-hostile-") as tmp:
        summary = run(args.seconds, args.threads, Path(tmp), args.max_rate)
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    ok = summary["target_met"] and not summary["wrongly_answered"] and not summary["honest_failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
