"""The `api-key` header, checked against the account's hashed API keys."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.request import Request

from accounts.models import Account, ApiKey


@dataclass
class ApiCaller:
    """Who made an API request: an account, through one of its keys (DRF's request.user)."""

    api_key: ApiKey

    is_authenticated = True

    @property
    def account(self) -> Account:
        return self.api_key.account


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiCaller, ApiKey] | None:
        raw = request.META.get("HTTP_API_KEY")
        if not raw:
            raise NotAuthenticated("Send your API key in the api-key header.")
        key = ApiKey.objects.authenticate(raw)
        if key is None:
            raise AuthenticationFailed("Key not found")
        key.touch()
        return ApiCaller(key), key

    def authenticate_header(self, request: Request) -> str:
        # Any value makes DRF answer 401 rather than 403 to a request without a key.
        return 'api-key realm="brevo-hooks"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI description names our authentication: Brevo's `api-key` header."""

    target_class = ApiKeyAuthentication
    name = "api-key"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "api-key"}
