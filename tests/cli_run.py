"""Running the ``a2a-coop`` CLI in process, for the CLI tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from a2a_coop.cli.demo import child_env, cli_command
from a2a_coop.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``a2a-coop ARGV...``."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_process(*argv: str | Path, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``a2a-coop ARGV...`` run in a process of its own, as a user runs it (output captured, never raised)."""
    return subprocess.run(
        cli_command(*map(str, argv)),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=child_env(),
        check=False,
    )


def one_line_error(err: str, *needles: str) -> str:
    """The one line ``err`` holds, checked to be a CLI error (no traceback) naming every needle."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("a2a-coop: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
