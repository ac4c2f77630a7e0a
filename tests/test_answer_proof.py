"""equivocate25: two answers of one key to one statement are an answer proof (ATT-022), counted as a fork
proof is (ATT-012, ATT-013).

NEG-021 takes, of two answers of one key to one offer naming no escrow, the lower in the key's chain and
holds the other "as evidence against it" (NEG-018) -- but before ATT-022 no reputation rule read them.
Red team 24's reveal-later acceptor (tests/test_attack24_reveal_later.py) showed the cost: Alice keeps a
Reject of Bob's offer, sends an Accept one link above it, Bob's peer delivers, she reveals the Reject --
Bob's Delivery superseded, the contract displaced, Bob's peer stopped by NEG-022 -- and Alice's reputation
untouched. Every test below signs with real keys through the reference runtime (Bob's
:class:`~a2a_coop.runtime.peer.Peer`), asserts that the attack happened, then what the views hold.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from peers import make_peer
from test_attack24_reveal_later import _bobs_offer, _bodies, _lower_answers, _mirror

from a2a_coop._proto.a2acoop.v1 import reputation_pb2, trade_pb2
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.reputation import ratings
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party


def _reveal_later() -> tuple[Party, Party, object, VerifiedStatement, list[VerifiedStatement]]:
    """The reveal-later story: Alice's kept Reject (seq 0), her Accept (seq 1) that Bob's peer performs
    under, and her reveal of the Reject. Returns (alice, bob, Bob's peer, Bob's offer, [Reject, Accept,
    Bob's Delivery])."""
    clock, alice, bob, peer, offer = _bobs_offer()
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    sent = peer.on_replies([*alice.setup, accept.envelope])
    assert [vs.body for vs in sent] == ["delivery"]  # the attack happened: Bob performed under the Accept
    clock.advance(1_000)
    peer.exchange(kept.envelope, [])  # revealed
    neg = peer.negotiation(offer.negotiation_id)
    assert neg.state is State.REJECTED and {accept.digest, sent[0].digest} <= set(neg.superseded)
    return alice, bob, peer, offer, [kept, accept, sent[0]]


@pytest.mark.req("ATT-022", "ATT-013", "NEG-021")
@pytest.mark.parametrize("rule", ["ATT-022", "before"])
def test_the_reveal_later_acceptor_convicts_its_own_principal_in_bobs_view(
    rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before ATT-022 Bob's view held both of Alice's answers and scored her as it scored a stranger (the
    prior, 0.5): the reveal cost her nothing. Now the two answers are an answer proof in Bob's peer: Alice's
    key and her principal are faulty there (trust, score 0), the proof kept as his fork proofs are."""
    if rule == "before":
        monkeypatch.setattr(EvidenceVerifier, "_keep_answer_proof", lambda self, vs, refused=False: None)
    alice, bob, peer, _, (kept, accept, _) = _reveal_later()
    score = peer.reputation.score(alice.did)
    if rule == "before":
        assert alice.did not in peer.verifier.forks and not score.faulty and score.score == 0.5
        return
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {kept.envelope, accept.envelope}
    assert verify_fork_proof(proof) == alice.did  # offline, with no other context (ATT-012)
    assert score.faulty and score.score == 0.0 and score.trust == 0.0
    assert alice.principal.did in peer.reputation.faulty()
    assert bob.did not in peer.verifier.forks  # Bob's own key signed no second answer (ATT-017: no alarm)


@pytest.mark.req("ATT-022", "ATT-011", "ATT-013")
def test_the_answer_proof_travels_by_gossip_to_a_third_peer() -> None:
    """Bob's peer passes the answer proof on in a swap (ATT-011) as a fork proof; Carol's peer, which never
    traded with Alice, takes it (ATT-012) and holds Alice's principal faulty too (ATT-013)."""
    alice, bob, peer, _, _ = _reveal_later()
    carol = Party("carol", bob.clock)
    carols = make_peer(carol, bob.clock)
    _, proofs = peer.gossip([], [])
    assert peer.verifier.forks[alice.did] in proofs
    carols.gossip([], proofs)
    assert alice.did in carols.verifier.forks
    assert carols.reputation.score(alice.did).faulty


@pytest.mark.req("ATT-022", "NEG-021")
def test_every_view_of_the_two_answers_holds_the_proof_whichever_came_first() -> None:
    """A view of evidence (no peer) fed the story's statements in every order holds the answer proof
    against Alice, whether it took her Reject first (her Accept then taken superseded) or her Accept first
    (cut back by the Reject, NEG-021)."""
    alice, bob, _, offer, items = _reveal_later()
    setup = [*alice.setup, *bob.setup, offer.envelope]
    kept, accept, delivery = items
    orders = 0
    for order in itertools.permutations(items):
        if order.index(delivery) < order.index(accept):
            continue  # Bob's Delivery names the Accept's contract
        orders += 1
        v = EvidenceVerifier()
        for env in setup:
            v.accept(env)
        for vs in order:
            v.accept_statement(vs)
        assert set(v.forks) == {alice.did}, [vs.body for vs in order]
        assert {v.forks[alice.did].first, v.forks[alice.did].second} == {kept.envelope, accept.envelope}
    assert orders == 3


@pytest.mark.req("ATT-022", "NEG-022")
def test_bobs_own_answers_under_neg_022_never_convict_his_key() -> None:
    """The honest side of NEG-022: Alice keeps three Counters below her Accept and reveals them one at a
    time; Bob's peer answers each revealed Counter with a Reject -- each an answer to another statement,
    so no pair of his is an answer proof -- while every pair of hers is. His key is never convicted, hers
    is."""
    clock, alice, bob, peer, offer = _bobs_offer()
    counters = _lower_answers(alice, clock, offer, 3)
    accept = alice.accept(offer)
    assert _bodies([e.envelope for e in peer.on_replies([*alice.setup, accept.envelope])]) == ["delivery"]
    for counter in reversed(counters):
        clock.advance(1_000)
        assert _bodies(peer.exchange(counter.envelope, [])) == ["reject"]
    bobs = [vs for vs in peer.verifier.statements.values() if vs.issuer == bob.did]
    assert sum(vs.body == "reject" for vs in bobs) == 3
    for a, b in itertools.combinations(bobs, 2):
        with pytest.raises((CoopError, ValueError)):
            verify_fork_proof(ForkProof(a.envelope, b.envelope))
    assert set(peer.verifier.forks) == {alice.did}
    assert not peer.reputation.score(bob.did).faulty


@pytest.mark.req("ATT-022")
def test_an_honest_bargain_answers_each_statement_once_and_convicts_nobody() -> None:
    """Alice counters Bob's offer; Bob's peer accepts her Counter (an answer to another statement than
    her Counter answered) and delivers: no answer proof anywhere, and no pair of either key's statements
    is one."""
    _, alice, _, peer, offer = _bobs_offer()
    counter = alice.counter(offer, _mirror(offer))
    sent = peer.on_replies([*alice.setup, counter.envelope])
    assert [vs.body for vs in sent] == ["accept", "delivery"]
    assert not peer.verifier.forks
    signed = [counter, *sent]
    for a, b in itertools.combinations(signed, 2):
        with pytest.raises((CoopError, ValueError)):
            verify_fork_proof(ForkProof(a.envelope, b.envelope))


@pytest.mark.req("ATT-022", "ATT-012")
def test_an_answer_proof_needs_one_key_two_answers_and_one_statement() -> None:
    """What is no answer proof: one answer twice, answers of two keys to one offer, two answers of one key
    to two statements, a Withdraw of the offer beside an answer to it (a Withdraw is no answer). Each is
    refused offline; the real pair verifies in either order."""
    clock, alice, bob, _, offer = _bobs_offer()
    carol = Party("carol", clock)
    reject = alice.reject(offer)
    clock.advance(1_000)
    accept = alice.accept(offer)
    other_offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    elsewhere = alice.accept(other_offer)
    by_carol = carol.accept(offer)
    clock.advance(1_000)
    withdraw = alice.withdraw(offer)  # her key, citing the offer her Reject answers: but no answer
    for first, second in [(reject, accept), (accept, reject)]:
        assert verify_fork_proof(ForkProof(first.envelope, second.envelope)) == alice.did
    for first, second in [(reject, reject), (reject, by_carol), (accept, elsewhere), (withdraw, reject)]:
        with pytest.raises(ValueError):
            verify_fork_proof(ForkProof(first.envelope, second.envelope))


@pytest.mark.req("ATT-022", "ATT-001")
def test_bobs_attestation_of_the_displaced_contract_is_held_and_weighs_nothing() -> None:
    """Bob may attest the contract Alice's reveal displaced: both signed it (ATT-001 holds, his view takes
    the attestation), but it is no longer the negotiation's contract and rates nobody -- under no escrow
    it had no stake (ATT-004) anyway. What counts against Alice is the answer proof, which zeroes her
    principal outright."""
    alice, bob, peer, offer, (kept, accept, delivery) = _reveal_later()
    msg = reputation_pb2.Attestation(
        subject=alice.did, offer=offer.digest, accept=accept.digest, outcome=reputation_pb2.OUTCOME_BREACHED
    )
    att = peer.sign("attestation", msg)  # Bob's peer signs it: its guard takes it (ATT-001)
    v = EvidenceVerifier()
    for env in [*alice.setup, *bob.setup]:
        v.accept(env)
    for vs in [offer, accept, att]:
        v.accept_statement(vs)
    assert att.digest in v.attestations  # admissible: the contract was co-signed
    assert ratings(v, [att], trusted_escrows=()) != []  # before the reveal: rated (stake 0, no escrow)
    for vs in [delivery, kept]:  # then the reveal
        v.accept_statement(vs)
    assert ratings(v, [att], trusted_escrows=()) == []  # displaced: it rates nobody
    assert alice.did in v.forks


@pytest.mark.req("ATT-022", "NEG-025")
@pytest.mark.parametrize("first", ["reject", "counter"])
def test_a_second_answer_held_under_an_escrow_still_leaves_the_proof(first: str) -> None:
    """Under terms naming an escrow NEG-021 does not apply: a second answer the offer's escrow did not
    witness, an Accept, is held with no event until that escrow's Stamp orders the two (NEG-025; it was
    refused, ILLEGAL_TRANSITION after a Reject, STALE_REFERENCE after a Counter, before neg29) -- and the
    pair is an answer proof all the same, as a refusal kept it (ATT-011): an honest key answers a
    statement once, whatever its terms."""
    from a2a_coop.testing import FixedClock

    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(issuer_bond=10, audience_bond=10, escrow=escrow.did))
    clock.advance(1_000)
    answer = alice.reject(offer) if first == "reject" else alice.counter(offer, _mirror(offer))
    clock.advance(1_000)
    second = alice.accept(offer)
    v = EvidenceVerifier()
    for env in [*alice.setup, *bob.setup]:
        v.accept(env)
    v.accept_statement(offer)
    v.accept_statement(answer)
    v.accept_statement(second)
    neg = v.negotiations.by_id[offer.negotiation_id]
    assert neg.contract is None and second.digest in neg.superseded  # held: it moves nothing
    assert verify_fork_proof(v.forks[alice.did]) == alice.did
    assert {v.forks[alice.did].first, v.forks[alice.did].second} == {answer.envelope, second.envelope}


@pytest.mark.req("ATT-022", "ATT-012")
def test_a2a_coop_verify_checks_the_shipped_answer_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a2a-coop verify` takes the shipped answer proof (exit 0, "answered one statement twice") and refuses
    one whose second envelope answers another statement (exit 1): the proof is the two answers' `offer`
    fields, which the key signed."""
    from cli_run import run_cli

    shipped = Path(__file__).parent.parent / "conformance" / "vectors" / "equivocation-proof-answer.json"
    code, out, _ = run_cli(capsys, "verify", str(shipped))
    assert code == 0 and "answered one statement twice, at seq 0 and 1" in out
    doc = json.loads(shipped.read_text())
    _, alice, bob, _, offer = _bobs_offer()
    alice.reject(offer)
    other = bob.offer(alice, bob.proposal())
    doc["issuer"], doc["first"] = alice.did, envelope_to_json(alice.accept(offer).envelope)
    doc["second"] = envelope_to_json(alice.accept(other).envelope)
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps(doc))
    code, out, _ = run_cli(capsys, "verify", str(fake))
    assert code == 1 and "invalid equivocation proof" in out


@pytest.mark.req("ATT-022", "ATT-013")
@pytest.mark.parametrize("first", ["reject", "accept"])
def test_a_journaled_peer_keeps_the_answer_proof_across_a_restart(
    first: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ATT-013: a peer keeps every fork proof across restarts -- an answer proof too. Bob's journaled peer
    takes Alice's two answers (her Reject first: the negotiation ends and her Accept comes after it; or
    her Accept first, performed, then the Reject revealed), restarts on its journal, and still holds the
    proof and scores her faulty; `a2a-coop reputation ALICE` on that journal prints her FAULTY and why."""
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.peer import META_MANDATE

    clock, alice, bob, _, offer = _bobs_offer()
    journal = Journal.open(tmp_path / "bob.db")
    journal.put_meta(META_MANDATE, bob.mandate_vs.envelope)  # what `a2a-coop serve` records
    peer = make_peer(bob, clock, journal=journal)
    offer = peer.propose(alice.did, bob.proposal())
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    if first == "reject":
        peer.on_replies([*alice.setup, kept.envelope])
        peer.exchange(accept.envelope, [])
    else:
        assert [vs.body for vs in peer.on_replies([*alice.setup, accept.envelope])] == ["delivery"]
        peer.exchange(kept.envelope, [])
    assert alice.did in peer.verifier.forks
    journal.close()
    journal = Journal.open(tmp_path / "bob.db")
    restarted = make_peer(bob, clock, journal=journal, run=1)
    proof = restarted.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {kept.envelope, accept.envelope}
    assert restarted.reputation.score(alice.did).faulty
    journal.close()
    if first == "accept":  # and what `a2a-coop reputation` reads from that journal
        from a2a_coop.cli.main import main
        from a2a_coop.runtime.keyfile import write_key_file

        write_key_file(tmp_path / "bob.key", bob.agent.key)
        argv = [
            "reputation",
            alice.did,
            "--journal",
            str(tmp_path / "bob.db"),
            "--key",
            str(tmp_path / "bob.key"),
        ]
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "FAULTY" in text and "two answers of its key to one statement, ATT-022" in text


@pytest.mark.req("ATT-022", "ATT-013")
def test_keeping_the_answer_proof_reads_each_held_answer_at_most_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Work, not seconds: Alice's 40 Accepts of one offer of Bob's, revealed highest first to a view of
    evidence (the cut-back attack of tests/test_attack24_cut_back.py). The second convicts her key; each
    further one, the key convicted, is still ranked against the proof held (ATT-013 (c)) -- and each is read
    once, weighed against two answers (its key's earliest and best pair to that offer), never against the
    negotiation's answers again: the answers read and the pairs ranked stay linear in the answers signed
    (a scan per answer read 800). The proof kept is the pair dated earliest, whatever order came."""
    from a2a_coop.runtime import evidence
    from a2a_coop.testing import FixedClock

    read: list[int] = []
    ranked: list[int] = []
    real_answered, real_rank = evidence.answered, evidence.pair_rank

    def counted_answered(vs: VerifiedStatement) -> bytes:
        read.append(1)
        return real_answered(vs)

    def counted_rank(*args: object) -> tuple[int, bytes, bytes]:
        ranked.append(1)
        return real_rank(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(evidence, "answered", counted_answered)
    monkeypatch.setattr(evidence, "pair_rank", counted_rank)
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(40):
        clock.advance(1)
        accepts.append(alice.accept(offer))
    view = EvidenceVerifier()
    for env in [*alice.setup, *bob.setup, offer.envelope]:
        view.accept(env)
    for accept in reversed(accepts):
        view.accept_statement(accept)
    assert set(view.forks) == {alice.did}  # the attack happened, and was caught
    assert {view.forks[alice.did].first, view.forks[alice.did].second} == {a.envelope for a in accepts[:2]}
    assert 0 < len(read) <= 2 * len(accepts)
    assert 0 < len(ranked) <= 6 * len(accepts)


@pytest.mark.req("ATT-022", "ATT-013")
def test_a_journaled_peer_keeps_the_proof_of_a_late_answer_after_forgetting_its_negotiation(
    tmp_path: Path,
) -> None:
    """ATT-022 (b) in bounded memory: Bob's journaled peer takes Alice's Reject of his offer naming an escrow
    and forgets the negotiation (ended for good, the journal keeps it). Alice's Accept of the same offer,
    signed before the offer expired and revealed after, is refused `EXPIRED` (section 11 step 25) before
    step 28 would read the negotiation back -- and the pair is kept all the same, read back from the
    journal, across a restart too. Before, it was kept only by a peer that had not forgotten: Alice's
    choice of when to reveal, against Bob's memory, decided her conviction there."""
    from a2a_coop.protocol.errors import Expired
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.testing import FixedClock

    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    journal = Journal.open(tmp_path / "bob.db")
    peer = make_peer(bob, clock, journal=journal, context=[escrow.mandate_vs.envelope])
    offer = peer.propose(alice.did, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    kept = alice.reject(offer, "no")
    clock.advance(1_000)
    late = alice.accept(offer)
    assert peer.on_replies([*alice.setup, kept.envelope]) == []
    assert offer.negotiation_id not in peer.verifier.negotiations.by_id and peer.forgotten == 1  # forgotten
    clock.advance(late.expires_at_ms - clock.now_ms + 600_000)
    with pytest.raises(Expired):
        peer.exchange(late.envelope, [])  # the attack happened: refused before its negotiation was read
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {kept.envelope, late.envelope}
    assert peer.reputation.score(alice.did).faulty
    journal.close()
    journal = Journal.open(tmp_path / "bob.db")
    restarted = make_peer(bob, clock, journal=journal, run=1, context=[escrow.mandate_vs.envelope])
    assert alice.did in restarted.verifier.forks
    journal.close()


def _refused_after_a_withdraw(
    tmp_path: Path, order: tuple[int, ...], *, forget: bool, late: bool, archive: str = "writer"
) -> tuple[EvidenceVerifier, list[VerifiedStatement]]:
    """A view of evidence with a journal takes Bob's offer naming an escrow and his Withdraw of it; Alice's
    three answers to the offer (two Rejects and a Counter, a second apart, signed before the Withdraw -- not
    an Accept: within the offer's life one is held superseded, not refused, NEG-025) come after, in
    ``order``, each refused -- the negotiation is over (ILLEGAL_TRANSITION), or, ``late``,
    the offer expired (EXPIRED, section 11 step 25, before the negotiation is read). ``forget``: the view
    forgets the negotiation before each (bounded memory, section 4.5). ``archive`` "reader": the view reads
    a journal opened to read, which takes no rows. Returns (the view, Alice's answers)."""
    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.testing import FixedClock

    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    answers = []
    for sign in (
        lambda o: alice.reject(o, "never"),
        lambda o: alice.reject(o, "no"),
        lambda o: alice.counter(o, _mirror(o)),
    ):
        clock.advance(1_000)
        answers.append(sign(offer))
    clock.advance(1_000)
    withdraw = bob.withdraw(offer)
    path = tmp_path / f"{order}-{forget}-{late}-{archive}.db"
    journal = Journal.open(path, durability="normal")
    reader = Journal.open(path, lock=False) if archive == "reader" else None
    view = EvidenceVerifier()
    view.use_archive(reader or journal)
    for env in [*alice.setup, *bob.setup, *escrow.setup]:
        view.accept(env)
    for vs in (offer, withdraw):
        view.accept_statement(vs, clock.now_ms)
        journal.record_batch([(vs, [], False)], at_ms=0)
    now = offer.expires_at_ms + 600_000 if late else clock.now_ms
    for i in order:
        if forget and offer.negotiation_id in view.negotiations.by_id:
            view.forget_negotiation(offer.negotiation_id)  # read back by a refusal, or never forgotten
            assert offer.negotiation_id not in view.negotiations.by_id
        with pytest.raises(CoopError) as refused:
            view.accept_statement(answers[i], now)
        assert refused.value.code == ("EXPIRED" if late else "ILLEGAL_TRANSITION")  # the attack happened
    for j in (journal, reader):
        if j is not None:
            j.close()
    return view, answers


@pytest.mark.req("ATT-022", "ATT-013")
@pytest.mark.parametrize("late", [False, True], ids=["ended", "expired"])
def test_two_refused_answers_across_a_forgetting_are_still_an_answer_proof(
    tmp_path: Path, late: bool
) -> None:
    """ATT-013 (c) in bounded memory (proof29): a key's answers to one statement that a view refuses join no
    negotiation (ERR-003), so a view that forgot the negotiation between two of them read it back without
    the first -- and found no pair, where a view that had not forgotten kept the answer proof: Alice's two
    refused answers to Bob's withdrawn offer convicted her there and not here, the peer's memory deciding.
    Now the refused answers a forgotten negotiation's index held (its earliest and best pair, at most three
    per key and statement) go to the archive with it and come back with it: in every order of her three
    answers, each view keeps the same proof -- the pair dated earliest."""
    for order in itertools.permutations(range(3)):
        kept = []
        for forget in (False, True):
            view, answers = _refused_after_a_withdraw(tmp_path, order, forget=forget, late=late)
            alice = answers[0].issuer
            assert alice in view.forks, (order, forget)
            proof = view.forks[alice]
            kept.append({proof.first, proof.second})
        assert kept[0] == kept[1] == {answers[0].envelope, answers[1].envelope}, order


@pytest.mark.req("ATT-022", "ATT-013")
def test_refused_answers_set_aside_stay_in_memory_when_the_archive_only_reads(tmp_path: Path) -> None:
    """The refused answers of a forgotten negotiation are kept in memory, as the held-off marks are, when the
    archive cannot take them (a journal opened to read): the pair is found all the same."""
    for order in [(2, 1, 0), (0, 2, 1)]:
        view, answers = _refused_after_a_withdraw(tmp_path, order, forget=True, late=False, archive="reader")
        proof = view.forks[answers[0].issuer]
        assert {proof.first, proof.second} == {answers[0].envelope, answers[1].envelope}
        assert view._refused_aside  # the archive took no row: memory held them


def _withdrawn(clock: FixedClock, journal: Journal) -> tuple[Party, Party, Peer, VerifiedStatement]:
    """Bob's journaled peer offers Alice terms naming no escrow (her Mandate held: it asked for it) and,
    a second later, withdraws the offer. Returns (alice, bob, Bob's peer, the offer)."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    peer = make_peer(bob, clock, journal=journal)
    offer = peer.propose(alice.did, bob.proposal())
    assert peer.on_replies(list(alice.setup)) == []  # her Mandate, held
    clock.advance(1_000)
    withdraw = trade_pb2.Withdraw(offer=offer.digest, reason="changed my mind")
    peer.sign("withdraw", withdraw, audience=alice.did, negotiation_id=offer.negotiation_id)
    return alice, bob, peer, offer


def _answer(alice: Party, offer: VerifiedStatement, i: int) -> VerifiedStatement:
    """Alice's ``i``-th answer to ``offer``: an Accept, a Reject, a Counter."""
    if i == 0:
        return alice.accept(offer)
    return alice.reject(offer, "no") if i == 1 else alice.counter(offer, _mirror(offer))


@pytest.mark.req("ATT-022", "ATT-013")
@pytest.mark.parametrize("restart", ["same-run", "replayed", "from-snapshot"])
def test_two_refused_answers_across_a_restart_are_still_an_answer_proof(tmp_path: Path, restart: str) -> None:
    """ATT-013 (c) across a restart (proof30): Bob's peer refuses Alice's Counter, then her Accept, of his
    withdrawn offer (ILLEGAL_TRANSITION), restarts from its journal, then refuses her Reject of it -- her
    three answers dated a second apart, Accept first. Refusals join no negotiation (ERR-003) and the journal
    held no refused statement, so the index of her answers the restarted peer rebuilt lacked the Accept and
    the Counter -- and found no pair, where the peer that had not restarted kept the pair dated earliest
    (Accept, Reject): Alice, waiting for Bob's restart to reveal her Reject, went free. Now each refused
    answer that becomes one of the three is written to the journal's evidence book as it comes, and read
    back with the negotiation; a start from a snapshot taken after the Counter, before the Accept, holds no
    index of her answers (it held the Counter alone) but rebuilds it from that book."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, bob, peer, offer = _withdrawn(clock, journal)
    answers = []
    for i in range(3):
        clock.advance(1_000)
        answers.append(_answer(alice, offer, i))
    assert peer.forgotten == 0  # in memory when they are refused: the index alone held them
    for i in (2, 0, 1):
        if i == 0 and restart == "from-snapshot":
            assert peer.save_snapshot()
        if i == 1 and restart != "same-run":
            journal.close()
            journal = Journal.open(tmp_path / "bob.db")
            peer = make_peer(bob, clock, journal=journal, run=1)
            assert (peer.resumed_from is not None) is (restart == "from-snapshot")
        with pytest.raises(CoopError) as refused:
            peer.exchange(answers[i].envelope, [])
        assert refused.value.code == "ILLEGAL_TRANSITION"  # the attack happened: each refused
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {answers[0].envelope, answers[1].envelope}
    assert peer.reputation.score(alice.did).faulty
    # The Reject only re-ranks the proof against her, convicted durably already: it lands with the next
    # commit (ATT-013 (e), proof32), here the flush a node's close makes.
    peer.flush_evidence()
    assert not peer.verifier._refused_aside  # the journal took them: no set-aside answer stays in memory
    journal.close()


def _dated_back_reject(
    clock: FixedClock, journal: Journal
) -> tuple[Party, Party, Peer, VerifiedStatement, VerifiedStatement]:
    """Bob's journaled peer offers Alice terms naming no escrow; she signs a Reject of it and sends it more
    than the skew later, so his peer refuses it `ISSUED_IN_PAST` (TIM-006). Returns (alice, bob, Bob's peer,
    the offer, the Reject)."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    peer = make_peer(bob, clock, journal=journal)
    offer = peer.propose(alice.did, bob.proposal())
    assert peer.on_replies(list(alice.setup)) == []  # her Mandate, held
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(peer.verifier.skew_ms + 1_000)
    with pytest.raises(CoopError) as refused:
        peer.exchange(kept.envelope, [])
    assert refused.value.code == "ISSUED_IN_PAST"  # dated back: the signer's choice of issued_at_ms
    return alice, bob, peer, offer, kept


@pytest.mark.req("ATT-022", "ATT-013", "TIM-006")
@pytest.mark.parametrize("restart", ["same-run", "forgotten", "replayed", "from-snapshot"])
def test_a_refused_answer_and_a_taken_one_across_a_restart_are_an_answer_proof(
    tmp_path: Path, restart: str
) -> None:
    """ATT-013 (c) (pair30): Alice's Reject of Bob's offer, sent more than the skew after she dated it, is
    refused `ISSUED_IN_PAST` -- and weighed as an answer all the same (a refusal TIM-006 makes is one the
    view refuses from the statement's audience). Her Accept of the same offer, a fresh one, is taken, the
    negotiation superseding nothing (the Reject joined none). A peer that kept the negotiation in memory
    paired the two; one that forgot it or restarted between them (replaying its journal, or from a snapshot)
    did not: its index of her answers was rebuilt only at a refusal or a superseded answer, so the Accept
    never met the Reject its journal's evidence book held -- Alice, timing her Accept after Bob's restart,
    went free there. Now a negotiation's first taken answer since its index was dropped reads that book."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, bob, peer, offer, kept = _dated_back_reject(clock, journal)
    if restart == "from-snapshot":
        assert peer.save_snapshot()
    if restart == "forgotten":
        peer.verifier.forget_negotiation(offer.negotiation_id)  # bounded memory: read back by the Accept
    elif restart != "same-run":
        journal.close()
        journal = Journal.open(tmp_path / "bob.db")
        peer = make_peer(bob, clock, journal=journal, run=1)
        assert (peer.resumed_from is not None) is (restart == "from-snapshot")
    clock.advance(1_000)
    accept = alice.accept(offer)
    # Bob delivers under the Accept he took, restarted or not (resume31: what pair30 saw missing here was
    # the test's restarted peer drawing its first nonce again, which its guard refused NONCE_REUSED).
    assert [vs.body for vs in peer.on_replies([accept.envelope])] == ["delivery"]
    neg = peer.negotiation(offer.negotiation_id)
    assert neg.contract is not None and not neg.superseded  # the Accept taken, superseding nothing
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {kept.envelope, accept.envelope}
    assert peer.reputation.score(alice.did).faulty
    journal.close()


@pytest.mark.req("ATT-013")
def test_the_refused_answers_of_a_negotiation_brought_back_are_looked_for_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price of the look above: one read of the evidence book per negotiation brought back, at its first
    taken answer, not one per answer -- an honest bargain of six Counters after a restart reads it once."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal = Journal.open(tmp_path / "view.db")
    view = EvidenceVerifier()
    view.use_archive(journal)
    for env in [*alice.setup, *bob.setup]:
        view.accept(env)
    reads: list[bytes] = []
    looked = EvidenceVerifier._refused_of
    monkeypatch.setattr(
        EvidenceVerifier, "_refused_of", lambda self, nid: reads.append(nid) or looked(self, nid)
    )
    line = [bob.offer(alice, bob.proposal())]
    for i in range(6):
        clock.advance(1_000)
        party = (alice, bob)[i % 2]
        line.append(party.counter(line[-1], _mirror(line[-1])))
    for vs in line:
        view.accept_statement(vs, clock.now_ms)
        journal.record_batch([(vs, [], False)], at_ms=0)
    assert reads == [line[0].negotiation_id]  # the first answer looked; the five after it did not
    view.forget_negotiation(line[0].negotiation_id)
    clock.advance(1_000)
    view.accept_statement(alice.accept(line[-1]), clock.now_ms)  # read back: looked for again, once
    assert reads == [line[0].negotiation_id] * 2
    assert not view.forks
    journal.close()


@pytest.mark.req("ATT-022", "ATT-013", "TIM-006")
def test_the_reveal_later_acceptors_reject_revealed_after_the_skew_still_convicts() -> None:
    """Red team 24's reveal-later acceptor waiting out the skew (pair30): Alice's kept Reject, revealed to
    Bob's peer more than 30 s after she dated it, is refused `ISSUED_IN_PAST` (TIM-006) -- it supersedes
    nothing there, Bob's contract stands -- and is weighed as an answer all the same (ATT-013 (c)): her
    Reject and her Accept convict her, as when she revealed it within the skew. The issued_at_ms is
    hers: were a refusal for it no answer, dating the Reject back would be her way out."""
    clock, alice, _, peer, offer = _bobs_offer()
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert [vs.body for vs in peer.on_replies([*alice.setup, accept.envelope])] == ["delivery"]
    clock.advance(peer.verifier.skew_ms + 1_000)
    with pytest.raises(CoopError) as refused:
        peer.exchange(kept.envelope, [])  # revealed
    assert refused.value.code == "ISSUED_IN_PAST"
    neg = peer.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest  # Bob's contract stands
    proof = peer.verifier.forks[alice.did]
    assert {proof.first, proof.second} == {kept.envelope, accept.envelope}
    assert peer.reputation.score(alice.did).faulty
