"""The calling side: drive a trade through a stock a2a-sdk client, the extension activated."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple

import grpc
from a2a.types import a2a_pb2

from a2a_coop.a2a.parts import (
    COOP_METADATA_KEY,
    MAX_A2A_ARTIFACT_BYTES,
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
from a2a_coop.transport.limits import MAX_ANSWER_PARTS
from a2a_coop.transport.paging import CutAnswer, CutAnswerViolation

# What a stream's artifact-updates may bring in all: what a GetTask reader takes, its parts (RPC-021) of
# at most one part's bytes each (A2A-028 (a)). The updates are the agent's to send, as many as it likes.
MAX_STREAMED_ARTIFACT_BYTES = MAX_ANSWER_PARTS * MAX_A2A_ARTIFACT_BYTES


class _Part(NamedTuple):
    """One A2A response's part of an answer (or of a Task's Artifacts), as :class:`CutAnswer` takes a part."""

    envelopes: list[Any]
    next_answer: int


async def send_whole(client: Any, msg: a2a_pb2.Message) -> tuple[list[bytes], a2a_pb2.Task | None]:
    """Send ``msg`` (a statement, the extension activated) through a stock a2a-sdk ``client``: the whole
    answer -- a cut one's rest read by the same message again from each part's ``nextAnswer``
    (A2A-028), joined by :class:`CutAnswer` as every reader of a cut answer joins it -- and the last Task
    seen, with every Artifact: one whose Artifacts came in parts (``nextArtifact``, A2A-028 (a)) is joined
    with the artifact-updates its stream sent the rest in, or, sent without a stream, read on by
    :func:`whole_task`, so that a caller never takes the first part for the Task, and never reads an
    Artifact twice. Raises :class:`~a2a_coop.transport.paging.CutAnswerViolation` for parts that break
    A2A-028."""
    answer = CutAnswer()
    seen: a2a_pb2.Task | None = None
    while True:
        envelopes: list[bytes] = []
        next_answer = 0
        task: a2a_pb2.Task | None = None
        streamed: list[a2a_pb2.Artifact] | None = None  # None: no stream (its statusUpdate ends one)
        updates: list[a2a_pb2.Artifact] = []
        streamed_bytes = 0
        async for response in client.send_message(
            a2a_pb2.SendMessageRequest(message=msg), context=activation()
        ):
            envelopes += answers_of(response)
            next_answer = next_answer_of(response) or next_answer
            if response.HasField("task"):
                task = response.task
            elif isinstance(response, a2a_pb2.StreamResponse) and response.HasField("artifact_update"):
                streamed_bytes += _check_artifacts([response.artifact_update.artifact])
                if streamed_bytes > MAX_STREAMED_ARTIFACT_BYTES:  # read no further than GetTask would
                    raise CutAnswerViolation(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"a stream's Artifacts past {MAX_STREAMED_ARTIFACT_BYTES} bytes (A2A-028 (a))",
                    )
                updates.append(response.artifact_update.artifact)
            elif isinstance(response, a2a_pb2.StreamResponse) and response.HasField("status_update"):
                streamed = updates
        start = answer.take(_Part(envelopes, next_answer))
        if task is not None and streamed is not None and next_artifact_of(task):
            task = _joined(task, streamed)
        seen = task or seen
        if not start:
            if seen is not None and next_artifact_of(seen):
                seen = await whole_task(client, seen.id, first=seen)
            _check_artifacts(seen.artifacts if seen is not None else [])
            return answer.envelopes, seen
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
    rule, an Artifact past the bound among them."""
    parts = CutAnswer()
    artifacts: dict[str, a2a_pb2.Artifact] = {}
    start = 0
    task = first
    while True:
        if task is None or start:
            task = await client.get_task(a2a_pb2.GetTaskRequest(id=task_id), context=artifacts_context(start))
        _check_artifacts(task.artifacts)
        for artifact in task.artifacts:
            artifacts.setdefault(artifact.artifact_id, artifact)
        start = parts.take(_Part(list(task.artifacts), next_artifact_of(task)))
        if not start:
            break
    return _with_artifacts(task, artifacts.values())


def _joined(first: a2a_pb2.Task, streamed: list[a2a_pb2.Artifact]) -> a2a_pb2.Task:
    """A streamed Task whole: its first part's Artifacts, then the artifact-updates its stream sent the
    ones it left out in (A2A-028 (a), A2A-016), each once -- an Artifact the exchange formed comes as
    an update too, also when the first part holds it."""
    CutAnswer().take(_Part(list(first.artifacts), next_artifact_of(first)))  # the first part is one
    artifacts: dict[str, a2a_pb2.Artifact] = {}
    for artifact in [*first.artifacts, *streamed]:
        artifacts.setdefault(artifact.artifact_id, artifact)
    if len(artifacts) == len(first.artifacts):  # more said, none sent: not the first part taken as whole
        cut = f"a streamed Task saying more Artifacts at {next_artifact_of(first)}, none sent (A2A-028 (a))"
        raise CutAnswerViolation(grpc.StatusCode.INTERNAL, cut)
    whole = _with_artifacts(first, artifacts.values())
    del whole.metadata.get_or_create_struct(COOP_METADATA_KEY).fields["nextArtifact"]  # it is whole
    return whole


def _check_artifacts(artifacts: Iterable[a2a_pb2.Artifact]) -> int:
    """Fail on an Artifact past a part's bound (A2A-028 (a)): an agent's Artifact is a bundle of
    at most six envelopes of 64 KiB (A2A-012, ENV-008), so one larger is a liar's, sent to fill its reader.
    Returns their bytes."""
    total = 0
    for artifact in artifacts:
        size = sum(len(p.raw) + len(p.data.SerializeToString()) for p in artifact.parts)
        if size > MAX_A2A_ARTIFACT_BYTES:
            raise CutAnswerViolation(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"an Artifact of {size} bytes, past {MAX_A2A_ARTIFACT_BYTES} (A2A-028 (a))",
            )
        total += size
    return total


def _with_artifacts(task: a2a_pb2.Task, artifacts: Iterable[a2a_pb2.Artifact]) -> a2a_pb2.Task:
    whole = a2a_pb2.Task()
    whole.CopyFrom(task)
    del whole.artifacts[:]
    whole.artifacts.extend(artifacts)
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
