"""The send threads: few send at once, and one held up never holds up what queues behind it.

And the job's loop asks Redis for work only when the answer may have changed.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from queue import SimpleQueue

import pytest
from django.utils import timezone

from events.fanout import NewEvent
from tests.receiver import Receiver, Reply
from webhooks import outbound
from webhooks.models import Claimed, Webhook
from webhooks.sending import pipeline, request
from webhooks.sending.request import Senders

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture(autouse=True)
def private_urls(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the receivers listen on 127.0.0.1


class Post:
    """What Senders runs: a POST to a real receiver, noting the thread that sent it and when it ended."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.thread = ""
        self.ended = 0.0

    def post(self, finished: SimpleQueue) -> None:
        self.thread = threading.current_thread().name
        outbound.post(self.url, b"{}", {"Content-Type": "application/json"}, timeout=10)
        self.ended = time.monotonic()
        finished.put(self)


def asleep(senders: Senders) -> Senders:
    """`senders` once all its threads wait for work (they start awake)."""
    deadline = time.monotonic() + 10
    while senders.awake() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert senders.awake() == 0
    return senders


def test_requests_to_a_quick_receiver_are_sent_by_the_eager_threads_alone(receiver):
    senders = asleep(Senders(8, eager=2, patience=5.0))
    finished: SimpleQueue = SimpleQueue()
    posts = [Post(receiver.url) for _ in range(40)]
    for start in range(0, 40, 10):  # in rounds, as a job hands them over
        for post in posts[start : start + 10]:
            senders.submit(post, finished)
        for _ in range(10):
            finished.get(timeout=30)
    assert len({post.thread for post in posts}) <= 2
    assert len(receiver.requests) == 40


def test_a_request_held_up_does_not_hold_up_those_queued_behind_it(receiver):
    slow = Receiver().start()
    try:
        slow.reply = Reply(delay=4)
        senders = asleep(Senders(8, eager=1, patience=0.05))
        finished: SimpleQueue = SimpleQueue()
        held_up = Post(slow.url)
        quick = [Post(receiver.url) for _ in range(5)]
        started = time.monotonic()
        for post in (held_up, *quick):
            senders.submit(post, finished)
        first_five = [finished.get(timeout=30) for _ in range(5)]
        finished.get(timeout=30)
    finally:
        slow.stop()
    # The one eager thread waits on the slow receiver; another is woken for the rest.
    assert set(first_five) == set(quick)
    assert max(post.ended for post in quick) - started < 2
    assert held_up.ended - started >= 4


def test_one_accounts_request_waits_for_one_request_of_anothers_slice_at_most(receiver):
    receiver.reply = Reply(delay=0.05)  # long enough for the whole slice to queue behind the first
    senders = asleep(Senders(4, eager=1, patience=5.0))
    finished: SimpleQueue = SimpleQueue()
    slice_ = [Post(f"{receiver.url}/a{n}") for n in range(10)]
    for post in slice_:
        senders.submit(post, finished, turn=1)
    senders.submit(Post(f"{receiver.url}/b"), finished, turn=2)
    for _ in range(11):
        finished.get(timeout=30)
    paths = [received.path for received in receiver.requests]
    assert paths.index("/b") <= 2, paths  # not behind the ten
    assert [path for path in paths if path != "/b"] == [f"/a{n}" for n in range(10)]  # each turn in order


def outgoing(webhook: Webhook, n: int) -> request.Outgoing:
    """A request of a round, as a job prepares it, for a delivery that need not exist."""
    claimed = Claimed(
        pk=n, uid=uuid.uuid4(), event="delivered", body=b'{"n": %d}' % n, is_test=False, attempt_count=1,
        webhook_id=webhook.pk, webhook=webhook,
    )  # fmt: skip
    return request.prepare(claimed, uuid.uuid4(), timezone.now())


def test_requests_queued_for_one_webhook_are_written_together_before_an_answer_is_read(make_webhook, receiver):
    blocker = Receiver().start()
    try:
        blocker.reply = Reply(delay=0.5)  # holds the one eager thread while the requests queue
        receiver.reply = Reply(delay=0.3)
        webhook = make_webhook(url=receiver.url)
        senders = asleep(Senders(8, eager=1, patience=5.0))
        finished: SimpleQueue = SimpleQueue()
        senders.submit(Post(blocker.url), finished)
        sent = [outgoing(webhook, n) for n in range(request.TOGETHER + 2)]
        for one in sent:
            senders.submit(one, finished)
        done = [finished.get(timeout=30) for _ in range(len(sent) + 1)]
    finally:
        blocker.stop()
    assert all(one.ok for one in done if isinstance(one, request.Outgoing))
    arrived = receiver.wait_for(len(sent))
    first_answer = min(r.answered_at for r in arrived if r.answered_at)
    # TOGETHER of them were out at once, by one thread; the other two went together after.
    assert request.TOGETHER > 1
    assert sum(r.at < first_answer for r in arrived) == request.TOGETHER
    assert senders.awake() <= 1


def test_an_answer_slow_to_come_holds_up_none_of_those_written_with_it(make_webhook, receiver):
    blocker = Receiver().start()
    try:
        blocker.reply = Reply(delay=0.2)
        receiver.replies = [Reply(delay=4)]  # the first request to arrive is answered after 4 s
        webhook = make_webhook(url=receiver.url)
        senders = asleep(Senders(8, eager=1, patience=0.05))
        finished: SimpleQueue = SimpleQueue()
        senders.submit(Post(blocker.url), finished)
        sent = [outgoing(webhook, n) for n in range(request.TOGETHER)]
        started = time.monotonic()
        for one in sent:
            senders.submit(one, finished)
        done = [finished.get(timeout=30) for _ in range(len(sent) + 1)]
        ended = time.monotonic()
    finally:
        blocker.stop()
    quick = [one for one in done if isinstance(one, request.Outgoing)][: request.TOGETHER - 1]
    # Read on other threads while one waits for its answer: all but the slow one back at once.
    assert all(one.ok and one.response.duration_ms < 2000 for one in quick)
    assert ended - started >= 4 and all(one.ok for one in sent)


class CountedTurns(pipeline.Turns):
    """Redis's turns, with each take noted: how many were asked for, how many came, whether requests were out."""

    def __init__(self) -> None:
        super().__init__()
        self.pipeline: pipeline.Pipeline | None = None
        self.log: list[tuple[str, int, int, bool]] = []

    def take(self, want, rooms):
        taken = super().take(want, rooms)
        self.log.append(("take", want, len(taken), bool(self.pipeline and self.pipeline.in_flight)))
        return taken


def test_a_job_does_not_ask_again_for_work_it_was_just_told_is_not_there(
    account, make_webhook, receiver, settings, emit_now
):
    settings.WEBHOOKS_ACCOUNT_CONCURRENCY = 4  # the account's room runs out in every round
    make_webhook(url=receiver.url, events=("delivered",))
    emit_now(account, [NewEvent("delivered") for _ in range(40)])
    turns = CountedTurns()
    job = turns.pipeline = pipeline.Pipeline(turns)
    gather = job.gather

    def noted_gather():
        done = gather()
        turns.log.append(("gather", 0, len(done), True))
        return done

    job.gather = noted_gather  # type: ignore[method-assign]
    outcomes = job.run(budget=60)
    assert outcomes["delivered"] == 40
    assert len(receiver.unique()) == 40
    # After a take that came back short while requests were out, the next look at Redis
    # waits until the job has gathered what finished (or polled for long enough).
    log = turns.log
    again = [
        (before, after)
        for before, after in itertools.pairwise(log)
        if before[0] == after[0] == "take" and before[2] < before[1] and after[3]
    ]
    assert again == []
    assert sum(1 for entry in log if entry[0] == "take") >= 10


def test_a_round_is_gathered_once_all_that_is_left_of_it_is_held_up(
    account, make_webhook, receiver, emit_now, monkeypatch
):
    # The job waits for its round until the send threads have nothing queued and nothing
    # out but requests held up, not for every request: a generous cap shows which. The
    # patience is long enough that this process's own quick receiver is never held up.
    monkeypatch.setattr(pipeline, "GATHER_SECONDS", 10.0)
    monkeypatch.setattr(request, "_senders", Senders(8, patience=0.5))
    slow = Receiver().start()
    try:
        slow.reply = Reply(delay=4)
        make_webhook(url=slow.url, events=("opened",))
        make_webhook(url=receiver.url, events=("delivered",))
        emit_now(account, [NewEvent("opened"), *(NewEvent("delivered") for _ in range(5))])
        job = pipeline.Pipeline(pipeline.Turns())
        gather = job.gather
        gathered: list[tuple[float, list[str]]] = []

        def noted_gather():
            done = gather()
            if done:
                gathered.append((time.monotonic(), sorted(sent.url for sent in done)))
            return done

        job.gather = noted_gather  # type: ignore[method-assign]
        started = time.monotonic()
        outcomes = job.run(budget=30)
    finally:
        slow.stop()
    assert outcomes == {"delivered": 6}
    (quick_at, quick), (_, held_up) = gathered
    assert quick == [receiver.url] * 5
    assert quick_at - started < 3  # the slow receiver answers after 4 s
    assert held_up == [slow.url]
