"""redteam30: one unsigned refusal, or one failed Submit, ended `resume`'s showing of Bob's cut-back Accept.

The story of tests/test_attack27_resume_cut_back.py: Bob offers Alice a trade naming no escrow; Alice keeps
a Reject of it and sends a Counter naming escrow E with both bonds; Bob accepts; her kept Reject cuts the
line back in his view before he holds E's Stamp, and his run stops. `a2a-coop resume` shows E his Accept
(NEG-024) -- else Alice shows it there alone, E locks his bond, he never delivers, and her claim takes it.

final29 made the Withdraw of a cut-off Counter end only on E's signed word; the cut-back Accept's Submit was
left as it was, and its `resume` exited 0 ("REJECTED", finished) when that one Submit:

- met `UNWITNESSED` -- which the runtime read as E saying the Accept came past its offer's bonding cutoff
  (WIT-004), so nothing binds Bob -- though that cutoff was a day off: a refusal is unsigned, and whoever
  answered for E once (a man in the middle, a proxy, a wrong address) forged it, not even a line on
  stderr; or
- failed for a reason a repeat passes (`RATE_LIMITED`, E out of reach for that call): "finished with the
  escrow; the peer refused" -- E's refusal named as the peer's -- because resume29's count of what a
  failed run still owes E (``_still_owed``) named the Withdraw and the bonded offer's answer, not the
  cut-back Accept; or
- was answered with E's Mandate alone (public: anyone can replay it), an answer that takes nothing, and
  the run, raising nothing, read the trade's state alone.

Bob's operator, told all was done, ran nothing more; Alice showed E his Accept, E locked his bond, and her
claim after the deadline took it. Who chose the values: whoever answered the Submit (the code); when E
stops witnessing is the offer's bonding cutoff, which Bob's clock reads. What Alice gains: Bob's bond.
Now `UNWITNESSED` ends the showing only once that cutoff (plus the clock tolerance) has passed by Bob's
clock, and until then a run whose Accept E has not taken (no contract of it held) still owes E the
Accept, whether it failed or not: exit 3, and the next `resume` shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from peers import Intercepted, answering, raising
from test_attack26_cut_back_accept import _bodies
from test_attack27_resume_cut_back import _ServedAlice, _Stopped, _World, provisioned
from test_cutoff27_withdraw_everywhere import _cut_back, _node
from test_cutoff27_withdraw_everywhere import _World as _CutoffWorld
from test_hidden_accept import _within

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import RateLimited, Unwitnessed
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock, LocalEscrow
from a2a_coop.transport import serve

_FAILURES: dict[str, Exception | None] = {
    "a forged UNWITNESSED": Unwitnessed("not witnessed before its bonding cutoff", requirement="WIT-004"),
    "RATE_LIMITED": RateLimited("too many submits", requirement="RPC-012"),
    "E's Mandate alone": None,  # an answer that takes nothing, from anyone holding E's public Mandate
}


def _forged(escrow: LocalEscrow, failure: str, times: int) -> Intercepted:
    """E as Bob reaches it: the first ``times`` Submits carrying an Accept meet ``failure``."""
    error = _FAILURES[failure]
    return Intercepted(
        escrow, "accept", answering([escrow.mandate]) if error is None else raising(error), times
    )


def _stopped_bob(tmp_path: Path) -> tuple[Any, _World, _Stopped]:
    """attack27's "answered" story on disk: Bob's run stopped with his Accept of Alice's bonded Counter cut
    back by her kept Reject (REJECTED in his view), E not shown it. Returns (Bob's files, the world, the
    story)."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    with provisioned(bob, w) as peer:
        story = _Stopped(w, peer, "answered")
    return bob, w, story


def _owed_then_delivered(bob: Any, w: _World, story: _Stopped, gate: Intercepted) -> None:
    """Two `resume` runs of stopped Bob, reaching E through ``gate``: the first exits 3, the cut-back Accept
    owed (REJECTED); the next shows E the Accept and Bob delivers. Alice's claim then takes nothing."""
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(_ServedAlice(story, w.alice), None) as to, serve(None, gate) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert (first.returncode, first.stdout) == (3, f"{short_id}  REJECTED\n"), first.stderr
        assert "our Accept cut back not taken by its escrow yet" in first.stderr, first.stderr
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    # Alice never delivers: Bob's contract waits in PERFORMING, his Delivery given (exit 3, said why).
    assert (again.returncode, again.stdout) == (3, f"{short_id}  PERFORMING\n"), again.stderr
    story.alice_claims(w, bob)
    assert "forfeit" not in _bodies(w.escrow.escrow.ledger()), "Bob's bond was forfeited to Alice"


@pytest.mark.req("NEG-024", "WIT-004")
@pytest.mark.parametrize("failure", list(_FAILURES))
def test_resume_does_not_say_finished_before_the_escrow_took_bobs_cut_back_accept(
    tmp_path: Path, failure: str
) -> None:
    """The first `resume` meets ``failure`` on the Submit of Bob's cut-back Accept, a day before its offer's
    bonding cutoff: it exits 3, the Accept not taken yet (before: exit 0, REJECTED); the next one shows E the
    Accept, Bob delivers under the contract E witnessed, and Alice's claim takes nothing."""
    bob, w, story = _stopped_bob(tmp_path)
    _owed_then_delivered(bob, w, story, _forged(w.escrow, failure, 1))


@pytest.mark.req("NEG-024", "WIT-004")
@pytest.mark.parametrize("failure", ["a forged UNWITNESSED", "E's Mandate alone"])
def test_a_served_node_asks_again_after_a_forged_answer_before_the_cutoff(
    tmp_path: Path, failure: str
) -> None:
    """cutoff27's served story (Alice's kept Reject cuts back served Bob's Accept of her bonded Counter C2):
    the witness's Submits of his Accept meet a forged UNWITNESSED (or E's Mandate alone) three times; the
    node asks again at its doubling waits until E takes it -- before, the first forged UNWITNESSED ended its
    asking (nothing of his Accept reached E) -- and Bob delivers under the contract E witnessed; Alice's
    claim takes nothing."""
    w = _CutoffWorld(FixedClock())
    forger = _forged(w.escrow, failure, 3)
    node = _node(w, tmp_path / "bob.db", witness=True, via=forger, lock_wait_s=0.005)  # type: ignore[arg-type]
    try:
        offer, _, c2, accept = _cut_back(w, node)
        stamped = w.escrow.escrow.verifier.witness.stamp_time
        _within(10, lambda: stamped(w.party.did, accept.digest) is not None)
        assert node.witness is not None
        node.witness.flush()
        neg = node.peer.negotiation(offer.negotiation_id)
        node.witness.flush()  # his Delivery given to E (WIT-007)
    finally:
        node.close()
    assert forger.seen > 3
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest
    assert any(by == w.bob.did for by, _ in neg.contract.delivered)
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)
