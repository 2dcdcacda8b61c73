"""The one module for outgoing HTTP, against a real local server.

Each test runs both ways a request goes: `outbound.post`, and written first with its answer
read after (`outbound.Exchange`, as a send thread writes a few to one webhook at once).
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import threading

import pytest

from tests.hostile import written
from webhooks import outbound


@pytest.fixture(params=["post", "written"])
def send(request):
    return outbound.post if request.param == "post" else written


def test_a_post_returns_status_headers_body_and_duration(receiver, send):
    receiver.reply.status, receiver.reply.body, receiver.reply.headers = 201, b"created", {"X-Seen": "1"}
    response = send(receiver.url + "/x", b'{"a":1}', {"Content-Type": "application/json"})
    assert (response.status, response.body, response.headers["X-Seen"]) == (201, b"created", "1")
    assert response.ok and response.duration_ms >= 0
    [request] = receiver.requests
    assert request.body == b'{"a":1}' and request.headers["User-Agent"].startswith("brevo-hooks/")


def test_redirects_are_not_followed(receiver, send):
    receiver.reply.status, receiver.reply.headers = 302, {"Location": receiver.url + "/elsewhere"}
    response = send(receiver.url, b"{}", {})
    assert response.status == 302 and not response.ok
    assert [r.path for r in receiver.requests] == ["/"]


def test_the_response_body_is_read_up_to_a_cap(receiver, send):
    receiver.reply.body = b"x" * (outbound.MAX_RESPONSE_BYTES * 3)
    response = send(receiver.url, b"{}", {})
    assert len(response.body) == outbound.MAX_RESPONSE_BYTES


def test_a_timeout_is_always_set(receiver, settings, send):
    settings.WEBHOOKS_TIMEOUT = 0.3
    receiver.reply.delay = 1.5
    with pytest.raises(outbound.OutboundError, match=r"^Timed out after 0.3 s$"):
        send(receiver.url, b"{}", {})


@pytest.mark.parametrize(
    "url,message",
    [
        ("http://does-not-exist.invalid/", "Could not resolve the host name does-not-exist.invalid."),
        ("http://127.0.0.1:1/", "Connection refused"),
    ],
)
def test_failures_read_as_a_sentence(url, message, settings, send):
    with pytest.raises(outbound.OutboundError) as exc:
        send(url, b"{}", {})
    assert str(exc.value) == message


def test_url_credentials_become_basic_auth_and_leave_the_url(receiver, send):
    url = receiver.url.replace("http://", "http://bob:p%40ss%20w@") + "/notify?x=1"
    send(url, b"{}", {"Authorization": "Bearer ignored"})
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


@pytest.fixture
def self_signed(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate nobody signed: a TLS handshake must fail."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(65536)
            except OSError:
                pass  # the client refused the certificate, as it should

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://127.0.0.1:{server.getsockname()[1]}/hook"
    server.close()


def test_a_certificate_nobody_signed_fails_the_handshake_in_a_sentence(self_signed, send):
    with pytest.raises(outbound.OutboundError) as exc:
        send(self_signed, b"{}", {}, timeout=5)
    assert str(exc.value) == outbound.TLS_FAILED


def test_requests_written_together_go_on_connections_of_their_own_and_come_back_to_the_pool(receiver):
    receiver.reply.delay = 0.2
    for _ in range(3):
        exchanges = [outbound.Exchange(f"{receiver.url}/{n}", b"{}", {}) for n in range(4)]
        assert [exchange.answer().status for exchange in exchanges] == [200] * 4
    arrived = receiver.requests
    # Each round: all four were out before the first answer came back.
    for round_ in range(3):
        four = arrived[round_ * 4 : round_ * 4 + 4]
        assert max(r.at for r in four) < min(r.answered_at for r in four)
    # The three rounds went on the first round's four connections, kept alive.
    pool = outbound.session().pool_for("http", "127.0.0.1", receiver.server.server_address[1])
    assert pool.num_connections == 4
