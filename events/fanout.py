"""`emit()`: store events and the deliveries they owe, in one transaction.

The API, the "Simulate an event" form and the `emit_event` command all come through
here. The database is the source of truth: once `emit` returns, every delivery is
stored, and the jobs that carry them to Redis are enqueued when the transaction commits
(if Redis loses them, the sweeper enqueues them again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import automations
import catalog
from accounts.models import Account
from brevo_hooks import strict_json
from brevo_hooks.bulk_insert import insert_returning_ids
from brevo_hooks.ids import uuid7
from events.models import Event
from webhooks import handover, metrics
from webhooks.fairqueue import Route
from webhooks.models import Delivery, Subscriber, Webhook

MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class NewEvent:
    """An event as a producer reports it."""

    name: str
    type: str = catalog.TRANSACTIONAL
    data: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    occurred_at: datetime | None = None


class EventError(ValueError):
    """An event that cannot be stored.

    `code` is the API's error code; `message` names where (`events[3].data.reason: ...`),
    `field` is that place within the event (`data.reason`) and `reason` the rest.
    """

    def __init__(self, code: str, message: str, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.reason = reason or message


def refuse(where: str, field: str, reason: str, code: str = "invalid_parameter") -> NoReturn:
    place = ".".join(part for part in (where, field) if part)
    raise EventError(code, f"{place}: {reason}" if place else reason, field=field, reason=reason)


def check(event: NewEvent, where: str = "") -> catalog.EventType:
    """The catalog entry of `event`, or EventError saying what is wrong with it and where."""
    return checked(event, where)[0]


def checked(event: NewEvent, where: str = "") -> tuple[catalog.EventType, str]:
    """The catalog entry of `event` and its data as JSON text, or EventError saying what is wrong and where.

    `where` names the event in messages (`events[3]`). Every producer comes through here,
    so that what cannot be stored (NUL, lone surrogates, NaN, deep nesting, a `data` over
    EVENTS_MAX_DATA_SIZE) is refused whatever door it came in by.
    """
    for name, text in (("type", event.type), ("event", event.name), ("id", event.idempotency_key)):
        if strict_json.UNSTORABLE.search(text):
            refuse(where, name, strict_json.bad_text(text))
    if event.type not in catalog.TYPE_LABELS:
        refuse(where, "type", _('must be "transactional" or "marketing", not %(type)r.') % {"type": event.type})
    found = catalog.get(event.type, event.name)
    if found is None:
        other = next((t for t in catalog.TYPE_LABELS if t != event.type and catalog.get(t, event.name)), None)
        if other:
            refuse(
                where,
                "event",
                _('%(name)r is a %(other)s event: send it with "type": "%(other)s".')
                % {"name": event.name, "other": other},
            )
        names = ", ".join(catalog.subscription_names(event.type))
        refuse(
            where,
            "event",
            _("unknown %(type)s event %(name)r. Known: %(names)s.")
            % {"type": event.type, "name": event.name, "names": names},
        )
    if not isinstance(event.data, Mapping):
        refuse(where, "data", _("must be a JSON object."))
    if len(event.idempotency_key) > MAX_IDEMPOTENCY_KEY:
        refuse(where, "id", _("must be at most %(max)d characters.") % {"max": MAX_IDEMPOTENCY_KEY})
    return found, check_data(event.data, where)


def check_data(data: Mapping[str, Any], where: str) -> str:
    """`data` as the JSON text it is stored as, or EventError naming what cannot be stored.

    Encoding finds most problems itself (NaN and infinities refuse to encode, a lone
    surrogate to become UTF-8, a NUL shows as \\u0000, nesting as brackets); only then is
    the data walked (strict_json.check) to name the exact field. The text is stored as is.
    """
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode())
        suspect = "\\u0000" in text or text.count("{") + text.count("[") > strict_json.MAX_DEPTH
    except (ValueError, UnicodeEncodeError, RecursionError):
        suspect, text, size = True, "", 0
    if suspect:
        try:
            strict_json.check(data, "data")
        except strict_json.Unstorable as exc:
            refuse(where, exc.path, exc.reason)
    limit = settings.EVENTS_MAX_DATA_SIZE
    if size > limit:
        refuse(
            where,
            "data",
            _("is %(size)d bytes as JSON; at most %(limit)d bytes per event.") % {"size": size, "limit": limit},
        )
    return text


def emit(account: Account, events: Iterable[NewEvent]) -> list[Event]:
    """Store `events` of `account` with one delivery per subscribed, enabled webhook.

    Returns the stored events in the order given; an event whose idempotency key was
    seen before is returned as first stored, and owes nothing new. Raises EventError,
    storing nothing, if any event is invalid.
    """
    events = list(events)
    kinds = [checked(event, f"events[{n}]" if len(events) > 1 else "") for n, event in enumerate(events)]
    try:
        return _store(account, events, kinds)
    except IntegrityError:
        # Another request stored one of these idempotency keys between our read and our
        # write; the second pass finds it and stores nothing twice.
        return _store(account, events, kinds)


@dataclass
class Batch:
    """What a call of emit() writes, made ready before its transaction (see _store)."""

    result: list[Event]
    fresh: list[tuple[Event, catalog.EventType]]
    event_rows: list[tuple[Any, ...]]
    # Per delivery: the index of its event in `fresh`, its webhook, its row without the event id.
    owed: list[tuple[int, Subscriber, tuple[Any, ...]]]


def _store(account: Account, events: list[NewEvent], kinds: list[tuple[catalog.EventType, str]]) -> list[Event]:
    """Read and build everything first, then write it in one short transaction.

    On SQLite one writer at a time holds the database: under `make bench` the web's
    transactions held it most of the time (py-spy, and lock timings: 14-18 ms per 100
    events, 10-15 ms now), and the workers queued behind them. The reads (idempotency
    keys, subscribers) and the rows' Python (model instances, payloads, JSON, uuids) now
    come before it; a key or a webhook that changes in between makes the write fail
    with IntegrityError, and emit() starts again.
    """
    now = timezone.now()
    batch = prepare(account, events, kinds, now)
    if batch.fresh:
        _write(account, batch, now)
    return batch.result


def prepare(
    account: Account, events: list[NewEvent], kinds: list[tuple[catalog.EventType, str]], now: datetime
) -> Batch:
    result, fresh, data_text = new_rows(account, events, kinds, now)
    if not fresh:
        return Batch(result, fresh, [], [])
    subscribers = Webhook.objects.subscribed_to(account, {kind for _, kind in fresh})
    # An event's payload is the same for each of its webhooks: built once, not once per webhook.
    payloads = [
        kind.build(row.data, row.occurred_at, account.time_zone) if kind.key in subscribers else None
        for row, kind in fresh
    ]
    owed = [
        (n, webhook, kind.subscription, payloads[n])
        for n, (row, kind) in enumerate(fresh)
        for webhook in subscribers.get(kind.key, [])
    ]
    # Event id 0 for now: owe_deliveries() puts in each event's, once it is inserted.
    rows = Delivery.objects.owed_rows([(webhook, 0, name, payload) for _, webhook, name, payload in owed], now)
    return Batch(
        result,
        fresh,
        event_rows([row for row, _ in fresh], data_text),
        [(n, webhook, row) for (n, webhook, *_), row in zip(owed, rows, strict=True)],
    )


@transaction.atomic
def _write(account: Account, batch: Batch, now: datetime) -> None:
    events = [row for row, _ in batch.fresh]
    for event, pk in zip(events, insert_returning_ids(Event, EVENT_COLUMNS, batch.event_rows), strict=True):
        event.pk = pk
        event._state.adding = False
    transaction.on_commit(partial(metrics.events_accepted, [kind.type for _, kind in batch.fresh]))
    owe_deliveries(events, batch.owed)
    # Contacts and automation runs, in this transaction: an accepted event never loses its runs.
    automations.on_events(account, events, now)


def new_rows(
    account: Account, events: list[NewEvent], kinds: list[tuple[catalog.EventType, str]], now: datetime
) -> tuple[list[Event], list[tuple[Event, catalog.EventType]], list[str]]:
    """The Event of each of `events` (the one first stored, for an idempotency key seen before),
    and those that are new, with their kinds and their data's JSON text."""
    keys = {event.idempotency_key for event in events if event.idempotency_key}
    # Most requests carry no key: even a query Django knows is empty costs 0.7 ms to compile.
    stored = Event.objects.filter(account=account, idempotency_key__in=keys) if keys else []
    known = {e.idempotency_key: e for e in stored}
    result: list[Event] = []
    fresh: list[tuple[Event, catalog.EventType]] = []
    data_text: list[str] = []  # each fresh event's data, as check_data encoded it
    for event, (kind, text) in zip(events, kinds, strict=True):
        if event.idempotency_key in known:
            result.append(known[event.idempotency_key])
            continue
        row = new_event(account, kind, dict(event.data), event.occurred_at or now, event.idempotency_key, now)
        if event.idempotency_key:
            known[event.idempotency_key] = row  # the same key twice in one request stores one event
        result.append(row)
        fresh.append((row, kind))
        data_text.append(text)
    return result, fresh, data_text


# Event's fields in the order Model.__init__ takes them positionally (tests/test_ingest.py
# checks it): with keywords it cost twice as much, a tenth of an events request's CPU.
EVENT_FIELDS = ("id", "account_id", "uid", "type", "name", "data", "occurred_at", "idempotency_key", "created_at")


def new_event(
    account: Account, kind: catalog.EventType, data: dict[str, Any], occurred_at: datetime, key: str, now: datetime
) -> Event:
    """A new, unsaved Event (EVENT_FIELDS), with its account at hand."""
    event = Event(None, account.pk, uuid7(), kind.type, kind.subscription, data, occurred_at, key, now)
    Event.account.field.set_cached_value(event, account)
    return event


def owe_deliveries(events: list[Event], owed: list[tuple[int, Subscriber, tuple[Any, ...]]]) -> None:
    """Insert the deliveries of `events`, just stored, and hand them over on commit."""
    rows = [(row[0], events[n].pk, *row[2:]) for n, _, row in owed]
    ids = Delivery.objects.insert_owed(rows)
    due = [
        Route(pk, webhook.pk, webhook.account_id, webhook.type)
        for pk, (_, webhook, _) in zip(ids, owed, strict=True)
        if not webhook.batched
    ]
    if due:
        transaction.on_commit(lambda: handover.hand_over(due))


# The events API stores up to 1,000 events per request: they go in as plain multi-row
# INSERTs (see brevo_hooks.bulk_insert), as do their deliveries (Delivery.objects.create_owed).
EVENT_COLUMNS = ("account_id", "uid", "type", "name", "data", "occurred_at", "idempotency_key", "created_at")


def event_rows(events: list[Event], data_text: list[str]) -> list[tuple[Any, ...]]:
    """The rows that insert `events` (new, unsaved), whose data is `data_text` as JSON."""
    connection = connections[Event.objects.db]
    uid = Event._meta.get_field("uid")
    when = connection.ops.adapt_datetimefield_value
    return [
        (
            event.account_id,
            uid.get_db_prep_value(event.uid, connection),
            event.type,
            event.name,
            text,
            when(event.occurred_at),
            event.idempotency_key,
            when(event.created_at),
        )
        for event, text in zip(events, data_text, strict=True)
    ]
