"""The admin: a tool operators use, which shows that secrets exist but never what they are."""

from __future__ import annotations

import re

from django.contrib import admin
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from redis.exceptions import RedisError

import catalog
from webhooks import fairqueue
from webhooks.models import MASK, AccountTurns, Attempt, Delivery, Export, Subscription, Webhook

# What a host name (and port) can hold: a search term of anything else cannot name a host.
HOST_TERM = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")


def host_regex(term: str) -> str | None:
    """A regex matching URLs whose host (or port) contains `term`; None if `term` cannot be in a host.

    The user and password before an `@` are skipped: searching must never confirm a password
    one character at a time. The pattern is read the same by SQLite (Python's re) and PostgreSQL.
    """
    if not HOST_TERM.match(term):
        return None
    literal = "".join(f"[{char}]" if char in ".[]" else char for char in term)
    return rf"^[a-z]+://([^/?#]*@)?[^/?#@]*{literal}[^/?#@]*([/?#]|$)"


class HostSearchMixin:
    """Search the host of `url_field`, not the whole URL (which may hold a password)."""

    url_field = "url"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        pattern = host_regex(search_term.strip())
        if pattern:
            found = found | queryset.filter(**{f"{self.url_field}__iregex": pattern})
        return found, duplicates


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0


@admin.register(Webhook)
class WebhookAdmin(HostSearchMixin, admin.ModelAdmin):
    list_display = [
        "__str__", "masked_url", "account", "type", "source", "batched", "enabled", "event_list", "created_at",
    ]  # fmt: skip
    list_filter = ["type", "source", "batched", "enabled", "created_at"]
    list_select_related = ["account"]
    # The URL is searched by its host only (HostSearchMixin).
    search_fields = ["description", "account__name"]
    raw_id_fields = ["account"]
    # Secrets never appear in the admin: operators see that they exist, not what they are. Custom
    # header values often hold a receiver's key: they are masked, as in the delivery log.
    exclude = ["url", "auth_token", "signing_secret", "previous_signing_secret", "headers"]
    readonly_fields = [
        "masked_url", "has_auth_token", "masked_headers", "previous_secret_expires_at", "created_at", "modified_at"
    ]  # fmt: skip
    inlines = [SubscriptionInline]
    # A URL typed without a scheme means https, as in the app's own form (and Django 6).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request) -> bool:
        # The URL is read-only here (it may hold a password); webhooks are made in the app or the API.
        return False

    @admin.display(description="bearer token", boolean=True)
    def has_auth_token(self, obj: Webhook) -> bool:
        return bool(obj.auth_token)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("subscriptions")

    @admin.display(description="URL")
    def masked_url(self, obj: Webhook) -> str:
        return obj.masked_url

    @admin.display(description="custom headers")
    def masked_headers(self, obj: Webhook) -> str:
        return ", ".join(f"{header['key']}: {MASK}" for header in obj.headers or []) or "-"

    @admin.display(description="events")
    def event_list(self, obj: Webhook) -> str:
        return ", ".join(s.event for s in obj.subscriptions.all())


class AttemptInline(admin.StackedInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in Attempt._meta.fields if f.name != "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(HostSearchMixin, admin.ModelAdmin):
    url_field = "webhook__url"
    list_display = ["id", "event", "webhook", "status", "is_test", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["status", "is_test", "event", "created_at"]
    list_select_related = ["webhook"]
    search_fields = ["uid", "event", "webhook__account__name"]
    raw_id_fields = ["webhook", "event_record", "batch"]
    readonly_fields = ["uid", "created_at", "completed_at", "payload", "claim_token"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "delivery", "number", "response_status", "duration_ms", "error", "started_at"]
    list_filter = ["response_status", "started_at"]
    list_select_related = ["delivery"]
    search_fields = ["delivery__uid", "request_url", "error"]
    raw_id_fields = ["delivery"]
    # The log of what happened is evidence: it is read, never edited.
    readonly_fields = [f.name for f in Attempt._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "status", "row_count", "created_at", "finished_at", "notified_at", "error"]
    list_filter = ["status", "created_at"]
    list_select_related = ["account"]
    search_fields = ["account__name"]
    raw_id_fields = ["account"]
    exclude = ["csv", "token_hash", "notify_url"]
    readonly_fields = ["params", "base_url", "status", "row_count", "error", "created_at", "finished_at", "expires_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AccountTurns)
class DeliveryQueuesAdmin(admin.ModelAdmin):
    """Which accounts have work waiting, and how much: the RQ dashboard shows only a few queues."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        try:
            in_redis, redis_error = fairqueue.waiting_by_account(), ""
        except RedisError as exc:
            in_redis, redis_error = {}, str(exc)
        rows = queue_rows(in_redis, timezone.now())
        rows.sort(key=lambda row: -(row["transactional"] + row["marketing"] + row["due"]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Delivery queues",
            "opts": self.model._meta,
            "rows": rows,
            "redis_error": redis_error,
            "scheduled": 0 if redis_error else fairqueue.scheduled_count(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/webhooks/delivery_queues.html", context)


def queue_rows(in_redis: dict[int, dict[str, int]], now) -> list[dict[str, object]]:
    """Per account with work: what waits in Redis, and the pending and sending deliveries of the database."""
    # Only unfinished deliveries are read, through the (status, next_attempt_at) index.
    unfinished = (
        Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING])
        .values("webhook__account_id")
        .annotate(
            due=Count("id", filter=Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)),
            later=Count("id", filter=Q(status=Delivery.Status.PENDING, next_attempt_at__gt=now)),
            sending=Count("id", filter=Q(status=Delivery.Status.SENDING)),
        )
    )
    counts = {row.pop("webhook__account_id"): row for row in unfinished}
    names = dict(AccountTurns.objects.filter(pk__in=counts.keys() | in_redis.keys()).values_list("pk", "name"))
    return [
        {
            "pk": pk,
            "name": name,
            "transactional": in_redis.get(pk, {}).get(catalog.TRANSACTIONAL, 0),
            "marketing": in_redis.get(pk, {}).get(catalog.MARKETING, 0),
            **counts.get(pk, {"due": 0, "later": 0, "sending": 0}),
        }
        for pk, name in names.items()
    ]
