"""Who binds an A2A contextId, and who is shown it (SPEC.md section 14.4, A2A-024), against the real
A2A server (grpcio and the HTTP bindings on 127.0.0.1), driven over JSON-RPC as any client would.

A contextId is the only key ListTasks takes (A2A-017): whoever names one sees every Task bound to it.
A statement is no secret from everyone -- an escrow's transcript shows every statement of a bonded
trade, and a party or a relayer may pass one on -- and a verified signature says who signed it, never
who sent it. Mallory, a third party holding one of Alice's statements, resends it over A2A.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")

import httpx
from a2a.server.context import ServerCallContext
from google.protobuf import json_format
from peers import make_peer

from a2a_coop import a2a
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import CooperationClient


@pytest.fixture
def node(bob: Party, clock: FixedClock, tmp_path: Path) -> Iterator[PeerNode]:
    n = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms)
    yield n
    n.close()


PARTY_HEADER = "x-test-party"


def _by_header(context: ServerCallContext) -> str:
    """Who calls, as a test says: the did:key in PARTY_HEADER, else a stranger -- a stand-in for the client
    certificate A2A-026 identifies a party by (tests/test_party_tasks.py does it with real ones)."""
    return str((context.state.get("headers") or {}).get(PARTY_HEADER, ""))


@pytest.fixture
def server(node: PeerNode) -> Iterator[a2a.A2AServer]:
    # Nobody is taken for Bob's operator (A2A-022), as for a caller off his host; a party only when a
    # request says so in PARTY_HEADER (the transport's authentication, A2A-026, stood in for).
    with a2a.serve_a2a(node, name="bob", identify=_by_header) as srv:
        yield srv


def rpc(server: a2a.A2AServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    resp = httpx.post(server.card_url + "/", json=body, headers={"A2A-Version": "1.0"}, timeout=10)
    assert resp.status_code == 200
    reply = resp.json()
    assert "result" in reply, reply
    return dict(reply["result"])


def send(
    server: a2a.A2AServer, envelope: bytes, context: list[bytes], context_id: str = "", *, party: str = ""
) -> dict[str, Any]:
    """SendMessage over JSON-RPC, the extension activated, from ``party`` (a did:key; "" a stranger); the
    Task answered."""
    msg = a2a.statement_message(envelope, context, context_id=context_id)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {"message": json_format.MessageToDict(msg)},
    }
    headers = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI}
    if party:
        headers[PARTY_HEADER] = party
    resp = httpx.post(server.card_url + "/", json=body, headers=headers, timeout=10)
    assert resp.status_code == 200
    reply = resp.json()
    assert "result" in reply, reply
    return dict(reply["result"]["task"])


def listed(server: a2a.A2AServer, context_id: str) -> list[str]:
    return [t["id"] for t in rpc(server, "ListTasks", {"contextId": context_id}).get("tasks", [])]


def answer_parts(task: dict[str, Any]) -> int:
    return len(task.get("status", {}).get("message", {}).get("parts", []))


@pytest.mark.req("A2A-024", "A2A-017", "A2A-020")
def test_a_resent_statement_does_not_learn_the_partys_context_id(
    server: a2a.A2AServer, node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """Alice opens two negotiations with Bob over A2A under her contextId. Mallory holds Alice's first
    Offer (an escrow's transcript shows it) and resends it under a contextId of his. Before A2A-024 the
    answer's Task carried Alice's contextId, and ListTasks of it then showed Mallory Alice's other
    negotiation, one no one had shown him (so did GetTask of the first). Expect Mallory shown the Task id
    as the contextId, everywhere he did not name Alice's, his context listing nothing, and Alice still
    listing both under hers, and still shown her contextId when she names it."""
    pa = make_peer(alice, clock)
    secret = "alice-private-context"
    me = alice.agent.did
    first = pa.propose(node.peer.did, alice.proposal())
    t1 = send(server, first.envelope, pa.send_context(), secret, party=me)
    clock.advance(1000)
    second = pa.propose(node.peer.did, alice.proposal())
    t2 = send(server, second.envelope, pa.send_context(), secret, party=me)
    assert t1["contextId"] == secret and t2["contextId"] == secret
    assert sorted(listed(server, secret)) == sorted([t1["id"], t2["id"]])

    # Mallory resends Alice's first Offer (and her Mandate) under his own contextId.
    resent = send(server, first.envelope, pa.send_context(), "mallory")
    assert resent["id"] == t1["id"]
    assert answer_parts(resent) == answer_parts(t1)  # the same answers (RPC-003): a bearer retry
    assert resent["contextId"] != secret, "the resend's answer told Mallory Alice's contextId"
    assert resent["contextId"] == t1["id"]
    assert secret not in str(resent)
    # Nor does GetTask, nor a resend naming no contextId, tell it.
    got = rpc(server, "GetTask", {"id": t1["id"]})
    assert got["contextId"] == t1["id"] and secret not in str(got)
    assert send(server, first.envelope, pa.send_context())["contextId"] == t1["id"]
    # Mallory's context binds nothing; Alice's still holds both, and names hers back to her.
    assert listed(server, "mallory") == []
    assert sorted(listed(server, secret)) == sorted([t1["id"], t2["id"]])
    assert send(server, first.envelope, pa.send_context(), secret, party=me)["contextId"] == secret


@pytest.mark.req("A2A-024", "A2A-027", "A2A-017", "A2A-020")
def test_a_statement_resent_over_a2a_does_not_bind_a_negotiation_held_before(
    server: a2a.A2AServer, node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """Alice opens a negotiation with Bob over CooperationService (gRPC), where no contextId exists.
    Mallory resends her Offer over A2A under his contextId. Before A2A-024 that bound the negotiation
    to Mallory's context for good (the first A2A message bound it, whoever sent it): ListTasks of his
    context listed it, and Alice's own A2A messages could no longer bind it to hers. Expect no binding
    by Mallory, nor by any message whose sender Bob does not know as a party (A2A-027): the Task's
    contextId stays its id (A2A-020), Mallory's context lists nothing -- and Alice's A2A message under
    hers, sent as a party (authenticated, A2A-026), binds it, once."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    with CooperationClient(server.target, timeout_s=10) as coop:
        answers = coop.exchange(offer.envelope, pa.send_context())
    assert answers
    tid = offer.header.negotiation_id.hex()

    resent = send(server, offer.envelope, pa.send_context(), "mallory")
    assert resent["id"] == tid
    assert answer_parts(resent) == len(answers)  # the same answers as over gRPC (RPC-003, A2A-015)
    assert listed(server, "mallory") == [], "Mallory's resend bound Alice's negotiation to his context"
    assert resent["contextId"] == tid
    assert send(server, offer.envelope, pa.send_context(), "alice-later")["contextId"] == tid
    assert listed(server, "alice-later") == []  # unauthenticated: anyone's, so nothing binds
    assert rpc(server, "GetTask", {"id": tid})["contextId"] == tid
    mine = send(server, offer.envelope, pa.send_context(), "alice-later", party=alice.agent.did)
    assert mine["contextId"] == "alice-later" and listed(server, "alice-later") == [tid]
    assert send(server, offer.envelope, pa.send_context(), "mallory")["contextId"] == tid
    assert listed(server, "mallory") == []


@pytest.mark.req("RPC-003", "A2A-015")
def test_a_third_party_resending_a_request_gets_its_answer_and_nothing_more(
    server: a2a.A2AServer, node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """SPEC 13.2, "What a resend gets": the server cannot tell a party from anyone holding its request,
    so the answer to a request is as confidential as the request. Mallory, holding Alice's Offer,
    resends it over gRPC (a client of his own) and over A2A: expect Bob's very answers to Alice, byte
    for byte -- his Accept, addressed to Alice, which an unauthenticated GetLog never shows -- Bob
    signing nothing more, and nothing else: his GetLog shows Mallory no statement addressed to Alice."""
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    with CooperationClient(server.target, timeout_s=10) as coop:
        to_alice = coop.exchange(offer.envelope, pa.send_context())
    with CooperationClient(server.target, timeout_s=10) as mallory:
        _, head_seq = mallory.get_log(0, 0)
        got = mallory.exchange(offer.envelope, pa.send_context())
        public, head_after = mallory.get_log(0, 0)
    assert got == to_alice  # the attack happened: Bob's answers to Alice went to Mallory
    held = [verify_statement(e) for e in got]
    assert any(vs.body == "accept" and vs.header.audience == alice.agent.did for vs in held)
    assert head_seq > 0 and head_after == head_seq  # nothing signed again (RPC-003)
    addressed = {vs.digest for vs in held if vs.header.audience}
    assert addressed and not addressed & {verify_statement(e).digest for e in public}
    over_a2a = send(server, offer.envelope, pa.send_context(), "mallory")
    assert answer_parts(over_a2a) == len(to_alice)


@pytest.mark.req("RPC-020", "RPC-003")
def test_a_bare_repeat_gets_nothing_of_the_negotiation_its_context_moved(
    server: a2a.A2AServer, node: PeerNode, alice: Party, clock: FixedClock
) -> None:
    """Bob offers Alice a private trade (no escrow); Alice accepts and hands Bob her Accept as context
    beside a new Offer of hers (RPC-002: Bob's answer carries his Delivery in the private trade, which
    the Accept made due). Mallory holds only that new Offer (an escrow's transcript could show it) and
    sends it again, over gRPC and over A2A. Before RPC-020 the repeat got the first answer whole, Bob's
    private Delivery included. Expect the repeat without the Accept to get the rest of the first answer
    and nothing of the private trade; Alice's own retry, with her context, the first answer whole."""
    pa = make_peer(alice, clock)
    private = node.peer.propose(alice.agent.did, alice.proposal())
    taken = pa.exchange(private.envelope, node.peer.send_context())
    accept = next(e for e in taken if verify_statement(e).body == "accept")
    clock.advance(1000)
    offer = pa.propose(node.peer.did, alice.proposal())
    context = [*pa.send_context(), accept]
    other = private.header.negotiation_id

    def of_private(envelopes: list[bytes]) -> list[bytes]:
        return [e for e in envelopes if verify_statement(e).header.negotiation_id == other]

    with CooperationClient(server.target, timeout_s=10) as coop:
        first = coop.exchange(offer.envelope, context)
    moved = of_private(first)
    assert [verify_statement(e).body for e in moved] == ["delivery"]  # Bob's, in the private trade
    with CooperationClient(server.target, timeout_s=10) as mallory:
        bare = mallory.exchange(offer.envelope, pa.send_context())
        assert of_private(bare) == [], "the bare repeat got Bob's Delivery in the private trade"
        assert bare == [e for e in first if e not in moved]
        assert mallory.exchange(offer.envelope) == bare
        assert mallory.exchange(offer.envelope, context) == first  # Alice's retry: the first answer whole
    over_a2a = send(server, offer.envelope, pa.send_context(), "mallory")
    assert answer_parts(over_a2a) == len(bare)
