"""A marketer in headless Chromium creates an automation, adds and orders its steps, activates it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from accounts.models import User
from automations import views as automation_views
from automations.models import Automation
from events import emit
from tests.automation_world import added_to_list, call, make_automation
from tests.browser_helpers import new_context
from tests.conftest import PASSWORD, ROOT, wait_until
from tests.receiver import Receiver
from webhooks.models import Delivery

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

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
    errors = failed_requests_and_script_errors(page)

    log_in_and_start_an_automation(page, live_server.url, owner)
    choose_the_trigger(page)
    add_a_wait_and_a_call(page, receiver.url)
    move_the_call_first(page, receiver.url)
    automation = activate(page)
    send_a_test_and_an_event(page, owner, receiver)
    follow_the_run_to_its_call(page, live_server.url)
    fits_a_phone(page, live_server.url, automation)
    assert not errors, errors


def failed_requests_and_script_errors(page: Page) -> list[str]:
    """A list that collects, from now on, our own answers of 400 or more and the page's script errors."""
    errors: list[str] = []

    def on_response(response: Response) -> None:
        # Our own pages and files only: Chromium asks for /favicon.ico by itself.
        if response.status >= 400 and "favicon" not in response.url:
            errors.append(response.url)

    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def log_in_and_start_an_automation(page: Page, base_url: str, owner: User) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    page.get_by_role("heading", name="Automations").wait_for()
    page.get_by_role("link", name="Create an automation").first.click()


def choose_the_trigger(page: Page) -> None:
    page.get_by_label("Name").fill("Welcome list 7")
    # Before an event is chosen no condition fits, and their heading does not dangle alone. The
    # deferred script hides it once the page is parsed, which a busy machine may not have done yet.
    intro = page.get_by_text("Condition (optional): start only when the event also has")
    intro.wait_for(state="hidden")
    page.get_by_label("Event", exact=True).select_option(label="Added to a list")
    assert intro.is_visible()
    # The script shows the conditions that fit the trigger only.
    assert page.get_by_label("Added to the list (id)").is_visible()
    assert not page.get_by_label("Tag").is_visible()
    page.get_by_label("Added to the list (id)").fill("7")


def add_a_wait_and_a_call(page: Page, receiver_url: str) -> None:
    page.get_by_label("Kind of step").select_option(label="Wait")
    page.get_by_role("button", name="Add a step").click()
    page.get_by_role("heading", name="Step 1: Wait").wait_for()
    assert page.get_by_label("Name").input_value() == "Welcome list 7"  # kept across "Add a step"
    page.get_by_label("Wait", exact=True).fill("2")
    page.get_by_label("Unit").select_option(label="hours")

    page.get_by_label("Kind of step").select_option(label="Call a webhook")
    page.get_by_role("button", name="Add a step").click()
    page.get_by_role("heading", name="Step 2: Call a webhook").wait_for()
    page.get_by_label("URL").fill(receiver_url + "/welcome")
    page.get_by_label("Include details of the contact who triggered the event").check()


def move_the_call_first(page: Page, receiver_url: str) -> None:
    """The call goes first: no waiting before it."""
    page.get_by_role("button", name="Move step 2 up").click()
    page.get_by_role("heading", name="Step 1: Call a webhook").wait_for()
    assert page.get_by_label("URL").input_value() == receiver_url + "/welcome"
    assert page.get_by_label("Include details of the contact who triggered the event").is_checked()


def activate(page: Page) -> Automation:
    page.get_by_role("button", name="Activate").click()
    page.get_by_text("saved and activated").wait_for()
    page.screenshot(path=SCREENSHOTS / "automation-editor.png", full_page=True)
    automation = Automation.objects.get()
    assert (automation.name, automation.status, automation.condition_value) == ("Welcome list 7", "active", "7")
    assert [(s.kind, s.wait_seconds) for s in automation.steps.all()] == [("webhook", None), ("wait", 7200)]
    assert page.get_by_role("button", name="Pause").is_visible()
    return automation


def send_a_test_and_an_event(page: Page, owner: User, receiver: Receiver) -> None:
    page.get_by_role("button", name="Send a test").click()
    page.get_by_text("HTTP 200").wait_for()
    [test] = receiver.wait_for(1)
    assert test.json()["email"] == "jane.doe@example.com"

    emit(owner.account, [added_to_list("jane@example.com", 7)])
    [_, call] = receiver.wait_for(2)
    assert call.path == "/welcome"
    assert call.json()["email"] == "jane@example.com"


def follow_the_run_to_its_call(page: Page, base_url: str) -> None:
    page.goto(base_url + "/automations/")
    assert page.get_by_text("Marketing: Added to a list · list 7").is_visible()
    page.get_by_role("link", name="1 run").click()
    page.get_by_text("jane@example.com").wait_for()
    page.get_by_role("link", name="Step 1:").click()
    page.get_by_role("heading", name="Call a webhook").wait_for()
    page.screenshot(path=SCREENSHOTS / "automation-call.png", full_page=True)


def fits_a_phone(page: Page, base_url: str, automation: Automation) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + f"/automations/{automation.pk}/")
    page.screenshot(path=SCREENSHOTS / "automation-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows a phone


def test_a_steps_send_a_test_button_is_disabled_while_its_test_is_pending(
    browser, live_server, owner, receiver, worker_process, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    receiver.reply.delay = 1.5  # long enough to see the pending state
    worker_process()
    automation = make_automation(owner.account, [call(receiver.url + "/step")])
    step = automation.steps.get()
    context = new_context(browser, live_server, owner, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + f"/automations/{automation.pk}/")
    page.get_by_role("button", name="Send a test").click()
    page.wait_for_url(f"**/steps/{step.pk}/test/*/")
    button = page.locator(".test-form button[type=submit]")
    page.wait_for_function("b => b.disabled", arg=button.element_handle())  # one click, one test
    page.get_by_text("HTTP 200").wait_for()
    page.wait_for_function("b => !b.disabled", arg=button.element_handle())
    assert len(receiver.requests) == 1
    context.close()


def test_a_double_click_on_a_steps_send_a_test_sends_one_test(
    browser, live_server, owner, receiver, worker_process, settings, monkeypatch
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    worker_process()
    automation = make_automation(owner.account, [call(receiver.url + "/step")])
    step = automation.steps.get()
    # The server holds the first test until the second click is in, as a slow answer would: the
    # page has not changed yet, and Chromium would send the form a second time.
    first, second, release = threading.Event(), threading.Event(), threading.Event()
    enqueue = automation_views.enqueue_step_test

    def slow_enqueue(step):
        (second if first.is_set() else first).set()
        release.wait(timeout=30)
        return enqueue(step)

    monkeypatch.setattr(automation_views, "enqueue_step_test", slow_enqueue)
    context = new_context(browser, live_server, owner, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + f"/automations/{automation.pk}/")
    button = page.get_by_role("button", name="Send a test")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.mouse.click(x, y)
    assert first.wait(timeout=30)
    page.mouse.click(x, y)  # the page has not changed yet: the same button is still under the pointer
    # A second submission reaches the server in milliseconds; give it seconds.
    sent_twice = second.wait(timeout=3)
    release.set()
    assert not sent_twice, "the second click sent a second test"

    page.wait_for_url(f"**/steps/{step.pk}/test/*/")
    page.get_by_text("HTTP 200").wait_for()
    tests = Delivery.objects.filter(webhook=step.webhook, is_test=True)
    # Every test queued has been sent before they are counted.
    wait_until(lambda: tests.exists() and not tests.filter(status="pending").exists(), timeout=30)
    assert tests.count() == 1
    assert len(receiver.requests) == 1
    context.close()
