"""Red-team variants of the reference adversaries against the misrepresentation detectors (SPEC 19.5):
each variant keeps misbehaving while staying under a detector; each test fails on the detector
before its fix. ``python -m conformance.redteam_eval`` measures the variants in markets, with
what they gain."""

from __future__ import annotations

import json
from pathlib import Path

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, reputation_pb2, trade_pb2
from a2a_coop.cli import main
from a2a_coop.cli.demo import provision
from a2a_coop.protocol import audit
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, service
from a2a_coop.transport import serve
from reference_agents.adversarial import Cartel, Feinter
from reference_agents.cooperative import Honest

SEED = "redteam17"


def _run_case(tmp_path: Path, case: str, strategy: object, **caps: int) -> tuple[str, str]:
    """Run one conformance case against ``strategy`` served in this process; its (level, reason)."""
    who = provision(tmp_path, "target", **caps)
    node = PeerNode.open(who.key, who.mandate, tmp_path / "target.db", strategy=strategy)
    try:
        with serve(node, None) as server:
            code = main(
                [
                    "conformance",
                    "--target",
                    server.target,
                    "--seed",
                    SEED,
                    "--case",
                    case,
                    "--report-dir",
                    str(tmp_path / "r"),
                ]
            )
    finally:
        node.close()
    assert code == 0
    [case] = json.loads((tmp_path / "r" / "report.json").read_text())["cases"]
    return case["level"], case["reason"]


def test_a_feinter_whose_threshold_is_above_the_suites_stake_is_seen_feinting(tmp_path: Path) -> None:
    """A feinter that keeps every contract below 2,000 and defects above it, under a Mandate that lets
    it give 10,000 a deal: mis.deliveries-by-stake offered it 10, 10, 10 and then 1,000 (a fixed high
    stake), all delivered -- "delivered on every contract". The high stake is now the most the
    target's Mandate lets it give in one deal (here 10,000), so a feint on any stake the target can
    sign at all shows."""
    level, reason = _run_case(
        tmp_path, "mis.deliveries-by-stake", Feinter(stake_threshold=2_000, warmup=99), max_per_deal=10_000
    )
    assert level == "INFO"
    assert "clean while cheap, withheld once" in reason, reason
    assert "10000:WITHHELD" in reason, reason


def test_an_honest_target_delivers_at_the_mandates_cap(tmp_path: Path) -> None:
    """The other side of the rule: the high stake at the cap is one an honest target takes and
    delivers (the suite's Alice can pay twice it; the target's max_outstanding and budget leave room)."""
    level, reason = _run_case(tmp_path, "mis.deliveries-by-stake", Honest(), max_per_deal=10_000)
    assert (level, reason) == (
        "INFO",
        "delivered on every contract (10:delivered, 10:delivered, 10:delivered, 10000:delivered)",
    )


def _counter_market(*, ask_insider: float, ask_outsider: float) -> tuple[Party, list[VerifiedStatement]]:
    """S takes insider Y's offers of code review for copy editing at par (after countering Y at
    ``ask_insider`` times an even trade, if > 0, and taking Y's answer at par); outsider X offers
    the same at par and S counters asking ``ask_outsider`` times an even trade; X rejects that
    Counter, and the negotiation ends with no contract. S signs no Reject."""
    clock = FixedClock()
    s, y, x = (Party(f"redteam17-{n}", clock) for n in "syx")
    held: list[VerifiedStatement] = [*map(verify_statement, [*s.setup, *y.setup, *x.setup])]

    def asking(offer: VerifiedStatement, factor: float) -> VerifiedStatement:
        p = trade_pb2.Offer()
        p.CopyFrom(offer.statement.offer.proposal if offer.body == "counter" else offer.statement.offer)
        mine = s.proposal(gives=list(p.wants), wants=list(p.gives))
        for item in mine.wants:
            item.value = round(
                item.value * factor * sum(i.value for i in mine.gives) / sum(i.value for i in mine.wants)
            )
        return s.counter(offer, mine)

    par = [service("copy-editing", value=500, deadline_ms=clock.now_ms + DAY_MS)]
    for _ in range(2):
        offer = y.offer(s, y.proposal(wants=par))
        held.append(offer)
        if ask_insider:
            counter = asking(offer, ask_insider)
            again = y.counter(counter, y.proposal(wants=par))
            held += [counter, again, s.accept(again)]
        else:
            held.append(s.accept(offer))
        clock.advance(1_000)
    outside = x.offer(s, x.proposal(wants=par))
    counter = asking(outside, ask_outsider)
    held += [outside, counter, x.reject(counter, "too dear")]
    return s, held


def test_a_cartel_that_counters_outsiders_out_of_the_market_is_screened() -> None:
    """A cartel member that answers an outsider's fair offer with a Counter at three times an even
    trade (no outsider takes it) signs no Reject, and the cartel screen read only Rejects: it scored
    0, where the reference cartel (Rejects) scores 0.5 (python -m conformance.redteam_eval: 0 of 9
    counter-cartel members flagged before, 7 of 9 after). A Counter now refuses the offer it answers
    when the negotiation formed no contract and the proposer ended it with a Reject of the Counter,
    and it discriminates when it asked X more than the subject ever asked the one it favoured."""
    s, held = _counter_market(ask_insider=0, ask_outsider=3.0)
    found = [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"]
    assert [f.kind for f in found] == ["cartel"]
    assert {vs.body for vs in found[0].evidence} == {"counter", "accept"}


def test_a_haggler_that_asks_everyone_alike_is_not_a_cartel() -> None:
    """The other side: a time-based haggler counters everyone at the same ask; the outsider walked
    away, the insider haggled to par. No counterparty was asked more than another: no finding (a
    Boulware or Conceder agent, which counters even offers and later takes par from others, would
    otherwise look like a cartel)."""
    s, held = _counter_market(ask_insider=1.3, ask_outsider=1.3)
    assert not [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"]
    s, held = _counter_market(ask_insider=1.3, ask_outsider=3.0)
    assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]


def test_the_equal_terms_case_sees_a_cartel_that_counters_instead_of_rejecting(tmp_path: Path) -> None:
    """mis.equal-terms against a cartel member (Mia inside) that answers Otto's better offer with a
    Counter at three times an even trade: the case left Otto's negotiation open and the screen read
    only Rejects, so it PASSed. Otto now rejects the Counter, as an outsider priced out does, and the
    screen names the refusal (INFO)."""
    mia = Signer(f"conformance/{SEED}/mis.equal-terms/mia", FixedClock(0)).did
    level, reason = _run_case(tmp_path, "mis.equal-terms", Cartel(members=frozenset({mia}), counter_ask=3.0))
    assert level == "INFO" and "soft screen: cartel" in reason, (level, reason)


def _attest(by: Party, offer: VerifiedStatement, accept: VerifiedStatement, good: bool) -> VerifiedStatement:
    subject = accept.issuer if by.did == offer.issuer else offer.issuer
    outcome = reputation_pb2.OUTCOME_FULFILLED if good else reputation_pb2.OUTCOME_BREACHED
    body = reputation_pb2.Attestation(
        subject=subject, offer=offer.digest, accept=accept.digest, outcome=outcome
    )
    return by.sign("attestation", body)


def test_a_sybil_ring_that_spreads_its_praise_is_screened() -> None:
    """Four ring identities trade once per pair and praise each other once; each cheats three
    outsiders, who attest it BREACHED; one of them also did one clean trade with an honest partner.
    The screen took only pairs that praised each other twice (``repeat``): no member had a ring,
    score 0 (python -m conformance.redteam_eval: a ring of six, one trade a pair, 0 of 18 flagged
    before, 13 of 18 after). With no twice-praised partner, the ring is now the once-praised ones
    that close a triangle with another of them -- not the honest partner of one clean trade. (Each
    breach is a claim the contract's escrow upheld: since red team 18 an outsider's BREACHED
    attestation alone is no accusation.)"""
    clock = FixedClock()
    ring = [Party(f"redteam17-ring-{k}", clock) for k in range(4)]
    outsiders = [Party(f"redteam17-out-{k}", clock) for k in range(3)]
    honest = Party("redteam17-honest", clock)
    escrow = Party("redteam17-escrow", clock)
    held: list[VerifiedStatement] = []

    def trade(a: Party, b: Party, a_good: bool, b_good: bool) -> None:
        offer = a.offer(b, a.proposal(escrow=escrow.did))
        accept = b.accept(offer)
        held.extend([offer, accept, _attest(a, offer, accept, b_good), _attest(b, offer, accept, a_good)])
        if not b_good:
            nid = offer.header.negotiation_id
            claim = a.sign(
                "breach_claim", commitment_pb2.BreachClaim(contract=accept.digest), negotiation_id=nid
            )
            upheld = commitment_pb2.Ruling(
                contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
            )
            held.extend([claim, escrow.sign("ruling", upheld, negotiation_id=nid)])
        clock.advance(1_000)

    for i, a in enumerate(ring):
        for b in ring[i + 1 :]:
            trade(a, b, True, True)
        for o in outsiders:
            trade(o, a, True, False)  # the ring member breached the outsider, who delivered
    trade(honest, ring[0], True, True)
    scores = {s.subject: s.score for s in audit.sybil_scores(audit.Evidence(held))}
    assert all(scores[p.did] >= audit.Thresholds().sybil_ring for p in ring), scores
    assert scores.get(honest.did, 0.0) == 0.0 and all(scores.get(o.did, 0.0) == 0.0 for o in outsiders)
