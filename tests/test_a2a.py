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
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")

import grpc
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.client_factory import minimal_agent_card
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from peers import make_peer

from a2a_coop import a2a
from a2a_coop._proto.a2acoop.v1 import reputation_pb2
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import CooperationClient

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(make())  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def bob(clock: FixedClock) -> Party:
    return Party("bob", clock)


@pytest.fixture
def alice(clock: FixedClock) -> Party:
    return Party("alice", clock)


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


@pytest.mark.req("A2A-001", "A2A-002")
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
    for key in ("coop_vs_a2a_sdk_trade", "coop_trade_vs_plain_sendmessage"):
        assert summary[key] > 0
    assert summary["a2a_messages_per_trade"] == 3


def test_unknown_task_is_task_not_found(server: a2a.A2AServer) -> None:
    async def go() -> None:
        async with await factory().create_from_url(server.card_url) as client:
            await client.get_task(a2a_pb2.GetTaskRequest(id="00" * 16))

    with pytest.raises(a2a_errors.TaskNotFoundError):
        run(go)
