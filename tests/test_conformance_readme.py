"""conformance/README.md is the guide a framework author follows to test an agent: every option it
shows `a2a-coop conformance` taking must be one the command has, and every path it names must exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "conformance" / "README.md"


def _conformance_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "a2a_coop.cli", "conformance", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def test_every_option_the_guide_shows_is_one_the_command_takes() -> None:
    shown: set[str] = set()
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if "conformance" in line:
            shown.update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line))
    # Options of other commands the guide quotes beside the suite's.
    shown -= {"--conformance-control", "--conformance-faucet", "--check", "--suite-cmd", "--depth", "--port"}
    assert {"--target", "--role", "--vectors", "--adapter", "--strict", "--escrow"} <= shown
    usage = _conformance_help()
    missing = sorted(option for option in shown if option not in usage)
    assert not missing, f"conformance/README.md shows options `a2a-coop conformance` does not take: {missing}"


def test_every_path_the_guide_names_exists() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    named = set(re.findall(r"\| `([a-z_/]+(?:\.[a-z]+)?/?)`", text))
    named |= {m for m in re.findall(r"`((?:examples|proto)/[\w./-]+)", text)}
    assert "suite/" in named and "examples/js_verifier/verify.mjs" in named
    missing = []
    for path in named:
        base = ROOT if path.startswith(("examples/", "proto/")) else ROOT / "conformance"
        if not (base / path).exists():
            missing.append(path)
    assert not missing, f"conformance/README.md names paths that do not exist: {sorted(missing)}"
