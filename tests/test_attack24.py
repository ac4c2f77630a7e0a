"""Attacker's pass 24: values a request's sender chooses that are not its own -- which statement it sends,
whose it is, how often. Each test here is a way such a choice hurt an honest party, failing before its
fix."""

from __future__ import annotations

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
