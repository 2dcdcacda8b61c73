"""The RQ worker class that `make worker` runs."""

from __future__ import annotations

from typing import Any

from rq.exceptions import StopRequested
from rq.worker import SimpleWorker, WorkerStatus


class Worker(SimpleWorker):
    """SimpleWorker (no fork per job) whose SIGTERM never interrupts a Redis call half-way.

    rq raises StopRequested from the signal handler wherever the worker happens to be. In
    the middle of a Redis pipeline (registry cleaning, heartbeats) that leaves unread replies
    on the connection, and the shutdown that follows hangs or fails with "Wrong number of
    response items". Here the handler only raises while the worker is blocked waiting for a
    job; anywhere else it sets the flag that the work loop checks before its next dequeue.
    """

    _waiting_for_job = False

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        if self._stop_requested:
            raise StopRequested
        self._waiting_for_job = True
        try:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            self._waiting_for_job = False

    def _shutdown(self) -> None:
        if self.get_state() == WorkerStatus.BUSY or not self._waiting_for_job:
            self._stop_requested = True
            return
        raise StopRequested
