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

from a2a_coop.testing import FixedClock, Party
from conformance.generate_vectors.negotiation import stamp

ROOT: Final = Path(__file__).resolve().parent.parent
VERIFIER: Final = ROOT / "examples" / "js_verifier" / "verify.mjs"
CAPS: Final = {"max_per_deal": 10**9, "budget_per_period": 10**12, "max_outstanding": 10**12}
# Feeds the transcript to one view and times it (argv: the transcript's path, the view's role, then the
# verifier module's -- not first, where the module would take itself for the command run and read its
# arguments).
_RUN: Final = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { Verifier } = await import(pathToFileURL(process.argv[3]).href);
const envelopes = JSON.parse(readFileSync(process.argv[1], "utf8")).map((e) => Buffer.from(e, "base64"));
const v = new Verifier({ mode: "sparse", nowMs: null, role: process.argv[2] });
const start = performance.now(), cpu = process.cpuUsage();
let refused = 0;
for (const e of envelopes) {
  try { v.accept(e); } catch (x) { refused++; }
}
const used = process.cpuUsage(cpu);
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ seconds, cpu: (used.user + used.system) / 1e6, refused }));
"""


def transcript(trades: int, *, exclusive_keys: bool = False) -> list[bytes]:
    """Mandates, then ``trades`` times: offer, Counter, Accept, the kept Reject, the escrow's Stamp.
    ``exclusive_keys``: each Counter names an exclusive_key of its own (NEG-009 asks of each Accept)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock, CAPS), Party("bob", clock, CAPS), Party("escrow", clock)
    out = [p.mandate_vs.envelope for p in (alice, bob, escrow)]
    for i in range(trades):
        offer = bob.offer(alice)
        clock.advance(1_000)
        kept = alice.reject(offer, "kept back")
        clock.advance(1_000)
        key = f"trade-{i}".encode() if exclusive_keys else b""
        terms = alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100, exclusive_key=key)
        counter = alice.counter(offer, terms)
        clock.advance(1_000)
        accept = bob.accept(counter)
        witness = stamp(escrow, accept)
        clock.advance(1_000)
        out += [offer.envelope, counter.envelope, accept.envelope, kept.envelope, witness.envelope]
    return out


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
    args = parser.parse_args(argv)
    node = shutil.which("node")
    if node is None:
        print("node is not on PATH", file=sys.stderr)
        return 2
    envelopes = transcript(args.trades, exclusive_keys=args.exclusive_keys)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transcript.json"
        path.write_text(json.dumps([base64.b64encode(e).decode() for e in envelopes]))
        run = subprocess.run(
            [node, "--input-type=module", "-e", _RUN, str(path), args.role, str(args.verifier.resolve())],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(run.stdout)
    report = {
        "trades": args.trades,
        "role": args.role,
        "exclusive_keys": args.exclusive_keys,
        "statements": len(envelopes),
        "refused": result["refused"],
        "seconds": round(result["seconds"], 3),
        "cpu_seconds": round(result["cpu"], 3),
        "ms_per_trade": round(1000 * result["seconds"] / args.trades, 3),
    }
    took = f"{report['seconds']} s ({report['cpu_seconds']} s CPU)"
    print(f"{args.verifier}: {report['statements']} statements, {took}")
    print(json.dumps(report))
    return 0 if result["refused"] == 0 else 1
