"""More than one machine: web processes and workers side by side on one PostgreSQL and one Redis.

Two gunicorn processes take the events, three worker processes send them, and one worker
is SIGKILLed while its requests are in flight. Every event must arrive, and no delivery may
be in flight at two workers at once: the receiver holds each request a moment and notes
when it came and when it was answered, and the requests of one `webhook-id` never overlap.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.conftest import ROOT, process_env, stop_all, wait_for_answer, wait_until
from tests.receiver import Receiver, Reply
from tests.test_send_a_test import free_port
from webhooks.models import Attempt, Delivery
from webhooks.sweeper import LOST_ATTEMPT

EVENTS = 300
PER_REQUEST = 10
HOLD = 0.2  # seconds the receiver keeps each request
WORKER_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
    "WEBHOOKS_RETRY_SCHEDULE": ",".join(["0.5"] * 20),
    "WEBHOOKS_SWEEP_INTERVAL": "0.5",
    # A lease of 2 x 2 s + 5 s: the killed worker's deliveries come back after ~9 s.
    "WEBHOOKS_TIMEOUT": "2",
    "WEBHOOKS_PAUSE": "0.5",
    # Few requests at a time per worker, so that the run lasts long enough to kill one midway.
    "WEBHOOKS_ENDPOINT_CONCURRENCY": "4",
}


@pytest.fixture
def web_processes(transactional_db, tmp_path):
    """Start gunicorn processes (as `make web` does, one process each) on the test database."""
    started: list[subprocess.Popen] = []

    def start() -> str:
        port = free_port()
        log = open(tmp_path / f"web-{len(started)}.log", "wb")  # noqa: SIM115 (the child keeps its copy)
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"), "brevo_hooks.wsgi",
                "-c", "python:brevo_hooks.gunicorn_conf",
                "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
            ],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=process_env(SECRET_KEY="a-secret-for-this-test-only", DEBUG="false", ALLOW_PLAIN_HTTP="true"),
        )  # fmt: skip
        log.close()
        started.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    stop_all(started, timeout=20)


def post_events(bases: list[str], api_key: str) -> None:
    """EVENTS events through the web processes in turn, from a few clients at once."""
    batches = [
        [{"event": "delivered", "data": {"email": f"{n}@example.com"}} for n in range(start, start + PER_REQUEST)]
        for start in range(0, EVENTS, PER_REQUEST)
    ]

    def client(number: int) -> None:
        with requests.Session() as session:
            for index in range(number, len(batches), 4):
                answer = session.post(
                    f"{bases[index % len(bases)]}/api/events",
                    json=batches[index],
                    headers={"api-key": api_key},
                    timeout=60,
                )
                assert answer.status_code == 202, answer.text

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()


def overlaps(receiver: Receiver) -> list[str]:
    """The webhook-ids that were in flight twice at the same moment."""
    by_id = defaultdict(list)
    for received in list(receiver.requests):
        by_id[received.headers["webhook-id"]].append(received)
    found = []
    for msg_id, tries in by_id.items():
        tries.sort(key=lambda r: r.at)
        for earlier, later in itertools.pairwise(tries):
            if later.at < (earlier.answered_at or float("inf")):
                found.append(msg_id)
    return found


def test_two_web_and_three_worker_processes_deliver_everything_once_at_a_time_with_a_worker_killed(
    web_processes, worker_process, make_webhook, api_key, receiver, redis
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "Several machines share one PostgreSQL in production; SQLite is one file on one machine. "
            "Run it with DATABASE_URL=postgres://... make test."
        )
    make_webhook(url=receiver.url, events=("delivered",))
    receiver.reply = Reply(delay=HOLD)
    bases = [web_processes(), web_processes()]
    workers = [worker_process(**WORKER_ENV) for _ in range(3)]
    for base in bases:
        assert wait_for_answer(f"{base}/healthz").status_code == 200

    post_events(bases, api_key)
    receiver.wait_for(EVENTS // 5, timeout=60)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait()

    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == EVENTS, timeout=90, interval=0.5)
    unique = receiver.unique()
    assert len(unique) == EVENTS
    assert sorted(r.json()["email"] for r in unique.values()) == sorted(f"{n}@example.com" for n in range(EVENTS))
    assert {d.webhook_message_id for d in Delivery.objects.all()} == set(unique)
    # The killed worker had requests in flight: their leases ran out and others sent them.
    assert Attempt.objects.filter(error=LOST_ATTEMPT).exists()
    assert not overlaps(receiver), "a delivery was in flight at two workers at once"
