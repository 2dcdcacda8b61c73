"""Handing deliveries to the workers through Redis, now or at a given time.

The database is the source of truth; Redis only carries work. If Redis does not take
a hand-over, the deliveries are marked as not handed over (`enqueued_at` empty) and the
sweep hands them over once Redis is back: nothing is lost, only late.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import django_rq
from redis.exceptions import RedisError

from webhooks import fairqueue
from webhooks.fairqueue import Route
from webhooks.models import Delivery

logger = logging.getLogger(__name__)

DELIVERIES_QUEUE = fairqueue.QUEUE
# One `drain` job at a time waits in the queue (this key says so); each one that runs
# sends until Redis holds nothing more for it. Under load one job thus carries hundreds
# of deliveries; when idle, one event makes one job at once.
WAKE_KEY = fairqueue.PREFIX + "drain-queued"
# A drain job stops taking work after this long and leaves the rest to a fresh job.
DRAIN_SECONDS = 60.0
# Outcomes of drain jobs are only for the dashboard; keep them briefly.
RESULT_TTL = 600


def routes(ids: Iterable[int]) -> list[Route]:
    """Where each of `ids` waits: read from the database."""
    rows = Delivery.objects.filter(pk__in=list(ids)).values_list(
        "pk", "webhook_id", "webhook__account_id", "webhook__type"
    )
    return [Route(*row) for row in rows]


def enqueue_deliveries(ids: Iterable[int]) -> bool:
    """Hand `ids` to the workers; False if Redis did not take them (the sweep will)."""
    return hand_over(routes(ids))


def hand_over(waiting: Sequence[Route], front: bool = False) -> bool:
    """Put deliveries in their accounts' turns (at the `front` when handed back); False if Redis refused."""
    if not waiting:
        return True
    try:
        fairqueue.enqueue(waiting, front=front)
        wake()
    except RedisError as exc:
        logger.error("could not hand %s deliveries to Redis, the sweep will: %s", len(waiting), exc)
        not_handed_over([route.delivery_id for route in waiting])
        return False
    return True


def hand_over_at(later: Sequence[tuple[Route, datetime]]) -> None:
    """Hand deliveries over at their times (retries, the end of a pause)."""
    if not later:
        return
    try:
        fairqueue.schedule(later)
    except RedisError as exc:
        logger.error("could not schedule %s deliveries in Redis, the sweep will: %s", len(later), exc)
        not_handed_over([route.delivery_id for route, _ in later])


def not_handed_over(ids: list[int]) -> None:
    # Pending and due when their time comes: the sweep hands them over then.
    Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(enqueued_at=None)


def wake() -> None:
    """Queue a drain job unless one is already waiting."""
    connection = fairqueue.connection()
    if connection.set(WAKE_KEY, "1", nx=True, ex=60):
        queue = django_rq.get_queue(DELIVERIES_QUEUE, commit_mode="auto", connection=connection)
        # By name, so that this module needs nothing of the jobs module (which needs it).
        queue.enqueue(
            "webhooks.jobs.drain",
            result_ttl=RESULT_TTL,
            failure_ttl=86400,
            job_timeout=int(DRAIN_SECONDS * 3),
        )


def waiting_in_redis() -> bool:
    """Whether Redis holds deliveries or drain jobs for the workers."""
    return not fairqueue.is_empty() or django_rq.get_queue(DELIVERIES_QUEUE).count > 0
