"""The circuit breaker: an endpoint that really stops answering is paused, then probed.

One unanswered attempt among many answered ones is a blip, not a reason to stop a
receiver's whole flow. The breaker opens (the endpoint is paused for WEBHOOKS_PAUSE,
Brevo's 10 minutes) when
- WEBHOOKS_BREAKER_STREAK attempts in a row got no answer at all (a timeout, a refused
  or reset connection), counted across workers in the webhook row; or
- more than WEBHOOKS_BREAKER_RATIO of the last WEBHOOKS_BREAKER_WINDOW attempts this
  worker made got none (once it has made half that many): an endpoint that answers one
  request in three is unresponsive too.
When the pause is over, one delivery goes first: the probe. An answer (any HTTP status:
the breaker is about responsiveness; retries handle the rest) closes the breaker and
everything resumes at once; no answer opens it again for another pause.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q

from brevo_hooks.logs import log_ids
from webhooks import fairqueue
from webhooks.models import Delivery, Webhook
from webhooks.sending.endpoints import Endpoint, Endpoints
from webhooks.sending.outcome import Outcome

logger = logging.getLogger(__name__)

# This worker's recent answered (True) / unanswered (False) attempts per webhook.
_recent: OrderedDict[int, deque[bool]] = OrderedDict()
MAX_TRACKED = 10_000


def recent(webhook_id: int) -> deque[bool]:
    window = _recent.get(webhook_id)
    if window is None:
        window = _recent[webhook_id] = deque(maxlen=settings.WEBHOOKS_BREAKER_WINDOW)
        if len(_recent) > MAX_TRACKED:
            _recent.popitem(last=False)
    _recent.move_to_end(webhook_id)
    return window


def observe(outcomes: Sequence[Outcome], endpoints: Endpoints, now: datetime) -> set[int]:
    """Count this round's answers per endpoint; return the webhooks it paused."""
    paused: set[int] = set()
    by_webhook: dict[int, list[Outcome]] = {}
    for outcome in outcomes:
        if not outcome.is_test:
            by_webhook.setdefault(outcome.webhook_id, []).append(outcome)
    for webhook_id, attempts in by_webhook.items():
        endpoint = endpoints.get(webhook_id)
        if endpoint is not None and _observe_one(endpoint, attempts, now):
            paused.add(webhook_id)
    return paused


def _observe_one(endpoint: Endpoint, attempts: list[Outcome], now: datetime) -> bool:
    window = recent(endpoint.pk)
    window.extend(o.answered for o in attempts)
    if endpoint.probing:
        endpoint.probing = False
        if attempts[0].answered:
            close(endpoint, now)
            return False
        return pause(endpoint, now, {"kind": "probe", "last": attempts[0].error})
    streak = count_streak(endpoint, attempts)
    unanswered = window.count(False)
    last = _last_error(attempts)
    if streak >= settings.WEBHOOKS_BREAKER_STREAK:
        cause = {"kind": "streak", "count": streak, "last": last}
    elif len(window) >= window.maxlen // 2 and unanswered > settings.WEBHOOKS_BREAKER_RATIO * len(window):
        cause = {"kind": "share", "count": unanswered, "of": len(window), "last": last}
    else:
        return False
    return not endpoint.paused(now) and pause(endpoint, now, cause)


def _last_error(attempts: list[Outcome]) -> str:
    return next((o.error for o in reversed(attempts) if not o.answered), "")


def count_streak(endpoint: Endpoint, attempts: list[Outcome]) -> int:
    """Update the webhook's count of unanswered attempts in a row; return it.

    Answers reset it to the unanswered attempts after the last answer. Without any, the
    count grows in the row itself, so that several workers count together. (A healthy
    endpoint costs no statement here: the count was already 0.)
    """
    webhook = endpoint.webhook
    after_last_answer = 0
    for outcome in attempts:
        after_last_answer = 0 if outcome.answered else after_last_answer + 1
    if after_last_answer < len(attempts):
        if webhook.unanswered_streak != after_last_answer:
            Webhook.objects.filter(pk=webhook.pk).update(unanswered_streak=after_last_answer)
            webhook.unanswered_streak = after_last_answer
        return after_last_answer
    Webhook.objects.filter(pk=webhook.pk).update(unanswered_streak=F("unanswered_streak") + after_last_answer)
    webhook.unanswered_streak = (
        Webhook.objects.filter(pk=webhook.pk).values_list("unanswered_streak", flat=True).first() or 0
    )
    return webhook.unanswered_streak


def pause(endpoint: Endpoint, now: datetime, cause: dict[str, object]) -> bool:
    """Open the breaker for WEBHOOKS_PAUSE, saying why; False if another worker already had."""
    until = now + timedelta(seconds=settings.WEBHOOKS_PAUSE)
    opened = Webhook.objects.filter(
        Q(paused_until__isnull=True) | Q(paused_until__lte=now) | Q(probe_until__isnull=False), pk=endpoint.pk
    ).update(paused_until=until, pause_cause=cause, probe_until=None, unanswered_streak=0)
    webhook = endpoint.webhook
    if opened:
        webhook.paused_until, webhook.pause_cause, webhook.probe_until = until, cause, None
        webhook.unanswered_streak = 0
        recent(endpoint.pk).clear()
        logger.warning(
            "webhook %s paused until %s: %s", endpoint.pk, until, webhook.pause_reason, extra=log_ids(webhook=webhook)
        )
    return bool(opened)


def take_probe(endpoint: Endpoint, now: datetime, lease: timedelta) -> bool:
    """Become the one sender of the probe of a pause that is over; False if another worker is."""
    until = now + lease
    won = (
        Webhook.objects.filter(pk=endpoint.pk, paused_until__isnull=False, paused_until__lte=now)
        .filter(Q(probe_until__isnull=True) | Q(probe_until__lt=now))
        .update(probe_until=until)
    )
    if won:
        endpoint.probing = True
        endpoint.webhook.probe_until = until
    else:
        fresh = Webhook.objects.filter(pk=endpoint.pk).values("paused_until", "probe_until").first() or {}
        endpoint.webhook.paused_until = fresh.get("paused_until")
        endpoint.webhook.probe_until = fresh.get("probe_until")
    return bool(won)


def close(endpoint: Endpoint, now: datetime) -> None:
    """The probe was answered: resume at once what waited behind it, here and at other workers."""
    webhook = endpoint.webhook
    held_until = max(filter(None, [webhook.probe_until, webhook.paused_until, now]))
    Webhook.objects.filter(pk=webhook.pk).update(
        paused_until=None, probe_until=None, pause_cause={}, unanswered_streak=0
    )
    webhook.paused_until = webhook.probe_until = None
    webhook.pause_cause = {}
    webhook.unanswered_streak = 0
    held = list(
        Delivery.objects.filter(
            webhook_id=webhook.pk,
            status=Delivery.Status.PENDING,
            next_attempt_at__gt=now,
            next_attempt_at__lte=held_until,
        ).values_list("pk", flat=True)
    )
    if held:
        Delivery.objects.filter(pk__in=held, status=Delivery.Status.PENDING).update(
            next_attempt_at=now, enqueued_at=now
        )
        routes = [fairqueue.Route(pk, webhook.pk, webhook.account_id, webhook.type) for pk in held]
        fairqueue.schedule([(route, now) for route in routes])
    logger.info("webhook %s answered its probe: resumed", webhook.pk)
