"""redteam29: `a2a-coop resume` with the counterparty out of reach no longer says "all finished" (exit 0)
while a trade it never looked at waits.

resume28 had `resume`, when nothing answered at `--to`, keep only the trades it owes the escrow
(`_owes_the_escrow`: a bonded offer's answer, a cut-back Accept, a cut-off Counter's Withdraw) and drop
the rest from the run -- from its output and from its exit code. Bob's journal held two trades with Alice:
one whose bonded Counter her kept Reject cut off (owed to escrow E: withdrawn there, REJECTED), and a
contract E had bonded in which Bob had not delivered yet. Alice, out of reach, had `resume` withdraw the
first and exit 0 -- "every trade finished" (README: 0 when all finished, 3 when one still waits) -- while
Bob's Delivery under the second was never signed: an operator (or a loop running `resume` until it exits
0) stopped there, and Alice's claim after the deadline took Bob's bond.

Who chose the values: Alice, whether she answers at `--to` (a closed port here). What she gained: Bob's
bond, by making his run report a finished journal. Now a trade `resume` could not carry on for want of the
counterparty is printed with its state and counted as not finished (exit 3). (Since resume29 a contract the
escrow serves is settled with it alone -- Bob's Delivery witnessed there; the trade it cannot carry on here is
Bob's third, an unbonded Offer Alice never answered.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import cli_process
from test_attack27_cut_off_counter import _bodies
from test_cutoff27_withdraw_everywhere import BOND, _stopped_on_disk, _World
from test_cutoff28_final_withdraw import _withdrawn
from test_resume28_escrow_first import _closed_port

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024", "ESC-013")
def test_resume_with_the_counterparty_out_of_reach_does_not_exit_0_over_an_unfinished_contract(
    tmp_path: Path,
) -> None:
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    bonded: list[bytes] = []
    unanswered: list[bytes] = []

    def a_second_trade(peer: Peer, _story: object) -> None:
        """Bob's bonded Offer of a second trade, accepted by Alice and bonded at E; Bob has not delivered."""
        due = w.clock.now_ms + 3_600_000
        offer = peer.propose(w.alice.did, w.bob.bonded_proposal(w.party.did, due, bond=BOND))
        accept = w.alice.accept(offer)
        answer = w.escrow.submit([*w.alice.setup, bob.mandate, offer.envelope, accept.envelope])
        assert _bodies(answer)[-2:] == ["bond_lock", "bond_lock"]
        peer.hold([accept.envelope, *answer])
        neg = peer.negotiation(offer.negotiation_id)
        assert neg.state is State.BONDED and not neg.contract.delivered  # type: ignore[union-attr]
        bonded.append(offer.negotiation_id)
        # and an unbonded Offer, naming no escrow, that Alice never answered: only she can carry it on
        plain = peer.propose(w.alice.did, w.bob.proposal())
        unanswered.append(plain.negotiation_id)

    story = _stopped_on_disk(bob, w, "answered", check=a_second_trade)
    with serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", _closed_port(), "--escrow", via.target)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert _withdrawn(w) == [story.ours.digest], resumed.stderr  # what it owes E: still done first
    (nid,) = bonded
    (plain,) = unanswered
    # Before: exit 0, and the BONDED trade neither printed nor counted; now settled with E alone (resume29)
    assert f"{nid.hex()[:12]}  PERFORMING" in resumed.stdout, (resumed.stdout, resumed.stderr)
    assert f"{plain.hex()[:12]}  PROPOSED" in resumed.stdout, (resumed.stdout, resumed.stderr)
    assert resumed.returncode == 3, (resumed.returncode, resumed.stdout, resumed.stderr)
