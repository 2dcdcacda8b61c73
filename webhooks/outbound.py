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

import socket
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
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


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


_local = threading.local()


def session() -> requests.Session:
    # One session per thread (workers send from a thread pool; a Session is not
    # thread-safe) keeps connections alive between deliveries.
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
        _local.session.trust_env = False  # no proxies or .netrc credentials picked up from the environment
        adapter = GuardedAdapter()
        _local.session.mount("http://", adapter)
        _local.session.mount("https://", adapter)
    return _local.session


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Response:
    """POST `body` to `url`; return the response, or raise OutboundError.

    The URL is checked against the SSRF rules as the connection is made.
    """
    timeout = timeout if timeout is not None else settings.WEBHOOKS_TIMEOUT
    started = time.monotonic()
    try:
        ssrf.parse(url)
    except ssrf.UnsafeURL as exc:
        raise OutboundError(str(exc)) from None
    try:
        response = session().post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            content = _read_capped(response, deadline=started + timeout)
        finally:
            response.close()
    except ssrf.UnsafeURL as exc:
        raise OutboundError(str(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise OutboundError(describe(exc, timeout)) from exc
    except (UnicodeError, ValueError) as exc:
        # A header or URL that http.client cannot encode; validation should have caught it.
        raise OutboundError("The request could not be encoded (check the URL and the custom headers)") from exc
    except TimeoutError:
        raise OutboundError(f"Timed out after {timeout:g} s") from None
    duration_ms = int((time.monotonic() - started) * 1000)
    return Response(response.status_code, dict(response.headers), content, duration_ms)


def _read_capped(response: requests.Response, deadline: float) -> bytes:
    # The read timeout applies to each chunk; the deadline stops a server that
    # trickles a byte at a time from holding a worker forever.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=8192):
        if size < MAX_RESPONSE_BYTES:
            chunks.append(chunk)
            size += len(chunk)
        if time.monotonic() > deadline:
            if size >= MAX_RESPONSE_BYTES:
                break
            raise TimeoutError
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


def describe(exc: BaseException, timeout: float) -> str:
    """A short, human sentence for a failed request."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"Timed out after {timeout:g} s while connecting"
    if isinstance(exc, (requests.exceptions.ReadTimeout, requests.exceptions.Timeout)):
        return f"Timed out after {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed: the server's certificate could not be verified"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return "Invalid URL"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "The response could not be decoded"
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
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "The server closed the connection before the response was complete"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "Could not connect to the server"
    return "The request failed"


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    # urllib3 wraps its causes in `reason` or in args rather than chaining them.
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, BaseException):
            return arg
    return None
