"""RQ jobs and their enqueueing. Jobs are thin: they work from ids and return a short
outcome that shows in the RQ dashboard."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

import django_rq
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from redis import Redis
from redis.exceptions import RedisError

from catalog import EventType
from webhooks import exports, sending
from webhooks.models import Delivery, Export, Webhook

logger = logging.getLogger(__name__)

# Test sends have their own queue, a fast lane that bulk deliveries never clog.
TESTS_QUEUE = "tests"
DELIVERIES_QUEUE = "deliveries"
# Delivery ids wait in this Redis list, in chunks of up to CHUNK ids, for a `drain` job
# to take them. One drain job at a time waits in the queue (WAKE_KEY says so); each one
# that runs takes chunks until the list is empty. Under load a job thus carries
# hundreds of deliveries; when idle, one event makes one job at once.
READY_KEY = "brevo-hooks:ready"
WAKE_KEY = "brevo-hooks:drain-queued"
CHUNK = 100
# Chunks a drain job takes at a time: enough to keep every send thread busy.
TAKE = 5
# A drain job stops taking after this long and leaves the rest to a fresh job, well
# inside the queue's job timeout.
DRAIN_SECONDS = 60.0
# Outcomes of drain jobs are only for the dashboard; keep them briefly.
RESULT_TTL = 600
# Exports are rare and slow: the bulk queue, never the fast lane.
EXPORTS_QUEUE = "deliveries"


class QueueUnavailable(Exception):
    """Redis could not take the job."""


def send_test(delivery_id: int) -> str:
    """Send one "Send a test" delivery, once: test sends are never retried."""
    return sending.send(delivery_id)


def drain() -> str:
    """Send what waits in the ready list; the outcome reads like "delivered 981, retry 2"."""
    connection = django_rq.get_connection(DELIVERIES_QUEUE)
    # From now on a new arrival queues another drain job, which a free worker runs
    # beside this one.
    connection.delete(WAKE_KEY)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    while True:
        budget = DRAIN_SECONDS - (time.monotonic() - started)
        if budget <= 0:
            wake(connection)  # what is left goes to the next job
            break
        taken = connection.lpop(READY_KEY, TAKE)
        if not taken:
            break
        ids = [int(pk) for chunk in taken for pk in chunk.split(b",")]
        outcomes += sending.deliver(ids, budget=budget)
    return ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())) or "nothing to do"


def wake(connection: Redis) -> None:
    """Queue a drain job unless one is already waiting."""
    if connection.set(WAKE_KEY, "1", nx=True, ex=60):
        queue = django_rq.get_queue(DELIVERIES_QUEUE, commit_mode="auto")
        queue.enqueue(drain, result_ttl=RESULT_TTL, failure_ttl=86400, job_timeout=int(DRAIN_SECONDS * 3))


def enqueue_deliveries(ids: Iterable[int]) -> bool:
    """Hand `ids` to the workers through Redis; False if Redis did not take them.

    A failure loses nothing: the deliveries are marked as not enqueued, and the
    sweeper enqueues them when Redis is back.
    """
    ids = list(ids)
    if not ids:
        return True
    try:
        connection = django_rq.get_connection(DELIVERIES_QUEUE)
        connection.rpush(READY_KEY, *(",".join(map(str, chunk)) for chunk in chunks(ids, CHUNK)))
        wake(connection)
    except RedisError as exc:
        logger.error("could not queue %s deliveries, the sweeper will: %s", len(ids), exc)
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(enqueued_at=None)
        return False
    return True


def waiting_in_redis() -> int:
    """Drain jobs and chunks of ids that Redis holds for the workers."""
    connection = django_rq.get_connection(DELIVERIES_QUEUE)
    return django_rq.get_queue(DELIVERIES_QUEUE).count + connection.llen(READY_KEY)


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


def run_export(export_id: int) -> str:
    """Build one export's CSV and POST its link to the export's notifyURL."""
    return exports.run(export_id)


def enqueue_export(export: Export) -> None:
    """Queue the export job once the Export row is committed; QueueUnavailable if Redis is down."""
    try:
        django_rq.get_queue(EXPORTS_QUEUE).enqueue(run_export, export.pk, result_ttl=86400, failure_ttl=86400)
    except RedisError as exc:
        logger.error("could not queue export %s: %s", export.pk, exc)
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error="The queue was unreachable.")
        raise QueueUnavailable from exc


class RetryRefused(Exception):
    """Why nothing may be retried; `str()` is a sentence for the user."""


def retry_now(webhook: Webhook, deliveries: QuerySet[Delivery]) -> int:
    """Send again, now, those of `deliveries` (of `webhook`) that may be retried; return how many.

    The one rule of "Retry now" and "Retry all failed since…", for the pages and the API:
    which deliveries is `DeliveryQuerySet.retryable`; a disabled webhook's are refused
    (RetryRefused). They are handed to the workers when the transaction commits.
    """
    if not webhook.enabled:
        raise RetryRefused(_("This webhook is disabled. Enable it first (Webhooks > Actions > Enable), then retry."))
    now = timezone.now()
    with transaction.atomic():
        rows = deliveries.filter(webhook=webhook).retryable(now).select_for_update()
        ids = list(rows.values_list("pk", flat=True))
        if not ids:
            return 0
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, enqueued_at=now, completed_at=None
        )
        # The events of a batch follow it again.
        Delivery.objects.filter(batch_id__in=ids).update(status=Delivery.Status.BATCHED, completed_at=None)
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    return len(ids)
