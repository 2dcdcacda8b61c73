"""The Automations pages: the list, the editor (server-rendered), run history and "Send a test"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import account_required
from automations import steps as automation_steps
from automations.forms import AutomationForm, StepForm
from automations.history import calls_of
from automations.models import Automation, Run, Step
from automations.samples import enqueue_step_test
from brevo_hooks.numbers import whole_number
from webhooks import jobs
from webhooks.models import Delivery

RUNS_PAGE_SIZE = 50
STEP_FIELDS = ("id", "kind", "wait_amount", "wait_unit", "url", "auth_token", "custom_headers")
STEP_FLAGS = ("include_contact", "include_event", "remove_auth_token")


def get_automation_for_user(request: HttpRequest, pk: int) -> Automation:
    return get_object_or_404(Automation, pk=pk, account=request.user.account)


def get_step_for_user(automation: Automation, pk: int) -> Step:
    return get_object_or_404(
        Step.objects.select_related("webhook"), pk=pk, automation=automation, kind=Step.Kind.WEBHOOK
    )


@account_required
def automation_list(request: HttpRequest) -> HttpResponse:
    automations = Automation.objects.filter(account=request.user.account).annotate(
        run_count=Count("runs"), active_runs=Count("runs", filter=Q(runs__status=Run.Status.ACTIVE))
    )
    return render(request, "automations/list.html", {"automations": automations})


@dataclass
class Editor:
    """What the editor template shows: the automation's form, its step forms, and an error of the steps."""

    form: AutomationForm
    steps: list[StepForm]
    steps_error: str = ""

    def context(self, automation: Automation) -> dict[str, Any]:
        return {"automation": automation, "form": self.form, "step_forms": self.steps, "steps_error": self.steps_error}

    def is_valid(self, action: str) -> bool:
        """Whether every form is valid, and the steps fit the action (activating needs one)."""
        valid = self.form.is_valid() & all([step.is_valid() for step in self.steps])
        if valid and action == "activate" and not self.steps:
            self.steps_error = _("Add at least one step before activating the automation.")
            return False
        return valid

    def steps_gone(self, automation: Automation) -> None:
        """After StepGone: each form whose step the automation no longer has says so, and so do the steps."""
        stored = set(automation.steps.values_list("pk", "kind"))
        for step in self.steps:
            pk = step.cleaned_data.get("id")
            if pk is not None and (pk, step.cleaned_data.get("kind")) not in stored:
                step.step_gone()
        self.steps_error = _(
            "Nothing was saved: a step of this automation was removed meanwhile, in another window or through "
            "the API. Reload the page to see the automation as it is now."
        )


@account_required
@require_http_methods(["GET", "POST"])
def automation_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create or edit an automation: Save, Activate, Pause, and the step tools (add, move, remove)."""
    automation = get_automation_for_user(request, pk) if pk else Automation(account=request.user.account)
    existing = {step.pk: step for step in automation.steps.select_related("webhook")} if automation.pk else {}
    if request.method == "GET":
        return show_editor(request, automation, stored_editor(automation, existing))
    if request.POST.get("op", ""):
        # Add, move or remove a step: shown again, with everything typed so far, and saved by Save.
        return show_editor(request, automation, rearranged_editor(request.POST, automation, existing))
    editor = posted_editor(request.POST, automation, existing)
    return save_editor(request, automation, editor, request.POST.get("action", "save"))


def show_editor(request: HttpRequest, automation: Automation, editor: Editor, status: int = 200) -> HttpResponse:
    return render(request, "automations/editor.html", editor.context(automation), status=status)


def stored_editor(automation: Automation, existing: dict[int, Step]) -> Editor:
    """The editor of the automation as it is stored."""
    return Editor(
        AutomationForm(instance=automation),
        [StepForm(prefix=f"steps-{n}", step=step) for n, step in enumerate(existing.values())],
    )


def rearranged_editor(data: QueryDict, automation: Automation, existing: dict[int, Step]) -> Editor:
    """The editor as typed, after the step tool that was posted (unbound: nothing is checked yet)."""
    rows = apply_op(posted_steps(data), data.get("op", ""), data.get("add_kind", ""))
    return Editor(
        AutomationForm(instance=automation, initial=posted_automation(data)),
        [
            StepForm(prefix=f"steps-{n}", initial=row, step=existing.get(as_id(row.get("id"))))
            for n, row in enumerate(rows)
        ],
    )


def posted_editor(data: QueryDict, automation: Automation, existing: dict[int, Step]) -> Editor:
    """The editor bound to what was posted, each step form to the stored step it names."""
    return Editor(
        AutomationForm(data, instance=automation),
        [
            StepForm(data, prefix=f"steps-{n}", step=existing.get(as_id(data.get(f"steps-{n}-id"))))
            for n in range(step_count(data))
        ],
    )


def save_editor(request: HttpRequest, automation: Automation, editor: Editor, action: str) -> HttpResponse:
    """Save what `editor` checked and go back to the page, or show it again with why not.

    A 400 for what the forms refuse or the webhook limit, a 409 for a step that another
    request removed after this one checked the forms (saving is all or nothing).
    """
    if not editor.is_valid(action):
        return show_editor(request, automation, editor, status=400)
    was = (automation.pk, automation.status)
    automation.status = {"activate": Automation.Status.ACTIVE, "pause": Automation.Status.PAUSED}.get(
        action, automation.status
    )
    try:
        automation_steps.save(automation, [step.spec() for step in editor.steps])
    except automation_steps.TooManyWebhooks as exc:
        editor.steps_error, status = str(exc), 400
    except automation_steps.StepGone:
        editor.steps_gone(automation)
        status = 409
    else:
        messages.success(request, saved_message(action, automation))
        return redirect("automations:edit", pk=automation.pk)
    # Nothing was saved: the page shows the automation as it still is.
    automation.pk, automation.status = was
    return show_editor(request, automation, editor, status=status)


def saved_message(action: str, automation: Automation) -> str:
    if action == "activate":
        return _("Automation “%(name)s” saved and activated.") % {"name": automation.name}
    if action == "pause":
        return _("Automation “%(name)s” paused: its contacts wait where they are.") % {"name": automation.name}
    return _("Automation “%(name)s” saved.") % {"name": automation.name}


def as_id(value: Any) -> int | None:
    return whole_number(str(value or "")) or None


def step_count(data: QueryDict) -> int:
    count = as_id(data.get("steps-count")) or 0
    return min(count, automation_steps.MAX_STEPS + 1)


def posted_steps(data: QueryDict) -> list[dict[str, Any]]:
    """The step rows as typed, to show them again in a new order."""
    return [
        {
            **{name: data.get(f"steps-{n}-{name}", "") for name in STEP_FIELDS},
            **{flag: f"steps-{n}-{flag}" in data for flag in STEP_FLAGS},
        }
        for n in range(step_count(data))
    ]


def posted_automation(data: QueryDict) -> dict[str, Any]:
    fields = ("name", "trigger", "list_id", "link_contains", "tag", "attribute", "attribute_value")
    return {**{name: data.get(name, "") for name in fields}, "reentry": "reentry" in data}


def apply_op(rows: list[dict[str, Any]], op: str, add_kind: str) -> list[dict[str, Any]]:
    """Rows after "add", "up-N", "down-N" or "remove-N"; anything else leaves them as they are."""
    if op == "add":
        if add_kind in Step.Kind.values and len(rows) < automation_steps.MAX_STEPS:
            rows.append({"kind": add_kind, "wait_unit": "60"} if add_kind == Step.Kind.WAIT else {"kind": add_kind})
        return rows
    name, _dash, number = op.partition("-")
    n = as_id(number) if number != "0" else 0
    if n is None or n >= len(rows):
        return rows
    if name == "remove":
        del rows[n]
    elif name == "up" and n > 0:
        rows[n - 1], rows[n] = rows[n], rows[n - 1]
    elif name == "down" and n + 1 < len(rows):
        rows[n], rows[n + 1] = rows[n + 1], rows[n]
    return rows


@account_required
@require_http_methods(["GET", "POST"])
def automation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    automation = get_automation_for_user(request, pk)
    if request.method == "POST":
        automation_steps.delete(automation)
        messages.success(request, _("Automation “%(name)s” deleted.") % {"name": automation.name})
        return redirect("automations:list")
    return render(request, "automations/confirm_delete.html", {"automation": automation})


@account_required
def run_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Each contact's progress, with each Call a webhook linked to its delivery log entry."""
    automation = get_automation_for_user(request, pk)
    steps = list(automation.steps.all())
    page = Paginator(automation.runs.select_related("event"), RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    found = calls_of(automation, list(page.object_list))
    runs = [
        (run, found.get(run.pk, []), steps[run.position - 1] if 0 < run.position <= len(steps) else None)
        for run in page
    ]
    return render(
        request,
        "automations/runs.html",
        {"automation": automation, "page": page, "runs": runs, "step_count": len(steps), "now": timezone.now()},
    )


@account_required
@require_POST
def step_test(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    """Send a test: the step's call with sample contact values, to its saved URL."""
    automation = get_automation_for_user(request, pk)
    step = get_step_for_user(automation, step_pk)
    try:
        delivery = enqueue_step_test(step)
    except jobs.QueueUnavailable:
        messages.error(
            request, _("The test could not be queued: the delivery queue is unreachable. Try again shortly.")
        )
        return redirect("automations:edit", pk=automation.pk)
    return redirect("automations:step_test_result", pk=automation.pk, step_pk=step.pk, delivery_pk=delivery.pk)


@account_required
def step_test_result(request: HttpRequest, pk: int, step_pk: int, delivery_pk: int) -> HttpResponse:
    """The outcome of one test of a step; the page polls its own fragment until it arrives."""
    automation = get_automation_for_user(request, pk)
    step = get_step_for_user(automation, step_pk)
    delivery = get_object_or_404(Delivery, pk=delivery_pk, webhook_id=step.webhook_id, is_test=True)
    context = {"automation": automation, "step": step, "delivery": delivery, "attempt": delivery.last_attempt()}
    if request.GET.get("fragment"):
        return render(request, "webhooks/_test_result.html", context)
    return render(request, "automations/test_result.html", context)
