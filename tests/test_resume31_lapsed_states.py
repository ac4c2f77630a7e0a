"""resume31: `resume` and `status` give one answer about a lapsed trade, restarted or not, and read the
claims' end with the clock tolerance.

final30's stories (tests/test_final30_lapsed_withdraw.py): Alice's kept lower answer cut Bob's bonded Counter
off the line and his run stopped -- ``answered``: her Reject, the negotiation REJECTED, ended and dropped
from memory by every later process; ``held``: her Counter K naming no escrow, COUNTERED, kept in memory. E's
word never reaches Bob (a forger refuses his Withdraw bare), so the Withdraw stays owed until the Counter's
claims are over. Every command is a process of its own on a journal another left (a restart each time);
the time is moved with `a2a-coop --test-clock-offset` (CTL-003), never waited out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli_process
from peers import Intercepted
from test_attack27_cut_off_counter import _mirror, _SureOfferer
from test_attack27_resume_cut_back import provisioned
from test_cutoff27_withdraw_everywhere import _ServedAlice, _Stopped, _stopped_on_disk, _World
from test_final29_proven_final_refusal import _refused

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.negotiation import (
    CLOCK_TOLERANCE_MS,
    State,
    claims_end_ms,
    claims_over_ms,
    proposal_of,
)
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.trade import read_forgotten
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve


def _offset(at_ms: int) -> tuple[str, str]:
    """`--test-clock-offset` putting the CLI's clock at ``at_ms`` (plus the few seconds a process takes)."""
    return ("--test-clock-offset", f"{at_ms - wall_clock_ms()}ms")


def _status_line(status: str, short_id: str) -> str:
    (line,) = [ln for ln in status.splitlines() if ln.strip().startswith(short_id)]
    return line.split()[1]


@pytest.mark.req("NEG-024")
def test_resume_says_a_dropped_trades_lapsed_withdraw_as_it_says_one_in_memory(tmp_path: Path) -> None:
    """``answered``: the negotiation ended, and each `resume` replays the journal and drops it from memory.
    Past the cut-off Counter's claims `resume` said nothing of it ("nothing to resume"), where of the same
    trade kept in memory (``held``) it said "no claim under it can come since ..." -- a restart changed the
    answer. Now the journal's ended negotiations holding such a Counter get the same line, E asked
    nothing."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "answered")
    forger = Intercepted(w.escrow, "withdraw", _refused(), times=100)
    short_id, counter = story.offer.negotiation_id.hex()[:12], story.ours.digest.hex()[:12]
    later = _offset(claims_end_ms(proposal_of(story.ours)) + CLOCK_TOLERANCE_MS + 60_000)
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        first = cli_process(*resume)
        after = cli_process(*later, *resume)
        status = cli_process(*later, "status", *bob.files())
    assert "Traceback" not in first.stderr + after.stderr, first.stderr + after.stderr
    assert first.returncode == 3 and forger.seen == 1, first.stderr
    assert (after.returncode, after.stdout) == (0, f"nothing to resume with {w.alice.did}\n"), after.stderr
    said = f"{short_id} our cut-off Counter {counter}: no claim under it can come since"
    assert said in after.stderr, after.stderr
    assert "no claim under it can come since" in status.stdout, status.stdout
    assert forger.seen == 1, "E was asked again after the Counter's claims were over"


@pytest.mark.req("NEG-024", "NEG-007")
def test_status_shows_the_state_resume_says_before_and_after_the_lapse(tmp_path: Path) -> None:
    """``held``: Alice's kept Counter K lapsed unanswered. `resume` said EXPIRED where `status` (text and
    JSON) still listed COUNTERED, open: one function now decides the state both show. Before K lapsed both
    say COUNTERED; past it both say EXPIRED, and `status --json` counts and lists it closed."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "held")
    forger = Intercepted(w.escrow, "withdraw", _refused(), times=100)
    short_id = story.offer.negotiation_id.hex()[:12]
    later = _offset(claims_end_ms(proposal_of(story.ours)) + CLOCK_TOLERANCE_MS + 60_000)
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        before = (cli_process(*resume), cli_process("status", *bob.files()))
        after = (cli_process(*later, *resume), cli_process(*later, "status", *bob.files()))
        as_json = json.loads(cli_process(*later, "status", *bob.files(), "--json").stdout)
    for (run, status), state in zip((before, after), ("COUNTERED", "EXPIRED"), strict=True):
        assert "Traceback" not in run.stderr + status.stderr, run.stderr + status.stderr
        assert run.stdout == f"{short_id}  {state}\n", run.stderr
        assert _status_line(status.stdout, short_id) == state, status.stdout
    (entry,) = as_json["closed"]
    assert (entry["state"], as_json["open"]) == ("EXPIRED", [])
    assert as_json["negotiations"] == {"EXPIRED": 1}


@pytest.mark.req("NEG-024", "WIT-003")
def test_the_withdraw_stays_owed_for_the_clock_tolerance_past_the_claims_end(tmp_path: Path) -> None:
    """The claims' end is E's to read -- it stamps a claim by its own clock (CMT-005) -- and E's clock may run
    up to the tolerance (WIT-003) behind Bob's. `resume` took the Withdraw as owed no more the moment Bob's
    clock passed the Counter's last deadline plus the claim window; a claim E could still stamp then would
    find his Counter open there. Now, within the tolerance past that end, `resume` still shows E the
    Withdraw (exit 3) and `status` says it owed; past it, nothing is asked."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "held")
    forger = Intercepted(w.escrow, "withdraw", _refused(), times=100)
    counter = story.ours.digest.hex()[:12]
    ended = claims_end_ms(proposal_of(story.ours))
    past = _offset(ended + CLOCK_TOLERANCE_MS + 60_000)
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        # A second past the bare end, each offset taken as its process starts: 29 s to read its clock.
        owed = cli_process(*_offset(ended + 1_000), *resume)
        owed_status = cli_process(*_offset(ended + 1_000), "status", *bob.files())
        asked = forger.seen
        over = cli_process(*past, *resume)
    assert "Traceback" not in owed.stderr + over.stderr, owed.stderr + over.stderr
    assert owed.returncode == 3 and asked == 1, owed.stderr
    assert "our Withdraw of a cut-off Counter not taken yet" in owed.stderr, owed.stderr
    assert f"our Withdraw of our cut-off Counter {counter} is owed" in owed_status.stdout, owed_status.stdout
    assert over.returncode == 0 and forger.seen == asked, over.stderr


@pytest.mark.req("NEG-024")
def test_of_the_ended_trades_only_a_cut_line_is_read_back_for_its_lapse(tmp_path: Path) -> None:
    """The price of saying the lapse of a dropped trade: `resume` reads the journal once, as it did, and reads
    back only the negotiations where the counterparty's key answered one statement twice (a line is cut
    only there, NEG-021) -- Bob's honest bargain under the same escrow, his bonded Counter rejected once,
    is not read back however many such trades the journal holds."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    honest: list = []

    def an_honest_bargain(peer: Peer, story: _Stopped) -> None:
        offer = peer.propose(w.alice.did, w.bob.proposal())
        w.clock.advance(1_000)
        theirs = w.alice.counter(offer, _mirror(offer))
        (ours,) = [vs for vs in peer.on_replies([theirs.envelope]) if vs.body == "counter"]
        w.clock.advance(1_000)
        peer.on_replies([w.alice.reject(ours, "no thanks").envelope])
        assert peer.negotiation(offer.negotiation_id).state is State.REJECTED
        honest.extend([offer.negotiation_id, ours])

    story = _stopped_on_disk(bob, w, "answered", check=an_honest_bargain)
    cut, (fair, fair_counter) = story.offer.negotiation_id, honest
    w.clock.now_ms = max(claims_over_ms(proposal_of(vs)) for vs in (story.ours, fair_counter)) + 1
    with provisioned(bob, w, _SureOfferer(w.party.did), remembered=False) as peer:
        assert not {cut, fair} & peer.verifier.negotiations.by_id.keys()  # both ended, dropped
        reads: list[bytes] = []
        restore = peer.verifier.negotiations.restore
        assert restore is not None
        peer.verifier.negotiations.restore = lambda nid: reads.append(nid) or restore(nid)
        assert peer.journal is not None
        found = read_forgotten(peer, peer.journal.statements(), w.clock.now_ms)
    assert found.to_show == [] and [n.id for n in found.lapsed] == [cut]
    assert cut in reads and fair not in reads, "an honest ended trade was read back"


@pytest.mark.req("NEG-024", "WIT-003")
def test_bobs_peer_owes_the_withdraw_until_the_tolerance_past_the_claims_end(tmp_path: Path) -> None:
    """The same on Bob's peer and a fixed clock: past the claims' end, up to the tolerance, the Withdraw is
    still owed (`cut_off_counter`), not lapsed; a millisecond past the tolerance it is lapsed, owed no
    more."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)

    def at_the_end(peer: Peer, story: _Stopped) -> None:
        nid, ended = story.offer.negotiation_id, claims_end_ms(proposal_of(story.ours))
        assert claims_over_ms(proposal_of(story.ours)) == ended + CLOCK_TOLERANCE_MS
        for past_the_end, owed in ((1, True), (CLOCK_TOLERANCE_MS, True), (CLOCK_TOLERANCE_MS + 1, False)):
            w.clock.now_ms = ended + past_the_end
            expected = (story.ours, None) if owed else (None, story.ours)
            assert (peer.cut_off_counter(nid), peer.lapsed_cut_off_counter(nid)) == expected, past_the_end

    _stopped_on_disk(bob, w, "held", check=at_the_end)
