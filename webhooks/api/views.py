"""The /v3 webhooks API: Brevo's calls, then our additions under the same prefix.

Every lookup goes through the caller's account: another account's webhook is a
404 `document_not_found`, exactly like an id that does not exist.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

import catalog
from brevo_hooks.numbers import whole_number
from webhooks import jobs
from webhooks.api import serializers as s
from webhooks.api.errors import Invalid, error
from webhooks.models import Delivery, Export, Webhook

# Ids are 64-bit in the database; a bigger number in the path is simply not found.
MAX_ID = 2**63 - 1
# How long POST .../test waits for the worker beyond the delivery timeout.
TEST_WAIT_MARGIN = 5.0

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Bad request"),
    401: OpenApiResponse(s.ErrorSerializer, description="Missing, wrong or revoked api-key"),
}
NOT_FOUND = {404: OpenApiResponse(s.ErrorSerializer, description="Webhook ID not found")}
CONFLICT = {
    409: OpenApiResponse(s.ErrorSerializer, description="Nothing to retry: the webhook is disabled, or not retryable")
}
UNAVAILABLE = {503: OpenApiResponse(s.ErrorSerializer, description="The queue is unreachable; try again shortly")}
WEBHOOK_ID = OpenApiParameter("webhookId", OpenApiTypes.INT, OpenApiParameter.PATH, description="Id of the webhook")
# Views take `webhookId` (N803): Brevo's name for the path parameter, kept in the OpenAPI description.


def get_webhook_for_caller(request: Request, webhook_id: int) -> Webhook:
    if webhook_id > MAX_ID:
        raise Http404
    # The webhooks of automation steps are reached through /v3/automations only.
    return get_object_or_404(
        Webhook.objects.listed().prefetch_related("subscriptions"), pk=webhook_id, account=request.user.account
    )


def validated(serializer_class: type[s.serializers.Serializer], request: Request, **context: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(
    methods=["GET"],
    operation_id="getWebhooks",
    summary="Get all webhooks",
    parameters=[
        OpenApiParameter("type", str, enum=["marketing", "transactional", "inbound"], default="transactional"),
        OpenApiParameter("sort", str, enum=["asc", "desc"], default="desc", description="By creation time"),
    ],
    responses={200: s.WebhookListSerializer, **ERRORS},
    tags=["Webhooks"],
)
@extend_schema(
    methods=["POST"],
    operation_id="createWebhook",
    summary="Create a webhook",
    request=s.WebhookCreateSerializer,
    responses={201: s.CreatedSerializer, **ERRORS},
    tags=["Webhooks"],
)
@api_view(["GET", "POST"])
def webhooks(request: Request) -> Response:
    if request.method == "POST":
        return create_webhook(request)
    type = request.query_params.get("type", catalog.TRANSACTIONAL)
    sort = request.query_params.get("sort", "desc")
    if type not in {catalog.TRANSACTIONAL, catalog.MARKETING, "inbound"}:
        raise Invalid("type must be transactional, marketing or inbound.")
    if sort not in {"asc", "desc"}:
        raise Invalid("sort must be asc or desc.")
    order = ["created_at", "id"] if sort == "asc" else ["-created_at", "-id"]
    found = Webhook.objects.listed().filter(account=request.user.account, type=type).order_by(*order)
    return Response(s.WebhookListSerializer({"webhooks": found.prefetch_related("subscriptions")}).data)


def create_webhook(request: Request) -> Response:
    serializer = s.WebhookCreateSerializer(data=request.data, context={"account": request.user.account})
    serializer.is_valid(raise_exception=True)
    webhook = serializer.save()
    return Response(s.CreatedSerializer({"id": webhook.pk}).data, status=201)


@extend_schema(
    methods=["GET"],
    operation_id="getWebhook",
    summary="Get a webhook details",
    parameters=[WEBHOOK_ID],
    responses={200: s.WebhookSerializer, **ERRORS, **NOT_FOUND},
    tags=["Webhooks"],
)
@extend_schema(
    methods=["PUT"],
    operation_id="updateWebhook",
    summary="Update a webhook",
    parameters=[WEBHOOK_ID],
    request=s.WebhookUpdateSerializer,
    responses={204: None, **ERRORS, **NOT_FOUND},
    tags=["Webhooks"],
)
@extend_schema(
    methods=["DELETE"],
    operation_id="deleteWebhook",
    summary="Delete a webhook",
    parameters=[WEBHOOK_ID],
    responses={204: None, **ERRORS, **NOT_FOUND},
    tags=["Webhooks"],
)
@api_view(["GET", "PUT", "DELETE"])
def webhook(request: Request, webhookId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    if request.method == "GET":
        return Response(s.WebhookSerializer(found).data)
    if request.method == "DELETE":
        found.delete()
        return Response(status=204)
    serializer = s.WebhookUpdateSerializer(found, data=request.data)
    serializer.is_valid(raise_exception=True)
    serializer.save()
    return Response(status=204)


@extend_schema(
    operation_id="exportWebhooksHistory",
    summary="Export all webhook events",
    description=(
        "Makes a CSV of the delivery history in the background, then POSTs "
        '`{"processId", "status", "url", "rows", "retentionDays", "historyStartsAt"}` to `notifyURL`. The `url` '
        "holds an unguessable token and works for 7 days. History is kept for `retentionDays` days "
        "(WEBHOOKS_RETENTION_DAYS, 30 by default): the file starts no earlier than `historyStartsAt`, "
        "whatever `days` or `startDate` asked (both null when history is kept forever)."
    ),
    request=s.ExportSerializer,
    responses={202: s.ProcessSerializer, **ERRORS, **NOT_FOUND, **UNAVAILABLE},
    tags=["Webhooks"],
)
@api_view(["POST"])
def export_history(request: Request) -> Response:
    data = validated(s.ExportSerializer, request)
    account = request.user.account
    webhook_id = data.get("webhookId")
    if (
        webhook_id is not None
        and not Webhook.objects.listed().filter(pk=min(webhook_id, MAX_ID), account=account).exists()
    ):
        raise Http404  # another account's webhook is not found either
    params = {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in data.items()}
    export = Export.objects.create(
        account=account,
        params=params,
        notify_url=params.pop("notifyURL"),
        base_url=request.build_absolute_uri("/"),
    )
    try:
        jobs.enqueue_export(export)
    except jobs.QueueUnavailable:
        return error(503, "service_unavailable", "The export could not be queued. Try again shortly.")
    return Response(s.ProcessSerializer({"processId": export.pk}).data, status=202)


def export_download(request: HttpRequest, token: str) -> HttpResponse:
    """The CSV of an export, for whoever holds the link that was sent to notifyURL."""
    export = Export.objects.by_token(token)
    if export is None:
        raise Http404("This export link is unknown or has expired.")
    response = HttpResponse(export.csv, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="webhooks-history-{export.pk}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


@extend_schema(
    operation_id="getWebhookSecret",
    summary="Get the signing secret of a webhook (our addition)",
    parameters=[WEBHOOK_ID],
    responses={200: s.SecretSerializer, **ERRORS, **NOT_FOUND},
    tags=["Signing (brevo-hooks)"],
)
@api_view(["GET"])
def webhook_secret(request: Request, webhookId: int) -> Response:
    return secret_response(get_webhook_for_caller(request, webhookId))


def secret_response(webhook: Webhook) -> Response:
    response = Response(s.SecretSerializer(webhook).data)
    # The secret is shown on request: no cache or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@extend_schema(
    operation_id="rotateWebhookSecret",
    summary="Rotate the signing secret (our addition)",
    description="The previous secret keeps signing, beside the new one, for the grace period (24 h by default).",
    parameters=[WEBHOOK_ID],
    request=None,
    responses={200: s.SecretSerializer, **ERRORS, **NOT_FOUND},
    tags=["Signing (brevo-hooks)"],
)
@api_view(["POST"])
def rotate_secret(request: Request, webhookId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    found.rotate_secret()
    return secret_response(found)


@extend_schema(
    operation_id="sendTestWebhook",
    summary="Send a test event and answer with the outcome (our addition)",
    description=(
        "Queues the event's sample payload on the test fast lane and waits for the worker, up to the "
        "delivery timeout plus 5 s. 200 with the outcome when it is known, 202 with the pending delivery "
        "otherwise. Test sends are never retried."
    ),
    parameters=[WEBHOOK_ID],
    request=s.TestSendSerializer,
    responses={200: s.DeliverySerializer, 202: s.DeliverySerializer, **ERRORS, **NOT_FOUND, **UNAVAILABLE},
    tags=["Deliveries (brevo-hooks)"],
)
@api_view(["POST"])
def send_test(request: Request, webhookId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    data = validated(s.TestSendSerializer, request)
    event = catalog.get(found.type, data["event"])
    if event is None:
        raise Invalid(f"event: Not a {found.type} event: {data['event']}.")
    try:
        delivery = jobs.enqueue_test(found, event)
    except jobs.QueueUnavailable:
        return error(503, "service_unavailable", "The test could not be queued. Try again shortly.")
    deadline = time.monotonic() + settings.WEBHOOKS_TIMEOUT + TEST_WAIT_MARGIN
    while not delivery.is_done and time.monotonic() < deadline:
        time.sleep(0.1)
        delivery.refresh_from_db(fields=["status", "attempt_count", "completed_at", "next_attempt_at"])
    return Response(s.DeliverySerializer(delivery).data, status=200 if delivery.is_done else 202)


@extend_schema(
    operation_id="getWebhookDeliveries",
    summary="List the deliveries of a webhook, newest first (our addition)",
    parameters=[
        WEBHOOK_ID,
        OpenApiParameter("status", str, enum=[c.value for c in Delivery.Status]),
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 500}, default=50),
        OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}, default=0),
    ],
    responses={200: s.DeliveryListSerializer, **ERRORS, **NOT_FOUND},
    tags=["Deliveries (brevo-hooks)"],
)
@api_view(["GET"])
def deliveries(request: Request, webhookId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    rows = found.deliveries.all()
    status = request.query_params.get("status")
    if status is not None:
        if status not in Delivery.Status.values:
            raise Invalid("status must be one of " + ", ".join(Delivery.Status.values) + ".")
        rows = rows.filter(status=status)
    page = rows.prefetch_related("attempts")[offset : offset + limit]
    return Response(s.DeliveryListSerializer({"deliveries": page, "count": rows.count()}).data)


def get_delivery_for_caller(webhook: Webhook, delivery_id: int) -> Delivery:
    found = Delivery.objects.filter(pk=delivery_id, webhook=webhook).first() if delivery_id <= MAX_ID else None
    if found is None:
        raise NotFound("Delivery not found")
    return found


@extend_schema(
    operation_id="retryWebhookDelivery",
    summary="Send a failed or cancelled delivery, or one waiting for its next attempt, again now (our addition)",
    description="202 with the delivery, now pending; the attempt follows within moments. Tests are not retried.",
    parameters=[WEBHOOK_ID, OpenApiParameter("deliveryId", OpenApiTypes.INT, OpenApiParameter.PATH)],
    request=None,
    responses={202: s.DeliverySerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    tags=["Deliveries (brevo-hooks)"],
)
@api_view(["POST"])
def retry_delivery(request: Request, webhookId: int, deliveryId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    delivery = get_delivery_for_caller(found, deliveryId)
    if not retry_now(found, Delivery.objects.filter(pk=delivery.pk)):
        raise Invalid(
            "Only a failed or cancelled delivery, or one waiting for its next attempt, can be retried; "
            f"this one is {delivery.status}.",
            code="conflict",
            status_code=409,
        )
    delivery.refresh_from_db()
    return Response(s.DeliverySerializer(delivery).data, status=202)


@extend_schema(
    operation_id="retryFailedWebhookDeliveries",
    summary="Send again now every retryable delivery created since a moment (our addition)",
    description="Failed and cancelled deliveries, and pending ones waiting for their next attempt; never tests.",
    parameters=[WEBHOOK_ID],
    request=s.RetryFailedSerializer,
    responses={202: s.RetryCountSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    tags=["Deliveries (brevo-hooks)"],
)
@api_view(["POST"])
def retry_failed(request: Request, webhookId: int) -> Response:
    found = get_webhook_for_caller(request, webhookId)
    data = validated(s.RetryFailedSerializer, request)
    retried = retry_now(found, found.deliveries.filter(created_at__gte=data["since"]))
    return Response(s.RetryCountSerializer({"retried": retried}).data, status=202)


def retry_now(webhook: Webhook, deliveries: QuerySet[Delivery]) -> int:
    try:
        return jobs.retry_now(webhook, deliveries)
    except jobs.RetryRefused as exc:
        raise Invalid(str(exc), code="conflict", status_code=409) from None


def int_param(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = whole_number(raw, below=maximum + 1)
    if value is None or value < minimum:
        raise Invalid(f"{name} must be a whole number from {minimum} to {maximum}.")
    return value
