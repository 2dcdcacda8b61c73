"""Run history: which deliveries each run's Call a webhook steps made."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Prefetch

from automations.models import Automation, Run
from webhooks.models import Attempt, Delivery


def calls_of(automation: Automation, runs: list[Run]) -> dict[int, list[Delivery]]:
    """The calls of each of `runs`, by run id, oldest first, with their steps.

    A call is the delivery of the trigger event's run to a step's webhook: one event starts at
    most one run per automation, so the event tells the runs apart without a table of its own.
    """
    events = {run.event_id for run in runs if run.event_id}
    if not events:
        return {}
    found: dict[int, list[Delivery]] = defaultdict(list)
    deliveries = (
        Delivery.objects.filter(
            webhook__automation_step__automation=automation, event_record_id__in=events, is_test=False
        )
        .select_related("webhook__automation_step")
        # Their attempts, without bodies: a call that failed once says "Retrying (attempt 1 failed: HTTP 503)".
        .prefetch_related(
            Prefetch("attempts", Attempt.objects.only("id", "delivery_id", "number", "response_status", "error"))
        )
        .order_by("pk")
    )
    for delivery in deliveries:
        found[delivery.event_record_id].append(delivery)
    return {run.pk: found.get(run.event_id, []) for run in runs if run.event_id}
