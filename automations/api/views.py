"""/v3/automations (our addition): automations and their runs, under the rules of /v3/webhooks.

The same api-key authentication and `{"code", "message"}` errors; every lookup goes through the
caller's account, so another account's automation is a 404 `document_not_found`, exactly like
an id that does not exist. A request that is refused saves nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from automations import steps as automation_steps
from automations.api import serializers as s
from automations.history import calls_of
from automations.models import Automation, Run, Step
from webhooks.api.errors import Invalid
from webhooks.api.serializers import CreatedSerializer, ErrorSerializer
from webhooks.api.views import MAX_ID, int_param, validated

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad request"),
    401: OpenApiResponse(ErrorSerializer, description="Missing, wrong or revoked api-key"),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="Automation ID not found")}
CONFLICT = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="The body does not fit the automation as it is: a step `id` it does not have (or of "
        "another type), or an active automation left without steps",
    )
}
AUTOMATION_ID = OpenApiParameter(
    "automationId", OpenApiTypes.INT, OpenApiParameter.PATH, description="Id of the automation"
)
TAGS = ["Automations (brevo-hooks)"]
# The pages of the run history, as for the delivery log.
MAX_LIMIT, MAX_OFFSET = 500, 10**9


def get_automation_for_caller(request: Request, automation_id: int) -> Automation:
    try:
        return Automation.objects.get(pk=min(automation_id, MAX_ID), account=request.user.account)
    except Automation.DoesNotExist:
        raise NotFound("Automation not found") from None


def apply_fields(automation: Automation, data: dict[str, Any]) -> None:
    """Copy the validated top-level fields of a create or update body onto `automation` (not saved)."""
    for field in ("name", "reentry", "status"):
        if field in data:
            setattr(automation, field, data[field])
    if "trigger" in data:
        event = data["trigger"]["event_type"]
        automation.trigger_type, automation.trigger_event = event.type, event.subscription
        automation.condition, automation.condition_attribute, automation.condition_value = data["trigger"]["condition"]


def kept_steps(automation: Automation) -> list[automation_steps.StepSpec]:
    """The automation's steps as they are, for an update that does not give `steps`."""
    return [
        automation_steps.StepSpec(kind=step.kind, id=step.pk, seconds=step.wait_seconds or 0)
        if step.kind == Step.Kind.WAIT
        else automation_steps.StepSpec(
            kind=step.kind,
            id=step.pk,
            url=step.webhook.url if step.webhook else "",
            include_contact=step.include_contact,
            include_event=step.include_event,
        )
        for step in automation.steps.select_related("webhook")
    ]


def save(automation: Automation, specs: list[automation_steps.StepSpec]) -> None:
    # A body that asks for this itself was refused with a 400 (AutomationCreateSerializer);
    # here an update leaves an active automation with no steps, or activates one that has none.
    if automation.status == Automation.Status.ACTIVE and not specs:
        raise s.Conflict(f"steps: {s.ACTIVE_NEEDS_A_STEP}")
    try:
        automation_steps.save(automation, specs)
    except automation_steps.TooManyWebhooks as exc:
        raise Invalid(str(exc), code="bad_request") from None
    except automation_steps.StepGone as exc:  # removed by another request since the body was checked
        raise s.Conflict(f"steps: {exc}") from None


@extend_schema(
    methods=["GET"],
    operation_id="getAutomations",
    summary="Get all automations, newest first (our addition)",
    parameters=[OpenApiParameter("status", str, enum=Automation.Status.values)],
    responses={200: s.AutomationListSerializer, **ERRORS},
    tags=TAGS,
)
@extend_schema(
    methods=["POST"],
    operation_id="createAutomation",
    summary="Create an automation (our addition)",
    description=(
        "Each Call a webhook step is one of the account's webhooks (at most 40, with those of the Webhooks "
        "page), signed with a secret of its own. Its POST body is "
        '`{"contact_id", "email", "step_id", "workflow_id"}`, plus `attributes` with `includeContact` and '
        "`event` (the trigger event's payload) with `includeEvent`."
    ),
    request=s.AutomationCreateSerializer,
    responses={201: CreatedSerializer, **ERRORS},
    tags=TAGS,
)
@api_view(["GET", "POST"])
def automations(request: Request) -> Response:
    account = request.user.account
    if request.method == "POST":
        data = validated(s.AutomationCreateSerializer, request, steps={})
        automation = Automation(account=account)
        apply_fields(automation, data)
        save(automation, data["steps"])
        return Response(CreatedSerializer({"id": automation.pk}).data, status=201)
    found = Automation.objects.filter(account=account).prefetch_related("steps__webhook")
    status = request.query_params.get("status")
    if status is not None:
        if status not in Automation.Status.values:
            raise Invalid("status must be draft, active or paused.")
        found = found.filter(status=status)
    return Response(s.AutomationListSerializer({"automations": found}).data)


@extend_schema(
    methods=["GET"],
    operation_id="getAutomation",
    summary="Get an automation (our addition)",
    parameters=[AUTOMATION_ID],
    responses={200: s.AutomationSerializer, **ERRORS, **NOT_FOUND},
    tags=TAGS,
)
@extend_schema(
    methods=["PUT"],
    operation_id="updateAutomation",
    summary="Update an automation (our addition)",
    description=(
        "Any of the fields of a create. `steps` replaces the steps: give a kept step's `id`, as GET shows it. "
        "A 409 when the body does not fit the automation as it is now: an `id` that is not one of its steps "
        "(or is a step of the other type), or an update that leaves it active without steps."
    ),
    parameters=[AUTOMATION_ID],
    request=s.AutomationUpdateSerializer,
    responses={204: None, **ERRORS, **NOT_FOUND, **CONFLICT},
    tags=TAGS,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="deleteAutomation",
    summary="Delete an automation, its runs and its steps' webhooks (our addition)",
    parameters=[AUTOMATION_ID],
    responses={204: None, **ERRORS, **NOT_FOUND},
    tags=TAGS,
)
@api_view(["GET", "PUT", "DELETE"])
def automation(request: Request, automationId: int) -> Response:
    found = get_automation_for_caller(request, automationId)
    if request.method == "GET":
        return Response(s.AutomationSerializer(found).data)
    if request.method == "DELETE":
        automation_steps.delete(found)
        return Response(status=204)
    existing = {step.pk: step for step in found.steps.select_related("webhook")}
    data = validated(s.AutomationUpdateSerializer, request, steps=existing)
    with transaction.atomic():
        apply_fields(found, data)
        save(found, data["steps"] if "steps" in data else kept_steps(found))
    return Response(status=204)


@extend_schema(
    operation_id="getAutomationRuns",
    summary="List the runs of an automation, newest first (our addition)",
    description="Each contact's progress, and the deliveries its Call a webhook steps made.",
    parameters=[
        AUTOMATION_ID,
        OpenApiParameter("status", str, enum=Run.Status.values),
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, default=50),
        OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, default=0),
    ],
    responses={200: s.RunListSerializer, **ERRORS, **NOT_FOUND},
    tags=TAGS,
)
@api_view(["GET"])
def runs(request: Request, automationId: int) -> Response:
    found = get_automation_for_caller(request, automationId)
    limit = int_param(request, "limit", 50, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    rows = found.runs.all()
    status = request.query_params.get("status")
    if status is not None:
        if status not in Run.Status.values:
            raise Invalid("status must be one of " + ", ".join(Run.Status.values) + ".")
        rows = rows.filter(status=status)
    page = list(rows.select_related("contact", "event")[offset : offset + limit])
    answer = s.RunListSerializer({"runs": page, "count": rows.count()}, context={"calls": calls_of(found, page)})
    return Response(answer.data)
