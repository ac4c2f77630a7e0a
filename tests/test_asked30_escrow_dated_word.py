"""asked30: "asked the escrow" only on the escrow's signed word, dated past the cutoff, naming the offer.

ESC-013 (i): an escrow answering a Submit of an Offer or Counter naming it, past its bonding cutoff
(expires_at_ms + 30 s, by the escrow's clock) and holding no Accept of it, adds its Checkpoint naming the
offer in header.refs -- one per offer, signed the first time and given again after, a repeat of the Submit
(ESC-007) and a restart included. The offerer's runtime records the offer asked (``Peer.asked_escrow``,
which frees its value and exclusive_key) only on that Checkpoint, by the key the offer names, dated past
the cutoff; else it asks again (a served node at its doubling waits, capped; `resume` exits 3).
red team 30's replay of E's Mandate alone is tests/test_attack30_mandate_alone_past_cutoff.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_run import run_cli
from test_hidden_accept import (
    FUNDS,
    CountersWithItsBond,
    Market,
    _HidesItsAccept,
    _within,
    bobs_offer_at_a_served_escrow,
    escrow_opener,
)

from a2a_coop.cli.demo import provision
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import BOND_GRACE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import peer as peer_module
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.trade import ask_escrow_alone, hidden_accept_check_ms
from a2a_coop.testing import LocalEscrow
from a2a_coop.transport import serve


def _checkpoints(answer: Sequence[bytes]) -> list[VerifiedStatement]:
    return [vs for vs in map(verify_statement, answer) if vs.body == "checkpoint"]


@pytest.mark.req("ESC-013", "ESC-007")
def test_the_escrow_names_the_offer_past_its_cutoff_in_one_checkpoint_journaled_and_given_again(
    tmp_path: Path,
) -> None:
    """The escrow process: Bob's bonded Offer submitted before its cutoff is answered with no Checkpoint;
    the same Submit past the cutoff (a repeat, ESC-007) with E's Checkpoint naming it, dated past the
    cutoff, with the right log_root (E's own verifier checks it, CHN-007); a third Submit, and one after a
    restart, give that same Checkpoint again, signing nothing. The escrow's audit passes its transcript."""
    m = Market()
    open_escrow = escrow_opener(m, tmp_path / "e.db")

    node = open_escrow()
    try:
        offer, submitted = bobs_offer_at_a_served_escrow(m, node)
        assert _checkpoints(node.submit(submitted)) == []
        m.clock.now_ms = offer.header.expires_at_ms + BOND_GRACE_MS  # the cutoff itself: an Accept may come
        assert _checkpoints(node.submit(submitted)) == []
        m.clock.now_ms += 1
        size = node.escrow.ledger_size
        (checkpoint,) = _checkpoints(past := node.submit(submitted))
        assert checkpoint.issuer == node.escrow.did and list(checkpoint.header.refs) == [offer.digest]
        assert checkpoint.header.issued_at_ms > offer.header.expires_at_ms + BOND_GRACE_MS
        assert node.escrow.ledger_size == size + 1
        assert node.submit(submitted) == past and node.escrow.ledger_size == size + 1
    finally:
        node.close()
    node = open_escrow()
    try:
        assert node.submit(submitted) == past and node.escrow.ledger_size == size + 1
        report = audit_ledger(node.escrow.transcript(), escrow=node.escrow.did)
        assert report.ok, report.findings
    finally:
        node.close()


@pytest.mark.req("ESC-013", "ESC-012")
def test_an_escrow_holding_an_accept_names_the_offer_in_no_checkpoint() -> None:
    """E holds Mallory's Accept of Bob's Offer: past the cutoff it answers with the Accept (ESC-012) and no
    Checkpoint -- whoever strips the Accept from that answer leaves nothing that frees the offer."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    accept = m.mallory.accept(offer)
    m.escrow.submit([*m.mallory.setup, *m.b.send_context(), offer.envelope, accept.envelope])
    m.clock.now_ms = offer.header.expires_at_ms + BOND_GRACE_MS + 1
    answer = m.escrow.submit([*m.b.send_context(), offer.envelope])
    assert _checkpoints(answer) == [] and accept.envelope in answer


class _AnswersFor:
    """What Bob's runtime reaches as E: the first ``times`` Submits past ``after_ms`` are answered with
    ``forged`` (E never sees them); every other Submit goes to E."""

    def __init__(self, escrow: LocalEscrow, market: Market, forged: list[bytes], times: int = 1) -> None:
        self.escrow, self.market, self.forged, self.times = escrow, market, forged, times
        self.after_ms, self.forgeries, self.submits = 0, 0, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submits += 1
        if self.after_ms and self.market.clock.now_ms >= self.after_ms and self.forgeries < self.times:
            self.forgeries += 1
            return list(self.forged)
        return self.escrow.submit(envelopes)


@pytest.mark.req("ESC-013", "NEG-020")
def test_a_served_node_takes_its_unaccepted_counter_as_asked_only_on_the_escrows_checkpoint(
    tmp_path: Path,
) -> None:
    """Served Bob's bonded Counter nobody accepted; his node asks E past the cutoff and meets E's Mandate
    replayed three times: nothing is recorded, and it asks again at its doubling waits until E answers
    with its Checkpoint naming the Counter -- then recorded, and asked no more."""
    m = Market()
    via = _AnswersFor(m.escrow, m, [m.escrow.mandate], times=3)
    witness = EscrowWitness(via, m.escrow.did, lock_wait_s=0.005)  # type: ignore[arg-type]
    node = m.bob_node(tmp_path, CountersWithItsBond(escrow=m.escrow.did), witness=witness)
    try:
        opening, answers = m.mallory_opens(node)
        counter = next(vs for vs in answers if vs.body == "counter")
        nid = opening.negotiation_id
        check_at = hidden_accept_check_ms(node.peer, node.peer.negotiation(nid))
        assert check_at is not None
        via.after_ms = m.clock.now_ms = check_at
        node.ask_about_offer(nid)
        assert via.forgeries == 1 and not node.peer.asked_at_escrow(nid)
        _within(10, lambda: node.peer.asked_at_escrow(nid))
        assert node.witness is not None
        node.witness.flush()
        assert via.forgeries == 3 and via.submits >= 4
        ledger = [verify_statement(e) for e in m.escrow.escrow.ledger()]
        assert [list(vs.header.refs) for vs in ledger if vs.body == "checkpoint"] == [[counter.digest]]
        submits = via.submits
        node.ask_about_offer(nid)  # asked past the cutoff: no watch left to ask again
        node.witness.flush()
        assert via.submits == submits + 1 and node.peer.asked_at_escrow(nid)
    finally:
        node.close()


@pytest.mark.req("ESC-013")
@pytest.mark.parametrize("forgery", ["Mandate alone", "a Checkpoint of E's naming another offer"])
def test_an_answer_without_the_escrows_word_on_this_offer_frees_nothing(forgery: str) -> None:
    """ask_escrow_alone past the cutoff of Bob's unanswered bonded Offer: an answer of E's Mandate alone,
    or with E's genuine Checkpoint naming another offer of his, records nothing; E's own answer, asked
    again, then records it."""
    m = Market()
    other = m.b.propose(m.mallory.did, m.proposal())
    offer = m.b.propose(m.mallory.did, m.proposal())
    m.escrow.submit([*m.b.send_context(), other.envelope, offer.envelope])
    m.clock.now_ms = offer.header.expires_at_ms + BOND_GRACE_MS + 60_001
    about_other = m.escrow.submit([*m.b.send_context(), other.envelope])
    (elsewhere,) = _checkpoints(about_other)
    assert list(elsewhere.header.refs) == [other.digest]
    forged = [m.escrow.mandate] if forgery == "Mandate alone" else [m.escrow.mandate, elsewhere.envelope]
    via = _AnswersFor(m.escrow, m, forged)
    via.after_ms = m.clock.now_ms
    ask_escrow_alone(m.b, via, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert via.forgeries == 1 and not m.b.asked_at_escrow(offer.negotiation_id)
    ask_escrow_alone(m.b, via, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert m.b.asked_at_escrow(offer.negotiation_id)


class _ReplaysAfterTheWait:
    """The escrow as Bob's CLI reaches it: while ``replaying``, every Submit is answered with E's Mandate
    alone by whoever answers for E (E never sees it); else it goes to E."""

    def __init__(self, escrow: EscrowNode) -> None:
        self.escrow, self.replaying, self.replayed = escrow, False, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.escrow, name)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.replaying:
            self.replayed += 1
            return [self.escrow.mandate]
        return self.escrow.submit(envelopes)


@pytest.mark.req("ESC-013")
def test_offer_exits_3_on_an_answer_past_the_cutoff_without_the_escrows_word_and_resume_asks_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`a2a-coop offer` to a server that answers nothing: past the cutoff its ask meets E's Mandate alone --
    not EXPIRED (exit 1) as before, but unfinished (exit 3, saying `resume` asks again); a `resume` meeting
    the same replay exits 3 too; the next reaches E, whose Checkpoint names the offer: EXPIRED, finished
    (exit 0)."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db", faucet=FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    mallorys = _HidesItsAccept(node, escrow)
    via = _ReplaysAfterTheWait(escrow)
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds < 60:
            return real_sleep(seconds)
        via.replaying = True  # the ask past the cutoff meets the replay
        offset = peer_module._test_offset_ms + int(seconds * 1000) + 1000  # and a second on
        monkeypatch.setattr(peer_module, "_test_offset_ms", offset)

    monkeypatch.setattr(time, "sleep", sleep)
    try:
        with serve(None, via) as escrow_server, serve(mallorys, None) as mallory_server:  # type: ignore[arg-type]
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            code, out, err = run_cli(
                capsys, "offer", *argv, "--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5"
            )
            assert via.replayed and code == 3 and "EXPIRED" not in out, (code, out, err)
            assert "ESC-013 (i)" in err and "a2a-coop resume" in err, err
            code, out, err = run_cli(capsys, "resume", *argv)
            assert code == 3 and "EXPIRED" not in out, (code, out, err)
            assert "did not finish" in err and "ESC-013 (i)" in err, err
            via.replaying = False
            code, out, err = run_cli(capsys, "resume", *argv)
        assert code == 0 and "EXPIRED" in out, (code, out, err)
        assert "expired unanswered" in err, err
    finally:
        node.close()
        escrow.close()
