"""Reputation aggregation at scale: ``python -m benchmarks reputation``.

Why: a viewer recomputes its trust view (SPEC 10.3: a Beta per pair with decay,
then EigenTrust from its seeds) whenever its evidence changes, so the cost must
stay linear in the attestations it holds, or whoever can sign cheap bonded trades
can stall every viewer. Issue 12's targets: 100k attestations in under 1 s, and
1M in under 15 x the 100k time.

Workload: 10,000 principals; N ratings (10k, 100k, 1M) with rater and subject
drawn at random (subjects skewed: a few principals trade a lot), stakes 1..1000,
outcome scores from {1, 0.5, 0} (mostly 1), settlement times over the last year;
10 seeds. Timed: :class:`~a2a_coop.protocol.trust.RatingTable` from the columns
plus :func:`~a2a_coop.protocol.trust.aggregate` (median of 3 runs). The ratings are generated before timing.

Baseline, measured in the same run on the same data: the floor any EigenTrust
over these ratings pays -- a scipy CSR matrix built from the (rater, subject)
pairs (which sums duplicates) and as many sparse matrix-vector products as the
view iterated. ``s_*`` over ``baseline_s_*`` is what the rest (decay, Beta per
pair, local trust, scores) costs.

``--quick`` (CI smoke) runs 1k/10k/20k ratings among 1k principals; its figures
are meaningless. Progress to stderr; the table, then one JSON object as the last
line (keys ``s_10k``, ``s_100k``, ``s_1m``, ``ratio_1m_vs_100k``), to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix

from a2a_coop.protocol.trust import DAY_MS, RatingTable, TrustParams, aggregate

NOW_MS = 1_767_225_600_000
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
QUICK_SIZES = {"10k": 1_000, "100k": 10_000, "1m": 20_000}


def workload(n_principals: int, n_ratings: int, seed: int = 12) -> dict[str, np.ndarray]:
    """Random ratings among ``n_principals`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    rater = rng.integers(0, n_principals, n_ratings)
    subject = (rng.pareto(1.5, n_ratings) * n_principals / 20).astype(np.int64) % n_principals
    clash = subject == rater
    subject[clash] = (subject[clash] + 1) % n_principals
    return {
        "rater": rater,
        "subject": subject,
        "stake": rng.integers(1, 1001, n_ratings).astype(np.float64),
        "score": rng.choice([1.0, 0.5, 0.0], n_ratings, p=[0.85, 0.1, 0.05]),
        "settled_ms": NOW_MS - rng.integers(0, 365 * DAY_MS, n_ratings),
    }


def run_once(principals: list[str], cols: dict[str, np.ndarray], seeds: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    table = RatingTable(principals, **cols)
    view = aggregate(table, seeds, NOW_MS, TrustParams())
    return time.perf_counter() - t0, view.iterations


def baseline_once(n: int, cols: dict[str, np.ndarray], iterations: int) -> float:
    """CSR build from the pairs plus ``iterations`` sparse products: the EigenTrust floor."""
    t0 = time.perf_counter()
    m = csr_matrix((cols["stake"], (cols["subject"], cols["rater"])), shape=(n, n))
    t = np.full(n, 1.0 / n)
    for _ in range(iterations):
        t = 0.85 * (m @ t) + 0.15 / n
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks reputation", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes, meaningless figures")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per size (median)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    n_principals = 1_000 if args.quick else 10_000
    sizes = QUICK_SIZES if args.quick else SIZES
    principals = [f"did:key:p{i}" for i in range(n_principals)]
    seeds = principals[:10]
    result: dict[str, object] = {"benchmark": "reputation", "principals": n_principals, "quick": args.quick}
    rows = []
    for label, n in sizes.items():
        print(f"reputation: {n} ratings ...", file=sys.stderr)
        cols = workload(n_principals, n)
        repeat = max(1, args.repeat)
        timed = [run_once(principals, cols, seeds) for _ in range(repeat)]
        s = statistics.median(t for t, _ in timed)
        iterations = timed[0][1]
        base = statistics.median(baseline_once(n_principals, cols, iterations) for _ in range(repeat))
        result[f"s_{label}"] = round(s, 6)
        result[f"baseline_s_{label}"] = round(base, 6)
        result[f"iterations_{label}"] = iterations
        rows.append((label, n, s, base, iterations))
    ratio = float(result["s_1m"]) / float(result["s_100k"])  # type: ignore[arg-type]
    result["ratio_1m_vs_100k"] = round(ratio, 2)
    result["targets_met"] = bool(float(result["s_100k"]) < 1.0 and ratio < 15)  # type: ignore[arg-type]
    result["python"] = platform.python_version()
    print(
        f"reputation aggregation, {n_principals} principals, 10 seeds"
        + (" (QUICK: meaningless)" if args.quick else "")
    )
    print(f"  {'ratings':>10} {'aggregate s':>12} {'baseline s':>12} {'vs base':>8} {'iters':>6}")
    for _label, n, s, base, iterations in rows:
        print(f"  {n:>10} {s:>12.4f} {base:>12.4f} {s / base:>8.2f} {iterations:>6}")
    print(f"  s_1m / s_100k = {ratio:.2f} (target < 15); s_100k target < 1 s")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
