"""A node's snapshot keeps what negotiations share: the empty superseded set (NEG-018).

Nearly every negotiation has superseded nothing and holds the one shared empty set
(``negotiation._NONE_SUPERSEDED``), so that it costs no memory. A node's snapshot
(``a2a_coop.runtime.snapshot``) pickles its verifier whole; pickled as a value, the shared set came
back as a copy, no longer the shared object. The snapshot's pickler now writes it by name and reads it
back as the object itself.
"""

from __future__ import annotations

import io

import pytest

from a2a_coop.protocol.negotiation import _NONE_SUPERSEDED, State
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime import snapshot
from a2a_coop.testing import FixedClock, Party


def _round_trip(view: Verifier) -> Verifier:
    """``view`` pickled and read back as a node's snapshot does it."""
    buffer = io.BytesIO()
    snapshot._Pickler(buffer, {}, ()).dump(view)
    read: Verifier = snapshot._Unpickler(io.BytesIO(buffer.getvalue()), {}).load()
    return read


def _view() -> tuple[Verifier, list[bytes], bytes, object]:
    """A view holding four negotiations (Bob's Offers to Alice), the first answered by Alice's higher
    Accept; the ids, that first negotiation's id, and her lower Accept of its Offer, not yet held."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offers = [bob.offer(alice, bob.proposal(), ttl_ms=600_000) for _ in range(4)]
    clock.advance(1)
    low = alice.accept(offers[0])
    clock.advance(1)
    high = alice.accept(offers[0])
    view = Verifier()
    for env in [*alice.setup, *bob.setup, *(o.envelope for o in offers)]:
        view.accept(env)
    view.accept_statement(high)
    return view, [o.negotiation_id for o in offers], offers[0].negotiation_id, (low, high)


def _sharing(view: Verifier, ids: list[bytes]) -> int:
    """How many of the negotiations ``ids`` hold the shared empty superseded set itself."""
    return sum(view.negotiations.by_id[i].superseded is _NONE_SUPERSEDED for i in ids)


def test_the_shared_empty_superseded_set_is_shared_after_a_snapshot_round_trip() -> None:
    view, ids, first, (low, high) = _view()
    assert _sharing(view, ids) == 4
    view = _round_trip(view)
    assert _sharing(view, ids) == 4  # was 0: each read back a copy
    # and twice over (a node snapshots again after a restart)
    view = _round_trip(view)
    assert _sharing(view, ids) == 4
    # _supersede still works: the lower Accept cuts the first line back (NEG-021), superseding the
    # higher one into a set of that negotiation's own; the shared one stays empty and shared by the rest
    view.accept_statement(low)
    neg = view.negotiations.by_id[first]
    assert neg.state is State.ACCEPTED and neg.contract is not None
    assert neg.contract.accept.digest == low.digest
    assert set(neg.superseded) == {high.digest} and neg.superseded is not _NONE_SUPERSEDED
    assert not _NONE_SUPERSEDED
    assert _sharing(view, ids) == 3


def test_without_the_shared_name_the_round_trip_copies_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count above can fail: pickled as a value (the pickler before), no negotiation read back holds
    the shared set."""
    monkeypatch.setattr(snapshot, "_SHARED", {})
    view, ids, _, _ = _view()
    assert _sharing(_round_trip(view), ids) == 0
