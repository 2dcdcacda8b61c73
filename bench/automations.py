"""`make bench-automations`: what an active automation with one Call a webhook step costs per event,
next to what a webhook delivery costs.

The same processes as `make bench` (bench/run.py, whose helpers it uses): a fast receiver,
gunicorn and DeliveryWorker processes on a fresh database. Two phases post the same events
through /api/events:
  1. "webhook": a webhook subscribed to `delivered`, as `make bench` measures it;
  2. "automation": that webhook disabled, and an active automation triggered by `delivered`
     whose one step is a Call a webhook with "Include details of the trigger event" (so the
     receiver finds the event's timestamps in the body, as it does in the webhook's).
After a warm-up, for each it prints deliveries per second, CPU time per event of each kind of process, and the
latency at a fixed rate (half of the webhook's peak); then one summary line.

Environment: those of bench/run.py (BENCH_DATABASE_URL, BENCH_REDIS_URL, which is flushed), plus
BENCH_WORKERS (one count, default 2) and BENCH_EVENTS (default 6000).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402 (the project root goes on the path first)
    API_KEY,
    LATENCY_SECONDS,
    PY,
    Processes,
    bench_env,
    free_port,
    log,
    percentile,
    post_at_rate,
    post_events,
    start_services,
    start_workers,
    wait_delivered,
)

WARM_UP_EVENTS = 1000
SETUP = """
from accounts.models import Account, ApiKey
from webhooks.models import Webhook
a = Account.objects.create(name='Bench')
ApiKey.create_for(a, 'bench', raw={key!r})
w = Webhook.objects.create(account=a, url={url!r})
w.set_events(['delivered'])
"""
# Phase 2: the webhook owes nothing more; the automation makes one call per event instead.
TO_AUTOMATION = """
from accounts.models import Account
from automations import steps
from automations.models import Automation
from webhooks.models import Webhook
Webhook.objects.filter(source='webhooks').update(enabled=False)
a = Account.objects.get(name='Bench')
automation = Automation(
    account=a, name='Bench', trigger_type='transactional', trigger_event='delivered', status='active'
)
steps.save(automation, [steps.StepSpec(kind='webhook', url={url!r}, include_event=True)])
"""


def shell(code: str, env: dict[str, str]) -> None:
    subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


def measure(procs: Processes, name: str, env: dict[str, str], api: str, receiver: str, rate: float | None) -> dict:
    """Post BENCH_EVENTS events as fast as the API takes them, then events at `rate` (by default half of
    the rate just measured) for the latency."""
    workers_count = int(os.environ.get("BENCH_WORKERS", "2"))
    events = int(os.environ.get("BENCH_EVENTS", "6000"))
    is_postgres = env["DATABASE_URL"].startswith("postgres")
    workers = start_workers(procs, f"worker-{name}", workers_count, env)
    requests.post(f"{receiver}/reset", timeout=10)
    receiver_proc, web = procs.started[:2]
    before = [procs.cpu_seconds(p) for p in (web, receiver_proc, *workers)]
    postgres_before = procs.postgres_cpu_seconds()
    started = time.time()
    post_events(api, events)
    stats = wait_delivered(receiver, events, timeout=120)
    elapsed = stats["last"] - started
    cpu = [procs.cpu_seconds(p) - b for p, b in zip((web, receiver_proc, *workers), before, strict=True)]
    delivered = max(1, stats["unique"])
    result = {
        "rate": stats["unique"] / elapsed if elapsed > 0 else 0.0,
        "delivered": stats["unique"],
        "web_us": cpu[0] / delivered * 1e6,
        "workers_us": sum(cpu[2:]) / delivered * 1e6,
        "postgres_us": (procs.postgres_cpu_seconds() - postgres_before) / delivered * 1e6 if is_postgres else 0.0,
    }
    log(
        f"bench-automations: {name}: {stats['unique']}/{events} delivered in {elapsed:.2f} s "
        f"= {result['rate']:.0f}/s with {workers_count} worker(s); CPU µs per event: "
        f"web {result['web_us']:.0f}, workers {result['workers_us']:.0f}"
        + (f", PostgreSQL server {result['postgres_us']:.0f}" if is_postgres else "")
    )
    if stats["unique"] < events:
        log(f"bench-automations: WARNING only {stats['unique']} of {events} arrived within the time limit")
    rate = rate or result["rate"] / 2
    if rate:
        requests.post(f"{receiver}/reset", timeout=10)
        sent = post_at_rate(api, rate, LATENCY_SECONDS, [])
        latency = wait_delivered(receiver, sent, timeout=60)
        result["p50"] = percentile(latency["accepted_ms"], 50)
        result["p99"] = percentile(latency["accepted_ms"], 99)
        log(
            f"bench-automations: {name}: at {rate:.0f} events/s for {LATENCY_SECONDS:g} s, {latency['unique']}/{sent} "
            f"delivered; event accepted -> received p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms"
        )
    procs.stop(workers)
    return result


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="brevo-hooks-bench-automations-"))
    procs = Processes(tmp)
    env = bench_env(tmp)
    log(
        f"bench-automations: logs and database in {tmp}; {os.cpu_count()} cores; "
        f"database {env['DATABASE_URL'].split(':')[0]}"
    )
    try:
        receiver_port, web_port = free_port(), free_port()
        receiver = f"http://127.0.0.1:{receiver_port}"
        api = f"http://127.0.0.1:{web_port}/api/events"
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        shell(SETUP.format(key=API_KEY, url=receiver + "/hook"), env)
        start_services(procs, env, receiver_port, web_port)

        # A fresh database, fresh processes and the first contacts cost more: warm up before measuring.
        warm = start_workers(procs, "worker-warm-up", 1, env)
        post_events(api, WARM_UP_EVENTS)
        wait_delivered(receiver, WARM_UP_EVENTS, timeout=120)
        procs.stop(warm)
        # The latency of both at half of the webhook's peak.
        webhook = measure(procs, "webhook", env, api, receiver, rate=None)
        shell(TO_AUTOMATION.format(url=receiver + "/hook"), env)
        automation = measure(procs, "automation", env, api, receiver, rate=webhook["rate"] / 2)

        def cpu(result: dict) -> float:
            return result["web_us"] + result["workers_us"] + result["postgres_us"]

        log(
            "bench-automations: automation / webhook: "
            f"deliveries per second {automation['rate'] / webhook['rate']:.2f}, "
            f"CPU per event {cpu(automation) / cpu(webhook):.2f} "
            f"(web {automation['web_us'] / webhook['web_us']:.2f}, "
            f"workers {automation['workers_us'] / webhook['workers_us']:.2f})"
        )
        print(
            f"bench-automations: webhook_per_s={webhook['rate']:.0f} automation_per_s={automation['rate']:.0f} "
            f"webhook_cpu_us={cpu(webhook):.0f} automation_cpu_us={cpu(automation):.0f} "
            f"cpu_ratio={cpu(automation) / cpu(webhook):.2f} "
            f"p50_ms={webhook['p50']:.0f}/{automation['p50']:.0f}",
            flush=True,
        )
    finally:
        procs.stop_all()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
