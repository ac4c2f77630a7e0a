"""The ``agent`` commands: ``agent list`` describes the reference agents, ``agent run`` serves one.

The reference agents live in the top-level package ``reference_agents``, a layer above the runtime;
the CLI imports it here, when one of these commands runs, and nothing else in ``a2a_coop`` imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from a2a_coop.cli._common import EXIT_OK, UsageError


def _agents() -> Any:
    try:
        import reference_agents
    except ImportError:  # an install without the package (a wheel of a2a_coop alone)
        raise UsageError("the reference_agents package is not installed") from None
    return reference_agents


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


def cmd_agent_list(args: argparse.Namespace, out: TextIO) -> int:
    agents = _agents()
    for info in agents.AGENTS.values():
        params = {k: _jsonable(v) for k, v in info.defaults.items()}
        if args.json:
            doc = {
                "name": info.name,
                "kind": info.kind,
                "summary": info.summary,
                "parameters": params,
                "unsafe": info.unsafe,
                "deceptive": info.deceptive,
            }
            out.write(json.dumps(doc, sort_keys=True) + "\n")
            continue
        # `agent run` serves an unsafe agent's guarded strategy; its unsafe acts are driven from Python.
        flags = " [unsafe acts: reference_agents.unsafe, not agent run]" if info.unsafe else ""
        out.write(f"{info.name:<15} {info.kind:<12} {info.summary}{flags}\n")
        out.write(f"{'':<15} {'':<12} parameters: {', '.join(f'{k}={v}' for k, v in params.items())}\n")
    return EXIT_OK


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict; a malformed one is a usage error."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: use KEY=VALUE")
        params[key] = value
    return params


def cmd_agent_run(args: argparse.Namespace, out: TextIO) -> int:
    agents = _agents()
    try:
        strategy = agents.build(args.strategy, **parse_params(args.param))
    except (agents.UnknownAgent, agents.BadParameter) as exc:
        raise UsageError(str(exc)) from None
    from a2a_coop.cli.peer import cmd_serve

    args.strategy_object = strategy
    code: int = cmd_serve(args, out)
    return code


def cmd_sim_evolve(args: argparse.Namespace, out: TextIO) -> int:
    _agents()
    from reference_agents import sim

    types = sim.SIM_TYPES if args.types is None else tuple(t for t in args.types.split(",") if t)
    try:
        sim.check(args.world, types)
        if args.population < max(2, len(types)):
            raise sim.SimError(f"--population must be at least the number of types ({len(types)}) and 2")
        print(f"measuring the payoff table: {len(types)} types, {args.world} world", file=sys.stderr)
        table = sim.payoff_table(args.world, types, args.seed, args.rounds)
        for t, row in table.items():
            print(f"  {t:<12} " + " ".join(f"{row[u]:6.2f}" for u in types), file=sys.stderr)
        if args.dynamics == "replicator":
            result = sim.replicator(table, steps=args.steps, world=args.world, seed=args.seed)
        else:
            result = sim.moran(
                table, population=args.population, steps=args.steps, seed=args.seed, world=args.world
            )
    except sim.SimError as exc:
        raise UsageError(str(exc)) from None
    out.write(json.dumps(result.as_json(), sort_keys=True) + "\n")
    return EXIT_OK
