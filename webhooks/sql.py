"""The SQL of the delivery engine's hot paths, in one place.

These statements run for every few requests a worker sends. Through the ORM they cost
more CPU than the requests themselves (bulk_update writes a CASE per field and row; an
UPDATE and a SELECT with a join are two round trips where one RETURNING does), so they
are written by hand. Values arrive ready for the database: `prep` turns the Python
ones that need it (datetimes, UUIDs) into what the connection takes.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from brevo_hooks import bulk_insert

DELIVERY = "webhooks_delivery"
ATTEMPT = "webhooks_attempt"
HOURLY = "webhooks_hourlycount"


def prep(value: Any) -> Any:
    """A datetime or UUID as the database takes it (SQLite stores both as text)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, uuid.UUID) and connection.vendor != "postgresql":
        return value.hex
    return value


def any_of(values: Sequence[Any], kind: str = "bigint") -> tuple[str, list[Any]]:
    """A condition on `values` and its parameters: `= ANY(%b)` with one (binary) array on PostgreSQL,
    so that the statement's text never changes and is prepared once; `IN (%s, ...)` on SQLite."""
    if connection.vendor == "postgresql":
        return f"= ANY({bulk_insert.array_placeholder(connection)}::{kind}[])", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def postgres() -> bool:
    return connection.vendor == "postgresql"


class _Array:
    """Formats as the placeholder of an array parameter (see bulk_insert.array_placeholder)."""

    def __format__(self, spec: str) -> str:
        return bulk_insert.array_placeholder(connection)


ARRAY = _Array()


# How a claim takes its rows: (ids, token, lease until) -> rows; `claim`, or the claim that
# also records a round (`record_delivered`).
Take = Callable[[Sequence[int], uuid.UUID, datetime], list[tuple[Any, ...]]]


def claim(ids: Sequence[int], token: uuid.UUID, lease_until: datetime) -> list[tuple[Any, ...]]:
    """Take the pending rows among `ids` for sending.

    Returns (id, uid, event, payload, is_test, attempt_count, webhook_id, created_at) of each,
    created_at as a datetime on SQLite and as epoch seconds on PostgreSQL.

    The conditional UPDATE is the lock: of two jobs for one delivery only one changes
    the row, and RETURNING hands each job exactly the rows it changed.
    """
    among, values = any_of(ids)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(among), [prep(token), prep(lease_until), *values])
        return cursor.fetchall()


def _claim_sql(among: str) -> str:
    # On PostgreSQL the time comes as epoch seconds, which psycopg reads in C: Django's
    # loader for timestamptz parses text in Python, a third of the claim's CPU in a worker.
    created = "date_part('epoch', created_at)" if postgres() else "created_at"
    # Found by id, whatever the planner's statistics say: PostgreSQL's generic plan for
    # `status = 'pending'` read every pending row through the unfinished index and kept
    # the ids asked for, so a claim cost as much as the backlog was long. `IS TRUE` (the
    # same condition: status is never NULL) is no index condition, which leaves the key.
    pending = "(status = 'pending') IS TRUE" if postgres() else "status = 'pending'"
    return (
        f"UPDATE {DELIVERY} SET status = 'sending', claim_token = %s, lease_expires_at = %s, "  # noqa: S608 (names are ours)
        f"attempt_count = attempt_count + 1 WHERE id {among} AND {pending} "
        f"RETURNING id, uid, event, payload, is_test, attempt_count, webhook_id, {created}"
    )


def record_delivered(
    attempts: Sequence[Sequence[Any]],
    delivered: Sequence[tuple[int, uuid.UUID]],
    hours: Sequence[tuple[int, datetime, int, int]],
    now: datetime,
) -> Take:
    """PostgreSQL: a claim (see `claim`) that also records a round whose every request was delivered.

    The round's attempts (`insert_attempts`), its deliveries' success (`succeed`, each
    (id, token) still owned) and its hourly counts (`count_hours`) go in the claim's
    statement: one statement is one transaction and one round trip, where BEGIN, four
    statements and COMMIT were six, and on a busy machine each waited for the server, then
    the worker, to be given a core again.
    """

    def claim_and_record(ids: Sequence[int], token: uuid.UUID, lease_until: datetime) -> list[tuple[Any, ...]]:
        columns = [list(column) for column in zip(*attempts, strict=True)]
        hourly = [list(column) for column in zip(*sorted(hours), strict=True)] or [[], [], [], []]
        params = [token, lease_until, list(ids), *columns, now]
        params += [[pk for pk, _ in delivered], [token for _, token in delivered], *hourly]
        with connection.cursor() as cursor:
            cursor.execute(_record_delivered_sql(format(ARRAY)), params)
            return cursor.fetchall()

    return claim_and_record


@functools.cache
def _record_delivered_sql(array: str) -> str:
    """The statement of record_delivered, made once per form of the `array` placeholder (%s or %b)."""
    attempts = ", ".join(f"{array}::{kind}[]" for kind in ATTEMPT_TYPES)
    return (
        f"WITH claimed AS ({_claim_sql(f'= ANY({array}::bigint[])')}), "  # noqa: S608 (names and types are ours)
        f"attempts AS (INSERT INTO {ATTEMPT} ({', '.join(ATTEMPT_COLUMNS)}) SELECT * FROM unnest({attempts})), "
        f"delivered AS (UPDATE {DELIVERY} AS d SET status = 'succeeded', completed_at = %s, lease_expires_at = NULL, "
        f"claim_token = NULL FROM unnest({array}::bigint[], {array}::uuid[]) AS u(id, token) "
        f"WHERE d.id = u.id AND d.claim_token = u.token), "
        f"hours AS ({_count_hours_sql()}) SELECT * FROM claimed"
    )


def succeed(ids: Sequence[int], token: uuid.UUID, now: datetime) -> int:
    """Mark the rows among `ids` that `token` still owns as delivered; return how many."""
    among, values = any_of(ids)
    sql = (
        f"UPDATE {DELIVERY} SET status = 'succeeded', completed_at = %s, lease_expires_at = NULL, "  # noqa: S608
        f"claim_token = NULL WHERE id {among} AND claim_token = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [prep(now), *values, prep(token)])
        return cursor.rowcount


def give_up(ids: Sequence[int], token: uuid.UUID, now: datetime) -> int:
    """Mark the rows among `ids` that `token` still owns as failed for good."""
    among, values = any_of(ids)
    sql = (
        f"UPDATE {DELIVERY} SET status = 'failed', completed_at = %s, next_attempt_at = NULL, "  # noqa: S608
        f"lease_expires_at = NULL, claim_token = NULL WHERE id {among} AND claim_token = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [prep(now), *values, prep(token)])
        return cursor.rowcount


def unclaim(ids: Sequence[int], token: uuid.UUID) -> int:
    """Give back the rows among `ids` that `token` claimed but never sent; return how many.

    They are owed as before the claim, which counted an attempt that did not happen.
    """
    among, values = any_of(ids)
    sql = (
        f"UPDATE {DELIVERY} SET status = 'pending', lease_expires_at = NULL, claim_token = NULL, "  # noqa: S608
        f"attempt_count = attempt_count - 1 WHERE id {among} AND claim_token = %s AND status = 'sending'"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, prep(token)])
        return cursor.rowcount


def reschedule(rows: Sequence[tuple[int, datetime]], token: uuid.UUID) -> None:
    """Make each (id, when) that `token` still owns pending again, handed over at `when`.

    `enqueued_at` is the time of the hand-over (see webhooks.fairqueue.schedule), so the
    sweep counts a lost hand-over from then, not from now.
    """
    with connection.cursor() as cursor:
        if postgres():
            cursor.execute(
                f"UPDATE {DELIVERY} AS d SET status = 'pending', next_attempt_at = u.at, enqueued_at = u.at, "  # noqa: S608
                f"lease_expires_at = NULL, claim_token = NULL FROM unnest({ARRAY}::bigint[], {ARRAY}::timestamptz[]) "
                "AS u(id, at) WHERE d.id = u.id AND d.claim_token = %s",
                [[pk for pk, _ in rows], [when for _, when in rows], token],
            )
            return
        sql = (
            f"UPDATE {DELIVERY} SET status = 'pending', next_attempt_at = %s, enqueued_at = %s, "  # noqa: S608
            "lease_expires_at = NULL, claim_token = NULL WHERE id = %s AND claim_token = %s"
        )
        cursor.executemany(sql, [(prep(when), prep(when), pk, prep(token)) for pk, when in rows])


def subscribers(account_id: int, names: Sequence[str]) -> list[tuple[Any, ...]]:
    """(subscription, webhook id, account id, type, batched) of the enabled webhooks of an
    account subscribed to any of `names`, in webhook order (batched is 0 or 1 on SQLite).

    Every request of the events API asks this; through the ORM, compiling the query and
    making two model instances per row cost a third of a one-event request owed to 40.
    """
    among, values = any_of(names, "text")
    sql = (
        "SELECT s.event, w.id, w.account_id, w.type, w.batched FROM webhooks_subscription s "  # noqa: S608 (ours)
        f"JOIN webhooks_webhook w ON w.id = s.webhook_id WHERE w.account_id = %s AND w.enabled AND s.event {among} "
        "ORDER BY w.id, s.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_id, *values])
        return cursor.fetchall()


ATTEMPT_COLUMNS = (
    "delivery_id", "number", "started_at", "request_url", "request_headers", "request_body",
    "response_status", "response_headers", "response_body", "duration_ms", "error",
)  # fmt: skip
# Their types on PostgreSQL, for the arrays of bulk_insert (checked against the model by a test).
ATTEMPT_TYPES = (
    "bigint", "integer", "timestamp with time zone", "varchar(2048)", "jsonb", "text",
    "integer", "jsonb", "text", "integer", "text",
)  # fmt: skip


def insert_attempts(rows: Sequence[Sequence[Any]]) -> None:
    """Write finished attempts, whole, in `ATTEMPT_COLUMNS` order (the start time a datetime).

    An attempt is written once, when its outcome is known: writing it before the request
    and completing it after cost an UPDATE per attempt. The claim is the trace of a request
    in flight (the delivery is "sending", its attempt counted, under a lease); if the worker
    dies, the sweep writes the attempt (`insert_lost_attempts`).
    """
    ready = [(*row[:2], prep(row[2]), *row[3:]) for row in rows]
    bulk_insert.insert_into(ATTEMPT, ATTEMPT_COLUMNS, ready, types=ATTEMPT_TYPES)


def insert_lost_attempts(rows: Sequence[tuple[int, int, datetime, str, str]], error: str) -> None:
    """The attempts of deliveries whose worker died mid-send: (delivery_id, number, when, url, body).

    An attempt already there (written by a worker that was only slow) is left as it is.
    """
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s, %s, '{}', %s, '{}', '', %s)"] * len(rows))
    sql = (
        f"INSERT INTO {ATTEMPT} (delivery_id, number, started_at, request_url, request_headers, request_body, "  # noqa: S608
        f"response_headers, response_body, error) VALUES {values} ON CONFLICT (delivery_id, number) DO NOTHING"
    )
    params = [value for pk, number, when, url, body in rows for value in (pk, number, prep(when), url, body, error)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def count_hours(rows: Sequence[tuple[int, datetime, int, int]]) -> None:
    """Add (webhook_id, hour, succeeded, failed) to the hourly counts, one row per key.

    Sorted, so that two workers adding to the same rows lock them in the same order.
    """
    if not rows:
        return
    rows = sorted(rows)
    if postgres():
        values = ""  # the arrays of _count_hours_sql
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        values = "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        params = [value for pk, hour, ok, bad in rows for value in (pk, prep(hour), ok, bad)]
    with connection.cursor() as cursor:
        cursor.execute(_count_hours_sql(values), params)


def _count_hours_sql(values: str = "") -> str:
    """The upsert of the hourly counts, from `values` or else from four arrays (PostgreSQL)."""
    if not values:
        arrays = ", ".join(f"{ARRAY}::{kind}[]" for kind in ("bigint", "timestamptz", "integer", "integer"))
        values = f"SELECT * FROM unnest({arrays})"  # noqa: S608 (the types are ours)
    return (
        f"INSERT INTO {HOURLY} (webhook_id, hour, succeeded, failed) {values} "
        f"ON CONFLICT (webhook_id, hour) DO UPDATE SET succeeded = {HOURLY}.succeeded + excluded.succeeded, "
        f"failed = {HOURLY}.failed + excluded.failed"
    )
