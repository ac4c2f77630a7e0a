"""Run rating vectors built in a test through the JS verifier (examples/js_verifier), the second
implementation: both must weigh every bundle alike."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.reputation_vectors import RATING_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def assert_js_rates_alike(tmp_path: Path, vectors: list[dict[str, Any]], name: str) -> None:
    """Write ``vectors`` (ratings.json's test entries, each with the reference's ``expected``) as a rating
    vector file and assert the JS verifier agrees on every one; skipped where node is not on PATH."""
    if NODE is None:
        pytest.skip("node is not on PATH: the second implementation is not run")
    doc = {
        "schema": RATING_SCHEMA,
        "algorithm": "a2a-coop/v1 rating of an attestation: SPEC 10.2 over an evidence bundle",
        "generatorVersion": "1",
        "numberOfTests": len(vectors),
        "header": [],
        "ratingGroups": [{"type": "Rating", "tests": vectors}],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    run = subprocess.run(
        [NODE, str(ROOT / "examples" / "js_verifier" / "verify.mjs"), "--json", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(run.stdout)["disagreements"] == [], run.stdout[-2000:]
    assert run.returncode == 0, run.stderr
