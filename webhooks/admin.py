from django.contrib import admin
from django.db import models

from webhooks.models import Attempt, Delivery, Export, Subscription, Webhook


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "masked_url", "account", "type", "source", "batched", "enabled", "event_list", "created_at",
    ]  # fmt: skip
    list_filter = ["type", "source", "batched", "enabled", "created_at"]
    list_select_related = ["account"]
    search_fields = ["url", "description", "account__name"]
    raw_id_fields = ["account"]
    # Secrets never appear in the admin: operators see that they exist, not what they are.
    exclude = ["url", "auth_token", "signing_secret", "previous_signing_secret"]
    readonly_fields = ["masked_url", "has_auth_token", "previous_secret_expires_at", "created_at", "modified_at"]
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
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "webhook", "status", "is_test", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["status", "is_test", "event", "created_at"]
    list_select_related = ["webhook"]
    search_fields = ["uid", "event", "webhook__url", "webhook__account__name"]
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
