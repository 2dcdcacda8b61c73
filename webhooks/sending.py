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

import json
import logging
import time
import uuid
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from brevo_hooks import bulk_insert
from webhooks import metrics, outbound, signing
from webhooks.models import MASK, Attempt, Claimed, Delivery, Webhook, mask_url, sending_webhooks

logger = logging.getLogger(__name__)

# A request takes at most a connect and a read timeout (outbound.post); the margin covers
# the database work around it. A delivery still "sending" after its lease was abandoned
# by a dead worker, and the sweeper gives it back.
LEASE_MARGIN = timedelta(seconds=5)
# How long finished requests wait for others to finish, to record them together.
GATHER_SECONDS = 0.01
# How long a job sends with what it read of a webhook before reading it again.
WEBHOOKS_FRESH_SECONDS = 1.0
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


def webhook_headers(webhook: Webhook, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Every header of a POST of `body` to `webhook`, except URL credentials (see outbound.split_credentials).

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

    delivery: Claimed
    url: str
    headers: dict[str, str]
    token: uuid.UUID
    started_at: datetime
    response: outbound.Response | None = None
    error: str = ""

    @property
    def body(self) -> bytes:
        return self.delivery.body

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.ok

    @property
    def unanswered(self) -> bool:
        # No HTTP answer at all: the endpoint is down or too slow, not just unhappy.
        return self.response is None

    def post(self, finished: SimpleQueue[Outgoing]) -> None:
        """Send the request on a pool thread, then hand the outcome to the job's thread."""
        try:
            self.response = outbound.post(self.url, self.body, self.headers)
        except outbound.OutboundError as exc:
            self.error = str(exc)
        except Exception:
            # A bug must not leave the job waiting for this request: it fails, and is retried.
            logger.exception("sending delivery %s failed", self.delivery.pk)
            self.error = "The request could not be sent (internal error)"
        finally:
            finished.put(self)


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
    # What is still to start, per webhook, oldest first.
    waiting: dict[int, deque[int]] = defaultdict(deque)
    disabled: list[int] = []
    for pk, webhook_id, is_test, enabled, paused_until in rows:
        if is_test:
            waiting[webhook_id].append(pk)
        elif not enabled:
            disabled.append(pk)
        elif paused_until and paused_until > now:
            paused[webhook_id] = paused_until
        else:
            waiting[webhook_id].append(pk)
    if disabled:
        outcomes[CANCELLED] += cancel(disabled)
    for webhook_id, until in paused.items():
        outcomes[DEFERRED] += defer([pk for pk, hook, is_test, *_ in rows if hook == webhook_id and not is_test], until)

    webhooks = Webhooks()
    finished: SimpleQueue[Outgoing] = SimpleQueue()  # requests done, in the order they finished
    in_flight = 0
    busy: Counter[int] = Counter()  # requests in flight per webhook
    while waiting or in_flight:
        if deadline is not None and time.monotonic() > deadline and waiting:
            outcomes[HANDED_BACK] += hand_back([pk for pks in waiting.values() for pk in pks])
            waiting.clear()
        taken = take(waiting, busy, settings.WEBHOOKS_SEND_THREADS - in_flight)
        if taken:
            started = start(taken, webhooks)
            outcomes[SKIPPED] += len(taken) - len(started)
            for o in started:
                busy[o.delivery.webhook_id] += 1
                pool().submit(o.post, finished)
            in_flight += len(started)
        if not in_flight:
            continue
        done = gather(finished, in_flight)
        in_flight -= len(done)
        for o in done:
            busy[o.delivery.webhook_id] -= 1
        outcomes += record(done)
        # An endpoint that stopped answering is paused: what it is still owed waits.
        for o in done:
            webhook = o.delivery.webhook
            if not webhook.enabled and webhook.pk in waiting:
                # Disabled (410 Gone, the failing window, or its owner, as read again within a
                # second): what this job still holds for it is not sent.
                outcomes[CANCELLED] += cancel(list(waiting.pop(webhook.pk)))
            if o.unanswered and not o.delivery.is_test and webhook.is_paused and webhook.pk not in paused:
                paused[webhook.pk] = webhook.paused_until
                held = waiting.pop(webhook.pk, None)
                if held:
                    outcomes[DEFERRED] += defer(list(held), webhook.paused_until)
    return +outcomes


def gather(finished: SimpleQueue[Outgoing], in_flight: int) -> list[Outgoing]:
    """The next finished request, and those finishing right behind it: their outcomes
    then go to the database in one write instead of one each."""
    done = [finished.get()]
    until = time.monotonic() + GATHER_SECONDS
    while len(done) < in_flight:
        left = until - time.monotonic()
        if left <= 0:
            break
        try:
            done.append(finished.get(timeout=left))
        except Empty:
            break
    return done


class Webhooks:
    """The webhooks a job sends to, read again once they are FRESH_SECONDS old.

    Reading them once per round of requests cost more than the rest of the claim; an
    edit (new URL, rotated secret) still reaches the requests that start a moment later.
    """

    def __init__(self) -> None:
        self.known: dict[int, Webhook] = {}
        self.read_at = 0.0

    def __call__(self, ids: set[int]) -> dict[int, Webhook]:
        if time.monotonic() - self.read_at > WEBHOOKS_FRESH_SECONDS or not ids <= self.known.keys():
            self.known = sending_webhooks(ids | self.known.keys())
            self.read_at = time.monotonic()
        return self.known


def take(waiting: dict[int, deque[int]], busy: Counter[int], free: int) -> list[int]:
    """Up to `free` ids to start now, no endpoint over its limit, taken out of `waiting`."""
    per_endpoint = settings.WEBHOOKS_ENDPOINT_CONCURRENCY
    taken: list[int] = []
    for webhook_id, pks in list(waiting.items()):
        room = min(free - len(taken), per_endpoint - busy[webhook_id])
        while room > 0 and pks:
            taken.append(pks.popleft())
            room -= 1
        if not pks:
            del waiting[webhook_id]
        if len(taken) >= free:
            break
    return taken


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
def start(ids: list[int], webhooks: Webhooks | None = None) -> list[Outgoing]:
    """Claim `ids` and write their attempts, ready to send; those another job has are left out."""
    token, claimed = Delivery.objects.claim(ids, lease(), webhooks)
    now = timezone.now()
    outgoing = []
    for delivery in claimed:
        # The Basic auth of user:password@ goes in the headers here, not in outbound.post,
        # so that the delivery log shows it (masked) and a bearer token wins over it.
        url, basic = outbound.split_credentials(delivery.webhook.url)
        auth_headers = {"Authorization": basic} if basic else {}
        headers = {**auth_headers, **webhook_headers(delivery.webhook, delivery.webhook_message_id, delivery.body)}
        outgoing.append(Outgoing(delivery, url, headers, token, now))
    # Written before the network calls, so that a crash mid-send still leaves a trace.
    insert_attempts(outgoing)
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
    delivered = [o for o in outgoing if o.ok]
    failed = [o for o in outgoing if not o.ok]
    real_failures = [o for o in failed if not o.delivery.is_test]
    pause_until = now + timedelta(seconds=settings.WEBHOOKS_PAUSE)
    with transaction.atomic():
        complete_attempts(outgoing, now)
        for token in {o.token for o in delivered}:
            mine = [o.delivery.pk for o in delivered if o.token == token]
            outcomes[DELIVERED] += Delivery.objects.succeed(mine, token, now)
        ended = {o.delivery.pk: fail(o, now, pause_until) for o in failed}
        outcomes.update(ended.values())

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
        # The same webhook objects serve the next rounds (see Webhooks): keep them as the rows are.
        for o in outgoing:
            webhook = o.delivery.webhook
            if webhook.pk in recovered:
                webhook.failing_since = None
            elif webhook.pk in failing and webhook.failing_since is None:
                webhook.failing_since = now
            if webhook.pk in unanswered:
                webhook.paused_until = pause_until

    for o in real_failures:
        webhook = o.delivery.webhook
        if o.response is not None and o.response.status == 410:
            disable(webhook, f"Your app answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC, so deliveries stopped.")
    stopped = disable_long_failing({o.delivery.webhook_id for o in real_failures}, now)
    for o in real_failures:
        if o.delivery.webhook_id in stopped:
            o.delivery.webhook.enabled = False
    logger.info("round of %s: %s", len(outgoing), dict(outcomes))
    metrics.record_round(
        [
            metrics.Sent(
                outcome=DELIVERED if o.ok else ended[o.delivery.pk],
                status=None if o.response is None else o.response.status,
                seconds=(now - o.started_at).total_seconds() if o.response is None else o.response.duration_ms / 1000,
                accepted_at=None if o.delivery.is_test else o.delivery.created_at,
            )
            for o in outgoing
        ],
        now,
    )
    return outcomes


# Attempts are written with plain statements: the ORM's bulk_create and bulk_update
# (a CASE per field and row) cost more CPU than the requests themselves. The unique
# (delivery, number) pair finds the row again, so no id has to come back.
ATTEMPT_TABLE = Attempt._meta.db_table
ATTEMPT_COLUMNS = (
    "delivery_id", "number", "started_at", "request_url", "request_headers", "request_body",
    "response_headers", "response_body", "error",
)  # fmt: skip


def insert_attempts(outgoing: list[Outgoing]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            o.delivery.pk,
            o.delivery.attempt_count,
            adapt(o.started_at),
            mask_url(o.delivery.webhook.url),
            json.dumps(loggable_headers(o.headers, o.delivery.webhook)),
            o.body.decode(),
            "{}",
            "",
            "",
        )
        for o in outgoing
    ]
    bulk_insert.insert(Attempt, ATTEMPT_COLUMNS, rows)


def complete_attempts(outgoing: list[Outgoing], now: datetime) -> None:
    rows = []
    for o in outgoing:
        if o.response is not None:
            answer = o.response
            body = answer.text()[:STORED_RESPONSE_CHARS]
            outcome = (answer.status, json.dumps(answer.headers), body, answer.duration_ms, "")
        else:
            outcome = (None, "{}", "", int((now - o.started_at).total_seconds() * 1000), o.error)
        rows.append((*outcome, o.delivery.pk, o.delivery.attempt_count))
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
    webhook.enabled = False  # the job that holds this object sends nothing more to it
    if changed:
        logger.warning("webhook %s disabled: %s", webhook.pk, reason)
        tell_account_disabled(webhook, reason)
    return bool(changed)


def disable_long_failing(webhook_ids: set[int], now: datetime) -> set[int]:
    """Disable those of `webhook_ids` that have failed for the whole window; return their ids."""
    if not webhook_ids:
        return set()
    stopped = set()
    window = timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER)
    for webhook in Webhook.objects.filter(pk__in=webhook_ids, enabled=True, failing_since__lte=now - window):
        days = window.total_seconds() / 86400
        span = f"{days:g} days" if days >= 1 else f"{window.total_seconds():g} seconds"
        disable(
            webhook,
            f"Every delivery failed for {span} (since {webhook.failing_since:%Y-%m-%d %H:%M} UTC), "
            "so deliveries stopped. Check your app, then enable the webhook again.",
        )
        stopped.add(webhook.pk)
    return stopped
