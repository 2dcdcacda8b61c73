from django.contrib import admin

from events.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["uid", "account", "type", "name", "idempotency_key", "occurred_at", "created_at"]
    list_filter = ["type", "name", "created_at"]
    list_select_related = ["account"]
    search_fields = ["uid", "idempotency_key", "account__name"]
    raw_id_fields = ["account"]
    # What the platform reported is evidence: it is read, never edited.
    readonly_fields = ["uid", "account", "type", "name", "data", "occurred_at", "idempotency_key", "created_at"]
    date_hierarchy = "created_at"
