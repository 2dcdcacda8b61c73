"""Accounts (the tenants), their users and their API keys."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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
        """The active key matching `raw`, or None."""
        return self.active().select_related("account").filter(key_hash=hash_api_key(raw)).first()


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
