"""A third attacker's review of the commitment and trust model: each test performs an attack through
the real components (peers with their policy guard, the reference escrow in process, the reputation
view) by choosing a value the protocol lets the attacker choose, and checks what the rules say must
happen. A test marked ``xfail(strict=True)`` is a hole this version still has: the attack succeeds,
and the reason says what would close it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.cli.main import main
from a2a_coop.protocol.envelope import statement_digest
from a2a_coop.protocol.errors import (
    BodyInvalid,
    CoopError,
    IllegalTransition,
    IssuedInFuture,
    RateLimited,
    UnknownNegotiation,
    WrongParty,
)
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, State
from a2a_coop.protocol.reputation import Rating, attestation_due, rate
from a2a_coop.protocol.statements import VerifiedStatement, encode_statement, verify_statement
from a2a_coop.protocol.trust import RatingTable, aggregate
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.reputation import TrustPolicy
from a2a_coop.runtime.strategy import Counter, DeliveryView, HonestStrategy, OfferView
from a2a_coop.runtime.trade import claim_breach, run_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, derive
from conformance.generate_vectors._common import draft_offer, seal

FUNDS, BOND = 1_000, 100


def _market(
    funded: dict[str, int], **peer_kw: Any
) -> tuple[FixedClock, Party, Party, LocalEscrow, Peer, Peer]:
    """Mallory (the attacker) and Bob (honest, the reference strategy), both reference peers, and an
    escrow both trust, holding the funds ``funded`` names (by party name)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    funds = {p.did: funded[p.name] for p in (mallory, bob) if p.name in funded}
    escrow = LocalEscrow(Party("escrow", clock), funds=funds)
    m = make_peer(mallory, clock, context=[escrow.mandate], **peer_kw)
    b = make_peer(bob, clock, context=[escrow.mandate], **peer_kw)
    return clock, mallory, bob, escrow, m, b


# --- 1: a rating of a contract nobody could perform ------------------------------------------------


@pytest.mark.req("ATT-004", "ATT-015", "NEG-012")
def test_a_contract_the_rater_never_bonded_rates_nobody() -> None:
    """Mallory offers Bob a trade with a bond on each side, and never funds hers. Bob's bond is locked,
    Mallory's never is, so nobody may deliver (NEG-012); the contract lapses and Bob's bond is
    refunded. Mallory then attests Bob BREACHED. Before the fix that attestation weighed Bob's bond
    with score 1/2 (a refund floors it there) and pulled a good record down in every view that hears
    Mallory, at no cost to her: Bob's attestation of her weighed 0, she locked nothing. Expect a
    contract that never had every required bond locked to rate nobody, either way."""
    clock, mallory, bob, escrow, m, b = _market({"bob": FUNDS})
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    neg = run_trade(m, b, b.did, proposal, escrow=escrow)
    c = neg.contract
    assert c is not None and set(c.locked) == {bob.did}  # Mallory's bond was never locked
    clock.advance(3 * DAY_MS)  # past every deadline plus the claim window
    lapse = escrow.tick()
    assert [verify_statement(e).body for e in lapse] == ["ruling", "refund"]
    m.hold(lapse)
    b.hold(lapse)
    smear = m.sign(
        "attestation",
        reputation_pb2.Attestation(
            subject=b.did, offer=c.offer.digest, accept=c.id, outcome=reputation_pb2.OUTCOME_BREACHED
        ),
    )
    rating = rate(m.verifier, smear, {escrow.did})
    # Bob's record before: one trusted principal (carol) saw him fulfil a bonded contract.
    carol = Rating(b"carol", "carol", rating.subject, "carol", b.did, 1, 90, BOND, 1.0, clock.now_ms)
    seeds = ["carol", rating.rater]
    before = aggregate(RatingTable.from_ratings([carol]), seeds, clock.now_ms).score(rating.subject)
    after = aggregate(RatingTable.from_ratings([carol, rating]), seeds, clock.now_ms).score(rating.subject)
    assert rating.stake == 0 and rating.note
    assert after.score == before.score
    # The honest side does not attest such a contract either: it would weigh nothing.
    assert attestation_due(b.verifier, b.negotiation(neg.id), b.did) is None


# --- 2: a response window that never ends ------------------------------------------------------------


class WithholdsReceipts(HonestStrategy):
    """Honest in everything but receipts: the contract never reaches FULFILLED, so a claim can come."""

    def rate(self, delivery: DeliveryView) -> int | None:
        return None


class CountersForever(HonestStrategy):
    """Answers every offer with a Counter proposing ``terms`` (a strategy gone wrong, or misled)."""

    def __init__(self, proposal: trade_pb2.Offer) -> None:
        super().__init__()
        self.proposal = proposal

    def respond(self, offer: OfferView) -> Counter:
        return Counter(self.proposal)


FOREVER = 2**53 - 1  # the largest response_window_ms a statement may carry (BDY-015)


def _freeze_offer(mallory: Party, escrow: LocalEscrow) -> trade_pb2.Offer:
    """Mallory bonds nothing, Bob 100, and the escrow may rule on a claim only after FOREVER ms."""
    proposal = mallory.proposal(issuer_bond=0, audience_bond=BOND, escrow=escrow.did)
    proposal.terms.response_window_ms = FOREVER
    return proposal


def _signed_by_hand(mallory: Party, bob: Party, proposal: trade_pb2.Offer) -> tuple[bytes, VerifiedStatement]:
    """Mallory's Offer of ``proposal`` to Bob, signed with no check at all (her own chain would refuse
    terms the body rules refuse), and Bob's Accept of it, signed as another implementation would."""
    stmt = draft_offer(mallory, bob, proposal)
    offer = seal(mallory.agent.key, stmt)
    accept = bob.sign(
        "accept",
        trade_pb2.Accept(offer=statement_digest(encode_statement(stmt))),
        audience=mallory.did,
        negotiation_id=stmt.header.negotiation_id,
    )
    return offer, accept


@pytest.mark.req("CMT-002", "MND-016", "BDY-003")
def test_the_reference_peer_refuses_terms_whose_response_window_would_freeze_its_bond() -> None:
    """Mallory offers terms with Terms.response_window_ms = 2^53 - 1 and no bond of her own. Expect
    Bob's reference peer to refuse the offer BODY_INVALID (BDY-003), whatever its strategy thinks of
    the price, and to refuse to sign such an offer or counter itself."""
    _, mallory, bob, escrow, _, b = _market({"bob": FUNDS})
    offer, _ = _signed_by_hand(mallory, bob, _freeze_offer(mallory, escrow))
    with pytest.raises(BodyInvalid) as refused:
        b.exchange(offer, mallory.setup)
    assert refused.value.requirement == "BDY-003"
    assert not b.verifier.negotiations.by_id
    with pytest.raises(ValueError, match="response_window_ms"):
        b.propose(mallory.did, _freeze_offer(mallory, escrow))
    # Nor does it sign a Counter its own strategy writes with such terms.
    b.strategy = CountersForever(_freeze_offer(mallory, escrow))
    fair = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    answers = [verify_statement(e) for e in b.exchange(mallory.offer(bob, fair).envelope, mallory.setup)]
    assert [vs.body for vs in answers] == ["mandate", "reject"]
    assert "response_window_ms" in answers[1].statement.reject.reason
    b.strategy = HonestStrategy()
    bounded = _freeze_offer(mallory, escrow)
    bounded.terms.response_window_ms = CLAIM_WINDOW_MS  # a day is fine: the accused's bond comes back
    answers = [verify_statement(e) for e in b.exchange(mallory.offer(bob, bounded).envelope)]
    assert [vs.body for vs in answers] == ["mandate", "accept"]


@pytest.mark.req("CMT-002", "BDY-003")
@pytest.mark.parametrize(
    "window", [FOREVER, CLAIM_WINDOW_MS + 1, CLAIM_WINDOW_MS], ids=["2^53-1", "day+1", "day"]
)
def test_a_claim_under_a_never_ending_response_window_freezes_an_honest_bond(window: int) -> None:
    """Bob signs his Accept of Mallory's terms by hand (another implementation, without MND-016), she
    submits the contract for the bonds to be locked, Bob delivers on time and the escrow stamps it;
    Mallory withholds her Receipt and, after the deadline, claims Bob never delivered. Before the fix,
    under a window of 2^53 - 1 ms his bond stayed locked a month on: the escrow may not rule before the
    window ends, and no lapse comes while a claim is pending (CMT-006). Expect terms with a window
    above the claim window refused BODY_INVALID by the escrow (BDY-003), so nothing is locked under
    them; and at the limit, Bob's bond back within days: a timely Delivery defeats the claim."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob.did: FUNDS})
    proposal = _freeze_offer(mallory, escrow)
    proposal.terms.response_window_ms = window
    if window > CLAIM_WINDOW_MS:
        offer, accept = _signed_by_hand(mallory, bob, proposal)
        before = len(escrow.escrow.transcript())
        with pytest.raises(BodyInvalid) as refused:
            escrow.submit([offer])
        assert refused.value.requirement == "BDY-003"
        with pytest.raises(CoopError):  # the parties' Mandates first: nothing valid cites them (ESC-011)
            escrow.submit([*mallory.setup, *bob.setup, offer, accept.envelope])
        assert offer not in escrow.escrow.transcript()[before:]
        assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0), "a bond was locked under such terms"
        return
    m = make_peer(mallory, clock, context=[escrow.mandate], strategy=WithholdsReceipts())
    offer = m.propose(bob.did, proposal)
    accept = bob.accept(offer)
    m.on_replies([*bob.setup, accept.envelope])
    neg = m.negotiation(offer.header.negotiation_id)
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    m.hold(locks)
    assert escrow.get_balance(bob.did)[:2] == (FUNDS - BOND, BOND)  # the attack's premise: Bob's bond locked
    clock.advance(1_000)
    delivery = bob.deliver(accept, mallory)
    escrow.submit([delivery.envelope])  # witnessed on time (WIT-007)
    m.exchange(delivery.envelope)  # Mallory holds it, and withholds her Receipt
    clock.advance(DAY_MS + 1_000)  # past Bob's deadline
    claim = claim_breach(m, neg, 0, "bob never delivered (a lie)")
    stamped = escrow.submit([claim.envelope])
    assert verify_statement(stamped[1]).body == "stamp"
    clock.advance(window + 1)
    escrow.tick()
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0), "Bob's bond is still locked a day on"


@pytest.mark.req("MND-016", "BDY-003")
def test_offer_refuses_a_response_window_longer_than_a_day(capsys: pytest.CaptureFixture[str]) -> None:
    """``a2a-coop offer --response-window 2d`` is a usage error (exit 2, one line), before any key is
    read: such terms are BODY_INVALID (BDY-003)."""
    offer = ["offer", "--key", "k", "--mandate", "m", "--journal", "j", "--to", "x:1", "--escrow", "y:2"]
    assert main([*offer, "--give", "a:1", "--want", "b:1", "--response-window", "2d"]) == 2
    err = capsys.readouterr().err
    assert "--response-window is at most 24h (BDY-003)" in err and "Traceback" not in err


# --- 3: context nobody needs ---------------------------------------------------------------------------


@pytest.mark.req("RPC-015", "RPC-012", "ERR-003")
def test_a_refused_request_cannot_make_a_peer_keep_context_it_never_needed() -> None:
    """Mallory sends Bob a Delivery naming a negotiation he does not know, with 200 Mandates of fresh
    principal keys as its context. Before the fix all 200 were kept and journaled. Expect
    UNKNOWN_NEGOTIATION and none of the 200 kept: Bob has no dealings with any of those keys, and his
    memory must not grow with what strangers send (RPC-015). Carol's offer, sent with her Mandate
    among 50 of them, is answered, and none of those is kept either."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock)
    junk = []
    for i in range(200):
        sybil = Signer(f"sybil/{i}", clock)
        caps = identity_pb2.Mandate(
            agent=sybil.did,
            valid_from_ms=clock.now_ms,
            valid_until_ms=clock.now_ms + DAY_MS,
            currency="credit",
            period_ms=DAY_MS,
        )
        junk.append(sybil.sign("mandate", caps, ttl_ms=DAY_MS))
    request = mallory.sign(
        "delivery",
        commitment_pb2.Delivery(contract=derive("no-such-contract"), item_index=0),
        audience=bob.did,
        negotiation_id=derive("no-such-negotiation", 16),
    )
    with pytest.raises(UnknownNegotiation):
        b.exchange(request.envelope, [*mallory.setup, *(vs.envelope for vs in junk)])
    kept = [vs for vs in junk if vs.digest in b.verifier.statements]
    assert not kept, f"{len(kept)} of {len(junk)} strangers' mandates kept"
    # What a request does depend on is still taken: Carol's offer, with her Mandate among the junk.
    carol = Party("carol", clock)
    answers = b.exchange(carol.offer(bob).envelope, [*(vs.envelope for vs in junk[:50]), *carol.setup])
    assert [verify_statement(e).body for e in answers][:2] == ["mandate", "accept"]
    assert not [vs for vs in junk if vs.digest in b.verifier.statements]


# --- 4: negotiations that never end hold the open caps for good --------------------------------------


class CountersEverything(HonestStrategy):
    """Answers every offer with a Counter (as a trust policy demanding a bond does, ATT-016)."""

    def __init__(self, party: Party) -> None:
        super().__init__()
        self.party = party

    def respond(self, offer: OfferView) -> Counter:
        return Counter(self.party.proposal())


@pytest.mark.req("RPC-014", "RPC-012", "MND-010")
@pytest.mark.parametrize("left", ["contract", "counter"])
def test_fresh_keys_cannot_hold_a_peers_newcomer_slots_for_good(left: str) -> None:
    """Six fresh keys each open one negotiation with Bob (caps: 4 per counterparty, 8 in all, 6 of them
    for newcomers) and leave it where nothing ends it: a zero-value, unbonded contract Bob accepted
    and delivered, which they never perform ("contract"; no escrow, so no lapse ever ends it), or
    Bob's Counter, which they never answer ("counter"; a peer applies no EXPIRE on its own). Before
    the fix every newcomer was refused RATE_LIMITED a year on, for good. Expect the slots back once
    nothing can move those negotiations any more: an offer past its expiry (plus skew), a contract past
    its last deadline plus the claim window (as for exposure, MND-010)."""
    clock = FixedClock()
    bob = Party("bob", clock)
    strategy = CountersEverything(bob) if left == "counter" else HonestStrategy()
    b = make_peer(bob, clock, max_open_per_counterparty=4, max_open_total=8, strategy=strategy)
    for i in range(6):
        sybil = Party(f"sybil/{i}", clock)
        proposal = sybil.proposal()
        for item in (*proposal.gives, *proposal.wants):
            item.value = 0
        answers = [
            verify_statement(e).body for e in b.exchange(sybil.offer(bob, proposal).envelope, sybil.setup)
        ]
        assert answers[:2] == ["mandate", "accept" if left == "contract" else "counter"]
    carol = Party("carol", clock)
    with pytest.raises(RateLimited):  # the caps work: six newcomers' negotiations are open now
        b.exchange(carol.offer(bob).envelope, carol.setup)
    clock.advance(3 * DAY_MS)  # past every offer's expiry and every deadline plus the claim window
    carol_offer = carol.offer(bob)
    answers = [verify_statement(e).body for e in b.exchange(carol_offer.envelope, carol.setup)]
    assert answers[:2] == ["mandate", "accept" if left == "contract" else "counter"]


# --- 5: an escrow's transcript as free storage -------------------------------------------------------


@pytest.mark.req("ESC-011", "ESC-001")
def test_an_escrow_keeps_no_evidence_of_contracts_that_do_not_name_it() -> None:
    """Fifty pairs of fresh keys sign unbonded contracts naming no escrow (or another one) and submit
    them, Mandates first, to Mallory's chosen escrow. Before the fix each was stamped and kept for good.
    Expect every Submit refused WRONG_PARTY and the transcript not to grow: nothing in them is the
    escrow's to witness or rule on. A contract whose escrow a Counter names first is still taken."""
    clock = FixedClock()
    escrow = LocalEscrow(Party("escrow", clock))
    elsewhere = Party("another-escrow", clock).did
    before = len(escrow.escrow.transcript())
    for i in range(50):
        a, b = Party(f"sybil/{i}/a", clock), Party(f"sybil/{i}/b", clock)
        offer = a.offer(b, a.proposal(escrow=elsewhere) if i % 2 else None)
        accept = b.accept(offer)
        with pytest.raises(WrongParty) as refused:
            escrow.submit([*a.setup, *b.setup, offer.envelope, accept.envelope])
        assert refused.value.requirement == "ESC-011"
    grown = len(escrow.escrow.transcript()) - before
    assert grown == 0, f"{grown} statements of contracts that do not name the escrow kept in its transcript"
    # The honest path: Carol's offer names no escrow, Dave's Counter names this one, Carol accepts.
    carol, dave = Party("carol", clock), Party("dave", clock)
    offer = carol.offer(dave)
    counter = dave.counter(offer, dave.proposal(escrow=escrow.did))
    accept = carol.accept(counter)
    taken = escrow.submit([*carol.setup, *dave.setup, offer.envelope, counter.envelope, accept.envelope])
    stamp = verify_statement(taken[1])
    assert stamp.body == "stamp" and len(stamp.statement.stamp.statements) == 5


# --- 6: a contract dated ahead, past the victim's deadline ----------------------------------------


@pytest.mark.req("CMT-011", "NEG-014", "TIM-003", "WIT-003")
@pytest.mark.parametrize("victim", ["responder", "initiator"])
def test_a_statement_dated_ahead_cannot_put_the_victims_deadline_behind_its_contract(victim: str) -> None:
    """Bob's item is due 20 s from now; both bonds are funded and locked at once, before that deadline
    (so CMT-009 allows a claim). Mallory dates her statement that forms the contract 29 s ahead -- her
    Offer, which Bob answers ("responder"), or her Accept of Bob's offer ("initiator") -- which the
    skew allows (TIM-003). Nothing of Bob's may be dated before the Accept (NEG-014), so his Delivery,
    made at once, is dated after his deadline: late by its own time (WIT-003), whatever witnessed it.
    Before the fix Mallory's claim was upheld and Bob's bond forfeited to her. Expect the claim
    refused (CMT-011): nobody is blamed for a deadline that passed before its contract existed."""
    clock, mallory, bob, escrow, _, b = _market({"bob": FUNDS, "mallory": FUNDS})
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + 20_000  # Bob's item, due in 20 s
    ahead = clock.now_ms + 29_000
    if victim == "responder":
        offer = mallory.offer(bob, proposal, issued_at_ms=ahead)
        answers = b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])
        accept = verify_statement(answers[1])
        assert accept.body == "accept" and accept.header.issued_at_ms >= ahead  # NEG-014: after the offer
    else:  # Bob offers the same trade, from his side: his item is what he gives
        mine = trade_pb2.Offer(gives=proposal.wants, wants=proposal.gives, terms=proposal.terms)
        offer = b.propose(mallory.did, mine)
        accept = mallory.accept(offer, issued_at_ms=ahead)
        b.on_replies([*mallory.setup, accept.envelope])
    neg = b.negotiation(offer.header.negotiation_id)
    c = neg.contract
    assert c is not None
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    assert [verify_statement(e).body for e in locks[1:]] == ["stamp", "bond_lock", "bond_lock"]
    b.hold(locks)
    deliveries = [vs for vs in b._perform(neg)]  # Bob delivers at once, as his strategy says
    assert deliveries and deliveries[0].header.issued_at_ms > clock.now_ms + 20_000  # dated after it
    escrow.submit([d.envelope for d in deliveries])  # witnessed at once (WIT-007)
    clock.advance(31_000)  # past Bob's deadline (and Mallory's Accept's time)
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=c.id, item_index=0, reason="late (by a clock I chose)"),
        audience=bob.did,
        negotiation_id=neg.id,
    )
    with pytest.raises(IllegalTransition) as refused:
        escrow.submit([claim.envelope])
    assert refused.value.requirement == "CMT-011"
    clock.advance(3 * DAY_MS)  # past every deadline plus the claim window: the contract lapses
    escrow.tick()
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0)  # Bob's bond is his again


@pytest.mark.req("TIM-009", "CMT-011", "CHN-005", "WIT-003")
def test_a_second_statement_dated_ahead_cannot_push_a_delivery_past_its_deadline() -> None:
    """As above, but Bob's item is due 1 ms after the contract's Accept (20 s ahead), which CMT-011
    allows. Before Bob's locks arrive, a fresh key of Mallory's sends Bob an unbonded offer dated
    29.9 s ahead, which he accepts: his chain's time is now 29.9 s ahead, and every Delivery he signs
    next is dated at least that late -- after his deadline. Expect Bob's bond safe: he delivered the
    moment he could. Closed: Bob refuses the pacer's offer ISSUED_IN_FUTURE while he owes the item
    (TIM-009), and takes it once he has delivered."""
    clock, mallory, bob, escrow, _, b = _market({"bob": FUNDS, "mallory": FUNDS})
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.wants[0].deadline_ms = clock.now_ms + 20_001  # Bob's item: 1 ms after the contract
    offer = mallory.offer(bob, proposal, issued_at_ms=clock.now_ms + 20_000)
    accept = verify_statement(b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])[1])
    assert accept.header.issued_at_ms == clock.now_ms + 20_000
    pacer = Party("mallory-pacer", clock)
    paced = pacer.offer(bob, issued_at_ms=clock.now_ms + 29_900)
    with pytest.raises(IssuedInFuture) as refused:
        b.exchange(paced.envelope, pacer.setup)
    assert refused.value.requirement == "TIM-009"
    assert 0 < refused.value.retry_after_ms <= 20_002  # once his item is due, at the latest
    neg = b.negotiation(offer.header.negotiation_id)
    c = neg.contract
    assert c is not None
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    b.hold(locks)
    deliveries = b._perform(neg)
    assert [d.issued_at_ms for d in deliveries] == [accept.header.issued_at_ms]  # on time by its date
    escrow.submit([d.envelope for d in deliveries])
    assert any(vs.body == "accept" for vs in map(verify_statement, b.exchange(paced.envelope, pacer.setup)))
    clock.advance(31_000)
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=c.id, item_index=0, reason="late (by a clock I chose)"),
        audience=bob.did,
        negotiation_id=neg.id,
    )
    with contextlib.suppress(CoopError):
        escrow.submit([claim.envelope])
    clock.advance(3 * DAY_MS)
    escrow.tick()
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0), "Bob's bond was forfeited"


# --- 7: a record built on pennies ------------------------------------------------------------------


@pytest.mark.req("ATT-010", "ATT-016")
def test_a_record_built_on_one_credit_bonds_does_not_buy_an_unbonded_deal() -> None:
    """Five trusted principals each fulfilled one contract with Lucy at a bond of 1 credit, and one with
    Hank at 10,000. A peer whose policy demands a bond of 5,000 from anyone scoring below 0.7 is offered
    a 10,000-credit unbonded deal by each. Expect Lucy to be asked for the bond: nothing she put at
    risk so far is worth a tenth of the deal. Closed: the policy demands a bond unless the record's
    vouched stake covers what the peer gives (ATT-016)."""
    now = 1_800_000_000_000
    raters = [f"rater{i}" for i in range(5)]
    rows = [
        Rating(f"{who}/{r}".encode(), r, who, r, who, 1, 90, stake, 1.0, now)
        for who, stake in (("lucy", 1), ("hank", 10_000))
        for r in raters
    ]
    view = aggregate(RatingTable.from_ratings(rows), raters, now)
    policy = TrustPolicy(bond_below=0.7, min_bond=5_000)
    assert policy.required_bond(view.score("hank"), 10_000) == 0  # Hank earned it
    assert view.score("lucy").score == view.score("hank").score  # ... and so, by score, did Lucy
    assert policy.required_bond(view.score("lucy"), 10_000) >= 5_000
    assert policy.required_bond(view.score("lucy"), 4) == 0  # her record covers deals of its size


# --- 8: a revoke that leaves the victim owing, and not delivering ------------------------------------


@pytest.mark.req("CMT-003", "CMT-005", "WIT-005")
def test_a_revoke_relayed_with_the_locks_does_not_stop_the_victim_from_delivering_what_it_still_owes() -> (
    None
):
    """Mallory offers revocable terms (no forfeit, a notice of two days) and Bob accepts. She has the
    escrow lock both bonds, revokes at once, and relays the Revoke with its Stamp and the locks in one
    Exchange. Bob's item, due in a day, falls inside the notice: it is still owed (CMT-003), and a
    missed one is claimable in REVOKED. Before the fix Bob's peer delivered only in BONDED, PERFORMING
    and DISPUTED, so it never delivered; after his deadline Mallory's claim was upheld and his bond
    forfeited to her. Expect Bob to deliver what he still owes at once, and the claim dismissed."""
    clock, mallory, bob, escrow, _, b = _market({"bob": FUNDS, "mallory": FUNDS})
    proposal = mallory.proposal(
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=False, notice_ms=2 * DAY_MS),
    )
    offer = mallory.offer(bob, proposal)
    accept = verify_statement(b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])[1])
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])[1:]
    revoke = mallory.revoke(accept, bob, "changed my mind")
    stamp = escrow.submit([revoke.envelope])[1]
    answers = b.exchange(locks[-1], [escrow.mandate, revoke.envelope, stamp, *locks[:-1]])
    neg = b.negotiation(offer.header.negotiation_id)
    assert neg.state is State.REVOKED
    deliveries = [e for e in answers if verify_statement(e).body == "delivery"]
    escrow.submit(deliveries)  # Bob's witness (WIT-007)
    clock.advance(DAY_MS + 1_000)  # past Bob's deadline, inside the notice
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never came"),
        audience=bob.did,
        negotiation_id=neg.id,
    )
    escrow.submit([claim.envelope])
    clock.advance(3 * DAY_MS)
    escrow.tick()
    assert deliveries, "Bob delivered nothing he still owed"
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0)  # his bond released, not forfeited
