"""The gRPC server of a peer or an escrow (SPEC.md section 13), on grpcio's thread-pool server.

Theory of operation. Each RPC runs on a worker thread: it parses the request,
checks each envelope's size (ENV-008), makes one call on the handler, and turns
the answer into the response, or the handler's
:class:`~a2a_coop.protocol.errors.CoopError` into a gRPC error with an ErrorInfo
(:mod:`a2a_coop.transport.errors`). Requests reach the servicer as raw bytes
and are parsed here, so a request that is not valid protobuf is answered
``INVALID_ARGUMENT`` (grpcio would say ``INTERNAL``) and never reaches the
handler; a request over the receive limit is refused ``RESOURCE_EXHAUSTED`` by
gRPC before it is even read. Any other exception from a handler is logged here
and reported as a bare ``INTERNAL``: no traceback crosses the wire.

A call whose deadline has passed by the time a worker picks it up is dropped
without calling the handler. A handler that must run on one thread (a trio
peer) is wrapped in :class:`~a2a_coop.transport.trio_bridge.TrioHandlerBridge`.

The server also serves ``grpc.health.v1.Health`` (SERVING per service, and for
"", until :meth:`RunningServer.stop`) and reflection, so ``grpcurl -plaintext
HOST:PORT list`` works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from functools import partial
from types import TracebackType
from typing import Any, Final, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES, decode_envelope
from a2a_coop.protocol.errors import CoopError, EnvelopeTooLarge, Origin, RequestInvalid, RequestMalformed
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.identity import public_key_from_did
from a2a_coop.protocol.statements import decode_statement
from a2a_coop.transport.errors import TransportError, status_for
from a2a_coop.transport.handlers import CooperationHandler, EscrowHandler
from a2a_coop.transport.limits import (
    MAX_FROM_SEQ,
    MAX_PAGE_BYTES,
    MAX_PAGE_ENTRIES,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
)
from a2a_coop.transport.proofs import proof_message, proof_of
from a2a_coop.transport.tls import TlsConfig

COOPERATION_SERVICE: Final = service_pb2.DESCRIPTOR.services_by_name["CooperationService"].full_name
ESCROW_SERVICE: Final = service_pb2.DESCRIPTOR.services_by_name["EscrowService"].full_name
DEFAULT_MAX_WORKERS: Final = 16
MAX_GOSSIP_ITEMS: Final = 128  # envelopes, and proofs, per Gossip request (SPEC 10.5)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def serve(
    cooperation: CooperationHandler | None,
    escrow: EscrowHandler | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsConfig | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    max_message_bytes: int = MAX_REQUEST_BYTES,
    extra_servicers: Sequence[Callable[[grpc.Server], Sequence[str]]] = (),
    interceptors: Sequence[grpc.ServerInterceptor[Any, Any]] = (),
) -> RunningServer:
    """Start serving the given handlers; return once the port is bound.

    Args:
        cooperation: serves CooperationService, or None to leave it out.
        escrow: serves EscrowService, or None to leave it out.
        host: address to bind (loopback by default).
        port: port to bind; 0 picks a free one (see :attr:`RunningServer.port`).
        tls: server certificate and key; with ``trusted_ca``, mutual TLS. None
            serves plaintext.
        max_workers: worker threads, hence concurrent RPCs. An open Negotiate stream
            holds one for its whole life.
        max_message_bytes: largest request gRPC reads; bigger ones are refused with
            RESOURCE_EXHAUSTED before any handler runs. The default fits one
            envelope plus framing (ENV-008); each envelope is checked against
            ENV-008 whatever this is.
        extra_servicers: callables that add further services to the same server
            (e.g. :meth:`a2a_coop.a2a.A2AServicer.add_to`, A2A's own service); each
            returns the full names of the services it added, for health and reflection.
        interceptors: gRPC server interceptors, outermost first (authentication, metrics; the
            fault-injected servers of ``conformance.mutants`` use one to bend a transport rule).

    Returns:
        The running server; stop it with :meth:`RunningServer.stop` or a ``with`` block.

    Raises:
        ValueError: no handler, or TLS settings without a certificate.
        RuntimeError: the address cannot be bound.
    """
    if cooperation is None and escrow is None:
        raise ValueError("serve() needs a cooperation or an escrow handler")
    if tls is not None and tls.certificate_chain is None:
        raise ValueError("a TLS server needs certificate_chain and private_key")
    executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="a2acoop-grpc")
    server = grpc.server(
        executor,
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
            ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
        ],
    )
    services: list[str] = []
    if cooperation is not None:
        server.add_generic_rpc_handlers([_cooperation_handlers(cooperation)])
        services.append(COOPERATION_SERVICE)
    if escrow is not None:
        server.add_generic_rpc_handlers([_escrow_handlers(escrow)])
        services.append(ESCROW_SERVICE)
    for add in extra_servicers:
        services.extend(add(server))
    health_servicer = _Health()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _enable_reflection(
        [*services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
        server,
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            assert tls.certificate_chain is not None and tls.private_key is not None
            credentials = grpc.ssl_server_credentials(
                [(tls.private_key, tls.certificate_chain)],
                root_certificates=tls.trusted_ca,
                require_client_auth=tls.trusted_ca is not None and tls.require_client_auth,
            )
            bound = server.add_secure_port(address, credentials)
        if bound == 0:  # older grpcio reports a failed bind this way instead of raising
            raise RuntimeError(f"cannot bind {address}")
        server.start()
    except BaseException:
        server.stop(None)
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    for name in ("", *services):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, executor, health_servicer, host, bound, tuple(services))


class _Health(health.HealthServicer):
    """grpc's HealthServicer with ``List`` (which the Health service declares) answered, not UNIMPLEMENTED."""

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:  # gRPC's method name
        with self._lock:
            statuses = dict(self._server_status)
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=s) for name, s in statuses.items()}
        )


REFLECTION_V1: Final = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(services: Sequence[str], server: grpc.Server) -> None:
    """Server reflection as ``grpc.reflection.v1`` and the older ``v1alpha`` (grpcurl and most tools
    ask v1 first). grpcio-reflection ships v1alpha only; the two protocols are the same messages under
    another package, so the v1alpha servicer answers both."""
    from grpc_reflection.v1alpha import reflection_pb2

    names = [*services, reflection.SERVICE_NAME, REFLECTION_V1]
    servicer = reflection.ReflectionServicer(names)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                service,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            )
            for service in (reflection.SERVICE_NAME, REFLECTION_V1)
        ]
    )


class RunningServer:
    """A started server. Stop it once; a ``with`` block does it for you.

    Attributes:
        host: the address bound.
        port: the port bound (the one picked, when 0 was asked).
        services: full names of the a2a-coop services served.
    """

    def __init__(  # noqa: PLR0917  # built by serve() only
        self,
        server: grpc.Server,
        executor: futures.ThreadPoolExecutor,
        health_servicer: health.HealthServicer,
        host: str,
        port: int,
        services: tuple[str, ...],
    ) -> None:
        self._server = server
        self._executor = executor
        self._health = health_servicer
        self.host = host
        self.port = port
        self.services = services
        self._stopped = False

    @property
    def target(self) -> str:
        """``host:port`` for a client to dial."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self, grace: float | None = 1.0) -> None:
        """Report NOT_SERVING, refuse new RPCs, give running ones ``grace`` seconds, then
        cancel them. Returns when the server has stopped. Calling it again does nothing.

        A handler call that is cancelled keeps running on its worker thread until it
        returns (a sync handler cannot be interrupted); its result is discarded.
        """
        if self._stopped:
            return
        self._stopped = True
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- servicers ---------------------------------------------------------------------------


def _parse(cls: type[M], data: bytes, context: grpc.ServicerContext) -> M:
    try:
        return cls.FromString(data)
    except DecodeError:
        error = RequestMalformed(
            f"request does not parse as {cls.DESCRIPTOR.full_name}", requirement="RPC-007"
        )
        context.abort_with_status(status_for(error))
        raise AssertionError("abort_with_status returns only by raising") from None  # pragma: no cover


def _check_sizes(envelopes: Iterable[bytes]) -> None:
    """ENV-008, per envelope, before any handler parses one (the request limit may allow more)."""
    for envelope in envelopes:
        if len(envelope) > MAX_ENVELOPE_BYTES:
            raise EnvelopeTooLarge(
                f"envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}",
                requirement="ENV-008",
                origin=Origin.REMOTE,
            )


def _invoke(context: grpc.ServicerContext, method: str, call: Callable[[], T]) -> T:
    """Run one handler call; turn what it raises into the RPC's status."""
    if context.time_remaining() <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the call was handled")
    try:
        return call()
    except CoopError as err:
        context.abort_with_status(status_for(err))
    except TransportError as err:
        context.abort(err.code, err.details)
    except Exception:
        logger.exception("handler failed in %s", method)
        context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _page(envelopes: Sequence[bytes], max_bytes: int = MAX_PAGE_BYTES) -> list[bytes]:
    """The longest prefix that fits in a page (SPEC.md section 13: paged responses are bounded)."""
    out, total = [], 0
    for envelope in envelopes[:MAX_PAGE_ENTRIES]:
        total += len(envelope)
        if total > max_bytes:
            break
        out.append(envelope)
    return out


def answer_part(
    answer: Sequence[bytes], start: int, max_bytes: int = MAX_PAGE_BYTES
) -> tuple[list[bytes], int]:
    """The part of an Exchange or Submit answer one response carries from index ``start``: at most a
    page (RPC-008 (a); ``max_bytes`` of envelopes, less for A2A's bindings, A2A-028), and the index of
    the first envelope it leaves out, 0 when none (RPC-021). The answer is recorded before it leaves
    (RPC-004): one past the send limit failed after the fact, and its repeat, answered the same
    (RPC-003, ESC-007), failed again for good."""
    part = _page(answer[start:], max_bytes)
    end = start + len(part)
    return part, end if end < len(answer) else 0


def _log_next_seq(from_seq: int, limit: int, head: int, page: Sequence[bytes], read: Sequence[bytes]) -> int:
    """GetLog's ``next_seq``: a handler reads ``limit`` seqs of its chain from ``from_seq`` and returns
    the statements among them the caller may see, so the page covers those seqs (up to the head); one cut
    short by the byte bound ends before the first statement it left out. Never before the seq after the
    last one returned: a handler that read further is not read again."""
    covered = max(from_seq, min(from_seq + limit, head + 1))
    if len(page) < len(read):
        return _seq_of(read[len(page)], covered)
    return max(covered, _seq_of(page[-1], -1) + 1) if page else covered


def _seq_of(envelope: bytes, default: int) -> int:
    """The seq of a statement a handler returned (``default`` if it is no statement: not ours to judge)."""
    try:
        return int(decode_statement(decode_envelope(envelope).payload).header.seq)
    except (CoopError, DecodeError, ValueError):
        return default


def _from_seq(from_seq: int) -> int:
    """RPC-011: a position no chain or ledger can hold is refused before any handler sees it."""
    if from_seq > MAX_FROM_SEQ:
        raise RequestInvalid(
            f"from_seq {from_seq} is above {MAX_FROM_SEQ}, the highest seq a statement can carry",
            requirement="RPC-011",
            origin=Origin.REMOTE,
        )
    return from_seq


def _too_much_gossip(envelopes: int, proofs: int) -> RequestInvalid:
    """RPC-011: a Gossip over the item bound is refused before any envelope is read."""
    return RequestInvalid(
        f"a Gossip carries at most {MAX_GOSSIP_ITEMS} envelopes and {MAX_GOSSIP_ITEMS} proofs"
        f" (got {envelopes} and {proofs})",
        requirement="RPC-011",
        origin=Origin.REMOTE,
    )


def _balance_party(party: str) -> str:
    """GetBalance answers for a did:key only: any other string would read as a party with no funds."""
    public_key_from_did(party)  # KEY_INVALID (INVALID_ARGUMENT) for what is not a did:key
    return party


def _limit(requested: int) -> int:
    return MAX_PAGE_ENTRIES if requested == 0 else min(requested, MAX_PAGE_ENTRIES)


def _cooperation_handlers(handler: CooperationHandler) -> grpc.GenericRpcHandler[Any, Any]:
    def exchange(data: bytes, context: grpc.ServicerContext) -> service_pb2.ExchangeResponse:
        req = _parse(service_pb2.ExchangeRequest, data, context)
        replies = _invoke(context, "Exchange", partial(_exchange, handler, req.envelope, req.context))
        part, next_answer = answer_part(replies, req.answer_from)
        return service_pb2.ExchangeResponse(envelopes=part, next_answer=next_answer)

    def negotiate(
        requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[service_pb2.NegotiateResponse]:
        # Strictly in order: one response per request, the first rejection ends the stream.
        for data in requests:
            req = _parse(service_pb2.NegotiateRequest, data, context)
            replies = _invoke(context, "Negotiate", partial(_exchange, handler, req.envelope, req.context))
            part, next_answer = answer_part(replies, req.answer_from)
            yield service_pb2.NegotiateResponse(envelopes=part, next_answer=next_answer)

    def get_log(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetLogResponse:
        req = _parse(service_pb2.GetLogRequest, data, context)
        limit = _limit(req.limit)
        envelopes, head = _invoke(context, "GetLog", lambda: handler.get_log(_from_seq(req.from_seq), limit))
        page = _page(envelopes)
        return service_pb2.GetLogResponse(
            envelopes=page, head_seq=head, next_seq=_log_next_seq(req.from_seq, limit, head, page, envelopes)
        )

    def get_checkpoint(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetCheckpointResponse:
        _parse(service_pb2.GetCheckpointRequest, data, context)
        envelope = _invoke(context, "GetCheckpoint", handler.get_checkpoint)
        return service_pb2.GetCheckpointResponse(envelope=envelope)

    def get_attestations(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetAttestationsResponse:
        req = _parse(service_pb2.GetAttestationsRequest, data, context)

        def attestations() -> tuple[list[list[bytes]], str]:
            if req.subject:  # "" asks for every attestation held (SPEC 10.4)
                public_key_from_did(req.subject)  # KEY_INVALID (INVALID_ARGUMENT) for what is not a did:key
            return handler.get_attestations(req.subject, _limit(req.limit), req.page_token, MAX_PAGE_BYTES)

        bundles, token = _invoke(context, "GetAttestations", attestations)
        return service_pb2.GetAttestationsResponse(
            bundles=[service_pb2.EvidenceBundle(envelopes=b) for b in bundles], next_page_token=token
        )

    def gossip(data: bytes, context: grpc.ServicerContext) -> service_pb2.GossipResponse:
        req = _parse(service_pb2.GossipRequest, data, context)

        def call() -> tuple[list[bytes], list[ForkProof]]:
            if len(req.envelopes) > MAX_GOSSIP_ITEMS or len(req.proofs) > MAX_GOSSIP_ITEMS:
                raise _too_much_gossip(len(req.envelopes), len(req.proofs))
            carried = (e for p in req.proofs for e in (p.first, p.second, *p.revocations))
            _check_sizes([*req.envelopes, *carried])
            return handler.gossip(list(req.envelopes), [proof_of(p) for p in req.proofs])

        envelopes, proofs = _invoke(context, "Gossip", call)
        return service_pb2.GossipResponse(
            envelopes=envelopes,
            proofs=[proof_message(p) for p in proofs],
        )

    return _generic_handler(
        COOPERATION_SERVICE,
        unary={
            "Exchange": (exchange, service_pb2.ExchangeResponse),
            "GetLog": (get_log, service_pb2.GetLogResponse),
            "GetCheckpoint": (get_checkpoint, service_pb2.GetCheckpointResponse),
            "GetAttestations": (get_attestations, service_pb2.GetAttestationsResponse),
            "Gossip": (gossip, service_pb2.GossipResponse),
        },
        stream={"Negotiate": (negotiate, service_pb2.NegotiateResponse)},
    )


def _exchange(handler: CooperationHandler, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
    _check_sizes((envelope, *context))
    return handler.exchange(envelope, list(context))


def _escrow_handlers(handler: EscrowHandler) -> grpc.GenericRpcHandler[Any, Any]:
    # What a Submit leaves to do that its answer need not wait for (EscrowNode.after_reply): run once the
    # answer is sent -- grpc calls an RPC's callbacks when it ends -- while the caller reads it.
    after_reply: Callable[[], None] | None = getattr(handler, "after_reply", None)

    def submit(data: bytes, context: grpc.ServicerContext) -> service_pb2.SubmitResponse:
        req = _parse(service_pb2.SubmitRequest, data, context)

        def call() -> list[bytes]:
            _check_sizes(req.envelopes)
            return handler.submit(list(req.envelopes))

        part, next_answer = answer_part(_invoke(context, "Submit", call), req.answer_from)
        answer = service_pb2.SubmitResponse(envelopes=part, next_answer=next_answer)
        if after_reply is not None:
            context.add_callback(after_reply)
        return answer

    def get_ledger(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetLedgerResponse:
        req = _parse(service_pb2.GetLedgerRequest, data, context)
        envelopes, head = _invoke(
            context, "GetLedger", lambda: handler.get_ledger(_from_seq(req.from_seq), _limit(req.limit))
        )
        return service_pb2.GetLedgerResponse(envelopes=_page(envelopes), head_seq=head)

    def get_transcript(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetTranscriptResponse:
        req = _parse(service_pb2.GetTranscriptRequest, data, context)
        envelopes, head, next_seq, next_opening = _invoke(
            context,
            "GetTranscript",
            lambda: handler.get_transcript(
                _from_seq(req.from_seq), _limit(req.limit), MAX_PAGE_BYTES, _from_seq(req.opening_from)
            ),
        )
        return service_pb2.GetTranscriptResponse(
            envelopes=envelopes, head_seq=head, next_seq=next_seq, next_opening=next_opening
        )

    def get_balance(data: bytes, context: grpc.ServicerContext) -> service_pb2.GetBalanceResponse:
        req = _parse(service_pb2.GetBalanceRequest, data, context)
        balance = _invoke(context, "GetBalance", lambda: handler.get_balance(_balance_party(req.party)))
        available, locked, currency, as_of = balance
        return service_pb2.GetBalanceResponse(
            available=available, locked=locked, currency=currency, as_of_seq=as_of
        )

    return _generic_handler(
        ESCROW_SERVICE,
        unary={
            "Submit": (submit, service_pb2.SubmitResponse),
            "GetLedger": (get_ledger, service_pb2.GetLedgerResponse),
            "GetTranscript": (get_transcript, service_pb2.GetTranscriptResponse),
            "GetBalance": (get_balance, service_pb2.GetBalanceResponse),
        },
        stream={},
    )


def _generic_handler(
    service: str,
    *,
    unary: dict[str, tuple[Callable[..., Any], type[Message]]],
    stream: dict[str, tuple[Callable[..., Any], type[Message]]],
) -> grpc.GenericRpcHandler[Any, Any]:
    """Method handlers that take raw request bytes (no request_deserializer): parsing is ours."""

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn, response_serializer=cls.SerializeToString)
        for name, (fn, cls) in unary.items()
    } | {
        name: grpc.stream_stream_rpc_method_handler(fn, response_serializer=cls.SerializeToString)
        for name, (fn, cls) in stream.items()
    }
    return grpc.method_handlers_generic_handler(service, handlers)
