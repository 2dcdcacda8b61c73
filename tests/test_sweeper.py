"""The sweep: reclaim expired leases, enqueue due retries and lost jobs, close batch windows."""

from __future__ import annotations

import json
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from events import emit
from events.fanout import NewEvent
from tests.receiver import Reply
from webhooks import fairqueue, sending
from webhooks.models import Attempt, Delivery
from webhooks.sweeper import BATCH_MAX, LOST_ATTEMPT, sweep

pytestmark = pytest.mark.usefixtures("redis")


def queued_ids() -> list[int]:
    return fairqueue.waiting_ids()


@pytest.fixture
def delivery(account, make_webhook) -> Delivery:
    make_webhook(url="https://example.com/hook", events=("delivered",))
    (event,) = emit(account, [NewEvent("delivered")])  # on_commit does not run: nothing in Redis
    return Delivery.objects.get(event_record=event)


def test_an_expired_lease_is_reclaimed_and_the_delivery_enqueued_again(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempt_count=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert sweep()["reclaimed"] == 1

    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert queued_ids() == [delivery.pk]
    # The trace of the crash: the attempt the dead worker made, with what it sent.
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.error, attempt.response_status) == (1, LOST_ATTEMPT, None)
    assert json.loads(attempt.request_body) == delivery.payload


def test_an_attempt_a_slow_worker_wrote_is_kept_when_its_lease_is_reclaimed(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempt_count=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    Attempt.objects.create(delivery=delivery, number=1, request_url="x", request_body="{}", response_status=200)
    assert sweep()["reclaimed"] == 1
    assert delivery.attempts.get().response_status == 200


def test_a_lease_that_has_not_expired_is_left_alone(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    assert sweep()["reclaimed"] == 0
    delivery.refresh_from_db()
    assert delivery.status == "sending"


def test_a_due_retry_is_enqueued_once(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now(), enqueued_at=None)
    assert sweep()["enqueued"] == 1
    assert sweep(lock=False)["enqueued"] == 0  # already in Redis
    assert queued_ids() == [delivery.pk]


def test_a_retry_that_is_not_due_waits(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5), enqueued_at=None
    )
    assert sweep()["enqueued"] == 0


def test_a_job_lost_from_redis_is_enqueued_again_once_the_queue_is_empty(delivery, settings):
    settings.WEBHOOKS_SWEEP_INTERVAL = 30.0
    # Enqueued a minute ago, yet still pending and Redis has no job: the job was lost.
    Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    assert sweep()["enqueued"] == 1
    assert queued_ids() == [delivery.pk]


def test_a_recently_enqueued_delivery_is_not_enqueued_twice(delivery):
    assert sweep()["enqueued"] == 0


def test_while_jobs_wait_in_redis_nothing_is_enqueued_twice(delivery, account, settings):
    settings.WEBHOOKS_SWEEP_INTERVAL = 30.0
    Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    django_rq.get_queue("deliveries", commit_mode="auto").enqueue(print, "another job")
    assert sweep()["enqueued"] == 0


def test_under_a_long_backlog_a_lost_delivery_is_enqueued_again_anyway(delivery, account, settings):
    settings.WEBHOOKS_SWEEP_INTERVAL = 30.0
    Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now() - timedelta(minutes=11))
    django_rq.get_queue("deliveries", commit_mode="auto").enqueue(print, "another job")
    assert sweep()["enqueued"] == 1


def test_only_one_worker_sweeps_per_interval(db):
    assert sweep() != {}
    assert sweep() == {}


def test_batched_events_wait_for_the_window_then_go_as_one_json_array(
    account, make_webhook, receiver, run_worker, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    webhook = make_webhook(url=receiver.url, events=("delivered", "click"), batched=True)
    events = emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(3)])
    assert set(Delivery.objects.values_list("status", flat=True)) == {"waiting"}

    assert sweep(lock=False)["batches"] == 0  # the window is still open
    later = timezone.now() + timedelta(seconds=settings.WEBHOOKS_BATCH_WINDOW + 1)
    assert sweep(later, lock=False) == {"reclaimed": 0, "batches": 1, "enqueued": 1}
    run_worker()

    (request,) = receiver.wait_for(1)
    body = json.loads(request.body)
    assert [item["email"] for item in body] == ["0@example.com", "1@example.com", "2@example.com"]
    assert all(item["event"] == "delivered" for item in body)
    batch = webhook.deliveries.get(event="batch")
    assert batch.status == "succeeded"
    assert request.headers["webhook-id"] == batch.webhook_message_id
    assert batch.attempts.get().response_status == 200
    for event in events:
        member = event.deliveries.get()
        assert (member.status, member.batch) == ("succeeded", batch)


def test_a_batch_holds_at_most_500_events(account, make_webhook, settings):
    make_webhook(events=("delivered",), batched=True)
    emit(account, [NewEvent("delivered") for _ in range(BATCH_MAX + 1)])
    later = timezone.now() + timedelta(seconds=settings.WEBHOOKS_BATCH_WINDOW + 1)
    assert sweep(later, lock=False)["batches"] == 2
    sizes = sorted(d.batch_size for d in Delivery.objects.filter(event="batch"))
    assert sizes == [1, 500]


def test_500_waiting_events_do_not_wait_for_the_window(account, make_webhook):
    make_webhook(events=("delivered",), batched=True)
    emit(account, [NewEvent("delivered") for _ in range(BATCH_MAX)])
    assert sweep(lock=False)["batches"] == 1


def test_a_failed_batch_is_retried_like_any_delivery(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    make_webhook(url=receiver.url, events=("delivered",), batched=True)
    emit(account, [NewEvent("delivered") for _ in range(2)])
    receiver.reply = Reply(status=500)
    sweep(timezone.now() + timedelta(seconds=settings.WEBHOOKS_BATCH_WINDOW + 1), lock=False)
    batch = Delivery.objects.get(event="batch")
    sending.deliver([batch.pk])
    batch.refresh_from_db()
    assert batch.status == "pending"
    assert batch.next_attempt_at > timezone.now()
    assert set(batch.members.values_list("status", flat=True)) == {"batched"}


def test_turning_batching_off_sends_the_waiting_events_one_by_one(account, make_webhook):
    webhook = make_webhook(events=("delivered",), batched=True)
    emit(account, [NewEvent("delivered") for _ in range(2)])
    webhook.batched = False
    webhook.save()
    assert sweep(lock=False)["enqueued"] == 2
    assert not Delivery.objects.filter(event="batch").exists()
