"""Login (rate-limited) and the API keys page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import ratelimit
from accounts.decorators import account_required
from accounts.forms import ApiKeyForm
from accounts.models import ApiKey

# Per address and email: enough for typos, too few to guess a password.
LOGIN_LIMIT, LOGIN_WINDOW = 10, 300
# Per address alone, whatever the email: stops one host from spraying many accounts.
ADDRESS_LIMIT = 50
TOO_MANY = "Too many login attempts. Wait a few minutes, then try again."


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        address = client_address(request)
        email = str(request.POST.get("username", "")).strip().lower()
        allowed = ratelimit.hit("login", f"{address}|{email}", LOGIN_LIMIT, LOGIN_WINDOW)
        allowed = ratelimit.hit("login-address", address, ADDRESS_LIMIT, LOGIN_WINDOW) and allowed
        if not allowed:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, TOO_MANY)
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(LOGIN_WINDOW)
            return response
        return super().post(request, *args, **kwargs)


def get_api_key_for_user(request: HttpRequest, pk: int) -> ApiKey:
    return get_object_or_404(ApiKey, pk=pk, account=request.user.account)


@account_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        created = ApiKey.create_for(request.user.account, form.cleaned_data["name"])
        form = ApiKeyForm()
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
@require_POST
def revoke_api_key(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_api_key_for_user(request, pk)
    key.revoke()
    messages.success(request, f"API key {key.name} revoked. Requests made with it are now refused.")
    return redirect("api_keys")
