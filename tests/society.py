"""A population of real peers trading through the protocol in process, for reputation tests.

Every agent is a :class:`~a2a_coop.runtime.peer.Peer` (policy guard, automatic attestations:
ATT-015) with its own principal unless told otherwise; every trade is :func:`run_trade` through one
:class:`~a2a_coop.testing.LocalEscrow` (the real escrow rules) that every viewer trusts, bonds locked
from deposited funds and settled by the escrow. Attestations are public: an *observer* collects, as
evidence bundles (what GetAttestations serves, ATT-014), every attestation each peer holds, and each
honest viewer aggregates the observer's evidence with its own seeds (SPEC 10.3). That is every
viewer's best case for evidence (it sees all of it), and the attacker's best case for escrows (its
bonds count fully).
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation
from a2a_coop.protocol.reputation import attestation_evidence, ratings
from a2a_coop.protocol.trust import RatingTable, TrustView, aggregate
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, relay_escrow_answers, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, service

BIG = 10**12
CAPS = {
    "budget_per_period": BIG,
    "max_outstanding": BIG,
    "max_per_deal": BIG,
}


@dataclass
class Agent:
    name: str
    party: Party
    peer: Peer
    principal: str
    volume: int = 0  # value traded with honest agents


@dataclass
class Society:
    clock: FixedClock = field(default_factory=FixedClock)
    seed: int = 12

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.escrow = LocalEscrow(Party("escrow", self.clock))
        self.observer = EvidenceVerifier()
        self.observer.accept(self.escrow.mandate)
        self.agents: dict[str, Agent] = {}
        self._seen: dict[str, int] = {}  # agent -> attestations of its peer passed to the observer
        self.volume: dict[tuple[str, str], int] = {}

    # -- population ------------------------------------------------------------------------------

    def join(self, name: str, *, principal: Signer | None = None, withholds: bool = False) -> Agent:
        """A new agent with its own principal (or a Mandate from ``principal``), funded at the escrow."""
        party = Party(name, self.clock, mandate_caps=CAPS)
        if principal is not None:
            caps = {
                "agent": party.did,
                "valid_from_ms": self.clock.now_ms - DAY_MS,
                "valid_until_ms": self.clock.now_ms + 365 * DAY_MS,
                "currency": "credit",
                "min_per_deal": 0,
                "period_ms": 30 * DAY_MS,
                **CAPS,
            }
            party.principal = principal
            party.mandate_vs = principal.sign("mandate", identity_pb2.Mandate(**caps), ttl_ms=365 * DAY_MS)
            party.setup = [party.mandate_vs.envelope]
        self.escrow.escrow.deposit(party.did, BIG, "credit", "funding", self.clock.now_ms)
        strategy = WithholdingStrategy(every=1) if withholds else None
        peer = make_peer(party, self.clock, context=[self.escrow.mandate], strategy=strategy)
        self.observer.accept(party.mandate_vs.envelope)
        agent = Agent(name, party, peer, party.mandate_vs.issuer)
        self.agents[name] = agent
        return agent

    # -- trading ---------------------------------------------------------------------------------

    def trade(self, a: str, b: str, *, value: int = 500, bond: int = 100) -> Negotiation:
        """``a`` offers ``b`` a service of ``value`` for one of ``value``, both bonded by ``bond``."""
        pa, pb = self.agents[a], self.agents[b]
        deadline = self.clock.now_ms + DAY_MS
        proposal = pa.party.proposal(
            gives=[service("work", value=value, deadline_ms=deadline)],
            wants=[service("work", value=value, deadline_ms=deadline)],
            issuer_bond=bond,
            audience_bond=bond,
            escrow=self.escrow.did,
        )
        neg = run_trade(pa.peer, pb.peer, pb.peer.did, proposal, escrow=self.escrow)
        self.clock.advance(60_000)
        self.volume[(a, b)] = self.volume.get((a, b), 0) + value
        return neg

    def breach(self, victim: str, breacher: str, *, bond: int = 100) -> None:
        """``victim`` trades with ``breacher`` (who withholds), claims, and the escrow forfeits."""
        neg = self.trade(victim, breacher, bond=bond)
        v, w = self.agents[victim].peer, self.agents[breacher].peer
        self.clock.advance(DAY_MS + 1)
        claim = claim_breach(v, neg, 0, "never delivered")
        drive(v, w.exchange, claim)
        settle_with_escrow(v, w, self.escrow, neg)
        self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        relay_escrow_answers(v, w, [self.escrow.mandate, *self.escrow.tick()])

    # -- views -----------------------------------------------------------------------------------

    def collect(self) -> None:
        """Pass every attestation any peer holds to the observer, as its evidence bundle."""
        for name, agent in self.agents.items():
            v = agent.peer.verifier
            for digest in v.attestations[self._seen.get(name, 0) :]:
                for vs in attestation_evidence(v, v.statements[digest]):
                    if vs.digest in self.observer.statements:
                        continue
                    with contextlib.suppress(CoopError):  # one it cannot place: counted as no stake
                        self.observer.accept(vs.envelope)
            self._seen[name] = len(v.attestations)

    def table(self, drop: Iterable[tuple[str, str]] = ()) -> RatingTable:
        """The observer's ratings (without those of the (rater, subject) principal pairs in ``drop``)."""
        self.collect()
        att = [self.observer.statements[d] for d in self.observer.attestations]
        dropped = set(drop)
        rs = [
            r for r in ratings(self.observer, att, {self.escrow.did}) if (r.rater, r.subject) not in dropped
        ]
        return RatingTable.from_ratings(rs)

    def view(self, seeds: Iterable[str], table: RatingTable | None = None) -> TrustView:
        return aggregate(table or self.table(), seeds, self.clock.now_ms)

    def principals(self, names: Iterable[str]) -> set[str]:
        return {self.agents[n].principal for n in names}

    def pick(self, viewer: str, view: TrustView, candidates: Sequence[str], explore: float) -> str:
        """The counterparty an honest ``viewer`` picks: with probability ``explore`` any candidate,
        else one drawn in proportion to its principal's trust in the viewer's view (EigenTrust's
        use of trust: a source chosen by its share)."""
        others = [c for c in candidates if c != viewer]
        weights = [view.score(self.agents[c].principal).trust for c in others]
        if self.rng.random() < explore or not any(weights):
            return self.rng.choice(others)
        return self.rng.choices(others, weights=weights)[0]


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def pairs(group: Sequence[str]) -> Any:
    return itertools.permutations(group, 2)
