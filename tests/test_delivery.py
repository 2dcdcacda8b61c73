"""Sending deliveries: success, retries by the schedule, Retry-After, 410, pauses, disabling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django.utils.http import http_date

from events import emit as emit_stored
from events.fanout import NewEvent
from tests.receiver import Reply
from webhooks import fairqueue, sending
from webhooks.models import Delivery, Webhook
from webhooks.sending import endpoints, pipeline, request

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture(autouse=True)
def fast_settings(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOKS_TIMEOUT = 1.0


def emit_one(account, name: str = "delivered", **data) -> Delivery:
    (event,) = emit_stored(account, [NewEvent(name, data={"email": "jane@example.com", **data})])
    return Delivery.objects.get(event_record=event)


@pytest.fixture
def emit(emit_now):
    return emit_now


def send_again(delivery: Delivery) -> Delivery:
    """Make the delivery due now and send it, as the sweeper and a worker would."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    sending.deliver([delivery.pk])
    delivery.refresh_from_db()
    return delivery


def test_a_delivery_posts_brevos_payload_with_a_webhook_id(account, make_webhook, receiver, run_worker, emit):
    make_webhook(url=receiver.url, events=("delivered",))
    (event,) = emit(account, [NewEvent("delivered", data={"subject": "Hi"})])
    delivery = Delivery.objects.get(event_record=event)
    run_worker()

    (request,) = receiver.wait_for(1)
    assert request.json()["event"] == "delivered"
    assert request.json()["subject"] == "Hi"
    assert request.headers["webhook-id"] == delivery.webhook_message_id
    assert request.headers["Content-Type"] == "application/json"
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    (attempt,) = delivery.attempts.all()
    assert attempt.response_status == 200
    assert attempt.request_headers["webhook-id"] == delivery.webhook_message_id


def test_one_job_sends_many_deliveries_concurrently(account, make_webhook, receiver, run_worker, emit):
    make_webhook(url=receiver.url, events=("delivered",))
    make_webhook(url=receiver.url + "/other", events=("delivered",))
    emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(60)])
    run_worker()
    assert len(receiver.unique()) == 120
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_500_schedules_the_next_attempt_by_the_schedule(account, make_webhook, receiver):
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=500, body=b"oops")
    delivery = emit_one(account)
    before = timezone.now()

    assert sending.deliver([delivery.pk]) == {"retry": 1}

    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=5)
    # Handed over to Redis for that time (the sweep counts a lost hand-over from then).
    assert delivery.enqueued_at == delivery.next_attempt_at
    assert fairqueue.scheduled_count() == 1
    (attempt,) = delivery.attempts.all()
    assert (attempt.response_status, attempt.response_body) == (500, "oops")


def test_retries_follow_the_configured_schedule_and_keep_the_webhook_id(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [7.0, 11.0]
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=502)
    delivery = emit_one(account)
    sending.deliver([delivery.pk])
    delivery.refresh_from_db()
    first_delay = delivery.next_attempt_at - timezone.now()
    delivery = send_again(delivery)
    second_delay = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=6) < first_delay <= timedelta(seconds=7)
    assert timedelta(seconds=10) < second_delay <= timedelta(seconds=11)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_when_the_schedule_is_exhausted_the_delivery_is_failed_and_kept(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [1.0]
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=500)
    delivery = emit_one(account)
    sending.deliver([delivery.pk])
    delivery = send_again(delivery)
    assert delivery.status == "failed"
    assert delivery.completed_at is not None
    assert delivery.attempts.count() == 2


def test_a_success_after_failures_completes_the_delivery(account, make_webhook, receiver):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(status=500)]
    delivery = emit_one(account)
    sending.deliver([delivery.pk])
    webhook.refresh_from_db()
    assert webhook.failing_since is not None
    delivery = send_again(delivery)
    assert delivery.status == "succeeded"
    webhook.refresh_from_db()
    assert webhook.failing_since is None  # a success ends the run of failures


def next_attempt_after(reply: Reply, account, make_webhook, receiver) -> timedelta:
    """How long after now the second attempt is set for, when the first got `reply`."""
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = reply
    delivery = emit_one(account)
    sending.deliver([delivery.pk])
    delivery.refresh_from_db()
    return delivery.next_attempt_at - timezone.now()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(account, make_webhook, receiver, status):
    delay = next_attempt_after(Reply(status=status, headers={"Retry-After": "120"}), account, make_webhook, receiver)
    assert timedelta(seconds=119) < delay <= timedelta(seconds=120)


def test_retry_after_as_a_date_is_honoured(account, make_webhook, receiver):
    when = http_date((timezone.now() + timedelta(seconds=600)).timestamp())
    delay = next_attempt_after(Reply(status=503, headers={"Retry-After": when}), account, make_webhook, receiver)
    assert timedelta(seconds=597) < delay <= timedelta(seconds=600)


def test_retry_after_is_capped(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_RETRY_AFTER_MAX = 60.0
    delay = next_attempt_after(Reply(status=429, headers={"Retry-After": "999999"}), account, make_webhook, receiver)
    assert timedelta(seconds=59) < delay <= timedelta(seconds=60)


def test_retry_after_on_other_statuses_is_ignored(account, make_webhook, receiver):
    delay = next_attempt_after(Reply(status=500, headers={"Retry-After": "3000"}), account, make_webhook, receiver)
    assert delay <= timedelta(seconds=5)


def test_410_gone_disables_the_webhook_and_tells_the_account(account, owner, make_webhook, receiver):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=410)
    delivery, later = emit_one(account), emit_one(account)

    sending.deliver([delivery.pk])

    delivery.refresh_from_db()
    webhook.refresh_from_db()
    assert delivery.status == "failed"  # not retried
    assert not webhook.enabled
    assert "410 Gone" in webhook.disabled_reason
    assert mail.outbox[0].to == [owner.email]
    # What the webhook is still owed is not sent while it is disabled, but kept.
    assert sending.deliver([later.pk]) == {"cancelled": 1}
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("disabled_by", ["410", "failing"])
def test_a_job_stops_sending_to_a_webhook_it_just_disabled(account, make_webhook, receiver, settings, disabled_by):
    # One request at a time to the endpoint, so that the job still holds the rest when it disables it.
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    if disabled_by == "410":
        receiver.reply = Reply(status=410)
    else:
        Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=6))
        receiver.reply = Reply(status=500)
    ids = [emit_one(account).pk for _ in range(3)]

    outcomes = sending.deliver(ids)

    assert len(receiver.requests) == 1
    assert outcomes["cancelled"] == 2
    assert Delivery.objects.filter(pk__in=ids, status="cancelled").count() == 2


def test_a_job_stops_sending_to_a_webhook_its_owner_disables_meanwhile(
    account, make_webhook, receiver, monkeypatch, settings
):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    monkeypatch.setattr(endpoints, "FRESH_SECONDS", -1)  # read the webhook again every round
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(10)]
    read = endpoints.sending_webhooks

    def owner_disables_it_after_the_first_read(webhook_ids):
        if receiver.requests:
            Webhook.objects.filter(pk=webhook.pk).update(enabled=False)
        return read(webhook_ids)

    monkeypatch.setattr(endpoints, "sending_webhooks", owner_disables_it_after_the_first_read)
    outcomes = sending.deliver(ids)

    # The request claimed in the round that saw the change still goes; nothing after it.
    assert len(receiver.requests) <= 2
    assert outcomes["cancelled"] >= 8
    assert Delivery.objects.filter(pk__in=ids, status="cancelled").count() == outcomes["cancelled"]


def test_a_webhook_failing_for_the_whole_window_is_disabled_and_the_account_emailed(
    account, owner, teammate, make_webhook, receiver, owner_client
):
    webhook = make_webhook(url=receiver.url, events=("delivered",), description="CRM")
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    receiver.reply = Reply(status=500)

    sending.deliver([emit_one(account).pk])

    webhook.refresh_from_db()
    assert not webhook.enabled
    assert webhook.disabled_reason.startswith("Every delivery failed for 5 days")
    (email,) = mail.outbox
    assert sorted(email.to) == sorted([owner.email, teammate.email])
    assert "was disabled" in email.subject
    assert "Why: Every delivery failed for 5 days, since" in email.body  # in the account's words, not the stored ones
    page = owner_client.get("/webhooks/").content.decode()
    assert "Every delivery failed for 5 days" in page


def test_a_webhook_failing_for_less_than_the_window_stays_enabled(account, make_webhook, receiver):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=4))
    receiver.reply = Reply(status=500)
    sending.deliver([emit_one(account).pk])
    webhook.refresh_from_db()
    assert webhook.enabled
    assert not mail.outbox


def test_a_refused_connection_is_retried_without_pausing_the_endpoint(account, make_webhook, settings):
    webhook = make_webhook(url="http://127.0.0.1:9/hook", events=("delivered",))
    delivery = emit_one(account)
    before = timezone.now()
    sending.deliver([delivery.pk])
    delivery.refresh_from_db()
    webhook.refresh_from_db()
    assert delivery.status == "pending"
    assert delivery.attempts.get().error == "Connection refused"
    assert delivery.next_attempt_at <= before + timedelta(seconds=6)  # the schedule's 5 s
    # One unanswered attempt is not an unresponsive endpoint.
    assert (webhook.paused_until, webhook.unanswered_streak) == (None, 1)


def test_unanswered_attempts_in_a_row_pause_the_endpoint_and_say_why(account, make_webhook, settings, owner_client):
    settings.WEBHOOKS_PAUSE = 600.0
    webhook = make_webhook(url="http://127.0.0.1:9/hook", events=("delivered",))
    ids = [emit_one(account).pk for _ in range(settings.WEBHOOKS_BREAKER_STREAK + 3)]
    outcomes = sending.deliver(ids)
    webhook.refresh_from_db()
    assert outcomes["retry"] >= settings.WEBHOOKS_BREAKER_STREAK
    assert webhook.paused_until > timezone.now() + timedelta(seconds=590)
    # The requests run side by side and may be gathered in more than one round; the
    # reason counts the streak at the round that reached the limit.
    streak = re.match(r"(\d+) attempts in a row got no answer", webhook.pause_reason)
    assert streak and settings.WEBHOOKS_BREAKER_STREAK <= int(streak[1]) <= outcomes["retry"]
    assert webhook.pause_reason.endswith("(last: Connection refused)")
    assert "got no answer" in owner_client.get("/webhooks/").content.decode()
    assert "got no answer" in owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").content.decode()


def test_one_timeout_among_answered_attempts_never_pauses(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply()] * 10 + [Reply(delay=1.5)]
    ids = [emit_one(account).pk for _ in range(40)]
    assert sending.deliver(ids) == {"delivered": 39, "retry": 1}
    webhook.refresh_from_db()
    assert (webhook.paused_until, webhook.unanswered_streak) == (None, 0)


def test_an_endpoint_that_answers_one_attempt_in_three_is_paused(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_BREAKER_STREAK = 100  # only the share of unanswered attempts counts here
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(), Reply(delay=1.5), Reply(delay=1.5)] * 10
    ids = [emit_one(account).pk for _ in range(20)]
    outcomes = sending.deliver(ids)
    webhook.refresh_from_db()
    assert webhook.paused_until is not None
    assert "of its last 10 attempts got no answer" in webhook.pause_reason
    assert outcomes["deferred"] == 10  # the rest wait for the end of the pause


def pause_over(webhook, settings) -> None:
    settings.WEBHOOKS_PAUSE = 600.0
    Webhook.objects.filter(pk=webhook.pk).update(
        paused_until=timezone.now() - timedelta(seconds=1),
        pause_cause={"kind": "streak", "count": 5, "last": "Timed out after 15 s"},
    )


def test_after_the_pause_one_probe_goes_first_and_its_answer_resumes_everything(
    account, make_webhook, receiver, settings
):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    pause_over(webhook, settings)
    receiver.replies = [Reply(delay=0.5)]  # the probe takes a moment to answer
    ids = [emit_one(account).pk for _ in range(6)]
    assert sending.deliver(ids) == {"delivered": 6}
    probe, *others = receiver.requests
    assert all(request.at >= probe.at + 0.5 for request in others)
    webhook.refresh_from_db()
    assert (webhook.paused_until, webhook.probe_until, webhook.pause_cause) == (None, None, {})


def test_a_probe_that_gets_no_answer_pauses_the_endpoint_again(account, make_webhook, settings):
    webhook = make_webhook(url="http://127.0.0.1:9/hook", events=("delivered",))
    pause_over(webhook, settings)
    ids = [emit_one(account).pk for _ in range(6)]
    assert sending.deliver(ids) == {"retry": 1, "deferred": 5}
    webhook.refresh_from_db()
    assert webhook.paused_until > timezone.now() + timedelta(seconds=590)
    assert webhook.pause_reason == "the probe after the pause got no answer (Connection refused)"


def test_while_another_worker_probes_the_endpoint_its_deliveries_wait_for_the_answer(
    account, make_webhook, receiver, settings
):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    pause_over(webhook, settings)
    probing_until = timezone.now() + timedelta(seconds=20)
    Webhook.objects.filter(pk=webhook.pk).update(probe_until=probing_until)
    delivery = emit_one(account)
    assert sending.deliver([delivery.pk]) == {"deferred": 1}
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == probing_until
    assert not receiver.requests


def test_the_webhooks_page_says_an_endpoint_is_paused(make_webhook, owner_client):
    webhook = make_webhook()
    Webhook.objects.filter(pk=webhook.pk).update(paused_until=timezone.now() + timedelta(minutes=10))
    assert "your app did not answer" in owner_client.get("/webhooks/").content.decode()


def test_deliveries_to_a_paused_endpoint_wait_without_an_attempt(account, make_webhook, receiver):
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    until = timezone.now() + timedelta(minutes=10)
    Webhook.objects.filter(pk=webhook.pk).update(paused_until=until)
    delivery = emit_one(account)
    assert sending.deliver([delivery.pk]) == {"deferred": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("pending", 0, until)
    assert not receiver.requests


def test_a_hanging_endpoint_does_not_hold_up_the_others(account, make_webhook, receiver, settings, emit):
    from tests.receiver import Receiver

    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    settings.WEBHOOKS_BREAKER_STREAK = 2
    slow = Receiver().start()
    try:
        slow.reply = Reply(delay=3)
        make_webhook(url=slow.url, events=("delivered",))
        make_webhook(url=receiver.url, events=("delivered",))
        emit(account, [NewEvent("delivered") for _ in range(30)])
        started = timezone.now()
        sending.deliver(list(Delivery.objects.values_list("pk", flat=True)))
        elapsed = (timezone.now() - started).total_seconds()
    finally:
        slow.stop()
    # The fast endpoint got everything; the hanging one cost one timeout (1 s here), then
    # was paused instead of taking 15 rounds of timeouts (30 requests, 2 at a time: 15 s).
    # Its two requests usually come back in one round; on a busy machine they may be
    # gathered in two, and a third may start before the streak is complete.
    assert len(receiver.unique()) == 30
    tried = len(slow.requests)
    assert 2 <= tried <= 3
    assert elapsed < 8
    assert Delivery.objects.filter(webhook__url=slow.url, status="pending", attempt_count=0).count() == 30 - tried


def test_a_slow_endpoint_holds_only_its_own_threads(account, make_webhook, receiver, settings, emit):
    import time

    from tests.receiver import Receiver

    settings.WEBHOOKS_TIMEOUT = 5.0
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    slow = Receiver().start()
    try:
        slow.reply = Reply(delay=0.4)  # answers, but slowly: no pause
        make_webhook(url=slow.url, events=("delivered",))
        make_webhook(url=receiver.url, events=("delivered",))
        emit(account, [NewEvent("delivered") for _ in range(20)])
        started = time.monotonic()
        sending.deliver(list(Delivery.objects.order_by("pk").values_list("pk", flat=True)))
        finished = time.monotonic()
    finally:
        slow.stop()
    assert len(slow.unique()) == len(receiver.unique()) == 20
    # Two at a time, the slow endpoint took about 4 s; the other was served all along.
    assert finished - started > 3.5
    assert max(r.at for r in receiver.requests) - started < 1.5


def test_a_duplicate_job_never_sends_twice(account, make_webhook, receiver):
    make_webhook(url=receiver.url, events=("delivered",))
    delivery = emit_one(account)
    assert sending.deliver([delivery.pk]) == {"delivered": 1}
    assert sending.deliver([delivery.pk]) == {"skipped": 1}
    assert len(receiver.requests) == 1


def test_a_test_send_is_never_retried(account, make_webhook, receiver, run_worker, django_capture_on_commit_callbacks):
    import catalog
    from webhooks.jobs import enqueue_test

    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=500)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_test(webhook, catalog.get("transactional", "delivered"))
    run_worker()
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None
    webhook.refresh_from_db()
    assert webhook.failing_since is None  # a test does not count against the webhook


def test_one_job_keeps_its_webhooks_failing_state_between_rounds(account, make_webhook, receiver, settings):
    # One job, one request at a time: the first fails, the second succeeds. The job reads
    # the webhook once and keeps it; the success must still end the run of failures.
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(status=500)]
    first, second = emit_one(account), emit_one(account)
    assert sending.deliver([first.pk, second.pk]) == {"retry": 1, "delivered": 1}
    webhook.refresh_from_db()
    assert webhook.failing_since is None


def test_an_edited_webhook_is_read_again_within_a_second(account, make_webhook, receiver, monkeypatch):
    webhook = make_webhook(url=receiver.url, events=("delivered",), description="before")
    known = endpoints.Endpoints()

    def row() -> Webhook:
        known.refresh({webhook.pk})  # as a job's claim does
        return known.held({webhook.pk})[webhook.pk]

    assert row().description == "before"
    Webhook.objects.filter(pk=webhook.pk).update(description="after")
    assert row().description == "before"  # one round later: as read
    later = endpoints.time.monotonic() + endpoints.FRESH_SECONDS + 0.1
    monkeypatch.setattr(endpoints.time, "monotonic", lambda: later)
    assert row().description == "after"


def test_the_body_sent_is_the_stored_payload_text(account, make_webhook, receiver):
    from catalog.payloads import encode

    make_webhook(url=receiver.url, events=("delivered",))
    delivery = emit_one(account, subject="Café ✓")
    stored = Delivery.objects.filter(pk=delivery.pk).values_list("payload", flat=True).get()
    sending.deliver([delivery.pk])
    (request,) = receiver.requests
    assert request.body == encode(stored) == encode(delivery.payload)
    assert "Café ✓".encode() in request.body  # UTF-8 as is, not \u escapes


def test_a_bug_while_sending_fails_the_attempt_instead_of_hanging_the_job(account, make_webhook, receiver, monkeypatch):
    make_webhook(url=receiver.url, events=("delivered",))
    delivery = emit_one(account)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(request.outbound, "post", broken)
    assert sending.deliver([delivery.pk]) == {"retry": 1}
    attempt = delivery.attempts.get()
    assert attempt.error == "The request could not be sent (internal error)"


def test_a_claim_skips_deliveries_whose_webhook_is_gone(account, make_webhook, receiver):
    make_webhook(url=receiver.url, events=("delivered",))
    delivery = emit_one(account)
    # The webhook was deleted between the claim's UPDATE and the read of the webhooks.
    _, claimed = Delivery.objects.claim([delivery.pk], sending.lease(), webhooks=lambda ids: {})
    assert claimed == []


def test_a_claim_carries_when_the_event_was_accepted(account, make_webhook, receiver):
    """The start of the delivery's latency (webhooks.metrics): on PostgreSQL it comes as epoch
    seconds, read in C, and must still be the stored time, in UTC."""
    make_webhook(url=receiver.url, events=("delivered",))
    delivery = emit_one(account)
    _, claimed = Delivery.objects.claim([delivery.pk], sending.lease())
    assert claimed[0].created_at.utcoffset() == timedelta(0)
    assert abs(claimed[0].created_at - Delivery.objects.get(pk=delivery.pk).created_at) < timedelta(microseconds=2)


def test_one_round_where_one_answer_cannot_be_read_sends_every_other_delivery_once(
    account, make_webhook, receiver, settings
):
    from tests.hostile import BEHAVIOURS, Hostile

    odd = Hostile(BEHAVIOURS["Retry-After: superscript two"]()).start()
    try:
        make_webhook(url=receiver.url, events=("delivered",))
        make_webhook(url=odd.url, events=("delivered",))
        emit_stored(account, [NewEvent("delivered") for _ in range(5)])
        ids = list(Delivery.objects.values_list("pk", flat=True))
        outcomes = sending.deliver(ids)
    finally:
        odd.stop()
    assert outcomes == {"delivered": 5, "retry": 5}
    assert len(receiver.requests) == len(receiver.unique()) == 5
    # The unreadable Retry-After is ignored: the schedule's 5 s, not a crash.
    assert set(Delivery.objects.filter(webhook__url=odd.url).values_list("status", flat=True)) == {"pending"}


def test_an_unexpected_error_judging_one_answer_is_that_deliverys_failed_attempt(
    account, make_webhook, receiver, monkeypatch
):
    from webhooks.sending import outcome

    make_webhook(url=receiver.url, events=("delivered",))
    unlucky, *others = [emit_one(account).pk for _ in range(4)]
    judge = outcome._judge

    def breaks_on_one(sent, now):
        if sent.delivery.pk == unlucky and sent.response is not None:
            raise RuntimeError("boom")
        return judge(sent, now)

    monkeypatch.setattr(outcome, "_judge", breaks_on_one)
    assert sending.deliver([unlucky, *others]) == {"delivered": 3, "retry": 1}
    assert Delivery.objects.get(pk=unlucky).attempts.get().error == "The answer could not be read (RuntimeError)"
    assert len(receiver.requests) == 4


def test_when_the_database_refuses_one_outcome_the_others_of_the_round_are_recorded(
    account, make_webhook, receiver, monkeypatch, settings
):
    from django.db import DatabaseError

    from webhooks.sending import record

    make_webhook(url=receiver.url, events=("delivered",))
    refused, *others = [emit_one(account).pk for _ in range(4)]
    write = record.write

    def refuses_one(outcomes, then=None):
        if any(o.delivery_id == refused and o.body for o in outcomes):
            raise DatabaseError("invalid byte sequence")
        return write(outcomes, then)

    monkeypatch.setattr(record, "write", refuses_one)
    assert sending.deliver([refused, *others]) == {"delivered": 4}
    assert len(receiver.requests) == 4
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}
    attempt = Delivery.objects.get(pk=refused).attempts.get()
    assert (attempt.response_status, attempt.response_body, attempt.error) == (200, "", record.REFUSED)


@pytest.mark.parametrize(
    "value,seconds",
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("²", None),  # a digit to str.isdigit, not to float()
        ("-5", None),
        ("1e3", None),
        ("9" * 5000, float("inf")),  # longer than int() takes; capped by the caller
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("Sun, 29 Nov 2026 10:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 10:00:30 -0000", 30.0),
        ("Sun, 29 Nov 2026 10:00:30", 30.0),
        ("Sun, 29 Nov 2026 11:00:30 +0100", 30.0),
        ("tomorrow", None),
        ("", None),
    ],
)
def test_retry_after_reads_ascii_digits_or_an_http_date_in_utc(value, seconds):
    from datetime import UTC, datetime

    from webhooks.sending.outcome import retry_after

    assert retry_after(value, datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)) == seconds


def test_retry_after_is_capped_and_an_unreadable_one_ignored(account, make_webhook, receiver, settings):
    settings.WEBHOOKS_RETRY_AFTER_MAX = 60.0
    assert (
        timedelta(seconds=59)
        < next_attempt_after(Reply(status=503, headers={"Retry-After": "9" * 40}), account, make_webhook, receiver)
        <= timedelta(seconds=60)
    )


def test_everything_stored_from_a_receiver_is_storable():
    from webhooks import storable

    assert storable.text("a\x00b\ud800c\udfffd") == "a\ufffdb\ufffdc\ufffdd"
    assert storable.text("x" * 10, limit=4) == "xxxx"
    assert storable.headers_json({"X-\x00": "v\ud800", "Big": "y" * 100}, limit=50) == '{"X-\ufffd": "v\ufffd"}'


@pytest.fixture
def claims():
    """Each claim's statement as it runs: whether it is inside a transaction, what else that transaction
    wrote, and how many deliveries it claimed."""
    seen: list[dict] = []

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().startswith("WITH claimed AS (UPDATE webhooks_delivery SET status = 'sending'"):
            # PostgreSQL, after a round all delivered: the claim and the round's record are one
            # statement, one transaction (webhooks.sql.record_delivered); with no ids, no claim.
            if params[2]:
                seen.append({"in_transaction": True, "attempts_written": [True], "size": len(params[2])})
        elif sql.lstrip().startswith("UPDATE webhooks_delivery SET status = 'sending'"):
            # (token, lease, ids...) on SQLite; (token, lease, [ids]) on PostgreSQL.
            size = len(params[2]) if isinstance(params[2], list) else len(params) - 2
            seen.append({"in_transaction": connection.in_atomic_block, "attempts_written": [], "size": size})
        elif sql.lstrip().startswith("INSERT") and "webhooks_attempt" in sql and seen and connection.in_atomic_block:
            seen[-1]["attempts_written"].append(True)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def test_after_a_round_all_delivered_the_next_claim_goes_in_its_records_transaction(
    transactional_db, account, make_webhook, receiver, settings, claims, caplog, monkeypatch
):
    # One write transaction a round instead of two: on SQLite each waited for the one write lock.
    # One request at a time, so that each round is one delivery however busy the machine (with two,
    # a pair that finished further apart than the gather window made two rounds). After the first,
    # each claim takes two (AHEAD): one goes, the other waits for it, and both are recorded together
    # (a round waits for the next no longer than a poll, made long here so that a busy machine's slow
    # answer does not record them apart).
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 5.0)
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(6)]
    assert sending.deliver(ids) == {"delivered": 6}
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == len(receiver.requests) == 6
    assert [claim["in_transaction"] for claim in claims] == [False, True, True, True]
    assert [claim["size"] for claim in claims] == [1, 2, 2, 1]
    assert all(claim["attempts_written"] for claim in claims[1:])
    # The two of a claim are recorded together, with the next claim.
    rounds = [r.getMessage() for r in caplog.records if r.getMessage().startswith("round of")]
    assert [message.split(":")[0] for message in rounds] == ["round of 1", "round of 2", "round of 2", "round of 1"]
    assert Delivery.objects.filter(pk__in=ids, status="succeeded").count() == 6


def test_after_a_round_with_a_failure_the_next_claim_waits_for_the_endpoints_bookkeeping(
    transactional_db, account, make_webhook, receiver, settings, claims
):
    # A failure may pause the endpoint: what starts next is decided after the round is recorded.
    # One request at a time, so that each round is one delivery however busy the machine.
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(status=500)]
    ids = [emit_one(account).pk for _ in range(6)]
    assert sending.deliver(ids) == {"delivered": 5, "retry": 1}
    # Alone: the first claim, the one after the failed round, and the one after the next round, which
    # starts while the endpoint is still marked failing (its success clears the mark in the bookkeeping
    # after its record). Then each claim rides in the record of an all-delivered round, and takes two
    # (AHEAD) for the endpoint in good health again.
    assert [claim["in_transaction"] for claim in claims] == [False, False, False, True, True]
    assert [claim["size"] for claim in claims] == [1, 1, 1, 2, 1]


def test_when_a_rounds_record_fails_the_next_claim_it_carried_is_made_on_its_own(
    account, make_webhook, receiver, monkeypatch, settings
):
    from django.db import DatabaseError

    from webhooks.sending import record

    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(6)]
    write = record.write

    def refuses_the_second_round(outcomes, then=None):
        if any(o.delivery_id == ids[2] and o.body for o in outcomes):
            raise DatabaseError("invalid byte sequence")
        return write(outcomes, then)

    monkeypatch.setattr(record, "write", refuses_the_second_round)
    assert sending.deliver(ids) == {"delivered": 6}
    sent = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(sent) == sorted(d.webhook_message_id for d in Delivery.objects.filter(pk__in=ids))
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}


def most_at_once(requests) -> int:
    """The most requests the receiver was answering at the same time."""
    edges = sorted([(r.at, 1) for r in requests] + [(r.answered_at or r.at, -1) for r in requests])
    at_once = most = 0
    for _, step in edges:
        at_once += step
        most = max(most, at_once)
    return most


def test_a_steady_endpoint_is_claimed_ahead_but_never_has_more_in_flight_than_its_room(
    transactional_db, account, make_webhook, receiver, settings, claims
):
    # After a round all delivered, a claim takes up to twice the endpoint's room (AHEAD): what fits
    # goes, the rest waits for it. The receiver answers slowly enough that requests overlap (the
    # send threads wake one another for requests held up), and never has more than its room at once.
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 3
    receiver.reply = Reply(delay=0.1)
    make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(15)]
    assert sending.deliver(ids) == {"delivered": 15}
    assert len(receiver.unique()) == len(receiver.requests) == 15
    assert most_at_once(receiver.requests) <= 3
    assert max(claim["size"] for claim in claims) > 3
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempt_count")) == {("succeeded", 1)}


def test_what_was_claimed_ahead_is_given_back_when_its_endpoint_is_paused(
    account, make_webhook, receiver, settings, claims
):
    from webhooks.models import Attempt

    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    settings.WEBHOOKS_BREAKER_STREAK = 1
    settings.WEBHOOKS_TIMEOUT = 0.5
    # The first request is answered; the second gets no answer in time, and the endpoint is paused.
    receiver.replies = [Reply(), Reply(delay=2)]
    make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(5)]
    assert sending.deliver(ids) == {"delivered": 1, "retry": 1, "deferred": 3}
    # The second claim took two: one went and timed out; the other was never sent, and waits for
    # the end of the pause like the rest, its claim given back with the attempt it had counted.
    assert [claim["size"] for claim in claims] == [1, 2]
    assert len(receiver.requests) == 2
    rows = list(Delivery.objects.filter(pk__in=ids).order_by("pk").values_list("status", "attempt_count"))
    assert rows == [("succeeded", 1), ("pending", 1), ("pending", 0), ("pending", 0), ("pending", 0)]
    assert not Attempt.objects.filter(delivery_id=ids[2]).exists()
    assert Delivery.objects.get(pk=ids[2]).claim_token is None


def test_a_slice_claimed_ahead_goes_back_once_it_has_waited_too_long(
    account, make_webhook, receiver, settings, monkeypatch
):
    from webhooks.models import Attempt

    # It is sent only while its claim's lease covers its whole request (pipeline.HOLD_SECONDS); here
    # never, so each slice claimed ahead is given back, and claimed again to go in its turn.
    monkeypatch.setattr(pipeline, "HOLD_SECONDS", 0.0)
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    make_webhook(url=receiver.url, events=("delivered",))
    ids = [emit_one(account).pk for _ in range(6)]
    given_back = []

    def wrapper(execute, sql, params, many, context):
        if "attempt_count = attempt_count - 1" in sql:
            given_back.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert sending.deliver(ids) == {"delivered": 6}
    assert given_back
    assert len(receiver.unique()) == len(receiver.requests) == 6
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempt_count")) == {("succeeded", 1)}
    assert set(Attempt.objects.filter(delivery_id__in=ids).values_list("number", flat=True)) == {1}


def test_giving_back_a_claim_touches_only_the_rows_it_still_holds(account, make_webhook):
    import uuid

    from webhooks import sql

    make_webhook(url="https://example.com/hook", events=("delivered",))
    first, second = emit_one(account), emit_one(account)
    token, _ = Delivery.objects.claim([first.pk, second.pk], pipeline.lease())
    # The second was taken over meanwhile (its lease ran out, and another job claimed it).
    Delivery.objects.filter(pk=second.pk).update(claim_token=uuid.uuid4())
    assert sql.unclaim([first.pk, second.pk], token) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempt_count, first.claim_token, first.lease_expires_at) == ("pending", 0, None, None)
    assert (second.status, second.attempt_count) == ("sending", 1)
