"""Multi-row INSERT ... RETURNING for the hot paths, where bulk_create cost too much.

bulk_create prepares every value of every row field by field and assembles the SQL the
same way; for the events API that was most of the CPU of a request. Here the caller
hands values already in the database's form, and a few statements insert them all.

On PostgreSQL the rows travel as one array per column, `INSERT ... SELECT * FROM
unnest(%s::bigint[], ...)`: the statement's text is the same whatever the number of
rows, so psycopg neither parses a query of thousands of placeholders nor turns each value
into a literal (a third of the events API's CPU), and the server prepares it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models

# PostgreSQL's protocol takes at most 65,535 parameters per statement.
MAX_PARAMS = 65535


def insert_returning_ids(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], using: str = "default"
) -> list[int]:
    """Insert `rows` (values ready for the database, in `columns` order); return their new ids in order."""
    return insert(model, columns, rows, using, returning=True)


def column_types(model: type[models.Model], columns: Sequence[str], using: str = "default") -> list[str]:
    """The database types of `columns` of `model` (what an array of each is cast to)."""
    by_column = {field.column: field for field in model._meta.concrete_fields}
    connection = connections[using]
    return [
        by_column[column].rel_db_type(connection)
        if by_column[column].is_relation
        else by_column[column].db_type(connection)
        for column in columns
    ]


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    using: str = "default",
    returning: bool = False,
) -> list[int]:
    """Insert `rows` (values ready for the database, in `columns` order); with `returning`, return their ids."""
    returned = model._meta.pk.column if returning else ""
    types = column_types(model, columns, using) if connections[using].vendor == "postgresql" else None
    return insert_into(model._meta.db_table, columns, rows, using, returning=returned, types=types)


def insert_into(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    using: str = "default",
    returning: str = "",
    types: Sequence[str] | None = None,
) -> list[int]:
    """Insert `rows` into `table`; with `returning` (a column), return its values in order.

    With the `types` of the columns, on PostgreSQL, in one statement of arrays (see above).
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    if types is not None and connection.vendor == "postgresql":
        return _insert_arrays(connection, table, columns, rows, returning, types)
    if connection.vendor == "sqlite" and (connection.in_atomic_block or not returning):
        return _insert_many(connection, table, columns, rows, returning)
    per_row = f"({', '.join(['%s'] * len(columns))})"
    head = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) VALUES "  # noqa: S608 (names are ours)
    tail = f" RETURNING {quote(returning)}" if returning else ""
    batch = max(1, (connection.features.max_query_params or MAX_PARAMS) // len(columns))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            cursor.execute(head + ", ".join([per_row] * len(chunk)) + tail, [value for row in chunk for value in row])
            if returning:
                ids += [pk for (pk,) in cursor.fetchall()]
    return ids


def _insert_arrays(
    connection: Any,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: str,
    types: Sequence[str],
) -> list[int]:
    if not rows:
        return []
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    sql = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) SELECT * FROM unnest({arrays})"  # noqa: S608
    if returning:
        sql += f" RETURNING {quote(returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(values) for values in zip(*rows, strict=True)])
        return [pk for (pk,) in cursor.fetchall()] if returning else []


def _insert_many(
    connection: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], returning: str
) -> list[int]:
    """SQLite: one short statement, prepared once and run for each row by sqlite3 in C.

    The long multi-row statement cost its conversion to sqlite3's placeholders, in Python,
    on every call. An AUTOINCREMENT table hands out the ids of rows inserted within one
    transaction one after the other (it holds the database's write lock), so the last
    one tells them all.
    """
    if not rows:
        return []
    quote = connection.ops.quote_name
    values = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) VALUES ({values})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        if not returning:
            return []
        cursor.execute("SELECT last_insert_rowid()")
        (last,) = cursor.fetchone()
    return list(range(last - len(rows) + 1, last + 1))
