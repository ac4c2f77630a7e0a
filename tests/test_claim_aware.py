"""The claim-aware reference agent: it reads the claims its counterparties sign, so a lie in a claim
changes an outcome, and conformance.claims_eval can measure what the lie earns in each world."""

from __future__ import annotations

import pytest

import reference_agents
from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import Accept, ContractView, Counter, OfferView
from conformance import claims_eval
from reference_agents import sim
from reference_agents.cooperative import ClaimAware

THEM = "did:key:them"
EXAGGERATOR = "exaggerator (claims 1.35, true 0.9)"
TWIN = "  its twin (claims 0.9, true 0.9)"
NASH = "nash (reads no claim)"


def _offer(
    gives: int = 500,
    wants: int = 500,
    *,
    reservation: int | None = None,
    holding: bool = False,
    bond: int = 0,
    round_: int = 2,
    nid: bytes = b"n1",
) -> OfferView:
    p = trade_pb2.Offer()
    p.gives.add(category="work", quantity=1, value=gives)
    p.wants.add(category="work", quantity=1, value=wants)
    if bond:
        p.terms.escrow, p.terms.issuer_bond = "did:key:escrow", bond
    if reservation is not None:
        p.claims.add(
            kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE, subject="ratio-permille", amount=reservation
        )
    if holding:
        p.claims.add(kind=trade_pb2.CLAIM_KIND_HOLDING, subject="work", amount=1)
    return OfferView(nid, THEM, p, round_, 0)


def _contract(they_get: int, they_give: int, nid: bytes = b"n1") -> ContractView:
    mine = [trade_pb2.Item(category="work", quantity=1, value=they_get)]
    theirs = [trade_pb2.Item(category="work", quantity=1, value=they_give)]
    return ContractView(nid, b"c-" + nid, THEM, mine, theirs, frozenset(), "ACCEPTED")


def _asked(reply: object) -> float:
    """The ratio a counter asks for us (what they give over what we give)."""
    assert isinstance(reply, Counter)
    p = reply.proposal
    return sum(i.value for i in p.wants) / sum(i.value for i in p.gives)


def test_it_concedes_toward_a_claimed_reservation_and_not_without_one() -> None:
    """Asked 1.5x by a counterparty claiming a floor of 1.35, it counters at the Nash point over the
    claimed zone, sqrt(0.7 / 1.35) = 0.72; the same ask with no claim draws a counter at even (1.0)."""
    agent = ClaimAware(verify=False)
    claimed = _asked(agent.respond(_offer(gives=500, wants=750, reservation=1350, holding=True)))
    bare = _asked(agent.respond(_offer(gives=500, wants=750, holding=True)))
    assert claimed == pytest.approx((0.7 / 1.35) ** 0.5, abs=0.01)
    assert bare == pytest.approx(1.0, abs=0.01)
    # A claim at or below its own reserve leaves it an even split; a claim leaving it less than its
    # reserve draws its reserve.
    assert agent.aim(_offer(reservation=600)) == 1.0
    assert agent.aim(_offer(reservation=2000)) == 0.7


def test_in_cheap_talk_a_holding_claim_buys_a_better_price_and_in_the_verifiable_world_only_a_bond_does() -> (
    None
):
    """Asked to give 550 for 500, it counters (its first counter asks the whole discount): an even
    trade for a claimed holding, 1 / prior (0.9) for a bare one. In the verifiable world a bare
    holding claim (no escrow deposit) counts for nothing; a bond does."""
    cheap, verifiable = ClaimAware(verify=False), ClaimAware(verify=True)
    dear_claimed, dear_bare = _offer(wants=550, holding=True), _offer(wants=550)
    assert _asked(cheap.respond(dear_claimed)) == pytest.approx(1.0, abs=0.01)
    assert _asked(cheap.respond(dear_bare)) == pytest.approx(1 / 0.9, abs=0.01)  # the prior 0.9
    assert _asked(verifiable.respond(dear_claimed)) == pytest.approx(1 / 0.9, abs=0.01)
    assert _asked(verifiable.respond(_offer(wants=550, bond=550))) == pytest.approx(1.0, abs=0.01)
    assert verifiable.credence(_offer(bond=250)) == pytest.approx(0.95)
    # Its floor counts the claim too: it never gives a ratio it counts below its reserve 0.7.
    assert _asked(cheap.respond(_offer(gives=300, wants=500, reservation=5000, holding=True))) == (
        pytest.approx(0.7, abs=0.01)
    )
    assert _asked(cheap.respond(_offer(gives=300, wants=500, reservation=5000))) == pytest.approx(
        0.7 / 0.9, abs=0.01
    )


def test_it_discounts_only_the_risk_beyond_the_one_its_own_side_carries() -> None:
    """The discount prices the chance the counterparty does not deliver. Where what it gives is as
    unbacked for the counterparty (cheap talk: it signs no HOLDING claim; verifiable: its own bond,
    ``audience_bond``, covers as much), the even trade is the Nash point of the risk-adjusted problem
    and it accepts it; it pays no premium for its own unbacked side (an even trade with only its
    side unbacked is accepted, not one asking more), and it still counts the counterparty's excess."""
    cheap, verifiable = ClaimAware(verify=False), ClaimAware(verify=True)
    for agent, even in ((cheap, _offer()), (cheap, _offer(holding=True)), (verifiable, _offer())):
        assert isinstance(agent.respond(even), Accept)
    assert cheap.exposure(_offer()) == pytest.approx(0.9) and cheap.net_credence(_offer()) == 1.0
    assert not isinstance(cheap.respond(_offer(wants=550, holding=True)), Accept)  # no premium paid
    # Verifiable: its bond covers its side, theirs half of theirs: it counts them at 0.95.
    half = _offer(bond=250)
    half.proposal.terms.audience_bond = 500
    assert verifiable.net_credence(half) == pytest.approx(0.95)
    assert _asked(verifiable.respond(half)) == pytest.approx(1 / 0.95, abs=0.01)
    half.proposal.terms.audience_bond = 250  # both half bonded: symmetric again
    assert verifiable.net_credence(half) == 1.0 and isinstance(verifiable.respond(half), Accept)


def test_the_relief_stops_at_the_even_split_so_a_claimed_floor_is_paid_no_more_than_before() -> None:
    """A liar that opens asking 1.39 with a reservation claim of 1.35 (the reader's aim 0.72, unbacked:
    it counts 0.65) is countered at 0.72 / 0.9 = 0.8 in cheap talk, at every round, as before the
    relief: the net credence (1 here) only ever makes acceptable an offer at least even net of risk."""
    cheap = ClaimAware(verify=False)
    for round_ in (1, 2, 5):
        ask = _offer(gives=500, wants=694, reservation=1350, round_=round_, nid=b"n%d" % round_)
        assert cheap.net_credence(ask) == 1.0
        assert _asked(cheap.respond(ask)) == pytest.approx(0.8, abs=0.01)
    # A counter of at most even, from a side as unbacked, it accepts; one a hair over even it does not
    # (its tolerance aside).
    assert isinstance(cheap.respond(_offer(gives=500, wants=505, round_=3)), Accept)
    assert _asked(cheap.respond(_offer(gives=500, wants=530, round_=3))) == pytest.approx(1.0, abs=0.01)


def _haggle(a: ClaimAware, b: ClaimAware, opening: trade_pb2.Offer) -> tuple[str, int]:
    """``a`` offers ``opening`` to ``b``; they answer each other's counters until one accepts or rejects."""
    proposal, responder, other = opening, b, a
    for round_ in range(1, 20):
        reply = responder.respond(OfferView(b"h", THEM, proposal, round_, 0))
        if not isinstance(reply, Counter):
            return type(reply).__name__, round_
        proposal, responder, other = reply.proposal, other, responder
    raise AssertionError("no end in 20 rounds")


@pytest.mark.parametrize("verify", [False, True])
def test_two_readers_agree_on_an_even_trade_and_converge_from_an_uneven_opening(verify: bool) -> None:
    """Self-play (issue 13, item 4). In cheap talk nothing is backed: two readers each counted the
    other's unbacked item at 0.9 and countered at 1.11, and never agreed (the pair game formed no
    contract). Now an even opening is accepted at once; an uneven one (asking 1.2) draws one counter
    at the whole discount from each, then the risk-adjusted point, accepted by round 4 of 8."""
    game = sim.PairGame(
        "verifiable" if verify else "cheap-talk", "claim-aware", "claim-aware", seed=0, rounds=2
    )
    assert game.play() == [2.0, 2.0] and game.trades == 4
    assert _haggle(ClaimAware(verify=verify), ClaimAware(verify=verify), _offer().proposal) == ("Accept", 1)
    dear = _offer(gives=500, wants=600).proposal
    state, round_ = _haggle(ClaimAware(verify=verify), ClaimAware(verify=verify), dear)
    assert state == "Accept" and round_ <= 4


def test_a_counterparty_that_agrees_below_its_own_claimed_floor_is_believed_no_more() -> None:
    """It claimed 1.35 in negotiation n1, then agreed to a contract giving it 1.1: with ``verify`` the
    agent records the contradiction and reads none of its claims after; in cheap talk it does not."""
    for verify in (True, False):
        agent = ClaimAware(verify=verify)
        agent.respond(_offer(gives=500, wants=750, reservation=1350))
        list(agent.perform(_contract(they_get=550, they_give=500)))
        later = _offer(gives=500, wants=750, reservation=1350, nid=b"n2")
        assert agent.believes(THEM) is not verify
        assert agent.aim(later) == (1.0 if verify else pytest.approx(0.72, abs=0.01))
        assert [d.claimed for d in agent.disbelieved] == ([1350] if verify else [])
    # A contract at or above the claim contradicts nothing.
    agent = ClaimAware()
    agent.respond(_offer(gives=500, wants=750, reservation=1350))
    list(agent.perform(_contract(they_get=700, they_give=500)))
    assert agent.believes(THEM) and not agent.disbelieved


def test_it_is_listed_buildable_and_opt_in_to_the_simulation() -> None:
    info = reference_agents.AGENTS["claim-aware"]
    assert info.kind == "cooperative" and not info.deceptive
    agent = reference_agents.build("claim-aware", verify="false", reserve="0.8")
    assert isinstance(agent, ClaimAware) and not agent.verify and agent.reserve == 0.8
    assert "disbelieved" not in info.defaults
    # Not in the default population (its output hash predates the agent), hosted on request.
    assert "claim-aware" not in sim.SIM_TYPES and "claim-aware" not in sim.TABLE_TYPES
    sim.check("verifiable", ["honest", "claim-aware"])
    sim.check("cheap-talk", ["claim-aware"], sim.TABLE_HOSTED)
    # The simulator runs it as its world's reader: checking claims only where they are signed.
    game = sim.PairGame("cheap-talk", "honest", "claim-aware", seed=0, rounds=1)
    strategy = game.agents[1].peer.strategy
    assert isinstance(strategy, ClaimAware) and not strategy.verify


def test_an_exaggerators_lie_earns_against_the_reader_in_both_worlds_and_nothing_against_nash() -> None:
    """The figures of SPEC 19.5 (one seed, two rounds: the same per-trade payoffs as the default run).
    Against the claim-aware agent the exaggerator out-earns its truthful twin in cheap talk AND in the
    verifiable world: a believer never offers below the claimed floor, so the liar never signs the
    contradiction the audit proves. Against nash, which reads no claim, the lie earns nothing in cheap
    talk; in the verifiable world nash's even counter makes the liar accept below its claim, and the
    audit ends the trade."""
    for world in claims_eval.WORLDS:
        liar = claims_eval.play(world, EXAGGERATOR, "claim-aware", 1, 2)
        twin = claims_eval.play(world, TWIN, "claim-aware", 1, 2)
        assert liar.subject > twin.subject + 0.1 and liar.opponent < twin.opponent
        assert liar.disbelieved == 0
    cheap_liar = claims_eval.play("cheap-talk", EXAGGERATOR, NASH, 1, 2)
    assert cheap_liar == claims_eval.play("cheap-talk", TWIN, NASH, 1, 2)
    caught = claims_eval.play("verifiable", EXAGGERATOR, NASH, 1, 2)
    assert caught.subject < claims_eval.play("verifiable", TWIN, NASH, 1, 2).subject


def test_a_reader_whose_floor_is_above_what_the_claim_leaves_it_proves_the_lie_in_the_verifiable_world() -> (
    None
):
    """With reserve 0.9 the claim of 1.35 leaves it less than its floor: it offers its floor, the
    exaggerator accepts (below its claim), and in the verifiable world that contradiction is signed:
    it stops believing, the audit ends the trade, and the liar earns less than its twin."""
    liar = claims_eval.play("verifiable", EXAGGERATOR, "claim-aware reserve 0.9", 1, 2)
    twin = claims_eval.play("verifiable", TWIN, "claim-aware reserve 0.9", 1, 2)
    assert liar.disbelieved == 1 and liar.subject < twin.subject
    cheap = claims_eval.play("cheap-talk", EXAGGERATOR, "claim-aware reserve 0.9", 1, 2)
    cheap_twin = claims_eval.play("cheap-talk", TWIN, "claim-aware reserve 0.9", 1, 2)
    assert cheap.disbelieved == 0 and cheap.subject > cheap_twin.subject  # unsigned: nothing proven


def test_a_bluffers_holding_claim_earns_nothing_over_the_same_bluffer_without_it() -> None:
    """It never delivers, so the price of its side is moot: its gain is the non-delivery, which cheap
    talk leaves it and the bond takes back."""
    for world in claims_eval.WORLDS:
        claimed = claims_eval.play(world, "bluffer (claims work, holds none)", "claim-aware", 1, 2)
        bare = claims_eval.play(world, "  control: bluffer, no claim", "claim-aware", 1, 2)
        assert claimed == bare
    bluffer = "bluffer (claims work, holds none)"
    assert claims_eval.play("verifiable", bluffer, "claim-aware", 1, 2).opponent == 0.0  # the bond paid


def test_its_memory_of_claims_is_bounded_for_negotiations_that_never_form_a_contract(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A negotiation that ends without a contract never reaches perform, which forgets its claim: only
    the most recent CLAIMS_KEPT are remembered, and a claim seen again counts as recent."""
    from reference_agents import cooperative

    monkeypatch.setattr(cooperative, "CLAIMS_KEPT", 3)
    agent = ClaimAware()
    for k in range(5):
        agent.respond(_offer(reservation=1350, nid=b"n%d" % k))
    agent.respond(_offer(reservation=1400, nid=b"n2"))  # seen again: now the most recent
    agent.respond(_offer(reservation=1350, nid=b"n5"))
    assert list(agent._claimed) == [b"n4", b"n2", b"n5"]
    assert agent._claimed[b"n2"] == (THEM, 1400)
