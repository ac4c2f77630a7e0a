"""The A2A binding's cost: ``python -m benchmarks a2a`` (needs the a2a extra).

Three series against one server on 127.0.0.1 (Bob: a journaled :class:`PeerNode`
serving CooperationService and A2A's A2AService on one gRPC port, in this
process), all driven by Alice's in-memory :class:`Peer`:

* ``coop``: an unbonded trade (offer -> accept + delivery -> delivery +
  receipt -> receipt) through :class:`CooperationClient` (CooperationService);
* ``a2a``: the same trade through a stock a2a-sdk client (ClientFactory, gRPC
  transport), each statement an A2A message with the extension activated
  (:func:`a2a_coop.a2a.drive_a2a`);
* ``plain``: one plain-text ``SendMessage`` through the same a2a-sdk client,
  answered by the same servicer without any signing: the A2A floor per message.

Ratios (per round, medians reported; rates are operations per second):

* ``coop_vs_a2a_sdk_trade`` = coop trades/s / a2a trades/s: how many times
  faster the native service is than the same trade through a2a-sdk (1.0 means
  the A2A binding costs nothing);
* ``coop_trade_vs_plain_sendmessage`` = A2A messages/s inside a2a trades /
  plain SendMessage/s: the share of a bare A2A round trip left once each
  message carries a signed, verified, journaled statement (1.0 means free).

Rounds interleave the series and rotate their order. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

CAPS = {"budget_per_period": 10**15, "max_outstanding": 10**15, "max_per_deal": 10**12}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks a2a", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--trades", type=int, default=20, help="trades per series per round (default 20)")
    p.add_argument("--quick", action="store_true", help="2 rounds of 3 trades (smoke test)")
    return p.parse_args(list(argv))


async def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from a2a.client import ClientConfig, ClientFactory
    from a2a.types import a2a_pb2

    from a2a_coop import a2a
    from a2a_coop.protocol.negotiation import State
    from a2a_coop.runtime.node import PeerNode
    from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
    from a2a_coop.testing import FixedClock, Party
    from a2a_coop.transport import CooperationClient

    clock = FixedClock(wall_clock_ms())  # dates the mandates; the peers use the wall clock
    alice, bob = Party("alice", clock, CAPS), Party("bob", clock, CAPS)
    node = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, directory / "bob.db")
    peer = Peer(alice.agent.key, alice.mandate_vs.envelope)
    proposal = alice.proposal()
    factory = ClientFactory(
        ClientConfig(
            grpc_channel_factory=grpc.aio.insecure_channel,
            supported_protocol_bindings=["GRPC"],
            streaming=False,
        )
    )
    times: dict[str, list[float]] = {"coop": [], "a2a": [], "plain": []}
    messages_per_trade = 0
    try:
        with a2a.serve_a2a(node) as server, CooperationClient(server.target, timeout_s=10) as coop:
            async with await factory.create_from_url(server.card_url) as client:

                def coop_trade() -> None:
                    offer = peer.propose(bob.did, proposal)
                    drive(peer, coop.exchange, offer)
                    assert peer.negotiation(offer.header.negotiation_id).state is State.FULFILLED

                async def a2a_trade() -> int:
                    offer = peer.propose(bob.did, proposal)
                    sent = 0

                    class Counting:
                        def send_message(self, request: Any, **kw: Any) -> Any:
                            nonlocal sent
                            sent += 1
                            return client.send_message(request, **kw)

                    task = await a2a.drive_a2a(peer, Counting(), offer)
                    assert task is not None and task.status.state == a2a_pb2.TASK_STATE_COMPLETED
                    return sent

                async def plain() -> None:
                    msg = a2a_pb2.Message(
                        message_id="bench", role=a2a_pb2.ROLE_USER, parts=[a2a_pb2.Part(text="hello")]
                    )
                    async for r in client.send_message(a2a_pb2.SendMessageRequest(message=msg)):
                        assert r.HasField("message")

                coop_trade()  # warm up every path once
                messages_per_trade = await a2a_trade()
                await plain()
                order = ["coop", "a2a", "plain"]
                for r in range(args.rounds):
                    for series in order[r % 3 :] + order[: r % 3]:
                        start = time.perf_counter()
                        for _ in range(args.trades):
                            if series == "coop":
                                coop_trade()
                            elif series == "a2a":
                                await a2a_trade()
                            else:
                                await plain()
                        times[series].append(time.perf_counter() - start)
    finally:
        node.close()
    n = args.trades
    coop_vs_a2a = [a / c for c, a in zip(times["coop"], times["a2a"], strict=True)]
    per_message = [p / (a / messages_per_trade) for a, p in zip(times["a2a"], times["plain"], strict=True)]
    return {
        "benchmark": "a2a",
        "coop_vs_a2a_sdk_trade": statistics.median(coop_vs_a2a),
        "coop_trade_vs_plain_sendmessage": statistics.median(per_message),
        "coop_trades_per_s": n / statistics.median(times["coop"]),
        "a2a_sdk_trades_per_s": n / statistics.median(times["a2a"]),
        "plain_sendmessage_per_s": n / statistics.median(times["plain"]),
        "a2a_messages_per_trade": messages_per_trade,
        "rounds": args.rounds,
        "trades_per_round": n,
    }


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    if args.quick:
        args.rounds, args.trades = 2, 3
    try:
        import a2a  # noqa: F401  # the extra is needed
    except ImportError:
        print('the a2a benchmark needs the a2a extra: pip install "a2a-coop[a2a]"')
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    rows = [
        ("coop trades/s (CooperationService)", result["coop_trades_per_s"]),
        ("a2a-sdk trades/s (A2A binding)", result["a2a_sdk_trades_per_s"]),
        ("plain SendMessage/s (no statement)", result["plain_sendmessage_per_s"]),
        ("coop_vs_a2a_sdk_trade", result["coop_vs_a2a_sdk_trade"]),
        ("coop_trade_vs_plain_sendmessage", result["coop_trade_vs_plain_sendmessage"]),
    ]
    for name, value in rows:
        print(f"{name:<40} {value:10.2f}")
    print(json.dumps(result))
    return 0
