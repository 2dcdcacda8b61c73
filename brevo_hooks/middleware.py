"""The language and the time zone of each request, and query strings that no view can use."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.middleware import locale
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from brevo_hooks.error_views import api_error, is_api

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


def refuse_nul_in_query(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Answer 400 to a query string with a NUL character (`%00`) in it.

    No parameter of ours can hold one, and PostgreSQL refuses NUL in any text it is given:
    a search or a filter with one (the webhooks' search, the delivery log's filters, the
    admin's search boxes) would otherwise fail in the database, as a 500.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if "%00" in request.META.get("QUERY_STRING", ""):
            if is_api(request):
                return api_error(400, "invalid_parameter", "The query string must not contain a NUL character (%00).")
            return HttpResponseBadRequest(
                _("The address must not contain the NUL character."), content_type="text/plain; charset=utf-8"
            )
        return get_response(request)

    return middleware
