"""`manage.py create_operator --email E --password P [--exist-ok]`: a staff superuser of no account."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from accounts.management.new_user import email_is_free
from accounts.models import User


class Command(BaseCommand):
    help = "Create an operator: a superuser for the admin and the RQ dashboard, who belongs to no account."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--exist-ok", action="store_true", help="Succeed if the user exists (used by `make run`).")

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"]
        if not email_is_free(self, email, options["exist_ok"]):
            return
        User.objects.create_superuser(email, options["password"])
        self.stdout.write(self.style.SUCCESS(f"Created operator {email}."))
