"""The OpenAPI description as strict as the validation: what the schema allows, the API accepts.

drf-spectacular describes each serializer field; what it cannot say is said here: the
patterns of URLs, header names and values and tokens (the rules of `webhooks.validators`),
and the event names allowed for each webhook type (`postprocess` splits a body into one
variant per type). Rules that depend on stored state (the webhook's own type, the account's
webhooks) are stated in the operations' descriptions.
"""

from __future__ import annotations

import copy
from typing import Any

import catalog
from webhooks import validators
from webhooks.models import MASK

# A subset of what `validators.validate_url` accepts, so that every URL the schema allows is
# one we save: http(s), a host name of at most 253 characters (or a dotted IPv4 address), an
# optional port from 1 to 65535, then RFC 3986's path, query and fragment characters.
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,58}[A-Za-z0-9])?"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# RFC 3986 characters, as validators.URI_CHARACTERS allows them.
_USER = "(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})"
_CHAR = "(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})"


def _url_pattern(password: str) -> str:
    return (
        f"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_USER}+(?::{password})?@)?"
        f"(?:(?:{_LABEL}\\.){{1,3}}[A-Za-z]{{2,63}}|{_OCTET}(?:\\.{_OCTET}){{3}})"
        f"(?::{_PORT})?(?:[/?]{_CHAR}*)?(?:#{_CHAR}*)?$"
    )


URL_PATTERN = _url_pattern(f"{_USER}*")
URL_SCHEMA = {"type": "string", "format": "uri", "pattern": URL_PATTERN, "maxLength": validators.URL_MAX_LENGTH}


def _any_case(word: str) -> str:
    """`word` as a case-insensitive ECMA regex (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else ("\\-" if c == "-" else c) for c in word)


_RESERVED = "|".join(_any_case(name) for name in sorted(validators.RESERVED_HEADERS))
_RESERVED_PREFIX = "|".join(_any_case(prefix) for prefix in validators.RESERVED_PREFIXES)
HEADER_NAME_SCHEMA = {
    "type": "string",
    "pattern": f"^[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,{validators.HEADER_NAME_MAX}}}$",
    # The names brevo-hooks sets itself (webhooks.validators.RESERVED_HEADERS and prefixes).
    "not": {"pattern": f"^(?:(?:{_RESERVED})$|{_RESERVED_PREFIX})"},
    "description": "A header name; not one that brevo-hooks sets (Host, Content-Type, Authorization, webhook-*...).",
}
HEADER_VALUE_SCHEMA = {"type": "string", "pattern": "^[\t -~]*$", "maxLength": validators.HEADER_VALUE_MAX}
TOKEN_SCHEMA = {"type": "string", "pattern": "^[!-~]+$", "maxLength": validators.TOKEN_MAX}
# What an update also takes back as GET shows it: the URL with its password masked, and the
# masked token, each of which keeps the stored secret. (Not a URI with the mask's bullets in it,
# so no "uri" format.) The server takes them only where they stand for a stored secret.
KEPT_URL_SCHEMA = {
    "type": "string",
    "pattern": _url_pattern(f"(?:{_USER}*|{MASK})"),
    "maxLength": validators.URL_MAX_LENGTH,
    "description": f"A URL; as GET shows it, with its password masked ({MASK}), it keeps the stored password.",
}
KEPT_TOKEN_SCHEMA = {
    "type": "string",
    "pattern": f"^(?:[!-~]+|{MASK})$",
    "maxLength": validators.TOKEN_MAX,
    "description": f"The token; the mask GET shows ({MASK}) keeps the stored one.",
}
# Dates of the export: the years it can hold (and no later than a date can be computed with).
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": "^(?:19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"}
EXPORT_ALIASES = {catalog.TRANSACTIONAL: ["loadedByProxy"], catalog.MARKETING: []}
# Operations whose bodies must match the type of the webhook they address.
TYPED_OPERATIONS = {"updateWebhook", "sendTestWebhook"}


def event_names(type: str) -> list[str]:
    return sorted(set(catalog.subscription_names(type)))


def all_event_names() -> list[str]:
    return sorted({name for type in catalog.TYPE_LABELS for name in catalog.subscription_names(type)})


def by_type(component: dict[str, Any], names: dict[str, list[str]], type_required: str) -> list[dict[str, Any]]:
    """`component` once per webhook type, with the type's event names.

    `type_required`: "always", "never" (the type may be left out), or "marketing" (the
    type defaults to transactional, so only marketing must say it).
    """
    variants = []
    for type in catalog.TYPE_LABELS:
        variant = copy.deepcopy(component)
        properties = variant["properties"]
        properties["type"] = {"type": "string", "enum": [type]}
        for field in ("events", "event"):
            if field in properties:
                target = properties[field]["items"] if field == "events" else properties[field]
                target.pop("maxLength", None)
                target["enum"] = names[type]
        required = [name for name in variant.get("required", []) if name != "type"]
        if type_required == "always" or (type_required == "marketing" and type == catalog.MARKETING):
            required.append("type")
        if required:
            variant["required"] = required
        else:
            variant.pop("required", None)  # OpenAPI 3.0: a `required` list is never empty
        variants.append(variant)
    return variants


def postprocess(result: dict[str, Any], generator: object, request: object, public: bool) -> dict[str, Any]:
    """drf-spectacular's postprocessing hook: the type-dependent rules, a required events body, links."""
    schemas = result.get("components", {}).get("schemas", {})
    webhook_events = {type: event_names(type) for type in catalog.TYPE_LABELS}
    if "WebhookCreateRequest" in schemas:
        # One variant per type: a marketing webhook's events are marketing events.
        create = schemas["WebhookCreateRequest"]
        schemas["WebhookCreateRequest"] = {
            "oneOf": by_type(create, webhook_events, "marketing"),
            "description": "A webhook of one type with events of that type.",
        }
    if "WebhookUpdateRequest" in schemas:
        # The events must be of the webhook's own type; a body valid for both types is fine.
        update = schemas["WebhookUpdateRequest"]
        schemas["WebhookUpdateRequest"] = {
            "anyOf": by_type(update, webhook_events, "never"),
            "description": "The fields to change. `events` and `type` must be of the webhook's own type.",
        }
    if "ExportRequest" in schemas:
        export_events = {
            type: sorted({*names, *EXPORT_ALIASES[type], "allEvents"}) for type, names in webhook_events.items()
        }
        schemas["ExportRequest"] = {"oneOf": by_type(schemas["ExportRequest"], export_events, "always")}
    if "TestSendRequest" in schemas:
        schemas["TestSendRequest"]["properties"]["event"].pop("maxLength", None)
        schemas["TestSendRequest"]["properties"]["event"]["enum"] = all_event_names()
    for name in ("Header", "HeaderRequest"):
        if name in schemas:  # a header value may be empty (DRF's non-blank default says otherwise)
            schemas[name]["properties"]["value"].pop("minLength", None)
    events = result.get("paths", {}).get("/api/events", {}).get("post")
    if events and "requestBody" in events:
        events["requestBody"]["required"] = True
    add_links(result)
    return result


def add_links(result: dict[str, Any]) -> None:
    """OpenAPI links: the id a create answers with addresses the webhook's other operations."""
    paths = result.get("paths", {})
    created = paths.get("/v3/webhooks", {}).get("post", {}).get("responses", {}).get("201")
    if created is None:
        return
    links = {}
    for path, operations in paths.items():
        if not path.startswith("/v3/webhooks/{webhookId}") or "{deliveryId}" in path:
            continue
        for operation in operations.values():
            # An update or a test send names events, which must be of the created webhook's type.
            if isinstance(operation, dict) and operation.get("operationId") not in {None, *TYPED_OPERATIONS}:
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {"webhookId": "$response.body#/id"},
                }
    created["links"] = links
