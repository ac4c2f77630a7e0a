"""Sweeps: many runs of the dynamics (seeds x worlds x dynamics x sizes), in local processes or on Ray.

Each run is a pure function of its :class:`RunSpec` (every random draw is seeded from it), so a run's
result is the same bit for bit whether it runs here, in any of ``processes`` worker processes, or on
a Ray cluster: results come back in the specs' order, whatever order the workers finish in.

Local processes use the ``spawn`` start method (a clean interpreter per worker: no state forked
from a parent that has imported gRPC); a program that calls :func:`sweep` with ``processes > 1``
must guard its entry point with ``if __name__ == "__main__":``, as the ``a2a-coop`` command does.
Ray is an optional extra (``pip install -e '.[ray]'`` in the checkout), imported only when ``ray_address`` is
given; the cluster's workers need this package installed too.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from reference_agents import AGENTS
from reference_agents.evolve import DYNAMICS, run
from reference_agents.sim import SIM_TYPES, WORLDS, SimError, check

# (runs done, runs in all, the spec just done, its result)
OnDone = Callable[[int, int, "RunSpec", dict[str, Any]], None]


@dataclass(frozen=True)
class RunSpec:
    """One run: ``dynamics`` in ``world`` from ``seed``, ``population`` individuals, ``steps`` steps."""

    world: str
    seed: int
    dynamics: str = "moran"
    population: int = 30
    steps: int = 100
    types: tuple[str, ...] = SIM_TYPES
    bond: float = 1.0  # each side's bond over the trade's value (verifiable world)
    dt: float = 0.1  # the replicator's time step
    pool_audit: bool = False  # claim readers audit the public attestation pool (Population)

    def label(self) -> str:
        bond = f" bond={self.bond:g}" if self.bond != 1.0 else ""
        audit = " pool-audit" if self.pool_audit else ""
        size = f"N={self.population} steps={self.steps}"
        return f"{self.world} {self.dynamics} {size}{bond}{audit} seed={self.seed}"


def grid(
    *,
    worlds: Sequence[str] = WORLDS,
    seeds: Iterable[int] = range(10),
    dynamics: Sequence[str] = DYNAMICS,
    populations: Sequence[int] = (30,),
    steps: Sequence[int] = (100,),
    types: Sequence[str] = SIM_TYPES,
    bonds: Sequence[float] = (1.0,),
    dt: float = 0.1,
    pool_audit: bool = False,
) -> list[RunSpec]:
    """Every combination, in a fixed order (world, dynamics, population, steps, bond, seed).

    Raises:
        SimError: an unknown world, dynamics or type, or a size out of range.
    """
    seeds = list(seeds)
    for world in worlds:
        check(world, types)
    for d in dynamics:
        if d not in DYNAMICS:
            raise SimError(f"unknown dynamics {d!r}; choose among: {', '.join(DYNAMICS)}")
    if not seeds or any(s < 0 for s in seeds):
        raise SimError("seeds must be a non-empty list of non-negative integers")
    if any(n < max(2, len(types)) for n in populations) or any(s < 0 for s in steps):
        raise SimError(f"populations must be at least {max(2, len(types))} (the number of types); steps >= 0")
    if not 0 < dt < math.inf:  # NaN too: it compares false to everything
        raise SimError("dt must be a finite number > 0")
    if any(not 0 <= b <= 100 for b in bonds):
        raise SimError("bonds must be between 0 and 100 times the trade's value")
    return [
        RunSpec(w, s, d, n, k, tuple(types), b, dt, pool_audit)
        for w in worlds
        for d in dynamics
        for n in populations
        for k in steps
        for b in bonds
        for s in seeds
    ]


def run_spec(spec: RunSpec) -> dict[str, Any]:
    """Run one spec; its result's details (JSON-ready). A top-level function: workers pickle it."""
    result = run(
        spec.world,
        spec.seed,
        dynamics=spec.dynamics,
        types=spec.types,
        population=spec.population,
        steps=spec.steps,
        bond=spec.bond,
        dt=spec.dt,
        pool_audit=spec.pool_audit,
    )
    return {"spec": asdict(spec), **result.details()}


class SweepIncomplete(Exception):
    """Some runs failed (a simulator bug: a run's result depends on its seed alone, so it fails again).
    ``results``: the runs that completed, in the order of their specs; ``failures``: (spec, error)."""

    def __init__(self, results: list[dict[str, Any]], failures: list[tuple[RunSpec, str]]) -> None:
        super().__init__(f"{len(failures)} of {len(results) + len(failures)} runs failed")
        self.results, self.failures = results, failures


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def sweep(
    specs: Sequence[RunSpec],
    *,
    processes: int = 1,
    ray_address: str | None = None,
    on_done: OnDone | None = None,
) -> list[dict[str, Any]]:
    """Run every spec; results in the order of ``specs``.

    Args:
        processes: local worker processes (1: in this process). Ignored with ``ray_address``.
        ray_address: an existing Ray cluster to run on (``ray.init(address=...)``; "local" starts one).
        on_done: called after each run completes, in completion order, with its result.

    Raises:
        SimError: ``processes`` below 1, or Ray asked for but not installed.
        SweepIncomplete: a run failed; the others still ran (their results are on the exception).
    """
    if processes < 1:
        raise SimError("processes must be at least 1")
    done = on_done or (lambda n, total, spec, result: None)
    if ray_address is not None:
        return _on_ray(specs, ray_address, done)
    results: list[dict[str, Any] | None] = [None] * len(specs)
    failures: list[tuple[RunSpec, str]] = []
    if processes == 1 or len(specs) <= 1:
        for i, spec in enumerate(specs):
            try:
                results[i] = result = run_spec(spec)
            except Exception as exc:  # one run's bug loses no other run
                failures.append((spec, _failure(exc)))
                continue
            done(i + 1, len(specs), spec, result)
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(run_spec, spec): i for i, spec in enumerate(specs)}
            for n, future in enumerate(concurrent.futures.as_completed(futures), 1):
                i = futures[future]
                try:
                    results[i] = result = future.result()
                except Exception as exc:
                    failures.append((specs[i], _failure(exc)))
                    continue
                done(n, len(specs), specs[i], result)
    completed = [r for r in results if r is not None]
    if failures:
        raise SweepIncomplete(completed, failures)
    return completed


def _on_ray(specs: Sequence[RunSpec], address: str, done: OnDone) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise SimError("--ray needs Ray: pip install -e '.[ray]' in the a2a-coop checkout") from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False
        )
    try:
        remote = ray.remote(run_spec)
        refs = [remote.remote(spec) for spec in specs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(specs)
        failures: list[tuple[RunSpec, str]] = []
        pending, n = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            n += 1
            try:
                results[i] = result = ray.get(ready[0])
            except Exception as exc:  # a RayTaskError: the run's own error is its cause
                failures.append((specs[i], _failure(getattr(exc, "cause", None) or exc)))
                continue
            done(n, len(specs), specs[i], result)
        completed = [r for r in results if r is not None]
        if failures:
            raise SweepIncomplete(completed, failures)
        return completed
    finally:
        if started:
            ray.shutdown()


def run_group(r: dict[str, Any]) -> tuple[Any, ...]:
    """What a summary row (and a report section, less the world) groups a run by: world, dynamics,
    population, steps, bond, pool audit, the replicator's dt (None for Moran) and the types."""
    spec, dynamics = r["spec"], r["dynamics"]
    return (
        r["world"],
        dynamics,
        r["population"],
        spec["steps"],
        spec.get("bond", 1.0),
        bool(spec.get("pool_audit", False)),
        spec.get("dt", 0.1) if dynamics == "replicator" else None,
        tuple(r["types"]),
    )


def summarize(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (world, dynamics, population, steps, bond, pool audit, the replicator's dt, the types): runs,
    cooperative fixations (only cooperative types left), the deceptive share (mean, min, max, runs below
    10 %, runs where it is 0), and the mean final share of every type. A row of runs with the pool audit
    says so (``"pool_audit": true``); other rows carry no such key. Runs of other types or another dt are
    never merged into one row (``sim report`` may be given the results of several sweeps)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(run_group(r), []).append(r)
    out = []
    for (world, dynamics, population, steps, bond, pool_audit, _, _), runs in groups.items():
        deceptive = [r["deceptive_share"] for r in runs]
        types = runs[0]["types"]
        out.append(
            {
                "world": world,
                "dynamics": dynamics,
                "population": population,
                "steps": steps,
                "bond": bond,
                "dt": runs[0]["spec"].get("dt", 0.1) if dynamics == "replicator" else None,
                "generations": round(sum(r["generations"] for r in runs) / len(runs), 2),
                "runs": len(runs),
                "seeds": [r["seed"] for r in runs],
                "cooperative_fixations": sum(1 for r in runs if r["cooperative_fixation"]),
                "deceptive_below_10pct": sum(1 for d in deceptive if d < 0.10),
                "deceptive_extinct": sum(1 for d in deceptive if d == 0),
                "deceptive_share_mean": round(sum(deceptive) / len(runs), 4),
                "deceptive_share_min": min(deceptive),
                "deceptive_share_max": max(deceptive),
                "cooperative_share_mean": round(sum(r["cooperative_share"] for r in runs) / len(runs), 4),
                "shares_mean": {t: round(sum(r["shares"][t] for r in runs) / len(runs), 4) for t in types},
                "deceptive_types": [t for t in types if AGENTS[t].deceptive],
                **({"pool_audit": True} if pool_audit else {}),
            }
        )
    return out
