"""Login (rate-limited), the API keys page, the account's settings and the language switcher."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import account_required
from accounts.forms import AccountSettingsForm, ApiKeyForm, LoginForm
from accounts.models import ApiKey, User

# The new key waits here between the POST that made it and the page that shows it, once.
NEW_KEY_SESSION = "new_api_key"


def too_many(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    """429 with Retry-After when the login form refused the attempt for its limits (accounts.ratelimit)."""
    wait = getattr(request, "login_wait", 0)
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        return too_many(super().form_invalid(form), self.request)


def get_api_key_for_user(request: HttpRequest, pk: int) -> ApiKey:
    return get_object_or_404(ApiKey, pk=pk, account=request.user.account)


@account_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, raw = ApiKey.create_for(request.user.account, form.cleaned_data["name"])
        # Redirect after the POST, so that reloading the page cannot make a second key.
        request.session[NEW_KEY_SESSION] = {"pk": key.pk, "raw": raw}
        return redirect("api_keys")
    created = None
    shown = request.session.pop(NEW_KEY_SESSION, None)
    if shown:
        key = ApiKey.objects.filter(pk=shown["pk"], account=request.user.account).first()
        created = (key, shown["raw"]) if key else None
    keys = ApiKey.objects.filter(account=request.user.account)
    response = render(
        request,
        "accounts/api_keys.html",
        {"form": form, "keys": keys, "created": created},
        status=400 if form.errors else 200,
    )
    # The clear key is in this page once: keep it out of caches and the back-forward history.
    response["Cache-Control"] = "private, no-store"
    return response


@account_required
@require_http_methods(["GET", "POST"])
def revoke_api_key(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a key, after a page that asks (GET) whether to."""
    key = get_api_key_for_user(request, pk)
    if request.method == "GET" or key.revoked_at:
        if key.revoked_at:
            return redirect("api_keys")
        return render(request, "accounts/confirm_revoke.html", {"key": key})
    key.revoke()
    message = _("API key %(name)s revoked. Requests made with it are now refused.") % {"name": key.name}
    messages.success(request, message)
    return redirect("api_keys")


@account_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """The account's name and time zone; every user of the account may change them."""
    account = request.user.account
    form = AccountSettingsForm(request.POST or None, instance=account)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, _("Settings saved."))
            return redirect("account_settings")
        return render(request, "accounts/settings.html", {"form": form}, status=400)
    return render(request, "accounts/settings.html", {"form": form})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (a cookie, then back to the page), and the user remembers it for emails."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        User.objects.filter(pk=request.user.pk).update(language=language)
    return response
