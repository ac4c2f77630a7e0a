"""``a2a-coop conformance``: run the live conformance suite against a target.

The parser is built here (:func:`add_parser`) so that ``a2a_coop.cli.main`` only
registers it; the suite itself (package ``conformance``) is imported when the
command runs.

Exit codes: 0 every MUST case passed (NON-STRICT, SKIP, INFO and NOT-TESTED do
not fail a run; neither does a FAIL listed in ``--expected-failures``); 1 a MUST
case failed, or, with ``--strict``, a case listed in ``--expected-failures``
passed; 2 usage error, unreadable file, or a target, control endpoint or escrow
that cannot be reached or stops answering (no verdict).
"""

from __future__ import annotations

import argparse
import math
import secrets
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError, address, utf8_text

_DEFAULT_TIMEOUT_S = 10.0  # --timeout: the deadline of each call

EPILOG = """\
levels: PASS; FAIL (a MUST broken); NON-STRICT (a SHOULD not met); SKIP (an optional capability
the target does not offer); INFO (an observation); NOT-TESTED (cannot be observed over the wire from
outside the target; the reason says why).

exit codes: 0 every MUST case passed; 1 a MUST case failed (not listed in --expected-failures),
or with --strict a listed case passed; 2 usage or connection error (the target, --control or
--escrow cannot be reached or stopped answering).

expected-failures file: one case ID per line, optionally followed by a reason; '#' starts a
comment. A listed case that fails does not fail the run. One that passes is reported in the
summary and the reports (remove it from the file); with --strict it fails the run (exit 1), so
the file cannot go stale. A listed case that reaches no verdict (SKIP, NOT-TESTED) is noted only.
With --vectors the file lists vector ids (statements-42 or statements-42-ENV-007), the same way.

Examples:
  a2a-coop conformance --list
  a2a-coop conformance --explain env.signature-flipped
  a2a-coop conformance --target 127.0.0.1:50051 --report-dir reports/
  a2a-coop conformance --target 127.0.0.1:50051 --case chn.equivocation --seed 1f2e3d
  a2a-coop conformance --target 127.0.0.1:50051 --expected-failures known.txt --strict   # CI
  a2a-coop conformance --target 127.0.0.1:50051 --escrow 127.0.0.1:50061   # breaches ruled on
  a2a-coop conformance --matrix reports/a reports/b --report-dir reports/
  a2a-coop conformance --vectors --adapter "node my-adapter.js"     # offline: a library, no server
"""


def add_parser(sub: Any, add_dial_tls: Any) -> None:
    """Register ``conformance`` on the CLI's subparsers (``add_dial_tls`` adds the TLS options)."""
    p = sub.add_parser(
        "conformance",
        help="run the live conformance suite against an agent (CI: exit 1 when a MUST fails)",
        description="Test a target's CooperationService (and, optionally, its A2A binding and the "
        "test-only ConformanceControlService) against SPEC.md, case by case: the suite plays the "
        "counterparty with its own deterministic identities, sends valid statements and statements "
        "with exactly one defect, and verifies everything the target signs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="the target's gRPC endpoint (repeatable: each target gets a report directory and the "
        "run a matrix page)",
    )
    p.add_argument("--list", action="store_true", help="list the cases (ID, level of requirements, title)")
    p.add_argument("--explain", metavar="ID", help="say what a case checks and quote its requirements")
    p.add_argument(
        "--case", action="append", default=[], metavar="ID", help="run only this case (repeatable)"
    )
    p.add_argument(
        "--role",
        choices=["responder", "initiator", "escrow", "both"],
        default="both",
        help="which side of the protocol to test the target in (default both: every role; initiator "
        "cases need --control; escrow cases need a target that serves EscrowService, and the bonded ones "
        "an escrow that funds the suite's parties)",
    )
    p.add_argument("--expected-failures", type=Path, metavar="FILE", help="cases known to fail (see below)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="an expected failure that passes fails the run (exit 1), as pytest's xfail_strict: "
        "the expected-failures file must be kept up to date",
    )
    p.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="write report.json, junit.xml and report.html here"
    )
    p.add_argument(
        "--seed",
        type=utf8_text,
        metavar="HEX",
        help="derive the suite's identities from this (default: random; every replay command names it)",
    )
    p.add_argument(
        "--a2a-url",
        type=utf8_text,
        metavar="URL",
        help="the target's A2A HTTP base URL (AgentCard); without it the A2A cases SKIP",
    )
    p.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="the target's ConformanceControlService (SPEC 18.2), for the initiator role; default: "
        "the target's address, if it serves it",
    )
    p.add_argument(
        "--escrow",
        metavar="HOST:PORT",
        help="an EscrowService the target trusts (it was started with --escrow pointing at it) and that "
        "funds the suite's parties (reference: a2a-coop escrow serve --conformance-faucet AMOUNT): the "
        "mis.* scenarios then bond their contracts under it, claim what the target withholds and audit "
        "the escrow's rulings (a breach becomes a hard proof); without it a withheld delivery is INFO",
    )
    p.add_argument(
        "--test-clock",
        action="store_true",
        help="TEST ONLY: the target (and the --escrow, if given) runs on a test clock whose "
        "TestClockService answers this suite as its operator (reference: serve, agent run or escrow serve "
        "--test-clock, CTL-003): the cases that wait out the 30 s clock tolerance for a ruling move every "
        "clock of the run -- the target's, the escrow's, the suite's -- forward together instead",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=_DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"deadline of each call (default {_DEFAULT_TIMEOUT_S:g} s)",
    )
    p.add_argument(
        "--matrix",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="instead of running: combine earlier --report-dir directories (of live runs, report.json, "
        "and of offline runs, offline-report.json; or those files) into one matrix page in --report-dir",
    )
    p.add_argument(
        "--vectors",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="offline mode, no server: run the vector files or directories (default: all of "
        "conformance/vectors) through --adapter, a library implementation behind the stdin/stdout "
        "adapter protocol (SPEC 17.1)",
    )
    p.add_argument(
        "--adapter",
        metavar="CMD",
        help='offline mode: the adapter command, e.g. "node adapter.js" (default: this library, '
        '"python -m conformance.adapter")',
    )
    add_dial_tls(p)


def cmd_conformance(args: argparse.Namespace, out: TextIO) -> int:
    from a2a_coop.cli._runtime import dial_tls
    from conformance.suite import report, runner

    cases = runner.load_cases()
    if args.list:
        return _list(cases, out)
    if args.explain:
        return _explain(cases, args.explain, out)
    if args.vectors is not None or args.adapter is not None:
        return _offline(args, out)
    if args.matrix:
        if args.report_dir is None:
            raise UsageError("--matrix needs --report-dir (where to write matrix.html)")
        try:
            path = report.write_matrix(args.matrix, args.report_dir)
        except OSError as exc:
            raise UsageError(f"--matrix: cannot read {exc.filename}: {exc.strerror or exc}") from None
        except ValueError as exc:  # no report there, not a report, or not JSON
            raise UsageError(f"--matrix: {exc}") from None
        out.write(f"matrix of {len(args.matrix)} runs written to {path}\n")
        return EXIT_OK
    if not args.target:
        raise UsageError("conformance needs --target HOST:PORT (or --list, --explain ID, --matrix DIR...)")
    dialled = [("--target", t) for t in args.target] + [
        ("--escrow", args.escrow),
        ("--control", args.control),
    ]
    for option, value in dialled:
        if value is None:
            continue
        try:
            address(value)
        except argparse.ArgumentTypeError:
            raise UsageError(f"{option} {value!r} must be HOST:PORT with a port 1..65535") from None
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise UsageError("--timeout must be a positive number of seconds")
    if args.a2a_url is not None:
        _check_a2a_url(args.a2a_url, args.timeout)
    try:
        selected = runner.select(cases, ids=args.case, role=args.role)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    expected: dict[str, str] = {}
    if args.expected_failures is not None:
        try:
            expected = runner.read_expected_failures(args.expected_failures)
        except OSError as exc:
            raise UsageError(f"cannot read {args.expected_failures}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.report_dir is not None:  # before the run, not after it: a typo costs no run
        try:
            args.report_dir.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise UsageError(f"--report-dir {args.report_dir} is a file, not a directory") from None
        except OSError as exc:
            raise UsageError(f"cannot write reports to {args.report_dir}: {exc.strerror or exc}") from None
    tls = dial_tls(args)
    seed = args.seed or secrets.token_hex(6)
    runs = []
    try:
        for t in args.target:
            runs.append(
                _run_one(args, target=t, tls=tls, seed=seed, selected=selected, expected=expected, out=out)
            )
    except _Interrupted as exc:  # exit 2 all the same, with the reports of what ran (CI reads them)
        if args.report_dir is not None:
            _write_reports(args, [*runs, exc.run], out, matrix=False)
        raise UsageError(str(exc)) from None
    except runner.RunCancelled as exc:  # Ctrl-C: exit 130 all the same, with the reports of what ran
        lost = exc.run.interrupted or {}
        out.write(
            f"interrupted during case {lost.get('case', '?')} after {len(exc.run.results)} cases "
            f"(replay: {lost.get('replay', '?')})\n"
        )
        if args.report_dir is not None:
            _write_reports(args, [*runs, exc.run], out, matrix=False)
        raise KeyboardInterrupt from None
    _write_reports(args, runs, out)
    return EXIT_INVALID if any(r.fails for r in runs) else EXIT_OK


class _Interrupted(Exception):
    """A run the target stopped answering in (exit 2): the one line, and the run so far."""

    def __init__(self, line: str, run: Any) -> None:
        super().__init__(line)
        self.run = run


def _write_reports(
    args: argparse.Namespace, runs: Sequence[Any], out: TextIO, *, matrix: bool = True
) -> None:
    """Each run's reports under --report-dir (if given), then the matrix of several."""
    from conformance.suite import report

    if args.report_dir is not None:
        # One directory per target (numbered: the same address may be given twice), then the matrix.
        dirs = (
            [args.report_dir]
            if len(runs) == 1
            else [args.report_dir / f"{i}-{_slug(r.target)}" for i, r in enumerate(runs, 1)]
        )
        for r, where in zip(runs, dirs, strict=True):
            try:
                report.write_reports(r, where)
            except OSError as exc:
                raise UsageError(f"cannot write reports to {where}: {exc.strerror or exc}") from None
            out.write(f"reports written to {where}/ (report.json, junit.xml, report.html)\n")
        if len(runs) > 1 and matrix:
            path = report.write_matrix(dirs, args.report_dir)
            out.write(f"matrix written to {path}\n")


def _check_a2a_url(url: str, timeout_s: float) -> None:
    """Refuse an --a2a-url that is no http(s) URL or where nothing answers, as --target and --escrow
    are refused: a connection error, not a verdict (each a2a.* case would FAIL on it, and exit 1). An
    HTTP error status is an answer, for the cases to judge."""
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--a2a-url {url!r} must be an http:// or https:// URL")
    card = url.rstrip("/") + "/.well-known/agent-card.json"
    try:
        with urllib.request.urlopen(card, timeout=timeout_s):  # the scheme is checked above
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"cannot reach the A2A endpoint at {url} (--a2a-url): {reason}") from None
    except http.client.HTTPException as exc:  # an answer, not HTTP's: a gRPC port, say (serve --a2a's own)
        raise UsageError(
            f"cannot reach the A2A endpoint at {url} (--a2a-url): not an HTTP/1.1 server "
            f"({type(exc).__name__}; `serve --a2a` serves JSON-RPC and HTTP+JSON on its --card-port)"
        ) from None


def _offline(args: argparse.Namespace, out: TextIO) -> int:
    """``--vectors``: the offline mode (conformance.offline), with the live mode's exit codes."""
    import shlex
    import sys

    from conformance import offline

    if args.target:
        raise UsageError(
            "--vectors/--adapter run offline: drop --target (or run the live suite without them)"
        )
    adapter = args.adapter or shlex.join([sys.executable, "-m", "conformance.adapter"])
    argv = ["--adapter", adapter, "--timeout", str(args.timeout)]
    if args.vectors:
        argv += ["--vectors", *map(str, args.vectors)]
    for case_id in args.case:
        argv += ["--case", case_id]
    if args.report_dir is not None:
        argv += ["--report-dir", str(args.report_dir)]
    if args.expected_failures is not None:  # vector ids, in the live suite's format
        argv += ["--expected-failures", str(args.expected_failures)]
    if args.strict:
        argv.append("--strict")
    out.flush()
    return offline.main(argv, prog="a2a-coop")


def _slug(target: str) -> str:
    return target.replace(":", "_").replace("/", "_")


def _replay_base(args: argparse.Namespace, target: str) -> list[str]:
    """The run's command line as a case's replay command starts it: every option that changes how a case
    runs (a --test-clock run replayed without it would wait out the clock tolerance on the wall clock)."""
    base = ["a2a-coop", "conformance", "--target", target]
    for option in ("tls_ca", "tls_cert", "tls_key", "tls_server_name", "a2a_url", "control", "escrow"):
        value = getattr(args, option, None)
        if value is not None:
            base += [f"--{option.replace('_', '-')}", str(value)]
    if args.test_clock:
        base.append("--test-clock")
    if args.timeout != _DEFAULT_TIMEOUT_S:
        base += ["--timeout", f"{args.timeout:g}"]
    return base


def _run_one(
    args: argparse.Namespace,
    *,
    target: str,
    tls: Any,
    seed: str,
    selected: Sequence[Any],
    expected: dict[str, str],
    out: TextIO,
) -> Any:
    from conformance.suite import progress, runner
    from conformance.suite.context import EndpointError, Session
    from conformance.suite.runner import RunInterrupted

    session = Session(
        target,
        tls=tls,
        seed=seed,
        a2a_url=args.a2a_url,
        control=args.control or None,
        escrow=args.escrow,
        timeout_s=args.timeout,
        test_clock=args.test_clock,
    )
    try:
        try:
            did = session.connect()
            if args.control:
                session.check_control()
            escrow_did = session.check_escrow() if args.escrow is not None else ""
        except EndpointError as exc:
            raise UsageError(_endpoint_error(exc, args.timeout)) from None
        out.write(f"target {target} is {did}; {len(selected)} cases, seed {seed}\n")
        if escrow_did:
            out.write(f"escrow {args.escrow} is {escrow_did} (the target must trust it: --escrow)\n")
        out.flush()
        with progress.reporter(len(selected), out) as show:
            try:
                result = runner.run(
                    session,
                    selected,
                    replay_base=_replay_base(args, target),
                    expected=expected,
                    strict=args.strict,
                    on_start=show.start,
                    on_result=show.done,
                )
            except BrokenPipeError:  # a ConnectionError too, but our stdout's: its reader left (`| head`)
                raise  # main() exits 141 quietly; the suite's own connections fail as EndpointError
            except RunInterrupted as exc:
                cause, lost = exc.cause, exc.run.interrupted or {}
                where = (
                    f"the {cause.endpoint} at {cause.address} stopped answering: {cause.detail}"
                    if isinstance(cause, EndpointError)
                    else f"the target at {target} stopped answering: {cause}"
                )
                # The run so far, for the reports; the one line names the case in flight.
                raise _Interrupted(
                    f"{where} (during case {lost.get('case', '?')}; replay: {lost.get('replay', '?')})",
                    exc.run,
                ) from None
    finally:
        session.close()
    _summary(result, out)
    return result


_OPTION_OF = {"target": "--target", "control endpoint": "--control", "escrow": "--escrow"}


def _endpoint_error(exc: Any, timeout_s: float) -> str:
    """The one line for an endpoint found unusable before the run (a ``conformance.suite.context.
    EndpointError``): nothing answering there, or something that is not what the option names; one
    that took the connection but did not answer in time is told apart (it may be slow, or hung)."""
    where = f"the {exc.endpoint} at {exc.address} ({_OPTION_OF.get(exc.endpoint, exc.endpoint)})"
    if exc.answered:
        return f"{where} {exc.detail}"
    if str(exc.detail).startswith("DEADLINE_EXCEEDED"):
        return (
            f"no answer from {where} within {timeout_s:g} s (--timeout): {exc.detail}; it took the "
            "connection but did not answer: is it the service you mean, and is it stuck?"
        )
    return f"cannot reach {where}: {exc.detail}"


def _summary(result: Any, out: TextIO) -> None:
    from a2a_coop.protocol.errors import printable  # a reason may quote the target's words

    counts = result.counts()
    line = ", ".join(f"{n} {level}" for level, n in counts.items() if n)
    out.write(f"{result.target}: {line} in {result.duration_s:.1f} s\n")
    ran = any(counts.get(level) for level in ("PASS", "FAIL", "NON-STRICT", "INFO"))
    if not ran:  # exit 0 is honest (no MUST failed), but a CI log should say that nothing was tested
        out.write(
            "  WARNING: no case ran: every one was SKIP or NOT-TESTED (is --target the service you mean "
            "to test, and --role its role?)\n"
        )
    for r in result.results:
        if r.level.value == "FAIL":
            tag = " (expected)" if r.expected_failure else ""
            reqs = ", ".join(r.case.requirements)
            out.write(f"  FAIL{tag} {r.case.id} [{reqs}]: {printable(r.reason)}\n    replay: {r.replay}\n")
    for r in result.unexpected_passes:
        strict = ", fails the run: --strict" if result.strict else ""
        out.write(
            f"  expected to fail but {r.level.value}: {r.case.id} "
            f"(remove it from the expected-failures file{strict})\n"
        )
    for r in result.expected_without_verdict:
        out.write(f"  expected to fail, reached no verdict ({r.level.value}): {r.case.id}\n")
    if result.findings is None:
        out.write(f"  audit: not run ({result.audit_note})\n")
    elif result.findings:
        out.write(f"  audit: {len(result.findings)} findings about what the target signed\n")
        for f in result.findings:
            what = f"hard proof of {f['requirement'] or 'a lie'}" if f["hard"] else "soft screen"
            digests = ", ".join(d[:16] for d in f["evidence"])
            out.write(
                f"    {f['kind']} ({what}, confidence {f['confidence']:.2f}): {f['summary']}\n"
                f"      evidence: {digests}\n"
            )
    else:
        out.write("  audit: no findings about what the target signed\n")
    passed = len(result.unexpected_passes)
    if result.fails:
        hard = len(result.hard_findings)
        why = ["a MUST case failed"] if any(r.breaks_must for r in result.results) else []
        why += [_count(hard, "hard audit proof")] if hard else []
        why += [f"{_count(passed, 'expected failure')} passed (--strict)"] if result.strict and passed else []
        out.write(f"FAILED: {'; '.join(why)}\n")
    else:
        known = sum(1 for r in result.results if r.expected_failure and r.level.value == "FAIL")
        verdict = (
            "no MUST case failed (none ran)"
            if not ran
            else f"no MUST case failed but {_count(known, 'expected failure')} (--expected-failures), "
            "no hard audit proof"
            if known
            else "every MUST case passed, no hard audit proof"
        )
        stale = (
            f"; {_count(passed, 'expected failure')} passed: update the expected-failures file "
            "(--strict fails on it)"
            if passed
            else ""
        )
        out.write(f"OK: {verdict}{stale}\n")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _list(cases: dict[str, Any], out: TextIO) -> int:
    width = max(len(i) for i in cases)
    for case_id, c in cases.items():
        out.write(f"{case_id:<{width}}  {c.role.value:<9}  {','.join(c.requirements):<24}  {c.title}\n")
    out.write(f"{len(cases)} cases\n")
    return EXIT_OK


def _explain(cases: dict[str, Any], case_id: str, out: TextIO) -> int:
    from conformance.registry import read_registry

    c = cases.get(case_id)
    if c is None:
        import difflib

        near = difflib.get_close_matches(case_id, list(cases), n=3)
        raise UsageError(f"no case {case_id}" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    reqs = {r.id: r for r in read_registry()}
    out.write(f"{c.id}: {c.title}\nrole: {c.role.value}; needs: {c.capability.value}; module: {c.module}\n\n")
    if c.doc:
        out.write(textwrap.fill(" ".join(c.doc.split()), 100) + "\n\n")
    for rid in c.requirements:
        r = reqs.get(rid)
        text = f"{r.id} ({r.level}, section {r.section}): {r.text}" if r else f"{rid}: not in the registry"
        out.write(textwrap.fill(text, 100, subsequent_indent="    ") + "\n")
    return EXIT_OK
