"""Differential fuzzing: the reference verifier and another one fed the same random evidence.

    python -m conformance.differential --seconds 60 --seed 1
    python -m conformance.differential --adapter "node my-verifier.mjs --adapter" --seconds 600
    python -m conformance.differential --replay 1:417        # one input again (seed:index), shrunk

The hand-written vectors test what their authors thought of. Here a story is drawn at random -- two or
three parties and one or two escrows with real Ed25519 keys, Mandates, Offers, Counters, Accepts,
Rejects, Withdraws, Deliveries, Receipts, BondLocks, Releases, BreachClaims, Revokes, Stamps, Checkpoints,
Attestations, KeyRevocations by a principal or by the key itself, KeyRotations, forks at one seq, and the
clock moving between them -- then a random subset of its envelopes in a lightly shuffled order, a chain
mode, a verifier role, a reference time and a set of trusted escrows. Both verifiers judge it (the other
one through the offline adapter protocol, SPEC 17.1: :mod:`conformance.offline`), and their verdicts are
compared: the refusal's code and envelope index, and the keys and principals the view holds faulty
(ATT-013). An evidence bundle the reference takes whole with Attestations in it is also rated (SPEC 10.2)
by both, when the other is ``verify.mjs`` (the adapter protocol carries no ratings), and the ratings are
compared.

Every input is a *choice sequence* (a list of integers the story reads its choices from; past its end
every choice is the first one), so a disagreement shrinks: :func:`shrink` deletes and lowers choices
while the verifiers still disagree, and prints the smallest input it found. Inputs derive from
``--seed`` and their index alone: ``--replay SEED:INDEX`` runs one again.

Exit status: 0 no disagreement, 1 a disagreement (each printed, shrunk), 2 the adapter failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.reputation_vectors import RATING_SCHEMA, RatingVector, rate_bundle
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from a2a_coop.vectors import Vector
from conformance import adapter as reference_adapter
from conformance.offline import Adapter, AdapterError, _request

JS_VERIFIER: Final = Path(__file__).resolve().parent.parent / "examples" / "js_verifier" / "verify.mjs"
JS_ADAPTER: Final = f"node {shlex.quote(str(JS_VERIFIER))} --adapter"
BATCH: Final = 64  # inputs sent to the adapter at once
CHOICES: Final = 160  # the length of a fresh choice sequence
HOUR_MS: Final = 3_600_000
BOND: Final = 100


class Choices:
    """A choice sequence: each draw reads the next integer modulo its bound; past the end, 0. Zero is
    always the simplest choice, so a sequence of fewer or lower integers is a simpler input."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values, self.used = list(values), 0

    def below(self, n: int) -> int:
        value = self.values[self.used] % n if self.used < len(self.values) else 0
        self.used += 1
        return value

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.below(len(options))]

    def chance(self, percent: int) -> bool:
        """True with about ``percent`` in 100; the simplest choice (0) is False."""
        return self.below(100) >= 100 - percent


# --- the story --------------------------------------------------------------------------------------


@dataclass
class _Open:
    """A proposal (Offer or Counter) not yet answered: its statement, issuer and audience."""

    vs: VerifiedStatement
    issuer: Party
    audience: Party


@dataclass
class _Contract:
    offer: VerifiedStatement
    accept: VerifiedStatement
    proposer: Party
    acceptor: Party
    escrow: Party | None


@dataclass
class Story:
    """What a choice sequence made: every envelope in the order signed, and who the escrows are."""

    setup: list[bytes] = field(default_factory=list)  # the Mandates, always held first
    envelopes: list[bytes] = field(default_factory=list)
    escrows: list[str] = field(default_factory=list)
    now_ms: int = 0
    start_ms: int = 0


def _tell(c: Choices) -> Story:
    clock = FixedClock()
    story = Story(start_ms=clock.now_ms)
    caps = (
        {},
        {"max_per_deal": 600},
        {"valid_until_ms": clock.now_ms + 2 * DAY_MS},
        {"max_outstanding": 900},
    )
    parties = [Party(n, clock, c.pick(caps)) for n in ("alice", "bob", "carol")[: 2 + c.below(2)]]
    escrows = [Party(n, clock) for n in ("escrow-1", "escrow-2")[: 1 + c.below(2)]]
    story.escrows = [e.did for e in escrows]
    for p in (*escrows, *parties):
        story.setup += p.setup
    held: list[VerifiedStatement] = []
    opened: list[_Open] = []
    contracts: list[_Contract] = []
    deliveries: list[tuple[VerifiedStatement, Party]] = []  # and who received it
    rotated = 0

    def other(p: Party) -> Party:
        rest = [q for q in parties if q is not p]
        return rest[c.below(len(rest))]

    def proposal(p: Party, escrow: Party | None, bump: int = 0) -> trade_pb2.Offer:
        bond = c.pick((0, BOND, 40)) if escrow is not None else 0
        made = p.proposal(issuer_bond=bond, audience_bond=bond, escrow=escrow.did if escrow else "")
        made.gives[0].value += bump  # a fork's second branch differs from its first
        return made

    def offer() -> list[VerifiedStatement]:
        p = c.pick(parties)
        q, e = other(p), c.pick((None, *escrows))
        vs = p.offer(q, proposal(p, e))
        opened.append(_Open(vs, p, q))
        return [vs]

    def fork() -> list[VerifiedStatement]:
        """Two Offers by one key at one seq (CHN-004), or one after a rewound head (a broken link)."""
        p = c.pick(parties)
        q, e = other(p), c.pick((None, *escrows))
        head = p.agent.writer.next_seq, p.agent.writer.prev
        one = p.offer(q, proposal(p, e))
        p.agent.writer.next_seq, p.agent.writer.prev = head
        clock.advance(c.pick((0, 1, 1_000)))
        two = p.offer(q, proposal(p, e, bump=1))
        opened.extend((_Open(one, p, q), _Open(two, p, q)))
        return [one, two]

    def answer(kind: str) -> list[VerifiedStatement]:
        if not opened:
            return offer()
        o = opened[c.below(len(opened))]
        if kind == "counter":
            escrow = next((e for e in escrows if e.did == o.vs.statement.offer.terms.escrow), None)
            vs = o.audience.counter(o.vs, proposal(o.audience, c.pick((escrow, None, *escrows))))
            opened.append(_Open(vs, o.audience, o.issuer))
        elif kind == "accept":
            vs = o.audience.accept(o.vs)
            body = o.vs.statement.offer if o.vs.body == "offer" else o.vs.statement.counter.proposal
            escrow = next((e for e in escrows if e.did == body.terms.escrow), None)
            contracts.append(_Contract(o.vs, vs, o.issuer, o.audience, escrow))
        elif kind == "reject":
            vs = o.audience.reject(o.vs)
        else:
            vs = o.issuer.withdraw(o.vs)
        return [vs]

    def on_contract(kind: str) -> list[VerifiedStatement]:
        if not contracts:
            return answer("accept")
        k = contracts[c.below(len(contracts))]
        p = c.pick((k.proposer, k.acceptor))
        q = k.acceptor if p is k.proposer else k.proposer
        nid = k.accept.header.negotiation_id
        if kind == "deliver":
            vs = p.deliver(k.accept, q, item_index=c.below(2))
            deliveries.append((vs, q))
        elif kind == "claim":
            msg = commitment_pb2.BreachClaim(contract=k.accept.digest, item_index=0, reason="never arrived")
            vs = p.sign("breach_claim", msg, audience=q.did, negotiation_id=nid)
        elif kind == "revoke":
            vs = p.revoke(k.accept, q)
        elif kind == "attest":
            outcome = c.pick((reputation_pb2.OUTCOME_FULFILLED, reputation_pb2.OUTCOME_BREACHED))
            vs = p.attest(k.offer, k.accept, q.did, outcome=outcome)
        else:  # an escrow's BondLock or Release of a party's bond
            e = k.escrow or c.pick(escrows)
            cls = commitment_pb2.BondLock if kind == "bond_lock" else commitment_pb2.Release
            msg = cls(contract=k.accept.digest, party=p.did, amount=c.pick((BOND, 40)))
            vs = e.sign(kind, msg, audience=p.did, negotiation_id=nid)
        return [vs]

    def receipt() -> list[VerifiedStatement]:
        if not deliveries:
            return on_contract("deliver")
        d, by = deliveries[c.below(len(deliveries))]
        return [by.receipt(d, rating=c.pick((90, 10)))]

    def stamp() -> list[VerifiedStatement]:
        if not held:
            return offer()
        e = c.pick(escrows)
        named = [held[len(held) - 1 - c.below(min(len(held), 6))] for _ in range(1 + c.below(2))]
        return [e.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in named]))]

    def checkpoint() -> list[VerifiedStatement]:
        p = c.pick((*parties, *escrows))
        return [p.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))]

    def key_revocation() -> list[VerifiedStatement]:
        p = c.pick((*parties, *escrows))
        at = c.pick((clock.now_ms, clock.now_ms - 60_000, story.start_ms, 1, clock.now_ms + HOUR_MS))
        msg = identity_pb2.KeyRevocation(key=p.did, effective_ms=at, reason="leaked")
        by = p.agent if c.chance(30) else p.principal  # the key's own (KEY-011) or its principal's
        return [by.sign("key_revocation", msg)]

    def rotation() -> list[VerifiedStatement]:
        nonlocal rotated
        p = c.pick((*parties, *escrows))
        rotated += 1
        new = Signer(f"rotated-{rotated}", clock).did
        return [p.agent.sign("key_rotation", identity_pb2.KeyRotation(new_key=new))]

    def advance() -> list[VerifiedStatement]:
        clock.advance(c.pick((1_000, 1, 60_000, HOUR_MS, DAY_MS + 1_000, 0)))
        return []

    actions: tuple[Callable[[], list[VerifiedStatement]], ...] = (
        offer,
        lambda: answer("accept"),
        lambda: on_contract("deliver"),
        stamp,
        advance,
        receipt,
        lambda: on_contract("bond_lock"),
        lambda: on_contract("release"),
        lambda: answer("counter"),
        lambda: on_contract("attest"),
        checkpoint,
        key_revocation,
        rotation,
        fork,
        lambda: answer("reject"),
        lambda: answer("withdraw"),
        lambda: on_contract("claim"),
        lambda: on_contract("revoke"),
    )
    for _ in range(2 + c.below(14)):
        try:
            made = c.pick(actions)()
        except CoopError:  # a statement the signer's own checks refuse to make (a bond past a cap, ...)
            made = []
        held += made
        story.envelopes += [vs.envelope for vs in made]
        clock.advance(c.pick((1_000, 0, 1)))
    story.now_ms = clock.now_ms
    return story


@dataclass(frozen=True)
class Input:
    """One differential input: the evidence and how it is read."""

    vector: Vector
    escrows: tuple[str, ...]

    @property
    def rating(self) -> RatingVector:
        trusted = self.escrows if self.vector.trusted_escrows is None else self.vector.trusted_escrows
        return RatingVector(
            "differential", "Rating", self.vector.tc_id, "", (), trusted, self.vector.envelopes, ()
        )


def make_input(values: Sequence[int], index: int = 0) -> Input:
    """The input a choice sequence makes: a story, then which envelopes are held in which order, the
    chain mode, the role, the reference time and the escrows trusted."""
    c = Choices(values)
    story = _tell(c)
    kept = [e for e in story.envelopes if not c.chance(12)]
    for _ in range(c.below(4) if kept else 0):  # a few swaps: most evidence arrives nearly in order
        i = c.below(len(kept))
        j = min(len(kept) - 1, i + 1 + c.below(4))
        kept[i], kept[j] = kept[j], kept[i]
    kept = [*story.setup, *kept]
    mode = c.pick(("sparse", "complete"))
    role = c.pick(("auditor", "escrow"))
    now_ms = None if not c.chance(20) else c.pick((story.now_ms, story.now_ms + DAY_MS, story.start_ms))
    trusted = c.pick((None, tuple(story.escrows), (), story.escrows[:1], story.escrows[-1:]))
    vector = Vector(
        source="differential",
        group_type="Differential",
        mode=mode,
        tc_id=index,
        comment="",
        flags=(),
        requirements=(),
        now_ms=now_ms,
        envelopes=tuple(kept),
        result="valid",
        error=None,
        failed_index=None,
        role=role,
        trusted_escrows=None if trusted is None else tuple(trusted),
        faulty=(),  # asks for the faulty set (what the two report is compared, not this)
    )
    return Input(vector, tuple(story.escrows))


def fresh_choices(seed: int, index: int) -> list[int]:
    """Input ``index`` of run ``seed``'s choice sequence (the same on every machine)."""
    rng = random.Random(f"{seed}:{index}")
    return [rng.randrange(1 << 16) for _ in range(CHOICES)]


# --- judging --------------------------------------------------------------------------------------


def reference_verdict(inp: Input) -> str:
    """The reference's verdict: what its own adapter answers (:mod:`conformance.adapter`), in process."""
    return answer_verdict(reference_adapter.verify(_request(inp.vector.tc_id, inp.vector)))


def answer_verdict(answer: dict[str, Any]) -> str:
    """An adapter's answer written as :func:`reference_verdict` writes one."""
    if answer["result"] == "unsupported":
        return "unsupported"
    verdict = "valid" if answer["result"] == "valid" else f"{answer['error']} at {answer['failedIndex']}"
    faulty = sorted(answer.get("faulty", []))
    return f"{verdict}; faulty: {', '.join(faulty) or 'none'}"


def reference_ratings(inp: Input) -> list[dict[str, Any]] | None:
    """The reference's ratings of the bundle, when it takes it whole and it holds an Attestation."""
    got = rate_bundle(inp.rating)
    return got if isinstance(got, list) and got else None


def js_rating_differences(inputs: Sequence[tuple[Input, list[dict[str, Any]]]]) -> dict[int, str]:
    """verify.mjs's disagreements with the reference's ratings, by input index (one node run)."""
    if not inputs:
        return {}
    tests = [
        {
            "tcId": inp.vector.tc_id,
            "comment": "",
            "requirements": ["ATT-004"],
            "trusted_escrows": list(inp.rating.trusted_escrows),
            "envelopes": [base64.b64encode(e).decode() for e in inp.vector.envelopes],
            "expected": ratings,
        }
        for inp, ratings in inputs
    ]
    doc = {
        "schema": RATING_SCHEMA,
        "numberOfTests": len(tests),
        "ratingGroups": [{"type": "Rating", "tests": tests}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "differential-ratings.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        run = subprocess.run(
            ["node", str(JS_VERIFIER), "--json", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise AdapterError(f"verify.mjs --json printed no report: {run.stderr.strip()[-200:]}") from None
    return {int(d["id"].split("-")[2]): d["got"] for d in report["disagreements"]}


@dataclass(frozen=True)
class Disagreement:
    values: tuple[int, ...]
    index: int
    reference: str
    other: str
    kind: str  # "verdict" or "ratings"


class Judge:
    """Both verifiers over inputs: the reference in process, the other through its adapter."""

    def __init__(self, adapter: Adapter, *, ratings: bool) -> None:
        self.adapter, self.ratings = adapter, ratings
        self.rated = 0  # inputs whose ratings were compared

    def disagreements(self, batch: Sequence[tuple[Sequence[int], Input]]) -> list[Disagreement]:
        out = []
        answers = self.adapter.verify_many([inp.vector for _, inp in batch])
        rated = []
        for (values, inp), answer in zip(batch, answers, strict=True):
            ours, theirs = reference_verdict(inp), answer_verdict(answer)
            if theirs not in ("unsupported", ours):
                out.append(Disagreement(tuple(values), inp.vector.tc_id, ours, theirs, "verdict"))
            if self.ratings and (r := reference_ratings(inp)) is not None:
                rated.append((values, inp, r))
        if rated:
            self.rated += len(rated)
            differ = js_rating_differences([(inp, r) for _, inp, r in rated])
            for values, inp, r in rated:
                if inp.vector.tc_id in differ:
                    out.append(
                        Disagreement(
                            tuple(values),
                            inp.vector.tc_id,
                            json.dumps(r),
                            differ[inp.vector.tc_id],
                            "ratings",
                        )
                    )
        return out

    def disagree(self, values: Sequence[int], kind: str, index: int = 0) -> Disagreement | None:
        found = self.disagreements([(values, make_input(values, index))])
        return next((d for d in found if d.kind == kind), None)


def shrink(judge: Judge, found: Disagreement, deadline: float) -> Disagreement:
    """A smaller choice sequence on which the two still disagree the same way (``kind``): chunks
    deleted, then values set to 0 and halved, until nothing smaller works or ``deadline`` passes."""
    best = found
    values = list(found.values)
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for size in (8, 4, 2, 1):
            i = 0
            while i < len(values) and time.monotonic() < deadline:
                candidate = values[:i] + values[i + size :]
                if (d := judge.disagree(candidate, found.kind, found.index)) is not None:
                    values, best, improved = candidate, d, True
                else:
                    i += size
        for i in range(len(values)):
            for lower in (0, values[i] // 2, values[i] - 1):
                if time.monotonic() >= deadline or lower >= values[i] or lower < 0:
                    continue
                candidate = [*values[:i], lower, *values[i + 1 :]]
                if (d := judge.disagree(candidate, found.kind, found.index)) is not None:
                    values, best, improved = candidate, d, True
                    break
    return best


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    inputs: int = 0
    rated: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)


def run(
    adapter_argv: Sequence[str],
    *,
    seed: int,
    seconds: float,
    max_inputs: int | None = None,
    shrink_seconds: float = 60.0,
    max_disagreements: int = 10,
    ratings: bool | None = None,
    out: Callable[[str], None] = print,
) -> Summary:
    """Fuzz for ``seconds`` (or ``max_inputs``, or until ``max_disagreements``): inputs ``seed:0``,
    ``seed:1``, ... through both; each disagreement shrunk for up to ``shrink_seconds`` and printed.
    ``ratings``: compare ratings too (by default when the other is verify.mjs)."""
    summary = Summary()
    ratings = ratings if ratings is not None else str(JS_VERIFIER) in " ".join(adapter_argv)
    deadline = time.monotonic() + seconds
    with Adapter(list(adapter_argv)) as adapter:
        adapter.hello()
        judge = Judge(adapter, ratings=ratings)
        index = 0
        while (
            time.monotonic() < deadline
            and (max_inputs is None or index < max_inputs)
            and len(summary.disagreements) < max_disagreements
        ):
            n = BATCH if max_inputs is None else min(BATCH, max_inputs - index)
            batch = []
            for i in range(index, index + n):
                values = fresh_choices(seed, i)
                batch.append((values, make_input(values, i)))
            index += n
            summary.inputs += n
            for _, inp in batch:
                verdict = reference_verdict(inp).split(" at ")[0].split(";")[0]
                summary.verdicts[verdict] = summary.verdicts.get(verdict, 0) + 1
            for d in judge.disagreements(batch)[: max_disagreements - len(summary.disagreements)]:
                small = shrink(judge, d, time.monotonic() + shrink_seconds)
                summary.disagreements.append(small)
                out(describe(seed, small))
        summary.rated = judge.rated
    return summary


def describe(seed: int, d: Disagreement) -> str:
    inp = make_input(d.values, d.index)
    v = inp.vector
    return (
        f"DISAGREE ({d.kind}) input {seed}:{d.index}, shrunk to {len(d.values)} choices {list(d.values)}\n"
        f"  {len(v.envelopes)} envelopes, mode {v.mode}, role {v.role}, now_ms {v.now_ms}, "
        f"trusted_escrows {v.trusted_escrows}\n"
        f"  reference: {d.reference}\n  other:     {d.other}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.differential", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--adapter", default=JS_ADAPTER, help="the other verifier's adapter (default: verify.mjs)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to fuzz (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--shrink-seconds", type=float, default=60.0, help="time to shrink each disagreement")
    parser.add_argument("--max-disagreements", type=int, default=10, help="stop after this many (default 10)")
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run one input again, and shrink it")
    parser.add_argument(
        "--dump", type=Path, help="with --replay: write the (shrunk) input as a transcript file"
    )
    args = parser.parse_args(argv)
    argv_adapter = shlex.split(args.adapter)
    try:
        if args.replay:
            return _replay(argv_adapter, args.replay, args.shrink_seconds, args.dump)
        t0 = time.monotonic()
        summary = run(
            argv_adapter,
            seed=args.seed,
            seconds=args.seconds,
            max_inputs=args.inputs,
            shrink_seconds=args.shrink_seconds,
            max_disagreements=args.max_disagreements,
        )
    except AdapterError as exc:
        print(f"differential: adapter failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    verdicts = ", ".join(f"{k} {n}" for k, n in sorted(summary.verdicts.items(), key=lambda kv: -kv[1]))
    print(
        f"{summary.inputs} inputs ({summary.rated} rated too) in {time.monotonic() - t0:.0f} s "
        f"(seed {args.seed}): "
        f"{len(summary.disagreements)} disagreements; reference verdicts: {verdicts}"
    )
    return 1 if summary.disagreements else 0


def _replay(adapter_argv: Sequence[str], which: str, shrink_seconds: float, dump: Path | None) -> int:
    try:
        seed, index = (int(x) for x in which.split(":"))
    except ValueError:
        print("differential: --replay takes SEED:INDEX, e.g. 1:417", file=sys.stderr)
        return 2
    values = fresh_choices(seed, index)
    with Adapter(list(adapter_argv)) as adapter:
        adapter.hello()
        judge = Judge(adapter, ratings=str(JS_VERIFIER) in " ".join(adapter_argv))
        found = judge.disagreements([(values, make_input(values, index))])
        if not found:
            print(
                f"input {seed}:{index}: the verifiers agree ({reference_verdict(make_input(values, index))})"
            )
            return 0
        small = shrink(judge, found[0], time.monotonic() + shrink_seconds)
    print(describe(seed, small))
    if dump is not None:
        inp = make_input(small.values, index)
        doc = {
            "envelopes": [base64.b64encode(e).decode() for e in inp.vector.envelopes],
            "mode": inp.vector.mode,
            "role": inp.vector.role,
            "now_ms": inp.vector.now_ms,
            "trusted_escrows": inp.vector.trusted_escrows,
        }
        dump.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
