"""Recording a round (webhooks.sending.record): what each delivery's outcome leaves in the database.

A round all delivered is, on PostgreSQL, one statement with the next round's claim
(webhooks.sql.record_delivered); any other round, and every round on SQLite, a
transaction of a few statements. Both must leave the same rows behind.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from events import emit
from events.fanout import NewEvent
from webhooks import outbound
from webhooks.models import Attempt, Delivery, HourlyCount
from webhooks.sending import lease
from webhooks.sending.outcome import judge
from webhooks.sending.record import record
from webhooks.sending.request import Outgoing, prepare

pytestmark = pytest.mark.usefixtures("redis")


def owed(account, count: int) -> list[int]:
    """`count` pending deliveries to the account's webhooks, one event each."""
    events = emit(account, [NewEvent("delivered", data={"email": f"{n}@example.com"}) for n in range(count)])
    return list(Delivery.objects.filter(event_record__in=events).order_by("pk").values_list("pk", flat=True))


def sent(ids: list[int]) -> list[Outgoing]:
    """The deliveries among `ids`, claimed and sent (as a job's round, before the answers)."""
    token, claimed = Delivery.objects.claim(ids, lease())
    now = timezone.now()
    return [prepare(delivery, token, now) for delivery in claimed]


def answered(requests: list[Outgoing], status: int = 200) -> list:
    now = timezone.now()
    for request in requests:
        request.response = outbound.Response(status, {"Server": "test"}, b"OK", 12)
    return [judge(request, now) for request in requests]


@pytest.fixture
def statements():
    """Each statement run, and whether a transaction was open around it."""
    seen: list[tuple[str, bool]] = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def test_a_round_all_delivered_leaves_its_attempts_its_deliveries_and_its_hours_and_claims_the_next(
    transactional_db, account, make_webhook, statements
):
    make_webhook(url="https://example.com/a", events=("delivered",))
    make_webhook(url="https://example.com/b", events=("delivered",))
    first, later = owed(account, 2), owed(account, 1)  # two deliveries an event
    round_ = answered(sent(first))
    statements.clear()

    token, claimed = record(round_, then=partial(Delivery.objects.claim, later, lease()))
    recorded = list(statements)

    assert sorted(d.pk for d in claimed) == later
    assert set(Delivery.objects.filter(pk__in=later).values_list("status", "claim_token")) == {("sending", token)}
    assert all(d.attempt_count == 1 and d.body for d in claimed)
    done = Delivery.objects.filter(pk__in=first)
    assert set(done.values_list("status", "claim_token", "lease_expires_at")) == {("succeeded", None, None)}
    assert all(d.completed_at is not None for d in done)
    attempts = Attempt.objects.filter(delivery__in=first)
    assert sorted(attempts.values_list("delivery_id", "number", "response_status", "response_body")) == [
        (pk, 1, 200, "OK") for pk in first
    ]
    assert sorted(HourlyCount.objects.values_list("succeeded", "failed")) == [(2, 0), (2, 0)]
    if connection.vendor == "postgresql":
        # One statement writes it all, a transaction of its own: no BEGIN and COMMIT around it.
        # (The other reads the claimed rows' webhooks, which a job has at hand.)
        writes = [sql for sql, _ in recorded if not sql.startswith("SELECT")]
        assert len(writes) == 1 and writes[0].startswith("WITH claimed AS (UPDATE webhooks_delivery")
        assert not any(in_transaction for _, in_transaction in recorded)


def test_a_round_all_delivered_with_no_claim_after_it_is_recorded_the_same(account, make_webhook):
    make_webhook(url="https://example.com/a", events=("delivered",))
    ids = owed(account, 3)
    assert record(answered(sent(ids))) is None
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}
    assert Attempt.objects.filter(delivery__in=ids, response_status=200).count() == 3
    assert HourlyCount.objects.get().succeeded == 3


def test_counts_add_up_over_rounds_and_test_sends_do_not_count(account, make_webhook):
    hook = make_webhook(url="https://example.com/a", events=("delivered",))
    for _ in range(3):
        record(answered(sent(owed(account, 2))))
    test_send = Delivery.objects.create(webhook=hook, event="delivered", payload={}, is_test=True)
    record(answered(sent([test_send.pk])))
    assert HourlyCount.objects.get().succeeded == 6
    assert Delivery.objects.get(pk=test_send.pk).status == "succeeded"


def test_an_outcome_is_not_recorded_over_a_claim_that_another_job_took_since(account, make_webhook):
    # The lease ran out, the sweep gave the delivery back and another job claimed it: the
    # slow job's attempt is kept, but the delivery is the other job's to finish.
    make_webhook(url="https://example.com/a", events=("delivered",))
    slow, steady = owed(account, 2)
    round_ = answered(sent([slow, steady]))
    Delivery.objects.filter(pk=slow).update(status="pending", claim_token=None)
    other_token, _ = Delivery.objects.claim([slow], lease())

    record(round_)

    assert Delivery.objects.get(pk=slow).status == "sending"
    assert Delivery.objects.get(pk=slow).claim_token == other_token
    assert Delivery.objects.get(pk=steady).status == "succeeded"
    assert Attempt.objects.filter(delivery_id=slow, number=1, response_status=200).exists()


def test_a_round_with_a_failure_keeps_its_statements_and_retries(account, make_webhook, statements):
    make_webhook(url="https://example.com/a", events=("delivered",))
    ids = owed(account, 2)
    round_ = answered(sent(ids), status=500)
    statements.clear()
    record(round_)
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
    assert all(d.next_attempt_at > timezone.now() + timedelta(seconds=1) for d in Delivery.objects.filter(pk__in=ids))
    assert HourlyCount.objects.get().failed == 2
    assert not any(sql.startswith("WITH claimed") for sql, _ in statements)


def test_a_jobs_claim_reads_its_webhooks_before_it_and_nothing_after(account, make_webhook, statements, monkeypatch):
    # A claim that records a round is committed as it runs: a read that failed after it would
    # have the round recorded again and the claimed deliveries wait for their lease.
    from webhooks import sql
    from webhooks.sending import endpoints, pipeline

    monkeypatch.setattr(endpoints, "FRESH_SECONDS", -1.0)  # every webhook row is stale at once
    hook = make_webhook(url="https://example.com/a", events=("delivered",))
    ids = owed(account, 2)
    job = pipeline.Pipeline(pipeline.Given(ids))

    def take(*args):
        statements.append(("the claim", True))
        return sql.claim(*args)

    statements.clear()
    _, claimed = job.claim([(pk, hook.pk) for pk in ids], take=take)
    assert [d.pk for d in claimed] == ids
    at = statements.index(("the claim", True))
    assert any("webhooks_webhook" in text for text, _ in statements[:at])
    assert not any("webhooks_webhook" in text for text, _ in statements[at + 1 :])
