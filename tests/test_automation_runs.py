"""Runs: started inside emit()'s transaction, moved along by advance_due, calls made as deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations.models import Automation, Contact, Run
from automations.runner import advance_due
from events import emit
from events.fanout import EventError, NewEvent
from tests.automation_world import added_to_list, call, deleted, make_automation, updated, wait
from tests.receiver import Reply
from webhooks import sending
from webhooks.models import AUTOMATION_EVENT, Delivery

HOOK = "https://example.com/hook"


def calls() -> list[Delivery]:
    return list(Delivery.objects.filter(event=AUTOMATION_EVENT, is_test=False).order_by("pk"))


def test_an_event_that_matches_starts_a_run_and_a_first_call_is_a_delivery_at_once(account):
    automation = make_automation(account, [call(HOOK)], condition="listId", value="7")
    [event] = emit(account, [added_to_list("jane@example.com", 7, contact_id=4711)])

    run = Run.objects.get()
    assert (run.automation, run.email, run.event, run.status, run.position) == (
        automation,
        "jane@example.com",
        event,
        "done",
        1,
    )
    [delivery] = calls()
    step = automation.steps.get()
    assert delivery.webhook == step.webhook and delivery.event_record == event and delivery.status == "pending"
    assert delivery.payload == {
        "contact_id": 4711,
        "email": "jane@example.com",
        "step_id": step.pk,
        "workflow_id": automation.pk,
    }


def test_a_call_step_disabled_by_its_app_emails_that_saving_its_automation_enables_it_again(account, owner, receiver):
    automation = make_automation(account, [wait(60), call(receiver.url)], name="Onboarding")
    emit(account, [added_to_list("jane@example.com", 1)])
    receiver.reply = Reply(status=410)

    advance_due(timezone.now() + timedelta(seconds=61))
    [delivery] = calls()
    sending.deliver([delivery.pk])

    step = automation.steps.get(position=1)
    step.webhook.refresh_from_db()
    assert not step.webhook.enabled
    (email,) = mail.outbox
    assert email.to == [owner.email]
    assert email.subject == 'The Call a webhook step 2 of your automation "Onboarding" was disabled'
    assert 'step 2 of your automation "Onboarding"' in email.body
    assert "open the automation from Automations > Onboarding and save it" in email.body
    # Such a webhook is not on the Webhooks page: its Actions > Enable is nowhere to be found.
    assert "Webhooks > Actions > Enable" not in email.body


def test_list_7_enters_the_automation_of_list_7_and_not_that_of_list_8(account):
    seven = make_automation(account, [call(HOOK)], condition="listId", value="7", name="Seven")
    eight = make_automation(account, [call(HOOK)], condition="listId", value="8", name="Eight")
    emit(account, [added_to_list("jane@example.com", 7)])
    assert list(Run.objects.values_list("automation", flat=True)) == [seven.pk]
    assert [d.webhook_id for d in calls()] == [seven.steps.get().webhook_id]
    assert not eight.runs.exists()


def test_one_event_may_start_runs_in_many_automations(account):
    first = make_automation(account, [call(HOOK)], name="First")
    second = make_automation(account, [wait(60), call(HOOK)], name="Second")
    make_automation(account, [call(HOOK)], event="contactUpdated", name="Other trigger")
    emit(account, [added_to_list("jane@example.com", 3)])
    assert sorted(Run.objects.values_list("automation", flat=True)) == sorted([first.pk, second.pk])


def test_drafts_and_paused_automations_start_nothing(account):
    make_automation(account, [call(HOOK)], status="draft")
    make_automation(account, [call(HOOK)], status="paused")
    emit(account, [added_to_list("jane@example.com", 3)])
    assert not Run.objects.exists() and not calls()


@pytest.mark.parametrize(
    ("condition", "attribute", "value", "event", "starts"),
    [
        (
            "linkContains",
            "",
            "black-friday",
            NewEvent("click", data={"email": "a@b.test", "link": "https://x.test/Black-Friday?a"}),
            True,
        ),
        (
            "linkContains",
            "",
            "black-friday",
            NewEvent("click", data={"email": "a@b.test", "link": "https://x.test/sale"}),
            False,
        ),
        (
            "linkContains",
            "",
            "sale",
            NewEvent("click", "marketing", {"email": "a@b.test", "URL": "https://x.test/sale"}),
            True,
        ),
        ("tag", "", "welcome", NewEvent("delivered", data={"email": "a@b.test", "tags": ["welcome", "x"]}), True),
        ("tag", "", "welcome", NewEvent("delivered", data={"email": "a@b.test", "tag": '["welcome"]'}), True),
        ("tag", "", "welcome", NewEvent("delivered", data={"email": "a@b.test", "tags": ["other"]}), False),
        ("attribute", "PLAN", "pro", updated("a@b.test", [{"plan": "pro"}]), True),
        ("attribute", "PLAN", "pro", updated("a@b.test", {"PLAN": "free"}), False),
        ("attribute", "VIP", "true", updated("a@b.test", {"VIP": True}), True),
        ("listId", "", "7", added_to_list("a@b.test", 8, 7), True),
    ],
)
def test_conditions_narrow_the_trigger(account, condition, attribute, value, event, starts):
    make_automation(
        account, [call(HOOK)], event=event.name, type=event.type, condition=condition, attribute=attribute, value=value
    )
    emit(account, [event])
    assert Run.objects.exists() is starts


def test_a_contact_inside_does_not_enter_again_unless_reentry_is_allowed(account):
    once = make_automation(account, [wait(3600), call(HOOK)], name="Once")
    again = make_automation(account, [wait(3600), call(HOOK)], reentry=True, name="Again")
    emit(account, [added_to_list("jane@example.com", 1), added_to_list("jane@example.com", 2)])
    emit(account, [added_to_list("jane@example.com", 3)])
    assert once.runs.count() == 1
    assert again.runs.count() == 3


def test_a_finished_run_lets_the_contact_enter_again(account):
    automation = make_automation(account, [call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 1)])
    emit(account, [added_to_list("jane@example.com", 2)])
    assert automation.runs.filter(status="done").count() == 2


def test_only_one_active_run_without_reentry_even_if_two_batches_race(account):
    automation = make_automation(account, [wait(3600)])
    emit(account, [added_to_list("jane@example.com", 1)])
    run = Run.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(automation=automation, contact=run.contact, email=run.email, exclusive=True)


def test_a_wait_is_a_due_time_and_advance_due_makes_the_call_when_it_falls_due(account):
    automation = make_automation(account, [wait(120), call(HOOK, contact=True)])
    emit(account, [added_to_list("jane@example.com", 1), updated("jane@example.com", {"PLAN": "pro"})])
    run = Run.objects.get()
    assert run.status == "active" and run.position == 1
    assert abs((run.due_at - run.started_at).total_seconds() - 120) < 1
    assert advance_due(timezone.now()) == 0 and not calls()

    assert advance_due(run.due_at + timedelta(milliseconds=1)) == 1
    run.refresh_from_db()
    assert (run.status, run.position, run.due_at) == ("done", 2, None)
    [delivery] = calls()
    # The contact as it is when the call is made, with what happened during the Wait.
    assert delivery.payload["attributes"] == {"PLAN": "pro"}
    assert delivery.webhook == automation.steps.get(kind="webhook").webhook
    assert advance_due(run.due_at or timezone.now() + timedelta(days=1)) == 0
    assert len(calls()) == 1


def test_a_paused_automation_holds_its_runs_and_resuming_continues_them(account):
    automation = make_automation(account, [wait(60), call(HOOK), wait(60), call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 1)])
    Automation.objects.filter(pk=automation.pk).update(status="paused")
    later = timezone.now() + timedelta(seconds=61)
    assert advance_due(later) == 0 and not calls()

    Automation.objects.filter(pk=automation.pk).update(status="active")
    assert advance_due(later) == 1
    assert len(calls()) == 1
    assert Run.objects.get().position == 3


def test_contact_deleted_during_a_wait_means_no_call(account):
    make_automation(account, [wait(60), call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 1)])
    emit(account, [deleted("jane@example.com")])
    assert advance_due(timezone.now() + timedelta(hours=1)) == 0
    assert not calls()


def test_the_event_toggle_adds_the_trigger_events_brevo_payload(account, make_webhook):
    subscribed = make_webhook(type="marketing", events=("listAddition",))
    automation = make_automation(account, [call(HOOK, contact=True, event=True)])
    emit(account, [added_to_list("jane@example.com", 7, contact_id=12), updated("jane@example.com", {"A": "b"})])

    [call_delivery] = calls()[:1]
    [webhook_delivery] = Delivery.objects.filter(webhook=subscribed)
    assert call_delivery.payload["event"] == webhook_delivery.payload
    assert list(call_delivery.payload) == ["contact_id", "email", "step_id", "workflow_id", "attributes", "event"]
    # The contact as it is when the call is made: after the whole batch of events.
    assert call_delivery.payload["attributes"] == {"A": "b"}
    assert automation.runs.get().event == webhook_delivery.event_record


def test_a_refused_batch_starts_no_runs_and_keeps_no_contacts(account):
    make_automation(account, [call(HOOK)])
    with pytest.raises(EventError):
        emit(account, [added_to_list("jane@example.com", 1), NewEvent("nope", "marketing")])
    assert not Run.objects.exists() and not calls()


def test_runs_roll_back_with_the_events_of_a_failed_transaction(account):
    make_automation(account, [call(HOOK)])
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(account, [added_to_list("jane@example.com", 1)])
        assert Run.objects.exists()
        raise RuntimeError
    assert not Run.objects.exists() and not calls()


def test_the_body_is_the_documented_json(account):
    automation = make_automation(account, [call(HOOK)])
    emit(account, [added_to_list("jane@example.com", 1)])
    [delivery] = calls()
    assert delivery.payload == {
        "contact_id": None,
        "email": "jane@example.com",
        "step_id": automation.steps.get().pk,
        "workflow_id": automation.pk,
    }


def test_text_that_utf_8_cannot_carry_never_reaches_a_contact_or_a_call(account):
    # Refused where events come in (events.fanout, strict_json): nothing half-stored.
    make_automation(account, [call(HOOK, contact=True, event=True)], event="delivered", type="transactional")
    with pytest.raises(EventError, match="lone UTF-16 surrogate"):
        emit(account, [updated("jane@example.com", {"NAME": "\ud800x"})])
    with pytest.raises(EventError, match="lone UTF-16 surrogate"):
        emit(account, [NewEvent("delivered", data={"email": "jane@example.com", "subject": "\udc00"})])
    assert not Contact.objects.exists() and not calls()
