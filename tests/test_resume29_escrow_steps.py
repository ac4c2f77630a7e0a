"""resume29: what `a2a-coop resume` left undone at the escrow when a step failed or the counterparty was down.

Bob's run (`a2a-coop offer --escrow E`) stopped with Alice's kept Counter K of his Offer taken: K cut his
bonded Counter C3 off the line (NEG-024 (a), tests/test_cutoff27_withdraw_everywhere.py's "held" stop), and
his run then countered K with C4, bonded under E too, which nothing answered in his view. So the trade owes
E two things: the line to C4 (ESC-012: an Accept of it Alice showed E alone binds his bond) and his Withdraw
of C3 (else she accepts C3 at E alone). Alice stays out of reach (`--to` a closed port). Three leftovers:

1. ``resume_trade`` tried its escrow steps -- ask about the bonded offer, show a cut-back Accept, withdraw a
   cut-off Counter -- in one ``try``: the first failure (E out of reach for one call, or a refusal for good)
   skipped the rest, and C3 stayed open at E for her Accept. Now each step is tried, and the run exits 3
   while one left something owed.
2. E answering the Withdraw without taking it (it holds Alice's contract of C4) was recorded only after the
   answer was relayed to Alice: with her out of reach, every later `resume` asked E the same Submit again.
   Now the answer is taken and recorded first; the relay may fail.
3. A trade owing E nothing -- Bob's Delivery under C4's contract signed, his run stopped before E had it --
   was not resumed at all while Alice was down (exit 2, "cannot reach the peer"), and her claim after the
   deadline took his bond. Now `resume` settles with E what E alone can (his Delivery witnessed, E's
   rulings taken) and exits with the state: 3 while the trade is not finished.

Who chose the values: Alice (which answers she kept, when she showed E her Accept, when she is reachable);
E's answers and whether it is reachable are E's, injected by the escrow the CLI reaches (``_Gate``).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_run import cli_process
from test_attack27_cut_off_counter import _bodies, _SureOfferer
from test_cutoff27_withdraw_everywhere import _Stopped, _stopped_on_disk, _World
from test_cutoff28_final_withdraw import _withdrawn

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.trade import ask_escrow_alone, claim_breach, withdraw_cut_off_alone
from a2a_coop.testing import FixedClock, LocalEscrow
from a2a_coop.transport import serve
from a2a_coop.transport.errors import TransportError

DOWN = TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")


class _Gate:
    """E as `a2a-coop resume` reaches it: a Submit carrying statements but no Withdraw (the ask about C4's
    line, and each of its prefixes) fails with ``error`` ``times`` times (None: always); every Withdraw is
    counted. An empty Submit (who serves there, ESC-002) is answered."""

    def __init__(self, escrow: LocalEscrow, error: Exception, times: int | None) -> None:
        self.escrow, self.error, self.times = escrow, error, times
        self.failed = self.withdraws = 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if "withdraw" in _bodies(list(envelopes)):
            self.withdraws += 1
        elif envelopes and (self.times is None or self.failed < self.times):
            self.failed += 1
            raise self.error
        return self.escrow.submit(envelopes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)  # its Mandate and ledger, as E serves them


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class _Story:
    """Bob's run stopped at test_cutoff27's "held" (C3, ``story.ours``, cut off by Alice's kept Counter K),
    after he countered K with C4 under E with both bonds. With ``accepted``, Alice showed E alone her Accept
    of C4 (``accept``), which locked both bonds; with ``delivered`` too, Bob's run asked E about C4 first:
    E revealed her Accept, he signed his Delivery (``delivery``), E answered his Withdraw of C3 without
    taking it, and the run stopped before E had the Delivery."""

    def __init__(
        self,
        bob: Identity,
        w: _World,
        *,
        rejected: bool = False,
        accepted: bool = False,
        delivered: bool = False,
        ruled: bool = False,
    ) -> None:
        self.w, self.bob, self.rejected = w, bob, rejected
        self.accepted, self.delivered, self.ruled = accepted, delivered, ruled
        self.accept: VerifiedStatement | None = None
        self.delivery: VerifiedStatement | None = None
        self.story = _stopped_on_disk(bob, w, "held", check=self._countered)

    def _countered(self, peer: Peer, story: _Stopped) -> None:
        w, nid = self.w, story.offer.negotiation_id
        assert peer.cut_off_counter(nid) == story.ours
        mine = _SureOfferer(w.party.did).mirror(proposal_of(story.kept))
        self.c4 = peer.sign(
            "counter",
            trade_pb2.Counter(offer=story.kept.digest, proposal=mine),
            audience=w.alice.did,
            negotiation_id=nid,
            refs=[story.kept.digest],
        )
        if self.rejected:  # her Reject of C4 reached him: REJECTED, and E never saw it (ESC-012)
            w.clock.advance(1_000)
            peer.on_replies([w.alice.reject(self.c4, "no").envelope])
        if not self.accepted:
            return
        w.clock.advance(1_000)
        self.accept = w.alice.accept(self.c4)
        line = [vs.envelope for vs in (story.offer, story.kept, self.c4, self.accept)]
        shown = w.escrow.submit([*w.alice.setup, self.bob.mandate, *line])
        assert _bodies(shown)[-2:] == ["bond_lock"] * 2
        if not self.delivered:
            return
        # What ask_escrow_alone makes due is the caller's to give E (WIT-007): the stop came first.
        (self.delivery,) = [
            vs
            for vs in ask_escrow_alone(peer, w.escrow, peer.negotiation(nid)) or ()
            if vs.body == "delivery"
        ]
        withdraw_cut_off_alone(peer, w.escrow, peer.negotiation(nid), "")
        assert peer.cut_off_counter(nid) is None and "without taking" in peer.withdraw_final_why(nid)
        if not self.ruled:
            return
        # E took his Delivery, and later his claim of Alice's item (she never delivered), and forfeited her
        # bond once the response window ended: its answers, and that Forfeit, never reached his journal.
        w.escrow.submit([self.delivery.envelope])
        w.clock.now_ms = proposal_of(self.c4).wants[0].deadline_ms + 31_000
        claim = claim_breach(peer, peer.negotiation(nid), 0, "never delivered")
        w.escrow.submit([claim.envelope])
        w.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
        w.escrow.tick()
        assert "forfeit" in _bodies(w.escrow.escrow.ledger())

    @property
    def short_id(self) -> str:
        return self.story.offer.negotiation_id.hex()[:12]

    def resume(self, gate: object) -> Any:
        """`a2a-coop resume` of Bob's journal, Alice out of reach, E reached through ``gate``; on E's clock
        (CTL-003: the story may have moved it ahead of this machine's)."""
        ahead = self.w.clock.now_ms - wall_clock_ms()
        # Under load this machine's clock can overtake E's fixed one: then no offset (the CLI takes no 0).
        offset = ("--test-clock-offset", f"{ahead}ms") if ahead > 0 else ()
        with serve(None, gate) as via:  # type: ignore[arg-type]
            return cli_process(
                *offset,
                "resume",
                *self.bob.files(),
                "--to",
                _closed_port(),
                "--escrow",
                via.target,
            )

    def witnessed(self, vs: VerifiedStatement) -> bool:
        return self.w.escrow.escrow.verifier.witness.stamp_time(self.w.party.did, vs.digest) is not None


@pytest.mark.req("NEG-024", "ESC-012")
@pytest.mark.parametrize(("error", "rejected"), [("unavailable", False), ("final", False), ("final", True)])
def test_resume_withdraws_the_cut_off_counter_when_asking_about_the_bonded_offer_fails(
    tmp_path: Path, error: str, rejected: bool
) -> None:
    """E fails Bob's ask about C4's line (out of reach for that one call, or refusing every Submit of it).
    Before, `resume` stopped its escrow steps there: C3's Withdraw never reached E, and Alice's Accept of C3
    took his bond. Now E takes the Withdraw, and the run exits 3: COUNTERED, C4 waiting for an answer -- or,
    her Reject of C4 held (``rejected``), REJECTED with that Reject not taken by E, where an Accept of C4
    she shows E alone would still bind his bond (a trade his view ended, which once exited 0)."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    s = _Story(bob, w, rejected=rejected)
    refusal = DOWN if error == "unavailable" else IllegalTransition("not this line")
    gate = _Gate(w.escrow, refusal, 1 if error == "unavailable" else None)
    resumed = s.resume(gate)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert gate.failed >= 1 and gate.withdraws == 1, resumed.stderr
    assert _withdrawn(w) == [s.story.ours.digest], resumed.stderr
    state = "REJECTED" if rejected else "COUNTERED"
    assert (resumed.returncode, resumed.stdout) == (3, f"{s.short_id}  {state}\n"), resumed.stderr
    assert ("escrow down" if error == "unavailable" else "ILLEGAL_TRANSITION") in resumed.stderr
    if rejected:
        assert "the answer to our bonded offer not taken by its escrow yet" in resumed.stderr, resumed.stderr
    assert "bond_lock" not in w.alice_takes_the_bond(s.story.line, s.story.ours, bob)


@pytest.mark.req("NEG-024", "ESC-014", "ESC-007")
def test_a_withdraw_answered_without_taking_is_recorded_before_the_relay_that_fails(tmp_path: Path) -> None:
    """E holds Alice's contract of C4 and answers Bob's Withdraw of C3 with it, without taking the Withdraw;
    his ask about C4 met E out of reach, so that answer is news, and its relay to Alice fails. Before, the
    answer was recorded final only after the relay: every later `resume` showed E the Withdraw again. Now
    the second `resume` shows it nothing; Bob performs under C4's contract, E witnessing his Delivery."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    s = _Story(bob, w, accepted=True)
    gate = _Gate(w.escrow, DOWN, 1)
    first, again = s.resume(gate), s.resume(gate)
    assert "Traceback" not in first.stderr + again.stderr, first.stderr + again.stderr
    assert gate.withdraws == 1, "the Withdraw E answered without taking it was shown to E again"
    assert "answered without taking it" in first.stderr and "not asked again" in first.stderr, first.stderr
    for resumed in (first, again):
        assert (resumed.returncode, resumed.stdout) == (3, f"{s.short_id}  PERFORMING\n"), resumed.stderr
    with Journal.open(bob.journal_path, lock=False) as journal:
        ours = [verify_statement(env) for _, _, env in journal.statements()]
    (delivery,) = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.did]
    assert s.witnessed(delivery)
    assert s.accept is not None
    w.alice_claims(s.accept, bob, proposal_of(s.c4).gives[0].deadline_ms)  # dismissed: E holds his Delivery


@pytest.mark.req("WIT-007", "NEG-024")
def test_resume_settles_with_the_escrow_alone_a_trade_that_owes_it_nothing(tmp_path: Path) -> None:
    """Bob's trade under C4's contract owes E nothing (C4's answer taken, C3's Withdraw answered for good),
    but his Delivery, signed, never reached E. Before, with Alice out of reach, `resume` exited 2 ("cannot
    reach the peer") and did nothing: her claim after the deadline took his bond. Now E witnesses the
    Delivery; the run says PERFORMING (Alice owes her part) and exits 3."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    s = _Story(bob, w, accepted=True, delivered=True)
    assert s.delivery is not None and not s.witnessed(s.delivery)
    resumed = s.resume(w.escrow)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert (resumed.returncode, resumed.stdout) == (3, f"{s.short_id}  PERFORMING\n"), resumed.stderr
    assert "cannot reach the peer" in resumed.stderr and "what it alone can" in resumed.stderr, resumed.stderr
    assert s.witnessed(s.delivery)
    assert s.accept is not None
    w.alice_claims(s.accept, bob, proposal_of(s.c4).gives[0].deadline_ms)  # dismissed: E holds his Delivery


@pytest.mark.req("WIT-005", "CMT-002")
def test_resume_takes_the_escrows_ruling_alone_and_says_the_trade_finished(tmp_path: Path) -> None:
    """As above, with E holding Bob's Delivery and his claim of Alice's item, and its Forfeit of her bond
    once her response window ended: his journal holds none of E's answers. Before, with Alice out of reach,
    `resume` exited 2 and his view stayed with both bonds locked; now E's answers to what he shows it
    settle the trade there (BREACHED, her bond his), and `resume` says it finished with E (exit 0)."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    s = _Story(bob, w, accepted=True, delivered=True, ruled=True)
    resumed = s.resume(w.escrow)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert (resumed.returncode, resumed.stdout) == (0, f"{s.short_id}  BREACHED\n"), resumed.stderr
    assert "finished with the escrow; the peer could not be reached" in resumed.stderr, resumed.stderr
    with Journal.open(bob.journal_path, lock=False) as journal:
        taken = [verify_statement(env) for _, _, env in journal.statements()]
    assert [vs.issuer for vs in taken if vs.body == "forfeit"] == [w.party.did]
