"""``python -m conformance.a2a_tck`` without a TCK: a stand-in runner checks what the command does.

The real TCK needs its own checkout and virtualenv, so it is not part of the default run. Here a
runner script in its place fetches the card of the peer the command started (proving the peer
serves A2A at the URL it passes) and writes a pytest-style log with one domain failure and one
protocol-layer failure; expect the command to sort them, print per-binding counts, and exit 1.
"""

# ruff: noqa: E501  # the stand-in runner's lines are shell, kept whole

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("a2a")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance import a2a_tck  # noqa: E402

RUNNER = """#!/usr/bin/env bash
set -eu
mkdir -p "$TCK_OUT"
"{python}" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1] + "/.well-known/agent-card.json", timeout=10).read())' "$1" "$TCK_OUT/card.json"
cat > "$TCK_OUT/must.log" <<LOG
FAILED tests/compatibility/core_operations/test_artifacts.py::TestTextArtifact::test_task_has_text_artifact[$2] - AssertionError: DM-ART-001
FAILED tests/compatibility/grpc/test_status_codes.py::TestGrpcStatusCodes::test_made_up - AssertionError
LOG
echo "must: 3 passed, 2 failed, 1 skipped"
echo "total: 3 passed, 2 failed, 1 skipped"
exit 1
"""


def test_the_tck_command_starts_a_peer_and_sorts_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tck = tmp_path / "tck"
    (tck / "tests" / "compatibility").mkdir(parents=True)
    runner = tmp_path / "run.sh"
    runner.write_text(RUNNER.replace("{python}", sys.executable))
    out = tmp_path / "out"
    code = a2a_tck.main(
        ["--tck-dir", str(tck), "--runner", str(runner), "--out", str(out), "--bindings", "jsonrpc"]
    )
    printed = capsys.readouterr().out
    assert code == 1
    card = json.loads((out / "jsonrpc" / "card.json").read_text())
    assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["JSONRPC", "HTTP+JSON", "GRPC"]
    assert "jsonrpc: 3 passed, 2 failed, 1 skipped (1 protocol-layer, 1 domain)" in printed
    summary = json.loads(printed.strip().splitlines()[-1])
    (result,) = summary["bindings"]
    layers = {f["test"]: (f["layer"], f["requirement"]) for f in result["failures"]}
    assert layers["TestTextArtifact::test_task_has_text_artifact[jsonrpc]"] == ("domain", "DM-ART-001")
    assert layers["TestGrpcStatusCodes::test_made_up[jsonrpc]"] == ("protocol", "")
    assert summary["protocol_layer_failures"] == 1


def test_the_tck_command_refuses_a_directory_that_is_not_the_tck(tmp_path: Path) -> None:
    runner = tmp_path / "run.sh"
    runner.write_text("exit 0\n")
    assert a2a_tck.main(["--tck-dir", str(tmp_path), "--runner", str(runner)]) == 2
    assert a2a_tck.main(["--tck-dir", str(tmp_path), "--runner", str(tmp_path / "none")]) == 2
