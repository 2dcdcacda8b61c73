"""`make bench` itself: it runs end to end and ends with the line the README promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the bench makes its own SQLite database; the SQLite pass of the suite runs it",
)
def test_the_bench_delivers_everything_and_prints_its_summary_line():
    env = {
        **os.environ,
        # Its own Redis database: the bench flushes it (BENCH_TEST_REDIS_URL to change it).
        "BENCH_REDIS_URL": os.environ.get("BENCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "BENCH_WORKERS": "1",
        "BENCH_EVENTS": "300",
        "BENCH_RAW_SECONDS": "0.5",
        "BENCH_LATENCY_SECONDS": "1",
        "BENCH_FAIR_BACKLOG": "300",
        "BENCH_FAIR_SECONDS": "1",
        "BENCH_FANOUT_EVENTS": "3",
        "BENCH_INGEST_EVENTS": "500",
        "BENCH_PREFILL": "200",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "bench/run.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert "300/300 delivered" in done.stdout
    # The raw limit is sampled before and after the phase, and the ratio is taken against their mean.
    phase = re.search(
        r"= (\d+) deliveries/s; .* raw (\d+) POSTs/s from 1 process\(es\) \(before (\d+), after (\d+)\); "
        r"ratio (\d+\.\d\d)",
        done.stdout,
    )
    assert phase, done.stdout
    rate, raw, before, after, ratio = (float(n) for n in phase.groups())
    assert abs(raw - (before + after) / 2) <= 1
    assert abs(ratio - rate / raw) <= 0.01
    assert "WARNING" not in done.stdout
    assert re.search(
        r"bench: fairness, 1 worker: account A's backlog of 300 events drained at \d+ deliveries/s", done.stdout
    )
    assert re.search(r"account B's 10/10 events \(10/s\): accepted -> received p50 \d+ ms, p99 \d+ ms", done.stdout)
    assert "bench: prefilled 200 finished deliveries" in done.stdout
    assert re.search(r"one event owed to 40 webhooks, 3 times, 1 worker\(s\): .* median \d+\.\d ms", done.stdout)
    assert re.search(r"bench: ingest: 500 events, 100 a request, 4 clients: \d+ events accepted/s", done.stdout)
    targets = lines[-2]
    for label in ("ratio at peak", "p50 at half of peak", "events accepted/s", "one event to 40 webhooks, median"):
        assert label in targets, targets
    assert re.fullmatch(
        r"bench: deliveries_per_s=\d+ raw_per_s=\d+ ratio=\d+\.\d\d p50_ms=\d+ p99_ms=\d+ ingest_per_s=\d+ "
        r"fanout40_ms=\d+",
        lines[-1],
    ), lines[-1]
