"""A2A's gRPC binding for one peer, and serving all three bindings (:func:`serve_a2a`).

See :mod:`a2a_coop.a2a` for the theory of operation. :class:`A2AServicer` serves ``lf.a2a.v1.A2AService``
on the same grpcio server as CooperationService; each call runs
:class:`~a2a_coop.a2a.handler.CoopRequestHandler` (the one the HTTP bindings use) on the HTTP server's
event loop, so every binding reaches the same negotiations with the same semantics. Requests are
parsed here, not by grpcio, so that bytes that are not the request message answer INVALID_ARGUMENT;
A2A errors carry A2A's gRPC status (section 5.4: UNIMPLEMENTED for an unsupported operation, push
notifications or version) and a ``google.rpc.ErrorInfo`` in ``a2a-protocol.org``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import grpc
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from a2a.utils.proto_utils import to_stream_response
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status

from a2a_coop.a2a.callers import CALLER_STATE_KEY, CLIENT_CERT_STATE_KEY, Callers, der_of
from a2a_coop.a2a.card import DEFAULT_DESCRIPTION, agent_card
from a2a_coop.a2a.handler import (
    TASK_STATES,
    CoopRequestHandler,
    NotifyingNode,
    TaskEvents,
    caller_of,
    coop_cause,
    negotiation_artifacts,
)
from a2a_coop.a2a.http import (
    BODY_PER_MESSAGE_BYTES,
    GRPC_STATUS,
    JSONRPC_PATH,
    REST_PATH,
    HttpServer,
    http_app,
)
from a2a_coop.a2a.parts import EXTENSION_HEADERS
from a2a_coop.protocol.errors import CoopError
from a2a_coop.runtime.node import PeerNode
from a2a_coop.transport.errors import MAX_DETAIL_CHARS, STATUS_DETAILS_KEY, status_for
from a2a_coop.transport.limits import MAX_REQUEST_BYTES
from a2a_coop.transport.server import RunningServer, serve
from a2a_coop.transport.tls import TlsConfig

__all__ = [
    "A2A_SERVICE",
    "TASK_STATES",
    "A2AServer",
    "A2AServicer",
    "a2a_status",
    "coop_status",
    "negotiation_artifacts",
    "serve_a2a",
]

log = logging.getLogger("a2a_coop.a2a")
A2A_SERVICE: Final = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"].full_name
A2A_DOMAIN: Final = "a2a-protocol.org"


# --- A2A errors over gRPC --------------------------------------------------------------------


def _a2a_info(error: a2a_errors.A2AError) -> any_pb2.Any:
    reason = a2a_errors.A2A_ERROR_REASONS.get(type(error), "INTERNAL_ERROR")
    info = any_pb2.Any()
    metadata = {
        k: str(v)[:MAX_DETAIL_CHARS] for k, v in (error.data or {}).items() if isinstance(v, str | int)
    }
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=A2A_DOMAIN, metadata=metadata))
    return info


def a2a_status(error: a2a_errors.A2AError) -> grpc.Status:
    """An A2A error as A2A's gRPC binding sends it (A2A section 5.4, not a2a-sdk 1.3's table):
    the status code plus an ErrorInfo in a2a-protocol.org."""
    reason = a2a_errors.A2A_ERROR_REASONS.get(type(error))
    code = grpc.StatusCode[GRPC_STATUS.get(reason or "", "INTERNAL")]
    # The message may quote what the caller sent (a task id of any length): cut, as section 13's are
    # (RPC-005 (b)), so that the Status fits the trailers and the error arrives typed.
    message = error.message[: 2 * MAX_DETAIL_CHARS]
    status = status_pb2.Status(code=code.value[0], message=message, details=[_a2a_info(error)])
    return rpc_status.to_status(status)


def coop_status(err: CoopError) -> grpc.Status:
    """A refused statement (A2A-009): the section 13 status with our ErrorInfo first, then A2A's
    INVALID_PARAMS ErrorInfo so a stock A2A client raises a typed error carrying the code."""
    ours = status_for(err)
    trailers = dict(ours.trailing_metadata)
    status = status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])
    status.details.append(_a2a_info(a2a_errors.InvalidParamsError()))
    return rpc_status.to_status(status)


def _status_of(exc: BaseException) -> grpc.Status:
    cause = coop_cause(exc)
    if cause is not None:
        return coop_status(cause)
    if isinstance(exc, a2a_errors.A2AError):
        return a2a_status(exc)
    if isinstance(exc, CoopError):
        return coop_status(exc)
    log.error("A2A call failed", exc_info=exc)
    return a2a_status(a2a_errors.InternalError("internal error"))


# --- the servicer ----------------------------------------------------------------------------


_UNARY: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    # method -> (handler method, result -> response message)
    "SendMessage": (
        "on_message_send",
        lambda r: (
            a2a_pb2.SendMessageResponse(task=r)
            if isinstance(r, a2a_pb2.Task)
            else a2a_pb2.SendMessageResponse(message=r)
        ),
    ),
    "GetTask": ("on_get_task", lambda r: r),
    "ListTasks": ("on_list_tasks", lambda r: r),
    "CancelTask": ("on_cancel_task", lambda r: r),
    "GetExtendedAgentCard": ("on_get_extended_agent_card", lambda r: r),
    "CreateTaskPushNotificationConfig": ("on_create_task_push_notification_config", lambda r: r),
    "GetTaskPushNotificationConfig": ("on_get_task_push_notification_config", lambda r: r),
    "ListTaskPushNotificationConfigs": ("on_list_task_push_notification_configs", lambda r: r),
    "DeleteTaskPushNotificationConfig": (
        "on_delete_task_push_notification_config",
        lambda r: empty_pb2.Empty(),
    ),
}
_STREAMING: Final = {
    "SendStreamingMessage": "on_message_send_stream",
    "SubscribeToTask": "on_subscribe_to_task",
}


class A2AServicer:
    """A2A's gRPC service in front of ``handler``, whose coroutines run on ``loop``. Thread-safe."""

    def __init__(self, handler: CoopRequestHandler, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.loop = loop

    def add_to(self, server: grpc.Server) -> list[str]:
        """Register on a grpcio server; returns the service names (for ``serve(extra_servicers=...)``)."""
        service = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"]
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method in service.methods:
            request_cls = getattr(a2a_pb2, method.input_type.name)
            if method.name in _STREAMING:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._streaming(method.name, request_cls),
                    response_serializer=a2a_pb2.StreamResponse.SerializeToString,
                )
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._unary(method.name, request_cls),
                    response_serializer=lambda m: m.SerializeToString(),
                )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(A2A_SERVICE, handlers)])
        return [A2A_SERVICE]

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _unary(self, name: str, request_cls: Any) -> Callable[[bytes, grpc.ServicerContext], Any]:
        method, wrap = _UNARY[name]

        def call(data: bytes, context: grpc.ServicerContext) -> Any:
            _not_expired(context)
            try:
                request = _parse(request_cls, data)
                ctx = call_context(context)
                result = self._call(getattr(self.handler, method)(request, ctx))
                _echo(context, ctx)
                return wrap(result)
            except BaseException as exc:  # every failure becomes a typed status
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                context.abort_with_status(_status_of(exc))

        return call

    def _streaming(
        self, name: str, request_cls: Any
    ) -> Callable[[bytes, grpc.ServicerContext], Iterator[Any]]:
        method = _STREAMING[name]

        def call(data: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
            stream: Any = None
            pending: list[concurrent.futures.Future[Any]] = []

            # A cancelled or finished RPC (the client left, the server stops) ends the wait for the
            # next event, so no worker thread stays parked on a subscription nobody reads.
            def cancel() -> None:
                for f in pending:
                    f.cancel()

            _not_expired(context)
            context.add_callback(cancel)
            try:
                request = _parse(request_cls, data)
                ctx = call_context(context)
                stream = getattr(self.handler, method)(request, ctx)
                first = True
                while context.is_active():
                    future = asyncio.run_coroutine_threadsafe(stream.__anext__(), self.loop)
                    pending[:] = [future]
                    try:
                        event = future.result()
                    except (StopAsyncIteration, concurrent.futures.CancelledError):
                        return
                    if first:
                        _echo(context, ctx)
                        first = False
                    yield to_stream_response(event)
            except GeneratorExit:
                raise
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                context.abort_with_status(_status_of(exc))
            finally:
                if stream is not None and not self.loop.is_closed():
                    with contextlib.suppress(Exception):  # closing a finished stream
                        asyncio.run_coroutine_threadsafe(stream.aclose(), self.loop).result(5)

        return call


def _not_expired(context: grpc.ServicerContext) -> None:
    """RPC-009 on A2A's gRPC binding as on CooperationService: a call whose deadline passed before a
    worker took it is not begun (a SendMessage would sign answers its caller has stopped waiting for)."""
    if context.time_remaining() <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the call was handled")


def _parse(cls: Any, data: bytes) -> Any:
    try:
        return cls.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise a2a_errors.InvalidRequestError(f"the request is not a valid {cls.__name__}: {exc}") from None


def call_context(context: grpc.ServicerContext) -> ServerCallContext:
    """A ServerCallContext from gRPC metadata: lower-case header names, requested extensions, the
    caller's address (A2A-022) and the client certificate it presented, if any (A2A-026)."""
    headers: dict[str, str] = {}
    requested: set[str] = set()
    for key, value in context.invocation_metadata() or ():
        text = value.decode() if isinstance(value, bytes) else value
        headers.setdefault(key.lower(), text)
        if key.lower() in EXTENSION_HEADERS:
            requested.update(e.strip() for e in text.split(",") if e.strip())
    state: dict[str, Any] = {"headers": headers, CALLER_STATE_KEY: caller_of(context.peer() or "")}
    certificate = client_certificate(context)
    if certificate:
        state[CLIENT_CERT_STATE_KEY] = certificate
    return ServerCallContext(state=state, requested_extensions=requested)


def client_certificate(context: grpc.ServicerContext) -> bytes:
    """The DER certificate the caller presented over TLS (gRPC verified it against the client CA), or
    b"" (no TLS, or no certificate)."""
    auth = getattr(context, "auth_context", None)
    pem = (auth() if auth is not None else {}).get("x509_pem_cert") or []
    return der_of(pem[0]) if pem else b""


def _echo(context: grpc.ServicerContext, ctx: ServerCallContext) -> None:
    activated = ctx.state.get("activated_extensions")
    if activated:
        context.send_initial_metadata((("a2a-extensions", ",".join(sorted(activated))),))


# --- serving ----------------------------------------------------------------------------------


class A2AServer:
    """A peer serving CooperationService and A2A's gRPC binding on one port, and A2A's JSON-RPC and
    HTTP+JSON bindings and its card on another (HTTP)."""

    def __init__(self, grpc_server: RunningServer, http: HttpServer, handler: CoopRequestHandler) -> None:
        self.grpc = grpc_server
        self.http = http
        self.handler = handler

    @property
    def target(self) -> str:
        return self.grpc.target

    @property
    def card_url(self) -> str:
        """Base URL of the agent, for ``ClientFactory.create_from_url``."""
        return self.http.url

    def card(self) -> a2a_pb2.AgentCard:
        return self.handler._card()

    def stop(self) -> None:
        try:
            self.grpc.stop()
        finally:
            self.http.stop()

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
    description: str = DEFAULT_DESCRIPTION,
    max_message_bytes: int = 4 * MAX_REQUEST_BYTES,
    tls: TlsConfig | None = None,
    public_url: str | None = None,
    public_grpc: str | None = None,
    exchange: Callable[[bytes, Sequence[bytes]], list[bytes]] | None = None,
    cooperation: Any = None,
    operator: Callable[[ServerCallContext], bool] | None = None,
    private_tasks: bool = False,
    callers: Mapping[bytes, str] | None = None,
    identify: Callable[[ServerCallContext], str] | None = None,
    own_did_operator: bool = False,
) -> A2AServer:
    """Serve ``node`` over CooperationService and A2A's three bindings: gRPC (A2AService, on the gRPC
    server with CooperationService, at ``host:port``), JSON-RPC 2.0 and HTTP+JSON (on uvicorn at
    ``host:http_port``, with the AgentCard at ``/.well-known/agent-card.json``).

    ``public_url``: the HTTP base URL the card advertises (default: the bound address);
    ``public_grpc``: the gRPC ``host:port`` it advertises (default: ``public_url``'s host with the
    bound port, else the bound address). ``exchange`` and ``cooperation``: what handles statements
    from A2A and from CooperationService (default: the node; the CLI passes its logging wrapper).
    ``max_message_bytes`` defaults to room for a statement and a few context envelopes.
    Who calls (A2A-026, :class:`~a2a_coop.a2a.callers.Callers`): a caller presenting a client
    certificate (``tls.trusted_ca`` set) is who ``callers`` (certificate SHA-256 fingerprint ->
    ``"operator"`` or a did:key; ``serve --a2a-callers``) lists it as, else the party whose did:key its
    subjectAltName names, else a stranger (one naming the agent's own did:key: the operator's with
    ``own_did_operator``, ``serve --own-did-operator``, else a stranger's); one presenting none is the
    operator's on this host (loopback), else a stranger. ``identify``, instead: who a call is
    (``"operator"``, a did:key, or ""); or
    ``operator``: whether a call is the operator's (every other caller a stranger). The operator's
    callers alone make ``CancelTask`` withdraw an offer (A2A-022).
    ``private_tasks``: serve a Task to the operator's callers and its parties' only (A2A-025;
    ``serve --a2a-private-tasks``).
    """
    events = TaskEvents()
    endpoints: dict[str, str] = {}

    def card() -> a2a_pb2.AgentCard:
        base = endpoints["http"].rstrip("/")
        interfaces = [
            (base + JSONRPC_PATH, "JSONRPC"),
            (base + REST_PATH, "HTTP+JSON"),
            (endpoints["grpc"], "GRPC"),
        ]
        return agent_card(
            node,
            endpoints["grpc"],
            interfaces=interfaces,
            tls=tls is not None,
            name=name,
            description=description,
        )

    if identify is None and operator is None:
        identify = Callers(dict(callers or {}), node.peer.did, own_did_operator).identify
    handler = CoopRequestHandler(
        node,
        card,
        exchange=exchange,
        events=events,
        identify=identify,
        operator=operator,
        private_tasks=private_tasks,
    )
    app = http_app(
        handler, card, max_body_bytes=BODY_PER_MESSAGE_BYTES * max_message_bytes, clock=node.peer.clock
    )  # A2A-023
    http = HttpServer(app, host, http_port, tls=tls)
    events.loop = http.loop
    try:
        servicer = A2AServicer(handler, http.loop)
        running = serve(
            NotifyingNode(cooperation if cooperation is not None else node, events),
            None,
            host=host,
            port=port,
            max_message_bytes=max_message_bytes,
            extra_servicers=[servicer.add_to],
            tls=tls,
        )
    except BaseException:
        http.stop()
        raise
    endpoints["http"] = public_url or http.url
    if public_grpc:
        endpoints["grpc"] = public_grpc
    elif public_url:
        from urllib.parse import urlsplit

        public_host = urlsplit(public_url).hostname or host
        public_host = f"[{public_host}]" if ":" in public_host else public_host
        endpoints["grpc"] = f"{public_host}:{running.port}"
    else:
        endpoints["grpc"] = running.target
    return A2AServer(running, http, handler)
