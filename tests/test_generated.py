"""Generated artefacts stay in step with their sources.

* a2a_coop/_proto must be exactly what the pinned protoc makes from proto/;
* SPEC.md's state-machine and error tables must be exactly what the code says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.req("VER-003", "STM-001")
def test_generated_protobuf_code_matches_proto_sources() -> None:
    """Someone edits a .proto without regenerating; expect the drift check to fail loudly."""
    result = _run("tools/gen_proto.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_proto_drift_check_detects_a_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift check must be able to fail: tamper with one generated file and expect a diff."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_proto
    finally:
        sys.path.pop(0)
    fresh = tmp_path / "fresh"
    gen_proto.generate(fresh)
    files = gen_proto._files(fresh)
    name = next(n for n in files if n.endswith("trade_pb2.py"))
    tampered = tmp_path / "tampered"
    for n, data in files.items():
        out = tampered / n
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data + (b"# edited by hand\n" if n == name else b""))
    monkeypatch.setattr(gen_proto, "OUT_ROOT", tampered)
    monkeypatch.setattr(sys, "argv", ["gen_proto.py", "--check"])
    assert gen_proto.main() == 1


@pytest.mark.req("NEG-001", "ERR-001")
def test_spec_generated_tables_match_code() -> None:
    """SPEC.md's transition table and error registry are regenerated from the code; expect no diff."""
    if not (ROOT / "SPEC.md").exists():
        pytest.fail("SPEC.md is missing")
    result = _run("tools/gen_spec_tables.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
