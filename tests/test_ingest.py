"""Ingest and fan-out: `emit()` and `POST /api/events`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

import catalog
from events import emit
from events.fanout import EventError, NewEvent
from events.models import Event
from webhooks.models import Delivery


def post_events(client, api_key: str | None, body: object, raw: bytes | None = None):
    headers = {"HTTP_API_KEY": api_key} if api_key else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post("/api/events", data=data, content_type="application/json", **headers)


@pytest.fixture
def api(client, api_key, redis):
    def call(body: object = None, key: str | None = api_key, raw: bytes | None = None):
        return post_events(client, key, body, raw)

    return call


def test_emit_stores_the_event_and_one_delivery_per_subscribed_enabled_webhook(account, make_webhook, redis):
    hook_a = make_webhook(url="https://a.example/hook", events=("delivered",))
    hook_b = make_webhook(url="https://b.example/hook", events=("delivered", "click"))
    make_webhook(url="https://c.example/hook", events=("click",))  # not subscribed
    make_webhook(url="https://d.example/hook", type="marketing", events=("delivered",))  # other type
    make_webhook(url="https://e.example/hook", events=("delivered",), enabled=False)

    (event,) = emit(account, [NewEvent("delivered", data={"email": "jane@example.com"})])

    deliveries = Delivery.objects.filter(event_record=event)
    assert {d.webhook for d in deliveries} == {hook_a, hook_b}
    assert all(d.status == "pending" and d.event == "delivered" for d in deliveries)


def test_the_payload_is_brevos_with_the_producers_data_over_generated_defaults(account, make_webhook, redis):
    account.time_zone = "Europe/Paris"
    account.save()
    make_webhook(events=("hardBounce",))
    when = datetime(2026, 5, 31, 14, 37, 7, 372000, tzinfo=UTC)
    data = {"email": "jane@example.com", "reason": "550 5.1.1 no such user", "tags": ["welcome"], "ts": 42}

    (event,) = emit(account, [NewEvent("hardBounce", data=data, occurred_at=when)])

    payload = Delivery.objects.get(event_record=event).payload
    assert payload["event"] == "hard_bounce"
    assert payload["email"] == "jane@example.com"
    assert payload["reason"] == "550 5.1.1 no such user"
    assert payload["date"] == "2026-05-31 16:37:07"  # the account's time zone
    assert payload["ts_event"] == 1780238227
    assert payload["ts_epoch"] == 1780238227372
    assert payload["ts"] == 42  # the producer's value wins over the generated one
    assert payload["tag"] == '["welcome"]'


def test_an_alias_is_stored_under_its_canonical_name(account, make_webhook, redis):
    make_webhook(events=("sent",))
    (event,) = emit(account, [NewEvent("request")])
    assert event.name == "sent"
    assert Delivery.objects.get(event_record=event).payload["event"] == "request"


def test_a_marketing_event_goes_to_marketing_webhooks_only(account, make_webhook, redis):
    marketing = make_webhook(type="marketing", events=("listAddition",))
    (event,) = emit(account, [NewEvent("listAddition", type="marketing", data={"list_id": [3]})])
    delivery = Delivery.objects.get(event_record=event)
    assert delivery.webhook == marketing
    assert delivery.payload["event"] == "list_addition"
    assert delivery.payload["list_id"] == [3]


def test_one_bad_event_in_a_list_stores_nothing(account, make_webhook, redis):
    make_webhook(events=("delivered",))
    with pytest.raises(EventError, match=r"events\[1\]\.event: unknown transactional event 'bogus'"):
        emit(account, [NewEvent("delivered"), NewEvent("bogus")])
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_a_repeated_idempotency_key_stores_nothing_new(account, make_webhook, redis):
    make_webhook(events=("delivered",))
    (first,) = emit(account, [NewEvent("delivered", idempotency_key="order-1")])
    (again,) = emit(account, [NewEvent("delivered", idempotency_key="order-1")])
    assert again.pk == first.pk
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_the_same_idempotency_key_twice_in_one_call_stores_one_event(account, redis):
    events = emit(account, [NewEvent("delivered", idempotency_key="k"), NewEvent("delivered", idempotency_key="k")])
    assert events[0] is events[1]
    assert Event.objects.count() == 1


def test_idempotency_keys_are_per_account(account, stranger, redis):
    emit(account, [NewEvent("delivered", idempotency_key="k")])
    emit(stranger.account, [NewEvent("delivered", idempotency_key="k")])
    assert Event.objects.count() == 2


def test_emit_hands_the_deliveries_to_redis_on_commit_for_one_job(
    account, make_webhook, redis, django_capture_on_commit_callbacks
):
    import django_rq

    make_webhook(events=("delivered",))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        emit(account, [NewEvent("delivered") for _ in range(250)])
    assert django_rq.get_queue("deliveries").count == 0  # nothing before the commit
    for callback in callbacks:
        callback()
    # The ids wait in Redis in their account's turn, for one drain job that takes them all.
    from webhooks import fairqueue

    assert len(fairqueue.waiting_ids()) == 250
    assert list(fairqueue.waiting_by_account()) == [account.pk]
    assert [job.func_name for job in django_rq.get_queue("deliveries").get_jobs()] == ["webhooks.jobs.drain"]


def test_the_api_accepts_one_event_and_answers_202_with_its_id(api, account, make_webhook):
    make_webhook(events=("delivered",))
    response = api({"event": "delivered", "type": "transactional", "data": {"email": "a@example.com"}})
    assert response.status_code == 202
    (event_id,) = response.json()["ids"]
    event = Event.objects.get(uid=event_id)
    assert event.account == account
    assert event.data == {"email": "a@example.com"}
    assert Delivery.objects.get(event_record=event).payload["email"] == "a@example.com"


def test_the_api_accepts_a_list_of_up_to_1000_events(api, make_webhook):
    plain = make_webhook(events=("delivered",))
    batched = make_webhook(events=("delivered",), batched=True)
    response = api([{"event": "delivered", "data": {"email": f"{n}@example.com"}} for n in range(1000)])
    assert response.status_code == 202
    ids = response.json()["ids"]
    assert len(ids) == 1000
    assert Event.objects.count() == 1000
    # The rows go in by many statements: each event and delivery must still match up.
    assert list(Event.objects.filter(uid__in=ids).order_by("pk").values_list("data__email", flat=True)) == [
        f"{n}@example.com" for n in range(1000)
    ]
    deliveries = Delivery.objects.select_related("event_record")
    assert deliveries.filter(webhook=plain, status="pending").count() == 1000
    assert deliveries.filter(webhook=batched, status="waiting").count() == 1000
    assert all(d.payload["email"] == d.event_record.data["email"] for d in deliveries)


def test_the_api_refuses_a_list_longer_than_1000(api):
    response = api([{"event": "delivered"}] * 1001)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_parameter",
        "message": "At most 1000 events per request; this one has 1001.",
    }
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"event": "bogus"}, 400, "invalid_parameter", "unknown transactional event 'bogus'"),
        (
            {"event": "listAddition"},
            400,
            "invalid_parameter",
            '\'listAddition\' is a marketing event: send it with "type": "marketing"',
        ),
        ({"event": "uniqueOpened", "type": "marketing"}, 400, "invalid_parameter", "is a transactional event"),
        (
            {"event": "delivered", "type": "sms"},
            400,
            "invalid_parameter",
            'type: "sms" is not a valid choice.',
        ),
        ({"type": "transactional"}, 400, "missing_parameter", "event: This field is required"),
        ({"event": "delivered", "data": [1]}, 400, "invalid_parameter", "data: must be a JSON object"),
        ({"event": "delivered", "id": {"x": 1}}, 400, "invalid_parameter", "id: must be a string"),
        ({"event": "delivered", "id": 2**64}, 400, "invalid_parameter", "id: must be a string"),
        ({"event": "delivered", "id": "k" * 256}, 400, "invalid_parameter", "id: must be at most 255 characters"),
        ({"event": "delivered", "when": 1}, 400, "invalid_parameter", "when: unknown field"),
        ([], 400, "missing_parameter", "The list of events is empty"),
        ("delivered", 400, "invalid_parameter", "The request body must be an event, a JSON object"),
        (["delivered"], 400, "invalid_parameter", "events[0]: An event is a JSON object"),
        (
            [{"event": "delivered"}, {"event": "nope"}],
            400,
            "invalid_parameter",
            "events[1].event: unknown transactional event",
        ),
    ],
)
def test_the_api_names_what_is_wrong_and_stores_nothing(api, body, status, code, message):
    response = api(body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert message in response.json()["message"]
    assert not Event.objects.exists()


def test_the_api_refuses_bad_json(api):
    response = api(raw=b'{"event": "delivered",')
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["message"].startswith("The request body is not valid JSON")


def test_the_api_refuses_a_missing_key(api):
    response = api({"event": "delivered"}, key=None)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "message": "Send your API key in the api-key header."}


def test_the_api_refuses_a_wrong_key(api):
    response = api({"event": "delivered"}, key="xkeysib-wrong")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert not Event.objects.exists()


def test_reporting_events_records_when_the_key_was_last_used(api, account):
    from accounts.models import ApiKey

    assert api({"event": "delivered"}).status_code == 202
    assert account.api_keys.get().last_used_at is not None
    assert ApiKey.objects.filter(last_used_at__isnull=True).count() == 0


def test_the_api_refuses_get(client, api_key):
    response = client.get("/api/events", HTTP_API_KEY=api_key)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_a_repeated_idempotency_key_through_the_api_returns_the_first_id(api):
    first = api({"event": "delivered", "id": "order-7"}).json()["ids"]
    again = api({"event": "delivered", "id": "order-7"})
    assert again.status_code == 202
    assert again.json()["ids"] == first
    assert Event.objects.count() == 1


def test_events_go_to_the_keys_account_only(api, stranger, make_webhook):
    make_webhook(events=("delivered",), owner=stranger.account)
    api({"event": "delivered"})
    assert not Delivery.objects.exists()


def test_the_emit_event_command_calls_emit(account, make_webhook, redis):
    from django.core.management import call_command

    make_webhook(events=("click",))
    call_command("emit_event", "click", "--account", "Acme", "--data", '{"link": "https://x.example"}')
    delivery = Delivery.objects.get()
    assert delivery.payload["link"] == "https://x.example"


def test_the_emit_event_command_explains_a_bad_event(account):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="unknown transactional event 'nope'"):
        call_command("emit_event", "nope", "--account", str(account.pk))


# emit() reads and builds before its short write transaction (events.fanout._store): what
# changes in between makes the write fail, and emit() starts again from the reads.


def _between_read_and_write(monkeypatch, change) -> None:
    """Run `change` once, after emit()'s first reads and before its write: another request, say."""
    from events import fanout

    prepare = fanout.prepare
    pending = [change]

    def prepare_then_change(*args, **kwargs):
        batch = prepare(*args, **kwargs)
        while pending:
            pending.pop()()
        return batch

    monkeypatch.setattr(fanout, "prepare", prepare_then_change)


@pytest.mark.django_db(transaction=True)
def test_an_idempotency_key_stored_by_another_request_meanwhile_is_stored_once(
    account, make_webhook, redis, monkeypatch
):
    make_webhook(events=("delivered",))
    other: list[Event] = []
    _between_read_and_write(
        monkeypatch, lambda: other.extend(emit(account, [NewEvent("delivered", idempotency_key="order-7")]))
    )

    (event,) = emit(account, [NewEvent("delivered", idempotency_key="order-7")])

    assert event.pk == other[0].pk
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_deleted_meanwhile_is_owed_nothing_and_the_event_is_stored(account, make_webhook, redis, monkeypatch):
    kept = make_webhook(url="https://kept.example/hook", events=("delivered",))
    gone = make_webhook(url="https://gone.example/hook", events=("delivered",))
    _between_read_and_write(monkeypatch, gone.delete)

    (event,) = emit(account, [NewEvent("delivered", data={"email": "jane@example.com"})])

    assert [d.webhook_id for d in Delivery.objects.filter(event_record=event)] == [kept.pk]
    assert Event.objects.count() == 1


PLAIN = [
    {"event": "delivered"},
    {"event": "hardBounce", "type": "transactional", "data": {"email": "jane@example.com"}, "id": "order-1"},
    {"event": "opened", "type": "marketing", "data": {}, "id": 42},
    {"event": "click", "id": ""},
    {"event": "delivered", "id": -(2**63)},
]
NOT_PLAIN = [
    "delivered",
    {"event": ""},
    {"event": 1},
    {"event": "deliv\x00ered"},
    {"event": "délivré"},
    {"event": "delivered", "type": "Transactional"},
    {"event": "delivered", "type": None},
    {"event": "delivered", "data": None},
    {"event": "delivered", "data": []},
    {"event": "delivered", "id": True},
    {"event": "delivered", "id": 2**63},
    {"event": "delivered", "id": 1.5},
    {"event": "delivered", "extra": 1},
]


@pytest.mark.parametrize("item", PLAIN)
def test_plain_events_read_as_the_serializer_reads_them(item):
    from events.api import EventSerializer, plain_events

    serializer = EventSerializer(data=item)
    assert serializer.is_valid(), serializer.errors
    assert plain_events([item]) == [serializer.validated_data]


@pytest.mark.parametrize("item", NOT_PLAIN)
def test_anything_not_plain_goes_to_the_serializer(item):
    from events.api import plain_events

    assert plain_events([{"event": "delivered"}, item]) is None


def test_an_event_owed_to_40_webhooks_reads_them_in_one_query(api, make_webhook, django_assert_max_num_queries):
    """The subscribers are read once, with only what emit() needs: reading a field left out
    (the URL, the headers' JSON) would cost a query per webhook."""
    for n in range(40):
        make_webhook(url=f"https://example.com/fan/{n}", events=("delivered",))
    with django_assert_max_num_queries(15) as queries:  # 11 now; a query per webhook would be 50
        assert api({"event": "delivered", "data": {"email": "jane@example.com"}}).status_code == 202
    assert Delivery.objects.count() == 40
    assert sum("webhooks_subscription" in query["sql"] for query in queries.captured_queries) == 1


def test_an_events_request_asks_only_what_it_needs(api, make_webhook, django_assert_max_num_queries):
    """Without idempotency keys nothing looks for them; an account without active automations
    is asked once whether it has any, and nothing loads their steps."""
    make_webhook(url="https://example.com/hook", events=("delivered",))
    with django_assert_max_num_queries(12) as queries:
        assert (
            api([{"event": "delivered", "data": {"email": f"j{n}@example.com"}} for n in range(3)]).status_code == 202
        )
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if sql.startswith("SELECT") and "events_event" in sql]
    assert sum("automations_automation" in sql for sql in statements) == 1
    assert not [sql for sql in statements if "automations_step" in sql]


def test_new_events_are_made_with_their_fields_in_order(account):
    """new_event() passes Event's fields by position: a field added or moved must show here."""
    from events.fanout import EVENT_FIELDS, new_event

    assert tuple(field.attname for field in Event._meta.concrete_fields) == EVENT_FIELDS
    now = timezone.now()
    kind = catalog.get(catalog.TRANSACTIONAL, "delivered")
    event = new_event(account, kind, {"email": "a@example.com"}, now, "key-1", now)
    assert (event.pk, event.account, event.type, event.name, event.data, event.idempotency_key) == (
        None, account, kind.type, "delivered", {"email": "a@example.com"}, "key-1",
    )  # fmt: skip
    assert event.uid.version == 7 and event.occurred_at == event.created_at == now and event._state.adding
