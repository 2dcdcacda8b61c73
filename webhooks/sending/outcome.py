"""What one request's answer means for its delivery, decided before anything is written.

`judge` turns a finished request into an `Outcome`: delivered, retried at a given time,
given up, with every text it stores already storable (webhooks.storable). It never
raises: an unexpected error while reading one answer becomes that delivery's failed
attempt, with the error's text, and the other deliveries of the round are recorded as
usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings

from webhooks import metrics, outbound, storable
from webhooks.sending.request import Outgoing

logger = logging.getLogger(__name__)

DELIVERED = "delivered"
FAILED = "failed"  # a test send that failed: tests are never retried
RETRY = "retry"
GAVE_UP = "gave-up"

# What the delivery log keeps of a response body.
STORED_RESPONSE_CHARS = 4096
STORED_HEADER_CHARS = 8192
# Receivers ask for more time with these statuses and a Retry-After header.
RETRY_AFTER_STATUSES = {429, 503}
GONE = 410


@dataclass(frozen=True)
class Outcome:
    """One finished attempt, ready to be recorded."""

    sent: Outgoing
    result: str
    status: int | None
    headers_json: str
    body: str
    duration_ms: int
    error: str
    next_attempt_at: datetime | None = None

    @property
    def delivery_id(self) -> int:
        return self.sent.delivery.pk

    @property
    def webhook_id(self) -> int:
        return self.sent.delivery.webhook_id

    @property
    def is_test(self) -> bool:
        return self.sent.delivery.is_test

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.result == DELIVERED

    @property
    def gone(self) -> bool:
        return self.status == GONE

    def attempt_row(self) -> tuple[object, ...]:
        """The whole attempt, in webhooks.sql.ATTEMPT_COLUMNS order."""
        return (*self.sent.request_row(), self.status, self.headers_json, self.body, self.duration_ms, self.error)

    def as_metric(self) -> metrics.Sent:
        accepted_at = None if self.is_test else self.sent.delivery.created_at
        return metrics.Sent(self.result, self.status, self.duration_ms / 1000, accepted_at)

    def stripped(self, why: str) -> Outcome:
        """The same outcome without anything the receiver sent, for when storing that failed."""
        return replace(self, headers_json="{}", body="", error=storable.error(why))


def judge(sent: Outgoing, now: datetime) -> Outcome:
    """The outcome of a finished request; never raises."""
    try:
        return _judge(sent, now)
    except Exception as exc:
        logger.exception("could not judge the answer to delivery %s", sent.delivery.pk)
        failed = replace(sent, response=None, error=f"The answer could not be read ({type(exc).__name__})")
        return _judge(failed, now)


def _judge(sent: Outgoing, now: datetime) -> Outcome:
    answer = sent.response
    if answer is None:
        duration = int((now - sent.started_at).total_seconds() * 1000)
        stored = ("{}", "", max(0, duration), storable.error(sent.error or "No answer"))
    else:
        body = storable.text(answer.text(STORED_RESPONSE_CHARS), STORED_RESPONSE_CHARS)
        stored = (storable.headers_json(answer.headers, STORED_HEADER_CHARS), body, answer.duration_ms, "")
    status = answer.status if answer is not None else None
    if sent.ok:
        return Outcome(sent, DELIVERED, status, *stored)
    delivery = sent.delivery
    # Test sends never retry, and 410 Gone means the receiver wants no more.
    delay = None if delivery.is_test or status == GONE else retry_delay(delivery.attempt_count, answer, now)
    if delay is None:
        return Outcome(sent, FAILED if delivery.is_test else GAVE_UP, status, *stored)
    return Outcome(sent, RETRY, status, *stored, next_attempt_at=now + timedelta(seconds=delay))


def retry_delay(attempt_number: int, response: outbound.Response | None, now: datetime) -> float | None:
    """Seconds until the next attempt after attempt `attempt_number` failed; None when exhausted."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempt_number > len(schedule):
        return None
    delay = schedule[attempt_number - 1]
    if response is not None and response.status in RETRY_AFTER_STATUSES:
        asked = retry_after(header(response.headers, "retry-after"), now)
        if asked is not None:
            delay = max(delay, min(asked, settings.WEBHOOKS_RETRY_AFTER_MAX))
    return delay


def header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def retry_after(value: str, now: datetime) -> float | None:
    """Retry-After in seconds: ASCII digits, or an HTTP date; None when it cannot be read.

    A date in GMT, in -0000 or with no zone at all is UTC. A number too long to be
    meant is read as "as long as allowed", which the caller caps.
    """
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float("inf") if len(value) > 12 else float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
