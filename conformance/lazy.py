"""Lazy verifiers: this library with exactly one verification check left out.

A vector suite is only as good as the verifiers it refuses. Each entry of :data:`CHECKS` names one
step of SPEC section 11 that an implementer could plausibly forget, and :func:`skipping` patches the
reference verifier so that step does nothing (for as long as the context is open, in this process).
``python -m conformance.adapter --skip NAME`` serves such a verifier over the offline adapter protocol;
the self-test (``tests/test_mutation_vectors.py``) checks that the canaries
(``conformance/vectors/canaries.json``) and the full vector set make every one of them fail, and the
reference verifier none.

The audience check (step 21) has no lazy twin: the vectors run as an auditor, which has no ``me`` and
skips that step by definition (SPEC 11.4); the live suite tests it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Final
from unittest import mock

from a2a_coop.protocol import chain, mandate, statements, verifier
from a2a_coop.protocol.errors import ChainGap, Equivocation, MalformedStatement


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def _chain_check(*, link: bool = True, equivocation: bool = True) -> Callable[[chain.ChainView, Any], None]:
    """ChainView.check with the CHN-003 link or the CHN-004 equivocation check left out."""
    original = chain.ChainView.check

    def check(self: chain.ChainView, vs: Any) -> None:
        h = vs.header
        held = self.links.get(h.seq)
        if held is not None and held.digest != vs.digest and not equivocation:
            return  # a second statement at a held seq passes unnoticed
        if link:
            original(self, vs)
            return
        if held is not None and held.digest != vs.digest:
            raise Equivocation(f"two statements at seq {h.seq}", requirement="CHN-004")
        self._check_time(vs)
        if self.complete and self.head is not None and h.seq != self.head + 1:
            raise ChainGap(f"expected seq {self.head + 1}, got {h.seq}", requirement="CHN-002")
        if vs.body == "checkpoint":
            self._check_log_root(vs)

    return check


def _sparse_check() -> Callable[[chain.ChainView, Any], None]:
    """ChainView.check as if every chain were sparse (no CHN-002 gap check)."""
    original = chain.ChainView.check

    def check(self: chain.ChainView, vs: Any) -> None:
        complete, self.complete = self.complete, False
        try:
            original(self, vs)
        finally:
            self.complete = complete

    return check


def _lenient_decode(payload: bytes) -> Any:
    """Parse a payload with the protobuf library and accept whatever it reads (no STM-002)."""
    try:
        return statements.Statement.FromString(payload)
    except Exception as exc:  # upb raises several types; all mean "does not parse"
        raise MalformedStatement(f"not a Statement: {exc}", requirement="STM-001") from None


def _lenient_mandate(self: verifier.Verifier, vs: Any) -> Any:
    """Verifier._check_mandate that finds the mandate but checks nothing against it."""
    return self.mandates.get(vs.header.mandate)


# name -> (what is left out, the SPEC requirements, patches as (target, replacement factory))
CHECKS: Final[dict[str, tuple[str, str, list[tuple[str, Callable[[], Any]]]]]] = {
    "signature": (
        "the Ed25519 signature check (step 7)",
        "ENV-006",
        [("a2a_coop.protocol.envelope.ed25519_verify", lambda: lambda *_a: True)],
    ),
    "canonical-encoding": (
        "the canonical-encoding check of the payload (step 9)",
        "STM-002",
        [("a2a_coop.protocol.statements.decode_statement", lambda: _lenient_decode)],
    ),
    "body-rules": (
        "the context-free body rules (step 20)",
        "BDY-001..BDY-017",
        [("a2a_coop.protocol.statements.check_body", lambda: _nothing)],
    ),
    "key-revocation": (
        "revoked and rotated keys (step 22)",
        "KEY-004, KEY-005",
        [("a2a_coop.protocol.verifier.Verifier._check_key", lambda: _nothing)],
    ),
    "mandate-binding": (
        "the mandate's agent is the issuer (step 23)",
        "MND-002",
        [("a2a_coop.protocol.verifier.check_against_mandate", lambda: _binding_skipped)],
    ),
    "mandate": (
        "every mandate check: held, binding, content (steps 23-24)",
        "MND-002..MND-008",
        [("a2a_coop.protocol.verifier.Verifier._check_mandate", lambda: _lenient_mandate)],
    ),
    "freshness": (
        "the time window at now_ms (step 25)",
        "TIM-001..TIM-003",
        [("a2a_coop.protocol.verifier.check_time_window", lambda: _nothing)],
    ),
    "replay": (
        "the replay memory (step 26)",
        "RPL-001, RPL-002",
        [("a2a_coop.protocol.freshness.ReplayCache.check", lambda: _nothing)],
    ),
    "equivocation": (
        "two statements at one seq (step 27)",
        "CHN-004",
        [("a2a_coop.protocol.chain.ChainView.check", lambda: _chain_check(equivocation=False))],
    ),
    "chain-link": (
        "prev links to the held predecessor (step 27)",
        "CHN-003",
        [("a2a_coop.protocol.chain.ChainView.check", lambda: _chain_check(link=False))],
    ),
    "chain-gap": (
        "a missing seq in complete mode (step 27)",
        "CHN-002",
        [("a2a_coop.protocol.chain.ChainView.check", _sparse_check)],
    ),
    "chain-time": (
        "times along a chain never run backwards (step 27)",
        "CHN-005",
        [("a2a_coop.protocol.chain.ChainView._check_time", lambda: _nothing)],
    ),
    "log-root": (
        "a Checkpoint's log_root (step 27)",
        "CHN-007",
        [("a2a_coop.protocol.chain.ChainView._check_log_root", lambda: _nothing)],
    ),
    "exposure": (
        "budget and outstanding caps over time (step 29)",
        "MND-009, MND-010",
        [("a2a_coop.protocol.mandate.ExposureBook.check", lambda: _nothing)],
    ),
    "reveal": (
        "a Reveal opens its commitment (step 30)",
        "BDY-007",
        [("a2a_coop.protocol.verifier.check_opening", lambda: _nothing)],
    ),
    "attestation": (
        "attestation admissibility (step 31)",
        "ATT-001, ATT-002",
        [("a2a_coop.protocol.verifier.Verifier._check_attestation", lambda: _nothing)],
    ),
    "revocation-authority": (
        "who may revoke a key (steps 30-31)",
        "KEY-004",
        [("a2a_coop.protocol.verifier.Verifier._check_revocation_authority", lambda: _nothing)],
    ),
}


def _binding_skipped(vs: Any, m: Any, accepted: Any = None) -> None:
    """check_against_mandate with MND-002's binding (agent == issuer) left out."""
    stand_in = type(m)()
    stand_in.CopyFrom(m)
    stand_in.agent = vs.header.issuer
    _check_against_mandate(vs, stand_in, accepted)


_check_against_mandate = mandate.check_against_mandate


@contextmanager
def skipping(name: str | None) -> Iterator[None]:
    """Leave the check ``name`` out of the reference verifier while open; None leaves it whole."""
    if name is None:
        yield
        return
    with ExitStack() as stack:
        for target, factory in CHECKS[name][2]:
            stack.enter_context(mock.patch(target, factory()))
        yield
