"""Settings for brevo-hooks, read from the environment.

Defaults let a fresh checkout run with SQLite and a local Redis. Every variable is
listed in the README; a bad value fails at start-up with a message naming it.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from brevo_hooks.env import env_bool, env_float, env_int, env_list, env_seconds_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Export SECRET_KEY=<a long random string>, or DEBUG=true for development."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    "accounts",
    "events",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "brevo_hooks.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "brevo_hooks.wsgi.application"
ASGI_APPLICATION = "brevo_hooks.asgi.application"

# Database: SQLite next to the code unless DATABASE_URL names another (PostgreSQL in production).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the workers write to one file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front instead of failing
    # half-way with "database is locked", and the timeout waits for the lock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that worker processes started by the tests see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "webhooks:list"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "brevo-hooks <noreply@localhost>")

# Redis carries work only; the database is the source of truth. Test sends have a
# queue of their own so that a flood of events never delays a marketer's test.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    "tests": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
    "deliveries": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
}

# Webhooks
WEBHOOKS_MAX_PER_ACCOUNT = env_int("WEBHOOKS_MAX_PER_ACCOUNT", 40, minimum=1)
WEBHOOKS_TIMEOUT = env_float("WEBHOOKS_TIMEOUT", 15.0)
# Seconds between the attempts of a delivery: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, so
# that an app that is down for a day still gets everything. Tests are never retried.
WEBHOOKS_RETRY_SCHEDULE = env_seconds_list("WEBHOOKS_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000")
# A receiver's Retry-After (on 429 and 503) is honoured up to this many seconds.
WEBHOOKS_RETRY_AFTER_MAX = env_float("WEBHOOKS_RETRY_AFTER_MAX", 3600.0)
# How often each worker's sweeper re-enqueues due retries and reclaims expired leases.
WEBHOOKS_SWEEP_INTERVAL = env_float("WEBHOOKS_SWEEP_INTERVAL", 30.0)
# Batched webhooks get one JSON array per window (Brevo: 5 minutes, at most 500 events).
WEBHOOKS_BATCH_WINDOW = env_float("WEBHOOKS_BATCH_WINDOW", 300.0)
# An endpoint that does not answer (timeout, refused connection) is paused this long,
# like Brevo's 10-minute pause, so that it does not hold workers the others need.
WEBHOOKS_PAUSE = env_float("WEBHOOKS_PAUSE", 600.0)
# A webhook whose attempts all failed for this long is disabled and its account emailed.
WEBHOOKS_DISABLE_AFTER = env_float("WEBHOOKS_DISABLE_AFTER", 5 * 24 * 3600.0)
# Concurrent requests per worker process, and at most this many to one endpoint at a time.
WEBHOOKS_SEND_THREADS = env_int("WEBHOOKS_SEND_THREADS", 32, minimum=1)
WEBHOOKS_ENDPOINT_CONCURRENCY = env_int("WEBHOOKS_ENDPOINT_CONCURRENCY", 16, minimum=1)

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
