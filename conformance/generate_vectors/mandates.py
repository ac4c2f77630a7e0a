"""Mandate and exposure vectors (SPEC 4 Mandate).

Mandate: the stateless checks of one statement against the mandate it cites (SPEC 4.2, 4.4;
MND-002..008: value caps, counterparties, categories, currency, execution window, validity).
Exposure: the stateful checks over a sequence of offers and accepts (SPEC 4.5; MND-009 budget per
period, MND-010 ratchet cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.bodies import MAX_INT
from a2a_coop.testing import DAY_MS, FixedClock, Signer, service
from conformance.generate_vectors._common import Group, agent_draft, draft_offer, seal, world


def mandate() -> Group:
    g = Group("Mandate", "sparse")

    def offer_under(
        caps: dict[str, Any],
        comment: str,
        reqs: Sequence[str],
        error: str | None,
        *flags: str,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        """Alice offers Bob the default proposal under a mandate with ``caps``; an invalid case's twin
        is the same offer under the mandate with ``fixed`` caps instead (the one cap put right)."""

        def transcript(caps: dict[str, Any]) -> list[bytes]:
            _, alice, bob = world(alice=caps)
            return [*alice.setup, seal(alice.agent.key, draft_offer(alice, bob))]

        g.add(
            comment,
            reqs,
            transcript(caps),
            error,
            *(flags or (("MandateViolation",) if error else ())),
            twin=None if fixed is None else transcript({**caps, **fixed}),
        )

    now = FixedClock().now_ms
    offer_under({"max_per_deal": 500}, "offer gives exactly max_per_deal", ["MND-004"], None, "Boundary")
    offer_under(
        {"max_per_deal": 499},
        "offer gives 1 more than max_per_deal",
        ["MND-004"],
        "MANDATE_VIOLATION",
        fixed={"max_per_deal": 500},
    )
    offer_under(
        {"max_per_deal": 0},
        "max_per_deal = 0 means nothing, not unlimited",
        ["MND-004"],
        "MANDATE_VIOLATION",
        fixed={"max_per_deal": MAX_INT},
    )
    offer_under(
        {"min_per_deal": 501, "max_per_deal": 1000},
        "offer gives less than min_per_deal",
        ["MND-004"],
        "MANDATE_VIOLATION",
        fixed={"min_per_deal": 500},
    )
    offer_under(
        {"allowed_counterparties": [Signer("carol", FixedClock()).did]},
        "audience is not an allowed counterparty",
        ["MND-005"],
        "MANDATE_VIOLATION",
        fixed={"allowed_counterparties": [Signer("bob", FixedClock()).did]},
    )
    offer_under(
        {"allowed_counterparties": [Signer("bob", FixedClock()).did]},
        "audience is the one allowed counterparty",
        ["MND-005"],
        None,
    )
    both = {"allowed_categories": ["code-review", "copy-editing"]}
    offer_under(
        {"allowed_categories": ["translation"]},
        "given item's category not allowed",
        ["MND-006"],
        "MANDATE_VIOLATION",
        fixed=both,
    )
    offer_under(
        {"allowed_categories": ["code-review"]},
        "wanted item's category not allowed (both sides count)",
        ["MND-006"],
        "MANDATE_VIOLATION",
        fixed=both,
    )
    offer_under(
        {"currency": "eur"},
        "terms.currency differs from the mandate's currency",
        ["MND-007"],
        "MANDATE_VIOLATION",
        fixed={"currency": "credit"},
    )
    offer_under(
        {"execution_window_end_ms": now + 3_600_000},
        "an item deadline after the execution window",
        ["MND-008"],
        "MANDATE_VIOLATION",
        fixed={"execution_window_end_ms": now + DAY_MS},
    )
    offer_under(
        {"execution_window_end_ms": now + DAY_MS},
        "item deadlines exactly at the execution window end",
        ["MND-008"],
        None,
        "Boundary",
    )
    offer_under(
        {"valid_from_ms": now + 1, "valid_until_ms": now + DAY_MS},
        "issued 1 ms before the mandate's validity starts",
        ["MND-003"],
        "MANDATE_VIOLATION",
        fixed={"valid_from_ms": now},
    )
    # The execution window reaches the item deadlines (a day out), so that only the validity is wrong:
    # with execution_window_end_ms = 0 the deadlines would also break MND-008 (they must then be before
    # valid_until_ms).
    offer_under(
        {"valid_from_ms": now - DAY_MS, "valid_until_ms": now, "execution_window_end_ms": now + DAY_MS},
        "issued exactly at valid_until_ms (the end is exclusive)",
        ["MND-003"],
        "MANDATE_VIOLATION",
        "MandateViolation",
        "Boundary",
        fixed={"valid_until_ms": now + 1},
    )
    offer_under(
        {"valid_from_ms": now, "valid_until_ms": now + 2 * DAY_MS},
        "issued exactly at valid_from_ms (the start is inclusive)",
        ["MND-003"],
        None,
        "Boundary",
    )

    _clock, alice, bob = world()
    nonce = alice.agent.next_nonce()
    stmt = draft_offer(alice, bob, mandate=bob.mandate_vs.digest, nonce=nonce)
    g.add(
        "Alice's offer cites Bob's mandate (delegated to another agent)",
        ["MND-002"],
        [*alice.setup, *bob.setup, seal(alice.agent.key, stmt)],
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=[*alice.setup, *bob.setup, seal(alice.agent.key, draft_offer(alice, bob, nonce=nonce))],
    )
    offer = alice.offer(bob)
    g.add(
        "the cited mandate is not in the transcript",
        ["MND-002"],
        [offer.envelope],
        "MANDATE_UNKNOWN",
        "UnknownMandate",
        twin=[*alice.setup, offer.envelope],
    )

    def accept_under(cap: int) -> list[bytes]:
        _, alice, bob = world(bob={"max_per_deal": cap})
        offer = alice.offer(bob)
        accept = agent_draft(
            bob,
            "accept",
            trade_pb2.Accept(offer=offer.digest),
            audience=alice.did,
            negotiation_id=offer.header.negotiation_id,
            refs=[offer.digest],
        )
        return [*alice.setup, *bob.setup, offer.envelope, seal(bob.agent.key, accept)]

    g.add(
        "Bob accepts an offer that has him give 450 with max_per_deal 449",
        ["MND-004"],
        accept_under(449),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=accept_under(450),
    )

    def counter_under(cap: int) -> list[bytes]:
        clock, alice, bob = world(bob={"max_per_deal": cap})
        offer = alice.offer(bob)
        counter = bob.proposal(gives=[service("copy-editing", value=900, deadline_ms=clock.now_ms + DAY_MS)])
        c = agent_draft(
            bob,
            "counter",
            trade_pb2.Counter(offer=offer.digest, proposal=counter),
            audience=alice.did,
            negotiation_id=offer.header.negotiation_id,
            refs=[offer.digest],
        )
        return [*alice.setup, *bob.setup, offer.envelope, seal(bob.agent.key, c)]

    g.add(
        "Bob counters giving 900 with max_per_deal 800",
        ["MND-004"],
        counter_under(800),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=counter_under(900),
    )
    return g


def exposure() -> Group:
    g = Group("Exposure", "sparse")

    def three_offers(cap: int) -> tuple[list[bytes], bytes]:
        """Alice's two live offers of 500, then a third (not chained), under max_outstanding ``cap``."""
        _, alice, bob = world(alice={"max_outstanding": cap})
        o1, o2 = alice.offer(bob), alice.offer(bob)
        return [*alice.setup, o1.envelope, o2.envelope], seal(alice.agent.key, draft_offer(alice, bob))

    live, third = three_offers(1200)
    roomy, fits = three_offers(1500)
    g.add(
        "third live offer of 500 with max_outstanding 1200 (ratchet cap)",
        ["MND-010"],
        [*live, third],
        "MANDATE_VIOLATION",
        "Exposure",
        twin=[*roomy, fits],
    )
    _, alice, bob = world(alice={"max_outstanding": 1200})
    o1, o2 = alice.offer(bob), alice.offer(bob)
    w = alice.withdraw(o1)
    o3b = alice.offer(bob)
    g.add(
        "a withdrawn offer no longer counts: third offer fits",
        ["MND-010"],
        [*alice.setup, o1.envelope, o2.envelope, w.envelope, o3b.envelope],
    )
    _clock, alice, bob = world(alice={"max_outstanding": 1000})
    o1, o2 = alice.offer(bob), alice.offer(bob)
    g.add(
        "two live offers of 500 with max_outstanding 1000",
        ["MND-010"],
        [*alice.setup, o1.envelope, o2.envelope],
        None,
        "Boundary",
    )

    def two_accepts(cap: int) -> list[bytes]:
        _, alice, bob = world(bob={"max_outstanding": cap})
        o1, o2 = alice.offer(bob), alice.offer(bob)
        a1 = bob.accept(o1)
        a2 = agent_draft(
            bob,
            "accept",
            trade_pb2.Accept(offer=o2.digest),
            audience=alice.did,
            negotiation_id=o2.header.negotiation_id,
            refs=[o2.digest],
        )
        return [*alice.setup, *bob.setup, o1.envelope, o2.envelope, a1.envelope, seal(bob.agent.key, a2)]

    g.add(
        "Bob accepts two open contracts giving 450 each with max_outstanding 800",
        ["MND-010"],
        two_accepts(800),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=two_accepts(900),
    )

    def budget(per_period: int, *, next_period: bool = False) -> list[bytes]:
        """Two fulfilled contracts of 500, then a third offer of 500, in one budget period (or the next)."""
        clock, alice, bob = world(alice={"budget_per_period": per_period})
        trades: list[bytes] = []
        for _ in range(2):
            offer = alice.offer(bob)
            accept = bob.accept(offer)
            d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
            r1, r2 = bob.receipt(d1), alice.receipt(d2)
            trades += [s.envelope for s in (offer, accept, d1, d2, r1, r2)]
            clock.advance(60_000)
        if next_period:
            clock.advance(30 * DAY_MS)
        return [*alice.setup, *bob.setup, *trades, seal(alice.agent.key, draft_offer(alice, bob))]

    g.add(
        "two fulfilled contracts of 500 and a third offer of 500 in one period with budget 1200",
        ["MND-009"],
        budget(1200),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=budget(1500),
    )
    g.add("the same third offer in the next budget period", ["MND-009"], budget(1200, next_period=True))
    return g
