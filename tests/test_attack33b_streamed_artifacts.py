"""Red team 33b: a stream's artifact-updates are the agent's to send (paging33's ``send_whole`` joins a
streamed Task from them alone, A2A-028 (a)). An agent whose first Task says more Artifacts follow
(``nextArtifact``) and whose stream then sends none had the client hold the first part as the whole Task --
``nextArtifact`` struck out, no GetTask to read the rest --, while a GetTask reader fails such a part
(RPC-021); and one streaming updates without end had the client keep every one in memory, where a GetTask
reader stops at 16 parts (``MAX_ANSWER_PARTS``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

pytest.importorskip("a2a")

from a2a.types import a2a_pb2

from a2a_coop import a2a
from a2a_coop.a2a.parts import MAX_A2A_ARTIFACT_BYTES, set_coop_number
from a2a_coop.transport.limits import MAX_ANSWER_PARTS
from a2a_coop.transport.paging import CutAnswerViolation


def _artifact(artifact_id: str, size: int = 1) -> a2a_pb2.Artifact:
    return a2a_pb2.Artifact(artifact_id=artifact_id, parts=[a2a_pb2.Part(raw=b"x" * size)])


class _Streamer:
    """An agent whose Task holds one Artifact and says more follow (``nextArtifact`` 1), then streams the
    ``updates`` it is given (counting how many the client read) and its statusUpdate."""

    def __init__(self, updates: list[a2a_pb2.Artifact]) -> None:
        self.updates, self.sent = updates, 0

    async def send_message(self, request: Any, context: Any = None) -> AsyncIterator[a2a_pb2.StreamResponse]:
        task = a2a_pb2.Task(id="00", artifacts=[_artifact("first")])
        set_coop_number(task, "nextArtifact", 1)
        yield a2a_pb2.StreamResponse(task=task)
        for artifact in self.updates:
            self.sent += 1
            update = a2a_pb2.TaskArtifactUpdateEvent(task_id="00", artifact=artifact)
            yield a2a_pb2.StreamResponse(artifact_update=update)
        yield a2a_pb2.StreamResponse(status_update=a2a_pb2.TaskStatusUpdateEvent(task_id="00"))

    async def get_task(self, request: Any, context: Any = None) -> a2a_pb2.Task:
        raise AssertionError("a streamed Task is not read by GetTask again (A2A-028 (a))")


@pytest.mark.req("A2A-028")
@pytest.mark.parametrize("updates", [[], [_artifact("first")]], ids=["none", "only the first part's again"])
def test_a_stream_saying_more_artifacts_and_sending_none_fails_the_read(
    updates: list[a2a_pb2.Artifact],
) -> None:
    """The first Task says Artifacts from index 1 follow; the stream sends none of them (or only the one
    the part held, which the exchange may have formed). Expect the read to fail, as a GetTask part saying
    more and holding none fails it -- not the first part taken as the whole Task."""
    with pytest.raises(CutAnswerViolation, match="A2A-028") as err:
        asyncio.run(a2a.send_whole(_Streamer(updates), a2a.statement_message(b"statement")))
    assert err.value.code is grpc.StatusCode.INTERNAL


@pytest.mark.req("A2A-028")
def test_a_stream_of_artifact_updates_past_what_gettask_would_read_fails_the_read() -> None:
    """The stream sends 40 Artifacts of 512 KiB (20 MiB), past the 16 parts of 1 MiB a GetTask reader
    takes. Expect the read to fail RESOURCE_EXHAUSTED once past that bound, the rest of the stream unread."""
    size = MAX_A2A_ARTIFACT_BYTES // 2
    agent = _Streamer([_artifact(f"a{i}", size) for i in range(40)])
    with pytest.raises(CutAnswerViolation, match="A2A-028") as err:
        asyncio.run(a2a.send_whole(agent, a2a.statement_message(b"statement")))
    assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert agent.sent <= MAX_ANSWER_PARTS * MAX_A2A_ARTIFACT_BYTES // size + 1


def test_a_stream_sending_the_rest_joins_the_task_whole() -> None:
    """The honest stream: the Artifact left out comes as an update; the Task is joined whole."""
    _, task = asyncio.run(a2a.send_whole(_Streamer([_artifact("second")]), a2a.statement_message(b"s")))
    assert task is not None and [a.artifact_id for a in task.artifacts] == ["first", "second"]
    assert a2a.next_artifact_of(task) == 0
