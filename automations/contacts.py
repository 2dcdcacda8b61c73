"""Contacts kept from the events the platform reports, inside emit()'s transaction.

One contact per account and email address. listAddition adds lists (and gives the Brevo id
when it carries one), contactUpdated merges the attributes of its `content`, contactDeleted
removes the contact and stops its runs, and any other event with an `email` creates the
contact the first time, with what it says (a transactional `contact_id` is the Brevo id).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections

import catalog
from accounts.models import Account
from automations.models import Contact, Run
from automations.triggers import content_attributes, list_ids
from brevo_hooks import bulk_insert
from brevo_hooks.numbers import whole_number

EMAIL_MAX = 254
DELETED = (catalog.MARKETING, "contactDeleted")
LIST_ADDITION = (catalog.MARKETING, "listAddition")
UPDATED = (catalog.MARKETING, "contactUpdated")


def contact_email(data: Mapping[str, Any]) -> str:
    """The contact's address in an event's data, lower-cased; "" when it has none."""
    email = data.get("email")
    if not isinstance(email, str):
        return ""
    email = email.strip().lower()
    return email if "@" in email and len(email) <= EMAIL_MAX and storable(email) == email else ""


def storable(value: Any) -> Any:
    """`value` with lone surrogates (valid in JSON escapes, not in UTF-8) replaced, at any depth."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def brevo_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    if isinstance(value, str):
        return whole_number(value) or None
    return None


@dataclass
class Known:
    """A contact as a batch of events sees it: read as plain values, written back only if changed."""

    pk: int | None
    email: str
    brevo_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    lists: list[int] = field(default_factory=list)
    updated_at: datetime | None = None


# What a batch reads of each contact it needs (model instances cost more than the rest of it).
KNOWN_FIELDS = ("pk", "email", "brevo_id", "attributes", "lists")


@dataclass
class Change:
    """What the events of one emit() say about one contact, in their order."""

    email: str
    lists: set[int] = field(default_factory=set)
    attributes: dict[str, Any] = field(default_factory=dict)
    brevo_id: int | None = None
    # Deleted by one of the events: what was stored before no longer counts.
    reset: bool = False
    # Deleted by the last of its events that mattered.
    deleted: bool = False

    def note(self, key: tuple[str, str], data: Mapping[str, Any]) -> None:
        if key == DELETED:
            self.lists, self.attributes, self.brevo_id = set(), {}, None
            self.reset = self.deleted = True
            return
        self.deleted = False
        found = brevo_id(data.get("id")) if key == LIST_ADDITION else None
        found = found or brevo_id(data.get("contact_id"))
        if found:
            self.brevo_id = found
        if key == LIST_ADDITION:
            self.lists |= list_ids(data.get("list_id"))
        elif key == UPDATED:
            self.attributes.update(storable(content_attributes(data.get("content"))))

    @property
    def changes_something(self) -> bool:
        return bool(self.reset or self.lists or self.attributes or self.brevo_id)

    def apply(self, contact: Known, now: datetime) -> bool:
        """Bring `contact` (as stored) up to date; return whether anything changed."""
        before = (contact.brevo_id, contact.lists, contact.attributes)
        if self.reset:
            contact.brevo_id, contact.lists, contact.attributes = None, [], {}
        contact.brevo_id = self.brevo_id or contact.brevo_id
        contact.lists = sorted(set(contact.lists or []) | self.lists)
        contact.attributes = {**(contact.attributes or {}), **self.attributes}
        changed = before != (contact.brevo_id, contact.lists, contact.attributes)
        if changed:
            contact.updated_at = now
        return changed


class Book:
    """The contacts named by a batch of events: changes noted in order, written together."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.changes: dict[str, Change] = {}

    def note(self, key: tuple[str, str], email: str, data: Mapping[str, Any]) -> None:
        self.changes.setdefault(email, Change(email)).note(key, data)

    def save(self, now: datetime, wanted: set[str]) -> dict[str, Known]:
        """Write every change; return the contacts of `wanted` that remain, by email.

        A contact that nothing changes and nobody wants is only made sure of, with one
        INSERT ... ON CONFLICT DO NOTHING and no read: most events name a contact already known.
        """
        if not self.changes:
            return {}
        changing = {email for email, change in self.changes.items() if change.changes_something}
        load = changing | (wanted & set(self.changes))
        # Two batches changing one contact at once take turns (PostgreSQL; SQLite has one writer anyway).
        stored = self.read(load, lock=bool(changing))
        creating = [change for email, change in self.changes.items() if email not in stored and not change.deleted]
        inserted = insert_new(self.account, creating, now, returning=any(c.email in load for c in creating))
        lost = [change.email for change in creating if change.email in load and change.email not in inserted]
        # Another batch created them a moment ago: update those instead.
        stored.update(self.read(lost, lock=True))
        self.write(stored, now)
        return self.remaining(stored, inserted, wanted)

    def read(self, emails: Iterable[str], lock: bool) -> dict[str, Known]:
        """The stored contacts of `emails`, by email; locked for update if `lock`."""
        emails = list(emails)
        if not emails:
            return {}
        rows = Contact.objects.filter(account=self.account, email__in=emails).order_by()
        if lock:
            rows = rows.select_for_update()
        return {row[1]: Known(*row) for row in rows.values_list(*KNOWN_FIELDS)}

    def remaining(self, stored: dict[str, Known], inserted: dict[str, Known], wanted: set[str]) -> dict[str, Known]:
        """The contacts of `wanted` that exist after this batch: stored and not deleted, or inserted."""
        remaining = {email: c for email, c in stored.items() if not self.changes[email].deleted}
        remaining.update(inserted)
        return {email: contact for email, contact in remaining.items() if email in wanted}

    def write(self, stored: dict[str, Known], now: datetime) -> None:
        """Update or delete the contacts that existed before this batch."""
        deleted = [c for email, c in stored.items() if self.changes[email].deleted]
        # A contact deleted and then added again in one batch starts afresh: its runs stop too.
        reset = [c for email, c in stored.items() if self.changes[email].reset]
        stop_runs([c.pk for c in reset], now)
        if deleted:
            Contact.objects.filter(pk__in=[c.pk for c in deleted]).delete()
        changed = [
            c for email, c in stored.items() if not self.changes[email].deleted and self.changes[email].apply(c, now)
        ]
        if changed:
            rows = [
                Contact(pk=c.pk, brevo_id=c.brevo_id, lists=c.lists, attributes=c.attributes, updated_at=c.updated_at)
                for c in changed
            ]
            Contact.objects.bulk_update(rows, ["brevo_id", "lists", "attributes", "updated_at"])


def stop_runs(contact_ids: Iterable[int], now: datetime) -> int:
    """Stop the runs of deleted contacts: they leave every automation."""
    contact_ids = list(contact_ids)
    if not contact_ids:
        return 0
    return Run.objects.filter(contact_id__in=contact_ids, status=Run.Status.ACTIVE).update(
        status=Run.Status.STOPPED, due_at=None, finished_at=now, stop_reason=Run.StopReason.CONTACT_DELETED
    )


# New contacts go in with one INSERT ... ON CONFLICT DO NOTHING per chunk (PostgreSQL and
# SQLite 3.24+ both speak it): every event with an address may name a new contact, and a
# concurrent batch may be creating the same one.
COLUMNS = ("account_id", "email", "brevo_id", "attributes", "lists", "created_at", "updated_at")


def json_text(value: dict[str, Any] | list[Any]) -> str:
    """A JSON column's value as text, which both databases take (PostgreSQL casts the array).

    Most new contacts have no attributes and no lists; the JSON field's own preparation
    (a Jsonb adapter, dumped in Python one by one) cost a fifth of storing contacts.
    """
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def insert_new(account: Account, changes: list[Change], now: datetime, returning: bool = True) -> dict[str, Known]:
    """Create a contact for each change; return those created here (not by a concurrent batch), by email.

    Without `returning` nothing is returned: the batch needs none of them (the usual case,
    events that change nothing and start no run), and on SQLite the rows then go through
    one prepared statement in C instead of one long statement built in Python.
    """
    if not changes:
        return {}
    connection = connections[Contact.objects.db]
    when = connection.ops.adapt_datetimefield_value(now)
    contacts = {}
    for change in changes:
        contact = Known(None, change.email)
        change.apply(contact, now)
        contacts[change.email] = contact
    rows = [
        (
            account.pk,
            c.email,
            c.brevo_id,
            json_text(c.attributes),
            json_text(c.lists),
            when,
            when,
        )
        for c in contacts.values()
    ]
    created: dict[str, Known] = {}
    inserted = bulk_insert.insert_rows(
        Contact._meta.db_table,
        COLUMNS,
        rows,
        Contact.objects.db,
        returning=("id", "email") if returning else (),
        types=bulk_insert.column_types(Contact, COLUMNS, Contact.objects.db),
        conflict="(account_id, email) DO NOTHING",
    )
    for pk, email in inserted:
        contacts[email].pk = pk
        created[email] = contacts[email]
    return created
