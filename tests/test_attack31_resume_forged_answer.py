"""Red team 31: `a2a-coop resume` said a trade finished (exit 0) on an escrow's answer that took nothing.

Bob's Offer O names escrow E with both bonds; Alice answered it -- a Reject, or a bonded Counter C she made
short-lived -- and Bob's run stopped there (C taken, unanswered: a crash, or Ctrl-C while `offer` waits).
ESC-013 (a): Bob shows E the line, and E takes the answer (its Stamp), after which it takes no Accept of O
(ESC-014). `resume` shows it, but then judged the trade on Bob's view alone: REJECTED is final, and a
COUNTERED trade whose outstanding Counter lapsed past its bonding cutoff is EXPIRED (cutback30) -- exit 0,
"finished", whatever E's answer was. Whoever answered for E (a man in the middle on a plaintext channel, a
proxy, a wrong `--escrow`, the parties ESC-013 (i), NEG-024 (a) and WIT-007 guard against) answering the
Submit with E's public Mandate alone left O open at E: Alice's Accept of O, still within O's life, shown to
E alone, locked Bob's bond; Bob, told all was done, never delivered, and her claim took it. Who chose the
values: Alice, her answer and C's expiry (a second suffices); whoever answered the Submit, its bytes. What
Alice gains: Bob's bond.

Now `resume` counts a trade unfinished (exit 3, "the answer to our bonded offer not taken by its escrow
yet") while its bonded offer's answer has no Stamp of E's held, whatever state Bob's view holds; the next
run shows E the line again, E takes the answer, and Alice's Accept is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from test_attack26_cut_back_accept import _bodies
from test_attack27_cut_off_counter import _mirror
from test_attack27_resume_cut_back import provisioned
from test_cutoff27_withdraw_everywhere import BOND, _World
from test_hidden_accept import CountersWithItsBond, Market

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import EscrowWitness
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock, derive
from a2a_coop.transport import serve

OFFER_TTL_MS = 30 * 60_000  # Bob's offer: half an hour
LAPSED_MS = 5 * 60_000  # when `resume` runs: Alice's one-second Counter long past its cutoff, O live


class _MandateAlone:
    """E as `resume` reaches it: a Submit carrying Alice's answer is answered with E's public Mandate alone
    by whoever answers for E (E never sees it); the rest goes to E."""

    def __init__(self, escrow: Any, answer: bytes) -> None:
        self.escrow, self.answer, self.forged = escrow, answer, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.answer in envelopes:
            self.forged += 1
            return [self.escrow.mandate]
        return self.escrow.submit(envelopes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)


class _Alice:
    """Alice served: she answers nothing more, and says who serves."""

    def __init__(self, w: _World) -> None:
        self.head = w.alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=derive("root"))).envelope

    def exchange(self, envelope: bytes, context: object = ()) -> list[bytes]:
        return []

    def get_checkpoint(self) -> bytes:
        return self.head


def _stopped(tmp_path: Path, answer: str) -> tuple[Any, _World, VerifiedStatement, VerifiedStatement]:
    """Bob's journal as his `offer --escrow E` run left it: his bonded Offer O to Alice and her ``answer``
    taken -- a Reject, or a bonded Counter naming E that lapses in a second -- unanswered. Returns (Bob's
    files, the world, O, her answer)."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    with provisioned(bob, w) as peer:
        bonded = w.bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=w.party.did)
        offer = peer.propose(w.alice.did, bonded, ttl_ms=OFFER_TTL_MS)
        w.clock.advance(1_000)
        if answer == "reject":
            theirs = w.alice.reject(offer, "no")
        else:
            theirs = w.alice.counter(offer, _mirror(offer), ttl_ms=1_000)
        peer.hold([*w.alice.setup, theirs.envelope])
        held = {"reject": State.REJECTED, "lapsed-counter": State.COUNTERED}[answer]
        assert peer.verifier.negotiations.find(offer.negotiation_id).state is held  # type: ignore[union-attr]
    return bob, w, offer, theirs


@pytest.mark.req("ESC-013", "ESC-014")
@pytest.mark.parametrize("answer", ["reject", "lapsed-counter"])
def test_resume_is_not_done_until_the_escrow_took_the_answer_to_our_bonded_offer(
    tmp_path: Path, answer: str
) -> None:
    """`resume` (a process of its own, its clock five minutes on: Alice's Counter lapsed, Bob's Offer live)
    meets E's Mandate alone in answer to the line. Expect exit 3 saying the answer is not taken by E yet
    (before: exit 0, REJECTED or EXPIRED); the next `resume` reaches E, which takes the answer, and Alice's
    Accept of O shown to E alone is refused -- no bond locked, nothing to claim."""
    bob, w, offer, theirs = _stopped(tmp_path, answer)
    forger = _MandateAlone(w.escrow, theirs.envelope)
    short_id = offer.negotiation_id.hex()[:12]
    later = ("--test-clock-offset", f"{w.clock.now_ms + LAPSED_MS - wall_clock_ms()}ms")
    w.clock.advance(LAPSED_MS)  # E's clock as the CLI's
    with serve(_Alice(w), None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        resume = ("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        first = cli_process(*later, *resume)
        assert "Traceback" not in first.stderr, first.stderr
        assert forger.forged >= 1
        assert first.returncode == 3, (first.stdout, first.stderr)
        said = "REJECTED" if answer == "reject" else "COUNTERED"
        assert first.stdout == f"{short_id}  {said}\n", first.stdout
        assert "the answer to our bonded offer not taken by its escrow yet" in first.stderr, first.stderr
    with serve(_Alice(w), None) as to, serve(None, w.escrow) as via:  # type: ignore[arg-type]
        again = cli_process(*later, "resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert "Traceback" not in again.stderr, again.stderr
    assert again.returncode == 0, (again.stdout, again.stderr)
    accept = w.alice.accept(offer)
    with pytest.raises(CoopError):  # E took her answer first (ESC-014)
        w.escrow.submit([*w.alice.setup, accept.envelope])
    assert "bond_lock" not in _bodies(w.escrow.escrow.ledger())
    assert proposal_of(offer).terms.escrow == w.party.did


class _Forges:
    """E as served Bob's witness reaches it: a Submit carrying a Reject is answered with E's Mandate alone
    while ``on`` (E never sees it); the rest goes to E."""

    def __init__(self, escrow: Any) -> None:
        self.escrow, self.on, self.forged = escrow, True, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.on and "reject" in _bodies(list(envelopes)):
            self.forged += 1
            return [self.escrow.mandate]
        return self.escrow.submit(envelopes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)


@pytest.mark.req("ESC-013")
def test_a_served_node_asks_again_at_growing_waits_when_the_answer_took_nothing(tmp_path: Path) -> None:
    """The served side of the same: Bob's node counters Mallory's offer with his bonded terms, she rejects
    his Counter, and his witness shows E the line -- answered with E's Mandate alone. Expect the node to
    ask again only after its wait (``lock_wait_s``, doubling): its witness settles with one forged answer.
    Before, an answered offer was asked again at once (``watch_exposed``), without end: tens of Submits a
    second until the Counter's claims ended. Once E is reached it takes the Reject, and her Accept of
    the Counter at E alone is refused."""
    m = Market()
    forges = _Forges(m.escrow)
    witness = EscrowWitness(forges, m.escrow.did, lock_wait_s=60.0)  # type: ignore[arg-type]
    node = m.bob_node(tmp_path, CountersWithItsBond(escrow=m.escrow.did), witness=witness)
    try:
        mallory = m.mallory
        opening, answers = m.mallory_opens(node)
        counter = next(vs for vs in answers if vs.body == "counter")
        node.exchange(mallory.reject(counter, "no").envelope, ())
        settled = threading.Event()
        threading.Thread(target=lambda: (witness.flush(), settled.set()), daemon=True).start()
        assert settled.wait(30), f"the witness asked without end: {forges.forged} forged answers so far"
        assert forges.forged == 1
        forges.on = False
        assert node.ask_about_offer(opening.negotiation_id)
    finally:
        node.close()
    with pytest.raises(CoopError):  # E took her Reject (ESC-014)
        m.escrow.submit([*mallory.setup, *m.bob.setup, counter.envelope, mallory.accept(counter).envelope])
    assert "bond_lock" not in _bodies(m.escrow.escrow.ledger())
