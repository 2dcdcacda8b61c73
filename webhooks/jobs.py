"""RQ jobs and their enqueueing. Jobs are thin: they take ids and return a short
outcome that shows in the RQ dashboard."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import django_rq
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from events.catalog import EventType
from webhooks import sending
from webhooks.models import Delivery, Webhook

logger = logging.getLogger(__name__)

# Test sends have their own queue, a fast lane that bulk deliveries never clog.
TESTS_QUEUE = "tests"
DELIVERIES_QUEUE = "deliveries"
# Deliveries per job: enough that queue overhead is small next to the requests, few
# enough that a job's rounds finish well inside the job timeout.
JOB_SIZE = 100
# Outcomes of delivery jobs are only for the dashboard; keep them briefly.
RESULT_TTL = 600


class QueueUnavailable(Exception):
    """Redis could not take the job."""


def send_test(delivery_id: int) -> str:
    """Send one "Send a test" delivery, once: test sends are never retried."""
    return sending.send(delivery_id)


def deliver(delivery_ids: list[int]) -> str:
    """Send the deliveries of one job; the outcome reads like "delivered 98, retry 2"."""
    outcomes = sending.deliver(delivery_ids)
    return ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())) or "nothing to do"


def enqueue_deliveries(ids: Iterable[int], queue_name: str = DELIVERIES_QUEUE) -> bool:
    """Put jobs carrying `ids` in Redis, JOB_SIZE per job; False if Redis did not take them.

    A failure loses nothing: the deliveries are marked as not enqueued, and the
    sweeper enqueues them when Redis is back.
    """
    ids = list(ids)
    func = send_test if queue_name == TESTS_QUEUE else deliver
    try:
        queue = django_rq.get_queue(queue_name)
        jobs = [
            queue.prepare_data(
                func,
                args=(chunk,) if func is deliver else (chunk[0],),
                result_ttl=RESULT_TTL,
                failure_ttl=86400,
                description=f"deliver {len(chunk)}" if func is deliver else f"send test {chunk[0]}",
            )
            for chunk in chunks(ids, JOB_SIZE if func is deliver else 1)
        ]
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    except RedisError as exc:
        logger.error("could not queue %s deliveries, the sweeper will: %s", len(ids), exc)
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(enqueued_at=None)
        return False
    return True


def chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def enqueue_test(webhook: Webhook, event: EventType) -> Delivery:
    """Create a test delivery of `event`'s sample payload and queue it on the fast lane.

    Raises QueueUnavailable (and cancels the delivery) when Redis cannot be reached.
    """
    payload = event.sample(timezone.now(), webhook.account.time_zone)
    with transaction.atomic():
        delivery = Delivery.objects.create(webhook=webhook, event=event.subscription, payload=payload, is_test=True)
    try:
        # result_ttl keeps the outcome visible in the dashboard for a day.
        django_rq.get_queue(TESTS_QUEUE).enqueue(send_test, delivery.pk, result_ttl=86400, failure_ttl=86400)
    except RedisError as exc:
        logger.error("could not queue test delivery %s: %s", delivery.pk, exc)
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.CANCELLED, completed_at=timezone.now())
        raise QueueUnavailable from exc
    return delivery
