"""A real HTTP server on 127.0.0.1 that receives webhooks, for the tests.

It records every request and answers as told: a status, a body, a delay, or by
closing the connection. It runs in a thread of the test process.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    # When the answer was written (or failed to be): the request was in flight from `at` to here.
    answered_at: float | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"OK"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Server(ThreadingHTTPServer):
    # A worker opens up to WEBHOOKS_SEND_THREADS connections at once; the default
    # listen backlog of 5 would refuse some of them.
    request_queue_size = 128


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self.reply = Reply()
        # Replies used once each, in order, before `reply` (e.g. two 500s, then the default).
        self.replies: list[Reply] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a killed worker): nothing was received.
                    self.close_connection = True
                    return
                received = Received("POST", self.path, dict(self.headers.items()), body)
                with receiver._arrived:
                    receiver.requests.append(received)
                    receiver._arrived.notify_all()
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.reply
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                finally:
                    received.answered_at = time.monotonic()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def unique(self) -> dict[str, Received]:
        """The requests as a receiver that dedupes on `webhook-id` keeps them: first of each."""
        seen: dict[str, Received] = {}
        for received in list(self.requests):
            seen.setdefault(received.headers["webhook-id"], received)
        return seen

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests have arrived; fail the test if they do not."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} request(s), got {len(self.requests)} in {timeout} s")
                self._arrived.wait(remaining)
            return list(self.requests)
