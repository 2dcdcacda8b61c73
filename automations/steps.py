"""Saving an automation with its steps, for the editor and the API alike.

Each Call a webhook step owns a Webhook (source "automation"): its URL, bearer token,
user:password@ and custom headers, and a signing secret of its own. Those webhooks count
toward the account's limit of WEBHOOKS_MAX_PER_ACCOUNT, as Brevo counts them, so saving
locks the account like adding a webhook does, and refuses to pass the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Account
from automations.models import Automation, Step
from webhooks.models import Webhook

# Steps per automation; a Wait lasts at most a year.
MAX_STEPS = 50
MAX_WAIT_SECONDS = 366 * 86400


@dataclass
class StepSpec:
    """A step as the editor or the API describes it, already checked."""

    kind: str
    # The step it updates (keeping its webhook, secret and delivery log), or None for a new one.
    id: int | None = None
    seconds: int = 0
    url: str = ""
    include_contact: bool = False
    include_event: bool = False
    # None keeps the current token; "" removes it.
    auth_token: str | None = None
    # None keeps the current headers.
    headers: list[dict[str, str]] | None = field(default=None)


class TooManyWebhooks(Exception):
    """Saving would pass the account's webhook limit; str() says so."""


class StepGone(ValueError):
    """A step to keep is not (or no longer) a step of the automation, or not of the spec's kind."""


def limit_error(needed: int, available: int) -> str:
    limit = settings.WEBHOOKS_MAX_PER_ACCOUNT
    return _(
        "You can create up to %(limit)d webhooks, and each Call a webhook step is one. "
        "This automation needs %(needed)d; the account has room for %(available)d more. "
        "Remove a step, or delete a webhook."
    ) % {"limit": limit, "needed": needed, "available": max(0, available)}


@transaction.atomic
def save(automation: Automation, specs: list[StepSpec]) -> None:
    """Save `automation` and make its steps exactly `specs`, in order; all or nothing.

    Raises TooManyWebhooks when the account would pass the webhook limit, and StepGone for a
    step id that is not the automation's (the callers check ids first, but another request may
    have removed the step since), and Http404 if another request deleted the automation since
    (saving it would make it again).
    """
    # Locking the account serialises this with adding webhooks, so the limit cannot be overshot.
    Account.objects.select_for_update().get(pk=automation.account_id)
    if automation.pk and not Automation.objects.select_for_update().filter(pk=automation.pk).exists():
        raise Http404("The automation was deleted meanwhile.")
    existing = {step.pk: step for step in automation.steps.select_related("webhook")} if automation.pk else {}
    check_limit(automation, existing, specs)
    automation.save()
    remove_unkept(existing, specs)
    for position, spec in enumerate(specs):
        save_step(automation, existing, spec, position)


def check_limit(automation: Automation, existing: dict[int, Step], specs: list[StepSpec]) -> None:
    """TooManyWebhooks if `specs` need more webhooks than the account has room for."""
    mine = sum(step.webhook_id is not None for step in existing.values())
    needed = sum(spec.kind == Step.Kind.WEBHOOK for spec in specs)
    others = Webhook.objects.filter(account_id=automation.account_id).count() - mine
    if needed > mine and others + needed > settings.WEBHOOKS_MAX_PER_ACCOUNT:
        raise TooManyWebhooks(limit_error(needed, settings.WEBHOOKS_MAX_PER_ACCOUNT - others))


def remove_unkept(existing: dict[int, Step], specs: list[StepSpec]) -> None:
    """Delete the steps `specs` do not keep; StepGone if they keep one that `existing` lacks."""
    kept = {spec.id for spec in specs if spec.id is not None}
    if not kept <= set(existing):
        raise StepGone(f"The automation has no step {', '.join(map(str, sorted(kept - set(existing))))}.")
    removed = [step for pk, step in existing.items() if pk not in kept]
    # A step's webhook goes with it (and takes the step along: Step.webhook cascades).
    Webhook.objects.filter(pk__in=[s.webhook_id for s in removed if s.webhook_id]).delete()
    Step.objects.filter(pk__in=[s.pk for s in removed]).delete()


def save_step(automation: Automation, existing: dict[int, Step], spec: StepSpec, position: int) -> None:
    """Save one step as `spec` says, at `position` (kept from `existing`, or new)."""
    step = existing[spec.id] if spec.id is not None else Step(automation=automation, kind=spec.kind)
    if step.kind != spec.kind:
        raise StepGone(f"Step {step.pk} is a {step.kind} step; a step keeps its type.")
    step.position = position
    if spec.kind == Step.Kind.WAIT:
        step.wait_seconds = spec.seconds
    else:
        step.include_contact, step.include_event = spec.include_contact, spec.include_event
        step.webhook = save_webhook(automation, step, spec, position)
    step.save()


def save_webhook(automation: Automation, step: Step, spec: StepSpec, position: int) -> Webhook:
    """The step's webhook with the spec's URL, auth and headers, saved (made for a new step)."""
    webhook = step.webhook or Webhook(account_id=automation.account_id, source=Webhook.Source.AUTOMATION)
    webhook.url = spec.url
    webhook.type = automation.trigger_type
    webhook.description = _("%(name)s, step %(number)d") % {"name": automation.name, "number": position + 1}
    if spec.auth_token is not None:
        webhook.auth_token = spec.auth_token
    if spec.headers is not None:
        webhook.headers = spec.headers
    if not webhook.enabled:
        # Saving the automation is the fresh start that "Enable" is on the Webhooks page.
        webhook.enabled, webhook.disabled_reason = True, ""
        webhook.failing_since = webhook.paused_until = None
    webhook.save()
    return webhook


@transaction.atomic
def delete(automation: Automation) -> None:
    """Delete `automation`, its runs, and its steps' webhooks with their delivery logs."""
    Webhook.objects.filter(automation_step__automation=automation).delete()
    automation.delete()
