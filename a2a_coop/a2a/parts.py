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


def answers_of(response: a2a_pb2.StreamResponse | a2a_pb2.SendMessageResponse) -> list[bytes]:
    """The peer's signed answers in a SendMessage response (the Task's status message, or a Message)."""
    if response.HasField("task"):
        return envelopes_in(response.task.status.message.parts)
    if response.HasField("message"):
        return envelopes_in(response.message.parts)
    if isinstance(response, a2a_pb2.StreamResponse) and response.HasField("status_update"):
        return envelopes_in(response.status_update.status.message.parts)
    return []


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
