"""How each webhook is doing: the state line and 24-hour figures of the Webhooks page, and
the hourly chart of the Deliveries page.

Every 24-hour figure comes from `hourly_counts`, which reads the per-webhook hourly counts
the engine keeps (HourlyCount), never the attempts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Count, OuterRef, Q, Subquery

from webhooks.models import Attempt, Delivery, HourlyCount, Webhook

HOURS = 24
SUCCESS = Q(response_status__gte=200, response_status__lt=300)
# An attempt whose request is still on its way has neither a status nor an error yet.
COMPLETE = Q(response_status__isnull=False) | ~Q(error="")


@dataclass(frozen=True)
class Hour:
    start: datetime
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


def first_hour(now: datetime) -> datetime:
    """The start of the oldest of the 24 hours that end with the current one, in UTC."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)


def hourly_counts(webhook_ids: Iterable[int], now: datetime) -> dict[int, list[Hour]]:
    """Successful and failed attempts of each webhook per hour, the 24 hours up to `now`, oldest first.

    Read from the hourly counts the engine keeps as it records attempts (HourlyCount): at
    most 24 rows a webhook whatever the size of the history, and still right once old
    attempts are pruned. Test sends do not count: they say nothing of the real flow.
    """
    ids = list(webhook_ids)
    first = first_hour(now)
    rows = HourlyCount.objects.filter(webhook_id__in=ids, hour__gte=first).values_list(
        "webhook_id", "hour", "succeeded", "failed"
    )
    counts: dict[int, dict[datetime, tuple[int, int]]] = defaultdict(dict)
    for pk, hour, ok, bad in rows:
        counts[pk][hour] = (ok, bad)
    hours = [first + timedelta(hours=n) for n in range(HOURS)]
    return {pk: [Hour(start, *counts[pk].get(start, (0, 0))) for start in hours] for pk in ids}


@dataclass
class Health:
    """What a webhook's card says about it."""

    state: str  # "disabled", "paused", "failing", "healthy" or "new" (nothing delivered yet)
    delivered_24h: int = 0
    failed_24h: int = 0
    last_delivered_at: datetime | None = None
    failing_since: datetime | None = None
    last_answer: str = ""
    # Deliveries that failed at least once and wait for their next attempt.
    retrying: int = 0
    hours: list[Hour] = field(default_factory=list)

    @property
    def attempts_24h(self) -> int:
        return self.delivered_24h + self.failed_24h

    @property
    def success_rate(self) -> float | None:
        """Percentage of the last 24 hours' attempts that succeeded; None without attempts."""
        return 100 * self.delivered_24h / self.attempts_24h if self.attempts_24h else None


def last_answers(webhooks: list[Webhook]) -> dict[int, str]:
    """The last answer of each failing webhook since it started failing (test sends aside)."""
    failing = {webhook.pk: webhook.failing_since for webhook in webhooks if webhook.failing_since}
    if not failing:
        return {}
    latest = (
        Attempt.objects.filter(delivery__webhook_id=OuterRef("pk"), delivery__is_test=False)
        .filter(COMPLETE, started_at__gte=OuterRef("failing_since"))
        .order_by("-started_at", "-id")
    )
    rows = (
        Webhook.objects.filter(pk__in=failing)
        .annotate(
            last_status=Subquery(latest.values("response_status")[:1]),
            last_error=Subquery(latest.values("error")[:1]),
        )
        .values_list("pk", "last_status", "last_error")
    )
    return {pk: Attempt(response_status=status, error=error or "").answer for pk, status, error in rows}


def for_webhooks(webhooks: list[Webhook], now: datetime) -> dict[int, Health]:
    """The health of each of `webhooks`, by id, in a fixed number of queries."""
    ids = [webhook.pk for webhook in webhooks]
    hours = hourly_counts(ids, now)
    last_delivered = dict(
        Webhook.objects.filter(pk__in=ids)
        .annotate(
            last=Subquery(
                Delivery.objects.filter(webhook_id=OuterRef("pk"), status=Delivery.Status.SUCCEEDED)
                .order_by("-created_at", "-id")
                .values("completed_at")[:1]
            )
        )
        .values_list("pk", "last")
    )
    retrying = dict(
        Delivery.objects.filter(webhook_id__in=ids, status=Delivery.Status.PENDING, attempt_count__gt=0)
        .values("webhook_id")
        .annotate(n=Count("id"))
        .values_list("webhook_id", "n")
    )
    answers = last_answers(webhooks)
    result = {}
    for webhook in webhooks:
        health = Health(
            state=state_of(webhook, now, last_delivered.get(webhook.pk)),
            delivered_24h=sum(hour.succeeded for hour in hours[webhook.pk]),
            failed_24h=sum(hour.failed for hour in hours[webhook.pk]),
            last_delivered_at=last_delivered.get(webhook.pk),
            failing_since=webhook.failing_since,
            last_answer=answers.get(webhook.pk, ""),
            retrying=retrying.get(webhook.pk, 0),
            hours=hours[webhook.pk],
        )
        result[webhook.pk] = health
    return result


def state_of(webhook: Webhook, now: datetime, last_delivered_at: datetime | None) -> str:
    if not webhook.enabled:
        return "disabled"
    if webhook.paused_until and webhook.paused_until > now:
        return "paused"
    if webhook.failing_since:
        return "failing"
    return "healthy" if last_delivered_at else "new"


def chart(hours: list[Hour]) -> dict[str, object]:
    """Bar geometry for the server-rendered SVG (heights in a 0-100 box) and its y-axis."""
    peak = max((hour.total for hour in hours), default=0)
    scale = nice_ceiling(peak)
    bars = []
    for n, hour in enumerate(hours):
        ok_h = round(hour.succeeded * 100 / scale, 2)
        bad_h = round(hour.failed * 100 / scale, 2)
        bars.append(
            {"hour": hour, "x": n * 10, "ok_h": ok_h, "bad_h": bad_h, "ok_y": 100 - ok_h, "bad_y": 100 - ok_h - bad_h}
        )
    return {
        "bars": bars,
        "peak": peak,
        "busiest": max(hours, key=lambda hour: hour.total) if peak else None,
        # The y-axis labels, top to bottom: the top of the scale, its middle, 0.
        "ticks": [scale, scale // 2, 0],
        "succeeded": sum(h.succeeded for h in hours),
        "failed": sum(h.failed for h in hours),
    }


def nice_ceiling(peak: int) -> int:
    """The top of the y-axis: the peak rounded up to 2, 4, 6, 8 or 10 times a power of ten (even, so
    that its middle is a whole number)."""
    magnitude = 1
    while True:
        for step in (2, 4, 6, 8, 10):
            if step * magnitude >= peak:
                return step * magnitude
        magnitude *= 10
