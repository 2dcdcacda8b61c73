from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import ratelimit

TOO_MANY = _("Too many login attempts. Wait a few minutes, then try again.")


class LimitedLogin:
    """A login form that counts the attempt before checking the password, and refuses it past a limit.

    When it refuses, `request.login_wait` holds the seconds to wait: the view answers 429.
    """

    request: Any
    data: Any

    def clean(self) -> dict[str, Any]:
        email = str(self.data.get("username", ""))
        wait = ratelimit.login_wait(self.request, email)
        if wait:
            self.request.login_wait = wait
            raise ValidationError(TOO_MANY, code="too_many_attempts")
        try:
            return super().clean()  # type: ignore[misc]
        except ValidationError:
            ratelimit.login_failed(email)
            raise


class LoginForm(LimitedLogin, AuthenticationForm):
    pass


class AdminLoginForm(LimitedLogin, AdminAuthenticationForm):
    pass


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        error_messages={"required": "Give the key a name, such as the app that will use it."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. CRM integration", "autocomplete": "off"}),
    )
