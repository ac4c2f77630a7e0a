"""The JS verifier's late-Stamp re-derive (NEG-021 (d)) over a long transcript: ``python -m benchmarks
js_rederive``.

Each of ``--trades`` trades is chains.json 243's story (WitnessedCounter): Bob offers Alice a trade naming no
escrow, Alice keeps a Reject of it, counters it naming escrow E, Bob accepts her Counter, the kept Reject
comes -- cutting the line back past Bob's Accept (NEG-021 (a)) -- and then E's Stamp of the Accept, which
takes it back (NEG-021 (d): ``witnessCutOff`` derives that trade's negotiation alone again, F61; it derived
the whole view again before, O(trades^2)). None of Bob's contracts ends, so each of his Offers and Accepts
counts them all (MND-010): step 29's sums are kept by negotiation (``ExposureSums``; it read every offer and
contract held per statement before, O(trades^2) again: 2,000 trades 199 s). One transcript, every trade after
the one before, fed to one view of ``examples/js_verifier/verify.mjs`` (or ``--verifier PATH``: an older copy,
for a before/after); reported: the seconds, the CPU seconds (the machine's load does not count there), the
statements, and each trade's cost. The last line printed is one JSON object.

``--hand-overs``: before the trades the escrow's principal revokes its key E (bound to it by E's Stamp) and
hands its contracts to E2 (a Mandate naming E in ``succeeds``, ESC-022); each Counter still names E, and each
Stamp is E2's -- every Stamp check asks whether E2 acts for E (``successors``, and ``rebuildHandedOver`` after
every statement) -- and each trade's offerer is a key of its own under a principal of its own, so the bindings
held (KEY-007) grow with the trades.
``--ratings``: each trade is instead ``a2a_coop.testing.bonded_trade``'s (both bonds locked, delivered,
receipted, released; Alice's Attestation of Bob), and after the last one every Attestation held is rated
(``rateAttestation``, SPEC 10.2, the escrow trusted: ATT-020's evidence read); that part is timed alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from a2a_coop.testing import FixedClock, Party, bonded_trade
from conformance.generate_vectors.key_time import _handed_over
from conformance.generate_vectors.negotiation import stamp

ROOT: Final = Path(__file__).resolve().parent.parent
VERIFIER: Final = ROOT / "examples" / "js_verifier" / "verify.mjs"
CAPS: Final = {"max_per_deal": 10**9, "budget_per_period": 10**12, "max_outstanding": 10**12}
# Feeds the transcript to one view and times it (argv: the transcript's path, the view's role, then the
# verifier module's -- not first, where the module would take itself for the command run and read its
# arguments -- and, to rate every Attestation held after, the escrow trusted).
_RUN: Final = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { Verifier, rateAttestation } = await import(pathToFileURL(process.argv[3]).href);
const envelopes = JSON.parse(readFileSync(process.argv[1], "utf8")).map((e) => Buffer.from(e, "base64"));
const v = new Verifier({ mode: "sparse", nowMs: null, role: process.argv[2] });
const start = performance.now(), cpu = process.cpuUsage();
let refused = 0;
const attestations = [];
for (const e of envelopes) {
  try {
    const r = v.accept(e);
    if (r.bodyName === "attestation") attestations.push(r);
  } catch (x) { refused++; }
}
const used = process.cpuUsage(cpu);
const seconds = (performance.now() - start) / 1000;
const out = { seconds, cpu: (used.user + used.system) / 1e6, refused };
if (process.argv[4]) {
  const from = performance.now(), cpuFrom = process.cpuUsage();
  const rated = attestations.map((r) => rateAttestation(v, r, [process.argv[4]])).filter((r) => r?.stake > 0);
  const ratingCpu = process.cpuUsage(cpuFrom);
  out.rated = rated.length;
  out.ratingSeconds = (performance.now() - from) / 1000;
  out.ratingCpu = (ratingCpu.user + ratingCpu.system) / 1e6;
}
console.log(JSON.stringify(out));
"""


def transcript(trades: int, *, exclusive_keys: bool = False, hand_overs: bool = False) -> list[bytes]:
    """Mandates, then ``trades`` times: offer, Counter, Accept, the kept Reject, the escrow's Stamp.
    ``exclusive_keys``: each Counter names an exclusive_key of its own (NEG-009 asks of each Accept).
    ``hand_overs``: the escrow's key E handed over to E2 first, which stamps each Accept; each trade's offerer
    a key of its own, its Mandate before its Offer."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock, CAPS), Party("bob", clock, CAPS), Party("escrow", clock)
    out = [p.mandate_vs.envelope for p in (alice, bob, escrow)]
    witnessing = escrow
    if hand_overs:
        out.append(stamp(escrow, alice.mandate_vs).envelope)  # binds E to its principal (KEY-007)
        clock.advance(1_000)
        handover, witnessing = _handed_over(escrow, clock, clock.now_ms)
        out += handover
    for i in range(trades):
        if hand_overs:
            bob = Party(f"bob-{i}", clock, CAPS)
            out.append(bob.mandate_vs.envelope)
        offer = bob.offer(alice)
        clock.advance(1_000)
        kept = alice.reject(offer, "kept back")
        clock.advance(1_000)
        key = f"trade-{i}".encode() if exclusive_keys else b""
        terms = alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100, exclusive_key=key)
        counter = alice.counter(offer, terms)
        clock.advance(1_000)
        accept = bob.accept(counter)
        witness = stamp(witnessing, accept)
        clock.advance(1_000)
        out += [offer.envelope, counter.envelope, accept.envelope, kept.envelope, witness.envelope]
    return out


def rated_transcript(trades: int) -> tuple[list[bytes], str]:
    """Mandates, then ``trades`` of :func:`a2a_coop.testing.bonded_trade` (Alice's Attestation of Bob last in
    each); and the escrow's did."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock, CAPS), Party("bob", clock, CAPS), Party("escrow", clock)
    out = [p.mandate_vs.envelope for p in (alice, bob, escrow)]
    for _ in range(trades):
        out += [vs.envelope for vs in bonded_trade(alice, bob, escrow, clock)]
        clock.advance(1_000)
    return out, escrow.did


def main(argv: Sequence[str] | None = None) -> int:
    about = "the JS verifier's late-Stamp re-derive (NEG-021 (d)) over a long transcript"
    parser = argparse.ArgumentParser(prog="python -m benchmarks js_rederive", description=about)
    cost = "(100 take ~0.5 s of CPU, 2,000 ~7 s: bounded checks a statement, the signature's the largest)"
    parser.add_argument("--trades", type=int, default=100, help=cost)
    parser.add_argument("--verifier", type=Path, default=VERIFIER, help="the verify.mjs to time")
    role = "the view's role (escrow: ESC-019, ESC-020)"
    parser.add_argument("--role", choices=("auditor", "escrow"), default="auditor", help=role)
    each_key = "each Counter names an exclusive_key of its own (NEG-009)"
    parser.add_argument("--exclusive-keys", action="store_true", help=each_key)
    hand_overs = "the escrow's key handed over (ESC-022) first, each offerer a key of its own"
    parser.add_argument("--hand-overs", action="store_true", help=hand_overs)
    ratings = "bonded, settled, attested trades instead, every Attestation rated after (SPEC 10.2)"
    parser.add_argument("--ratings", action="store_true", help=ratings)
    args = parser.parse_args(argv)
    if args.ratings and (args.exclusive_keys or args.hand_overs):
        parser.error("--ratings tells another story: neither --exclusive-keys nor --hand-overs goes with it")
    node = shutil.which("node")
    if node is None:
        print("node is not on PATH", file=sys.stderr)
        return 2
    trusted = ""
    if args.ratings:
        envelopes, trusted = rated_transcript(args.trades)
    else:
        envelopes = transcript(args.trades, exclusive_keys=args.exclusive_keys, hand_overs=args.hand_overs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transcript.json"
        path.write_text(json.dumps([base64.b64encode(e).decode() for e in envelopes]))
        module = str(args.verifier.resolve())
        run = subprocess.run(
            [node, "--input-type=module", "-e", _RUN, str(path), args.role, module, trusted],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(run.stdout)
    report = {
        "trades": args.trades,
        "role": args.role,
        "exclusive_keys": args.exclusive_keys,
        "hand_overs": args.hand_overs,
        "ratings": args.ratings,
        "statements": len(envelopes),
        "refused": result["refused"],
        "seconds": round(result["seconds"], 3),
        "cpu_seconds": round(result["cpu"], 3),
        "ms_per_trade": round(1000 * result["seconds"] / args.trades, 3),
    }
    if args.ratings:
        report["rated"] = result["rated"]
        report["rating_seconds"] = round(result["ratingSeconds"], 3)
        report["rating_cpu_seconds"] = round(result["ratingCpu"], 3)
    took = f"{report['seconds']} s ({report['cpu_seconds']} s CPU)"
    if args.ratings:
        rating = f"{report['rating_seconds']} s ({report['rating_cpu_seconds']} s CPU)"
        took += f"; {report['rated']} Attestations weighed, rated in {rating}"
    print(f"{args.verifier}: {report['statements']} statements, {took}")
    print(json.dumps(report))
    return 0 if result["refused"] == 0 else 1
