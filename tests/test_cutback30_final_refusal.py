"""cutback30: the escrow's signed refusal of Bob's cut-back Accept is final, a bare or forged one is not.

The story of tests/test_attack27_resume_cut_back.py ("answered": Alice's kept Reject cut Bob's Accept of
her bonded Counter C back, his run stopped, the negotiation REJECTED in his view). Red team 30 made
`a2a-coop resume` owe E that Accept (NEG-024) until E takes it, ending the showing on ``UNWITNESSED`` only
past the offer's last witnessing time. Here Alice withdrew C at E before Bob's Accept reached it: E takes
no Accept of C any more (ESC-014) and refuses Bob's ``ILLEGAL_TRANSITION`` with its signed evidence
(RPC-006 (b): its Mandate, its Stamp of her Withdraw, the Withdraw) -- nothing binds Bob there. `resume`
still exited 3 ("our Accept cut back not taken by its escrow yet") on every run until the cutoff, a day
off, over a trade E had decided. Now that evidence -- the check final29 makes for a cut-off Counter's
Withdraw (``Peer.closed_at_escrow``) -- ends the showing: exit 0, REJECTED. A refusal with nothing E
signed closing C (bare: anyone answering for E can send it; or carrying Alice's Withdraw without E's
Stamp) leaves the Accept owed: exit 3, and the next run shows it, E witnessing it where nothing closed C.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import cli_process
from peers import Intercepted, raising
from test_attack26_cut_back_accept import _bodies
from test_attack27_resume_cut_back import _ServedAlice
from test_attack30_cut_back_accept import _owed_then_delivered, _stopped_bob
from test_cutoff27_withdraw_everywhere import _ServedAlice as _CutoffAlice
from test_cutoff27_withdraw_everywhere import _stopped_on_disk
from test_cutoff27_withdraw_everywhere import _World as _CutoffWorld
from test_final29_proven_final_refusal import _refused

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.protocol.negotiation import claims_end_ms, proposal_of
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024", "RPC-006")
def test_the_escrows_signed_refusal_of_bobs_cut_back_accept_ends_the_showing(tmp_path: Path) -> None:
    """Alice withdrew C at E first: E refuses Bob's Accept with its Stamp of her Withdraw, and `resume` says
    the trade is REJECTED and finished (exit 0) -- before: exit 3 on every run until the cutoff; a second
    run asks E nothing more (the evidence journaled)."""
    bob, w, story = _stopped_bob(tmp_path)
    withdraw = w.alice.withdraw(story.counter, "changed my mind")
    line = [story.offer.envelope, story.counter.envelope, withdraw.envelope]
    w.escrow.submit([*w.alice.setup, bob.mandate, *line])
    gate = Intercepted(w.escrow, "accept")  # every Submit reaches E
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, gate) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert "Traceback" not in first.stderr, first.stderr
        assert (first.returncode, first.stdout) == (0, f"{short_id}  REJECTED\n"), first.stderr
        asked = gate.seen
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert again.returncode == 0, again.stderr
    assert gate.seen == asked, "the Accept E refused for good was shown again"
    assert "lock" not in _bodies(w.escrow.escrow.ledger())


@pytest.mark.req("NEG-024", "RPC-006")
@pytest.mark.parametrize("evidence", ["bare", "alice's withdraw, unstamped"])
def test_a_refusal_nothing_the_escrow_signed_proves_leaves_the_accept_owed(
    tmp_path: Path, evidence: str
) -> None:
    """A forged ``ILLEGAL_TRANSITION`` -- bare, or carrying E's Mandate and a Withdraw of C Alice signed but
    never showed E -- keeps the Accept owed (exit 3); the next `resume` shows it to E, which witnesses it,
    and Bob delivers: Alice's claim takes nothing."""
    bob, w, story = _stopped_bob(tmp_path)
    unstamped = w.alice.withdraw(story.counter, "never shown to E")
    shown = () if evidence == "bare" else (w.escrow.mandate, unstamped.envelope)
    refusal = IllegalTransition(
        "an accept of an offer naming this escrow, which took its withdraw", evidence=shown
    )
    _owed_then_delivered(bob, w, story, Intercepted(w.escrow, "accept", raising(refusal)))


@pytest.mark.req("NEG-024", "NEG-007")
def test_resume_says_expired_once_alices_kept_counter_lapsed_and_the_claims_ended(tmp_path: Path) -> None:
    """final30's "held" story: Alice's kept Counter K (naming no escrow) cut Bob's bonded Counter off the
    line, and his run stopped with K taken, unanswered. Past the cut-off Counter's claims (the CLI's clock
    moved a minute beyond them, K lapsed long before) nothing either side signs can move the trade: an
    answer to K is refused (NEG-007) and no escrow can witness one. `resume` said COUNTERED, "did not
    finish", exit 3 on every run for ever; now EXPIRED, exit 0, asking E nothing. Before K lapsed, the
    same `resume` still counts the trade unfinished (exit 3): K can still be answered."""
    bob = provision(tmp_path, "bob")
    w = _CutoffWorld(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "held")
    forger = Intercepted(
        w.escrow, "withdraw", _refused(), times=100
    )  # E's word never reaches Bob: owed until then
    short_id = story.offer.negotiation_id.hex()[:12]
    ended = claims_end_ms(proposal_of(story.ours))
    assert story.kept.header.expires_at_ms < ended
    later = ("--test-clock-offset", f"{ended - wall_clock_ms() + 60_000}ms")
    with serve(_CutoffAlice(story, w.alice), None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        first = cli_process(*resume)
        after = cli_process(*later, *resume)
    assert "Traceback" not in first.stderr + after.stderr, first.stderr + after.stderr
    assert (first.returncode, first.stdout) == (3, f"{short_id}  COUNTERED\n"), first.stderr
    assert (after.returncode, after.stdout) == (0, f"{short_id}  EXPIRED\n"), after.stderr
    assert f"{short_id} expired: the outstanding counter lapsed unanswered" in after.stderr, after.stderr
    assert forger.seen == 1, "E was asked again after the Counter's claims ended"
