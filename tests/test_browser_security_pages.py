"""The webhook page and the API keys page in a real browser, at phone width."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parent.parent / "screenshots" / "tmp"


@pytest.fixture
def page(browser, live_server, owner):
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.save()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": "sessionid", "value": session.session_key, "url": live_server.url}])
    yield context.new_page()
    context.close()


def test_the_secret_is_revealed_and_rotated_from_the_page(page, live_server, make_webhook, settings):
    settings.WEBHOOKS_EGRESS_IP_RANGES = ["203.0.113.0/24"]
    webhook = make_webhook(description="CRM sync", auth_token="t", headers=[{"key": "X-Tenant", "value": "acme"}])
    page.goto(f"{live_server.url}/webhooks/{webhook.pk}/")
    assert webhook.signing_secret not in page.content()
    page.get_by_role("link", name="Reveal").click()
    assert page.locator("[data-secret]").inner_text() == webhook.signing_secret
    page.get_by_role("button", name="Rotate secret").click()
    webhook.refresh_from_db()
    assert page.locator("[data-secret]").inner_text() == webhook.signing_secret
    assert "keeps working until" in page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "webhook-secret.png"), full_page=True)


def test_an_api_key_is_created_and_shown_once_in_the_page(page, live_server):
    page.goto(f"{live_server.url}/api-keys/")
    page.get_by_label("Name").fill("CRM integration")
    page.get_by_role("button", name="Create").click()
    assert page.locator("[data-new-key]").inner_text().startswith("xkeysib-")
    page.screenshot(path=str(SHOTS / "api-keys.png"), full_page=True)
