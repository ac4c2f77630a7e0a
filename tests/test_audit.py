"""The misrepresentation audit (issue 14, item 5): hard proofs are sound and complete on hand-built
transcripts; every adversarial reference agent is flagged with its finding in a market that gives
it the chance; honest markets draw no hard finding (a property over random runs); the evaluation
command prints its table and one JSON line, the same for the same arguments."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest
from cli_run import run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_answer_proof import _reveal_later
from test_attack24_reveal_later import _bobs_offer, _mirror

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import envelope_from_json, envelope_to_json
from a2a_coop.protocol.forks import PROOF_SCHEMA, ForkProof, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, bonded_trade, derive, full_trade, service
from conformance import audit_eval

RATIO = trade_pb2.CLAIM_KIND_RESERVATION_VALUE
HOLDING = trade_pb2.CLAIM_KIND_HOLDING


def _even(party: Party, value: int, *, claims: list[trade_pb2.Claim] | None = None) -> trade_pb2.Offer:
    deadline = party.clock.now_ms + DAY_MS
    return party.proposal(
        gives=[service("work", value=value, deadline_ms=deadline)],
        wants=[service("work", value=value, deadline_ms=deadline)],
        claims=claims or [],
    )


def _hard(statements: list[VerifiedStatement], **kw: object) -> list[audit.Finding]:
    return [f for f in audit.audit(statements, screens=False, **kw) if f.hard]  # type: ignore[arg-type]


def test_honest_transcripts_draw_no_finding() -> None:
    clock = FixedClock()
    alice, bob, log = full_trade(clock)
    escrow = Party("escrow", clock)
    bonded = bonded_trade(Party("carol", clock), Party("dave", clock), escrow, clock)
    assert audit.audit([alice.mandate_vs, bob.mandate_vs, *log, *bonded]) == []


def unguarded_offer(
    writer: ChainWriter, party: Party, audience: Party, nonce: str, *, issued_at_ms: int | None = None
) -> VerifiedStatement:
    """An Offer of ``party``'s to ``audience`` signed at ``writer``'s place in its chain, not its own
    writer's: a second statement at a used seq, a broken link or time running back, as ``writer`` says."""
    at = party.clock.now_ms if issued_at_ms is None else issued_at_ms
    stmt = new_statement(
        "offer",
        party.proposal(),
        issued_at_ms=at,
        ttl_ms=60_000,
        audience=audience.did,
        mandate=party.mandate_vs.digest,
    )
    return writer.sign(stmt, nonce=derive(nonce, 16))


def test_two_statements_at_one_seq_and_a_broken_link_are_equivocation() -> None:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    first = alice.offer(bob)
    # A second statement at seq 0: the writer forgets what it signed.
    fork = unguarded_offer(ChainWriter(alice.agent.key), alice, bob, "fork")
    [f] = _hard([first, fork])
    assert (f.kind, f.subject, f.requirement) == ("equivocation", alice.did, "CHN-004")
    assert {vs.digest for vs in f.evidence} == {first.digest, fork.digest}
    # seq 1 whose prev is not the held seq 0.
    second = alice.offer(bob)
    broken = unguarded_offer(
        ChainWriter(alice.agent.key, next_seq=1, prev=derive("elsewhere")), alice, bob, "broken"
    )
    [g] = _hard([first, broken])
    assert g.requirement == "CHN-003" and g.subject == alice.did
    assert _hard([first, second]) == []


@pytest.mark.req("ATT-022", "ATT-012")
def test_two_answers_to_one_statement_are_equivocation_with_the_proof_gossip_carries() -> None:
    """The reveal-later acceptor's Reject and Accept of Bob's offer, linked in her chain (no fork of it), are
    an answer proof (ATT-022): the audit names her with the pair, and its proof is the ForkProof a peer
    keeps and gossips -- another view takes it as a proof against her key -- and the file ``verify`` reads."""
    alice, _, _, offer, (kept, accept, delivery) = _reveal_later()
    [f] = _hard([alice.mandate_vs, offer, kept, accept, delivery])
    assert (f.kind, f.subject, f.requirement) == ("equivocation", alice.did, "ATT-022")
    assert [vs.digest for vs in f.evidence] == [kept.digest, accept.digest]
    assert f.proof == ForkProof(kept.envelope, accept.envelope)
    assert EvidenceVerifier().take_fork_proof(f.proof) == alice.did  # ATT-012: checked with no other context
    doc = json.loads(json.dumps(f.to_json()["proof"]))
    assert (doc["schema"], doc["issuer"]) == (PROOF_SCHEMA, alice.did)
    assert verify_fork_proof(ForkProof(envelope_from_json(doc["first"]), envelope_from_json(doc["second"])))
    assert _hard([alice.mandate_vs, offer, accept, delivery]) == []  # one answer alone proves nothing


def test_an_honest_bargain_draws_no_answer_proof() -> None:
    """Alice counters Bob's offer and Bob's peer accepts her Counter and delivers: each key answered each
    statement once (ATT-022 (a)), so nothing is found; nor is a Reject and an Accept of two offers."""
    _, alice, bob, peer, offer = _bobs_offer()
    counter = alice.counter(offer, _mirror(offer))
    sent = peer.on_replies([*alice.setup, counter.envelope])
    assert [vs.body for vs in sent] == ["accept", "delivery"]
    assert audit.audit([alice.mandate_vs, bob.mandate_vs, offer, counter, *sent]) == []
    clock = FixedClock()
    carol, dave = Party("carol", clock), Party("dave", clock)
    first, second = dave.offer(carol), dave.offer(carol)
    assert _hard([first, second, carol.reject(first), carol.accept(second)]) == []


def _negotiate(claim: trade_pb2.Claim, counter_value: int) -> tuple[Party, list[VerifiedStatement]]:
    """Bob offers even; Alice counters claiming a floor; Bob counters at ``counter_value``; she accepts."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, _even(bob, 1000))
    mine = _even(alice, 1000, claims=[claim])
    mine.wants[0].value = 1500
    counter = alice.counter(offer, mine)
    theirs = _even(bob, 1000)
    theirs.wants[0].value = counter_value
    back = bob.counter(counter, theirs)
    return alice, [offer, counter, back, alice.accept(back)]


def test_an_accept_below_a_signed_floor_is_a_broken_reservation() -> None:
    claim = trade_pb2.Claim(kind=RATIO, subject=audit.RATIO_SUBJECT, amount=1200)
    alice, log = _negotiate(claim, 1000)  # she receives 1000 for 1000: ratio 1.0 < 1.2
    [f] = _hard(log)
    assert (f.kind, f.subject) == ("broken-reservation", alice.did)
    assert [vs.body for vs in f.evidence] == ["counter", "accept"]
    _, fair = _negotiate(claim, 830)  # she receives 1000 for 830: ratio 1.205 >= 1.2
    assert _hard(fair) == []
    # The reference agents' detector is the same function (sim.py imports it from there).
    from reference_agents import detect
    from reference_agents.adversarial import RATIO_SUBJECT

    assert detect.broken_reservations is audit.broken_reservations and RATIO_SUBJECT == audit.RATIO_SUBJECT


def test_a_blind_floor_counts_once_revealed() -> None:
    salt = derive("salt")
    blind = trade_pb2.Claim(kind=RATIO, subject=audit.RATIO_SUBJECT, commitment=commit(1200, salt))
    alice, log = _negotiate(blind, 1000)
    assert _hard(log) == []  # nothing to compare while it is blind
    counter = log[1]
    reveal = alice.sign("reveal", _reveal(counter.digest, salt, 1200))
    [f] = _hard([*log, reveal])
    assert f.kind == "broken-reservation"
    wrong = alice.sign("reveal", _reveal(counter.digest, salt, 900))  # does not open the commitment
    assert _hard([*log, wrong]) == []


def _reveal(statement: bytes, salt: bytes, amount: int) -> object:
    from a2a_coop._proto.a2acoop.v1 import commitment_pb2

    return commitment_pb2.Reveal(statement=statement, claim_index=0, salt=salt, amount=amount)


def test_a_holding_claim_above_the_attested_one_is_a_bluff() -> None:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    claims = [
        trade_pb2.Claim(kind=HOLDING, subject="gpu-hours", amount=40),
        trade_pb2.Claim(kind=HOLDING, subject="credit", amount=5000),
    ]
    offer = alice.offer(bob, _even(alice, 500, claims=claims))
    facts = audit.Facts(balances={alice.did: 5000}, holdings={(alice.did, "gpu-hours"): 40})
    assert _hard([offer], facts=facts) == []
    assert _hard([offer]) == []  # nobody attests anything: no proof
    poorer = audit.Facts(balances={alice.did: 4999}, holdings={(alice.did, "gpu-hours"): 10})
    found = _hard([offer], facts=poorer)
    assert [f.kind for f in found] == ["bluff", "bluff"] and {f.subject for f in found} == {alice.did}


def test_commitments_above_the_mandate_are_over_commitment() -> None:
    clock = FixedClock()
    caps = {"max_per_deal": 1000, "max_outstanding": 1500, "budget_per_period": 2500, "period_ms": DAY_MS}
    over = Party("over", clock, mandate_caps=caps)  # a Party signs whatever it is given: no guard
    a, b, c = Party("a", clock), Party("b", clock), Party("c", clock)
    big = over.offer(a, _even(over, 1200))
    [f] = _hard([over.mandate_vs, big])
    assert (f.kind, f.requirement, f.subject) == ("over-commitment", "MND-004", over.did)
    # Two offers of 800 at once, each accepted, and it then delivers under the first contract: it
    # held that contract when it signed the second offer, 1600 outstanding > 1500.
    o1, o2 = over.offer(a, _even(over, 800)), over.offer(b, _even(over, 800))
    clock.advance(1000)
    acc1, acc2 = a.accept(o1), b.accept(o2)
    # The audience's answers alone, dated later, prove nothing: they are the audience's to choose.
    assert _hard([over.mandate_vs, o1, o2, acc1, acc2]) == []
    d1 = over.deliver(acc1, a)
    [g] = _hard([over.mandate_vs, o1, o2, acc1, acc2, d1])
    assert (g.requirement, g.subject) == ("MND-010", over.did)
    assert {o1.digest, o2.digest, acc1.digest, d1.digest} <= set(g.digests)
    # A Delivery under another contract of that negotiation is not one under the offer: A counters
    # the first offer before the second is signed (the subject's guard frees it), the subject takes
    # the Counter later and delivers under that contract, and A also signs an Accept of the offer
    # for the auditor. No proof against the subject: the offer's contract is one it never held. A's two
    # answers to the offer are one against A (ATT-022).
    o5 = over.offer(a, _even(over, 800))
    c5 = a.counter(o5, _even(a, 800))
    clock.advance(1000)
    o6 = over.offer(b, _even(over, 800))
    clock.advance(1000)
    took = over.accept(c5)
    second = a.accept(o5)
    [h] = _hard([over.mandate_vs, o5, c5, o6, took, over.deliver(took, a), second, b.accept(o6)])
    assert (h.subject, h.requirement, h.digests) == (a.did, "ATT-022", [c5.digest, second.digest])
    # Unanswered, or answered before the second was signed: not provably outstanding together.
    assert _hard([over.mandate_vs, o1, o2]) == []
    o3 = over.offer(a, _even(over, 800))
    rejected = a.reject(o3)
    clock.advance(1000)
    o4 = over.offer(b, _even(over, 800))
    clock.advance(1000)
    assert _hard([over.mandate_vs, o3, rejected, o4, b.accept(o4)]) == []
    # Contracts it accepted in one budget period: the fourth makes 4 x 800 = 3200 > 2500, whether or
    # not the first three ended. Offers of its own that others accepted count only once it shows it
    # held the Accept (a Delivery under it).
    deals = []
    for who in (a, b, c, a):
        clock.advance(60_000)
        o = who.offer(over, _even(who, 800))
        deals += [o, over.accept(o)]
    budget = [f for f in _hard([over.mandate_vs, *deals]) if f.requirement == "MND-009"]
    assert len(budget) == 1 and budget[0].subject == over.did and budget[0].evidence[-2] == deals[-1]
    mine = []
    for who in (a, b, c):
        clock.advance(60_000)
        o = over.offer(who, _even(over, 800))
        mine += [o, who.accept(o)]
    assert [f for f in _hard([over.mandate_vs, *deals[:4], *mine]) if f.requirement == "MND-009"] == []
    delivered = [over.deliver(acc, who) for acc, who in zip(mine[1::2], (a, b, c), strict=True)]
    clock.advance(60_000)
    last = over.offer(a, _even(over, 600))
    found = _hard([over.mandate_vs, *mine, *delivered, last])
    assert [f.requirement for f in found if f.requirement == "MND-009"] == ["MND-009"]


def test_finding_to_json_carries_verifiable_envelopes() -> None:
    clock = FixedClock()
    over = Party("over", clock, mandate_caps={"max_per_deal": 10})
    offer = over.offer(Party("a", clock), _even(over, 500))
    [f] = _hard([over.mandate_vs, offer])
    # Raw envelopes are verified first; one that fails the stateless checks is left out.
    tampered = offer.envelope[:-1] + bytes([offer.envelope[-1] ^ 1])
    assert audit.audit([over.mandate_vs.envelope, offer.envelope, tampered]) == [f]
    doc = json.loads(json.dumps(f.to_json()))
    assert doc["kind"] == "over-commitment" and doc["hard"] is True and doc["confidence"] == 1.0
    for e in doc["evidence"]:
        vs = verify_statement(base64.b64decode(e["envelope"]))
        assert vs.digest.hex() == e["digest"] and vs.issuer == e["issuer"]


# -- the reference agents in a market ---------------------------------------------------------------


@pytest.fixture(scope="module")
def market() -> tuple[audit_eval.Market, list[audit.Finding], dict[str, dict[str, float]]]:
    """A market of every reference agent (TRAIN setting a: every adversary acts whenever it can),
    plus two deals in which the Nash bargainer's counter tempts the exaggerator below its floor."""
    m = audit_eval.Market(audit_eval.TRAIN[0], seed=1, rounds=4)
    m.run()
    for _ in range(2):
        m.deal("nash-4", "exaggerator")
    ev = audit.Evidence(m.evidence())
    findings = audit.audit(ev.by_digest.values(), facts=m.facts())
    names = {x.peer.did: n for n, x in m.members.items()}
    scores = {
        kind: {names[s.subject]: s.score for s in screen(ev) if s.subject in names}
        for kind, screen in audit.SCREENS.items()
    }
    return m, findings, scores


def test_each_adversary_is_flagged_with_its_finding(
    market: tuple[audit_eval.Market, list[audit.Finding], dict[str, dict[str, float]]],
) -> None:
    m, findings, _ = market
    names = {x.peer.did: n for n, x in m.members.items()}
    flagged = {(f.kind, names[f.subject]) for f in findings}
    for expected in [
        ("equivocation", "equivocator"),
        ("broken-reservation", "exaggerator"),
        ("bluff", "bluffer"),
        ("over-commitment", "over-committer"),
        ("breach", "reneger"),
        ("breach", "feinter"),
        ("feint", "feinter"),
        ("ratchet", "exaggerator"),
        ("cartel", "cartel-1"),
        *(("sybil-ring", f"sybil-{k}") for k in range(3)),
    ]:
        assert expected in flagged, expected
    # Hard proofs name only agents that did it (by their own record); no cooperative agent draws
    # one except for a breach it really committed (the reciprocal agent retaliates by withholding).
    truth = m.truth(audit.Evidence(m.evidence()))
    for f in findings:
        if f.hard:
            assert audit_eval.HARD_LABEL[f.kind] in truth[names[f.subject]], (f.kind, names[f.subject])
    honest_hard = {
        f.kind for f in findings if f.hard and m.members[names[f.subject]].kind in audit_eval.HONEST
    }
    assert honest_hard <= {"breach"}
    # Soft findings stay below 1; every finding serialises with its evidence.
    assert all(0 < f.confidence < 1 for f in findings if not f.hard)
    assert all(f.to_json()["evidence"] for f in findings)


def test_the_equivocators_forks_are_proofs_anyone_checks(
    market: tuple[audit_eval.Market, list[audit.Finding], dict[str, dict[str, float]]],
) -> None:
    """The reference equivocator (reference_agents.unsafe) signs second statements at used seqs: each
    equivocation the audit reports carries a proof another view takes against that key alone (ATT-012)."""
    m, findings, _ = market
    names = {x.peer.did: n for n, x in m.members.items()}
    proven = [f for f in findings if f.kind == "equivocation"]
    assert {names[f.subject] for f in proven} == {"equivocator"}
    for f in proven:
        assert f.proof is not None and EvidenceVerifier().take_fork_proof(f.proof) == f.subject
    assert all(f.proof is None for f in findings if f.kind != "equivocation")


def test_audit_command_reports_and_writes_the_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``a2a-coop audit``: the reveal-later transcript is a hard proof (exit 1, text and JSON), its proof
    written with --proofs is one ``a2a-coop verify`` checks (exit 0), and ``verify`` of the transcript
    names it; an honest trade's transcript is clean (exit 0)."""
    alice, bob, _, offer, (kept, accept, delivery) = _reveal_later()
    evidence = [alice.mandate_vs, bob.mandate_vs, offer, kept, accept, delivery]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"envelopes": [envelope_to_json(vs.envelope) for vs in evidence]}))
    code, out, _ = run_cli(capsys, "audit", path, "--proofs", tmp_path / "proofs")
    assert code == 1 and f"equivocation (proof) [ATT-022] {alice.did}" in out
    [written] = (tmp_path / "proofs").iterdir()
    assert str(written) in out
    assert run_cli(capsys, "verify", written)[0] == 0
    code, out, err = run_cli(capsys, "audit", path, "--proofs", tmp_path / "proofs")
    assert code == 2 and "refusing to overwrite" in err
    code, out, _ = run_cli(capsys, "audit", path, "--json", "--subject", bob.did)
    assert code == 0 and json.loads(out)["findings"] == []
    code, out, _ = run_cli(capsys, "audit", path, "--json")
    [f] = json.loads(out)["findings"]
    assert code == 1 and f["proof"]["issuer"] == alice.did and f["requirement"] == "ATT-022"
    code, out, _ = run_cli(capsys, "verify", path, "--json")  # valid, and the view holds the proof
    [p] = json.loads(out)["transcript"]["fork_proofs"]
    assert code == 0 and p == {"issuer": alice.did, "digests": [kept.digest.hex(), accept.digest.hex()]}
    honest_alice, honest_bob, log = full_trade(FixedClock())
    honest = tmp_path / "honest.json"
    envelopes = [*honest_alice.setup, *honest_bob.setup, *(vs.envelope for vs in log)]
    honest.write_text(json.dumps({"envelopes": [envelope_to_json(e) for e in envelopes]}))
    code, out, _ = run_cli(capsys, "audit", honest)
    assert code == 0 and out.endswith(": 0 hard proofs, 0 screen findings\n")


def test_screens_rank_the_adversary_they_target_first(
    market: tuple[audit_eval.Market, list[audit.Finding], dict[str, dict[str, float]]],
) -> None:
    _, _, scores = market

    def top(kind: str, n: int) -> set[str]:
        ranked = sorted(scores[kind], key=lambda name: (-scores[kind][name], name))
        return {name.rstrip("-0123456789") for name in ranked[:n]}

    assert top("feint", 2) == {"feinter"}
    assert top("ratchet", 2) == {"exaggerator"}
    assert top("cartel", 3) == {"cartel"}
    assert top("sybil-ring", 3) == {"sybil"}


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), rounds=st.integers(1, 2))
def test_hard_proofs_never_fire_on_honest_markets(seed: int, rounds: int) -> None:
    """Random honest markets (the five cooperative agents and a second honest one, stakes and
    categories at random, guards binding near their caps): no hard finding at all."""
    m = audit_eval.Market(audit_eval.TRAIN[seed % 3], seed=seed, rounds=rounds, adversaries=False)
    m.run()
    assert audit.audit(m.evidence(), facts=m.facts(), screens=False) == []


@settings(max_examples=25, deadline=None)
@example(ops=[(0, 1200, 0, 1000), (1, 700, 0, 1000), (2, 700, 1, 1000), (0, 700, 0, 1000)])
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 2), st.sampled_from([300, 700, 1200]), st.integers(0, 4), st.integers(0, 200_000)
        ),
        min_size=1,
        max_size=10,
    )
)
def test_over_commitment_never_fires_on_a_guarded_peer(ops: list[tuple[int, int, int, int]]) -> None:
    """A real Peer (policy guard) under tight caps offers to three counterparties and the answers
    arrive later, out of order, some never, some after the offer expired; one counterparty rejects
    everything. Whatever the timing, the audit of every statement signed finds no over-commitment
    (nor any other hard finding): its lower bounds never exceed what the guard counted."""
    from peers import make_peer

    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.runtime.peer import drive
    from reference_agents.cooperative import Honest

    clock = FixedClock()
    caps = {"max_per_deal": 1500, "max_outstanding": 2000, "budget_per_period": 6000, "period_ms": DAY_MS}
    me = Party("me", clock, mandate_caps=caps)
    peer = make_peer(me, clock)
    others = [Party(f"other-{k}", clock) for k in range(3)]
    peers = [
        make_peer(o, clock, strategy=Honest(min_ratio=2.0 if k == 2 else 0.5)) for k, o in enumerate(others)
    ]
    pending: list[tuple[int, VerifiedStatement]] = []
    for target, value, answer, wait in ops:
        with contextlib.suppress(CoopError):  # the guard refuses what is over a cap
            pending.append((target, peer.propose(peers[target].did, _even(me, value))))
        clock.advance(wait)
        if pending and answer < len(pending):
            k, offer = pending.pop(answer)
            with contextlib.suppress(CoopError):  # expired on the way, or refused
                drive(peer, peers[k].exchange, offer)
    held = {vs.digest: vs for p in (peer, *peers) for vs in p.verifier.statements.values()}
    assert audit.audit(held.values(), screens=False) == []


def test_the_evaluation_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A CI-sized run (one market per setting, one round): hard proofs have no false positive and
    the last line is the JSON report; a market is the same on a second run."""
    assert audit_eval.main(["--seeds", "1", "--rounds", "1", "--honest-runs", "0"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("hard proofs") and any(line.startswith("soft screens") for line in out)
    doc = json.loads(out[-1])
    assert set(doc["hard"]) == set(audit.HARD_KINDS) and set(doc["soft"]) == set(audit.SOFT_KINDS)
    assert all(h["false_positives"] == 0 and h["honest_false_positives"] == 0 for h in doc["hard"].values())
    for s in doc["soft"].values():
        assert 0 <= s["precision"] <= 1 and 0 <= s["pr_auc"] <= 1 and s["units"] > 0
    first, second = (audit_eval.run_market(audit_eval.TEST[1], 0, 1) for _ in range(2))
    assert (first.truth, first.hard, first.scores) == (second.truth, second.hard, second.scores)
    with pytest.raises(SystemExit) as exc:
        audit_eval.main(["--seeds", "0"])
    assert exc.value.code == 2


def test_average_precision_and_thresholds() -> None:
    assert audit_eval.average_precision([(0.9, True), (0.8, False), (0.7, True)]) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    assert audit_eval.average_precision([(0.1, False)]) == 0.0
    scored = [(0.9, True), (0.6, True), (0.5, False), (0.1, False)]
    assert audit_eval.best_threshold(scored) == 0.6
    assert audit_eval.prf(scored, 0.6) == (1.0, 1.0, 1.0)


def _cartel_market(
    *, insider_exclusive: bool, outsider_exclusive: bool
) -> tuple[Party, list[VerifiedStatement]]:
    """S takes two of insider Y's offers (code review for copy editing at par) and refuses outsider
    X's equally priced offer of the same items; who used an exclusive key is the parameter."""
    clock = FixedClock()
    s, y, x = Party("cartel-s", clock), Party("cartel-y", clock), Party("cartel-x", clock)
    held: list[VerifiedStatement] = [*map(verify_statement, [*s.setup, *y.setup, *x.setup])]
    for i in range(2):
        key = derive(f"cartel-key-{i}", 8) if insider_exclusive else b""
        offer = y.offer(s, y.proposal(exclusive_key=key))
        held += [offer, s.accept(offer)]
        clock.advance(1_000)
    outside = x.offer(s, x.proposal(exclusive_key=derive("cartel-x-key", 8) if outsider_exclusive else b""))
    held += [outside, s.reject(outside, "insiders only")]
    return s, held


def test_the_cartel_screen_compares_offers_by_what_they_ask_of_the_subject() -> None:
    """A refusal of a plain offer while taking exclusive ones is discriminating (an exclusive offer asks
    more of its acceptor: insiders cannot hide behind exclusive keys); a refusal of an exclusive offer
    while taking plain ones is not (it may collide with a live contract, NEG-009)."""
    s, held = _cartel_market(insider_exclusive=True, outsider_exclusive=False)
    assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]
    s, held = _cartel_market(insider_exclusive=False, outsider_exclusive=True)
    assert not [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"]
    s, held = _cartel_market(insider_exclusive=False, outsider_exclusive=False)
    assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]


def test_the_cartel_screen_does_not_let_insiders_hide_behind_their_own_escrow() -> None:
    """Insiders always name escrow E2; the outsider names E1, an escrow the subject also accepted an offer
    under: the refusal is discriminating (the escrow is a condition -- one the subject uses -- not a kind
    matched by equality). An outsider naming an escrow the subject never used is no equally good offer."""
    clock = FixedClock()
    s, y, z, x = (Party(f"cartel-esc-{n}", clock) for n in "syzx")
    held: list[VerifiedStatement] = [*map(verify_statement, [*s.setup, *y.setup, *z.setup, *x.setup])]
    e1, e2, e3 = (Party(f"cartel-escrow-{i}", clock).did for i in range(3))
    for _ in range(2):
        offer = y.offer(s, y.proposal(escrow=e2))
        held += [offer, s.accept(offer)]
        clock.advance(1_000)
    # An offer of another kind under E1, taken from a third party: the subject uses E1 too.
    other = [service("translation", value=500, deadline_ms=clock.now_ms + DAY_MS)]
    elsewhere = z.offer(s, z.proposal(escrow=e1, gives=other))
    held += [elsewhere, s.accept(elsewhere)]
    clock.advance(1_000)
    base = list(held)
    outside = x.offer(s, x.proposal(escrow=e1))
    held += [outside, s.reject(outside, "insiders only")]
    assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]
    untrusted = x.offer(s, x.proposal(escrow=e3))
    held = [*base, untrusted, s.reject(untrusted, "unknown escrow")]
    assert not [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"]


def test_the_cartel_screen_does_not_let_insiders_hide_behind_odd_revocation_terms() -> None:
    """Insiders always offer revocable terms with an odd notice period; the outsider offers the same
    deal with no exit at all, or with a longer notice, each holding it at least as firmly: the refusal
    is discriminating (the revocation terms are a condition -- no looser than terms the subject took --
    not a kind matched by equality). An outside offer that lets its proposer walk away more cheaply
    than any the subject took is no equally good offer."""
    clock = FixedClock()
    s, y, x = (Party(f"cartel-rev-{n}", clock) for n in "syx")
    held: list[VerifiedStatement] = [*map(verify_statement, [*s.setup, *y.setup, *x.setup])]
    escrow = Party("cartel-rev-escrow", clock).did
    odd = trade_pb2.Revocation(allowed=True, forfeit_bond=True, notice_ms=1_234_567)
    for _ in range(2):
        offer = y.offer(s, y.proposal(escrow=escrow, revocation=odd))
        held += [offer, s.accept(offer)]
        clock.advance(1_000)
    base = list(held)
    longer = trade_pb2.Revocation(allowed=True, forfeit_bond=True, notice_ms=2_000_000)
    for terms in (trade_pb2.Revocation(), longer):
        outside = x.offer(s, x.proposal(escrow=escrow, revocation=terms))
        held = [*base, outside, s.reject(outside, "insiders only")]
        assert [f.kind for f in audit.audit(held, subject=s.did) if f.kind == "cartel"] == ["cartel"]
    loose = x.offer(s, x.proposal(escrow=escrow, revocation=trade_pb2.Revocation(allowed=True)))
    held = [*base, loose, s.reject(loose, "you could walk away for free")]
    assert not [f for f in audit.audit(held, subject=s.did) if f.kind == "cartel"]
    assert audit.binds_at_least(trade_pb2.Revocation(), odd)
    assert not audit.binds_at_least(odd, trade_pb2.Revocation())
