"""``a2a-coop demo --offline``: a batch of trades, one breach, and the evidence, verified offline.

This is the protocol-core demo: every party runs in this process on a fixed
clock, so it needs no network and no configuration. It shows what a peer
runtime produces (signed statements, chains, a contract, bonds, a breach claim
and a forfeit) and that a third party can verify all of it from the
transcript alone. Plain ``a2a-coop demo`` runs the parties as processes over
gRPC instead (:mod:`a2a_coop.cli.demo`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import TranscriptReport, verify_transcript
from a2a_coop.testing import FixedClock, Party, bonded_trade


@dataclass
class DemoResult:
    transcript_path: Path
    report: TranscriptReport
    trades: int
    breaches: int


def run_demo(out_dir: Path, trades: int = 5) -> DemoResult:
    """Run ``trades`` bonded trades (the last one breached) and verify the transcript offline."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log: list[VerifiedStatement] = []
    for i in range(trades):
        log += bonded_trade(alice, bob, escrow, clock, breach=(i == trades - 1))
        clock.advance(60_000)
    envelopes = [*alice.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "transcript.json"
    path.write_text(
        json.dumps({"mode": "sparse", "envelopes": [envelope_to_json(e) for e in envelopes]}, indent=1)
    )
    report = verify_transcript(envelopes)
    return DemoResult(path, report, trades, 1)
