"""cutoff28: what a refused Withdraw and a half-failed ask left behind (NEG-024 (a), the node's ESC-013 job).

cutoff27 (tests/test_cutoff27_withdraw_everywhere.py) has every run that carries a trade withdraw our bonded
Counter a kept lower answer cut off the line, at the escrow E it names. Two leftovers:

1. A Withdraw E refuses for good -- here Alice showed E her Reject of Bob's Counter first, so E holds the
   negotiation REJECTED and refuses the Withdraw `ILLEGAL_TRANSITION` (and takes no Accept of the Counter
   after her Reject, ESC-014) -- was shown again on every `a2a-coop resume` and every node sweep until
   the claim window ended, each meeting the same refusal (ESC-007: the same Submit, the same answer).
   Now a refusal whose code a later Submit of the same bytes cannot pass is recorded in the journal
   (``Peer.withdraw_final``) and the Counter is shown no more; a refusal that may pass later
   (``RETRIED_REFUSALS``: RATE_LIMITED and its kin) or an escrow out of reach is asked again, and
   `a2a-coop resume` exits 3 until E takes it. So is an answer that does not take the Withdraw (E holds
   another contract in the negotiation): before, a served node asked again at once, without end.
2. The node's ``ask_about_offer`` signed our Deliveries under a contract the escrow revealed in answer to
   its first Submit, then lost them when a later Submit of the same job failed: the retry found nothing
   more to sign, and E saw Bob's Delivery only after a restart (``witness_owed``) -- a claim before that
   took his bond. Now what the job signed goes to the witness before it is asked again.

Who chose the values: Alice (which answer she showed E, and when); E's refusal code and whether it is
reachable are E's; Bob's crash or restart nobody's. The failures are injected by the escrow the runtime
reaches (``peers.Intercepted``), never by waiting out a time.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
import pytest
from cli_run import cli_process
from peers import Intercepted, raising
from test_attack27_cut_off_counter import _bodies, _mirror
from test_cutoff27_withdraw_everywhere import (
    _bonded_past_a_kept_answer,
    _node,
    _ServedAlice,
    _stopped_on_disk,
    _SureOfferer,
    _World,
)
from test_hidden_accept import _within

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import CoopError, RateLimited
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import serve
from a2a_coop.transport.errors import TransportError


def _withdrawn(w: _World) -> list[bytes]:
    """The Counters whose Withdraw E took (stamped), in its transcript's order."""
    held = [verify_statement(env) for env in w.escrow.escrow.transcript()]
    return [vs.statement.withdraw.offer for vs in held if vs.body == "withdraw"]


def _rejected_at_e(w: _World, line: list[VerifiedStatement], bob_mandate: bytes) -> None:
    """Alice shows E the line to Bob's bonded Counter (its last; Bob's Mandate ``bob_mandate``) with her
    Reject of it: E takes it, holds the negotiation REJECTED, and refuses any Withdraw of the Counter after
    it for good."""
    reject = w.alice.reject(line[-1], "not at these terms")
    shown = [*w.alice.setup, bob_mandate, *(vs.envelope for vs in line), reject.envelope]
    assert _bodies(w.escrow.submit(shown))[-1] == "stamp"


@pytest.mark.req("NEG-024", "ESC-014", "ESC-007")
@pytest.mark.parametrize("crash", ["answered", "held"])
def test_a2a_coop_resume_records_a_final_refusal_and_asks_no_more(tmp_path: Path, crash: str) -> None:
    """Bob's run stopped with his bonded Counter cut off (by her kept Reject: REJECTED, or her kept Counter:
    COUNTERED, her offer awaiting his answer); E refuses his Withdraw for good. The first `a2a-coop resume`
    reports the state it reached (exit 0 where the trade ended, 3 where it did not) and the refusal; a
    second one asks E nothing more -- before, each resume submitted the Withdraw again."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, crash)
    _rejected_at_e(w, story.line, bob.mandate)
    alice, gate = _ServedAlice(story, w.alice), Intercepted(w.escrow, "withdraw")
    short_id = story.offer.negotiation_id.hex()[:12]
    state, code = ("REJECTED", 0) if crash == "answered" else ("COUNTERED", 3)
    with serve(alice, None) as to, serve(None, gate) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert gate.seen == 1, "the refused Withdraw was shown to E again"
    assert "Traceback" not in first.stderr + again.stderr, first.stderr + again.stderr
    assert (first.returncode, first.stdout) == (code, f"{short_id}  {state}\n"), first.stderr
    assert "ILLEGAL_TRANSITION" in first.stderr and "not asked again" in first.stderr, first.stderr
    if crash == "answered":  # ended, and nothing left to show E: nothing to resume
        assert (again.returncode, again.stdout) == (0, f"nothing to resume with {w.alice.did}\n")
    else:  # her Counter still waits for Bob's answer
        assert (again.returncode, again.stdout) == (3, f"{short_id}  COUNTERED\n"), again.stderr
    assert _withdrawn(w) == []
    w.alice_takes_the_bond(story.line, story.ours, bob)  # her Reject, taken first, closed the Counter at E


@pytest.mark.req("NEG-024", "RPC-012")
def test_a2a_coop_resume_asks_again_after_a_refusal_that_may_pass(tmp_path: Path) -> None:
    """E refuses Bob's Withdraw `RATE_LIMITED` (RPC-012 (b): retry later): not final. The first `a2a-coop
    resume` exits 3, saying the Withdraw is not taken yet (before, it exited 0, "finished"); the next one
    shows it again, E takes it, and Alice's Accept of the Counter is refused."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "answered")
    alice = _ServedAlice(story, w.alice)
    gate = Intercepted(w.escrow, "withdraw", raising(RateLimited("slow down", retry_after_ms=10)))
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(alice, None) as to, serve(None, gate) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert (first.returncode, first.stdout) == (3, f"{short_id}  REJECTED\n"), first.stderr
        assert "not taken yet" in first.stderr and "RATE_LIMITED" in first.stderr, first.stderr
        assert _withdrawn(w) == []
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert (again.returncode, again.stdout) == (0, f"{short_id}  REJECTED\n"), again.stderr
    assert gate.seen == 2 and _withdrawn(w) == [story.ours.digest]
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)


@pytest.mark.req("NEG-024", "ESC-014", "ESC-007")
@pytest.mark.parametrize("final", [True, False])
def test_a_served_node_records_a_final_refusal_and_retries_a_transient_one(
    tmp_path: Path, final: bool
) -> None:
    """test_cutoff27's served Bob (Alice's kept Reject cuts his bonded Counter C3 off the line), with E
    refusing his Withdraw for good (``final``: her Reject of C3 taken first) or out of reach once. After a
    restart, his sweep (``witness_owed``) shows E a Withdraw that failed to reach it, and never one E
    refused for good -- before, it showed it again after every restart, and the node retried it meanwhile."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    down = TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")
    gate = Intercepted(w.escrow, "withdraw", raising(down), times=0 if final else 1)
    node = _node(w, path, witness=True, via=gate)
    try:
        offer, c1, kept, c2, c3 = _bonded_past_a_kept_answer(w, node, lambda c1: w.alice.reject(c1, "kept"))
        if final:
            _rejected_at_e(w, [offer, c1, c2, c3], w.bob.setup[0])
        node.exchange(kept.envelope, ())
        assert node.witness is not None
        node.witness.flush()
        assert gate.seen == 1
        assert (node.peer.cut_off_counter(offer.negotiation_id) is None) is final
        node.close()
        node = _node(w, path, witness=True, via=gate)
        node.witness_owed()
        assert node.witness is not None
        node.witness.flush()
    finally:
        node.close()
    assert gate.seen == 1 if final else 2
    assert _withdrawn(w) == ([] if final else [c3.digest])
    assert "bond_lock" not in w.alice_takes_the_bond([offer, c1, c2, c3], c3, w.bob)


@pytest.mark.req("WIT-007", "ESC-012", "NEG-024")
def test_a_served_node_gives_e_its_deliveries_when_a_later_submit_of_the_job_fails(tmp_path: Path) -> None:
    """Served Bob's one job asks E twice: about his bonded Counter C4 on the line (E reveals Alice's Accept of
    it, shown to E alone, with its locks: Bob delivers) and the Withdraw of C3, his bonded Counter her kept
    Counter K cut off. E is out of reach for the second Submit. Before, Bob's Delivery, signed and journaled,
    went to nobody: the retry signed nothing new, and Alice's claim after the deadline took his bond unless
    the node restarted. Now it goes to E at once, and the Withdraw is asked again at the node's doubling
    delays -- answered there without being taken (E holds Alice's contract of C4), it is asked no more
    (before, the node asked again at once, without end). K reaches Bob held, not exchanged: NEG-022 would
    have his node reject it (as in test_cutoff27's "held" run)."""
    w = _World(FixedClock())
    gate = Intercepted(
        w.escrow, "withdraw", raising(TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down"))
    )
    node = _node(w, tmp_path / "bob.db", witness=True, via=gate, lock_wait_s=0.005)
    try:
        offer, c1, kept, c2, c3 = _bonded_past_a_kept_answer(
            w, node, lambda c1: w.alice.counter(c1, _mirror(c1))
        )
        nid = offer.negotiation_id
        node.peer.hold([kept.envelope])
        assert node.peer.cut_off_counter(nid) == c3
        mine = _SureOfferer(w.party.did).mirror(proposal_of(kept))
        c4 = node.peer.sign(
            "counter",
            trade_pb2.Counter(offer=kept.digest, proposal=mine),
            audience=w.alice.did,
            negotiation_id=nid,
            refs=[kept.digest],
        )
        w.clock.advance(1_000)
        accept = w.alice.accept(c4)  # shown to E alone
        line = [offer.envelope, c1.envelope, kept.envelope, c4.envelope, accept.envelope]
        assert _bodies(w.escrow.submit([*w.alice.setup, *w.bob.setup, *line]))[-2:] == ["bond_lock"] * 2

        assert not node.ask_about_offer(nid)  # E revealed the contract; the Withdraw's Submit failed
        neg = node.peer.negotiation(nid)
        assert neg.state is State.PERFORMING and neg.contract is not None
        (delivery,) = [vs for vs in node.peer.verifier.statements.values() if vs.body == "delivery"]
        witness = w.escrow.escrow.verifier.witness
        _within(10, lambda: witness.stamp_time(w.party.did, delivery.digest) is not None)
        _within(10, lambda: node.peer.cut_off_counter(nid) is None)  # asked again, without a restart
        assert node.witness is not None
        node.witness.flush()
        assert gate.seen == 2, "the Withdraw E answered without taking it was asked again"
        assert "answered without taking it" in node.peer.withdraw_final_why(nid)
    finally:
        node.close()
    w.alice_claims(accept, w.bob, proposal_of(c4).gives[0].deadline_ms)  # dismissed: E holds his Delivery
    locks = _bodies(w.escrow.escrow.ledger()).count("bond_lock")
    to_c3 = [offer.envelope, c1.envelope, c2.envelope, c3.envelope, w.alice.accept(c3).envelope]
    with contextlib.suppress(CoopError):  # nor does her Accept of C3 bind at E (ESC-014): refused, or
        w.escrow.submit([*w.alice.setup, *w.bob.setup, *to_c3])  # answered with her contract of C4
    assert _bodies(w.escrow.escrow.ledger()).count("bond_lock") == locks
