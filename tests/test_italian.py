"""Italian and English: the catalogue, the language of each page, Brevo's Italian words, dates and numbers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import polib
import pytest
from django.core import mail
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from automations.models import Run
from tests.automation_world import make_automation, wait
from tests.conftest import ROOT, record_attempt
from webhooks import disabled, outbound
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.notices import tell_account_disabled

PO = ROOT / "locale" / "it" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

BREVO_ITALIAN_FORM = [
    "Aggiungi un nuovo webhook", "Salva", "Descrizione", "Quando un&#x27;email è:", "Quando un contatto è:",
    "Eventi transazionali (email transazionali)", "Eventi di marketing (email di marketing e contatti)",
    # Marketing
    "Contrassegnata come spam", "Soggetta a hard bounce", "Consegnata", "Aperta", "Soggetta a disiscrizione",
    "Cliccata", "Soggetta a soft bounce", "Aggiunto a una lista", "Aggiornato", "Eliminato",
    # Transactional
    "Inviata", "Aperta per la prima volta", "Caricata tramite proxy", "Non valida", "Soggetta a errore",
    "Rinviata", "Soggetta a reclamo", "Bloccata",
]  # fmt: skip


def italian(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9,en;q=0.5")
    client.force_login(user)
    return client


def entries(catalogue: polib._BaseFile) -> dict[tuple[str | None, str], object]:
    return {
        (entry.msgctxt, entry.msgid): dict(entry.msgstr_plural) if entry.msgid_plural else entry.msgstr
        for entry in catalogue
        if not entry.obsolete and entry.msgid
    }


def test_every_message_of_the_italian_catalogue_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(PO))
    assert not po.metadata_is_fuzzy
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert not untranslated, f"untranslated: {untranslated} (run `make messages` and translate them)"
    assert not fuzzy, f"fuzzy: {fuzzy} (check each translation, then remove its fuzzy flag)"
    plurals = [entry.msgid for entry in po if entry.msgid_plural and not all(entry.msgstr_plural.values())]
    assert not plurals, f"plural forms missing: {plurals}"


def test_the_committed_mo_file_is_the_po_file_compiled():
    """The .mo files are committed (a checkout runs without GNU gettext); this proves they are current."""
    assert entries(polib.mofile(str(MO))) == entries(polib.pofile(str(PO))), "run `make messages` to recompile"


def test_the_catalogue_has_every_string_the_code_marks(tmp_path):
    """`make messages` on a copy of the code adds nothing: no marked string is left out of the catalogue."""
    if not shutil.which("xgettext") and not os.environ.get("CI"):
        pytest.skip("GNU gettext is not installed (apt-get install gettext); CI installs it.")
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "*.sqlite3*", ".test-db*", "docs")
    )
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "it", "--no-obsolete", "--add-location=file",
         "--ignore=tests/*", "--ignore=bench/*"],
        cwd=copy, env=env, check=True, capture_output=True,
    )  # fmt: skip
    fresh = set(entries(polib.pofile(str(copy / "locale" / "it" / "LC_MESSAGES" / "django.po"))))
    committed = set(entries(polib.pofile(str(PO))))
    assert fresh - committed == set(), "strings missing from locale/: run `make messages` and translate them"
    assert committed - fresh == set(), "strings no longer used: run `make messages`"


def test_english_is_the_default(owner_client):
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert '<html lang="en">' in page and "Add a new webhook" in page


def test_the_language_follows_accept_language(owner):
    page = italian(owner).get(reverse("webhooks:add")).content.decode()
    assert '<html lang="it">' in page
    for words in BREVO_ITALIAN_FORM:
        assert words in page, words


def test_the_webhooks_page_uses_brevos_italian_words(owner, make_webhook):
    make_webhook(events=("delivered",))
    page = italian(owner).get(reverse("webhooks:list")).content.decode()
    for words in ["Webhook", "Aggiungi un nuovo webhook", "Azioni", "Invia una prova", ">Prova<", "Consegnata"]:
        assert words in page, words


def test_the_switcher_sets_the_language_remembers_it_and_html_lang_follows(owner):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner)
    response = client.post(reverse("set_language"), {"language": "it", "next": "/events/"})
    assert response.status_code == 302 and response.url == "/events/"
    assert response.cookies["django_language"].value == "it"
    assert response.cookies["django_language"]["max-age"] == 365 * 24 * 3600
    page = client.get("/events/").content.decode()
    assert '<html lang="it">' in page and "Simula un evento" in page
    owner.refresh_from_db()
    assert owner.language == "it"  # for the emails, sent when nobody is looking at a page
    client.post(reverse("set_language"), {"language": "en", "next": "/events/"})
    assert '<html lang="en">' in client.get("/events/").content.decode()


def test_the_switcher_is_in_the_header_of_every_page(client, owner_client):
    for page in (client.get(reverse("login")), owner_client.get(reverse("webhooks:list"))):
        html = page.content.decode()
        assert 'action="/language/"' in html and 'value="it"' in html and 'value="en"' in html


def test_the_switcher_refuses_other_sites_as_next(owner_client):
    response = owner_client.post(reverse("set_language"), {"language": "it", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response.url


def test_field_errors_are_in_italian(owner):
    response = italian(owner).post(reverse("webhooks:add"), {"type": "transactional", "url": "no"})
    page = response.content.decode()
    assert "Inserisci un URL valido che inizi con http:// o https://" in page
    assert "Seleziona almeno un evento." in page


def test_the_api_answers_in_english_whatever_the_accept_language(api_client):
    response = api_client.post(
        "/v3/webhooks", {"url": "no", "events": ["delivered"]}, content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="it",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["message"] == "url: Only http:// and https:// URLs are allowed."


def test_dates_and_numbers_follow_the_language():
    moment = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    template = Template(
        '{% load humanize %}{{ when|date:"SHORT_DATETIME_FORMAT" }}|{{ n|intcomma }}|{{ rate|floatformat:"-1" }}'
    )
    context = Context({"when": moment, "n": 1234567, "rate": 97.5})
    with translation.override("en"), timezone.override(UTC):
        assert template.render(context) == "Jan 31, 09:30 UTC|1,234,567|97.5"
    with translation.override("it"), timezone.override(UTC):
        assert template.render(context) == "31 Gen, 09:30 UTC|1.234.567|97,5"


def test_times_say_their_zone_in_the_accounts_time_zone(owner_client, account, make_webhook):
    account.time_zone = "Europe/Rome"
    account.save()
    make_webhook(paused_until=timezone.now() + timedelta(minutes=10))
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    assert "CET" in page or "CEST" in page


def test_the_disabled_email_goes_in_each_persons_language(owner, teammate, make_webhook):
    teammate.language = "it"
    teammate.save()
    webhook = make_webhook()
    webhook.account.time_zone = "Europe/Rome"
    webhook.account.save()
    reason = disabled.gone_reason(datetime(2026, 1, 26, 9, 2, tzinfo=UTC))
    tell_account_disabled(Webhook.objects.select_related("account").get(pk=webhook.pk), reason)
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert by_recipient[owner.email].subject.startswith("Your webhook")
    assert "On Jan 26, 10:02 CET your app answered 410 Gone" in by_recipient[owner.email].body
    assert by_recipient[teammate.email].subject.startswith("Il tuo webhook")
    assert "Il 26 Gen, 10:02 CET la tua app ha risposto 410 Gone" in by_recipient[teammate.email].body


def test_why_an_attempt_got_no_answer_is_said_in_the_readers_language(owner, make_webhook):
    webhook = make_webhook(failing_since=timezone.now() - timedelta(minutes=5))
    later = timezone.now() + timedelta(minutes=10)
    delivery = Delivery.objects.create(
        webhook=webhook, event="delivered", payload={}, status="pending", attempt_count=1, next_attempt_at=later
    )
    record_attempt(delivery, 1, error="Could not resolve the host name shop.example.com.")
    test = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, is_test=True, status="failed")
    record_attempt(test, 1, error="Timed out after 15 s")
    client = italian(owner)
    card = client.get(reverse("webhooks:list")).content.decode()
    assert "ultima risposta Impossibile risolvere il nome host shop.example.com." in card
    log = client.get(reverse("webhooks:delivery", args=[webhook.pk, delivery.pk])).content.decode()
    assert "Impossibile risolvere il nome host shop.example.com." in log
    result = client.get(reverse("webhooks:test_result", args=[webhook.pk, test.pk]) + "?fragment=short")
    assert "Tempo scaduto dopo 15 s" in result.content.decode()
    # Stored in English, for operators, the API and the logs; a sentence of another origin is shown as it is.
    assert Attempt.objects.get(delivery=test).error == "Timed out after 15 s"
    assert Attempt(error="Something else").error_text == "Something else"


def test_an_address_refused_at_send_time_is_said_in_the_readers_language(owner, make_webhook, no_private_urls):
    # The guard's own sentence, as a worker (which has no reader) stores it.
    with translation.override("en"), pytest.raises(outbound.OutboundError) as refused:
        outbound.post("http://127.0.0.1:9/hooks", b"{}", {})
    stored = str(refused.value)
    assert stored == "Webhooks cannot be sent to 127.0.0.1: it is a loopback address. Use a public URL."
    webhook = make_webhook(failing_since=timezone.now() - timedelta(minutes=5))
    later = timezone.now() + timedelta(minutes=10)
    delivery = Delivery.objects.create(
        webhook=webhook, event="delivered", payload={}, status="pending", attempt_count=1, next_attempt_at=later
    )
    record_attempt(delivery, 1, error=stored)
    test = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, is_test=True, status="failed")
    named = "Webhooks cannot be sent to shop.example.com (10.0.0.7): it is a private address. Use a public URL."
    record_attempt(test, 1, error=named)
    client = italian(owner)
    said = "I webhook non possono essere inviati a 127.0.0.1: è un indirizzo di loopback. Usa un URL pubblico."
    assert said in client.get(reverse("webhooks:list")).content.decode()
    assert said in client.get(reverse("webhooks:delivery", args=[webhook.pk, delivery.pk])).content.decode()
    result = client.get(reverse("webhooks:test_result", args=[webhook.pk, test.pk]) + "?fragment=short")
    assert "a shop.example.com (10.0.0.7): è un indirizzo privato. Usa un URL pubblico." in result.content.decode()
    # Stored in English, for operators, the API and the logs.
    assert Attempt.objects.get(delivery=delivery).error == stored
    with translation.override("en"):
        assert Attempt(error=stored).error_text == stored


def test_a_runs_status_agrees_with_percorso_and_a_deliverys_with_consegna(owner, account, make_webhook):
    automation = make_automation(account, [wait(3600)])
    now = timezone.now()
    Run.objects.create(automation=automation, email="a@example.com", status="active", position=1, due_at=now)
    Run.objects.create(automation=automation, email="b@example.com", status="done", finished_at=now, exclusive=False)
    Run.objects.create(automation=automation, email="c@example.com", status="stopped", exclusive=False)
    client = italian(owner)
    page = client.get(reverse("automations:runs", args=[automation.pk])).content.decode()
    assert "Cronologia dei percorsi" in page
    badges = {word for word in ("In corso", "Terminato", "Interrotto", "Terminata", "Interrotta") if word in page}
    assert badges == {"In corso", "Terminato", "Interrotto"}
    webhook = make_webhook()
    delivery = Delivery.objects.create(webhook=webhook, event="delivered", payload={}, status="sent", completed_at=now)
    log = client.get(reverse("webhooks:delivery", args=[webhook.pk, delivery.pk])).content.decode()
    assert "<dt>Terminata</dt>" in log
