"""A Task whose Artifacts pass an A2A client's message limit reaches it in parts on every A2A binding
(A2A-028 (a)): each Task a response carries holds at most MAX_A2A_ARTIFACT_BYTES of its Artifacts' envelopes
and says in ``metadata.a2aCoop.nextArtifact`` where the rest starts -- read by GetTask again with the
``A2A-Coop-Artifacts-From`` service parameter, or, in a stream, sent as one artifact-update each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import httpx
import pytest

pytest.importorskip("a2a")

from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2
from peers import make_peer

from a2a_coop import a2a
from a2a_coop.a2a.handler import CoopRequestHandler, negotiation_artifacts
from a2a_coop.a2a.parts import ARTIFACTS_FROM_HEADER, EXTENSION_URI, MAX_A2A_ARTIFACT_BYTES, set_coop_number
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from a2a_coop.transport import CooperationClient, TransportError
from a2a_coop.transport.paging import CutAnswerViolation

# gRPC's default receive limit, which a stock A2A client keeps.
GRPC_DEFAULT_LIMIT = 4 * 1024 * 1024


class LongContract(NamedTuple):
    server: a2a.A2AServer
    node: PeerNode
    task_id: str
    held_back: VerifiedStatement  # Alice's last Receipt: sent, it completes the Task


def _long_trade(node: PeerNode, alice: Party, pa: Peer, clock: FixedClock) -> tuple[str, VerifiedStatement]:
    """Alice and Bob trade 32 items for 32, each item's description long, so that each of the 64 Receipt
    Artifacts (which bundle the whole contract, A2A-012) holds ~65 KB: 4.3 MB of Artifacts, past gRPC's
    default 4 MiB. Alice's Receipt of one of Bob's Deliveries is held back: the Task is WORKING. Returns
    the Task id and that Receipt."""
    due = clock.now_ms + DAY_MS
    gives = [service(f"review-{i}", value=20, deadline_ms=due) for i in range(32)]
    wants = [service(f"edit-{i}", value=10, deadline_ms=due) for i in range(32)]
    for item in (*gives, *wants):
        item.description = "x" * 975
    offer = pa.propose(node.peer.did, alice.proposal(gives=gives, wants=wants))
    queue, held_back = [offer], None
    while queue:
        vs = queue.pop(0)
        if vs.body == "receipt" and held_back is None:
            held_back = vs
            continue
        queue += pa.on_replies(node.exchange(vs.envelope, pa.send_context()))
    neg = node.peer.negotiation(offer.header.negotiation_id)
    assert neg.state is State.PERFORMING and held_back is not None
    whole = sum(len(p.raw) for a in negotiation_artifacts(node.peer, neg) for p in a.parts)
    assert whole > GRPC_DEFAULT_LIMIT
    return neg.id.hex(), held_back


@pytest.fixture
def long_contract(alice: Party, bob: Party, clock: FixedClock, tmp_path: Path) -> Iterator[LongContract]:
    """Bob's served node, holding :func:`_long_trade`'s Task."""
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    task_id, held_back = _long_trade(node, alice, make_peer(alice, clock), clock)
    try:
        with a2a.serve_a2a(node, name="bob") as server:
            yield LongContract(server, node, task_id, held_back)
    finally:
        node.close()


def _config(binding: str, *, streaming: bool = False) -> ClientConfig:
    return ClientConfig(
        supported_protocol_bindings=[binding],
        grpc_channel_factory=grpc.aio.insecure_channel,
        streaming=streaming,
    )


class _Seen:
    """A stock client whose SendMessage responses' Tasks are kept in ``tasks``, as they came."""

    def __init__(self, client: Any, tasks: list[a2a_pb2.Task]) -> None:
        self.client, self.tasks = client, tasks

    async def send_message(self, request: Any, context: Any = None) -> AsyncIterator[Any]:
        async for response in self.client.send_message(request, context=context):
            if response.HasField("task"):
                self.tasks.append(response.task)
            yield response

    async def get_task(self, request: Any, context: Any = None) -> a2a_pb2.Task:
        task: a2a_pb2.Task = await self.client.get_task(request, context=context)
        return task


def _size(task: a2a_pb2.Task) -> int:
    return sum(len(p.raw) for a in task.artifacts for p in a.parts)


def _expected(contract: LongContract) -> list[str]:
    neg = contract.node.peer.negotiation(bytes.fromhex(contract.task_id))
    return [a.artifact_id for a in negotiation_artifacts(contract.node.peer, neg)]


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize("binding", ["GRPC", "JSONRPC", "HTTP+JSON"])
def test_a_task_past_a_clients_limit_arrives_whole_on_every_binding(
    long_contract: LongContract, binding: str
) -> None:
    """Before, every Task went whole: on A2A's gRPC binding the 4.3 MB Task failed RESOURCE_EXHAUSTED --
    the SendMessage whose Receipt completed the trade after the agent had recorded it, GetTask and
    ListTasks for good --, and the HTTP bindings sent it past what a client at gRPC's default takes.
    Expect the SendMessage's Task, GetTask's and ListTasks' each to hold at most MAX_A2A_ARTIFACT_BYTES of
    Artifacts and a ``nextArtifact``, and a stock a2a-sdk client to read every Artifact (``whole_task``;
    ``send_whole`` returned the SendMessage's Task as it came, its first part: it reads the rest too)."""
    c = long_contract
    message = a2a.statement_message(c.held_back.envelope, task_id=c.task_id)

    async def go() -> tuple[a2a_pb2.Task | None, a2a_pb2.Task, a2a_pb2.Task, a2a_pb2.ListTasksResponse]:
        async with await ClientFactory(_config(binding)).create_from_url(c.server.card_url) as client:
            _answer, sent = await a2a.send_whole(_Seen(client, responses), message)
            first = await client.get_task(a2a_pb2.GetTaskRequest(id=c.task_id), context=a2a.activation())
            whole = await a2a.whole_task(client, c.task_id)
            listed = await client.list_tasks(
                a2a_pb2.ListTasksRequest(context_id=c.task_id, include_artifacts=True),
                context=a2a.activation(),
            )
            return sent, first, whole, listed

    responses: list[a2a_pb2.Task] = []
    sent, first, whole, listed = asyncio.run(go())
    expected = _expected(c)
    assert sent is not None and sent.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert [a.artifact_id for a in sent.artifacts] == expected and a2a.next_artifact_of(sent) == 0
    (in_list,) = listed.tasks
    for part in (responses[-1], first, in_list):
        assert 0 < _size(part) <= MAX_A2A_ARTIFACT_BYTES
        assert a2a.next_artifact_of(part) == len(part.artifacts)
        assert [a.artifact_id for a in part.artifacts] == expected[: len(part.artifacts)]
    assert [a.artifact_id for a in whole.artifacts] == expected and len(expected) == 65
    assert a2a.next_artifact_of(whole) == 0 and whole.status.state == a2a_pb2.TASK_STATE_COMPLETED


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize("binding", ["GRPC", "JSONRPC"])
def test_a_subscription_to_a_task_past_a_clients_limit_streams_the_rest_as_artifact_updates(
    long_contract: LongContract, binding: str
) -> None:
    """SubscribeToTask's first event was the whole Task: on gRPC past the limit, the stream failed before
    any change was followed. Expect the Task with its first part, every Artifact it left out as one
    artifact-update each, then, once Alice's last Receipt lands, its Artifact and COMPLETED."""
    c = long_contract
    events: list[a2a_pb2.StreamResponse] = []

    async def go() -> None:
        async with await ClientFactory(_config(binding, streaming=True)).create_from_url(
            c.server.card_url
        ) as client:
            stream = client.subscribe(a2a_pb2.SubscribeToTaskRequest(id=c.task_id), context=a2a.activation())
            events.append(await anext(stream))
            for _ in range(len(_expected(c)) - len(events[0].task.artifacts)):  # the ones it left out
                events.append(await anext(stream))

            def complete() -> None:
                with CooperationClient(c.server.target, timeout_s=30) as coop:
                    coop.exchange(c.held_back.envelope, [])

            await asyncio.to_thread(complete)
            async for event in stream:
                events.append(event)

    asyncio.run(asyncio.wait_for(go(), 120))
    first = events[0].task
    assert 0 < _size(first) <= MAX_A2A_ARTIFACT_BYTES and a2a.next_artifact_of(first) == len(first.artifacts)
    streamed = [a.artifact_id for a in first.artifacts]
    streamed += [e.artifact_update.artifact.artifact_id for e in events[1:] if e.HasField("artifact_update")]
    assert streamed == _expected(c)
    assert events[-1].status_update.status.state == a2a_pb2.TASK_STATE_COMPLETED


class _Counted:
    """A stock client that counts the GetTasks it makes and the Artifact bytes every response brought."""

    def __init__(self, client: Any) -> None:
        self.client, self.get_tasks, self.artifact_bytes = client, 0, 0

    async def send_message(self, request: Any, context: Any = None) -> AsyncIterator[Any]:
        async for response in self.client.send_message(request, context=context):
            self.artifact_bytes += _size(response.task) if response.HasField("task") else 0
            if response.HasField("artifact_update"):
                self.artifact_bytes += sum(len(p.raw) for p in response.artifact_update.artifact.parts)
            yield response

    async def get_task(self, request: Any, context: Any = None) -> a2a_pb2.Task:
        self.get_tasks += 1
        task: a2a_pb2.Task = await self.client.get_task(request, context=context)
        self.artifact_bytes += _size(task)
        return task


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize("binding", ["GRPC", "JSONRPC", "HTTP+JSON"])
def test_send_whole_on_a_stream_reads_no_artifact_twice(long_contract: LongContract, binding: str) -> None:
    """SendStreamingMessage sends the Artifacts its first Task leaves out as artifact-updates (A2A-016),
    yet ``send_whole`` read them all again by GetTask from the Task's ``nextArtifact``: 3 GetTasks, 3.4 MB
    read twice. Expect the Task whole from the stream alone: no GetTask, every Artifact in order, and no
    more bytes than the Artifacts once and the one this exchange formed (sent in the Task and as its
    update, A2A-016)."""
    c = long_contract
    message = a2a.statement_message(c.held_back.envelope, task_id=c.task_id)

    async def go() -> tuple[_Counted, a2a_pb2.Task | None]:
        async with await ClientFactory(_config(binding, streaming=True)).create_from_url(
            c.server.card_url
        ) as client:
            counted = _Counted(client)
            _answer, task = await a2a.send_whole(counted, message)
            return counted, task

    counted, task = asyncio.run(asyncio.wait_for(go(), 120))
    expected = _expected(c)
    assert task is not None and task.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert [a.artifact_id for a in task.artifacts] == expected and a2a.next_artifact_of(task) == 0
    assert counted.get_tasks == 0
    assert _size(task) <= counted.artifact_bytes <= _size(task) + max(_size_of(a) for a in task.artifacts)


def _size_of(artifact: a2a_pb2.Artifact) -> int:
    return sum(len(p.raw) for p in artifact.parts)


@pytest.mark.req("A2A-028")
def test_artifacts_asked_past_the_task_or_not_by_a_number_are_none_or_refused(
    long_contract: LongContract,
) -> None:
    """``A2A-Coop-Artifacts-From`` past the Artifacts gets none and no nextArtifact; one that is no whole
    number is INVALID_PARAMS, never read as 0."""
    c = long_contract

    async def get(start: str) -> a2a_pb2.Task:
        params = {"A2A-Extensions": EXTENSION_URI, ARTIFACTS_FROM_HEADER: start}
        async with await ClientFactory(_config("JSONRPC")).create_from_url(c.server.card_url) as client:
            return await client.get_task(
                a2a_pb2.GetTaskRequest(id=c.task_id), context=ClientCallContext(service_parameters=params)
            )

    past = asyncio.run(get("10000"))
    assert not past.artifacts and a2a.next_artifact_of(past) == 0
    last = asyncio.run(get("63"))
    assert [a.artifact_id for a in last.artifacts] == _expected(c)[63:] and a2a.next_artifact_of(last) == 0
    for bad in ("-1", "1.5", "4294967296"):
        with pytest.raises(Exception, match=ARTIFACTS_FROM_HEADER):
            asyncio.run(get(bad))


@pytest.mark.req("A2A-028")
def test_a_list_tasks_page_ends_where_its_artifacts_fill_the_bound(
    alice: Party, bob: Party, clock: FixedClock, tmp_path: Path
) -> None:
    """Two long contracts under one contextId, ListTasks with includeArtifacts: a page of both carried
    8.6 MB. Expect the first page to hold the first Task alone, cut at the bound, and a page token that
    gives the second Task, cut the same; the page's size stays the one asked."""
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    try:
        pa = make_peer(alice, clock)
        ids = {_long_trade(node, alice, pa, clock)[0] for _ in range(2)}
        handler = CoopRequestHandler(node, card=a2a_pb2.AgentCard)
        for task_id in ids:
            handler._bind_context(task_id, "ctx")

        def page(token: str = "") -> a2a_pb2.ListTasksResponse:
            request = a2a_pb2.ListTasksRequest(context_id="ctx", include_artifacts=True, page_token=token)
            context = ServerCallContext(state={"headers": {"a2a-version": "1.0"}})
            return asyncio.run(handler.on_list_tasks(request, context))

        first = page()
        second = page(first.next_page_token)
    finally:
        node.close()
    assert first.total_size == 2 and first.page_size == 50 and first.next_page_token
    assert not second.next_page_token
    assert {t.id for t in (*first.tasks, *second.tasks)} == ids and len(first.tasks) == 1
    for task in (*first.tasks, *second.tasks):
        assert 0 < _size(task) <= MAX_A2A_ARTIFACT_BYTES and a2a.next_artifact_of(task) == len(task.artifacts)


def test_an_agent_saying_more_artifacts_without_sending_any_fails_the_read() -> None:
    """A Task that says there are more Artifacts but holds none would hold ``whole_task`` for ever."""

    class _Empty:
        async def get_task(self, request: a2a_pb2.GetTaskRequest, context: object = None) -> a2a_pb2.Task:
            task = a2a_pb2.Task(id=request.id)
            set_coop_number(task, "nextArtifact", 1)
            return task

    with pytest.raises(TransportError):
        asyncio.run(a2a.whole_task(_Empty(), "00"))


def _big_artifact() -> a2a_pb2.Artifact:
    return a2a_pb2.Artifact(artifact_id="big", parts=[a2a_pb2.Part(raw=b"x" * (MAX_A2A_ARTIFACT_BYTES + 1))])


class _Liar:
    """An agent whose Task holds a small Artifact, says more, and sends as the next one an Artifact past
    the part bound: by GetTask, or as its stream's artifact-update (``stream``)."""

    def __init__(self, *, stream: bool, cut: bool = True) -> None:
        self.stream, self.cut = stream, cut

    def _task(self) -> a2a_pb2.Task:
        task = a2a_pb2.Task(id="00", artifacts=[a2a_pb2.Artifact(artifact_id="small")])
        task.artifacts[0].parts.add(raw=b"x")
        if self.cut:
            set_coop_number(task, "nextArtifact", 1)
        else:
            task.artifacts.append(_big_artifact())
        return task

    async def send_message(self, request: Any, context: Any = None) -> AsyncIterator[a2a_pb2.StreamResponse]:
        yield a2a_pb2.StreamResponse(task=self._task())
        if self.stream:
            update = a2a_pb2.TaskArtifactUpdateEvent(artifact=_big_artifact())
            yield a2a_pb2.StreamResponse(artifact_update=update)
            yield a2a_pb2.StreamResponse(status_update=a2a_pb2.TaskStatusUpdateEvent(task_id="00"))

    async def get_task(self, request: a2a_pb2.GetTaskRequest, context: object = None) -> a2a_pb2.Task:
        return a2a_pb2.Task(id=request.id, artifacts=[_big_artifact()])


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize("liar", ["by GetTask", "streamed", "whole"])
def test_an_artifact_past_the_part_bound_fails_the_read(liar: str) -> None:
    """An agent's Artifact is a bundle of at most six envelopes of 64 KiB (A2A-012, ENV-008), within the
    1 MiB part; one past it came through whole, however large, to a client that trusted the parts to
    bound what it reads. Expect the read to fail RESOURCE_EXHAUSTED, as RPC-021's client fails a part."""
    assert 6 * MAX_ENVELOPE_BYTES <= MAX_A2A_ARTIFACT_BYTES  # every Artifact the agent forms fits
    agent = _Liar(stream=liar == "streamed", cut=liar != "whole")
    message = a2a.statement_message(b"statement")
    with pytest.raises(CutAnswerViolation, match="past 1048576") as err:
        asyncio.run(a2a.send_whole(agent, message))
    assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    if liar == "by GetTask":
        with pytest.raises(CutAnswerViolation, match="past 1048576"):
            asyncio.run(a2a.whole_task(agent, "00"))


def test_the_conformance_suite_fails_an_agent_sending_an_artifact_past_the_part_bound() -> None:
    """The suite's GetTask took an Artifact of any size into the Task it judges an agent by. Expect the
    case to fail on one past 1 MiB of envelopes, naming A2A-028 (a)."""
    import base64

    from conformance.suite.cases._a2a_rpc import A2AClient, RpcReply
    from conformance.suite.model import CaseFailed

    raw = base64.b64encode(b"x" * 60_000).decode()
    big = {"artifactId": "big", "parts": [{"raw": raw, "mediaType": a2a.ENVELOPE_MEDIA_TYPE}] * 18}
    suite = object.__new__(A2AClient)
    suite.call = lambda *_a, **_k: RpcReply(200, {}, result={"id": "00", "artifacts": [big]})  # type: ignore[method-assign]
    with pytest.raises(CaseFailed, match=r"A2A-028 \(a\)"):
        suite.get_task("00")


def test_the_agent_forms_no_artifact_past_the_part_bound(long_contract: LongContract) -> None:
    """The bound the client holds an agent to is one the reference keeps: each Artifact's bundle holds at
    most six envelopes (the contract's four, a Delivery and Receipt, or an Attestation and its signer's
    Mandate)."""
    neg = long_contract.node.peer.negotiation(bytes.fromhex(long_contract.task_id))
    artifacts = negotiation_artifacts(long_contract.node.peer, neg)
    assert max(len(a.parts) for a in artifacts) == 6
    assert max(_size_of(a) for a in artifacts) <= MAX_A2A_ARTIFACT_BYTES


@pytest.mark.req("A2A-028")
def test_a_browser_may_send_the_artifacts_service_parameter(
    bob: Party, clock: FixedClock, tmp_path: Path
) -> None:
    """A browser asks before it sends a header of its own (CORS): the preflight allowed A2A's headers
    alone, so a web client could not read a Task's later Artifacts. Expect it allowed on both HTTP
    bindings."""
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    try:
        with a2a.serve_a2a(node, name="bob") as server:
            base = server.card_url.split("/.well-known/")[0]
            asked = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
            allowed = [
                httpx.options(base + path, headers=asked).headers["access-control-allow-headers"]
                for path in (a2a.JSONRPC_PATH, a2a.REST_PATH + "/tasks/00")
            ]
    finally:
        node.close()
    for header in allowed:
        assert ARTIFACTS_FROM_HEADER in header.lower()


@pytest.mark.req("A2A-028")
def test_the_conformance_suite_reads_a_task_past_the_bound_whole(long_contract: LongContract) -> None:
    """The suite's GetTask (``A2AClient.get_task``, which its A2A cases judge a Task by) read one response:
    an agent holding over 1 MiB of Artifacts was judged on its first part. Expect every Artifact, in order,
    each once, the rest read from ``nextArtifact`` with ``A2A-Coop-Artifacts-From``."""
    from conformance.suite.cases._a2a_rpc import A2AClient
    from conformance.suite.context import Context, Session
    from conformance.suite.runner import load_cases

    c = long_contract
    session = Session(c.server.target, a2a_url=c.server.card_url)
    try:
        ctx = Context(session, load_cases()["a2a.artifacts"])
        task = A2AClient(ctx).get_task(c.task_id, note="the long contract's Task")
    finally:
        session.close()
    assert [a["artifactId"] for a in task["artifacts"]] == _expected(c)
    assert "nextArtifact" not in task.get("metadata", {}).get("a2aCoop", {})
    asked = [
        e.request["headers"].get("A2A-Coop-Artifacts-From") for e in ctx.transcript if "GetTask" in e.rpc
    ]
    assert asked[0] is None and len(asked) > 1 and all(asked[1:])  # the rest read by GetTask again
