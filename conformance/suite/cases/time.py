"""Time windows and clock skew (SPEC 6.5, TIM-001..TIM-008), against the target's own clock.

The suite assumes the target allows the default skew of 30 s (TIM-004) and puts every defect a
full minute beyond it, so a target whose clock is off by less than 30 s still gets exact verdicts.
"""

from __future__ import annotations

from conformance.suite.context import Context
from conformance.suite.flows import SKEW_MS, fair_proposal, forge, refuses, target
from conformance.suite.model import Outcome, case

MARGIN_MS = 60_000


def _offer_at(
    ctx: Context, name: str, *, issued_at_ms: int, ttl_ms: int = 5 * 60_000, **header: int
) -> bytes:
    alice = ctx.party(name)

    def mutate(s):  # type: ignore[no-untyped-def]
        for k, v in header.items():
            setattr(s.header, k, v)

    return forge(
        alice,
        "offer",
        fair_proposal(alice),
        audience=ctx.target,
        issued_at_ms=issued_at_ms,
        ttl_ms=ttl_ms,
        mutate=mutate,
    )


@case(
    "tim.issued-in-future",
    "A statement issued beyond the skew in the future is refused ISSUED_IN_FUTURE",
    "TIM-003",
    "TIM-004",
    "ERR-003",
)
def issued_in_future(ctx: Context) -> Outcome:
    """An Offer dated now + 30 s skew + 60 s; then the valid Offer at the same seq."""
    alice = ctx.party()
    bad = _offer_at(ctx, "alice", issued_at_ms=ctx.clock.now_ms + SKEW_MS + MARGIN_MS)
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(
            ctx, bad, "ISSUED_IN_FUTURE", what="an offer dated 90 s ahead", context=alice.setup, then=valid
        )
    )


@case(
    "tim.not-yet-valid", "A statement whose not_before is beyond the skew is refused NOT_YET_VALID", "TIM-002"
)
def not_yet_valid(ctx: Context) -> Outcome:
    """An Offer issued now with not_before_ms = now + 90 s."""
    alice = ctx.party()
    now = ctx.clock.now_ms
    bad = _offer_at(ctx, "alice", issued_at_ms=now, not_before_ms=now + SKEW_MS + MARGIN_MS)
    return Outcome.passed(
        refuses(ctx, bad, "NOT_YET_VALID", what="an offer valid from 90 s ahead", context=alice.setup)
    )


@case("tim.expired", "A statement that expired beyond the skew is refused EXPIRED", "TIM-001")
def expired(ctx: Context) -> Outcome:
    """An Offer issued 3 minutes ago that expired 2 minutes ago (freshness checks EXPIRED before
    ISSUED_IN_PAST)."""
    alice = ctx.party()
    now = ctx.clock.now_ms
    bad = _offer_at(ctx, "alice", issued_at_ms=now - 180_000, ttl_ms=60_000)
    return Outcome.passed(
        refuses(ctx, bad, "EXPIRED", what="an offer expired 2 minutes ago", context=alice.setup)
    )


@case(
    "tim.issued-in-past",
    "A live statement addressed to the target, dated back beyond the skew, is refused ISSUED_IN_PAST",
    "TIM-006",
    "ERR-003",
)
def issued_in_past(ctx: Context) -> Outcome:
    """An unexpired Offer dated 90 s ago (backdating), then the valid Offer at the same seq."""
    alice = ctx.party()
    bad = _offer_at(ctx, "alice", issued_at_ms=ctx.clock.now_ms - SKEW_MS - MARGIN_MS)
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(ctx, bad, "ISSUED_IN_PAST", what="an offer dated 90 s back", context=alice.setup, then=valid)
    )


@case(
    "tim.context-issued-in-future",
    "A statement addressed to the target, dated ahead beyond the skew, is refused as context too",
    "TIM-008",
    "ERR-003",
)
def context_issued_in_future(ctx: Context) -> Outcome:
    """Bob's valid Offer as the request, with Alice's Offer dated now + 30 s skew + 60 s as context (a
    relay's context gets no other freshness check: TIM-005); then Bob's Offer again, without it."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    bad = _offer_at(ctx, "alice", issued_at_ms=ctx.clock.now_ms + SKEW_MS + MARGIN_MS)
    request = bob.offer(target(ctx), fair_proposal(bob))
    what = "an offer dated 90 s ahead, as the context of a valid offer"
    ctx.expect_rejection(
        ctx.exchange(request.envelope, [*alice.setup, bad, *bob.setup], note=f"one defect: {what}"),
        "ISSUED_IN_FUTURE",
        what=what,
    )
    ctx.send(request, bob.setup, note="the same request, without that context (ERR-003)")
    return Outcome.passed(f"refused {what} with ISSUED_IN_FUTURE, then accepted the request alone")


@case(
    "tim.within-skew",
    "Statements dated within the skew (ahead or back) are accepted",
    "TIM-003",
    "TIM-006",
    "TIM-004",
)
def within_skew(ctx: Context) -> Outcome:
    """An Offer dated 10 s ahead (Alice) and one dated 10 s back (Bob): both inside 30 s, both accepted."""
    for name, shift in (("alice", 10_000), ("bob", -10_000)):
        party = ctx.party(name)
        vs = party.offer(target(ctx), fair_proposal(party), issued_at_ms=ctx.clock.now_ms + shift)
        ctx.send(vs, party.setup, note=f"offer dated {shift / 1000:+.0f} s")
    return Outcome.passed("accepted offers dated 10 s ahead and 10 s back")


@case("tim.long-lifetime", "A statement with a 400-day lifetime is accepted", "TIM-007")
def long_lifetime(ctx: Context) -> Outcome:
    """A contract, then our Delivery valid for 400 days (Deliveries have no mandate period limit):
    a live receiver must accept lifetimes up to 400 days."""
    from conformance.suite.flows import form_contract

    contract = form_contract(ctx)
    alice = contract.party
    delivery = alice.deliver(contract.accept, target(ctx), ttl_ms=400 * 86_400_000)
    ctx.send(delivery, note="our delivery, valid 400 days")
    return Outcome.passed("accepted a delivery valid for 400 days")
