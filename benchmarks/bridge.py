"""Which gRPC design the trio peer keeps: ``python -m benchmarks bridge``.

grpcio has no trio support, so a trio peer either bridges (grpcio's
thread-pool server with handlers handed to the trio thread, client calls as
futures awaited from trio: :mod:`a2a_coop.transport.trio_bridge`) or leaves
trio for ``grpc.aio`` on asyncio. Six series, same echo handler (it returns
the request envelope), same ~600-byte signed Offer envelope, same RPC count,
all on loopback in one process:

* ``sync_seq``: :class:`~a2a_coop.transport.client.CooperationClient` calling
  :func:`~a2a_coop.transport.server.serve` one RPC at a time (the floor any
  design must beat with concurrency);
* ``sync_conc32``: the same blocking client (one channel) called from 32
  threads at once against the same thread-pool server (``max_workers=32``),
  handlers on grpc's worker threads: the design the peer process uses today
  (32 in flight);
* ``bridged_seq`` and ``bridged_conc32``: what the serving crossing costs alone.
  The blocking client of ``sync_seq`` and ``sync_conc32``, against the same
  server with its handler wrapped in
  :class:`~a2a_coop.transport.trio_bridge.TrioHandlerBridge` (an idle trio loop
  on a thread of its own), so every call hops from grpc's worker to the trio
  thread and back; ``crossing_vs_sync_seq`` and ``crossing_vs_sync_conc32`` are
  their rates over the unbridged ones;
* ``bridge_conc32``: one trio loop runs both ends, as the peer would: 32 trio
  tasks call through :class:`~a2a_coop.transport.trio_bridge.TrioCooperationClient`
  a server whose handler is wrapped in
  :class:`~a2a_coop.transport.trio_bridge.TrioHandlerBridge`, so every handler
  call hops to the trio thread and back (32 in flight);
* ``aio_conc32``: one asyncio loop runs a ``grpc.aio`` server (a servicer doing
  the same parse, handler call and response as ours) and 32 ``grpc.aio``
  client tasks (32 in flight).

Method: servers, clients and loops are built once, warmed up, and kept; each
round runs every series once, in an order that rotates from round to round so
drift hits all alike. A series' rate is RPCs / wall time of its batch, every
reply checked; its CPU per RPC is the process's CPU time over the batch (both
ends, every thread: the figure a shared machine disturbs least).
``bridge_vs_aio`` and ``sync_vs_aio_conc32`` are the per-round ratios bridge /
aio and sync_conc32 / aio (rates), medians over rounds. The last line printed
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

import grpc
import trio

from a2a_coop._proto.a2acoop.v1 import service_pb2, service_pb2_grpc
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.testing import DAY_MS, FixedClock, Party, service
from a2a_coop.transport.client import CooperationClient
from a2a_coop.transport.handlers import CooperationHandler
from a2a_coop.transport.limits import MAX_PAGE_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES
from a2a_coop.transport.paging import CutAnswer
from a2a_coop.transport.server import COOPERATION_SERVICE, RunningServer, answer_part, serve
from a2a_coop.transport.trio_bridge import TrioCooperationClient, TrioHandlerBridge
from benchmarks._stats import row, stats
from benchmarks.trade import TrioLoop

NAME: Final = "bridge"
IN_FLIGHT: Final = 32
DEFAULT_ROUNDS: Final = 7
DEFAULT_RPCS: Final = 2000
QUICK_ROUNDS: Final = 2
QUICK_RPCS: Final = 64
WARMUP_RPCS: Final = 200
SERIES: Final = ("sync_seq", "sync_conc32", "bridged_seq", "bridged_conc32", "bridge_conc32", "aio_conc32")
TIMEOUT_S: Final = 10.0


class Echo:
    """A CooperationHandler that answers every statement with the statement itself."""

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        return [envelope]

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return [], 0

    def get_checkpoint(self) -> bytes:
        return b""

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        return [], ""

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        return [], []


def offer_envelope() -> bytes:
    """A signed Offer of about 600 bytes: one described service each way."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    deadline = clock.now_ms + DAY_MS
    proposal = alice.proposal(
        gives=[
            service(
                "code-review",
                value=500,
                deadline_ms=deadline,
                description="Review a 400-line pull request: correctness, tests, docs",
            )
        ],
        wants=[
            service(
                "copy-editing",
                value=450,
                deadline_ms=deadline,
                description="Copy-edit 10 pages of user documentation for clarity",
            )
        ],
    )
    return alice.offer(bob, proposal).envelope


def _check(replies: Sequence[list[bytes]], payload: bytes, copies: int = 1) -> None:
    if any(r != [payload] * copies for r in replies):
        raise RuntimeError("an echo came back wrong")


# --- the designs ---------------------------------------------------------------------


def _echo(loop: TrioLoop | None) -> CooperationHandler:
    """The echo handler, run on ``loop``'s thread when one is given (each call crosses to it and back)."""
    return Echo() if loop is None else TrioHandlerBridge(loop.token).cooperation(Echo())


class SyncSeq:
    """Blocking client, one call at a time, against the thread-pool server (its handler bridged to a
    trio loop when ``bridged``)."""

    def __init__(self, payload: bytes, *, bridged: bool = False) -> None:
        self.payload = payload
        self.loop = TrioLoop("bench-trio-idle") if bridged else None
        self.server = serve(_echo(self.loop), None)
        self.client = CooperationClient(self.server.target, timeout_s=TIMEOUT_S)

    def run(self, rpcs: int) -> float:
        exchange, payload = self.client.exchange, self.payload
        start = time.perf_counter()
        replies = [exchange(payload) for _ in range(rpcs)]
        elapsed = time.perf_counter() - start
        _check(replies, payload)
        return elapsed

    def close(self) -> None:
        self.client.close()
        self.server.stop(0)
        if self.loop is not None:
            self.loop.close()


class SyncConc:
    """Blocking client (one channel) called from IN_FLIGHT threads against the thread-pool server (its
    handler bridged to a trio loop when ``bridged``)."""

    def __init__(self, payload: bytes, *, bridged: bool = False) -> None:
        self.payload = payload
        self.loop = TrioLoop("bench-trio-idle") if bridged else None
        self.server = serve(_echo(self.loop), None, max_workers=IN_FLIGHT)
        self.client = CooperationClient(self.server.target, timeout_s=TIMEOUT_S)
        self.pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="bench-sync")

    def run(self, rpcs: int) -> float:
        exchange, payload = self.client.exchange, self.payload
        remaining = iter(range(rpcs))  # next() on a range iterator is atomic under the GIL

        def worker() -> list[list[bytes]]:
            return [exchange(payload) for _ in remaining]

        start = time.perf_counter()
        futures = [self.pool.submit(worker) for _ in range(IN_FLIGHT)]
        replies = [r for f in futures for r in f.result()]
        elapsed = time.perf_counter() - start
        if len(replies) != rpcs:
            raise RuntimeError(f"{len(replies)} replies for {rpcs} calls")
        _check(replies, payload)
        return elapsed

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()
        self.server.stop(0)
        if self.loop is not None:
            self.loop.close()


class TrioBridge:
    """A trio loop on its own thread holding the bridged server and the trio client."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._ready: Future[tuple[trio.lowlevel.TrioToken, RunningServer, TrioCooperationClient]] = Future()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), name="bench-trio", daemon=True)
        self._thread.start()
        self.token, self.server, self.client = self._ready.result(timeout=30)

    async def _main(self) -> None:
        self._stop = trio.Event()
        try:
            bridge = TrioHandlerBridge()
            server = serve(bridge.cooperation(Echo()), None, max_workers=IN_FLIGHT)
        except BaseException as err:
            self._ready.set_exception(err)
            raise
        with server:
            client = TrioCooperationClient(CooperationClient(server.target, timeout_s=TIMEOUT_S))
            self._ready.set_result((trio.lowlevel.current_trio_token(), server, client))
            await self._stop.wait()
            client.client.close()

    async def _round(self, rpcs: int) -> float:
        replies: list[list[bytes]] = []
        remaining = iter(range(rpcs))

        async def worker() -> None:
            for _ in remaining:
                replies.append(await self.client.exchange(self.payload))

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(IN_FLIGHT):
                nursery.start_soon(worker)
        elapsed = time.perf_counter() - start
        _check(replies, self.payload)
        return elapsed

    def run(self, rpcs: int) -> float:
        return trio.from_thread.run(self._round, rpcs, trio_token=self.token)

    def close(self) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self._thread.join(30)


class Aio:
    """An asyncio loop on its own thread holding a grpc.aio server and client."""

    def __init__(self, payload: bytes, *, copies: int = 1, page_bytes: int = MAX_PAGE_BYTES) -> None:
        # ``copies`` and ``page_bytes``: an echo answering each request that many times over, in pages of
        # at most that many bytes -- for the test that the series reads a cut answer whole, as ours do.
        self.payload, self.copies, self.page_bytes = payload, copies, page_bytes
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-asyncio", daemon=True)
        self._thread.start()
        self._call(self._start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=300)

    async def _start(self) -> None:
        handler = Echo()

        async def exchange(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            # What our sync servicer does for Exchange: parse, call the handler, send the answer's part
            # from ``answer_from`` (RPC-021), build the response.
            req = service_pb2.ExchangeRequest.FromString(data)
            answer = handler.exchange(req.envelope, list(req.context)) * self.copies
            part, next_answer = answer_part(answer, req.answer_from, self.page_bytes)
            return service_pb2.ExchangeResponse(envelopes=part, next_answer=next_answer)

        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        method = grpc.unary_unary_rpc_method_handler(
            exchange, response_serializer=service_pb2.ExchangeResponse.SerializeToString
        )
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(COOPERATION_SERVICE, {"Exchange": method})]
        )
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", MAX_RESPONSE_BYTES)]
        )
        self.stub = service_pb2_grpc.CooperationServiceStub(self.channel)

    async def _round(self, rpcs: int) -> float:
        replies: list[list[bytes]] = []
        remaining = iter(range(rpcs))
        request = service_pb2.ExchangeRequest(envelope=self.payload)

        async def worker() -> None:
            for _ in remaining:
                # As every client of ours reads an answer: joined part by part (RPC-021), a cut one too.
                answer = CutAnswer()
                start = answer.take(await self.stub.Exchange(request, timeout=TIMEOUT_S))
                while start:
                    again = service_pb2.ExchangeRequest(envelope=self.payload, answer_from=start)
                    start = answer.take(await self.stub.Exchange(again, timeout=TIMEOUT_S))
                replies.append(answer.envelopes)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
        _check(replies, self.payload, self.copies)
        return elapsed

    def run(self, rpcs: int) -> float:
        elapsed: float = self._call(self._round(rpcs))
        return elapsed

    async def _stop(self) -> None:
        await self.channel.close(None)
        await self.server.stop(0)

    def close(self) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


# --- the run -----------------------------------------------------------------------------------


def run(rounds: int, rpcs: int) -> dict[str, Any]:
    """Build the six designs, time them in interleaved rounds, return the JSON-ready summary."""
    payload = offer_envelope()
    designs: dict[str, Any] = {}
    try:
        designs["sync_seq"] = SyncSeq(payload)
        designs["sync_conc32"] = SyncConc(payload)
        designs["bridged_seq"] = SyncSeq(payload, bridged=True)
        designs["bridged_conc32"] = SyncConc(payload, bridged=True)
        designs["bridge_conc32"] = TrioBridge(payload)
        designs["aio_conc32"] = Aio(payload)
        for design in designs.values():
            design.run(WARMUP_RPCS)
        rates: dict[str, list[float]] = {s: [] for s in SERIES}
        cpu_us: dict[str, list[float]] = {s: [] for s in SERIES}
        ratios: dict[str, list[float]] = {
            k: []
            for k in (
                "bridge_vs_aio",
                "sync_vs_aio_conc32",
                "crossing_vs_sync_seq",
                "crossing_vs_sync_conc32",
            )
        }
        orders = [SERIES[r:] + SERIES[:r] for r in range(len(SERIES))]
        for r in range(rounds):
            elapsed: dict[str, float] = {}
            for s in orders[r % len(orders)]:
                cpu = time.process_time()
                elapsed[s] = designs[s].run(rpcs)
                cpu_us[s].append((time.process_time() - cpu) / rpcs * 1e6)
            for s, seconds in elapsed.items():
                rates[s].append(rpcs / seconds)
            ratios["bridge_vs_aio"].append(elapsed["aio_conc32"] / elapsed["bridge_conc32"])
            ratios["sync_vs_aio_conc32"].append(elapsed["aio_conc32"] / elapsed["sync_conc32"])
            ratios["crossing_vs_sync_seq"].append(elapsed["sync_seq"] / elapsed["bridged_seq"])
            ratios["crossing_vs_sync_conc32"].append(elapsed["sync_conc32"] / elapsed["bridged_conc32"])
    finally:
        for design in designs.values():
            design.close()

    detail = {s: stats(v, 1) for s, v in rates.items()}
    detail |= {f"{s}_cpu_us_per_rpc": stats(v, 1) for s, v in cpu_us.items()}
    detail |= {k: stats(v, 4) for k, v in ratios.items()}
    ratio = {k: round(statistics.median(v), 4) for k, v in ratios.items()}
    return {
        "benchmark": NAME,
        "bridge_rps_conc32": detail["bridge_conc32"]["median"],
        "aio_rps_conc32": detail["aio_conc32"]["median"],
        "sync_rps_seq": detail["sync_seq"]["median"],
        "sync_rps_conc32": detail["sync_conc32"]["median"],
        "bridged_rps_seq": detail["bridged_seq"]["median"],
        "bridged_rps_conc32": detail["bridged_conc32"]["median"],
        **ratio,
        "cpu_us_per_rpc": {s: detail[f"{s}_cpu_us_per_rpc"]["median"] for s in SERIES},
        "payload_bytes": len(payload),
        "in_flight": IN_FLIGHT,
        "rounds": rounds,
        "rpcs": rpcs,
        "detail": detail,
        "env": {
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "trio": trio.__version__,
        },
    }


def table(result: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = [
        ("sync client, sequential (RPC/s)", "sync_seq", ",.0f"),
        (f"sync server+client, {IN_FLIGHT} threads (RPC/s)", "sync_conc32", ",.0f"),
        ("sync client, bridged handler, sequential", "bridged_seq", ",.0f"),
        (f"sync, bridged handler, {IN_FLIGHT} threads", "bridged_conc32", ",.0f"),
        (f"trio bridge, {IN_FLIGHT} in flight (RPC/s)", "bridge_conc32", ",.0f"),
        (f"grpc.aio, {IN_FLIGHT} in flight (RPC/s)", "aio_conc32", ",.0f"),
        ("bridge / aio", "bridge_vs_aio", ".3f"),
        (f"sync {IN_FLIGHT} threads / aio", "sync_vs_aio_conc32", ".3f"),
        ("crossing: bridged / sync, sequential", "crossing_vs_sync_seq", ".3f"),
        (f"crossing: bridged / sync, {IN_FLIGHT} threads", "crossing_vs_sync_conc32", ".3f"),
    ]
    d = result["detail"]
    lines = [
        f"bridge benchmark: {result['rounds']} rounds x {result['rpcs']} Exchange RPCs per series, "
        "interleaved (order rotates per round); loopback, one process",
        f"echo handler, {result['payload_bytes']} B signed Offer envelope each way; python "
        f"{result['env']['python']}, grpcio {result['env']['grpcio']}, trio {result['env']['trio']}",
        "",
        f"{'':<42}{'median':>12}{'min':>12}{'max':>12}",
    ]
    for label, key, fmt in rows:
        lines.append(row(label, d[key], fmt))
    lines += ["", "CPU per RPC, both ends (us):"]
    for s in SERIES:
        lines.append(row(f"  {s}", d[f"{s}_cpu_us_per_rpc"], ",.0f"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks bridge",
        description="Exchange RPC rate: sync client (sequential, threaded; against a plain and a "
        "trio-bridged handler) vs trio bridge vs grpc.aio, "
        f"{IN_FLIGHT} in flight, interleaved rounds.",
    )
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--rpcs", type=int, default=None, help=f"RPCs per series per round (default {DEFAULT_RPCS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_ROUNDS} rounds x {QUICK_RPCS} RPCs (figures meaningless)",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    rounds = args.rounds if args.rounds is not None else QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    rpcs = args.rpcs if args.rpcs is not None else QUICK_RPCS if args.quick else DEFAULT_RPCS
    if rounds < 1 or rpcs < 1:
        parser.error("--rounds and --rpcs must be positive")
    result = run(rounds, rpcs)
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
