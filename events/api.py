"""`POST /api/events`: the platform reports events, one or up to MAX_EVENTS at a time.

The same stack as /v3: DRF with the `api-key` authentication, the strict JSON parser
(here with a body limit sized for 1,000 events), the `{"code", "message"}` error
handler, and serializers that both validate and document the request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes
from rest_framework.request import Request
from rest_framework.response import Response

import catalog
from events import emit
from events.fanout import MAX_IDEMPOTENCY_KEY, EventError, NewEvent
from webhooks.api.errors import Invalid
from webhooks.api.parsers import StrictJSONParser
from webhooks.api.serializers import ErrorSerializer, StrictCharField

MAX_EVENTS = 1000
FIELDS = ("event", "type", "data", "id")
PLAIN_FIELDS = frozenset(FIELDS)
MISSING = object()
# An `id` given as a number must fit the 64-bit integers every producer has.
ID_INT_RANGE = (-(2**63), 2**63 - 1)
ID_SCHEMA = {
    "oneOf": [
        {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
        {"type": "integer", "minimum": ID_INT_RANGE[0], "maximum": ID_INT_RANGE[1]},
    ]
}


class EventsJSONParser(StrictJSONParser):
    """The strict parser, with the body limit of this endpoint (EVENTS_MAX_BODY_SIZE)."""

    list_name = "events"
    top_level = (dict, list)
    top_level_message = (
        'The request body must be an event, a JSON object such as {"event": "delivered"}, or a list of them.'
    )

    def body_limit(self) -> int:
        return settings.EVENTS_MAX_BODY_SIZE


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.Field):
    default_error_messages = {"invalid": 'must be a JSON object, such as {{"email": "jane@example.com"}}.'}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(ID_SCHEMA)
class IdempotencyKeyField(serializers.Field):
    default_error_messages = {"invalid": "must be a string (or a 64-bit whole number)."}

    def to_internal_value(self, data: Any) -> str:
        if not (isinstance(data, str) or whole_number_id(data)):
            self.fail("invalid")
        return str(data)

    def to_representation(self, value: Any) -> Any:
        return value


class EventSerializer(serializers.Serializer):
    """One event as the platform reports it; validates to a NewEvent."""

    default_error_messages = {"invalid": 'An event is a JSON object such as {{"event": "delivered"}}.'}

    event = StrictCharField(
        help_text="Subscription name of the event (aliases such as `request` too), valid for the type.",
        error_messages={"required": "This field is required: a subscription name such as hardBounce."},
    )
    type = serializers.ChoiceField(choices=list(catalog.TYPE_LABELS), default=catalog.TRANSACTIONAL)
    data = JSONObjectField(required=False, help_text="Brevo's payload fields, merged over generated defaults.")
    id = IdempotencyKeyField(required=False, help_text="Your idempotency key: sending it again stores nothing new.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(FIELDS))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown field; use event, type, data, id."]})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> NewEvent:  # type: ignore[override]
        # What the event says is checked once, by emit() (events.fanout.check), for every door.
        return NewEvent(
            name=attrs["event"], type=attrs["type"], data=attrs.get("data", {}), idempotency_key=attrs.get("id", "")
        )


class EventsAcceptedSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="The stored events' ids, in the order sent (the first one's for a repeated id).",
    )


def events_schema() -> dict[str, Any]:
    """One event, or a list of 1 to MAX_EVENTS; each event's names are those of its type."""
    variants = []
    for type in catalog.TYPE_LABELS:
        names = sorted(set(catalog.subscription_names(type)))
        variants.append(
            {
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": names, "description": f"A {type} event"},
                    "type": {"type": "string", "enum": [type]},
                    "data": {"type": "object", "additionalProperties": True},
                    "id": ID_SCHEMA,
                },
                "required": ["event"] if type == catalog.TRANSACTIONAL else ["event", "type"],
                "additionalProperties": False,
            }
        )
    one = {"oneOf": variants}
    return {"oneOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_EVENTS}]}


@extend_schema(
    operation_id="reportEvents",
    summary="Report events (for the platform)",
    description=(
        "Stores one event, or a list of up to 1,000 (all or nothing), and one delivery per enabled webhook "
        "of the account subscribed to it. `type` defaults to transactional. A `data` above EVENTS_MAX_DATA_SIZE "
        "(256 KiB) and a body above EVENTS_MAX_BODY_SIZE (4 MiB) are refused."
    ),
    request={"application/json": events_schema()},
    responses={
        202: EventsAcceptedSerializer,
        400: OpenApiResponse(ErrorSerializer, description="Bad request"),
        401: OpenApiResponse(ErrorSerializer, description="Missing, wrong or revoked api-key"),
    },
    tags=["Events"],
)
@api_view(["POST"])
@parser_classes([EventsJSONParser])
def ingest(request: Request) -> Response:
    document = request.data
    many = isinstance(document, list)
    if many and not document:
        raise Invalid("The list of events is empty.", code="missing_parameter")
    if many and len(document) > MAX_EVENTS:
        raise Invalid(f"At most {MAX_EVENTS} events per request; this one has {len(document)}.")
    events = plain_events(document if many else [document])
    if events is None:
        serializer = EventSerializer(data=document, many=many)
        if not serializer.is_valid():
            raise serializers.ValidationError({"events": serializer.errors} if many else serializer.errors)
        events = serializer.validated_data if many else [serializer.validated_data]
    try:
        stored = emit(request.user.account, events)
    except EventError as exc:
        raise Invalid(exc.message, code=exc.code) from None
    # What EventsAcceptedSerializer gives (it documents the answer), without a field per id.
    return Response({"ids": [str(event.uid) for event in stored]}, status=202)


def plain_events(items: list[Any]) -> list[NewEvent] | None:
    """The events of `items` when each is plainly what EventSerializer accepts, else None.

    The platform posts up to 1,000 events a request, and DRF's list serializer took a
    tenth of the web's CPU (py-spy under `make bench`): events that are plainly valid
    are read here in a few lines, anything else goes through the serializer, which says
    what is wrong. Both give the same NewEvent; emit() checks the rest for every door.
    """
    events = []
    for item in items:
        if not isinstance(item, dict) or not item.keys() <= PLAIN_FIELDS:
            return None
        name, type_, data, key = (item.get(f, MISSING) for f in FIELDS)
        if not (isinstance(name, str) and name.isascii() and name and "\x00" not in name):
            return None
        if not (type_ is MISSING or (isinstance(type_, str) and type_ in catalog.TYPE_LABELS)):
            return None
        if not (data is MISSING or isinstance(data, dict)):
            return None
        if not (key is MISSING or isinstance(key, str) or whole_number_id(key)):
            return None
        events.append(
            NewEvent(
                name=name,
                type=catalog.TRANSACTIONAL if type_ is MISSING else type_,
                data={} if data is MISSING else data,
                idempotency_key="" if key is MISSING else str(key),
            )
        )
    return events


def whole_number_id(key: Any) -> bool:
    """An `id` given as a number: a whole number (not a boolean) in ID_INT_RANGE."""
    return isinstance(key, int) and not isinstance(key, bool) and ID_INT_RANGE[0] <= key <= ID_INT_RANGE[1]
