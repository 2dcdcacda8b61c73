from __future__ import annotations

import json
from typing import Any

from django.db import models

from catalog.payloads import encode


class OrderedJSONField(models.TextField):
    """JSON kept as the text it was written as, so key order survives every database.

    PostgreSQL's jsonb sorts object keys; receivers of Brevo's payloads see the keys in
    Brevo's order, and what we send must be byte for byte what was built. The text is
    written exactly as it is sent (catalog.payloads.encode), so sending reads it as the
    request body without decoding and encoding it again.
    """

    description = "JSON, stored as text in its original key order"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else encode(value).decode()

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""
