"""Callers behind mutual TLS are parties, not all the operator (SPEC.md section 14.4, A2A-026, A2A-027),
against the real A2A server (grpcio and uvicorn on 127.0.0.1 with TLS) and certificates made here.

Carol serves A2A and requires client certificates signed by her CA. Her CA certified Alice and Bob so that
they can trade with her: each certificate's subjectAltName names its holder's did:key. Before A2A-026 every
caller holding a certificate of her CA was her operator's: under ``--a2a-private-tasks`` Bob read Alice's
Task -- her contract, her receipts and the Deliveries' uris -- and could make Carol withdraw her offers to
others. Mallory, certified too, relays Alice's signed Offer to Carol before Alice does, under a contextId
of his own: before A2A-027 the first sender bound the negotiation's contextId, whoever it was.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")
pytest.importorskip("cryptography")

import grpc
import httpx
from a2a.types import a2a_pb2
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from peers import make_peer
from pki import Pki

from a2a_coop import a2a
from a2a_coop.a2a.callers import OPERATOR, Callers, fingerprint, parse_callers
from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party

UNKNOWN = "ab" * 32
HEADERS = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI}
BINDINGS = ["jsonrpc", "rest", "grpc"]


@dataclass
class Holder:
    """A client certificate and its key, by name."""

    name: str
    cert: Path
    key: Path
    der: bytes


class World:
    """Carol's node, her CA's certificates (Alice's, Bob's and Mallory's naming their did:keys, one naming
    nobody, one naming Carol's own did:key, and her operator's), and Alice and Bob as trading peers."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FixedClock()
        carol = Party("carol", self.clock)
        self.alice, self.bob, self.mallory = (Party(n, self.clock) for n in ("alice", "bob", "mallory"))
        self.node = PeerNode.open(
            carol.agent.key, carol.mandate_vs.envelope, tmp_path / "carol.db", clock=lambda: self.clock.now_ms
        )
        self.pki = Pki(tmp_path)
        self.holders = {
            "alice": Holder("alice", *self.pki.issue("alice", self.alice.agent.did)),
            "bob": Holder("bob", *self.pki.issue("bob", self.bob.agent.did)),
            "mallory": Holder("mallory", *self.pki.issue("mallory", self.mallory.agent.did)),
            "nobody": Holder("nobody", *self.pki.issue("nobody")),
            "carol": Holder("carol", *self.pki.issue("carol", carol.agent.did)),
            "ops": Holder("ops", *self.pki.issue("ops")),
        }
        self.callers = {fingerprint(self.holders["ops"].der): OPERATOR}
        self.tls = self.pki.server(mutual=True)

    def serve(self, **kw: Any) -> a2a.A2AServer:
        return a2a.serve_a2a(self.node, name="carol", tls=self.tls, **kw)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.node.close()


class Client:
    """One certificate holder calling Carol's server over one binding, with its certificate."""

    def __init__(self, srv: a2a.A2AServer, world: World, holder: str, binding: str) -> None:
        self.srv, self.binding = srv, binding
        h = world.holders[holder]
        self.ssl = ssl.create_default_context(cafile=str(world.pki.dir / "ca.pem"))
        self.ssl.load_cert_chain(str(h.cert), str(h.key))
        self.base = f"https://127.0.0.1:{srv.http.port}"
        self.creds = grpc.ssl_channel_credentials(
            (world.pki.dir / "ca.pem").read_bytes(), h.key.read_bytes(), h.cert.read_bytes()
        )

    def _jsonrpc(self, method: str, params: dict[str, Any]) -> tuple[str, Any]:
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
        got = httpx.post(self.base + "/", json=body, headers=HEADERS, verify=self.ssl, timeout=10).json()
        if "error" in got:
            return str(got["error"]["data"][0]["reason"]), got["error"]
        return "", got["result"]

    def _rest(self, method: str, path: str, payload: Any = None) -> tuple[str, Any]:
        resp = httpx.request(
            method, self.base + "/a2a/rest" + path, json=payload, headers=HEADERS, verify=self.ssl, timeout=10
        )
        got = resp.json()
        if resp.status_code != 200:
            return str(got["error"]["details"][0]["reason"]), got["error"]
        return "", got

    def _grpc(self, method: str, request: Any, response: Any) -> tuple[str, Any]:
        with grpc.secure_channel(f"127.0.0.1:{self.srv.grpc.port}", self.creds) as channel:
            call = channel.unary_unary(f"/lf.a2a.v1.A2AService/{method}")
            try:
                metadata = [(k.lower(), v) for k, v in HEADERS.items()]
                raw = call(request.SerializeToString(), metadata=metadata, timeout=10)
            except grpc.RpcError as err:
                trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
                status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
                for detail in status.details:
                    info = error_details_pb2.ErrorInfo()
                    if detail.Unpack(info) and info.domain == "a2a-protocol.org":
                        return str(info.reason), {"code": str(err.code()), "message": err.details()}
                raise
        return "", json_format.MessageToDict(response.FromString(raw))

    def get_task(self, task_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("GetTask", {"id": task_id})
        if self.binding == "rest":
            return self._rest("GET", f"/tasks/{task_id}")
        return self._grpc("GetTask", a2a_pb2.GetTaskRequest(id=task_id), a2a_pb2.Task)

    def cancel(self, task_id: str) -> tuple[str, Any]:
        if self.binding == "jsonrpc":
            return self._jsonrpc("CancelTask", {"id": task_id})
        if self.binding == "rest":
            return self._rest("POST", f"/tasks/{task_id}:cancel", {})
        return self._grpc("CancelTask", a2a_pb2.CancelTaskRequest(id=task_id), a2a_pb2.Task)

    def list_tasks(self, context_id: str) -> list[str]:
        if self.binding == "jsonrpc":
            reason, got = self._jsonrpc("ListTasks", {"contextId": context_id, "includeArtifacts": True})
        elif self.binding == "rest":
            reason, got = self._rest("GET", f"/tasks?contextId={context_id}&includeArtifacts=true")
        else:
            request = a2a_pb2.ListTasksRequest(context_id=context_id, include_artifacts=True)
            reason, got = self._grpc("ListTasks", request, a2a_pb2.ListTasksResponse)
        assert reason == "", got
        return [t["id"] for t in got.get("tasks", [])]

    def send(self, envelope: bytes, context: list[bytes], context_id: str = "") -> dict[str, Any]:
        """SendMessage of a statement; the Task answered (as JSON)."""
        msg = a2a.statement_message(envelope, context, context_id=context_id)
        request = a2a_pb2.SendMessageRequest(message=msg)
        if self.binding == "grpc":
            reason, got = self._grpc("SendMessage", request, a2a_pb2.SendMessageResponse)
        elif self.binding == "jsonrpc":
            reason, got = self._jsonrpc("SendMessage", json_format.MessageToDict(request))
        else:
            reason, got = self._rest("POST", "/message:send", json_format.MessageToDict(request))
        assert reason == "", got
        return dict(got["task"])


def trade(client: Client, peer: Peer, carol: str, party: Party, context_id: str) -> str:
    """``party`` trades with Carol to the end over ``client``, under ``context_id``; the Task id."""
    offer = peer.propose(carol, party.proposal())
    task = client.send(offer.envelope, peer.send_context(), context_id)
    queue = peer.on_replies(_answers(task))
    while queue:
        vs = queue.pop(0)
        task = client.send(vs.envelope, peer.send_context(), context_id)
        queue += peer.on_replies(_answers(task))
    return str(task["id"])


def _answers(task: dict[str, Any]) -> list[bytes]:
    parts = task.get("status", {}).get("message", {}).get("parts", [])
    return [a2a.envelope_of(json_format.ParseDict(p, a2a_pb2.Part())) for p in parts]


def _without_id(answer: tuple[str, Any], task_id: str) -> str:
    return json.dumps(answer).replace(task_id, UNKNOWN)


@pytest.mark.req("A2A-026", "A2A-025", "A2A-019", "A2A-022")
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_counterparty_behind_mutual_tls_reads_only_its_own_tasks(world: World, binding: str) -> None:
    """Alice and Bob each complete a trade with Carol, each under a contextId of its own, over mutual TLS.
    With the old rule (every certified caller the operator's: ``operator=lambda _: True``, what serve_a2a
    defaulted to behind mutual TLS) Bob's GetTask of Alice's Task id -- in every statement of her trade --
    returns her contract and receipt: the leak. Under A2A-026 Bob gets, on GetTask and CancelTask of it,
    exactly the answer of an unknown Task, and ListTasks of Alice's contextId lists nothing to him; his own
    Task he reads; Alice reads hers; a certificate naming nobody reads none; the operator's certificate
    (listed in the callers file) reads both, and only it makes Carol withdraw."""
    w = world
    carol = w.node.peer.did
    with w.serve(private_tasks=True, callers=w.callers) as srv:
        alice_task = trade(
            Client(srv, w, "alice", binding), make_peer(w.alice, w.clock), carol, w.alice, "ctx-alice"
        )
        bob_task = trade(Client(srv, w, "bob", binding), make_peer(w.bob, w.clock), carol, w.bob, "ctx-bob")
    for task_id in (alice_task, bob_task):
        assert w.node.peer.negotiation(bytes.fromhex(task_id)).state is State.FULFILLED

    with w.serve(private_tasks=True, operator=lambda _ctx: True) as srv:  # the old rule
        reason, leaked = Client(srv, w, "bob", binding).get_task(alice_task)
        assert reason == "" and {a["name"] for a in leaked["artifacts"]} == {"contract", "receipt"}, (
            "no leak to close: Bob did not read Alice's Task under the old rule"
        )

    with w.serve(private_tasks=True, callers=w.callers) as srv:
        bob = Client(srv, w, "bob", binding)
        for ask in (bob.get_task, bob.cancel):
            known, unknown = ask(alice_task), ask(UNKNOWN)
            assert known[0] == "TASK_NOT_FOUND", (ask.__name__, known)
            assert _without_id(known, alice_task) == json.dumps(unknown), ask.__name__
        assert bob.list_tasks("ctx-alice") == [] and bob.list_tasks("ctx-bob") == [bob_task]
        reason, own = bob.get_task(bob_task)
        assert reason == "" and {a["name"] for a in own["artifacts"]} == {"contract", "receipt"}
        # A party is no operator: its own Task exists for it, so CancelTask says why it is refused.
        reason, error = bob.cancel(bob_task)
        assert reason == "TASK_NOT_CANCELABLE", error

        alice = Client(srv, w, "alice", binding)
        assert alice.get_task(alice_task)[0] == "" and alice.get_task(bob_task)[0] == "TASK_NOT_FOUND"
        assert alice.list_tasks("ctx-alice") == [alice_task] and alice.list_tasks("ctx-bob") == []

        nobody = Client(srv, w, "nobody", binding)
        assert nobody.get_task(alice_task)[0] == nobody.get_task(bob_task)[0] == "TASK_NOT_FOUND"
        assert nobody.list_tasks("ctx-alice") == []

        ops = Client(srv, w, "ops", binding)
        for task_id in (alice_task, bob_task):
            reason, task = ops.get_task(task_id)
            assert reason == "" and task["artifacts"], task
        assert ops.list_tasks("ctx-alice") == [alice_task] and ops.list_tasks("ctx-bob") == [bob_task]
        assert ops.cancel(alice_task)[0] == "TASK_NOT_CANCELABLE"  # fulfilled: nothing to withdraw


@pytest.mark.req("A2A-026", "A2A-022")
def test_only_the_operators_certificate_makes_the_agent_withdraw(world: World) -> None:
    """CancelTask makes Carol sign. Carol offers Alice a trade; Bob, certified by her CA to trade with her
    himself, sends CancelTask of that Task (its id is in Carol's Offer). Before A2A-026 every certified
    caller was the operator's, and Carol withdrew. Expect Bob answered as for an unknown Task
    (TASK_NOT_FOUND under private Tasks; TASK_NOT_CANCELABLE without them, A2A-022), Alice -- a party,
    not the operator -- refused TASK_NOT_CANCELABLE, Carol's offer still open, and her operator's
    certificate withdrawing it."""
    w = world
    offer = w.node.peer.propose(w.alice.agent.did, w.alice.proposal())
    task_id = offer.header.negotiation_id.hex()
    with w.serve(callers=w.callers) as srv:
        assert Client(srv, w, "bob", "jsonrpc").cancel(task_id)[0] == "TASK_NOT_CANCELABLE"
    with w.serve(private_tasks=True, callers=w.callers) as srv:
        assert Client(srv, w, "bob", "rest").cancel(task_id)[0] == "TASK_NOT_FOUND"
        assert Client(srv, w, "nobody", "grpc").cancel(task_id)[0] == "TASK_NOT_FOUND"
        assert Client(srv, w, "alice", "grpc").cancel(task_id)[0] == "TASK_NOT_CANCELABLE"
        assert w.node.peer.negotiation(offer.header.negotiation_id).state is State.PROPOSED
        reason, task = Client(srv, w, "ops", "grpc").cancel(task_id)
        assert reason == "" and task["status"]["state"] == "TASK_STATE_CANCELED"
    assert w.node.peer.negotiation(offer.header.negotiation_id).state is State.WITHDRAWN


@pytest.mark.req("A2A-026", "A2A-022", "A2A-025")
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_certificate_naming_the_agents_own_did_is_no_operator_unless_the_operator_says_so(
    world: World, binding: str
) -> None:
    """The attack: Carol's CA certifies counterparties by the did:key they ask for (that is how it names
    parties, A2A-026 (b)), so Mallory asked it for a certificate naming Carol's own did:key. Before, that
    certificate was the operator's: under private Tasks it read every Task of Carol's and made her withdraw
    her offer to Alice. Expect it judged a stranger's -- TASK_NOT_FOUND for GetTask and CancelTask, as for
    an unknown Task, Carol's offer still open -- unless Carol's operator opted in (``own_did_operator``,
    ``serve --own-did-operator``): then it withdraws, as the operator's listed certificate does."""
    w = world
    offer = w.node.peer.propose(w.alice.agent.did, w.alice.proposal())
    task_id = offer.header.negotiation_id.hex()
    with w.serve(private_tasks=True, callers=w.callers) as srv:
        forged = Client(srv, w, "carol", binding)
        assert Client(srv, w, "ops", binding).get_task(task_id)[0] == ""  # the Task is there
        assert forged.get_task(task_id)[0] == "TASK_NOT_FOUND"
        assert forged.cancel(task_id)[0] == "TASK_NOT_FOUND"
        assert w.node.peer.negotiation(offer.header.negotiation_id).state is State.PROPOSED
    with w.serve(private_tasks=True, callers=w.callers, own_did_operator=True) as srv:
        mine = Client(srv, w, "carol", binding)
        assert mine.get_task(task_id)[0] == ""
        reason, task = mine.cancel(task_id)
        assert reason == "" and task["status"]["state"] == "TASK_STATE_CANCELED"
    assert w.node.peer.negotiation(offer.header.negotiation_id).state is State.WITHDRAWN


@pytest.mark.req("A2A-027", "A2A-024", "A2A-020", "A2A-017")
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_relayer_that_delivers_a_partys_offer_first_binds_no_context(world: World, binding: str) -> None:
    """Mallory holds Alice's signed Offer to Carol (Alice sent it to him, or he read it off a wire) and
    delivers it first, under his contextId, with his own certificate. Before A2A-027 the first sender
    bound the negotiation's contextId: ListTasks of Mallory's context listed Alice's negotiation, and her
    own context never did. Expect the relay taken (Carol answers Mallory, the negotiation is held: the
    attack happened), nothing bound -- Mallory's context lists nothing, even to the operator, and his
    answer shows the Task id as contextId -- and Alice's own message, under her contextId with her
    certificate, binding it: her context lists it, her answer names it back. Tasks are open here (no
    --a2a-private-tasks): the binding alone decides what a context lists."""
    w = world
    pa = make_peer(w.alice, w.clock)
    offer = pa.propose(w.node.peer.did, w.alice.proposal())
    task_id = offer.header.negotiation_id.hex()
    with w.serve(callers=w.callers) as srv:
        mallory = Client(srv, w, "mallory", binding)
        relayed = mallory.send(offer.envelope, pa.send_context(), "ctx-mallory")
        assert relayed["id"] == task_id and _answers(relayed), "the relay was not taken"
        assert w.node.peer.negotiation(offer.header.negotiation_id).state is not None
        assert relayed["contextId"] == task_id
        assert mallory.list_tasks("ctx-mallory") == []
        ops = Client(srv, w, "ops", binding)
        assert ops.list_tasks("ctx-mallory") == [], "Mallory's relay bound Alice's negotiation to his context"
        # A certificate naming nobody binds nothing either.
        assert (
            Client(srv, w, "nobody", binding).send(offer.envelope, pa.send_context(), "ctx-x")["contextId"]
            == task_id
        )
        assert ops.list_tasks("ctx-x") == []

        alice = Client(srv, w, "alice", binding)
        mine = alice.send(offer.envelope, pa.send_context(), "ctx-alice")
        assert mine["contextId"] == "ctx-alice" and _answers(mine) == _answers(relayed)
        assert ops.list_tasks("ctx-alice") == [task_id] and alice.list_tasks("ctx-alice") == [task_id]
        # Bound once: Mallory's next relay, under his context, binds nothing and is not told Alice's.
        again = mallory.send(offer.envelope, pa.send_context(), "ctx-mallory")
        assert again["contextId"] == task_id and "ctx-alice" not in json.dumps(again)
        assert ops.list_tasks("ctx-mallory") == [] and ops.list_tasks("ctx-alice") == [task_id]


@pytest.mark.req("A2A-026")
def test_who_a_certificate_is() -> None:
    """Callers.identify: a certificate listed in the callers file is what it says (its listing wins over
    its subjectAltName; listed as the agent's own did:key, the operator's); else the one did:key its
    subjectAltName names -- the agent's own did:key a stranger's, unless ``own_did_operator``, then the
    operator's; several did:keys, or an invalid one, name nobody; without a certificate, loopback is the
    operator's and any other address a stranger."""
    import tempfile

    from a2a.server.context import ServerCallContext

    from a2a_coop.a2a.callers import CALLER_STATE_KEY, CLIENT_CERT_STATE_KEY

    clock = FixedClock()
    agent, alice, bob = (Party(n, clock).agent.did for n in ("carol", "alice", "bob"))
    with tempfile.TemporaryDirectory() as d:
        pki = Pki(Path(d))
        certs = {
            "alice": pki.issue("a", alice)[2],
            "listed": pki.issue("l", alice)[2],
            "agent": pki.issue("g", agent)[2],
            "ops": pki.issue("o")[2],
            "two": pki.issue("t", alice, bob)[2],
            "bad": pki.issue("x", "did:key:zNotAKey")[2],
            "none": pki.issue("n")[2],
        }
    callers = Callers({fingerprint(certs["listed"]): bob, fingerprint(certs["ops"]): agent}, agent)
    trusting = Callers(callers.listed, agent, own_did_operator=True)

    def who(der: bytes | None, address: str = "203.0.113.9", judge: Callers = callers) -> str:
        state: dict[str, Any] = {CALLER_STATE_KEY: address}
        if der is not None:
            state[CLIENT_CERT_STATE_KEY] = der
        return judge.identify(ServerCallContext(state=state))

    assert who(certs["alice"]) == alice
    assert who(certs["listed"]) == bob
    # the CA named the agent's own did:key: a stranger, unless the operator opted in (A2A-026 (a))
    assert who(certs["agent"]) == "" and who(certs["agent"], judge=trusting) == OPERATOR
    assert who(certs["ops"]) == OPERATOR  # the operator listed it as the agent's did:key: its own choice
    assert who(certs["two"]) == who(certs["bad"]) == who(certs["none"]) == ""
    assert who(certs["none"], "127.0.0.1") == ""  # a certificate, not the address, says who
    assert who(None, "127.0.0.1") == OPERATOR and who(None) == ""


@pytest.mark.req("A2A-026")
def test_the_callers_file() -> None:
    """The callers file: a SHA-256 fingerprint (as openssl prints it, or bare hex) then ``operator`` or a
    did:key, one a line; anything else is refused naming its line."""
    did = Party("alice", FixedClock()).agent.did
    hexed = "3a" * 32
    text = f"# ops\nsha256 Fingerprint={':'.join(['3A'] * 32)}  operator\n{'4b' * 32} {did}  # alice\n\n"
    assert parse_callers(text) == {bytes.fromhex(hexed): OPERATOR, bytes.fromhex("4b" * 32): did}
    for bad, says in [
        ("3a3a operator", "line 1: expected"),
        (f"{hexed} did:key:zNope", "neither 'operator' nor"),
        (f"{hexed} operator\n{hexed} {did}", "line 2: that certificate is listed twice"),
        ("operator", "line 1: expected"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_callers(bad)


@pytest.mark.req("A2A-026")
def test_a_party_refused_a_task_costs_the_agent_what_an_unknown_task_does(world: World) -> None:
    """A party refused a Task it is no party to is told so by one journal query for the Task's opening
    statement (its parties), as an unknown Task is: the same answer after the same work. Had the refusal
    stopped at a memory hit, the journal read an unknown Task costs would tell a held Task from an unknown
    one by timing (tens of microseconds, over many calls); a Task the agent forgot is not rebuilt to be
    refused (tests/test_attack20_a2a.py). Counted, not timed."""
    from a2a.server.context import ServerCallContext

    w = world
    pa = make_peer(w.alice, w.clock)
    offer = pa.propose(w.node.peer.did, w.alice.proposal())
    w.node.exchange(offer.envelope, pa.send_context())
    held = offer.header.negotiation_id.hex()
    journal = w.node.journal
    assert journal is not None
    read = journal._read
    looked: list[Any] = []

    def counted(sql: str, args: Any, **kw: Any) -> Any:
        looked.append(args)
        return read(sql, args, **kw)

    journal._read = counted  # type: ignore[method-assign]
    handler = a2a.CoopRequestHandler(
        w.node, a2a_pb2.AgentCard, identify=lambda _ctx: w.bob.agent.did, private_tasks=True
    )
    answers = []
    for task_id in (held, UNKNOWN):
        looked.clear()
        with pytest.raises(Exception) as refused:
            handler._visible(task_id, ServerCallContext(state={}))
        answers.append((type(refused.value).__name__, str(refused.value).replace(task_id, "ID")))
        assert len(looked) == 1 and looked[0] == (bytes.fromhex(task_id),), (task_id, looked)
    assert answers[0] == answers[1] and answers[0][0] == "TaskNotFoundError"
    del journal._read
