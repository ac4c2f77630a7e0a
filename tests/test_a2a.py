"""The A2A binding (SPEC.md section 14), against the real a2a-sdk client.

A stock a2a-sdk client (its ClientFactory, card resolver and gRPC transport; no
mocks) discovers Bob's peer from its AgentCard over HTTP and over gRPC,
activates the a2a-coop extension, and drives a whole trade for Alice, whose
Peer signs her side. The servers are real: grpcio on 127.0.0.1 serving
CooperationService and A2AService on one port, and the card over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")

import grpc
import httpx
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.client_factory import minimal_agent_card
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2, a2a_pb2_grpc
from a2a.utils import errors as a2a_errors
from google.protobuf import json_format
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from peers import make_peer
from starlette.applications import Starlette
from test_hidden_accept import FUNDS, _countered_and_hidden, _served_bob_who_counters
from test_mandate_renewal import _renew

from a2a_coop import a2a
from a2a_coop._proto.a2acoop.v1 import reputation_pb2, trade_pb2
from a2a_coop.a2a import http as a2a_http
from a2a_coop.a2a.handler import CoopRequestHandler
from a2a_coop.protocol.errors import CoopError, Equivocation, RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView, Reply
from a2a_coop.testing import DAY_MS, FixedClock, Party
from a2a_coop.transport import CooperationClient

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(make())  # type: ignore[arg-type]


@pytest.fixture
def node(bob: Party, clock: FixedClock, tmp_path: Path) -> Iterator[PeerNode]:
    n = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms)
    yield n
    n.close()


@pytest.fixture
def server(node: PeerNode) -> Iterator[a2a.A2AServer]:
    with a2a.serve_a2a(node, name="bob") as srv:
        yield srv


def factory() -> ClientFactory:
    """A stock a2a-sdk client factory that speaks the gRPC binding, no streaming."""
    return ClientFactory(
        ClientConfig(
            grpc_channel_factory=grpc.aio.insecure_channel,
            supported_protocol_bindings=["GRPC"],
            streaming=False,
        )
    )


async def send(client: Any, msg: a2a_pb2.Message, context: ClientCallContext | None = None) -> list[Any]:
    return [r async for r in client.send_message(a2a_pb2.SendMessageRequest(message=msg), context=context)]


def _a2a_reason(err: grpc.RpcError) -> str:
    """The reason of the a2a-protocol.org ErrorInfo in a gRPC error."""
    status = rpc_status.from_call(cast(grpc.Call, err))
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == "a2a-protocol.org":
            return str(info.reason)
    raise AssertionError("no a2a-protocol.org ErrorInfo")


def plain_message(text: str, **kw: Any) -> a2a_pb2.Message:
    return a2a_pb2.Message(message_id="m-1", role=a2a_pb2.ROLE_USER, parts=[a2a_pb2.Part(text=text)], **kw)


# --- discovery -------------------------------------------------------------------------------


@pytest.mark.req("A2A-001", "A2A-002", "A2A-015", "A2A-021")
def test_card_over_http_declares_the_extension(server: a2a.A2AServer, node: PeerNode) -> None:
    """The stock resolver fetches /.well-known/agent-card.json; expect three interfaces (JSON-RPC,
    HTTP+JSON, gRPC at the server's port) and the a2a-coop extension, with ``"required": false``
    written out, with the peer's did, key and mandate."""

    async def go() -> a2a_pb2.AgentCard:
        async with await factory().create_from_url(server.card_url) as client:
            return await client.get_extended_agent_card(a2a_pb2.GetExtendedAgentCardRequest())

    with urllib.request.urlopen(server.card_url + a2a.AGENT_CARD_PATH, timeout=5) as resp:
        raw = json.loads(resp.read())
    ext = raw["capabilities"]["extensions"][0]
    assert ext["uri"] == a2a.EXTENSION_URI
    assert ext["required"] is False  # present, not dropped by protobuf JSON
    assert raw["capabilities"]["streaming"] is True
    card = run(go)
    assert [(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces] == [
        (server.card_url + "/", "JSONRPC", "1.0"),
        (server.card_url + "/a2a/rest", "HTTP+JSON", "1.0"),
        (server.target, "GRPC", "1.0"),
    ]
    params = a2a.coop_params(card)
    assert params is not None
    peer = node.peer
    assert params["did"] == peer.did
    assert params["principal"] == peer.mandate_vs.issuer
    assert params["mandate"] == peer.mandate_vs.digest.hex()
    assert base64.b64decode(params["mandateEnvelope"]) == peer.mandate_vs.envelope
    assert params["publicKeys"][0]["id"] == peer.did
    assert params["protocolVersions"] == ["1"]
    assert raw["capabilities"]["extensions"][0]["params"]["protocolVersions"] == ["1"]
    assert {"offer", "accept", "delivery", "receipt", "attestation"} <= set(params["commitmentKinds"])
    assert set(params["mediaTypes"]) == set(a2a.MEDIA_TYPES)
    assert params["cooperationService"]["url"] == server.target
    assert params["cooperationService"]["service"] == "a2acoop.v1.CooperationService"


def at(ms: int) -> str:
    """``ms`` as an HTTP date (Last-Modified's form)."""
    return formatdate(ms / 1000, usegmt=True)


def _card_dates(server: a2a.A2AServer) -> tuple[dict[str, Any], str, str]:
    with urllib.request.urlopen(server.card_url + a2a.AGENT_CARD_PATH, timeout=5) as resp:
        return json.loads(resp.read()), resp.headers["ETag"], resp.headers["Last-Modified"]


@pytest.mark.req("A2A-021")
def test_the_cards_last_modified_moves_with_the_card_by_the_agents_clock(
    bob: Party, clock: FixedClock, tmp_path: Path
) -> None:
    """Bob's principal renews his Mandate a day on (SPEC 4.7) and Bob serves again: the card names the
    new Mandate. Last-Modified was the machine's time at start, whatever the agent's clock (a test clock,
    CTL-003) said -- a card naming a Mandate issued after the date it claimed. Expect it, by Bob's clock,
    at each start, moved with the card, and kept while the card is the same however the clock moves."""
    db = tmp_path / "bob.db"
    first = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, db, clock=lambda: clock.now_ms)
    try:
        with a2a.serve_a2a(first, name="bob") as server:
            _, etag, modified = _card_dates(server)
            assert modified == at(clock.now_ms)
    finally:
        first.close()
    clock.advance(DAY_MS)
    renewed = _renew(bob, clock)
    second = PeerNode.open(bob.agent.key, renewed.envelope, db, clock=lambda: clock.now_ms)
    try:
        with a2a.serve_a2a(second, name="bob") as server:
            raw, renewed_etag, renewed_modified = _card_dates(server)
            assert raw["capabilities"]["extensions"][0]["params"]["mandate"] == renewed.digest.hex()
            assert renewed_etag != etag and renewed_modified == at(clock.now_ms)
            clock.advance(60_000)
            assert _card_dates(server)[1:] == (renewed_etag, renewed_modified)
    finally:
        second.close()


def test_a_card_changed_while_served_is_dated_when_first_served_changed(clock: FixedClock) -> None:
    """A card that changes while served (its name here) gets a new ETag and, from then, a Last-Modified
    by the agent's clock of the first time it was served changed."""
    name = ["bob"]
    app = Starlette(
        routes=a2a_http.card_routes(lambda: a2a_pb2.AgentCard(name=name[0]), clock=lambda: clock.now_ms)
    )
    started = clock.now_ms

    async def headers() -> httpx.Headers:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bob") as client:
            return (await client.get(a2a.AGENT_CARD_PATH)).headers

    clock.advance(5_000)
    first = run(headers)
    assert first["Last-Modified"] == at(started)
    name[0] = "bob, renamed"
    clock.advance(DAY_MS)
    second = run(headers)
    assert second["ETag"] != first["ETag"] and second["Last-Modified"] == at(clock.now_ms)
    clock.advance(DAY_MS)
    assert run(headers)["Last-Modified"] == second["Last-Modified"]


@pytest.mark.req("A2A-001", "A2A-013")
def test_card_over_grpc_and_both_services_on_one_port(
    server: a2a.A2AServer, alice: Party, node: PeerNode
) -> None:
    """Bootstrapping from a bare gRPC address, GetExtendedAgentCard returns the same card; the
    CooperationService named in it answers on the same port, and health reports both services."""

    async def go() -> a2a_pb2.AgentCard:
        bare = minimal_agent_card(server.target, ["GRPC"])
        async with factory().create(bare) as client:
            return await client.get_extended_agent_card(a2a_pb2.GetExtendedAgentCardRequest())

    card = run(go)
    assert card == server.card()
    params = a2a.coop_params(card)
    assert params is not None
    with CooperationClient(params["cooperationService"]["url"], timeout_s=5) as coop:
        assert coop.get_log(0, 10)[1] == 0
    with grpc.insecure_channel(server.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("a2acoop.v1.CooperationService", "lf.a2a.v1.A2AService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING


# --- a whole trade ---------------------------------------------------------------------------


@pytest.mark.req("A2A-003", "A2A-005", "A2A-007", "A2A-008", "A2A-011", "A2A-012")
@pytest.mark.parametrize("form", ["raw", "json"])
def test_stock_client_drives_a_trade_and_verifies_the_receipt_offline(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode, form: str
) -> None:
    """Alice's stock client discovers Bob, activates the extension and sends her Offer; expect Bob's
    signed Accept (and his Delivery) in the Task, state WORKING; after Alice delivers and receipts,
    the Task is COMPLETED, and GetTask returns contract and receipt Artifacts that verify offline."""
    pa = make_peer(alice, clock)

    async def go() -> tuple[a2a_pb2.Task, a2a_pb2.Task, a2a_pb2.Task | None]:
        async with await factory().create_from_url(server.card_url) as client:
            card = await client.get_extended_agent_card(a2a_pb2.GetExtendedAgentCardRequest())
            params = a2a.coop_params(card)
            assert params is not None
            offer = pa.propose(params["did"], alice.proposal())
            first = await send(
                client, a2a.statement_message(offer.envelope, pa.send_context(), form=form), a2a.activation()
            )
            task = first[0].task
            bodies = [verify_statement(e).body for e in a2a.answers_of(first[0])]
            assert bodies == ["mandate", "accept", "delivery"]
            assert task.id == offer.header.negotiation_id.hex()
            assert task.status.state == a2a_pb2.TASK_STATE_WORKING
            assert list(task.status.message.extensions) == [a2a.EXTENSION_URI]
            # Alice performs: her delivery and her receipt of Bob's delivery, then whatever follows.
            nxt = pa.on_replies(a2a.answers_of(first[0]))
            last = None
            for vs in nxt:
                msg = a2a.statement_message(vs.envelope, pa.send_context(), task_id=task.id, form=form)
                resp = await send(client, msg, a2a.activation())
                last = resp[0].task
                assert pa.on_replies(a2a.answers_of(resp[0])) == []
            fetched = await client.get_task(a2a_pb2.GetTaskRequest(id=task.id), context=a2a.activation())
            return task, fetched, last

    first, fetched, last = run(go)
    nid = bytes.fromhex(first.id)
    assert pa.negotiation(nid).state is State.FULFILLED
    assert node.peer.negotiation(nid).state is State.FULFILLED
    assert last is not None and last.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert fetched.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert fetched.metadata["a2aCoop"]["state"] == "FULFILLED"
    kinds = [a.name for a in fetched.artifacts]
    assert kinds.count("contract") == 1 and kinds.count("receipt") == 2
    for artifact in fetched.artifacts:
        bundle = a2a.envelopes_in(artifact.parts)
        report = verify_transcript(bundle)  # offline: no audience, no clock (TIM-005)
        assert report.valid, (artifact.name, report.error)
    receipts = [a for a in fetched.artifacts if a.name == "receipt"]
    signed_by_bob = [verify_statement(a2a.envelopes_in(a.parts)[-1]) for a in receipts]
    assert {r.issuer for r in signed_by_bob} == {node.peer.did, pa.did}


@pytest.mark.req("A2A-003", "A2A-008")
def test_drive_a2a_completes_a_trade_over_the_stock_client(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """The calling-side helper drives the same trade with drive()'s loop; expect FULFILLED."""
    pa = make_peer(alice, clock)

    async def go() -> a2a_pb2.Task | None:
        async with await factory().create_from_url(server.card_url) as client:
            offer = pa.propose(node.peer.did, alice.proposal())
            return await a2a.drive_a2a(pa, client, offer)

    task = run(go)
    assert task is not None and task.status.state == a2a_pb2.TASK_STATE_COMPLETED


def attestation_about(subject: str, offer: bytes, accept: bytes) -> reputation_pb2.Attestation:
    return reputation_pb2.Attestation(
        subject=subject, offer=offer, accept=accept, outcome=reputation_pb2.OUTCOME_FULFILLED
    )


@pytest.mark.req("A2A-012", "ATT-001")
def test_attestation_comes_back_as_an_artifact_that_verifies_offline(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """After a completed trade, Alice's Peer signs an Attestation about Bob and sends it as a statement
    Part; expect GetTask to return one attestation Artifact whose bundle verifies offline (admissibility
    included: without the Accept, the same bundle is ATTESTATION_INADMISSIBLE) and ends with it."""
    pa = make_peer(alice, clock)

    async def go() -> tuple[a2a_pb2.Task, bytes, a2a_pb2.Task]:
        async with await factory().create_from_url(server.card_url) as client:
            done = await a2a.drive_a2a(pa, client, pa.propose(node.peer.did, alice.proposal()))
            assert done is not None and done.status.state == a2a_pb2.TASK_STATE_COMPLETED
            contract = pa.negotiation(bytes.fromhex(done.id)).contract
            assert contract is not None
            att = pa.sign("attestation", attestation_about(node.peer.did, contract.offer.digest, contract.id))
            await send(client, a2a.statement_message(att.envelope, pa.send_context()), a2a.activation())
            fetched = await client.get_task(a2a_pb2.GetTaskRequest(id=done.id), context=a2a.activation())
            return done, att.digest, fetched

    done, digest, fetched = run(go)
    assert [a.name for a in done.artifacts].count("attestation") == 0
    (artifact,) = [a for a in fetched.artifacts if a.name == "attestation"]
    assert artifact.artifact_id == f"attestation-{digest.hex()}"
    assert list(artifact.extensions) == [a2a.EXTENSION_URI]
    bundle = a2a.envelopes_in(artifact.parts)
    report = verify_transcript(bundle)  # offline: no audience, no clock (TIM-005)
    assert report.valid, report.error
    last = report.statements[-1]
    assert (last.digest, last.body, last.issuer) == (digest, "attestation", pa.did)
    assert last.statement.attestation.subject == node.peer.did
    accept = last.statement.attestation.accept
    without_accept = [e for e in bundle if verify_statement(e).digest != accept]
    assert len(without_accept) == len(bundle) - 1
    report = verify_transcript(without_accept)
    assert report.error is not None and report.error.code == "ATTESTATION_INADMISSIBLE"


@pytest.mark.req("A2A-009", "A2A-012", "ATT-001")
def test_attestation_by_a_third_party_is_refused(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Carol, who is no party to Alice and Bob's contract, attests about Bob naming it; expect a refusal
    whose details carry ATTESTATION_INADMISSIBLE, nothing recorded, and no Artifact added to the Task."""
    pa = make_peer(alice, clock)
    carol = Party("carol", clock)

    async def go() -> tuple[a2a_pb2.Task, bytes, a2a_errors.A2AError, a2a_pb2.Task]:
        async with await factory().create_from_url(server.card_url) as client:
            done = await a2a.drive_a2a(pa, client, pa.propose(node.peer.did, alice.proposal()))
            assert done is not None and done.status.state == a2a_pb2.TASK_STATE_COMPLETED
            contract = pa.negotiation(bytes.fromhex(done.id)).contract
            assert contract is not None
            before = await client.get_task(a2a_pb2.GetTaskRequest(id=done.id), context=a2a.activation())
            att = carol.sign(
                "attestation", attestation_about(node.peer.did, contract.offer.digest, contract.id)
            )
            with pytest.raises(a2a_errors.InvalidParamsError) as info:
                await send(client, a2a.statement_message(att.envelope, carol.setup), a2a.activation())
            after = await client.get_task(a2a_pb2.GetTaskRequest(id=done.id), context=a2a.activation())
            return before, att.digest, info.value, after

    before, digest, error, after = run(go)
    cause = error.__cause__
    assert isinstance(cause, grpc.aio.AioRpcError)
    assert cause.code() == grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(cast(grpc.Call, cause))  # AioRpcError has a Call's accessors
    assert status is not None
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append((info.domain, info.reason))
    assert infos == [("a2acoop.v1", "ATTESTATION_INADMISSIBLE"), ("a2a-protocol.org", "INVALID_PARAMS")]
    assert digest not in node.peer.verifier.statements
    assert [a.name for a in before.artifacts] == ["contract", "receipt", "receipt"]
    assert list(after.artifacts) == list(before.artifacts)


@pytest.mark.req("A2A-011", "A2A-012")
def test_task_survives_a_restart(bob: Party, alice: Party, clock: FixedClock, tmp_path: Path) -> None:
    """Tasks are derived from the journaled negotiation, not kept aside: after Bob's node restarts
    on the same journal, GetTask returns the same state and Artifacts."""
    pa = make_peer(alice, clock)
    path = tmp_path / "restart.db"

    def open_node() -> PeerNode:
        return PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, path, clock=lambda: clock.now_ms)

    async def trade(srv: a2a.A2AServer) -> a2a_pb2.Task | None:
        async with await factory().create_from_url(srv.card_url) as client:
            return await a2a.drive_a2a(pa, client, pa.propose(bob.did, alice.proposal()))

    async def fetch(srv: a2a.A2AServer, tid: str) -> a2a_pb2.Task:
        async with await factory().create_from_url(srv.card_url) as client:
            return await client.get_task(a2a_pb2.GetTaskRequest(id=tid))

    first = open_node()
    with a2a.serve_a2a(first) as srv:
        done = run(lambda: trade(srv))
        assert done is not None
        before = run(lambda: fetch(srv, done.id))
    first.close()
    again = open_node()
    try:
        with a2a.serve_a2a(again) as srv:
            after = run(lambda: fetch(srv, done.id))
    finally:
        again.close()
    assert after.status.state == before.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert list(after.artifacts) == list(before.artifacts)


@pytest.mark.req("A2A-003")
def test_legacy_activation_header_is_accepted_and_echoed(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Activation by X-A2A-Extensions (raw grpc, A2A's own stub); expect the answer, and the
    activated extension echoed in the response's a2a-extensions metadata."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    msg = a2a.statement_message(offer.envelope, pa.send_context())
    msg.ClearField("extensions")  # activation only by the header
    from a2a.types import a2a_pb2_grpc

    with grpc.insecure_channel(server.target) as ch:
        stub = a2a_pb2_grpc.A2AServiceStub(ch)
        resp, call = stub.SendMessage.with_call(
            a2a_pb2.SendMessageRequest(message=msg),
            metadata=[("a2a-version", "1.0"), ("x-a2a-extensions", a2a.EXTENSION_URI)],
            timeout=5,
        )
    assert [verify_statement(e).body for e in a2a.answers_of(resp)][:2] == ["mandate", "accept"]
    assert ("a2a-extensions", a2a.EXTENSION_URI) in list(call.initial_metadata())


# --- without the extension -------------------------------------------------------------------


@pytest.mark.req("A2A-014")
def test_plain_message_gets_a_plain_a2a_reply(server: a2a.A2AServer) -> None:
    """A stock client sends text without activating anything; expect an agent Message that names
    the extension, no Task, and no statement signed."""

    async def go() -> list[Any]:
        async with await factory().create_from_url(server.card_url) as client:
            return await send(client, plain_message("hello, can you review my code?"))

    (resp,) = run(go)
    assert resp.HasField("message") and not resp.HasField("task")
    assert resp.message.role == a2a_pb2.ROLE_AGENT
    assert a2a.EXTENSION_URI in resp.message.parts[0].text
    assert server.handler.node.peer.writer.next_seq == 0


@pytest.mark.req("A2A-003")
def test_statement_without_activation_is_an_a2a_error(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Signed Parts but neither header nor Message.extensions; expect A2A's
    ExtensionSupportRequiredError at the stock client, and nothing recorded."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    msg = a2a.statement_message(offer.envelope, pa.send_context())
    msg.ClearField("extensions")

    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await send(client, msg)

    with pytest.raises(a2a_errors.ExtensionSupportRequiredError):
        run(go)
    assert node.peer.verifier.negotiations.by_id == {}


@pytest.mark.req("A2A-010")
def test_unsigned_message_cannot_change_a_negotiation(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """After Alice's Offer runs under a2a-coop, a text 'I withdraw' on its Task (with and without
    activation) is refused with an A2A error; the negotiation is unchanged."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    tid = offer.header.negotiation_id.hex()
    before: list[tuple[State, int]] = []

    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await send(client, a2a.statement_message(offer.envelope, pa.send_context()), a2a.activation())
            before.append(
                (node.peer.negotiation(offer.header.negotiation_id).state, node.peer.writer.next_seq)
            )
            with pytest.raises(a2a_errors.InvalidParamsError):
                await send(client, plain_message("I withdraw", task_id=tid), a2a.activation())
            with pytest.raises(a2a_errors.ExtensionSupportRequiredError):
                await send(client, plain_message("I withdraw", task_id=tid))

    run(go)
    after = (node.peer.negotiation(offer.header.negotiation_id).state, node.peer.writer.next_seq)
    assert before == [after] and after[0] is State.PERFORMING  # Bob accepted and delivered at once


@pytest.mark.req("A2A-004")
def test_unsupported_a2a_version_is_refused(server: a2a.A2AServer) -> None:
    """A2A-Version 2.0, 1.1 (A2A matches Major.Minor), junk, and an absent header (which A2A reads as
    0.3); expect VersionNotSupported, UNIMPLEMENTED as A2A section 5.4 maps it (not a2a-sdk 1.3's
    FAILED_PRECONDITION)."""
    from a2a.types import a2a_pb2_grpc

    with grpc.insecure_channel(server.target) as ch:
        stub = a2a_pb2_grpc.A2AServiceStub(ch)
        for metadata in ([("a2a-version", "2.0")], [("a2a-version", "1.1")], [("a2a-version", "1.x")], []):
            with pytest.raises(grpc.RpcError) as info:
                stub.SendMessage(
                    a2a_pb2.SendMessageRequest(message=plain_message("hi")), metadata=metadata, timeout=5
                )
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "not supported" in (info.value.details() or "")
            assert _a2a_reason(info.value) == "VERSION_NOT_SUPPORTED"


@pytest.mark.req("A2A-009")
def test_refused_statement_carries_the_coop_code(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """An Offer without Alice's mandate in context; expect an A2A InvalidParamsError at the stock
    client whose message names MANDATE_UNKNOWN, and the section 13 ErrorInfo on the wire."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())

    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await send(client, a2a.statement_message(offer.envelope), a2a.activation())

    with pytest.raises(a2a_errors.InvalidParamsError) as info:
        run(go)
    assert "MANDATE" in str(info.value)


@pytest.mark.req("A2A-006")
def test_part_of_our_media_type_in_the_wrong_form_is_refused(server: a2a.A2AServer) -> None:
    """A text Part labelled with the envelope media type; expect a refusal, not a guess."""
    bad = a2a_pb2.Message(
        message_id="m-2",
        role=a2a_pb2.ROLE_USER,
        parts=[a2a_pb2.Part(text="not an envelope", media_type=a2a.ENVELOPE_MEDIA_TYPE)],
        extensions=[a2a.EXTENSION_URI],
    )

    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await send(client, bad, a2a.activation())

    with pytest.raises(a2a_errors.InvalidParamsError) as info:
        run(go)
    assert "MALFORMED_ENVELOPE" in str(info.value)


def test_example_runs() -> None:
    """examples/a2a_client.py (the README's example) trades and verifies every Artifact offline."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, str(root / "examples" / "a2a_client.py")],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    ).stdout
    assert "TASK_STATE_COMPLETED" in out
    assert out.count("verifies offline: True") == 3 and "False" not in out


def test_benchmark_quick_run_reports_both_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m benchmarks a2a --quick` ends with one JSON object carrying both ratios."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks.__main__ import main

    assert main(["a2a", "--quick"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert summary["benchmark"] == "a2a"
    for key in ("coop_vs_a2a_sdk_trade", "coop_vs_a2a_sdk_jsonrpc_trade"):
        assert summary[key] > 0
    assert "coop_trade_vs_plain_sendmessage" not in summary
    assert summary["a2a_messages_per_trade"] == 3


@pytest.mark.req("A2A-019")
def test_unknown_task_is_task_not_found(server: a2a.A2AServer) -> None:
    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await client.get_task(a2a_pb2.GetTaskRequest(id="00" * 16))

    with pytest.raises(a2a_errors.TaskNotFoundError):
        run(go)


# --- A2A's core operations on every binding (issue 15) ----------------------------------------


def jsonrpc(server: a2a.A2AServer, method: str, params: dict[str, Any], version: str = "1.0") -> Any:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    resp = httpx.post(server.card_url + "/", json=body, headers={"A2A-Version": version}, timeout=10)
    assert resp.status_code == 200
    return resp.json()


def rest(
    server: a2a.A2AServer, method: str, path: str, body: Any = None, version: str = "1.0"
) -> httpx.Response:
    return httpx.request(
        method, server.card_url + "/a2a/rest" + path, json=body, headers={"A2A-Version": version}, timeout=10
    )


def grpc_call(server: a2a.A2AServer, method: str, request: bytes, version: str = "1.0") -> grpc.RpcError:
    with grpc.insecure_channel(server.target) as ch:
        call = ch.unary_unary(f"/lf.a2a.v1.A2AService/{method}")
        with pytest.raises(grpc.RpcError) as info:
            call(request, metadata=[("a2a-version", version)], timeout=10)
    return info.value


def offer_through_a2a(
    server: a2a.A2AServer, pa: Any, bob_did: str, alice: Party, *, context_id: str = "", feed: bool = True
) -> a2a_pb2.Task:
    offer = pa.propose(bob_did, alice.proposal())

    async def go() -> a2a_pb2.Task:
        async with await factory().create_from_url(server.card_url) as client:
            msg = a2a.statement_message(offer.envelope, pa.send_context(), context_id=context_id)
            (resp,) = await send(client, msg, a2a.activation())
            if feed:
                pa.on_replies(a2a.answers_of(resp))
            return cast(a2a_pb2.Task, resp.task)

    return run(go)


@pytest.mark.req("A2A-016")
def test_subscribe_streams_each_signed_statement_until_the_task_completes(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Alice's Offer is accepted and Bob delivers (WORKING); a default-settings stock client (JSON-RPC,
    streaming) subscribes to the Task, then Alice delivers and receipts through CooperationService.
    Expect the Task first, then status-updates carrying Alice's statements and Bob's answers as
    signed Parts, a receipt artifact, and a last status-update COMPLETED, after which the stream ends."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    tid = offer.header.negotiation_id.hex()
    events: list[a2a_pb2.StreamResponse] = []

    async def go() -> None:
        async with await ClientFactory(ClientConfig()).create_from_url(server.card_url) as client:
            msg = a2a.statement_message(offer.envelope, pa.send_context())
            first = [
                r
                async for r in client.send_message(
                    a2a_pb2.SendMessageRequest(message=msg), context=a2a.activation()
                )
            ]
            # SendStreamingMessage: the Task, the contract artifact, then the answers and state.
            assert [r.WhichOneof("payload") for r in first] == ["task", "artifact_update", "status_update"]
            answers = [e for r in first for e in a2a.answers_of(r)]
            nxt = pa.on_replies(answers)
            stream = client.subscribe(a2a_pb2.SubscribeToTaskRequest(id=tid))
            first_event = await anext(stream)  # subscribed: later changes are ours to see
            events.append(first_event)

            def perform() -> None:
                with CooperationClient(server.target, timeout_s=10) as coop:
                    queue = list(nxt)
                    while queue:
                        vs = queue.pop(0)
                        queue += pa.on_replies(coop.exchange(vs.envelope, pa.send_context()))

            await asyncio.to_thread(perform)
            async for event in stream:
                events.append(event)

    asyncio.run(asyncio.wait_for(go(), 60))
    assert events[0].task.id == tid and events[0].task.status.state == a2a_pb2.TASK_STATE_WORKING
    updates = [e.status_update for e in events if e.HasField("status_update")]
    assert updates[-1].status.state == a2a_pb2.TASK_STATE_COMPLETED
    streamed = [verify_statement(p.raw) for u in updates for p in u.status.message.parts]
    assert {vs.body for vs in streamed} >= {"delivery", "receipt"}
    assert {vs.issuer for vs in streamed} == {pa.did, node.peer.did}
    assert any(e.artifact_update.artifact.name == "receipt" for e in events if e.HasField("artifact_update"))
    assert pa.negotiation(offer.header.negotiation_id).state is State.FULFILLED


@pytest.mark.req("A2A-016")
def test_a_subscription_never_reports_a_state_before_the_statements_that_led_to_it(
    alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """SubscribeToTask reads, for each update, the statements new since the last one and the state they
    led to. Alice's receipt, the statement that completes the trade, arrives from another thread just
    as the subscription reads the Task after her delivery: it must be in the stream before, or with,
    the COMPLETED it causes -- never cut off by a COMPLETED that ends the stream (it was, when the
    state was read outside the hold of the peer's lock that read the statements)."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    delivery, receipt = pa.on_replies(node.exchange(offer.envelope, pa.send_context()))
    assert (delivery.body, receipt.body) == ("delivery", "receipt")
    handler = CoopRequestHandler(node, a2a_pb2.AgentCard)
    read_task = handler.task
    racing = threading.Event()

    def send(vs: Any) -> None:  # Alice's statement taken by Bob, as CooperationService does
        node.exchange(vs.envelope, pa.send_context())
        handler.events.changed()

    def task_read_while_the_receipt_lands(*args: Any) -> a2a_pb2.Task:
        if racing.is_set():
            racing.clear()
            other = threading.Thread(target=send, args=(receipt,))
            other.start()
            other.join(timeout=0.5)  # it lands now unless this read holds the peer's lock
        return read_task(*args)

    handler.task = task_read_while_the_receipt_lands  # type: ignore[method-assign]
    context = ServerCallContext(state={"headers": {"a2a-version": "1.0"}})
    request = a2a_pb2.SubscribeToTaskRequest(id=offer.header.negotiation_id.hex())

    async def follow() -> list[a2a_pb2.TaskStatusUpdateEvent]:
        handler.events.loop = asyncio.get_running_loop()
        stream = handler.on_subscribe_to_task(request, context)
        await anext(stream)  # the Task: subscribed
        send(delivery)
        racing.set()
        return [e async for e in stream if isinstance(e, a2a_pb2.TaskStatusUpdateEvent)]

    updates = asyncio.run(asyncio.wait_for(follow(), 20))
    assert updates[-1].status.state == a2a_pb2.TASK_STATE_COMPLETED
    parts = [verify_statement(p.raw) for u in updates for p in u.status.message.parts]
    streamed = [(vs.issuer, vs.body) for vs in parts]
    assert (pa.did, "delivery") in streamed and (pa.did, "receipt") in streamed


@pytest.mark.req("A2A-016", "A2A-019")
def test_subscribe_to_a_finished_or_unknown_task_is_an_a2a_error(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Subscribing to a finished negotiation is UnsupportedOperation (-32004; gRPC UNIMPLEMENTED), to
    an unknown one TaskNotFound (-32001)."""
    pa = make_peer(alice, clock)

    async def trade() -> a2a_pb2.Task | None:
        async with await factory().create_from_url(server.card_url) as client:
            return await a2a.drive_a2a(pa, client, pa.propose(node.peer.did, alice.proposal()))

    done = run(trade)
    assert done is not None and done.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert jsonrpc(server, "SubscribeToTask", {"id": done.id})["error"]["code"] == -32004
    err = grpc_call(server, "SubscribeToTask", a2a_pb2.SubscribeToTaskRequest(id=done.id).SerializeToString())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED and _a2a_reason(err) == "UNSUPPORTED_OPERATION"
    assert jsonrpc(server, "SubscribeToTask", {"id": "00" * 16})["error"]["code"] == -32001


@pytest.mark.req("A2A-017")
def test_list_tasks_pages_one_contexts_tasks_newest_first(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Three offers in context ctx-a, one in ctx-b; expect ctx-a's three, newest first, in pages of two
    with an opaque token (then an empty one), artifacts only on request, none without a context, the
    status filter applied, and typed errors for a bad token or page size, on JSON-RPC and HTTP+JSON."""
    pa = make_peer(alice, clock)
    ids = []
    for ctx in ("ctx-a", "ctx-a", "ctx-b", "ctx-a"):
        clock.advance(1000)
        task = offer_through_a2a(server, pa, node.peer.did, alice, context_id=ctx)
        assert task.context_id == ctx
        if ctx == "ctx-a":
            ids.append(task.id)
    page1 = jsonrpc(server, "ListTasks", {"contextId": "ctx-a", "pageSize": 2})["result"]
    assert [t["id"] for t in page1["tasks"]] == ids[::-1][:2]
    assert page1["totalSize"] == 3 and page1["nextPageToken"]
    assert all("artifacts" not in t for t in page1["tasks"])
    page2 = jsonrpc(
        server, "ListTasks", {"contextId": "ctx-a", "pageSize": 2, "pageToken": page1["nextPageToken"]}
    )
    assert [t["id"] for t in page2["result"]["tasks"]] == ids[::-1][2:]
    assert page2["result"]["nextPageToken"] == ""
    full = rest(server, "GET", "/tasks?contextId=ctx-a&includeArtifacts=true")
    assert full.status_code == 200 and full.headers["content-type"].startswith("application/json")
    assert all(t["artifacts"] for t in full.json()["tasks"])
    assert jsonrpc(server, "ListTasks", {})["result"]["tasks"] == []  # no context named, none visible
    done = jsonrpc(server, "ListTasks", {"contextId": "ctx-a", "status": "TASK_STATE_COMPLETED"})
    assert done["result"]["tasks"] == []
    assert (
        jsonrpc(server, "ListTasks", {"contextId": "ctx-a", "pageToken": "junk"})["error"]["code"] == -32602
    )
    for bad in ({"pageSize": 101}, {"pageSize": 0}, {"historyLength": -1}):  # A2A-017: INVALID_PARAMS
        assert jsonrpc(server, "ListTasks", {"contextId": "ctx-a", **bad})["error"]["code"] == -32602, bad


class Countering(HonestStrategy):
    """Counters every opening offer with the mirror image of it (so the open offer is ours)."""

    def respond(self, offer: OfferView) -> Reply:
        p = trade_pb2.Offer()
        p.CopyFrom(offer.proposal)
        gives, wants = list(p.wants), list(p.gives)
        del p.gives[:]
        del p.wants[:]
        p.gives.extend(gives)
        p.wants.extend(wants)
        return Counter(p)


@pytest.mark.req("A2A-018")
def test_cancel_task_withdraws_our_open_counter_offer(
    bob: Party, alice: Party, clock: FixedClock, tmp_path: Path
) -> None:
    """Bob counters Alice's Offer; CancelTask (over HTTP+JSON) returns the Task CANCELED with Bob's
    signed Withdraw of his counter in its status message, his negotiation WITHDRAWN; a second
    CancelTask is TaskNotCancelable (409)."""
    n = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "c.db",
        clock=lambda: clock.now_ms,
        strategy=Countering(),
    )
    try:
        with a2a.serve_a2a(n, name="bob") as srv:
            pa = make_peer(alice, clock)
            task = offer_through_a2a(srv, pa, n.peer.did, alice, feed=False)
            assert n.peer.negotiation(bytes.fromhex(task.id)).state is State.COUNTERED
            resp = rest(srv, "POST", f"/tasks/{task.id}:cancel", {})
            assert resp.status_code == 200, resp.text
            cancelled = json_format.ParseDict(resp.json(), a2a_pb2.Task())
            again = rest(srv, "POST", f"/tasks/{task.id}:cancel", {})
            assert n.peer.negotiation(bytes.fromhex(task.id)).state is State.WITHDRAWN
            bob_did = n.peer.did
    finally:
        n.close()
    assert cancelled.status.state == a2a_pb2.TASK_STATE_CANCELED
    (withdraw,) = a2a.envelopes_in(cancelled.status.message.parts)
    vs = verify_statement(withdraw)
    assert vs.body == "withdraw" and vs.issuer == bob_did and vs.header.audience == pa.did
    assert again.status_code == 409
    assert again.json()["error"]["details"][0]["reason"] == "TASK_NOT_CANCELABLE"


@pytest.mark.req("A2A-018", "NEG-017", "ESC-013")
def test_cancel_task_of_a_bonded_counter_accepted_behind_our_back_learns_the_contract(tmp_path: Path) -> None:
    """Bob serves A2A with an escrow witness; his strategy counters Mallory's Offer with bonded terms.
    Mallory shows the escrow an Accept of that Counter alone; Bob's operator then cancels the task, which
    withdraws the Counter. The witnessed Accept came first and takes precedence (NEG-017): before, Bob's
    view stayed WITHDRAWN and her claim took his bond; now the node shows the escrow the Withdraw, learns
    the contract and performs it."""
    m, node = _served_bob_who_counters(tmp_path)
    try:
        with a2a.serve_a2a(node, name="bob") as srv:
            opening, _, accept = _countered_and_hidden(m, node)
            resp = rest(srv, "POST", f"/tasks/{opening.negotiation_id.hex()}:cancel", {})
            assert resp.status_code == 200, resp.text
            assert node.witness is not None
            node.witness.flush()
        neg = node.peer.negotiation(opening.negotiation_id)
        assert neg.contract is not None and neg.contract.id == accept.digest, neg.state
        m.bob_loses_nothing(neg.id, accept.digest)
    finally:
        node.close()


@pytest.mark.req("A2A-018", "ESC-013", "ESC-014")
def test_a_withdraw_reaches_the_escrow_before_the_counterparty_can_answer_it(tmp_path: Path) -> None:
    """Bob serves A2A with an escrow witness; his strategy counters Mallory's Offer with bonded terms, and
    his operator withdraws the Counter (CancelTask). Mallory, seeing the Withdraw, signs an Accept of the
    Counter at once -- before its expiry -- and submits it to the escrow. Before, the Withdraw was
    returned while the witness had yet to show it to the escrow (here: its thread busy), the escrow took
    her Accept first and locked Bob's bond, binding him after he withdrew. Now the node shows the escrow
    the Withdraw before it answers: her Accept is refused, and Bob's bond is never locked."""
    m, node = _served_bob_who_counters(tmp_path)
    busy = threading.Event()
    try:
        assert node.witness is not None
        node.witness.watch(0, lambda: busy.wait(10), bounded=False)  # the witness's thread, busy
        with a2a.serve_a2a(node, name="bob") as srv:
            mallory = m.mallory
            opening, answers = m.mallory_opens(node)
            bobs = next(vs for vs in answers if vs.body == "counter")
            resp = rest(srv, "POST", f"/tasks/{opening.negotiation_id.hex()}:cancel", {})
            assert resp.status_code == 200, resp.text
            cancelled = json_format.ParseDict(resp.json(), a2a_pb2.Task())
            (withdraw,) = a2a.envelopes_in(cancelled.status.message.parts)
            assert verify_statement(withdraw).body == "withdraw"
            accept = mallory.accept(bobs)
            shown = [*mallory.setup, *m.bob.setup, opening.envelope, bobs.envelope, accept.envelope]
            with pytest.raises(CoopError):
                m.escrow.submit(shown)
            busy.set()
            node.witness.flush()
        assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0), "Bob's bond was locked after he withdrew"
        assert node.peer.negotiation(opening.negotiation_id).contract is None
    finally:
        busy.set()
        node.close()


@pytest.mark.req("A2A-018", "A2A-019")
def test_cancel_task_of_a_contract_or_unknown_task_is_an_a2a_error(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """A formed contract cannot be cancelled (TaskNotCancelable: FAILED_PRECONDITION, -32002, 409);
    an unknown task is TaskNotFound on every binding (NOT_FOUND, -32001, 404)."""
    pa = make_peer(alice, clock)
    task = offer_through_a2a(server, pa, node.peer.did, alice)
    assert jsonrpc(server, "CancelTask", {"id": task.id})["error"]["code"] == -32002
    assert rest(server, "POST", f"/tasks/{task.id}:cancel", {}).status_code == 409
    err = grpc_call(server, "CancelTask", a2a_pb2.CancelTaskRequest(id=task.id).SerializeToString())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and _a2a_reason(err) == "TASK_NOT_CANCELABLE"
    unknown = "ab" * 16
    assert jsonrpc(server, "CancelTask", {"id": unknown})["error"]["code"] == -32001
    assert rest(server, "POST", f"/tasks/{unknown}:cancel", {}).status_code == 404
    err = grpc_call(server, "CancelTask", a2a_pb2.CancelTaskRequest(id=unknown).SerializeToString())
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert node.peer.negotiation(bytes.fromhex(task.id)).state is State.PERFORMING


@pytest.mark.req("A2A-019")
def test_get_task_ids_are_parsed_strictly(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Only the exact lower-case hex id names a task: upper case, spaces, 0x are TaskNotFound."""
    pa = make_peer(alice, clock)
    task = offer_through_a2a(server, pa, node.peer.did, alice)
    assert jsonrpc(server, "GetTask", {"id": task.id})["result"]["id"] == task.id
    for bad in (task.id.upper(), task.id + " ", " " + task.id, "0x" + task.id, task.id[:-1]):
        assert jsonrpc(server, "GetTask", {"id": bad})["error"]["code"] == -32001, bad


@pytest.mark.req("A2A-019")
def test_send_message_requires_message_id_role_and_parts(server: a2a.A2AServer) -> None:
    """A SendMessage without a message, messageId, role or parts is InvalidParams on every binding."""
    good = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    assert "result" in jsonrpc(server, "SendMessage", {"message": good})
    for field in ("messageId", "role", "parts"):
        msg = {k: v for k, v in good.items() if k != field}
        assert jsonrpc(server, "SendMessage", {"message": msg})["error"]["code"] == -32602, field
        assert rest(server, "POST", "/message:send", {"message": msg}).status_code == 400, field
    assert jsonrpc(server, "SendMessage", {})["error"]["code"] == -32602
    err = grpc_call(server, "SendMessage", a2a_pb2.SendMessageRequest().SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.req("A2A-019")
def test_bytes_that_are_not_a_request_are_invalid_argument(server: a2a.A2AServer) -> None:
    """Unparseable bytes to A2AService: INVALID_ARGUMENT (not INTERNAL); junk JSON: -32700; a body
    that is not JSON: ContentTypeNotSupported (-32005, 415)."""
    for method in ("SendMessage", "GetTask", "ListTasks", "SubscribeToTask"):
        err = grpc_call(server, method, b"\xff\xff\xff")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, method
    resp = httpx.post(server.card_url + "/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.json()["error"]["code"] == -32700
    resp = httpx.post(server.card_url + "/", content=b"hello", headers={"Content-Type": "text/plain"})
    assert resp.json()["error"]["code"] == -32005
    resp = httpx.post(
        server.card_url + "/a2a/rest/message:send",
        content=b"hello",
        headers={"Content-Type": "text/plain", "A2A-Version": "1.0"},
    )
    assert resp.status_code == 415


@pytest.mark.req("A2A-004")
def test_every_method_checks_the_a2a_version_on_every_binding(server: a2a.A2AServer) -> None:
    """A2A-Version 1.1 on each method: VersionNotSupported (-32009, 400, UNIMPLEMENTED); 1.0.2 passes."""
    for method, params in (
        ("GetTask", {"id": "ab"}),
        ("ListTasks", {}),
        ("CancelTask", {"id": "ab"}),
        ("GetExtendedAgentCard", {}),
        ("SendMessage", {"message": {}}),
    ):
        assert jsonrpc(server, method, params, version="1.1")["error"]["code"] == -32009, method
    assert rest(server, "GET", "/tasks", version="1.1").status_code == 400
    assert rest(server, "GET", "/extendedAgentCard", version="1.1").status_code == 400
    for method in ("GetTask", "ListTasks", "CancelTask", "GetExtendedAgentCard"):
        err = grpc_call(server, method, b"", version="1.1")
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, method
    assert "result" in jsonrpc(server, "GetExtendedAgentCard", {}, version="1.0.2")


@pytest.mark.req("A2A-019")
def test_undeclared_operations_answer_a2a_errors(server: a2a.A2AServer) -> None:
    """Push notifications are not offered: PushNotificationNotSupported (-32003, 400, UNIMPLEMENTED)."""
    req = {"taskId": "ab", "url": "https://example.com/hook"}
    assert jsonrpc(server, "CreateTaskPushNotificationConfig", req)["error"]["code"] == -32003
    assert jsonrpc(server, "ListTaskPushNotificationConfigs", {"taskId": "ab"})["error"]["code"] == -32003
    assert rest(server, "GET", "/tasks/ab/pushNotificationConfigs").status_code == 400
    get = a2a_pb2.GetTaskPushNotificationConfigRequest(task_id="ab", id="cfg")
    err = grpc_call(server, "GetTaskPushNotificationConfig", get.SerializeToString())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert _a2a_reason(err) == "PUSH_NOTIFICATION_NOT_SUPPORTED"


@pytest.mark.req("A2A-007", "A2A-020", "A2A-024")
def test_context_id_survives_a_restart(bob: Party, alice: Party, clock: FixedClock, tmp_path: Path) -> None:
    """The client's contextId is journaled: after Bob restarts, ListTasks of it still lists the Task,
    showing it; GetTask, which names no context, is shown the Task id (A2A-024)."""
    pa = make_peer(alice, clock)
    path = tmp_path / "ctx.db"

    def open_node() -> PeerNode:
        return PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, path, clock=lambda: clock.now_ms)

    first = open_node()
    with a2a.serve_a2a(first) as srv:
        task = offer_through_a2a(srv, pa, first.peer.did, alice, context_id="ctx-kept")
    first.close()
    again = open_node()
    try:
        with a2a.serve_a2a(again) as srv:
            got = jsonrpc(srv, "GetTask", {"id": task.id})["result"]
            listed = jsonrpc(srv, "ListTasks", {"contextId": "ctx-kept"})["result"]
    finally:
        again.close()
    assert got["id"] == task.id and got["contextId"] == task.id
    assert [(t["id"], t["contextId"]) for t in listed["tasks"]] == [(task.id, "ctx-kept")]


@pytest.mark.req("A2A-016")
def test_grpc_subscription_a_client_leaves_frees_its_worker(
    node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """A gRPC SubscribeToTask streams the Task first; when the client cancels it, the server's wait
    for the next event ends, so the server still stops (within a bound) with the subscription gone."""
    from a2a.types import a2a_pb2_grpc

    srv = a2a.serve_a2a(node, name="bob")
    try:
        pa = make_peer(alice, clock)
        task = offer_through_a2a(srv, pa, node.peer.did, alice)
        with grpc.insecure_channel(srv.target) as ch:
            stub = a2a_pb2_grpc.A2AServiceStub(ch)
            call = stub.SubscribeToTask(
                a2a_pb2.SubscribeToTaskRequest(id=task.id), metadata=[("a2a-version", "1.0")], timeout=30
            )
            first = next(call)
            assert first.task.id == task.id and first.task.status.state == a2a_pb2.TASK_STATE_WORKING
            call.cancel()
    finally:
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        stopper.join(30)
    assert not stopper.is_alive()


@pytest.mark.req("A2A-003", "A2A-009", "A2A-015")
def test_json_rpc_echoes_the_extension_and_types_a_refusal(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Over JSON-RPC: an Offer with the extension activated gets a Task and the A2A-Extensions header
    echoed; the same Offer without Alice's mandate in context is INVALID_PARAMS (-32602) whose data
    names the section 12 code, and nothing is recorded."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    headers = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI}

    def post(msg: a2a_pb2.Message) -> httpx.Response:
        params = json_format.MessageToDict(a2a_pb2.SendMessageRequest(message=msg))
        body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}
        return httpx.post(server.card_url + "/", json=body, headers=headers, timeout=10)

    refused = post(a2a.statement_message(offer.envelope, []))
    error = refused.json()["error"]
    assert error["code"] == -32602 and "MANDATE_UNKNOWN" in error["message"]
    assert node.peer.verifier.negotiations.by_id == {}
    ok = post(a2a.statement_message(offer.envelope, pa.send_context()))
    assert ok.headers["A2A-Extensions"] == a2a.EXTENSION_URI
    task = ok.json()["result"]["task"]
    assert task["id"] == offer.header.negotiation_id.hex() and task["status"]["state"] == "TASK_STATE_WORKING"


@pytest.mark.req("A2A-009", "RPC-012")
def test_a_rate_limited_refusal_carries_its_retry_hint_on_every_binding(
    node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """A statement the peer refuses RATE_LIMITED; expect the retry hint RPC-012 (b) names --
    ``retry_after_ms`` in the ErrorInfo -- on JSON-RPC and HTTP+JSON as on A2A's gRPC binding: a client
    of the HTTP bindings must learn, as a gRPC one does, when a retry may be taken."""

    def refuse(envelope: bytes, context: Any) -> list[bytes]:
        raise RateLimited("over 1 requests/s from this peer", retry_after_ms=1234, requirement="RPC-012")

    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    msg = a2a.statement_message(offer.envelope, pa.send_context())
    params = json_format.MessageToDict(a2a_pb2.SendMessageRequest(message=msg))
    headers = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI}
    with a2a.serve_a2a(node, name="bob", exchange=refuse) as srv:
        body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}
        rpc_error = httpx.post(srv.card_url + "/", json=body, headers=headers, timeout=10).json()["error"]
        rest_error = httpx.post(
            srv.card_url + "/a2a/rest/message:send", json=params, headers=headers, timeout=10
        ).json()["error"]
        with grpc.insecure_channel(srv.target) as ch, pytest.raises(grpc.RpcError) as info:
            a2a_pb2_grpc.A2AServiceStub(ch).SendMessage(
                a2a_pb2.SendMessageRequest(message=msg),
                metadata=[("a2a-version", "1.0"), ("a2a-extensions", a2a.EXTENSION_URI)],
                timeout=10,
            )
    for (info_json,) in (rpc_error["data"], rest_error["details"]):  # the one A2A ErrorInfo (A2A-009)
        assert info_json["metadata"]["a2aCoopCode"] == "RATE_LIMITED"
        assert info_json["metadata"]["retry_after_ms"] == "1234"
    status = rpc_status.from_call(cast(grpc.Call, info.value))
    assert status is not None
    ours = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(ours) and ours.metadata["retry_after_ms"] == "1234"


@pytest.mark.req("A2A-003", "A2A-019")
def test_extension_support_required_has_its_codes_on_every_binding(
    server: a2a.A2AServer, alice: Party, clock: FixedClock, node: PeerNode
) -> None:
    """Signed Parts without activation; expect EXTENSION_SUPPORT_REQUIRED with the codes of A2A-019's
    table -- JSON-RPC -32008, HTTP+JSON 400 with status FAILED_PRECONDITION, gRPC FAILED_PRECONDITION
    -- and nothing recorded."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    msg = a2a.statement_message(offer.envelope, pa.send_context())
    msg.ClearField("extensions")
    request = a2a_pb2.SendMessageRequest(message=msg)
    params = json_format.MessageToDict(request)
    assert jsonrpc(server, "SendMessage", params)["error"]["code"] == -32008
    resp = rest(server, "POST", "/message:send", params)
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "FAILED_PRECONDITION"
    err = grpc_call(server, "SendMessage", request.SerializeToString())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _a2a_reason(err) == "EXTENSION_SUPPORT_REQUIRED"
    assert node.peer.verifier.negotiations.by_id == {}


@pytest.mark.req("A2A-009", "RPC-006")
def test_a_refusal_on_a2a_grpc_keeps_section_13s_details_in_order_then_a2as_errorinfo(
    node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """A statement refused EQUIVOCATION with its two envelopes as evidence, over A2A's gRPC binding;
    expect the details as RPC-005 and RPC-006 order them -- our ErrorInfo, then the envelopes -- and
    A2A's INVALID_PARAMS ErrorInfo last, where a client picking details by type finds each."""
    fork = (b"first-of-the-fork", b"second-of-the-fork")

    def refuse(envelope: bytes, context: Any) -> list[bytes]:
        raise Equivocation("two statements at one seq", requirement="CHN-003", evidence=fork)

    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    request = a2a_pb2.SendMessageRequest(message=a2a.statement_message(offer.envelope, pa.send_context()))
    with a2a.serve_a2a(node, name="bob", exchange=refuse) as srv:
        err = grpc_call(srv, "SendMessage", request.SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # EQUIVOCATION's own status (section 12)
    status = rpc_status.from_call(cast(grpc.Call, err))
    assert status is not None
    ours, *envelopes, theirs = status.details
    info = error_details_pb2.ErrorInfo()
    assert ours.Unpack(info) and (info.domain, info.reason) == ("a2acoop.v1", "EQUIVOCATION")
    assert info.metadata["evidence"] == "2"
    assert [(d.type_url, d.value) for d in envelopes] == [
        ("type.googleapis.com/a2acoop.v1.Envelope", e) for e in fork
    ]
    assert theirs.Unpack(info) and (info.domain, info.reason) == ("a2a-protocol.org", "INVALID_PARAMS")


@pytest.mark.req("A2A-019", "RPC-005")
def test_an_a2a_error_quoting_a_long_task_id_still_arrives_typed_over_grpc(server: a2a.A2AServer) -> None:
    """GetTask, CancelTask and SubscribeToTask of a 20,000-character task id over A2A's gRPC binding;
    expect TASK_NOT_FOUND (NOT_FOUND, its ErrorInfo) each time: the error's message quotes the id, the
    caller's choice, and uncut it put the Status past the trailers' limit, so the client saw a transport
    failure (RESOURCE_EXHAUSTED) where A2A-019 says TASK_NOT_FOUND."""
    long_id = "a" * 20_000
    requests = {
        "GetTask": a2a_pb2.GetTaskRequest(id=long_id),
        "CancelTask": a2a_pb2.CancelTaskRequest(id=long_id),
    }
    for method, request in requests.items():
        err = grpc_call(server, method, request.SerializeToString())
        assert err.code() == grpc.StatusCode.NOT_FOUND, method
        assert _a2a_reason(err) == "TASK_NOT_FOUND", method
    with grpc.insecure_channel(server.target) as ch, pytest.raises(grpc.RpcError) as info:
        list(
            a2a_pb2_grpc.A2AServiceStub(ch).SubscribeToTask(
                a2a_pb2.SubscribeToTaskRequest(id=long_id), metadata=[("a2a-version", "1.0")], timeout=10
            )
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and _a2a_reason(info.value) == "TASK_NOT_FOUND"


class _ExpiredCall:
    """A gRPC server context whose deadline has passed before the call is handled."""

    def time_remaining(self) -> float:
        return 0.0

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise grpc.RpcError(code, details)

    def abort_with_status(self, status: grpc.Status) -> None:
        raise grpc.RpcError(status.code, status.details)

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("a2a-version", "1.0")]

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5555"

    def is_active(self) -> bool:
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return True


@pytest.mark.req("RPC-009", "A2A-015")
@pytest.mark.parametrize("method", ["SendMessage", "SendStreamingMessage"])
def test_an_a2a_grpc_call_whose_deadline_passed_is_not_handled(method: str) -> None:
    """A2A's gRPC binding as CooperationService (RPC-009): a SendMessage whose deadline passed before a
    worker took it is failed DEADLINE_EXCEEDED and never reaches the handler, which would sign answers
    its caller has stopped waiting for."""
    reached: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            reached.append(name)
            raise AssertionError(f"the handler was reached: {name}")

    loop = asyncio.new_event_loop()
    try:
        servicer = a2a.A2AServicer(cast(CoopRequestHandler, Recording()), loop)
        request = a2a_pb2.SendMessageRequest(message=plain_message("hi")).SerializeToString()
        call = (
            servicer._streaming(method, a2a_pb2.SendMessageRequest)
            if method == "SendStreamingMessage"
            else (servicer._unary(method, a2a_pb2.SendMessageRequest))
        )
        with pytest.raises(grpc.RpcError) as info:
            result = call(request, cast(grpc.ServicerContext, _ExpiredCall()))
            if method == "SendStreamingMessage":
                list(result)
    finally:
        loop.close()
    assert info.value.args[0] is grpc.StatusCode.DEADLINE_EXCEEDED and reached == []
