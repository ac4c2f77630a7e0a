"""Attacker's pass 16: the rules this session added -- RPC-016 (a peer's newcomer quota on strangers'
public statements), RPC-017 (the budget of newcomers' opening Offers and its vouched reserve), ESC-017
(an escrow's newcomer quota), KEY-007 widened (a binding refused only for its chain is shown beside a
KeyRevocation), ``revoke-key --binding-from`` (the key's first Checkpoint read by GetLog) and the escrow
audit's ``LOCK_NOT_DUE`` -- asked who chose each value they rely on and what a liar gains (SPEC 3.4, 9.2,
16.14).

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from peers import fresh_key, make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer


def _checkpoint(key: Signer, mandate: VerifiedStatement) -> VerifiedStatement:
    """``key``'s next Checkpoint under ``mandate`` (its log_root the tree hash of what it signed before)."""
    signed: list[bytes] = key.__dict__.setdefault("signed_digests", [])
    vs = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)), mandate=mandate.digest)
    signed.append(vs.digest)
    return vs


def _minted_for(agent: str, i: int, clock: FixedClock) -> VerifiedStatement:
    """A Mandate naming ``agent`` that Mallory's fresh principal ``i`` signs: anyone can sign one."""
    caps = identity_pb2.Mandate(
        agent=agent,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    return Signer(f"mallory-minter/{i}", clock).sign("mandate", caps, ttl_ms=DAY_MS)


def _revocation(boss: Signer, key: str, clock: FixedClock) -> VerifiedStatement:
    msg = identity_pb2.KeyRevocation(key=key, effective_ms=clock.now_ms - 500, reason="stolen")
    return boss.sign("key_revocation", msg)


# --- 1: RPC-016 / ESC-017, a key's per-key count spent by Mandates others minted naming it ----------------


@pytest.mark.req("RPC-016", "KEY-008")
def test_mandates_minted_naming_a_key_do_not_spend_its_count_and_keep_out_its_revocation() -> None:
    """Attack: K's principal is about to revoke K (stolen) at Bob, who holds nothing of K. Mallory (the
    thief, who wants the revocation kept out while it trades as K) sends Bob, as requests, Mandates that
    fresh principals of its own sign naming K as agent -- each counted, and each counted *for K* (a Mandate
    counts for its agent). With K's per-key count spent, the principal's revocation of K, its binding and
    Mandate as context (KEY-008), is refused ``RATE_LIMITED`` for the rest of the hour, every hour, at the
    cost of ``per_key`` signatures. Defence: a statement counts for a key only if that key (or a principal
    K is bound to) signed it -- a Mandate for its issuer -- so nobody can spend another key's count."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=4))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    binding = _checkpoint(k, mandate)  # K's first Checkpoint, signed before the theft, held by its peer
    for i in range(4):
        b.exchange(_minted_for(k.did, i, clock).envelope)  # each taken: Mallory spends nothing of its own
    clock.advance(1_000)
    revocation = _revocation(boss, k.did, clock)
    b.exchange(revocation.envelope, [mandate.envelope, binding.envelope])
    assert b.verifier.revoked.get(k.did) == revocation.statement.key_revocation.effective_ms


@pytest.mark.req("ESC-017", "KEY-008")
def test_mandates_minted_naming_a_key_do_not_keep_its_revocation_out_of_an_escrow(tmp_path: Path) -> None:
    """Attack 1 at an escrow (ESC-017 counts a Mandate for its agent too): Mallory submits Mandates its
    fresh principals sign naming K; K's principal then submits its Mandate and K's first Checkpoint, and
    in a Submit of its own the revocation (KEY-008's advice to a client). Defence: as above -- none of
    Mallory's Mandates counts for K, and the binding and revocation are stamped."""
    clock = FixedClock()
    escrow = Party("escrow", clock)
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=StrangerQuota(per_period=100, per_key=4),
    )
    try:
        boss = Signer("k-principal", clock)
        k, mandate = fresh_key(0, clock, boss)
        binding = _checkpoint(k, mandate)
        for i in range(4):
            node.submit([_minted_for(k.did, i, clock).envelope])
        clock.advance(1_000)
        node.submit([mandate.envelope, binding.envelope])
        revocation = _revocation(boss, k.did, clock)
        node.submit([revocation.envelope])
        assert k.did in node.escrow.verifier.revoked
    finally:
        node.close()
