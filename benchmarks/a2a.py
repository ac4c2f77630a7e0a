"""The A2A binding's cost: ``python -m benchmarks a2a`` (needs the a2a extra).

Three series against one server on 127.0.0.1 (Bob: a journaled :class:`PeerNode`
serving CooperationService and A2A's gRPC binding on one gRPC port and A2A's
JSON-RPC binding on uvicorn, in this process), all driven by Alice's in-memory
:class:`Peer`:

* ``coop``: an unbonded trade (offer -> accept + delivery -> delivery +
  receipt -> receipt) through :class:`CooperationClient` (CooperationService);
* ``grpc``: the same trade through a stock a2a-sdk client on A2A's gRPC binding
  (no streaming), each statement an A2A message with the extension activated
  (:func:`a2a_coop.a2a.drive_a2a`);
* ``jsonrpc``: the same trade through a2a-sdk's client with its default
  settings: the JSON-RPC binding, each message sent as SendStreamingMessage.

Ratios (per round, medians reported; rates are trades per second):

* ``coop_vs_a2a_sdk_trade`` = coop trades/s / gRPC-binding trades/s: how many
  times faster the native service is than the same trade through a2a-sdk
  (1.0 means the A2A binding costs nothing);
* ``coop_vs_a2a_sdk_jsonrpc_trade``: the same for the JSON-RPC binding.

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
    grpc_factory = ClientFactory(
        ClientConfig(
            grpc_channel_factory=grpc.aio.insecure_channel,
            supported_protocol_bindings=["GRPC"],
            streaming=False,
        )
    )
    default_factory = ClientFactory(ClientConfig())  # a2a-sdk's defaults: JSON-RPC, streaming
    times: dict[str, list[float]] = {"coop": [], "grpc": [], "jsonrpc": []}
    messages_per_trade = 0
    try:
        with a2a.serve_a2a(node) as server, CooperationClient(server.target, timeout_s=10) as coop:
            async with (
                await grpc_factory.create_from_url(server.card_url) as grpc_client,
                await default_factory.create_from_url(server.card_url) as jsonrpc_client,
            ):
                clients = {"grpc": grpc_client, "jsonrpc": jsonrpc_client}

                def coop_trade() -> None:
                    offer = peer.propose(bob.did, proposal)
                    drive(peer, coop.exchange, offer)
                    assert peer.negotiation(offer.header.negotiation_id).state is State.FULFILLED

                async def a2a_trade(series: str) -> int:
                    offer = peer.propose(bob.did, proposal)
                    sent = 0
                    client = clients[series]

                    class Counting:
                        def send_message(self, request: Any, **kw: Any) -> Any:
                            nonlocal sent
                            sent += 1
                            return client.send_message(request, **kw)

                    task = await a2a.drive_a2a(peer, Counting(), offer)
                    assert peer.negotiation(offer.header.negotiation_id).state is State.FULFILLED
                    assert task is not None and task.id == offer.header.negotiation_id.hex()
                    return sent

                coop_trade()  # warm up every path once
                messages_per_trade = await a2a_trade("grpc")
                assert await a2a_trade("jsonrpc") == messages_per_trade
                order = ["coop", "grpc", "jsonrpc"]
                for r in range(args.rounds):
                    for series in order[r % 3 :] + order[: r % 3]:
                        start = time.perf_counter()
                        for _ in range(args.trades):
                            if series == "coop":
                                coop_trade()
                            else:
                                await a2a_trade(series)
                        times[series].append(time.perf_counter() - start)
    finally:
        node.close()
    n = args.trades
    ratio = {
        s: statistics.median(a / c for c, a in zip(times["coop"], times[s], strict=True))
        for s in ("grpc", "jsonrpc")
    }
    del a2a_pb2  # imported to fail early without the extra
    return {
        "benchmark": "a2a",
        "coop_vs_a2a_sdk_trade": ratio["grpc"],
        "coop_vs_a2a_sdk_jsonrpc_trade": ratio["jsonrpc"],
        "coop_trades_per_s": n / statistics.median(times["coop"]),
        "a2a_sdk_grpc_trades_per_s": n / statistics.median(times["grpc"]),
        "a2a_sdk_jsonrpc_trades_per_s": n / statistics.median(times["jsonrpc"]),
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
        print("the a2a benchmark needs the a2a extra: pip install -e '.[a2a]' in the a2a-coop checkout")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    rows = [
        ("coop trades/s (CooperationService)", result["coop_trades_per_s"]),
        ("a2a-sdk trades/s (gRPC binding)", result["a2a_sdk_grpc_trades_per_s"]),
        ("a2a-sdk trades/s (JSON-RPC, default client)", result["a2a_sdk_jsonrpc_trades_per_s"]),
        ("coop_vs_a2a_sdk_trade", result["coop_vs_a2a_sdk_trade"]),
        ("coop_vs_a2a_sdk_jsonrpc_trade", result["coop_vs_a2a_sdk_jsonrpc_trade"]),
    ]
    for name, value in rows:
        print(f"{name:<44} {value:10.2f}")
    print(json.dumps(result))
    return 0
