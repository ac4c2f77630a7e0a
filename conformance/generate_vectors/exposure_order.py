"""ExposureOrder: a contract's ending is dated (SPEC 4.5, 8.1, MND-010, NEG-009).

A contract counts toward its parties' outstanding value, and holds its exclusive_key, for a statement
checked at ``t`` unless the statements that finish it -- every obligation receipted (each Receipt and
the Delivery it names), a Ruling UPHOLD or LAPSE, an effective Revoke at its escrow's Stamp -- are
all before that statement: issued before ``t``, or at ``t`` by another key, or by the statement's own
issuer below it in its chain. An ending dated after the statement never frees it, whatever order the
two came in, so a relay or an auditor that shows a later fact first gets the verdict of a verifier
that met them in their order. Each case is a pair: the ending after the statement (refused), and its
twin with the ending before it (valid); the "other order" cases show one verdict for both orders.

Alice's Mandate allows max_outstanding 500; her contract with Bob gives 500, and her next offer gives
500 more, so it fits only once that contract is finished before it.

An offer's answer is dated the same way: a Counter, Reject or Withdraw frees the answered offer (its
value, in outstanding and in each budget period it charges) only for a statement the answer is before.

And so is a start: an offer counts only for a statement it is before (its own (issued_at, seq) in the
agent's chain), a contract only for a statement its Accept is before, so a later one held first in a
sparse view of the agent's chain does not count for an earlier statement.
"""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import Party, service
from conformance.generate_vectors._common import Group, world
from conformance.generate_vectors.negotiation import LAPSE, UPHOLD, ctx, ruling, stamp

GAP_MS = 1_000  # between the contract's performance and Alice's next offer


def _other_order(
    g: Group,
    shown: str,
    requirements: list[str],
    built: tuple[list[bytes], int],
    *,
    code: str,
    flag: str,
    twin_valid: bool,
) -> None:
    """The case added just before, its statements in the other arrival order (``shown`` says which):
    the same verdict, refused at the statement ``built`` names."""
    envelopes, at = built
    twin = ", whose twin is valid" if twin_valid else ""
    g.add(
        f"the same statements in the other order ({shown}): the same verdict",
        requirements,
        envelopes,
        code,
        flag,
        failed_index=at,
        no_twin=f"the other arrival order of the case before{twin}: one verdict for both",
    )


def exposure_order() -> Group:
    """The group, appended to chains.json."""
    g = Group("ExposureOrder", "sparse")
    _receipt_after_the_offer(g)
    _own_receipt_after_the_offer_in_its_ms(g)
    _delivery_after_the_offer(g)
    _revoke_stamped_after_the_offer(g)
    _lapse_ruled_after_the_offer(g)
    _claim_upheld_after_the_offer(g)
    _exclusive_key_freed_after_the_accept(g)
    _offer_rejected_after_the_offer(g)
    _own_withdraw_after_the_offer_in_its_ms(g)
    _offer_countered_after_the_offer_budget(g)
    _offer_accepted_after_the_offer_budget(g)
    _own_offer_issued_after_the_offer(g)
    _own_accept_issued_after_the_offer(g)
    _offer_accepted_after_the_next_offer(g)
    _contract_displaced_after_the_next_offer(g)
    _answered_offer_witnessed_after_the_next_offer(g)
    _cut_off_statement_refused_held_first(g)
    _cut_off_accept_refused_on_the_key(g)
    _displaced_contract_ended_late(g)
    _displaced_contract_revoked_late(g)
    return g


def _performed(
    alice: Party, bob: Party, proposal: trade_pb2.Offer | None = None
) -> tuple[VerifiedStatement, VerifiedStatement]:
    """Alice's offer of 500 to Bob and his Accept (the contract), at the clock's time."""
    offer = alice.offer(bob, proposal)
    return offer, bob.accept(offer)


def _receipt_after_the_offer(g: Group) -> None:
    """Bob's Receipt of Alice's Delivery is the last of the contract; Alice's next offer comes at T."""

    def build(receipt_at: int, receipt_first: bool = True) -> tuple[list[bytes], int]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        offer, accept = _performed(alice, bob)
        da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
        ra = alice.receipt(db)
        t = clock.advance(GAP_MS)
        new = alice.offer(bob)
        rb = bob.receipt(da, issued_at_ms=t + receipt_at)
        head = [*ctx(alice, bob), offer.envelope, accept.envelope, da.envelope, db.envelope, ra.envelope]
        tail = [rb.envelope, new.envelope] if receipt_first else [new.envelope, rb.envelope]
        return [*head, *tail], len(head) + (1 if receipt_first else 0)

    later, _ = build(+1)
    g.add(
        "the last Receipt of Alice's contract of 500 (Bob's) is dated 1 ms after her next offer of 500 "
        "and shown before it: the contract is not finished before the offer, which exceeds "
        "max_outstanding 500",
        ["MND-010"],
        later,
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(-1)[0],
    )
    _other_order(
        g,
        "the offer, then the later Receipt",
        ["MND-010"],
        build(+1, receipt_first=False),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=True,
    )
    g.add(
        "Bob's last Receipt dated 1 ms before Alice's next offer: the contract is finished, the offer fits "
        "max_outstanding 500",
        ["MND-010"],
        build(-1)[0],
        None,
        "Boundary",
    )
    g.add(
        "Bob's last Receipt dated in the very ms of Alice's next offer (another key's statement at t is "
        "not after it): the contract is finished, the offer fits max_outstanding 500",
        ["MND-010"],
        build(0)[0],
        None,
        "Boundary",
    )


def _own_receipt_after_the_offer_in_its_ms(g: Group) -> None:
    """Alice's own Receipt is the last of the contract, in the ms of her next offer: before it or after
    it in her chain."""

    def build(receipt_before_offer: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        offer, accept = _performed(alice, bob)
        da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
        rb = bob.receipt(da)
        clock.advance(GAP_MS)
        if receipt_before_offer:
            ra = alice.receipt(db)
            new = alice.offer(bob)
        else:
            new = alice.offer(bob)
            ra = alice.receipt(db)  # above the offer in her chain, in the same ms
        head = [*ctx(alice, bob), offer.envelope, accept.envelope, da.envelope, db.envelope, rb.envelope]
        return [*head, ra.envelope, new.envelope]

    g.add(
        "Alice's own Receipt finishes her contract of 500 in the ms of her next offer of 500 but above it in "
        "her chain, shown first (sparse): it is not before the offer, which exceeds max_outstanding 500",
        ["MND-010", "CHN-006"],
        build(receipt_before_offer=False),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(receipt_before_offer=True),
    )


def _delivery_after_the_offer(g: Group) -> None:
    """Bob's Receipt is dated before Alice's next offer, but the Delivery it names after it."""

    def build(delivered_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        offer, accept = _performed(alice, bob)
        db = bob.deliver(accept, alice)
        ra = alice.receipt(db)
        t0 = clock.now_ms
        t = clock.advance(GAP_MS)
        if delivered_first:
            da = alice.deliver(accept, bob, issued_at_ms=t0)
            new = alice.offer(bob)
        else:
            new = alice.offer(bob)
            da = alice.deliver(accept, bob, issued_at_ms=t + 1)
        rb = bob.receipt(da, issued_at_ms=t - 1)
        head = [*ctx(alice, bob), offer.envelope, accept.envelope, db.envelope, ra.envelope]
        return [*head, da.envelope, rb.envelope, new.envelope]

    g.add(
        "Bob's last Receipt is dated before Alice's next offer of 500 but names her Delivery dated after it: "
        "an obligation is receipted at the later of the two, after the offer, which exceeds "
        "max_outstanding 500",
        ["MND-010"],
        build(delivered_first=False),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=build(delivered_first=True),
    )


def _revoke_stamped_after_the_offer(g: Group) -> None:
    """Bob revokes the contract before Alice's next offer; the escrow stamps the Revoke after it."""

    def build(stamp_at: int) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        escrow = Party("escrow", clock)
        revocable = alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))
        offer, accept = _performed(alice, bob, revocable)
        revoke = bob.revoke(accept, alice, "changed plans")
        t = clock.advance(GAP_MS)
        new = alice.offer(bob)
        stamped = stamp(escrow, revoke, at=t + stamp_at)
        head = [*ctx(alice, bob, escrow), offer.envelope, accept.envelope]
        return [*head, revoke.envelope, stamped.envelope, new.envelope]

    g.add(
        "Bob's Revoke of Alice's contract of 500 is dated before her next offer of 500, but its escrow's "
        "Stamp 1 ms after it: the Revoke takes effect at its Stamp (WIT-005), after the offer, which "
        "exceeds max_outstanding 500",
        ["MND-010", "WIT-005"],
        build(+1),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(-1),
    )


def _lapse_ruled_after_the_offer(g: Group) -> None:
    """Alice's bonded contract (500 and her bond of 100) is never bonded; its escrow rules it lapsed after
    the bonding cutoff (CMT-006), after Alice's next offer."""

    def build(ruling_at: int) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 600})
        escrow = Party("escrow", clock)
        bonded = alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did)
        offer, accept = _performed(alice, bob, bonded)
        t = clock.now_ms = offer.header.expires_at_ms + BOND_GRACE_MS + GAP_MS
        new = alice.offer(bob)
        msg = ruling(accept, b"", LAPSE, b"")
        lapse = escrow.sign(
            "ruling", msg, negotiation_id=offer.header.negotiation_id, issued_at_ms=t + ruling_at
        )
        return [*ctx(alice, bob, escrow), offer.envelope, accept.envelope, lapse.envelope, new.envelope]

    g.add(
        "Alice's contract giving 600 (500 and her bond of 100), never bonded, is ruled lapsed by its escrow "
        "1 ms after her next offer of 500, the Ruling shown first: the contract is not finished before the "
        "offer, which exceeds max_outstanding 600",
        ["MND-010", "CMT-006"],
        build(+1),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(-1),
    )


def _claim_upheld_after_the_offer(g: Group) -> None:
    """Bob never delivers; Alice's claim is stamped after his deadline and upheld (BREACHED) after her next
    offer."""

    def build(ruling_at: int) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        escrow = Party("escrow", clock)
        offer, accept = _performed(alice, bob, alice.proposal(escrow=escrow.did))
        nid = offer.header.negotiation_id
        clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
        msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived")
        claim = alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=nid)
        stamped = stamp(escrow, claim)
        t = clock.advance(DEFAULT_RESPONSE_WINDOW_MS + GAP_MS)
        new = alice.offer(bob)
        decided = ruling(accept, claim.digest, UPHOLD, b"")
        upheld = escrow.sign("ruling", decided, negotiation_id=nid, issued_at_ms=t + ruling_at)
        head = [*ctx(alice, bob, escrow), offer.envelope, accept.envelope, claim.envelope, stamped.envelope]
        return [*head, upheld.envelope, new.envelope]

    g.add(
        "Alice's stamped claim on her contract of 500 (DISPUTED) is upheld by its escrow 1 ms after her next "
        "offer of 500, the Ruling shown first: the contract is not finished (BREACHED) before the offer, "
        "which exceeds max_outstanding 500",
        ["MND-010", "CMT-002"],
        build(+1),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(-1),
    )


def _exclusive_key_freed_after_the_accept(g: Group) -> None:
    """Alice's contract under exclusive_key K with Bob; Carol accepts Alice's next offer under K."""

    def build(receipt_at: int, receipt_first: bool = True) -> tuple[list[bytes], int]:
        clock, alice, bob = world()
        carol = Party("carol", clock)
        keyed = alice.proposal(exclusive_key=b"gpu-slot-7")
        o1 = alice.offer(bob, keyed)
        a1 = bob.accept(o1)
        da, db = alice.deliver(a1, bob), bob.deliver(a1, alice)
        ra = alice.receipt(db)
        o2 = alice.offer(carol, keyed)
        t = clock.advance(GAP_MS)
        a2 = carol.accept(o2)
        rb = bob.receipt(da, issued_at_ms=t + receipt_at)
        head = [*ctx(alice, bob, carol), o1.envelope, a1.envelope, da.envelope, db.envelope, ra.envelope]
        head.append(o2.envelope)
        tail = [rb.envelope, a2.envelope] if receipt_first else [a2.envelope, rb.envelope]
        return [*head, *tail], len(head) + (1 if receipt_first else 0)

    g.add(
        "Alice's contract under exclusive_key K is finished by Bob's Receipt dated 1 ms after Carol's Accept "
        "of Alice's next offer under K, shown before it: K is still held for that Accept",
        ["NEG-009"],
        build(+1)[0],
        "EXCLUSIVE_CONFLICT",
        "ContractRule",
        "Boundary",
        twin=build(-1)[0],
    )
    _other_order(
        g,
        "Carol's Accept, then the later Receipt",
        ["NEG-009"],
        build(+1, receipt_first=False),
        code="EXCLUSIVE_CONFLICT",
        flag="ContractRule",
        twin_valid=True,
    )


def _answered(body: str, cap: str, answer_at: int, answer_first: bool = True) -> tuple[list[bytes], int]:
    """Alice's offer of 500 to Bob, her next offer of 500 at T, Bob's ``body`` (a Reject or a Counter) of
    the first dated ``answer_at`` after T; ``cap`` (max_outstanding or budget_per_period) 500."""
    clock, alice, bob = world(alice={cap: 500})
    first = alice.offer(bob)
    t = clock.advance(GAP_MS)
    new = alice.offer(bob)
    at = t + answer_at
    if body == "reject":
        answer = bob.reject(first, "no", issued_at_ms=at)
    else:
        answer = bob.counter(first, bob.proposal(), issued_at_ms=at)
    head = [*ctx(alice, bob), first.envelope]
    tail = [answer.envelope, new.envelope] if answer_first else [new.envelope, answer.envelope]
    return [*head, *tail], len(head) + (1 if answer_first else 0)


def _offer_rejected_after_the_offer(g: Group) -> None:
    """Bob rejects Alice's offer of 500 around her next offer of 500 (max_outstanding 500)."""
    g.add(
        "Bob's Reject of Alice's offer of 500 is dated 1 ms after her next offer of 500 and shown before it: "
        "the first offer is live for the next (its answer is not before it), which exceeds max_outstanding "
        "500",
        ["MND-010"],
        _answered("reject", "max_outstanding", +1)[0],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=_answered("reject", "max_outstanding", -1)[0],
    )
    _other_order(
        g,
        "the next offer, then the later Reject",
        ["MND-010"],
        _answered("reject", "max_outstanding", +1, answer_first=False),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=True,
    )
    g.add(
        "Bob's Counter of Alice's offer of 500 dated in the very ms of her next offer of 500 (another key's "
        "statement at t is not after it): the first offer is answered before it, the next fits "
        "max_outstanding 500",
        ["MND-010"],
        _answered("counter", "max_outstanding", 0)[0],
        None,
        "Boundary",
    )


def _own_withdraw_after_the_offer_in_its_ms(g: Group) -> None:
    """Alice withdraws her offer of 500 in the ms of her next offer of 500: below it or above it in her
    chain."""

    def build(withdraw_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        first = alice.offer(bob)
        clock.advance(GAP_MS)
        if withdraw_first:
            withdraw = alice.withdraw(first)
            new = alice.offer(bob)
        else:
            new = alice.offer(bob)
            withdraw = alice.withdraw(first)  # above the next offer in her chain, in the same ms
        return [*ctx(alice, bob), first.envelope, withdraw.envelope, new.envelope]

    g.add(
        "Alice withdraws her offer of 500 in the ms of her next offer of 500 but above it in her chain, the "
        "Withdraw shown first (sparse): it is not before the next offer, which exceeds max_outstanding 500",
        ["MND-010", "CHN-006"],
        build(withdraw_first=False),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(withdraw_first=True),
    )


def _offer_countered_after_the_offer_budget(g: Group) -> None:
    """Bob counters Alice's offer of 500 after her next offer of 500 (budget_per_period 500)."""
    g.add(
        "Bob's Counter of Alice's offer of 500 is dated 1 ms after her next offer of 500 and shown before "
        "it: the first offer still reserves its period for the next, which exceeds budget_per_period 500",
        ["MND-009"],
        _answered("counter", "budget_per_period", +1)[0],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=_answered("counter", "budget_per_period", -1)[0],
    )


def _offer_accepted_after_the_offer_budget(g: Group) -> None:
    """Alice (budget_per_period 500, periods of an hour) offers 500 across a period boundary; her next offer
    of 500 charges period 0 alone; Bob's Accept of the first is dated in period 1, after it."""

    def build(accept_first: bool) -> tuple[list[bytes], int]:
        hour = 3_600_000
        clock, alice, bob = world(alice={"budget_per_period": 500, "period_ms": hour})
        boundary = alice.mandate_vs.statement.mandate.valid_from_ms + 25 * hour
        clock.now_ms = boundary - 60_000
        first = alice.offer(bob, ttl_ms=120_000)
        clock.now_ms = boundary - 2
        new = alice.offer(bob, ttl_ms=1)
        accept = bob.accept(first, issued_at_ms=boundary)
        head = [*ctx(alice, bob), first.envelope]
        tail = [accept.envelope, new.envelope] if accept_first else [new.envelope, accept.envelope]
        return [*head, *tail], len(head) + (1 if accept_first else 0)

    no_twin = (
        "an Accept in period 1 cannot be dated before an offer in period 0, and one in period 0 charges it: "
        "the valid side is an auditor counting the first offer in period 0 whichever came first"
    )
    g.add(
        "Alice's offer of 500 across a period boundary reserves both periods (budget_per_period 500); Bob's "
        "Accept of it, dated in period 1 after her next offer of 500 in period 0, is shown first: for the "
        "next offer the first still reserves period 0, which it exceeds",
        ["MND-009"],
        build(accept_first=True)[0],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        no_twin=no_twin,
    )
    _other_order(
        g,
        "the next offer, then the later Accept",
        ["MND-009"],
        build(accept_first=False),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=False,
    )


def _own_offer_issued_after_the_offer(g: Group) -> None:
    """Alice (``cap`` 500) offers 500, withdraws it and offers 500 again; the later offer is held first."""

    def build(cap: str, later_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={cap: 500})
        first = alice.offer(bob)
        clock.advance(GAP_MS)
        withdraw = alice.withdraw(first)
        later = alice.offer(bob)
        if later_first:
            return [*ctx(alice, bob), later.envelope, first.envelope, withdraw.envelope]
        return [*ctx(alice, bob), first.envelope, withdraw.envelope, later.envelope]

    g.add(
        "Alice offers 500, withdraws it and offers 500 again (max_outstanding 500); the last offer is shown "
        "first (a sparse view of her chain): it started after the first offer, so it does not count for "
        "it, and all three are taken",
        ["MND-010", "CHN-005"],
        build("max_outstanding", later_first=True),
        None,
        "Exposure",
        "Boundary",
    )
    g.add(
        "the same statements in her chain's order (the offer, its Withdraw, the next offer): the same "
        "verdict",
        ["MND-010"],
        build("max_outstanding", later_first=False),
        None,
        "Exposure",
    )
    g.add(
        "the same under budget_per_period 500, the last offer shown first: it reserves the period only for "
        "statements it started before, not for the first offer",
        ["MND-009", "CHN-005"],
        build("budget_per_period", later_first=True),
        None,
        "Exposure",
        "Boundary",
    )


def _own_accept_issued_after_the_offer(g: Group) -> None:
    """Alice (max_outstanding 500) offers 500 to Bob and withdraws it in one ms, her Withdraw above the
    offer in her chain; later she accepts Bob's offer in which she gives 450. Her Accept, shown before
    her offer, forms a contract that starts after the offer, so it does not count for it."""

    def build(accept_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        bobs = bob.offer(alice)
        mine = alice.offer(bob)
        withdraw = alice.withdraw(mine)
        clock.advance(GAP_MS)
        accept = alice.accept(bobs)
        if accept_first:
            return [*ctx(alice, bob), bobs.envelope, accept.envelope, mine.envelope, withdraw.envelope]
        return [*ctx(alice, bob), bobs.envelope, mine.envelope, withdraw.envelope, accept.envelope]

    g.add(
        "Alice offers 500 to Bob and withdraws it (max_outstanding 500), then accepts Bob's offer, giving "
        "450; her Accept is shown before her offer: the contract starts at the Accept, after the offer, "
        "so it does not count for it, and all are taken",
        ["MND-010", "CHN-005"],
        build(accept_first=True),
        None,
        "Exposure",
        "Boundary",
    )
    g.add(
        "the same statements in her chain's order (the offer, its Withdraw, the Accept): the same verdict",
        ["MND-010"],
        build(accept_first=False),
        None,
        "Exposure",
    )


def _offer_accepted_after_the_next_offer(g: Group) -> None:
    """Alice (max_outstanding 500) offers 500, then 500 again; Bob's Accept of the first is dated after the
    second. Its contract starts at the Accept, so for the second offer the first still counts as an offer."""

    def build(accept_first: bool) -> tuple[list[bytes], int]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        first = alice.offer(bob)
        t = clock.advance(GAP_MS)
        new = alice.offer(bob)
        accept = bob.accept(first, issued_at_ms=t + 1)
        head = [*ctx(alice, bob), first.envelope]
        tail = [accept.envelope, new.envelope] if accept_first else [new.envelope, accept.envelope]
        return [*head, *tail], len(head) + (1 if accept_first else 0)

    no_twin = (
        "an Accept dated before the next offer forms a contract that counts for it, refused the same: the "
        "value counts throughout, as the offer before the Accept and as the contract from it"
    )
    g.add(
        "Bob's Accept of Alice's offer of 500 is dated 1 ms after her next offer of 500 and shown first: "
        "the contract starts after the next offer, and for it the first still counts as a live offer, "
        "which exceeds max_outstanding 500",
        ["MND-010"],
        build(accept_first=True)[0],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        no_twin=no_twin,
    )
    _other_order(
        g,
        "the next offer, then the later Accept",
        ["MND-010"],
        build(accept_first=False),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=False,
    )


def _contract_displaced_after_the_next_offer(g: Group) -> None:
    """Bob (max_outstanding 500) accepts Alice's offer naming an escrow (he gives 450), offers Carol 500 a
    second later, then signs a second Accept of Alice's offer that the escrow stamps: witnessed, dated after
    his offer to Carol, it displaces the first contract (NEG-017) -- for statements it is before (NEG-019).
    For his offer to Carol the first contract still counts, whichever came first."""

    def build(
        witnessed_first: bool, *, first_accept: bool = True, first_after: bool = False
    ) -> tuple[list[bytes], int]:
        clock, alice, bob = world(bob={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        first = bob.accept(offer)
        clock.advance(GAP_MS)
        nxt = bob.offer(carol)
        clock.advance(GAP_MS)
        witnessed = bob.accept(offer)
        held_first = first_accept and not first_after
        head = [*ctx(alice, bob, carol, escrow), offer.envelope, *([first.envelope] if held_first else [])]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        if first_after:  # the first Accept taken superseded (NEG-018), counted as held first (SPEC 4.5)
            shown.append(first.envelope)
        tail = [*shown, nxt.envelope] if witnessed_first else [nxt.envelope, *shown]
        return [*head, *tail], len(head) + (len(shown) if witnessed_first else 0)

    g.add(
        "Bob's second Accept of Alice's offer, witnessed by its escrow and shown first, is dated after his "
        "offer of 500 to Carol: the contract it displaces (his first Accept's, 450) still counts for that "
        "offer, which exceeds his max_outstanding 500",
        ["NEG-019", "MND-010"],
        build(witnessed_first=True)[0],
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=build(witnessed_first=True, first_accept=False)[0],
    )
    _other_order(
        g,
        "the offer to Carol, then the witnessed Accept",
        ["NEG-019", "MND-010"],
        build(witnessed_first=False),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=True,
    )
    _other_order(
        g,
        "the witnessed Accept, then the first Accept, taken superseded (NEG-018) and counted as held first, "
        "then the offer to Carol",
        ["NEG-019", "NEG-018", "MND-010"],
        build(witnessed_first=True, first_after=True),
        code="MANDATE_VIOLATION",
        flag="Exposure",
        twin_valid=True,
    )


def _answered_offer_witnessed_after_the_next_offer(g: Group) -> None:
    """Alice (max_outstanding 500) offers Bob 500 naming an escrow; Bob rejects it; Alice offers Carol 500;
    Bob's Accept of the first offer, witnessed by the escrow, is dated after that. For her offer to Carol the
    first offer was answered before it and the witnessed contract starts after it."""

    def build(witnessed_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        reject = bob.reject(offer, "no")
        clock.advance(GAP_MS)
        nxt = alice.offer(carol)
        clock.advance(GAP_MS)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        middle = [*shown, reject.envelope] if witnessed_first else [reject.envelope, *shown]
        return [*ctx(alice, bob, carol, escrow), offer.envelope, *middle, nxt.envelope]

    g.add(
        "Bob rejects Alice's offer of 500 naming an escrow; his Accept of it, witnessed, dated after her "
        "next offer of 500 (to Carol) and shown before it: the first offer was answered before the next, "
        "which fits max_outstanding 500 (the witnessed Accept does not count the answered offer again up "
        "to it)",
        ["NEG-019", "MND-010"],
        build(witnessed_first=False),
        None,
        "Boundary",
    )
    g.add(
        "the same, the witnessed Accept shown before the Reject (taken superseded, NEG-018, it still dates "
        "the first offer's end): the next offer fits max_outstanding 500",
        ["NEG-019", "MND-010"],
        build(witnessed_first=True),
        None,
        "Boundary",
    )


def _cut_off_statement_refused_held_first(g: Group) -> None:
    """Bob (max_outstanding 1000) offers Carol 600; Alice offers Bob naming an escrow; Bob counters it giving
    500 (600 + 500: over his cap) -- or counters giving 400 and accepts Alice's Counter of that (he gives
    450: over it); Bob offers Dave 400; then Bob's Accept of Alice's first offer, witnessed, cuts the line.
    A verifier meeting Bob's over-cap statement first refuses it; one meeting it after the witnessed Accept
    takes it superseded (NEG-018) and counts it as held first -- nowhere, since held first it was refused
    (SPEC 4.5): the offer to Dave fits in every arrival order."""

    def build(*, accept: bool = False, cut_first: bool = False, carol: int = 600) -> tuple[list[bytes], int]:
        clock, alice, bob = world(bob={"max_outstanding": 1_000})
        carol_p, dave, escrow = Party("carol", clock), Party("dave", clock), Party("escrow", clock)
        due = clock.now_ms + 86_400_000
        to_carol = bob.proposal(gives=[service("code-review", value=carol, deadline_ms=due)])
        held = [bob.offer(carol_p, to_carol)]
        clock.advance(GAP_MS)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        held.append(offer)
        clock.advance(GAP_MS)
        if accept:
            gives = [service("code-review", value=400, deadline_ms=due)]
            counter = bob.counter(offer, bob.proposal(gives=gives, escrow=escrow.did))
            clock.advance(GAP_MS)
            held += [counter, alice.counter(counter, alice.proposal(escrow=escrow.did))]
            clock.advance(GAP_MS)
            cut = bob.accept(held[-1])
        else:
            cut = bob.counter(offer, bob.proposal(escrow=escrow.did))
        clock.advance(GAP_MS)
        nxt = bob.offer(dave, bob.proposal(gives=[service("code-review", value=400, deadline_ms=due)]))
        clock.advance(GAP_MS)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        head = [*ctx(alice, bob, carol_p, dave, escrow), *(vs.envelope for vs in held)]
        tail = [cut.envelope, *shown] if cut_first else [*shown, cut.envelope]
        return [*head, *tail, nxt.envelope], len(head) + (0 if cut_first else 3)

    what = {
        False: "Counter of Alice's offer (he gives 500)",
        True: "Accept of Alice's Counter (he gives 450)",
    }
    for accept in (False, True):
        envelopes, _ = build(accept=accept, carol=500)
        g.add(
            f"Bob's {what[accept]} fits his max_outstanding 1000 beside his offer of 500 to Carol, and is "
            "shown only after his witnessed Accept of Alice's first offer, dated after his offer of 400 to "
            "Dave: taken superseded (NEG-018), it counts as held first until the witnessed Accept, and the "
            "offer to Dave exceeds the cap; the twin's offer to Carol is 600, over which that statement held "
            "first is refused: it counts nowhere, and the offer to Dave fits",
            ["MND-022", "NEG-018", "NEG-019", "MND-010"],
            envelopes,
            "MANDATE_VIOLATION",
            "Exposure",
            "Boundary",
            failed_index=len(envelopes) - 1,
            twin=build(accept=accept)[0],
        )
        g.add(
            f"the twin of the case before: Bob's offer to Carol is 600, over which his {what[accept]}, held "
            "first, is refused; shown after the witnessed Accept (taken superseded, NEG-018) it counts "
            "nowhere, and his offer of 400 to Dave fits max_outstanding 1000",
            ["MND-022", "NEG-018", "NEG-019", "MND-010"],
            build(accept=accept)[0],
            None,
            "Boundary",
        )
        _refused_first(
            g,
            f"the same statements (Carol's offer 600), Bob's {what[accept]} shown before the witnessed "
            "Accept: refused on his cap, which is why, shown after it, it counts nowhere",
            ["MND-010"],
            build(accept=accept, cut_first=True),
            "MANDATE_VIOLATION",
        )


def _cut_off_accept_refused_on_the_key(g: Group) -> None:
    """Alice holds a contract with Carol under exclusive_key K; she offers Bob (max_outstanding 500) naming
    an escrow, Bob counters giving 0, Alice counters with K, and Bob accepts her Counter (he gives 450) --
    refused on NEG-009 by a verifier meeting it first; Bob offers Dave 500; Bob's Accept of Alice's first
    offer, witnessed, dated after that, cuts the line. Shown after it, the refused Accept counts nowhere."""

    def build(cut_first: bool) -> tuple[list[bytes], int]:
        clock, alice, bob = world(bob={"max_outstanding": 500})
        carol, dave, escrow = Party("carol", clock), Party("dave", clock), Party("escrow", clock)
        due = clock.now_ms + 86_400_000
        key = b"the-one-car"
        to_carol = alice.offer(carol, alice.proposal(exclusive_key=key))
        held = [to_carol, carol.accept(to_carol)]
        clock.advance(GAP_MS)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        counter = bob.counter(
            offer, bob.proposal(gives=[service("code-review", value=0, deadline_ms=due)], escrow=escrow.did)
        )
        clock.advance(GAP_MS)
        keyed = alice.counter(counter, alice.proposal(escrow=escrow.did, exclusive_key=key))
        held += [offer, counter, keyed]
        clock.advance(GAP_MS)
        cut = bob.accept(keyed)
        clock.advance(GAP_MS)
        nxt = bob.offer(dave, bob.proposal(gives=[service("code-review", value=500, deadline_ms=due)]))
        clock.advance(GAP_MS)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        head = [*ctx(alice, bob, carol, dave, escrow), *(vs.envelope for vs in held)]
        tail = [cut.envelope, *shown] if cut_first else [*shown, cut.envelope]
        return [*head, *tail, nxt.envelope], len(head)

    g.add(
        "Bob's Accept of Alice's Counter carrying an exclusive_key her contract with Carol holds, shown only "
        "after his witnessed Accept of her first offer (dated after his offer of 500 to Dave): taken "
        "superseded (NEG-018), it counts nowhere -- a verifier meeting it first refuses it (NEG-009) -- and "
        "the offer to Dave fits his max_outstanding 500",
        ["MND-022", "NEG-018", "NEG-009", "MND-010"],
        build(cut_first=False)[0],
        None,
        "Boundary",
    )
    _refused_first(
        g,
        "the same statements, Bob's Accept of Alice's keyed Counter shown before the witnessed Accept: "
        "refused on NEG-009, which is why, shown after it, it counts nowhere",
        ["NEG-009"],
        build(cut_first=True),
        "EXCLUSIVE_CONFLICT",
    )


def _refused_first(
    g: Group, description: str, reqs: list[str], built: tuple[list[bytes], int], code: str
) -> None:
    """The other arrival order of a cut-off line's case: the statement that counts nowhere when shown after
    the witnessed Accept, shown before it, where a verifier meeting it first refuses it with ``code``."""
    envelopes, at = built
    g.add(
        description,
        reqs,
        envelopes,
        code,
        "Exposure",
        failed_index=at,
        no_twin="the other arrival order of the case before",
    )


def _displaced_contract_ended_late(g: Group) -> None:
    """Bob (max_outstanding 500) accepts Alice's offer naming an escrow (he gives 450); both deliver and
    receipt it; Bob offers Carol 500; his Accept of Alice's offer, witnessed, dated after that, displaces the
    first contract. Shown the witnessed Accept before the Deliveries and Receipts, a verifier takes them
    superseded (NEG-018) and they end the displaced contract as they would have, held first (MND-023)."""

    def build(receipts: int) -> list[bytes]:
        clock, alice, bob = world(bob={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        first = bob.accept(offer)
        clock.advance(GAP_MS)
        da, db = alice.deliver(first, bob), bob.deliver(first, alice)
        clock.advance(GAP_MS)
        performed = [da, db, bob.receipt(da), alice.receipt(db)][: 2 + receipts]
        clock.advance(GAP_MS)
        nxt = bob.offer(carol)
        clock.advance(GAP_MS)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        head = [*ctx(alice, bob, carol, escrow), offer.envelope, first.envelope]
        return [*head, *shown, *(vs.envelope for vs in performed), nxt.envelope]

    refused = build(receipts=1)
    g.add(
        "Bob's first contract with Alice (he gives 450) is displaced by his witnessed Accept of her offer, "
        "dated after his offer of 500 to Carol and shown first; the contract's Deliveries and one Receipt "
        "come after it (taken superseded, NEG-018): not finished, the displaced contract counts for the "
        "offer, which exceeds max_outstanding 500; the twin holds the last Receipt too, which ends it "
        "before the offer as held first",
        ["MND-023", "NEG-018", "NEG-019", "MND-010"],
        refused,
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        failed_index=len(refused) - 1,
        twin=build(receipts=2),
    )
    g.add(
        "the twin of the case before: both Receipts of the displaced contract, taken superseded after the "
        "witnessed Accept, end it before Bob's offer to Carol as they would have, held first: the offer fits "
        "max_outstanding 500",
        ["MND-023", "NEG-018", "NEG-019", "MND-010"],
        build(receipts=2),
        None,
        "Boundary",
    )


def _displaced_contract_revoked_late(g: Group) -> None:
    """As the case before, the displaced contract (its terms allow a Revoke) ended by Alice's Revoke, in
    effect from the escrow's Stamp of it -- the Revoke held before the witnessed Accept, its Stamp after."""
    clock, alice, bob = world(bob={"max_outstanding": 500})
    carol, escrow = Party("carol", clock), Party("escrow", clock)
    terms = alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))
    offer = alice.offer(bob, terms)
    first = bob.accept(offer)
    clock.advance(GAP_MS)
    revoke = alice.revoke(first, bob)
    took = stamp(escrow, revoke)
    clock.advance(GAP_MS)
    nxt = bob.offer(carol)
    clock.advance(GAP_MS)
    witnessed = bob.accept(offer)
    g.add(
        "Alice revokes her contract with Bob (he gives 450; the terms allow it) and the escrow stamps the "
        "Revoke before Bob's offer of 500 to Carol; Bob's witnessed Accept of her offer, dated after that "
        "offer, displaces the contract -- shown after the Revoke, before its Stamp: the Stamp, taken then, "
        "ends the displaced contract as it would have, held first (MND-023), and the offer fits "
        "max_outstanding 500",
        ["MND-023", "NEG-019", "MND-010", "KEY-010"],
        [
            *ctx(alice, bob, carol, escrow),
            offer.envelope,
            first.envelope,
            revoke.envelope,
            stamp(escrow, witnessed).envelope,
            witnessed.envelope,
            took.envelope,
            nxt.envelope,
        ],
        None,
        "Boundary",
    )
