"""The 40-webhook limit counts Call a webhook steps, as Brevo counts webhooks made from an automation."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from automations.models import Automation
from tests.automation_world import call, make_automation, wait
from tests.test_automation_pages import editor_data
from webhooks.models import Webhook

HOOK = "https://example.com/hook"


@pytest.fixture(autouse=True)
def limit_of_three(settings):
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 3


def test_the_webhooks_counter_says_how_many_come_from_automations(owner_client, account, make_webhook):
    make_webhook()
    make_automation(account, [call(HOOK), wait(5), call(HOOK)])
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "3 / 3" in page and "2 of them from automations" in page
    assert "You can create up to 3 webhooks" in page


def test_steps_take_room_from_webhooks(owner_client, api_client, account):
    make_automation(account, [call(HOOK), call(HOOK), call(HOOK)])
    response = owner_client.post(
        reverse("webhooks:add"), {"type": "transactional", "url": HOOK, "transactional_events": ["delivered"]}
    )
    assert response.status_code == 400 and "You can create up to 3 webhooks" in response.content.decode()
    response = api_client.post(
        "/v3/webhooks", json.dumps({"url": HOOK, "events": ["delivered"]}), content_type="application/json"
    )
    assert response.status_code == 400
    assert Webhook.objects.count() == 3


def test_saving_an_automation_that_would_pass_the_limit_is_refused_next_to_the_steps(owner_client, make_webhook):
    make_webhook()
    make_webhook()
    data = editor_data(**{"steps-0-kind": "webhook", "steps-0-url": HOOK, "action": "activate"})
    response = owner_client.post(reverse("automations:add"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'id="steps_error" role="alert">You can create up to 3 webhooks', html)
    assert "This automation needs 2; the account has room for 1 more." in html
    assert not Automation.objects.exists() and Webhook.objects.count() == 2


def test_the_api_refuses_it_too_and_saves_nothing(api_client, make_webhook):
    make_webhook()
    steps = [{"type": "webhook", "url": HOOK}] * 3
    response = api_client.post(
        "/v3/automations",
        json.dumps({"name": "Too many", "trigger": {"event": "delivered"}, "steps": steps}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and "room for 2 more" in response.json()["message"]
    assert not Automation.objects.exists() and Webhook.objects.count() == 1


def test_a_full_account_may_still_save_an_automation_that_adds_no_webhook(owner_client, account):
    automation = make_automation(account, [call(HOOK), call(HOOK), call(HOOK)])
    first, second, third = automation.steps.all()
    data = editor_data(
        name="Renamed",
        **{"steps-count": "3", "steps-0-kind": "webhook", "steps-0-id": first.pk, "steps-0-url": HOOK,
           "steps-1-kind": "webhook", "steps-1-id": second.pk, "steps-1-url": HOOK,
           "steps-2-kind": "webhook", "steps-2-id": third.pk, "steps-2-url": HOOK},
    )  # fmt: skip
    assert owner_client.post(reverse("automations:edit", args=[automation.pk]), data).status_code == 302
    automation.refresh_from_db()
    assert automation.name == "Renamed" and Webhook.objects.count() == 3
