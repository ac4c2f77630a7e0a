"""An escrow's newcomer quota (SPEC ESC-017): the statements of no negotiation it takes of keys outside
its dealings, through Submit, are bounded per period of its clock.

Before it, fresh keys each submitting their Mandate and a Checkpoint under it were each stamped: 20 keys,
20 Stamps in the escrow's ledger and 60 entries in its transcript (every auditor downloads it), the
escrow signing for each. Never counted: what a party with funds or a contract here submits or needs (its
contract's evidence, a Mandate a statement of the same Submit cites, the first revocation of a key the
escrow holds statements of), the escrow's own statements and its deposits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from peers import fresh_key

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import RateLimited, RevocationUnauthorized
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import META_STRANGERS, STRANGER_PERIOD_MS, StrangerQuota
from a2a_coop.testing import FixedClock, Party, Signer

pytestmark = pytest.mark.req("ESC-017")


def _checkpoint(key: Signer, mandate: VerifiedStatement) -> VerifiedStatement:
    """``key``'s next Checkpoint under ``mandate``, its log_root the tree hash of what it signed before."""
    signed: list[bytes] = key.__dict__.setdefault("signed_digests", [])
    vs = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)), mandate=mandate.digest)
    signed.append(vs.digest)
    return vs


def _node(path: Path, escrow: Party, clock: FixedClock, quota: StrangerQuota | None) -> EscrowNode:
    return EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        path,
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=quota,
    )


def _public(node: Any, i: int, clock: FixedClock) -> tuple[Signer, VerifiedStatement]:
    """Fresh key ``i`` submits its Mandate and a Checkpoint under it; raises what the escrow refuses."""
    key, mandate = fresh_key(i, clock)
    node.submit([mandate.envelope, _checkpoint(key, mandate).envelope])
    return key, mandate


def _flood(node: EscrowNode, clock: FixedClock, keys: range) -> int:
    """Each of ``keys`` submits its Mandate and Checkpoint; how many Submits were refused RATE_LIMITED."""
    refused = 0
    for i in keys:
        try:
            _public(node, i, clock)
        except RateLimited as err:
            assert err.requirement == "ESC-017"
            assert 0 < err.retry_after_ms <= STRANGER_PERIOD_MS
            refused += 1
    return refused


def test_fresh_keys_mandates_and_checkpoints_are_bounded(tmp_path: Path) -> None:
    """Twenty fresh keys each submit [Mandate, Checkpoint]: with a quota of 9 the escrow takes four keys'
    pairs, then the fifth key's Mandate alone (ESC-001: the envelope before the refused one is kept and
    stamped), and refuses the rest RATE_LIMITED with the time to its next period: 5 Stamps, not 20."""
    clock = FixedClock()
    escrow = Party("escrow", clock)
    node = _node(tmp_path / "e.db", escrow, clock, StrangerQuota(per_period=9, per_key=0))
    try:
        before, transcript = node.escrow.ledger_size, len(node.escrow.transcript())
        assert _flood(node, clock, range(20)) == 16
        assert node.escrow.ledger_size - before == 5  # one Stamp a Submit that took anything
        assert len(node.escrow.transcript()) - transcript == 5 + 9
        assert node.journal.get_meta(META_STRANGERS) == [clock.now_ms // STRANGER_PERIOD_MS, 9]
    finally:
        node.close()


def test_a_served_escrow_has_the_quota_unless_told_otherwise(tmp_path: Path) -> None:
    """An EscrowNode given no quota takes :class:`StrangerQuota`'s defaults (as a PeerNode does); one of
    zeros -- `escrow serve --stranger-statements 0 --stranger-statements-per-key 0` -- is no limit."""
    clock = FixedClock()
    escrow = Party("escrow", clock)
    node = _node(tmp_path / "a.db", escrow, clock, None)
    try:
        assert node.stranger_quota == StrangerQuota() and node.escrow.quota is not None
    finally:
        node.close()
    node = _node(tmp_path / "b.db", escrow, clock, StrangerQuota(per_period=0, per_key=0))
    try:
        assert node.escrow.quota is None and _flood(node, clock, range(30)) == 0
    finally:
        node.close()


def test_one_key_takes_no_more_than_its_share(tmp_path: Path) -> None:
    """A key whose Checkpoints keep coming is held to the per-key count (its Mandate counts for its
    principal, who signed it, not for it: anyone can mint one naming it, tests/test_attack16.py)."""
    clock = FixedClock()
    node = _node(tmp_path / "e.db", Party("escrow", clock), clock, StrangerQuota(per_period=100, per_key=3))
    try:
        key, mandate = _public(node, 0, clock)
        node.submit([_checkpoint(key, mandate).envelope])
        node.submit([_checkpoint(key, mandate).envelope])
        with pytest.raises(RateLimited, match="of " + key.did):
            node.submit([_checkpoint(key, mandate).envelope])
        _public(node, 1, clock)
    finally:
        node.close()


def test_a_real_partys_evidence_is_taken_while_the_quota_is_exhausted(tmp_path: Path) -> None:
    """Strangers used up the quota. Alice and Bob -- no funds here, their first contract naming the
    escrow as arbiter -- submit it: their Mandates, which the Offer and Accept of the same Submit cite, are
    not counted. Then, parties of a contract here, their own statements of no negotiation are taken (a
    Checkpoint of Alice's, a Mandate her principal renews), and a stranger's is still refused -- also a
    Mandate a stranger mints naming Alice as agent: anyone can sign one, and it is no claim to her
    dealings. A stranger submitting Bob's Mandate again takes nothing and is not refused."""
    clock = FixedClock()
    escrow, alice, bob = Party("escrow", clock), Party("alice", clock), Party("bob", clock)
    node = _node(tmp_path / "e.db", escrow, clock, StrangerQuota(per_period=4, per_key=0))
    try:
        assert _flood(node, clock, range(3)) == 1
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        accept = bob.accept(offer)
        answer = node.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
        assert len(answer) == 2  # our Mandate, the Stamp of all four
        assert node.escrow.deals_with(alice.did) and node.escrow.deals_with(alice.mandate_vs.issuer)
        node.submit(
            [alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root([offer.digest]))).envelope]
        )
        renewed = alice.principal.sign(
            "mandate", identity_pb2.Mandate(**_caps(alice.mandate_vs, clock)), ttl_ms=STRANGER_PERIOD_MS
        )
        node.submit([renewed.envelope])
        assert renewed.digest in node.escrow.verifier.statements
        minted = Signer("mallory-principal/x", clock).sign(
            "mandate", identity_pb2.Mandate(**_caps(alice.mandate_vs, clock)), ttl_ms=STRANGER_PERIOD_MS
        )
        with pytest.raises(RateLimited):
            node.submit([minted.envelope])
        assert node.submit(list(bob.setup)) == [escrow.mandate_vs.envelope]  # held: nothing to stamp
        with pytest.raises(RateLimited):
            _public(node, 9, clock)
    finally:
        node.close()


def _caps(mandate: VerifiedStatement, clock: FixedClock) -> dict[str, Any]:
    m = mandate.statement.mandate
    return {
        "agent": m.agent,
        "valid_from_ms": clock.now_ms,
        "valid_until_ms": clock.now_ms + STRANGER_PERIOD_MS,
        "currency": m.currency,
        "period_ms": m.period_ms,
    }


def test_a_revocation_of_a_key_the_escrow_holds_statements_of_is_taken_once_over_the_quota(
    tmp_path: Path,
) -> None:
    """K's Mandate and Checkpoint were taken while the quota had room; then strangers filled it. K's
    principal revokes K: taken -- a flood must never keep out the revocation of a key a thief holds. Once,
    and its one correction (an earlier effective time, tests/test_attack19.py): a third revocation of K
    counts, and is refused, as does a second one that moves nothing earlier; so is a revocation of a key
    the escrow holds nothing of -- here with no revocations' reserve, which would take them
    (tests/test_revocation_reserve.py)."""
    clock = FixedClock()
    quota = StrangerQuota(per_period=4, per_key=0, revocations=0)
    node = _node(tmp_path / "e.db", Party("escrow", clock), clock, quota)
    try:
        boss = Signer("k-principal", clock)
        k, mandate = fresh_key(0, clock, boss)
        node.submit([mandate.envelope, _checkpoint(k, mandate).envelope])
        assert _flood(node, clock, range(1, 3)) == 1
        clock.advance(2_000)

        def revoke(key: str, back_ms: int) -> VerifiedStatement:
            msg = identity_pb2.KeyRevocation(key=key, effective_ms=clock.now_ms - back_ms, reason="stolen")
            return boss.sign("key_revocation", msg)

        first = revoke(k.did, 1_000)
        node.submit([first.envelope])
        assert first.digest in node.escrow.verifier.statements and k.did in node.escrow.verifier.revoked
        with pytest.raises(RateLimited):
            node.submit([revoke(k.did, 500).envelope])  # later than the first: no correction
        node.submit([revoke(k.did, 1_500).envelope])  # the correction
        with pytest.raises(RateLimited):
            node.submit([revoke(k.did, 1_600).envelope])
        # A key the escrow holds nothing of, revoking itself: counted, and refused. Revoked by a key
        # with no authority: refused with its own code first (ERR-002), as a defect is.
        stranger = Signer("nobody", clock)
        own = identity_pb2.KeyRevocation(key=stranger.did, effective_ms=clock.now_ms, reason="lost")
        with pytest.raises(RateLimited):
            node.submit([stranger.sign("key_revocation", own).envelope])
        with pytest.raises(RevocationUnauthorized):
            node.submit([revoke(stranger.did, 500).envelope])
    finally:
        node.close()


def test_the_count_survives_a_restart(tmp_path: Path) -> None:
    """The period's count is journaled with what it counted: the escrow started again on its journal in
    the same period refuses as before (a crash grants no second quota); the next period takes keys again."""
    clock = FixedClock()
    escrow = Party("escrow", clock)
    quota = StrangerQuota(per_period=4, per_key=0)
    node = _node(tmp_path / "e.db", escrow, clock, quota)
    try:
        assert _flood(node, clock, range(3)) == 1
    finally:
        node.close()
    node = _node(tmp_path / "e.db", escrow, clock, quota)
    try:
        with pytest.raises(RateLimited):
            _public(node, 10, clock)
        clock.now_ms = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS
        _public(node, 11, clock)
    finally:
        node.close()
    with Journal.open(tmp_path / "e.db") as journal:
        assert journal.get_meta(META_STRANGERS) == [clock.now_ms // STRANGER_PERIOD_MS, 2]


def test_escrow_serve_takes_the_quota_from_its_options(tmp_path: Path) -> None:
    """`a2a-coop escrow serve --stranger-statements 2`: a fresh key's Mandate and Checkpoint are taken,
    the next key's refused RATE_LIMITED over gRPC with the retry hint (ErrorInfo metadata)."""
    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
    from a2a_coop.transport import EscrowClient

    who = provision(tmp_path, "escrow")
    argv = ["escrow", "serve", *who.files(), "--stranger-statements", "2"]
    server = start_server("escrow", argv, tmp_path / "escrow.log")
    try:
        target = wait_listening(server).target
        clock = FixedClock()
        clock.now_ms = int(time.time() * 1000)
        with EscrowClient(target) as client:
            _public(client, 0, clock)
            with pytest.raises(RateLimited) as refused:
                _public(client, 1, clock)
        assert 0 < refused.value.retry_after_ms <= STRANGER_PERIOD_MS
    finally:
        stop_process(server.popen)
