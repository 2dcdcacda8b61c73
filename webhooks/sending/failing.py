"""A webhook's run of failures: when it started, and when it ends in the webhook being disabled.

Any delivered attempt ends the run; the first failed one starts it. A run that lasts
WEBHOOKS_DISABLE_AFTER (5 days), or one 410 Gone, disables the webhook and tells its
account. Test sends do not count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings

from brevo_hooks.logs import log_ids
from webhooks import disabled
from webhooks.models import Webhook
from webhooks.notices import tell_account_disabled
from webhooks.sending.endpoints import Endpoints
from webhooks.sending.outcome import Outcome

logger = logging.getLogger(__name__)


def track(outcomes: Sequence[Outcome], endpoints: Endpoints, now: datetime) -> set[int]:
    """Start and end runs of failures; return the webhooks this round disabled."""
    real = [o for o in outcomes if not o.is_test]
    if all(o.ok for o in real) and not any(
        endpoints[o.webhook_id].webhook.failing_since for o in real if o.webhook_id in endpoints.known
    ):
        return set()  # the common round: everything delivered, nothing was failing
    failing = update_runs(real, endpoints, now)
    disabled = disable_gone(real, endpoints, now) | disable_long_failing(failing, now)
    for pk in disabled & endpoints.known.keys():
        endpoints[pk].webhook.enabled = False  # the job that holds it sends nothing more to it
    return disabled


def update_runs(real: list[Outcome], endpoints: Endpoints, now: datetime) -> set[int]:
    """End the runs of the webhooks delivered to, start those of the others that failed; return the failing."""
    delivered = {o.webhook_id for o in real if o.ok}
    failing = {o.webhook_id for o in real if not o.ok} - delivered
    mirror = {pk: endpoints[pk].webhook for pk in delivered | failing if pk in endpoints.known}
    # (The checks skip statements that would change nothing: this runs for every few requests.)
    recovered = {pk for pk in delivered & mirror.keys() if mirror[pk].failing_since}
    if recovered:
        Webhook.objects.filter(pk__in=recovered).update(failing_since=None)
    started = {pk for pk in failing & mirror.keys() if mirror[pk].failing_since is None}
    if started:
        Webhook.objects.filter(pk__in=started, failing_since__isnull=True).update(failing_since=now)
    for pk in recovered | started:
        mirror[pk].failing_since = None if pk in recovered else now
    return failing


def disable_gone(real: list[Outcome], endpoints: Endpoints, now: datetime) -> set[int]:
    gone = {o.webhook_id for o in real if o.gone} & endpoints.known.keys()
    for pk in gone:
        disable(endpoints[pk].webhook, disabled.gone_reason(now))
    return gone


def disable_long_failing(failing: set[int], now: datetime) -> set[int]:
    """Disable those of `failing` that have failed for the whole window; return their ids."""
    if not failing:
        return set()
    window = timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER)
    stopped = set()
    for webhook in Webhook.objects.filter(pk__in=failing, enabled=True, failing_since__lte=now - window):
        disable(webhook, disabled.long_failing_reason(webhook.failing_since, settings.WEBHOOKS_DISABLE_AFTER))
        stopped.add(webhook.pk)
    return stopped


def disable(webhook: Webhook, reason: str) -> bool:
    """Disable `webhook` with `reason` and tell its account; False if it already was."""
    changed = Webhook.objects.filter(pk=webhook.pk, enabled=True).update(enabled=False, disabled_reason=reason)
    webhook.enabled = False
    if changed:
        logger.warning("webhook %s disabled: %s", webhook.pk, reason, extra=log_ids(webhook=webhook))
        tell_account_disabled(webhook, reason)
    return bool(changed)
