"""redteam27: a bonded Counter of ours that a kept lower answer cut off the line, accepted behind our back.

NEG-024 (red team 26) has the acceptor's runtime submit its own Accept that a lower answer cut back, so
the escrow's Stamp, not the view without it, says which contract stands. The same cut-back takes more
off the line than our Accept: every Counter after the answer it displaces -- and one of them may be a
bonded Counter of OURS naming an escrow, which the counterparty can still accept at that escrow alone:

- Bob offers Alice a trade naming no escrow (the reference default). Alice signs a Reject of it and keeps
  it, then a Counter of it naming no escrow (the next link of her chain). Bob's runtime, which must be
  sure, counters naming escrow E with both bonds (NEG-022's Why: "an offerer that must be sure names an
  escrow"). Alice answers his Counter with the kept Reject: lower in her chain, it cuts the line back to
  Bob's Offer (NEG-021 (a)), Bob's Counter is held off the line, the negotiation is REJECTED -- and
  ``carry_trade`` ends: no Accept of ours was cut back (NEG-024 has nothing to submit), and the offer it
  asks the escrow about (ESC-012, :meth:`Negotiation.exposed_offers`) is read from the line only, where
  Bob's bonded Counter no longer is. Nor does anything ask later: the post-cutoff check (ESC-013) and
  the forgotten-negotiation sweep read the same line.
- Alice accepts Bob's cut-off Counter and shows E alone the line to it: E witnesses her Accept and locks
  both bonds, and NEG-021 (d) keeps that contract standing in every view holding E's Stamp (it is in the
  branch of her higher answer). Bob never hears of it and never delivers; after the deadline Alice
  claims his item, and E forfeits Bob's bond to her.

Who chose the values: Alice signed both answers and chose to reveal the lower one in answer to Bob's
bonded Counter, and chose to show E alone her Accept of it; E did nothing wrong. What she gains: Bob's
bond; what it costs her: the answer proof against her key (ATT-022).

And where Bob's Counter was answered and the escrow took that answer (Alice's Reject his runtime showed it,
ESC-013), the escrow itself reopened it: shown the kept Reject after it, it read the Counter as one of the
branch held off the line that nobody answered, witnessed Alice's Accept of it, and locked Bob's bond --
its own audit `ANSWER_TAKEN_TWICE`.

Now Bob's runtime withdraws a bonded Counter of his that a lower answer cut off before anything answered
it, at its escrow at once (NEG-024 (a)), and an escrow takes no Accept of an offer naming it, on the line
or off it, once it took another answer to it (ESC-014): Alice's Accept is refused, or -- shown to the
escrow before she revealed the kept Reject -- revealed to Bob, who performs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView, Reply
from a2a_coop.runtime.trade import (
    bonded_offer_to_show,
    carry_trade,
    hidden_accept_check_ms,
)
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000


class _SureOfferer(HonestStrategy):
    """Bob's strategy: an offer of the counterparty's naming no escrow is countered, the same trade, under
    ``escrow`` with both bonds; one naming an escrow is judged as HonestStrategy does."""

    def __init__(self, escrow: str) -> None:
        super().__init__()
        self.escrow = escrow

    def respond(self, offer: OfferView) -> Reply:
        if offer.proposal.terms.escrow:
            return super().respond(offer)
        return Counter(self.mirror(offer.proposal))

    def mirror(self, theirs: trade_pb2.Offer) -> trade_pb2.Offer:
        """``theirs`` (as its issuer wrote it) from our side, under our escrow with both bonds."""
        ours = trade_pb2.Offer(gives=theirs.wants, wants=theirs.gives)
        ours.terms.CopyFrom(theirs.terms)
        ours.terms.escrow, ours.terms.issuer_bond, ours.terms.audience_bond = self.escrow, BOND, BOND
        return ours


class _Alice:
    """Alice's side of Bob's trade: her Counter naming no escrow in answer to his Offer, and ``answer``'s
    answer to his bonded Counter."""

    def __init__(
        self,
        alice: Party,
        counter: VerifiedStatement,
        answer: Callable[[VerifiedStatement], VerifiedStatement],
    ) -> None:
        self.alice, self.counter, self.answer = alice, counter, answer
        self.got: list[VerifiedStatement] = []

    def exchange(self, envelope: bytes, context: object = ()) -> list[bytes]:
        vs = verify_statement(envelope)
        self.got.append(vs)
        if vs.body == "offer":
            return [*self.alice.setup, self.counter.envelope]
        if vs.body == "counter":
            return [self.answer(vs).envelope]
        return []


def _mirror(offer: VerifiedStatement) -> trade_pb2.Offer:
    """Bob's terms seen from Alice, still naming no escrow."""
    mine = proposal_of(offer)
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    return theirs


def _bodies(envelopes: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in envelopes]


@dataclass
class _Trade:
    """Bob's trade with Alice as far as ``carry_trade`` took it: his Offer, her kept Reject of it and her
    Counter (the next link of her chain), his bonded Counter naming the escrow, and his peer."""

    clock: FixedClock
    alice: Party
    bob: Party
    escrow: LocalEscrow
    journal: Journal
    peer: Peer
    them: _Alice
    offer: VerifiedStatement
    kept: VerifiedStatement
    counter: VerifiedStatement
    ours: VerifiedStatement

    def alice_claims(self, accept: VerifiedStatement) -> list[str]:
        """Alice delivers her own item under ``accept``'s contract, the deadline passes, and she claims
        Bob's: the escrow's ledger (bodies) once the response window has passed."""
        self.escrow.submit([self.alice.deliver(accept, self.bob).envelope])
        self.clock.now_ms = proposal_of(self.ours).gives[0].deadline_ms + 31_000
        claim = self.alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
            audience=self.bob.did,
            negotiation_id=self.offer.negotiation_id,
        )
        self.escrow.submit([claim.envelope])
        self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
        self.escrow.tick()
        return _bodies(self.escrow.escrow.ledger())


@dataclass
class _Stage:
    """What Alice holds when Bob's bonded Counter reaches her."""

    alice: Party
    bob: Party
    escrow: LocalEscrow
    offer: VerifiedStatement
    kept: VerifiedStatement
    counter: VerifiedStatement


Answer = Callable[[_Stage, VerifiedStatement], VerifiedStatement]


def _bobs_bonded_counter(
    tmp_path: Path,
    answer: Answer,
    *,
    on_stage: Callable[[_Stage], None] | None = None,
    raises: type[Exception] | None = None,
) -> _Trade:
    """Bob offers Alice a trade naming no escrow; she keeps a Reject of it and counters it naming none;
    his runtime counters naming escrow E with both bonds, and she answers that Counter with
    ``answer(stage, his_counter)``. ``on_stage``: given the stage before Bob's runtime runs; ``raises``:
    what ``carry_trade`` must raise."""
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = LocalEscrow(party, funds={alice.did: FUNDS, bob.did: FUNDS})
    journal = Journal.open(tmp_path / "bob.db", durability="normal")
    peer = make_peer(bob, clock, context=[escrow.mandate], strategy=_SureOfferer(party.did), journal=journal)
    offer = peer.propose(alice.did, bob.proposal())  # naming no escrow: the reference default
    assert not proposal_of(offer).terms.escrow
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror(offer))
    clock.advance(1_000)
    assert (kept.seq, counter.seq) == (0, 1) and counter.header.prev == kept.digest
    stage = _Stage(alice, bob, escrow, offer, kept, counter)
    if on_stage is not None:
        on_stage(stage)
    them = _Alice(alice, counter, lambda ours: answer(stage, ours))

    if raises is None:
        carry_trade(peer, them, offer, escrow=escrow)  # type: ignore[arg-type]  # Alice's side, in process
    else:
        with pytest.raises(raises):
            carry_trade(peer, them, offer, escrow=escrow)  # type: ignore[arg-type]

    bobs = [vs for vs in them.got if vs.body == "counter"]
    assert len(bobs) == 1 and proposal_of(bobs[0]).terms.escrow == party.did
    assert proposal_of(bobs[0]).terms.issuer_bond == BOND
    return _Trade(clock, alice, bob, escrow, journal, peer, them, offer, kept, counter, bobs[0])


@pytest.mark.req("NEG-024", "NEG-021", "ESC-012", "ESC-014")
def test_a_kept_reject_revealed_to_bobs_bonded_counter_does_not_take_his_bond(tmp_path: Path) -> None:
    """Alice answers Bob's bonded Counter with her kept Reject of his Offer, then accepts his Counter at E
    alone. Before: his runtime, its view REJECTED, showed E nothing (it asks only about offers of its own
    on the line, at once and after their bonding cutoff), E witnessed her Accept (NEG-021 (d)) and her
    claim took his bond. Now his runtime withdraws the cut-off Counter at E at once: E refuses her
    Accept (ESC-014) and locks nothing."""
    t = _bobs_bonded_counter(tmp_path, lambda stage, ours: stage.kept)  # his Counter answered by it
    neg = t.peer.negotiation(t.offer.negotiation_id)
    assert neg.state is State.REJECTED and t.ours.digest in neg.superseded  # cut off in Bob's view
    withdrawn = verify_statement(t.escrow.escrow.transcript()[-1])
    assert withdrawn.body == "withdraw" and withdrawn.statement.withdraw.offer == t.ours.digest
    # Alice accepts Bob's cut-off Counter and shows E alone the line to it, and her kept Reject.
    t.clock.advance(1_000)
    accept = t.alice.accept(t.ours)
    line = [t.offer.envelope, t.counter.envelope, t.ours.envelope]
    for shown in ([*t.alice.setup, *line, accept.envelope], [t.kept.envelope, accept.envelope]):
        with pytest.raises(CoopError):
            t.escrow.submit(shown)
    assert t.escrow.escrow.balance(t.bob.did) == (FUNDS, 0)  # nothing locked at E
    assert audit_ledger(t.escrow.escrow.transcript(), escrow=t.escrow.did).findings == []


@pytest.mark.req("NEG-024", "NEG-021", "ESC-012")
def test_bob_performs_the_accept_of_his_cut_off_counter_the_escrow_witnessed_first(tmp_path: Path) -> None:
    """Alice accepts Bob's bonded Counter at E alone first, then answers it to Bob with her kept Reject of
    his Offer. Bob's Withdraw of the cut-off Counter, shown E after the line to it, has E answer with the
    Accept it witnessed, its Stamp and locks (ESC-012): Bob's view takes that contract back (NEG-021 (d)),
    he delivers on time, and Alice's claim finds nothing to take."""
    accepted: list[VerifiedStatement] = []

    def accept_at_the_escrow_then_reveal(stage: _Stage, ours: VerifiedStatement) -> VerifiedStatement:
        accepted.append(stage.alice.accept(ours))
        line = [stage.offer.envelope, stage.counter.envelope, ours.envelope, accepted[0].envelope]
        stage.escrow.submit([*stage.alice.setup, *stage.bob.setup, *line])
        return stage.kept

    t = _bobs_bonded_counter(tmp_path, accept_at_the_escrow_then_reveal)
    (accept,) = accepted
    neg = t.peer.negotiation(t.offer.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest  # NEG-021 (d)
    assert any(by == t.bob.did for by, _ in neg.contract.delivered)  # Bob performed, at E too
    assert "forfeit" not in t.alice_claims(accept)


@pytest.mark.req("ESC-014", "NEG-021")
def test_an_escrow_takes_no_accept_of_a_counter_whose_answer_it_took_once_a_lower_answer_cut_it_off(
    tmp_path: Path,
) -> None:
    """Alice rejects Bob's bonded Counter; his runtime shows the escrow her Reject (ESC-013), the escrow
    stamps it, and his trade ends there. Then Alice shows the escrow her kept Reject of Bob's Offer --
    lower in her chain, it cuts the line back past his Counter (NEG-021 (a)) -- and her Accept of his
    Counter: the escrow, which had closed that Counter by her Reject (ESC-014), witnessed the Accept as a
    branch taking the line back (NEG-021 (d)), locked Bob's bond, and its claim took it. Its own audit
    found it `ANSWER_TAKEN_TWICE`. Alice chose, after the fact, which of her two answers binds."""
    t = _bobs_bonded_counter(tmp_path, lambda stage, ours: stage.alice.reject(ours, "no"))
    neg = t.peer.negotiation(t.offer.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None
    assert hidden_accept_check_ms(t.peer, neg) is None and bonded_offer_to_show(t.peer, neg) is None
    reject = verify_statement(t.escrow.escrow.transcript()[-1])  # the escrow took her Reject (ESC-013)
    assert reject.body == "reject" and reject.statement.reject.offer == t.ours.digest

    t.clock.advance(1_000)
    t.escrow.submit([t.kept.envelope])  # the kept Reject of Bob's Offer: the line cut back to it
    accept = t.alice.accept(t.ours)
    with pytest.raises(CoopError) as refused:
        t.escrow.submit([accept.envelope])
    assert refused.value.code == "ILLEGAL_TRANSITION" and refused.value.requirement == "ESC-014"
    assert t.escrow.escrow.balance(t.bob.did) == (FUNDS, 0)  # nothing locked
    assert "bond_lock" not in _bodies(t.escrow.escrow.ledger())
    assert audit_ledger(t.escrow.escrow.transcript(), escrow=t.escrow.did).findings == []


def _closed_counter(kind: str) -> tuple[LocalEscrow, dict[str, list[bytes]], Party]:
    """Bob's Offer naming no escrow, Alice's kept Reject of it and her Counter naming none, Bob's bonded
    Counter naming escrow E closed by ``kind`` (his Withdraw, her Reject, her Counter), and Alice's Accept
    of his Counter: the escrow and the three Submits -- Bob's line with its close, the kept Reject, the
    Accept."""
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = LocalEscrow(party, funds={alice.did: FUNDS, bob.did: FUNDS})
    offer = bob.offer(alice, bob.proposal())
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror(offer))
    clock.advance(1_000)
    ours = bob.counter(counter, _SureOfferer(party.did).mirror(proposal_of(counter)))
    clock.advance(1_000)
    if kind == "withdraw":
        close = bob.withdraw(ours, "changed my mind")
    elif kind == "reject":
        close = alice.reject(ours, "no")
    else:
        close = alice.counter(ours, _mirror(ours))
    clock.advance(1_000)
    accept = alice.accept(ours)
    line = [offer.envelope, counter.envelope, ours.envelope, close.envelope]
    return (
        escrow,
        {
            "line": [*alice.setup, *bob.setup, *line],
            "kept": [kept.envelope],
            "line_kept": [*alice.setup, *bob.setup, *line, kept.envelope],  # the kept Reject with the line
            "accept": [accept.envelope],
        },
        bob,
    )


@pytest.mark.parametrize("kind", ["withdraw", "reject", "counter"])
@pytest.mark.parametrize(
    "order", [("line", "kept", "accept"), ("line", "accept", "kept"), ("line_kept", "accept")]
)
@pytest.mark.req("ESC-014", "NEG-021")
def test_an_escrow_bonds_no_accept_of_a_counter_it_closed_in_any_order(
    kind: str, order: tuple[str, ...]
) -> None:
    """Each close of Bob's bonded Counter the escrow took, and each order of the Submits in which the line
    comes before the Accept (the kept Reject after it, with it, or after the Accept): no Accept of that
    Counter is witnessed, nothing is locked, and the escrow's audit finds nothing. Before, an escrow
    shown the kept Reject before the Accept witnessed it and locked Bob's bond (6 of the 9), its audit
    `ANSWER_TAKEN_TWICE`."""
    escrow, submits, bob = _closed_counter(kind)
    for name in order:
        try:
            escrow.submit(submits[name])
        except CoopError as refused:
            assert name == "accept", refused  # the table, or ESC-014 off the line
    assert escrow.escrow.balance(bob.did) == (FUNDS, 0)
    assert audit_ledger(escrow.escrow.transcript(), escrow=escrow.did).findings == []
