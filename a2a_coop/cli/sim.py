"""The ``sim evolve`` and ``sim sweep`` commands: the population simulation of the reference agents.

Like ``agent``, they import the ``reference_agents`` package (a layer above the runtime) only when
they run. Progress goes to stderr (a bar on a terminal, plain lines otherwise); the last line on
stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final, TextIO

from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError, non_negative, positive

WORLDS = ("verifiable", "cheap-talk")
DYNAMICS = ("moran", "replicator")
POOL_AUDIT_HELP: Final = (
    "claim readers (claim-aware) also stop believing a counterparty whose broken reservation claim the "
    "public attestation pool proves (verifiable world; default off)"
)


def add_parsers(ssub: Any, command: Any) -> None:
    """The ``sim evolve`` and ``sim sweep`` parsers; ``command(module, function, networked=False)``
    makes the lazily imported handler."""
    s = ssub.add_parser(
        "evolve",
        help="evolve a trading population in one world; print one JSON line last",
        description="A population of reference agents trades over the real protocol, keeping identities, "
        "escrow accounts and reputation; a Moran process (one birth-death event a step, a round of trades "
        "every generation = population steps) or replicator dynamics (one round of trades a generation) "
        "acts on the payoffs played. Progress on stderr; last on stdout, one JSON line: the final share of "
        "each type, steps and generations, the fixated type, whether only cooperative types are left, and "
        "the deceptive types' combined share. The same seed gives the same result.",
    )
    s.add_argument("--world", required=True, choices=WORLDS)
    s.add_argument("--seed", type=non_negative, default=0, help="(default 0)")
    _add_run_options(s)
    s.add_argument(
        "--model",
        choices=["population", "table"],
        default="population",
        help="population: every individual keeps its identity and trades in the population (default); "
        "table: dynamics over a payoff table of pair games between fresh agents (no reputation travels)",
    )
    s.add_argument("--rounds", type=positive, default=4, help="rounds per pair game (--model table only)")
    s.add_argument(
        "--bond",
        type=float,
        help="each side's bond over the trade's value, verifiable, --model population only (default 1)",
    )
    s.add_argument("--dt", type=float, default=0.1, help="the replicator's time step (default 0.1)")
    s.add_argument("--pool-audit", action="store_true", help=POOL_AUDIT_HELP)
    s.add_argument("--report-dir", type=Path, metavar="DIR", help="also write results.json and report.html")
    s.set_defaults(func=command("sim", "cmd_sim_evolve", networked=False))

    s = ssub.add_parser(
        "sweep",
        help="many runs (seeds x worlds x dynamics x sizes) in local processes or on Ray; summary JSON last",
        description="Runs every combination and prints a summary per world, dynamics and size: cooperative "
        "fixations, the deceptive types' share. Each run's result depends on its seed alone, not on "
        "--processes or where it ran. Last on stdout: one JSON line with the summary.",
    )
    s.add_argument("--worlds", default=",".join(WORLDS), metavar="W,W", help="(default: both)")
    s.add_argument("--seeds", default="0-9", metavar="SPEC", help="e.g. 0-9 or 1,4,7 (default 0-9)")
    s.add_argument("--dynamics", default="moran,replicator", metavar="D,D", help="(default: both)")
    s.add_argument("--population", default="30", metavar="N,N", help="population sizes (default 30)")
    s.add_argument("--steps", default="100", metavar="K,K", help="run lengths (default 100)")
    s.add_argument("--types", metavar="NAME,NAME", help="the agent types (default: every one a run hosts)")
    s.add_argument(
        "--bond",
        default="1",
        metavar="B,B",
        help="each side's bond over the trade's value, verifiable (default 1)",
    )
    s.add_argument("--dt", type=float, default=0.1, help="the replicator's time step (default 0.1)")
    s.add_argument("--pool-audit", action="store_true", help=POOL_AUDIT_HELP)
    s.add_argument("--processes", type=positive, default=1, help="local worker processes (default 1)")
    s.add_argument("--ray", metavar="ADDRESS", help="run on this existing Ray cluster ('local': start one)")
    s.add_argument("--report-dir", type=Path, metavar="DIR", help="also write results.json and report.html")
    s.set_defaults(func=command("sim", "cmd_sim_sweep", networked=False))

    s = ssub.add_parser(
        "report",
        help="one report (results.json and report.html) from the results.json of earlier runs",
        description="Merges the runs of one or more results.json files (written by evolve or sweep "
        "--report-dir) into one self-contained HTML page and one JSON file.",
    )
    s.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    s.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write (created)")
    s.set_defaults(func=command("sim", "cmd_sim_report", networked=False))


def _add_run_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--population", type=positive, default=30, help="(default 30)")
    s.add_argument(
        "--steps",
        type=non_negative,
        default=100,
        help="Moran: birth-death events at most; replicator: generations (default 100)",
    )
    s.add_argument("--dynamics", choices=DYNAMICS, default="moran", help="(default moran)")
    s.add_argument("--types", metavar="NAME,NAME", help="the agent types (default: every one a run hosts)")


def _reference() -> Any:
    try:
        from reference_agents import evolve, report, sim, sweep
        from reference_agents.progress import Progress
    except ImportError:  # an install without the package (a wheel of a2a_coop alone)
        raise UsageError("the reference_agents package is not installed") from None
    return sim, evolve, sweep, report, Progress


def _types(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if text is None else tuple(t for t in text.split(",") if t)


def cmd_sim_evolve(args: argparse.Namespace, out: TextIO) -> int:
    sim, evolve, sweep, report, Progress = _reference()
    table = args.model == "table"
    types = _types(args.types, sim.TABLE_TYPES if table else sim.SIM_TYPES)
    if table and args.bond is not None:  # it was taken, and ignored: the pair games bond the value
        raise UsageError("--bond applies to --model population (a table's pair games bond the trade's value)")
    if table and args.pool_audit:
        raise UsageError("--pool-audit applies to --model population (a table's pair games pool nothing)")
    if args.bond is None:
        args.bond = 1.0
    try:
        sim.check(args.world, types, sim.TABLE_HOSTED if table else sim.HOSTED)
        if args.population < max(2, len(types)):
            raise sim.SimError(f"--population must be at least the number of types ({len(types)}) and 2")
        if table:
            doc = _evolve_table(sim, args, types)
        else:
            label = f"{args.world} {args.dynamics} seed {args.seed}"
            with Progress(label, args.steps) as bar:
                result = evolve.run(
                    args.world,
                    args.seed,
                    dynamics=args.dynamics,
                    types=types,
                    population=args.population,
                    steps=args.steps,
                    bond=args.bond,
                    dt=args.dt,
                    pool_audit=args.pool_audit,
                    progress=lambda done, total: bar.update(done),
                )
            doc = result.as_json()
            if args.report_dir is not None:
                spec = sweep.RunSpec(
                    args.world,
                    args.seed,
                    args.dynamics,
                    args.population,
                    args.steps,
                    types,
                    args.bond,
                    args.dt,
                    args.pool_audit,
                )
                details = [{"spec": _spec_json(spec), **result.details()}]
                paths = report.write(args.report_dir, details, sweep.summarize(details))
                print(f"report: {paths[1]}", file=sys.stderr)
    except sim.SimError as exc:
        raise UsageError(str(exc)) from None
    out.write(json.dumps(doc, sort_keys=True) + "\n")
    return EXIT_OK


def _spec_json(spec: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)


def _evolve_table(sim: Any, args: argparse.Namespace, types: tuple[str, ...]) -> dict[str, Any]:
    print(f"measuring the payoff table: {len(types)} types, {args.world} world", file=sys.stderr)
    table = sim.payoff_table(args.world, types, args.seed, args.rounds)
    for t, row in table.items():
        print(f"  {t:<12} " + " ".join(f"{row[u]:6.2f}" for u in types), file=sys.stderr)
    if args.dynamics == "replicator":
        result = sim.replicator(table, steps=args.steps, dt=args.dt, world=args.world, seed=args.seed)
    else:
        result = sim.moran(
            table, population=args.population, steps=args.steps, seed=args.seed, world=args.world
        )
    doc: dict[str, Any] = result.as_json()
    return doc


MAX_VALUES: Final = 100_000  # of one --seeds, --population or --steps list: each is a run or more


def parse_ints(text: str, option: str) -> list[int]:
    """``0-9``, ``1,4,7`` or a mix (``0-2,5``) as a list of non-negative integers, in order."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, sep, hi = part.partition("-")
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
            if first < 0 or last < first:
                raise ValueError(part)
            if len(out) + last - first + 1 > MAX_VALUES:  # 0-99999999999999999999: an OverflowError
                raise UsageError(f"{option} {text!r} names more than {MAX_VALUES:,} values")
            out += range(first, last + 1)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: use non-negative integers and ranges, e.g. 0-9 or 1,4,7"
        ) from None
    if not out:
        raise UsageError(f"{option} is empty")
    return out


def parse_floats(text: str, option: str) -> list[float]:
    """``1,1.5`` as a list of numbers."""
    try:
        out = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"{option} {text!r}: use numbers separated by commas, e.g. 1,1.5") from None
    if not out:
        raise UsageError(f"{option} is empty")
    return out


def cmd_sim_sweep(args: argparse.Namespace, out: TextIO) -> int:
    sim, _, sweep, report, Progress = _reference()
    try:
        specs = sweep.grid(
            worlds=[w for w in args.worlds.split(",") if w],
            seeds=parse_ints(args.seeds, "--seeds"),
            dynamics=[d for d in args.dynamics.split(",") if d],
            populations=parse_ints(args.population, "--population"),
            steps=parse_ints(args.steps, "--steps"),
            types=_types(args.types, sim.SIM_TYPES),
            bonds=parse_floats(args.bond, "--bond"),
            dt=args.dt,
            pool_audit=args.pool_audit,
        )
        journal = None
        if args.report_dir is not None:  # each run as it completes: a long sweep cut short keeps them
            args.report_dir.mkdir(parents=True, exist_ok=True)
            journal = (args.report_dir / "runs.jsonl").open("w")

        def done(n: int, total: int, spec: Any, result: dict[str, Any]) -> None:
            bar.update(n, spec.label())
            if journal is not None:
                journal.write(json.dumps(result, sort_keys=True) + "\n")
                journal.flush()

        failures: list[tuple[Any, str]] = []
        with Progress("runs", len(specs)) as bar:
            try:
                results = sweep.sweep(specs, processes=args.processes, ray_address=args.ray, on_done=done)
            except sweep.SweepIncomplete as exc:
                results, failures = exc.results, exc.failures
            finally:
                if journal is not None:
                    journal.close()
    except sim.SimError as exc:
        raise UsageError(str(exc)) from None
    for spec, error in failures:  # a simulator bug: the run fails again with the same seed
        print(f"a2a-coop sim sweep: run {spec.label()} failed: {error}", file=sys.stderr)
    if not results:
        return EXIT_INVALID
    summary = sweep.summarize(results)
    for s in summary:
        print(
            f"{s['world']:<11} {s['dynamics']:<10} N={s['population']} steps={s['steps']} bond={s['bond']:g} "
            f"({s['generations']} generations), {s['runs']} runs: cooperative fixation "
            f"{s['cooperative_fixations']}/{s['runs']}, deceptive share mean {s['deceptive_share_mean']:.3f} "
            f"(min {s['deceptive_share_min']:.3f}, max {s['deceptive_share_max']:.3f}, "
            f"below 10 % in {s['deceptive_below_10pct']}/{s['runs']}, "
            f"extinct in {s['deceptive_extinct']}/{s['runs']})",
            file=sys.stderr,
        )
    if args.report_dir is not None:
        paths = report.write(args.report_dir, results, summary)
        print(f"report: {paths[1]} (data: {paths[0]})", file=sys.stderr)
    out.write(json.dumps({"summary": summary}, sort_keys=True) + "\n")
    return EXIT_INVALID if failures else EXIT_OK


def cmd_sim_report(args: argparse.Namespace, out: TextIO) -> int:
    _, _, sweep, report, _ = _reference()
    runs: list[dict[str, Any]] = []
    for path in args.results:
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            doc = json.loads(text)
            runs += doc["runs"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: not a results.json of sim evolve or sim sweep ({exc})") from None
    summary = sweep.summarize(runs)
    paths = report.write(args.out, runs, summary)
    print(f"report: {paths[1]} (data: {paths[0]})", file=sys.stderr)
    out.write(json.dumps({"summary": summary}, sort_keys=True) + "\n")
    return EXIT_OK
