"""outbound.post against receivers that misbehave on purpose: one deadline, one sentence.

And the same requests written first with their answers read after (outbound.Exchange), as a
send thread writes a few to one webhook at once: the same outcome, within the same deadline.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.hostile import BEHAVIOURS, Hostile, written, written_together
from webhooks import deadlines, outbound

TIMEOUT = 2.0
# The watchdog cuts at the deadline; the rest is the machine being busy.
MARGIN = 1.5

EXPECTED: dict[str, int | str] = {
    "trickled status line": f"Timed out after {TIMEOUT:g} s",
    "trickled body": f"Timed out after {TIMEOUT:g} s",
    "Retry-After: superscript two": 503,
    "Retry-After with a -0000 date": 429,
    "Retry-After of absurd length": 503,
    "Retry-After in the far future": 503,
    "NUL bytes": 500,
    "garbage status line": "The answer was not valid HTTP",
    "2 MB header": "The answer was not valid HTTP: a header line longer than 64 KiB",
    "50 MB body": 200,
    "invalid UTF-8": 500,
    "close at once": "The server closed the connection without answering",
    "never answers": f"Timed out after {TIMEOUT:g} s",
}


@pytest.fixture(autouse=True)
def allow_local(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def outcome_of(result: outbound.Response | outbound.OutboundError) -> int | str:
    if isinstance(result, outbound.OutboundError):
        return str(result)
    assert len(result.body) <= outbound.MAX_RESPONSE_BYTES
    assert sum(len(k) + len(v) for k, v in result.headers.items()) <= outbound.MAX_RESPONSE_HEADER_BYTES
    return result.status


def outcomes(way: str, url: str) -> list[int | str]:
    body, headers = b'{"event":"delivered"}', {"Content-Type": "application/json"}
    if way == "two written together":
        return [outcome_of(result) for result in written_together(url, body, headers, TIMEOUT)]
    try:
        result: outbound.Response | outbound.OutboundError = (outbound.post if way == "post" else written)(
            url, body, headers, TIMEOUT
        )
    except outbound.OutboundError as exc:
        result = exc
    return [outcome_of(result)]


@pytest.mark.parametrize("way", ["post", "written", "two written together"])
@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_each_misbehaviour_ends_within_the_deadline_with_an_answer_or_a_sentence(name, way):
    assert set(EXPECTED) == set(BEHAVIOURS)
    server = Hostile(BEHAVIOURS[name]()).start()
    started = time.monotonic()
    try:
        seen = outcomes(way, server.url)
    finally:
        server.stop()
    assert seen == [EXPECTED[name]] * len(seen)
    # Written together, each request has its own deadline, from when it was written.
    assert time.monotonic() - started < TIMEOUT + MARGIN


def test_a_status_line_trickled_a_byte_a_second_is_cut_at_the_deadline_not_per_read(settings):
    # Each byte comes well within any per-read timeout; only the whole deadline stops it.
    server = Hostile(BEHAVIOURS["trickled status line"]()).start()
    started = time.monotonic()
    try:
        with pytest.raises(outbound.OutboundError, match=r"^Timed out after 3 s$"):
            outbound.post(server.url, b"{}", {}, timeout=3.0)
    finally:
        server.stop()
    assert 2.9 < time.monotonic() - started < 3.0 + MARGIN


def test_a_50_mb_body_is_not_read_to_the_end(settings):
    server = Hostile(BEHAVIOURS["50 MB body"]()).start()
    started = time.monotonic()
    try:
        response = outbound.post(server.url, b"{}", {}, timeout=10.0)
    finally:
        server.stop()
    assert response.status == 200 and len(response.body) == outbound.MAX_RESPONSE_BYTES
    assert time.monotonic() - started < 5


def test_a_connection_kept_alive_is_reused_under_the_next_requests_deadline(receiver):
    # The second request reuses the first one's connection; its deadline still applies.
    outbound.post(receiver.url, b"{}", {}, timeout=5.0)
    receiver.reply.delay = 3
    started = time.monotonic()
    with pytest.raises(outbound.OutboundError, match=r"^Timed out after 1 s$"):
        outbound.post(receiver.url, b"{}", {}, timeout=1.0)
    assert time.monotonic() - started < 1.0 + MARGIN


def thread_wakes(native_id: int) -> int:
    """How many times a thread of this process has gone to sleep and been woken (Linux)."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    return sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("voluntary_ctxt_switches"))


def test_deadlines_that_pass_close_together_wake_the_watchdog_a_few_times():
    # A worker's deadlines pass about as often as its requests start, mostly after their
    # requests finished: the watchdog expires them in batches, at most TICK late.
    watchdog = deadlines.Watchdog()
    waiting = [deadlines.Deadline(0.3 + n * 0.001) for n in range(200)]
    for deadline in waiting:
        deadline.finish()  # as most are: their requests ended long before
        watchdog.watch(deadline)
    thread = watchdog._thread
    assert thread is not None
    wakes = thread_wakes(thread.native_id)
    last = waiting[-1].at
    time_limit = time.monotonic() + 30
    while watchdog._heap and time.monotonic() < time_limit:
        time.sleep(0.01)
    assert not watchdog._heap
    assert time.monotonic() >= last
    assert thread_wakes(thread.native_id) - wakes < 50  # one a millisecond was 200
