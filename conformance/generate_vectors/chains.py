"""Chain, complete-log and key-lifecycle vectors (SPEC 6.7-6.9, 3.3 Rotation, 3.4 Revocation).

Chain: linking, order, equivocation and checkpoints in a sparse view (CHN-001, CHN-003..007); the
equivocation it builds is also written as equivocation-proof.json. CompleteLog: complete segments,
where a missing seq is an error (CHN-002). KeyLifecycle: revocation and rotation of agent and
principal keys (KEY-004, KEY-005, MND-012), and a revoked key's statements its escrow stamped first
(KEY-009).
"""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainWriter, EquivocationProof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, derive
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    draft,
    draft_offer,
    edited,
    retimed,
    seal,
    world,
)


def chain() -> tuple[Group, EquivocationProof]:
    g = Group("Chain", "sparse")
    clock, alice, bob = world()
    offers = []
    for _ in range(3):
        offers.append(alice.offer(bob))
        clock.advance(1_000)
    cp = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([o.digest for o in offers]))
    )
    env = [o.envelope for o in offers]
    g.add(
        "four linked statements (three offers and a Checkpoint over them)",
        ["CHN-001", "CHN-007"],
        [*alice.setup, *env, cp.envelope],
    )
    g.add("the same chain delivered in reverse order", ["CHN-001", "CHN-003"], [*alice.setup, *reversed(env)])
    g.add(
        "a sparse view: seq 0 and seq 2 only", ["CHN-006"], [*alice.setup, env[0], env[2]], None, "ChainGap"
    )
    stmt = draft_offer(alice, bob)
    stmt.header.seq, stmt.header.prev = 1, offers[0].digest
    linked = seal(alice.agent.key, stmt)
    broken = seal(alice.agent.key, edited(stmt, lambda s: setattr(s.header, "prev", derive("not seq 0"))))
    g.add(
        "seq 1 whose prev is not the digest of seq 0",
        ["CHN-003"],
        [*alice.setup, env[0], broken],
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=[*alice.setup, env[0], linked],
    )
    g.add(
        "seq 1 with a wrong prev arriving before seq 0",
        ["CHN-003"],
        [*alice.setup, broken, env[0]],
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=[*alice.setup, linked, env[0]],
    )
    same_ms = edited(stmt, retimed(offers[0].header.issued_at_ms))
    g.add(
        "seq 1 issued 1 ms before seq 0",
        ["CHN-005"],
        [
            *alice.setup,
            env[0],
            seal(alice.agent.key, edited(same_ms, retimed(offers[0].header.issued_at_ms - 1))),
        ],
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=[*alice.setup, env[0], seal(alice.agent.key, same_ms)],
    )
    g.add(
        "seq 1 issued in the same ms as seq 0 (non-decreasing is enough)",
        ["CHN-005"],
        [*alice.setup, env[0], seal(alice.agent.key, same_ms)],
        None,
        "Boundary",
    )
    fork = draft_offer(alice, Signer("carol", clock).did)
    fork.header.seq, fork.header.prev = 1, offers[0].digest
    forked = seal(alice.agent.key, fork)
    # The fork's statement at the next free seq, where it would be an honest next link.
    at_seq_3 = seal(
        alice.agent.key,
        edited(fork, lambda s: (setattr(s.header, "seq", 3), setattr(s.header, "prev", offers[2].digest))),
    )
    g.add(
        "two different statements at seq 1 (equivocation)",
        ["CHN-004"],
        [*alice.setup, env[0], env[1], forked],
        "EQUIVOCATION",
        "Equivocation",
        twin=[*alice.setup, env[0], env[1], at_seq_3],
    )
    g.add(
        "two different statements at seq 1, seen without seq 0",
        ["CHN-004", "CHN-006"],
        [*alice.setup, env[1], forked],
        "EQUIVOCATION",
        "Equivocation",
        twin=[*alice.setup, env[1], at_seq_3],
    )
    fork.header.prev = derive("elsewhere")
    g.add(
        "a second seq 1 whose prev is also wrong: EQUIVOCATION is checked before CHAIN_BROKEN",
        ["CHN-004", "ERR-002"],
        [*alice.setup, env[0], env[1], seal(alice.agent.key, fork)],
        "EQUIVOCATION",
        "Equivocation",
        "VerificationOrder",
    )
    return g, EquivocationProof(env[1], forked)


def complete_log() -> Group:
    g = Group("CompleteLog", "complete")
    _, alice, bob = world()
    offers = [alice.offer(bob) for _ in range(3)]
    env = [o.envelope for o in offers]
    g.add("a complete segment seq 0..2", ["CHN-001", "CHN-002"], [*alice.setup, *env])
    g.add(
        "seq 1 missing from a complete segment",
        ["CHN-002"],
        [*alice.setup, env[0], env[2]],
        "CHAIN_GAP",
        "ChainGap",
        twin=[*alice.setup, *env],
    )
    g.add("a complete segment may start after seq 0", ["CHN-002"], [*alice.setup, env[1], env[2]])
    g.add(
        "seq 2 before seq 1 in a complete segment",
        ["CHN-002"],
        [*alice.setup, env[0], env[2], env[1]],
        "CHAIN_GAP",
        "ChainGap",
        failed_index=len(alice.setup) + 1,
        twin=[*alice.setup, *env],
    )
    _, _, trade = _full_trade()
    g.add(
        "a complete trade transcript: mandates, offer, accept, two deliveries, two receipts",
        ["CHN-001", "CHN-002", "NEG-001", "NEG-011"],
        trade,
    )
    return g


def _full_trade() -> tuple[Party, Party, list[bytes]]:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    clock.advance(1_000)
    d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
    clock.advance(1_000)
    r1, r2 = bob.receipt(d1), alice.receipt(d2)
    return alice, bob, [*alice.setup, *bob.setup, *(s.envelope for s in (offer, accept, d1, d2, r1, r2))]


def key_lifecycle() -> Group:
    g = Group("KeyLifecycle", "sparse")
    clock, alice, bob = world()
    bind = alice.offer(bob)  # Alice's key signs under her principal's mandate: it is bound to it (KEY-007)
    t = clock.advance(60_000)
    rev = alice.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t))
    at_effective = alice.offer(bob)
    before = alice.offer(bob, issued_at_ms=t - 1)
    g.add(  # KEY-009 (c): an auditor holds it, disowned in every order; an escrow refuses it (keytime.json)
        "the principal revokes its (bound) agent's key; the agent then signs at effective_ms: held by a view "
        "of evidence, disowned (a statement of a negotiation, KEY-009 (c))",
        ["KEY-004", "KEY-007", "KEY-009"],
        [*alice.setup, bind.envelope, rev.envelope, at_effective.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    g.add(
        "a statement issued 1 ms before effective_ms stays valid",
        ["KEY-004"],
        [*alice.setup, bind.envelope, rev.envelope, before.envelope],
        None,
        "Boundary",
    )
    clock, alice, bob = world()
    self_rev = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    clock.advance(1_000)
    offer = alice.offer(bob)
    g.add(
        "the agent revokes its own key, then signs again: held by a view of evidence, disowned (KEY-009 (c))",
        ["KEY-004", "KEY-009"],
        [*alice.setup, self_rev.envelope, offer.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    clock, alice, bob = world()
    revocation = identity_pb2.KeyRevocation(key=alice.did, effective_ms=1)
    hostile = agent_draft(bob, "key_revocation", revocation)
    g.add(
        "Bob's agent tries to revoke Alice's key",
        ["KEY-004"],
        [*alice.setup, *bob.setup, seal(bob.agent.key, hostile)],
        "REVOCATION_UNAUTHORIZED",
        "RevocationAuthority",
        twin=[*alice.setup, *bob.setup, alice.sign("key_revocation", revocation).envelope],
    )
    clock, alice, bob = world()
    nxt = Signer("alice-next", clock)
    rot = alice.agent.sign("key_rotation", identity_pb2.KeyRotation(new_key=nxt.did))
    clock.advance(1_000)
    offer = alice.offer(bob)
    g.add(
        "the agent rotates its key, then the old key signs seq + 1: held by a view of evidence, disowned "
        "(KEY-009 (c))",
        ["KEY-005", "KEY-009"],
        [*alice.setup, rot.envelope, offer.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    g.add(
        "a key rotation alone (the last statement of the old key)", ["KEY-005"], [*alice.setup, rot.envelope]
    )
    clock, alice, bob = world()
    t = clock.advance(60_000)
    prev = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=t)
    )
    at_effective = alice.offer(bob)
    before = alice.offer(bob, issued_at_ms=t - 1)
    g.add(
        "the principal's own key is revoked; its mandate authorizes nothing issued from then: held by a "
        "view of evidence, disowned (KEY-009 (c))",
        ["MND-012", "KEY-004", "KEY-009"],
        [*alice.setup, prev.envelope, at_effective.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    return g


def _bound(alice: Party) -> None:
    """Alice's key binds itself to her principal by a public Checkpoint (KEY-007), kept in her setup after
    her Mandate, so that her principal's revocation of it is authorised in any order: only a principal's
    revocation reaches back over what the key's chain orders before it (KEY-011)."""
    alice.setup.append(alice.sign("checkpoint", identity_pb2.Checkpoint()).envelope)


def witnessed_before_revocation() -> Group:
    """KEY-009: an offline verifier takes a revoked key's statement that its escrow stamped before it
    stamped any revocation covering it, ordered by the escrow's Stamps (time, then chain, then place in
    one Stamp), never by the revocation's own times."""
    g = Group("WitnessedBeforeRevocation", "sparse")
    clock, alice, bob = world()
    _bound(alice)
    escrow = Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    stamped = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    clock.advance(1_000)
    disown = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.header.issued_at_ms)
    )
    clock.advance(1_000)
    # The escrow names the revocation first, the Offer after it, in one Stamp (as one that took the
    # Offer after the revocation, at fault, would).
    both = escrow.sign("stamp", commitment_pb2.Stamp(statements=[disown.digest, offer.digest]))
    setup = [*alice.setup, *escrow.setup, disown.envelope]
    g.add(
        "Alice's principal revoked her key back to its Offer; the Offer's escrow stamped the Offer before "
        "any Stamp of the revocation held (its earliest Stamp counts): an offline verifier takes it",
        ["KEY-009", "KEY-004"],
        [*setup, stamped.envelope, both.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    g.add(
        "the same, holding only the escrow's Stamp that names the revocation before the Offer: held "
        "(KEY-009 (c)) and disowned",
        ["KEY-009", "KEY-004"],
        [*setup, both.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    clock.advance(1_000)
    offer_first = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, disown.digest]))
    g.add(
        "the same, holding only an escrow's Stamp that names the Offer before the revocation (one Submit "
        "carried both, in that order): taken -- an earlier place in one Stamp is earlier",
        ["KEY-009", "KEY-004"],
        [*setup, offer_first.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    g.add(
        "the same, the Offer's Stamp held only after the Offer: held (KEY-009 (c)) -- witnessed before the "
        "revocation once the Stamp comes, as in the other order",
        ["KEY-009", "KEY-004"],
        [*setup, offer.envelope, stamped.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    clock, alice, bob = world()
    _bound(alice)
    escrow = Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(500)
    disown = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.header.issued_at_ms)
    )
    clock.advance(500)
    revocation_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[disown.digest]))
    clock.advance(1_000)
    offer_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    setup = [*alice.setup, *escrow.setup, disown.envelope]
    g.add(
        "the escrow stamped the revocation a second before the Offer: held (KEY-009 (c)) and disowned -- "
        "the escrow's order; "
        "without that Stamp (a revocation the escrow never stamped proves nothing came after it), counted",
        ["KEY-009", "KEY-004"],
        [*setup, revocation_stamp.envelope, offer_stamp.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    _witnessed_accept_and_counter(g)
    _witnessed_under_a_revoked_principal(g)
    return g


def _witnessed_accept_and_counter(g: Group) -> None:
    """KEY-009 for an Accept (its witness: the escrow of the offer it accepts) and for a Counter (the
    escrow its own terms name, not the one of the offer it answers), of a key revoked back over them."""
    clock, alice, bob = world()
    _bound(alice)
    escrow = Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    clock.advance(1_000)
    disown = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=accept.header.issued_at_ms)
    )
    clock.advance(1_000)
    revocation_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[disown.digest]))
    clock.advance(1_000)
    contract_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    setup = [*alice.setup, *bob.setup, *escrow.setup, disown.envelope]
    g.add(
        "Alice's principal revoked her key back to its Accept of Bob's offer; the offer's escrow stamped the "
        "Accept, and the revocation a second earlier: held (KEY-009 (c)) and disowned; without the "
        "revocation's Stamp, counted",
        ["KEY-009", "KEY-004"],
        [*setup, revocation_stamp.envelope, contract_stamp.envelope, offer.envelope, accept.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    clock, alice, bob = world()
    _bound(alice)
    first, second = Party("escrow", clock), Party("escrow-2", clock)
    offer = bob.offer(alice, bob.proposal(escrow=first.did))
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=second.did))
    clock.advance(1_000)
    disown = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=counter.header.issued_at_ms)
    )
    clock.advance(1_000)
    by_second = second.sign("stamp", commitment_pb2.Stamp(statements=[counter.digest]))
    by_first = first.sign("stamp", commitment_pb2.Stamp(statements=[counter.digest]))
    setup = [*alice.setup, *bob.setup, *first.setup, *second.setup, disown.envelope, offer.envelope]
    g.add(
        "Alice's principal revoked her key back to its Counter naming a second escrow, which stamped it (the "
        "first escrow, of the offer it answers, never saw the revocation either): taken by its own",
        ["KEY-009", "KEY-004"],
        [*setup, by_second.envelope, counter.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    g.add(
        "the same Counter stamped only by the escrow of the offer it answers (not its witness): held "
        "(KEY-009 (c)) and disowned",
        ["KEY-009", "KEY-004"],
        [*setup, by_first.envelope, counter.envelope],
        None,
        "WitnessedBeforeRevocation",
    )


def _witnessed_under_a_revoked_principal(g: Group) -> None:
    """KEY-009 for MND-012 (the Mandate's principal revoked its own key before the statement: a key's own
    revocation reaches back over nothing, KEY-011), and for a key with two revocations, one not covering
    the statement held first."""
    clock, alice, bob = world()
    escrow = Party("escrow", clock)
    own = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=clock.now_ms)
    )
    clock.advance(1_000)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    revocation_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[own.digest]))
    clock.advance(1_000)
    offer_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    setup = [*alice.setup, *escrow.setup, own.envelope]
    g.add(
        "Alice's principal revoked its own key before her Offer (MND-012); the Offer's escrow stamped "
        "the Offer and never the revocation: taken",
        ["KEY-009", "MND-012"],
        [*setup, offer_stamp.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    g.add(
        "Alice's principal revoked its own key before her Offer (MND-012); the Offer's escrow stamped "
        "the revocation first: held (KEY-009 (c)) and disowned; without that Stamp, counted",
        ["KEY-009", "MND-012"],
        [*setup, revocation_stamp.envelope, offer_stamp.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )
    clock, alice, bob = world()
    _bound(alice)
    escrow = Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    back = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.header.issued_at_ms)
    )
    later = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + DAY_MS)
    )
    clock.advance(1_000)
    back_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[back.digest]))
    clock.advance(1_000)
    offer_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    setup = [*alice.setup, *escrow.setup, later.envelope, back.envelope]
    g.add(
        "Alice's key holds two revocations, the first held effective after her Offer (it covers nothing "
        "of it), the second back over it and stamped before the Offer: held (KEY-009 (c)) and disowned by "
        "the second",
        ["KEY-009", "KEY-004"],
        [*setup, back_stamp.envelope, offer_stamp.envelope, offer.envelope],
        None,
        "WitnessedBeforeRevocation",
    )


# --- SPEC 0.2: time across gaps, checkpoint roots, key authority -------------------------------------


def chain_time() -> Group:
    """CHN-005 against the nearest held statements, at any distance: a sparse view's gaps do not let a
    statement claim a time its held neighbours contradict."""
    g = Group("ChainTime", "sparse")
    clock, alice, bob = world()
    carol = Party("carol", clock)
    signed = [alice.offer(bob)]
    for _ in range(4):  # offers to Carol, which Bob's view does not hold
        clock.advance(1_000)
        signed.append(alice.offer(carol))
    clock.advance(1_000)
    rotation = alice.sign("key_rotation", identity_pb2.KeyRotation(new_key=Signer("alice-next", clock).did))
    view = [*alice.setup, *bob.setup, signed[0].envelope, rotation.envelope]
    # The rotated-out key still holds its secret: it signs an offer at seq 2, a seq Bob never saw.
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=2, prev=signed[1].digest)
    clock.advance(1_000)
    late = draft_offer(alice, bob)
    inside = edited(late, retimed(signed[0].header.issued_at_ms + 2_500))
    g.add(
        "a rotated-out key signs into a gap of a sparse view (seq 2, between held seq 0 and its rotation "
        "at seq 5), dated after the rotation",
        ["CHN-005", "KEY-005", "CHN-006"],
        [*view, seal(alice.agent.key, late)],
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=[*view, seal(alice.agent.key, inside)],
    )
    g.add(
        "the same statement dated between the held seq 0 and the rotation fits the gap (a sparse view "
        "cannot tell it from the real seq 2)",
        ["CHN-005", "CHN-006"],
        [*view, seal(alice.agent.key, inside)],
        None,
        "ChainGap",
    )
    clock, alice, bob = world()
    first = alice.offer(bob)
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=3, prev=derive("alice seq 2"))
    clock.advance(1_000)
    third = draft_offer(alice, bob)
    g.add(
        "seq 3 dated 1 ms before the held seq 0, with seq 1 and 2 missing",
        ["CHN-005", "CHN-006"],
        [
            *alice.setup,
            first.envelope,
            seal(alice.agent.key, edited(third, retimed(first.header.issued_at_ms - 1))),
        ],
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=[*alice.setup, first.envelope, seal(alice.agent.key, third)],
    )
    return g


def checkpoint_root() -> Group:
    """CHN-007: a verifier holding the issuer's statements 0..seq-1 recomputes a Checkpoint's log_root."""
    g = Group("CheckpointRoot", "complete")
    clock, alice, bob = world()
    offers = []
    for _ in range(3):
        offers.append(alice.offer(bob))
        clock.advance(1_000)
    digests = [o.digest for o in offers]
    log = [*alice.setup, *(o.envelope for o in offers)]
    right = agent_draft(alice, "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(digests)))

    def root(value: bytes) -> bytes:
        return seal(alice.agent.key, edited(right, lambda s: setattr(s.checkpoint, "log_root", value)))

    g.add(
        "a complete log seq 0..2, then a Checkpoint at seq 3 over them",
        ["CHN-007", "CHN-002"],
        [*log, seal(alice.agent.key, right)],
        None,
        "LogRoot",
    )
    for comment, wrong in [
        ("whose log_root leaves out the last statement", merkle_root(digests[:2])),
        ("whose log_root lists seq 0 and 1 swapped", merkle_root([digests[1], digests[0], digests[2]])),
        ("whose log_root counts seq 2 twice", merkle_root([*digests, digests[2]])),
    ]:
        g.add(
            f"a complete log seq 0..2, then a Checkpoint at seq 3 {comment}",
            ["CHN-007"],
            [*log, root(wrong)],
            "LOG_ROOT_MISMATCH",
            "LogRoot",
            twin=[*log, seal(alice.agent.key, right)],
        )
    g.add(
        "a complete segment from seq 1: the root over seq 0..2 cannot be recomputed, so a Checkpoint with "
        "a wrong log_root is not refused",
        ["CHN-007", "CHN-002"],
        [*log[:-3], *log[-2:], root(merkle_root(digests[:2]))],
        None,
        "LogRoot",
    )
    return g


def key_authority() -> Group:
    """KEY-004 and KEY-007: a key is revoked by itself or by a principal it is bound to, and it is bound
    only by its own signature under that principal's Mandate."""
    g = Group("KeyAuthority", "sparse")
    clock, alice, bob = world()
    mallory = Signer("mallory", clock)
    caps = alice.mandate_vs.statement.mandate

    def minted(victim: str) -> tuple[bytes, identity_pb2.Mandate]:
        """Mallory's Mandate naming ``victim`` as its agent: anyone can sign one."""
        m = identity_pb2.Mandate()
        m.CopyFrom(caps)
        m.agent = victim
        vs = mallory.sign("mandate", m, ttl_ms=DAY_MS)
        return vs.envelope, vs.digest

    fake, fake_digest = minted(alice.did)
    clock.advance(1_000)
    revocation = draft(
        mallory,
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms - DAY_MS),
    )
    accepted = alice.sign("offer", alice.proposal(), audience=bob.did, mandate=fake_digest)
    g.add(
        "Mallory mints a Mandate naming Alice's agent key, then revokes that key: Alice never signed "
        "under it, so it binds her to nobody",
        ["KEY-004", "KEY-007"],
        [*alice.setup, fake, seal(mallory.key, revocation)],
        "REVOCATION_UNAUTHORIZED",
        "RevocationAuthority",
        twin=[*alice.setup, fake, accepted.envelope, seal(mallory.key, revocation)],
    )
    g.add(
        "once Alice's key has signed under Mallory's Mandate, it is bound to Mallory, who may revoke it",
        ["KEY-004", "KEY-007"],
        [*alice.setup, fake, accepted.envelope, seal(mallory.key, revocation)],
    )
    fake_p, _ = minted(alice.principal.did)
    self_revocation = draft(
        alice.principal,
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=clock.now_ms),
    )
    g.add(
        "Mallory mints a Mandate naming Alice's principal key, then revokes that key",
        ["KEY-004", "KEY-007", "MND-012"],
        [
            *alice.setup,
            fake_p,
            seal(mallory.key, draft(mallory, "key_revocation", self_revocation.key_revocation)),
        ],
        "REVOCATION_UNAUTHORIZED",
        "RevocationAuthority",
        twin=[*alice.setup, fake_p, seal(alice.principal.key, self_revocation)],
    )

    def principal_revokes(bound_by: str) -> list[bytes]:
        """Alice's principal revokes her agent key, after the key bound itself by an offer or a
        Checkpoint naming the mandate, or before it signed anything (``bound_by`` = "")."""
        clock, alice, bob = world()
        bound = []
        if bound_by == "offer":
            bound = [alice.offer(bob).envelope]
        elif bound_by == "checkpoint":
            cp = alice.sign("checkpoint", identity_pb2.Checkpoint())
            bound = [cp.envelope]
        clock.advance(1_000)
        rev = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms)
        )
        return [*alice.setup, *bound, rev.envelope]

    g.add(
        "Alice's own principal revokes her agent key before the key signed anything under its Mandate",
        ["KEY-004", "KEY-007"],
        principal_revokes(""),
        "REVOCATION_UNAUTHORIZED",
        "RevocationAuthority",
        twin=principal_revokes("offer"),
    )
    g.add(
        "the principal revokes its agent key once the key signed an offer under its Mandate",
        ["KEY-004", "KEY-007"],
        principal_revokes("offer"),
    )
    g.add(
        "the key binds itself before trading by a public Checkpoint naming the Mandate (SPEC 3.4); its "
        "principal may then revoke it",
        ["KEY-004", "KEY-007"],
        principal_revokes("checkpoint"),
    )
    clock, alice, bob = world(alice={"valid_until_ms": FixedClock().now_ms + DAY_MS})
    offer = alice.offer(bob)
    clock.advance(2 * DAY_MS)
    rev = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms)
    )
    g.add(
        "the principal revokes its bound agent key after the Mandate has expired (the binding outlives it)",
        ["KEY-004", "KEY-007"],
        [*alice.setup, offer.envelope, rev.envelope],
    )
    return g


def lower_seq_late() -> Group:
    """A lower seq received after a higher one (the mutation run over chain, session 25): CHN-005 against
    the held statement below, across a gap, and CHN-003 against the link held above. Every earlier
    vector but SeqZero gave an issuer's statements in seq order, so an implementation that checked a
    late statement against its neighbour above alone (CHN-005), or against none above (CHN-003, seq >
    0), passed them all."""
    g = Group("LowerSeqLate", "sparse")

    def late_one(offset_ms: int) -> list[bytes]:
        """Alice's seq 0 and seq 3 held; then seq 1, linked to seq 0, issued ``offset_ms`` after seq 0."""
        clock, alice, bob = world()
        zero = alice.offer(bob)
        t0 = zero.header.issued_at_ms
        clock.advance(3_000)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=3, prev=derive("alice seq 2"))
        three = alice.offer(bob)
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=1, prev=zero.digest)
        one = edited(draft_offer(alice, bob), retimed(t0 + offset_ms))
        return [*alice.setup, zero.envelope, three.envelope, seal(alice.agent.key, one)]

    g.add(
        "seq 0 and seq 3 held, then seq 1 (linked to seq 0) dated 1 ms before seq 0: its time is checked "
        "against the held statement below it across the gap, not only against seq 3 above",
        ["CHN-005", "CHN-006"],
        late_one(-1),
        "CHAIN_BROKEN",
        "ChainBroken",
        "Boundary",
        twin=late_one(0),
    )
    g.add(
        "the same seq 1 dated at seq 0's millisecond fits the gap",
        ["CHN-005", "CHN-006"],
        late_one(0),
        None,
        "Boundary",
    )

    def under_two(linked: bool) -> list[bytes]:
        """Alice's seq 0 and seq 2 held; then seq 1, linked to seq 0, named by seq 2's prev iff ``linked``."""
        clock, alice, bob = world()
        zero = alice.offer(bob)
        clock.advance(1_000)
        one = alice.offer(bob)
        clock.advance(1_000)
        prev = one.digest if linked else derive("alice's other seq 1")
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=2, prev=prev)
        two = alice.offer(bob)
        return [*alice.setup, zero.envelope, two.envelope, one.envelope]

    g.add(
        "seq 0 and seq 2 held, then seq 1 linked to seq 0 but not the statement seq 2's prev names: "
        "CHN-003 is checked against the link held above a lower seq received late, not only below",
        ["CHN-003", "CHN-004"],
        under_two(False),
        "CHAIN_BROKEN",
        "ChainBroken",
        twin=under_two(True),
    )
    g.add(
        "the same with seq 2 linked to seq 1: seq 1 fills the gap",
        ["CHN-003"],
        under_two(True),
        None,
    )
    return g


def accept_of_an_offer_not_held() -> Group:
    """KEY-009 (e): an Accept whose offer the view does not hold has no witnessing escrow -- not its
    negotiation's contract's or outstanding offer's, an escrow the Accept does not name. K forks its chain
    with two Accepts at one seq, the second of an offer the view never heard (under another escrow); the
    view's escrow E stamps both before K's principal P revokes K back over them. Reading E for the second,
    P was faulty in one implementation and spared in the other (the second implementation, F118)."""
    g = Group("AcceptOfAnOfferNotHeld", "sparse")
    clock, alice, bob = world()
    _bound(alice)
    escrow, elsewhere = Party("escrow", clock), Party("escrow-elsewhere", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(60_000)
    # K counters under E2 and Bob counters back, neither heard by the view (K's Counter is the gap below
    # its two Accepts)
    countered = alice.counter(offer, alice.proposal(escrow=elsewhere.did))
    unheard = bob.counter(countered, bob.proposal(escrow=elsewhere.did))
    head = alice.agent.writer.next_seq, alice.agent.writer.prev
    accept = alice.accept(offer)
    forks = []
    for other in (unheard, offer):
        alice.agent.writer.next_seq, alice.agent.writer.prev = head  # K's second branch
        clock.advance(1)
        forks.append(alice.accept(other))
    _revoked_over(
        g,
        alice,
        escrow,
        back_to_ms=offer.issued_at_ms,
        held=[*alice.setup, *bob.setup, *escrow.setup, offer.envelope],
        first=accept,
        story="Bob offers Alice's key K a trade under escrow E; K accepts it, and signs a second Accept at "
        "the same seq; E stamps both, then P revokes K back to the offer and E stamps the revocation; the "
        "second Accept refused EQUIVOCATION, the two its proof against K",
        spared=(
            forks[0],
            "the second accepts Bob's Counter (naming escrow E2) of a Counter of K's, neither heard by the "
            "view: the second Accept has "
            "no witnessing escrow there (not E, the contract's: an escrow it does not name), so P's "
            "revocation disowns it and P is spared -- as when a proof's links are dropped (ATT-025)",
        ),
        convicted=(
            forks[1],
            "the second accepts the same offer: E, the escrow its offer names, witnessed both before the "
            "revocation -- P faulty beside K",
        ),
    )
    return g


def named_statement_not_held() -> Group:
    """KEY-009 (e), as AcceptOfAnOfferNotHeld for every other statement naming one: a Reject, Withdraw,
    Delivery, BreachClaim, Revoke or Receipt whose named statement the view does not hold has no witnessing
    escrow -- not its negotiation's contract's or outstanding offer's, an escrow it does not name. K forks its
    chain with two of them at one seq, the second naming a statement of the negotiation under escrow E2 that
    the view never heard; the view's escrow E stamps both before K's principal P revokes K back over them.
    Read by E, the second was witnessed and P faulty in both implementations (F122); read by none, P is
    spared there, and a second naming the held statement still convicts P."""
    g = Group("NamedStatementNotHeld", "sparse")
    for body in NAMING_BODIES:
        _named_forks(g, body)
    return g


def _revoked_over(
    g: Group,
    alice: Party,
    escrow: Party,
    *,
    back_to_ms: int,
    held: list[bytes],
    first: VerifiedStatement,
    story: str,
    spared: tuple[VerifiedStatement, str],
    convicted: tuple[VerifiedStatement, str],
) -> None:
    """Two cases of K's fork: after ``held``, K's ``first`` statement at a seq, and each case's fork a second
    one there. A second on, K's principal P revokes K back to ``back_to_ms``; for each case ``escrow`` E
    stamps the first and the fork, then the revocation, and the view, trusting E, refuses the fork
    EQUIVOCATION: ``spared``'s (fork, comment) holds K alone faulty, ``convicted``'s P beside K."""
    clock = escrow.clock
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=back_to_ms)
    )
    k, p = alice.did, alice.principal.did
    for (fork, comment), faulty in ((spared, [k]), (convicted, [k, p])):
        clock.advance(1_000)
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[first.digest, fork.digest]))
        clock.advance(1_000)
        stamped = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
        g.add(
            f"{story} -- {comment}",
            ["KEY-009", "ATT-013", "CHN-004"],
            [*held, first.envelope, stamp.envelope, revocation.envelope, stamped.envelope, fork.envelope],
            "EQUIVOCATION",
            "Equivocation",
            no_twin="the defect is the fork itself: any second statement of K at that seq is one",
            trusted_escrows=[escrow.did],
            faulty=faulty,
        )


NAMING_BODIES = ("reject", "withdraw", "delivery", "breach_claim", "revoke", "receipt")


def named_statement_branch(body: str) -> list[bytes]:
    """The statements under E2 that :func:`named_statement_not_held`'s view of ``body`` never hears, in the
    order their signers signed them: the second fork's named statement and what leads to it."""
    return _named_forks(Group("", "sparse"), body)


def _named_forks(g: Group, body: str) -> list[bytes]:
    """The two cases of ``body``: its fork naming a statement not held (P spared), then the held one's;
    returns the branch the view does not hear."""
    clock, alice, bob = world()
    _bound(alice)
    escrow, elsewhere = Party("escrow", clock), Party("escrow-elsewhere", clock)
    e, e2 = escrow.did, elsewhere.did
    # the negotiation: Alice's key K offers (a Withdraw's) or is offered the trade under E, held; the other
    # branch, under E2, is heard by no one but its parties
    if body == "withdraw":
        offer = alice.offer(bob, alice.proposal(escrow=e))
        clock.advance(60_000)
        countered = bob.counter(offer, bob.proposal(escrow=e2))
        unheard = alice.counter(countered, alice.proposal(escrow=e2))
        held_named, unheld_named, extra = offer, unheard, []
        branch = [countered, unheard]
    else:
        revocable = trade_pb2.Revocation(allowed=True) if body == "revoke" else None
        offer = bob.offer(alice, bob.proposal(escrow=e, revocation=revocable))
        clock.advance(60_000)
        countered = alice.counter(offer, alice.proposal(escrow=e2))
        if body == "reject":
            held_named, unheld_named, extra = offer, bob.counter(countered, bob.proposal(escrow=e2)), []
            branch = [countered, unheld_named]
        else:
            displaced = bob.accept(countered)  # a contract under E2, which the view never hears of
            accept = alice.accept(offer)
            held_named, unheld_named, extra = accept, displaced, [accept.envelope]
            branch = [countered, displaced]
            if body == "receipt":
                clock.advance(1_000)
                delivered = bob.deliver(accept, alice)
                held_named, unheld_named = delivered, bob.deliver(displaced, alice)
                extra.append(delivered.envelope)
                branch.append(unheld_named)
    head = alice.agent.writer.next_seq, alice.agent.writer.prev
    clock.advance(DAY_MS + 1_000 if body == "breach_claim" else 1_000)  # a claim, past the item's deadline
    first = _naming(alice, bob, body, held_named, "first")
    forks = []
    for named, label in ((unheld_named, "unheld"), (held_named, "again")):
        alice.agent.writer.next_seq, alice.agent.writer.prev = head  # K's second branch
        clock.advance(1)
        forks.append(_naming(alice, bob, body, named, label))
    what = body.replace("_", " ")
    _revoked_over(
        g,
        alice,
        escrow,
        back_to_ms=first.issued_at_ms,
        held=[*alice.setup, *bob.setup, *escrow.setup, offer.envelope, *extra],
        first=first,
        story=f"Alice's key K signs a {what} under escrow E and a second {what} at the same seq; E stamps "
        "both, then P revokes K back to the first and E stamps the revocation; the second refused "
        "EQUIVOCATION, the two its proof against K",
        spared=(
            forks[0],
            f"the second {what} names a statement of the negotiation under escrow E2 that the view never "
            "heard: it has no witnessing escrow there (not E, the negotiation's: an escrow it does not "
            "name), so P's revocation disowns it and P is spared -- as when a proof's links are dropped "
            "(ATT-025)",
        ),
        convicted=(
            forks[1],
            f"the second {what} names the same held statement: E, the escrow it leads to, witnessed both "
            "before the revocation -- P faulty beside K",
        ),
    )
    return [vs.envelope for vs in branch]


def _naming(alice: Party, bob: Party, body: str, named: VerifiedStatement, label: str) -> VerifiedStatement:
    """K's ``body`` naming ``named`` (its reason or evidence telling the two branches apart)."""
    if body == "reject":
        return alice.reject(named, label)
    if body == "withdraw":
        return alice.withdraw(named, label)
    if body == "delivery":
        msg = commitment_pb2.Delivery(contract=named.digest, item_index=0, artifact_digest=derive(label))
        return alice.sign("delivery", msg, audience=bob.did, negotiation_id=named.header.negotiation_id)
    if body == "breach_claim":
        msg = commitment_pb2.BreachClaim(contract=named.digest, item_index=0, reason=label)
        return alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=named.header.negotiation_id)
    if body == "revoke":
        return alice.revoke(named, bob, label)
    return alice.receipt(named, rating=90 if label == "first" else 10)
