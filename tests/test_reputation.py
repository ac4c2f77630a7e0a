"""Reputation (SPEC.md section 10): what an attestation weighs, the aggregation, fork proofs by gossip,
attestations between real peers over gRPC, the trust policy, and attacks on all of it with numbers
(section 10.6's table states the bounds these tests check)."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from peers import make_peer
from society import Society, names

from a2a_coop._proto.a2acoop.v1 import identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.errors import RequestInvalid
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.reputation import Rating, attestation_evidence, rate
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.trust import DAY_MS, RatingTable, TrustParams, aggregate
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.runtime.reputation import Reputation, TrustPolicy, TrustRefused
from a2a_coop.runtime.strategy import Accept, HonestStrategy, OfferView
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import FixedClock, Party, service
from a2a_coop.transport import CooperationClient, EscrowClient, serve

NOW = 1_800_000_000_000
H = 90 * DAY_MS


def _table(rows: list[tuple[str, str, float, float, int]]) -> RatingTable:
    """(rater, subject, stake, score, settled_ms) rows as a table."""
    return RatingTable.from_ratings(
        Rating(i.to_bytes(4, "big"), r, s, r, s, 1, 0, int(stake), score, t, "")
        for i, (r, s, stake, score, t) in enumerate(rows)
    )


# --- the aggregation alone: pure functions over ratings ---------------------------------------------


@pytest.mark.req("ATT-003", "ATT-006")
def test_a_pair_is_a_beta_of_its_decayed_outcomes() -> None:
    """Seed R rates S twice: a fulfilment now and a breach one half-life ago. Expect the pair's Beta to
    be G = 1, B = 0.5 (the old breach counts half): with a pair cap of 10, S's alpha = 1 + 1 and
    beta = 1 + 0.5, score 2 / 3.5, uncertainty 2 / 3.5; with the default cap (one vote, scaled by
    1 / 1.5), alpha = 1 + 2/3, beta = 1 + 1/3; and the same breach now to count fully."""
    rows = [("R", "S", 100, 1.0, NOW), ("R", "S", 100, 0.0, NOW - H)]
    view = aggregate(_table(rows), ["R"], NOW, TrustParams(pair_cap=10))
    s = view.score("S")
    assert (view.alpha[view.index["S"]], view.beta[view.index["S"]]) == pytest.approx((2.0, 1.5))
    assert (s.score, s.uncertainty, s.evidence) == (pytest.approx(2 / 3.5), pytest.approx(2 / 3.5), 2)
    capped = aggregate(_table(rows), ["R"], NOW)
    assert (capped.alpha[capped.index["S"]], capped.beta[capped.index["S"]]) == pytest.approx((5 / 3, 4 / 3))
    fresh = aggregate(_table([("R", "S", 100, 1.0, NOW), ("R", "S", 100, 0.0, NOW)]), ["R"], NOW)
    assert fresh.score("S").score == pytest.approx(0.5)
    # An attestation settled "in the future" ages from nothing, never counts more than 1.
    ahead = aggregate(_table([("R", "S", 100, 1.0, NOW + H)]), ["R"], NOW)
    assert ahead.alpha[ahead.index["S"]] == pytest.approx(2.0)


@pytest.mark.req("ATT-004")
def test_zero_stake_ratings_count_zero() -> None:
    """A table with 1,000 zero-stake praises of S and one without: expect identical views."""
    base = [("R", "T", 100, 1.0, NOW)]
    praise = [("R", "S", 0, 1.0, NOW)] * 1000
    a, b = aggregate(_table(base + praise), ["R"], NOW), aggregate(_table(base), ["R"], NOW)
    assert a.score("S").score == b.score("S").score == 0.5 and a.score("S").uncertainty == 1.0
    assert a.score("T") == b.score("T")


@pytest.mark.req("ATT-008", "ATT-009")
def test_trust_flows_only_from_the_viewers_seeds() -> None:
    """Seed A rates B; B rates C; a ring X, Y, Z praises itself with a thousand times the stake.
    Expect trust A > B > C > 0, the ring 0 (and prior scores), sum of trust 1; a viewer seeded at X
    sees the ring instead."""
    rows = [("A", "B", 100, 1.0, NOW), ("B", "C", 100, 1.0, NOW)]
    rows += [(r, s, 100_000, 1.0, NOW) for r, s in itertools.permutations("XYZ", 2)] * 5
    table = _table(rows)
    view = aggregate(table, ["A"], NOW)
    t = {p: view.score(p).trust for p in "ABCXYZ"}
    assert t["A"] > t["B"] > t["C"] > 0 and t["X"] == t["Y"] == t["Z"] == 0
    assert float(view.trust.sum()) == pytest.approx(1.0)
    assert {view.score(p).score for p in "XYZ"} == {0.5}
    assert view.converged and view.iterations <= 40
    other = aggregate(table, ["X"], NOW)
    assert other.score("Y").trust > 0 and other.score("B").trust == 0
    with pytest.raises(ValueError):
        aggregate(table, [], NOW)
    with pytest.raises(ValueError):
        TrustParams(damping=0)


@pytest.mark.req("ATT-008", "ATT-010")
def test_local_trust_and_score_formulas() -> None:
    """Seed R: one fulfilment of S (stake 300), one fulfilment and one breach of T. Expect local trust
    c(R,S) = 300 * 1 / 3 = 100 and c(R,T) = 0 (an even record earns none), so T gets no trust; and
    scores from R's full voice: S 2/3, T 2/4."""
    view = aggregate(
        _table([("R", "S", 300, 1.0, NOW), ("R", "T", 100, 1.0, NOW), ("R", "T", 100, 0.0, NOW)]), ["R"], NOW
    )
    assert view.score("T").trust == 0 and view.score("S").trust > 0
    assert view.score("S").score == pytest.approx(2 / 3) and view.score("T").score == pytest.approx(0.5)
    assert view.score("nobody") == view.score("nobody") and view.score("nobody").uncertainty == 1.0


class _Held:
    """What :meth:`Reputation.score` reads of a verifier: KEY-007's bindings and the Mandates held."""

    def __init__(self, bound: dict[str, set[str]], mandates: list[tuple[str, str]]) -> None:
        self.bound = bound
        self.mandates = {
            i.to_bytes(4, "big"): SimpleNamespace(principal=p, mandate=identity_pb2.Mandate(agent=a))
            for i, (p, a) in enumerate(mandates)
        }


@pytest.mark.req("ATT-007")
def test_a_key_of_two_principals_of_one_score_is_scored_by_numbers_never_by_their_names() -> None:
    """Seed R fulfils one contract with principal "P-rich" at stake 1000 and one with "Q-poor" at stake
    10: both score (1 + 1)/(1 + 1 + 1) alike, but vouch 1000 and 10 (ATT-016). A key bound to both is
    scored as the worst: expect Q-poor's record (vouched 10), though "P-rich" sorts first -- ordered by
    name, the key's holder, who grinds did:keys for free, chose which record a tie showed. A key that
    signed nothing, with a Mandate of each, is scored as the best: expect P-rich's, whatever the names."""
    view = aggregate(_table([("R", "P-rich", 1000, 1.0, NOW), ("R", "Q-poor", 10, 1.0, NOW)]), ["R"], NOW)
    rich, poor = view.score("P-rich"), view.score("Q-poor")
    assert rich.score == poor.score and rich.vouched_stake > poor.vouched_stake > 0
    for first, second in (("P-rich", "Q-poor"), ("Q-poor", "P-rich")):
        held = _Held({"K": {first, second}}, [(first, "N"), (second, "N")])
        rep = Reputation(lambda held=held: held, seeds=["R"], escrows=(), clock=lambda: NOW)  # type: ignore[arg-type,misc]
        rep.view = lambda: view  # type: ignore[method-assign]
        assert rep.score("K").principal == "Q-poor"  # bound to both: the worst
        assert rep.score("N").principal == "P-rich"  # signed nothing: the best holding a Mandate for it


@pytest.mark.req("ATT-010")
def test_one_raters_word_on_one_subject_counts_for_at_most_the_pair_cap() -> None:
    """Seed R fulfils 500 trades with S. Expect S's alpha to be 1 + K (K = 1: one vote), not 501; and
    with K = 10, 11."""
    view = aggregate(_table([("R", "S", 100, 1.0, NOW)] * 500), ["R"], NOW)
    assert view.alpha[view.index["S"]] == pytest.approx(1 + TrustParams().pair_cap) == 2
    wider = aggregate(_table([("R", "S", 100, 1.0, NOW)] * 500), ["R"], NOW, TrustParams(pair_cap=10))
    assert wider.alpha[wider.index["S"]] == pytest.approx(11)


@pytest.mark.req("ATT-013")
def test_a_faulty_principal_gets_nothing_and_its_word_counts_nothing() -> None:
    """F is convicted of a fork: expect trust, score and uncertainty 0 for it, and its praise of P
    to count nothing (P scores the prior)."""
    rows = [("A", "F", 100, 1.0, NOW), ("F", "P", 100, 1.0, NOW)]
    view = aggregate(_table(rows), ["A"], NOW, faulty=["F"])
    f = view.score("F")
    assert f.faulty and (f.trust, f.score, f.uncertainty) == (0.0, 0.0, 0.0)
    assert view.score("P").score == 0.5 and view.score("P").trust == 0
    assert aggregate(_table(rows), ["A", "F"], NOW, faulty=["F"]).seeds == frozenset({"A"})


def test_the_cut_bound_holds_on_random_graphs() -> None:
    """On 50 random rating graphs, every group of principals holding no seed holds at most
    (1 - a) / a times the trust the rest sends it (SPEC 10.6); the bound must be able to fail, so
    a group holding a seed is checked to exceed its own inflow bound."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = 30
        rows = [
            (f"p{r}", f"p{s}", float(rng.integers(1, 1000)), float(rng.choice([1.0, 0.5, 0.0])), NOW)
            for r, s in rng.integers(0, n, (200, 2))
            if r != s
        ]
        view = aggregate(_table(rows), ["p0", "p1"], NOW)
        group = [f"p{i}" for i in rng.choice(range(2, n), 8, replace=False)]
        assert view.mass(group) <= view.cut_bound(group) + 1e-6
    assert view.mass(["p0"]) > view.cut_bound(["p0"])


# --- through the protocol: what an attestation weighs -----------------------------------------------


@pytest.mark.req("ATT-005", "ATT-007", "ATT-015")
def test_a_breach_the_escrow_upheld_counts_as_failure_and_agents_of_one_principal_are_one_rater() -> None:
    """Real peers: V's claim against W is upheld and W's bond forfeited; V attests automatically.
    Expect V's attestation BREACHED, scored 0, stake W's bond, aged from the Forfeit. Then two
    agents of one principal P trade with S 30 times; expect one rater (P) in the view, whose word
    counts at most the pair cap."""
    s = Society()
    s.join("v"), s.join("w", withholds=True)
    s.breach("v", "w", bond=250)
    s.collect()
    [r] = [
        rate(s.observer, s.observer.statements[d], {s.escrow.did})
        for d in s.observer.attestations
        if s.observer.statements[d].issuer == s.agents["v"].peer.did
    ]
    assert r.outcome == reputation_pb2.OUTCOME_BREACHED and r.score == 0.0 and r.stake == 250
    assert r.settled_ms > 0 and r.subject == s.agents["w"].principal
    boss = Party("boss", s.clock).principal
    s.join("a1", principal=boss), s.join("a2", principal=boss), s.join("subject")
    for _ in range(15):
        s.trade("a1", "subject"), s.trade("subject", "a2")
    table = s.table()
    raters = {table.principals[i] for i in table.rater}
    assert boss.did in raters and not {s.agents["a1"].peer.did, s.agents["a2"].peer.did} & raters
    view = s.view([boss.did], table)
    assert view.alpha[view.index[s.agents["subject"].principal]] <= 1 + TrustParams().pair_cap + 1e-9


@pytest.mark.req("KEY-009", "ATT-020", "ATT-014")
def test_real_peers_breach_stays_in_every_view_after_the_breachers_key_revokes_itself_back() -> None:
    """Real peers: V's claim against W is upheld and W's bond forfeited. Then W's peer revokes its own
    key back to its Accept and shows the revocation to V and to a fresh observer, never to the escrow.
    Expect V's own view (it took W's Accept live, with the escrow's Stamp of it, before the revocation)
    to keep the breach, and the observer -- which holds the revocation first and then takes V's
    evidence bundle, now carrying the escrow's Stamps of the contract (ATT-014) -- to weigh it as V
    does (KEY-009): before KEY-009 it refused W's Accept and the breach was gone from its view."""
    s = Society()
    s.join("v"), s.join("w", withholds=True)
    s.breach("v", "w", bond=250)
    v, w = s.agents["v"].peer, s.agents["w"].peer
    [neg] = [n for n in v.verifier.negotiations.by_id.values() if n.contract is not None]
    accept = neg.contract.accept
    assert accept.issuer == w.did
    before = v.reputation.score(s.agents["w"].principal)
    revocation = w.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=w.did, effective_ms=accept.issued_at_ms)
    )
    v.exchange(revocation.envelope)
    assert w.did in v.verifier.revoked
    assert v.reputation.score(s.agents["w"].principal) == before
    observer = EvidenceVerifier()
    for e in (s.escrow.mandate, s.agents["w"].party.mandate_vs.envelope, revocation.envelope):
        observer.accept(e)
    [attestation] = [d for d in v.verifier.attestations if v.verifier.statements[d].issuer == v.did]
    for vs in attestation_evidence(v.verifier, v.verifier.statements[attestation]):
        if vs.digest not in observer.statements:
            observer.accept(vs.envelope)
    r = rate(observer, observer.statements[attestation], {s.escrow.did})
    assert (r.subject, r.stake, r.score) == (s.agents["w"].principal, 250, 0.0)
    mine = rate(v.verifier, v.verifier.statements[attestation], {s.escrow.did})
    assert (mine.subject, mine.stake, mine.score) == (r.subject, r.stake, r.score)


# --- fork proofs travel by gossip --------------------------------------------------------------------


@pytest.mark.req("ATT-011", "ATT-012", "ATT-013")
def test_a_fork_seen_by_two_counterparties_becomes_a_proof_that_zeroes_trust_wherever_seen() -> None:
    """X shows A one history (an offer, then a Checkpoint over it) and B another (a different
    statement at the same seq). A and B trade: their gossip swap brings X's Checkpoint to B, whose
    chain check refuses it with the two envelopes. Expect a fork proof at B that verifies offline and
    names X, X's principal faulty in B's view (trust, score 0); and after B trades with C, C holds the
    proof too."""
    s = Society()
    for n in ("a", "b", "c"):
        s.join(n)
    a, b = s.agents["a"].peer, s.agents["b"].peer
    x = Party("x", s.clock)
    to_a = x.offer(s.agents["a"].party)
    seq = x.agent.writer.next_seq
    a.exchange(to_a.envelope, x.setup)
    _, root = a.verifier.chains[x.did].prefix_root()
    checkpoint = x.sign("checkpoint", identity_pb2.Checkpoint(log_root=root), ttl_ms=DAY_MS)
    a.hold([checkpoint.envelope])
    x.agent.writer.next_seq, x.agent.writer.prev = seq - 1, b""  # X forks its chain at seq 0
    to_b = x.offer(s.agents["b"].party)
    assert to_b.header.seq == to_a.header.seq and to_b.digest != to_a.digest
    b.exchange(to_b.envelope, x.setup)
    assert x.did not in b.verifier.forks
    s.trade("a", "b")  # the gossip swap runs before the offer
    proof = b.verifier.forks[x.did]
    assert verify_fork_proof(ForkProof(proof.first, proof.second)) == x.did
    score = b.reputation.score(x.did)
    assert score.faulty and score.score == 0 and score.trust == 0
    assert x.principal.did in b.reputation.faulty()
    assert x.did not in s.agents["c"].peer.verifier.forks
    s.trade("b", "c")
    assert x.did in s.agents["c"].peer.verifier.forks
    assert s.agents["c"].peer.reputation.score(x.did).faulty


@pytest.mark.req("ATT-012", "ATT-013")
def test_fork_proofs_survive_a_restart_and_forged_ones_are_refused(tmp_path: Path) -> None:
    """D, a journaled peer, is gossiped a real fork proof and one made of two statements that do not
    conflict. Expect D to keep only the real one, and to hold it again after a restart on the journal."""
    from a2a_coop.runtime.journal import Journal

    clock = FixedClock()
    x, d, e = Party("x", clock), Party("d", clock), Party("e", clock)
    first = x.offer(d)
    x.agent.writer.next_seq, x.agent.writer.prev = first.header.seq, first.header.prev
    second = x.offer(e)
    third = x.offer(d)  # follows second: no conflict with it
    proof, forged = ForkProof(first.envelope, second.envelope), ForkProof(second.envelope, third.envelope)
    with pytest.raises(ValueError):
        verify_fork_proof(forged)
    journal = Journal.open(tmp_path / "d.db")
    peer = make_peer(d, clock, journal=journal)
    peer.gossip([], [forged, proof])
    assert set(peer.verifier.forks) == {x.did}
    journal.close()
    journal = Journal.open(tmp_path / "d.db")
    again = make_peer(d, clock, journal=journal, run=1)
    assert set(again.verifier.forks) == {x.did} and again.verifier.forks[x.did] == proof
    journal.close()


@pytest.mark.req("ATT-012")
def test_each_fork_proof_is_journaled_once_and_old_journals_still_restore(tmp_path: Path) -> None:
    """Forked keys cost two signatures each, so a flooder can send many proofs. Expect each kept in a
    journal row of its own (the whole list rewritten at every new proof made disk writes grow with the
    square of their number), all of them back after a restart, and a journal that kept them as one list
    under the old key read as well."""
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.peer import META_FORKS

    clock = FixedClock()
    d, e = Party("d", clock), Party("e", clock)
    proofs: dict[str, ForkProof] = {}
    for i in range(3):
        x = Party(f"x{i}", clock)
        first = x.offer(d)
        x.agent.writer.next_seq, x.agent.writer.prev = first.header.seq, first.header.prev
        proofs[x.did] = ForkProof(first.envelope, x.offer(e).envelope)
    with Journal.open(tmp_path / "d.db") as journal:
        peer = make_peer(d, clock, journal=journal)
        for proof in proofs.values():
            peer.gossip([], [proof])
        rows = journal.meta_under(META_FORKS + "/")
        assert [key for key, _ in rows] == sorted(f"{META_FORKS}/{did}" for did in proofs)
        assert journal.get_meta(META_FORKS) is None
    legacy = Party("legacy", clock)
    first = legacy.offer(d)
    legacy.agent.writer.next_seq, legacy.agent.writer.prev = first.header.seq, first.header.prev
    old = ForkProof(first.envelope, legacy.offer(e).envelope)
    with Journal.open(tmp_path / "d.db") as journal:
        journal.put_meta(META_FORKS, [[old.first, old.second]])  # as a 0.1 peer kept them
        again = make_peer(d, clock, journal=journal, run=1)
        assert again.verifier.forks == {**proofs, legacy.did: old}


@pytest.mark.req("ATT-009", "ATT-013")
def test_a_fork_proof_against_the_viewers_own_key_leaves_a_view_without_trust_not_a_crash() -> None:
    """Whoever holds D's key forks D's chain and gossips the proof to D's own peer: every seed of D's
    view is now faulty. Expect the view computed (no ValueError): D's principal faulty, everyone else
    unknown with trust 0, and D still answering offers."""
    clock = FixedClock()
    d, x, e = Party("d", clock), Party("x", clock), Party("e", clock)
    peer = make_peer(d, clock)
    first = d.offer(x)
    d.agent.writer.next_seq, d.agent.writer.prev = first.header.seq, first.header.prev
    second = d.offer(e)
    peer.gossip([], [ForkProof(first.envelope, second.envelope)])
    assert d.principal.did in peer.reputation.faulty()
    view = peer.reputation.view()
    assert view.score(d.principal.did).faulty
    unknown = peer.reputation.score(x.did)
    assert (unknown.trust, unknown.score, unknown.uncertainty) == (0.0, 0.5, 1.0)
    assert float(view.trust.sum()) == 0.0
    assert peer.exchange(x.offer(d).envelope, x.setup)


# --- real peers over gRPC -----------------------------------------------------------------------------


@pytest.mark.req("ATT-014", "ATT-015")
def test_peers_over_grpc_attest_each_other_when_the_escrow_settles_and_serve_them_paged(
    tmp_path: Path,
) -> None:
    """Alice (in process) trades with Bob (a served PeerNode) through a served EscrowNode, three
    times. Expect after each settlement both sides to hold both attestations (issued automatically,
    crossing with the relays), Bob's GetAttestations to serve them one per page with a token, each
    bundle to verify offline and to recompute the same stake (Alice's bond, 100) at a third party."""
    clock = FixedClock()
    alice, bob, escrow_party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        escrow_party.agent.key,
        escrow_party.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
    )
    for p in (alice, bob):
        escrow.deposit(p.did, 10_000)
    node = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        context=[escrow_party.mandate_vs.envelope],
        clock=lambda: clock.now_ms,
    )
    servers = [serve(node, None), serve(None, escrow)]
    try:
        client = CooperationClient(servers[0].target)
        escrow_client = EscrowClient(servers[1].target)
        pa = make_peer(alice, clock, context=[escrow_party.mandate_vs.envelope])
        for _ in range(3):
            proposal = alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow_party.did)
            neg = run_trade(pa, client, bob.did, proposal, escrow=escrow_client)
            assert neg.state.value == "FULFILLED"
            clock.advance(60_000)
        assert len(pa.verifier.attestations) == len(node.peer.verifier.attestations) == 6
        # Each trade opened with a gossip swap: each side holds the other's head Checkpoint.
        assert alice.did in node.peer.verifier.checkpoints and bob.did in pa.verifier.checkpoints
        page, token = client.get_attestations_page(alice.did, limit=1)
        assert len(page) == 1 and token
        bundles = client.get_attestations(alice.did)
        assert len(bundles) == 3
        # A token Bob would give, though he gave "1": the rest of the read (ATT-014: one he would never give
        # is refused; a token names a page any caller may read).
        assert client.get_attestations_page(alice.did, page_token="2") == (bundles[2:], "")
        for token in ("not-ours", "\u00b3"):  # "\u00b3" found by the 1M fuzz: isdigit() but not int()
            with pytest.raises(RequestInvalid) as bad:
                client.get_attestations_page(alice.did, page_token=token)
            assert (bad.value.grpc_status, bad.value.requirement) == ("INVALID_ARGUMENT", "RPC-011")
        for bundle in bundles:  # a third party checks each alone
            report = verify_transcript(bundle)
            assert report.valid, report.error
            v = EvidenceVerifier()
            for env in bundle:
                v.accept(env)
            r = rate(v, verify_statement(bundle[-1]), {escrow_party.did})
            assert (r.stake, r.score, r.subject) == (100, 1.0, alice.principal.did)
        client.close(), escrow_client.close()
    finally:
        for srv in servers:
            srv.stop(0)
        node.close()


# --- the trust policy ----------------------------------------------------------------------------------


class AcceptAnything(HonestStrategy):
    def respond(self, offer: OfferView) -> Accept:
        return Accept()


@pytest.mark.req("ATT-016")
def test_the_policy_refuses_low_scorers_and_demands_a_bond_whatever_the_strategy_decides() -> None:
    """V holds a breach record of W. V's policy refuses below 0.4: W's offer is rejected with the
    policy's reason. With bond_below 0.6 and min_bond 500 instead, and a strategy that accepts
    anything, V answers W's zero-bond offer with a Counter demanding 500 of W; and proposing to W
    with too small a bond raises TrustRefused, signing nothing."""
    s = Society()
    s.join("v"), s.join("w", withholds=True)
    s.breach("v", "w")
    v, w = s.agents["v"].peer, s.agents["w"]
    assert v.reputation.score(w.peer.did).score < 0.4
    v.trust = TrustPolicy(refuse_below=0.4)
    offer = w.peer.propose(v.did, w.party.proposal(escrow=s.escrow.did))
    [answer] = _trade_answers(v.exchange(offer.envelope, w.peer.send_context()))
    assert answer.body == "reject" and "trust policy" in answer.statement.reject.reason
    v.trust = TrustPolicy(bond_below=0.6, min_bond=500)
    v.strategy = AcceptAnything()
    offer = w.peer.propose(v.did, w.party.proposal(escrow=s.escrow.did))
    [answer] = _trade_answers(v.exchange(offer.envelope, w.peer.send_context()))
    assert answer.body == "counter" and answer.statement.counter.proposal.terms.audience_bond == 500
    seq = v.writer.next_seq
    with pytest.raises(TrustRefused) as refused:
        v.propose(w.peer.did, s.agents["v"].party.proposal(audience_bond=100, escrow=s.escrow.did))
    assert refused.value.required_bond == 500 and v.writer.next_seq == seq
    with pytest.raises(ValueError):
        TrustPolicy(bond_below=0.5)


@pytest.mark.req("ATT-016", "ESC-013")
def test_a_bond_is_demanded_at_the_escrow_the_node_reaches() -> None:
    """V serves with a witness at its escrow and trusts a second one, whose did sorts first. Offered
    W's unbonded deal, V's policy demands a bond: under its witness's escrow, where its Counter is one
    it signs. It once picked the first trusted escrow by name, and so answered with a Reject (a bond
    of its own at an escrow it does not reach is one it does not offer, ESC-013)."""
    s = Society()
    s.join("v"), s.join("w", withholds=True)
    s.breach("v", "w")
    v, w = s.agents["v"].peer, s.agents["w"]
    other = next(p for p in (Party(f"escrow-{k}", s.clock) for k in range(64)) if p.did < s.escrow.did)
    v.trusted_escrows |= {other.did}
    v.offer_escrows = frozenset({s.escrow.did})
    v.trust, v.strategy = TrustPolicy(bond_below=0.6, min_bond=500), AcceptAnything()
    offer = w.peer.propose(v.did, w.party.proposal())
    [answer] = _trade_answers(v.exchange(offer.envelope, w.peer.send_context()))
    assert answer.body == "counter", answer.statement
    terms = answer.statement.counter.proposal.terms
    assert (terms.escrow, terms.audience_bond) == (s.escrow.did, 500)


@pytest.mark.req("ATT-016")
def test_a_record_on_small_bonds_buys_small_unbonded_deals_only() -> None:
    """W fulfils three trades with V at a bond of 1: W scores above V's bond_below (0.6), and its
    record vouches for about 1 credit an outcome. Offered W's unbonded deal in which V gives 450, V
    (a strategy that accepts anything) answers with a Counter demanding min_bond of W; offered one in
    which V gives 1, V accepts it unbonded. Before stake counted, both were accepted."""
    s = Society()
    s.join("v"), s.join("w")
    for _ in range(3):
        s.trade("v", "w", value=500, bond=1)
    v, w = s.agents["v"].peer, s.agents["w"]
    score = v.reputation.score(w.peer.did)
    assert score.score > 0.6 and 0 < score.vouched_stake <= 1
    v.trust, v.strategy = TrustPolicy(bond_below=0.6, min_bond=500), AcceptAnything()
    deadline = s.clock.now_ms + DAY_MS
    for gives_v, expect in ((450, "counter"), (1, "accept")):
        proposal = w.party.proposal(
            gives=[service("work", value=1, deadline_ms=deadline)],
            wants=[service("work", value=gives_v, deadline_ms=deadline)],
            escrow=s.escrow.did,
        )
        offer = w.peer.propose(v.did, proposal)
        [answer] = _trade_answers(v.exchange(offer.envelope, w.peer.send_context()))
        assert answer.body == expect, gives_v
        if expect == "counter":
            assert answer.statement.counter.proposal.terms.audience_bond == 500
    with pytest.raises(TrustRefused, match="vouching for 1, less than the 450 at risk"):
        v.propose(
            w.peer.did,
            s.agents["v"].party.proposal(
                gives=[service("work", value=450, deadline_ms=deadline)],
                escrow=s.escrow.did,
            ),
        )


def _trade_answers(envelopes: list[bytes]) -> list[VerifiedStatement]:
    return [vs for vs in map(verify_statement, envelopes) if vs.body in ("accept", "counter", "reject")]


# --- attacks with numbers (SPEC 10.6) ---------------------------------------------------------------

EXPLORE = 0.1  # honest agents try a random counterparty one trade in ten


def _market(honest_n: int, ring_n: int, rounds: int, *, camouflage: bool) -> dict[str, float]:
    """Honest agents pick counterparties by trust in their own view (seeds: their principal and three
    founders), one in ten at random; a ring praises itself with ten times the stake each round and,
    camouflaged, trades honestly at a tenth of the stake with random outsiders every other round.
    Returns the ring's share of the honest population's reputation mass (its trust averaged over the
    honest views) and the largest in any one view, the share of honest trade volume it captured, and
    how far its mass stays under the cut bound (the largest excess over the honest views)."""
    s = Society()
    honest, ring = names("h", honest_n), names("r", ring_n)
    for n in honest + ring:
        s.join(n)
    founders = s.principals(honest[:3])
    for rnd in range(rounds):
        table = s.table()
        for h in honest:
            s.trade(h, s.pick(h, s.view(founders | {s.agents[h].principal}, table), honest + ring, EXPLORE))
        for i, r in enumerate(ring):
            s.trade(r, ring[(i + 1) % ring_n], value=5_000, bond=1_000)
            if camouflage and rnd % 2 == 0:
                s.trade(r, s.rng.choice(honest), value=50, bond=10)
    table = s.table()
    rp = s.principals(ring)
    views = [s.view(founders | {s.agents[h].principal}, table) for h in honest]
    volume = sum(v for (a, b), v in s.volume.items() if a in honest or b in honest)
    captured = sum(v for (a, b), v in s.volume.items() if (a in ring) != (b in ring))
    masses = [v.mass(rp) for v in views]
    return {
        "mass": statistics.mean(masses),
        "max_view_mass": max(masses),
        "volume": captured / volume,
        "over_bound": max(v.mass(rp) - v.cut_bound(rp) for v in views),
    }


@pytest.mark.parametrize("camouflage", [False, True])
def test_a_ring_of_30_percent_captures_little_volume_and_mass(camouflage: bool) -> None:
    """14 honest agents and a 6-agent ring (30 % of identities), 6 rounds. Expect the ring to capture
    at most 10 % of the honest trade volume and 5 % of the honest population's reputation mass, and
    in every honest view no more than the cut bound."""
    got = _market(14, 6, 6, camouflage=camouflage)
    assert got["volume"] <= 0.10 and got["mass"] <= 0.05 and got["over_bound"] <= 1e-6, got


@pytest.mark.slow
@pytest.mark.parametrize("camouflage", [False, True])
def test_a_ring_of_30_percent_captures_little_volume_and_mass_at_scale(camouflage: bool) -> None:
    """As above with 70 honest agents and a 30-agent ring, 8 rounds."""
    got = _market(70, 30, 8, camouflage=camouflage)
    assert got["volume"] <= 0.10 and got["mass"] <= 0.05 and got["over_bound"] <= 1e-6, got


def _sybils(honest_n: int, sybil_n: int) -> None:
    s = Society()
    honest, sybils = names("h", honest_n), names("s", sybil_n)
    for n in honest + sybils:
        s.join(n)
    for i, h in enumerate(honest):  # a sparse honest graph: each trades with the next two
        s.trade(h, honest[(i + 1) % honest_n]), s.trade(h, honest[(i + 2) % honest_n])
    for _ in range(2):
        for i, x in enumerate(sybils):  # every Sybil praises the next, bonded through the escrow
            s.trade(x, sybils[(i + 1) % sybil_n], bond=1_000)
    table = s.table()
    founders = s.principals(honest[:3])
    for h in honest[::5]:
        view = s.view(founders | {s.agents[h].principal}, table)
        median = statistics.median(view.score(p).score for p in s.principals(honest))
        best = max(view.score(p).score for p in s.principals(sybils))
        assert best < median and view.mass(s.principals(sybils)) == 0, (best, median)


def test_a_sybil_ring_never_lifts_a_member_above_the_median_honest_agent() -> None:
    """20 honest agents and 20 fresh Sybil identities praising each other (fast version)."""
    _sybils(20, 20)


@pytest.mark.slow
def test_a_sybil_ring_of_100_never_lifts_a_member_above_the_median_honest_agent() -> None:
    """20 honest agents and 100 fresh Sybil identities praising each other, bonded, twice around."""
    _sybils(20, 100)


def test_a_cartel_of_five_gains_at_most_the_bound() -> None:
    """12 honest agents trade among themselves; a 5-cartel trades honestly with them (each member
    twice) and then praises itself 10 times per pair at ten times the stake. Against the same
    evidence without the mutual praise, expect for every honest view: the cartel's mass within the
    cut bound (1 - a) / a * F and at most 1 / a times its mass without praise; and each member's
    alpha to grow by at most sum over the other members of voice * K (K the pair cap: one vote each,
    what four more honest partners would give)."""
    s = Society()
    honest, cartel = names("h", 12), names("k", 5)
    for n in honest + cartel:
        s.join(n)
    for i, h in enumerate(honest):
        s.trade(h, honest[(i + 1) % 12]), s.trade(h, honest[(i + 5) % 12])
    for i, k in enumerate(cartel):
        s.trade(honest[i], k), s.trade(k, honest[i + 5])
    for _ in range(10):
        for a, b in itertools.permutations(cartel, 2):
            s.trade(a, b, value=5_000, bond=1_000)
    kp = s.principals(cartel)
    table, without = s.table(), s.table(drop=itertools.permutations(kp, 2))
    a, cap = TrustParams().damping, TrustParams().pair_cap
    founders = s.principals(honest[:3])
    for h in honest:
        seeds = founders | {s.agents[h].principal}
        view, base = s.view(seeds, table), s.view(seeds, without)
        assert view.mass(kp) <= view.cut_bound(kp) + 1e-6
        assert view.mass(kp) <= base.mass(kp) / a + 1e-6
        voice = np.minimum(1.0, view.trust * view.n_positive)
        for k in kp:
            others = sum(voice[view.index[o]] for o in kp - {k})
            gain = view.alpha[view.index[k]] - base.alpha[base.index[k]]
            assert gain <= others * cap + 1e-6, (gain, others * cap)


def test_a_whitewasher_starts_below_a_newcomer_with_a_known_principals_mandate() -> None:
    """W breaches three honest agents, then abandons its identity for a fresh principal and key W2.
    N is a new key with a mandate from the principal of an honest agent with a good record. Expect in
    an honest view: score(W) < score(W2) = prior < score(N); and a new key of W's old principal
    scores as badly as W."""
    s = Society()
    honest = names("h", 6)
    for n in honest:
        s.join(n)
    s.join("w", withholds=True)
    for i, h in enumerate(honest):
        s.trade(h, honest[(i + 1) % 6])
    for h in honest[:3]:
        s.breach(h, "w")
    s.join("w2")
    s.join("n", principal=s.agents["h0"].party.principal)
    s.join("w-again", principal=s.agents["w"].party.principal)
    viewer = Reputation(
        lambda: s.observer,
        seeds=s.principals(honest[:3]) | {s.agents["h4"].principal},
        escrows={s.escrow.did},
        clock=lambda: s.clock.now_ms,
    )
    s.collect()
    w, w2, n = (viewer.score(s.agents[x].peer.did) for x in ("w", "w2", "n"))
    again = viewer.score(s.agents["w-again"].peer.did)
    assert w.score < w2.score == 0.5 < n.score, (w, w2, n)
    assert again.score == w.score


def test_zero_stake_mutual_praise_through_the_protocol_counts_zero() -> None:
    """Two principals trade 20 times with no bonds and attest each other 40 times; expect every
    rating's stake 0 with its reason, and their scores in a third party's view the prior."""
    s = Society()
    for n in ("h", "p", "q"):
        s.join(n)
    for _ in range(10):
        s.trade("p", "q", bond=0), s.trade("q", "p", bond=0)
    table = s.table()
    assert len(table) == 0 or set(table.stake.tolist()) == {0.0}
    view = s.view([s.agents["h"].principal], table)
    assert {view.score(p).score for p in s.principals(["p", "q"])} == {0.5}


def test_demand_bond_keeps_the_trade_and_raises_only_the_issuers_bond() -> None:
    from a2a_coop.runtime.reputation import demand_bond

    clock = FixedClock()
    offer = Party("a", clock).proposal(issuer_bond=5, audience_bond=7)
    counter = demand_bond(offer, 300, "did:key:escrow")
    assert list(counter.gives) == list(offer.wants) and list(counter.wants) == list(offer.gives)
    assert (counter.terms.issuer_bond, counter.terms.audience_bond) == (7, 300)
    assert counter.terms.escrow == "did:key:escrow" and isinstance(counter, trade_pb2.Offer)


# --- the CLI -----------------------------------------------------------------------------------------


@pytest.mark.req("ATT-010")
def test_cli_reputation_prints_score_uncertainty_evidence_and_the_attestations_behind_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bob's journaled peer trades twice with Alice through an escrow it trusts. Expect
    `a2a-coop reputation ALICE` to print her principal's score above the prior with 2 attestations of
    stake 100, its --json to say the same, an unknown did:key to score the prior with none, and a
    SUBJECT that is no did:key nor a key file to be one line and exit 2."""
    from a2a_coop.cli.main import main
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.keyfile import write_key_file
    from a2a_coop.runtime.node import META_CONTEXT
    from a2a_coop.runtime.peer import META_MANDATE
    from a2a_coop.testing import LocalEscrow

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 10_000, bob.did: 10_000})
    journal = Journal.open(tmp_path / "bob.db")
    journal.put_meta(META_MANDATE, bob.mandate_vs.envelope)
    journal.put_meta(META_CONTEXT, [escrow.mandate])
    pb = make_peer(bob, clock, context=[escrow.mandate], journal=journal)
    pa = make_peer(alice, clock, context=[escrow.mandate])
    for _ in range(2):
        proposal = bob.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did)
        assert run_trade(pb, pa, alice.did, proposal, escrow=escrow).state.value == "FULFILLED"
        clock.advance(60_000)
    journal.close()
    write_key_file(tmp_path / "bob.key", bob.agent.key)
    argv = ["--journal", str(tmp_path / "bob.db"), "--key", str(tmp_path / "bob.key")]
    assert main(["reputation", alice.did, *argv]) == 0
    text = capsys.readouterr().out
    assert alice.principal.did in text and text.count("OUTCOME_FULFILLED") == 2 and "stake 100" in text
    assert main(["reputation", alice.did, *argv, "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["principal"] == alice.principal.did and report["evidence"] == 2
    assert report["score"] > 0.5 and report["uncertainty"] < 1
    assert [a["stake"] for a in report["attestations"]] == [100, 100]
    stranger = Party("stranger", clock).did
    assert main(["reputation", stranger, *argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["score"], report["uncertainty"], report["attestations"]) == (0.5, 1.0, [])
    assert main(["reputation", "did:key:nonsense", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_serve_refuses_a_bond_rule_without_a_bond() -> None:
    """`serve --bond-below 0.6` without --min-bond is a usage error (one line), not a traceback."""
    import argparse

    from a2a_coop.cli._common import UsageError
    from a2a_coop.cli.peer import trust_policy

    args = argparse.Namespace(refuse_below=0.0, bond_below=0.6, min_bond=0, trust_seed=[])
    with pytest.raises(UsageError):
        trust_policy(args)
    args.min_bond = 50
    policy = trust_policy(args)
    assert policy is not None and policy.min_bond == 50
    assert (
        trust_policy(argparse.Namespace(refuse_below=0.0, bond_below=0.0, min_bond=0, trust_seed=[])) is None
    )


@pytest.mark.req("BDY-009")
def test_an_attestation_rating_above_100_is_refused() -> None:
    """A signed Attestation with rating 101 reaches verify_statement: expect BODY_INVALID under
    BDY-009; with rating 100 it verifies."""
    from a2a_coop._proto.a2acoop.v1.statement_pb2 import Statement
    from a2a_coop.protocol.envelope import sign_payload
    from a2a_coop.protocol.errors import BodyInvalid
    from a2a_coop.protocol.statements import encode_statement

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    vs = alice.attest(offer, accept, bob.did)
    stmt = Statement()
    stmt.CopyFrom(vs.statement)
    stmt.attestation.rating = 100
    verify_statement(sign_payload(encode_statement(stmt), alice.agent.key))
    stmt.attestation.rating = 101
    with pytest.raises(BodyInvalid) as err:
        verify_statement(sign_payload(encode_statement(stmt), alice.agent.key))
    assert (err.value.code, err.value.requirement) == ("BODY_INVALID", "BDY-009")
