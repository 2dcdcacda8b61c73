"""Retention: history older than WEBHOOKS_RETENTION_DAYS goes, in small batches, by indexed queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from tests.conftest import wait_until
from webhooks import exports
from webhooks.metrics import StateCollector
from webhooks.models import Attempt, Delivery, Export
from webhooks.retention import history_start, old_deliveries, old_events, old_exports, prune

pytestmark = pytest.mark.django_db


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def history(account, webhook, created_at: datetime, status: str = "succeeded", attempts: int = 2) -> Delivery:
    """An event, its delivery to `webhook` and the delivery's attempts, all made at `created_at`."""
    event = Event.objects.create(account=account, type="transactional", name="delivered", created_at=created_at)
    delivery = Delivery.objects.create(
        webhook=webhook, event_record=event, event="delivered", payload={}, status=status, created_at=created_at
    )
    for number in range(1, attempts + 1):
        Attempt.objects.create(
            delivery=delivery, number=number, request_url="u", request_body="{}", started_at=created_at
        )
    return delivery


def test_finished_history_older_than_the_period_goes_and_the_rest_stays(account, make_webhook, settings):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    webhook = make_webhook()
    gone = [history(account, webhook, days_ago(d), status) for d, status in
            [(40, "succeeded"), (35, "failed"), (31, "cancelled"), (400, "succeeded")]]  # fmt: skip
    kept = history(account, webhook, days_ago(29))
    owed = history(account, webhook, days_ago(40), status="pending")  # still owed: never deleted
    lonely = Event.objects.create(account=account, type="transactional", name="delivered", created_at=days_ago(50))
    Export.objects.create(account=account, params={}, notify_url="https://e.com", created_at=days_ago(45))
    recent_export = Export.objects.create(account=account, params={}, notify_url="https://e.com")

    done = prune(batch=2)  # several small transactions

    assert done == {"deliveries": 4, "attempts": 8, "events": 5, "exports": 1}
    assert set(Delivery.objects.values_list("pk", flat=True)) == {kept.pk, owed.pk}
    assert not Attempt.objects.filter(delivery_id__in=[d.pk for d in gone]).exists()
    assert Attempt.objects.filter(delivery=kept).count() == 2
    assert set(Event.objects.values_list("pk", flat=True)) == {kept.event_record_id, owed.event_record_id}
    assert not Event.objects.filter(pk=lonely.pk).exists()
    assert list(Export.objects.values_list("pk", flat=True)) == [recent_export.pk]
    assert prune() == {}  # nothing left to do


def test_an_old_batch_goes_and_its_newer_events_stay_without_it(account, make_webhook, settings):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    webhook = make_webhook(batched=True)
    batch = Delivery.objects.create(
        webhook=webhook, event="batch", payload=[], status="succeeded", created_at=days_ago(40)
    )
    member = history(account, webhook, days_ago(10))
    Delivery.objects.filter(pk=member.pk).update(batch=batch)

    prune()

    assert not Delivery.objects.filter(pk=batch.pk).exists()
    member.refresh_from_db()
    assert member.batch_id is None and member.status == "succeeded"


def test_history_is_kept_forever_with_retention_zero(account, make_webhook, settings):
    settings.WEBHOOKS_RETENTION_DAYS = 0
    history(account, make_webhook(), days_ago(4000))
    assert prune() == {}
    assert history_start() is None
    assert Delivery.objects.count() == 1


def test_prune_history_deletes_everything_older_and_says_what(account, make_webhook, settings, capsys):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    webhook = make_webhook()
    history(account, webhook, days_ago(40))
    history(account, webhook, days_ago(8))
    call_command("prune_history")
    assert capsys.readouterr().out.strip() == (
        "Deleted what was older than 30 days: 1 events, 1 deliveries, 2 attempts, 0 exports."
    )
    call_command("prune_history", "--days", "7", "--batch-size", "1")
    assert "1 events, 1 deliveries, 2 attempts" in capsys.readouterr().out
    assert not Delivery.objects.exists()


def test_prune_history_with_retention_off_deletes_nothing(account, make_webhook, settings, capsys):
    settings.WEBHOOKS_RETENTION_DAYS = 0
    history(account, make_webhook(), days_ago(400))
    call_command("prune_history")
    assert "kept forever" in capsys.readouterr().out
    assert Delivery.objects.count() == 1


def test_a_worker_prunes_by_itself_every_interval(account, make_webhook, worker_process):
    webhook = make_webhook()
    old = history(account, webhook, days_ago(3))
    new = history(account, webhook, days_ago(1))
    worker_process(WEBHOOKS_RETENTION_DAYS="2", WEBHOOKS_RETENTION_INTERVAL="0.5")

    # A round deletes attempts, then deliveries, then the events nothing refers to any
    # more, each in its own short transaction: wait for the last of them.
    def pruned() -> bool:
        return not (
            Delivery.objects.filter(pk=old.pk).exists() or Event.objects.filter(pk=old.event_record_id).exists()
        )

    wait_until(pruned, timeout=30, interval=0.2)
    assert Delivery.objects.filter(pk=new.pk).exists()
    assert Event.objects.filter(pk=new.event_record_id).exists()


def test_the_delivery_log_says_how_far_back_it_goes(owner_client, make_webhook, settings):
    webhook = make_webhook()
    url = reverse("webhooks:deliveries", args=[webhook.pk])
    settings.WEBHOOKS_RETENTION_DAYS = 30
    page = owner_client.get(url).content.decode()
    from webhooks.templatetags.ui import when

    # In the page's language and the account's zone, like every time shown.
    assert f"Deliveries are kept for 30 days: this log goes back to {when(history_start())}." in page
    settings.WEBHOOKS_RETENTION_DAYS = 1
    assert "Deliveries are kept for 1 day: " in owner_client.get(url).content.decode()
    settings.WEBHOOKS_RETENTION_DAYS = 0
    assert "Deliveries are kept for" not in owner_client.get(url).content.decode()


def test_a_stranger_gets_404_for_the_delivery_log(stranger_client, make_webhook):
    webhook = make_webhook()
    assert stranger_client.get(reverse("webhooks:deliveries", args=[webhook.pk])).status_code == 404


def test_the_export_notice_says_how_far_back_the_file_goes(account, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOKS_RETENTION_DAYS = 30
    export = Export.objects.create(
        account=account,
        params={"type": "transactional", "event": "allEvents", "days": 90},
        notify_url=receiver.url,
        base_url="http://testserver/",
    )
    exports.run(export.pk)
    notice = receiver.wait_for(1)[0].json()
    assert notice["retentionDays"] == 30
    starts = datetime.fromisoformat(notice["historyStartsAt"])
    assert notice["historyStartsAt"].endswith("Z")
    assert abs((starts - days_ago(30)).total_seconds()) < 60


# The plans: every query of retention and of the gauges is served by an index. ---------------


def plan(queryset) -> str:
    """The query plan, with sequential scans made as costly as possible on PostgreSQL.

    With few rows PostgreSQL reads a whole table anyway; turned off, it still does when no
    index can serve the query, which is what this looks for.
    """
    if connection.vendor != "postgresql":
        return queryset.explain()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


def assert_uses_indexes(text: str) -> None:
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in text, text
    else:
        # SQLite: "SCAN t" reads the table; "SEARCH t USING INDEX" or "SCAN t USING INDEX" do not.
        for line in text.splitlines():
            if " SCAN " in f" {line} " or "SEARCH" in line:
                assert "INDEX" in line or "PRIMARY KEY" in line, text


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("deliveries", "delivery_finished_created_idx"),
        ("events", "event_created_at_idx"),
        ("exports", "export_created_at_idx"),
        ("attempts", "webhooks_attempt"),
    ],
)
def test_each_retention_query_is_served_by_its_index(name, index):
    before = days_ago(30)
    queries = {
        "deliveries": old_deliveries(before).values_list("pk")[:1000],
        "events": old_events(before).values_list("pk")[:1000],
        "exports": old_exports(before).values_list("pk")[:1000],
        "attempts": Attempt.objects.filter(delivery_id__in=[1, 2, 3]).order_by(),
    }
    text = plan(queries[name])
    assert_uses_indexes(text)
    if name == "deliveries" and connection.vendor == "sqlite":
        # Without statistics SQLite prefers the status index and sorts; PostgreSQL walks the partial index.
        return
    assert index in text, text


@pytest.mark.parametrize("name", ["by_status", "later", "oldest_due", "paused", "disabled"])
def test_each_gauge_query_is_served_by_an_index(name):
    if name in {"paused", "disabled"} and connection.vendor == "sqlite":
        pytest.skip(
            "Django writes WHERE NOT enabled, for which SQLite uses no index; PostgreSQL (production's "
            "database) does, and is checked here."
        )
    query = StateCollector.queries(timezone.now())[name]
    if name == "oldest_due":
        query = query[:1]
    assert_uses_indexes(plan(query))


def test_old_hourly_counts_go_with_the_history_and_the_last_days_stay(make_webhook, settings):
    from webhooks.models import HourlyCount

    settings.WEBHOOKS_RETENTION_DAYS = 30
    webhook = make_webhook()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    HourlyCount.objects.create(webhook=webhook, hour=hour - timedelta(days=31), succeeded=5)
    recent = HourlyCount.objects.create(webhook=webhook, hour=hour - timedelta(hours=3), succeeded=7)
    assert prune()["hourly_counts"] == 1
    assert list(HourlyCount.objects.values_list("pk", flat=True)) == [recent.pk]
