"""How the pages look in Chromium: the automation pages styled at every width, the keyboard's focus
always visible, the login page ready to type in."""

from __future__ import annotations

import pytest

from tests.automation_world import call, make_automation, wait
from tests.browser_helpers import PHONE, new_context, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1100, "height": 900}

STYLE = """(selector) => {
  const style = getComputedStyle(document.querySelector(selector));
  return {display: style.display, borderLeft: style.borderLeftWidth, listStyle: style.listStyleType};
}"""
# The focused element's ring: its contrast with the white page (WCAG asks 3:1 of a focus ring), or 0
# when there is no solid outline of at least 2 px.
RING = """() => {
  const style = getComputedStyle(document.activeElement);
  if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) return 0;
  const [r, g, b, a = 1] = style.outlineColor.match(/[\\d.]+/g).map(Number);
  if (a < 1) return 0;
  const linear = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 1.05 / (0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) + 0.05);
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1100px", "390px"])
def test_the_automation_pages_are_styled_at_every_width(browser, live_server, owner, account, viewport):
    automation = make_automation(account, [wait(3600), call("https://example.com/hook")])
    context = new_context(browser, live_server, owner, viewport=viewport)
    page = context.new_page()
    page.goto(live_server.url + "/automations/")
    assert page.evaluate(STYLE, ".automations")["listStyle"] == "none"
    assert page.evaluate(STYLE, ".automation")["display"] == "flex"  # a card, not a bulleted line
    page.goto(live_server.url + f"/automations/{automation.pk}/")
    assert page.evaluate(STYLE, ".step-webhook")["borderLeft"] == "4px"
    assert page.evaluate(STYLE, ".wait-fields")["display"] == "grid"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    context.close()


def test_the_keyboard_focus_is_visible_on_links_buttons_inputs_and_menu_items(
    browser, live_server, owner, make_webhook
):
    make_webhook(url="https://example.com/hook")
    context = new_context(browser, live_server, owner, viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/webhooks/")
    for target in (
        "el.tagName === 'A' && el.textContent.trim() === 'Automations'",  # a link
        "el.classList.contains('lang') && !el.classList.contains('current')",  # the language switch's other language
        "el.closest('form[data-inline-test]') !== null",  # the card's Test button
        "el.tagName === 'SUMMARY'",  # the Actions menu's button
    ):
        tab_to(page, target)
        assert page.evaluate(RING) >= 3, target
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.getAttribute('role') === 'menuitem'")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(RING) >= 3, "a menu item"
    page.goto(live_server.url + "/webhooks/new/")
    tab_to(page, "el.id === 'id_url'")
    assert page.evaluate(RING) >= 3, "a text input"
    tab_to(page, "el.type === 'checkbox'")
    assert page.evaluate(RING) >= 3, "a checkbox"
    context.close()


def test_the_login_page_has_the_focus_in_its_email_field(browser, live_server, db):
    context = new_context(browser, live_server)
    page = context.new_page()
    page.goto(live_server.url + "/login/")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_username'")
    page.keyboard.type("jane@example.com")
    assert page.locator("#id_username").input_value() == "jane@example.com"
    context.close()
