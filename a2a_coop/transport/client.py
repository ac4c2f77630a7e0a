"""Blocking gRPC clients for CooperationService and EscrowService (SPEC.md section 13).

Every call carries a deadline (``timeout_s``, 10 s by default). A rejection
raises the :class:`~a2a_coop.protocol.errors.CoopError` subclass the server raised;
any other failure raises :class:`~a2a_coop.transport.errors.TransportError`.
Nothing is retried automatically. :meth:`CooperationClient.exchange` is
idempotent (the peer answers a repeated statement with its original reply,
RPL-002), so a caller may retry it after a timeout or ``UNAVAILABLE``; the
other calls only read and are safe to retry too.

The method signatures match the handler Protocols
(:mod:`a2a_coop.transport.handlers`), so a client can stand wherever a handler
is expected (a relay, a test double). From a trio task use
:mod:`a2a_coop.transport.trio_bridge` instead: these methods block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from a2a_coop._proto.a2acoop.v1 import service_pb2, service_pb2_grpc
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.statements import decode_statement
from a2a_coop.transport.errors import from_rpc_error
from a2a_coop.transport.limits import (
    DEFAULT_TIMEOUT_S,
    FRAMING_BYTES,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
)
from a2a_coop.transport.paging import (
    DEFAULT_ATTESTATION_PAGES,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_READ_BYTES,
    OpeningParts,
    PageGuard,
    PageLimits,
    read_whole,
)
from a2a_coop.transport.proofs import proof_message, proof_of
from a2a_coop.transport.tls import TlsConfig

T = TypeVar("T")


def open_channel(target: str, tls: TlsConfig | None = None) -> grpc.Channel:
    """A channel to ``target`` (``host:port``) with the binding's size limits.

    Args:
        target: the server's address.
        tls: None for plaintext; otherwise the roots to trust (``trusted_ca``), a
            client certificate for mutual TLS, and an optional ``server_name``.
    """
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", MAX_RESPONSE_BYTES)]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    if tls.server_name is not None:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.trusted_ca,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    return grpc.secure_channel(target, credentials, options=options)


class _Client:
    def __init__(
        self, target: str, *, tls: TlsConfig | None, timeout_s: float, page_limits: PageLimits | None = None
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.target = target
        self.timeout_s = timeout_s
        # The bound of each paged read through this client when the call names none (RPC-019 (b)): the
        # CLI's --max-pages and --max-read-bytes. None: each read's own default.
        self.page_limits = page_limits
        self.channel = open_channel(target, tls)

    def _limits(self, max_pages: int | None, max_bytes: int | None, default_pages: int) -> PageLimits:
        """A read's bound: what the call names, else the client's ``page_limits``, else the defaults."""
        chosen = self.page_limits
        return PageLimits(
            max_pages if max_pages is not None else chosen.max_pages if chosen else default_pages,
            max_bytes if max_bytes is not None else chosen.max_bytes if chosen else DEFAULT_MAX_READ_BYTES,
        )

    def _unary(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def _whole(self, method: Any, request: Any, response: Any) -> list[bytes]:
        """The whole answer ``response`` starts: the rest read by the same request from where each part
        ends (RPC-021, :func:`~a2a_coop.transport.paging.read_whole`)."""

        def again(start: int) -> Any:
            request.answer_from = start
            return self._unary(method, request)

        return read_whole(response, again)

    def close(self) -> None:
        """Close the channel; calls in flight fail with CANCELLED."""
        self.channel.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CooperationClient(_Client):
    """Calls a peer's CooperationService.

    Args:
        target: ``host:port`` of the peer.
        tls: None for plaintext, else TLS (and mutual TLS) settings.
        timeout_s: deadline of each unary call, and of a whole Negotiate stream.
        page_limits: the bound of a paged read that names none (RPC-019; default: each read's own).

    All methods raise :class:`~a2a_coop.protocol.errors.CoopError` when the peer rejects
    the request and :class:`~a2a_coop.transport.errors.TransportError` otherwise.
    """

    def __init__(
        self,
        target: str,
        *,
        tls: TlsConfig | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        page_limits: PageLimits | None = None,
    ):
        super().__init__(target, tls=tls, timeout_s=timeout_s, page_limits=page_limits)
        self.stub = service_pb2_grpc.CooperationServiceStub(self.channel)

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        """Deliver one statement; return the peer's answering envelopes, in the order signed.

        Idempotent: sending the same envelope again returns the same answers (RPL-002),
        so retrying after a timeout is safe.

        Args:
            envelope: the statement's envelope bytes.
            context: envelopes the peer may lack to verify it, dependencies first.
        """
        req = service_pb2.ExchangeRequest(envelope=envelope, context=context)
        return self._whole(self.stub.Exchange, req, self._unary(self.stub.Exchange, req))

    def negotiate(self, statements: Iterable[tuple[bytes, Sequence[bytes]]]) -> Iterator[list[bytes]]:
        """Send ``(envelope, context)`` pairs on one Negotiate stream; yield the answers to each,
        in order. The stream's deadline is ``timeout_s``; the first rejection ends it."""
        sent_pairs: list[tuple[bytes, Sequence[bytes]]] = []

        def requests_of() -> Iterator[service_pb2.NegotiateRequest]:
            for e, c in statements:
                sent_pairs.append((e, c))
                yield service_pb2.NegotiateRequest(envelope=e, context=c)

        requests = requests_of()
        try:
            for i, response in enumerate(self.stub.Negotiate(requests, timeout=self.timeout_s)):
                # The rest of a cut answer (RPC-021) is read by repeats of the request: Exchange calls.
                again = service_pb2.ExchangeRequest(envelope=sent_pairs[i][0], context=sent_pairs[i][1])
                yield self._whole(self.stub.Exchange, again, response)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """Envelopes of the peer's chain from ``from_seq`` (at most ``limit``; 0 means the
        server's page size), ascending, and the seq of its head."""
        resp = self._unary(self.stub.GetLog, service_pb2.GetLogRequest(from_seq=from_seq, limit=limit))
        return list(resp.envelopes), resp.head_seq

    def read_log(
        self,
        from_seq: int = 0,
        *,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> list[bytes]:
        """Every statement of the peer's chain from ``from_seq`` to its head that it lets us see, page by
        page (at most ``max_pages`` pages and ``max_bytes`` bytes, :meth:`log_pages`)."""
        pages = self.log_pages(from_seq, max_pages=max_pages, max_bytes=max_bytes)
        return [envelope for page in pages for envelope in page]

    def log_pages(
        self,
        from_seq: int = 0,
        *,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[list[bytes]]:
        """The pages of the peer's chain from ``from_seq`` to its head, each the statements it lets us see
        (at most ``max_pages`` pages and ``max_bytes`` bytes in all; unnamed, the client's ``page_limits``,
        else 10,000 pages and 256 MiB), each page asked from the one
        before's ``next_seq``: a page covers the seqs it read, so it may hold none while more remain
        (statements we may not see). A server that does not set ``next_seq`` is read on from the last seq
        it returned. A caller that found what it looked for stops early: no page after is asked.

        Raises:
            PagingViolation: a page's seqs not strictly increasing from the seq it was asked from (nor
                below its ``next_seq``), or past the bound (RPC-019).
        """
        guard = PageGuard(
            f"GetLog of the peer at {self.target}", self._limits(max_pages, max_bytes, DEFAULT_MAX_PAGES)
        )
        while True:
            request = service_pb2.GetLogRequest(from_seq=from_seq, limit=0)
            resp = self._unary(self.stub.GetLog, request)
            envelopes = list(resp.envelopes)
            guard.page(envelopes)
            seqs = [int(decode_statement(decode_envelope(e).payload).header.seq) for e in envelopes]
            guard.seqs(seqs, from_seq)
            if resp.next_seq and seqs and seqs[-1] >= resp.next_seq:
                guard.violation(f"seq {seqs[-1]} in a page whose next_seq is {resp.next_seq}")
            yield envelopes
            if resp.next_seq > from_seq:
                from_seq = resp.next_seq
            elif seqs:  # a server before 0.2: no next_seq
                from_seq = seqs[-1] + 1
            else:
                return
            if from_seq > resp.head_seq:
                return

    def get_checkpoint(self) -> bytes:
        """Envelope bytes of the peer's latest Checkpoint."""
        resp = self._unary(self.stub.GetCheckpoint, service_pb2.GetCheckpointRequest())
        return bytes(resp.envelope)

    def get_attestations(
        self, subject: str, *, max_pages: int | None = None, max_bytes: int | None = None
    ) -> list[list[bytes]]:
        """Every attestation the peer holds about ``subject`` ("" for all), each an evidence bundle
        (dependencies first), page by page (at most ``max_pages`` pages and ``max_bytes`` bytes;
        unnamed, the client's ``page_limits``, else 1,000 pages and 256 MiB).

        Raises:
            PagingViolation: a page token given twice, or past the bound (RPC-019).
        """
        guard = PageGuard(
            f"GetAttestations of the peer at {self.target}",
            self._limits(max_pages, max_bytes, DEFAULT_ATTESTATION_PAGES),
        )
        out: list[list[bytes]] = []
        token = ""
        while True:
            bundles, token = self.get_attestations_page(subject, page_token=token)
            guard.page([e for b in bundles for e in b])
            out += bundles
            if not token:
                return out
            guard.token(token)

    def get_attestations_page(
        self, subject: str, *, limit: int = 0, page_token: str = ""
    ) -> tuple[list[list[bytes]], str]:
        """One page of the peer's attestations about ``subject`` (``limit`` 0: the server's page
        size): the bundles, and the next page's token ("" after the last)."""
        req = service_pb2.GetAttestationsRequest(subject=subject, limit=limit, page_token=page_token)
        resp = self._unary(self.stub.GetAttestations, req)
        return [list(b.envelopes) for b in resp.bundles], resp.next_page_token

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        """Swap Checkpoints (each after its Mandate) and fork proofs with the peer (SPEC 10.5)."""
        req = service_pb2.GossipRequest(
            envelopes=envelopes,
            proofs=[proof_message(p) for p in proofs],
        )
        resp = self._unary(self.stub.Gossip, req)
        return list(resp.envelopes), [proof_of(p) for p in resp.proofs]


# A SubmitRequest's bytes per envelope besides the envelope: its field tag and length prefix (at most 4).
_ENVELOPE_FIELD_BYTES = 8


def escrow_did_of(answer: Sequence[bytes]) -> str:
    """The escrow's did:key from its answer to a Submit of no envelopes (its Mandate, ESC-002); "" for
    an empty answer."""
    return decode_statement(decode_envelope(answer[0]).payload).mandate.agent if answer else ""


def submit_batches(envelopes: Sequence[bytes], escrow: str = "") -> list[Sequence[bytes]]:
    """``envelopes`` in one batch when they fit one request at the least receive limit (RPC-008), else
    in consecutive batches that each do (one envelope alone always does, ENV-008) -- except that a
    statement of a negotiation stays in the batch of the first Offer or Counter of that negotiation
    among ``envelopes`` whose terms name ``escrow`` (the escrow's did:key), and so does everything
    between them: ESC-011 refuses a whole Submit that carries a statement of a negotiation none of its
    envelopes (and nothing the escrow holds) shows naming the escrow, and the counterparty, who sizes
    its own statements, could otherwise have the split fall between our Offer and its Counter that
    names the escrow, every time."""
    room = MAX_REQUEST_BYTES - FRAMING_BYTES
    sizes = [len(e) + _ENVELOPE_FIELD_BYTES for e in envelopes]
    if sum(sizes) <= room:
        return [envelopes]
    units = _glued(envelopes, escrow)  # (start, end): envelopes[start:end] go in one batch
    batches: list[Sequence[bytes]] = []
    batch: list[bytes] = []
    size = 0
    for start, end in units:
        n = sum(sizes[start:end])
        if batch and size + n > room:
            batches.append(batch)
            batch, size = [], 0
        batch += envelopes[start:end]
        size += n
    batches.append(batch)
    return batches


def _glued(envelopes: Sequence[bytes], escrow: str) -> list[tuple[int, int]]:
    """``envelopes`` as consecutive ranges, each envelope alone but for those of a negotiation up to the
    first Offer or Counter of it that names ``escrow``, which share one range (with all between)."""
    names: dict[bytes, int] = {}  # negotiation id -> index of its first Offer or Counter naming escrow
    first: dict[bytes, int] = {}  # negotiation id -> index of its first statement here
    for i, envelope in enumerate(envelopes):
        try:
            stmt = decode_statement(decode_envelope(envelope).payload)
        except CoopError:  # the escrow refuses it with its code; it glues nothing
            continue
        nid = stmt.header.negotiation_id
        if not nid:
            continue
        first.setdefault(nid, i)
        body = stmt.WhichOneof("body")
        terms = (
            stmt.offer.terms
            if body == "offer"
            else stmt.counter.proposal.terms
            if body == "counter"
            else None
        )
        if escrow and terms is not None and terms.escrow == escrow:
            names.setdefault(nid, i)
    ends = list(range(1, len(envelopes) + 1))  # the end of the range starting at each index
    for nid, at in names.items():
        for i in range(first[nid], at):
            ends[i] = max(ends[i], at + 1)
    units: list[tuple[int, int]] = []
    i = 0
    while i < len(envelopes):
        end = ends[i]
        j = i + 1
        while j < end:  # a range started inside this one may reach further
            end = max(end, ends[j])
            j += 1
        units.append((i, end))
        i = end
    return units


class EscrowClient(_Client):
    """Calls an escrow's EscrowService. Arguments and errors as :class:`CooperationClient`."""

    def __init__(
        self,
        target: str,
        *,
        tls: TlsConfig | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        page_limits: PageLimits | None = None,
    ):
        super().__init__(target, tls=tls, timeout_s=timeout_s, page_limits=page_limits)
        self.stub = service_pb2_grpc.EscrowServiceStub(self.channel)
        self._did: str | None = None  # the escrow's did:key, once asked (a split Submit needs it)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        """Submit evidence (dependencies first); return the escrow's resulting statements.

        Evidence too large for one request at the least receive limit an escrow may have (RPC-008:
        65536 + 1024 bytes) goes as consecutive Submits in the same order, which the escrow takes as it
        would one (ESC-001: each envelope in order, those before a refusal kept), and the answers are
        joined, the escrow's Mandate once. The counterparty chooses the size of its statements (its
        Mandate, its offers: each up to 65536 bytes, ENV-008), and in one request they would keep every
        Submit of our contract and of our Deliveries from the escrow, for good."""
        answer: list[bytes] = []
        batches = submit_batches(envelopes)
        if len(batches) > 1:  # split: keep each negotiation's statements with what names the escrow
            batches = submit_batches(envelopes, self._escrow_did())
        for batch in batches:
            req = service_pb2.SubmitRequest(envelopes=batch)
            answer += self._whole(self.stub.Submit, req, self._unary(self.stub.Submit, req))[
                1 if answer else 0 :
            ]
        return answer

    def _escrow_did(self) -> str:
        """The escrow's did:key: the agent of the Mandate a Submit of no envelopes is answered with
        (ESC-002), asked once."""
        if self._did is None:
            resp = self._unary(self.stub.Submit, service_pb2.SubmitRequest(envelopes=[]))
            self._did = escrow_did_of(resp.envelopes)
        return self._did

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """Ledger envelopes from ``from_seq`` (paged as :meth:`CooperationClient.get_log`) and its head."""
        resp = self._unary(self.stub.GetLedger, service_pb2.GetLedgerRequest(from_seq=from_seq, limit=limit))
        return list(resp.envelopes), resp.head_seq

    def get_transcript(self, from_seq: int, limit: int) -> tuple[list[bytes], int, int]:
        """The transcript of ledger entries from ``from_seq`` (0 starts with the Mandate): envelopes,
        the ledger's head seq, and the seq to ask for next."""
        joined = OpeningParts()  # from seq 0, the opening in parts (ESC-006 (b)), joined
        while True:
            req = service_pb2.GetTranscriptRequest(
                from_seq=from_seq, limit=limit, opening_from=joined.opening_from
            )
            resp = self._unary(self.stub.GetTranscript, req)
            if joined.take(from_seq, resp):
                return joined.envelopes, resp.head_seq, resp.next_seq

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        """``(available, locked, currency, as_of_seq)`` of ``party`` on the ledger."""
        resp = self._unary(self.stub.GetBalance, service_pb2.GetBalanceRequest(party=party))
        return resp.available, resp.locked, resp.currency, resp.as_of_seq
