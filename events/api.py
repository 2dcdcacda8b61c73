"""`POST /api/events`: the platform reports events, one or up to MAX_EVENTS at a time."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import ApiKey
from events import emit
from events.fanout import EventError, NewEvent

MAX_EVENTS = 1000
# 1,000 events with generous data fit well inside this.
MAX_BODY_BYTES = 16 * 1024 * 1024
FIELDS = {"event", "type", "data", "id"}


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


@csrf_exempt  # authenticated by the api-key header, never by a cookie
def ingest(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return error(405, "method_not_allowed", "Use POST to report events.")
    raw_key = request.headers.get("api-key", "")
    if not raw_key:
        return error(401, "unauthorized", "The api-key header is missing.")
    key = ApiKey.objects.authenticate(raw_key)
    if key is None:
        return error(401, "unauthorized", "The api-key header does not match an active API key.")
    key.touch()  # "Last used" on the API keys page covers event reporting too

    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return error(413, "bad_request", f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, "bad_request", f"The body is not valid JSON: {exc}.")

    try:
        events = parse(document)
        stored = emit(key.account, events)
    except EventError as exc:
        return error(400, exc.code, exc.message)
    return JsonResponse({"ids": [event.public_id for event in stored]}, status=202)


def parse(document: Any) -> list[NewEvent]:
    """The events of a request body: one event object, or a list of them."""
    if isinstance(document, list):
        if not document:
            raise EventError("missing_parameter", "The list of events is empty.")
        if len(document) > MAX_EVENTS:
            raise EventError(
                "invalid_parameter", f"At most {MAX_EVENTS} events per request; this one has {len(document)}."
            )
        return [parse_one(item, f"events[{n}]") for n, item in enumerate(document)]
    return [parse_one(document, "")]


def parse_one(item: Any, where: str) -> NewEvent:
    prefix = f"{where}: " if where else ""
    if not isinstance(item, dict):
        raise EventError("invalid_parameter", f'{prefix}an event is a JSON object such as {{"event": "delivered"}}.')
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise EventError("invalid_parameter", f"{prefix}unknown field {', '.join(unknown)}; use event, type, data, id.")
    name = item.get("event")
    if name is None or name == "":
        raise EventError("missing_parameter", f"{prefix}event is required (a subscription name such as hardBounce).")
    if not isinstance(name, str):
        raise EventError("invalid_parameter", f"{prefix}event must be a string.")
    type = item.get("type", "transactional")
    if not isinstance(type, str):
        raise EventError("invalid_parameter", f'{prefix}type must be "transactional" or "marketing".')
    data = item.get("data", {})
    if not isinstance(data, dict):
        raise EventError("invalid_parameter", f"{prefix}data must be a JSON object.")
    key = item.get("id", "")
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise EventError("invalid_parameter", f"{prefix}id must be a string.")
    return NewEvent(name=name, type=type, data=data, idempotency_key=str(key))
