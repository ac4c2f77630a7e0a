"""Red team 31: one forged answer -- not a refusal -- kept a served node's Delivery from the escrow, and its
bond went (WIT-007).

redteam30 made a served node's escrow witness submit our Deliveries again after any refusal: a refusal is
unsigned, and one forged by whoever answered for E once (a man in the middle on a plaintext channel, a
proxy, a wrong `--escrow`) kept Bob's Delivery from E for good. But the witness still took any answer that
was not a refusal as E having taken the Delivery -- and an answer is as much whoever answered's choice: E's
public Mandate alone (what ESC-013 (i)'s Why names: "replayed its Mandate alone"), a Stamp the man in the
middle signed itself, or E's genuine answer to the same Submit with the Delivery taken out (E stamps the
contract's evidence; nothing in that answer names the Delivery). The witness gave up at once; Alice, who
never receipted the Delivery, claimed Bob's item after the deadline, and E, holding no Delivery, forfeited
Bob's bond to her. Who chose the value: whoever answered the Submit (every byte of the answer but E's
signatures, which it can only replay). What Alice gains: Bob's bond and his work.

Now a submission carrying our Deliveries is done only when its answer holds, for each of them, a Stamp
naming it signed by the escrow's key (WIT-001: the escrow stamps what it takes, WIT-006: and answers a
repeat with that Stamp); else it is tried again as after a refusal, until it could be timely no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_attack26_cut_back_accept import _bodies
from test_attack30_witness_refused import served_bob_delivers
from test_cutoff27_withdraw_everywhere import _World

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.testing import FixedClock, LocalEscrow, Party


class _ForgedAnswer:
    """E as served Bob's witness reaches it: the first Submit carrying a Delivery is answered -- without
    error -- by whoever answers for E, as ``how`` says, and E never sees the Delivery; the rest goes to E.
    ``mandate``: E's public Mandate alone. ``own-stamp``: E's Mandate and a Stamp of the Delivery the man in
    the middle signed with a key of its own. ``stripped``: E's genuine answer to the Submit without the
    Delivery (E's Stamps, of the contract's evidence)."""

    def __init__(self, escrow: LocalEscrow, how: str, clock: FixedClock) -> None:
        self.escrow, self.how, self.deliveries = escrow, how, 0
        self.mitm = Party("man-in-the-middle", clock)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if "delivery" not in _bodies(list(envelopes)):
            return self.escrow.submit(envelopes)
        self.deliveries += 1
        if self.deliveries > 1:
            return self.escrow.submit(envelopes)
        delivered = [verify_statement(e) for e in envelopes if verify_statement(e).body == "delivery"]
        if self.how == "mandate":
            return [self.escrow.mandate]
        if self.how == "own-stamp":
            stamp = commitment_pb2.Stamp(statements=[vs.digest for vs in delivered])
            return [self.escrow.mandate, self.mitm.sign("stamp", stamp).envelope]
        return self.escrow.submit([e for e in envelopes if verify_statement(e).body != "delivery"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)


@pytest.mark.req("WIT-007", "WIT-003", "WIT-001")
@pytest.mark.parametrize("how", ["mandate", "own-stamp", "stripped"])
def test_a_forged_answer_does_not_keep_a_served_nodes_delivery_from_the_escrow(
    how: str, tmp_path: Path
) -> None:
    """Served Bob accepts Alice's bonded Counter naming E and delivers; his witness's first Submit of the
    Delivery is answered by whoever answers for E (``how``), E never seeing it. Expect the witness to
    submit again, E to stamp the Delivery before its deadline, and Alice's claim to take nothing. Before,
    the witness took the answer as E's and gave up: E forfeited Bob's bond to her."""
    w = _World(FixedClock())
    forger = _ForgedAnswer(w.escrow, how, w.clock)
    accept, c2 = served_bob_delivers(w, forger, tmp_path, lambda: forger.deliveries >= 1)
    assert forger.deliveries >= 2
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)
