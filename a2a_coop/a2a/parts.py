"""The a2a-coop extension on A2A's wire: its URI, media types and headers, and statements as Parts.

A statement travels in an A2A Message as one Part per envelope (SPEC.md
section 14): a ``raw`` Part of :data:`ENVELOPE_MEDIA_TYPE` holding the exact
bytes, or a ``data`` Part holding the DSSE JSON form
(:data:`ENVELOPE_JSON_MEDIA_TYPE`). The last Part is the statement, the ones
before it its context, dependencies first. Used by both sides: the servicer
(:mod:`.service`) and a client driving a trade (:mod:`.client`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

from a2a.client import ClientCallContext
from a2a.types import a2a_pb2
from google.protobuf import json_format, struct_pb2

from a2a_coop.protocol.envelope import (
    MAX_ENVELOPE_BYTES,
    envelope_from_json,
    envelope_to_json,
)
from a2a_coop.protocol.errors import EnvelopeTooLarge, MalformedEnvelope, Origin

EXTENSION_URI: Final = "https://a2a-coop.dev/ext/coop/v1"
ENVELOPE_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+protobuf"
ENVELOPE_JSON_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+json"

MEDIA_TYPES: Final = (ENVELOPE_MEDIA_TYPE, ENVELOPE_JSON_MEDIA_TYPE)
EXTENSION_HEADERS: Final = ("a2a-extensions", "x-a2a-extensions")
VERSION_HEADER: Final = "a2a-version"
A2A_PROTOCOL_VERSION: Final = "1.0"
# An answer's envelopes in one A2A response (A2A-028): half a cooperation page (RPC-021), so that a stock
# A2A client at its library's default receive limit (gRPC's 4 MiB) takes it with the Task's Artifacts
# beside it, and the JSON bindings' base64 (4/3 of the bytes) too.
MAX_A2A_PART_BYTES: Final = 2 * 1024 * 1024
# A Task's Artifacts in one A2A response (A2A-028 (a)): half an answer's part, so that the Task beside the
# largest part of an answer (a SendMessage's) stays within gRPC's default 4 MiB, its framing with it.
MAX_A2A_ARTIFACT_BYTES: Final = 1024 * 1024
# The service parameter (an HTTP header, gRPC metadata) naming the first Artifact a GetTask asks for.
ARTIFACTS_FROM_HEADER: Final = "a2a-coop-artifacts-from"
# The extension's key in a Message's metadata, with ``answerFrom`` (a request) or ``nextAnswer`` (an answer),
# and in a Task's, with ``nextArtifact`` (A2A-028 (a)).
COOP_METADATA_KEY: Final = "a2aCoop"


def envelope_part(envelope: bytes, *, form: str = "raw") -> a2a_pb2.Part:
    """One envelope as an A2A Part: ``raw`` (exact bytes) or ``json`` (DSSE JSON in a data Part)."""
    if form == "raw":
        return a2a_pb2.Part(raw=envelope, media_type=ENVELOPE_MEDIA_TYPE)
    if form == "json":
        value = struct_pb2.Value()
        value.struct_value.update(envelope_to_json(envelope))
        return a2a_pb2.Part(data=value, media_type=ENVELOPE_JSON_MEDIA_TYPE)
    raise ValueError(f"form must be 'raw' or 'json', not {form!r}")


def is_envelope_part(part: a2a_pb2.Part) -> bool:
    return part.media_type in MEDIA_TYPES


def envelope_of(part: a2a_pb2.Part) -> bytes:
    """The envelope bytes an a2a-coop Part holds (A2A-006). Raises MalformedEnvelope, EnvelopeTooLarge."""
    kind = part.WhichOneof("content")
    if part.media_type == ENVELOPE_MEDIA_TYPE and kind == "raw":
        envelope = part.raw
    elif part.media_type == ENVELOPE_JSON_MEDIA_TYPE and kind == "data":
        envelope = envelope_from_json(json_format.MessageToDict(part.data))
    else:
        raise MalformedEnvelope(
            f"a Part of media type {part.media_type!r} must be a "
            f"{'raw' if part.media_type == ENVELOPE_MEDIA_TYPE else 'data'} Part, not {kind!r}",
            requirement="A2A-006",
            origin=Origin.REMOTE,
        )
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLarge(
            f"envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}", requirement="ENV-008"
        )
    return envelope


def envelopes_in(parts: Iterable[a2a_pb2.Part]) -> list[bytes]:
    """The envelopes of the a2a-coop Parts among ``parts``, in order (other Parts are ignored)."""
    return [envelope_of(p) for p in parts if is_envelope_part(p)]


def statement_message(
    envelope: bytes,
    context: Sequence[bytes] = (),
    *,
    task_id: str = "",
    context_id: str = "",
    form: str = "raw",
) -> a2a_pb2.Message:
    """A user Message carrying one statement after its context envelopes (A2A-005)."""
    return a2a_pb2.Message(
        message_id=str(uuid.uuid4()),
        role=a2a_pb2.ROLE_USER,
        task_id=task_id,
        context_id=context_id,
        parts=[envelope_part(e, form=form) for e in (*context, envelope)],
        extensions=[EXTENSION_URI],
    )


def _answer_message(response: a2a_pb2.StreamResponse | a2a_pb2.SendMessageResponse) -> a2a_pb2.Message | None:
    """The Message of a SendMessage response that holds the peer's answers, if any."""
    if response.HasField("task"):
        return response.task.status.message
    if response.HasField("message"):
        return response.message
    if isinstance(response, a2a_pb2.StreamResponse) and response.HasField("status_update"):
        return response.status_update.status.message
    return None


def answers_of(response: a2a_pb2.StreamResponse | a2a_pb2.SendMessageResponse) -> list[bytes]:
    """The peer's signed answers in a SendMessage response (the Task's status message, or a Message):
    one part of a cut answer when :func:`next_answer_of` is not 0 (A2A-028)."""
    message = _answer_message(response)
    return envelopes_in(message.parts) if message is not None else []


def _coop_number(message: a2a_pb2.Message | a2a_pb2.Task, key: str) -> int:
    """``metadata.a2aCoop.<key>`` of ``message`` (or a Task): an index into an answer or a Task's
    Artifacts, 0 when absent. Raises ValueError for anything but a whole number from 0 to 2^32 - 1."""
    if COOP_METADATA_KEY not in message.metadata:
        return 0
    coop = message.metadata[COOP_METADATA_KEY]
    if not isinstance(coop, struct_pb2.Struct) or key not in coop:
        return 0 if isinstance(coop, struct_pb2.Struct) else _bad(key)
    value = coop[key]
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**32:
        return int(value)
    return _bad(key)


def _bad(key: str) -> int:
    raise ValueError(f"metadata.{COOP_METADATA_KEY}.{key} must be a whole number from 0 to 2^32 - 1")


def next_answer_of(response: a2a_pb2.StreamResponse | a2a_pb2.SendMessageResponse) -> int:
    """Where the rest of a cut answer starts (``metadata.a2aCoop.nextAnswer`` of the answer's Message,
    A2A-028), 0 when the response ends the answer. A value that is no index reads as a part that cannot
    go on: :class:`~a2a_coop.transport.paging.CutAnswer` fails the read on it."""
    message = _answer_message(response)
    try:
        return _coop_number(message, "nextAnswer") if message is not None else 0
    except ValueError:
        return -1


def answer_from_of(message: a2a_pb2.Message) -> int:
    """The index of the first envelope of the answer a Message asks for (``metadata.a2aCoop.answerFrom``,
    A2A-028), 0 when absent. Raises ValueError for a value that is no index."""
    return _coop_number(message, "answerFrom")


def next_artifact_of(task: a2a_pb2.Task) -> int:
    """Where the rest of a Task's Artifacts starts (``metadata.a2aCoop.nextArtifact``, A2A-028 (a)), 0 when
    the Task carries the last of them. A value that is no index reads as -1: a part that cannot go on."""
    try:
        return _coop_number(task, "nextArtifact")
    except ValueError:
        return -1


def artifacts_from(value: str | None) -> int:
    """The index of the first Artifact a request asks for, from the :data:`ARTIFACTS_FROM_HEADER` service
    parameter (A2A-028 (a)), 0 when absent. Raises ValueError for a value that is no index."""
    text = (value or "").strip()
    if not text:
        return 0
    if text.isascii() and text.isdigit() and int(text) < 2**32:
        return int(text)
    raise ValueError(f"{ARTIFACTS_FROM_HEADER} must be a whole number from 0 to 2^32 - 1, not {text!r:.40}")


def artifacts_context(start: int) -> ClientCallContext:
    """A call context asking a GetTask for a Task's Artifacts from index ``start`` (A2A-028 (a)), the
    extension activated."""
    return ClientCallContext(
        service_parameters={"A2A-Extensions": EXTENSION_URI, ARTIFACTS_FROM_HEADER: str(start)}
    )


def set_coop_number(message: a2a_pb2.Message | a2a_pb2.Task, key: str, value: int) -> None:
    """Set ``metadata.a2aCoop.<key>`` of ``message`` (or a Task) to ``value`` (``nextAnswer``,
    ``answerFrom``, ``nextArtifact``)."""
    coop = message.metadata.get_or_create_struct(COOP_METADATA_KEY)
    coop[key] = value


def activation() -> ClientCallContext:
    """A call context that activates the extension on a stock a2a-sdk client (A2A-003)."""
    return ClientCallContext(service_parameters={"A2A-Extensions": EXTENSION_URI})


def coop_params(card: a2a_pb2.AgentCard) -> dict[str, Any] | None:
    """The a2a-coop extension's params from a card, or None if the agent does not declare it."""
    for ext in card.capabilities.extensions:
        if ext.uri == EXTENSION_URI:
            return json_format.MessageToDict(ext.params)
    return None


def task_id_for(negotiation_id: bytes) -> str:
    return negotiation_id.hex()
