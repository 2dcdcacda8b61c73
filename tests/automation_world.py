"""Helpers the automation tests share: making automations, reporting contact events."""

from __future__ import annotations

from typing import Any

from accounts.models import Account
from automations import steps as automation_steps
from automations.models import Automation
from automations.steps import StepSpec
from events.fanout import NewEvent


def wait(seconds: int) -> StepSpec:
    return StepSpec(kind="wait", seconds=seconds)


def call(url: str, contact: bool = False, event: bool = False, **fields: Any) -> StepSpec:
    return StepSpec(kind="webhook", url=url, include_contact=contact, include_event=event, **fields)


def make_automation(
    account: Account,
    steps: list[StepSpec],
    event: str = "listAddition",
    type: str = "marketing",
    condition: str = "",
    value: str = "",
    attribute: str = "",
    status: str = "active",
    reentry: bool = False,
    name: str = "Welcome",
) -> Automation:
    automation = Automation(
        account=account,
        name=name,
        trigger_type=type,
        trigger_event=event,
        condition=condition,
        condition_value=value,
        condition_attribute=attribute,
        status=status,
        reentry=reentry,
    )
    automation_steps.save(automation, steps)
    return automation


def added_to_list(email: str, *lists: int, contact_id: int | None = None, key: str = "") -> NewEvent:
    data: dict[str, Any] = {"email": email, "list_id": list(lists)}
    if contact_id is not None:
        data["id"] = contact_id
    return NewEvent("listAddition", "marketing", data, idempotency_key=key)


def updated(email: str, content: Any) -> NewEvent:
    return NewEvent("contactUpdated", "marketing", {"email": email, "content": content})


def deleted(email: str) -> NewEvent:
    return NewEvent("contactDeleted", "marketing", {"email": email})
