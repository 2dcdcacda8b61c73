"""Every door checks what comes in: /api/events, /v3 and "Simulate an event" refuse JSON that
Python parses but no database stores (NaN, Infinity, 1e400, lone surrogates, NUL, deep nesting),
with a 400 that names the field, and store nothing."""

from __future__ import annotations

import json

import pytest

from events.models import Event
from webhooks.models import Delivery, Webhook

JSON = "application/json"
DEEP = "[" * 1000 + "]" * 1000
SOMEWHAT_DEEP = "[" * 30 + "]" * 30


def raw_event(fields: str) -> bytes:
    return ('{"event": "delivered", ' + fields + "}").encode()


# (the raw JSON body sent to /api/events, the field the answer must name)
EVENTS_CASES = [
    (raw_event('"data": {"n": NaN}'), "data.n"),
    (raw_event('"data": {"n": Infinity}'), "data.n"),
    (raw_event('"data": {"n": -Infinity}'), "data.n"),
    (raw_event('"data": {"n": 1e400}'), "data.n"),
    (raw_event('"data": {"list": [1, 2, -1e999]}'), "data.list[2]"),
    (raw_event('"data": {"email": "\\ud800@example.com"}'), "data.email"),
    (raw_event('"data": {"\\udfff": 1}'), "data.\\udfff"),
    (raw_event('"id": "\\ud800"'), "id"),
    (b'{"event": "deliv\\ud800ered"}', "event"),
    (raw_event('"data": {"reason": "550\\u0000"}'), "data.reason"),
    (raw_event('"id": "a\\u0000"'), "id"),
    (raw_event('"data": {"a\\u0000": 1}'), "data.a\\x00"),
    (raw_event(f'"data": {{"deep": {DEEP}}}'), "data.deep[0]"),
    (raw_event(f'"data": {{"deep": {SOMEWHAT_DEEP}}}'), "data.deep[0]"),
    (b'[{"event": "delivered"}, ' + raw_event('"data": {"n": NaN}') + b"]", "events[1].data.n"),
    (b"[" + raw_event(f'"data": {{"x": {DEEP}}}') + b"]", "events[0].data.x[0]"),
]


@pytest.mark.parametrize(("body", "field"), EVENTS_CASES)
def test_the_events_api_refuses_unstorable_json_naming_the_field(client, api_key, make_webhook, redis, body, field):
    make_webhook(events=("delivered",))
    response = client.post("/api/events", body, content_type=JSON, HTTP_API_KEY=api_key)
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert answer["code"] == "invalid_parameter"
    assert answer["message"].split(": ", 1)[0].startswith(field), answer["message"]
    assert not Event.objects.exists() and not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ('"description": "\\ud800"', "description"),
        ('"description": "a\\u0000b"', "description"),
        ('"batched": NaN', "batched"),
        ('"headers": [{"key": "X-A", "value": 1e400}]', "headers[0].value"),
        (f'"description": {SOMEWHAT_DEEP}', "description[0]"),
        (f'"description": {DEEP}', "description[0]"),
    ],
)
def test_the_v3_api_refuses_unstorable_json_naming_the_field(api_client, fields, field):
    body = '{"url": "https://example.com/hook", "events": ["delivered"], ' + fields + "}"
    response = api_client.post("/v3/webhooks", body.encode(), content_type=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert response.json()["message"].split(": ", 1)[0].startswith(field), response.json()["message"]
    assert not Webhook.objects.exists()


def test_the_data_of_one_event_is_capped_by_a_setting(client, api_key, make_webhook, redis, settings):
    make_webhook(events=("delivered",))
    settings.EVENTS_MAX_DATA_SIZE = 1000
    small = {"event": "delivered", "data": {"reason": "x" * 900}}
    big = {"event": "delivered", "data": {"reason": "x" * 1000}}
    post = lambda body: client.post("/api/events", json.dumps(body), content_type=JSON, HTTP_API_KEY=api_key)  # noqa: E731
    assert post(small).status_code == 202
    response = post([small, big])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert response.json()["message"].startswith("events[1].data: ")
    assert "1000 bytes" in response.json()["message"]
    assert Event.objects.count() == 1


def test_the_data_cap_is_256_kib_by_default(settings):
    assert settings.EVENTS_MAX_DATA_SIZE == 256 * 1024


def test_the_events_api_body_limit_is_sized_for_1000_events_and_answers_like_v3(client, api_key, settings):
    assert settings.EVENTS_MAX_BODY_SIZE >= 1000 * 4096
    settings.EVENTS_MAX_BODY_SIZE = 10_000
    body = json.dumps([{"event": "delivered", "data": {"reason": "x" * 100}}] * 100)
    response = client.post("/api/events", body, content_type=JSON, HTTP_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": "The request body is too large (at most 10000 bytes).",
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"n": NaN}', "n"),
        ('{"n": 1e400}', "n"),
        ('{"reason": "\\ud800"}', "reason"),
        ('{"reason": "a\\u0000"}', "reason"),
        ('{"deep": ' + DEEP + "}", "deep[0]"),
    ],
)
def test_simulate_an_event_refuses_unstorable_json_next_to_the_field(owner_client, make_webhook, data, field):
    make_webhook(events=("click",))
    response = owner_client.post(
        "/events/simulate/", {"event": "transactional:click", "email": "sam@example.com", "data": data}
    )
    assert response.status_code == 400
    [error] = response.context["form"].errors["data"]
    assert error.split(": ", 1)[0].startswith(field), error
    assert not Event.objects.exists()


def test_simulate_an_event_respects_the_data_cap(owner_client, make_webhook, settings):
    make_webhook(events=("click",))
    settings.EVENTS_MAX_DATA_SIZE = 1000
    response = owner_client.post(
        "/events/simulate/",
        {"event": "transactional:click", "email": "sam@example.com", "data": json.dumps({"x": "y" * 2000})},
    )
    assert response.status_code == 400
    assert "1000 bytes" in response.context["form"].errors["data"][0]
    assert not Event.objects.exists()
