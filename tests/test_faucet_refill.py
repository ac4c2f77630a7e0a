"""The reference escrow's test-only faucet (SPEC CTL-002, 18.4) refills an agent once per Mandate.

The faucet pays, on its operator's Submits alone, the agent of every Mandate in them that holds nothing
there: one its ledger never credited, or -- a refill -- one holding nothing again whose principal granted
it a new Mandate. Which Mandates it paid for was read from what the escrow held (a Mandate seen before paid
nothing): a stranger, whose Submits the faucet never pays, who submitted the re-granted Mandate first made
the operator's refill pay nothing. Now the faucet journals the Mandates it paid for, in the commit that
holds the Deposit: a restart pays none twice, and a stranger's Submit decides nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.runtime.node import EscrowNode, faucet_shut
from a2a_coop.testing import DAY_MS, FixedClock, Party

FAUCET = 100


def _node(esc: Party, clock: FixedClock, path: Path) -> EscrowNode:
    return EscrowNode(
        esc.agent.key,
        esc.mandate_vs.envelope,
        path,
        clock=lambda: clock.now_ms,
        durability="normal",
        faucet=FAUCET,
    )


@pytest.mark.req("CTL-002")
def test_a_strangers_submit_of_a_regranted_mandate_does_not_stop_the_operators_refill(tmp_path: Path) -> None:
    clock = FixedClock()
    esc, alice, bob = Party("escrow", clock), Party("alice", clock), Party("bob", clock)
    path = tmp_path / "escrow.db"
    node = _node(esc, clock, path)
    try:
        node.submit([*alice.setup, *bob.setup])  # the operator's: each agent paid FAUCET
        assert node.escrow.balance(bob.did) == (FAUCET, 0)
        offer = alice.offer(bob, alice.proposal(issuer_bond=FAUCET, audience_bond=FAUCET, escrow=esc.did))
        clock.advance(1_000)
        accept = bob.accept(offer)
        node.submit([offer.envelope, accept.envelope])
        assert node.escrow.balance(bob.did) == (0, FAUCET)  # Bob's bond locked
        clock.advance(DAY_MS + 1_000)  # Bob never delivers: Alice claims, the escrow upholds it
        claim = alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived"),
            audience=bob.did,
            negotiation_id=offer.header.negotiation_id,
        )
        node.submit([claim.envelope])
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1_000)
        node.tick()
        assert node.escrow.balance(bob.did) == (0, 0)  # his bond forfeited: he holds nothing again
    finally:
        node.close()
    node = _node(esc, clock, path)  # restarted: the faucet paid for Bob's first Mandate, and knows it
    try:
        node.submit([*bob.setup])
        assert node.escrow.balance(bob.did) == (0, 0)  # not paid twice
        m = identity_pb2.Mandate()
        m.CopyFrom(bob.mandate_vs.statement.mandate)
        m.valid_until_ms += 1
        regranted = bob.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        # The griefing: a stranger (no operator's caller, CTL-002) submits the re-granted Mandate first. It
        # is taken -- held -- and pays nothing, as it must.
        with faucet_shut():
            node.submit([regranted.envelope])
        assert node.escrow.took(regranted.digest)
        assert node.escrow.balance(bob.did) == (0, 0)
        node.submit([regranted.envelope])  # the operator's refill: paid, the Mandate held or not
        assert node.escrow.balance(bob.did) == (FAUCET, 0)
        node.submit([regranted.envelope])
        assert node.escrow.balance(bob.did) == (FAUCET, 0)  # once
    finally:
        node.close()
    node = _node(esc, clock, path)
    try:
        node.submit([regranted.envelope, *bob.setup])
        assert node.escrow.balance(bob.did) == (FAUCET, 0)  # a restart pays neither again
    finally:
        node.close()
