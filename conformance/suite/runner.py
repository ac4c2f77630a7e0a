"""Run cases against a target and collect their results.

The runner gives each case a fresh :class:`~conformance.suite.context.Context`
(its own identities, its own shadow verifier), turns what it returns or raises
into a :class:`~conformance.suite.model.Result`, and stops the whole run on a
connection failure (the target went away: exit code 2, not a verdict).
"""

from __future__ import annotations

import importlib
import shlex
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from a2a_coop.protocol.statements import VerifiedStatement
from conformance import reporting
from conformance.suite.context import Context, Session
from conformance.suite.model import CATALOGUE, Case, CaseFailed, Level, Outcome, Result, Role


def load_cases() -> dict[str, Case]:
    """Every registered case, by ID (importing the case modules registers them)."""
    import conformance.suite.cases  # noqa: F401  # registers every module's cases

    return dict(sorted(CATALOGUE.items()))


def select(cases: dict[str, Case], *, ids: Sequence[str] = (), role: str = "both") -> list[Case]:
    """The cases to run: those named (in the order named), or every case of ``role``.

    Raises:
        KeyError: an ID names no case (the message lists close matches).
    """
    if ids:
        unknown = [i for i in ids if i not in cases]
        if unknown:
            import difflib

            hints = {u: difflib.get_close_matches(u, list(cases), n=3) for u in unknown}
            raise KeyError(
                "; ".join(
                    f"no case {u}" + (f" (did you mean {', '.join(h)}?)" if h else "")
                    for u, h in hints.items()
                )
            )
        return [cases[i] for i in dict.fromkeys(ids)]
    roles = {
        "responder": {Role.RESPONDER, Role.A2A},
        "initiator": {Role.INITIATOR},
        "escrow": {Role.ESCROW},
        "both": set(Role),
    }[role]
    return [c for c in cases.values() if c.role in roles]


def read_expected_failures(path: Path) -> dict[str, str]:
    """An expected-failures file (:func:`conformance.reporting.read_expected_failures`) of case IDs.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line names no known case.
    """
    return reporting.read_expected_failures(path, load_cases())


@dataclass
class Run:
    """One run's results and what it needs to replay them."""

    target: str
    seed: str
    replay_base: list[str]
    results: list[Result] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    target_did: str = ""
    signed: list[bytes] = field(default_factory=list)  # every envelope the target signed
    findings: list[dict[str, object]] | None = None  # the misrepresentation audit's, if it ran
    audit_note: str = ""  # why the audit did not run, if it did not
    strict: bool = False  # --strict: an expected failure that passes fails the run
    # The target stopped answering during a case (exit code 2, no verdict): {"case", "detail", "replay"}
    # of the case in flight; ``results`` are the cases before it. None: the run went through.
    interrupted: dict[str, str] | None = None
    cancelled: bool = False  # interrupted by the user (Ctrl-C, SIGINT): exit code 130, not 2

    @property
    def hard_findings(self) -> list[dict[str, object]]:
        """The audit's hard proofs about the target: signed proof of a broken MUST or of a lie."""
        return [f for f in self.findings or [] if f.get("hard")]

    @property
    def breaks_must(self) -> bool:
        """A MUST case failed unexpectedly, or the audit holds a hard proof against the target (a
        proof never fires on what an honest implementation signs, SPEC 19.1): exit code 1."""
        return any(r.breaks_must for r in self.results) or bool(self.hard_findings)

    @property
    def unexpected_passes(self) -> list[Result]:
        """Expected failures that passed (:attr:`Result.unexpected_pass`): the file needs updating."""
        return [r for r in self.results if r.unexpected_pass]

    @property
    def expected_without_verdict(self) -> list[Result]:
        """Expected failures that reached no verdict this run (SKIP, INFO, NOT-TESTED)."""
        no_verdict = (Level.SKIP, Level.INFO, Level.NOT_TESTED)
        return [r for r in self.results if r.expected_failure and r.level in no_verdict]

    @property
    def fails(self) -> bool:
        """Exit code 1: :attr:`breaks_must`, or, under ``strict``, an expected failure that passed."""
        return self.breaks_must or (self.strict and bool(self.unexpected_passes))

    @property
    def exit_code(self) -> int:
        """130 when the user interrupted it, 2 when the target did (no verdict either way), else 1 when
        it :attr:`fails`, else 0."""
        if self.interrupted is not None:
            return 130 if self.cancelled else 2
        return 1 if self.fails else 0

    def counts(self) -> dict[str, int]:
        out = {level.value: 0 for level in Level}
        for r in self.results:
            out[r.level.value] += 1
        return out


class RunCancelled(KeyboardInterrupt):
    """The user interrupted the run (Ctrl-C): ``run`` holds the results of the cases before the one in
    flight, which :attr:`Run.interrupted` names, so that the reports of what ran can still be written."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run


class RunInterrupted(ConnectionError):
    """The target (or another endpoint of the run) stopped answering during a case: the run cannot give
    a verdict (exit code 2). ``cause``: the connection error; ``run``: the results of the cases before
    it, with :attr:`Run.interrupted` naming the case in flight and its replay command, for the reports
    (a CI job still gets its JUnit file, and the case that brought the target down)."""

    def __init__(self, cause: ConnectionError, run: Run) -> None:
        super().__init__(str(cause))
        self.cause, self.run = cause, run


def run_case(session: Session, case: Case) -> tuple[Outcome, Context]:
    """Run one case; a case error becomes a FAIL naming it (a bug in the case or a target reply the
    suite could not read); a lost connection propagates."""
    ctx = Context(session, case)
    if session.info.escrow_only and case.role is not Role.ESCROW:
        return Outcome.skipped("the target is an escrow: it does not serve CooperationService"), ctx
    try:
        try:
            outcome = case.run(ctx)
        finally:
            ctx.close_contracts()
            ctx.reject_open_offers()
    except CaseFailed as exc:
        outcome = Outcome(exc.level, exc.reason)
    except ConnectionError:
        raise
    except Exception as exc:  # reported, with where it happened, never swallowed
        where = traceback.extract_tb(exc.__traceback__)[-1]
        outcome = Outcome.failed(
            f"the case could not complete: {type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno}; a target answer the suite cannot read, "
            "or a suite bug: please report it)"
        )
    return outcome, ctx


def run(
    session: Session,
    cases: Iterable[Case],
    *,
    replay_base: Sequence[str],
    expected: dict[str, str] | None = None,
    strict: bool = False,
    on_start: Callable[[Case], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> Run:
    """Run ``cases`` in order against ``session`` (already connected); ``expected`` are the IDs of
    the expected failures, and ``strict`` makes one of them that passes fail the run.

    Raises:
        RunInterrupted: the target stopped answering (the run cannot give a verdict); it carries the
            results so far and the case in flight.
    """
    expected = expected or {}
    evidence: dict[bytes, VerifiedStatement] = {}
    out = Run(session.target, session.seed, list(replay_base), target_did=session.info.did, strict=strict)
    started = time.perf_counter()
    case_id, replay = "", ""
    try:
        for case in cases:
            case_id = case.id
            if on_start is not None:
                on_start(case)
            t0 = time.perf_counter()
            replay = shlex.join([*replay_base, "--seed", session.seed, "--case", case.id])
            try:
                outcome, ctx = run_case(session, case)
            except BrokenPipeError:  # our stdout's reader left (`| head`): not the target's
                raise
            except ConnectionError as exc:
                out.duration_s = time.perf_counter() - started
                out.signed = list(session.signed.values())
                out.interrupted = {"case": case.id, "detail": str(exc), "replay": replay}
                out.audit_note = "the run was interrupted"
                raise RunInterrupted(exc, out) from exc
            result = Result(
                case,
                outcome.level,
                outcome.reason,
                transcript=ctx.transcript,
                duration_s=time.perf_counter() - t0,
                replay=replay,
                expected_failure=case.id in expected,
            )
            out.results.append(result)
            for vs in ctx.shadow.statements.values():  # the whole conversation, both sides: audit context
                evidence.setdefault(vs.digest, vs)
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:  # Ctrl-C: the cases that ran still get their reports (exit 130)
        out.duration_s = time.perf_counter() - started
        out.signed = list(session.signed.values())
        out.interrupted = {"case": case_id, "detail": "interrupted by the user (Ctrl-C)", "replay": replay}
        out.cancelled = True
        out.audit_note = "the run was interrupted"
        raise RunCancelled(out) from None
    out.duration_s = time.perf_counter() - started
    out.signed = list(session.signed.values())
    # The raw envelopes too: what the target signed and the shadow refused (a forked answer) is proof.
    out.findings, out.audit_note = audit_findings([*evidence.values(), *out.signed], session.info.did)
    return out


def audit_findings(
    evidence: Sequence[VerifiedStatement | bytes], subject: str
) -> tuple[list[dict[str, object]] | None, str]:
    """The misrepresentation audit's findings about the target (``a2a_coop.protocol.audit.audit``,
    when that module is installed) over every statement of the run's conversations, both sides, as
    context, and every envelope the target signed; or None and why it did not run.

    Each finding: ``kind``, ``hard``, ``confidence``, ``requirement``, ``subject``, ``summary``,
    ``evidence`` (digests, hex) and ``statements`` (digest, issuer, body, seq and the envelope in
    base64, so the proof can be checked offline)."""
    try:
        audit_module = importlib.import_module("a2a_coop.protocol.audit")
    except ImportError:
        return None, "a2a_coop.protocol.audit is not installed"
    audit = getattr(audit_module, "audit", None)
    if audit is None:
        return None, "a2a_coop.protocol.audit has no audit()"
    try:
        found = audit(list(evidence), subject=subject)
    except Exception as exc:  # the audit's failure must not cost the run its verdicts
        return None, f"the audit failed: {type(exc).__name__}: {exc}"
    out: list[dict[str, object]] = []
    for f in found:
        doc = f.to_json()
        out.append(
            {
                "kind": doc["kind"],
                "hard": doc["hard"],
                "confidence": doc["confidence"],
                "requirement": doc["requirement"],
                "subject": doc["subject"],
                "summary": doc["explanation"],
                "evidence": [e["digest"] for e in doc["evidence"]],
                "statements": doc["evidence"],
            }
        )
    return out, ""
