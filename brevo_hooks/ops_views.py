"""What operators and their tools ask of a web process: /healthz, /readyz and /metrics.

None of them needs a session or CSRF; /metrics needs the METRICS_TOKEN. They live
outside /v3 (Brevo's API) on purpose: load balancers and Prometheus are not API clients.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from brevo_hooks.redis_config import RedisSettings
from webhooks import metrics

# A readiness check must answer before the load balancer gives up on it.
CHECK_TIMEOUT = 2.0
REASON_CHARS = 300


# No CSRF, so that a POST is told 405 (GET or HEAD), not 403: probes send no cookie.
@csrf_exempt
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process runs and serves requests: the liveness probe."""
    return JsonResponse({"status": "ok"})


def reason(exc: Exception) -> str:
    # The class says what kind of failure; the message says where (host and port, never a password).
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}"[:REASON_CHARS] if text else exc.__class__.__name__


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return reason(exc)
    return "ok"


def check_redis() -> str:
    client = RedisSettings.from_settings().connect(socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        return reason(exc)
    finally:
        client.close()
    return "ok"


@csrf_exempt
@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database and Redis answer; 503 naming what does not: the readiness probe."""
    checks = {"database": check_database(), "redis": check_redis()}
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


@csrf_exempt
@never_cache
@require_safe
def prometheus(request: HttpRequest) -> HttpResponse:
    """The Prometheus scrape, for the bearer of METRICS_TOKEN; 404 while no token is set."""
    from django.conf import settings

    if not settings.METRICS_TOKEN:
        return JsonResponse({"code": "not_found", "message": "Metrics are off: set METRICS_TOKEN."}, status=404)
    if not metrics.authorized(request.headers.get("Authorization")):
        response = JsonResponse(
            {"code": "unauthorized", "message": "Send Authorization: Bearer <METRICS_TOKEN>."}, status=401
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(metrics.web_scrape(), content_type=CONTENT_TYPE_LATEST)
