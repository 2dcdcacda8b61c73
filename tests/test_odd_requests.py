"""Requests no ordinary client sends, each answered with a clear 4xx and never a 500.

Found by trying every door with odd input (2026-11-30): numbers of thousands of digits,
NUL in query strings, `null` bodies, DRF's `?format=`, probes posted to, hidden fields
tampered with. Each test failed before its fix.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from automations.models import Automation, Contact
from events.models import Event
from tests.automation_world import make_automation, wait
from tests.test_automation_pages import editor_data
from tests.test_webhook_pages import ADD, add_form
from webhooks.models import Delivery, Webhook

JSON = "application/json"
# More digits than Python converts to an int (4,300): int() raises ValueError.
HUGE = "9" * 5000


def post_events(client: Client, api_key: str, body: object) -> object:
    return client.post("/api/events", json.dumps(body), content_type=JSON, HTTP_API_KEY=api_key)


# Numbers too long for Python -------------------------------------------------------------


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_huge_limit_or_offset_of_the_delivery_list_is_a_400_naming_it(api_client, make_webhook, param):
    webhook = make_webhook()
    response = api_client.get(f"/v3/webhooks/{webhook.pk}/deliveries?{param}={HUGE}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert response.json()["message"].startswith(f"{param} must be a whole number from ")


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_huge_limit_or_offset_of_an_automations_runs_is_a_400_naming_it(api_client, account, param):
    automation = make_automation(account, [wait(60)])
    response = api_client.get(f"/v3/automations/{automation.pk}/runs?{param}={HUGE}")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{param} must be a whole number from ")


@pytest.mark.parametrize(
    "overrides",
    [{"steps-count": HUGE}, {"op": f"up-{HUGE}"}, {"op": f"remove-{HUGE}"}, {"op": f"down-{HUGE}"}],
    ids=["steps-count", "up", "remove", "down"],
)
def test_huge_numbers_in_the_automation_editor_are_ignored(owner_client, overrides):
    response = owner_client.post(reverse("automations:add"), editor_data(**overrides))
    assert response.status_code in (200, 302, 400)


def test_a_huge_contact_id_or_list_id_in_an_event_is_no_brevo_id(client, api_key, make_webhook, redis):
    make_webhook(events=("delivered",))
    events = [
        {"event": "delivered", "data": {"email": "jane@example.com", "contact_id": HUGE}},
        {"event": "listAddition", "type": "marketing", "data": {"email": "joe@example.com", "list_id": [HUGE, "7"]}},
    ]
    response = post_events(client, api_key, events)
    assert response.status_code == 202, response.content[:300]
    assert Event.objects.count() == 2
    assert set(Contact.objects.values_list("email", "brevo_id")) == {
        ("jane@example.com", None),
        ("joe@example.com", None),
    }


def test_a_number_longer_than_python_reads_is_refused_naming_the_field(client, api_key, make_webhook, redis):
    make_webhook(events=("delivered",))
    body = '[{"event": "delivered"}, {"event": "delivered", "data": {"n": ' + HUGE + "}}]"
    response = client.post("/api/events", body, content_type=JSON, HTTP_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_parameter",
        "message": "events[1].data.n: numbers must have at most 4300 digits.",
    }
    assert not Event.objects.exists()


def test_json_that_is_not_json_still_says_so_where_a_long_number_is_no_part_of_it(client, api_key):
    response = client.post("/api/events", '{"event": "delivered",}', content_type=JSON, HTTP_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json()["message"].startswith("The request body is not valid JSON: Expecting property name")


# NUL in query strings (PostgreSQL refuses it in any text: a filter with one was a 500) ------------


@pytest.mark.parametrize("path", ["/webhooks/?q=%00", "/webhooks/?q=a%00b", "/admin/webhooks/webhook/?q=%00"])
def test_a_nul_in_a_pages_query_string_is_a_400_that_says_so(owner_client, admin_client, path):
    client = admin_client if path.startswith("/admin/") else owner_client
    response = client.get(path)
    assert response.status_code == 400
    assert response.content.decode() == "The address must not contain the NUL character."


def test_a_nul_in_the_delivery_logs_filter_is_a_400(owner_client, make_webhook):
    webhook = make_webhook()
    response = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk]) + "?event=%00&status=%00")
    assert response.status_code == 400


def test_a_nul_in_an_api_query_string_is_a_400_in_the_apis_format(api_client):
    response = api_client.get("/v3/webhooks?type=%00")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_parameter",
        "message": "The query string must not contain a NUL character (%00).",
    }


def test_the_nul_page_speaks_italian_to_italians(owner_client):
    response = owner_client.get("/webhooks/?q=%00", HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code == 400
    assert response.content.decode() == "L'indirizzo non deve contenere il carattere NUL."


def test_an_unknown_event_in_the_delivery_log_filters_nothing(owner_client, make_webhook, account):
    webhook = make_webhook()
    Delivery.objects.create(webhook=webhook, event="delivered", payload={})
    response = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk]) + "?event=noSuchEvent")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 1
    assert response.context["event"] == ""


# The API's answers -------------------------------------------------------------------------


def test_drfs_format_parameter_is_no_part_of_the_api(api_client, make_webhook, api_key, redis):
    make_webhook(events=("delivered",))
    assert api_client.get("/v3/webhooks?format=xml").status_code == 200
    response = api_client.post("/api/events?format=xml", json.dumps({"event": "delivered"}), content_type=JSON)
    assert response.status_code == 202
    assert Event.objects.count() == 1


def test_a_missing_delivery_is_not_found_as_a_delivery(api_client, make_webhook):
    webhook = make_webhook()
    for delivery_id in ("123456", "99999999999999999999"):
        response = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{delivery_id}/retry")
        assert response.status_code == 404
        assert response.json() == {"code": "document_not_found", "message": "Delivery not found"}


@pytest.mark.parametrize("body", ["null", '"hello"', "42", "true"])
def test_a_body_that_is_no_object_says_what_it_must_be(api_client, body):
    response = api_client.post("/v3/webhooks", body, content_type=JSON)
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_parameter", "message": "The request body must be a JSON object."}
    response = api_client.post("/v3/automations", body, content_type=JSON)
    assert response.json()["message"] == "The request body must be a JSON object."
    assert not Webhook.objects.exists() and not Automation.objects.exists()


@pytest.mark.parametrize("body", ["null", '"hello"', "42"])
def test_an_events_body_that_is_no_event_says_what_it_must_be(client, api_key, body):
    response = client.post("/api/events", body, content_type=JSON, HTTP_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json()["message"] == (
        'The request body must be an event, a JSON object such as {"event": "delivered"}, or a list of them.'
    )


def test_an_automation_named_only_spaces_is_refused_by_the_api_as_by_the_editor(api_client):
    body = {"name": "   ", "trigger": {"type": "marketing", "event": "listAddition"}}
    response = api_client.post("/v3/automations", json.dumps(body), content_type=JSON)
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_parameter", "message": "name: This field may not be blank."}
    assert not Automation.objects.exists()


# Probes and forms --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_answer_a_post_with_405_not_a_csrf_page(path):
    response = Client(enforce_csrf_checks=True).post(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_a_load_balancer_may_probe_with_head(redis):
    assert Client().head("/healthz").status_code == 200


def test_a_tampered_step_kind_is_shown_next_to_the_step(owner_client):
    response = owner_client.post(reverse("automations:add"), editor_data(**{"steps-0-kind": "bogus"}))
    assert response.status_code == 400
    assert "This step has no kind: remove it and add a new one." in response.content.decode()


def test_a_line_separator_inside_a_header_value_is_refused_as_a_character_not_as_a_line(owner_client):
    page = owner_client.post(ADD, add_form(custom_headers="X-A: v\u2028w")).content.decode()
    assert "must be plain ASCII text on one line" in page
    assert "write each header as Name: value" not in page
    owner_client.post(ADD, add_form(custom_headers="X-A: v\r\nX-B: w\rX-C: x\n"))
    assert [header["key"] for header in Webhook.objects.get().headers] == ["X-A", "X-B", "X-C"]


def test_a_form_larger_than_the_limit_says_so(owner_client, settings):
    response = owner_client.post(
        reverse("events:simulate"), {"event": "transactional:delivered", "data": "x" * 300_000}
    )
    assert response.status_code == 400
    assert response.content.decode().startswith("What you sent is larger than 256.0\xa0KB.")
