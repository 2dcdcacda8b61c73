"""The deployment files work: the Procfile's processes run, and the systemd units are valid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, process_env, wait_for_answer
from tests.test_processes import WORKER_READY, read_until
from tests.test_send_a_test import free_port

UNITS = ROOT / "deploy" / "systemd"


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            kind, _, command = line.partition(":")
            entries[kind.strip()] = command.strip()
    return entries


def run(command: str, **env: str) -> subprocess.Popen:
    """A Procfile command as a platform runs it: a shell, the environment, the tools on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=ROOT,
        env=process_env(PATH=path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_the_procfile_names_release_web_and_worker():
    assert set(procfile()) == {"release", "web", "worker"}


def test_the_procfiles_web_and_worker_run_and_stop_on_sigterm(transactional_db, redis):
    entries = procfile()
    port = free_port()
    web = run(entries["web"], PORT=str(port), WEB_CONCURRENCY="1", SECRET_KEY="a-secret-for-this-test-only")
    worker = run(entries["worker"])
    try:
        assert wait_for_answer(f"http://127.0.0.1:{port}/healthz").status_code == 200
        read_until(worker, WORKER_READY)
    finally:
        stop(web)
        stop(worker)
    assert web.returncode == 0 and worker.returncode == 0


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed (Debian: systemd)")
def test_the_systemd_units_are_valid(tmp_path):
    # As installed, with the checkout where the units expect /opt/brevo-hooks; the template
    # as one of its instances.
    for unit in UNITS.glob("*.service"):
        name = unit.name.replace("@.service", "@9101.service")
        (tmp_path / name).write_text(unit.read_text().replace("/opt/brevo-hooks", str(ROOT)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(path) for path in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (done.stdout + done.stderr).strip()
