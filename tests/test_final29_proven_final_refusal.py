"""final29: a Withdraw of a cut-off bonded Counter is answered for good only by the escrow's signed word.

cutoff28 recorded Bob's Withdraw of his cut-off bonded Counter as final (``Peer.withdraw_final``) on an
escrow refusal whose code a repeat meets again, or an answer that did not take it. Neither is signed:
whoever answered for E once (tests/test_attack29_forged_final_refusal.py: a forged ILLEGAL_TRANSITION)
kept the Withdraw from E for good, and Alice's Accept there took Bob's bond. Now E's refusal carries its
Mandate, its Stamp of the answer it took first and that answer (RPC-006 (b)); Bob takes it as final only
when he then holds E's Stamp of an answer to the Counter, or of the negotiation's contract
(``Peer.closed_at_escrow``); anything else -- no evidence, evidence E never signed, an answer taking
nothing -- leaves the Withdraw owed: the next `a2a-coop resume` asks again, a served node at its doubling
waits. Who chose the values: whoever answered Bob's Submit (the code, the envelopes); only E's key signs
what is taken as proof. The interference is injected by what the runtime reaches as E (``_Forger``), never
by waiting out a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from peers import Forge, Intercepted, answering, escrow_node
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
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock, LocalEscrow
from a2a_coop.transport import serve


def _refused(evidence: tuple[bytes, ...] = ()) -> Forge:
    def forge(envelopes: Sequence[bytes]) -> list[bytes]:
        raise IllegalTransition("the negotiation is REJECTED here", evidence=evidence)

    return forge


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
@pytest.mark.parametrize("restarted", [False, True])
def test_the_escrow_refuses_a_withdraw_it_closed_with_its_stamp_of_the_answer_it_took(
    tmp_path: Path, restarted: bool
) -> None:
    """E took Alice's Reject of Bob's bonded Counter first: it refuses his Withdraw of it ILLEGAL_TRANSITION,
    carrying its Mandate, its Stamp that named her Reject and the Reject -- before, no evidence at all. The
    same from a journaled escrow node restarted in between (the ended negotiation forgotten, read back)."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    signed: list[Any] = []
    story = _stopped_on_disk(
        bob, w, "answered", check=lambda peer, s: signed.append(peer.withdraw_cut_off(s.offer.negotiation_id))
    )
    (_, withdraw), line = signed[0], [vs.envelope for vs in story.line]
    reject = w.alice.reject(story.ours, "not at these terms")
    e: LocalEscrow | EscrowNode = w.escrow
    if restarted:
        e = escrow_node(w.party, w.clock, tmp_path / "e.db")
    assert _bodies(e.submit([*w.alice.setup, bob.mandate, *line, reject.envelope]))[-1] == "stamp"
    if isinstance(e, EscrowNode):
        e.close()
        e = escrow_node(w.party, w.clock, tmp_path / "e.db")
    try:
        with pytest.raises(IllegalTransition) as refused:
            e.submit([*w.alice.setup, bob.mandate, *line, withdraw.envelope])
    finally:
        if isinstance(e, EscrowNode):
            e.close()
    mandate, stamp, answer = refused.value.evidence
    assert (mandate, answer) == (w.escrow.mandate, reject.envelope)
    held = verify_statement(stamp)
    assert held.issuer == w.party.did and reject.digest in held.statement.stamp.statements


def _forgeries(w: _World, story: Any, bob_mandate: bytes) -> dict[str, Forge]:
    """Answers to Bob's Withdraw that E never gave, each from envelopes anyone can get: E's Mandate, E's
    real Stamp of the line to Bob's Counter (a Submit of Alice's), and a Reject of the Counter Alice signs
    and never shows E."""
    seen = w.escrow.submit([*w.alice.setup, bob_mandate, *(vs.envelope for vs in story.line)])
    reject = w.alice.reject(story.ours, "never shown to E").envelope
    return {
        "refused, no evidence": _refused(),
        "refused, E's Stamp of something else": _refused((seen[0], seen[1], reject)),
        "answered with E's Mandate alone": answering([w.escrow.mandate]),
        "answered with E's Stamp of something else": answering([seen[0], seen[1], reject]),
    }


@pytest.mark.req("NEG-024", "ESC-014", "RPC-006")
@pytest.mark.parametrize(
    "forgery",
    [
        "refused, no evidence",
        "refused, E's Stamp of something else",
        "answered with E's Mandate alone",
        "answered with E's Stamp of something else",
    ],
)
def test_a2a_coop_resume_asks_again_after_an_answer_e_did_not_sign(tmp_path: Path, forgery: str) -> None:
    """Bob's first `a2a-coop resume` meets an answer to his Withdraw E never gave -- a refusal, bare or with
    evidence E signed about something else, or an answer that takes nothing: it exits 3, the Withdraw not
    taken yet, and records nothing; the next one shows E the Withdraw, E takes it, and Alice's Accept of the
    Counter binds nothing. Before, each of them ended the Withdraw for good (exit 0: "finished")."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, "answered")
    alice = _ServedAlice(story, w.alice)
    forger = Intercepted(w.escrow, "withdraw", _forgeries(w, story, bob.mandate)[forgery])
    short_id = story.offer.negotiation_id.hex()[:12]
    with serve(alice, None) as to, serve(None, forger) as via:  # type: ignore[arg-type]
        first = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
        assert (first.returncode, first.stdout) == (3, f"{short_id}  REJECTED\n"), first.stderr
        assert "not taken yet" in first.stderr and "recorded" not in first.stderr, first.stderr
        assert _withdrawn(w) == []
        again = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert (again.returncode, again.stdout) == (0, f"{short_id}  REJECTED\n"), again.stderr
    assert forger.seen == 2 and _withdrawn(w) == [story.ours.digest]
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)


@pytest.mark.req("NEG-024", "ESC-014")
@pytest.mark.parametrize("forge", ["refused", "answered"])
def test_a_served_node_asks_again_at_its_doubling_waits_after_an_answer_e_did_not_sign(
    tmp_path: Path, forge: str
) -> None:
    """Served Bob's witness withdraws his cut-off bonded Counter C3 (test_cutoff27's story); the first three
    Submits of the Withdraw meet a forged refusal (or E's Mandate alone): it asks again without a restart,
    once per failed ask -- four Submits, the fourth reaching E, which takes it -- where before the first
    forgery ended it for good and Alice's Accept of C3 at E took his bond."""
    w = _World(FixedClock())
    forger = Intercepted(
        w.escrow, "withdraw", _refused() if forge == "refused" else answering([w.escrow.mandate]), 3
    )
    node = _node(w, tmp_path / "bob.db", witness=True, via=forger, lock_wait_s=0.005)  # type: ignore[arg-type]
    try:
        offer, c1, kept, c2, c3 = _bonded_past_a_kept_answer(w, node, lambda c1: w.alice.reject(c1, "kept"))
        node.exchange(kept.envelope, ())
        _within(10, lambda: _withdrawn(w) == [c3.digest])
        assert node.witness is not None
        node.witness.flush()
        assert forger.seen == 4
        assert node.peer.cut_off_counter(offer.negotiation_id) is None
        assert node.peer.withdraw_final_why(offer.negotiation_id) == ""
    finally:
        node.close()
    assert "bond_lock" not in w.alice_takes_the_bond([offer, c1, c2, c3], c3, w.bob)
