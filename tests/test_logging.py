"""LOG_FORMAT=json: one JSON object per line, with the ids of what the line is about."""

from __future__ import annotations

import io
import json
import logging
import signal
import threading
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.http import HttpRequest, HttpResponse

from brevo_hooks.logs import JsonFormatter, LogContextMiddleware, log_context, log_ids
from events import emit
from events.fanout import NewEvent
from tests.conftest import wait_until
from webhooks.models import Delivery
from webhooks.notices import tell_account_disabled


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, through the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_carries_the_ids_given_with_extra(json_lines):
    logging.getLogger("brevo.test").warning("webhook %s disabled", 7, extra={"webhook_id": 7, "account_id": 3})
    [line] = lines(json_lines)
    assert line["message"] == "webhook 7 disabled"
    assert (line["level"], line["logger"]) == ("WARNING", "brevo.test")
    assert (line["webhook_id"], line["account_id"]) == (7, 3)
    assert "delivery_id" not in line
    assert line["time"].endswith("+00:00")


def test_lines_inside_a_log_context_carry_its_ids_and_extra_wins(json_lines):
    log = logging.getLogger("brevo.test")
    with log_context(account_id=1, webhook_id=2):
        with log_context(delivery_id=3):
            log.info("inner")
        log.info("outer", extra={"webhook_id": 9})
    log.info("after")
    inner, outer, after = lines(json_lines)
    assert (inner["account_id"], inner["webhook_id"], inner["delivery_id"]) == (1, 2, 3)
    assert (outer["webhook_id"], "delivery_id" in outer) == (9, False)
    assert not {"account_id", "webhook_id", "delivery_id"} & after.keys()


def test_a_context_is_per_thread(json_lines):
    log = logging.getLogger("brevo.test")
    with log_context(account_id=1):
        other = threading.Thread(target=lambda: log.info("elsewhere"))
        other.start()
        other.join()
    assert "account_id" not in lines(json_lines)[0]


def test_a_traceback_stays_on_the_one_line(json_lines):
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("brevo.test").exception("it broke\nbadly")
    raw = json_lines.getvalue()
    assert raw.count("\n") == 1
    [line] = lines(json_lines)
    assert line["message"] == "it broke\nbadly"
    assert "ValueError: bad" in line["exception"]


def test_log_ids_names_a_webhook_and_its_account(make_webhook):
    webhook = make_webhook()
    assert log_ids(webhook=webhook, delivery_id=5) == {
        "webhook_id": webhook.pk,
        "account_id": webhook.account_id,
        "delivery_id": 5,
    }


def test_a_failed_notice_is_logged_with_its_webhook_and_account(json_lines, make_webhook, owner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens: the email fails
    webhook = make_webhook()
    tell_account_disabled(webhook, "410 Gone")
    assert not mail.outbox
    [line] = [line for line in lines(json_lines) if line["logger"] == "webhooks.notices"]
    assert (line["webhook_id"], line["account_id"]) == (webhook.pk, webhook.account_id)
    assert "exception" in line


def test_lines_logged_while_serving_a_signed_in_user_carry_their_account(json_lines, owner, rf):
    def view(request: HttpRequest) -> HttpResponse:
        logging.getLogger("brevo.test").info("serving")
        return HttpResponse()

    request = rf.get("/webhooks/")
    request.user = owner
    LogContextMiddleware(view)(request)
    request.user = AnonymousUser()
    LogContextMiddleware(view)(request)
    signed_in, anonymous = lines(json_lines)
    assert signed_in["account_id"] == owner.account_id
    assert "account_id" not in anonymous


def test_a_worker_with_log_format_json_writes_only_json_lines(
    account, make_webhook, receiver, worker_process, tmp_path
):
    make_webhook(url=receiver.url, events=("delivered",))
    worker = worker_process(LOG_FORMAT="json", WEBHOOKS_ALLOW_PRIVATE_URLS="true")
    emit(account, [NewEvent("delivered", data={"email": "a@example.com"})])
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1, timeout=30)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)

    raw = (tmp_path / "worker-0.log").read_text().splitlines()
    parsed = [json.loads(line) for line in raw if line.strip()]
    assert any(line["logger"].startswith("rq.") for line in parsed)
    assert any(line["message"].startswith("round of 1") for line in parsed)
