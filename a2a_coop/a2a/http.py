"""A2A over HTTP: the JSON-RPC 2.0 and HTTP+JSON bindings and the AgentCard, on uvicorn (SPEC.md 14).

One ASGI app (:func:`http_app`) serves

* the AgentCard at :data:`AGENT_CARD_PATH` (GET and HEAD, with ``ETag``, ``Cache-Control``,
  ``Last-Modified``, ``If-None-Match``; CORS for browsers, A2A-002);
* JSON-RPC 2.0 at :data:`JSONRPC_PATH` and HTTP+JSON at :data:`REST_PATH`: a2a-sdk's own routes
  in front of :class:`~a2a_coop.a2a.handler.CoopRequestHandler`, with two corrections: the HTTP
  status of each A2A error is A2A's (section 5.4: TaskNotCancelable is 409, not 400), and the
  extensions a request activated are echoed in ``A2A-Extensions``.

:class:`HttpServer` runs it on its own thread and event loop, on a socket bound here (IPv4 or
IPv6, port 0 allowed), optionally with TLS. That loop is also where the gRPC servicer runs the
handler's coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from email.utils import formatdate
from typing import Any, Final

import uvicorn
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from a2a.utils.error_handlers import build_rest_error_payload
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from a2a_coop.a2a.callers import CALLER_STATE_KEY, CLIENT_CERT_STATE_KEY, der_of
from a2a_coop.a2a.card import AGENT_CARD_PATH, card_json
from a2a_coop.a2a.handler import CoopRequestHandler
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.transport.limits import MAX_REQUEST_BYTES
from a2a_coop.transport.tls import TlsConfig

log = logging.getLogger("a2a_coop.a2a")

JSONRPC_PATH: Final = "/"
REST_PATH: Final = "/a2a/rest"
CARD_MAX_AGE_S: Final = 300
# The largest request body the HTTP bindings read (A2A-023): twice what the gRPC binding of serve_a2a
# takes (room for a statement and a few context envelopes), since JSON carries each envelope in base64 (4/3
# of its bytes) with some framing: every request the gRPC binding takes fits.
BODY_PER_MESSAGE_BYTES: Final = 2
# A body refused is still read, and dropped, up to this many times the limit, so that a client that sent a
# little too much reads its 413 rather than a reset connection; past that the connection is closed.
DRAIN_FACTOR: Final = 4
MAX_BODY_BYTES: Final = BODY_PER_MESSAGE_BYTES * 4 * MAX_REQUEST_BYTES
_CONTEXT_KEY: Final = "a2a_coop.call_context"

# A2A section 5.4: the HTTP status of each A2A error reason (a2a-sdk 1.3 sends 400 for some).
HTTP_STATUS: Final[dict[str, int]] = {
    "TASK_NOT_FOUND": 404,
    "TASK_NOT_CANCELABLE": 409,
    "PUSH_NOTIFICATION_NOT_SUPPORTED": 400,
    "UNSUPPORTED_OPERATION": 400,
    "CONTENT_TYPE_NOT_SUPPORTED": 415,
    "INVALID_AGENT_RESPONSE": 502,
    "EXTENDED_AGENT_CARD_NOT_CONFIGURED": 400,
    "EXTENSION_SUPPORT_REQUIRED": 400,
    "VERSION_NOT_SUPPORTED": 400,
    "INVALID_PARAMS": 400,
    "INVALID_REQUEST": 400,
    "METHOD_NOT_FOUND": 404,
    "INTERNAL_ERROR": 500,
}
GRPC_STATUS: Final[dict[str, str]] = {  # A2A section 5.4, for the error bodies of HTTP+JSON
    "TASK_NOT_FOUND": "NOT_FOUND",
    "TASK_NOT_CANCELABLE": "FAILED_PRECONDITION",
    "PUSH_NOTIFICATION_NOT_SUPPORTED": "UNIMPLEMENTED",
    "UNSUPPORTED_OPERATION": "UNIMPLEMENTED",
    "CONTENT_TYPE_NOT_SUPPORTED": "INVALID_ARGUMENT",
    "INVALID_AGENT_RESPONSE": "INTERNAL",
    "EXTENDED_AGENT_CARD_NOT_CONFIGURED": "FAILED_PRECONDITION",
    "EXTENSION_SUPPORT_REQUIRED": "FAILED_PRECONDITION",
    "VERSION_NOT_SUPPORTED": "UNIMPLEMENTED",
    "INVALID_PARAMS": "INVALID_ARGUMENT",
    "INVALID_REQUEST": "INVALID_ARGUMENT",
    "METHOD_NOT_FOUND": "NOT_FOUND",
    "INTERNAL_ERROR": "INTERNAL",
}
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, A2A-Version, A2A-Extensions, X-A2A-Extensions, "
    "A2A-Coop-Artifacts-From, If-None-Match, Authorization",  # A2A-Coop-...: GetTask's, A2A-028 (a)
    "Access-Control-Expose-Headers": "ETag, A2A-Extensions, A2A-Version",
    "Access-Control-Max-Age": "600",
}


class _ContextBuilder(DefaultServerCallContextBuilder):
    """a2a-sdk's context builder, remembering the context on the request so the response can echo
    the extensions the handler activated."""

    def build(self, request: Request) -> ServerCallContext:
        ctx = super().build(request)
        # The caller's address, for the operations only the operator may call (A2A-022). uvicorn takes
        # it from X-Forwarded-For only when a proxy on loopback sent the request (forwarded_allow_ips).
        ctx.state[CALLER_STATE_KEY] = request.client.host if request.client is not None else ""
        # The client certificate it presented over TLS, if any (A2A-026): the ASGI TLS extension's
        # client_cert_chain, which the server's protocol (_ClientCertificates) fills in.
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if chain:
            ctx.state[CLIENT_CERT_STATE_KEY] = der_of(chain[0])
        request.scope[_CONTEXT_KEY] = ctx
        return ctx


Endpoint = Callable[[Request], Awaitable[Response]]


def _json_body(request: Request) -> bool:
    """Whether a request's body is declared JSON (``application/json``, any parameters)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _content_type_refused(request: Request, *, rest: bool) -> Response:
    error = a2a_errors.ContentTypeNotSupportedError(
        f"the request body must be application/json, not {request.headers.get('content-type', 'unset')!r}"
    )
    if rest:
        payload = build_rest_error_payload(error)
        payload["error"].update(code=415, status="INVALID_ARGUMENT")
        return JSONResponse(payload, status_code=415)
    return JSONResponse(build_error_response(None, error))


def _finish(endpoint: Endpoint, *, rest: bool) -> Endpoint:
    async def wrapped(request: Request) -> Response:
        if request.method == "POST" and not _json_body(request) and (not rest or await request.body()):
            response = _content_type_refused(request, rest=rest)
        else:
            response = await endpoint(request)
        if rest and response.status_code >= 400 and isinstance(response, JSONResponse):
            response = _fix_rest_error(response)
        if rest and response.headers.get("content-type", "").startswith("application/a2a+json"):
            response.headers["content-type"] = "application/json"  # HTTP+JSON (A2A 11.1)
        ctx = request.scope.get(_CONTEXT_KEY)
        activated = ctx.state.get("activated_extensions") if ctx is not None else None
        if activated:
            response.headers["A2A-Extensions"] = ",".join(sorted(activated))
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapped


def _fix_rest_error(response: JSONResponse) -> Response:
    try:
        payload = json.loads(bytes(response.body))
        error = payload["error"]
        reason = next(d["reason"] for d in error.get("details", []) if "reason" in d)
    except (ValueError, KeyError, TypeError, StopIteration):
        return response
    status = HTTP_STATUS.get(reason, response.status_code)
    error["code"] = status
    error["status"] = GRPC_STATUS.get(reason, error.get("status", "UNKNOWN"))
    return JSONResponse(payload, status_code=status, media_type="application/json")


def _wrap(routes: Sequence[BaseRoute], *, rest: bool) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for r in routes:
        if isinstance(r, Route):
            out.append(Route(r.path, endpoint=_finish(r.endpoint, rest=rest), methods=list(r.methods or ())))
        elif isinstance(r, Mount):
            out.append(Mount(r.path, routes=_wrap(list(r.routes), rest=rest)))
        else:  # pragma: no cover - a2a-sdk builds Routes and Mounts only
            out.append(r)
    return out


def card_routes(
    get_card: Callable[[], a2a_pb2.AgentCard],
    *,
    max_age_s: int = CARD_MAX_AGE_S,
    clock: Callable[[], int] = wall_clock_ms,
) -> list[BaseRoute]:
    """The AgentCard at :data:`AGENT_CARD_PATH`: GET, HEAD, OPTIONS (CORS), with caching headers.

    ``Last-Modified`` is when, by ``clock`` (the agent's: its test clock's under CTL-003), the card
    last changed (A2A-021): the start for the card served first, else the first time a card with a new
    ETag was served -- a card of a renewed Mandate never says it is older than the Mandate."""
    served = {"etag": "", "since": formatdate(clock() / 1000, usegmt=True)}

    async def card(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS_HEADERS)
        body = card_json(get_card())
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        if etag != served["etag"]:
            if served["etag"]:
                served["since"] = formatdate(clock() / 1000, usegmt=True)
            served["etag"] = etag
        headers = {
            **CORS_HEADERS,
            "ETag": etag,
            "Cache-Control": f"public, max-age={max_age_s}",
            "Last-Modified": served["since"],
            "Vary": "Origin",
        }
        match = request.headers.get("if-none-match", "")
        if etag in {m.strip().removeprefix("W/") for m in match.split(",")} or match.strip() == "*":
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type="application/json")
        return Response(body, status_code=200, headers=headers, media_type="application/json")

    return [Route(AGENT_CARD_PATH, endpoint=card, methods=["GET", "HEAD", "OPTIONS"])]


class BodyLimit:
    """ASGI middleware: a request whose body is larger than ``max_bytes`` is refused 413 before the app
    parses any of it (A2A-023) -- by its Content-Length, or, without one (chunked), once the bytes read
    pass the limit. The body is read here, at most ``max_bytes`` of it, and handed to the app whole. The
    gRPC binding refuses such a request RESOURCE_EXHAUSTED (RPC-008); without this bound uvicorn and
    a2a-sdk read and parsed a body of any size, some three times its size in memory."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            if int(length) <= DRAIN_FACTOR * self.max_bytes:
                await self._drain(receive, 0)
            await self._refuse(scope, send, int(length))
            return
        chunks: list[bytes] = []
        read = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: the app sees it as ever
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            read += len(chunk)
            more = bool(message.get("more_body", False))
            if read > self.max_bytes:
                if more:
                    read = await self._drain(receive, read)
                await self._refuse(scope, send, read)
                return
            chunks.append(chunk)
            if not more:
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _drain(self, receive: Any, read: int) -> int:
        """Read and drop what is left of a body refused, up to :data:`DRAIN_FACTOR` times the limit, so
        that a client that sent a little too much reads its 413 (closed with its bytes unread, the
        connection is reset, and the client sees no answer). Returns the bytes read in all."""
        while read <= DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                break
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return read

    async def _refuse(self, scope: Any, send: Any, size: int) -> None:
        detail = f"request body of {size}+ bytes exceeds this agent's limit of {self.max_bytes} (A2A-023)"
        if scope.get("path", "").startswith(REST_PATH):
            payload: dict[str, Any] = {
                "error": {"code": 413, "status": "RESOURCE_EXHAUSTED", "message": detail}
            }
        else:  # JSON-RPC: Invalid Request, the id unread
            payload = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": detail}}
        body = json.dumps(payload).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"access-control-allow-origin", b"*"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Any], receive: Any) -> Callable[[], Awaitable[Any]]:
    """An ASGI ``receive`` that gives ``messages`` first, then what ``receive`` gives."""
    pending = list(messages)

    async def replayed() -> Any:
        return pending.pop(0) if pending else await receive()

    return replayed


def http_app(
    handler: CoopRequestHandler,
    get_card: Callable[[], a2a_pb2.AgentCard],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    clock: Callable[[], int] = wall_clock_ms,
) -> Starlette:
    """The ASGI app of one peer: the card (dated by ``clock``, the agent's, in Unix ms), JSON-RPC at
    ``/`` and HTTP+JSON under ``/a2a/rest``, reading no request body larger than ``max_body_bytes``
    (A2A-023: :class:`BodyLimit`)."""
    builder = _ContextBuilder()
    jsonrpc = _wrap(create_jsonrpc_routes(handler, rpc_url=JSONRPC_PATH, context_builder=builder), rest=False)
    rest = _wrap(create_rest_routes(handler, path_prefix=REST_PATH, context_builder=builder), rest=True)

    async def preflight(request: Request) -> Response:
        return Response(status_code=204, headers=CORS_HEADERS)

    cors = [
        Route(JSONRPC_PATH, endpoint=preflight, methods=["OPTIONS"]),
        Route(REST_PATH + "/{path:path}", endpoint=preflight, methods=["OPTIONS"]),
    ]
    app = Starlette(routes=[*card_routes(get_card, clock=clock), *cors, *jsonrpc, *rest])
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (an IPv4 or IPv6 address, or a name) and ``port``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def server_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """The HTTP listener's TLS context from the same PEM material as the gRPC listener's."""
    if tls.certificate_chain is None or tls.private_key is None:
        raise ValueError("a TLS server needs certificate_chain and private_key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    fd, path = tempfile.mkstemp(prefix="a2a-coop-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(tls.certificate_chain + b"\n" + tls.private_key)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    if tls.trusted_ca is not None:
        ctx.load_verify_locations(cadata=tls.trusted_ca.decode())
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.require_client_auth else ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _http_protocol(config: uvicorn.Config) -> type[asyncio.Protocol]:
    """The HTTP protocol class uvicorn would use for ``config``."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    http = config.http
    if isinstance(http, type):
        return http
    found: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS.get(http, http))
    return found


def _with_client_certificates(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's HTTP/1.1 protocol), telling the app the client certificate each TLS connection
    presented, as the ASGI TLS extension does: ``scope["extensions"]["tls"]["client_cert_chain"]`` (PEM;
    the leaf only, all ``ssl`` gives). uvicorn itself does not: the caller's certificate is how the agent
    knows a party from a stranger behind mutual TLS (A2A-026)."""

    class ClientCertificates(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if not der:
                return
            chain = [ssl.DER_cert_to_PEM_cert(der)]
            inner: Any = getattr(self, "app")  # noqa: B009  # uvicorn's, set in its __init__

            async def app(scope: Any, receive: Any, send: Any) -> None:
                extensions = dict(scope.get("extensions") or {})
                extensions["tls"] = {**(extensions.get("tls") or {}), "client_cert_chain": chain}
                scope["extensions"] = extensions
                await inner(scope, receive, send)

            setattr(self, "app", app)  # noqa: B010

    return ClientCertificates


class HttpServer:
    """``app`` on uvicorn, on its own thread and event loop (:attr:`loop`)."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, tls: TlsConfig | None = None
    ) -> None:
        self.sock = bind_socket(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.tls = tls
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        if tls is not None and tls.trusted_ca is not None:
            config.http = _with_client_certificates(_http_protocol(config))
        config.load()
        if tls is not None:
            config.ssl = server_ssl_context(tls)
        self._server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="a2a-http", daemon=True)
        self._thread.start()
        if not self._started.wait(30) or not self._server.started:
            self.stop()
            raise OSError(f"the A2A HTTP server did not start on {host}:{self.port}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            task = asyncio.ensure_future(self._server.serve(sockets=[self.sock]))
            while not self._server.started and not task.done():
                await asyncio.sleep(0.01)
            self._started.set()
            await task

        try:
            self.loop.run_until_complete(main())
        except Exception:  # pragma: no cover - logged, the constructor reports it
            log.exception("A2A HTTP server failed")
        finally:
            self._started.set()
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:  # streams still open (subscribers, SSE watchers): end them quietly
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        with contextlib.suppress(Exception):
            self.sock.close()
        if not self.loop.is_closed() and not self._thread.is_alive():
            self.loop.close()
