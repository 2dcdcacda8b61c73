"""The Django admin is a tool operators use: every list and change page works."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ApiKey
from automations.models import Contact, Run
from events import emit
from tests.automation_world import added_to_list, call, make_automation, wait
from webhooks.models import Attempt, Delivery, Webhook


@pytest.fixture
def admin_world(admin_client, account, owner, make_webhook):
    webhook = make_webhook(url="https://bob:hunter2@example.com/hook", description="CRM")
    delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={"event": "delivered"})
    attempt = Attempt.objects.create(delivery=delivery, number=1, request_url=webhook.masked_url, request_body="{}")
    key, _ = ApiKey.create_for(account, "CI")
    automation = make_automation(account, [wait(60), call("https://example.com/step")])
    emit(account, [added_to_list("jane@acme.test", 7, contact_id=4711)])
    return {
        "automation": automation,
        "contact": Contact.objects.get(),
        "run": Run.objects.get(),
        "account": account,
        "user": owner,
        "webhook": webhook,
        "delivery": delivery,
        "attempt": attempt,
        "apikey": key,
    }


@pytest.mark.parametrize(
    "name,model",
    [
        ("accounts_account", "account"),
        ("accounts_user", "user"),
        ("accounts_apikey", "apikey"),
        ("webhooks_webhook", "webhook"),
        ("webhooks_delivery", "delivery"),
        ("webhooks_attempt", "attempt"),
        ("automations_automation", "automation"),
        ("automations_contact", "contact"),
        ("automations_run", "run"),
    ],
)
def test_every_admin_list_search_and_change_page_works(admin_client, admin_world, name, model):
    obj = admin_world[model]
    assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{name}_changelist"), {"q": "acme"}).status_code == 200
    assert admin_client.get(reverse(f"admin:{name}_change", args=[obj.pk])).status_code == 200


def test_the_webhook_admin_lists_subscriptions_and_masks_the_password(admin_client, admin_world):
    page = admin_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert "delivered, hardBounce" in page
    assert "hunter2" not in page


def test_api_key_hashes_are_read_only(admin_client, admin_world):
    key = admin_world["apikey"]
    page = admin_client.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode()
    assert 'name="key_hash"' not in page and key.key_hash in page
    assert admin_client.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_the_rq_dashboard_is_for_staff(admin_client, client, redis):
    assert admin_client.get(reverse("admin:django_rq_home")).status_code == 200
    assert client.get(reverse("admin:django_rq_home")).status_code == 302


def test_deleting_an_automation_in_the_admin_deletes_its_steps_webhooks(admin_client, admin_world):
    automation = admin_world["automation"]
    step_webhook = automation.steps.get(kind="webhook").webhook_id
    response = admin_client.post(reverse("admin:automations_automation_delete", args=[automation.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Delivery.objects.filter(webhook_id=step_webhook).exists()
    assert not Webhook.objects.filter(pk=step_webhook).exists()
    assert Webhook.objects.filter(pk=admin_world["webhook"].pk).exists()
