"""An Exchange or Submit answer larger than a response goes a page a response, the rest read by
repeats of the request (RPC-021), against a real server in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.cli import main
from a2a_coop.cli.demo import provision
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.transport import CooperationClient, EscrowClient, TransportError, serve, server
from a2a_coop.transport.limits import MAX_ANSWER_PARTS
from a2a_coop.transport.paging import CutAnswer
from a2a_coop.transport.trio_bridge import TrioCooperationClient, TrioEscrowClient

# A server whose every answer is 80 envelopes of 60,000 bytes (4.8 MB: past the 4 MiB + 64 KiB a
# response may hold, RPC-008 (a)), recorded at the first request and repeated from the record after
# (RPC-003, ESC-007), as a peer's and an escrow's are; GetLog's head_seq says how many it recorded.
SERVER = """
import sys, threading
from a2a_coop.transport import serve

class Records:
    def __init__(self):
        self.answers, self.lock = {}, threading.Lock()
    def answer(self, key):
        with self.lock:
            if key not in self.answers:
                self.answers[key] = [bytes([i]) * 60_000 for i in range(80)]
            return self.answers[key]
    def exchange(self, envelope, context):
        return self.answer(envelope)
    def submit(self, envelopes):
        return self.answer(b"submit:" + b"".join(envelopes))
    def get_log(self, from_seq, limit):
        return [], len(self.answers)

records = Records()
with serve(records, records) as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""

WHOLE = [bytes([i]) * 60_000 for i in range(80)]


@pytest.fixture
def target() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield f"127.0.0.1:{proc.stdout.readline().strip()}"
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.mark.req("RPC-021")
def test_an_answer_past_a_response_arrives_whole_and_is_recorded_once(target: str) -> None:
    """An Exchange, a Negotiate and a Submit each answered with 4.8 MB: before, the server recorded the
    request and then failed to send its answer (RESOURCE_EXHAUSTED, past its send limit), and every
    repeat, answered from the record, failed the same for good. Expect each answer whole, in order, by
    the blocking clients and the trio ones, and each request recorded once however many parts it took."""
    with CooperationClient(target, timeout_s=60) as peer, EscrowClient(target, timeout_s=60) as escrow:
        assert peer.exchange(b"request", [b"context"]) == WHOLE
        assert peer.exchange(b"request", [b"context"]) == WHOLE  # a repeat, whole too
        assert list(peer.negotiate([(b"streamed", [])])) == [WHOLE]
        assert escrow.submit([b"evidence"]) == WHOLE

        async def from_trio() -> tuple[list[bytes], list[bytes]]:
            exchanged = await TrioCooperationClient(peer).exchange(b"from trio", [])
            return exchanged, await TrioEscrowClient(escrow).submit([b"from trio"])

        assert trio.run(from_trio) == (WHOLE, WHOLE)
        assert peer.get_log(0, 1)[1] == 5  # five requests recorded, none twice


def test_a_server_saying_more_for_ever_fails_the_call() -> None:
    """A server that says "more" without sending any, resumes elsewhere than where its part ended, or
    goes past MAX_ANSWER_PARTS parts would hold its client for ever: a TransportError, no loop."""
    part = service_pb2.ExchangeResponse(envelopes=[b"a", b"b"], next_answer=2)
    assert CutAnswer().take(part) == 2
    assert CutAnswer().take(service_pb2.ExchangeResponse(envelopes=[b"a", b"b"])) == 0
    with pytest.raises(TransportError):
        CutAnswer([b"a", b"b"], 1).take(service_pb2.ExchangeResponse(next_answer=2))
    with pytest.raises(TransportError):
        CutAnswer([b"a"], 1).take(part)
    with pytest.raises(TransportError):
        CutAnswer([], MAX_ANSWER_PARTS - 1).take(part)


def _one_envelope_a_part(answer: Sequence[bytes], start: int) -> tuple[list[bytes], int]:
    """A server that cuts every answer after each envelope (as one past 4 MiB is cut, RPC-021)."""
    part = list(answer[start : start + 1])
    return part, start + 1 if start + 1 < len(answer) else 0


@pytest.mark.req("RPC-021")
def test_the_conformance_suite_reads_a_cut_answer_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer and an escrow whose every Exchange and Submit answer comes in parts of one envelope: the
    suite read the first part alone (the target's Mandate, an answer's first statement), and cases that
    pass against it whole failed -- a trade's Accept, an escrow's Stamp and locks missing. Expect every
    case to pass, each part a call of its transcript."""
    monkeypatch.setattr(server, "answer_part", _one_envelope_a_part)
    who = provision(tmp_path, "bob")
    node = PeerNode.open(who.key, who.mandate, tmp_path / "bob.db")
    peer_cases = ("neg.trade-to-fulfilment", "rpl.retry-same-answer", "neg.reject")
    try:
        with serve(node, None) as served:
            code = main(
                [
                    "conformance",
                    "--target",
                    served.target,
                    *_cases(peer_cases),
                    "--report-dir",
                    str(tmp_path / "p"),
                ]
            )
    finally:
        node.close()
    assert (code, _levels(tmp_path / "p")) == (0, dict.fromkeys(peer_cases, "PASS"))
    parts = json.loads((tmp_path / "p" / "report.json").read_text())
    assert "the rest of a cut answer, from 1" in json.dumps(parts)

    escrow = provision(tmp_path, "escrow")
    escrow_node = EscrowNode(escrow.key, escrow.mandate, tmp_path / "escrow.db", faucet=1_000)
    escrow_cases = (
        "esc.bonds-lock-and-release",
        "esc.idempotent-submit",
        "esc.resubmitted-contract-brings-locks",
    )
    try:
        with serve(None, escrow_node) as served:
            code = main(
                [
                    "conformance",
                    "--target",
                    served.target,
                    *_cases(escrow_cases),
                    "--report-dir",
                    str(tmp_path / "e"),
                ]
            )
    finally:
        escrow_node.close()
    assert (code, _levels(tmp_path / "e")) == (0, dict.fromkeys(escrow_cases, "PASS"))


def _cases(ids: Sequence[str]) -> list[str]:
    return [arg for case in ids for arg in ("--case", case)]


def _levels(report_dir: Path) -> dict[str, str]:
    return {c["id"]: c["level"] for c in json.loads((report_dir / "report.json").read_text())["cases"]}
