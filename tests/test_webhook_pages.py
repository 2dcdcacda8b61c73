"""The Webhooks pages as a marketer uses them: list, add, edit, delete."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from webhooks.models import Webhook

ADD = reverse("webhooks:add")


def add_form(**overrides):
    data = {"type": "transactional", "url": "https://example.com/hook", "transactional_events": ["delivered"]}
    data.update(overrides)
    return data


def test_logging_in_with_email_and_password_lands_on_the_webhooks_page(client, owner):
    response = client.post(reverse("login"), {"username": owner.email, "password": "correct-horse-battery-staple"})
    assert response.status_code == 302 and response.url == reverse("webhooks:list")
    assert client.get(response.url).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, owner):
    response = client.post(reverse("login"), {"username": owner.email, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct email address and password" in response.content.decode()


def test_the_login_page_focuses_its_email_and_ties_a_refusal_to_both_fields(client, owner):
    page = client.get(reverse("login")).content.decode()
    assert re.search(r'<input type="email" name="username" id="id_username"[^>]* autofocus', page)
    assert "aria-invalid" not in page
    page = client.post(reverse("login"), {"username": owner.email, "password": "nope"}).content.decode()
    assert 'id="login_error"' in page
    for name in ("username", "password"):
        [tag] = re.findall(rf'<input [^>]*name="{name}"[^>]*>', page)
        assert 'aria-invalid="true"' in tag and 'aria-describedby="login_error"' in tag, tag


def test_field_errors_are_tied_to_their_inputs(owner_client):
    page = owner_client.post(ADD, add_form(url="ftp://example.com/", custom_headers="no colon")).content.decode()
    [url] = re.findall(r'<input [^>]*name="url"[^>]*>', page)
    assert 'aria-invalid="true"' in url and 'aria-describedby="id_url_helptext id_url_error"' in url
    assert 'id="id_url_helptext"' in page and 'id="id_url_error"' in page
    [headers] = re.findall(r'<textarea [^>]*name="custom_headers"[^>]*>', page)
    assert 'aria-invalid="true"' in headers and "id_custom_headers_error" in headers
    # Fields without an error are not marked, and point to their help only.
    [description] = re.findall(r'<input [^>]*name="description"[^>]*>', page)
    assert "aria-invalid" not in description and "aria-describedby" not in description
    [batched] = re.findall(r'<input [^>]*name="batched"[^>]*>', page)
    assert 'aria-describedby="id_batched_helptext"' in batched and 'id="id_batched_helptext"' in page


def test_pages_need_a_login(client, db):
    response = client.get(reverse("webhooks:list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_empty_list_invites_to_add_a_webhook(owner_client):
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "0 / 40" in page
    assert "No transactional webhooks yet." in page and "No marketing webhooks yet." in page
    assert "Add a new webhook" in page


def test_the_list_groups_webhooks_by_type_with_a_counter(owner_client, make_webhook):
    make_webhook(url="https://t.example.com/", description="Orders")
    make_webhook(url="https://m.example.com/", type="marketing", events=("listAddition",))
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "2 / 40" in page
    transactional, marketing = page.split('id="group-2"')
    assert "https://t.example.com/" in transactional and "Orders" in transactional
    assert "https://m.example.com/" in marketing and "Added to a list" in marketing
    assert "Send a test" in page and "Actions" in page


def test_a_teammate_sees_the_accounts_webhooks(teammate_client, make_webhook):
    make_webhook(url="https://shared.example.com/")
    assert "https://shared.example.com/" in teammate_client.get(reverse("webhooks:list")).content.decode()


def test_the_add_form_has_brevos_labels(owner_client):
    page = owner_client.get(ADD).content.decode()
    labels = ["Add a new webhook", "Transactional events", "Marketing events (marketing emails and contacts)"]
    labels += ["URL", "Description", "Save"]
    labels += ["First opening", "Loaded by proxy", "When an email is", "When a contact is", "Added to a list"]
    for label in labels:
        assert label in page, label


def test_the_type_can_be_preselected_from_the_empty_state(owner_client):
    page = owner_client.get(ADD + "?type=marketing").content.decode()
    assert 'value="marketing" id="id_type_1" required checked' in page


def test_adding_a_webhook_saves_it_with_its_events(owner_client, account):
    response = owner_client.post(
        ADD,
        add_form(transactional_events=["delivered", "hardBounce"], description="CRM", url="https://crm.example.com/in"),
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get(account=account)
    assert (webhook.url, webhook.description, webhook.type) == ("https://crm.example.com/in", "CRM", "transactional")
    assert webhook.event_names() == ["delivered", "hardBounce"]


def test_only_the_chosen_types_events_are_saved(owner_client, account):
    owner_client.post(
        ADD, add_form(type="marketing", marketing_events=["listAddition"], transactional_events=["click"])
    )
    webhook = Webhook.objects.get(account=account)
    assert webhook.type == "marketing" and webhook.event_names() == ["listAddition"]


@pytest.mark.parametrize(
    "url,error",
    [
        ("not a url", "Enter a valid URL starting with http:// or https://"),
        ("ftp://example.com/x", "Enter a valid URL starting with http:// or https://"),
        ("", "Enter the URL of your app that receives the events."),
    ],
)
def test_a_bad_url_is_refused_next_to_the_field(owner_client, account, url, error):
    response = owner_client.post(ADD, add_form(url=url))
    assert response.status_code == 400
    assert response.content.decode().count(error) == 1
    assert 'id="id_url_error"' in response.content.decode()
    assert not Webhook.objects.exists()


def test_no_event_ticked_is_refused_next_to_the_events(owner_client):
    response = owner_client.post(ADD, add_form(transactional_events=[]))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select at least one event." in page and 'id="id_transactional_events_error"' in page
    assert not Webhook.objects.exists()


def test_an_event_of_the_other_type_is_refused(owner_client):
    response = owner_client.post(ADD, add_form(type="marketing", marketing_events=["uniqueOpened"]))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_41st_webhook_is_refused_with_brevos_message(owner_client, make_webhook):
    for n in range(40):
        make_webhook(url=f"https://example.com/{n}")
    response = owner_client.post(ADD, add_form())
    assert response.status_code == 400
    assert "You can create up to 40 webhooks. Delete one to add a new one." in response.content.decode()
    assert Webhook.objects.count() == 40
    assert "40 / 40" in owner_client.get(reverse("webhooks:list")).content.decode()


def test_editing_changes_url_description_and_events_but_not_the_type(owner_client, make_webhook):
    webhook = make_webhook()
    page = owner_client.get(reverse("webhooks:edit", args=[webhook.pk])).content.decode()
    assert "Edit webhook" in page and 'value="delivered"' in page and "When a contact is" not in page
    response = owner_client.post(
        reverse("webhooks:edit", args=[webhook.pk]),
        {
            "type": "marketing",
            "url": "https://new.example.com/",
            "description": "New",
            "transactional_events": ["click"],
        },
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.url, webhook.description, webhook.type) == ("https://new.example.com/", "New", "transactional")
    assert webhook.event_names() == ["click"]


def test_a_failed_edit_changes_nothing(owner_client, make_webhook):
    webhook = make_webhook()
    response = owner_client.post(
        reverse("webhooks:edit", args=[webhook.pk]), {"url": "https://new.example.com/", "transactional_events": []}
    )
    assert response.status_code == 400
    webhook.refresh_from_db()
    assert webhook.url == "https://example.com/hook" and webhook.event_names() == ["delivered", "hardBounce"]


def test_delete_asks_for_confirmation_then_deletes(owner_client, make_webhook):
    webhook = make_webhook()
    url = reverse("webhooks:delete", args=[webhook.pk])
    page = owner_client.get(url).content.decode()
    assert "Delete this webhook?" in page and Webhook.objects.filter(pk=webhook.pk).exists()
    assert owner_client.post(url).status_code == 302
    assert not Webhook.objects.filter(pk=webhook.pk).exists()


def test_a_webhook_can_be_disabled_and_enabled(owner_client, make_webhook):
    webhook = make_webhook()
    owner_client.post(reverse("webhooks:toggle", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert not webhook.enabled and webhook.disabled_reason == "Disabled by a user."
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "Disabled: Someone in your account disabled it" in page
    owner_client.post(reverse("webhooks:toggle", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert webhook.enabled


def test_changes_need_a_csrf_token(owner, make_webhook):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    webhook = make_webhook()
    assert client.post(ADD, add_form()).status_code == 403
    assert client.post(reverse("webhooks:delete", args=[webhook.pk])).status_code == 403
    assert client.post(reverse("webhooks:send_test", args=[webhook.pk]), {"event": "delivered"}).status_code == 403


def test_a_password_in_the_webhook_url_is_masked_on_the_page(owner_client, make_webhook):
    make_webhook(url="https://bob:hunter2@example.com/hook")
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "hunter2" not in page and "bob:••••••@example.com" in page


def test_a_user_without_an_account_is_told_so(client, django_user_model):
    user = django_user_model.objects.create_user("ops@example.com", "pw-ops-12345", is_staff=True)
    client.force_login(user)
    response = client.get(reverse("webhooks:list"))
    assert response.status_code == 403
    assert "Your user has no account" in response.content.decode()
