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


class Command(BaseCommand):
    help = "Check that Redis (REDIS_URL) answers."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            django_rq.get_connection(TESTS_QUEUE).ping()
        except RedisError as exc:
            raise CommandError(
                f"Redis is not reachable at {redacted(settings.REDIS_URL)} ({exc.__class__.__name__}). "
                "Start it (redis-server --daemonize yes) or set REDIS_URL to a running Redis."
            ) from None
        if options["verbosity"] > 1:
            self.stdout.write(f"Redis answers at {redacted(settings.REDIS_URL)}.")
