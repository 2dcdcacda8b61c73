"""A condition written as a partial index's own, so that SQLite uses the index.

SQLite uses a partial index only when the query's WHERE clause contains the index's
condition term for term, with the same literal values: `status = %s` (a parameter) does
not imply `status IN ('pending', 'waiting', 'sending')` for it, and the query scans the
table. PostgreSQL proves the implication by itself; for it the repeated condition costs
nothing. Register the lookup on the field the partial indexes are on:

    Delivery._meta.get_field("status").register_lookup(IndexedAs)
    Delivery.objects.filter(status__indexed_as=("pending", "waiting", "sending"), status="pending")
"""

from __future__ import annotations

from typing import Any

from django.db.models import Lookup


class IndexedAs(Lookup):
    """`column IN ('a', 'b')`, or `column = 'a'` for one value, with the values written in the SQL."""

    lookup_name = "indexed_as"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        values = tuple(self.rhs)
        # Only our own constants go into the SQL text, never input.
        if not values or not all(isinstance(v, str) and v.isidentifier() for v in values):
            raise ValueError(f"indexed_as takes constant names, not {values!r}")
        if len(values) == 1:
            return f"{lhs} = '{values[0]}'", params
        quoted = ", ".join(f"'{value}'" for value in values)
        return f"{lhs} IN ({quoted})", params
