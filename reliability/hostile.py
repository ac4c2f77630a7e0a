"""Honest trades while a hostile peer floods: ``python -m reliability hostile [--seconds S] [--rounds N]``.

Bob is ``a2a-coop serve`` (a journaled peer, gRPC on 127.0.0.1) in his own process; honest alice trades
with him sequentially from this process; mallory floods him from her own process with ``--threads``
threads at full speed, sending in turn (``--kinds`` picks some):

* valid-looking offers she then abandons (bob may accept them: that is his strategy's right, within
  his mandate's caps; he keeps at most 256 of hers open, then refuses her offers ``RATE_LIMITED``);
* replays of old statements (her own offers, byte for byte);
* offers addressed to someone else;
* Accepts of alice's open offers, signed by mallory (accepting on someone else's behalf);
* bytes that are not an envelope.

Each of ``--rounds`` rounds times four phases of ``--seconds`` each, interleaved so that a shared
machine's drift falls on all of them alike: alice alone; alice while mallory floods; alice beside a
*hog* that burns exactly the CPU mallory burnt in that round and touches nobody (floor 1); alice while
another process sends bob as many Exchange calls a second as mallory did, each refused by his gRPC
server as it is parsed (floor 2).

Why two floors. On a machine the flooder shares (2 cores here), her own CPU is taken from alice, bob
and everything else: no defence of bob's gives that back, and a remote flooder would not take it.
Floor 1 measures that part. And every request bob receives, whatever it holds, costs him what his gRPC
server pays to take it, hand it to a worker thread and answer it, before any a2a-coop check runs:
floor 2 measures that part. ``flood_vs_cpu_hog`` and ``flood_vs_grpc_flood`` are what remains, what
bob's own checks let the flood cost alice; ``bob_cpu_ms_per_hostile_request`` against
``bob_cpu_ms_per_grpc_refused_request`` is the same comparison in CPU time.

Counted: ``honest_under_flood_ratio`` (alice's trades/s under the flood over her unloaded rate, target
>= 0.8, judged as measured); ``honest_under_cpu_hog_ratio`` and ``honest_under_grpc_flood_ratio`` (the
floors, over the same unloaded rate); ``wrongly_answered`` (a replay answered with anything but its
first answer, an offer for someone else or an accept on alice's behalf answered at all, garbage
answered at all: must be 0); ``honest_failures`` (alice's trades that did not end FULFILLED: must be
0); and what the flood cost bob: CPU per hostile request, the statements he signed and the journal
rows per hostile request. The exit status is 1 when the target is not met or anything was answered
wrongly or failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import grpc

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli.demo import Identity, child_env, provision, start_server, stop_process, wait_listening
from a2a_coop.protocol.errors import CoopError, RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.keyfile import generate_keypair
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.trade import proposal
from a2a_coop.transport import CooperationClient, TransportError
from a2a_coop.transport.limits import DEFAULT_TIMEOUT_S
from a2a_coop.transport.server import COOPERATION_SERVICE

NAME: Final = "hostile"
DEFAULT_SECONDS: Final = 5.0
DEFAULT_THREADS: Final = 4
DEFAULT_ROUNDS: Final = 4
TARGET: Final = 0.8
KINDS: Final = ("offer-abandon", "replay", "other-audience", "accept-on-behalf", "garbage")
RAMP_S: Final = 1.0  # a helper process starts and gets going before alice's timed phase
HOG_TICK_S: Final = 0.001
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
NOT_A_REQUEST: Final = b"\xff\xff\xff"  # no protobuf message parses from these bytes
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
        self.kinds: Sequence[str] = KINDS

    def flood(self, seed: int) -> None:
        i = seed
        while not self.stop.is_set():
            kind = self.kinds[i % len(self.kinds)]
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


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def _journal_counts(path: Path, did: str) -> tuple[int, int]:
    """(rows, statements bob signed) in bob's journal, read beside his server (WAL: a reader never
    waits for the writer)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT count(*) FROM statements").fetchone()[0]
        ours = db.execute(
            "SELECT count(*) FROM statements JOIN issuers ON issuers.id = statements.issuer "
            "WHERE issuers.did = ? AND direction = 'out'",
            (did,),
        ).fetchone()[0]
    finally:
        db.close()
    return int(rows), int(ours)


@dataclass
class Phase:
    """One timed stretch of alice's trading, and what the processes around her spent meanwhile."""

    trades: int = 0
    failed: int = 0
    seconds: float = 0.0
    bob_cpu_s: float = 0.0
    other_cpu_s: float = 0.0  # mallory's, or the hog's
    rows: int = 0  # journal rows bob wrote
    signed: int = 0  # statements bob signed

    def add(self, other: Phase) -> None:
        for name in ("trades", "failed", "seconds", "bob_cpu_s", "other_cpu_s", "rows", "signed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def rate(self) -> float:
        return self.trades / self.seconds if self.seconds else 0.0


class Bob:
    """Bob served by ``a2a-coop serve`` in his own process: nothing he does takes alice's interpreter."""

    def __init__(self, ident: Identity, directory: Path, extra: Sequence[str]) -> None:
        self.ident = ident
        self.server = wait_listening(
            start_server("bob", ["serve", *ident.files(), *extra], directory / "bob.log"), 60
        )
        self.did: str = self.server.did
        self.target: str = self.server.target

    def timed(
        self,
        alice: Peer,
        client: CooperationClient,
        seconds: float,
        opened: list[VerifiedStatement],
        others: Sequence[int] = (),
    ) -> Phase:
        """Alice trades for ``seconds``; what bob and the processes ``others`` spent meanwhile."""
        rows0, signed0 = _journal_counts(self.ident.journal_path, self.did)
        bob0, other0 = _cpu_s(self.server.popen.pid), sum(map(_cpu_s, others))
        started = time.monotonic()
        done, failed = _honest(alice, client, self.did, seconds, opened)
        took = time.monotonic() - started
        bob1, other1 = _cpu_s(self.server.popen.pid), sum(map(_cpu_s, others))
        rows1, signed1 = _journal_counts(self.ident.journal_path, self.did)
        return Phase(done, failed, took, bob1 - bob0, other1 - other0, rows1 - rows0, signed1 - signed0)

    def stop(self) -> None:
        stop_process(self.server.popen)


def _spawn(*argv: str) -> subprocess.Popen[str]:
    """``python -m reliability hostile ARGV`` in its own process (mallory, a hog, or floor 2's sender)."""
    return subprocess.Popen(
        [sys.executable, "-m", "reliability", NAME, *argv],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=child_env(),
    )


def _finish(popen: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        out, _ = popen.communicate(timeout=timeout_s)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.communicate()
    return out


def run(
    seconds: float,
    threads: int,
    directory: Path,
    max_rate: float = 0.0,
    rounds: int = 1,
    *,
    kinds: Sequence[str] = KINDS,
) -> dict[str, Any]:
    """``rounds`` times, alice trading with bob: alone; while mallory floods him; beside a hog burning
    the CPU mallory burnt (floor 1: what no defence of bob's can give back on a machine shared with
    the flooder); and while another process sends bob as many Exchange requests a second as mallory
    did, each refused as it is parsed (floor 2: what those requests cost him in his gRPC server before
    any check of a2a-coop's runs, which no check of ours can make cheaper). With ``max_rate``, bob
    takes at most that many requests per second from any one peer (RPC-012; ``serve --max-rate``), in
    every phase; ``kinds`` are the hostile requests mallory sends, in turn."""
    ids = {n: provision(directory, n, **BIG) for n in ("alice", "bob", "mallory")}
    extra = [f"--max-rate={max_rate:g}"] if max_rate else []
    bob = Bob(ids["bob"], directory, extra)
    alice = Peer(ids["alice"].key, ids["alice"].mandate)
    opened: list[VerifiedStatement] = []
    alone, flooded, hogged, transported = Phase(), Phase(), Phase(), Phase()
    transport_sent, transport_s = 0, 0.0
    sent: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    flood_s = 0.0
    try:
        with CooperationClient(bob.target) as ac:
            _honest(alice, ac, bob.did, 1.0, [])  # warm up
            for _ in range(rounds):
                alone.add(bob.timed(alice, ac, seconds, opened))
                (directory / "alice-offers.json").write_text(
                    json.dumps([vs.envelope.hex() for vs in opened[-50:]])
                )
                # Mallory floods from her own process, as a remote peer would.
                mallory = _spawn(
                    *("--flood", bob.target, str(directory), bob.did, "--kinds", ",".join(kinds)),
                    *("--seconds", str(seconds + 2 * RAMP_S), "--threads", str(threads)),
                )
                time.sleep(RAMP_S)  # her process starts and floods before alice's timed phase
                phase = bob.timed(alice, ac, seconds, opened, [mallory.pid])
                report = json.loads(_finish(mallory, seconds + 60).strip().splitlines()[-1])
                flooded.add(phase)
                sent.update(report["sent"])
                wrong.update(report["wrong"])
                flood_s += report["seconds"]
                # The floor: a process that burns what mallory burnt, touching nobody.
                cores = phase.other_cpu_s / phase.seconds if phase.seconds else 0.0
                n = max(1, math.ceil(cores))  # one process per core's worth: each burns its share
                hogs = [
                    _spawn("--hog", f"{cores / n:.4f}", "--seconds", str(seconds + 2 * RAMP_S))
                    for _ in range(n)
                ]
                time.sleep(RAMP_S)
                hogged.add(bob.timed(alice, ac, seconds, opened, [h.pid for h in hogs]))
                for hog in hogs:
                    _finish(hog, seconds + 60)
                # Floor 2: as many requests a second, from as many threads, that bob's transport refuses
                # as it parses them, before any check of a2a-coop's.
                rate = sum(report["sent"].values()) / report["seconds"] if report["seconds"] else 0.0
                grpc_flood = _spawn(
                    *("--grpc-flood", bob.target, f"{rate:.1f}"),
                    *("--seconds", str(seconds + 2 * RAMP_S), "--threads", str(threads)),
                )
                time.sleep(RAMP_S)
                transported.add(bob.timed(alice, ac, seconds, opened, [grpc_flood.pid]))
                transport_sent += json.loads(_finish(grpc_flood, seconds + 60).strip().splitlines()[-1])[
                    "sent"
                ]
                transport_s += seconds + 2 * RAMP_S
    finally:
        bob.stop()
    hostile = sum(sent.values())
    ratio = flooded.rate / alone.rate if alone.rate else 0.0
    floor = hogged.rate / alone.rate if alone.rate else 0.0
    beyond = flooded.rate / hogged.rate if hogged.rate else 0.0
    floor2 = transported.rate / alone.rate if alone.rate else 0.0
    # What a hostile request cost bob: his CPU and journal rows in the flood, less what alice's trades
    # in it cost him at the unloaded phase's rate per trade.
    in_window = hostile * flooded.seconds / flood_s if flood_s else 0.0
    bob_cpu_hostile = flooded.bob_cpu_s - flooded.trades * alone.bob_cpu_s / max(alone.trades, 1)
    rows_hostile = flooded.rows - flooded.trades * alone.rows / max(alone.trades, 1)
    grpc_in_window = transport_sent * transported.seconds / transport_s if transport_s else 0.0
    bob_cpu_grpc = transported.bob_cpu_s - transported.trades * alone.bob_cpu_s / max(alone.trades, 1)
    return {
        "campaign": NAME,
        "honest_under_flood_ratio": round(ratio, 3),
        "honest_under_cpu_hog_ratio": round(floor, 3),
        "flood_vs_cpu_hog": round(beyond, 3),
        "honest_under_grpc_flood_ratio": round(floor2, 3),
        "flood_vs_grpc_flood": round(flooded.rate / transported.rate if transported.rate else 0.0, 3),
        "target": TARGET,
        "target_met": ratio >= TARGET,
        "honest_trades_per_s_alone": round(alone.rate, 2),
        "honest_trades_per_s_flooded": round(flooded.rate, 2),
        "honest_trades_per_s_cpu_hog": round(hogged.rate, 2),
        "honest_trades_per_s_grpc_flood": round(transported.rate, 2),
        "grpc_flood_requests_per_s": round(transport_sent / transport_s, 1) if transport_s else 0.0,
        "honest_failures": alone.failed + flooded.failed + hogged.failed + transported.failed,
        "wrongly_answered": sum(wrong.values()),
        "hostile_requests": hostile,
        "hostile_requests_per_s": round(hostile / flood_s, 1) if flood_s else 0.0,
        "hostile_by_kind": dict(sent),
        "mallory_cpu_cores": round(flooded.other_cpu_s / flooded.seconds, 3) if flooded.seconds else 0.0,
        "hog_cpu_cores": round(hogged.other_cpu_s / hogged.seconds, 3) if hogged.seconds else 0.0,
        "bob_cpu_ms_per_honest_trade": round(1000 * alone.bob_cpu_s / max(alone.trades, 1), 3),
        "bob_cpu_ms_per_hostile_request": round(1000 * max(bob_cpu_hostile, 0) / max(in_window, 1), 3),
        "bob_cpu_ms_per_grpc_refused_request": round(1000 * max(bob_cpu_grpc, 0) / max(grpc_in_window, 1), 3),
        "bob_statements_signed_under_flood": flooded.signed,
        "journal_rows_per_hostile_request": round(max(rows_hostile, 0) / max(in_window, 1), 3),
        "threads": threads,
        "seconds": seconds,
        "rounds": rounds,
        "max_rate_per_peer": max_rate or None,
    }


KEY: Final = "honest_under_flood_ratio"
ROWS: Final = (  # the table's rows: label, key
    ("honest trades/s alone", "honest_trades_per_s_alone"),
    ("honest trades/s under the flood", "honest_trades_per_s_flooded"),
    ("honest trades/s beside the CPU hog", "honest_trades_per_s_cpu_hog"),
    ("honest trades/s under the unparsable flood", "honest_trades_per_s_grpc_flood"),
    (KEY, KEY),
    ("honest_under_cpu_hog_ratio (floor 1)", "honest_under_cpu_hog_ratio"),
    ("honest_under_grpc_flood_ratio (floor 2)", "honest_under_grpc_flood_ratio"),
    ("flood_vs_cpu_hog", "flood_vs_cpu_hog"),
    ("flood_vs_grpc_flood", "flood_vs_grpc_flood"),
    ("mallory CPU, cores", "mallory_cpu_cores"),
    ("hog CPU, cores", "hog_cpu_cores"),
    ("bob CPU ms per honest trade", "bob_cpu_ms_per_honest_trade"),
    ("bob CPU ms per hostile request", "bob_cpu_ms_per_hostile_request"),
    ("bob CPU ms per unparsable request", "bob_cpu_ms_per_grpc_refused_request"),
    ("journal rows per hostile request", "journal_rows_per_hostile_request"),
    ("bob statements signed in the flood", "bob_statements_signed_under_flood"),
    ("honest trades failed", "honest_failures"),
    ("hostile requests answered wrongly", "wrongly_answered"),
)


def render(s: dict[str, Any]) -> str:
    ok = s["target_met"] and not s["wrongly_answered"] and not s["honest_failures"]
    return "\n".join(
        [
            f"hostile campaign: bob serves in his own process; alice trades with him, {s['rounds']} x "
            f"{s['seconds']} s each: alone; while mallory floods him from her own process with "
            f"{s['threads']} threads ({s['hostile_requests_per_s']} requests/s); beside a hog burning the "
            f"CPU mallory burnt; under Exchange calls refused as they are parsed "
            f"({s['grpc_flood_requests_per_s']} requests/s). 127.0.0.1; per-peer limit: "
            f"{s['max_rate_per_peer'] or 'none'}",
            "",
            *(
                f"  {label:<44} {s[key]:>8}" + (f"  (target {s['target']})" if key == KEY else "")
                for label, key in ROWS
            ),
            "",
            "OK" if ok else "FINDINGS (see above)",
        ]
    )


def hog_main(share: float, seconds: float) -> int:
    """A hog's process: burn ``share`` of one core for ``seconds``, spinning while its CPU time is behind
    ``share`` of the time elapsed and sleeping a tick while ahead (so it burns what was asked whatever
    else the machine runs)."""
    started = time.monotonic()
    cpu0 = time.process_time()
    spins = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if time.process_time() - cpu0 < share * elapsed:
            for _ in range(1000):
                spins += 1
        else:
            time.sleep(HOG_TICK_S)
    print(json.dumps({"spins": spins, "cpu_s": round(time.process_time() - cpu0, 3)}))
    return 0


def grpc_flood_main(target: str, rate: float, seconds: float, threads: int) -> int:
    """Floor 2's process: send ``target``, ``rate`` times a second in all from ``threads`` threads, an
    Exchange call whose request is not even an ExchangeRequest: bob's gRPC server takes it, hands it
    to a worker thread, and his transport refuses it INVALID_ARGUMENT before any check of a2a-coop's
    runs (what every request costs him); print how many were sent."""
    channel = grpc.insecure_channel(target)
    call = channel.unary_unary(
        f"/{COOPERATION_SERVICE}/Exchange", request_serializer=None, response_deserializer=None
    )
    sent = Counter[int]()
    started = time.monotonic()

    def paced(k: int) -> None:
        gap = threads / rate if rate else 0.0
        at = started + k * gap / threads
        while (now := time.monotonic()) < started + seconds:
            if now < at:
                time.sleep(at - now)
            with contextlib.suppress(grpc.RpcError):
                call(NOT_A_REQUEST, timeout=DEFAULT_TIMEOUT_S)
            sent[k] += 1
            at += gap

    workers = [threading.Thread(target=paced, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(seconds + 30)
    channel.close()
    print(json.dumps({"sent": sum(sent.values())}))
    return 0


def flood_main(
    target: str, directory: Path, bob: str, seconds: float, threads: int, *, kinds: Sequence[str] = KINDS
) -> int:
    """Mallory's process: flood ``target`` (bob, whose did is ``bob``) for ``seconds``; print what she
    sent and what was answered wrongly."""
    from a2a_coop.runtime.keyfile import read_key_file
    from a2a_coop.runtime.node import read_envelope_file

    peer = Peer(
        read_key_file(directory / "mallory.key"), read_envelope_file(directory / "mallory.mandate.json")
    )
    offers = [bytes.fromhex(h) for h in json.loads((directory / "alice-offers.json").read_text())]
    from a2a_coop.protocol.statements import verify_statement

    alice_offers = [verify_statement(e) for e in offers]
    with CooperationClient(target) as client:
        mallory = Mallory(peer, client, bob, alice_offers)
        mallory.kinds = kinds
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


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kinds {unknown}; choose among {', '.join(KINDS)}")
    return kinds


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
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"rounds of the four phases, interleaved (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=KINDS,
        help=f"what mallory sends, in turn, comma-separated (default: all of {','.join(KINDS)})",
    )
    parser.add_argument("--flood", nargs=3, metavar=("TARGET", "DIR", "DID"), help=argparse.SUPPRESS)
    parser.add_argument("--hog", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--grpc-flood", nargs=2, metavar=("TARGET", "RATE"), help=argparse.SUPPRESS)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.flood:
        target, directory, bob = args.flood
        return flood_main(target, Path(directory), bob, args.seconds, args.threads, kinds=args.kinds)
    if args.grpc_flood:
        return grpc_flood_main(args.grpc_flood[0], float(args.grpc_flood[1]), args.seconds, args.threads)
    if args.hog is not None:
        return hog_main(args.hog, args.seconds)
    with tempfile.TemporaryDirectory(prefix="a2acoop-hostile-") as tmp:
        summary = run(args.seconds, args.threads, Path(tmp), args.max_rate, args.rounds, kinds=args.kinds)
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    ok = summary["target_met"] and not summary["wrongly_answered"] and not summary["honest_failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
