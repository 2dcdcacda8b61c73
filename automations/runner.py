"""Runs: started by events inside emit()'s transaction, moved along by the workers' poller.

A run goes through its automation's steps as far as it can at once: each Call a webhook
step becomes a Delivery of the webhook engine (signed, retried, logged, sent by the same
workers), and a Wait sets the run's `due_at` and stops there. Every worker polls for due
runs about twice a second (`poll_forever`), claims them with a conditional UPDATE and moves
them on, in one transaction with the deliveries it makes. Runs live in the database only, so
restarts, killed workers and a wiped Redis lose nothing; a paused automation's runs are not
due until it is active again.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.utils import timezone

import catalog
from accounts.models import Account
from automations import contacts as contact_book
from automations.contacts import Known, storable
from automations.models import Automation, Contact, Run, Step
from automations.triggers import matches
from brevo_hooks.bulk_insert import insert_returning_ids
from events.models import Event
from webhooks.jobs import enqueue_deliveries
from webhooks.models import AUTOMATION_EVENT, Delivery

logger = logging.getLogger(__name__)

# Runs moved per transaction of the poller; the next round takes the rest at once.
BATCH = 500


def on_events(account: Account, events: list[Event], now: datetime) -> None:
    """Keep the contacts that `events` name and start the runs they trigger.

    Called by emit() inside its transaction, with the events it has just stored, in order:
    an accepted event never loses its runs.
    """
    named = [(event, email) for event in events if (email := contact_book.contact_email(event.data))]
    if not named:
        return  # no contact, so nothing to keep and nobody to start
    book = contact_book.Book(account)
    automations = Automation.objects.triggered_by(account, {(event.type, event.name) for event, _ in named})
    starts: list[tuple[Automation, str, Event]] = []
    for event, email in named:
        key = (event.type, event.name)
        book.note(key, email, event.data)
        if key == contact_book.DELETED:
            # A contact deleted later in the batch never entered.
            starts = [start for start in starts if start[1] != email]
            continue
        starts += [(a, email, event) for a in automations.get(key, ()) if matches(a, event.data)]
    kept = book.save(now, {email for _, email, _ in starts})
    start([(automation, kept[email], event) for automation, email, event in starts if email in kept], now)


@dataclass
class NewRun:
    """A run being started: the Run row to insert, without the cost of a model instance per event."""

    automation: Automation
    contact: Known
    event: Event
    due_at: datetime | None
    started_at: datetime
    position: int = 0
    status: str = Run.Status.ACTIVE
    finished_at: datetime | None = None
    stop_reason: str = ""
    pk: int | None = None

    @property
    def event_id(self) -> int:
        return self.event.pk


def start(starts: list[tuple[Automation, Known, Event]], now: datetime) -> list[NewRun]:
    """Start a run for each (automation, contact, event) that may enter, and take it as far as it goes now."""
    busy = active_runs({a.pk for a, _, _ in starts if not a.reentry}, {c.pk for a, c, _ in starts if not a.reentry})
    runs: list[NewRun] = []
    for automation, contact, event in starts:
        if not automation.reentry:
            if (automation.pk, contact.pk) in busy:
                continue  # already inside, and may not enter again
            busy.add((automation.pk, contact.pk))
        runs.append(NewRun(automation, contact, event, due_at=now, started_at=now))
    if not runs:
        return []
    steps = {run.automation.pk: list(run.automation.steps.all()) for run in runs}
    calls = [(run, step) for run in runs for step in walk(run, steps[run.automation.pk], now)]
    insert_runs(runs)
    send(calls, now)
    return runs


def active_runs(automation_ids: set[int], contact_ids: set[int]) -> set[tuple[int, int]]:
    """(automation, contact) pairs among these that have a run in progress."""
    if not automation_ids:
        return set()
    # By contact only, so that the database looks up each contact's few runs rather than every run
    # of the automation; unordered.
    rows = Run.objects.filter(contact_id__in=contact_ids, status=Run.Status.ACTIVE).order_by()
    return {(a, c) for a, c in rows.values_list("automation_id", "contact_id") if a in automation_ids}


def walk(run: Run | NewRun, steps: list[Step], now: datetime) -> list[Step]:
    """Move `run` along `steps` up to the next Wait or the end; return the Call a webhook steps it passed."""
    calls = []
    while run.position < len(steps):
        step = steps[run.position]
        run.position += 1
        if step.kind == Step.Kind.WAIT:
            run.due_at = now + timedelta(seconds=step.wait_seconds or 0)
            return calls
        if step.webhook_id is not None:
            calls.append(step)
    run.status, run.due_at, run.finished_at = Run.Status.DONE, None, now
    return calls


def call_body(step: Step, contact: Contact | Known, event_payload: Any) -> dict[str, Any]:
    """What a Call a webhook step POSTs: the documented JSON (README, "Automations")."""
    body: dict[str, Any] = {
        "contact_id": contact.brevo_id,
        "email": contact.email,
        "step_id": step.pk,
        "workflow_id": step.automation_id,
    }
    if step.include_contact:
        body["attributes"] = contact.attributes or {}
    if step.include_event:
        body["event"] = event_payload
    return body


class Payloads:
    """Trigger events' Brevo payloads, built once each: exactly what a subscribed webhook receives."""

    def __init__(self) -> None:
        self.built: dict[int, Any] = {}

    def get(self, event: Event | None, time_zone: str) -> Any:
        if event is None:
            return None
        if event.pk not in self.built:
            kind = catalog.get(event.type, event.name)
            self.built[event.pk] = kind.build(event.data, event.occurred_at, time_zone) if kind else dict(event.data)
        return self.built[event.pk]


def send(calls: list[tuple[Run, Step]] | list[tuple[NewRun, Step]], now: datetime) -> list[int]:
    """Store a delivery for each (run, step) and hand them to the workers when the transaction commits."""
    if not calls:
        return []
    payloads = Payloads()
    owed = []
    for run, step in calls:
        time_zone = run.automation.account.time_zone
        payload = payloads.get(run.event, time_zone) if step.include_event else None
        owed.append((step.webhook, run.event_id, AUTOMATION_EVENT, call_body(step, run.contact, payload)))
    try:
        ids = Delivery.objects.create_owed(owed, now)
    except UnicodeEncodeError:
        # A trigger event's data with a lone surrogate cannot be sent as UTF-8: send it replaced,
        # rather than fail the batch (and every later round of the poller) on it.
        ids = Delivery.objects.create_owed([(*row[:3], storable(row[3])) for row in owed], now)
    transaction.on_commit(lambda: enqueue_deliveries(ids))
    return ids


RUN_COLUMNS = (
    "automation_id", "contact_id", "email", "event_id", "position", "status", "due_at", "exclusive",
    "stop_reason", "started_at", "finished_at",
)  # fmt: skip


def insert_runs(runs: list[NewRun]) -> None:
    """Insert `runs` and set their ids: one multi-row INSERT, as emit() does for events."""
    connection = connections[Run.objects.db]
    adapted: dict[datetime | None, Any] = {}

    def when(moment: datetime | None) -> Any:
        # Most runs of a batch share their moments: adapt each once.
        if moment not in adapted:
            adapted[moment] = connection.ops.adapt_datetimefield_value(moment)
        return adapted[moment]

    rows = [
        (
            run.automation.pk,
            run.contact.pk,
            run.contact.email,
            run.event.pk,
            run.position,
            run.status,
            when(run.due_at),
            not run.automation.reentry,
            run.stop_reason,
            when(run.started_at),
            when(run.finished_at),
        )
        for run in runs
    ]
    for run, pk in zip(runs, insert_returning_ids(Run, RUN_COLUMNS, rows), strict=True):
        run.pk = pk


def advance_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Move the runs that are due along their steps; return how many moved.

    Several workers poll at once: each run is claimed with a conditional UPDATE (its status,
    position and due time as read), in the transaction that stores its deliveries, so a run
    moves once and a killed worker leaves it due for the next poll.
    """
    now = now or timezone.now()
    # A plain read first: SQLite would take its write lock for every empty round.
    if not Run.objects.due(now).exists():
        return 0
    with transaction.atomic():
        runs = list(
            Run.objects.due(now)
            # PostgreSQL: pollers of other workers skip the rows this one holds.
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("automation__account", "contact", "event")[:limit]
        )
        steps = steps_of({run.automation_id for run in runs})
        calls: list[tuple[Run, Step]] = []
        moved = 0
        for run in runs:
            was = (run.position, run.due_at)
            if run.contact is None:
                # Its contact was deleted: it should have stopped then; stop it now.
                run.status, run.due_at, run.finished_at = Run.Status.STOPPED, None, now
                run.stop_reason = Run.StopReason.CONTACT_DELETED
                passed = []
            else:
                passed = walk(run, steps[run.automation_id], now)
            claimed = Run.objects.filter(pk=run.pk, status=Run.Status.ACTIVE, position=was[0], due_at=was[1]).update(
                position=run.position,
                status=run.status,
                due_at=run.due_at,
                finished_at=run.finished_at,
                stop_reason=run.stop_reason,
            )
            if claimed:
                moved += 1
                calls += [(run, step) for step in passed]
        send(calls, now)
    return moved


def steps_of(automation_ids: set[int]) -> Mapping[int, list[Step]]:
    steps: dict[int, list[Step]] = defaultdict(list)
    for step in (
        Step.objects.filter(automation_id__in=automation_ids).select_related("webhook").order_by("position", "pk")
    ):
        steps[step.automation_id].append(step)
    return steps


def poll_forever(stop: threading.Event) -> None:
    """Advance due runs every AUTOMATIONS_POLL_INTERVAL seconds until `stop` is set (a worker's thread)."""
    while not stop.is_set():
        close_old_connections()
        moved = 0
        try:
            moved = advance_due()
        except Exception:
            # A round that fails (database restarting, say) is tried again next time.
            logger.exception("advancing automation runs failed")
            connection.close()
        if moved < BATCH:
            stop.wait(settings.AUTOMATIONS_POLL_INTERVAL)


def start_poller(**kwargs: object) -> threading.Thread:
    """Start the poller thread of a worker (connected to webhooks.signals.worker_started)."""
    thread = threading.Thread(target=poll_forever, args=(threading.Event(),), name="automations", daemon=True)
    thread.start()
    return thread
