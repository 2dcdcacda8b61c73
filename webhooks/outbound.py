"""Every outgoing HTTP request goes through here.

Timeouts are always set, redirects are never followed, response bodies are read
up to a cap, and every failure becomes one `OutboundError` with a sentence a
marketer can read ("Connection refused", "Timed out after 15 s").
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from urllib3.exceptions import NameResolutionError

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


_local = threading.local()


def session() -> requests.Session:
    # One session per thread (workers send from a thread pool; a Session is not
    # thread-safe) keeps connections alive between deliveries.
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
        _local.session.trust_env = False  # no proxies or .netrc credentials picked up from the environment
        _local.session.max_redirects = 0
    return _local.session


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Response:
    """POST `body` to `url`; return the response, or raise OutboundError."""
    timeout = timeout if timeout is not None else settings.WEBHOOKS_TIMEOUT
    started = time.monotonic()
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
    except requests.exceptions.RequestException as exc:
        raise OutboundError(describe(exc, timeout)) from exc
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
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "Redirects are not followed"
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
