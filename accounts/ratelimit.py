"""A small fixed-window rate limiter on the cache (Redis), for logins.

Counting in Redis means every web process sees the same counts. If the cache is
unreachable the limiter lets requests through: logging in matters more than
counting, and the password check still runs.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def hit(scope: str, key: str, limit: int, window: int) -> bool:
    """Count one attempt of `key` in `scope`; False once more than `limit` were made in `window` s."""
    bucket = int(time.time() // window)
    # Hashed: the cache holds no email addresses or IP addresses in clear.
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    cache_key = f"ratelimit:{scope}:{digest}:{bucket}"
    try:
        count = 1 if cache.add(cache_key, 1, timeout=window + 1) else cache.incr(cache_key)
    except Exception as exc:
        logger.warning("rate limiter unavailable: %s", exc.__class__.__name__)
        return True
    return count <= limit
