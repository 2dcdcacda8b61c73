"""The Content-Security-Policy in a real browser: every page has it, and no page breaks it.

Chromium reports each violation as a `securitypolicyviolation` event and a console error;
the test listens to both on every page of the app, the API docs (Swagger UI), the admin
and the RQ dashboard.
"""

from __future__ import annotations

import django_rq
import pytest

from accounts.models import ApiKey, User
from events.fanout import NewEvent
from tests.browser_helpers import session_cookie
from tests.conftest import PASSWORD
from webhooks.models import Attempt, Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Visitor:
    """A browser page that records every CSP violation and checks every page's header."""

    def __init__(self, context, base: str) -> None:
        self.base = base
        self.page = context.new_page()
        self.page.set_default_timeout(20000)
        self.page.add_init_script(LISTEN)
        self.console: list[str] = []
        self.page.on("console", self.on_console)
        self.problems: list[str] = []

    def on_console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def visit(self, path: str, ready: str | None = None) -> None:
        self.console.clear()
        response = self.page.goto(self.base + path)
        if response is None or response.status >= 400:
            self.problems.append(f"{path}: HTTP {response.status if response else 'no answer'}")
            return
        if "default-src 'self'" not in (response.headers.get("content-security-policy") or ""):
            self.problems.append(f"{path}: no Content-Security-Policy header")
        self.page.wait_for_load_state("load")
        if ready:
            self.page.locator(ready).first.wait_for()
        seen = self.page.evaluate("window.__cspViolations") + self.console
        self.problems += [f"{path}: {violation}" for violation in seen]


@pytest.fixture
def world(make_webhook, owner, emit_now, account, redis):
    webhook = make_webhook(
        url="https://bob:pw@example.com/hook", description="CRM", headers=[{"key": "X-Tenant", "value": "acme"}]
    )
    (event,) = emit_now(account, [NewEvent("delivered", data={"email": "jane@example.com"})])
    delivery = Delivery.objects.get(event_record=event)
    Attempt.objects.create(delivery=delivery, number=1, request_url=webhook.masked_url, request_body="{}", error="x")
    test = Delivery.objects.create(webhook=webhook, event="delivered", payload={"event": "delivered"}, is_test=True)
    ApiKey.create_for(account, "CI")
    job = django_rq.get_queue("tests").enqueue("webhooks.jobs.send_test", test.pk)  # for the RQ dashboard
    return {"webhook": webhook, "delivery": delivery, "test": test, "job": job.id}


def test_no_page_breaks_the_content_security_policy(browser, live_server, owner, world):
    webhook, delivery, test, job = world["webhook"], world["delivery"], world["test"], world["job"]
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    visitor = Visitor(context, live_server.url)

    visitor.visit("/login/", ready="form")
    visitor.visit("/admin/login/", ready="form")
    context.add_cookies([session_cookie(owner, live_server.url)])
    for path in [
        "/webhooks/",
        "/webhooks/new/",
        f"/webhooks/{webhook.pk}/",
        f"/webhooks/{webhook.pk}/?reveal=1",
        f"/webhooks/{webhook.pk}/edit/",
        f"/webhooks/{webhook.pk}/delete/",
        f"/webhooks/{webhook.pk}/test/",
        f"/webhooks/{webhook.pk}/deliveries/",
        f"/webhooks/{webhook.pk}/deliveries/{delivery.pk}/",
        "/events/",
        "/api-keys/",
    ]:
        visitor.visit(path, ready="main")
    # The test result page polls its fragment with fetch(): connect-src.
    with visitor.page.expect_request(lambda request: "fragment=1" in request.url):
        visitor.visit(f"/webhooks/{webhook.pk}/test/{test.pk}/", ready="#test-result")
    # Swagger UI draws the operations from the OpenAPI description.
    visitor.visit("/v3/docs", ready=".opblock")

    operator = User.objects.create_superuser("ops@brevo-hooks.test", PASSWORD)
    context.clear_cookies()
    context.add_cookies([session_cookie(operator, live_server.url)])
    for path in [
        "/admin/",
        "/admin/accounts/account/",
        f"/admin/accounts/account/{owner.account_id}/change/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{owner.pk}/change/",
        "/admin/accounts/user/add/",
        "/admin/accounts/apikey/",
        "/admin/webhooks/webhook/",
        f"/admin/webhooks/webhook/{webhook.pk}/change/",
        "/admin/webhooks/delivery/",
        f"/admin/webhooks/delivery/{delivery.pk}/change/",
        "/admin/webhooks/attempt/",
        "/admin/events/event/",
        "/admin/django_rq/dashboard/",
        *(
            f"/admin/django_rq/dashboard/queues/0/{page}"
            for page in ["", "details/", "finished/", "failed/", "scheduled/", "started/", "deferred/", f"{job}/"]
        ),
        "/admin/django_rq/dashboard/workers/0/",
    ]:
        visitor.visit(path, ready="#content")
    context.close()
    assert not visitor.problems, "\n".join(visitor.problems)
