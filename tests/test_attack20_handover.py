"""attack20: two honoured successors of one escrow key (ESC-022 (d)) and a claim shown to only one of them.

The principal P of escrow key K1 (revoked mid-contract) named two successors, K2 and K3 -- both speak for
K1 (ESC-022 (d)), each continuing K1's ledger on its own (ESC-023). Alice claims Bob's breach at K2, the
successor she knows of; K2 stamps the claim, upholds it, forfeits Bob's bond to her and releases hers.
K3, never shown the claim, finds no claim pending when the claim window ends and lapses the contract
(CMT-006), refunding both bonds. Neither escrow did wrong by what it held: each one's audit (AUD-006) is
clean. But the two keys are one escrow to every view, and a Ruling LAPSE is the highest fact of
section 8.9: every view, in every order, ends EXPIRED -- Bob's breach, upheld, is gone from the contract's
final state (ratings read it), and K3's ledger has refunded to Bob the bond K2's ledger forfeited to
Alice. Bob, the party at fault, did nothing but not deliver; the outcome rests on which successor the
claimant happened to show her claim to.
"""

from __future__ import annotations

import pytest
from test_escrow_handover import Desk

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import _LedgerSigner

CLAIM_WINDOW_MS = 86_400_000


def _view(desk: Desk, *transcripts: list[bytes]) -> tuple[str, frozenset[str], frozenset[str]]:
    """A fresh view of the transcripts in that order: the contract's state, who forfeited, who settled."""
    v = Verifier()
    for transcript in transcripts:
        for env in transcript:
            try:
                v.accept(env)
            except CoopError as exc:
                # a statement held already, or a second settlement of a settled bond (NEG-012)
                assert exc.code in ("REPLAYED", "BODY_INVALID"), exc
    neg = v.negotiations.get(desk.offer.header.negotiation_id)
    assert neg.contract is not None
    names = {desk.alice.did: "alice", desk.bob.did: "bob"}
    return (
        neg.state.name,
        frozenset(names[d] for d in neg.contract.forfeited),
        frozenset(names[d] for d in neg.contract.settled),
    )


@pytest.mark.req("ESC-022", "NEG-015", "CMT-006")
@pytest.mark.xfail(
    strict=True,
    reason="attack20, left open: a sibling successor that never held the claim lapses the contract, and "
    "LAPSE (section 8.9 row 1) erases the breach the other successor upheld, in every view",
)
def test_a_sibling_successors_lapse_erases_the_breach_the_other_upheld() -> None:
    d = Desk()
    claim = d.claim()
    rev, k2, e2 = d.take_over()
    k3 = d.successor("escrow3")
    e3 = Escrow(
        _LedgerSigner(k3.agent),
        k3.mandate_vs.digest,
        setup=k3.setup,
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    # Alice shows her claim to K2 alone; K2 upholds it.
    assert [vs.body for vs in e2.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in e2.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    assert _view(d, e2.transcript()) == (
        "BREACHED",
        frozenset({"bob"}),
        frozenset({"alice", "bob"}),
    )  # K2 alone: the breach
    # K3, never shown the claim, lapses the contract when the claim window ends, refunding both bonds.
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = e3.tick(d.clock.now_ms)
    assert [vs.body for vs in lapse] == ["ruling", "refund", "refund"]
    # The attack happened: each escrow's audit is clean, the two ledgers settle Bob's bond both ways,
    # and every view, in both orders, holds the contract EXPIRED -- the upheld breach erased.
    assert audit_ledger(e2.transcript(), escrow=k2.did).ok
    assert audit_ledger(e3.transcript(), escrow=k3.did).ok
    assert e2.balance(d.bob.did) == (900, 0) and e2.balance(d.alice.did) == (1_100, 0)
    assert e3.balance(d.bob.did) == (1_000, 0) and e3.balance(d.alice.did) == (1_000, 0)
    both = {_view(d, e2.transcript(), e3.transcript()), _view(d, e3.transcript(), e2.transcript())}
    assert both == {("EXPIRED", frozenset({"bob"}), frozenset({"alice", "bob"}))}
    # What one escrow would have done (it held the claim and lapsed nothing): the breach stands.
    assert both == {("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))}
