"""The delivery log of a webhook: its deliveries, their attempts, a chart, and retries."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

import catalog
from accounts.decorators import account_required
from webhooks import health
from webhooks.forms import RetrySinceForm
from webhooks.jobs import RetryRefused, retry_now
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.retention import history_start
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


def get_delivery_for_user(webhook: Webhook, pk: int) -> Delivery:
    # The webhook was already loaded through the user's account.
    return get_object_or_404(
        Delivery.objects.select_related("webhook", "event_record", "batch"), pk=pk, webhook=webhook
    )


def attempts_in_short() -> Prefetch:
    """The attempts of listed deliveries, without their bodies: enough for their status text."""
    return Prefetch(
        "attempts", queryset=Attempt.objects.only("id", "delivery_id", "number", "response_status", "error")
    )


class CappedPaginator(Paginator):
    """A paginator that counts no further than `cap` rows: the log of a busy webhook holds
    millions, and counting them all on every page view would read them all."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        counted = self.object_list[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)

    capped = False


def delivery_page(webhook: Webhook, status: str, event: str) -> QuerySet[Delivery]:
    """The deliveries the page lists, newest first (served by an index whatever the filter)."""
    deliveries = webhook.deliveries.order_by("-created_at", "-id")
    if status in FILTER_STATUSES:
        deliveries = deliveries.filter(status=status)
    if event:
        deliveries = deliveries.filter(event=event)
    return deliveries


@account_required
def delivery_list(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    since = timezone.localtime() - timedelta(days=1)
    return log_page(request, webhook, RetrySinceForm(initial={"since": since}))


def log_page(request: HttpRequest, webhook: Webhook, since_form: RetrySinceForm, status: int = 200) -> HttpResponse:
    """The delivery log, with the "Retry all failed since…" field as given (a refused one shows why under it)."""
    status_filter = request.GET.get("status", "")
    events = [(e.subscription, e.label) for e in catalog.for_type(webhook.type)]
    # An event the webhook's type does not have filters nothing, as an unknown status does.
    event = request.GET.get("event", "")
    event = event if event in dict(events) else ""
    deliveries = (
        delivery_page(webhook, status_filter, event).select_related("webhook").prefetch_related(attempts_in_short())
    )
    paginator = CappedPaginator(deliveries, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "webhook": webhook,
        "page": page,
        "status": status_filter,
        "event": event,
        "statuses": [(s.value, s.label) for s in FILTER_STATUSES],
        "events": events,
        "chart": health.chart(health.hourly_counts([webhook.pk], now)[webhook.pk]),
        "failed_count": webhook.deliveries.retryable(now).count(),
        "since_form": since_form,
        # Older deliveries were deleted (webhooks.retention): the page says how far back it goes.
        "retention_days": settings.WEBHOOKS_RETENTION_DAYS,
        "history_start": history_start(now),
    }
    return render(request, "webhooks/deliveries.html", context, status=status)


@account_required
def delivery_detail(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(webhook, delivery_pk)
    return render(
        request,
        "webhooks/delivery.html",
        {"webhook": webhook, "delivery": delivery, "attempts": delivery.attempts.order_by("-number")},
    )


@account_required
@require_POST
def delivery_retry(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    delivery = get_delivery_for_user(webhook, delivery_pk)
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
    webhook = get_any_webhook_for_user(request, pk)
    form = RetrySinceForm(request.POST)
    if not form.is_valid():
        # The page again, with the date as typed and why it was refused, under the field.
        return log_page(request, webhook, form, status=400)
    # A time without a zone is in the account's, which the page names next to the field.
    since = form.cleaned_data["since"]
    try:
        # Cancelled ones too: what a disabled webhook missed is sent once it is enabled again.
        count = retry_now(webhook, webhook.deliveries.filter(created_at__gte=since))
    except RetryRefused as exc:
        messages.error(request, str(exc))
        return redirect("webhooks:deliveries", pk=webhook.pk)
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
