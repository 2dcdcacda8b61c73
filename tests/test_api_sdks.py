"""Brevo's own SDKs, pointed at our live test server, drive every call of the /v3 API."""

from __future__ import annotations

import csv
import io

import pytest
import requests
import sib_api_v3_sdk
from brevo import Brevo
from brevo.core.api_error import ApiError
from brevo.errors import BadRequestError, NotFoundError
from brevo.webhooks.types import CreateWebhookRequestAuth, CreateWebhookRequestHeadersItem
from sib_api_v3_sdk.rest import ApiException

from webhooks import outbound
from webhooks.models import Delivery, Export, Webhook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def brevo(live_server, api_key) -> Brevo:
    return Brevo(api_key=api_key, base_url=f"{live_server.url}/v3", max_retries=0, timeout=30)


@pytest.fixture
def sib(live_server, api_key) -> sib_api_v3_sdk.WebhooksApi:
    configuration = sib_api_v3_sdk.Configuration()
    configuration.host = f"{live_server.url}/v3"
    configuration.api_key["api-key"] = api_key
    return sib_api_v3_sdk.WebhooksApi(sib_api_v3_sdk.ApiClient(configuration))


def test_brevo_python_creates_lists_gets_updates_and_deletes(brevo, receiver):
    created = brevo.webhooks.create_webhook(
        url=receiver.url + "/hook",
        description="From brevo-python",
        events=["delivered", "hardBounce", "proxyOpen"],
        type="transactional",
        batched=True,
        auth=CreateWebhookRequestAuth(type="bearer", token="sdk-token"),
        headers=[CreateWebhookRequestHeadersItem(key="X-From", value="sdk")],
        channel="email",
    )
    webhook = Webhook.objects.get(pk=created.id)
    assert (webhook.auth_token, webhook.batched) == ("sdk-token", True)

    listed = brevo.webhooks.get_webhooks(type="transactional", sort="desc").webhooks
    assert [w.id for w in listed] == [created.id]

    got = brevo.webhooks.get_webhook(created.id)
    assert got.url == receiver.url + "/hook"
    assert got.description == "From brevo-python"
    assert got.events == ["delivered", "proxyOpen", "hardBounce"]
    assert got.type == "transactional"
    assert got.batched is True
    assert got.auth == {"type": "bearer", "token": "••••••"}
    assert got.headers == [{"key": "X-From", "value": "sdk"}]
    assert got.created_at.endswith("Z") and len(got.created_at) == 24

    brevo.webhooks.update_webhook(created.id, description="Renamed", events=["click"], batched=False)
    got = brevo.webhooks.get_webhook(created.id)
    assert (got.description, got.events, got.batched) == ("Renamed", ["click"], False)

    brevo.webhooks.delete_webhook(created.id)
    with pytest.raises(NotFoundError) as exc:
        brevo.webhooks.get_webhook(created.id)
    assert exc.value.body["code"] == "document_not_found"


def test_brevo_python_gets_brevos_errors(brevo, live_server, make_webhook):
    with pytest.raises(BadRequestError) as exc:
        brevo.webhooks.create_webhook(url="https://example.com/h", events=["listAddition"], type="transactional")
    assert exc.value.body == {
        "code": "invalid_parameter",
        "message": "events: Not a transactional event: listAddition.",
    }

    webhook = make_webhook()
    with pytest.raises(BadRequestError):
        brevo.webhooks.update_webhook(webhook.pk, headers=[CreateWebhookRequestHeadersItem(key="Host", value="x")])
    for call in (brevo.webhooks.update_webhook, brevo.webhooks.delete_webhook, brevo.webhooks.get_webhook):
        with pytest.raises(NotFoundError):
            call(webhook.pk + 1000)

    wrong = Brevo(api_key="xkeysib-wrong", base_url=f"{live_server.url}/v3", max_retries=0)
    with pytest.raises(ApiError) as exc:
        wrong.webhooks.get_webhooks()
    assert exc.value.status_code == 401
    assert exc.value.body["code"] == "unauthorized"


def test_brevo_python_lists_marketing_webhooks_oldest_first(brevo, make_webhook):
    first = make_webhook(type="marketing", events=("listAddition",))
    second = make_webhook(type="marketing", events=("opened",))
    make_webhook(type="transactional")
    listed = brevo.webhooks.get_webhooks(type="marketing", sort="asc").webhooks
    assert [w.id for w in listed] == [first.pk, second.pk]
    assert listed[0].type == "marketing"


def test_brevo_python_exports_the_history_and_the_link_reaches_notify_url(
    brevo, make_webhook, stranger, receiver, run_worker, live_server
):
    mine = make_webhook(url="https://bob:hidden@example.com/hook")
    other = make_webhook(owner=stranger.account)
    Delivery.objects.create(webhook=mine, event="delivered", payload={"email": "jane@acme.test", "message-id": "<m1>"})
    Delivery.objects.create(webhook=mine, event="hardBounce", payload={"email": "=HYPERLINK()", "message-id": "<m2>"})
    Delivery.objects.create(webhook=other, event="delivered", payload={"email": "secret@globex.test"})

    process = brevo.webhooks.export_webhooks_history(
        type="transactional", event="allEvents", notify_url=receiver.url + "/notify", days=7, sort="asc"
    )
    assert Export.objects.get(pk=process.process_id).status == "pending"
    run_worker()

    notice = receiver.wait_for(1)[0].json()
    assert notice["processId"] == process.process_id
    assert notice["status"] == "completed"
    assert notice["rows"] == 2
    assert notice["url"].startswith(live_server.url + "/exports/")

    download = requests.get(notice["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["email"] for row in rows] == ["jane@acme.test", "'=HYPERLINK()"]
    assert "secret@globex.test" not in download.text
    assert "hidden" not in download.text

    # Only the token in the link opens it.
    assert requests.get(notice["url"].replace("/exports/", "/exports/x"), timeout=10).status_code == 404
    assert requests.get(f"{live_server.url}/exports/{process.process_id}.csv", timeout=10).status_code == 404


def test_an_export_filters_by_event_and_webhook(brevo, make_webhook, receiver, run_worker):
    a, b = make_webhook(), make_webhook()
    Delivery.objects.create(webhook=a, event="delivered", payload={"email": "1@x.test"})
    Delivery.objects.create(webhook=a, event="hardBounce", payload={"email": "2@x.test"})
    Delivery.objects.create(webhook=b, event="delivered", payload={"email": "3@x.test"})
    brevo.webhooks.export_webhooks_history(
        type="transactional", event="delivered", notify_url=receiver.url + "/n", webhook_id=a.pk
    )
    run_worker()
    notice = receiver.wait_for(1)[0].json()
    rows = list(csv.DictReader(io.StringIO(requests.get(notice["url"], timeout=10).text)))
    assert [row["email"] for row in rows] == ["1@x.test"]


def test_an_export_filters_by_email_and_message_id(brevo, make_webhook, receiver, run_worker):
    hook = make_webhook()
    for email, message_id in [("jane@x.test", "<a>"), ("JANE@x.test", "<b>"), ("jane@x.test", "<c>")]:
        Delivery.objects.create(webhook=hook, event="delivered", payload={"email": email, "message-id": message_id})
    # The address in another field only, and a batch holding it, are not matches.
    Delivery.objects.create(webhook=hook, event="delivered", payload={"email": "bob@x.test", "note": "jane@x.test"})
    Delivery.objects.create(webhook=hook, event="batch", payload=[{"email": "jane@x.test", "message-id": "<a>"}])

    brevo.webhooks.export_webhooks_history(
        type="transactional", event="allEvents", notify_url=receiver.url + "/n", email="jane@x.test", sort="asc"
    )
    brevo.webhooks.export_webhooks_history(
        type="transactional", event="allEvents", notify_url=receiver.url + "/n", message_id="<c>"
    )
    run_worker()
    by_email, by_message_id = (
        list(csv.DictReader(io.StringIO(requests.get(notice.json()["url"], timeout=10).text)))
        for notice in sorted(receiver.wait_for(2), key=lambda r: r.json()["processId"])
    )
    assert [row["message-id"] for row in by_email] == ["<a>", "<c>"]
    assert [(row["email"], row["message-id"]) for row in by_message_id] == [("jane@x.test", "<c>")]


def test_the_export_notice_goes_through_the_ssrf_rules(brevo, make_webhook, receiver, run_worker, settings):
    # Accepted while private URLs were allowed, refused when the notice is sent.
    process = brevo.webhooks.export_webhooks_history(type="transactional", event="allEvents", notify_url=receiver.url)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    outbound.session().close()
    run_worker()
    export = Export.objects.get(pk=process.process_id)
    assert "loopback" in export.error
    assert receiver.requests == []


def test_sib_api_v3_sdk_creates_lists_gets_updates_and_deletes(sib, receiver):
    created = sib.create_webhook(
        sib_api_v3_sdk.CreateWebhook(
            url=receiver.url + "/hook", description="From sib", events=["opened", "listAddition"], type="marketing"
        )
    )
    listed = sib.get_webhooks(type="marketing", sort="desc")
    assert [w["id"] for w in listed.webhooks] == [created.id]

    got = sib.get_webhook(created.id)  # strict enums: type must be marketing or transactional
    assert (got.type, got.events, got.description) == ("marketing", ["opened", "listAddition"], "From sib")
    assert got.created_at.endswith("Z")

    sib.update_webhook(created.id, sib_api_v3_sdk.UpdateWebhook(description="Renamed", events=["click"]))
    assert sib.get_webhook(created.id).events == ["click"]

    sib.delete_webhook(created.id)
    with pytest.raises(ApiException) as exc:
        sib.get_webhook(created.id)
    assert exc.value.status == 404


def test_sib_api_v3_sdk_gets_a_400_for_events_of_the_wrong_type(sib):
    with pytest.raises(ApiException) as exc:
        sib.create_webhook(
            sib_api_v3_sdk.CreateWebhook(url="https://example.com/h", events=["listAddition"], type="transactional")
        )
    assert exc.value.status == 400
    assert "invalid_parameter" in str(exc.value.body)


def test_a_test_send_through_the_api_answers_with_the_outcome(
    live_server, api_key, make_webhook, receiver, worker_process
):
    worker_process()
    receiver.reply.status = 418
    receiver.reply.body = b"I'm a teapot"
    webhook = make_webhook(url=receiver.url + "/hook")

    response = requests.post(
        f"{live_server.url}/v3/webhooks/{webhook.pk}/test",
        json={"event": "hardBounce"},
        headers={"api-key": api_key},
        timeout=60,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["isTest"] is True
    assert body["lastAttempt"]["statusCode"] == 418
    assert body["lastAttempt"]["responseBody"] == "I'm a teapot"
    assert receiver.requests[0].json()["event"] == "hard_bounce"

    listed = requests.get(
        f"{live_server.url}/v3/webhooks/{webhook.pk}/deliveries", headers={"api-key": api_key}, timeout=10
    ).json()
    assert [d["id"] for d in listed["deliveries"]] == [body["id"]]
