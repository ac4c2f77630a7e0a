"""Mandates (SPEC section 4): the suite's agents act outside their own mandates in exactly one way,
and the target's policy guard must not sign outside its own (MND-011, MND-015)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.testing import DAY_MS
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, open_negotiation, refuses, target
from conformance.suite.model import CaseFailed, Outcome, case


def _outside(ctx: Context, what: str, *, offer_kw: dict[str, Any] | None = None, **caps: Any) -> Outcome:
    """A party under a mandate with ``caps`` sends a fair Offer that breaks it: MANDATE_VIOLATION."""
    alice = ctx.party("alice", **caps)
    offer = alice.offer(target(ctx), fair_proposal(alice), **(offer_kw or {}))
    return Outcome.passed(refuses(ctx, offer.envelope, "MANDATE_VIOLATION", what=what, context=alice.setup))


@case(
    "mnd.unknown",
    "A statement naming a mandate the target does not hold is refused MANDATE_UNKNOWN",
    "MND-002",
    "ERR-003",
)
def unknown(ctx: Context) -> Outcome:
    """Alice's Offer sent without her Mandate as context; then with it (accepted: nothing was recorded)."""
    alice = ctx.party()
    offer = alice.offer(target(ctx), fair_proposal(alice))
    ctx.expect_rejection(
        ctx.exchange(offer.envelope, note="offer without its mandate"),
        "MANDATE_UNKNOWN",
        what="an offer whose mandate was not sent",
    )
    ctx.send(offer, alice.setup, note="the same offer with its mandate")
    return Outcome.passed("refused MANDATE_UNKNOWN, then accepted the same offer with its mandate")


@case(
    "mnd.not-the-agent",
    "A statement under another agent's mandate is refused MANDATE_VIOLATION",
    "MND-002",
    "KEY-007",
)
def not_the_agent(ctx: Context) -> Outcome:
    """Mallory signs an Offer naming Alice's Mandate (which delegates to Alice's key, not Mallory's)."""
    alice, mallory = ctx.party(), ctx.party("mallory")
    offer = mallory.offer(target(ctx), fair_proposal(mallory), mandate=alice.mandate_vs.digest)
    return Outcome.passed(
        refuses(
            ctx,
            offer.envelope,
            "MANDATE_VIOLATION",
            what="an offer under someone else's mandate",
            context=alice.setup,
        )
    )


@case(
    "mnd.not-yet-valid", "A statement before its mandate's valid_from is refused MANDATE_VIOLATION", "MND-003"
)
def not_yet_valid(ctx: Context) -> Outcome:
    """Alice's Mandate is valid from tomorrow."""
    now = ctx.clock.now_ms
    return _outside(
        ctx,
        "an offer before its mandate is valid",
        valid_from_ms=now + DAY_MS,
        valid_until_ms=now + 2 * DAY_MS,
    )


@case("mnd.per-deal", "An Offer giving more than max_per_deal is refused MANDATE_VIOLATION", "MND-004")
def per_deal(ctx: Context) -> Outcome:
    """Alice may give 10 per deal; her Offer gives 20."""
    return _outside(ctx, "an offer over max_per_deal", max_per_deal=10)


@case(
    "mnd.counterparty",
    "An Offer to a counterparty the mandate does not allow is refused MANDATE_VIOLATION",
    "MND-005",
)
def counterparty(ctx: Context) -> Outcome:
    """Alice may trade only with Carol; she offers to the target."""
    carol = ctx.party("carol")
    return _outside(ctx, "an offer to a counterparty not allowed", allowed_counterparties=[carol.did])


@case(
    "mnd.category",
    "An Offer with a category the mandate does not allow is refused MANDATE_VIOLATION",
    "MND-006",
)
def category(ctx: Context) -> Outcome:
    """Alice may trade only ``legal-advice``; her Offer is code review for copy editing."""
    return _outside(ctx, "an offer outside the allowed categories", allowed_categories=["legal-advice"])


@case(
    "mnd.currency", "An Offer in another currency than the mandate's is refused MANDATE_VIOLATION", "MND-007"
)
def currency(ctx: Context) -> Outcome:
    """Alice's Mandate is in ``euro``; her Offer's terms are in ``credit``."""
    return _outside(ctx, "an offer in another currency", currency="euro")


@case(
    "mnd.execution-window",
    "An Item due after the mandate's execution window is refused MANDATE_VIOLATION",
    "MND-008",
)
def execution_window(ctx: Context) -> Outcome:
    """Alice's execution window ends in an hour; the Offer's items are due in a day."""
    return _outside(
        ctx, "an item due after the execution window", execution_window_end_ms=ctx.clock.now_ms + 3_600_000
    )


@case("mnd.budget", "A second deal over the period budget is refused MANDATE_VIOLATION", "MND-009", "MND-014")
def budget(ctx: Context) -> Outcome:
    """Alice's budget is 30 per period; her first Offer (giving 20) is accepted, her second is refused."""
    alice = ctx.party("alice", budget_per_period=30, max_outstanding=100_000)
    ctx.send(alice.offer(target(ctx), fair_proposal(alice)), alice.setup, note="first offer: 20 of 30")
    second = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(ctx, second.envelope, "MANDATE_VIOLATION", what="a second offer over the budget")
    )


@case(
    "mnd.outstanding-cap",
    "An Offer that raises exposure over max_outstanding is refused MANDATE_VIOLATION (ratchet cap)",
    "MND-010",
)
def outstanding_cap(ctx: Context) -> Outcome:
    """Alice may have 30 outstanding; her first contract (20) is live, her second Offer (20 more) is
    over the cap."""
    alice = ctx.party("alice", max_outstanding=30)
    ctx.send(alice.offer(target(ctx), fair_proposal(alice)), alice.setup, note="first offer: 20 of 30")
    second = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(ctx, second.envelope, "MANDATE_VIOLATION", what="a second offer over max_outstanding")
    )


@case(
    "mnd.offer-longer-than-period",
    "An Offer that lives longer than the budget period is refused MANDATE_VIOLATION",
    "MND-013",
)
def offer_longer_than_period(ctx: Context) -> Outcome:
    """Alice's budget period is 1 minute; her Offer is valid for 5."""
    return _outside(
        ctx, "an offer living longer than the period", period_ms=60_000, offer_kw={"ttl_ms": 5 * 60_000}
    )


@case(
    "mnd.target-guard",
    "The target does not accept a deal that would make it give more than its mandate allows",
    "MND-011",
    "MND-004",
)
def target_guard(ctx: Context) -> Outcome:
    """Learn the target's Mandate (the first envelope of its answer to an Offer), then offer a deal in
    which the target gives one more than its max_per_deal, for generous pay: its policy guard must not
    sign an Accept (a Reject or a Counter within its mandate passes)."""
    opened = open_negotiation(ctx)
    mandate = _target_mandate(ctx, opened.answers)
    if mandate.max_per_deal == 0 or mandate.max_per_deal > 2**40:
        return Outcome.not_tested(
            f"the target's max_per_deal ({mandate.max_per_deal}) leaves no deal to exceed"
        )
    bob = ctx.party("bob", max_per_deal=2**50, budget_per_period=2**50, max_outstanding=2**50)
    proposal = fair_proposal(
        bob, value=min(2 * mandate.max_per_deal + 2, 2**50), ask=mandate.max_per_deal + 1
    )
    proposal.terms.currency = mandate.currency or "credit"
    answers = ctx.send(
        bob.offer(target(ctx), proposal), bob.setup, note="an offer over the target's max_per_deal"
    )
    if any(a.body == "accept" for a in answers):
        raise CaseFailed(
            f"the target accepted a deal giving {mandate.max_per_deal + 1}, "
            f"over its max_per_deal {mandate.max_per_deal}"
        )
    return Outcome.passed("the target declined: " + ", ".join(a.body for a in answers))


@case(
    "mnd.deadline-past-validity",
    "The target does not accept terms it could not claim under before its Mandate ends",
    "MND-019",
    "MND-011",
)
def deadline_past_validity(ctx: Context) -> Outcome:
    """Learn the target's Mandate, then offer a fair deal whose items fall due at the latest time MND-008
    lets it agree to that is not after its valid_until_ms: the claim window after that deadline ends after
    valid_until_ms, from which on MND-003 refuses every statement it signs under that Mandate -- its
    BreachClaim too -- so its guard must not sign an Accept (a Reject or a Counter passes). Its items
    are of categories of their own (when the target's Mandate allows any), so that the audit's cartel
    screen does not compare the refusal with the fair deals of the same kind the target took. A target
    holding a renewal of its Mandate that covers the claim window may accept (MND-019): the suite sees
    only the Mandate the target answers with, and names that in the failure."""
    opened = open_negotiation(ctx)
    mandate = _target_mandate(ctx, opened.answers)
    due = min(mandate.execution_window_end_ms or mandate.valid_until_ms, mandate.valid_until_ms)
    if due <= ctx.clock.now_ms + DAY_MS:
        return Outcome.not_tested("the target's Mandate ends within a day: no deadline to place before it")
    bob = ctx.party("bob", valid_until_ms=due + 2 * DAY_MS)
    proposal = fair_proposal(bob)
    for item in (*proposal.gives, *proposal.wants):
        item.deadline_ms = due
        if not mandate.allowed_categories:  # a kind of deal of its own: refusing it is no cartel sign
            item.category = f"{item.category}-long-term"
    proposal.terms.currency = mandate.currency or "credit"
    answers = ctx.send(
        bob.offer(target(ctx), proposal), bob.setup, note="an offer due in the target's last claim window"
    )
    if any(a.body == "accept" for a in answers):
        raise CaseFailed(
            f"the target accepted a contract due at {due}, whose claim window ends at "
            f"{due + CLAIM_WINDOW_MS}, after its Mandate's valid_until_ms {mandate.valid_until_ms} "
            "(unless it holds a renewal covering that, which the suite cannot see)"
        )
    return Outcome.passed("the target declined: " + ", ".join(a.body for a in answers))


@case(
    "mnd.untrusted-escrow",
    "The target does not accept terms naming an escrow it was not configured to trust",
    "MND-015",
)
def untrusted_escrow(ctx: Context) -> Outcome:
    """A fair Offer with bonds held by an escrow key the suite made up (Mallory): the target must not
    sign an Accept (its counterparty could control that escrow)."""
    alice, mallory = ctx.party(), ctx.party("mallory")
    proposal = fair_proposal(alice, issuer_bond=10, audience_bond=10, escrow=mallory.did)
    answers = ctx.send(
        alice.offer(target(ctx), proposal), alice.setup, note="an offer naming an unknown escrow"
    )
    if any(a.body == "accept" for a in answers):
        raise CaseFailed("the target accepted a contract whose bonds an unknown escrow holds")
    return Outcome.passed("the target declined: " + ", ".join(a.body for a in answers))


def _target_mandate(ctx: Context, answers: Sequence[object]) -> identity_pb2.Mandate:
    if not ctx.session.info.mandate:
        raise CaseFailed("the target's answer to an Offer did not start with its Mandate (RPC-002)")
    return verify_statement(ctx.session.info.mandate).statement.mandate
