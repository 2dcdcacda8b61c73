"""The account's settings page: its name and time zone, which the pages and Brevo's `date` field use."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from events.fanout import NewEvent
from webhooks.models import Delivery

SETTINGS = reverse("account_settings")


def test_the_settings_page_shows_the_name_and_a_list_of_time_zones(owner_client):
    page = owner_client.get(SETTINGS).content.decode()
    assert 'value="Acme"' in page
    assert '<option value="Europe/Rome">Europe/Rome</option>' in page and '<optgroup label="America">' in page
    assert '<option value="UTC" selected>UTC</option>' in page


def test_saving_changes_the_name_and_the_time_zone(owner_client, account):
    response = owner_client.post(SETTINGS, {"name": "Acme Italia", "time_zone": "Europe/Rome"})
    assert response.status_code == 302 and response.url == SETTINGS
    account.refresh_from_db()
    assert (account.name, account.time_zone) == ("Acme Italia", "Europe/Rome")
    assert "Settings saved." in owner_client.get(SETTINGS).content.decode()


def test_every_user_of_the_account_may_change_them(teammate_client, account):
    assert teammate_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Tokyo"}).status_code == 302
    account.refresh_from_db()
    assert account.time_zone == "Asia/Tokyo"


def test_a_time_zone_not_in_the_list_is_refused_and_nothing_is_saved(owner_client, account):
    response = owner_client.post(SETTINGS, {"name": "Renamed", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "Choose a time zone from the list" in response.content.decode()
    account.refresh_from_db()
    assert (account.name, account.time_zone) == ("Acme", "UTC")


def test_an_empty_name_is_refused(owner_client):
    response = owner_client.post(SETTINGS, {"name": "", "time_zone": "UTC"})
    assert response.status_code == 400 and "Give the account a name" in response.content.decode()


def test_a_stranger_changes_only_their_own_account(stranger_client, account):
    stranger_client.post(SETTINGS, {"name": "Taken over", "time_zone": "Asia/Tokyo"})
    account.refresh_from_db()
    assert (account.name, account.time_zone) == ("Acme", "UTC")
    assert Account.objects.get(name="Taken over").users.get().email == "stranger@globex.test"


def test_the_settings_page_needs_a_login_and_an_account(client, django_user_model):
    assert client.get(SETTINGS).status_code == 302
    operator = django_user_model.objects.create_user("ops@example.com", "pw-ops-12345", is_staff=True)
    client.force_login(operator)
    assert client.get(SETTINGS).status_code == 403


def test_brevos_date_field_uses_the_time_zone_chosen_here(owner_client, account, make_webhook, emit_now, redis):
    owner_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Tokyo"})
    make_webhook(events=("delivered",))
    account.refresh_from_db()
    moment = timezone.now().replace(microsecond=0)
    emit_now(account, [NewEvent(name="delivered", type="transactional", data={}, occurred_at=moment)])
    payload = Delivery.objects.get().payload
    expected = timezone.localtime(moment, timezone=ZoneInfo("Asia/Tokyo"))
    assert payload["date"] == expected.strftime("%Y-%m-%d %H:%M:%S")


def test_pages_show_times_in_the_accounts_zone_and_say_which(owner_client, account, make_webhook):
    account.time_zone = "Asia/Tokyo"
    account.save()
    paused_until = timezone.now() + timedelta(minutes=10)
    make_webhook(paused_until=paused_until)
    page = owner_client.get(reverse("webhooks:list")).content.decode()
    local = timezone.localtime(paused_until, timezone=ZoneInfo("Asia/Tokyo"))
    assert f"Paused until {local:%H:%M}\u00a0JST" in page  # the time and its zone on one line
