"""One request of a round: what is sent, on which thread, and what came back."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from queue import SimpleQueue

from django.conf import settings

from brevo_hooks.logs import log_ids
from webhooks import answers, outbound, signing
from webhooks.models import MASK, Claimed, Webhook, mask_url

logger = logging.getLogger(__name__)

# How long past its deadline the job waits for a request before it records it as timed
# out and goes on without it (a host name that takes long to resolve, say: the
# watchdog cannot cut a lookup). Its thread's late answer is then ignored.
OVERDUE_MARGIN = 2.0


def webhook_headers(webhook: Webhook, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Every header of a POST of `body` to `webhook`, except URL credentials (see outbound.split_credentials).

    The custom headers come first so that ours win; reserved names are refused at
    save time anyway. A bearer token wins over user:password@ in the URL.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {header["key"]: header["value"] for header in webhook.headers or []}
    headers["Content-Type"] = "application/json"
    headers.update(signing.headers(webhook.signing_secrets(), msg_id, timestamp, body))
    if webhook.auth_token:
        headers["Authorization"] = f"Bearer {webhook.auth_token}"
    return headers


def loggable_headers(headers: dict[str, str], webhook: Webhook | None = None) -> dict[str, str]:
    """Headers as the delivery log may show them: credentials and custom header values masked.

    Custom headers often carry an API key of the receiver, so their values are hidden too.
    """
    custom = {header["key"].lower() for header in (webhook.headers if webhook else []) or []}
    return {
        name: (MASK if name.lower() == "authorization" or name.lower() in custom else value)
        for name, value in headers.items()
    }


@dataclass
class Outgoing:
    """One request of a round: what is sent, and what came back."""

    delivery: Claimed
    url: str
    headers: dict[str, str]
    token: uuid.UUID
    started_at: datetime
    # When the job stops waiting for it (time.monotonic()).
    overdue_at: float = field(default=0.0)
    response: outbound.Response | None = None
    error: str = ""

    @property
    def body(self) -> bytes:
        return self.delivery.body

    @property
    def webhook(self) -> Webhook:
        return self.delivery.webhook

    @property
    def unanswered(self) -> bool:
        # No HTTP answer at all: the endpoint is down or too slow, not just unhappy.
        return self.response is None

    def request_row(self) -> tuple[object, ...]:
        """What the attempt sent: (delivery_id, number, started_at, url, headers JSON, body)."""
        return (
            self.delivery.pk,
            self.delivery.attempt_count,
            self.started_at,
            mask_url(self.webhook.url),
            json.dumps(loggable_headers(self.headers, self.webhook)),
            self.body.decode(),
        )

    def post(self, finished: SimpleQueue[Outgoing]) -> None:
        """Send the request on a pool thread, then hand it to the job's thread."""
        try:
            self.response = outbound.post(self.url, self.body, self.headers)
        except outbound.OutboundError as exc:
            self.error = str(exc)
        except Exception:
            # A bug must not leave the job waiting for this request: it fails, and is retried.
            logger.exception(
                "sending delivery %s failed",
                self.delivery.pk,
                extra=log_ids(webhook=self.webhook, delivery=self.delivery),
            )
            self.error = "The request could not be sent (internal error)"
        finally:
            finished.put(self)

    def time_out(self) -> None:
        self.error = answers.timed_out(settings.WEBHOOKS_TIMEOUT)


def prepare(delivery: Claimed, token: uuid.UUID, now: datetime) -> Outgoing:
    """The request for a claimed delivery, signed and with its credentials in the headers."""
    # The Basic auth of user:password@ goes in the headers here, not in outbound.post,
    # so that the delivery log shows it (masked) and a bearer token wins over it.
    url, basic = outbound.split_credentials(delivery.webhook.url)
    auth_headers = {"Authorization": basic} if basic else {}
    headers = {**auth_headers, **webhook_headers(delivery.webhook, delivery.webhook_message_id, delivery.body)}
    overdue_at = time.monotonic() + settings.WEBHOOKS_TIMEOUT + OVERDUE_MARGIN
    return Outgoing(delivery, url, headers, token, now, overdue_at)


class Senders:
    """The send threads of this process, kept between jobs so that each one's keep-alive
    connections (outbound.session() is per thread) are reused.

    A queue and a few threads that take from it: concurrent.futures' pool did the same with
    a Future, a lock and a callback list per request, a twentieth of a worker's CPU.
    """

    def __init__(self, threads: int) -> None:
        self._work: SimpleQueue[tuple[Outgoing, SimpleQueue[Outgoing]]] = SimpleQueue()
        for n in range(threads):
            threading.Thread(target=self._run, name=f"send-{n}", daemon=True).start()

    def submit(self, sent: Outgoing, finished: SimpleQueue[Outgoing]) -> None:
        self._work.put((sent, finished))

    def _run(self) -> None:
        while True:
            sent, finished = self._work.get()
            sent.post(finished)


_senders: Senders | None = None


def pool() -> Senders:
    global _senders
    if _senders is None:
        _senders = Senders(settings.WEBHOOKS_SEND_THREADS)
    return _senders
