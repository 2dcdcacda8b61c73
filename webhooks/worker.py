"""The worker that `make worker` and `make run` start: RQ's SimpleWorker, the sweeper and the scheduled hand-over.

SimpleWorker runs jobs in its own process (no fork per job, so connections and the
send threads are kept). Beside it, two threads: one hands over the deliveries whose
time has come (retries, the end of a pause) within a fraction of a second, the other
runs the sweep every WEBHOOKS_SWEEP_INTERVAL seconds, so that neither needs an extra
process.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from rq.exceptions import StopRequested
from rq.worker import SimpleWorker, WorkerStatus

from webhooks import fairqueue, handover, jobs, metrics, retention
from webhooks.signals import worker_started
from webhooks.sweeper import sweep

logger = logging.getLogger(__name__)


class DeliveryWorker(SimpleWorker):
    """SimpleWorker with the sweeper, whose SIGTERM never interrupts a Redis call half-way.

    rq raises StopRequested from the signal handler wherever the worker happens to be. In
    the middle of a Redis pipeline (registry cleaning, heartbeats) that leaves unread replies
    on the connection, and the shutdown that follows hangs or fails with "Wrong number of
    response items". Here the handler only raises while the worker is blocked waiting for a
    job; anywhere else it sets the flag that the work loop checks before its next dequeue.
    """

    _waiting_for_job = False

    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        if not burst:
            # An idle drain job waits a while for the next hand-over instead of ending at once.
            jobs.linger = DRAIN_LINGER
            threading.Thread(target=sweep_forever, name="sweeper", daemon=True).start()
            threading.Thread(target=hand_over_due_forever, name="scheduled-hand-over", daemon=True).start()
            # Operations (webhooks/metrics.py, webhooks/retention.py): the metrics port, and old history deleted.
            metrics.serve_worker_metrics()
            retention.start_thread()
            # Other apps start their threads here (automations: its runs poller).
            worker_started.send(sender=type(self))
        return super().work(burst, *args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        if self._stop_requested:
            raise StopRequested
        self._waiting_for_job = True
        try:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            self._waiting_for_job = False

    def _shutdown(self) -> None:
        # A drain job in progress takes nothing more, hands back what it holds and
        # finishes what is in flight: the worker exits within WEBHOOKS_TIMEOUT + 5 s.
        jobs.stop_requested.set()
        if self.get_state() == WorkerStatus.BUSY or not self._waiting_for_job:
            self._stop_requested = True
            return
        raise StopRequested


def sweep_forever() -> None:
    stop = threading.Event()
    while True:
        close_old_connections()
        try:
            done = sweep()
            if any(done.values()):
                logger.info("sweep: %s", done)
        except Exception:
            # A sweep that fails (database restarting, say) is tried again next interval.
            logger.exception("sweep failed")
        finally:
            connection.close()
        # Jitter keeps the sweeps of several workers from lining up.
        interval = settings.WEBHOOKS_SWEEP_INTERVAL
        stop.wait(interval * random.uniform(0.9, 1.1))


# How long an idle drain job waits for more work (woken at once by a hand-over) before
# it ends and the worker goes back to RQ's queues.
DRAIN_LINGER = 5.0
# How often each worker looks for deliveries whose scheduled hand-over has come.
HAND_OVER_SECONDS = 0.2


def hand_over_due_forever() -> None:
    """Hand over due retries and ends of pauses, then wake a drain job for them."""
    while not jobs.stop_requested.wait(HAND_OVER_SECONDS):
        try:
            if fairqueue.promote_due():
                handover.wake()
        except Exception:
            # Redis restarting, say: the next tick tries again, and the sweep is the backstop.
            logger.exception("the scheduled hand-over failed")
            jobs.stop_requested.wait(1.0)
