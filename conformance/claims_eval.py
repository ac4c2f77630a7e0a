"""What a lie in a claim earns against an agent that reads claims, in both worlds.

    python -m conformance.claims_eval [--seeds N] [--rounds N]

Each row is a liar or its truthful twin (the same strategy whose claims are true) playing pair games
(:class:`reference_agents.sim.PairGame`: ``rounds`` rounds, one even trade of one ``work`` item
offered by each side per round) against a reader of claims (``claim-aware``, with its default
reserve 0.7 and with reserve 0.9) and against ``nash``, which reads none, in the **cheap-talk** world
(no escrow, no bonds; the claim-aware agent believes every claim) and the **verifiable** one (bonds
of the trade's value at one escrow, trust refusing below 0.5, the audit's ``broken-reservation``
proof ending trade; the claim-aware agent counts bonds, not holding claims, and stops believing a
counterparty whose signed reservation its own contract contradicts). Per row and opponent: the
subject's mean payoff per trade offered (units of the trade's value, sim's GAIN 1.5), the opponent's,
the contracts formed, and how many claim-aware opponents stopped believing the subject. A lie's gain
is the liar's payoff less its truthful twin's against the same opponent. SPEC 16.14 and 19.5 quote
the figures. Seeded: the same arguments print the same output; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.runtime.strategy import Counter, OfferView, Reply, Strategy
from reference_agents.adversarial import Bluffer, Exaggerator
from reference_agents.cooperative import ClaimAware, Honest, NashBargainer
from reference_agents.sim import PairGame

WORLDS = ("cheap-talk", "verifiable")


class TruthfulExaggerator(Exaggerator):
    """The exaggerator's twin: the same Counters (asking 1 + markup), its claims true (its reservation
    ``reserve``, its needs the quantities asked)."""

    def respond(self, offer: OfferView) -> Reply:
        reply = super().respond(offer)
        if isinstance(reply, Counter):
            for c in reply.proposal.claims:
                if c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE:
                    c.amount = round(1000 * self.reserve)
                elif c.kind == trade_pb2.CLAIM_KIND_NEED:
                    c.amount = round(c.amount / (1 + self.markup))
        return reply


class Unclaimed(Bluffer):
    """The bluffer's control: its offers carry no HOLDING claim (it still holds and delivers nothing)."""

    def propose(self, counterparty: str, proposal: trade_pb2.Offer) -> trade_pb2.Offer | None:
        return proposal


SUBJECTS: dict[str, Callable[[int], Strategy]] = {
    "honest (claims nothing)": lambda seed: Honest(),
    "exaggerator (claims 1.35, true 0.9)": lambda seed: Exaggerator(seed=seed),
    "  its twin (claims 0.9, true 0.9)": lambda seed: TruthfulExaggerator(seed=seed),
    "bluffer (claims work, holds none)": lambda seed: Bluffer(seed=seed),
    "  its twin (claims work, holds it)": lambda seed: Bluffer(seed=seed, holdings=frozenset({"work"})),
    "  control: bluffer, no claim": lambda seed: Unclaimed(seed=seed),
}

OPPONENTS: dict[str, Callable[[bool], Strategy]] = {
    "claim-aware": lambda verify: ClaimAware(verify=verify),
    "claim-aware reserve 0.9": lambda verify: ClaimAware(reserve=0.9, verify=verify),
    "nash (reads no claim)": lambda verify: NashBargainer(),
}


@dataclasses.dataclass(frozen=True)
class Cell:
    subject: float  # the subject's mean payoff per trade offered, units of the trade's value
    opponent: float
    contracts: int
    disbelieved: int  # claim-aware opponents that stopped believing the subject


def play(world: str, subject: str, opponent: str, seeds: int, rounds: int) -> Cell:
    """``seeds`` pair games of ``subject`` against ``opponent`` in ``world``, averaged."""
    mine, theirs, contracts, disbelieved = 0.0, 0.0, 0, 0
    for seed in range(seeds):
        game = PairGame(world, "honest", "honest", seed=seed, rounds=rounds)
        game.agents[0].peer.strategy = SUBJECTS[subject](seed)
        reader = OPPONENTS[opponent](world == "verifiable")
        game.agents[1].peer.strategy = reader
        a, b = game.play()
        mine, theirs, contracts = mine + a, theirs + b, contracts + game.trades
        disbelieved += bool(getattr(reader, "disbelieved", []))
    per = seeds * 2 * rounds
    return Cell(round(mine / per, 3), round(theirs / per, 3), contracts, disbelieved)


def measure(seeds: int = 3, rounds: int = 4) -> list[dict[str, Any]]:
    rows = []
    for world in WORLDS:
        for subject in SUBJECTS:
            cells = {o: dataclasses.asdict(play(world, subject, o, seeds, rounds)) for o in OPPONENTS}
            rows.append({"world": world, "subject": subject.strip(), "against": cells})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.claims_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=3, help="pair games per cell (default 3)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per pair game (default 4)")
    args = parser.parse_args(argv)
    rows = measure(args.seeds, args.rounds)
    n = args.seeds
    print(f"  {'world':10} {'subject':38} " + " ".join(f"{o:>30}" for o in OPPONENTS))
    print(f"  {'':10} {'':38} " + " ".join(f"{'subject/opponent contracts disb':>30}" for _ in OPPONENTS))
    for r in rows:
        cells = " ".join(
            f"{c['subject']:>8.3f}/{c['opponent']:<7.3f} {c['contracts']:>5} {c['disbelieved']:>3}/{n:<3}"
            for c in r["against"].values()
        )
        print(f"  {r['world']:10} {r['subject']:38} {cells}")
    print(json.dumps(rows, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
