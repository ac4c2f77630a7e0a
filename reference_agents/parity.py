"""Parity of our time-based negotiators with NegMAS's, on issue 13's multi-issue domain.

    python -m reference_agents.parity [--steps 100] [--reserve 0.25] [--issues 3] [--levels 10]

For each pairing (buyer vs seller) it runs our negotiators through the protocol -- two in-process
:class:`~a2a_coop.runtime.peer.Peer` objects exchanging signed Offers, Counters and an Accept, every
statement verified by the other side -- and NegMAS's own (``BoulwareTBNegotiator``,
``ConcederTBNegotiator``, or ``TimeBasedConcedingNegotiator`` with the matching exponent) in NegMAS's
SAO mechanism, on the same domain, reservation values and number of steps. It prints each side's
agreement utility in both, the deltas, and the welfare metrics of our deals
(:mod:`reference_agents.welfare`); last, one JSON line. Exit status 0 when every delta is within
``--tolerance`` (0.05), 1 when one is not, 2 for a usage error or when NegMAS is not installed
(``pip install -e '.[parity]'`` in the checkout).

Exponents are ours (GENIUS convention: below 1 Boulware); NegMAS is given ``1 / e`` (see
:mod:`reference_agents.multi_issue`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import Negotiation
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive
from reference_agents.multi_issue import Domain, IssueNegotiator, LinearUtility, Outcome, opposed, step_of
from reference_agents.welfare import DealMetrics, Point, Scenario, deal_metrics, summarize

BIG = 10**12
CAPS = {"budget_per_period": BIG, "max_outstanding": BIG, "max_per_deal": BIG}
# (name, buyer's exponent, seller's exponent), ours. 0.25 and 4 are NegMAS's named Boulware and
# Conceder curves (4 and 0.25 there); 0.2 and 5 are our registry's boulware and conceder.
PAIRINGS: tuple[tuple[str, float, float], ...] = (
    ("boulware-vs-conceder", 0.25, 4.0),
    ("conceder-vs-boulware", 4.0, 0.25),
    ("boulware-vs-boulware", 0.25, 0.25),
    ("conceder-vs-conceder", 4.0, 4.0),
    ("registry-boulware-vs-conceder", 0.2, 5.0),
)


@dataclass(frozen=True)
class Result:
    """How one negotiation ended: the agreed outcome and its utilities (None without agreement),
    and how many steps it ran (NegMAS's final ``state.step``)."""

    outcome: Outcome | None
    utilities: Point | None
    step: int


@dataclass
class ProtocolRun:
    """A negotiation between two in-process peers: the result, the final negotiation state, and
    every statement either side holds of it (a transcript a third party verifies offline)."""

    result: Result
    negotiation: Negotiation
    transcript: list[bytes]


def _peer(name: str, clock: FixedClock, strategy: IssueNegotiator) -> Peer:
    party = Party(name, clock, mandate_caps=CAPS)
    counter = itertools.count()
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        strategy=strategy,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"nonce/{name}/{next(counter)}", 16),
        attest=False,
    )


def negotiate(buyer: IssueNegotiator, seller: IssueNegotiator) -> ProtocolRun:
    """The buyer opens; the two negotiate through signed statements until one accepts or time is up.

    Raises:
        ValueError: the two negotiate different domains or roles, or different numbers of steps.
    """
    if buyer.domain != seller.domain or (buyer.role, seller.role) != ("buyer", "seller"):
        raise ValueError("need a buyer and a seller over one domain")
    if buyer.steps != seller.steps:
        raise ValueError("both sides must count the same number of steps")
    clock = FixedClock()
    pa, pb = _peer("buyer", clock, buyer), _peer("seller", clock, seller)
    offer = pa.propose(pb.did, buyer.opening(trade_pb2.Terms(currency="credit"), clock.now_ms + DAY_MS))
    # Each exchange carries one of the buyer's statements; the deal's deliveries and receipts follow.
    drive(pa, pb.exchange, offer, max_steps=2 * buyer.steps + 16)
    neg = pa.negotiation(offer.header.negotiation_id)
    # The last Offer or Counter (numbered counters + 1) was answered at its step: that many steps ran.
    ran = min(step_of(sum(1 for h in neg.history if h[1].value == "COUNTER") + 1) + 1, buyer.steps)
    c = neg.contract
    if c is None:
        result = Result(None, None, ran)
    else:
        writer = "buyer" if c.proposer == pa.did else "seller"
        outcome = buyer.domain.decode(c.proposal, issuer=writer)
        result = Result(outcome, (buyer.utility(outcome), seller.utility(outcome)), ran)
    held = pa.verifier.statements
    transcript = [*pa.context, *pb.context]
    transcript += [vs.envelope for vs in held.values() if vs.header.negotiation_id == neg.id]
    return ProtocolRun(result, neg, transcript)


def ours(
    domain: Domain,
    utilities: tuple[LinearUtility, LinearUtility],
    exponents: tuple[float, float],
    *,
    reserve: float,
    steps: int,
) -> ProtocolRun:
    """Our Boulware/Conceder pair (by ``exponents``) negotiating ``domain`` through the protocol."""
    buyer, seller = (
        IssueNegotiator(utility=u, exponent=e, reserve=reserve, steps=steps)
        for u, e in zip(utilities, exponents, strict=True)
    )
    return negotiate(buyer, seller)


def negmas_run(
    domain: Domain,
    utilities: tuple[LinearUtility, LinearUtility],
    exponents: tuple[float, float],
    *,
    reserve: float,
    steps: int,
) -> Result:
    """NegMAS's own time-based negotiators on the same domain, in NegMAS's SAO mechanism.

    Raises:
        ModuleNotFoundError: NegMAS is not installed (the ``parity`` extra).
    """
    from negmas import SAOMechanism, make_issue
    from negmas.preferences import LinearAdditiveUtilityFunction
    from negmas.preferences.value_fun import AffineFun
    from negmas.sao import BoulwareTBNegotiator, ConcederTBNegotiator, TimeBasedConcedingNegotiator

    span = domain.levels - 1
    issues = [make_issue(list(range(1, domain.levels + 1)), name) for name in domain.issues]
    ufuns = []
    for u in utilities:
        # x = (q - 1) / span for the buyer, (levels - q) / span for the seller (multi_issue.LinearUtility)
        value = (
            AffineFun(1 / span, -1 / span)
            if u.role == "buyer"
            else AffineFun(-1 / span, domain.levels / span)
        )
        ufuns.append(
            LinearAdditiveUtilityFunction(
                values=[value] * len(issues), weights=list(u.weights), issues=issues, reserved_value=reserve
            )
        )
    mechanism = SAOMechanism(issues=issues, n_steps=steps)
    for role, ufun, e in zip(("buyer", "seller"), ufuns, exponents, strict=True):
        theirs = 1 / e  # NegMAS writes the exponent inversely
        if theirs == 4.0:
            negotiator = BoulwareTBNegotiator(name=role)
        elif theirs == 0.25:
            negotiator = ConcederTBNegotiator(name=role)
        else:
            negotiator = TimeBasedConcedingNegotiator(name=role, offering_curve=theirs, stochastic=False)
        mechanism.add(negotiator, ufun=ufun)
    state = mechanism.run()
    agreement = state.agreement
    if agreement is None:
        return Result(None, None, state.step)
    outcome = tuple(int(q) for q in agreement)
    return Result(outcome, (float(ufuns[0](agreement)), float(ufuns[1](agreement))), state.step)


def compare(
    *,
    steps: int = 100,
    reserve: float = 0.25,
    issues: int = 3,
    levels: int = 10,
    weights_buyer: Sequence[float] | None = None,
    weights_seller: Sequence[float] | None = None,
    pairings: Sequence[tuple[str, float, float]] = PAIRINGS,
) -> list[dict[str, Any]]:
    """Each pairing's figures, ours and NegMAS's, as plain dicts (see :func:`main`)."""
    domain, ua, us = opposed(issues, levels, weights_buyer=weights_buyer, weights_seller=weights_seller)
    scenario = Scenario.of(domain.outcomes(), ua, us, (reserve, reserve))
    rows = []
    for name, ea, eb in pairings:
        mine = ours(domain, (ua, us), (ea, eb), reserve=reserve, steps=steps).result
        theirs = negmas_run(domain, (ua, us), (ea, eb), reserve=reserve, steps=steps)
        deltas = (
            None
            if mine.utilities is None or theirs.utilities is None
            else [abs(m - t) for m, t in zip(mine.utilities, theirs.utilities, strict=True)]
        )
        metrics: DealMetrics = deal_metrics(scenario, mine.utilities)
        rows.append(
            {
                "pairing": name,
                "exponents": [ea, eb],
                "negmas_exponents": [1 / ea, 1 / eb],
                "ours": {"outcome": mine.outcome, "utilities": mine.utilities, "step": mine.step},
                "negmas": {"outcome": theirs.outcome, "utilities": theirs.utilities, "step": theirs.step},
                "deltas": deltas,
                "agree_both": (mine.utilities is None) == (theirs.utilities is None),
                "welfare": summarize([metrics]),
            }
        )
    return rows


def floats(text: str) -> list[float]:
    """A comma-separated list of numbers (an argparse type)."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the parity check (this module's ``main`` and ``a2a-coop sim parity``)."""
    parser.add_argument("--steps", type=int, default=100, help="(default 100)")
    parser.add_argument("--reserve", type=float, default=0.25, help="both sides' (default 0.25)")
    parser.add_argument("--issues", type=int, default=3, help="(default 3)")
    parser.add_argument("--levels", type=int, default=10, help="quantities per issue (default 10)")
    parser.add_argument("--weights-buyer", type=floats, help="e.g. 0.5,0.3,0.2 (default: equal)")
    parser.add_argument("--weights-seller", type=floats, help="e.g. 0.2,0.3,0.5 (default: equal)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="per side (default 0.05)")


def run(args: argparse.Namespace, out: TextIO) -> bool:
    """Compare as ``args`` say; print the table and, last, one JSON line. True when within tolerance.

    Raises:
        ValueError: a bad parameter (the message says which).
        ModuleNotFoundError: NegMAS is not installed.
    """
    if args.steps < 1 or args.issues < 1 or args.levels < 2 or not 0 <= args.reserve < 1:
        raise ValueError("need --steps >= 1, --issues >= 1, --levels >= 2 and 0 <= --reserve < 1")
    rows = compare(
        steps=args.steps,
        reserve=args.reserve,
        issues=args.issues,
        levels=args.levels,
        weights_buyer=args.weights_buyer,
        weights_seller=args.weights_seller,
    )
    out.write(f"{args.issues} issues x {args.levels} levels, reserve {args.reserve}, {args.steps} steps\n")
    out.write(f"{'pairing':32} {'ours (buyer, seller)':>22} {'NegMAS (buyer, seller)':>24} {'deltas':>16}\n")

    def pair(p: Sequence[float] | None) -> str:
        return "no agreement" if p is None else f"({p[0]:.3f}, {p[1]:.3f})"

    worst = 0.0
    ok = True
    for r in rows:
        out.write(
            f"{r['pairing']:32} {pair(r['ours']['utilities']):>22} "
            f"{pair(r['negmas']['utilities']):>24} {pair(r['deltas']):>16}\n"
        )
        if r["deltas"] is not None:
            worst = max(worst, *r["deltas"])
        ok = ok and r["agree_both"]
    ok = ok and worst <= args.tolerance
    summary = {
        "steps": args.steps,
        "reserve": args.reserve,
        "issues": args.issues,
        "levels": args.levels,
        "tolerance": args.tolerance,
        "max_delta": worst,
        "within_tolerance": ok,
        "pairings": rows,
    }
    out.write(json.dumps(summary, separators=(",", ":")) + "\n")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_agents.parity",
        description="Our Boulware/Conceder negotiators through the protocol vs NegMAS's, per side.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        ok = run(args, sys.stdout)
    except ModuleNotFoundError as exc:
        print(
            f"parity needs NegMAS ({exc}): pip install -e '.[parity]' in the a2a-coop checkout",
            file=sys.stderr,
        )
        return 2
    except ValueError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
