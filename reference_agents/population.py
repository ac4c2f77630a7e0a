"""A population of reference agents trading over the real protocol, each keeping its identity.

Where :class:`~reference_agents.sim.PairGame` measures two *fresh* agents at a time (so nothing an
agent did follows it into its next game), a :class:`Population` keeps every individual for its whole
life: its key and principal, its escrow account, its chain, the statements it holds and the
attestations it has given and received. Individuals come (:meth:`Population.add`, a newborn of a
type: a fresh identity, funded at the escrow) and go (:meth:`Population.remove`); the dynamics
(:mod:`reference_agents.evolve`) decide who.

Trading happens in **rounds** (:meth:`Population.play_round`), one round a simulated day: every
individual offers one even trade of one ``work`` item worth :data:`~reference_agents.sim.VALUE` to a
partner drawn at random (seeded); the partner's strategy and both sides' policy guards decide what
happens. In the **verifiable** world every trade is bonded at one escrow (each side's bond =
``bond`` times the trade's value, 1 by default); once the day's deadlines pass, each victim of a
withheld item claims it, the escrow rules, and both parties attest each other (ATT-015).
Attestations are public statements that any peer holding one serves (GetAttestations, ATT-014): the
population's *attestation pool* collects every one with its evidence bundle, and each individual's
reputation view aggregates the pool with its own seeds (its own principal and, for a newborn, its
parent's: it starts out trusting whom its parent trusted), counting only the escrow's locks as
stake (SPEC 10.2-10.3). Its trust policy refuses counterparties scoring below 0.5 in that view
(ATT-016); the fork proofs it holds itself convict the forked key in its view (ATT-013). Trades
start with the Checkpoint and fork-proof swap (ATT-011). The audit is on: an
individual that holds a counterparty's signed reservation claim contradicted by that counterparty's
own Accept (:func:`~reference_agents.detect.broken_reservations`) trades with it no more; that
finding is its own (the protocol has no message that carries it to third parties). The same two
statements travel, though, in the evidence bundle of any attestation of that trade (ATT-014: the
negotiation up to the accepted offer and the Accept), so the public pool proves the lie to anyone who
audits it: with ``pool_audit`` every claim reader (``claim-aware``) stops believing, before it trades,
a counterparty whose broken reservation the pool proves (``ClaimAware.discredit``; it changes what it
believes, not whom anyone trades with). Off by default. In the
**cheap-talk** world there is no escrow, no bond, no claim, no attestation, no Checkpoint gossip, no
trust policy and no audit; only a strategy's own memory (the reciprocal agent's, which now lasts a
lifetime) reacts to being cheated.

The equivocator is the one type whose misbehaviour is not its strategy's: its counterparties call
:class:`~reference_agents.unsafe.ForkingPeer` around its (honest) peer, which sells one commitment
twice (an Accept re-signed at a used seq, no delivery behind it). What stops it is the buyer's
verifier, the escrow's (which refuses to bond the second sale, its error carrying the fork proof the
buyer keeps) and the gossip and trust policies that carry the proof on; its own guard never sees the
fork. Under cheap talk only a buyer that already holds a later statement of its chain (from an
earlier trade: statements are still signed) notices.

Payoffs as in :mod:`reference_agents.sim` ("Payoffs"): a received item is worth ``GAIN`` times its
declared value, a delivered one costs its declared value, both counted at the world's pie (a
contract's declared values scaled by ``2 * VALUE`` over their total, so no volume a party declares
pays), and forfeited bonds move from the breacher to the victim at face value. Each individual
accumulates its payoff and its *opportunities* (offers it made or was made): an offer refused, by a
strategy or by a trust policy, is an opportunity worth 0, so being shunned costs fitness. Everything
is seeded: a run is reproducible bit for bit from its seed.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from a2a_coop.protocol.errors import CoopError, IllegalTransition
from a2a_coop.protocol.forks import fork_proof_from
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation
from a2a_coop.protocol.reputation import attestation_evidence, principals_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.trust import RatingTable, TrustView, aggregate
from a2a_coop.runtime import gossip
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.reputation import RECOMPUTE_MS, Reputation, TrustPolicy, TrustRefused
from a2a_coop.runtime.strategy import opening
from a2a_coop.runtime.trade import carry_trade, claim_breach, relay_escrow_answers, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive, service
from reference_agents import AGENTS, build
from reference_agents.cooperative import ClaimAware
from reference_agents.detect import broken_reservations
from reference_agents.sim import BIG, CAPS, VALUE, SimError, check, contract_payoff
from reference_agents.unsafe import ForkingPeer, ForkPlan

REFUSE_BELOW = 0.5  # the trust policy of every individual in the verifiable world
OFFER_TTL_MS = 5 * 60_000  # an opening Offer's lifetime (as run_trade's)


@dataclass
class Individual:
    """One member of the population: its type, identity, peer, and what it earned so far."""

    name: str
    kind: str
    party: Party
    peer: Peer
    parent: str | None
    wire: Any  # what its counterparties call: its peer, or the unsafe signer around it
    payoff: float = 0.0  # in units of VALUE
    opportunities: int = 0
    inherited: float = 0.0  # the parent's payoff per opportunity when this one was born

    @property
    def did(self) -> str:
        return self.party.did

    @property
    def principal(self) -> str:
        return self.party.mandate_vs.issuer

    @property
    def mean_payoff(self) -> float:
        """Payoff per opportunity over its life; a newborn that has not traded yet has its parent's."""
        return self.payoff / self.opportunities if self.opportunities else self.inherited


class PoolTable:
    """The pool's ratings as one table (SPEC 10.2), built once per change of the pool and shared by
    every viewer: views differ only by their seeds, so each still aggregates on its own."""

    def __init__(self, pool: EvidenceVerifier, escrow: str, clock: Callable[[], int]) -> None:
        self.pool, self.clock = pool, clock
        self._ratings = Reputation(lambda: pool, seeds=(), escrows=(escrow,), clock=clock)
        self._key = -1
        self._table = RatingTable.from_ratings([])

    def table(self) -> RatingTable:
        if self._key != len(self.pool.statements):
            self._table = RatingTable.from_ratings(self._ratings.ratings())
            self._key = len(self.pool.statements)
        return self._table


class PooledReputation(Reputation):
    """An individual's view of the pool: the shared table, aggregated with its own seeds (ATT-009),
    recomputed when the pool changes or an hour has passed -- as :class:`Reputation` does. The fork
    proofs it holds are its own (its verifier's: from its trades, its escrow's refusals and the
    Checkpoint gossip, ATT-011): they convict the forked key and its principals in its view alone
    (ATT-013)."""

    def __init__(self, shared: PoolTable, *, seeds: frozenset[str]) -> None:
        super().__init__(lambda: shared.pool, seeds=seeds, escrows=(), clock=shared.clock)
        self.shared = shared
        self.own: Callable[[], EvidenceVerifier] | None = None  # the individual's verifier, once built

    def faulty(self) -> frozenset[str]:
        out = set(super().faulty())
        if self.own is not None:
            pool = self.evidence()
            for key in self.own().forks:
                out |= principals_of(pool, key) | {key}
        # An equivocator gossiped the proof against itself still trusts its own seeds (its
        # principal, its parent's): it knows what it signed, and a view whose seeds are all faulty
        # holds no trust at all (ATT-009), which would make it a worse judge of others than it is.
        return frozenset(out - self.seeds)

    def view(self) -> TrustView:
        v, now = self.evidence(), self.clock()
        own = len(self.own().forks) if self.own is not None else 0
        key = (len(v.statements), len(v.forks), own, now // RECOMPUTE_MS)
        if self._view is None or key != self._key:
            self._view = aggregate(self.shared.table(), self.seeds, now, self.params, faulty=self.faulty())
            self._key = key
        return self._view


@dataclass(frozen=True)
class TradeRecord:
    """One offer made in a round: who offered whom, whether a contract formed, and its final state."""

    initiator: str
    responder: str
    contract: bool
    state: str
    payoffs: tuple[float, float]


class Population:
    """Individuals of reference-agent types trading in ``world``, seeded by ``seed``; in the verifiable
    world each side bonds ``bond`` times the trade's value."""

    def __init__(self, world: str, seed: int, *, bond: float = 1.0, pool_audit: bool = False) -> None:
        check(world, ["honest"])
        if not 0 <= bond <= 100:
            raise SimError("bond must be between 0 and 100 times the trade's value")
        self.world, self.seed = world, seed
        self.bond = round(VALUE * bond)
        self.verifiable = world == "verifiable"
        self.clock = FixedClock()
        self.rng = random.Random(f"population/{world}/{seed}")
        self.escrow = LocalEscrow(Party(f"escrow/{seed}", self.clock))
        self.pool = EvidenceVerifier()  # every public attestation, with its evidence (ATT-014)
        self.pool.accept(self.escrow.mandate)
        self.pool_table = PoolTable(self.pool, self.escrow.did, lambda: self.clock.now_ms)
        self.members: list[Individual] = []
        self.blocked: set[tuple[str, str]] = set()  # (viewer, subject): the audit caught subject lying
        self.rounds = 0
        self.trades: list[TradeRecord] = []  # this round's
        self.refused: dict[bytes, str] = {}  # negotiation id -> how a double sale ended (_refused_fork)
        self._serial = itertools.count()
        self._collected: dict[str, int] = {}  # did -> attestations of its verifier already pooled
        # pool_audit: the agents a broken-reservation proof in the pool convicts, for the claim readers
        self.pool_audit = pool_audit
        self.proven_liars: set[str] = set()

    # -- membership ----------------------------------------------------------------------------------

    def add(self, kind: str, parent: Individual | None = None) -> Individual:
        """A newborn of ``kind``: a fresh identity and principal, funded at the escrow in the verifiable
        world; it trusts its own principal and its parent's (its seeds, ATT-009)."""
        if kind not in AGENTS:
            raise SimError(f"unknown agent type {kind!r}")
        n = next(self._serial)
        name = f"{kind}#{n}/{self.world}/{self.seed}"
        party = Party(name, self.clock, mandate_caps=CAPS)
        params: dict[str, Any] = {}
        if "seed" in AGENTS[kind].defaults:
            params["seed"] = int.from_bytes(derive(f"strategy/{name}", 4), "big")
        if "verify" in AGENTS[kind].defaults:  # claim-aware: checks claims where they are signed
            params["verify"] = self.verifiable
        counter = itertools.count()
        trust = None
        reputation = None
        if self.verifiable:
            self.escrow.escrow.deposit(party.did, BIG, "credit", "funding", self.clock.now_ms)
            seeds = frozenset({party.mandate_vs.issuer} | ({parent.principal} if parent else set()))
            trust = TrustPolicy(refuse_below=REFUSE_BELOW, seeds=seeds)
            reputation = PooledReputation(self.pool_table, seeds=seeds)
            self.pool.accept(party.mandate_vs.envelope)
        peer = Peer(
            party.agent.key,
            party.mandate_vs.envelope,
            strategy=build(kind, **params),
            clock=lambda: self.clock.now_ms,
            nonce=lambda: derive(f"nonce/{name}/{next(counter)}", 16),
            context=[self.escrow.mandate] if self.verifiable else [],
            trust=trust,
            reputation=reputation,
            attest=self.verifiable,
        )
        if reputation is not None:
            reputation.own = lambda: peer.verifier
        wire: Any = peer
        if kind == "equivocator":  # the unsafe signer: a misbehaving implementation, not a strategy
            plan = ForkPlan(seed=int.from_bytes(derive(f"fork/{name}", 4), "big"))
            wire = ForkingPeer(peer, plan)
        inherited = parent.mean_payoff if parent is not None else 0.0
        ind = Individual(name, kind, party, peer, parent.name if parent else None, wire, inherited=inherited)
        self.members.append(ind)
        return ind

    def remove(self, index: int) -> Individual:
        """Take the individual at ``index`` out (it trades no more; what it signed stays valid)."""
        return self.members.pop(index)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ind in self.members:
            out[ind.kind] = out.get(ind.kind, 0) + 1
        return out

    # -- trading -------------------------------------------------------------------------------------

    def play_round(self, pairs: Sequence[tuple[int, int]] | None = None) -> list[TradeRecord]:
        """One simulated day: every individual offers one trade to a random other (or, given
        ``pairs``, the first of each pair of member indices offers the second); then the day's
        breaches are claimed and ruled on, payoffs scored, attestations pooled and the audit run."""
        if len(self.members) < 2:
            return []
        self.rounds += 1
        if pairs is None:
            pairs = []
            for i in range(len(self.members)):
                others = [j for j in range(len(self.members)) if j != i]
                pairs.append((i, self.rng.choice(others)))
        pending: list[tuple[Individual, Individual, Negotiation | None]] = []
        for i, j in pairs:
            a, b = self.members[i], self.members[j]
            pending.append((a, b, self._offer(a, b)))
        if self.verifiable:
            self.clock.advance(DAY_MS + 1)  # every deadline of the day has passed
            for a, b, neg in pending:
                if neg is not None and neg.contract is not None and not neg.is_terminal:
                    self._claim(a, b, neg)
            self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
            ruled = self.escrow.tick()
            by_negotiation: dict[bytes, list[bytes]] = {}
            for env in ruled:
                by_negotiation.setdefault(verify_statement(env).header.negotiation_id, []).append(env)
            for a, b, neg in pending:
                if neg is not None and neg.id in by_negotiation:
                    relay_escrow_answers(a.peer, b.wire, [self.escrow.mandate, *by_negotiation[neg.id]])
        else:
            self.clock.advance(DAY_MS)
        self.trades = [self._score(a, b, neg) for a, b, neg in pending]
        if self.verifiable:
            for a, b, neg in pending:
                if neg is not None:
                    self._audit(a, b, neg.id)
            self._collect()
        return self.trades

    def _offer(self, a: Individual, b: Individual) -> Negotiation | None:
        a.opportunities += 1
        b.opportunities += 1
        if (a.did, b.did) in self.blocked or (b.did, a.did) in self.blocked:
            return None
        for reader, other in ((a, b), (b, a)):
            if other.did in self.proven_liars and isinstance(reader.peer.strategy, ClaimAware):
                reader.peer.strategy.discredit(other.did)
        deadline = self.clock.now_ms + DAY_MS
        bond = self.bond if self.verifiable else 0
        default = a.party.proposal(
            gives=[service("work", value=VALUE, deadline_ms=deadline)],
            wants=[service("work", value=VALUE, deadline_ms=deadline)],
            issuer_bond=bond,
            audience_bond=bond,
            escrow=self.escrow.did if self.verifiable else "",
        )
        proposal = opening(a.peer.strategy, b.did, default)
        if proposal is None:
            return None
        try:
            # Checkpoints and fork proofs are the verifiable world's (ATT-011): an unsigned promise
            # has no chain to compare.
            if self.verifiable and gossip.swap_due(a.peer, b.did):
                gossip.swap(a.peer, b.wire, b.did)
            offer = a.peer.propose(b.did, proposal, ttl_ms=OFFER_TTL_MS)
            try:
                carry_trade(a.peer, b.wire, offer, escrow=_client(self.escrow) if self.verifiable else None)
            except CoopError as exc:
                self._refused_fork(a, b, offer.header.negotiation_id, exc)
        except TrustRefused:
            return None
        self.clock.advance(60_000)
        return a.peer.negotiation(offer.header.negotiation_id)

    def _refused_fork(self, a: Individual, b: Individual, negotiation_id: bytes, exc: CoopError) -> None:
        """A double sale (``b`` sold ``a`` a commitment it had sold before) stopped mid-trade by

        * ``a``'s verifier (``FORK_REFUSED_BY_BUYER``): it held a statement of the other branch (its
          own trades, a gossiped Checkpoint) and kept the two as a fork proof;
        * the escrow's (``FORK_REFUSED_BY_ESCROW``): it held the Accept sold first and refused to lock
          bonds under the second; ``a`` keeps the proof its refusal carries (EQUIVOCATION, with both
          envelopes), once it has verified it;
        * or the equivocator's own runtime (``DOUBLE_SOLD``): nothing caught the fork, ``a``
          performed, and ``b``'s honest runtime refused ``a``'s statements about an Accept its own
          chain never held -- after the fact: what ``a`` delivered is gone.

        Any other refusal is a bug and propagates."""
        if not (isinstance(b.wire, ForkingPeer) and negotiation_id in b.wire.forked):
            raise exc
        proof = fork_proof_from(exc)
        if a.peer.negotiation(negotiation_id).contract is None:
            self.refused[negotiation_id] = "FORK_REFUSED_BY_BUYER"
        elif proof is not None and a.peer.verifier.take_fork_proof(proof) == b.did:
            self.refused[negotiation_id] = "FORK_REFUSED_BY_ESCROW"
        else:
            self.refused[negotiation_id] = "DOUBLE_SOLD"

    def _claim(self, a: Individual, b: Individual, neg: Negotiation) -> None:
        c = neg.contract
        assert c is not None
        if not c.locked:  # the escrow never took the contract (a double sale it refused): no bond
            return
        for victim, breacher in ((a, b), (b, a)):
            owed = c.gives(breacher.did)
            missing = [k for k in range(len(owed)) if (breacher.did, k) not in c.delivered]
            if missing:
                claim = claim_breach(
                    victim.peer, victim.peer.negotiation(neg.id), missing[0], "never delivered"
                )
                drive(victim.peer, breacher.wire.exchange, claim)
                try:
                    settle_with_escrow(
                        victim.peer, breacher.wire, _client(self.escrow), victim.peer.negotiation(neg.id)
                    )
                except IllegalTransition as exc:
                    # ESC-015: the equivocator answered the offer one way at the escrow and another to
                    # the offerer, whose verifier refused the Accept; the escrow, shown the fork, takes
                    # no claim of its under that contract, and the bonds lapse back. An outcome of the
                    # double sale, not a fault of the run.
                    if exc.requirement != "ESC-015" or not isinstance(victim.wire, ForkingPeer):
                        raise

    def _score(self, a: Individual, b: Individual, neg: Negotiation | None) -> TradeRecord:
        # A double sale refused mid-trade is scored as the buyer saw it (what it delivered is gone).
        refused = self.refused.get(neg.id, "") if neg is not None else ""
        if neg is None or neg.contract is None:
            state = "NO_OFFER" if neg is None else a.peer.negotiation(neg.id).state.value
            return TradeRecord(a.kind, b.kind, False, refused or state, (0.0, 0.0))
        neg = a.peer.negotiation(neg.id)
        c = neg.contract
        assert c is not None
        gains = {a.did: contract_payoff(c, a.did), b.did: contract_payoff(c, b.did)}
        held = a.peer.verifier.statements
        for vs in (held[d] for *_, d in neg.history if d in held):
            if vs.body == "forfeit":
                f = vs.statement.forfeit
                if f.party in gains:
                    gains[f.party] -= f.amount
                if f.beneficiary in gains:
                    gains[f.beneficiary] += f.amount
        pa, pb = gains[a.did] / VALUE, gains[b.did] / VALUE
        a.payoff += pa
        b.payoff += pb
        return TradeRecord(a.kind, b.kind, True, refused or neg.state.value, (pa, pb))

    def _audit(self, a: Individual, b: Individual, negotiation_id: bytes) -> None:
        for viewer, subject in ((a, b), (b, a)):
            statements = viewer.peer.verifier.statements
            neg = viewer.peer.verifier.negotiations.by_id.get(negotiation_id)
            if neg is None:
                continue
            held = [statements[d] for *_, d in neg.history if d in statements]
            if any(br.issuer == subject.did for br in broken_reservations(held)):
                self.blocked.add((viewer.did, subject.did))

    def _collect(self) -> None:
        """Pool every attestation an individual holds that the pool lacks, with its evidence bundle."""
        for ind in self.members:
            v = ind.peer.verifier
            start = self._collected.get(ind.did, 0)
            for digest in v.attestations[start:]:
                bundle = attestation_evidence(v, v.statements[digest])
                for vs in bundle:
                    if vs.digest not in self.pool.statements:
                        with contextlib.suppress(CoopError):  # one it cannot place counts no stake
                            self.pool.accept(vs.envelope)
                if self.pool_audit:  # the lie the bundle proves, from statements the pool took
                    pooled = [vs for vs in bundle if vs.digest in self.pool.statements]
                    self.proven_liars.update(br.issuer for br in broken_reservations(pooled))
            self._collected[ind.did] = len(v.attestations)


def _client(escrow: LocalEscrow) -> Any:
    """A LocalEscrow answers as an EscrowClient does, in process."""
    return escrow


def founders(types: Sequence[str], population: int) -> list[str]:
    """The starting population: ``population`` individuals, the types in turn (as even as it gets)."""
    return [types[i % len(types)] for i in range(population)]
