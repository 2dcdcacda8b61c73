"""One account's hostile receivers hurt only themselves: real sockets, a real worker process.

Receivers that trickle, lie in their headers, send NUL bytes, garbage or 50 MB, close at
once or never answer (tests/hostile.py) take one account's deliveries; meanwhile
another account's healthy receiver gets each of its events exactly once, within 10 s,
from the same single worker. Runs on SQLite and on PostgreSQL (NUL bytes are what
PostgreSQL refuses).
"""

from __future__ import annotations

import signal
import time

import pytest
from django.utils import timezone
from rq import Worker

from accounts.models import Account
from events import emit
from events.fanout import NewEvent
from tests.conftest import wait_until
from tests.hostile import BEHAVIOURS, Hostile
from tests.receiver import Reply
from webhooks import fairqueue
from webhooks.models import Attempt, Delivery, Webhook

# Long enough that, were one account's receivers to hold every thread of the worker,
# the other account's events would wait longer than the 10 s the issue allows.
TIMEOUT = 12
HEALTHY_EVENTS = 24
# Enough that the receivers which never answer in time could take every thread.
HOSTILE_EVENTS = 20


@pytest.fixture(autouse=True)
def allow_local(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def hostile_servers():
    servers = {name: Hostile(make()).start() for name, make in BEHAVIOURS.items()}
    yield servers
    for server in servers.values():
        server.stop()


def test_hostile_receivers_of_one_account_never_delay_or_duplicate_anothers(
    account, make_webhook, receiver, worker_process, hostile_servers, redis
):
    for server in hostile_servers.values():
        make_webhook(url=server.url, events=("delivered",))
    healthy_account = Account.objects.create(name="Healthy")
    make_webhook(url=receiver.url, events=("delivered",), owner=healthy_account)
    worker = worker_process(WEBHOOKS_TIMEOUT=str(TIMEOUT))

    emit(account, [NewEvent("delivered", data={"email": f"h{n}@example.com"}) for n in range(HOSTILE_EVENTS)])
    accepted: dict[str, float] = {}
    for n in range(HEALTHY_EVENTS):
        email = f"ok{n}@example.com"
        emit(healthy_account, [NewEvent("delivered", data={"email": email})])
        accepted[email] = time.monotonic()
        time.sleep(0.5)

    receiver.wait_for(HEALTHY_EVENTS, timeout=30)
    arrived = {request.json()["email"]: request.at for request in receiver.requests}
    late = {email: round(arrived[email] - at, 1) for email, at in accepted.items() if arrived[email] - at > 10}
    assert not late, f"healthy events later than 10 s: {late}"
    # Exactly once: no round of the hostile account was rolled back and sent again.
    assert len(receiver.requests) == len(receiver.unique()) == HEALTHY_EVENTS

    # Every hostile delivery got an attempt whose outcome was stored, and the worker is
    # alive and idle: nothing is left sending, nothing waits for a worker.
    hostile = Delivery.objects.filter(webhook__account=account)
    wait_until(lambda: not hostile.filter(status="sending").exists() and fairqueue.is_empty(), timeout=TIMEOUT + 30)
    assert hostile.count() == HOSTILE_EVENTS * len(BEHAVIOURS)
    assert not hostile.filter(attempt_count=0, status="pending", next_attempt_at__lte=timezone.now()).exists()
    stored = Attempt.objects.filter(delivery__webhook__account=account)
    assert not stored.filter(response_status__isnull=True, error="").exists()
    assert worker.poll() is None
    wait_until(lambda: [w.state for w in Worker.all(connection=redis)] == ["idle"], timeout=TIMEOUT + 10)


def test_a_receiver_that_answers_nul_bytes_is_recorded_and_retried_like_any_failure(
    account, make_webhook, worker_process
):
    server = Hostile(BEHAVIOURS["NUL bytes"]()).start()
    try:
        make_webhook(url=server.url, events=("delivered",))
        worker_process(WEBHOOKS_RETRY_SCHEDULE="0.5,0.5", WEBHOOKS_TIMEOUT="5")
        (event,) = emit(account, [NewEvent("delivered")])
        delivery = Delivery.objects.get(event_record=event)
        wait_until(lambda: Delivery.objects.get(pk=delivery.pk).status == "failed", timeout=30)
    finally:
        server.stop()
    # Three attempts, as the schedule says: the limit is reached, not repeated forever.
    assert server.requests == 3
    attempts = list(delivery.attempts.order_by("number"))
    assert [a.response_status for a in attempts] == [500, 500, 500]
    assert attempts[0].response_body == "bad\ufffdbody\ufffd"
    assert attempts[0].response_headers["X-Nul"] == "a\ufffdb"


def test_a_worker_asked_to_stop_hands_back_its_work_and_exits_quickly(account, make_webhook, receiver, worker_process):
    receiver.reply = Reply(delay=0.05)
    make_webhook(url=receiver.url, events=("delivered",))
    fast = {"WEBHOOKS_TIMEOUT": "3", "WEBHOOKS_SWEEP_INTERVAL": "60"}
    first, second = worker_process(**fast), worker_process(**fast)
    emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(1000)])
    receiver.wait_for(100, timeout=60)

    asked = time.monotonic()
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=3 + 5 + 5)
    stopped_after = time.monotonic() - asked

    # The other worker carries on with what the first handed back, at once.
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1000, timeout=120, interval=0.2)
    assert stopped_after <= 3 + 5, f"the worker took {stopped_after:.1f} s to stop"
    assert first.returncode == 0
    assert second.poll() is None
    # Nothing was sent twice: no claim outlived its worker.
    assert len(receiver.requests) == len(receiver.unique()) == 1000
    assert not Attempt.objects.exclude(error="").exists()


def test_a_retry_comes_on_time_not_at_the_next_sweep(account, make_webhook, receiver, worker_process):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(status=500)]
    worker_process(WEBHOOKS_RETRY_SCHEDULE="2", WEBHOOKS_SWEEP_INTERVAL="30")
    emit(account, [NewEvent("delivered")])
    first, second = receiver.wait_for(2, timeout=30)
    assert 2.0 <= second.at - first.at <= 3.0, f"the retry came {second.at - first.at:.2f} s after the failure"
    wait_until(lambda: Webhook.objects.get(pk=webhook.pk).failing_since is None, timeout=10)
