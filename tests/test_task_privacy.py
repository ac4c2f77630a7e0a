"""Private A2A Tasks (A2A-025): under ``serve --a2a-private-tasks`` an agent serves ``GetTask``,
``SubscribeToTask``, ``ListTasks`` and ``CancelTask`` only to its operator's callers and answers anyone
else as for a Task it does not hold; a ``SendMessage`` answer to anyone else carries the signed answers
(RPC-003) but no Artifacts. A Task id is the negotiation id -- in every statement of the negotiation
and in an escrow's transcript -- so without the option anyone holding one statement reads the contract,
the receipts and the Deliveries' uris.

The caller's address is set without a network (the ASGI transport on the HTTP bindings, the servicer's
context on gRPC), as tests/test_trust_gaps.py does for A2A-022; one test calls over a real network too."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")

import grpc
import httpx
from a2a.types import a2a_pb2
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from peers import make_peer
from test_a2a import factory, send
from test_trust_gaps import _local_address

from a2a_coop import a2a
from a2a_coop.a2a.service import A2AServicer
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Party

STRANGER = "203.0.113.9"  # TEST-NET-3: a caller on another host
OPERATOR = "127.0.0.1"
CONTEXT = "ctx-alice"
UNKNOWN = "ab" * 32
HEADERS = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI}


class Trade:
    """Bob's node, and a trade Alice completed with him over A2A under ``CONTEXT``."""

    def __init__(self, node: PeerNode, srv: a2a.A2AServer, task_id: str, resend: a2a_pb2.Message) -> None:
        self.node = node
        self.card = srv.card
        self.task_id = task_id
        self.resend = resend  # Alice's Offer as she sent it: anyone who holds it may send it again


@pytest.fixture
def trade(tmp_path: Path) -> Iterator[Trade]:
    clock = FixedClock()
    bob, alice = Party("bob", clock), Party("alice", clock)
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    try:
        pa = make_peer(alice, clock)
        offer = pa.propose(node.peer.did, alice.proposal())
        first = a2a.statement_message(offer.envelope, pa.send_context(), context_id=CONTEXT)

        with a2a.serve_a2a(node, name="bob") as srv:

            async def go() -> str:
                async with await factory().create_from_url(srv.card_url) as client:
                    (resp,) = await send(client, first, a2a.activation())
                    queue = pa.on_replies(a2a.answers_of(resp))
                    while queue:
                        vs = queue.pop(0)
                        msg = a2a.statement_message(vs.envelope, pa.send_context(), task_id=resp.task.id)
                        (resp,) = await send(client, msg, a2a.activation())
                        queue += pa.on_replies(a2a.answers_of(resp))
                return str(resp.task.id)

            trade = Trade(node, srv, asyncio.run(go()), first)
        assert node.peer.negotiation(bytes.fromhex(trade.task_id)).state is State.FULFILLED
        yield trade
    finally:
        node.close()


# --- asking over each binding, from a given address, without a network ------------------------------


class _Aborted(Exception):
    pass


class _GrpcContext:
    """The part of a grpc.ServicerContext the A2A servicer uses, the peer string chosen."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self.status: grpc.Status | None = None

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("a2a-version", "1.0"), ("a2a-extensions", a2a.EXTENSION_URI)]

    def peer(self) -> str:
        return self._peer

    def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise _Aborted

    def send_initial_metadata(self, metadata: Any) -> None:
        pass

    def add_callback(self, callback: Any) -> bool:
        return True

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> float:  # the call's deadline is ahead (RPC-009)
        return 10.0


def _grpc_reason(status: grpc.Status) -> str:
    details = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    for detail in details.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == "a2a-protocol.org":
            return str(info.reason)
    raise AssertionError("no a2a-protocol.org ErrorInfo")


class Caller:
    """One caller, at ``host``, of Bob's A2A bindings (private Tasks or not). Each operation returns
    ``(error reason or "", result as JSON)``; streams return their events as a list."""

    def __init__(self, trade: Trade, binding: str, host: str, *, private: bool) -> None:
        self.binding = binding
        self.host = host
        self.handler = a2a.CoopRequestHandler(trade.node, trade.card, private_tasks=private)
        self.app = a2a.http_app(self.handler, trade.card)

    # HTTP bindings: the ASGI transport sets the client address.
    async def _post(self, path: str, payload: Any, method: str = "POST") -> httpx.Response:
        transport = httpx.ASGITransport(self.app, client=(self.host, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bob") as client:
            return await client.request(method, path, json=payload, headers=HEADERS)

    def _http(self, path: str, payload: Any = None, method: str = "POST") -> httpx.Response:
        return asyncio.run(self._post(path, payload, method))

    def _jsonrpc(self, method: str, params: dict[str, Any]) -> tuple[str, Any]:
        resp = self._http("/", {"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
        if resp.headers["content-type"].startswith("text/event-stream"):
            events = [json.loads(line[5:]) for line in resp.text.splitlines() if line.startswith("data:")]
            errors = [e["error"] for e in events if "error" in e]
            if errors:
                return str(errors[0]["data"][0]["reason"]), errors[0]
            return "", [e["result"] for e in events]
        got = resp.json()
        if "error" in got:
            return str(got["error"]["data"][0]["reason"]), got["error"]
        return "", got["result"]

    def _rest(self, method: str, path: str, payload: Any = None) -> tuple[str, Any]:
        resp = self._http("/a2a/rest" + path, payload, method)
        if resp.headers["content-type"].startswith("text/event-stream"):
            return "", [json.loads(line[5:]) for line in resp.text.splitlines() if line.startswith("data:")]
        got = resp.json()
        if resp.status_code != 200:
            return str(got["error"]["details"][0]["reason"]), got["error"]
        return "", got

    # gRPC: the servicer itself, its context's peer string the caller's.
    def _grpc(self, method: str, request: Any) -> tuple[str, Any]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            servicer = A2AServicer(self.handler, loop)
            context = _GrpcContext(f"ipv4:{self.host}:4000")
            streaming = method in ("SubscribeToTask", "SendStreamingMessage")
            try:
                if streaming:
                    call = servicer._streaming(method, type(request))
                    got: Any = [
                        json_format.MessageToDict(e) for e in call(request.SerializeToString(), context)
                    ]
                else:
                    result = servicer._unary(method, type(request))(request.SerializeToString(), context)
                    got = json_format.MessageToDict(result)
            except _Aborted:
                assert context.status is not None
                return _grpc_reason(context.status), {"message": context.status.details}
            if streaming and context.status is not None:
                return _grpc_reason(context.status), {}
            return "", got
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    def get_task(self, task_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("GetTask", {"id": task_id})
        if self.binding == "rest":
            return self._rest("GET", f"/tasks/{task_id}")
        return self._grpc("GetTask", a2a_pb2.GetTaskRequest(id=task_id))

    def subscribe(self, task_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("SubscribeToTask", {"id": task_id})
        if self.binding == "rest":
            return self._rest("GET", f"/tasks/{task_id}:subscribe")
        return self._grpc("SubscribeToTask", a2a_pb2.SubscribeToTaskRequest(id=task_id))

    def cancel(self, task_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("CancelTask", {"id": task_id})
        if self.binding == "rest":
            return self._rest("POST", f"/tasks/{task_id}:cancel", {})
        return self._grpc("CancelTask", a2a_pb2.CancelTaskRequest(id=task_id))

    def list_tasks(self, context_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("ListTasks", {"contextId": context_id, "includeArtifacts": True})
        if self.binding == "rest":
            return self._rest("GET", f"/tasks?contextId={context_id}&includeArtifacts=true")
        return self._grpc(
            "ListTasks", a2a_pb2.ListTasksRequest(context_id=context_id, include_artifacts=True)
        )

    def send(self, message: a2a_pb2.Message, *, stream: bool = False) -> tuple[str, Any]:
        request = a2a_pb2.SendMessageRequest(message=message)
        if self.binding == "grpc":
            return self._grpc("SendStreamingMessage" if stream else "SendMessage", request)
        params = json_format.MessageToDict(request)
        if self.binding == "jsonrpc":
            return self._jsonrpc("SendStreamingMessage" if stream else "SendMessage", params)
        return self._rest("POST", "/message:stream" if stream else "/message:send", params)


def _task_of(result: Any) -> Any:
    """The Task in a GetTask or SendMessage result (JSON)."""
    return result.get("task", result)


def _without_id(reason_and_error: tuple[str, Any], task_id: str) -> str:
    return json.dumps(reason_and_error).replace(task_id, UNKNOWN)


BINDINGS = ["jsonrpc", "rest", "grpc"]


@pytest.mark.req("A2A-025", "A2A-019")
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_stranger_reads_no_private_task_and_is_told_it_does_not_exist(trade: Trade, binding: str) -> None:
    """Bob completed a trade with Alice; its Task id (the negotiation id) is in every statement of it.
    Without private Tasks a caller from another host reads the contract and receipts with GetTask -- the
    leak the option closes. Under it, the same caller gets, on GetTask, SubscribeToTask and CancelTask,
    exactly the answer of an unknown Task (TASK_NOT_FOUND, the id aside), and an empty ListTasks of the
    context; Bob's operator, on his host, still gets all of it."""
    open_bob = Caller(trade, binding, STRANGER, private=False)
    reason, task = open_bob.get_task(trade.task_id)
    assert reason == "" and {a["name"] for a in task["artifacts"]} == {"contract", "receipt"}, (
        "no leak to close"
    )

    stranger = Caller(trade, binding, STRANGER, private=True)
    for ask in (stranger.get_task, stranger.subscribe, stranger.cancel):
        known, unknown = ask(trade.task_id), ask(UNKNOWN)
        assert known[0] == "TASK_NOT_FOUND", (ask.__name__, known)
        assert _without_id(known, trade.task_id) == json.dumps(unknown), ask.__name__
    reason, listed = stranger.list_tasks(CONTEXT)
    assert reason == "" and not listed.get("tasks") and int(listed.get("totalSize", 0)) == 0
    assert stranger.list_tasks(CONTEXT) == stranger.list_tasks("ctx-nobody-used")

    operator = Caller(trade, binding, OPERATOR, private=True)
    reason, task = operator.get_task(trade.task_id)
    assert reason == "" and task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert {a["name"] for a in task["artifacts"]} == {"contract", "receipt"}
    assert operator.subscribe(trade.task_id)[0] == "UNSUPPORTED_OPERATION"  # terminal: nothing to follow
    assert operator.cancel(trade.task_id)[0] == "TASK_NOT_CANCELABLE"
    reason, listed = operator.list_tasks(CONTEXT)
    assert reason == "" and [t["id"] for t in listed["tasks"]] == [trade.task_id]
    assert listed["tasks"][0]["artifacts"] and listed["tasks"][0]["contextId"] == CONTEXT
    assert trade.node.peer.negotiation(bytes.fromhex(trade.task_id)).state is State.FULFILLED


@pytest.mark.req("A2A-025", "RPC-003")
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_resent_statement_gets_its_answers_but_no_artifacts_from_a_private_agent(
    trade: Trade, binding: str
) -> None:
    """Alice's Offer, sent again by anyone who holds it (her, or a reader of the escrow's transcript),
    still gets Bob's signed answers (RPC-003: a party that lost its answer gets it again), but under
    private Tasks the Task in the answer -- and the stream's events -- carry no Artifact to a caller that
    is not Bob's operator; his operator's resend carries them."""
    for stream in (False, True):
        stranger = Caller(trade, binding, STRANGER, private=True)
        reason, got = stranger.send(trade.resend, stream=stream)
        assert reason == "", got
        events = got if stream else [got]
        texts = json.dumps(events)
        assert "artifactUpdate" not in texts and '"artifacts"' not in texts, (stream, texts[:400])
        status = events[-1].get("statusUpdate", _task_of(events[-1]))["status"]
        answers = [
            verify_statement(a2a.envelope_of(json_format.ParseDict(p, a2a_pb2.Part())))
            for p in status["message"]["parts"]
        ]
        assert [vs.body for vs in answers] == ["mandate", "accept", "delivery"]

        operator = Caller(trade, binding, OPERATOR, private=True)
        reason, got = operator.send(trade.resend, stream=stream)
        assert reason == "" and '"artifacts"' in json.dumps(got), (stream, got)


@pytest.mark.req("A2A-025")
def test_a_private_agent_refuses_an_unsigned_message_naming_its_task_as_an_unknown_one(trade: Trade) -> None:
    """A message without a2a-coop Parts naming a Task is refused (A2A-010) -- saying the Task is an a2a-coop
    negotiation when the agent holds it, TASK_NOT_FOUND otherwise: under private Tasks a stranger gets
    TASK_NOT_FOUND for both."""

    def plain(task_id: str) -> a2a_pb2.Message:
        return a2a_pb2.Message(
            message_id="m-1", role=a2a_pb2.ROLE_USER, task_id=task_id, parts=[a2a_pb2.Part(text="accepted")]
        )

    assert Caller(trade, "jsonrpc", STRANGER, private=False).send(plain(trade.task_id))[0] == "INVALID_PARAMS"
    stranger = Caller(trade, "jsonrpc", STRANGER, private=True)
    known, unknown = stranger.send(plain(trade.task_id)), stranger.send(plain(UNKNOWN))
    assert known[0] == "TASK_NOT_FOUND"
    assert _without_id(known, trade.task_id) == json.dumps(unknown)


@pytest.mark.req("A2A-025")
def test_private_tasks_over_a_network_on_every_binding(trade: Trade) -> None:
    """The same over the wire: ``serve_a2a(private_tasks=True)`` on every interface; GetTask from this
    host's non-loopback address is TASK_NOT_FOUND on JSON-RPC, HTTP+JSON and gRPC, from loopback the Task;
    and a caller lying with ``X-Forwarded-For: 127.0.0.1`` from another host gains nothing."""
    far = _local_address()
    if far is None:
        pytest.skip("this host has no non-loopback address to call from")
    with a2a.serve_a2a(trade.node, host="0.0.0.0", name="bob", private_tasks=True) as srv:
        for host, expect in ((far, "TASK_NOT_FOUND"), ("127.0.0.1", "")):
            base = f"http://{host}:{srv.http.port}"
            body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": trade.task_id}}
            got = httpx.post(base + "/", json=body, headers=HEADERS, timeout=10).json()
            assert (got["error"]["data"][0]["reason"] if "error" in got else "") == expect, got
            resp = httpx.get(f"{base}/a2a/rest/tasks/{trade.task_id}", headers=HEADERS, timeout=10)
            assert resp.status_code == (404 if expect else 200), resp.text
            with grpc.insecure_channel(f"{host}:{srv.grpc.port}") as ch:
                call = ch.unary_unary("/lf.a2a.v1.A2AService/GetTask")
                request = a2a_pb2.GetTaskRequest(id=trade.task_id).SerializeToString()
                try:
                    call(request, metadata=[("a2a-version", "1.0")], timeout=10)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as err:
                    code = err.code()
            assert code == (grpc.StatusCode.NOT_FOUND if expect else grpc.StatusCode.OK)

        # X-Forwarded-For counts only from a proxy on the agent's host (uvicorn's forwarded_allow_ips):
        # a stranger naming loopback in it is still a stranger, and a proxy on the host that forwards a
        # stranger's address makes its caller one.
        def get(host: str, forwarded: str) -> int:
            headers = {**HEADERS, "X-Forwarded-For": forwarded}
            url = f"http://{host}:{srv.http.port}/a2a/rest/tasks/{trade.task_id}"
            return httpx.get(url, headers=headers, timeout=10).status_code

        assert get(far, "127.0.0.1") == 404
        assert get("127.0.0.1", STRANGER) == 404
        assert get("127.0.0.1", "127.0.0.1") == 200
