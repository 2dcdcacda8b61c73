"""Redis connections, from one set of settings: the job queues, the cache and direct connections.

`REDIS_URL` names the Redis. `rediss://` turns TLS on, and redis-py's query options tune
it (`?ssl_cert_reqs=none` for a managed Redis with a self-signed certificate,
`?ssl_ca_certs=/etc/ssl/redis-ca.pem` for a private CA). With `REDIS_SENTINELS`, the
sentinels name the master of `REDIS_SENTINEL_MASTER` and the URL's host is not used; the
URL still gives the database, the user, the password and TLS (for the sentinels too).

django-rq reads `rq()`, Django's cache (the login limiter's counts) reads `cache()`, and
code that needs a connection of its own (the readiness check) calls `connect()`, so the
three can never disagree about where Redis is or how to reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

from brevo_hooks.numbers import whole_number

# What the URL says about where Redis is; with sentinels the master's address comes from them.
ADDRESS_KEYS = ("host", "port", "unix_socket_path")


def parse_sentinels(raw: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as (host, port) pairs; ImproperlyConfigured naming the variable if malformed."""
    sentinels = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, sep, port_text = item.rpartition(":")
        host = host.strip("[]")  # [::1]:26379
        port = whole_number(port_text, below=65536)
        if not sep or not host or not port:
            raise ImproperlyConfigured(
                f"REDIS_SENTINELS must be comma-separated host:port pairs such as "
                f"10.0.0.5:26379,10.0.0.6:26379, not {raw!r}."
            )
        sentinels.append((host, port))
    return sentinels


def url_kwargs(url: str) -> dict[str, Any]:
    """The keyword arguments of `redis.Redis` that `url` stands for (TLS as `ssl=True`)."""
    try:
        kwargs = parse_url(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REDIS_URL is not a Redis URL ({exc}).") from None
    connection_class = kwargs.pop("connection_class", None)
    if connection_class is SSLConnection:
        kwargs["ssl"] = True
    elif connection_class is UnixDomainSocketConnection:
        kwargs["unix_socket_path"] = kwargs.pop("path", None)
    return kwargs


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to reach it: REDIS_URL, and the sentinels when there are some."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = "mymaster"
    sentinel_password: str = ""

    @classmethod
    def from_settings(cls) -> RedisSettings:
        # Read at call time, so that a test (or a settings override) changes every user at once.
        from django.conf import settings

        return cls(
            settings.REDIS_URL,
            tuple(settings.REDIS_SENTINELS),
            settings.REDIS_SENTINEL_MASTER,
            settings.REDIS_SENTINEL_PASSWORD,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of each connection to the Redis that holds the data (the master)."""
        kwargs = url_kwargs(self.url)
        if self.sentinels:
            for key in ADDRESS_KEYS:
                kwargs.pop(key, None)
        return kwargs

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the connections to the sentinels themselves."""
        kwargs: dict[str, Any] = {
            key: value for key, value in self.client_kwargs().items() if key.startswith(("ssl", "socket_"))
        }
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return kwargs

    def rq(self) -> dict[str, Any]:
        """The connection part of an RQ_QUEUES entry (django-rq)."""
        if not self.sentinels:
            # django-rq hands the URL to redis-py, which reads TLS and its options from it.
            return {"URL": self.url}
        kwargs = self.client_kwargs()
        return {
            "SENTINELS": list(self.sentinels),
            "MASTER_NAME": self.master,
            "DB": kwargs.pop("db", 0),
            "USERNAME": kwargs.pop("username", None),
            "PASSWORD": kwargs.pop("password", None),
            "SOCKET_TIMEOUT": kwargs.pop("socket_timeout", None),
            "CONNECTION_KWARGS": kwargs,
            "SENTINEL_KWARGS": self.sentinel_kwargs(),
        }

    def cache(self) -> dict[str, Any]:
        """Django's CACHES entry on this Redis (without KEY_PREFIX)."""
        config: dict[str, Any] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": self.url}
        if self.sentinels:
            config["OPTIONS"] = {
                "pool_class": "brevo_hooks.redis_config.SentinelPool",
                "sentinels": list(self.sentinels),
                "service_name": self.master,
                "sentinel_kwargs": self.sentinel_kwargs(),
            }
        return config

    def connect(self, **overrides: Any) -> redis.Redis:
        """A new client of this Redis; `overrides` are connection options (timeouts, say)."""
        kwargs = {**self.client_kwargs(), **overrides}
        if not self.sentinels:
            return redis.Redis(**kwargs)
        timeouts = {key: value for key, value in overrides.items() if key.startswith("socket_")}
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs={**self.sentinel_kwargs(), **timeouts}, **kwargs)
        return sentinel.master_for(self.master)


class SentinelPool(SentinelConnectionPool):
    """A connection pool that Django's RedisCache can make from its LOCATION, through the sentinels.

    Django builds its pools with `pool_class.from_url(LOCATION, **OPTIONS)`; this one asks
    the sentinels (OPTIONS `sentinels`, `service_name`, `sentinel_kwargs`) where the master is.
    """

    @classmethod
    def from_url(  # type: ignore[override]
        cls,
        url: str,
        *,
        sentinels: list[tuple[str, int]],
        service_name: str,
        sentinel_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> SentinelPool:
        kwargs = {key: value for key, value in url_kwargs(url).items() if key not in ADDRESS_KEYS}
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs or {})
        return cls(service_name, manager, **{**options, **kwargs})
