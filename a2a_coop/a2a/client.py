"""The calling side: drive a trade through a stock a2a-sdk client, the extension activated."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from a2a.types import a2a_pb2

from a2a_coop.a2a.parts import (
    activation,
    answers_of,
    artifacts_context,
    next_answer_of,
    next_artifact_of,
    set_coop_number,
    statement_message,
    task_id_for,
)
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.peer import Peer
from a2a_coop.transport.paging import CutAnswer


class _Part(NamedTuple):
    """One A2A response's part of an answer (or of a Task's Artifacts), as :class:`CutAnswer` takes a part."""

    envelopes: list[Any]
    next_answer: int


async def send_whole(client: Any, msg: a2a_pb2.Message) -> tuple[list[bytes], a2a_pb2.Task | None]:
    """Send ``msg`` (a statement, the extension activated) through a stock a2a-sdk ``client``: the whole
    answer -- a cut one's rest read by the same message again from each part's ``nextAnswer``
    (A2A-028), joined by :class:`CutAnswer` as every reader of a cut answer joins it -- and the last Task
    seen, with every Artifact: one whose Artifacts came in parts (``nextArtifact``, A2A-028 (a); a stream
    sends the rest as artifact-updates) is read on by :func:`whole_task`, so that a caller never takes the
    first part for the Task. Raises :class:`~a2a_coop.transport.paging.CutAnswerViolation` for parts that
    break A2A-028."""
    answer = CutAnswer()
    task: a2a_pb2.Task | None = None
    while True:
        envelopes: list[bytes] = []
        next_answer = 0
        async for response in client.send_message(
            a2a_pb2.SendMessageRequest(message=msg), context=activation()
        ):
            envelopes += answers_of(response)
            next_answer = next_answer_of(response) or next_answer
            if response.HasField("task"):
                task = response.task
        start = answer.take(_Part(envelopes, next_answer))
        if not start:
            if task is not None and next_artifact_of(task):
                task = await whole_task(client, task.id, first=task)
            return answer.envelopes, task
        again = a2a_pb2.Message()
        again.CopyFrom(msg)
        again.message_id = str(uuid.uuid4())
        set_coop_number(again, "answerFrom", start)
        msg = again


async def whole_task(client: Any, task_id: str, *, first: a2a_pb2.Task | None = None) -> a2a_pb2.Task:
    """``GetTask`` of ``task_id`` through a stock a2a-sdk ``client``, with every Artifact: the rest of a Task
    whose Artifacts came in parts read by GetTask again from each part's ``nextArtifact`` (A2A-028 (a)),
    the parts checked by :class:`CutAnswer` as an answer's are. ``first``: the first part, as another
    response carried it (a SendMessage's Task), in place of the first GetTask. The Task is the last part's,
    its Artifacts each once: one held between two reads may move the rest by one place (it is read by the
    next GetTask). Raises :class:`~a2a_coop.transport.paging.CutAnswerViolation` for parts that break the
    rule."""
    parts = CutAnswer()
    artifacts: dict[str, a2a_pb2.Artifact] = {}
    start = 0
    task = first
    while True:
        if task is None or start:
            task = await client.get_task(a2a_pb2.GetTaskRequest(id=task_id), context=artifacts_context(start))
        for artifact in task.artifacts:
            artifacts.setdefault(artifact.artifact_id, artifact)
        start = parts.take(_Part(list(task.artifacts), next_artifact_of(task)))
        if not start:
            break
    whole = a2a_pb2.Task()
    whole.CopyFrom(task)
    del whole.artifacts[:]
    whole.artifacts.extend(artifacts.values())
    return whole


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
        answers, seen = await send_whole(client, msg)
        task = seen or task
        queue += peer.on_replies(answers)
    raise CoopError(f"negotiation did not settle within {max_steps} exchanges")
