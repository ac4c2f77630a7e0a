"""Reference agents: honest and adversarial counterparties to test a framework against.

Each agent is a :class:`~a2a_coop.runtime.strategy.Strategy` behind the peer's policy guard
(:mod:`.cooperative`, :mod:`.adversarial`); the two that the guard would stop -- the equivocator
and the over-committer -- also come with an explicitly unsafe signer (:mod:`.unsafe`). This package
sits above the runtime: ``a2a_coop`` never imports it, except the CLI lazily (``a2a-coop agent``).

:data:`AGENTS` describes every agent; :func:`build` makes one by name with parameters given as
strings (``"0.3"``, ``"did:key:a,did:key:b"``), checked and converted to the field's type.
``build("axelrod:NAME")`` hosts a strategy of the Axelrod library (:mod:`.axelrod_adapter`, optional
extra ``sim``; :data:`AXELROD` describes the family); axelrod is imported only then.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from a2a_coop.runtime.strategy import Strategy
from reference_agents import adversarial as adv
from reference_agents import cooperative as coop


class UnknownAgent(ValueError):
    """No reference agent has this name."""


class BadParameter(ValueError):
    """A parameter the agent does not have, or a value of the wrong form."""


@dataclass(frozen=True)
class AgentInfo:
    """One reference agent: its name, side, what it does, and how to make it."""

    name: str
    kind: str  # "cooperative" or "adversarial"
    summary: str
    make: Callable[..., Strategy]
    defaults: Mapping[str, Any]
    unsafe: bool = False  # needs reference_agents.unsafe for its misbehaviour
    deceptive: bool = False  # counted among the deceptive types of issue 13's result
    # The unsafe signer's parameters and their defaults (reference_agents.unsafe.ForkPlan for the
    # equivocator): what its misbehaviour does and when, as act_rate and after do for a strategy.
    unsafe_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def doc(self) -> str:
        return (self.make.__doc__ or "").strip()


def _info(
    name: str,
    kind: str,
    summary: str,
    cls: type,
    *,
    unsafe: bool = False,
    deceptive: bool = False,
    unsafe_defaults: Mapping[str, Any] | None = None,
    **fixed: Any,
) -> AgentInfo:
    fields = {f.name: f.default for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    fields.pop("truth", None)
    fields.pop("disbelieved", None)
    fields.pop("artifacts", None)
    defaults = {**fields, **fixed}

    def make(**params: Any) -> Strategy:
        made: Strategy = cls(**{**fixed, **params})
        return made

    make.__doc__ = cls.__doc__
    return AgentInfo(name, kind, summary, make, defaults, unsafe, deceptive, dict(unsafe_defaults or {}))


AGENTS: dict[str, AgentInfo] = {
    a.name: a
    for a in [
        _info(
            "honest",
            "cooperative",
            "accepts fair offers, delivers everything, rates every delivery",
            coop.Honest,
        ),
        _info(
            "reciprocal",
            "cooperative",
            "tit-for-tat over trade outcomes (deliver = cooperate), with forgiveness",
            coop.Reciprocal,
        ),
        _info(
            "boulware",
            "cooperative",
            "time-based negotiator that concedes late (e = 0.2)",
            coop.TimeBased,
            exponent=0.2,
        ),
        _info(
            "conceder",
            "cooperative",
            "time-based negotiator that concedes early (e = 5)",
            coop.TimeBased,
            exponent=5.0,
        ),
        _info(
            "nash", "cooperative", "counters at the Nash bargaining point (an even split)", coop.NashBargainer
        ),
        _info(
            "claim-aware",
            "cooperative",
            "Nash bargainer that reads claims: concedes to a claimed reservation, counts claimed holdings "
            "(verifiable world: bonds instead), stops believing a counterparty caught below its claim",
            coop.ClaimAware,
        ),
        _info(
            "exaggerator",
            "adversarial",
            "signs inflated reservation and need claims, then accepts below them",
            adv.Exaggerator,
            deceptive=True,
        ),
        _info(
            "bluffer",
            "adversarial",
            "claims holdings it lacks; cannot deliver them",
            adv.Bluffer,
            deceptive=True,
        ),
        _info(
            "equivocator",
            "adversarial",
            "honest strategy, plus an unsafe signer that sells one commitment twice: the second buyer "
            "gets an Accept re-signed at the seq of the first, and no delivery",
            coop.Honest,
            unsafe=True,
            deceptive=True,
            unsafe_defaults={"act_rate": 1.0, "after": 1, "seed": 0},
        ),
        _info("reneger", "adversarial", "accepts, then does not deliver", adv.Reneger, deceptive=True),
        _info(
            "feinter",
            "adversarial",
            "cooperates while stakes and trust are low, defects when high",
            adv.Feinter,
            deceptive=True,
        ),
        _info(
            "over-committer",
            "adversarial",
            "honest strategy, plus an unsafe signer that commits beyond its mandate",
            coop.Honest,
            unsafe=True,
        ),
        _info(
            "cartel", "adversarial", "trades among its members on better terms, refuses outsiders", adv.Cartel
        ),
        _info(
            "sybil-ring",
            "adversarial",
            "fresh identities that trade with and rate each other, cheat outsiders",
            adv.SybilRing,
        ),
        _info(
            "opportunist",
            "adversarial",
            "withholds only under contracts with no bond at stake",
            adv.Opportunist,
        ),
    ]
}


def _axelrod_info() -> AgentInfo:
    from reference_agents.axelrod_adapter import PREFIX, AxelrodStrategy, build_hosted

    fields = {
        f.name: f.default
        for f in dataclasses.fields(AxelrodStrategy)
        if not f.name.startswith("_") and f.name not in ("artifacts", "player")
    }
    summary = "any Axelrod library strategy (axelrod:TitForTat ...): deliver = cooperate, withhold = defect"
    return AgentInfo(f"{PREFIX}NAME", "hosted", summary, build_hosted, fields)


# The hosted Axelrod strategies, one family: `build("axelrod:TitForTat")`. Not in AGENTS (the
# simulation's types), and cheap to describe: the adapter imports axelrod only to make a player.
AXELROD = _axelrod_info()


_KINDS: Final = {bool: "true or false", int: "an integer", float: "a number"}


def _convert(name: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(default, frozenset):
        return frozenset(v for v in value.split(",") if v)
    if not isinstance(default, bool | int | float):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        number = int(value) if isinstance(default, int) else float(value)
    except ValueError:
        raise BadParameter(f"{name}: {value!r} is not {_KINDS.get(type(default), 'valid')}") from None
    _check_number(name, number)
    return number


def _check_number(name: str, number: float) -> None:
    """A numeric parameter given on a command line: finite, not negative (a count, a rate, a ratio or
    a threshold; only a ``seed`` may be any integer), and a ``rating`` at most 100 (BDY-009)."""
    if not math.isfinite(number):
        raise BadParameter(f"{name}: {number!r} is not a finite number")
    if number < 0 and name != "seed":
        raise BadParameter(f"{name}: {number!r} is negative")
    if name == "rating" and number > 100:
        raise BadParameter(f"{name}: {number!r} is above 100, the highest rating (SPEC BDY-009)")


def build(name: str, **params: Any) -> Strategy:
    """The agent ``name`` with ``params`` (strings are converted to each field's type).

    Raises:
        UnknownAgent: no such agent (the message lists them); for ``axelrod:NAME``, no such Axelrod
            strategy or axelrod is not installed (the message says which).
        BadParameter: an unknown parameter or a bad value.
    """
    info = AGENTS.get(name)
    if name.startswith("axelrod:"):
        info = AXELROD
    if info is None:
        raise UnknownAgent(f"unknown agent {name!r}; choose one of: {', '.join(AGENTS)}, or axelrod:NAME")
    unknown = sorted(set(params) - set(info.defaults))
    unsafe = [k for k in unknown if k in info.unsafe_defaults]
    if unsafe:
        raise BadParameter(
            f"{', '.join(unsafe)}: a parameter of the {name}'s unsafe signer (reference_agents.unsafe), "
            "not of its strategy; agent run serves the guarded strategy only"
        )
    if unknown:
        raise BadParameter(
            f"agent {name} has no parameter {', '.join(unknown)}; "
            f"it has: {', '.join(info.defaults) or 'none'}"
        )
    converted = {k: _convert(k, v, info.defaults[k]) for k, v in params.items()}
    try:
        if info is AXELROD:
            return info.make(name, **converted)
        return info.make(**converted)
    except UnknownAgent:
        raise
    except (ValueError, TypeError) as exc:
        raise BadParameter(f"agent {name}: {exc}") from None


__all__ = ["AGENTS", "AXELROD", "AgentInfo", "BadParameter", "UnknownAgent", "build"]
