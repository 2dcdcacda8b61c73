"""The delivery log of a webhook: its deliveries, their attempts, a chart, and retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

import catalog
from accounts.decorators import account_required
from webhooks import health
from webhooks.forms import RetrySinceForm
from webhooks.jobs import enqueue_deliveries
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.retention import history_start
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


def attempts_in_short() -> Prefetch:
    """The attempts of listed deliveries, without their bodies: enough for their status text."""
    return Prefetch(
        "attempts", queryset=Attempt.objects.only("id", "delivery_id", "number", "response_status", "error")
    )


@account_required
def delivery_list(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    deliveries = (
        webhook.deliveries.select_related("webhook")
        .prefetch_related(attempts_in_short())
        .order_by("-created_at", "-id")
    )
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
        "chart": health.chart(health.hourly_counts([webhook.pk], now)[webhook.pk]),
        "failed_count": retryable(webhook).count(),
        "since_form": RetrySinceForm(initial={"since": timezone.localtime(now) - timedelta(days=1)}),
        # Older deliveries were deleted (webhooks.retention): the page says how far back it goes.
        "retention_days": settings.WEBHOOKS_RETENTION_DAYS,
        "history_start": history_start(now),
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
    messages.error(request, _("This webhook is disabled. Enable it first (Webhooks > Actions > Enable), then retry."))
    return True


@account_required
@require_POST
def delivery_retry(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(request, webhook, delivery_pk)
    if not refuse_if_disabled(request, webhook):
        if retry([delivery]):
            messages.success(request, _("Retrying now. The new attempt shows here in a moment."))
        else:
            messages.error(request, _("Only a failed or cancelled delivery can be retried."))
    return redirect("webhooks:delivery", pk=webhook.pk, delivery_pk=delivery.pk)


@account_required
@require_POST
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Retry all failed since…": every failed delivery of the webhook created since a moment."""
    webhook = get_webhook_for_user(request, pk)
    form = RetrySinceForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["since"][0])
        return redirect("webhooks:deliveries", pk=webhook.pk)
    # A time without a zone is in the account's, which the page names next to the field.
    since = form.cleaned_data["since"]
    if not refuse_if_disabled(request, webhook):
        # Cancelled ones too: what a disabled webhook missed is sent once it is enabled again.
        count = retry(list(retryable(webhook, since)))
        if count:
            messages.success(
                request,
                ngettext("Retrying %(count)s failed delivery.", "Retrying %(count)s failed deliveries.", count)
                % {"count": count},
            )
        else:
            messages.success(
                request,
                _("No failed deliveries since %(since)s: nothing to retry.")
                % {"since": date_format(timezone.localtime(since), "SHORT_DATETIME_FORMAT")},
            )
    return redirect("webhooks:deliveries", pk=webhook.pk)
