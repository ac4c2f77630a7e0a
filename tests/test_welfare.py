"""Fair division and welfare metrics (issue 13, item 4): hand-computed cases, and NegMAS's own figures
on small random domains when NegMAS is installed."""

from __future__ import annotations

import json
import math
import random
import warnings
from typing import Any

import pytest

from reference_agents.welfare import (
    Scenario,
    deal_metrics,
    exchange_scenario,
    pareto_frontier,
    summarize,
    welfare_report,
)

# Side b's utility runs to 2.0, side a's to 1.0: the Kalai point (equal absolute gains) and the
# Kalai-Smorodinsky point (equal gains relative to each side's best) part ways, and the Nash point
# (largest product of gains) is a third one.
A, F, B, C, D = (1.0, 0.4), (0.85, 0.85), (0.8, 1.2), (0.6, 1.5), (0.3, 2.0)
NONE, G = (0.0, 0.0), (0.5, 0.5)  # G is dominated (by F)
POINTS = (A, F, B, C, D, NONE, G, B)  # B twice: the frontier holds distinct points


def test_frontier_and_bargaining_points_by_hand() -> None:
    s = Scenario(POINTS, (0.0, 0.0))
    # By decreasing welfare: D 2.3, C 2.1, B 2.0, F 1.7, A 1.4.
    assert s.frontier == (D, C, B, F, A)
    assert s.ranges == ((0.0, 1.0), (0.0, 2.0))
    assert s.disagreement == (0.0, 0.0)
    assert s.nash == (B,)  # products: A .4, F .7225, B .96, C .9, D .6
    assert s.kalai == (F,)  # smaller gains: A .4, F .85, B .8, C .6, D .3
    assert s.kalai_smorodinsky == (C,)  # spreads of (u_a / 1, u_b / 2): B .2, C .15, F .425
    assert s.max_welfare == (D,)


def test_reservation_values_cut_the_frontier_and_move_the_disagreement_point() -> None:
    s = Scenario(POINTS, (0.35, 0.5))
    assert s.frontier == (C, B, F)  # A, D below a reservation value; G dominated
    assert s.disagreement == (0.35, 0.5)
    assert s.nash == (B,)  # F .175, B .315, C .25
    assert s.kalai == (B,)  # F .35, B .45, C .25
    assert s.kalai_smorodinsky == (B,)  # relative to (1 - .35, 2 - .5): F .536, B .226, C .282
    # A reservation value below every outcome's utility: the disagreement point is the lowest one.
    low = Scenario(((0.2, 0.9), (0.9, 0.3)), (-1.0, 0.5))
    assert low.disagreement == (0.2, 0.5)


def test_ties_are_all_kept_and_a_degenerate_scenario_makes_every_frontier_point_optimal() -> None:
    s = Scenario(((1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (0.0, 0.0)), (0.0, 0.0))
    assert set(s.frontier) == {(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)}
    assert s.nash == ((0.5, 0.5),)
    assert set(s.max_welfare) == {(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)}  # welfare 1 for all three
    flat = Scenario(((0.5, 0.1), (0.5, 0.9)), (0.5, 0.0))  # side a's range is a point
    assert flat.nash == flat.frontier == ((0.5, 0.9),)
    with pytest.raises(ValueError):
        Scenario(())


def test_deal_metrics_by_hand() -> None:
    s = Scenario(POINTS, (0.0, 0.0))
    m = deal_metrics(s, G)
    assert m.agreed and m.utilities == G and m.welfare == pytest.approx(1.0)
    assert m.pareto_distance == pytest.approx(0.35 * math.sqrt(2))  # to F
    assert m.nash_distance == pytest.approx(math.hypot(0.3, 0.7))  # to B
    assert m.kalai_distance == pytest.approx(0.35 * math.sqrt(2))  # to F
    assert m.ks_distance == pytest.approx(math.hypot(0.1, 1.0))  # to C
    assert m.surplus == (0.5, 0.5) and m.share_a == pytest.approx(0.5)
    on = deal_metrics(s, B)
    assert on.pareto_distance == 0.0 and on.nash_distance == 0.0 and on.share_a == pytest.approx(0.8 / 2.0)

    r = Scenario(POINTS, (0.35, 0.5))
    failed = deal_metrics(r, None)
    assert not failed.agreed and failed.utilities == (0.35, 0.5) and failed.surplus == (0.0, 0.0)
    assert math.isnan(failed.share_a)  # nothing to split
    assert failed.nash_distance == pytest.approx(math.hypot(0.45, 0.7))


def test_run_summary_is_plain_json_and_averages_what_it_says() -> None:
    s = Scenario(POINTS, (0.0, 0.0))
    report = welfare_report(s, [B, None, G, F], per_deal=True)
    json.dumps(report, allow_nan=False)  # None, not NaN, where nothing was averaged
    run = report["run"]
    assert run["deals"] == 4 and run["agreements"] == 3 and run["agreement_rate"] == 0.75
    assert run["mean_welfare"] == pytest.approx((2.0 + 0.0 + 1.0 + 1.7) / 4)
    assert run["mean_welfare_agreed"] == pytest.approx((2.0 + 1.0 + 1.7) / 3)
    assert run["mean_share_a"] == pytest.approx((0.4 + 0.5 + 0.5) / 3)
    assert run["mean_pareto_distance"] == pytest.approx(0.35 * math.sqrt(2) / 3)
    assert report["scenario"]["pareto_size"] == 5 and report["scenario"]["nash"] == [[0.8, 1.2]]
    assert len(report["deals"]) == 4 and report["deals"][1]["share_a"] is None
    empty = summarize([])
    assert empty["deals"] == 0 and empty["agreement_rate"] is None and empty["mean_welfare"] is None


def test_the_simulators_exchange_scenario() -> None:
    s = exchange_scenario(1.5)
    assert s.frontier == s.nash == s.kalai == s.kalai_smorodinsky == ((0.5, 0.5),)
    report = welfare_report(s, [(0.5, 0.5), (-1.0, 1.5), None])  # kept, one side withheld, no deal
    run = report["run"]
    assert run["agreement_rate"] == pytest.approx(2 / 3)
    assert run["mean_pareto_distance"] == pytest.approx(math.hypot(1.5, 1.0) / 2)
    assert run["mean_welfare"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    # The breach leaves a joint surplus of 0.5: side a's share is -1 / 0.5, side b's 1.5 / 0.5.
    assert deal_metrics(s, (-1.0, 1.5)).share_a == pytest.approx(-2.0)
    assert run["mean_share_a"] == pytest.approx((0.5 - 2.0) / 2)
    with pytest.raises(ValueError):
        exchange_scenario(0)


def test_frontier_is_the_brute_force_one() -> None:
    rng = random.Random(7)
    for _ in range(50):
        pts = [(round(rng.random(), 1), round(rng.random(), 1)) for _ in range(rng.randint(1, 30))]
        res = (round(rng.random() * 0.5, 1), round(rng.random() * 0.5, 1))
        rational = {p for p in pts if p[0] >= res[0] and p[1] >= res[1]}
        brute = {p for p in rational if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in rational)}
        assert set(pareto_frontier(pts, res)) == brute


def _negmas_domains() -> list[tuple[Any, Any, float, float]]:
    negmas = pytest.importorskip("negmas")
    from negmas.preferences import LinearAdditiveUtilityFunction
    from negmas.preferences.value_fun import TableFun

    rng = random.Random(13)
    cases = []
    for k in range(12):
        issues = [negmas.make_issue(rng.randint(2, 6), f"i{j}") for j in range(rng.randint(1, 3))]

        def ufun(reserve: float, issues: list[Any] = issues) -> Any:
            tables = [TableFun({v: rng.randint(0, 10) / 10 for v in i.all}) for i in issues]
            w = [rng.randint(1, 5) for _ in issues]
            return LinearAdditiveUtilityFunction(
                values=tables, weights=[x / sum(w) for x in w], issues=issues, reserved_value=reserve
            )

        ra, rb = (0.0, 0.0) if k % 3 == 0 else (rng.randint(0, 4) / 10, rng.randint(0, 4) / 10)
        cases.append((ufun(ra), ufun(rb), ra, rb))
    return cases


def _close(ours: tuple[tuple[float, float], ...], theirs: Any) -> bool:
    return sorted(ours) == pytest.approx(sorted(tuple(float(x) for x in p) for p in theirs))


def test_our_figures_are_negmas_figures_on_small_random_domains() -> None:
    pytest.importorskip("negmas")
    from negmas.preferences.ops import calc_outcome_distances, calc_scenario_stats

    checked = 0
    for ua, ub, ra, rb in _negmas_domains():
        outcomes = list(ua.outcome_space.enumerate())
        s = Scenario.of(outcomes, ua, ub, (ra, rb))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = calc_scenario_stats([ua, ub])
        assert _close(s.frontier, stats.pareto_utils)
        assert _close(s.nash, stats.nash_utils)
        assert _close(s.kalai, stats.kalai_utils)
        assert _close(s.kalai_smorodinsky, stats.ks_utils)
        assert _close(s.max_welfare, stats.max_welfare_utils)
        for o in outcomes[:: max(1, len(outcomes) // 5)]:
            u = (float(ua(o)), float(ub(o)))
            mine, theirs = deal_metrics(s, u), calc_outcome_distances(u, stats)
            for a, b in (
                (mine.pareto_distance, theirs.pareto_dist),
                (mine.nash_distance, theirs.nash_dist),
                (mine.kalai_distance, theirs.kalai_dist),
                (mine.ks_distance, theirs.ks_dist),
                (mine.welfare, theirs.max_welfare),
            ):
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
            checked += 1
    assert checked >= 12
