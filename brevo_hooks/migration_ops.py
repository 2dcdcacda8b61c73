"""Migration operations for tables that are large in production."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex that builds the index with CREATE INDEX CONCURRENTLY on PostgreSQL.

    A plain CREATE INDEX blocks every write to the table while it reads all of it: minutes
    on a table of millions of deliveries, with the API and the workers waiting. CONCURRENTLY
    lets them go on (it cannot run in a transaction: the migration needs `atomic = False`).
    Other databases get a plain CREATE INDEX.
    """

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.add_index(model, self.index, concurrently=True)
            else:
                schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.remove_index(model, self.index, concurrently=True)
            else:
                schema_editor.remove_index(model, self.index)
