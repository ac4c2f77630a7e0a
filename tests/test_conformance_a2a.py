"""The live suite's A2A cases (``a2a.*``, SPEC section 14): the reference peer served with ``--a2a`` passes
every one of them as a real process; without ``--a2a-url`` they SKIP; and a target with one A2A deviation
(it ignores activation) fails exactly the cases that check it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")
pytest.importorskip("uvicorn")

from a2a_coop.cli import main
from a2a_coop.cli.demo import (
    ServerProcess,
    _read_line,
    child_env,
    cli_command,
    provision,
    start_server,
    stop_process,
    wait_listening,
)
from conformance.suite.runner import load_cases

START_TIMEOUT_S = 30.0
CARD_PATH = "/.well-known/agent-card.json"


def conformance(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """``a2a-coop conformance ARGV`` as a process, plain output (CI=true)."""
    return subprocess.run(
        cli_command("conformance", *map(str, argv)),
        capture_output=True,
        text=True,
        timeout=120,
        env={**child_env(), "CI": "true"},
        check=False,
    )


def _report(directory: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return doc


def a2a_cases() -> list[str]:
    return sorted(c for c in load_cases() if c.startswith("a2a."))


@pytest.fixture(scope="module")
def a2a_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """``a2a-coop serve --a2a`` as its own process: its gRPC target and its A2A base URL."""
    directory = tmp_path_factory.mktemp("a2a-target")
    who = provision(directory, "bob")
    server = start_server("bob", ["serve", *who.files(), "--a2a"], directory / "bob.log")
    try:
        wait_listening(server, START_TIMEOUT_S)
        line = _read_line(server.popen.stdout, START_TIMEOUT_S) or ""
        assert line.startswith("agent card at "), line
        yield server, line.removeprefix("agent card at ").strip().removesuffix(CARD_PATH)
    finally:
        stop_process(server.popen)


def _levels(directory: Path) -> dict[str, tuple[str, str]]:
    cases: list[dict[str, Any]] = _report(directory)["cases"]
    return {c["id"]: (c["level"], c["reason"]) for c in cases}


def test_reference_a2a_peer_passes_every_a2a_case(
    a2a_peer: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, url = a2a_peer
    selected = [f"--case={c}" for c in a2a_cases()]
    run = conformance("--target", server.target, "--a2a-url", url, "--report-dir", tmp_path, *selected)
    assert run.returncode == 0, run.stdout + run.stderr
    levels = _levels(tmp_path)
    assert set(levels) == set(a2a_cases())
    assert {c: lv for c, lv in levels.items() if lv[0] != "PASS"} == {}
    cases: list[dict[str, Any]] = _report(tmp_path)["cases"]
    messages = next(c for c in cases if c["id"] == "a2a.parts-raw")
    assert any(t["rpc"] == "A2A JSON-RPC SendMessage" for t in messages["transcript"]), messages["transcript"]


def test_without_an_a2a_url_the_a2a_cases_skip(
    a2a_peer: tuple[ServerProcess, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = a2a_peer
    selected = [f"--case={c}" for c in a2a_cases()]
    assert main(["conformance", "--target", server.target, "--report-dir", str(tmp_path), *selected]) == 0
    assert {lv for lv, _ in _levels(tmp_path).values()} == {"SKIP"}


@pytest.fixture
def activation_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A real peer serving A2A in this process with one deviation: it reads a2a-coop Parts whether or
    not the client activated the extension (breaks A2A-003 and A2A-010)."""
    from a2a_coop.a2a import EXTENSION_URI, handler, serve_a2a
    from a2a_coop.runtime.node import PeerNode

    monkeypatch.setattr(handler, "activated_extensions", lambda context, extensions: {EXTENSION_URI})
    who = provision(tmp_path, "lax")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "lax.db")
    server = serve_a2a(node)
    try:
        yield server.target, server.card_url
    finally:
        server.stop()
        node.close()


def test_a_target_that_ignores_activation_fails_the_activation_cases(
    activation_ignored: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, url = activation_ignored
    selected = [f"--case={c}" for c in a2a_cases()]
    code = main(
        ["conformance", "--target", target, "--a2a-url", url, "--report-dir", str(tmp_path), *selected]
    )
    assert code == 1
    levels = _levels(tmp_path)
    failed = {c for c, (lv, _) in levels.items() if lv == "FAIL"}
    assert failed == {"a2a.activation", "a2a.unsigned-messages"}, levels
    assert "EXTENSION_SUPPORT_REQUIRED" in levels["a2a.activation"][1]


class _CountersFirst:
    """Counters every opening offer with the terms reversed (then decides honestly): a target whose
    open offer the suite can ask it to withdraw with CancelTask (A2A-018)."""

    def __init__(self) -> None:
        from a2a_coop.runtime.strategy import HonestStrategy

        self.honest = HonestStrategy()

    def respond(self, offer: Any) -> Any:
        from a2a_coop._proto.a2acoop.v1 import trade_pb2
        from a2a_coop.runtime.strategy import Counter

        if offer.round > 1:
            return self.honest.respond(offer)
        p = offer.proposal
        return Counter(trade_pb2.Offer(gives=p.wants, wants=p.gives, terms=p.terms))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.honest, name)


def test_cancel_task_withdraws_a_counter_of_the_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against a target that counters, a2a.cancel exercises the withdraw half of A2A-018."""
    from a2a_coop.a2a import serve_a2a
    from a2a_coop.runtime.node import PeerNode

    who = provision(tmp_path, "haggler")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "haggler.db", strategy=_CountersFirst())
    server = serve_a2a(node)
    try:
        argv = ["conformance", "--target", server.target, "--a2a-url", server.card_url]
        code = main([*argv, "--case", "a2a.cancel", "--report-dir", str(tmp_path / "r")])
    finally:
        server.stop()
        node.close()
    level, reason = _levels(tmp_path / "r")["a2a.cancel"]
    assert (code, level) == (0, "PASS"), reason
    assert "withdrawn" in reason


def test_cancel_task_refused_to_a_suite_that_is_not_the_operator_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target that takes the suite for a stranger (A2A-022) refuses to withdraw its Counter with
    TASK_NOT_CANCELABLE and ``a2aCoopRefusal`` NOT_OPERATOR: a2a.cancel passes, saying the withdraw half
    went untested; the Counter stays open."""
    from a2a_coop.a2a import serve_a2a
    from a2a_coop.protocol.negotiation import State
    from a2a_coop.runtime.node import PeerNode

    who = provision(tmp_path, "haggler")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "haggler.db", strategy=_CountersFirst())
    server = serve_a2a(node, operator=lambda context: False)
    try:
        argv = ["conformance", "--target", server.target, "--a2a-url", server.card_url]
        code = main([*argv, "--case", "a2a.cancel", "--report-dir", str(tmp_path / "r")])
        countered = [n for n in node.peer.verifier.negotiations.by_id.values() if n.state is State.COUNTERED]
    finally:
        server.stop()
        node.close()
    level, reason = _levels(tmp_path / "r")["a2a.cancel"]
    assert (code, level) == (0, "PASS"), reason
    assert "not withdrawn" in reason and countered
