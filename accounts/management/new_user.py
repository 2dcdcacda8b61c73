"""What the commands that create a user check first: a valid email that no user has yet."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.models import User


def email_is_free(command: BaseCommand, email: str, exist_ok: bool) -> bool:
    """Whether a user with `email` may be created.

    Raises CommandError for an invalid email, or for one that a user has unless `exist_ok`;
    with `exist_ok`, says so and answers False (`make run` runs the commands every time).
    """
    try:
        validate_email(email)
    except ValidationError:
        raise CommandError(f"{email!r} is not a valid email address.") from None
    if not User.objects.filter(email__iexact=email).exists():
        return True
    if exist_ok:
        command.stdout.write(f"User {email} already exists; nothing created.")
        return False
    raise CommandError(f"A user with the email {email} already exists.")
