"""The Webhooks page in Chromium: the Actions menus, the card's Test button, the language switch,
and the Events page updating its statuses without a reload."""

from __future__ import annotations

import pytest

from events.fanout import NewEvent
from tests.browser_helpers import new_context
from webhooks.models import Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1100, "height": 900}


def open_menus(page) -> int:
    return page.evaluate("document.querySelectorAll('details.actions[open]').length")


def test_actions_menus_open_one_at_a_time_close_on_escape_and_outside_and_move_with_arrows(
    browser, live_server, owner, make_webhook
):
    # The disabled webhook is drawn above another card: its menu must still be on top.
    make_webhook(url="https://second.example/")
    disabled = make_webhook(url="https://first.example/", enabled=False, disabled_reason="Disabled by a user.")
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    summaries = page.locator("details.actions summary")
    first_card = page.locator(f'[data-webhook-id="{disabled.pk}"]')
    first_card.locator("summary").click()
    deliveries = first_card.get_by_role("menuitem", name="Deliveries")
    box = deliveries.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).textContent.trim()",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == "Deliveries"
    deliveries.click()
    page.wait_for_url(f"**/webhooks/{disabled.pk}/deliveries/")

    page.goto(live_server.url + "/webhooks/")
    summaries.nth(1).click()
    summaries.nth(0).click()
    assert open_menus(page) == 1  # opening one closes the other
    assert page.locator("details.actions").nth(0).get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert open_menus(page) == 0
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"  # focus goes back to the button
    summaries.nth(0).click()
    page.locator("h1").click()  # a click elsewhere
    assert open_menus(page) == 0

    summaries.nth(0).focus()
    page.keyboard.press("Enter")
    # Focus moves to the first item (the browser opens <details> a moment after the key).
    page.wait_for_function("document.activeElement.textContent.trim() === 'Edit'")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Send a test"
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Delete"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Edit"  # wraps around
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Delete"
    assert summaries.nth(0).get_attribute("aria-expanded") == "true"
    context.close()


def test_the_cards_test_button_is_disabled_while_pending_then_shows_the_result(
    browser, live_server, owner, make_webhook, receiver, worker_process
):
    receiver.reply.delay = 1.5  # long enough to see the pending state
    worker_process()
    webhook = make_webhook(url=receiver.url + "/card", events=("hardBounce",))
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    card = page.locator(f'[data-webhook-id="{webhook.pk}"]')
    button = card.locator("form[data-inline-test] button")
    button.click()
    page.wait_for_function("b => b.disabled", arg=button.element_handle())
    assert button.inner_text() == "Testing…"
    card.get_by_text("Test delivered: HTTP 200").wait_for()
    assert button.is_enabled() and button.inner_text() == "Test"
    assert page.url.endswith("/webhooks/")  # no page change: the result is in the card
    [request] = receiver.wait_for(1)
    assert request.json()["event"] == "hard_bounce"
    context.close()


def test_the_language_switch_changes_the_page_and_is_remembered(browser, live_server, owner):
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.get_by_role("button", name="IT Italiano").click()
    page.get_by_role("heading", name="Webhook", exact=True).wait_for()
    assert page.evaluate("document.documentElement.lang") == "it"
    assert page.get_by_role("link", name="Aggiungi un nuovo webhook").is_visible()
    page.goto(live_server.url + "/events/")
    assert page.get_by_role("heading", name="Eventi", exact=True).is_visible()
    page.get_by_role("button", name="EN English").click()
    page.get_by_role("heading", name="Events", exact=True).wait_for()
    context.close()


def test_the_events_page_updates_statuses_without_a_reload(
    browser, live_server, owner, account, make_webhook, receiver, worker_process
):
    from events import emit

    make_webhook(url=receiver.url + "/events", events=("delivered",))
    emit(account, [NewEvent(name="delivered")])  # not handed to a worker: it stays pending
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/events/")
    page.locator(".delivery-mini .badge", has_text="Pending").wait_for()
    page.evaluate("window.notReloaded = true")
    worker_process()  # its sweeper finds the delivery and sends it
    page.locator(".delivery-mini .badge", has_text="Succeeded").wait_for(timeout=60000)
    assert page.evaluate("window.notReloaded") is True
    assert Delivery.objects.get().status == "succeeded"
    context.close()


def test_the_send_a_test_button_is_disabled_while_its_test_is_pending(
    browser, live_server, owner, make_webhook, receiver, worker_process
):
    receiver.reply.delay = 1.5
    worker_process()
    webhook = make_webhook(url=receiver.url + "/page")
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + f"/webhooks/{webhook.pk}/test/")
    page.get_by_role("button", name="Send a test").click()
    page.wait_for_url("**/test/*/")
    button = page.locator(".test-form button[type=submit]")
    page.wait_for_function("b => b.disabled", arg=button.element_handle())
    page.get_by_text("HTTP 200").wait_for()
    page.wait_for_function("b => !b.disabled", arg=button.element_handle())
    context.close()
