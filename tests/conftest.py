"""The test world: three people (the owner, a teammate, a stranger from another
account), a real Redis, a real HTTP receiver and real RQ workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import django_rq
import pytest
import requests
from django.db import connection, connections
from django.test import Client
from rq.worker import SimpleWorker

from accounts.models import Account, ApiKey, User
from tests.receiver import Receiver
from webhooks.models import Webhook

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Connections closed at the end of each request, as CONN_MAX_AGE=0 does.

    The live server answers the SDK tests on keep-alive connections, each in a thread that
    outlives its test; with persistent connections those threads kept PostgreSQL sessions
    open, and the test database could not be dropped at the end.
    """
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # PBKDF2 is slow on purpose; the tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_breaker_windows() -> Iterator[None]:
    """Each test's webhooks start with no recent attempts (row ids are reused between tests)."""
    from webhooks.sending import breaker

    breaker._recent.clear()
    yield
    breaker._recent.clear()


@pytest.fixture(autouse=True)
def english_again_after_each_test() -> Iterator[None]:
    """No test inherits the language of the last page another one asked for.

    LocaleMiddleware activates the request's language in the test's own thread and leaves it
    active: after an Italian page, the next test's engine sentences came out in Italian.
    """
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def account(db) -> Account:
    return Account.objects.create(name="Acme")


@pytest.fixture
def owner(account) -> User:
    return User.objects.create_user("owner@acme.test", PASSWORD, account=account)


@pytest.fixture
def teammate(account) -> User:
    return User.objects.create_user("teammate@acme.test", PASSWORD, account=account)


@pytest.fixture
def stranger(db) -> User:
    other = Account.objects.create(name="Globex")
    return User.objects.create_user("stranger@globex.test", PASSWORD, account=other)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return logged_in(owner)


@pytest.fixture
def teammate_client(teammate) -> Client:
    return logged_in(teammate)


@pytest.fixture
def stranger_client(stranger) -> Client:
    return logged_in(stranger)


@pytest.fixture
def api_key(account) -> str:
    _, raw = ApiKey.create_for(account, "Tests")
    return raw


@pytest.fixture
def make_webhook(account) -> Callable[..., Webhook]:
    def make(
        url: str = "https://example.com/hook",
        type: str = "transactional",
        events: tuple[str, ...] = ("delivered", "hardBounce"),
        owner: Account | None = None,
        **fields: object,
    ) -> Webhook:
        webhook = Webhook.objects.create(account=owner or account, url=url, type=type, **fields)
        webhook.set_events(events)
        return webhook

    return make


@pytest.fixture
def emit_now(django_capture_on_commit_callbacks) -> Callable[..., list]:
    """`events.emit`, with its on-commit enqueueing run as if the transaction had committed."""
    from events import emit

    def run(account: Account, events: list) -> list:
        with django_capture_on_commit_callbacks(execute=True):
            return emit(account, events)

    return run


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def redis() -> Iterator[object]:
    """The real Redis of REDIS_URL (a database of its own under `make test`), emptied."""
    conn = django_rq.get_connection("tests")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def run_worker(redis) -> Callable[[], None]:
    """Run a real RQ worker in this process until the queues are empty (burst mode)."""

    def run() -> None:
        queues = [django_rq.get_queue(name) for name in ("tests", "deliveries")]
        SimpleWorker(queues, connection=redis).work(burst=True, logging_level="WARNING")

    return run


def database_url() -> str:
    """DATABASE_URL of the test database, for processes started by the tests."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@pytest.fixture
def worker_process(transactional_db, redis, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real worker processes (`manage.py rqworker`, as `make worker`) on the test database.

    Their output goes to worker-N.log in the test's tmp_path: a pipe nobody reads would
    fill up and stall a busy worker.
    """
    started: list[subprocess.Popen] = []

    def start(**env: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rqworker",
                "tests",
                "deliveries",
                "--worker-class",
                "webhooks.worker.DeliveryWorker",
            ],
            cwd=ROOT,
            env=process_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own copy
        started.append(proc)
        return proc

    yield start
    stop_all(started)


def stop_all(procs: list[subprocess.Popen], timeout: float = 10) -> None:
    """SIGTERM to every process at once, then wait for each; SIGKILL one that outlives `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def record_attempt(delivery, number: int = 1, status: int | None = None, error: str = "", **fields):
    """An attempt of `delivery` as history, counted in the hourly counts as the engine counts it.

    For pages that read the history; the tests of the engine itself send real requests.
    """
    from webhooks import sql
    from webhooks.models import Attempt

    attempt = Attempt.objects.create(
        delivery=delivery,
        number=number,
        request_url=fields.pop("request_url", delivery.webhook.url),
        request_body=fields.pop("request_body", "{}"),
        response_status=status,
        error=error,
        **fields,
    )
    if not delivery.is_test and attempt.is_complete:
        hour = attempt.started_at.replace(minute=0, second=0, microsecond=0)
        ok = attempt.is_success
        sql.count_hours([(delivery.webhook_id, hour, int(ok), int(not ok))])
    return attempt


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_for_answer(url: str, timeout: float = 60.0, **kwargs: object) -> requests.Response:
    """The first answer of `url`, whatever its status, asking again while the server is not up yet.

    A process still loading the app on a busy machine accepts the connection and answers late:
    each try waits 10 s, and the whole for up to `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=10, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def no_private_urls(settings) -> None:
    """The production SSRF rules, which `make test` lifts for the 127.0.0.1 receivers."""
    from webhooks import outbound

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    # Pooled keep-alive connections were checked under the old rule; start afresh.
    outbound.session().close()
    yield
    outbound.session().close()


@pytest.fixture
def api_client(api_key) -> Client:
    """A Django test client that sends the owner account's API key."""
    return Client(HTTP_API_KEY=api_key)


@pytest.fixture
def stranger_api_client(stranger) -> Client:
    _, raw = ApiKey.create_for(stranger.account, "Stranger's key")
    return Client(HTTP_API_KEY=raw)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch):
    """Debian's headless Chromium through Playwright; CI installs it, a laptop may skip."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Playwright runs the test in a context of its own, where the test's ORM calls opened
        # a database connection that Django's teardown does not see; close it here.
        connections.close_all()
