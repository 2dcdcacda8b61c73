"""Automations: contacts kept from events, automations whose steps wait and call webhooks, and their runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from accounts.models import Account
    from events.models import Event


def on_events(account: Account, events: list[Event], now: datetime) -> None:
    """Keep contacts and start runs for events just stored; see `automations.runner.on_events`."""
    # Imported here because the package is loaded before the app registry is ready.
    from automations.runner import on_events as start_runs

    start_runs(account, events, now)
