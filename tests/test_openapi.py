"""The OpenAPI description, the offline docs pages, and a schema-driven fuzz run."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.automation_world import call as call_step
from tests.automation_world import make_automation, wait

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


@pytest.mark.parametrize("path", ["/v3/docs"])
def test_the_docs_pages_load_everything_from_our_own_static_files(client: Client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by us (no CDN, works offline)"
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "cdn" not in html.lower()


def operations() -> list[schemathesis.specs.openapi.schemas.APIOperation]:
    schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    mode, live_server, api_key, account, make_webhook, redis, transactional_db
):
    """Schema-driven fuzzing of every operation, with data that fits the schema and data that does not.

    (schemathesis' own pytest plugin does not run under pytest 9, so the strategies are driven here.)
    """
    session = requests.Session()

    for operation in operations():

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            if "webhookId" in (case.path_parameters or {}) and not case.path.endswith("/test"):
                # Aim most requests at a real webhook of the caller's account rather than at 404s.
                case.path_parameters["webhookId"] = make_webhook().pk
            if "automationId" in (case.path_parameters or {}):
                case.path_parameters["automationId"] = make_automation(account, [wait(60), call_step(HOOK)]).pk
            response = case.call(base_url=live_server.url, headers={"api-key": api_key}, session=session, timeout=30)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
            if response.status_code >= 400 and response.headers.get("Content-Type") == "application/json":
                assert set(response.json()) == {"code", "message"}

        call()
