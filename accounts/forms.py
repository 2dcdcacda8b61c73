"""The forms of the accounts pages: API keys and the account's settings."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import ratelimit
from accounts.models import Account, time_zone_names

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
        label=_("Name"),
        max_length=100,
        error_messages={"required": _("Give the key a name, such as the app that will use it.")},
        widget=forms.TextInput(attrs={"placeholder": _("e.g. CRM integration"), "autocomplete": "off"}),
    )


def time_zone_choices() -> list[Any]:
    """Every time zone, grouped by region (Africa, America, Europe...) as a <select> shows them."""
    regions: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in time_zone_names()[1:]:
        region = name.partition("/")[0]
        # The whole name, as the payloads and the pages' zone say it: a closed <select> hides the group.
        regions[region].append((name, name.replace("_", " ")))
    return [("UTC", "UTC"), *sorted(regions.items())]


class AccountSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=time_zone_choices,
        help_text=_(
            "Times on these pages are shown in this zone, and the date field of the payloads your webhooks "
            "receive is written in it, as Brevo does."
        ),
        error_messages={"invalid_choice": _("Choose a time zone from the list, such as Europe/Rome.")},
    )

    class Meta:
        model = Account
        fields = ["name", "time_zone"]
        labels = {"name": _("Account name")}
        error_messages = {"name": {"required": _("Give the account a name, such as your company's.")}}
