"""Fixed-window rate limits for logins (the app's and the admin's), counted in Redis.

Counting in Redis means every web process sees the same counts. While Redis cannot be
reached, each process counts on its own in memory: the limits still hold per process
(so at most WEB_CONCURRENCY times looser), instead of letting every try through.

The limits, from settings (README, "Security"):
- per address and email: LOGIN_LIMIT_PER_ADDRESS_AND_EMAIL attempts per LOGIN_LIMIT_WINDOW;
- per address, whatever the email: LOGIN_LIMIT_PER_ADDRESS attempts per LOGIN_LIMIT_WINDOW,
  so that one host cannot spray many accounts;
- per account, whatever the address: LOGIN_LIMIT_PER_ACCOUNT failed attempts per
  LOGIN_LIMIT_ACCOUNT_WINDOW, so that many hosts cannot share the guessing of one password.
The address is REMOTE_ADDR, or behind TRUSTED_PROXY_HOPS proxies the one they put in
X-Forwarded-For.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# In-process counts while Redis is down: key -> (count, expires at). Bounded: the oldest
# windows go first when it is full.
_local: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()
LOCAL_MAX_KEYS = 100_000


def now() -> float:
    return time.time()


def client_address(request: HttpRequest) -> str:
    """The address a request came from.

    With TRUSTED_PROXY_HOPS = n (the TLS proxies in front of us, each appending the address
    it was reached from to X-Forwarded-For), it is the n-th address from the right of that
    header: what a client writes there itself comes before, and is never trusted. With 0
    (the default) the header is ignored.
    """
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops <= 0 or not forwarded:
        return remote
    return forwarded[-min(hops, len(forwarded))]


def _cache_key(scope: str, key: str, window: int) -> str:
    bucket = int(now() // window)
    # Hashed: the cache holds no email addresses or IP addresses in clear.
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}:{bucket}"


def _count_locally(cache_key: str, window: int, increment: int) -> int:
    moment = now()
    with _local_lock:
        if len(_local) >= LOCAL_MAX_KEYS:
            for old in sorted(_local, key=lambda k: _local[k][1])[: LOCAL_MAX_KEYS // 10]:
                del _local[old]
        count, expires = _local.get(cache_key, (0, moment + window + 1))
        if expires <= moment:
            count, expires = 0, moment + window + 1
        count += increment
        _local[cache_key] = (count, expires)
        return count


def forget_local_counts() -> None:
    with _local_lock:
        _local.clear()


def count(scope: str, key: str, window: int, increment: int = 1) -> int:
    """Add `increment` to the attempts of `key` in `scope` in the current window; return the total."""
    cache_key = _cache_key(scope, key, window)
    try:
        if increment == 0:
            return int(cache.get(cache_key) or 0)
        if cache.add(cache_key, increment, timeout=window + 1):
            return increment
        return cache.incr(cache_key, increment)
    except Exception as exc:  # Redis down or unreachable: count here rather than not at all
        logger.warning("rate limiter counting in this process, the cache is unavailable: %s", type(exc).__name__)
        return _count_locally(cache_key, window, increment)


def hit(scope: str, key: str, limit: int, window: int) -> bool:
    """Count one attempt of `key` in `scope`; False once more than `limit` were made in `window` s."""
    return count(scope, key, window) <= limit


def seconds_left(window: int) -> int:
    """How long until the current window of `window` seconds ends."""
    return max(1, int(window - now() % window))


def login_wait(request: HttpRequest, email: str) -> int:
    """Count a login attempt; 0 if it may go on, else the seconds to wait (no password is checked then)."""
    address = client_address(request)
    email = email.strip().lower()
    window = settings.LOGIN_LIMIT_WINDOW
    allowed = hit("login", f"{address}|{email}", settings.LOGIN_LIMIT_PER_ADDRESS_AND_EMAIL, window)
    allowed = hit("login-address", address, settings.LOGIN_LIMIT_PER_ADDRESS, window) and allowed
    account_window = settings.LOGIN_LIMIT_ACCOUNT_WINDOW
    if count("login-account", email, account_window, increment=0) >= settings.LOGIN_LIMIT_PER_ACCOUNT:
        return seconds_left(account_window)
    return 0 if allowed else seconds_left(window)


def login_failed(email: str) -> None:
    """Count a failed login against the account, whatever address it came from."""
    count("login-account", email.strip().lower(), settings.LOGIN_LIMIT_ACCOUNT_WINDOW)
