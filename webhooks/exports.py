"""The export of delivery history (POST /v3/webhooks/export): a CSV, then a POST of its link.

The CSV is kept in the database, so any web process can serve it, behind a link
with a random token of which only the hash is stored. The link is POSTed to the
`notifyURL` through `outbound`, with the same SSRF rules as every delivery.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from brevo_hooks.logs import log_ids
from webhooks import outbound
from webhooks.models import Delivery, Export, Webhook, mask_url
from webhooks.retention import history_start

logger = logging.getLogger(__name__)

MAX_ROWS = 100_000
LINK_LIFETIME = timedelta(days=7)
COLUMNS = [
    "message_id", "webhook_id", "webhook_url", "type", "event", "status", "is_test", "attempts",
    "created_at", "completed_at", "last_status_code", "last_error", "email", "message-id", "payload",
]  # fmt: skip


def deliveries_for(export: Export) -> QuerySet[Delivery]:
    """The deliveries an export covers: its account's only, filtered as the request asked."""
    params: dict[str, Any] = export.params
    rows = Delivery.objects.filter(
        webhook__account=export.account, webhook__type=params["type"], webhook__source=Webhook.Source.WEBHOOKS
    )
    if params["event"] != "allEvents":
        rows = rows.filter(event=params["event"])
    if params.get("webhookId"):
        rows = rows.filter(webhook_id=params["webhookId"])
    for value in payload_filters(params).values():
        # The payload is JSON text (OrderedJSONField): the database narrows the rows to those
        # holding the value as a JSON string, and `matches` then checks the exact field.
        rows = rows.filter(payload__contains=json.dumps(value, ensure_ascii=False))
    tz = timezone.get_current_timezone()
    if params.get("startDate"):
        start = datetime.combine(date.fromisoformat(params["startDate"]), time.min, tz)
        end = datetime.combine(date.fromisoformat(params["endDate"]), time.min, tz) + timedelta(days=1)
    else:
        end = timezone.now()
        start = datetime.combine(timezone.localdate() - timedelta(days=params["days"] - 1), time.min, tz)
    rows = rows.filter(created_at__gte=start, created_at__lt=end)
    order = "created_at" if params.get("sort") == "asc" else "-created_at"
    return rows.select_related("webhook").order_by(order, "id")


def payload_filters(params: dict[str, Any]) -> dict[str, str]:
    """The payload fields an export asks for, by their names in Brevo's payload."""
    wanted = {"email": params.get("email"), "message-id": params.get("messageId")}
    return {key: value for key, value in wanted.items() if value}


def matches(payload: Any, filters: dict[str, str]) -> bool:
    return all(isinstance(payload, dict) and payload.get(key) == value for key, value in filters.items())


# A cell starting with one of these runs as a formula in spreadsheets (OWASP's list: a tab or
# carriage return first can hide the formula sign behind it); the quote keeps it text.
FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def build_csv(export: Export) -> tuple[str, int]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    filters = payload_filters(export.params)
    for delivery in deliveries_for(export).prefetch_related("attempts")[:MAX_ROWS].iterator(chunk_size=1000):
        if not matches(delivery.payload, filters):
            continue
        attempt = delivery.last_attempt()
        payload = delivery.payload if isinstance(delivery.payload, dict) else {}
        writer.writerow(
            cell(value)
            for value in [
                delivery.webhook_message_id,
                delivery.webhook_id,
                mask_url(delivery.webhook.url),
                delivery.webhook.type,
                delivery.event,
                delivery.status,
                delivery.is_test,
                delivery.attempt_count,
                delivery.created_at.isoformat(),
                delivery.completed_at.isoformat() if delivery.completed_at else "",
                attempt.response_status if attempt else "",
                attempt.error if attempt else "",
                payload.get("email", ""),
                payload.get("message-id", ""),
                json.dumps(delivery.payload, ensure_ascii=False),
            ]
        )
        count += 1
    return out.getvalue(), count


def run(export_id: int) -> str:
    """Build the CSV of an export and POST its link to notifyURL; return a short outcome.

    Whatever goes wrong while building it, the export is marked failed and notifyURL is
    told so: an export never stays pending with its caller waiting for a notice.
    """
    export = Export.objects.select_related("account").get(pk=export_id)
    if export.status != Export.Status.PENDING:
        return "skipped"
    try:
        export.csv, export.row_count = build_csv(export)
        token = export.new_token()
        export.status = Export.Status.DONE
        export.finished_at = timezone.now()
        export.expires_at = export.finished_at + LINK_LIFETIME
        export.save()
    except Exception:
        logger.exception("export %s could not be built", export.pk)
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.FAILED,
            csv="",
            token_hash="",
            error="The export could not be built.",
            finished_at=timezone.now(),
        )
        export.refresh_from_db()
        notice = {"processId": export.pk, "status": "failed", "message": "The export could not be built."}
        return "failed, " + notify(export, notice)
    link = export.base_url.rstrip("/") + reverse("export_download", args=[token])
    start = history_start(export.finished_at)
    notice = {
        "processId": export.pk,
        "status": "completed",
        "url": link,
        "rows": export.row_count,
        # How far back the file can go: older history was deleted (webhooks.retention).
        "retentionDays": settings.WEBHOOKS_RETENTION_DAYS or None,
        "historyStartsAt": start.isoformat(timespec="seconds").replace("+00:00", "Z") if start else None,
    }
    return notify(export, notice)


def notify(export: Export, notice: dict[str, Any]) -> str:
    """POST `notice` to the export's notifyURL, record how it went, and return "notified" or "notify-failed"."""
    body = json.dumps(notice).encode()
    try:
        response = outbound.post(export.notify_url, body, {"Content-Type": "application/json"})
    except outbound.OutboundError as exc:
        error = f"notifyURL: {exc}"
        outcome = "notify-failed"
    else:
        error = "" if response.ok else f"notifyURL answered HTTP {response.status}"
        outcome = "notified" if response.ok else "notify-failed"
    if error:
        export.error = f"{export.error} {error}".strip()
    export.notified_at = timezone.now()
    export.save(update_fields=["error", "notified_at"])
    logger.info(
        "export %s: %s rows, %s (%s)",
        export.pk,
        export.row_count,
        outcome,
        mask_url(export.notify_url),
        extra=log_ids(account_id=export.account_id, export_id=export.pk),
    )
    return outcome
