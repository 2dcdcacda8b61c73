"""Each webhook's health at a glance: the cards' state line and 24-hour figures, and statuses in words."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from django.urls import reverse
from django.utils import timezone

from events.fanout import NewEvent
from tests.conftest import record_attempt
from webhooks import disabled, health
from webhooks.models import Attempt, Delivery

LIST = reverse("webhooks:list")


def delivery_with_attempts(webhook, status, answers, *, is_test=False, ago=timedelta(minutes=2), **fields):
    """A delivery whose attempts got `answers` (HTTP statuses, or error strings), the last `ago` ago."""
    now = timezone.now()
    delivery = Delivery.objects.create(
        webhook=webhook, event="delivered", payload={"event": "delivered"}, status=status,
        attempt_count=len(answers), is_test=is_test,
        completed_at=now - ago if status in {"succeeded", "failed"} else None, **fields,
    )  # fmt: skip
    for number, answer in enumerate(answers, start=1):
        record_attempt(
            delivery, number, started_at=now - ago - timedelta(seconds=len(answers) - number),
            status=answer if isinstance(answer, int) else None,
            error=answer if isinstance(answer, str) else "",
        )  # fmt: skip
    return delivery


def card(page: str, webhook) -> str:
    start = page.index(f'data-webhook-id="{webhook.pk}"')
    return page[start : page.index("</li>\n", page.index('class="webhook-side"', start))]


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


def test_a_healthy_webhook_says_when_it_last_delivered_with_its_24_hour_figures(owner_client, make_webhook):
    webhook = make_webhook()
    for _ in range(3):
        delivery_with_attempts(webhook, "succeeded", [200])
    delivery_with_attempts(webhook, "succeeded", [500, 200])
    html = card(owner_client.get(LIST).content.decode(), webhook)
    assert "health-healthy" in html
    assert re.search(r"Last delivered 2\s+minutes ago", text(html))
    assert "Last 24 h: 4 delivered · 1 failed attempt · 80% success" in text(html)


def test_a_failing_webhook_says_since_when_its_last_answer_and_what_waits(owner_client, make_webhook, account):
    webhook = make_webhook(failing_since=timezone.now() - timedelta(minutes=30))
    for _ in range(4):
        delivery_with_attempts(webhook, "pending", [500, 500], next_attempt_at=timezone.now() + timedelta(minutes=5))
    delivery_with_attempts(webhook, "failed", [200], is_test=True)  # a test is not the app's last answer
    html = card(owner_client.get(LIST).content.decode(), webhook)
    since = timezone.localtime(webhook.failing_since).strftime("%H:%M")
    assert "health-failing" in html
    assert f"Failing since {since} UTC · last answer HTTP 500 · 4 waiting to retry" in text(html)
    assert f'href="/webhooks/{webhook.pk}/deliveries/?status=pending"' in html
    assert "0 delivered" in text(html) or "1 delivered" in text(html)


def test_a_failing_webhook_that_gets_no_answer_says_why(owner_client, make_webhook):
    webhook = make_webhook(failing_since=timezone.now() - timedelta(minutes=5))
    delivery_with_attempts(webhook, "pending", ["Connection refused"])
    assert "last answer Connection refused · 1 waiting to retry" in text(owner_client.get(LIST).content.decode())


def test_paused_disabled_and_new_webhooks_say_so(owner_client, make_webhook):
    paused = make_webhook(url="https://p.example/", paused_until=timezone.now() + timedelta(minutes=10))
    disabled = make_webhook(url="https://d.example/", enabled=False, disabled_reason="Disabled by a user.")
    new = make_webhook(url="https://n.example/")
    page = owner_client.get(LIST).content.decode()
    assert "Paused until" in text(card(page, paused)) and "health-paused" in card(page, paused)
    assert "Disabled: Someone in your account disabled it" in text(card(page, disabled))
    assert "Nothing delivered yet" in text(card(page, new)) and "No attempts in the last 24 h" in text(card(page, new))


def test_a_disabled_webhook_says_what_happened_and_what_to_do_in_the_readers_words_and_zone(
    owner_client, make_webhook, account
):
    account.time_zone = "Europe/Rome"
    account.save()
    since = datetime(2026, 1, 26, 9, 2, tzinfo=UTC)
    gone = make_webhook(url="https://g.example/", enabled=False, disabled_reason=disabled.gone_reason(since))
    failing = make_webhook(
        url="https://f.example/", enabled=False, disabled_reason=disabled.long_failing_reason(since, 5 * 86400)
    )
    page = owner_client.get(LIST).content.decode()
    assert (
        "Disabled: On Jan 26, 10:02 CET your app answered 410 Gone, which says that this URL no longer takes events,"
        " so we stopped sending them. If that was a mistake, check the URL (Actions > Edit), then choose Actions >"
        " Enable."
    ) in text(card(page, gone))
    assert (
        "Disabled: Every delivery failed for 5 days, since Jan 26, 10:02 CET, so we stopped sending to it. Check that"
        " your app answers at this URL"
    ) in text(card(page, failing))
    assert "UTC" not in text(card(page, failing))  # the stored sentence, for operators, is not what people read
    italian = owner_client.get(LIST, HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert "Disattivato: Ogni consegna è fallita per 5 giorni, dal 26 Gen, 10:02 CET" in text(card(italian, failing))


def test_the_list_costs_the_same_queries_for_one_webhook_or_forty(
    owner_client, make_webhook, django_assert_max_num_queries
):
    make_webhook(failing_since=timezone.now())
    with django_assert_max_num_queries(14) as one:
        owner_client.get(LIST)
    for n in range(39):
        webhook = make_webhook(url=f"https://e{n}.example/", failing_since=timezone.now() if n % 2 else None)
        delivery_with_attempts(webhook, "pending", [500])
    with django_assert_max_num_queries(len(one.captured_queries)):
        owner_client.get(LIST)


def test_the_cards_24_hour_figures_and_the_chart_come_from_the_same_hourly_counts(owner_client, make_webhook):
    webhook = make_webhook()
    delivery_with_attempts(webhook, "succeeded", [503, 200], ago=timedelta(hours=3))
    delivery_with_attempts(webhook, "succeeded", [200], ago=timedelta(hours=30))  # older than 24 h
    [hours] = health.hourly_counts([webhook.pk], timezone.now()).values()
    assert (sum(h.succeeded for h in hours), sum(h.failed for h in hours)) == (1, 1)
    state = health.for_webhooks([webhook], timezone.now())[webhook.pk]
    assert (state.delivered_24h, state.failed_24h, state.success_rate) == (1, 1, 50.0)
    chart = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).context["chart"]
    assert (chart["succeeded"], chart["failed"]) == (1, 1)


def test_a_delivery_that_failed_once_says_retrying_with_the_answer(owner_client, make_webhook):
    webhook = make_webhook()
    delivery_with_attempts(webhook, "pending", [500, 500], next_attempt_at=timezone.now() + timedelta(minutes=30))
    page = owner_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).content.decode()
    assert "Retrying (attempt 2 failed: HTTP 500)" in page
    assert "next try at" in page and "0 minutes" not in page


def test_moments_of_seconds_ago_and_retries_due_now_are_worded_for_people(owner_client, make_webhook):
    delivered = make_webhook(url="https://d.example/")
    delivery_with_attempts(delivered, "succeeded", [200], ago=timedelta(seconds=3))
    due = make_webhook(url="https://r.example/")
    delivery_with_attempts(due, "pending", [500], next_attempt_at=timezone.now() - timedelta(seconds=1))
    card_text = text(card(owner_client.get(LIST).content.decode(), delivered))
    assert re.search(r"Last delivered (\d+ seconds|a second) ago", card_text), card_text  # not "0 minutes ago"
    page = owner_client.get(reverse("webhooks:deliveries", args=[due.pk])).content.decode()
    assert "next try any moment now" in page and "0 minutes" not in page


def test_a_pending_delivery_never_tried_still_says_pending(make_webhook):
    delivery = Delivery.objects.create(webhook=make_webhook(), event="delivered", payload={}, status="pending")
    assert delivery.status_text == "Pending"


def test_the_events_page_says_retrying_and_reloads_its_list_while_deliveries_are_on_their_way(
    owner_client, account, make_webhook, emit_now, redis
):
    webhook = make_webhook(events=("delivered",))
    [event] = emit_now(account, [NewEvent(name="delivered")])
    delivery = event.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(attempt_count=1)
    Attempt.objects.create(delivery=delivery, number=1, request_url=webhook.url, request_body="{}", response_status=502)
    page = owner_client.get(reverse("events:list")).content.decode()
    assert "Retrying (attempt 1 failed: HTTP 502)" in page
    assert 'data-url="/events/?fragment=1"' in page and "js/live_list.js" in page
    fragment = owner_client.get(reverse("events:list") + "?fragment=1").content.decode()
    assert 'data-live="true"' in fragment and "<html" not in fragment
    Delivery.objects.filter(pk=delivery.pk).update(status="succeeded")
    fragment = owner_client.get(reverse("events:list") + "?fragment=1").content.decode()
    assert 'data-live="false"' in fragment and "Succeeded" in fragment


def test_a_stranger_sees_none_of_the_health_of_another_account(stranger_client, make_webhook):
    webhook = make_webhook(url="https://secret-crm.example/")
    delivery_with_attempts(webhook, "succeeded", [200])
    page = stranger_client.get(LIST).content.decode()
    assert "secret-crm" not in page and "Last delivered" not in page
    assert stranger_client.get(reverse("events:list") + "?fragment=1").status_code == 200
    assert json.dumps("secret-crm") not in stranger_client.get(reverse("events:list") + "?fragment=1").content.decode()
