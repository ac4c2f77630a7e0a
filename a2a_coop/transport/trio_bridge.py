"""grpcio for a trio peer: handlers run on the trio thread, client calls are awaited from it.

Theory of operation. grpcio knows threads and asyncio, not trio. A trio peer
keeps all its state (verifier, chains, journal, negotiations) on the trio
thread and lets nothing else touch it; the two directions cross over like this:

* **Serving.** The grpcio server calls handlers on its worker threads.
  :class:`TrioHandlerBridge` wraps a handler so that each call is handed to the
  trio thread with :func:`trio.from_thread.run_sync` and the worker waits for
  the answer. Handler methods therefore run one at a time, between the peer's
  own trio tasks, exactly as if a trio task had called them; they are plain
  functions and must not block.
* **Calling.** :func:`call_in_trio` starts a call with a stub method's
  ``.future`` (grpcio sends it from its own thread) and parks the trio task
  until the future's done-callback wakes it through the trio token, so the
  loop never blocks and any number of calls can be in flight. If the task's
  cancel scope fires first, the gRPC call is cancelled (the server sees
  CANCELLED) unless ``cancellable=False``. :class:`TrioCooperationClient` and
  :class:`TrioEscrowClient` wrap the blocking clients' channels this way.

Never call a blocking client, or a bridged handler, from the trio thread: the
first blocks the loop; the second, through a server on the same loop, deadlocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
import trio

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.transport.client import (
    CooperationClient,
    EscrowClient,
    escrow_did_of,
    submit_batches,
)
from a2a_coop.transport.errors import TransportError, from_rpc_error
from a2a_coop.transport.handlers import CooperationHandler, EscrowHandler
from a2a_coop.transport.paging import (
    DEFAULT_MAX_READ_BYTES,
    CutAnswer,
    OpeningParts,
    PageGuard,
    PageLimits,
)
from a2a_coop.transport.proofs import proof_message, proof_of

T = TypeVar("T")


class TrioHandlerBridge:
    """Runs handler methods on one trio loop's thread, for grpcio's worker threads.

    Create it on the trio thread (or pass that loop's token), then wrap handlers:

        bridge = TrioHandlerBridge()
        server = serve(bridge.cooperation(peer), None)

    If the trio loop has ended, bridged calls fail with ``UNAVAILABLE``.
    """

    def __init__(self, token: trio.lowlevel.TrioToken | None = None) -> None:
        self.token = token if token is not None else trio.lowlevel.current_trio_token()

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` on the trio thread and return its result (or raise its exception).
        Must be called from a thread other than the trio thread."""
        try:
            return trio.from_thread.run_sync(fn, *args, trio_token=self.token)
        except trio.RunFinishedError:
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "peer is shutting down") from None

    def cooperation(self, handler: CooperationHandler) -> CooperationHandler:
        """``handler``, with every method run on the trio thread."""
        return _TrioCooperation(self, handler)

    def escrow(self, handler: EscrowHandler) -> EscrowHandler:
        """``handler``, with every method run on the trio thread."""
        return _TrioEscrow(self, handler)


class _TrioCooperation:
    def __init__(self, bridge: TrioHandlerBridge, handler: CooperationHandler) -> None:
        self._run, self._handler = bridge.run_sync, handler

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        return self._run(self._handler.exchange, envelope, context)

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self._run(self._handler.get_log, from_seq, limit)

    def get_checkpoint(self) -> bytes:
        return self._run(self._handler.get_checkpoint)

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        return self._run(self._handler.get_attestations, subject, limit, page_token, max_bytes)

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        return self._run(self._handler.gossip, envelopes, proofs)


class _TrioEscrow:
    def __init__(self, bridge: TrioHandlerBridge, handler: EscrowHandler) -> None:
        self._run, self._handler = bridge.run_sync, handler

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        return self._run(self._handler.submit, envelopes)

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self._run(self._handler.get_ledger, from_seq, limit)

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        return self._run(self._handler.get_transcript, from_seq, limit, max_bytes, opening_from)

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return self._run(self._handler.get_balance, party)


async def call_in_trio(
    fn: Callable[..., grpc.Future[T]], *args: Any, cancellable: bool = True, **kwargs: Any
) -> T:
    """Make a gRPC call from a trio task without blocking the loop.

    Args:
        fn: a stub method's ``.future`` (e.g. ``stub.Exchange.future``); it is called
            as ``fn(*args, **kwargs)``: pass the request and ``timeout=``.
        cancellable: if the task is cancelled while the call runs, cancel the call
            (True), or shield it and wait for its end (False: for calls whose effect
            must be known, such as a Submit the journal records).

    Returns:
        The call's response message.

    Raises:
        CoopError: the server rejected the request (the same code).
        TransportError: any other failure, including the deadline.
        trio.Cancelled: the task was cancelled (the call is cancelled too).
    """
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: grpc.Future[T]) -> None:  # on a grpcio thread, or right here if already done
        with contextlib.suppress(trio.RunFinishedError):  # the loop ended while the call was out
            token.run_sync_soon(done.set)

    future = fn(*args, **kwargs)
    future.add_done_callback(wake)
    try:
        with trio.CancelScope(shield=not cancellable):
            await done.wait()
    except trio.Cancelled:
        future.cancel()
        raise
    try:
        return future.result()
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err


class TrioCooperationClient:
    """The calls of :class:`~a2a_coop.transport.client.CooperationClient`, awaitable from trio.

    It shares the blocking client's channel, deadline and TLS settings; closing
    either closes both. Errors as :func:`call_in_trio`.
    """

    def __init__(self, client: CooperationClient) -> None:
        self.client = client
        self._stub = client.stub
        self._timeout = client.timeout_s

    async def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        """As :meth:`CooperationClient.exchange` (idempotent: safe to retry)."""
        req = service_pb2.ExchangeRequest(envelope=envelope, context=context)
        resp = await call_in_trio(self._stub.Exchange.future, req, timeout=self._timeout)
        answer = CutAnswer()
        while start := answer.take(resp):  # a cut answer (RPC-021)
            req.answer_from = start
            resp = await call_in_trio(self._stub.Exchange.future, req, timeout=self._timeout)
        return answer.envelopes

    async def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """As :meth:`CooperationClient.get_log`."""
        req = service_pb2.GetLogRequest(from_seq=from_seq, limit=limit)
        resp = await call_in_trio(self._stub.GetLog.future, req, timeout=self._timeout)
        return list(resp.envelopes), resp.head_seq

    async def get_checkpoint(self) -> bytes:
        """As :meth:`CooperationClient.get_checkpoint`."""
        req = service_pb2.GetCheckpointRequest()
        resp = await call_in_trio(self._stub.GetCheckpoint.future, req, timeout=self._timeout)
        return bytes(resp.envelope)

    async def get_attestations(
        self, subject: str, *, max_pages: int = 1_000, max_bytes: int = DEFAULT_MAX_READ_BYTES
    ) -> list[list[bytes]]:
        """As :meth:`CooperationClient.get_attestations` (every page, checked as it checks them)."""
        guard = PageGuard(
            f"GetAttestations of the peer at {self.client.target}", PageLimits(max_pages, max_bytes)
        )
        out: list[list[bytes]] = []
        token = ""
        while True:
            req = service_pb2.GetAttestationsRequest(subject=subject, page_token=token)
            resp = await call_in_trio(self._stub.GetAttestations.future, req, timeout=self._timeout)
            bundles = [list(b.envelopes) for b in resp.bundles]
            guard.page([e for b in bundles for e in b])
            out += bundles
            token = resp.next_page_token
            if not token:
                return out
            guard.token(token)

    async def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        """As :meth:`CooperationClient.gossip`."""
        req = service_pb2.GossipRequest(
            envelopes=envelopes,
            proofs=[proof_message(p) for p in proofs],
        )
        resp = await call_in_trio(self._stub.Gossip.future, req, timeout=self._timeout)
        return list(resp.envelopes), [proof_of(p) for p in resp.proofs]


class TrioEscrowClient:
    """The calls of :class:`~a2a_coop.transport.client.EscrowClient`, awaitable from trio.

    ``submit`` is not cancellable by default: once evidence is out, the caller
    waits to learn what the escrow made of it.
    """

    def __init__(self, client: EscrowClient) -> None:
        self.client = client
        self._stub = client.stub
        self._timeout = client.timeout_s
        self._did: str | None = None

    async def submit(self, envelopes: Sequence[bytes], *, cancellable: bool = False) -> list[bytes]:
        """As :meth:`EscrowClient.submit`: evidence too large for one request goes as consecutive
        Submits, split where the blocking client splits it, and the answers are joined."""
        batches = submit_batches(envelopes)
        if len(batches) > 1:
            batches = submit_batches(envelopes, await self._escrow_did())
        answer: list[bytes] = []
        for batch in batches:
            resp = await self._submit(batch, cancellable)
            whole = CutAnswer()
            while start := whole.take(resp):  # a cut answer (RPC-021)
                resp = await self._submit(batch, cancellable, answer_from=start)
            answer += whole.envelopes[1 if answer else 0 :]  # the escrow's Mandate once
        return answer

    async def _submit(
        self, envelopes: Sequence[bytes], cancellable: bool, answer_from: int = 0
    ) -> service_pb2.SubmitResponse:
        req = service_pb2.SubmitRequest(envelopes=envelopes, answer_from=answer_from)
        return await call_in_trio(
            self._stub.Submit.future, req, timeout=self._timeout, cancellable=cancellable
        )

    async def _escrow_did(self) -> str:
        """As the blocking client's: the agent of the Mandate a Submit of nothing is answered with."""
        if self._did is None:
            resp = await self._submit([], cancellable=True)
            self._did = escrow_did_of(resp.envelopes)
        return self._did

    async def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """As :meth:`EscrowClient.get_ledger`."""
        req = service_pb2.GetLedgerRequest(from_seq=from_seq, limit=limit)
        resp = await call_in_trio(self._stub.GetLedger.future, req, timeout=self._timeout)
        return list(resp.envelopes), resp.head_seq

    async def get_transcript(self, from_seq: int, limit: int) -> tuple[list[bytes], int, int]:
        """As :meth:`EscrowClient.get_transcript` (the opening's parts joined, ESC-006 (b))."""
        joined = OpeningParts()
        while True:
            req = service_pb2.GetTranscriptRequest(
                from_seq=from_seq, limit=limit, opening_from=joined.opening_from
            )
            resp = await call_in_trio(self._stub.GetTranscript.future, req, timeout=self._timeout)
            if joined.take(from_seq, resp):
                return joined.envelopes, resp.head_seq, resp.next_seq

    async def get_balance(self, party: str) -> tuple[int, int, str, int]:
        """As :meth:`EscrowClient.get_balance`."""
        req = service_pb2.GetBalanceRequest(party=party)
        resp = await call_in_trio(self._stub.GetBalance.future, req, timeout=self._timeout)
        return resp.available, resp.locked, resp.currency, resp.as_of_seq
