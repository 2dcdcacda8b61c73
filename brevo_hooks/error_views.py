"""Error answers: `{"code", "message"}` JSON under the APIs (/v3, /api), Django's pages elsewhere.

Django answers errors that happen outside a DRF view (an unknown path, a bad Host header, a
crash in middleware) with HTML pages; an API client must get the API's format instead.
Every other path keeps Django's own pages, so pages that other apps add are not affected.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views import csrf, defaults

API_ROOTS = ("/v3", "/api")


def is_api(request: HttpRequest) -> bool:
    path = request.path
    return any(path == root or path.startswith(root + "/") for root in API_ROOTS)


def api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(400, "bad_request", "The request is not valid (check the Host header and the path).")
    if isinstance(exception, RequestDataTooBig):
        # A form posted with more than the limit (a huge "Simulate an event" data, say): say so.
        size = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        message = _("What you sent is larger than %(size)s. Go back, shorten it and send it again.") % {"size": size}
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(403, "permission_denied", "You do not have permission to do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(404, "document_not_found", "No such API path.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return api_error(500, "internal_error", "Something went wrong on our side.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # API views authenticate by header and are exempt; this only answers a future view that is not.
    if is_api(request):
        return api_error(403, "permission_denied", "This API call is authenticated by the api-key header.")
    return csrf.csrf_failure(request, reason)
