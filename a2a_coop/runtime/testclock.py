"""A test clock (SPEC.md section 18.6, CTL-003): a process's clock that a test moves forward.

A bonded trade's ruling comes only once the escrow's clock has passed an item's deadline plus the
30 s clock tolerance (WIT-003, CMT-002): a test that waits for one on the wall clock waits half a
minute. Like Stripe's test clocks or ``faketime``, a :class:`TestClock` is the wall clock plus an
offset that a test moves forward: ``a2a-coop serve --test-clock`` and ``a2a-coop escrow serve
--test-clock`` run their node on one and serve :data:`SERVICE` (``AdvanceClock``) to their operator's
callers alone (CTL-001's judgement), on a loopback address or behind mutual TLS. Off unless its
operator turns it on; nothing a counterparty sends turns it on or moves it.

The offset only grows: a deadline passed stays passed (an escrow that ruled past a deadline must not
find itself before it again), and the times a journal records and the statements the process signs
carry never go back (CHN-005). Every statement the process signs is dated by the one advanced clock,
so peers of the same test whose clocks were not moved judge it by the TIM-* skew rules: a test moves
every process of its story by the same amount (:func:`advance_clock` on each), keeping them agreed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

import grpc

from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.transport.client import open_channel
from a2a_coop.transport.errors import from_rpc_error
from a2a_coop.transport.tls import TlsConfig

SERVICE: Final = "a2acoop.v1.TestClockService"
# The most one AdvanceClock moves the clock: a year. A test needs minutes; a typo of a few zeros is
# refused rather than leaving the process's journal dated centuries ahead (it never comes back).
MAX_ADVANCE_MS: Final = 366 * 86_400_000


class TestClock:
    """Unix ms: ``wall() + offset``, never less than a time it returned before (the offset only grows,
    and a wall clock stepped back does not take it back either). Thread-safe: the node's ticker, its
    gRPC handlers and the AdvanceClock handler read and move it from different threads."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, wall: Callable[[], int] = wall_clock_ms) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._offset = 0
        self._last = 0
        # Told after each advance: a timer waiting for a time on this clock looks at it again (a
        # served peer's, SPEC ATT-013 (e)) instead of sleeping out the wall time it computed before.
        self._moved: list[Callable[[], None]] = []

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._last, self._wall() + self._offset)
            return self._last

    @property
    def offset_ms(self) -> int:
        with self._lock:
            return self._offset

    def advance(self, by_ms: int) -> int:
        """Move the clock forward by ``by_ms`` and return its time after the move.

        Raises:
            ValueError: ``by_ms`` is 0 or less (the clock never goes back: a deadline passed stays
                passed, a journal's times never go back), or above :data:`MAX_ADVANCE_MS`; nothing moves.
        """
        if by_ms <= 0:
            raise ValueError(f"a test clock only moves forward (CTL-003): by_ms must be above 0, not {by_ms}")
        if by_ms > MAX_ADVANCE_MS:
            raise ValueError(f"a test clock moves at most {MAX_ADVANCE_MS} ms at once, not {by_ms}")
        with self._lock:
            self._offset += by_ms
            moved = list(self._moved)
        for tell in moved:
            tell()
        return self()

    def on_advance(self, tell: Callable[[], None]) -> None:
        """Call ``tell`` after each :meth:`advance` (it must not block)."""
        with self._lock:
            self._moved.append(tell)


class TestClockServicer(control_pb2_grpc.TestClockServiceServicer):  # type: ignore[misc]  # generated
    """Serves AdvanceClock for one :class:`TestClock`."""

    __test__ = False

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock

    def AdvanceClock(  # the gRPC method's name
        self, request: control_pb2.AdvanceClockRequest, context: grpc.ServicerContext
    ) -> control_pb2.AdvanceClockResponse:
        try:
            now = self.clock.advance(request.by_ms)
        except ValueError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        return control_pb2.AdvanceClockResponse(now_ms=now, offset_ms=self.clock.offset_ms)


def test_clock_service(clock: TestClock) -> Any:
    """An ``extra_servicers`` entry for :func:`a2a_coop.transport.serve` adding TestClockService on
    ``clock``. Behind mutual TLS serve it with an :class:`~a2a_coop.runtime.control.OperatorOnly` for
    :data:`SERVICE` among the server's interceptors (CTL-003)."""

    def add(server: grpc.Server) -> Sequence[str]:
        control_pb2_grpc.add_TestClockServiceServicer_to_server(TestClockServicer(clock), server)
        return [SERVICE]

    return add


test_clock_service.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def advance_clock(
    target: str, by_ms: int, *, tls: TlsConfig | None = None, timeout_s: float = 10.0
) -> tuple[int, int]:
    """Ask the process serving TestClockService at ``target`` to move its clock ``by_ms`` forward;
    its clock and total offset after the move.

    Raises:
        TransportError: the call failed: ``code`` INVALID_ARGUMENT for a ``by_ms`` it refused,
            UNIMPLEMENTED for a process without a test clock, PERMISSION_DENIED (``reason``
            NOT_OPERATOR) for a caller that is not its operator's (CTL-003).
        CoopError: never for this service (it answers no a2a-coop code); kept for the client's rule.
    """
    channel = open_channel(target, tls)
    try:
        answer = control_pb2_grpc.TestClockServiceStub(channel).AdvanceClock(
            control_pb2.AdvanceClockRequest(by_ms=by_ms), timeout=timeout_s
        )
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err
    finally:
        channel.close()
    return answer.now_ms, answer.offset_ms
