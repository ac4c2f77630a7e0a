"""redteam30: E's public Mandate, replayed once past the cutoff, frees Bob's offer an Accept there binds.

ESC-012/ESC-013: the issuer of a bonded offer naming escrow E that no Accept of reached asks E past the
offer's bonding cutoff (plus the clock tolerance) with the offer's line; E answers with the Accept it
witnessed, if any, and its locks. The reference runtime takes an answer that reveals nothing as E's word
that nothing binds it: ``Peer.asked_escrow`` journals it, the offer's value and exclusive_key are freed
(NEG-020) and a served node asks no more (``PeerNode._asked_past_cutoff``). But nothing in that answer is
signed after the cutoff: E's Mandate is public, and its Stamp of the offer (if any) was signed when E first
took it. Whoever answers for E once -- a man in the middle on a plaintext channel, a proxy, a wrong
`--escrow`, the same parties red team 29 and final29 guard the Withdraw against -- replays E's Mandate
alone: Bob's node records the offer answered, never asks again, and Mallory's Accept shown to E alone
before the cutoff locks his bond; he never delivers, and her claim takes it. Who chose the value: whoever
answered the Submit; the time it was asked, Bob's clock -- no signed statement of E's dates the answer.

Not fixed here (strict xfail): it needs E's signed word dated past the cutoff, which no statement carries
today -- e.g. E's answer to a Submit of an offer naming it after its bonding cutoff carrying a Stamp (or a
Checkpoint) issued at the answer's time that names the offer, so that an answer revealing no Accept is E's
dated, attributable word that it held none (one it contradicts with an earlier Stamp of an Accept is a
proof against E, as ESC-012's answer is today); and the runtime recording the offer asked only when the
answer carries such a statement issued at or after the cutoff, asking again (a node at its doubling waits,
capped; `resume` exit 3) otherwise. Until then, `--tls` to the escrow is the defence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from test_hidden_accept import CountersWithItsBond, Market, _countered_and_hidden, _within

from a2a_coop.runtime.node import EscrowWitness
from a2a_coop.runtime.trade import hidden_accept_check_ms
from a2a_coop.testing import LocalEscrow


class _ReplaysTheMandate:
    """E as served Bob's witness reaches it: the first Submit past ``after_ms`` is answered with E's
    Mandate alone by whoever answers for E (E never sees it); every other Submit goes to E."""

    def __init__(self, escrow: LocalEscrow, market: Market) -> None:
        self.escrow, self.market, self.after_ms, self.replayed = escrow, market, 0, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.after_ms and self.market.clock.now_ms >= self.after_ms and not self.replayed:
            self.replayed += 1
            return [self.escrow.mandate]
        return self.escrow.submit(envelopes)


@pytest.mark.req("ESC-012", "ESC-013")
def test_a_replayed_mandate_past_the_cutoff_does_not_free_a_bonded_counter_accepted_at_the_escrow(
    tmp_path: Path,
) -> None:
    """Served Bob's bonded Counter is accepted at E alone; his node's ask past the cutoff meets E's Mandate
    replayed once. It must ask again (E then reveals the contract, Bob delivers, Mallory's claim is
    dismissed); today it records the Counter answered and never asks again: her claim takes his bond."""
    m = Market()
    replay = _ReplaysTheMandate(m.escrow, m)
    witness = EscrowWitness(replay, m.escrow.did, lock_wait_s=0.005)  # type: ignore[arg-type]
    node = m.bob_node(tmp_path, CountersWithItsBond(escrow=m.escrow.did), witness=witness)
    try:
        opening, _, accept = _countered_and_hidden(m, node)
        check_at = hidden_accept_check_ms(node.peer, node.peer.negotiation(opening.negotiation_id))
        assert check_at is not None
        replay.after_ms = m.clock.now_ms = check_at
        node.ask_about_offer(opening.negotiation_id)
        assert replay.replayed == 1
        _within(10, lambda: node.peer.negotiation(opening.negotiation_id).contract is not None)
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
    finally:
        node.close()
    m.bob_loses_nothing(neg.id, accept.digest)
