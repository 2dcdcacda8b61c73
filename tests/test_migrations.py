"""Data migrations, run against rows as the code before them wrote them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from webhooks.models import Delivery

compact_payloads = importlib.import_module("webhooks.migrations.0004_compact_payloads")


@pytest.mark.django_db
def test_owed_payloads_are_rewritten_compact_and_finished_ones_left(make_webhook):
    webhook = make_webhook(events=("delivered",))
    owed = Delivery.objects.create(webhook=webhook, event="delivered", payload={"a": 1, "b": "é"})
    done = Delivery.objects.create(webhook=webhook, event="delivered", payload={"a": 1}, status="succeeded")
    spaced = '{"a": 1, "b": "é"}'
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET payload = %s", [spaced])  # noqa: S608 (the old form)

    compact_payloads.compact(apps, None)

    stored = dict(Delivery.objects.values_list("pk", "payload"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, payload FROM {table}")  # noqa: S608 (the text as stored)
        raw = dict(cursor.fetchall())
    assert stored[owed.pk] == {"a": 1, "b": "é"}
    assert raw[owed.pk] == '{"a":1,"b":"é"}'
    assert raw[done.pk] == spaced
