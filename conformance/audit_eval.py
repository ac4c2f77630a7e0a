"""Score the misrepresentation audit (:mod:`a2a_coop.protocol.audit`) against the reference agents.

    python -m conformance.audit_eval [--seeds N] [--rounds N] [--honest-runs N]

A *market* is a population of reference agents (issue 13) trading in one process over the real
protocol: every agent a :class:`~a2a_coop.runtime.peer.Peer` (policy guard, Ed25519 signatures,
hash chains) on a fixed clock with deterministic nonces, every trade bonded at one
:class:`~a2a_coop.testing.LocalEscrow`, every withheld item claimed and ruled on, every settled
contract attested (ATT-015). The equivocator and the over-committer sign through the unsafe signer
(:mod:`reference_agents.unsafe`). Stakes and the categories traded vary per trade.

The audit reads the union of every statement any party holds, plus every envelope the unsafe
signers sent (what a conformance run records of a target), with the escrow's funds and each
agent's true holdings as :class:`~a2a_coop.protocol.audit.Facts`. The ground truth is each
adversary's own record of its acts (``truth``).

Hard proofs are scored for false positives on every agent that did not do what the proof says
(it must be 0) and for recall on the acts that left evidence. Soft screens are scored per (run,
agent): their threshold is the F1-best on the TRAIN settings, and precision, recall, F1 and PR-AUC
(average precision) are reported on the held-out TEST settings, whose adversary parameters (rates,
markups, stake thresholds, warm-ups, timing) differ. The last line printed is one JSON object.
Seeded: the same arguments print the same output.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import opening
from a2a_coop.runtime.trade import claim_breach, relay_escrow_answers, run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive, service
from reference_agents import AGENTS, build
from reference_agents.unsafe import Equivocator, OverCommitter

BIG = 10**12
FUNDS = 10**7  # what each agent deposits at the escrow
STAKES = (200, 400, 700, 1000, 1500, 2200)
CATEGORIES = ("work", "data", "compute")
HONEST = ("honest", "reciprocal", "boulware", "conceder", "nash")
# The mandate of every agent but the over-committer: loose enough to trade, tight enough that the
# guard binds now and then (so the over-commitment proof is tested against agents near their caps).
CAPS = {
    "max_per_deal": 2_600,
    "max_outstanding": 5_000,
    "budget_per_period": 400_000,
    "period_ms": 7 * DAY_MS,
}
OVER_CAPS = {
    "max_per_deal": 1_000,
    "max_outstanding": 1_500,
    "budget_per_period": BIG,
    "period_ms": 7 * DAY_MS,
}
SCREEN_LABEL = {"feint": "feint", "ratchet": "exaggerate", "cartel": "exclude", "sybil-ring": "sybil-ring"}
HARD_LABEL = {
    "equivocation": "equivocate",
    "broken-reservation": "broken-reservation",
    "bluff": "claimed-bluff",
    "over-commitment": "overcommit",
    "breach": "breach",
}


@dataclass(frozen=True)
class Setting:
    """One set of adversary parameters (shared by every adversary of a market)."""

    name: str
    act_rate: float
    markup: float  # exaggerator
    stake_threshold: int  # feinter
    warmup: int  # feinter
    after: int  # reneger
    start: int  # round from which the equivocator and the over-committer misbehave
    excess: float  # over-committer: its burst's total as a multiple of its max_outstanding


TRAIN = (
    Setting("train-a", 1.0, 0.5, 1000, 3, 0, 1, 1.4),
    Setting("train-b", 0.6, 0.3, 1500, 2, 1, 2, 2.0),
    Setting("train-c", 0.8, 0.8, 700, 4, 2, 0, 1.2),
)
TEST = (
    Setting("test-a", 0.5, 0.2, 1200, 2, 1, 1, 1.1),
    Setting("test-b", 0.9, 1.0, 800, 3, 0, 2, 3.0),
    Setting("test-c", 0.7, 0.4, 2000, 5, 3, 3, 1.6),
)


@dataclass
class Member:
    name: str
    kind: str
    party: Party
    peer: Peer
    truth: list[Any] = field(default_factory=list)  # ground truth acts (kind, negotiation hex)


class Market:
    """One population of reference agents trading for ``rounds`` rounds under ``setting``."""

    def __init__(self, setting: Setting, seed: int, rounds: int = 6, *, adversaries: bool = True) -> None:
        self.setting, self.seed, self.rounds = setting, seed, rounds
        self.rng = random.Random(f"{setting.name}/{seed}")
        self.clock = FixedClock()
        self.escrow = LocalEscrow(Party(f"escrow/{seed}", self.clock))
        self.members: dict[str, Member] = {}
        self.sent: list[bytes] = []  # envelopes the unsafe signers sent
        self.holdings: dict[tuple[str, str], int] = {}
        for i, kind in enumerate((*HONEST, "honest")):
            self._join(f"{kind}-{i}", kind)
        self.adversaries = adversaries
        if adversaries:
            s = setting
            for n in ("exaggerator", "exaggerator-2"):
                self._join(n, "exaggerator", act_rate=s.act_rate, markup=s.markup)
            self._join("bluffer", "bluffer", act_rate=s.act_rate, holdings=frozenset({"work"}))
            self._join("reneger", "reneger", act_rate=s.act_rate, after=s.after)
            for n in ("feinter", "feinter-2"):
                self._join(
                    n, "feinter", act_rate=s.act_rate, stake_threshold=s.stake_threshold, warmup=s.warmup
                )
            self._join("opportunist", "opportunist", act_rate=s.act_rate)
            self._join("equivocator", "equivocator")
            self._join("over-committer", "over-committer", caps=OVER_CAPS)
            for group, kind, key in (("cartel", "cartel", "members"), ("sybil", "sybil-ring", "ring")):
                names = [f"{group}-{k}" for k in range(3)]
                for n in names:
                    self._join(n, kind)
                dids = frozenset(self.members[n].peer.did for n in names)
                for n in names:
                    self.members[n].peer.strategy = build(
                        kind, **{key: dids, "act_rate": s.act_rate, "seed": self._seed(n)}
                    )
            self.equivocator = Equivocator(self.members["equivocator"].peer)
            self.over = OverCommitter(self.members["over-committer"].peer)

    def _seed(self, name: str) -> int:
        return int.from_bytes(derive(f"{self.setting.name}/{self.seed}/{name}", 4), "big")

    def _join(self, name: str, kind: str, *, caps: dict[str, int] | None = None, **params: Any) -> None:
        party = Party(f"{name}/{self.setting.name}/{self.seed}", self.clock, mandate_caps=caps or CAPS)
        self.escrow.escrow.deposit(party.did, FUNDS, "credit", "funding", self.clock.now_ms)
        if "seed" in AGENTS[kind].defaults:
            params.setdefault("seed", self._seed(name))
        counter = itertools.count()
        peer = Peer(
            party.agent.key,
            party.mandate_vs.envelope,
            strategy=build(kind, **params),
            clock=lambda: self.clock.now_ms,
            nonce=lambda: derive(f"nonce/{party.name}/{next(counter)}", 16),
            context=[self.escrow.mandate],
        )
        held = frozenset(params.get("holdings", CATEGORIES))
        for c in CATEGORIES:
            self.holdings[(party.did, c)] = BIG if c in held else 0
        self.members[name] = Member(name, kind, party, peer)

    # -- trading -------------------------------------------------------------------------------------

    def run(self) -> None:
        # The over-committer only signs unguarded bursts: its peer's chain view does not hold them, so
        # it cannot also gossip (Checkpoints) and trade through the guard.
        names = [n for n in self.members if n != "over-committer"]
        for r in range(self.rounds):
            for a in names:
                if a.startswith(("cartel", "sybil")):
                    continue
                for b in self.rng.sample([n for n in names if n != a], 2):
                    self.deal(a, b)
            for group in ("cartel", "sybil"):
                members = [n for n in names if n.startswith(group)]
                for a, b in itertools.permutations(members, 2):
                    if self.rng.random() < 0.5:
                        self.deal(a, b, inside=group == "cartel")
            if self.adversaries and r >= self.setting.start:
                if self.rng.random() < self.setting.act_rate:
                    self._fork()
                if self.rng.random() < self.setting.act_rate:
                    self._overcommit()

    def deal(
        self, a: str, b: str, *, inside: bool = False, fixed: tuple[int, str, str] | None = None
    ) -> Negotiation | None:
        """``a`` offers ``b`` a bonded trade of a random stake (or ``fixed``: the stake and the categories
        given and wanted, drawing nothing); withheld items are claimed and ruled."""
        ma, mb = self.members[a], self.members[b]
        if fixed is not None:
            value, give, want = fixed
        else:
            value = self.rng.choice(STAKES)
            give = self.rng.choice(CATEGORIES) if self.rng.random() < 0.3 else "work"
            want = self.rng.choice(CATEGORIES) if self.rng.random() < 0.3 else "work"
        deadline = self.clock.now_ms + DAY_MS
        bond = value // 5
        default = ma.party.proposal(
            gives=[service(give, value=value, deadline_ms=deadline)],
            wants=[service(want, value=round(value * 1.3) if inside else value, deadline_ms=deadline)],
            issuer_bond=bond,
            audience_bond=bond,
            escrow=self.escrow.did,
        )
        proposal = opening(ma.peer.strategy, mb.peer.did, default)
        if proposal is None:
            return None
        try:
            neg = run_trade(ma.peer, _wire(mb.peer), mb.peer.did, proposal, escrow=_wire(self.escrow))
        except CoopError:
            return None  # a guard refused (a cap reached): an honest outcome
        self.clock.advance(60_000)
        c = neg.contract
        if c is not None and not neg.is_terminal:
            self.clock.advance(DAY_MS + 1)
            for victim, breacher in ((ma.peer, mb.peer), (mb.peer, ma.peer)):
                owed = c.gives(breacher.did)
                missing = [i for i in range(len(owed)) if (breacher.did, i) not in c.delivered]
                if missing and victim.negotiation(neg.id).contract is not None:
                    claim = claim_breach(victim, neg, missing[0], "never delivered")
                    drive(victim, breacher.exchange, claim)
                    settle_with_escrow(victim, _wire(breacher), _wire(self.escrow), neg)
            self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
            relay_escrow_answers(ma.peer, _wire(mb.peer), [self.escrow.mandate, *self.escrow.tick()])
        return neg

    def _victims(self, k: int) -> list[Member]:
        return [
            self.members[n] for n in self.rng.sample([n for n in self.members if n.startswith(HONEST)], k)
        ]

    def _fork(self) -> None:
        """The equivocator signs an Offer at a seq its chain already used, to an honest peer."""
        me = self.members["equivocator"]
        chain = me.peer.verifier.chains.get(me.peer.did)
        if chain is None or chain.head is None:
            return
        seq = self.rng.randrange(chain.head + 1)
        prev = chain.links[seq - 1].digest if seq and seq - 1 in chain.links else b""
        if seq and not prev:
            return
        [victim] = self._victims(1)
        env = self.equivocator.offer(victim.peer.did, me.party.proposal(), seq=seq, prev=prev)
        self.sent.append(env)
        # A victim that already held that seq refuses the fork (and keeps the proof).
        with contextlib.suppress(CoopError):
            victim.peer.exchange(env, me.party.setup)

    def _overcommit(self) -> None:
        """The over-committer signs, unguarded, a burst of offers whose total is ``excess`` times its
        max_outstanding; each target answers a second later (one alone may be within the caps), and
        a minute later it accepts each Counter and delivers under each contract formed (the first
        item it gives), as an implementation that over-commits does business under its deals."""
        me = self.members["over-committer"]
        total = round(self.setting.excess * OVER_CAPS["max_outstanding"])
        victims = self._victims(3)
        share = total // len(victims)
        deadline = self.clock.now_ms + DAY_MS
        targets = [
            (
                v.peer.did,
                me.party.proposal(
                    gives=[service("work", value=share, deadline_ms=deadline)],
                    wants=[service("work", value=share, deadline_ms=deadline)],
                ),
            )
            for v in victims
        ]
        envs = self.over.offers(targets)
        self.sent += envs
        self.clock.advance(1_000)
        answers: list[bytes] = []
        for v, env in zip(victims, envs, strict=True):
            with contextlib.suppress(CoopError):  # a cap it breaks alone is visible to its target: refused
                answers += v.peer.exchange(env, me.party.setup)
        self.clock.advance(60_000)
        # It does business under what its burst formed: it accepts each Counter, then delivers the
        # first item it gives under each contract.
        victim = {v.peer.did: v for v in victims}
        for env in self.over.perform(answers):
            self.sent.append(env)
            with contextlib.suppress(CoopError):
                victim[verify_statement(env).header.audience].peer.exchange(env, me.party.setup)

    # -- evidence and ground truth ---------------------------------------------------------------

    def evidence(self) -> list[VerifiedStatement]:
        held: dict[bytes, VerifiedStatement] = {}
        for m in self.members.values():
            held.update(m.peer.verifier.statements)
        for env in self.sent:
            vs = verify_statement(env)
            held.setdefault(vs.digest, vs)
        return list(held.values())

    def facts(self) -> audit.Facts:
        balances = {m.peer.did: FUNDS for m in self.members.values()}
        return audit.Facts(balances=balances, holdings=self.holdings)

    def truth(self, ev: audit.Evidence) -> dict[str, set[str]]:
        """The kinds of act each agent really did, by its own record (and for the acts that a hard
        proof needs evidence of, whether the evidence exists)."""
        out: dict[str, set[str]] = {n: set() for n in self.members}
        for n, m in self.members.items():
            acts = list(getattr(m.peer.strategy, "truth", []))
            if n == "equivocator":
                acts = list(self.equivocator.truth)
            if n == "over-committer":
                acts = list(self.over.truth) if self.over.truth else []
            kinds = {a.kind for a in acts}
            if self._withheld(m):
                kinds.add("breach")  # also a reciprocal agent's retaliation: a breach all the same
            if m.kind in ("sybil-ring",):
                kinds.add("sybil-ring")
            out[n] = kinds
            if "exaggerate" in kinds and self._accepted_below_claim(ev, m):
                kinds.add("broken-reservation")
            if m.kind == "bluffer" and self._claimed_what_it_lacks(ev, m):
                kinds.add("claimed-bluff")
        return out

    @staticmethod
    def _withheld(m: Member) -> bool:
        """Whether the agent, by its own record, left an item it owed under a contract undelivered."""
        for neg in m.peer.verifier.negotiations.by_id.values():
            c = neg.contract
            owed = [] if c is None or m.peer.did not in c.parties else c.gives(m.peer.did)
            if c is not None and any((m.peer.did, k) not in c.delivered for k in range(len(owed))):
                return True
        return False

    def _accepted_below_claim(self, ev: audit.Evidence, m: Member) -> bool:
        strategy = m.peer.strategy
        reserve = getattr(strategy, "reserve", 1.0) * (1 + getattr(strategy, "markup", 0.0))
        for act in getattr(strategy, "truth", []):
            neg = m.peer.verifier.negotiations.by_id.get(bytes.fromhex(act.negotiation))
            c = None if neg is None else neg.contract
            if c is not None and c.acceptor == m.peer.did:
                got, gave = (sum(i.value for i in side) for side in (c.proposal.gives, c.proposal.wants))
                if gave and got / gave < reserve - 1e-3:
                    return True
        return False

    def _claimed_what_it_lacks(self, ev: audit.Evidence, m: Member) -> bool:
        held: frozenset[str] = getattr(m.peer.strategy, "holdings", frozenset())
        for vs in ev.by_issuer.get(m.peer.did, []):
            if vs.body == "offer" and any(
                c.subject not in held
                for c in vs.statement.offer.claims
                if c.kind == trade_pb2.CLAIM_KIND_HOLDING
            ):
                return True
        return False


def _wire(party: object) -> Any:
    """An in-process Peer (LocalEscrow) answers as a CooperationClient (EscrowClient) does."""
    return party


# -- scoring ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    setting: str
    seed: int
    truth: dict[str, set[str]]
    kinds: dict[str, str]  # agent name -> agent type
    hard: dict[str, set[str]]  # finding kind -> agent names flagged
    scores: dict[str, dict[str, float]]  # screen -> agent name -> score


def run_market(setting: Setting, seed: int, rounds: int, *, adversaries: bool = True) -> RunResult:
    market = Market(setting, seed, rounds, adversaries=adversaries)
    market.run()
    ev = audit.Evidence(market.evidence())
    names = {m.peer.did: n for n, m in market.members.items()}
    findings = audit.audit(ev.by_digest.values(), facts=market.facts(), screens=False)
    hard: dict[str, set[str]] = {k: set() for k in audit.HARD_KINDS}
    for f in findings:
        if f.subject in names:
            hard[f.kind].add(names[f.subject])
    scores = {
        kind: {names[s.subject]: s.score for s in screen(ev) if s.subject in names}
        for kind, screen in audit.SCREENS.items()
    }
    return RunResult(
        setting.name,
        seed,
        market.truth(ev),
        {n: m.kind for n, m in market.members.items()},
        hard,
        scores,
    )


def average_precision(scored: Sequence[tuple[float, bool]]) -> float:
    """Area under the precision-recall curve as average precision (ties broken pessimistically)."""
    positives = sum(1 for _, y in scored if y)
    if not positives:
        return 0.0
    ranked = sorted(scored, key=lambda p: (-p[0], p[1]))
    hits, total = 0, 0.0
    for k, (_, y) in enumerate(ranked, 1):
        if y:
            hits += 1
            total += hits / k
    return total / positives


def prf(scored: Sequence[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    tp = sum(1 for s, y in scored if y and s >= threshold)
    fp = sum(1 for s, y in scored if not y and s >= threshold)
    fn = sum(1 for s, y in scored if y and s < threshold)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def best_threshold(scored: Sequence[tuple[float, bool]]) -> float:
    """The score threshold (> 0) with the best F1; ties go to the higher threshold."""
    candidates = sorted({s for s, _ in scored if s > 0}, reverse=True) or [1.0]
    return max(candidates, key=lambda t: (prf(scored, t)[2], t))


def _screen_units(results: Sequence[RunResult], kind: str) -> list[tuple[float, bool]]:
    label = SCREEN_LABEL[kind]
    return [(r.scores[kind].get(n, 0.0), label in r.truth[n]) for r in results for n in r.kinds]


def evaluate(seeds: int = 3, rounds: int = 6, honest_runs: int = 2) -> dict[str, Any]:
    """Run the markets, score every detector; the figures the table and the JSON line show."""
    train = [run_market(s, seed, rounds) for s in TRAIN for seed in range(seeds)]
    test = [run_market(s, seed, rounds) for s in TEST for seed in range(seeds)]
    honest = [run_market(TRAIN[0], 100 + seed, rounds, adversaries=False) for seed in range(honest_runs)]
    report: dict[str, Any] = {"runs": len(train) + len(test) + len(honest), "hard": {}, "soft": {}}
    everything = train + test + honest
    for kind, label in HARD_LABEL.items():
        honest_fp = sum(
            1
            for r in everything
            for n in r.hard[kind]
            if AGENTS[r.kinds[n]].kind == "cooperative" and label not in r.truth[n]
        )
        fp = sum(1 for r in everything for n in r.hard[kind] if label not in r.truth[n])
        positives = [(r, n) for r in everything for n in r.kinds if label in r.truth[n]]
        found = sum(1 for r, n in positives if n in r.hard[kind])
        report["hard"][kind] = {
            "false_positives": fp,
            "honest_false_positives": honest_fp,
            "positives": len(positives),
            "detected": found,
            "recall": round(found / len(positives), 4) if positives else None,
        }
    for kind in audit.SCREENS:
        t = best_threshold(_screen_units(train, kind))
        held_out = _screen_units(test, kind)
        p, r, f1 = prf(held_out, t)
        honest_units = _screen_units(honest, kind)
        report["soft"][kind] = {
            "threshold": round(t, 4),
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
            "pr_auc": round(average_precision(held_out), 4),
            "positives": sum(1 for _, y in held_out if y),
            "units": len(held_out),
            "honest_run_flags": sum(1 for s, _ in honest_units if s >= t),
        }
    return report


def print_table(report: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    print("hard proofs (every run: TRAIN, TEST and honest-only markets)", file=out)
    print(
        f"  {'detector':20} {'FP':>4} {'FP honest':>9} {'positives':>9} {'detected':>8} {'recall':>7}",
        file=out,
    )
    for kind, h in report["hard"].items():
        rec = "-" if h["recall"] is None else f"{h['recall']:.3f}"
        print(
            f"  {kind:20} {h['false_positives']:>4} {h['honest_false_positives']:>9} "
            f"{h['positives']:>9} {h['detected']:>8} {rec:>7}",
            file=out,
        )
    print("soft screens (threshold: F1-best on TRAIN; figures on held-out TEST settings)", file=out)
    print(
        f"  {'screen':12} {'thresh':>7} {'P':>6} {'R':>6} {'F1':>6} {'PR-AUC':>7} {'pos/units':>10} "
        f"{'honest-run flags':>16}",
        file=out,
    )
    for kind, s in report["soft"].items():
        print(
            f"  {kind:12} {s['threshold']:>7.3f} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} "
            f"{s['pr_auc']:>7.3f} {s['positives']:>4}/{s['units']:<5} {s['honest_run_flags']:>16}",
            file=out,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.audit_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=3, help="markets per setting (default 3)")
    parser.add_argument("--rounds", type=int, default=6, help="trading rounds per market (default 6)")
    parser.add_argument("--honest-runs", type=int, default=2, help="markets with no adversary (default 2)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.rounds < 1 or args.honest_runs < 0:
        parser.error("--seeds and --rounds must be at least 1, --honest-runs at least 0")
    report = evaluate(args.seeds, args.rounds, args.honest_runs)
    print_table(report)
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
