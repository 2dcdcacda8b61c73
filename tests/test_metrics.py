"""Prometheus metrics: counted where things happen, served to the bearer of METRICS_TOKEN.

Unit tests read this process's registry; process tests scrape a real worker's metrics port
and a real gunicorn with two worker processes, whose scrapes must add up both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from events import emit
from events.fanout import EventError, NewEvent
from tests.conftest import ROOT, process_env, wait_for_answer, wait_until
from tests.receiver import Reply
from tests.test_send_a_test import free_port
from webhooks.models import Delivery

TOKEN = "metrics-token-for-tests"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A scrape's samples by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_delivered_event_counts_the_outcome_the_attempt_and_both_latencies(
    account, make_webhook, receiver, emit_now, run_worker
):
    make_webhook(url=receiver.url, events=("delivered",))
    before = {
        "delivered": sample("brevo_hooks_deliveries_total", outcome="delivered"),
        "2xx": sample("brevo_hooks_attempts_total", status_class="2xx"),
        "durations": sample("brevo_hooks_attempt_duration_seconds_count"),
        "latencies": sample("brevo_hooks_delivery_latency_seconds_count"),
        "accepted": sample("brevo_hooks_events_accepted_total", type="transactional"),
    }
    emit_now(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(3)])
    run_worker()

    assert sample("brevo_hooks_events_accepted_total", type="transactional") - before["accepted"] == 3
    assert sample("brevo_hooks_deliveries_total", outcome="delivered") - before["delivered"] == 3
    assert sample("brevo_hooks_attempts_total", status_class="2xx") - before["2xx"] == 3
    assert sample("brevo_hooks_attempt_duration_seconds_count") - before["durations"] == 3
    assert sample("brevo_hooks_delivery_latency_seconds_count") - before["latencies"] == 3
    # Accepted → delivered within this test's run: under the 60 s bucket, over nothing.
    assert sample("brevo_hooks_delivery_latency_seconds_bucket", le="60.0") - before["latencies"] >= 3


def test_failed_attempts_count_by_status_class_and_outcome(account, make_webhook, receiver, emit_now, run_worker):
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(status=503)
    retry, five = (
        sample("brevo_hooks_deliveries_total", outcome="retry"),
        sample("brevo_hooks_attempts_total", status_class="5xx"),
    )
    latencies = sample("brevo_hooks_delivery_latency_seconds_count")
    emit_now(account, [NewEvent("delivered", data={"email": "a@example.com"})])
    run_worker()

    assert sample("brevo_hooks_deliveries_total", outcome="retry") - retry == 1
    assert sample("brevo_hooks_attempts_total", status_class="5xx") - five == 1
    assert sample("brevo_hooks_delivery_latency_seconds_count") == latencies  # nothing was delivered


def test_an_endpoint_that_does_not_answer_counts_as_an_error_attempt(
    account, make_webhook, emit_now, run_worker, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = []  # the first failure is the last
    make_webhook(url=f"http://127.0.0.1:{free_port()}/", events=("delivered",))
    errors, gave_up = (
        sample("brevo_hooks_attempts_total", status_class="error"),
        sample("brevo_hooks_deliveries_total", outcome="gave-up"),
    )
    emit_now(account, [NewEvent("delivered", data={"email": "a@example.com"})])
    run_worker()
    assert sample("brevo_hooks_attempts_total", status_class="error") - errors == 1
    assert sample("brevo_hooks_deliveries_total", outcome="gave-up") - gave_up == 1


def test_events_are_counted_once_stored_and_not_again_for_a_repeated_key_or_a_refused_batch(account, emit_now):
    before = sample("brevo_hooks_events_accepted_total", type="marketing")
    emit_now(account, [NewEvent("listAddition", type="marketing", idempotency_key="k1")])
    emit_now(account, [NewEvent("listAddition", type="marketing", idempotency_key="k1")])
    with pytest.raises(EventError):
        emit_now(account, [NewEvent("listAddition", type="marketing"), NewEvent("bogus", type="marketing")])
    assert sample("brevo_hooks_events_accepted_total", type="marketing") - before == 1


# /metrics on the web -----------------------------------------------------------------------


def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert response.json()["message"] == "Metrics are off: set METRICS_TOKEN."


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_metrics_need_the_bearer_token(client, settings, header):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "brevo_hooks" not in response.content.decode()


def test_a_signed_in_user_is_no_metrics_reader(owner_client, settings):
    # Metrics describe every account: a user of one of them gets no more than a stranger.
    settings.METRICS_TOKEN = TOKEN
    assert owner_client.get("/metrics").status_code == 401


def test_the_scrape_shows_counters_state_gauges_and_the_queues(client, settings, make_webhook, redis, stranger):
    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    hook = make_webhook()
    make_webhook(paused_until=now + timedelta(minutes=5))
    make_webhook(enabled=False)
    make_webhook(owner=stranger.account, enabled=False)
    make_webhook(paused_until=now - timedelta(minutes=5))  # a pause that is over
    for status, due in [
        ("pending", now - timedelta(seconds=42)),
        ("pending", now - timedelta(seconds=1)),
        ("pending", now + timedelta(hours=1)),
        ("waiting", None),
        ("sending", None),
        ("succeeded", None),
    ]:
        Delivery.objects.create(webhook=hook, event="delivered", payload={}, status=status, next_attempt_at=due)

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    assert found[("brevo_hooks_deliveries_waiting", (("state", "due"),))] == 2
    assert found[("brevo_hooks_deliveries_waiting", (("state", "later"),))] == 1
    assert found[("brevo_hooks_deliveries_waiting", (("state", "batch_window"),))] == 1
    assert found[("brevo_hooks_deliveries_waiting", (("state", "sending"),))] == 1
    assert 42 <= found[("brevo_hooks_oldest_waiting_delivery_seconds", ())] < 120
    assert found[("brevo_hooks_paused_endpoints", ())] == 1
    assert found[("brevo_hooks_disabled_webhooks", ())] == 2
    # The counters of this process, and django-rq's collector of the queues.
    text = response.content.decode()
    assert "# TYPE brevo_hooks_deliveries_total counter" in text
    assert "brevo_hooks_attempt_duration_seconds_bucket{" in text
    assert found[("rq_jobs", (("queue", "deliveries"), ("status", "queued")))] == 0


@pytest.mark.django_db
def test_the_scrape_still_answers_when_redis_does_not(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.RQ_QUEUES = {
        name: {"URL": f"redis://127.0.0.1:{free_port()}/0", "DEFAULT_TIMEOUT": 60} for name in ("tests", "deliveries")
    }
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    text = response.content.decode()
    assert "brevo_hooks_deliveries_waiting" in text and "rq_jobs{" not in text


# A worker's own port -----------------------------------------------------------------------


def test_a_worker_serves_its_counters_on_its_metrics_port(account, make_webhook, receiver, worker_process):
    port = free_port()
    make_webhook(url=receiver.url, events=("delivered",))
    worker_process(
        WORKER_METRICS_PORT=str(port),
        WORKER_METRICS_ADDRESS="127.0.0.1",
        METRICS_TOKEN=TOKEN,
        WEBHOOKS_ALLOW_PRIVATE_URLS="true",
    )
    emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(3)])
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 3, timeout=30)

    url = f"http://127.0.0.1:{port}/metrics"
    assert wait_for_answer(url).status_code == 401

    def delivered() -> float:
        text = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
        return samples(text).get(("brevo_hooks_deliveries_total", (("outcome", "delivered"),)), 0)

    # The round is recorded a moment after the rows say "succeeded".
    wait_until(lambda: delivered() == 3, timeout=10)


# gunicorn with two worker processes ------------------------------------------------------------


def counts_by_pid(directory: Path) -> dict[int, float]:
    """events accepted, per gunicorn worker process, as written to PROMETHEUS_MULTIPROC_DIR."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "brevo_hooks_events_accepted_total":
                counts[pid] = counts.get(pid, 0) + value
    return counts


def test_under_gunicorn_every_scrape_adds_up_all_web_processes_and_logs_are_json(
    transactional_db, api_key, tmp_path, redis
):
    port, metrics_dir, log_path = free_port(), tmp_path / "metrics", tmp_path / "gunicorn.log"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # an earlier run's file: removed at start
    web = start_gunicorn(port, metrics_dir, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_answer(f"{base}/healthz").status_code == 200
        assert not (metrics_dir / "counter_999999.db").exists()
        sent = post_until_two_processes_count(base, api_key, metrics_dir)
        for _ in range(6):
            scrape = requests.get(
                f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}, timeout=30
            )
            assert samples(scrape.text)[("brevo_hooks_events_accepted_total", (("type", "transactional"),))] == sent
    finally:
        web.terminate()
        web.wait(timeout=30)

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("POST /api/events" in line["message"] for line in parsed)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in parsed)
    assert os.path.isdir(metrics_dir)  # a directory given by the environment is kept


def start_gunicorn(port: int, metrics_dir: Path, log_path: Path) -> subprocess.Popen:
    """Two gunicorn web processes sharing `metrics_dir`, logging JSON to `log_path`."""
    env = process_env(
        SECRET_KEY="a-secret-for-this-test-only",
        DEBUG="false",
        ALLOW_PLAIN_HTTP="true",
        METRICS_TOKEN=TOKEN,
        LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"), "brevo_hooks.wsgi",
                "-c", "python:brevo_hooks.gunicorn_conf",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1", "--access-logfile", "-",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def post_until_two_processes_count(base: str, api_key: str, metrics_dir: Path) -> int:
    """Post events in bursts until both processes have counted some; the number of events posted.

    The second process may still be loading the app on a busy machine while the first takes
    every connection, so the bursts go on until a generous deadline, not for a fixed count.
    """
    sent, deadline = 0, time.monotonic() + 90
    while time.monotonic() < deadline:
        sent += post_events_at_once(base, api_key, 6)
        if len([pid for pid, n in counts_by_pid(metrics_dir).items() if n]) >= 2:
            return sent
    raise AssertionError("one process took every POST for 90 s")


def post_events_at_once(base: str, api_key: str, count: int) -> int:
    """`count` concurrent clients on fresh connections, so that both processes take some."""

    def post() -> None:
        requests.post(
            f"{base}/api/events",
            json={"event": "delivered", "data": {"email": "a@example.com"}},
            headers={"api-key": api_key, "Connection": "close"},
            timeout=30,
        ).raise_for_status()

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count
