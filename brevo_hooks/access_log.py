"""Export download links out of the logs.

The token in `/exports/<token>.csv` is the only credential for a CSV of payloads (email
addresses included), so neither gunicorn's access log nor Django's own log lines may
hold it. gunicorn's logger (brevo_hooks.gunicorn_conf, as `make web` and `make run` start it) is a
`RedactingLogger`;
`RedactExportLinks` filters the log records of Django (settings.LOGGING).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

EXPORT_LINK = re.compile(r"(/exports/)[^/?#\s\"']+?(\.csv)")
REDACTED = r"\1[redacted]\2"


def redact(text: str) -> str:
    """`text` with the token of any export download link replaced."""
    return EXPORT_LINK.sub(REDACTED, text)


class RedactingLogger(Logger):
    """gunicorn's logger, writing no export download token in the access log."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


class RedactExportLinks(logging.Filter):
    """A logging filter that takes export download tokens out of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if EXPORT_LINK.search(message):
            record.msg, record.args = redact(message), None
        return True
