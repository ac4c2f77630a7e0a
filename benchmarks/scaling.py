"""How verification and the escrow scale with what they already hold: ``python -m benchmarks scaling``.

Why: a verifier or an escrow whose cost per statement grows with its history can
be stalled by anyone willing to sign junk. An attacker's review found quadratic
costs: verifying 1k/10k/50k statements of complete trades took 0.26/2.0/22.6 s;
live offers from one agent 0.30 s/14.4 s/461 s; and the escrow walked every
contract on every submit and tick, so 4,000 junk zero-bond contracts made each
submit take 38-130 ms. This benchmark measures those three costs so a fix can be
judged, and a regression caught.

1. **Verify time per statement** at 1k, 10k and 100k statements, for three
   shapes of history. Each run feeds the statements, in order, to ONE fresh
   auditor :class:`~a2a_coop.protocol.verifier.Verifier` (``Verifier()``: no
   audience, no freshness, so offline evidence) through ``accept(envelope)``:

   * ``trades``: complete unbonded trades (offer, accept, two deliveries, two
     receipts) between every pair of a few dozen parties, taken in turn, so no
     single agent's history dominates;
   * ``live_offers``: ONE agent making N offers to a few counterparties, each
     within its mandate and live for a week (less than the mandate's 30-day
     budget period, MND-013), so all N are live at once;
   * ``open_contracts``: ONE agent holding N/2 open contracts (offer and accept,
     nothing performed) with many counterparties, half offered by the agent and
     half accepted by it.

   The mandates (setup) are accepted before the clock starts; only the N
   statements are timed, and signing happens before any timing. The 1k and 10k
   runs use the first statements of the same sequence as the 100k run, each in a
   fresh verifier; small runs are repeated (median reported). Headline per shape:
   ``per_stmt(100k) / per_stmt(1k)``, target <= 2.0 (a linear verifier stays
   near 1; a quadratic one grows with N).

2. **Escrow submit and tick with 10k unrelated contracts**: an
   :class:`~a2a_coop.protocol.escrow.Escrow` holding 10,000 contracts that name
   it as escrow (half zero-bond, half bonded and locked, over 100 pairs of
   parties, 100 contracts per party) which have nothing to do with the measured
   one. Timed: ``escrow.submit([offer, accept], now_ms)`` for one fresh bonded
   contract (which the escrow answers with its two BondLocks), median over
   repetitions, each a fresh contract; and ``escrow.tick(now_ms)`` with nothing
   due. The same on an escrow with 0 unrelated contracts, in the same run,
   interleaved. Target: submit with 10k unrelated <= 2x submit with none.

``--quick`` (CI smoke) uses 200/1k/2k statements, one run each, and 500
unrelated contracts; its figures are meaningless, and the table says so. With
``--quick`` or ``--sizes``, ``per_stmt_us`` is keyed by the sizes really run,
``per_stmt_ratio_100k_vs_1k`` keeps its name but is largest vs smallest
(``ratio_of`` says which), and the ``escrow_*_10k_unrelated`` keys keep theirs
(``escrow_unrelated`` says how many). GC stays enabled, as in a real process.
Progress goes to stderr; the table, then one JSON object as the last line, to
stdout.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.ledger import LEDGER_BODIES
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party
from benchmarks._stats import row, stats

NAME: Final = "scaling"
SHAPES: Final = ("trades", "live_offers", "open_contracts")
DEFAULT_SIZES: Final = (1_000, 10_000, 100_000)
QUICK_SIZES: Final = (200, 1_000, 2_000)
RATIO_TARGET: Final = 2.0  # per_stmt(100k) / per_stmt(1k), each shape
ESCROW_TARGET: Final = 2.0  # submit with 10k unrelated / submit with 0
DEFAULT_UNRELATED: Final = 10_000
QUICK_UNRELATED: Final = 500
DEFAULT_ESCROW_REPS: Final = 31
QUICK_ESCROW_REPS: Final = 5
REPEAT_BUDGET: Final = 30_000  # statements: a size n runs clamp(REPEAT_BUDGET // n, 1, MAX_REPEATS) times
MAX_REPEATS: Final = 5
WARMUP: Final = 200  # statements accepted by a throwaway verifier before a shape's timed runs

STEP_MS: Final = 10  # the clock advances this much before every statement, so times increase
# Caps high enough that no shape runs into a budget: the benchmark measures the checks, not refusals.
HIGH_CAPS: Final = {"budget_per_period": 10**12, "max_outstanding": 10**12}
OFFER_TTL_MS: Final = 7 * DAY_MS  # live offers outlive the run, within the 30-day period_ms (MND-013)
TRADE_PARTIES: Final = 24  # 276 pairs
LIVE_COUNTERPARTIES: Final = 4
CONTRACT_COUNTERPARTIES: Final = 500
ESCROW_PAIRS: Final = 100  # unrelated contracts are spread over at least this many pairs
BOND: Final = 100
FUNDS: Final = 10**9


def note(message: str) -> None:
    """Progress, on stderr: the default run takes minutes (hours on a quadratic verifier)."""
    print(f"[scaling {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# --- 1. the statement shapes ---------------------------------------------------------------


@dataclass
class Workload:
    """One shape's statements, signed up front: ``setup`` (mandates, untimed), then the timed stream.

    ``check(verifier, n)`` raises unless a verifier fed ``statements[:n]`` ended in the state the
    shape promises (so a run that silently measured something else cannot pass).
    """

    shape: str
    setup: list[bytes]
    statements: list[bytes]
    check: Callable[[Verifier, int], None]
    sign_seconds: float


def _states(verifier: Verifier) -> dict[State, int]:
    counts: dict[State, int] = {}
    for neg in verifier.negotiations.by_id.values():
        counts[neg.state] = counts.get(neg.state, 0) + 1
    return counts


def _expect(shape: str, got: int, want: int, what: str) -> None:
    if got != want:
        raise RuntimeError(f"{shape}: {got} {what}, expected {want}")


def trades(n: int) -> Workload:
    """Complete unbonded trades between every pair of TRADE_PARTIES parties, pairs taken in turn
    (and who offers alternating each round): offer, accept, two deliveries, two receipts."""
    clock = FixedClock()
    parties = [Party(f"trader-{i}", clock, mandate_caps=HIGH_CAPS) for i in range(TRADE_PARTIES)]
    pairs = list(itertools.combinations(parties, 2))
    out: list[bytes] = []
    start = time.perf_counter()

    def step(vs: VerifiedStatement) -> VerifiedStatement:
        out.append(vs.envelope)
        clock.advance(STEP_MS)
        return vs

    for k in itertools.count():
        if len(out) >= n:
            break
        a, b = pairs[k % len(pairs)]
        if (k // len(pairs)) % 2:
            a, b = b, a
        offer = step(a.offer(b, a.proposal()))
        accept = step(b.accept(offer))
        d_a = step(a.deliver(accept, b))
        d_b = step(b.deliver(accept, a))
        step(b.receipt(d_a))
        step(a.receipt(d_b))
    sign_seconds = time.perf_counter() - start

    def check(verifier: Verifier, m: int) -> None:
        _expect("trades", _states(verifier).get(State.FULFILLED, 0), m // 6, "fulfilled trades")

    return Workload("trades", [e for p in parties for e in p.setup], out[:n], check, sign_seconds)


def live_offers(n: int) -> Workload:
    """ONE agent's N offers, to LIVE_COUNTERPARTIES parties in turn, each live until after the run."""
    clock = FixedClock()
    alice = Party("alice", clock, mandate_caps=HIGH_CAPS)
    bidders = [Party(f"bidder-{i}", clock) for i in range(LIVE_COUNTERPARTIES)]
    proposal = alice.proposal()  # deadlines a day out; the run spans n * STEP_MS
    out: list[bytes] = []
    start = time.perf_counter()
    for i in range(n):
        clock.advance(STEP_MS)
        out.append(alice.offer(bidders[i % len(bidders)], proposal, ttl_ms=OFFER_TTL_MS).envelope)
    sign_seconds = time.perf_counter() - start

    def check(verifier: Verifier, m: int) -> None:
        _expect("live_offers", _states(verifier).get(State.PROPOSED, 0), m, "live offers")

    return Workload("live_offers", list(alice.setup), out, check, sign_seconds)


def open_contracts(n: int) -> Workload:
    """ONE agent's N/2 open contracts (offer + accept each, nothing performed) with
    CONTRACT_COUNTERPARTIES parties in turn; the agent offers every other one and accepts the rest."""
    clock = FixedClock()
    alice = Party("alice", clock, mandate_caps=HIGH_CAPS)
    clients = [Party(f"client-{i}", clock, mandate_caps=HIGH_CAPS) for i in range(CONTRACT_COUNTERPARTIES)]
    proposal = alice.proposal()  # contracts lapse a day after the deadline; the run spans n * STEP_MS
    out: list[bytes] = []
    start = time.perf_counter()
    for k in range(-(-n // 2)):
        client = clients[k % len(clients)]
        proposer, acceptor = (alice, client) if k % 2 == 0 else (client, alice)
        clock.advance(STEP_MS)
        offer = proposer.offer(acceptor, proposal)
        clock.advance(STEP_MS)
        out += [offer.envelope, acceptor.accept(offer).envelope]
    sign_seconds = time.perf_counter() - start

    def check(verifier: Verifier, m: int) -> None:
        _expect("open_contracts", _states(verifier).get(State.ACCEPTED, 0), m // 2, "open contracts")

    setup = [*alice.setup, *(e for c in clients for e in c.setup)]
    return Workload("open_contracts", setup, out[:n], check, sign_seconds)


BUILDERS: Final[dict[str, Callable[[int], Workload]]] = {
    "trades": trades,
    "live_offers": live_offers,
    "open_contracts": open_contracts,
}


def verify_seconds(w: Workload, n: int) -> float:
    """Seconds for one fresh auditor Verifier to accept ``w.statements[:n]`` (setup accepted first)."""
    verifier = Verifier()
    for data in w.setup:
        verifier.accept(data)
    batch = w.statements[:n]
    gc.collect()
    start = time.perf_counter()
    deque(map(verifier.accept, batch), maxlen=0)
    elapsed = time.perf_counter() - start
    w.check(verifier, n)
    return elapsed


def repeats_for(n: int, quick: bool) -> int:
    return 1 if quick else max(1, min(MAX_REPEATS, REPEAT_BUDGET // n))


def run_shape(shape: str, sizes: Sequence[int], quick: bool) -> dict[str, Any]:
    """Sign the largest size's statements, then time every size (prefixes of them)."""
    note(f"{shape}: signing {sizes[-1]:,} statements")
    w = BUILDERS[shape](sizes[-1])
    note(f"{shape}: signed {len(w.statements):,} in {w.sign_seconds:.1f} s; warming up")
    verify_seconds(w, min(WARMUP, sizes[0]))
    runs: dict[str, dict[str, float]] = {}
    for n in sizes:
        us = []
        for r in range(repeats_for(n, quick)):
            seconds = verify_seconds(w, n)
            us.append(seconds / n * 1e6)
            note(f"{shape}: {n:,} statements, run {r + 1}: {seconds:.2f} s, {us[-1]:.1f} us/statement")
        runs[label(n)] = stats(us, 2)
    return {
        "runs": runs,
        "statements_signed": len(w.statements),
        "setup_statements": len(w.setup),
        "sign_per_s": round(len(w.statements) / w.sign_seconds, 1),
    }


# --- 2. the escrow -------------------------------------------------------------------------


@dataclass
class EscrowBench:
    """An escrow, its clock and the funded pair whose fresh contracts are measured."""

    escrow: Escrow
    clock: FixedClock
    proposer: Party
    acceptor: Party
    unrelated: int


def build_escrow(unrelated: int) -> EscrowBench:
    """An Escrow holding ``unrelated`` open contracts that name it, plus a funded pair to measure.

    The one place that knows how an escrow is built and filled (adapt it here when the escrow's API
    changes). The unrelated contracts are spread over max(ESCROW_PAIRS, unrelated // 100) disjoint
    pairs of parties (so about 100 open contracts per party, far below a per-party limit of 1,000);
    within each pair they alternate between zero-bond and bonded (BOND each side, locked by the
    escrow during the build). Everything reaches the escrow in ONE submit, so building costs one
    walk of the contracts, however the escrow scales.
    """
    clock = FixedClock()
    desk = Party(f"escrow-{unrelated}", clock)
    escrow = Escrow(desk.agent, desk.mandate_vs.digest, setup=desk.setup, currency="credit")
    proposer = Party(f"payer-{unrelated}", clock, mandate_caps=HIGH_CAPS)
    acceptor = Party(f"payee-{unrelated}", clock, mandate_caps=HIGH_CAPS)
    n_pairs = max(ESCROW_PAIRS, unrelated // 100) if unrelated else 0
    pairs = [
        tuple(Party(f"junk-{unrelated}-{i}-{side}", clock, mandate_caps=HIGH_CAPS) for side in "ab")
        for i in range(n_pairs)
    ]
    everyone = [proposer, acceptor, *(p for pair in pairs for p in pair)]
    for p in everyone:
        escrow.deposit(p.did, FUNDS, "credit", f"wire/{p.name}", clock.now_ms)
    evidence = [e for p in everyone for e in p.setup]
    bonded = 0
    for k in range(unrelated):
        a, b = pairs[k % len(pairs)]
        bond = BOND if (k // len(pairs)) % 2 else 0
        bonded += bool(bond)
        clock.advance(STEP_MS)
        offer = a.offer(b, a.proposal(issuer_bond=bond, audience_bond=bond, escrow=escrow.did))
        evidence += [offer.envelope, b.accept(offer).envelope]
    clock.advance(STEP_MS)
    signed = escrow.submit(evidence, clock.now_ms)
    _expect("escrow build", sum(vs.body == "bond_lock" for vs in signed), 2 * bonded, "bond locks")
    return EscrowBench(escrow, clock, proposer, acceptor, unrelated)


def fresh_contracts(bench: EscrowBench, count: int) -> list[list[bytes]]:
    """``count`` fresh bonded contracts between the bench's pair: the evidence of each, [offer, accept]."""
    out = []
    for _ in range(count):
        bench.clock.advance(STEP_MS)
        p = bench.proposer.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=bench.escrow.did)
        offer = bench.proposer.offer(bench.acceptor, p)
        out.append([offer.envelope, bench.acceptor.accept(offer).envelope])
    return out


def _timed_ms(fn: Callable[..., list[VerifiedStatement]], *args: Any) -> tuple[float, list[str]]:
    """Milliseconds ``fn(*args)`` took, and the bodies of the ledger entries it signed."""
    start = time.perf_counter()
    signed = fn(*args)
    return (time.perf_counter() - start) * 1e3, [vs.body for vs in signed if vs.body in LEDGER_BODIES]


def run_escrow(unrelated: int, reps: int) -> dict[str, Any]:
    """Submit and tick times, ms, on an escrow with ``unrelated`` contracts and on one with none."""
    benches: dict[str, EscrowBench] = {}
    for key, n in (("0", 0), ("unrelated", unrelated)):
        note(f"escrow: building an escrow holding {n:,} unrelated contracts")
        start = time.perf_counter()
        benches[key] = build_escrow(n)
        note(f"escrow: built in {time.perf_counter() - start:.1f} s")
    evidence = {key: fresh_contracts(b, reps) for key, b in benches.items()}
    submit: dict[str, list[float]] = {key: [] for key in benches}
    tick: dict[str, list[float]] = {key: [] for key in benches}
    gc.collect()
    for i in range(reps):  # interleaved, order alternating, so drift hits both alike
        for key in list(benches)[:: 1 if i % 2 == 0 else -1]:
            b = benches[key]
            ms, entries = _timed_ms(b.escrow.submit, evidence[key][i], b.clock.advance(1))
            _expect("escrow submit", entries.count("bond_lock"), 2, "bond locks for the fresh contract")
            submit[key].append(ms)
    gc.collect()
    for i in range(reps):
        for key in list(benches)[:: 1 if i % 2 == 0 else -1]:
            b = benches[key]
            ms, entries = _timed_ms(b.escrow.tick, b.clock.advance(1))
            _expect("escrow tick", len(entries), 0, "ledger entries (nothing is due)")
            tick[key].append(ms)
    note("escrow: done")
    return {
        "submit": {k: stats(v, 4) for k, v in submit.items()},
        "tick": {k: stats(v, 4) for k, v in tick.items()},
    }


# --- the run -------------------------------------------------------------------------------


def run(
    sizes: Sequence[int], shapes: Sequence[str], unrelated: int | None, escrow_reps: int, quick: bool
) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for shape in shapes:
        detail[shape] = run_shape(shape, sizes, quick)
    per_stmt = {
        shape: {label(n): detail[shape]["runs"][label(n)]["median"] for n in sizes} for shape in shapes
    }
    small, large = label(sizes[0]), label(sizes[-1])
    ratios = {
        shape: round(per_stmt[shape][large] / per_stmt[shape][small], 3) if len(sizes) > 1 else None
        for shape in shapes
    }
    result: dict[str, Any] = {
        "benchmark": NAME,
        "quick": quick,
        "per_stmt_ratio_100k_vs_1k": ratios,
        "per_stmt_us": per_stmt,
        "escrow_submit_ms_0_unrelated": None,
        "escrow_submit_ms_10k_unrelated": None,
        "escrow_tick_ms_0_unrelated": None,
        "escrow_tick_ms_10k_unrelated": None,
        "escrow_submit_ratio": None,
    }
    if unrelated is not None:
        esc = run_escrow(unrelated, escrow_reps)
        detail["escrow"] = esc
        result |= {
            "escrow_submit_ms_0_unrelated": esc["submit"]["0"]["median"],
            "escrow_submit_ms_10k_unrelated": esc["submit"]["unrelated"]["median"],
            "escrow_tick_ms_0_unrelated": esc["tick"]["0"]["median"],
            "escrow_tick_ms_10k_unrelated": esc["tick"]["unrelated"]["median"],
        }
        result["escrow_submit_ratio"] = round(
            result["escrow_submit_ms_10k_unrelated"] / result["escrow_submit_ms_0_unrelated"], 3
        )
    met: dict[str, bool | None] = {s: None if r is None else r <= RATIO_TARGET for s, r in ratios.items()}
    if result["escrow_submit_ratio"] is not None:
        met["escrow_submit"] = result["escrow_submit_ratio"] <= ESCROW_TARGET
    result |= {
        "targets": {"per_stmt_ratio_max": RATIO_TARGET, "escrow_submit_ratio_max": ESCROW_TARGET},
        "targets_met": met,
        "sizes": list(sizes),
        "ratio_of": [large, small],
        "repeats": {label(n): repeats_for(n, quick) for n in sizes},
        "escrow_unrelated": unrelated,
        "escrow_reps": escrow_reps if unrelated is not None else None,
        "detail": detail,
        "env": {"python": platform.python_version(), "cpus": os.cpu_count(), "gc": "enabled"},
    }
    return result


# --- output --------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "NOT met"


def table(result: dict[str, Any]) -> str:
    sizes = [label(n) for n in result["sizes"]]
    large, small = result["ratio_of"]
    lines = [
        "scaling benchmark: each run feeds the statements in order to ONE fresh auditor Verifier() "
        "(no freshness) via accept(); signed beforehand, untimed; GC enabled",
        f"python {result['env']['python']}, {result['env']['cpus']} cpus; runs per size: "
        + ", ".join(f"{k} x{v}" for k, v in result["repeats"].items())
        + " (median)",
    ]
    if result["quick"]:
        lines.append(f"QUICK smoke run: sizes {' / '.join(sizes)} only; figures meaningless")
    if (large, small) != ("100k", "1k"):
        lines.append(f"NOTE: the ratio below is {large} vs {small}; the target is judged on 100k vs 1k")
    head = "".join(f"{s:>10}" for s in sizes)
    lines += [
        "",
        f"  {'us per statement':<18}{head}{f'{large}/{small}':>12}{'target':>9}  verdict",
    ]
    for shape, by_size in result["per_stmt_us"].items():
        cells = "".join(f"{by_size[s]:>10.1f}" for s in sizes)
        r = result["per_stmt_ratio_100k_vs_1k"][shape]
        ratio = "-" if r is None else f"{r:.2f}"
        verdict = _verdict(result["targets_met"][shape])
        lines.append(f"  {shape:<18}{cells}{ratio:>12}{f'<= {RATIO_TARGET:.1f}':>9}  {verdict}")
    esc = result["detail"].get("escrow")
    if esc is not None:
        n = result["escrow_unrelated"]
        lines += [
            "",
            f"escrow: {result['escrow_reps']} fresh bonded contracts submitted ([offer, accept] -> 2 bond "
            f"locks), interleaved with an escrow holding {n:,} unrelated open contracts (half zero-bond, "
            "half bonded) over at least 100 pairs; tick with nothing due",
            f"  {'':<34}{'median':>12}{'min':>12}{'max':>12}",
            row("submit, 0 unrelated (ms)", esc["submit"]["0"], ".3f", 34),
            row(f"submit, {n:,} unrelated (ms)", esc["submit"]["unrelated"], ".3f", 34),
            row("tick, 0 unrelated (ms)", esc["tick"]["0"], ".3f", 34),
            row(f"tick, {n:,} unrelated (ms)", esc["tick"]["unrelated"], ".3f", 34),
            f"  submit ratio {n:,} unrelated / 0: {result['escrow_submit_ratio']:.2f} "
            f"(target <= {ESCROW_TARGET:.1f}): {_verdict(result['targets_met']['escrow_submit'])}",
        ]
    return "\n".join(lines)


def _csv(value: str, cast: Callable[[str], Any]) -> list[Any]:
    return [cast(v.strip()) for v in value.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks scaling",
        description="Verify time per statement as history grows (trades, live offers, open contracts "
        "of one agent) and escrow submit/tick time with 10k unrelated contracts.",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated statement counts, ascending (default "
        f"{','.join(map(str, DEFAULT_SIZES))}); the ratio is largest vs smallest",
    )
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help=f"comma-separated subset of {','.join(SHAPES)}, or none"
    )
    parser.add_argument(
        "--unrelated",
        type=int,
        default=None,
        help=f"unrelated contracts in the escrow (default {DEFAULT_UNRELATED:,}; 0 skips the escrow part)",
    )
    parser.add_argument(
        "--escrow-reps", type=int, default=None, help=f"submits and ticks per escrow ({DEFAULT_ESCROW_REPS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: sizes {','.join(map(str, QUICK_SIZES))}, one run each, {QUICK_UNRELATED:,} "
        "unrelated contracts (figures meaningless)",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        sizes = _csv(args.sizes, int) if args.sizes else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    except ValueError:
        parser.error("--sizes takes integers, e.g. 1000,10000")
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 1:
        parser.error("--sizes must be positive, distinct and ascending")
    shapes = [] if args.shapes.strip() == "none" else _csv(args.shapes, str)
    if unknown := set(shapes) - set(SHAPES):
        parser.error(f"unknown shapes {sorted(unknown)}; choose from {', '.join(SHAPES)}")
    unrelated = args.unrelated
    if unrelated is None:
        unrelated = QUICK_UNRELATED if args.quick else DEFAULT_UNRELATED
    reps = args.escrow_reps or (QUICK_ESCROW_REPS if args.quick else DEFAULT_ESCROW_REPS)
    if unrelated < 0 or reps < 1:
        parser.error("--unrelated must be >= 0 and --escrow-reps positive")
    result = run(sizes, [s for s in SHAPES if s in shapes], unrelated or None, reps, args.quick)
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
