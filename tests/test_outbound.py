"""The one module for outgoing HTTP, against a real local server."""

from __future__ import annotations

import base64

import pytest

from webhooks import outbound


def test_a_post_returns_status_headers_body_and_duration(receiver):
    receiver.reply.status, receiver.reply.body, receiver.reply.headers = 201, b"created", {"X-Seen": "1"}
    response = outbound.post(receiver.url + "/x", b'{"a":1}', {"Content-Type": "application/json"})
    assert (response.status, response.body, response.headers["X-Seen"]) == (201, b"created", "1")
    assert response.ok and response.duration_ms >= 0
    [request] = receiver.requests
    assert request.body == b'{"a":1}' and request.headers["User-Agent"].startswith("brevo-hooks/")


def test_redirects_are_not_followed(receiver):
    receiver.reply.status, receiver.reply.headers = 302, {"Location": receiver.url + "/elsewhere"}
    response = outbound.post(receiver.url, b"{}", {})
    assert response.status == 302 and not response.ok
    assert [r.path for r in receiver.requests] == ["/"]


def test_the_response_body_is_read_up_to_a_cap(receiver):
    receiver.reply.body = b"x" * (outbound.MAX_RESPONSE_BYTES * 3)
    response = outbound.post(receiver.url, b"{}", {})
    assert len(response.body) == outbound.MAX_RESPONSE_BYTES


def test_a_timeout_is_always_set(receiver, settings):
    settings.WEBHOOKS_TIMEOUT = 0.3
    receiver.reply.delay = 1.5
    with pytest.raises(outbound.OutboundError, match=r"^Timed out after 0.3 s$"):
        outbound.post(receiver.url, b"{}", {})


@pytest.mark.parametrize(
    "url,message",
    [
        ("http://does-not-exist.invalid/", "Could not resolve the host name does-not-exist.invalid."),
        ("http://127.0.0.1:1/", "Connection refused"),
    ],
)
def test_failures_read_as_a_sentence(url, message, settings):
    with pytest.raises(outbound.OutboundError) as exc:
        outbound.post(url, b"{}", {})
    assert str(exc.value) == message


def test_url_credentials_become_basic_auth_and_leave_the_url(receiver):
    url = receiver.url.replace("http://", "http://bob:p%40ss%20w@") + "/notify?x=1"
    outbound.post(url, b"{}", {"Authorization": "Bearer ignored"})
    [request] = receiver.requests
    # As requests did for export notifications: the URL's credentials win over a header.
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:p@ss w").decode()
    assert request.path == "/notify?x=1"


@pytest.mark.parametrize(
    "url,bare,credentials",
    [
        ("https://example.com/h", "https://example.com/h", None),
        ("https://u@example.com/h", "https://example.com/h", b"u:"),
        ("https://:p@example.com:8443/h", "https://example.com:8443/h", b":p"),
        ("https://u:p@[2001:db8::1]:8443/h", "https://[2001:db8::1]:8443/h", b"u:p"),
        ("https://j%C3%B6rg:%C3%A9@example.com/", "https://example.com/", "jörg:é".encode()),
    ],
)
def test_split_credentials(url, bare, credentials):
    expected = None if credentials is None else "Basic " + base64.b64encode(credentials).decode()
    assert outbound.split_credentials(url) == (bare, expected)
