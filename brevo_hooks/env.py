"""Typed readers for environment variables.

A bad value stops start-up with a message that names the variable, so an operator
never has to read a traceback to find out which setting is wrong.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str) -> str:
    # An empty variable (`DATABASE_URL= make test`) means "not set", as for the other types.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {raw!r}.") from None
    if value <= minimum:
        raise ImproperlyConfigured(f"{name} must be greater than {minimum:g}, not {raw}.")
    return value


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_seconds_list(name: str, default: str) -> list[float]:
    """Comma-separated seconds, such as `5,300,1800`; each a positive number."""
    raw = os.environ.get(name) or default
    values: list[float] = []
    for item in raw.split(","):
        try:
            value = float(item)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated seconds such as 5,300,1800, not {raw!r}."
            ) from None
        if value <= 0:
            raise ImproperlyConfigured(f"{name} must list positive numbers of seconds, not {raw!r}.")
        values.append(value)
    return values


def parse_site_url(raw: str) -> str:
    """SITE_URL without its trailing slash; ImproperlyConfigured unless it is an http(s) address."""
    url = raw.strip().rstrip("/")
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname) and not parts.query and not parts.fragment
    except ValueError:  # such as an unclosed [ of an IPv6 address
        valid = False
    if not valid:
        raise ImproperlyConfigured(
            f"SITE_URL must be the address people open this service at, such as https://hooks.example.com, not {raw!r}."
        )
    return url
