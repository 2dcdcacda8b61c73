"""The Webhooks pages: list, add, edit, delete, "Send a test", the signing secret and the IP addresses."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

import catalog
from accounts.decorators import account_required
from accounts.models import Account
from webhooks import disabled, health, jobs
from webhooks.forms import SendTestForm, WebhookForm
from webhooks.models import Delivery, Webhook, limit_message

# From this many webhooks on, the list offers a search box and a compact view.
TOOLS_FROM = 6
VIEW_SESSION = "webhooks_view"


def get_webhook_for_user(request: HttpRequest, pk: int) -> Webhook:
    """A webhook of the Webhooks page; those of automation steps are edited with their automation."""
    return get_object_or_404(Webhook.objects.listed().select_related("account"), pk=pk, account=request.user.account)


def get_any_webhook_for_user(request: HttpRequest, pk: int) -> Webhook:
    """Any webhook of the account, those of automation steps included: for the delivery log
    and the signing secret, which automation steps share with webhooks."""
    return get_object_or_404(Webhook.objects.select_related("account"), pk=pk, account=request.user.account)


def get_test_delivery_for_user(webhook: Webhook, pk: int) -> Delivery:
    return get_object_or_404(Delivery, pk=pk, webhook=webhook, is_test=True)


def wants_json(request: HttpRequest) -> bool:
    """The page's script asks (the card's Test button); without it, forms post and redirect as usual."""
    return request.headers.get("X-Requested-With") == "fetch"


def list_view_choice(request: HttpRequest) -> str:
    """ "cards" or "compact", as chosen with the list's toggle and remembered for the session."""
    chosen = request.GET.get("view")
    if chosen in {"cards", "compact"}:
        request.session[VIEW_SESSION] = chosen
    return request.session.get(VIEW_SESSION, "cards")


@account_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    account_webhooks = Webhook.objects.listed().filter(account=account)
    # The limit counts the webhooks of automation steps too, as Brevo does.
    from_automations = Webhook.objects.filter(account=account, source=Webhook.Source.AUTOMATION).count()
    count = account_webhooks.count() + from_automations
    query = request.GET.get("q", "").strip()[:200]
    shown = account_webhooks.prefetch_related("subscriptions")
    if query:
        shown = shown.filter(Q(url__icontains=query) | Q(description__icontains=query))
    webhooks = list(shown)
    states = health.for_webhooks(webhooks, timezone.now())
    for webhook in webhooks:
        webhook.health = states[webhook.pk]
    groups = [
        (type, label, [webhook for webhook in webhooks if webhook.type == type])
        for type, label in catalog.TYPE_LABELS.items()
    ]
    limit = settings.WEBHOOKS_MAX_PER_ACCOUNT
    context = {
        "groups": groups,
        "count": count,
        "from_automations": from_automations,
        "shown": len(webhooks),
        "limit": limit,
        "full": count >= limit,
        "query": query,
        "tools": count >= TOOLS_FROM or bool(query),
        "view": list_view_choice(request),
    }
    return render(request, "webhooks/list.html", context)


def saved_message(request: HttpRequest, webhook: Webhook, text: str) -> None:
    """ "Webhook ... added." with a link that sends a test at once, as Brevo's article advises."""
    link = reverse("webhooks:send_test", args=[webhook.pk])
    messages.success(request, format_html('{} <a href="{}">{}</a>', text, link, _("Send a test now")))


@account_required
@require_http_methods(["GET", "POST"])
def webhook_add(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    webhook = Webhook(account=account)
    if request.method != "POST":
        form = WebhookForm(instance=webhook, initial={"type": request.GET.get("type", catalog.TRANSACTIONAL)})
        # At the limit the page says so at once, rather than on Save.
        full = limit_message() if webhook.account_is_full() else ""
        return render(request, "webhooks/form.html", {"form": form, "adding": True, "limit_message": full})

    with transaction.atomic():
        # Locking the account serialises concurrent adds, so the 40 limit cannot be overshot.
        Account.objects.select_for_update().get(pk=account.pk)
        form = WebhookForm(request.POST, instance=webhook)
        if form.is_valid():
            webhook = form.save()
            saved_message(request, webhook, _("Webhook %(url)s added.") % {"url": webhook.masked_url})
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
            saved_message(request, webhook, _("Webhook %(url)s saved.") % {"url": webhook.masked_url})
            return redirect("webhooks:list")
        return render(request, "webhooks/form.html", {"form": form, "webhook": webhook}, status=400)
    return render(request, "webhooks/form.html", {"form": form, "webhook": webhook})


@account_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    if request.method == "POST":
        webhook.delete()
        messages.success(request, _("Webhook %(url)s deleted.") % {"url": webhook.masked_url})
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
            form.add_error(
                None, _("The test could not be queued: the delivery queue is unreachable. Try again shortly.")
            )
        else:
            page = reverse("webhooks:test_result", args=[webhook.pk, delivery.pk])
            if wants_json(request):
                return JsonResponse({"page": page, "fragment": page + "?fragment=short"}, status=202)
            return redirect(page)
    if wants_json(request):
        errors = [str(error) for errors in form.errors.values() for error in errors]
        return JsonResponse({"error": " ".join(errors) or _("The test could not be sent.")}, status=400)
    recent = webhook.deliveries.filter(is_test=True)[:5]
    status = 400 if form.errors else 200
    return render(
        request, "webhooks/send_test.html", {"webhook": webhook, "form": form, "recent": recent}, status=status
    )


@account_required
def test_result(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """The outcome of one test send; the page (or the card) polls its fragment until it arrives."""
    webhook = get_webhook_for_user(request, pk)
    delivery = get_test_delivery_for_user(webhook, delivery_pk)
    context = {"webhook": webhook, "delivery": delivery, "attempt": delivery.last_attempt()}
    fragment = request.GET.get("fragment")
    if fragment == "short":
        return render(request, "webhooks/_test_result_short.html", context)
    if fragment:
        return render(request, "webhooks/_test_result.html", context)
    context["form"] = SendTestForm(webhook, initial={"event": delivery.event})
    return render(request, "webhooks/send_test.html", context)


@account_required
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_webhook_for_user(request, pk)
    webhook.enabled = not webhook.enabled
    webhook.disabled_reason = "" if webhook.enabled else disabled.BY_USER
    if webhook.enabled:
        # A fresh start: old failures must not disable it again at the next one.
        webhook.failing_since = webhook.paused_until = None
    webhook.save(update_fields=["enabled", "disabled_reason", "failing_since", "paused_until", "modified_at"])
    if webhook.enabled:
        messages.success(request, _("Webhook %(url)s enabled.") % {"url": webhook.masked_url})
    else:
        messages.success(request, _("Webhook %(url)s disabled.") % {"url": webhook.masked_url})
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
    expires = date_format(timezone.localtime(webhook.previous_secret_expires_at), "SHORT_DATETIME_FORMAT")
    messages.success(
        request, _("New signing secret made. The previous one keeps working until %(time)s.") % {"time": expires}
    )
    return redirect(reverse("webhooks:detail", args=[webhook.pk]) + "?reveal=1")


@account_required
def ip_addresses(request: HttpRequest) -> HttpResponse:
    """The ranges our deliveries come from, to allow in a receiver's firewall (Brevo's "Protezione dei webhook")."""
    return render(request, "webhooks/ip_addresses.html", {"ranges": settings.WEBHOOKS_EGRESS_IP_RANGES})


def egress_ips(request: HttpRequest) -> JsonResponse:
    """The ranges our deliveries come from, for receivers that allow-list them (public)."""
    return JsonResponse({"egressIpRanges": settings.WEBHOOKS_EGRESS_IP_RANGES})
