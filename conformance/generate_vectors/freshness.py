"""Freshness and replay vectors (SPEC 6.5 Time window and clock skew, 6.6 Nonce and replay).

Freshness: expiry, not-before and issued-in-the-future at a reference time, one millisecond on
either side of the skew, and offline evidence without a reference time (TIM-001..005). Replay: a
seen envelope again, and a new statement reusing an issuer's nonce (RPL-001, RPL-002).
"""

from __future__ import annotations

from typing import Final

from conformance.generate_vectors._common import Group, Twin, chain_sign, draft_offer, seal, world

SKEW_MS: Final = 30_000
REPLAY: Final = "the defect is the second arrival of one statement: without it the transcript is valid"


def freshness() -> Group:
    g = Group("Freshness", "sparse")
    clock, alice, bob = world()
    clock.advance(3_600_000)
    offer = alice.offer(bob)
    env = [*alice.setup, offer.envelope]
    h = offer.header
    g.add(
        "at expires_at_ms + skew exactly: still valid",
        ["TIM-001", "TIM-004"],
        env,
        None,
        "Boundary",
        now_ms=h.expires_at_ms + SKEW_MS,
    )
    g.add(
        "1 ms past expires_at_ms + skew",
        ["TIM-001"],
        env,
        "EXPIRED",
        "Expired",
        now_ms=h.expires_at_ms + SKEW_MS + 1,
        twin=Twin(env, h.expires_at_ms + SKEW_MS),
    )
    g.add(
        "at issued_at_ms - skew exactly: still valid",
        ["TIM-003", "TIM-004"],
        env,
        None,
        "Boundary",
        now_ms=h.issued_at_ms - SKEW_MS,
    )
    g.add(
        "issued 1 ms further in the future than the skew allows",
        ["TIM-003"],
        env,
        "ISSUED_IN_FUTURE",
        "Expired",
        now_ms=h.issued_at_ms - SKEW_MS - 1,
        twin=Twin(env, h.issued_at_ms - SKEW_MS),
    )
    g.add(
        "expired long ago, verified as evidence without a reference time",
        ["TIM-005"],
        env,
        None,
        "OfflineEvidence",
        now_ms=None,
    )
    stmt = draft_offer(alice, bob)
    stmt.header.not_before_ms = stmt.header.issued_at_ms + 120_000
    nb = chain_sign(alice.agent, stmt)
    env = [*alice.setup, offer.envelope, nb.envelope]
    g.add(
        "not_before_ms - skew exactly: valid",
        ["TIM-002"],
        env,
        None,
        "Boundary",
        now_ms=nb.header.not_before_ms - SKEW_MS,
    )
    g.add(
        "1 ms before not_before_ms - skew",
        ["TIM-002"],
        env,
        "NOT_YET_VALID",
        "Expired",
        now_ms=nb.header.not_before_ms - SKEW_MS - 1,
        twin=Twin(env, nb.header.not_before_ms - SKEW_MS),
    )
    stmt = draft_offer(alice, bob, issued_at_ms=clock.now_ms + 600_000)
    stmt.header.not_before_ms = stmt.header.issued_at_ms + 60_000
    both = chain_sign(alice.agent, stmt)
    g.add(
        "issued in the future and not yet valid: ISSUED_IN_FUTURE is checked first",
        ["TIM-003", "ERR-002"],
        [*alice.setup, both.envelope],
        "ISSUED_IN_FUTURE",
        "Expired",
        "VerificationOrder",
        now_ms=clock.now_ms,
    )
    return g


def replay() -> Group:
    g = Group("Replay", "sparse")
    _, alice, bob = world()
    first = alice.offer(bob)
    nonce = alice.agent.next_nonce()
    fresh = draft_offer(alice, bob, nonce=nonce)
    reused = draft_offer(alice, bob, nonce=first.header.nonce)
    g.add(
        "a second, different statement with the first one's nonce",
        ["RPL-001"],
        [*alice.setup, first.envelope, seal(alice.agent.key, reused)],
        "NONCE_REUSED",
        "Replay",
        twin=[*alice.setup, first.envelope, seal(alice.agent.key, fresh)],
    )
    g.add(
        "the same envelope twice",
        ["RPL-002"],
        [*alice.setup, first.envelope, first.envelope],
        "REPLAYED",
        "Replay",
        no_twin=REPLAY,
    )
    g.add(
        "the mandate envelope twice",
        ["RPL-002"],
        [*alice.setup, *alice.setup],
        "REPLAYED",
        "Replay",
        no_twin=REPLAY,
    )
    bobs = bob.offer(alice, nonce=first.header.nonce)
    g.add(
        "two issuers using the same nonce (nonces are per issuer)",
        ["RPL-001"],
        [*alice.setup, *bob.setup, first.envelope, bobs.envelope],
    )
    return g
