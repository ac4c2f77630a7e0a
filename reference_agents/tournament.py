"""The Axelrod check: a round robin of hosted Axelrod strategies played through a2a-coop ranks them as
``axelrod.Tournament`` does (issue 13, item 2).

Our side: one :class:`~reference_agents.engine.Engine` with one peer per strategy (an
:class:`~reference_agents.axelrod_adapter.AxelrodStrategy`, told the match length); every pair plays
``turns`` trades (the proposer alternates; a trade is one turn), each a real protocol trade between the
two peers: Offer, Accept, then each side's Delivery or none, and Receipts. A player's score is its mean
payoff per turn over its opponents, from the trades' outcomes and the trade game
(:func:`~reference_agents.axelrod_adapter.trade_game`) -- Axelrod's normalised score, self-play left out
as Axelrod leaves it out.

Axelrod's side: ``axelrod.Tournament`` of the same strategies, same turns, one repetition, with
``axelrod.Game`` set to the same payoffs. The figure is Spearman's rank correlation of the two score
vectors. Stochastic players draw from their own seeded RNGs on both sides, but not the same seeds
(Axelrod derives its own per match), so their scores agree in distribution, not bit for bit.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_agents.axelrod_adapter import AxelrodStrategy, axelrod_game, axelrod_module, trade_game
from reference_agents.engine import Engine


class CheckError(ValueError):
    """A bad check parameter (too few strategies or turns, an unknown strategy)."""


def playable(cls: Any) -> bool:
    """Whether a strategy can play the trade game: a few (the zero-determinant family) are built for
    Axelrod's default payoffs only and refuse any other game."""
    try:
        cls().set_match_attributes(length=1, game=axelrod_game(), noise=0)
    except (ValueError, ZeroDivisionError):
        return False
    return True


def pick(count: int, seed: int) -> list[str]:
    """``count`` strategies of the library drawn with ``seed``: among those that obey Axelrod's rules,
    are classed short to run (a long-running one costs minutes per match in either engine) and can
    play the trade game (:func:`playable`)."""
    axl = axelrod_module()
    pool = sorted(
        s.__name__ for s in axl.short_run_time_strategies if axl.Classifiers.obey_axelrod(s()) and playable(s)
    )
    if not 2 <= count <= len(pool):
        raise CheckError(f"--strategies must be within 2..{len(pool)}")
    return sorted(random.Random(seed).sample(pool, count))


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank); 1.0 when either side is constant."""

    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        out = [0.0] * len(v)
        k = 0
        while k < len(order):
            m = k
            while m + 1 < len(order) and v[order[m + 1]] == v[order[k]]:
                m += 1
            for t in range(k, m + 1):
                out[order[t]] = (k + m) / 2 + 1
            k = m + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return 1.0 if vx == 0 or vy == 0 else cov / (vx * vy)


@dataclass
class CheckResult:
    strategies: list[str]
    turns: int
    seed: int
    mode: str
    ours: list[float]  # normalised score per strategy, through a2a-coop
    theirs: list[float]  # axelrod.Tournament's
    trades: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def spearman(self) -> float:
        return spearman(self.ours, self.theirs)

    def as_json(self) -> dict[str, Any]:
        return {
            "spearman": round(self.spearman, 4),
            "target": 0.95,
            "target_met": self.spearman >= 0.95,
            "strategies": len(self.strategies),
            "turns": self.turns,
            "seed": self.seed,
            "mode": self.mode,
            "trades": self.trades,
            "game": dict(zip("RSTP", trade_game(), strict=True)),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def round_robin(
    names: Sequence[str], turns: int, *, seed: int = 0, mode: str = "crypto"
) -> tuple[list[float], int]:
    """Each strategy's mean payoff per turn against the others, every turn a trade between peers.

    Returns the scores and the number of trades made.
    """
    r, s, t, p = trade_game()
    payoff = {(True, True): (r, r), (True, False): (s, t), (False, True): (t, s), (False, False): (p, p)}
    hosted = [AxelrodStrategy(player=n, seed=seed * 1000 + i, turns=turns) for i, n in enumerate(names)]
    engine = Engine(hosted, mode=mode, seed=seed, tag="axelrod")
    totals = [0.0] * len(names)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            for turn in range(turns):
                a, b = (i, j) if turn % 2 == 0 else (j, i)
                outcome = engine.trade(a, b)
                if not outcome.contract:
                    raise RuntimeError(f"{names[a]} and {names[b]} formed no contract")  # accepts always
                pa, pb = payoff[outcome.delivered]
                totals[a] += pa
                totals[b] += pb
    per = turns * (len(names) - 1)
    return [x / per for x in totals], engine.trades


def axelrod_scores(names: Sequence[str], turns: int, *, seed: int = 0) -> list[float]:
    """``axelrod.Tournament``'s normalised scores (median over its one repetition), same game."""
    axl = axelrod_module()
    by_name = {s.__name__: s for s in axl.strategies}
    players = [by_name[n]() for n in names]
    tournament = axl.Tournament(players, turns=turns, repetitions=1, game=axelrod_game(), seed=seed)
    results = tournament.play(progress_bar=False)
    return [float(sorted(row)[len(row) // 2]) for row in results.normalised_scores]


def check(
    count: int = 20,
    turns: int = 200,
    *,
    seed: int = 0,
    mode: str = "crypto",
    names: Sequence[str] | None = None,
) -> CheckResult:
    """Run both round robins on the same strategies (``names``, or ``count`` picked with ``seed``)."""
    if turns < 1:
        raise CheckError("--turns must be at least 1")
    chosen = list(names) if names is not None else pick(count, seed)
    start = time.perf_counter()
    ours, trades = round_robin(chosen, turns, seed=seed, mode=mode)
    mid = time.perf_counter()
    theirs = axelrod_scores(chosen, turns, seed=seed)
    seconds = {"a2a_coop": mid - start, "axelrod": time.perf_counter() - mid}
    return CheckResult(chosen, turns, seed, mode, ours, theirs, trades, seconds)


def deterministic(names: Sequence[str]) -> list[str]:
    """The deterministic strategies among ``names`` (the ones whose pair games can be cached)."""
    axl = axelrod_module()
    by_name = {s.__name__: s for s in axl.strategies}
    return [n for n in names if not axl.Classifiers["stochastic"](by_name[n]())]


@dataclass
class MoranRun:
    """A Moran process (birth-death) over hosted deterministic Axelrod strategies, the games played
    through a2a-coop: each distinct pair of types plays ``turns`` trades between two peers once (their
    strategies are deterministic, so every later game between those types would repeat it -- what
    ``axelrod.MoranProcess``'s deterministic cache also relies on), then each generation: every
    individual's score is its summed payoff per turn against every other individual, one reproduces
    with probability proportional to ``fitness(score)``, and its copy replaces one of the others drawn
    uniformly. Seeded; ``populations`` holds the type counts after each generation."""

    population: list[str]
    turns: int
    seed: int = 0
    mode: str = "model"
    beta: float = 1.0
    populations: list[dict[str, int]] = field(default_factory=list)
    trades: int = 0

    def __post_init__(self) -> None:
        stochastic = sorted(set(self.population) - set(deterministic(self.population)))
        if stochastic:
            raise CheckError(f"the Moran population must be deterministic; not: {', '.join(stochastic)}")
        self.types = sorted(set(self.population))
        self.rng = random.Random(self.seed)
        self.table: dict[tuple[str, str], float] = {}

    def fitness(self, score: float) -> float:
        """``exp(beta * mean payoff per turn)``: positive for any payoff (the trade game pays -1 for
        being cheated), and the same transformation ``axelrod.MoranProcess`` is given here."""
        return math.exp(self.beta * score / (len(self.population) - 1))

    def play_games(self) -> None:
        """Each pair of types (a type against itself too) plays ``turns`` trades, through a2a-coop."""
        r, s, t, p = trade_game()
        payoff = {(True, True): (r, r), (True, False): (s, t), (False, True): (t, s), (False, False): (p, p)}
        pairs = [(x, y) for k, x in enumerate(self.types) for y in self.types[k:]]
        hosted = [AxelrodStrategy(player=name, turns=self.turns) for pair in pairs for name in pair]
        engine = Engine(hosted, mode=self.mode, seed=self.seed, tag="moran")
        for k, (x, y) in enumerate(pairs):
            sx = sy = 0.0
            for turn in range(self.turns):
                a, b = (2 * k, 2 * k + 1) if turn % 2 == 0 else (2 * k + 1, 2 * k)
                pa, pb = payoff[engine.trade(a, b).delivered]
                if a == 2 * k:
                    sx, sy = sx + pa, sy + pb
                else:
                    sx, sy = sx + pb, sy + pa
            self.table[(x, y)], self.table[(y, x)] = sx / self.turns, sy / self.turns
        self.trades = engine.trades

    def step(self) -> None:
        pop = self.population
        counts = {t: 0 for t in self.types}
        for t in pop:
            counts[t] += 1
        vs_all = {x: sum(self.table[(x, y)] * n for y, n in counts.items()) for x in self.types}
        scores = [vs_all[x] - self.table[(x, x)] for x in pop]  # everyone but oneself
        parent = self.rng.choices(range(len(pop)), weights=[self.fitness(s) for s in scores])[0]
        dead = self.rng.randrange(len(pop) - 1)
        dead += dead >= parent
        pop[dead] = pop[parent]
        self.populations.append(dict(sorted(Counter(pop).items())))

    def run(self, steps: int) -> list[dict[str, int]]:
        if not self.table:
            self.play_games()
        for _ in range(steps):
            self.step()
        return self.populations


def axelrod_moran(
    population: Sequence[str], turns: int, steps: int, *, seed: int = 0, beta: float = 1.0
) -> Any:
    """``axelrod.MoranProcess`` over the same population, turns, game and fitness, run ``steps``
    generations (not stopping at fixation, as :class:`MoranRun` does not)."""
    axl = axelrod_module()
    by_name = {s.__name__: s for s in axl.strategies}
    n = len(population)
    process = axl.MoranProcess(
        [by_name[x]() for x in population],
        turns=turns,
        game=axelrod_game(),
        fitness_transformation=lambda score: math.exp(beta * score / (n - 1)),
        stop_on_fixation=False,
        seed=seed,
    )
    for _ in range(steps):
        next(process)
    return process
