"""The offline conformance vectors (conformance/vectors/*.json), run three ways.

* through the library (:mod:`a2a_coop.vectors`), one pytest case per vector,
  named ``<file>-<tcId>-<first requirement>`` and marked with the vector's
  requirement IDs;
* through the CLI's ``verify`` in-process, each vector written as a transcript
  file: the code a user sees must be the code the vector expects;
* through the real ``a2a-coop`` console script, a few times.

Plus: the checked-in files are exactly what the generator makes.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.cli import main
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.vectors import (
    SCHEMA,
    Vector,
    VectorFormatError,
    load_vector_file,
    parse_vector_file,
    run_vector,
)

ROOT = Path(__file__).resolve().parent.parent
VECTOR_DIR = ROOT / "conformance" / "vectors"
VECTOR_FILES = sorted(p for p in VECTOR_DIR.glob("*.json") if "testGroups" in p.read_text(encoding="utf-8"))
VECTORS: list[Vector] = [v for path in VECTOR_FILES for v in load_vector_file(path)]
REQ_ID = re.compile(r"[A-Z]{2,4}-\d{3}")


def _params(role: str | None = None) -> list[Any]:
    # mutations.json's generated vectors (about 1,800) run in bulk instead, one test for the file
    # (tests/test_mutation_vectors.py), to keep the suite fast.
    per_vector = [v for v in VECTORS if v.source != "mutations" and role in (None, v.role)]
    return [pytest.param(v, id=v.name, marks=pytest.mark.req(*v.requirements)) for v in per_vector]


def _console_script() -> list[str]:
    """The installed ``a2a-coop`` entry point (next to this interpreter)."""
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "a2a-coop",
        Path(sys.executable).parent / "a2a-coop",
    ):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("a2a-coop")
    if found is None:
        pytest.fail("the a2a-coop console script is not installed (pip install -e .)")
    return [found]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_console_script(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# --- the vector files themselves --------------------------------------------------------------


@pytest.mark.req("ERR-001")
def test_vector_files_exist_and_cover_both_files() -> None:
    """The suite ships statement vectors and chain vectors; expect both, with a healthy number of tests."""
    names = {p.name for p in VECTOR_FILES}
    assert {"statements.json", "chains.json"} <= names
    assert len(VECTORS) >= 200


@pytest.mark.req("ERR-001")
@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_file_is_well_formed(path: Path) -> None:
    """Every test names requirement IDs and known flags, tcIds are unique, and error codes are SPEC codes."""
    from a2a_coop.protocol.errors import registry

    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == SCHEMA
    vectors = parse_vector_file(doc, path.stem)
    assert doc["numberOfTests"] == len(vectors)
    codes = set(registry())
    for v in vectors:
        assert v.requirements and all(REQ_ID.fullmatch(r) for r in v.requirements), v.name
        assert v.flags and set(v.flags) <= doc["notes"].keys(), v.name
        assert v.error is None or v.error in codes, v.name
    for note in doc["notes"].values():
        assert {"bugType", "description", "effect"} <= note.keys()


@pytest.mark.req("ERR-001")
def test_vector_requirements_are_in_the_registry() -> None:
    """Vectors only cite requirement IDs that SPEC.md defines (via conformance/requirements.json)."""
    registry_file = ROOT / "conformance" / "requirements.json"
    if not registry_file.exists():
        pytest.skip("conformance/requirements.json not generated yet")
    text = registry_file.read_text(encoding="utf-8")
    known = set(REQ_ID.findall(text))
    cited = {r for v in VECTORS for r in v.requirements}
    assert cited <= known, sorted(cited - known)


@pytest.mark.req("CHN-002", "ERR-001")
def test_every_outcome_kind_is_covered() -> None:
    """Both results appear in both files, and each file has a complete-mode group."""
    for path in VECTOR_FILES:
        vectors = load_vector_file(path)
        assert {v.result for v in vectors} == {"valid", "invalid"}
    assert any(v.mode == "complete" for v in VECTORS)


@pytest.mark.req("ERR-002")
def test_malformed_vector_documents_are_refused() -> None:
    """A runner must not silently pass a broken vector file; expect VectorFormatError for each defect."""
    good = json.loads(VECTOR_FILES[0].read_text(encoding="utf-8"))
    test = good["testGroups"][0]["tests"][0]

    def doc_with(**changes: Any) -> dict[str, Any]:
        t = {**test, **changes}
        return {**good, "numberOfTests": 1, "testGroups": [{"type": "x", "mode": "sparse", "tests": [t]}]}

    bad_docs: list[Any] = [
        {**good, "schema": "other/1"},
        {**good, "numberOfTests": 1},
        {**good, "testGroups": [{"type": "x", "mode": "lazy", "tests": []}]},
        {**good, "testGroups": [{"type": "x", "mode": "sparse", "role": "live", "tests": []}]},
        doc_with(result="maybe"),
        doc_with(result="invalid", error="EXPIRED", failedIndex=99),
        doc_with(envelopes=["not base64!"]),
        doc_with(now_ms="soon"),
        [],
    ]
    for bad in bad_docs:
        with pytest.raises(VectorFormatError):
            parse_vector_file(bad)


# --- through the library -----------------------------------------------------------------------


@pytest.mark.parametrize("vector", _params())
def test_vector_library(vector: Vector) -> None:
    """Run the vector through one fresh Verifier; expect the vector's outcome exactly (code and index) --
    one stating ``faulty`` in a view that keeps every fork and answer proof it is shown (SPEC 17.1, F125)."""
    outcome = run_vector(vector, Verifier if vector.faulty is None else EvidenceVerifier)
    got = f"{outcome.actual} [{outcome.requirement}] {outcome.detail}"
    assert outcome.passed, f"{vector.comment}: expected {vector.expected}, got {got}"


@pytest.mark.req("KEY-010", "KEY-009")
def test_a_groups_role_decides_which_verifier_runs_it() -> None:
    """keytime.json's escrow groups run an escrow's verifier (SPEC 17): the thief's Revoke stamped after
    the revocation's effective_ms is refused there (KEY-010) and held by an auditor, a view of evidence
    -- disowned when the view holds the escrow's Stamp of the revocation before the Revoke's, the escrow's
    own order (KEY-010 (c), KEY-009 (c)); and a file's groups without a role run the auditor's, as before
    roles."""
    from dataclasses import replace

    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.protocol.verifier import Verifier

    vectors = load_vector_file(VECTOR_DIR / "keytime.json")
    escrow = [v for v in vectors if v.role == "escrow" and v.result == "invalid"]
    assert escrow and all(run_vector(v).passed for v in escrow)
    views = {
        v.comment: run_vector(replace(v, role="auditor")).actual
        for v in escrow
        if v.requirements[0] == "KEY-010"
    }
    assert set(views.values()) == {"valid"}
    disowned = {}
    for v in escrow:
        if v.comment in views:
            view = Verifier(complete_chains=False, evidence_view=True)
            for env in v.envelopes:
                view.accept(env)
            disowned[v.comment] = view.disowned(verify_statement(v.envelopes[-1]))
    ordered = [c for c in views if "Stamp of the revocation held too" in c]
    assert len(ordered) == 1 and disowned[ordered[0]], disowned
    assert not [c for c, d in disowned.items() if d and c not in ordered], disowned
    # outside keytime.json: KEY-004 at an escrow (rules.json KeyRulesAtTheEscrow, its canary), KEY-009 (d);
    # ESC-020 with KEY-009's order (StampsInOneMsAtTheEscrow), KEY-012 (a) (RotationForkAtTheEscrow) and
    # ESC-019 with KEY-011 (b) (LateBoundRevokerAtTheEscrow)
    assert {v.source for v in VECTORS if v.role == "escrow"} == {"keytime", "rules", "canaries"}
    assert [v.tc_id for v in VECTORS if v.role == "escrow" and v.source == "rules"] == [
        166,
        203,
        204,
        205,
        210,
        211,
    ]


@pytest.mark.req("ESC-019", "AUD-003")
def test_an_escrow_group_applies_the_claim_window_to_each_accept() -> None:
    """keytime.json's ClaimWindowAtTheEscrow: an escrow's verifier (its audit's replay) refuses the Accept
    of a contract a party could not claim under (ESC-019, SPEC 17); the same envelopes pass section 11,
    so an auditor, which applies no ESC-019, takes them."""
    from dataclasses import replace

    vectors = [v for v in load_vector_file(VECTOR_DIR / "keytime.json") if "ESC-019" in v.requirements]
    refused = [v for v in vectors if v.result == "invalid"]
    assert len(refused) >= 6 and {v.error for v in refused} == {"MANDATE_VIOLATION"}
    assert all(run_vector(v).passed for v in vectors)
    assert {run_vector(replace(v, role="auditor")).actual for v in refused} == {"valid"}


@pytest.mark.req("ESC-020", "AUD-003")
def test_an_escrow_group_applies_its_own_validity_to_each_accept_it_stamped() -> None:
    """keytime.json's EscrowValidityAtTheEscrow: an escrow's verifier (its audit's replay) refuses the
    Accept of a contract whose last ruling time reaches the end of the Mandate the escrow's Stamp of it
    cites (ESC-020, SPEC 17); the same envelopes pass section 11, so an auditor takes them, as it takes
    every case of the group."""
    from dataclasses import replace

    vectors = [v for v in load_vector_file(VECTOR_DIR / "keytime.json") if v.requirements[0] == "ESC-020"]
    refused = [v for v in vectors if v.result == "invalid"]
    assert len(vectors) == 8 and len(refused) == 4 and {v.error for v in refused} == {"MANDATE_VIOLATION"}
    assert all(run_vector(v).passed for v in vectors)
    assert {run_vector(replace(v, role="auditor")).actual for v in vectors} == {"valid"}


@pytest.mark.req("ERR-002")
def test_a_wrong_expectation_is_reported_as_a_failure() -> None:
    """The runner must be able to fail: flip one vector's expectation and expect passed == False."""
    from dataclasses import replace

    v = next(v for v in VECTORS if v.result == "invalid")
    assert not run_vector(replace(v, error="REPLAYED")).passed
    assert not run_vector(replace(v, failed_index=(v.failed_index or 0) + 1)).passed
    assert not run_vector(replace(v, result="valid", error=None, failed_index=None)).passed
    w = next(v for v in VECTORS if v.result == "valid")
    assert not run_vector(replace(w, result="invalid", error="EXPIRED", failed_index=0)).passed


# --- through the CLI, in process --------------------------------------------------------------


# `a2a-coop verify` of a transcript is an auditor's (a view of evidence): a group of role escrow runs
# through the vector file (test_console_script_runs_every_vector_file), not as a bare transcript.
@pytest.mark.parametrize("vector", _params("auditor"))
def test_vector_cli(vector: Vector, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Write the vector as a transcript file and `a2a-coop verify` it; expect exit 0, or 1 with its code."""
    path = tmp_path / "transcript.json"
    path.write_text(
        json.dumps(
            {
                "mode": vector.mode,
                "now_ms": vector.now_ms,
                "envelopes": [base64.b64encode(e).decode() for e in vector.envelopes],
            }
        )
    )
    code = main(["verify", str(path)])
    out = capsys.readouterr().out
    last = out.splitlines()[-1]
    if vector.result == "valid":
        assert code == 0, out
        assert last.startswith(f"valid: {len(vector.envelopes)} statements ({vector.mode} chains"), last
    else:
        assert code == 1, out
        assert last.startswith(f"invalid: {vector.error} "), last
        assert last.endswith(f"(envelope {(vector.failed_index or 0) + 1} of {path})"), last


# --- reproducibility ------------------------------------------------------------------------------


@pytest.mark.req("ERR-001")
@pytest.mark.req("ERR-001")
def test_generator_check_detects_an_edited_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checked-in files are the generator's output (--check passes on a copy of them); hand-edit one
    file in the copy and expect the drift check to fail for it. The check is the one of every file, on
    one small file's rendering (a full generation takes seconds: it runs under -m slow, below, and in
    .ci/run as `python -m conformance.generate_vectors --check`)."""
    from conformance import generate_vectors
    from conformance.generate_vectors import reputation

    shutil.copy(VECTOR_DIR / reputation.FILE, tmp_path / reputation.FILE)
    rendered = {reputation.FILE: generate_vectors.file_text(reputation.reputation_file())}
    monkeypatch.setattr(generate_vectors, "render", lambda: rendered)
    assert generate_vectors.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / reputation.FILE
    text = edited.read_text(encoding="utf-8")
    assert '"numberOfTests": ' in text
    edited.write_text(text.replace('"numberOfTests": ', '"numberOfTests": 1', 1), encoding="utf-8")
    assert generate_vectors.main(["--check", "--out", str(tmp_path)]) == 1


@pytest.mark.slow
def test_the_generator_renders_every_checked_in_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator is deterministic and the checked-in files are its output: --check passes on a copy
    of them, and fails for a hand-edited one. The second check compares the copy with the files the
    first one rendered."""
    from conformance import generate_vectors

    for path in VECTOR_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(generate_vectors, "render", functools.cache(generate_vectors.render))
    assert generate_vectors.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "chains.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"valid"', '"invalid"', 1), encoding="utf-8")
    assert generate_vectors.main(["--check", "--out", str(tmp_path)]) == 1


@pytest.mark.req("ERR-001", "MND-003", "MND-008")
def test_generator_one_rule_check_finds_a_second_broken_rule() -> None:
    """The case of the issue: an offer issued exactly at its mandate's valid_until_ms (MND-003), whose item
    deadlines, a day later, also pass the mandate's end (MND-008, hidden behind MND-003). Expect the
    generator's check to report its twin (the offer 1 ms inside the validity) as refused for MND-008; with
    the execution window reaching the deadlines, expect no report; and a case with neither a twin nor a
    reason to be reported."""
    from a2a_coop.testing import DAY_MS, FixedClock
    from conformance.generate_vectors._common import Group, draft_offer, seal, world
    from conformance.generate_vectors.output import check_twins

    now = FixedClock().now_ms

    def transcript(**caps: int) -> list[bytes]:
        _, alice, bob = world(alice={"valid_from_ms": now - DAY_MS, **caps})
        return [*alice.setup, seal(alice.agent.key, draft_offer(alice, bob))]

    def problems(**extra: int) -> list[str]:
        g = Group("Mandate", "sparse")
        g.add(
            "issued exactly at valid_until_ms",
            ["MND-003"],
            transcript(valid_until_ms=now, **extra),
            "MANDATE_VIOLATION",
            twin=transcript(valid_until_ms=now + 1, **extra),
        )
        return check_twins("statements", [g])

    [report] = problems()
    assert "twin is not valid" in report and "MND-008" in report
    assert problems(execution_window_end_ms=now + DAY_MS) == []
    g = Group("Mandate", "sparse")
    g.add("no twin", ["MND-003"], transcript(valid_until_ms=now), "MANDATE_VIOLATION")
    [report] = check_twins("statements", [g])
    assert "needs its valid twin" in report


# --- the real console script -------------------------------------------------------------------


@pytest.mark.req("ERR-001")
def test_console_script_runs_every_vector_file() -> None:
    """`a2a-coop verify --vectors conformance/vectors/*.json` (the README's example); expect exit 0,
    full counts. Without --vectors, a vector file is a usage error (exit 2): it states its own expected
    results, so it must not pass as evidence."""
    files = [str(p.relative_to(ROOT)) for p in sorted(VECTOR_DIR.glob("*.json"))]
    refused = _run("verify", *files)
    assert refused.returncode == 2 and "--vectors" in refused.stderr, refused.stderr
    result = _run("verify", "--vectors", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in VECTOR_FILES:
        n = len(load_vector_file(path))
        assert f"{path.name}: {n}/{n} vectors as expected" in result.stdout
    assert "valid equivocation proof" in result.stdout


@pytest.mark.req("ENV-004", "ERR-001")
def test_console_script_garbage_file_is_invalid(tmp_path: Path) -> None:
    """A file of random bytes is not an envelope; expect exit 1 and MALFORMED_ENVELOPE, no traceback."""
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\xff\x00\x13" * 50)
    result = _run("verify", str(garbage))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "invalid: MALFORMED_ENVELOPE [ENV-004]" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.req("ERR-001")
def test_console_script_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    """A missing file is the user's mistake, not an invalid statement; expect exit 2 and one stderr line."""
    result = _run("verify", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.json" in result.stderr


@pytest.mark.req("ATT-013")
def test_a_vector_stating_faulty_passes_only_with_that_faulty_set() -> None:
    """keytime.json's WitnessedByATrustedEscrow and ToldAnotherTrustedEscrow, chains.json's
    AcceptOfAnOfferNotHeld and NamedStatementNotHeld, keytime.json's AnswerProofTaken and
    NamedStatementOfAnotherKind: each test states
    the view's trusted escrows and the keys and principals it holds faulty (ATT-013 (d), (f); KEY-009 (e);
    ATT-022); the runner, in a view keeping every proof it is shown, compares the set as well as the
    verdict -- the same test with the principal added or left out fails, and one whose field is not a list
    of did:keys is refused as a vector file. The core Verifier keeps no proof: it misses the answer pair no
    refusal carries (F125)."""
    stated = [v for v in VECTORS if v.faulty is not None]
    assert len(stated) == 32 and all(run_vector(v, EvidenceVerifier).passed for v in stated)
    # the principal spared by some, convicted by others; nobody faulty without a proof
    assert {len(v.faulty or ()) for v in stated} == {0, 1, 2}
    pair = [v for v in stated if v.group_type == "AnswerProofTaken" and v.faulty]
    assert len(pair) == 2 and not any(run_vector(v).passed for v in pair)
    for v in stated:
        other = next(w.faulty for w in stated if w.faulty != v.faulty)
        o = run_vector(dataclasses.replace(v, faulty=other), EvidenceVerifier)
        assert not o.passed and o.actual == v.expected and "; faulty: " in o.actual
    doc = json.loads((ROOT / "conformance/vectors/keytime.json").read_text())
    doc["testGroups"][-1]["tests"][0]["trusted_escrows"] = "did:key:z6Mk"
    with pytest.raises(VectorFormatError, match="trusted_escrows must be a list of did:key strings"):
        parse_vector_file(doc, "keytime")
