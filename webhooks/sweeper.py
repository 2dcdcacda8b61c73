"""The sweep: what Redis does not carry, the database still lists.

Every WEBHOOKS_SWEEP_INTERVAL seconds a thread of each worker (webhooks.worker) gives
back deliveries whose worker died mid-send, closes the windows of batched webhooks, and
hands over what is due but not in Redis: deliveries whose hand-over Redis lost (wiped,
or a worker died between taking and claiming them), and retries whose scheduled
hand-over it lost. (Retries normally come on time through the scheduled hand-over,
webhooks.fairqueue; the sweep is the backstop.) Every step is a conditional UPDATE, so
sweeps may overlap; a short Redis lock just saves the work.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from redis.exceptions import RedisError

from catalog.payloads import encode
from webhooks import fairqueue, handover, sql
from webhooks.fairqueue import Route
from webhooks.models import BATCH_EVENT, Attempt, Delivery, Webhook, mask_url

logger = logging.getLogger(__name__)

LOCK_KEY = "brevo-hooks:sweep-lock"
# Brevo's limit, and ours: events per batched POST.
BATCH_MAX = 500
# Deliveries enqueued per sweep; the next sweep takes the rest.
SWEEP_LIMIT = 50_000
# Under a backlog, a delivery enqueued this many sweep intervals ago is enqueued again.
LOST_AFTER_INTERVALS = 20
LOST_ATTEMPT = "The worker stopped before this attempt finished (its lease expired); it will be tried again."


def sweep(now: datetime | None = None, lock: bool = True) -> dict[str, int]:
    """Run one sweep, unless another worker's sweep holds the lock; return what it did."""
    now = now or timezone.now()
    if lock and not take_lock():
        return {}
    return {
        "reclaimed": reclaim_expired_leases(now),
        "batches": close_batch_windows(now),
        "enqueued": enqueue_due(now),
    }


def take_lock() -> bool:
    interval_ms = int(settings.WEBHOOKS_SWEEP_INTERVAL * 1000)
    try:
        connection = fairqueue.connection()
        return bool(connection.set(LOCK_KEY, "1", nx=True, px=max(100, interval_ms * 9 // 10)))
    except RedisError:
        # Without Redis nothing can be enqueued, but leases can still be reclaimed.
        return True


def reclaim_expired_leases(now: datetime) -> int:
    """Give back deliveries whose worker died while sending them."""
    expired = list(
        Delivery.objects.lease_expired(now).values_list("pk", "is_test", "attempt_count", "webhook__url", "payload")
    )
    if not expired:
        return 0
    with transaction.atomic():
        # The trace of the attempt the dead worker made: its request, without the headers.
        lost = [(pk, number, now, mask_url(url), encode(payload).decode()) for pk, _, number, url, payload in expired]
        sql.insert_lost_attempts(lost, LOST_ATTEMPT)
        # Attempts written before their request by an older version, and never completed.
        Attempt.objects.filter(
            delivery_id__in=[row[0] for row in expired], response_status__isnull=True, error=""
        ).update(error=LOST_ATTEMPT)
        still_expired = Delivery.objects.lease_expired(now)
        # A test send is never retried: it failed.
        still_expired.filter(pk__in=[pk for pk, is_test, *_ in expired if is_test]).update(
            status=Delivery.Status.FAILED, completed_at=now, lease_expires_at=None, claim_token=None
        )
        reclaimed = still_expired.filter(pk__in=[pk for pk, is_test, *_ in expired if not is_test]).update(
            status=Delivery.Status.PENDING,
            next_attempt_at=now,
            enqueued_at=None,
            lease_expires_at=None,
            claim_token=None,
        )
    logger.warning("reclaimed %s deliveries from a worker that stopped", reclaimed)
    return reclaimed


def close_batch_windows(now: datetime) -> int:
    """Gather the waiting events of batched webhooks into batches of up to BATCH_MAX."""
    window = timedelta(seconds=settings.WEBHOOKS_BATCH_WINDOW)
    made = 0
    groups = (
        Delivery.objects.filter(status=Delivery.Status.WAITING)
        .values("webhook_id")
        .annotate(oldest=Min("created_at"), count=Count("id"))
    )
    for group in groups:
        webhook = Webhook.objects.get(pk=group["webhook_id"])
        if not webhook.batched:
            # Batching was turned off while events waited: send them one by one now.
            Delivery.objects.filter(webhook=webhook, status=Delivery.Status.WAITING).update(
                status=Delivery.Status.PENDING, next_attempt_at=now, enqueued_at=None
            )
            continue
        if group["oldest"] > now - window and group["count"] < BATCH_MAX:
            continue
        # The window closed: everything that waited goes, BATCH_MAX per POST.
        while make_batch(webhook, now):
            made += 1
    return made


@transaction.atomic
def make_batch(webhook: Webhook, now: datetime) -> bool:
    waiting = Delivery.objects.filter(webhook=webhook, status=Delivery.Status.WAITING).order_by("created_at", "pk")
    ids = list(waiting.values_list("pk", flat=True)[:BATCH_MAX])
    if not ids:
        return False
    batch = Delivery.objects.create(
        webhook=webhook, event=BATCH_EVENT, payload=[], next_attempt_at=now, enqueued_at=None, created_at=now
    )
    # Conditional, so that an event taken by an overlapping sweep is not sent twice.
    Delivery.objects.filter(pk__in=ids, status=Delivery.Status.WAITING).update(
        status=Delivery.Status.BATCHED, batch=batch
    )
    batch.payload = list(batch.members.order_by("created_at", "pk").values_list("payload", flat=True))
    if not batch.payload:
        batch.delete()
        return False
    batch.save(update_fields=["payload"])
    return True


def enqueue_due(now: datetime) -> int:
    """Hand over due deliveries that Redis does not hold (any more)."""
    due = Delivery.objects.due(now).filter(is_test=False)
    columns = ("pk", "webhook_id", "webhook__account_id", "webhook__type")
    rows = list(due.filter(enqueued_at__isnull=True).values_list(*columns)[:SWEEP_LIMIT])
    interval = settings.WEBHOOKS_SWEEP_INTERVAL
    # Handed over a while ago and still pending: Redis lost them. When Redis holds nothing
    # for the workers that is certain after a short grace; under a steady backlog it is
    # assumed after a long one, and a duplicate costs only a claim that changes no row.
    grace = timedelta(seconds=2 * interval if redis_is_drained() else LOST_AFTER_INTERVALS * interval)
    rows += list(due.filter(enqueued_at__lt=now - grace).values_list(*columns)[:SWEEP_LIMIT])
    if not rows:
        return 0
    Delivery.objects.filter(pk__in=[row[0] for row in rows]).update(enqueued_at=now)
    return len(rows) if handover.hand_over([Route(*row) for row in rows]) else 0


def redis_is_drained() -> bool:
    try:
        return not handover.waiting_in_redis()
    except RedisError:
        return False
