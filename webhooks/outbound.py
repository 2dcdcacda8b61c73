"""Every outgoing HTTP request goes through here.

One wall-clock deadline bounds each request, from the connection to the last byte of
the body (`Deadline`); redirects are never followed; response headers and bodies are
kept up to a cap; and every failure becomes one `OutboundError` with a sentence a
marketer can read ("Connection refused", "Timed out after 15 s").

Connections are opened by `GuardedHTTPConnection`, which resolves the host itself,
refuses private addresses (`ssrf`) and connects to the address it checked: there is
no second DNS lookup that a rebinding attacker could answer differently. The Host
header, TLS SNI and certificate checks still use the host name of the URL.

A send thread may also write a few requests to one endpoint, each on a connection of
its own, before it reads any answer (`Exchange`): the receiver works on the next while
the thread writes, and answers read when they have arrived cost no wait.
"""

from __future__ import annotations

import base64
import errno
import functools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPException, LineTooLong, RemoteDisconnected
from ssl import CertificateError
from ssl import SSLError as BaseSSLError
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.utils import DEFAULT_ACCEPT_ENCODING, DEFAULT_CA_BUNDLE_PATH, check_header_validity
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout
from urllib3.util import connection as urllib3_connection

from webhooks import answers, deadlines, response_head, ssrf
from webhooks.deadlines import WATCHDOG, Deadline, deadline_of

USER_AGENT = "brevo-hooks/1.0 (+https://github.com/brevo-hooks)"
# Enough of a response to debug with. A little more is read so that the connection can
# carry the next request; a longer answer closes it instead (see _read_capped).
MAX_RESPONSE_BYTES = 64 * 1024
DRAIN_BYTES = 64 * 1024
# Response headers kept, in all (http.client itself refuses lines over 64 KiB and more
# than 100 headers).
MAX_RESPONSE_HEADER_BYTES = 16 * 1024


class OutboundError(Exception):
    """A request that got no HTTP answer; `str()` is the readable reason."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    duration_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = MAX_RESPONSE_BYTES) -> str:
        return self.body[:limit].decode("utf-8", errors="replace")


class GuardedConnectionMixin:
    """Resolve and check the host, then connect to one of the checked addresses.

    Answers are read by `response_head.Response`: http.client's, with a faster reading
    of plain header blocks.
    """

    response_class = response_head.Response

    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list[tuple[int, int, int | bytes]] | None

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        # Raises ssrf.UnsafeURL, which urllib3 does not catch, so it reaches `post` as is.
        addresses = ssrf.checked_addresses(self.host.strip("[]").rstrip("."), self.port)
        error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
                # The deadline covers the TLS handshake and everything after it.
                deadlines.watch(sock)
                return sock
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]

    def request(self, *args: object, **kwargs: object) -> None:
        # A kept-alive connection was made under an earlier request's deadline.
        deadlines.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """urllib3's pool manager with the guarded connection pools, one per sending thread.

    Requests go through urllib3 directly: requests.Session cost as much CPU per delivery
    as everything else a worker does, for merging and preparing what is the same every
    time. What goes on the wire is what the Session sent (see `_headers`).
    """

    def __init__(self) -> None:
        # The sizes of requests' default adapter. Certificates are checked against the
        # same CA bundle as requests (certifi), by host name: the pools only pick the
        # address to connect to.
        super().__init__(
            num_pools=10, maxsize=10, block=False, cert_reqs="CERT_REQUIRED", ca_certs=DEFAULT_CA_BUNDLE_PATH
        )
        self.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}
        self._known: dict[tuple[str, str | None, int | None], HTTPConnectionPool] = {}

    def pool_for(self, scheme: str, host: str | None, port: int | None) -> HTTPConnectionPool:
        """The pool of an endpoint, without building and normalizing a pool key each time
        (a worker posts to the same few endpoints over and over)."""
        key = (scheme, host, port)
        pool = self._known.get(key)
        if pool is None or pool.pool is None:  # a pool the manager evicted is closed
            if len(self._known) >= 64:
                self._known.clear()
            pool = self._known[key] = self.connection_from_host(host, port=port, scheme=scheme)
        return pool

    def close(self) -> None:
        """Drop the kept-alive connections (say, once the SSRF rules changed)."""
        self._known.clear()
        self.clear()


_local = threading.local()


def session() -> GuardedPoolManager:
    # One pool manager per thread (workers send from a thread pool) keeps connections
    # alive between deliveries, as the per-thread requests.Session did. No proxies or
    # .netrc credentials are ever picked up from the environment: urllib3 reads neither.
    manager = getattr(_local, "manager", None)
    if manager is None:
        manager = _local.manager = GuardedPoolManager()
    return manager


# What requests.Session sent before a request's own headers, in this order.
DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept-Encoding": DEFAULT_ACCEPT_ENCODING,
    "Accept": "*/*",
    "Connection": "keep-alive",
}
_DEFAULT_STORE = {name.lower(): (name, value) for name, value in DEFAULT_HEADERS.items()}
# Connect failures are not retried and read failures raise as they are (requests' default).
NO_RETRIES = Retry(0, read=False)


@dataclass(frozen=True)
class Target:
    """What requests made of a URL: where to connect, the request target, URL credentials."""

    scheme: str
    host: str | None
    port: int | None
    path: str
    authorization: str | None


@functools.lru_cache(maxsize=1024)
def split_credentials(url: str) -> tuple[str, str | None]:
    """`url` without `user:password@`, and the Basic Authorization value they make (None without)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return urlunsplit(parts._replace(netloc=host)), "Basic " + base64.b64encode(credentials.encode()).decode()


@functools.lru_cache(maxsize=1024)
def target(url: str) -> Target:
    # requests' own URL preparation (IDNA, percent-encoding), cached: a worker posts to
    # the same few URLs over and over. It raises requests' InvalidURL and MissingSchema.
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    assert prepared.url is not None
    parts = urlparse(prepared.url)
    try:
        port = parts.port
    except ValueError as exc:
        raise requests.exceptions.InvalidURL(exc) from exc
    _, authorization = split_credentials(prepared.url)
    return Target(parts.scheme.lower(), parts.hostname, port, prepared.path_url, authorization)


def _headers(headers: dict[str, str], body: bytes | None, authorization: str | None) -> dict[str, str]:
    """The headers requests.Session sent: its defaults, then ours over them (case-insensitively,
    in place), then Content-Length, then the Authorization of user:password@ in the URL."""
    store = dict(_DEFAULT_STORE)
    for header in headers.items():
        check_header_validity(header)  # no CR/LF smuggled into a header; raises InvalidHeader
        store[header[0].lower()] = header
    if body:
        store["content-length"] = ("Content-Length", str(len(body)))
    elif "content-length" not in store:
        store["content-length"] = ("Content-Length", "0")
    if authorization is not None:
        store["authorization"] = ("Authorization", authorization)
    return dict(store.values())


# The URL's own checks (scheme, host, characters) depend on nothing else: a worker posts
# to the same few URLs over and over. Refused URLs raise, and are not cached.
checked_url = functools.lru_cache(maxsize=1024)(ssrf.parse)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Response:
    """POST `body` to `url`; return the response, or raise OutboundError.

    Everything, from resolving the host to the last byte kept of the body, happens
    within `timeout` seconds (WEBHOOKS_TIMEOUT by default). The URL is checked against
    the SSRF rules as the connection is made.
    """
    timeout = timeout if timeout is not None else settings.WEBHOOKS_TIMEOUT
    started = time.monotonic()
    with deadline_of(timeout) as deadline:
        stage = Stage()
        try:
            status, answer_headers, content = _exchange(url, body, headers, deadline, stage)
        except Exception as exc:  # every failure is the request's own, told in a sentence
            raise OutboundError(_sentence(exc, deadline, timeout, stage.reading)) from None
    duration_ms = int((time.monotonic() - started) * 1000)
    return Response(status, answer_headers, content, duration_ms)


def _sentence(exc: BaseException, deadline: Deadline, timeout: float, reading: bool) -> str:
    if isinstance(exc, (OutboundError, ssrf.UnsafeURL)):
        return str(exc)
    if deadline.passed or isinstance(exc, TimeoutError):
        return answers.timed_out(timeout)
    return describe(exc, timeout, reading=reading)


class Stage:
    """How far a request got: errors while reading the body read differently."""

    reading = False


def _prepare(url: str, body: bytes | None, headers: dict[str, str]) -> tuple[HTTPConnectionPool, str, dict[str, str]]:
    """The URL checked (SSRF rules, then requests' parsing), its pool, its path and the headers on the wire."""
    checked_url(url)
    try:
        where = target(url)
    except requests.exceptions.RequestException as exc:
        raise OutboundError("Invalid URL") from exc
    pool = session().pool_for(where.scheme, where.host, where.port)
    try:
        prepared = _headers(headers, body, where.authorization)
    except requests.exceptions.RequestException as exc:
        raise OutboundError("The request failed") from exc
    return pool, where.path, prepared


def _exchange(
    url: str, body: bytes, headers: dict[str, str], deadline: Deadline, stage: Stage
) -> tuple[int, dict[str, str], bytes]:
    body_or_none = body or None  # requests sent no body at all for an empty one
    pool, path, prepared = _prepare(url, body_or_none, headers)
    remaining = deadline.remaining()
    response = pool.urlopen(
        "POST",
        path,
        body=body_or_none,
        headers=prepared,
        retries=NO_RETRIES,
        redirect=False,
        assert_same_host=False,
        timeout=Timeout(connect=remaining, read=remaining),
        preload_content=False,
        decode_content=False,
        chunked=False,
    )
    stage.reading = True
    return _read_answer(response, deadline)


def _read_answer(response: BaseHTTPResponse, deadline: Deadline) -> tuple[int, dict[str, str], bytes]:
    """Status, capped headers and capped body; the connection goes back to its pool if it can carry more."""
    complete = False
    try:
        content, complete = _read_capped(response, deadline)
    finally:
        if not complete:
            # Unread bytes are left on the connection: it cannot carry another request.
            response.close()
        response.release_conn()
    return response.status, capped_headers(response.headers.items()), content


class Exchange:
    """A POST written now whose answer is read later (`answer`), on this thread or another.

    A send thread writes a few requests to one endpoint this way, each on a kept-alive
    connection of its own, then reads their answers in turn (webhooks.sending.request.Senders):
    one thread posting to the bench's receiver took 72 µs of CPU a request four at a time
    against 100 µs one at a time, and sent twice as many a second. Each exchange has its
    own deadline, from the moment it is written, and its failures read as `post`'s do:
    urllib3's pool does the connecting as in `post`, and what its `urlopen` would have made
    of an error is made of it here (`_as_urlopen_raised`).
    """

    def __init__(self, url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> None:
        self.timeout = timeout if timeout is not None else settings.WEBHOOKS_TIMEOUT
        self.started = time.monotonic()
        self.deadline = Deadline(self.timeout)
        self.failed: OutboundError | None = None
        self._pool: HTTPConnectionPool | None = None
        self._conn: HTTPConnection | None = None
        self._path = ""
        WATCHDOG.watch(self.deadline)
        try:
            with deadlines.within(self.deadline):  # a new connection's socket is cut at this deadline
                self._write(url, body or None, headers)
        except Exception as exc:
            self._fail(_as_urlopen_raised(exc, self._pool, self._path), reading=False)

    def _write(self, url: str, body: bytes | None, headers: dict[str, str]) -> None:
        pool, self._path, prepared = _prepare(url, body, headers)
        self._pool = pool
        self._conn = conn = pool._get_conn()  # a kept-alive one, unless it was dropped
        conn.timeout = self.deadline.remaining()
        pool._validate_conn(conn)  # connects now if it is HTTPS, as urlopen does
        try:
            conn.request(
                "POST", self._path, body=body, headers=prepared, chunked=False,
                preload_content=False, decode_content=False,
            )  # fmt: skip
        except OSError as exc:
            # As urllib3: a server may close its end once it has answered; the answer is still read.
            if not isinstance(exc, BrokenPipeError) and exc.errno not in (errno.EPROTOTYPE, errno.ECONNRESET):
                raise

    def answer(self) -> Response:
        """Read the answer, waiting for it until the deadline at most; raise OutboundError for a failure."""
        reading = False
        try:
            if self.failed is None:
                assert self._conn is not None and self._pool is not None
                self._conn.timeout = self.deadline.remaining()
                try:
                    response = self._conn.getresponse()
                except Exception as exc:
                    raise _as_urlopen_raised(exc, self._pool, self._path) from exc
                response._connection = self._conn  # type: ignore[attr-defined]  # as urlopen: released to its pool
                response._pool = self._pool  # type: ignore[attr-defined]
                self._conn = None
                reading = True
                status, answer_headers, content = _read_answer(response, self.deadline)
                return Response(status, answer_headers, content, int((time.monotonic() - self.started) * 1000))
        except Exception as exc:
            self._fail(exc, reading)
        finally:
            self.deadline.finish()
        raise self.failed  # type: ignore[misc]

    def _fail(self, exc: BaseException, reading: bool) -> None:
        self.failed = OutboundError(_sentence(exc, self.deadline, self.timeout, reading))
        if self._conn is not None and self._pool is not None:
            # As urlopen does with a connection that failed: closed, and its place in the pool freed.
            self._conn.close()
            self._pool._put_conn(None)  # type: ignore[arg-type]
            self._conn = None
        self.deadline.finish()


def _as_urlopen_raised(exc: BaseException, pool: HTTPConnectionPool | None, path: str) -> BaseException:
    """What `pool.urlopen` with NO_RETRIES raises for `exc` raised while connecting, writing or
    reading the status line and headers, so that `describe` tells it in the same sentence."""
    if isinstance(exc, (OutboundError, ssrf.UnsafeURL)):
        return exc
    if isinstance(exc, socket.timeout):
        return ReadTimeoutError(pool, path, f"Read timed out. ({exc})")  # type: ignore[arg-type]
    if isinstance(exc, (BaseSSLError, CertificateError)):
        exc = SSLError(exc)
    elif isinstance(exc, (OSError, HTTPException)):
        exc = ProtocolError("Connection aborted.", exc)
    if isinstance(exc, (ReadTimeoutError, ProtocolError)):
        return exc  # read errors are raised as they are (read=False)
    return MaxRetryError(pool, path, reason=exc)  # type: ignore[arg-type]  # connect and TLS errors


def capped_headers(items: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> dict[str, str]:
    """The response headers, up to MAX_RESPONSE_HEADER_BYTES in all; the rest is dropped."""
    kept: dict[str, str] = {}
    size = 0
    for name, value in items:
        size += len(name) + len(value) + 4
        if size > MAX_RESPONSE_HEADER_BYTES:
            break
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _read_capped(response: BaseHTTPResponse, deadline: Deadline) -> tuple[bytes, bool]:
    """Up to MAX_RESPONSE_BYTES of the body, and whether the whole body was read.

    A little past the cap is read and dropped so that a kept-alive connection can carry
    the next request; a longer body (50 MB, say) is not worth the time: the connection
    is closed instead. The watchdog cuts a body that trickles past the deadline.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(8192, decode_content=True):
        if size < MAX_RESPONSE_BYTES:
            chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES + DRAIN_BYTES:
            return b"".join(chunks)[:MAX_RESPONSE_BYTES], False
        if deadline.expired:
            raise TimeoutError
    return b"".join(chunks)[:MAX_RESPONSE_BYTES], True


def describe(exc: BaseException, timeout: float, reading: bool = False) -> str:
    """A short, human sentence for a failed request.

    `exc` is what urllib3 or http.client raised, while sending and waiting for the answer
    or, with `reading`, while reading the body. The sentences for ordinary failures are
    those of the requests.Session this replaced.
    """
    if isinstance(exc, OutboundError):
        return str(exc)
    if isinstance(exc, MaxRetryError):  # how urllib3 reports a failed connect
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return answers.timed_out(timeout, connecting=True)
        if isinstance(reason, SSLError):
            return TLS_FAILED
        return _cause(exc) or "Could not connect to the server"
    if isinstance(exc, SSLError):
        return TLS_FAILED
    if isinstance(exc, ReadTimeoutError) and not reading:
        return answers.timed_out(timeout)
    if isinstance(exc, DecodeError) and reading:
        return "The response could not be decoded"
    if isinstance(exc, (UnicodeError, ValueError)):
        # A header or URL that http.client cannot encode; validation should have caught it.
        return "The request could not be encoded (check the URL and the custom headers)"
    return _cause(exc) or _lost(exc, reading)


TLS_FAILED = "TLS handshake failed: the server's certificate could not be verified"


def _lost(exc: BaseException, reading: bool) -> str:
    if isinstance(exc, ProtocolError) and reading:
        return "The server closed the connection before the response was complete"
    # A read timeout mid-body read as a lost connection with requests, and still does.
    if isinstance(exc, (ProtocolError, OSError, ClosedPoolError)) or (reading and isinstance(exc, ReadTimeoutError)):
        return "Could not connect to the server"
    return "The request failed"


# What a receiver did, by the exception it caused, most specific first.
CAUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ConnectionRefusedError, "Connection refused"),
    ((NameResolutionError, socket.gaierror), "Could not resolve the host name"),
    (RemoteDisconnected, "The server closed the connection without answering"),
    (ConnectionResetError, "Connection reset by the server"),
    (LineTooLong, "The answer was not valid HTTP: a header line longer than 64 KiB"),
    (HTTPException, "The answer was not valid HTTP"),
)


def _cause(exc: BaseException) -> str | None:
    cause: BaseException | None = exc
    for _ in range(10):  # causes can form a cycle; a few links are enough
        if cause is None:
            break
        for kind, sentence in CAUSES:
            if isinstance(cause, kind):
                return sentence
        cause = cause.__cause__ or cause.__context__ or _first_arg_exception(cause)
    return None


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    # urllib3 wraps its causes in `reason` or in args rather than chaining them.
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, BaseException):
            return arg
    return None
