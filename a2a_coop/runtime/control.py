"""The test-only ConformanceControlService (SPEC.md section 18.2): a conformance suite asks this
peer to initiate a negotiation, so the peer can be tested in the initiator role.

It makes the peer sign an Offer on request, so ``a2a-coop serve`` adds it only behind the explicit
``--conformance-control`` flag, and only on a loopback address or behind mutual TLS (CTL-001), and
answers only its operator's callers: the CLI serves it behind an :class:`OperatorOnly`, which judges a
client certificate as A2A-026 does and refuses any other caller ``PERMISSION_DENIED``, ErrorInfo reason
``NOT_OPERATOR``, before its request is parsed.
The Offer goes through the same policy guard as any other (MND-011); the counterparty's answers
through the same verifier: a refusal of either fails the call with that rejection (RPC-005).

``a2a-coop escrow serve --conformance-faucet`` (test-only: it mints funds) serves its EscrowService to
every caller, as any escrow does, and pays its faucet on its operator's Submits alone: an
:class:`OperatorsFaucet` judges each Submit's caller the same way (CTL-002).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status

from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc
from a2a_coop.protocol.errors import CoopError
from a2a_coop.runtime.alarm import KeyForked
from a2a_coop.runtime.node import faucet_shut
from a2a_coop.runtime.peer import DEFAULT_OFFER_TTL_MS, Peer, drive
from a2a_coop.runtime.perform_time import TooLittleTimeToPerform
from a2a_coop.runtime.reputation import TrustRefused
from a2a_coop.transport import CooperationClient, TransportError
from a2a_coop.transport.errors import DOMAIN, shown, status_for

logger = logging.getLogger(__name__)

SERVICE = "a2acoop.v1.ConformanceControlService"
MAX_TTL_MS = 86_400_000
CALL_TIMEOUT_S = 10.0
NOT_OPERATOR: Final = "NOT_OPERATOR"  # the ErrorInfo reason of a caller refused as no operator's (CTL-001)


def not_operator_status(service: str = SERVICE, rule: str = "CTL-001") -> grpc.Status:
    """What a caller that is not the operator's is answered (CTL-001, CTL-002): ``PERMISSION_DENIED``,
    ErrorInfo reason ``NOT_OPERATOR``; the same whatever its request held, checked before anything of it."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=NOT_OPERATOR, domain=DOMAIN))
    message = f"only this server's operator may use {service.rpartition('.')[2]} ({rule})"
    status = status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=message, details=[info])
    return rpc_status.to_status(status)


class OperatorOnly(grpc.ServerInterceptor):  # type: ignore[type-arg]  # generic only in the stubs
    """Serves ``services`` (full gRPC service names) only to the operator's callers: any other call is
    refused :func:`not_operator_status` (citing ``rule``) before its request is parsed or any handler
    runs. ``operator`` judges a call (the CLI: a client certificate as A2A-026 judges it). The reference
    peer puts its ConformanceControlService behind one (CTL-001). Its methods are all unary; a streaming
    one is refused ``TypeError`` here rather than served unguarded."""

    def __init__(
        self, services: Collection[str], operator: Callable[[grpc.ServicerContext], bool], rule: str
    ) -> None:
        self.services = frozenset(services)
        self.operator = operator
        self.rule = rule

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        service = details.method.lstrip("/").partition("/")[0]
        if handler is None or service not in self.services:
            return handler
        if handler.unary_unary is None:
            raise TypeError(f"OperatorOnly guards unary methods only, not {details.method}")
        operator, refused = self.operator, not_operator_status(service, self.rule)
        behavior, parse = handler.unary_unary, handler.request_deserializer

        def guarded(request: bytes, context: grpc.ServicerContext) -> Any:
            if not operator(context):  # judged before the request is parsed (CTL-001, CTL-002)
                context.abort_with_status(refused)
            if parse is None:  # the servicer parses the bytes itself (EscrowService)
                return behavior(request, context)
            try:
                message = parse(request)
            except DecodeError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not valid protobuf")
            return behavior(message, context)

        # the request reaches ``guarded`` as bytes: parsed only once the caller is judged
        return grpc.unary_unary_rpc_method_handler(guarded, response_serializer=handler.response_serializer)


class OperatorsFaucet(grpc.ServerInterceptor):  # type: ignore[type-arg]  # generic only in the stubs
    """Pays an escrow's test faucet on its operator's Submits alone (CTL-002): ``operator`` judges each
    call of ``method`` (a full gRPC method name: EscrowService's Submit) once, from its gRPC context,
    before its request is parsed and anything is deposited (the CLI: a client certificate as A2A-026
    judges it); a call that is not the operator's is served as any other, within
    :func:`~a2a_coop.runtime.node.faucet_shut`: the faucet deposits nothing for it, and its answer is the
    one an escrow without a faucet gives. Every other call passes untouched: none pays the faucet."""

    def __init__(self, method: str, operator: Callable[[grpc.ServicerContext], bool]) -> None:
        self.method = method
        self.operator = operator

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or details.method != self.method:
            return handler
        if handler.unary_unary is None:
            raise TypeError(f"OperatorsFaucet judges a unary method only, not {details.method}")
        operator, behavior = self.operator, handler.unary_unary

        def served(request: Any, context: grpc.ServicerContext) -> Any:
            if operator(context):  # judged once, before anything is deposited (CTL-002)
                return behavior(request, context)
            with faucet_shut():
                return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            served,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ControlServicer(control_pb2_grpc.ConformanceControlServiceServicer):  # type: ignore[misc]  # generated
    """Serves Initiate for one peer."""

    def __init__(self, peer: Peer, after: Callable[[bytes], object] | None = None) -> None:
        self.peer = peer
        self.after = after  # told each negotiation initiated, however it went (a node's watch_exposed)

    def Initiate(  # the gRPC method's name
        self, request: control_pb2.InitiateRequest, context: grpc.ServicerContext
    ) -> control_pb2.InitiateResponse:
        if not request.counterparty_url or not request.counterparty or not request.HasField("proposal"):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "counterparty_url, counterparty and proposal are required"
            )
        if request.ttl_ms > MAX_TTL_MS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ttl_ms is at most {MAX_TTL_MS}")
        try:
            return self._initiate(request)
        except CoopError as err:
            context.abort_with_status(status_for(err))
        except TransportError as err:
            context.abort(grpc.StatusCode.UNAVAILABLE, shown(f"counterparty: {err}"))
        except (ValueError, TrustRefused, KeyForked, TooLittleTimeToPerform) as err:
            # Terms naming an escrow this peer does not trust (MND-015), a counterparty its trust policy
            # refuses (ATT-016), a fork proof against its own key (ATT-017), or bonded terms that leave
            # it too little time after the bonding cutoff (SPEC 9.4): its guard declines.
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, shown(str(err)))
        raise AssertionError("unreachable")  # abort raises

    def _initiate(self, request: control_pb2.InitiateRequest) -> control_pb2.InitiateResponse:
        logger.info(
            "conformance control: initiating with %.120r at %.120r",
            request.counterparty,
            request.counterparty_url,
        )
        self.peer.hold(list(request.context))
        with CooperationClient(request.counterparty_url, timeout_s=CALL_TIMEOUT_S) as client:
            offer = self.peer.propose(
                request.counterparty, request.proposal, ttl_ms=request.ttl_ms or DEFAULT_OFFER_TTL_MS
            )
            try:
                sent = drive(self.peer, client.exchange, offer)
            finally:
                # Our bonded offer rejected, countered or unanswered: the escrow is shown what answered
                # it, or asked past its bonding cutoff, and reveals an Accept shown to it alone (ESC-013).
                if self.after is not None:
                    self.after(offer.header.negotiation_id)
        return control_pb2.InitiateResponse(
            negotiation_id=offer.header.negotiation_id, envelopes=[vs.envelope for vs in sent]
        )


def control_service(peer: Peer, after: Callable[[bytes], object] | None = None) -> Any:
    """An ``extra_servicers`` entry for :func:`a2a_coop.transport.serve` adding ConformanceControlService;
    ``after`` is told the id of each negotiation it initiated. Behind mutual TLS serve it with an
    :class:`OperatorOnly` for :data:`SERVICE` among the server's interceptors (CTL-001)."""

    def add(server: grpc.Server) -> Sequence[str]:
        servicer = ControlServicer(peer, after)
        control_pb2_grpc.add_ConformanceControlServiceServicer_to_server(servicer, server)
        return [SERVICE]

    return add
