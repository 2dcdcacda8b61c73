"""Where deliveries wait in Redis for a worker, every account in its turn.

One first-in-first-out list made every account wait behind the biggest campaign. Here
the ids wait per webhook, and workers take them in turns:

    q:accounts           ring of the accounts that have deliveries waiting
    q:a:<account>:t      ring of that account's transactional webhooks with deliveries waiting
    q:a:<account>:m      ring of its marketing webhooks with deliveries waiting
    q:w:<webhook>        the delivery ids waiting for one webhook, oldest first
    q:due                ids to hand over later (retries, pauses), scored by unix time
    q:tests              "Send a test" deliveries: the fast lane, taken before anything else
    q:bell               a token per hand-over, on which an idle drain job waits (BLPOP)

A take (one Lua script, atomic) visits the accounts in turn and gives each a fair share
of what the worker asked for: within an account, the next transactional webhook if one
has work, else the next marketing one (transactional email is what people wait for).
An account with one waiting delivery is thus served within one take, however long the
others' queues. Each take and each hand-over is one round trip to Redis, for up to
hundreds of deliveries: the turn-taking costs a few microseconds of Redis per delivery.

The database stays the source of truth: if Redis loses any of this, the sweep finds
the pending deliveries and hands them over again (webhooks.sweeper).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import django_rq
from django.conf import settings
from redis import Redis
from redis.commands.core import Script

import catalog

PREFIX = "brevo-hooks:"
ACCOUNTS = PREFIX + "q:accounts"
ACTIVE = PREFIX + "q:active"
DUE = PREFIX + "q:due"
TESTS = PREFIX + "q:tests"
BELL = PREFIX + "q:bell"
# Redis is reached through the connection of this queue (django_rq's settings).
QUEUE = "deliveries"


@dataclass(frozen=True)
class Route:
    """Where a delivery waits: its webhook, that webhook's account, and its kind."""

    delivery_id: int
    webhook_id: int
    account_id: int
    type: str

    @property
    def kind(self) -> str:
        return "t" if self.type == catalog.TRANSACTIONAL else "m"

    def member(self) -> str:
        return f"{self.delivery_id}:{self.webhook_id}:{self.account_id}:{self.kind}"


# Shared by the scripts: push ids onto a webhook's list, and put the webhook in its
# account's ring and the account in the ring of accounts if they were not there.
_PUSH = """
local function push(account, kind, webhook, ids, front)
  local list = P .. 'q:w:' .. webhook
  local before = redis.call('LLEN', list)
  for i = 1, #ids, 500 do
    local last = math.min(i + 499, #ids)
    if front then
      local chunk = {}
      for j = last, i, -1 do chunk[#chunk + 1] = ids[j] end
      redis.call('LPUSH', list, unpack(chunk))
    else
      redis.call('RPUSH', list, unpack(ids, i, last))
    end
  end
  if before == 0 and #ids > 0 then
    redis.call('RPUSH', P .. 'q:a:' .. account .. ':' .. kind, webhook)
    if redis.call('SADD', P .. 'q:active', account) == 1 then
      redis.call('RPUSH', P .. 'q:accounts', account)
    end
  end
end
"""

# Wake waiting drain jobs: a token per 16 deliveries handed over (a worker's share of
# one account), so that a burst wakes several workers; 8 tokens at most are kept.
_RING = """
local function ring(count)
  for _ = 1, math.min(8, math.max(1, math.ceil((count or 1) / 16))) do
    redis.call('RPUSH', P .. 'q:bell', 'x')
  end
  redis.call('LTRIM', P .. 'q:bell', -8, -1)
end
"""

# ARGV: prefix, front (0/1), then groups of: account, kind, webhook, n, n ids.
ENQUEUE = (
    "local P = ARGV[1]\n"
    + _PUSH
    + _RING
    + """
local front = ARGV[2] == '1'
local i = 3
local total = 0
while i <= #ARGV do
  local n = tonumber(ARGV[i + 3])
  local ids = {}
  for j = 1, n do ids[j] = ARGV[i + 3 + j] end
  push(ARGV[i], ARGV[i + 1], ARGV[i + 2], ids, front)
  total = total + n
  i = i + 4 + n
end
ring(total)
return 1
"""
)

# ARGV: prefix, how many ids are wanted, the room of a webhook and of an account the worker
# holds nothing of, then pairs of a webhook ("w<id>") or an account ("a<id>") and its room.
# Returns a flat list: webhook, id, webhook, id, ...
TAKE = """
local P = ARGV[1]
local want = tonumber(ARGV[2])
local webhook_room = tonumber(ARGV[3])
local account_room = tonumber(ARGV[4])
local room = {}
for i = 5, #ARGV, 2 do room[ARGV[i]] = tonumber(ARGV[i + 1]) end
local out = {}
local taken = 0

-- The fast lane first: a marketer waits on the page for a test's answer.
local tests = redis.call('LPOP', P .. 'q:tests', want)
if tests then
  for _, member in ipairs(tests) do
    local id, webhook = string.match(member, '^(%d+):(%d+)$')
    out[#out + 1] = webhook; out[#out + 1] = '-' .. id
  end
  taken = #tests
end

local function from_ring(ring, share)
  local n = redis.call('LLEN', ring)
  for _ = 1, n do
    local webhook = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
    local left = room['w' .. webhook] or webhook_room
    if left > 0 then
      local list = P .. 'q:w:' .. webhook
      local ids = redis.call('LPOP', list, math.min(share, left))
      local got = ids and #ids or 0
      for _, id in ipairs(ids or {}) do out[#out + 1] = webhook; out[#out + 1] = id end
      room['w' .. webhook] = left - got
      if redis.call('LLEN', list) == 0 then redis.call('RPOP', ring) end
      return got
    end
  end
  return 0
end

local accounts = P .. 'q:accounts'
local idle = 0
while taken < want do
  local ring_size = redis.call('LLEN', accounts)
  if ring_size == 0 or idle >= ring_size then break end
  local account = redis.call('LMOVE', accounts, accounts, 'LEFT', 'RIGHT')
  local got = 0
  local left = room['a' .. account] or account_room
  if left > 0 then
    local share = math.min(math.ceil((want - taken) / ring_size), left)
    local t = P .. 'q:a:' .. account .. ':t'
    local m = P .. 'q:a:' .. account .. ':m'
    got = from_ring(t, share)
    if got == 0 then got = from_ring(m, share) end
    room['a' .. account] = left - got
    if redis.call('LLEN', t) + redis.call('LLEN', m) == 0 then
      redis.call('RPOP', accounts)
      redis.call('SREM', P .. 'q:active', account)
    end
  end
  taken = taken + got
  if got == 0 then idle = idle + 1 else idle = 0 end
end
return out
"""

# ARGV: prefix, now (unix time), most to hand over. Returns how many were handed over.
PROMOTE = (
    "local P = ARGV[1]\n"
    + _PUSH
    + _RING
    + """
local due = redis.call('ZRANGEBYSCORE', P .. 'q:due', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  local id, webhook, account, kind = string.match(member, '^(%d+):(%d+):(%d+):(%a)$')
  if id then push(account, kind, webhook, {id}, false) end
end
for i = 1, #due, 500 do
  redis.call('ZREM', P .. 'q:due', unpack(due, i, math.min(i + 499, #due)))
end
if #due > 0 then ring(#due) end
return #due
"""
)


_clients: dict[tuple[int, str], Redis] = {}


def connection() -> Redis:
    """This process's client of the queues' Redis, kept: a new one per call reconnects each time."""
    key = (os.getpid(), repr(settings.RQ_QUEUES[QUEUE]))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection(QUEUE)
    return client


def _script(source: str, redis: Redis) -> Script:
    # register_script hashes the source; keep one per client and source.
    key = (id(redis), source)
    found = _scripts.get(key)
    if found is None:
        found = _scripts[key] = redis.register_script(source)
    return found


_scripts: dict[tuple[int, str], Script] = {}


def _groups(routes: Iterable[Route]) -> list[str]:
    by_webhook: dict[tuple[int, str, int], list[str]] = {}
    for route in routes:
        by_webhook.setdefault((route.account_id, route.kind, route.webhook_id), []).append(str(route.delivery_id))
    args: list[str] = []
    for (account, kind, webhook), ids in by_webhook.items():
        args += [str(account), kind, str(webhook), str(len(ids)), *ids]
    return args


def enqueue(routes: Sequence[Route], front: bool = False, redis: Redis | None = None) -> None:
    """Put deliveries in their webhooks' turns (at the back, or at the `front` when handed back)."""
    if routes:
        redis = redis or connection()
        _script(ENQUEUE, redis)(args=[PREFIX, "1" if front else "0", *_groups(routes)])


def take(
    want: int,
    webhook_room: Mapping[int, int] | None = None,
    account_room: Mapping[int, int] | None = None,
    depth: int = 1,
) -> list[tuple[int, int, bool]]:
    """Up to `want` (delivery id, webhook id, is a test) triples: test sends first, then accounts
    and webhooks in turn.

    Never more for a webhook or an account than its room, what the worker may start (or
    claim ahead, at `depth` 2) for it now: as given, else `depth` times
    WEBHOOKS_ENDPOINT_CONCURRENCY and WEBHOOKS_ACCOUNT_CONCURRENCY. What a
    worker could not start would wait in its hands while other workers idle: one event owed
    to 40 webhooks of an account went out in two rounds of one worker, not one round of three.
    """
    rooms: list[object] = []
    for prefix, given in (("w", webhook_room or {}), ("a", account_room or {})):
        for pk, left in given.items():
            rooms += [f"{prefix}{pk}", max(0, left)]
    redis = connection()
    defaults = [settings.WEBHOOKS_ENDPOINT_CONCURRENCY * depth, settings.WEBHOOKS_ACCOUNT_CONCURRENCY * depth]
    flat = _script(TAKE, redis)(args=[PREFIX, want, *defaults, *rooms])
    return [(abs(int(flat[i + 1])), int(flat[i]), flat[i + 1].startswith(b"-")) for i in range(0, len(flat), 2)]


def enqueue_test(delivery_id: int, webhook_id: int) -> None:
    """Put a "Send a test" delivery in the fast lane, and wake a drain job for it."""
    pipe = connection().pipeline()
    pipe.rpush(TESTS, f"{delivery_id}:{webhook_id}")
    pipe.rpush(BELL, "x")
    pipe.ltrim(BELL, -8, -1)
    pipe.execute()


def wait_for_work(timeout: float) -> bool:
    """Block up to `timeout` seconds for a hand-over; whether one came."""
    return connection().blpop([BELL], timeout=max(0.01, timeout)) is not None


def schedule(routes: Sequence[tuple[Route, datetime]], redis: Redis | None = None) -> None:
    """Hand these deliveries over at their times (a retry, the end of a pause)."""
    if routes:
        (redis or connection()).zadd(DUE, {route.member(): when.timestamp() for route, when in routes})


def promote_due(limit: int = 10_000) -> int:
    """Hand over the scheduled deliveries whose time has come; return how many."""
    redis = connection()
    return int(_script(PROMOTE, redis)(args=[PREFIX, time.time(), limit]))


def is_empty() -> bool:
    """No delivery waits for a worker (scheduled ones aside)."""
    redis = connection()
    return redis.llen(ACCOUNTS) == 0 and redis.llen(TESTS) == 0


def waiting_by_account() -> dict[int, dict[str, int]]:
    """For each account with deliveries waiting: how many, per kind (for operators)."""
    redis = connection()
    accounts = [int(pk) for pk in redis.lrange(ACCOUNTS, 0, -1)]
    rings = redis.pipeline(transaction=False)
    for account in accounts:
        for kind in ("t", "m"):
            rings.lrange(f"{PREFIX}q:a:{account}:{kind}", 0, -1)
    webhooks = rings.execute()
    lengths = redis.pipeline(transaction=False)
    for ring in webhooks:
        for webhook in ring:
            lengths.llen(f"{PREFIX}q:w:{int(webhook)}")
    counts = iter(lengths.execute())
    waiting: dict[int, dict[str, int]] = {}
    for n, account in enumerate(accounts):
        waiting[account] = {
            catalog.TRANSACTIONAL: sum(next(counts) for _ in webhooks[2 * n]),
            catalog.MARKETING: sum(next(counts) for _ in webhooks[2 * n + 1]),
        }
    return waiting


def waiting_ids() -> list[int]:
    """Every delivery id waiting in a turn, account by account (for tests and operators)."""
    redis = connection()
    ids: list[int] = []
    for account in redis.lrange(ACCOUNTS, 0, -1):
        for kind in ("t", "m"):
            for webhook in redis.lrange(f"{PREFIX}q:a:{int(account)}:{kind}", 0, -1):
                ids += [int(pk) for pk in redis.lrange(f"{PREFIX}q:w:{int(webhook)}", 0, -1)]
    return ids


def scheduled_count() -> int:
    return int(connection().zcard(DUE))
