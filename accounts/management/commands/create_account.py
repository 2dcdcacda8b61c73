"""`manage.py create_account NAME --email E --password P [--api-key K]`."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.management.new_user import email_is_free
from accounts.models import API_KEY_PREFIX, Account, ApiKey, User


class Command(BaseCommand):
    help = "Create an account with its first user and an API key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="Name of the account, e.g. the company.")
        parser.add_argument("--email", required=True, help="Login of the first user.")
        parser.add_argument("--password", required=True, help="Password of the first user.")
        parser.add_argument("--api-key", help="Use this API key instead of generating one.")
        parser.add_argument(
            "--exist-ok",
            action="store_true",
            help="If the user already exists, say so and succeed (used by `make run`).",
        )
        parser.add_argument(
            "--skip-password-checks", action="store_true", help="Accept a weak password (for demo accounts)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"]
        api_key: str | None = options["api_key"]
        if not email_is_free(self, email, options["exist_ok"]):
            return
        if not options["skip_password_checks"]:
            try:
                validate_password(options["password"])
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        if api_key is not None and (len(api_key) < 20 or not api_key.isprintable() or " " in api_key):
            raise CommandError("--api-key must be at least 20 printable characters without spaces.")

        with transaction.atomic():
            account = Account.objects.create(name=options["name"])
            User.objects.create_user(email, options["password"], account=account)
            _, raw = ApiKey.create_for(account, "Default", raw=api_key)

        self.stdout.write(self.style.SUCCESS(f"Created account {account.name!r} (id {account.pk})."))
        self.stdout.write(f"Log in as: {email}")
        if api_key is None:
            self.stdout.write(f"API key (shown once, keep it safe): {raw}")
        else:
            self.stdout.write(f"API key: the one given, starting {raw[: len(API_KEY_PREFIX) + 4]}…")
