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
    automation = make_automation(account, [wait(60), call("https://steps.automation.test/step")])
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


def test_the_delivery_queues_page_shows_which_accounts_have_work_waiting(
    admin_client, account, make_webhook, stranger, redis, django_capture_on_commit_callbacks
):
    from events import emit
    from events.fanout import NewEvent

    make_webhook(url="https://example.com/tx", events=("delivered",))
    make_webhook(url="https://example.com/mk", type="marketing", events=("delivered",))
    with django_capture_on_commit_callbacks(execute=True):
        emit(account, [NewEvent("delivered") for _ in range(3)])
        emit(account, [NewEvent("delivered", type="marketing") for _ in range(2)])
    page = admin_client.get(reverse("admin:webhooks_accountturns_changelist"))
    assert page.status_code == 200
    row = next(row for row in page.context["rows"] if row["pk"] == account.pk)
    assert (row["transactional"], row["marketing"], row["due"], row["sending"]) == (3, 2, 5, 0)
    assert stranger.account.pk not in [row["pk"] for row in page.context["rows"]]
    assert "Delivery queues" in page.content.decode()


@pytest.mark.parametrize("name", ["webhooks_webhook", "webhooks_delivery"])
def test_admin_search_matches_the_host_never_the_url_password(admin_client, admin_world, name):
    # admin_world's webhook is https://bob:hunter2@example.com/hook
    def found(term: str) -> int:
        return admin_client.get(reverse(f"admin:{name}_changelist"), {"q": term}).context["cl"].result_count

    for secret in ("hunter2", "hunter", "h", "bob", "bob:h", "2@example", "@", "/hook"):
        assert found(secret) == 0, secret
    assert found("example.com") == 1
    assert found("EXAMPLE") == 1
    assert found("CRM") == (1 if name == "webhooks_webhook" else 0)  # the description, for webhooks


def test_the_webhook_change_form_masks_custom_header_values(admin_client, make_webhook):
    webhook = make_webhook(headers=[{"key": "X-Api-Key", "value": "sk_live_receiver_key"}])
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert "sk_live_receiver_key" not in page
    assert "X-Api-Key: ••••••" in page
    # Saving the form keeps the headers as they were.
    admin_client.post(
        reverse("admin:webhooks_webhook_change", args=[webhook.pk]),
        {
            "description": "x",
            "type": "transactional",
            "subscriptions-TOTAL_FORMS": "0",
            "subscriptions-INITIAL_FORMS": "0",
        },
    )
    webhook.refresh_from_db()
    assert webhook.headers == [{"key": "X-Api-Key", "value": "sk_live_receiver_key"}]


def test_deleting_an_automation_in_the_admin_deletes_its_steps_webhooks(admin_client, admin_world):
    automation = admin_world["automation"]
    step_webhook = automation.steps.get(kind="webhook").webhook_id
    response = admin_client.post(reverse("admin:automations_automation_delete", args=[automation.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Delivery.objects.filter(webhook_id=step_webhook).exists()
    assert not Webhook.objects.filter(pk=step_webhook).exists()
    assert Webhook.objects.filter(pk=admin_world["webhook"].pk).exists()
