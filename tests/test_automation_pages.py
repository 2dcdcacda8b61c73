"""The Automations pages: list, editor (steps added, moved, removed), Save / Activate / Pause, runs, tests."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from automations import views
from automations.models import Automation, Run, Step
from events import emit
from tests.automation_world import added_to_list, call, make_automation, wait
from tests.conftest import record_attempt
from webhooks.models import AUTOMATION_EVENT, Delivery, Webhook

HOOK = "https://example.com/hook"


def editor_data(**overrides: object) -> dict[str, object]:
    """A valid POST of the editor: a trigger, a Wait and a Call a webhook."""
    data: dict[str, object] = {
        "name": "Welcome",
        "trigger": "marketing:listAddition",
        "list_id": "7",
        "steps-count": "2",
        "steps-0-kind": "wait",
        "steps-0-wait_amount": "2",
        "steps-0-wait_unit": "3600",
        "steps-1-kind": "webhook",
        "steps-1-url": HOOK,
        "steps-1-include_contact": "on",
        "action": "save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_automations_are_in_the_main_navigation(owner_client):
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert f'href="{reverse("automations:list")}"' in page and ">Automations<" in page


def test_the_list_shows_trigger_state_and_runs(owner_client, account):
    automation = make_automation(account, [wait(60)], condition="listId", value="7")
    emit(account, [added_to_list("jane@example.com", 7)])
    page = owner_client.get(reverse("automations:list")).content.decode()
    assert "Welcome" in page and "Marketing: Added to a list" in page and "list 7" in page
    assert "Active" in page and "1 run" in page and "1 in progress" in page
    assert reverse("automations:edit", args=[automation.pk]) in page


def test_create_an_automation_saves_it_as_a_draft_with_its_steps(owner_client, account):
    page = owner_client.get(reverse("automations:add"))
    assert page.status_code == 200 and "Create an automation" in page.content.decode()

    response = owner_client.post(reverse("automations:add"), editor_data())
    automation = Automation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("automations:edit", args=[automation.pk])
    assert (automation.account, automation.name, automation.status) == (account, "Welcome", "draft")
    assert (automation.trigger_type, automation.trigger_event, automation.condition, automation.condition_value) == (
        "marketing", "listAddition", "listId", "7"
    )  # fmt: skip
    wait_step, call_step = automation.steps.all()
    assert (wait_step.kind, wait_step.wait_seconds) == ("wait", 7200)
    assert (call_step.kind, call_step.include_contact, call_step.include_event) == ("webhook", True, False)
    assert call_step.webhook.url == HOOK and call_step.webhook.source == "automation"
    assert call_step.webhook.account == account and not call_step.webhook.subscriptions.exists()


def test_activate_and_pause(owner_client, account):
    owner_client.post(reverse("automations:add"), editor_data(action="activate"))
    automation = Automation.objects.get()
    assert automation.status == "active"
    page = owner_client.get(reverse("automations:edit", args=[automation.pk])).content.decode()
    assert 'value="pause"' in page and 'value="activate"' not in page

    step_ids = list(automation.steps.values_list("pk", flat=True))
    data = editor_data(action="pause", **{"steps-0-id": step_ids[0], "steps-1-id": step_ids[1]})
    owner_client.post(reverse("automations:edit", args=[automation.pk]), data)
    automation.refresh_from_db()
    assert automation.status == "paused"
    assert list(automation.steps.values_list("pk", flat=True)) == step_ids  # the same steps, kept


def test_an_automation_needs_a_step_before_it_is_activated(owner_client):
    response = owner_client.post(reverse("automations:add"), editor_data(action="activate", **{"steps-count": "0"}))
    assert response.status_code == 400
    assert "Add at least one step before activating the automation." in response.content.decode()
    assert not Automation.objects.exists()


def test_errors_show_next_to_their_fields_and_nothing_is_saved(owner_client):
    response = owner_client.post(
        reverse("automations:add"),
        editor_data(name="", list_id="seven", **{"steps-0-wait_amount": "", "steps-1-url": "ftp://x"}),
    )
    assert response.status_code == 400
    html = response.content.decode()
    for field, message in [
        ("id_name", "Give the automation a name."),
        ("id_list_id", "Enter the id of the list"),
        ("id_steps-0-wait_amount", "Enter how long to wait."),
        ("id_steps-1-url", "Enter a valid URL"),
    ]:
        assert re.search(rf'id="{field}_error">{re.escape(message)}', html), field
    assert not Automation.objects.exists() and not Webhook.objects.exists()


def test_a_condition_that_does_not_fit_the_trigger_is_refused(owner_client):
    response = owner_client.post(reverse("automations:add"), editor_data(list_id="", tag="welcome"))
    assert response.status_code == 400
    assert "A tag is not a condition of “Added to a list”." in response.content.decode()


def test_add_a_step_move_it_and_remove_one_without_saving(owner_client):
    url = reverse("automations:add")
    page = owner_client.post(url, editor_data(op="add", add_kind="wait", action=None, name="Typed"))
    html = page.content.decode()
    assert page.status_code == 200 and not Automation.objects.exists()
    assert 'name="steps-count" value="3"' in html and 'value="Typed"' in html
    assert "Step 3: Wait" in html and "Give the automation a name" not in html

    # Step 2 (the call) moves up: it becomes step 1, with what was typed in it.
    html = owner_client.post(url, editor_data(op="up-1", action=None)).content.decode()
    assert html.index("Step 1: Call a webhook") < html.index("Step 2: Wait")
    assert re.search(r'name="steps-0-url" value="https://example.com/hook"', html)
    assert re.search(r'name="steps-0-include_contact"[^>]* checked', html)

    html = owner_client.post(url, editor_data(op="remove-0", action=None)).content.decode()
    assert 'name="steps-count" value="1"' in html and ": Wait</h3>" not in html and "Step 1: Call a webhook" in html


def test_reordering_saved_steps_keeps_their_webhooks(owner_client, account):
    automation = make_automation(account, [call(HOOK), wait(60)])
    call_step, wait_step = automation.steps.all()
    data = editor_data(
        **{
            "steps-0-kind": "wait", "steps-0-id": wait_step.pk, "steps-0-wait_amount": "1", "steps-0-wait_unit": "60",
            "steps-1-kind": "webhook", "steps-1-id": call_step.pk, "steps-1-url": HOOK, "list_id": "",
        }
    )  # fmt: skip
    response = owner_client.post(reverse("automations:edit", args=[automation.pk]), data)
    assert response.status_code == 302
    assert [(s.pk, s.position) for s in automation.steps.all()] == [(wait_step.pk, 0), (call_step.pk, 1)]
    assert Step.objects.get(pk=call_step.pk).webhook_id == call_step.webhook_id


def test_a_removed_step_takes_its_webhook_along(owner_client, account):
    automation = make_automation(account, [call(HOOK), call(HOOK + "2")])
    _first, second = automation.steps.all()
    data = editor_data(
        **{"steps-count": "1", "steps-0-kind": "webhook", "steps-0-id": second.pk, "steps-0-url": HOOK + "2"}
    )
    owner_client.post(reverse("automations:edit", args=[automation.pk]), data)
    assert list(Webhook.objects.values_list("pk", flat=True)) == [second.webhook_id]
    assert list(automation.steps.values_list("pk", "position")) == [(second.pk, 0)]


def test_a_step_of_another_automation_cannot_be_taken_over(owner_client, account):
    mine = make_automation(account, [wait(60)], name="Mine")
    other = make_automation(account, [call(HOOK)], name="Other")
    data = editor_data(**{"steps-count": "1", "steps-0-kind": "webhook", "steps-0-id": other.steps.get().pk})
    response = owner_client.post(reverse("automations:edit", args=[mine.pk]), data)
    assert response.status_code == 400
    assert "This step is no longer part of the automation" in response.content.decode()
    assert other.steps.count() == 1 and mine.steps.get().kind == "wait"


def test_a_step_removed_by_another_request_meanwhile_is_a_409_next_to_its_form_and_nothing_is_saved(rf, owner, account):
    automation = make_automation(account, [wait(60), call(HOOK)], status="draft")
    wait_step, call_step = automation.steps.select_related("webhook")
    data = editor_data(
        name="Renamed", **{"steps-0-id": wait_step.pk, "steps-1-id": call_step.pk, "steps-1-url": HOOK + "/new"}
    )
    request = rf.post(reverse("automations:edit", args=[automation.pk]), data)
    request.user = owner
    editor = views.posted_editor(request.POST, automation, {wait_step.pk: wait_step, call_step.pk: call_step})
    assert editor.is_valid("activate")  # this request checked its steps against those it loaded...
    Step.objects.filter(pk=wait_step.pk).delete()  # ...and another request removed one before this one saved

    response = views.save_editor(request, automation, editor, "activate")
    assert response.status_code == 409
    page = response.content.decode()
    assert page.count("This step is no longer part of the automation: reload the page.") == 1
    assert editor.steps[0].errors["id"] and not editor.steps[1].errors  # next to the form of the removed step
    assert "Nothing was saved: a step of this automation was removed meanwhile" in page
    assert 'value="Renamed"' in page and HOOK + "/new" in page  # what was typed is still there
    automation.refresh_from_db()
    assert (automation.name, automation.status) == ("Welcome", "draft")
    assert list(automation.steps.all()) == [call_step]
    assert Webhook.objects.get(pk=call_step.webhook_id).url == HOOK


def test_the_bearer_token_is_kept_replaced_or_removed_and_never_shown(owner_client, account):
    automation = make_automation(account, [call(HOOK, auth_token="secret-token")])
    step = automation.steps.get()
    url = reverse("automations:edit", args=[automation.pk])
    html = owner_client.get(url).content.decode()
    assert "secret-token" not in html and "A token is set" in html

    base = editor_data(**{"steps-count": "1", "steps-0-kind": "webhook", "steps-0-id": step.pk, "steps-0-url": HOOK})
    owner_client.post(url, base)
    step.webhook.refresh_from_db()
    assert step.webhook.auth_token == "secret-token"
    owner_client.post(url, {**base, "steps-0-auth_token": "new-token"})
    step.webhook.refresh_from_db()
    assert step.webhook.auth_token == "new-token"
    owner_client.post(url, {**base, "steps-0-remove_auth_token": "on"})
    step.webhook.refresh_from_db()
    assert step.webhook.auth_token == ""


def test_a_password_in_the_url_is_masked_and_kept(owner_client, account):
    automation = make_automation(account, [call("https://ann:s3cret@example.com/hook")])
    step = automation.steps.get()
    url = reverse("automations:edit", args=[automation.pk])
    html = owner_client.get(url).content.decode()
    assert "s3cret" not in html and "https://ann:••••••@example.com/hook" in html
    data = editor_data(
        **{"steps-count": "1", "steps-0-kind": "webhook", "steps-0-id": step.pk,
           "steps-0-url": "https://ann:••••••@example.com/hook"}
    )  # fmt: skip
    assert owner_client.post(url, data).status_code == 302
    step.webhook.refresh_from_db()
    assert step.webhook.url == "https://ann:s3cret@example.com/hook"


def test_the_run_history_links_each_call_to_its_delivery_log_entry(owner_client, account):
    automation = make_automation(account, [call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 7)])
    delivery = Delivery.objects.get(event=AUTOMATION_EVENT)
    html = owner_client.get(reverse("automations:runs", args=[automation.pk])).content.decode()
    assert "jane@example.com" in html and "Finished" in html
    link = reverse("webhooks:delivery", args=[delivery.webhook_id, delivery.pk])
    assert link in html
    entry = owner_client.get(link)
    assert entry.status_code == 200 and "Call a webhook" in entry.content.decode()


def test_the_run_history_shows_when_a_waiting_contact_goes_on(owner_client, account):
    automation = make_automation(account, [wait(7200), call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 7)])
    html = owner_client.get(reverse("automations:runs", args=[automation.pk])).content.decode()
    assert "In progress" in html and "step 1 of 2: Wait 2 hours" in html and "goes on at" in html


def test_the_run_history_says_its_times_zone_and_that_a_failed_call_is_retrying(owner_client, account):
    account.time_zone = "Europe/Rome"
    account.save()
    automation = make_automation(account, [call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 7)])
    delivery = Delivery.objects.get(event=AUTOMATION_EVENT)
    Delivery.objects.filter(pk=delivery.pk).update(
        status="pending", attempt_count=1, next_attempt_at=timezone.now() + timedelta(minutes=10)
    )
    record_attempt(delivery, 1, status=503)
    html = owner_client.get(reverse("automations:runs", args=[automation.pk])).content.decode()
    started = timezone.localtime(Run.objects.get().started_at, ZoneInfo("Europe/Rome"))
    # "10:02 CET": the account's time, with its zone (on one line: a no-break space between them)
    assert started.strftime("%H:%M\u00a0") + started.tzname() in html
    assert "(UTC)" not in html and "Europe/Rome" in html
    assert "Retrying (attempt 1 failed: HTTP 503)" in html and "next try at" in html
    assert ">Pending<" not in html


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("active", "A run starts here each time the trigger happens to a contact (Marketing: Added to a list)"),
        ("paused", "It is paused: no contact enters it until it is activated again."),
        ("draft", "It is a draft: contacts start entering it once it is activated"),
    ],
)
def test_a_run_history_without_runs_says_how_one_starts(owner_client, account, status, says):
    automation = make_automation(account, [call(HOOK)], status=status)
    html = owner_client.get(reverse("automations:runs", args=[automation.pk])).content.decode()
    assert "No contact has entered this automation yet." in html and says in html
    # The next step, a click away: simulate the trigger event, or activate the automation.
    next_step = "Simulate an event" if status == "active" else "Open the editor to activate it"
    assert f">{next_step}</a>" in html


@pytest.mark.django_db(transaction=True)
def test_send_a_test_posts_a_sample_body_with_sample_contact_values(
    owner_client, account, receiver, run_worker, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    automation = make_automation(account, [call(receiver.url + "/test", contact=True, event=True)])
    step = automation.steps.get()
    html = owner_client.get(reverse("automations:edit", args=[automation.pk])).content.decode()
    test_url = reverse("automations:step_test", args=[automation.pk, step.pk])
    assert f'formaction="{test_url}"' in html

    response = owner_client.post(test_url)
    delivery = Delivery.objects.get(is_test=True)
    assert response["Location"] == reverse("automations:step_test_result", args=[automation.pk, step.pk, delivery.pk])
    run_worker()
    [request] = receiver.wait_for(1)
    body = request.json()
    assert body["contact_id"] == 4711 and body["email"] == "jane.doe@example.com"
    assert (body["step_id"], body["workflow_id"]) == (step.pk, automation.pk)
    assert body["attributes"] == {"FIRSTNAME": "Jane", "LASTNAME": "Doe"}
    assert body["event"]["event"] == "list_addition"
    result = owner_client.get(response["Location"]).content.decode()
    assert "HTTP 200" in result and "Call a webhook" in result
    assert not Delivery.objects.filter(is_test=False).exists()


def test_delete_an_automation_deletes_its_webhooks(owner_client, account):
    automation = make_automation(account, [call(HOOK), wait(5)])
    assert owner_client.get(reverse("automations:delete", args=[automation.pk])).status_code == 200
    response = owner_client.post(reverse("automations:delete", args=[automation.pk]))
    assert response.status_code == 302
    assert not Automation.objects.exists() and not Webhook.objects.exists() and not Step.objects.exists()


def stranger_urls(automation: Automation, delivery: Delivery) -> list[tuple[str, str]]:
    step = automation.steps.get(kind="webhook")
    return [
        ("get", reverse("automations:edit", args=[automation.pk])),
        ("post", reverse("automations:edit", args=[automation.pk])),
        ("get", reverse("automations:delete", args=[automation.pk])),
        ("post", reverse("automations:delete", args=[automation.pk])),
        ("get", reverse("automations:runs", args=[automation.pk])),
        ("post", reverse("automations:step_test", args=[automation.pk, step.pk])),
        ("get", reverse("automations:step_test_result", args=[automation.pk, step.pk, delivery.pk])),
        ("get", reverse("webhooks:deliveries", args=[step.webhook_id])),
        ("get", reverse("webhooks:detail", args=[step.webhook_id])),
        ("get", reverse("webhooks:delivery", args=[step.webhook_id, delivery.pk])),
    ]


@pytest.fixture
def owned(account):
    automation = make_automation(account, [call(HOOK), wait(60)])
    step = automation.steps.get(kind="webhook")
    delivery = Delivery.objects.create(webhook=step.webhook, event=AUTOMATION_EVENT, payload={}, is_test=True)
    return automation, delivery


def test_a_stranger_gets_404_on_every_automation_page(stranger_client, owned):
    automation, delivery = owned
    for method, url in stranger_urls(automation, delivery):
        response = getattr(stranger_client, method)(url, editor_data(name="Taken"))
        assert response.status_code == 404, (method, url)
    automation.refresh_from_db()
    assert automation.name == "Welcome" and automation.steps.count() == 2
    assert Delivery.objects.count() == 1
    page = stranger_client.get(reverse("automations:list")).content.decode()
    assert "Welcome" not in page and "No automations yet." in page


def test_the_teammate_is_not_a_stranger(teammate_client, owned):
    automation, delivery = owned
    for method, url in stranger_urls(automation, delivery):
        if method == "get" and "delete" not in url:
            assert teammate_client.get(url).status_code == 200, url


def test_the_webhook_of_a_step_is_not_on_the_webhooks_page_nor_editable_there(owner_client, owned):
    automation, _ = owned
    webhook = automation.steps.get(kind="webhook").webhook
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert HOOK not in page
    for method, name in [("get", "webhooks:edit"), ("post", "webhooks:edit"), ("post", "webhooks:toggle"),
                         ("get", "webhooks:send_test"), ("post", "webhooks:delete")]:  # fmt: skip
        assert getattr(owner_client, method)(reverse(name, args=[webhook.pk])).status_code == 404, name
    # Its signing secret and delivery log are reachable, from the automation's editor.
    editor = owner_client.get(reverse("automations:edit", args=[automation.pk])).content.decode()
    assert reverse("webhooks:detail", args=[webhook.pk]) in editor
    assert reverse("webhooks:deliveries", args=[webhook.pk]) in editor
    detail = owner_client.get(reverse("webhooks:detail", args=[webhook.pk]) + "?reveal=1").content.decode()
    assert webhook.signing_secret in detail and reverse("webhooks:edit", args=[webhook.pk]) not in detail
    log = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert (
        reverse("automations:edit", args=[automation.pk]) in log
        and reverse("automations:edit", args=[automation.pk]) in detail
    )
