"""Evolutionary dynamics over a :class:`~reference_agents.population.Population` that really trades.

Fitness comes from the trades individuals actually played in the population, with their identities,
escrow accounts, attestations and reputation views carried from one round to the next (see
:mod:`reference_agents.population`): an individual's fitness is ``exp(beta * p)`` with ``p`` its
payoff per trading opportunity over its life (a newborn that has not traded yet has its parent's).

* **Moran** (:func:`moran`): a *step* is one birth-death event, as in ``axelrod.MoranProcess``: one
  individual reproduces with probability proportional to its fitness, and its offspring -- a newborn
  of its type, a fresh identity -- replaces one individual drawn uniformly. A *generation* is
  ``population`` steps: every individual is replaced once on average. The population plays one
  round of trades at the start of every generation. It stops at fixation (one type left) or after
  ``steps`` steps.
* **Replicator** (:func:`replicator`): discrete generations. Each generation the population plays a
  round; each type's share ``x_i`` moves by ``x_i += dt * x_i * (f_i - mean f)`` with ``f_i`` the
  type's mean payoff per opportunity in that round; the population is then recomposed to the
  nearest counts (largest remainders): a type that shrinks loses individuals drawn at random, one
  that grows gains newborns of a random member. A type that falls to no individual is extinct.

Both record the shares after every generation (:attr:`EvolveResult.history`) and the trades played
(per type pair: :attr:`EvolveResult.payoffs`), and are reproducible bit for bit from ``seed``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_agents import AGENTS
from reference_agents.population import Population, founders
from reference_agents.sim import SIM_TYPES, SimError, check

DYNAMICS = ("moran", "replicator")
Progress = Callable[[int, int], None]  # (done, total)


def _noop(done: int, total: int) -> None:
    return None


@dataclass
class EvolveResult:
    """What one run of the dynamics did: final shares, their history, and the trades played."""

    world: str
    dynamics: str
    seed: int
    population: int
    types: list[str]
    steps: int  # Moran: birth-death events; replicator: generations
    generations: float
    shares: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)  # shares after each generation
    payoffs: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # row type -> col -> [sum, n]
    outcomes: dict[str, int] = field(default_factory=dict)  # final states of the offers made
    welfare: dict[str, Any] = field(default_factory=dict)  # hook: per-run welfare metrics (welfare.py)

    @property
    def fixated(self) -> str | None:
        alive = [t for t, s in self.shares.items() if s > 0]
        if len(alive) == 1:
            return alive[0]
        return (
            next((t for t, s in self.shares.items() if s >= 0.99), None) if self.dynamics != "moran" else None
        )

    @property
    def deceptive_share(self) -> float:
        return sum(s for t, s in self.shares.items() if AGENTS[t].deceptive)

    @property
    def cooperative_share(self) -> float:
        return sum(s for t, s in self.shares.items() if AGENTS[t].kind == "cooperative")

    @property
    def cooperative_fixation(self) -> bool:
        """Only cooperative types are left (within 1 % for the replicator's continuous shares)."""
        return self.cooperative_share >= (1.0 if self.dynamics == "moran" else 0.99)

    def payoff_table(self) -> dict[str, dict[str, float | None]]:
        """Mean payoff per offer (units of VALUE) of the row type against the column type, over every
        offer made between them in the run, either side offering; None where they never met."""
        return {
            t: {u: (s / n if n else None) for u, (s, n) in ((u, self.payoffs[t][u]) for u in self.types)}
            for t in self.types
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "world": self.world,
            "dynamics": self.dynamics,
            "seed": self.seed,
            "population": self.population,
            "steps": self.steps,
            "generations": round(self.generations, 4),
            "fixated": self.fixated,
            "cooperative_fixation": self.cooperative_fixation,
            "deceptive_share": round(self.deceptive_share, 4),
            "cooperative_share": round(self.cooperative_share, 4),
            "shares": {k: round(v, 4) for k, v in self.shares.items()},
        }

    def details(self) -> dict[str, Any]:
        """Everything a report needs: the summary, the history, the payoff table, the outcomes."""
        return {
            **self.as_json(),
            "types": self.types,
            "history": [{k: round(v, 4) for k, v in h.items()} for h in self.history],
            "payoff_table": {
                t: {u: None if v is None else round(v, 4) for u, v in row.items()}
                for t, row in self.payoff_table().items()
            },
            "outcomes": dict(sorted(self.outcomes.items())),
            "welfare": self.welfare,
        }


class _Recorder:
    def __init__(self, pop: Population, types: Sequence[str]) -> None:
        self.pop, self.types = pop, list(types)
        self.payoffs = {t: {u: [0.0, 0] for u in types} for t in types}
        self.outcomes: dict[str, int] = {}
        self.history: list[dict[str, float]] = []
        self.offers = self.agreements = 0
        self.welfare = 0.0  # both sides' payoffs summed over every offer
        self.deals: list[tuple[float, float] | None] = []  # each offer's payoffs, None without a contract

    def play(self) -> dict[str, float]:
        """Play a round; record it; return each type's mean payoff per opportunity in it."""
        before = {ind.did: (ind.payoff, ind.opportunities) for ind in self.pop.members}
        for rec in self.pop.play_round():
            self.outcomes[rec.state] = self.outcomes.get(rec.state, 0) + 1
            self.offers += 1
            self.agreements += rec.contract
            self.welfare += sum(rec.payoffs)
            self.deals.append(rec.payoffs if rec.contract else None)
            for row, col, p in (
                (rec.initiator, rec.responder, rec.payoffs[0]),
                (rec.responder, rec.initiator, rec.payoffs[1]),
            ):
                cell = self.payoffs[row][col]
                cell[0] += p
                cell[1] += 1
        per: dict[str, list[float]] = {}
        for ind in self.pop.members:
            p0, o0 = before.get(ind.did, (0.0, 0))
            acc = per.setdefault(ind.kind, [0.0, 0.0])
            acc[0] += ind.payoff - p0
            acc[1] += ind.opportunities - o0
        return {k: (s / n if n else 0.0) for k, (s, n) in per.items()}

    def snapshot(self) -> dict[str, float]:
        counts = self.pop.counts()
        n = len(self.pop.members)
        shares = {t: counts.get(t, 0) / n for t in self.types}
        self.history.append(shares)
        return shares


def _start(
    world: str, seed: int, types: Sequence[str], population: int, bond: float, *, pool_audit: bool = False
) -> tuple[Population, _Recorder]:
    check(world, types)
    if population < max(2, len(types)):
        raise SimError(f"population must be at least 2 and at least the number of types ({len(types)})")
    pop = Population(world, seed, bond=bond, pool_audit=pool_audit)
    for kind in founders(types, population):
        pop.add(kind)
    rec = _Recorder(pop, types)
    rec.snapshot()
    return pop, rec


def moran(
    world: str,
    seed: int,
    *,
    types: Sequence[str] = SIM_TYPES,
    population: int = 30,
    steps: int = 100,
    beta: float = 1.0,
    bond: float = 1.0,
    pool_audit: bool = False,
    progress: Progress = _noop,
) -> EvolveResult:
    """A Moran process over a trading population (see the module docstring)."""
    if steps < 0:
        raise SimError("steps must be >= 0")
    pop, rec = _start(world, seed, types, population, bond, pool_audit=pool_audit)
    rng = random.Random(f"moran/{world}/{seed}")
    done = 0
    while done < steps and len(pop.counts()) > 1:
        if done % population == 0:
            rec.play()
        fitness = [math.exp(beta * ind.mean_payoff) for ind in pop.members]
        parent = pop.members[rng.choices(range(population), weights=fitness)[0]]
        dead = rng.randrange(population)
        pop.remove(dead)
        pop.add(parent.kind, parent)
        pop.members.insert(dead, pop.members.pop())  # the newborn takes the dead one's place
        done += 1
        if done % population == 0:
            rec.snapshot()
        progress(done, steps)
    if done % population or done == 0:  # a last, partial generation (or none at all)
        rec.snapshot()
    progress(steps, steps)
    return _result(
        world=world,
        dynamics="moran",
        seed=seed,
        population=population,
        types=types,
        steps=done,
        generations=done / population,
        rec=rec,
    )


def replicator(
    world: str,
    seed: int,
    *,
    types: Sequence[str] = SIM_TYPES,
    population: int = 30,
    steps: int = 100,
    dt: float = 0.1,
    bond: float = 1.0,
    pool_audit: bool = False,
    progress: Progress = _noop,
) -> EvolveResult:
    """Replicator dynamics over a trading population, ``steps`` generations (see the module docstring)."""
    if steps < 0 or not 0 < dt < math.inf:  # NaN too: it compares false to everything
        raise SimError("steps must be >= 0 and dt a finite number > 0")
    pop, rec = _start(world, seed, types, population, bond, pool_audit=pool_audit)
    rng = random.Random(f"replicator/{world}/{seed}")
    x = {t: c / population for t, c in pop.counts().items()}
    done = 0
    while done < steps and len(x) > 1:
        f = rec.play()
        mean = sum(x[t] * f.get(t, 0.0) for t in x)
        x = {t: max(0.0, v * (1 + dt * (f.get(t, 0.0) - mean))) for t, v in x.items()}
        total = sum(x.values())
        target = _apportion({t: v / total for t, v in x.items()}, population)
        x = {t: x[t] / total for t in x if target[t] > 0}
        total = sum(x.values())
        x = {t: v / total for t, v in x.items()}
        _recompose(pop, target, rng)
        done += 1
        rec.snapshot()
        progress(done, steps)
    progress(steps, steps)
    result = _result(
        world=world,
        dynamics="replicator",
        seed=seed,
        population=population,
        types=types,
        steps=done,
        generations=float(done),
        rec=rec,
    )
    result.shares = {t: x.get(t, 0.0) for t in types}
    return result


def _apportion(shares: dict[str, float], n: int) -> dict[str, int]:
    """Integer counts summing to ``n`` nearest ``shares`` (largest remainders; ties in type order)."""
    base = {t: math.floor(s * n) for t, s in shares.items()}
    left = n - sum(base.values())
    order = sorted(shares, key=lambda t: -(shares[t] * n - base[t]))
    for t in order[:left]:
        base[t] += 1
    return base


def _recompose(pop: Population, target: dict[str, int], rng: random.Random) -> None:
    counts = pop.counts()
    for kind in sorted(counts):
        while counts[kind] > target.get(kind, 0):
            mine = [i for i, ind in enumerate(pop.members) if ind.kind == kind]
            pop.remove(rng.choice(mine))
            counts[kind] -= 1
    for kind in sorted(target):
        while counts.get(kind, 0) < target[kind]:
            parents = [ind for ind in pop.members if ind.kind == kind]
            pop.add(kind, rng.choice(parents) if parents else None)
            counts[kind] = counts.get(kind, 0) + 1


def _result(
    *,
    world: str,
    dynamics: str,
    seed: int,
    population: int,
    types: Sequence[str],
    steps: int,
    generations: float,
    rec: _Recorder,
) -> EvolveResult:
    counts = rec.pop.counts()
    n = len(rec.pop.members)
    return EvolveResult(
        world,
        dynamics,
        seed,
        population,
        list(types),
        steps,
        generations,
        {t: counts.get(t, 0) / n for t in types},
        rec.history,
        {t: {u: list(c) for u, c in row.items()} for t, row in rec.payoffs.items()},
        rec.outcomes,
        {
            "offers": rec.offers,
            "agreement_rate": round(rec.agreements / rec.offers, 4) if rec.offers else None,
            "social_welfare_per_offer": round(rec.welfare / rec.offers, 4) if rec.offers else None,
            **_fair_division(rec.deals),
        },
    )


def _fair_division(deals: Sequence[tuple[float, float] | None]) -> dict[str, float]:
    """NegMAS's fair-division distances over the contracts played (:mod:`reference_agents.welfare`,
    each trade an even exchange in units of its value): how far the outcomes fell from the Pareto
    frontier and the Nash, Kalai and Kalai-Smorodinsky points, and side a's (the proposer's) share."""
    from reference_agents.sim import GAIN
    from reference_agents.welfare import exchange_scenario, welfare_report

    run = welfare_report(exchange_scenario(GAIN), deals)["run"]
    keys = ("mean_pareto_distance", "mean_nash_distance", "mean_kalai_distance", "mean_ks_distance")
    out = {k.removeprefix("mean_"): round(run[k], 4) for k in keys if isinstance(run.get(k), float)}
    share = run.get("mean_share_a")
    if isinstance(share, float) and math.isfinite(share):
        out["proposer_share"] = round(share, 4)
    return out


def run(
    world: str,
    seed: int,
    *,
    dynamics: str = "moran",
    types: Sequence[str] = SIM_TYPES,
    population: int = 30,
    steps: int = 100,
    bond: float = 1.0,
    dt: float = 0.1,
    pool_audit: bool = False,
    progress: Progress = _noop,
) -> EvolveResult:
    """One run of ``dynamics`` in ``world`` from ``seed`` (``bond``: each side's bond over the trade's
    value, in the verifiable world; ``dt``: the replicator's time step; ``pool_audit``: claim readers
    also disbelieve counterparties the public attestation pool proves broke a reservation claim,
    :class:`~reference_agents.population.Population`)."""
    common: dict[str, Any] = {"types": types, "population": population, "steps": steps, "bond": bond}
    common |= {"pool_audit": pool_audit, "progress": progress}
    if dynamics == "moran":
        return moran(world, seed, **common)
    if dynamics == "replicator":
        return replicator(world, seed, dt=dt, **common)
    raise SimError(f"unknown dynamics {dynamics!r}; choose one of: {', '.join(DYNAMICS)}")
