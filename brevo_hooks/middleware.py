"""The language and the time zone of each request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.middleware import locale
from django.utils import timezone, translation

# Brevo's API and our event intake answer in English whatever the client's Accept-Language:
# their messages are read by programs and developers, and Brevo's SDKs expect them so.
ENGLISH_ONLY_PREFIXES = ("/v3/", "/api/")


class LocaleMiddleware(locale.LocaleMiddleware):
    """Django's LocaleMiddleware (the switcher's cookie, then Accept-Language), except for the APIs."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith(ENGLISH_ONLY_PREFIXES):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
            return
        super().process_request(request)


def time_zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The zone called `name`, or UTC when it is not one (an operator may type anything in the admin)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return zoneinfo.ZoneInfo("UTC")


def account_time_zone(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Show times in the account's time zone (UTC for operators and visitors)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        account = getattr(user, "account", None) if user is not None and user.is_authenticated else None
        if account is not None:
            timezone.activate(time_zone_of(account.time_zone))
        else:
            timezone.deactivate()
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
