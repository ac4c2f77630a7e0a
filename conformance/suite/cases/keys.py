"""Identity: key validation, revocation and rotation (SPEC section 3, KEY-*, MND-012)."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.identity import did_from_public_key
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, Party, Signer
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, open_negotiation, refuses, target, with_signature
from conformance.suite.model import CaseFailed, Level, Outcome, case

# y = p = 2^255 - 19: not a canonical encoding (y must be below p).
NONCANONICAL_KEY = (2**255 - 19).to_bytes(32, "little")
# The identity point (x = 0, y = 1): of order 1, so of small order.
SMALL_ORDER_KEY = (1).to_bytes(32, "little")


@case(
    "key.noncanonical",
    "A keyid whose public key is not canonically encoded is refused KEY_NONCANONICAL",
    "KEY-002",
)
def noncanonical(ctx: Context) -> Outcome:
    """The signature's keyid replaced by the did:key of y = p (an encoding of 0 that is not canonical)."""
    alice = ctx.party()
    offer = alice.offer(target(ctx), fair_proposal(alice))
    bad = with_signature(offer.envelope, keyid=did_from_public_key(NONCANONICAL_KEY))
    return Outcome.passed(
        refuses(ctx, bad, "KEY_NONCANONICAL", what="a non-canonical key", context=alice.setup)
    )


@case("key.small-order", "A keyid whose public key has small order is refused KEY_SMALL_ORDER", "KEY-003")
def small_order(ctx: Context) -> Outcome:
    """The signature's keyid replaced by the did:key of the identity point."""
    alice = ctx.party()
    offer = alice.offer(target(ctx), fair_proposal(alice))
    bad = with_signature(offer.envelope, keyid=did_from_public_key(SMALL_ORDER_KEY))
    return Outcome.passed(refuses(ctx, bad, "KEY_SMALL_ORDER", what="a small-order key", context=alice.setup))


@case(
    "key.revocation-by-stranger",
    "A KeyRevocation of a key by a stranger is refused REVOCATION_UNAUTHORIZED",
    "KEY-004",
)
def revocation_by_stranger(ctx: Context) -> Outcome:
    """Mallory (bound to her own principal) revokes Alice's agent key."""
    alice = ctx.party()
    opened = open_negotiation(ctx)
    mallory = ctx.party("mallory")
    now = ctx.clock.now_ms
    bad = mallory.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=now - 1000, reason="test"),
        mandate=b"",
    )
    ctx.must(opened.offer.issuer == alice.did, "suite error")
    return Outcome.passed(
        refuses(
            ctx,
            bad.envelope,
            "REVOCATION_UNAUTHORIZED",
            what="a stranger's revocation of alice's key",
            context=mallory.setup,
        )
    )


@case(
    "key.principal-revoked",
    "A statement under a mandate whose principal revoked its own key is refused KEY_REVOKED",
    "MND-012",
    "KEY-004",
    "KEY-007",
)
def principal_revoked(ctx: Context) -> Outcome:
    """Alice's principal revokes its own key as of a second ago (effective: the issuer is the key itself);
    Alice's next Offer, issued after, names the principal's Mandate: KEY_REVOKED."""
    alice = ctx.party()
    now = ctx.clock.now_ms
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=now - 1000, reason="test"),
    )
    offer = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(
            ctx,
            offer.envelope,
            "KEY_REVOKED",
            what="an offer under a revoked principal's mandate",
            context=[*alice.setup, revocation.envelope],
        )
    )


@case(
    "key.revoked-despite-escrow-stamp",
    "A live receiver refuses KEY_REVOKED a revoked key's statement even beside its escrow's Stamp of it, "
    "made before any Stamp of the revocation",
    "KEY-009",
    "KEY-004",
)
def revoked_despite_escrow_stamp(ctx: Context) -> Outcome:
    """Alice's key revokes itself from now (its holder may be a thief), then signs an Offer naming an escrow
    the suite plays, which stamps it (and never the revocation). The Offer comes to the target as a
    request, with the revocation and the escrow's Stamp as context: witnessed before its revocation, a
    view of evidence would take it (KEY-009), but a live receiver trades with no revoked key, whatever
    stamped it -- else a thief of a key would trade past its revocation through an escrow it minted. (A
    key's own revocation reaches none of its statements signed before it, KEY-011: the Offer comes after.)"""
    alice, escrow = ctx.party(), ctx.party("escrow")
    revocation = alice.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=ctx.clock.now_ms, reason="test"),
    )
    offer = alice.offer(target(ctx), fair_proposal(alice, escrow=escrow.did))
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    return Outcome.passed(
        refuses(
            ctx,
            offer.envelope,
            "KEY_REVOKED",
            what="an offer of a revoked key its escrow stamped first",
            context=[*alice.setup, *escrow.setup, revocation.envelope, stamp.envelope],
        )
    )


@case(
    "key.own-revocation-reaches-back-over-nothing",
    "A key's own KeyRevocation dated back disowns none of the key's statements its chain orders before it; "
    "the key's later statements are refused KEY_REVOKED",
    "KEY-011",
    "KEY-004",
)
def own_revocation_reaches_back_over_nothing(ctx: Context) -> Outcome:
    """Alice's key signs an Offer, then -- its holder may be a thief -- revokes itself back to 1 ms. The
    Offer comes to the target as a request with the revocation before it as context: the target must take
    it (KEY-011: a key's own revocation takes effect no earlier than its issued_at_ms and reaches none of
    the key's statements at a seq below its own), and then refuse Alice's next Offer, signed after the
    revocation, KEY_REVOKED. A target that refuses the first lets a thief holding a key (not its
    principal's) disown the key's whole history -- an escrow's ledger, every contract of an agent."""
    alice = ctx.party()
    offer = alice.offer(target(ctx), fair_proposal(alice))
    revocation = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    got = ctx.exchange(
        offer.envelope,
        [*alice.setup, revocation.envelope],
        note="an Offer, with its key's later revocation of itself dated back to 1 ms as context",
    )
    if got.error is not None:
        raise CaseFailed(
            "refused an Offer its key's own later revocation cannot reach (KEY-011): "
            f"{got.error.reason or got.error.status.name}"
        )
    later = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(ctx, later.envelope, "KEY_REVOKED", what="an offer the key signed after revoking itself")
        + ", after taking the Offer the key signed before its own revocation dated back to 1 ms"
    )


@case(
    "key.revocation-with-binding",
    "A principal's KeyRevocation sent with the key's binding Checkpoint as context is taken; "
    "the key's later statements are refused KEY_REVOKED",
    "KEY-008",
    "KEY-004",
    "KEY-007",
)
def revocation_with_binding(ctx: Context) -> Outcome:
    """Alice's key signs a public Checkpoint under her principal's Mandate and nothing else the target
    hears; her principal revokes the key as of a second ago, sending the Checkpoint (and the Mandate) as
    the revocation's context (KEY-008). The target must take the two as one -- the Checkpoint binds the
    key to the principal (KEY-007), which authorises the revocation (KEY-004) -- and then refuse Alice's
    next Offer with KEY_REVOKED. A target that drops the context refuses the revocation
    REVOCATION_UNAUTHORIZED: it misses the SHOULD."""
    alice = ctx.party()
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    _revoke_with_binding(
        ctx,
        alice,
        binding,
        note="a principal's revocation with its key's binding Checkpoint as context (KEY-008)",
        why="the context binding the key to its principal was not taken first (KEY-008)",
    )
    offer = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(ctx, offer.envelope, "KEY_REVOKED", what="an offer by the key its principal revoked")
        + ", after taking the principal's revocation with the key's binding Checkpoint as its context"
    )


@case(
    "key.revocation-with-forked-binding",
    "A principal's KeyRevocation is taken with a binding Checkpoint a thief of the key forked (the key "
    "bound only to the thief's principal); the thief's later statements are refused KEY_REVOKED",
    "KEY-007",
    "KEY-008",
    "KEY-004",
)
def revocation_with_forked_binding(ctx: Context) -> Outcome:
    """Alice's key signs its binding Checkpoint (seq 0) under her principal's Mandate. A thief of the key
    signs its own seq 0 under a Mandate its own principal minted for the key and shows it to the target
    first: the key is bound to the thief's principal there, and Alice's binding now fails its chain
    (EQUIVOCATION). Alice's principal revokes the key as of a second ago with [Mandate, binding] as
    context (KEY-008): the binding's only fault is against another statement of the key, so it binds the
    key to Alice's principal all the same (KEY-007) and the revocation is taken; the thief's next Offer,
    under Alice's Mandate, must be refused KEY_REVOKED. A target that refuses the revocation (with the
    binding, EQUIVOCATION) misses KEY-008's SHOULD; one that then takes the thief's Offer lets one forked
    statement keep a principal's revocation out."""
    alice = ctx.party()
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    thief = Signer(alice.name, ctx.clock)  # the same key, its own chain and nonces
    thief._nonce_counter = 1_000
    boss = Signer(f"{alice.name}/thief-principal", ctx.clock)
    now = ctx.clock.now_ms
    caps = identity_pb2.Mandate(
        agent=alice.did, valid_from_ms=now - 60_000, valid_until_ms=now + DAY_MS, currency="credit"
    )
    own = boss.sign("mandate", caps, ttl_ms=DAY_MS)
    fork = thief.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), mandate=own.digest)
    shown = ctx.exchange(fork.envelope, [own.envelope], note="the thief's Checkpoint under its own Mandate")
    if shown.error is not None:
        raise CaseFailed(
            f"refused the thief's valid Checkpoint: {shown.error.reason or shown.error.status.name}"
        )
    _revoke_with_binding(
        ctx,
        alice,
        binding,
        note="the principal's revocation with the key's binding Checkpoint, which the thief forked",
        why="a binding whose only fault is its chain -- a thief's fork -- binds the key all the same "
        "(KEY-007, KEY-008)",
    )
    offer = thief.sign("offer", fair_proposal(alice), audience=ctx.target, mandate=alice.mandate_vs.digest)
    return Outcome.passed(
        refuses(
            ctx,
            offer.envelope,
            "KEY_REVOKED",
            what="the thief's offer under the principal's Mandate",
            context=alice.setup,
        )
        + ", after taking the principal's revocation with the binding the thief forked"
    )


@case(
    "key.rotated-out",
    "After a KeyRotation, a later statement of the old key is refused KEY_REVOKED",
    "KEY-005",
)
def rotated_out(ctx: Context) -> Outcome:
    """Alice's Offer is accepted; she signs a KeyRotation to Carol's key (held by the target as context
    of her next statement); then an Offer at the next seq is KEY_REVOKED."""
    opened = open_negotiation(ctx)
    alice = opened.party
    carol = ctx.party("carol")
    rotation = alice.sign("key_rotation", identity_pb2.KeyRotation(new_key=carol.did), mandate=b"")
    offer = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(
            ctx,
            offer.envelope,
            "KEY_REVOKED",
            what="a statement after the key's rotation",
            context=[rotation.envelope],
        )
    )


def _revoke_with_binding(
    ctx: Context, alice: Party, binding: VerifiedStatement, *, note: str, why: str
) -> None:
    """Alice's principal revokes her key as of a second ago, [her Mandate, ``binding``] as the context
    (KEY-008). Raises CaseFailed (NON_STRICT: KEY-008 is a SHOULD) saying ``why`` when it is refused."""
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=ctx.clock.now_ms - 1000, reason="test"),
    )
    reply = ctx.exchange(revocation.envelope, [*alice.setup, binding.envelope], note=note)
    if reply.error is not None:
        code = reply.error.reason or reply.error.status.name
        raise CaseFailed(f"refused the revocation sent with its binding ({code}): {why}", Level.NON_STRICT)
