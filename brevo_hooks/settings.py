"""Settings for brevo-hooks, read from the environment.

Defaults let a fresh checkout run with SQLite and a local Redis. Every variable is
listed in the README; a bad value fails at start-up with a message naming it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from brevo_hooks.env import env_bool, env_float, env_int, env_list, env_seconds_list, env_str, parse_site_url
from brevo_hooks.redis_config import RedisSettings, parse_sentinels

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
    "brevo_hooks.apps.AdminConfig",  # Django's admin with a rate-limited login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
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
    "brevo_hooks.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the page: the header switcher's cookie, else Accept-Language; the API
    # always speaks English, as Brevo's does.
    "brevo_hooks.middleware.LocaleMiddleware",
    # A NUL (%00) in the query string is a 400, in the page's language, before any view runs.
    "brevo_hooks.middleware.refuse_nul_in_query",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Times show in the account's time zone (its settings page), and say which.
    "brevo_hooks.middleware.account_time_zone",
    "brevo_hooks.logs.LogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "brevo_hooks.urls"
# A CSRF failure under the APIs answers in their JSON format (see brevo_hooks.error_views).
CSRF_FAILURE_VIEW = "brevo_hooks.error_views.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
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
    # Connections are kept for DATABASE_CONN_MAX_AGE seconds here too: opening one (and its
    # PRAGMAs) cost 0.6 ms a request, and keeping them raised `make bench`'s ratio on SQLite
    # from 0.73-0.76 to 0.72-0.81 (three runs each, interleaved).

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_SERVER_SIDE_BINDING", True):
    # Parameters travel apart from the statement, and psycopg prepares a statement it has run
    # five times: the engine's hot statements (webhooks.sql) keep one text whatever the number
    # of rows, so the server parses and plans each once per connection.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True

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

# English by default; Italian in Brevo's own words (locale/it). `make messages` updates the catalogue.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice lasts a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Our own date formats (brevo_hooks/formats/<lang>/formats.py): every time says its zone.
FORMAT_MODULE_PATH = ["brevo_hooks.formats"]
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
# Where people open this service, such as https://hooks.example.com: the emails that workers send
# (with no request to take the address from) link to its pages. Empty: they name the pages only.
SITE_URL = parse_site_url(env_str("SITE_URL", ""))

# Redis carries work only; the database is the source of truth. Test sends have a
# queue of their own so that a flood of events never delays a marketer's test.
# TLS (rediss://) and Sentinel: see brevo_hooks/redis_config.py; the queues, the cache and
# the readiness check all connect through it.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SENTINELS = parse_sentinels(env_str("REDIS_SENTINELS", ""))
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_SENTINEL_PASSWORD = env_str("REDIS_SENTINEL_PASSWORD", "")
_redis = RedisSettings(REDIS_URL, tuple(REDIS_SENTINELS), REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD)
_redis.client_kwargs()  # a malformed REDIS_URL stops start-up here, naming the variable
RQ_QUEUES = {
    "tests": {**_redis.rq(), "DEFAULT_TIMEOUT": 120},
    "deliveries": {**_redis.rq(), "DEFAULT_TIMEOUT": 600},
}
# Enqueue when told to. Code that writes deliveries enqueues them with transaction.on_commit
# itself, so that a job never names a row that is not committed yet, and a Redis outage
# surfaces where it can be handled instead of in a callback.
RQ = {"COMMIT_MODE": "auto"}

# The login rate limit counts in this cache; Redis, so that every web process sees the same counts.
# Short timeouts: a login page must not hang on an unreachable Redis (the limiter then counts in
# the process, see accounts/ratelimit.py).
_cache = _redis.cache()
CACHES = {
    "default": {
        **_cache,
        "KEY_PREFIX": "brevo-hooks",
        "OPTIONS": {**_cache.get("OPTIONS", {}), "socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
# Login limits (accounts/ratelimit.py). Per address and email, and per address alone, in a window
# of LOGIN_LIMIT_WINDOW seconds; failed attempts per account (email), whatever the address, in a
# window of LOGIN_LIMIT_ACCOUNT_WINDOW seconds. Both the app's login and the admin's.
LOGIN_LIMIT_PER_ADDRESS_AND_EMAIL = env_int("LOGIN_LIMIT_PER_ADDRESS_AND_EMAIL", 10, minimum=1)
LOGIN_LIMIT_PER_ADDRESS = env_int("LOGIN_LIMIT_PER_ADDRESS", 50, minimum=1)
LOGIN_LIMIT_WINDOW = env_int("LOGIN_LIMIT_WINDOW", 300, minimum=1)
LOGIN_LIMIT_PER_ACCOUNT = env_int("LOGIN_LIMIT_PER_ACCOUNT", 30, minimum=1)
LOGIN_LIMIT_ACCOUNT_WINDOW = env_int("LOGIN_LIMIT_ACCOUNT_WINDOW", 3600, minimum=1)
# How many proxies in front of the app append the client's address to X-Forwarded-For (the TLS
# proxy the README recommends is 1). 0: the header is ignored, and REMOTE_ADDR is the client.
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)

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

# Request bodies (the /v3 API and forms) above this size are refused with a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024, minimum=1024)
# POST /api/events takes up to 1,000 events in one body: room for 1,000 events of 4 KiB each
# (a Brevo event is well under 1 KiB), and for one event with the largest `data` below.
EVENTS_MAX_BODY_SIZE = env_int("EVENTS_MAX_BODY_SIZE", 4 * 1024 * 1024, minimum=1024)
# The `data` of one event, as compact JSON: it is stored once, then in each delivery and attempt.
EVENTS_MAX_DATA_SIZE = env_int("EVENTS_MAX_DATA_SIZE", 256 * 1024, minimum=1024)

# The /v3 API: Brevo's, authenticated by the `api-key` header, JSON in and out.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["webhooks.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["webhooks.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webhooks.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Brevo's API has no ?format= parameter; DRF's would answer an unknown one with a 404.
    "URL_FORMAT_OVERRIDE": None,
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
    # No validator badge: it would send the description's URL to swagger.io, and the CSP blocks it anyway.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/v3",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "WebhookTypeEnum": ["transactional", "marketing"],
        "AuthTypeEnum": ["bearer"],
        "WaitStepTypeEnum": ["wait"],
        "WebhookStepTypeEnum": ["webhook"],
        "AutomationStatusEnum": ["draft", "active", "paused"],
        "RunStatusEnum": ["active", "done", "stopped"],
        # The choices themselves (values and labels), as the delivery log and the run history use them.
        "DeliveryStatusEnum": "webhooks.models.Delivery.Status",
    },
    # What drf-spectacular cannot say alone: the events of each type, patterns, links.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webhooks.api.schema.postprocess",
        "automations.api.schema.postprocess",
    ],
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
# An endpoint that really stops answering (no answer at all: timeouts, refused or reset
# connections) is paused this long, like Brevo's 10-minute pause, so that it does not
# hold workers the others need; then one probe goes first. The breaker opens after
# WEBHOOKS_BREAKER_STREAK unanswered attempts in a row, or when more than
# WEBHOOKS_BREAKER_RATIO of a worker's last WEBHOOKS_BREAKER_WINDOW attempts got none
# (webhooks.sending.breaker). One timeout among successes never pauses anything.
WEBHOOKS_PAUSE = env_float("WEBHOOKS_PAUSE", 600.0)
WEBHOOKS_BREAKER_STREAK = env_int("WEBHOOKS_BREAKER_STREAK", 5, minimum=1)
WEBHOOKS_BREAKER_WINDOW = env_int("WEBHOOKS_BREAKER_WINDOW", 20, minimum=2)
WEBHOOKS_BREAKER_RATIO = env_float("WEBHOOKS_BREAKER_RATIO", 0.5)
if WEBHOOKS_BREAKER_RATIO >= 1:
    raise ImproperlyConfigured(f"WEBHOOKS_BREAKER_RATIO must be below 1, not {WEBHOOKS_BREAKER_RATIO:g}.")
# A webhook whose attempts all failed for this long is disabled and its account emailed.
WEBHOOKS_DISABLE_AFTER = env_float("WEBHOOKS_DISABLE_AFTER", 5 * 24 * 3600.0)
# Concurrent requests per worker process, and at most this many to one endpoint at a time.
WEBHOOKS_SEND_THREADS = env_int("WEBHOOKS_SEND_THREADS", 32, minimum=1)
WEBHOOKS_ENDPOINT_CONCURRENCY = env_int("WEBHOOKS_ENDPOINT_CONCURRENCY", 16, minimum=1)
# At most this many of a worker's requests go to one account's endpoints at a time, so
# that one account's slow or hostile receivers never hold all of a worker's threads.
WEBHOOKS_ACCOUNT_CONCURRENCY = env_int("WEBHOOKS_ACCOUNT_CONCURRENCY", max(1, WEBHOOKS_SEND_THREADS // 2), minimum=1)

# Content-Security-Policy of every answer (brevo_hooks/csp.py; the shape of Django 6's SECURE_CSP).
# Scripts, styles and fonts come from our own static files only, never inline; images also as
# data: URLs (Swagger UI's icons); nothing may frame a page, nor a form post elsewhere.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Directives that differ under a path. The RQ dashboard (django-rq's templates, staff only) has
# inline <style> blocks and one inline script, the select-all box of its job lists: that script
# is allowed by its hash, and inline styles (which run no code) there only. Its job pages' rows
# are not clickable under this policy; the "View" link in each row is.
SECURE_CSP_PATHS = {
    "/admin/django_rq/": {
        "script-src": ["'self'", "'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"],
        "style-src": ["'self'", "'unsafe-inline'"],
    },
}

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
# Probes and scrapers inside the network often talk plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _HTTPS)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Logs: plain lines for people, or LOG_FORMAT=json for a log pipeline: one JSON object per
# line, with the delivery, webhook and account ids of what the line is about (brevo_hooks/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
if LOG_FORMAT == "json":
    import logging

    # Python's warnings go through logging too, so that no plain line slips between the JSON ones.
    logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "brevo_hooks.logs.JsonFormatter"},
    },
    # Export download tokens never reach the logs ("Not Found: /exports/<token>.csv").
    "filters": {"redact_export_links": {"()": "brevo_hooks.access_log.RedactExportLinks"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_export_links"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Operations. /metrics (web) and each worker's metrics port answer only this bearer token;
# without one they are off. Workers serve theirs on WORKER_METRICS_PORT (0: none).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
WORKER_METRICS_ADDRESS = env_str("WORKER_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 (token-protected, for the scraper)
# Events, deliveries and attempts older than this many days are deleted (0: kept forever),
# in small batches, every WEBHOOKS_RETENTION_INTERVAL seconds by one of the workers.
WEBHOOKS_RETENTION_DAYS = env_int("WEBHOOKS_RETENTION_DAYS", 30)
WEBHOOKS_RETENTION_INTERVAL = env_float("WEBHOOKS_RETENTION_INTERVAL", 3600.0)
