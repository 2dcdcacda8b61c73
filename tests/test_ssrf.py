"""Server-side request forgery: where a webhook may and may not post."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest

from tests.hostile import written
from webhooks import outbound, ssrf
from webhooks.forms import WebhookForm
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.sending import send


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(address, reason):
    assert reason in ssrf.refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert ssrf.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1"])
def test_numeric_spellings_of_loopback_are_read_as_the_address_they_are(host):
    assert ssrf.literal_address(host) == ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://100.64.1.1/",
        "https://192.168.0.10/",
        "http://0.0.0.0:9000/",
    ],
)
def test_unsafe_urls_are_refused_at_save_time_by_the_form_and_the_api(url, no_private_urls, owner, api_client):
    form = WebhookForm(
        {"type": "transactional", "url": url, "transactional_events": ["delivered"]},
        instance=Webhook(account=owner.account),
    )
    assert not form.is_valid()
    assert "url" in form.errors

    response = api_client.post("/v3/webhooks", {"url": url, "events": ["delivered"]}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert response.json()["message"].startswith("url: ")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "Only http:// and https://"),
        ("http://localhost/", "loopback"),
        ("http://127.0.0.1/", "it is a loopback address"),
        ("http://169.254.169.254/", "metadata"),
        ("http://unresolvable.invalid/", "Could not resolve"),
    ],
)
def test_the_api_says_why_a_url_is_refused(url, message, no_private_urls, api_client):
    response = api_client.post("/v3/webhooks", {"url": url, "events": ["delivered"]}, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_a_public_address_can_be_saved(no_private_urls, api_client):
    response = api_client.post(
        "/v3/webhooks", {"url": "https://93.184.215.14/hook", "events": ["delivered"]}, content_type="application/json"
    )
    assert response.status_code == 201


def test_private_urls_can_be_saved_when_the_setting_allows_them(settings, api_client, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    response = api_client.post(
        "/v3/webhooks", {"url": receiver.url, "events": ["delivered"]}, content_type="application/json"
    )
    assert response.status_code == 201


def test_a_private_url_saved_earlier_is_refused_at_send_time(make_webhook, receiver, no_private_urls):
    webhook = make_webhook(url=receiver.url + "/hook")  # saved while the rule was off
    delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={"event": "delivered"})

    # Refused like any failed attempt: retried by the schedule (DNS may change), never sent there.
    assert send(delivery.pk) == "retry"

    attempt = Attempt.objects.get(delivery=delivery)
    assert "loopback address" in attempt.error
    assert attempt.response_status is None
    assert receiver.requests == []


@pytest.mark.parametrize("post", [outbound.post, written], ids=["post", "written"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://2130706433:{port}/"])
def test_outbound_refuses_to_connect_to_loopback(url, post, receiver, no_private_urls):
    port = receiver.server.server_address[1]
    with pytest.raises(outbound.OutboundError, match="loopback"):
        post(url.format(port=port), b"{}", {})
    assert receiver.requests == []


@pytest.mark.parametrize("post", [outbound.post, written], ids=["post", "written"])
def test_outbound_refuses_other_schemes(post):
    with pytest.raises(outbound.OutboundError, match="Only http:// and https://"):
        post("file:///etc/passwd", b"", {})


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A DNS server for `rebind.test` that answers 127.0.0.1 once, then an unroutable address.

    It stands in for an attacker's name server; every other name goes to the real resolver.
    """
    real = socket.getaddrinfo
    answers: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "rebind.test":
            address = "127.0.0.1" if not answers else "10.255.255.1"
            answers.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_the_connection_goes_to_the_address_that_was_checked(rebinding_dns, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # let the first answer, 127.0.0.1, pass the check
    outbound.session().close()
    port = receiver.server.server_address[1]

    response = outbound.post(f"http://rebind.test:{port}/hook", b"{}", {}, timeout=2)

    # One lookup: had the connection resolved the name again, it would have gone to 10.255.255.1.
    assert rebinding_dns == ["127.0.0.1"]
    assert response.status == 200
    assert receiver.requests[0].headers["Host"] == f"rebind.test:{port}"


def test_a_name_that_resolves_to_a_private_address_is_refused_at_send_time(rebinding_dns, receiver, no_private_urls):
    port = receiver.server.server_address[1]
    with pytest.raises(outbound.OutboundError, match=r"rebind\.test \(127\.0\.0\.1\).*loopback"):
        outbound.post(f"http://rebind.test:{port}/hook", b"{}", {})
    assert receiver.requests == []


def test_redirects_are_not_followed_even_to_a_safe_place(receiver):
    receiver.reply.status = 302
    receiver.reply.headers = {"Location": receiver.url + "/elsewhere"}
    # The redirect is the answer: recorded as a failed attempt with its status and Location.
    response = outbound.post(receiver.url + "/hook", json.dumps({}).encode(), {})
    assert response.status == 302 and not response.ok
    assert response.headers["Location"].endswith("/elsewhere")
    assert [r.path for r in receiver.requests] == ["/hook"]
