"""Sending deliveries: claim them, record the attempts, POST, record the outcomes.

A job hands over many delivery ids; they go out as concurrent requests (a pool of
threads, one keep-alive session per thread), while the job's own thread does the
database work in a few bulk statements: claim and write the attempts of the next
requests, record the outcomes of finished ones. No more than
WEBHOOKS_ENDPOINT_CONCURRENCY requests go to one endpoint at a time, so a slow endpoint
cannot take every thread, and an endpoint that does not answer is paused so that what
it is owed waits instead of holding workers.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events.payloads import encode
from webhooks import outbound, signing
from webhooks.models import MASK, Attempt, Delivery, Webhook, mask_url

logger = logging.getLogger(__name__)

# A request takes at most a connect and a read timeout (outbound.post); the margin covers
# the database work around it. A delivery still "sending" after its lease was abandoned
# by a dead worker, and the sweeper gives it back.
LEASE_MARGIN = timedelta(seconds=5)
# How long finished requests wait for others to finish, to record them together.
GATHER_SECONDS = 0.01
# What the delivery log keeps of a response body.
STORED_RESPONSE_CHARS = 4096
# Receivers ask for more time with these statuses and a Retry-After header.
RETRY_AFTER_STATUSES = {429, 503}

DELIVERED = "delivered"
FAILED = "failed"
RETRY = "retry"
GAVE_UP = "gave-up"
SKIPPED = "skipped"
DEFERRED = "deferred"
CANCELLED = "cancelled"
HANDED_BACK = "handed-back"


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


def lease() -> timedelta:
    return timedelta(seconds=2 * settings.WEBHOOKS_TIMEOUT) + LEASE_MARGIN


@dataclass
class Outgoing:
    """One request of a round: what is sent, and what came back."""

    delivery: Delivery
    attempt: Attempt
    url: str
    headers: dict[str, str]
    body: bytes
    token: uuid.UUID
    response: outbound.Response | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.ok

    @property
    def unanswered(self) -> bool:
        # No HTTP answer at all: the endpoint is down or too slow, not just unhappy.
        return self.response is None

    def post(self) -> Outgoing:
        try:
            self.response = outbound.post(self.url, self.body, self.headers)
        except outbound.OutboundError as exc:
            self.error = str(exc)
        return self


_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    # One pool per process, kept between jobs, so that each thread's keep-alive
    # connections (outbound.session() is per thread) are reused.
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=settings.WEBHOOKS_SEND_THREADS, thread_name_prefix="send")
    return _pool


def send(delivery_id: int) -> str:
    """Make one attempt at one delivery; return a short outcome for the job."""
    outcomes = deliver([delivery_id])
    return next(iter(outcomes), SKIPPED)


def deliver(ids: list[int], budget: float | None = None) -> Counter[str]:
    """Send the deliveries among `ids` that are still owed; count the outcomes.

    Requests run concurrently on the pool, at most WEBHOOKS_ENDPOINT_CONCURRENCY to one
    endpoint, and a free thread takes the next delivery at once: a slow endpoint holds
    its own threads, never the others'. Deliveries not started after `budget` seconds
    are handed back to the queue.
    """
    deadline = time.monotonic() + budget if budget is not None else None
    outcomes: Counter[str] = Counter()
    rows = list(
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING)
        .order_by("pk")
        .values_list("pk", "webhook_id", "is_test", "webhook__enabled", "webhook__paused_until")
    )
    outcomes[SKIPPED] = len(set(ids)) - len(rows)
    now = timezone.now()
    paused: dict[int, datetime] = {}
    waiting: list[tuple[int, int]] = []
    disabled: list[int] = []
    for pk, webhook_id, is_test, enabled, paused_until in rows:
        if is_test:
            waiting.append((pk, webhook_id))
        elif not enabled:
            disabled.append(pk)
        elif paused_until and paused_until > now:
            paused[webhook_id] = paused_until
        else:
            waiting.append((pk, webhook_id))
    if disabled:
        outcomes[CANCELLED] += cancel(disabled)
    for webhook_id, until in paused.items():
        outcomes[DEFERRED] += defer([pk for pk, hook, is_test, *_ in rows if hook == webhook_id and not is_test], until)

    in_flight: dict[Future[Outgoing], Outgoing] = {}
    busy: Counter[int] = Counter()  # requests in flight per webhook
    while waiting or in_flight:
        if deadline is not None and time.monotonic() > deadline and waiting:
            outcomes[HANDED_BACK] += hand_back([pk for pk, _ in waiting])
            waiting = []
        taken, waiting = take(waiting, busy, settings.WEBHOOKS_SEND_THREADS - len(in_flight))
        if taken:
            started = start(taken)
            outcomes[SKIPPED] += len(taken) - len(started)
            for o in started:
                busy[o.delivery.webhook_id] += 1
                in_flight[pool().submit(o.post)] = o
        if not in_flight:
            continue
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        # Requests finishing right behind the first join it, so that their outcomes go
        # to the database in one write instead of one each.
        more, _ = wait(set(in_flight) - done, timeout=GATHER_SECONDS)
        done |= more
        finished = [in_flight.pop(future) for future in done]
        for o in finished:
            busy[o.delivery.webhook_id] -= 1
        outcomes += record(finished)
        # An endpoint that stopped answering is paused: what it is still owed waits.
        for o in finished:
            webhook = o.delivery.webhook
            if o.unanswered and not o.delivery.is_test and webhook.is_paused and webhook.pk not in paused:
                paused[webhook.pk] = webhook.paused_until
                held = [pk for pk, hook in waiting if hook == webhook.pk]
                if held:
                    outcomes[DEFERRED] += defer(held, webhook.paused_until)
        waiting = [(pk, hook) for pk, hook in waiting if hook not in paused]
    return +outcomes


def take(waiting: list[tuple[int, int]], busy: Counter[int], free: int) -> tuple[list[int], list]:
    """Up to `free` ids to start now, no endpoint over its limit; and those left waiting."""
    per_endpoint = settings.WEBHOOKS_ENDPOINT_CONCURRENCY
    taken: list[int] = []
    left: list[tuple[int, int]] = []
    counts = Counter(busy)
    for pk, webhook_id in waiting:
        if len(taken) < free and counts[webhook_id] < per_endpoint:
            taken.append(pk)
            counts[webhook_id] += 1
        else:
            left.append((pk, webhook_id))
    return taken, left


def cancel(ids: list[int]) -> int:
    # The webhook was disabled: what it was owed stays in the log, and can be retried.
    now = timezone.now()
    cancelled = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, completed_at=now, next_attempt_at=None
    )
    Delivery.objects.filter(batch_id__in=ids, batch__status=Delivery.Status.CANCELLED).update(
        status=Delivery.Status.CANCELLED, completed_at=now
    )
    return cancelled


def defer(ids: list[int], until: datetime) -> int:
    # Not an attempt: the sweeper enqueues them again when the pause is over.
    return Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
        next_attempt_at=until, enqueued_at=None
    )


def hand_back(ids: list[int]) -> int:
    from webhooks.jobs import enqueue_deliveries

    enqueue_deliveries(ids)
    return len(ids)


@transaction.atomic
def start(ids: list[int]) -> list[Outgoing]:
    """Claim `ids` and write their attempts, ready to send; those another job has are left out."""
    token, claimed = Delivery.objects.claim(ids, lease())
    outgoing = []
    for delivery in claimed:
        url, auth_headers = split_credentials(delivery.webhook.url)
        body = encode(delivery.payload)
        headers = {**auth_headers, **request_headers(delivery, body)}
        attempt = Attempt(
            delivery=delivery,
            number=delivery.attempt_count,
            request_url=mask_url(delivery.webhook.url),
            request_headers=loggable_headers(headers, delivery.webhook),
            request_body=body.decode(),
        )
        outgoing.append(Outgoing(delivery, attempt, url, headers, body, token))
    # Written before the network calls, so that a crash mid-send still leaves a trace.
    insert_attempts([o.attempt for o in outgoing])
    return outgoing


def retry_delay(attempt_number: int, response: outbound.Response | None) -> float | None:
    """Seconds until the next attempt after attempt `attempt_number` failed; None when exhausted."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempt_number > len(schedule):
        return None
    delay = schedule[attempt_number - 1]
    if response is not None and response.status in RETRY_AFTER_STATUSES:
        asked = retry_after(response.headers)
        if asked is not None:
            delay = max(delay, min(asked, settings.WEBHOOKS_RETRY_AFTER_MAX))
    return delay


def retry_after(headers: dict[str, str]) -> float | None:
    """Retry-After in seconds, from either of its forms (seconds, or an HTTP date)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def record(outgoing: list[Outgoing]) -> Counter[str]:
    """Store the attempts and the outcomes of finished requests, in a few statements."""
    now = timezone.now()
    outcomes: Counter[str] = Counter()
    for o in outgoing:
        attempt = o.attempt
        if o.response is not None:
            attempt.response_status = o.response.status
            attempt.response_headers = o.response.headers
            attempt.response_body = o.response.text()[:STORED_RESPONSE_CHARS]
            attempt.duration_ms = o.response.duration_ms
        else:
            attempt.error = o.error
            attempt.duration_ms = int((now - attempt.started_at).total_seconds() * 1000)

    delivered = [o for o in outgoing if o.ok]
    failed = [o for o in outgoing if not o.ok]
    real_failures = [o for o in failed if not o.delivery.is_test]
    pause_until = now + timedelta(seconds=settings.WEBHOOKS_PAUSE)
    with transaction.atomic():
        complete_attempts([o.attempt for o in outgoing])
        for token in {o.token for o in delivered}:
            outcomes[DELIVERED] += Delivery.objects.filter(
                pk__in=[o.delivery.pk for o in delivered if o.token == token], claim_token=token
            ).update(status=Delivery.Status.SUCCEEDED, completed_at=now, lease_expires_at=None, claim_token=None)
        for o in failed:
            outcomes[fail(o, now, pause_until)] += 1

        batches = [o.delivery.pk for o in outgoing if o.delivery.is_batch]
        if batches:
            settle_members(batches)

        # Any success ends a run of failures; the first failure starts one. (The checks
        # skip statements that would change nothing: this runs for every few requests.)
        answered = {o.delivery.webhook_id for o in delivered if not o.delivery.is_test}
        recovered = {o.delivery.webhook_id for o in delivered if o.delivery.webhook.failing_since} & answered
        if recovered:
            Webhook.objects.filter(pk__in=recovered).update(failing_since=None)
        failing = {o.delivery.webhook_id for o in real_failures} - answered
        if failing:
            Webhook.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=now)
        unanswered = {o.delivery.webhook_id for o in real_failures if o.unanswered} - answered
        if unanswered:
            Webhook.objects.filter(pk__in=unanswered).update(paused_until=pause_until)
        for o in real_failures:
            if o.delivery.webhook_id in unanswered:
                o.delivery.webhook.paused_until = pause_until

    for o in real_failures:
        webhook = o.delivery.webhook
        if o.response is not None and o.response.status == 410:
            disable(webhook, f"Your app answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC, so deliveries stopped.")
    disable_long_failing({o.delivery.webhook_id for o in real_failures}, now)
    logger.info("round of %s: %s", len(outgoing), dict(outcomes))
    return outcomes


# Attempts are written with plain statements run once per row: the ORM's bulk_create
# and bulk_update (a CASE per field and row) cost more CPU than the requests themselves.
# The unique (delivery, number) pair finds the row again, so no id has to come back.
ATTEMPT_TABLE = Attempt._meta.db_table


def insert_attempts(attempts: list[Attempt]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (a.delivery_id, a.number, adapt(a.started_at), a.request_url, json.dumps(a.request_headers), a.request_body)
        for a in attempts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {connection.ops.quote_name(ATTEMPT_TABLE)} (delivery_id, number, started_at, "  # noqa: S608 (names are ours)
            "request_url, request_headers, request_body, response_headers, response_body, error) "
            "VALUES (%s, %s, %s, %s, %s, %s, '{}', '', '')",
            rows,
        )


def complete_attempts(attempts: list[Attempt]) -> None:
    rows = [
        (
            a.response_status,
            json.dumps(a.response_headers),
            a.response_body,
            a.duration_ms,
            a.error,
            a.delivery_id,
            a.number,
        )
        for a in attempts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {connection.ops.quote_name(ATTEMPT_TABLE)} SET response_status = %s, response_headers = %s, "  # noqa: S608
            "response_body = %s, duration_ms = %s, error = %s WHERE delivery_id = %s AND number = %s",
            rows,
        )


def fail(o: Outgoing, now: datetime, pause_until: datetime) -> str:
    """Schedule the next attempt of a failed delivery, or give up on it; return the outcome."""
    delivery = o.delivery
    gone = o.response is not None and o.response.status == 410
    # Test sends never retry, and 410 Gone means the receiver wants no more.
    delay = None if delivery.is_test or gone else retry_delay(delivery.attempt_count, o.response)
    mine = Delivery.objects.filter(pk=delivery.pk, claim_token=o.token)
    if delay is None:
        mine.update(status=Delivery.Status.FAILED, completed_at=now, lease_expires_at=None, claim_token=None)
        return FAILED if delivery.is_test else GAVE_UP
    next_at = now + timedelta(seconds=delay)
    if o.unanswered:
        next_at = max(next_at, pause_until)
    mine.update(
        status=Delivery.Status.PENDING,
        next_attempt_at=next_at,
        enqueued_at=None,
        lease_expires_at=None,
        claim_token=None,
    )
    return RETRY


def settle_members(batch_ids: list[int]) -> None:
    """The events of a finished batch take its outcome."""
    for batch in Delivery.objects.filter(
        pk__in=batch_ids, status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED]
    ):
        batch.members.update(status=batch.status, completed_at=batch.completed_at)


def disable(webhook: Webhook, reason: str) -> bool:
    """Disable `webhook` with `reason` and tell its account; False if it already was."""
    from webhooks.notices import tell_account_disabled

    changed = Webhook.objects.filter(pk=webhook.pk, enabled=True).update(enabled=False, disabled_reason=reason)
    if changed:
        logger.warning("webhook %s disabled: %s", webhook.pk, reason)
        tell_account_disabled(webhook, reason)
    return bool(changed)


def disable_long_failing(webhook_ids: set[int], now: datetime) -> None:
    if not webhook_ids:
        return
    window = timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER)
    for webhook in Webhook.objects.filter(pk__in=webhook_ids, enabled=True, failing_since__lte=now - window):
        days = window.total_seconds() / 86400
        span = f"{days:g} days" if days >= 1 else f"{window.total_seconds():g} seconds"
        disable(
            webhook,
            f"Every delivery failed for {span} (since {webhook.failing_since:%Y-%m-%d %H:%M} UTC), "
            "so deliveries stopped. Check your app, then enable the webhook again.",
        )
