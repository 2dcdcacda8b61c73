"""Telling an account about its webhooks, by email."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from brevo_hooks.logs import log_ids
from webhooks.models import Webhook

logger = logging.getLogger(__name__)


def tell_account_disabled(webhook: Webhook, reason: str) -> None:
    """Email the people of the webhook's account that it was disabled, and why."""
    recipients = list(webhook.account.users.filter(is_active=True).values_list("email", flat=True))
    if not recipients:
        return
    subject = f"Your webhook {webhook.masked_url} was disabled"
    body = (
        f"Hello,\n\nWe stopped sending events to your webhook {webhook.masked_url}"
        f"{f' ({webhook.description})' if webhook.description else ''}.\n\n"
        f"Why: {reason}\n\n"
        "What was not delivered is kept in the webhook's delivery log. Once your app answers again, "
        'enable the webhook from Webhooks > Actions > Enable, then use "Retry all failed since…" '
        "on its Deliveries page to send what it missed.\n\n— brevo-hooks\n"
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        # The webhook is disabled either way, and the reason shows on the Webhooks page.
        logger.exception(
            "could not email account %s about webhook %s",
            webhook.account_id,
            webhook.pk,
            extra=log_ids(webhook=webhook),
        )
