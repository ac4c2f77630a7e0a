"""The live conformance suite's speed: ``python -m benchmarks conformance``.

Starts the reference peer (``a2a-coop serve --conformance-control``, so both roles run) as its own
process on 127.0.0.1
and runs the whole suite against it from this process, as ``a2a-coop
conformance`` would (``--rounds`` times, each with a fresh seed: fresh
identities on the same peer). Figures, medians over the rounds:

* ``full_run_s``: wall time of one full run (target < 30 s);
* ``slowest_case_s`` (and ``slowest_case``): the slowest single case in any
  round (target < 1 s);
* ``cases``: how many cases ran; ``levels``: their verdicts in the last round;
* baseline, measured in the same run: ``rpc_floor_s``, the time the same number
  of calls the suite made takes as bare ``GetCheckpoint`` round trips on the
  same channel, and ``full_vs_rpc_floor`` = full_run_s / rpc_floor_s (what the
  suite's own signing and checking cost over the wire's);
* ``mutant_kill_rate``: the share of fault-injected mutant servers the suite
  catches (exit 1), from the mutant harness when it is installed
  (:func:`mutant_kill_rate`), else null.

``--quick`` runs only the envelope cases once (for CI). The last line printed
is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FULL_RUN_TARGET_S = 30.0
SLOWEST_CASE_TARGET_S = 1.0


def mutant_kill_rate() -> float | None:
    """The mutant harness's kill rate, or None until it is wired in.

    The hook: a module ``conformance.mutants`` with a function ``kill_rate() -> float`` (it runs
    ``a2a-coop conformance --target {target}`` against every mutant server and counts exit 1).
    """
    try:
        harness = importlib.import_module("conformance.mutants")
    except ImportError:
        return None
    kill_rate = getattr(harness, "kill_rate", None)
    return float(kill_rate()) if callable(kill_rate) else None


def _one_run(
    target: str, case_ids: Sequence[str]
) -> tuple[float, list[tuple[str, float]], dict[str, int], int]:
    from conformance.suite import runner
    from conformance.suite.context import Session

    cases = runner.select(runner.load_cases(), ids=case_ids)
    session = Session(target, seed=secrets.token_hex(6))
    try:
        session.connect()
        started = time.perf_counter()
        run = runner.run(session, cases, replay_base=["a2a-coop", "conformance", "--target", target])
        took = time.perf_counter() - started
    finally:
        session.close()
    calls = sum(len(r.transcript) for r in run.results)
    return took, [(r.case.id, r.duration_s) for r in run.results], run.counts(), calls


def _rpc_floor(target: str, calls: int) -> float:
    from a2a_coop._proto.a2acoop.v1 import service_pb2, service_pb2_grpc
    from a2a_coop.transport.client import open_channel

    channel = open_channel(target)
    try:
        stub = service_pb2_grpc.CooperationServiceStub(channel)
        stub.GetCheckpoint(service_pb2.GetCheckpointRequest(), timeout=10)
        started = time.perf_counter()
        for _ in range(calls):
            stub.GetCheckpoint(service_pb2.GetCheckpointRequest(), timeout=10)
        return time.perf_counter() - started
    finally:
        channel.close()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks conformance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="full runs (default 3)")
    parser.add_argument("--quick", action="store_true", help="only the envelope cases, one round (CI)")
    args = parser.parse_args(argv)
    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
    from conformance.suite import runner

    all_ids = list(runner.load_cases())
    case_ids = [c for c in all_ids if c.startswith("env.")] if args.quick else all_ids
    rounds = 1 if args.quick else max(1, args.rounds)
    with tempfile.TemporaryDirectory(prefix="a2a-coop-bench-conformance-") as tmp:
        who = provision(Path(tmp), "reference")
        argv = ["serve", *who.files(), "--conformance-control"]  # both roles: the initiator cases too
        server = wait_listening(start_server("reference", argv, Path(tmp) / "peer.log"))
        try:
            runs = [_one_run(server.target, case_ids) for _ in range(rounds)]
            calls = runs[-1][3]
            floors = [_rpc_floor(server.target, calls) for _ in range(rounds)]
        finally:
            stop_process(server.popen)
    full = statistics.median(r[0] for r in runs)
    slowest_id, slowest = max((c for r in runs for c in r[1]), key=lambda c: c[1])
    floor = statistics.median(floors)
    levels = runs[-1][2]
    print(f"{'round':>5}  {'full run':>9}  {'cases':>5}  {'calls':>5}")
    for i, (took, per_case, _, n_calls) in enumerate(runs, 1):
        print(f"{i:>5}  {took:>8.2f}s  {len(per_case):>5}  {n_calls:>5}")
    print(
        f"slowest case: {slowest_id} {slowest * 1000:.0f} ms (target < {SLOWEST_CASE_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"full run: {full:.2f} s (target < {FULL_RUN_TARGET_S:.0f} s); "
        f"{calls} calls as bare GetCheckpoint: {floor:.2f} s"
    )
    print("levels: " + ", ".join(f"{n} {k}" for k, n in levels.items() if n))
    summary: dict[str, Any] = {
        "benchmark": "conformance",
        "full_run_s": round(full, 3),
        "slowest_case_s": round(slowest, 4),
        "slowest_case": slowest_id,
        "cases": len(case_ids),
        "levels": levels,
        "rpc_calls": calls,
        "rpc_floor_s": round(floor, 3),
        "full_vs_rpc_floor": round(full / floor, 2) if floor > 0 else None,
        "rounds": rounds,
        "full_run_target_met": full < FULL_RUN_TARGET_S,
        "slowest_case_target_met": slowest < SLOWEST_CASE_TARGET_S,
        "mutant_kill_rate": mutant_kill_rate(),
        "quick": args.quick,
    }
    print(json.dumps(summary))
    return 0
