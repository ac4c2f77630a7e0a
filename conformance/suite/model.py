"""What a conformance case is, what it returns, and the catalogue every case registers in.

A :class:`Case` checks a few SPEC requirements against a live target. Its
``run(ctx)`` returns an :class:`Outcome` (a :class:`Level` and a one-line
reason); the runner adds the wire transcript the case's context recorded and
turns the pair into a :class:`Result`. Case IDs are stable: a report, an
expected-failures file and a replay command name cases by ID, so an ID is never
renamed or reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from conformance.suite.context import Context


class Level(StrEnum):
    """A case's verdict.

    PASS: the target did what the requirements say. FAIL: it broke a MUST.
    NON_STRICT: it missed a SHOULD. SKIP: it does not offer an optional (MAY)
    capability and says so honestly. INFO: an observation, no verdict.
    NOT_TESTED: the suite cannot observe this from outside the target (the
    reason says why); it is not a pass.
    """

    PASS = "PASS"
    FAIL = "FAIL"
    NON_STRICT = "NON-STRICT"
    SKIP = "SKIP"
    INFO = "INFO"
    NOT_TESTED = "NOT-TESTED"


class Role(StrEnum):
    """Which side of the protocol a case tests the target in."""

    RESPONDER = "responder"  # the suite calls the target's CooperationService
    INITIATOR = "initiator"  # the target calls the suite's server, asked through ConformanceControlService
    A2A = "a2a"  # the target's A2A binding
    ESCROW = "escrow"  # the target's EscrowService: the suite plays both parties of each contract


class Capability(StrEnum):
    """What a target must offer for a case to apply; a case whose capability is absent is SKIP."""

    CORE = "core"  # CooperationService: every target
    CONTROL = "control"  # the optional test-only ConformanceControlService (initiator role)
    A2A = "a2a"  # the A2A binding (an AgentCard URL was given)
    ESCROW = "escrow"  # EscrowService (the target is an escrow)


@dataclass(frozen=True)
class Outcome:
    """What ``Case.run`` returns: a level and why."""

    level: Level
    reason: str = ""

    @classmethod
    def passed(cls, reason: str = "") -> Outcome:
        return cls(Level.PASS, reason)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(Level.FAIL, reason)

    @classmethod
    def not_tested(cls, reason: str) -> Outcome:
        return cls(Level.NOT_TESTED, reason)

    @classmethod
    def skipped(cls, reason: str) -> Outcome:
        return cls(Level.SKIP, reason)

    @classmethod
    def info(cls, reason: str) -> Outcome:
        return cls(Level.INFO, reason)

    @classmethod
    def non_strict(cls, reason: str) -> Outcome:
        return cls(Level.NON_STRICT, reason)


class CaseFailed(Exception):
    """Raised inside a case (by :meth:`Context.expect_rejection` and friends) to end it with FAIL,
    or with ``level`` when the broken requirement is a SHOULD."""

    def __init__(self, reason: str, level: Level = Level.FAIL) -> None:
        self.reason = reason
        self.level = level
        super().__init__(reason)


Runner = Callable[["Context"], Outcome]


@dataclass(frozen=True)
class Case:
    """One conformance case.

    Attributes:
        id: stable ID, ``AREA-NNN`` style in lower case with a dotted area, e.g. ``env.bad-signature``.
        title: one line saying what the target must do.
        requirements: the SPEC requirement IDs the case checks (conformance/requirements.json).
        role: the side the target plays.
        capability: what the target must offer for the case to apply.
        run: the check; returns an Outcome or raises CaseFailed.
        doc: longer explanation (--explain prints it), taken from the run function's docstring.
        module: the cases module that registered it.
    """

    id: str
    title: str
    requirements: tuple[str, ...]
    role: Role
    capability: Capability
    run: Runner
    doc: str = ""
    module: str = ""


@dataclass
class Exchange:
    """One call on the wire, as the transcript records it."""

    rpc: str  # e.g. "CooperationService/Exchange"
    request: dict[str, Any]  # envelopes as base64 and a short description of each
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # gRPC status, ErrorInfo reason/domain/metadata
    elapsed_ms: float = 0.0


@dataclass
class Result:
    """A case's verdict with its evidence."""

    case: Case
    level: Level
    reason: str
    transcript: list[Exchange] = field(default_factory=list)
    duration_s: float = 0.0
    replay: str = ""
    expected_failure: bool = False  # listed in --expected-failures

    @property
    def breaks_must(self) -> bool:
        """A MUST failed and nobody said to expect it (what makes the run exit 1)."""
        return self.level is Level.FAIL and not self.expected_failure

    @property
    def unexpected_pass(self) -> bool:
        """Listed in --expected-failures, yet it ran to a verdict and did not fail (PASS, or
        NON-STRICT: its MUSTs hold). The entry is stale: ``--strict`` fails the run on it. A listed
        case that did not reach a verdict (SKIP, INFO, NOT-TESTED) says nothing either way."""
        return self.expected_failure and self.level in (Level.PASS, Level.NON_STRICT)


CATALOGUE: Final[dict[str, Case]] = {}
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def case(
    case_id: str,
    title: str,
    *requirements: str,
    role: Role = Role.RESPONDER,
    capability: Capability = Capability.CORE,
) -> Callable[[Runner], Runner]:
    """Register the decorated function as a case (see conformance/suite/cases/__init__.py).

    Raises:
        ValueError: the ID is malformed or already taken, or no requirement is named.
    """
    if not case_id or set(case_id) - _ID_CHARS or "." not in case_id:
        raise ValueError(f"case id {case_id!r} must be lower-case 'area.name' ([a-z0-9.-])")
    if not requirements:
        raise ValueError(f"case {case_id} names no requirement")

    def register(fn: Runner) -> Runner:
        if case_id in CATALOGUE:
            raise ValueError(f"case id {case_id} is registered twice")
        CATALOGUE[case_id] = Case(
            case_id,
            title,
            tuple(requirements),
            role,
            capability,
            fn,
            doc=(fn.__doc__ or "").strip(),
            module=fn.__module__,
        )
        return fn

    return register


def not_observable(
    case_id: str, title: str, reason: str, *requirements: str, role: Role = Role.RESPONDER
) -> None:
    """Register a case that always reports NOT-TESTED with ``reason``: the requirement cannot be
    observed over the wire from outside the target (say why, and what would test it)."""

    def run(ctx: Context) -> Outcome:
        return Outcome.not_tested(reason)

    run.__doc__ = reason
    run.__module__ = _caller_module()
    case(case_id, title, *requirements, role=role)(run)


def _caller_module() -> str:
    import sys

    return str(sys._getframe(2).f_globals.get("__name__", ""))
