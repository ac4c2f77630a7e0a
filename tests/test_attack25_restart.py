"""redteam25: the newest trust-model state across a restart -- NEG-021's cut-back and NEG-022's stop.

A view's contract state, and a peer's decision to perform or not, are a function of the set of statements
it holds, never of its restarts. Alice signs her answers to Bob's offer naming no escrow with her own key
(each the next link of her chain) and times the reveal of a lower one around a restart of Bob's reference
peer (:class:`~a2a_coop.runtime.peer.Peer` on a SQLite :class:`~a2a_coop.runtime.journal.Journal`): with
no snapshot (the whole journal replayed), right after a snapshot of what it held, or with the statements
since a snapshot journaled and not snapshotted (replayed after it). Each test asserts first that the
attack happened -- her statements signed and taken, Bob's Delivery signed and journaled -- and then that
the restarted peer derives what the one that never restarted does.

Found here: a snapshot gave every negotiation it held with nothing superseded a copy of the shared empty
set (``negotiation._NONE_SUPERSEDED``, compared by identity), and the first statement that superseded
something there (every path through ``Negotiation._supersede``, a lower answer revealed late among them)
failed an assertion half-way through the verifier's commit: the statement held, its negotiation not moved,
every later copy of it refused ``REPLAYED`` -- Bob's peer stayed PERFORMING under the contract every other
view held given way, and a start from the same snapshot failed the same way, until one replayed the whole
journal. (cutback25 met and fixed the same in ``Negotiation._supersede``, through a verifier pickled alone;
these tests take it through the runtime's restarts.)
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_attack24_cut_back import _recount
from test_attack24_reveal_later import _bodies, _mirror

from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party, derive

# How Bob's peer restarts: "never"; the whole journal replayed (no snapshot); from a snapshot taken right
# before the restart; from a snapshot taken after his offer, the statements since replayed after it.
RESTARTS = ("never", "replay", "snapshot", "tail")


class _Bob:
    """Bob's reference peer on a journal at ``path``, restarted as ``how`` says."""

    def __init__(self, bob: Party, clock: FixedClock, path: Path, how: str) -> None:
        self.bob, self.clock, self.path, self.how = bob, clock, path, how
        self.nonces = itertools.count()
        self.starts: list[int | None] = []  # the journal position each start resumed from (None: replay)
        self.peer = self._open()

    def _open(self) -> Peer:
        peer = Peer(
            self.bob.agent.key,
            self.bob.mandate_vs.envelope,
            journal=Journal.open(self.path, durability="normal"),
            clock=lambda: self.clock.now_ms,
            nonce=lambda: derive(f"nonce/bob/{next(self.nonces)}", 16),
            snapshot_every=0 if self.how == "replay" else 1_000_000,  # none but those taken below
        )
        self.starts.append(peer.resumed_from)
        return peer

    def snapshot(self) -> None:
        if self.how in ("snapshot", "tail"):
            assert self.peer.save_snapshot(force=True)

    def restart(self) -> None:
        if self.how == "never":
            return
        if self.how == "snapshot":
            self.snapshot()
        assert self.peer.journal is not None
        self.peer.journal.close()
        self.peer = self._open()
        assert (self.starts[-1] is None) == (self.how == "replay")

    def journaled(self, body: str) -> list[VerifiedStatement]:
        assert self.peer.journal is not None
        found = (verify_statement(env) for _, _, env in self.peer.journal.statements())
        return [vs for vs in found if vs.body == body and vs.issuer == self.bob.did]

    def close(self) -> None:
        assert self.peer.journal is not None
        self.peer.journal.close()


def _offer(tmp_path: Path, how: str) -> tuple[FixedClock, Party, _Bob, VerifiedStatement]:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    b = _Bob(bob, clock, tmp_path / f"bob-{how}.db", how)
    offer = b.peer.propose(alice.did, bob.proposal())  # the terms name no escrow: the reference default
    b.snapshot()  # "tail": what follows is journaled, not snapshotted, at the restart
    clock.advance(1_000)
    return clock, alice, b, offer


def _displaced_index(peer: Peer, nid: bytes) -> dict[bytes, bytes]:
    """The index of what the displaced contracts hold (``Negotiation._displaced_by``), built if it was not,
    checked against a recount of them (escrowmem26)."""
    neg = peer.negotiation(nid)
    index = neg._displaced_index()
    assert index == _recount(neg)
    return index


def _state(peer: Peer, nid: bytes) -> tuple[str, bytes | None, frozenset[bytes]]:
    neg = peer.negotiation(nid)
    return (
        neg.state.value,
        None if neg.contract is None else neg.contract.accept.digest,
        frozenset(neg.superseded),
    )


@pytest.mark.req("NEG-021", "NEG-018")
@pytest.mark.parametrize("how", RESTARTS)
def test_a_lower_answer_revealed_after_bobs_restart_cuts_the_line_as_if_he_never_restarted(
    tmp_path: Path, how: str
) -> None:
    """Alice keeps a Reject of Bob's offer (seq 0) and sends an Accept one link above it; Bob's peer
    delivers; Bob's peer restarts; Alice reveals the Reject. The restarted peer takes it, and its
    negotiation is REJECTED with the Accept and Bob's Delivery superseded, in every way of restarting --
    before the fix, one restarted from a snapshot failed an assertion there, held the Reject, stayed
    PERFORMING, and refused the Reject sent again ``REPLAYED``."""
    clock, alice, b, offer = _offer(tmp_path, how)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert (kept.seq, accept.seq) == (0, 1) and accept.header.prev == kept.digest
    assert _bodies([vs.envelope for vs in b.peer.on_replies([*alice.setup, accept.envelope])]) == ["delivery"]
    (delivery,) = b.journaled("delivery")  # the attack happened: Bob performed, durably
    nid = offer.negotiation_id
    assert _state(b.peer, nid) == ("PERFORMING", accept.digest, frozenset())
    b.restart()
    assert _state(b.peer, nid) == ("PERFORMING", accept.digest, frozenset())
    clock.advance(1_000)
    assert _bodies(b.peer.exchange(kept.envelope, [])) == ["ack"]
    assert _state(b.peer, nid) == ("REJECTED", None, frozenset({accept.digest, delivery.digest}))
    assert kept.digest in {verify_statement(env).digest for _, _, env in b.peer.journal.statements()}  # type: ignore[union-attr]
    assert _displaced_index(b.peer, nid) == {delivery.digest: accept.digest}  # Bob's Delivery finds it
    b.restart()  # and again, once the Reject is journaled
    assert _state(b.peer, nid) == ("REJECTED", None, frozenset({accept.digest, delivery.digest}))
    assert _displaced_index(b.peer, nid) == {delivery.digest: accept.digest}
    b.close()


@pytest.mark.req("NEG-022", "NEG-021")
@pytest.mark.parametrize("how", RESTARTS)
def test_bobs_peer_restarted_between_reveals_still_signs_nothing_more_to_a_key_that_answered_twice(
    tmp_path: Path, how: str
) -> None:
    """Alice keeps three Counters of Bob's offer naming no escrow (seqs 0-2), sends an Accept (seq 3), and
    Bob's peer delivers; she reveals the Counters one at a time, highest first, Bob's peer restarting
    before each. After the first reveal Bob's peer answers with a Reject (NEG-022), which ends the
    negotiation: it is forgotten (bounded memory) and read back from the journal when the next lower
    Counter comes. Each reveal cuts the line back again and each is answered with a Reject saying why --
    the decision NEG-022 derives from the two answers held, in memory or read back, after any restart:
    one Delivery in all, and the same statements and state as the peer that never restarted."""
    clock, alice, b, offer = _offer(tmp_path, how)
    counters = []
    for _ in range(3):
        counters.append(alice.counter(offer, _mirror(offer)))
        clock.advance(1_000)
    accept = alice.accept(offer)
    assert [c.seq for c in counters] + [accept.seq] == [0, 1, 2, 3]
    assert _bodies([vs.envelope for vs in b.peer.on_replies([*alice.setup, accept.envelope])]) == ["delivery"]
    nid = offer.negotiation_id
    answers = []
    for i, counter in enumerate(reversed(counters)):
        b.restart()
        if i:  # ended by Bob's Reject: forgotten, in the journal only
            assert nid not in b.peer.verifier.negotiations.by_id
        clock.advance(1_000)
        answers.append(_bodies(b.peer.exchange(counter.envelope, [])))
        neg = b.peer.negotiation(nid)
        assert counter.digest not in neg.superseded and neg.state is State.REJECTED
    assert answers == [["reject"]] * 3
    assert len(b.journaled("delivery")) == 1
    rejects = b.journaled("reject")
    assert len(rejects) == 3 and all(
        "answered one offer of ours twice" in r.statement.reject.reason for r in rejects
    )
    b.restart()
    assert b.peer.negotiation(nid).state is State.REJECTED
    assert _state(b.peer, nid)[2] >= {accept.digest, *(c.digest for c in counters[1:])}
    b.close()


@pytest.mark.req("NEG-022", "NEG-021")
@pytest.mark.parametrize("how", RESTARTS)
def test_bobs_peer_restarted_around_the_reveal_still_performs_nothing_under_the_lower_accept(
    tmp_path: Path, how: str
) -> None:
    """Alice keeps an Accept of Bob's offer (seq 0) and sends a Counter above it; Bob's peer accepts the
    Counter and delivers; his peer restarts; Alice reveals the Accept -- lower, it binds Bob under his own
    offer (ACCEPTED) -- and his peer restarts again. NEG-022 holds his performance there in the peer that
    never restarted; the restarted one derives the same decision from the two answers its journal holds:
    nothing due signed after it (``perform_deferred``), nothing on asking (``perform``): one Delivery."""
    clock, alice, b, offer = _offer(tmp_path, how)
    lower = alice.accept(offer)
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror(offer))
    assert counter.header.prev == lower.digest
    sent = b.peer.on_replies([*alice.setup, counter.envelope])
    assert [vs.body for vs in sent] == ["accept", "delivery"]  # the attack happened: Bob performed
    b.restart()
    clock.advance(1_000)
    assert _bodies(b.peer.exchange(lower.envelope, [])) == ["ack"]
    b.restart()
    nid = offer.negotiation_id
    state, accept, superseded = _state(b.peer, nid)
    assert (state, accept) == ("ACCEPTED", lower.digest) and counter.digest in superseded
    clock.advance(10_000)
    assert b.peer.perform_deferred() == [] and b.peer.perform(nid) == []
    assert len(b.journaled("delivery")) == 1
    b.close()
