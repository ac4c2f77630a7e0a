"""Fair division and welfare metrics of bilateral negotiations (issue 13): pure functions, no I/O.

A bilateral domain is seen in utility space: a :class:`Scenario` holds every outcome's utility pair
``(u_a, u_b)`` and each side's reservation value (what it gets without a deal). From it come the
reference points a deal is measured against, and :func:`deal_metrics` measures one deal (or a
failure to agree): its social welfare, its Euclidean distances to the Pareto frontier and to the
Nash, Kalai and Kalai-Smorodinsky points, and how the surplus over the reservation values was
split. :func:`welfare_report` aggregates a run into a plain, JSON-ready dict (reports embed it).

The definitions follow NegMAS (``negmas.preferences.ops``, version 0.16), so figures compare:

* Pareto frontier (``pareto_frontier``): the *rational* outcomes (each side at least its reservation
  value), distinct utility pairs, none weakly dominated by another.
* Disagreement point (the ``ranges`` adjustment in ``nash_points``, ``kalai_points``,
  ``ks_points``): each side's reservation value, or its lowest utility in the domain when the
  reservation value is below it.
* Nash (``nash_points``): the frontier points maximising the product of gains over the
  disagreement point.
* Kalai (``kalai_points``, ``subtract_reserved_value=True``): the frontier points maximising the
  smaller gain over the disagreement point (the egalitarian solution).
* Kalai-Smorodinsky (``ks_points``, ``subtract_reserved_value=True``): the frontier points
  minimising the spread between the two sides' gains, each relative to its best possible gain
  ``(u - d) / (max - d)``.
* Distances (``calc_outcome_distances``): Euclidean, to the nearest of the points above; a failed
  negotiation is measured at the reservation values.

Every solution keeps the points within ``EPS`` of the optimum (ties), as NegMAS does; when either
side's utility range is (nearly) empty, every frontier point is optimal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, TypeVar

Point = tuple[float, float]
EPS = 1e-12

Outcome = TypeVar("Outcome")


def pareto_frontier(points: Iterable[Point], reserves: Point) -> tuple[Point, ...]:
    """The rational, non-dominated distinct points, by decreasing social welfare (as NegMAS)."""
    rational = {p for p in points if p[0] >= reserves[0] and p[1] >= reserves[1]}
    frontier: list[Point] = []
    best_b = -math.inf
    # Distinct points by decreasing u_a (then u_b): one is dominated iff an earlier one has u_b >= its.
    for p in sorted(rational, key=lambda p: (-p[0], -p[1])):
        if p[1] > best_b:
            frontier.append(p)
            best_b = p[1]
    return tuple(sorted(frontier, key=lambda p: -(p[0] + p[1])))


def _best(
    frontier: Sequence[Point], score: Callable[[Point], float], *, maximise: bool = True
) -> tuple[Point, ...]:
    """The frontier points whose score is within EPS of the best (all of them when none scores)."""
    sign = 1.0 if maximise else -1.0
    scored = [(sign * score(p), p) for p in frontier]
    finite = [s for s, _ in scored if not math.isinf(s)]
    if not finite:
        return ()
    top = max(finite)
    return tuple(p for s, p in scored if s >= top - EPS)


@dataclass(frozen=True)
class Scenario:
    """A bilateral domain in utility space: every outcome's ``(u_a, u_b)`` and the reservation values.

    Args:
        points: the utility pair of every outcome (duplicates allowed).
        reserves: each side's reservation value: its utility when there is no deal.
    """

    points: tuple[Point, ...]
    reserves: Point = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a scenario needs at least one outcome")

    @classmethod
    def of(
        cls,
        outcomes: Iterable[Outcome],
        utility_a: Callable[[Outcome], float],
        utility_b: Callable[[Outcome], float],
        reserves: Point,
    ) -> Scenario:
        """The scenario of a domain given by its outcomes and each side's utility function."""
        return cls(tuple((float(utility_a(o)), float(utility_b(o))) for o in outcomes), reserves)

    @cached_property
    def ranges(self) -> tuple[Point, Point]:
        """Each side's (lowest, highest) utility over every outcome, rational or not."""
        a = [p[0] for p in self.points]
        b = [p[1] for p in self.points]
        return (min(a), max(a)), (min(b), max(b))

    @cached_property
    def disagreement(self) -> Point:
        """Each side's reservation value, or its lowest utility when the reservation is below it."""
        d = tuple(
            r if math.isfinite(r) and r >= lo else lo
            for r, (lo, _) in zip(self.reserves, self.ranges, strict=True)
        )
        return d[0], d[1]

    @cached_property
    def frontier(self) -> tuple[Point, ...]:
        return pareto_frontier(self.points, self.reserves)

    @property
    def _degenerate(self) -> bool:
        return any(hi - d <= EPS for d, (_, hi) in zip(self.disagreement, self.ranges, strict=True))

    @cached_property
    def nash(self) -> tuple[Point, ...]:
        """The Nash bargaining points: largest product of gains over the disagreement point."""
        if self._degenerate:
            return self.frontier
        da, db = self.disagreement
        return _best(self.frontier, lambda p: (p[0] - da) * (p[1] - db))

    @cached_property
    def kalai(self) -> tuple[Point, ...]:
        """The Kalai (egalitarian) points: largest smaller gain over the disagreement point."""
        if self._degenerate:
            return self.frontier
        da, db = self.disagreement
        return _best(self.frontier, lambda p: min(p[0] - da, p[1] - db) if self._rational(p) else -math.inf)

    @cached_property
    def kalai_smorodinsky(self) -> tuple[Point, ...]:
        """The Kalai-Smorodinsky points: the two sides' relative gains as equal as can be."""
        if self._degenerate:
            return self.frontier
        (da, db), ((_, ha), (_, hb)) = self.disagreement, self.ranges

        def spread(p: Point) -> float:
            if not self._rational(p):
                return math.inf
            ga, gb = (p[0] - da) / (ha - da), (p[1] - db) / (hb - db)
            return max(ga, gb) - min(ga, gb)

        return _best(self.frontier, spread, maximise=False)

    @cached_property
    def max_welfare(self) -> tuple[Point, ...]:
        """The frontier points of largest social welfare (sum of utilities)."""
        return _best(self.frontier, lambda p: p[0] + p[1])

    def _rational(self, p: Point) -> bool:
        return p[0] >= self.reserves[0] and p[1] >= self.reserves[1]

    def describe(self) -> dict[str, Any]:
        """The scenario's reference points as a plain dict."""
        return {
            "outcomes": len(self.points),
            "reserves": list(self.reserves),
            "ranges": [list(r) for r in self.ranges],
            "pareto_size": len(self.frontier),
            "nash": [list(p) for p in self.nash],
            "kalai": [list(p) for p in self.kalai],
            "kalai_smorodinsky": [list(p) for p in self.kalai_smorodinsky],
            "max_welfare": max((p[0] + p[1] for p in self.frontier), default=None),
        }


def exchange_scenario(gain: float) -> Scenario:
    """One even exchange (each side owes one item of equal declared value, worth ``gain`` times that
    value to whoever receives it and its value to whoever gives it), in units of that value: both
    deliver ``(gain - 1, gain - 1)``, one withholds ``(-1, gain)`` or ``(gain, -1)``, neither ``(0, 0)``;
    no trade is worth 0 to both. The population simulator's trades (``reference_agents.sim``) are these.
    """
    if gain <= 0:
        raise ValueError("gain must be positive")
    return Scenario(((gain - 1, gain - 1), (-1.0, gain), (gain, -1.0), (0.0, 0.0)), (0.0, 0.0))


def distance_to(point: Point, targets: Sequence[Point]) -> float:
    """Euclidean distance from ``point`` to the nearest of ``targets`` (NaN when there is none)."""
    if not targets:
        return math.nan
    return min(math.hypot(point[0] - t[0], point[1] - t[1]) for t in targets)


@dataclass(frozen=True)
class DealMetrics:
    """One negotiation's result measured against its scenario.

    ``utilities`` are the reservation values when there was no agreement. ``surplus`` is each side's
    gain over its reservation value; ``share_a`` is side a's part of the joint surplus (NaN when
    the joint surplus is not positive: nothing to split). It falls outside 0..1 when one side ends
    below its reservation value (a breach: the other gained more than the whole surplus).
    """

    agreed: bool
    utilities: Point
    welfare: float
    pareto_distance: float
    nash_distance: float
    kalai_distance: float
    ks_distance: float
    surplus: Point
    share_a: float


def deal_metrics(scenario: Scenario, utilities: Point | None) -> DealMetrics:
    """Measure one deal: ``utilities`` is the agreement's ``(u_a, u_b)``, or None for no agreement."""
    agreed = utilities is not None
    u = scenario.reserves if utilities is None else (float(utilities[0]), float(utilities[1]))
    surplus = (u[0] - scenario.reserves[0], u[1] - scenario.reserves[1])
    joint = surplus[0] + surplus[1]
    return DealMetrics(
        agreed=agreed,
        utilities=u,
        welfare=u[0] + u[1],
        pareto_distance=distance_to(u, scenario.frontier),
        nash_distance=distance_to(u, scenario.nash),
        kalai_distance=distance_to(u, scenario.kalai),
        ks_distance=distance_to(u, scenario.kalai_smorodinsky),
        surplus=surplus,
        share_a=surplus[0] / joint if joint > EPS else math.nan,
    )


def _mean(values: Iterable[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def _plain(value: Any) -> Any:
    """JSON-ready: tuples become lists, NaN becomes None."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def summarize(deals: Sequence[DealMetrics]) -> dict[str, Any]:
    """A run's aggregates: agreement rate, and the means over its deals (welfare over every deal,
    the disagreement ones at the reservation values; distances and the surplus split over the
    agreements only). A mean with nothing to average is None."""
    agreed = [d for d in deals if d.agreed]
    out = {
        "deals": len(deals),
        "agreements": len(agreed),
        "agreement_rate": len(agreed) / len(deals) if deals else None,
        "mean_welfare": _mean(d.welfare for d in deals),
        "mean_welfare_agreed": _mean(d.welfare for d in agreed),
        "mean_utility": [_mean(d.utilities[0] for d in deals), _mean(d.utilities[1] for d in deals)],
        "mean_pareto_distance": _mean(d.pareto_distance for d in agreed),
        "mean_nash_distance": _mean(d.nash_distance for d in agreed),
        "mean_kalai_distance": _mean(d.kalai_distance for d in agreed),
        "mean_ks_distance": _mean(d.ks_distance for d in agreed),
        "mean_surplus": [_mean(d.surplus[0] for d in agreed), _mean(d.surplus[1] for d in agreed)],
        "mean_share_a": _mean(d.share_a for d in agreed),
    }
    return _plain(out)  # type: ignore[no-any-return]


def welfare_report(
    scenario: Scenario, results: Sequence[Point | None], *, per_deal: bool = False
) -> dict[str, Any]:
    """One run's welfare as a plain, JSON-ready dict: ``{"scenario": ..., "run": ...}`` (and
    ``"deals"``, one entry per result, with ``per_deal``). ``results`` holds each negotiation's
    agreed ``(u_a, u_b)``, or None where there was no agreement."""
    deals = [deal_metrics(scenario, r) for r in results]
    report: dict[str, Any] = {"scenario": _plain(scenario.describe()), "run": summarize(deals)}
    if per_deal:
        report["deals"] = [_plain(asdict(d)) for d in deals]
    return report


__all__ = [
    "DealMetrics",
    "Point",
    "Scenario",
    "deal_metrics",
    "distance_to",
    "exchange_scenario",
    "pareto_frontier",
    "summarize",
    "welfare_report",
]
