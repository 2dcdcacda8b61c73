"""`BENCH_PREFILL=N make bench`: history before the bench, N finished deliveries with their events and attempts.

Run by bench/run.py on its fresh database (DATABASE_URL), after the accounts are made: the
history belongs to the bench's account and webhook, spread over the last 20 days (inside the
default retention), all succeeded, each with one attempt. Inserted by
the database itself (generate_series on PostgreSQL, a recursive CTE on SQLite), in batches.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brevo_hooks.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402 (after django.setup)

from webhooks.models import Webhook  # noqa: E402

BATCH = 100_000
SPAN_SECONDS = 20 * 24 * 3600
PAYLOAD = '{"event":"delivered","email":"old@example.com"}'

POSTGRES = """
WITH numbers AS (SELECT n, now() - (((n::bigint * 7919) %% {span}) || ' seconds')::interval AS at
                 FROM generate_series(%(first)s, %(last)s) AS n),
events AS (
  INSERT INTO events_event (account_id, uid, type, name, data, occurred_at, idempotency_key, created_at)
  SELECT %(account)s, gen_random_uuid(), 'transactional', 'delivered', %(payload)s::jsonb, at, '', at FROM numbers
  RETURNING id, created_at
),
deliveries AS (
  INSERT INTO webhooks_delivery (webhook_id, event_record_id, uid, event, payload, is_test, status, attempt_count,
                                 created_at, completed_at)
  SELECT %(webhook)s, id, gen_random_uuid(), 'delivered', %(payload)s, false, 'succeeded', 1, created_at, created_at
  FROM events
  RETURNING id, created_at
)
INSERT INTO webhooks_attempt (delivery_id, number, started_at, duration_ms, request_url, request_headers, request_body,
                              response_status, response_headers, response_body, error)
SELECT id, 1, created_at, 5, 'http://127.0.0.1/hook', '{{}}', %(payload)s, 200, '{{}}', 'OK', '' FROM deliveries
"""

SQLITE = [
    """
    WITH RECURSIVE numbers(n) AS (SELECT %(first)s UNION ALL SELECT n + 1 FROM numbers WHERE n < %(last)s)
    INSERT INTO events_event (account_id, uid, type, name, data, occurred_at, idempotency_key, created_at)
    SELECT %(account)s, lower(hex(randomblob(16))), 'transactional', 'delivered', %(payload)s,
           datetime('now', '-' || ((n * 7919) %% {span}) || ' seconds'), '',
           datetime('now', '-' || ((n * 7919) %% {span}) || ' seconds')
    FROM numbers
    """,
    """
    INSERT INTO webhooks_delivery (webhook_id, event_record_id, uid, event, payload, is_test, status, attempt_count,
                                   created_at, completed_at)
    SELECT %(webhook)s, id, lower(hex(randomblob(16))), 'delivered', %(payload)s, 0, 'succeeded', 1, created_at,
           created_at
    FROM events_event WHERE id > %(events_before)s
    """,
    """
    INSERT INTO webhooks_attempt (delivery_id, number, started_at, duration_ms, request_url, request_headers,
                                  request_body, response_status, response_headers, response_body, error)
    SELECT id, 1, created_at, 5, 'http://127.0.0.1/hook', '{{}}', %(payload)s, 200, '{{}}', 'OK', ''
    FROM webhooks_delivery WHERE id > %(deliveries_before)s
    """,
]


def batch(webhook: Webhook, first: int, last: int) -> None:
    params = {"account": webhook.account_id, "webhook": webhook.pk, "first": first, "last": last, "payload": PAYLOAD}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES.format(span=SPAN_SECONDS), params)
            return
        cursor.execute("SELECT coalesce(max(id), 0) FROM events_event")
        params["events_before"] = cursor.fetchone()[0]
        cursor.execute("SELECT coalesce(max(id), 0) FROM webhooks_delivery")
        params["deliveries_before"] = cursor.fetchone()[0]
        for statement in SQLITE:
            cursor.execute(statement.format(span=SPAN_SECONDS), params)


def main(count: int) -> None:
    webhook = Webhook.objects.get(account__name="Bench")
    for first in range(1, count + 1, BATCH):
        batch(webhook, first, min(count, first + BATCH - 1))
    with connection.cursor() as cursor:
        # The tables as after a day of real traffic: the planner knows them and, on
        # PostgreSQL, autovacuum has been through them. Otherwise the first autovacuum of
        # the million new rows runs during the bench and its CPU is counted as ours.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


if __name__ == "__main__":
    main(int(sys.argv[1]))
