"""A JSON parser that turns every malformed body into a 400, never a 500."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Brevo's bodies are two levels deep; anything much deeper is an attack or a mistake.
MAX_DEPTH = 20


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def depth(value: Any) -> int:
    """How deeply `value` nests lists and objects, measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


class StrictJSONParser(JSONParser):
    def parse(self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"The request body is too large (at most {limit} bytes).")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The request body is not valid JSON: {_short(exc)}") from None
        if depth(data) > MAX_DEPTH:
            raise ParseError(f"The JSON is nested too deeply (at most {MAX_DEPTH} levels).")
        return data


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply."
    return str(exc).split("\n", 1)[0][:200]
