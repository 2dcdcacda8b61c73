"""The delivery log of a webhook: its deliveries, their attempts, a chart, and retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

import catalog
from accounts.decorators import account_required
from webhooks.jobs import enqueue_deliveries
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.views import get_any_webhook_for_user

PAGE_SIZE = 50
# Statuses a marketer can filter on, in the order they care about them.
FILTER_STATUSES = [
    Delivery.Status.FAILED,
    Delivery.Status.PENDING,
    Delivery.Status.SUCCEEDED,
    Delivery.Status.WAITING,
    Delivery.Status.CANCELLED,
]
RETRYABLE = [Delivery.Status.FAILED, Delivery.Status.CANCELLED]


def retryable(webhook: Webhook, since: datetime | None = None) -> QuerySet[Delivery]:
    """The failed or cancelled deliveries of `webhook` that a retry may send again (created since `since`).

    Test sends are never retried, and the events of a batch go again with their batch.
    """
    rows = webhook.deliveries.filter(status__in=RETRYABLE, is_test=False, batch=None)
    return rows if since is None else rows.filter(created_at__gte=since)


def get_delivery_for_user(request: HttpRequest, webhook: Webhook, pk: int) -> Delivery:
    # The webhook was already loaded through the user's account.
    return get_object_or_404(
        Delivery.objects.select_related("webhook", "event_record", "batch"), pk=pk, webhook=webhook
    )


@dataclass(frozen=True)
class Hour:
    start: datetime
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


def hourly_attempts(webhook: Webhook, now: datetime) -> list[Hour]:
    """Successful and failed attempts per hour over the last 24 hours, oldest first."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    success = Q(response_status__gte=200, response_status__lt=300)
    rows = (
        Attempt.objects.filter(delivery__webhook=webhook, started_at__gte=first)
        .annotate(hour=TruncHour("started_at"))
        .values("hour")
        .annotate(ok=Count("id", filter=success), total=Count("id"))
    )
    counts = {row["hour"]: (row["ok"], row["total"] - row["ok"]) for row in rows}
    hours = []
    for n in range(24):
        start = first + timedelta(hours=n)
        ok, bad = counts.get(start, (0, 0))
        hours.append(Hour(start, ok, bad))
    return hours


def chart(hours: list[Hour]) -> dict[str, object]:
    """Bar geometry for the server-rendered SVG: heights in a 0-100 box."""
    peak = max((hour.total for hour in hours), default=0) or 1
    bars = [
        {
            "hour": hour,
            "x": n * 10,
            "ok_h": round(hour.succeeded * 100 / peak, 2),
            "bad_h": round(hour.failed * 100 / peak, 2),
        }
        for n, hour in enumerate(hours)
    ]
    for bar in bars:
        bar["ok_y"] = 100 - bar["ok_h"]
        bar["bad_y"] = bar["ok_y"] - bar["bad_h"]
    return {
        "bars": bars,
        "peak": peak if any(h.total for h in hours) else 0,
        "succeeded": sum(h.succeeded for h in hours),
        "failed": sum(h.failed for h in hours),
    }


@account_required
def delivery_list(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    deliveries = webhook.deliveries.select_related("event_record").order_by("-created_at", "-id")
    status = request.GET.get("status", "")
    event = request.GET.get("event", "")
    if status in FILTER_STATUSES:
        deliveries = deliveries.filter(status=status)
    if event:
        deliveries = deliveries.filter(event=event)
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "webhook": webhook,
        "page": page,
        "status": status,
        "event": event,
        "statuses": [(s.value, s.label) for s in FILTER_STATUSES],
        "events": [(e.subscription, e.label) for e in catalog.for_type(webhook.type)],
        "chart": chart(hourly_attempts(webhook, now)),
        "failed_count": retryable(webhook).count(),
        "since_default": (timezone.localtime(now) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "webhooks/deliveries.html", context)


@account_required
def delivery_detail(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(request, webhook, delivery_pk)
    return render(
        request,
        "webhooks/delivery.html",
        {"webhook": webhook, "delivery": delivery, "attempts": delivery.attempts.order_by("-number")},
    )


def retry(deliveries: list[Delivery]) -> int:
    """Send these failed or cancelled deliveries again, now; return how many."""
    ids = [d.pk for d in deliveries if d.status in RETRYABLE and not d.is_test and d.batch_id is None]
    if not ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        count = Delivery.objects.filter(pk__in=ids, status__in=RETRYABLE).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, enqueued_at=now, completed_at=None
        )
        # The events of a batch follow it again.
        Delivery.objects.filter(batch_id__in=ids).update(status=Delivery.Status.BATCHED, completed_at=None)
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    return count


def refuse_if_disabled(request: HttpRequest, webhook: Webhook) -> bool:
    if webhook.enabled:
        return False
    messages.error(request, "This webhook is disabled. Enable it first (Webhooks > Actions > Enable), then retry.")
    return True


@account_required
@require_POST
def delivery_retry(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(request, webhook, delivery_pk)
    if not refuse_if_disabled(request, webhook):
        if retry([delivery]):
            messages.success(request, "Retrying now. The new attempt shows here in a moment.")
        else:
            messages.error(request, "Only a failed or cancelled delivery can be retried.")
    return redirect("webhooks:delivery", pk=webhook.pk, delivery_pk=delivery.pk)


@account_required
@require_POST
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Retry all failed since…": every failed delivery of the webhook created since a moment."""
    webhook = get_any_webhook_for_user(request, pk)
    since = parse_datetime(request.POST.get("since", ""))
    if since is None:
        messages.error(request, "Choose the date and time from which to retry failed deliveries.")
        return redirect("webhooks:deliveries", pk=webhook.pk)
    if timezone.is_naive(since):
        # The page shows every time in UTC, and says so next to this field.
        since = timezone.make_aware(since, UTC)
    if not refuse_if_disabled(request, webhook):
        # Cancelled ones too: what a disabled webhook missed is sent once it is enabled again.
        count = retry(list(retryable(webhook, since)))
        if count:
            messages.success(request, f"Retrying {count} failed deliver{'y' if count == 1 else 'ies'}.")
        else:
            messages.success(request, f"No failed deliveries since {since:%Y-%m-%d %H:%M} UTC: nothing to retry.")
    return redirect("webhooks:deliveries", pk=webhook.pk)
