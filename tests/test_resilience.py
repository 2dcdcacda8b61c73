"""Nothing is lost: real worker processes, a real Redis, a real receiver, and things going wrong.

Each test reports events, breaks something (a worker killed mid-send, Redis wiped, a
receiver that errors, hangs or refuses connections) and checks that every event reaches
the receiver at least once, with a `webhook-id` that lets it drop the duplicates.
Short retry schedules and sweep intervals come through the workers' environment.
"""

from __future__ import annotations

import signal
import socket

import pytest

from events import emit
from events.fanout import NewEvent
from tests.conftest import wait_until
from tests.receiver import Receiver, Reply
from webhooks import fairqueue
from webhooks.models import Delivery

FAST = {
    "WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
    "WEBHOOKS_RETRY_SCHEDULE": ",".join(["0.5"] * 20),
    "WEBHOOKS_SWEEP_INTERVAL": "0.5",
    "WEBHOOKS_TIMEOUT": "1",
    "WEBHOOKS_PAUSE": "0.5",
}


@pytest.fixture(autouse=True)
def allow_local(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def report(account, count: int) -> list[str]:
    events = emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(count)])
    return [e.public_id for e in events]


def all_delivered(count: int, timeout: float = 30) -> None:
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == count, timeout=timeout, interval=0.2)


def assert_each_event_arrived(receiver: Receiver, count: int) -> None:
    unique = receiver.unique()
    assert len(unique) == count
    assert {d.webhook_message_id for d in Delivery.objects.all()} == set(unique)
    assert sorted(r.json()["email"] for r in unique.values()) == sorted(f"{n}@example.com" for n in range(count))


def test_a_worker_killed_mid_send_loses_nothing(account, make_webhook, receiver, worker_process):
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(delay=1.5)  # slow enough to be killed in the middle
    worker = worker_process(**{**FAST, "WEBHOOKS_TIMEOUT": "2"})
    report(account, 20)
    receiver.wait_for(1, timeout=20)

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert Delivery.objects.filter(status="sending").exists()  # claimed by the dead worker
    receiver.reply = Reply()
    worker_process(**{**FAST, "WEBHOOKS_TIMEOUT": "2"})

    all_delivered(20, timeout=45)
    assert_each_event_arrived(receiver, 20)


def test_wiping_redis_while_deliveries_are_queued_loses_nothing(account, make_webhook, receiver, worker_process, redis):
    make_webhook(url=receiver.url, events=("delivered",))
    report(account, 30)
    assert not fairqueue.is_empty()
    redis.flushdb()

    worker_process(**FAST)

    all_delivered(30)
    assert_each_event_arrived(receiver, 30)


def test_a_receiver_answering_500_gets_everything_once_it_recovers(account, make_webhook, receiver, worker_process):
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(status=500)] * 15
    worker_process(**FAST)
    report(account, 10)

    all_delivered(10)
    assert_each_event_arrived(receiver, 10)
    assert len(receiver.requests) >= 25  # the 500s were retried under the same webhook-id
    assert Delivery.objects.filter(attempt_count__gt=1).exists()


def test_a_receiver_that_hangs_past_the_timeout_gets_everything(account, make_webhook, receiver, worker_process):
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(delay=2.5)] * 5
    worker_process(**FAST)  # WEBHOOKS_TIMEOUT=1
    report(account, 5)

    all_delivered(5, timeout=45)
    assert_each_event_arrived(receiver, 5)
    timed_out = [a.error for d in Delivery.objects.all() for a in d.attempts.all() if a.error]
    assert timed_out and all(error.startswith("Timed out after 1 s") for error in timed_out)


def test_a_receiver_refusing_connections_gets_everything_once_it_listens(account, make_webhook, worker_process):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    make_webhook(url=f"http://127.0.0.1:{port}", events=("delivered",))
    worker_process(**FAST)
    report(account, 10)
    wait_until(lambda: Delivery.objects.filter(attempts__error="Connection refused").exists(), timeout=20)

    receiver = Receiver(port=port).start()
    try:
        all_delivered(10)
        assert_each_event_arrived(receiver, 10)
    finally:
        receiver.stop()
