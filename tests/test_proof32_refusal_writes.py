"""proof32: what a flood of refused answers costs in durable writes -- counted in commits, not time.

proof31 made each refused answer that became one of its key's three (ATT-013 (c)) one commit, outside the
peer's lock but waited for before the refusal was told: a key dating each answer a ms before the last made
every request a durable write. Now (ATT-013 (e)) only the evidence that changes what the journal convicts
with is waited for -- a key's first refused answer to a statement, and the first proof against the key
with the row that made it --; what only re-ranks the proof against a key convicted durably joins the next
commit some other request makes, or the one a refusal waits for once such a write is
RERANKED_EVIDENCE_MS old on the peer's clock. The flooder chooses how many answers; the peer, the window.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import make_peer
from test_answer_proof import _withdrawn
from test_refused_flood import _BOOK, _Commits

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import META_FORKS, RERANKED_EVIDENCE_MS, Peer
from a2a_coop.testing import FixedClock, Party


def _answers(clock: FixedClock, alice: Party, offer: VerifiedStatement, n: int) -> list[VerifiedStatement]:
    """``n`` Rejects of ``offer`` by ``alice``, each dated a ms before the last: each the earliest, so each
    changes the book's row and the best pair against her."""
    base, out = clock.now_ms + 1_000, []
    for i in range(n):
        clock.now_ms = base - i
        out.append(alice.reject(offer, f"no {i}"))
    clock.now_ms = base
    return out


def _refuse(peer: Peer, answer: VerifiedStatement) -> None:
    with pytest.raises(CoopError):
        peer.exchange(answer.envelope, [])


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_clock_that_moves_flushes_the_reranking_once_per_window(tmp_path: Path) -> None:
    """Forty refused answers of one key, the peer's clock moving a quarter of the window between them: the
    re-ranking writes wait for a commit once per window -- 2 + 38 / 5 commits, where proof31 made forty. How
    many answers is the flooder's choice; how often they are written, the peer's."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, _, peer, offer = _withdrawn(clock, journal)
    answers = _answers(clock, alice, offer, 40)
    commits = _Commits(journal, peer)
    start = clock.now_ms
    for answer in answers:
        _refuse(peer, answer)
        clock.advance(RERANKED_EVIDENCE_MS // 4)
    windows = (clock.now_ms - start) // RERANKED_EVIDENCE_MS
    assert 2 < commits.total <= 2 + windows
    assert commits.under_lock == 0
    journal.close()


@pytest.mark.req("ATT-013", "ATT-022")
@pytest.mark.parametrize("sent", [1, 2, 3, 40])
def test_the_evidence_that_convicts_survives_a_crash_in_a_flood(tmp_path: Path, sent: int) -> None:
    """Bob's peer crashes (its journal closed, nothing flushed) after ``sent`` of Alice's refused answers:
    the restarted peer holds what convicts her -- her first answer's row, then the pair -- whatever the
    flood re-ranked in memory alone; after one answer, her next (sent after the restart) convicts her."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, bob, peer, offer = _withdrawn(clock, journal)
    answers = _answers(clock, alice, offer, 41)
    for answer in answers[:sent]:
        _refuse(peer, answer)
    assert peer.verifier._refused_aside or sent < 3  # re-ranked in memory alone, not yet durable
    journal.close()  # a crash: what no commit took is lost
    journal = Journal.open(tmp_path / "bob.db")
    peer = make_peer(bob, clock, journal=journal, run=1)
    nid = offer.negotiation_id
    (_, row), *_ = journal.forgotten_since(_BOOK, nid, until=nid)
    assert answers[0].envelope in row
    if sent == 1:
        assert not peer.reputation.score(alice.did).faulty
        _refuse(peer, answers[-1])
    assert peer.reputation.score(alice.did).faulty
    assert journal.get_meta(f"{META_FORKS}/{alice.did}") is not None
    journal.close()


@pytest.mark.req("ATT-013", "ATT-022")
def test_refusals_from_many_keys_cost_two_commits_per_audience_key_and_none_per_stranger(
    tmp_path: Path,
) -> None:
    """Forty fresh keys each reject Bob's offer to Alice: none is its audience, so none can sign a second
    answer Bob's peer would take -- no row, no proof, no commit. Four keys Bob addressed offers to (his
    choice) each flood ten refused answers: two commits each (the first answer, the pair), whatever each
    sends."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    _, bob, peer, offer = _withdrawn(clock, journal)
    commits = _Commits(journal, peer)
    for i in range(40):
        _refuse(peer, Party(f"fresh{i}", clock).reject(offer, "not mine"))
    assert commits.total == 0
    assert not peer.verifier._refused_aside and not peer.verifier.forks
    floods = []
    for i in range(4):
        key = Party(f"audience{i}", clock)
        theirs = peer.propose(key.did, bob.proposal())
        peer.on_replies(list(key.setup))
        clock.advance(1_000)
        withdraw = trade_pb2.Withdraw(offer=theirs.digest, reason="changed my mind")
        peer.sign("withdraw", withdraw, audience=key.did, negotiation_id=theirs.negotiation_id)
        floods.append((key, _answers(clock, key, theirs, 10)))
    commits.total = 0  # the offers and withdraws were Bob's own writes
    for _, answers in floods:
        for answer in answers:
            _refuse(peer, answer)
    assert commits.total == 2 * len(floods)
    assert all(peer.reputation.score(key.did).faulty for key, _ in floods)
    journal.close()
