"""Contacts kept from the events the platform reports, one per account and email."""

from __future__ import annotations

from automations.models import Contact, Run
from events import emit
from events.fanout import NewEvent
from tests.automation_world import added_to_list, call, deleted, make_automation, updated, wait


def test_list_addition_adds_lists_and_gives_the_brevo_id(account):
    emit(account, [added_to_list("Jane@Example.com", 7, contact_id=4711)])
    emit(account, [added_to_list("jane@example.com", 8, 7)])

    contact = Contact.objects.get()
    assert (contact.account, contact.email, contact.brevo_id, contact.lists) == (
        account,
        "jane@example.com",
        4711,
        [7, 8],
    )


def test_contact_updated_merges_the_attributes_of_content_as_a_list_or_an_object(account):
    emit(account, [updated("jane@example.com", [{"FIRSTNAME": "Jane"}, {"PLAN": "free"}])])
    emit(account, [updated("jane@example.com", {"PLAN": "pro", "AGE": 41})])

    assert Contact.objects.get().attributes == {"FIRSTNAME": "Jane", "PLAN": "pro", "AGE": 41}


def test_a_contact_first_seen_in_any_event_is_created_from_what_it_says(account):
    emit(account, [NewEvent("delivered", data={"email": "bob@example.com", "contact_id": 99})])

    contact = Contact.objects.get()
    assert (contact.email, contact.brevo_id, contact.lists, contact.attributes) == ("bob@example.com", 99, [], {})


def test_events_without_an_address_name_no_contact(account):
    emit(account, [NewEvent("delivered", data={"email": "not an address"}), NewEvent("delivered")])
    assert not Contact.objects.exists()


def test_contact_deleted_removes_the_contact(account):
    emit(account, [added_to_list("jane@example.com", 7)])
    emit(account, [deleted("jane@example.com")])
    assert not Contact.objects.exists()


def test_a_contact_deleted_then_added_again_in_one_batch_starts_afresh(account):
    emit(account, [added_to_list("jane@example.com", 7), updated("jane@example.com", {"A": 1})])
    emit(account, [deleted("jane@example.com"), added_to_list("jane@example.com", 9)])

    contact = Contact.objects.get()
    assert (contact.lists, contact.attributes) == ([9], {})


def test_contacts_are_kept_per_account(account, stranger):
    emit(account, [added_to_list("jane@example.com", 7)])
    emit(stranger.account, [added_to_list("jane@example.com", 8), deleted("jane@example.com")])

    assert [(c.account, c.lists) for c in Contact.objects.all()] == [(account, [7])]


def test_contact_deleted_stops_the_contacts_runs(account):
    automation = make_automation(account, [wait(3600), call("https://example.com/hook")])
    emit(account, [added_to_list("jane@example.com", 7)])
    emit(account, [deleted("jane@example.com")])

    run = Run.objects.get(automation=automation)
    assert (run.status, run.stop_reason, run.contact, run.due_at) == ("stopped", "contact_deleted", None, None)
    assert run.email == "jane@example.com"
