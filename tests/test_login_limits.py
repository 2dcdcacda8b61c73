"""Login limits: the app's login and the admin's, by address (behind trusted proxies too), by
account whatever the address, and still counting while Redis is down."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from tests.conftest import PASSWORD

ADMIN_PASSWORD = "operator-" + PASSWORD


@pytest.fixture
def clean_cache(redis, monkeypatch):
    from accounts import ratelimit

    cache.clear()
    ratelimit.forget_local_counts()
    # The limiter counts in fixed windows; pin the clock so that a window boundary
    # falling inside a test cannot reset the count half-way.
    now = time.time()
    monkeypatch.setattr("accounts.ratelimit.now", lambda: now)
    yield
    cache.clear()
    ratelimit.forget_local_counts()


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("ops@brevo-hooks.test", ADMIN_PASSWORD)


def admin_login(client: Client, password: str) -> int:
    return client.post(
        "/admin/login/?next=/admin/", {"username": "ops@brevo-hooks.test", "password": password}
    ).status_code


def test_the_admin_login_is_limited_like_the_apps(operator, clean_cache):
    client = Client()
    assert [admin_login(client, "wrong") for _ in range(10)] == [200] * 10
    response = client.post("/admin/login/?next=/admin/", {"username": operator.email, "password": ADMIN_PASSWORD})
    assert response.status_code == 429
    assert response["Retry-After"]
    assert "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address still gets in.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert admin_login(other, ADMIN_PASSWORD) == 302


def test_one_address_cannot_spray_the_admin_either(db, clean_cache):
    client = Client()
    statuses = [
        client.post("/admin/login/", {"username": f"ops{n}@x.test", "password": "x"}).status_code for n in range(51)
    ]
    assert statuses[:50] == [200] * 50 and statuses[50] == 429


def test_an_account_is_limited_whatever_the_address(owner, clean_cache, settings):
    limit = settings.LOGIN_LIMIT_PER_ACCOUNT
    for n in range(limit):
        client = Client(REMOTE_ADDR=f"203.0.113.{n % 250 + 1}", HTTP_X_FORWARDED_FOR="10.0.0.1")
        assert client.post("/login/", {"username": owner.email, "password": f"guess-{n}"}).status_code == 200
    fresh = Client(REMOTE_ADDR="192.0.2.200")
    response = fresh.post("/login/", {"username": owner.email.upper(), "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in fresh.session
    # Other accounts are not affected.
    User.objects.create_user("other@acme.test", PASSWORD, account=owner.account)
    assert fresh.post("/login/", {"username": "other@acme.test", "password": PASSWORD}).status_code == 302


def test_successful_logins_do_not_count_against_the_account(owner, clean_cache, settings):
    for n in range(settings.LOGIN_LIMIT_PER_ACCOUNT + 5):
        client = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        assert client.post("/login/", {"username": owner.email, "password": PASSWORD}).status_code == 302


def test_without_trusted_proxies_x_forwarded_for_is_ignored(owner, clean_cache):
    # Clients behind no proxy could otherwise pick a fresh "address" for every try.
    statuses = [
        Client(HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        .post("/login/", {"username": owner.email, "password": "wrong"})
        .status_code
        for n in range(11)
    ]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429


def test_behind_one_trusted_proxy_each_client_has_its_own_address(owner, clean_cache, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    proxy = "10.0.0.2"  # every request comes from the TLS proxy
    locked = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert [locked.post("/login/", {"username": owner.email, "password": "x"}).status_code for _ in range(11)][
        -1
    ] == 429
    # Another client behind the same proxy is not locked out by the first.
    other = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.post("/login/", {"username": owner.email, "password": PASSWORD}).status_code == 302
    # What a client writes into X-Forwarded-For itself comes first; the proxy's entry, last, is used.
    spoofer = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.77, 198.51.100.1")
    assert spoofer.post("/login/", {"username": owner.email, "password": PASSWORD}).status_code == 429


def test_trusted_proxy_hops_count_from_the_right(rf, settings):
    from accounts.ratelimit import client_address

    request = rf.get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.9, 10.0.0.2")
    for hops, expected in [(0, "10.0.0.3"), (1, "10.0.0.2"), (2, "198.51.100.9"), (3, "192.0.2.1"), (9, "192.0.2.1")]:
        settings.TRUSTED_PROXY_HOPS = hops
        assert client_address(request) == expected
    settings.TRUSTED_PROXY_HOPS = 1
    assert client_address(rf.get("/", REMOTE_ADDR="10.0.0.3")) == "10.0.0.3"  # not through the proxy


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    """The cache pointed at a port where no Redis listens, then put back."""
    real = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    yield
    settings.CACHES = real


def test_while_redis_is_down_logins_are_counted_in_the_process(owner, operator, clean_cache, redis_down):
    client = Client()
    statuses = [client.post("/login/", {"username": owner.email, "password": "wrong"}).status_code for _ in range(15)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429] * 5
    admin = Client(REMOTE_ADDR="192.0.2.10")
    assert [admin_login(admin, "wrong") for _ in range(11)][-1] == 429
