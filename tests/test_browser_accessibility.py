"""axe-core on every page, in English and Italian, at phone width; the keyboard alone adds a webhook and tests it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from events import emit
from events.fanout import NewEvent
from tests.automation_world import added_to_list, call, make_automation, wait
from tests.browser_helpers import PHONE, new_context, serious_violations, session_cookie, tab_to
from webhooks.models import AUTOMATION_EVENT, Attempt, Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(account, owner, make_webhook, settings):
    """An account with a webhook in each state, deliveries with attempts, an event and an API key."""
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24"]
    healthy = make_webhook(url="https://crm.example/brevo", description="CRM")
    failing = make_webhook(url="https://shop.example/hook", failing_since=timezone.now() - timedelta(hours=1))
    make_webhook(url="https://old.example/hook", enabled=False, disabled_reason="Disabled by a user.")
    make_webhook(url="https://m.example/", type="marketing", events=("listAddition", "opened"))
    [event] = emit(account, [NewEvent(name="delivered", data={"email": "jane@example.com"})])
    for webhook, statuses, status in ((healthy, [200], "succeeded"), (failing, [500, 500], "pending")):
        delivery = event.deliveries.get(webhook=webhook)
        # The pending one waits for its retry, so "Retry all failed since…" shows.
        later = timezone.now() + timedelta(minutes=10) if status == "pending" else None
        count = len(statuses)
        Delivery.objects.filter(pk=delivery.pk).update(status=status, attempt_count=count, next_attempt_at=later)
        for number, answer in enumerate(statuses, start=1):
            Attempt.objects.create(
                delivery=delivery, number=number, request_url=webhook.url, request_body="{}", response_status=answer,
                response_body="OK", duration_ms=40,
            )  # fmt: skip
    test = Delivery.objects.create(webhook=healthy, event="delivered", payload={"event": "delivered"}, is_test=True,
                                   status="succeeded", attempt_count=1, completed_at=timezone.now())  # fmt: skip
    Attempt.objects.create(delivery=test, number=1, request_url=healthy.url, request_body="{}", response_status=200)
    key, _ = ApiKey.create_for(account, "CRM")
    failed_delivery = event.deliveries.get(webhook=failing)
    automation, draft, retrying, step_test = automations(account)
    return {
        "log": f"/webhooks/{failing.pk}/deliveries/",
        "pages": [
            "/webhooks/", "/webhooks/?view=compact", "/webhooks/new/", f"/webhooks/{healthy.pk}/",
            f"/webhooks/{healthy.pk}/?reveal=1", f"/webhooks/{healthy.pk}/edit/", f"/webhooks/{healthy.pk}/delete/",
            f"/webhooks/{healthy.pk}/test/", f"/webhooks/{healthy.pk}/test/{test.pk}/",
            f"/webhooks/{failing.pk}/deliveries/", f"/webhooks/{failing.pk}/deliveries/{failed_delivery.pk}/",
            "/webhooks/ip-addresses/", "/events/", "/api-keys/", f"/api-keys/{key.pk}/revoke/", "/settings/",
            "/automations/", "/automations/new/", f"/automations/{automation.pk}/",
            f"/automations/{automation.pk}/runs/", f"/automations/{retrying.pk}/runs/",
            f"/automations/{draft.pk}/runs/", f"/automations/{draft.pk}/delete/",
            f"/automations/{automation.pk}/steps/{step_test.webhook.automation_step.pk}/test/{step_test.pk}/",
        ],
    }  # fmt: skip


def automations(account):
    """An active automation with a waiting run, one whose call failed once, a draft without runs, a step's test."""
    automation = make_automation(account, [wait(3600), call("https://example.com/welcome")], name="Welcome")
    draft = make_automation(account, [call("https://example.com/draft")], status="draft", name="Draft")
    emit(account, [added_to_list("jane@example.com", 7)])
    only_call = make_automation(account, [call("https://example.com/now")], name="At once")
    emit(account, [added_to_list("joe@example.com", 8)])
    [retrying] = Delivery.objects.filter(webhook__automation_step__automation=only_call, is_test=False)
    later = timezone.now() + timedelta(minutes=10)
    Delivery.objects.filter(pk=retrying.pk).update(status="pending", attempt_count=1, next_attempt_at=later)
    Attempt.objects.create(delivery=retrying, number=1, request_url="https://example.com/now", request_body="{}",
                           response_status=503)  # fmt: skip
    step = automation.steps.get(kind="webhook")
    test = Delivery.objects.create(webhook=step.webhook, event=AUTOMATION_EVENT, payload={}, is_test=True,
                                   status="succeeded", attempt_count=1, completed_at=timezone.now())  # fmt: skip
    Attempt.objects.create(
        delivery=test, number=1, request_url=step.webhook.url, request_body="{}", response_status=200
    )
    return automation, draft, only_call, test


@pytest.mark.parametrize("language", ["en", "it"])
def test_every_page_has_no_serious_accessibility_violation_at_phone_width(browser, live_server, owner, world, language):
    found = []
    context = new_context(browser, live_server, language=language)
    page = context.new_page()
    page.goto(live_server.url + "/login/")
    found += serious_violations(page)
    context.add_cookies([session_cookie(owner, live_server.url)])
    for path in world["pages"]:
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.lang") == language, path
        found += serious_violations(page)
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    # A page with an error message and one with an open menu.
    page.goto(live_server.url + "/webhooks/new/")
    page.locator("button[type=submit]", has_text="Save" if language == "en" else "Salva").click()
    page.locator(".field-error").first.wait_for()
    found += serious_violations(page)
    page.goto(live_server.url + "/webhooks/")
    page.locator("details.actions summary").first.click()
    found += serious_violations(page)
    # "Retry all failed since…" refused: the error under its field.
    page.goto(live_server.url + world["log"])
    page.locator("input[name=since]").fill("soon")
    page.locator("form.retry-since button").click()
    page.locator("#id_since_error").wait_for()
    found += serious_violations(page)
    context.close()
    assert not found, "\n".join(found)


def test_the_keyboard_alone_adds_a_webhook_and_sends_a_test(browser, live_server, owner, receiver, worker_process):
    worker_process()
    context = new_context(browser, live_server, owner, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")

    tab_to(page, "el.textContent.trim() === 'Add a new webhook'")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Add a new webhook").wait_for()
    tab_to(page, "el.id === 'id_url'")
    page.keyboard.type(receiver.url + "/keyboard")
    tab_to(page, "el.value === 'delivered'")
    page.keyboard.press("Space")
    tab_to(page, "el.type === 'submit' && el.textContent.trim() === 'Save'")
    page.keyboard.press("Enter")

    page.get_by_text("Send a test now").wait_for()
    tab_to(page, "el.closest('form[data-inline-test]') !== null")
    page.keyboard.press("Enter")
    page.get_by_text("Test delivered: HTTP 200").wait_for()
    [request] = receiver.wait_for(1)
    assert request.path == "/keyboard" and request.json()["event"] == "delivered"
    context.close()
