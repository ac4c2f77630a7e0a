"""Work a request leaves that its answer need not wait for runs once the answer is on its way
(RELIABILITY.md, "Under load: what a trade does between durable and answered (twenty-first session,
helper perftrade21)"): a served escrow forgets the contracts a Submit settled when that Submit's RPC ends,
not when the next Submit takes its lock -- in a sequential trade that was on the path of every first
Submit. Memory only: the journal holds them (durable before the answer left) and answers for them once
forgotten."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from peers import bonded_proposal, peer_node, served_peer

from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import EscrowClient, serve

FUNDS = 10**9


def _world(tmp_path: Path, **kw: int) -> tuple[FixedClock, Party, Party, Party, EscrowNode]:
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key,
        e.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        **kw,  # type: ignore[arg-type]
    )
    for party in (alice, bob):
        escrow.deposit(party.did, FUNDS)
    return clock, alice, bob, e, escrow


def _forgotten_within(escrow: EscrowNode, nid: bytes, seconds: float) -> bool:
    """Whether the escrow's memory lets ``nid`` go within ``seconds`` (the RPC's end is on grpc's thread,
    a moment after the caller has the answer)."""
    deadline = time.monotonic() + seconds
    while nid in escrow.escrow.verifier.negotiations.by_id:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_served_escrow_forgets_a_settled_contract_once_the_submit_is_answered(tmp_path: Path) -> None:
    """Bonded trades through a served escrow (gRPC), no Submit after each: every settled contract leaves
    the escrow's memory all the same, and the journal still answers for it (a repeat of a Submit gets
    the same answer). Before, it stayed in memory until the next Submit."""
    clock, alice, bob, e, escrow = _world(tmp_path)
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    a = served_peer(alice, clock, context=[e.mandate_vs.envelope])
    try:
        with serve(None, escrow) as server:
            client = EscrowClient(server.target)
            try:
                for _ in range(2):
                    neg = run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=client)
                    assert a.negotiation(neg.id).state is State.FULFILLED
                    assert _forgotten_within(escrow, neg.id, 5.0)  # no other Submit came
                    assert escrow.escrow.verifier.negotiations.find(neg.id) is not None  # the journal's
                    clock.advance(10_000)
            finally:
                client.close()
    finally:
        node.close()
        escrow.close()


def test_after_reply_never_waits_for_the_lock(tmp_path: Path) -> None:
    """While another Submit holds the escrow's lock, ``after_reply`` returns at once and forgets nothing
    (grpc's thread must not block on it); the next Submit forgets at its start, as before."""
    clock, alice, bob, e, escrow = _world(tmp_path)
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    a = served_peer(alice, clock, context=[e.mandate_vs.envelope])
    try:
        neg = run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)  # in process
        assert a.negotiation(neg.id).state is State.FULFILLED
        assert neg.id in escrow.escrow.verifier.negotiations.by_id  # in process: nobody called after_reply
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with escrow.lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert held.wait(10)
        started = time.monotonic()
        escrow.after_reply()
        assert time.monotonic() - started < 1.0
        assert neg.id in escrow.escrow.verifier.negotiations.by_id
        release.set()
        holder.join(10)
        escrow.after_reply()
        assert neg.id not in escrow.escrow.verifier.negotiations.by_id
    finally:
        node.close()
        escrow.close()


def test_after_reply_once_closed_touches_nothing(tmp_path: Path) -> None:
    """An RPC that ends as its escrow closes (gRPC calls back after the answer left): ``after_reply`` finds
    the node closed -- its journal with it, where a forgotten contract's records are read -- and leaves
    memory as it is, raising nothing. (No snapshots: one at close would forget them first.)"""
    clock, alice, bob, e, escrow = _world(tmp_path, snapshot_every=0)
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    a = served_peer(alice, clock, context=[e.mandate_vs.envelope])
    try:
        neg = run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
        assert neg.id in escrow.escrow.verifier.negotiations.by_id and escrow._forgettable
    finally:
        node.close()
        escrow.close()
    escrow.after_reply()
    assert neg.id in escrow.escrow.verifier.negotiations.by_id
