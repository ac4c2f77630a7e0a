"""All three A2A bindings of a real ``a2a-coop serve --a2a`` process, through a stock a2a-sdk client.

Bob is a subprocess (real servers: grpcio and uvicorn on 127.0.0.1); Alice is a Peer in this
process, on the wall clock, signing her side. For each binding (JSON-RPC 2.0, HTTP+JSON, gRPC), and
for a2a-sdk's client with its default settings (which picks JSON-RPC and streams), she discovers Bob
from his card and drives a whole trade; expect the negotiation FULFILLED on both sides and the
Task COMPLETED, with the same negotiations visible through every binding (transport equivalence).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("a2a")
pytest.importorskip("uvicorn")

import grpc
from a2a.client import ClientConfig, ClientFactory
from a2a.types import a2a_pb2

from a2a_coop import a2a
from a2a_coop.cli.demo import (
    Identity,
    ServerProcess,
    _read_line,
    provision,
    start_server,
    stop_process,
    wait_listening,
)
from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.trade import proposal

START_TIMEOUT_S = 30.0
HOUR_MS = 3_600_000


@dataclass
class Bob:
    server: ServerProcess
    identity: Identity
    card_url: str


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bob]:
    directory = tmp_path_factory.mktemp("a2a-bindings")
    identity = provision(directory, "bob")
    server = start_server("bob", ["serve", *identity.files(), "--a2a"], directory / "bob.log")
    try:
        wait_listening(server, START_TIMEOUT_S)
        line = _read_line(server.popen.stdout, START_TIMEOUT_S) or ""
        assert line.startswith("agent card at "), line
        card_url = line.removeprefix("agent card at ").strip().removesuffix(a2a.AGENT_CARD_PATH)
        yield Bob(server, identity, card_url)
    finally:
        stop_process(server.popen)
        print(f"--- bob {server.log_path}\n{server.log_tail(40)}")


def config_for(binding: str | None) -> ClientConfig:
    if binding is None:
        return ClientConfig()  # a2a-sdk's defaults: JSON-RPC, streaming
    return ClientConfig(supported_protocol_bindings=[binding], grpc_channel_factory=grpc.aio.insecure_channel)


@pytest.mark.req("A2A-001", "A2A-005", "A2A-011", "A2A-015", "A2A-016", "A2A-017")
@pytest.mark.parametrize("binding", [None, "JSONRPC", "HTTP+JSON", "GRPC"], ids=["default", "jsonrpc", "rest", "grpc"])
def test_stock_client_trades_over_each_binding(bob: Bob, binding: str | None, tmp_path: Path) -> None:
    alice = provision(tmp_path, "alice")
    peer = Peer(alice.key, alice.mandate)
    offer = proposal(
        peer, [("code-review", 500)], [("copy-editing", 450)], deadline_ms=wall_clock_ms() + HOUR_MS
    )
    first = peer.propose(bob.identity.did, offer)

    async def go() -> tuple[a2a_pb2.Task | None, a2a_pb2.Task, a2a_pb2.ListTasksResponse]:
        client = await ClientFactory(config_for(binding)).create_from_url(bob.card_url)
        async with client:
            task = await a2a.drive_a2a(peer, client, first)
            again = await client.get_task(a2a_pb2.GetTaskRequest(id=first.header.negotiation_id.hex()))
            listed = await client.list_tasks(
                a2a_pb2.ListTasksRequest(context_id=first.header.negotiation_id.hex())
            )
            return task, again, listed

    task, again, listed = asyncio.run(go())
    assert peer.negotiation(first.header.negotiation_id).state is State.FULFILLED
    assert task is not None and task.id == first.header.negotiation_id.hex()
    assert again.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert again.metadata["a2aCoop"]["state"] == "FULFILLED"
    assert [t.id for t in listed.tasks] == [again.id] and listed.next_page_token == ""
    assert {a.name for a in again.artifacts} == {"contract", "receipt"}


@pytest.mark.req("A2A-015", "A2A-021")
def test_card_lists_three_bindings_and_serves_caching_headers(bob: Bob) -> None:
    """The card (GET, HEAD, conditional GET, CORS preflight) lists JSON-RPC, HTTP+JSON and gRPC."""
    url = bob.card_url + a2a.AGENT_CARD_PATH
    with urllib.request.urlopen(url, timeout=5) as resp:
        card = json.loads(resp.read())
        etag, cache = resp.headers["ETag"], resp.headers["Cache-Control"]
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["JSONRPC", "HTTP+JSON", "GRPC"]
    assert "max-age=" in cache and etag
    head = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as resp:
        assert resp.status == 200 and resp.read() == b"" and resp.headers["ETag"] == etag
    conditional = urllib.request.Request(url, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(conditional, timeout=5)
    assert info.value.code == 304
    preflight = urllib.request.Request(url, method="OPTIONS", headers={"Origin": "https://example.com"})
    with urllib.request.urlopen(preflight, timeout=5) as resp:
        assert resp.status == 204 and "GET" in resp.headers["Access-Control-Allow-Methods"]
