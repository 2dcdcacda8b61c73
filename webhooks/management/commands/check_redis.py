"""`manage.py check_redis`: one clear line when Redis cannot be reached, instead of a traceback."""

from __future__ import annotations

from typing import Any

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from webhooks.jobs import TESTS_QUEUE


def redacted(url: str) -> str:
    # redis://user:password@host/0 must not end up in a terminal or a CI log.
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://••••@{rest.rpartition('@')[2]}"


def where() -> str:
    """Where Redis is looked for, as the settings say, without credentials."""
    if settings.REDIS_SENTINELS:
        sentinels = ",".join(f"{host}:{port}" for host, port in settings.REDIS_SENTINELS)
        return f"master {settings.REDIS_SENTINEL_MASTER!r} of the sentinels {sentinels} (REDIS_SENTINELS)"
    return redacted(settings.REDIS_URL)


class Command(BaseCommand):
    help = "Check that Redis (REDIS_URL) answers."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            django_rq.get_connection(TESTS_QUEUE).ping()
        except RedisError as exc:
            raise CommandError(
                f"Redis is not reachable at {where()} ({exc.__class__.__name__}). "
                "Start it (redis-server --daemonize yes) or set REDIS_URL to a running Redis."
            ) from None
        if options["verbosity"] > 1:
            self.stdout.write(f"Redis answers at {where()}.")
