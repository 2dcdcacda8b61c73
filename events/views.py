"""The Events page: recent events of the account with their deliveries, and "Simulate an event"."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.decorators import account_required
from automations.models import Run
from events import emit
from events.fanout import EventError
from events.forms import SimulateForm
from events.models import Event
from webhooks.models import Attempt, Delivery

RECENT = 50


def recent_events(request: HttpRequest) -> list[Event]:
    """The account's latest events, each with its deliveries and what their status text needs."""
    attempts = Attempt.objects.only("id", "delivery_id", "number", "response_status", "error")
    deliveries = (
        Delivery.objects.select_related("webhook")
        .prefetch_related(Prefetch("attempts", attempts))
        .order_by("webhook_id")
    )
    # The runs an event started: an event no webhook subscribes to may still have started one.
    runs = Run.objects.select_related("automation").only("id", "event_id", "automation__id", "automation__name")
    return list(
        Event.objects.filter(account=request.user.account)
        .prefetch_related(Prefetch("deliveries", queryset=deliveries), Prefetch("runs", queryset=runs))
        .order_by("-created_at", "-id")[:RECENT]
    )


def render_list(request: HttpRequest, form: SimulateForm, status: int = 200) -> HttpResponse:
    events = recent_events(request)
    # The page reloads its list in the background while a delivery is still on its way.
    live = any(not delivery.is_done for event in events for delivery in event.deliveries.all())
    context = {"events": events, "form": form, "live": live}
    if request.GET.get("fragment"):
        return render(request, "events/_list.html", context)
    return render(request, "events/list.html", context, status=status)


@account_required
def event_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, SimulateForm())


@account_required
@require_POST
def simulate(request: HttpRequest) -> HttpResponse:
    form = SimulateForm(request.POST)
    if not form.is_valid():
        return render_list(request, form, status=400)
    try:
        (event,) = emit(request.user.account, [form.new_event()])
    except EventError as exc:
        # The sample values are ours; what the user typed is `data`, so the error goes there.
        form.add_error("data" if exc.field.startswith("data") else None, exc.message)
        return render_list(request, form, status=400)
    count = event.deliveries.count()
    if count:
        message = ngettext(
            "%(event)s event simulated: %(count)s webhook will receive it.",
            "%(event)s event simulated: %(count)s webhooks will receive it.",
            count,
        ) % {"event": event.label, "count": count}
    else:
        message = _("%(event)s event simulated. No enabled webhook subscribes to it.") % {"event": event.label}
    messages.success(request, message)
    return redirect("events:list")
