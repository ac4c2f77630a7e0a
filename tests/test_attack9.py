"""Attacker's pass (ninth): two answers to one offer, after today's delivery gate, held answers,
exposure holding, NEG-019 and ESC-015 (SPEC 8.9, 4.5, 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import make_peer
from test_hidden_accept import Market, _big

from a2a_coop.protocol.errors import CoopError
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import FixedClock, Party, derive


def _restarted(party: Party, clock: FixedClock, **kw: object) -> Peer:
    """``party``'s Peer opened again (a restart): its nonces drawn afresh, not replayed."""
    count = iter(range(1 << 30))
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"nonce/{party.name}/restarted/{next(count)}", 16),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.req("MND-010", "NEG-017")
def test_a_restart_keeps_counting_a_rejected_bonded_offer_the_escrow_did_not_take(tmp_path: Path) -> None:
    """Bob's cap is 10 000; he offers Mallory 6 000, bonded. She shows the escrow an Accept of it and
    answers Bob with a Reject, which he journals. Bob restarts before showing the escrow the Reject. The
    journal replay took his offer as freed at the Reject (the holding of section 4.5 was off while
    replaying), so his guard let him offer Carol 6 000 more, and the witnessed Accept then bound him to
    both: past his principal's cap. After a restart the offer must count as it did before."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    big = _big(m)
    offer = m.b.propose(m.mallory.did, big)
    accept = m.hide_accept(offer)
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    with pytest.raises(CoopError):
        m.b.propose(Party("carol", m.clock).did, big)  # before the restart: counted
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = _restarted(m.bob, m.clock, context=[m.escrow.mandate], journal=journal)
        with pytest.raises(CoopError) as refused:
            again.propose(Party("carol", m.clock).did, big)
        assert refused.value.code == "MANDATE_VIOLATION"
        ask_escrow_alone(again, m.escrow, again.negotiation(offer.negotiation_id))
        neg = again.negotiation(offer.negotiation_id)
        assert neg.contract is not None and neg.contract.id == accept.digest
        assert again.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) <= 10_000
