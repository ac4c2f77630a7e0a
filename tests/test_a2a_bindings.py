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
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pki import Pki

pytest.importorskip("a2a")
pytest.importorskip("uvicorn")

import grpc
import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.types import a2a_pb2

from a2a_coop import a2a
from a2a_coop.cli import main
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
@pytest.mark.parametrize(
    "binding", [None, "JSONRPC", "HTTP+JSON", "GRPC"], ids=["default", "jsonrpc", "rest", "grpc"]
)
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
    info.value.close()
    preflight = urllib.request.Request(url, method="OPTIONS", headers={"Origin": "https://example.com"})
    with urllib.request.urlopen(preflight, timeout=5) as resp:
        assert resp.status == 204 and "GET" in resp.headers["Access-Control-Allow-Methods"]


def test_serve_logs_every_exchange_whichever_binding_it_came_through(bob: Bob) -> None:
    """serve --a2a logs one line per exchange (the trades above came through A2A's bindings)."""
    log = bob.server.log_path.read_text()
    assert "offer" in log and "-> mandate, accept, delivery" in log, log[-2000:]


def start_bob(directory: Path, *argv: str) -> tuple[ServerProcess, str]:
    identity = provision(directory, "bob")
    server = start_server("bob", ["serve", *identity.files(), "--a2a", *argv], directory / "bob.log")
    wait_listening(server, START_TIMEOUT_S)
    line = _read_line(server.popen.stdout, START_TIMEOUT_S) or ""
    return server, line.removeprefix("agent card at ").strip().removesuffix(a2a.AGENT_CARD_PATH)


def card_via_default_client(card_url: str, **kw: object) -> a2a_pb2.AgentCard:
    async def go() -> a2a_pb2.AgentCard:
        config = ClientConfig(**kw)  # type: ignore[arg-type]
        async with await ClientFactory(config).create_from_url(card_url) as client:
            return await client.get_extended_agent_card(a2a_pb2.GetExtendedAgentCardRequest())

    return asyncio.run(go())


@pytest.mark.req("A2A-015")
def test_ipv6_listeners_and_a_public_url(tmp_path: Path) -> None:
    """--host ::1 serves every listener on IPv6 (the card at http://[::1]:PORT, JSON-RPC answering
    there); --public-url and --public-grpc set what the card advertises."""
    server, card_url = start_bob(tmp_path, "--host", "::1")
    try:
        assert card_url.startswith("http://[::1]:")
        card = card_via_default_client(card_url)
        urls = [i.url for i in card.supported_interfaces]
        assert urls[0] == card_url + "/" and urls[2].startswith("[::1]:")
    finally:
        stop_process(server.popen)
    (tmp_path / "public").mkdir()
    public, bound_url = start_bob(
        tmp_path / "public",
        "--public-url",
        "http://agent.example.com:8080/",
        "--public-grpc",
        "grpc.example.com:443",
    )
    try:
        with urllib.request.urlopen(bound_url + a2a.AGENT_CARD_PATH, timeout=5) as resp:
            card_json = json.loads(resp.read())
    finally:
        stop_process(public.popen)
    assert [i["url"] for i in card_json["supportedInterfaces"]] == [
        "http://agent.example.com:8080/",
        "http://agent.example.com:8080/a2a/rest",
        "grpc.example.com:443",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "needs --public-url"),
        (["--public-url", "ftp://x"], "must be an http:// or https:// URL"),
        (["--public-grpc", "nohost"], "must be HOST:PORT"),
        (["--public-grpc", "h:7\u00b3"], "must be HOST:PORT"),  # isdigit() but not int(): a traceback before
        (["--card-port", "99999"], "is not a port number"),
        (["--port", "70000"], "is not a port number"),
    ],
)
def test_serve_a2a_refuses_what_the_card_could_not_advertise(
    tmp_path: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each refused before anything listens: exit 2, the last line of stderr says why (after argparse's
    usage), no traceback. Run in this process (``serve --a2a`` runs as a process in the tests above);
    a refusal that came too late would reach serve_a2a, which fails the test instead of serving."""

    def reached(*args: object, **kwargs: object) -> object:
        raise AssertionError("serve_a2a reached: the refusal came too late")

    monkeypatch.setattr(a2a, "serve_a2a", reached)
    identity = provision(tmp_path, "bob")
    assert main(["serve", *map(str, identity.files()), "--a2a", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert message in err.strip().splitlines()[-1]  # one line says why (after argparse's usage)


@pytest.mark.req("A2A-015")
def test_tls_covers_every_listener_and_the_card_says_so(tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the HTTP listener speaks TLS too: the card is at https://, lists
    https:// interfaces, says the gRPC endpoint needs TLS, and JSON-RPC answers over TLS; plain HTTP
    gets no card."""
    pki = Pki(tmp_path)
    server, card_url = start_bob(
        tmp_path, "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key")
    )
    try:
        assert card_url.startswith("https://127.0.0.1:")
        ca = ssl.create_default_context(cafile=str(pki.dir / "ca.pem"))
        card = httpx.get(card_url + a2a.AGENT_CARD_PATH, verify=ca, timeout=10).json()
        urls = [i["url"] for i in card["supportedInterfaces"]]
        assert urls[0].startswith("https://") and urls[1].startswith("https://")
        assert card["capabilities"]["extensions"][0]["params"]["cooperationService"]["tls"] is True
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetExtendedAgentCard", "params": {}}
        resp = httpx.post(urls[0], json=body, headers={"A2A-Version": "1.0"}, verify=ca, timeout=10)
        assert resp.json()["result"]["name"]
        with pytest.raises(httpx.HTTPError):
            httpx.get(card_url.replace("https://", "http://") + a2a.AGENT_CARD_PATH, timeout=5)
    finally:
        stop_process(server.popen)


def test_mutual_tls_on_the_http_listener(tmp_path: Path) -> None:
    """With --tls-client-ca the HTTP listener, like gRPC, refuses a client without a certificate
    signed by that CA and serves one with it."""
    pki = Pki(tmp_path)
    server, card_url = start_bob(
        tmp_path,
        *("--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key")),
        *("--tls-client-ca", str(tmp_path / "ca.pem")),
    )
    try:
        anonymous = ssl.create_default_context(cafile=str(pki.dir / "ca.pem"))
        with pytest.raises(httpx.HTTPError):
            httpx.get(card_url + a2a.AGENT_CARD_PATH, verify=anonymous, timeout=10)
        known = ssl.create_default_context(cafile=str(pki.dir / "ca.pem"))
        known.load_cert_chain(str(pki.dir / "client.pem"), str(pki.dir / "client.key"))
        resp = httpx.get(card_url + a2a.AGENT_CARD_PATH, verify=known, timeout=10)
        assert resp.status_code == 200 and resp.json()["capabilities"]["streaming"] is True
    finally:
        stop_process(server.popen)
