"""floor33 (red team 33's Left open): a Stamp of our own Withdraw dated before we signed it closed our
cut-off Counter at the escrow in our view, while the escrow never took the Withdraw (NEG-024 (a), ESC-014,
WIT-007's check, ``Peer.stamped_ours``).

Alice answers Bob's bonded Counter with a Reject of his Offer she kept back: his Counter is cut off the
line, and his runtime withdraws it at E at once, so that E takes no Accept of it (NEG-021 (a)). Whoever
answers that Submit for E -- a leaked key's thief, dating what it signs before the key's revocation --
answers with a Stamp of the Withdraw by E's key dated a minute before Bob signed it. Bob's view took it as
E's Stamp of the Withdraw (nothing reaches its time): the Counter closed at E, nothing more owed, while E
never saw the Withdraw and would take Alice's Accept and lock Bob's bond. No escrow stamps what it has not
received, and Bob knows when he signed his Withdraw: a Stamp of it dated more than the clock tolerance
before is no escrow's word on it (as for his Deliveries, red team 33). Who chose the value: the Stamp's
time, its signer; what Alice gains: Bob's bond.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from test_attack27_cut_off_counter import _bobs_bonded_counter, _Stage

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import Unwitnessed
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS


@pytest.mark.req("NEG-024", "ESC-014", "WIT-007")
@pytest.mark.parametrize("back_ms", [CLOCK_TOLERANCE_MS, 60_000])
def test_a_stamp_of_our_withdraw_dated_before_we_signed_it_does_not_close_our_counter(
    tmp_path: Path, back_ms: int
) -> None:
    """As the module says, the forged Stamp dated ``back_ms`` before Bob's Withdraw: within the clock
    tolerance it counts (an escrow's clock may be that far behind ours); a minute before, it does not --
    Bob's run ends UNWITNESSED (it asks again), his Withdraw still owed, the Counter not closed at E."""
    forged: list[bytes] = []

    def thief_answers_the_withdraw(stage: _Stage) -> None:
        real = stage.escrow.submit

        def submit(envelopes: Sequence[bytes]) -> list[bytes]:
            withdraws = [vs for vs in map(verify_statement, envelopes) if vs.body == "withdraw"]
            if not withdraws:
                return real(envelopes)
            (w,) = withdraws
            stamp = commitment_pb2.Stamp(statements=[w.digest])
            forged.append(
                stage.escrow.party.sign("stamp", stamp, issued_at_ms=w.issued_at_ms - back_ms).envelope
            )
            return [stage.escrow.mandate, forged[-1]]

        stage.escrow.submit = submit  # type: ignore[method-assign]

    late = back_ms > CLOCK_TOLERANCE_MS  # the run ends UNWITNESSED: asked again, never taken
    t = _bobs_bonded_counter(
        tmp_path,
        lambda stage, ours: stage.kept,
        on_stage=thief_answers_the_withdraw,
        raises=Unwitnessed if late else None,
    )
    assert forged and verify_statement(forged[0]).digest in t.peer.verifier.statements, "Bob's view took it"
    assert all(verify_statement(e).body != "withdraw" for e in t.escrow.escrow.transcript()), "E never saw it"
    owed = t.peer.withdraw_cut_off(t.offer.negotiation_id)
    if not late:
        assert owed is None and t.peer.closed_at_escrow(t.ours)
        return
    assert owed is not None and owed[0].digest == t.ours.digest, "the Withdraw is still owed at E"
    assert not t.peer.closed_at_escrow(t.ours)
