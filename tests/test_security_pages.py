"""The pages around security: signing secret, API keys, login limits, CSRF, isolation, deploy checks."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import ApiKey
from tests.conftest import PASSWORD, ROOT
from webhooks.models import Webhook


def test_the_webhook_page_hides_the_secret_until_revealed(owner_client, make_webhook):
    webhook = make_webhook()
    page = owner_client.get(f"/webhooks/{webhook.pk}/").content.decode()
    assert webhook.signing_secret not in page
    assert "Reveal" in page
    assert "standardwebhooks" in page  # the verification example

    revealed = owner_client.get(f"/webhooks/{webhook.pk}/?reveal=1")
    assert webhook.signing_secret in revealed.content.decode()
    assert "no-store" in revealed["Cache-Control"]


def test_the_rotate_button_makes_a_new_secret_and_keeps_the_old_one_for_a_while(owner_client, make_webhook):
    webhook = make_webhook()
    old = webhook.signing_secret
    assert owner_client.get(f"/webhooks/{webhook.pk}/secret/rotate/").status_code == 405
    response = owner_client.post(f"/webhooks/{webhook.pk}/secret/rotate/", follow=True)
    webhook.refresh_from_db()
    assert webhook.signing_secret != old
    assert webhook.signing_secrets() == [webhook.signing_secret, old]
    assert "keeps working until" in response.content.decode()


def test_the_egress_ranges_are_shown_and_served_as_json(owner_client, make_webhook, settings, client):
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24", "2001:db8::/48"]
    page = owner_client.get(f"/webhooks/{make_webhook().pk}/").content.decode()
    assert 'href="/webhooks/ip-addresses/"' in page
    assert "203.0.113.0/24" in owner_client.get("/webhooks/ip-addresses/").content.decode()
    assert client.get("/egress-ips.json").json() == {"egressIpRanges": ["203.0.113.0/24", "2001:db8::/48"]}


def test_the_form_saves_a_bearer_token_and_custom_headers(owner_client, owner):
    response = owner_client.post(
        "/webhooks/new/",
        {
            "type": "transactional",
            "url": "https://example.com/hook",
            "transactional_events": ["delivered"],
            "auth_token": "form-token",
            "custom_headers": "X-Api-Key: abc\nX-Tenant: acme",
        },
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert webhook.auth_token == "form-token"
    assert webhook.headers == [{"key": "X-Api-Key", "value": "abc"}, {"key": "X-Tenant", "value": "acme"}]
    edit = owner_client.get(f"/webhooks/{webhook.pk}/edit/").content.decode()
    assert "form-token" not in edit


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ("Host: evil.test", "set by brevo-hooks"),
        ("webhook-id: x", "set by brevo-hooks"),
        ("Authorization: Basic x", "bearer token"),
        ("no colon here", "Name: value"),
        ("X-A: caf\u00e9", "plain ASCII"),
    ],
)
def test_the_form_refuses_reserved_or_malformed_headers_next_to_the_field(owner_client, headers, error):
    response = owner_client.post(
        "/webhooks/new/",
        {
            "type": "transactional",
            "url": "https://e.com/h",
            "transactional_events": ["delivered"],
            "custom_headers": headers,
        },
    )
    assert response.status_code == 400
    assert error in response.context["form"].errors["custom_headers"][0]
    assert 'id="id_custom_headers_error"' in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_edit_form_never_shows_the_url_password_and_keeps_it(owner_client, make_webhook):
    webhook = make_webhook(url="https://bob:s3cret@example.com/hook")
    page = owner_client.get(f"/webhooks/{webhook.pk}/edit/").content.decode()
    assert "s3cret" not in page
    response = owner_client.post(
        f"/webhooks/{webhook.pk}/edit/",
        {"type": "transactional", "url": "https://bob:••••••@example.com/hook", "transactional_events": ["click"]},
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.url == "https://bob:s3cret@example.com/hook"
    assert "s3cret" not in owner_client.get("/webhooks/").content.decode()
    assert "s3cret" not in owner_client.get(f"/webhooks/{webhook.pk}/").content.decode()


def test_the_form_can_remove_the_bearer_token(owner_client, make_webhook):
    webhook = make_webhook(auth_token="old")
    owner_client.post(
        f"/webhooks/{webhook.pk}/edit/",
        {"type": "transactional", "url": webhook.url, "transactional_events": ["click"], "remove_auth_token": "on"},
    )
    webhook.refresh_from_db()
    assert webhook.auth_token == ""


def test_an_api_key_is_shown_once_and_works(owner_client, account):
    response = owner_client.post("/api-keys/", {"name": "CRM"})
    assert response.status_code == 302  # redirect after the POST: a reload makes no second key
    response = owner_client.get(response.url)
    raw = response.context["created"][1]
    assert raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(account=account)
    assert key.key_hash != raw and raw not in key.prefix + key.key_hash
    assert raw not in owner_client.get("/api-keys/").content.decode()
    assert Client(HTTP_API_KEY=raw).get("/v3/webhooks").status_code == 200
    response = owner_client.get("/api-keys/")
    assert "CRM" in response.content.decode() and "Never" not in response.content.decode()  # last used


def test_an_api_key_needs_a_name(owner_client):
    response = owner_client.post("/api-keys/", {"name": ""})
    assert response.status_code == 400
    assert "Give the key a name" in response.content.decode()


def test_a_revoked_key_stops_working(owner_client, account, api_key):
    key = ApiKey.objects.get(account=account)
    owner_client.post(f"/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client(HTTP_API_KEY=api_key).get("/v3/webhooks").status_code == 401


def test_the_api_keys_page_has_a_helpful_empty_state(owner_client):
    assert "No API keys yet." in owner_client.get("/api-keys/").content.decode()


def test_a_stranger_gets_404_on_every_page_of_another_accounts_webhook(stranger_client, make_webhook, api_key, account):
    webhook = make_webhook()
    key = ApiKey.objects.get(account=account)
    gets = ["", "edit/", "delete/", "test/"]
    posts = ["secret/rotate/", "edit/", "delete/", "toggle/", "test/"]
    for suffix in gets:
        assert stranger_client.get(f"/webhooks/{webhook.pk}/{suffix}").status_code == 404, suffix
    for suffix in posts:
        assert stranger_client.post(f"/webhooks/{webhook.pk}/{suffix}", {"event": "delivered"}).status_code == 404
    assert stranger_client.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert Webhook.objects.filter(pk=webhook.pk, enabled=True).exists()
    assert "example.com" not in stranger_client.get("/webhooks/").content.decode()
    assert "Tests" not in stranger_client.get("/api-keys/").content.decode()


def test_a_teammate_shares_the_accounts_webhooks(teammate_client, make_webhook):
    assert teammate_client.get(f"/webhooks/{make_webhook().pk}/").status_code == 200


def test_account_users_cannot_reach_the_admin(owner_client):
    assert owner_client.get("/admin/webhooks/webhook/").status_code == 302


def test_the_admin_never_shows_secrets(make_webhook, db):
    from accounts.models import User

    admin = User.objects.create_superuser("admin@ops.test", PASSWORD)
    client = Client()
    client.force_login(admin)
    webhook = make_webhook(url="https://bob:pw-in-url@example.com/", auth_token="admin-token")
    page = client.get(f"/admin/webhooks/webhook/{webhook.pk}/change/").content.decode()
    for secret in ("pw-in-url", "admin-token", webhook.signing_secret):
        assert secret not in page


FORMS = [
    "/webhooks/new/",
    "/api-keys/",
    "/login/",
]


def test_every_form_needs_the_csrf_token(owner, make_webhook, api_key):
    webhook = make_webhook()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    paths = [
        *FORMS,
        f"/webhooks/{webhook.pk}/edit/",
        f"/webhooks/{webhook.pk}/delete/",
        f"/webhooks/{webhook.pk}/toggle/",
        f"/webhooks/{webhook.pk}/test/",
        f"/webhooks/{webhook.pk}/secret/rotate/",
        "/api-keys/1/revoke/",
        "/logout/",
    ]
    for path in paths:
        assert client.post(path, {}).status_code == 403, path
    # The pages carry the token their forms need.
    for path in ["/webhooks/new/", "/api-keys/", f"/webhooks/{webhook.pk}/"]:
        assert "csrfmiddlewaretoken" in client.get(path).content.decode(), path


@pytest.fixture
def clean_cache(redis, monkeypatch):
    cache.clear()
    # The limiter counts in fixed windows; pin the clock so that a window boundary
    # falling inside a test cannot reset the count half-way.
    now = time.time()
    monkeypatch.setattr("accounts.ratelimit.now", lambda: now)
    yield
    cache.clear()


def test_logins_are_rate_limited(owner, clean_cache):
    client = Client()
    for _ in range(10):
        response = client.post("/login/", {"username": owner.email, "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert other.post("/login/", {"username": owner.email, "password": PASSWORD}).status_code == 302


def test_one_address_cannot_spray_many_accounts(db, clean_cache):
    client = Client()
    statuses = [
        client.post("/login/", {"username": f"user{n}@acme.test", "password": "x"}).status_code for n in range(51)
    ]
    assert statuses[:50] == [200] * 50
    assert statuses[50] == 429


def production_manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process with production-like settings from the environment."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": "k3y-" + "x9Qz!" * 12,
        "ALLOWED_HOSTS": "hooks.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = production_manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_plain_http_can_be_allowed_for_local_runs(tmp_path):
    code = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE)"
    result = production_manage(tmp_path, "shell", "-c", code, ALLOW_PLAIN_HTTP="true")
    assert result.stdout.strip().splitlines()[-1] == "False False", result.stderr


def test_an_oversized_form_is_a_400_not_a_500(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = owner_client.post("/webhooks/new/", {"type": "transactional", "description": "x" * 5000})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url", ["https://exa mple.com/", "https://[::1/", "https://example.com:99999/", "http://\u2603\u200b.invalid/"]
)
def test_odd_urls_in_the_form_are_field_errors(owner_client, url):
    response = owner_client.post(
        "/webhooks/new/", {"type": "transactional", "url": url, "transactional_events": ["delivered"]}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"]


@pytest.mark.parametrize("path", ["/login/", "/webhooks/", "/v3/webhooks", "/api/events", "/v3/docs", "/nowhere/"])
def test_every_answer_has_the_content_security_policy(owner_client, path):
    policy = owner_client.get(path)["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy


def test_only_the_rq_dashboard_allows_its_own_inline_styles_and_script(admin_client):
    policy = admin_client.get("/admin/django_rq/dashboard/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in admin_client.get("/admin/")["Content-Security-Policy"]
