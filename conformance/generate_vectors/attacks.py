"""Attack vectors: attacks of the v0.1 security review (SPEC 16.14) that an offline auditor can judge
from statements alone, each played as the attacker would send it.

Attack: a throwaway key squatting on the negotiation id of a victim's offer (NEG-013); the bond theft
through a Mandate minted for the victim's key and a revocation of it (KEY-004, KEY-007); a late
Delivery dated back to its deadline, which does not stop the escrow's ruling (WIT-003, WIT-005,
CMT-002).

The other rows of the table are vectors of their own families: the rotated-out key signing into a
sparse gap (chains, ChainTime), a wrong Checkpoint root (chains, CheckpointRoot), an expiry of 2^64 - 1
(statements, IntegerRange), a refund before both bonds are locked (negotiation, Arbitration), and the
race of a claim, a late delivery and a forfeit (negotiation, Confluence). Attacks on a live receiver
(ISSUED_IN_PAST, WRONG_AUDIENCE) or judged by the escrow audit are not offline vectors. The
budget-period attack (MND-009: an offer charges every period it overlaps) waits for the library's
exposure accounting to charge overlapped periods; today it charges only the period an offer is issued in.
"""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.testing import DAY_MS, Party, Signer
from conformance.generate_vectors._common import Group, draft, draft_offer, edited, seal, world
from conformance.generate_vectors.negotiation import UPHOLD, Deal, ctx, stamp


def attacks() -> Group:
    g = Group("Attack", "sparse")

    # 1. Negotiation-id squatting: Mallory copies the id of Alice's offer to Bob into an offer of its own.
    clock, alice, bob = world()
    mallory = Party("mallory", clock)
    target = alice.offer(bob)
    nonce = mallory.agent.next_nonce()
    own = draft_offer(mallory, bob, nonce=nonce)
    squat = seal(
        mallory.agent.key,
        edited(own, lambda s: setattr(s.header, "negotiation_id", target.header.negotiation_id)),
    )
    parties = ctx(alice, bob, mallory)
    g.add(
        "Mallory opens a negotiation under the id of Alice's offer to Bob before that offer arrives",
        ["NEG-013"],
        [*parties, squat],
        "HEADER_INVALID",
        "Attack",
        "DerivedNegotiationId",
        twin=[*parties, seal(mallory.agent.key, own)],
    )
    g.add(
        "Mallory's offer under the id of Alice's offer, after it (it would also be a second Offer in Alice's "
        "negotiation, by a non-party: NEG-013 comes first, statelessly)",
        ["NEG-013", "NEG-001"],
        [*parties, target.envelope, squat],
        "HEADER_INVALID",
        "Attack",
        "DerivedNegotiationId",
        twin=[*parties, target.envelope, seal(mallory.agent.key, own)],
    )

    # 2. Bond theft: both bonds locked, Alice delivered on time. Bob's throwaway key mints a Mandate
    # naming Alice's key and revokes the key from the day before, hoping to void her delivery.
    d = Deal()
    delivered = d.deliver(d.alice)
    contract = [*d.base, *d.locks, delivered.envelope, stamp(d.escrow, delivered).envelope]
    throwaway = Signer("bob-throwaway", d.clock)
    caps = identity_pb2.Mandate()
    caps.CopyFrom(d.alice.mandate_vs.statement.mandate)
    caps.agent = d.alice.did
    minted = throwaway.sign("mandate", caps, ttl_ms=DAY_MS)
    d.clock.advance(1_000)
    revocation = identity_pb2.KeyRevocation(key=d.alice.did, effective_ms=d.clock.now_ms - DAY_MS)
    g.add(
        "bond theft: Bob's throwaway key mints a Mandate for Alice's key and revokes it from the day "
        "before her on-time delivery",
        ["KEY-004", "KEY-007"],
        [*contract, minted.envelope, seal(throwaway.key, draft(throwaway, "key_revocation", revocation))],
        "REVOCATION_UNAUTHORIZED",
        "Attack",
        "RevocationAuthority",
        twin=[
            *contract,
            minted.envelope,
            seal(d.alice.principal.key, draft(d.alice.principal, "key_revocation", revocation)),
        ],
    )

    # 3. A late Delivery dated back to its deadline: Bob never delivered; after Alice's claim he signs a
    # Delivery dated at the deadline. The escrow stamps it half an hour late, so it is no timely delivery
    # (WIT-003) and the escrow upholds the claim; a verifier accepts that ruling (whether it was right is
    # the audit's, AUD-004), whatever time the Delivery claims.
    d = Deal()
    pre = [*d.base, *d.locks, d.deliver(d.alice).envelope]
    d.clock.now_ms = d.deadline + 1
    claim = d.claim(d.alice)
    claim_stamp = stamp(d.escrow, claim)
    d.clock.advance(30 * 60_000)
    backdated = d.deliver(d.bob, issued_at_ms=d.deadline)
    late_stamp = stamp(d.escrow, backdated)
    d.clock.now_ms = claim_stamp.header.issued_at_ms + DEFAULT_RESPONSE_WINDOW_MS
    ruled = d.sign(d.ruling(claim, UPHOLD))
    forfeit = d.sign(d.forfeit(d.bob, claim))
    release = d.escrow_says("release", d.alice).envelope
    g.add(
        "a Delivery dated back to its deadline but stamped half an hour late does not stop the escrow "
        "upholding the claim: its ruling, the forfeit of Bob's bond and the release of Alice's are valid",
        ["WIT-003", "WIT-005", "CMT-002"],
        [
            *pre,
            claim.envelope,
            claim_stamp.envelope,
            backdated.envelope,
            late_stamp.envelope,
            ruled,
            forfeit,
            release,
        ],
        None,
        "Attack",
    )

    return g
