"""Events' and deliveries' uids are version-7 UUIDs: unique, unguessable, and in the order they were made."""

from __future__ import annotations

import time
import uuid

from brevo_hooks.ids import uuid7
from events import emit
from events.fanout import NewEvent
from webhooks.models import Delivery


def test_a_uuid7_is_a_valid_version_7_uuid_carrying_the_time():
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= made.int >> 80 <= after
    assert uuid.UUID(str(made)) == made


def test_uuid7s_made_in_later_milliseconds_sort_after_and_never_repeat():
    first = uuid7()
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:  # the next millisecond
        pass
    later = uuid7()
    assert first < later and first.hex < later.hex and str(first) < str(later)
    many = {uuid7() for _ in range(10_000)}
    assert len(many) == 10_000


def test_events_and_their_deliveries_get_time_ordered_uids(account, make_webhook, redis):
    make_webhook(events=("delivered",))
    (event,) = emit(account, [NewEvent("delivered", data={"email": "jane@example.com"})])
    delivery = Delivery.objects.get(event_record=event)
    assert (event.uid.version, delivery.uid.version) == (7, 7)
