"""An answer larger than an A2A client's message limit goes in parts on every A2A binding (A2A-028),
as a cooperation answer does (RPC-021): each response's Message holds at most MAX_A2A_PART_BYTES of
envelopes and says in ``metadata.a2aCoop.nextAnswer`` where the rest starts, read by the same message
again with ``metadata.a2aCoop.answerFrom``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import a2a_pb2

from a2a_coop import a2a
from a2a_coop.a2a.parts import MAX_A2A_PART_BYTES, set_coop_number
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import TransportError

# The answer's own envelopes are followed by 80 of 60,000 bytes (4.8 MB: past gRPC's 4 MiB default
# receive limit and past the A2A gRPC server's send limit, 4 MiB + 64 KiB).
BULK = [bytes([i]) * 60_000 for i in range(80)]


class _Bulky:
    """Bob's node, each answer followed by BULK (as a context moving many negotiations makes one large,
    RPC-002); counts the exchanges, each part being one (a repeat, answered from the record)."""

    def __init__(self, node: PeerNode) -> None:
        self.node = node
        self.calls = 0

    def __call__(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        self.calls += 1
        return [*self.node.exchange(envelope, context), *BULK]


@pytest.fixture
def served(bob: Party, clock: FixedClock, tmp_path: Path) -> Iterator[tuple[a2a.A2AServer, _Bulky]]:
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    bulky = _Bulky(node)
    try:
        with a2a.serve_a2a(node, name="bob", exchange=bulky) as server:
            yield server, bulky
    finally:
        node.close()


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize(
    ("binding", "streaming"),
    [("GRPC", False), ("JSONRPC", False), ("JSONRPC", True), ("HTTP+JSON", False)],
    ids=["grpc", "jsonrpc", "jsonrpc-stream", "rest"],
)
def test_an_answer_past_a_clients_limit_arrives_whole_on_every_binding(
    served: tuple[a2a.A2AServer, _Bulky], alice: Party, bob: Party, binding: str, streaming: bool
) -> None:
    """Before, the whole 4.8 MB answer went in one response: on A2A's gRPC binding past the server's send
    limit (RESOURCE_EXHAUSTED, after the peer had recorded and answered the Offer, and every repeat
    the same), on the HTTP bindings past what a client at gRPC's default would take. Expect the answer
    whole, in order, in three parts, a stock a2a-sdk client joining them (``send_whole``)."""
    server, bulky = served
    offer = alice.offer(bob, alice.proposal())
    config = ClientConfig(
        supported_protocol_bindings=[binding],
        grpc_channel_factory=grpc.aio.insecure_channel,
        streaming=streaming,
    )

    async def go() -> tuple[list[bytes], a2a_pb2.Task | None]:
        async with await ClientFactory(config).create_from_url(server.card_url) as client:
            return await a2a.send_whole(client, a2a.statement_message(offer.envelope, alice.setup))

    answer, task = asyncio.run(go())
    assert [verify_statement(e).body for e in answer[:-80]][:2] == ["mandate", "accept"]
    assert answer[-80:] == BULK
    assert task is not None and task.id == offer.negotiation_id.hex()
    per_part = MAX_A2A_PART_BYTES // 60_000  # the first part holds the Mandate and the Accept too
    assert bulky.calls == 3 and per_part * 2 < len(answer) <= per_part * 3


@pytest.mark.req("A2A-028")
def test_a_part_asked_past_the_answer_or_not_by_a_number_is_refused_or_empty(
    served: tuple[a2a.A2AServer, _Bulky], alice: Party, bob: Party
) -> None:
    """``answerFrom`` past the answer gets no envelope and no nextAnswer (as RPC-021's); one that is no
    whole number is INVALID_PARAMS, never read as 0."""
    server, _ = served
    offer = alice.offer(bob, alice.proposal())
    config = ClientConfig(supported_protocol_bindings=["JSONRPC"], streaming=False)

    async def go(start: float) -> a2a_pb2.StreamResponse:
        msg = a2a.statement_message(offer.envelope, alice.setup)
        if start:
            set_coop_number(msg, "answerFrom", start)
        async with await ClientFactory(config).create_from_url(server.card_url) as client:
            (response,) = [
                r
                async for r in client.send_message(
                    a2a_pb2.SendMessageRequest(message=msg), context=a2a.activation()
                )
            ]
            return response

    first = asyncio.run(go(0))
    assert a2a.next_answer_of(first) > 0
    past = asyncio.run(go(10_000))
    assert a2a.answers_of(past) == [] and a2a.next_answer_of(past) == 0
    with pytest.raises(Exception, match="answerFrom"):
        asyncio.run(go(1.5))


def test_a_server_saying_more_without_sending_any_fails_the_read() -> None:
    """A part that says there is more but holds no envelope would hold the client for ever."""

    class _Empty:
        def send_message(self, request: a2a_pb2.SendMessageRequest, context: object = None):  # type: ignore[no-untyped-def]
            async def responses():  # type: ignore[no-untyped-def]
                message = a2a_pb2.Message(message_id="m", role=a2a_pb2.ROLE_AGENT)
                set_coop_number(message, "nextAnswer", 1)
                yield a2a_pb2.StreamResponse(message=message)

            return responses()

    with pytest.raises(TransportError):
        asyncio.run(a2a.send_whole(_Empty(), a2a_pb2.Message(message_id="q")))


def _one_envelope_a_part(answer: Sequence[bytes], start: int, max_bytes: int = 0) -> tuple[list[bytes], int]:
    """An agent that cuts every answer after each envelope (as one past 2 MiB is cut, A2A-028)."""
    return list(answer[start : start + 1]), start + 1 if start + 1 < len(answer) else 0


@pytest.mark.req("A2A-028")
def test_the_conformance_suites_a2a_cases_read_a_cut_answer_whole(
    bob: Party, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against an agent whose every A2A answer comes one envelope a part, the suite's A2A cases read
    the first part alone (the Mandate) and failed where an Accept was due. Expect them all to pass."""
    from a2a_coop.a2a import handler
    from a2a_coop.cli import main
    from conformance.suite.model import Role
    from conformance.suite.runner import load_cases

    monkeypatch.setattr(handler, "answer_part", _one_envelope_a_part)
    node = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db")
    cases = sorted(c.id for c in load_cases().values() if c.role is Role.A2A)
    try:
        with a2a.serve_a2a(node, name="bob") as server:
            argv = ["conformance", "--target", server.target, "--a2a-url", server.card_url]
            code = main([*argv, "--report-dir", str(tmp_path / "r"), *(f"--case={c}" for c in cases)])
    finally:
        node.close()
    import json

    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    failed = {c["id"]: c["reason"] for c in doc["cases"] if c["level"] == "FAIL"}
    assert code == 0 and not failed, failed
    assert "the rest of a cut answer, from 1" in json.dumps(doc)
