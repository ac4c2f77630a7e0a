"""canaries.json: for each check a verifier might leave out, vectors such a verifier accepts.

A canary is an invalid vector of the other files that a *lazy* verifier -- the reference verifier with
exactly one check of SPEC section 11 left out (:mod:`conformance.lazy`) -- wrongly accepts in full.
For every lazy verifier, the candidates are the invalid vectors whose expected code that check
reports, shortest first; the first :data:`PER_CHECK` that the lazy verifier accepts become canaries
(when it accepts none, the first it misjudges with another code). So the file proves, check by check,
that leaving the check out is caught, and an implementer whose verifier passes everything else but
fails a canary knows which step it skips. Each canary is followed by its valid twin (the transcript
it was derived from), so a verifier that refuses everything does not pass the file. Each test carries
a ``canary`` member:
``{"skippedCheck": ..., "lazyResult": "valid" or "CODE at N", "source": "<file>-<tcId>"}``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Final

from a2a_coop.vectors import Vector, parse_vector_file, run_vector
from conformance import lazy
from conformance.generate_vectors._common import Case, Group
from conformance.generate_vectors.output import document, numbered

FILE: Final = "canaries.json"
PER_CHECK: Final = 2
MAX_TRIES: Final = 400  # candidates run per check before settling for a misjudged one

# lazy check -> the codes of the vectors that can catch it
CODES: Final[dict[str, tuple[str, ...]]] = {
    "signature": ("SIGNATURE_INVALID",),
    "canonical-encoding": ("NONCANONICAL_ENCODING", "MALFORMED_STATEMENT"),
    "body-rules": ("BODY_INVALID",),
    "key-revocation": ("KEY_REVOKED",),
    "mandate-binding": ("MANDATE_VIOLATION",),
    "mandate": ("MANDATE_VIOLATION", "MANDATE_UNKNOWN"),
    "freshness": ("EXPIRED", "ISSUED_IN_FUTURE", "NOT_YET_VALID"),
    "replay": ("REPLAYED", "NONCE_REUSED"),
    "equivocation": ("EQUIVOCATION",),
    "chain-link": ("CHAIN_BROKEN",),
    "chain-gap": ("CHAIN_GAP",),
    "chain-time": ("CHAIN_BROKEN",),
    "log-root": ("LOG_ROOT_MISMATCH",),
    "exposure": ("MANDATE_VIOLATION",),
    "reveal": ("COMMITMENT_MISMATCH",),
    "attestation": ("ATTESTATION_INADMISSIBLE",),
    "revocation-authority": ("REVOCATION_UNAUTHORIZED",),
}


def canaries_file(
    files: Sequence[tuple[str, dict[str, Any], Sequence[Group]]],
) -> tuple[dict[str, Any], list[Group]]:
    """The canaries.json document and its groups, from the other files (name, document, groups).

    Raises:
        SystemExit: a lazy verifier that no vector catches (a gap in the vectors).
    """
    assert CODES.keys() == lazy.CHECKS.keys(), "every lazy verifier needs its canary codes"
    pool: list[tuple[Vector, Case, str]] = []
    for name, doc, groups in files:
        cases = {tc_id: case for tc_id, _, case in numbered(groups)}
        pool += [(v, cases[v.tc_id], name) for v in parse_vector_file(doc, name) if v.result == "invalid"]
    pool.sort(key=lambda item: (len(item[0].envelopes), sum(map(len, item[0].envelopes))))
    # by (mode, role): a lazy verifier is run in the role of the vector that catches it -- KEY-004 is caught
    # at an escrow taking evidence alone since a view of evidence holds every statement it would refuse
    # (KEY-009 (c), (d)); a group of role escrow comes after those of the auditor, so no earlier tcId moves
    by_mode: dict[tuple[str, str], tuple[Group, list[dict[str, Any]]]] = {}
    used: set[str] = set()
    uncaught = []
    for check in lazy.CHECKS:
        found: list[tuple[Vector, Case, str]] = []
        misjudged: list[tuple[Vector, Case, str]] = []
        candidates = [item for item in pool if item[0].error in CODES[check] and item[0].name not in used]
        with lazy.skipping(check):
            for item in candidates[:MAX_TRIES]:
                outcome = run_vector(item[0])
                if outcome.error is None:
                    found.append(item)
                elif not outcome.passed:
                    misjudged.append(item)
                if len(found) == PER_CHECK:
                    break
        chosen = (found or misjudged)[:PER_CHECK]
        if not chosen:
            uncaught.append(check)
        with lazy.skipping(check):
            results = [run_vector(v).actual for v, _, _ in chosen]
        for (v, case, name), result in zip(chosen, results, strict=True):
            used.add(v.name)
            group, members = by_mode.setdefault((v.mode, v.role), (Group("Canary", v.mode, role=v.role), []))
            canary = copy.copy(case)
            canary.comment = (
                f"a verifier skipping {lazy.CHECKS[check][0]} says {result} ({v.name}): {case.comment}"
            )
            canary.flags = [*case.flags, "Canary"]
            canary.failed_index = v.failed_index
            group.cases.append(canary)
            members.append({"skippedCheck": check, "lazyResult": result, "source": f"{name}-{v.tc_id}"})
            if case.twin is not None and case.twin.now_ms == v.now_ms:  # the same transcript, put right
                group.add(
                    f"the valid twin of the canary above ({v.name}, its defect fixed)",
                    list(v.requirements),
                    list(case.twin.envelopes),
                    now_ms=case.twin.now_ms,
                )
                members.append({"skippedCheck": check, "lazyResult": "", "source": f"{name}-{v.tc_id}-twin"})
    if uncaught:
        raise SystemExit(f"canaries: no vector catches a verifier that skips: {', '.join(uncaught)}")
    order = [(m, r) for r in ("auditor", "escrow") for m in ("sparse", "complete") if (m, r) in by_mode]
    groups = [by_mode[m][0] for m in order]
    doc = document(groups)
    tests = [t for g in doc["testGroups"] for t in g["tests"]]
    for test, member in zip(tests, [mm for m in order for mm in by_mode[m][1]], strict=True):
        test["canary"] = member
    return doc, groups
