"""The "webhook disabled" email links to the page it tells people to open, where SITE_URL says it is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from brevo_hooks.env import parse_site_url
from tests.automation_world import call, make_automation
from webhooks import disabled
from webhooks.models import Webhook
from webhooks.notices import tell_account_disabled

GONE = "Your app answered 410 Gone on 2026-01-26 09:02 UTC, so deliveries stopped."


def email_to(person) -> mail.EmailMessage:
    [message] = [message for message in mail.outbox if message.to == [person.email]]
    return message


def disable(webhook: Webhook) -> None:
    tell_account_disabled(Webhook.objects.select_related("account").get(pk=webhook.pk), GONE)


def test_the_email_links_to_the_webhooks_page_in_each_persons_language(settings, owner, teammate, make_webhook):
    settings.SITE_URL = "https://hooks.example.com"
    teammate.language = "it"
    teammate.save()
    webhook = make_webhook()

    disable(webhook)

    english, italian = email_to(owner).body, email_to(teammate).body
    link = f"https://hooks.example.com/webhooks/{webhook.pk}/"
    assert f"\nOpen the webhook: {link}\n\n— brevo-hooks\n" in english
    assert f"\nApri il webhook: {link}\n\n— brevo-hooks\n" in italian


def test_without_site_url_the_email_names_the_page_and_links_nowhere(settings, owner, make_webhook):
    # A worker has no request to take the host from: a guessed link could point at the wrong host.
    settings.SITE_URL = ""
    webhook = make_webhook()

    disable(webhook)

    body = email_to(owner).body
    assert "Webhooks > Actions > Enable" in body
    assert "http" not in body.replace(webhook.masked_url, "")
    assert body.endswith("to send what it missed.\n\n— brevo-hooks\n")


def test_a_call_steps_email_links_to_its_automation(settings, account, owner):
    settings.SITE_URL = "https://hooks.example.com"
    automation = make_automation(account, [call("https://app.example.com/hook")], name="Onboarding")
    step = automation.steps.get()

    disable(step.webhook)

    body = email_to(owner).body
    assert f"\nOpen the automation: https://hooks.example.com/automations/{automation.pk}/\n" in body
    assert "/webhooks/" not in body


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("https://hooks.example.com/", "https://hooks.example.com"),
        (" http://10.0.0.5:8000/hooks/ ", "http://10.0.0.5:8000/hooks"),
        ("", ""),
    ],
)
def test_site_url_is_kept_without_its_trailing_slash(raw, kept):
    assert parse_site_url(raw) == kept


@pytest.mark.parametrize(
    "raw", ["hooks.example.com", "ftp://hooks.example.com", "https://", "https://[::1", "https://a.b/?x=1"]
)
def test_a_site_url_that_is_not_an_address_stops_start_up_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
        parse_site_url(raw)


def test_the_reason_read_back_is_the_one_stored():
    # The fixed reason above is what the code stores for a 410, so the email explains it.
    assert disabled.gone_reason(datetime(2026, 1, 26, 9, 2, tzinfo=UTC)) == GONE
