"""The README's screenshots (docs/*.png), taken with headless Chromium: `make screenshots`.

Each page in English and Italian, at 1100 px and at a phone's 390 px, named `<page>[-it][-phone].png`;
axe-core runs on each, and any serious or critical violation fails the run. Skipped in the normal
test run; SCREENSHOTS=docs (set by `make screenshots`) takes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from automations.models import Automation
from events import emit
from tests.automation_world import added_to_list, call, make_automation, updated, wait
from tests.browser_helpers import PHONE, new_context, serious_violations
from tests.conftest import ROOT, record_attempt, wait_until
from tests.receiver import Receiver, Reply
from webhooks.models import Attempt, Delivery

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "docs", reason="`make screenshots` takes them"),
]
DOCS = ROOT / "docs"
WIDE = {"width": 1100, "height": 900}
SIZES = {"": WIDE, "-phone": PHONE}
LANGUAGES = {"en": "", "it": "-it"}


def attempts(delivery, answers, start) -> None:
    """History, counted in the hourly figures of the cards and the chart as the engine counts it."""
    for number, answer in enumerate(answers, start=1):
        record_attempt(delivery, number, status=answer, started_at=start + timedelta(minutes=number), duration_ms=38)


@pytest.fixture
def failing_app() -> Iterator[Receiver]:
    """The CRM endpoint of an automation, answering 503 for now."""
    server = Receiver().start()
    server.reply = Reply(status=503, body=b"Service Unavailable")
    yield server
    server.stop()


@pytest.fixture
def demo(account, owner, make_webhook, receiver, failing_app, settings, redis):
    """A believable account: webhooks in every state, a day of traffic, a failing endpoint, automations.

    After `redis`, which flushes the test database: the jobs its events queue must stay there.
    """
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24", "198.51.100.16/28"]
    account.name, account.time_zone = "Acme", "Europe/Rome"
    account.save()
    # First, so that their events go to no webhook but the automations' own.
    made = automations(account, failing_app)
    now = timezone.now()
    crm = make_webhook(
        url=receiver.url.replace("127.0.0.1", "localhost") + "/brevo",
        description="CRM sync",
        events=("delivered", "hardBounce", "click"),
    )
    shop = make_webhook(
        url="https://shop.example.com/hooks/brevo", description="Order emails",
        events=("sent", "delivered", "softBounce", "hardBounce"), failing_since=now - timedelta(minutes=48),
    )  # fmt: skip
    make_webhook(
        url="https://lists.example.com/brevo", type="marketing", description="Newsletter list sync",
        events=("listAddition", "contactUpdated", "unsubscribed"),
    )  # fmt: skip
    make_webhook(
        url="https://legacy.example.com/in", description="Old analytics", events=("opened",),
        enabled=False, disabled_reason="Disabled by a user.",
    )  # fmt: skip
    for hour in range(24):
        for n in range(3 + (hour * 7) % 9):
            moment = now - timedelta(hours=hour, minutes=5 + n)
            delivery = Delivery.objects.create(webhook=crm, event="delivered", payload={}, status="succeeded",
                                               attempt_count=1, created_at=moment, completed_at=moment)  # fmt: skip
            answers = [503, 200] if (hour + n) % 11 == 0 else [200]
            attempts(delivery, answers, now - timedelta(hours=hour, minutes=5 + n))
    for n in range(4):
        delivery = Delivery.objects.create(
            webhook=shop, event="delivered", payload={"email": f"customer{n + 1}@example.com"}, status="pending",
            attempt_count=2,
            next_attempt_at=now + timedelta(minutes=25 - n),
        )  # fmt: skip
        attempts(delivery, [500, 500], now - timedelta(minutes=40 - n))
    return {"crm": crm, "shop": shop, **made}


def automations(account, failing_app: Receiver) -> dict[str, Automation]:
    """A welcome series with contacts waiting, a CRM update whose call failed once, a draft."""
    crm = failing_app.url.replace("127.0.0.1", "localhost")
    welcome = make_automation(
        account, [wait(86400), call("https://crm.example.com/hooks/welcome", contact=True)], name="Welcome series",
        condition="listId", value="7",
    )  # fmt: skip
    sync = make_automation(
        account, [call(crm + "/contacts", contact=True, event=True)], name="Keep the CRM up to date",
        event="contactUpdated",
    )  # fmt: skip
    make_automation(
        account, [wait(3 * 86400), call("https://shop.example.com/hooks/winback")], name="Win back (draft)",
        event="unsubscribed", status="draft",
    )  # fmt: skip
    emit(account, [added_to_list(f"{name}@example.com", 7) for name in ("jane", "marco", "giulia")])
    emit(account, [updated("jane@example.com", [{"FIRSTNAME": "Jane"}])])
    return {"welcome": welcome, "sync": sync}


def add_webhook(page, base: str, demo: dict[str, Any]) -> None:
    """The form filled in: transactional in English; marketing in Italian, for Brevo's two headings."""
    page.goto(base + "/webhooks/new/")
    kind, events = ("transactional", ("delivered", "hardBounce"))
    if page.evaluate("document.documentElement.lang") == "it":
        kind, events = ("marketing", ("delivered", "listAddition", "contactUpdated"))
        page.locator("label:has(input[name=type][value=marketing])").click()
    page.locator("#id_url").fill("https://crm.example.com/webhooks/brevo")
    for event in events:
        page.locator(f"input[name={kind}_events][value={event}]").check()
    page.locator("#id_description").fill("Order notifications for our CRM")
    page.evaluate("document.activeElement.blur()")  # the picture without the focus ring


def send_a_test(page, base: str, demo: dict[str, Any]) -> None:
    page.goto(base + f"/webhooks/{demo['crm'].pk}/test/")
    page.locator("#id_event").select_option("hardBounce")
    page.locator(".test-form button[type=submit]").click()
    page.locator('#test-result [data-done="true"]').wait_for()


def visit(path: Callable[[dict[str, Any]], str]) -> Callable[[Any, str, dict[str, Any]], None]:
    return lambda page, base, demo: page.goto(base + path(demo))


# The README's pages: name, how to get there, and whether the picture is the whole page.
PAGES = [
    ("webhooks", visit(lambda demo: "/webhooks/"), False),
    ("add-webhook", add_webhook, True),
    ("send-a-test", send_a_test, False),
    ("deliveries", visit(lambda demo: f"/webhooks/{demo['shop'].pk}/deliveries/"), True),
    ("automations", visit(lambda demo: "/automations/"), False),
    ("automation-editor", visit(lambda demo: f"/automations/{demo['welcome'].pk}/"), True),
    ("automation-runs", visit(lambda demo: f"/automations/{demo['sync'].pk}/runs/"), False),
    ("settings", visit(lambda demo: "/settings/"), False),
]


def test_take_the_readmes_screenshots(browser, live_server, owner, demo, worker_process, receiver):
    worker_process()
    # The CRM automation's call has had its first answer, a 503, and waits for its retry.
    wait_until(lambda: Attempt.objects.filter(delivery__webhook__automation_step__automation=demo["sync"]).exists(), 60)
    found: list[str] = []
    for language, in_language in LANGUAGES.items():
        for size, viewport in SIZES.items():
            context = new_context(browser, live_server, owner, language=language, viewport=viewport)
            page = context.new_page()
            for name, go, whole in PAGES:
                go(page, live_server.url, demo)
                found += serious_violations(page)
                page.screenshot(path=DOCS / f"{name}{in_language}{size}.png", full_page=whole or bool(size))
            context.close()
    card_after_test(browser, live_server, owner, demo)
    assert not found, "\n".join(found)


def card_after_test(browser, live_server, owner, demo) -> None:
    """One webhook card, after its Test button."""
    context = new_context(browser, live_server, owner, viewport=WIDE)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    card = page.locator(f'[data-webhook-id="{demo["crm"].pk}"]')
    card.locator("form[data-inline-test] button").click()
    card.get_by_text("Test delivered").wait_for()
    card.screenshot(path=DOCS / "test-button.png")
    context.close()
