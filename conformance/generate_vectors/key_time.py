"""keytime.json: which time a revocation or a rotation of a key is compared with, offline.

KEY-010: a BreachClaim or Revoke takes effect at its escrow's Stamp, an Offer, Counter or Accept binds a
bond when its escrow takes it, so an escrow taking evidence -- and its audit (AUD-003), which replays the
escrow's transcript, each Stamp before what it names -- compares the Stamp's time, not the signer's own
date, with a KeyRevocation's effective_ms. A view of evidence does not (the revocation's times are its
revoker's to choose, KEY-009): it times a revocation by the escrow's Stamps alone.

KEY-005 read as KEY-009: a view of evidence takes a statement above a KeyRotation of its key when its
witnessing escrow stamped the statement before any Stamp of the rotation held (or stamped no rotation);
of two rotations held, the lower seq ends the chain. An escrow and its audit refuse it all the same.

ESC-022: a revoked escrow key's contracts are its successor's from the revocation's effective_ms, when the
one principal the key was bound to appointed one successor (a Mandate naming the key in succeeds).

KEY-011: a revocation reaches back to its effective_ms only over statements made under its issuer's own
authority: a principal's over the key's statements under its Mandates, the key's own over none (from its
issued_at_ms, and none of the key's statements at a seq below its own).

ESC-019: an escrow (and its audit) takes no Accept of a contract naming an escrow whose last deadline plus
the claim window is at or after the end of either party's Mandates' validity it holds -- a renewal allowing
the counterparty extends it, a held revocation of the key or of its principal cuts it.

Groups whose ``role`` is ``"escrow"`` run the escrow's verifier (SPEC 17: with ESC-019 applied to each
Accept it takes); the others the auditor's.
Every statement is built by its rightful signer; the escrow here is a plain signer following the rules
by hand, its Stamps in its own chain's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainSigner, ChainWriter
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import Statement, VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, bonded_trade, derive, service
from conformance.generate_vectors import chains
from conformance.generate_vectors._common import Group, draft, edited, seal, world
from conformance.generate_vectors.freshness import REPLAY as _REPLAY
from conformance.generate_vectors.negotiation import claimed_breach

__all__ = ["FILE", "groups"]

FILE = "keytime.json"
HOUR_MS = 3_600_000
BOND = 100


def groups() -> list[Group]:
    """The test groups of keytime.json, in file order (tcIds follow it)."""
    built = [
        stamp_timed_at_the_escrow(),
        stamp_timed_in_a_view(),
        rotation_in_a_view(),
        rotation_at_the_escrow(),
        claim_window_at_the_escrow(),
        escrow_validity_at_the_escrow(),
        stamp_ordered_in_a_view(),
        renewal_chain_at_the_escrow(),
        escrow_hand_over_in_a_view(),
        own_revocation_reach(),
        principal_key_reach(),
        own_revocation_fork(),
        rotation_fork(),
        stamps_in_one_millisecond(),
        unwitnessed_in_a_view(),
    ]
    return [
        *built,
        refused_at_the_escrow([chains.key_lifecycle(), *built]),
        escrow_hand_over_thief_in_a_view(),  # after the others, so that no earlier tcId moved
        refused_at_the_escrow(built, held=_HELD_D, name="NoNegotiationAtTheEscrow"),  # KEY-009 (d)
        disowned_stamps_in_a_view(),
        disowned_accept_binds_the_offerer_to_nothing(),  # KEY-009 (c)
        backdated_own_revocation_after_hand_over(),  # ESC-022 (e): last, so that no earlier tcId moved
        exclusive_key_after_hand_over(),  # ESC-022 (e) with NEG-009: after the others, no tcId moved
        held_off_exposure(),  # ... and what the Accept held off counts (MND-010): last, no tcId moved
        own_revocation_at_the_stamp(),  # KEY-010 with KEY-011 (d): after the others, no tcId moved
        *own_revocation_above_a_forked_rotation(),  # KEY-012 (a) with KEY-009 (d), KEY-013: last
        held_off_stamped(),  # ... and its escrow's Stamp lets it in again (NEG-019): last, no tcId moved
        renewal_boundary_at_the_escrow(),  # ESC-019's renewals at their edges: last, no tcId moved
        rotated_stamp_in_a_view(),  # KEY-009 (d) for a rotated-out escrow key's Stamp: last, no tcId moved
        own_revocation_after_rotation_at_the_escrow(),  # KEY-005 with KEY-013 at an escrow: last
        disowned_under_the_principal(),  # KEY-009 (c) with MND-012: last, no tcId moved
        disowned_stamp_beside_a_witnessing_one(),  # KEY-009 (d): last, no tcId moved
        own_revocation_twice(),  # KEY-013 with RPL-002: last, no tcId moved
        disowned_stamp_revoked_again(),  # KEY-009 (d): last, no tcId moved
        bound_first_at_the_escrow(),  # KEY-011 (b): last, no tcId moved
        rotated_accept_held(),  # KEY-009 (c) with KEY-005 and NEG-009: last, no tcId moved
        hand_over_heard_first(),  # ESC-022: last, no tcId moved
        witnessed_by_a_trusted_escrow(),  # ATT-013 (d): the view's trusted escrows
        told_another_trusted_escrow(),  # ATT-013 (f): last, no tcId moved
        answer_proof_taken(),  # ATT-022 with SPEC 17.1's faulty
        revocation_states_the_head(),  # KEY-011 (e): last, no tcId moved
        named_statement_of_another_kind(),  # KEY-009 (e)
        witness_disowned_after_the_accept(),  # KEY-009 (d) with NEG-019, MND-010 (F131)
        refused_again_stays_in_its_chain(),  # KEY-009 (d) with CHN-002 (F132): last, no tcId moved
    ]


# The end of a comment of a case a view of evidence holds that an escrow refuses (``at_the_escrow``).
_HELD: Final = (
    " (KEY-009 (c): a view of evidence holds it, disowned; an escrow refuses it, RefusedAtTheEscrow)"
)
# ... a statement of no negotiation such a view refused before KEY-009 (d) (NoNegotiationAtTheEscrow)
_HELD_D: Final = (
    " (KEY-009 (d): a view of evidence holds it, disowned; an escrow refuses it, NoNegotiationAtTheEscrow)"
)


# --- KEY-010: a thief's statement dated before the revocation, stamped after it -----------------------


@dataclass
class _Race:
    """A bonded, revocable contract between Bob (offerer) and Alice, its Stamp and BondLocks, Alice's
    Delivery; then Alice's key (or her principal's) revoked at ``effective``, and the thief's statement
    dated a millisecond after Alice's Delivery -- after every statement of the key the escrow holds,
    before the revocation's effective_ms."""

    context: list[bytes]  # Mandates, the contract and its Stamp, BondLocks, Alice's Delivery
    revocation: VerifiedStatement
    effective: int
    thief: VerifiedStatement  # the statement under test, dated before ``effective``
    escrow: Party
    clock: FixedClock

    def stamp(self, at: int, *before: VerifiedStatement) -> VerifiedStatement:
        """The escrow's Stamp of the thief's statement (after ``before`` in the same Stamp), at ``at``."""
        return self.escrow.sign(
            "stamp",
            commitment_pb2.Stamp(statements=[*(vs.digest for vs in before), self.thief.digest]),
            issued_at_ms=at,
        )


def _upholding(accept: VerifiedStatement, claim: VerifiedStatement) -> commitment_pb2.Ruling:
    """A Ruling upholding ``claim`` under the contract ``accept`` formed."""
    return commitment_pb2.Ruling(
        contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
    )


def _bonded_revocable(
    clock: FixedClock, alice: Party, bob: Party, escrow: Party
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement, list[VerifiedStatement]]:
    """Bob's bonded, revocable offer (forfeit_bond) to Alice naming ``escrow``, her Accept a second later,
    the escrow's Stamp of both and its BondLocks of Bob's and Alice's bonds: (offer, accept, stamp, locks)."""
    revocable = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    offer = bob.offer(
        alice, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=revocable)
    )
    clock.advance(1_000)
    accept = alice.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND),
            audience=p.did,
            negotiation_id=offer.header.negotiation_id,
        )
        for p in (bob, alice)
    ]
    return offer, accept, stamp, locks


def _race(body: str, *, principal: bool = False) -> _Race:
    """The race of KEY-010 (tests/test_attack20.py), the thief signing ``body``: "revoke" (Alice's
    contract, under forfeit_bond terms), "breach_claim" (of Bob's item, past its deadline), "accept"
    or "counter" (of Carol's bonded offer to Alice), "offer" (a bonded Offer of Alice's to Carol,
    naming the escrow), "receipt" (of Bob's Delivery, which discharges his item), "delivery" (Bob's, his
    key revoked: of no Stamp-timed effect). With
    ``principal`` her principal revokes its own key rather than hers (MND-012's key)."""
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    escrow = Party("escrow", clock)
    offer, accept, stamp, locks = _bonded_revocable(clock, alice, bob, escrow)
    nid = offer.header.negotiation_id
    clock.advance(1_000)
    delivery = alice.deliver(accept, bob)
    context = [*alice.setup, *bob.setup, *escrow.setup, stamp.envelope, offer.envelope, accept.envelope]
    context += [lock.envelope for lock in locks] + [delivery.envelope]
    carols: list[VerifiedStatement] = []
    if body == "breach_claim":  # past the deadline of Bob's item, within its claim window
        clock.advance(DAY_MS)
    if body == "receipt":  # Bob's (worthless) Delivery, before the theft
        clock.advance(1_000)
        bobs = bob.deliver(accept, alice)
        context.append(bobs.envelope)
    if body in ("accept", "counter"):  # Carol's bonded offer to Alice, made before the theft
        clock.advance(1_000)
        carols.append(
            carol.offer(alice, carol.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
        )
        context = [*context[:2], *carol.setup, *context[2:], carols[0].envelope]
    dated = clock.now_ms + 1
    # an Accept's contract must be claimable through its claim window (ESC-019), which the held revocation
    # would cut short: it takes effect after Carol's item is due plus a day
    clock.advance(HOUR_MS + (2 * DAY_MS if body == "accept" else 0))
    effective = clock.now_ms
    revoker = alice.principal
    revoked = revoker.did if principal else alice.did
    revocation = revoker.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=revoked, effective_ms=effective, reason="stolen")
    )
    if body == "revoke":
        thief = alice.revoke(accept, bob, "the thief's", issued_at_ms=dated)
    elif body == "breach_claim":
        thief = alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="the thief's"),
            audience=bob.did,
            negotiation_id=nid,
            issued_at_ms=dated,
        )
    elif body == "accept":
        thief = alice.accept(carols[0], issued_at_ms=dated)
    elif body == "counter":
        counter = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
        thief = alice.counter(carols[0], counter, issued_at_ms=dated)
    elif body == "receipt":
        thief = alice.receipt(bobs, issued_at_ms=dated)
    elif body == "offer":
        thief = alice.offer(
            carol, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did), issued_at_ms=dated
        )
    else:
        thief = bob.deliver(accept, alice, issued_at_ms=dated)
        revocation = bob.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=bob.did, effective_ms=effective, reason="stolen")
        )
    return _Race(context, revocation, effective, thief, escrow, clock)


def stamp_timed_at_the_escrow() -> Group:
    """KEY-010 for an escrow taking evidence and its audit: the Stamp's time, not the statement's own."""
    g = Group("StampTimedRevocation", "sparse", role="escrow")
    for body, what in (
        ("revoke", "a Revoke of Alice's contract (forfeit_bond terms: her bond goes to Bob)"),
        ("breach_claim", "a BreachClaim of Bob's item under Alice's contract, past its deadline"),
        ("accept", "an Accept of Carol's bonded offer to Alice"),
        ("counter", "a bonded Counter of Carol's offer to Alice, naming the escrow"),
        ("offer", "a bonded Offer of Alice's to Carol"),
        ("receipt", "a Receipt of Bob's Delivery (discharging his item: Alice could no longer claim it)"),
    ):
        race = _race(body)
        before = _race(body)
        early = before.stamp(before.effective - 1)
        race.clock.advance(5_000)
        late = race.stamp(race.clock.now_ms)
        g.add(
            f"Alice's principal revoked her key from the theft; the thief then signed {what}, dated before "
            "the revocation's effective_ms (after every statement of the key held), and the escrow stamped "
            "it 5 s after that effective_ms: refused, the Stamp's time decides",
            ["KEY-010", "KEY-004"],
            [*race.context, race.revocation.envelope, late.envelope, race.thief.envelope],
            "KEY_REVOKED",
            "StampTimedRevocation",
            "RevokedKey",
            twin=[*before.context, before.revocation.envelope, early.envelope, before.thief.envelope],
        )
        g.add(
            f"the same {body}, stamped by the escrow 1 ms before the revocation's effective_ms (the escrow "
            "took it before the key was withdrawn): it stands",
            ["KEY-010", "KEY-004"],
            [*before.context, before.revocation.envelope, early.envelope, before.thief.envelope],
        )
    race, at = _race("revoke"), _race("revoke")
    exact = race.stamp(race.effective)
    g.add(
        "the thief's Revoke stamped exactly at the revocation's effective_ms: refused (the key is withdrawn "
        "from effective_ms on)",
        ["KEY-010", "KEY-004"],
        [*race.context, race.revocation.envelope, exact.envelope, race.thief.envelope],
        "KEY_REVOKED",
        "StampTimedRevocation",
        "RevokedKey",
        twin=[*at.context, at.revocation.envelope, at.stamp(at.effective - 1).envelope, at.thief.envelope],
    )
    race, twin = _race("revoke", principal=True), _race("revoke", principal=True)
    race.clock.advance(5_000)
    g.add(
        "Alice's principal revoked its own key (the Mandate's principal, MND-012) from the theft; the "
        "thief's Revoke under that Mandate, dated before, stamped after: refused",
        ["KEY-010", "MND-012"],
        [
            *race.context,
            race.revocation.envelope,
            race.stamp(race.clock.now_ms).envelope,
            race.thief.envelope,
        ],
        "KEY_REVOKED",
        "StampTimedRevocation",
        "RevokedKey",
        twin=[
            *twin.context,
            twin.revocation.envelope,
            twin.stamp(twin.effective - 1).envelope,
            twin.thief.envelope,
        ],
    )
    race = _race("revoke")
    race.clock.advance(1_000)
    both = race.escrow.sign("stamp", commitment_pb2.Stamp(statements=[race.revocation.digest]))
    race.clock.advance(4_000)
    g.add(
        "the thief's Revoke, the escrow's Stamp of the revocation held too (stamped before the Revoke's): "
        "refused",
        ["KEY-010", "KEY-004"],
        [*race.context, race.revocation.envelope, both.envelope, race.stamp(race.clock.now_ms).envelope,
         race.thief.envelope],
        "KEY_REVOKED",
        "StampTimedRevocation",
        "RevokedKey",
        twin=[*race.context, race.revocation.envelope, both.envelope, race.thief.envelope],
    )  # fmt: skip
    race = _race("revoke")
    race.clock.advance(5_000)
    other = Party("escrow-2", race.clock)
    elsewhere = other.sign("stamp", commitment_pb2.Stamp(statements=[race.thief.digest]))
    g.add(
        "the thief's Revoke stamped 5 s after the revocation's effective_ms by an escrow its contract does "
        "not name (not its witnessing escrow, KEY-009): that Stamp times nothing, the Revoke is taken "
        "(held without effect, WIT-005)",
        ["KEY-010", "KEY-009"],
        [*race.context, *other.setup, race.revocation.envelope, elsewhere.envelope, race.thief.envelope],
    )
    race = _race("delivery")
    race.clock.advance(5_000)
    g.add(
        "KEY-010 names the six statements whose effect is timed by their escrow (BreachClaim, Revoke, "
        "Offer, Counter, Accept, Receipt): a Delivery dated before its issuer's revocation and stamped after "
        "it stands",
        ["KEY-010", "KEY-004"],
        [
            *race.context,
            race.revocation.envelope,
            race.stamp(race.clock.now_ms).envelope,
            race.thief.envelope,
        ],
    )
    _witnessed_first_at_the_escrow(g)
    return g


def _witnessed_first_at_the_escrow(g: Group) -> None:
    """KEY-009's exception is a view's: an escrow and its audit refuse a statement a held revocation
    covers by its own date, stamped before the revocation or not."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    # Alice's key binds itself to her principal first (KEY-007), whose revocation alone reaches back (KEY-011)
    alice.setup.append(alice.sign("checkpoint", identity_pb2.Checkpoint()).envelope)
    escrow = Party("escrow", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    stamped = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    clock.advance(1_000)
    disown = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.header.issued_at_ms)
    )
    after = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + DAY_MS)
    )
    setup = [*alice.setup, *bob.setup, *escrow.setup]
    g.add(
        "Alice's principal revoked her key back to its Offer, which the escrow stamped before (never "
        "stamping the revocation): a view takes it (KEY-009, chains.json), an escrow and its audit refuse it",
        ["KEY-004", "KEY-009"],
        [*setup, disown.envelope, stamped.envelope, offer.envelope],
        "KEY_REVOKED",
        "StampTimedRevocation",
        "RevokedKey",
        twin=[*setup, after.envelope, stamped.envelope, offer.envelope],
    )


def stamp_timed_in_a_view() -> Group:
    """A view of evidence times a revocation by the escrow's Stamps alone (KEY-009), never by comparing
    a Stamp's time with the effective_ms its revoker chose."""
    g = Group("StampTimedRevocationView", "sparse")
    race = _race("revoke")
    race.clock.advance(5_000)
    g.add(
        "the thief's Revoke of StampTimedRevocation (dated before the revocation's effective_ms, stamped "
        "5 s after it), in a view of evidence: taken -- the revocation does not cover it by its own date, "
        "and a view compares no Stamp's time with an effective_ms (the escrow that stamped it is at fault, "
        "which its audit shows)",
        ["KEY-010", "KEY-009"],
        [
            *race.context,
            race.revocation.envelope,
            race.stamp(race.clock.now_ms).envelope,
            race.thief.envelope,
        ],
    )
    # An honest Accept, stamped a second after its date; the key revoked later from between the two.
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    clock.advance(1_000)
    contract = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    clock.advance(DAY_MS)
    back = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=accept.issued_at_ms + 1)
    )
    clock.advance(1_000)
    revocation_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[back.digest]))
    g.add(
        "Alice accepted Bob's bonded offer and the escrow stamped it a second later; a day on, her key "
        "revoked itself from 1 ms after the Accept's date (before its Stamp) and the escrow stamped the "
        "revocation: a view takes the Accept -- comparing its Stamp's time with that effective_ms would let "
        "a revoker erase a contract the escrow bonded",
        ["KEY-010", "KEY-009"],
        [*alice.setup, *bob.setup, *escrow.setup, back.envelope, revocation_stamp.envelope, contract.envelope,
         offer.envelope, accept.envelope],
    )  # fmt: skip
    return g


# --- KEY-005 read as KEY-009: a rotation signed back into a gap of the chain --------------------------


@dataclass
class _Rotated:
    """Mallory's key: an Offer to Carol at seq 0 (seq 1 and 2 held by nobody here), her Accept of Bob's
    bonded offer at seq 3, and a KeyRotation she signs afterwards at seq 1, dated between seq 0 and the
    Accept, so that no chain check refuses it (tests/test_attack20.py)."""

    setup: list[bytes]
    first: VerifiedStatement
    offer: VerifiedStatement
    accept: VerifiedStatement
    rotation: VerifiedStatement
    escrow: Party
    clock: FixedClock

    def stamp(self, *named: VerifiedStatement) -> VerifiedStatement:
        self.clock.advance(1_000)
        return self.escrow.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in named]))


def gap_in_mallorys_chain(clock: FixedClock) -> tuple[Party, Party, Party, Party, VerifiedStatement]:
    """Bob, Mallory, Carol and the escrow; Mallory's Offer to Carol at seq 0 (``first``) and two more at
    seq 1 and 2 that Carol alone sees (a gap in any other view of her chain, or seqs she skipped), a second
    apart; the clock left a second past them."""
    bob, mallory, carol = Party("bob", clock), Party("mallory", clock), Party("carol", clock)
    escrow = Party("escrow", clock)
    first = mallory.offer(carol)
    for _ in range(2):  # seq 1 and 2: seen by Carol alone
        clock.advance(1_000)
        mallory.offer(carol)
    clock.advance(1_000)
    return bob, mallory, carol, escrow, first


def rotated_back_to_seq_1(
    mallory: Party, first: VerifiedStatement, accept: VerifiedStatement, clock: FixedClock
) -> VerifiedStatement:
    """A minute after her Accept (seq 3), Mallory's key signs a KeyRotation at seq 1 above ``first``, dated
    500 ms before the Accept: no chain check refuses it where seq 1 and 2 are not held (CHN-003, CHN-005)."""
    clock.advance(60_000)
    mallory.agent.writer = ChainWriter(mallory.agent.key, next_seq=1, prev=first.digest)
    rotation = mallory.sign(
        "key_rotation",
        identity_pb2.KeyRotation(new_key=Party("mallory-2", clock).did),
        mandate=b"",
        issued_at_ms=accept.issued_at_ms - 500,
    )
    assert rotation.header.seq == 1
    return rotation


def _a_gap_in_mallorys_chain(
    clock: FixedClock,
) -> tuple[Party, Party, Party, Party, VerifiedStatement, VerifiedStatement]:
    """:func:`gap_in_mallorys_chain`, then Bob's bonded offer to Mallory under the escrow (``offer``)."""
    bob, mallory, carol, escrow, first = gap_in_mallorys_chain(clock)
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    return bob, mallory, carol, escrow, first, offer


def _rotated() -> _Rotated:
    clock = FixedClock()
    bob, mallory, carol, escrow, first, offer = _a_gap_in_mallorys_chain(clock)
    clock.advance(1_000)
    accept = mallory.accept(offer)
    assert accept.header.seq == 3
    rotation = rotated_back_to_seq_1(mallory, first, accept, clock)
    setup = [*bob.setup, *mallory.setup, *carol.setup, *escrow.setup, first.envelope]
    return _Rotated(setup, first, offer, accept, rotation, escrow, clock)


def rotation_in_a_view() -> Group:
    """KEY-005 as KEY-009 reads it, in a view of evidence."""
    g = Group("RotationWitnessed", "sparse")
    r = _rotated()
    contract = r.stamp(r.offer, r.accept)
    rotation_after = r.stamp(r.rotation)
    g.add(
        "Mallory's key signed a KeyRotation back into a gap of its chain (seq 1) below its Accept (seq 3) of "
        "Bob's bonded offer, which the escrow stamped; the escrow never stamped the rotation: a view takes "
        "the Accept",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, contract.envelope, r.offer.envelope, r.accept.envelope],
    )
    g.add(
        "the same, the escrow's Stamp of the rotation held too, after its Stamp of the contract: taken",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, contract.envelope, rotation_after.envelope, r.offer.envelope,
         r.accept.envelope],
    )  # fmt: skip
    g.add(
        "the same Accept, the escrow's Stamp of the contract never held: nothing witnessed it, held "
        "(KEY-009 (c)) and disowned",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, r.offer.envelope, r.accept.envelope],
        None,
        "RotationWitnessed",
    )
    r = _rotated()
    rotation_first = r.stamp(r.rotation)
    contract = r.stamp(r.offer, r.accept)
    g.add(
        "the escrow stamped the rotation a second before it stamped the contract: held (KEY-009 (c)) and "
        "disowned (the escrow "
        "knew the chain had ended); without the rotation's Stamp, counted",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, rotation_first.envelope, contract.envelope, r.offer.envelope,
         r.accept.envelope],
        None,
        "RotationWitnessed",
    )  # fmt: skip
    r = _rotated()
    rotation_named_first = r.stamp(r.rotation, r.offer, r.accept)
    r2 = _rotated()
    accept_named_first = r2.stamp(r2.offer, r2.accept, r2.rotation)
    g.add(
        "one Stamp names the rotation before the Offer and the Accept: held (KEY-009 (c)) and disowned (an "
        "earlier place in "
        "one Stamp is earlier)",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, rotation_named_first.envelope, r.offer.envelope, r.accept.envelope],
        None,
        "RotationWitnessed",
    )  # fmt: skip
    g.add(
        "one Stamp names the Offer and the Accept before the rotation: taken",
        ["KEY-005", "KEY-009"],
        [*r2.setup, r2.rotation.envelope, accept_named_first.envelope, r2.offer.envelope, r2.accept.envelope],
    )
    _same_millisecond(g)
    _two_rotations(g)
    _a_rotation_below_a_stamped_one(g)
    return g


def _same_millisecond(g: Group) -> None:
    """Two Stamps of the escrow in one millisecond are ordered by its chain's seq (KEY-009)."""
    cases = []
    for rotation_first in (True, False):
        r = _rotated()
        r.clock.advance(1_000)
        at = r.clock.now_ms
        named = [[r.rotation], [r.offer, r.accept]]
        if not rotation_first:
            named.reverse()
        stamps = [
            r.escrow.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in n]), issued_at_ms=at)
            for n in named
        ]
        cases.append((r, stamps))
    (r, stamps), (r2, stamps2) = cases
    g.add(
        "the escrow stamped the rotation and then the contract in the same millisecond (the rotation's "
        "Stamp at the lower seq of its chain): held (KEY-009 (c)) and disowned",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, *(st.envelope for st in reversed(stamps)), r.offer.envelope,
         r.accept.envelope],
        None,
        "RotationWitnessed",
    )  # fmt: skip
    g.add(
        "the same millisecond, the contract's Stamp at the lower seq: taken",
        ["KEY-005", "KEY-009"],
        [*r2.setup, r2.rotation.envelope, *(st.envelope for st in stamps2), r2.offer.envelope,
         r2.accept.envelope],
    )  # fmt: skip


@dataclass
class RotatedBelow:
    """Mallory's key: an Offer to Carol at seq 0 (seq 1 and 2 seen by Carol alone), a KeyRotation at seq 3
    the escrow stamped (``high_stamp``), her Accept of Bob's bonded offer at seq 4 that the escrow (at
    fault) stamped after (``contract``), and a second rotation signed back at seq 1 (``low``), dated
    between seq 0 and seq 1, that nobody stamped. tests/test_attack20.py performs it too."""

    bob: Party
    mallory: Party
    carol: Party
    escrow: Party
    first: VerifiedStatement
    offer: VerifiedStatement
    high: VerifiedStatement
    high_stamp: VerifiedStatement
    accept: VerifiedStatement
    contract: VerifiedStatement
    low: VerifiedStatement


def rotated_below_a_stamped_one() -> RotatedBelow:
    """The statements of :class:`RotatedBelow`."""
    clock = FixedClock()
    bob, mallory, carol, escrow, first, offer = _a_gap_in_mallorys_chain(clock)
    clock.advance(1_000)
    high = mallory.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("m-2", clock).did), mandate=b""
    )
    clock.advance(1_000)
    high_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[high.digest]))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    clock.advance(1_000)
    contract = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    clock.advance(60_000)
    mallory.agent.writer = ChainWriter(mallory.agent.key, next_seq=1, prev=first.digest)
    low = mallory.sign(
        "key_rotation",
        identity_pb2.KeyRotation(new_key=Party("m-3", clock).did),
        mandate=b"",
        issued_at_ms=first.issued_at_ms + 500,
    )
    assert (high.header.seq, accept.header.seq, low.header.seq) == (3, 4, 1)
    return RotatedBelow(bob, mallory, carol, escrow, first, offer, high, high_stamp, accept, contract, low)


def _a_rotation_below_a_stamped_one(g: Group) -> None:
    """KEY-009 asks of each rotation held below the statement, not only of the lowest (which ends the
    chain): a key cannot sign a rotation back into a gap below the one its escrow stamped first, to
    keep a statement the escrow took past its chain's end."""
    r = rotated_below_a_stamped_one()
    setup = [
        *r.bob.setup,
        *r.mallory.setup,
        *r.carol.setup,
        *r.escrow.setup,
        r.first.envelope,
        r.high.envelope,
    ]
    tail = [r.contract.envelope, r.offer.envelope, r.accept.envelope]
    g.add(
        "Mallory's key rotated at seq 3 and the escrow stamped the rotation; its Accept at seq 4, which the "
        "escrow (at fault) stamped after, is held (KEY-009 (c)) and disowned -- and still disowned once the "
        "key signs a "
        "second rotation back at seq 1 that the escrow never stamped: each rotation below the Accept is "
        "asked",
        ["KEY-005", "KEY-009"],
        [*setup, r.low.envelope, r.high_stamp.envelope, *tail],
        None,
        "RotationWitnessed",
    )


def _two_rotations(g: Group) -> None:
    """Of two rotations of a key held, the lower seq ends the chain (KEY-005)."""
    clock = FixedClock()
    mallory, carol = Party("mallory", clock), Party("carol", clock)
    first = mallory.offer(carol)
    clock.advance(1_000)
    low = mallory.sign("key_rotation", identity_pb2.KeyRotation(new_key=Party("m-2", clock).did), mandate=b"")
    clock.advance(1_000)
    between = mallory.offer(carol)
    clock.advance(1_000)
    high = mallory.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("m-3", clock).did), mandate=b""
    )
    setup = [*mallory.setup, *carol.setup, first.envelope]
    g.add(
        "Mallory's key holds a rotation at seq 3, then one signed at seq 1 (both dated in chain order): "
        "the lower ends the chain, so her Offer at seq 2 (of no escrow: unwitnessed) is disowned"
        f"{_HELD}",
        ["KEY-005", "KEY-009"],
        [*setup, high.envelope, low.envelope, between.envelope],
        at_the_escrow=("KEY_REVOKED", "RotationWitnessed", "RevokedKey"),
    )
    g.add(
        f"the rotation at seq 1 held first: the one at seq 3 is past the chain's end{_HELD_D}",
        ["KEY-005", "KEY-009"],
        [*setup, low.envelope, high.envelope],
        at_the_escrow=("KEY_REVOKED", "RotationWitnessed", "RevokedKey"),
    )


def rotation_at_the_escrow() -> Group:
    """KEY-005 at an escrow taking evidence and its audit: the chain ends at the rotation, whatever the
    escrow stamped first."""
    g = Group("RotationAtTheEscrow", "sparse", role="escrow")
    r = _rotated()
    contract = r.stamp(r.offer, r.accept)
    g.add(
        "RotationWitnessed's first case (the rotation at seq 1 never stamped, the Accept at seq 3 stamped) "
        "at an escrow or its audit: refused -- KEY-009's exception is a view's",
        ["KEY-005", "KEY-009"],
        [*r.setup, r.rotation.envelope, contract.envelope, r.offer.envelope, r.accept.envelope],
        "KEY_REVOKED",
        "RotationWitnessed",
        "RevokedKey",
        twin=[*r.setup, contract.envelope, r.offer.envelope, r.accept.envelope],
    )
    return g


# --- ESC-019: an escrow recognises no contract a party could not claim under -----------------------------


def _claim_window(
    alice_until_days: int | None = None, *, alice_offers: bool = False, extra: str = "", until_ms: int = 0
) -> tuple[list[bytes], int]:
    """Alice (Mandate valid ``alice_until_days`` from now -- or ``until_ms`` exactly --, execution window a
    week) and Mallory trade a bonded contract due in three days, accepted a second on (no MND-019 guard:
    another implementation's), with ``extra`` held before it: "renewal" (Alice's principal's Mandate for
    her key from her Mandate's end to day 5), "other-counterparties" (the same, allowing only Bob),
    "agent-key-retired" / "principal-key-retired" (the renewal, and a KeyRevocation of her key / of her
    principal's, effective on day 2, scheduled ahead). Returns the envelopes and the Accept's index."""
    clock = FixedClock()
    t0 = clock.now_ms
    until = until_ms or t0 + (alice_until_days or 1) * DAY_MS
    alice = Party("alice", clock, {"valid_until_ms": until, "execution_window_end_ms": t0 + 7 * DAY_MS})
    mallory, escrow = Party("mallory", clock), Party("escrow", clock)
    held: list[VerifiedStatement] = []
    if extra:
        fields = {f.name: v for f, v in alice.mandate_vs.statement.mandate.ListFields()}
        fields.update(valid_from_ms=until, valid_until_ms=t0 + 5 * DAY_MS)
        if extra == "other-counterparties":
            fields["allowed_counterparties"] = [Party("bob", clock).did]
        held.append(alice.principal.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=30 * DAY_MS))
        if extra == "agent-key-retired":
            held.append(
                alice.agent.sign(
                    "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t0 + 2 * DAY_MS)
                )
            )
        elif extra == "principal-key-retired":
            held.append(
                alice.principal.sign(
                    "key_revocation",
                    identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=t0 + 2 * DAY_MS),
                )
            )
    offerer, acceptor = (alice, mallory) if alice_offers else (mallory, alice)
    due = t0 + 3 * DAY_MS
    offer = offerer.offer(
        acceptor,
        offerer.bonded_proposal(escrow.did, due, bond=BOND),
    )
    clock.advance(1_000)
    accept = acceptor.accept(offer)
    envelopes = [*alice.setup, *mallory.setup, *(vs.envelope for vs in held), offer.envelope, accept.envelope]
    return envelopes, len(envelopes) - 1


def claim_window_at_the_escrow() -> Group:
    """ESC-019 at an escrow taking evidence and its audit (AUD-003 replays it): the Accept of a bonded
    contract whose last deadline plus the claim window (a day) is at or after the end of either party's
    Mandates' validity held -- renewals allowing the counterparty extend it, held revocations cut it."""
    g = Group("ClaimWindowAtTheEscrow", "sparse", role="escrow")
    within, _ = _claim_window(5)
    past, at = _claim_window(1)
    g.add(
        "Mallory's bonded trade with Alice due on day 3 (claim window to day 4), Alice's Mandate valid to "
        "day 5: the escrow takes the Accept",
        ["ESC-019"],
        within,
    )
    g.add(
        "the same trade, Alice's Mandate valid a day (execution window a week: MND-008 lets her agree): "
        "from day 1 she could sign no claim of it (MND-003), so the escrow refuses the Accept",
        ["ESC-019", "MND-003", "MND-008"],
        past,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=within,
    )
    mine, at = _claim_window(1, alice_offers=True)
    g.add(
        "Alice's own offer, due on day 3, under her Mandate valid a day, accepted by Mallory: the offerer's "
        "Mandate counts as the acceptor's does -- refused",
        ["ESC-019"],
        mine,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=_claim_window(5, alice_offers=True)[0],
    )
    clock = FixedClock()
    needed = clock.now_ms + 3 * DAY_MS + DAY_MS  # the deadline plus the claim window
    exact, at = _claim_window(until_ms=needed)
    after, _ = _claim_window(until_ms=needed + 1)
    g.add(
        "Alice's Mandate ends exactly when the claim window does (deadline + 86400000 == valid_until_ms): "
        "refused -- at or after, MND-003 refuses a statement issued at valid_until_ms",
        ["ESC-019", "MND-003"],
        exact,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=after,
    )
    g.add(
        "Alice's Mandate ends 1 ms after the claim window does: taken",
        ["ESC-019"],
        after,
    )
    renewed, _ = _claim_window(1, extra="renewal")
    g.add(
        "Alice's Mandate valid a day, and her principal's renewal for her key from its end to day 5, held "
        "before the Accept: it joins her Mandate and covers the claim window -- taken",
        ["ESC-019"],
        renewed,
    )
    for extra, what in (
        (
            "other-counterparties",
            "the renewal allows only Bob: her claim, addressed to Mallory, is refused under it (MND-005)",
        ),
        (
            "agent-key-retired",
            "a KeyRevocation of her key effective on day 2, scheduled ahead, is held: it "
            "ends every Mandate's validity for the key (KEY-004)",
        ),
        (
            "principal-key-retired",
            "a KeyRevocation of her principal's key effective on day 2 is held: it ends "
            "every Mandate the principal signed (MND-012)",
        ),
    ):
        envelopes, at = _claim_window(1, extra=extra)
        g.add(
            f"the renewal to day 5 is held, but {what} -- it extends nothing: refused",
            ["ESC-019", "MND-005" if extra == "other-counterparties" else "KEY-004"],
            envelopes,
            "MANDATE_VIOLATION",
            "ClaimWindow",
            "MandateViolation",
            failed_index=at,
            twin=renewed,
        )
    return g


# --- ESC-020: an escrow recognises no contract it could not rule on before its own Mandate ends ----------


def _escrow_validity(
    escrow_until_ms: int, *, window: int = 1, retire: str = "", stamp_by: str = "escrow"
) -> tuple[list[bytes], int]:
    """Mallory offers Alice a bonded trade due in a day under an escrow whose Mandate ends at
    ``escrow_until_ms`` (both parties' Mandates run a year), with response window ``window``; the
    escrow's Stamp naming the Accept comes before it, as in its transcript (by ``stamp_by``: "escrow",
    or "other", another key's, which witnesses nothing for this escrow, or "" for none). ``retire``:
    a KeyRevocation effective in two hours, held first -- "escrow-key" (by the escrow's principal, of
    its key), "escrow-principal" (of its principal's key). Returns the envelopes and the Accept's
    index."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    escrow = Party("escrow", clock, {"valid_until_ms": escrow_until_ms})
    held: list[VerifiedStatement] = []
    if retire:
        signer = escrow.agent if retire == "escrow-key" else escrow.principal
        held.append(
            signer.sign(
                "key_revocation", identity_pb2.KeyRevocation(key=signer.did, effective_ms=t0 + 2 * HOUR_MS)
            )
        )
    due = t0 + DAY_MS
    proposal = mallory.bonded_proposal(escrow.did, due, bond=BOND)
    proposal.terms.response_window_ms = window
    offer = mallory.offer(alice, proposal)
    clock.advance(1_000)
    accept = alice.accept(offer)
    setup = [*escrow.setup, *alice.setup, *mallory.setup, *(vs.envelope for vs in held)]
    stamps: list[bytes] = []
    if stamp_by == "escrow":
        stamps = [
            escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest])).envelope
        ]
    elif stamp_by == "other":
        other = Party("other-escrow", clock, {"valid_until_ms": escrow_until_ms})  # as short as the escrow's
        stamp = other.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
        stamps = [*other.setup, stamp.envelope]
    envelopes = [*setup, *stamps, offer.envelope, accept.envelope]
    return envelopes, len(envelopes) - 1


def escrow_validity_at_the_escrow() -> Group:
    """ESC-020 at an escrow and its audit (AUD-003 replays it): the Accept of a contract whose last ruling
    time -- last deadline + 86400000 (the claim window) + the response window (3600000 when 0) + 30000
    (the clock tolerance) -- is at or after the end of the escrow's validity: the valid_until_ms of the
    Mandate its Stamp of the Accept cites, cut at a held revocation of its key or principal. Offline,
    the escrow's own Mandate is the one its earliest Stamp naming the Accept cites: without one, nothing
    to check."""
    g = Group("EscrowValidityAtTheEscrow", "sparse", role="escrow")
    t0 = FixedClock().now_ms
    last_ruling = t0 + DAY_MS + DAY_MS + 1 + 30_000  # response window 1 ms
    after, _ = _escrow_validity(last_ruling + 1)
    g.add(
        "Mallory's bonded trade with Alice due in a day (response window 1 ms), stamped by the escrow "
        "under its Mandate valid 1 ms past the last ruling time (deadline + 86400000 + 1 + 30000): taken",
        ["ESC-020"],
        after,
    )
    exact, at = _escrow_validity(last_ruling)
    g.add(
        "the same trade, the escrow's Mandate ending exactly at the last ruling time: from then on it "
        "could sign no Ruling on a claim stamped at the end of the claim window (MND-003) -- refused",
        ["ESC-020", "MND-003"],
        exact,
        "MANDATE_VIOLATION",
        "EscrowValidity",
        "MandateViolation",
        failed_index=at,
        twin=after,
    )
    default_after, _ = _escrow_validity(last_ruling - 1 + 3_600_000 + 1, window=0)
    default_exact, at = _escrow_validity(last_ruling - 1 + 3_600_000, window=0)
    g.add(
        "response window 0 (read as 3600000): the escrow's Mandate ends exactly at deadline + 86400000 + "
        "3600000 + 30000 -- refused",
        ["ESC-020", "CMT-002"],
        default_exact,
        "MANDATE_VIOLATION",
        "EscrowValidity",
        "MandateViolation",
        failed_index=at,
        twin=default_after,
    )
    g.add(
        "response window 0, the escrow's Mandate ending 1 ms after deadline + 86400000 + 3600000 + 30000: "
        "taken",
        ["ESC-020"],
        default_after,
    )
    far = t0 + 365 * DAY_MS
    for retire, what in (
        ("escrow-key", "the escrow key's own KeyRevocation of itself (KEY-004)"),
        ("escrow-principal", "a KeyRevocation of the escrow's principal's key (MND-012)"),
    ):
        envelopes, at = _escrow_validity(far, retire=retire)
        g.add(
            f"the escrow's Mandate runs a year, but {what}, effective in two hours, is held: nothing it "
            "signs from then on is taken -- refused",
            ["ESC-020", "KEY-004" if retire == "escrow-key" else "MND-012"],
            envelopes,
            "MANDATE_VIOLATION",
            "EscrowValidity",
            "MandateViolation",
            failed_index=at,
            twin=_escrow_validity(far)[0],
        )
    for stamp_by, what in (
        ("", "no Stamp naming the Accept is held: the escrow's own Mandate is not known offline"),
        ("other", "only another key's Stamp names the Accept: it is not the escrow the terms name"),
    ):
        g.add(
            f"the escrow's Mandate ends at the last ruling time, but {what} -- nothing to check: taken",
            ["ESC-020"],
            _escrow_validity(last_ruling, stamp_by=stamp_by)[0],
        )
    return g


# --- KEY-010 in a view, in the escrow's own order -----------------------------------------------


def stamp_ordered_in_a_view() -> Group:
    """KEY-010 (c): a view of evidence refuses one of the six statements when it holds its witnessing
    escrow's Stamp of a revocation covering it before that escrow's earliest Stamp of the statement, the
    latter at or after the revocation's effective_ms (the escrow took it holding the revocation); a
    revocation stamped after the statement refuses nothing, whatever its effective_ms."""
    g = Group("StampOrderedRevocationView", "sparse")
    for body, what in (
        ("revoke", "Revoke of Alice's contract (forfeit_bond terms)"),
        ("accept", "Accept of Carol's bonded offer to Alice"),
        ("receipt", "Receipt of Bob's Delivery"),
    ):
        race = _race(body)
        race.clock.advance(1_000)
        of_revocation = race.escrow.sign("stamp", commitment_pb2.Stamp(statements=[race.revocation.digest]))
        race.clock.advance(4_000)
        of_thief = race.stamp(race.clock.now_ms)
        twin = _race(body)
        twin.clock.advance(4_000)
        twin_thief = twin.stamp(twin.clock.now_ms)
        twin.clock.advance(1_000)
        twin_revocation = twin.escrow.sign("stamp", commitment_pb2.Stamp(statements=[twin.revocation.digest]))
        envelopes = [*race.context, race.revocation.envelope, of_revocation.envelope, of_thief.envelope]
        g.add(
            f"the thief's {what}, dated before the revocation's effective_ms; the escrow stamped the "
            "revocation 1 s after its effective_ms, then the thief's statement 4 s later (a faulty escrow: "
            "KEY-010 has it refuse): a view holding both Stamps holds it, disowned, the escrow's own "
            "order deciding (KEY-009 (c))",
            ["KEY-010", "KEY-009"],
            [*envelopes, race.thief.envelope],
            None,
            "StampOrderedRevocation",
        )  # fmt: skip
        g.add(
            f"the same {body}, stamped 4 s after the revocation's effective_ms but before the escrow stamped "
            "the revocation (it did not hold it then): a view takes it -- a revocation stamped later erases "
            "nothing, whatever its effective_ms",
            ["KEY-010", "KEY-009"],
            [*twin.context, twin.revocation.envelope, twin_revocation.envelope, twin_thief.envelope,
             twin.thief.envelope],
        )  # fmt: skip
    return g


# --- ESC-019: a chain of renewals ---------------------------------------------------------------------------


def _renewal_chain(
    spans: list[tuple[int, int]],
    *,
    reverse: bool = False,
    valid_until: int = DAY_MS,
    allowing: str = "",
) -> tuple[list[bytes], int]:
    """Alice's Mandate valid a day (``valid_until`` from now; execution window a week) and her principal's
    renewals for her key over ``spans`` (each (valid_from_ms, valid_until_ms) as offsets from now), held
    before Mallory's bonded trade with her due on day 3 (its claim window to day 4) -- in that order, or the
    reverse. ``allowing``: each renewal allows only "mallory" or "stranger" as counterparty. Returns the
    envelopes and the Accept's index."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice = Party(
        "alice", clock, {"valid_until_ms": t0 + valid_until, "execution_window_end_ms": t0 + 7 * DAY_MS}
    )
    mallory, escrow = Party("mallory", clock), Party("escrow", clock)
    fields = {f.name: v for f, v in alice.mandate_vs.statement.mandate.ListFields()}
    if allowing:
        fields["allowed_counterparties"] = [
            mallory.did if allowing == "mallory" else Party(allowing, clock).did
        ]
    renewals = []
    for start, until in spans:
        fields.update(valid_from_ms=t0 + start, valid_until_ms=t0 + until)
        renewals.append(alice.principal.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=30 * DAY_MS))
    if reverse:
        renewals.reverse()
    due = t0 + 3 * DAY_MS
    offer = mallory.offer(
        alice,
        mallory.bonded_proposal(escrow.did, due, bond=BOND),
    )
    clock.advance(1_000)
    accept = alice.accept(offer)
    envelopes = [
        *alice.setup,
        *mallory.setup,
        *(vs.envelope for vs in renewals),
        offer.envelope,
        accept.envelope,
    ]
    return envelopes, len(envelopes) - 1


def renewal_chain_at_the_escrow() -> Group:
    """ESC-019 with a chain of renewals: each held renewal whose [valid_from_ms, valid_until_ms) contains
    the end reached so far extends it, in the order of their intervals (not the order held); a gap of one
    millisecond ends the chain there."""
    g = Group("RenewalChainAtTheEscrow", "sparse", role="escrow")
    joined = [(DAY_MS, 2 * DAY_MS), (2 * DAY_MS, 5 * DAY_MS)]
    chain, _ = _renewal_chain(joined)
    g.add(
        "Alice's Mandate valid a day, renewed to day 2 and again from day 2 to day 5 (each starting where "
        "the last ends): the chain covers the claim window after day 3 -- taken",
        ["ESC-019"],
        chain,
    )
    g.add(
        "the same two renewals held in the reverse order (the later first): the chain is read by the "
        "renewals' intervals, not the order they came in -- taken",
        ["ESC-019"],
        _renewal_chain(joined, reverse=True)[0],
    )
    overlapping, _ = _renewal_chain([(DAY_MS // 2, 2 * DAY_MS), (DAY_MS, 5 * DAY_MS)])
    g.add(
        "renewals that overlap (from half a day to day 2, and from day 1 to day 5): each contains the end "
        "reached so far when it is read -- taken",
        ["ESC-019"],
        overlapping,
    )
    gap, at = _renewal_chain([(DAY_MS, 2 * DAY_MS), (2 * DAY_MS + 1, 5 * DAY_MS)])
    g.add(
        "the second renewal starts 1 ms after the first ends (day 2 + 1 ms): at day 2 Alice holds no "
        "valid Mandate, the chain stops there, before the claim window -- refused",
        ["ESC-019", "MND-003"],
        gap,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=chain,
    )
    short, at = _renewal_chain([(DAY_MS, 2 * DAY_MS), (2 * DAY_MS, 4 * DAY_MS)])
    g.add(
        "the chain joined up but ending exactly when the claim window does (day 4): refused -- at or after",
        ["ESC-019", "MND-003"],
        short,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=_renewal_chain([(DAY_MS, 2 * DAY_MS), (2 * DAY_MS, 4 * DAY_MS + 1)])[0],
    )
    return g


# --- ESC-022: an escrow's hand-over ------------------------------------------------------------------


def _hand_over(
    appointer: str = "principal",
    *,
    revoked: str = "principal",
    effective_in_ms: int = -10,
    second: str = "",
    thief_binding: bool = False,
    succeeds: str | None = None,
    thief_back: bool = False,
    mandate_first: bool = False,
) -> tuple[list[bytes], int]:
    """Alice's bonded trade with Bob at escrow key K1 (its principal P): K1 stamps it and locks both bonds;
    Bob never delivers and Alice claims after the deadline. Then K1 is revoked (``revoked``: by "principal"
    P, by "key" K1 itself, or "" not at all) from now + ``effective_in_ms``, a Mandate for K2 naming K1 in
    succeeds is signed by ``appointer`` ("principal", "stranger", "party" -- Bob's principal), and K2
    stamps the claim and, a response window later, upholds it. ``second``: P also appoints K3 -- "before"
    K2's statements, "after" them (K3's hand-over last), or before them with K3 releasing Bob's bond
    "ahead" of K2's Forfeit of it or "behind" it (K3's Release last), or K3, never shown the claim,
    lapsing the contract after its claim window and refunding Bob's bond then Alice's, "lapse_first" (after
    K2's Stamp, before its Ruling, which comes an hour after the lapse) or "lapse_last" (after K2's
    Release).
    ``thief_binding``: before the revocation, the thief binds K1 to its own principal T (a Stamp by K1
    under T's Mandate for K1) and T appoints K2. ``succeeds``: the field as written (default K1).
    ``thief_back``: before the revocation, K1's thief revokes K1 itself back to 1 ms (KEY-011).
    ``mandate_first``: the view hears K2's Mandate before K1's revocation. Returns the envelopes, ending
    with K2's Ruling, Forfeit and Release, and the Ruling's index."""
    clock, alice, bob, esc, offer, accept, claim, out = claimed_breach(BOND)
    nid = offer.header.negotiation_id
    m = identity_pb2.Mandate()
    m.CopyFrom(esc.mandate_vs.statement.mandate)
    appointer_key = {"principal": esc.principal, "stranger": Party("stranger", clock).principal}.get(
        appointer, bob.principal
    )
    if thief_binding:
        thief = Party("thief", clock)
        t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        out.append(t_mandate.envelope)
        stamp = commitment_pb2.Stamp(statements=[offer.digest])
        out.append(esc.agent.sign("stamp", stamp, mandate=t_mandate.digest).envelope)
        appointer_key = thief.principal
        clock.advance(1)
    if thief_back:
        out.append(
            esc.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=1)).envelope
        )
        clock.advance(1)
    revocation: list[bytes] = []
    if revoked:
        revoker = esc.principal if revoked == "principal" else esc.agent
        rev = identity_pb2.KeyRevocation(key=esc.did, effective_ms=clock.now_ms + effective_in_ms)
        revocation.append(revoker.sign("key_revocation", rev).envelope)
    if not mandate_first:
        out += revocation
    successors = []
    held_back: list[bytes] = []
    for name in ("escrow2", "escrow3") if second else ("escrow2",):
        succ = Party(name, clock)
        m.agent, m.succeeds = succ.did, esc.did
        if succeeds is not None:  # a defective hand-over, signed as written (no validation): the last
            m.succeeds = succ.did if succeeds == "agent" else succeeds
            out.append(seal(appointer_key.key, draft(appointer_key, "mandate", m, ttl_ms=365 * DAY_MS)))
            return out, len(out) - 1
        succ.mandate_vs = appointer_key.sign("mandate", m, ttl_ms=365 * DAY_MS)
        (held_back if second == "after" and successors else out).append(succ.mandate_vs.envelope)
        successors.append(succ)
    if mandate_first:
        out += revocation
    k2 = successors[0]
    out.append(k2.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest])).envelope)
    if second == "lapse_first":
        out += _lapsing(successors[1], clock, offer, accept, [bob, alice])
    clock.advance(3_600_001)
    out.append(k2.sign("ruling", _upholding(accept, claim), negotiation_id=nid).envelope)
    at = len(out) - 1
    forfeit = commitment_pb2.Forfeit(
        contract=accept.digest, party=bob.did, amount=BOND, beneficiary=alice.did, cause=claim.digest
    )
    k3_release = commitment_pb2.Release(contract=accept.digest, party=bob.did, amount=BOND)
    if second == "ahead":
        out.append(successors[1].sign("release", k3_release, negotiation_id=nid).envelope)
    out.append(k2.sign("forfeit", forfeit, negotiation_id=nid).envelope)
    release = commitment_pb2.Release(contract=accept.digest, party=alice.did, amount=BOND)
    out.append(k2.sign("release", release, negotiation_id=nid).envelope)
    if second == "behind":
        out.append(successors[1].sign("release", k3_release, negotiation_id=nid).envelope)
    if second == "lapse_last":
        out += _lapsing(successors[1], clock, offer, accept, [bob, alice])
    return out + held_back, at


def _lapsing(
    by: Party, clock: FixedClock, offer: VerifiedStatement, accept: VerifiedStatement, parties: list[Party]
) -> list[bytes]:
    """``by``'s Ruling LAPSE of the contract ``offer`` and ``accept`` formed, a millisecond after its claim
    window ended (the clock moves there), and its Refunds of each of ``parties``' bonds, in that order."""
    terms = offer.statement.offer
    last = max(item.deadline_ms for item in [*terms.gives, *terms.wants])
    clock.now_ms = max(clock.now_ms, last + DAY_MS + 1)
    nid = offer.header.negotiation_id
    lapse = commitment_pb2.Ruling(contract=accept.digest, decision=commitment_pb2.RULING_DECISION_LAPSE)
    out = [by.sign("ruling", lapse, negotiation_id=nid).envelope]
    for p in parties:
        refund = commitment_pb2.Refund(contract=accept.digest, party=p.did, amount=BOND)
        out.append(by.sign("refund", refund, negotiation_id=nid).envelope)
    return out


def _revocable_bonded_trade() -> tuple[
    FixedClock, Party, Party, Party, VerifiedStatement, VerifiedStatement, bytes, list[bytes]
]:
    """Alice's bonded trade with Bob at escrow key K1 (``esc``) under revocation terms forfeiting the
    revoker's bond, its Offer and Accept stamped and both bonds locked: the clock, the three parties, the
    Offer, the Accept, the negotiation id and what every view holds first."""
    clock = FixedClock()
    alice, bob, esc = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    exit_terms = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=esc.did, revocation=exit_terms)
    offer = alice.offer(bob, proposal)
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    base: list[bytes] = [*esc.setup, *alice.setup, *bob.setup]
    base.append(esc.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest])).envelope)
    base += [offer.envelope, accept.envelope]
    for p in (alice, bob):
        lock = commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND)
        base.append(esc.sign("bond_lock", lock, negotiation_id=nid).envelope)
    return clock, alice, bob, esc, offer, accept, nid, base


def _revoked_hand_over(*, lapse_first: bool) -> list[bytes]:
    """Alice's bonded trade with Bob at escrow key K1 under revocation terms forfeiting the revoker's bond;
    K1's principal revokes it and appoints K2 and K3. Bob revokes and shows his Revoke to K2 alone: K2 stamps
    it, forfeits Bob's bond to Alice (CMT-003) and releases hers. K3, never shown the Revoke, lapses the
    contract after its claim window and refunds Bob's bond then Alice's. The lapse and Refunds come after
    K2's statements, or before them (``lapse_first``: K2's statements, dated earlier, held after)."""
    clock, alice, bob, esc, offer, accept, nid, out = _revocable_bonded_trade()
    clock.advance(1_000)
    rev = identity_pb2.KeyRevocation(key=esc.did, effective_ms=clock.now_ms - 10)
    out.append(esc.principal.sign("key_revocation", rev).envelope)
    m = identity_pb2.Mandate()
    m.CopyFrom(esc.mandate_vs.statement.mandate)
    k2, k3 = Party("escrow2", clock), Party("escrow3", clock)
    for succ in (k2, k3):
        m.agent, m.succeeds = succ.did, esc.did
        succ.mandate_vs = esc.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        out.append(succ.mandate_vs.envelope)
    revoke = bob.revoke(accept, alice, "leaving")
    forfeit = commitment_pb2.Forfeit(
        contract=accept.digest, party=bob.did, amount=BOND, beneficiary=alice.did, cause=revoke.digest
    )
    release = commitment_pb2.Release(contract=accept.digest, party=alice.did, amount=BOND)
    k2s = [
        revoke.envelope,
        k2.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest])).envelope,
        k2.sign("forfeit", forfeit, negotiation_id=nid).envelope,
        k2.sign("release", release, negotiation_id=nid).envelope,
    ]
    k3s = _lapsing(k3, clock, offer, accept, [bob, alice])
    return out + (k3s + k2s if lapse_first else k2s + k3s)


@dataclass
class _ThiefStory:
    """A bonded trade between Alice and Bob at escrow key K1 (``esc``), Bob's breach claimed by Alice and
    shown to no escrow; K1's thief stamps the claim, upholds it a response window later, forfeits Bob's
    bond to Alice and releases hers; K1's principal revokes K1 from the claim's time and hands its contracts
    to K2."""

    clock: FixedClock
    alice: Party
    bob: Party
    offer: VerifiedStatement
    accept: VerifiedStatement
    claim: VerifiedStatement
    base: list[bytes]  # what every view holds first: the trade, the bonds, the claim
    thief: list[bytes]  # the thief's Stamp, UPHOLD, Forfeit and Release
    handover: list[bytes]  # the revocation of K1 and K2's Mandate succeeding it
    k2: Party


def _handed_over(esc: Party, clock: FixedClock, theft: int) -> tuple[list[bytes], Party]:
    """Escrow key K1's principal revokes it from ``theft`` on and hands its contracts to K2 (ESC-022): the
    revocation and K2's Mandate succeeding K1, and K2."""
    rev = identity_pb2.KeyRevocation(key=esc.did, effective_ms=theft)
    handover = [esc.principal.sign("key_revocation", rev).envelope]
    m = identity_pb2.Mandate()
    m.CopyFrom(esc.mandate_vs.statement.mandate)
    k2 = Party("escrow2", clock)
    m.agent, m.succeeds = k2.did, esc.did
    k2.mandate_vs = esc.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    handover.append(k2.mandate_vs.envelope)
    return handover, k2


def _bob_forfeits_to_alice(
    esc: Party, accept: VerifiedStatement, bob: Party, alice: Party, cause: bytes
) -> list[bytes]:
    """``esc`` forfeits Bob's bond to Alice for ``cause`` and releases hers."""
    nid = accept.header.negotiation_id
    forfeit = commitment_pb2.Forfeit(
        contract=accept.digest, party=bob.did, amount=BOND, beneficiary=alice.did, cause=cause
    )
    release = commitment_pb2.Release(contract=accept.digest, party=alice.did, amount=BOND)
    return [
        esc.sign("forfeit", forfeit, negotiation_id=nid).envelope,
        esc.sign("release", release, negotiation_id=nid).envelope,
    ]


def _thief_story(exclusive_key: bytes = b"") -> _ThiefStory:
    clock, alice, bob, esc, offer, accept, claim, base = claimed_breach(BOND, exclusive_key)
    nid = offer.header.negotiation_id
    theft = clock.now_ms
    clock.advance(10)
    thief = [esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest])).envelope]
    clock.advance(3_600_001)
    thief.append(esc.sign("ruling", _upholding(accept, claim), negotiation_id=nid).envelope)
    thief += _bob_forfeits_to_alice(esc, accept, bob, alice, claim.digest)
    handover, k2 = _handed_over(esc, clock, theft)
    return _ThiefStory(clock, alice, bob, offer, accept, claim, base, thief, handover, k2)


def _thief_after_hand_over() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    """tests/test_attack22_thief_uphold.py as vectors: Alice's bonded trade with Bob at escrow key K1; Bob
    never delivers and Alice claims, showing her claim to no escrow. K1's thief stamps the claim, upholds it
    a response window later, forfeits Bob's bond to Alice and releases hers; K1's principal revokes K1 from
    the claim's time (before every statement of the thief's) and hands its contracts to K2, which, never
    shown the claim, lapses the contract after the claim window and refunds Bob's bond then Alice's.
    Returns what every view holds first (the trade, the bonds, the claim), the thief's four statements,
    the revocation with K2's hand-over, and K2's lapse and Refunds."""
    t = _thief_story()
    return t.base, t.thief, t.handover, _lapsing(t.k2, t.clock, t.offer, t.accept, [t.bob, t.alice])


def escrow_hand_over_in_a_view() -> Group:
    """ESC-022: the successor of a revoked escrow key, appointed by the key's principal, stamps, rules,
    forfeits and releases the old key's contract; nobody else's appointee does, nor the successor before
    the revocation is effective; a principal naming two successors names both, in every order."""
    g = Group("EscrowHandOver", "sparse")
    valid, _ = _hand_over()
    g.add(
        "escrow key K1 bonded Alice's trade with Bob; Bob never delivered and Alice claimed; K1's principal "
        "revoked K1 and appointed K2 (a Mandate naming K1 in succeeds): K2 stamps the claim, upholds it, "
        "forfeits Bob's bond to Alice and releases hers -- taken",
        ["ESC-022"],
        valid,
    )
    g.add(
        "the same, K1 revoked by itself (its thief's revocation needs no binding): the principal's successor "
        "speaks from that revocation's effective_ms -- taken",
        ["ESC-022", "KEY-004"],
        _hand_over(revoked="key")[0],
    )
    for appointer, who in (
        ("stranger", "a stranger's principal"),
        ("party", "Bob's principal (a party's)"),
    ):
        envelopes, at = _hand_over(appointer)
        g.add(
            f"K1 revoked, and K2 appointed by {who}, to which K1 is not bound: K2's Stamp witnesses nothing "
            "for K1's contract and its Ruling is no escrow's -- refused",
            ["ESC-022", "NEG-008"],
            envelopes[: at + 1],
            "WRONG_PARTY",
            "EscrowHandOver",
            twin=valid[: at + 1],
        )
    envelopes, at = _hand_over(thief_binding=True)
    g.add(
        "before K1's revocation its thief bound K1 to its own principal T (a Stamp by K1 under T's Mandate) "
        "and T appoints K2: K1 is bound to two principals, no hand-over counts -- refused",
        ["ESC-022", "KEY-007", "NEG-008"],
        envelopes[: at + 1],
        "WRONG_PARTY",
        "EscrowHandOver",
        no_twin="the defect is the thief's binding and its principal's appointment together",
    )
    g.add(
        "K1's thief revoked K1 itself back to 1 ms, before K1's first statement, then K1's principal revoked "
        "K1 from now and appointed K2: the key's own revocation reaches back over none of K1's ledger "
        "(KEY-011), which still binds K1 to its principal, and K2 speaks from the thief's revocation's "
        "issued_at_ms -- taken",
        ["ESC-022", "KEY-011"],
        _hand_over(thief_back=True)[0],
    )
    envelopes, at = _hand_over(revoked="")
    g.add(
        "K2 appointed by K1's principal, but no revocation of K1 held: K1 still speaks for its contracts "
        "-- refused",
        ["ESC-022", "NEG-008"],
        envelopes[: at + 1],
        "WRONG_PARTY",
        "EscrowHandOver",
        twin=valid[: at + 1],
    )
    envelopes, at = _hand_over(effective_in_ms=3 * 3_600_000)
    g.add(
        "K1's revocation is effective three hours ahead: K2's Ruling, an hour after the claim, is before it "
        "-- refused",
        ["ESC-022", "NEG-008"],
        envelopes[: at + 1],
        "WRONG_PARTY",
        "EscrowHandOver",
        "Boundary",
        twin=valid[: at + 1],
    )
    g.add(
        "K1's principal appoints two successors, K2 and K3, both held before K2's statements: both are "
        "honoured, and K2's Stamp, Ruling, Forfeit and Release are taken (ESC-022 (d))",
        ["ESC-022"],
        _hand_over(second="before")[0],
    )
    g.add(
        "the same, K3's hand-over held only after K2's Release: K2's statements stay the escrow's, and the "
        "second hand-over is taken -- every order of the same statements ends in one state",
        ["ESC-022"],
        _hand_over(second="after")[0],
    )
    g.add(
        "two successors at odds: K3 releases Bob's bond, then K2 forfeits it to Alice on her upheld claim "
        "-- the Forfeit is taken and prevails, as for one escrow at fault (NEG-012)",
        ["ESC-022", "NEG-012"],
        _hand_over(second="ahead")[0],
    )
    behind, _ = _hand_over(second="behind")
    g.add(
        "two successors at odds, the other order: K2 forfeited Bob's bond, then K3 releases it -- a second "
        "settlement of a settled bond, refused; the bond stays forfeited as in the order before",
        ["ESC-022", "NEG-012"],
        behind,
        "BODY_INVALID",
        "EscrowHandOver",
        twin=behind[:-1],
    )
    last, _ = _hand_over(second="lapse_last")
    g.add(
        "two successors at odds (attack20): K2 upheld Alice's claim, forfeited Bob's bond and released hers; "
        "K3, never shown the claim, lapses the contract after the claim window -- taken, and the UPHOLD "
        "stands over it (section 8.9: BREACHED, as one escrow at fault that signed both, ESC-022 (d))",
        ["ESC-022", "NEG-015", "CMT-006"],
        last[:-2],
    )
    g.add(
        "the same, K3 then refunds Bob's bond, which K2 forfeited -- a second settlement of a settled bond, "
        "refused: the bond stays forfeited",
        ["ESC-022", "NEG-012"],
        last[:-1],
        "BODY_INVALID",
        "EscrowHandOver",
        twin=last[:-2],
    )
    first, _ = _hand_over(second="lapse_first")
    g.add(
        "attack20, the other order: K2 stamped Alice's claim in its window; K3's lapse and its Refunds of "
        "both bonds are held next; then K2's Ruling UPHOLD (taken after the lapse: the contract moves from "
        "EXPIRED to BREACHED, section 8.9) and its Forfeit of Bob's bond (taken and prevails over K3's "
        "Refund, NEG-012) -- taken",
        ["ESC-022", "NEG-015", "NEG-012"],
        first[:-1],
    )
    g.add(
        "the same, then K2's Release of Alice's bond, which K3 refunded -- a second settlement, refused",
        ["ESC-022", "NEG-012"],
        first,
        "BODY_INVALID",
        "EscrowHandOver",
        twin=first[:-1],
    )
    last = _revoked_hand_over(lapse_first=False)
    g.add(
        "two successors at odds (a Revoke over a LAPSE): Bob revoked under terms forfeiting his bond; K2 "
        "stamped his Revoke, forfeited his bond to Alice and released hers; K3, never shown the Revoke, "
        "lapses the contract after the claim window -- taken, and the stamped Revoke stands over it "
        "(section 8.9: REVOKED, as one escrow at fault that signed both, ESC-022 (d))",
        ["ESC-022", "NEG-015", "CMT-006"],
        last[:-2],
    )
    g.add(
        "the same, K3 then refunds Bob's bond, which K2 forfeited for his Revoke -- a second settlement of a "
        "settled bond, refused: the bond stays forfeited",
        ["ESC-022", "NEG-012"],
        last[:-1],
        "BODY_INVALID",
        "EscrowHandOver",
        twin=last[:-2],
    )
    first = _revoked_hand_over(lapse_first=True)
    g.add(
        "a Revoke over a LAPSE, the other order: K3's lapse and its Refunds of both bonds are held first; "
        "then Bob's Revoke, K2's Stamp of it (taken after the lapse: the contract moves from EXPIRED to "
        "REVOKED, section 8.9) and K2's Forfeit of Bob's bond (taken and prevails over K3's Refund, "
        "NEG-012) -- taken",
        ["ESC-022", "NEG-015", "NEG-012", "CMT-003"],
        first[:-1],
    )
    g.add(
        "the same, then K2's Release of Alice's bond, which K3 refunded -- a second settlement, refused",
        ["ESC-022", "NEG-012"],
        first,
        "BODY_INVALID",
        "EscrowHandOver",
        twin=first[:-1],
    )
    for bad, what in (("agent", "its own agent"), ("did:key:zNotAKey", "no did:key")):
        envelopes, at = _hand_over(succeeds=bad)
        g.add(
            f"K1 revoked, and its principal's hand-over names {what} in succeeds -- refused",
            ["ESC-022"],
            envelopes,
            "BODY_INVALID",
            "EscrowHandOver",
            twin=valid[: at + 1],
        )
    return g


def escrow_hand_over_thief_in_a_view() -> Group:
    """ESC-022 (e): from the hand-over's time on the revoked escrow key's own statements about its contracts
    are not the escrow's -- held from before the hand-over, its successor's LAPSE and Refunds prevail over
    them; heard after it, they are refused."""
    g = Group("EscrowHandOver", "sparse")
    base, thief, handover, lapse = _thief_after_hand_over()
    g.add(
        "a thief's UPHOLD after the hand-over (attack22): K1's thief stamped Alice's claim, upheld it, "
        "forfeited Bob's bond and released hers, all dated after K1's revocation took effect, and is heard "
        "first; then K1's revocation, K2's hand-over, and K2's lapse and Refunds of both bonds -- taken: the "
        "thief's statements are not the escrow's from the hand-over on (ESC-022 (e)), K2's LAPSE ends the "
        "contract EXPIRED and its Refunds replace the thief's Forfeit and Release",
        ["ESC-022", "NEG-012", "NEG-015"],
        [*base, *thief, *handover, *lapse],
    )
    g.add(
        "the same trade, K1's revocation and K2's hand-over heard first; then the thief's Release of Alice's "
        "bond by K1, dated after K1's revocation took effect: not the escrow's from the hand-over on "
        "(ESC-022 (e)) -- refused",
        ["ESC-022", "NEG-008"],
        [*base, *handover, thief[3]],
        "WRONG_PARTY",
        "EscrowHandOver",
        twin=[*base, *handover],
    )
    _thief_heard_first(g)  # after the group's earlier cases, so that no earlier tcId moved
    return g


def _thief_then_dismissal() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    """:func:`_thief_after_hand_over`'s story again, but K2 is shown Alice's claim: it stamps it after the
    thief's UPHOLD and dismisses it a response window later, on a Delivery of Bob's it found. Returns what
    every view holds first, the thief's four statements, the revocation with K2's hand-over, and K2's Stamp
    and DISMISS."""
    t = _thief_story()
    clock, alice, bob, accept, claim, k2 = t.clock, t.alice, t.bob, t.accept, t.claim, t.k2
    nid = t.offer.header.negotiation_id
    delivery = bob.sign(
        "delivery",
        commitment_pb2.Delivery(contract=accept.digest, item_index=0),
        audience=alice.did,
        negotiation_id=nid,
    )
    k2s = [k2.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest])).envelope]
    clock.advance(3_600_001)
    dismiss = commitment_pb2.Ruling(
        contract=accept.digest,
        claim=claim.digest,
        decision=commitment_pb2.RULING_DECISION_DISMISS,
        evidence=delivery.digest,
    )
    k2s.append(k2.sign("ruling", dismiss, negotiation_id=nid).envelope)
    return t.base, t.thief, t.handover, k2s


def _thief_stamps_a_revoke() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    """Alice's bonded trade with Bob at escrow key K1 under revocation terms forfeiting the revoker's bond;
    Bob revokes. K1's thief stamps the Revoke, forfeits Bob's bond to Alice for it (CMT-003) and releases
    hers; K1's principal revokes K1 from before every statement of the thief's and hands its contracts to
    K2, which, never shown the Revoke, lapses the contract after the claim window and refunds Bob's bond
    then Alice's. Returns what every view holds first (the trade, the bonds, the Revoke), the thief's three
    statements, the revocation with K2's hand-over, and K2's lapse and Refunds."""
    clock, alice, bob, esc, offer, accept, _, base = _revocable_bonded_trade()
    clock.advance(1_000)
    revoke = bob.revoke(accept, alice, "leaving")
    base.append(revoke.envelope)
    theft = clock.now_ms
    clock.advance(10)
    thief = [esc.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest])).envelope]
    thief += _bob_forfeits_to_alice(esc, accept, bob, alice, revoke.digest)
    handover, k2 = _handed_over(esc, clock, theft)
    return base, thief, handover, _lapsing(k2, clock, offer, accept, [bob, alice])


def _thief_heard_first(g: Group) -> None:
    """ESC-022 (e) in a view that heard the thief's statements before the hand-over: they count for
    nothing once it holds the hand-over -- the three orders a view's state hung on before (finding F43)."""
    base, thief, handover, _ = _thief_after_hand_over()
    g.add(
        "attack22, before the successor speaks: K1's thief's Stamp of Alice's claim, UPHOLD, Forfeit of "
        "Bob's bond and Release of Alice's, dated after K1's revocation took effect, heard first; then K1's "
        "revocation and K2's hand-over -- taken: once the hand-over is held the thief's statements count for "
        "nothing (ESC-022 (e)), the contract BONDED, the claim not effective, no bond settled, as where the "
        "hand-over came first",
        ["ESC-022", "NEG-015", "WIT-005"],
        [*base, *thief, *handover],
    )
    base, thief, handover, k2s = _thief_then_dismissal()
    g.add(
        "attack22, the successor dismisses: the thief's four statements heard first, then K1's revocation, "
        "K2's hand-over, K2's Stamp of Alice's claim and its DISMISS a response window later -- taken: the "
        "claim the thief upheld was not ruled on by the escrow (ESC-022 (e)), so K2's DISMISS is its ruling "
        "(PERFORMING), not a second one",
        ["ESC-022", "NEG-015", "CMT-002"],
        [*base, *thief, *handover, *k2s],
    )
    base, thief, handover, lapse = _thief_stamps_a_revoke()
    g.add(
        "attack22, a Revoke: K1's thief stamps Bob's Revoke, forfeits his bond and releases Alice's, all "
        "dated after K1's revocation took effect, heard first; then K1's revocation, K2's hand-over, K2's "
        "lapse and Refunds of both bonds -- taken: no Stamp that counts made the Revoke effective "
        "(ESC-022 (e), WIT-005), so K2's LAPSE ends the contract EXPIRED, both bonds refunded",
        ["ESC-022", "NEG-015", "WIT-005", "CMT-003"],
        [*base, *thief, *handover, *lapse],
    )


# --- KEY-011: how far back a revocation reaches ------------------------------------------------------


def own_revocation_reach() -> Group:
    """KEY-011: a KeyRevocation reaches back to its effective_ms only over statements made under its
    issuer's own authority -- a principal's over the key's statements under its Mandates -- and the key's
    own revocation over none: it takes effect no earlier than its issued_at_ms, and reaches none of the
    key's statements at a seq below its own, whatever order a view hears them in."""
    g = Group("OwnRevocationReach", "sparse")
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    alice.setup.append(alice.sign("checkpoint", identity_pb2.Checkpoint()).envelope)  # her binding (KEY-007)
    setup = [*alice.setup, *bob.setup]
    clock.advance(1_000)
    offer = alice.offer(bob)
    own = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    after = alice.offer(bob)  # the same millisecond, after the revocation in her chain
    g.add(
        "Alice's key revokes itself back to 1 ms, at the seq after her Offer and in the same millisecond; "
        "the revocation heard first: the Offer is taken -- a key's own revocation reaches back over "
        "nothing its chain orders before it",
        ["KEY-011", "KEY-004"],
        [*setup, own.envelope, offer.envelope],
    )
    g.add(
        "the same key's next Offer, after the revocation in its chain, in the same millisecond: disowned -- "
        f"a key's own revocation takes effect from its issued_at_ms{_HELD}",
        ["KEY-011", "KEY-004", "KEY-009"],
        [*setup, own.envelope, offer.envelope, after.envelope],
        at_the_escrow=("KEY_REVOKED", "OwnRevocationReach", "Boundary"),
    )
    clock.advance(1_000)
    back = alice.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    g.add(
        "Alice's principal revokes her key back to 1 ms (its binding held): her earlier Offer, under its "
        "Mandate, is disowned -- a principal's revocation reaches back over the key's statements under its "
        f"Mandates; the key's own revocation of the same effective_ms does not{_HELD}",
        ["KEY-011", "KEY-004", "KEY-009"],
        [*setup, back.envelope, offer.envelope],
        at_the_escrow=("KEY_REVOKED", "OwnRevocationReach", "RevokedKey"),
    )
    # A thief holding Alice's key binds it to its own principal T (a Checkpoint under T's Mandate for the key,
    # after her Offer in her chain) and has T revoke the key back to 1 ms.
    thief = Party("thief", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    clock.advance(1_000)
    chain = [verify_statement(alice.setup[-1]).digest, offer.digest, own.digest, after.digest]
    t_binding = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(chain)), mandate=t_mandate.digest
    )
    clock.advance(1_000)
    t_other = alice.agent.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([*chain, t_binding.digest])),
        mandate=t_mandate.digest,
    )
    clock.advance(1_000)
    t_back = thief.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    thieves = [*setup, t_mandate.envelope, t_binding.envelope, t_back.envelope]
    g.add(
        "a thief binds Alice's key to its own principal T and T revokes the key back to 1 ms: Alice's "
        "Offer, under her principal's Mandate, is taken -- a principal's revocation reaches back only over "
        "the key's statements under its own Mandates (from its issued_at_ms over the others)",
        ["KEY-011", "KEY-004", "KEY-007"],
        [*thieves, offer.envelope],
    )
    g.add(
        "the thief's next statement under T's Mandate, dated before T's revocation was issued: disowned -- "
        f"T's revocation reaches back over what was signed under T's Mandates{_HELD_D}",
        ["KEY-011", "KEY-004", "KEY-009"],
        [*thieves, t_other.envelope],
        at_the_escrow=("KEY_REVOKED", "OwnRevocationReach", "RevokedKey"),
    )
    g.add(
        "Alice's principal revokes her key back to 1 ms; the thief's statement under T's Mandate (the key "
        "bound to T after Alice's principal): disowned -- a principal's revocation reaches back over the "
        f"key's statements under the Mandates of a principal the key bound itself to later{_HELD_D}",
        ["KEY-011", "KEY-004", "KEY-009"],
        [*setup, t_mandate.envelope, back.envelope, t_binding.envelope],
        at_the_escrow=("KEY_REVOKED", "OwnRevocationReach", "RevokedKey"),
    )
    return g


# --- KEY-011 (c), MND-012, MND-025: a principal's key revoked ----------------------------------------------


def mandate_for(principal: Signer, agent: str, like: Party) -> VerifiedStatement:
    """A Mandate by ``principal`` for ``agent``, with ``like``'s caps."""
    m = identity_pb2.Mandate()
    m.CopyFrom(like.mandate_vs.statement.mandate)
    m.agent = agent
    return principal.sign("mandate", m, ttl_ms=365 * DAY_MS)


def principal_key_reach() -> Group:
    """KEY-011 (c) and MND-012: a revocation of a principal's key P by a principal P is bound to reaches back
    to its effective_ms over the statements under P's Mandates only when P was bound to it at or before the
    Mandate's place in P's chain; P's own revocation, and that of a principal bound later (a thief's), from
    their issued_at_ms. MND-025: a key's statement under its own Mandate is revoked as any of its statements
    (KEY-004 with KEY-011 (a), (b)), not by MND-012."""
    g = Group("PrincipalKeyReach", "sparse")
    clock = FixedClock()
    alice, bob, thief = Party("alice", clock), Party("bob", clock), Party("thief", clock)
    # Alice's principal key P, bound first to a root key (its first statement, under the root's Mandate)
    root, principal = Signer("alice-root", clock), Signer("alice-principal-bound", clock)
    for_principal = mandate_for(root, principal.did, alice)
    p_binding = principal.sign("checkpoint", identity_pb2.Checkpoint(), mandate=for_principal.digest)
    alice.principal = principal
    alice.mandate_vs = mandate_for(principal, alice.did, alice)
    setup = [for_principal.envelope, p_binding.envelope, alice.mandate_vs.envelope, *bob.setup]
    clock.advance(1_000)
    offer = alice.offer(bob)
    clock.advance(1_000)
    stolen_at = clock.now_ms
    # the thief holds P: binds it to its own principal T, and mints with it a Mandate for its agent X
    t_mandate = mandate_for(thief.principal, principal.did, alice)
    t_binding = principal.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([p_binding.digest, alice.mandate_vs.digest])),
        mandate=t_mandate.digest,
    )
    x_mandate = mandate_for(principal, thief.did, alice)
    clock.advance(1_000)
    x_offer = thief.agent.sign("offer", thief.proposal(), audience=bob.did, mandate=x_mandate.digest)
    clock.advance(1_000)
    t_back = thief.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=principal.did, effective_ms=1)
    )
    own = principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=principal.did, effective_ms=stolen_at)
    )
    by_root = root.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=principal.did, effective_ms=stolen_at)
    )
    thefts = [*setup, t_mandate.envelope, t_binding.envelope, x_mandate.envelope]
    g.add(
        "a thief holding Alice's principal's key P binds it to its own principal T and T revokes P back to "
        "1 ms: Alice's Offer, under the Mandate P signed before it was bound to T, is taken -- a revocation "
        "by a principal P was bound to reaches back only over the Mandates P signed once bound to it",
        ["KEY-011", "MND-012", "KEY-007"],
        [*thefts, t_back.envelope, offer.envelope],
    )
    g.add(
        "the same, T's revocation heard before Alice's principal's Mandate for her: the Mandate -- P's own "
        "word, under no Mandate, signed before P was bound to T -- and Alice's Offer under it are taken: a "
        "principal's revocation reaches back over its key's statements under no Mandate only from the key's "
        "binding to it",
        ["KEY-011", "KEY-004", "MND-012"],
        [
            for_principal.envelope,
            p_binding.envelope,
            *bob.setup,
            t_mandate.envelope,
            t_binding.envelope,
            t_back.envelope,
            alice.mandate_vs.envelope,
            offer.envelope,
        ],
    )
    g.add(
        "the same: the Offer of the thief's agent X, under the Mandate P signed after it was bound to T, "
        f"dated before T's revocation was issued -- disowned{_HELD}",
        ["KEY-011", "MND-012", "KEY-009"],
        [*thefts, t_back.envelope, x_offer.envelope],
        at_the_escrow=("KEY_REVOKED", "PrincipalKeyReach", "RevokedKey"),
    )
    g.add(
        "P revokes itself back to the theft: X's Offer, signed before the revocation was issued, is taken "
        "-- a key's own revocation reaches back over nothing under its Mandates",
        ["KEY-011", "MND-012"],
        [*thefts, own.envelope, x_offer.envelope],
    )
    g.add(
        "the root key P was bound to first revokes P back to the theft: X's Offer, under a Mandate P signed "
        f"after it was bound to the root, is disowned{_HELD}",
        ["KEY-011", "MND-012", "KEY-009"],
        [*thefts, by_root.envelope, x_offer.envelope],
        at_the_escrow=("KEY_REVOKED", "PrincipalKeyReach", "RevokedKey"),
    )
    g.add(
        "the root revokes P back to the theft: Alice's Offer, signed before it, is taken",
        ["KEY-011", "MND-012"],
        [*thefts, by_root.envelope, offer.envelope],
    )
    # MND-025: Kay's key is its own principal; its Offer and its own revocation in one millisecond
    kay = Party("kay", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(kay.mandate_vs.statement.mandate)
    kay.mandate_vs = kay.agent.sign("mandate", m, ttl_ms=365 * DAY_MS)
    clock.advance(1_000)
    k_offer = kay.offer(bob)
    k_own = kay.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=kay.did, effective_ms=1))
    k_after = kay.offer(bob)
    k_setup = [kay.mandate_vs.envelope, *bob.setup]
    g.add(
        "Kay's key trades under a Mandate it signed itself and revokes itself back to 1 ms at the next seq, "
        "in the same millisecond; the revocation heard first: the Offer is taken -- a key's statement under "
        "its own Mandate is revoked as any of its statements (KEY-004's seq), not by MND-012",
        ["MND-025", "KEY-011", "KEY-004"],
        [*k_setup, k_own.envelope, k_offer.envelope],
    )
    g.add(
        "the same key's next Offer under its own Mandate, after the revocation in its chain: "
        f"disowned{_HELD}",
        ["MND-025", "KEY-004", "KEY-009"],
        [*k_setup, k_own.envelope, k_offer.envelope, k_after.envelope],
        at_the_escrow=("KEY_REVOKED", "PrincipalKeyReach", "Boundary"),
    )
    # KEY-011 (b): a principal's revocation reaches back over the key's own word (under no Mandate) only from
    # the key's binding to it
    dan = Party("dan", clock)
    clock.advance(1_000)
    bare = dan.agent.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    d_binding = dan.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([bare.digest])))
    clock.advance(1_000)
    d_after = dan.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([bare.digest, d_binding.digest]))
    )
    clock.advance(1_000)
    d_back = dan.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=dan.did, effective_ms=1))
    d_setup = [dan.mandate_vs.envelope, d_binding.envelope, d_back.envelope]
    g.add(
        "Dan's principal revokes his key back to 1 ms; the key's bare Checkpoint (under no Mandate) signed "
        "before its binding to that principal: taken -- reached only from the revocation's issued_at_ms",
        ["KEY-011", "KEY-004"],
        [*d_setup, bare.envelope],
    )
    g.add(
        "the same; the key's bare Checkpoint signed after its binding: disowned -- reached back to 1 ms"
        f"{_HELD_D}",
        ["KEY-011", "KEY-004", "KEY-009"],
        [*d_setup, bare.envelope, d_after.envelope],
        at_the_escrow=("KEY_REVOKED", "PrincipalKeyReach", "RevokedKey"),
    )
    return g


# --- KEY-012: a key's own revocation forked into a seq it used --------------------------------------------


def forked_own_revocation(
    escrow: Party | None = None, *, same_nonce: bool = False, late: bool = False, prev: bytes | None = None
) -> tuple[Party, Party, list[VerifiedStatement], VerifiedStatement]:
    """Alice's binding and three Offers (seqs 1-3); a thief holding her key signs, at seq 2 -- after her
    first Offer, which it links to -- the key's own revocation back to 1 ms, dated between her first two
    Offers (CHN-005 holds against both neighbours): a fork of her chain (KEY-012). ``escrow``: the Offers
    name it (its Stamps witness them, KEY-009); ``same_nonce``: the revocation carries her second Offer's
    nonce (KEY-013); ``late``: it is dated after her third Offer (time runs backwards along her chain,
    CHN-005); ``prev``: its prev, other than her first Offer's digest (its link to her chain broken)."""
    clock = escrow.clock if escrow is not None else FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    terms = {} if escrow is None else {"escrow": escrow.did}
    first = alice.offer(bob, alice.proposal(**terms))
    forked_at = clock.now_ms + 500
    clock.advance(1_000)
    second = alice.offer(bob, alice.proposal(**terms))
    clock.advance(1_000)
    third = alice.offer(bob, alice.proposal(**terms))
    nonce = second.header.nonce if same_nonce else b"thief-nonce-0001"
    if late:
        forked_at = clock.now_ms + 500
    link = first.digest if prev is None else prev
    thief = ChainSigner(alice.agent.key, clock=lambda: forked_at, nonce=lambda: nonce, head=(2, link))
    fork = thief.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    assert fork.seq == second.seq
    return alice, bob, [binding, first, second, third], fork


def own_revocation_fork() -> Group:
    """KEY-012: a statement of K at the seq of a KeyRevocation of K by K held (another digest), or at the
    next seq not linking to it, is refused as the fork it is (EQUIVOCATION, CHAIN_BROKEN), its proof the two
    envelopes -- not KEY_REVOKED, which carries the revocation alone."""
    g = Group("OwnRevocationFork", "sparse")
    alice, bob, (binding, first, second, third), fork = forked_own_revocation()
    setup = [*alice.setup, *bob.setup, binding.envelope, first.envelope]
    g.add(
        "a thief holding Alice's key signs its own revocation at the seq of her second Offer (linked to her "
        "first), heard first; her second Offer, at that seq: held, the two kept as the fork's proof "
        f"(KEY-013) -- an escrow refuses it EQUIVOCATION, the two its proof, not KEY_REVOKED{_HELD}",
        ["KEY-012", "CHN-004", "KEY-009"],
        [*setup, fork.envelope, second.envelope],
        at_the_escrow=("EQUIVOCATION", "OwnRevocationFork"),
    )
    g.add(
        "the same revocation heard first; her third Offer, at the next seq, linked to her second: held, the "
        f"two kept as the fork's proof -- an escrow refuses it CHAIN_BROKEN, not KEY_REVOKED{_HELD}",
        ["KEY-012", "CHN-003", "KEY-009"],
        [*setup, fork.envelope, third.envelope],
        at_the_escrow=("CHAIN_BROKEN", "OwnRevocationFork"),
    )
    # KEY-013: the revocation heard after the Offers it forks is taken all the same, and counts from its place
    alice.clock.advance(1_000)
    fourth = alice.offer(bob)
    g.add(
        "her second and third Offers heard first, then the thief's revocation forked into the second's seq: "
        "taken -- a key's own revocation joins no chain of a sparse view (KEY-013), not refused EQUIVOCATION",
        ["KEY-013", "KEY-004"],
        [*setup, second.envelope, third.envelope, fork.envelope],
    )
    g.add(
        "the same, then her fourth Offer, linked to her third: disowned -- the revocation heard after the "
        f"statements it forks reaches her chain from its place, as one heard before them does{_HELD}",
        ["KEY-013", "KEY-011", "KEY-004", "KEY-009"],
        [*setup, second.envelope, third.envelope, fork.envelope, fourth.envelope],
        at_the_escrow=("KEY_REVOKED", "OwnRevocationFork", "RevokedKey"),
    )
    copied, _, (_, _, c_second, _), c_fork = forked_own_revocation(same_nonce=True)
    g.add(
        "a thief's revocation forked into the seq of Alice's second Offer, carrying that Offer's nonce, "
        "heard after it: taken -- a key's own revocation holds no nonce and is refused for none (KEY-013)",
        ["KEY-013", "RPL-001"],
        [*copied.setup, *bob.setup, c_second.envelope, c_fork.envelope],
    )
    clock = FixedClock()
    escrow = Party("escrow", clock)
    alice, bob, (binding, first, second, third), fork = forked_own_revocation(escrow)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[second.digest, third.digest]))
    witnessed = [*alice.setup, *bob.setup, *escrow.setup, binding.envelope, first.envelope, stamp.envelope]
    g.add(
        "Alice's Offers name an escrow, which stamped her second and third (and not the revocation); the "
        "thief's forked revocation heard first: a view takes both Offers, witnessed before it (KEY-009), "
        "not refused EQUIVOCATION or CHAIN_BROKEN (KEY-013)",
        ["KEY-013", "KEY-009", "KEY-012"],
        [*witnessed, fork.envelope, second.envelope, third.envelope],
    )
    g.add(
        "the same Offers unstamped, the revocation heard first: her second held (KEY-009 (c): its escrow may "
        "yet stamp it) and disowned, not refused EQUIVOCATION (KEY-012) -- its fork with the revocation kept "
        "as a proof (KEY-013)",
        ["KEY-013", "KEY-012", "CHN-004"],
        [*witnessed[:-1], fork.envelope, second.envelope],
        None,
        "OwnRevocationFork",
    )
    return g


def forked_rotation() -> tuple[Party, Party, list[VerifiedStatement], VerifiedStatement]:
    """:func:`forked_own_revocation`'s Alice, and the thief's KeyRotation of her key (to a key of its own) in
    place of its revocation: at seq 2, linked to her first Offer, dated between her first two: a fork of her
    chain (KEY-012, KEY-005)."""
    alice, bob, signed, fork = forked_own_revocation()
    first = signed[1]
    thief = ChainSigner(
        alice.agent.key,
        clock=lambda: fork.issued_at_ms,
        nonce=lambda: b"thief-nonce-0002",
        head=(2, first.digest),
    )
    rotation = thief.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("thief-new", alice.clock).did)
    )
    assert rotation.seq == signed[2].seq and rotation.prev == signed[2].prev
    return alice, bob, signed, rotation


def rotation_fork() -> Group:
    """KEY-012 for a KeyRotation: a statement of K at the next seq after a KeyRotation of K held, not linking
    to it -- which KEY-005 would refuse KEY_REVOKED with the rotation alone -- is refused as the fork it is
    (CHAIN_BROKEN), its proof the two envelopes."""
    return add_rotation_fork(Group("RotationFork", "sparse"))


def add_rotation_fork(g: Group, where: str = "") -> Group:
    """:func:`rotation_fork`'s case added to ``g``, its description after ``where`` (rules.json replays it
    at an escrow: RotationForkAtTheEscrow)."""
    alice, bob, (binding, first, second, third), rotation = forked_rotation()
    setup = [*alice.setup, *bob.setup, binding.envelope, first.envelope]
    g.add(
        f"{where}a thief holding Alice's key signs a KeyRotation of it at the seq of her second Offer "
        "(linked to her first), heard first; her third Offer, at the next seq, linked to her second: refused "
        "CHAIN_BROKEN, the two its proof -- not KEY_REVOKED (KEY-005)",
        ["KEY-012", "KEY-005", "CHN-003"],
        [*setup, rotation.envelope, third.envelope],
        "CHAIN_BROKEN",
        "RotationFork",
        twin=[*setup, second.envelope, third.envelope],
    )
    return g


def stamps_in_one_millisecond() -> Group:
    """KEY-009's order of two Stamps in one millisecond: the earlier seq of the escrow's chain is the
    earliest Stamp, whichever a view heard first (tests/test_attack21_ratings.py)."""
    g = Group("StampsInOneMillisecond", "sparse")
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    binding = bob.sign("checkpoint", identity_pb2.Checkpoint())  # binds Bob's key to his principal
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    clock.advance(1_000)
    back = bob.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=bob.did, effective_ms=1))
    at = clock.now_ms
    first, of_back, again = (
        escrow.sign("stamp", commitment_pb2.Stamp(statements=[d]), issued_at_ms=at)
        for d in (accept.digest, back.digest, accept.digest)
    )
    setup = [*escrow.setup, *alice.setup, *bob.setup, binding.envelope, offer.envelope, back.envelope]
    g.add(
        "Bob's principal revokes his key back to 1 ms; in one millisecond the escrow stamps his Accept (seq "
        "n), the revocation (n + 1) and the Accept again (n + 2), heard last first: the Accept's earliest "
        "Stamp is seq n, before the revocation's (KEY-009), and a view takes it -- taken",
        ["KEY-009", "KEY-004"],
        [*setup, again.envelope, of_back.envelope, first.envelope, accept.envelope],
    )
    return g


# --- KEY-009 (c): a statement no escrow can witness, held in every order ------------------------------------


def unwitnessed_in_a_view() -> Group:
    """KEY-009 (c): a view of evidence holds a statement of a negotiation a revocation or rotation would
    reject though no escrow can witness it (an Offer or Counter naming none, a statement of a negotiation
    without one), disowned, whichever it heard first -- and so the negotiation moves the same in every order:
    Bob's Accept of it and what follows are held whether the revocation came before them or after. Before, a
    view that heard the revocation first refused the statement (`KEY_REVOKED`) and then Bob's Accept (no such
    offer), where one that heard it last held them all: the order chose whether Bob's negotiation moved."""
    g = Group("UnwitnessedHeld", "sparse")
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="stolen"),
    )
    offer = alice.offer(bob)  # naming no escrow: none can witness it
    clock.advance(1_000)
    accept = bob.accept(offer)
    clock.advance(1_000)
    delivery = bob.deliver(accept, alice)
    setup = [*alice.setup, *bob.setup, binding.envelope]
    trade = [offer.envelope, accept.envelope, delivery.envelope]
    g.add(
        "Alice's principal revokes her key from her Offer's time, heard first; then her Offer naming no "
        f"escrow{_HELD}",
        ["KEY-004", "KEY-009"],
        [*setup, revocation.envelope, offer.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    g.add(
        "the same revocation heard first, then her Offer naming no escrow, Bob's Accept of it and his "
        "Delivery: every one held -- the negotiation moves as in a view that heard the revocation last",
        ["KEY-009", "KEY-004", "NEG-001"],
        [*setup, revocation.envelope, *trade],
    )
    g.add(
        "the same statements, the revocation heard last: every one held (her Offer disowned in both orders)",
        ["KEY-009", "KEY-004", "NEG-001"],
        [*setup, *trade, revocation.envelope],
    )
    # KEY-005: a Counter naming no escrow in a negotiation whose Offer names one, above the key's rotation
    escrow = Party("escrow", clock)
    opening = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    rotation = alice.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("alice-2", clock).did), mandate=b""
    )
    counter = alice.counter(opening, alice.proposal())  # naming no escrow, at the seq after the rotation
    clock.advance(1_000)
    agreed = bob.accept(counter)
    g.add(
        "Bob's Offer names an escrow; Alice's key rotates, then counters naming no escrow (above the "
        f"rotation){_HELD}",
        ["KEY-005", "KEY-009"],
        [*setup, opening.envelope, rotation.envelope, counter.envelope],
        at_the_escrow=("KEY_REVOKED", "RevokedKey"),
    )
    g.add(
        "the rotation heard first, then her Counter naming no escrow and Bob's Accept of it: both held",
        ["KEY-009", "KEY-005", "NEG-001"],
        [*setup, opening.envelope, rotation.envelope, counter.envelope, agreed.envelope],
    )
    g.add(
        "the same, the rotation heard last: both held (her Counter disowned in both orders)",
        ["KEY-009", "KEY-005", "NEG-001"],
        [*setup, opening.envelope, counter.envelope, agreed.envelope, rotation.envelope],
    )
    return g


def _sixty(bob: Party, slot: bytes) -> trade_pb2.Offer:
    """Bob gives a code review worth 600, due in a day, under exclusive_key ``slot`` (b"": none)."""
    item = service("code-review", value=600, deadline_ms=bob.clock.now_ms + DAY_MS)
    return bob.proposal(gives=[item], exclusive_key=slot)


def disowned_accept_binds_the_offerer_to_nothing() -> Group:
    """KEY-009 (c) with MND-010 and NEG-009 (attack23): the thief of Alice's key, after her principal's
    revocation took effect, accepts Bob's offer naming no escrow. The contract that disowned Accept forms
    (held by KEY-009 (c)) binds Bob to nothing -- it counts toward none of his caps and holds none of his
    exclusive_keys -- so Bob's next, honest trade with Carol is taken, whether the view heard the revocation
    before the thief's Accept or after it; a view that heard it only after the statement of that trade the cap
    checks refused that statement on what it held then (order-bound, as any refusal before a revocation
    comes).
    Before, every view refused Bob's trade with Carol, `MANDATE_VIOLATION` or `EXCLUSIVE_CONFLICT`."""
    g = Group("UnwitnessedHeld", "sparse")
    for cap in ("max_outstanding", "exclusive_key"):
        clock = FixedClock()
        bob = Party("bob", clock, {"max_outstanding": 1_000} if cap == "max_outstanding" else {})
        carol, alice = Party("carol", clock), Party("alice", clock)
        binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
        clock.advance(1_000)
        revocation = alice.principal.sign(
            "key_revocation",
            identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + 1_000, reason="stolen"),
        )
        slot = b"bobs-one-slot" if cap == "exclusive_key" else b""
        to_alice = bob.offer(alice, _sixty(bob, slot), ttl_ms=60_000)
        clock.advance(2_000)
        thief = alice.accept(to_alice)  # with the stolen key, after the revocation's effective_ms
        clock.advance(120_000 if cap == "max_outstanding" else 30 * DAY_MS)
        to_carol = bob.offer(carol, _sixty(bob, slot))
        clock.advance(1_000)
        carol_accept = carol.accept(to_carol)
        setup = [*alice.setup, *bob.setup, *carol.setup, binding.envelope]
        theft = [to_alice.envelope, thief.envelope]
        trade = [to_carol.envelope, carol_accept.envelope]
        what = (
            "Bob (max_outstanding 1,000) offers Alice 600 naming no escrow"
            if cap == "max_outstanding"
            else "Bob offers Alice a trade naming no escrow under an exclusive_key"
        )
        rule = "MND-010" if cap == "max_outstanding" else "NEG-009"
        g.add(
            f"{what}; her principal revokes her key (stolen), heard first; the thief accepts Bob's offer "
            "with it; Bob offers Carol the same and Carol accepts: every one held -- the thief's disowned "
            f"Accept, no escrow able to witness it, binds Bob to nothing ({rule})",
            ["KEY-009", rule],
            [*setup, revocation.envelope, *theft, *trade],
        )
        g.add(
            "the same statements, the revocation heard after the thief's Accept and before Bob's trade with "
            "Carol: every one held (the contract un-booked for Bob when the revocation came)",
            ["KEY-009", rule],
            [*setup, *theft, revocation.envelope, *trade],
        )
        if cap == "max_outstanding":
            late = [*setup, *theft, to_carol.envelope, revocation.envelope, carol_accept.envelope]
            failed, error = len(setup) + 2, "MANDATE_VIOLATION"
        else:
            late = [*setup, *theft, *trade, revocation.envelope]
            failed, error = len(setup) + 3, "EXCLUSIVE_CONFLICT"
        g.add(
            "the same, the revocation heard only after the statement of Bob's trade with Carol the cap "
            f"checks: refused on what the view held then ({rule}: the thief's Accept not disowned yet), "
            "order-bound as any refusal before a revocation comes",
            [rule, "KEY-009"],
            late,
            error,
            "Exposure" if cap == "max_outstanding" else "ContractRule",
            failed_index=failed,
            twin=[*setup, *theft, revocation.envelope, *trade],
        )
    return g


def refused_at_the_escrow(
    sources: Sequence[Group], *, held: str = _HELD, name: str = "RefusedAtTheEscrow"
) -> Group:
    """KEY-004, KEY-005, MND-012, KEY-012 at an escrow taking evidence (and its audit): every case of
    ``sources`` a view of evidence holds by KEY-009 (c) -- or, ``held`` being ``_HELD_D``, a statement of no
    negotiation it holds by KEY-009 (d) -- that an escrow refuses (``at_the_escrow``), replayed by an escrow
    -- the last statement refused as before, its twin the same without the last revocation or rotation
    before it, which rejects it."""
    g = Group(name, "sparse", role="escrow")
    for case in (c for src in sources for c in src.cases if c.at_the_escrow):
        if case.comment.endswith(_HELD_D) != (held == _HELD_D):
            continue  # the other group's
        error, *flags = case.at_the_escrow
        envelopes = list(case.envelopes)
        ending = max(
            i
            for i, e in enumerate(envelopes[:-1])
            if verify_statement(e).body in ("key_revocation", "key_rotation")
        )
        g.add(
            f"at an escrow taking evidence, refused {error}: {case.comment.removesuffix(held)}",
            [r for r in case.requirements if r != "KEY-009"],
            envelopes,
            error,
            *flags,
            twin=[*envelopes[:ending], *envelopes[ending + 1 :]],
        )
    return g


# --- KEY-009 (d): a statement of no negotiation held in every order; a disowned Stamp witnesses nothing --


def disowned_stamps_in_a_view() -> Group:
    """KEY-009 (d) in a view of evidence: a statement of no negotiation a held revocation or rotation would
    reject is held whichever came first -- a Stamp by a revoked escrow key, a KeyRevocation signed by a
    revoked key, two keys revoking each other -- and a disowned Stamp witnesses nothing (WIT-005): the claim
    it alone stamped is not effective, and a Ruling of it is refused as of a claim not in force."""
    g = Group("DisownedStampView", "sparse")
    clock, _, _, esc, offer, accept, claim, base = claimed_breach(BOND)
    nid = offer.header.negotiation_id
    theft = clock.now_ms
    clock.advance(10)
    thief_stamp = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(3_600_001)
    uphold = esc.sign("ruling", _upholding(accept, claim), negotiation_id=nid)
    stolen = esc.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=theft))
    g.add(
        "the escrow key's principal revokes it from its theft; the thief's Stamp of Alice's claim, heard "
        "after: held, disowned, witnessing nothing (KEY-009 (d))",
        ["KEY-009", "KEY-004"],
        [*base, stolen.envelope, thief_stamp.envelope],
    )
    g.add(
        "the same, then the thief's Ruling upholding the claim a response window later: refused -- the "
        "claim is not in force, its one Stamp disowned (KEY-009 (d), WIT-005); without the revocation the "
        "Stamp witnesses and the Ruling is taken",
        ["KEY-009", "WIT-005", "CMT-002"],
        [*base, stolen.envelope, thief_stamp.envelope, uphold.envelope],
        "STALE_REFERENCE",
        "StaleReference",
        "Unwitnessed",
        twin=[*base, thief_stamp.envelope, uphold.envelope],
    )
    g.add(
        "the same with the thief's Stamp heard before the revocation: the view derives the contract again "
        "without it, and the thief's Ruling is refused as in the order above (KEY-009 (d))",
        ["KEY-009", "WIT-005", "CMT-002"],
        [*base, thief_stamp.envelope, stolen.envelope, uphold.envelope],
        "STALE_REFERENCE",
        "StaleReference",
        "Unwitnessed",
        twin=[*base, thief_stamp.envelope, uphold.envelope],
    )
    # A principal key revoked by itself from a time; its (thief's) revocation of its agent's key signed after:
    # held, and it revokes (a revocation only removes authority: counted whichever came first)
    clock = FixedClock()
    carol, dave = Party("carol", clock), Party("dave", clock)
    binding = carol.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    own = carol.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=carol.principal.did, effective_ms=clock.now_ms)
    )
    clock.advance(1_000)
    of_agent = carol.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=carol.did, effective_ms=clock.now_ms - 500)
    )
    clock.advance(1_000)
    offer2 = carol.offer(dave)
    setup = [*carol.setup, *dave.setup, binding.envelope]
    g.add(
        "Carol's principal key revokes itself; its revocation of Carol's key, signed after and so disowned, "
        "heard after: held, and it revokes -- her later Offer (of no escrow) is disowned (KEY-009 (d))",
        ["KEY-009", "KEY-004", "MND-012"],
        [*setup, own.envelope, of_agent.envelope, offer2.envelope],
    )
    # Two keys each bound to the other (each signed under a Mandate the other issued) revoke each other, each
    # revocation signed after the other's effective_ms: each disowned, both held, both revoke, in either order
    clock = FixedClock()
    erin, fay = Signer("erin", clock), Signer("fay", clock)
    caps = {"valid_from_ms": clock.now_ms - DAY_MS, "valid_until_ms": clock.now_ms + DAY_MS, "currency": "c"}
    m_erin = erin.sign("mandate", identity_pb2.Mandate(agent=fay.did, **caps), ttl_ms=DAY_MS)
    m_fay = fay.sign("mandate", identity_pb2.Mandate(agent=erin.did, **caps), ttl_ms=DAY_MS)
    b_fay = fay.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([m_fay.digest])), mandate=m_erin.digest
    )
    b_erin = erin.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([m_erin.digest])), mandate=m_fay.digest
    )
    t = clock.now_ms
    clock.advance(1_000)
    r_fay = erin.sign("key_revocation", identity_pb2.KeyRevocation(key=fay.did, effective_ms=t))
    r_erin = fay.sign("key_revocation", identity_pb2.KeyRevocation(key=erin.did, effective_ms=t))
    cycle = [m_erin.envelope, m_fay.envelope, b_fay.envelope, b_erin.envelope]
    for first, second in ((r_fay, r_erin), (r_erin, r_fay)):
        g.add(
            "two keys bound to each other revoke each other, each revocation signed after the other's "
            "effective_ms (disowned by it): both held, in either order -- no fixpoint needed, a revocation "
            "revokes whether disowned or not (KEY-009 (d))",
            ["KEY-009", "KEY-004", "KEY-007"],
            [*cycle, first.envelope, second.envelope],
        )
    return g


def backdated_own_revocation_after_hand_over() -> Group:
    """ESC-022 (e) with KEY-011 (redteam23b, finding 2): K1's thief signs K1's own revocation at a seq above
    every statement of K1, dated a millisecond before K1's first statement -- it reaches none of them, so
    K1's Stamp of the trade and its BondLocks keep counting, though the hand-over's time (from which K2
    speaks) is now before them all."""
    g = Group("EscrowHandOver", "sparse")
    envelopes, at = _hand_over()
    k1 = [verify_statement(e) for e in envelopes]
    key_did = next(vs.statement.key_revocation.key for vs in k1 if vs.body == "key_revocation")
    first = min(vs.issued_at_ms for vs in k1 if vs.issuer == key_did)
    key = Party("escrow", FixedClock()).agent.key
    signer = ChainSigner(
        key,
        clock=lambda: first - 1,
        nonce=lambda: derive("nonce/escrow/backdated-own-revocation", 16),
        head=(1_000_000, b"\x01" * 32),
    )
    assert signer.did == key_did
    own = signer.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=key_did, effective_ms=1), issued_at_ms=first - 1
    ).envelope
    g.add(
        "K1's principal revoked K1 and appointed K2; then K1's thief revokes K1 itself at a seq above every "
        "statement of K1, dated a millisecond before K1's first: it reaches none of them (KEY-011), so K1's "
        "Stamp of the trade and both BondLocks still count though K2 now speaks from that time -- K2 stamps "
        "Alice's claim, upholds it, forfeits Bob's bond and releases Alice's: taken",
        ["ESC-022", "KEY-011", "KEY-004"],
        [*envelopes[: at - 1], own, *envelopes[at - 1 :]],
    )
    g.add(
        "the same, K1's backdated own revocation heard first, before any statement of K1: taken",
        ["ESC-022", "KEY-011", "KEY-004"],
        [own, *envelopes],
    )
    return g


def exclusive_key_after_hand_over() -> Group:
    """ESC-022 (e) with NEG-009 (tests/test_handover_exclusive_order.py): Alice's trade with Bob holds her
    exclusive_key X at escrow key K1; K1's thief ends it (its Stamp of Alice's claim, UPHOLD, Forfeit,
    Release, dated after K1's revocation took effect); Alice then offers Carol the same X naming no escrow,
    and Carol accepts. Heard before the hand-over, Carol's Accept found X free; once the hand-over is held
    the thief's ending counts for nothing, Alice's trade with Bob holds X again, and Carol's Accept moves
    nothing -- as in a view that heard the hand-over first and refused it."""
    g = Group("EscrowHandOver", "sparse")
    x = b"the-one-and-only"
    t = _thief_story(x)
    carol = Party("carol", t.clock)
    o2 = t.alice.offer(carol, t.alice.proposal(exclusive_key=x))
    t.clock.advance(1_000)
    a2 = carol.accept(o2)
    t.clock.advance(1_000)
    delivery = t.alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=a2.digest, item_index=0),
        audience=carol.did,
        negotiation_id=o2.header.negotiation_id,
    )
    base = [*t.base, *carol.setup]
    heard_first = [*base, *t.thief, o2.envelope, a2.envelope, *t.handover]
    g.add(
        "ESC-022 (e) with NEG-009: K1's thief ended Alice's trade with Bob (under her exclusive_key X) "
        "after K1's revocation took effect, and is heard first; Alice then offers Carol the same X naming "
        "no escrow and Carol accepts -- X looked free -- then K1's revocation and K2's hand-over; then "
        "Alice's Delivery to Carol under that Accept -- refused: once the hand-over is held the thief's "
        "ending counts for nothing, Alice's trade with Bob holds X at Carol's Accept, and the Accept moves "
        "nothing, as in a view that heard the hand-over first (before, Carol's contract stood beside "
        "Bob's, both live under X)",
        ["ESC-022", "NEG-009", "NEG-001"],
        [*heard_first, delivery.envelope],
        "ILLEGAL_TRANSITION",  # Carol's negotiation PROPOSED: no contract to deliver under
        "EscrowHandOver",
        twin=heard_first,
    )
    g.add(
        "the same, K1's revocation and K2's hand-over heard first, then Alice's offer to Carol and Carol's "
        "Accept -- refused: Alice's trade with Bob, which the thief's statements do not end, holds X",
        ["ESC-022", "NEG-009"],
        [*base, *t.handover, o2.envelope, a2.envelope],
        "EXCLUSIVE_CONFLICT",
        "EscrowHandOver",
        twin=[*base, *t.handover, o2.envelope],
    )
    return g


def held_off_exposure() -> Group:
    """ESC-022 (e) with NEG-009 and MND-010 (SPEC 4.5): the Accept :func:`exclusive_key_after_hand_over` holds
    off once the hand-over is held moves nothing in the exposure either -- Carol's contract counts nowhere,
    not for her, and Alice's offer to Carol is live again until its expires_at -- as in a view that heard
    the hand-over first and refused the Accept (EXCLUSIVE_CONFLICT). Each at its cap: Carol's max_outstanding
    or budget_per_period (4,500) holds her next offer only without the contract (its 450 beside it is
    refused), and Alice's max_outstanding (50,000) refuses one unit more than her open exposure, the offer
    to Carol among it, leaves room for."""
    g = Group("HeldOffExposure", "sparse")
    x = b"the-one-and-only"

    def story(
        alice_offers: int, cap: str = "max_outstanding"
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """What every view holds first, the thief's statements, o2 and Carol's Accept of it, then the
        hand-over -- and Carol's offer to Dave of 4,500, then Alice's to Dave worth ``alice_offers`` in all
        (as many as max_per_deal 10,000 takes), both due a day later; Carol's ``cap`` is 4,500."""
        t = _thief_story(x)
        carol = Party("carol", t.clock, {cap: 4_500})
        dave = Party("dave", t.clock)
        o2 = t.alice.offer(carol, t.alice.proposal(exclusive_key=x))
        t.clock.advance(1_000)
        a2 = carol.accept(o2)
        t.clock.advance(1_000)
        due = t.clock.now_ms + DAY_MS

        def giving(party: Party, value: int) -> bytes:
            gives = [service("translation", value=value, deadline_ms=due)]
            wants = [service("code-review", value=1, deadline_ms=due)]
            return party.offer(dave, party.proposal(gives=gives, wants=wants)).envelope

        heard = [*t.base, *carol.setup, *dave.setup, *t.thief, o2.envelope, a2.envelope]
        later = [giving(carol, 4_500)]
        while alice_offers > 0:
            later.append(giving(t.alice, min(alice_offers, 10_000)))
            alice_offers -= 10_000
        return heard, t.handover, later

    for cap, req in (("max_outstanding", "MND-010"), ("budget_per_period", "MND-009")):
        heard, handover, (carol_offer, *_) = story(0, cap)
        g.add(
            f"ESC-022 (e) with NEG-009 and {req}: Carol accepted Alice's offer under X (Carol's side 450) "
            "before the hand-over was held, and the hand-over holds her Accept off; then Carol offers Dave "
            f"4,500 under her {cap} 4,500 -- taken: the contract held off counts nowhere, as in a view that "
            "refused the Accept",
            ["ESC-022", "NEG-009", req],
            [*heard, *handover, carol_offer],
        )
        g.add(
            f"the same without the hand-over: Carol's contract (450) stands beside her offer of 4,500 under "
            f"her {cap} 4,500 -- refused",
            [req],
            [*heard, carol_offer],
            "MANDATE_VIOLATION",
            "Exposure",
            twin=[*heard, *handover, carol_offer],
        )
    fits = 48_900  # Alice's max_outstanding 50,000 less her offer to Carol (500) and her trade with Bob
    heard, handover, (_, *alice_fits) = story(fits)
    g.add(
        "ESC-022 (e) with NEG-009 and MND-010: the same hand-over holds Carol's Accept off, so Alice's offer "
        "to Carol (500) is live again until its expires_at; before it, Alice offers Dave 48,900 in five "
        "offers, exactly what her max_outstanding 50,000 leaves -- taken",
        ["ESC-022", "NEG-009", "MND-010"],
        [*heard, *handover, *alice_fits],
    )
    heard, handover, (_, *alice_over) = story(fits + 1)
    g.add(
        "the same, Alice's offers to Dave worth 48,901 -- refused: her offer to Carol counts again, as in a "
        "view that refused Carol's Accept",
        ["ESC-022", "NEG-009", "MND-010"],
        [*heard, *handover, *alice_over],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=[*heard, *handover, *alice_fits],
    )
    return g


def _retired_with_a_revoke(revoked_after_ms: int, stamped_after_ms: int) -> list[bytes]:
    """Bob's bonded, revocable offer (forfeit_bond), Alice's Accept, their Stamp and BondLocks; then Alice's
    key signs a Revoke of the contract and, ``revoked_after_ms`` later, its own revocation (effective from
    its issued_at_ms), the next link of its chain; the escrow's Stamp of the Revoke, ``stamped_after_ms``
    after the Revoke's own time, and the Revoke -- the revocation first, as the escrow took them."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer, accept, stamp, bonded = _bonded_revocable(clock, alice, bob, escrow)
    locks = [lock.envelope for lock in bonded]
    clock.advance(1_000)
    revoke = alice.revoke(accept, bob, "retiring")
    at = clock.now_ms + revoked_after_ms
    own = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=at), issued_at_ms=at
    )
    stamped = escrow.sign(
        "stamp",
        commitment_pb2.Stamp(statements=[revoke.digest]),
        issued_at_ms=clock.now_ms + stamped_after_ms,
    )
    context = [*alice.setup, *bob.setup, *escrow.setup, stamp.envelope, offer.envelope, accept.envelope]
    return [*context, *locks, own.envelope, stamped.envelope, revoke.envelope]


def own_revocation_at_the_stamp() -> Group:
    """KEY-010 with KEY-011 (d): an escrow (and its audit) compares its Stamp of a statement with the reach
    time of a revocation of the statement's key, seq aside -- also for a statement below the key's own
    revocation in its chain, which KEY-004 does not reach (KEY-011 (a)), and whatever the statement's own
    time: the reference skipped the comparison for a Stamp no later than the statement's issued_at_ms."""
    g = Group("OwnRevocationAtTheStamp", "sparse", role="escrow")
    g.add(
        "Alice's key signs a Revoke (forfeit_bond terms) and, in the same millisecond, its own revocation, "
        "the next link of its chain; the escrow takes the revocation, then stamps the Revoke in that "
        "millisecond: refused -- KEY-004 reaches nothing below the key's own revocation, but KEY-010 times "
        "the Revoke by its Stamp, at the revocation's reach time (KEY-011 (d): seq aside)",
        ["KEY-010", "KEY-011", "KEY-004"],
        _retired_with_a_revoke(0, 0),
        "KEY_REVOKED",
        "StampTimedRevocation",
        "Boundary",
        twin=_retired_with_a_revoke(1, 0),
    )
    g.add(
        "the same, the key's own revocation a millisecond after the Revoke: the Stamp, in the Revoke's "
        "millisecond, is before the revocation's reach -- it stands",
        ["KEY-010", "KEY-011"],
        _retired_with_a_revoke(1, 0),
    )
    g.add(
        "the same revocation in the Revoke's millisecond, the Stamp a millisecond after it: refused",
        ["KEY-010", "KEY-011", "KEY-004"],
        _retired_with_a_revoke(0, 1),
        "KEY_REVOKED",
        "StampTimedRevocation",
        twin=_retired_with_a_revoke(1, 0),
    )
    return g


def retired_above_a_forked_rotation() -> tuple[list[bytes], VerifiedStatement, VerifiedStatement]:
    """:func:`forked_rotation`'s thief's KeyRotation of Alice's key at seq 2 (linked to her first Offer, a
    fork of her chain), and Alice retiring her key: its own revocation at seq 3, linked to her second
    Offer, not to the rotation. Returns what comes first (the parties' setup, her binding and first
    Offer), the rotation and the revocation."""
    alice, bob, (binding, first, second, third), rotation = forked_rotation()
    own = ChainSigner(
        alice.agent.key,
        clock=lambda: third.issued_at_ms,
        nonce=lambda: b"alice-retires-01",
        head=(3, second.digest),
    ).sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    assert own.seq == rotation.seq + 1 and own.prev != rotation.digest
    return [*alice.setup, *bob.setup, binding.envelope, first.envelope], rotation, own


def retired_after_the_rotation() -> VerifiedStatement:
    """:func:`retired_above_a_forked_rotation`'s revocation linked to the rotation instead (no fork): the
    key's own revocation at the seq after it, as a key rotated out and then retired signs it."""
    alice, _, _, rotation = forked_rotation()
    return ChainSigner(
        alice.agent.key,
        clock=lambda: rotation.issued_at_ms + 2_000,
        nonce=lambda: b"alice-retires-02",
        head=(rotation.seq + 1, rotation.digest),
    ).sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))


def own_revocation_above_a_forked_rotation() -> list[Group]:
    """KEY-012 (a) with KEY-009 (d) and KEY-013: a key's own revocation at the next seq after a KeyRotation of
    the key held, not linking to it, is held by a view of evidence whichever it heard first -- it joins no
    chain, and the fork it makes is kept as a proof -- where both verifiers refused it CHAIN_BROKEN when the
    rotation came first and took it when it came last (F84). An escrow takes it too (KEY-005 does not refuse
    it, KEY-013): it refused it CHAIN_BROKEN there, so only in that order (F91)."""
    g = Group("OwnRevocationAboveRotation", "sparse")
    setup, rotation, own = retired_above_a_forked_rotation()
    g.add(
        "a thief holding Alice's key signs a KeyRotation of it at the seq of her second Offer (a fork); "
        "Alice then retires the key, its own revocation at the next seq linked to her second Offer: heard "
        "after the rotation, held -- a view holds a statement of no negotiation a rotation would reject "
        "(KEY-009 (d)), and a key's own revocation joins no chain (KEY-013), its fork with the rotation kept "
        "as a proof",
        ["KEY-012", "KEY-009", "KEY-013", "KEY-005"],
        [*setup, rotation.envelope, own.envelope],
    )
    g.add(
        "the same two heard the other way round: both held, as before",
        ["KEY-012", "KEY-009", "KEY-013"],
        [*setup, own.envelope, rotation.envelope],
    )
    escrow = Group("OwnRevocationAboveRotation", "sparse", role="escrow")
    escrow.add(
        "an escrow taking evidence: the revocation after the rotation is taken too -- KEY-005 ends the key's "
        "chain, which its own revocation joins in no sparse view (KEY-013), so KEY-012 (a) does not refuse "
        "it CHAIN_BROKEN (it did, only in this order: F91)",
        ["KEY-012", "KEY-005", "KEY-013"],
        [*setup, rotation.envelope, own.envelope],
    )
    return [g, escrow]


def held_off_stamped() -> Group:
    """NEG-019 after ESC-022 (e) and NEG-009: the Accept :func:`held_off_exposure` holds off once the
    hand-over is held, here of an offer naming an escrow E: E's Stamp of it, heard after the hand-over,
    lets it in again -- witnessed, NEG-009 is no ground to hold it off, so its contract stands and counts as
    in a view that heard the Stamp first. Every earlier held-off Accept named no escrow, so a verifier that
    kept an Accept held off whatever its escrow stamped afterwards (or let in one another escrow stamped)
    passed them all (the verifier mutation run of the twenty-eighth session)."""
    g = Group("HeldOffStamped", "sparse")
    x = b"the-one-and-only"

    def story(*, by: str = "escrow") -> tuple[list[bytes], list[bytes], bytes, bytes, bytes]:
        """What every view holds first (with E's Mandate), then the hand-over; E's Stamp of Carol's Accept
        (``by`` "stranger": a Stamp of it by another escrow); Carol's offer of 4,500 to Dave under her
        max_outstanding 4,500; Alice's Delivery to Carol under Carol's Accept."""
        t = _thief_story(x)
        carol = Party("carol", t.clock, {"max_outstanding": 4_500})
        dave = Party("dave", t.clock)
        e, stranger = Party("carol-escrow", t.clock), Party("stranger-escrow", t.clock)
        o2 = t.alice.offer(carol, t.alice.proposal(exclusive_key=x, escrow=e.did))
        t.clock.advance(1_000)
        a2 = carol.accept(o2)
        t.clock.advance(1_000)
        stamper = e if by == "escrow" else stranger
        stamp = stamper.sign("stamp", commitment_pb2.Stamp(statements=[a2.digest])).envelope
        due = t.clock.now_ms + DAY_MS
        gives = [service("translation", value=4_500, deadline_ms=due)]
        wants = [service("code-review", value=1, deadline_ms=due)]
        offer = carol.offer(dave, carol.proposal(gives=gives, wants=wants)).envelope
        delivery = t.alice.sign(
            "delivery",
            commitment_pb2.Delivery(contract=a2.digest, item_index=0),
            audience=carol.did,
            negotiation_id=o2.header.negotiation_id,
        ).envelope
        heard = [
            *t.base,
            *carol.setup,
            *dave.setup,
            *e.setup,
            *stranger.setup,
            *t.thief,
            o2.envelope,
            a2.envelope,
        ]
        return heard, t.handover, stamp, offer, delivery

    heard, handover, stamp, offer, delivery = story()
    let_in = [*heard, *handover, stamp, delivery]
    g.add(
        "ESC-022 (e), NEG-009, NEG-019: Carol accepted Alice's offer under X naming escrow E before the "
        "hand-over was held, which holds her Accept off; then E's Stamp of the Accept -- let in again: "
        "Alice's Delivery to Carol under it is taken, as in a view that heard the Stamp first",
        ["NEG-019", "NEG-009", "ESC-022"],
        let_in,
    )
    g.add(
        "the same without E's Stamp: the Accept stays held off and moves nothing -- the Delivery is refused",
        ["NEG-009", "ESC-022", "NEG-001"],
        [*heard, *handover, delivery],
        "ILLEGAL_TRANSITION",
        "EscrowHandOver",
        twin=let_in,
    )
    g.add(
        "the same, E's Stamp heard before the hand-over: witnessed, the Accept is never held off -- the "
        "Delivery is taken",
        ["NEG-019", "NEG-009", "ESC-022"],
        [*heard, stamp, *handover, delivery],
    )
    heard, handover, stamp, offer, delivery = story(by="stranger")
    g.add(
        "the same, the Accept stamped after the hand-over by an escrow the offer does not name: that Stamp "
        "witnesses nothing, the Accept stays held off -- the Delivery is refused",
        ["NEG-019", "NEG-009", "ESC-022", "NEG-001"],
        [*heard, *handover, stamp, delivery],
        "ILLEGAL_TRANSITION",
        "EscrowHandOver",
        twin=let_in,
    )
    heard, handover, stamp, offer, delivery = story()
    g.add(
        "E's Stamp after the hand-over lets the Accept in again, and its contract counts again: Carol's "
        "contract (her side 450) beside her offer of 4,500 under her max_outstanding 4,500 -- refused",
        ["NEG-019", "MND-010", "ESC-022"],
        [*heard, *handover, stamp, offer],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*heard, *handover, offer],
    )
    return g


def renewal_boundary_at_the_escrow() -> Group:
    """ESC-019's renewals at their edges (the verifier mutation run of the twenty-eighth session): a
    Mandate valid exactly until the claim window's end is not enough (at or after), so the renewals are
    read then too -- a verifier that read them only past that end refused the contract; and a renewal
    restricted to counterparties extends the validity for a contract with one of them -- a verifier that
    read every restricted renewal as not for this counterparty passed every earlier vector."""
    g = Group("RenewalBoundaryAtTheEscrow", "sparse", role="escrow")
    edge, at = _renewal_chain([(4 * DAY_MS, 5 * DAY_MS)], valid_until=4 * DAY_MS)
    g.add(
        "Alice's Mandate valid until day 4, exactly when the claim window of Mallory's trade ends, renewed "
        "from day 4 to day 5: the renewal is read, the chain covers the window -- taken",
        ["ESC-019", "MND-019"],
        edge,
    )
    g.add(
        "the same Mandate valid until day 4 without the renewal: its validity ends when the claim window "
        "does -- refused",
        ["ESC-019", "MND-003"],
        _renewal_chain([], valid_until=4 * DAY_MS)[0],
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        "Boundary",
        twin=edge,
    )
    mallorys, _ = _renewal_chain([(DAY_MS, 5 * DAY_MS)], allowing="mallory")
    g.add(
        "Alice's Mandate valid a day, renewed to day 5 for Mallory alone (allowed_counterparties): it "
        "covers the claim window of her contract with Mallory -- taken",
        ["ESC-019", "MND-019", "MND-005"],
        mallorys,
    )
    strangers, at = _renewal_chain([(DAY_MS, 5 * DAY_MS)], allowing="stranger")
    g.add(
        "the same renewal for a stranger alone: not for Mallory, it does not extend the validity her "
        "contract's claims need -- refused",
        ["ESC-019", "MND-019", "MND-005"],
        strangers,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=mallorys,
    )
    return g


def rotated_stamp_in_a_view() -> Group:
    """KEY-009 (d) with KEY-005 in a view of evidence: DisownedStampView's thief story with the escrow key
    rotated out instead of revoked -- its KeyRotation ends its chain, and its Stamp of Alice's claim at a
    higher seq is held, disowned, witnessing nothing (WIT-005), whichever came first. Every earlier disowned
    Stamp was a revoked key's, so a verifier that read a rotation as no ground to disown a Stamp passed them
    all (the verifier mutation run of the twenty-eighth session: ``_stamped_before_rotation`` never ran)."""
    g = Group("RotatedStampView", "sparse")
    clock, _, _, esc, offer, accept, claim, base = claimed_breach(BOND)
    nid = offer.header.negotiation_id
    rotation = esc.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("escrow-2", clock).did), mandate=b""
    )
    clock.advance(10)
    stamp = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(3_600_001)
    uphold = esc.sign("ruling", _upholding(accept, claim), negotiation_id=nid)
    assert rotation.header.seq < stamp.header.seq < uphold.header.seq
    g.add(
        "the escrow key rotated itself out (KEY-005); its Stamp of Alice's claim at a higher seq, heard "
        "after: held, disowned, witnessing nothing (KEY-009 (d))",
        ["KEY-009", "KEY-005"],
        [*base, rotation.envelope, stamp.envelope],
    )
    g.add(
        "the same, then its Ruling upholding the claim a response window later: refused -- the claim is not "
        "in force, its one Stamp disowned (KEY-009 (d), WIT-005); without the rotation the Stamp witnesses "
        "and the Ruling is taken",
        ["KEY-009", "KEY-005", "WIT-005", "CMT-002"],
        [*base, rotation.envelope, stamp.envelope, uphold.envelope],
        "STALE_REFERENCE",
        "StaleReference",
        "Unwitnessed",
        twin=[*base, stamp.envelope, uphold.envelope],
    )
    g.add(
        "the same with the Stamp heard before the rotation: the view derives the contract again without it, "
        "and the Ruling is refused as in the order above (KEY-009 (d))",
        ["KEY-009", "KEY-005", "WIT-005", "CMT-002"],
        [*base, stamp.envelope, rotation.envelope, uphold.envelope],
        "STALE_REFERENCE",
        "StaleReference",
        "Unwitnessed",
        twin=[*base, stamp.envelope, uphold.envelope],
    )
    return g


def own_revocation_after_rotation_at_the_escrow() -> Group:
    """KEY-005 with KEY-013 at an escrow taking evidence: a key's own revocation above a KeyRotation of the
    key held is taken, whichever came first -- it joins no chain of a sparse view, so the chain's end does
    not refuse it. Both verifiers' escrows refused it (CHAIN_BROKEN above a forked rotation, KEY_REVOKED
    above one it links to) only when the rotation came first, the key unrevoked there (F91)."""
    g = Group("OwnRevocationAfterRotationAtTheEscrow", "sparse", role="escrow")
    setup, rotation, own = retired_above_a_forked_rotation()
    g.add(
        "OwnRevocationAboveRotation's forked rotation and Alice's own revocation above it, the revocation "
        "first: both taken, as in the other order",
        ["KEY-012", "KEY-005", "KEY-013"],
        [*setup, own.envelope, rotation.envelope],
    )
    after = retired_after_the_rotation()
    g.add(
        "the key's own revocation linked to the rotation (no fork), after it: taken -- KEY-005 refused it "
        "KEY_REVOKED, the key unrevoked only in this order",
        ["KEY-005", "KEY-013", "KEY-004"],
        [*setup, rotation.envelope, after.envelope],
    )
    return g


def disowned_under_the_principal() -> Group:
    """KEY-009 (c) read through the Mandate (MND-012), and at its edges: an Accept of Alice's key under her
    principal's Mandate, dated at or after the effective_ms of a KeyRevocation of the principal's own key,
    no escrow able to witness it, is disowned as one reached by a revocation of her key is -- the contract
    binds Bob, the offerer, to nothing (MND-010), whichever of the revocation and the Accept the view heard
    first; one dated at the very effective_ms is reached (of her key's revocation too); and a KeyRotation
    of her key above the Accept, no revocation held, disowns nothing. The thirtieth session's run of the
    verifier (Verifier._disowned_by) found each unpinned: every disowned Accept before was reached by a
    revocation of its own key, dated past its effective_ms."""
    g = Group("DisownedUnderThePrincipal", "sparse")

    def story(
        revoked: str, *, at_effective: bool = False, first: bool = True, cap: int = 1_000
    ) -> list[bytes]:
        clock = FixedClock()
        bob = Party("bob", clock, {"max_outstanding": cap})
        carol, alice = Party("carol", clock), Party("alice", clock)
        binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
        clock.advance(1_000)
        to_alice = bob.offer(alice, _sixty(bob, b""), ttl_ms=60_000)
        effective = clock.now_ms + (2_000 if at_effective else 1_000)
        if revoked == "rotation":  # her key rotated out above the Accept: no revocation held
            clock.advance(2_000)
            thief = alice.accept(to_alice)
            ending = alice.sign(
                "key_rotation", identity_pb2.KeyRotation(new_key=Party("alice-2", clock).did), mandate=b""
            )
        else:
            key = alice.principal.did if revoked == "principal" else alice.did
            ending = alice.principal.sign(
                "key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=effective, reason="stolen")
            )
            clock.advance(2_000)
            thief = alice.accept(to_alice)  # with the stolen key, at or after the revocation's effective_ms
            assert thief.issued_at_ms == effective if at_effective else thief.issued_at_ms > effective
        clock.advance(120_000)
        to_carol = bob.offer(carol, _sixty(bob, b""))
        clock.advance(1_000)
        carol_accept = carol.accept(to_carol)
        setup = [*alice.setup, *bob.setup, *carol.setup, binding.envelope]
        theft = [to_alice.envelope, thief.envelope]
        heard = [ending.envelope, *theft] if first else [*theft, ending.envelope]
        return [*setup, *heard, to_carol.envelope, carol_accept.envelope]

    g.add(
        "Bob (max_outstanding 1,000) offers Alice 600 naming no escrow; her principal revokes its own key "
        "(the Mandate's, MND-012), heard first; her key accepts Bob's offer after the revocation's "
        "effective_ms; Bob offers Carol 600 and Carol accepts: every one held -- the Accept under the "
        "revoked principal's Mandate is disowned, no escrow able to witness it, and binds Bob to nothing "
        "(KEY-009 (c), MND-010)",
        ["KEY-009", "MND-012", "MND-010"],
        story("principal"),
    )
    g.add(
        "the same, the principal's revocation heard after the Accept and before Bob's trade with Carol: "
        "every one held (the contract un-booked for Bob when the revocation came)",
        ["KEY-009", "MND-012", "MND-010"],
        story("principal", first=False),
    )
    g.add(
        "the principal's revocation of its own key effective at the very ms of the Accept: it reaches the "
        "Accept (at or after effective_ms, MND-012) -- every one held",
        ["KEY-009", "MND-012", "MND-010"],
        story("principal", at_effective=True),
    )
    g.add(
        "her principal's revocation of her key effective at the very ms of the Accept: it reaches the "
        "Accept (KEY-004) -- every one held",
        ["KEY-009", "KEY-004", "MND-010"],
        story("agent", at_effective=True),
    )
    rotated = story("rotation")
    g.add(
        "her key, rotated out (KEY-005) in a KeyRotation above its Accept in her chain, no revocation held: "
        "the Accept is not disowned and binds Bob, whose offer to Carol then exceeds max_outstanding 1,000 "
        "(600 + 600)",
        ["KEY-005", "KEY-009", "MND-010"],
        rotated,
        "MANDATE_VIOLATION",
        "Exposure",
        failed_index=len(rotated) - 2,  # Bob's offer to Carol
        twin=story("rotation", cap=1_200),
    )
    return g


def _stamped_around_a_theft() -> tuple[
    list[bytes], Party, int, VerifiedStatement, VerifiedStatement, VerifiedStatement, VerifiedStatement
]:
    """DisownedStampBeside's story: the escrow key ``esc`` stamps Alice's claim (``honest``), is stolen 10 ms
    later (``theft``), the thief stamps the claim again 10 ms on, and a response window after it the key's
    Ruling upholds the claim; ``stolen``: its principal's revocation of the key from the theft. Returns
    (base, esc, theft, honest, the thief's Stamp, the Ruling, stolen)."""
    clock, _, _, esc, offer, accept, claim, base = claimed_breach(BOND)
    nid = offer.header.negotiation_id
    honest = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(10)
    theft = clock.now_ms
    clock.advance(10)
    thief_stamp = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(3_600_001)
    uphold = esc.sign("ruling", _upholding(accept, claim), negotiation_id=nid)
    stolen = esc.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=theft))
    return base, esc, theft, honest, thief_stamp, uphold, stolen


def disowned_stamp_beside_a_witnessing_one() -> Group:
    """KEY-009 (d): of two Stamps of one claim by the escrow key, the later one disowned by a revocation from
    its theft, the earlier still witnesses -- the claim stays in force from it, and the escrow's Ruling of it
    a response window later is taken, whichever order the view heard the Stamps and the revocation in. The
    thirtieth session's run (Verifier._reweigh_stamps) found the witness index rebuilt from the Stamps that
    still witness unpinned: every disowned Stamp before was the only Stamp of what it named."""
    g = Group("DisownedStampBeside", "sparse")
    base, _, _, honest, thief_stamp, uphold, stolen = _stamped_around_a_theft()
    for order, heard in (
        ("the revocation heard last", [honest, thief_stamp, stolen]),
        ("the revocation heard between the Stamps", [honest, stolen, thief_stamp]),
        ("the revocation heard first", [stolen, honest, thief_stamp]),
    ):
        g.add(
            "the escrow stamps Alice's claim, its key is stolen and revoked by its principal from the theft, "
            f"the thief stamps the claim again ({order}), then the escrow key's Ruling upholding the claim a "
            "response window later: taken -- the thief's Stamp is disowned (KEY-009 (d)), the escrow's first "
            "Stamp still puts the claim in force",
            ["KEY-009", "WIT-005", "CMT-002"],
            [*base, *(vs.envelope for vs in heard), uphold.envelope],
        )
    return g


def own_revocation_twice() -> Group:
    """KEY-013 with RPL-002: a key's own KeyRevocation, which a sparse view takes beside the key's chain
    holding no nonce, is still remembered by its digest -- the same envelope heard again is REPLAYED, not
    judged again (where the key's revocation, from its own issued_at_ms, would refuse it KEY_REVOKED). The
    thirty-first session's run (Verifier._commit) found the digest it is remembered by unpinned."""
    g = Group("OwnRevocationTwice", "sparse")
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    own = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    setup = [*alice.setup, *bob.setup, binding.envelope]
    g.add(
        "Alice's key revokes itself (taken beside her chain, holding no nonce: KEY-013), and the same "
        "envelope is heard again: REPLAYED -- a statement taken is remembered by its digest (RPL-002)",
        ["RPL-002", "KEY-013"],
        [*setup, own.envelope, own.envelope],
        "REPLAYED",
        "Replay",
        no_twin=_REPLAY,
    )
    return g


def disowned_stamp_revoked_again() -> Group:
    """KEY-009 (d): DisownedStampBeside's story with the escrow key revoked twice by its principal, the second
    revocation heard after the thief's Stamp: the view weighs the Stamps it holds again and finds the same --
    the thief's Stamp still disowned, the escrow's first still witnessing -- so the Ruling is taken. The
    thirty-first session's run (Verifier._commit) found the record of the Stamps a view holds as disowned,
    kept at the Stamp's commit, read by no vector."""
    g = Group("DisownedStampRevokedAgain", "sparse")
    base, esc, theft, honest, thief_stamp, uphold, stolen = _stamped_around_a_theft()
    again = esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=theft, reason="stolen")
    )
    g.add(
        "the escrow stamps Alice's claim, its key is stolen and revoked by its principal from the theft "
        "(heard first), the thief stamps the claim again, the principal revokes the key a second time from "
        "the same millisecond, then the escrow key's Ruling upholding the claim a response window later: "
        "taken -- the thief's Stamp stays disowned (KEY-009 (d)), the escrow's first Stamp still puts the "
        "claim in force",
        ["KEY-009", "WIT-005", "CMT-002"],
        [*base, stolen.envelope, honest.envelope, thief_stamp.envelope, again.envelope, uphold.envelope],
    )
    return g


def _checkpoint(party: Party, under: bytes, chain: list[bytes]) -> VerifiedStatement:
    """A Checkpoint of ``party``'s key a second on, under the Mandate ``under``, its log the digests of
    ``chain`` (the key's statements before it), to which it is added."""
    party.clock.advance(1_000)
    vs = party.agent.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(chain)), mandate=under)
    chain.append(vs.digest)
    return vs


def bound_first_at_the_escrow() -> Group:
    """KEY-011 (b) at an escrow (no KEY-009 exception): a principal's revocation reaches back to its
    effective_ms over the key's statements under another principal's Mandates only when the key was bound
    to the revoker no later than to that other principal -- by the earliest statement held binding it to
    each, or the statement being checked when it is the earliest. The first four statements checked are
    dated before the revocation was issued, so only a reach back to effective_ms refuses one; the last two
    are at the key's first seq, which a reach covers too. The thirty-first session's run
    (Verifier._bound_first, _reach) found the order of the two bindings and the reach's seq floor
    unpinned: OwnRevocationReach's thief statements were all dated after the revocation."""
    g = Group("BoundFirstAtTheEscrow", "sparse", role="escrow")
    for first in ("her principal", "the thief's principal"):
        clock = FixedClock()
        alice, thief = Party("alice", clock), Party("thief", clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(alice.mandate_vs.statement.mandate)
        t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        chain: list[bytes] = []
        p, t = alice.mandate_vs.digest, t_mandate.digest
        if first == "her principal":
            p_bind, t_bind, t_next = (
                _checkpoint(alice, p, chain),
                _checkpoint(alice, t, chain),
                _checkpoint(alice, t, chain),
            )
        else:
            t_bind, p_bind, t_next = (
                _checkpoint(alice, t, chain),
                _checkpoint(alice, p, chain),
                _checkpoint(alice, t, chain),
            )
        clock.advance(1_000)
        back = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1)
        )
        setup = [*alice.setup, t_mandate.envelope]
        if first == "her principal":
            g.add(
                "Alice's key is bound to her principal P, then a thief binds it to its principal T (a "
                "Checkpoint under T's Mandate) and signs another statement under it; P then revokes the key "
                "back to 1 ms, heard before that statement: refused KEY_REVOKED -- bound to P first, the "
                "key's statements under T's Mandates are reached back to the effective_ms, though dated "
                "before the revocation was issued",
                ["KEY-011", "KEY-004", "KEY-007"],
                [*setup, p_bind.envelope, t_bind.envelope, back.envelope, t_next.envelope],
                "KEY_REVOKED",
                "RevokedKey",
                twin=[*setup, p_bind.envelope, t_bind.envelope, t_next.envelope],
            )
            g.add(
                "the same, the revocation heard before the thief's binding statement: refused KEY_REVOKED -- "
                "the statement checked is the key's earliest under T's Mandate, after its binding to P",
                ["KEY-011", "KEY-004", "KEY-007"],
                [*setup, p_bind.envelope, back.envelope, t_bind.envelope],
                "KEY_REVOKED",
                "RevokedKey",
                twin=[*setup, p_bind.envelope, t_bind.envelope],
            )
        else:
            g.add(
                "Alice's key is bound to a principal T first (a Checkpoint under T's Mandate), then to P, "
                "then signs another statement under T's Mandate; P revokes the key back to 1 ms, heard before"
                " that statement: taken -- bound to T first, its statements under T's Mandates are reached "
                "from the revocation's issued_at_ms only, whatever P's binding came before them",
                ["KEY-011", "KEY-004", "KEY-007"],
                [*setup, t_bind.envelope, p_bind.envelope, back.envelope, t_next.envelope],
            )
            g.add(
                "the same, P's revocation heard before the key's earliest statement under T's Mandate (dated "
                "before its binding to P): taken -- the statement checked binds the key to T, and before P",
                ["KEY-011", "KEY-004", "KEY-007"],
                [*setup, p_bind.envelope, back.envelope, t_bind.envelope],
            )
    # The reach's seq floor: a principal's revocation reaches the key's first statement (seq 0) too.
    clock = FixedClock()
    alice, thief = Party("alice", clock), Party("thief", clock)
    clock.advance(1_000)
    p_first = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    p_second = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([p_first.digest])))
    clock.advance(1_000)
    back = alice.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    g.add(
        "Alice's key signs two statements under her principal P's Mandate (seqs 0 and 1); P revokes the key "
        "back to 1 ms, heard after the second and before the first: the first refused KEY_REVOKED -- a "
        "principal's revocation reaches back over the key's statements under its Mandates at every seq",
        ["KEY-011", "KEY-004"],
        [*alice.setup, p_second.envelope, back.envelope, p_first.envelope],
        "KEY_REVOKED",
        "RevokedKey",
        twin=[*alice.setup, p_second.envelope, p_first.envelope],
    )
    # A second key, Dave's: its first statement under T's Mandate is dated after P's revocation was issued.
    dave = Party("dave", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(dave.mandate_vs.statement.mandate)
    d_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    clock.advance(1_000)
    d_back = dave.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=dave.did, effective_ms=1))
    clock.advance(1_000)
    t_first = dave.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), mandate=d_mandate.digest
    )
    clock.advance(1_000)
    p_after = dave.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([t_first.digest])))
    g.add(
        "Dave's principal P revokes his key back to 1 ms; the key's first statement (seq 0, under a principal"
        " T's Mandate) is dated after the revocation was issued, its next under P's Mandate; the revocation "
        "heard after the second and before the first: the first refused KEY_REVOKED -- bound to P later, the "
        "key's statements under T's Mandates are reached from the revocation's issued_at_ms, at every seq",
        ["KEY-011", "KEY-004", "KEY-007"],
        [*dave.setup, d_mandate.envelope, p_after.envelope, d_back.envelope, t_first.envelope],
        "KEY_REVOKED",
        "RevokedKey",
        twin=[*dave.setup, d_mandate.envelope, p_after.envelope, t_first.envelope],
    )
    return g


def rotated_accept_held() -> Group:
    """KEY-009 (c) with KEY-005 and NEG-009: UnwitnessedHeld's exclusive_key story with Alice's key rotated
    out instead of revoked -- the thief's Accept of Bob's offer naming no escrow is signed above her
    KeyRotation, which the view hears after that Accept and before Bob's trade with Carol under the same
    exclusive_key: every one held, the contract the disowned Accept formed un-booked for Bob when the
    rotation came. The thirty-first session's run (Verifier._commit) found a rotation's un-booking
    unpinned: every UnwitnessedHeld vector ends the thief's key with a revocation."""
    g = Group("RotatedAcceptHeld", "sparse")
    clock = FixedClock()
    bob, carol, alice = Party("bob", clock), Party("carol", clock), Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    slot = b"bobs-one-slot"
    to_alice = bob.offer(alice, _sixty(bob, slot), ttl_ms=60_000)
    rotation = alice.sign(
        "key_rotation",
        identity_pb2.KeyRotation(new_key=Party("alice-2", clock).did),
        mandate=b"",
    )
    clock.advance(2_000)
    thief = alice.accept(to_alice)  # with the rotated-out key, above the rotation in its chain
    clock.advance(30 * DAY_MS)
    to_carol = bob.offer(carol, _sixty(bob, slot))
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    g.add(
        "Bob offers Alice a trade naming no escrow under an exclusive_key; her key rotates out (a "
        "KeyRotation), and a thief holding the old key accepts Bob's offer above the rotation; the view "
        "hears the rotation after that Accept; Bob offers Carol the same and Carol accepts: every one held "
        "-- the disowned Accept, no escrow able to witness it, binds Bob to nothing (NEG-009)",
        ["KEY-009", "KEY-005", "NEG-009"],
        [
            *alice.setup,
            *bob.setup,
            *carol.setup,
            binding.envelope,
            to_alice.envelope,
            thief.envelope,
            rotation.envelope,
            to_carol.envelope,
            carol_accept.envelope,
        ],
    )
    return g


def hand_over_heard_first() -> Group:
    """ESC-022: EscrowHandOver's first story -- K1 revoked by its principal P, which appoints K2 to succeed
    it; K2 stamps Alice's claim and upholds it -- with K2's Mandate heard before K1's revocation: the view
    honours the hand-over when the revocation comes, and K2's Ruling, Forfeit and Release are taken as
    when the revocation came first. The thirty-first session's run (Verifier._commit) found the hand-over's
    re-check at a revocation unpinned: every EscrowHandOver vector shows the revocation first."""
    g = Group("HandOverHeardFirst", "sparse")
    envelopes, _ = _hand_over(mandate_first=True)
    g.add(
        "Alice's bonded trade at escrow key K1; Alice claims; P's Mandate for K2 naming K1 in succeeds, "
        "heard first, then P's revocation of K1; K2 stamps the claim and, a response window later, upholds "
        "it, forfeits Bob's bond to Alice and releases hers: every one taken -- K2 acts for K1 from the "
        "revocation's effective_ms, whichever of the two the view heard first",
        ["ESC-022", "KEY-004", "WIT-005"],
        envelopes,
    )
    return g


_Forked = tuple[Party, list[bytes], VerifiedStatement]  # Alice, the transcript up to a fork, the fork
_Case = tuple[str, list[str] | None, list[str]]  # a view of a fork: comment, trusted escrows, faulty


def _forked_offers(escrow: Party, *, revoked_first: bool) -> _Forked:
    """Alice's key K binds itself to her principal P; later K signs two Offers to Bob naming ``escrow``, both
    at one seq (an equivocation, CHN-004), which ``escrow`` stamps. ``revoked_first``: P revoked K from a
    minute before the pair -- a thief holds K, and ``escrow`` is the key it minted, which never stamps the
    revocation; else P revokes K after ``escrow`` stamped the pair, back to a minute before it (P's
    choice of effective_ms), and ``escrow`` -- an honest one -- stamps the revocation then. Returns (Alice,
    the transcript up to the pair's first Offer, the second: the fork, refused EQUIVOCATION)."""
    clock = escrow.clock
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    revocation = alice.principal.sign("key_revocation", leaked) if revoked_first else None
    clock.advance(60_000)
    head = alice.agent.writer.next_seq, alice.agent.writer.prev
    one = alice.offer(bob, alice.proposal(escrow=escrow.did))
    alice.agent.writer.next_seq, alice.agent.writer.prev = head  # the thief's second branch
    two = alice.offer(bob, alice.proposal(escrow=escrow.did, issuer_bond=10))
    assert one.seq == two.seq and min(one.issued_at_ms, two.issued_at_ms) > leaked.effective_ms
    clock.advance(1_000)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    held = [*alice.setup, *bob.setup, binding.envelope, *escrow.setup]
    if revocation is not None:
        return alice, [*held, revocation.envelope, stamp.envelope, one.envelope], two
    clock.advance(1_000)
    revocation = alice.principal.sign("key_revocation", leaked)  # after the Stamp, back before the pair
    clock.advance(1_000)
    stamped = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
    return alice, [*held, stamp.envelope, revocation.envelope, stamped.envelope, one.envelope], two


def witnessed_by_a_trusted_escrow() -> Group:
    """ATT-013 (d): a test may state the escrows its view trusts (``trusted_escrows``) and the keys and
    principals the view holds faulty after the run (``faulty``). A fork proof's statements an escrow stamped
    before it stamped the principal's revocation convict the principal only where that escrow is trusted:
    the escrow an Offer names is the choice of whoever holds the key -- a thief's own after the revocation
    (red team 31 F4, tests/test_attack31_thiefs_own_escrow_frames.py). Without ``trusted_escrows``, every
    escrow's Stamps count, as before the rule. Each case's twin is the fork's Offer at the next seq."""
    g = Group("WitnessedByATrustedEscrow", "sparse")
    clock = FixedClock()
    thiefs, honest = Party("thiefs-escrow", clock), Party("honest-escrow", clock)
    forked = _forked_offers(thiefs, revoked_first=True)
    k, p = forked[0].did, forked[0].principal.did
    _fork_cases(
        g,
        "P revokes Alice's key K from a minute before a thief signs with it two Offers to Bob at one "
        "seq, naming escrow M -- a key the thief minted --, which stamps the pair and never the "
        "revocation; the second Offer refused EQUIVOCATION, the two its proof against K",
        forked,
        (
            "a view trusting only another escrow: P spared (M's Stamp witnesses nothing there)",
            [honest.did],
            [k],
        ),
        (
            "a view trading under M (given its Mandate): P faulty beside K -- M's Stamp counts",
            [thiefs.did],
            [k, p],
        ),
        (
            "a transcript stating no trusted escrows (every escrow's Stamps count, as before ATT-013 "
            "(d)): P faulty beside K",
            None,
            [k, p],
        ),
    )
    _fork_cases(
        g,
        "Alice's key K signs two Offers to Bob at one seq naming escrow E, which stamps the pair; then "
        "P revokes K back to a minute before the pair, and E stamps the revocation; the second Offer "
        "refused EQUIVOCATION, the two its proof against K",
        _forked_offers(honest, revoked_first=False),
        (
            "a view trading under E: P faulty beside K -- E stamped the pair before it stamped the "
            "revocation, which P dated back over it",
            [honest.did],
            [k, p],
        ),
        (
            "a view trusting no escrow: P spared -- its revocation reaches the pair, no Stamp read as "
            "witnessing",
            [],
            [k],
        ),
    )
    return g


def _fork_cases(g: Group, story: str, forked: _Forked, *cases: _Case) -> None:
    """One vector a case of ``story``'s fork -- (Alice, the transcript, the fork: refused EQUIVOCATION) --
    as a view reads it: (its comment, the escrows it trusts, what it holds faulty). Each case's twin is the
    fork's Offer at the next seq."""
    alice, held, fork = forked
    twin = [*held, seal(alice.agent.key, edited(fork.statement, _next_link(held[-1])))]
    for comment, trusted, faulty in cases:
        g.add(
            f"{story} -- {comment}",
            ["ATT-013", "KEY-009", "CHN-004"],
            [*held, fork.envelope],
            "EQUIVOCATION",
            "Equivocation",
            twin=twin,
            trusted_escrows=trusted,
            faulty=faulty,
        )


def _forked_across(told: int | None) -> tuple[Party, list[bytes], VerifiedStatement, tuple[str, str, str]]:
    """Alice's key K binds itself to her principal P; later K signs two Offers to Bob at one seq, one naming
    escrow E1 and one E2, each stamped by its escrow alone -- neither ever stamps P's revocation of K. P's
    own escrow E_P stamps the revocation: ``told`` None, a minute before the pair (a thief holds K); else
    ``told`` ms after E1's and E2's Stamps, P dating the revocation back to a minute before the pair.
    Returns (Alice, the transcript up to the pair's first Offer, the second: the fork, refused
    EQUIVOCATION, the dids of (E_P, E1, E2))."""
    clock = FixedClock()
    ep, e1, e2 = (Party(name, clock) for name in ("escrow-p", "escrow-1", "escrow-2"))
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    held = [*alice.setup, *bob.setup, binding.envelope, *ep.setup, *e1.setup, *e2.setup]

    def tell() -> list[bytes]:
        revocation = alice.principal.sign("key_revocation", leaked)
        stamp = ep.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
        return [revocation.envelope, stamp.envelope]

    if told is None:
        held += tell()
    clock.advance(60_000)
    head = alice.agent.writer.next_seq, alice.agent.writer.prev
    one = alice.offer(bob, alice.proposal(escrow=e1.did))
    alice.agent.writer.next_seq, alice.agent.writer.prev = head  # the second branch
    two = alice.offer(bob, alice.proposal(escrow=e2.did))
    assert one.seq == two.seq and min(one.issued_at_ms, two.issued_at_ms) > leaked.effective_ms
    clock.advance(1_000)
    held += [
        e.sign("stamp", commitment_pb2.Stamp(statements=[s.digest])).envelope
        for e, s in ((e1, one), (e2, two))
    ]
    if told is not None:
        clock.advance(told)
        held += tell()
    return alice, [*held, one.envelope], two, (ep.did, e1.did, e2.did)


def told_another_trusted_escrow() -> Group:
    """ATT-013 (f): a trusted escrow's Stamp of a fork's statement is before the principal's revocation only
    when it is also more than WIT-003's tolerance (30000 ms) before the earliest Stamp of that revocation by
    any other escrow the view trusts: two escrows the revoker never told, E1 and E2, each stamping a half of
    a thief's fork a minute after P's own escrow E_P stamped P's revocation, convict P only where E_P is not
    trusted (red team 32, tests/test_attack32_uninformed_trusted_escrows_frame.py). Each case's twin is the
    fork's Offer at the next seq."""
    g = Group("ToldAnotherTrustedEscrow", "sparse")
    back = "P revokes K back to a minute before the pair, and E_P stamps it"
    under = "a view trading under E_P, E1 and E2: P"
    within = f"{under} spared -- two escrows' clocks no more than WIT-003's tolerance apart order nothing"
    for told, story in (
        (None, "P's escrow E_P stamps P's revocation of K a minute before the pair"),
        (30_000, f"{back} 30000 ms after the pair's Stamps"),
        (0, f"{back} in the ms of the pair's Stamps"),
        (30_001, f"{back} 30001 ms after the pair's Stamps"),
    ):
        alice, held, fork, (ep, e1, e2) = _forked_across(told)
        k, p = alice.did, alice.principal.did
        cases: list[_Case] = [(within, [ep, e1, e2], [k])]
        if told is None:
            cases = [
                (f"{under} spared -- a trusted escrow stamped the revocation first", [ep, e1, e2], [k]),
                (
                    "a view trading under E1 and E2 alone: P faulty beside K -- E_P's Stamp not its",
                    [e1, e2],
                    [k, p],
                ),
                (
                    "a transcript stating no trusted escrows (KEY-009's order alone): P faulty beside K",
                    None,
                    [k, p],
                ),
            ]
        elif told > 30_000:
            late = (
                "E1 and E2 stamped the pair over the tolerance before a trusted escrow stamped the revocation"
            )
            cases = [(f"{under} faulty beside K -- {late}", [ep, e1, e2], [k, p])]
        _fork_cases(
            g,
            "Alice's key K signs two Offers to Bob at one seq, one naming escrow E1 and one E2, each "
            f"stamped by its escrow, neither stamping P's revocation; {story}; the second Offer refused "
            "EQUIVOCATION, the two its proof against K",
            (alice, held, fork),
            *cases,
        )
    return g


def _next_link(previous: bytes) -> Callable[[Statement], None]:
    """An edit for :func:`edited`: the statement at the seq after ``previous``'s, linked to it."""
    before = verify_statement(previous)

    def edit(stmt: Statement) -> None:
        stmt.header.seq, stmt.header.prev = before.seq + 1, before.digest

    return edit


def answer_proof_taken() -> Group:
    """SPEC 17.1's ``faulty`` is what every fork and answer proof the view holds convicts -- two answers of
    one key to one statement both taken (ATT-022) among them, though no refusal carries them. Found by the
    differential fuzzer (conformance/differential.py, F125): the reference's adapter answered the last
    refusal's proof alone, none here; verify.mjs and ``a2a-coop verify`` held Bob's key and principal
    faulty."""
    g = Group("AnswerProofTaken", "sparse")
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    clock.advance(1_000)
    counter = bob.counter(offer, bob.proposal())
    faulty = sorted((bob.did, bob.principal.did))
    setup = [*alice.setup, *bob.setup, offer.envelope]
    g.add(
        "Alice offers Bob a trade naming no escrow; Bob accepts it, then counters it: both taken (the "
        "Counter superseded, NEG-018) -- the two an answer proof against his key (ATT-022), which the view "
        "holds: his key and his principal faulty (ATT-013), though no refusal carries the proof",
        ["ATT-022", "ATT-013", "NEG-018"],
        [*setup, accept.envelope, counter.envelope],
        faulty=faulty,
    )
    g.add(
        "the same two answers, the Counter heard first: the Accept taken superseded all the same, the pair "
        "held -- his key and his principal faulty",
        ["ATT-022", "ATT-013", "NEG-018"],
        [*setup, counter.envelope, accept.envelope],
        faulty=faulty,
    )
    g.add(
        "his Accept alone: no answer proof, nobody faulty",
        ["ATT-022", "ATT-013"],
        [*setup, accept.envelope],
        faulty=[],
    )
    return g


def revocation_states_the_head() -> Group:
    """KEY-011 (e): a principal's KeyRevocation of an escrow key K1 stating K1's chain length reaches every
    statement of K1 above it, whatever its date: K1's thief signs a Stamp of Alice's claim at the seq after
    K1's last, dated a millisecond before the revocation's effective_ms (the leak, a minute after the
    claim) -- a time the thief chose, which the revocation's effective_ms alone does not reach (red team
    33, floor33; tests/test_attack33_backdated_checkpoint.py). K1's own statement at the head still counts.
    Run by an escrow taking evidence, which refuses what a revocation reaches (a view of evidence holds it,
    disowned: KEY-009 (d))."""
    g = Group("RevocationStatesTheHead", "sparse", role="escrow")
    clock, _, _, esc, _, _, claim, base = claimed_breach(BOND)
    length = esc.agent.writer.next_seq  # K1's chain: its setup, its Stamp and its two BondLocks
    leak = clock.now_ms + 60_000
    thief = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]), issued_at_ms=leak - 1)
    clock.now_ms = leak + 120_000

    def revoked(stated: int) -> bytes:
        rev = identity_pb2.KeyRevocation(key=esc.did, effective_ms=leak, reason="leaked", chain_length=stated)
        return esc.principal.sign("key_revocation", rev).envelope

    reqs = ["KEY-011", "KEY-004", "ESC-022"]
    g.add(
        f"escrow key K1's principal revokes K1 from its leak, a minute after Alice's claim, stating K1's "
        f"chain {length} statements long; K1's thief then shows a Stamp of the claim by K1 at seq {length}, "
        "dated a millisecond before the leak: above the head stated, the thief's -- refused",
        reqs,
        [*base, revoked(length), thief.envelope],
        "KEY_REVOKED",
        "OwnRevocationReach",
        twin=[*base, revoked(0), thief.envelope],
    )
    g.add(
        f"the same revocation stating K1's chain {length + 1} statements long: the thief's Stamp at seq "
        f"{length} is within it, and dated before the effective_ms -- taken (a principal stating more than "
        "it knows reaches no more than its effective_ms does)",
        reqs,
        [*base, revoked(length + 1), thief.envelope],
    )
    g.add(
        f"K1's own last BondLock (seq {length - 1}, the head) heard after the revocation stating K1's chain "
        f"{length} statements long: at the head, dated before the effective_ms -- taken",
        reqs,
        [*base[:-2], revoked(length), *base[-2:]],
    )
    return g


def named_statement_of_another_kind() -> Group:
    """KEY-009 (e): a statement whose named statement the view holds, but of another kind than it names (an
    Accept's ``offer`` no Offer or Counter, a Delivery's ``contract`` no Accept, a Receipt's ``delivery`` no
    Delivery), has no witnessing escrow -- as one whose named statement is not held, and not its
    negotiation's contract's escrow. No view ever holds an Offer at that digest, so every view reads it
    alike. K forks its chain with two statements of one kind at one seq, the second naming a held statement
    of another kind; the view's escrow E stamps both before K's principal P revokes K back over them: the
    second is disowned and P spared (uninformed33: SPEC was silent; both implementations read none)."""
    g = Group("NamedStatementOfAnotherKind", "sparse")
    for body, control in (("accept", False), ("delivery", False), ("receipt", False), ("accept", True)):
        clock, alice, bob = world()
        chains._bound(alice)
        escrow = Party("escrow", clock)
        offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
        clock.advance(60_000)
        held = [*alice.setup, *bob.setup, *escrow.setup, offer.envelope]
        nid, to = offer.header.negotiation_id, bob.did
        if body == "accept":
            # K's Accept of Bob's offer; the second names K's first Accept (or, the control, the offer)
            first = alice.accept(offer)
            named, what = (offer, "Bob's Offer") if control else (first, "K's first Accept, an Accept")
            msg: object = trade_pb2.Accept(offer=named.digest)
        else:
            accept = alice.accept(offer)
            clock.advance(1_000)
            held.append(accept.envelope)
            if body == "delivery":
                first = alice.deliver(accept, bob)
                named, what = offer, "Bob's Offer, no Accept"
                msg = commitment_pb2.Delivery(
                    contract=offer.digest, item_index=0, artifact_digest=derive("y")
                )
            else:
                delivered = bob.deliver(accept, alice)
                held.append(delivered.envelope)
                clock.advance(1_000)
                first = alice.receipt(delivered)
                named, what = accept, "K's Accept, no Delivery"
                msg = commitment_pb2.Receipt(delivery=accept.digest, rating=10)
        alice.agent.writer.next_seq, alice.agent.writer.prev = first.seq, first.prev  # K's fork
        clock.advance(1)
        fork = alice.sign(body, msg, audience=to, negotiation_id=nid)
        clock.advance(1_000)
        revocation = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=first.issued_at_ms)
        )
        clock.advance(1_000)
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[first.digest, fork.digest]))
        clock.advance(1_000)
        stamped = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
        k, p = alice.did, alice.principal.did
        verdict = (
            "the escrow its offer names, E, witnessed both before the revocation -- P faulty beside K"
            if control
            else "held, but of another kind than it names: no witnessing escrow (not E, the negotiation's), "
            "so P's revocation disowns it and P is spared, in every view"
        )
        g.add(
            f"Alice's key K signs a {body} under escrow E and a second {body} at the same seq naming {what}; "
            "E stamps both, then P revokes K back to the first and E stamps the revocation; the second "
            f"refused EQUIVOCATION, the two its proof against K -- {verdict}",
            ["KEY-009", "ATT-013", "CHN-004"],
            [*held, first.envelope, stamp.envelope, revocation.envelope, stamped.envelope, fork.envelope],
            "EQUIVOCATION",
            "Equivocation",
            no_twin="the defect is the fork itself: any second statement of K at that seq is one",
            trusted_escrows=[escrow.did],
            faulty=[k, p] if control else [k],
        )
    return g


def witness_disowned_after_the_accept() -> Group:
    """KEY-009 (d) with NEG-019 and MND-010: Bob's Accept over his max_outstanding, taken because Alice's
    offer's escrow E witnessed it (NEG-019), stays taken when E's principal then revokes E back over that
    Stamp -- its negotiation derived again unwitnessed, its caps not read again (what a view took stays
    taken, as NEG-021 (d) and ESC-022 (e)'s decision read MND-009 and MND-010) --, while a view that held the
    revocation before the Accept refused it. Found by the differential fuzzer (jsdiff33b, F131): verify.mjs
    took its view again from scratch and refused the Accept on its caps, holding no contract."""
    g = Group("WitnessDisownedAfterTheAccept", "sparse")
    clock = FixedClock()
    alice, bob, esc = (
        Party("alice", clock),
        Party("bob", clock, {"max_outstanding": 900}),
        Party("escrow", clock),
    )
    setup = [*esc.setup, *alice.setup, *bob.setup]
    own = bob.offer(alice)  # outstanding: 500 of Bob's 900
    clock.advance(1_000)
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=esc.did))
    clock.advance(1_000)
    accept = bob.accept(offer)  # 450 and his bond of 100 more: 1,050
    stamp = esc.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    clock.advance(1_000)
    back = identity_pb2.KeyRevocation(key=esc.did, effective_ms=clock.now_ms - DAY_MS)
    revocation = esc.principal.sign("key_revocation", back)
    clock.advance(1_000)
    revoke = alice.revoke(accept, bob)  # probes the contract: refused by its terms, not for want of one
    reqs = ["KEY-009", "NEG-019", "MND-010", "NEG-010"]
    g.add(
        "Bob, 500 outstanding of his max_outstanding 900, accepts Alice's bonded offer naming escrow E (550 "
        "more), E's Stamp of both held first: a witnessed Accept, not refused on his caps (NEG-019); E's "
        "principal then revokes E a day back, disowning the Stamp (KEY-009 (d)): the Accept stays taken, its "
        "contract derived again unwitnessed -- Alice's Revoke of it refused by its terms, not for want of a "
        "contract",
        reqs,
        [
            *setup,
            own.envelope,
            stamp.envelope,
            offer.envelope,
            accept.envelope,
            revocation.envelope,
            revoke.envelope,
        ],
        "REVOCATION_NOT_ALLOWED",
        "WitnessDisownedAfterTheAccept",
        twin=[*setup, own.envelope, stamp.envelope, offer.envelope, accept.envelope, revocation.envelope],
    )
    g.add(
        "the same, E's revocation held before the Accept: the Stamp disowned when the Accept comes, which "
        "is then refused on Bob's caps (order-bound, as a refusal before a revocation is, KEY-009 (c))",
        ["KEY-009", "NEG-019", "MND-010"],
        [*setup, own.envelope, stamp.envelope, revocation.envelope, offer.envelope, accept.envelope],
        "MANDATE_VIOLATION",
        "WitnessDisownedAfterTheAccept",
        twin=[*setup, own.envelope, stamp.envelope, revocation.envelope, offer.envelope],
    )
    return g


def refused_again_stays_in_its_chain() -> Group:
    """KEY-009 (d) with CHN-002: what a derivation again refuses moves nothing and stays held, its link in its
    issuer's chain. Escrow E stamps Alice's claim against Bob, upholds it, forfeits Bob's bond and releases
    Alice's; E's principal then revokes E back to 1 ms, disowning both Stamps -- the claim never effective, so
    the UPHOLD, Forfeit and Release move nothing --, and E signs one more Stamp, the next of its chain. Found
    by the differential fuzzer (jsdiff33b, F132): verify.mjs took its view again without the three and
    refused E's next statement `CHAIN_GAP` in a complete-chain view."""
    g = Group("RefusedAgainStaysInItsChain", "complete")
    clock = FixedClock()
    alice, bob, esc = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(alice, bob, esc, clock, breach=True, witnessed=True)
    clock.advance(1_000)
    revocation = esc.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=1))
    clock.advance(1_000)
    stamp = esc.sign("stamp", commitment_pb2.Stamp(statements=[log[-1].digest]))
    g.add(
        "escrow E's bonded trade of Alice and Bob, witnessed, Bob's breach claimed, stamped and upheld, "
        "his bond forfeited, Alice's released; E's principal revokes E back to 1 ms (both Stamps disowned: "
        "the UPHOLD, Forfeit and Release move nothing, held); E's next Stamp, at the seq after the Release, "
        "is the next link of E's chain -- taken in a complete-chain view",
        ["KEY-009", "CHN-002"],
        [
            *esc.setup,
            *alice.setup,
            *bob.setup,
            *(vs.envelope for vs in log),
            revocation.envelope,
            stamp.envelope,
        ],
    )
    return g
