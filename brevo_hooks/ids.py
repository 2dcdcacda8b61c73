"""Public ids that sort by the time they were made (UUID version 7, RFC 9562).

Events and deliveries are looked up by a UUID of their own (the API's event ids, the
`webhook-id` a receiver dedupes on), so each table has a unique index on it. With random
version-4 UUIDs every new row lands on a random page of that index: each batch of 100
events dirtied about a hundred pages of it, which SQLite writes whole to its WAL and
PostgreSQL logs, while the table itself only grows at its end. A version-7 UUID starts
with the time in milliseconds, so new ids go to the end of the index too; its other 74
bits are random (from os.urandom), so ids stay unguessable.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 7 << 76
_VARIANT = 0b10 << 62
_RANDOM_BITS = ~((0xF << 76) | (0b11 << 62))


def uuid7() -> uuid.UUID:
    """A new UUID: 48 bits of Unix time in ms, the version and variant, then random bits."""
    ms = time.time_ns() // 1_000_000
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    return uuid.UUID(int=(value & _RANDOM_BITS) | _VERSION | _VARIANT)
