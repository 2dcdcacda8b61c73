"""The bodies of the /v3 API: Brevo's field names, types and enums, in and out.

Fields are strict about JSON types: `"batched": "yes"` or `"url": 42` is a 400,
not a guess. What a webhook may hold is checked by `webhooks.validators`, shared
with the form. Every answer is written by the serializer that the OpenAPI
description documents, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

import catalog
from accounts.models import Account
from webhooks import validators
from webhooks.api import schema
from webhooks.api.errors import Invalid
from webhooks.models import MASK, Delivery, Webhook, limit_message, unmask_url

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
    """Text as sent: not a number turned into text, and no whitespace quietly trimmed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

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


@extend_schema_field(schema.URL_SCHEMA)
class URLField(StrictCharField):
    """A webhook or notify URL; `webhooks.validators.validate_url` checks it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=validators.URL_MAX_LENGTH, **kwargs)


@extend_schema_field(schema.KEPT_URL_SCHEMA)
class KeptURLField(URLField):
    """A URL that may come back as GET showed it, its password masked, to keep the stored one."""


@extend_schema_field(schema.TOKEN_SCHEMA)
class TokenField(StrictCharField):
    pass


@extend_schema_field(schema.KEPT_TOKEN_SCHEMA)
class KeptTokenField(TokenField):
    """A token, or the mask GET shows instead of it, to keep the stored one."""


@extend_schema_field(schema.HEADER_NAME_SCHEMA)
class HeaderNameField(StrictCharField):
    pass


@extend_schema_field(schema.HEADER_VALUE_SCHEMA)
class HeaderValueField(StrictCharField):
    """A header value; may be empty (the pattern says so, without DRF's `allow_blank` alternative)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            return ""
        return super().run_validation(data)


@extend_schema_field(schema.DATE_SCHEMA)
class DateField(serializers.DateField):
    """A day of the export: from 1970 to 2999, so that the day after it can still be computed."""

    default_error_messages = {"range": "Give a date from 1970-01-01 to 2999-12-31."}
    FIRST, LAST = dt.date(1970, 1, 1), dt.date(2999, 12, 31)

    def to_internal_value(self, value: Any) -> dt.date:
        day = super().to_internal_value(value)
        if not self.FIRST <= day <= self.LAST:
            self.fail("range")
        return day


class AuthSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["bearer"], help_text="Type of authentication; only `bearer`.")
    token = TokenField(
        max_length=validators.TOKEN_MAX, help_text="Sent as `Authorization: Bearer <token>`; shown back masked."
    )

    def validate_token(self, value: str) -> str:
        if value == MASK:
            return value  # "keep the current token", sent back as it was shown
        try:
            return validators.validate_token(value)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None


class KeptAuthSerializer(AuthSerializer):
    """Bearer authentication of an update, which may send back the masked token to keep it."""

    token = KeptTokenField(
        max_length=validators.TOKEN_MAX, help_text="Sent as `Authorization: Bearer <token>`; the mask keeps it."
    )


class HeaderSerializer(serializers.Serializer):
    key = HeaderNameField(max_length=validators.HEADER_NAME_MAX, help_text="Header name")
    value = HeaderValueField(max_length=validators.HEADER_VALUE_MAX, help_text="Header value")


class WebhookFieldsMixin(serializers.Serializer):
    """The fields that create and update share, and their checks."""

    description = StrictCharField(max_length=255, allow_blank=True, required=False, help_text="Description")
    events = serializers.ListField(
        child=StrictCharField(max_length=40),
        allow_empty=False,
        min_length=1,
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
        instance: Webhook | None = self.instance
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

    def validate_auth(self, value: dict[str, str] | None) -> dict[str, str] | None:
        # The masked token means "keep the stored one", which only an update can have.
        instance: Webhook | None = self.instance
        if value is not None and value["token"] == MASK and not (instance and instance.auth_token):
            raise serializers.ValidationError({"token": "Give the token itself."})
        return value

    def check_events(self, type: str, attrs: dict[str, Any]) -> None:
        if "events" in attrs:
            try:
                attrs["events"] = Webhook(type=type).validate_events(attrs["events"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"events": exc.messages[0]}) from None

    @staticmethod
    def apply(webhook: Webhook, data: dict[str, Any]) -> None:
        """Copy the validated fields of a create or update body onto `webhook` (not saved)."""
        for field in ("url", "description", "batched", "headers"):
            if field in data:
                setattr(webhook, field, data[field])
        if "auth" in data:
            auth = data["auth"]
            if auth is None:
                webhook.auth_token = ""
            elif auth["token"] != MASK:
                webhook.auth_token = auth["token"]


class WebhookCreateSerializer(WebhookFieldsMixin):
    url = URLField(help_text="URL of the webhook")
    type = serializers.ChoiceField(choices=TYPES, default=catalog.TRANSACTIONAL, help_text="Type of the webhook")
    channel = serializers.ChoiceField(choices=["email"], default="email", help_text="Channel; only email.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.check_events(attrs["type"], attrs)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Webhook:
        account: Account = self.context["account"]
        with transaction.atomic():
            # Locking the account serialises concurrent creates, so the limit cannot be overshot.
            Account.objects.select_for_update().get(pk=account.pk)
            webhook = Webhook(account=account, type=validated_data["type"])
            if webhook.account_is_full():
                raise Invalid(limit_message(), code="bad_request")
            self.apply(webhook, validated_data)
            webhook.save()
            webhook.set_events(validated_data["events"])
        return webhook


class WebhookUpdateSerializer(WebhookFieldsMixin):
    url = KeptURLField(required=False, help_text="URL of the webhook; sent back masked, it keeps the stored password")
    auth = KeptAuthSerializer(
        required=False, allow_null=True, help_text="Bearer authentication; null removes it, the masked token keeps it."
    )
    type = serializers.ChoiceField(choices=TYPES, required=False, help_text="Must be the webhook's own type.")
    channel = serializers.ChoiceField(choices=["email"], required=False, help_text="Must be email.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events"].required = False

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        webhook: Webhook = self.instance
        if "type" in attrs and attrs["type"] != webhook.type:
            raise serializers.ValidationError({"type": "The type of a webhook cannot change; create a new webhook."})
        self.check_events(webhook.type, attrs)
        return attrs

    def update(self, webhook: Webhook, validated_data: dict[str, Any]) -> Webhook:
        with transaction.atomic():
            self.apply(webhook, validated_data)
            webhook.save()
            if "events" in validated_data:
                webhook.set_events(validated_data["events"])
        return webhook


class BrevoTimeField(serializers.DateTimeField):
    """A time as Brevo writes it: UTC, milliseconds, `Z` (2016-07-18T12:30:09.000Z)."""

    def to_representation(self, value: dt.datetime | None) -> str | None:
        return brevo_time(value)


class ExcerptField(serializers.CharField):
    """The start of a long text, as much as an API answer needs."""

    def __init__(self, length: int, **kwargs: Any) -> None:
        self.length = length
        super().__init__(**kwargs)

    def to_representation(self, value: str) -> str:
        return value[: self.length]


class MaskedAuthSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["bearer"])
    token = serializers.ChoiceField(choices=[MASK], help_text="Always masked: the token is never shown.")


class WebhookSerializer(serializers.Serializer):
    """A webhook as GET answers it; secrets masked."""

    id = serializers.IntegerField(source="pk")
    url = serializers.CharField(source="masked_url", help_text="URL of the webhook; a password in it is masked.")
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), source="event_names")
    type = serializers.ChoiceField(choices=TYPES)
    batched = serializers.BooleanField()
    auth = serializers.SerializerMethodField(help_text="The token is masked; null when there is none.")
    headers = HeaderSerializer(many=True)
    channel = serializers.SerializerMethodField()
    createdAt = BrevoTimeField(source="created_at", help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")
    modifiedAt = BrevoTimeField(source="modified_at", help_text="UTC, YYYY-MM-DDTHH:mm:ss.SSSZ")

    @extend_schema_field(MaskedAuthSerializer(allow_null=True))
    def get_auth(self, webhook: Webhook) -> dict[str, str] | None:
        return {"type": "bearer", "token": MASK} if webhook.auth_token else None

    @extend_schema_field(serializers.ChoiceField(choices=["email"]))
    def get_channel(self, webhook: Webhook) -> str:
        return "email"


class WebhookListSerializer(serializers.Serializer):
    webhooks = WebhookSerializer(many=True)


class CreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="ID of the object created")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid_parameter, missing_parameter, document_not_found, unauthorized...")
    message = serializers.CharField()


class ExportSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TYPES, help_text="Filter the history based on webhook type")
    event = StrictCharField(max_length=40, help_text="A subscription name of the type, loadedByProxy, or allEvents")
    notifyURL = URLField(help_text="Where the link to the CSV file is POSTed")
    days = StrictIntegerField(required=False, min_value=1, max_value=366, help_text="The last days, 7 by default")
    startDate = DateField(required=False, input_formats=["%Y-%m-%d"], help_text="With endDate, instead of days")
    endDate = DateField(required=False, input_formats=["%Y-%m-%d"], help_text="Not before startDate")
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
    """A webhook's signing secrets."""

    secret = serializers.CharField(source="signing_secret", help_text="The current signing secret, whsec_...")
    previousSecret = serializers.SerializerMethodField(help_text="The previous secret while it still signs, else null")
    previousSecretExpiresAt = serializers.SerializerMethodField(help_text="When the previous secret stops signing")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_previousSecret(self, webhook: Webhook) -> str | None:
        secrets_ = webhook.signing_secrets()
        return secrets_[1] if len(secrets_) > 1 else None

    @extend_schema_field(BrevoTimeField(allow_null=True))
    def get_previousSecretExpiresAt(self, webhook: Webhook) -> str | None:
        return brevo_time(webhook.previous_secret_expires_at) if len(webhook.signing_secrets()) > 1 else None


class RetryFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="ISO 8601; deliveries created at or after it are retried")

    def validate_since(self, value: dt.datetime) -> dt.datetime:
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+14:00 is before the first moment there is
            raise serializers.ValidationError("This moment is out of range.") from None


class RetryCountSerializer(serializers.Serializer):
    retried = serializers.IntegerField()


class TestSendSerializer(serializers.Serializer):
    event = StrictCharField(max_length=40, help_text="A subscription name valid for the webhook's type")


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = BrevoTimeField(source="started_at")
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    statusCode = serializers.IntegerField(source="response_status", allow_null=True)
    error = serializers.CharField(help_text="Why there was no answer (empty when there was one)")
    responseBody = ExcerptField(1000, source="response_body", help_text="The first 1,000 characters")


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    messageId = serializers.CharField(source="webhook_message_id", help_text="The webhook-id header of the delivery")
    event = serializers.CharField(help_text="Subscription name of the event, or `batch`")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    isTest = serializers.BooleanField(source="is_test")
    attemptCount = serializers.IntegerField(source="attempt_count")
    createdAt = BrevoTimeField(source="created_at")
    nextAttemptAt = serializers.SerializerMethodField(help_text="When a pending delivery is tried next, else null")
    completedAt = BrevoTimeField(source="completed_at", allow_null=True)
    lastAttempt = AttemptSerializer(source="last_attempt", allow_null=True)

    @extend_schema_field(BrevoTimeField(allow_null=True))
    def get_nextAttemptAt(self, delivery: Delivery) -> str | None:
        return brevo_time(delivery.next_attempt_at) if delivery.status == Delivery.Status.PENDING else None


class DeliveryListSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
    count = serializers.IntegerField()
