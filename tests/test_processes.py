"""The README's commands as processes: `make run`, `make web`, `make worker`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import ROOT, database_url
from tests.test_send_a_test import free_port

# Every process group a test starts here; whatever a failed test leaves running is killed after
# it, or a stray worker would take the next tests' jobs from their Redis database.
STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    yield
    for proc in STARTED:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    STARTED.clear()


def start(args: list[str], **env: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    STARTED.append(proc)
    return proc


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 90) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    proc.kill()
    raise AssertionError(f"{marker!r} not printed; output was:\n{''.join(seen)}")


def wait_for_http(url: str, timeout: float = 60) -> requests.Response:
    """The first answer of a server that is starting: on a busy machine its first pages are slow.

    A refused connection (not listening yet) and a read timeout (listening, still busy
    starting its workers) both mean "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> str:
    """SIGTERM the process (not its group), expect the whole tree to stop; return the rest of the output.

    make forwards SIGTERM to the command it runs, waits for it, then dies of the signal itself.
    """
    proc.send_signal(signal.SIGTERM)
    try:
        rest, _ = proc.communicate(timeout=20)
    finally:
        # Nothing of the process group may be left behind.
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            pass
        else:
            time.sleep(1)
            leftovers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout
            os.killpg(proc.pid, signal.SIGKILL) if leftovers else None
            assert not leftovers, f"processes left running after SIGTERM: {leftovers}"
    return rest


# Logged once the worker has installed its signal handlers (rq logs "Listening on" just before).
WORKER_READY = "cleaning registries for queue: deliveries"


# Repeated: plain rq could be caught mid-pipeline by the signal and hang about one time in three.
@pytest.mark.parametrize("run", range(3))
def test_make_worker_runs_in_the_foreground_and_stops_on_sigterm(transactional_db, redis, run):
    # The worker's sweeper reads the database from its first second: give it the test one.
    proc = start(["make", "-s", "worker"], DATABASE_URL=database_url())
    read_until(proc, WORKER_READY)
    output = stop(proc)
    assert "warm shut down requested" in output and "Traceback" not in output


def test_make_web_serves_on_port_and_stops_on_sigterm(tmp_path):
    port = free_port()
    proc = start(
        ["make", "-s", "web"],
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'web.sqlite3'}",
        SECRET_KEY="a-secret-for-this-test-only",
        DEBUG="false",
        WEB_CONCURRENCY="1",
    )
    response = wait_for_http(f"http://127.0.0.1:{port}/login/")
    assert response.status_code == 200 and "Log in" in response.text
    css = requests.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=30)
    assert css.status_code == 200 and "--green" in css.text
    output = stop(proc)
    assert "Shutting down: Master" in output and "Traceback" not in output


def test_make_run_migrates_prints_the_demo_login_and_serves_with_a_worker(tmp_path, redis):
    port = free_port()
    proc = start(["make", "-s", "run"], PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}")
    try:
        output = read_until(proc, "Log in as")
        assert "Checking Redis, migrating the database" in output  # says what it does while it works
        assert "demo@example.com / demo-password" in output
        rest = read_until(proc, "Press Ctrl-C to stop")
        assert "API key:  xkeysib-demo-" in rest
        assert "operator@example.com / operator-password" in rest  # the dashboard it advertises can be opened
        session = requests.Session()
        login = wait_for_http(f"http://127.0.0.1:{port}/login/")
        token = session.get(login.url, timeout=30).cookies["csrftoken"]
        page = session.post(
            login.url,
            {"username": "demo@example.com", "password": "demo-password", "csrfmiddlewaretoken": token},
            headers={"Referer": login.url},
            timeout=30,
        )
        assert page.status_code == 200 and "Add a new webhook" in page.text
        favicon = requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=30, allow_redirects=False)
        assert favicon.status_code == 301 and favicon.headers["Location"].endswith("favicon.svg")  # no "Not Found" log
        operator = requests.Session()
        token = operator.get(f"http://127.0.0.1:{port}/admin/login/", timeout=30).cookies["csrftoken"]
        dashboard = operator.post(
            f"http://127.0.0.1:{port}/admin/login/?next=/admin/django_rq/dashboard/",
            {"username": "operator@example.com", "password": "operator-password", "csrfmiddlewaretoken": token},
            headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"},
            timeout=30,
        )
        assert dashboard.status_code == 200 and "RQ" in dashboard.text and "/admin/login/" not in dashboard.url
        read_until(proc, WORKER_READY)
        output = stop(proc)
        assert "warm shut down requested" in output and "Shutting down: Master" in output
    finally:
        if proc.poll() is None:  # a failed assertion must not leave the server running
            stop(proc)


def test_the_install_says_what_it_does_and_gunicorn_stops_gracefully_within_a_bound(tmp_path):
    # What `make` would run, without running it: a fresh checkout's install, and the web process.
    install = subprocess.run(
        ["make", "-n", "install", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "Installing the Python packages of requirements.txt" in install.stdout  # not a silent minute
    web = subprocess.run(["make", "-n", "web"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "gunicorn brevo_hooks.wsgi" in web.stdout and "--graceful-timeout 20" in web.stdout
    # `make run` stops its gunicorn within seconds on Ctrl-C (its test measures the stop itself).
    assert "--graceful-timeout 5" in (ROOT / "bin" / "run").read_text()


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


NO_REDIS = (
    "CommandError: Redis is not reachable at redis://127.0.0.1:1/0 (ConnectionError). "
    "Start it (redis-server --daemonize yes) or set REDIS_URL to a running Redis."
)


def test_without_redis_the_check_says_so_in_one_line():
    proc = manage("check_redis", env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [NO_REDIS]


def test_without_redis_make_run_stops_with_that_line_and_no_traceback(tmp_path):
    proc = start(["make", "-s", "run"], REDIS_URL="redis://127.0.0.1:1/0", PORT=str(free_port()))
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert NO_REDIS in output.splitlines() and "Traceback" not in output


def test_a_bad_setting_stops_start_up_naming_the_variable():
    proc = manage("check", env={**os.environ, "WEBHOOKS_TIMEOUT": "soon"})
    assert proc.returncode != 0
    assert "WEBHOOKS_TIMEOUT must be a number of seconds, not 'soon'." in proc.stderr


def test_production_needs_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    proc = manage("check", env={**env, "DEBUG": "false"})
    assert proc.returncode != 0 and "SECRET_KEY is not set" in proc.stderr
