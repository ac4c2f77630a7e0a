"""A job run on a thread of its own once a time on a process's clock comes: a served peer's timer.

The reference's served peer is threads (grpcio's workers, the escrow witness's), not an event loop, so what
must happen at a time when no request comes -- re-ranking evidence owed to the disk one window after it was
staged on an idle peer (SPEC ATT-013 (e)) -- needs a thread that waits for that time. The time is the peer's
clock's, which a test clock moves forward at once (CTL-003): :meth:`DueTimer.wake` has it look again, so a
test advances the clock instead of sleeping the window out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class DueTimer:
    """Runs ``job`` on its own thread once ``clock`` (Unix ms) reaches the earliest time :meth:`arm` set.

    ``job`` returns the next time it is due, or None: nothing pending. The thread starts at the first
    :meth:`arm` (a peer that never needs it runs none) and ends at :meth:`close`, a job under way finishing
    first -- so nothing runs after the caller closes what the job writes to.
    """

    def __init__(self, clock: Callable[[], int], job: Callable[[], int | None], *, name: str) -> None:
        self._clock = clock
        self._job = job
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._due: int | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, at_ms: int) -> None:
        """Run the job once the clock reaches ``at_ms`` (or an earlier time armed already). Never blocks
        on the job."""
        with self._cond:
            if self._closed:
                return
            if self._due is None or at_ms < self._due:
                self._due = at_ms
                self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """The clock moved other than with the wall (a test clock advanced): look at it again now."""
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread: a job under way finishes first; nothing runs after this returns."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._due is None:
                    self._cond.wait()
                    continue
                left = self._due - self._clock()
                if left > 0:
                    self._cond.wait(left / 1000)
                    continue
                self._due = None
                self._cond.release()
                try:
                    again = self._job()
                except Exception:  # a failed journal, a bug: said, and the next arm tries again
                    log.exception("%s: the timer's job failed", self._name)
                    again = None
                finally:
                    self._cond.acquire()
                if again is not None and (self._due is None or again < self._due):
                    self._due = again
