"""equivocation-non-proofs.json through the CLI: pairs that are no proof (CHN-003, CHN-004, ATT-012,
ATT-022), each to be refused, run like a vector file (``a2a-coop verify --vectors``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_cli

VECTORS = Path(__file__).resolve().parent.parent / "conformance" / "vectors"
SHIPPED = VECTORS / "equivocation-non-proofs.json"


@pytest.mark.req("CHN-004", "CHN-003", "ATT-022")
def test_the_shipped_non_proofs_are_each_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "verify", "--vectors", str(SHIPPED))
    assert code == 0 and "5/5 vectors as expected" in out


@pytest.mark.req("CHN-004")
def test_a_real_proof_in_a_non_proofs_file_fails_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run can fail: a pair that is a proof (the shipped CHN-004 proof) is taken, in the first order."""
    proof = json.loads((VECTORS / "equivocation-proof.json").read_text("utf-8"))
    doc = json.loads(SHIPPED.read_text("utf-8"))
    doc["tests"].append(
        {
            "tcId": 99,
            "comment": "a proof",
            "requirements": ["CHN-004"],
            **{k: proof[k] for k in ("first", "second")},
        }
    )
    path = tmp_path / "non-proofs.json"
    path.write_text(json.dumps(doc), "utf-8")
    code, out, _ = run_cli(capsys, "verify", "--vectors", str(path))
    assert code == 1 and "5/6 vectors as expected" in out
    assert f"non-proofs-99-CHN-004 (a proof): expected not a proof, got a proof by {proof['issuer']}" in out


def test_a_non_proofs_file_needs_vectors_mode(capsys: pytest.CaptureFixture[str]) -> None:
    """It states its own expected results, as a vector file does: not evidence."""
    code, _, err = run_cli(capsys, "verify", str(SHIPPED))
    assert code == 2 and "is a test vector file" in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("tests"), "needs a tests list"),
        (lambda d: d["tests"][0].pop("second"), "tests[0]: missing 'second'"),
        (lambda d: d["tests"][1].update(tcId=1), "tcId values must be unique"),
        (lambda d: d["tests"][0].update(tcId="1"), "tcId must be an integer"),
        (lambda d: d["tests"][0]["first"].pop("payload"), "tests[0]: not a DSSE JSON envelope"),
    ],
)
def test_a_malformed_non_proofs_file_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    doc = json.loads(SHIPPED.read_text("utf-8"))
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), "utf-8")
    code, _, err = run_cli(capsys, "verify", "--vectors", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
