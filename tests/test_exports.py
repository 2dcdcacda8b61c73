"""Exports of the delivery history: bounded dates, a job that always ends and tells notifyURL,
cells a spreadsheet cannot run, and a download link that stays out of the logs."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from tests.conftest import ROOT, process_env, wait_until
from webhooks import exports, jobs
from webhooks.models import Delivery, Export

JSON = "application/json"


def export_body(**fields: object) -> str:
    return json.dumps({"type": "transactional", "event": "allEvents", "notifyURL": "https://e.com/n", **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"startDate": "2026-01-01", "endDate": "9999-12-31"}, "endDate"),
        ({"startDate": "1969-12-31", "endDate": "2026-01-01"}, "startDate"),
        ({"startDate": "0001-01-01", "endDate": "0001-01-01"}, "startDate"),
        ({"startDate": "3000-01-01", "endDate": "3000-01-02"}, "startDate"),
    ],
)
def test_export_dates_are_bounded_in_the_api(api_client, redis, fields, field):
    response = api_client.post("/v3/webhooks/export", export_body(**fields), content_type=JSON)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}: ")
    assert not Export.objects.exists()


def test_the_widest_export_range_is_accepted(api_client, redis):
    body = export_body(startDate="1970-01-01", endDate="2999-12-31")
    assert api_client.post("/v3/webhooks/export", body, content_type=JSON).status_code == 202


def test_an_export_job_that_fails_marks_the_export_failed_and_tells_notify_url(account, receiver, make_webhook):
    # An export stored before the dates were bounded: building it overflows.
    Delivery.objects.create(webhook=make_webhook(), event="delivered", payload={"email": "a@x.test"})
    export = Export.objects.create(
        account=account,
        params={"type": "transactional", "event": "allEvents", "startDate": "9999-12-31", "endDate": "9999-12-31"},
        notify_url=receiver.url + "/notify",
        base_url="http://testserver/",
    )
    assert jobs.run_export(export.pk) == "failed, notified"
    export.refresh_from_db()
    assert export.status == "failed" and export.error == "The export could not be built."
    assert (export.csv, export.token_hash) == ("", "")
    [notice] = receiver.wait_for(1)
    assert notice.json() == {"processId": export.pk, "status": "failed", "message": "The export could not be built."}
    assert jobs.run_export(export.pk) == "skipped"  # told once


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value):
    assert exports.cell(value) == "'" + value


@pytest.mark.parametrize("value", ["jane@example.com", "1-2", " =1", "", None])
def test_other_csv_cells_are_left_alone(value):
    assert exports.cell(value) == ("" if value is None else value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_the_download_token_stays_out_of_the_access_log_of_make_web(account, tmp_path):
    export = Export.objects.create(account=account, params={}, notify_url="https://e.com/n", base_url="/")
    token = export.new_token()
    export.status, export.csv, export.expires_at = "done", "a,b\n", timezone.now() + timedelta(days=1)
    export.save()
    port, log = free_port(), tmp_path / "access.log"
    # As `make web` starts it, with its configuration.
    web = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "brevo_hooks.wsgi",
            "-c",
            "python:brevo_hooks.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/exports/{token}.csv"
        response = wait_until(lambda: try_get(url), timeout=60)
        assert response.status_code == 200 and response.text == "a,b\n"
        wait_until(lambda: log.exists() and "/exports/" in log.read_text(), timeout=30)
    finally:
        web.terminate()
        web.wait(timeout=30)
    text = log.read_text()
    assert token not in text
    assert "GET /exports/[redacted].csv" in text


def try_get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


def test_django_log_lines_do_not_hold_the_token_either(client, db):
    [console] = [handler for handler in logging.getLogger().handlers if handler.get_name() == "console"]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        client.get("/exports/s3cr3t-t0ken.csv")  # unknown: Django logs "Not Found: ..." through settings.LOGGING
    finally:
        console.setStream(previous)
    assert "s3cr3t-t0ken" not in stream.getvalue()
    assert "Not Found: /exports/[redacted].csv" in stream.getvalue()
