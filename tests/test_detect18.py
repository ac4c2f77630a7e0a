"""Red team 18: false accusations by the misrepresentation audit's soft screens (SPEC 19.5). Each
screen read a value the accuser chose: the Sybil screen an outsider's BREACHED attestation (its
signer's word), the cartel screen a Counter's price whatever the bargaining stage or the risk it
priced. Each test fails on the screen before its fix; ``python -m conformance.redteam_eval`` runs the
same attacks in markets (rows "framed: ...")."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, reputation_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from conformance.redteam_eval import SETTING, FalseAccusers, FramedHagglers


def _scores(market: FalseAccusers | FramedHagglers, screen: str, names: list[str]) -> dict[str, float]:
    ev = audit.Evidence(market.evidence())
    dids = {market.members[n].peer.did: n for n in names}
    return {dids[s.subject]: s.score for s in audit.SCREENS[screen](ev) if s.subject in dids}


def test_two_false_accusers_flag_no_honest_triangle_as_a_sybil_ring() -> None:
    """Three cooperative newcomers trade once a pair (a triangle of once-praise); two colluding
    identities each trade once with the first, which delivers, and attest it BREACHED. The screen
    took any outside BREACHED attestation as a poor record: all three scored 0.50 (threshold 0.25),
    flagged as a Sybil ring for two signatures (red team: 9 of 9 triangle members over 3 markets). An
    outside rating counts against a member now only as an accusation, a claim of the attester's the
    contract's escrow upheld (or forfeited the member's bond for) -- which the escrow, holding the
    Delivery, would never do."""
    m = FalseAccusers(SETTING, 0, rounds=0)
    m.run()
    tri = [f"triangle-{k}" for k in range(3)]
    ev = audit.Evidence(m.evidence())
    victim = m.members[tri[0]].peer.did
    lies = [
        vs
        for vs in ev.attestations
        if vs.statement.attestation.subject == victim
        and vs.statement.attestation.outcome == reputation_pb2.OUTCOME_BREACHED
    ]
    assert {vs.issuer for vs in lies} == {m.members[f"accuser-{k}"].peer.did for k in range(2)}
    assert all(audit.accusation_proof(ev, vs) is None for vs in lies)
    scores = _scores(m, "sybil-ring", tri)
    assert len(scores) == 3 and max(scores.values()) == 0.0, scores
    findings = audit.audit(ev.by_digest.values(), facts=m.facts())
    assert not [f for f in findings if f.subject in {m.members[n].peer.did for n in tri}]


def _contract_with_claim(judge: str) -> tuple[Party, Party, list[VerifiedStatement], VerifiedStatement]:
    """Alice offers Bob a trade under escrow E; Bob accepts; Alice claims Bob's item undelivered and
    attests him BREACHED. ``judge``: who answered the claim ("ruling": E upheld it; "forfeit": E
    forfeited Bob's bond for it, its Ruling not held; "self": Alice signed an UPHOLD herself;
    "dismiss": E dismissed it)."""
    clock = FixedClock()
    alice, bob, escrow = (
        Party("detect18-alice", clock),
        Party("detect18-bob", clock),
        Party("detect18-e", clock),
    )
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did, issuer_bond=50, audience_bond=50))
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    claim = alice.sign("breach_claim", commitment_pb2.BreachClaim(contract=accept.digest), negotiation_id=nid)
    held = [offer, accept, claim]
    decision = (
        commitment_pb2.RULING_DECISION_DISMISS
        if judge == "dismiss"
        else commitment_pb2.RULING_DECISION_UPHOLD
    )
    ruling = commitment_pb2.Ruling(contract=accept.digest, claim=claim.digest, decision=decision)
    if judge == "dismiss":  # E holds Bob's timely Delivery
        delivery = bob.deliver(accept, alice)
        ruling.evidence = delivery.digest
        held.append(delivery)
    if judge == "forfeit":
        body = commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=50, beneficiary=alice.did, cause=claim.digest
        )
        held.append(escrow.sign("forfeit", body, negotiation_id=nid))
    else:
        held.append((alice if judge == "self" else escrow).sign("ruling", ruling, negotiation_id=nid))
    attestation = alice.sign(
        "attestation",
        reputation_pb2.Attestation(
            subject=bob.did, offer=offer.digest, accept=accept.digest, outcome=reputation_pb2.OUTCOME_BREACHED
        ),
    )
    return alice, bob, [*held, attestation], attestation


def test_an_accusation_rests_on_the_contracts_escrow() -> None:
    """What makes a BREACHED attestation an accusation: the contract's escrow upheld the attester's
    claim (its Ruling) or forfeited the subject's bond for it (its Forfeit). Not a Ruling the
    accuser signed itself, not a dismissal, and not a contract the attester is no party to."""
    for judge, proof in (("ruling", "ruling"), ("forfeit", "forfeit"), ("self", None), ("dismiss", None)):
        _, _, held, attestation = _contract_with_claim(judge)
        found = audit.accusation_proof(audit.Evidence(held), attestation)
        assert (found.body if found else None) == proof, judge
    # A third party's attestation of the same contract, upheld claim or not, accuses no one.
    _, bob, held, attestation = _contract_with_claim("ruling")
    carol = Party("detect18-carol", FixedClock())
    a = attestation.statement.attestation
    stranger = carol.sign(
        "attestation",
        reputation_pb2.Attestation(
            subject=bob.did, offer=a.offer, accept=a.accept, outcome=reputation_pb2.OUTCOME_BREACHED
        ),
    )
    assert audit.accusation_proof(audit.Evidence([*held, stranger]), stranger) is None


def test_hagglers_framed_by_mallory_are_not_a_cartel() -> None:
    """Mallory's Y trades with two honest bargainers: the conceder (time-based) opens an even trade to
    Y and, after Y's Counters, takes 3 % less than even at round 4; the claim-aware reader takes Y's
    even trade bonded in full as it came. Then three of Mallory's X identities each offer both the
    same even trade asking a bond of a fifth and bonding nothing -- the conceder counters at its
    round-2 target (1.029; its round-1 ask, 1.3, until the nineteenth session), the reader at what it
    charges for X's unbonded whole (1.111) -- and reject the
    Counters. The cartel
    screen compared each Counter with what the agent asked or took from Y, whatever the stage or the
    risk: both scored 0.75 (threshold 0.16). A Counter now discriminates only against a Y the agent
    answered at the same bargaining round or an earlier one, and against an offer of Y's whose bond
    secured no more of what Y gave than X's bond of what X gave."""
    m = FramedHagglers(SETTING, 0, rounds=0)
    m.run()
    victims = ["framed-conceder", "framed-reader"]
    ev = audit.Evidence(m.evidence())
    for v in victims:
        did = m.members[v].peer.did
        countered = [vs for vs in ev.by_issuer[did] if vs.body == "counter"]
        rejected = {
            vs.statement.reject.offer
            for vs in ev.by_digest.values()
            if vs.body == "reject" and vs.header.audience == did
        }
        assert sum(1 for c in countered if c.digest in rejected) == 3, v  # the attack happened
    scores = _scores(m, "cartel", victims)
    assert scores == {v: 0.0 for v in victims}, scores


def test_the_bargaining_round_is_counted_along_the_held_chain() -> None:
    """``bargaining_round`` counts as the runtime does (1 for the Offer, one more per Counter), and
    says when a link is missing (the count is then a lower bound)."""
    clock = FixedClock()
    a, b = Party("detect18-a", clock), Party("detect18-b", clock)
    offer = a.offer(b)
    c1 = b.counter(offer, b.proposal())
    c2 = a.counter(c1, a.proposal())
    assert audit.bargaining_round(audit.Evidence([offer, c1, c2]), c2) == (3, True)
    assert audit.bargaining_round(audit.Evidence([c1, c2]), c2) == (3, False)
    assert audit.bargaining_round(audit.Evidence([c2]), c2) == (2, False)
    assert audit.bargaining_round(audit.Evidence([offer]), offer) == (1, True)


def _feint_market(judge: str) -> tuple[Party, list[VerifiedStatement]]:
    """Sam takes four cheap trades (100) and three dear ones (2,000), all under escrow E, and delivers
    on every one. Each dear one's proposer, one of Mallory's identities, claims Sam's item undelivered,
    and ``judge`` answers: "escrow" (E upholds the claim, as if Sam had withheld), "self" (Mallory signs
    the UPHOLD herself), "forfeit" (Mallory signs a Forfeit of Sam's bond)."""
    clock = FixedClock()
    sam, escrow = Party("detect18-sam", clock), Party("detect18-escrow", clock)
    held: list[VerifiedStatement] = []
    for k, value in enumerate((100, 100, 100, 100, 2000, 2000, 2000)):
        other = Party(f"detect18-{'mallory' if value > 100 else 'honest'}-{k}", clock)
        deadline = clock.now_ms + DAY_MS
        offer = other.offer(
            sam,
            other.proposal(
                gives=[service("data", value=value, deadline_ms=deadline)],
                wants=[service("work", value=value, deadline_ms=deadline)],
                escrow=escrow.did,
                issuer_bond=value // 5,
                audience_bond=value // 5,
            ),
        )
        accept = sam.accept(offer)
        held += [offer, accept, sam.deliver(accept, other)]
        if value > 100:
            nid = offer.header.negotiation_id
            claim = other.sign(
                "breach_claim", commitment_pb2.BreachClaim(contract=accept.digest), negotiation_id=nid
            )
            held.append(claim)
            if judge == "forfeit":
                body = commitment_pb2.Forfeit(
                    contract=accept.digest,
                    party=sam.did,
                    amount=value // 5,
                    beneficiary=other.did,
                    cause=claim.digest,
                )
                held.append(other.sign("forfeit", body, negotiation_id=nid))
            else:
                ruling = commitment_pb2.Ruling(
                    contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
                )
                held.append(
                    (escrow if judge == "escrow" else other).sign("ruling", ruling, negotiation_id=nid)
                )
        clock.advance(1_000)
    return sam, held


def test_a_counterpartys_own_ruling_makes_no_feinter() -> None:
    """The feint screen read any UPHOLD Ruling of a claim, and any Forfeit of the subject's bond, as a
    breach, whoever signed it: three of Mallory's identities, each taking a dear trade from an honest
    agent that delivered on it, claimed it undelivered and signed the UPHOLD (or the Forfeit)
    themselves -- clean on four cheap trades, "breached" on the three dear ones: a feinter (0.94,
    threshold 0.62). A breach now counts only by the escrow the contract names, as for ``breach``."""
    threshold = audit.Thresholds().feint
    for judge in ("self", "forfeit"):
        sam, held = _feint_market(judge)
        [score] = audit.feint_scores(audit.Evidence(held), sam.did)
        assert score.score == 0.0, (judge, score)
    sam, held = _feint_market("escrow")  # the escrow's word is a breach
    [score] = audit.feint_scores(audit.Evidence(held), sam.did)
    assert score.score >= threshold, score
