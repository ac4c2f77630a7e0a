"""redteam26: a kept lower answer, revealed to the acceptor's runtime, took the acceptor's bond.

NEG-021 (d) keeps a contract whose escrow witnessed its Accept standing in every view, whatever lower
answer of the other party's key comes -- in a view that holds that escrow's Stamp. Bob's runtime read it
without the Stamp, and then with it, as a contract it owed nothing under:

- Bob offers Alice a trade naming no escrow (the reference default). Alice signs a Reject of it and keeps
  it, then a Counter naming escrow E with both bonds (the next link of her chain). Bob's HonestStrategy
  accepts the Counter. Alice answers his Accept with the kept Reject: lower in her chain, it cuts the line
  back to Bob's offer in his view (no Stamp of his Accept held there yet), his Accept superseded, the
  negotiation REJECTED -- and `a2a-coop offer`'s trade (``carry_trade``) ends there: it submits a contract
  to the escrow, and Bob's view holds none. Alice submits Bob's Accept to E herself: E witnesses it and
  locks both bonds (its view has no kept Reject; shown it later, NEG-021 (d) keeps the contract). Bob never
  delivers; after the deadline Alice claims his item, and E forfeits Bob's bond to her.
Read with the escrow's Stamp, it did no better: NEG-022 -- "two answers of the counterparty's key to an
offer of ours naming no escrow: sign nothing more there" -- kept Bob's peer from delivering under the
contract that (d) keeps standing, which binds him with a bond at E: the same claim, the same forfeit.

Who chose the values: Alice signed both answers and chose when to reveal the lower one (to the runtime
of the party she robs, in answer to its own request); E did nothing wrong. What she gains: Bob's bond;
what it costs her: the answer proof against her key (ATT-022) -- a throwaway key's record.

Now Bob's runtime submits its Accept to the escrow the accepted Counter names whenever a lower answer cut
it back before it held that escrow's Stamp, and NEG-022 keeps no delivery back under a contract its escrow
witnessed (NEG-022 (a)): Bob delivers on time, Alice's claim is dismissed and the bonds are released.
"""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.trade import carry_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000


class _Alice:
    """Alice's side of Bob's trade: her Counter naming the escrow in answer to his Offer, and her kept
    Reject of his Offer in answer to his Accept."""

    def __init__(self, alice: Party, counter: VerifiedStatement, kept: VerifiedStatement):
        self.alice, self.counter, self.kept = alice, counter, kept
        self.got: list[VerifiedStatement] = []

    def exchange(self, envelope: bytes, context: object = ()) -> list[bytes]:
        vs = verify_statement(envelope)
        self.got.append(vs)
        if vs.body == "offer":
            return [*self.alice.setup, self.counter.envelope]
        if vs.body == "accept":
            return [self.kept.envelope]
        return []


def _mirror_naming(offer: VerifiedStatement, escrow: str) -> trade_pb2.Offer:
    """Bob's terms seen from Alice, under ``escrow`` with both bonds: what his HonestStrategy accepts."""
    mine = proposal_of(offer)
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    theirs.terms.escrow, theirs.terms.issuer_bond, theirs.terms.audience_bond = escrow, BOND, BOND
    return theirs


def _bodies(envelopes: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in envelopes]


@pytest.mark.req("NEG-024", "NEG-022", "NEG-021")
def test_a_kept_reject_revealed_to_bobs_runtime_does_not_take_his_bond() -> None:
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = LocalEscrow(party, funds={alice.did: FUNDS, bob.did: FUNDS})
    peer = make_peer(bob, clock, context=[escrow.mandate])
    offer = peer.propose(alice.did, bob.proposal())  # naming no escrow: the reference default
    assert not proposal_of(offer).terms.escrow
    clock.advance(1_000)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror_naming(offer, party.did))
    clock.advance(1_000)
    assert (kept.seq, counter.seq) == (0, 1) and counter.header.prev == kept.digest
    them = _Alice(alice, counter, kept)

    carry_trade(peer, them, offer, escrow=escrow)  # type: ignore[arg-type]  # Alice's side, in process

    accepts = [vs for vs in them.got if vs.body == "accept"]
    assert len(accepts) == 1 and accepts[0].statement.accept.offer == counter.digest  # the attack happened
    accept = accepts[0]
    # Alice makes sure the escrow holds Bob's Accept (a repeat answers with the same Stamp and locks).
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, counter.envelope, accept.envelope])
    assert escrow.escrow.balance(bob.did)[1] == BOND  # Bob's bond locked at E
    # Alice delivers her own item, the deadline passes, and she claims Bob's.
    nid = offer.negotiation_id
    escrow.submit([alice.deliver(accept, bob).envelope])
    deadline = proposal_of(counter).wants[0].deadline_ms
    clock.now_ms = deadline + 31_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=bob.did,
        negotiation_id=nid,
    )
    escrow.submit([claim.envelope])
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
    escrow.tick()

    ledger = _bodies(escrow.escrow.ledger())
    assert "forfeit" not in ledger, "Bob's bond was forfeited to Alice"
    assert sum(escrow.escrow.balance(bob.did)) == FUNDS  # locked until her item is receipted
    neg = peer.negotiation(nid)
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest
    assert neg.state is not State.REJECTED
    assert kept.digest in neg.superseded  # NEG-021 (d): the kept Reject moves nothing
    assert any(by == bob.did for by, _ in neg.contract.delivered)  # Bob performed, on time, at E too
