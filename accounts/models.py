"""Accounts (the tenants), their users and their API keys."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

M = TypeVar("M", bound=models.Model)
API_KEY_PREFIX = "xkeysib-"
# "Last used" is shown to the minute; writing it more often would cost a write per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@cache
def time_zone_names() -> list[str]:
    """The IANA time zones this machine knows (tzdata), sorted, UTC first."""
    names = sorted(name for name in zoneinfo.available_timezones() if "/" in name and not name.startswith("Etc/"))
    return ["UTC", *names]


def validate_time_zone(name: str) -> None:
    if name not in time_zone_names():
        raise ValidationError(
            gettext("%(name)s is not a time zone. Choose one from the list, such as Europe/Rome."),
            params={"name": name},
            code="invalid",
        )


class Account(models.Model):
    name = models.CharField(_("account name"), max_length=200)
    # Brevo writes the payload `date` fields in the account's time zone; the pages show times in it.
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractUser):
    """A person who logs in with an email address; belongs to exactly one account."""

    username = None
    email = models.EmailField(_("email address"), unique=True)
    account = models.ForeignKey(Account, models.CASCADE, related_name="users", null=True, blank=True)
    # The language chosen with the header's switcher, for what is sent when the user is not
    # looking at a page (emails); empty means the site's default.
    language = models.CharField(max_length=10, blank=True, choices=settings.LANGUAGES)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


def hash_api_key(raw: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)

    def authenticate(self, raw: str) -> ApiKey | None:
        """The active key matching `raw`, with its account, or None.

        Every API request asks this first. Written out in SQL: through the ORM, compiling
        the lookup cost 1.2 ms of CPU per request, more than storing an event's deliveries.
        """
        connection = connections[self.db]
        key_columns, account_columns = _columns(ApiKey, self.db), _columns(Account, self.db)
        select = ", ".join([f"k.{column.target.column}" for column, _ in key_columns] + [
            f"a.{column.target.column}" for column, _ in account_columns
        ])  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {select} FROM accounts_apikey k JOIN accounts_account a ON a.id = k.account_id "  # noqa: S608
                "WHERE k.key_hash = %s AND k.revoked_at IS NULL",
                [hash_api_key(raw)],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        key = _from_row(ApiKey, key_columns, row[: len(key_columns)], connection)
        key.account = _from_row(Account, account_columns, row[len(key_columns) :], connection)
        return key


@cache
def _columns(model: type[models.Model], using: str) -> list[tuple[Any, list[Any]]]:
    """Each concrete field of `model` as a column, with the converters that read its value."""
    connection = connections[using]
    columns = [field.get_col(model._meta.db_table) for field in model._meta.concrete_fields]
    return [
        (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)) for column in columns
    ]


def _from_row(model: type[M], columns: list[tuple[Any, list[Any]]], row: Sequence[Any], connection: Any) -> M:
    values = []
    for value, (column, converters) in zip(row, columns, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return model.from_db(connection.alias, [column.target.attname for column, _ in columns], values)


class ApiKey(models.Model):
    """An API key, stored hashed: the clear key is shown once, when it is made."""

    account = models.ForeignKey(Account, models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so that people can tell their keys apart without the secret.
    prefix = models.CharField(max_length=20, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def touch(self) -> None:
        """Record that the key was just used, at most one write a minute."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    @classmethod
    def create_for(cls, account: Account, name: str, raw: str | None = None) -> tuple[ApiKey, str]:
        """Store a new key for `account`; return it with the clear key, which is not kept."""
        raw = raw or API_KEY_PREFIX + secrets.token_hex(32)
        key = cls.objects.create(account=account, name=name, key_hash=hash_api_key(raw), prefix=raw[:16])
        return key, raw
