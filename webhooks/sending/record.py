"""Recording a round's outcomes: the attempts, the deliveries, the hourly counts.

Each attempt is written once, whole, here (see webhooks.sql.insert_attempts).

A round's outcomes go in one transaction of a few statements; on PostgreSQL a round all
delivered, the common one, is a single statement that also claims the next round
(webhooks.sql.record_delivered). If the database refuses it, each outcome is recorded on
its own, so that one refusal stays that delivery's: first as it is, then without anything
its receiver sent. Only a delivery whose outcome cannot be stored at all is left to its
lease, and tried again when it runs out.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TypeVar

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from webhooks import sql
from webhooks.models import Delivery
from webhooks.sending.outcome import DELIVERED, FAILED, GAVE_UP, RETRY, Outcome

logger = logging.getLogger(__name__)

REFUSED = "The database refused to store this answer"
T = TypeVar("T")


def record(outcomes: Sequence[Outcome], then: Callable[..., T] | None = None) -> T | None:
    """Store `outcomes`; each delivery's is its own, whatever the others' (see module docstring).

    `then` (the claim of the next round) runs in the same transaction, and what it
    returns is returned; if the transaction fails, the outcomes are recorded one by one
    and `then` is not run: None.
    """
    try:
        return write(outcomes, then)
    except DatabaseError:
        logger.exception("recording a round of %s failed; recording each on its own", len(outcomes))
    for outcome in outcomes:
        record_one(outcome)
    return None


def record_one(outcome: Outcome) -> None:
    for attempt in (outcome, outcome.stripped(REFUSED)):
        try:
            write([attempt])
            return
        except DatabaseError:
            logger.exception("could not record the attempt of delivery %s", outcome.delivery_id)
    logger.error("delivery %s keeps its lease; it will be tried again when it runs out", outcome.delivery_id)


def write(outcomes: Sequence[Outcome], then: Callable[..., T] | None = None) -> T | None:
    """`outcomes` and `then` in one transaction; what `then` returns.

    On PostgreSQL a round all delivered is one statement with the next claim (`then` is
    called with `take=` that statement: webhooks.sql.record_delivered); any other round is
    `then`, then the statements of `write_each`.
    """
    if sql.postgres() and all(o.result == DELIVERED and not o.sent.delivery.is_batch for o in outcomes):
        return _alone(partial(_claim_and_record, outcomes, then))
    with transaction.atomic():
        # First, so that the hourly counts' rows (written last) are locked no longer than before.
        done = then() if then is not None else None
        write_each(outcomes)
    return done


def _claim_and_record(outcomes: Sequence[Outcome], then: Callable[..., T] | None) -> T | None:
    now = timezone.now()
    take = sql.record_delivered(
        [o.attempt_row() for o in outcomes], [(o.delivery_id, o.sent.token) for o in outcomes], hourly(outcomes), now
    )
    if then is None:
        take([], uuid.uuid4(), now)
        return None
    return then(take=take)


def _alone(statement: Callable[[], T]) -> T:
    """Run one statement, a transaction of its own; within a transaction, in a savepoint."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return statement()
    return statement()


def write_each(outcomes: Sequence[Outcome]) -> None:
    """The statements of one round: attempts, then each kind of outcome, then the hourly counts."""
    now = timezone.now()
    sql.insert_attempts([o.attempt_row() for o in outcomes])
    by_token: dict[tuple[str, object], list[int]] = {}
    for o in outcomes:
        if o.result in (DELIVERED, GAVE_UP, FAILED):
            by_token.setdefault((o.result, o.sent.token), []).append(o.delivery_id)
    for (result, token), ids in by_token.items():
        if result == DELIVERED:
            sql.succeed(ids, token, now)  # type: ignore[arg-type]
        else:
            sql.give_up(ids, token, now)  # type: ignore[arg-type]
    for token in {o.sent.token for o in outcomes if o.result == RETRY}:
        retries = [(o.delivery_id, o.next_attempt_at) for o in outcomes if o.result == RETRY and o.sent.token == token]
        sql.reschedule(retries, token)  # type: ignore[arg-type]
    settle_batches([o.delivery_id for o in outcomes if o.sent.delivery.is_batch and o.result != RETRY])
    sql.count_hours(hourly(outcomes))


def hourly(outcomes: Sequence[Outcome]) -> list[tuple[int, datetime, int, int]]:
    """Successful and failed attempts per webhook and hour (test sends do not count)."""
    counts: Counter[tuple[int, datetime, bool]] = Counter()
    for o in outcomes:
        if not o.is_test:
            hour = o.sent.started_at.replace(minute=0, second=0, microsecond=0)
            counts[(o.webhook_id, hour, o.ok)] += 1
    keys = {(webhook, hour) for webhook, hour, _ in counts}
    return [(webhook, hour, counts[(webhook, hour, True)], counts[(webhook, hour, False)]) for webhook, hour in keys]


def settle_batches(batch_ids: list[int]) -> None:
    """The events of a finished batch take its outcome."""
    if not batch_ids:
        return
    for batch in Delivery.objects.filter(
        pk__in=batch_ids, status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED]
    ).only("status", "completed_at"):
        batch.members.update(status=batch.status, completed_at=batch.completed_at)
