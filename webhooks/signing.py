"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Each delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature`:
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64-decoded
part of the webhook's `whsec_...` secret. During a rotation the header holds one
signature per valid secret, separated by spaces, so receivers that still have the
old secret keep verifying until they switch.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# 32 random bytes, as svix makes them; the spec asks for 24 to 64.
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` for `body` sent as `msg_id` at `timestamp` (seconds)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    # The one-shot C function: hmac.new() builds a Python HMAC object for each delivery.
    digest = hmac.digest(secret_key(secret), signed, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def headers(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
    }
