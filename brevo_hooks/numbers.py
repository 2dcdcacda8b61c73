"""Whole numbers read from text that anyone may send: query strings, forms, event data.

`text.isdigit()` then `int(text)` is not enough: Python refuses to convert more than 4,300
digits (a guard against slow conversions) with a ValueError, which a view would answer
with a 500, and `isdigit()` is true for digits of other scripts too ("٣").
"""

from __future__ import annotations

# Enough for any id or count we store (2**63 has 19 digits), leading zeros aside.
MAX_DIGITS = 19


def whole_number(text: str, below: int = 2**63) -> int | None:
    """`text` as a whole number from 0 to `below` - 1 when it is ASCII digits only; None otherwise."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:
        return None
    value = int(digits)
    return value if value < below else None
