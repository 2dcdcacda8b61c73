from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import API_KEY_PREFIX, Account, ApiKey, User, hash_api_key


def test_create_account_makes_the_account_its_user_and_a_printed_key(db, capsys):
    call_command("create_account", "Acme", email="ceo@acme.test", password="a-long-passphrase-42")
    out = capsys.readouterr().out
    account = Account.objects.get(name="Acme")
    user = User.objects.get(email="ceo@acme.test")
    assert user.account == account and user.check_password("a-long-passphrase-42")
    raw = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("API key (shown once"))
    assert raw.startswith(API_KEY_PREFIX)
    assert ApiKey.objects.authenticate(raw).account == account


def test_create_account_takes_a_given_key_and_does_not_print_it(db, capsys):
    key = "xkeysib-" + "a" * 64
    call_command("create_account", "Acme", email="ceo@acme.test", password="a-long-passphrase-42", api_key=key)
    assert key not in capsys.readouterr().out
    assert ApiKey.objects.authenticate(key) is not None


def test_api_keys_are_stored_hashed(account):
    key, raw = ApiKey.create_for(account, "CI")
    assert raw not in (key.key_hash, key.prefix) and key.key_hash == hash_api_key(raw)
    assert ApiKey.objects.authenticate(raw + "x") is None


def test_a_revoked_key_no_longer_authenticates(account):
    from django.utils import timezone

    key, raw = ApiKey.create_for(account, "CI")
    key.revoked_at = timezone.now()
    key.save()
    assert ApiKey.objects.authenticate(raw) is None


def test_a_key_comes_with_its_account_in_one_statement(account, django_assert_num_queries):
    """Every API request authenticates first: one plain statement, the key and its account."""
    from datetime import timedelta

    from django.utils import timezone

    key, raw = ApiKey.create_for(account, "CI")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    with django_assert_num_queries(1):
        found = ApiKey.objects.authenticate(raw)
        assert (found.pk, found.name, found.account.name, found.account.time_zone) == (
            key.pk, "CI", account.name, account.time_zone,
        )  # fmt: skip
    assert found.created_at == key.created_at and found.last_used_at.utcoffset() == timedelta(0)
    assert not found._state.adding and not found.account._state.adding
    found.touch()  # an hour ago: written again
    assert ApiKey.objects.get(pk=key.pk).last_used_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.parametrize(
    "options,error",
    [
        ({"email": "not-an-email", "password": "a-long-passphrase-42"}, "is not a valid email address"),
        ({"email": "a@b.test", "password": "123"}, "Password refused"),
        ({"email": "a@b.test", "password": "a-long-passphrase-42", "api_key": "short"}, "at least 20"),
    ],
)
def test_create_account_refuses_bad_input_and_saves_nothing(db, options, error):
    with pytest.raises(CommandError, match=error):
        call_command("create_account", "Acme", **options)
    assert not Account.objects.exists()


def test_an_existing_email_is_refused_unless_exist_ok(owner, capsys):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_account", "Again", email=owner.email, password="a-long-passphrase-42")
    call_command("create_account", "Again", email=owner.email, password="x", exist_ok=True)
    assert "already exists; nothing created" in capsys.readouterr().out
    assert Account.objects.count() == 1


def test_the_demo_account_of_make_run_can_log_in(db):
    call_command(
        "create_account", "Demo", email="demo@example.com", password="demo-password", skip_password_checks=True
    )
    assert Client().login(username="demo@example.com", password="demo-password")
