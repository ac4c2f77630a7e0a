"""final30: a Withdraw of a cut-off bonded Counter is owed to its escrow only while claims under it can come.

NEG-024 (a) has Bob withdraw his bonded Counter a lower answer of Alice's cut off the line at the escrow E
it names, asked again (``a2a-coop resume``, exit 3) until E takes it -- "until the Counter's last deadline
plus the claim window" (SPEC 4.5): after it no claim under a contract of the Counter can come, so no Accept
of it at E takes his bond. A served node stopped there already; `a2a-coop resume` of a negotiation still in
memory went on asking E (and said the Withdraw "not taken yet", exit 3) for ever, and `a2a-coop status`
said nothing of it at all. Now `status` says where the Counter stands -- owed (until when), closed at E
(recorded), or its claims ended, nothing more to do -- and `resume` says the last instead of asking. The
time is moved with `a2a-coop --test-clock-offset` (CTL-003), never waited out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli_process
from peers import Intercepted
from test_cutoff27_withdraw_everywhere import _ServedAlice, _stopped_on_disk, _World
from test_final29_proven_final_refusal import _refused

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.negotiation import claims_end_ms, proposal_of
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024")
@pytest.mark.parametrize("crash", ["answered", "held"])
def test_a_withdraw_whose_claims_ended_is_owed_no_more(tmp_path: Path, crash: str) -> None:
    """E refuses Bob's Withdraw bare (a refusal proving nothing, asked again): `status` shows it owed until
    the Counter's claims end. Past that (the CLI's clock moved a minute beyond), `status` says no claim can
    come and nothing is left to do there, and `resume` asks E nothing -- of a negotiation still in memory
    (``held``) it says so; of one ended and read back from the journal (``answered``), nothing to resume."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, crash)
    forger = Intercepted(
        w.escrow, "withdraw", _refused(), times=100
    )  # E's word never reaches Bob: the Withdraw stays owed
    alice = _ServedAlice(story, w.alice)
    short_id, counter = story.offer.negotiation_id.hex()[:12], story.ours.digest.hex()[:12]
    ended = claims_end_ms(proposal_of(story.ours))
    later = ("--test-clock-offset", f"{ended - wall_clock_ms() + 60_000}ms")
    with serve(alice, None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        first = cli_process(*resume)
        owed = cli_process("status", *bob.files())
        lapsed = cli_process(*later, "status", *bob.files())
        as_json = cli_process(*later, "status", *bob.files(), "--json")
        after = cli_process(*later, *resume)
    assert "Traceback" not in first.stderr + after.stderr + lapsed.stderr, first.stderr + after.stderr
    assert first.returncode == 3 and forger.seen == 1, first.stderr
    assert f"our Withdraw of our cut-off Counter {counter} is owed" in owed.stdout, owed.stdout
    assert "no claim under it can come since" in lapsed.stdout and "is owed" not in lapsed.stdout, (
        lapsed.stdout
    )
    (entry,) = [n for n in (*json.loads(as_json.stdout)["closed"], *json.loads(as_json.stdout)["open"])]
    assert entry["cut_off_counter"]["state"] == "lapsed" and entry["cut_off_counter"]["counter"].startswith(
        counter
    )
    assert forger.seen == 1, "E was asked again after the Counter's claims ended"
    assert "not taken yet" not in after.stderr, after.stderr
    if crash == "held":  # in memory: said (and EXPIRED: Alice's kept Counter lapsed, cutback30)
        assert f"{short_id} our cut-off Counter {counter}: no claim under it can come since" in after.stderr
    else:
        assert (after.returncode, after.stdout) == (0, f"nothing to resume with {w.alice.did}\n"), (
            after.stderr
        )
