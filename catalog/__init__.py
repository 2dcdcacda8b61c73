"""The catalog of Brevo events, as code.

Each event has three names: the subscription name of the API's `events[]`, the
payload name POSTed in the `event` field, and the label a marketer ticks in the UI.
Adding an event is one entry in `CATALOG` (and its fields in `payloads.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from catalog import payloads

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
# Lazy, like the labels below: translated when shown, into the language of the page.
TYPE_LABELS = {TRANSACTIONAL: _("Transactional"), MARKETING: _("Marketing")}

# How the form groups the marketing events, under Brevo's own headings.
EMAIL_GROUP = "email"
CONTACT_GROUP = "contact"
GROUP_HEADINGS = {EMAIL_GROUP: _("When an email is:"), CONTACT_GROUP: _("When a contact is:")}

Builder = Callable[[str, Mapping[str, Any], datetime, str], dict[str, Any]]


@dataclass(frozen=True)
class EventType:
    type: str
    subscription: str
    payload_name: str
    label: str | Promise  # in Brevo's words, translated lazily (locale/it has Brevo's Italian ones)
    builder: Builder
    group: str = EMAIL_GROUP
    aliases: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.subscription)

    def __hash__(self) -> int:
        # The key names an entry. The generated hash would hash every field, the lazy label
        # too, which translates it: a twentieth of the events API's CPU went to that.
        return hash(self.key)

    def build(self, data: Mapping[str, Any], occurred_at: datetime, time_zone: str = "UTC") -> dict[str, Any]:
        """Brevo's payload for this event: generated defaults, then `data` over them."""
        return self.builder(self.payload_name, data, occurred_at, time_zone)

    def sample(self, occurred_at: datetime, time_zone: str = "UTC") -> dict[str, Any]:
        """The payload a "Send a test" posts: this event with realistic sample values."""
        return self.build(payloads.sample_data(self.type, self.payload_name), occurred_at, time_zone)


T, M = TRANSACTIONAL, MARKETING
CATALOG: tuple[EventType, ...] = (
    # Transactional, in the order of Brevo's "Add a new webhook" form.
    EventType(T, "sent", "request", _("Sent"), payloads.transactional, aliases=("request",)),
    EventType(T, "delivered", "delivered", _("Delivered"), payloads.transactional),
    EventType(T, "uniqueOpened", "unique_opened", _("First opening"), payloads.transactional),
    EventType(T, "opened", "opened", _("Opened"), payloads.transactional),
    EventType(T, "proxyOpen", "proxy_open", _("Loaded by proxy"), payloads.transactional),
    EventType(T, "click", "click", _("Clicked"), payloads.transactional),
    EventType(T, "softBounce", "soft_bounce", _("Soft bounced"), payloads.transactional),
    EventType(T, "hardBounce", "hard_bounce", _("Hard bounced"), payloads.transactional),
    EventType(T, "invalid", "invalid_email", _("Invalid email"), payloads.transactional),
    EventType(T, "error", "error", _("Error"), payloads.transactional),
    EventType(T, "deferred", "deferred", _("Deferred"), payloads.transactional),
    EventType(T, "spam", "spam", _("Complaint"), payloads.transactional),
    EventType(T, "unsubscribed", "unsubscribed", _("Unsubscribed"), payloads.transactional),
    EventType(T, "blocked", "blocked", _("Blocked"), payloads.transactional),
    # Marketing: email events, then contact events.
    EventType(M, "spam", "spam", _("Marked as spam"), payloads.marketing_email),
    EventType(M, "hardBounce", "hard_bounce", _("Hard bounced"), payloads.marketing_email),
    EventType(M, "delivered", "delivered", _("Delivered"), payloads.marketing_email),
    EventType(M, "opened", "opened", _("Opened"), payloads.marketing_email),
    EventType(M, "unsubscribed", "unsubscribed", _("Unsubscribed"), payloads.marketing_email),
    EventType(M, "click", "click", _("Clicked"), payloads.marketing_email),
    EventType(M, "softBounce", "soft_bounce", _("Soft bounced"), payloads.marketing_email),
    EventType(M, "listAddition", "list_addition", _("Added to a list"), payloads.contact, CONTACT_GROUP),
    EventType(M, "contactUpdated", "contact_updated", _("Updated"), payloads.contact, CONTACT_GROUP),
    EventType(M, "contactDeleted", "contact_deleted", _("Deleted"), payloads.contact, CONTACT_GROUP),
)

_BY_NAME: dict[tuple[str, str], EventType] = {}
for _event in CATALOG:
    for _name in (_event.subscription, *_event.aliases):
        _BY_NAME[(_event.type, _name)] = _event


def get(type: str, subscription: str) -> EventType | None:
    """The event of `type` subscribed to as `subscription` (aliases included), or None."""
    return _BY_NAME.get((type, subscription))


def for_type(type: str) -> list[EventType]:
    return [event for event in CATALOG if event.type == type]


def subscription_names(type: str) -> list[str]:
    """Every name accepted in `events[]` for `type`, aliases included."""
    return [name for (event_type, name) in _BY_NAME if event_type == type]
