"""proof32: what a key's flood of Accepts of a cut-off Counter keeps in memory -- counted, not timed.

flood31's story (tests/test_flood31_reverse_answers.py): Bob's Counter B is cut off the line by his Accept of
Alice's Counter, which escrow E witnessed; every Accept of B by Alice is taken superseded, the lowest in her
chain B's answer on the cut-off line, its contract kept displaced (SPEC 4.5). In reverse chain order each
Accept came lower than every one held and kept one more copy of the negotiation (displaced31: n Accepts, n
copies), though each it replaced on the line counts nowhere since, and a view that took the lower one first
never formed it. Now a lower answer of the key taking the line drops the copy it replaced: one is kept --
the line's answer's -- however many she sends, in whatever order; the answer proof against her is kept
(ATT-022) and both parties' exposure is as in chain order.
"""

from __future__ import annotations

import random

import pytest
from test_flood31_reverse_answers import _CutOff, _exposure

from a2a_coop.runtime.evidence import EvidenceVerifier


@pytest.mark.req("NEG-021", "ATT-022")
@pytest.mark.parametrize("order", ["reverse", "shuffled", "forward"])
def test_a_thousand_accepts_of_a_cut_off_counter_keep_one_displaced_copy(order: str) -> None:
    story = _CutOff()
    accepts = [story.alice.accept(story.cut) for _ in range(1_000)]
    arrival = {
        "reverse": accepts[::-1],
        "shuffled": random.Random(32).sample(accepts, len(accepts)),
        "forward": accepts,
    }[order]
    v = EvidenceVerifier()
    for env in story.before:
        v.accept(env)
    for vs in arrival:
        v.accept(vs.envelope)
    neg = v.negotiations.get(story.offer.negotiation_id)
    assert neg.displaced is not None and len(neg.displaced) == 1  # reverse: 1,000 before (displaced31)
    ((key, shadow),) = neg.displaced.items()
    assert key == accepts[0].digest and shadow.contract is not None  # the line's answer: her lowest
    proof = v.forks[story.alice.did]  # her Accepts of one statement: an answer proof (ATT-022)
    assert {proof.first, proof.second} <= {a.envelope for a in accepts}
    chain = EvidenceVerifier()
    for env in [*story.before, *(a.envelope for a in accepts)]:
        chain.accept(env)
    last = accepts[-1].issued_at_ms
    assert _exposure(v, story, last) == _exposure(chain, story, last)
