"""The OpenAPI description, the offline docs pages, and a schema-driven fuzz run."""

from __future__ import annotations

import json
import os
import re

import jsonschema
import pytest
import schemathesis
import schemathesis.engine
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import events
from schemathesis.generation.meta import TestPhase

import catalog
from automations.models import Step
from tests.automation_world import call as call_step
from tests.automation_world import make_automation, wait
from webhooks.models import MASK, Webhook

HOOK = "https://example.com/hook"


def test_the_openapi_description_is_served_and_valid(client: Client):
    response = client.get("/v3/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "getWebhooks", "createWebhook", "getWebhook", "updateWebhook", "deleteWebhook", "exportWebhooksHistory",
        "getWebhookSecret", "rotateWebhookSecret", "sendTestWebhook", "getWebhookDeliveries",
        "getAutomations", "createAutomation", "getAutomation", "updateAutomation", "deleteAutomation",
        "getAutomationRuns",
    } <= operations  # fmt: skip
    assert "/v3/webhooks/{webhookId}" in schema["paths"]
    assert "/v3/webhooks/{webhook_id}" not in schema["paths"]
    assert schema["components"]["securitySchemes"]["api-key"] == {"type": "apiKey", "in": "header", "name": "api-key"}


def test_the_description_covers_the_events_api_and_is_as_strict_as_the_validation(client: Client):
    from webhooks.models import Delivery

    schema = client.get("/v3/openapi.json").json()
    components = schema["components"]["schemas"]
    events = schema["paths"]["/api/events"]["post"]
    assert events["operationId"] == "reportEvents" and events["requestBody"]["required"]
    assert events["security"] == [{"api-key": []}]
    one_or_many = events["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert one_or_many[1]["minItems"] == 1 and one_or_many[1]["maxItems"] == 1000
    for variant in components["WebhookCreateRequest"]["oneOf"]:
        assert variant["properties"]["events"]["minItems"] == 1
        assert variant["properties"]["url"]["format"] == "uri" and variant["properties"]["url"]["pattern"]
        type = variant["properties"]["type"]["enum"][0]
        assert set(variant["properties"]["events"]["items"]["enum"]) == set(catalog.subscription_names(type))
    for variant in components["ExportRequest"]["oneOf"]:
        assert variant["properties"]["notifyURL"]["format"] == "uri"
    assert components["DeliveryStatusEnum"]["enum"] == Delivery.Status.values  # the status of a Delivery, all seven
    assert components["Delivery"]["properties"]["status"] == {"$ref": "#/components/schemas/DeliveryStatusEnum"}


@pytest.mark.parametrize("path", ["/v3/docs"])
def test_the_docs_pages_load_everything_from_our_own_static_files(client: Client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        if asset.startswith(path + "?"):  # the start-up script, a file of its own (no inline script)
            script = client.get(asset)
            assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
            assert '"validatorUrl": null' in script.content.decode()  # no badge fetched from swagger.io
            continue
        assert asset.startswith("/static/"), f"{asset} is not served by us (no CDN, works offline)"
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "cdn" not in html.lower()
    assert "<style" not in html and "<script>" not in html  # nothing inline: the Content-Security-Policy


def component(described: dict, name: str) -> jsonschema.Draft4Validator:
    """A validator of one component of the description (OpenAPI 3.0's schemas are JSON Schema draft 4's)."""
    return jsonschema.Draft4Validator({"$ref": f"#/components/schemas/{name}", "components": described["components"]})


def test_what_get_shows_an_update_may_send_back_by_the_description_too(
    client: Client, api_client, make_webhook, account
):
    # GET masks a URL's password and the token; sent back, they keep the stored ones (tests/test_api.py,
    # tests/test_automation_api.py). A client that checks its requests against the description must
    # be able to send them: the update's patterns take the mask, the create's do not.
    described = client.get("/v3/openapi.json").json()
    webhook = make_webhook(url="https://bob:pw@example.com/hook", auth_token="tok")
    shown = api_client.get(f"/v3/webhooks/{webhook.pk}").json()
    assert (shown["url"], shown["auth"]["token"]) == ("https://bob:••••••@example.com/hook", "••••••")
    fields = ("url", "description", "events", "type", "batched", "auth", "headers", "channel")
    component(described, "WebhookUpdateRequest").validate({field: shown[field] for field in fields})
    automation = make_automation(
        account, [wait(60), call_step("https://ann:s3cret@example.com/hook", auth_token="tok-1")]
    )
    steps = api_client.get(f"/v3/automations/{automation.pk}").json()["steps"]
    assert steps[1]["url"] == "https://ann:••••••@example.com/hook"
    component(described, "AutomationUpdateRequest").validate({"steps": steps})

    create = described["components"]["schemas"]["WebhookCreateRequest"]["oneOf"][0]["properties"]
    assert not re.search(create["url"]["pattern"], shown["url"])
    assert not re.search(described["components"]["schemas"]["AuthRequest"]["properties"]["token"]["pattern"], "••••••")


# Rules the schema cannot state, because they relate two fields or depend on stored state. The
# operations' descriptions say them; positive cases that break them are not generated.
def breaks_a_cross_field_rule(case: schemathesis.Case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    if MASK in json.dumps(body, ensure_ascii=False, default=str):
        return True  # a masked password or token is taken back only where it stands for a stored one
    if case.operation.path == "/v3/webhooks/export":
        dates = [body.get("startDate"), body.get("endDate")]
        if ("days" in body and any(dates)) or (any(dates) and not all(dates)):
            return True  # days, or startDate and endDate together
        return all(dates) and str(dates[1]) < str(dates[0])  # endDate before startDate
    steps = [step for step in body.get("steps") or [] if isinstance(step, dict)]
    ids = [step["id"] for step in steps if "id" in step]
    if len(ids) != len(set(ids)):
        return True  # an automation's step kept twice
    return any(has_a_header_twice(part.get("headers")) for part in [body, *steps])


def has_a_header_twice(headers: object) -> bool:
    """Whether a header name is given twice, in any case."""
    if not isinstance(headers, list):
        return False
    names = [str(h.get("key", "")).lower() for h in headers if isinstance(h, dict)]
    return len(names) != len(set(names))


def keep_real_steps(case: schemathesis.Case) -> None:
    """Aim the step ids of an automation update at the automation's own steps, of their type.

    An id the automation does not have is a 409 (a rule of stored state); a real one takes the
    update through keeping a step, its webhook and its secrets. Ids left over are dropped.
    """
    steps = case.body.get("steps") if isinstance(case.body, dict) else None
    automation_id = case.path_parameters["automationId"]
    if not isinstance(steps, list) or not isinstance(automation_id, int) or not 0 < automation_id < 2**63:
        return
    found = Step.objects.filter(automation_id=automation_id).order_by("position")
    own = {kind: [step.pk for step in found if step.kind == kind] for kind in Step.Kind.values}
    for step in steps:
        if isinstance(step, dict) and "id" in step:
            free = own.get(step.get("type"), [])
            if free:
                step["id"] = free.pop(0)
            else:
                del step["id"]


ALL_CHECKS = {
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance", "positive_data_acceptance", "negative_data_rejection", "use_after_free",
    "ensure_resource_availability", "missing_required_header", "ignored_auth", "object_level_authorization",
    "unsupported_method", "allow_header_conformance",
}  # fmt: skip
# Operations whose body must suit the type of the webhook they address.
TYPED = {("PUT", "/v3/webhooks/{webhookId}"), ("POST", "/v3/webhooks/{webhookId}/test")}


def type_of(case: schemathesis.Case) -> str:
    """The webhook type a body is for: the one it names, else the one its events belong to."""
    body = case.body if isinstance(case.body, dict) else {}
    if isinstance(body.get("type"), str) and body["type"] in catalog.TYPE_LABELS:
        return body["type"]
    names = body.get("events") if isinstance(body.get("events"), list) else [body.get("event")]
    transactional = all(catalog.get(catalog.TRANSACTIONAL, str(name)) for name in names if isinstance(name, str))
    return catalog.TRANSACTIONAL if transactional else catalog.MARKETING


def describe(recorder, case_id: str, check) -> str:
    """A failure as schemathesis reports it, with the answer that caused it."""
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction else None
    answer = f"{response.status_code} {response.content[:300]!r}" if response is not None else "no answer"
    failure = check.failure_info.failure
    phase = case.meta.phase.name if case.meta else ""
    return (
        f"{case.operation.label} ({phase}): {failure.title}\n{failure.message}\n"
        f"answer: {answer}\n{check.failure_info.code_sample}"
    )


@pytest.fixture
def fuzz_world(live_server, api_key, make_webhook, receiver, worker_process, settings, transactional_db, redis):
    """Webhooks to aim at, a worker for test sends, and room for the webhooks the fuzzer creates."""
    settings.WEBHOOKS_MAX_PER_ACCOUNT = 10_000
    worker_process(WEBHOOKS_TIMEOUT="2")
    settings.WEBHOOKS_TIMEOUT = 2.0
    return {
        type: make_webhook(url=f"{receiver.url}/{type}", type=type, events=tuple(catalog.subscription_names(type)))
        for type in catalog.TYPE_LABELS
    }


def test_schemathesis_with_all_its_checks_finds_nothing_in_both_apis(
    fuzz_world, live_server, api_key, make_webhook, account
):
    """Every phase (examples, coverage, fuzzing, stateful) and every check, response schema conformance
    included, against /v3 and /api/events; a fixed seed and few examples keep it deterministic and short.

    (schemathesis' own pytest plugin does not run under pytest 9, so its engine is driven here.)
    """
    config = SchemathesisConfig.from_dict(
        {
            "seed": int(os.environ.get("FUZZ_SEED", "20261129")),
            "base-url": live_server.url,
            "headers": {"api-key": api_key},
            "workers": 1,
            "suppress-health-check": ["all"],
            "checks": {"enabled": True},
            # The API refuses NUL in any string (PostgreSQL cannot store it); tests/test_hostile_input.py
            # proves it, so the fuzzer need not send it.
            "generation": {"max-examples": 6, "allow-x00": False, "database": "none"},
            "phases": {"stateful": {"max-steps": 20}},
            "request-timeout": 30,
            # The coverage phase draws every boundary of every field: minutes for the six big
            # bodies on two cores. Their fields get the fuzzing and stateful phases instead (and
            # the triggers of automations, tests/test_automation_api.py).
            "operations": [
                {
                    "include-operation-id": [
                        "createWebhook",
                        "updateWebhook",
                        "exportWebhooksHistory",
                        "reportEvents",
                        "createAutomation",
                        "updateAutomation",
                    ],
                    "phases": {"coverage": {"enabled": False}},
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True), config=config)

    @schema.hook
    def filter_case(context, case: schemathesis.Case) -> bool:
        positive = case.meta is None or case.meta.generation.mode.is_positive
        return not (positive and breaks_a_cross_field_rule(case))

    @schema.hook
    def map_case(context, case: schemathesis.Case) -> schemathesis.Case:
        # Aim at a real webhook rather than at 404s. A body that names events goes to a webhook of
        # their type; the stateful phase otherwise follows its links (a created webhook); a DELETE
        # gets a webhook of its own. An automation id gets a real automation of the account.
        if case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
            return case
        if "automationId" in (case.path_parameters or {}):
            try:
                if case.meta.phase.name != TestPhase.STATEFUL:
                    case.path_parameters["automationId"] = make_automation(account, [wait(60), call_step(HOOK)]).pk
                if case.method == "PUT" and case.meta.generation.mode.is_positive:
                    keep_real_steps(case)
            finally:
                connection.close()
        if "webhookId" not in (case.path_parameters or {}):
            return case
        try:
            if (case.method, case.operation.path) in TYPED:
                wanted = type_of(case)
                current = Webhook.objects.filter(pk=case.path_parameters["webhookId"]).values_list("type", flat=True)
                if list(current) != [wanted]:
                    case.path_parameters["webhookId"] = fuzz_world[wanted].pk
            elif case.meta.phase.name != TestPhase.STATEFUL:
                webhook = make_webhook() if case.method == "DELETE" else fuzz_world[catalog.TRANSACTIONAL]
                case.path_parameters["webhookId"] = webhook.pk
        finally:
            # The engine calls this hook from a thread of its own: leave no database session behind.
            connection.close()
        return case

    failures, errors, tested, ran = [], [], 0, set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested += len(event.recorder.cases)
            ran.update(check.name for checks in event.recorder.checks.values() for check in checks)
            failures += [
                describe(event.recorder, case_id, check)
                for case_id, checks in event.recorder.checks.items()
                for check in checks
                if check.failure_info is not None
            ]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(f"{getattr(event, 'label', '')}: {event.info.format()}")
    assert not errors, "\n\n".join(errors)
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(dict.fromkeys(failures))
    assert tested > 300
    assert ran == ALL_CHECKS, ALL_CHECKS - ran
