"""redteam30: the escrow closed Bob's cut-off Counter with Alice's Counter of it, and Bob never learns it.

final29 (NEG-024 (a), RPC-006 (b)) has Bob record his Withdraw of his cut-off bonded Counter C3 as final only
on E's signed word: E refuses an answer to an offer it closed with its Mandate, its Stamp of the answer it
took and that answer. It did so for ``ILLEGAL_TRANSITION`` only. Where the answer E took was Alice's own
*Counter* of C3 -- still outstanding at E, the negotiation bargaining there -- E refuses Bob's Withdraw of C3
``STALE_REFERENCE`` (NEG-005: it does not reference the outstanding offer), bare. Bob's runtime then holds
nothing signed closing C3 and shows the Withdraw again on every `a2a-coop resume` (exit 3, "not taken
yet") and a served node at its doubling waits, until C3's last deadline plus the claim window -- though E
had decided, and Alice's Accept of C3 there is refused. Who chose the values: Alice, which answer she shows
E (a Counter, not a Reject) -- one statement keeps Bob's finished trade reported unfinished for days. No
bond moves (Bob's is safe: E refuses her Accept). Fix: E's STALE_REFERENCE of such an answer carries the
same evidence (RPC-006 (b)).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from test_attack27_cut_off_counter import _bodies, _mirror
from test_cutoff27_withdraw_everywhere import _ServedAlice, _stopped_on_disk, _World

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import StaleReference
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
def test_a_counter_of_bobs_cut_off_counter_at_the_escrow_ends_his_withdraw_on_its_signed_word(
    tmp_path: Path,
) -> None:
    """Alice shows E the line and her Counter of Bob's cut-off bonded Counter; E refuses his Withdraw
    STALE_REFERENCE carrying its Mandate, its Stamp of her Counter and her Counter; `a2a-coop resume` records
    it final and exits 0 (before: no evidence, exit 3 on every run); her Accept of his Counter at E is
    refused and his bond stays his."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    signed: list[Any] = []
    story = _stopped_on_disk(
        bob, w, "answered", check=lambda peer, s: signed.append(peer.withdraw_cut_off(s.offer.negotiation_id))
    )
    (_, withdraw), line = signed[0], [vs.envelope for vs in story.line]
    theirs = w.alice.counter(story.ours, _mirror(story.ours))
    assert _bodies(w.escrow.submit([*w.alice.setup, bob.mandate, *line, theirs.envelope]))[-1] == "stamp"
    with pytest.raises(StaleReference) as refused:
        w.escrow.submit([*w.alice.setup, bob.mandate, *line, withdraw.envelope])
    mandate, stamp, answer = refused.value.evidence
    assert (mandate, answer) == (w.escrow.mandate, theirs.envelope)
    assert theirs.digest in verify_statement(stamp).statement.stamp.statements

    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert (resumed.returncode, resumed.stdout) == (0, f"{short_id}  REJECTED\n"), resumed.stderr
    assert "recorded: not asked again" in resumed.stderr, resumed.stderr
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)
