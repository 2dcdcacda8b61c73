"""History never slows the pages or the engine down: PostgreSQL's plans for a large table use indexes.

One webhook with 200,000 deliveries of history (and another webhook's few) on PostgreSQL,
analyzed as a database of a busy account would be; then the plan of every query that
reads deliveries as history grows: the Deliveries page (newest first, by status), its
counts, the webhooks' health, the sweep, the retry rules. None may read the whole table.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from webhooks import health
from webhooks.deliveries import FILTER_STATUSES, delivery_page
from webhooks.models import Delivery

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plans of PostgreSQL, the production database"
)

HISTORY = 200_000


@pytest.fixture
def history(account, make_webhook):
    busy = make_webhook(url="https://busy.example/hook", events=("delivered",))
    quiet = make_webhook(url="https://quiet.example/hook", events=("delivered",))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO webhooks_delivery (webhook_id, uid, event, payload, is_test, status, attempt_count,
                                           created_at, completed_at, next_attempt_at)
            SELECT %s, gen_random_uuid(), 'delivered', '{}', false,
                   CASE WHEN n %% 100 = 0 THEN 'failed' WHEN n %% 1000 = 1 THEN 'pending' ELSE 'succeeded' END,
                   1, now() - (n || ' seconds')::interval, now() - (n || ' seconds')::interval,
                   CASE WHEN n %% 1000 = 1 THEN now() + interval '1 hour' END
            FROM generate_series(1, %s) AS n
            """,
            [busy.pk, HISTORY],
        )
        cursor.execute(
            """
            INSERT INTO webhooks_attempt (delivery_id, number, started_at, request_url, request_headers,
                                          request_body, response_status, response_headers, response_body, error)
            SELECT id, 1, created_at, 'https://busy.example/hook', '{}', '{}', 200, '{}', 'OK', ''
            FROM webhooks_delivery WHERE webhook_id = %s
            """,
            [busy.pk],
        )
        cursor.execute("ANALYZE webhooks_delivery")
        cursor.execute("ANALYZE webhooks_attempt")
    return busy, quiet


def plan(queryset) -> str:
    return queryset.explain()


def assert_uses_an_index(text: str) -> None:
    assert "Seq Scan on webhooks_delivery" not in text, text
    assert "Seq Scan on webhooks_attempt" not in text, text
    assert "Index" in text, text


def test_the_deliveries_page_reads_one_page_through_an_index_whatever_the_history(history):
    busy, quiet = history
    for webhook in (busy, quiet):
        assert_uses_an_index(plan(delivery_page(webhook, status="", event="")[:50]))
        for status in FILTER_STATUSES:
            assert_uses_an_index(plan(delivery_page(webhook, status=status, event="")[:50]))


def test_the_deliveries_page_counts_at_most_its_cap(history, owner_client):
    busy, _ = history
    page = owner_client.get(f"/webhooks/{busy.pk}/deliveries/")
    assert page.status_code == 200
    paginator = page.context["page"].paginator
    assert paginator.capped and paginator.count == paginator.cap
    assert "of more than" in page.content.decode()


def test_the_retry_rules_read_an_index(history):
    busy, _ = history
    now = timezone.now()
    assert_uses_an_index(plan(busy.deliveries.retryable(now)))
    assert_uses_an_index(plan(busy.deliveries.retryable(now).filter(created_at__gte=now - timedelta(days=1))))


def test_the_sweep_reads_an_index(history):
    now = timezone.now()
    due = Delivery.objects.due(now).filter(is_test=False)
    assert_uses_an_index(plan(due.filter(enqueued_at__isnull=True)))
    assert_uses_an_index(plan(due.filter(enqueued_at__lt=now)))
    assert_uses_an_index(plan(Delivery.objects.lease_expired(now)))
    assert_uses_an_index(plan(Delivery.objects.filter(status="waiting").values("webhook_id")))


def test_the_webhooks_health_reads_an_index(history, owner_client):
    busy, quiet = history
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as queries:
        health.for_webhooks([busy, quiet], timezone.now())
    for query in queries.captured_queries:
        if "webhooks_delivery" in query["sql"] or "webhooks_attempt" in query["sql"]:
            with db.cursor() as cursor:
                cursor.execute("EXPLAIN " + query["sql"])
                assert_uses_an_index("\n".join(row[0] for row in cursor.fetchall()))


def test_a_claim_finds_its_rows_by_id_however_long_the_backlog(make_webhook):
    """A backlog of 20,000 that the statistics have not seen (none were gathered yet, as in a
    new database): the claim still reads its rows by key. Through the unfinished index, a
    claim cost as much as the backlog was long (every pending row, to keep the few asked for)."""
    import uuid

    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    from webhooks import sql

    busy = make_webhook(url="https://busy.example/hook", events=("delivered",))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_delivery (webhook_id, uid, event, payload, is_test, status, attempt_count, "
            "created_at, next_attempt_at) SELECT %s, gen_random_uuid(), 'delivered', '{}', false, 'pending', 0, "
            "now(), now() FROM generate_series(1, 20000) RETURNING id",
            [busy.pk],
        )
        ids = [pk for (pk,) in cursor.fetchall()][-13:]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert len(sql.claim(ids, uuid.uuid4(), timezone.now() + timedelta(minutes=1))) == 13
        transaction.set_rollback(True)
    (claim,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE webhooks_delivery")]
    # As a worker runs it: a prepared statement, whose plan PostgreSQL makes once for any ids.
    template, replaced = re.subn(r"ANY\('[^']*'(::\w+\[\])+\)", "ANY($1::bigint[])", claim)
    assert replaced == 1, claim
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE claim_plan(bigint[]) AS {template}")
        cursor.execute(f"EXPLAIN EXECUTE claim_plan('{{{','.join(map(str, ids))}}}')")  # EXECUTE takes no parameters
        text = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE claim_plan")
    assert "webhooks_delivery_pkey" in text and "delivery_unfinished_idx" not in text, text
