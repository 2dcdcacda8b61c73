"""What a first-time marketer tripped on, going through every page in English and Italian at
desktop and phone width (2026-11-30): a dead link, wrong words, missing facts. Each test
failed before its fix."""

from __future__ import annotations

import re

from django.urls import reverse

from automations.models import Step
from events import emit
from tests.automation_world import added_to_list, call, make_automation, wait
from tests.conftest import record_attempt
from tests.test_italian import italian
from webhooks.models import Delivery


def step_webhook(account):
    automation = make_automation(account, [call("https://example.com/crm")])
    return automation, Step.objects.get(automation=automation).webhook


def main_nav(page: str) -> str:
    return re.search(r'<nav class="topnav".*?</nav>', page, re.S).group()


def test_a_steps_deliveries_page_sends_tests_from_its_automation_not_a_dead_link(owner_client, account):
    automation, webhook = step_webhook(account)
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert reverse("webhooks:send_test", args=[webhook.pk]) not in page
    assert owner_client.get(reverse("webhooks:send_test", args=[webhook.pk])).status_code == 404
    assert f'href="{reverse("automations:edit", args=[automation.pk])}">Send a test from its automation</a>' in page
    # The page belongs to Automations in the main navigation.
    assert f'href="{reverse("automations:list")}" aria-current="page"' in main_nav(page)
    assert 'aria-current="page">Webhooks<' not in main_nav(page)


def test_a_webhooks_own_deliveries_page_still_links_its_send_a_test(owner_client, make_webhook):
    webhook = make_webhook()
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert f'href="{reverse("webhooks:send_test", args=[webhook.pk])}">Send a test</a>' in page
    assert f'href="{reverse("webhooks:list")}" aria-current="page"' in main_nav(page)


def test_no_custom_headers_reads_nessuno_in_italian(owner, make_webhook):
    webhook = make_webhook()
    page = italian(owner).get(reverse("webhooks:detail", args=[webhook.pk])).content.decode()
    assert "<dt>Header personalizzati</dt><dd>Nessuno</dd>" in page
    assert "<dt>Autenticazione</dt><dd>Nessuna</dd>" in page


def test_an_event_that_started_a_run_does_not_say_nothing_was_sent(owner_client, account):
    automation = make_automation(account, [wait(3600)], name="Welcome")
    emit(account, [added_to_list("anna@example.com", 7)])
    page = owner_client.get(reverse("events:list")).content.decode()
    assert "nothing was sent" not in page
    assert f'Started the automation <a href="{reverse("automations:runs", args=[automation.pk])}">Welcome</a>.' in page


def test_an_event_nothing_wanted_still_says_so(owner_client, account):
    emit(account, [added_to_list("anna@example.com", 7)])
    assert "No webhook subscribes to this event, so nothing was sent." in owner_client.get("/events/").content.decode()


def test_recent_tests_are_named_as_the_event_list_names_them(owner_client, make_webhook):
    webhook = make_webhook(type="marketing", events=("spam",))
    Delivery.objects.create(webhook=webhook, event="spam", payload={}, is_test=True)
    page = owner_client.get(reverse("webhooks:send_test", args=[webhook.pk])).content.decode()
    assert re.search(r">Marked as spam</a> <code[^>]*>spam</code>", page)


def test_a_tests_answer_is_its_http_status_not_the_deliverys(owner, make_webhook):
    webhook = make_webhook()
    test = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, is_test=True, status="failed")
    record_attempt(test, status=500)
    page = italian(owner).get(reverse("webhooks:test_result", args=[webhook.pk, test.pk])).content.decode()
    assert "<dt>Stato HTTP</dt><dd>500</dd>" in page


def test_the_delivery_log_shows_whom_each_delivery_is_about(owner_client, make_webhook):
    webhook = make_webhook()
    Delivery.objects.create(webhook=webhook, event="delivered", payload={"event": "delivered", "email": "jane@ex.com"})
    Delivery.objects.create(webhook=webhook, event="delivered", payload=[{"email": "in-a-batch@ex.com"}])
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert '<span class="muted small contact">jane@ex.com</span>' in page
    assert "in-a-batch@ex.com" not in page


def test_no_automations_yet_offers_one_create_button(owner_client):
    page = owner_client.get(reverse("automations:list")).content.decode()
    assert page.count(f'href="{reverse("automations:add")}"') == 1


def test_simulate_an_events_example_is_in_italian(owner):
    page = italian(owner).get(reverse("events:list")).content.decode()
    assert "Il tuo ordine è stato spedito" in page and "Your order has shipped" not in page


def test_a_tests_outcome_on_the_card_says_tests_are_not_counted(owner_client, make_webhook):
    webhook = make_webhook()
    test = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, is_test=True, status="failed")
    record_attempt(test, status=500)
    url = reverse("webhooks:test_result", args=[webhook.pk, test.pk]) + "?fragment=short"
    card = owner_client.get(url).content.decode()
    assert "Test failed: your app answered HTTP 500." in card
    assert "Tests are not counted in the webhook's figures." in card
