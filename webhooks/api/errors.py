"""Every API error as Brevo answers it: `{"code": ..., "message": ...}`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

# Brevo's codes, by the DRF exception that stands for them.
CODES: list[tuple[type[exceptions.APIException], int, str]] = [
    (exceptions.NotAuthenticated, status.HTTP_401_UNAUTHORIZED, "unauthorized"),
    (exceptions.AuthenticationFailed, status.HTTP_401_UNAUTHORIZED, "unauthorized"),
    (exceptions.PermissionDenied, status.HTTP_403_FORBIDDEN, "permission_denied"),
    (exceptions.NotFound, status.HTTP_404_NOT_FOUND, "document_not_found"),
    (exceptions.MethodNotAllowed, status.HTTP_405_METHOD_NOT_ALLOWED, "method_not_allowed"),
    (exceptions.NotAcceptable, status.HTTP_406_NOT_ACCEPTABLE, "not_acceptable"),
    (exceptions.Throttled, status.HTTP_429_TOO_MANY_REQUESTS, "too_many_requests"),
    # Brevo answers 400 to every malformed request, whatever is wrong with it.
    (exceptions.UnsupportedMediaType, status.HTTP_400_BAD_REQUEST, "bad_request"),
    (exceptions.ParseError, status.HTTP_400_BAD_REQUEST, "bad_request"),
]


class Invalid(exceptions.APIException):
    """A 400 with a code of our choosing (invalid_parameter, duplicate_parameter, ...), or another 4xx."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, code: str = "invalid_parameter", status_code: int = 400) -> None:
        super().__init__(message, code)
        self.brevo_code = code
        self.status_code = status_code


def error(status_code: int, code: str, message: str) -> Response:
    return Response({"code": code, "message": message}, status=status_code)


def first_error(detail: Any, path: str = "") -> tuple[str, str]:
    """The first (message, code) of a DRF error tree, the message prefixed by where it is."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                where = path
            elif isinstance(key, int):  # DRF keys the errors of list items by their index
                where = f"{path}[{key}]"
            else:
                where = f"{path}.{key}" if path else str(key)
            return first_error(value, where)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)) and value:
                return first_error(value, f"{path}[{index}]")
            if not isinstance(value, (dict, list)):
                return first_error(value, path)
    message = str(detail)
    code = getattr(detail, "code", "invalid")
    return (f"{path}: {message}" if path else message), code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Webhook not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error(400, "bad_request", f"The request body is too large (at most {limit} bytes).")
    if isinstance(exc, Invalid):
        return error(exc.status_code, exc.brevo_code, str(exc.detail))
    if isinstance(exc, exceptions.ValidationError):
        message, code = first_error(exc.detail)
        return error(400, "missing_parameter" if code in {"required", "null"} else "invalid_parameter", message)
    for kind, status_code, code in CODES:
        if isinstance(exc, kind):
            response = error(status_code, code, str(exc.detail))
            if isinstance(exc, exceptions.Throttled) and exc.wait:
                response["Retry-After"] = str(int(exc.wait))
            return response
    if isinstance(exc, exceptions.APIException):
        return error(exc.status_code, "bad_request", str(exc.detail))
    return None


@csrf_exempt  # an API answer never depends on a cookie: no 403 CSRF page for a POST to an unknown path
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """Unknown paths under the APIs answer in the API's format, not with an HTML page."""
    return JsonResponse({"code": "document_not_found", "message": "No such API path."}, status=404)
