"""final30: the escrow's signed refusal of a Withdraw reaches its offerer whatever its evidence's size.

final29 (NEG-024 (a), RPC-006 (b)) made Bob take his Withdraw of his cut-off bonded Counter as answered for
good only on E's signed word: its refusal carries its Mandate, its Stamp of the answer it took first and
that answer. But a refusal's envelopes travel in the gRPC trailer only while the encoded Status stays
within 4,096 bytes (RPC-006), and a Stamp names every statement of one Submit -- Alice chooses how many:
her Reject of Bob's Counter shown to E with a hundred and fifty Offers of hers made E's Stamp alone larger
than that, the refusal reached Bob bare, and every `a2a-coop resume` asked E again (exit 3) until the claim
window ended, his bond shown as exposed though E had decided. Now the refusal names that Stamp's ledger
seq (``stamp_seq``) and Bob reads the Stamp, with the answers to his Counter it names, from E's transcript
(GetTranscript): the same proof, fetched. Who chose the seq: whoever answered his Submit; it says only
where to look -- a man in the middle naming E's Stamp of something else, or a seq past E's head, proves
nothing, and Bob asks E again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from peers import Intercepted, raising
from test_attack27_cut_off_counter import _bodies
from test_cutoff27_withdraw_everywhere import (
    _bonded_past_a_kept_answer,
    _node,
    _ServedAlice,
    _stopped_on_disk,
    _World,
)
from test_cutoff28_final_withdraw import _withdrawn
from test_hidden_accept import _within

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock, service
from a2a_coop.transport import EscrowClient, serve
from a2a_coop.transport.errors import EVIDENCE_BUDGET_BYTES

# Offers of Alice's shown to E beside her Reject, in one Submit: E's one Stamp names them all.
PADDING = 150


def _rejected_in_a_large_stamp(
    w: _World, line: Sequence[VerifiedStatement], counter: VerifiedStatement, bob_mandate: bytes
) -> bytes:
    """Alice shows E the ``line`` to Bob's bonded ``counter`` with PADDING Offers of hers naming E and her
    Reject of the Counter, in one Submit: E takes the Reject first (ESC-014) under a Stamp naming them all.
    Returns the Reject's envelope."""
    due = w.clock.now_ms + 86_400_000
    small = w.alice.proposal(  # worth little: a hundred and fifty stay under her Mandate's cap
        escrow=w.party.did,
        gives=[service("hint", value=1, deadline_ms=due)],
        wants=[service("hint", value=1, deadline_ms=due)],
    )
    padding = [w.alice.offer(w.bob, small).envelope for _ in range(PADDING)]
    reject = w.alice.reject(counter, "not at these terms")
    shown = [*w.alice.setup, bob_mandate, *(vs.envelope for vs in line), *padding, reject.envelope]
    stamp = verify_statement(w.escrow.submit(shown)[-1])
    assert stamp.body == "stamp" and reject.digest in stamp.statement.stamp.statements
    return reject.envelope


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
def test_a_refusal_whose_evidence_does_not_fit_names_the_stamp_bob_reads_from_the_transcript(
    tmp_path: Path,
) -> None:
    """Over gRPC, E's refusal of Bob's Withdraw reaches him without its evidence (too large for the
    trailer) but with ``stamp_seq``; `a2a-coop resume` reads that Stamp from E's transcript, records the
    Withdraw as answered for good (exit 0, "not asked again"), and the next `resume` has nothing to ask.
    Before, each `resume` met a bare refusal and exited 3, asking E again until the claim window ended."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    signed: list[Any] = []
    story = _stopped_on_disk(
        bob, w, "answered", check=lambda peer, s: signed.append(peer.withdraw_cut_off(s.offer.negotiation_id))
    )
    reject = _rejected_in_a_large_stamp(w, story.line, story.ours, bob.mandate)
    shown = [*w.alice.setup, bob.mandate, *(vs.envelope for vs in story.line), signed[0][1].envelope]
    alice = _ServedAlice(story, w.alice)
    forger = Intercepted(w.escrow, "withdraw")  # E itself, its Withdraw Submits counted
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(alice, None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        with EscrowClient(via.target) as client, pytest.raises(IllegalTransition) as refused:
            client.submit(shown)  # what reaches a client over gRPC: no envelopes, the Stamp's seq
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert refused.value.evidence == () and refused.value.stamp_seq is not None
    entry, _, _ = w.escrow.get_transcript(refused.value.stamp_seq, 1)
    assert verify_statement(entry[0]).body == "stamp" and reject in entry
    assert len(entry[0]) > EVIDENCE_BUDGET_BYTES, "the Stamp alone must be past the trailer's budget"
    assert "Traceback" not in first.stderr + again.stderr, first.stderr + again.stderr
    assert (first.returncode, first.stdout) == (0, f"{short_id}  REJECTED\n"), first.stderr
    assert "ILLEGAL_TRANSITION" in first.stderr and "not asked again" in first.stderr, first.stderr
    assert (again.returncode, again.stdout) == (0, f"nothing to resume with {w.alice.did}\n"), again.stderr
    assert forger.seen == 2  # ours above, and the first resume's: the second asked nothing
    assert _withdrawn(w) == []  # E refused it: her Reject closed the Counter there
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
@pytest.mark.parametrize("where", ["E's Stamp of something else", "past E's head"])
def test_a_forged_refusal_naming_a_stamp_of_no_answer_proves_nothing(tmp_path: Path, where: str) -> None:
    """A man in the middle answers Bob's Withdraw with a bare refusal naming a ledger seq: of E's real Stamp
    of the line to his Counter (no answer to it), or past E's head. `resume` reads it, finds no Stamp of an
    answer to the Counter, exits 3 with the Withdraw owed; the next `resume` reaches E, which takes it."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "answered")
    seen = w.escrow.submit([*w.alice.setup, bob.mandate, *(vs.envelope for vs in story.line)])
    seq = verify_statement(seen[1]).header.seq if where == "E's Stamp of something else" else 10**6
    assert _bodies(seen)[1] == "stamp"
    forger = Intercepted(
        w.escrow, "withdraw", raising(IllegalTransition("the negotiation is REJECTED here", stamp_seq=seq))
    )
    alice = _ServedAlice(story, w.alice)
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(alice, None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert (first.returncode, first.stdout) == (3, f"{short_id}  REJECTED\n"), first.stderr
        assert "not taken yet" in first.stderr and "recorded" not in first.stderr, first.stderr
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert (again.returncode, again.stdout) == (0, f"{short_id}  REJECTED\n"), again.stderr
    assert forger.seen == 2 and _withdrawn(w) == [story.ours.digest]
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
def test_a_served_node_reads_the_stamp_its_escrows_refusal_names(tmp_path: Path) -> None:
    """Served Bob's witness reaches E over gRPC; Alice's Reject of his bonded Counter C3 (test_cutoff27's
    story) reached E first under a Stamp too large for a refusal. The node's Withdraw of C3 is refused bare
    but for ``stamp_seq``: it reads the Stamp, records the Withdraw as answered for good after one Submit
    -- where before it asked again at its doubling waits until the claim window ended."""
    w = _World(FixedClock(wall_clock_ms()))
    counted = Intercepted(w.escrow, "withdraw")  # E itself, its Withdraw Submits counted
    with serve(None, counted) as via, EscrowClient(via.target) as client:  # type: ignore[arg-type]
        node = _node(w, tmp_path / "bob.db", witness=True, via=client, lock_wait_s=0.005)
        try:
            offer, c1, kept, c2, c3 = _bonded_past_a_kept_answer(
                w, node, lambda c1: w.alice.reject(c1, "kept")
            )
            _rejected_in_a_large_stamp(w, [offer, c1, c2, c3], c3, w.bob.mandate_vs.envelope)
            node.exchange(kept.envelope, ())
            _within(10, lambda: node.peer.withdraw_final_why(offer.negotiation_id) != "")
            assert node.witness is not None
            node.witness.flush()
        finally:
            node.close()
    assert "ILLEGAL_TRANSITION" in node.peer.withdraw_final_why(offer.negotiation_id)
    assert counted.seen == 1 and _withdrawn(w) == []
