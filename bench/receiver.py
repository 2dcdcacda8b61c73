"""A fast local webhook receiver for the benchmark: asyncio, HTTP/1.1 keep-alive, answers 200.

It records, per request, the `webhook-id` (to count each delivery once) and two delays
to its arrival: from `bench_sent` in the payload (when the event was posted to
/api/events) and from `ts_epoch` (when the API accepted and stored it).
`GET /stats` returns them for every webhook path, `GET /stats?path=/small` for one
(`/fan` for all of /fan/0, /fan/1...);
`POST /reset` clears them.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

SENT = re.compile(rb'"bench_sent":\s*([0-9.]+)')
# `ts_epoch` (ms) defaults to the moment emit() stored the event: when it was accepted.
ACCEPTED = re.compile(rb'"ts_epoch":\s*([0-9]+)')
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.ids: set[bytes] = set()
        self.latencies: list[float] = []
        self.accepted: list[float] = []
        self.first = 0.0
        self.last = 0.0

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "requests": self.requests,
                "unique": len(self.ids),
                "first": self.first,
                "last": self.last,
                "latencies_ms": self.latencies,
                "accepted_ms": self.accepted,
            }
        ).encode()


stats = Stats()
# The same, per request path (each webhook of the bench has its own).
by_path: dict[bytes, Stats] = {}


def answer(body: bytes, status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n".encode() + body


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, header_block = head.partition(b"\r\n")
            headers = {}
            for line in header_block.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            _method, path, _ = request_line.split(b" ", 2)
            if path.startswith(b"/stats"):
                _, _, wanted = path.partition(b"?path=")
                chosen = by_path.get(wanted, Stats()) if wanted else stats
                writer.write(answer(chosen.as_json()))
            elif path == b"/reset":
                stats.reset()
                by_path.clear()
                writer.write(answer(b"{}"))
            else:
                count(stats, headers, body)
                count(by_path.setdefault(path, Stats()), headers, body)
                # /fan/12 counts under /fan too: the fan-out phase's 40 webhooks together.
                prefix = b"/" + path.split(b"/")[1]
                if prefix != path:
                    count(by_path.setdefault(prefix, Stats()), headers, body)
                writer.write(OK)
            if headers.get(b"connection", b"").lower() == b"close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def count(into: Stats, headers: dict[bytes, bytes], body: bytes) -> None:
    now = time.time()
    into.requests += 1
    into.first = into.first or now
    into.last = now
    webhook_id = headers.get(b"webhook-id")
    if webhook_id is not None and webhook_id not in into.ids:
        into.ids.add(webhook_id)
        sent = SENT.search(body)
        if sent:
            into.latencies.append((now - float(sent.group(1))) * 1000)
        accepted = ACCEPTED.search(body)
        if accepted:
            into.accepted.append(now * 1000 - int(accepted.group(1)))


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"receiver listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
