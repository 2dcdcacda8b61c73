"""The JSON parser of both APIs (/v3 and /api/events): every malformed body is a 400, never a 500."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from brevo_hooks import strict_json
from webhooks.api.errors import Invalid


def too_large(limit: int) -> str:
    return f"The request body is too large (at most {limit} bytes)."


class StrictJSONParser(JSONParser):
    """JSON that the database can store (see `brevo_hooks.strict_json`), within a body limit.

    Syntax errors are 400 `bad_request`; valid JSON that cannot be stored (NaN, 1e400, a
    lone surrogate, NUL, deep nesting) is 400 `invalid_parameter` naming the field.
    """

    # How a list at the top of the body is named in messages.
    list_name = ""
    # What the body must be, and the message when it is something else (null, a string...).
    top_level: tuple[type, ...] = (dict,)
    top_level_message = "The request body must be a JSON object."

    def body_limit(self) -> int:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = self.body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(too_large(limit))
        try:
            value = strict_json.loads(raw.decode("utf-8"), list_name=self.list_name)
        except UnicodeDecodeError as exc:
            raise ParseError(f"The request body is not valid JSON: it is not UTF-8 ({exc.reason}).") from None
        except strict_json.NotJSON as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from None
        except strict_json.Unstorable as exc:
            raise Invalid(str(exc)) from None
        if not isinstance(value, self.top_level):
            raise Invalid(self.top_level_message)
        return value
