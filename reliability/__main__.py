"""Dispatcher: ``python -m reliability NAME [options]``; ``--help`` lists them (as does no argument,
which is a usage error, exit 2): the same dispatcher as ``python -m benchmarks``
(:mod:`benchmarks._dispatch`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

from benchmarks._dispatch import Dispatcher

# name -> (module, one-line description). Modules are imported only when run.
CAMPAIGNS: Final[dict[str, tuple[str, str]]] = {
    "fuzz": (
        "reliability.fuzz",
        "structure-aware (hypothesis, from the .proto messages) and mutated inputs to every decoder and "
        "every RPC (inputs, crashes, hangs, untyped_errors)",
    ),
    "crash": (
        "reliability.crash",
        "SIGKILL the peer, the escrow and the client mid-trade, restart and resume (kills, lost, "
        "duplicated, double_signed, ledger_mismatches, stuck_trades)",
    ),
    "hostile": (
        "reliability.hostile",
        "honest trades while one hostile peer floods offers, replays, other audiences, accepts on "
        "another's behalf and garbage, beside two floors measured in the same run "
        "(honest_under_flood_ratio, honest_under_cpu_hog_ratio, honest_under_grpc_flood_ratio, "
        "wrongly_answered)",
    ),
    "load": (
        "reliability.load",
        "many client peers at once against one served peer, back-pressure retried (errors, p50_ms, "
        "p99_ms, trades_per_s, rss_mb)",
    ),
    "powerloss": (
        "reliability.powerloss",
        "cut the power at random commits: restart from the files as of the last fsync (cuts, "
        "double_signed, lost_after_ack)",
    ),
}


DISPATCHER: Final = Dispatcher(
    "python -m reliability",
    "campaign",
    CAMPAIGNS,
    "Each prints a table and, as its last line, one JSON object; RELIABILITY.md has the figures and the "
    "threat model.",
)


def main(argv: Sequence[str] | None = None) -> int:
    return DISPATCHER.main(argv)


if __name__ == "__main__":
    sys.exit(main())
