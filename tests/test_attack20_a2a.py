"""attack20: timing oracles between a held and an unknown Task for a party behind mutual TLS (A2A-026).

Counted, not timed (the team's rule): a look-up in the journal is what an unknown Task costs; a Task held
in memory costs none, and one the agent forgot (archived in its journal) costs a rebuild from its
statements -- every one's signature checked again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a")

from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2
from peers import make_peer

from a2a_coop import a2a
from a2a_coop.a2a import handler as handler_module
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Party

UNKNOWN = "ab" * 32


class _World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FixedClock()
        carol = Party("carol", self.clock)
        self.alice, self.bob = Party("alice", self.clock), Party("bob", self.clock)
        self.node = PeerNode.open(
            carol.agent.key, carol.mandate_vs.envelope, tmp_path / "carol.db", clock=lambda: self.clock.now_ms
        )


def _counting(node: PeerNode) -> tuple[list[object], list[int], Any]:
    """Count the journal's queries (each a read of its database) and the negotiations rebuilt from it
    (``restore`` calls that found one); the third value undoes the counting."""
    negotiations = node.peer.verifier.negotiations
    restore = negotiations.restore
    journal = node.journal
    assert restore is not None and journal is not None
    read = journal._read
    looked: list[object] = []
    rebuilt: list[int] = []

    def counted_read(sql: str, args: tuple[Any, ...], **kw: Any) -> Any:
        looked.append(args)
        return read(sql, args, **kw)

    def counted(negotiation_id: bytes) -> Any:
        neg = restore(negotiation_id)
        if neg is not None:
            rebuilt.append(len(neg.history))
        return neg

    def undo() -> None:
        negotiations.restore = restore
        del journal._read

    negotiations.restore = counted
    journal._read = counted_read  # type: ignore[method-assign]
    return looked, rebuilt, undo


@pytest.mark.req("A2A-026", "A2A-025")
def test_a_party_listing_a_held_task_id_costs_the_agent_what_an_unknown_one_does(tmp_path: Path) -> None:
    """Bob, a party of other negotiations, lists the context of a Task id (A2A-020: an unbound negotiation's
    context is its Task id). A Task of Alice's -- held unbound, held bound, or forgotten (archived in the
    journal) -- answers the empty list an unknown id does, and must cost what the unknown one costs: before,
    the forgotten one was rebuilt from its statements (every signature checked again) to be refused."""
    w = _World(tmp_path)
    try:
        pa = make_peer(w.alice, w.clock)
        unbound = pa.propose(w.node.peer.did, w.alice.proposal())
        w.node.exchange(unbound.envelope, pa.send_context())
        w.clock.advance(1000)
        bound = pa.propose(w.node.peer.did, w.alice.proposal())
        w.node.exchange(bound.envelope, pa.send_context())
        w.clock.advance(1000)
        forgotten = pa.propose(w.node.peer.did, w.alice.proposal())
        w.node.exchange(forgotten.envelope, pa.send_context())
        assert w.node.peer.verifier.forget_negotiation(forgotten.header.negotiation_id)
        handler = a2a.CoopRequestHandler(
            w.node, a2a_pb2.AgentCard, identify=lambda _ctx: w.bob.agent.did, private_tasks=True
        )
        bound_id = bound.header.negotiation_id.hex()
        handler._bind_context(bound_id, bound_id)  # Alice bound it under its Task id (A2A-027)
        looked, rebuilt, undo = _counting(w.node)
        costs = []
        for task_id in (
            unbound.header.negotiation_id.hex(),
            bound_id,
            forgotten.header.negotiation_id.hex(),
            UNKNOWN,
        ):
            looked.clear()
            rebuilt.clear()
            got = _run(handler.on_list_tasks(a2a_pb2.ListTasksRequest(context_id=task_id), _v1()))
            assert list(got.tasks) == [] and got.total_size == 0
            costs.append((len(looked), len(rebuilt)))
        undo()
        assert costs == [(1, 0)] * 4, costs
    finally:
        w.node.close()


@pytest.mark.req("A2A-026", "A2A-025")
def test_a_party_refused_a_forgotten_task_costs_no_rebuild(tmp_path: Path) -> None:
    """A Task the agent forgot (its negotiation archived in its journal): refusing it to Bob, no party of
    it, must not rebuild it from its statements -- an unknown Task rebuilds nothing, and a rebuild checks
    every statement's signature again (milliseconds against the tens of microseconds of a miss)."""
    w = _World(tmp_path)
    try:
        pa = make_peer(w.alice, w.clock)
        offer = pa.propose(w.node.peer.did, w.alice.proposal())
        w.node.exchange(offer.envelope, pa.send_context())
        nid = offer.header.negotiation_id
        assert w.node.peer.verifier.forget_negotiation(nid)
        assert nid not in w.node.peer.verifier.negotiations.by_id
        handler = a2a.CoopRequestHandler(
            w.node, a2a_pb2.AgentCard, identify=lambda _ctx: w.bob.agent.did, private_tasks=True
        )
        looked, rebuilt, undo = _counting(w.node)
        decoded: list[bytes] = []
        real_decode = handler_module.decode_statement

        def counted_decode(payload: bytes) -> Any:
            decoded.append(payload)
            return real_decode(payload)

        answers, costs = [], []
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(handler_module, "decode_statement", counted_decode, raising=False)
            for task_id in (nid.hex(), UNKNOWN):
                looked.clear()
                rebuilt.clear()
                decoded.clear()
                with pytest.raises(Exception) as refused:
                    handler._visible(task_id, ServerCallContext(state={}))
                answers.append((type(refused.value).__name__, str(refused.value).replace(task_id, "ID")))
                costs.append((len(looked), len(rebuilt), len(decoded)))
        undo()
        assert answers[0] == answers[1] and answers[0][0] == "TaskNotFoundError"
        # one journal query, no rebuild, one statement decoded: held (forgotten) and unknown alike
        assert costs[0] == costs[1] == (1, 0, 1), costs
        # Alice, a party of it, still reads it.
        alice = a2a.CoopRequestHandler(
            w.node, a2a_pb2.AgentCard, identify=lambda _ctx: w.alice.agent.did, private_tasks=True
        )
        assert alice._visible(nid.hex(), ServerCallContext(state={})).id == nid
    finally:
        w.node.close()


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _v1() -> ServerCallContext:
    return ServerCallContext(state={"headers": {"a2a-version": "1.0"}})
