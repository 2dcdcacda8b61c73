"""`manage.py create_operator --email E --password P [--exist-ok]`: a staff superuser of no account."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.models import User


class Command(BaseCommand):
    help = "Create an operator: a superuser for the admin and the RQ dashboard, who belongs to no account."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--exist-ok", action="store_true", help="Succeed if the user exists (used by `make run`).")

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"]
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not a valid email address.") from None
        if User.objects.filter(email__iexact=email).exists():
            if options["exist_ok"]:
                self.stdout.write(f"User {email} already exists; nothing created.")
                return
            raise CommandError(f"A user with the email {email} already exists.")
        User.objects.create_superuser(email, options["password"])
        self.stdout.write(self.style.SUCCESS(f"Created operator {email}."))
