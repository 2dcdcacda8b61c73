"""Receivers that misbehave on purpose, on real sockets, for the tests.

Each `Hostile` listens on 127.0.0.1 and answers every connection with one behaviour:
trickling its status line or body a byte at a time, lying in its headers, sending NUL
bytes or invalid UTF-8, a garbage status line, a 2 MB header, a 50 MB body, closing at
once, or never answering at all. It reads the request first (headers and body), so
that the sender always gets as far as waiting for the answer.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from webhooks import outbound

Behaviour = Callable[[socket.socket], None]


def written(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> outbound.Response:
    """What outbound.post does, written first and its answer read after (outbound.Exchange), as a
    send thread writes a few requests to one webhook before it reads their answers."""
    return outbound.Exchange(url, body, headers, timeout).answer()


def written_together(
    url: str, body: bytes, headers: dict[str, str], timeout: float | None = None, count: int = 2
) -> list[outbound.Response | outbound.OutboundError]:
    """`count` such requests to `url`, all written before the first answer is read; each one's outcome."""
    exchanges = [outbound.Exchange(url, body, headers, timeout) for _ in range(count)]
    outcomes: list[outbound.Response | outbound.OutboundError] = []
    for exchange in exchanges:
        try:
            outcomes.append(exchange.answer())
        except outbound.OutboundError as exc:
            outcomes.append(exc)
    return outcomes


def _answer(status: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
    lines = [b"HTTP/1.1 " + status]
    lines += [name + b": " + value for name, value in headers.items()]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def trickle(data: bytes, every: float = 1.0) -> Behaviour:
    def run(conn: socket.socket) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return run


def send(data: bytes) -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(data)

    return run


def answer(status: bytes = b"200 OK", headers: dict[bytes, bytes] | None = None, body: bytes = b"OK") -> Behaviour:
    return send(_answer(status, headers or {}, body))


def trickle_body() -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        trickle(b"x" * 1000)(conn)

    return run


def huge_body(megabytes: int = 50) -> Behaviour:
    def run(conn: socket.socket) -> None:
        size = megabytes * 1024 * 1024
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(size).encode() + b"\r\n\r\n")
        block = b"y" * 65536
        for _ in range(size // len(block)):
            conn.sendall(block)

    return run


def close_at_once() -> Behaviour:
    def run(conn: socket.socket) -> None:
        pass  # closed by the server loop

    return run


def never_answer() -> Behaviour:
    def run(conn: socket.socket) -> None:
        time.sleep(3600)

    return run


# The misbehaviours of issue 8's hostile-receiver suite, by name.
BEHAVIOURS: dict[str, Callable[[], Behaviour]] = {
    "trickled status line": lambda: trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"),
    "trickled body": trickle_body,
    "Retry-After: superscript two": lambda: answer(b"503 Service Unavailable", {b"Retry-After": b"\xb2"}),
    "Retry-After with a -0000 date": lambda: answer(
        b"429 Too Many Requests", {b"Retry-After": b"Wed, 21 Oct 2015 07:28:00 -0000"}
    ),
    "Retry-After of absurd length": lambda: answer(b"503 Service Unavailable", {b"Retry-After": b"9" * 5000}),
    "Retry-After in the far future": lambda: answer(
        b"503 Service Unavailable", {b"Retry-After": b"Fri, 31 Dec 9999 23:59:59 GMT"}
    ),
    "NUL bytes": lambda: answer(b"500 Internal Server Error", {b"X-Nul": b"a\x00b"}, b"bad\x00body\x00"),
    "garbage status line": lambda: send(b"GARBAGE \x00\xff\r\n\r\n"),
    "2 MB header": lambda: answer(b"200 OK", {b"X-Big": b"z" * (2 * 1024 * 1024)}),
    "50 MB body": huge_body,
    "invalid UTF-8": lambda: answer(
        b"500 Internal Server Error", {b"X-Bytes": b"\xff\xfe"}, b"\xff\xfe\xfa\x80 \xed\xa0\x80"
    ),
    "close at once": close_at_once,
    "never answers": never_answer,
}


class Hostile:
    """A TCP server on 127.0.0.1 that reads each request, then misbehaves as told."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Hostile:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                read_request(conn)
                with self._lock:
                    self.requests += 1
                self.behaviour(conn)
            except OSError:
                pass  # the sender gave up, as it should


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request with a Content-Length body; return the body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return body
