"""What a marketer trips over the first time: testing right away, the limit, the IP addresses, API keys,
wording, the chart; each test names the rough edge it smooths."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from tests.conftest import record_attempt, wait_until
from webhooks.models import Delivery, Webhook

LIST = reverse("webhooks:list")


def test_each_enabled_card_has_a_test_button_that_posts_the_first_event(owner_client, make_webhook):
    enabled = make_webhook(url="https://on.example/")
    disabled = make_webhook(url="https://off.example/", enabled=False)
    page = owner_client.get(LIST).content.decode()
    assert f'action="/webhooks/{enabled.pk}/test/" class="inline" data-inline-test' in page
    assert f'action="/webhooks/{disabled.pk}/test/"' not in page
    assert "js/webhooks_list.js" in page


def test_the_test_button_gets_json_and_then_the_result_inline(owner_client, make_webhook, receiver, run_worker):
    webhook = make_webhook(url=receiver.url + "/in", events=("hardBounce", "delivered"))
    response = owner_client.post(reverse("webhooks:send_test", args=[webhook.pk]), HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 202
    delivery = Delivery.objects.get(is_test=True)
    assert delivery.event == "delivered"  # the first subscribed event, in Brevo's order
    fragment_url = response.json()["fragment"]
    assert fragment_url == reverse("webhooks:test_result", args=[webhook.pk, delivery.pk]) + "?fragment=short"
    assert 'data-done="false"' in owner_client.get(fragment_url).content.decode()
    run_worker()
    fragment = owner_client.get(fragment_url).content.decode()
    assert 'data-done="true"' in fragment and "Test delivered: HTTP 200 in" in fragment and "<html" not in fragment


def test_a_test_that_cannot_be_sent_answers_json_with_the_reason(owner_client, make_webhook):
    webhook = make_webhook()
    webhook.subscriptions.all().delete()
    response = owner_client.post(reverse("webhooks:send_test", args=[webhook.pk]), HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 400 and response.json()["error"]


def test_a_stranger_gets_404_on_the_test_button_and_its_fragment(stranger_client, owner_client, make_webhook, redis):
    webhook = make_webhook()
    url = reverse("webhooks:send_test", args=[webhook.pk])
    assert stranger_client.post(url, HTTP_X_REQUESTED_WITH="fetch").status_code == 404
    fragment = owner_client.post(url, HTTP_X_REQUESTED_WITH="fetch").json()["fragment"]
    assert stranger_client.get(fragment).status_code == 404


def test_after_save_the_message_offers_send_a_test_now(owner_client, account):
    response = owner_client.post(
        reverse("webhooks:add"),
        {"type": "transactional", "url": "https://crm.example/in", "transactional_events": ["delivered"]},
        follow=True,
    )
    webhook = Webhook.objects.get(account=account)
    page = response.content.decode()
    assert f'Webhook https://crm.example/in added. <a href="/webhooks/{webhook.pk}/test/">Send a test now</a>' in page
    response = owner_client.post(
        reverse("webhooks:edit", args=[webhook.pk]),
        {"type": "transactional", "url": "https://crm.example/in", "transactional_events": ["click"]},
        follow=True,
    )
    assert "saved. <a href" in response.content.decode() and "Send a test now" in response.content.decode()


def test_the_send_test_page_disables_its_button_while_a_test_is_pending(owner_client, make_webhook, redis):
    webhook = make_webhook()
    response = owner_client.post(reverse("webhooks:send_test", args=[webhook.pk]), follow=True)
    page = response.content.decode()
    assert 'data-done="false"' in page and "js/test_result.js" in page


def test_at_the_limit_add_is_disabled_and_says_why_before_any_typing(owner_client, make_webhook, settings):
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 3
    for n in range(3):
        make_webhook(url=f"https://e{n}.example/")
    page = owner_client.get(LIST).content.decode()
    assert 'aria-disabled="true">Add a new webhook</span>' in page
    assert f'href="{reverse("webhooks:add")}"' not in page
    assert "You can create up to 3 webhooks. Delete one to add a new one." in page
    assert "You can create up to 3 webhooks" in owner_client.get(reverse("webhooks:add")).content.decode()


def test_many_webhooks_get_a_search_box_and_a_compact_view(owner_client, make_webhook):
    for n in range(7):
        make_webhook(url=f"https://shop{n}.example/hook", description=f"Shop {n}")
    make_webhook(url="https://crm.example/hook", description="CRM sync")
    page = owner_client.get(LIST).content.decode()
    assert 'type="search"' in page and "Compact view" in page
    found = owner_client.get(LIST, {"q": "crm"}).content.decode()
    assert "crm.example" in found and "shop1.example" not in found and "8 / 40" in found
    assert "No webhook matches this search." in owner_client.get(LIST, {"q": "nothing-like-it"}).content.decode()
    assert 'class="webhooks compact"' in owner_client.get(LIST, {"view": "compact"}).content.decode()
    assert 'class="webhooks compact"' in owner_client.get(LIST).content.decode()  # remembered
    assert 'class="webhooks compact"' not in owner_client.get(LIST, {"view": "cards"}).content.decode()


def test_a_few_webhooks_need_no_search_box(owner_client, make_webhook):
    make_webhook()
    assert 'type="search"' not in owner_client.get(LIST).content.decode()


def test_ip_addresses_to_allow_have_a_page_linked_from_the_header_and_the_url_help(owner_client, settings):
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24", "2001:db8::/48"]
    ip_url = reverse("webhooks:ip_addresses")
    assert f'href="{ip_url}">IP addresses to allow</a>' in owner_client.get(LIST).content.decode()
    assert f'href="{ip_url}">our IP addresses</a>' in owner_client.get(reverse("webhooks:add")).content.decode()
    page = owner_client.get(ip_url).content.decode()
    assert '<pre class="ranges" id="ip-ranges">203.0.113.0/24\n2001:db8::/48\n</pre>' in page
    assert 'data-copy="#ip-ranges"' in page and "/egress-ips.json" in page


def test_without_ranges_the_page_says_so_and_tells_the_operator_how(owner_client, settings):
    settings.WEBHOOKS_EGRESS_IP_RANGES = []
    page = owner_client.get(reverse("webhooks:ip_addresses")).content.decode()
    assert "has not published the addresses" in page
    assert "WEBHOOKS_EGRESS_IP_RANGES=" in page


def test_the_ip_addresses_page_needs_a_login(client):
    assert client.get(reverse("webhooks:ip_addresses")).status_code == 302


def test_a_new_api_key_page_survives_a_reload_without_making_a_second_key(owner_client, account):
    response = owner_client.post(reverse("api_keys"), {"name": "CRM"})
    assert response.status_code == 302
    first = owner_client.get(reverse("api_keys")).content.decode()
    assert "Your new API key: CRM" in first and 'data-copy="#new-key"' in first
    reload = owner_client.get(reverse("api_keys")).content.decode()
    assert "Your new API key" not in reload
    assert ApiKey.objects.filter(account=account).count() == 1


def test_revoke_asks_first(owner_client, account, api_key):
    key = ApiKey.objects.get(account=account)
    url = reverse("revoke_api_key", args=[key.pk])
    assert f'href="{url}"' in owner_client.get(reverse("api_keys")).content.decode()
    page = owner_client.get(url).content.decode()
    assert "Revoke this API key?" in page and "Tests" in page
    key.refresh_from_db()
    assert key.revoked_at is None
    assert owner_client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert owner_client.get(url).status_code == 302  # already revoked: back to the list


def test_a_stranger_gets_404_on_the_revoke_question(stranger_client, account, api_key):
    key = ApiKey.objects.get(account=account)
    assert stranger_client.get(reverse("revoke_api_key", args=[key.pk])).status_code == 404


def test_the_signing_secret_has_a_copy_button_once_revealed(owner_client, make_webhook):
    webhook = make_webhook()
    page = owner_client.get(reverse("webhooks:detail", args=[webhook.pk]) + "?reveal=1").content.decode()
    assert 'id="signing-secret"' in page and 'data-copy="#signing-secret"' in page


def test_the_bearer_token_help_shows_the_token_placeholder_as_text(owner_client):
    page = owner_client.get(reverse("webhooks:add")).content.decode()
    assert "Sent as Authorization: Bearer &lt;token&gt; with every request." in page


def test_counts_are_worded_with_plurals_and_times_with_their_zone(owner_client, make_webhook, account, emit_now):
    webhook = make_webhook()
    delivery = Delivery.objects.create(
        webhook=webhook, event="delivered", payload={}, status="failed", attempt_count=1, completed_at=timezone.now()
    )
    record_attempt(delivery, status=500)
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert "1 failed attempt\n" in page or "1 failed attempt " in page
    assert "1 failed attempts" not in page
    assert "busiest hour: " in page and " UTC, with 1 attempt" in page
    assert "Retry all failed since (UTC)" in page
    from events.fanout import NewEvent

    response = owner_client.post(
        "/events/simulate/", {"event": "transactional:delivered", "email": "a@example.com", "data": ""}, follow=True
    )
    assert "1 webhook will receive it." in response.content.decode() and "(s)" not in response.content.decode()
    assert NewEvent  # the Events page words its own counts the same way


def test_the_chart_has_a_y_axis_and_a_table_of_its_figures(owner_client, make_webhook):
    webhook = make_webhook()
    for status in (200, 200, 200, 500, 500):
        delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, status="succeeded")
        record_attempt(delivery, status=status)
    response = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk]))
    page = response.content.decode()
    assert response.context["chart"]["ticks"] == [6, 3, 0]
    assert '<div class="y-axis muted small" aria-hidden="true"><span>6</span><span>3</span><span>0</span></div>' in page
    assert '<table class="table hours">' in page and page.count('<th scope="row">') == 24
    assert "<td>3</td><td>2</td>" in page


def test_the_since_field_takes_one_format_in_any_browser_and_the_italian_one_too(owner, make_webhook):
    webhook = make_webhook()
    old = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, status="failed")
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    recent = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, status="failed")
    client = Client(HTTP_ACCEPT_LANGUAGE="it")
    client.force_login(owner)
    page = client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert 'type="text" name="since"' in page and 'placeholder="2026-01-31 09:30"' in page
    since = timezone.localtime(timezone.now() - timedelta(days=1)).strftime("%d/%m/%Y %H:%M")
    client.post(reverse("webhooks:retry_failed", args=[webhook.pk]), {"since": since})
    assert Delivery.objects.get(pk=recent.pk).status == "pending"
    assert Delivery.objects.get(pk=old.pk).status == "failed"


def test_the_since_field_reads_the_accounts_time_zone(owner_client, account, make_webhook):
    account.time_zone = "Asia/Tokyo"  # UTC+9
    account.save()
    webhook = make_webhook()
    delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, status="failed")
    tokyo_now = timezone.now() + timedelta(hours=9)
    since = (tokyo_now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")  # five minutes ago, in Tokyo
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert "Retry all failed since (Asia/Tokyo)" in page
    owner_client.post(reverse("webhooks:retry_failed", args=[webhook.pk]), {"since": since})
    wait_until(lambda: Delivery.objects.get(pk=delivery.pk).status == "pending", timeout=1)


def test_every_page_has_a_favicon(owner_client, client):
    assert 'rel="icon" href="/static/favicon.svg"' in owner_client.get(LIST).content.decode()
    response = client.get("/favicon.ico", HTTP_HOST="127.0.0.1")
    assert response.status_code == 301 and response.url.endswith("favicon.svg")
