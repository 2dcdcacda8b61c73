"""The /v3 webhooks API with Django's test client: Brevo's answers, errors and isolation."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from accounts.models import ApiKey
from webhooks.models import Subscription, Webhook

JSON = "application/json"


def post(client: Client, path: str, body: object) -> object:
    return client.post(path, json.dumps(body), content_type=JSON)


def put(client: Client, path: str, body: object) -> object:
    return client.put(path, json.dumps(body), content_type=JSON)


def test_create_answers_201_with_the_id_and_stores_every_field(api_client, account):
    response = post(
        api_client,
        "/v3/webhooks",
        {
            "url": "https://example.com/hook",
            "description": "CRM",
            "events": ["request", "hardBounce", "proxyOpen", "error"],
            "type": "transactional",
            "batched": True,
            "auth": {"type": "bearer", "token": "tok"},
            "headers": [{"key": "X-Tenant", "value": "acme"}],
            "channel": "email",
        },
    )
    assert response.status_code == 201
    webhook = Webhook.objects.get(pk=response.json()["id"])
    assert response.json() == {"id": webhook.pk}
    assert webhook.account == account
    assert webhook.event_names() == ["sent", "proxyOpen", "hardBounce", "error"]
    assert (webhook.batched, webhook.auth_token, webhook.headers) == (
        True,
        "tok",
        [{"key": "X-Tenant", "value": "acme"}],
    )


def test_create_defaults_are_brevos(api_client):
    response = post(api_client, "/v3/webhooks", {"url": "https://example.com/hook", "events": ["delivered"]})
    body = api_client.get(f"/v3/webhooks/{response.json()['id']}").json()
    assert body["type"] == "transactional"
    assert body["batched"] is False
    assert body["channel"] == "email"
    assert body["description"] == ""
    assert body["auth"] is None
    assert body["headers"] == []


def test_get_answers_brevos_fields_and_time_format(api_client, make_webhook):
    webhook = make_webhook(description="d", events=("delivered", "click"))
    body = api_client.get(f"/v3/webhooks/{webhook.pk}").json()
    assert set(body) == {
        "id", "url", "description", "events", "type", "batched", "auth", "headers", "channel", "createdAt", "modifiedAt"
    }  # fmt: skip
    assert body["events"] == ["delivered", "click"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["createdAt"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["modifiedAt"])


def test_list_defaults_to_transactional_newest_first(api_client, make_webhook):
    first = make_webhook(url="https://example.com/1")
    second = make_webhook(url="https://example.com/2")
    make_webhook(url="https://example.com/m", type="marketing", events=("opened",))

    listed = api_client.get("/v3/webhooks").json()["webhooks"]
    assert [w["id"] for w in listed] == [second.pk, first.pk]
    ascending = api_client.get("/v3/webhooks?sort=asc").json()["webhooks"]
    assert [w["id"] for w in ascending] == [first.pk, second.pk]
    marketing = api_client.get("/v3/webhooks?type=marketing").json()["webhooks"]
    assert [w["url"] for w in marketing] == ["https://example.com/m"]
    assert api_client.get("/v3/webhooks?type=inbound").json() == {"webhooks": []}


@pytest.mark.parametrize("query", ["type=sms", "sort=up", "type=", "sort=DESC"])
def test_list_refuses_unknown_filters(api_client, query):
    response = api_client.get(f"/v3/webhooks?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"


def test_update_answers_204_and_changes_only_what_is_given(api_client, make_webhook):
    webhook = make_webhook(description="old", auth_token="keep-me")
    response = put(api_client, f"/v3/webhooks/{webhook.pk}", {"events": ["click"], "description": "new"})
    assert response.status_code == 204
    assert response.content == b""
    webhook.refresh_from_db()
    assert (webhook.description, webhook.event_names(), webhook.auth_token) == ("new", ["click"], "keep-me")


def test_update_keeps_secrets_sent_back_masked(api_client, make_webhook):
    webhook = make_webhook(url="https://bob:pw@example.com/hook", auth_token="tok")
    shown = api_client.get(f"/v3/webhooks/{webhook.pk}").json()
    assert put(api_client, f"/v3/webhooks/{webhook.pk}", shown | {"description": "x"}).status_code == 204
    webhook.refresh_from_db()
    assert (webhook.url, webhook.auth_token, webhook.description) == ("https://bob:pw@example.com/hook", "tok", "x")
    assert put(api_client, f"/v3/webhooks/{webhook.pk}", {"auth": None}).status_code == 204
    webhook.refresh_from_db()
    assert webhook.auth_token == ""


def test_the_type_cannot_change(api_client, make_webhook):
    webhook = make_webhook()
    response = put(api_client, f"/v3/webhooks/{webhook.pk}", {"type": "marketing", "events": ["listAddition"]})
    assert response.status_code == 400
    assert "cannot change" in response.json()["message"]
    webhook.refresh_from_db()
    assert (webhook.type, webhook.event_names()) == ("transactional", ["delivered", "hardBounce"])
    assert put(api_client, f"/v3/webhooks/{webhook.pk}", {"type": "transactional"}).status_code == 204


def test_delete_answers_204(api_client, make_webhook):
    webhook = make_webhook()
    assert api_client.delete(f"/v3/webhooks/{webhook.pk}").status_code == 204
    assert not Webhook.objects.filter(pk=webhook.pk).exists()
    assert api_client.delete(f"/v3/webhooks/{webhook.pk}").json()["code"] == "document_not_found"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"events": ["delivered"]}, "missing_parameter", "url: "),
        ({"url": "https://example.com/h"}, "missing_parameter", "events: "),
        ({"url": 42, "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://example.com/h", "events": "delivered"}, "invalid_parameter", "events: "),
        ({"url": "https://example.com/h", "events": []}, "invalid_parameter", "events: "),
        ({"url": "https://example.com/h", "events": [1]}, "invalid_parameter", "events"),
        (
            {"url": "https://example.com/h", "events": ["bogus"]},
            "invalid_parameter",
            "Not a transactional event: bogus",
        ),
        ({"url": "https://example.com/h", "events": ["listAddition"]}, "invalid_parameter", "Not a transactional"),
        (
            {"url": "https://example.com/h", "events": ["uniqueOpened"], "type": "marketing"},
            "invalid_parameter",
            "Not a marketing event: uniqueOpened",
        ),
        ({"url": "https://example.com/h", "events": ["delivered"], "type": "inbound"}, "invalid_parameter", "type: "),
        ({"url": "https://example.com/h", "events": ["delivered"], "batched": "true"}, "invalid_parameter", "batched"),
        ({"url": "https://example.com/h", "events": ["delivered"], "description": 5}, "invalid_parameter", "descr"),
        ({"url": "https://example.com/h", "events": ["delivered"], "auth": "tok"}, "invalid_parameter", "auth"),
        (
            {"url": "https://example.com/h", "events": ["delivered"], "auth": {"type": "basic", "token": "x"}},
            "invalid_parameter",
            "auth.type",
        ),
        (
            {"url": "https://example.com/h", "events": ["delivered"], "auth": {"type": "bearer", "token": "a b"}},
            "invalid_parameter",
            "auth.token",
        ),
        ({"url": "https://example.com/h", "events": ["delivered"], "headers": {"a": "b"}}, "invalid_parameter", "hea"),
        ({"url": "https://example.com/h", "events": ["delivered"], "channel": "sms"}, "invalid_parameter", "channel"),
        ({"url": "not a url", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://exa mple.com/", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://example.com/\u0000", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://[::1/", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://example.com:99999/", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://\u2603\u200b.invalid\ud800/", "events": ["delivered"]}, "invalid_parameter", "url"),
        ({"url": "https://example.com/" + "a" * 3000, "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://example.com/a{b}", "events": ["delivered"]}, "invalid_parameter", "percent-encoded"),
        ({"url": "https://example.com/a#b#c", "events": ["delivered"]}, "invalid_parameter", "percent-encoded"),
        ({"url": "https://example.com/%zz", "events": ["delivered"]}, "invalid_parameter", "percent-encoded"),
        ({"url": " https://example.com/", "events": ["delivered"]}, "invalid_parameter", "url: "),
        ({"url": "https://example.com/h", "events": [" delivered"]}, "invalid_parameter", "events"),
        (
            {"url": "https://example.com/h", "events": ["delivered"], "description": "x" * 255 + " "},
            "invalid_parameter",
            "description",
        ),
    ],
)
def test_every_invalid_create_is_a_400_with_brevos_codes_and_nothing_saved(api_client, body, code, message):
    response = post(api_client, "/v3/webhooks", body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert message in response.json()["message"]
    assert not Webhook.objects.exists()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        {"key": "Host", "value": "evil.test"},
        {"key": "content-length", "value": "0"},
        {"key": "Content-Type", "value": "text/plain"},
        {"key": "Authorization", "value": "Basic x"},
        {"key": "webhook-signature", "value": "v1,forged"},
        {"key": "Transfer-Encoding", "value": "chunked"},
        {"key": "User-Agent", "value": "x"},
        {"key": "Connection", "value": "close"},
        {"key": "X-Bad\nName", "value": "x"},
        {"key": "X-Bad-Value", "value": "a\r\nInjected: yes"},
        {"key": "X-Unicode", "value": "caf\u00e9"},
        {"key": "X-Control", "value": "abc\u001f"},
        {"key": " X-Space", "value": "x"},
    ],
)
def test_reserved_or_malformed_headers_are_refused(api_client, make_webhook, header):
    response = post(
        api_client, "/v3/webhooks", {"url": "https://e.com/h", "events": ["delivered"], "headers": [header]}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("headers")
    webhook = make_webhook()
    assert put(api_client, f"/v3/webhooks/{webhook.pk}", {"headers": [header]}).status_code == 400
    webhook.refresh_from_db()
    assert webhook.headers == []


def test_the_41st_webhook_is_a_400(api_client, make_webhook):
    for n in range(40):
        make_webhook(url=f"https://example.com/{n}")
    response = post(api_client, "/v3/webhooks", {"url": "https://example.com/41", "events": ["delivered"]})
    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": "You can create up to 40 webhooks. Delete one to add a new one.",
    }
    assert Webhook.objects.count() == 40


def test_an_invalid_update_changes_nothing(api_client, make_webhook):
    webhook = make_webhook(description="before")
    response = put(api_client, f"/v3/webhooks/{webhook.pk}", {"description": "after", "events": ["bogus"]})
    assert response.status_code == 400
    webhook.refresh_from_db()
    assert (webhook.description, webhook.event_names()) == ("before", ["delivered", "hardBounce"])


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b'{"url": NaN}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        ("[" * 30 + "]" * 30).encode(),
        json.dumps(
            {"url": "https://e.com/h", "events": ["delivered"], "x": [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]}
        ).encode(),
        b'"just a string"',
        b"[]",
        b"null",
    ],
)
def test_malformed_bodies_are_a_400(api_client, make_webhook, raw):
    webhook = make_webhook()
    for response in (
        api_client.post("/v3/webhooks", raw, content_type=JSON),
        api_client.put(f"/v3/webhooks/{webhook.pk}", raw, content_type=JSON),
        api_client.post("/v3/webhooks/export", raw, content_type=JSON),
    ):
        assert response.status_code == 400, raw[:20]
        assert set(response.json()) == {"code", "message"}


def test_an_oversized_body_is_a_400(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"url": "https://example.com/h", "events": ["delivered"], "description": "x" * 20_000})
    response = api_client.post("/v3/webhooks", body, content_type=JSON)
    assert response.status_code == 400
    assert "too large" in response.json()["message"]


def test_a_body_that_is_not_json_is_a_400(api_client):
    response = api_client.post("/v3/webhooks", "url=https://e.com", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/v3/webhooks/123456789012345678901234567890", "/v3/webhooks/abc", "/v3/nothing"])
def test_unknown_paths_and_ids_are_404_document_not_found(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"


def test_an_unsupported_method_is_405(api_client):
    response = api_client.patch("/v3/webhooks", "{}", content_type=JSON)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("key", [None, "", "xkeysib-wrong", "caf\u00e9", "x" * 5000])
def test_a_missing_or_wrong_key_is_a_401(db, key):
    client = Client() if key is None else Client(HTTP_API_KEY=key)
    for response in (client.get("/v3/webhooks"), client.post("/v3/webhooks", "{}", content_type=JSON)):
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_a_revoked_key_is_a_401(api_client, api_key):
    ApiKey.objects.authenticate(api_key).revoke()
    assert api_client.get("/v3/webhooks").json()["code"] == "unauthorized"


def test_using_a_key_records_when_it_was_last_used_at_most_once_a_minute(
    api_client, api_key, django_assert_num_queries
):
    key = ApiKey.objects.get()
    assert key.last_used_at is None
    api_client.get("/v3/webhooks")
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api_client.get("/v3/webhooks")
    key.refresh_from_db()
    assert key.last_used_at == first


def stranger_calls(webhook_id: int) -> list[tuple[str, str, object]]:
    return [
        ("get", f"/v3/webhooks/{webhook_id}", None),
        ("put", f"/v3/webhooks/{webhook_id}", {"description": "pwned"}),
        ("delete", f"/v3/webhooks/{webhook_id}", None),
        ("get", f"/v3/webhooks/{webhook_id}/secret", None),
        ("post", f"/v3/webhooks/{webhook_id}/secret/rotate", None),
        ("post", f"/v3/webhooks/{webhook_id}/test", {"event": "delivered"}),
        ("get", f"/v3/webhooks/{webhook_id}/deliveries", None),
        ("post", f"/v3/webhooks/{webhook_id}/deliveries/1/retry", None),
        ("post", f"/v3/webhooks/{webhook_id}/deliveries/retry", {"since": "2020-01-01T00:00:00Z"}),
    ]


def test_a_stranger_gets_404_for_every_call_on_another_accounts_webhook(stranger_api_client, make_webhook):
    webhook = make_webhook(description="mine")
    secret = webhook.signing_secret
    for method, path, body in stranger_calls(webhook.pk):
        if body is None:
            response = getattr(stranger_api_client, method)(path)
        else:
            response = getattr(stranger_api_client, method)(path, json.dumps(body), content_type=JSON)
        assert response.status_code == 404, path
        assert response.json()["code"] == "document_not_found"
    webhook.refresh_from_db()
    assert (webhook.description, webhook.signing_secret) == ("mine", secret)
    assert not webhook.deliveries.exists()


def test_a_stranger_does_not_see_another_accounts_webhooks_in_the_list(stranger_api_client, make_webhook):
    make_webhook()
    assert stranger_api_client.get("/v3/webhooks").json() == {"webhooks": []}


def test_a_stranger_cannot_export_another_accounts_webhook(stranger_api_client, make_webhook):
    webhook = make_webhook()
    body = {"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", "webhookId": webhook.pk}
    response = post(stranger_api_client, "/v3/webhooks/export", body)
    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"


def test_the_secret_can_be_read_and_rotated(api_client, make_webhook):
    webhook = make_webhook()
    body = api_client.get(f"/v3/webhooks/{webhook.pk}/secret").json()
    assert body == {"secret": webhook.signing_secret, "previousSecret": None, "previousSecretExpiresAt": None}

    rotated = api_client.post(f"/v3/webhooks/{webhook.pk}/secret/rotate").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != body["secret"]
    assert rotated["previousSecret"] == body["secret"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rotated["previousSecretExpiresAt"])
    # Answers that hold a secret are kept by no cache.
    assert api_client.get(f"/v3/webhooks/{webhook.pk}/secret")["Cache-Control"] == "no-store"
    assert api_client.post(f"/v3/webhooks/{webhook.pk}/secret/rotate")["Cache-Control"] == "no-store"


def test_a_test_send_needs_an_event_of_the_webhooks_type(api_client, make_webhook):
    webhook = make_webhook()
    for body in ({}, {"event": "listAddition"}, {"event": 3}):
        response = post(api_client, f"/v3/webhooks/{webhook.pk}/test", body)
        assert response.status_code == 400
    assert not webhook.deliveries.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"event": "allEvents", "notifyURL": "https://e.com/n"}, "type: "),
        ({"type": "transactional", "notifyURL": "https://e.com/n"}, "event: "),
        ({"type": "transactional", "event": "allEvents"}, "notifyURL: "),
        ({"type": "transactional", "event": "listAddition", "notifyURL": "https://e.com/n"}, "event: "),
        ({"type": "transactional", "event": "allEvents", "notifyURL": "ftp://e.com/n"}, "notifyURL: "),
        ({"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", "days": "7"}, "days: "),
        ({"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", "days": 0}, "days: "),
        (
            {"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", "startDate": "2026-01-01"},
            "startDate",
        ),
        (
            {
                "type": "transactional",
                "event": "allEvents",
                "notifyURL": "https://e.com/n",
                "startDate": "2026-02-01",
                "endDate": "2026-01-01",
            },
            "endDate",
        ),
        (
            {"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", "startDate": "01/02/2026"},
            "startDate",
        ),
    ],
)
def test_an_invalid_export_is_a_400(api_client, body, message):
    response = post(api_client, "/v3/webhooks/export", body)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_the_deliveries_list_pages_and_filters(api_client, make_webhook):
    webhook = make_webhook()
    for n in range(3):
        webhook.deliveries.create(event="delivered", payload={"n": n}, status="failed" if n else "succeeded")
    body = api_client.get(f"/v3/webhooks/{webhook.pk}/deliveries?limit=2").json()
    assert body["count"] == 3
    assert len(body["deliveries"]) == 2
    assert body["deliveries"][0]["messageId"].startswith("msg_")
    failed = api_client.get(f"/v3/webhooks/{webhook.pk}/deliveries?status=failed").json()
    assert failed["count"] == 2
    for query in ("limit=0", "limit=x", "offset=-1", "status=bogus", "limit=\u00b2"):
        assert api_client.get(f"/v3/webhooks/{webhook.pk}/deliveries?{query}").status_code == 400


def test_a_failed_delivery_can_be_retried_through_the_api(api_client, make_webhook, redis):
    webhook = make_webhook()
    failed = webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="failed")
    done = webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="succeeded")
    response = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{failed.pk}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    failed.refresh_from_db()
    assert failed.status == "pending"
    refused = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{done.pk}/retry")
    assert refused.status_code == 409 and "this one is succeeded" in refused.json()["message"]


def test_a_delivery_waiting_for_its_next_attempt_can_be_retried_now_through_the_api(api_client, make_webhook, redis):
    from datetime import timedelta

    from django.utils import timezone

    webhook = make_webhook()
    later = timezone.now() + timedelta(minutes=29)
    waiting = webhook.deliveries.create(
        event="delivered", payload={"event": "delivered"}, status="pending", attempt_count=1, next_attempt_at=later
    )
    fresh = webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="pending")
    response = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{waiting.pk}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    waiting.refresh_from_db()
    assert waiting.next_attempt_at <= timezone.now()
    refused = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{fresh.pk}/retry")
    assert refused.status_code == 409 and "this one is pending" in refused.json()["message"]


def test_retry_failed_since_counts_what_it_sends_again(api_client, make_webhook, redis):
    webhook = make_webhook()
    for _ in range(2):
        webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="failed")
    webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="succeeded")
    path = f"/v3/webhooks/{webhook.pk}/deliveries/retry"
    response = post(api_client, path, {"since": "2020-01-01T00:00:00Z"})
    assert response.status_code == 202 and response.json() == {"retried": 2}
    assert post(api_client, path, {"since": "yesterday"}).status_code == 400


def test_a_disabled_webhooks_deliveries_are_not_retried(api_client, make_webhook, redis):
    webhook = make_webhook(enabled=False)
    failed = webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="failed")
    response = api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{failed.pk}/retry")
    assert response.status_code == 409 and "disabled" in response.json()["message"]
    assert response.json()["code"] == "conflict"
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_a_stranger_cannot_retry_another_accounts_delivery(stranger_api_client, make_webhook):
    webhook = make_webhook()
    failed = webhook.deliveries.create(event="delivered", payload={"event": "delivered"}, status="failed")
    response = stranger_api_client.post(f"/v3/webhooks/{webhook.pk}/deliveries/{failed.pk}/retry")
    assert response.status_code == 404 and response.json()["code"] == "document_not_found"
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_an_unknown_event_name_with_a_percent_sign_is_a_clear_400(api_client, make_webhook):
    webhook = make_webhook()
    response = api_client.put(f"/v3/webhooks/{webhook.pk}", {"events": ["%s", "100%"]}, content_type="application/json")
    assert response.status_code == 400
    assert "%s, 100%" in response.json()["message"]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path", ["/v3/nothing", "/v3/webhooks/1/nothing", "/v3/a%0Ab", "/v3/webhooks%0A", "/v3", "/api/nothing"]
)
def test_every_unknown_api_path_answers_in_json_whatever_the_method(api_key, method, path):
    # A client that enforces CSRF as a browser would: an API answer never depends on a cookie.
    client = Client(enforce_csrf_checks=True, HTTP_API_KEY=api_key)
    response = getattr(client, method)(path)
    assert response.status_code == 404, (method, path, response.status_code)
    assert response["Content-Type"] == JSON
    assert response.json() == {"code": "document_not_found", "message": "No such API path."}


def test_a_server_error_under_the_api_answers_in_json_and_elsewhere_in_html(rf):
    from brevo_hooks import error_views

    api = error_views.server_error(rf.get("/v3/webhooks"))
    assert api.status_code == 500 and api["Content-Type"] == JSON
    assert json.loads(api.content) == {"code": "internal_error", "message": "Something went wrong on our side."}
    page = error_views.server_error(rf.get("/webhooks/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_a_bad_host_under_the_api_answers_in_json(api_key, settings):
    response = Client(HTTP_API_KEY=api_key, HTTP_HOST="evil.example").get("/v3/webhooks")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
