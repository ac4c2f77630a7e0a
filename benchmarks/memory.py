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
a fsync per commit would make 100k trades take hours on a shared machine.

And an escrow over a long life (``escrow_rss_after_10k_settled_mb``, ``escrow_rss_after_100k_settled_mb``,
their ratio against the same 1.2 target, and ``escrow_settled_bytes_per_trade``): a third fresh child
runs an :class:`~a2a_coop.runtime.node.EscrowNode` (its journal ``durability="normal"``, as above) and
has two parties (:class:`a2a_coop.testing.Party`, plain signers on a fixed clock that moves 3 s per
trade) settle bonded trades through it *in-process*, as the gRPC service would call it: each trade is
two Submits -- the Offer and its Accept (Stamp, two BondLocks), then both Deliveries and both Receipts
(Stamp, two Releases) -- and a tick. The child reads its RSS after each checkpoint
(``--escrow-settled 10000,100000`` by default; ``--quick``: 100,400).

And the restart after a long life (``restart_s_after_10k_settled``, ``restart_s_after_100k_settled``, and the
escrow's ``escrow_restart_s_after_...``): at each checkpoint the settling child copies the journal (Bob's, the
escrow's) aside with SQLite's backup API, and once it is done a fresh child per copy opens it as a served node
would -- :meth:`PeerNode.open <a2a_coop.runtime.node.PeerNode.open>` (journal ``durability="full"``), an
:class:`~a2a_coop.runtime.node.EscrowNode` on the settling clock's last reading -- and answers one status or
balance query: the seconds (wall and CPU) from the call to the answer, and the journal rows the open read.
Each copy is opened twice: from its snapshot (a2a_coop.runtime.snapshot), and replaying it all as before
snapshots (``restart_full_replay_...``, ``PeerNode.open(snapshot_every=0)``;
``escrow_restart_full_replay_...``, ``EscrowNode(snapshot_every=0)``). The settling child's Bob journals
snapshots as a served peer does (every 6,000 statements): a copy taken between two, as a kill -9 leaves
a journal, replays the statements after the last.
The last line printed is one JSON object.
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
ESCROW_SETTLED_POINTS: Final = (10_000, 100_000)
QUICK_ESCROW_SETTLED_POINTS: Final = (100, 400)
ESCROW_BOND: Final = 100
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
        pause = time.perf_counter()
        _snapshot(directory / "settled-bob.db", directory / f"restart-{point}" / "bob.db")
        start += time.perf_counter() - pause  # the copy is not a trade's time
    seconds = time.perf_counter() - start
    held = {name: len(p.verifier.statements) for name, p in peers.items()}
    forgotten = {name: p.forgotten for name, p in peers.items()}
    for p in peers.values():
        assert p.journal is not None
        p.journal.close()  # type: ignore[attr-defined]
    return {"rss": rss, "settled": settled, "seconds": seconds, "held": held, "forgotten": forgotten}


def _snapshot(source: Path, target: Path) -> None:
    """A consistent copy of the journal at ``source`` (open and written by this process) at ``target``."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def restart_child(role: str, directory: Path) -> dict[str, Any]:
    """Open the journal copied to ``directory`` as a served node would (``role``: "peer", Bob's, or
    "escrow"), and answer one query: the seconds from the call to the answer and the journal rows read."""
    from a2a_coop.runtime import journal as journal_module

    rows = {"n": 0}
    statements = journal_module.Journal.statements

    def counted(self: Any, **kw: Any) -> Iterator[tuple[int, str, bytes]]:
        for row in statements(self, **kw):
            rows["n"] += 1
            yield row

    journal_module.Journal.statements = counted  # type: ignore[method-assign]
    if role in ("peer", "peer-full"):
        from a2a_coop.runtime import snapshot as snapshot_module
        from a2a_coop.runtime.node import PeerNode
        from benchmarks.trade import Setup

        setup = Setup.load(directory.parent / "setup.json")
        key, mandate = setup.key("bob"), setup.mandates["bob"]
        # "peer-full": as before snapshots (a2a_coop.runtime.snapshot), the whole journal replayed.
        every = 0 if role == "peer-full" else snapshot_module.EVERY_ROWS
        start, cpu = time.perf_counter(), time.process_time()
        node = PeerNode.open(key, mandate, directory / "bob.db", snapshot_every=every)
        node.peer.status()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        node.journal.close()
    else:
        from a2a_coop.runtime import snapshot as snapshot_module
        from a2a_coop.runtime.node import EscrowNode
        from a2a_coop.testing import FixedClock, Party

        saved = json.loads((directory / "escrow.json").read_text())
        clock = FixedClock(saved["now_ms"])
        agent = Party("escrow", FixedClock())
        if agent.mandate_vs.envelope.hex() != saved["mandate"]:
            raise RuntimeError("the escrow's mandate is not the one its journal ran under")
        alice = Party("alice", FixedClock())
        start, cpu = time.perf_counter(), time.process_time()
        # "escrow-full": as before snapshots (a2a_coop.runtime.snapshot), the whole journal replayed.
        every = {"escrow-full": 0}.get(role, snapshot_module.EVERY_ROWS)
        escrow = EscrowNode(
            agent.agent.key,
            agent.mandate_vs.envelope,
            directory / "escrow.db",
            clock=lambda: clock.now_ms,
            durability="normal",
            snapshot_every=every,
        )
        escrow.get_balance(alice.did)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        escrow.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows_read": rows["n"]}


def run_restarts(directory: Path, role: str, points: Sequence[int], prefix: str) -> dict[str, Any]:
    """The restart figures of the journals the settling child copied aside, each from a fresh child; also
    with the whole journal replayed (``..._full_replay_...``: as before snapshots), from the same copy,
    the same run."""
    out: dict[str, Any] = {}
    roles = {"": role, "full_replay_": f"{role}-full"}
    for point in sorted(points):
        for kind, child_role in roles.items():
            raw = run_child(directory / f"restart-{point}", "--restart-child", child_role)
            out[f"{prefix}restart_{kind}s_after_{_k(point)}_settled"] = round(raw["seconds"], 3)
            out[f"{prefix}restart_{kind}cpu_s_after_{_k(point)}_settled"] = round(raw["cpu_seconds"], 3)
            out[f"{prefix}restart_{kind}rows_read_after_{_k(point)}_settled"] = raw["rows_read"]
    return out


def _long_life(prefix: str, rss: dict[str, int], points: Sequence[int]) -> dict[str, Any]:
    """The RSS after each checkpoint, the last over the first against the target, and the bytes a trade
    beyond the first, under keys that start with ``prefix`` (the peers' none, the escrow's ``escrow_``)."""
    lo, hi = min(points), max(points)
    ratio = rss[str(hi)] / rss[str(lo)]
    return {
        **{f"{prefix}rss_after_{_k(p)}_settled_mb": round(rss[str(p)] / MB, 1) for p in sorted(points)},
        f"{prefix}settled_points": sorted(points),
        f"{prefix}settled_{_k(hi)}_vs_{_k(lo)}": round(ratio, 3),
        f"{prefix}settled_ratio_target": SETTLED_RATIO_TARGET,
        f"{prefix}settled_ratio_target_met": ratio <= SETTLED_RATIO_TARGET,
        f"{prefix}settled_bytes_per_trade": round((rss[str(hi)] - rss[str(lo)]) / (hi - lo)),
    }


def run_settled(directory: Path, points: Sequence[int]) -> dict[str, Any]:
    """The long-life figures, from a fresh child."""
    from benchmarks.trade import make_setup

    make_setup(directory / "keys").save(directory / "setup.json")
    raw = run_child(directory, "--settled-child", ",".join(str(p) for p in points))
    out = _long_life("", raw["rss"], points)
    out.update(
        {
            "settled_trades_per_s": round(raw["settled"] / raw["seconds"], 1),
            "settled_held_statements": raw["held"],
            "settled_forgotten_negotiations": raw["forgotten"],
        }
    )
    out.update(run_restarts(directory, "peer", points, ""))
    return out


def escrow_settled_child(directory: Path, points: Sequence[int]) -> dict[str, Any]:
    """An EscrowNode (journal ``durability="normal"``) witnesses and settles bonded trades between two
    parties, submitted in-process; RSS (bytes) after each count in ``points``."""
    from a2a_coop.runtime.node import EscrowNode
    from a2a_coop.testing import FixedClock, Party

    clock = FixedClock()
    caps = {"budget_per_period": 10**15, "max_outstanding": 10**12}
    alice, bob = Party("alice", clock, caps), Party("bob", clock, caps)
    agent = Party("escrow", clock)
    node = EscrowNode(
        agent.agent.key,
        agent.mandate_vs.envelope,
        directory / "escrow.db",
        clock=lambda: clock.now_ms,
        durability="normal",
    )
    escrow = node.escrow
    for party in (alice, bob):
        node.deposit(party.did, 10**15)
    node.submit([*alice.setup, *bob.setup])
    rss: dict[str, int] = {"start": settled_rss()}
    settled, start = 0, time.perf_counter()
    cpu = time.process_time()
    for point in sorted(points):
        while settled < point:
            proposal = alice.proposal(issuer_bond=ESCROW_BOND, audience_bond=ESCROW_BOND, escrow=agent.did)
            offer = alice.offer(bob, proposal)
            clock.advance(1_000)
            accept = bob.accept(offer)
            locked = node.submit([offer.envelope, accept.envelope])
            clock.advance(1_000)
            d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
            r_bob, r_alice = bob.receipt(d_alice), alice.receipt(d_bob)
            released = node.submit([d_alice.envelope, d_bob.envelope, r_bob.envelope, r_alice.envelope])
            clock.advance(1_000)
            node.tick()
            # The Mandate, the Stamp, then two BondLocks; then two Releases: the trade is settled.
            if len(locked) != 4 or len(released) != 4:
                raise RuntimeError(f"trade {settled}: {len(locked)} and {len(released)} envelopes answered")
            settled += 1
        rss[str(point)] = settled_rss()
        pause, paused_cpu = time.perf_counter(), time.process_time()
        copy = directory / f"restart-{point}"
        _snapshot(directory / "escrow.db", copy / "escrow.db")
        (copy / "escrow.json").write_text(
            json.dumps({"mandate": agent.mandate_vs.envelope.hex(), "now_ms": clock.now_ms})
        )
        start += time.perf_counter() - pause  # the copy is not a trade's time
        cpu += time.process_time() - paused_cpu
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if escrow.open_contracts:
        raise RuntimeError(f"{escrow.open_contracts} contracts still open at the escrow")
    out = {
        "rss": rss,
        "settled": settled,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "held_statements": len(escrow.verifier.statements),
        "held_negotiations": len(escrow.verifier.negotiations.by_id),
        "forgotten": escrow.forgotten,
        "ledger_size": escrow.ledger_size,
        "journal_bytes": sum(p.stat().st_size for p in directory.glob("escrow.db*")),
    }
    node.close()
    return out


def run_escrow_settled(directory: Path, points: Sequence[int]) -> dict[str, Any]:
    """The escrow's long-life figures, from a fresh child."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = run_child(directory, "--escrow-settled-child", ",".join(str(p) for p in points))
    rss = raw["rss"]
    out = _long_life("escrow_", rss, points)
    out.update(
        {
            "escrow_rss_start_mb": round(rss["start"] / MB, 1),
            "escrow_settled_trades_per_s": round(raw["settled"] / raw["seconds"], 1),
            "escrow_settled_cpu_ms_per_trade": round(1000 * raw["cpu_seconds"] / raw["settled"], 3),
            "escrow_settled_held_statements": raw["held_statements"],
            "escrow_settled_held_negotiations": raw["held_negotiations"],
            "escrow_settled_forgotten_contracts": raw["forgotten"],
            "escrow_settled_ledger_size": raw["ledger_size"],
            "escrow_journal_bytes_per_trade": round(raw["journal_bytes"] / raw["settled"]),
        }
    )
    out.update(run_restarts(directory, "escrow", points, "escrow_"))
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
        lines += _restart_lines(result, "", "PeerNode.open of Bob's journal to its first status", points)
    escrow_points = result.get("escrow_settled_points")
    if escrow_points:
        lo = escrow_points[0]
        lines += [
            "",
            "an escrow over a long life (an EscrowNode settles bonded trades submitted in-process):",
            f"  RSS at start (journal open, parties funded)  {result['escrow_rss_start_mb']:>9.1f} MB",
        ]
        lines += [
            f"  RSS after {p:>7,} settled  {result[f'escrow_rss_after_{_k(p)}_settled_mb']:>9.1f} MB"
            for p in escrow_points
        ]
        lines += [
            f"  per settled trade beyond {lo:,}: {result['escrow_settled_bytes_per_trade']:,} B; "
            f"{result['escrow_settled_trades_per_s']:.0f} trades/s "
            f"({result['escrow_settled_cpu_ms_per_trade']:.2f} ms CPU each); held at the end: "
            f"{result['escrow_settled_held_statements']:,} statements, "
            f"{result['escrow_settled_held_negotiations']:,} negotiations "
            f"({result['escrow_settled_forgotten_contracts']:,} contracts forgotten); journal "
            f"{result['escrow_journal_bytes_per_trade']:,} B per trade",
        ]
        lines += _restart_lines(result, "escrow_", "EscrowNode open to its first balance", escrow_points)
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
    if escrow_points:
        key = f"escrow_settled_{_k(escrow_points[-1])}_vs_{_k(escrow_points[0])}"
        met = "met" if result["escrow_settled_ratio_target_met"] else "NOT met"
        lines.append(f"HEADLINE {key} {result[key]:.3f} (target <= {SETTLED_RATIO_TARGET}: {met})")
    return "\n".join(lines)


def _restart_lines(result: dict[str, Any], prefix: str, what: str, points: Sequence[int]) -> list[str]:
    """The restart figures under keys that start with ``prefix``: from the snapshot, then replaying all."""
    lines = []
    for kind, how in (("", "from its snapshot"), ("full_replay_", "replaying it all")):
        lines += [
            f"  restart ({what}, {how}) after {p:>7,} settled  "
            f"{result[f'{prefix}restart_{kind}s_after_{_k(p)}_settled']:>8.3f} s "
            f"({result[f'{prefix}restart_{kind}cpu_s_after_{_k(p)}_settled']:.3f} s CPU, "
            f"{result[f'{prefix}restart_{kind}rows_read_after_{_k(p)}_settled']:,} journal rows replayed)"
            for p in points
        ]
    return lines


def _points(
    parser: argparse.ArgumentParser, flag: str, given: str | None, default: Sequence[int]
) -> list[int]:
    """The counts of a ``--settled``-like option: two or more positive ones, or none for "0"."""
    try:
        points = [int(p) for p in given.split(",") if p.strip()] if given is not None else list(default)
    except ValueError:
        parser.error(f"{flag} takes counts separated by commas, e.g. 10000,100000")
    if points == [0]:
        return []
    if len(points) < 2 or min(points) < 1:
        parser.error(f"{flag} needs two or more positive counts")
    return points


def _csv(points: tuple[int, ...]) -> str:
    """Points as the options take them: 10000,100000."""
    return ",".join(map(str, points))


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
        help=f"settled-trade counts at which to read RSS, comma separated (default {_csv(SETTLED_POINTS)}; "
        f"--quick: {_csv(QUICK_SETTLED_POINTS)}); 0 skips the long-life part",
    )
    parser.add_argument(
        "--escrow-settled",
        default=None,
        help="settled bonded-trade counts at which to read the escrow's RSS, comma separated (default "
        f"{_csv(ESCROW_SETTLED_POINTS)}; --quick: {_csv(QUICK_ESCROW_SETTLED_POINTS)}); 0 skips the escrow "
        "part",
    )
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--settled-child", nargs=2, metavar=("POINTS", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--escrow-settled-child", nargs=2, metavar=("POINTS", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--restart-child", nargs=2, metavar=("ROLE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return 0
    if args.settled_child:
        points_arg, directory = args.settled_child
        print(json.dumps(settled_child(Path(directory), [int(p) for p in points_arg.split(",")])))
        return 0
    if args.restart_child:
        role, directory = args.restart_child
        print(json.dumps(restart_child(role, Path(directory))))
        return 0
    if args.escrow_settled_child:
        points_arg, directory = args.escrow_settled_child
        print(json.dumps(escrow_settled_child(Path(directory), [int(p) for p in points_arg.split(",")])))
        return 0
    settled_default = QUICK_SETTLED_POINTS if args.quick else SETTLED_POINTS
    points = _points(parser, "--settled", args.settled, settled_default)
    escrow_points = _points(
        parser,
        "--escrow-settled",
        args.escrow_settled,
        QUICK_ESCROW_SETTLED_POINTS if args.quick else ESCROW_SETTLED_POINTS,
    )
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
        if escrow_points:
            result.update(run_escrow_settled(Path(tmp) / "escrow-settled", escrow_points))
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
