"""Events reported by the platform: the source of every delivery."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

import catalog
from accounts.models import Account
from brevo_hooks.ids import uuid7

TYPE_CHOICES = list(catalog.TYPE_LABELS.items())


class Event(models.Model):
    """One email or contact event of an account, stored before anything is sent."""

    account = models.ForeignKey(Account, models.CASCADE, related_name="events")
    # The id the API answers with; public, unlike the row id.
    uid = models.UUIDField(default=uuid7, unique=True, editable=False)
    type = models.CharField(max_length=20, choices=TYPE_CHOICES)
    # The canonical subscription name of the catalog, e.g. "hardBounce".
    name = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # The producer's own id for the event: a second POST with the same key stores nothing new.
    idempotency_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="unique_event_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"]),
            # Retention (webhooks.retention.prune_events): the oldest events before the cutoff,
            # `WHERE created_at < %s AND NOT EXISTS (deliveries) ORDER BY created_at LIMIT n`.
            models.Index(fields=["created_at"], name="event_created_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name} {self.uid}"

    @property
    def public_id(self) -> str:
        return str(self.uid)

    def event_type(self) -> catalog.EventType | None:
        return catalog.get(self.type, self.name)

    @property
    def label(self) -> str:
        event = self.event_type()
        return str(event.label) if event else self.name
