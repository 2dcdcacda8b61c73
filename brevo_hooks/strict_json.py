"""JSON as our databases can store it, for every door that takes JSON from outside.

Python's parser accepts more than PostgreSQL and SQLite store: `NaN`, `Infinity` and
`1e400` (not JSON, and SQLite's JSON_VALID refuses them), lone surrogates such as
`"\\ud800"` (no UTF-8 exists for them), `"\\u0000"` (PostgreSQL text and jsonb refuse it),
and nesting deep enough to exhaust the parser's recursion. Each is refused here with a
message that names where it is (`data.reason`, `events[3].id`), so that the API answers
400 and never 500, and nothing is half-saved.

The /v3 and /api/events parser (`webhooks.api.parsers`), the "Simulate an event" form
and `events.emit` all use it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from django.utils.translation import gettext as _

# Brevo's bodies are two or three levels deep; anything much deeper is an attack or a mistake.
MAX_DEPTH = 20
# NUL, and UTF-16 halves that do not form a pair.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Strings, brackets and separators: enough to follow where a too-deep document goes deep.
MARKS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)


class NotJSON(ValueError):
    """The text is not JSON at all; `str()` says why."""


class Unstorable(ValueError):
    """Valid JSON that cannot be stored; `path` names where, `str()` is `path: why`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason[:1].upper() + reason[1:])
        self.path = path
        self.reason = reason


def loads(text: str, list_name: str = "") -> Any:
    """Parse `text` and check it with `check`; NotJSON or Unstorable if refused.

    `list_name` names a list at the top in messages (`events[3].data`).
    """
    try:
        value = parse(text)
    except RecursionError:
        raise Unstorable(deep_path(text, list_name), too_deep()) from None
    check(value, list_name=list_name)
    return value


class TooLong:
    """Stands for a number with more digits than Python converts, so that `check` names where it is."""


TOO_LONG = TooLong()


def int_or_too_long(digits: str) -> int | TooLong:
    try:
        return int(digits)
    except ValueError:  # more than 4,300 digits (sys.get_int_max_str_digits)
        return TOO_LONG


def parse(text: str) -> Any:
    """`json.loads`, with NotJSON for text that is not JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        reason = str(exc).split("\n", 1)[0][:200]
    # Perhaps only a number too long for Python: parsed again, it stands there as TOO_LONG.
    # The common case pays nothing for this: a hook for every number would.
    try:
        return json.loads(text, parse_int=int_or_too_long)
    except ValueError:
        raise NotJSON(reason) from None


def check(value: Any, path: str = "", list_name: str = "") -> None:
    """Unstorable for the first (in document order) non-finite number, NUL or lone surrogate,
    or for nesting deeper than MAX_DEPTH; walked without recursion."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, level = stack.pop()
        if isinstance(item, dict | list):
            if level > MAX_DEPTH:
                raise Unstorable(where, too_deep())
            stack.extend(reversed(children(item, where, level, list_name)))
        else:
            check_scalar(item, where)


def check_scalar(item: Any, where: str) -> None:
    """Unstorable if `item` is a string with NUL or a lone surrogate, or a non-finite number."""
    if isinstance(item, str) and UNSTORABLE.search(item):
        raise Unstorable(where, bad_text(item))
    if isinstance(item, float) and not math.isfinite(item):
        raise Unstorable(where, _("numbers must be finite: NaN, Infinity and 1e400 are not JSON numbers."))
    if item is TOO_LONG:
        raise Unstorable(
            where, _("numbers must have at most %(digits)d digits.") % {"digits": sys.get_int_max_str_digits()}
        )


def children(container: dict | list, where: str, level: int, list_name: str) -> list[tuple[Any, str, int]]:
    """The items of a list or object with their paths, in document order; Unstorable for a bad key."""
    if isinstance(container, list):
        name = where or (list_name if level == 1 else "")
        return [(child, f"{name}[{n}]", level + 1) for n, child in enumerate(container)]
    found = []
    for key, child in container.items():
        key_path = f"{where}.{printable(key)}" if where else printable(key)
        if UNSTORABLE.search(key):
            raise Unstorable(key_path, bad_text(key))
        found.append((child, key_path, level + 1))
    return found


def printable(key: str) -> str:
    """`key` as it may appear in a message: NUL and lone surrogates escaped."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def bad_text(text: str) -> str:
    if "\x00" in text:
        return _("text must not contain the NUL character (\\u0000).")
    return _("text must not contain a lone UTF-16 surrogate such as \\ud800.")


def too_deep() -> str:
    return _("nested too deeply (at most %(depth)d levels of lists and objects).") % {"depth": MAX_DEPTH}


def deep_path(text: str, list_name: str = "") -> str:
    """The path of the first list or object in `text` that is deeper than MAX_DEPTH.

    For documents too deep for the parser itself: it follows the tokens instead.
    """
    # Each open container: its path, and for a list the index of the current element.
    stack: list[list[Any]] = []
    last_string = ""
    for match in MARKS.finditer(text):
        mark = match.group()
        if mark[0] == '"':
            last_string = mark
        elif mark in "[{":
            path = element_path(stack, list_name)
            if len(stack) >= MAX_DEPTH:
                return path
            stack.append([path, 0 if mark == "[" else None, ""])
        elif mark in "]}":
            if stack:
                stack.pop()
        elif mark == ":" and stack:
            try:
                stack[-1][2] = printable(json.loads(last_string))
            except ValueError:
                stack[-1][2] = "?"
        elif mark == "," and stack and stack[-1][1] is not None:
            stack[-1][1] += 1
    return ""


def element_path(stack: list[list[Any]], list_name: str) -> str:
    """The path of the value that starts now, inside the innermost open container."""
    if not stack:
        return ""
    path, index, key = stack[-1]
    if index is not None:
        return f"{path or (list_name if len(stack) == 1 else '')}[{index}]"
    return f"{path}.{key}" if path else key
