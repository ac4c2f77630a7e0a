"""Reputation numbers that no summation order, no libm and no solver can move (SPEC 10.3, ATT-003,
ATT-008, ATT-010, ATT-021).

Two cliffs of the aggregation, each one a place where two faithful implementations holding the same
evidence disagreed by more than any tolerance:

1. Row normalisation (ATT-008) hands a rater's whole outgoing trust to a pair whose ``G - B`` is one ulp
   above 0 when the rest of its row is 0. When ``G = B`` exactly, floating-point sums in one order or
   another (and ``d``'s rounding across a half-life) decided which side of 0 the difference landed on: the
   rater -- who chooses what it rates and in what order its ratings arrive -- could put a tie on either
   side. Now ``G``, ``B`` and ``W`` are each the correctly rounded sum of their terms, and ``d`` is
   ``2^(-q) · 2^(-r/H)`` (``q``, ``r``: the age's quotient and remainder by ``H``), so a tie is an exact 0
   in every order and every implementation.
2. ``n₊`` (ATT-010) was counted on the last iterate: a principal more hops from the seeds than the
   iterations ran had ``t = 0`` and did not count, where a solver to the fixed point counted it. Now it is
   the number of principals reachable from the seeds that are not faulty over pairs of ``c > 0`` -- the
   support of the fixed point, whatever the method.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from a2a_coop.protocol.trust import DEFAULT_HALF_LIFE_MS, TrustParams
from a2a_coop.reputation_vectors import RatingRow, ReputationVector, figures, n_positive, view_of
from conformance.generate_vectors import reputation

H = DEFAULT_HALF_LIFE_MS
NOW = 1_767_225_600_000
PROBE = ReputationVector("reputation", "", 0, "", (), NOW, ("viewer",), (), (), 0, 0, {})


def _view(rows: list[RatingRow], **kw: object) -> ReputationVector:
    return replace(PROBE, ratings=tuple(rows), **kw)  # type: ignore[arg-type]


def _left_to_right(rows: list[RatingRow]) -> float:
    g = b = 0.0
    for x in rows:
        d = 2 ** (-(NOW - x.settled_ms) / H)
        g, b = g + d * x.score, b + d * (1 - x.score)
    return float(np.sign(g - b))


def _as_reduceat(rows: list[RatingRow]) -> float:
    d = np.exp2(np.array([NOW - x.settled_ms for x in rows], dtype=np.float64) * (-1.0 / H))
    good = d * np.array([x.score for x in rows])
    return float(np.sign(np.add.reduceat(good, [0])[0] - np.add.reduceat(d - good, [0])[0]))


def _same_views(a: ReputationVector, b: ReputationVector, names: list[str]) -> None:
    va, vb = view_of(a), view_of(b)
    assert (n_positive(va), va.iterations) == (n_positive(vb), vb.iterations)
    for p in names:
        assert figures(va, p) == figures(vb, p)  # bit for bit: not only within a tolerance


@pytest.mark.req("ATT-003", "ATT-008", "ATT-021")
def test_a_tie_summed_in_either_order_is_a_tie() -> None:
    """Four good outcomes and four bad ones settled at the same four times, listed so that G and B are
    summed in opposite orders: G = B exactly. Summed left to right, the two orders of the list put G - B
    on two sides of 0 -- one order handing alice the seed's whole flow, the other none. Now both orders
    give the exact tie: viewer is dangling, alice has trust 0, and every figure is bit-identical."""
    ages = reputation.TIE_AGES
    rows = [RatingRow("viewer", "alice", 100, 1.0, NOW - a) for a in ages]
    rows += [RatingRow("viewer", "alice", 100, 0.0, NOW - a) for a in ages[::-1]]
    # the attack: summed left to right (d = 2^(-age/H)), and as the reference summed a pair's run (numpy's
    # add.reduceat, d = 2^(age · (-1/H))), one order of the list lands G - B above 0 and the other below
    for naive in (_left_to_right, _as_reduceat):
        assert {naive(rows), naive(rows[::-1])} == {1.0, -1.0}
    assert math.fsum(2 ** (-a / H) for a in ages) - math.fsum(2 ** (-a / H) for a in ages[::-1]) == 0
    forward, backward = _view(rows), _view(rows[::-1])
    _same_views(forward, backward, ["viewer", "alice"])
    view = view_of(forward)
    assert view.score("alice").trust == 0 and view.score("viewer").trust == 1.0
    assert n_positive(view) == 1


@pytest.mark.req("ATT-003", "ATT-008", "ATT-021")
def test_a_tie_across_a_half_life_is_a_tie() -> None:
    """One good outcome at age a and two bad ones at age a + H: d(a) = 2 d(a + H) in exact arithmetic, so
    G = B. Computed as 2^(-age/H), the two d's rounded on their own, G - B is an ulp off 0 for about
    four ages in ten (here, one of them), and the seed's whole flow went to alice. With d = 2^(-q) ·
    2^(-r/H) a rating one half-life older weighs exactly half: the tie is exact."""
    a = reputation.HALF_LIFE_TIE_AGE
    naive = 2 ** (-a / H) - 2 * 2 ** (-(a + H) / H), 2 ** (a * (-1 / H)) - 2 * 2 ** ((a + H) * (-1 / H))
    assert all(x > 0 for x in naive)  # the attack: the plain decay, either way, puts G above B
    rows = [
        RatingRow("viewer", "alice", 100, 1.0, NOW - a),
        RatingRow("viewer", "alice", 100, 0.0, NOW - a - H),
        RatingRow("viewer", "alice", 100, 0.0, NOW - a - H),
    ]
    view = view_of(_view(rows))
    assert view.score("alice").trust == 0 and view.score("viewer").trust == 1.0
    assert view.score("alice").score == 0.5 and view.score("alice").vouched_stake == 0
    _same_views(_view(rows), _view(rows[::-1]), ["viewer", "alice"])


@pytest.mark.req("ATT-009", "ATT-010", "ATT-021")
def test_n_positive_counts_the_principals_the_seeds_reach_whatever_the_method() -> None:
    """A chain of 45 links from the seed: the iteration stops at 30, so the far links still have t = 0 in
    its last iterate, but all 47 principals are reachable over pairs of c > 0 -- the support of the fixed
    point. n₊ is 47 for the view and for one iterated to the fixed point. Their trusts agree within the
    tolerance (the iterate is within (1 - a)/a · 10⁻⁹ of the fixed point in L1), and their scores within
    n₊ times that (a voice is t · n₊) -- where, with n₊ counted on the iterate, they differed by 0.034. The
    iterate, not the fixed point, stays what a view reports (ATT-009): n₊ · 10⁻⁹ is above ATT-021's
    tolerance."""
    rows = [RatingRow(f"link-{i}", f"link-{i + 1}", 100, 1.0, NOW) for i in range(45)]
    rows.append(RatingRow("viewer", "link-0", 100, 1.0, NOW))
    view = view_of(_view(rows))
    deeper = view_of(_view(rows), TrustParams(tolerance=1e-300, max_iterations=200))
    assert view.score("link-45").trust == 0 < deeper.score("link-45").trust  # the iterate's support is short
    assert n_positive(view) == n_positive(deeper) == 47
    distance = float(np.abs(view.trust - deeper.trust).sum())
    assert distance <= 1e-9
    gaps = [abs(view.score(f"link-{i}").score - deeper.score(f"link-{i}").score) for i in range(46)]
    assert 1e-9 < max(gaps) <= 47 * distance


@pytest.mark.req("ATT-010", "ATT-013")
def test_n_positive_counts_no_principal_behind_an_even_record_or_a_faulty_one() -> None:
    """Reachable means over pairs of c > 0 from seeds that are not faulty: a subject rated only evenly, or
    only through a faulty principal, or only by a ring no seed rated, is not counted."""
    rows = [
        RatingRow("viewer", "alice", 100, 1.0, NOW),
        RatingRow("viewer", "even", 100, 0.5, NOW),  # G = B: c = 0
        RatingRow("alice", "mallory", 100, 1.0, NOW),
        RatingRow("mallory", "bob", 100, 1.0, NOW),  # bob only through mallory
        RatingRow("ring-0", "ring-1", 100, 1.0, NOW),
        RatingRow("ring-1", "ring-0", 100, 1.0, NOW),
    ]
    assert n_positive(view_of(_view(rows))) == 4  # viewer, alice, mallory, bob
    assert n_positive(view_of(_view(rows, faulty=("mallory",)))) == 2  # viewer, alice
    assert n_positive(view_of(_view(rows, seeds=("viewer", "ring-0")))) == 6
    assert n_positive(view_of(_view(rows, faulty=("viewer",)))) == 0  # no seed left: nobody


@pytest.mark.req("ATT-003")
def test_every_pair_sum_is_math_fsum_whatever_its_terms() -> None:
    """ATT-003 (a): the reference sums a pair's run of three to 64 terms with a vectorised cascade of
    error-free additions and takes it only when it can prove the result correctly rounded, else
    math.fsum. On runs built to defeat a naive sum -- magnitudes over 2^±60, both signs, halfway cases
    that round to even, decays times stakes up to 2^53 -- every sum is math.fsum's, bit for bit, where a
    left-to-right sum differs on thousands."""
    from a2a_coop.protocol.trust import _sum_per_pair

    rng = np.random.default_rng(19)
    runs: list[list[float]] = [
        [1.0, 2.0**-53, 2.0**-106],
        [1.0, 2.0**-53, 2.0**-53, 2.0**-106],
        [2.0**53, 1.0, 1.0, 1.0],
        [1.0, -(2.0**-53), 2.0**-106, 0.0],
        [0.0, 0.0, 0.0],
        [1.0] + [2.0**-53] * 200,  # past the cascade: math.fsum itself
    ]
    for _ in range(6_000):
        n, kind = int(rng.integers(1, 80)), int(rng.integers(0, 5))
        if kind == 0:
            xs = rng.random(n) * 2.0 ** rng.integers(-60, 60, n)
        elif kind == 1:
            xs = (rng.random(n) - 0.5) * 2.0 ** rng.integers(-60, 60, n)
        elif kind == 2:
            xs = np.exp2(-rng.integers(0, 100, n) / 7.0) * rng.choice([0.0, 0.5, 1.0], n)
        elif kind == 3:
            xs = np.exp2(-rng.integers(0, 10**10, n) / H) * rng.integers(1, 2**53, n)
        else:
            xs = np.array([1.0] + [2.0**-53] * (n - 1)) * rng.choice([1.0, -1.0], n)
        runs.append([float(x) for x in xs])
    lengths = np.array([len(r) for r in runs])
    rater = np.repeat(np.arange(len(runs)), lengths)  # one pair per run, its terms in order
    column = np.array([x for r in runs for x in r])
    _, _, [sums] = _sum_per_pair(rater, np.full(len(column), len(runs)), len(runs) + 1, (column,))
    want = [math.fsum(r) for r in runs]
    assert sums.tolist() == want
    assert sum(sum(r) != w for r, w in zip(runs, want, strict=True)) > 1_000  # the runs test something
