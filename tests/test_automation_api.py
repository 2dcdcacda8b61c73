"""/v3/automations: create, read, update, delete, runs; the rules of /v3/webhooks; nothing half-saved."""

from __future__ import annotations

import json
import re
import sys

import jsonschema
import pytest
import requests
import schemathesis
from django.http import Http404
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from schemathesis.core.transport import Response as SchemathesisResponse

import catalog
from automations import steps as automation_steps
from automations.api import schema as automation_schema
from automations.api import views as api_views
from automations.api.serializers import AutomationCreateSerializer, AutomationUpdateSerializer, Conflict
from automations.models import Automation, Run, Step
from automations.steps import StepSpec
from events import emit
from tests.automation_world import added_to_list, call, make_automation, wait
from webhooks.models import AUTOMATION_EVENT, Delivery, Webhook

JSON = "application/json"
HOOK = "https://example.com/hook"


def post(client: Client, path: str, body: object) -> object:
    return client.post(path, json.dumps(body), content_type=JSON)


def put(client: Client, path: str, body: object) -> object:
    return client.put(path, json.dumps(body), content_type=JSON)


def body(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Welcome",
        "trigger": {"event": "listAddition", "type": "marketing", "conditions": {"listId": 7}},
        "steps": [
            {"type": "wait", "seconds": 3600},
            {
                "type": "webhook",
                "url": "https://ann:s3cret@example.com/hook",
                "includeContact": True,
                "includeEvent": False,
                "auth": {"type": "bearer", "token": "tok-1"},
                "headers": [{"key": "X-Tenant", "value": "acme"}],
            },
        ],
        "reentry": True,
        "status": "active",
    }
    data.update(overrides)
    return data


def test_create_answers_201_with_the_id_and_stores_every_field(api_client, account):
    response = post(api_client, "/v3/automations", body())
    assert response.status_code == 201
    automation = Automation.objects.get()
    assert response.json() == {"id": automation.pk}
    assert (automation.account, automation.name, automation.status, automation.reentry) == (
        account,
        "Welcome",
        "active",
        True,
    )
    assert (automation.trigger_type, automation.trigger_event, automation.condition, automation.condition_value) == (
        "marketing", "listAddition", "listId", "7"
    )  # fmt: skip
    wait_step, call_step = automation.steps.all()
    assert (wait_step.kind, wait_step.wait_seconds) == ("wait", 3600)
    webhook = call_step.webhook
    assert (call_step.include_contact, call_step.include_event) == (True, False)
    assert (webhook.url, webhook.auth_token, webhook.headers, webhook.source) == (
        "https://ann:s3cret@example.com/hook", "tok-1", [{"key": "X-Tenant", "value": "acme"}], "automation"
    )  # fmt: skip


def test_get_answers_the_automation_with_secrets_masked(api_client, account):
    automation_id = post(api_client, "/v3/automations", body()).json()["id"]
    emit(account, [added_to_list("jane@example.com", 7)])

    got = api_client.get(f"/v3/automations/{automation_id}").json()
    wait_step, call_step = Automation.objects.get().steps.all()
    assert got["id"] == automation_id and got["name"] == "Welcome"
    assert got["trigger"] == {"event": "listAddition", "type": "marketing", "conditions": {"listId": 7}}
    assert got["steps"] == [
        {"id": wait_step.pk, "type": "wait", "seconds": 3600},
        {
            "id": call_step.pk,
            "type": "webhook",
            "url": "https://ann:••••••@example.com/hook",
            "includeContact": True,
            "includeEvent": False,
            "auth": {"type": "bearer", "token": "••••••"},
            "headers": [{"key": "X-Tenant", "value": "acme"}],
            "enabled": True,
        },
    ]
    assert (got["reentry"], got["status"], got["runs"]) == (True, "active", {"active": 1, "total": 1})
    assert got["createdAt"].endswith("Z") and got["modifiedAt"].endswith("Z")
    assert "s3cret" not in json.dumps(got) and "tok-1" not in json.dumps(got)


def test_the_list_has_the_accounts_automations_newest_first_and_filters_on_status(api_client, account, stranger):
    first = make_automation(account, [wait(60)], name="First", status="draft")
    second = make_automation(account, [wait(60)], name="Second")
    make_automation(stranger.account, [wait(60)], name="Theirs")
    listed = api_client.get("/v3/automations").json()["automations"]
    assert [a["id"] for a in listed] == [second.pk, first.pk]
    assert [a["id"] for a in api_client.get("/v3/automations?status=draft").json()["automations"]] == [first.pk]
    response = api_client.get("/v3/automations?status=finished")
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameter"


def test_update_changes_only_what_it_gives_and_kept_steps_keep_their_webhooks(api_client, account):
    automation_id = post(api_client, "/v3/automations", body()).json()["id"]
    wait_step, call_step = Automation.objects.get().steps.all()
    webhook_id, secret = call_step.webhook_id, call_step.webhook.signing_secret

    assert (
        put(api_client, f"/v3/automations/{automation_id}", {"name": "Renamed", "status": "paused"}).status_code == 204
    )
    automation = Automation.objects.get()
    assert (automation.name, automation.status, automation.steps.count()) == ("Renamed", "paused", 2)

    got = api_client.get(f"/v3/automations/{automation_id}").json()
    steps = [got["steps"][1], {**got["steps"][0], "seconds": 60}]  # reordered, the wait shortened, the rest sent back
    assert put(api_client, f"/v3/automations/{automation_id}", {"steps": steps}).status_code == 204
    call_after, wait_after = Automation.objects.get().steps.all()
    assert (call_after.pk, wait_after.pk, wait_after.wait_seconds) == (call_step.pk, wait_step.pk, 60)
    webhook = Webhook.objects.get()
    assert (webhook.pk, webhook.signing_secret, webhook.url, webhook.auth_token) == (
        webhook_id, secret, "https://ann:s3cret@example.com/hook", "tok-1"
    )  # fmt: skip

    steps = [{"id": call_step.pk, "type": "webhook", "url": HOOK, "auth": None}]
    assert put(api_client, f"/v3/automations/{automation_id}", {"steps": steps}).status_code == 204
    webhook.refresh_from_db()
    assert (webhook.url, webhook.auth_token, webhook.headers) == (HOOK, "", [{"key": "X-Tenant", "value": "acme"}])
    assert list(Step.objects.values_list("pk", flat=True)) == [call_step.pk]


def test_delete_removes_the_automation_its_runs_and_its_webhooks(api_client, account):
    automation_id = post(api_client, "/v3/automations", body(steps=[{"type": "webhook", "url": HOOK}])).json()["id"]
    emit(account, [added_to_list("jane@example.com", 7)])
    assert Delivery.objects.filter(event=AUTOMATION_EVENT).exists()

    assert api_client.delete(f"/v3/automations/{automation_id}").status_code == 204
    assert not Automation.objects.exists() and not Run.objects.exists() and not Webhook.objects.exists()
    assert not Delivery.objects.exists()
    assert api_client.get(f"/v3/automations/{automation_id}").status_code == 404


def test_runs_lists_each_contacts_progress_and_calls(api_client, account):
    automation = make_automation(account, [call(HOOK), wait(3600), call(HOOK)])
    [event] = emit(account, [added_to_list("jane@example.com", 7, contact_id=4711)])
    delivery = Delivery.objects.get(event=AUTOMATION_EVENT)

    got = api_client.get(f"/v3/automations/{automation.pk}/runs").json()
    [run] = got["runs"]
    assert got["count"] == 1
    assert (run["email"], run["contactId"], run["eventId"], run["status"], run["position"]) == (
        "jane@example.com", 4711, event.public_id, "active", 2
    )  # fmt: skip
    assert run["dueAt"].endswith("Z") and run["finishedAt"] is None
    assert run["calls"] == [
        {
            "stepId": automation.steps.first().pk,
            "deliveryId": delivery.pk,
            "messageId": delivery.webhook_message_id,
            "status": "pending",
            "attemptCount": 0,
            "createdAt": run["calls"][0]["createdAt"],
        }
    ]
    assert api_client.get(f"/v3/automations/{automation.pk}/runs?status=done").json() == {"runs": [], "count": 0}
    assert api_client.get(f"/v3/automations/{automation.pk}/runs?limit=0").status_code == 400


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "name"),
        ({"reentry": "yes"}, "reentry"),
        ({"status": "running"}, "status"),
        ({"trigger": {"event": "nope", "type": "marketing"}}, "Not a marketing event: nope."),
        ({"trigger": {"event": "contactDeleted", "type": "marketing"}}, "cannot start an automation"),
        ({"trigger": {"event": "listAddition", "type": "marketing", "conditions": {"tag": "x"}}}, "is not a condition"),
        ({"trigger": {"event": "click", "conditions": {"tag": "x", "linkContains": "y"}}}, "Give one condition"),
        (
            {"trigger": {"event": "contactUpdated", "type": "marketing", "conditions": {"attribute": "A"}}},
            "go together",
        ),
        ({"trigger": {"event": "listAddition", "type": "marketing", "conditions": {"listId": "7"}}}, "listId"),
        ({"steps": [{"type": "sleep"}]}, "type"),
        ({"steps": ["wait"]}, "steps"),
        ({"steps": [{"type": "wait", "seconds": 0}]}, "seconds"),
        ({"steps": [{"type": "webhook", "url": "ftp://example.com"}]}, "url"),
        ({"steps": [{"type": "webhook", "url": HOOK, "headers": [{"key": "Host", "value": "x"}]}]}, "Host"),
        ({"steps": [{"type": "webhook", "url": HOOK, "auth": {"type": "bearer", "token": "••••••"}}]}, "token"),
        # A new automation has no steps to keep: its steps have no `id`.
        ({"steps": [{"type": "wait", "seconds": 5, "id": 1}]}, "steps[0].id: Unknown field"),
        ({"steps": [], "status": "active"}, "at least one step"),
        ({"status": "active", "steps": None}, "steps"),
        # Unknown fields are refused at every level, never silently ignored.
        ({"reentery": True}, "reentery: Unknown field; the fields are name, trigger, steps, reentry, status."),
        ({"trigger": {"event": "click", "tpye": "marketing"}}, "trigger.tpye: Unknown field"),
        (
            {"trigger": {"event": "listAddition", "type": "marketing", "conditions": {"listID": 7}}},
            "trigger.conditions.listID: Unknown field",
        ),
        ({"steps": [{"type": "webhook", "url": HOOK, "includeContacts": True}]}, "steps[0].includeContacts: Unknown"),
        ({"steps": [{"type": "wait", "seconds": 5, "enabled": True}]}, "steps[0].enabled: Unknown field"),
        (
            {"steps": [{"type": "webhook", "url": HOOK, "auth": {"type": "bearer", "token": "t", "tokn": "u"}}]},
            "steps[0].auth.tokn: Unknown field",
        ),
        (
            {"steps": [{"type": "webhook", "url": HOOK, "headers": [{"key": "X-A", "value": "1", "vaule": "2"}]}]},
            "steps[0].headers[0].vaule: Unknown field",
        ),
    ],
)
def test_bad_input_is_a_400_with_code_and_message_and_nothing_is_saved(api_client, change, message):
    response = post(api_client, "/v3/automations", body(**change))
    assert response.status_code == 400, response.json()
    answer = response.json()
    assert set(answer) == {"code", "message"} and answer["code"] in {"invalid_parameter", "missing_parameter"}
    assert message in answer["message"]
    assert not Automation.objects.exists() and not Webhook.objects.exists()


def test_malformed_json_and_missing_fields_are_400s(api_client):
    response = api_client.post("/v3/automations", "{not json", content_type=JSON)
    assert response.status_code == 400 and response.json()["code"] == "bad_request"
    response = post(api_client, "/v3/automations", {"name": "No trigger"})
    assert response.status_code == 400 and response.json()["code"] == "missing_parameter"


def test_a_refused_update_changes_nothing(api_client, account):
    automation = make_automation(account, [call(HOOK)])
    step = automation.steps.get()
    other = make_automation(account, [wait(60)], name="Other")
    steps = [
        {"type": "webhook", "id": step.pk, "url": HOOK + "/new"},
        {"type": "wait", "id": other.steps.get().pk, "seconds": 5},
    ]
    response = put(api_client, f"/v3/automations/{automation.pk}", {"name": "New", "steps": steps})
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": f"steps[1].id: The automation has no step {other.steps.get().pk}.",
    }
    automation.refresh_from_db()
    step.webhook.refresh_from_db()
    assert automation.name == "Welcome" and step.webhook.url == HOOK and other.steps.count() == 1


def test_a_step_removed_by_another_request_meanwhile_is_a_409_not_a_500(account):
    automation = make_automation(account, [wait(60), call(HOOK)])
    wait_step, call_step = automation.steps.all()
    specs = [StepSpec(kind="wait", id=wait_step.pk, seconds=5), StepSpec(kind="webhook", id=call_step.pk, url=HOOK)]
    removed = wait_step.pk
    wait_step.delete()  # after this request's body was checked against the steps it had
    with pytest.raises(Conflict) as refused:
        api_views.save(automation, specs)
    assert (refused.value.status_code, refused.value.brevo_code) == (409, "conflict")
    assert str(refused.value.detail) == f"steps: The automation has no step {removed}."
    assert list(automation.steps.all()) == [call_step] and call_step.webhook.url == HOOK


def test_an_automation_deleted_by_another_request_meanwhile_is_a_404_and_is_not_made_again(account):
    automation = make_automation(account, [call(HOOK)])
    specs = [StepSpec(kind="webhook", url=HOOK + "/new")]  # new steps only: nothing to find gone
    automation_steps.delete(Automation.objects.get(pk=automation.pk))  # after this request found the automation
    with pytest.raises(Http404):
        api_views.save(automation, specs)
    assert not Automation.objects.exists()
    assert not Webhook.objects.filter(account=account).exists()


@pytest.mark.parametrize(
    ("status", "change", "message"),
    [
        ("active", lambda steps: {"steps": []}, "steps: An active automation needs at least one step."),
        ("draft", lambda steps: {"status": "active"}, "steps: An active automation needs at least one step."),
        ("active", lambda steps: {"steps": [{"type": "wait", "id": steps[1], "seconds": 5}]}, "is a webhook step"),
        ("active", lambda steps: {"steps": [{"type": "webhook", "id": steps[0], "url": HOOK}]}, "is a wait step"),
    ],
)
def test_an_update_that_does_not_fit_the_automation_as_it_is_is_a_409(api_client, account, status, change, message):
    # The body alone is right (the OpenAPI description allows it); the automation's state refuses it.
    automation = make_automation(account, [wait(60), call(HOOK)] if status == "active" else [], status=status)
    steps = list(automation.steps.values_list("pk", flat=True))
    response = put(api_client, f"/v3/automations/{automation.pk}", change(steps))
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "conflict" and message in response.json()["message"]
    automation.refresh_from_db()
    assert automation.status == status and list(automation.steps.values_list("pk", flat=True)) == steps


def test_an_update_that_asks_for_an_active_automation_without_steps_is_a_400(api_client, account):
    automation = make_automation(account, [wait(60)], status="paused")
    response = put(api_client, f"/v3/automations/{automation.pk}", {"status": "active", "steps": []})
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_parameter",
        "message": "steps: An active automation needs at least one step.",
    }
    assert automation.steps.count() == 1


@pytest.mark.parametrize("conditions", [None, {}, "absent"])
def test_null_empty_or_no_conditions_all_mean_no_condition(api_client, account, conditions):
    trigger = {"event": "listAddition", "type": "marketing"}
    if conditions != "absent":
        trigger["conditions"] = conditions
    automation_id = post(api_client, "/v3/automations", body(trigger=trigger)).json()["id"]
    automation = Automation.objects.get(pk=automation_id)
    assert (automation.condition, automation.condition_attribute, automation.condition_value) == ("", "", "")
    assert api_client.get(f"/v3/automations/{automation_id}").json()["trigger"]["conditions"] == {}
    emit(account, [added_to_list("jane@example.com", 8)])  # any list starts it
    assert Run.objects.filter(automation=automation).count() == 1


def test_an_update_may_send_a_step_back_as_get_shows_it(api_client, account):
    automation = make_automation(account, [call(HOOK, contact=True)])
    [shown] = api_client.get(f"/v3/automations/{automation.pk}").json()["steps"]
    assert shown["enabled"] is True
    assert put(api_client, f"/v3/automations/{automation.pk}", {"steps": [shown]}).status_code == 204
    step = automation.steps.get()
    assert (step.pk, step.include_contact, step.webhook.url) == (shown["id"], True, HOOK)


def test_another_accounts_automation_is_a_404_and_stays_as_it_is(stranger_api_client, account):
    automation = make_automation(account, [call(HOOK)])
    for method, path, data in [
        ("get", f"/v3/automations/{automation.pk}", None),
        ("put", f"/v3/automations/{automation.pk}", {"name": "Mine now"}),
        ("delete", f"/v3/automations/{automation.pk}", None),
        ("get", f"/v3/automations/{automation.pk}/runs", None),
    ]:
        kwargs = {"data": json.dumps(data), "content_type": JSON} if data else {}
        response = getattr(stranger_api_client, method)(path, **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"code": "document_not_found", "message": "Automation not found"}
    assert stranger_api_client.get("/v3/automations").json() == {"automations": []}
    assert Automation.objects.get().name == "Welcome" and Webhook.objects.count() == 1


def test_without_a_key_the_api_answers_401(client):
    response = client.get("/v3/automations")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_the_webhooks_of_automation_steps_are_not_in_the_webhooks_api(api_client, account, make_webhook):
    mine = make_webhook()
    automation = make_automation(account, [call(HOOK)])
    hidden = automation.steps.get().webhook
    listed = api_client.get("/v3/webhooks?type=marketing").json()["webhooks"]
    listed += api_client.get("/v3/webhooks?type=transactional").json()["webhooks"]
    assert [w["id"] for w in listed] == [mine.pk]
    for path in [
        f"/v3/webhooks/{hidden.pk}",
        f"/v3/webhooks/{hidden.pk}/secret",
        f"/v3/webhooks/{hidden.pk}/deliveries",
    ]:
        assert api_client.get(path).status_code == 404, path
    assert put(api_client, f"/v3/webhooks/{hidden.pk}", {"events": ["delivered"]}).status_code == 404
    assert api_client.delete(f"/v3/webhooks/{hidden.pk}").status_code == 404
    assert not hidden.subscriptions.exists() and Webhook.objects.filter(pk=hidden.pk).exists()


def test_the_openapi_description_has_the_automations_api(client):
    schema = client.get("/v3/openapi.json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "getAutomations", "createAutomation", "getAutomation", "updateAutomation", "deleteAutomation",
        "getAutomationRuns",
    } <= operations  # fmt: skip
    assert "/v3/automations/{automationId}/runs" in schema["paths"]
    step = schema["components"]["schemas"]["StepRequest"]
    assert step["discriminator"]["mapping"].keys() == {"wait", "webhook"}


def as_json_schema(node: object) -> object:
    """An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes "or null"."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


def request_schema(component: str) -> jsonschema.Draft4Validator:
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]
    return jsonschema.Draft4Validator(
        {"$ref": f"#/components/schemas/{component}", "components": as_json_schema(components)}
    )


TRIGGER_NAMES = sorted({name for type in catalog.TYPE_LABELS for name in catalog.subscription_names(type)} | {"nope"})
CONDITIONS = [
    "absent", None, {}, {"listId": 7}, {"linkContains": "sale"}, {"tag": "welcome"},
    {"attribute": "PLAN", "value": "pro"}, {"attribute": "PLAN", "value": ""}, {"listId": 7, "tag": "x"},
    {"value": "x"}, {"attribute": "PLAN"}, {"listId": 0}, {"listId": "7"}, {"Tag": "x"},
    # Text that is only what str.strip() removes is blank; a zero-width no-break space is not.
    {"tag": " \u3000"}, {"attribute": "\t", "value": "x"}, {"linkContains": "\x1c\x85"}, {"tag": "\ufeff"},
]  # fmt: skip


def test_the_description_of_a_trigger_allows_exactly_what_the_api_accepts(db):
    """Every event of both types (and aliases, and one that is not), with every kind of condition:
    the OpenAPI description and the validation agree on each (the fuzz test skips this body's
    coverage phase, whose boundaries take minutes)."""
    schema = request_schema("AutomationCreateRequest")
    disagreements, accepted = [], 0
    for type in ["absent", *catalog.TYPE_LABELS]:
        for name in TRIGGER_NAMES:
            for conditions in CONDITIONS:
                trigger: dict[str, object] = {"event": name}
                if type != "absent":
                    trigger["type"] = type
                if conditions != "absent":
                    trigger["conditions"] = conditions
                document = {"name": "Welcome", "trigger": trigger}
                valid = AutomationCreateSerializer(data=document, context={"steps": {}}).is_valid()
                accepted += valid
                if valid != schema.is_valid(document):
                    disagreements.append((trigger, valid))
    assert not disagreements, disagreements
    assert accepted > 100


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"name": "A", "trigger": {"event": "sent"}, "status": "active"}, False),
        ({"name": "A", "trigger": {"event": "sent"}, "status": "active", "steps": []}, False),
        (
            {"name": "A", "trigger": {"event": "sent"}, "status": "active", "steps": [{"type": "wait", "seconds": 1}]},
            True,
        ),
        ({"name": "A", "trigger": {"event": "sent"}, "status": "paused"}, True),
        ({"name": "A", "trigger": {"event": "sent"}, "extra": 1}, False),
        ({"name": "A", "trigger": {"event": "sent"}, "steps": [{"type": "wait", "seconds": 1, "id": 5}]}, False),
        ({"name": "A", "trigger": {"event": "sent"}, "steps": [{"type": "webhook", "url": HOOK, "x": 1}]}, False),
        ({"name": "A", "trigger": {"event": "sent"}, "steps": [{"type": "webhook", "url": "hook"}]}, False),
    ],
)
def test_the_description_of_a_create_allows_what_the_api_accepts(db, document, valid):
    assert AutomationCreateSerializer(data=document, context={"steps": {}}).is_valid() is valid
    assert request_schema("AutomationCreateRequest").is_valid(document) is valid


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"status": "active"}, True),  # the automation's own steps: a 409 if it has none
        ({"status": "active", "steps": []}, False),
        ({"steps": []}, True),  # a 409 if the automation is active
        ({"steps": [{"type": "webhook", "url": HOOK, "id": 5, "enabled": False}]}, True),
        ({"steps": [{"type": "wait", "seconds": 5, "enabled": False}]}, False),
        ({"nmae": "A"}, False),
    ],
)
def test_the_description_of_an_update_allows_what_the_api_accepts(db, document, valid):
    serializer = AutomationUpdateSerializer(data=document, context={"steps": {}})
    try:
        accepted = serializer.is_valid()
    except Conflict:
        accepted = True  # the body is right; the automation (here without steps) refuses it
    assert accepted is valid
    assert request_schema("AutomationUpdateRequest").is_valid(document) is valid


def conforms(response: object, operation_id: str) -> None:
    """Raises unless `response` (of the test client) is one the OpenAPI description documents."""
    operation = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    request = requests.Request("GET", f"http://testserver{response.request['PATH_INFO']}").prepare()
    answer = SchemathesisResponse(
        response.status_code, {"content-type": [response["Content-Type"]]}, response.content, request, 0.0, True
    )
    operation.find_operation_by_id(operation_id).validate_response(answer)


def test_every_answer_is_the_one_the_description_documents(api_client, account):
    automation = make_automation(
        account,
        [call(HOOK, auth_token="tok-1", headers=[{"key": "X-Tenant", "value": ""}]), wait(3600)],
        condition="listId",
        value="7",
    )
    make_automation(account, [], event="contactUpdated", condition="attribute", attribute="PLAN", value="pro")
    make_automation(account, [wait(5)], event="click", type="transactional", condition="tag", value="x", status="draft")
    emit(account, [added_to_list("jane@example.com", 7, contact_id=4711), added_to_list("joe@example.com", 7)])
    Run.objects.filter(email="joe@example.com").update(status=Run.Status.DONE, finished_at=timezone.now())

    conforms(api_client.get("/v3/automations"), "getAutomations")
    conforms(api_client.get(f"/v3/automations/{automation.pk}"), "getAutomation")
    for status in Delivery.Status.values:  # a call is a delivery, in any of its states
        Delivery.objects.filter(event=AUTOMATION_EVENT).update(status=status)
        runs = api_client.get(f"/v3/automations/{automation.pk}/runs")
        assert {call["status"] for run in runs.json()["runs"] for call in run["calls"]} == {status}
        conforms(runs, "getAutomationRuns")


def test_the_blank_text_the_description_refuses_is_what_the_api_strips():
    # The conditions' texts are stripped with str.strip(); the description lists what it removes.
    blank = re.compile(f"[{automation_schema.WHITESPACE}]")
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if blank.fullmatch(c)] == [
        c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()
    ]
