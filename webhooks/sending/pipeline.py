"""A job's send pipeline: take, claim, send, gather, record, in one loop.

Requests run on a pool of threads (one keep-alive session each). The job's own thread
does everything else, in a few bulk statements per round:

1. take deliveries from the source (Redis, account by account: webhooks.fairqueue), no
   more than free threads, and no more for an endpoint or an account than the job may
   start for it now;
2. claim them (the claim is their trace while in flight), then hand each request to a
   thread, no more at a time than the limits allow (dispatch);
3. gather the requests that finished (and those past their deadline: no request holds
   the loop longer than WEBHOOKS_TIMEOUT plus a small margin), judge each answer on
   its own (webhooks.sending.outcome) and record them together, each attempt written
   whole (record); after a round all delivered to healthy endpoints, the next round's
   claim goes in the same transaction, and takes a second slice ahead (AHEAD), sent
   when the first is back and recorded with it (collect);
4. update each endpoint's breaker and run of failures, and hand retries over for their
   time.

The loop takes new work every few milliseconds while requests are in flight, so that
a slow receiver holds only its own threads, and an account that has just one event
waiting is served while another's backlog drains. On a stop request it takes nothing
more, hands back what it holds, and finishes what is in flight.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from queue import Empty, SimpleQueue
from typing import NamedTuple, Protocol

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from webhooks import fairqueue, handover, metrics, sql
from webhooks.fairqueue import Route
from webhooks.models import Claimed, Delivery
from webhooks.sending import breaker, failing
from webhooks.sending.endpoints import Endpoint, Endpoints, Rooms
from webhooks.sending.outcome import RETRY, Outcome, judge
from webhooks.sending.record import record
from webhooks.sending.request import OVERDUE_MARGIN, Outgoing, pool, prepare

logger = logging.getLogger(__name__)

SKIPPED = "skipped"
DEFERRED = "deferred"
CANCELLED = "cancelled"
HANDED_BACK = "handed-back"

# While requests are in flight, how often the loop looks for more work.
POLL_SECONDS = 0.05
# At most how long finished requests wait for the rest of their round, to be recorded
# together: the wait ends once the send threads have settled (Senders.settle).
GATHER_SECONDS = 0.05
# A claim lasts the request's deadline plus this; a delivery still "sending" after
# its lease was abandoned by a dead worker, and the sweeper gives it back.
LEASE_MARGIN = timedelta(seconds=10)
# After the database refused a claim, how long before trying again.
BACKOFF_SECONDS = 1.0
# While a job lingers, how often it looks at its stop flag.
LINGER_TICK = 0.5
# After a steady round, a job claims for a healthy endpoint up to this many times what it
# may have in flight there: the second slice waits, claimed, while the first is out, goes
# as soon as the first is back, and the two are recorded together, with the next claim,
# in one statement. A round's statements are shared by twice as many deliveries, and an
# endpoint still never has more than WEBHOOKS_ENDPOINT_CONCURRENCY requests of a worker.
AHEAD = 2
# A slice claimed ahead is sent only this soon after its claim, so that its requests end
# (by their deadline) well within the claim's lease; later, the claim is given back.
HOLD_SECONDS = (LEASE_MARGIN.total_seconds() - OVERDUE_MARGIN) / 2


def lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOKS_TIMEOUT) + LEASE_MARGIN


class Source(Protocol):
    exhausted: bool
    tests: set[int]

    def take(self, want: int, rooms: Rooms) -> list[tuple[int, int]]: ...

    def give_back(self, pairs: list[tuple[int, int]], endpoints: Endpoints) -> None: ...

    def wait_for_work(self, timeout: float) -> bool: ...


def _routes(pairs: list[tuple[int, int]], endpoints: Endpoints) -> list[Route]:
    """Where each (delivery id, webhook id) waits, for the webhooks the job still knows."""
    known = [(pk, endpoints[webhook].webhook) for pk, webhook in pairs if webhook in endpoints.known]
    return [Route(pk, webhook.pk, webhook.account_id, webhook.type) for pk, webhook in known]


class Held(NamedTuple):
    """A request claimed and prepared but not sent yet, and when it was claimed (time.monotonic())."""

    sent: Outgoing
    at: float


class Turns:
    """Deliveries waiting in Redis: test sends first, then account by account (webhooks.fairqueue)."""

    def __init__(self) -> None:
        self.exhausted = False
        self.tests: set[int] = set()

    def take(self, want: int, rooms: Rooms) -> list[tuple[int, int]]:
        taken = fairqueue.take(want, rooms.webhooks, rooms.accounts, rooms.depth)
        self.tests.update(pk for pk, _, is_test in taken if is_test)
        self.exhausted = not taken
        return [(pk, webhook) for pk, webhook, _ in taken]

    def give_back(self, pairs: list[tuple[int, int]], endpoints: Endpoints) -> None:
        for pk, webhook in pairs:
            if pk in self.tests:
                fairqueue.enqueue_test(pk, webhook)
        # At the front of their turns: they go next, at this worker or another.
        others = [pair for pair in pairs if pair[0] not in self.tests]
        handover.hand_over(_routes(others, endpoints), front=True)

    def wait_for_work(self, timeout: float) -> bool:
        rang = fairqueue.wait_for_work(timeout)
        self.exhausted = False  # look again either way: work may have come without a ring
        return rang


class Given:
    """The pending deliveries among a given list of ids (a test send, a direct call)."""

    def __init__(self, ids: Iterable[int]) -> None:
        ids = set(ids)
        rows = list(
            Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", "webhook_id", "is_test")
        )
        self.skipped = len(ids) - len(rows)
        self.rows = deque((pk, webhook) for pk, webhook, _ in rows)
        self.tests = {pk for pk, _, is_test in rows if is_test}
        self.exhausted = not self.rows

    def take(self, want: int, rooms: Rooms) -> list[tuple[int, int]]:
        taken = [self.rows.popleft() for _ in range(min(want, len(self.rows)))]
        self.exhausted = not self.rows
        return taken

    def give_back(self, pairs: list[tuple[int, int]], endpoints: Endpoints) -> None:
        handover.hand_over(_routes(pairs, endpoints))

    def wait_for_work(self, timeout: float) -> bool:
        return False


class Pipeline:
    """One job's sending, from its source until nothing is left (or it is told to stop)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.endpoints = Endpoints()
        self.finished: SimpleQueue[Outgoing] = SimpleQueue()
        self.in_flight: dict[int, Outgoing] = {}
        # Claimed, waiting for room in flight (AHEAD), and a round waiting to be recorded with the next.
        self.held: list[Held] = []
        self.unrecorded: list[Outcome] = []
        self.tests: deque[tuple[int, int]] = deque()
        self.outcomes: Counter[str] = Counter({SKIPPED: getattr(source, "skipped", 0)})
        self.backoff_until = 0.0
        # The last take from the source came back short: nothing more that this job may
        # start was waiting. Until a request finishes or the loop has polled again, asking
        # again finds the same (it did, once a round: a round trip to Redis for nothing).
        self.took_short = False

    def run(
        self, budget: float | None = None, stop: threading.Event | None = None, linger: float = 0.0
    ) -> Counter[str]:
        """Send until the source is empty, `budget` seconds have passed or `stop` is set; count the outcomes.

        Once the source is empty, wait up to `linger` seconds for more work before returning:
        a job that waits is woken at once by the next hand-over, where a new job would pay
        for its own start.
        """
        ends = None if budget is None else time.monotonic() + budget
        idle_since: float | None = None
        while True:
            now = time.monotonic()
            stopping = (stop is not None and stop.is_set()) or (ends is not None and now > ends)
            if stopping:
                self.hand_back()
            else:
                self.fill()
            if self.in_flight:
                idle_since = None
                self.collect(refill=not stopping)
            elif stopping:
                break
            elif self.source.exhausted and not self.holding():
                idle_since = idle_since or now
                if now - idle_since >= linger:
                    break
                self.source.wait_for_work(min(LINGER_TICK, linger - (now - idle_since)))
            elif time.monotonic() < self.backoff_until:
                time.sleep(BACKOFF_SECONDS)
        return +self.outcomes

    def holding(self) -> bool:
        return bool(self.tests) or any(e.waiting for e in self.endpoints.known.values())

    # 1. Take --------------------------------------------------------------------------

    def fill(self) -> None:
        ready = self.ready()
        if ready:
            self.start(ready)

    def ready(self, depth: int = 1) -> list[tuple[int, int]]:
        """What may start now, as (delivery id, webhook id): held deliveries first, then taken ones.

        At `depth` 2 (AHEAD), also what may be claimed now to start when those come back.
        """
        # What is claimed ahead holds no thread yet: it only counts against claiming more ahead.
        holding = len(self.in_flight) + (len(self.held) if depth > 1 else 0)
        free = settings.WEBHOOKS_SEND_THREADS * depth - holding
        if free <= 0 or time.monotonic() < self.backoff_until:
            return []
        ready = self.startable(free, depth)
        want = free - len(ready)
        if want > 0 and not (self.took_short and self.in_flight):
            taken = self.source.take(want, self.endpoints.rooms(depth))
            self.took_short = len(taken) < want
            self.admit(taken)
            ready += self.startable(free - len(ready), depth)
        return ready

    def admit(self, pairs: list[tuple[int, int]]) -> None:
        self.endpoints.refresh(webhook for _, webhook in pairs)
        for pk, webhook in pairs:
            endpoint = self.endpoints.get(webhook)
            if endpoint is None:
                self.outcomes[SKIPPED] += 1  # the webhook was deleted, and its deliveries with it
            elif pk in self.source.tests:
                self.tests.append((pk, webhook))
            else:
                endpoint.waiting.append(pk)

    def startable(self, free: int, depth: int = 1) -> list[tuple[int, int]]:
        """Up to `free` held deliveries that may start now (see ready), each counted as busy at its endpoint."""
        ready: list[tuple[int, int]] = []
        while self.tests and len(ready) < free:
            ready.append(self.tests.popleft())  # a test send always goes, paused or not
        self.endpoints.refresh()
        now = timezone.now()
        account_busy = self.endpoints.account_busy()
        for endpoint in self.endpoints.known.values():
            if not endpoint.waiting or len(ready) >= free:
                continue
            self.triage(endpoint, now)
            account_room = settings.WEBHOOKS_ACCOUNT_CONCURRENCY * depth - account_busy[endpoint.account_id]
            room = min(endpoint.room(depth), account_room)
            for _ in range(min(room, free - len(ready), len(endpoint.waiting))):
                ready.append((endpoint.waiting.popleft(), endpoint.pk))
                endpoint.busy += 1
                account_busy[endpoint.account_id] += 1
        return ready

    def triage(self, endpoint: Endpoint, now: datetime) -> None:
        """What an endpoint holds but must not send now: cancelled if it is disabled, else deferred."""
        webhook = endpoint.webhook
        if not webhook.enabled:
            self.cancel(list(endpoint.waiting))
        elif endpoint.paused(now):
            self.defer(endpoint, webhook.paused_until)  # type: ignore[arg-type]
        elif endpoint.half_open(now) and not endpoint.probing and endpoint.busy == 0:
            if breaker.take_probe(endpoint, now, lease()):
                return
            held_until = webhook.paused_until if endpoint.paused(now) else webhook.probe_until
            self.defer(endpoint, held_until or now)
        else:
            return
        endpoint.waiting.clear()

    # 2. Claim and send ----------------------------------------------------------------

    def claim(self, ready: list[tuple[int, int]], take: sql.Take = sql.claim) -> tuple[uuid.UUID, list[Claimed]]:
        # The claim is the trace of the requests in flight: if this worker dies, the
        # sweep writes their attempts when their lease runs out. The webhooks are read
        # before it: a claim that also records a round (webhooks.sql.record_delivered) is
        # committed as it runs, and nothing after it may fail on the database.
        self.endpoints.refresh(webhook for _, webhook in ready)
        return Delivery.objects.claim([pk for pk, _ in ready], lease(), self.endpoints.held, take)

    def start(self, ready: list[tuple[int, int]], claim: tuple[uuid.UUID, list[Claimed]] | None = None) -> None:
        """Claim `ready` (unless the last round's record did) and hand each request to a thread, as far as
        the limits in flight allow (see dispatch)."""
        ids = [pk for pk, _ in ready]
        try:
            token, claimed = claim or self.claim(ready)
        except DatabaseError:
            logger.exception("claiming %s deliveries failed; they go back to the queue", len(ids))
            self.release(ready)
            self.source.give_back(ready, self.endpoints)
            self.backoff_until = time.monotonic() + BACKOFF_SECONDS
            return
        started = {delivery.pk for delivery in claimed}
        self.release([pair for pair in ready if pair[0] not in started])
        self.outcomes[SKIPPED] += len(ids) - len(started)
        now, clock = timezone.now(), time.monotonic()
        self.dispatch([Held(prepare(delivery, token, now), clock) for delivery in claimed])

    def dispatch(self, fresh: list[Held] | None = None) -> None:
        """Send what is claimed as far as the limits in flight allow (endpoint, account, threads); the rest
        keeps its turn.

        What was claimed ahead in an earlier round goes only to an endpoint still in good
        health, and only within HOLD_SECONDS of its claim; else the claim is given back and
        the delivery waits at the front of its endpoint's turn, to be judged afresh (triage).
        """
        if not self.held and not fresh:
            return
        flying = Counter(o.webhook_id for o in self.in_flight.values())
        accounts = Counter(o.webhook.account_id for o in self.in_flight.values())
        now, clock = timezone.now(), time.monotonic()
        keep: list[Held] = []
        stale: list[Held] = []
        ahead: list[Held] = []
        for held in self.held:
            if clock - held.at <= HOLD_SECONDS and self.may_send_ahead(held.sent):
                held.sent.stamp(now)  # it starts now, not when it was claimed
                ahead.append(held)
            else:
                stale.append(held)
        for held in ahead + (fresh or []):
            sent = held.sent
            endpoint = self.endpoints.get(sent.webhook_id)
            full = (
                len(self.in_flight) >= settings.WEBHOOKS_SEND_THREADS
                or (endpoint is not None and flying[sent.webhook_id] >= endpoint.limit())
                or accounts[sent.webhook.account_id] >= settings.WEBHOOKS_ACCOUNT_CONCURRENCY
            )
            if full and not sent.delivery.is_test:
                keep.append(held)
                continue
            flying[sent.webhook_id] += 1
            accounts[sent.webhook.account_id] += 1
            self.in_flight[sent.delivery.pk] = sent
            pool().submit(sent, self.finished, sent.webhook.account_id)
        self.held = keep
        self.unclaim(stale)

    def may_send_ahead(self, sent: Outgoing) -> bool:
        endpoint = self.endpoints.get(sent.webhook_id)
        return endpoint is not None and endpoint.healthy and endpoint.webhook.enabled

    def unclaim(self, held: list[Held]) -> None:
        """Give back claims that were never sent: the deliveries wait again, first in their endpoints' turn."""
        if not held:
            return
        pairs = [(h.sent.delivery.pk, h.sent.webhook_id) for h in held]
        self.release(pairs)
        by_token: dict[uuid.UUID, list[int]] = {}
        for h in held:
            by_token.setdefault(h.sent.token, []).append(h.sent.delivery.pk)
        try:
            for token, ids in by_token.items():
                sql.unclaim(ids, token)
        except DatabaseError:
            # Their leases run out, and the sweep gives them back.
            logger.exception("giving back %s claimed deliveries failed", len(held))
            return
        for pk, webhook in reversed(pairs):
            endpoint = self.endpoints.get(webhook)
            if endpoint is not None:
                endpoint.waiting.appendleft(pk)

    def release(self, pairs: list[tuple[int, int]]) -> None:
        for pk, webhook in pairs:
            endpoint = self.endpoints.get(webhook)
            if endpoint is not None and pk not in self.source.tests:
                endpoint.busy -= 1

    # 3. Gather and record -------------------------------------------------------------

    def collect(self, refill: bool = True) -> None:
        """Record the requests that finished; after a steady round, claim the next in the same transaction.

        A round and the claim of the next were two transactions: on SQLite each waits for
        the one write lock while the job's threads idle, and on PostgreSQL each commits.
        When everything in the round was delivered to endpoints in good health, nothing
        that the round's record and bookkeeping decide (a pause, a probe, a retry) can
        change what starts next, so the next claim goes with the record.

        That claim takes a second slice ahead for each healthy endpoint (AHEAD). When the
        first slice is back, all delivered, the second goes at once, and the first is
        recorded with it: one statement for both and the next claim. A round waits so only
        until the loop next looks (a poll, or a second when every thread is busy; flush):
        its deliveries are done, and until it is recorded their claims say they are in flight.
        """
        done = self.gather()
        self.took_short = False  # requests finished, or a poll's time passed: look again
        if not done:
            self.flush()
            return
        for sent in done:
            del self.in_flight[sent.delivery.pk]
        self.release([(sent.delivery.pk, sent.webhook_id) for sent in done])
        ahead = bool(self.held) and self.steady(done)
        if ahead:
            self.dispatch()  # what was claimed ahead goes out first, while this round is judged
        now = timezone.now()
        outcomes = [judge(sent, now) for sent in done]
        if ahead and self.in_flight and not self.unrecorded:
            self.unrecorded = outcomes  # recorded with the slice just sent, in one statement
            return
        outcomes, self.unrecorded = self.unrecorded + outcomes, []
        ready = self.ready(AHEAD) if refill and self.steady(outcomes) else []
        claim = record(outcomes, then=partial(self.claim, ready) if ready else None)
        self.recorded(outcomes, now)
        if ready:
            self.start(ready, claim)
        else:
            self.dispatch()

    def flush(self) -> None:
        """Record a round that waits for the next, now that the next is slow to come back."""
        if self.unrecorded:
            outcomes, self.unrecorded = self.unrecorded, []
            record(outcomes)
            self.recorded(outcomes, timezone.now())

    def recorded(self, outcomes: list[Outcome], now: datetime) -> None:
        """What follows a round's record: metrics, counts, the endpoints' bookkeeping and retries."""
        metrics.record_round([o.as_metric() for o in outcomes], timezone.now())
        self.outcomes.update(o.result for o in outcomes)
        self.after(outcomes, now)
        logger.info("round of %s: %s", len(outcomes), dict(Counter(o.result for o in outcomes)))

    def steady(self, round_: Sequence[Outcome | Outgoing]) -> bool:
        """Every request of the round delivered, to endpoints that are neither failing, paused nor probed."""
        if not all(o.ok for o in round_):
            return False
        endpoints = self.endpoints.of(round_)
        return len(endpoints) == len({o.webhook_id for o in round_}) and all(e.healthy for e in endpoints)

    def gather(self) -> list[Outgoing]:
        """The requests that finished, and those past their deadline, which are not waited for."""
        free = len(self.in_flight) < settings.WEBHOOKS_SEND_THREADS
        next_overdue = min(o.overdue_at for o in self.in_flight.values()) - time.monotonic()
        wait = max(0.0, min(POLL_SECONDS if free else 1.0, next_overdue))
        done: list[Outgoing] = []
        try:
            done.append(self.finished.get(timeout=wait))
            # The rest of the round comes one request after another from the eager thread:
            # wait once, until nothing is queued and nothing is out but requests held up,
            # not for each request (a wake-up and a hand-over of the GIL each, and rounds cut
            # short when the machine is busy), then take what finished.
            if len(done) < len(self.in_flight):
                pool().settle(GATHER_SECONDS)
            while len(done) < len(self.in_flight):
                done.append(self.finished.get_nowait())
        except Empty:
            pass
        # A request given up as overdue may still come back; it was recorded already.
        done = [sent for sent in done if self.in_flight.get(sent.delivery.pk) is sent]
        finished = {sent.delivery.pk for sent in done}
        clock = time.monotonic()
        for pk, sent in list(self.in_flight.items()):
            if pk not in finished and sent.overdue_at <= clock:
                late = replace(sent, response=None)
                late.time_out()
                self.in_flight[pk] = late
                done.append(late)
        return done

    # 4. Endpoints and retries ---------------------------------------------------------

    def after(self, outcomes: list[Outcome], now: datetime) -> None:
        retries = {o.delivery_id: o.next_attempt_at for o in outcomes if o.result == RETRY}
        routes = _routes([(o.delivery_id, o.webhook_id) for o in outcomes if o.delivery_id in retries], self.endpoints)
        handover.hand_over_at([(route, retries[route.delivery_id]) for route in routes])  # type: ignore[misc]
        try:
            paused = breaker.observe(outcomes, self.endpoints, now)
            disabled = failing.track(outcomes, self.endpoints, now)
        except DatabaseError:
            # The deliveries are recorded; the endpoints' bookkeeping catches up next round.
            logger.exception("updating the endpoints of a round failed")
            return
        for pk in disabled & self.endpoints.known.keys():
            self.cancel(list(self.endpoints[pk].waiting))
            self.endpoints[pk].waiting.clear()
        for pk in paused - disabled:
            endpoint = self.endpoints.get(pk)
            if endpoint is not None and endpoint.waiting:
                self.defer(endpoint, endpoint.webhook.paused_until or now)
                endpoint.waiting.clear()

    # What is held but not sent ---------------------------------------------------------

    def cancel(self, ids: list[int]) -> None:
        """The webhook was disabled: what it was owed stays in the log, and can be retried."""
        if not ids:
            return
        now = timezone.now()
        self.outcomes[CANCELLED] += Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, completed_at=now, next_attempt_at=None
        )
        Delivery.objects.filter(batch_id__in=ids, batch__status=Delivery.Status.CANCELLED).update(
            status=Delivery.Status.CANCELLED, completed_at=now
        )

    def defer(self, endpoint: Endpoint, until: datetime) -> None:
        """Not an attempt: handed over again when the endpoint's pause (or probe) is over."""
        ids = list(endpoint.waiting)
        if not ids:
            return
        self.outcomes[DEFERRED] += Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(
            next_attempt_at=until, enqueued_at=until
        )
        webhook = endpoint.webhook
        handover.hand_over_at([(Route(pk, webhook.pk, webhook.account_id, webhook.type), until) for pk in ids])

    def hand_back(self) -> None:
        """Stopping: what is held but not started goes back to Redis for another job."""
        pairs = self.endpoints.waiting() + list(self.tests)
        self.tests.clear()
        if pairs:
            self.source.give_back(pairs, self.endpoints)
            self.outcomes[HANDED_BACK] += len(pairs)


def deliver(ids: list[int], budget: float | None = None) -> Counter[str]:
    """Send the deliveries among `ids` that are still owed; count the outcomes.

    Deliveries not started after `budget` seconds are handed back to the queue.
    """
    return Pipeline(Given(ids)).run(budget)


def send(delivery_id: int) -> str:
    """Make one attempt at one delivery; return a short outcome for the job."""
    outcomes = deliver([delivery_id])
    return next(iter(outcomes), SKIPPED)


def drain(budget: float, stop: threading.Event | None = None, linger: float = 0.0) -> Counter[str]:
    """Send what waits in Redis, account by account, for up to `budget` seconds (see Pipeline.run)."""
    return Pipeline(Turns()).run(budget, stop, linger)
