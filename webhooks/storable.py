"""Text from receivers, made storable before it reaches the database.

PostgreSQL refuses a NUL character in text and in JSON (even escaped as \\u0000), and
no database takes a lone surrogate in UTF-8. A receiver can send either, in a body, a
header or anything an error message quotes. Everything stored from a receiver goes
through here first, and is capped in size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# json.dumps() with any option makes a new encoder per call; this is every delivery's.
_ENCODER = json.JSONEncoder(ensure_ascii=False)
# What the delivery log keeps of an error sentence.
MAX_ERROR_CHARS = 1000


def text(value: str, limit: int | None = None) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD, cut at `limit` characters."""
    if limit is not None:
        value = value[:limit]
    # Most answers are plain ASCII without NUL: two checks in C instead of a regex pass.
    if value.isascii() and "\x00" not in value:
        return value
    return _UNSTORABLE.sub(REPLACEMENT, value)


def error(value: str) -> str:
    return text(value, MAX_ERROR_CHARS)


def headers_json(headers: Mapping[str, str], limit: int) -> str:
    """Headers as the JSON text of the delivery log: storable names and values, about `limit` characters at most."""
    kept: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        name, value = text(str(name), limit), text(str(value), limit)
        size += len(name) + len(value)
        if size > limit:
            break
        kept[name] = value
    return _ENCODER.encode(kept)
