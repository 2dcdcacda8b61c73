"""The delivery log of a webhook, its chart and its retries; the Events page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation

from events.fanout import NewEvent
from events.models import Event
from tests.receiver import Reply
from webhooks import fairqueue
from webhooks.models import Attempt, Delivery, HourlyCount
from webhooks.templatetags.ui import when

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture
def webhook(make_webhook):
    return make_webhook(url="https://crm.example/hook", events=("delivered", "click"))


def make_delivery(webhook, status: str = "succeeded", event: str = "delivered", **fields) -> Delivery:
    delivery = Delivery.objects.create(
        webhook=webhook, event=event, payload={"event": event, "email": "jane@example.com"}, status=status, **fields
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        request_url=webhook.url,
        request_headers={"webhook-id": delivery.webhook_message_id, "Content-Type": "application/json"},
        request_body=json.dumps({"event": event}, separators=(",", ":")),
        response_status=200 if status == "succeeded" else 500,
        response_headers={"X-Served-By": "crm-7"},
        response_body="thanks" if status == "succeeded" else "database down",
        duration_ms=42,
    )
    return delivery


def test_the_deliveries_page_lists_deliveries_with_status_event_and_attempts(owner_client, webhook):
    make_delivery(webhook, "succeeded")
    make_delivery(webhook, "failed", event="click", attempt_count=8)
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").content.decode()
    assert "Deliveries" in page
    assert "Succeeded" in page and "Failed" in page
    assert "Clicked" in page and "Delivered" in page
    assert ">8</td>" in page


def test_the_deliveries_page_filters_by_status_and_event(owner_client, webhook):
    make_delivery(webhook, "succeeded", event="delivered")
    make_delivery(webhook, "failed", event="click")
    make_delivery(webhook, "failed", event="delivered")
    response = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/", {"status": "failed", "event": "click"})
    assert [d.event for d in response.context["page"].object_list] == ["click"]
    response = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/", {"status": "succeeded"})
    assert [d.status for d in response.context["page"].object_list] == ["succeeded"]


def test_an_empty_log_says_what_will_appear(owner_client, webhook):
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").content.decode()
    assert "Nothing delivered yet." in page
    assert "No attempts in the last 24 hours" in page


def test_a_delivery_shows_each_attempts_request_and_response(owner_client, webhook):
    delivery = make_delivery(webhook, "failed")
    Attempt.objects.create(
        delivery=delivery, number=2, request_url=webhook.url, request_body="{}", error="Connection refused"
    )
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/").content.decode()
    assert delivery.webhook_message_id in page  # request header
    assert "{&quot;event&quot;:&quot;delivered&quot;}" in page  # request body
    assert "HTTP 500" in page and "X-Served-By: crm-7" in page and "database down" in page  # response
    assert "42 ms" in page
    assert "Connection refused" in page
    assert "Retry now" in page


def test_retry_now_sends_a_failed_delivery_again(owner_client, webhook, django_capture_on_commit_callbacks):
    delivery = make_delivery(webhook, "failed", attempt_count=8, completed_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.completed_at) == ("pending", None)
    assert fairqueue.waiting_ids() == [delivery.pk]


def waiting_to_retry(webhook, **fields) -> Delivery:
    """A delivery whose first attempt failed, waiting 29 minutes for its next one."""
    return make_delivery(
        webhook, "pending", attempt_count=1, next_attempt_at=timezone.now() + timedelta(minutes=29), **fields
    )


def test_retry_now_sends_a_delivery_waiting_for_its_next_attempt_at_once(
    owner_client, webhook, django_capture_on_commit_callbacks
):
    delivery = waiting_to_retry(webhook)
    assert delivery.can_retry_now
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/").content.decode()
    assert "Retry now" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/", follow=True)
    assert "Retrying now." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
    assert fairqueue.waiting_ids() == [delivery.pk]


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "pending"},  # never tried yet: on its way
        {"status": "pending", "attempt_count": 1, "next_attempt_at": "past"},  # due: on its way
        {"status": "sending", "attempt_count": 1},
        {"status": "succeeded", "attempt_count": 1},
        {"status": "failed", "attempt_count": 1, "is_test": True},
    ],
)
def test_retry_now_is_not_offered_for_what_is_on_its_way_done_or_a_test(owner_client, webhook, fields):
    if fields.get("next_attempt_at") == "past":
        fields["next_attempt_at"] = timezone.now() - timedelta(seconds=1)
    delivery = make_delivery(webhook, **fields)
    assert not delivery.can_retry_now
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/").content.decode()
    assert "Retry now" not in page
    before = Delivery.objects.values().get(pk=delivery.pk)
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/", follow=True)
    assert "can be retried" in response.content.decode()
    assert Delivery.objects.values().get(pk=delivery.pk) == before


def test_retry_all_failed_since_also_sends_those_waiting_for_their_next_attempt(owner_client, webhook):
    waiting = waiting_to_retry(webhook)
    failed = make_delivery(webhook, "failed")
    fresh = make_delivery(webhook, "pending")
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": since}, follow=True)
    assert "Retrying 2 failed deliveries." in response.content.decode()
    for delivery in (waiting, failed):
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
    assert Delivery.objects.get(pk=fresh.pk).next_attempt_at is None


@pytest.mark.parametrize("since", ["2024-13-45T00:00", "2024-02-30T10:00", "2024-02-29T24:61", "9999-99-99T99:99"])
def test_retry_all_failed_since_an_impossible_date_shows_the_forms_message(owner_client, webhook, since):
    failed = make_delivery(webhook, "failed")
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": since})
    assert response.status_code == 400
    # The form's own message, the format it takes, under the field that has the date as typed.
    html = response.content.decode()
    assert re.search(r'id="id_since_error">Enter the date and time as YYYY-MM-DD HH:MM', html)
    assert f'value="{since}"' in html and 'aria-invalid="true"' in html
    assert 'aria-describedby="id_since_helptext id_since_error"' in html
    assert Delivery.objects.get(pk=failed.pk).status == "failed"


def test_retry_now_needs_a_post(owner_client, webhook):
    delivery = make_delivery(webhook, "failed")
    assert owner_client.get(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/").status_code == 405


def test_retry_now_is_refused_while_the_webhook_is_disabled(owner_client, webhook):
    webhook.enabled = False
    webhook.save()
    delivery = make_delivery(webhook, "failed")
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/", follow=True)
    assert "Enable it first" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_a_succeeded_delivery_is_not_retried(owner_client, webhook):
    delivery = make_delivery(webhook, "succeeded")
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/", follow=True)
    assert "can be retried" in response.content.decode()


def test_retry_all_failed_since_a_moment(owner_client, webhook):
    old = make_delivery(webhook, "failed", created_at=timezone.now() - timedelta(days=3))
    recent = [make_delivery(webhook, "failed"), make_delivery(webhook, "failed", event="click")]
    ok = make_delivery(webhook, "succeeded")
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": since}, follow=True)
    assert "Retrying 2 failed deliveries." in response.content.decode()
    assert {d.pk for d in Delivery.objects.filter(status="pending")} == {d.pk for d in recent}
    old.refresh_from_db()
    ok.refresh_from_db()
    assert (old.status, ok.status) == ("failed", "succeeded")


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_retry_all_failed_since_reads_the_time_in_utc_as_the_page_says(owner_client, webhook, settings, zone):
    settings.TIME_ZONE = zone  # what the server runs with must not shift the moment
    now = timezone.now()
    before = make_delivery(webhook, "failed", created_at=now - timedelta(minutes=90))
    after = make_delivery(webhook, "failed", created_at=now - timedelta(minutes=30))
    since = (now - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").content.decode()
    assert "Retry all failed since (UTC)" in page
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": since}, follow=True)
    assert "Retrying 1 failed delivery." in response.content.decode()
    assert list(Delivery.objects.filter(status="pending")) == [after]
    assert Delivery.objects.get(pk=before.pk).status == "failed"


def test_retry_all_failed_needs_a_date(owner_client, webhook):
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": "soon"})
    assert response.status_code == 400
    assert "Enter the date and time as YYYY-MM-DD HH:MM, such as 2026-01-31 09:30." in response.content.decode()
    response = owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {})
    assert 'id="id_since_error">Choose the date and time' in response.content.decode()


def test_the_chart_counts_successes_and_failures_per_hour(owner_client, account, make_webhook, receiver, settings):
    from events import emit
    from webhooks import sending
    from webhooks.models import HourlyCount

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1  # the receiver answers in order
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    receiver.replies = [Reply(), Reply(), Reply(status=500)]
    events = emit(account, [NewEvent("delivered") for _ in range(3)])
    sending.deliver(list(Delivery.objects.filter(event_record__in=events).values_list("pk", flat=True)))
    # Two days ago, outside the last day.
    HourlyCount.objects.create(webhook=webhook, hour=timezone.now() - timedelta(days=2), failed=7)

    chart = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").context["chart"]
    assert (chart["succeeded"], chart["failed"]) == (2, 1)
    assert len(chart["bars"]) == 24
    assert chart["bars"][-1]["hour"].succeeded == 2
    page = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").content.decode()
    assert "<svg" in page and "2 delivered, 1 failed" in page


def test_the_charts_first_hour_says_its_day(owner_client, account, make_webhook):
    # The first bar is 23 hours before the current one: yesterday, except from 23:00 to midnight.
    zone = next(name for name in ("UTC", "Asia/Tokyo") if datetime.now(ZoneInfo(name)).hour != 23)
    account.time_zone = zone
    account.save()
    webhook = make_webhook()
    HourlyCount.objects.create(
        webhook=webhook, hour=timezone.now().replace(minute=0, second=0, microsecond=0), failed=1
    )

    response = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/")

    with timezone.override(ZoneInfo(zone)), translation.override("en"):
        first = when(response.context["chart"]["bars"][0]["hour"].start)
    assert re.fullmatch(r"[A-Z][a-z]{2}\xa0\d{1,2}, \d\d:00\xa0[A-Z+0-9-]+", first)  # "Nov\xa028, 14:00\xa0UTC"
    assert f'<div class="chart-axis muted small" aria-hidden="true"><span>{first}</span>' in response.content.decode()


def test_a_time_stays_on_one_line_with_its_zone_and_a_day_with_its_month():
    moment = datetime(2026, 1, 30, 10, 2, tzinfo=UTC)
    with timezone.override(UTC), translation.override("en"):
        assert when(moment) == "Jan\xa030, 10:02\xa0UTC"
        now = timezone.now()
        assert when(now) == f"{now:%H:%M}\xa0UTC"
    with timezone.override(UTC), translation.override("it"):
        assert when(moment) == "30\xa0Gen, 10:02\xa0UTC"


def test_the_chart_stays_right_when_old_attempts_are_pruned(owner_client, account, make_webhook, receiver, settings):
    from events import emit
    from webhooks import sending

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    webhook = make_webhook(url=receiver.url, events=("delivered",))
    events = emit(account, [NewEvent("delivered") for _ in range(4)])
    sending.deliver(list(Delivery.objects.filter(event_record__in=events).values_list("pk", flat=True)))
    Delivery.objects.all().delete()  # the attempts go with them
    chart = owner_client.get(f"/webhooks/{webhook.pk}/deliveries/").context["chart"]
    assert (chart["succeeded"], chart["failed"]) == (4, 0)


def test_the_actions_menu_links_to_the_deliveries(owner_client, webhook):
    page = owner_client.get("/webhooks/").content.decode()
    assert f'href="/webhooks/{webhook.pk}/deliveries/">Deliveries</a>' in page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/webhooks/{w}/deliveries/"),
        ("get", "/webhooks/{w}/deliveries/{d}/"),
        ("post", "/webhooks/{w}/deliveries/{d}/retry/"),
        ("post", "/webhooks/{w}/deliveries/retry-failed/"),
    ],
)
def test_a_stranger_gets_404_on_the_delivery_log(stranger_client, webhook, method, path):
    delivery = make_delivery(webhook, "failed")
    url = path.format(w=webhook.pk, d=delivery.pk)
    response = getattr(stranger_client, method)(url, {"since": "2020-01-01T00:00"} if method == "post" else None)
    assert response.status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_a_delivery_of_another_webhook_is_404(owner_client, webhook, make_webhook, stranger):
    other = make_webhook(url="https://other.example/hook", owner=stranger.account)
    delivery = make_delivery(other, "failed")
    assert owner_client.get(f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/").status_code == 404


def test_the_webhook_form_has_a_batched_checkbox(owner_client, account):
    page = owner_client.get("/webhooks/new/").content.decode()
    assert 'name="batched"' in page and "5-minute window" in page
    response = owner_client.post(
        "/webhooks/new/",
        {
            "type": "transactional",
            "url": "https://b.example/hook",
            "transactional_events": ["delivered"],
            "batched": "on",
        },
    )
    assert response.status_code == 302
    assert account.webhooks.get().batched


# The Events page


def test_the_events_page_lists_recent_events_with_their_deliveries(owner_client, account, webhook, emit_now):
    emit_now(account, [NewEvent("delivered", data={"email": "jane@example.com"})])
    page = owner_client.get("/events/").content.decode()
    assert "jane@example.com" in page
    assert "crm.example/hook" in page
    assert "Pending" in page


def test_the_events_page_shows_only_the_accounts_events(stranger_client, account, webhook, emit_now):
    emit_now(account, [NewEvent("delivered", data={"email": "secret@acme.test"})])
    page = stranger_client.get("/events/").content.decode()
    assert "secret@acme.test" not in page
    assert "No events yet." in page


def test_simulate_an_event_emits_it_to_the_subscribed_webhooks(owner_client, account, webhook):
    response = owner_client.post(
        "/events/simulate/",
        {"event": "transactional:click", "email": "sam@example.com", "data": '{"link": "https://x.example/p"}'},
        follow=True,
    )
    assert "Clicked event simulated: 1 webhook will receive it." in response.content.decode()
    event = Event.objects.get()
    delivery = event.deliveries.get()
    assert delivery.webhook == webhook
    assert delivery.payload["email"] == "sam@example.com"
    assert delivery.payload["link"] == "https://x.example/p"
    assert delivery.payload["event"] == "click"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"event": "transactional:click", "email": "x", "data": ""}, "Enter an email address"),
        ({"event": "transactional:click", "email": "a@b.co", "data": "{oops"}, "This is not valid JSON"),
        ({"event": "transactional:click", "email": "a@b.co", "data": "[1]"}, "Enter a JSON object"),
        ({"event": "sms:sent", "email": "a@b.co", "data": ""}, "Select a valid choice"),
    ],
)
def test_simulate_explains_bad_input_and_stores_nothing(owner_client, data, message):
    response = owner_client.post("/events/simulate/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Event.objects.exists()


def test_simulate_needs_a_post(owner_client):
    assert owner_client.get("/events/simulate/").status_code == 405


def test_retry_all_failed_also_sends_what_a_disabled_webhook_missed(owner_client, webhook):
    missed = make_delivery(webhook, "cancelled")
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    owner_client.post(f"/webhooks/{webhook.pk}/deliveries/retry-failed/", {"since": since})
    missed.refresh_from_db()
    assert missed.status == "pending"


def test_enabling_a_webhook_again_forgets_its_old_failures(owner_client, webhook):
    from webhooks.models import Webhook

    Webhook.objects.filter(pk=webhook.pk).update(
        enabled=False, disabled_reason="Every delivery failed", failing_since=timezone.now() - timedelta(days=6)
    )
    owner_client.post(f"/webhooks/{webhook.pk}/toggle/")
    webhook.refresh_from_db()
    assert webhook.enabled
    assert (webhook.failing_since, webhook.paused_until, webhook.disabled_reason) == (None, None, "")
