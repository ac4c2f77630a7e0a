"""Run an inline ES module in node -- a test's reading through the JS verifier (examples/js_verifier), the
second implementation -- and read the one JSON document it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def js_module(script: str, *argv: str, stdin: str | None = None, timeout: int = 60) -> Any:
    """``script`` run as an ES module from the repository's root with ``argv`` after it and ``stdin`` as
    its input; what it printed, read as JSON. A failing script fails the test (``check``)."""
    assert NODE is not None, "node is not on PATH"
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", script, *argv],
        input=stdin,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return json.loads(run.stdout)
