"""The bodies of /v3/automations, in and out: strict about JSON types like /v3/webhooks, and
about fields (an unknown one is refused).

What a step's webhook may hold is checked by `webhooks.validators` (shared with the webhook
form and API), and what a trigger's condition may be by `automations.triggers` (shared with
the editor); `automations.api.schema` says the same in the OpenAPI description. Every answer
is written by the serializer that the description documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

import catalog
from automations import triggers
from automations.api import schema
from automations.api.schema import MAX_ID
from automations.models import Automation, Run, Step
from automations.steps import MAX_STEPS, MAX_WAIT_SECONDS, StepSpec
from webhooks import validators
from webhooks.api.errors import Invalid
from webhooks.api.serializers import (
    TYPES,
    BrevoTimeField,
    HeaderSerializer,
    KeptAuthSerializer,
    KeptURLField,
    MaskedAuthSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    as_drf_error,
    brevo_time,
)
from webhooks.models import MASK, Delivery, unmask_url

CONDITIONS = ("listId", "linkContains", "tag", "attribute")


# Unlike /v3/webhooks, which ignores fields it does not know, this API refuses them (as
# /api/events does): here a misspelt field would change what an automation does, as
# `"conditions": {"listID": 7}` would start it for every list. (The docstring is the OpenAPI
# description of each object.)
class StrictSerializer(serializers.Serializer):
    """A field not listed here is refused: a misspelt field is never silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [name for name in data if name not in self.fields]
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError({str(unknown[0]): [f"Unknown field; the fields are {known}."]})
        return super().to_internal_value(data)


class StepAuthSerializer(StrictSerializer, KeptAuthSerializer):
    """Bearer authentication of a step's webhook; a kept step may send back the masked token."""


class StepHeaderSerializer(StrictSerializer, HeaderSerializer):
    """A custom header that a step's webhook sends with every request."""


class ConditionsSerializer(StrictSerializer):
    listId = StrictIntegerField(required=False, min_value=1, max_value=MAX_ID, help_text='"Added to a list": the list')
    linkContains = StrictCharField(
        required=False, max_length=triggers.CONDITION_VALUE_MAX, help_text='"Clicked": text the link contains'
    )
    tag = StrictCharField(required=False, max_length=triggers.CONDITION_VALUE_MAX, help_text="Email events: a tag")
    attribute = StrictCharField(
        required=False, max_length=triggers.ATTRIBUTE_NAME_MAX, help_text='"Updated": an attribute, equal to `value`'
    )
    value = StrictCharField(
        required=False, allow_blank=True, max_length=triggers.CONDITION_VALUE_MAX, help_text="With `attribute`"
    )


class TriggerSerializer(StrictSerializer):
    event = StrictCharField(max_length=40, help_text="A subscription name of the type, e.g. listAddition")
    type = serializers.ChoiceField(choices=TYPES, default=catalog.TRANSACTIONAL)
    conditions = ConditionsSerializer(
        required=False,
        allow_null=True,
        help_text="No condition (null or {}), or one that fits the event: listId, linkContains, tag, or attribute "
        "and value",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        event = catalog.get(attrs["type"], attrs["event"])
        if event is None:
            raise serializers.ValidationError({"event": f"Not a {attrs['type']} event: {attrs['event']}."})
        if not triggers.can_trigger(event):
            raise serializers.ValidationError(
                {"event": f"{event.subscription} cannot start an automation: a deleted contact leaves them all."}
            )
        # null, {} and no `conditions` at all mean the same: every such event starts a run.
        conditions = attrs.get("conditions") or {}
        given = [name for name in CONDITIONS if name in conditions]
        if len(given) > 1:
            raise serializers.ValidationError(
                {"conditions": "Give one condition: listId, linkContains, tag, or attribute."}
            )
        if ("value" in conditions) != ("attribute" in conditions):
            raise serializers.ValidationError({"conditions": "attribute and value go together."})
        condition = given[0] if given else ""
        attribute = conditions.get("attribute", "").strip()
        value = str(conditions.get("value" if condition == "attribute" else condition, "")).strip()
        problem = triggers.check(event, condition, attribute, value)
        if problem:
            raise serializers.ValidationError({"conditions": {problem[0]: problem[1]}})
        attrs["event_type"] = event
        attrs["condition"] = (condition, attribute, value)
        return attrs


class Conflict(Invalid):
    """A body right in itself that does not fit the automation as it is now: a 409, not a 400.

    Such as a step `id` the automation does not have (another request may have removed it).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict", status_code=409)


# What the two kinds of step share: keeping a step by its `id` (in an update). No docstring:
# the steps' OpenAPI description is StrictSerializer's.
class StepSerializer(StrictSerializer):
    def existing(self, attrs: dict[str, Any], kind: str) -> Step | None:
        """The automation's step of `kind` named by `id`, if there is one.

        An `id` that names no such step stays in the StepSpec, and the update refuses it once
        the rest of the body is known to be valid (`AutomationUpdateSerializer.validate`).
        """
        step = self.context.get("steps", {}).get(attrs.get("id"))
        return step if step is not None and step.kind == kind else None


class WaitStepSerializer(StepSerializer):
    type = serializers.ChoiceField(choices=["wait"])
    seconds = StrictIntegerField(min_value=1, max_value=MAX_WAIT_SECONDS, help_text="How long the contact waits")

    def validate(self, attrs: dict[str, Any]) -> StepSpec:  # type: ignore[override]
        return StepSpec(kind=Step.Kind.WAIT, id=attrs.get("id"), seconds=attrs["seconds"])


class WebhookStepSerializer(StepSerializer):
    type = serializers.ChoiceField(choices=["webhook"])
    url = KeptURLField(
        help_text="Where the step POSTs; user:password@ for Basic auth. A kept step's URL sent back masked keeps "
        "its password."
    )
    includeContact = StrictBooleanField(
        default=False, help_text="Include details of the contact who triggered the event"
    )
    includeEvent = StrictBooleanField(default=False, help_text="Include details of the trigger event")
    auth = StepAuthSerializer(required=False, allow_null=True, help_text="Bearer authentication; null removes it.")
    headers = serializers.ListField(child=StepHeaderSerializer(), required=False, max_length=validators.MAX_HEADERS)

    def validate_headers(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        try:
            return validators.validate_headers(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    def validate(self, attrs: dict[str, Any]) -> StepSpec:  # type: ignore[override]
        step = self.existing(attrs, Step.Kind.WEBHOOK)
        webhook = step.webhook if step else None
        try:
            url = validators.validate_url(unmask_url(attrs["url"], webhook.url if webhook else ""))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"url": exc.messages[0]}) from None
        token: str | None = None if step else ""  # absent: keep the token of a kept step
        if "auth" in attrs:
            auth = attrs["auth"]
            if auth is None:
                token = ""
            elif auth["token"] != MASK:
                token = auth["token"]
            elif not (webhook and webhook.auth_token):
                raise serializers.ValidationError({"auth": "token: Give the token itself."})
        return StepSpec(
            kind=Step.Kind.WEBHOOK,
            id=attrs.get("id"),
            url=url,
            include_contact=attrs["includeContact"],
            include_event=attrs["includeEvent"],
            auth_token=token,
            headers=attrs.get("headers", None if step else []),
        )


STEP_ID_HELP = (
    "The id of one of this automation's steps, of the same type, to keep it (its webhook, secret and "
    "delivery log); without it, a new step. An id the automation does not have is a 409."
)


class KeptWaitStepSerializer(WaitStepSerializer):
    id = StrictIntegerField(required=False, min_value=1, max_value=MAX_ID, help_text=STEP_ID_HELP)


class KeptWebhookStepSerializer(WebhookStepSerializer):
    id = StrictIntegerField(required=False, min_value=1, max_value=MAX_ID, help_text=STEP_ID_HELP)
    # A step as GET shows it can be sent back as it is.
    enabled = StrictBooleanField(
        required=False, help_text="As GET shows it, and ignored: saving enables the step's webhook again."
    )


class StepField(serializers.Field):
    """A step: a Wait or a Call a webhook, told apart by `type`."""

    kinds: dict[str, type[StepSerializer]] = {}

    def to_internal_value(self, data: Any) -> StepSpec:
        if not isinstance(data, dict):
            raise serializers.ValidationError('A step is an object with a "type": "wait" or "webhook".')
        serializer_class = self.kinds.get(data.get("type")) if isinstance(data.get("type"), str) else None
        if serializer_class is None:
            raise serializers.ValidationError({"type": 'A step\'s type is "wait" or "webhook".'})
        serializer = serializer_class(data=data, context=self.context)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return serializer.validated_data  # type: ignore[return-value]

    def to_representation(self, value: Any) -> Any:
        return value


NEW_STEPS = {"wait": WaitStepSerializer, "webhook": WebhookStepSerializer}
KEPT_STEPS = {"wait": KeptWaitStepSerializer, "webhook": KeptWebhookStepSerializer}


@extend_schema_field(
    PolymorphicProxySerializer(component_name="Step", serializers=NEW_STEPS, resource_type_field_name="type")
)
class NewStepField(StepField):
    """A step of a new automation: it has no steps to keep, so no `id`."""

    kinds = NEW_STEPS


@extend_schema_field(
    PolymorphicProxySerializer(component_name="KeptStep", serializers=KEPT_STEPS, resource_type_field_name="type")
)
class KeptStepField(StepField):
    """A step of an update: a new one, or one of the automation's steps kept by its `id`."""

    kinds = KEPT_STEPS


ACTIVE_NEEDS_A_STEP = "An active automation needs at least one step."


class AutomationCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    trigger = TriggerSerializer()
    steps = serializers.ListField(child=NewStepField(), max_length=MAX_STEPS, default=list, help_text="In order")
    reentry = StrictBooleanField(default=False, help_text="Whether a contact may enter again while already inside")
    status = serializers.ChoiceField(choices=Automation.Status.values, default=Automation.Status.DRAFT)

    def validate_name(self, value: str) -> str:
        # Kept as sent, but not blank: the editor refuses a name of spaces, and so does the API.
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value

    def validate_steps(self, value: list[StepSpec]) -> list[StepSpec]:
        ids = [spec.id for spec in value if spec.id is not None]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A step id is given twice.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("status") == Automation.Status.ACTIVE and attrs.get("steps") == []:
            raise serializers.ValidationError({"steps": ACTIVE_NEEDS_A_STEP})
        return attrs


class AutomationUpdateSerializer(AutomationCreateSerializer):
    """Any of the fields of a create, and no other; `steps` replaces every step (give a kept step's `id`)."""

    steps = serializers.ListField(child=KeptStepField(), max_length=MAX_STEPS, help_text="In order")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required, field.default = False, empty

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        current: dict[int, Step] = self.context.get("steps", {})
        for index, spec in enumerate(attrs.get("steps", [])):
            step = current.get(spec.id) if spec.id is not None else None
            if spec.id is not None and step is None:
                raise Conflict(f"steps[{index}].id: The automation has no step {spec.id}.")
            if step is not None and step.kind != spec.kind:
                raise Conflict(f"steps[{index}].id: Step {step.pk} is a {step.kind} step; a step keeps its type.")
        return attrs


# What GET answers: each answer is written by the serializer that documents it.


class WaitStepOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    type = serializers.ChoiceField(choices=["wait"], source="kind")
    seconds = serializers.IntegerField(source="wait_seconds")


class WebhookStepOut(serializers.Serializer):
    """A Call a webhook step; its URL, auth and headers are its webhook's (a step always has one)."""

    id = serializers.IntegerField(source="pk")
    type = serializers.ChoiceField(choices=["webhook"], source="kind")
    url = serializers.CharField(source="webhook.masked_url", help_text="A password in it is masked")
    includeContact = serializers.BooleanField(source="include_contact")
    includeEvent = serializers.BooleanField(source="include_event")
    auth = serializers.SerializerMethodField(help_text="The token is masked; null when there is none.")
    headers = HeaderSerializer(many=True, source="webhook.headers")
    enabled = serializers.BooleanField(
        source="webhook.enabled", help_text="False once the webhook was disabled (410 Gone, days of failures)"
    )

    @extend_schema_field(MaskedAuthSerializer(allow_null=True))
    def get_auth(self, step: Step) -> dict[str, str] | None:
        return {"type": "bearer", "token": MASK} if step.webhook.auth_token else None


STEPS_OUT = {Step.Kind.WAIT: WaitStepOut, Step.Kind.WEBHOOK: WebhookStepOut}


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="StepOut",
        serializers={"wait": WaitStepOut, "webhook": WebhookStepOut},
        resource_type_field_name="type",
    )
)
class StepOutField(serializers.Field):
    """A step as GET shows it: a Wait or a Call a webhook."""

    def to_representation(self, step: Step) -> dict[str, Any]:
        return STEPS_OUT[step.kind](step).data


@extend_schema_field(schema.CONDITIONS_OUT)
class ConditionsOutField(serializers.Field):
    """The trigger's condition, as written: {} or one condition."""

    def to_representation(self, conditions: dict[str, Any]) -> dict[str, Any]:
        return conditions


class TriggerOut(serializers.Serializer):
    event = serializers.CharField(source="trigger_event")
    type = serializers.ChoiceField(choices=TYPES, source="trigger_type")
    conditions = ConditionsOutField()


class RunCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    total = serializers.IntegerField()


class AutomationSerializer(serializers.Serializer):
    """An automation as GET answers it; secrets masked."""

    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    trigger = TriggerOut(source="*")
    steps = serializers.ListField(child=StepOutField(), source="steps.all")
    reentry = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Automation.Status.values)
    runs = serializers.SerializerMethodField()
    createdAt = BrevoTimeField(source="created_at", help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")
    modifiedAt = BrevoTimeField(source="modified_at", help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")

    @extend_schema_field(RunCountsSerializer)
    def get_runs(self, automation: Automation) -> dict[str, int]:
        return {
            "active": automation.runs.filter(status=Run.Status.ACTIVE).count(),
            "total": automation.runs.count(),
        }


class AutomationListSerializer(serializers.Serializer):
    automations = AutomationSerializer(many=True)


class CallSerializer(serializers.Serializer):
    """A delivery that a run's Call a webhook step made."""

    stepId = serializers.IntegerField(
        source="webhook.automation_step.pk", allow_null=True, help_text="Null once the step was removed"
    )
    deliveryId = serializers.IntegerField(source="pk")
    messageId = serializers.CharField(source="webhook_message_id", help_text="The webhook-id header of the call")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attemptCount = serializers.IntegerField(source="attempt_count")
    createdAt = BrevoTimeField(source="created_at")


class RunSerializer(serializers.Serializer):
    """One contact's way through the automation; `context["calls"]` has the calls of each run, by id."""

    id = serializers.IntegerField(source="pk")
    email = serializers.CharField()
    contactId = serializers.IntegerField(
        source="contact.brevo_id", allow_null=True, help_text="The contact's Brevo id, when known"
    )
    eventId = serializers.CharField(
        source="event.public_id", allow_null=True, help_text="The id of the event that started the run"
    )
    status = serializers.ChoiceField(choices=Run.Status.values)
    stopReason = serializers.CharField(source="stop_reason")
    position = serializers.IntegerField(help_text="How many steps the contact has reached")
    dueAt = serializers.SerializerMethodField(help_text="When a waiting contact goes on (UTC)")
    startedAt = BrevoTimeField(source="started_at")
    finishedAt = BrevoTimeField(source="finished_at", allow_null=True)
    calls = serializers.SerializerMethodField()

    @extend_schema_field(BrevoTimeField(allow_null=True))
    def get_dueAt(self, run: Run) -> str | None:
        return brevo_time(run.due_at) if run.status == Run.Status.ACTIVE else None

    @extend_schema_field(CallSerializer(many=True))
    def get_calls(self, run: Run) -> list[dict[str, Any]]:
        return CallSerializer(self.context["calls"].get(run.pk, []), many=True).data


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)
    count = serializers.IntegerField()
