"""Resident memory of a peer, idle and with 10k open negotiations: ``python -m benchmarks memory``.

Everything is measured in a FRESH child process (``python -m benchmarks.memory
--child ...``), so nothing this process allocated (key generation, signing the
offers) pollutes the figures. The child reads its RSS (``VmRSS`` from
``/proc/self/status``, or psutil when /proc is missing) after ``gc.collect()``
at each step:

1. ``python``: the bare interpreter with the harness's stdlib modules;
2. ``imports``: after importing :mod:`a2a_coop.runtime.node`, what ``a2a-coop serve``
   loads (the core, the journal, msgpack, SQLite, grpcio and protobuf);
3. ``idle`` (the headline ``rss_idle_mb``, target < 80 MB): after constructing
   one :class:`~a2a_coop.runtime.peer.Peer` (its key, mandate, an escrow's mandate as
   context, default strategy) with a journal: an SQLite file in a temporary
   directory, WAL, ``synchronous=FULL``, the production durability;
4. ``open``: after the peer has received N offers (default 10,000) from
   another party's key, each in its own negotiation, with bonds and an escrow,
   and answered every one through :meth:`Peer.exchange` (verified, accepted by
   the strategy, the Accept signed and everything journaled), so N
   negotiations sit open in the peer's verifier in state ACCEPTED (waiting for
   bonds). ``rss_10k_delta_mb`` = open - idle (target < 200 MB), scaled
   linearly to 10k when N differs (``--quick``; ``extrapolated`` says so);
5. ``serving`` (information only): after also starting a gRPC server for the peer.

The offers are signed by this process beforehand and streamed to the child
from a file, one at a time.

Then, over a long life (``rss_after_10k_settled_mb``, ``rss_after_100k_settled_mb`` and their ratio,
target <= 1.2, issue 16): a second fresh child builds Alice and Bob, each a Peer with its own journal,
and has them settle trades one after another *in-process* -- Alice proposes, Bob answers through
:meth:`Peer.exchange`, everything verified, signed and journaled as over gRPC, but without a transport
(the memory in question is the peers'; the transport holds none per trade). Each trade is unbonded
(no escrow) and ends FULFILLED, so each peer forgets it once durable (a2a_coop.protocol.archive). The
child reads its RSS after each checkpoint (``--settled 10000,100000`` by default). Those journals use
``durability="normal"`` (fsync'd at checkpoints, not at each commit): what is measured is memory, and
a fsync per commit would make 100k trades take hours on a shared machine. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

NAME: Final = "memory"
IDLE_TARGET_MB: Final = 80.0
DELTA_TARGET_MB: Final = 200.0
DEFAULT_NEGOTIATIONS: Final = 10_000
QUICK_NEGOTIATIONS: Final = 300
PER_TARGET: Final = 10_000  # rss_10k_delta_mb is for this many negotiations
SETTLED_POINTS: Final = (10_000, 100_000)
QUICK_SETTLED_POINTS: Final = (20, 60)
SETTLED_RATIO_TARGET: Final = 1.2
OFFER_TTL_MS: Final = 3_600_000
ROOT: Final = Path(__file__).resolve().parent.parent
RECORD: Final = struct.Struct("<I")
MB: Final = 1 << 20


def rss_bytes() -> int:
    """This process's resident set size now."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        psutil = importlib.import_module("psutil")  # optional; never a dependency
    except ImportError:
        raise RuntimeError("no /proc/self/status and no psutil: cannot read RSS") from None
    return int(psutil.Process().memory_info().rss)


def rss_source() -> str:
    return "/proc/self/status VmRSS" if Path("/proc/self/status").exists() else "psutil"


def settled_rss() -> int:
    gc.collect()
    return rss_bytes()


# --- the parent: keys, mandates and offers ------------------------------------------------------


def prepare(directory: Path, negotiations: int) -> None:
    """Keys and mandates (setup.json) and ``negotiations`` signed offers from Bob to Alice (offers.bin)."""
    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.runtime.node import KeySigner
    from benchmarks.trade import make_proposal, make_setup

    setup = make_setup(directory / "keys")
    setup.save(directory / "setup.json")
    bob = KeySigner(setup.key("bob"))
    mandate = verify_statement(setup.mandates["bob"]).digest
    alice = setup.did("alice")
    proposal = make_proposal(setup)
    with open(directory / "offers.bin", "wb") as out:
        for _ in range(negotiations):
            vs = bob.sign(
                "offer",
                proposal,
                audience=alice,
                mandate=mandate,
                ttl_ms=OFFER_TTL_MS,
            )
            out.write(RECORD.pack(len(vs.envelope)) + vs.envelope)


def read_offers(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while head := f.read(RECORD.size):
            (size,) = RECORD.unpack(head)
            yield f.read(size)


# --- the child: the measurement -------------------------------------------------------------------


def child(directory: Path) -> dict[str, Any]:
    """Measure, step by step; return the raw figures (bytes, seconds, counts)."""
    rss: dict[str, int] = {"python": settled_rss()}

    from a2a_coop.runtime import node  # noqa: F401  # what a serving peer loads

    rss["imports"] = settled_rss()

    from a2a_coop.protocol.identity import Keypair
    from a2a_coop.protocol.negotiation import State
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.peer import Peer

    doc = json.loads((directory / "setup.json").read_text())
    seed = bytes.fromhex(doc["seeds"]["alice"])
    mandates = {k: bytes.fromhex(v) for k, v in doc["mandates"].items()}
    journal_path = directory / "alice.db"
    journal = Journal.open(journal_path)
    # No cap on the negotiations one counterparty keeps open: holding many open is what is measured.
    peer = Peer(
        Keypair.from_seed(seed),
        mandates["alice"],
        journal=journal,
        context=[mandates["escrow"]],
        max_open_per_counterparty=0,
    )
    rss["idle"] = settled_rss()

    context = [mandates["bob"]]  # what Bob's client sends with each statement
    start = time.perf_counter()
    n = 0
    for envelope in read_offers(directory / "offers.bin"):
        peer.exchange(envelope, context)
        n += 1
    seconds = time.perf_counter() - start
    rss["open"] = settled_rss()

    states = peer.status()["negotiations"]
    if states[State.ACCEPTED.value] + states[State.PROPOSED.value] != n:
        raise RuntimeError(f"expected {n} open negotiations, found {states}")

    from a2a_coop.runtime.node import PeerNode
    from a2a_coop.transport import serve

    server = serve(PeerNode(peer, journal), None)
    rss["serving"] = settled_rss()
    server.stop(None)
    journal_bytes = sum(p.stat().st_size for p in directory.glob("alice.db*"))
    journal.close()
    return {
        "rss": rss,
        "negotiations": n,
        "states": {k: v for k, v in states.items() if v},
        "seconds": seconds,
        "journal_bytes": journal_bytes,
    }


def settled_child(directory: Path, points: Sequence[int]) -> dict[str, Any]:
    """Alice and Bob settle trades in-process; RSS (bytes) after each count in ``points``."""
    from a2a_coop._proto.a2acoop.v1 import trade_pb2
    from a2a_coop.protocol.negotiation import State
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.peer import Peer, drive
    from benchmarks.trade import Setup, make_proposal

    setup = Setup.load(directory / "setup.json")
    proposal = make_proposal(setup)
    proposal.terms.CopyFrom(trade_pb2.Terms(currency="credit"))  # unbonded: no escrow
    peers = {
        name: Peer(
            setup.key(name),
            setup.mandates[name],
            journal=Journal.open(directory / f"settled-{name}.db", durability="normal"),
        )
        for name in ("alice", "bob")
    }
    alice, bob = peers["alice"], peers["bob"]
    rss: dict[str, int] = {"start": settled_rss()}
    settled, start = 0, time.perf_counter()
    for point in sorted(points):
        while settled < point:
            first = alice.propose(bob.did, proposal)
            drive(alice, bob.exchange, first)
            neg = bob.verifier.negotiations.by_id.get(first.header.negotiation_id)
            if neg is not None and neg.state is not State.FULFILLED:
                raise RuntimeError(f"trade ended {neg.state}, not FULFILLED")
            settled += 1
        rss[str(point)] = settled_rss()
    seconds = time.perf_counter() - start
    held = {name: len(p.verifier.statements) for name, p in peers.items()}
    forgotten = {name: p.forgotten for name, p in peers.items()}
    for p in peers.values():
        assert p.journal is not None
        p.journal.close()  # type: ignore[attr-defined]
    return {"rss": rss, "settled": settled, "seconds": seconds, "held": held, "forgotten": forgotten}


def run_settled(directory: Path, points: Sequence[int]) -> dict[str, Any]:
    """The long-life figures, from a fresh child."""
    from benchmarks.trade import make_setup

    make_setup(directory / "keys").save(directory / "setup.json")
    raw = run_child(directory, "--settled-child", ",".join(str(p) for p in points))
    rss = raw["rss"]
    lo, hi = min(points), max(points)
    out: dict[str, Any] = {
        f"rss_after_{_k(p)}_settled_mb": round(rss[str(p)] / MB, 1) for p in sorted(points)
    }
    ratio = rss[str(hi)] / rss[str(lo)]
    out.update(
        {
            "settled_points": sorted(points),
            f"settled_{_k(hi)}_vs_{_k(lo)}": round(ratio, 3),
            "settled_ratio_target": SETTLED_RATIO_TARGET,
            "settled_ratio_target_met": ratio <= SETTLED_RATIO_TARGET,
            "settled_bytes_per_trade": round((rss[str(hi)] - rss[str(lo)]) / (hi - lo)),
            "settled_trades_per_s": round(raw["settled"] / raw["seconds"], 1),
            "settled_held_statements": raw["held"],
            "settled_forgotten_negotiations": raw["forgotten"],
        }
    )
    return out


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_child(directory: Path, *flags: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *(flags or ("--child",)), str(directory)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        text=True,
        timeout=6 * 3600,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(negotiations: int, directory: Path) -> dict[str, Any]:
    prepare(directory, negotiations)
    directory.mkdir(parents=True, exist_ok=True)
    raw = run_child(directory)
    rss = raw["rss"]
    n = raw["negotiations"]
    delta = rss["open"] - rss["idle"]
    per_negotiation = delta / n
    delta_10k = per_negotiation * PER_TARGET
    idle_mb = rss["idle"] / MB
    return {
        "benchmark": NAME,
        "rss_idle_mb": round(idle_mb, 1),
        "rss_10k_delta_mb": round(delta_10k / MB, 1),
        "bytes_per_negotiation": round(per_negotiation),
        "extrapolated": n != PER_TARGET,
        "negotiations": n,
        "rss_python_mb": round(rss["python"] / MB, 1),
        "rss_imports_mb": round((rss["imports"] - rss["python"]) / MB, 1),
        "rss_peer_mb": round((rss["idle"] - rss["imports"]) / MB, 1),
        "rss_open_mb": round(rss["open"] / MB, 1),
        "rss_grpc_server_mb": round((rss["serving"] - rss["open"]) / MB, 1),
        "states": raw["states"],
        "negotiations_per_s": round(n / raw["seconds"], 1),
        "journal_bytes_per_negotiation": round(raw["journal_bytes"] / n),
        "idle_target_mb": IDLE_TARGET_MB,
        "delta_target_mb": DELTA_TARGET_MB,
        "idle_target_met": idle_mb < IDLE_TARGET_MB,
        "delta_target_met": delta_10k / MB < DELTA_TARGET_MB,
        "env": {
            "python": platform.python_version(),
            "rss_source": rss_source(),
            "journal": "SQLite file in a temporary directory, WAL, synchronous=FULL",
            "measured_in": "a fresh child process",
        },
    }


def table(result: dict[str, Any]) -> str:
    n = result["negotiations"]
    scaled = f" (measured on {n:,}, scaled to 10k)" if result["extrapolated"] else ""
    rows = [
        ("bare python + harness stdlib", f"{result['rss_python_mb']:.1f} MB"),
        ("+ import a2a_coop.runtime.node (grpc, protobuf, sqlite)", f"+{result['rss_imports_mb']:.1f} MB"),
        ("+ one Peer with a journal", f"+{result['rss_peer_mb']:.1f} MB"),
        ("= rss_idle_mb", f"{result['rss_idle_mb']:.1f} MB"),
        (f"with {n:,} open negotiations", f"{result['rss_open_mb']:.1f} MB"),
        (f"rss_10k_delta_mb{scaled}", f"{result['rss_10k_delta_mb']:.1f} MB"),
        ("per open negotiation", f"{result['bytes_per_negotiation']:,} B"),
        ("+ a gRPC server for the peer (information)", f"+{result['rss_grpc_server_mb']:.1f} MB"),
        ("offers answered per second (fsync'd)", f"{result['negotiations_per_s']:,.0f}"),
        ("journal on disk per negotiation", f"{result['journal_bytes_per_negotiation']:,} B"),
    ]
    states = ", ".join(f"{k} {v:,}" for k, v in result["states"].items())
    lines = [
        f"memory benchmark: one Peer in a fresh child process; RSS from {result['env']['rss_source']} "
        f"after gc.collect(); python {result['env']['python']}",
        f"journal: {result['env']['journal']}; negotiations: offers from another party's key with bonds "
        f"and an escrow, each answered (states: {states})",
        "",
    ]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value:>12}" for label, value in rows]
    points = result.get("settled_points")
    if points:
        lo = points[0]
        lines += [
            "",
            "over a long life (Alice and Bob settle unbonded trades in-process; see the docstring):",
        ]
        lines += [
            f"  RSS after {p:>7,} settled  {result[f'rss_after_{_k(p)}_settled_mb']:>9.1f} MB" for p in points
        ]
        lines += [
            f"  per settled trade beyond {lo:,}: {result['settled_bytes_per_trade']:,} B; "
            f"{result['settled_trades_per_s']:.0f} trades/s; statements held at the end: "
            f"{result['settled_held_statements']}",
        ]
    idle = "met" if result["idle_target_met"] else "NOT met"
    delta = "met" if result["delta_target_met"] else "NOT met"
    lines += [
        "",
        f"HEADLINE rss_idle_mb {result['rss_idle_mb']:.1f} (target < {IDLE_TARGET_MB:.0f}: {idle}); "
        f"rss_10k_delta_mb {result['rss_10k_delta_mb']:.1f} (target < {DELTA_TARGET_MB:.0f}: {delta})",
    ]
    if points:
        key = f"settled_{_k(points[-1])}_vs_{_k(points[0])}"
        met = "met" if result["settled_ratio_target_met"] else "NOT met"
        lines.append(f"HEADLINE {key} {result[key]:.3f} (target <= {SETTLED_RATIO_TARGET}: {met})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks memory",
        description="RSS of one peer idle and with N open negotiations, measured in a fresh process.",
    )
    parser.add_argument(
        "--negotiations",
        type=int,
        default=None,
        help=f"open negotiations to hold (default {DEFAULT_NEGOTIATIONS:,})",
    )
    parser.add_argument(
        "--dir",
        default=None,
        help="where to make the temporary directory (default: the system's temporary directory)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_NEGOTIATIONS} negotiations, scaled to 10k (figures rough)",
    )
    parser.add_argument(
        "--settled",
        default=None,
        help="settled-trade counts at which to read RSS, comma separated (default 10000,100000; "
        "--quick: 20,60); 0 skips the long-life part",
    )
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--settled-child", nargs=2, metavar=("POINTS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return 0
    if args.settled_child:
        points_arg, directory = args.settled_child
        print(json.dumps(settled_child(Path(directory), [int(p) for p in points_arg.split(",")])))
        return 0
    try:
        points = (
            [int(p) for p in args.settled.split(",") if p.strip()]
            if args.settled is not None
            else list(QUICK_SETTLED_POINTS if args.quick else SETTLED_POINTS)
        )
    except ValueError:
        parser.error("--settled takes counts separated by commas, e.g. 10000,100000")
    if points == [0]:
        points = []
    if points and (len(points) < 2 or min(points) < 1):
        parser.error("--settled needs two or more positive counts")
    n = (
        args.negotiations
        if args.negotiations is not None
        else (QUICK_NEGOTIATIONS if args.quick else DEFAULT_NEGOTIATIONS)
    )
    if n < 1:
        parser.error("--negotiations must be positive")
    with tempfile.TemporaryDirectory(prefix="a2a-coop-memory-bench-", dir=args.dir) as tmp:
        result = run(n, Path(tmp) / "open")
        if points:
            result.update(run_settled(Path(tmp) / "settled", points))
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
