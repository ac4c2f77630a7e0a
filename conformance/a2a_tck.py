"""Run the official A2A TCK (a2aproject/a2a-tck, branch 1.0-dev) against ``a2a-coop serve --a2a``.

    python -m conformance.a2a_tck --tck-dir DIR [--runner RUN_SH] [--out DIR] [--bindings LIST]

Starts a fresh peer (new keys, mandate and journal in a scratch directory) with ``serve --a2a`` on
127.0.0.1, runs the TCK's runner (``run.sh``, which sets up the TCK's own virtualenv and prints
``must|should|may: N passed, M failed, K skipped``) once per binding, stops the peer, and prints one
line per binding and a JSON summary. Each failure is sorted: the TCK's scenario tests that ask for
agent behaviour chosen by a ``messageId`` prefix (an echoed "Direct message response", text, file
or data artifacts) are *domain* failures a trading peer has by design (listed in
:data:`DOMAIN_FAILURES` with the reason); any other failure is a *protocol-layer* failure, and the
exit status is 1 if there is one.

Not part of the default test run: it needs a TCK checkout and its virtualenv (network on first use).
The runner defaults to ``../shared/tools/a2a-tck/run.sh`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_RUNNER: Final = ROOT.parent / "shared" / "tools" / "a2a-tck" / "run.sh"
BINDINGS: Final = ("grpc", "jsonrpc", "http_json")

# TCK test (class::method prefix) -> (requirement ID, why it is domain behaviour).
DOMAIN_FAILURES: Final = {
    "TestTextArtifact::test_task_has_text_artifact": (
        "DM-ART-001",
        "asks the agent to answer messageId 'tck-artifact-text' with a text Artifact; a2a-coop's "
        "Artifacts are signed evidence bundles of a formed contract, and a text message forms none",
    ),
    "TestFileArtifact::test_task_has_file_artifact": (
        "DM-ART-001",
        "asks for a file Artifact on messageId 'tck-artifact-file'; no contract, so no Artifact",
    ),
    "TestFileUrlArtifact::test_task_has_file_url_artifact": (
        "DM-ART-001",
        "asks for a file-URL Artifact on messageId 'tck-artifact-file-url'; no contract, no Artifact",
    ),
    "TestDataArtifact::test_task_has_data_artifact": (
        "DM-ART-001",
        "asks for a data Artifact on messageId 'tck-artifact-data'; no contract, no Artifact",
    ),
    "TestMessageResponse::test_returns_message_with_text_part": (
        "DM-MSG-001",
        "asks the agent to reply with the exact text 'Direct message response'; an a2a-coop peer "
        "answers an unsigned message with a Message that says how to trade (A2A-014)",
    ),
}
_FAILED = re.compile(r"^FAILED (\S+?)(?:\[(\w+)\])?(?: - |$)")
_COUNTS = re.compile(r"^(must|should|may|total): (\d+) passed, (\d+) failed, (\d+) skipped")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m conformance.a2a_tck", description=__doc__.splitlines()[0])
    p.add_argument("--tck-dir", type=Path, required=True, help="a checkout of a2aproject/a2a-tck (1.0-dev)")
    p.add_argument(
        "--runner", type=Path, default=DEFAULT_RUNNER, help=f"the TCK runner (default {DEFAULT_RUNNER})"
    )
    p.add_argument("--venv", type=Path, help="the TCK's virtualenv (default: the runner's choice)")
    p.add_argument("--out", type=Path, help="where logs go (default: a new temporary directory)")
    p.add_argument("--bindings", default=",".join(BINDINGS), help="comma-separated (default: all three)")
    return p.parse_args(argv)


def start_peer(directory: Path) -> tuple[Any, str]:
    """``a2a-coop serve --a2a`` for a fresh identity in ``directory``: the process and its card's base URL."""
    from a2a_coop.cli.demo import _read_line, provision, start_server, stop_process, wait_listening

    bob = provision(directory, "tck-peer")
    server = start_server("tck-peer", ["serve", *bob.files(), "--a2a"], directory / "peer.log")
    try:
        wait_listening(server, 30)
        line = _read_line(server.popen.stdout, 30) or ""
        if not line.startswith("agent card at "):
            raise SystemExit(f"the peer did not print its card URL: {line!r}")
    except BaseException:
        stop_process(server.popen)
        raise
    return server, line.removeprefix("agent card at ").strip().removesuffix("/.well-known/agent-card.json")


def run_binding(args: argparse.Namespace, url: str, binding: str, out: Path) -> dict[str, object]:
    env = {**os.environ, "TCK_DIR": str(args.tck_dir.resolve()), "TCK_OUT": str(out / binding)}
    if args.venv is not None:
        env["TCK_VENV"] = str(args.venv.resolve())
    result = subprocess.run(
        ["bash", str(args.runner), url, binding],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    counts: dict[str, list[int]] = {}
    for line in result.stdout.splitlines():
        if m := _COUNTS.match(line):
            counts[m[1]] = [int(m[2]), int(m[3]), int(m[4])]
    failures = []
    for log in sorted((out / binding).glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = _FAILED.match(line)
            if m is None or "::" not in m[1]:
                continue
            test = m[1].split("/")[-1].split(".py::", 1)[-1]
            domain = DOMAIN_FAILURES.get(test)
            failures.append(
                {
                    "test": f"{test}[{m[2] or binding}]",
                    "requirement": domain[0] if domain else "",
                    "layer": "domain" if domain else "protocol",
                    "reason": domain[1] if domain else "",
                }
            )
    if "total" not in counts:
        sys.stderr.write(result.stdout + result.stderr)
    return {"binding": binding, "counts": counts, "failures": failures, "runner_exit": result.returncode}


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if not args.runner.is_file():
        print(f"a2a_tck: no runner at {args.runner} (pass --runner)", file=sys.stderr)
        return 2
    if not (args.tck_dir / "tests" / "compatibility").is_dir():
        print(f"a2a_tck: {args.tck_dir} is not a 1.0-dev checkout of a2a-tck", file=sys.stderr)
        return 2
    bindings = [b.strip() for b in args.bindings.split(",") if b.strip()]
    unknown = set(bindings) - set(BINDINGS)
    if unknown:
        print(
            f"a2a_tck: unknown binding(s) {sorted(unknown)}; choose from {', '.join(BINDINGS)}",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="a2a-tck-peer-") as scratch:
        out = args.out or Path(tempfile.mkdtemp(prefix="a2a-tck-out-"))
        out.mkdir(parents=True, exist_ok=True)
        from a2a_coop.cli.demo import stop_process

        server, url = start_peer(Path(scratch))
        try:
            results = [run_binding(args, url, b, out) for b in bindings]
        finally:
            stop_process(server.popen)
    protocol = 0
    for r in results:
        total = r["counts"].get("total", [0, 0, 0])  # type: ignore[union-attr]
        failures = r["failures"]
        layer = [f for f in failures if f["layer"] == "protocol"]  # type: ignore[index,union-attr]
        protocol += len(layer)
        print(
            f"{r['binding']}: {total[0]} passed, {total[1]} failed, {total[2]} skipped "
            f"({len(layer)} protocol-layer, {len(failures) - len(layer)} domain)"
        )  # type: ignore[arg-type]
        for f in failures:  # type: ignore[union-attr]
            print(f"  {f['layer']:<8} {f['requirement'] or '?':<11} {f['test']}  {f['reason']}")
    print(
        json.dumps(
            {
                "tck": "a2a-tck 1.0-dev",
                "logs": str(out),
                "protocol_layer_failures": protocol,
                "bindings": results,
            }
        )
    )
    return 1 if protocol else 0


if __name__ == "__main__":
    sys.exit(main())
