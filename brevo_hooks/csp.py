"""Content-Security-Policy on every answer.

Django 5.2 has no CSP of its own (6.0 will: `django.middleware.csp`, with a SECURE_CSP
setting of the same shape as ours, so that moving to it is a change of two lines). One
fixed policy fits this app: every script, style, font and image comes from our own static
files, no page runs inline code, and no page may be framed. A response that already has
the header keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def header_value(policy: dict[str, list[str]]) -> str:
    """`{"default-src": ["'self'"], ...}` as the header's text: `default-src 'self'; ...`."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = policy_for(request.path)
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = header_value(policy)
        return response


def policy_for(path: str) -> dict[str, list[str]]:
    """SECURE_CSP, with the directives SECURE_CSP_PATHS sets for the longest prefix of `path`."""
    policy = dict(settings.SECURE_CSP)
    paths: dict[str, dict[str, list[str]]] = getattr(settings, "SECURE_CSP_PATHS", {})
    prefixes = [prefix for prefix in paths if path.startswith(prefix)]
    if prefixes:
        policy.update(paths[max(prefixes, key=len)])
    return policy
