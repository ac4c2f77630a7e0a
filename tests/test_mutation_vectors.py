"""mutations.json (the typed mutation grammar) and canaries.json with the lazy verifiers."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.protocol.errors import registry
from a2a_coop.vectors import load_vector_file, run_vector, run_vectors
from conformance import lazy, offline
from conformance.generate_vectors import mutations

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "conformance" / "vectors"
MUTATIONS = json.loads((VECTORS / "mutations.json").read_text(encoding="utf-8"))
CANARIES = VECTORS / "canaries.json"


def _tests(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for g in doc["testGroups"] for t in g["tests"]]


def test_at_least_1500_mutation_vectors_each_with_a_registry_code() -> None:
    tests = _tests(MUTATIONS)
    invalid = [t for t in tests if t["result"] == "invalid"]
    assert len(invalid) >= 1500
    codes = set(registry())
    assert all(t["error"] in codes for t in invalid)
    known = set(re.findall(r"[A-Z]{2,4}-\d{3}", (ROOT / "conformance" / "requirements.json").read_text()))
    assert all(t["requirements"] and set(t["requirements"]) <= known for t in tests)


def test_every_op_of_the_grammar_is_in_the_file_and_typed() -> None:
    """Each test names its op, kind, target envelope and source vector; every (op, kind) is used."""
    tests = _tests(MUTATIONS)
    kinds = Counter((t["mutation"]["op"], t["mutation"]["kind"]) for t in tests)
    assert set(kinds) <= set(mutations.QUOTAS) and len(kinds) >= 45
    assert all(n <= mutations.QUOTAS[k] for k, n in kinds.items())
    ops = {op for op, _ in kinds}
    assert (
        ops
        == set(mutations.GROUPS)
        >= {"flip", "drop", "reorder", "replay", "resign", "reencode", "shift-time", "splice"}
    )
    for t in tests:
        m = t["mutation"]
        assert isinstance(m["target"], int) and re.fullmatch(
            r"(statements|chains|rules)-\d+(-twin)?", m["source"]
        )
    keys = [
        (g["mode"], t["now_ms"], tuple(t["envelopes"])) for g in MUTATIONS["testGroups"] for t in g["tests"]
    ]
    assert len(set(keys)) == len(keys), "equivalent mutations are deduplicated"


def test_every_mutation_vector_passes_through_the_library_in_bulk() -> None:
    outcomes = run_vectors(load_vector_file(VECTORS / "mutations.json"))
    failed = [
        f"{o.vector.name}: expected {o.vector.expected}, got {o.actual}" for o in outcomes if not o.passed
    ]
    assert not failed, failed[:5]


def test_a_wrong_derivation_would_be_caught() -> None:
    """The generator's cross-check can fail: a mutation vector with another code does not pass."""
    from dataclasses import replace

    v = next(v for v in load_vector_file(VECTORS / "mutations.json") if v.error == "CHAIN_GAP")
    assert not run_vector(replace(v, error="CHAIN_BROKEN")).passed


# --- canaries and lazy verifiers ------------------------------------------------------------------------


def test_every_lazy_verifier_fails_a_canary_and_the_reference_none() -> None:
    vectors = load_vector_file(CANARIES)
    assert all(o.passed for o in run_vectors(vectors))
    doc = json.loads(CANARIES.read_text(encoding="utf-8"))
    named = {t["canary"]["skippedCheck"] for t in _tests(doc) if t["result"] == "invalid"}
    assert named == set(lazy.CHECKS)
    for check in lazy.CHECKS:
        with lazy.skipping(check):
            failed = [o.vector for o in run_vectors(vectors) if not o.passed]
        assert failed, f"no canary catches a verifier that skips {check}"
        own = [
            t["tcId"]
            for t in _tests(doc)
            if t["canary"]["skippedCheck"] == check and t["result"] == "invalid"
        ]
        assert {v.tc_id for v in failed} >= set(own), check


def test_canaries_are_accepted_by_their_lazy_verifier() -> None:
    """A canary is a vector the lazy verifier wrongly *accepts*: its recorded result is what it does."""
    doc = json.loads(CANARIES.read_text(encoding="utf-8"))
    vectors = {v.tc_id: v for v in load_vector_file(CANARIES)}
    for t in _tests(doc):
        if t["result"] != "invalid":
            continue
        with lazy.skipping(t["canary"]["skippedCheck"]):
            assert run_vector(vectors[t["tcId"]]).actual == t["canary"]["lazyResult"]


def test_a_lazy_adapter_through_the_protocol_fails_the_canaries() -> None:
    adapter = [sys.executable, "-m", "conformance.adapter", "--skip", "replay"]
    report = offline.run(adapter, [CANARIES])
    assert report.adapter.name == "a2a-coop-python-lazy-replay"
    failed = [r for r in report.files[0].results if r.status == "FAIL"]
    assert failed and all(r.vector.error in ("REPLAYED", "NONCE_REUSED") for r in failed)


@pytest.mark.slow
@pytest.mark.parametrize("check", sorted(lazy.CHECKS))
def test_every_lazy_adapter_fails_the_full_suite(check: str) -> None:
    """Every vector file through every lazy adapter, as a user would run it (slow: ~17 full runs)."""
    report = offline.run([sys.executable, "-m", "conformance.adapter", "--skip", check])
    assert report.count("FAIL") >= 1


def test_cli_verify_reports_a_reference_time_past_year_9999(tmp_path: Path) -> None:
    """A shift-time/edge vector judges a statement that expires near 2^53 ms at its very edge:
    `a2a-coop verify` once crashed formatting that time (found by this vector set)."""
    import base64

    from a2a_coop.cli.main import main

    late = max(
        (v for v in load_vector_file(VECTORS / "mutations.json") if v.result == "valid"),
        key=lambda v: v.now_ms or 0,
    )
    assert late.now_ms is not None and late.now_ms > 253402300800000  # past 9999-12-31
    path = tmp_path / "transcript.json"
    envelopes = [base64.b64encode(e).decode() for e in late.envelopes]
    path.write_text(json.dumps({"mode": late.mode, "now_ms": late.now_ms, "envelopes": envelopes}))
    assert main(["verify", str(path)]) == 0
