"""`manage.py prune_history`: delete the history older than WEBHOOKS_RETENTION_DAYS, now, all of it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.retention import BATCH, prune


class Command(BaseCommand):
    help = (
        "Delete events, deliveries and attempts older than WEBHOOKS_RETENTION_DAYS (or --days), in small "
        "batches. The workers do this every WEBHOOKS_RETENTION_INTERVAL seconds; this runs it to the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="keep this many days instead of WEBHOOKS_RETENTION_DAYS")
        parser.add_argument("--batch-size", type=int, default=BATCH, help=f"rows per transaction ({BATCH})")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.WEBHOOKS_RETENTION_DAYS
        if days < 1:
            if options["days"] is not None:
                raise CommandError("--days must be at least 1.")
            self.stdout.write("WEBHOOKS_RETENTION_DAYS is 0: history is kept forever, nothing to delete.")
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        done = prune(days=days, batch=options["batch_size"])
        counts = ", ".join(f"{done[name]} {name}" for name in ("events", "deliveries", "attempts", "exports"))
        self.stdout.write(f"Deleted what was older than {days} days: {counts}.")
