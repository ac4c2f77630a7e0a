"""redteam29: one forged refusal of Bob's Withdraw ends it for good (NEG-024 (a), ``Peer.withdraw_final``).

cutoff28 records a Withdraw of a cut-off bonded Counter that the escrow refused with a code outside
``trade.RETRIED_REFUSALS`` as final: neither `a2a-coop resume` nor a node sweep shows it again. A refusal is a
gRPC status with an ErrorInfo -- nothing in it is signed (RPC-005), and an `ILLEGAL_TRANSITION` carries no
evidence (RPC-006). Whoever answers for E once -- a man in the middle on a plaintext channel, a proxy, a
misrouted `--escrow` -- answering Bob's one Submit with a forged `ILLEGAL_TRANSITION` (here
``peers.Intercepted``) had
Bob record the refusal and exit 0; E never saw the Withdraw, every later `resume` asked nothing, and
Alice's Accept of the Counter at E locked Bob's bond, which her claim took. Before cutoff28 the next
`resume` showed the Withdraw again and E took it: a one-time interference now lasts. Who chose the value:
whoever answered the Submit; the code is unchecked. What Alice gains: Bob's bond.

Fix (final29, tests/test_final29_proven_final_refusal.py): hold a refusal final only when it proves itself --
E's signed statements closing the Counter (its Stamp of her Reject or Accept, ESC-014's answer) carried as
evidence and verified -- and else keep showing the Withdraw on each `resume` (the node's sweep backs off),
as for a refusal that may pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import cli_process
from peers import Intercepted, raising
from test_cutoff27_withdraw_everywhere import _ServedAlice, _stopped_on_disk, _World
from test_cutoff28_final_withdraw import _withdrawn

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024", "ESC-014")
def test_one_forged_refusal_does_not_keep_bobs_withdraw_from_the_escrow_for_good(tmp_path: Path) -> None:
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "answered")
    alice = _ServedAlice(story, w.alice)
    forged = Intercepted(w.escrow, "withdraw", raising(IllegalTransition("the negotiation is REJECTED here")))
    with serve(alice, None) as to, serve(None, forged) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert "Traceback" not in first.stderr, first.stderr
        assert _withdrawn(w) == []  # E never saw it: the refusal was not E's
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert "Traceback" not in again.stderr, again.stderr
    assert _withdrawn(w) == [story.ours.digest], (first.stderr, again.stderr)  # before: never shown again
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)
