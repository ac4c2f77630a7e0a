"""Red-team the misrepresentation audit: adversary variants built to stay under its detectors.

    python -m conformance.redteam_eval [--seeds N] [--rounds N]

Each variant is a parameter of a reference adversary (:mod:`reference_agents.adversarial`) or a
change to whom it trades with, run in the markets of :mod:`conformance.audit_eval` (real peers,
bonded trades at one escrow, withheld items claimed and ruled on). Per variant the table gives what
the audit found against the variant's agents (``hard``: agents a hard proof names; ``flagged``: at
or above the screen's default threshold, ``max`` its highest score; ``any``: named by any finding)
and what they gained: ``net/contract``, the declared value delivered to them less the value they
delivered, plus bonds won less bonds forfeited, per contract; ``terms``, the surplus the terms they
signed gave them (value to get less value to give), per contract; next to the honest agents' net per
contract in the same markets; and ``rep``, the highest score any honest agent's own view gives one of
them, over the honest agents' median score in those views. The rows marked ``framed`` are attacks on
honest agents (false accusers, Mallory rejecting hagglers' Counters): their figures are the honest
agents', and every finding against them is a false accusation. SPEC 19.5 quotes the figures. Seeded: the
same arguments print the same output; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import reputation_pb2, trade_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.runtime.strategy import Accept, Counter, HonestStrategy, OfferView, Reject, Reply
from conformance.audit_eval import HONEST, TRAIN, Market
from reference_agents import build
from reference_agents.adversarial import Exaggerator
from reference_agents.cooperative import counter_at, ratio

SETTING = TRAIN[0]  # act_rate 1: every chance to misbehave is taken


def nets(ev: audit.Evidence) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per did:key: its net (value delivered to it - value it delivered + bonds won - forfeited), the
    number of contracts it was party to, and its surplus by the terms it signed (value it was to
    get - value it was to give: what a price, not a breach, won it)."""
    net: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    terms: dict[str, int] = defaultdict(int)
    contracts = {accept.digest: (offer, accept) for offer, accept in ev.contracts()}
    for offer, accept in contracts.values():
        count[offer.issuer] += 1
        count[accept.issuer] += 1
        p = proposal_of(offer)
        surplus = sum(i.value for i in p.wants) - sum(i.value for i in p.gives)  # the proposer's, by terms
        terms[offer.issuer] += surplus
        terms[accept.issuer] -= surplus
    for vs in ev.by_digest.values():
        if vs.body == "delivery":
            pair = contracts.get(vs.statement.delivery.contract)
            if pair is None:
                continue
            offer, accept = pair
            p = proposal_of(offer)
            items = p.gives if vs.issuer == offer.issuer else p.wants
            k = vs.statement.delivery.item_index
            if k < len(items):
                other = accept.issuer if vs.issuer == offer.issuer else offer.issuer
                net[vs.issuer] -= items[k].value
                net[other] += items[k].value
        elif vs.body == "forfeit":
            f = vs.statement.forfeit
            net[f.party] -= f.amount
            net[f.beneficiary] += f.amount
    return dict(net), dict(count), dict(terms)


def _per_contract(names: Sequence[str], market: Market, net: dict[str, int], count: dict[str, int]) -> float:
    dids = [market.members[n].peer.did for n in names]
    total = sum(count.get(d, 0) for d in dids)
    return round(sum(net.get(d, 0) for d in dids) / total, 1) if total else 0.0


def _rebuild(market: Market, names: Sequence[str], kind: str, **params: Any) -> None:
    for n in names:
        market.members[n].peer.strategy = build(kind, seed=market._seed(n), **params)


class SpreadRing(Market):
    """The Sybil ring grown to ``size`` members, each ordered pair trading at most once: no member
    attests another twice, so no pair praises the other (the screen's ``repeat``)."""

    def __init__(self, setting: Any, seed: int, rounds: int, size: int = 6) -> None:
        super().__init__(setting, seed, rounds)
        names = [f"sybil-{k}" for k in range(3, size)]
        for n in names:
            self._join(n, "sybil-ring")
        ring = [n for n in self.members if n.startswith("sybil")]
        dids = frozenset(self.members[n].peer.did for n in ring)
        for n in ring:
            self.members[n].peer.strategy = build(
                "sybil-ring", ring=dids, act_rate=setting.act_rate, seed=self._seed(n)
            )
        self._pairs = list(itertools.permutations(ring, 2))
        self.rng.shuffle(self._pairs)

    def deal(self, a: str, b: str, *, inside: bool = False, fixed: tuple[int, str, str] | None = None) -> Any:
        if a.startswith("sybil") and b.startswith("sybil"):
            if (a, b) not in self._pairs or (b, a) not in self._pairs:
                return None  # this pair has traded (one way or the other)
            self._pairs.remove((a, b))
            self._pairs.remove((b, a))
        return super().deal(a, b, inside=inside, fixed=fixed)


EVEN: Final = (1_000, "work", "work")  # the trade every framing deal offers: 1,000 of work for as much


class FalseAccusers(Market):
    """Two colluding identities accuse an honest triangle (SPEC 19.5). After the market's rounds three
    newcomers, cooperative agents, trade once a pair (each then attests the others FULFILLED, so they
    praise each other once: the Sybil screen's triangle); each of ``accusers`` identities trades once
    with the first, which delivers, and attests it BREACHED. (It can claim nothing: a BreachClaim must
    follow the item's deadline, CMT-002, and by then the contract ended with both Deliveries
    receipted and the bonds released.)"""

    def __init__(self, setting: Any, seed: int, rounds: int, accusers: int = 2) -> None:
        super().__init__(setting, seed, rounds)
        self.accusers = accusers

    def run(self) -> None:
        super().run()
        tri = [f"triangle-{k}" for k in range(3)]
        liars = [f"accuser-{k}" for k in range(self.accusers)]
        for n in tri:
            self._join(n, "honest")
        for n in liars:
            self._join(n, "honest")
            self.members[n].peer.attest = False  # it signs its own, below
        for a, b in itertools.combinations(tri, 2):
            self.deal(a, b, fixed=EVEN)
        for n in liars:
            neg = self.deal(n, tri[0], fixed=EVEN)
            if neg is not None and neg.contract is not None:
                self._accuse(self.members[n], self.members[tri[0]], neg)

    def _accuse(self, liar: Any, victim: Any, neg: Any) -> None:
        c = neg.contract
        offer, accept = c.offer, c.accept
        body = reputation_pb2.Attestation(
            subject=victim.peer.did,
            offer=offer.digest,
            accept=accept.digest,
            outcome=reputation_pb2.OUTCOME_BREACHED,
        )
        self.sent.append(liar.peer.sign("attestation", body).envelope)


class _Outsider(HonestStrategy):
    """Mallory as X: offers an even trade asking a bond of a fifth and bonding nothing itself, and
    rejects whatever comes back."""

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        proposal.terms.issuer_bond = 0
        return proposal

    def respond(self, offer: OfferView) -> Reply:
        return Reject("too dear")


class _Favoured(HonestStrategy):
    """Mallory as Y: its own offers bond all it gives; it counters, asking 3 % more than it gives, any
    proposal that asks more of it, and takes the rest."""

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        proposal.terms.issuer_bond = sum(i.value for i in proposal.gives)
        return proposal

    def respond(self, offer: OfferView) -> Reply:
        return Accept() if ratio(offer) >= 1.03 - 1e-9 else counter_at(offer, 1.03)


class FramedHagglers(Market):
    """Mallory frames two honest bargainers as cartel members (SPEC 19.5). After the market's rounds
    a ``conceder`` (time-based, concedes early) and a ``claim-aware`` reader join. Mallory's Y trades
    with each: the conceder opens an even trade to it, Y counters asking 3 % more, the conceder counters
    (round 3's target, 0.988: the round Y answers in) and takes Y's second Counter at round 4; Y opens
    an even trade to the reader bonding all it gives, which the reader takes as it came. Then each of
    Mallory's X identities offers each the same even trade, asking a bond of a fifth and bonding
    nothing itself: the conceder counters at round 2's target (1.029; its opening ask, 1.3, until the
    nineteenth session), the reader at what it charges for X's unbonded whole (1.111;
    an offer bonded a fifth on both sides it now takes, the shared risk netted out), and X rejects.
    Each honest agent asked X more than it asked or took from Y."""

    def run(self) -> None:
        super().run()
        victims = ["framed-conceder", "framed-reader"]
        self._join(victims[0], "conceder")
        self._join(victims[1], "claim-aware")
        self._join("mallory-y", "honest")
        self.members["mallory-y"].peer.strategy = _Favoured()
        xs = [f"mallory-x-{k}" for k in range(3)]
        for n in xs:
            self._join(n, "honest")
            self.members[n].peer.strategy = _Outsider()
        for _ in range(2):
            self.deal(victims[0], "mallory-y", fixed=EVEN)
            self.deal("mallory-y", victims[1], fixed=EVEN)
        for n in xs:
            for v in victims:
                self.deal(n, v, fixed=EVEN)


def _flagged(
    ev: audit.Evidence, market: Market, names: Sequence[str], kind: str
) -> tuple[int, list[float], set[str], int]:
    """(agents a hard proof names, their scores on screen ``kind``, the hard kinds found, agents any
    finding names)."""
    dids = {market.members[n].peer.did: n for n in names}
    findings = audit.audit(ev.by_digest.values(), facts=market.facts())
    hard = {f.kind for f in findings if f.subject in dids and f.hard}
    named = {dids[f.subject] for f in findings if f.subject in dids and f.hard}
    caught = {dids[f.subject] for f in findings if f.subject in dids}
    scores = {s.subject: s.score for s in audit.SCREENS[kind](ev) if s.subject in dids}
    return len(named), [round(scores.get(d, 0.0), 3) for d in dids], hard, len(caught)


@dataclasses.dataclass(frozen=True)
class Variant:
    """An adversary variant; with ``framed``, the agents are honest ones the adversary tries to get
    named (every finding against them is a false accusation)."""

    name: str
    agents: tuple[str, ...]
    screen: str
    make: Callable[[int, int], Market]
    framed: bool = False


def _exaggerator(markup: float) -> Callable[[int, int], Market]:
    return lambda seed, rounds: Market(dataclasses.replace(SETTING, markup=markup), seed, rounds)


class _Unclaimed(Exaggerator):
    """The control: the exaggerator's Counters with no claims (a plain haggler asking as much)."""

    def respond(self, offer: OfferView) -> Reply:
        reply = super().respond(offer)
        if isinstance(reply, Counter):
            del reply.proposal.claims[:]
        return reply


def _unclaimed(markup: float) -> Callable[[int, int], Market]:
    def make(seed: int, rounds: int) -> Market:
        m = Market(dataclasses.replace(SETTING, markup=markup), seed, rounds)
        for n in ("exaggerator", "exaggerator-2"):
            m.members[n].peer.strategy = _Unclaimed(act_rate=SETTING.act_rate, seed=m._seed(n), markup=markup)
        return m

    return make


def _cartel(counter_ask: float) -> Callable[[int, int], Market]:
    def make(seed: int, rounds: int) -> Market:
        m = Market(SETTING, seed, rounds)
        names = [n for n in m.members if n.startswith("cartel")]
        dids = frozenset(m.members[n].peer.did for n in names)
        _rebuild(m, names, "cartel", members=dids, act_rate=SETTING.act_rate, counter_ask=counter_ask)
        return m

    return make


def _reneger(max_stake: int) -> Callable[[int, int], Market]:
    def make(seed: int, rounds: int) -> Market:
        m = Market(SETTING, seed, rounds)
        _rebuild(m, ["reneger"], "reneger", act_rate=SETTING.act_rate, max_stake=max_stake)
        return m

    return make


VARIANTS = (
    Variant(
        "exaggerator markup 0.5 (reference)", ("exaggerator", "exaggerator-2"), "ratchet", _exaggerator(0.5)
    ),
    Variant("exaggerator markup 0.14", ("exaggerator", "exaggerator-2"), "ratchet", _exaggerator(0.14)),
    Variant("  control: the same, no claims", ("exaggerator", "exaggerator-2"), "ratchet", _unclaimed(0.14)),
    Variant("cartel rejects (reference)", ("cartel-0", "cartel-1", "cartel-2"), "cartel", _cartel(0.0)),
    Variant("cartel counters at 3x", ("cartel-0", "cartel-1", "cartel-2"), "cartel", _cartel(3.0)),
    Variant("reneger (reference)", ("reneger",), "feint", _reneger(0)),
    Variant("reneger on stakes <= 400", ("reneger",), "feint", _reneger(400)),
    Variant(
        "sybil ring of 3 (reference)",
        ("sybil-0", "sybil-1", "sybil-2"),
        "sybil-ring",
        lambda seed, rounds: Market(SETTING, seed, rounds),
    ),
    Variant(
        "sybil ring of 6, one trade a pair",
        tuple(f"sybil-{k}" for k in range(6)),
        "sybil-ring",
        lambda seed, rounds: SpreadRing(SETTING, seed, rounds),
    ),
    Variant(
        "framed: 2 false accusers, triangle",
        tuple(f"triangle-{k}" for k in range(3)),
        "sybil-ring",
        lambda seed, rounds: FalseAccusers(SETTING, seed, rounds),
        framed=True,
    ),
    Variant(
        "framed: hagglers countered Mallory",
        ("framed-conceder", "framed-reader"),
        "cartel",
        lambda seed, rounds: FramedHagglers(SETTING, seed, rounds),
        framed=True,
    ),
)


def run_variant(v: Variant, seeds: int, rounds: int) -> dict[str, Any]:
    threshold = audit.Thresholds().of(v.screen)
    hard_named, caught, scores, kinds, gain, priced, honest = 0, 0, [], set(), [], [], []
    rep: list[float] = []  # the variant's agents' scores in the honest agents' own views
    rep_honest: list[float] = []
    for seed in range(seeds):
        m = v.make(seed, rounds)
        m.run()
        ev = audit.Evidence(m.evidence())
        n, s, k, c = _flagged(ev, m, v.agents, v.screen)
        hard_named, caught, scores, kinds = hard_named + n, caught + c, scores + s, kinds | k
        viewers = [x.peer for n, x in m.members.items() if n.startswith(HONEST)]
        for view in viewers:
            for n, x in m.members.items():
                if x.peer is not view and (n in v.agents or n.startswith(HONEST)):
                    (rep if n in v.agents else rep_honest).append(view.reputation.score(x.peer.did).score)
        net, count, terms = nets(ev)
        gain.append(_per_contract(v.agents, m, net, count))
        priced.append(_per_contract(v.agents, m, terms, count))
        honest.append(_per_contract([n for n in m.members if n.startswith(HONEST)], m, net, count))
    return {
        "variant": v.name,
        "agents": len(v.agents) * seeds,
        "hard_named": hard_named,
        "caught": caught,
        "hard_kinds": sorted(kinds),
        "screen": v.screen,
        "threshold": threshold,
        "flagged": sum(1 for s in scores if s >= threshold and s > 0),
        "max_score": max(scores),
        "net_per_contract": round(sum(gain) / len(gain), 1),
        "terms_per_contract": round(sum(priced) / len(priced), 1),
        "max_reputation": round(max(rep), 3),
        "honest_median_reputation": round(statistics.median(rep_honest), 3),
        "honest_net_per_contract": round(sum(honest) / len(honest), 1),
        "framed": v.framed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.redteam_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=3, help="markets per variant (default 3)")
    parser.add_argument("--rounds", type=int, default=6, help="trading rounds per market (default 6)")
    args = parser.parse_args(argv)
    rows = [run_variant(v, args.seeds, args.rounds) for v in VARIANTS]
    head = ("variant", "hard", "screen", "flagged", "max", "any", "net/contract", "terms", "honest", "rep")
    print("  {:36} {:>9} {:>10} {:>9} {:>6} {:>7} {:>12} {:>6} {:>7} {:>11}".format(*head))
    for r in rows:
        n = r["agents"]
        print(
            f"  {r['variant']:36} {r['hard_named']:>3}/{n:<5} {r['screen']:>10} {r['flagged']:>3}/{n:<5} "
            f"{r['max_score']:>6.3f} {r['caught']:>3}/{n:<3} {r['net_per_contract']:>12} "
            f"{r['terms_per_contract']:>6} "
            f"{r['honest_net_per_contract']:>7} "
            f"{r['max_reputation']:>5.2f}/{r['honest_median_reputation']:.2f}"
        )
    print(json.dumps(rows, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
