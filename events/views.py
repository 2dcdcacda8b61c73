"""The Events page: recent events of the account with their deliveries, and "Simulate an event"."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import account_required
from events import emit
from events.fanout import EventError
from events.forms import SimulateForm
from events.models import Event
from webhooks.models import Delivery

RECENT = 50


def render_list(request: HttpRequest, form: SimulateForm, status: int = 200) -> HttpResponse:
    deliveries = Delivery.objects.select_related("webhook").order_by("webhook_id")
    events = (
        Event.objects.filter(account=request.user.account)
        .prefetch_related(Prefetch("deliveries", queryset=deliveries))
        .order_by("-created_at", "-id")[:RECENT]
    )
    return render(request, "events/list.html", {"events": events, "form": form}, status=status)


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
        messages.success(request, f"{event.label} event simulated: {count} webhook(s) will receive it.")
    else:
        messages.success(request, f"{event.label} event simulated. No enabled webhook subscribes to it.")
    return redirect("events:list")
