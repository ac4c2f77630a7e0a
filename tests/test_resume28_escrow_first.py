"""resume28: `a2a-coop resume` shows the escrow what it owes it even when the counterparty does not answer.

Bob's run stopped with his Accept cut back by Alice's kept Reject (NEG-024,
tests/test_attack27_resume_cut_back.py) or his bonded Counter cut off the line by it (NEG-024 (a),
tests/test_cutoff27_withdraw_everywhere.py), and
`a2a-coop resume` carries it on. It asked the counterparty (`--to`) who serves before anything else, and
stopped with a usage error when nothing answered there: neither the Accept nor the Withdraw reached escrow E,
though neither needs Alice. Alice, having stopped Bob's run, stays out of reach meanwhile and shows E her
Accept alone: E locks Bob's bond, and her claim after the deadline takes it.

Who chose the values: Alice, when she is reachable (a closed port here); E's answers are E's. Now `resume`,
the counterparty out of reach, still does what it owes the escrow, says the state each trade reached, and
exits 3 while a trade is not finished.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_run import cli_process
from test_attack27_resume_cut_back import _Stopped as _AcceptStopped
from test_attack27_resume_cut_back import _World as _AcceptWorld
from test_attack27_resume_cut_back import provisioned
from test_cutoff27_withdraw_everywhere import _stopped_on_disk, _World
from test_cutoff28_final_withdraw import _withdrawn

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


def _closed_port() -> str:
    """A loopback address nothing listens at (bound, then closed): Alice out of reach."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.req("NEG-024")
@pytest.mark.parametrize("crash", ["answered", "signed", "held"])
def test_resume_withdraws_the_cut_off_counter_with_the_counterparty_out_of_reach(
    tmp_path: Path, crash: str
) -> None:
    """Before, `resume` exited 2 ("cannot reach the peer") and E never saw Bob's Withdraw: Alice's Accept of
    his Counter at E locked his bond. Now E takes the Withdraw and refuses her Accept; the run says the
    state (REJECTED: ended, exit 0; COUNTERED, her kept Counter awaiting his answer: exit 3) and that the
    peer was not reached."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, crash)
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", _closed_port(), "--escrow", via.target)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert _withdrawn(w) == [story.ours.digest], resumed.stderr
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)
    state, code = ("COUNTERED", 3) if crash == "held" else ("REJECTED", 0)
    assert (resumed.returncode, resumed.stdout) == (code, f"{short_id}  {state}\n"), resumed.stderr
    assert "cannot reach the peer" in resumed.stderr, resumed.stderr


@pytest.mark.req("NEG-024", "WIT-007")
def test_resume_shows_the_cut_back_accept_with_the_counterparty_out_of_reach(tmp_path: Path) -> None:
    """Bob's Accept was cut back by Alice's kept Reject before his run stopped (ended and forgotten). Before,
    `resume` exited 2 and E never saw the Accept from Bob: Alice showed it there alone, and her claim took his
    bond. Now E witnesses it, Bob delivers to E, the run says PERFORMING and exits 3 (Alice owes her part)."""
    bob = provision(tmp_path, "bob")
    w = _AcceptWorld(FixedClock(wall_clock_ms()), bob.did)
    with provisioned(bob, w) as peer:
        story = _AcceptStopped(w, peer, "answered")
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", _closed_port(), "--escrow", via.target)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert (resumed.returncode, resumed.stdout) == (3, f"{short_id}  PERFORMING\n"), resumed.stderr
    assert "cannot reach the peer" in resumed.stderr, resumed.stderr
    with Journal.open(bob.journal_path, lock=False) as journal:
        ours = [verify_statement(env) for _, _, env in journal.statements()]
    (delivery,) = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.did]
    assert w.escrow.escrow.verifier.witness.stamp_time(w.party.did, delivery.digest) is not None
    story.alice_claims(w, bob)  # asserts E still holds Bob's bond: no forfeit
