"""Webhooks, what they subscribe to, and what is delivered to them."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext

import catalog
from accounts.models import Account
from brevo_hooks.bulk_insert import insert_returning_ids
from catalog.payloads import encode
from webhooks import signing
from webhooks.fields import OrderedJSONField

# The `event` of a Delivery that carries a batch of events as one JSON array.
BATCH_EVENT = "batch"
# The `event` of a Delivery made by a Call a webhook step of an automation.
AUTOMATION_EVENT = "callWebhook"

TYPE_CHOICES = [(catalog.TRANSACTIONAL, "Transactional"), (catalog.MARKETING, "Marketing")]


def limit_message() -> str:
    return f"You can create up to {settings.WEBHOOKS_MAX_PER_ACCOUNT} webhooks. Delete one to add a new one."


MASK = "••••••"


def mask_url(url: str) -> str:
    """The URL with any password replaced, safe to show and to log."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:
        return "(invalid URL)"
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def unmask_url(new: str, old: str) -> str:
    """`new`, with the stored password put back if `new` still shows it masked.

    Forms and API clients send back the masked URL they were shown; that means
    "keep the password", as long as the user and host did not change.
    """
    if old and MASK in new and mask_url(old) != old:
        masked_old = urlsplit(mask_url(old))
        parts = urlsplit(new)
        if parts.netloc == masked_old.netloc:
            return urlunsplit(parts._replace(netloc=urlsplit(old).netloc))
    return new


class WebhookQuerySet(models.QuerySet["Webhook"]):
    def listed(self) -> WebhookQuerySet:
        """The webhooks of the Webhooks page and /v3/webhooks: not those of automation steps."""
        return self.filter(source=Webhook.Source.WEBHOOKS)

    def subscribed_to(
        self, account: Account, events: Iterable[catalog.EventType]
    ) -> dict[tuple[str, str], list[Webhook]]:
        """The enabled webhooks of `account` owed each of `events`, by the event's key (type, subscription)."""
        keys = {event.key for event in events}
        owed: dict[tuple[str, str], list[Webhook]] = defaultdict(list)
        rows = (
            Subscription.objects.filter(
                webhook__account=account, webhook__enabled=True, event__in={name for _, name in keys}
            )
            .select_related("webhook")
            .order_by("webhook_id")
        )
        for subscription in rows:
            key = (subscription.webhook.type, subscription.event)
            if key in keys:
                owed[key].append(subscription.webhook)
        return owed


class Webhook(models.Model):
    class Source(models.TextChoices):
        WEBHOOKS = "webhooks", "Webhooks page or API"
        # A Call a webhook step owns one: never subscribed to events, not listed with the
        # others, but counted by the limit (as Brevo counts them) and delivered by the same engine.
        AUTOMATION = "automation", "Automation"

    account = models.ForeignKey(Account, models.CASCADE, related_name="webhooks")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.WEBHOOKS, editable=False)
    url = models.URLField("URL", max_length=2048)
    description = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=20, choices=TYPE_CHOICES, default=catalog.TRANSACTIONAL)
    # Brevo's batched webhooks: one JSON array per window instead of one POST per event.
    batched = models.BooleanField(default=False)
    # Sent as `Authorization: Bearer <token>` (Brevo's `auth`); never shown back in clear.
    auth_token = models.CharField(max_length=1000, blank=True)
    # Brevo's `headers`: [{"key": ..., "value": ...}], checked by validators.validate_headers.
    headers = models.JSONField(default=list, blank=True)
    signing_secret = models.CharField(max_length=100, default=signing.new_secret)
    # After a rotation the old secret still signs until it expires, so receivers can switch calmly.
    previous_signing_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    # Set when the endpoint stops answering (timeout, refused connection), like Brevo's
    # 10-minute pause: until then its deliveries wait instead of holding up workers.
    paused_until = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed attempts; cleared by any success. A run that lasts
    # WEBHOOKS_DISABLE_AFTER disables the webhook.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    modified_at = models.DateTimeField(auto_now=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.description or mask_url(self.url)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def is_paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > timezone.now()

    def clean(self) -> None:
        if self._state.adding and self.account_id is not None and self.account_is_full():
            raise ValidationError(limit_message(), code="limit")

    def signing_secrets(self) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one in its grace period."""
        valid = [self.signing_secret]
        if (
            self.previous_signing_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > (timezone.now())
        ):
            valid.append(self.previous_signing_secret)
        return valid

    def rotate_secret(self) -> None:
        """Make a new signing secret; the current one keeps signing for the grace period."""
        self.previous_signing_secret = self.signing_secret
        self.previous_secret_expires_at = timezone.now() + timedelta(seconds=settings.WEBHOOKS_SECRET_ROTATION_GRACE)
        self.signing_secret = signing.new_secret()
        self.save(
            update_fields=["signing_secret", "previous_signing_secret", "previous_secret_expires_at", "modified_at"]
        )

    def account_is_full(self) -> bool:
        return Webhook.objects.filter(account_id=self.account_id).count() >= settings.WEBHOOKS_MAX_PER_ACCOUNT

    def event_names(self) -> list[str]:
        """Subscribed events in catalog order."""
        subscribed = {s.event for s in self.subscriptions.all()}
        return [event.subscription for event in catalog.for_type(self.type) if event.subscription in subscribed]

    def event_types(self) -> list[catalog.EventType]:
        subscribed = {s.event for s in self.subscriptions.all()}
        return [event for event in catalog.for_type(self.type) if event.subscription in subscribed]

    def validate_events(self, names: Iterable[str]) -> list[str]:
        """Canonical subscription names for `names`, or a ValidationError naming the bad ones."""
        names = list(names)
        if not names:
            raise ValidationError("Select at least one event.", code="required")
        unknown = [name for name in names if catalog.get(self.type, name) is None]
        if unknown:
            label = catalog.TYPE_LABELS.get(self.type, self.type)
            raise ValidationError(
                f"Not a {label.lower()} event: {', '.join(unknown)}.", code="invalid_event", params={"events": unknown}
            )
        canonical = {catalog.get(self.type, name).subscription for name in names}  # type: ignore[union-attr]
        return [event.subscription for event in catalog.for_type(self.type) if event.subscription in canonical]

    @transaction.atomic
    def set_events(self, names: Iterable[str]) -> None:
        """Replace the subscriptions with `names` (validated; aliases become canonical)."""
        wanted = self.validate_events(names)
        self.subscriptions.exclude(event__in=wanted).delete()
        existing = set(self.subscriptions.values_list("event", flat=True))
        Subscription.objects.bulk_create(Subscription(webhook=self, event=e) for e in wanted if e not in existing)


class Subscription(models.Model):
    webhook = models.ForeignKey(Webhook, models.CASCADE, related_name="subscriptions")
    # The canonical subscription name of the catalog, e.g. "hardBounce".
    event = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="unique_subscription")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.event

    def clean(self) -> None:
        if catalog.get(self.webhook.type, self.event) is None:
            label = catalog.TYPE_LABELS.get(self.webhook.type, self.webhook.type)
            raise ValidationError({"event": f"Not a {label.lower()} event: {self.event}."})


# What sending needs of a webhook, and no more: loading whole rows cost more than the requests.
SENDING_WEBHOOK_FIELDS = (
    "url", "type", "account_id", "description", "enabled", "paused_until", "failing_since", "auth_token", "headers",
    "signing_secret", "previous_signing_secret", "previous_secret_expires_at",
)  # fmt: skip


def sending_webhooks(ids: set[int]) -> dict[int, Webhook]:
    return Webhook.objects.only(*SENDING_WEBHOOK_FIELDS).order_by().in_bulk(ids)


class SentAs:
    """How a delivery shows on the wire; shared by Delivery rows and Claimed ones."""

    uid: uuid.UUID
    event: str

    @property
    def webhook_message_id(self) -> str:
        # Sent as `webhook-id`: stable across the retries of one delivery.
        return f"msg_{self.uid.hex}"

    @property
    def is_batch(self) -> bool:
        return self.event == BATCH_EVENT


@dataclass
class Claimed(SentAs):
    """A delivery taken for sending: what the request and its outcome need, read in the claim."""

    pk: int
    uid: uuid.UUID
    event: str
    # The stored payload text, which is the request body as it was built (see OrderedJSONField).
    body: bytes
    is_test: bool
    attempt_count: int
    webhook_id: int
    webhook: Webhook


OWED_COLUMNS = (
    "webhook_id", "event_record_id", "uid", "event", "payload", "is_test", "attempt_count",
    "status", "next_attempt_at", "enqueued_at", "created_at",
)  # fmt: skip


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def claim(
        self, ids: Iterable[int], lease: timedelta, webhooks: Callable[[set[int]], Mapping[int, Webhook]] | None = None
    ) -> tuple[uuid.UUID, list[Claimed]]:
        """Take the pending deliveries among `ids` for sending; return the claim token and them.

        The conditional UPDATE is the lock: of two jobs for one delivery, only one changes
        the row, and RETURNING hands each job exactly the rows it changed. (One statement
        instead of an UPDATE and a SELECT with a join: the claim is the hottest query of all.)
        `webhooks` gives the webhooks of the claimed rows by id, by default read afresh.
        """
        token = uuid.uuid4()
        ids = list(ids)
        if not ids:
            return token, []
        connection = connections[self.db]
        field = Delivery._meta.get_field
        params = [
            Delivery.Status.SENDING,
            field("claim_token").get_db_prep_value(token, connection),
            field("lease_expires_at").get_db_prep_value(timezone.now() + lease, connection),
            *ids,
            Delivery.Status.PENDING,
        ]
        table, quote = Delivery._meta.db_table, connection.ops.quote_name
        sql = (
            f"UPDATE {quote(table)} SET status = %s, claim_token = %s, lease_expires_at = %s, "  # noqa: S608 (names are ours)
            f"attempt_count = attempt_count + 1 WHERE id IN ({', '.join(['%s'] * len(ids))}) AND status = %s "
            "RETURNING id, uid, event, payload, is_test, attempt_count, webhook_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        found = (webhooks or sending_webhooks)({row[6] for row in rows})
        claimed = [
            Claimed(
                pk=pk,
                # SQLite returns the uuid as hex text, PostgreSQL as a UUID.
                uid=uid if isinstance(uid, uuid.UUID) else uuid.UUID(uid),
                event=event,
                body=payload.encode(),
                is_test=bool(is_test),
                attempt_count=attempt_count,
                webhook_id=webhook_id,
                webhook=found[webhook_id],
            )
            for pk, uid, event, payload, is_test, attempt_count, webhook_id in rows
            # A webhook deleted a moment ago takes its deliveries with it: nothing to send.
            if webhook_id in found
        ]
        claimed.sort(key=lambda delivery: delivery.pk)
        return token, claimed

    def succeed(self, ids: list[int], token: uuid.UUID, now: datetime) -> int:
        """Mark the rows among `ids` that `token` still owns as delivered; return how many.

        A plain statement: it runs for every few requests, and the ORM's update cost more.
        """
        if not ids:
            return 0
        connection = connections[self.db]
        fields = Delivery._meta
        params = [
            Delivery.Status.SUCCEEDED,
            fields.get_field("completed_at").get_db_prep_value(now, connection),
            *ids,
            fields.get_field("claim_token").get_db_prep_value(token, connection),
        ]
        sql = (
            f"UPDATE {connection.ops.quote_name(fields.db_table)} SET status = %s, completed_at = %s, "  # noqa: S608
            f"lease_expires_at = NULL, claim_token = NULL WHERE id IN ({', '.join(['%s'] * len(ids))}) "
            "AND claim_token = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def create_owed(self, owed: list[tuple[Webhook, int, str, Any]], now: datetime) -> list[int]:
        """Store a delivery of each (webhook, event id, subscription name, payload); return their ids in order.

        Plain multi-row INSERTs (brevo_hooks.bulk_insert): the events API writes up to a
        thousand events' deliveries per request, and bulk_create cost most of its CPU.
        """
        connection = connections[self.db]
        uid = Delivery._meta.get_field("uid")
        when = connection.ops.adapt_datetimefield_value(now)
        # A batched webhook's events wait for the window; the others are due now.
        waiting = (Delivery.Status.WAITING, None, None)
        due = (Delivery.Status.PENDING, when, when)
        rows = [
            (
                webhook.pk,
                event_id,
                uid.get_db_prep_value(uuid.uuid4(), connection),
                subscription,
                encode(payload).decode(),  # as OrderedJSONField stores it
                False,
                0,
                *(waiting if webhook.batched else due),
                when,
            )
            for webhook, event_id, subscription, payload in owed
        ]
        return insert_returning_ids(Delivery, OWED_COLUMNS, rows, using=self.db)

    def due(self, now: datetime) -> DeliveryQuerySet:
        """Pending deliveries whose time has come."""
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)


class Delivery(SentAs, models.Model):
    """One event (or one test, or one batch of events) owed to one webhook."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Events of a batched webhook: waiting for the window to close, then part of a batch
        # (a Delivery of its own) whose outcome they take when it is done.
        WAITING = "waiting", "Waiting for its batch"
        BATCHED = "batched", "In a batch"

    webhook = models.ForeignKey(Webhook, models.CASCADE, related_name="deliveries")
    # The stored event this delivers; empty for tests and batches.
    event_record = models.ForeignKey("events.Event", models.CASCADE, related_name="deliveries", null=True, blank=True)
    batch = models.ForeignKey("self", models.SET_NULL, related_name="members", null=True, blank=True)
    # Sent as `webhook-id`: stable across the retries of one delivery, so receivers can dedupe.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=40, help_text="Subscription name of the event.")
    payload = OrderedJSONField()
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Which claim owns the row while it is sending, so that a late job never overwrites
    # the outcome of a newer one after its lease was reclaimed.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    # When a job for it was last put in Redis; empty means the sweeper must enqueue it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["status", "lease_expires_at"]),
            models.Index(fields=["webhook", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook}"

    @property
    def is_done(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def batch_size(self) -> int:
        return len(self.payload) if isinstance(self.payload, list) else 1

    def event_type(self) -> catalog.EventType | None:
        return catalog.get(self.webhook.type, self.event)

    @property
    def label(self) -> str:
        if self.is_batch:
            return f"Batch of {self.batch_size} events"
        if self.event == AUTOMATION_EVENT:
            return gettext("Call a webhook")
        event = self.event_type()
        return event.label if event else self.event

    def last_attempt(self) -> Attempt | None:
        # Lists prefetch the attempts; use them rather than one more query per row.
        if "attempts" in getattr(self, "_prefetched_objects_cache", {}):
            return max(self.attempts.all(), key=lambda attempt: attempt.number, default=None)
        return self.attempts.order_by("-number").first()


class Attempt(models.Model):
    """One HTTP try of a delivery, written before the request and completed after it."""

    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_url = models.CharField(max_length=2048)
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField()
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="unique_attempt_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def is_success(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None or bool(self.error)


class ExportQuerySet(models.QuerySet["Export"]):
    def by_token(self, token: str) -> Export | None:
        """The finished, unexpired export whose download token is `token`, or None."""
        return (
            self.filter(token_hash=Export.hash_token(token), status=Export.Status.DONE, expires_at__gt=timezone.now())
            .select_related("account")
            .first()
        )


class Export(models.Model):
    """A CSV of delivery history asked for through POST /v3/webhooks/export.

    The CSV lives in the database so that any web process can serve it; the link
    that reaches `notifyURL` holds a random token, of which only the hash is kept.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(Account, models.CASCADE, related_name="exports")
    params = models.JSONField(help_text="The filters of the request, as validated.")
    notify_url = models.URLField(max_length=2048)
    base_url = models.CharField(max_length=500, help_text="Where the download link points.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    csv = models.TextField(blank=True)
    row_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.account}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def new_token(self) -> str:
        """A fresh download token; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        self.token_hash = self.hash_token(token)
        return token
