"""Telling an account about its webhooks, by email, in each person's language."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from brevo_hooks.logs import log_ids
from webhooks.disabled import explain
from webhooks.models import Webhook

logger = logging.getLogger(__name__)


def disabled_email(webhook: Webhook, reason: str) -> tuple[str, str]:
    """The subject and body of the "webhook disabled" email, in the active language."""
    subject = _("Your webhook %(url)s was disabled") % {"url": webhook.masked_url}
    described = f" ({webhook.description})" if webhook.description else ""
    body = _(
        "Hello,\n\nWe stopped sending events to your webhook %(url)s%(description)s.\n\n"
        "Why: %(reason)s\n\n"
        "What was not delivered is kept in the webhook's delivery log. Once your app answers again, "
        'enable the webhook from Webhooks > Actions > Enable, then use "Retry all failed since…" '
        "on its Deliveries page to send what it missed.\n\n— brevo-hooks\n"
    ) % {"url": webhook.masked_url, "description": described, "reason": explain(reason, webhook.account.time_zone).what}
    return subject, body


def tell_account_disabled(webhook: Webhook, reason: str) -> None:
    """Email the people of the webhook's account that it was disabled, and why."""
    people = list(webhook.account.users.filter(is_active=True).values_list("email", "language"))
    if not people:
        return
    by_language: dict[str, list[str]] = {}
    for email, language in people:
        by_language.setdefault(language or settings.LANGUAGE_CODE, []).append(email)
    for language, recipients in by_language.items():
        # The language each person chose with the page's switcher (English by default).
        with translation.override(language):
            subject, body = disabled_email(webhook, reason)
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
