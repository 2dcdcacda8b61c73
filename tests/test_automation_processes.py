"""Automations with real processes: worker processes (their poller thread), Redis, a real receiver.

Each test reports events through emit(), as the events API does, and watches what the
receiver gets and when.
"""

from __future__ import annotations

import signal
import time

import pytest
import standardwebhooks.webhooks
from rq import Worker

from automations.models import Run, Step
from events import emit
from tests.automation_world import added_to_list, call, deleted, make_automation, updated, wait
from tests.conftest import wait_until
from tests.receiver import Receiver
from webhooks.models import AUTOMATION_EVENT, Delivery

FAST = {
    "WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
    "WEBHOOKS_SWEEP_INTERVAL": "0.5",
    "WEBHOOKS_RETRY_SCHEDULE": ",".join(["0.5"] * 10),
    "AUTOMATIONS_POLL_INTERVAL": "0.5",
}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def allow_local(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def start_worker(worker_process, redis, **env: str):
    """A worker process, once it is up: its poller thread starts before it registers with RQ."""
    before = Worker.count(connection=redis)
    proc = worker_process(**{**FAST, **env})
    wait_until(lambda: Worker.count(connection=redis) > before, timeout=30, interval=0.1)
    return proc


def emails(receiver: Receiver) -> list[str]:
    return [request.json()["email"] for request in receiver.requests]


def test_a_contact_added_to_list_7_enters_the_automation_of_list_7_not_that_of_list_8(
    account, receiver, worker_process, redis
):
    seven = make_automation(account, [call(receiver.url + "/seven")], condition="listId", value="7", name="List 7")
    eight = make_automation(account, [call(receiver.url + "/eight")], condition="listId", value="8", name="List 8")
    start_worker(worker_process, redis)

    emit(account, [added_to_list("jane@example.com", 7)])

    [request] = receiver.wait_for(1, timeout=20)
    assert request.path == "/seven" and request.json()["workflow_id"] == seven.pk
    assert list(Run.objects.values_list("automation", flat=True)) == [seven.pk]
    assert not eight.runs.exists()
    assert not Delivery.objects.filter(webhook__automation_step__automation=eight).exists()


def test_a_two_second_wait_is_honoured_within_a_second(account, receiver, worker_process, redis):
    make_automation(account, [wait(2), call(receiver.url + "/after-wait")])
    start_worker(worker_process, redis)

    reported = time.monotonic()
    emit(account, [added_to_list("jane@example.com", 1)])

    [request] = receiver.wait_for(1, timeout=20)
    waited = request.at - reported
    assert 2.0 <= waited <= 3.0, f"the call came {waited:.2f} s after the event"


def test_a_worker_killed_during_the_wait_still_makes_the_call_once(account, receiver, worker_process, redis):
    make_automation(account, [wait(2), call(receiver.url + "/hook")])
    first = start_worker(worker_process, redis)
    emit(account, [added_to_list("jane@example.com", 1)])

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert Run.objects.get().status == "active" and not receiver.requests
    start_worker(worker_process, redis)

    receiver.wait_for(1, timeout=20)
    # Another contact's run, started now, proves that the poller went round many times since.
    emit(account, [added_to_list("marker@example.com", 1)])
    receiver.wait_for(2, timeout=20)
    wait_until(lambda: not Run.objects.filter(status="active").exists(), timeout=20)
    assert emails(receiver) == ["jane@example.com", "marker@example.com"]
    assert Delivery.objects.filter(event=AUTOMATION_EVENT).count() == 2


def test_a_redis_wipe_during_the_wait_loses_nothing(account, receiver, worker_process, redis):
    make_automation(account, [wait(1), call(receiver.url + "/hook"), wait(1), call(receiver.url + "/again")])
    emit(account, [added_to_list("jane@example.com", 1)])
    redis.flushdb()
    start_worker(worker_process, redis)

    requests = receiver.wait_for(2, timeout=30)
    assert [r.path for r in requests] == ["/hook", "/again"]


def test_the_webhook_gets_the_documented_body_signed_with_the_toggles_off_and_on(
    account, receiver, worker_process, redis, make_webhook
):
    plain = make_automation(account, [call(receiver.url + "/plain")], name="Plain")
    full = make_automation(account, [call(receiver.url + "/full", contact=True, event=True)], name="Full")
    subscribed = make_webhook(url=receiver.url + "/subscribed", type="marketing", events=("listAddition",))
    emit(account, [updated("jane@example.com", [{"FIRSTNAME": "Jane"}, {"PLAN": "pro"}])])
    start_worker(worker_process, redis)

    emit(account, [added_to_list("Jane@example.com", 7, contact_id=4711)])

    by_path = {request.path: request for request in receiver.wait_for(3, timeout=20)}
    plain_step, full_step = plain.steps.get(), full.steps.get()
    plain_body = standardwebhooks.webhooks.Webhook(plain_step.webhook.signing_secret).verify(
        by_path["/plain"].body, by_path["/plain"].headers
    )
    assert plain_body == {
        "contact_id": 4711,
        "email": "jane@example.com",
        "step_id": plain_step.pk,
        "workflow_id": plain.pk,
    }

    full_request = by_path["/full"]
    full_body = standardwebhooks.webhooks.Webhook(full_step.webhook.signing_secret).verify(
        full_request.body, full_request.headers
    )
    assert list(full_body) == ["contact_id", "email", "step_id", "workflow_id", "attributes", "event"]
    assert full_body["attributes"] == {"FIRSTNAME": "Jane", "PLAN": "pro"}
    # The trigger event exactly as a webhook subscribed to it receives it.
    assert full_body["event"] == by_path["/subscribed"].json()
    assert full_body["event"]["event"] == "list_addition" and full_body["event"]["list_id"] == [7]
    assert full_request.headers["Content-Type"] == "application/json"
    # Each step signs with its own secret.
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.webhooks.Webhook(plain_step.webhook.signing_secret).verify(
            full_request.body, full_request.headers
        )
    assert subscribed.signing_secret not in {plain_step.webhook.signing_secret, full_step.webhook.signing_secret}


def test_auth_and_custom_headers_of_a_step_are_sent(account, receiver, worker_process, redis):
    url = receiver.url.replace("http://", "http://ann:s3cret@") + "/basic"
    make_automation(
        account,
        [
            call(receiver.url + "/bearer", auth_token="tok-123", headers=[{"key": "X-Tenant", "value": "acme"}]),
            call(url),
        ],
    )
    start_worker(worker_process, redis)
    emit(account, [added_to_list("jane@example.com", 1)])

    by_path = {request.path: request for request in receiver.wait_for(2, timeout=20)}
    assert by_path["/bearer"].headers["Authorization"] == "Bearer tok-123"
    assert by_path["/bearer"].headers["X-Tenant"] == "acme"
    assert by_path["/basic"].headers["Authorization"] == "Basic YW5uOnMzY3JldA=="


def test_contact_deleted_stops_the_contacts_runs(account, receiver, worker_process, redis):
    make_automation(account, [wait(2), call(receiver.url + "/hook")])
    start_worker(worker_process, redis)
    emit(account, [added_to_list("jane@example.com", 1), added_to_list("marker@example.com", 1)])
    emit(account, [deleted("jane@example.com")])

    # The other contact's call, due at the same moment, comes; Jane's never does.
    receiver.wait_for(1, timeout=20)
    wait_until(lambda: not Run.objects.filter(status="active").exists(), timeout=20)
    assert emails(receiver) == ["marker@example.com"]
    assert Delivery.objects.filter(event=AUTOMATION_EVENT).count() == 1
    assert Run.objects.get(email="jane@example.com").status == "stopped"
    assert Step.objects.filter(kind="webhook").count() == 1
