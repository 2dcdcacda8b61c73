"""Prometheus metrics: what is measured, the small functions that record it, and what a scrape shows.

Counters and histograms are recorded where things happen, by one call each:
`events_accepted()` when emit() commits, `record_round()` when a worker has stored the
outcomes of a round of requests. Gauges of the state (what is waiting, paused, disabled)
are read from the database at scrape time (`StateCollector`), with indexed queries.

Under gunicorn each web process counts on its own; with PROMETHEUS_MULTIPROC_DIR set
(brevo_hooks/gunicorn_conf.py sets it) every process writes its values to files there,
and a scrape adds up the files of all of them, so any process answers for all.

Where they are served: `/metrics` on the web (these counters, the state gauges and
django-rq's queue collector), and each worker's own counters on WORKER_METRICS_PORT.
Both answer only `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from secrets import compare_digest
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, QuerySet
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from webhooks.models import UNFINISHED, Delivery, Webhook

logger = logging.getLogger(__name__)

EVENTS_ACCEPTED = Counter(
    "brevo_hooks_events_accepted",
    "Events stored by emit() (the events API, the Events page, emit_event); a repeated idempotency key is not counted.",
    ["type"],
)
DELIVERIES = Counter(
    "brevo_hooks_deliveries",
    "Outcomes of delivery attempts: delivered, retry (another attempt is scheduled), gave-up (the retry schedule "
    "is exhausted, or 410 Gone), failed (a test send that failed).",
    ["outcome"],
)
ATTEMPTS = Counter(
    "brevo_hooks_attempts",
    "HTTP attempts by the class of the receiver's answer: 2xx, 3xx, 4xx, 5xx, or error when there was none "
    "(timeout, refused connection, refused address).",
    ["status_class"],
)
ATTEMPT_SECONDS = Histogram(
    "brevo_hooks_attempt_duration_seconds",
    "Time of one HTTP attempt, from the request to the whole answer (or the error).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
DELIVERY_LATENCY = Histogram(
    "brevo_hooks_delivery_latency_seconds",
    "From the event accepted to its delivery acknowledged by a 2xx answer, retries included (test sends excluded).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600),
)


@dataclass(frozen=True, slots=True)
class Sent:
    """One finished attempt, as the metrics see it."""

    outcome: str  # "delivered", "retry", "gave-up", "failed"
    status: int | None  # the receiver's HTTP status; None when it did not answer
    seconds: float  # duration of the attempt
    accepted_at: datetime | None  # when the event was accepted (the delivery created); None for test sends


def status_class(status: int | None) -> str:
    if status is None or not 100 <= status < 600:
        return "error"
    return f"{status // 100}xx"


def record_round(sent: Iterable[Sent], now: datetime) -> None:
    """Count the outcomes, the attempts and their durations of one round of requests.

    Called once per round by the engine (webhooks.sending.pipeline, `Pipeline.collect`), after the outcomes
    are stored; `now` is when they were.
    """
    outcomes: Tally[str] = Tally()
    classes: Tally[str] = Tally()
    for one in sent:
        outcomes[one.outcome] += 1
        classes[status_class(one.status)] += 1
        ATTEMPT_SECONDS.observe(one.seconds)
        if one.outcome == "delivered" and one.accepted_at is not None:
            DELIVERY_LATENCY.observe(max(0.0, (now - one.accepted_at).total_seconds()))
    # One increment per label and round: each is a write to shared memory under gunicorn.
    for outcome, count in outcomes.items():
        DELIVERIES.labels(outcome).inc(count)
    for kind, count in classes.items():
        ATTEMPTS.labels(kind).inc(count)


def events_accepted(types: Iterable[str]) -> None:
    """Count stored events, by type (transactional, marketing); called when emit() commits."""
    counts: dict[str, int] = {}
    for event_type in types:
        counts[event_type] = counts.get(event_type, 0) + 1
    for event_type, count in counts.items():
        EVENTS_ACCEPTED.labels(event_type).inc(count)


class StateCollector:
    """Gauges of the delivery state, read from the database at each scrape.

    Four small queries, each served by an index (see the Meta.indexes of Delivery and Webhook):
    no scrape reads the history.
    """

    @staticmethod
    def queries(now: datetime) -> dict[str, QuerySet[Any]]:
        """The queries behind the gauges (tests/test_retention.py checks their plans)."""
        return {
            # (status, next_attempt_at) index
            "by_status": Delivery.objects.filter(status__indexed_as=UNFINISHED)
            .values_list("status")
            .annotate(count=Count("id"))
            .order_by(),
            "later": Delivery.objects.later(now).order_by(),
            "oldest_due": Delivery.objects.due(now).order_by("next_attempt_at").values_list("next_attempt_at"),
            # (enabled, paused_until) index
            "paused": Webhook.objects.filter(enabled=True, paused_until__gt=now).order_by(),
            "disabled": Webhook.objects.filter(enabled=False).order_by(),
        }

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        query = self.queries(now)
        try:
            by_status = dict(query["by_status"])
            later = query["later"].count()
            oldest = query["oldest_due"].first()
            oldest_due = oldest[0] if oldest else None
            paused = query["paused"].count()
            disabled = query["disabled"].count()
        except DatabaseError as exc:
            # The scrape still shows the counters; /readyz says what is wrong with the database.
            logger.warning("metrics: the database did not answer: %s", exc.__class__.__name__)
            return
        waiting = GaugeMetricFamily(
            "brevo_hooks_deliveries_waiting",
            "Deliveries not sent yet: due (workers should be sending them), later (a retry or a paused endpoint), "
            "batch_window (events of batched webhooks), sending (in flight).",
            labels=["state"],
        )
        pending = by_status.get(Delivery.Status.PENDING, 0)
        waiting.add_metric(["due"], max(0, pending - later))
        waiting.add_metric(["later"], later)
        waiting.add_metric(["batch_window"], by_status.get(Delivery.Status.WAITING, 0))
        waiting.add_metric(["sending"], by_status.get(Delivery.Status.SENDING, 0))
        yield waiting
        yield GaugeMetricFamily(
            "brevo_hooks_oldest_waiting_delivery_seconds",
            "How long the oldest due delivery has waited since it fell due (0 when none waits): the workers' lag.",
            value=(now - oldest_due).total_seconds() if oldest_due else 0.0,
        )
        yield GaugeMetricFamily(
            "brevo_hooks_paused_endpoints", "Enabled webhooks paused because their endpoint did not answer.", paused
        )
        yield GaugeMetricFamily("brevo_hooks_disabled_webhooks", "Disabled webhooks.", disabled)


class QueueCollector:
    """django-rq's collector of the RQ queues and workers; a Redis outage leaves it out of the scrape."""

    def collect(self) -> Iterator[Metric]:
        from django_rq.contrib.prometheus import RQCollector

        try:
            yield from list(RQCollector().collect())
        except RedisError as exc:
            logger.warning("metrics: Redis did not answer: %s", exc.__class__.__name__)


class Scrape:
    """Several collectors as one, for generate_latest."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def own_metrics() -> Any:
    """This process's counters, or with PROMETHEUS_MULTIPROC_DIR those of every process that writes there."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def web_scrape() -> bytes:
    """What /metrics shows: the counters, the state gauges and the queues."""
    return generate_latest(Scrape(own_metrics(), StateCollector(), QueueCollector()))  # type: ignore[arg-type]


def authorized(header: str | None) -> bool:
    """Whether an Authorization header carries METRICS_TOKEN (never true without one)."""
    token = settings.METRICS_TOKEN
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and compare_digest(given.strip().encode(), token.encode())


class WorkerMetricsHandler(BaseHTTPRequestHandler):
    """GET on any path: the worker's counters, for the bearer of METRICS_TOKEN."""

    def do_GET(self) -> None:
        if not authorized(self.headers.get("Authorization")):
            self.answer(401, b"Send Authorization: Bearer <METRICS_TOKEN>.\n", "text/plain; charset=utf-8")
            return
        self.answer(200, generate_latest(own_metrics()), "text/plain; version=0.0.4; charset=utf-8")

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would drown the worker's log


def serve_worker_metrics() -> ThreadingHTTPServer | None:
    """Serve this worker's metrics on WORKER_METRICS_PORT in a daemon thread; None when off."""
    port = settings.WORKER_METRICS_PORT
    if not port:
        return None
    if not settings.METRICS_TOKEN:
        logger.warning("WORKER_METRICS_PORT is set but METRICS_TOKEN is not: the worker serves no metrics.")
        return None
    try:
        server = ThreadingHTTPServer((settings.WORKER_METRICS_ADDRESS, port), WorkerMetricsHandler)
    except OSError as exc:
        # A metrics port taken by another process must not stop deliveries.
        logger.error("worker metrics: cannot listen on port %s: %s", port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("worker metrics on port %s", port)
    return server
