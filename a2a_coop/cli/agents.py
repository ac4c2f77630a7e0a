"""The ``agent`` commands: ``agent list`` describes the reference agents, ``agent run`` serves one.

The reference agents live in the top-level package ``reference_agents``, a layer above the runtime;
the CLI imports it here, when one of these commands runs, and nothing else in ``a2a_coop`` imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError


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
    if args.axelrod:
        from reference_agents import axelrod_adapter

        try:
            names = axelrod_adapter.strategy_names()
        except axelrod_adapter.AxelrodUnavailable as exc:
            raise UsageError(str(exc)) from None
        for name in names:
            out.write(f"{axelrod_adapter.PREFIX}{name}\n")
        return EXIT_OK
    for info in [*agents.AGENTS.values(), agents.AXELROD]:
        params = {k: _jsonable(v) for k, v in info.defaults.items()}
        if args.json:
            doc = {
                "name": info.name,
                "kind": info.kind,
                "summary": info.summary,
                "parameters": params,
                "unsafe": info.unsafe,
                "unsafe_parameters": dict(info.unsafe_defaults),
                "deceptive": info.deceptive,
            }
            out.write(json.dumps(doc, sort_keys=True) + "\n")
            continue
        # `agent run` serves an unsafe agent's guarded strategy; its unsafe acts are driven from Python.
        flags = " [unsafe acts: reference_agents.unsafe, not agent run]" if info.unsafe else ""
        out.write(f"{info.name:<15} {info.kind:<12} {info.summary}{flags}\n")
        out.write(f"{'':<15} {'':<12} parameters: {', '.join(f'{k}={v}' for k, v in params.items())}\n")
        if info.unsafe_defaults:
            plan = ", ".join(f"{k}={v}" for k, v in info.unsafe_defaults.items())
            out.write(f"{'':<15} {'':<12} unsafe signer's parameters: {plan}\n")
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


def cmd_sim_parity(args: argparse.Namespace, out: TextIO) -> int:
    """Our time-based negotiators through the protocol vs NegMAS's (issue 13); exit 1 out of tolerance."""
    _agents()
    from reference_agents import parity

    try:
        ok = parity.run(args, out)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"sim parity needs NegMAS ({exc}): pip install -e '.[parity]' in the a2a-coop checkout"
        ) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK if ok else EXIT_INVALID


def cmd_sim_axelrod_check(args: argparse.Namespace, out: TextIO) -> int:
    _agents()
    from reference_agents import axelrod_adapter, tournament

    names = None if args.names is None else [n for n in args.names.split(",") if n]
    try:
        axelrod_adapter.axelrod_module()  # the missing extra, before anything is printed
        for name in names or []:
            axelrod_adapter.player_class(name.removeprefix(axelrod_adapter.PREFIX))
        if names is not None:
            names = [n.removeprefix(axelrod_adapter.PREFIX) for n in names]
            if len(names) < 2:
                raise tournament.CheckError("--names needs at least two strategies")
        n = len(names) if names is not None else args.strategies
        print(f"round robin: {n} Axelrod strategies, {args.turns} turns, {args.mode} mode", file=sys.stderr)
        result = tournament.check(args.strategies, args.turns, seed=args.seed, mode=args.mode, names=names)
    except (axelrod_adapter.AxelrodUnavailable, axelrod_adapter.UnknownAxelrodStrategy) as exc:
        raise UsageError(str(exc)) from None
    except tournament.CheckError as exc:
        raise UsageError(str(exc)) from None
    print(f"  {'strategy':<32} {'a2a-coop':>9} {'axelrod':>9}", file=sys.stderr)
    for name, ours, theirs in sorted(
        zip(result.strategies, result.ours, result.theirs, strict=True), key=lambda r: -r[2]
    ):
        print(f"  {name:<32} {ours:9.4f} {theirs:9.4f}", file=sys.stderr)
    out.write(json.dumps(result.as_json(), sort_keys=True) + "\n")
    return EXIT_OK
