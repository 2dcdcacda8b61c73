"""Reading a receiver's header block without the email package reads it exactly as http.client did."""

from __future__ import annotations

import email.parser
import http.client
import io

import pytest
from urllib3.exceptions import HeaderParsingError
from urllib3.util.response import assert_header_parsing

from tests.hostile import Hostile, answer, send
from webhooks import outbound, response_head

BLOCKS = {
    "plain": b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
    "repeated names": b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nVia: x\r\nVia: y\r\n\r\n",
    "empty and spaced values": b"X-Empty:\r\nX-Spaces:    padded   \r\nX-Tab:\tvalue\r\n\r\n",
    "bare line feeds": b"Content-Length: 2\nX-A: b\n\n",
    "latin-1 and NUL": b"X-Name: caf\xe9\r\nX-Nul: a\x00b\r\n\r\n",
    "no headers": b"\r\n",
    # Each of these goes to the email parser, as before.
    "folded line": b"X-Long: first\r\n  second\r\nX-After: 1\r\n\r\n",
    "bare CR in a value": b"X-A: one\rtwo\r\nX-B: 2\r\n\r\n",
    "NEL in a value": b"X-A: one\x85two\r\nX-B: 2\r\n\r\n",
    "vertical tab and form feed": b"X-A: one\x0btwo\r\nX-B: \x0c\r\n\r\n",
    "a line that is no header": b"X-A: 1\r\nnot a header\r\nX-B: 2\r\n\r\n",
    "a line that starts with a colon": b": no name\r\nX-B: 2\r\n\r\n",
    "a space in the name": b"Bad Name: v\r\nX-B: 2\r\n\r\n",
    "an envelope line": b"From someone\r\nX-B: 2\r\n\r\n",
    "cut before the end": b"X-A: 1\r\nX-B: 2",
    "multipart": b"Content-Type: multipart/mixed; boundary=x\r\nContent-Length: 0\r\n\r\n",
    "message": b"Content-Type: message/rfc822\r\n\r\n",
}


def parse_error(message: http.client.HTTPMessage) -> str | None:
    """What urllib3's own check of the parsed block says (it logs a warning when not None)."""
    try:
        assert_header_parsing(message)
    except HeaderParsingError as exc:
        return type(exc).__name__
    return None


@pytest.mark.parametrize("name", list(BLOCKS))
def test_a_header_block_is_read_as_http_client_reads_it(name):
    block = BLOCKS[name] + b"the body, which is not read"
    ours, theirs = io.BytesIO(block), io.BytesIO(block)
    fast = response_head.parse_headers(ours)
    slow = http.client.parse_headers(theirs)
    assert fast.items() == slow.items()
    assert fast.get("content-length") == slow.get("content-length")
    assert parse_error(fast) == parse_error(slow)
    assert ours.tell() == theirs.tell()  # the body starts where it did


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"X-Long: " + b"x" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
        (b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n", http.client.HTTPException),
    ],
    ids=["a 70 KB line", "101 headers"],
)
def test_http_clients_limits_hold(block, error):
    with pytest.raises(error):
        response_head.parse_headers(io.BytesIO(block))


@pytest.fixture
def no_email_parser(monkeypatch):
    """The email package's parser, made to fail: what still works did not use it."""

    def refuse(self, text, headersonly=False):
        raise AssertionError("the email parser was used")

    monkeypatch.setattr(email.parser.Parser, "parsestr", refuse)


@pytest.fixture(autouse=True)
def private_urls(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the receivers listen on 127.0.0.1


def post_to(behaviour) -> outbound.Response:
    """A delivery's POST to a receiver on a real socket that answers as `behaviour` says."""
    server = Hostile(behaviour).start()
    try:
        return outbound.post(server.url, b"{}", {"Content-Type": "application/json"}, timeout=10)
    finally:
        server.stop()


def test_a_plain_answer_is_read_without_the_email_parser(no_email_parser):
    response = post_to(answer(headers={b"X-Request-Id": b"abc"}, body=b"fine"))
    assert response.status == 200
    assert response.headers["X-Request-Id"] == "abc"
    assert response.body == b"fine"


def test_a_folded_header_on_the_wire_is_read_as_before():
    raw = b"HTTP/1.1 200 OK\r\nX-Long: first\r\n second\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
    response = post_to(send(raw))
    assert response.status == 200
    assert response.headers["X-Long"] == "first second"
    assert response.body == b"OK"


@pytest.mark.parametrize(
    ("raw", "status", "body"),
    [
        (b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 204, b""),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n", 200, b"OK"),
        (
            b"HTTP/1.1 100 Continue\r\nX-Skipped: 1\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nOK",
            202,
            b"OK",
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: -5\r\n\r\nuntil the end", 200, b"until the end"),
    ],
    ids=["204 without a length", "chunked", "100 Continue first", "a negative length"],
)
def test_how_a_body_is_framed_is_read_as_http_client_reads_it(raw, status, body):
    response = post_to(send(raw))
    assert (response.status, response.body) == (status, body)
    assert "X-Skipped" not in response.headers
