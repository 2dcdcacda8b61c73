"""RQ jobs and their enqueueing. Jobs are thin: they work from ids and return a short
outcome that shows in the RQ dashboard."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import django_rq
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from brevo_hooks.logs import log_ids
from catalog import EventType
from webhooks import exports, fairqueue, handover, sending
from webhooks.handover import DELIVERIES_QUEUE, DRAIN_SECONDS, WAKE_KEY, enqueue_deliveries
from webhooks.models import Delivery, Export, Webhook

logger = logging.getLogger(__name__)

# An RQ queue that workers still serve first: test sends went through it before they had
# their lane in webhooks.fairqueue, and `check_redis` pings through it.
TESTS_QUEUE = "tests"

# Set when the worker is asked to stop (SIGTERM): a running drain job takes nothing
# more, hands back what it holds and finishes what is in flight (webhooks.worker).
stop_requested = threading.Event()
# How long an idle drain job waits for more work before it ends. The DeliveryWorker of
# `make worker` sets it (webhooks.worker); a burst worker (the tests') does not wait.
linger = 0.0

__all__ = ["DELIVERIES_QUEUE", "TESTS_QUEUE", "drain", "enqueue_deliveries", "enqueue_export", "enqueue_test"]


class QueueUnavailable(Exception):
    """Redis could not take the job."""


def send_test(delivery_id: int) -> str:
    """Send one "Send a test" delivery, once: test sends are never retried (jobs queued before the lane)."""
    return sending.send(delivery_id)


def drain() -> str:
    """Send what waits in Redis, account by account; the outcome reads like "delivered 981, retry 2"."""
    # From now on a new arrival queues another drain job, which a free worker runs
    # beside this one.
    fairqueue.connection().delete(WAKE_KEY)
    outcomes: Counter[str] = sending.drain(DRAIN_SECONDS, stop_requested, linger)
    if not fairqueue.is_empty():
        handover.wake()  # what is left goes to the next job, here or at another worker
    return ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())) or "nothing to do"


def enqueue_test(webhook: Webhook, event: EventType) -> Delivery:
    """Create a test delivery of `event`'s sample payload and put it in the fast lane.

    The lane (webhooks.fairqueue) comes before every account's turn: a running drain job
    takes the test within a few milliseconds, whatever the flood it is sending, and an
    idle worker is woken for it. Raises QueueUnavailable (and cancels the delivery) when
    Redis cannot be reached.
    """
    payload = event.sample(timezone.now(), webhook.account.time_zone)
    with transaction.atomic():
        delivery = Delivery.objects.create(webhook=webhook, event=event.subscription, payload=payload, is_test=True)
    try:
        fairqueue.enqueue_test(delivery.pk, webhook.pk)
        handover.wake()
    except RedisError as exc:
        logger.error("could not queue test delivery %s: %s", delivery.pk, exc, extra=log_ids(webhook, delivery))
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.CANCELLED, completed_at=timezone.now())
        raise QueueUnavailable from exc
    return delivery


def run_export(export_id: int) -> str:
    """Build one export's CSV and POST its link to the export's notifyURL."""
    return exports.run(export_id)


def enqueue_export(export: Export) -> None:
    """Queue the export job once the Export row is committed; QueueUnavailable if Redis is down.

    Exports are rare and slow: the bulk queue, never the fast lane.
    """
    try:
        django_rq.get_queue(DELIVERIES_QUEUE).enqueue(run_export, export.pk, result_ttl=86400, failure_ttl=86400)
    except RedisError as exc:
        logger.error(
            "could not queue export %s: %s",
            export.pk,
            exc,
            extra=log_ids(export_id=export.pk, account_id=export.account_id),
        )
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
