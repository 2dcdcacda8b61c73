"""Webhooks, what they subscribe to, and what is delivered to them."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

import catalog
from accounts.models import Account
from brevo_hooks.bulk_insert import insert_returning_ids
from brevo_hooks.ids import uuid7
from brevo_hooks.partial_index import IndexedAs
from catalog.payloads import encode
from webhooks import answers, disabled, signing, sql
from webhooks.fields import OrderedJSONField

# The `event` of a Delivery that carries a batch of events as one JSON array.
BATCH_EVENT = "batch"
# The `event` of a Delivery made by a Call a webhook step of an automation.
AUTOMATION_EVENT = "callWebhook"

TYPE_CHOICES = list(catalog.TYPE_LABELS.items())


def limit_message() -> str:
    return _("You can create up to %(limit)s webhooks. Delete one to add a new one.") % {
        "limit": settings.WEBHOOKS_MAX_PER_ACCOUNT
    }


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


# Why an endpoint was paused (webhooks.sending.breaker), one sentence per kind of cause.
PAUSE_CAUSES = {
    "streak": gettext_lazy("%(count)s attempts in a row got no answer (last: %(last)s)"),
    "share": gettext_lazy("%(count)s of its last %(of)s attempts got no answer (last: %(last)s)"),
    "probe": gettext_lazy("the probe after the pause got no answer (%(last)s)"),
}


class WebhookQuerySet(models.QuerySet["Webhook"]):
    def listed(self) -> WebhookQuerySet:
        """The webhooks of the Webhooks page and /v3/webhooks: not those of automation steps."""
        return self.filter(source=Webhook.Source.WEBHOOKS)

    def subscribed_to(
        self, account: Account, events: Iterable[catalog.EventType]
    ) -> dict[tuple[str, str], list[Subscriber]]:
        """The enabled webhooks of `account` owed each of `events`, by the event's key (type, subscription)."""
        keys = {event.key for event in events}
        owed: dict[tuple[str, str], list[Subscriber]] = defaultdict(list)
        for event, pk, account_id, kind, batched in sql.subscribers(account.pk, sorted({key[1] for key in keys})):
            if (kind, event) in keys:
                owed[(kind, event)].append(Subscriber(pk, account_id, kind, bool(batched)))
        return owed


@dataclass(frozen=True)
class Subscriber:
    """What emit() needs of a webhook owed an event (see WebhookQuerySet.subscribed_to)."""

    pk: int
    account_id: int
    type: str
    batched: bool


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
    # The circuit breaker (webhooks.sending.endpoints): set when the endpoint really stops
    # answering, for Brevo's 10 minutes; until then its deliveries wait instead of holding
    # up workers. Once it has passed, one probe goes first (`probe_until` while it is out).
    paused_until = models.DateTimeField(null=True, blank=True)
    # Why: {"kind": "streak" | "share" | "probe", "count", "of", "last"}, told in the
    # reader's language by `pause_reason`.
    pause_cause = models.JSONField(default=dict, blank=True)
    probe_until = models.DateTimeField(null=True, blank=True)
    # Attempts in a row, across workers, that got no answer at all; any answer resets it.
    unanswered_streak = models.PositiveIntegerField(default=0)
    # Start of the current run of failed attempts; cleared by any success. A run that lasts
    # WEBHOOKS_DISABLE_AFTER disables the webhook.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    modified_at = models.DateTimeField(auto_now=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The metrics' gauges (webhooks.metrics.StateCollector): `WHERE enabled = false` (disabled
            # webhooks) and `WHERE enabled = true AND paused_until > now` (paused endpoints).
            models.Index(fields=["enabled", "paused_until"], name="webhook_enabled_paused_idx"),
        ]

    def __str__(self) -> str:
        return self.description or mask_url(self.url)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def disabled_explanation(self) -> disabled.Explanation:
        """Why it is disabled and what to do, in the page's language and time zone."""
        return disabled.explain(self.disabled_reason)

    @property
    def is_paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > timezone.now()

    @property
    def pause_reason(self) -> str:
        """Why the circuit breaker paused the endpoint, in the active language."""
        cause = self.pause_cause or {}
        told = PAUSE_CAUSES.get(cause.get("kind", ""))
        if told is None:
            return str(_("your app did not answer"))
        return str(told) % {"count": cause.get("count", 0), "of": cause.get("of", 0), "last": cause.get("last", "")}

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
            raise ValidationError(_("Select at least one event."), code="required")
        unknown = [name for name in names if catalog.get(self.type, name) is None]
        if unknown:
            label = str(catalog.TYPE_LABELS.get(self.type, self.type))
            raise ValidationError(
                _("Not a %(type)s event: %(events)s.") % {"type": label.lower(), "events": ", ".join(unknown)},
                # No `params`: the message is already whole, and an event name with a "%" in it
                # would break the formatting they trigger.
                code="invalid_event",
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
            label = str(catalog.TYPE_LABELS.get(self.webhook.type, self.webhook.type))
            raise ValidationError(
                {"event": _("Not a %(type)s event: %(events)s.") % {"type": label.lower(), "events": self.event}}
            )


# What sending needs of a webhook, and no more: loading whole rows cost more than the requests.
SENDING_WEBHOOK_FIELDS = (
    "url", "type", "account_id", "description", "enabled", "paused_until", "probe_until", "unanswered_streak",
    "failing_since", "auth_token", "headers", "signing_secret", "previous_signing_secret",
    "previous_secret_expires_at",
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
    # When the delivery was created (its event accepted): the start of its latency (webhooks.metrics).
    created_at: datetime | None = None


def _aware(created: datetime | float) -> datetime:
    """A claimed row's created_at: epoch seconds from PostgreSQL, a naive UTC time from SQLite."""
    if isinstance(created, float):
        return datetime.fromtimestamp(created, UTC)
    return created if created.tzinfo else created.replace(tzinfo=UTC)


OWED_COLUMNS = (
    "webhook_id", "event_record_id", "uid", "event", "payload", "is_test", "attempt_count",
    "status", "next_attempt_at", "enqueued_at", "created_at",
)  # fmt: skip


# The conditions of Delivery's partial indexes. Queries that want one of them name it
# with `status__indexed_as` (brevo_hooks.partial_index), so that SQLite uses it too.
UNFINISHED = ["pending", "waiting", "sending"]
FINISHED = ["succeeded", "failed", "cancelled"]
SENDING = ["sending"]


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def claim(
        self,
        ids: Iterable[int],
        lease: timedelta,
        webhooks: Callable[[set[int]], Mapping[int, Webhook]] | None = None,
        take: sql.Take = sql.claim,
    ) -> tuple[uuid.UUID, list[Claimed]]:
        """Take the pending deliveries among `ids` for sending; return the claim token and them.

        One conditional `UPDATE ... RETURNING` (webhooks.sql.claim, or `take`, which runs it
        with more: webhooks.sql.record_delivered): of two jobs for one delivery only one gets
        it. `webhooks` gives the webhooks of the claimed rows by id, by default read afresh.
        """
        token = uuid.uuid4()
        ids = list(ids)
        if not ids:
            return token, []
        rows = take(ids, token, timezone.now() + lease)
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
                created_at=_aware(created),
            )
            for pk, uid, event, payload, is_test, attempt_count, webhook_id, created in rows
            # A webhook deleted a moment ago takes its deliveries with it: nothing to send.
            if webhook_id in found
        ]
        claimed.sort(key=lambda delivery: delivery.pk)
        return token, claimed

    def create_owed(self, owed: list[tuple[Webhook | Subscriber, int, str, Any]], now: datetime) -> list[int]:
        """Store a delivery of each (webhook, event id, subscription name, payload); return their ids in order.

        Plain multi-row INSERTs (brevo_hooks.bulk_insert): the events API writes up to a
        thousand events' deliveries per request, and bulk_create cost most of its CPU.
        """
        return self.insert_owed(self.owed_rows(owed, now))

    def insert_owed(self, rows: list[tuple[Any, ...]]) -> list[int]:
        """Insert rows made by owed_rows(); return their ids in order."""
        return insert_returning_ids(Delivery, OWED_COLUMNS, rows, using=self.db)

    def owed_rows(self, owed: list[tuple[Webhook | Subscriber, int, str, Any]], now: datetime) -> list[tuple[Any, ...]]:
        """The rows of create_owed(), made before its transaction (events.fanout)."""
        connection = connections[self.db]
        uid = Delivery._meta.get_field("uid")
        when = connection.ops.adapt_datetimefield_value(now)
        # A batched webhook's events wait for the window; the others are due now.
        waiting = (Delivery.Status.WAITING, None, None)
        due = (Delivery.Status.PENDING, when, when)
        # As OrderedJSONField stores it; once per payload, which an event shares with all its webhooks.
        texts = {id(payload): encode(payload).decode() for _, _, _, payload in owed}
        return [
            (
                webhook.pk,
                event_id,
                uid.get_db_prep_value(uuid7(), connection),
                subscription,
                texts[id(payload)],
                False,
                0,
                *(waiting if webhook.batched else due),
                when,
            )
            for webhook, event_id, subscription, payload in owed
        ]

    def due(self, now: datetime) -> DeliveryQuerySet:
        """Pending deliveries whose time has come."""
        return self.filter(status__indexed_as=UNFINISHED, status=Delivery.Status.PENDING, next_attempt_at__lte=now)

    def later(self, now: datetime) -> DeliveryQuerySet:
        """Pending deliveries that wait for a retry (or for an endpoint's pause to end)."""
        return self.filter(status__indexed_as=UNFINISHED, status=Delivery.Status.PENDING, next_attempt_at__gt=now)

    def lease_expired(self, now: datetime) -> DeliveryQuerySet:
        """Deliveries still "sending" after their claim's lease ran out: their worker stopped."""
        return self.filter(status__indexed_as=SENDING, lease_expires_at__lt=now)

    def finished(self) -> DeliveryQuerySet:
        """Delivered, failed for good or cancelled."""
        return self.filter(status__indexed_as=FINISHED)

    def retryable(self, now: datetime | None = None) -> DeliveryQuerySet:
        """The deliveries that "Retry now" may send again at once (the rule of Delivery.can_retry_now).

        Failed and cancelled ones, and pending ones waiting for their next attempt after a
        failed one (so that whoever fixed the endpoint need not wait). Test sends are never
        retried, and the events of a batch go again with their batch.
        """
        waiting = Q(status=Delivery.Status.PENDING, attempt_count__gt=0, next_attempt_at__gt=now or timezone.now())
        return self.filter(Q(status__in=Delivery.RETRYABLE) | waiting, is_test=False, batch=None)


class Delivery(SentAs, models.Model):
    """One event (or one test, or one batch of events) owed to one webhook."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENDING = "sending", gettext_lazy("Sending")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")
        # Events of a batched webhook: waiting for the window to close, then part of a batch
        # (a Delivery of its own) whose outcome they take when it is done.
        WAITING = "waiting", gettext_lazy("Waiting for its batch")
        BATCHED = "batched", gettext_lazy("In a batch")

    # Indexed by the composite indexes below, which start with it.
    webhook = models.ForeignKey(Webhook, models.CASCADE, related_name="deliveries", db_index=False)
    # The stored event this delivers; empty for tests and batches.
    event_record = models.ForeignKey("events.Event", models.CASCADE, related_name="deliveries", null=True, blank=True)
    batch = models.ForeignKey(
        "self", models.SET_NULL, related_name="members", null=True, blank=True, db_index=False
    )  # indexed by delivery_batch_idx, where it is set
    # Sent as `webhook-id`: stable across the retries of one delivery, so receivers can dedupe.
    uid = models.UUIDField(default=uuid7, unique=True, editable=False)
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
        # Every index costs each delivery's three row versions (pending, sending, succeeded) an
        # entry: the ones of unfinished deliveries are partial, so that the millions of finished
        # ones are not in them, and none repeats another's first column (the webhook's and the
        # batch's foreign keys have no index of their own).
        indexes = [
            # The sweep: due retries and lost hand-overs (DeliveryQuerySet.due), the windows of
            # batched webhooks (status 'waiting'), the admin's Delivery queues.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=UNFINISHED),
                name="delivery_unfinished_idx",
            ),
            # The sweep: leases of workers that died (sweeper.reclaim_expired_leases).
            models.Index(fields=["lease_expires_at"], condition=models.Q(status=SENDING[0]), name="delivery_lease_idx"),
            # The delivery log of a webhook, by status, newest first; and what a retry may send.
            models.Index(fields=["webhook", "status", "created_at"]),
            # The delivery log of a webhook unfiltered, newest first (webhooks.deliveries.delivery_page):
            # one page read from the index, whatever the webhook's history.
            models.Index(fields=["webhook", "created_at", "id"], name="delivery_webhook_created_idx"),
            # The events of a batch (settling them, retention): only batched events have one.
            models.Index(fields=["batch"], condition=models.Q(batch__isnull=False), name="delivery_batch_idx"),
            # Retention (webhooks.retention.old_deliveries): the oldest finished deliveries before the
            # cutoff, `WHERE created_at < %s AND status IN (finished) ORDER BY created_at LIMIT n`. Partial,
            # on the same condition, so that the database walks it in order and reads n rows: with the
            # status index it would read every finished delivery (nearly the whole table) and sort them.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=FINISHED),
                name="delivery_finished_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook}"

    # Done without being delivered: "Retry now" sends them again.
    RETRYABLE = (Status.FAILED, Status.CANCELLED)

    @property
    def is_done(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def can_retry_now(self) -> bool:
        """Whether "Retry now" may send it again at once; the rule of DeliveryQuerySet.retryable."""
        if self.is_test or self.batch_id is not None:
            return False
        if self.status in self.RETRYABLE:
            return True
        return (
            self.status == self.Status.PENDING
            and self.attempt_count > 0
            and self.next_attempt_at is not None
            and self.next_attempt_at > timezone.now()
        )

    @property
    def batch_size(self) -> int:
        return len(self.payload) if isinstance(self.payload, list) else 1

    def event_type(self) -> catalog.EventType | None:
        return catalog.get(self.webhook.type, self.event)

    @property
    def label(self) -> str:
        if self.is_batch:
            return ngettext("Batch of %(count)s event", "Batch of %(count)s events", self.batch_size) % {
                "count": self.batch_size
            }
        if self.event == AUTOMATION_EVENT:
            return _("Call a webhook")
        event = self.event_type()
        return str(event.label) if event else self.event

    @property
    def contact_email(self) -> str:
        """Whom the delivery is about: the `email` of its payload (Brevo's events and automation calls
        carry one), what a marketer looks for in the log; empty for a batch."""
        email = self.payload.get("email") if isinstance(self.payload, dict) else None
        return email if isinstance(email, str) else ""

    @property
    def status_text(self) -> str:
        """The status in words: "Retrying (attempt 2 failed: HTTP 500)" rather than a bare "Pending"."""
        if self.status == self.Status.PENDING and self.attempt_count:
            attempt = self.last_attempt()
            if attempt is not None and attempt.is_complete and not attempt.is_success:
                return _("Retrying (attempt %(number)s failed: %(answer)s)") % {
                    "number": attempt.number,
                    "answer": attempt.answer,
                }
            return _("Retrying")
        if self.status == self.Status.SENDING and self.attempt_count > 1:
            return _("Sending (attempt %(number)s)") % {"number": self.attempt_count}
        return str(self.get_status_display())

    def last_attempt(self) -> Attempt | None:
        # Lists prefetch the attempts; use them rather than one more query per row.
        if "attempts" in getattr(self, "_prefetched_objects_cache", {}):
            return max(self.attempts.all(), key=lambda attempt: attempt.number, default=None)
        return self.attempts.order_by("-number").first()


Delivery._meta.get_field("status").register_lookup(IndexedAs)


class Attempt(models.Model):
    """One HTTP try of a delivery, written once, whole, when its outcome is known (or by the sweep,
    when the worker that made it died: its lease ran out)."""

    # Indexed by the unique (delivery, number) constraint, which starts with it.
    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="attempts", db_index=False)
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
        # Written before its request, completed after it: until then neither is set.
        return self.response_status is not None or bool(self.error)

    @property
    def error_text(self) -> str:
        """Why there was no answer, in the reader's language (stored in English)."""
        return answers.in_words(self.error)

    @property
    def answer(self) -> str:
        """ "HTTP 500", or why there was no answer ("Connection refused")."""
        if self.response_status is not None:
            return _("HTTP %(status)s") % {"status": self.response_status}
        return self.error_text or _("no answer yet")


class HourlyCount(models.Model):
    """Attempts of one webhook in one hour, counted as they are recorded.

    The chart of the delivery log and the 24-hour health figures read these rows, at
    most 24 per webhook, instead of counting attempts: they stay fast whatever the size
    of the history, and right after old attempts are pruned. Test sends do not count.
    """

    webhook = models.ForeignKey(Webhook, models.CASCADE, related_name="hourly_counts")
    hour = models.DateTimeField()
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        # Also the index of the chart's query: one webhook's last 24 hours.
        constraints = [models.UniqueConstraint(fields=["webhook", "hour"], name="unique_hourly_count")]
        indexes = [
            # Retention (webhooks.retention.prune_hourly_counts): `WHERE hour < %s ORDER BY hour LIMIT n`.
            models.Index(fields=["hour"], name="hourly_count_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} at {self.hour:%Y-%m-%d %H}:00"


class AccountTurns(Account):
    """Accounts as the delivery queue sees them: what each has waiting (the admin's "Delivery queues")."""

    class Meta:
        proxy = True
        verbose_name = "delivery queue"
        verbose_name_plural = "delivery queues"


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
        indexes = [
            # Retention (webhooks.retention.prune_exports): `WHERE created_at < %s ORDER BY created_at LIMIT n`.
            models.Index(fields=["created_at"], name="export_created_at_idx"),
        ]

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
