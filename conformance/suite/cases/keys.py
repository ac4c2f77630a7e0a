"""Identity: key validation, revocation and rotation (SPEC section 3, KEY-*, MND-012)."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.identity import did_from_public_key
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, Party
from conformance.suite.context import Context
from conformance.suite.flows import (
    fair_proposal,
    forked_binding,
    open_negotiation,
    open_without_contract,
    refuses,
    target,
    unfair_proposal,
    with_signature,
)
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
    # Unfair: taken, but no contract, which the revoked key could not close (KEY_REVOKED).
    offer = alice.offer(target(ctx), unfair_proposal(alice))
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
    "key.thiefs-principal-reaches-no-earlier-mandate",
    "A revocation of a principal's key by a principal it was bound to only after signing a Mandate "
    "disowns nothing under that Mandate signed before the revocation was issued",
    "KEY-011",
    "MND-012",
    "KEY-007",
)
def thiefs_principal_reaches_no_earlier_mandate(ctx: Context) -> Outcome:
    """A thief holding Alice's principal's key P (not Alice's key) has its own principal T mint a Mandate
    for P, signs a Checkpoint with P under it (P bound to T, KEY-007), and has T revoke P back to 1 ms.
    The target takes the revocation (with P's binding as its context, KEY-008); then Alice's Offer
    under the Mandate P signed before that binding, signed before the revocation, comes to it: it must take
    it (KEY-011 (c): a principal reaches back only over the Mandates P signed once bound to it; (b): over
    P's own word, its Mandate for Alice, only from P's binding to it). A target that refuses it
    KEY_REVOKED lets the thief of a principal's key disown the whole history of every agent of that
    principal."""
    alice, thief = ctx.party(), ctx.party("thief")
    # Before the theft; unfair: taken, but no contract, which Alice's principal's revoked key's Mandate
    # could not close (the target refused the closing Delivery KEY_REVOKED, MND-012: its date is later).
    offer = alice.offer(target(ctx), unfair_proposal(alice))
    ctx.clock.advance(5)  # the revocation is issued after it (it reaches forward from then: KEY-011 (c))
    stolen = alice.principal
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    m.agent = stolen.did
    t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    t_binding = stolen.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([alice.mandate_vs.digest])),
        mandate=t_mandate.digest,
    )
    t_back = thief.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=stolen.did, effective_ms=1, reason="test")
    )
    ctx.send(
        t_back,
        [t_mandate.envelope, t_binding.envelope],
        note="a thief's principal's revocation of Alice's principal's key back to 1 ms, with that key's "
        "binding to the thief's principal as context (KEY-008)",
    )
    got = ctx.exchange(
        offer.envelope,
        alice.setup,
        note="an Offer under the Mandate Alice's principal signed before its key was bound to the thief's",
    )
    if got.error is not None:
        raise CaseFailed(
            "refused an Offer under a Mandate its principal's key signed before it was bound to the "
            f"revoker (KEY-011 (c)): {got.error.reason or got.error.status.name}"
        )
    return Outcome.passed(
        "took an Offer under a Mandate signed before the principal's key was bound to its revoker, a thief's "
        "principal revoking that key back to 1 ms"
    )


@case(
    "key.own-mandate-revoked-as-the-key",
    "A key's statement under a Mandate it issued itself is revoked as any of its statements (its own "
    "revocation's seq counts), not by MND-012",
    "MND-025",
    "KEY-004",
    "KEY-011",
)
def own_mandate_revoked_as_the_key(ctx: Context) -> Outcome:
    """Alice's key is its own principal: it signs a Mandate for itself, an Offer under it, and -- its holder
    may be a thief -- its own revocation back to 1 ms, dated the Offer's millisecond at the next seq. The
    Offer comes to the target as a request with the Mandate and the revocation as context: the target must
    take it (KEY-004 reads the revocation's seq, KEY-011 (a)); a target that also applies MND-012 -- the
    revocation's issuer is the Mandate's principal, and MND-012 has no seq clause -- refuses it. Then the
    key's next Offer, after the revocation in its chain, must be refused KEY_REVOKED."""
    alice = ctx.party()
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    own_mandate = alice.agent.sign("mandate", m, ttl_ms=365 * DAY_MS)
    offer = alice.agent.sign(
        "offer",
        unfair_proposal(alice),  # taken, but no contract, which the revoked key could not close
        audience=target(ctx).did,
        negotiation_id=b"",
        mandate=own_mandate.digest,
    )
    revocation = alice.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test"),
        issued_at_ms=offer.issued_at_ms,
    )
    got = ctx.exchange(
        offer.envelope,
        [own_mandate.envelope, revocation.envelope],
        note="an Offer under its key's own Mandate, with the key's revocation of itself at the next seq, "
        "in the same millisecond, dated back to 1 ms, as context",
    )
    if got.error is not None:
        raise CaseFailed(
            "refused an Offer under its key's own Mandate that the key's later revocation cannot reach "
            f"(MND-025, KEY-011 (a)): {got.error.reason or got.error.status.name}"
        )
    later = alice.agent.sign(
        "offer",
        fair_proposal(alice),
        audience=target(ctx).did,
        negotiation_id=b"",
        mandate=own_mandate.digest,
    )
    return Outcome.passed(
        refuses(ctx, later.envelope, "KEY_REVOKED", what="an offer the key signed after revoking itself")
        + ", after taking the Offer under its own Mandate signed before the revocation in its chain"
    )


@case(
    "key.own-revocation-fork-refused-as-a-fork",
    "A key's statement at the seq of its own KeyRevocation held (another digest) is refused EQUIVOCATION, "
    "with the fork's proof, not KEY_REVOKED",
    "KEY-012",
    "CHN-004",
)
def own_revocation_fork_refused_as_a_fork(ctx: Context) -> Outcome:
    """Alice's key signs two public Checkpoints, at seqs 0 and 1; a thief holding it signs, at seq 1 (linked
    to the first) and dated between them, the key's own revocation back to 1 ms. The target takes the first
    Checkpoint and the revocation; then Alice's second Checkpoint, which the revocation reaches, must be
    refused EQUIVOCATION (KEY-012), the two envelopes its proof -- a target that refuses it KEY_REVOKED,
    with the revocation alone, keeps no proof of the fork, while one that heard the Checkpoint first holds
    one: the thief chooses where the fork is seen."""
    alice = ctx.party()
    at = ctx.clock.now_ms
    first = alice.agent.sign("checkpoint", identity_pb2.Checkpoint(), issued_at_ms=at)
    second = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([first.digest])), issued_at_ms=at + 2
    )
    thief = ChainSigner(
        alice.agent.key, clock=lambda: at + 1, nonce=lambda: b"thief-nonce-0001", head=(1, first.digest)
    )
    fork = thief.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    ctx.send(first, note="the key's first public Checkpoint")
    ctx.send(fork, note="the key's own revocation back to 1 ms, signed at seq 1 by a thief holding it")
    return Outcome.passed(
        refuses(
            ctx, second.envelope, "EQUIVOCATION", what="a statement at the seq of its key's own revocation"
        )
    )


@case(
    "key.forked-own-revocation-taken",
    "A key's own KeyRevocation forked into a seq the key used, heard after the statement it forks, is taken; "
    "the key's next statement is refused KEY_REVOKED",
    "KEY-013",
    "KEY-004",
)
def forked_own_revocation_taken(ctx: Context) -> Outcome:
    """Alice's key signs three public Checkpoints, at seqs 0 to 2, and the target takes them; a thief holding
    the key signs, at seq 1 (linked to the first) and dated between the first two, the key's own revocation
    back to 1 ms. The target must take it (KEY-013: it joins no chain, so it forks none) and then refuse
    Alice's fourth Checkpoint, at seq 3, KEY_REVOKED -- as one that heard the revocation first does. A
    target that refuses the revocation EQUIVOCATION keeps the key unrevoked while another holds it revoked:
    the thief chooses, by whom it shows the revocation to first, where the key stops counting."""
    alice = ctx.party()
    at = ctx.clock.now_ms
    chain = [alice.agent.sign("checkpoint", identity_pb2.Checkpoint(), issued_at_ms=at)]
    for i in (1, 2, 3):
        root = identity_pb2.Checkpoint(log_root=merkle_root([vs.digest for vs in chain]))
        chain.append(alice.agent.sign("checkpoint", root, issued_at_ms=at + 1 + i))
    first, second, third, fourth = chain
    thief = ChainSigner(
        alice.agent.key, clock=lambda: at + 1, nonce=lambda: b"thief-nonce-0002", head=(1, first.digest)
    )
    fork = thief.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    for vs in (first, second, third):
        ctx.send(vs, note=f"the key's public Checkpoint at seq {vs.seq}")
    ctx.send(fork, note="the key's own revocation back to 1 ms, signed at seq 1 by a thief holding it")
    return Outcome.passed(
        refuses(ctx, fourth.envelope, "KEY_REVOKED", what="the key's statement after its forked revocation")
    )


@case(
    "key.rotation-fork-refused-as-a-fork",
    "A key's statement at the next seq after its KeyRotation held, linked elsewhere, is refused "
    "CHAIN_BROKEN, with the fork's proof, not KEY_REVOKED",
    "KEY-012",
    "CHN-003",
)
def rotation_fork_refused_as_a_fork(ctx: Context) -> Outcome:
    """Alice's key signs three public Checkpoints, at seqs 0 to 2; a thief holding it signs, at seq 1 (linked
    to the first) and dated between the first two, a KeyRotation of the key to a key of its own. The target
    takes the first Checkpoint and the rotation; then Alice's third Checkpoint, at the rotation's next seq
    and linked to her second, must be refused CHAIN_BROKEN (KEY-012 (a)), the two envelopes its proof -- a
    target that refuses it KEY_REVOKED (KEY-005), with the rotation alone, keeps no proof of the fork, while
    one that heard the Checkpoint first holds one."""
    alice = ctx.party()
    at = ctx.clock.now_ms
    first = alice.agent.sign("checkpoint", identity_pb2.Checkpoint(), issued_at_ms=at)
    second = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([first.digest])), issued_at_ms=at + 2
    )
    third = alice.agent.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([first.digest, second.digest])),
        issued_at_ms=at + 3,
    )
    thief = ChainSigner(
        alice.agent.key, clock=lambda: at + 1, nonce=lambda: b"thief-nonce-0002", head=(1, first.digest)
    )
    fork = thief.sign("key_rotation", identity_pb2.KeyRotation(new_key=ctx.party("thief").did))
    ctx.send(first, note="the key's first public Checkpoint")
    ctx.send(fork, note="a KeyRotation of the key, signed at seq 1 by a thief holding it")
    return Outcome.passed(
        refuses(ctx, third.envelope, "CHAIN_BROKEN", what="a statement at its key's rotation's next seq")
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
    forked = forked_binding(ctx, alice)
    binding, thief, own, fork = forked.binding, forked.thief, forked.own, forked.fork
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
    """Alice's Offer is accepted (an unfair one: no contract, which her rotated-out key could not
    close); she signs a KeyRotation to Carol's key (held by the target as context
    of her next statement); then an Offer at the next seq is KEY_REVOKED."""
    opened = open_without_contract(ctx)
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
