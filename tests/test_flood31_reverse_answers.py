"""flood31: one key's answers to a statement a witnessed Accept cut off, in whatever order they come.

Bob's Counter B of Alice's Counter C (naming escrow E) is cut off by his Accept A of C, which E witnessed.
Every answer Alice then sends to B is taken superseded, and the lowest in her chain is B's answer on the
cut-off line (SPEC 4.5, NEG-021 (d)): one that comes lower than every one held recounts the line. The
sender chooses the order: in reverse chain order every Reject recounted it, and each recount passed over
every statement superseded -- 1,000 Rejects visited 501,498 digests (2.3 s CPU), 5,000 about 12.5 million. A
recount now reads an index of the negotiation's superseded statements kept in step as they come
(:class:`HeldSuperseded`): the line's own statements, a lookup each. Below, the work counted (not the
time), and a property: any set of answers in any order ends as in chain order.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from js_run import js_module
from test_escrow_memory import BOND

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import cited
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party


class _CountingSet(set[bytes]):
    """A negotiation's superseded digests, counting each one a pass over them visits."""

    visited = 0

    def __iter__(self) -> Iterator[bytes]:
        _CountingSet.visited += len(self)
        return super().__iter__()


class _CutOff:
    """O (Bob's offer, no escrow), C (Alice's Counter naming E, both bonds), B (Bob's Counter of C), A (Bob's
    Accept of C, which E stamps: S). B is cut off the line; what answers it comes after."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        alice, bob = self.alice, self.bob
        self.offer = bob.offer(alice, bob.proposal())
        clock.advance(1_000)
        counter = alice.counter(
            self.offer, alice.proposal(escrow=escrow.did, issuer_bond=BOND, audience_bond=BOND)
        )
        clock.advance(1_000)
        self.cut = bob.counter(counter, bob.proposal())
        clock.advance(1_000)
        accept = bob.accept(counter)
        setup = [*alice.setup, *bob.setup]
        self.escrow = LocalEscrow(escrow, funds={alice.did: 1_000, bob.did: 1_000})  # E, which stamped A
        out = self.escrow.submit([*setup, self.offer.envelope, counter.envelope, accept.envelope])
        self.before = [*setup, out[0], self.offer.envelope, counter.envelope, self.cut.envelope]
        self.before += [accept.envelope, out[1]]

    def verifier(self) -> Verifier:
        v = Verifier()
        for env in self.before:
            v.accept(env)
        assert self.cut.digest in v.negotiations.get(self.offer.negotiation_id).superseded
        return v


@pytest.mark.req("NEG-021", "NEG-018")
@pytest.mark.parametrize("order", ["reverse", "shuffled"])
def test_a_flood_of_answers_to_a_cut_off_counter_in_any_order_costs_a_lookup_each(order: str) -> None:
    """Alice answers B 300 times (Rejects), the lowest in her chain last (reverse), or shuffled: each that
    comes lower than every one held recounts the cut-off line. Each recount passed over the superseded
    statements: 300 in reverse visited 45,448 digests; now the index is built once (3 digests) and kept
    in step. B counts until the lowest Reject's place, as in chain order."""
    story = _CutOff()
    rejects = [story.alice.reject(story.cut, f"no {i}") for i in range(300)]
    arrival = rejects[::-1] if order == "reverse" else random.Random(31).sample(rejects, len(rejects))
    v = story.verifier()
    neg = v.negotiations.get(story.offer.negotiation_id)
    neg.superseded = _CountingSet(neg.superseded)
    _CountingSet.visited = 0
    for vs in arrival:
        v.accept(vs.envelope)
    assert v.negotiations.get(story.offer.negotiation_id) is neg and len(neg.superseded) >= 301
    assert _CountingSet.visited <= 2 * len(neg.superseded), _CountingSet.visited
    alone = story.verifier()  # B's answer on the line: the lowest Reject alone
    alone.accept(rejects[0].envelope)
    t0, mandate = story.offer.issued_at_ms, story.bob.mandate_vs.digest
    probes = range(t0, rejects[-1].issued_at_ms + 2, 1)
    assert [v.exposure.exposure(mandate).outstanding(t) for t in probes] == [
        alone.exposure.exposure(mandate).outstanding(t) for t in probes
    ]


class _CountingDict(dict[bytes, object]):
    """A negotiation's displaced contracts, counting each one a pass over them visits."""

    visited = 0

    def __iter__(self) -> Iterator[bytes]:
        _CountingDict.visited += len(self)
        return super().__iter__()

    def values(self):  # type: ignore[override]
        _CountingDict.visited += len(self)
        return super().values()

    def items(self):  # type: ignore[override]
        _CountingDict.visited += len(self)
        return super().items()


def _exposure(v: Verifier, story: _CutOff, last: int) -> tuple[tuple[int, ...], ...]:
    """Both parties' outstanding value at each ms from the offer to past ``last``."""
    probes = range(story.offer.issued_at_ms, last + 2)
    return tuple(
        tuple(v.exposure.exposure(who.mandate_vs.digest).outstanding(t) for t in probes)
        for who in (story.alice, story.bob)
    )


@pytest.mark.req("NEG-021", "NEG-023")
@pytest.mark.parametrize("order", ["reverse", "shuffled", "valley"])
def test_a_flood_of_accepts_of_a_cut_off_counter_in_any_order_costs_a_lookup_each(order: str) -> None:
    """displaced31: Alice accepts B 300 times (B names no escrow), the lowest in her chain last (reverse),
    or shuffled. Each that comes lower than every one held is B's answer on the cut-off line: its contract
    is kept displaced (:attr:`Negotiation.displaced`), one more each. Two passes per answer read every
    contract displaced -- the NEG-023 unbooking (the contracts her Accept is above) and the recount's
    ending dates -- so 300 in reverse visited 90,001 (600: 0.6 s CPU). Now a ranked index answers the
    first (:meth:`Negotiation.displaced_below`) and the recount dates the contract it reopened alone. Both
    parties' exposure at every ms ends as in chain order. The valley: the lower half in reverse, then the
    upper half in chain order, each above the 150 kept displaced -- each of those unbooked (NEG-023) once,
    not once per answer above it (22,800 bookings with the index alone)."""
    story = _CutOff()
    accepts = [story.alice.accept(story.cut) for _ in range(300)]
    arrival = {
        "reverse": accepts[::-1],
        "shuffled": random.Random(31).sample(accepts, len(accepts)),
        "valley": [*accepts[:150][::-1], *accepts[150:]],
    }[order]
    v = story.verifier()
    neg = v.negotiations.get(story.offer.negotiation_id)
    assert not neg.displaced
    neg.displaced = _CountingDict()
    _CountingDict.visited = 0
    book, booked = v.exposure, [0]
    displace = book.contract_displaced

    def counted(mandate: bytes, contract: bytes, at: tuple[int, int]) -> None:
        booked[0] += 1
        displace(mandate, contract, at)

    book.contract_displaced = counted  # type: ignore[method-assign]
    for vs in arrival:
        v.accept(vs.envelope)
    assert v.negotiations.get(story.offer.negotiation_id) is neg and isinstance(neg.displaced, _CountingDict)
    # displaced32: the lowest's alone -- each lower one, the line's answer now, drops the one it replaced
    # (each kept one more before: 300 in reverse, 150 in the valley)
    assert len(neg.displaced) == 1
    assert _CountingDict.visited <= len(accepts), _CountingDict.visited  # 2 (90,001 in reverse before)
    assert booked[0] <= 10 * len(accepts), booked[0]
    chain = story.verifier()
    for vs in accepts:
        chain.accept(vs.envelope)
    last = accepts[-1].issued_at_ms
    assert _exposure(v, story, last) == _exposure(chain, story, last)


def _answers(story: _CutOff, moves: list[tuple[str, int]]) -> list[VerifiedStatement]:
    """Answers signed in the order of ``moves`` (their chain order): each (body, which) answers the
    ``which``-th (modulo) Counter so far -- B, or a Counter of the story -- by that Counter's audience."""
    counters, out = [story.cut], []
    for body, which in moves:
        tip = counters[which % len(counters)]
        who = story.alice if tip.issuer == story.bob.did else story.bob
        story.clock.advance(7)
        if body == "reject":
            vs = who.reject(tip, "no")
        elif body == "accept":
            vs = who.accept(tip)
        else:
            vs = who.counter(tip, who.proposal())
            counters.append(vs)
        out.append(vs)
    return out


def _in_order(answers: list[VerifiedStatement], rng: random.Random) -> list[VerifiedStatement]:
    """``answers`` in a random order in which each comes after the answer it cites (if one of them)."""
    mine = {vs.digest for vs in answers}
    done: set[bytes] = set()
    out: list[VerifiedStatement] = []
    while len(out) < len(answers):
        ready = [
            vs for vs in answers if vs.digest not in done and (cited(vs) not in mine or cited(vs) in done)
        ]
        pick = rng.choice(ready)
        done.add(pick.digest)
        out.append(pick)
    return out


def _end(story: _CutOff, arrival: list[VerifiedStatement], names: dict[bytes, int]) -> tuple[object, ...]:
    """State, contract, the line's open end, the answers superseded and refused, and both parties'
    outstanding value at each ms from the offer to past the last answer. (Not the contracts kept displaced:
    an Accept's, held on the line until a lower answer came, stays kept, counting nowhere.)"""
    v = story.verifier()
    refused = []
    for vs in arrival:
        try:
            v.accept(vs.envelope)
        except CoopError as e:
            refused.append((names[vs.digest], e.code))
    neg = v.negotiations.get(story.offer.negotiation_id)
    t0, last = story.offer.issued_at_ms, max(vs.issued_at_ms for vs in arrival)
    counts = tuple(
        tuple(v.exposure.exposure(who.mandate_vs.digest).outstanding(t) for t in range(t0, last + 2))
        for who in (story.alice, story.bob)
    )
    return (
        neg.state,
        neg.contract.accept.digest if neg.contract is not None else None,
        names.get(neg.branch.digest, -1) if neg.branch is not None else None,
        sorted(names[d] for d in neg.superseded if d in names),
        sorted(refused),
        counts,
    )


_MOVES = st.lists(
    st.tuples(st.sampled_from(["reject", "reject", "counter", "accept"]), st.integers(0, 7)),
    min_size=1,
    max_size=8,
)


@pytest.mark.req("NEG-021", "NEG-023", "MND-022")
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_MOVES, st.randoms(use_true_random=False))
def test_answers_to_a_cut_off_counter_end_as_in_chain_order_whatever_order_they_come_in(
    moves: list[tuple[str, int]], rng: random.Random
) -> None:
    """A random set of answers to B and to the Counters answering it in turn (Rejects, Counters, Accepts,
    by whichever party each answers), signed in one chain order, fed in a random order (each after the
    answer it cites): the negotiation's state, contract, open end, superseded and refused answers and both
    parties' exposure at every ms end as in chain order."""
    story = _CutOff()
    answers = _answers(story, moves)
    names = {vs.digest: i for i, vs in enumerate(answers)}
    assert _end(story, _in_order(answers, rng), names) == _end(story, answers, names)


@pytest.mark.req("NEG-021", "NEG-023", "MND-022")
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["accept", "accept", "accept", "reject", "counter"]), min_size=2, max_size=10),
    st.randoms(use_true_random=False),
)
def test_a_flood_of_accepts_of_a_cut_off_counter_ends_as_in_chain_order_whatever_order_it_comes_in(
    bodies: list[str], rng: random.Random
) -> None:
    """displaced31: Alice's answers to B, mostly Accepts (each a contract kept displaced when it comes
    lowest), a Reject or Counter among them, fed in any order: state, contract, open end, superseded and
    refused answers and both parties' exposure at every ms end as in chain order."""
    story = _CutOff()
    answers = _answers(story, [(body, 0) for body in bodies])
    names = {vs.digest: i for i, vs in enumerate(answers)}
    assert _end(story, rng.sample(answers, len(answers)), names) == _end(story, answers, names)


_JS_PASSES = """
import { Verifier } from %s;
import { readFileSync } from 'node:fs';
const run = JSON.parse(readFileSync(0, 'utf8'));
let active = 0, read = 0, recounts = 0;
for (const name of ["filter", "some", "every", "find", "includes", "reduce", "map", "forEach", "flatMap"]) {
  const f = Array.prototype[name];
  Array.prototype[name] = function (...a) {
    if (active && this[0]?.dhex) read += this.length; // a pass over records reads every one
    return f.apply(this, a);
  };
}
const recount = Verifier.prototype.recountPastHigherAnswer;
Verifier.prototype.recountPastHigherAnswer = function (...a) {
  active += 1;
  try { return recount.apply(this, a); } finally { active -= 1; }
};
const count = Verifier.prototype.countCutOffLine;
Verifier.prototype.countCutOffLine = function (...a) {
  recounts += 1;
  return count.apply(this, a);
};
const v = new Verifier({ mode: "sparse", nowMs: null, role: "auditor" });
const take = (e) => v.accept(Buffer.from(e, 'base64'));
run.before.forEach(take);
run.flood.forEach(take);
console.log(JSON.stringify({ read, recounts, held: v.byDigest.size }));
"""


@pytest.mark.req("NEG-021")
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_the_js_verifiers_recount_of_a_reverse_flood_reads_the_line_alone() -> None:
    """The second implementation (finding F105): 300 Rejects of B in reverse chain order, each the new lowest,
    recount the cut-off line (``countCutOffLine``) each. Each answer passed over the negotiation's records to
    find a higher one of its key, each recount once more and again per step of the line, and each recount
    pushed B once more on C's early answers, which every exposure span reads: 300 read 366,878 records. Now
    an index of records by what they cite (ranked by chain place) answers both, and B is pushed once."""
    story = _CutOff()
    flood = [story.alice.reject(story.cut, f"no {i}").envelope for i in range(300)][::-1]
    run = {"before": [_b64(e) for e in story.before], "flood": [_b64(e) for e in flood]}
    verifier = Path(__file__).resolve().parent.parent / "examples" / "js_verifier" / "verify.mjs"
    out = js_module(_JS_PASSES % json.dumps(verifier.as_uri()), stdin=json.dumps(run), timeout=120)
    assert out["held"] >= len(story.before) + len(flood) - 2 and out["recounts"] >= len(flood) - 1, out
    assert out["read"] <= 20 * len(flood), out  # a few records per answer: the line, its ends


def _b64(envelope: bytes) -> str:
    return base64.b64encode(envelope).decode()
