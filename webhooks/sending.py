"""Sending one delivery: claim it, record the attempt, POST, record the outcome."""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.payloads import encode
from webhooks import outbound, signing
from webhooks.models import MASK, Attempt, Delivery, Webhook, mask_url

logger = logging.getLogger(__name__)

# Long enough for the slowest request (timeout plus the time to read the body) with margin;
# a delivery still "sending" after this was abandoned by a dead worker.
LEASE_MARGIN = timedelta(seconds=30)
# What the delivery log keeps of a response body.
STORED_RESPONSE_CHARS = 4096

DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without `user:pass@`, and the Basic auth header those credentials make."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    header = "Basic " + base64.b64encode(credentials.encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": header}


def webhook_headers(webhook: Webhook, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Every header of a POST of `body` to `webhook`, except URL credentials (see split_credentials).

    The custom headers come first so that ours win; reserved names are refused at
    save time anyway. A bearer token wins over user:password@ in the URL.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {header["key"]: header["value"] for header in webhook.headers or []}
    headers["Content-Type"] = "application/json"
    headers.update(signing.headers(webhook.signing_secrets(), msg_id, timestamp, body))
    if webhook.auth_token:
        headers["Authorization"] = f"Bearer {webhook.auth_token}"
    return headers


def request_headers(delivery: Delivery, body: bytes) -> dict[str, str]:
    return webhook_headers(delivery.webhook, delivery.webhook_message_id, body)


def loggable_headers(headers: dict[str, str], webhook: Webhook | None = None) -> dict[str, str]:
    """Headers as the delivery log may show them: credentials and custom header values masked.

    Custom headers often carry an API key of the receiver, so their values are hidden too.
    """
    custom = {header["key"].lower() for header in (webhook.headers if webhook else []) or []}
    return {
        name: (MASK if name.lower() == "authorization" or name.lower() in custom else value)
        for name, value in headers.items()
    }


def send(delivery_id: int) -> str:
    """Make one attempt at a delivery and record it; return a short outcome for the job."""
    delivery = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    if not delivery.claim(lease=timedelta(seconds=settings.WEBHOOKS_TIMEOUT) + LEASE_MARGIN):
        return SKIPPED

    url, auth_headers = split_credentials(delivery.webhook.url)
    body = encode(delivery.payload)
    headers = {**auth_headers, **request_headers(delivery, body)}
    # Written before the network call, so that a crash mid-send still leaves a trace.
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        request_url=mask_url(delivery.webhook.url),
        request_headers=loggable_headers(headers, delivery.webhook),
        request_body=body.decode(),
    )
    try:
        response = outbound.post(url, body, headers)
    except outbound.OutboundError as exc:
        attempt.error = str(exc)
        attempt.duration_ms = int((timezone.now() - attempt.started_at).total_seconds() * 1000)
        outcome = FAILED
    else:
        attempt.response_status = response.status
        attempt.response_headers = response.headers
        attempt.response_body = response.text()[:STORED_RESPONSE_CHARS]
        attempt.duration_ms = response.duration_ms
        outcome = DELIVERED if response.ok else FAILED

    with transaction.atomic():
        attempt.save()
        # Test sends never retry; retries of real events come with the retry schedule.
        delivery.status = Delivery.Status.SUCCEEDED if outcome == DELIVERED else Delivery.Status.FAILED
        delivery.completed_at = timezone.now()
        delivery.lease_expires_at = None
        delivery.save(update_fields=["status", "completed_at", "lease_expires_at"])
    logger.info("delivery %s to %s: %s", delivery.pk, mask_url(delivery.webhook.url), outcome)
    return outcome
