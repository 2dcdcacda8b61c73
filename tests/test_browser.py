"""A marketer in headless Chromium: log in, add a webhook, Actions > Send a test, see the result."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, ROOT

SCREENSHOTS = ROOT / "test-results"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_adds_a_webhook_and_sends_a_test(browser, live_server, owner, receiver, worker_process):
    worker_process()
    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(15000)

    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Webhooks").wait_for()
    assert "0 / 40" in page.content()

    page.get_by_role("link", name="Add a new webhook").first.click()
    page.get_by_text("Marketing events (marketing emails and contacts)", exact=True).click()
    assert page.get_by_text("Added to a list").is_visible()
    assert not page.get_by_text("First opening").is_visible()
    page.get_by_text("Transactional events", exact=True).click()
    assert page.get_by_text("First opening").is_visible()
    assert not page.get_by_text("Added to a list").is_visible()

    page.get_by_label("URL").fill(receiver.url + "/brevo")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Select at least one event.").is_visible()  # shown next to the events

    page.get_by_role("checkbox", name="Delivered").check()
    page.get_by_role("checkbox", name="Hard bounced").check()
    page.get_by_label("Description").fill("Order notifications")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Order notifications").wait_for()
    assert "1 / 40" in page.content()
    page.screenshot(path=SCREENSHOTS / "webhooks-list.png", full_page=True)

    page.get_by_text("Actions").click()
    page.get_by_role("menuitem", name="Send a test").click()
    page.get_by_label("Event").select_option(label="Hard bounced")
    page.get_by_role("button", name="Send a test").click()
    page.get_by_text("HTTP 200").wait_for()
    assert "Time taken" in page.content()
    page.screenshot(path=SCREENSHOTS / "send-a-test.png", full_page=True)

    [request] = receiver.wait_for(1)
    assert request.path == "/brevo" and request.json()["event"] == "hard_bounce"

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/webhooks/")
    page.screenshot(path=SCREENSHOTS / "webhooks-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows a phone
