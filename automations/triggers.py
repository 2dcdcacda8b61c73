"""Which events may start an automation, which conditions fit each, and whether an event matches.

The form and the API share `check`, so both refuse the same things with the same sentences.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

import catalog
from automations.models import Automation
from brevo_hooks.numbers import whole_number

C = Automation.Condition
# A deleted contact leaves every automation, so deletion cannot start one.
NOT_TRIGGERS = {(catalog.MARKETING, "contactDeleted")}
CONDITION_VALUE_MAX = 500
ATTRIBUTE_NAME_MAX = 100


def can_trigger(event: catalog.EventType) -> bool:
    return event.key not in NOT_TRIGGERS


def trigger_events(type: str) -> list[catalog.EventType]:
    """The events of `type` that may start an automation, in catalog order."""
    return [event for event in catalog.for_type(type) if can_trigger(event)]


def conditions_for(event: catalog.EventType) -> list[str]:
    """The conditions that fit `event`, by what its payload carries."""
    fits = []
    if event.payload_name in {"list_addition", "unsubscribed"} and event.type == catalog.MARKETING:
        fits.append(C.LIST_ID)
    if event.payload_name == "click":
        fits.append(C.LINK_CONTAINS)
    if event.type == catalog.TRANSACTIONAL or event.group == catalog.EMAIL_GROUP:
        fits.append(C.TAG)
    if event.payload_name == "contact_updated":
        fits.append(C.ATTRIBUTE)
    return fits


def check(event: catalog.EventType, condition: str, attribute: str, value: str) -> tuple[str, str] | None:
    """What is wrong with this condition for `event`, as (field, message); None if it fits.

    The field is the condition's own name ("listId", "attribute"...), so that the form and the
    API can show the message next to it.
    """
    if not condition:
        return None
    label = _(event.label)
    if condition not in conditions_for(event):
        names = {
            C.LIST_ID: _("A list"),
            C.LINK_CONTAINS: _("A link"),
            C.TAG: _("A tag"),
            C.ATTRIBUTE: _("An attribute"),
        }
        return condition, _("%(what)s is not a condition of “%(event)s”.") % {"what": names[condition], "event": label}
    if condition == C.LIST_ID and not whole_number(value):
        return condition, _("Enter the id of the list, a whole number such as 7.")
    if condition == C.ATTRIBUTE and not attribute.strip():
        return condition, _("Enter the name of the attribute, such as PLAN.")
    if condition != C.ATTRIBUTE and not value.strip():
        return condition, _("Enter the value to match.")
    return None


def matches(automation: Automation, data: Mapping[str, Any]) -> bool:
    """Whether an event's reported data meets the automation's condition."""
    condition, value = automation.condition, automation.condition_value
    if condition == C.LIST_ID:
        return int(value) in list_ids(data.get("list_id"))
    if condition == C.LINK_CONTAINS:
        links = [data.get("link"), data.get("URL")]
        return any(isinstance(link, str) and value.lower() in link.lower() for link in links)
    if condition == C.TAG:
        return value in tags(data)
    if condition == C.ATTRIBUTE:
        wanted = automation.condition_attribute.lower()
        changed = content_attributes(data.get("content"))
        return any(name.lower() == wanted and as_text(new) == value for name, new in changed.items())
    return True


def list_ids(value: Any) -> set[int]:
    """The list ids of a `list_id` field: one id or a list of them, numbers or digits."""
    found = set()
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, int) and not isinstance(item, bool):
            found.add(item)
        elif isinstance(item, str) and (number := whole_number(item.strip())) is not None:
            found.add(number)
    return found


def tags(data: Mapping[str, Any]) -> set[str]:
    """The tags of an email event: `tags` (a list) and `tag` (that list as JSON text, or one tag)."""
    found = (
        {tag for tag in data.get("tags") or [] if isinstance(tag, str)} if isinstance(data.get("tags"), list) else set()
    )
    tag = data.get("tag")
    if isinstance(tag, str) and tag:
        try:
            parsed = json.loads(tag)
        except ValueError:
            parsed = tag
        if isinstance(parsed, list):
            found |= {item for item in parsed if isinstance(item, str)}
        elif isinstance(parsed, str):
            found.add(parsed)
    return found


def content_attributes(content: Any) -> dict[str, Any]:
    """The attributes in a contactUpdated `content`: a list of {attribute: value} objects, or one object."""
    merged: dict[str, Any] = {}
    for item in content if isinstance(content, list) else [content]:
        if isinstance(item, Mapping):
            merged.update((str(name), value) for name, value in item.items())
    return merged


def as_text(value: Any) -> str:
    """An attribute's value as a condition compares it: JSON's spelling of true, false and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
