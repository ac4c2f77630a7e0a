"""``python -m conformance.mutants list | serve NAME | probe | killrate`` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc

from conformance.mutants.catalog import BY_NAME, MUTANTS, REFERENCE, markdown_table
from conformance.mutants.probes import PROBES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _names(value: str) -> list[str]:
    names = [n for n in value.split(",") if n]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise argparse.ArgumentTypeError(f"no such mutant: {', '.join(unknown)} (see `list`)")
    return names


def _probe_names(value: str) -> list[str]:
    names = [n for n in value.split(",") if n]
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        raise argparse.ArgumentTypeError(f"no such probe: {', '.join(unknown)} (known: {', '.join(PROBES)})")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conformance.mutants",
        description="Fault-injected a2a-coop servers (one SPEC deviation each) and a suite's kill rate.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the mutants, the requirement each breaks and what a suite should see")
    form = ls.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    form.add_argument("--markdown", action="store_true", help="the Markdown table of the package README")
    serve = sub.add_parser("serve", help="serve one mutant (or 'reference') until SIGINT/SIGTERM")
    serve.add_argument("name", help=f"a mutant name, or {REFERENCE!r} for the unmutated peer")
    serve.add_argument("--listen", type=_listen, default=("127.0.0.1", 0), metavar="HOST:PORT")
    serve.add_argument("--state-dir", type=Path, help="keys, mandate and journal (default: a temporary one)")
    probe = sub.add_parser("probe", help="run the direct probes against a target; exit 1 if one fails")
    probe.add_argument("--target", required=True, metavar="HOST:PORT")
    probe.add_argument("--only", type=_probe_names, help="comma-separated probe names")
    kr = sub.add_parser("killrate", help="run a suite command over the reference peer and every mutant")
    kr.add_argument(
        "--suite-cmd",
        default=f"{sys.executable} -m conformance.mutants probe --target {{target}}",
        help="run per server, {target} becoming HOST:PORT; exit 1 = a MUST failed (default: the probes)",
    )
    kr.add_argument("--only", type=_names, help="comma-separated mutant names (default: all)")
    kr.add_argument("--timeout", type=float, default=300.0, help="seconds per suite run (default 300)")
    kr.add_argument("--workdir", type=Path, help="keep server and suite logs here")
    kr.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = sys.stdout
    if args.command == "list":
        if args.json:
            rows = [
                {
                    "name": m.name,
                    "violates": list(m.violates),
                    "deviation": m.deviation,
                    "expect": m.expect,
                    "seam": m.seam,
                    "probe": m.probe,
                }
                for m in MUTANTS
            ]
            out.write(json.dumps(rows, indent=2) + "\n")
        elif args.markdown:
            out.write(markdown_table())
        else:
            for m in MUTANTS:
                out.write(f"{m.name:<26} {','.join(m.violates):<22} {m.deviation}\n")
            out.write(f"{len(MUTANTS)} mutants\n")
        return EXIT_OK
    if args.command == "serve":
        if args.name != REFERENCE and args.name not in BY_NAME:
            print(
                f"error: no mutant {args.name!r} (see `python -m conformance.mutants list`)", file=sys.stderr
            )
            return EXIT_USAGE
        from conformance.mutants.server import serve_until_stopped

        host, port = args.listen
        try:
            serve_until_stopped(args.name, host, port, args.state_dir, out)
        except RuntimeError as exc:
            print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    if args.command == "probe":
        from conformance.mutants.probes import run_probes

        try:
            results = run_probes(args.target, args.only)
        except grpc.RpcError as exc:
            print(f"error: cannot reach {args.target}: {exc.code().name}", file=sys.stderr)
            return EXIT_USAGE
        for name, why in results.items():
            out.write(f"{'FAIL' if why else 'pass'}  {name}{': ' + why if why else ''}\n")
        failed = sum(1 for why in results.values() if why)
        out.write(f"{len(results) - failed} of {len(results)} probes passed\n")
        return EXIT_FAILED if failed else EXIT_OK
    from conformance.mutants.killrate import kill_rate

    figures = kill_rate(
        args.suite_cmd, args.only, out=out, timeout_s=args.timeout, workdir=args.workdir, jobs=args.jobs
    )
    return EXIT_OK if figures["reference_passes"] else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
