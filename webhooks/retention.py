"""History that never slows the service down: old events, deliveries and attempts are deleted.

What is older than WEBHOOKS_RETENTION_DAYS goes, oldest first, in batches of BATCH
deliveries (with their attempts) per transaction: no statement holds locks for long or
reads a whole table, and every one is served by an index (Event and Export have a
`created_at` index for it, Delivery one of its finished rows; attempts and batch members
are found by their foreign keys). Only finished deliveries go; an event goes once it has
no delivery left.

One worker at a time prunes, every WEBHOOKS_RETENTION_INTERVAL seconds, for at most
RUN_SECONDS (`prune_forever`, a thread of each worker); `manage.py prune_history` does
the whole job at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from events.models import Event
from webhooks.models import Attempt, Delivery, Export, HourlyCount

logger = logging.getLogger(__name__)

# Deliveries (and their attempts) per transaction, and events per transaction.
BATCH = 1000
# How long one periodic run may take; the next run goes on where it stopped.
RUN_SECONDS = 20.0
LOCK_KEY = "brevo-hooks:retention-lock"


def history_start(now: datetime | None = None) -> datetime | None:
    """The oldest moment whose history is kept; None when it is kept forever."""
    days = settings.WEBHOOKS_RETENTION_DAYS
    if not days:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def prune(
    now: datetime | None = None, budget: float | None = None, batch: int = BATCH, days: int | None = None
) -> Counter[str]:
    """Delete the history older than the retention period (or `days`); count what went.

    Stops after `budget` seconds, if given, at the end of a batch.
    """
    now = now or timezone.now()
    if days is None:
        before = history_start(now)
        if before is None:
            return Counter()
    else:
        before = now - timedelta(days=days)
    deadline = None if budget is None else time.monotonic() + budget
    done: Counter[str] = Counter()
    for step in (prune_deliveries, prune_events, prune_exports, prune_hourly_counts):
        while deadline is None or time.monotonic() < deadline:
            counts = step(before, batch)
            done.update(counts)
            if not any(counts.values()):
                break
    return +done


def delete_where_in(model: type[models.Model], column: str, ids: list[int]) -> int:
    """DELETE the rows of `model` whose `column` is one of `ids`, in one plain statement.

    Plain SQL: Django's delete() would first load every row (payloads and bodies) to
    look for related objects, which this module removes itself, in order.
    """
    if not ids:
        return 0
    table, quote = model._meta.db_table, connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(table)} WHERE {quote(column)} IN ({placeholders})", ids)  # noqa: S608
        return cursor.rowcount


def old_deliveries(before: datetime) -> QuerySet[Delivery]:
    """Finished deliveries created before `before`, oldest first."""
    # Served by the partial index delivery_finished_created_idx: read in order, as many rows as the LIMIT.
    return Delivery.objects.finished().filter(created_at__lt=before).order_by("created_at")


def old_events(before: datetime) -> QuerySet[Event]:
    """Events created before `before` that no delivery refers to any more, oldest first."""
    # Served by the index on Event.created_at, and for each event the index of Delivery.event_record.
    return (
        Event.objects.filter(created_at__lt=before)
        .exclude(Exists(Delivery.objects.filter(event_record=OuterRef("pk"))))
        .order_by("created_at")
    )


def old_exports(before: datetime) -> QuerySet[Export]:
    # Served by the index on Export.created_at.
    return Export.objects.filter(created_at__lt=before).order_by("created_at")


@transaction.atomic
def prune_deliveries(before: datetime, batch: int) -> Counter[str]:
    """One batch of the oldest finished deliveries created before `before`, with their attempts."""
    ids = list(old_deliveries(before).values_list("pk", flat=True)[:batch])
    if not ids:
        return Counter()
    attempts = delete_where_in(Attempt, "delivery_id", ids)
    # The events of a batch keep their rows if the batch goes first (they were made before it,
    # so normally they go before it).
    Delivery.objects.filter(batch_id__in=ids).update(batch=None)
    deliveries = delete_where_in(Delivery, "id", ids)
    return Counter(deliveries=deliveries, attempts=attempts)


@transaction.atomic
def prune_events(before: datetime, batch: int) -> Counter[str]:
    """One batch of the oldest events created before `before` that no delivery refers to any more."""
    ids = list(old_events(before).values_list("pk", flat=True)[:batch])
    return Counter(events=delete_where_in(Event, "id", ids))


@transaction.atomic
def prune_hourly_counts(before: datetime, batch: int) -> Counter[str]:
    """Hourly counts of hours before `before`: the chart and the health figures read the last 24 hours."""
    ids = list(HourlyCount.objects.filter(hour__lt=before).order_by("hour").values_list("pk", flat=True)[:batch])
    return Counter(hourly_counts=delete_where_in(HourlyCount, "id", ids))


@transaction.atomic
def prune_exports(before: datetime, batch: int) -> Counter[str]:
    """Exports (their CSV is stored) asked for before `before`; their links expired long ago."""
    ids = list(old_exports(before).values_list("pk", flat=True)[:batch])
    return Counter(exports=delete_where_in(Export, "id", ids))


def take_lock() -> bool:
    """One worker prunes per interval; without Redis, pruning twice is harmless, so go on."""
    seconds = max(1, int(settings.WEBHOOKS_RETENTION_INTERVAL * 0.9))
    try:
        return bool(django_rq.get_connection("deliveries").set(LOCK_KEY, "1", nx=True, ex=seconds))
    except RedisError:
        return True


def prune_forever() -> None:
    """The retention thread of a worker: prune for up to RUN_SECONDS every interval."""
    pause = threading.Event()
    while True:
        interval = settings.WEBHOOKS_RETENTION_INTERVAL
        # Jitter keeps the workers of a fleet from racing for the lock at the same moment.
        pause.wait(interval * random.uniform(0.5, 1.0))
        if not settings.WEBHOOKS_RETENTION_DAYS:
            continue
        close_old_connections()
        try:
            if take_lock():
                done = prune(budget=RUN_SECONDS)
                if done:
                    logger.info("retention: deleted %s", dict(done))
        except Exception:
            # A failed run (the database restarting, say) is tried again next interval.
            logger.exception("retention run failed")
        finally:
            connection.close()


def start_thread() -> threading.Thread:
    thread = threading.Thread(target=prune_forever, name="retention", daemon=True)
    thread.start()
    return thread
