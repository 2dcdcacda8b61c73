"""Every page is scoped to the logged-in user's account: a stranger gets a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webhooks.models import Delivery, Webhook


@pytest.fixture
def owned(make_webhook):
    webhook = make_webhook()
    delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, is_test=True)
    return webhook, delivery


def urls(webhook, delivery):
    return [
        ("get", reverse("webhooks:edit", args=[webhook.pk])),
        ("post", reverse("webhooks:edit", args=[webhook.pk])),
        ("get", reverse("webhooks:delete", args=[webhook.pk])),
        ("post", reverse("webhooks:delete", args=[webhook.pk])),
        ("post", reverse("webhooks:toggle", args=[webhook.pk])),
        ("get", reverse("webhooks:send_test", args=[webhook.pk])),
        ("post", reverse("webhooks:send_test", args=[webhook.pk])),
        ("get", reverse("webhooks:test_result", args=[webhook.pk, delivery.pk])),
    ]


def test_a_stranger_gets_404_on_every_webhook_page(stranger_client, owned):
    webhook, delivery = owned
    for method, url in urls(webhook, delivery):
        response = getattr(stranger_client, method)(url, {"event": "delivered", "url": "https://evil.example/"})
        assert response.status_code == 404, (method, url)
    webhook.refresh_from_db()
    assert webhook.url == "https://example.com/hook" and webhook.enabled
    assert Delivery.objects.count() == 1


def test_a_stranger_does_not_see_the_webhook_in_the_list(stranger_client, owned):
    page = stranger_client.get(reverse("webhooks:list")).content.decode()
    assert "example.com/hook" not in page and "0 / 40" in page


def test_a_test_result_of_another_webhook_is_not_shown_under_ones_own(owner_client, owned, make_webhook, stranger):
    webhook, _ = owned
    foreign = make_webhook(owner=stranger.account)
    foreign_delivery = Delivery.objects.create(webhook=foreign, event="delivered", payload={}, is_test=True)
    response = owner_client.get(reverse("webhooks:test_result", args=[webhook.pk, foreign_delivery.pk]))
    assert response.status_code == 404


def test_the_teammate_is_not_a_stranger(teammate_client, owned):
    webhook, delivery = owned
    for method, url in urls(webhook, delivery):
        if method == "get":
            assert teammate_client.get(url).status_code == 200, url
    assert Webhook.objects.filter(pk=webhook.pk).exists()
