"""proof33: when the refused answers' re-ranking evidence (ATT-013 (e)) reaches the disk -- counted and
ordered by hooks and the test clock, never by sleeps.

proof32 let evidence that only re-ranks the proof against a key convicted durably join a later commit: the
next one another request waits for, the one a refusal waits for once the oldest such write is
RERANKED_EVIDENCE_MS old on the peer's clock, or the close's flush.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_answer_proof import _withdrawn
from test_proof32_refusal_writes import _answers, _refuse
from test_refused_flood import _BOOK, _Commits

from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import META_FORKS
from a2a_coop.testing import FixedClock


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_reranking_staged_while_a_commit_takes_the_one_before_is_flushed_at_close(tmp_path: Path) -> None:
    """Alice's third refused answer only re-ranks (its write not waited for); a commit another write makes
    takes it, and while that commit is on its way to the disk (held there by a hook) her fourth comes, its
    write staged for the commit after. The close's flush must make the fourth durable too: 4fd9d73's parent
    waited for the oldest re-ranking write only -- the third, durable already -- and the fourth, dated
    earliest of her four and so in the best pair, was lost with the process."""
    clock = FixedClock()
    journal = Journal.open(tmp_path / "bob.db")
    alice, _, peer, offer = _withdrawn(clock, journal)
    answers = _answers(clock, alice, offer, 4)
    for answer in answers[:3]:
        _refuse(peer, answer)
    commits = _Commits(journal, peer)

    def fourth_during_the_commit() -> None:
        commits.hold = lambda: None  # once
        _refuse(peer, answers[3])

    commits.hold = fourth_during_the_commit
    journal.put_meta("another/write", 1)  # another request's commit: it takes the third's write
    assert commits.total == 1 and journal._staged  # the fourth's, staged during it, left for the next
    peer.flush_evidence()  # as PeerNode.close does
    journal.close()  # the process ends: what no commit took is lost
    journal = Journal.open(tmp_path / "bob.db")
    (_, row), *_ = journal.forgotten_since(_BOOK, offer.negotiation_id, until=offer.negotiation_id)
    assert answers[3].envelope in row  # her earliest-dated answer
    assert answers[3].envelope in journal.get_meta(f"{META_FORKS}/{alice.did}")[:2]  # in the best pair
    journal.close()
