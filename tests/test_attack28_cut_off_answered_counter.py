"""Red team 28: a bonded Counter of ours cut off the line AFTER it was answered, accepted behind our back.

NEG-024 (a) (red team 27) has Bob's runtime withdraw, at its escrow, a bonded Counter of his that a kept lower
answer of Alice's cut off the line -- "before anything answered it". Who chooses whether something answered
it? Alice. She answers Bob's bonded Counter C2 (naming escrow E, both bonds) with a Counter C3 of her own,
poor enough that Bob's strategy rejects it; Bob's Reject ends the negotiation in his view, and she answers
that Reject with her kept Reject of his opening Offer, lower in her chain (NEG-021 (a)): the line is cut
back to his Offer, which names no escrow, and C2 is held off it -- answered, by C3, so NEG-024 (a) does not
withdraw it, and the runtime asks an escrow only about offers of its own on the line (ESC-012, ESC-013). E
never hears of C3. Alice then accepts C2 at E alone: in E's view C2 is outstanding on the line, E witnesses
her Accept and locks both bonds (NEG-021 (d) keeps it in every view holding E's Stamp, NEG-017 displacing C3),
Bob never delivers, and her claim after the deadline forfeits his bond to her. Her cost: an answer proof
against a throwaway key (C3 and the Accept, ATT-022).

Fixed (NEG-024 (a)): Bob's runtime withdraws a cut-off bonded Counter of his at its escrow, answered or not,
while the escrow stamped no answer to it that he holds -- his own Withdraw, not her answer, which the escrow
could refuse where his view took it superseded (NEG-018): E refuses her Accept after it (ESC-014), or answers
with the Accept it witnessed first and its locks, and Bob performs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_attack27_cut_off_counter import FUNDS, _Alice, _bobs_bonded_counter, _mirror, _Stage, _Trade

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement


def _poor(stage: _Stage, ours: VerifiedStatement) -> trade_pb2.Offer:
    """Alice's Counter of Bob's bonded Counter: under the same escrow, asking far more than it gives (Bob's
    HonestStrategy rejects it)."""
    poor = _mirror(ours)
    poor.terms.escrow = stage.escrow.did
    poor.terms.issuer_bond = poor.terms.audience_bond = 0
    del poor.gives[:]
    poor.gives.add().CopyFrom(ours.statement.counter.proposal.wants[0])
    poor.gives[0].value = 1
    return poor


class _Answered:
    """Alice's side: Bob's bonded Counter answered with her poor Counter of it and, in the same reply, her
    kept Reject of his Offer."""

    def __init__(self, reply: Callable[[_Stage, VerifiedStatement], list[bytes]]) -> None:
        self.reply = reply
        self.c3: VerifiedStatement | None = None

    def answer(self, stage: _Stage, ours: VerifiedStatement) -> list[bytes]:
        out = self.reply(stage, ours)
        self.c3 = next(vs for vs in map(verify_statement, out) if vs.body == "counter")
        return out


def _poor_then_kept(stage: _Stage, ours: VerifiedStatement) -> list[bytes]:
    """Alice's poor Counter of Bob's bonded Counter, then her kept Reject of his Offer."""
    return [stage.alice.counter(ours, _poor(stage, ours)).envelope, stage.kept.envelope]


def _answered_then_cut_off(
    tmp_path: Path,
    reply: Callable[[_Stage, VerifiedStatement], list[bytes]] = _poor_then_kept,
    *,
    raises: type[Exception] | None = None,
) -> tuple[_Trade, VerifiedStatement]:
    """Bob's trade through ``carry_trade`` (raising ``raises``, if given), Alice answering his bonded Counter
    with her poor Counter and, in the same reply, her kept Reject of his Offer. Returns the trade and her
    Counter."""
    side = _Answered(reply)
    stages: list[_Stage] = []
    original = _Alice.exchange

    def exchange(self: _Alice, envelope: bytes, context: object = ()) -> list[bytes]:
        vs = verify_statement(envelope)
        if vs.body != "counter":
            return original(self, envelope, context)
        self.got.append(vs)
        return side.answer(stages[0], vs)

    def unused(stage: _Stage, ours: VerifiedStatement) -> VerifiedStatement:
        raise AssertionError("Bob's Counter is answered by the exchange above")

    _Alice.exchange = exchange  # type: ignore[method-assign]
    try:
        t = _bobs_bonded_counter(tmp_path, unused, on_stage=stages.append, raises=raises)
    finally:
        _Alice.exchange = original  # type: ignore[method-assign]
    assert side.c3 is not None
    return t, side.c3


@pytest.mark.req("NEG-024", "NEG-021", "ESC-013", "ESC-014")
def test_a_kept_reject_after_alices_counter_of_bobs_bonded_counter_does_not_take_his_bond(
    tmp_path: Path,
) -> None:
    """Alice answers Bob's bonded Counter with a poor Counter of it and her kept Reject of his Offer, then
    accepts his cut-off Counter at E alone. Before: E never saw her Counter, witnessed her Accept and locked
    Bob's bond, and her claim forfeited it. Now his runtime withdraws the cut-off Counter at E, answered or
    not: E refuses her Accept after it (ESC-014), locking nothing."""
    t, c3 = _answered_then_cut_off(tmp_path)
    neg = t.peer.negotiation(t.offer.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None
    assert t.ours.digest in neg.superseded and c3.digest in neg.superseded  # cut off in Bob's view, answered
    # Alice accepts Bob's cut-off Counter and shows E alone the line to it.
    t.clock.advance(1_000)
    accept = t.alice.accept(t.ours)
    line = [t.offer.envelope, t.counter.envelope, t.ours.envelope, accept.envelope]
    with pytest.raises(CoopError):  # before: taken, E witnessing it and locking Bob's bond
        t.escrow.submit([*t.alice.setup, *t.bob.setup, *line])
    with pytest.raises(CoopError):
        t.escrow.submit([t.kept.envelope, accept.envelope])
    assert t.escrow.escrow.balance(t.bob.did) == (FUNDS, 0)  # nothing locked at E
    assert "bond_lock" not in [verify_statement(e).body for e in t.escrow.escrow.ledger()]
    assert audit_ledger(t.escrow.escrow.transcript(), escrow=t.escrow.did).findings == []
    shown = [verify_statement(e) for e in t.escrow.escrow.transcript()]
    assert [vs.body for vs in shown if vs.body == "withdraw" and vs.statement.withdraw.offer == t.ours.digest]


@pytest.mark.req("NEG-024", "NEG-021", "ESC-014")
def test_a_refusal_after_the_kept_reject_does_not_keep_bobs_cut_off_counter_open(tmp_path: Path) -> None:
    """Alice's reply to Bob's bonded Counter cuts it off (her poor Counter, then her kept Reject), and her
    peer refuses what Bob sends next (his Reject of her poor Counter): ``carry_trade`` raised from the
    exchange before it withdrew anything, and Alice accepted his cut-off Counter at E alone. Now the
    Withdraw goes to E on that path too, and her Accept is refused."""
    original = _Alice.exchange

    def refusing(self: _Alice, envelope: bytes, context: object = ()) -> list[bytes]:
        if verify_statement(envelope).body == "reject":
            raise CoopError("not now")  # any refusal ends Bob's drive with an error
        return original(self, envelope, context)

    _Alice.exchange = refusing  # type: ignore[method-assign]
    try:
        t, _ = _answered_then_cut_off(tmp_path, raises=CoopError)
    finally:
        _Alice.exchange = original  # type: ignore[method-assign]
    assert t.peer.negotiation(t.offer.negotiation_id).state is State.REJECTED
    t.clock.advance(1_000)
    accept = t.alice.accept(t.ours)
    line = [t.offer.envelope, t.counter.envelope, t.ours.envelope, accept.envelope]
    with pytest.raises(CoopError):  # before: taken, E witnessing it and locking Bob's bond
        t.escrow.submit([*t.alice.setup, *t.bob.setup, *line])
    assert t.escrow.escrow.balance(t.bob.did) == (FUNDS, 0)
    assert audit_ledger(t.escrow.escrow.transcript(), escrow=t.escrow.did).findings == []
