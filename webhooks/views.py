"""The Webhooks pages: list, add, edit, delete, "Send a test" and the signing secret."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

import catalog
from accounts.decorators import account_required
from accounts.models import Account
from webhooks import jobs
from webhooks.forms import SendTestForm, WebhookForm
from webhooks.models import Delivery, Webhook


def get_webhook_for_user(request: HttpRequest, pk: int) -> Webhook:
    """A webhook of the Webhooks page; those of automation steps are edited with their automation."""
    return get_object_or_404(Webhook.objects.listed().select_related("account"), pk=pk, account=request.user.account)


def get_any_webhook_for_user(request: HttpRequest, pk: int) -> Webhook:
    """Any webhook of the account, those of automation steps included: for the delivery log
    and the signing secret, which automation steps share with webhooks."""
    return get_object_or_404(Webhook.objects.select_related("account"), pk=pk, account=request.user.account)


def get_test_delivery_for_user(request: HttpRequest, webhook: Webhook, pk: int) -> Delivery:
    return get_object_or_404(Delivery, pk=pk, webhook=webhook, is_test=True)


@account_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    webhooks = list(Webhook.objects.listed().filter(account=account).prefetch_related("subscriptions"))
    groups = [
        (label, [webhook for webhook in webhooks if webhook.type == type])
        for type, label in catalog.TYPE_LABELS.items()
    ]
    # The limit counts the webhooks of automation steps too, as Brevo does.
    from_automations = Webhook.objects.filter(account=account, source=Webhook.Source.AUTOMATION).count()
    return render(
        request,
        "webhooks/list.html",
        {
            "groups": groups,
            "count": len(webhooks) + from_automations,
            "from_automations": from_automations,
            "limit": settings.WEBHOOKS_MAX_PER_ACCOUNT,
        },
    )


@account_required
@require_http_methods(["GET", "POST"])
def webhook_add(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    webhook = Webhook(account=account)
    if request.method != "POST":
        form = WebhookForm(instance=webhook, initial={"type": request.GET.get("type", catalog.TRANSACTIONAL)})
        return render(request, "webhooks/form.html", {"form": form, "adding": True})

    with transaction.atomic():
        # Locking the account serialises concurrent adds, so the 40 limit cannot be overshot.
        Account.objects.select_for_update().get(pk=account.pk)
        form = WebhookForm(request.POST, instance=webhook)
        if form.is_valid():
            webhook = form.save()
            messages.success(request, f"Webhook {webhook.masked_url} added.")
            return redirect("webhooks:list")
    return render(request, "webhooks/form.html", {"form": form, "adding": True}, status=400)


@account_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    form = WebhookForm(request.POST if request.method == "POST" else None, instance=webhook)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                form.save()
            messages.success(request, f"Webhook {webhook.masked_url} saved.")
            return redirect("webhooks:list")
        return render(request, "webhooks/form.html", {"form": form, "webhook": webhook}, status=400)
    return render(request, "webhooks/form.html", {"form": form, "webhook": webhook})


@account_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    if request.method == "POST":
        webhook.delete()
        messages.success(request, f"Webhook {webhook.masked_url} deleted.")
        return redirect("webhooks:list")
    return render(request, "webhooks/confirm_delete.html", {"webhook": webhook})


@account_required
@require_http_methods(["GET", "POST"])
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    form = SendTestForm(webhook, request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            delivery = jobs.enqueue_test(webhook, form.event_type())
        except jobs.QueueUnavailable:
            form.add_error(None, "The test could not be queued: the delivery queue is unreachable. Try again shortly.")
        else:
            return redirect("webhooks:test_result", pk=webhook.pk, delivery_pk=delivery.pk)
    recent = webhook.deliveries.filter(is_test=True)[:5]
    status = 400 if form.errors else 200
    return render(
        request, "webhooks/send_test.html", {"webhook": webhook, "form": form, "recent": recent}, status=status
    )


@account_required
def test_result(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """The outcome of one test send; the page polls its own fragment until it arrives."""
    webhook = get_webhook_for_user(request, pk)
    delivery = get_test_delivery_for_user(request, webhook, delivery_pk)
    context = {"webhook": webhook, "delivery": delivery, "attempt": delivery.last_attempt()}
    if request.GET.get("fragment"):
        return render(request, "webhooks/_test_result.html", context)
    context["form"] = SendTestForm(webhook, initial={"event": delivery.event})
    return render(request, "webhooks/send_test.html", context)


@account_required
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    webhook.enabled = not webhook.enabled
    webhook.disabled_reason = "" if webhook.enabled else "Disabled by a user."
    if webhook.enabled:
        # A fresh start: old failures must not disable it again at the next one.
        webhook.failing_since = webhook.paused_until = None
    webhook.save(update_fields=["enabled", "disabled_reason", "failing_since", "paused_until", "modified_at"])
    messages.success(request, f"Webhook {webhook.masked_url} {'enabled' if webhook.enabled else 'disabled'}.")
    return redirect("webhooks:list")


@account_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One webhook: its settings, signing secret (hidden until revealed) and how to verify."""
    webhook = get_any_webhook_for_user(request, pk)
    reveal = request.GET.get("reveal") == "1"
    response = render(
        request,
        "webhooks/detail.html",
        {
            "webhook": webhook,
            "reveal": reveal,
            "secrets": webhook.signing_secrets(),
            "egress_ranges": settings.WEBHOOKS_EGRESS_IP_RANGES,
            "grace_hours": settings.WEBHOOKS_SECRET_ROTATION_GRACE // 3600,
        },
    )
    if reveal:
        response["Cache-Control"] = "private, no-store"
    return response


@account_required
@require_POST
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_any_webhook_for_user(request, pk)
    webhook.rotate_secret()
    expires = timezone.localtime(webhook.previous_secret_expires_at).strftime("%Y-%m-%d %H:%M %Z")
    messages.success(request, f"New signing secret made. The previous one keeps working until {expires}.")
    return redirect(reverse("webhooks:detail", args=[webhook.pk]) + "?reveal=1")


def egress_ips(request: HttpRequest) -> JsonResponse:
    """The ranges our deliveries come from, for receivers that allow-list them (public)."""
    return JsonResponse({"egressIpRanges": settings.WEBHOOKS_EGRESS_IP_RANGES})
