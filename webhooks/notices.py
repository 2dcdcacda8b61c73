"""Telling an account about its webhooks, by email, in each person's language."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from brevo_hooks.logs import log_ids
from webhooks.disabled import explain
from webhooks.models import Webhook

if TYPE_CHECKING:
    from automations.models import Step

logger = logging.getLogger(__name__)


def disabled_email(webhook: Webhook, reason: str) -> tuple[str, str]:
    """The subject and body of the "webhook disabled" email, in the active language."""
    why = explain(reason, webhook.account.time_zone).what
    step = automation_step(webhook)
    if step is not None:
        return step_disabled_email(webhook, step, why)
    subject = _("Your webhook %(url)s was disabled") % {"url": webhook.masked_url}
    described = f" ({webhook.description})" if webhook.description else ""
    body = _(
        "Hello,\n\nWe stopped sending events to your webhook %(url)s%(description)s.\n\n"
        "Why: %(reason)s\n\n"
        "What was not delivered is kept in the webhook's delivery log. Once your app answers again, "
        'enable the webhook from Webhooks > Actions > Enable, then use "Retry all failed since…" '
        "on its Deliveries page to send what it missed.\n"
    ) % {"url": webhook.masked_url, "description": described, "reason": why}
    link = site_link("webhooks:detail", webhook.pk)
    return subject, signed(body, _("Open the webhook: %(link)s") % {"link": link} if link else "")


def site_link(name: str, pk: int) -> str:
    """The address of one of our pages for an email, or "" without SITE_URL (a worker has no request
    to take the host from, and a link to the wrong host is worse than none)."""
    return f"{settings.SITE_URL}{reverse(name, args=[pk])}" if settings.SITE_URL else ""


def signed(body: str, link_line: str) -> str:
    """An email's body, then the line with the link to its page if there is one, then our name."""
    return body + (f"\n{link_line}\n" if link_line else "") + "\n— brevo-hooks\n"


def automation_step(webhook: Webhook) -> Step | None:
    """The Call a webhook step that owns `webhook`, with its automation; None for the Webhooks page's."""
    if webhook.source != Webhook.Source.AUTOMATION:
        return None
    try:
        return webhook.automation_step
    except ObjectDoesNotExist:
        return None


def step_disabled_email(webhook: Webhook, step: Step, why: str) -> tuple[str, str]:
    """The email for the webhook of a Call a webhook step: saving its automation enables it again.

    Such a webhook is not on the Webhooks page, so "Actions > Enable" would send people nowhere.
    """
    values = {
        "automation": step.automation.name,
        "number": step.position + 1,
        "url": webhook.masked_url,
        "reason": why,
    }
    subject = _('The Call a webhook step %(number)d of your automation "%(automation)s" was disabled') % values
    body = (
        _(
            'Hello,\n\nWe stopped sending the calls of step %(number)d of your automation "%(automation)s" '
            "to %(url)s.\n\n"
            "Why: %(reason)s\n\n"
            "What was not delivered is kept in the step's delivery log. Once your app answers again, open the "
            "automation from Automations > %(automation)s and save it: saving the automation enables its "
            'Call a webhook steps again. Then use "Retry all failed since…" on the step\'s Deliveries page '
            "to send what it missed.\n"
        )
        % values
    )
    link = site_link("automations:edit", step.automation_id)
    return subject, signed(body, _("Open the automation: %(link)s") % {"link": link} if link else "")


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
