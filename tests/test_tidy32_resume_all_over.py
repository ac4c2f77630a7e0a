"""tidy32: `a2a-coop resume` with the counterparty out of reach and nothing owed to an escrow exited 2
("cannot reach the peer") even when every trade of the journal had lapsed -- on every run for good, for
nothing anyone signs can move them. Now it exits 0 saying so, if and only if no trade of the journal is
unfinished as `status` shows it (``shown_state``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import cli_process
from test_resume28_escrow_first import _closed_port
from test_resume31_lapsed_states import _offset, _status_line

from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import remember_run
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.testing import FixedClock, Party


def _offers_on_disk(tmp_path: Path, ttls_ms: list[int]) -> tuple[Identity, list[str], int]:
    """Bob's provisioned journal holding one unbonded Offer to Alice per TTL, none answered. Returns the
    identity's files, the Offers' short ids, and the last expiry."""
    bob = provision(tmp_path, "bob")
    clock = FixedClock(wall_clock_ms())
    alice, proposer = Party("alice", clock), Party("bob", clock)
    with Journal.open(bob.journal_path) as journal:
        remember_run(journal, bob.mandate, [])
        peer = Peer(bob.key, bob.mandate, journal=journal, clock=lambda: clock.now_ms)
        offers = [peer.propose(alice.did, proposer.proposal(), ttl_ms=ttl) for ttl in ttls_ms]
    short_ids = [o.negotiation_id.hex()[:12] for o in offers]
    return bob, short_ids, max(o.header.expires_at_ms for o in offers)


@pytest.mark.req("NEG-007")
def test_resume_out_of_reach_with_every_trade_lapsed_exits_0_saying_so(tmp_path: Path) -> None:
    """Two Offers Alice never answered, both past their expiry and the skew, Alice out of reach, no escrow:
    `status` shows both EXPIRED. Before, exit 2 "cannot reach the peer"; now exit 0 and a line saying every
    trade is over."""
    bob, short_ids, expired_at = _offers_on_disk(tmp_path, [10_000, 20_000])
    lapsed = _offset(expired_at + DEFAULT_SKEW_MS + 5_000)
    resumed = cli_process(*lapsed, "resume", *bob.files(), "--to", _closed_port())
    status = cli_process(*lapsed, "status", *bob.files())
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert [_status_line(status.stdout, s) for s in short_ids] == ["EXPIRED"] * 2, status.stdout
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert resumed.stdout.startswith("nothing to resume: every trade of this journal is over"), resumed.stdout
    assert "cannot reach the peer" in resumed.stdout, resumed.stdout


@pytest.mark.req("NEG-007")
def test_resume_out_of_reach_with_one_trade_still_open_exits_2(tmp_path: Path) -> None:
    """One Offer lapsed, the other still open (Alice may yet accept it): the peer out of reach keeps that
    one from being carried on -- exit 2, "cannot reach the peer", as before."""
    bob, _, expired_at = _offers_on_disk(tmp_path, [10_000, 3_600_000])
    first_lapsed = _offset(expired_at - 3_600_000 + 10_000 + DEFAULT_SKEW_MS + 5_000)
    resumed = cli_process(*first_lapsed, "resume", *bob.files(), "--to", _closed_port())
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert resumed.returncode == 2 and "cannot reach the peer" in resumed.stderr, resumed.stderr
    assert "nothing to resume" not in resumed.stdout, resumed.stdout
