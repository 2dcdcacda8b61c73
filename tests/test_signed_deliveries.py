"""What a receiver gets: Standard Webhooks signatures, auth and custom headers, and no leaked secrets."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import pytest
import standardwebhooks.webhooks
import svix.webhooks
from django.utils import timezone

import catalog
from webhooks import jobs, signing
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.sending import send


def deliver(webhook: Webhook, event: str = "delivered") -> Delivery:
    delivery = Delivery.objects.create(webhook=webhook, event=event, payload={"event": event, "email": "a@b.test"})
    send(delivery.pk)
    return delivery


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert signing.new_secret() != secret


def test_each_webhook_has_its_own_secret(make_webhook):
    assert make_webhook().signing_secret != make_webhook().signing_secret


def test_deliveries_verify_with_the_standardwebhooks_and_svix_libraries(make_webhook, receiver):
    webhook = make_webhook(url=receiver.url + "/hook")
    delivery = deliver(webhook)

    request = receiver.wait_for(1)[0]
    assert request.headers["webhook-id"] == delivery.webhook_message_id
    assert request.headers["webhook-signature"].startswith("v1,")
    payload = standardwebhooks.webhooks.Webhook(webhook.signing_secret).verify(request.body, request.headers)
    assert payload["event"] == "delivered"
    svix.webhooks.Webhook(webhook.signing_secret).verify(request.body, request.headers)


def test_a_forged_body_or_another_secret_does_not_verify(make_webhook, receiver):
    webhook = make_webhook(url=receiver.url + "/hook")
    deliver(webhook)
    request = receiver.wait_for(1)[0]
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.webhooks.Webhook(webhook.signing_secret).verify(request.body + b" ", request.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.webhooks.Webhook(signing.new_secret()).verify(request.body, request.headers)


def test_a_test_send_through_the_worker_is_signed_too(transactional_db, make_webhook, receiver, run_worker):
    # transactional_db: django-rq enqueues when the transaction commits.
    webhook = make_webhook(url=receiver.url + "/hook")
    jobs.enqueue_test(webhook, catalog.get("transactional", "delivered"))
    run_worker()
    request = receiver.wait_for(1)[0]
    svix.webhooks.Webhook(webhook.signing_secret).verify(request.body, request.headers)


def test_during_a_rotation_both_secrets_sign(make_webhook, receiver):
    webhook = make_webhook(url=receiver.url + "/hook")
    old = webhook.signing_secret
    webhook.rotate_secret()
    assert webhook.signing_secret != old

    deliver(webhook)
    request = receiver.wait_for(1)[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    standardwebhooks.webhooks.Webhook(old).verify(request.body, request.headers)
    standardwebhooks.webhooks.Webhook(webhook.signing_secret).verify(request.body, request.headers)


def test_the_old_secret_stops_signing_after_the_grace_period(make_webhook, receiver, settings):
    settings.WEBHOOKS_SECRET_ROTATION_GRACE = 3600
    webhook = make_webhook(url=receiver.url + "/hook")
    old = webhook.signing_secret
    webhook.rotate_secret()
    assert webhook.previous_secret_expires_at == pytest.approx(timezone.now() + timedelta(hours=1), abs=timedelta(5))
    Webhook.objects.filter(pk=webhook.pk).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))

    deliver(Webhook.objects.get(pk=webhook.pk))
    request = receiver.wait_for(1)[0]
    assert " " not in request.headers["webhook-signature"]
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.webhooks.Webhook(old).verify(request.body, request.headers)


def test_the_grace_period_defaults_to_24_hours(settings):
    from django.conf import settings as live

    assert live.WEBHOOKS_SECRET_ROTATION_GRACE == 24 * 3600


def test_a_bearer_token_becomes_an_authorization_header(make_webhook, receiver):
    deliver(make_webhook(url=receiver.url + "/hook", auth_token="tok-123"))
    assert receiver.wait_for(1)[0].headers["Authorization"] == "Bearer tok-123"


def test_url_credentials_become_basic_auth_and_leave_the_url(make_webhook, receiver):
    url = receiver.url.replace("http://", "http://bob:s%3Acret@") + "/hook"
    deliver(make_webhook(url=url))
    request = receiver.wait_for(1)[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:s:cret").decode()
    assert request.path == "/hook"


def test_custom_headers_are_sent(make_webhook, receiver):
    headers = [{"key": "X-Api-Key", "value": "rcv-secret"}, {"key": "X-Tenant", "value": "acme"}]
    deliver(make_webhook(url=receiver.url + "/hook", headers=headers))
    request = receiver.wait_for(1)[0]
    assert request.headers["X-Api-Key"] == "rcv-secret"
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("brevo-hooks/")


def test_secrets_never_reach_the_logs_or_the_delivery_log(make_webhook, receiver, caplog, api_key, api_client):
    caplog.set_level(logging.DEBUG)
    url = receiver.url.replace("http://", "http://bob:url-password@") + "/hook"
    webhook = make_webhook(
        url=url, auth_token="bearer-secret", headers=[{"key": "X-Api-Key", "value": "header-secret"}]
    )
    deliver(webhook)
    receiver.reply.status = 500
    deliver(webhook)
    api_client.get("/v3/webhooks")
    api_client.get(f"/v3/webhooks/{webhook.pk}")
    api_client.get("/v3/webhooks/999")

    secrets = ["url-password", "bearer-secret", "header-secret", webhook.signing_secret, api_key]
    logged = caplog.text
    stored = " ".join(f"{a.request_url} {a.request_headers} {a.request_body} {a.error}" for a in Attempt.objects.all())
    for secret in secrets:
        assert secret not in logged
        assert secret not in stored
    attempt = Attempt.objects.first()
    assert attempt.request_headers["Authorization"] == "••••••"
    assert attempt.request_headers["X-Api-Key"] == "••••••"
    assert attempt.request_url == url.replace("url-password", "••••••")
    # The API shows them masked as well.
    shown = api_client.get(f"/v3/webhooks/{webhook.pk}").json()
    assert "url-password" not in shown["url"]
    assert shown["auth"] == {"type": "bearer", "token": "••••••"}
