"""Population simulation (fast mode): reference agents trading in one process over the real protocol.

Every trade is signed and verified: each agent is a :class:`~a2a_coop.runtime.peer.Peer` (policy
guard, Ed25519 signatures, hash chains) on a fixed clock with deterministic nonces, and in the
verifiable world every contract goes through one :class:`~a2a_coop.testing.LocalEscrow` (the real
escrow rules), so a run is reproducible bit for bit from its seed. No network: a trade is one
``run_trade`` between two in-process peers.

Two worlds, same agents:

* **verifiable** -- every trade bonded at the escrow (each side's bond = the trade's value); a
  withheld item is claimed and the escrow forfeits the breacher's bond to the victim; each peer's
  trust policy refuses counterparties its own reputation view scores below 0.5 (its attestations,
  ATT-016); and the audit is on: a counterparty that finds its partner's signed reservation claim
  contradicted by that partner's own Accept (:func:`~reference_agents.detect.broken_reservations`)
  trades with it no more.
* **cheap talk** -- no escrow, no bonds, no claims, no reputation, no audit: promises bind nobody
  (statements are still signed, but nothing acts on them). Only a strategy's own memory
  (the reciprocal agent's) reacts to being cheated.

Payoffs. An item is worth ``GAIN`` (1.5) times its declared value to whoever receives it and costs
its declared value to whoever delivers it, both counted *at the world's pie* (:func:`pie_scale`):
every trade is one ``work`` item for one, a pie of ``2 * VALUE``, and a contract's declared values are
scaled by ``2 * VALUE`` over their total (both sides' items, delivered or not) before they are
scored, so a contract pays for its split and for what was delivered, never for the volume its
parties declared (:mod:`reference_agents.cooperative`, "Bargaining domain": with a fixed pie every
agreement's welfare is ``(GAIN - 1) * 2 * VALUE`` and an even split pays each side 0.5 of ``VALUE``).
Forfeited bonds move from the breacher to the victim at face value: a bond is an amount the escrow
moves, set by the world (``VALUE`` times the bond factor) whatever the items' declared values, so it
is not rescaled -- a breach costs the same whatever volume was declared, and a breacher that signed an
inflated trade cannot shrink its forfeit by it. (Until the twentieth session declared values counted
as declared: a counter that scaled up the other side's values grew the pie, and two haggling
time-based agents earned 1.81 of ``VALUE`` a trade against each other, issue 13.)
A *pair game* is ``rounds`` rounds between two fresh agents of two types, each round one trade
offered by each side (an even trade of one ``work`` item worth ``VALUE``); the payoff table holds
each type's mean payoff per trade against each other type, in units of ``VALUE``.

Evolution: a Moran process over that table (population 30 by default): each step one individual
reproduces with probability proportional to its fitness ``exp(beta * mean payoff against the rest
of the population)`` and its offspring replaces one individual drawn uniformly; it stops at
fixation or after ``steps`` steps; or replicator dynamics over the same table (:func:`replicator`:
an infinite population, no drift). The table is measured once per world and seed: the population's
dynamics follow the measured pairwise outcomes, and nothing an agent did follows it into its next pair
game. That is this model's limit: :mod:`reference_agents.population` keeps every individual's
identity, escrow account and reputation across the whole population, and :mod:`reference_agents.evolve`
runs the dynamics on the trades it plays (``a2a-coop sim evolve``'s default; ``--model table`` runs
this one).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Contract, Negotiation
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.reputation import TrustPolicy, TrustRefused
from a2a_coop.runtime.strategy import opening
from a2a_coop.runtime.trade import claim_breach, relay_escrow_answers, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive, service
from reference_agents import AGENTS, build
from reference_agents.detect import broken_reservations

WORLDS = ("verifiable", "cheap-talk")
VALUE = 500
GAIN = 1.5
BIG = 10**12
# The agents a pair game can host: every strategy that needs no group (cartel, Sybil ring) and no
# unsafe signer (equivocator, over-committer) -- those need three or more parties.
# The population's types: every agent that needs no group (the cartel's members, the Sybil ring's
# identities) and whose misbehaviour the population can host -- the equivocator's unsafe signer
# (reference_agents.unsafe.ForkingPeer) yes, the over-committer's no (the population's mandates
# are unbounded, so it would have nothing to over-commit).
# The claim-aware agent is hosted on request only (``--types``): the default population, and so every
# figure and output hash measured over it, predates it.
OPT_IN = ("claim-aware",)
SIM_TYPES = tuple(n for n in AGENTS if n not in ("cartel", "sybil-ring", "over-committer", *OPT_IN))
# The table model's pair games have one counterparty each: there an equivocator has no second
# buyer to sell to, so the table model hosts the guarded types only.
TABLE_TYPES = tuple(n for n in SIM_TYPES if not AGENTS[n].unsafe)
HOSTED = SIM_TYPES + OPT_IN  # every type a population may be given
TABLE_HOSTED = TABLE_TYPES + OPT_IN  # every type a table may be given
CAPS = {"budget_per_period": BIG, "max_outstanding": BIG, "max_per_deal": BIG}


class SimError(ValueError):
    """A bad simulation parameter (unknown world or type, a size out of range)."""


@dataclass
class _Agent:
    name: str
    party: Party
    peer: Peer


@dataclass
class PairGame:
    """Two fresh agents of types ``a`` and ``b`` trading ``rounds`` rounds in ``world``."""

    world: str
    a: str
    b: str
    seed: int
    rounds: int = 4
    clock: FixedClock = field(default_factory=FixedClock)

    def __post_init__(self) -> None:
        self.escrow = LocalEscrow(Party(f"escrow/{self.seed}", self.clock))
        self.agents = [self._agent(f"{self.a}#0", self.a, 0), self._agent(f"{self.b}#1", self.b, 1)]
        self.blocked: set[tuple[str, str]] = set()  # (viewer, subject): the audit caught subject lying
        self.payoff = [0.0, 0.0]
        self.trades = 0

    def _agent(self, name: str, kind: str, index: int) -> _Agent:
        party = Party(f"{name}/{self.seed}", self.clock, mandate_caps=CAPS)
        verifiable = self.world == "verifiable"
        if verifiable:
            self.escrow.escrow.deposit(party.did, BIG, "credit", "funding", self.clock.now_ms)
        params: dict[str, Any] = {}
        if "seed" in AGENTS[kind].defaults:
            params["seed"] = self.seed * 2 + index
        if "verify" in AGENTS[kind].defaults:  # claim-aware: checks claims where they are signed
            params["verify"] = verifiable
        counter = itertools.count()
        peer = Peer(
            party.agent.key,
            party.mandate_vs.envelope,
            strategy=build(kind, **params),
            clock=lambda: self.clock.now_ms,
            nonce=lambda: derive(f"nonce/{party.name}/{next(counter)}", 16),
            context=[self.escrow.mandate] if verifiable else [],
            trust=TrustPolicy(refuse_below=0.5) if verifiable else None,
            attest=verifiable,
        )
        return _Agent(name, party, peer)

    def play(self) -> list[float]:
        """Run every round; return each side's total payoff in units of VALUE."""
        for _ in range(self.rounds):
            for i in (0, 1):
                self._trade(i, 1 - i)
        return [p / VALUE for p in self.payoff]

    def _trade(self, i: int, j: int) -> None:
        a, b = self.agents[i], self.agents[j]
        if (a.peer.did, b.peer.did) in self.blocked or (b.peer.did, a.peer.did) in self.blocked:
            return
        verifiable = self.world == "verifiable"
        deadline = self.clock.now_ms + DAY_MS
        default = a.party.proposal(
            gives=[service("work", value=VALUE, deadline_ms=deadline)],
            wants=[service("work", value=VALUE, deadline_ms=deadline)],
            issuer_bond=VALUE if verifiable else 0,
            audience_bond=VALUE if verifiable else 0,
            escrow=self.escrow.did if verifiable else "",
        )
        proposal = opening(a.peer.strategy, b.peer.did, default)
        if proposal is None:
            return
        try:
            neg = run_trade(
                a.peer, _wire(b.peer), b.peer.did, proposal, escrow=self._escrow() if verifiable else None
            )
        except TrustRefused:
            return
        self.clock.advance(60_000)
        if verifiable and neg.contract is not None and not neg.is_terminal:
            self._claim(a.peer, b.peer, neg)
        self._score(a.peer, b.peer, a.peer.negotiation(neg.id), (i, j))
        if verifiable:
            self._audit(a.peer, b.peer, neg.id)

    def _escrow(self) -> Any:
        return self.escrow  # a LocalEscrow answers as an EscrowClient does, in process

    def _claim(self, a: Peer, b: Peer, neg: Negotiation) -> None:
        c = neg.contract
        assert c is not None
        self.clock.advance(DAY_MS + 1)
        for victim, breacher in ((a, b), (b, a)):
            owed = c.gives(breacher.did)
            if any((breacher.did, k) not in c.delivered for k in range(len(owed))):
                missing = next(k for k in range(len(owed)) if (breacher.did, k) not in c.delivered)
                claim = claim_breach(victim, neg, missing, "never delivered")
                drive(victim, breacher.exchange, claim)
                settle_with_escrow(victim, _wire(breacher), self._escrow(), neg)
        self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        relay_escrow_answers(a, _wire(b), [self.escrow.mandate, *self.escrow.tick()])

    def _score(self, a: Peer, b: Peer, neg: Negotiation, sides: tuple[int, int]) -> None:
        c = neg.contract
        if c is None:
            return
        self.trades += 1
        for peer, side in ((a, sides[0]), (b, sides[1])):
            self.payoff[side] += contract_payoff(c, peer.did)
        for vs in a.verifier.statements.values():
            if vs.body == "forfeit" and vs.header.negotiation_id == neg.id:
                f = vs.statement.forfeit
                for peer, side in ((a, sides[0]), (b, sides[1])):
                    if f.party == peer.did:
                        self.payoff[side] -= f.amount
                    if f.beneficiary == peer.did:
                        self.payoff[side] += f.amount

    def _audit(self, a: Peer, b: Peer, negotiation_id: bytes) -> None:
        for viewer, subject in ((a, b), (b, a)):
            held = [
                vs for vs in viewer.verifier.statements.values() if vs.header.negotiation_id == negotiation_id
            ]
            if any(br.issuer == subject.did for br in broken_reservations(held)):
                self.blocked.add((viewer.did, subject.did))


def pie_scale(contract: Contract) -> float:
    """What a declared value of ``contract`` counts for in the payoff: the world's pie, ``2 * VALUE``,
    over the declared value of both sides' items (1 when they declare nothing). See "Payoffs"."""
    declared = sum(i.value for i in contract.proposal.gives) + sum(i.value for i in contract.proposal.wants)
    return 2 * VALUE / declared if declared > 0 else 1.0


def contract_payoff(contract: Contract, party: str) -> float:
    """``party``'s payoff from the items delivered under ``contract`` (credits, before forfeits):
    ``GAIN`` times what it received less what it delivered, at the world's pie (:func:`pie_scale`)."""
    other = contract.other(party)
    got = sum(i.value for k, i in enumerate(contract.items(other)) if (other, k) in contract.delivered)
    gave = sum(i.value for k, i in enumerate(contract.items(party)) if (party, k) in contract.delivered)
    return pie_scale(contract) * (GAIN * got - gave)


def _wire(peer: Peer) -> Any:
    """An in-process Peer answers exchange and gossip as a CooperationClient does."""
    return peer


def payoff_table(world: str, types: Sequence[str], seed: int, rounds: int = 4) -> dict[str, dict[str, float]]:
    """Mean payoff per trade offered (units of VALUE) of each type against each type."""
    check(world, types, TABLE_HOSTED)
    table: dict[str, dict[str, float]] = {t: {} for t in types}
    per = 2 * rounds  # trades offered in a pair game, by both sides
    for n, (x, y) in enumerate(itertools.combinations_with_replacement(types, 2)):
        px, py = PairGame(world, x, y, seed=seed * 1000 + n, rounds=rounds).play()
        table[x][y], table[y][x] = px / per, py / per
        if x == y:
            table[x][x] = (px + py) / (2 * per)
    return table


def check(world: str, types: Sequence[str], allowed: Sequence[str] = HOSTED) -> None:
    """Raises SimError for an unknown world or a type not in ``allowed``."""
    if world not in WORLDS:
        raise SimError(f"unknown world {world!r}; choose one of: {', '.join(WORLDS)}")
    unknown = [t for t in types if t not in allowed]
    if unknown or not types:
        raise SimError(f"types must be among: {', '.join(allowed)} (not {', '.join(unknown) or 'none'})")


@dataclass
class MoranResult:
    world: str
    seed: int
    generations: int
    shares: dict[str, float]
    fixated: str | None
    deceptive_share: float

    def as_json(self) -> dict[str, Any]:
        return {
            "world": self.world,
            "seed": self.seed,
            "generations": self.generations,
            "fixated": self.fixated,
            "deceptive_share": round(self.deceptive_share, 4),
            "shares": {k: round(v, 4) for k, v in self.shares.items()},
        }


def moran(
    table: dict[str, dict[str, float]],
    *,
    population: int = 30,
    steps: int = 100,
    seed: int = 0,
    beta: float = 1.0,
    world: str = "",
) -> MoranResult:
    """A Moran process over a payoff table (see the module docstring); seeded, so reproducible."""
    types = list(table)
    if population < 2 or steps < 0 or population < len(types):
        raise SimError("population must be at least 2 and at least the number of types; steps >= 0")
    rng = random.Random(seed)
    pop = [types[i % len(types)] for i in range(population)]
    generations = 0
    while generations < steps and len(set(pop)) > 1:
        counts = Counter(pop)
        fitness = []
        for t in pop:
            total = sum(table[t][u] * (counts[u] - (u == t)) for u in counts)
            fitness.append(math.exp(beta * total / (population - 1)))
        parent = rng.choices(range(population), weights=fitness)[0]
        pop[rng.randrange(population)] = pop[parent]
        generations += 1
    counts = Counter(pop)
    shares = {t: counts[t] / population for t in types}
    deceptive = sum(shares[t] for t in types if AGENTS[t].deceptive)
    fixated = pop[0] if len(counts) == 1 else None
    return MoranResult(world, seed, generations, shares, fixated, deceptive)


def replicator(
    table: dict[str, dict[str, float]], *, steps: int = 1000, dt: float = 0.1, world: str = "", seed: int = 0
) -> MoranResult:
    """Replicator dynamics over a payoff table from even shares: ``x_i += dt * x_i * (f_i - mean f)``
    with ``f_i`` type i's expected payoff against the population (an infinite population: no drift,
    no randomness). A type whose share reaches 0.99 counts as fixated."""
    types = list(table)
    if steps < 0 or not 0 < dt < math.inf:  # NaN too: it compares false to everything
        raise SimError("steps must be >= 0 and dt a finite number > 0")
    x = {t: 1 / len(types) for t in types}
    for _ in range(steps):
        f = {t: sum(table[t][u] * x[u] for u in types) for t in types}
        mean = sum(x[t] * f[t] for t in types)
        x = {t: max(0.0, x[t] * (1 + dt * (f[t] - mean))) for t in types}
        total = sum(x.values())
        x = {t: v / total for t, v in x.items()}
    fixated = next((t for t in types if x[t] >= 0.99), None)
    deceptive = sum(x[t] for t in types if AGENTS[t].deceptive)
    return MoranResult(world, seed, steps, x, fixated, deceptive)


def evolve(
    world: str,
    seed: int,
    *,
    types: Sequence[str] = TABLE_TYPES,
    population: int = 30,
    steps: int = 100,
    rounds: int = 4,
) -> tuple[MoranResult, dict[str, dict[str, float]]]:
    """Measure the payoff table in ``world`` and run a Moran process on it, both from ``seed``."""
    table = payoff_table(world, types, seed, rounds)
    return moran(table, population=population, steps=steps, seed=seed, world=world), table
