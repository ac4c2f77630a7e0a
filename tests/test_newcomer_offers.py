"""The budget of newcomers' negotiations (SPEC RPC-017, a2a_coop.runtime.strangers.NewcomerOffers).

Fresh keys whose opening Offers a peer rejects each left three rows in its journal -- their Mandate, the
Offer, the peer's signed Reject -- without bound: each negotiation ends at once, so RPC-012's caps on
negotiations not ended never counted it, and RPC-016's newcomer quota does not count an Offer addressed
to the peer. A peer now takes only so many opening Offers of issuers outside its dealings per period of
its own clock, however each ends; a counterparty in its dealings is never counted, and a quarter is kept
for newcomers whose principal it deals with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strangers import (
    DEFAULT_NEWCOMER_OFFERS,
    META_NEWCOMER_OFFERS,
    STRANGER_PERIOD_MS,
    NewcomerOffers,
)
from a2a_coop.testing import DAY_MS, FixedClock, Party, service

pytestmark = pytest.mark.req("RPC-017")


def _low(p: Party, to: Party) -> VerifiedStatement:
    """An Offer from ``p`` to ``to`` that an honest peer rejects (it gives almost nothing)."""
    return p.offer(to, p.proposal(gives=[service("x", value=1, deadline_ms=p.clock.now_ms + DAY_MS)]))


def _bodies(answers: Sequence[bytes]) -> list[str]:
    return [verify_statement(a).body for a in answers]


def _rows(journal: Journal) -> int:
    return sum(1 for _ in journal.statements())


def _flood(b: Peer, clock: FixedClock, n: int, *, first: int = 0) -> list[RateLimited]:
    to = Party("bob", clock)
    """``n`` fresh keys each send ``b`` an opening Offer it rejects, their Mandate as context; the
    refusals."""
    refused = []
    for i in range(first, first + n):
        m = Party(f"mallory{i}", clock)
        try:
            assert _bodies(b.exchange(_low(m, to).envelope, m.setup)) == ["mandate", "reject"]
        except RateLimited as err:
            refused.append(err)
    return refused


def test_a_flood_of_fresh_keys_rejected_offers_is_bounded(tmp_path: Path) -> None:
    """Fifty fresh keys each open a negotiation Bob rejects: without the budget all fifty were taken,
    three journal rows apiece (150). With 8 an hour, three quarters of them for any newcomer, the first 6
    are taken and rejected; the rest are refused ``RATE_LIMITED`` before anything is signed or journaled,
    retry at the next window, which takes newcomers again."""
    clock = FixedClock()
    bob = Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal, newcomer_offers=NewcomerOffers(per_period=8))
        start = _rows(journal)
        refused = _flood(b, clock, 50)
        assert _rows(journal) - start == 6 * 3  # Mandate, Offer, Reject of six keys
        assert len(refused) == 44
        window_end = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS
        hints = {(e.requirement, e.retry_after_ms) for e in refused}
        assert hints == {("RPC-017", window_end - clock.now_ms)}
        assert b.writer.next_seq == 6  # nothing signed for the refused ones (6 Rejects)
        clock.now_ms = window_end
        assert _flood(b, clock, 7, first=50) and _rows(journal) - start == 12 * 3


@pytest.mark.parametrize(("per_period", "taken"), [(1, 1), (2, 1), (3, 2), (4, 3)])
def test_a_budget_of_a_few_offers_takes_at_least_one(per_period: int, taken: int) -> None:
    """`serve --newcomer-offers 1`: three quarters of 1 rounded down to 0, and no newcomer's Offer was
    ever taken. The open part is at least one Offer (a budget that small keeps no reserve)."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, newcomer_offers=NewcomerOffers(per_period=per_period))
    refused = _flood(b, clock, 5)
    assert len(refused) == 5 - taken


def test_a_total_of_one_open_negotiation_takes_a_newcomers() -> None:
    """RPC-012's total cap of 1 (``Peer(max_open_total=1)``): its newcomer share rounded down to 0 and
    refused every counterparty never settled with; at least one is taken, then the cap holds."""
    clock = FixedClock()
    bob = Party("bob", clock)
    b = make_peer(bob, clock, max_open_total=1)
    carol, dave = Party("carol", clock), Party("dave", clock)
    assert _bodies(b.exchange(carol.offer(bob).envelope, carol.setup))[:2] == ["mandate", "accept"]
    with pytest.raises(RateLimited):
        b.exchange(dave.offer(bob).envelope, dave.setup)


def test_offers_we_counter_count_too_and_free_nothing_when_they_expire() -> None:
    """An opening Offer Bob counters counts as one he rejects: the newcomer's negotiation expires unanswered
    (RPC-014 frees its open slot) and leaves its rows; the budget still holds what it counted, and the
    issuer of a negotiation gone dormant is a newcomer again."""
    clock = FixedClock()
    bob = Party("bob", clock)
    from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView

    class Counters(HonestStrategy):
        def respond(self, offer: OfferView) -> Counter:  # type: ignore[override]
            p = bob.proposal()
            return Counter(p)

    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a window
    b = make_peer(bob, clock, strategy=Counters(), newcomer_offers=NewcomerOffers(per_period=4))
    offers, parties = [], []
    for i in range(3):
        m = Party(f"mallory{i}", clock)
        parties.append(m)
        offers.append(m.offer(bob, m.proposal(), ttl_ms=60_000))
        assert _bodies(b.exchange(offers[-1].envelope, m.setup)) == ["mandate", "counter"]
    clock.advance(30 * 60_000)  # past every expiry and the skew: nothing of those is open any more
    m = Party("mallory9", clock)
    with pytest.raises(RateLimited):
        b.exchange(m.offer(bob, m.proposal()).envelope, m.setup)
    # Nor does a dormant negotiation keep its issuer in Bob's dealings: its next Offer counts, refused.
    again = parties[0]
    with pytest.raises(RateLimited):
        b.exchange(again.offer(bob, again.proposal()).envelope)
    assert not any(b.deals_with(o.issuer) for o in offers)


def test_a_counterparty_with_dealings_is_not_counted_and_a_vouched_newcomer_has_a_reserve() -> None:
    """Strangers used Bob's newcomer share up. Alice, who holds a contract with Bob, opens more
    negotiations, uncounted (and rejected ones too); so does Carol while a negotiation of hers is open.
    Dan, new to Bob but under a Mandate of Alice's principal (a key in Bob's dealings), gets in from the
    quarter kept for such newcomers, where a fresh principal's key is refused."""
    clock = FixedClock()
    bob = Party("bob", clock)
    alice, carol = Party("alice", clock), Party("carol", clock)
    b = make_peer(bob, clock, newcomer_offers=NewcomerOffers(per_period=8))
    assert _bodies(b.exchange(alice.offer(bob, alice.proposal()).envelope, alice.setup))[1] == "accept"
    assert _bodies(b.exchange(carol.offer(bob, alice.proposal()).envelope, carol.setup))[1] == "accept"
    assert len(_flood(b, clock, 10)) == 6  # 6 of 8 for any newcomer: alice, carol and four strangers
    for _ in range(3):
        assert _bodies(b.exchange(alice.offer(bob, alice.proposal()).envelope))[1] == "accept"
        assert _bodies(b.exchange(_low(alice, bob).envelope))[1] == "reject"
        assert _bodies(b.exchange(_low(carol, bob).envelope))[1] == "reject"
    dan = Party("dan", clock)
    caps = identity_pb2.Mandate()
    caps.CopyFrom(dan.mandate_vs.statement.mandate)
    dan.mandate_vs = alice.principal.sign("mandate", caps, ttl_ms=DAY_MS)
    dan.setup = [dan.mandate_vs.envelope]
    assert _bodies(b.exchange(_low(dan, bob).envelope, dan.setup))[1] == "reject"
    assert len(_flood(b, clock, 1, first=100)) == 1
    assert b._newcomers is not None and b._newcomers.count == 7


def test_the_count_survives_a_restart(tmp_path: Path) -> None:
    """The window's count is journaled with what it counted: Bob started again on his journal in the same
    window refuses as before (a crash grants no second budget)."""
    clock = FixedClock()
    bob = Party("bob", clock)
    budget = NewcomerOffers(per_period=4)
    with Journal.open(tmp_path / "bob.db") as journal:
        assert len(_flood(make_peer(bob, clock, journal=journal, newcomer_offers=budget), clock, 4)) == 1
        assert journal.get_meta(META_NEWCOMER_OFFERS) == [clock.now_ms // STRANGER_PERIOD_MS, 3]
    with Journal.open(tmp_path / "bob.db") as journal:
        # Random nonces: the Reject it signs in the next window must not reuse one of its first run's.
        again = Peer(
            bob.agent.key,
            bob.mandate_vs.envelope,
            clock=lambda: clock.now_ms,
            journal=journal,
            newcomer_offers=budget,
        )
        assert len(_flood(again, clock, 1, first=10)) == 1
        clock.now_ms = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS
        assert not _flood(again, clock, 1, first=11)


def test_a_served_peer_has_the_budget_unless_told_otherwise(tmp_path: Path) -> None:
    """A PeerNode sets the default budget on a peer that has none; `--newcomer-offers 0` (a budget of
    zero) stays off."""
    clock = FixedClock()
    with Journal.open(tmp_path / "a.db") as journal:
        node = PeerNode(make_peer(Party("a", clock), clock, journal=journal), journal)
        budget = node.peer.newcomer_offers
        assert budget is not None and budget.per_period == DEFAULT_NEWCOMER_OFFERS
    with Journal.open(tmp_path / "b.db") as journal:
        off = NewcomerOffers(per_period=0)
        node = PeerNode(make_peer(Party("bob", clock), clock, journal=journal, newcomer_offers=off), journal)
        assert node.peer.newcomer_offers == off and not _flood(node.peer, clock, 5)


def test_serve_takes_the_budget_from_its_options(tmp_path: Path) -> None:
    """`a2a-coop serve --newcomer-offers 4`: three fresh keys' Offers are answered, the fourth refused
    RATE_LIMITED over the wire with the retry hint (RPC-012's ErrorInfo metadata)."""
    import time
    from types import SimpleNamespace

    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
    from a2a_coop.transport import CooperationClient

    who = provision(tmp_path, "bob")
    server = start_server("bob", ["serve", "--newcomer-offers", "4", *who.files()], tmp_path / "bob.log")
    try:
        listening = wait_listening(server)
        clock = FixedClock()
        clock.now_ms = int(time.time() * 1000)
        bob = SimpleNamespace(did=listening.did)
        with CooperationClient(listening.target) as client:
            for i in range(3):
                m = Party(f"mallory{i}", clock)
                assert client.exchange(m.offer(bob, m.proposal()).envelope, m.setup)  # type: ignore[arg-type]
            m = Party("mallory3", clock)
            with pytest.raises(RateLimited) as refused:
                client.exchange(m.offer(bob, m.proposal()).envelope, m.setup)  # type: ignore[arg-type]
        assert refused.value.requirement == "RPC-017"
        assert 0 < refused.value.retry_after_ms <= STRANGER_PERIOD_MS
    finally:
        stop_process(server.popen)


def test_an_open_negotiation_does_not_let_its_counterparty_vouch_for_newcomers() -> None:
    """Bob counters Mallory's opening Offer (one of the three newcomer Offers any newcomer may fill of a
    budget of 4). While that negotiation is open, Mallory's key issues Mandates for fresh agents: their
    Offers should count against the newcomer share, refused at 3, not draw on the reserve."""
    from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView

    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a window
    bob = Party("bob", clock)

    class Counters(HonestStrategy):
        def respond(self, offer: OfferView) -> Counter:  # type: ignore[override]
            return Counter(bob.proposal())

    b = make_peer(bob, clock, strategy=Counters(), newcomer_offers=NewcomerOffers(per_period=4))
    mallory = Party("mallory", clock)
    b.exchange(mallory.offer(bob, mallory.proposal(), ttl_ms=600_000).envelope, mallory.setup)
    taken = 1
    for i in range(3):
        agent = Party(f"mallory-agent{i}", clock)
        caps = identity_pb2.Mandate(
            agent=agent.did,
            valid_from_ms=clock.now_ms - DAY_MS,
            valid_until_ms=clock.now_ms + DAY_MS,
            currency="credit",
            max_per_deal=10_000,
            budget_per_period=100_000,
            period_ms=30 * DAY_MS,
            max_outstanding=50_000,
        )
        agent.mandate_vs = mallory.agent.sign("mandate", caps, ttl_ms=DAY_MS)  # Mallory's key vouches
        agent.setup = [agent.mandate_vs.envelope]
        try:
            b.exchange(agent.offer(bob, agent.proposal()).envelope, agent.setup)
            taken += 1
        except RateLimited:
            break
    assert taken == 3  # the newcomer share of 4; the reserve's one Offer left for a vouched newcomer
