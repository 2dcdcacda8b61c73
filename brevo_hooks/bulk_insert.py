"""Multi-row INSERT ... RETURNING for the hot paths, where bulk_create cost too much.

bulk_create prepares every value of every row field by field and assembles the SQL the
same way; for the events API that was most of the CPU of a request. Here the caller
hands values already in the database's form, and one statement inserts them all:

- on PostgreSQL the rows travel as one array per column, `INSERT ... SELECT * FROM
  unnest(%b::bigint[], ...)`, in the binary format: the statement's text is the same
  whatever the number of rows (psycopg neither parses a query of thousands of
  placeholders nor writes each value as a literal, and the server prepares it once), and
  psycopg writes binary arrays in C: 3 µs a row where text arrays or literals cost 20-26;
- on SQLite one short statement is prepared once and run for each row by sqlite3, in C.
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


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    using: str = "default",
    returning: bool = False,
) -> list[int]:
    """Insert `rows` (values ready for the database, in `columns` order); with `returning`, return their ids."""
    connection = connections[using]
    if returning and connection.vendor == "sqlite" and connection.in_atomic_block:
        return _ids_of_many(connection, model._meta.db_table, columns, rows)
    returned = [model._meta.pk.column] if returning else []
    found = insert_rows(
        model._meta.db_table, columns, rows, using, returning=returned, types=column_types(model, columns, using)
    )
    return [pk for (pk,) in found]


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


def array_placeholder(connection: Any) -> str:
    """`%b` (a binary parameter) where the cursor binds on the server, else `%s`."""
    options = connection.settings_dict.get("OPTIONS", {})
    return "%b" if connection.vendor == "postgresql" and options.get("server_side_binding") else "%s"


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    using: str = "default",
    returning: Sequence[str] = (),
    types: Sequence[str] | None = None,
    conflict: str = "",
) -> list[tuple[Any, ...]]:
    """Insert `rows` into `table`; return the `returning` columns of each row inserted, in order.

    `types` (the columns' database types) are needed on PostgreSQL. `conflict` is an
    `ON CONFLICT` target and action, such as "(account_id, email) DO NOTHING"; the rows it
    skips return nothing.
    """
    if not rows:
        return []
    connection = connections[using]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
    tail = (f" ON CONFLICT {conflict}" if conflict else "") + (
        f" RETURNING {', '.join(map(quote, returning))}" if returning else ""
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if types is None:
                raise ValueError("PostgreSQL inserts need the columns' types")
            mark = array_placeholder(connection)
            arrays = ", ".join(f"{mark}::{kind}[]" for kind in types)
            sql = f"{head}SELECT * FROM unnest({arrays}){tail}"  # noqa: S608 (names and types are ours)
            cursor.execute(sql, [list(v) for v in zip(*rows, strict=True)])
            return cursor.fetchall() if returning else []
        if connection.vendor == "sqlite" and not returning:
            cursor.executemany(f"{head}VALUES ({', '.join(['%s'] * len(columns))}){tail}", rows)
            return []
        return _values(cursor, connection, head, tail, columns, rows, returning)


def _values(
    cursor: Any,
    connection: Any,
    head: str,
    tail: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Multi-row VALUES, in statements of at most the database's number of parameters."""
    per_row = f"({', '.join(['%s'] * len(columns))})"
    batch = max(1, (connection.features.max_query_params or MAX_PARAMS) // len(columns))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        cursor.execute(head + "VALUES " + ", ".join([per_row] * len(chunk)) + tail, [v for row in chunk for v in row])
        if returning:
            found += cursor.fetchall()
    return found


def _ids_of_many(connection: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """SQLite, in a transaction: the rows one by one through sqlite3's executemany, and their ids.

    An AUTOINCREMENT table hands out the ids of rows inserted within one transaction one
    after the other (it holds the database's write lock), so the last one tells them all;
    a long multi-row statement cost its conversion to sqlite3's placeholders, in Python.
    """
    if not rows:
        return []
    insert_rows(table, columns, rows, connection.alias)
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_insert_rowid()")
        (last,) = cursor.fetchone()
    return list(range(last - len(rows) + 1, last + 1))


def insert_into(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    using: str = "default",
    returning: str = "",
    types: Sequence[str] | None = None,
) -> list[int]:
    """Insert `rows` into `table`; with `returning` (a column), return its values in order."""
    found = insert_rows(table, columns, rows, using, returning=[returning] if returning else [], types=types)
    return [value for (value,) in found]
