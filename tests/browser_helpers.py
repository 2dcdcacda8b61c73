"""What the browser tests share: a logged-in context, and axe-core run in the page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from tests.conftest import ROOT

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def session_cookie(user: Any, url: str) -> dict[str, str]:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"name": "sessionid", "value": session.session_key, "url": url}


def new_context(browser: Any, live_server: Any, user: Any = None, language: str = "en", **options: Any) -> Any:
    """A browser context whose Accept-Language is `language`, logged in as `user`.

    The CSP forbids inline scripts; bypass_csp lets the test inject axe-core, as a browser
    extension would, without weakening what the app sends.
    """
    context = browser.new_context(
        viewport=options.pop("viewport", PHONE),
        locale="it-IT" if language == "it" else "en-US",
        extra_http_headers={"Accept-Language": f"{language};q=1.0"},
        bypass_csp=True,
        **options,
    )
    context.set_default_timeout(20000)
    if user is not None:
        context.add_cookies([session_cookie(user, live_server.url)])
    return context


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [" ".join(node["target"]) for node in violation["nodes"]][:3]
            found.append(f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


def tab_to(page: Any, predicate: str, limit: int = 80) -> None:
    """Press Tab until `predicate` (JS, given the focused element as `el`) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return Boolean({predicate}); }}"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")
