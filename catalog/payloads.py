"""Payload builders: Brevo's exact JSON for each event.

A builder takes the payload name, the producer's data, when the event happened and
the account's time zone, and returns the dict that is POSTed. Keys come in Brevo's
order; generated values (event name, dates, timestamps) are defaults that the
producer's data may override, except `event`, which always names the event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# Fields of reference/brevo-webhooks.md, in the order Brevo sends them.
TRANSACTIONAL_COMMON = (
    "event", "email", "id", "date", "ts", "message-id", "ts_event", "subject", "X-Mailin-custom",
    "sending_ip", "ts_epoch", "template_id", "tags", "tag", "mirror_link", "contact_id",
)  # fmt: skip
WITH_REASON = {"soft_bounce", "hard_bounce", "deferred", "blocked"}
WITH_DEVICE = {"opened", "unique_opened", "proxy_open", "click"}
WITHOUT_SENDING_IP = {"blocked", "error", "invalid_email"}

MARKETING_BOUNCES = {"hard_bounce", "soft_bounce"}


def transactional_fields(payload_name: str) -> list[str]:
    fields = [f for f in TRANSACTIONAL_COMMON if not (f == "sending_ip" and payload_name in WITHOUT_SENDING_IP)]
    if payload_name in WITH_REASON:
        fields.append("reason")
    if payload_name == "click":
        fields.append("link")
    if payload_name in WITH_DEVICE:
        fields += ["user_agent", "device_used"]
    return fields


def marketing_email_fields(payload_name: str) -> list[str]:
    fields = ["id", "camp_id", "email", "campaign name", "date_sent", "date_event", "event"]
    if payload_name in MARKETING_BOUNCES or payload_name == "spam":
        fields.append("reason")
    fields += ["tag", "ts_sent", "ts_event", "ts"]
    if payload_name == "click":
        fields.append("URL")
    if payload_name in MARKETING_BOUNCES or payload_name in {"delivered", "unsubscribed"}:
        fields.append("sending_ip")
    if payload_name == "unsubscribed":
        fields.append("list_id")
    return fields


def contact_fields(payload_name: str) -> list[str]:
    fields = ["id", "email", "event", "key"]
    if payload_name in {"list_addition", "contact_deleted"}:
        fields.append("list_id")
    if payload_name == "contact_updated":
        fields.append("content")
    if payload_name in {"list_addition", "contact_updated"}:
        fields.append("api_key_name")
    return [*fields, "date", "ts"]


def local_date(moment: datetime, time_zone: str) -> str:
    """Brevo's `date`: `YYYY-MM-DD HH:MM:SS` in the account's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M:%S")


def _assemble(fields: Iterable[str], defaults: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **data, "event": defaults["event"]}
    payload = {name: merged[name] for name in fields if name in merged}
    # Fields Brevo adds that we do not list are passed through rather than dropped.
    payload.update((name, value) for name, value in merged.items() if name not in payload)
    return payload


def transactional(payload_name: str, data: Mapping[str, Any], occurred_at: datetime, time_zone: str) -> dict[str, Any]:
    seconds = int(occurred_at.timestamp())
    defaults: dict[str, Any] = {
        "event": payload_name,
        "date": local_date(occurred_at, time_zone),
        "ts": seconds,
        "ts_event": seconds,
        "ts_epoch": int(occurred_at.timestamp() * 1000),
    }
    if "tags" in data and "tag" not in data:
        # Brevo sends the tags twice: as a list, and as that list in a JSON string.
        defaults["tag"] = json.dumps(data["tags"], ensure_ascii=False)
    return _assemble(transactional_fields(payload_name), defaults, data)


def marketing_email(
    payload_name: str, data: Mapping[str, Any], occurred_at: datetime, time_zone: str
) -> dict[str, Any]:
    seconds = int(occurred_at.timestamp())
    date = local_date(occurred_at, time_zone)
    defaults: dict[str, Any] = {
        "event": payload_name,
        "date_sent": date,
        "date_event": date,
        "ts_sent": seconds,
        "ts_event": seconds,
        "ts": seconds,
    }
    return _assemble(marketing_email_fields(payload_name), defaults, data)


def contact(payload_name: str, data: Mapping[str, Any], occurred_at: datetime, time_zone: str) -> dict[str, Any]:
    defaults = {"event": payload_name, "date": local_date(occurred_at, time_zone), "ts": int(occurred_at.timestamp())}
    return _assemble(contact_fields(payload_name), defaults, data)


def encode(payload: object) -> bytes:
    """The exact bytes POSTed for a payload (or a batch of them)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# Realistic values for "Send a test", so that receivers can develop against them.
SAMPLE_EMAIL = "jane.doe@example.com"


def sample_data(type: str, payload_name: str) -> dict[str, Any]:
    if type == "transactional":
        data: dict[str, Any] = {
            "email": SAMPLE_EMAIL,
            "id": 814119,
            "message-id": "<202611281437.85220493321@smtp-relay.mailin.fr>",
            "subject": "Your order has shipped",
            "X-Mailin-custom": "order_id:10045",
            "sending_ip": "1.179.112.9",
            "template_id": 12,
            "tags": ["order-shipped"],
            "mirror_link": "https://app-smtp.brevo.com/log/preview/0f2c8a9e-3c1b-4a5e-9d3f-7b1e2a6c4d8f",
            "contact_id": 4711,
            "reason": SAMPLE_REASONS.get(payload_name, ""),
            "link": "https://example.com/orders/10045",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15",
            "device_used": "MOBILE",
        }
        return {name: value for name, value in data.items() if name in transactional_fields(payload_name)}
    if payload_name in {"list_addition", "contact_updated", "contact_deleted"}:
        data = {
            "id": 1234,
            "email": SAMPLE_EMAIL,
            "key": "f3a29c1d8e7b4a6f",
            "list_id": [34, 12],
            "content": [{"FIRSTNAME": "Jane"}, {"LASTNAME": "Doe"}],
            "api_key_name": "",
        }
        return {name: value for name, value in data.items() if name in contact_fields(payload_name)}
    data = {
        "id": 1234,
        "camp_id": 42,
        "email": SAMPLE_EMAIL,
        "campaign name": "November newsletter",
        "reason": SAMPLE_REASONS.get(payload_name, ""),
        "tag": "",
        "URL": "https://example.com/black-friday",
        "sending_ip": "1.179.112.9",
        "list_id": [34],
    }
    return {name: value for name, value in data.items() if name in marketing_email_fields(payload_name)}


SAMPLE_REASONS = {
    "soft_bounce": "452 4.2.2 Mailbox full",
    "hard_bounce": "550 5.1.1 no such user",
    "deferred": "421 4.7.0 Try again later",
    "blocked": "blocked : due to blacklist user",
    "spam": "undesired",
}
