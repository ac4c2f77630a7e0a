"""The calling side: drive a trade through a stock a2a-sdk client, the extension activated."""

from __future__ import annotations

from typing import Any

from a2a.types import a2a_pb2

from a2a_coop.a2a.parts import activation, answers_of, statement_message, task_id_for
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.peer import Peer


async def drive_a2a(
    peer: Peer, client: Any, first: VerifiedStatement, *, form: str = "raw", max_steps: int = 64
) -> a2a_pb2.Task | None:
    """:func:`a2a_coop.runtime.peer.drive` over a stock a2a-sdk ``Client``: send ``first`` and whatever we
    owe next, each as an A2A message with the extension activated. Returns the last Task seen."""
    queue = [first]
    task: a2a_pb2.Task | None = None
    for _ in range(max_steps):
        if not queue:
            return task
        vs = queue.pop(0)
        task_id = task_id_for(vs.header.negotiation_id) if task is not None else ""
        msg = statement_message(vs.envelope, peer.send_context(), task_id=task_id, form=form)
        answers: list[bytes] = []
        async for response in client.send_message(
            a2a_pb2.SendMessageRequest(message=msg), context=activation()
        ):
            answers += answers_of(response)
            if response.HasField("task"):
                task = response.task
        queue += peer.on_replies(answers)
    raise CoopError(f"negotiation did not settle within {max_steps} exchanges")
