"""Accounts (the tenants), their users and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone

API_KEY_PREFIX = "xkeysib-"
# "Last used" is shown to the minute; writing it more often would cost a write per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Account(models.Model):
    name = models.CharField(max_length=200)
    # Brevo writes the payload `date` fields in the account's time zone.
    time_zone = models.CharField(max_length=64, default="UTC")
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
    email = models.EmailField("email address", unique=True)
    account = models.ForeignKey(Account, models.CASCADE, related_name="users", null=True, blank=True)

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
