"""Logs as JSON (LOG_FORMAT=json), and the ids that say what a log line is about.

Code names what a line is about in one of two ways; both end up as fields of the line:

    logger.warning("webhook disabled: %s", reason, extra=log_ids(webhook=webhook))
    with log_context(delivery_id=delivery.pk, webhook_id=webhook.pk, account_id=webhook.account_id):
        ...  # every line logged in here, by any module, carries the three ids

`extra` is for one line; `log_context` (a contextvar, so per thread and per task) is for
everything a piece of work logs, including the lines of libraries it calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

# The ids a line may carry, in the order they are written.
ID_FIELDS = ("account_id", "webhook_id", "delivery_id", "event_id", "export_id")

_context: ContextVar[dict[str, Any]] = ContextVar("log_ids", default={})  # noqa: B039 (never mutated, only replaced)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Every line logged inside the block carries `ids` (besides those of enclosing blocks)."""
    token = _context.set({**_context.get(), **{key: value for key, value in ids.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def log_ids(webhook: Any = None, delivery: Any = None, **ids: Any) -> dict[str, Any]:
    """`extra=` for one line about `webhook` and/or `delivery` (model instances), plus any other ids."""
    found: dict[str, Any] = {}
    if webhook is not None:
        found["webhook_id"] = webhook.pk
        found["account_id"] = webhook.account_id
    if delivery is not None:
        found["delivery_id"] = delivery.pk
        found["webhook_id"] = delivery.webhook_id
    found.update({key: value for key, value in ids.items() if value is not None})
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the ids, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        for key in ID_FIELDS:
            value = getattr(record, key, None)
            if value is None:
                value = context.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # Never a second line: json.dumps escapes the newlines of messages and tracebacks.
        return json.dumps(line, ensure_ascii=False, default=str)


class LogContextMiddleware:
    """Lines logged while a signed-in user's request is served carry the user's account id."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        account_id = getattr(user, "account_id", None) if user is not None and user.is_authenticated else None
        if account_id is None:
            return self.get_response(request)
        with log_context(account_id=account_id):
            return self.get_response(request)
