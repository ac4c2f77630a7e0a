"""Offline conformance through an adapter vs in process: ``python -m benchmarks offline``.

Two series over every vector file of conformance/vectors/ (about 2,500 vectors), in the same run:

* ``adapter``: :func:`conformance.offline.run` with the reference adapter
  (``python -m conformance.adapter``): a subprocess, its start-up and hello, one JSON request and
  answer per vector, the suite's judging -- what an implementer's CI pays;
* ``in process``: :func:`a2a_coop.vectors.run_vectors` over the same vectors, already loaded: the
  verification work alone, the floor for the adapter series.

Rounds alternate the order of the two series. Reported (median over rounds): ``offline_run_s`` (the
issue's "a few seconds", judged as < 5 s), ``inprocess_s`` and ``offline_vs_inprocess`` (the price
of the subprocess and the protocol). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Final

from a2a_coop.vectors import load_vector_file, run_vectors
from benchmarks._stats import row, stats
from conformance import offline

TARGET_S: Final = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks offline", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="CI smoke: canaries.json only, one round")
    args = parser.parse_args(argv)
    paths = offline.default_vector_files()
    if args.quick:
        paths, args.rounds = [p for p in paths if p.name == "canaries.json"], 1
    vectors = [v for p in paths for v in load_vector_file(p)]
    adapter = [sys.executable, "-m", "conformance.adapter"]
    series: dict[str, list[float]] = {"adapter": [], "inprocess": []}
    for r in range(args.rounds):
        for name in ("adapter", "inprocess") if r % 2 == 0 else ("inprocess", "adapter"):
            started = time.perf_counter()
            if name == "adapter":
                report = offline.run(adapter, paths)
                assert report.ok and report.count("PASS") == len(vectors), "the reference adapter must pass"
            else:
                assert all(o.passed for o in run_vectors(vectors))
            series[name].append(time.perf_counter() - started)
    ratios = [a / b for a, b in zip(series["adapter"], series["inprocess"], strict=True)]
    quick = " (QUICK: canaries.json only, figures meaningless)" if args.quick else ""
    print(f"offline conformance: {len(vectors)} vectors in {len(paths)} files, {args.rounds} rounds{quick}")
    print(f"  {'seconds':<40}{'median':>12}{'min':>12}{'max':>12}")
    print(row("through the reference adapter", stats(series["adapter"], 3), ".3f"))
    print(row("in process (run_vectors)", stats(series["inprocess"], 3), ".3f"))
    print(row("adapter / in process", stats(ratios, 2), ".2f"))
    result = {
        "benchmark": "offline",
        "quick": args.quick,
        "vectors": len(vectors),
        "offline_run_s": stats(series["adapter"], 3)["median"],
        "inprocess_s": stats(series["inprocess"], 3)["median"],
        "offline_vs_inprocess": stats(ratios, 2)["median"],
        "target_s": TARGET_S,
        "meets_target": stats(series["adapter"], 3)["median"] < TARGET_S,
    }
    print(json.dumps(result))
    return 0
