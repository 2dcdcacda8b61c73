"""Login (rate-limited) and the API keys page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import account_required
from accounts.forms import ApiKeyForm, LoginForm
from accounts.models import ApiKey


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
