"""Known trust gaps closed (eleventh session): holes earlier passes left open -- who may make an A2A
agent withdraw, a second escrow's bonded offers, lowered caps on renewal, refused requests' context
(SPEC 14.5, 9.4, 4.7, 16.14)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")
pytest.importorskip("httpx")

import grpc
import httpx
from a2a.types import a2a_pb2
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status
from peers import fresh_key, make_peer
from test_a2a import Countering, offer_through_a2a
from test_hidden_accept import FUNDS, _two_escrows

from a2a_coop import a2a
from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError, MandateViolation
from a2a_coop.protocol.mandate import ExposureBook
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strategy import HonestStrategy
from a2a_coop.testing import DAY_MS, FixedClock, Party, service

# --- 1. A2A CancelTask from a stranger ---------------------------------------------------------------


def _local_address() -> str | None:
    """An address of this host that is not loopback (the one it would reach the world from), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the route picks the address
            ip = str(s.getsockname()[0])
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


@pytest.fixture
def countering_bob(tmp_path: Path) -> Iterator[tuple[PeerNode, Party, FixedClock]]:
    clock = FixedClock()
    bob = Party("bob", clock)
    node = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        clock=lambda: clock.now_ms,
        strategy=Countering(),
    )
    try:
        yield node, bob, clock
    finally:
        node.close()


def _cancel(binding: str, http_url: str, grpc_target: str, task_id: str) -> tuple[str, dict[str, str]]:
    """CancelTask over one binding: the A2A error reason and its ErrorInfo metadata ("" if it succeeded)."""
    headers = {"A2A-Version": "1.0"}
    if binding == "jsonrpc":
        body = {"jsonrpc": "2.0", "id": 1, "method": "CancelTask", "params": {"id": task_id}}
        got = httpx.post(http_url + "/", json=body, headers=headers, timeout=10).json()
        if "error" not in got:
            return "", {}
        assert got["error"]["code"] == -32002, got
        (info,) = got["error"]["data"]
        return str(info["reason"]), dict(info.get("metadata", {}))
    if binding == "rest":
        resp = httpx.post(f"{http_url}/a2a/rest/tasks/{task_id}:cancel", json={}, headers=headers, timeout=10)
        if resp.status_code == 200:
            return "", {}
        assert resp.status_code == 409, resp.text
        (info,) = resp.json()["error"]["details"]
        return str(info["reason"]), dict(info.get("metadata", {}))
    with grpc.insecure_channel(grpc_target) as ch:
        call = ch.unary_unary("/lf.a2a.v1.A2AService/CancelTask")
        try:
            call(a2a_pb2.CancelTaskRequest(id=task_id).SerializeToString(), metadata=[("a2a-version", "1.0")])
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
            assert status is not None
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == "a2a-protocol.org":
                    return str(info.reason), dict(info.metadata)
            raise AssertionError("no a2a-protocol.org ErrorInfo") from None
    return "", {}


@pytest.mark.req("A2A-018", "A2A-022", "A2A-019")
@pytest.mark.parametrize("binding", ["jsonrpc", "rest", "grpc"])
def test_a_stranger_cannot_make_the_agent_withdraw_its_offer(
    countering_bob: tuple[PeerNode, Party, FixedClock], binding: str
) -> None:
    """Bob serves A2A on all interfaces; his strategy counters Alice's Offer, and the negotiation id --
    the Task id -- is no secret (it is in every statement of the negotiation, and in the escrow's
    transcript once bonded). Mallory, calling from another host, sends CancelTask of that Task: before,
    Bob signed a Withdraw of his Counter for her, ending a trade Alice and Bob were in the middle of
    (griefing, at no cost: CancelTask carries no signature). Expect TASK_NOT_CANCELABLE (A2A's typed
    error on each binding) naming why, Bob's Counter still open -- and Bob's operator, calling from the
    host itself, still withdraws it."""
    far = _local_address()
    if far is None:
        pytest.skip("this host has no non-loopback address to call from")
    node, _bob, clock = countering_bob
    alice = Party("alice", clock)
    with a2a.serve_a2a(node, host="0.0.0.0", name="bob") as srv:
        port, grpc_port = srv.http.port, srv.grpc.port
        near_http, near_grpc = f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
        far_http, far_grpc = f"http://{far}:{port}", f"{far}:{grpc_port}"
        task = offer_through_a2a(srv, make_peer(alice, clock), node.peer.did, alice, feed=False)
        nid = bytes.fromhex(task.id)
        assert node.peer.negotiation(nid).state is State.COUNTERED
        reason, meta = _cancel(binding, far_http, far_grpc, task.id)
        assert node.peer.negotiation(nid).state is State.COUNTERED, "a stranger made Bob withdraw"
        assert (reason, meta.get("a2aCoopRefusal")) == ("TASK_NOT_CANCELABLE", "NOT_OPERATOR")
        assert _cancel(binding, near_http, near_grpc, task.id) == ("", {})
        assert node.peer.negotiation(nid).state is State.WITHDRAWN


@pytest.mark.req("A2A-022", "A2A-026")
@pytest.mark.parametrize("mutual", [True, False], ids=["mutual-tls", "tls"])
def test_behind_mutual_tls_only_a_certificate_configured_as_the_operators_is(
    countering_bob: tuple[PeerNode, Party, FixedClock], tmp_path: Path, mutual: bool
) -> None:
    """An agent that requires client certificates signed by its CA (mutual TLS) once took every caller
    holding one for its operator's -- a counterparty certified to trade with it too. Now (A2A-026) a
    certificate is the operator's only when configured so (``callers``, ``serve --a2a-callers``):
    CancelTask from another host with a certificate not so configured is refused NOT_OPERATOR; once its
    fingerprint is listed as ``operator``, it withdraws. With TLS alone (no client certificates asked),
    a caller from another host is a stranger."""
    import ssl

    from pki import Pki

    from a2a_coop.a2a.callers import OPERATOR, der_of, fingerprint

    far = _local_address()
    if far is None:
        pytest.skip("this host has no non-loopback address to call from")
    node, _bob, clock = countering_bob
    alice = Party("alice", clock)
    pki = Pki(tmp_path)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    context.check_hostname = False  # the test certificate names 127.0.0.1; we call another address
    context.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
    pa = make_peer(alice, clock)
    offer = pa.propose(node.peer.did, alice.proposal())
    node.exchange(offer.envelope, pa.send_context())  # Bob counters
    task = offer.negotiation_id.hex()
    assert node.peer.negotiation(offer.negotiation_id).state is State.COUNTERED
    ours = {fingerprint(der_of((tmp_path / "client.pem").read_bytes())): OPERATOR}

    def cancel(callers: dict[bytes, str]) -> httpx.Response:
        tls = pki.server(mutual=mutual)
        with a2a.serve_a2a(node, host="0.0.0.0", name="bob", tls=tls, callers=callers) as srv:
            return httpx.post(
                f"https://{far}:{srv.http.port}/a2a/rest/tasks/{task}:cancel",
                json={},
                headers={"A2A-Version": "1.0"},
                verify=context,
                timeout=10,
            )

    resp = cancel({})
    assert resp.status_code == 409, resp.text
    assert node.peer.negotiation(offer.negotiation_id).state is State.COUNTERED
    resp = cancel(ours)
    state = node.peer.negotiation(offer.negotiation_id).state
    if mutual:
        assert resp.status_code == 200, resp.text
        assert state is State.WITHDRAWN
    else:
        assert resp.status_code == 409, resp.text
        assert state is State.COUNTERED


@pytest.mark.req("A2A-022")
def test_cancel_task_over_http_from_a_remote_address_is_refused_without_a_network(
    countering_bob: tuple[PeerNode, Party, FixedClock],
) -> None:
    """The same as above on the HTTP bindings, the caller's address set by the ASGI transport (no second
    interface needed): a caller at 203.0.113.9 is refused, one at 127.0.0.1 withdraws."""
    node, _bob, clock = countering_bob
    alice = Party("alice", clock)
    with a2a.serve_a2a(node, name="bob") as srv:
        task = offer_through_a2a(srv, make_peer(alice, clock), node.peer.did, alice, feed=False)
    nid = bytes.fromhex(task.id)
    app = a2a.http_app(a2a.CoopRequestHandler(node, srv.card), srv.card)
    headers = {"A2A-Version": "1.0"}
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "CancelTask", "params": {"id": task.id}}

    async def call(host: str, path: str, payload: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app, client=(host, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bob") as client:
            return await client.post(path, json=payload, headers=headers)

    got = asyncio.run(call("203.0.113.9", "/", body)).json()
    assert got["error"]["code"] == -32002, got
    assert got["error"]["data"][0]["metadata"] == {"a2aCoopRefusal": "NOT_OPERATOR"}
    resp = asyncio.run(call("203.0.113.9", f"/a2a/rest/tasks/{task.id}:cancel", {}))
    assert resp.status_code == 409, resp.text
    assert node.peer.negotiation(nid).state is State.COUNTERED
    assert "result" in asyncio.run(call("127.0.0.1", "/", body)).json()
    assert node.peer.negotiation(nid).state is State.WITHDRAWN


@pytest.mark.req("A2A-022")
def test_the_operator_is_a_caller_on_this_host() -> None:
    """gRPC peer strings and HTTP client addresses: loopback (IPv4, IPv6, IPv4-mapped) and Unix sockets
    are local; any other address, and an unknown caller, is not."""
    from a2a.server.context import ServerCallContext

    from a2a_coop.a2a.callers import CALLER_STATE_KEY, local_caller
    from a2a_coop.a2a.handler import caller_of

    assert caller_of("ipv4:127.0.0.1:5000") == "127.0.0.1"
    assert caller_of("ipv6:[::1]:5000") == caller_of("ipv6:%5B::1%5D:5000") == "::1"
    assert caller_of("unix:/tmp/sock") == "unix"
    assert caller_of("") == caller_of("ipv6:::1") == ""

    def local(caller: str | None) -> bool:
        state = {} if caller is None else {CALLER_STATE_KEY: caller}
        return local_caller(ServerCallContext(state=state))

    assert all(map(local, ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "unix"]))
    strangers = [None, "", "testclient", "192.0.2.2", "::ffff:192.0.2.2", "fd00::2", "0.0.0.0"]
    assert not any(map(local, strangers))


# --- 2. a bonded offer at a second escrow a served node trusts ---------------------------------------


@pytest.mark.req("ESC-009", "WIT-007", "NEG-012", "MND-015")
def test_a_served_node_takes_no_bonded_contract_at_an_escrow_its_witness_does_not_reach(
    tmp_path: Path,
) -> None:
    """Served Bob (``serve --escrow E1``) trusts a second escrow E2 too (its Mandate given as context: its
    locks count for his trust policy). Mallory offers him a fair bonded trade at E2. Before, his strategy
    accepted; she submitted the contract to E2, which locked both bonds, and relayed Bob nothing. Bob's
    lock watch (ESC-009) and his Delivery witness (WIT-007) run only at E1, his node's one channel, so
    nothing fetched the locks: he stayed ACCEPTED, never delivered (NEG-012), and her claim after his
    deadline took his bond at E2. Expect Bob to answer with a Reject saying why (no lock watch at that
    escrow), and nothing of his bonded at E2."""
    m, e2 = _two_escrows()
    node = m.bob_node(tmp_path, HonestStrategy(), context=[m.escrow.mandate, e2.mandate])
    try:
        terms = m.proposal()
        at_e2 = m.mallory.proposal(
            gives=terms.wants, wants=terms.gives
        )  # fair: what Bob's would be, mirrored
        at_e2.terms.CopyFrom(terms.terms)
        at_e2.terms.escrow = e2.did
        offer = m.mallory.offer(m.bob, at_e2)
        answers = [verify_statement(e) for e in node.exchange(offer.envelope, m.mallory.setup)]
        accepts = [vs for vs in answers if vs.body == "accept"]
        if accepts:  # the attack: Mallory has E2 lock both bonds and relays Bob nothing
            shown = [*m.mallory.setup, *m.bob.setup, offer.envelope, accepts[0].envelope]
            assert [verify_statement(e).body for e in e2.submit(shown)].count("bond_lock") == 2
            assert node.witness is not None
            node.witness.flush()
            assert node.peer.negotiation(offer.negotiation_id).state.value == "ACCEPTED"  # no watch at E2
            m.clock.advance(DAY_MS)
            claim = m.mallory.sign(
                "breach_claim",
                commitment_pb2.BreachClaim(
                    contract=accepts[0].digest, item_index=0, reason="never delivered"
                ),
                audience=m.bob.did,
                negotiation_id=offer.negotiation_id,
            )
            with contextlib.suppress(CoopError):
                e2.submit([claim.envelope])
            m.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
            e2.tick()
        assert e2.get_balance(m.bob.did)[:2] == (FUNDS, 0), "Bob's bond at E2 was forfeited"
        assert [vs.body for vs in answers if vs.body != "mandate"] == ["reject"]
        reason = answers[-1].statement.reject.reason
        assert "ESC-009" in reason and e2.did[:40] in reason, reason
        assert proposal_of(offer).terms.escrow == e2.did
    finally:
        node.close()


# --- 3. a renewal with lower caps -------------------------------------------------------------------


def _renewed(party: Party, clock: FixedClock, **caps: int) -> bytes:
    """A new Mandate from ``party``'s principal for the same agent key, with ``caps`` changed."""
    from test_mandate_renewal import _renew

    return _renew(party, clock, **caps).envelope


@pytest.mark.req("MND-018", "MND-010", "MND-009", "MND-011")
@pytest.mark.parametrize(
    ("caps", "rule"),
    [({"max_outstanding": 600}, "MND-010"), ({"budget_per_period": 700}, "MND-009")],
    ids=["outstanding", "budget"],
)
def test_a_renewal_with_lower_caps_bounds_what_the_old_mandate_still_has_at_stake(
    tmp_path: Path, caps: dict[str, int], rule: str
) -> None:
    """Alice's principal lowers her caps by renewing her Mandate (SPEC 4.7): max_outstanding 50000 to
    600, or budget_per_period 100000 to 700. Her offer of 500 to Bob, made under the old Mandate, is
    still live: Bob may accept it whenever he likes, and it binds her (it cites the old Mandate, which
    the renewal did not end). Before, her guard judged her next offer under the new Mandate alone,
    whose exposure was empty: a second offer of 500, to Carol, was signed, and with both accepted her
    principal was committed to 1000, over the caps it had just set -- through the old Mandate, by its
    own agent. Expect her guard to count what her older Mandates of the same principal still have at
    stake against the current one's caps: the offer to Carol refused, one of 100 signed; and once the
    old offer is rejected, 500 fits again."""
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    with Journal.open(tmp_path / "alice.db") as journal:
        before = make_peer(alice, clock, journal=journal)
        assert type(before.verifier.exposure) is ExposureBook  # a key never renewed: the plain book
        first = before.propose(bob.did, alice.proposal())  # gives 500
    renewed = _renewed(alice, clock, **caps)
    with Journal.open(tmp_path / "alice.db") as journal:
        pa = Peer(alice.agent.key, renewed, journal=journal, clock=lambda: clock.now_ms)
        assert pa.negotiation(first.negotiation_id).outstanding.digest == first.digest
        with pytest.raises(MandateViolation) as refused:
            pa.propose(carol.did, alice.proposal())  # 500 more: 1000 at stake
        assert refused.value.requirement == rule
        due = clock.now_ms + DAY_MS
        small = pa.propose(
            carol.did, alice.proposal(gives=[service("proofreading", value=100, deadline_ms=due)])
        )
        assert small.header.mandate == verify_statement(renewed).digest
        reject = bob.sign(
            "reject",
            trade_pb2.Reject(offer=first.digest, reason="no"),
            audience=alice.did,
            negotiation_id=first.negotiation_id,
        )
        pa.exchange(reject.envelope, bob.setup)
        assert pa.negotiation(first.negotiation_id).state is State.REJECTED
        assert pa.propose(carol.did, alice.proposal()).body == "offer"  # 100 + 500: within the new caps


# --- 4. a refused request's context --------------------------------------------------------------------


def _journaled(journal: Journal) -> int:
    return sum(1 for _ in journal.statements())


@pytest.mark.req("RPC-015", "RPC-005", "ERR-003")
@pytest.mark.parametrize("extra", ["alone", "with-a-bad-statement"])
def test_a_refused_requests_own_mandate_is_neither_kept_nor_journaled(tmp_path: Path, extra: str) -> None:
    """Fifty fresh keys (Mallory's, each under a principal of its own, or all under one) each send Bob
    a Delivery naming a negotiation he does not know, with the key's own Mandate as context -- the one
    context the request depends on (RPC-015), so Bob took it before checking the request, kept it in
    memory and journaled it for good: about 1 kB of Bob's disk a refused request, as long as Mallory
    likes. Also with a second such Delivery after the Mandate in the context, addressed to Bob (taken
    as context, and refused UNKNOWN_NEGOTIATION): the Mandate, taken before it, stayed. Expect every
    request refused and nothing of it kept or journaled: the Mandate is held provisionally, for the
    statement after it that needs it, and dropped with it. Carol's Offer with her Mandate is
    answered, and her Mandate kept and journaled (and held again after a restart)."""
    from a2a_coop.protocol.errors import UnknownNegotiation
    from a2a_coop.testing import Signer, derive

    clock = FixedClock()
    bob = Party("bob", clock)
    path = tmp_path / "bob.db"
    with Journal.open(path) as journal:
        b = make_peer(bob, clock, journal=journal)
        start = _journaled(journal)
        principal = Signer("mallory-principal", clock)
        mandates = []
        for i in range(50):
            key, mandate = fresh_key(i, clock, principal if i % 2 else None)
            mandates.append(mandate)
            unknown = derive(f"no-such-negotiation/{i}", 16)
            request = key.sign(
                "delivery",
                commitment_pb2.Delivery(contract=derive(f"no-such-contract/{i}"), item_index=0),
                audience=bob.did,
                negotiation_id=unknown,
                mandate=mandate.digest,
            )
            context = [mandate.envelope]
            if extra != "alone":
                other = key.sign(
                    "delivery",
                    commitment_pb2.Delivery(contract=derive(f"other-contract/{i}"), item_index=0),
                    audience=bob.did,
                    negotiation_id=derive(f"other/{i}", 16),
                    mandate=mandate.digest,
                )
                context.append(other.envelope)  # addressed to Bob: taken, and refused
            with pytest.raises(CoopError) as refused:
                b.exchange(request.envelope, context)
            assert extra != "alone" or isinstance(refused.value, UnknownNegotiation)
        kept = [vs for vs in mandates if vs.digest in b.verifier.statements]
        assert not kept, f"{len(kept)} of {len(mandates)} refused requests' Mandates kept"
        assert _journaled(journal) == start, "refused requests' context journaled"
        carol = Party("carol", clock)
        answers = b.exchange(carol.offer(bob).envelope, carol.setup)
        assert [verify_statement(e).body for e in answers][:2] == ["mandate", "accept"]
        assert carol.mandate_vs.digest in b.verifier.statements
        assert _journaled(journal) > start
    with Journal.open(path) as journal:  # and a restart replays what was kept
        again = make_peer(bob, clock, journal=journal, run=1)
        assert carol.mandate_vs.digest in again.verifier.statements
        assert not [vs for vs in mandates if vs.digest in again.verifier.statements]
