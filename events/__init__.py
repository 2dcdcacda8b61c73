"""Events: the catalog of Brevo events, stored events, and `emit()`, the one way in."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from accounts.models import Account
    from events.fanout import NewEvent
    from events.models import Event


def emit(account: Account, events: Iterable[NewEvent]) -> list[Event]:
    """Store events and the deliveries they owe; see `events.fanout.emit`."""
    # Imported here because the package is loaded before the app registry is ready.
    from events.fanout import emit as emit_events

    return emit_events(account, events)
