"""Checks on what a user may save in a webhook: URL, bearer token, custom headers.

The form and the /v3 API share them, so both refuse the same things with the same
sentences. They run at save time; `outbound` checks the URL again at send time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webhooks import ssrf

URL_MAX_LENGTH = 2048
URL_ERROR = gettext_lazy(
    "Enter a valid URL starting with http:// or https://, such as https://example.com/webhooks/brevo."
)
MAX_HEADERS = 20
HEADER_NAME_MAX = 100
HEADER_VALUE_MAX = 1000
TOKEN_MAX = 1000

# Headers we set ourselves, or that would break the request or its framing if a user set them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "user-agent",
        "authorization",
        "proxy-authorization",
        "proxy-connection",
    }
)
RESERVED_PREFIXES = ("webhook-", "svix-", "proxy-")
# RFC 9110 token characters.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Visible ASCII, spaces and tabs: what every HTTP stack carries unchanged.
HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
TOKEN = re.compile(r"^[\x21-\x7e]+$")
# RFC 3986: the characters a URL may hold as they are; anything else travels percent-encoded.
# (Checked before the host is resolved; the host itself is URLValidator's and the SSRF rules'.)
_URI_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})"
_USER_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})"
URI_CHARACTERS = re.compile(
    rf"^[A-Za-z][A-Za-z0-9+.-]*://(?:{_USER_CHAR}+(?::{_USER_CHAR}*)?@)?[^/?#@]+"
    rf"(?:[/?]{_URI_CHAR}*)?(?:#{_URI_CHAR}*)?$"
)
URL_CHARACTERS_ERROR = gettext_lazy(
    "The URL holds characters that must be percent-encoded, such as {, }, |, ^, \\ or a second #."
)


def validate_url(url: Any) -> str:
    """`url` if it is an http(s) URL we may send to; ValidationError otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(_("Enter the URL of your app that receives the events."), code="required")
    # Not trimmed here (the form trims what is typed): a space around a URL sent to the API is refused.
    if len(url) > URL_MAX_LENGTH:
        raise ValidationError(
            _("The URL is too long (at most %(max)s characters).") % {"max": URL_MAX_LENGTH}, code="invalid"
        )
    if not URI_CHARACTERS.match(url):
        try:
            ssrf.parse(url)  # its sentences say more about spaces, control characters and schemes
        except ssrf.UnsafeURL as exc:
            raise ValidationError(str(exc), code="invalid") from None
        raise ValidationError(URL_CHARACTERS_ERROR, code="invalid")
    try:
        ssrf.check_url(url)
    except ssrf.UnsafeURL as exc:
        raise ValidationError(str(exc), code="invalid") from None
    URLValidator(schemes=list(ssrf.ALLOWED_SCHEMES), message=URL_ERROR)(url)
    return url


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES)


def validate_headers(headers: Iterable[Any]) -> list[dict[str, str]]:
    """Custom headers as `[{"key", "value"}]`, checked; ValidationError naming the first problem."""
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for header in headers:
        if not isinstance(header, dict) or not isinstance(header.get("key"), str):
            raise ValidationError(_('Each header needs a "key" and a "value".'), code="invalid")
        name, value = header["key"], header.get("value", "")
        if not isinstance(value, str):
            raise ValidationError(_("The value of header %(name)s must be text.") % {"name": name}, code="invalid")
        # Only HTTP's own whitespace is trimmed: a control character is refused, never dropped.
        value = value.strip(" \t")
        if not name or len(name) > HEADER_NAME_MAX or not HEADER_NAME.match(name):
            raise ValidationError(
                _("%(name)r is not a valid header name: use letters, digits and dashes.") % {"name": name},
                code="invalid",
            )
        if is_reserved_header(name):
            raise ValidationError(
                (
                    _("The header %(name)s is set by brevo-hooks and cannot be changed.")
                    + (
                        " " + _("Use the bearer token or user:password@ in the URL.")
                        if name.lower() == "authorization"
                        else ""
                    )
                )
                % {"name": name},
                code="reserved_header",
            )
        if len(value) > HEADER_VALUE_MAX or not HEADER_VALUE.match(value):
            raise ValidationError(
                _("The value of header %(name)s must be plain ASCII text on one line, at most %(max)s characters.")
                % {"name": name, "max": HEADER_VALUE_MAX},
                code="invalid",
            )
        if name.lower() in seen:
            raise ValidationError(_("The header %(name)s is given twice.") % {"name": name}, code="duplicate")
        seen.add(name.lower())
        cleaned.append({"key": name, "value": value})
    if len(cleaned) > MAX_HEADERS:
        raise ValidationError(
            _("A webhook can have at most %(max)s custom headers.") % {"max": MAX_HEADERS}, code="invalid"
        )
    return cleaned


def validate_token(token: Any) -> str:
    if not isinstance(token, str) or not TOKEN.match(token) or len(token) > TOKEN_MAX:
        raise ValidationError(
            _("The token must be plain ASCII text without spaces, at most %(max)s characters.") % {"max": TOKEN_MAX},
            code="invalid",
        )
    return token
