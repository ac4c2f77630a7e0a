"""Dispatcher: ``python -m benchmarks NAME [options]``; ``--help`` lists them (as does no argument,
which is a usage error, exit 2).

To add a benchmark, write ``benchmarks/<name>.py`` with ``main(argv: list[str]) -> int``
and add one line to :data:`BENCHMARKS`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

from benchmarks._dispatch import Dispatcher

# name -> (module, one-line description). Modules are imported only when run.
BENCHMARKS: Final[dict[str, tuple[str, str]]] = {
    "envelope": (
        "benchmarks.envelope",
        "verify_statement / sign_statement on an Offer vs raw PyNaCl Ed25519 (verify_ratio, sign_ratio)",
    ),
    "journal": (
        "benchmarks.journal",
        "fsync'd Journal.record_outgoing appends vs raw SQLite WAL inserts (journal_vs_sqlite)",
    ),
    "bridge": (
        "benchmarks.bridge",
        "Exchange RPC/s: trio bridge vs grpc.aio, 32 in flight, sync sequential, and what handing each "
        "call to a trio loop costs (bridge_vs_aio, crossing_vs_sync_seq)",
    ),
    "trade": (
        "benchmarks.trade",
        "bonded trades/s over gRPC vs raw grpcio echo of its RPCs; no-protocol floor (trade_vs_echo)",
    ),
    "memory": (
        "benchmarks.memory",
        "peer RSS idle and with 10k open negotiations, in a fresh process (rss_idle_mb, rss_10k_delta_mb)",
    ),
    "a2a": (
        "benchmarks.a2a",
        "trades via stock a2a-sdk (gRPC and JSON-RPC bindings) vs CooperationService (coop_vs_a2a_sdk_trade)",
    ),
    "scaling": (
        "benchmarks.scaling",
        "verify us/statement at 1k/10k/100k (trades, live offers, open contracts); escrow submit "
        "with 10k unrelated contracts (per_stmt_ratio_100k_vs_1k, escrow_submit_ms_*)",
    ),
    "offline": (
        "benchmarks.offline",
        "every vector file through the reference offline adapter vs in process (offline_run_s)",
    ),
    "reputation": (
        "benchmarks.reputation",
        "trust aggregation (Beta per pair, EigenTrust) over 10k/100k/1M ratings among 10k principals "
        "vs a bare sparse power iteration (s_10k, s_100k, s_1m)",
    ),
    "conformance": (
        "benchmarks.conformance",
        "the live conformance suite against a reference peer process (full_run_s, slowest_case_s, cases, "
        "mutant_kill_rate)",
    ),
    "answer_flood": (
        "benchmarks.answer_flood",
        "one key's 1,000 answers to a cut-off Counter in chain order, reversed, shuffled (--js: the JS "
        "verifier's adapter): CPU s each, reverse_vs_forward_cpu",
    ),
    "js_rederive": (
        "benchmarks.js_rederive",
        "the JS verifier over N trades whose escrow's late Stamp takes back a cut-back contract "
        "(NEG-021 (d), witnessCutOff): seconds, ms per trade (--verifier: an older copy, before/after; "
        "--exclusive-keys, --hand-overs, --ratings: the shapes that exercise NEG-009, ESC-022, SPEC 10.2)",
    ),
    "population": (
        "benchmarks.population",
        "hosted Axelrod strategies trading: model mode vs axelrod.Match, crypto mode vs raw Ed25519, "
        "1000 agents x 100 rounds, Moran vs axelrod.MoranProcess (needs extra sim)",
    ),
}


DISPATCHER: Final = Dispatcher(
    "python -m benchmarks",
    "benchmark",
    BENCHMARKS,
    "Each prints a table and, as its last line, one JSON object.",
)


def main(argv: Sequence[str] | None = None) -> int:
    return DISPATCHER.main(argv)


if __name__ == "__main__":
    sys.exit(main())
