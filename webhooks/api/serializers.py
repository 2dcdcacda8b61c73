"""The bodies of the /v3 API: Brevo's field names, types and enums.

Fields are strict about JSON types: `"batched": "yes"` or `"url": 42` is a 400,
not a guess. What a webhook may hold is checked by `webhooks.validators`, shared
with the form.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

import catalog
from webhooks import validators
from webhooks.models import MASK, Webhook, mask_url, unmask_url

TYPES = [catalog.TRANSACTIONAL, catalog.MARKETING]
# Brevo's export enum: subscription names, its own names for two of ours, and "all".
EXPORT_EVENT_ALIASES = {"loadedByProxy": "proxyOpen"}
ALL_EVENTS = "allEvents"


def brevo_time(value: dt.datetime | None) -> str | None:
    """Brevo's timestamps: UTC, milliseconds, `Z` (2016-07-18T12:30:09.000Z)."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.messages[0], code=getattr(exc, "code", None) or "invalid")


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AuthSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["bearer"], help_text="Type of authentication; only `bearer`.")
    token = StrictCharField(
        max_length=validators.TOKEN_MAX, help_text="Sent as `Authorization: Bearer <token>`; shown back masked."
    )

    def validate_token(self, value: str) -> str:
        if value == MASK:
            return value  # "keep the current token", sent back as it was shown
        try:
            return validators.validate_token(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None


class HeaderSerializer(serializers.Serializer):
    key = StrictCharField(max_length=validators.HEADER_NAME_MAX, help_text="Header name")
    value = StrictCharField(
        max_length=validators.HEADER_VALUE_MAX, allow_blank=True, trim_whitespace=False, help_text="Header value"
    )


class WebhookFieldsMixin(serializers.Serializer):
    """The fields that create and update share, and their checks."""

    description = StrictCharField(max_length=255, allow_blank=True, required=False, help_text="Description")
    events = serializers.ListField(
        child=StrictCharField(max_length=40),
        allow_empty=False,
        max_length=50,
        help_text="Subscription names valid for the type (Brevo's, plus proxyOpen and error for transactional).",
    )
    batched = StrictBooleanField(required=False, help_text="Send events in batches (JSON arrays).")
    auth = AuthSerializer(required=False, allow_null=True, help_text="Bearer authentication; null removes it.")
    headers = serializers.ListField(
        child=HeaderSerializer(), required=False, max_length=validators.MAX_HEADERS, help_text="Custom headers"
    )
    domain = StrictCharField(required=False, allow_blank=True, help_text="Inbound webhooks only; ignored.")

    def validate_url(self, value: str) -> str:
        instance: Webhook | None = self.context.get("webhook")
        value = unmask_url(value, instance.url if instance else "")
        try:
            return validators.validate_url(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    def validate_headers(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        try:
            return validators.validate_headers(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    def check_events(self, type: str, attrs: dict[str, Any]) -> None:
        if "events" in attrs:
            try:
                attrs["events"] = Webhook(type=type).validate_events(attrs["events"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"events": exc.messages[0]}) from None


class WebhookCreateSerializer(WebhookFieldsMixin):
    url = StrictCharField(max_length=validators.URL_MAX_LENGTH, help_text="URL of the webhook")
    type = serializers.ChoiceField(choices=TYPES, default=catalog.TRANSACTIONAL, help_text="Type of the webhook")
    channel = serializers.ChoiceField(choices=["email"], default="email", help_text="Channel; only email.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.check_events(attrs["type"], attrs)
        return attrs


class WebhookUpdateSerializer(WebhookFieldsMixin):
    url = StrictCharField(max_length=validators.URL_MAX_LENGTH, required=False, help_text="URL of the webhook")
    type = serializers.ChoiceField(choices=TYPES, required=False, help_text="Must be the webhook's own type.")
    channel = serializers.ChoiceField(choices=["email"], required=False, help_text="Must be email.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events"].required = False

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        webhook: Webhook = self.context["webhook"]
        if "type" in attrs and attrs["type"] != webhook.type:
            raise serializers.ValidationError({"type": "The type of a webhook cannot change; create a new webhook."})
        self.check_events(webhook.type, attrs)
        return attrs


class WebhookSerializer(serializers.Serializer):
    """A webhook as GET answers it (documentation only; `webhook_json` writes it)."""

    id = serializers.IntegerField()
    url = serializers.CharField(help_text="URL of the webhook; a password in it is masked.")
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    type = serializers.ChoiceField(choices=TYPES)
    batched = serializers.BooleanField()
    auth = AuthSerializer(allow_null=True, help_text="The token is masked.")
    headers = HeaderSerializer(many=True)
    channel = serializers.ChoiceField(choices=["email"])
    createdAt = serializers.CharField(help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")
    modifiedAt = serializers.CharField(help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.pk,
        "url": mask_url(webhook.url),
        "description": webhook.description,
        "events": webhook.event_names(),
        "type": webhook.type,
        "batched": webhook.batched,
        "auth": {"type": "bearer", "token": MASK} if webhook.auth_token else None,
        "headers": [{"key": h["key"], "value": h["value"]} for h in webhook.headers or []],
        "channel": "email",
        "createdAt": brevo_time(webhook.created_at),
        "modifiedAt": brevo_time(webhook.modified_at),
    }


class WebhookListSerializer(serializers.Serializer):
    webhooks = WebhookSerializer(many=True)


class CreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="ID of the object created")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid_parameter, missing_parameter, document_not_found, unauthorized...")
    message = serializers.CharField()


class ExportSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TYPES, help_text="Filter the history based on webhook type")
    event = StrictCharField(help_text="A subscription name of the type, loadedByProxy, or allEvents")
    notifyURL = StrictCharField(
        max_length=validators.URL_MAX_LENGTH, help_text="Where the link to the CSV file is POSTed"
    )
    days = StrictIntegerField(required=False, min_value=1, max_value=366)
    startDate = serializers.DateField(required=False, input_formats=["%Y-%m-%d"])
    endDate = serializers.DateField(required=False, input_formats=["%Y-%m-%d"])
    sort = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    webhookId = StrictIntegerField(required=False, min_value=1)
    email = StrictCharField(required=False, max_length=254)
    messageId = StrictCharField(required=False, max_length=998)

    def validate_notifyURL(self, value: str) -> str:
        try:
            return validators.validate_url(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        event = EXPORT_EVENT_ALIASES.get(attrs["event"], attrs["event"])
        if event != ALL_EVENTS:
            found = catalog.get(attrs["type"], event)
            if found is None:
                raise serializers.ValidationError({"event": f"Not a {attrs['type']} event: {attrs['event']}."})
            event = found.subscription
        attrs["event"] = event
        has_range = "startDate" in attrs or "endDate" in attrs
        if "days" in attrs and has_range:
            raise serializers.ValidationError({"days": "Give either days or startDate and endDate, not both."})
        if has_range:
            if "startDate" not in attrs or "endDate" not in attrs:
                raise serializers.ValidationError({"startDate": "startDate and endDate go together."})
            if attrs["endDate"] < attrs["startDate"]:
                raise serializers.ValidationError({"endDate": "endDate must not be before startDate."})
        elif "days" not in attrs:
            attrs["days"] = 7
        return attrs


class ProcessSerializer(serializers.Serializer):
    processId = serializers.IntegerField(help_text="Id of the process created")


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The current signing secret, whsec_...")
    previousSecret = serializers.CharField(
        allow_null=True, help_text="The previous secret while it still signs, else null"
    )
    previousSecretExpiresAt = serializers.CharField(allow_null=True)


class RetryFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="ISO 8601; deliveries created at or after it are retried")


class RetryCountSerializer(serializers.Serializer):
    retried = serializers.IntegerField()


class TestSendSerializer(serializers.Serializer):
    event = StrictCharField(max_length=40, help_text="A subscription name valid for the webhook's type")


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = serializers.CharField()
    durationMs = serializers.IntegerField(allow_null=True)
    statusCode = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    responseBody = serializers.CharField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    messageId = serializers.CharField(help_text="The webhook-id header of the delivery")
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "sending", "succeeded", "failed", "cancelled"])
    isTest = serializers.BooleanField()
    attemptCount = serializers.IntegerField()
    createdAt = serializers.CharField()
    completedAt = serializers.CharField(allow_null=True)
    lastAttempt = AttemptSerializer(allow_null=True)


class DeliveryListSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
    count = serializers.IntegerField()
