from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from automations import steps as automation_steps
from automations.models import Automation, Contact, Run, Step


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "account", "brevo_id", "lists", "updated_at"]
    list_filter = ["updated_at"]
    list_select_related = ["account"]
    search_fields = ["email", "brevo_id", "account__name"]
    raw_id_fields = ["account"]
    readonly_fields = ["created_at"]


class StepInline(admin.TabularInline):
    # Steps, and the webhooks they own, are made in the editor or the API, which keep the two
    # together and the webhook limit; here they are read.
    model = Step
    fields = ["position", "kind", "wait_seconds", "include_contact", "include_event", "webhook_link"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="webhook")
    def webhook_link(self, step: Step) -> str:
        return step.webhook.masked_url if step.webhook else ""


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "trigger_label", "condition_label", "status", "reentry", "created_at"]
    list_filter = ["status", "trigger_type", "trigger_event", "created_at"]
    list_select_related = ["account"]
    search_fields = ["name", "account__name"]
    raw_id_fields = ["account"]
    readonly_fields = ["trigger_type", "trigger_event", "condition", "condition_attribute", "condition_value"]
    inlines = [StepInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Automation) -> None:
        automation_steps.delete(obj)  # with its steps' webhooks

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation in queryset:
            automation_steps.delete(automation)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "automation", "status", "position", "due_at", "started_at", "finished_at"]
    list_filter = ["status", "stop_reason", "started_at"]
    list_select_related = ["automation"]
    search_fields = ["email", "automation__name", "automation__account__name"]
    raw_id_fields = ["automation", "contact", "event"]
    date_hierarchy = "started_at"
    # The history of what happened is read, not edited.
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
