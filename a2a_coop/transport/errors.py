"""Protocol errors across gRPC, both ways (SPEC.md section 13, "Errors"; ERR-001).

Theory of operation. A rejection leaves the server as the registry's gRPC
status (``CoopError.grpc_status``) plus a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer. Its first detail is a
``google.rpc.ErrorInfo``:

* ``reason``: the SPEC code (``EQUIVOCATION``), ``domain``: ``a2acoop.v1``;
* ``metadata``: ``requirement`` (when known), ``detail`` (the human message),
  ``origin`` (as the *server* saw it) and ``evidence`` (how many evidence
  envelopes the error carries).

The evidence envelopes themselves (the two conflicting statements of an
``EQUIVOCATION`` or ``CHAIN_BROKEN``) follow as further details, each an
``Any`` of type ``a2acoop.v1.Envelope`` whose value is the envelope's exact
bytes: never decoded and re-encoded, so the signatures still verify, and a
reflection-aware tool (grpcurl) can still print them. They are attached only
while the whole status stays under :data:`EVIDENCE_BUDGET_BYTES`, because
trailers share the peer's metadata limit (8 KiB by default in gRPC); past it the
error still arrives, with its ``evidence`` count, and no envelopes -- an escrow's
refusal of an answer to an offer it closed names where its Stamp is read instead
(``stamp_seq``, RPC-006 (b)).

The client reverses this: an ``RpcError`` carrying our ``ErrorInfo`` becomes
the same :class:`~a2a_coop.protocol.errors.CoopError` subclass, with ``origin`` seen from
the client (a statement the server blames on its caller is ours: LOCAL).
Everything else (deadline, unreachable peer, refused TLS, a server bug, a code
this version does not know) becomes a :class:`TransportError`, which is *not* a
CoopError: a runtime must never mistake "the network failed" for "the peer
rejected the statement".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed
from grpc_status import rpc_status

from a2a_coop.protocol.errors import CoopError, Origin, by_code, printable

DOMAIN: Final = "a2acoop.v1"
ENVELOPE_TYPE_URL: Final = "type.googleapis.com/a2acoop.v1.Envelope"
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
# RPC-005 (a): the ErrorInfo key a KEY_REVOKED refusal's reach time went by before it was `reach_ms`. It
# misnamed it -- a revocation's effective_ms is another value, which its envelope carries --, and is sent
# beside `reach_ms`, the same value, for clients that read only it.
LEGACY_REACH_KEY: Final = "effective_ms"
# Room left for the encoded google.rpc.Status when evidence is attached: under gRPC's default 8 KiB
# metadata limit with space for the other trailers and base64 expansion on the wire.
EVIDENCE_BUDGET_BYTES: Final = 4096
# Human messages are cut to this length on the wire, for the same reason.
MAX_DETAIL_CHARS: Final = 1024

logger = logging.getLogger(__name__)

_FLIP: Final = {Origin.LOCAL: Origin.REMOTE, Origin.REMOTE: Origin.LOCAL, Origin.UNKNOWN: Origin.UNKNOWN}


class TransportError(Exception):
    """A call failed for a reason other than a protocol rejection.

    Handlers may raise it too, to answer with a status of their choosing (say
    ``UNAVAILABLE`` while shutting down).

    Attributes:
        code: the gRPC status code.
        details: the status message.
        reason: the ErrorInfo reason when the peer sent an a2a-coop code this
            version does not know (SPEC.md section 12: treated as a rejection of
            the stated status); otherwise empty.
    """

    def __init__(self, code: grpc.StatusCode, details: str = "", *, reason: str = "") -> None:
        self.code = code
        self.details = details
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.code.name}{reason}: {self.details}"


def shown(text: str, limit: int = 2 * MAX_DETAIL_CHARS) -> str:
    """``text`` fit for a status message that may quote what a caller sent: cut to ``limit`` characters
    (RPC-005 (b): the trailer must fit) and :func:`printable`."""
    return printable(text[:limit])[:limit]


def status_for(err: CoopError) -> grpc.Status:
    """The gRPC status a server aborts with for ``err``.

    Returns:
        A ``grpc.Status`` for ``ServicerContext.abort_with_status`` (code, message
        and the ``grpc-status-details-bin`` trailer).
    """
    code = grpc.StatusCode[err.grpc_status]
    # A detail may quote what the caller sent (a reason, an issuer): cut and escaped (RPC-005 (b)).
    detail = shown(err.detail, MAX_DETAIL_CHARS)
    # A server rejects what its caller sent unless the error says otherwise: "remote", from its side.
    origin = Origin.REMOTE if err.origin is Origin.UNKNOWN else err.origin
    metadata = {"detail": detail, "origin": origin.value, "evidence": str(len(err.evidence))}
    if err.requirement:
        metadata["requirement"] = err.requirement
    metadata |= hints(err)
    if "reach_ms" in metadata:  # the same value under the name older clients read it by (RPC-005 (a))
        metadata[LEGACY_REACH_KEY] = metadata["reach_ms"]
    retry_after_ms = getattr(err, "retry_after_ms", 0)
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=err.code, domain=DOMAIN, metadata=metadata))
    details = [info]
    if retry_after_ms:
        retry = any_pb2.Any()
        delay = duration_pb2.Duration(
            seconds=retry_after_ms // 1000, nanos=(retry_after_ms % 1000) * 1_000_000
        )
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(retry)
    status = status_pb2.Status(code=code.value[0], message=shown(str(err)), details=details)
    evidence = [any_pb2.Any(type_url=ENVELOPE_TYPE_URL, value=e) for e in err.evidence]
    # The envelopes go after the ErrorInfo and any RetryInfo (RPC-012 (b) holds with evidence too).
    with_evidence = status_pb2.Status(code=status.code, message=status.message, details=[*details, *evidence])
    if evidence and with_evidence.ByteSize() <= EVIDENCE_BUDGET_BYTES:
        status = with_evidence
    return rpc_status.to_status(status)


def hints(err: CoopError) -> dict[str, str]:
    """The ErrorInfo metadata a refusal carries for machines beside its code, on every binding (RPC-005
    (a), RPC-012 (b), A2A-009): ``retry_after_ms``, when a retry may be taken (back-pressure),
    ``reach_ms``, a KEY_REVOKED refusal's reach time (its detail shows it in UTC for people), and
    ``stamp_seq``, the ledger seq of the Stamp an escrow's refusal of an answer to an offer it closed rests
    on (RPC-006 (b): 0 is a seq, None is none)."""
    out = {}
    for key in ("retry_after_ms", "reach_ms"):
        value = getattr(err, key, 0)
        if value:
            out[key] = str(value)
    stamp_seq = getattr(err, "stamp_seq", None)
    if stamp_seq is not None:
        out["stamp_seq"] = str(stamp_seq)
    return out


def from_rpc_error(err: grpc.RpcError) -> CoopError | TransportError:
    """The exception a client raises for a failed call.

    Args:
        err: the failed call (sync ``grpc.RpcError``, or ``grpc.aio.AioRpcError``).

    Returns:
        The :class:`CoopError` subclass of the code in the call's ErrorInfo, with
        requirement, detail, evidence and origin (seen from the client); or a
        :class:`TransportError` with the status code when the call carries no
        a2a-coop ErrorInfo, or one with a code this version does not know.
    """
    code = err.code()
    # The server's words, escaped wherever they are shown from here (a CLI line, a log, a report): a
    # server that escaped nothing reached the caller's terminal with its escapes (RPC-005 (b)).
    message = printable(err.details() or "")
    status = _status_details(err)
    if status is None or status.code != code.value[0]:
        return TransportError(code, message)
    for detail in status.details:
        if not detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            continue
        info = error_details_pb2.ErrorInfo()
        detail.Unpack(info)
        if info.domain != DOMAIN:
            continue
        try:
            cls = by_code(info.reason)
        except KeyError:
            return TransportError(code, message, reason=printable(info.reason))
        try:
            origin = _FLIP[Origin(info.metadata.get("origin", Origin.UNKNOWN))]
        except ValueError:
            origin = Origin.UNKNOWN
        evidence = tuple(d.value for d in status.details if d.type_url == ENVELOPE_TYPE_URL)
        out = cls(
            printable(info.metadata["detail"]) if "detail" in info.metadata else message,
            requirement=printable(info.metadata.get("requirement", "")),
            origin=origin,
            evidence=evidence,
        )
        retry_after = info.metadata.get("retry_after_ms", "")
        if retry_after.isdigit() and hasattr(out, "retry_after_ms"):
            out.retry_after_ms = int(retry_after)
        # an older server sent the same reach under the old name alone (RPC-005 (a))
        reach = info.metadata.get("reach_ms") or info.metadata.get(LEGACY_REACH_KEY, "")
        if reach.isdigit() and hasattr(out, "reach_ms"):
            out.reach_ms = int(reach)
        stamp_seq = info.metadata.get("stamp_seq", "")
        if stamp_seq.isdigit() and hasattr(out, "stamp_seq"):
            out.stamp_seq = int(stamp_seq)
        return out
    return TransportError(code, message)


def _status_details(err: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in the call's trailers, if any and well formed."""
    try:  # (key, value) pairs: grpcio's _Metadatum tuples, or grpc.aio.Metadata
        trailers: Iterable[tuple[str, str | bytes]] = cast(Any, err.trailing_metadata()) or ()
    except AttributeError:  # an RpcError raised without a call behind it
        return None
    for key, value in trailers:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                logger.warning("peer sent a malformed %s trailer", STATUS_DETAILS_KEY)
                return None
    return None
