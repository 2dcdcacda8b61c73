"""The delivery log of a webhook: its deliveries, their attempts, a chart, and retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

import catalog
from accounts.decorators import account_required
from webhooks.jobs import RetryRefused, retry_now
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.views import get_webhook_for_user

PAGE_SIZE = 50
# Statuses a marketer can filter on, in the order they care about them.
FILTER_STATUSES = [
    Delivery.Status.FAILED,
    Delivery.Status.PENDING,
    Delivery.Status.SUCCEEDED,
    Delivery.Status.WAITING,
    Delivery.Status.CANCELLED,
]


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
    webhook = get_webhook_for_user(request, pk)
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
        "failed_count": webhook.deliveries.retryable(now).count(),
        "since_default": (timezone.localtime(now) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "webhooks/deliveries.html", context)


@account_required
def delivery_detail(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(request, webhook, delivery_pk)
    return render(
        request,
        "webhooks/delivery.html",
        {"webhook": webhook, "delivery": delivery, "attempts": delivery.attempts.order_by("-number")},
    )


def parse_since(raw: str) -> datetime | None:
    """The moment of "Retry all failed since…" (read in UTC, as the page says), or None."""
    try:
        since = parse_datetime(raw)
        if since is None:
            return None
        # The page shows every time in UTC, and says so next to this field.
        return since.astimezone(UTC) if timezone.is_aware(since) else since.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # well formed but impossible: 2024-02-30T10:00, year 0
        return None


@account_required
@require_POST
def delivery_retry(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(request, webhook, delivery_pk)
    try:
        retried = retry_now(webhook, Delivery.objects.filter(pk=delivery.pk))
    except RetryRefused as exc:
        messages.error(request, str(exc))
    else:
        if retried:
            messages.success(request, _("Retrying now. The new attempt shows here in a moment."))
        else:
            messages.error(
                request, _("Only a failed or cancelled delivery, or one waiting for its next attempt, can be retried.")
            )
    return redirect("webhooks:delivery", pk=webhook.pk, delivery_pk=delivery.pk)


@account_required
@require_POST
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Retry all failed since…": every failed delivery of the webhook created since a moment."""
    webhook = get_webhook_for_user(request, pk)
    since = parse_since(request.POST.get("since", ""))
    if since is None:
        messages.error(request, _("Choose the date and time from which to retry failed deliveries."))
        return redirect("webhooks:deliveries", pk=webhook.pk)
    try:
        # Cancelled ones too: what a disabled webhook missed is sent once it is enabled again.
        count = retry_now(webhook, webhook.deliveries.filter(created_at__gte=since))
    except RetryRefused as exc:
        messages.error(request, str(exc))
        return redirect("webhooks:deliveries", pk=webhook.pk)
    if count:
        messages.success(
            request,
            ngettext("Retrying %(count)d failed delivery.", "Retrying %(count)d failed deliveries.", count)
            % {"count": count},
        )
    else:
        messages.success(
            request,
            _("No failed deliveries since %(since)s UTC: nothing to retry.") % {"since": f"{since:%Y-%m-%d %H:%M}"},
        )
    return redirect("webhooks:deliveries", pk=webhook.pk)
