"""``a2a-coop demo --offline``: a batch of trades, one breach, and the evidence, verified offline.

This is the protocol-core demo: every party runs in this process on a fixed
clock, so it needs no network and no configuration. It shows what a peer
runtime produces (signed statements, chains, a contract, bonds, a breach claim
and a forfeit) and that a third party can verify all of it from the
transcript alone. Plain ``a2a-coop demo`` runs the parties as processes over
gRPC instead (:mod:`a2a_coop.demo_processes`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, reputation_pb2
from a2a_coop.envelope import envelope_to_json
from a2a_coop.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, FixedClock, Party
from a2a_coop.verifier import TranscriptReport, verify_transcript


@dataclass
class DemoResult:
    transcript_path: Path
    report: TranscriptReport
    trades: int
    breaches: int


def _bonded_trade(
    alice: Party, bob: Party, escrow: Party, clock: FixedClock, *, breach: bool, log: list[VerifiedStatement]
) -> None:
    offer = alice.offer(bob, alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=100),
            audience=p.did,
            negotiation_id=nid,
        )
        for p in (alice, bob)
    ]
    clock.advance(1_000)
    d_alice = alice.deliver(accept, bob)
    log += [offer, accept, *locks, d_alice]
    if not breach:
        d_bob = bob.deliver(accept, alice)
        clock.advance(1_000)
        r1, r2 = bob.receipt(d_alice), alice.receipt(d_bob)
        releases = [
            escrow.sign(
                "release",
                commitment_pb2.Release(contract=accept.digest, party=p.did, amount=100),
                audience=p.did,
                negotiation_id=nid,
            )
            for p in (alice, bob)
        ]
        att = alice.attest(offer, accept, bob.did)
        log += [d_bob, r1, r2, *releases, att]
        return
    # Bob never delivers. After the deadline Alice claims; the escrow upholds it.
    clock.advance(DAY_MS + 1_000)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="copy editing never arrived"),
        audience=bob.did,
        negotiation_id=nid,
    )
    forfeit = escrow.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=100, beneficiary=alice.did, cause=claim.digest
        ),
        audience=bob.did,
        negotiation_id=nid,
    )
    release = escrow.sign(
        "release",
        commitment_pb2.Release(contract=accept.digest, party=alice.did, amount=100),
        audience=alice.did,
        negotiation_id=nid,
    )
    att = alice.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_BREACHED)
    log += [claim, forfeit, release, att]


def run_demo(out_dir: Path, trades: int = 5) -> DemoResult:
    """Run ``trades`` bonded trades (the last one breached) and verify the transcript offline."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log: list[VerifiedStatement] = []
    for i in range(trades):
        _bonded_trade(alice, bob, escrow, clock, breach=(i == trades - 1), log=log)
        clock.advance(60_000)
    envelopes = [*alice.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "transcript.json"
    path.write_text(
        json.dumps({"mode": "sparse", "envelopes": [envelope_to_json(e) for e in envelopes]}, indent=1)
    )
    report = verify_transcript(envelopes)
    return DemoResult(path, report, trades, 1)
