"""Attacker's pass 24: values a request's sender chooses that are not its own -- which statement it sends,
whose it is, how often. Each test here is a way such a choice hurt an honest party, failing before its
fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_limits import Bob, client

from a2a_coop.protocol import errors
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport.limits import IssuerLimiter, PeerLimits

# --- 1: a server's per-issuer limits, spent by whoever holds the issuer's statements (RPC-018) -------------


@pytest.mark.req("RPC-018", "RPC-012", "RPC-003")
def test_statements_a_key_signed_do_not_keep_it_over_its_limit_whoever_sends_them(tmp_path: Path) -> None:
    """Attack: bob takes 1 request/s from any one issuer, 2 at once (RPC-012). Mallory holds statements
    alice signed -- her offer bob took (an escrow's transcript shows the statements of a bonded trade),
    her offer to carol (mallory's own channels, a Gossip answer), an offer to bob long expired -- and sends
    them to bob, again and again: each passed its signature check, so each was counted against alice, and
    alice's own next offer was refused RATE_LIMITED, at any moment mallory chose, for as long as she
    liked (a verified signature says who signed a statement, not who sent it). Defence: a statement bob
    took is answered as the first time, uncounted; one for another key is refused before it is in hand;
    one bob refuses gives its token back. Alice's own requests still count: her third is refused."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock, limits=PeerLimits(rate_per_s=1, burst=2))
    alice, carol = Party("alice", clock), Party("carol", clock)
    pa = client(alice, clock)
    taken = pa.propose(bob.node.peer.did, alice.proposal())
    first = bob.node.exchange(taken.envelope, pa.send_context())
    for_carol = pa.propose(carol.agent.did, alice.proposal())
    lapsed = pa.propose(bob.node.peer.did, alice.proposal(), ttl_ms=1_000)  # never sent by alice
    clock.now_ms += 120_000  # alice's bucket full again (2); the short offer long expired
    limiter = bob.node.limiter
    assert limiter is not None
    in_hand: list[str] = []
    acquire = limiter.acquire
    limiter.acquire = lambda issuer: (in_hand.append(issuer), acquire(issuer))[1]  # type: ignore[method-assign]
    for _ in range(5):
        assert bob.node.exchange(taken.envelope, ()) == first  # RPC-003: the same answers
        with pytest.raises(errors.WrongAudience):
            bob.node.exchange(for_carol.envelope, ())
        with pytest.raises(errors.Expired):
            bob.node.exchange(lapsed.envelope, ())
    assert in_hand == []  # none of them held one of alice's in-flight slots either
    for _ in range(2):
        assert bob.node.exchange(pa.propose(bob.node.peer.did, alice.proposal()).envelope, pa.send_context())
    with pytest.raises(errors.RateLimited):  # the limit still holds alice's own requests
        bob.node.exchange(pa.propose(bob.node.peer.did, alice.proposal()).envelope, pa.send_context())


@pytest.mark.req("RPC-018")
def test_a_refused_request_gives_its_token_back_and_a_taken_one_keeps_it_spent() -> None:
    """The limiter's side of RPC-018: releasing a request refused gives the issuer's token back (capped at
    the burst), releasing one taken does not."""
    now = [0]
    limiter = IssuerLimiter(PeerLimits(rate_per_s=1, burst=1), clock=lambda: now[0])
    limiter.acquire("alice")
    limiter.release("alice", taken=False)
    limiter.acquire("alice")  # the refund: room again at once
    limiter.release("alice")
    with pytest.raises(errors.RateLimited):
        limiter.acquire("alice")
    now[0] += 5_000  # full again (one token); a refund on a full bucket does not lift it above its size
    limiter.acquire("alice")
    limiter.release("alice", taken=False)
    limiter.acquire("alice")
    limiter.release("alice")
    with pytest.raises(errors.RateLimited):
        limiter.acquire("alice")


# --- 2: the A2A binding's HTTP bodies, of any size the sender chose (A2A-023) -------------------------------


@pytest.mark.req("A2A-023", "RPC-008", "A2A-015")
def test_an_a2a_http_body_past_the_receive_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Attack: the gRPC binding refuses a request larger than its receive limit RESOURCE_EXHAUSTED
    (RPC-008), but the JSON-RPC and HTTP+JSON bindings read and parsed a body of any size the sender
    chose -- one SendMessage of 64 MB cost the served peer some 210 MB of memory before anything in it
    was checked, a few of 1 GB at once its whole machine (and a peer killed before its deadline cannot
    deliver: its bond goes to the counterparty that sent them). Defence: a body past the limit (twice the
    gRPC binding's: JSON carries envelopes in base64) is refused 413 before the routes read it, by its
    Content-Length or, chunked, once the bytes read pass the limit; nothing of it reaches the peer. A
    request within the limit is handled as before."""
    import asyncio
    import base64
    import os
    import uuid

    import httpx

    pytest.importorskip("a2a")
    from a2a_coop import a2a
    from a2a_coop.a2a.http import MAX_BODY_BYTES
    from a2a_coop.runtime.node import PeerNode
    from a2a_coop.runtime.peer import Peer, wall_clock_ms

    clock = FixedClock(wall_clock_ms())
    alice, bob = Party("alice", clock), Party("bob", clock)
    node = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db")
    seen: list[bytes] = []

    def exchange(envelope: bytes, context: list[bytes]) -> list[bytes]:
        seen.append(envelope)
        return node.exchange(envelope, context)

    pa = Peer(alice.agent.key, alice.mandate_vs.envelope)
    offer = pa.propose(node.peer.did, alice.proposal())

    def part(envelope: bytes) -> dict[str, str]:
        return {"raw": base64.b64encode(envelope).decode(), "mediaType": a2a.ENVELOPE_MEDIA_TYPE}

    def message(padding: int) -> dict[str, object]:
        junk = [part(os.urandom(60_000)) for _ in range(padding)]
        parts = [*junk, *(part(e) for e in (*pa.send_context(), offer.envelope))]
        return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": parts}

    headers = {"A2A-Version": "1.0", "A2A-Extensions": a2a.EXTENSION_URI, "content-type": "application/json"}
    big = message(MAX_BODY_BYTES // 80_000 + 1)  # a little past the limit: read, dropped, refused
    jsonrpc = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": big}}
    try:
        with a2a.serve_a2a(node, name="bob", exchange=exchange) as server:
            base = server.card_url.rstrip("/")

            async def chunked() -> httpx.Response:
                data = json.dumps(jsonrpc).encode()

                async def body():  # type: ignore[no-untyped-def]  # no Content-Length: chunked
                    for i in range(0, len(data), 65_536):
                        yield data[i : i + 65_536]

                async with httpx.AsyncClient() as client:
                    return await client.post(base + "/", content=body(), headers=headers, timeout=60)

            r = httpx.post(base + "/", json=jsonrpc, headers=headers, timeout=60)
            assert r.status_code == 413 and r.json()["error"]["code"] == -32600, r.text
            rest = base + "/a2a/rest/message:send"
            r = httpx.post(rest, json={"message": big}, headers=headers, timeout=60)
            assert r.status_code == 413 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED", r.text
            r = asyncio.run(chunked())
            assert r.status_code == 413, r.text
            assert seen == []  # nothing of them reached the peer
            small = {"jsonrpc": "2.0", "id": 2, "method": "SendMessage", "params": {"message": message(0)}}
            r = httpx.post(base + "/", json=small, headers=headers, timeout=60)
            assert r.status_code == 200 and "result" in r.json(), r.text
            assert seen == [offer.envelope]
    finally:
        node.close()


@pytest.mark.req("A2A-023")
def test_the_body_limit_case_fails_a_target_that_reads_any_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live case a2a.body-limit announces a 256 MiB body and sends none: it passes against the
    reference agent, and fails one whose HTTP bindings read bodies of any size (its BodyLimit taken out:
    it waits for the body, and the case gets no answer within its deadline)."""
    pytest.importorskip("a2a")
    from a2a_coop import a2a
    from a2a_coop.a2a import http as a2a_http
    from a2a_coop.cli import main
    from a2a_coop.runtime.node import PeerNode
    from a2a_coop.runtime.peer import wall_clock_ms

    def run(name: str) -> tuple[str, str]:
        bob = Party(name, FixedClock(wall_clock_ms()))
        node = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, tmp_path / f"{name}.db")
        report = tmp_path / name
        try:
            with a2a.serve_a2a(node, name=name) as server:
                argv = ["conformance", "--target", server.target, "--a2a-url", server.card_url]
                main([*argv, "--case", "a2a.body-limit", "--timeout", "2", "--report-dir", str(report)])
        finally:
            node.close()
        case = json.loads((report / "report.json").read_text())["cases"][0]
        return case["level"], case["reason"]

    assert run("bob")[0] == "PASS"

    async def unbounded(self: a2a_http.BodyLimit, scope: object, receive: object, send: object) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(a2a_http.BodyLimit, "__call__", unbounded)
    level, reason = run("lax")
    assert level == "FAIL" and "no answer" in reason, reason


# --- 3: a held-back Delivery handed to whoever repeats the counterparty's request first ---------------------


@pytest.mark.req("WIT-008", "CMT-012", "RPC-003", "WIT-007", "RPC-022")
def test_a_delivery_the_node_held_for_the_counterparty_is_not_taken_by_whoever_repeats_its_request(
    tmp_path: Path,
) -> None:
    """Attack: Bob serves with an escrow witness; under revocable terms he holds his Delivery, and his
    node's watch signs it when the hold ends, gives it to the escrow and -- knowing no address of
    alice's -- keeps it for the answer to her next request in that negotiation (PeerNode._with_unsent).
    Mallory, a third party, repeats alice's Offer (its bytes are in the escrow's public transcript):
    RPC-003 answers a repeat as the first time, and the node handed mallory the Delivery kept for alice
    and forgot it. Alice's next request got none: she never saw Bob's Delivery (nor where to fetch what
    he delivered), never receipted it, and the contract stayed PERFORMING, both bonds locked until a
    lapse a day after the last deadline. Defence: a Delivery kept for the counterparty goes with every
    answer to its requests in that negotiation, a repeat's too, until it holds the counterparty's
    Receipt of it."""
    from peers import witnessed_node
    from test_revocable_hold import BOND, FUNDS, _terms, _wait_witnessed

    from a2a_coop._proto.a2acoop.v1 import trade_pb2
    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.runtime.perform_time import REVOCABLE_HOLD_MARGIN_MS
    from a2a_coop.testing import DAY_MS, LocalEscrow

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    node = witnessed_node(bob, clock, escrow, tmp_path / "bob.db")
    try:
        proposal = _terms(
            alice,
            escrow,
            revocation=trade_pb2.Revocation(allowed=True),
            alice_due=clock.now_ms + DAY_MS,
            bob_due=clock.now_ms + REVOCABLE_HOLD_MARGIN_MS + 300,
            issuer_bond=BOND,
        )
        offer = alice.offer(bob, proposal)
        first = node.exchange(offer.envelope, [escrow.mandate, *alice.setup])
        accept = verify_statement(first[1])
        locks = escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
        node.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])
        clock.advance(300)
        (mine,) = _wait_witnessed(node, escrow, offer.negotiation_id)
        repeat = node.exchange(offer.envelope, [])  # mallory's repeat of alice's Offer
        # It begins with the first answer, the kept Delivery after it (RPC-022): before it, the repeat
        # began with the Delivery where the first answer began with Bob's Mandate.
        assert repeat == [*first, mine.envelope]
        hers = alice.deliver(accept, bob)
        answers = [verify_statement(e) for e in node.exchange(hers.envelope, [])]
        assert mine.digest in [vs.digest for vs in answers]  # alice gets Bob's Delivery all the same
        receipt = alice.receipt(mine)
        assert mine.envelope not in node.exchange(receipt.envelope, [])  # kept until she receipted it
        assert node.exchange(offer.envelope, []) == first  # receipted: the first answer alone again
    finally:
        node.close()
