"""Multi-issue negotiation through the protocol (issue 13, item 4): the Offer encoding of an outcome,
our Boulware and Conceder negotiators' deterministic outcome, parity with NegMAS's own negotiators
(when NegMAS is installed), and no deadlock in self-play."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import pytest

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import ContractView, opening
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive, service
from reference_agents import parity
from reference_agents.cooperative import Reciprocal, concession
from reference_agents.multi_issue import Domain, IssueNegotiator, NotAnOutcome, opposed

TERMS = trade_pb2.Terms(currency="credit")


def test_an_outcome_round_trips_through_an_offer_from_either_side() -> None:
    domain, _, _ = opposed()
    for issuer in ("buyer", "seller"):
        offer = domain.encode((1, 7, 10), issuer=issuer, terms=TERMS, deadline_ms=5)
        bundle, payment = (offer.gives, offer.wants) if issuer == "seller" else (offer.wants, offer.gives)
        assert [(i.category, i.quantity, i.kind) for i in bundle] == [
            ("issue-1", 1, trade_pb2.ITEM_KIND_RESOURCE),
            ("issue-2", 7, trade_pb2.ITEM_KIND_RESOURCE),
            ("issue-3", 10, trade_pb2.ITEM_KIND_RESOURCE),
        ]
        assert [(i.category, i.kind, i.value) for i in payment] == [
            ("payment", trade_pb2.ITEM_KIND_CREDIT, domain.price)
        ]
        assert domain.decode(offer, issuer=issuer) == (1, 7, 10)
        # Read as written by the other side, the bundle is on the wrong side: no outcome.
        with pytest.raises(NotAnOutcome):
            domain.decode(offer, issuer="buyer" if issuer == "seller" else "seller")


@pytest.mark.parametrize(
    ("items", "why"),
    [
        ([("issue-1", 1), ("issue-2", 1)], "no quantity for issue-3"),
        ([("issue-1", 1), ("issue-2", 1), ("issue-2", 2), ("issue-3", 1)], "repeated"),
        ([("issue-1", 1), ("issue-2", 11), ("issue-3", 1)], "outside 1..10"),
        ([("issue-1", 1), ("issue-2", 1), ("issue-4", 1)], "unexpected"),
        ([("issue-1", 1), ("issue-2", 1), ("issue-3", 1), ("payment", 1)], "unexpected"),
    ],
)
def test_an_offer_that_is_not_an_outcome_is_refused_with_its_reason(
    items: list[tuple[str, int]], why: str
) -> None:
    domain, _, _ = opposed()
    offer = trade_pb2.Offer(
        gives=[service(c, value=1, deadline_ms=5, quantity=q) for c, q in items],
        wants=[service("payment", value=domain.price, deadline_ms=5)],
        terms=TERMS,
    )
    with pytest.raises(NotAnOutcome, match=why):
        domain.decode(offer, issuer="seller")
    with pytest.raises(NotAnOutcome):
        domain.encode((1, 2), issuer="seller", terms=TERMS, deadline_ms=5)
    with pytest.raises(ValueError):
        Domain(("a", "a"), 10)


def _expected_zero_sum(ea: float, eb: float, steps: int, reserve: float) -> tuple[float, int] | None:
    """The documented rules worked out on the equal-weight domain, independently of the negotiators:
    utilities are multiples of 1/27 and u_seller = 1 - u_buyer. Returns (u_buyer, steps ran)."""
    grid = 27

    def target(e: float, step: int) -> float:
        return concession((step + 1) / (steps + 1), e, 1.0, reserve)

    def offer(e: float, step: int) -> float:  # the least utility at or above the target, on the grid
        return math.ceil((target(e, step) - 1e-4) * grid - 1e-9) / grid

    n = 1
    u_buyer = offer(ea, 0)  # the buyer's opening, at step 0
    while n // 2 < steps:
        step = n // 2
        if n % 2:  # the seller answers the buyer's offer
            if 1 - u_buyer >= target(eb, step) - 1e-4:
                return u_buyer, step + 1
            u_buyer = 1 - offer(eb, step)
        else:
            if u_buyer >= target(ea, step) - 1e-4:
                return u_buyer, step + 1
            u_buyer = offer(ea, step)
        n += 1
    return None


@pytest.mark.parametrize(("ea", "eb"), [(0.25, 4.0), (4.0, 0.25), (0.25, 0.25), (4.0, 4.0), (0.2, 5.0)])
def test_boulware_and_conceder_through_the_protocol_follow_the_documented_rules(ea: float, eb: float) -> None:
    domain, ua, us = opposed()
    run = parity.ours(domain, (ua, us), (ea, eb), reserve=0.25, steps=100)
    expected = _expected_zero_sum(ea, eb, 100, 0.25)
    assert expected is not None and run.result.utilities is not None
    assert run.result.utilities[0] == pytest.approx(expected[0])
    assert run.result.utilities[1] == pytest.approx(1 - expected[0])
    assert run.result.step == expected[1]
    # Everything signed in that negotiation verifies offline, and the deal was carried out.
    report = verify_transcript(run.transcript)
    assert report.error is None, report.error
    assert run.negotiation.state is State.FULFILLED


def test_the_boulware_buyer_against_a_conceder_seller_lands_where_negmas_does() -> None:
    """Pinned figures of the default parity pairing (NegMAS 0.16 gives the same: see README)."""
    domain, ua, us = opposed()
    run = parity.ours(domain, (ua, us), (0.25, 4.0), reserve=0.25, steps=100)
    assert run.result.utilities == pytest.approx((19 / 27, 8 / 27))
    assert run.result.step == 81


def test_of_outcomes_worth_the_same_to_us_we_counter_with_the_nearest_to_their_offer() -> None:
    _, ua, _ = opposed(2, 5, weights_buyer=(0.5, 0.5))
    buyer = IssueNegotiator(utility=ua, exponent=1.0, steps=10)
    # u = (q1 + q2 - 2) / 8. At the last step the buyer wants 0.25 + 0.75 * (1 - 10 / 11) = 0.318:
    # the least above it is 3 / 8, the four outcomes with q1 + q2 = 5.
    worth = [o for o in buyer.domain.outcomes() if ua(o) == ua(buyer.choose(9))]
    assert worth == [(1, 4), (2, 3), (3, 2), (4, 1)] and buyer.choose(9) == (1, 4)  # opening: the first
    assert buyer.choose(9, near=(5, 1)) == (4, 1)
    assert buyer.choose(9, near=(2, 5)) == (1, 4)  # squared distances 2 and 4
    assert buyer.choose(9, near=(3, 3)) == (2, 3)  # (2, 3) and (3, 2) equally near: the first


def test_as_a_proposer_it_opens_with_its_best_outcome_under_the_default_terms() -> None:
    domain, ua, us = opposed()
    default = trade_pb2.Offer(
        gives=[service("work", value=1, deadline_ms=77)],
        wants=[service("work", value=1, deadline_ms=99)],
        terms=trade_pb2.Terms(currency="credit", escrow="did:key:z6Mk-escrow", issuer_bond=5),
    )
    for utility, best in ((ua, (10, 10, 10)), (us, (1, 1, 1))):
        offer = opening(IssueNegotiator(utility=utility, exponent=0.25), "did:key:other", default)
        assert offer is not None and domain.decode(offer, issuer=utility.role) == best
        assert offer.terms == default.terms and {i.deadline_ms for i in [*offer.gives, *offer.wants]} == {77}


def test_no_rational_outcome_ends_rejected_at_the_deadline() -> None:
    domain, ua, us = opposed()
    run = parity.ours(domain, (ua, us), (4.0, 4.0), reserve=0.6, steps=10)
    assert run.result.utilities is None and run.result.step == 10
    assert run.negotiation.state is State.REJECTED
    counters = sum(1 for h in run.negotiation.history if h[1].value == "COUNTER")
    assert counters == 2 * 10 - 1  # every step's two offers, the opening included; then the Reject


@pytest.mark.parametrize("steps", [1, 2, 7, 30])
@pytest.mark.parametrize("exponents", [(0.25, 0.25), (4.0, 4.0), (1.0, 0.2)])
def test_time_based_self_play_always_ends_within_the_step_limit(
    steps: int, exponents: tuple[float, float]
) -> None:
    domain, ua, us = opposed(2, 5, weights_buyer=(0.7, 0.3), weights_seller=(0.4, 0.6))
    run = parity.ours(domain, (ua, us), exponents, reserve=0.25, steps=steps)
    assert run.negotiation.is_terminal and run.result.step <= steps
    assert (run.result.utilities is None) == (run.negotiation.state is State.REJECTED)


def test_the_price_is_fixed_an_offer_paying_less_is_no_outcome() -> None:
    domain, _, _ = opposed()
    offer = domain.encode((5, 5, 5), issuer="buyer", terms=TERMS, deadline_ms=5)
    offer.gives[0].value = domain.price - 1
    with pytest.raises(NotAnOutcome, match="payment"):
        domain.decode(offer, issuer="buyer")
    offer.gives[0].value = domain.price
    offer.gives.append(service("payment", value=1, deadline_ms=5))
    with pytest.raises(NotAnOutcome, match="payment"):
        domain.decode(offer, issuer="buyer")


def test_a_negotiator_rejects_a_bundle_outside_its_domain() -> None:
    _, ua, us = opposed()
    other, _, _ = opposed(2, 10)
    clock = FixedClock()
    buyer = IssueNegotiator(utility=ua, exponent=1.0)
    seller = parity._peer("seller", clock, IssueNegotiator(utility=us, exponent=1.0))
    pa = parity._peer("buyer", clock, buyer)
    bad = other.encode((5, 5), issuer="buyer", terms=TERMS, deadline_ms=clock.now_ms + DAY_MS)
    offer = pa.propose(seller.did, bad)
    drive(pa, seller.exchange, offer)
    neg = pa.negotiation(offer.header.negotiation_id)
    assert neg.state is State.REJECTED
    reject = [vs for vs in pa.verifier.statements.values() if vs.body == "reject"]
    assert "no quantity for issue-3" in reject[0].statement.reject.reason


@pytest.mark.parametrize("via", ["module", "cli"])
def test_parity_with_negmas_within_five_hundredths_per_side(
    via: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("negmas")
    from a2a_coop.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NegMAS's own deprecation and config warnings
        # The module at issue 13's figures (100 steps); the CLI, the same code, at 30 steps to stay quick.
        code = parity.main([]) if via == "module" else main(["sim", "parity", "--steps", "30"])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert code == 0 and summary["within_tolerance"] and summary["max_delta"] <= 0.05
    pairings = {r["pairing"]: r for r in summary["pairings"]}
    assert set(pairings) == {p[0] for p in parity.PAIRINGS}
    for r in pairings.values():
        assert r["ours"]["utilities"] is not None and r["negmas"]["utilities"] is not None
        assert all(d <= 0.05 for d in r["deltas"])
        assert r["ours"]["step"] == r["negmas"]["step"]
        assert r["negmas_exponents"] == [pytest.approx(1 / e) for e in r["exponents"]]
        assert r["welfare"]["agreements"] == 1 and r["welfare"]["mean_pareto_distance"] == 0.0
    assert out[2].startswith("boulware-vs-conceder")


@pytest.mark.slow
@pytest.mark.parametrize("steps", [5, 37, 200])
@pytest.mark.parametrize("reserve", [0.0, 0.5])
def test_parity_with_negmas_is_exact_on_zero_sum_domains_of_other_sizes(steps: int, reserve: float) -> None:
    """Beyond issue 13's figures: other lengths, reservation values and domain sizes, every pairing,
    the same utilities and the same number of steps as NegMAS (no agreement included)."""
    pytest.importorskip("negmas")
    for issues, levels in ((3, 10), (2, 5), (1, 7)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = parity.compare(steps=steps, reserve=reserve, issues=issues, levels=levels)
        for r in rows:
            assert r["ours"]["utilities"] == pytest.approx(r["negmas"]["utilities"]), r
            assert r["ours"]["step"] == r["negmas"]["step"], r


def test_parity_out_of_tolerance_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """Where NegMAS and we part ways (see README), the command says so by its exit status."""
    pytest.importorskip("negmas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = parity.main(
            [
                "--steps",
                "30",
                "--tolerance",
                "0",
                "--weights-buyer",
                "0.5,0.3,0.2",
                "--weights-seller",
                "0.2,0.3,0.5",
            ]
        )
    assert code == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["within_tolerance"] is False


def test_parity_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    assert parity.main(["--levels", "1"]) == 2
    assert "--levels >= 2" in capsys.readouterr().err
    assert main(["sim", "parity", "--weights-buyer", "0.5,0.5"]) == 2  # three issues, two weights
    assert "one non-negative weight per issue" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        parity.main(["--weights-buyer", "a,b"])
    assert exc.value.code == 2
    assert "not a comma-separated list" in capsys.readouterr().err


# -- reciprocators in self-play ------------------------------------------------------------------


class _DefectsFirst(Reciprocal):
    """A reciprocator that withholds on its first contract: the defection tit-for-tat must recover from."""

    def cooperates(self, contract: ContractView) -> bool:
        first = not self._plays
        played = super().cooperates(contract)
        if first:
            self._plays[contract.contract_id] = False
            return False
        return played


def _pair(a: Reciprocal, b: Reciprocal, seed: int) -> tuple[FixedClock, list[Peer]]:
    clock = FixedClock()
    peers = []
    for name, strategy in ((f"r{seed}a", a), (f"r{seed}b", b)):
        party = Party(name, clock, mandate_caps=parity.CAPS)
        counter = itertools.count()
        peers.append(
            Peer(
                party.agent.key,
                party.mandate_vs.envelope,
                strategy=strategy,
                clock=lambda: clock.now_ms,
                nonce=lambda name=name, counter=counter: derive(f"nonce/{name}/{next(counter)}", 16),
                attest=False,
            )
        )
    return clock, peers


def _deal(clock: FixedClock, proposer: Peer, other: Peer, value_asked: int = 500) -> tuple[State, bool, bool]:
    deadline = clock.now_ms + DAY_MS
    offer = proposer.propose(
        other.did,
        trade_pb2.Offer(
            gives=[service("work", value=500, deadline_ms=deadline)],
            wants=[service("work", value=value_asked, deadline_ms=deadline)],
            terms=TERMS,
        ),
    )
    drive(proposer, other.exchange, offer)
    clock.advance(60_000)
    neg = proposer.negotiation(offer.header.negotiation_id)
    c = neg.contract
    if c is None:
        return neg.state, False, False
    return neg.state, (proposer.did, 0) in c.delivered, (other.did, 0) in c.delivered


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("forgiveness", [0.0, 0.1, 0.5])
def test_reciprocators_never_deadlock_in_self_play(seed: int, forgiveness: float) -> None:
    clock, (a, b) = _pair(Reciprocal(forgiveness=forgiveness, seed=seed), Reciprocal(seed=seed + 100), seed)
    for k in range(12):
        proposer, other = (a, b) if k % 2 == 0 else (b, a)
        state, *delivered = _deal(clock, proposer, other)
        assert state is State.FULFILLED and all(delivered)  # agreement, carried out, every round
    # An offer below the responder's threshold ends in a defined terminal state, not a stall.
    assert _deal(clock, a, b, value_asked=5_000)[0] is State.REJECTED


@pytest.mark.parametrize("seed", range(5))
def test_reciprocators_recover_from_a_defection_by_forgiveness(seed: int) -> None:
    """Tit-for-tat echoes a defection back and forth; forgiveness ends the echo within the limit."""
    clock, (a, b) = _pair(
        _DefectsFirst(forgiveness=0.3, seed=seed), Reciprocal(forgiveness=0.3, seed=seed + 1), seed
    )
    history = []
    for k in range(40):
        proposer, other = (a, b) if k % 2 == 0 else (b, a)
        state, d_proposer, d_other = _deal(clock, proposer, other)
        assert state in (State.ACCEPTED, State.PERFORMING, State.FULFILLED)  # every deal formed
        history.append(d_proposer and d_other)
        if len(history) >= 2 and history[-1] and history[-2]:
            break
    assert not history[0]  # the forced defection happened
    assert history[-1] and history[-2], f"no return to mutual cooperation in 40 deals: {history}"
