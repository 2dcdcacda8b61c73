"""The worker that `make worker` and `make run` start sweeps by itself; settings fail clearly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from brevo_hooks.env import env_seconds_list
from tests.conftest import ROOT


@pytest.mark.parametrize("path", ["Makefile", "bin/run"])
def test_make_worker_and_make_run_start_the_worker_with_the_sweeper(path):
    assert "--worker-class webhooks.worker.DeliveryWorker" in (ROOT / path).read_text()


def test_the_retry_schedule_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE", "1, 2.5,60")
    assert env_seconds_list("WEBHOOKS_RETRY_SCHEDULE", "5") == [1.0, 2.5, 60.0]


@pytest.mark.parametrize("raw", ["5,soon", "5,,6", "0,5", "-1"])
def test_a_bad_retry_schedule_fails_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE", raw)
    with pytest.raises(ImproperlyConfigured, match="WEBHOOKS_RETRY_SCHEDULE"):
        env_seconds_list("WEBHOOKS_RETRY_SCHEDULE", "5")


def test_a_bad_sweep_interval_stops_start_up(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "WEBHOOKS_SWEEP_INTERVAL": "often"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "WEBHOOKS_SWEEP_INTERVAL must be a number of seconds, not 'often'." in result.stderr
