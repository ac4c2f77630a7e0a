"""Red team 33: a Stamp by the escrow's leaked key, dated before its revocation and before the Delivery it
names was signed, ended Bob's witness of that Delivery; the escrow's successor never saw it and forfeited
his bond (WIT-007, ESC-022, KEY-011).

Red team 32 made a witness count a Stamp only where Bob's view reads it as the escrow's: no revocation he
holds reaches it. E locks Bob's and Alice's bonds; ten seconds later E's key leaks, and its principal
revokes it from then -- dated to the leak -- and hands E's contracts to N; Bob hears of both. Bob delivers
two minutes later. The thief, answering for E's address, answers Bob's Submit of his Delivery with a
Stamp of it by E's key dated a ms before the revocation's effective_ms -- a time the thief chose, which no
revocation reaches, so Bob's view took it as E's (its witness index too) and his run stopped asking. N,
which took E's ledger over up to the revocation, never saw the Delivery, and Alice's claim after the
deadline took Bob's bond. WIT-007's Why had left this to "the principal's revocation dated to the leak":
dated so, it bounded nothing, for the thief dates its Stamp before it.

Who chose the value: the Stamp's time is its signer's -- the thief's. What bounds it: the Delivery is
Bob's own, signed at his clock's time, and no escrow stamps what it has not received: a Stamp of it dated
more than the clock tolerance (WIT-003) before Bob signed it is no escrow's word on it, whoever's key
signed it. What Alice (or the thief working for her) gains: Bob's bond.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from peers import Successor, make_peer
from test_redteam import NoReceipts, Silent
from test_witness32_offer_forged_answer import BOND, FUNDS, lie_ruled, quick  # noqa: F401 (a fixture)

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.runtime.strategy import ContractView, Deliver, HonestStrategy
from a2a_coop.runtime.trade import resume_trade, run_trade, unstamped_deliveries
from a2a_coop.testing import FixedClock, LocalEscrow, Party

LEAK_MS, WORK_MS = 10_000, 120_000  # E's key leaks, and Bob delivers, this long after E locked the bonds


class _ThiefDatesBack:
    """E's address as Bob's run reaches it, long after E's hand-over to N: N answers every Submit but the
    first ``lies`` carrying Bob's Delivery, which E's key's thief answers with E's Mandate and a Stamp of
    the Delivery by E's key dated ``stamp_ms`` (before the revocation: the thief's choice)."""

    def __init__(self, e: LocalEscrow, n: Successor, stamp_ms: int, lies: int) -> None:
        self.e, self.n, self.stamp_ms, self.lies, self.told = e, n, stamp_ms, lies, 0
        self.reached_n = 0  # Submits carrying the Delivery N answered

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        delivered = [vs.digest for vs in map(verify_statement, envelopes) if vs.body == "delivery"]
        if delivered and self.told < self.lies:
            self.told += 1
            stamp = commitment_pb2.Stamp(statements=delivered)
            forged = self.e.party.sign("stamp", stamp, issued_at_ms=self.stamp_ms)
            return [self.e.mandate, forged.envelope]
        self.reached_n += bool(delivered)
        return self.n.submit(envelopes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.n, name)


@dataclass
class _WorksFirst(HonestStrategy):
    """Bob: delivers only once his work is ``done`` (a run before that ends with his Delivery owed)."""

    done: bool = False

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return super().perform(contract) if self.done else []


@pytest.mark.req("WIT-007", "ESC-022", "KEY-011")
@pytest.mark.usefixtures("quick")
def test_a_stamp_dated_before_our_delivery_was_signed_is_not_the_escrows() -> None:
    """Bob offers Alice a bonded trade at E (``run_trade``, what `offer` runs); E locks the bonds; Alice
    delivers and never receipts or acks; Bob's work takes two minutes. Ten seconds in, E's key leaks: its
    principal revokes it from then and hands E's contracts to N, and Bob holds both. Bob delivers
    (``resume_trade``, what `resume` runs); the thief answers his first three Submits of the Delivery with a
    Stamp of it by E's key dated a ms before the revocation. Expect the run to submit again until N stamps
    the Delivery, and Alice's claim at N after the deadline to take nothing. Before, the run took the
    thief's Stamp as E's (no revocation reaches its time) and stopped asking: N never saw the Delivery and
    forfeited Bob's bond to Alice."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    e = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[e.mandate], strategy=NoReceipts())
    work = _WorksFirst()
    bob = make_peer(bob_party, clock, context=[e.mandate], strategy=work)
    terms = bob_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=e.did)
    to_alice = Silent(alice, drop_acks=True)
    neg = run_trade(bob, to_alice, alice.did, terms, escrow=e)  # type: ignore[arg-type]
    assert neg.contract is not None and neg.state is State.PERFORMING
    clock.advance(LEAK_MS)
    n = Successor(e)
    bob.hold([n.revocation.envelope, n.handover.envelope])
    assert bob.verifier.successors(e.did) is not None, "Bob's view honours the hand-over"
    clock.advance(WORK_MS - LEAK_MS)
    work.done = True
    via = _ThiefDatesBack(e, n, n.revocation.statement.key_revocation.effective_ms - 1, lies=3)
    neg = resume_trade(bob, to_alice, bob.negotiation(neg.id), escrow=via)  # type: ignore[arg-type]
    c = neg.contract
    assert c is not None
    (delivery,) = [bob.verifier.statements[d] for d, (by, _) in c.deliveries.items() if by == bob.did]
    assert delivery.issued_at_ms - via.stamp_ms > CLOCK_TOLERANCE_MS
    # Alice claims Bob's item after its deadline at N; N rules after the response window.
    ledger = lie_ruled(alice, neg, n)
    assert "forfeit" not in ledger, "Bob's bond was forfeited to Alice: his run took the thief's Stamp as E's"
    assert via.told == 3 and via.reached_n
    assert n.escrow.verifier.witness.stamp_time(e.did, delivery.digest) is not None


@pytest.mark.req("WIT-007")
def test_the_witness_check_takes_no_stamp_dated_before_the_delivery_was_signed() -> None:
    """The one answer check of a served node's witness and of a run (``unstamped_deliveries``): a Stamp by
    the escrow naming our Delivery counts only when dated no more than the clock tolerance before we signed
    the Delivery -- at the tolerance it counts, a ms earlier it does not, whoever's key signed it."""
    clock = FixedClock()
    e, bob = LocalEscrow(Party("escrow", clock)), Party("bob", clock)
    clock.advance(10 * CLOCK_TOLERANCE_MS)
    delivered = commitment_pb2.Delivery(contract=b"\x01" * 32)
    delivery = bob.sign("delivery", delivered, negotiation_id=b"\x02" * 16)
    for back_ms, counts in ((CLOCK_TOLERANCE_MS, True), (CLOCK_TOLERANCE_MS + 1, False)):
        stamp = commitment_pb2.Stamp(statements=[delivery.digest])
        signed = e.party.sign("stamp", stamp, issued_at_ms=delivery.issued_at_ms - back_ms)
        left = unstamped_deliveries([delivery.envelope], [e.mandate, signed.envelope], lambda vs: True)
        assert left == (set() if counts else {delivery.digest}), back_ms
