"""stamp32: a cut-off bonded Counter is freed once its escrow locked a contract that closes its branch.

asked31 and fork31 held Bob's bonded Counter that a lower answer cut off the line -- its exclusive_key
(NEG-020) and its value (MND-010, section 4.5) -- until its escrow E1 took an answer to it or E1's word
past its cutoff named it: an Accept of it that E1 witnesses takes the line back there (NEG-021 (d)). But
E1 can also close the Counter's branch by locking another contract of the negotiation: Bob counters
Mallory's Counter at E1 (C1), she counters that (Y2), he counters with his car at E1 (C2); her lower
answer to his opening offer then cuts all of it off, and she has E1 witness her Accept of C1, taking the
line back there. E1 took the Accept as C1's answer (ESC-014) and so takes nothing answering Y2, her
other answer to C1 -- no Accept of C2 ever: the hold held nothing, Bob's car kept out of every other sale
and its value counted until C2's claims ended. Now both go with E1's lock of that contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from peers import make_peer
from test_asked31_successor_word import _fill_up
from test_attack10 import OneCar, _car, _car_market
from test_hidden_accept import Market

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.strategy import Counter as StrategyCounter
from a2a_coop.runtime.strategy import OfferView, Reply
from a2a_coop.testing import LocalEscrow, Party, service


@dataclass
class Scripted(OneCar):
    """Bob's replies, in order."""

    replies: list[Reply] = field(default_factory=list)

    def respond(self, offer: OfferView) -> Reply:
        return self.replies.pop(0)


@dataclass
class _Story:
    m: Market
    e2: LocalEscrow
    carol: Party
    line: list[VerifiedStatement]  # Bob's Offer, Mallory's higher answer, his C1, her Y2, his C2

    def car_held(self) -> bool:
        try:
            self.m.b.propose(self.carol.did, _car(self.m, self.e2.did, bond=100))
        except CoopError as refused:
            assert refused.code == "EXCLUSIVE_CONFLICT", refused
            return True
        return False

    def commits(self, value: int) -> bool:
        """Whether Bob's guard signs one more deal of ``value`` to Carol (MND-010)."""
        due = self.m.clock.now_ms + 3_600_000
        deal = self.m.bob.proposal(
            gives=[service("consulting", value=value, deadline_ms=due)],
            wants=[service("editing", value=1, deadline_ms=due)],
        )
        try:
            self.m.b.propose(self.carol.did, deal)
        except CoopError as refused:
            assert refused.code == "MANDATE_VIOLATION", refused
            return False
        return True

    def at_e1(self, *statements: VerifiedStatement) -> list[VerifiedStatement]:
        """Mallory shows E1 the line down to ``statements``' place; E1's answer."""
        m = self.m
        shown = [*m.mallory.setup, *m.bob.setup, *(vs.envelope for vs in self.line), *statements]
        envelopes = [e if isinstance(e, bytes) else e.envelope for e in shown]
        return [verify_statement(e) for e in m.escrow.submit(envelopes)]


def _cut_off_car_counter() -> _Story:
    """Bob offers Mallory his car naming no escrow; she keeps one Counter of it naming none and sends a
    second; he counters at E1 (C1, no car), she counters that (Y2), he counters with the car at E1 (C2);
    her kept Counter, lower in her chain, cuts it all off (NEG-021 (a)) and Bob signs nothing more there
    (NEG-022)."""
    m, e2, carol, _ = _car_market()
    plain = m.bob.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100)
    replies: list[Reply] = [StrategyCounter(plain), StrategyCounter(_car(m, m.escrow.did, bond=100))]
    m.b = make_peer(
        m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=Scripted(replies=replies)
    )
    offer = m.b.propose(m.mallory.did, _car(m, "", bond=0))
    kept = m.mallory.counter(offer, m.mallory.proposal())
    higher = m.mallory.counter(offer, m.mallory.proposal())
    (c1,) = m.b.on_replies([*m.mallory.setup, higher.envelope])
    y2 = m.mallory.counter(c1, m.mallory.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100))
    (c2,) = m.b.on_replies([y2.envelope])
    assert any(i.category == "the-car" for i in c2.statement.counter.proposal.gives)
    m.b.on_replies([kept.envelope])
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.off_line is not None and {c1.digest, c2.digest} <= set(neg.off_line)
    return _Story(m, e2, carol, [offer, higher, c1, y2, c2])


@pytest.mark.req("NEG-020", "NEG-021", "ESC-014", "MND-010")
def test_a_cut_off_counter_is_freed_once_its_escrow_locked_a_contract_that_closes_its_branch() -> None:
    """Held while E1 could still take an Accept of C2; once Bob holds E1's locks of her Accept of C1, the
    car is free and C2's value counts no more -- and E1, shown her Accept of C2 then, takes none."""
    s = _cut_off_car_counter()
    m, (offer, higher, c1, _, c2) = s.m, s.line
    assert s.car_held(), "E1 could still take an Accept of C2"
    accept = m.mallory.accept(c1)
    locks = m.escrow.submit(
        [*m.mallory.setup, *m.bob.setup, offer.envelope, higher.envelope, c1.envelope, accept.envelope]
    )
    assert [verify_statement(e).body for e in locks].count("bond_lock") == 2
    assert _fill_up(m, s.carol, 4) == 4  # 39,600 committed elsewhere
    assert not s.commits(9_300), "C2's 600 and C1's 600 still count: 39,600 + 1,200 + 9,300 > 50,000"
    m.b.on_replies([accept.envelope, *locks])
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == accept.digest and neg.contract.locked
    assert not s.car_held()  # it signs the car to Carol at E2: 600 more
    assert s.commits(9_000), "C1's contract counts, C2 no more: 39,600 + 600 + 600 + 9,000 <= 50,000"
    hers = m.mallory.accept(c2)
    answer = s.at_e1(hers)
    assert not any(vs.body == "stamp" and hers.digest in vs.statement.stamp.statements for vs in answer)


@pytest.mark.req("NEG-020", "NEG-021")
def test_while_its_escrow_locked_nothing_an_accept_of_the_cut_off_counter_binds_the_car() -> None:
    """Why the hold stays until then: before any lock, Mallory's Accept of C2 shown to E1 is taken there
    and locks both bonds -- a contract selling the car, which Bob learns of only when he asks."""
    s = _cut_off_car_counter()
    hers = s.m.mallory.accept(s.line[-1])
    answer = s.at_e1(hers)
    assert any(vs.body == "stamp" and hers.digest in vs.statement.stamp.statements for vs in answer)
    assert [vs.body for vs in answer].count("bond_lock") == 2
    assert s.car_held()
