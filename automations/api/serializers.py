"""The bodies of /v3/automations: strict about JSON types, like /v3/webhooks.

What a step's webhook may hold is checked by `webhooks.validators` (shared with the webhook
form and API), and what a trigger's condition may be by `automations.triggers` (shared with
the editor).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

import catalog
from automations import triggers
from automations.models import Automation, Run, Step
from automations.steps import MAX_STEPS, MAX_WAIT_SECONDS, StepSpec
from webhooks import validators
from webhooks.api.serializers import (
    TYPES,
    AuthSerializer,
    HeaderSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    as_drf_error,
)
from webhooks.models import MASK, unmask_url

MAX_ID = 2**63 - 1
CONDITIONS = ("listId", "linkContains", "tag", "attribute")


class ConditionsSerializer(serializers.Serializer):
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


class TriggerSerializer(serializers.Serializer):
    event = StrictCharField(max_length=40, help_text="A subscription name of the type, e.g. listAddition")
    type = serializers.ChoiceField(choices=TYPES, default=catalog.TRANSACTIONAL)
    conditions = ConditionsSerializer(
        required=False, allow_null=True, help_text="At most one: listId, linkContains, tag, or attribute and value"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        event = catalog.get(attrs["type"], attrs["event"])
        if event is None:
            raise serializers.ValidationError({"event": f"Not a {attrs['type']} event: {attrs['event']}."})
        if not triggers.can_trigger(event):
            raise serializers.ValidationError(
                {"event": f"{event.subscription} cannot start an automation: a deleted contact leaves them all."}
            )
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


class StepIdMixin(serializers.Serializer):
    id = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Updates: the id of one of the automation's steps, to keep it (and its webhook and log)",
    )

    def existing(self, attrs: dict[str, Any], kind: str) -> Step | None:
        """The automation's step named by `id`, if any; a ValidationError for anyone else's."""
        if "id" not in attrs:
            return None
        step = self.context.get("steps", {}).get(attrs["id"])
        if step is None:
            raise serializers.ValidationError({"id": f"The automation has no step {attrs['id']}."})
        if step.kind != kind:
            raise serializers.ValidationError({"id": f"Step {step.pk} is a {step.kind} step; a step keeps its type."})
        return step


class WaitStepSerializer(StepIdMixin):
    type = serializers.ChoiceField(choices=["wait"])
    seconds = StrictIntegerField(min_value=1, max_value=MAX_WAIT_SECONDS, help_text="How long the contact waits")

    def validate(self, attrs: dict[str, Any]) -> StepSpec:  # type: ignore[override]
        step = self.existing(attrs, Step.Kind.WAIT)
        return StepSpec(kind=Step.Kind.WAIT, id=step.pk if step else None, seconds=attrs["seconds"])


class WebhookStepSerializer(StepIdMixin):
    type = serializers.ChoiceField(choices=["webhook"])
    url = StrictCharField(
        max_length=validators.URL_MAX_LENGTH, help_text="Where the step POSTs; user:password@ for Basic auth"
    )
    includeContact = StrictBooleanField(
        default=False, help_text="Include details of the contact who triggered the event"
    )
    includeEvent = StrictBooleanField(default=False, help_text="Include details of the trigger event")
    auth = AuthSerializer(required=False, allow_null=True, help_text="Bearer authentication; null removes it.")
    headers = serializers.ListField(child=HeaderSerializer(), required=False, max_length=validators.MAX_HEADERS)

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
            id=step.pk if step else None,
            url=url,
            include_contact=attrs["includeContact"],
            include_event=attrs["includeEvent"],
            auth_token=token,
            headers=attrs.get("headers", None if step else []),
        )


STEP_SERIALIZERS = {"wait": WaitStepSerializer, "webhook": WebhookStepSerializer}


@extend_schema_field(
    PolymorphicProxySerializer(component_name="Step", serializers=STEP_SERIALIZERS, resource_type_field_name="type")
)
class StepField(serializers.Field):
    """A step: a Wait or a Call a webhook, told apart by `type`."""

    def to_internal_value(self, data: Any) -> StepSpec:
        if not isinstance(data, dict):
            raise serializers.ValidationError('A step is an object with a "type": "wait" or "webhook".')
        serializer_class = STEP_SERIALIZERS.get(data.get("type")) if isinstance(data.get("type"), str) else None
        if serializer_class is None:
            raise serializers.ValidationError({"type": 'A step\'s type is "wait" or "webhook".'})
        serializer = serializer_class(data=data, context=self.context)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return serializer.validated_data  # type: ignore[return-value]

    def to_representation(self, value: Any) -> Any:
        return value


class AutomationCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    trigger = TriggerSerializer()
    steps = serializers.ListField(child=StepField(), max_length=MAX_STEPS, default=list, help_text="In order")
    reentry = StrictBooleanField(default=False, help_text="Whether a contact may enter again while already inside")
    status = serializers.ChoiceField(choices=Automation.Status.values, default=Automation.Status.DRAFT)

    def validate_steps(self, value: list[StepSpec]) -> list[StepSpec]:
        ids = [spec.id for spec in value if spec.id is not None]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A step id is given twice.")
        return value


class AutomationUpdateSerializer(AutomationCreateSerializer):
    """Any of the fields of a create; `steps` replaces every step (give a kept step's `id`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required, field.default = False, empty


class WaitStepOut(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=["wait"])
    seconds = serializers.IntegerField()


class WebhookStepOut(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=["webhook"])
    url = serializers.CharField(help_text="A password in it is masked")
    includeContact = serializers.BooleanField()
    includeEvent = serializers.BooleanField()
    auth = AuthSerializer(allow_null=True, help_text="The token is masked.")
    headers = HeaderSerializer(many=True)
    enabled = serializers.BooleanField(help_text="False once the webhook was disabled (410 Gone, days of failures)")


class TriggerOut(serializers.Serializer):
    event = serializers.CharField()
    type = serializers.ChoiceField(choices=TYPES)
    conditions = serializers.DictField(help_text="{} or one condition, as written")


class RunCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    total = serializers.IntegerField()


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="StepOut",
        serializers={"wait": WaitStepOut, "webhook": WebhookStepOut},
        resource_type_field_name="type",
    )
)
class StepOutField(serializers.Field):
    pass


class AutomationSerializer(serializers.Serializer):
    """An automation as GET answers it (documentation only; `views.automation_json` writes it)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    trigger = TriggerOut()
    steps = serializers.ListField(child=StepOutField())
    reentry = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Automation.Status.values)
    runs = RunCountsSerializer()
    createdAt = serializers.CharField()
    modifiedAt = serializers.CharField()


class AutomationListSerializer(serializers.Serializer):
    automations = AutomationSerializer(many=True)


class CallSerializer(serializers.Serializer):
    stepId = serializers.IntegerField(allow_null=True)
    deliveryId = serializers.IntegerField()
    messageId = serializers.CharField(help_text="The webhook-id header of the call")
    status = serializers.ChoiceField(choices=["pending", "sending", "succeeded", "failed", "cancelled"])
    attemptCount = serializers.IntegerField()
    createdAt = serializers.CharField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    contactId = serializers.IntegerField(allow_null=True, help_text="The contact's Brevo id, when known")
    eventId = serializers.CharField(allow_null=True, help_text="The id of the event that started the run")
    status = serializers.ChoiceField(choices=Run.Status.values)
    stopReason = serializers.CharField()
    position = serializers.IntegerField(help_text="How many steps the contact has reached")
    dueAt = serializers.CharField(allow_null=True, help_text="When a waiting contact goes on (UTC)")
    startedAt = serializers.CharField()
    finishedAt = serializers.CharField(allow_null=True)
    calls = CallSerializer(many=True)


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)
    count = serializers.IntegerField()
