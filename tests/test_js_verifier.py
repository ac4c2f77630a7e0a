"""A second implementation agrees with the vectors: examples/js_verifier/verify.mjs.

The JavaScript verifier was written from SPEC.md and proto/ alone (its README lists where the SPEC had
to be read twice). These tests run it when `node` is on PATH: it must agree with every vector it
decides, decide at least as many as its README states (so losing coverage fails), hold every worked
example of the SPEC, and pass the offline adapter protocol of SPEC 17.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "examples" / "js_verifier" / "verify.mjs"
VECTORS = sorted(str(p) for p in (ROOT / "conformance" / "vectors").glob("*.json"))
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")

# What examples/js_verifier/README.md states: vectors agreed, per file (every one of them decided).
COVERED = {
    "statements": 211,
    "chains": 231,
    "wire": 77,
    "rules": 165,
    "mutations": 1866,
    "canaries": 66,
    "keytime": 77,
    "equivocation-proof": 1,
    "equivocation-proof-prev": 1,
}


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(VERIFIER), *args], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_the_js_verifier_agrees_with_every_vector_it_decides() -> None:
    run = _node("--json", *VECTORS)
    report = json.loads(run.stdout)
    assert report["disagreements"] == [], report["disagreements"][:5]
    assert run.returncode == 0, run.stderr
    for stem, floor in COVERED.items():
        got = report["files"][stem]
        assert got["agree"] >= floor, f"{stem}: {got['agree']} agree, README states {floor}"
        assert got["decided"] == got["vectors"] == got["agree"], f"{stem}: {got}"
    assert report["total"]["agree"] >= sum(COVERED.values())


def test_the_js_verifier_fails_a_disagreement(tmp_path: Path) -> None:
    """The check above can fail: a vector whose expected code is changed is reported as a disagreement."""
    doc = json.loads((ROOT / "conformance" / "vectors" / "statements.json").read_text())
    test = next(t for g in doc["testGroups"] for t in g["tests"] if t["result"] == "invalid")
    test["error"] = "CHAIN_GAP" if test["error"] != "CHAIN_GAP" else "REPLAYED"
    doc["testGroups"] = [{"type": "Edited", "mode": "sparse", "tests": [test]}]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    run = _node("--json", str(edited))
    assert run.returncode == 1
    assert len(json.loads(run.stdout)["disagreements"]) == 1


def test_every_worked_example_of_the_spec_holds_in_javascript() -> None:
    run = _node("--self-test")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_js_verifier_passes_as_an_offline_adapter() -> None:
    """SPEC 17.1's protocol, driven by the suite's own tool, over two files (the run above covers all):
    statements.json (freshness at now_ms, both verdicts) and wire.json."""
    files = [str(ROOT / "conformance" / "vectors" / f) for f in ("statements.json", "wire.json")]
    adapter = f"{NODE} {VERIFIER} --adapter"
    run = subprocess.run(
        [sys.executable, "-m", "conformance.offline", "--adapter", adapter, "--vectors", *files],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    last = run.stdout.splitlines()[-1]
    assert last.startswith("total: 288 passed, 0 failed, 0 skipped"), run.stdout[-500:]
