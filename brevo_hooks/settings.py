"""Settings for brevo-hooks, read from the environment.

Defaults let a fresh checkout run with SQLite and a local Redis. Every variable is
listed in the README; a bad value fails at start-up with a message naming it.
"""

from __future__ import annotations

import ipaddress
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
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "events",
    "webhooks",
    "automations",
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
    import sqlite3

    # Workers claim deliveries with UPDATE ... RETURNING (webhooks.models.DeliveryQuerySet.claim).
    if sqlite3.sqlite_version_info < (3, 35):
        raise ImproperlyConfigured(
            f"SQLite 3.35 or newer is needed (this Python has {sqlite3.sqlite_version}); or set DATABASE_URL."
        )
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
# Enqueue when told to. Code that writes deliveries enqueues them with transaction.on_commit
# itself, so that a job never names a row that is not committed yet, and a Redis outage
# surfaces where it can be handled instead of in a callback.
RQ = {"COMMIT_MODE": "auto"}

# The login rate limit counts in this cache; Redis, so that every web process sees the same counts.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "brevo-hooks",
    }
}

# Webhooks
WEBHOOKS_MAX_PER_ACCOUNT = env_int("WEBHOOKS_MAX_PER_ACCOUNT", 40, minimum=1)
WEBHOOKS_TIMEOUT = env_float("WEBHOOKS_TIMEOUT", 15.0)
# Lifts the SSRF address rules (loopback, private, link-local...): development and tests only.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", False)
# How long the previous signing secret keeps signing after a rotation, in seconds.
WEBHOOKS_SECRET_ROTATION_GRACE = env_int("WEBHOOKS_SECRET_ROTATION_GRACE", 24 * 3600)
# The addresses our workers send from, shown to users so that they can allow-list them.
WEBHOOKS_EGRESS_IP_RANGES = env_list("WEBHOOKS_EGRESS_IP_RANGES", "")
for _range in WEBHOOKS_EGRESS_IP_RANGES:
    try:
        ipaddress.ip_network(_range, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBHOOKS_EGRESS_IP_RANGES must be comma-separated IP ranges such as 203.0.113.0/24, not {_range!r}."
        ) from None

# Request bodies (API and forms) above this size are refused with a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024, minimum=1024)

# The /v3 API: Brevo's, authenticated by the `api-key` header, JSON in and out.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["webhooks.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["webhooks.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webhooks.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "brevo-hooks API",
    "DESCRIPTION": (
        "Brevo's /v3 webhooks API, so that Brevo's SDKs work by changing the base URL, "
        "plus our additions: signing secrets, test sends, the delivery log, and automations."
    ),
    "VERSION": "3.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and Redoc from the vendored sidecar package: the docs work offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/v3",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "WebhookTypeEnum": ["transactional", "marketing"],
        "WaitStepTypeEnum": ["wait"],
        "WebhookStepTypeEnum": ["webhook"],
        "AutomationStatusEnum": ["draft", "active", "paused"],
        "RunStatusEnum": ["active", "done", "stopped"],
        "DeliveryStatusEnum": ["pending", "sending", "succeeded", "failed", "cancelled"],
    },
}
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

# Automations: how often each worker looks for runs whose Wait is over (seconds); a run is
# picked up within this long of falling due.
AUTOMATIONS_POLL_INTERVAL = env_float("AUTOMATIONS_POLL_INTERVAL", 0.5)

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# HTTPS everywhere when DEBUG is off. ALLOW_PLAIN_HTTP=true is the escape hatch for
# `make web` on a laptop and for the tests; behind a TLS-terminating proxy, set
# SECURE_PROXY_SSL_HEADER=true so that Django trusts X-Forwarded-Proto.
_HTTPS = not DEBUG and not env_bool("ALLOW_PLAIN_HTTP", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _HTTPS)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
