"""The job's loop asks Redis for work only when the answer may have changed."""

from __future__ import annotations

import itertools

import pytest

from events.fanout import NewEvent
from webhooks.sending import pipeline

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture(autouse=True)
def private_urls(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the receivers listen on 127.0.0.1


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
