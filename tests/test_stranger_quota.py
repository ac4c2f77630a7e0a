"""The newcomer quota on strangers' public statements (SPEC RPC-016, a2a_coop.runtime.strangers).

A peer keeps the public statements of keys outside its dealings -- a Mandate and its agent's Checkpoint,
as a request, as context or as gossip -- only up to a quota per period; what is in its dealings, and a
revocation of a key it holds statements of, is never counted, so a flood of fresh keys cannot keep out a
counterparty. The attack itself is in ``tests/test_attack14.py``
(``test_strangers_public_statements_do_not_grow_a_peers_journal_without_bound``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from peers import fresh_key, make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import Equivocation, RateLimited
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strangers import (
    DEFAULT_STRANGER_STATEMENTS,
    META_STRANGERS,
    STRANGER_PERIOD_MS,
    StrangerQuota,
)
from a2a_coop.testing import FixedClock, Party, Signer

pytestmark = pytest.mark.req("RPC-016")


def _checkpoint(key: Signer, mandate: VerifiedStatement, *, fork: bool = False) -> VerifiedStatement:
    """``key``'s next Checkpoint, under ``mandate``: its log_root the tree hash of what ``key`` signed
    before (CHN-007). ``fork``: at seq 0 again, with another nonce (a second statement at a seq)."""
    signed: list[bytes] = key.__dict__.setdefault("signed_digests", [])
    if fork:
        key.writer.next_seq, key.writer.prev = 0, b""
        return key.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=mandate.digest)
    vs = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)), mandate=mandate.digest)
    signed.append(vs.digest)
    return vs


def _public(peer: Peer, i: int, clock: FixedClock) -> tuple[Signer, VerifiedStatement]:
    """Fresh key ``i`` sends ``peer`` its Mandate and a Checkpoint under it (two statements): the key
    and its Mandate. Raises what ``peer`` refuses it with."""
    key, mandate = fresh_key(i, clock)
    peer.exchange(_checkpoint(key, mandate).envelope, [mandate.envelope])
    return key, mandate


def _full(peer: Peer, clock: FixedClock, *, first: int = 100) -> tuple[Signer, VerifiedStatement]:
    """Fill ``peer``'s quota of 4 (3 for what nobody asked for): a fresh key's Mandate and Checkpoint,
    then another fresh key's Mandate alone (a public statement too). Returns the first key and Mandate."""
    key, mandate = _public(peer, first, clock)
    _, lone = fresh_key(first + 1, clock)
    peer.exchange(lone.envelope)
    with pytest.raises(RateLimited):
        _public(peer, first + 2, clock)
    return key, mandate


def test_a_served_peer_bounds_strangers_statements_unless_told_otherwise(tmp_path: Path) -> None:
    """A PeerNode sets the default quota on a peer that has none (as it does RPC-012's caps); a quota of
    zeros, what `serve --stranger-statements 0 --stranger-statements-per-key 0` gives, stays off."""
    clock = FixedClock()
    with Journal.open(tmp_path / "a.db") as journal:
        node = PeerNode(make_peer(Party("a", clock), clock, journal=journal), journal)
        quota = node.peer.stranger_quota
        assert quota is not None and quota.per_period == DEFAULT_STRANGER_STATEMENTS
    with Journal.open(tmp_path / "b.db") as journal:
        off = StrangerQuota(per_period=0, per_key=0)
        node = PeerNode(make_peer(Party("b", clock), clock, journal=journal, stranger_quota=off), journal)
        assert node.peer.stranger_quota == off
        for i in range(5):
            _public(node.peer, i, clock)  # never refused


@pytest.mark.parametrize(("per_period", "kept"), [(1, 1), (2, 1), (3, 2), (4, 3)])
def test_a_quota_of_a_few_statements_keeps_at_least_one(per_period: int, kept: int) -> None:
    """`serve --stranger-statements 1`: three quarters of 1 rounded down to 0, and every unsolicited
    statement was refused. The unsolicited part is at least one (a quota that small keeps no reserve)."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=per_period, per_key=0))
    taken = 0
    for i in range(5):
        _, lone = fresh_key(200 + i, clock)  # a fresh key's Mandate alone: one public statement
        with contextlib.suppress(RateLimited):
            b.exchange(lone.envelope)
            taken += 1
    assert taken == kept


def test_a_counterparty_is_not_kept_out_by_a_flood_of_strangers() -> None:
    """Strangers used up Bob's quota; Alice, new to Bob, opens a negotiation with her Mandate as context:
    an Offer addressed to Bob opens one (RPC-012's caps count it), and what it depends on is not counted.
    Her later public Checkpoint is taken too -- she is in Bob's dealings now -- while a stranger's is still
    refused."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4))
    _full(b, clock)
    offer = alice.offer(bob, alice.proposal())
    answers = b.exchange(offer.envelope, alice.setup)
    assert answers and b.negotiation(offer.negotiation_id) is not None
    root = merkle.root([offer.digest])
    checkpoint = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=root))
    b.exchange(checkpoint.envelope)
    assert checkpoint.digest in b.verifier.statements
    with pytest.raises(RateLimited):
        _public(b, 7, clock)


def test_a_revocation_of_a_key_we_hold_statements_of_is_taken_once_over_the_quota() -> None:
    """K's principal revokes K, whose Checkpoint Bob took while the quota had room: taken although the
    quota is used up -- a flood of strangers must never keep out the revocation of a key a thief holds.
    Once, and its one correction (an earlier effective time, tests/test_attack19.py): a third revocation
    of K counts, and is refused, as does a second one that moves nothing earlier; and so is a revocation
    of a key Bob holds nothing of, with its binding as context (KEY-008) -- here with no revocations'
    reserve, which would take them (``test_a_flood_does_not_keep_out_a_revocation_...``)."""
    clock = FixedClock()
    bob = Party("bob", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, revocations=0))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    b.exchange(_checkpoint(k, mandate).envelope, [mandate.envelope])
    _, lone = fresh_key(1, clock)
    b.exchange(lone.envelope)  # the quota is full now (3 of the 3 unsolicited)
    clock.advance(2_000)

    def revoke(key: str, back_ms: int) -> VerifiedStatement:
        msg = identity_pb2.KeyRevocation(key=key, effective_ms=clock.now_ms - back_ms, reason="stolen")
        return boss.sign("key_revocation", msg)

    first = revoke(k.did, 1_000)
    b.exchange(first.envelope)
    assert b.verifier.revoked[k.did] == first.statement.key_revocation.effective_ms
    with pytest.raises(RateLimited):
        b.exchange(revoke(k.did, 500).envelope)  # later than the first: no correction
    b.exchange(revoke(k.did, 1_500).envelope)  # the correction
    with pytest.raises(RateLimited):
        b.exchange(revoke(k.did, 1_600).envelope)
    j, j_mandate = fresh_key(2, clock, boss)
    binding = _checkpoint(j, j_mandate)
    with pytest.raises(RateLimited):
        b.exchange(revoke(j.did, 500).envelope, [j_mandate.envelope, binding.envelope])
    assert binding.digest not in b.verifier.statements and j.did not in b.verifier.revoked


def test_a_fork_refused_over_the_quota_still_leaves_its_proof() -> None:
    """With the quota used up, K's second Checkpoint at the seq of its first is refused with its own code,
    ``EQUIVOCATION`` (ERR-002: a defect first), not ``RATE_LIMITED``, and the fork proof is kept."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=4))
    k, mandate = _full(b, clock)
    with pytest.raises(Equivocation):
        b.exchange(_checkpoint(k, mandate, fork=True).envelope)
    assert k.did in b.verifier.forks


def test_one_key_takes_no_more_than_its_share() -> None:
    """A key whose Checkpoints keep coming is held to the quota's per-key count (its Mandate counts for its
    principal, who signed it, not for it: anyone can mint one naming it, tests/test_attack16.py); another
    key still gets in."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=3))
    k, mandate = _public(b, 0, clock)
    b.exchange(_checkpoint(k, mandate).envelope)
    b.exchange(_checkpoint(k, mandate).envelope)
    with pytest.raises(RateLimited, match="of " + k.did):
        b.exchange(_checkpoint(k, mandate).envelope)
    _public(b, 1, clock)


def test_served_gossip_over_the_quota_is_ignored_and_our_own_swaps_keep_the_rest() -> None:
    """A caller gossips Bob twenty strangers' Checkpoints (each after its Mandate): he takes what the
    newcomer share holds and ignores the rest, with no error (ATT-019: gossip is best effort). Then Bob
    swaps with Carol, whom he chose to trade with: her own Checkpoint and Mandate are not counted, and the
    strangers' Checkpoints she passes on fill the quarter of the quota kept for the swaps Bob starts."""
    clock = FixedClock()
    bob, carol = Party("bob", clock), Party("carol", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=40, per_key=0))
    c = make_peer(carol, clock)
    flood: list[bytes] = []
    for i in range(20):
        key, mandate = fresh_key(i, clock)
        flood += [mandate.envelope, _checkpoint(key, mandate).envelope]
    b.gossip(flood, [])
    assert sum(1 for e in flood if _held(b, e)) == 30  # three quarters of 40
    theirs = []
    for i in range(20, 25):
        key, mandate = fresh_key(i, clock)
        theirs += [mandate.envelope, _checkpoint(key, mandate).envelope]
    c.gossip(theirs, [])
    gossip.swap(b, c, carol.did)
    assert all(_held(b, e) for e in theirs)
    assert carol.did in b.verifier.checkpoints
    assert b.gossip(flood[-2:], []) and not _held(b, flood[-1])  # full: ignored, still answered


def _held(peer: Peer, envelope: bytes) -> bool:
    from a2a_coop.protocol.statements import verify_statement

    return verify_statement(envelope).digest in peer.verifier.statements


def test_the_count_survives_a_restart(tmp_path: Path) -> None:
    """The window's count is journaled with what it counted: a peer started again on the journal in the
    same window refuses as before (a crash grants no second quota); the next window takes keys again."""
    clock = FixedClock()
    bob = Party("bob", clock)
    quota = StrangerQuota(per_period=4)
    with Journal.open(tmp_path / "bob.db") as journal:
        _full(make_peer(bob, clock, journal=journal, stranger_quota=quota), clock)
        assert journal.get_meta(META_STRANGERS) == [clock.now_ms // STRANGER_PERIOD_MS, 3]
    with Journal.open(tmp_path / "bob.db") as journal:
        again = make_peer(bob, clock, journal=journal, stranger_quota=quota)
        with pytest.raises(RateLimited):
            _public(again, 10, clock)
        clock.now_ms = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS
        _public(again, 11, clock)


def test_serve_takes_the_quota_from_its_options(tmp_path: Path) -> None:
    """`a2a-coop serve --stranger-statements 4`: a fresh key's Mandate and Checkpoint are taken, the next
    key's refused RATE_LIMITED over the wire, with the retry hint (RPC-012's ErrorInfo metadata)."""
    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
    from a2a_coop.transport import CooperationClient

    who = provision(tmp_path, "bob")
    server = start_server("bob", ["serve", "--stranger-statements", "4", *who.files()], tmp_path / "bob.log")
    try:
        target = wait_listening(server).target
        clock = FixedClock()
        clock.now_ms = _now()
        with CooperationClient(target) as client:
            sent: list[Any] = []
            for i in range(2):
                key, mandate = fresh_key(i, clock)
                sent.append((_checkpoint(key, mandate).envelope, [mandate.envelope]))
            assert client.exchange(*sent[0]) == []
            with pytest.raises(RateLimited) as refused:
                client.exchange(*sent[1])
        assert 0 < refused.value.retry_after_ms <= STRANGER_PERIOD_MS
    finally:
        stop_process(server.popen)


def _now() -> int:
    import time

    return int(time.time() * 1000)


def test_mandates_minted_naming_the_peer_or_a_counterparty_count() -> None:
    """Anyone can sign a Mandate naming any key as its agent: fresh principals each minting one naming Bob
    himself, or Carol, a party of a contract of Bob's, were never counted (a Mandate whose agent is in the
    dealings was taken as the dealings'): fifty of them taken over a quota of 4. They count now, for
    their agent; a Mandate Bob's own principal issues for him does not."""
    clock = FixedClock()
    bob, carol = Party("bob", clock), Party("carol", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=0))
    offer = carol.offer(bob, carol.proposal())
    b.exchange(offer.envelope, carol.setup)  # Carol, and her principal, in Bob's dealings now

    def minted(i: int, agent: str, boss: Signer | None = None) -> VerifiedStatement:
        boss = boss if boss is not None else Signer(f"minting-principal/{i}", clock)
        caps = identity_pb2.Mandate(
            agent=agent,
            valid_from_ms=clock.now_ms,
            valid_until_ms=clock.now_ms + 3_600_000,
            currency="credit",
            period_ms=3_600_000,
        )
        return boss.sign("mandate", caps, ttl_ms=3_600_000)

    refused = 0
    for i in range(50):
        try:
            b.exchange(minted(i, bob.did if i % 2 else carol.did).envelope)
        except RateLimited:
            refused += 1
    assert refused == 47  # three quarters of 4 taken: what nobody in Bob's dealings asked for
    renewed = minted(100, bob.did, bob.principal)
    b.exchange(renewed.envelope)
    assert renewed.digest in b.verifier.statements


def test_a_counterparty_whose_negotiation_went_dormant_counts_again() -> None:
    """Mallory opens a negotiation Bob counters: while it is open she is in Bob's dealings and her
    Checkpoints are not counted under the quota (only against her Offer's credit). Once it has gone
    dormant (its outstanding offer's expiry plus skew passed: nothing she signs can move it, RPC-014)
    she is out of them, for RPC-016 as for RPC-017:
    her next Checkpoints count, and the quota refuses them. Before, the negotiation left the dealings
    only when something else swept the dormant ones out (an open cap reached, a newcomer's Offer), so
    a key one countered Offer let in stayed uncounted for as long as nothing did."""
    from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView

    clock = FixedClock()
    bob = Party("bob", clock)

    class Counters(HonestStrategy):
        def respond(self, offer: OfferView) -> Counter:  # type: ignore[override]
            return Counter(bob.proposal())

    b = make_peer(bob, clock, strategy=Counters(), stranger_quota=StrangerQuota(per_period=100, per_key=2))
    mallory = Party("mallory", clock)
    offer = mallory.offer(bob, mallory.proposal(), ttl_ms=60_000)
    assert [decode_body(e) for e in b.exchange(offer.envelope, mallory.setup)] == ["mandate", "counter"]
    signed = [offer.digest]

    def checkpoint() -> VerifiedStatement:
        vs = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
        signed.append(vs.digest)
        return vs

    # In Bob's dealings: counted against her opening Offer's credit, not the quota (a per-key quota of
    # 2); no base count, no bond locked (tests/test_attack19.py).
    b.exchange(checkpoint().envelope)
    with pytest.raises(RateLimited, match="outside our negotiations of " + mallory.did):
        b.exchange(checkpoint().envelope)
    signed.pop()
    clock.advance(30 * 60_000)  # past the Counter's expiry and the skew: dormant
    b.exchange(checkpoint().envelope)
    b.exchange(checkpoint().envelope)
    with pytest.raises(RateLimited, match="of " + mallory.did):
        b.exchange(checkpoint().envelope)


def decode_body(envelope: bytes) -> str:
    from a2a_coop.protocol.statements import verify_statement

    return verify_statement(envelope).body


def test_one_contract_puts_only_its_counterpartys_principal_in_the_dealings() -> None:
    """Mallory's key signs a Checkpoint under a Mandate of a principal P0 (bound to it, KEY-007), then
    trades with Bob under her own principal's Mandate. The contract puts her key and the principal of
    the Mandate her statement of it cites in Bob's dealings -- not P0: every principal her key was bound
    to joined them for good, so a Checkpoint under each of n fresh principals' Mandates and one contract
    made n principals whose statements Bob never counted (RPC-016) and who vouched for newcomers
    (RPC-017's reserve)."""
    from peers import DAY_MS

    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock)
    p0 = Signer("p0", clock)
    caps = identity_pb2.Mandate(
        agent=mallory.did,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    m0 = p0.sign("mandate", caps, ttl_ms=DAY_MS)
    b.exchange(
        mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=m0.digest).envelope,
        [m0.envelope],
    )
    assert b.verifier.bound[mallory.did] == {p0.did}
    offer = mallory.offer(bob, mallory.proposal())
    assert "accept" in [decode_body(e) for e in b.exchange(offer.envelope, mallory.setup)]
    assert b.deals_with(mallory.did) and b.deals_with(mallory.principal.did)
    assert not b.deals_with(p0.did)


def test_a_flood_does_not_keep_out_a_revocation_of_a_key_we_hold_nothing_of() -> None:
    """Strangers fill Bob's quota; K's principal sends Bob its revocation of K with K's binding
    Checkpoint (KEY-008). Bob holds nothing of K, so the three statements count, and the revocation is
    refused RATE_LIMITED until the next period -- meanwhile the thief holding K can trade with Bob (its
    Offer counts under RPC-017, not here)."""
    clock = FixedClock()
    bob, k = Party("bob", clock), Party("k", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4))
    binding = k.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
    _full(b, clock)
    clock.advance(1_000)
    msg = identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms - 500, reason="stolen")
    revocation = k.principal.sign("key_revocation", msg)
    with contextlib.suppress(RateLimited):
        b.exchange(revocation.envelope, [k.mandate_vs.envelope, binding.envelope])
    assert k.did in b.verifier.revoked
