"""Multi-row INSERT ... RETURNING for the hot paths, where bulk_create cost too much.

bulk_create prepares every value of every row field by field and assembles the SQL the
same way; for the events API that was most of the CPU of a request. Here the caller
hands values already in the database's form, and a few statements insert them all.
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
    return insert_into(model._meta.db_table, columns, rows, using, returning=model._meta.pk.column if returning else "")


def insert_into(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], using: str = "default", returning: str = ""
) -> list[int]:
    """Insert `rows` into `table`; with `returning` (a column), return its values in order."""
    connection = connections[using]
    quote = connection.ops.quote_name
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
