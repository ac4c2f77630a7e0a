"""One key's flood of answers to a statement a witnessed Accept cut off, in the order the sender chooses:
``python -m benchmarks answer_flood``.

Bob offers Alice a trade naming no escrow; she counters naming escrow E (both bonds); he counters her
Counter (B) and then accepts it, E stamping the Accept: B is cut off the line. Alice then sends ``--answers``
Rejects of B, all signed first (her chain's order), fed to one view in chain order (forward: each higher than
every one held), reversed (each the new lowest: each recounts the cut-off line, SPEC 4.5, NEG-021 (d)) or
shuffled; then as many Accepts of B the same three ways (``accept-*`` rows: in reverse each keeps one more
contract displaced; displaced31: 600 took 0.61 s of CPU under load, 0.27 s idle, before the passes over them
read an index, ``Negotiation.displaced_below``). The
forward order is the baseline, measured in the same run. Reported: each order's seconds and CPU seconds (the
machine's load does not count there), its ms of CPU per answer, and the reverse/forward CPU ratio (flood31:
1,000 in reverse took 2.32 s of CPU against 0.10 s forward before the recount read an index,
``HeldSuperseded``; 0.17 s after).
``--js``: the same, through the JS verifier's SPEC 17.1 adapter (a process per order, its CPU time). The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party

ORDERS: Final = ("forward", "reverse", "shuffled")
BODIES: Final = ("reject", "accept")
VERIFIER: Final = Path(__file__).resolve().parent.parent / "examples" / "js_verifier" / "verify.mjs"
_BOND: Final = 100


def story(answers: int, body: str = "reject") -> tuple[list[bytes], list[bytes]]:
    """The statements before the flood (setup, E's Mandate, O, C, B, the Accept, E's Stamp), and the flood
    of ``body`` (Rejects or Accepts of B), in Alice's chain order."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=_BOND, audience_bond=_BOND))
    clock.advance(1_000)
    cut = bob.counter(counter, bob.proposal())
    clock.advance(1_000)
    accept = bob.accept(counter)
    setup = [*alice.setup, *bob.setup]
    out = LocalEscrow(escrow, funds={alice.did: 1_000, bob.did: 1_000}).submit(
        [*setup, offer.envelope, counter.envelope, accept.envelope]
    )
    before = [*setup, out[0], offer.envelope, counter.envelope, cut.envelope, accept.envelope, out[1]]
    if body == "accept":
        return before, [alice.accept(cut).envelope for _ in range(answers)]
    return before, [alice.reject(cut, f"no {i}").envelope for i in range(answers)]


def arranged(flood: list[bytes], order: str) -> list[bytes]:
    if order == "reverse":
        return flood[::-1]
    if order == "shuffled":
        return random.Random(31).sample(flood, len(flood))
    return flood


def python_run(before: list[bytes], flood: list[bytes]) -> tuple[float, float]:
    """Seconds and CPU seconds one view takes the flood in."""
    v = Verifier()
    for env in before:
        v.accept(env)
    wall, cpu = time.perf_counter(), time.process_time()
    for env in flood:
        v.accept(env)
    return time.perf_counter() - wall, time.process_time() - cpu


def js_run(node: str, before: list[bytes], flood: list[bytes]) -> tuple[float, float]:
    """Seconds and CPU seconds the JS verifier's adapter takes the whole transcript in (one process)."""
    request = {"type": "verify", "id": "1", "mode": "sparse"}
    request["envelopes"] = [base64.b64encode(e).decode() for e in [*before, *flood]]  # type: ignore[assignment]
    lines = json.dumps(request) + "\n" + json.dumps({"type": "bye"}) + "\n"
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    run = subprocess.run(
        [node, str(VERIFIER), "--adapter"], input=lines, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - wall
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    if json.loads(run.stdout.splitlines()[0]).get("result") != "valid":
        raise SystemExit(f"the JS verifier did not take the transcript: {run.stdout[:200]}")
    return wall, now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    about = "one key's flood of answers to a cut-off Counter: chain order, reversed, shuffled"
    parser = argparse.ArgumentParser(prog="python -m benchmarks answer_flood", description=about)
    parser.add_argument(
        "--answers",
        type=int,
        default=1_000,
        help="Rejects, then Accepts, in each flood (1,000: ~1 s CPU each)",
    )
    parser.add_argument("--js", action="store_true", help="through the JS verifier's adapter instead")
    args = parser.parse_args(argv)
    node = shutil.which("node")
    if args.js and node is None:
        print("node is not on PATH", file=sys.stderr)
        return 2
    report: dict[str, object] = {"answers": args.answers, "verifier": "js" if args.js else "python"}
    for body in BODIES:
        before, flood = story(args.answers, body)
        prefix = "" if body == "reject" else f"{body}-"  # the Rejects' rows keep flood31's names
        for order in ORDERS:
            arrival = arranged(flood, order)
            wall, cpu = js_run(node, before, arrival) if args.js and node else python_run(before, arrival)
            report[prefix + order] = {
                "s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "cpu_ms_per_answer": round(1e3 * cpu / len(flood), 3),
            }
            print(
                f"{prefix + order:16s} {wall:8.2f} s  {cpu:8.2f} s CPU  "
                f"{1e3 * cpu / len(flood):7.3f} ms CPU/answer",
                flush=True,
            )
        forward, reverse = report[prefix + "forward"], report[prefix + "reverse"]
        assert isinstance(forward, dict) and isinstance(reverse, dict)
        ratio = round(reverse["cpu_s"] / max(forward["cpu_s"], 1e-9), 2)
        report[prefix + "reverse_vs_forward_cpu"] = ratio
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
