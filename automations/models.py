"""Contacts, automations with their steps, and runs (one contact's way through an automation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections, models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

import catalog
from accounts.models import Account
from brevo_hooks.durations import duration
from webhooks import sql
from webhooks.models import Webhook

TYPE_CHOICES = [(catalog.TRANSACTIONAL, _("Transactional")), (catalog.MARKETING, _("Marketing"))]


class Contact(models.Model):
    """A contact of an account, as the contact events the platform reports describe it."""

    account = models.ForeignKey(Account, models.CASCADE, related_name="contacts")
    # Lower-cased: one contact per account and address.
    email = models.CharField(max_length=254)
    # The contact's id in Brevo: `id` of a listAddition, or `contact_id` of an email event.
    brevo_id = models.BigIntegerField(_("Brevo contact id"), null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    lists = models.JSONField(default=list, blank=True, help_text=_("Ids of the lists the contact was added to."))
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="unique_contact_email")]

    def __str__(self) -> str:
        return self.email


class AutomationQuerySet(models.QuerySet["Automation"]):
    def triggered_by(self, account: Account, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[Automation]]:
        """The active automations of `account` whose trigger is one of `keys` (type, subscription), with their steps."""
        if not keys or not self._any_active(account, {name for _, name in keys}):
            return {}
        found: dict[tuple[str, str], list[Automation]] = {}
        rows = self.filter(
            account=account, status=Automation.Status.ACTIVE, trigger_event__in={name for _, name in keys}
        ).prefetch_related(models.Prefetch("steps", Step.objects.select_related("webhook")))
        for automation in rows.order_by("pk"):
            automation.account = account  # the caller has it: no query per automation
            key = (automation.trigger_type, automation.trigger_event)
            if key in keys:
                found.setdefault(key, []).append(automation)
        return found

    def _any_active(self, account: Account, names: set[str]) -> bool:
        """Whether any active automation of `account` starts on one of `names`.

        Every request of the events API asks, and most find none: one plain statement,
        where compiling the query above cost a tenth of a one-event request.
        """
        among, values = sql.any_of(sorted(names), "text")
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM automations_automation WHERE account_id = %s AND status = %s "  # noqa: S608 (ours)
                f"AND trigger_event {among} LIMIT 1",
                [account.pk, Automation.Status.ACTIVE.value, *values],
            )
            return cursor.fetchone() is not None


class Automation(models.Model):
    """A trigger (an event, with an optional condition) and the steps a contact then goes through."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    # Conditions that narrow a trigger; which fit which event is in automations.triggers.
    class Condition(models.TextChoices):
        NONE = "", _("None")
        LIST_ID = "listId", _("Added to the list")
        LINK_CONTAINS = "linkContains", _("Link containing")
        TAG = "tag", _("Tag")
        ATTRIBUTE = "attribute", _("Attribute equal to")

    account = models.ForeignKey(Account, models.CASCADE, related_name="automations")
    name = models.CharField(_("Name"), max_length=200)
    trigger_type = models.CharField(max_length=20, choices=TYPE_CHOICES, default=catalog.MARKETING)
    # The canonical subscription name of the catalog, e.g. "listAddition".
    trigger_event = models.CharField(max_length=40)
    condition = models.CharField(max_length=20, choices=Condition.choices, blank=True, default="")
    # The attribute's name, for Condition.ATTRIBUTE.
    condition_attribute = models.CharField(max_length=100, blank=True)
    # The list id, the text of the link, the tag, or the attribute's value.
    condition_value = models.CharField(max_length=500, blank=True)
    # Whether a contact may start again while a run of theirs is still going.
    reentry = models.BooleanField(_("Let a contact enter again while already inside"), default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    modified_at = models.DateTimeField(auto_now=True)

    objects = AutomationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status", "trigger_event"])]

    def __str__(self) -> str:
        return self.name

    def event_type(self) -> catalog.EventType | None:
        return catalog.get(self.trigger_type, self.trigger_event)

    @property
    def trigger_label(self) -> str:
        event = self.event_type()
        label = gettext(event.label) if event else self.trigger_event
        return f"{gettext(catalog.TYPE_LABELS.get(self.trigger_type, self.trigger_type))}: {label}"

    @property
    def condition_label(self) -> str:
        """The condition in words, or "" when there is none."""
        if self.condition == self.Condition.LIST_ID:
            return gettext("list %(list)s") % {"list": self.condition_value}
        if self.condition == self.Condition.LINK_CONTAINS:
            return gettext("link containing “%(text)s”") % {"text": self.condition_value}
        if self.condition == self.Condition.TAG:
            return gettext("tag “%(tag)s”") % {"tag": self.condition_value}
        if self.condition == self.Condition.ATTRIBUTE:
            return f"{self.condition_attribute} = “{self.condition_value}”"
        return ""

    @property
    def conditions(self) -> dict[str, Any]:
        """The condition as the API writes it: {"listId": 7}, {"attribute": ..., "value": ...}, or {}."""
        if self.condition == self.Condition.LIST_ID:
            return {"listId": int(self.condition_value)}
        if self.condition == self.Condition.ATTRIBUTE:
            return {"attribute": self.condition_attribute, "value": self.condition_value}
        if self.condition:
            return {self.condition: self.condition_value}
        return {}


class Step(models.Model):
    """One step of an automation: a Wait, or a Call a webhook with a Webhook of its own."""

    class Kind(models.TextChoices):
        WAIT = "wait", _("Wait")
        WEBHOOK = "webhook", _("Call a webhook")

    automation = models.ForeignKey(Automation, models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    include_contact = models.BooleanField(_("Include details of the contact who triggered the event"), default=False)
    include_event = models.BooleanField(_("Include details of the trigger event"), default=False)
    # The URL, auth and headers live in the Webhook, so that the engine delivers the calls
    # exactly as it delivers events. Deleting the webhook deletes the step (automations.steps
    # deletes a removed step by deleting its webhook).
    webhook = models.OneToOneField(
        Webhook, models.CASCADE, null=True, blank=True, related_name="automation_step", editable=False
    )

    class Meta:
        ordering = ["automation", "position", "id"]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.describe()}"

    def describe(self) -> str:
        if self.kind == self.Kind.WAIT:
            return gettext("Wait %(duration)s") % {"duration": duration(self.wait_seconds or 0)}
        return gettext("Call a webhook")


class RunQuerySet(models.QuerySet["Run"]):
    def due(self, now: datetime) -> RunQuerySet:
        """Runs of active automations whose next step may go now."""
        return self.filter(
            status=Run.Status.ACTIVE, due_at__lte=now, automation__status=Automation.Status.ACTIVE
        ).order_by("due_at", "pk")


class Run(models.Model):
    """One contact's way through an automation: where they are, and when they go on.

    `position` is the index of the next step; `due_at` is when it may run (a Wait sets it
    ahead). The runner (automations.runner) moves a due run along with a conditional UPDATE.
    """

    # "a run": in Italian a run is masculine ("percorso"), a delivery feminine ("consegna").
    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("a run", "In progress")
        DONE = "done", pgettext_lazy("a run", "Finished")
        STOPPED = "stopped", pgettext_lazy("a run", "Stopped")

    class StopReason(models.TextChoices):
        NONE = "", ""
        CONTACT_DELETED = "contact_deleted", _("The contact was deleted.")

    automation = models.ForeignKey(Automation, models.CASCADE, related_name="runs")
    # Kept empty once the contact is deleted; the run was stopped then, and keeps its email.
    contact = models.ForeignKey(Contact, models.SET_NULL, null=True, blank=True, related_name="runs")
    email = models.CharField(max_length=254)
    # The event that started the run: its payload is the `event` of the calls.
    event = models.ForeignKey("events.Event", models.SET_NULL, null=True, blank=True, related_name="runs")
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    due_at = models.DateTimeField(null=True, blank=True)
    # A run of an automation without re-entry: at most one such run per contact is active.
    exclusive = models.BooleanField(default=True)
    stop_reason = models.CharField(max_length=40, choices=StopReason.choices, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["automation", "-started_at"]),
        ]
        constraints = [
            # Two events of one contact at the same moment cannot both enter an automation
            # without re-entry: the second insert fails, and emit() retries and sees the first.
            models.UniqueConstraint(
                fields=["automation", "contact"],
                condition=models.Q(status="active", exclusive=True),
                name="one_active_run_without_reentry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} in {self.automation_id}"
