"""gunicorn's settings for `make web` and `make run` (`gunicorn -c python:brevo_hooks.gunicorn_conf`).

Metrics: gunicorn runs several worker processes, each with its own counters. With
PROMETHEUS_MULTIPROC_DIR every process writes them to files in that directory and a
scrape adds them up. It is set here, in the master, before any worker starts (each
imports prometheus_client after the fork, and reads it then): a fresh directory of its own
unless the environment names one, which is emptied of an earlier run's files.

Logs: the access log never holds an export download token (brevo_hooks.access_log), and
with LOG_FORMAT=json gunicorn's own lines (errors, the access log) are JSON objects like the
application's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from brevo_hooks.access_log import RedactingLogger

_made_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="brevo-hooks-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server: Any) -> None:
    # Counters of an earlier run would be added to this one's.
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    # A dead worker's counters stay in the sums; its live gauges must not.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def on_exit(server: Any) -> None:
    if _made_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


class Logger(RedactingLogger):
    """gunicorn's logger, without export tokens, writing JSON lines when LOG_FORMAT=json."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if os.environ.get("LOG_FORMAT", "").lower() == "json":
            from brevo_hooks.logs import JsonFormatter

            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())


logger_class = Logger
