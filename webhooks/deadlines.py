"""The wall-clock deadline of each outgoing request, and the one thread that enforces them.

A request may run on one thread and be read on another (webhooks.outbound.Exchange): the
deadline goes with the request, and cuts its sockets wherever it is.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Deadline:
    """The wall-clock deadline of one request, and the sockets it may have to cut.

    Socket timeouts bound each read, not the sum of them: a receiver that trickles its
    status line or headers a byte a second would never trip one. At the deadline the
    watchdog shuts the request's sockets down, which ends any read in progress at once
    (TLS included, since the raw socket goes).
    """

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        # Never zero: a zero timeout would make the socket non-blocking.
        return max(0.001, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        """Expired, or about to be: the watchdog cuts up to a TICK late, and a request read after its
        deadline (one written with others, see outbound.Exchange) fails on its socket's own timeout first."""
        return self.expired or time.monotonic() >= self.at

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def expire(self) -> None:
        # Under the lock, so that a request that has just finished (and may hand its
        # connection to the next one) is never cut.
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread per process that expires deadlines as they pass, earliest first.

    A deadline passes about as often as a request starts, mostly long after its request
    finished: woken for each, the thread took the GIL from the send thread once per
    request (1.7 context switches per delivery in a worker). It wakes at most every `TICK`
    and expires every deadline that has passed, so a request is cut at most `TICK` late.
    """

    TICK = 0.05

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._changed:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbound-deadlines", daemon=True)
                self._thread.start()
            # Deadlines mostly come in order: wake the thread only when this one is now the
            # first to pass (a wake-up per request cost a tenth of a worker's CPU).
            if self._heap[0][2] is deadline:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._heap:
                    self._changed.wait()
                at, _, deadline = self._heap[0]
                left = at - time.monotonic()
                if left > 0:
                    self._changed.wait(max(left, self.TICK))
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


WATCHDOG = Watchdog()
_current = threading.local()


@contextmanager
def deadline_of(seconds: float) -> Iterator[Deadline]:
    """Run one request of this thread under a deadline of `seconds`."""
    deadline = Deadline(seconds)
    WATCHDOG.watch(deadline)
    try:
        with within(deadline):
            yield deadline
    finally:
        deadline.finish()


@contextmanager
def within(deadline: Deadline) -> Iterator[None]:
    """The sockets this thread connects or writes on meanwhile (`watch`) are cut at `deadline`."""
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = None


def watch(sock: socket.socket | None) -> None:
    """Cut `sock` at the deadline this thread runs under, if any."""
    deadline = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.add(sock)
