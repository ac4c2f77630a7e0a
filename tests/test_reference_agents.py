"""Reference agents (issue 13): every agent trades with every other as a real peer through one escrow,
and what each adversary does is caught by its counterparties' verifiers, the escrow or the audit."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from society import Society

import reference_agents
from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.audit import audit
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.peer import drive
from a2a_coop.runtime.strategy import Accept, Counter, OfferView, Reject, opening
from a2a_coop.runtime.trade import claim_breach, relay_escrow_answers, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from reference_agents.adversarial import Bluffer, Cartel, Exaggerator, Feinter, Reneger, SybilRing
from reference_agents.cooperative import TimeBased
from reference_agents.detect import broken_reservations
from reference_agents.population import Population
from reference_agents.sim import WORLDS, PairGame
from reference_agents.unsafe import Equivocator, OverCommitter

COOPERATIVE = [n for n, a in reference_agents.AGENTS.items() if a.kind == "cooperative"]


class Arena(Society):
    """A Society whose agents run reference strategies; every trade is bonded at one escrow, and a
    victim of a withheld item claims it and has the escrow rule."""

    def enter(self, name: str, agent: str, **params: object) -> None:
        self.join(name)
        self.agents[name].peer.strategy = reference_agents.build(agent, **params)

    def did(self, name: str) -> str:
        return self.agents[name].peer.did

    def deal(self, a: str, b: str, *, value: int = 500, bond: int = 100) -> Negotiation | None:
        """``a`` offers ``b`` an even trade (if its strategy offers at all); claims what is withheld."""
        pa, pb = self.agents[a], self.agents[b]
        deadline = self.clock.now_ms + DAY_MS
        default = pa.party.proposal(
            gives=[service("work", value=value, deadline_ms=deadline)],
            wants=[service("work", value=value, deadline_ms=deadline)],
            issuer_bond=bond,
            audience_bond=bond,
            escrow=self.escrow.did,
        )
        proposal = opening(pa.peer.strategy, pb.peer.did, default)
        if proposal is None:
            return None
        neg = run_trade(pa.peer, pb.peer, pb.peer.did, proposal, escrow=self.escrow)
        self.clock.advance(60_000)
        c = neg.contract
        if c is None or neg.is_terminal:
            return neg
        self.clock.advance(DAY_MS + 1)
        for victim, breacher in ((pa.peer, pb.peer), (pb.peer, pa.peer)):
            owed = c.gives(breacher.did)
            missing = [i for i in range(len(owed)) if (breacher.did, i) not in c.delivered]
            if missing and victim.negotiation(neg.id).contract is not None:
                claim = claim_breach(victim, neg, missing[0], "never delivered")
                drive(victim, breacher.exchange, claim)
                settle_with_escrow(victim, breacher, self.escrow, neg)
        self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        relay_escrow_answers(pa.peer, pb.peer, [self.escrow.mandate, *self.escrow.tick()])
        return pa.peer.negotiation(neg.id)


def _population() -> Arena:
    arena = Arena()
    names = [n for n in reference_agents.AGENTS if n not in ("cartel", "sybil-ring")]
    for n in names:
        arena.enter(n, n)
    for group, agent in (("cartel", "cartel"), ("sybil", "sybil-ring")):
        arena.join(f"{group}-a"), arena.join(f"{group}-b")
        members = frozenset({arena.did(f"{group}-a"), arena.did(f"{group}-b")})
        key = "members" if agent == "cartel" else "ring"
        for m in ("a", "b"):
            arena.agents[f"{group}-{m}"].peer.strategy = reference_agents.build(agent, **{key: members})
    return arena


def test_every_agent_trades_with_every_other_and_the_adversaries_are_caught() -> None:
    """All 15 agents (the cartel and the Sybil ring as two members each) offer an even, bonded trade to
    every other. Expect: cooperative pairs fulfil; every withheld item is claimed and the escrow upholds
    it (BREACHED) for the reneger, bluffer and Sybil ring's outsiders; the cartel refuses outsiders and
    trades inside; the opportunist, every trade bonded, never defects; and the equivocator's fork,
    shown to two counterparties, becomes a fork proof that every honest peer ends up holding."""
    arena = _population()
    names = list(arena.agents)
    # The equivocator first trades honestly with the honest agent, then signs a second seq-0 offer to
    # the reciprocal agent: two statements at one seq, shown to two counterparties.
    eq = Equivocator(arena.agents["equivocator"].peer)
    arena.deal("equivocator", "honest")
    fork = eq.offer(arena.did("reciprocal"), arena.agents["equivocator"].party.proposal())
    arena.agents["reciprocal"].peer.exchange(fork, arena.agents["equivocator"].party.setup)
    outcomes: dict[tuple[str, str], State | None] = {}
    for a, b in itertools.permutations(names, 2):
        neg = arena.deal(a, b)
        outcomes[(a, b)] = None if neg is None else neg.state
    # Cooperative pairs fulfil, or part cleanly: a take-it-or-leave-it agent (honest, reciprocal)
    # rejects the Boulware agent's first counter (1.3). Nobody breaches. (Until the nineteenth session
    # each time-based counter asked the target of the round it answered, not of the round it is judged
    # in: the Conceder's first counter asked 1.3 too, which the honest and reciprocal agents rejected,
    # and the Conceder and the claim-aware agent, offering, ran out of rounds against the Boulware.)
    unfulfilled = {
        (a, b) for a, b in itertools.permutations(COOPERATIVE, 2) if outcomes[(a, b)] is not State.FULFILLED
    }
    assert unfulfilled == {("honest", "boulware"), ("reciprocal", "boulware")}
    assert all(outcomes[p] is State.REJECTED for p in unfulfilled)
    for cheat in ("reneger", "bluffer"):
        for other in ("honest", "reciprocal", "nash"):
            assert outcomes[(other, cheat)] is State.BREACHED and outcomes[(cheat, other)] is State.BREACHED
        assert all(outcomes[(o, cheat)] in (State.BREACHED, State.REJECTED) for o in COOPERATIVE)
    assert (
        outcomes[("honest", "sybil-a")] is State.BREACHED
        and outcomes[("sybil-a", "sybil-b")] is State.FULFILLED
    )
    assert outcomes[("cartel-a", "cartel-b")] is State.FULFILLED
    assert outcomes[("cartel-a", "honest")] is None and outcomes[("honest", "cartel-a")] is State.REJECTED
    assert all(outcomes[(o, "opportunist")] is State.FULFILLED for o in COOPERATIVE)
    # The feinter defects once it has fulfilled `warmup` (3) contracts with a counterparty: never here.
    assert all(outcomes[(o, "feinter")] is State.FULFILLED for o in COOPERATIVE)
    # Fork proof: first at the reciprocal agent, then gossiped to every peer it traded with and on.
    eq_did = arena.did("equivocator")
    for n in COOPERATIVE:
        peer = arena.agents[n].peer
        assert eq_did in peer.verifier.forks, n
        assert peer.reputation.score(eq_did).faulty
    assert [a.kind for a in eq.truth] == ["equivocate"]
    # Ground truth matches what the escrow ruled against each withholding adversary.
    for n in ("reneger", "bluffer"):
        truth = arena.agents[n].peer.strategy.truth  # type: ignore[attr-defined]
        breached = sum(1 for (a, b), s in outcomes.items() if n in (a, b) and s is State.BREACHED)
        assert len(truth) >= breached > 0


def test_the_exaggerators_signed_reservation_claim_contradicts_its_own_accept() -> None:
    """The exaggerator counters the Nash bargainer's and the Conceder's even offers claiming a
    reservation of 1.35, then accepts their counters at 1.0 and 0.97. Expect the detector to find both
    contradictions in what the counterparty holds, matching the ground truth; the honest agent, asked
    1.5, rejects, and nothing is contradicted there."""
    arena = Arena()
    arena.enter("x", "exaggerator")
    for n in ("nash", "conceder", "honest"):
        arena.enter(n, n)
    for n in ("nash", "conceder", "honest"):
        arena.deal(n, "x")
    strategy = arena.agents["x"].peer.strategy
    assert isinstance(strategy, Exaggerator)
    found = {}
    for n in ("nash", "conceder", "honest"):
        v = arena.agents[n].peer.verifier
        found[n] = broken_reservations(v.statements.values())
    assert [b.issuer for b in found["nash"]] == [arena.did("x")] and found["nash"][0].accepted == 1000
    assert (
        len(found["conceder"]) == 1 and found["conceder"][0].accepted < found["conceder"][0].claimed == 1350
    )
    assert found["honest"] == []
    assert len(strategy.truth) == 3  # it exaggerated to all three
    assert {b.negotiation.hex() for f in found.values() for b in f} <= {a.negotiation for a in strategy.truth}


def test_the_over_committers_unguarded_offers_are_refused_by_counterparties_and_the_audit() -> None:
    """An over-committer whose mandate caps a deal at 1,000 and its outstanding value at 1,500 signs,
    bypassing its guard: 2,000 to A (A's verifier refuses: MANDATE_VIOLATION), then 1,000 to A and
    1,000 to B (each alone within the caps, accepted). Expect the audit of both counterparties'
    transcripts to refuse the second of these (outstanding 2,000 > 1,500); and its own guard to
    refuse the same offer had it gone through the peer."""
    arena = Arena()
    arena.enter("a", "honest"), arena.enter("b", "honest")
    party = Party("over", arena.clock, mandate_caps={"max_per_deal": 1000, "max_outstanding": 1500})
    from peers import make_peer

    peer = make_peer(party, arena.clock, context=[arena.escrow.mandate])
    over = OverCommitter(peer)
    deadline = arena.clock.now_ms + DAY_MS

    def proposal(value: int) -> trade_pb2.Offer:
        return party.proposal(
            gives=[service("work", value=value, deadline_ms=deadline)],
            wants=[service("work", value=value, deadline_ms=deadline)],
        )

    a, b = arena.agents["a"].peer, arena.agents["b"].peer
    [big] = over.offers([(a.did, proposal(2000))])
    with pytest.raises(CoopError) as err:
        a.exchange(big, party.setup)
    assert err.value.code == "MANDATE_VIOLATION"
    to_a, to_b = over.offers([(a.did, proposal(1000)), (b.did, proposal(1000))])
    answers = [*a.exchange(to_a, party.setup), *b.exchange(to_b, party.setup)]
    report = verify_transcript([*party.setup, to_a, to_b], now_ms=arena.clock.now_ms)
    assert report.error is not None and report.error.code == "MANDATE_VIOLATION" and report.failed_index == 2
    assert [t.kind for t in over.truth] == ["overcommit"] * 3
    # The counterparties' Accepts alone prove nothing against it (section 19.2); once it does
    # business under the contracts formed -- a Delivery under each -- the audit proves MND-010.
    held = [*party.setup, to_a, to_b, *answers]
    assert [f for f in audit(held, subject=party.did, screens=False) if f.hard] == []
    arena.clock.advance(60_000)
    deliveries = over.perform(answers)
    assert [verify_statement(d).body for d in deliveries] == ["delivery", "delivery"]
    for d, peer in zip(deliveries, (a, b), strict=True):
        peer.exchange(d, party.setup)
    found = [f for f in audit([*held, *deliveries], subject=party.did, screens=False) if f.hard]
    assert [(f.kind, f.requirement) for f in found] == [("over-commitment", "MND-010")]
    honest = make_peer(Party("guarded", arena.clock, mandate_caps={"max_per_deal": 1000}), arena.clock)
    with pytest.raises(CoopError):
        honest.propose(a.did, proposal(2000))


@pytest.mark.parametrize(
    ("agent", "params", "kind"),
    [
        ("reneger", {"after": 2}, "renege"),
        ("feinter", {"warmup": 2}, "feint"),
    ],
)
def test_timing_parameters_decide_when_the_adversary_defects(
    agent: str, params: dict[str, int], kind: str
) -> None:
    """A reneger with after=2 and a feinter with warmup=2 fulfil their first two contracts with the
    honest agent and breach the third: expect FULFILLED, FULFILLED, BREACHED and one act of truth."""
    arena = Arena()
    arena.enter("h", "honest"), arena.enter("x", agent, **params)
    states = [arena.deal("h", "x").state for _ in range(3)]  # type: ignore[union-attr]
    assert states == [State.FULFILLED, State.FULFILLED, State.BREACHED]
    truth = arena.agents["x"].peer.strategy.truth  # type: ignore[attr-defined]
    assert [t.kind for t in truth] == [kind]


def test_strategy_objects_and_registry() -> None:
    """Every agent builds with its defaults; bad names and parameters are typed errors."""
    for name in reference_agents.AGENTS:
        assert reference_agents.build(name) is not None
    with pytest.raises(reference_agents.UnknownAgent, match="choose one of"):
        reference_agents.build("saint")
    with pytest.raises(reference_agents.BadParameter):
        reference_agents.build("reneger", act_rate="often")
    with pytest.raises(reference_agents.BadParameter):
        reference_agents.build("reneger", act_rate="1.5")
    with pytest.raises(reference_agents.BadParameter):
        reference_agents.build("honest", act_rate="0.5")
    assert isinstance(reference_agents.build("cartel", members="did:a,did:b"), Cartel)
    assert reference_agents.build("sybil-ring", ring="did:a").ring == frozenset({"did:a"})  # type: ignore[attr-defined]
    assert isinstance(reference_agents.build("bluffer"), Bluffer)
    assert isinstance(reference_agents.build("feinter"), Feinter) and isinstance(
        reference_agents.build("reneger"), Reneger
    )
    assert isinstance(reference_agents.build("sybil-ring"), SybilRing)


# --- the CLI: agent list, agent run as a real gRPC peer -----------------------------------------------


def test_agent_list_describes_every_agent(capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    assert main(["agent", "list", "--json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["name"] for d in docs] == [*reference_agents.AGENTS, "axelrod:NAME"]
    assert {d["name"] for d in docs if d["unsafe"]} == {"equivocator", "over-committer"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--strategy", "saint"], "choose one of: honest"),
        (["--strategy", "reneger", "--param", "act_rate=often"], "act_rate"),
        (["--strategy", "reneger", "--param", "junk"], "KEY=VALUE"),
        (["--strategy", "honest", "--param", "act_rate=0.5"], "no parameter act_rate"),
    ],
)
def test_agent_run_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    from a2a_coop.cli import main

    files = ["--key", str(tmp_path / "k"), "--mandate", str(tmp_path / "m"), "--journal", str(tmp_path / "j")]
    assert main(["agent", "run", *argv, *files]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and needle in err


def test_agent_run_serves_the_reference_agent_over_grpc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`agent run --strategy cartel` as its own process: an outsider's fair offer is rejected with the
    cartel's reason ('not trading'): the reference agent, not serve's default, decided."""
    from a2a_coop.cli import main
    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening

    alice = provision(tmp_path, "alice")
    results = {}
    for agent in ("cartel",):
        ident = provision(tmp_path, agent)
        server = start_server(
            agent, ["agent", "run", "--strategy", agent, *ident.files()], tmp_path / f"{agent}.log"
        )
        try:
            wait_listening(server, 20)
            argv = [
                "offer",
                *alice.files(),
                "--to",
                server.target,
                "--give",
                "work:500",
                "--want",
                "work:500",
            ]
            results[agent] = (main([str(a) for a in argv]), capsys.readouterr())
        finally:
            stop_process(server.popen)
    code, captured = results["cartel"]
    assert code == 1 and "not trading" in captured.out + captured.err


# --- the population simulator (fast mode) -------------------------------------------------------------


def test_bonds_make_the_victim_whole_in_the_verifiable_world_and_not_under_cheap_talk() -> None:
    """Honest vs reneger, two rounds. Verifiable: the reneger's bond (= the trade's value) goes to the
    honest agent, and its trust policy refuses the reneger after the first breach: the honest agent
    loses nothing, the reneger gains 0.5 of a trade once. Cheap talk: the honest agent pays for every
    item it delivers and receives nothing (-1 per trade it makes), the reneger gains 1.5 each time."""
    from reference_agents import sim

    v = sim.payoff_table("verifiable", ["honest", "reneger"], seed=1, rounds=2)
    c = sim.payoff_table("cheap-talk", ["honest", "reneger"], seed=1, rounds=2)
    assert v["honest"]["reneger"] == 0.0 and v["reneger"]["honest"] == pytest.approx(0.5 / 4)
    assert c["honest"]["reneger"] == -1.0 and c["reneger"]["honest"] == 1.5
    assert v["honest"]["honest"] == c["honest"]["honest"] == 0.5


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("kind", COOPERATIVE)
def test_every_cooperative_agent_agrees_with_itself_in_both_worlds(kind: str, world: str) -> None:
    """No cooperative reference agent deadlocks in self-play (issue 13, item 4): two of a kind agree on
    every even trade either one offers, in the pair game (two rounds, each side offering) and in the
    population (each offering once), both worlds, and both sides gain. (The claim-aware agent did
    not in cheap talk until the eighteenth session: each discounted the other's unbacked item and
    countered, 0 contracts; nor did two Boulware agents until the nineteenth: each countered at its
    own target for the round it answered, so the last counter reached the other below its reserve,
    test_a_time_based_counter_asks_the_target_of_the_round_it_is_judged_in.)"""
    game = PairGame(world, kind, kind, seed=0, rounds=2)
    payoffs = game.play()
    assert game.trades == 4 and min(payoffs) > 0, (game.trades, payoffs)
    pop = Population(world, seed=0)
    pop.add(kind)
    pop.add(kind)
    records = pop.play_round([(0, 1), (1, 0)])
    assert [r.state for r in records] == ["FULFILLED", "FULFILLED"]
    assert all(min(r.payoffs) > 0 for r in records)


@pytest.mark.parametrize("kind", ["boulware", "conceder"])
def test_a_time_based_counter_asks_the_target_of_the_round_it_is_judged_in(kind: str) -> None:
    """The time-based agents accept at round r an offer worth at least ``target(r)`` (the documented
    curve: ``start`` at round 1, ``reserve`` at ``max_rounds``, never rising), and counter at round r
    asking ``target(r + 1)``: the round in which the counterparty answers the counter, and the least
    they accept themselves then. So the last counter (round max_rounds - 1) asks ``reserve``, which
    one of a kind takes at max_rounds. Asking ``target(r)`` instead, the Boulware's last counter
    asked 1.115 and reached the other as 0.897, below its reserve 0.9: two never agreed."""
    agent = reference_agents.build(kind)
    assert isinstance(agent, TimeBased)
    n = agent.max_rounds
    curve = [agent.target(r) for r in range(1, n + 1)]
    assert curve[0] == pytest.approx(agent.start) and curve[-1] == pytest.approx(agent.reserve)
    assert all(a >= b for a, b in itertools.pairwise(curve)) and curve[0] > curve[-1]

    def even(round_: int, value: int = 10_000) -> OfferView:
        p = trade_pb2.Offer()
        p.gives.add(category="work", quantity=1, value=value)
        p.wants.add(category="work", quantity=1, value=value)
        return OfferView(b"n", "did:key:them", p, round_, 0)

    for r in range(1, n):
        reply = agent.respond(even(r))
        if curve[r - 1] <= 1.0:
            assert isinstance(reply, Accept), (r, curve[r - 1])
            continue
        assert isinstance(reply, Counter), (r, reply)
        # The counter re-splits the pie (20,000) at the ask, to the nearest unit (cooperative.py).
        receive, give = (sum(i.value for i in side) for side in (reply.proposal.wants, reply.proposal.gives))
        assert receive + give == 20_000
        assert abs(receive - 20_000 * curve[r] / (1 + curve[r])) <= 0.5, (r, receive / give, curve[r - 1])
    # The last counter asks the reserve; its mirror image, the offer one of a kind gets at max_rounds,
    # is worth 1 / reserve to it (>= reserve <= 1): accepted. Below the reserve, rejected.
    last = agent.respond(even(n - 1)) if curve[n - 2] > 1.0 else None
    if last is not None:
        assert isinstance(last, Counter)
        wants, gives = (sum(i.value for i in side) for side in (last.proposal.wants, last.proposal.gives))
        assert wants / gives == pytest.approx(agent.reserve, abs=2e-4)
    assert isinstance(agent.respond(even(n, 10_000)), Accept)
    low = even(n)
    low.proposal.gives[0].value = round(10_000 * agent.reserve) - 1
    assert isinstance(agent.respond(low), Reject)


def test_sim_evolve_is_reproducible_and_prints_one_json_line_last(capsys: pytest.CaptureFixture[str]) -> None:
    """The same seed twice: the same final line; it names every type's share, the steps and the
    generations. Both models (the trading population, the pair-game table) and both dynamics."""
    from a2a_coop.cli import main

    argv = ["sim", "evolve", "--world", "cheap-talk", "--seed", "3", "--types", "honest,reneger,reciprocal"]
    lines = []
    for _ in range(2):
        assert main([*argv, "--population", "6", "--steps", "12"]) == 0
        lines.append(capsys.readouterr().out.strip().splitlines()[-1])
    assert lines[0] == lines[1]
    doc = json.loads(lines[0])
    assert set(doc["shares"]) == {"honest", "reneger", "reciprocal"} and sum(doc["shares"].values()) == 1
    assert 0 < doc["steps"] <= 12 and doc["generations"] == doc["steps"] / 6 and doc["world"] == "cheap-talk"
    assert main(["sim", "evolve", "--world", "verifiable", "--types", "honest,saint"]) == 2
    assert "saint" in capsys.readouterr().err
    assert main([*argv, "--population", "6", "--dynamics", "replicator", "--steps", "3"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["generations"] == 3
    table = [*argv, "--model", "table", "--rounds", "1", "--dynamics", "replicator", "--steps", "50"]
    assert main(table) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["generations"] == 50


# --- every agent as a served gRPC peer ------------------------------------------------------------------


def _grpc_matrix(
    tmp_path: Path, pairs: Callable[[list[str]], Iterable[tuple[str, str]]]
) -> dict[tuple[str, str], State]:
    """Every agent a PeerNode (journaled) served on loopback, one served EscrowNode; each pair's first
    offers the second an even bonded trade over gRPC, and a withheld item is claimed over gRPC."""
    from a2a_coop.runtime.node import EscrowNode, PeerNode
    from a2a_coop.transport import CooperationClient, EscrowClient, serve

    clock = FixedClock()
    escrow_party = Party("escrow", clock)
    escrow = EscrowNode(
        escrow_party.agent.key,
        escrow_party.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
    )
    caps = {"budget_per_period": 10**12, "max_outstanding": 10**12, "max_per_deal": 10**12}
    parties = {n: Party(n, clock, mandate_caps=caps) for n in reference_agents.AGENTS}
    parties |= {f"{g}-b": Party(f"{g}-b", clock, mandate_caps=caps) for g in ("cartel", "sybil-ring")}
    groups = {g: frozenset({parties[g].did, parties[f"{g}-b"].did}) for g in ("cartel", "sybil-ring")}
    nodes, servers, clients = {}, [], {}
    try:
        for name, party in parties.items():
            kind = name.removesuffix("-b")
            params = {"members": groups[kind]} if kind == "cartel" else {}
            params |= {"ring": groups[kind]} if kind == "sybil-ring" else {}
            escrow.deposit(party.did, 10**9)
            nodes[name] = PeerNode.open(
                party.agent.key,
                party.mandate_vs.envelope,
                tmp_path / f"{name}.db",
                strategy=reference_agents.build(kind, **params),
                context=[escrow_party.mandate_vs.envelope],
                clock=lambda: clock.now_ms,
            )
            servers.append(serve(nodes[name], None))
            clients[name] = CooperationClient(servers[-1].target)
        servers.append(serve(None, escrow))
        escrow_client = EscrowClient(servers[-1].target)
        outcomes = {}
        for a, b in pairs(list(parties)):
            pa, pb = nodes[a].peer, nodes[b].peer
            deadline = clock.now_ms + DAY_MS
            default = parties[a].proposal(
                gives=[service("work", value=500, deadline_ms=deadline)],
                wants=[service("work", value=500, deadline_ms=deadline)],
                issuer_bond=100,
                audience_bond=100,
                escrow=escrow_party.did,
            )
            proposal = opening(pa.strategy, pb.did, default)
            if proposal is None:
                continue
            neg = run_trade(pa, clients[b], pb.did, proposal, escrow=escrow_client)
            clock.advance(60_000)
            c = neg.contract
            if c is not None and not neg.is_terminal:
                clock.advance(DAY_MS + 1)
                for victim, breacher in ((a, b), (b, a)):
                    vp, bp = nodes[victim].peer, nodes[breacher].peer
                    vneg = vp.negotiation(neg.id)
                    owed = c.gives(bp.did)
                    missing = [i for i in range(len(owed)) if (bp.did, i) not in c.delivered]
                    if missing:
                        claim = claim_breach(vp, vneg, missing[0], "never delivered")
                        drive(vp, clients[breacher].exchange, claim)
                        settle_with_escrow(vp, clients[breacher], escrow_client, vneg)
                clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
                ruled = [vs.envelope for vs in escrow.tick()]
                relay_escrow_answers(pa, clients[b], [escrow_party.mandate_vs.envelope, *ruled])
            outcomes[(a, b)] = pa.negotiation(neg.id).state
        escrow_client.close()
        return outcomes
    finally:
        for client in clients.values():
            client.close()
        for srv in servers:
            srv.stop(0)
        for node in nodes.values():
            node.close()
        escrow.close()


def _check_grpc_outcomes(outcomes: dict[tuple[str, str], State]) -> None:
    for cheat in ("reneger", "bluffer", "sybil-ring"):
        if ("honest", cheat) in outcomes:
            assert outcomes[("honest", cheat)] is State.BREACHED, cheat
    for good in ("reciprocal", "nash", "opportunist", "equivocator", "over-committer", "feinter"):
        if ("honest", good) in outcomes:
            assert outcomes[("honest", good)] is State.FULFILLED, good
    if ("honest", "cartel") in outcomes:
        assert outcomes[("honest", "cartel")] is State.REJECTED
    if ("cartel", "cartel-b") in outcomes:
        assert outcomes[("cartel", "cartel-b")] is State.FULFILLED


def test_every_agent_served_over_grpc_answers_the_honest_agent(tmp_path: Path) -> None:
    """Every agent as a served, journaled PeerNode: the honest agent offers each one a bonded trade
    over gRPC, and each offers the honest agent one. Expect the withholders breached by the escrow's
    ruling, the cartel's refusal, the rest fulfilled."""

    def pairs(names: list[str]) -> Iterable[tuple[str, str]]:
        others = [n for n in names if n != "honest"]
        return [*(("honest", n) for n in others), *((n, "honest") for n in others), ("cartel", "cartel-b")]

    outcomes = _grpc_matrix(tmp_path, pairs)
    _check_grpc_outcomes(outcomes)
    assert outcomes[("reneger", "honest")] is State.BREACHED and ("cartel", "honest") not in outcomes


@pytest.mark.slow
def test_every_agent_trades_with_every_other_over_grpc(tmp_path: Path) -> None:
    """The full matrix: every served agent offers every other one a bonded trade over gRPC."""
    outcomes = _grpc_matrix(tmp_path, lambda names: itertools.permutations(names, 2))
    _check_grpc_outcomes(outcomes)
    assert len(outcomes) > 200


def test_replicator_dynamics_follow_the_payoff_table() -> None:
    """A table where the reneger exploits the honest agent (cheap talk's shape): the reneger takes the
    population; the verifiable shape (exploiting pays nothing): the honest agent does. Bad sizes raise."""
    from reference_agents import sim

    cheap = {"honest": {"honest": 0.5, "reneger": -1.0}, "reneger": {"honest": 1.5, "reneger": 0.0}}
    verifiable = {"honest": {"honest": 0.5, "reneger": 0.0}, "reneger": {"honest": 0.1, "reneger": 0.0}}
    r = sim.replicator(cheap, steps=500)
    assert r.fixated == "reneger" and r.deceptive_share > 0.99
    r = sim.replicator(verifiable, steps=500)
    assert r.fixated == "honest" and r.deceptive_share < 0.01
    with pytest.raises(sim.SimError):
        sim.replicator(cheap, dt=0)
    with pytest.raises(sim.SimError):
        sim.moran(cheap, population=1)
