"""The README's screenshots (docs/*.png), taken with headless Chromium: `make screenshots`.

Skipped in the normal test run; SCREENSHOTS=docs (set by `make screenshots`) takes them.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from events.fanout import NewEvent
from tests.browser_helpers import new_context
from tests.conftest import ROOT
from webhooks.models import Attempt, Delivery

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "docs", reason="`make screenshots` takes them"),
]
DOCS = ROOT / "docs"
WIDE = {"width": 1100, "height": 900}


def attempts(webhook, delivery, answers, start) -> None:
    for number, answer in enumerate(answers, start=1):
        Attempt.objects.create(
            delivery=delivery, number=number, started_at=start + timedelta(minutes=number),
            request_url=webhook.url, request_body="{}", response_status=answer, duration_ms=38,
        )  # fmt: skip


@pytest.fixture
def demo(account, owner, make_webhook, receiver, settings):
    """A believable account: webhooks in every state, a day of traffic, a failing endpoint."""
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24", "198.51.100.16/28"]
    account.name, account.time_zone = "Acme", "Europe/Rome"
    account.save()
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
            attempts(crm, delivery, answers, now - timedelta(hours=hour, minutes=5 + n))
    for n in range(4):
        delivery = Delivery.objects.create(
            webhook=shop, event="delivered", payload={}, status="pending", attempt_count=2,
            next_attempt_at=now + timedelta(minutes=25 - n),
        )  # fmt: skip
        attempts(shop, delivery, [500, 500], now - timedelta(minutes=40 - n))
    from events import emit

    emit(account, [NewEvent(name="hardBounce", data={"email": "jane@example.com"})])
    return {"crm": crm, "shop": shop}


def test_take_the_readmes_screenshots(browser, live_server, owner, demo, worker_process, receiver):
    worker_process()
    context = new_context(browser, live_server, owner, viewport=WIDE)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    page.screenshot(path=DOCS / "webhooks.png")

    page.goto(live_server.url + "/webhooks/new/")
    page.get_by_label("URL").fill("https://crm.example.com/webhooks/brevo")
    page.get_by_role("checkbox", name="Delivered").check()
    page.get_by_role("checkbox", name="Hard bounced").check()
    page.get_by_label("Description").fill("Order notifications for our CRM")
    page.screenshot(path=DOCS / "add-webhook.png", full_page=True)

    page.goto(live_server.url + f"/webhooks/{demo['crm'].pk}/test/")
    page.get_by_label("Event").select_option(label="Hard bounced")
    page.get_by_role("button", name="Send a test").click()
    page.get_by_text("HTTP 200").wait_for()
    page.screenshot(path=DOCS / "send-a-test.png")

    page.goto(live_server.url + f"/webhooks/{demo['shop'].pk}/deliveries/")
    page.screenshot(path=DOCS / "deliveries.png", full_page=True)
    page.goto(live_server.url + f"/webhooks/{demo['crm'].pk}/deliveries/")
    page.screenshot(path=DOCS / "chart.png", clip={"x": 0, "y": 0, "width": 1100, "height": 560})

    page.goto(live_server.url + "/webhooks/")
    card = page.locator(f'[data-webhook-id="{demo["crm"].pk}"]')
    card.locator("form[data-inline-test] button").click()
    card.get_by_text("Test delivered").wait_for()
    card.screenshot(path=DOCS / "test-button.png")

    page.goto(live_server.url + "/settings/")
    page.screenshot(path=DOCS / "settings.png")
    context.close()

    italian = new_context(browser, live_server, owner, language="it", viewport=WIDE)
    page = italian.new_page()
    page.goto(live_server.url + "/webhooks/")
    page.screenshot(path=DOCS / "webhooks-it.png")
    page.goto(live_server.url + "/webhooks/new/")
    page.get_by_text("Marketing", exact=True).click()
    page.screenshot(path=DOCS / "add-webhook-it.png", full_page=True)
    italian.close()

    phone = new_context(browser, live_server, owner)
    page = phone.new_page()
    page.goto(live_server.url + "/webhooks/")
    page.screenshot(path=DOCS / "webhooks-phone.png", full_page=True)
    phone.close()
