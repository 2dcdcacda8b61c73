"""Every outgoing HTTP request goes through here.

Timeouts are always set, redirects are never followed, response bodies are read
up to a cap, and every failure becomes one `OutboundError` with a sentence a
marketer can read ("Connection refused", "Timed out after 15 s").

Connections are opened by `GuardedHTTPConnection`, which resolves the host itself,
refuses private addresses (`ssrf`) and connects to the address it checked: there is
no second DNS lookup that a rebinding attacker could answer differently. The Host
header, TLS SNI and certificate checks still use the host name of the URL.
"""

from __future__ import annotations

import base64
import functools
import socket
import threading
import time
from dataclasses import dataclass
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
    HTTPError,
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

from webhooks import ssrf

USER_AGENT = "brevo-hooks/1.0 (+https://github.com/brevo-hooks)"
# Enough of a response to debug with; the rest is read and dropped.
MAX_RESPONSE_BYTES = 64 * 1024


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
    """Resolve and check the host, then connect to one of the checked addresses."""

    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list[tuple[int, int, int | bytes]] | None

    def _new_conn(self) -> socket.socket:
        # Raises ssrf.UnsafeURL, which urllib3 does not catch, so it reaches `post` as is.
        addresses = ssrf.checked_addresses(self.host.strip("[]").rstrip("."), self.port)
        error: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]


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

    def close(self) -> None:
        """Drop the kept-alive connections (say, once the SSRF rules changed)."""
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

    The URL is checked against the SSRF rules as the connection is made.
    """
    timeout = timeout if timeout is not None else settings.WEBHOOKS_TIMEOUT
    started = time.monotonic()
    try:
        checked_url(url)
    except ssrf.UnsafeURL as exc:
        raise OutboundError(str(exc)) from None
    try:
        where = target(url)
        body_or_none = body or None  # requests sent no body at all for an empty one
        pool = session().connection_from_host(where.host, port=where.port, scheme=where.scheme)
        response = pool.urlopen(
            "POST",
            where.path,
            body=body_or_none,
            headers=_headers(headers, body_or_none, where.authorization),
            retries=NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            timeout=Timeout(connect=timeout, read=timeout),
            preload_content=False,
            decode_content=False,
            chunked=False,
        )
    except ssrf.UnsafeURL as exc:
        raise OutboundError(str(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise OutboundError(describe(exc, timeout)) from exc
    except (UnicodeError, ValueError) as exc:
        # A header or URL that http.client cannot encode; validation should have caught it.
        raise OutboundError("The request could not be encoded (check the URL and the custom headers)") from exc
    except (HTTPError, OSError) as exc:
        raise OutboundError(describe(exc, timeout)) from exc
    complete = False
    try:
        content = _read_capped(response, deadline=started + timeout)
        complete = True
    except TimeoutError:
        raise OutboundError(f"Timed out after {timeout:g} s") from None
    except HTTPError as exc:
        raise OutboundError(describe(exc, timeout, reading=True)) from exc
    finally:
        if not complete:
            # Unread bytes left on the connection: it cannot carry another request.
            response.close()
        response.release_conn()
    duration_ms = int((time.monotonic() - started) * 1000)
    return Response(response.status, dict(response.headers), content, duration_ms)


def _read_capped(response: BaseHTTPResponse, deadline: float) -> bytes:
    # The read timeout applies to each chunk; the deadline stops a server that
    # trickles a byte at a time from holding a worker forever.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(8192, decode_content=True):
        if size < MAX_RESPONSE_BYTES:
            chunks.append(chunk)
            size += len(chunk)
        if time.monotonic() > deadline:
            if size >= MAX_RESPONSE_BYTES:
                response.close()  # the rest is not worth waiting for
                break
            raise TimeoutError
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


def describe(exc: BaseException, timeout: float, reading: bool = False) -> str:
    """A short, human sentence for a failed request.

    `exc` is what urllib3 raised, while sending and waiting for the answer or, with
    `reading`, while reading the body; or one of requests' exceptions for a URL or a
    header it refused. The sentences are those of the requests.Session this replaced.
    """
    if isinstance(exc, MaxRetryError):  # how urllib3 reports a failed connect
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return f"Timed out after {timeout:g} s while connecting"
        if isinstance(reason, SSLError):
            return "TLS handshake failed: the server's certificate could not be verified"
        return _cause(exc) or "Could not connect to the server"
    if isinstance(exc, SSLError):
        return "TLS handshake failed: the server's certificate could not be verified"
    if isinstance(exc, ReadTimeoutError) and not reading:
        return f"Timed out after {timeout:g} s"
    if isinstance(exc, DecodeError) and reading:
        return "The response could not be decoded"
    if isinstance(exc, requests.exceptions.RequestException):
        # Refused before anything was sent: a URL or a header requests would not take.
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return "Invalid URL"
        return "The request failed"
    cause = _cause(exc)
    if cause:
        return cause
    if isinstance(exc, ProtocolError) and reading:
        return "The server closed the connection before the response was complete"
    # A read timeout mid-body read as a lost connection with requests, and still does.
    if isinstance(exc, (ProtocolError, OSError, ClosedPoolError)) or (reading and isinstance(exc, ReadTimeoutError)):
        return "Could not connect to the server"
    return "The request failed"


def _cause(exc: BaseException) -> str | None:
    cause: BaseException | None = exc
    for _ in range(10):  # causes can form a cycle; a few links are enough
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "Connection refused"
        if isinstance(cause, (NameResolutionError, socket.gaierror)):
            return "Could not resolve the host name"
        if isinstance(cause, ConnectionResetError):
            return "Connection reset by the server"
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
