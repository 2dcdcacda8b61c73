from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from webhooks.models import Subscription, Webhook, mask_url


def test_an_account_can_have_40_webhooks_and_not_41(account, make_webhook):
    for n in range(40):
        make_webhook(url=f"https://example.com/{n}")
    extra = Webhook(account=account, url="https://example.com/41")
    with pytest.raises(ValidationError) as exc:
        extra.full_clean()
    assert exc.value.messages == ["You can create up to 40 webhooks. Delete one to add a new one."]


def test_the_limit_counts_marketing_and_transactional_together(account, make_webhook, settings):
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 2
    make_webhook(type="transactional")
    make_webhook(type="marketing", events=("opened",))
    with pytest.raises(ValidationError):
        Webhook(account=account, url="https://example.com/3", type="marketing").full_clean()


def test_the_limit_is_per_account(account, stranger, make_webhook, settings):
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 1
    make_webhook()
    Webhook(account=stranger.account, url="https://example.com/x").full_clean()


def test_editing_a_webhook_at_the_limit_is_allowed(account, make_webhook, settings):
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 1
    webhook = make_webhook()
    webhook.description = "renamed"
    webhook.full_clean()


def test_a_subscription_is_unique_per_webhook(make_webhook):
    webhook = make_webhook(events=("delivered",))
    with pytest.raises(IntegrityError):
        Subscription.objects.create(webhook=webhook, event="delivered")


def test_set_events_keeps_only_the_named_events(make_webhook):
    webhook = make_webhook(events=("delivered", "click"))
    webhook.set_events(["click", "opened"])
    assert webhook.event_names() == ["opened", "click"]


def test_aliases_are_stored_under_their_canonical_name(make_webhook):
    webhook = make_webhook(events=("request", "sent"))
    assert webhook.event_names() == ["sent"]


def test_events_must_be_valid_for_the_webhooks_type(make_webhook):
    webhook = make_webhook(type="marketing", events=("opened",))
    with pytest.raises(ValidationError) as exc:
        webhook.set_events(["opened", "uniqueOpened", "bogus"])
    assert exc.value.messages == ["Not a marketing event: uniqueOpened, bogus."]
    assert webhook.event_names() == ["opened"]  # nothing half-saved


def test_a_subscription_row_is_validated_against_the_type(make_webhook):
    webhook = make_webhook(type="transactional")
    with pytest.raises(ValidationError):
        Subscription(webhook=webhook, event="listAddition").full_clean()


def test_a_webhook_needs_at_least_one_event(make_webhook):
    webhook = make_webhook()
    with pytest.raises(ValidationError, match="Select at least one event"):
        webhook.set_events([])


def test_a_password_in_the_url_is_never_shown():
    assert mask_url("https://bob:s3cret@example.com:8443/hook?x=1") == "https://bob:••••••@example.com:8443/hook?x=1"
    assert mask_url("https://example.com/hook") == "https://example.com/hook"
