"""`manage.py emit_event`: report an event from the command line, as the platform would."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import catalog
from accounts.models import Account
from brevo_hooks.numbers import whole_number
from events import emit
from events.fanout import EventError, NewEvent


class Command(BaseCommand):
    help = "Store an event and deliver it to the account's subscribed webhooks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event", help="Subscription name, e.g. delivered, hardBounce, listAddition.")
        parser.add_argument("--account", required=True, help="Account id or exact name.")
        parser.add_argument("--type", default=catalog.TRANSACTIONAL, choices=list(catalog.TYPE_LABELS))
        parser.add_argument(
            "--data", default="{}", help='Payload fields as a JSON object, e.g. \'{"email": "a@b.c"}\'.'
        )
        parser.add_argument("--id", default="", help="Idempotency key: a second run with it stores nothing.")
        parser.add_argument("--count", type=int, default=1, help="How many such events (default 1).")

    def handle(self, *args: Any, **options: Any) -> None:
        account = find_account(options["account"])
        try:
            data = json.loads(options["data"])
        except ValueError as exc:
            raise CommandError(f"--data is not valid JSON: {exc}.") from None
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        if options["id"] and options["count"] > 1:
            raise CommandError("--id names one event; leave it out with --count.")
        event = NewEvent(name=options["event"], type=options["type"], data=data, idempotency_key=options["id"])
        try:
            stored = emit(account, [event] * options["count"])
        except EventError as exc:
            raise CommandError(exc.message) from None
        for row in stored:
            self.stdout.write(f"{row.public_id} {row.type} {row.name}: {row.deliveries.count()} deliveries")


def find_account(value: str) -> Account:
    pk = whole_number(value)
    accounts = Account.objects.filter(pk=pk) if pk is not None else Account.objects.filter(name=value)
    account = accounts.first()
    if account is None:
        raise CommandError(f"No account {value!r}. Create one with: manage.py create_account NAME --email ...")
    return account
