"""Each endpoint's bookkeeping during a job, around the job's mirror of its webhook row.

A job keeps the webhook rows it sends to and reads them again once they are a second
old: reading them every round of requests cost more than the claim itself, and an edit
(a new URL, a rotated secret, a pause decided by another worker) still reaches the
requests that start a moment later. Beside each row the job keeps what it has of that
endpoint: requests in flight, deliveries taken but not started, and whether it holds
the endpoint's probe after a pause (webhooks.sending.breaker).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from webhooks.models import Webhook, sending_webhooks

if TYPE_CHECKING:
    from webhooks.sending.outcome import Outcome
    from webhooks.sending.request import Outgoing

# How long a job sends with what it read of a webhook before reading it again.
FRESH_SECONDS = 1.0


@dataclass(frozen=True)
class Rooms:
    """What a job may still take, by webhook and by account id; those not named have their whole room,
    `depth` times the limits (see Endpoint.limit)."""

    webhooks: dict[int, int]
    accounts: dict[int, int]
    depth: int = 1


@dataclass
class Endpoint:
    """One webhook as a job sees it."""

    webhook: Webhook
    busy: int = 0
    waiting: deque[int] = field(default_factory=deque)
    # This job sends the one probe of a breaker that was open (webhooks.sending.breaker).
    probing: bool = False

    @property
    def pk(self) -> int:
        return self.webhook.pk

    @property
    def account_id(self) -> int:
        return self.webhook.account_id

    def paused(self, now: datetime) -> bool:
        return self.webhook.paused_until is not None and self.webhook.paused_until > now

    def half_open(self, now: datetime) -> bool:
        """Its pause is over, but no answer has come since: one probe must go first."""
        return self.webhook.paused_until is not None and self.webhook.paused_until <= now

    @property
    def healthy(self) -> bool:
        """Neither failing, paused nor probed: the next requests will most likely go as the last did."""
        return not (self.probing or self.webhook.paused_until or self.webhook.failing_since)

    def limit(self, depth: int = 1) -> int:
        """How many of its requests a job may hold: `depth` times the requests in flight, when healthy."""
        if self.probing:
            return 1
        return settings.WEBHOOKS_ENDPOINT_CONCURRENCY * (depth if self.healthy else 1)

    def room(self, depth: int = 1) -> int:
        """Requests it may start (or claim, at `depth` 2) now, as far as its own limit goes."""
        return max(0, self.limit(depth) - self.busy)


class Endpoints:
    """The endpoints of one job, their rows read again once they are FRESH_SECONDS old."""

    def __init__(self) -> None:
        self.known: dict[int, Endpoint] = {}
        self.read_at = 0.0

    def __getitem__(self, pk: int) -> Endpoint:
        return self.known[pk]

    def get(self, pk: int) -> Endpoint | None:
        return self.known.get(pk)

    def refresh(self, ids: Iterable[int] = ()) -> None:
        """Read the rows of `ids` not known yet, or all of them once they are stale.

        A webhook deleted meanwhile disappears; what the job held for it is dropped (its
        deliveries went with it).
        """
        wanted = set(ids)
        if time.monotonic() - self.read_at <= FRESH_SECONDS and wanted <= self.known.keys():
            return
        rows = sending_webhooks(wanted | self.known.keys())
        for pk in list(self.known):
            if pk not in rows:
                del self.known[pk]
        for pk, row in rows.items():
            endpoint = self.known.get(pk)
            if endpoint is None:
                self.known[pk] = Endpoint(row)
            else:
                endpoint.webhook = row
        self.read_at = time.monotonic()

    def of(self, outcomes: Iterable[Outcome | Outgoing]) -> list[Endpoint]:
        """The endpoints the job still knows among those of `outcomes` (or requests)."""
        return [self.known[pk] for pk in {o.webhook_id for o in outcomes} if pk in self.known]

    def held(self, ids: set[int]) -> dict[int, Webhook]:
        """The webhook rows of `ids` as last read, without reading the database."""
        return {pk: self.known[pk].webhook for pk in ids if pk in self.known}

    def account_busy(self) -> Counter[int]:
        busy: Counter[int] = Counter()
        for endpoint in self.known.values():
            busy[endpoint.account_id] += endpoint.busy
        return busy

    def rooms(self, depth: int = 1) -> Rooms:
        """How many more deliveries the job may take for each webhook and account it holds some of,
        at `depth` (see Endpoint.limit); and for each endpoint it knows not to be in good health."""
        named = [e for e in self.known.values() if e.busy or e.waiting or (depth > 1 and not e.healthy)]
        webhooks = {e.pk: e.room(depth) - len(e.waiting) for e in named}
        held: Counter[int] = Counter()
        for endpoint in named:
            held[endpoint.account_id] += endpoint.busy + len(endpoint.waiting)
        limit = settings.WEBHOOKS_ACCOUNT_CONCURRENCY * depth
        accounts = {pk: limit - count for pk, count in held.items() if count}
        return Rooms(webhooks, accounts, depth)

    def waiting(self) -> list[tuple[int, int]]:
        """Every (delivery id, webhook id) taken but not started, emptied out of the endpoints."""
        pairs = [(pk, e.pk) for e in self.known.values() for pk in e.waiting]
        for endpoint in self.known.values():
            endpoint.waiting.clear()
        return pairs
