"""The A2A binding (SPEC.md section 14): an a2a-coop peer as an A2A agent.

Needs the optional ``a2a`` extra (``pip install "a2a-coop[a2a]"``, which brings
a2a-sdk); the core never imports this module. A2A's own types and its
``lf.a2a.v1.A2AService`` come from a2a-sdk, never redefined here.

Theory of operation. A :class:`A2AServicer` serves A2A's gRPC service on the
same grpcio server as CooperationService (:func:`serve_a2a`, through
``serve(extra_servicers=...)``), in front of the same :class:`PeerNode`:

* **Discovery.** :func:`agent_card` describes the peer: one GRPC interface and
  the a2a-coop extension in ``capabilities.extensions`` (``required: false``),
  whose ``params`` carry the did:key, public key, mandate, supported versions,
  bodies and media types, and the CooperationService endpoint. The card is
  served by ``GetExtendedAgentCard`` and, over HTTP, at
  ``/.well-known/agent-card.json`` (:class:`CardServer`).
* **Messages.** ``SendMessage`` takes a Message whose a2a-coop Parts each hold
  one envelope (a ``raw`` Part of :data:`ENVELOPE_MEDIA_TYPE`, or a ``data``
  Part holding the DSSE JSON form, :data:`ENVELOPE_JSON_MEDIA_TYPE`): the last
  is the statement, the ones before it its context, dependencies first. The
  statement goes to ``PeerNode.exchange``; the signed answers come back as the
  Parts of the Task's status message. One negotiation is one Task, whose id is
  the negotiation id in hex; its state is mapped from the negotiation's
  (:data:`TASK_STATES`); the formed contract, every receipt and every
  attestation of it are Artifacts, each a self-contained evidence bundle.
* **Activation.** a2a-coop Parts are only read when the client activates the
  extension (``A2A-Extensions`` or ``X-A2A-Extensions`` metadata, or the URI
  in ``Message.extensions``); activated extensions are echoed in the
  response's ``a2a-extensions`` metadata and in the reply's ``extensions``.
  Without activation, a message carrying a2a-coop Parts is refused with A2A's
  ``EXTENSION_SUPPORT_REQUIRED``; a plain message is answered with a plain
  agent Message that says how to trade. Unsigned messages never change a
  negotiation (no downgrade).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, json_format, struct_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status

try:
    from a2a.client import ClientCallContext
    from a2a.types import a2a_pb2, a2a_pb2_grpc
    from a2a.utils import errors as a2a_errors
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('a2a_coop.a2a needs the a2a extra: pip install "a2a-coop[a2a]"') from exc

from a2a_coop._proto.a2acoop.v1 import statement_pb2
from a2a_coop.envelope import (
    MAX_ENVELOPE_BYTES,
    STATEMENT_PAYLOAD_TYPE,
    envelope_from_json,
    envelope_to_json,
)
from a2a_coop.errors import CoopError, EnvelopeTooLarge, MalformedEnvelope, Origin
from a2a_coop.identity import public_key_from_did
from a2a_coop.negotiation import Negotiation, State
from a2a_coop.node import PeerNode
from a2a_coop.peer import Peer
from a2a_coop.statements import VerifiedStatement, verify_statement
from a2a_coop.transport.errors import STATUS_DETAILS_KEY, status_for
from a2a_coop.transport.limits import MAX_REQUEST_BYTES
from a2a_coop.transport.server import COOPERATION_SERVICE, RunningServer, serve
from a2a_coop.transport.tls import TlsConfig

R = TypeVar("R")

EXTENSION_URI: Final = "https://a2a-coop.dev/ext/coop/v1"
ENVELOPE_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+protobuf"
ENVELOPE_JSON_MEDIA_TYPE: Final = "application/vnd.a2acoop.envelope.v1+json"
EXTENSION_DESCRIPTION: Final = (
    "a2a-coop: signed bilateral trades, escrowed commitments and attestations (SPEC.md section 14)"
)
DEFAULT_DESCRIPTION: Final = (
    "Trades under signed, bilateral a2a-coop statements (offers, contracts, receipts)."
)
MEDIA_TYPES: Final = (ENVELOPE_MEDIA_TYPE, ENVELOPE_JSON_MEDIA_TYPE)
EXTENSION_HEADERS: Final = ("a2a-extensions", "x-a2a-extensions")
VERSION_HEADER: Final = "a2a-version"
A2A_PROTOCOL_VERSION: Final = "1.0"
A2A_SERVICE: Final = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"].full_name
A2A_DOMAIN: Final = "a2a-protocol.org"
PROTOCOL_VERSIONS: Final = (1,)
BODIES: Final = tuple(f.name for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields)
AGENT_CARD_PATH: Final = "/.well-known/agent-card.json"

# SPEC.md section 14, A2A-011: negotiation state -> A2A task state.
TASK_STATES: Final[dict[State, int]] = {
    State.PROPOSED: a2a_pb2.TASK_STATE_INPUT_REQUIRED,
    State.COUNTERED: a2a_pb2.TASK_STATE_INPUT_REQUIRED,
    State.ACCEPTED: a2a_pb2.TASK_STATE_WORKING,
    State.BONDED: a2a_pb2.TASK_STATE_WORKING,
    State.PERFORMING: a2a_pb2.TASK_STATE_WORKING,
    State.DISPUTED: a2a_pb2.TASK_STATE_WORKING,
    State.FULFILLED: a2a_pb2.TASK_STATE_COMPLETED,
    State.BREACHED: a2a_pb2.TASK_STATE_FAILED,
    State.REVOKED: a2a_pb2.TASK_STATE_CANCELED,
    State.REJECTED: a2a_pb2.TASK_STATE_REJECTED,
    State.WITHDRAWN: a2a_pb2.TASK_STATE_CANCELED,
    State.EXPIRED: a2a_pb2.TASK_STATE_CANCELED,
}


# --- Parts -----------------------------------------------------------------------------------


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


# --- the AgentCard ---------------------------------------------------------------------------


def agent_card(
    node: PeerNode,
    endpoint: str,
    *,
    name: str = "a2a-coop peer",
    description: str = DEFAULT_DESCRIPTION,
    version: str = "0.1.0",
) -> a2a_pb2.AgentCard:
    """The AgentCard of a peer whose gRPC server (A2AService and CooperationService) is at ``endpoint``."""
    peer = node.peer
    mandate = peer.mandate_vs
    escrows = sorted(
        {
            vs.statement.mandate.agent
            for env in peer.context[1:]
            if (vs := verify_statement(env)).body == "mandate"
        }
    )
    params: dict[str, Any] = {
        "did": peer.did,
        "publicKeys": [
            {
                "id": peer.did,
                "type": "Ed25519",
                "publicKeyBase64": base64.b64encode(public_key_from_did(peer.did)).decode(),
            }
        ],
        "principal": mandate.issuer,
        "mandate": mandate.digest.hex(),
        "mandateEnvelope": base64.b64encode(mandate.envelope).decode(),
        "protocolVersions": list(PROTOCOL_VERSIONS),
        "payloadType": STATEMENT_PAYLOAD_TYPE,
        "mediaTypes": list(MEDIA_TYPES),
        "commitmentKinds": list(BODIES),
        "acceptedEscrows": escrows,
        "cooperationService": {"url": endpoint, "service": COOPERATION_SERVICE, "protocolBinding": "GRPC"},
    }
    ext_params = struct_pb2.Struct()
    ext_params.update(params)
    extension = a2a_pb2.AgentExtension(
        uri=EXTENSION_URI,
        description=EXTENSION_DESCRIPTION,
        required=False,
        params=ext_params,
    )
    return a2a_pb2.AgentCard(
        name=name,
        description=description,
        version=version,
        supported_interfaces=[
            a2a_pb2.AgentInterface(
                url=endpoint, protocol_binding="GRPC", protocol_version=A2A_PROTOCOL_VERSION
            )
        ],
        capabilities=a2a_pb2.AgentCapabilities(
            streaming=False, push_notifications=False, extended_agent_card=True, extensions=[extension]
        ),
        default_input_modes=[*MEDIA_TYPES, "text/plain"],
        default_output_modes=[*MEDIA_TYPES, "text/plain"],
        skills=[
            a2a_pb2.AgentSkill(
                id="a2a-coop-trade",
                name="Signed trade",
                description="Negotiate, contract, deliver and receipt under the a2a-coop extension.",
                tags=["a2a-coop", "trade", "negotiation"],
                input_modes=list(MEDIA_TYPES),
                output_modes=list(MEDIA_TYPES),
            )
        ],
    )


def card_json(card: a2a_pb2.AgentCard) -> bytes:
    """The card in A2A's JSON form (protobuf JSON mapping, camelCase)."""
    return json.dumps(json_format.MessageToDict(card), indent=2).encode()


# --- A2A errors over gRPC --------------------------------------------------------------------


def _a2a_info(error: a2a_errors.A2AError) -> any_pb2.Any:
    reason = a2a_errors.A2A_ERROR_REASONS.get(type(error), "INTERNAL_ERROR")
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=A2A_DOMAIN))
    return info


def a2a_status(error: a2a_errors.A2AError) -> grpc.Status:
    """An A2A error as A2A's gRPC binding sends it: status code plus an ErrorInfo in a2a-protocol.org."""
    mapping = a2a_errors.A2A_ERROR_MAPPING.get(type(error))
    code = grpc.StatusCode[mapping.grpc_status if mapping else "INTERNAL"]
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[_a2a_info(error)])
    return rpc_status.to_status(status)


def coop_status(err: CoopError) -> grpc.Status:
    """A refused statement (A2A-009): the section 13 status with our ErrorInfo first, then A2A's
    INVALID_PARAMS ErrorInfo so a stock A2A client raises a typed error carrying the code."""
    ours = status_for(err)
    trailers = dict(ours.trailing_metadata)
    status = status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])
    status.details.append(_a2a_info(a2a_errors.InvalidParamsError()))
    return rpc_status.to_status(status)


class _Abort(Exception):
    def __init__(self, status: grpc.Status) -> None:
        self.status = status


def _a2a_error(error: a2a_errors.A2AError) -> _Abort:
    return _Abort(a2a_status(error))


# --- the servicer ----------------------------------------------------------------------------


class A2AServicer(a2a_pb2_grpc.A2AServiceServicer):
    """A2A's gRPC service for one :class:`PeerNode` (SPEC.md section 14). Thread-safe.

    Args:
        node: the peer; its ``exchange`` handles every statement.
        endpoint: ``host:port`` of the gRPC server, for the card (set it after binding
            port 0; :func:`serve_a2a` does).
        name, description: shown in the AgentCard.
    """

    def __init__(
        self,
        node: PeerNode,
        endpoint: str = "",
        *,
        name: str = "a2a-coop peer",
        description: str = DEFAULT_DESCRIPTION,
    ) -> None:
        self.node = node
        self.endpoint = endpoint
        self.name = name
        self.description = description
        self._contexts: dict[bytes, str] = {}  # negotiation id -> A2A context id
        self._lock = threading.Lock()

    def add_to(self, server: grpc.Server) -> list[str]:
        """Register on a grpcio server; returns the service names (for ``serve(extra_servicers=...)``)."""
        a2a_pb2_grpc.add_A2AServiceServicer_to_server(self, server)  # type: ignore[no-untyped-call]
        return [A2A_SERVICE]

    def card(self) -> a2a_pb2.AgentCard:
        return agent_card(self.node, self.endpoint, name=self.name, description=self.description)

    # -- RPCs ---------------------------------------------------------------------------------

    def SendMessage(  # A2A's method name
        self, request: a2a_pb2.SendMessageRequest, context: grpc.ServicerContext
    ) -> a2a_pb2.SendMessageResponse:
        return self._run(context, lambda: self._send_message(request, context))

    def GetTask(self, request: a2a_pb2.GetTaskRequest, context: grpc.ServicerContext) -> a2a_pb2.Task:
        def call() -> a2a_pb2.Task:
            _check_version(context)
            activated = _activated(context, ())
            neg = self._negotiation(request.id)
            if neg is None:
                raise _a2a_error(a2a_errors.TaskNotFoundError(f"no task {request.id!r}"))
            _echo(context, activated)
            return self._task(neg, [])

        return self._run(context, call)

    def GetExtendedAgentCard(
        self, request: a2a_pb2.GetExtendedAgentCardRequest, context: grpc.ServicerContext
    ) -> a2a_pb2.AgentCard:
        return self._run(context, self.card)

    def SendStreamingMessage(
        self, request: a2a_pb2.SendMessageRequest, context: grpc.ServicerContext
    ) -> Iterator[a2a_pb2.StreamResponse]:
        context.abort_with_status(
            a2a_status(a2a_errors.UnsupportedOperationError("streaming is not offered"))
        )
        yield a2a_pb2.StreamResponse()  # pragma: no cover - abort raises

    def SubscribeToTask(
        self, request: a2a_pb2.SubscribeToTaskRequest, context: grpc.ServicerContext
    ) -> Iterator[a2a_pb2.StreamResponse]:
        context.abort_with_status(
            a2a_status(a2a_errors.UnsupportedOperationError("streaming is not offered"))
        )
        yield a2a_pb2.StreamResponse()  # pragma: no cover - abort raises

    def CancelTask(self, request: a2a_pb2.CancelTaskRequest, context: grpc.ServicerContext) -> a2a_pb2.Task:
        message = "a negotiation ends by a signed Withdraw, Reject or Revoke, not by CancelTask"
        return self._refuse(context, a2a_errors.TaskNotCancelableError(message))

    def ListTasks(
        self, request: a2a_pb2.ListTasksRequest, context: grpc.ServicerContext
    ) -> a2a_pb2.ListTasksResponse:
        return self._refuse(context, a2a_errors.UnsupportedOperationError("ListTasks is not offered"))

    def CreateTaskPushNotificationConfig(
        self, request: Any, context: grpc.ServicerContext
    ) -> a2a_pb2.TaskPushNotificationConfig:
        return self._refuse(context, a2a_errors.PushNotificationNotSupportedError())

    def GetTaskPushNotificationConfig(
        self, request: Any, context: grpc.ServicerContext
    ) -> a2a_pb2.TaskPushNotificationConfig:
        return self._refuse(context, a2a_errors.PushNotificationNotSupportedError())

    def ListTaskPushNotificationConfigs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._refuse(context, a2a_errors.PushNotificationNotSupportedError())

    def DeleteTaskPushNotificationConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._refuse(context, a2a_errors.PushNotificationNotSupportedError())

    # -- internals ----------------------------------------------------------------------------

    def _refuse(self, context: grpc.ServicerContext, error: a2a_errors.A2AError) -> NoReturn:
        context.abort_with_status(a2a_status(error))
        raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover

    def _run(self, context: grpc.ServicerContext, call: Callable[[], R]) -> R:
        try:
            return call()
        except _Abort as abort:
            context.abort_with_status(abort.status)
        except CoopError as err:
            context.abort_with_status(coop_status(err))
        raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover

    def _send_message(
        self, request: a2a_pb2.SendMessageRequest, context: grpc.ServicerContext
    ) -> a2a_pb2.SendMessageResponse:
        _check_version(context)
        msg = request.message
        activated = _activated(context, msg.extensions)
        signed = [p for p in msg.parts if is_envelope_part(p)]
        if not signed:
            return self._unsigned(msg, activated, context)
        if EXTENSION_URI not in activated:
            raise _a2a_error(
                a2a_errors.ExtensionSupportRequiredError(
                    f"a2a-coop Parts need the extension activated: send A2A-Extensions: {EXTENSION_URI}"
                )
            )
        *ctx, envelope = [envelope_of(p) for p in signed]
        request_vs = verify_statement(envelope)
        nid = request_vs.header.negotiation_id
        if msg.task_id and msg.task_id != task_id_for(nid):
            raise _a2a_error(
                a2a_errors.InvalidParamsError(
                    f"the statement belongs to task {task_id_for(nid)!r}, not {msg.task_id!r} "
                    "(one Task per negotiation, A2A-007)"
                )
            )
        answers = self.node.exchange(envelope, ctx)
        _echo(context, activated)
        parts = [envelope_part(a) for a in answers]
        if not nid:
            reply = _agent_message(parts, context_id=msg.context_id or str(uuid.uuid4()))
            return a2a_pb2.SendMessageResponse(message=reply)
        with self._lock:
            context_id = self._contexts.setdefault(nid, msg.context_id or task_id_for(nid))
        neg = self._negotiation(task_id_for(nid))
        assert neg is not None  # exchange accepted a statement of it
        return a2a_pb2.SendMessageResponse(task=self._task(neg, parts, context_id=context_id))

    def _unsigned(
        self, msg: a2a_pb2.Message, activated: set[str], context: grpc.ServicerContext
    ) -> a2a_pb2.SendMessageResponse:
        """A message with no a2a-coop Part: never changes a negotiation (A2A-010), else a plain reply."""
        if msg.task_id:
            if self._negotiation(msg.task_id) is None:
                raise _a2a_error(a2a_errors.TaskNotFoundError(f"no task {msg.task_id!r}"))
            text = (
                f"task {msg.task_id} is an a2a-coop negotiation: only signed statements "
                f"(Parts of media type {ENVELOPE_MEDIA_TYPE}) can change it"
            )
            if EXTENSION_URI not in activated:
                raise _a2a_error(a2a_errors.ExtensionSupportRequiredError(text))
            raise _a2a_error(a2a_errors.InvalidParamsError(text))
        _echo(context, activated)
        text = (
            f"This agent trades under the a2a-coop extension ({EXTENSION_URI}). Activate it with the "
            f"A2A-Extensions header and send signed statements as Parts of media type "
            f"{ENVELOPE_MEDIA_TYPE}; see the extension's params in the AgentCard."
        )
        data = struct_pb2.Value()
        data.struct_value.update({"extension": EXTENSION_URI, "mediaTypes": list(MEDIA_TYPES)})
        parts = [a2a_pb2.Part(text=text), a2a_pb2.Part(data=data, media_type="application/json")]
        reply = _agent_message(parts, context_id=msg.context_id or str(uuid.uuid4()), coop=False)
        return a2a_pb2.SendMessageResponse(message=reply)

    def _negotiation(self, task_id: str) -> Negotiation | None:
        try:
            nid = bytes.fromhex(task_id)
        except ValueError:
            return None
        with self.node.peer.lock:
            return self.node.peer.verifier.negotiations.by_id.get(nid)

    def _task(
        self, neg: Negotiation, parts: Sequence[a2a_pb2.Part], *, context_id: str | None = None
    ) -> a2a_pb2.Task:
        peer = self.node.peer
        with peer.lock:
            state = neg.state
            artifacts = negotiation_artifacts(peer, neg)
        if context_id is None:
            with self._lock:
                context_id = self._contexts.get(neg.id, task_id_for(neg.id))
        task_id = task_id_for(neg.id)
        status = a2a_pb2.TaskStatus(state=TASK_STATES[state])  # type: ignore[arg-type]
        if parts:
            status.message.CopyFrom(_agent_message(parts, context_id=context_id, task_id=task_id))
        status.timestamp.GetCurrentTime()
        metadata = struct_pb2.Struct()
        metadata.update({"a2aCoop": {"negotiationId": neg.id.hex(), "state": state.value}})
        return a2a_pb2.Task(
            id=task_id, context_id=context_id, status=status, artifacts=artifacts, metadata=metadata
        )


def negotiation_artifacts(peer: Peer, neg: Negotiation) -> list[a2a_pb2.Artifact]:
    """The contract, its receipts and its attestations, each a self-contained evidence bundle
    (mandates first, then the statements in dependency order) that verifies offline (A2A-012)."""
    c = neg.contract
    if c is None:
        return []
    held = peer.verifier.statements
    mandates = {d: held[d] for d in (c.offer.header.mandate, c.accept.header.mandate) if d in held}
    contract = [*mandates.values(), c.offer, c.accept]
    out = [_artifact("contract", c.id, contract, "The co-signed contract: mandates, offer, accept.")]
    for _before, _event, _after, digest in neg.history:
        receipt = held.get(digest) if digest else None
        if receipt is None or receipt.body != "receipt":
            continue
        delivery = held.get(receipt.statement.receipt.delivery)
        if delivery is None:
            continue
        out.append(_artifact("receipt", receipt.digest, [*contract, delivery, receipt], "A signed Receipt."))
    for vs in list(held.values()):
        if vs.body == "attestation" and vs.statement.attestation.accept == c.id:
            extra = held.get(vs.header.mandate)
            bundle = {s.digest: s for s in (*([extra] if extra else []), *contract, vs)}
            out.append(_artifact("attestation", vs.digest, list(bundle.values()), "An Attestation."))
    return out


def _artifact(
    kind: str, digest: bytes, statements: Sequence[VerifiedStatement], description: str
) -> a2a_pb2.Artifact:
    metadata = struct_pb2.Struct()
    metadata.update({"a2aCoop": {"kind": kind, "digest": digest.hex()}})
    return a2a_pb2.Artifact(
        artifact_id=f"{kind}-{digest.hex()}",
        name=kind,
        description=description,
        parts=[envelope_part(vs.envelope) for vs in statements],
        metadata=metadata,
        extensions=[EXTENSION_URI],
    )


def _agent_message(
    parts: Sequence[a2a_pb2.Part], *, context_id: str, task_id: str = "", coop: bool = True
) -> a2a_pb2.Message:
    return a2a_pb2.Message(
        message_id=str(uuid.uuid4()),
        role=a2a_pb2.ROLE_AGENT,
        context_id=context_id,
        task_id=task_id,
        parts=parts,
        extensions=[EXTENSION_URI] if coop else [],
    )


def _metadata(context: grpc.ServicerContext, keys: Sequence[str]) -> list[str]:
    out = []
    for key, value in context.invocation_metadata() or ():
        if key.lower() in keys:
            out.append(value.decode() if isinstance(value, bytes) else value)
    return out


def _activated(context: grpc.ServicerContext, message_extensions: Iterable[str]) -> set[str]:
    """Extensions the client activated: either header name, comma-separated, or the message's list."""
    requested = {e.strip() for v in _metadata(context, EXTENSION_HEADERS) for e in v.split(",") if e.strip()}
    requested.update(message_extensions)
    return requested & {EXTENSION_URI}


def _echo(context: grpc.ServicerContext, activated: set[str]) -> None:
    if activated:
        context.send_initial_metadata((("a2a-extensions", ",".join(sorted(activated))),))


def _check_version(context: grpc.ServicerContext) -> None:
    """A2A-004: A2A-Version must name major version 1 (absent means 0.3, as A2A defines)."""
    values = _metadata(context, (VERSION_HEADER,))
    version = values[0].strip() if values else "0.3"
    if version.split(".")[0] != "1":
        raise _a2a_error(
            a2a_errors.VersionNotSupportedError(
                f"A2A version {version!r} is not supported; this agent speaks {A2A_PROTOCOL_VERSION}"
            )
        )


# --- the HTTP card endpoint ------------------------------------------------------------------


class CardServer:
    """Serves the AgentCard at ``/.well-known/agent-card.json`` over plain HTTP, on a thread."""

    def __init__(self, servicer: A2AServicer, host: str = "127.0.0.1", port: int = 0) -> None:
        get_card = servicer.card

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                if self.path.split("?")[0] != AGENT_CARD_PATH:
                    self.send_error(404)
                    return
                body = card_json(get_card())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="a2a-card", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the agent, for ``ClientFactory.create_from_url``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class A2AServer:
    """A peer serving CooperationService and A2AService on one gRPC port, plus its card over HTTP."""

    def __init__(self, grpc_server: RunningServer, servicer: A2AServicer, card_server: CardServer) -> None:
        self.grpc = grpc_server
        self.servicer = servicer
        self.card_server = card_server

    @property
    def target(self) -> str:
        return self.grpc.target

    @property
    def card_url(self) -> str:
        return self.card_server.url

    def stop(self) -> None:
        self.card_server.stop()
        self.grpc.stop()

    def __enter__(self) -> A2AServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_a2a(
    node: PeerNode,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    http_port: int = 0,
    name: str = "a2a-coop peer",
    max_message_bytes: int = 4 * MAX_REQUEST_BYTES,
    tls: TlsConfig | None = None,
) -> A2AServer:
    """Serve ``node`` over CooperationService and A2A's A2AService (one gRPC server), and its card
    at ``http://host:http_port/.well-known/agent-card.json``.

    ``max_message_bytes`` defaults to room for a statement and a few context envelopes.
    """
    servicer = A2AServicer(node, name=name)
    running = serve(
        node,
        None,
        host=host,
        port=port,
        max_message_bytes=max_message_bytes,
        extra_servicers=[servicer.add_to],
        tls=tls,
    )
    servicer.endpoint = running.target
    try:
        cards = CardServer(servicer, host, http_port)
    except BaseException:
        running.stop()
        raise
    return A2AServer(running, servicer, cards)


# --- the calling side ------------------------------------------------------------------------


async def drive_a2a(
    peer: Peer, client: Any, first: VerifiedStatement, *, form: str = "raw", max_steps: int = 64
) -> a2a_pb2.Task | None:
    """:func:`a2a_coop.peer.drive` over a stock a2a-sdk ``Client``: send ``first`` and whatever we
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
