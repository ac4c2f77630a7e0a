"""proof33: what a key's flood of Accepts costs an escrow and an auditor in displaced copies (counted).

proof32 bounded a peer's copies of a negotiation kept for contracts formed on a cut-off line (1,000 Accepts
in reverse chain order: 1,000 copies -> 1). The escrow's and the auditor's own passes over a negotiation's
displaced copies were left as they were: the escrow's ``_drop_cut_back`` (NEG-021 at an escrow) and the
auditor's ``_cut_back``, each run for every answer taken in a negotiation holding a contract naming the
escrow, each reading every copy. Measured here on the three stories a flood of Accepts can come in, n = 10
and 40, each Accept submitted to the escrow alone, highest in her chain first, then the escrow's transcript
audited:

- flood31's cut-off Counter (Bob's Counter cut off by his Accept of Alice's Counter naming E): E refuses
  every Accept of it (``ILLEGAL_TRANSITION``, the contract BONDED) -- nothing kept, nothing in its
  transcript;
- the cut-back (Alice's Accepts of Bob's offer naming no escrow, signed before her Counter naming E and
  revealed to E before Bob's Accept of it): each cuts the line back and E keeps one copy per contract it
  displaced -- n, linear in the statements it holds, as every view (SPEC 4.5) --, and neither pass runs: no
  contract of E's is in the negotiation while they come, and Bob's Accept of her Counter, stamped by E,
  takes the line back after them (NEG-021 (d));
- NEG-017 (E's contract displaced by K's witnessed Accept of the first offer, then n more Accepts of that
  offer): one copy at E and at the auditor; E's pass runs once (the negotiation leaves its open contracts),
  the auditor's once per answer -- over that one copy.

None grows with n faster than the statements: nothing to bound. These tests keep it so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from peers import line_moved_to
from test_escrow_memory import BOND
from test_flood31_reverse_answers import _CutOff

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol import escrow_audit
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import Negotiation
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import FixedClock, LocalEscrow, Party


class _Passes:
    """Counts the escrow's and the auditor's passes over a negotiation's displaced copies: per pass, the
    copies it reads; and keeps the auditor's replay, to count what its view holds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.escrow: list[int] = []
        self.auditor: list[int] = []
        self.replay: Any = None
        drop, cut, init = Escrow._drop_cut_back, escrow_audit._Replay._cut_back, escrow_audit._Replay.__init__

        def dropped(escrow: Escrow, nid: bytes) -> None:
            self.escrow.append(len(escrow.verifier.negotiations.get(nid).displaced or {}))
            drop(escrow, nid)

        def cut_back(replay: Any, neg: Negotiation) -> None:
            self.auditor.append(len(neg.displaced or {}))
            cut(replay, neg)

        def started(replay: Any, *args: Any, **kw: Any) -> None:
            init(replay, *args, **kw)
            self.replay = replay

        monkeypatch.setattr(Escrow, "_drop_cut_back", dropped)
        monkeypatch.setattr(escrow_audit._Replay, "_cut_back", cut_back)
        monkeypatch.setattr(escrow_audit._Replay, "__init__", started)

    def audited(self, e: LocalEscrow, nid: bytes) -> int:
        """E's transcript audited (sound): the displaced copies the auditor's view holds."""
        report = audit_ledger(e.escrow.transcript(), escrow=e.did)
        assert report.ok, report.findings
        return len(self.replay.verifier.negotiations.get(nid).displaced or {})


def _each(e: LocalEscrow, flood: list[VerifiedStatement], refused: Callable[[CoopError], bool]) -> int:
    """``flood`` submitted to ``e`` one at a time, highest first: how many it took."""
    took = 0
    for vs in reversed(flood):
        try:
            e.submit([vs.envelope])
            took += 1
        except CoopError as exc:
            assert refused(exc), exc
    return took


@pytest.mark.req("NEG-021", "ESC-016")
@pytest.mark.parametrize("n", [10, 40])
def test_accepts_of_a_cut_off_counter_are_refused_by_its_escrow(
    monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    story, passes = _CutOff(), _Passes(monkeypatch)
    e = story.escrow  # the escrow that stamped Bob's Accept of Alice's Counter
    e.submit([story.cut.envelope])
    flood = [story.alice.accept(story.cut) for _ in range(n)]
    assert _each(e, flood, lambda exc: exc.code == "ILLEGAL_TRANSITION") == 0
    nid = story.offer.negotiation_id
    assert not e.escrow.verifier.negotiations.get(nid).displaced
    assert passes.audited(e, nid) == 0 and passes.escrow == passes.auditor == []


@pytest.mark.req("NEG-021", "ESC-016")
@pytest.mark.parametrize("n", [10, 40])
def test_lower_answers_cutting_back_cost_the_escrow_one_copy_each_and_no_pass(
    monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    clock, passes = FixedClock(), _Passes(monkeypatch)
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    flood = []
    for _ in range(n):
        clock.advance(1)
        flood.append(alice.accept(offer))
    clock.advance(1)
    terms = alice.proposal(escrow=party.did, issuer_bond=BOND, audience_bond=BOND)
    counter = alice.counter(offer, terms, ttl_ms=600_000)
    e = LocalEscrow(party, funds={alice.did: 1_000, bob.did: 1_000})
    e.submit([*alice.setup, *bob.setup, offer.envelope, counter.envelope])
    assert _each(e, flood, lambda exc: False) == n  # each cut the line back
    clock.advance(1)
    e.submit([bob.accept(counter).envelope])  # stamped by E: the line is its contract's again
    neg = e.escrow.verifier.negotiations.get(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.escrow == party.did
    assert len(neg.displaced or {}) == n  # one per contract displaced: linear, as every view (SPEC 4.5)
    assert passes.audited(e, offer.negotiation_id) == n
    assert passes.escrow == passes.auditor == []


@pytest.mark.req("NEG-017", "ESC-016")
@pytest.mark.parametrize("n", [10, 40])
@pytest.mark.parametrize("signed", ["after", "before"])
def test_accepts_after_a_neg017_displacement_cost_a_pass_over_one_copy_each(
    monkeypatch: pytest.MonkeyPatch, n: int, signed: str
) -> None:
    """E's contract (P1's Accept of P2's Counter naming E) displaced by P2's Accept of P1's Offer, which K
    stamped; then P2's n other Accepts of that Offer, signed after the displacing one or before it."""
    clock, passes = FixedClock(), _Passes(monkeypatch)
    p1, p2, k = Party("p1", clock), Party("p2", clock), Party("k", clock)
    e = LocalEscrow(Party("escrow", clock), funds={p1.did: 1_000, p2.did: 1_000})
    o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, e.did, bond=100)
    clock.advance(1_000)
    flood = [p2.accept(o1) for _ in range(n)] if signed == "before" else []
    a0 = p2.accept(o1)
    flood += [p2.accept(o1) for _ in range(n)] if signed == "after" else []
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
    e.submit([*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope])
    e.submit([*k.setup, stamp.envelope, a0.envelope])  # E's contract displaced (NEG-017)
    assert _each(e, flood, lambda exc: False) == n
    nid = o1.negotiation_id
    assert len(e.escrow.verifier.negotiations.get(nid).displaced or {}) == 1
    assert passes.audited(e, nid) == 1
    assert passes.escrow == [1]  # once: the negotiation leaves E's open contracts
    assert passes.auditor == [1] * (n + 1)  # once per answer, each over the one copy
