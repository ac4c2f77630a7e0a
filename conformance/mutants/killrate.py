"""The kill rate of a conformance suite over the mutant servers.

For the reference peer and then each mutant: start ``python -m conformance.mutants serve NAME`` on a
free loopback port with a fresh state directory, run the suite command with ``{target}`` replaced by
its ``HOST:PORT``, stop the server. A mutant is **killed** iff the suite exits 1 (a MUST failed); exit
0 means it survived; any other exit (2: usage or connection error, a timeout, a crash) is an error,
counted as not killed and reported. The run is valid only if the suite exits 0 on the reference peer.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from conformance.mutants.catalog import BY_NAME, MUTANTS, REFERENCE

START_TIMEOUT_S: Final = 30.0
_LISTENING: Final = re.compile(r"listening on (\S+) as (did:key:\S+)")


class ServerFailed(RuntimeError):
    """A mutant server did not start."""


@dataclass
class Outcome:
    name: str
    exit_code: int | None  # None: the suite timed out
    seconds: float
    tail: str = ""

    @property
    def verdict(self) -> str:
        if self.name == REFERENCE:
            return "pass" if self.exit_code == 0 else "FAIL"
        return {0: "survived", 1: "killed"}.get(self.exit_code if self.exit_code is not None else -1, "error")


def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


class MutantProcess:
    """``python -m conformance.mutants serve NAME`` as a child process, stopped on exit."""

    def __init__(self, name: str, state_dir: Path, log_path: Path) -> None:
        self.name = name
        with log_path.open("w") as log:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "conformance.mutants",
                    "serve",
                    name,
                    "--listen",
                    "127.0.0.1:0",
                    "--state-dir",
                    str(state_dir),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=_child_env(),
            )
        self.log_path = log_path
        lines: queue.Queue[str] = queue.Queue()
        assert self.popen.stdout is not None
        stdout = self.popen.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            line = ""
        m = _LISTENING.match(line)
        if m is None:
            self.stop()
            raise ServerFailed(f"{name} did not start: {line.strip() or 'no listening line'}; see {log_path}")
        self.target, self.did = m[1], m[2]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def __enter__(self) -> MutantProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_print_lock = threading.Lock()


def _row(out: TextIO, outcome: Outcome) -> None:
    code = "timeout" if outcome.exit_code is None else str(outcome.exit_code)
    ids = BY_NAME[outcome.name].violates if outcome.name in BY_NAME else ("-",)
    violates = ",".join(ids[:2]) + (f" +{len(ids) - 2}" if len(ids) > 2 else "")
    with _print_lock:
        out.write(
            f"{outcome.name:<26} {violates:<22} {outcome.verdict:<9} {code:>7} {outcome.seconds:6.1f} s\n"
        )
        if outcome.verdict in ("error", "FAIL"):
            out.write("".join(f"    {line}\n" for line in outcome.tail.splitlines()))
        out.flush()


def run_one(name: str, suite_cmd: str, workdir: Path, timeout_s: float) -> Outcome:
    """Start ``name``, run the suite against it, stop it."""
    state = workdir / name
    state.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        server = MutantProcess(name, state, workdir / f"{name}.server.log")
    except ServerFailed as exc:
        return Outcome(name, -2, time.monotonic() - started, str(exc))
    with server:
        argv = [arg.replace("{target}", server.target) for arg in shlex.split(suite_cmd)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env=_child_env(), check=False
            )
        except subprocess.TimeoutExpired:
            return Outcome(name, None, time.monotonic() - started, "suite timed out")
        except OSError as exc:
            return Outcome(name, -1, time.monotonic() - started, f"cannot run the suite: {exc}")
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    (workdir / f"{name}.suite.log").write_text(done.stdout + done.stderr)
    return Outcome(name, done.returncode, time.monotonic() - started, tail)


def kill_rate(
    suite_cmd: str,
    names: Sequence[str] | None = None,
    *,
    out: TextIO,
    timeout_s: float = 300.0,
    workdir: Path | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run the suite over the reference peer and the mutants; print a table and return the figures.

    The reference runs first, alone; then the mutants, ``jobs`` at a time (each with its own server,
    port and state directory). Rows are printed as runs finish and the verdicts do not depend on order.
    """
    if "{target}" not in suite_cmd:
        raise ValueError("the suite command must contain {target}")
    chosen = list(names) if names else [m.name for m in MUTANTS]
    started = time.monotonic()
    out.write(f"{'server':<26} {'violates':<22} {'verdict':<9} {'exit':>7} {'time':>8}\n")
    with tempfile.TemporaryDirectory(prefix="killrate-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)

        def run(name: str) -> Outcome:
            outcome = run_one(name, suite_cmd, work, timeout_s)
            _row(out, outcome)
            return outcome

        reference = run(REFERENCE)
        with futures.ThreadPoolExecutor(max(1, jobs)) as pool:
            by_name = {o.name: o for o in pool.map(run, chosen)}
    outcomes = [reference, *(by_name[n] for n in chosen)]
    mutants = outcomes[1:]
    killed = [o.name for o in mutants if o.verdict == "killed"]
    figures = {
        "reference_exit": outcomes[0].exit_code,
        "reference_passes": outcomes[0].exit_code == 0,
        "mutants": len(mutants),
        "killed": len(killed),
        "survived": [o.name for o in mutants if o.verdict == "survived"],
        "errors": [o.name for o in mutants if o.verdict == "error"],
        "mutant_kill_rate": round(len(killed) / len(mutants), 4) if mutants else 0.0,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out.write(f"killed {len(killed)} of {len(mutants)} mutants; reference {outcomes[0].verdict}\n")
    out.write(json.dumps(figures) + "\n")
    return figures
