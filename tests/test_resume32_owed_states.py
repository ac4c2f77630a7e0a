"""resume32: what `a2a-coop resume` and `status` show of a trade is what is still owed in it, and the test
helper's restarted peers draw fresh nonces.

- `status` listed EXPIRED, closed, beside "our Withdraw of our cut-off Counter ... is owed to its escrow":
  the state said nothing was left where a Withdraw was (final30's ``held`` story past Alice's Counter K's
  lapse, before the claims under Bob's cut-off Counter end). Now a Withdraw owed keeps the state the view
  holds, as an untaken answer to a bonded offer does (resume31): COUNTERED, open, the Withdraw said.
- `resume` with the counterparty out of reach printed each trade it could not carry on with its raw state,
  and counted it unfinished: an offer that lapsed unanswered (EXPIRED in `status`) kept the run at exit 3
  on every run for good -- nothing either side signs can move it. Now it prints what `status` shows, and an
  EXPIRED trade is finished, as it is when the peer answers.
- `tests/peers.py::make_peer` restarted on a journal without a new ``run`` drew its first run's nonces
  again, which its own guard refuses `NONCE_REUSED` (pair30 took a Delivery so refused for a resume gap).
  Now it refuses to build such a peer. A process draws its nonces at random (`Peer`'s default).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli_process
from peers import make_peer
from test_cutoff27_withdraw_everywhere import _stopped_on_disk, _World
from test_cutoff28_final_withdraw import _withdrawn
from test_resume28_escrow_first import _closed_port
from test_resume31_lapsed_states import _offset, _status_line

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS
from a2a_coop.protocol.negotiation import claims_end_ms, proposal_of
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import DEFAULT_OFFER_TTL_MS, Peer, wall_clock_ms
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import serve


@pytest.mark.req("NEG-024", "NEG-007")
def test_status_says_the_withdraw_owed_beside_the_state_not_expired(tmp_path: Path) -> None:
    """``held``, a minute before the claims under Bob's cut-off Counter end: K lapsed long before, the
    Withdraw is still owed. `status` (text and JSON) lists the trade COUNTERED, open, with the Withdraw owed;
    before, EXPIRED and closed beside the same owed line."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "held")
    short_id, counter = story.offer.negotiation_id.hex()[:12], story.ours.digest.hex()[:12]
    at = claims_end_ms(proposal_of(story.ours)) - 60_000
    assert story.kept.header.expires_at_ms + DEFAULT_OFFER_TTL_MS < at  # K lapsed, past any skew
    status = cli_process(*_offset(at), "status", *bob.files())
    as_json = json.loads(cli_process(*_offset(at), "status", *bob.files(), "--json").stdout)
    assert "Traceback" not in status.stderr and status.returncode == 0, status.stderr
    assert _status_line(status.stdout, short_id) == "COUNTERED", status.stdout
    assert f"our Withdraw of our cut-off Counter {counter} is owed" in status.stdout, status.stdout
    (entry,) = as_json["open"]
    assert (entry["state"], entry["cut_off_counter"]["state"], as_json["closed"]) == ("COUNTERED", "owed", [])
    assert as_json["negotiations"] == {"COUNTERED": 1}


@pytest.mark.req("NEG-024", "NEG-007")
def test_resume_out_of_reach_shows_a_lapsed_offer_expired_and_finished(tmp_path: Path) -> None:
    """redteam29's journal without the bonded contract: Bob's cut-off Counter (owed to E: withdrawn there,
    REJECTED) and an unbonded Offer Alice never answered, short-lived, past its expiry and the skew; Alice
    out of reach.
    `resume` printed the Offer PROPOSED and exited 3 -- on every later run too, for nothing either side signs
    moves it (before its lapse, PROPOSED and counted is right: Alice may still accept it, redteam29's test).
    Now it prints EXPIRED, as `status` shows it, and exits 0."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    unanswered: list = []

    def an_unanswered_offer(peer: Peer, _story: object) -> None:
        unanswered.append(peer.propose(w.alice.did, w.bob.proposal(), ttl_ms=10_000))

    story = _stopped_on_disk(bob, w, "answered", check=an_unanswered_offer)
    (plain,) = unanswered
    short_id = plain.negotiation_id.hex()[:12]
    # Past the Offer's expiry and the skew; the cut-off Counter still open at E, which takes the Withdraw.
    w.clock.now_ms = plain.header.expires_at_ms + DEFAULT_SKEW_MS + 5_000
    assert w.clock.now_ms < story.ours.header.expires_at_ms
    lapsed = _offset(w.clock.now_ms)  # E's clock with Bob's
    with serve(None, w.escrow) as via:
        resumed = cli_process(*lapsed, "resume", *bob.files(), "--to", _closed_port(), "--escrow", via.target)
    status = cli_process(*lapsed, "status", *bob.files())
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert _withdrawn(w) == [story.ours.digest], resumed.stderr  # what it owes E: still done
    assert f"{short_id}  EXPIRED" in resumed.stdout, (resumed.stdout, resumed.stderr)
    assert _status_line(status.stdout, short_id) == "EXPIRED", status.stdout
    assert f"{short_id} expired: the outstanding offer lapsed unanswered" in resumed.stderr, resumed.stderr
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)


def test_the_helper_refuses_a_restart_that_would_draw_its_first_runs_nonces(tmp_path: Path) -> None:
    """A peer restarted by ``make_peer`` on a journal its first run signed into, without ``run``, drew the
    same nonces and its guard refused each signing `NONCE_REUSED` -- silently, where the peer signs on its
    own (a Delivery it owes). Now the helper refuses to build it; with ``run=1`` the restart signs."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        make_peer(bob, clock, journal=journal).propose(alice.did, bob.proposal())
    with Journal.open(tmp_path / "bob.db") as journal:
        with pytest.raises(ValueError, match="run=1"):
            make_peer(bob, clock, journal=journal)
        clock.advance(1_000)
        again = make_peer(bob, clock, journal=journal, run=1)
        assert again.propose(alice.did, bob.proposal()).body == "offer"  # a fresh nonce: signed
        with pytest.raises(ValueError, match="run=2"):
            make_peer(bob, clock, journal=journal, run=1)
