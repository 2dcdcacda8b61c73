"""Send a test on a Call a webhook step: the call's body with sample contact values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from automations.models import Contact, Step
from automations.runner import call_body
from catalog.payloads import SAMPLE_EMAIL
from webhooks import jobs
from webhooks.models import AUTOMATION_EVENT, Delivery

SAMPLE_CONTACT_ID = 4711
SAMPLE_ATTRIBUTES = {"FIRSTNAME": "Jane", "LASTNAME": "Doe"}


def sample_body(step: Step) -> dict[str, Any]:
    """What the step POSTs for a sample contact, with the trigger event's sample payload."""
    automation = step.automation
    contact = Contact(email=SAMPLE_EMAIL, brevo_id=SAMPLE_CONTACT_ID, attributes=SAMPLE_ATTRIBUTES)
    event = automation.event_type()
    payload = event.sample(timezone.now(), automation.account.time_zone) if step.include_event and event else None
    return call_body(step, contact, payload)


@dataclass(frozen=True)
class StepSample:
    """What webhooks.jobs.enqueue_test needs of an event: the delivery's name and its sample payload."""

    subscription: str
    body: dict[str, Any]

    def sample(self, occurred_at: datetime, time_zone: str = "UTC") -> dict[str, Any]:
        return self.body


def enqueue_step_test(step: Step) -> Delivery:
    """Queue a test call of `step` on the fast lane, like "Send a test" of a webhook; never retried.

    Raises webhooks.jobs.QueueUnavailable when Redis cannot be reached.
    """
    return jobs.enqueue_test(step.webhook, StepSample(AUTOMATION_EVENT, sample_body(step)))  # type: ignore[arg-type]
