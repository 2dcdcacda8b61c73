from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.utils import translation

import catalog
from catalog import payloads

NOW = datetime(2026, 11, 28, 14, 37, 7, 372000, tzinfo=UTC)

TRANSACTIONAL_COMMON = {
    "event", "email", "id", "date", "ts", "message-id", "ts_event", "subject", "X-Mailin-custom",
    "ts_epoch", "template_id", "tags", "tag", "mirror_link", "contact_id",
}  # fmt: skip


def test_the_catalog_has_brevos_24_events():
    assert len(catalog.CATALOG) == 24
    assert len(catalog.for_type("transactional")) == 14
    assert len(catalog.for_type("marketing")) == 10


@pytest.mark.parametrize("event", catalog.CATALOG, ids=lambda e: f"{e.type}-{e.subscription}")
def test_every_event_has_three_names_and_a_builder(event):
    assert event.subscription and event.payload_name and event.label
    payload = event.sample(NOW)
    assert payload["event"] == event.payload_name
    json.dumps(payload)  # serialisable as it will be POSTed


@pytest.mark.parametrize("event", catalog.for_type("transactional"), ids=lambda e: e.subscription)
def test_transactional_payloads_have_brevos_fields(event):
    payload = event.sample(NOW)
    assert payload.keys() >= TRANSACTIONAL_COMMON
    assert ("sending_ip" in payload) == (event.payload_name not in {"blocked", "error", "invalid_email"})
    assert ("reason" in payload) == (event.payload_name in {"soft_bounce", "hard_bounce", "deferred", "blocked"})
    assert ("link" in payload) == (event.payload_name == "click")
    if event.payload_name in {"opened", "unique_opened", "proxy_open", "click"}:
        assert payload["device_used"] in {"DESKTOP", "MOBILE"} and payload["user_agent"]
    assert payload["ts_epoch"] == 1795876627372  # milliseconds, UTC
    assert payload["ts"] == payload["ts_event"] == 1795876627
    assert json.loads(payload["tag"]) == payload["tags"]


@pytest.mark.parametrize(
    "subscription,extra",
    [
        ("spam", {"reason"}),
        ("hardBounce", {"reason", "sending_ip"}),
        ("softBounce", {"reason", "sending_ip"}),
        ("delivered", {"sending_ip"}),
        ("opened", set()),
        ("click", {"URL"}),
        ("unsubscribed", {"sending_ip", "list_id"}),
    ],
)
def test_marketing_email_payloads_have_brevos_fields(subscription, extra):
    payload = catalog.get("marketing", subscription).sample(NOW)
    common = {
        "id",
        "camp_id",
        "email",
        "campaign name",
        "date_sent",
        "date_event",
        "event",
        "tag",
        "ts_sent",
        "ts_event",
        "ts",
    }
    assert payload.keys() == common | extra


@pytest.mark.parametrize(
    "subscription,extra",
    [
        ("listAddition", {"list_id", "api_key_name"}),
        ("contactUpdated", {"content", "api_key_name"}),
        ("contactDeleted", {"list_id"}),
    ],
)
def test_contact_payloads_have_brevos_fields(subscription, extra):
    payload = catalog.get("marketing", subscription).sample(NOW)
    assert payload.keys() == {"id", "email", "event", "key", "date", "ts"} | extra


def test_the_date_is_in_the_accounts_time_zone_and_ts_epoch_stays_utc():
    event = catalog.get("transactional", "hardBounce")
    paris = event.sample(NOW, "Europe/Paris")
    assert paris["date"] == "2026-11-28 15:37:07"
    assert paris["ts_epoch"] == event.sample(NOW, "UTC")["ts_epoch"]


def test_producer_data_overrides_the_defaults_but_not_the_event_name():
    event = catalog.get("transactional", "hardBounce")
    payload = event.build({"email": "a@b.test", "ts_event": 1, "event": "something_else", "custom": 1}, NOW)
    assert payload["email"] == "a@b.test" and payload["ts_event"] == 1 and payload["custom"] == 1
    assert payload["event"] == "hard_bounce"


def test_sent_and_request_are_two_names_for_one_event():
    assert catalog.get("transactional", "request") is catalog.get("transactional", "sent")
    assert catalog.get("transactional", "sent").payload_name == "request"
    assert "request" in catalog.subscription_names("transactional")


def test_an_event_of_one_type_is_not_found_under_the_other():
    assert catalog.get("marketing", "uniqueOpened") is None
    assert catalog.get("transactional", "listAddition") is None


def test_marketing_events_are_grouped_under_brevos_headings():
    groups = {e.group for e in catalog.for_type("marketing")}
    assert groups == {"email", "contact"}
    contact = [e.label for e in catalog.for_type("marketing") if e.group == "contact"]
    assert contact == ["Added to a list", "Updated", "Deleted"]


def test_the_bytes_posted_are_compact_utf8_json():
    assert payloads.encode({"campaign name": "Noël"}) == '{"campaign name":"Noël"}'.encode()


def test_an_entry_hashes_the_same_in_every_language():
    # Sets and dicts of entries are built under one language and read under another; the
    # generated hash hashed the lazy label too, translated into whichever was active.
    entry = catalog.get(catalog.TRANSACTIONAL, "delivered")
    with translation.override("it"):
        italian = hash(entry)
    with translation.override("en"):
        assert hash(entry) == italian
    assert len({entry, catalog.get(catalog.TRANSACTIONAL, "delivered")}) == 1
