"""A2A's gRPC ``A2AService`` for one peer: messages to exchanges, negotiations as Tasks, and serving.

See :mod:`a2a_coop.a2a` for the theory of operation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Final, NoReturn, TypeVar

import grpc
from a2a.types import a2a_pb2, a2a_pb2_grpc
from a2a.utils import errors as a2a_errors
from google.protobuf import any_pb2, struct_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status

from a2a_coop.a2a.card import DEFAULT_DESCRIPTION, CardServer, agent_card
from a2a_coop.a2a.parts import (
    A2A_PROTOCOL_VERSION,
    ENVELOPE_MEDIA_TYPE,
    EXTENSION_HEADERS,
    EXTENSION_URI,
    MEDIA_TYPES,
    VERSION_HEADER,
    envelope_of,
    envelope_part,
    is_envelope_part,
    task_id_for,
)
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import Negotiation, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.transport.errors import STATUS_DETAILS_KEY, status_for
from a2a_coop.transport.limits import MAX_REQUEST_BYTES
from a2a_coop.transport.server import RunningServer, serve
from a2a_coop.transport.tls import TlsConfig

R = TypeVar("R")
A2A_SERVICE: Final = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"].full_name
A2A_DOMAIN: Final = "a2a-protocol.org"


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
        cards = CardServer(servicer.card, host, http_port)
    except BaseException:
        running.stop()
        raise
    return A2AServer(running, servicer, cards)
