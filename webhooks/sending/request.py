"""One request of a round: what is sent, on which thread, and what came back."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from queue import SimpleQueue

from django.conf import settings

from brevo_hooks.logs import log_ids
from webhooks import answers, outbound, signing
from webhooks.models import MASK, Claimed, Webhook, mask_url

logger = logging.getLogger(__name__)

# How long past its deadline the job waits for a request before it records it as timed
# out and goes on without it (a host name that takes long to resolve, say: the
# watchdog cannot cut a lookup). Its thread's late answer is then ignored.
OVERDUE_MARGIN = 2.0
# How many send threads are awake when requests come (see Senders), and how long one
# of them may be held up by a request before another thread is woken for the queue.
EAGER = 1
PATIENCE = 0.02
# How many queued requests to one webhook a send thread writes, each on its own
# connection, before it reads their answers (see Senders).
TOGETHER = 4


def webhook_headers(webhook: Webhook, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Every header of a POST of `body` to `webhook`, except URL credentials (see outbound.split_credentials).

    The custom headers come first so that ours win; reserved names are refused at
    save time anyway. A bearer token wins over user:password@ in the URL.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {header["key"]: header["value"] for header in webhook.headers or []}
    headers["Content-Type"] = "application/json"
    headers.update(signing.headers(webhook.signing_secrets(), msg_id, timestamp, body))
    if webhook.auth_token:
        headers["Authorization"] = f"Bearer {webhook.auth_token}"
    return headers


def loggable_headers(headers: dict[str, str], webhook: Webhook | None = None) -> dict[str, str]:
    """Headers as the delivery log may show them: credentials and custom header values masked.

    Custom headers often carry an API key of the receiver, so their values are hidden too.
    """
    custom = {header["key"].lower() for header in (webhook.headers if webhook else []) or []}
    return {
        name: (MASK if name.lower() == "authorization" or name.lower() in custom else value)
        for name, value in headers.items()
    }


@dataclass
class Outgoing:
    """One request of a round: what is sent, and what came back."""

    delivery: Claimed
    url: str
    headers: dict[str, str]
    token: uuid.UUID
    started_at: datetime
    # When the job stops waiting for it (time.monotonic()).
    overdue_at: float = field(default=0.0)
    response: outbound.Response | None = None
    error: str = ""
    # Written, its answer not read yet (see Senders).
    exchange: outbound.Exchange | None = None

    @property
    def body(self) -> bytes:
        return self.delivery.body

    @property
    def webhook(self) -> Webhook:
        return self.delivery.webhook

    @property
    def webhook_id(self) -> int:
        return self.delivery.webhook_id

    @property
    def ok(self) -> bool:
        """Delivered: a 2xx answer (what webhooks.sending.outcome.judge goes by)."""
        return self.response is not None and self.response.ok

    @property
    def unanswered(self) -> bool:
        # No HTTP answer at all: the endpoint is down or too slow, not just unhappy.
        return self.response is None

    def request_row(self) -> tuple[object, ...]:
        """What the attempt sent: (delivery_id, number, started_at, url, headers JSON, body)."""
        return (
            self.delivery.pk,
            self.delivery.attempt_count,
            self.started_at,
            mask_url(self.webhook.url),
            json.dumps(loggable_headers(self.headers, self.webhook)),
            self.body.decode(),
        )

    def write(self) -> None:
        """Write the request now; `post` then reads its answer (or, if this failed before anything
        was written, sends it whole)."""
        try:
            self.exchange = outbound.Exchange(self.url, self.body, self.headers)
        except Exception:
            logger.exception("writing delivery %s failed", self.delivery.pk, extra=log_ids(delivery=self.delivery))

    def post(self, finished: SimpleQueue[Outgoing]) -> None:
        """Send the request on a pool thread (or read the answer to what `write` wrote), then hand it
        to the job's thread."""
        try:
            if self.exchange is None:
                self.response = outbound.post(self.url, self.body, self.headers)
            else:
                self.response = self.exchange.answer()
        except outbound.OutboundError as exc:
            self.error = str(exc)
        except Exception:
            # A bug must not leave the job waiting for this request: it fails, and is retried.
            logger.exception(
                "sending delivery %s failed",
                self.delivery.pk,
                extra=log_ids(webhook=self.webhook, delivery=self.delivery),
            )
            self.error = "The request could not be sent (internal error)"
        finally:
            finished.put(self)

    def stamp(self, now: datetime) -> None:
        """It starts now: the attempt's time, and when the job stops waiting for it."""
        self.started_at = now
        self.overdue_at = time.monotonic() + settings.WEBHOOKS_TIMEOUT + OVERDUE_MARGIN

    def time_out(self) -> None:
        self.error = answers.timed_out(settings.WEBHOOKS_TIMEOUT)


def prepare(delivery: Claimed, token: uuid.UUID, now: datetime) -> Outgoing:
    """The request for a claimed delivery, signed and with its credentials in the headers."""
    # The Basic auth of user:password@ goes in the headers here, not in outbound.post,
    # so that the delivery log shows it (masked) and a bearer token wins over it.
    url, basic = outbound.split_credentials(delivery.webhook.url)
    auth_headers = {"Authorization": basic} if basic else {}
    headers = {**auth_headers, **webhook_headers(delivery.webhook, delivery.webhook_message_id, delivery.body)}
    sent = Outgoing(delivery, url, headers, token, now)
    sent.stamp(now)
    return sent


Queued = tuple[Outgoing, SimpleQueue[Outgoing]]


class SendQueue:
    """Requests waiting for a send thread, in turns: one of each turn (an account) after another.

    A job hands a whole slice of one account's requests over at once (up to its room, 16).
    In one line, another account's one request would wait for all of them, 8 ms against the
    bench's receiver and more on a busy machine; in turns it waits for one run of them at
    most: up to `TOGETHER` written together, and their answers (see Senders).

    Ahead of every turn wait the answers of requests already written (`answers`): a thread
    held up reading one never holds up the next, which another thread reads.
    """

    def __init__(self) -> None:
        self._turns: dict[int, deque[Queued]] = {}  # in turn order (dicts keep insertion order)
        self._answers: deque[Queued] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, turn: int, queued: Queued) -> None:
        self._turns.setdefault(turn, deque()).append(queued)
        self._size += 1

    def append_answer(self, queued: Queued) -> None:
        """A request written, whose answer is to be read (Outgoing.exchange)."""
        self._answers.append(queued)
        self._size += 1

    def popleft(self) -> tuple[int | None, Queued]:
        """An answer to read if there is one, else the next request in turn; and its turn (None for an answer)."""
        self._size -= 1
        if self._answers:
            return None, self._answers.popleft()
        turn = next(iter(self._turns))
        waiting = self._turns.pop(turn)
        queued = waiting.popleft()
        if waiting:
            self._turns[turn] = waiting  # to the back of the turns
        return turn, queued

    def has_together(self, turn: int | None, written: Queued) -> bool:
        """Whether the next request of `turn` may be written with `written` (see _together)."""
        waiting = self._turns.get(turn) if turn is not None else None
        return bool(waiting) and _together(written, waiting[0])  # type: ignore[index]

    def pop_together(self, turn: int, written: Queued) -> Queued | None:
        """The next request of `turn`, out of its turn, if it may be written with `written`."""
        if not self.has_together(turn, written):
            return None
        waiting = self._turns[turn]
        queued = waiting.popleft()
        if not waiting:
            del self._turns[turn]
        self._size -= 1
        return queued


def _together(written: Queued, other: Queued) -> bool:
    """Whether `other` may be written before the answer to `written` is read: a request to the
    same webhook, of the same job."""
    (sent, finished), (next_sent, next_finished) = written, other
    return (
        isinstance(sent, Outgoing)
        and isinstance(next_sent, Outgoing)
        and next_sent.webhook_id == sent.webhook_id
        and next_finished is finished
    )


@dataclass
class Run:
    """The requests to one webhook that a send thread writes before it reads their answers."""

    turn: int | None = None
    last: Queued | None = None
    written: int = 0

    def add(self, queued: Queued) -> None:
        self.last = queued
        self.written += 1

    def end(self) -> None:
        self.last = None
        self.written = 0


class Senders:
    """The send threads of this process, kept between jobs so that each one's keep-alive
    connections (outbound.session() is per thread) are reused.

    Few threads send at once, one request after another, and more are woken only when
    those are held up. Every thread that sends gives up the GIL at each system call and
    must win it back: one thread posted to a fast receiver for ~250 µs of CPU a request,
    two for ~340, eight or more for ~440-480. So requests queue for the thread already
    awake (`EAGER`: with two, a job's send threads took a third more CPU per request than
    with one), and a pacer wakes another for each of them whose request has run
    longer than `PATIENCE`: a receiver that is slow to answer holds its own threads, and
    what queues behind it starts soon after.

    A thread writes up to `TOGETHER` requests queued for one webhook, each on a connection
    of its own, before it reads the first answer: the receiver works on one while the thread
    writes the next, and answers that have arrived are read without a wait. One thread posting
    to the bench's receiver took 72 µs of CPU a request four at a time against 100 µs one at a
    time, and sent twice as many a second. The answers queue ahead of every request
    (`SendQueue`), so an answer slow to come holds up no other: the pacer wakes another
    thread for the rest, as it does for requests.

    Requests queue by account, in turns (`SendQueue`). A lock guards the queue: concurrent.futures'
    pool did the same with a Future, a lock and a callback list per request, a twentieth of a
    worker's CPU.
    """

    def __init__(self, threads: int, eager: int = EAGER, patience: float = PATIENCE, together: int = TOGETHER) -> None:
        self._lock = threading.Lock()
        self._queue = SendQueue()
        self._asleep: list[threading.Event] = []  # the most recently busy last: its connections are warm
        # When the request of each awake thread started (0 while it is between requests).
        self._since: dict[threading.Event, float] = {}
        self._eager = eager
        self._patience = patience
        self._together = together
        self._waiting = threading.Event()  # wakes the pacer when requests queue
        self._drained = threading.Event()  # all that was submitted has finished or is held up (settle)
        for n in range(threads):
            bell = threading.Event()
            self._since[bell] = 0.0
            threading.Thread(target=self._run, args=(bell,), name=f"send-{n}", daemon=True).start()
        threading.Thread(target=self._pace, name="send-pacer", daemon=True).start()

    def awake(self) -> int:
        """How many threads are sending or about to (the rest wait to be woken)."""
        with self._lock:
            return len(self._since)

    def submit(self, sent: Outgoing, finished: SimpleQueue[Outgoing], turn: int = 0) -> None:
        """Queue `sent` in its `turn` (its account; see SendQueue); `finished` gets it back once sent."""
        with self._lock:
            self._queue.append(turn, (sent, finished))
            self._drained.clear()
            bells = self._wake(self._eager - len(self._since))
        for bell in bells:
            bell.set()
        self._waiting.set()

    def settle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until every request submitted has finished, but those
        held up (out for longer than the patience); whether that came."""
        return self._drained.wait(timeout)

    def _wake(self, count: int) -> list[threading.Event]:
        """Up to `count` sleeping threads, counted as awake (under the lock)."""
        bells = [self._asleep.pop() for _ in range(min(count, len(self._asleep), len(self._queue)))]
        for bell in bells:
            self._since[bell] = 0.0
        return bells

    def _run(self, bell: threading.Event) -> None:
        run = Run()
        while True:
            with self._lock:
                queued, write = self._next(bell, run)
            if queued is None:
                bell.wait()
            elif write:
                queued[0].write()
                with self._lock:
                    self._queue.append_answer(queued)  # read by this thread once its run ends, or by another
            else:
                sent, finished = queued
                sent.post(finished)

    def _next(self, bell: threading.Event, run: Run) -> tuple[Queued | None, bool]:
        """What this thread does next, and whether it only writes it (under the lock): the next request
        of its run to one webhook, else an answer to read or the next request in turn."""
        queued = None
        if run.last is not None and run.turn is not None and run.written < self._together:
            queued = self._queue.pop_together(run.turn, run.last)
        write = queued is not None
        if queued is None:
            run.end()
            if not self._queue:
                bell.clear()
                del self._since[bell]
                self._asleep.append(bell)
                if self._settled(time.monotonic() - self._patience):
                    self._drained.set()
                return None, False
            run.turn, queued = self._queue.popleft()
            write = self._queue.has_together(run.turn, queued)  # else sent whole: nothing to write with it
        if write:
            run.add(queued)
        self._since[bell] = time.monotonic()
        return queued, write

    def _settled(self, held_up: float) -> bool:
        """Nothing queued, and nothing being sent but requests started before `held_up` (under the lock)."""
        return not self._queue and all(since <= held_up for since in self._since.values())

    def _pace(self) -> None:
        """While requests queue, keep `EAGER` threads moving: wake one for each held up.

        And when the last requests still out are all held up, say the queue has settled.
        """
        while True:
            self._waiting.wait()
            time.sleep(self._patience / 2)
            with self._lock:
                held_up = time.monotonic() - self._patience
                if self._settled(held_up):
                    self._drained.set()
                    self._waiting.clear()
                moving = sum(1 for since in self._since.values() if since == 0.0 or since > held_up)
                bells = self._wake(self._eager - moving)
            for bell in bells:
                bell.set()


_senders: Senders | None = None


def pool() -> Senders:
    global _senders
    if _senders is None:
        _senders = Senders(settings.WEBHOOKS_SEND_THREADS)
    return _senders
