"""What a served peer takes from any one issuer, and what a refused request costs it (RPC-012, RPC-013).

A request over a limit is refused ``RATE_LIMITED`` with nothing recorded; the limits count only
requests whose signature held (nobody spends another's quota), and a request whose *claimed* issuer is
already over its limit is refused before its signature is checked, so a flooding peer's excess costs
the victim a lookup. A byte-for-byte repeat of a request the peer holds is answered without a second
signature check.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import envelope_pb2
from a2a_coop.protocol import errors
from a2a_coop.protocol.envelope import ParsedEnvelope
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party, derive
from a2a_coop.transport.limits import IssuerLimiter, PeerLimits, claimed


def forged(envelope: bytes) -> bytes:
    """``envelope`` with one bit of its signature flipped: it claims the same issuer, and fails ENV-006."""
    env = envelope_pb2.Envelope.FromString(envelope)
    sig = bytearray(env.signatures[0].sig)
    sig[0] ^= 1
    env.signatures[0].sig = bytes(sig)
    return env.SerializeToString(deterministic=True)


class Bob:
    """Bob, a PeerNode with a journal, with a count of the signature checks his verifier runs."""

    def __init__(self, tmp_path: Path, clock: FixedClock, **kw: Any) -> None:
        self.party = Party("bob", clock)
        self.node = PeerNode.open(
            self.party.agent.key,
            self.party.mandate_vs.envelope,
            tmp_path / "bob.db",
            clock=lambda: clock.now_ms,
            **kw,
        )
        self.verified = 0
        verify: Callable[[bytes, ParsedEnvelope | None], VerifiedStatement] = self.node.peer.verifier.verify

        def counting(data: bytes, parsed: ParsedEnvelope | None = None) -> VerifiedStatement:
            self.verified += 1
            return verify(data, parsed)

        self.node.peer.verifier.verify = counting  # type: ignore[method-assign]

    def rows(self) -> int:
        return sum(1 for _ in self.node.journal.statements())


def client(party: Party, clock: FixedClock) -> Peer:
    counter = itertools.count()
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"n/{party.name}/{next(counter)}", 16),
    )


@pytest.mark.req("RPC-012", "RPC-013", "ERR-003")
def test_a_peer_over_its_rate_is_refused_before_its_signature_check(tmp_path: Path) -> None:
    """Bob takes 1 request/s from any one peer, 2 at once. Alice's two offers are answered; her third,
    with a broken signature, is refused RATE_LIMITED (not SIGNATURE_INVALID) without bob checking any
    signature, and nothing of it is recorded. Without the limit the same bytes are SIGNATURE_INVALID."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock, limits=PeerLimits(rate_per_s=1, burst=2))
    alice = Party("alice", clock)
    pa = client(alice, clock)
    for _ in range(2):
        bob.node.exchange(pa.propose(bob.node.peer.did, alice.proposal()).envelope, pa.send_context())
    checks, rows = bob.verified, bob.rows()
    third = forged(pa.propose(bob.node.peer.did, alice.proposal()).envelope)
    with pytest.raises(errors.RateLimited) as info:
        bob.node.exchange(third, pa.send_context())
    assert info.value.requirement == "RPC-012" and info.value.retry_after_ms > 0
    assert (bob.verified, bob.rows()) == (checks, rows)
    clock.now_ms += 1_000
    with pytest.raises(errors.SignatureInvalid):
        bob.node.exchange(third, pa.send_context())


@pytest.mark.req("RPC-012", "RPC-013")
def test_a_forger_cannot_spend_another_peers_quota(tmp_path: Path) -> None:
    """Mallory sends five of alice's offers with broken signatures to a bob taking 2 requests at once
    per peer: each is checked and refused SIGNATURE_INVALID, none is counted against alice, whose own
    two offers are then answered."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock, limits=PeerLimits(rate_per_s=1, burst=2))
    alice = Party("alice", clock)
    pa = client(alice, clock)
    offers = [pa.propose(bob.node.peer.did, alice.proposal()) for _ in range(2)]
    for _ in range(5):
        with pytest.raises(errors.SignatureInvalid):
            bob.node.exchange(forged(offers[0].envelope), pa.send_context())
    for offer in offers:
        assert bob.node.exchange(offer.envelope, pa.send_context())


@pytest.mark.req("RPC-013")
def test_a_counterparty_at_its_open_negotiation_cap_is_refused_before_its_signature_check(
    tmp_path: Path,
) -> None:
    """Bob keeps at most one negotiation open per counterparty. Mallory opens one; her next offer, its
    signature broken, is refused RATE_LIMITED with no signature checked. A broken offer claiming
    alice, who has none open, is checked and refused SIGNATURE_INVALID: the forger only ever meets the
    cap of the issuer it names."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock)
    bob.node.peer.max_open_per_counterparty = 1
    mallory, alice = Party("mallory", clock), Party("alice", clock)
    pm, pa = client(mallory, clock), client(alice, clock)
    bob.node.exchange(pm.propose(bob.node.peer.did, mallory.proposal()).envelope, pm.send_context())
    checks, rows = bob.verified, bob.rows()
    with pytest.raises(errors.RateLimited):
        bob.node.exchange(forged(pm.propose(bob.node.peer.did, mallory.proposal()).envelope), ())
    assert (bob.verified, bob.rows()) == (checks, rows)
    with pytest.raises(errors.SignatureInvalid):
        bob.node.exchange(forged(pa.propose(bob.node.peer.did, alice.proposal()).envelope), ())
    assert bob.verified == checks + 1


@pytest.mark.req("RPC-003", "ERR-002")
def test_a_repeated_request_is_answered_without_a_second_signature_check(tmp_path: Path) -> None:
    """Alice's offer sent twice, byte for byte, gets the same answers, the second time with no signature
    checked (these very bytes passed every stateless check before). The same statement under a broken
    signature is not those bytes: it is checked, and refused SIGNATURE_INVALID."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock)
    alice = Party("alice", clock)
    pa = client(alice, clock)
    offer = pa.propose(bob.node.peer.did, alice.proposal())
    first = bob.node.exchange(offer.envelope, pa.send_context())
    checks = bob.verified
    assert bob.node.exchange(offer.envelope, pa.send_context()) == first
    assert bob.verified == checks
    with pytest.raises(errors.SignatureInvalid):
        bob.node.exchange(forged(offer.envelope), pa.send_context())
    assert bob.verified == checks + 1


def test_the_limiter_counts_requests_in_hand_and_forgets_the_least_recent_issuer() -> None:
    """In flight: a second request of one issuer while its first is in hand is refused, another
    issuer's is not, and after the release it is taken. Memory: with room for two issuers, a third
    pushes out the least recently seen, whose bucket starts full again."""
    now = [0]
    hand = IssuerLimiter(PeerLimits(in_flight=1), clock=lambda: now[0])
    hand.acquire("a")
    with pytest.raises(errors.RateLimited):
        hand.check("a")
    hand.acquire("b")
    hand.release("a")
    hand.acquire("a")

    rate = IssuerLimiter(PeerLimits(rate_per_s=1, burst=1), clock=lambda: now[0], max_issuers=2)
    rate.acquire("a")
    with pytest.raises(errors.RateLimited):
        rate.acquire("a")
    rate.acquire("b")
    rate.acquire("c")  # "a" forgotten
    rate.check("a")


def test_what_a_request_claims_is_read_without_trusting_it() -> None:
    """claimed() names the issuer, body and negotiation of a statement whatever its signature, and
    gives None for bytes that are no statement (the full checks then say why)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    said = claimed(forged(offer.envelope))
    assert said is not None
    assert (said.issuer, said.body, said.negotiation_id) == (
        alice.did,
        "offer",
        offer.header.negotiation_id,
    )
    assert claimed(b"\xff\x00garbage") is None
    assert claimed(b"") is None


@pytest.mark.req("STM-005", "ERR-002", "ERR-003")
def test_a_statement_for_someone_else_is_refused_before_its_context_is_held(tmp_path: Path) -> None:
    """Mallory, unknown to bob, sends him an offer addressed to carol with her mandate as context:
    refused WRONG_AUDIENCE (the first contextual check) before the context is looked at -- her mandate
    is neither held nor journaled, so a flood of fresh identities cannot grow bob's journal this way."""
    clock = FixedClock()
    bob = Bob(tmp_path, clock)
    mallory, carol = Party("mallory", clock), Party("carol", clock)
    rows = bob.rows()
    with pytest.raises(errors.WrongAudience):
        bob.node.exchange(mallory.offer(carol).envelope, mallory.setup)
    assert bob.rows() == rows
    assert mallory.mandate_vs.digest not in bob.node.peer.verifier.statements
