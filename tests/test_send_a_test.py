"""Actions > Send a test: a real RQ worker posts Brevo's payload to a real local server."""

from __future__ import annotations

import base64
import json
import socket

import django_rq
import pytest
from django.urls import reverse

import catalog
from catalog.payloads import encode
from tests.conftest import wait_until
from webhooks.models import Attempt, Delivery


def send(client, webhook, event=None):
    data = {"event": event} if event else {}
    return client.post(reverse("webhooks:send_test", args=[webhook.pk]), data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_form_offers_the_webhooks_events_first_one_selected(owner_client, make_webhook):
    webhook = make_webhook(events=("click", "delivered"))
    page = owner_client.get(reverse("webhooks:send_test", args=[webhook.pk])).content.decode()
    assert '<option value="click">Clicked</option>' in page
    assert '<option value="delivered" selected>Delivered</option>' in page


def test_a_test_send_reaches_the_app_with_brevos_payload(owner_client, make_webhook, receiver, run_worker):
    webhook = make_webhook(url=receiver.url + "/brevo", events=("hardBounce",))
    response = send(owner_client, webhook, "hardBounce")
    delivery = Delivery.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("webhooks:test_result", args=[webhook.pk, delivery.pk])
    assert delivery.is_test and delivery.status == "pending"

    run_worker()

    [request] = receiver.wait_for(1)
    assert request.path == "/brevo"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("brevo-hooks/")
    assert request.headers["webhook-id"] == f"msg_{delivery.uid.hex}"
    payload = request.json()
    assert payload["event"] == "hard_bounce"
    assert payload["reason"] and payload["email"] and payload["message-id"]
    # Byte for byte what the catalog's builder makes for a real event of this type.
    expected = catalog.get("transactional", "hardBounce").build(payload, _at(payload["ts_epoch"]))
    assert request.body == encode(expected)

    delivery.refresh_from_db()
    attempt = delivery.attempts.get()
    assert delivery.status == "succeeded" and delivery.attempt_count == 1
    assert attempt.response_status == 200 and attempt.response_body == "OK" and attempt.duration_ms is not None
    assert attempt.request_body == request.body.decode()


def _at(ts_epoch_ms: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_epoch_ms / 1000, UTC)


def test_the_result_page_shows_status_time_and_body(owner_client, make_webhook, receiver, run_worker):
    receiver.reply.status, receiver.reply.body = 202, b'{"received": true}'
    webhook = make_webhook(url=receiver.url)
    result_url = send(owner_client, webhook).url
    assert "Sending the" in owner_client.get(result_url).content.decode()
    run_worker()
    page = owner_client.get(result_url).content.decode()
    assert "HTTP 202" in page and "Time taken" in page and " ms" in page
    assert "{&quot;received&quot;: true}" in page
    fragment = owner_client.get(result_url + "?fragment=1").content.decode()
    assert 'data-done="true"' in fragment and "<html" not in fragment


def test_an_error_answer_is_shown_and_never_retried(owner_client, make_webhook, receiver, run_worker):
    receiver.reply.status, receiver.reply.body = 500, b"boom"
    webhook = make_webhook(url=receiver.url)
    result_url = send(owner_client, webhook).url
    run_worker()
    run_worker()
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempt_count == 1 and delivery.next_attempt_at is None
    assert not django_rq.get_queue("tests").count and not django_rq.get_queue("deliveries").count
    page = owner_client.get(result_url).content.decode()
    assert "HTTP 500" in page and "boom" in page


def test_connection_refused_is_reported(owner_client, make_webhook, run_worker):
    webhook = make_webhook(url=f"http://127.0.0.1:{free_port()}/hook")
    result_url = send(owner_client, webhook).url
    run_worker()
    assert Attempt.objects.get().error == "Connection refused"
    assert "Connection refused" in owner_client.get(result_url).content.decode()
    assert Delivery.objects.get().status == "failed"


def test_a_slow_app_times_out(owner_client, make_webhook, receiver, run_worker, settings):
    settings.WEBHOOKS_TIMEOUT = 0.5
    receiver.reply.delay = 2
    webhook = make_webhook(url=receiver.url)
    result_url = send(owner_client, webhook).url
    run_worker()
    assert Attempt.objects.get().error == "Timed out after 0.5 s"
    assert "Timed out after 0.5 s" in owner_client.get(result_url).content.decode()


def test_url_credentials_become_basic_auth_and_stay_masked(owner_client, make_webhook, receiver, run_worker):
    webhook = make_webhook(url=receiver.url.replace("http://", "http://bob:s%40cret@") + "/in")
    send(owner_client, webhook)
    run_worker()
    [request] = receiver.wait_for(1)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:s@cret").decode()
    attempt = Attempt.objects.get()
    assert "s%40cret" not in json.dumps(attempt.request_headers) + attempt.request_url
    assert attempt.request_headers["Authorization"] == "••••••"


def test_the_test_goes_to_the_fast_lane_before_every_accounts_turn(owner_client, account, make_webhook, redis):
    from events import emit
    from events.fanout import NewEvent
    from webhooks import fairqueue, handover

    webhook = make_webhook(events=("delivered",))
    emit(account, [NewEvent("delivered") for _ in range(50)])
    handover.enqueue_deliveries(Delivery.objects.values_list("pk", flat=True))  # a flood waits
    send(owner_client, webhook)
    test = Delivery.objects.get(is_test=True)
    assert redis.lrange("brevo-hooks:q:tests", 0, -1) == [f"{test.pk}:{webhook.pk}".encode()]
    assert [job.func_name for job in django_rq.get_queue("deliveries").get_jobs()] == ["webhooks.jobs.drain"]
    # Whatever waits in the accounts' turns, a take gives the test first.
    assert fairqueue.take(3)[0] == (test.pk, webhook.pk, True)


def test_an_unreachable_queue_is_a_clear_error_not_a_500(owner_client, make_webhook, settings):
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("tests", "deliveries")}
    webhook = make_webhook()
    response = send(owner_client, webhook)
    assert response.status_code == 400
    assert "the delivery queue is unreachable" in response.content.decode()
    assert Delivery.objects.get().status == "cancelled"


def test_an_event_the_webhook_does_not_subscribe_to_is_refused(owner_client, make_webhook, redis):
    webhook = make_webhook(events=("delivered",))
    response = send(owner_client, webhook, "click")
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_sends_the_test(owner_client, make_webhook, receiver, worker_process):
    worker_process()
    webhook = make_webhook(url=receiver.url, type="marketing", events=("listAddition",))
    result_url = send(owner_client, webhook, "listAddition").url
    [request] = receiver.wait_for(1, timeout=20)
    assert request.json()["event"] == "list_addition"
    wait_until(lambda: Delivery.objects.get().status == "succeeded")
    assert "HTTP 200" in owner_client.get(result_url).content.decode()


def test_without_a_choice_the_first_event_is_sent(owner_client, make_webhook, receiver, run_worker):
    webhook = make_webhook(url=receiver.url, events=("click", "deferred"))
    send(owner_client, webhook)
    run_worker()
    assert receiver.wait_for(1)[0].json()["event"] == "click"
