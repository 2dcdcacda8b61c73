"""/healthz and /readyz: what a load balancer asks before sending a process traffic."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, process_env
from tests.test_send_a_test import free_port


def test_healthz_answers_200_while_the_process_runs(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_answers_200_when_the_database_and_redis_answer(client, redis):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_does_not_answer(client, settings):
    # Nothing listens there: the shared Redis is never stopped for this.
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("ConnectionError")
    assert "refused" in body["checks"]["redis"].lower()


def test_readyz_answers_503_naming_the_database_when_it_cannot_be_reached(tmp_path):
    # A process whose database is a file in a directory that does not exist: it cannot open it.
    script = (
        "import django, json; django.setup();"
        "from django.test import Client; r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = process_env(DJANGO_SETTINGS_MODULE="brevo_hooks.settings", ALLOWED_HOSTS="testserver")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["checks"]["redis"] == "ok"
    assert answer["body"]["checks"]["database"].startswith("OperationalError")


def test_the_probes_are_not_redirected_to_https(client, settings):
    # Load balancers and Prometheus often talk plain HTTP to the process itself.
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/webhooks/").status_code == 301


def test_the_probes_only_answer_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
