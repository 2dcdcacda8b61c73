"""A marketer in headless Chromium creates an automation, adds and orders its steps, activates it."""

from __future__ import annotations

import pytest

from automations.models import Automation
from events import emit
from tests.automation_world import added_to_list
from tests.conftest import PASSWORD, ROOT

SCREENSHOTS = ROOT / "test-results"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_creates_and_activates_an_automation(
    browser, live_server, owner, receiver, worker_process, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    worker_process()
    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(15000)
    # Our own pages and files only: Chromium asks for /favicon.ico by itself.
    errors: list[str] = []
    page.on(
        "response",
        lambda response: (
            errors.append(response.url) if response.status >= 400 and "favicon" not in response.url else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    page.get_by_role("heading", name="Automations").wait_for()
    page.get_by_role("link", name="Create an automation").first.click()

    page.get_by_label("Name").fill("Welcome list 7")
    page.get_by_label("Event", exact=True).select_option(label="Added to a list")
    # The script shows the conditions that fit the trigger only.
    assert page.get_by_label("Added to the list (id)").is_visible()
    assert not page.get_by_label("Tag").is_visible()
    page.get_by_label("Added to the list (id)").fill("7")

    page.get_by_label("Kind of step").select_option(label="Wait")
    page.get_by_role("button", name="Add a step").click()
    page.get_by_role("heading", name="Step 1: Wait").wait_for()
    assert page.get_by_label("Name").input_value() == "Welcome list 7"  # kept across "Add a step"
    page.get_by_label("Wait", exact=True).fill("2")
    page.get_by_label("Unit").select_option(label="hours")

    page.get_by_label("Kind of step").select_option(label="Call a webhook")
    page.get_by_role("button", name="Add a step").click()
    page.get_by_role("heading", name="Step 2: Call a webhook").wait_for()
    page.get_by_label("URL").fill(receiver.url + "/welcome")
    page.get_by_label("Include details of the contact who triggered the event").check()

    # The call goes first: no waiting before it.
    page.get_by_role("button", name="Move step 2 up").click()
    page.get_by_role("heading", name="Step 1: Call a webhook").wait_for()
    assert page.get_by_label("URL").input_value() == receiver.url + "/welcome"
    assert page.get_by_label("Include details of the contact who triggered the event").is_checked()

    page.get_by_role("button", name="Activate").click()
    page.get_by_text("saved and activated").wait_for()
    page.screenshot(path=SCREENSHOTS / "automation-editor.png", full_page=True)
    automation = Automation.objects.get()
    assert (automation.name, automation.status, automation.condition_value) == ("Welcome list 7", "active", "7")
    assert [(s.kind, s.wait_seconds) for s in automation.steps.all()] == [("webhook", None), ("wait", 7200)]
    assert page.get_by_role("button", name="Pause").is_visible()

    page.get_by_role("button", name="Send a test").click()
    page.get_by_text("HTTP 200").wait_for()
    [test] = receiver.wait_for(1)
    assert test.json()["email"] == "jane.doe@example.com"

    emit(owner.account, [added_to_list("jane@example.com", 7)])
    [_, call] = receiver.wait_for(2)
    assert call.path == "/welcome" and call.json()["email"] == "jane@example.com"

    page.goto(live_server.url + "/automations/")
    assert page.get_by_text("Marketing: Added to a list · list 7").is_visible()
    page.get_by_role("link", name="1 run").click()
    page.get_by_text("jane@example.com").wait_for()
    page.get_by_role("link", name="Step 1:").click()
    page.get_by_role("heading", name="Call a webhook").wait_for()
    page.screenshot(path=SCREENSHOTS / "automation-call.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + f"/automations/{automation.pk}/")
    page.screenshot(path=SCREENSHOTS / "automation-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows a phone
    assert not errors, errors
