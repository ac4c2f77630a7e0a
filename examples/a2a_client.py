"""Using a2a-coop from an existing A2A agent: a stock a2a-sdk client trades with an a2a-coop peer.

Run it (needs the a2a extra: ``pip install "a2a-coop[a2a]"``)::

    python examples/a2a_client.py

It starts Bob, an a2a-coop peer serving A2A's three bindings (JSON-RPC and HTTP+JSON over HTTP,
gRPC on one port with CooperationService) and his AgentCard. Then Alice, an ordinary A2A client
built with a2a-sdk's ClientFactory and its default settings (JSON-RPC, streaming), discovers Bob
from his card, activates the a2a-coop extension and trades: her
Peer signs each statement, the A2A client carries it as a Part, and Bob's signed answers come
back in the Task. At the end Alice fetches the Task and verifies its receipt Artifact offline.
Keys and mandates are throwaway ones made for the demo.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from a2a.client import ClientConfig, ClientFactory
from a2a.types import a2a_pb2

from a2a_coop import a2a
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.testing import FixedClock, Party


async def alice_trades(card_url: str, alice: Party) -> None:
    peer = Peer(alice.agent.key, alice.mandate_vs.envelope)
    factory = ClientFactory(ClientConfig())  # a2a-sdk's defaults: JSON-RPC, streaming
    async with await factory.create_from_url(card_url) as client:  # fetches the AgentCard
        card = await client.get_extended_agent_card(a2a_pb2.GetExtendedAgentCardRequest())
        params = a2a.coop_params(card)
        if params is None:
            raise SystemExit(f"{card.name} does not speak a2a-coop")
        print(f"discovered {card.name}: {params['did'][:24]}... mandate {params['mandate'][:16]}...")

        offer = peer.propose(params["did"], alice.proposal())
        task = await a2a.drive_a2a(peer, client, offer)  # offer, deliveries, receipts
        assert task is not None
        print(f"task {task.id}: {a2a_pb2.TaskState.Name(task.status.state)}")

        task = await a2a.whole_task(client, task.id)  # every Artifact, a long contract's in parts
        for artifact in task.artifacts:
            bundle = a2a.envelopes_in(artifact.parts)
            report = verify_transcript(bundle)  # offline: needs nothing but the bundle
            last = verify_statement(bundle[-1])
            print(f"  {artifact.name:<8} by {last.issuer[:24]}...  verifies offline: {report.valid}")


def main() -> None:
    clock = FixedClock(wall_clock_ms())  # only to date the demo mandates; the peers use the wall clock
    alice, bob = Party("alice", clock), Party("bob", clock)
    with tempfile.TemporaryDirectory() as tmp:
        node = PeerNode.open(bob.agent.key, bob.mandate_vs.envelope, Path(tmp) / "bob.db")
        try:
            with a2a.serve_a2a(node, name="bob") as server:
                print(f"bob serves A2A: gRPC on {server.target}, JSON-RPC and HTTP+JSON at {server.card_url}")
                asyncio.run(alice_trades(server.card_url, alice))
        finally:
            node.close()


if __name__ == "__main__":
    main()
